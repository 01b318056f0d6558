/*
 * shadowmap-report: the report of a period from the collector's store, as
 * HTML, CSV or JSON, and the exports (blocklist, RPZ zone, SIEM events).
 * It opens the store read-only in spirit (it never ingests) and through
 * the store library, so it may run beside a live collector.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shadowmap/catalog.h"
#include "shadowmap/log.h"
#include "shadowmap/risk.h"
#include "shadowmap/sig.h"
#include "shadowmap/timefmt.h"

#include "html.h"
#include "report.h"

#ifndef SHADOWMAP_VERSION
#define SHADOWMAP_VERSION "dev"
#endif

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: shadowmap-report --db PATH --from DATE --to DATE [options]\n"
		"\n"
		"  --db PATH              the collector's database\n"
		"  --from DATE            start, inclusive: YYYY-MM-DD or RFC 3339 (UTC unless\n"
		"                         an offset is given)\n"
		"  --to DATE              end, exclusive\n"
		"  --format F             html, csv or json (default json)\n"
		"  -o PATH                output file (html, json, csv with --table), or a\n"
		"                         directory for csv without --table (one file per\n"
		"                         table); default: standard output\n"
		"  --table T              csv: categories, apps, gaps, unknown-domains, new-apps\n"
		"  --catalog FILE         the sanctioned service catalog (YAML)\n"
		"  --signatures DIR       built-in signatures (default: the installed ones)\n"
		"  --signatures-local P   the organisation's own signature file or folder\n"
		"  --weights FILE         YAML with risk_weights: (signatures/RISK.md)\n"
		"  --top-unknown N        unknown domains listed (default 50)\n"
		"  --blocklist PATH       also write the banned apps' domains, one per line\n"
		"  --rpz PATH             also write them as a DNS RPZ zone\n"
		"  --rpz-origin NAME      the zone's name (default rpz.shadowmap.local)\n"
		"  --siem PATH            also write first sightings of unsanctioned apps\n"
		"                         as JSON lines\n"
		"  -h, --help             this text\n");
}

static int
parse_date(const char *opt, const char *text, int64_t *out)
{
	if (time_parse_rfc3339(text, out) < 0 || *out <= 0) {
		log_error("%s: \"%s\" is not a date (YYYY-MM-DD) or an RFC 3339 time after 1970",
			  opt, text);
		return -1;
	}
	return 0;
}

/* Writes through a temporary file renamed into place, so that a failed
 * run leaves no half report where the last good one was. */
struct outfile {
	FILE *f;
	char *path, *tmp;
};

static int
out_open(struct outfile *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	if (!path || strcmp(path, "-") == 0) {
		o->f = stdout;
		return 0;
	}
	o->path = strdup(path);
	if (!o->path || asprintf(&o->tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		log_error("%s: out of memory", path);
		return -1;
	}
	o->f = fopen(o->tmp, "w");
	if (!o->f) {
		log_error("%s: cannot write (through %s): %s", path, o->tmp, strerror(errno));
		return -1;
	}
	return 0;
}

static int
out_close(struct outfile *o, int ok)
{
	int rc = 0;
	if (o->f && o->f != stdout) {
		if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
			ok = 0;
		if (fclose(o->f) != 0)
			ok = 0;
		if (ok && rename(o->tmp, o->path) != 0) {
			log_error("%s: %s", o->path, strerror(errno));
			ok = 0;
		}
		if (!ok)
			unlink(o->tmp);
	} else if (o->f == stdout && fflush(stdout) != 0) {
		ok = 0;
	}
	if (!ok) {
		if (o->path)
			log_error("%s: not written: %s", o->path, strerror(errno));
		rc = -1;
	}
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof(*o));
	return rc;
}

enum { OPT_DB = 256, OPT_FROM, OPT_TO, OPT_FORMAT, OPT_TABLE, OPT_CATALOG, OPT_SIGS,
       OPT_SIGS_LOCAL, OPT_WEIGHTS, OPT_TOP, OPT_BLOCKLIST, OPT_RPZ, OPT_RPZ_ORIGIN,
       OPT_SIEM };

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, OPT_DB},
		{"from", required_argument, NULL, OPT_FROM},
		{"to", required_argument, NULL, OPT_TO},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"table", required_argument, NULL, OPT_TABLE},
		{"catalog", required_argument, NULL, OPT_CATALOG},
		{"signatures", required_argument, NULL, OPT_SIGS},
		{"signatures-local", required_argument, NULL, OPT_SIGS_LOCAL},
		{"weights", required_argument, NULL, OPT_WEIGHTS},
		{"top-unknown", required_argument, NULL, OPT_TOP},
		{"blocklist", required_argument, NULL, OPT_BLOCKLIST},
		{"rpz", required_argument, NULL, OPT_RPZ},
		{"rpz-origin", required_argument, NULL, OPT_RPZ_ORIGIN},
		{"siem", required_argument, NULL, OPT_SIEM},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *db = NULL, *format = "json", *out_path = NULL, *table = NULL;
	const char *catalog_path = NULL, *sig_path = NULL, *sig_local = NULL;
	const char *weights_path = NULL, *blocklist = NULL, *rpz = NULL;
	const char *rpz_origin = "rpz.shadowmap.local", *siem = NULL;
	struct report_options opt = {0};
	int c;

	log_init("shadowmap-report", LOG_LEVEL_INFO);
	while ((c = getopt_long(argc, argv, "o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DB: db = optarg; break;
		case OPT_FROM:
			if (parse_date("--from", optarg, &opt.from) < 0)
				return 2;
			break;
		case OPT_TO:
			if (parse_date("--to", optarg, &opt.to) < 0)
				return 2;
			break;
		case OPT_FORMAT: format = optarg; break;
		case OPT_TABLE: table = optarg; break;
		case 'o': out_path = optarg; break;
		case OPT_CATALOG: catalog_path = optarg; break;
		case OPT_SIGS: sig_path = optarg; break;
		case OPT_SIGS_LOCAL: sig_local = optarg; break;
		case OPT_WEIGHTS: weights_path = optarg; break;
		case OPT_TOP: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 100000) {
				log_error("--top-unknown: \"%s\" is not a number from 1 to 100000",
					  optarg);
				return 2;
			}
			opt.top_unknown = v;
			break;
		}
		case OPT_BLOCKLIST: blocklist = optarg; break;
		case OPT_RPZ: rpz = optarg; break;
		case OPT_RPZ_ORIGIN: rpz_origin = optarg; break;
		case OPT_SIEM: siem = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("shadowmap-report %s\n", SHADOWMAP_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument \"%s\"", argv[optind]);
		return 2;
	}
	if (!db || !opt.from || !opt.to) {
		log_error("--db, --from and --to are required (--help)");
		return 2;
	}
	if (opt.from >= opt.to) {
		log_error("--to must be after --from");
		return 2;
	}
	int fmt_html = strcmp(format, "html") == 0, fmt_csv = strcmp(format, "csv") == 0;
	if (!fmt_html && !fmt_csv && strcmp(format, "json") != 0) {
		log_error("--format: \"%s\" is not html, csv or json", format);
		return 2;
	}
	int table_id = -1;
	if (table) {
		if (!fmt_csv) {
			log_error("--table goes with --format csv");
			return 2;
		}
		table_id = report_table_from_name(table);
		if (table_id < 0) {
			log_error("--table: \"%s\" is not categories, apps, gaps, unknown-domains "
				  "or new-apps", table);
			return 2;
		}
	}
	if (fmt_csv && table_id < 0 && (!out_path || strcmp(out_path, "-") == 0)) {
		log_error("--format csv writes one file per table: give -o DIRECTORY, or "
			  "--table T for one table");
		return 2;
	}

	char err[1024];
	struct stat sst;
	if (stat(db, &sst) != 0) {
		log_error("%s: %s", db, strerror(errno));
		return 1;
	}
	sig_db *sigs = sig_db_open(sig_path ? sig_path : sig_default_dir(), sig_local, err,
				   sizeof(err));
	if (!sigs) {
		log_error("signatures: %s", err);
		return 1;
	}
	struct catalog *cat = catalog_path ? catalog_load(catalog_path, sigs, err, sizeof(err))
					   : catalog_empty();
	if (!cat) {
		log_error("catalog: %s", err);
		sig_db_free(sigs);
		return 1;
	}
	struct risk_weights weights;
	risk_weights_defaults(&weights);
	if (weights_path &&
	    risk_weights_load_file(&weights, weights_path, sigs, err, sizeof(err)) < 0) {
		log_error("weights: %s", err);
		catalog_free(cat);
		sig_db_free(sigs);
		return 1;
	}
	struct store *st = store_open(db, err, sizeof(err));
	if (!st) {
		log_error("%s", err);
		catalog_free(cat);
		sig_db_free(sigs);
		return 1;
	}
	int rc = 0;
	/* map stored usage with these signatures, as the collector would */
	if (store_remap(st, sigs) < 0) {
		log_error("%s: %s", db, store_error(st));
		rc = 1;
		goto done_store;
	}
	opt.sigs = sigs;
	opt.catalog = cat;
	opt.weights = &weights;
	struct report *r = report_build(st, &opt, err, sizeof(err));
	if (!r) {
		log_error("%s: %s", db, err);
		rc = 1;
		goto done_store;
	}

	struct outfile o;
	if (fmt_csv && table_id < 0) {
		if (mkdir(out_path, 0755) != 0 && errno != EEXIST) {
			log_error("%s: %s", out_path, strerror(errno));
			rc = 1;
		}
		for (int t = 0; rc == 0 && t < REPORT_TABLE_COUNT; t++) {
			char *p;
			if (asprintf(&p, "%s/%s.csv", out_path, report_table_name(t)) < 0) {
				rc = 1;
				break;
			}
			if (out_open(&o, p) < 0 ||
			    out_close(&o, report_write_csv(r, (enum report_table)t, o.f) == 0) < 0)
				rc = 1;
			free(p);
		}
	} else if (out_open(&o, out_path) < 0) {
		rc = 1;
	} else {
		int ok = fmt_html ? report_write_html(r, o.f) == 0 :
			 fmt_csv ? report_write_csv(r, (enum report_table)table_id, o.f) == 0 :
				   report_write_json(r, o.f) == 0;
		if (out_close(&o, ok) < 0)
			rc = 1;
	}
	if (rc == 0 && blocklist &&
	    (out_open(&o, blocklist) < 0 || out_close(&o, report_write_blocklist(r, o.f) == 0) < 0))
		rc = 1;
	if (rc == 0 && rpz &&
	    (out_open(&o, rpz) < 0 || out_close(&o, report_write_rpz(r, rpz_origin, o.f) == 0) < 0))
		rc = 1;
	if (rc == 0 && siem) {
		if (out_open(&o, siem) < 0) {
			rc = 1;
		} else {
			int ok = report_write_siem(r, st, o.f, err, sizeof(err)) == 0;
			if (!ok)
				log_error("%s: %s", siem, err);
			if (out_close(&o, ok) < 0)
				rc = 1;
		}
	}
	if (rc == 0 && out_path && strcmp(out_path, "-") != 0)
		log_info("wrote %s", out_path);
	report_free(r);
done_store:
	store_close(st);
	catalog_free(cat);
	sig_db_free(sigs);
	return rc;
}
