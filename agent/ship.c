/*
 * The shipper (ship.h): the capture thread gzips records into the open
 * batch and closes batches into the spool directory, durably, before
 * anything is sent; a sender thread posts the spooled batches oldest first
 * and deletes each only when the collector acknowledged it. The only file
 * of the agent that talks libcurl. docs/shipping.md is the user's view.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "shadowmap/fileio.h"
#include "shadowmap/json.h"
#include "shadowmap/log.h"
#include "shadowmap/sbuf.h"
#include "shadowmap/timefmt.h"

#include "ship.h"

#define BATCH_SCHEMA "shadowmap.batch/1"
/* The collector's request limit: a spool file above it can never go. */
#define COLLECTOR_MAX_BODY (16u << 20)
/* One record's JSON; the agent's own records are far smaller. */
#define RECORD_MAX_JSON (1u << 20)
/* What is kept of a response body, for messages. */
#define RESPONSE_KEEP 4096
/* How much of the collector's words go into a log line. */
#define REASON_MAX 200
#define LOG_INTERVAL 60

/* "<16 digits of usec>-<uuid>.json.gz": the time first, so that names
 * sort oldest first. */
#define NAME_TIME_DIGITS 16
#define NAME_SUFFIX ".json.gz"
#define NAME_LEN (NAME_TIME_DIGITS + 1 + SHIP_UUID_LEN + 8)
#define NAME_BUF 96

struct spool_entry {
	char name[NAME_BUF];
	uint64_t size;
};

struct open_batch {
	int open;
	z_stream z;
	struct sbuf gz;         /* the compressed body so far */
	char id[SHIP_UUID_LEN + 1];
	uint32_t n_records;
	uint64_t raw_len;       /* JSON bytes fed to deflate */
	uint64_t traffic_bytes; /* bytes_up + bytes_down of its records */
	int64_t opened;         /* monotonic usec */
};

enum send_outcome {
	SEND_DELIVERED,
	SEND_REJECTED,
	SEND_GONE,      /* the file vanished from the spool */
	SEND_RETRY,
};

struct shipper {
	/* Set up by ship_new, read-only afterwards. */
	struct ship_config cfg;   /* strings point at the copies below */
	char *url_shown;          /* the endpoint, as in messages */
	char *token;
	char *ca_file;
	char *spool_dir;
	char *rejected_dir;
	char *agent_version;
	int dir_fd, rejected_fd;  /* dir_fd holds the spool's lock */

	/* The capture thread's. */
	struct open_batch batch;
	struct sbuf rec;
	int64_t last_name_usec;
	int spool_was_full;
	uint64_t lost_in_episode;
	struct log_ratelimit lost_rl;

	/* Shared, under mu. The queue is an index of the spool: entries
	 * [q_head, q_len) wait, oldest first; only the sender pops. */
	pthread_mutex_t mu;
	pthread_cond_t work_cv;   /* to the sender: a new batch, or stop */
	pthread_cond_t idle_cv;   /* to ship_drain: a batch left the queue */
	struct spool_entry *queue;
	size_t q_head, q_len, q_cap;
	uint64_t spool_bytes;
	struct ship_stats st;
	int stop;
	atomic_int abort_transfer;
	pthread_t thread;
	int thread_started;

	/* The sender thread's. */
	CURL *curl;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE];
	struct sbuf resp;
	uint64_t rng;
	unsigned attempt;
	uint64_t failed_in_row;
	struct log_ratelimit fail_rl, auth_rl;
};

/* ---- small helpers ---- */

static int64_t
mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int64_t
wall_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static struct timespec
mono_deadline(int64_t usec_from_now)
{
	struct timespec ts;
	int64_t t = mono_usec() + (usec_from_now > 0 ? usec_from_now : 0);
	ts.tv_sec = (time_t)(t / USEC_PER_SEC);
	ts.tv_nsec = (long)(t % USEC_PER_SEC) * 1000;
	return ts;
}

static uint64_t
rng_next(uint64_t *s)
{
	/* xorshift64*: jitter needs spread, not secrecy */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(2685821657736338717);
}

static int
fill_random(void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom((char *)buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Copies at most REASON_MAX bytes of untrusted text for a log line:
 * printable ASCII only, so a collector (or a proxy in front of it) cannot
 * put control characters into our logs. */
static void
sanitize(const char *in, size_t len, char *out, size_t outlen)
{
	size_t k = 0;
	if (outlen == 0)
		return;
	for (size_t i = 0; i < len && k + 1 < outlen && k < REASON_MAX; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[k] = '\0';
}

/*
 * Finds "key": "value" in a response body and copies the value, sanitised.
 * Good enough for messages (a key inside a string value could fool it),
 * which is all it is used for: the status code decides what happens.
 * Returns 0, or -1 when absent.
 */
static int
json_find_string(const char *body, size_t len, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	char raw[REASON_MAX + 1];
	for (size_t i = 0; i + klen + 2 <= len; i++) {
		if (body[i] != '"' || memcmp(body + i + 1, key, klen) != 0 ||
		    body[i + 1 + klen] != '"')
			continue;
		size_t j = i + klen + 2;
		while (j < len && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' ||
				   body[j] == '\r'))
			j++;
		if (j >= len || body[j] != ':')
			continue;
		j++;
		while (j < len && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' ||
				   body[j] == '\r'))
			j++;
		if (j >= len || body[j] != '"')
			continue;
		j++;
		size_t k = 0;
		while (j < len && body[j] != '"' && k < REASON_MAX) {
			if (body[j] == '\\' && j + 1 < len) {
				j++;
				/* \uXXXX and friends: keep a marker, not the code */
				raw[k++] = body[j] == 'u' ? '?' : body[j] == 'n' ? ' ' : body[j];
				if (body[j] == 'u')
					j += 4;
				j++;
				continue;
			}
			raw[k++] = body[j++];
		}
		sanitize(raw, k, out, outlen);
		return 0;
	}
	return -1;
}

static int
valid_uuid(const char *s)
{
	for (int i = 0; i < SHIP_UUID_LEN; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

static int
valid_batch_name(const char *name)
{
	if (strlen(name) != NAME_LEN)
		return 0;
	for (int i = 0; i < NAME_TIME_DIGITS; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return name[NAME_TIME_DIGITS] == '-' && valid_uuid(name + NAME_TIME_DIGITS + 1) &&
	       strcmp(name + NAME_LEN - 8, NAME_SUFFIX) == 0;
}

/* The batch id inside a spool file name. out: SHIP_UUID_LEN + 1 bytes. */
static void
name_to_id(const char *name, char *out)
{
	memcpy(out, name + NAME_TIME_DIGITS + 1, SHIP_UUID_LEN);
	out[SHIP_UUID_LEN] = '\0';
}

static char *
xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- configuration ---- */

void
ship_config_defaults(struct ship_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->batch_max_records = 500;
	cfg->batch_max_age_usec = 10 * USEC_PER_SEC;
	cfg->spool_max_bytes = (uint64_t)512 << 20;
	cfg->retry_min_usec = 1 * USEC_PER_SEC;
	cfg->retry_max_usec = 30 * USEC_PER_SEC;
	cfg->connect_timeout_usec = 10 * USEC_PER_SEC;
	cfg->request_timeout_usec = 60 * USEC_PER_SEC;
}

/*
 * The URL the agent posts to: the collector's base URL with SHIP_API_PATH
 * appended, unless it names that path already. Sets *endpoint (caller
 * frees with curl_free) or returns -1 with a reason.
 */
static int
build_endpoint(const char *url, char **endpoint, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *path = NULL;
	struct sbuf newpath;
	int rc = -1;
	CURLUcode uc;

	sbuf_init(&newpath, 8192);
	*endpoint = NULL;
	if (!u) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		snprintf(err, errlen, "--collector %s: not a URL: %s (expected "
			 "https://HOST[:PORT])", url, curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		snprintf(err, errlen, "--collector %s: the scheme must be https:// (or http://)",
			 url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user[0]) {
		snprintf(err, errlen, "--collector: no credentials in the URL; give the "
			 "agent's token with --token-file");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		snprintf(err, errlen, "--collector %s: not a URL", url);
		goto out;
	}
	size_t plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	size_t alen = strlen(SHIP_API_PATH);
	sbuf_add(&newpath, path, plen);
	if (!(plen >= alen && memcmp(path + plen - alen, SHIP_API_PATH, alen) == 0))
		sbuf_addstr(&newpath, SHIP_API_PATH);
	if (newpath.failed || curl_url_set(u, CURLUPART_PATH, newpath.data, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK) {
		snprintf(err, errlen, "--collector %s: cannot build the ingest URL", url);
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(path);
	curl_url_cleanup(u);
	sbuf_free(&newpath);
	return rc;
}

int
ship_config_check(const struct ship_config *cfg, char *err, size_t errlen)
{
	char *endpoint = NULL;

	if (!cfg->url || !cfg->url[0]) {
		snprintf(err, errlen, "no collector URL");
		return -1;
	}
	if (build_endpoint(cfg->url, &endpoint, err, errlen) < 0)
		return -1;
	curl_free(endpoint);
	if (!cfg->token || !cfg->token[0]) {
		snprintf(err, errlen, "--collector needs the agent's token: --token-file PATH "
			 "(or --token)");
		return -1;
	}
	size_t tlen = strlen(cfg->token);
	if (tlen > 4096) {
		snprintf(err, errlen, "the token is longer than 4096 characters");
		return -1;
	}
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)cfg->token[i];
		if (c <= 0x20 || c >= 0x7f) {
			/* it goes into an HTTP header: no spaces, no line breaks */
			snprintf(err, errlen, "the token has a character that cannot be sent "
				 "(position %zu): only printable ASCII without spaces", i + 1);
			return -1;
		}
	}
	if (!cfg->spool_dir || !cfg->spool_dir[0]) {
		snprintf(err, errlen, "--collector needs --spool DIR: batches wait there "
			 "until the collector has them");
		return -1;
	}
	if (cfg->ca_file && access(cfg->ca_file, R_OK) != 0) {
		snprintf(err, errlen, "--ca %s: cannot read: %s", cfg->ca_file, strerror(errno));
		return -1;
	}
	if (cfg->batch_max_records < 1 || cfg->batch_max_records > SHIP_BATCH_MAX_RECORDS) {
		snprintf(err, errlen, "batch-max-records must be 1 to %d",
			 SHIP_BATCH_MAX_RECORDS);
		return -1;
	}
	if (cfg->batch_max_age_usec < 0 || cfg->retry_min_usec <= 0 ||
	    cfg->retry_max_usec <= 0 || cfg->connect_timeout_usec <= 0 ||
	    cfg->request_timeout_usec <= 0 || cfg->spool_max_bytes == 0) {
		snprintf(err, errlen, "shipping times and sizes must be positive");
		return -1;
	}
	return 0;
}

char *
ship_read_token_file(const char *path, char *err, size_t errlen)
{
	char buf[4200];
	size_t len = 0;
	char *tok = NULL;
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "--token-file %s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 0077))
		log_warnx("--token-file %s: readable by others (mode %03o); chmod 600 it",
			  path, (unsigned)(sb.st_mode & 0777));
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "--token-file %s: cannot read: %s", path,
				 strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1) {
			snprintf(err, errlen, "--token-file %s: longer than a token can be", path);
			goto out;
		}
	}
	buf[len] = '\0';
	size_t start = 0;
	while (start < len && (buf[start] == ' ' || buf[start] == '\t' || buf[start] == '\n' ||
			       buf[start] == '\r'))
		start++;
	while (len > start && (buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
			       buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == start) {
		snprintf(err, errlen, "--token-file %s: empty", path);
		goto out;
	}
	if (memchr(buf + start, '\n', len - start)) {
		snprintf(err, errlen, "--token-file %s: more than one line; the file holds "
			 "the token alone", path);
		goto out;
	}
	tok = strndup(buf + start, len - start);
	if (!tok)
		snprintf(err, errlen, "out of memory");
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return tok;
}

int64_t
ship_backoff_ceiling(const struct ship_config *cfg, unsigned attempt)
{
	int64_t c = cfg->retry_min_usec > 0 ? cfg->retry_min_usec : 1;
	int64_t cap = cfg->retry_max_usec > 0 ? cfg->retry_max_usec : c;
	for (unsigned i = 0; i < attempt && c < cap; i++)
		c *= 2;   /* stops at the cap: no overflow however long it fails */
	return c < cap ? c : cap;
}

int64_t
ship_backoff_usec(const struct ship_config *cfg, unsigned attempt, uint64_t rnd)
{
	/* "Full jitter" (AWS architecture blog, 2015): uniform in [0, ceiling],
	 * so that agents that lost the collector together do not come back in
	 * lockstep. */
	uint64_t ceiling = (uint64_t)ship_backoff_ceiling(cfg, attempt);
	return (int64_t)(rnd % (ceiling + 1));
}

int
ship_uuid_v4(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t k = 0;

	if (fill_random(b, sizeof(b)) < 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);  /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = hex[b[i] >> 4];
		out[k++] = hex[b[i] & 15];
	}
	out[k] = '\0';
	return 0;
}

/* ---- spool files ---- */

/*
 * Writes data as dir_fd/name durably: a temporary name, fsync, rename,
 * fsync of the directory. After a crash the file is there complete or not
 * at all. Returns 0, or -1 with errno set and nothing left behind.
 */
static int
spool_write_file(int dir_fd, const char *name, const void *data, size_t len)
{
	char tmp[NAME_BUF + 16];
	int fd, saved;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (file_write_all(fd, data, len) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dir_fd, tmp, dir_fd, name) < 0 || fsync(dir_fd) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dir_fd, tmp, 0);
	errno = saved;
	return -1;
}

static int
queue_push(shipper *sh, const char *name, uint64_t size)
{
	if (sh->q_len == sh->q_cap) {
		if (sh->q_head > 0) {
			/* reuse what the sender has consumed */
			memmove(sh->queue, sh->queue + sh->q_head,
				(sh->q_len - sh->q_head) * sizeof(*sh->queue));
			sh->q_len -= sh->q_head;
			sh->q_head = 0;
		}
		if (sh->q_len == sh->q_cap) {
			size_t cap = sh->q_cap ? sh->q_cap * 2 : 64;
			struct spool_entry *q = realloc(sh->queue, cap * sizeof(*q));
			if (!q)
				return -1;
			sh->queue = q;
			sh->q_cap = cap;
		}
	}
	struct spool_entry *e = &sh->queue[sh->q_len++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->size = size;
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spool_entry *)a)->name,
		      ((const struct spool_entry *)b)->name);
}

/*
 * Takes stock of the spool at start: deletes temporary files a crash left
 * (their batches never made it), queues the batches oldest first, and adds
 * up the disk in use, rejected/ included.
 */
static int
spool_scan(shipper *sh)
{
	uint64_t n_tmp = 0, n_other = 0, n_rejected = 0, rejected_bytes = 0;
	int fd;
	DIR *d;
	struct dirent *de;
	struct stat sb;

	fd = dup(sh->dir_fd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		log_error("spool %s: cannot list: %s", sh->spool_dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "rejected") == 0)
			continue;
		if (n[0] == '.' && len > 4 && strcmp(n + len - 4, ".tmp") == 0) {
			if (unlinkat(sh->dir_fd, n, 0) == 0)
				n_tmp++;
			continue;
		}
		if (!valid_batch_name(n)) {
			n_other++;
			continue;
		}
		if (fstatat(sh->dir_fd, n, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode)) {
			n_other++;
			continue;
		}
		if (queue_push(sh, n, (uint64_t)sb.st_size) < 0) {
			closedir(d);
			log_error("spool %s: out of memory", sh->spool_dir);
			return -1;
		}
		sh->spool_bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	if (sh->q_len > 1)
		qsort(sh->queue, sh->q_len, sizeof(*sh->queue), entry_cmp);
	sh->st.batches_found = sh->q_len;

	fd = dup(sh->rejected_fd);
	if (fd >= 0 && (d = fdopendir(fd)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (fstatat(sh->rejected_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(sb.st_mode)) {
				rejected_bytes += (uint64_t)sb.st_size;
				size_t len = strlen(de->d_name);
				if (len > 8 && strcmp(de->d_name + len - 8, NAME_SUFFIX) == 0)
					n_rejected++;
			}
		}
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	sh->spool_bytes += rejected_bytes;

	if (n_tmp)
		log_warnx("spool %s: removed %llu unfinished batch files of an interrupted run",
			  sh->spool_dir, (unsigned long long)n_tmp);
	if (n_other)
		log_warnx("spool %s: %llu files that are not batches are ignored", sh->spool_dir,
			  (unsigned long long)n_other);
	if (n_rejected)
		log_warnx("spool %s: %llu batches the collector rejected wait in %s "
			  "(each with its .reason); they count against spool-max-mb until "
			  "deleted", sh->spool_dir, (unsigned long long)n_rejected,
			  sh->rejected_dir);
	if (sh->q_len)
		log_info("spool %s: %zu batches (%llu bytes) from an earlier run will be "
			 "sent first", sh->spool_dir, sh->q_len,
			 (unsigned long long)(sh->spool_bytes - rejected_bytes));
	return 0;
}

/* ---- the open batch (capture thread) ---- */

/* Feeds data to the batch's deflate stream. 0 or -1. */
static int
batch_feed(struct open_batch *b, const void *data, size_t len, int flush)
{
	unsigned char chunk[16384];
	b->z.next_in = (Bytef *)(uintptr_t)data;
	b->z.avail_in = (uInt)len;
	do {
		b->z.next_out = chunk;
		b->z.avail_out = sizeof(chunk);
		if (deflate(&b->z, flush) == Z_STREAM_ERROR)
			return -1;
		size_t have = sizeof(chunk) - b->z.avail_out;
		if (have && sbuf_add(&b->gz, chunk, have) < 0)
			return -1;
	} while (b->z.avail_out == 0);
	b->raw_len += len;
	return b->z.avail_in == 0 ? 0 : -1;
}

static void
batch_discard(struct open_batch *b)
{
	if (b->open)
		deflateEnd(&b->z);
	sbuf_free(&b->gz);
	memset(b, 0, sizeof(*b));
}

static int
batch_begin(shipper *sh)
{
	struct open_batch *b = &sh->batch;
	struct sbuf head;
	int rc = -1;

	memset(b, 0, sizeof(*b));
	sbuf_init(&b->gz, COLLECTOR_MAX_BODY);
	sbuf_init(&head, 4096);
	if (ship_uuid_v4(b->id) < 0) {
		log_error("cannot make a batch id: getrandom: %s", strerror(errno));
		goto out;
	}
	/* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip says */
	if (deflateInit2(&b->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		log_error("cannot start a batch: zlib: out of memory");
		goto out;
	}
	b->open = 1;
	b->opened = mono_usec();
	sbuf_addstr(&head, "{\"schema\":\"" BATCH_SCHEMA "\",\"batch_id\":\"");
	sbuf_addstr(&head, b->id);
	sbuf_addstr(&head, "\"");
	if (sh->agent_version) {
		json_add_key(&head, "agent_version", 0);
		json_add_string(&head, sh->agent_version);
	}
	sbuf_addstr(&head, ",\"records\":[");
	if (head.failed || batch_feed(b, head.data, head.len, Z_NO_FLUSH) < 0)
		goto out;
	rc = 0;
out:
	sbuf_free(&head);
	if (rc < 0)
		batch_discard(b);
	return rc;
}

/* Counts and reports records that will never reach the collector. */
static void
count_lost(shipper *sh, uint64_t batches, uint64_t records, uint64_t bytes,
	   uint64_t traffic, const char *why)
{
	unsigned long suppressed = 0;
	struct ship_stats tot;

	pthread_mutex_lock(&sh->mu);
	sh->st.batches_lost += batches;
	sh->st.records_lost += records;
	sh->st.bytes_lost += bytes;
	sh->st.traffic_bytes_lost += traffic;
	tot = sh->st;
	pthread_mutex_unlock(&sh->mu);
	if (log_ratelimit_pass(&sh->lost_rl, &suppressed))
		log_error("%s: %llu records (%llu IP bytes of traffic) lost; lost so far: "
			  "%llu batches, %llu records, %llu IP bytes%s", why,
			  (unsigned long long)records, (unsigned long long)traffic,
			  (unsigned long long)tot.batches_lost,
			  (unsigned long long)tot.records_lost,
			  (unsigned long long)tot.traffic_bytes_lost,
			  suppressed ? " (similar messages suppressed)" : "");
}

/* Closes the open batch into the spool, or counts it lost. */
static void
batch_close(shipper *sh)
{
	struct open_batch *b = &sh->batch;
	char tail[TIMEFMT_LEN + 32], created[TIMEFMT_LEN], name[NAME_BUF], why[512];
	int full;

	if (!b->open || b->n_records == 0) {
		batch_discard(b);
		return;
	}
	/* "created" last: it is the closing time, known only now */
	int64_t now = wall_usec();
	snprintf(tail, sizeof(tail), "],\"created\":\"%s\"}",
		 time_format_rfc3339(now, 0, created));
	if (batch_feed(b, tail, strlen(tail), Z_FINISH) < 0) {
		count_lost(sh, 1, b->n_records, 0, b->traffic_bytes,
			   "cannot compress a batch (out of memory)");
		batch_discard(b);
		return;
	}
	uint64_t size = b->gz.len;

	/* strictly increasing names keep the spool in closing order */
	if (now <= sh->last_name_usec)
		now = sh->last_name_usec + 1;
	sh->last_name_usec = now;
	snprintf(name, sizeof(name), "%0*lld-%s" NAME_SUFFIX, NAME_TIME_DIGITS,
		 (long long)now, b->id);

	pthread_mutex_lock(&sh->mu);
	uint64_t pending = sh->q_len - sh->q_head;
	full = sh->spool_bytes + size > sh->cfg.spool_max_bytes ||
	       pending >= SHIP_SPOOL_MAX_BATCHES;
	uint64_t used = sh->spool_bytes;
	pthread_mutex_unlock(&sh->mu);

	if (full) {
		/* Policy (docs/shipping.md): what is on disk stays, the new
		 * batch is dropped and counted. */
		if (!sh->spool_was_full)
			log_error("spool %s: full (%llu of %llu bytes, %llu batches): new "
				  "batches are DROPPED until the collector %s takes some",
				  sh->spool_dir, (unsigned long long)used,
				  (unsigned long long)sh->cfg.spool_max_bytes,
				  (unsigned long long)pending, sh->url_shown);
		sh->spool_was_full = 1;
		sh->lost_in_episode += b->n_records;
		snprintf(why, sizeof(why), "spool %s: full: batch %s dropped", sh->spool_dir,
			 b->id);
		count_lost(sh, 1, b->n_records, size, b->traffic_bytes, why);
		batch_discard(b);
		return;
	}
	if (spool_write_file(sh->dir_fd, name, b->gz.data, size) < 0) {
		snprintf(why, sizeof(why), "spool %s: cannot write %s: %s", sh->spool_dir, name,
			 strerror(errno));
		count_lost(sh, 1, b->n_records, size, b->traffic_bytes, why);
		batch_discard(b);
		return;
	}
	if (sh->spool_was_full) {
		log_warnx("spool %s: room again; %llu records were dropped while it was full",
			  sh->spool_dir, (unsigned long long)sh->lost_in_episode);
		sh->spool_was_full = 0;
		sh->lost_in_episode = 0;
	}
	log_debug("spool %s: batch %s: %u records, %llu bytes", sh->spool_dir, b->id,
		  b->n_records, (unsigned long long)size);

	pthread_mutex_lock(&sh->mu);
	if (queue_push(sh, name, size) < 0) {
		/* on disk but not queued: the next start sends it */
		log_error("spool %s: out of memory: batch %s waits for the next start",
			  sh->spool_dir, b->id);
	}
	sh->spool_bytes += size;
	sh->st.batches_spooled++;
	sh->st.records_spooled += b->n_records;
	pthread_cond_signal(&sh->work_cv);
	pthread_mutex_unlock(&sh->mu);
	batch_discard(b);
}

int
ship_add_record(shipper *sh, const struct usage_record *r)
{
	uint64_t traffic = r->bytes_up + r->bytes_down;
	char why[256];

	pthread_mutex_lock(&sh->mu);
	sh->st.records_in++;
	pthread_mutex_unlock(&sh->mu);

	sbuf_reset(&sh->rec);
	if (usage_record_to_json(r, &sh->rec) < 0) {
		snprintf(why, sizeof(why), "a usage record is larger than %u bytes",
			 RECORD_MAX_JSON);
		count_lost(sh, 0, 1, 0, traffic, why);
		return -1;
	}
	struct open_batch *b = &sh->batch;
	/* room for the comma and the closing "created" */
	if (b->open && b->raw_len + sh->rec.len + 1 + TIMEFMT_LEN + 32 > SHIP_BATCH_MAX_RAW)
		batch_close(sh);
	if (!b->open && batch_begin(sh) < 0) {
		count_lost(sh, 0, 1, 0, traffic, "cannot start a batch");
		return -1;
	}
	if ((b->n_records > 0 && batch_feed(b, ",", 1, Z_NO_FLUSH) < 0) ||
	    batch_feed(b, sh->rec.data, sh->rec.len, Z_NO_FLUSH) < 0) {
		/* the stream is broken: all of the batch is lost */
		count_lost(sh, 1, b->n_records + 1, 0, b->traffic_bytes + traffic,
			   "cannot compress a batch (out of memory)");
		batch_discard(b);
		return -1;
	}
	b->n_records++;
	b->traffic_bytes += traffic;
	if (b->n_records >= sh->cfg.batch_max_records)
		batch_close(sh);
	return 0;
}

void
ship_tick(shipper *sh)
{
	struct open_batch *b = &sh->batch;
	if (b->open && sh->cfg.batch_max_age_usec > 0 &&
	    mono_usec() - b->opened >= sh->cfg.batch_max_age_usec)
		batch_close(sh);
}

void
ship_flush(shipper *sh)
{
	if (sh->batch.open)
		batch_close(sh);
}

/* ---- the sender thread ---- */

static size_t
on_response(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sbuf *resp = arg;
	size_t n = size * nmemb;
	if (resp->len < RESPONSE_KEEP) {
		size_t keep = RESPONSE_KEEP - resp->len;
		sbuf_add(resp, data, n < keep ? n : keep);
	}
	return n; /* the rest is read and dropped */
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
	    curl_off_t ulnow)
{
	shipper *sh = arg;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&sh->abort_transfer) ? 1 : 0;
}

static int
curl_setup(shipper *sh, char *err, size_t errlen)
{
	struct sbuf auth;
	int rc = -1;

	sbuf_init(&auth, 8192);
	sh->curl = curl_easy_init();
	if (!sh->curl) {
		snprintf(err, errlen, "cannot start libcurl");
		goto out;
	}
	sbuf_addstr(&auth, "Authorization: Bearer ");
	sbuf_addstr(&auth, sh->token);
	struct curl_slist *h = NULL;
	const char *fixed[] = { "Content-Type: application/json", "Content-Encoding: gzip",
				/* no "100-continue" round trip before each batch */
				"Expect:", auth.data };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct curl_slist *n = fixed[i] ? curl_slist_append(h, fixed[i]) : NULL;
		if (!n) {
			curl_slist_free_all(h);
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		h = n;
	}
	sh->headers = h;
	CURL *c = sh->curl;
	char ua[64];
	snprintf(ua, sizeof(ua), "shadowmap-agent/%s",
		 sh->agent_version ? sh->agent_version : "dev");
	int bad = 0;
	bad |= curl_easy_setopt(c, CURLOPT_URL, sh->url_shown) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, sh->headers) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, ua) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	if (sh->ca_file)
		bad |= curl_easy_setopt(c, CURLOPT_CAINFO, sh->ca_file) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
				(long)(sh->cfg.connect_timeout_usec / 1000)) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
				(long)(sh->cfg.request_timeout_usec / 1000)) != CURLE_OK;
	/* a thread must not get curl's SIGALRM */
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, sh->curl_err) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_response) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, &sh->resp) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, sh) != CURLE_OK;
	if (bad) {
		snprintf(err, errlen, "libcurl lacks a needed feature (HTTPS?)");
		goto out;
	}
	rc = 0;
out:
	if (auth.data)
		explicit_bzero(auth.data, auth.len);
	sbuf_free(&auth);
	return rc;
}

/* Reads a spool file whole. Returns 0, or -1 with errno set. */
static int
read_batch(int dir_fd, const char *name, char **data, size_t *len)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	int saved;
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0)
		goto fail;
	if ((uint64_t)sb.st_size > COLLECTOR_MAX_BODY) {
		errno = EFBIG;
		goto fail;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf)
		goto fail;
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* shrank under us */
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	*data = buf;
	*len = got;
	return 0;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Moves a batch the collector will never take to rejected/, with its
 * reason beside it: kept for people to look at, out of the way of the
 * batches behind it. Returns the bytes the reason file added.
 */
static uint64_t
reject_batch(shipper *sh, const char *name, const char *id, const char *reason)
{
	char rname[SHIP_UUID_LEN + 16], bname[SHIP_UUID_LEN + 16], when[TIMEFMT_LEN];
	struct sbuf text;
	uint64_t added = 0;

	snprintf(rname, sizeof(rname), "%s.reason", id);
	snprintf(bname, sizeof(bname), "%s" NAME_SUFFIX, id);
	sbuf_init(&text, 4096);
	sbuf_addf(&text, "batch %s\nspool file %s\nrejected %s by %s\n%s\n", id, name,
		  time_format_rfc3339(wall_usec(), 0, when), sh->url_shown, reason);
	if (text.failed || spool_write_file(sh->rejected_fd, rname, text.data, text.len) < 0)
		log_error("spool %s: cannot write %s/%s: %s", sh->spool_dir, sh->rejected_dir,
			  rname, text.failed ? "out of memory" : strerror(errno));
	else
		added = text.len;
	if (renameat(sh->dir_fd, name, sh->rejected_fd, bname) < 0 ||
	    fsync(sh->rejected_fd) < 0 || fsync(sh->dir_fd) < 0)
		/* it stays in the spool: this run goes on without it, the next
		 * start offers it again */
		log_error("spool %s: cannot move %s to %s: %s", sh->spool_dir, name,
			  sh->rejected_dir, strerror(errno));
	sbuf_free(&text);
	return added;
}

/* The collector's reason for a status, for messages: its "error" (and
 * "where"), else the start of the body. */
static void
response_reason(const struct sbuf *resp, char *out, size_t outlen)
{
	char err[REASON_MAX + 1], where[REASON_MAX + 1];
	const char *body = resp->data ? resp->data : "";
	if (json_find_string(body, resp->len, "error", err, sizeof(err)) == 0) {
		if (json_find_string(body, resp->len, "where", where, sizeof(where)) == 0)
			snprintf(out, outlen, "%s (at %s)", err, where);
		else
			snprintf(out, outlen, "%s", err);
	} else if (resp->len) {
		sanitize(body, resp->len, out, outlen);
	} else {
		snprintf(out, outlen, "no reason given");
	}
}

/*
 * Posts one spooled batch and acts on the answer (docs/batch-format.md):
 * 200 deletes it, 400/413/415/422 move it to rejected/, anything else
 * keeps it for a retry after *delay_usec.
 */
static enum send_outcome
send_batch(shipper *sh, const struct spool_entry *e, int64_t *delay_usec,
	   uint64_t *reason_bytes)
{
	char id[SHIP_UUID_LEN + 1], reason[REASON_MAX * 2 + 64], line[1024];
	char *body = NULL;
	size_t len = 0;
	long status = 0;
	unsigned long suppressed = 0;
	enum send_outcome out = SEND_RETRY;
	int loud = 0;

	*delay_usec = 0;
	*reason_bytes = 0;
	name_to_id(e->name, id);
	if (read_batch(sh->dir_fd, e->name, &body, &len) < 0) {
		if (errno == ENOENT) {
			log_warnx("spool %s: batch %s is gone (deleted by hand?)", sh->spool_dir,
				  e->name);
			return SEND_GONE;
		}
		snprintf(line, sizeof(line), "the agent cannot read it: %s", strerror(errno));
		log_error("spool %s: batch %s: %s; moved to %s", sh->spool_dir, e->name, line,
			  sh->rejected_dir);
		*reason_bytes = reject_batch(sh, e->name, id, line);
		return SEND_REJECTED;
	}

	sbuf_reset(&sh->resp);
	sh->curl_err[0] = '\0';
	curl_easy_setopt(sh->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(sh->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	pthread_mutex_lock(&sh->mu);
	sh->st.attempts++;
	pthread_mutex_unlock(&sh->mu);
	CURLcode cr = curl_easy_perform(sh->curl);
	/* curl keeps a pointer to the body only for the transfer */
	curl_easy_setopt(sh->curl, CURLOPT_POSTFIELDS, NULL);

	int64_t delay = ship_backoff_usec(&sh->cfg, sh->attempt, rng_next(&sh->rng));
	if (cr == CURLE_OK) {
		curl_easy_getinfo(sh->curl, CURLINFO_RESPONSE_CODE, &status);
		response_reason(&sh->resp, reason, sizeof(reason));
	}
	if (cr == CURLE_ABORTED_BY_CALLBACK) {
		out = SEND_RETRY; /* stopping: the batch waits for the next start */
		snprintf(line, sizeof(line), "request aborted at shutdown");
	} else if (cr != CURLE_OK) {
		const char *what = sh->curl_err[0] ? sh->curl_err : curl_easy_strerror(cr);
		snprintf(line, sizeof(line), "%s", what);
		/* TLS trouble does not go away by waiting: say it loudly */
		if (cr == CURLE_PEER_FAILED_VERIFICATION || cr == CURLE_SSL_CACERT_BADFILE) {
			loud = 1;
			snprintf(line, sizeof(line), "%s (a private CA? give it with --ca FILE)",
				 what);
		} else if (cr == CURLE_SSL_CONNECT_ERROR) {
			loud = 1;
		}
	} else if (status == 200) {
		char st[64] = "";
		json_find_string(sh->resp.data ? sh->resp.data : "", sh->resp.len, "status", st,
				 sizeof(st));
		if (unlinkat(sh->dir_fd, e->name, 0) < 0 && errno != ENOENT)
			/* acknowledged all the same; a resend is a "duplicate" */
			log_warn("spool %s: cannot delete %s", sh->spool_dir, e->name);
		log_debug("collector %s: batch %s %s", sh->url_shown, id, st[0] ? st : "stored");
		out = SEND_DELIVERED;
	} else if (status == 400 || status == 413 || status == 415 || status == 422) {
		snprintf(line, sizeof(line), "HTTP %ld: %s", status, reason);
		log_error("collector %s: %s: batch %s rejected, moved to %s/%s" NAME_SUFFIX
			  " (its reason beside it)", sh->url_shown, line, id, sh->rejected_dir, id);
		*reason_bytes = reject_batch(sh, e->name, id, line);
		out = SEND_REJECTED;
	} else if (status == 401) {
		loud = 1;
		snprintf(line, sizeof(line), "HTTP 401: %s", reason);
	} else {
		if (status == 429 || status == 503) {
			curl_off_t after = -1;
			if (curl_easy_getinfo(sh->curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK &&
			    after > 0) {
				int64_t want = (int64_t)after * USEC_PER_SEC;
				if (want > sh->cfg.retry_max_usec)
					want = sh->cfg.retry_max_usec;
				if (want > delay)
					delay = want;
			}
		}
		/* 5xx and 429 are the collector's passing trouble; anything
		 * else (404, 403, a 3xx) is a setting to fix */
		loud = !(status == 429 || status >= 500);
		const char *hint = status == 404 ? " (is the collector URL right?)" :
				   status >= 300 && status < 400 ?
				   " (redirects are not followed: give the final URL)" : "";
		snprintf(line, sizeof(line), "HTTP %ld: %s%s", status, reason, hint);
	}
	free(body);
	if (out != SEND_RETRY)
		return out;

	*delay_usec = delay;
	if (cr == CURLE_ABORTED_BY_CALLBACK)
		return out;
	sh->failed_in_row++;
	if (log_ratelimit_pass(loud ? &sh->auth_rl : &sh->fail_rl, &suppressed)) {
		char more[64] = "";
		if (suppressed)
			snprintf(more, sizeof(more), "; %lu similar messages suppressed",
				 suppressed);
		if (status == 401)
			log_error("collector %s: %s (batch %s kept; fix the token; retrying in "
				  "%.1f s%s)", sh->url_shown, line, id, (double)delay / 1e6, more);
		else if (loud)
			log_error("collector %s: %s (batch %s kept; retrying in %.1f s%s)",
				  sh->url_shown, line, id, (double)delay / 1e6, more);
		else
			log_warnx("collector %s: %s (batch %s kept; retrying in %.1f s%s)",
				  sh->url_shown, line, id, (double)delay / 1e6, more);
	}
	return out;
}

static void *
sender_main(void *arg)
{
	shipper *sh = arg;

	for (;;) {
		struct spool_entry e;
		int64_t delay;
		uint64_t reason_bytes;

		pthread_mutex_lock(&sh->mu);
		while (!sh->stop && sh->q_head == sh->q_len) {
			pthread_cond_broadcast(&sh->idle_cv);
			pthread_cond_wait(&sh->work_cv, &sh->mu);
		}
		if (sh->stop) {
			pthread_mutex_unlock(&sh->mu);
			break;
		}
		e = sh->queue[sh->q_head];
		pthread_mutex_unlock(&sh->mu);

		enum send_outcome o = send_batch(sh, &e, &delay, &reason_bytes);

		pthread_mutex_lock(&sh->mu);
		if (o == SEND_RETRY) {
			sh->st.failures++;
			if (sh->attempt < 64)
				sh->attempt++;
			struct timespec until = mono_deadline(delay);
			while (!sh->stop &&
			       pthread_cond_timedwait(&sh->work_cv, &sh->mu, &until) != ETIMEDOUT)
				;
			pthread_mutex_unlock(&sh->mu);
			continue;
		}
		if (sh->failed_in_row)
			log_info("collector %s: delivering again after %llu failed attempts",
				 sh->url_shown, (unsigned long long)sh->failed_in_row);
		sh->failed_in_row = 0;
		sh->attempt = 0;
		sh->q_head++;
		if (o == SEND_DELIVERED) {
			sh->st.batches_delivered++;
			sh->spool_bytes -= e.size < sh->spool_bytes ? e.size : sh->spool_bytes;
		} else if (o == SEND_REJECTED) {
			sh->st.batches_rejected++;
			sh->spool_bytes += reason_bytes;
		} else {
			sh->spool_bytes -= e.size < sh->spool_bytes ? e.size : sh->spool_bytes;
		}
		pthread_cond_broadcast(&sh->idle_cv);
		pthread_mutex_unlock(&sh->mu);
	}
	return NULL;
}

/* ---- life cycle ---- */

int
ship_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
ship_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Plain HTTP is fine to this machine only (tests, a local proxy). */
static int
is_loopback_url(const char *endpoint)
{
	const char *h = strstr(endpoint, "://");
	if (!h)
		return 0;
	h += 3;
	size_t n = strcspn(h, ":/");
	return (n > 4 && strncmp(h, "127.", 4) == 0) || strncmp(h, "[::1]", 5) == 0 ||
	       (n == 9 && strncmp(h, "localhost", 9) == 0);
}

shipper *
ship_new(const struct ship_config *cfg)
{
	char err[512];
	char *endpoint = NULL;
	pthread_condattr_t ca;
	sigset_t all, old;
	struct stat sb;
	shipper *sh;

	if (ship_config_check(cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return NULL;
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh) {
		log_error("out of memory");
		return NULL;
	}
	sh->dir_fd = sh->rejected_fd = -1;
	sh->cfg = *cfg;
	pthread_mutex_init(&sh->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->work_cv, &ca);
	pthread_cond_init(&sh->idle_cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&sh->abort_transfer, 0);
	sbuf_init(&sh->rec, RECORD_MAX_JSON);
	sbuf_init(&sh->resp, RESPONSE_KEEP + 1);
	sh->lost_rl.interval = LOG_INTERVAL;
	sh->fail_rl.interval = LOG_INTERVAL;
	sh->auth_rl.interval = LOG_INTERVAL;

	if (build_endpoint(cfg->url, &endpoint, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto fail;
	}
	sh->url_shown = strdup(endpoint);
	curl_free(endpoint);
	sh->token = xstrdup(cfg->token);
	sh->ca_file = xstrdup(cfg->ca_file);
	sh->spool_dir = xstrdup(cfg->spool_dir);
	sh->agent_version = xstrdup(cfg->agent_version);
	size_t rlen = strlen(cfg->spool_dir) + sizeof("/rejected");
	sh->rejected_dir = malloc(rlen);
	if (!sh->url_shown || !sh->token || !sh->spool_dir || !sh->rejected_dir ||
	    (cfg->ca_file && !sh->ca_file) || (cfg->agent_version && !sh->agent_version)) {
		log_error("out of memory");
		goto fail;
	}
	snprintf(sh->rejected_dir, rlen, "%s/rejected", cfg->spool_dir);
	sh->cfg.url = sh->url_shown;
	sh->cfg.token = sh->token;
	sh->cfg.ca_file = sh->ca_file;
	sh->cfg.spool_dir = sh->spool_dir;
	sh->cfg.agent_version = sh->agent_version;
	if (sh->cfg.retry_min_usec > sh->cfg.retry_max_usec)
		sh->cfg.retry_min_usec = sh->cfg.retry_max_usec;
	if (fill_random(&sh->rng, sizeof(sh->rng)) < 0 || sh->rng == 0)
		sh->rng = (uint64_t)mono_usec() | 1;

	/* 0700: batches say who talks to what, not for other users' eyes */
	if (file_mkdir_p(sh->spool_dir, 0700) < 0) {
		log_error("spool %s: cannot create: %s", sh->spool_dir, strerror(errno));
		goto fail;
	}
	sh->dir_fd = open(sh->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sh->dir_fd < 0) {
		log_error("spool %s: cannot open: %s", sh->spool_dir, strerror(errno));
		goto fail;
	}
	if (fstat(sh->dir_fd, &sb) == 0 && (sb.st_mode & 0077))
		log_warnx("spool %s: readable by other users (mode %03o); the batches say "
			  "who uses what: chmod 700 it", sh->spool_dir,
			  (unsigned)(sb.st_mode & 0777));
	if (mkdirat(sh->dir_fd, "rejected", 0700) < 0 && errno != EEXIST) {
		log_error("spool %s: cannot create: %s", sh->rejected_dir, strerror(errno));
		goto fail;
	}
	sh->rejected_fd = openat(sh->dir_fd, "rejected", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sh->rejected_fd < 0) {
		log_error("spool %s: cannot open: %s", sh->rejected_dir, strerror(errno));
		goto fail;
	}
	/* Two agents on one spool would send and delete each other's batches.
	 * The lock is on the directory itself: no lock file to leave behind. */
	if (flock(sh->dir_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			log_error("spool %s: in use by another shadowmap-agent (each agent "
				  "needs a spool of its own)", sh->spool_dir);
		else
			log_error("spool %s: cannot lock: %s", sh->spool_dir, strerror(errno));
		goto fail;
	}
	if (spool_scan(sh) < 0)
		goto fail;
	if (sh->spool_bytes > sh->cfg.spool_max_bytes)
		log_warnx("spool %s: holds %llu bytes, more than spool-max-mb allows: new "
			  "batches are dropped until it shrinks", sh->spool_dir,
			  (unsigned long long)sh->spool_bytes);
	if (strncmp(sh->url_shown, "http://", 7) == 0 && !is_loopback_url(sh->url_shown))
		log_warnx("collector %s: plain HTTP: the token and the summaries travel "
			  "unencrypted; use https://", sh->url_shown);
	if (curl_setup(sh, err, sizeof(err)) < 0) {
		log_error("collector %s: %s", sh->url_shown, err);
		goto fail;
	}

	/* The sender takes no signals: they are the capture loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int prc = pthread_create(&sh->thread, NULL, sender_main, sh);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (prc != 0) {
		log_error("cannot start the sender thread: %s", strerror(prc));
		goto fail;
	}
	sh->thread_started = 1;
	return sh;
fail:
	ship_free(sh);
	return NULL;
}

uint64_t
ship_drain(shipper *sh, int64_t timeout_usec)
{
	struct timespec until = mono_deadline(timeout_usec);
	uint64_t left;

	pthread_mutex_lock(&sh->mu);
	while (sh->q_head < sh->q_len &&
	       pthread_cond_timedwait(&sh->idle_cv, &sh->mu, &until) != ETIMEDOUT)
		;
	left = sh->q_len - sh->q_head;
	pthread_mutex_unlock(&sh->mu);
	return left;
}

void
ship_get_stats(shipper *sh, struct ship_stats *st)
{
	pthread_mutex_lock(&sh->mu);
	*st = sh->st;
	st->batches_pending = sh->q_len - sh->q_head;
	st->spool_bytes = sh->spool_bytes;
	pthread_mutex_unlock(&sh->mu);
}

const char *
ship_spool_dir(const shipper *sh)
{
	return sh->spool_dir;
}

const char *
ship_url(const shipper *sh)
{
	return sh->url_shown;
}

void
ship_free(shipper *sh)
{
	if (!sh)
		return;
	if (sh->thread_started) {
		pthread_mutex_lock(&sh->mu);
		sh->stop = 1;
		pthread_cond_broadcast(&sh->work_cv);
		pthread_mutex_unlock(&sh->mu);
		atomic_store(&sh->abort_transfer, 1);
		pthread_join(sh->thread, NULL);
	}
	if (sh->batch.open && sh->batch.n_records)
		count_lost(sh, 1, sh->batch.n_records, 0, sh->batch.traffic_bytes,
			   "shipper stopped with an open batch");
	batch_discard(&sh->batch);
	if (sh->curl)
		curl_easy_cleanup(sh->curl);
	curl_slist_free_all(sh->headers);
	if (sh->rejected_fd >= 0)
		close(sh->rejected_fd);
	if (sh->dir_fd >= 0)
		close(sh->dir_fd);
	if (sh->token) {
		explicit_bzero(sh->token, strlen(sh->token));
		free(sh->token);
	}
	free(sh->url_shown);
	free(sh->ca_file);
	free(sh->spool_dir);
	free(sh->rejected_dir);
	free(sh->agent_version);
	free(sh->queue);
	sbuf_free(&sh->rec);
	sbuf_free(&sh->resp);
	pthread_cond_destroy(&sh->work_cv);
	pthread_cond_destroy(&sh->idle_cv);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}
