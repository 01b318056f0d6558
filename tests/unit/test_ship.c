/*
 * The shipper against a real HTTP server on 127.0.0.1 that this test runs
 * in a thread: it answers each request with a programmed status, inflates
 * and keeps what it received, so that every answer of docs/batch-format.md
 * (stored, rejected, unauthorised, unavailable, no server at all) is
 * checked end to end through libcurl, zlib and the spool directory.
 */
#define _GNU_SOURCE /* memmem, nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "shadowmap/log.h"
#include "shadowmap/timefmt.h"

#include "ship.h"

/* ---- the test server ---- */

#define MAX_SCRIPT 64
#define MAX_REQ 256
/* Script entries besides HTTP statuses. */
#define HANG 1000       /* read the request, never answer */
#define DUPLICATE 1200  /* 200 {"status":"duplicate"} */

struct received {
	int status;          /* what the server answered */
	char path[256];
	char auth[256];
	char encoding[64];
	char ctype[64];
	char batch_id[SHIP_UUID_LEN + 1];
	char *json;          /* the inflated body */
	size_t json_len;
};

struct test_server {
	int fd;
	uint16_t port;
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	int stop;
	int script[MAX_SCRIPT];  /* statuses, one per request, then 200 */
	size_t n_script, next;
	struct received req[MAX_REQ];
	size_t n_req;
};

static struct test_server srv;

static char *
inflate_gzip(const char *in, size_t len, size_t *out_len)
{
	z_stream z;
	size_t cap = 1 << 16, n = 0;
	char *out = malloc(cap);
	memset(&z, 0, sizeof(z));
	if (!out || inflateInit2(&z, 15 + 32) != Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	int rc;
	do {
		if (cap - n < 4096) {
			cap *= 2;
			char *p = realloc(out, cap);
			if (!p)
				break;
			out = p;
		}
		z.next_out = (Bytef *)out + n;
		z.avail_out = (uInt)(cap - n - 1);
		rc = inflate(&z, Z_NO_FLUSH);
		n = cap - 1 - z.avail_out;
	} while (rc == Z_OK);
	inflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

static void
header_value(const char *head, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	out[0] = '\0';
	for (const char *p = head; p && *p; p = strstr(p, "\r\n")) {
		if (p[0] == '\r')
			p += 2;
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			while (*v == ' ')
				v++;
			size_t l = strcspn(v, "\r\n");
			if (l >= outlen)
				l = outlen - 1;
			memcpy(out, v, l);
			out[l] = '\0';
			return;
		}
	}
}

static void
serve_one(int c)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	char *end = NULL;
	char clen[32], resp[512], body[256];
	struct received r;

	memset(&r, 0, sizeof(r));
	while (buf && !(end = memmem(buf, len, "\r\n\r\n", 4)) && len < cap - 1) {
		ssize_t n = recv(c, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			goto out;
		len += (size_t)n;
	}
	if (!end)
		goto out;
	*end = '\0';
	size_t head_len = (size_t)(end - buf) + 4;
	header_value(buf, "Content-Length", clen, sizeof(clen));
	header_value(buf, "Authorization", r.auth, sizeof(r.auth));
	header_value(buf, "Content-Encoding", r.encoding, sizeof(r.encoding));
	header_value(buf, "Content-Type", r.ctype, sizeof(r.ctype));
	sscanf(buf, "POST %255s", r.path);
	size_t want = (size_t)strtoul(clen, NULL, 10);
	if (head_len + want > cap) {
		char *p = realloc(buf, head_len + want + 1);
		if (!p)
			goto out;
		buf = p;
	}
	while (len < head_len + want) {
		ssize_t n = recv(c, buf + len, head_len + want - len, 0);
		if (n <= 0)
			goto out;
		len += (size_t)n;
	}
	r.json = inflate_gzip(buf + head_len, want, &r.json_len);
	if (r.json) {
		const char *id = strstr(r.json, "\"batch_id\":\"");
		if (id && strlen(id) > 12 + SHIP_UUID_LEN) {
			memcpy(r.batch_id, id + 12, SHIP_UUID_LEN);
			r.batch_id[SHIP_UUID_LEN] = '\0';
		}
	}

	pthread_mutex_lock(&srv.mu);
	int code = srv.next < srv.n_script ? srv.script[srv.next] : 200;
	srv.next++;
	r.status = code;
	if (srv.n_req < MAX_REQ)
		srv.req[srv.n_req++] = r;
	else
		free(r.json);
	pthread_mutex_unlock(&srv.mu);

	if (code == HANG) {
		/* a collector that never answers: until the server stops */
		for (;;) {
			pthread_mutex_lock(&srv.mu);
			int stop = srv.stop;
			pthread_mutex_unlock(&srv.mu);
			if (stop)
				goto out;
			usleep(10000);
		}
	}
	switch (code) {
	case 200:
		snprintf(body, sizeof(body), "{\"status\":\"stored\",\"batch_id\":\"%s\"}",
			 r.batch_id);
		break;
	case DUPLICATE:
		snprintf(body, sizeof(body), "{\"status\":\"duplicate\",\"batch_id\":\"%s\"}",
			 r.batch_id);
		code = 200;
		break;
	case 401:
		snprintf(body, sizeof(body), "{\"error\":\"missing or unknown token\"}");
		break;
	case 400: case 413: case 415: case 422:
		/* a control character too: it must not reach the log raw */
		snprintf(body, sizeof(body), "{\"error\":\"bad record\\u0007 %d\","
			 "\"where\":\"records[0].bytes_up\"}", r.status);
		break;
	default:
		snprintf(body, sizeof(body), "{\"error\":\"try later\"}");
	}
	int n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Type: application/json"
			 "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", code,
			 strlen(body), body);
	(void)code;
	send(c, resp, (size_t)n, MSG_NOSIGNAL);
out:
	free(buf);
}

static void *
server_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&srv.mu);
		int stop = srv.stop;
		pthread_mutex_unlock(&srv.mu);
		if (stop)
			break;
		struct pollfd p = { srv.fd, POLLIN, 0 };
		if (poll(&p, 1, 20) <= 0)
			continue;
		int c = accept(srv.fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(c);
		close(c);
	}
	return NULL;
}

/* Starts the server on port (0: any free one); the script is reset. */
static void
server_start(uint16_t port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int one = 1;

	for (size_t i = 0; i < srv.n_req; i++)
		free(srv.req[i].json);
	srv.n_req = srv.n_script = srv.next = 0;
	srv.stop = 0;
	srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(srv.fd >= 0);
	setsockopt(srv.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	assert_int_equal(bind(srv.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv.fd, 16), 0);
	assert_int_equal(getsockname(srv.fd, (struct sockaddr *)&a, &alen), 0);
	srv.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&srv.thread, NULL, server_main, NULL), 0);
	srv.running = 1;
}

/* Stops it: the port then refuses connections, as a collector that is down. */
static void
server_stop(void)
{
	if (!srv.running)
		return;
	pthread_mutex_lock(&srv.mu);
	srv.stop = 1;
	pthread_mutex_unlock(&srv.mu);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	srv.running = 0;
}

static void
server_script(const int *statuses, size_t n)
{
	pthread_mutex_lock(&srv.mu);
	memcpy(srv.script, statuses, n * sizeof(*statuses));
	srv.n_script = n;
	srv.next = 0;
	pthread_mutex_unlock(&srv.mu);
}

static size_t
server_n_req(void)
{
	pthread_mutex_lock(&srv.mu);
	size_t n = srv.n_req;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

/* ---- helpers ---- */

static char spool[256];
static char url[128];

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static void
fresh_spool(void)
{
	if (spool[0])
		nftw(spool, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(spool, sizeof(spool), "/tmp/test_ship.XXXXXX");
	assert_non_null(mkdtemp(spool));
}

static int
setup(void **state)
{
	(void)state;
	fresh_spool();
	server_start(0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", srv.port);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	server_stop();
	for (size_t i = 0; i < srv.n_req; i++)
		free(srv.req[i].json);
	srv.n_req = 0;
	nftw(spool, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	spool[0] = '\0';
	return 0;
}

static void
config(struct ship_config *c)
{
	ship_config_defaults(c);
	c->url = url;
	c->token = "tok-123";
	c->spool_dir = spool;
	c->agent_version = "test";
	c->batch_max_records = 3;
	c->batch_max_age_usec = 0;
	/* fast retries: the policy, not the waiting, is under test */
	c->retry_min_usec = 5000;
	c->retry_max_usec = 40000;
	c->connect_timeout_usec = 2 * USEC_PER_SEC;
	c->request_timeout_usec = 5 * USEC_PER_SEC;
}

static void
record(struct usage_record *r, const char *host, int i)
{
	memset(r, 0, sizeof(*r));
	r->bucket_start = INT64_C(1772442300) * USEC_PER_SEC;
	r->bucket_seconds = 300;
	r->has_client = 1;
	assert_int_equal(addr_parse("10.20.0.5", &r->client), 0);
	r->host = host;
	r->domain = "example.com";
	r->ndpi_proto = "TLS";
	r->flows = 1;
	r->packets = 10;
	r->bytes_up = 100;
	r->bytes_down = 200 + (uint64_t)i;
	r->first_seen = r->bucket_start + 1000;
	r->last_seen = r->bucket_start + 2000;
}

static void
add_hosts(shipper *sh, int from, int to)
{
	char host[64];
	struct usage_record r;
	for (int i = from; i < to; i++) {
		snprintf(host, sizeof(host), "host-%d.example.com", i);
		record(&r, host, i);
		assert_int_equal(ship_add_record(sh, &r), 0);
	}
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Batch files in dir (sorted, oldest first) whose names end with suffix. */
static size_t
list_files(const char *dir, const char *suffix, char names[][128], size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, sl = strlen(suffix);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < sl || strcmp(de->d_name + l - sl, suffix) != 0)
			continue;
		if (n < max)
			snprintf(names[n], 128, "%.127s", de->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n < max ? n : max, 128, cmp_name);
	return n;
}

static char *
read_gz_file(const char *dir, const char *name, size_t *len)
{
	char path[512];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	char *raw = malloc((size_t)sb.st_size);
	assert_int_equal(read(fd, raw, (size_t)sb.st_size), sb.st_size);
	close(fd);
	char *json = inflate_gzip(raw, (size_t)sb.st_size, len);
	free(raw);
	assert_non_null(json);
	return json;
}

static size_t
count_str(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static int
valid_uuid4(const char *s)
{
	if (strlen(s) != SHIP_UUID_LEN)
		return 0;
	for (int i = 0; i < SHIP_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!strchr("0123456789abcdef", s[i])) {
			return 0;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* ---- cases ---- */

static int
cmp_uuid(const void *a, const void *b)
{
	return memcmp(a, b, SHIP_UUID_LEN + 1);
}

static void
test_uuid(void **state)
{
	(void)state;
	enum { N = 4000 };
	char (*ids)[SHIP_UUID_LEN + 1] = calloc(N, SHIP_UUID_LEN + 1);
	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		assert_int_equal(ship_uuid_v4(ids[i]), 0);
		assert_true(valid_uuid4(ids[i]));
	}
	qsort(ids, N, SHIP_UUID_LEN + 1, cmp_uuid);
	for (int i = 1; i < N; i++)
		assert_int_not_equal(memcmp(ids[i - 1], ids[i], SHIP_UUID_LEN), 0);
	free(ids);
}

static void
test_config_check(void **state)
{
	(void)state;
	struct ship_config c;
	char err[512];

	config(&c);
	assert_int_equal(ship_config_check(&c, err, sizeof(err)), 0);
	const char *bad_urls[] = { "ftp://x/", "collector.example", "https://u:p@x/", "" };
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		config(&c);
		c.url = bad_urls[i];
		assert_int_equal(ship_config_check(&c, err, sizeof(err)), -1);
	}
	config(&c);
	c.token = "two words";
	assert_int_equal(ship_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "token"));
	c.token = "line\r\nX-Evil: 1";
	assert_int_equal(ship_config_check(&c, err, sizeof(err)), -1);
	config(&c);
	c.spool_dir = NULL;
	assert_int_equal(ship_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--spool"));
	config(&c);
	c.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(ship_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	config(&c);
	c.batch_max_records = SHIP_BATCH_MAX_RECORDS + 1;
	assert_int_equal(ship_config_check(&c, err, sizeof(err)), -1);

	/* the ingest path is added to a base URL, kept when given */
	config(&c);
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	char want[256];
	snprintf(want, sizeof(want), "%s/api/v1/batches", url);
	assert_string_equal(ship_url(sh), want);
	ship_free(sh);
	c.url = want;
	sh = ship_new(&c);
	assert_non_null(sh);
	assert_string_equal(ship_url(sh), want);
	ship_free(sh);
}

static void
test_token_file(void **state)
{
	(void)state;
	char path[512], err[512];
	snprintf(path, sizeof(path), "%s/token", spool);
	FILE *f = fopen(path, "w");
	fputs("  s3cr3t-token\n", f);
	fclose(f);
	chmod(path, 0600);
	char *t = ship_read_token_file(path, err, sizeof(err));
	assert_non_null(t);
	assert_string_equal(t, "s3cr3t-token");
	free(t);
	f = fopen(path, "w");
	fputs("one\ntwo\n", f);
	fclose(f);
	assert_null(ship_read_token_file(path, err, sizeof(err)));
	f = fopen(path, "w");
	fclose(f);
	assert_null(ship_read_token_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, "empty"));
	assert_null(ship_read_token_file("/nonexistent/token", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/token: cannot read"));
}

/* Collector down: every batch is in the spool, complete, named by its id. */
static void
test_spooled_before_sending(void **state)
{
	(void)state;
	struct ship_config c;
	char names[8][128];
	struct ship_stats st;

	server_stop();
	config(&c);
	c.batch_max_records = 2;
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 5);
	ship_flush(sh);
	/* two full batches went at once, the third on flush */
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 3);
	size_t total = 0;
	for (int i = 0; i < 3; i++) {
		size_t len;
		char *json = read_gz_file(spool, names[i], &len);
		char id[SHIP_UUID_LEN + 1];
		memcpy(id, names[i] + 17, SHIP_UUID_LEN);
		id[SHIP_UUID_LEN] = '\0';
		assert_true(valid_uuid4(id));
		assert_non_null(strstr(json, "{\"schema\":\"shadowmap.batch/1\",\"batch_id\":\""));
		assert_non_null(strstr(json, id));
		assert_non_null(strstr(json, "\"agent_version\":\"test\""));
		assert_non_null(strstr(json, "\"created\":\""));
		assert_int_equal(json[len - 1], '}');
		/* oldest first: batch i holds hosts 2i and 2i+1 */
		char h[64];
		snprintf(h, sizeof(h), "host-%d.example.com", 2 * i);
		assert_non_null(strstr(json, h));
		total += count_str(json, "\"schema\":\"shadowmap.usage/1\"");
		free(json);
	}
	assert_int_equal(total, 5);
	assert_int_equal(ship_drain(sh, 100000), 3);
	ship_get_stats(sh, &st);
	assert_int_equal(st.batches_spooled, 3);
	assert_int_equal(st.records_spooled, 5);
	assert_int_equal(st.batches_delivered, 0);
	assert_int_equal(st.batches_pending, 3);
	assert_true(st.attempts >= 1);
	assert_true(st.spool_bytes > 0);
	ship_free(sh);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 3);
}

static void
test_delivery(void **state)
{
	(void)state;
	struct ship_config c;
	char names[8][128];
	struct ship_stats st;

	config(&c);
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 7);
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	ship_get_stats(sh, &st);
	assert_int_equal(st.batches_delivered, 3);
	assert_int_equal(st.batches_pending, 0);
	assert_int_equal(st.records_lost, 0);
	ship_free(sh);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 0);

	assert_int_equal(server_n_req(), 3);
	size_t total = 0;
	for (int i = 0; i < 3; i++) {
		struct received *r = &srv.req[i];
		assert_string_equal(r->path, "/api/v1/batches");
		assert_string_equal(r->auth, "Bearer tok-123");
		assert_string_equal(r->encoding, "gzip");
		assert_string_equal(r->ctype, "application/json");
		assert_non_null(r->json);
		assert_true(valid_uuid4(r->batch_id));
		char h[64];
		snprintf(h, sizeof(h), "\"host\":\"host-%d.example.com\"", 3 * i);
		assert_non_null(strstr(r->json, h));
		total += count_str(r->json, "\"schema\":\"shadowmap.usage/1\"");
	}
	assert_int_equal(total, 7);
	assert_string_not_equal(srv.req[0].batch_id, srv.req[1].batch_id);
}

/* Each invalid-batch status moves that batch aside; the next still goes. */
static void
test_rejected(void **state)
{
	(void)state;
	struct ship_config c;
	char names[16][128];
	struct ship_stats st;
	const int script[] = { 400, 413, 415, 422, 200 };

	server_script(script, 5);
	config(&c);
	c.batch_max_records = 1;
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 5);
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	ship_get_stats(sh, &st);
	assert_int_equal(st.batches_rejected, 4);
	assert_int_equal(st.batches_delivered, 1);
	assert_int_equal(st.failures, 0);
	ship_free(sh);

	assert_int_equal(server_n_req(), 5);
	assert_int_equal(list_files(spool, ".json.gz", names, 16), 0);
	char rej[512];
	snprintf(rej, sizeof(rej), "%s/rejected", spool);
	assert_int_equal(list_files(rej, ".json.gz", names, 16), 4);
	assert_int_equal(list_files(rej, ".reason", names, 16), 4);
	for (int i = 0; i < 4; i++) {
		char want[128];
		size_t len;
		snprintf(want, sizeof(want), "%s.json.gz", srv.req[i].batch_id);
		struct stat sb;
		char path[700];
		snprintf(path, sizeof(path), "%s/%s", rej, want);
		assert_int_equal(stat(path, &sb), 0);
		/* the rejected batch is the very request body, still readable */
		char *json = read_gz_file(rej, want, &len);
		assert_non_null(strstr(json, srv.req[i].batch_id));
		free(json);

		snprintf(path, sizeof(path), "%s/%s.reason", rej, srv.req[i].batch_id);
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		char text[2048];
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		text[n] = '\0';
		fclose(f);
		char code[32];
		snprintf(code, sizeof(code), "HTTP %d: bad record? %d", script[i], script[i]);
		assert_non_null(strstr(text, code));
		assert_non_null(strstr(text, "records[0].bytes_up"));
		assert_null(strchr(text, '\a'));
	}
	assert_string_not_equal(srv.req[4].batch_id, srv.req[3].batch_id);
}

/* 401: kept and retried with the same id until the token is accepted. */
static void
test_unauthorized_then_ok(void **state)
{
	(void)state;
	struct ship_config c;
	char names[8][128];
	struct ship_stats st;
	const int script[] = { 401, 401, 401, 200 };

	server_script(script, 4);
	config(&c);
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 2);
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	ship_get_stats(sh, &st);
	assert_int_equal(st.batches_delivered, 1);
	assert_int_equal(st.batches_rejected, 0);
	assert_int_equal(st.failures, 3);
	assert_int_equal(st.attempts, 4);
	ship_free(sh);
	assert_int_equal(server_n_req(), 4);
	for (int i = 1; i < 4; i++)
		assert_string_equal(srv.req[i].batch_id, srv.req[0].batch_id);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 0);
}

/* A duplicate is an acknowledgement; other statuses (a wrong path, a
 * proxy's redirect or refusal) are settings to fix: kept and retried. */
static void
test_other_statuses(void **state)
{
	(void)state;
	struct ship_config c;
	char names[8][128];
	struct ship_stats st;
	const int script[] = { 404, 403, 302, DUPLICATE };

	server_script(script, 4);
	config(&c);
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 1);
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	ship_get_stats(sh, &st);
	assert_int_equal(st.failures, 3);
	assert_int_equal(st.batches_delivered, 1);
	assert_int_equal(st.batches_rejected, 0);
	ship_free(sh);
	assert_int_equal(server_n_req(), 4);
	assert_string_equal(srv.req[3].batch_id, srv.req[0].batch_id);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 0);
}

/* Stopping while the collector hangs: the request is aborted at once and
 * the batch stays for the next start (SIGTERM in live mode). */
static void
test_stop_while_hanging(void **state)
{
	(void)state;
	struct ship_config c;
	char names[8][128];
	struct timespec t0, t1;
	const int script[] = { HANG };

	server_script(script, 1);
	config(&c);
	c.request_timeout_usec = 60 * USEC_PER_SEC;
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 1);
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 200000), 1);
	assert_int_equal(server_n_req(), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ship_free(sh);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(took < 1.5);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 1);
}

static void
test_backoff(void **state)
{
	(void)state;
	struct ship_config c;
	struct ship_stats st;

	ship_config_defaults(&c);
	c.retry_min_usec = 100000;
	c.retry_max_usec = 1000000;
	assert_int_equal(ship_backoff_ceiling(&c, 0), 100000);
	assert_int_equal(ship_backoff_ceiling(&c, 1), 200000);
	assert_int_equal(ship_backoff_ceiling(&c, 2), 400000);
	assert_int_equal(ship_backoff_ceiling(&c, 3), 800000);
	assert_int_equal(ship_backoff_ceiling(&c, 4), 1000000);
	assert_int_equal(ship_backoff_ceiling(&c, 1000), 1000000);
	/* the default cap is 30 s */
	ship_config_defaults(&c);
	assert_int_equal(ship_backoff_ceiling(&c, 63), 30 * USEC_PER_SEC);
	/* full jitter: anywhere in [0, ceiling] */
	c.retry_min_usec = 100000;
	c.retry_max_usec = 1000000;
	assert_int_equal(ship_backoff_usec(&c, 2, 0), 0);
	assert_int_equal(ship_backoff_usec(&c, 2, 400000), 400000);
	assert_int_equal(ship_backoff_usec(&c, 2, 400001), 0);
	int64_t lo = INT64_MAX, hi = 0;
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 10000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t d = ship_backoff_usec(&c, 9, x);
		assert_true(d >= 0 && d <= 1000000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo < 100000 && hi > 900000);

	/* for real: a collector unavailable 6 times over, tiny cap */
	const int script[] = { 503, 500, 502, 429, 503, 500, 200 };
	server_script(script, 7);
	config(&c);
	c.retry_min_usec = 1000;
	c.retry_max_usec = 20000;
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 1);
	ship_flush(sh);
	int64_t t0 = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t took = (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000 - t0;
	ship_get_stats(sh, &st);
	assert_int_equal(st.failures, 6);
	assert_int_equal(st.batches_delivered, 1);
	/* six waits of at most 20 ms each, plus the requests */
	assert_true(took < 2 * USEC_PER_SEC);
	ship_free(sh);
}

/* A new shipper sends what an earlier one left, first and in order. */
static void
test_restart(void **state)
{
	(void)state;
	struct ship_config c;
	char names[8][128], path[700];
	struct ship_stats st;
	uint16_t port = srv.port;

	server_stop();
	config(&c);
	c.batch_max_records = 2;
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 4);
	/* a second agent may not use the same spool */
	assert_null(ship_new(&c));
	ship_free(sh);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 2);
	char old0[SHIP_UUID_LEN + 1], old1[SHIP_UUID_LEN + 1];
	memcpy(old0, names[0] + 17, SHIP_UUID_LEN);
	memcpy(old1, names[1] + 17, SHIP_UUID_LEN);
	old0[SHIP_UUID_LEN] = old1[SHIP_UUID_LEN] = '\0';
	/* what a crash in the middle of a write leaves: removed at start */
	snprintf(path, sizeof(path), "%s/.%s.tmp", spool, names[0]);
	FILE *f = fopen(path, "w");
	fputs("half a batch", f);
	fclose(f);

	server_start(port);
	sh = ship_new(&c);
	assert_non_null(sh);
	ship_get_stats(sh, &st);
	assert_int_equal(st.batches_found, 2);
	add_hosts(sh, 4, 5);
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	ship_free(sh);
	assert_int_equal(server_n_req(), 3);
	assert_string_equal(srv.req[0].batch_id, old0);
	assert_string_equal(srv.req[1].batch_id, old1);
	assert_non_null(strstr(srv.req[2].json, "host-4.example.com"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 0);
}

/* Spool full: what is on disk stays, new batches are dropped and counted;
 * once the collector is back there is room again. */
static void
test_spool_full(void **state)
{
	(void)state;
	struct ship_config c;
	char names[64][128];
	struct ship_stats st;
	uint16_t port = srv.port;

	server_stop();
	config(&c);
	c.batch_max_records = 1;
	c.spool_max_bytes = 1500;
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 20);
	ship_get_stats(sh, &st);
	assert_true(st.batches_spooled >= 2);
	assert_true(st.batches_lost >= 10);
	assert_int_equal(st.batches_spooled + st.batches_lost, 20);
	assert_int_equal(st.records_spooled + st.records_lost, 20);
	assert_true(st.bytes_lost > 0);
	assert_true(st.spool_bytes <= 1500);
	/* the lost ones are the newest: hosts from batches_spooled on */
	uint64_t traffic = 0;
	for (uint64_t i = st.batches_spooled; i < 20; i++)
		traffic += 100 + 200 + i;
	assert_int_equal(st.traffic_bytes_lost, traffic);
	size_t n = list_files(spool, ".json.gz", names, 64);
	assert_int_equal(n, st.batches_spooled);
	size_t len;
	char *json = read_gz_file(spool, names[0], &len);
	assert_non_null(strstr(json, "host-0.example.com"));
	free(json);

	/* the collector comes back: the spool drains, new batches fit again */
	server_start(port);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	uint64_t lost_before = st.batches_lost;
	add_hosts(sh, 20, 21);
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	ship_get_stats(sh, &st);
	assert_int_equal(st.batches_lost, lost_before);
	assert_int_equal(st.batches_delivered, n + 1);
	ship_free(sh);
}

/* Big names: a 100 KB host name goes through; a record too large for a
 * batch is counted lost, never a crash; big batches close by size. */
static void
test_big_records(void **state)
{
	(void)state;
	struct ship_config c;
	struct ship_stats st;
	struct usage_record r;
	size_t big = 100 * 1024;
	char *host = malloc(2 * 1024 * 1024 + 1);
	assert_non_null(host);

	config(&c);
	c.batch_max_records = 500;
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	memset(host, 'a', big);
	memcpy(host + big - 12, ".example.com", 12);
	host[big] = '\0';
	record(&r, host, 0);
	assert_int_equal(ship_add_record(sh, &r), 0);
	/* control characters and bad UTF-8 in a name are escaped, not sent raw */
	record(&r, "evil\"\n\xff.example.com", 1);
	assert_int_equal(ship_add_record(sh, &r), 0);
	/* over a record's 1 MiB */
	memset(host, 'b', 2 * 1024 * 1024);
	host[2 * 1024 * 1024] = '\0';
	record(&r, host, 2);
	assert_int_equal(ship_add_record(sh, &r), -1);
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	ship_get_stats(sh, &st);
	assert_int_equal(st.records_lost, 1);
	assert_int_equal(st.traffic_bytes_lost, 302);
	assert_int_equal(st.batches_delivered, 1);
	assert_int_equal(server_n_req(), 1);
	assert_true(srv.req[0].json_len > big);
	assert_non_null(strstr(srv.req[0].json, "\"host\":\"aaaa"));
	assert_non_null(strstr(srv.req[0].json, "\"evil\\\"\\u000a\\ufffd.example.com\""));

	/* 100 records of 100 KB: more than a batch's 8 MiB, two batches */
	memset(host, 'c', big);
	host[big] = '\0';
	for (int i = 0; i < 100; i++) {
		record(&r, host, i);
		assert_int_equal(ship_add_record(sh, &r), 0);
	}
	ship_flush(sh);
	assert_int_equal(ship_drain(sh, 5 * USEC_PER_SEC), 0);
	assert_int_equal(server_n_req(), 3);
	size_t total = 0;
	for (int i = 1; i < 3; i++) {
		assert_true(srv.req[i].json_len <= SHIP_BATCH_MAX_RAW);
		total += count_str(srv.req[i].json, "\"schema\":\"shadowmap.usage/1\"");
	}
	assert_int_equal(total, 100);
	ship_free(sh);
	free(host);
}

/* Live mode: a batch closes batch-max-age after its first record. */
static void
test_batch_age(void **state)
{
	(void)state;
	struct ship_config c;
	char names[8][128];

	server_stop();
	config(&c);
	c.batch_max_records = 100;
	c.batch_max_age_usec = 50000;
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	add_hosts(sh, 0, 2);
	ship_tick(sh);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 0);
	usleep(80000);
	ship_tick(sh);
	assert_int_equal(list_files(spool, ".json.gz", names, 8), 1);
	ship_free(sh);
}

static void
test_spool_errors(void **state)
{
	(void)state;
	struct ship_config c;
	char path[512];

	/* a file where the spool's parent should be */
	snprintf(path, sizeof(path), "%s/file", spool);
	FILE *f = fopen(path, "w");
	fclose(f);
	snprintf(path, sizeof(path), "%s/file/spool", spool);
	config(&c);
	c.spool_dir = path;
	assert_null(ship_new(&c));
	/* missing parents are created */
	snprintf(path, sizeof(path), "%s/a/b/spool", spool);
	shipper *sh = ship_new(&c);
	assert_non_null(sh);
	ship_free(sh);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid),
		cmocka_unit_test_setup_teardown(test_config_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spooled_before_sending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unauthorized_then_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_hanging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_errors, setup, teardown),
	};
	/* the test server is on 127.0.0.1: no proxy in between */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	log_init("test_ship", LOG_LEVEL_WARN);
	pthread_mutex_init(&srv.mu, NULL);
	if (ship_global_init() < 0)
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	ship_global_cleanup();
	return rc;
}
