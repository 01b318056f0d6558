/*
 * The HTTP(S) server (http.h) on libmicrohttpd: worker threads polling
 * internally, TLS through MHD's GnuTLS when a certificate is given, and the
 * request body gathered here under a hard cap before the API sees it.
 *
 * MHD cannot answer while a body is still arriving (MHD_queue_response
 * fails then), so a body over the limit is refused as early as MHD allows:
 * at the headers when Content-Length says so (nothing of it is read), else,
 * for chunked bodies, by discarding what follows the limit and answering
 * 413 at its end; a chunked body that goes on far beyond the limit gets its
 * connection closed instead.
 *
 * A handler may answer later (http_request_defer): the connection is then
 * suspended, so that its worker thread serves others, and resumed when the
 * answer comes. MHD must not be stopped with a connection suspended, so
 * http_stop waits for every deferred answer first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "shadowmap/fileio.h"
#include "shadowmap/log.h"

#include "http.h"

#define PEM_MAX (1u << 20)

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_handlers h;
	size_t body_max;
	char *tls_key, *tls_cert;
	unsigned port;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned in_flight; /* requests begun and not yet completed */

	/* Deferred answers. Lock order: defer_lock, then MHD's own locks
	 * (MHD_suspend_connection is called under it; MHD_resume_connection
	 * never is). */
	pthread_mutex_t defer_lock;
	pthread_cond_t answered; /* a deferred request got its answer */
	unsigned n_parked;       /* suspended, waiting for their answer */
	int closing;             /* http_stop: defer no more, wait in place */
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *body;
	size_t len, cap;
	int too_big;        /* over body_max: the rest is discarded */
	size_t discarded;
	void *state;
	void (*state_free)(void *);
	char peer[INET6_ADDRSTRLEN + 8];

	/* under srv->defer_lock, except deferred (the worker's own) */
	int deferred;   /* the handler answers later */
	int parked;     /* the connection is suspended until the answer */
	int answered;   /* answer holds it, not yet sent */
	struct http_response answer;
};

/* ---- listen address ---- */

/* Splits "ADDR:PORT" / "[V6]:PORT" / "*:PORT" and resolves it numerically.
 * 0 or -1 with err. */
static int
listen_resolve(const char *listen, struct sockaddr_storage *ss, socklen_t *ss_len, char *err,
	       size_t errlen)
{
	char host[256];
	const char *port, *colon;
	struct addrinfo hints, *res = NULL;
	size_t hlen;
	int gai;

	if (!listen || !*listen) {
		snprintf(err, errlen, "listen: empty address (expected ADDR:PORT)");
		return -1;
	}
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "listen: \"%s\": expected [IPV6]:PORT", listen);
			return -1;
		}
		hlen = (size_t)(close - listen - 1);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, listen + 1, hlen);
		port = close + 2;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || strchr(listen, ':') != colon) {
			snprintf(err, errlen,
				 "listen: \"%s\": expected ADDR:PORT (IPv6 as [ADDR]:PORT)", listen);
			return -1;
		}
		hlen = (size_t)(colon - listen);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, listen, hlen);
		port = colon + 1;
	}
	host[hlen] = '\0';
	if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    strtoul(port, NULL, 10) > 65535) {
		snprintf(err, errlen, "listen: \"%s\": bad port (0 to 65535)", listen);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	/* "*" and "" mean every address, IPv6 and IPv4 alike */
	int any = strcmp(host, "*") == 0 || host[0] == '\0';
	if (any)
		hints.ai_family = AF_INET6;
	gai = getaddrinfo(any ? NULL : host, port, &hints, &res);
	if (gai != 0 || !res) {
		snprintf(err, errlen, "listen: \"%s\": %s", listen,
			 gai ? gai_strerror(gai) : "no address");
		if (res)
			freeaddrinfo(res);
		return -1;
	}
	if (ss) {
		memcpy(ss, res->ai_addr, res->ai_addrlen);
		*ss_len = res->ai_addrlen;
	}
	freeaddrinfo(res);
	return 0;
bad:
	snprintf(err, errlen, "listen: \"%s\": address too long", listen);
	return -1;
}

int
http_listen_valid(const char *listen, char *err, size_t errlen)
{
	return listen_resolve(listen, NULL, NULL, err, errlen);
}

char *
http_read_pem(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *buf = file_read_all(path, PEM_MAX, &len, err, errlen);

	if (buf && !strstr(buf, "-----BEGIN ")) {
		snprintf(err, errlen, "%s: not a PEM file", path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- requests ---- */

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0'; /* MHD ends its messages with one */
	log_warnx("http: %s", line);
}

static void
format_peer(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(out, len, "?");
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ci->client_addr;
		inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)len);
	} else if (ci->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
			(const struct sockaddr_in6 *)(const void *)ci->client_addr;
		inet_ntop(AF_INET6, &sin6->sin6_addr, out, (socklen_t)len);
	}
}

static enum MHD_Result
send_response(struct http_request *r, struct http_response *resp)
{
	struct MHD_Response *mr;
	enum MHD_Result ok;

	if (resp->body) {
		mr = MHD_create_response_from_buffer_with_free_callback(resp->body_len, resp->body,
									 free);
		if (!mr)
			free(resp->body);
	} else {
		mr = MHD_create_response_from_buffer(0, (void *)(uintptr_t)"",
						     MHD_RESPMEM_PERSISTENT);
	}
	resp->body = NULL;
	if (!mr)
		return MHD_NO;
	if (resp->status != 304 && resp->status != 204)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
					resp->content_type ? resp->content_type
							   : "application/json");
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	if (resp->etag[0]) {
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ETAG, resp->etag);
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	} else {
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	if (resp->allow)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, resp->allow);
	if (resp->www_authenticate)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					resp->www_authenticate);
	if (resp->csp) {
		MHD_add_response_header(mr, "Content-Security-Policy", resp->csp);
		MHD_add_response_header(mr, "X-Frame-Options", "DENY");
		MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
	}
	if (resp->location[0])
		MHD_add_response_header(mr, MHD_HTTP_HEADER_LOCATION, resp->location);
	if (resp->set_cookie[0])
		MHD_add_response_header(mr, MHD_HTTP_HEADER_SET_COOKIE, resp->set_cookie);
	if (resp->retry_after) {
		char secs[16];
		snprintf(secs, sizeof(secs), "%u", resp->retry_after);
		MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	log_debug("%s %s %s -> %d", r->peer, r->method, r->path, resp->status);
	ok = MHD_queue_response(r->conn, (unsigned)resp->status, mr);
	MHD_destroy_response(mr);
	return ok;
}

static enum MHD_Result
send_too_big(struct http_request *r)
{
	struct http_response resp;
	char text[128];
	int n = snprintf(text, sizeof(text), "{\"error\":\"request body larger than %zu bytes\"}",
			 r->srv->body_max);
	memset(&resp, 0, sizeof(resp));
	resp.status = 413;
	resp.body = n > 0 ? strdup(text) : NULL;
	resp.body_len = resp.body ? (size_t)n : 0;
	log_info("%s: %s %s: body over %zu bytes refused", r->peer, r->method, r->path,
		 r->srv->body_max);
	return send_response(r, &resp);
}

/* 1 when a Content-Length header announces more than max. */
static int
announced_too_big(struct MHD_Connection *c, size_t max)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long v = 0;
	if (!cl)
		return 0;
	for (const char *p = cl; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0; /* MHD refuses a malformed one itself */
		if (v > (unsigned long long)max)
			return 1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	return v > (unsigned long long)max;
}

/* A deferred request: sends its answer if it came, else parks the
 * connection until it does (or, while the server stops, waits here). */
static enum MHD_Result
deferred_answer(struct http_server *s, struct http_request *r, struct MHD_Connection *c)
{
	struct http_response resp;

	pthread_mutex_lock(&s->defer_lock);
	while (!r->answered && s->closing)
		pthread_cond_wait(&s->answered, &s->defer_lock);
	if (!r->answered) {
		/* under the lock: http_request_answer sees parked only once the
		 * connection is suspended, and so never resumes it before */
		MHD_suspend_connection(c);
		r->parked = 1;
		s->n_parked++;
		pthread_mutex_unlock(&s->defer_lock);
		return MHD_YES;
	}
	resp = r->answer;
	r->answer.body = NULL; /* send_response takes it */
	r->answered = 0;
	pthread_mutex_unlock(&s->defer_lock);
	return send_response(r, &resp);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size,
	   void **con_cls)
{
	struct http_server *s = cls;
	struct http_request *r = *con_cls;
	struct http_response resp;

	(void)version;
	if (!r) {
		/* the headers are in */
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = s;
		r->conn = c;
		r->method = method;
		r->path = url;
		format_peer(c, r->peer, sizeof(r->peer));
		*con_cls = r;
		pthread_mutex_lock(&s->lock);
		s->in_flight++;
		pthread_mutex_unlock(&s->lock);
		if (announced_too_big(c, s->body_max))
			return send_too_big(r);
		memset(&resp, 0, sizeof(resp));
		if (s->h.begin(s->h.arg, r, &resp))
			return send_response(r, &resp);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->too_big) {
			r->discarded += n;
			/* a sender that does not stop loses its connection */
			return r->discarded > s->body_max ? MHD_NO : MHD_YES;
		}
		if (n > s->body_max - r->len) {
			r->too_big = 1;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
			return MHD_YES;
		}
		if (r->len + n > r->cap) {
			size_t want = r->cap ? r->cap : 64 * 1024;
			while (want < r->len + n)
				want *= 2;
			if (want > s->body_max)
				want = s->body_max;
			char *bigger = realloc(r->body, want + 1);
			if (!bigger)
				return MHD_NO; /* out of memory: drop the connection */
			r->body = bigger;
			r->cap = want;
		}
		memcpy(r->body + r->len, upload_data, n);
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}
	/* the whole body is in; or, deferred, the connection was resumed */
	if (r->too_big)
		return send_too_big(r);
	if (!r->deferred) {
		memset(&resp, 0, sizeof(resp));
		s->h.handle(s->h.arg, r, &resp);
		if (!r->deferred)
			return send_response(r, &resp);
	}
	return deferred_answer(s, r, c);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_request *r = *con_cls;

	(void)c;
	(void)toe;
	if (!r)
		return;
	if (r->state_free)
		r->state_free(r->state);
	free(r->answer.body); /* answered, but the connection went first */
	free(r->body);
	free(r);
	*con_cls = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->in_flight > 0)
		s->in_flight--;
	if (s->in_flight == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

/* ---- the server ---- */

static void
server_free(struct http_server *s)
{
	if (!s)
		return;
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->answered);
	pthread_mutex_destroy(&s->defer_lock);
	free(s->tls_key);
	free(s->tls_cert);
	free(s);
}

struct http_server *
http_start(const struct http_config *cfg, const struct http_handlers *h, char *err,
	   size_t errlen)
{
	struct http_server *s;
	struct sockaddr_storage ss;
	socklen_t ss_len = 0;
	pthread_condattr_t ca;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
			 MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;

	if (listen_resolve(cfg->listen, &ss, &ss_len, err, errlen) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->h = *h;
	s->body_max = cfg->body_max;
	pthread_mutex_init(&s->lock, NULL);
	/* the drain waits on a monotonic clock: wall clock steps do not cut
	 * it short or stretch it */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->idle, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->defer_lock, NULL);
	pthread_cond_init(&s->answered, NULL);

	if (cfg->tls_cert_path || cfg->tls_key_path) {
		if (!cfg->tls_cert_path || !cfg->tls_key_path) {
			snprintf(err, errlen, "TLS needs both tls-cert and tls-key");
			goto fail;
		}
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "this libmicrohttpd was built without TLS");
			goto fail;
		}
		s->tls_cert = http_read_pem(cfg->tls_cert_path, err, errlen);
		if (!s->tls_cert)
			goto fail;
		s->tls_key = http_read_pem(cfg->tls_key_path, err, errlen);
		if (!s->tls_key)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)&ss;
		flags |= IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ? MHD_USE_DUAL_STACK
								   : MHD_USE_IPv6;
	}

	struct MHD_OptionItem extra[4];
	size_t k = 0;
	memset(extra, 0, sizeof(extra));
	if (cfg->threads > 1)
		extra[k++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
						      (intptr_t)cfg->threads, NULL };
	if (s->tls_key) {
		extra[k++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key };
		extra[k++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert };
	}
	extra[k] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	s->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s,
		/* first, or MHD prints what comes before it itself */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->connection_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout,
		MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
	if (!s->daemon) {
		/* MHD has logged its reason (bind, TLS key) through mhd_log */
		snprintf(err, errlen, "cannot serve on %s%s", cfg->listen,
			 s->tls_key ? " with the given TLS certificate and key" : "");
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	return s;
fail:
	server_free(s);
	return NULL;
}

unsigned
http_port(const struct http_server *s)
{
	return s->port;
}

unsigned
http_stop(struct http_server *s, unsigned timeout_ms)
{
	struct timespec deadline;
	unsigned left;

	if (!s)
		return 0;
	/* no new connections; the listening socket is ours to close */
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (s->in_flight > 0)
		if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == ETIMEDOUT)
			break;
	left = s->in_flight;
	pthread_mutex_unlock(&s->lock);
	/* MHD must not stop with a connection suspended: every deferred
	 * answer first (the writer that gives them is still running), and
	 * from now on a deferring handler waits in place */
	pthread_mutex_lock(&s->defer_lock);
	s->closing = 1;
	while (s->n_parked > 0)
		pthread_cond_wait(&s->answered, &s->defer_lock);
	pthread_mutex_unlock(&s->defer_lock);
	/* joins the workers: a handler still running finishes first */
	MHD_stop_daemon(s->daemon);
	server_free(s);
	return left;
}

/* ---- request accessors ---- */

const char *
http_request_method(const struct http_request *r)
{
	return r->method;
}

const char *
http_request_path(const struct http_request *r)
{
	return r->path;
}

const char *
http_request_header(const struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
http_request_query(const struct http_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const void *
http_request_body(const struct http_request *r, size_t *len)
{
	*len = r->len;
	return r->body ? r->body : "";
}

const char *
http_request_peer(const struct http_request *r)
{
	return r->peer;
}

int
http_request_is_tls(const struct http_request *r)
{
	return r->srv->tls_key != NULL;
}

void
http_request_set_state(struct http_request *r, void *state, void (*free_fn)(void *))
{
	if (r->state_free)
		r->state_free(r->state);
	r->state = state;
	r->state_free = free_fn;
}

void *
http_request_state(const struct http_request *r)
{
	return r->state;
}

void
http_request_defer(struct http_request *r)
{
	r->deferred = 1;
}

void
http_request_answer(struct http_request *r, struct http_response *resp)
{
	struct http_server *s = r->srv;
	struct MHD_Connection *resume = NULL;

	pthread_mutex_lock(&s->defer_lock);
	r->answer = *resp;
	r->answered = 1;
	resp->body = NULL;
	if (r->parked) {
		r->parked = 0;
		resume = r->conn;
	}
	pthread_cond_broadcast(&s->answered);
	pthread_mutex_unlock(&s->defer_lock);
	if (!resume)
		return;
	/* r is the worker's again once resumed: not touched. n_parked drops
	 * only now, so that http_stop cannot stop MHD halfway through. */
	MHD_resume_connection(resume);
	pthread_mutex_lock(&s->defer_lock);
	s->n_parked--;
	pthread_cond_broadcast(&s->answered);
	pthread_mutex_unlock(&s->defer_lock);
}
