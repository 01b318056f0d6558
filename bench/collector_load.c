/*
 * Load generator for the collector: N concurrent simulated agents, each
 * posting gzip'd batches of usage summaries over keep-alive HTTP, as the
 * agent's shipper does. Bodies are built and compressed before the clock
 * starts, so that the figures measure the collector (on one machine the
 * generator still takes its share of the CPU: the sending threads).
 *
 * usage: collector-load URL TOKEN [agents=50] [batches_per_agent=20] [records=500] [rate=0]
 *                       [shape=recurring|unique]
 *
 * rate 0: closed loop, each agent posts its next batch as soon as the last
 * one is acknowledged: the collector's maximum throughput (and latency is
 * then mostly queueing: agents / throughput). rate N: open loop, the agents
 * together offer N summaries/s, each on its own schedule (latency is
 * measured from the scheduled send time, so a collector that falls behind
 * shows it): the latency at a given load.
 * prints: summaries/s, batches/s, p50/p90/p99/max acknowledgement latency,
 * and the totals sent (flows packets bytes_up bytes_down) so that a script
 * can compare them with what the collector stored.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zlib.h>

struct body {
	unsigned char *data;
	size_t len;
};

struct agent {
	int index;
	struct body *bodies;
	int n_bodies;
	double *latency_ms;
	int n_ok, n_dup, n_fail;
	const char *url, *token;
	double interval_ms; /* open loop: time between this agent's batches; 0: closed */
	double start_ms;
};

static int unique_shape;
static uint64_t sent_flows, sent_packets, sent_up, sent_down;

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct text {
	char *p;
	size_t len, cap;
};

static void
text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
text_add(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n + 1;
		t->p = realloc(t->p, t->cap);
		if (!t->p) {
			fprintf(stderr, "out of memory\n");
			exit(1);
		}
	}
}

static void
uuid4(char out[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		exit(1);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static void
gzip_text(const struct text *t, struct body *out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		exit(1);
	size_t cap = deflateBound(&z, t->len) + 32;
	out->data = malloc(cap);
	z.next_in = (unsigned char *)t->p;
	z.avail_in = (uInt)t->len;
	z.next_out = out->data;
	z.avail_out = (uInt)cap;
	if (!out->data || deflate(&z, Z_FINISH) != Z_STREAM_END)
		exit(1);
	out->len = cap - z.avail_out;
	deflateEnd(&z);
}

/* A realistic batch: 50 clients per agent, 2,000 server names. */
static void
build_body(int agent, int batch, int records, struct body *out)
{
	/* ten known apps and a long tail of unknown ones */
	static const char *const apps[] = { "slack.com", "zoom.us", "dropbox.com", "notion.so",
					    "figma.com", "github.com", "wetransfer.com",
					    "chatgpt.com", "docs.google.com", "deepl.com",
					    "example-saas-", "tiny-tool-" };
	struct text t = { 0 };
	char id[37];
	uuid4(id);
	text_add(&t, "{\"schema\":\"shadowmap.batch/1\",\"batch_id\":\"%s\",\"agent_version\":"
		 "\"bench\",\"created\":\"2026-03-02T10:00:00Z\",\"records\":[", id);
	for (int i = 0; i < records; i++) {
		/* recurring: the same people use the same services bucket after
		 * bucket, as real agents report them; unique: every record a new
		 * (day, client, host), the worst case for the daily roll-up */
		int host = unique_shape ? (agent * 7919 + batch * 104729 + i * 31) % 2000
					: (agent * 37 + i * 7) % 2000;
		const char *pat = apps[host % 12];
		char name[96], sub[128];
		if (host % 12 >= 10)
			snprintf(name, sizeof(name), "%s%d.com", pat, host);
		else
			snprintf(name, sizeof(name), "%s", pat);
		snprintf(sub, sizeof(sub), "h%d.%s", host / 12, name);
		int minute = unique_shape ? (batch * 5 + i / 100) % (24 * 60 * 30)
					  : (batch * 5) % (24 * 60 * 30);
		int day = 1 + minute / (24 * 60);
		int hh = (minute / 60) % 24, mm = (minute % 60) / 5 * 5;
		unsigned flows = 1 + i % 3, packets = 10 + i % 50;
		unsigned up = 1000 + (unsigned)i * 7, down = 5000 + (unsigned)i * 13;
		__atomic_add_fetch(&sent_flows, flows, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sent_packets, packets, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sent_up, up, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sent_down, down, __ATOMIC_RELAXED);
		text_add(&t, "%s{\"schema\":\"shadowmap.usage/1\",\"bucket_start\":\"2026-03-%02dT%02d:"
			 "%02d:00Z\",\"bucket_seconds\":300,\"client\":\"10.%d.%d.%d\",\"host\":\"%s\","
			 "\"domain\":\"%s\",\"app\":null,\"category\":null,\"ndpi_proto\":\"TLS\","
			 "\"flows\":%u,\"packets\":%u,\"bytes_up\":%u,\"bytes_down\":%u,"
			 "\"first_seen\":\"2026-03-%02dT%02d:%02d:01.000Z\",\"last_seen\":"
			 "\"2026-03-%02dT%02d:%02d:59.000Z\"}",
			 i ? "," : "", day, hh, mm, agent / 250, agent % 250, 1 + i % 50, sub, name,
			 flows, packets, up, down, day, hh, mm, day, hh, mm + 4);
	}
	text_add(&t, "]}");
	gzip_text(&t, out);
	free(t.p);
}

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	struct text *t = arg;
	size_t len = size * n;
	if (t->len + len < 4096) {
		memcpy(t->p + t->len, p, len);
		t->len += len;
		t->p[t->len] = '\0';
	}
	return len;
}

static void *
run_agent(void *arg)
{
	struct agent *a = arg;
	CURL *c = curl_easy_init();
	char auth[512];
	char buf[4096];
	struct text resp = { buf, 0, sizeof(buf) };
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->token);
	struct curl_slist *h = NULL;
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Content-Encoding: gzip");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, a->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	for (int i = 0; i < a->n_bodies; i++) {
		double due = a->start_ms + i * a->interval_ms;
		if (a->interval_ms > 0) {
			double wait = due - now_ms();
			if (wait > 0) {
				struct timespec ts = { (time_t)(wait / 1e3),
						       (long)((wait - (time_t)(wait / 1e3) * 1e3) * 1e6) };
				nanosleep(&ts, NULL);
			}
		}
		resp.len = 0;
		buf[0] = '\0';
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, a->bodies[i].data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)a->bodies[i].len);
		double t0 = a->interval_ms > 0 ? due : now_ms();
		CURLcode rc = curl_easy_perform(c);
		double t1 = now_ms();
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		a->latency_ms[i] = t1 - t0;
		if (rc == CURLE_OK && status == 200 && strstr(buf, "\"stored\""))
			a->n_ok++;
		else if (rc == CURLE_OK && status == 200)
			a->n_dup++;
		else {
			a->n_fail++;
			fprintf(stderr, "agent %d batch %d: %s, HTTP %ld %.200s\n", a->index, i,
				curl_easy_strerror(rc), status, buf);
		}
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: collector-load URL TOKEN [agents] [batches_per_agent] "
			"[records] [rate]\n");
		return 2;
	}
	int n_agents = argc > 3 ? atoi(argv[3]) : 50;
	int per = argc > 4 ? atoi(argv[4]) : 20;
	int records = argc > 5 ? atoi(argv[5]) : 500;
	double rate = argc > 6 ? atof(argv[6]) : 0;
	unique_shape = argc > 7 && strcmp(argv[7], "unique") == 0;
	if (n_agents < 1 || n_agents > 1000 || per < 1 || records < 1 || records > 10000) {
		fprintf(stderr, "collector-load: agents 1-1000, batches >= 1, records 1-10000\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct agent *agents = calloc((size_t)n_agents, sizeof(*agents));
	size_t bytes = 0;
	for (int i = 0; i < n_agents; i++) {
		agents[i] = (struct agent){ .index = i, .n_bodies = per, .url = argv[1],
					    .token = argv[2] };
		agents[i].bodies = calloc((size_t)per, sizeof(struct body));
		agents[i].latency_ms = calloc((size_t)per, sizeof(double));
		for (int j = 0; j < per; j++) {
			build_body(i, j, records, &agents[i].bodies[j]);
			bytes += agents[i].bodies[j].len;
		}
	}
	pthread_t *th = calloc((size_t)n_agents, sizeof(*th));
	double t0 = now_ms();
	for (int i = 0; i < n_agents; i++) {
		if (rate > 0) {
			/* each agent offers rate/n_agents summaries/s, the agents'
			 * schedules spread evenly over one interval */
			agents[i].interval_ms = 1e3 * records * n_agents / rate;
			agents[i].start_ms = t0 + agents[i].interval_ms * i / n_agents;
		}
		pthread_create(&th[i], NULL, run_agent, &agents[i]);
	}
	for (int i = 0; i < n_agents; i++)
		pthread_join(th[i], NULL);
	double secs = (now_ms() - t0) / 1e3;

	size_t n = (size_t)n_agents * (size_t)per;
	double *all = calloc(n, sizeof(double));
	int ok = 0, dup = 0, failed = 0;
	for (int i = 0; i < n_agents; i++) {
		memcpy(all + (size_t)i * per, agents[i].latency_ms, (size_t)per * sizeof(double));
		ok += agents[i].n_ok;
		dup += agents[i].n_dup;
		failed += agents[i].n_fail;
	}
	qsort(all, n, sizeof(double), cmp_double);
	if (rate > 0)
		printf("open loop: %.0f summaries/s offered\n", rate);
	else
		printf("closed loop: each agent posts again once acknowledged\n");
	printf("agents %d, batches %zu of %d summaries (%.1f MB gzip'd), %.2f s\n", n_agents, n,
	       records, bytes / 1e6, secs);
	printf("summaries/s %.0f  batches/s %.0f\n", (double)ok * records / secs, ok / secs);
	printf("ack latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", all[n / 2],
	       all[(size_t)(n * 0.9)], all[(size_t)(n * 0.99)], all[n - 1]);
	printf("stored %d, duplicate %d, failed %d\n", ok, dup, failed);
	printf("sent flows %" PRIu64 " packets %" PRIu64 " bytes_up %" PRIu64 " bytes_down %" PRIu64
	       "\n", sent_flows, sent_packets, sent_up, sent_down);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
