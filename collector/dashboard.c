/*
 * The dashboard (dashboard.h). A person logs in with a reader token, once:
 * the token is checked as the API checks a bearer token, and the browser
 * gets a session cookie (a random 256-bit id, HttpOnly, SameSite=Strict,
 * Secure over TLS). Sessions live in memory only, at most
 * DASHBOARD_SESSIONS_MAX of them, each for DASHBOARD_SESSION_SECONDS; the
 * table keeps the SHA-256 of each id, never the id itself. Each page checks
 * again that the session's token is live, so revoking a token ends its
 * sessions at their next page.
 *
 * A page is the report of its range (report_build) rendered by
 * reports/html.c, built on a pooled store handle while the handle holds
 * the signatures and catalog the report names things with.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shadowmap/log.h"
#include "shadowmap/sbuf.h"
#include "shadowmap/timefmt.h"

#include "api.h"
#include "dashboard.h"
#include "html.h"
#include "report.h"
#include "store.h"
#include "token.h"

#define COOKIE_NAME "shadowmap_session"
#define RANDOM_BYTES 32	     /* of a session id and of a form token */
#define RANDOM_TEXT_LEN 43   /* their base64url text, no padding */
#define FORM_MAX 4096	     /* a log-in or log-out form's body */
#define RANGE_DAYS_DEFAULT 30
#define RANGE_DAYS_MAX 731   /* a page's range: two years at most */
#define USEC_PER_DAY (86400 * USEC_PER_SEC)
#define DAY_LEN 10	     /* YYYY-MM-DD */

/* What the browser may do with a page: nothing from elsewhere, no frames,
 * forms only back here, and of scripts only the pages' own one (by its
 * hash: a name that slipped through escaping still could not run). */
#define CSP_FORMAT                                                                      \
	"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-%s'; "       \
	"img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
#define SHA256_B64_LEN 44

struct session {
	int used;
	char id_hash[TOKEN_HASH_HEX_LEN + 1];	 /* of the cookie's value */
	char token_hash[TOKEN_HASH_HEX_LEN + 1]; /* the reader token it was opened with */
	char name[72];				 /* that token's name */
	char csrf[RANDOM_TEXT_LEN + 1];		 /* the log-out form's token */
	int64_t expires;			 /* monotonic seconds */
};

struct dashboard {
	struct api *api;
	char csp[sizeof(CSP_FORMAT) + SHA256_B64_LEN];
	pthread_mutex_t lock;
	struct session sessions[DASHBOARD_SESSIONS_MAX]; /* under lock */
	struct log_ratelimit refused_log;		 /* under lock */
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int64_t
now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* The standard base64 of the SHA-256 of s, as CSP hashes are written,
 * into out (SHA256_B64_LEN + 1 bytes). 0 or -1. */
static int
sha256_base64(const char *s, char *out)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char hex[TOKEN_HASH_HEX_LEN + 1];
	unsigned char raw[33];
	size_t j = 0;

	if (token_sha256_hex(s, strlen(s), hex, sizeof(hex)) < 0)
		return -1;
	for (size_t i = 0; i < 32; i++)
		raw[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
	raw[32] = 0;
	for (size_t i = 0; i < 32; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
			     (i + 2 < 32 ? raw[i + 2] : 0);
		out[j++] = b64[(v >> 18) & 63];
		out[j++] = b64[(v >> 12) & 63];
		out[j++] = i + 1 < 32 ? b64[(v >> 6) & 63] : '=';
		out[j++] = i + 2 < 32 ? b64[v & 63] : '=';
	}
	out[j] = '\0';
	return 0;
}

struct dashboard *
dashboard_new(struct api *a)
{
	struct dashboard *d = calloc(1, sizeof(*d));
	char hash[SHA256_B64_LEN + 1];

	if (!d)
		return NULL;
	if (sha256_base64(html_page_script(), hash) < 0) {
		free(d);
		return NULL;
	}
	snprintf(d->csp, sizeof(d->csp), CSP_FORMAT, hash);
	d->api = a;
	d->refused_log.interval = 10;
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

void
dashboard_free(struct dashboard *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	/* the ids' hashes only, but wiped all the same */
	explicit_bzero(d->sessions, sizeof(d->sessions));
	free(d);
}

int
dashboard_owns(const char *path)
{
	size_t n = strlen(DASHBOARD_BASE);
	return strncmp(path, DASHBOARD_BASE, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* ---- small helpers ---- */

/* RANDOM_BYTES from the kernel as base64url text (RANDOM_TEXT_LEN + 1
 * bytes with the NUL). 0 or -1. */
static int
random_text(char *out)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[RANDOM_BYTES + 1]; /* a zero byte pads the last group */
	size_t j = 0;

	if (getrandom(raw, RANDOM_BYTES, 0) != RANDOM_BYTES)
		return -1;
	raw[RANDOM_BYTES] = 0;
	for (size_t i = 0; i < RANDOM_BYTES; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
			     (i + 2 < RANDOM_BYTES ? raw[i + 2] : 0);
		out[j++] = b64[(v >> 18) & 63];
		out[j++] = b64[(v >> 12) & 63];
		if (i + 1 < RANDOM_BYTES)
			out[j++] = b64[(v >> 6) & 63];
		if (i + 2 < RANDOM_BYTES)
			out[j++] = b64[v & 63];
	}
	out[j] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return j == RANDOM_TEXT_LEN ? 0 : -1;
}

/* Equal strings, in a time that does not tell where they differ. */
static int
same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/*
 * The value of field name in an application/x-www-form-urlencoded body
 * (len bytes), decoded into out (outlen bytes with the NUL). 1 found, 0
 * absent, -1 too long or badly encoded.
 */
static int
form_field(const char *body, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name), i = 0;

	while (i < len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		if (end - i > nlen && memcmp(body + i, name, nlen) == 0 && body[i + nlen] == '=') {
			size_t o = 0;
			for (size_t k = i + nlen + 1; k < end; k++) {
				char c = body[k];
				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					int hi = k + 2 < end ? hexval(body[k + 1]) : -1;
					int lo = k + 2 < end ? hexval(body[k + 2]) : -1;
					if (hi < 0 || lo < 0)
						return -1;
					c = (char)(hi << 4 | lo);
					k += 2;
				}
				if (c == '\0' || o + 1 >= outlen)
					return -1;
				out[o++] = c;
			}
			out[o] = '\0';
			return 1;
		}
		i = end + 1;
	}
	return 0;
}

/* The value of a cookie that has a session's shape, into out
 * (RANDOM_TEXT_LEN + 1 bytes); the n-th such (from 0) when a browser
 * sends several. 1 found, 0 none. */
static int
cookie_value(const char *header, unsigned nth, char *out)
{
	const char *p = header;
	size_t nlen = strlen(COOKIE_NAME);

	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		size_t n = strcspn(p, ";");
		if (n == nlen + 1 + RANDOM_TEXT_LEN && strncmp(p, COOKIE_NAME "=", nlen + 1) == 0) {
			if (nth-- == 0) {
				memcpy(out, p + nlen + 1, RANDOM_TEXT_LEN);
				out[RANDOM_TEXT_LEN] = '\0';
				return 1;
			}
		}
		p += n;
	}
	return 0;
}

/* ---- sessions ---- */

/*
 * Opens a session for the token (hash, name): its cookie value into
 * cookie (RANDOM_TEXT_LEN + 1). When the table is full, the session
 * closest to its end makes room. 0, or -1 (no randomness).
 */
static int
session_open(struct dashboard *d, const char *token_hash, const char *name, char *cookie,
	     int *evicted)
{
	struct session s;
	int64_t now = now_mono();
	size_t slot = 0;

	memset(&s, 0, sizeof(s));
	if (random_text(cookie) < 0 || random_text(s.csrf) < 0 ||
	    token_sha256_hex(cookie, RANDOM_TEXT_LEN, s.id_hash, sizeof(s.id_hash)) < 0)
		return -1;
	s.used = 1;
	snprintf(s.token_hash, sizeof(s.token_hash), "%s", token_hash);
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.expires = now + DASHBOARD_SESSION_SECONDS;
	*evicted = 0;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < DASHBOARD_SESSIONS_MAX; i++) {
		struct session *t = &d->sessions[i];
		if (!t->used || t->expires <= now) {
			slot = i;
			break;
		}
		if (t->expires < d->sessions[slot].expires)
			slot = i;
		if (i == DASHBOARD_SESSIONS_MAX - 1)
			*evicted = 1;
	}
	d->sessions[slot] = s;
	pthread_mutex_unlock(&d->lock);
	explicit_bzero(&s, sizeof(s));
	return 0;
}

/* The live session of the request's cookie, copied into *out. 1 found,
 * 0 none (no cookie, an unknown one, or expired: then it is gone). */
static int
session_find(struct dashboard *d, const struct http_request *req, struct session *out)
{
	const char *header = http_request_header(req, "Cookie");
	char value[RANDOM_TEXT_LEN + 1], hash[TOKEN_HASH_HEX_LEN + 1];
	int64_t now = now_mono();
	int found = 0;

	for (unsigned nth = 0; !found && header && cookie_value(header, nth, value); nth++) {
		if (token_sha256_hex(value, RANDOM_TEXT_LEN, hash, sizeof(hash)) < 0)
			break;
		pthread_mutex_lock(&d->lock);
		for (size_t i = 0; i < DASHBOARD_SESSIONS_MAX; i++) {
			struct session *s = &d->sessions[i];
			if (!s->used || strcmp(s->id_hash, hash) != 0)
				continue;
			if (s->expires <= now) {
				memset(s, 0, sizeof(*s));
				break;
			}
			*out = *s;
			found = 1;
			break;
		}
		pthread_mutex_unlock(&d->lock);
	}
	explicit_bzero(value, sizeof(value));
	return found;
}

static void
session_close(struct dashboard *d, const char *id_hash)
{
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < DASHBOARD_SESSIONS_MAX; i++)
		if (d->sessions[i].used && strcmp(d->sessions[i].id_hash, id_hash) == 0)
			memset(&d->sessions[i], 0, sizeof(d->sessions[i]));
	pthread_mutex_unlock(&d->lock);
}

/* ---- responses ---- */

/* Hands a built page over as the answer (500 when it could not be built). */
static void
respond_page(struct http_response *resp, int status, struct sbuf *page)
{
	resp->content_type = "text/html; charset=utf-8";
	if (page->failed || !page->data) {
		sbuf_free(page);
		resp->status = 500;
		resp->content_type = "text/plain; charset=utf-8";
		resp->body = strdup("the page could not be built (out of memory)\n");
		resp->body_len = resp->body ? strlen(resp->body) : 0;
		return;
	}
	resp->status = status;
	resp->body_len = page->len;
	resp->body = sbuf_steal(page);
}

static void
respond_message(struct http_response *resp, int status, const struct report_page_ctx *ctx,
		const char *title, const char *message)
{
	struct sbuf page;

	sbuf_init(&page, HTML_PAGE_MAX);
	html_write_message(&page, ctx, title, message);
	respond_page(resp, status, &page);
}

static void
respond_login(struct http_response *resp, int status, const char *message)
{
	struct sbuf page;

	sbuf_init(&page, HTML_PAGE_MAX);
	html_write_login(&page, DASHBOARD_BASE "/login", message);
	respond_page(resp, status, &page);
}

static void
redirect(struct http_response *resp, const char *location)
{
	resp->status = 303;
	resp->content_type = "text/plain; charset=utf-8";
	snprintf(resp->location, sizeof(resp->location), "%s", location);
}

static void
method_not_allowed(struct http_response *resp, const char *allow)
{
	resp->allow = allow;
	respond_message(resp, 405, NULL, "Method not allowed", "This page does not take that method.");
}

/* The session cookie, or (value NULL) the header that deletes it. */
static void
set_cookie(struct http_response *resp, const struct http_request *req, const char *value)
{
	snprintf(resp->set_cookie, sizeof(resp->set_cookie),
		 "%s=%s; Path=%s; Max-Age=%d; HttpOnly; SameSite=Strict%s", COOKIE_NAME,
		 value ? value : "", DASHBOARD_BASE, value ? DASHBOARD_SESSION_SECONDS : 0,
		 http_request_is_tls(req) ? "; Secure" : "");
}

/* ---- the range of a page ---- */

struct range {
	char from_date[DAY_LEN + 1], to_date[DAY_LEN + 1], today[DAY_LEN + 1];
	int64_t from, to; /* usec: [from day's start, the day after to_date) */
};

/* A YYYY-MM-DD day, strictly (2026-02-30 is not one). 0 or -1. */
static int
parse_day(const char *text, int64_t *usec)
{
	char again[TIMEFMT_LEN];

	if (strlen(text) != DAY_LEN || text[4] != '-' || text[7] != '-' ||
	    time_parse_rfc3339(text, usec) < 0 || *usec <= 0)
		return -1;
	time_format_rfc3339(*usec, 0, again);
	return strncmp(again, text, DAY_LEN) == 0 ? 0 : -1;
}

/* The request's ?from=&to= (days, both included), by default the last
 * RANGE_DAYS_DEFAULT days up to today. 0, or -1 with a message. */
static int
range_parse(const struct http_request *req, struct range *rg, char *msg, size_t msglen)
{
	const char *from = http_request_query(req, "from"), *to = http_request_query(req, "to");
	char t[TIMEFMT_LEN];
	struct timespec now;
	int64_t today;

	clock_gettime(CLOCK_REALTIME, &now);
	today = ((int64_t)now.tv_sec / 86400) * USEC_PER_DAY;
	snprintf(rg->today, sizeof(rg->today), "%.10s", time_format_rfc3339(today, 0, t));
	/* defaults first: an error page links with them */
	rg->to = today + USEC_PER_DAY;
	rg->from = rg->to - RANGE_DAYS_DEFAULT * USEC_PER_DAY;
	snprintf(rg->to_date, sizeof(rg->to_date), "%s", rg->today);
	snprintf(rg->from_date, sizeof(rg->from_date), "%.10s", time_format_rfc3339(rg->from, 0, t));
	if ((from && !*from) || (to && !*to)) {
		snprintf(msg, msglen, "Give both days, from and to.");
		return -1;
	}
	if (!from && !to)
		return 0;
	int64_t f = rg->from, l = today;
	if (from && parse_day(from, &f) < 0) {
		snprintf(msg, msglen, "\"from\" is not a day written YYYY-MM-DD.");
		return -1;
	}
	if (to && parse_day(to, &l) < 0) {
		snprintf(msg, msglen, "\"to\" is not a day written YYYY-MM-DD.");
		return -1;
	}
	if (l < f) {
		snprintf(msg, msglen, "\"to\" is before \"from\".");
		return -1;
	}
	if ((l - f) / USEC_PER_DAY + 1 > RANGE_DAYS_MAX) {
		snprintf(msg, msglen, "The range is longer than %d days.", RANGE_DAYS_MAX);
		return -1;
	}
	rg->from = f;
	rg->to = l + USEC_PER_DAY;
	snprintf(rg->from_date, sizeof(rg->from_date), "%.10s", time_format_rfc3339(f, 0, t));
	snprintf(rg->to_date, sizeof(rg->to_date), "%.10s", time_format_rfc3339(l, 0, t));
	return 0;
}

/* ---- pages ---- */

/* A page's work, done with a store handle (api_with_store). */
struct page_job {
	const struct session *s;
	const struct range *rg;
	enum report_page page;
	const char *app_slug;
	const struct report_page_ctx *ctx;
	struct sbuf *out;
	int token_gone;	/* the session's token was revoked */
	int status;	/* of the answer */
	char err[256];
};

static int
page_build(void *arg, struct store *st, const sig_db *sigs, const struct catalog *cat,
	   const struct risk_weights *weights)
{
	struct page_job *j = arg;
	struct store_token t;
	struct report_options opt;
	struct report *r;
	int found = store_token_find(st, j->s->token_hash, &t);

	if (found < 0) {
		snprintf(j->err, sizeof(j->err), "token lookup: %s", store_error(st));
		j->status = 503;
		return -1;
	}
	if (!found || t.role != STORE_ROLE_READER) {
		j->token_gone = 1;
		return 0;
	}
	memset(&opt, 0, sizeof(opt));
	opt.from = j->rg->from;
	opt.to = j->rg->to;
	opt.sigs = sigs;
	opt.catalog = cat;
	opt.weights = weights;
	r = report_build(st, &opt, j->err, sizeof(j->err));
	if (!r) {
		j->status = 503;
		return -1;
	}
	/* rendered now: the report points into sigs and cat, which are the
	 * handle's only while we hold it */
	j->status = report_write_page(r, j->page, j->app_slug, j->ctx, j->out) < 0 ? 500 : 200;
	report_free(r);
	return 0;
}

/* The page of a path below the base: 0, or -1 when there is none. */
static int
page_of(const char *sub, enum report_page *page, const char **slug)
{
	*slug = NULL;
	if (strcmp(sub, "/") == 0)
		*page = REPORT_PAGE_OVERVIEW;
	else if (strcmp(sub, "/categories") == 0)
		*page = REPORT_PAGE_CATEGORIES;
	else if (strcmp(sub, "/apps") == 0)
		*page = REPORT_PAGE_APPS;
	else if (strcmp(sub, "/unknown-domains") == 0)
		*page = REPORT_PAGE_UNKNOWN_DOMAINS;
	else if (strncmp(sub, "/apps/", 6) == 0 && sub[6]) {
		*page = REPORT_PAGE_APP;
		*slug = sub + 6;
	} else {
		return -1;
	}
	return 0;
}

static void
serve_page(struct dashboard *d, struct http_request *req, enum report_page page,
	   const char *slug, struct http_response *resp)
{
	struct session s;
	struct range rg;
	struct report_page_ctx ctx;
	struct sbuf out;
	char msg[160], err[256];

	if (!session_find(d, req, &s)) {
		redirect(resp, DASHBOARD_BASE "/login");
		return;
	}
	int bad_range = range_parse(req, &rg, msg, sizeof(msg)) < 0;
	ctx = (struct report_page_ctx){ DASHBOARD_BASE, rg.from_date, rg.to_date, rg.today,
					s.name, s.csrf };
	if (bad_range) {
		respond_message(resp, 400, &ctx, "Not a range", msg);
		return;
	}
	sbuf_init(&out, HTML_PAGE_MAX);
	struct page_job job = { &s, &rg, page, slug, &ctx, &out, 0, 500, "" };
	if (api_with_store(d->api, page_build, &job, err, sizeof(err)) < 0 && !job.err[0])
		snprintf(job.err, sizeof(job.err), "%s", err);
	if (job.token_gone) {
		sbuf_free(&out);
		session_close(d, s.id_hash);
		log_info("dashboard: %s: the token of \"%s\" was revoked: session closed",
			 http_request_peer(req), s.name);
		set_cookie(resp, req, NULL);
		redirect(resp, DASHBOARD_BASE "/login");
		return;
	}
	if (job.status == 200) {
		respond_page(resp, 200, &out);
		return;
	}
	sbuf_free(&out);
	if (job.status == 503) {
		log_warnx("dashboard: %s: %s", http_request_path(req), job.err);
		respond_message(resp, 503, &ctx, "The store is unavailable",
				"The report could not be built; try again in a moment.");
		resp->retry_after = 5;
	} else {
		respond_message(resp, 500, &ctx, "The page could not be built",
				"It would be larger than a page may be, or memory ran out.");
	}
}

/* ---- log-in and log-out ---- */

struct login_job {
	const char *hash;
	int found;		/* store_token_find's answer */
	enum store_role role;
	char name[72];
};

static int
login_lookup(void *arg, struct store *st, const sig_db *sigs, const struct catalog *cat,
	     const struct risk_weights *weights)
{
	(void)weights;
	struct login_job *j = arg;
	struct store_token t;

	(void)sigs;
	(void)cat;
	j->found = store_token_find(st, j->hash, &t);
	if (j->found == 1) {
		j->role = t.role;
		snprintf(j->name, sizeof(j->name), "%s", t.name);
	} else if (j->found < 0) {
		log_warnx("store: token lookup: %s", store_error(st));
	}
	return 0;
}

static void
login_refused(struct dashboard *d, const struct http_request *req, const char *why)
{
	unsigned long suppressed = 0;

	pthread_mutex_lock(&d->lock);
	int pass = log_ratelimit_pass(&d->refused_log, &suppressed);
	pthread_mutex_unlock(&d->lock);
	if (pass)
		log_info("dashboard: %s: log-in refused: %s%s", http_request_peer(req), why,
			 suppressed ? " (and similar messages suppressed)" : "");
}

static void
do_login(struct dashboard *d, struct http_request *req, struct http_response *resp)
{
	size_t len;
	const char *body = http_request_body(req, &len);
	char token[128], hash[TOKEN_HASH_HEX_LEN + 1], cookie[RANDOM_TEXT_LEN + 1], err[256];
	struct login_job job = { hash, 0, 0, "" };
	int evicted;

	if (form_field(body, len, "token", token, sizeof(token)) != 1) {
		login_refused(d, req, "no token in the form");
		respond_login(resp, 400, "Give a reader token.");
		return;
	}
	/* blanks around a pasted token are not part of it */
	char *tok = token + strspn(token, " \t\r\n");
	size_t tlen = strcspn(tok, " \t\r\n");
	if (!token_well_formed(tok, tlen) || token_sha256_hex(tok, tlen, hash, sizeof(hash)) < 0) {
		explicit_bzero(token, sizeof(token));
		login_refused(d, req, "not a token");
		respond_login(resp, 403, "That is not a token: a token starts with smk_.");
		return;
	}
	explicit_bzero(token, sizeof(token));
	if (api_with_store(d->api, login_lookup, &job, err, sizeof(err)) < 0 || job.found < 0) {
		if (job.found >= 0)
			log_warnx("store: %s", err);
		respond_login(resp, 503, "The store is unavailable; try again in a moment.");
		resp->retry_after = 5;
		return;
	}
	if (job.found != 1) {
		login_refused(d, req, "unknown or revoked token");
		respond_login(resp, 403, "Unknown or revoked token.");
		return;
	}
	if (job.role != STORE_ROLE_READER) {
		login_refused(d, req, "not a reader token");
		respond_login(resp, 403, "That is an agent's token: the dashboard takes a reader token.");
		return;
	}
	if (session_open(d, hash, job.name, cookie, &evicted) < 0) {
		log_warn("dashboard: no random bytes for a session");
		respond_login(resp, 500, "No session could be opened; try again.");
		return;
	}
	if (evicted)
		log_warnx("dashboard: %d sessions open: the oldest was closed to make room",
			  DASHBOARD_SESSIONS_MAX);
	log_info("dashboard: %s: \"%s\" logged in", http_request_peer(req), job.name);
	set_cookie(resp, req, cookie);
	explicit_bzero(cookie, sizeof(cookie));
	redirect(resp, DASHBOARD_BASE "/");
}

static void
do_logout(struct dashboard *d, struct http_request *req, struct http_response *resp)
{
	size_t len;
	const char *body = http_request_body(req, &len);
	char csrf[RANDOM_TEXT_LEN + 8];
	struct session s;

	if (session_find(d, req, &s)) {
		if (form_field(body, len, "csrf", csrf, sizeof(csrf)) != 1 || !same_secret(csrf, s.csrf)) {
			log_info("dashboard: %s: log-out of \"%s\" refused: the form's token does not "
				 "match", http_request_peer(req), s.name);
			respond_message(resp, 403, NULL, "Not logged out",
					"The form did not come from this session's page.");
			return;
		}
		session_close(d, s.id_hash);
		log_info("dashboard: %s: \"%s\" logged out", http_request_peer(req), s.name);
	}
	set_cookie(resp, req, NULL);
	redirect(resp, DASHBOARD_BASE "/login");
}

/* A form post must be a small urlencoded body from a page of ours. 1 when
 * resp holds the refusal. */
static int
form_refused(const struct http_request *req, struct http_response *resp)
{
	const char *ctype = http_request_header(req, "Content-Type");
	const char *clen = http_request_header(req, "Content-Length");
	const char *origin = http_request_header(req, "Origin");
	const char *host = http_request_header(req, "Host");
	static const char form_type[] = "application/x-www-form-urlencoded";

	if (!ctype || strncmp(ctype, form_type, sizeof(form_type) - 1) != 0 ||
	    (ctype[sizeof(form_type) - 1] && ctype[sizeof(form_type) - 1] != ';')) {
		respond_message(resp, 415, NULL, "Not a form", "Expected a form (" "application/x-www-form-urlencoded).");
		return 1;
	}
	if (clen && (strlen(clen) > 6 || strtoul(clen, NULL, 10) > FORM_MAX)) {
		respond_message(resp, 413, NULL, "Too large", "The form is larger than it can be.");
		return 1;
	}
	/* a browser names the page a post comes from: it must be ours
	 * (SameSite=Strict keeps the cookie off other sites' posts; this
	 * also keeps other sites from logging someone in) */
	if (origin && strcmp(origin, "null") != 0) {
		const char *o = strstr(origin, "://");
		if (!o || !host || strcmp(o + 3, host) != 0) {
			respond_message(resp, 403, NULL, "Refused", "The form came from another site.");
			return 1;
		}
	}
	return 0;
}

/* ---- the callbacks ---- */

static int
begin(struct dashboard *d, struct http_request *req, struct http_response *resp)
{
	const char *sub = http_request_path(req) + strlen(DASHBOARD_BASE);
	const char *method = http_request_method(req);
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	enum report_page page;
	const char *slug;
	struct session s;

	if (*sub == '\0') {
		if (!get)
			method_not_allowed(resp, "GET, HEAD");
		else
			redirect(resp, DASHBOARD_BASE "/");
		return 1;
	}
	if (strcmp(sub, "/login") == 0) {
		if (post)
			return form_refused(req, resp);
		if (!get) {
			method_not_allowed(resp, "GET, HEAD, POST");
		} else if (session_find(d, req, &s)) {
			redirect(resp, DASHBOARD_BASE "/");
		} else {
			respond_login(resp, 200, NULL);
		}
		return 1;
	}
	if (strcmp(sub, "/logout") == 0) {
		if (post)
			return form_refused(req, resp);
		method_not_allowed(resp, "POST");
		return 1;
	}
	if (strcmp(sub, "/apps/") == 0) {
		redirect(resp, DASHBOARD_BASE "/apps");
		return 1;
	}
	if (page_of(sub, &page, &slug) < 0) {
		respond_message(resp, 404, NULL, "Not found", "There is no such page.");
		return 1;
	}
	if (!get) {
		method_not_allowed(resp, "GET, HEAD");
		return 1;
	}
	serve_page(d, req, page, slug, resp);
	return 1;
}

int
dashboard_begin(struct dashboard *d, struct http_request *req, struct http_response *resp)
{
	int answered = begin(d, req, resp);
	if (answered)
		resp->csp = d->csp; /* every answer of the dashboard's */
	return answered;
}

void
dashboard_handle(struct dashboard *d, struct http_request *req, struct http_response *resp)
{
	const char *sub = http_request_path(req) + strlen(DASHBOARD_BASE);
	size_t len;

	http_request_body(req, &len);
	if (len > FORM_MAX)
		respond_message(resp, 413, NULL, "Too large", "The form is larger than it can be.");
	else if (strcmp(sub, "/login") == 0)
		do_login(d, req, resp);
	else
		do_logout(d, req, resp);
	resp->csp = d->csp;
}
