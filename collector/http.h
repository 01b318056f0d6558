/*
 * The collector's HTTP(S) server: the only code that talks libmicrohttpd.
 * It owns sockets, threads, TLS, timeouts and the request body limit, and
 * hands each request to two callbacks: one when the headers are in (which
 * may answer at once, so that a request without a valid token or over the
 * size limit is refused before its body is read) and one with the body.
 * Handlers run on the server's worker threads, several at once.
 */
#ifndef SHADOWMAP_HTTP_H
#define SHADOWMAP_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_request; /* valid during a handler call only */

struct http_response {
	int status;
	char *body;               /* malloc'd; the server frees it */
	size_t body_len;
	const char *content_type; /* static string; NULL: application/json */
	char etag[96];            /* "" for none; with the quotes */
	const char *allow;        /* the Allow header of a 405, static */
	const char *www_authenticate; /* of a 401, static */
	unsigned retry_after;     /* seconds, the Retry-After header of a 503; 0: none */
	/* pages for browsers (the dashboard) */
	const char *csp;          /* Content-Security-Policy, static; also sends
				     X-Frame-Options and Referrer-Policy; NULL: none */
	char location[256];       /* Location of a redirect; "" for none */
	char set_cookie[256];     /* Set-Cookie; "" for none */
};

struct http_handlers {
	/* The headers are in. Returns 1 when resp holds the answer (the body,
	 * if any, is not read), 0 to read the body and call handle. */
	int (*begin)(void *arg, struct http_request *req, struct http_response *resp);
	/* The whole body is in (http_request_body). Answers in resp, or
	 * calls http_request_defer and answers later. */
	void (*handle)(void *arg, struct http_request *req, struct http_response *resp);
	void *arg;
};

struct http_config {
	const char *listen;        /* "ADDR:PORT", "[V6]:PORT"; port 0 picks one */
	const char *tls_cert_path; /* both or neither */
	const char *tls_key_path;
	unsigned threads;          /* worker threads */
	unsigned connection_limit;
	unsigned connection_timeout; /* seconds without progress */
	size_t body_max;           /* bytes; larger bodies get a 413 */
};

/*
 * Checks "ADDR:PORT" without binding: 0, or -1 with the reason in err.
 * The check mode (-n) uses it.
 */
int http_listen_valid(const char *listen, char *err, size_t errlen);

/*
 * Reads a PEM file for TLS (at most 1 MiB): the text, NUL-terminated,
 * caller frees; NULL with "PATH: reason" in err.
 */
char *http_read_pem(const char *path, char *err, size_t errlen);

/* Binds and starts serving. NULL with a one-line reason in err. */
struct http_server *http_start(const struct http_config *cfg, const struct http_handlers *h,
			       char *err, size_t errlen);
/* The port bound (useful when the configuration asked for port 0). */
unsigned http_port(const struct http_server *s);
/*
 * Stops accepting connections, then waits up to timeout_ms for requests in
 * flight to be answered, then closes everything. Deferred requests are
 * waited for without a limit: each has an answer coming (from then on, a
 * handler that defers blocks its worker until it is answered). Returns the
 * number of requests still in flight when it gave up (0 on a clean stop).
 * Frees s.
 */
unsigned http_stop(struct http_server *s, unsigned timeout_ms);

/* ---- the request, for handlers ---- */

const char *http_request_method(const struct http_request *r);
const char *http_request_path(const struct http_request *r);
/* A header or a query parameter (decoded), NULL when absent. */
const char *http_request_header(const struct http_request *r, const char *name);
const char *http_request_query(const struct http_request *r, const char *name);
const void *http_request_body(const struct http_request *r, size_t *len);
/* The client's address as text, for logs. */
const char *http_request_peer(const struct http_request *r);
/* 1 when the request came over TLS (a cookie may then be Secure). */
int http_request_is_tls(const struct http_request *r);
/* A pointer the handlers keep between begin and handle; free_fn (may be
 * NULL) runs when the request ends. */
void http_request_set_state(struct http_request *r, void *state, void (*free_fn)(void *));
void *http_request_state(const struct http_request *r);

/*
 * Deferred answers, for a handler whose answer waits on another thread
 * (the store's writer). handle calls http_request_defer and returns with
 * resp untouched; the connection is then parked (not polled, no timeout)
 * and its worker thread serves other connections. http_request_answer,
 * called exactly once from any thread, sends the answer and takes over
 * resp->body; r may be gone as soon as it returns. The request, its body
 * and state stay valid until then.
 */
void http_request_defer(struct http_request *r);
void http_request_answer(struct http_request *r, struct http_response *resp);

#endif
