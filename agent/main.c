/*
 * shadowmap-agent: captures traffic (live with -i, from a pcap/pcapng file
 * with -r), classifies flows and writes usage summaries as JSON lines
 * and/or ships them to a collector. This file is the command line, the
 * capture loop and the output files; the packet path is engine.c, the
 * shipping ship.c.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shadowmap/config.h"
#include "shadowmap/domain.h"
#include "shadowmap/log.h"
#include "shadowmap/sig.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/usage.h"

#include "capfile.h"
#include "decode.h"
#include "dpi.h"
#include "engine.h"
#include "geo.h"
#include "ship.h"
#include "privdrop.h"
#include "shard.h"
#include "sigfetch.h"

#ifndef SHADOWMAP_VERSION
#define SHADOWMAP_VERSION "dev"
#endif

/* Exit statuses (docs/agent.md). */
#define EXIT_OK 0
#define EXIT_INPUT 1  /* bad input or output: what was read is still written */
#define EXIT_USAGE 2  /* bad command line, config or signatures */
#define EXIT_UNDELIVERED 3 /* -r with --collector: not all was delivered */

/* Live mode: how long the sender may go on delivering after SIGTERM. */
#define SHIP_STOP_GRACE_SEC 5

/* Reading a file: stdio's buffer. libpcap reads a record header and then
 * its packet, two small freads each; with the default 4 KiB buffer that
 * is a read(2) every few packets. */
#define READ_BUFFER (64 * 1024)

/* threads: 0 picks this many when the agent may use as many CPUs. */
#define THREADS_AUTO 2

struct settings {
	char *read_file;
	char *interface;
	char *filter;
	char *output;
	char *flows_output;
	char *signatures;
	char *signatures_local;
	char *signatures_cache;
	int64_t bucket_seconds;
	int64_t max_flows;
	int64_t max_detecting;
	int64_t idle_timeout;
	int64_t tcp_idle_timeout;
	int64_t tcp_close_timeout;
	int64_t active_timeout;
	int64_t detect_timeout;
	int64_t dpi_max_packets;
	int64_t dns_cache_size;
	int64_t dns_ttl_floor;
	int64_t dns_ttl_max;
	int64_t threads;
	int64_t snaplen;
	int64_t promisc;
	int64_t buffer_mb;
	char *collector;
	char *token;
	char *token_file;
	char *ca_file;
	char *spool;
	int64_t spool_max_mb;
	int64_t fetch_signatures;
	char *user;
	int64_t batch_max_records;
	int64_t batch_max_age;
	int64_t retry_max;
	int64_t drain_timeout;
	char *geoip_country_db;
	char *geoip_asn_db;
};

#define OFF(f) offsetof(struct settings, f)

static const struct cfg_option options[] = {
	{ "read", CFG_PATH, 0, 0, NULL, OFF(read_file), 0,
	  "read packets from a pcap or pcapng file (same as -r)" },
	{ "interface", CFG_STRING, 0, 0, NULL, OFF(interface), 0,
	  "capture live on this interface (same as -i)" },
	{ "filter", CFG_STRING, 0, 0, NULL, OFF(filter), 0,
	  "BPF filter expression (same as -f)" },
	{ "output", CFG_PATH, 0, 0, NULL, OFF(output), 0,
	  "usage summaries as JSON lines, - for stdout (same as -o; default: stdout, "
	  "none with --collector)" },
	{ "flows", CFG_PATH, 0, 0, NULL, OFF(flows_output), 0,
	  "also write one JSON line per finished flow here" },
	{ "signatures", CFG_PATH, 0, 0, NULL, OFF(signatures), 0,
	  "signature directory or file (default: the built-in signatures)" },
	{ "signatures-local", CFG_PATH, 0, 0, NULL, OFF(signatures_local), 0,
	  "the organisation's own signatures, a file or directory loaded after the "
	  "others: new apps, overrides of built-in ones (signatures/README.md)" },
	{ "signatures-cache", CFG_STRING, 0, 0, NULL, OFF(signatures_cache), 0,
	  "parsed signature files are kept here so that the next start skips the parse; "
	  "empty: none (default: $XDG_CACHE_HOME/shadowmap/signatures, else "
	  "$HOME/.cache/shadowmap/signatures)" },
	{ "bucket-seconds", CFG_SECONDS, 10, 86400, "300", OFF(bucket_seconds), 0,
	  "length of a summary's time bucket" },
	{ "max-flows", CFG_INT, 1, 16777216, "262144", OFF(max_flows), 0,
	  "flows tracked at once; beyond, packets are counted untracked" },
	{ "max-detecting", CFG_INT, 1, 16777216, "65536", OFF(max_detecting), 0,
	  "flows under classification at once; beyond, new flows skip DPI" },
	{ "idle-timeout", CFG_SECONDS, 1, 86400, "120", OFF(idle_timeout), 0,
	  "a UDP, ICMP or other non-TCP flow ends after this long without packets" },
	{ "tcp-idle-timeout", CFG_SECONDS, 1, 86400, "300", OFF(tcp_idle_timeout), 0,
	  "an open TCP flow ends after this long without packets" },
	{ "tcp-close-timeout", CFG_SECONDS, 1, 3600, "10", OFF(tcp_close_timeout), 0,
	  "a TCP flow ends this long after FIN both ways or RST" },
	{ "active-timeout", CFG_SECONDS, 60, 604800, "1800", OFF(active_timeout), 0,
	  "a flow is reported and goes on as a new one after this long" },
	{ "detect-timeout", CFG_SECONDS, 1, 600, "30", OFF(detect_timeout), 0,
	  "longest a flow stays under classification" },
	{ "dpi-max-packets", CFG_INT, 1, 1000, "24", OFF(dpi_max_packets), 0,
	  "packets of a flow given to classification at most" },
	{ "dns-cache-size", CFG_INT, 16, 16777216, "65536", OFF(dns_cache_size), 0,
	  "server addresses remembered from DNS answers" },
	{ "dns-ttl-floor", CFG_SECONDS, 0, 604800, "300", OFF(dns_ttl_floor), 0,
	  "a DNS answer names its addresses at least this long" },
	{ "dns-ttl-max", CFG_SECONDS, 1, 2592000, "86400", OFF(dns_ttl_max), 0,
	  "and at most this long" },
	{ "threads", CFG_INT, 0, 64, "0", OFF(threads), 0,
	  "engine threads: 1 does everything in one thread; N > 1 reads in one and "
	  "classifies in N workers, each client's flows in one (docs/threads.md); 0: 2 "
	  "when the agent may run on 2 CPUs or more, else 1" },
	{ "snaplen", CFG_INT, 256, 262144, "4096", OFF(snaplen), 0,
	  "bytes captured per packet (live)" },
	{ "promisc", CFG_BOOL, 0, 1, "true", OFF(promisc), 0,
	  "promiscuous mode (live; a mirror port needs it)" },
	{ "buffer-mb", CFG_INT, 1, 4096, "32", OFF(buffer_mb), 0,
	  "kernel capture buffer (live)" },
	{ "collector", CFG_STRING, 0, 0, NULL, OFF(collector), 0,
	  "ship summaries to this collector, https://HOST[:PORT] (docs/shipping.md)" },
	{ "token", CFG_STRING, 0, 0, NULL, OFF(token), 0,
	  "the agent's bearer token (visible to ps: prefer token-file)" },
	{ "token-file", CFG_PATH, 0, 0, NULL, OFF(token_file), 0,
	  "read the agent's bearer token from this file" },
	{ "ca", CFG_PATH, 0, 0, NULL, OFF(ca_file), 0,
	  "CA certificates (PEM) that sign the collector's (default: the system's)" },
	{ "spool", CFG_PATH, 0, 0, NULL, OFF(spool), 0,
	  "spool directory: batches wait here until the collector has them" },
	{ "spool-max-mb", CFG_INT, 1, 1048576, "512", OFF(spool_max_mb), 0,
	  "disk the spool may use; when full, new batches are dropped and counted" },
	{ "user", CFG_STRING, 0, 0, NULL, OFF(user), 0,
	  "once the capture is open, drop root and run as this user (the spool is "
	  "handed over)" },
	{ "fetch-signatures", CFG_BOOL, 0, 1, "false", OFF(fetch_signatures), 0,
	  "at start, take the collector's signatures (kept in SPOOL/signatures)" },
	{ "batch-max-records", CFG_INT, 1, SHIP_BATCH_MAX_RECORDS, "500",
	  OFF(batch_max_records), 0, "a batch closes at this many records" },
	{ "batch-max-age", CFG_SECONDS, 1, 3600, "10", OFF(batch_max_age), 0,
	  "or this long after its first record (live)" },
	{ "retry-max", CFG_SECONDS, 1, 3600, "30", OFF(retry_max), 0,
	  "longest wait between two tries to deliver a batch" },
	{ "drain-timeout", CFG_SECONDS, 0, 86400, "60", OFF(drain_timeout), 0,
	  "with -r: how long to wait at the end for the spool to empty" },
	{ "geoip-country-db", CFG_PATH, 0, 0, NULL, OFF(geoip_country_db), 0,
	  "MaxMind DB (.mmdb) of countries: summaries get the server's country" },
	{ "geoip-asn-db", CFG_PATH, 0, 0, NULL, OFF(geoip_asn_db), 0,
	  "MaxMind DB (.mmdb) of networks: summaries get the server's AS number and "
	  "organisation" },
	{ NULL, 0, 0, 0, NULL, 0, 0, NULL },
};

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ---- output files ---- */

struct out_file {
	FILE *fp;
	const char *name; /* for messages */
	int is_stdout;
	int failed;
	struct sbuf line;
};

static int
out_open(struct out_file *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	sbuf_init(&o->line, 1 << 20);
	if (strcmp(path, "-") == 0) {
		o->fp = stdout;
		o->name = "standard output";
		o->is_stdout = 1;
		return 0;
	}
	o->name = path;
	o->fp = fopen(path, "w");
	if (!o->fp) {
		log_error("cannot open %s for writing: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
out_write_line(struct out_file *o)
{
	if (o->failed)
		return -1;
	if (sbuf_addc(&o->line, '\n') < 0 ||
	    fwrite(o->line.data, 1, o->line.len, o->fp) != o->line.len) {
		log_error("cannot write to %s: %s", o->name, strerror(errno));
		o->failed = 1;
		return -1;
	}
	return 0;
}

static int
out_flush(struct out_file *o)
{
	if (!o->fp || o->failed)
		return o->failed ? -1 : 0;
	if (fflush(o->fp) != 0) {
		log_error("cannot write to %s: %s", o->name, strerror(errno));
		o->failed = 1;
		return -1;
	}
	return 0;
}

/* Returns -1 when anything written was lost (a full disk shows here). */
static int
out_close(struct out_file *o)
{
	int rc = out_flush(o);
	if (o->fp && !o->is_stdout && fclose(o->fp) != 0 && rc == 0) {
		log_error("cannot write to %s: %s", o->name, strerror(errno));
		rc = -1;
	}
	o->fp = NULL;
	sbuf_free(&o->line);
	return o->failed ? -1 : rc;
}

struct sinks_ctx {
	struct out_file usage, flows;
	int have_usage, have_flows;
	shipper *ship;
};

static int
sink_usage(void *arg, const struct usage_record *r)
{
	struct sinks_ctx *s = arg;
	/* Shipping trouble is counted and logged by the shipper; it never
	 * stops the capture, so its result does not matter here. */
	if (s->ship)
		ship_add_record(s->ship, r);
	if (!s->have_usage)
		return 0;
	sbuf_reset(&s->usage.line);
	if (usage_record_to_json(r, &s->usage.line) < 0) {
		log_error("a usage record is larger than 1 MiB; this is a bug");
		return -1;
	}
	return out_write_line(&s->usage);
}

static int
sink_flow(void *arg, const struct flow_record *r)
{
	struct sinks_ctx *s = arg;
	sbuf_reset(&s->flows.line);
	if (flow_record_to_json(r, &s->flows.line) < 0)
		return -1;
	return out_write_line(&s->flows);
}

/* ---- capture ---- */

static int64_t
wall_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* *readbuf: the stdio buffer of a file (caller frees after pcap_close). */
static pcap_t *
open_capture(const struct settings *s, const char **what, char **readbuf)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *p;

	errbuf[0] = '\0';
	*readbuf = NULL;
	if (s->read_file) {
		*what = s->read_file;
		/* pcap_open_offline, with a larger buffer: "-" is stdin */
		FILE *fp = strcmp(s->read_file, "-") == 0 ? stdin : fopen(s->read_file, "rb");
		if (!fp) {
			log_error("cannot read %s: %s", s->read_file, strerror(errno));
			return NULL;
		}
		/* not stdin's: it outlives the capture, and its buffer with it */
		*readbuf = fp != stdin ? malloc(READ_BUFFER) : NULL;
		if (*readbuf)
			setvbuf(fp, *readbuf, _IOFBF, READ_BUFFER);
		p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
		if (!p) {
			if (fp != stdin)
				fclose(fp);
			free(*readbuf);
			*readbuf = NULL;
			/* libpcap often starts its message with the path again */
			const char *msg = errbuf;
			size_t n = strlen(s->read_file);
			if (strncmp(msg, s->read_file, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
				msg += n + 2;
			log_error("cannot read %s: %s", s->read_file, msg);
			return NULL;
		}
		return p;
	}
	*what = s->interface;
	p = pcap_create(s->interface, errbuf);
	if (!p) {
		log_error("cannot capture on %s: %s", s->interface, errbuf);
		return NULL;
	}
	pcap_set_snaplen(p, (int)s->snaplen);
	pcap_set_promisc(p, (int)s->promisc);
	/* short timeout so that buckets close on time on a quiet link */
	pcap_set_timeout(p, 200);
	pcap_set_buffer_size(p, (int)(s->buffer_mb * 1024 * 1024));
	pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO);
	int rc = pcap_activate(p);
	if (rc < 0) {
		log_error("cannot capture on %s: %s", s->interface,
			  rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc));
		pcap_close(p);
		return NULL;
	}
	if (rc > 0)
		log_warnx("%s: %s", s->interface, pcap_statustostr(rc));
	/* Non-blocking, and the loop polls the descriptor itself: a blocking
	 * read on Linux (TPACKET_V3) may not return on a quiet link nor on a
	 * signal, and the agent must stop on SIGTERM and close buckets on time. */
	if (pcap_setnonblock(p, 1, errbuf) < 0 || pcap_get_selectable_fd(p) < 0) {
		log_error("cannot capture on %s: no pollable descriptor: %s", s->interface,
			  errbuf);
		pcap_close(p);
		return NULL;
	}
	return p;
}

/* prog: the compiled filter, kept for a file read in place (capfile.h);
 * the caller frees it with pcap_freecode. */
static int
apply_filter(pcap_t *p, const char *what, const char *filter, struct bpf_program *prog)
{
	if (!filter)
		return 0;
	if (pcap_compile(p, prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		log_error("bad filter \"%s\": %s", filter, pcap_geterr(p));
		return -1;
	}
	int rc = pcap_setfilter(p, prog);
	if (rc < 0) {
		log_error("%s: cannot set filter \"%s\": %s", what, filter, pcap_geterr(p));
		return -1;
	}
	return 0;
}

static void
engine_config_from(const struct settings *s, struct engine_config *c)
{
	engine_config_defaults(c);
	c->bucket_usec = s->bucket_seconds * USEC_PER_SEC;
	c->max_flows = (uint32_t)s->max_flows;
	c->max_detecting = (uint32_t)s->max_detecting;
	c->idle_usec[FLOW_TC_TCP] = s->tcp_idle_timeout * USEC_PER_SEC;
	c->idle_usec[FLOW_TC_TCP_CLOSED] = s->tcp_close_timeout * USEC_PER_SEC;
	c->idle_usec[FLOW_TC_UDP] = s->idle_timeout * USEC_PER_SEC;
	c->idle_usec[FLOW_TC_OTHER] = s->idle_timeout * USEC_PER_SEC;
	c->active_usec = s->active_timeout * USEC_PER_SEC;
	c->detect_usec = s->detect_timeout * USEC_PER_SEC;
	c->dpi_max_packets = (uint32_t)s->dpi_max_packets;
	c->dns_cache_size = (uint32_t)s->dns_cache_size;
	c->dns_ttl_floor = (uint32_t)s->dns_ttl_floor;
	c->dns_ttl_max = (uint32_t)s->dns_ttl_max;
}

static void
report_stats(const char *what, const struct engine_stats *st, const geo *g, pcap_t *p,
	     int live)
{
	log_info("%s: %llu frames, %llu IP packets, %llu IP bytes, %llu flows "
		 "(named by SNI %llu, QUIC %llu, HTTP %llu, DNS %llu, certificate %llu), "
		 "%llu packets to nDPI, %llu summaries",
		 what, (unsigned long long)st->frames, (unsigned long long)st->ip_packets,
		 (unsigned long long)st->ip_bytes, (unsigned long long)st->flows,
		 (unsigned long long)st->named_sni, (unsigned long long)st->named_quic,
		 (unsigned long long)st->named_http, (unsigned long long)st->named_dns,
		 (unsigned long long)st->named_cert, (unsigned long long)st->dpi_packets,
		 (unsigned long long)st->records);
	if (geo_enabled(g)) {
		struct geo_stats gs;
		geo_get_stats(g, &gs);
		log_info("%s: %llu server addresses looked up: %llu with a country, %llu with "
			 "a network (%llu organisations)", what, (unsigned long long)gs.lookups,
			 (unsigned long long)gs.country, (unsigned long long)gs.asn,
			 (unsigned long long)gs.orgs);
		if (gs.orgs_dropped)
			log_warnx("%s: %llu organisation names were not kept (too many or out "
				  "of memory)", what, (unsigned long long)gs.orgs_dropped);
	}
	if (st->table_full_packets)
		log_warnx("%s: flow table was full: %llu packets counted untracked "
			  "(raise max-flows)", what, (unsigned long long)st->table_full_packets);
	if (st->detect_skipped)
		log_warnx("%s: %llu flows were not classified: too many at once "
			  "(raise max-detecting)", what, (unsigned long long)st->detect_skipped);
	if (st->malformed)
		log_warnx("%s: %llu IP packets had unreadable headers (%llu without a "
			  "length, not counted)", what, (unsigned long long)st->malformed,
			  (unsigned long long)st->malformed_no_len);
	if (st->fragments_orphan)
		log_info("%s: %llu IP fragments matched no flow (counted untracked)", what,
			 (unsigned long long)st->fragments_orphan);
	if (st->late_packets)
		log_info("%s: %llu packets had time stamps behind a closed bucket", what,
			 (unsigned long long)st->late_packets);
	if (st->oom_drops)
		log_warnx("%s: out of memory %llu times: some counters were lost", what,
			  (unsigned long long)st->oom_drops);
	if (live) {
		struct pcap_stat ps;
		if (pcap_stats(p, &ps) == 0 && (ps.ps_drop || ps.ps_ifdrop))
			log_warnx("%s: the kernel dropped %u packets (interface: %u); "
				  "raise buffer-mb or filter", what, ps.ps_drop, ps.ps_ifdrop);
	}
}

/*
 * The end of shipping: the last batch into the spool, then a wait for the
 * sender (-r: drain-timeout; live: a short grace, what is left goes at the
 * next start). Returns EXIT_UNDELIVERED when -r could not deliver all.
 */
static int
ship_finish(shipper *sh, const struct settings *s, int live)
{
	struct ship_stats st;
	int64_t wait = live ? SHIP_STOP_GRACE_SEC : s->drain_timeout;
	const char *dir = ship_spool_dir(sh), *url = ship_url(sh);
	int rc = EXIT_OK;

	ship_flush(sh);
	ship_get_stats(sh, &st);
	if (st.batches_pending > 0 && wait > 0) {
		log_info("collector %s: waiting up to %lld s for %llu batches to be delivered",
			 url, (long long)wait, (unsigned long long)st.batches_pending);
		ship_drain(sh, wait * USEC_PER_SEC);
		ship_get_stats(sh, &st);
	}
	char found[64] = "";
	if (st.batches_found)
		snprintf(found, sizeof(found), ", and found %llu left by an earlier run",
			 (unsigned long long)st.batches_found);
	log_info("collector %s: %llu batches delivered, %llu rejected, %llu left in the "
		 "spool %s (%llu bytes); this run spooled %llu records in %llu batches%s; "
		 "%llu requests, %llu failed", url, (unsigned long long)st.batches_delivered,
		 (unsigned long long)st.batches_rejected,
		 (unsigned long long)st.batches_pending, dir,
		 (unsigned long long)st.spool_bytes, (unsigned long long)st.records_spooled,
		 (unsigned long long)st.batches_spooled, found,
		 (unsigned long long)st.attempts, (unsigned long long)st.failures);
	if (st.records_lost) {
		log_error("spool %s: LOST %llu records (%llu IP bytes of traffic) in %llu "
			  "batches (%llu bytes compressed): the spool was full (spool-max-mb) "
			  "or could not be written", dir, (unsigned long long)st.records_lost,
			  (unsigned long long)st.traffic_bytes_lost,
			  (unsigned long long)st.batches_lost, (unsigned long long)st.bytes_lost);
		rc = EXIT_UNDELIVERED;
	}
	if (st.batches_rejected) {
		log_error("not delivered: %llu batches rejected by the collector, kept in "
			  "%s/rejected with their reasons", (unsigned long long)st.batches_rejected,
			  dir);
		rc = EXIT_UNDELIVERED;
	}
	if (st.batches_pending) {
		if (live) {
			log_info("%llu batches stay in the spool %s for the next start",
				 (unsigned long long)st.batches_pending, dir);
		} else {
			log_error("not delivered: %llu batches left in the spool %s",
				  (unsigned long long)st.batches_pending, dir);
			rc = EXIT_UNDELIVERED;
		}
	}
	/* Live, what is left goes at the next start: stopping is no failure. */
	return live ? EXIT_OK : rc;
}

/* The packet path of a run: one engine, or a pool of them (threads > 1). */
struct packet_path {
	struct engine *e;
	struct shard_pool *pool;
};

/* capfile's: every packet read goes to the workers before it waits. */
static void
pool_starved(void *arg)
{
	shard_pool_flush(arg);
}

static unsigned
threads_wanted(const struct settings *s)
{
	cpu_set_t cpus;

	if (s->threads > 0)
		return (unsigned)s->threads;
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) >= THREADS_AUTO)
		return THREADS_AUTO;
	return 1;
}

static int
path_failed(const struct packet_path *pp)
{
	return pp->pool ? shard_pool_failed(pp->pool) : engine_failed(pp->e);
}

/* Live: the clock moved; the workers get it at once. */
static void
path_tick(struct packet_path *pp, int64_t now)
{
	if (pp->pool) {
		shard_pool_tick(pp->pool, now);
		shard_pool_flush(pp->pool);
	} else {
		engine_tick(pp->e, now);
	}
}

/* Live, once a second: what is written reaches the disk and the shipper. */
static void
flush_sinks(struct packet_path *pp, struct sinks_ctx *sinks)
{
	if (pp->pool)
		shard_pool_sinks_lock(pp->pool);
	if (sinks->ship)
		ship_tick(sinks->ship);
	if (sinks->have_usage)
		out_flush(&sinks->usage);
	if (sinks->have_flows)
		out_flush(&sinks->flows);
	if (pp->pool)
		shard_pool_sinks_unlock(pp->pool);
}

static int
run_capture(const struct settings *s, const sig_db *sigs, geo *geodb,
	    const struct ship_config *shipcfg)
{
	struct sinks_ctx sinks;
	struct engine_config ecfg;
	struct packet_path pp = { NULL, NULL };
	const char *what = NULL;
	char *readbuf = NULL;
	struct capfile *cf = NULL;
	struct bpf_program prog = { 0, NULL };
	int rc = EXIT_INPUT;
	int live = s->read_file == NULL;
	unsigned threads = threads_wanted(s);
	pcap_t *p = open_capture(s, &what, &readbuf);

	memset(&sinks, 0, sizeof(sinks));
	if (!p)
		return EXIT_INPUT;
	int dlt = pcap_datalink(p);
	if (!decode_linktype_supported(dlt)) {
		const char *name = pcap_datalink_val_to_name(dlt);
		log_error("%s: link type %d (%s) is not supported (supported: EN10MB, "
			  "LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP)", what, dlt,
			  name ? name : "unknown");
		pcap_close(p);
		free(readbuf);
		return EXIT_INPUT;
	}
	if (apply_filter(p, what, s->filter, &prog) < 0) {
		pcap_close(p);
		free(readbuf);
		return EXIT_USAGE;
	}
	/* With a collector, summaries go to stdout only when asked (-o -). */
	const char *usage_path = s->output ? s->output : shipcfg ? NULL : "-";
	if (usage_path) {
		if (out_open(&sinks.usage, usage_path) < 0) {
			pcap_close(p);
			free(readbuf);
			return EXIT_INPUT;
		}
		sinks.have_usage = 1;
	}
	if (shipcfg) {
		sinks.ship = ship_new(shipcfg);
		if (!sinks.ship)
			goto out;
	}
	if (s->flows_output) {
		if (out_open(&sinks.flows, s->flows_output) < 0)
			goto out;
		sinks.have_flows = 1;
	}
	engine_config_from(s, &ecfg);
	struct engine_sinks es = { sink_usage, sinks.have_flows ? sink_flow : NULL, &sinks };
	if (threads > 1) {
		/* Every worker allocates in an arena of its own, which glibc
		 * grows and trims in small steps: each step is an mprotect and,
		 * with threads on other CPUs, a TLB flush on each of them (2,800
		 * on the bench capture, a tenth of the time). Grow in larger
		 * steps and keep what was freed. */
		mallopt(M_TOP_PAD, 8 << 20);
		mallopt(M_TRIM_THRESHOLD, 64 << 20);
		/* the engines themselves are set up by their threads, which
		 * start once root is dropped */
		pp.pool = shard_pool_new(threads, &ecfg, sigs, geodb, &es);
		if (!pp.pool)
			goto out;
		/* a classic pcap file is read in place: no packet is copied on
		 * its way to a worker (libpcap has checked its header); opened
		 * here, while the agent may still be root as for libpcap */
		if (!live && strcmp(s->read_file, "-") != 0)
			cf = capfile_open(s->read_file, p, pool_starved, pp.pool);
	} else {
		pp.e = engine_new(&ecfg, sigs, geodb, &es);
		if (!pp.e)
			goto out;
	}
	if (s->user) {
		/* Everything that needs root is open: packets, nDPI and the
		 * QUIC decryption run unprivileged from here on. */
		const char *own[] = { shipcfg ? shipcfg->spool_dir : NULL, NULL };
		char err[512];
		if (privdrop(s->user, own, err, sizeof(err)) < 0) {
			log_error("%s", err);
			rc = EXIT_USAGE;
			goto out;
		}
		log_info("running as %s", s->user);
	}
	if (pp.pool) {
		if (shard_pool_start(pp.pool) < 0)
			goto finish;
		log_debug("%s: %u engine threads%s", what, threads, cf ? ", read in place" : "");
	}

	if (live) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		log_info("capturing on %s", what);
	}

	struct pcap_pkthdr *hdr;
	const u_char *data;
	uint64_t n = 0;
	int r;
	int64_t next_flush = 0;
	struct shard_pin *pin = NULL;
	while (!stop_requested && !path_failed(&pp)) {
		r = cf ? capfile_next(cf, &hdr, &data, &pin) : pcap_next_ex(p, &hdr, &data);
		if (r == 1) {
			if (cf && prog.bf_insns && !pcap_offline_filter(&prog, hdr, data))
				continue; /* as pcap_next_ex would have skipped it */
			n++;
			int64_t ts = (int64_t)hdr->ts.tv_sec * USEC_PER_SEC + hdr->ts.tv_usec;
			if (cf)
				shard_pool_frame_pinned(pp.pool, dlt, ts, data, hdr->caplen, hdr->len,
							pin);
			else if (pp.pool)
				shard_pool_frame(pp.pool, dlt, ts, data, hdr->caplen, hdr->len);
			else
				engine_frame(pp.e, dlt, ts, data, hdr->caplen, hdr->len);
		} else if (r == 0) {
			/* nothing ready: wait a little, then let the clock move on a
			 * quiet link; a signal ends the wait early (EINTR) */
			struct pollfd pfd = { pcap_get_selectable_fd(p), POLLIN, 0 };
			if (poll(&pfd, 1, 200) < 0 && errno != EINTR) {
				log_error("%s: poll: %s", what, strerror(errno));
				goto finish;
			}
			path_tick(&pp, wall_usec());
		} else if (r == PCAP_ERROR_BREAK) {
			break;
		} else if (r == PCAP_ERROR) {
			log_error("%s: capture cut short after packet %llu: %s; the summaries "
				  "of what was read are written", what, (unsigned long long)n,
				  cf ? capfile_geterr(cf) : pcap_geterr(p));
			goto finish;
		}
		if (live) {
			int64_t now = wall_usec();
			if (now >= next_flush) {
				path_tick(&pp, now);
				flush_sinks(&pp, &sinks);
				next_flush = now + USEC_PER_SEC;
			}
		}
	}
	rc = EXIT_OK;
finish:
	/* the workers are joined here: the sinks are the capture thread's again */
	if (pp.pool ? shard_pool_finish(pp.pool) < 0 : engine_finish(pp.e) < 0)
		rc = EXIT_INPUT;
	struct engine_stats st;
	if (pp.pool)
		shard_pool_get_stats(pp.pool, &st);
	else
		engine_get_stats(pp.e, &st);
	report_stats(what, &st, geodb, p, live);
	if (sinks.ship) {
		/* the files are complete now: do not keep them waiting for the
		 * collector (a write error still shows at out_close) */
		if (sinks.have_usage)
			out_flush(&sinks.usage);
		if (sinks.have_flows)
			out_flush(&sinks.flows);
		int ship_rc = ship_finish(sinks.ship, s, live);
		/* a bad input (1) says more than "not delivered" (3) */
		if (rc == EXIT_OK)
			rc = ship_rc;
	}
out:
	ship_free(sinks.ship);
	if (sinks.have_usage && out_close(&sinks.usage) < 0)
		rc = EXIT_INPUT;
	if (sinks.have_flows && out_close(&sinks.flows) < 0)
		rc = EXIT_INPUT;
	shard_pool_free(pp.pool);
	capfile_close(cf); /* after the workers: they read its chunks */
	engine_free(pp.e);
	pcap_freecode(&prog);
	pcap_close(p);
	free(readbuf);
	return rc;
}

/* ---- --collector ---- */

/* The shipper's settings from the agent's. *token gets the token read
 * from token-file (caller wipes and frees). 0, or -1 with a reason. */
static int
ship_settings(const struct settings *s, struct ship_config *c, char **token, char *err,
	      size_t errlen)
{
	ship_config_defaults(c);
	*token = NULL;
	if (s->token && s->token_file) {
		snprintf(err, errlen, "give --token or --token-file, not both");
		return -1;
	}
	if (s->token_file) {
		*token = ship_read_token_file(s->token_file, err, errlen);
		if (!*token)
			return -1;
	}
	c->url = s->collector;
	c->token = *token ? *token : s->token;
	c->ca_file = s->ca_file;
	c->spool_dir = s->spool;
	c->agent_version = SHADOWMAP_VERSION;
	c->batch_max_records = (uint32_t)s->batch_max_records;
	/* offline, the capture's time is not the wall clock: batches close by
	 * count and at the end */
	c->batch_max_age_usec = s->read_file ? 0 : s->batch_max_age * USEC_PER_SEC;
	c->spool_max_bytes = (uint64_t)s->spool_max_mb << 20;
	c->retry_max_usec = s->retry_max * USEC_PER_SEC;
	return ship_config_check(c, err, errlen);
}

/* ---- signatures ---- */

/* The parse cache's directory (signatures-cache, else the user's cache
 * directory), or NULL for none. Static storage or the setting's. */
static const char *
sig_cache_dir(const struct settings *s)
{
	static char dir[4096];
	const char *base = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (s->signatures_cache)
		return *s->signatures_cache ? s->signatures_cache : NULL;
	/* the XDG spec: a relative XDG_CACHE_HOME is to be ignored */
	if (base && base[0] == '/')
		n = snprintf(dir, sizeof(dir), "%s/shadowmap/signatures", base);
	else if (home && home[0] == '/')
		n = snprintf(dir, sizeof(dir), "%s/.cache/shadowmap/signatures", home);
	else
		return NULL;
	return n > 0 && (size_t)n < sizeof(dir) ? dir : NULL;
}

/* sig_db_open with the parse cache: a cache that cannot be used is worth a
 * warning, never a failed start. */
static sig_db *
open_signatures(const struct settings *s, const char *path, char *err, size_t errlen)
{
	const char *cache = sig_cache_dir(s);
	sig_db *db = sig_db_new();

	if (!db) {
		snprintf(err, errlen, "signatures: out of memory");
		return NULL;
	}
	if (cache && sig_db_set_cache_dir(db, cache, err, errlen) < 0)
		log_warnx("signatures-cache: %s; parsing every file", err);
	if (sig_db_load_path(db, path, err, errlen) < 0 ||
	    (s->signatures_local && sig_db_load_overrides(db, s->signatures_local, err,
							 errlen) < 0) ||
	    sig_db_finalize(db, err, errlen) < 0) {
		sig_db_free(db);
		return NULL;
	}
	return db;
}

/* ---- --check-signatures ---- */

static void
print_problem(void *arg, const char *problem)
{
	(void)arg;
	printf("%s\n", problem);
}

/*
 * Lints dir, then local (may be NULL) on top: one line "file:line: reason"
 * per problem on standard output, all of them, not only the first. 0 when
 * clean, EXIT_USAGE otherwise.
 */
static int
run_check_signatures(const char *dir, const char *local)
{
	char err[1024];
	sig_db *db = sig_db_new();
	size_t n_problems, n_facts = 0, n_with_facts = 0;
	int rc = EXIT_USAGE;

	if (!db) {
		log_error("out of memory");
		return EXIT_USAGE;
	}
	sig_db_set_problem_handler(db, print_problem, NULL);
	(void)sig_db_load_path(db, dir, err, sizeof(err));
	if (local)
		(void)sig_db_load_overrides(db, local, err, sizeof(err));
	(void)sig_db_finalize(db, err, sizeof(err));
	n_problems = sig_db_problem_count(db);
	if (fflush(stdout) != 0) {
		log_error("cannot write to standard output: %s", strerror(errno));
		goto out;
	}
	if (n_problems) {
		log_error("%s%s%s: %zu problem%s", dir, local ? " with " : "", local ? local : "",
			  n_problems, n_problems == 1 ? "" : "s");
		goto out;
	}
	for (size_t i = 0; i < sig_db_app_count(db); i++) {
		const struct sig_app *app = sig_db_app(db, i);
		size_t k = 0;
		for (size_t f = 0; f < SIG_FACT_COUNT; f++)
			k += app->risk[f].known != 0;
		n_facts += k;
		n_with_facts += k > 0;
	}
	log_info("%s%s%s: OK: %zu apps in %zu categories, %zu with risk facts (%zu facts)", dir,
		 local ? " with " : "", local ? local : "", sig_db_app_count(db),
		 sig_db_category_count(db), n_with_facts, n_facts);
	rc = EXIT_OK;
out:
	sig_db_free(db);
	return rc;
}

/* ---- --lookup ---- */

static int
run_lookup(const sig_db *sigs, char **names, int n)
{
	char norm[DOMAIN_MAX], domain[DOMAIN_MAX];
	for (int i = 0; i < n; i++) {
		const char *app = "-", *category = "-", *dom = "-";
		if (domain_normalize(names[i], strlen(names[i]), norm, sizeof(norm)) > 0) {
			const struct sig_app *a = sig_match_name(sigs, norm, NULL);
			if (a) {
				app = a->slug;
				category = a->category;
			}
			if (domain_registrable(norm, domain, sizeof(domain)) == 0)
				dom = domain;
		}
		printf("%s\t%s\t%s\t%s\n", names[i], app, category, dom);
	}
	if (fflush(stdout) != 0) {
		log_error("cannot write to standard output: %s", strerror(errno));
		return EXIT_INPUT;
	}
	return EXIT_OK;
}

static void
usage(FILE *fp)
{
	struct sbuf sb;
	sbuf_init(&sb, 1 << 16);
	cfg_help(options, &sb);
	fprintf(fp,
		"usage: shadowmap-agent -r FILE | -i IFACE [-f FILTER] [-o PATH] [options]\n"
		"       shadowmap-agent --lookup NAME...\n"
		"       shadowmap-agent -n [-c CONFIG] [--signatures DIR]\n"
		"       shadowmap-agent --check-signatures [DIR] [--signatures-local PATH]\n"
		"\n"
		"Captures traffic, names and classifies its flows, and writes SaaS usage\n"
		"summaries (one JSON object per line, docs/usage-format.md).\n"
		"\n"
		"  -r FILE          read a pcap or pcapng file\n"
		"  -i IFACE         capture live on IFACE\n"
		"  -f FILTER        BPF filter expression\n"
		"  -o PATH          write summaries to PATH (- for stdout, the default\n"
		"                   without --collector)\n"
		"  -c FILE          read settings from a YAML file (command line wins)\n"
		"  -n, --check      check settings, signatures and databases, then exit\n"
		"  --lookup NAME... print name, app, category and registrable domain\n"
		"  --check-signatures [DIR]\n"
		"                   check a signature directory (default: the one in use)\n"
		"                   and signatures-local, print every problem as\n"
		"                   FILE:LINE: reason; exit 0 when clean, 2 otherwise\n"
		"  -q, -v           quieter, more verbose\n"
		"  -V, --version    print the version\n"
		"\n"
		"Shipping (docs/shipping.md): --collector URL --token-file PATH --spool DIR\n"
		"sends the summaries in batches, each written to the spool before it is\n"
		"sent and deleted when the collector has it. Summaries then go to -o only\n"
		"when it is given.\n"
		"\n"
		"Exit status: 0 done (all delivered, with -r and --collector); 1 bad input\n"
		"or output (what was read is still written); 2 bad command line, settings\n"
		"or signatures; 3 with -r and --collector: not all was delivered (batches\n"
		"left in the spool, rejected by the collector, or lost to a full spool).\n"
		"\nSettings (also keys of the config file):\n%s", sb.data ? sb.data : "");
	sbuf_free(&sb);
}

int
main(int argc, char **argv)
{
	struct settings s;
	char err[1024];
	int rc = EXIT_USAGE;
	int check_only = 0, lookup = 0, check_sigs = 0;
	const char *config_path = NULL;
	enum log_level level = LOG_LEVEL_INFO;
	sig_db *sigs = NULL;
	geo *geodb = NULL;
	struct ship_config shipcfg;
	char *token = NULL;
	int shipping = 0, curl_ready = 0;

	log_init("shadowmap-agent", level);
	memset(&s, 0, sizeof(s));
	if (cfg_defaults(options, &s, err, sizeof(err)) < 0)
		fatalx("%s", err);

	/* Long options come from the settings table; a few are modes. */
	enum { OPT_LOOKUP = 1000, OPT_CHECK, OPT_CHECK_SIGS, OPT_VERSION, OPT_HELP,
	       OPT_FIRST_SETTING };
	size_t n_settings = 0;
	while (options[n_settings].name)
		n_settings++;
	struct option *longopts = calloc(n_settings + 6, sizeof(*longopts));
	if (!longopts)
		fatalx("out of memory");
	size_t k = 0;
	for (size_t i = 0; i < n_settings; i++)
		longopts[k++] = (struct option){ options[i].name, required_argument, NULL,
						 (int)(OPT_FIRST_SETTING + i) };
	longopts[k++] = (struct option){ "lookup", no_argument, NULL, OPT_LOOKUP };
	longopts[k++] = (struct option){ "check", no_argument, NULL, OPT_CHECK };
	longopts[k++] = (struct option){ "check-signatures", no_argument, NULL, OPT_CHECK_SIGS };
	longopts[k++] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
	longopts[k++] = (struct option){ "help", no_argument, NULL, OPT_HELP };

	/* First pass: only -c, so the command line can override the file. */
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "r:i:f:o:c:nqvVh", longopts, NULL)) != -1)
		if (c == 'c')
			config_path = optarg;
	if (config_path && cfg_load_file(options, &s, config_path, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	optind = 0; /* GNU getopt: 0 restarts the scan from scratch */
	opterr = 1;
	while ((c = getopt_long(argc, argv, "r:i:f:o:c:nqvVh", longopts, NULL)) != -1) {
		const char *name = NULL;
		char where[96];
		switch (c) {
		case 'r': name = "read"; break;
		case 'i': name = "interface"; break;
		case 'f': name = "filter"; break;
		case 'o': name = "output"; break;
		case 'c': continue;
		case 'n':
		case OPT_CHECK: check_only = 1; continue;
		case 'q': level = LOG_LEVEL_WARN; continue;
		case 'v': level = LOG_LEVEL_DEBUG; continue;
		case 'V':
		case OPT_VERSION:
			printf("shadowmap-agent %s\n", SHADOWMAP_VERSION);
			rc = EXIT_OK;
			goto out;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			rc = EXIT_OK;
			goto out;
		case OPT_LOOKUP: lookup = 1; continue;
		case OPT_CHECK_SIGS: check_sigs = 1; continue;
		default:
			if (c >= OPT_FIRST_SETTING && c < OPT_FIRST_SETTING + (int)n_settings) {
				name = options[c - OPT_FIRST_SETTING].name;
				break;
			}
			usage(stderr);
			goto out;
		}
		snprintf(where, sizeof(where), "--%s", name);
		if (cfg_set(options, &s, name, optarg, where, err, sizeof(err)) < 0) {
			log_error("%s", err);
			goto out;
		}
	}
	log_set_level(level);

	if (check_sigs) {
		/* the directory is an argument of its own: "--check-signatures DIR" */
		if (optind + 1 < argc) {
			log_error("--check-signatures takes one directory at most (see --help)");
			goto out;
		}
		rc = run_check_signatures(optind < argc ? argv[optind]
					  : s.signatures ? s.signatures
							 : sig_default_dir(),
					  s.signatures_local);
		goto out;
	}
	if (!lookup && !check_only && (s.read_file || s.interface))
		dpi_prepare(threads_wanted(&s)); /* while the signatures load */
	if (domain_init() < 0) {
		log_error("cannot load the public suffix list (libpsl)");
		rc = EXIT_INPUT;
		goto out;
	}
	if (s.collector) {
		if (ship_settings(&s, &shipcfg, &token, err, sizeof(err)) < 0) {
			log_error("%s", err);
			goto out;
		}
		shipping = 1;
	} else if (s.token || s.token_file || s.spool || s.ca_file || s.fetch_signatures) {
		log_warnx("token, token-file, ca, spool and fetch-signatures do nothing without "
			  "--collector");
	}
	const char *sigpath = s.signatures ? s.signatures : sig_default_dir();
	char fetched[4096];
	if (shipping && s.fetch_signatures) {
		if (s.signatures) {
			log_error("give --signatures or --fetch-signatures, not both");
			goto out;
		}
		/* libcurl's global set-up, once, before any thread */
		if (ship_global_init() < 0) {
			log_error("cannot initialise libcurl");
			rc = EXIT_INPUT;
			goto out;
		}
		curl_ready = 1;
		enum sigfetch_result fr = sigfetch_update(s.collector, shipcfg.token, s.ca_file,
							  s.spool, err, sizeof(err));
		snprintf(fetched, sizeof(fetched), "%s/signatures", s.spool);
		if (fr == SIGFETCH_UPDATED)
			log_info("signatures: the collector's set, now in %s", fetched);
		else if (fr == SIGFETCH_FAILED && access(fetched, F_OK) == 0)
			log_warnx("signatures: cannot fetch the collector's (%s); using the copy in %s",
				  err, fetched);
		else if (fr == SIGFETCH_FAILED)
			log_warnx("signatures: cannot fetch the collector's (%s); using the built-in "
				  "ones", err);
		if (access(fetched, F_OK) == 0)
			sigpath = fetched;
	}
	sigs = open_signatures(&s, sigpath, err, sizeof(err));
	if (!sigs) {
		log_error("%s", err);
		goto out;
	}

	if (lookup) {
		if (optind >= argc) {
			log_error("--lookup needs at least one name");
			goto out;
		}
		rc = run_lookup(sigs, argv + optind, argc - optind);
		goto out;
	}
	if (optind < argc) {
		log_error("unexpected argument \"%s\" (see --help)", argv[optind]);
		goto out;
	}
	if (s.read_file && s.interface) {
		log_error("-r and -i exclude each other");
		goto out;
	}
	/* The databases are mapped now, while the agent may still be root;
	 * a missing or wrong one is a settings error like any other. */
	geodb = geo_new();
	if (!geodb) {
		log_error("out of memory");
		goto out;
	}
	if (s.geoip_country_db &&
	    geo_open_country(geodb, s.geoip_country_db, err, sizeof(err)) < 0) {
		log_error("geoip-country-db: %s", err);
		goto out;
	}
	if (s.geoip_asn_db && geo_open_asn(geodb, s.geoip_asn_db, err, sizeof(err)) < 0) {
		log_error("geoip-asn-db: %s", err);
		goto out;
	}
	if (check_only) {
		log_info("settings and %zu apps in %s%s%s: OK", sig_db_app_count(sigs), sigpath,
			 s.signatures_local ? " and " : "",
			 s.signatures_local ? s.signatures_local : "");
		rc = EXIT_OK;
		goto out;
	}
	if (!s.read_file && !s.interface) {
		log_error("nothing to read: give -r FILE or -i IFACE (see --help)");
		goto out;
	}
	if (shipping && !curl_ready) {
		/* libcurl's global set-up, once, before the sender thread */
		if (ship_global_init() < 0) {
			log_error("cannot initialise libcurl");
			rc = EXIT_INPUT;
			goto out;
		}
		curl_ready = 1;
	}
	rc = run_capture(&s, sigs, geodb, shipping ? &shipcfg : NULL);
out:
	dpi_prepare_end();
	if (curl_ready)
		ship_global_cleanup();
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	sig_db_free(sigs);
	geo_free(geodb);
	domain_cleanup();
	cfg_free(options, &s);
	free(longopts);
	return rc;
}
