/*
 * Fills a collector database with an organisation's month for
 * bench/report.sh: USERS clients over DAYS days (weekends light), each
 * using some of the signature apps (popularity falls off as 1/rank, so a
 * few apps are used by nearly everyone and many by a few), in 5-minute
 * buckets, plus a tail of unknown domains. Written through the store
 * library, as the collector writes, and rolled up as it would be.
 *
 * usage: report-fill DB USERS DAYS START(YYYY-MM-DD) [SEED]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/addr.h"
#include "shadowmap/sig.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/usage.h"

#include "store.h"

#define APPS 120
#define BATCH 5000
#define BUCKET (300 * USEC_PER_SEC)

static uint64_t rng_state;

static uint32_t
rnd(void)
{
	/* xorshift64*: reproducible and fast; quality is beside the point */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

int
main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: report-fill DB USERS DAYS START [SEED]\n");
		return 2;
	}
	int users = atoi(argv[2]), days = atoi(argv[3]);
	int64_t start;
	if (users <= 0 || days <= 0 || time_parse_rfc3339(argv[4], &start) < 0) {
		fprintf(stderr, "report-fill: bad arguments\n");
		return 2;
	}
	rng_state = argc > 5 ? strtoull(argv[5], NULL, 10) | 1 : 88172645463325252ULL;

	char err[512];
	sig_db *sigs = sig_db_open(sig_default_dir(), NULL, err, sizeof(err));
	if (!sigs) {
		fprintf(stderr, "report-fill: signatures: %s\n", err);
		return 1;
	}
	/* the apps: every ninth one of the signatures with a domain */
	const char *hosts[APPS];
	int napps = 0;
	for (size_t i = 0; i < sig_db_app_count(sigs) && napps < APPS; i += 9) {
		const struct sig_app *a = sig_db_app(sigs, i);
		/* a host name, so not a label pattern ("*-my.sharepoint.com") */
		for (size_t d = 0; d < a->n_domains; d++)
			if (!strchr(a->domains[d], '*')) {
				hosts[napps++] = a->domains[d];
				break;
			}
	}
	struct store *st = store_open(argv[1], err, sizeof(err));
	if (!st) {
		fprintf(stderr, "report-fill: %s\n", err);
		return 1;
	}
	store_set_cache_kib(st, 262144);

	struct usage_record *recs = calloc(BATCH, sizeof(*recs));
	char (*clients)[48] = calloc((size_t)users, 48);
	char (*unknown)[64] = calloc(200, 64);
	if (!recs || !clients || !unknown)
		return 1;
	for (int u = 0; u < users; u++)
		snprintf(clients[u], 48, "10.%d.%d.%d", 1 + u / 65536, (u / 256) % 256, u % 256);
	for (int i = 0; i < 200; i++)
		snprintf(unknown[i], 64, "portal.unknown-vendor-%03d.example.net", i);

	size_t n = 0, batches = 0;
	uint64_t total = 0;
	char id[64];
	for (int d = 0; d < days; d++) {
		int64_t day = start + (int64_t)d * 86400 * USEC_PER_SEC;
		int weekend = (d % 7) >= 5;
		for (int u = 0; u < users; u++) {
			if (weekend && rnd() % 10 != 0)
				continue;
			int k = 6 + (int)(rnd() % 10); /* apps today */
			for (int j = 0; j < k; j++) {
				/* 1/rank popularity: rank r with weight 1/(r+1) */
				double x = (double)rnd() / 4294967296.0;
				int a = (int)(napps * x * x * x);
				int is_unknown = rnd() % 40 == 0;
				int buckets = 1 + (int)(rnd() % 6);
				for (int b = 0; b < buckets; b++) {
					struct usage_record *r = &recs[n++];
					memset(r, 0, sizeof(*r));
					int64_t t = day + (8 * 3600 + (int64_t)(rnd() % 36000)) * USEC_PER_SEC;
					r->bucket_start = t - t % BUCKET;
					r->bucket_seconds = 300;
					r->has_client = 1;
					addr_parse(clients[u], &r->client);
					r->host = is_unknown ? unknown[rnd() % 200] : hosts[a];
					/* "portal." off: the registrable domain */
					r->domain = is_unknown ? r->host + 7 : r->host;
					r->ndpi_proto = "TLS";
					r->flows = 1 + rnd() % 4;
					r->packets = 10 + rnd() % 200;
					r->bytes_up = 2000 + rnd() % 200000;
					r->bytes_down = 10000 + rnd() % 2000000;
					r->first_seen = r->bucket_start + 1000;
					r->last_seen = r->bucket_start + 200 * USEC_PER_SEC;
					if (n == BATCH) {
						snprintf(id, sizeof(id), "fill-%zu", batches++);
						if (store_ingest(st, id, "bench", recs, n) == STORE_FAILED) {
							fprintf(stderr, "report-fill: %s\n", store_error(st));
							return 1;
						}
						total += n;
						n = 0;
					}
				}
			}
		}
	}
	if (n) {
		snprintf(id, sizeof(id), "fill-%zu", batches++);
		if (store_ingest(st, id, "bench", recs, n) == STORE_FAILED) {
			fprintf(stderr, "report-fill: %s\n", store_error(st));
			return 1;
		}
		total += n;
	}
	store_rollup(st);
	printf("records=%llu apps=%d users=%d days=%d\n", (unsigned long long)total, napps, users,
	       days);
	free(recs);
	free(clients);
	free(unknown);
	store_close(st);
	sig_db_free(sigs);
	return 0;
}
