/*
 * The API (api.h): one table of routes, tokens checked when the headers
 * are in (a request without a valid token never gets its body read), the
 * ingest of batches and the JSON queries. Store handles are pooled: a
 * handle serves one request at a time, and there are never more of them
 * than requests at once (at most the server's worker threads).
 *
 * Batches are written by one thread with a handle of its own (the writer,
 * below): request threads parse and validate, the writer stores what is
 * queued in one transaction (group commit) and answers.
 *
 * Each store handle maps new usage with the signatures it was last given
 * (store_remap), and keeps a pointer to them: so a handle holds a reference
 * to the knowledge those signatures belong to, and is brought up to date
 * before its next use after a reload.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "shadowmap/catalog.h"
#include "shadowmap/fileio.h"
#include "shadowmap/log.h"
#include "shadowmap/risk.h"
#include "shadowmap/sig.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/yaml.h"

#include "api.h"
#include "batch.h"
#include "dashboard.h"
#include "store.h"
#include "token.h"

#define SIGDOC_SCHEMA "shadowmap.signatures/1"
#define SIGDOC_MAX ((size_t)64 << 20) /* all signature files together */

#define ROLE_BIT(r) (1u << (r))

/* ---- knowledge ---- */

struct api_knowledge {
	int refs; /* atomic */
	sig_db *sigs;
	struct catalog *cat;
	size_t n_catalog;
	struct risk_weights weights;
	char *sigdoc;   /* the GET /api/v1/signatures body */
	size_t sigdoc_len;
	size_t sigdoc_files;
	char etag[96];
};

static struct api_knowledge *
knowledge_ref(struct api_knowledge *k)
{
	__atomic_add_fetch(&k->refs, 1, __ATOMIC_RELAXED);
	return k;
}

void
api_knowledge_release(struct api_knowledge *k)
{
	if (!k || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	catalog_free(k->cat);
	sig_db_free(k->sigs);
	free(k->sigdoc);
	free(k);
}

void
api_knowledge_describe(const struct api_knowledge *k, char *out, size_t len)
{
	snprintf(out, len, "%zu apps, %zu categories, %zu catalog entries, %zu signature files",
		 sig_db_app_count(k->sigs), sig_db_category_count(k->sigs), k->n_catalog,
		 k->sigdoc_files);
}

/*
 * The signature document: {"schema":..., "files":[{"path","content"}]},
 * the files' text as they are, paths relative to the signature directory.
 * Serving the files rather than a re-encoding keeps what agents load
 * byte-identical to what the collector loaded, comments and all. The files
 * are read again after the loader read them: an edit in between shows in
 * the document at the next reload at the latest.
 */
static int
build_sigdoc(struct api_knowledge *k, const char *sig_path, char *err, size_t errlen)
{
	char **files = NULL;
	size_t n_files = 0;
	json_t *root = NULL, *arr = NULL;
	struct stat st;
	size_t total = 0, prefix = 0;
	char hex[TOKEN_HASH_HEX_LEN + 1];
	int rc = -1;

	if (stat(sig_path, &st) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", sig_path, strerror(errno));
		return -1;
	}
	/* exactly the files the loader read, in its order */
	if (sig_list_files(sig_path, &files, &n_files, err, errlen) < 0)
		goto out;
	if (S_ISDIR(st.st_mode)) {
		prefix = strlen(sig_path) + 1;
	} else {
		const char *slash = strrchr(sig_path, '/');
		prefix = slash ? (size_t)(slash - sig_path) + 1 : 0;
	}
	root = json_object();
	arr = json_array();
	if (!root || !arr || json_object_set_new(root, "schema", json_string(SIGDOC_SCHEMA)) < 0 ||
	    json_object_set(root, "files", arr) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_files; i++) {
		size_t len;
		char *text = file_read_all(files[i], YAML_FILE_MAX, &len, err, errlen);
		if (!text)
			goto out;
		total += len;
		json_t *content = json_stringn(text, len);
		free(text);
		if (!content) {
			snprintf(err, errlen, "%s: not valid UTF-8 text", files[i]);
			goto out;
		}
		if (total > SIGDOC_MAX) {
			json_decref(content);
			snprintf(err, errlen, "%s: signature files larger than %zu bytes together",
				 sig_path, SIGDOC_MAX);
			goto out;
		}
		json_t *f = json_object();
		if (!f || json_object_set_new(f, "path", json_string(files[i] + prefix)) < 0 ||
		    json_object_set_new(f, "content", content) < 0 ||
		    json_array_append_new(arr, f) < 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	k->sigdoc = json_dumps(root, JSON_COMPACT);
	if (!k->sigdoc) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	k->sigdoc_len = strlen(k->sigdoc);
	k->sigdoc_files = n_files;
	/* a strong validator: the hash of exactly the bytes served */
	if (token_sha256_hex(k->sigdoc, k->sigdoc_len, hex, sizeof(hex)) < 0) {
		snprintf(err, errlen, "cannot hash the signature document (libgcrypt)");
		goto out;
	}
	snprintf(k->etag, sizeof(k->etag), "\"%s\"", hex);
	rc = 0;
out:
	json_decref(arr);
	json_decref(root);
	sig_files_free(files, n_files);
	return rc;
}

struct api_knowledge *
api_knowledge_load(const char *sig_path, const char *local_path, const char *catalog_path,
		   const char *weights_path, char *err, size_t errlen)
{
	struct api_knowledge *k = calloc(1, sizeof(*k));

	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->refs = 1;
	if (!sig_path)
		sig_path = sig_default_dir();
	k->sigs = sig_db_new();
	if (!k->sigs) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* local files last, as the agent loads them (sig_db_open): the
	 * collector names usage as the organisation's agents do */
	if (sig_db_load_path(k->sigs, sig_path, err, errlen) < 0 ||
	    (local_path && sig_db_load_overrides(k->sigs, local_path, err, errlen) < 0) ||
	    sig_db_finalize(k->sigs, err, errlen) < 0)
		goto fail;
	k->cat = catalog_path ? catalog_load(catalog_path, k->sigs, err, errlen) : catalog_empty();
	if (!k->cat) {
		if (!catalog_path)
			snprintf(err, errlen, "out of memory");
		goto fail;
	}
	k->n_catalog = catalog_count(k->cat);
	risk_weights_defaults(&k->weights);
	if (weights_path &&
	    risk_weights_load_file(&k->weights, weights_path, k->sigs, err, errlen) < 0)
		goto fail;
	if (build_sigdoc(k, sig_path, err, errlen) < 0)
		goto fail;
	return k;
fail:
	api_knowledge_release(k);
	return NULL;
}

/* ---- the API and its store handles ---- */

struct pooled {
	struct store *st;
	struct api_knowledge *k; /* whose signatures st maps with: a reference */
	struct pooled *next;
};

struct ingest_job;

/* Batches waiting for the writer, and the writer. */
struct ingest_queue {
	pthread_mutex_t lock;
	pthread_cond_t work; /* for the writer: a job, or stop */
	pthread_cond_t room; /* for request threads: room in the queue */
	struct ingest_job *head, *tail;
	size_t n_jobs, n_records;
	int closed;          /* no new jobs (api_quiesce) */
	int new_knowledge;   /* the writer's handle is to take it */
	int stop;            /* the writer empties the queue and exits */
	int running;         /* the thread was started */
	struct timespec last_push; /* when the last job came (monotonic) */
	pthread_t thread;
	struct pooled *w;    /* the writer's store handle, its thread's alone */

	/* the checkpointer: copies the WAL into the database file so that
	 * the writer's thread need not */
	pthread_cond_t ckpt_work;
	int ckpt_wanted;
	int ckpt_running;
	pthread_t ckpt_thread;
	struct store *ckpt_st; /* its thread's alone */
};

struct api {
	char *db_path;
	int64_t db_max_bytes;
	pthread_mutex_t lock;
	struct api_knowledge *cur; /* under lock */
	struct pooled *idle;       /* under lock */
	struct log_ratelimit auth_log; /* under lock */
	struct ingest_queue q;
	struct dashboard *dash;	   /* the pages under /dashboard */
};

static int writer_start(struct api *a, char *err, size_t errlen);
static void writer_stop(struct api *a);

static struct api_knowledge *
current_knowledge(struct api *a)
{
	pthread_mutex_lock(&a->lock);
	struct api_knowledge *k = knowledge_ref(a->cur);
	pthread_mutex_unlock(&a->lock);
	return k;
}

/* Brings a handle to the current signatures (cheap when they did not
 * change: the store compares a hash). */
static void
pooled_update(struct pooled *p, struct api_knowledge *cur)
{
	if (p->k == cur) {
		api_knowledge_release(cur);
		return;
	}
	if (store_remap(p->st, cur->sigs) < 0)
		log_warnx("store: re-mapping usage to the new signatures failed: %s "
			  "(the next reload or restart tries again)", store_error(p->st));
	/* the handle took the new signatures even on failure (store.h) */
	api_knowledge_release(p->k);
	p->k = cur; /* takes the reference current_knowledge gave */
}

/* A store handle for this thread's request; NULL with err when the
 * database cannot be opened. */
static struct pooled *
pool_acquire(struct api *a, char *err, size_t errlen)
{
	struct pooled *p;
	struct api_knowledge *cur;

	pthread_mutex_lock(&a->lock);
	p = a->idle;
	if (p)
		a->idle = p->next;
	cur = knowledge_ref(a->cur);
	pthread_mutex_unlock(&a->lock);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			snprintf(err, errlen, "out of memory");
			api_knowledge_release(cur);
			return NULL;
		}
		p->st = store_open(a->db_path, err, errlen);
		if (!p->st) {
			free(p);
			api_knowledge_release(cur);
			return NULL;
		}
		if (a->db_max_bytes && store_set_max_bytes(p->st, a->db_max_bytes) < 0)
			log_warnx("store: cannot cap the database at %lld bytes: %s",
				  (long long)a->db_max_bytes, store_error(p->st));
	}
	pooled_update(p, cur);
	p->next = NULL;
	return p;
}

static void
pool_release(struct api *a, struct pooled *p)
{
	pthread_mutex_lock(&a->lock);
	p->next = a->idle;
	a->idle = p;
	pthread_mutex_unlock(&a->lock);
}

int
api_with_store(struct api *a,
	       int (*fn)(void *arg, struct store *st, const sig_db *sigs,
			 const struct catalog *cat, const struct risk_weights *weights),
	       void *arg, char *err, size_t errlen)
{
	struct pooled *p = pool_acquire(a, err, errlen);
	int rc;

	if (!p)
		return -1;
	/* the handle's knowledge: the signatures its rows were mapped with */
	rc = fn(arg, p->st, p->k->sigs, p->k->cat, &p->k->weights);
	pool_release(a, p);
	return rc;
}

static void
pooled_close(struct pooled *p)
{
	store_close(p->st);
	api_knowledge_release(p->k);
	free(p);
}

struct api *
api_new(const char *db_path, int64_t db_max_bytes, struct api_knowledge *k, char *err,
	size_t errlen)
{
	struct api *a = calloc(1, sizeof(*a));
	struct pooled *p;
	pthread_condattr_t ca;

	if (!a || !(a->db_path = strdup(db_path))) {
		snprintf(err, errlen, "out of memory");
		free(a);
		api_knowledge_release(k);
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->q.lock, NULL);
	/* timed waits on a monotonic clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->q.work, &ca);
	pthread_cond_init(&a->q.room, &ca);
	pthread_cond_init(&a->q.ckpt_work, NULL);
	pthread_condattr_destroy(&ca);
	a->db_max_bytes = db_max_bytes;
	a->cur = k;
	a->auth_log.interval = 10;
	/* one handle now: a database that cannot be opened fails the start,
	 * and stored usage is mapped before the first request; the writer
	 * takes it */
	p = pool_acquire(a, err, errlen);
	if (!p) {
		api_free(a);
		return NULL;
	}
	pool_release(a, p);
	if (writer_start(a, err, errlen) < 0) {
		api_free(a);
		return NULL;
	}
	a->dash = dashboard_new(a);
	if (!a->dash) {
		snprintf(err, errlen, "out of memory");
		api_free(a);
		return NULL;
	}
	return a;
}

int
api_set_knowledge(struct api *a, struct api_knowledge *k, char *err, size_t errlen)
{
	struct pooled *p, *list;
	int rc = 0;

	/* Re-map on one handle first: the heavy part, done while requests
	 * still see the previous knowledge; the others then find the store
	 * up to date and only take the pointer. */
	p = pool_acquire(a, err, errlen);
	if (p) {
		if (store_remap(p->st, k->sigs) < 0) {
			snprintf(err, errlen, "store: re-map: %s", store_error(p->st));
			rc = -1;
		}
		api_knowledge_release(p->k);
		p->k = knowledge_ref(k);
	} else {
		rc = -1;
	}
	pthread_mutex_lock(&a->lock);
	struct api_knowledge *old = a->cur;
	a->cur = k;
	if (p) {
		p->next = a->idle;
		a->idle = p;
	}
	/* idle handles let go of the old signatures now, not at their next
	 * request */
	list = a->idle;
	a->idle = NULL;
	pthread_mutex_unlock(&a->lock);
	while (list) {
		struct pooled *next = list->next;
		pooled_update(list, knowledge_ref(k));
		pool_release(a, list);
		list = next;
	}
	/* the writer's handle takes it when the writer is idle, or before its
	 * next group */
	pthread_mutex_lock(&a->q.lock);
	a->q.new_knowledge = 1;
	pthread_cond_signal(&a->q.work);
	pthread_mutex_unlock(&a->q.lock);
	api_knowledge_release(old);
	return rc;
}

void
api_free(struct api *a)
{
	if (!a)
		return;
	dashboard_free(a->dash);
	writer_stop(a);
	while (a->idle) {
		struct pooled *next = a->idle->next;
		pooled_close(a->idle);
		a->idle = next;
	}
	api_knowledge_release(a->cur);
	pthread_cond_destroy(&a->q.ckpt_work);
	pthread_cond_destroy(&a->q.room);
	pthread_cond_destroy(&a->q.work);
	pthread_mutex_destroy(&a->q.lock);
	pthread_mutex_destroy(&a->lock);
	free(a->db_path);
	free(a);
}

/* ---- responses ---- */

static void
respond_json(struct http_response *resp, int status, json_t *doc)
{
	resp->status = status;
	resp->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!resp->body) {
		resp->status = 500;
		resp->body = strdup("{\"error\":\"out of memory\"}");
	}
	resp->body_len = resp->body ? strlen(resp->body) : 0;
}

static void
respond_error(struct http_response *resp, int status, const char *error, const char *where)
{
	json_t *doc = json_object();
	if (doc) {
		json_t *msg = json_string(error);
		json_object_set_new(doc, "error", msg ? msg : json_string("(unprintable)"));
		if (where && *where) {
			json_t *w = json_string(where);
			json_object_set_new(doc, "where", w ? w : json_null());
		}
	}
	respond_json(resp, status, doc);
}

static json_t *
jstr(const char *s)
{
	json_t *v = s ? json_string(s) : NULL;
	return v ? v : json_null();
}

static json_t *
jnum(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *
jtime(int64_t usec, int known)
{
	char buf[TIMEFMT_LEN];
	return known ? json_string(time_format_rfc3339(usec, 3, buf)) : json_null();
}

/* ---- routes ---- */

enum route_id {
	R_HEALTHZ,
	R_BATCHES,
	R_APPS,
	R_CATEGORIES,
	R_CLIENTS,
	R_DOMAINS,
	R_NETWORKS,
	R_TOTALS,
	R_SIGNATURES,
};

struct route {
	const char *path;
	const char *method; /* GET also answers HEAD */
	unsigned roles;     /* ROLE_BIT()s that may call it; 0: no token needed */
	enum route_id id;
};

static const struct route routes[] = {
	{ "/healthz", "GET", 0, R_HEALTHZ },
	{ "/api/v1/batches", "POST", ROLE_BIT(STORE_ROLE_AGENT), R_BATCHES },
	{ "/api/v1/apps", "GET", ROLE_BIT(STORE_ROLE_READER), R_APPS },
	{ "/api/v1/categories", "GET", ROLE_BIT(STORE_ROLE_READER), R_CATEGORIES },
	{ "/api/v1/clients", "GET", ROLE_BIT(STORE_ROLE_READER), R_CLIENTS },
	{ "/api/v1/unknown-domains", "GET", ROLE_BIT(STORE_ROLE_READER), R_DOMAINS },
	{ "/api/v1/networks", "GET", ROLE_BIT(STORE_ROLE_READER), R_NETWORKS },
	{ "/api/v1/totals", "GET", ROLE_BIT(STORE_ROLE_READER), R_TOTALS },
	{ "/api/v1/signatures", "GET",
	  ROLE_BIT(STORE_ROLE_AGENT) | ROLE_BIT(STORE_ROLE_READER), R_SIGNATURES },
};

struct req_state {
	const struct route *route;
	char token_name[128];
};

static const struct route *
route_find(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	return NULL;
}

static int
method_allowed(const struct route *r, const char *method)
{
	if (strcmp(r->method, method) == 0)
		return 1;
	return strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

static void
log_auth_failure(struct api *a, const struct http_request *req, const char *why)
{
	unsigned long suppressed = 0;
	pthread_mutex_lock(&a->lock);
	int pass = log_ratelimit_pass(&a->auth_log, &suppressed);
	pthread_mutex_unlock(&a->lock);
	if (pass)
		log_info("%s: %s %s: %s%s", http_request_peer(req), http_request_method(req),
			 http_request_path(req), why,
			 suppressed ? " (and similar messages suppressed)" : "");
}

/* Checks the bearer token against the route's roles. 1 when the request
 * may go on (the token's name in st), 0 when resp holds the refusal. */
static int
authenticate(struct api *a, struct http_request *req, const struct route *route,
	     struct req_state *st, struct http_response *resp)
{
	const char *tok;
	size_t len;
	char hash[TOKEN_HASH_HEX_LEN + 1], err[256];
	struct store_token t;
	struct pooled *p;
	int found;

	if (token_from_bearer(http_request_header(req, "Authorization"), &tok, &len) < 0 ||
	    !token_well_formed(tok, len) || token_sha256_hex(tok, len, hash, sizeof(hash)) < 0) {
		log_auth_failure(a, req, "no or malformed bearer token");
		goto unauthorized;
	}
	p = pool_acquire(a, err, sizeof(err));
	if (!p) {
		log_warnx("store: %s", err);
		respond_error(resp, 503, "the store is unavailable; retry later", NULL);
		return 0;
	}
	found = store_token_find(p->st, hash, &t);
	if (found == 1) {
		snprintf(st->token_name, sizeof(st->token_name), "%s", t.name);
		if (!(route->roles & ROLE_BIT(t.role))) {
			log_auth_failure(a, req, "token of the wrong role");
			pool_release(a, p);
			respond_error(resp, 403,
				      t.role == STORE_ROLE_AGENT
					      ? "an agent token may not use this endpoint"
					      : "a reader token may not use this endpoint",
				      NULL);
			return 0;
		}
	} else if (found < 0) {
		log_warnx("store: token lookup: %s", store_error(p->st));
	}
	pool_release(a, p);
	if (found == 1)
		return 1;
	if (found < 0) {
		respond_error(resp, 503, "the store is unavailable; retry later", NULL);
		return 0;
	}
	log_auth_failure(a, req, "unknown or revoked token");
unauthorized:
	resp->www_authenticate = "Bearer";
	respond_error(resp, 401, "missing or unknown token", NULL);
	return 0;
}

/* ---- queries ---- */

/* A bound of from/to: RFC 3339 or YYYY-MM-DD (midnight UTC). A date as
 * "to" means the end of that day, so that from=D&to=D is day D. */
static int
parse_bound(const struct http_request *req, const char *name, int is_to, int64_t *out,
	    struct http_response *resp)
{
	const char *text = http_request_query(req, name);
	char msg[160];

	*out = 0;
	if (!text)
		return 0;
	if (time_parse_rfc3339(text, out) < 0) {
		snprintf(msg, sizeof(msg), "%s: not a date (YYYY-MM-DD) or RFC 3339 time", name);
		respond_error(resp, 400, msg, name);
		return -1;
	}
	if (is_to && strlen(text) == 10)
		*out += 86400 * USEC_PER_SEC;
	if (*out <= 0) {
		snprintf(msg, sizeof(msg), "%s: before 1970", name);
		respond_error(resp, 400, msg, name);
		return -1;
	}
	return 0;
}

struct rows {
	json_t *arr;
	struct api_knowledge *k;
	int failed;
};

static int
rows_add(struct rows *rows, json_t *o)
{
	if (!o || json_array_append_new(rows->arr, o) < 0) {
		rows->failed = 1;
		return 1; /* stops the walk */
	}
	return 0;
}

static void
set_counters(json_t *o, uint64_t flows, uint64_t packets, uint64_t up, uint64_t down,
	     int64_t first, int64_t last)
{
	int known = flows || packets || up || down || first || last;
	json_object_set_new(o, "flows", jnum(flows));
	json_object_set_new(o, "packets", jnum(packets));
	json_object_set_new(o, "bytes_up", jnum(up));
	json_object_set_new(o, "bytes_down", jnum(down));
	json_object_set_new(o, "first_seen", jtime(first, known));
	json_object_set_new(o, "last_seen", jtime(last, known));
}

static int
app_row(void *arg, const struct store_app_row *r)
{
	struct rows *rows = arg;
	const struct sig_app *a = r->app ? sig_db_find_app(rows->k->sigs, r->app) : NULL;
	json_t *o = json_object();
	if (!o)
		return rows_add(rows, NULL);
	json_object_set_new(o, "app", jstr(r->app));
	json_object_set_new(o, "name", jstr(a ? a->name : NULL));
	json_object_set_new(o, "vendor", jstr(a ? a->vendor : NULL));
	json_object_set_new(o, "category", jstr(r->category));
	json_object_set_new(o, "status",
			    r->app ? jstr(catalog_status_name(catalog_status_of(rows->k->cat, r->app)))
				   : json_null());
	json_object_set_new(o, "users", jnum(r->users));
	set_counters(o, r->flows, r->packets, r->bytes_up, r->bytes_down, r->first_seen,
		     r->last_seen);
	return rows_add(rows, o);
}

static int
category_row(void *arg, const struct store_category_row *r)
{
	struct rows *rows = arg;
	const struct sig_category *c =
		r->category ? sig_db_find_category(rows->k->sigs, r->category) : NULL;
	json_t *o = json_object(), *sanctioned = json_array();
	if (!o || !sanctioned) {
		json_decref(o);
		json_decref(sanctioned);
		return rows_add(rows, NULL);
	}
	for (size_t i = 0; r->category && i < catalog_count(rows->k->cat); i++) {
		const struct catalog_entry *e = catalog_entry_at(rows->k->cat, i);
		if (catalog_covers(e, rows->k->sigs, r->category))
			json_array_append_new(sanctioned, jstr(e->app));
	}
	json_object_set_new(o, "category", jstr(r->category));
	json_object_set_new(o, "name", jstr(c ? c->name : NULL));
	json_object_set_new(o, "users", jnum(r->users));
	json_object_set_new(o, "apps", jnum(r->apps));
	json_object_set_new(o, "sanctioned_apps", sanctioned);
	set_counters(o, r->flows, r->packets, r->bytes_up, r->bytes_down, r->first_seen,
		     r->last_seen);
	return rows_add(rows, o);
}

static int
client_row(void *arg, const struct store_client_row *r)
{
	struct rows *rows = arg;
	json_t *o = json_object();
	if (!o)
		return rows_add(rows, NULL);
	json_object_set_new(o, "client", jstr(r->client && *r->client ? r->client : NULL));
	json_object_set_new(o, "apps", jnum(r->apps));
	set_counters(o, r->flows, r->packets, r->bytes_up, r->bytes_down, r->first_seen,
		     r->last_seen);
	return rows_add(rows, o);
}

/* "asn", "org", "country": null each when unknown. */
static void
set_network(json_t *o, uint32_t asn, const char *as_org, const char *country)
{
	json_object_set_new(o, "asn", asn ? jnum(asn) : json_null());
	json_object_set_new(o, "org", jstr(as_org));
	json_object_set_new(o, "country", jstr(country));
}

static int
domain_row(void *arg, const struct store_domain_row *r)
{
	struct rows *rows = arg;
	json_t *o = json_object();
	if (!o)
		return rows_add(rows, NULL);
	json_object_set_new(o, "domain", jstr(r->domain));
	json_object_set_new(o, "users", jnum(r->users));
	json_object_set_new(o, "hosts", jnum(r->hosts));
	set_counters(o, r->flows, r->packets, r->bytes_up, r->bytes_down, r->first_seen,
		     r->last_seen);
	if (r->asn || r->as_org || r->country) {
		json_t *net = json_object();
		if (!net) {
			json_decref(o);
			return rows_add(rows, NULL);
		}
		set_network(net, r->asn, r->as_org, r->country);
		json_object_set_new(o, "network", net);
	} else {
		json_object_set_new(o, "network", json_null());
	}
	return rows_add(rows, o);
}

static int
network_row(void *arg, const struct store_network_row *r)
{
	struct rows *rows = arg;
	json_t *o = json_object();
	if (!o)
		return rows_add(rows, NULL);
	set_network(o, r->asn, r->as_org, r->country);
	json_object_set_new(o, "users", jnum(r->users));
	json_object_set_new(o, "apps", jnum(r->apps));
	set_counters(o, r->flows, r->packets, r->bytes_up, r->bytes_down, r->first_seen,
		     r->last_seen);
	return rows_add(rows, o);
}

static void
handle_query(struct api *a, struct http_request *req, enum route_id id,
	     struct http_response *resp)
{
	int64_t from, to;
	char err[256];
	struct pooled *p = NULL;
	json_t *doc = NULL;
	struct rows rows = { NULL, NULL, 0 };
	const char *key = NULL;
	int rc;

	if (parse_bound(req, "from", 0, &from, resp) < 0 || parse_bound(req, "to", 1, &to, resp) < 0)
		return;
	if (from && to && from >= to) {
		respond_error(resp, 400, "to: not after from", "to");
		return;
	}
	p = pool_acquire(a, err, sizeof(err));
	if (!p) {
		log_warnx("store: %s", err);
		respond_error(resp, 503, "the store is unavailable; retry later", NULL);
		return;
	}
	/* the handle's knowledge: the signatures its rows were mapped with */
	rows.k = p->k;
	doc = json_object();
	if (!doc)
		goto oom;
	json_object_set_new(doc, "from", jtime(from, from != 0));
	json_object_set_new(doc, "to", jtime(to, to != 0));
	if (id == R_TOTALS) {
		struct store_totals t;
		if (store_get_totals(p->st, from, to, &t) < 0)
			goto store_failed;
		json_object_set_new(doc, "records", jnum(t.records));
		set_counters(doc, t.flows, t.packets, t.bytes_up, t.bytes_down, t.first_seen,
			     t.last_seen);
		if (!t.records) {
			json_object_set_new(doc, "first_seen", json_null());
			json_object_set_new(doc, "last_seen", json_null());
		}
		goto done;
	}
	rows.arr = json_array();
	if (!rows.arr)
		goto oom;
	switch (id) {
	case R_APPS:
		key = "apps";
		rc = store_apps(p->st, from, to, app_row, &rows);
		break;
	case R_CATEGORIES:
		key = "categories";
		rc = store_categories(p->st, from, to, category_row, &rows);
		break;
	case R_CLIENTS:
		key = "clients";
		rc = store_clients(p->st, from, to, client_row, &rows);
		break;
	case R_NETWORKS:
		key = "networks";
		rc = store_networks(p->st, from, to, network_row, &rows);
		break;
	default:
		key = "domains";
		rc = store_unknown_domains(p->st, from, to, domain_row, &rows);
		break;
	}
	if (rows.failed)
		goto oom;
	if (rc < 0)
		goto store_failed;
	json_object_set_new(doc, key, rows.arr);
	rows.arr = NULL;
done:
	pool_release(a, p);
	respond_json(resp, 200, doc);
	return;
store_failed:
	log_warnx("store: %s: %s", http_request_path(req), store_error(p->st));
	pool_release(a, p);
	json_decref(rows.arr);
	json_decref(doc);
	respond_error(resp, 503, "the store failed; retry later", NULL);
	return;
oom:
	pool_release(a, p);
	json_decref(rows.arr);
	json_decref(doc);
	respond_error(resp, 500, "out of memory", NULL);
}

/* Whether an If-None-Match value names etag (weak comparison, as RFC 9110
 * 13.1.2 asks for this header). */
static int
etag_matches(const char *header, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = header;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		size_t n = strcspn(p, ", \t");
		if (n == elen && strncmp(p, etag, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

static void
handle_signatures(struct api *a, struct http_request *req, struct http_response *resp)
{
	struct api_knowledge *k = current_knowledge(a);
	const char *inm = http_request_header(req, "If-None-Match");

	snprintf(resp->etag, sizeof(resp->etag), "%s", k->etag);
	if (inm && etag_matches(inm, k->etag)) {
		resp->status = 304;
	} else {
		resp->status = 200;
		resp->body = malloc(k->sigdoc_len + 1);
		if (resp->body) {
			memcpy(resp->body, k->sigdoc, k->sigdoc_len + 1);
			resp->body_len = k->sigdoc_len;
		} else {
			resp->etag[0] = '\0';
			respond_error(resp, 500, "out of memory", NULL);
		}
	}
	api_knowledge_release(k);
}

static void
handle_healthz(struct api *a, struct http_response *resp)
{
	char err[256];
	struct pooled *p = pool_acquire(a, err, sizeof(err));
	json_t *doc = json_object();

	if (p) {
		pool_release(a, p);
		json_object_set_new(doc, "status", json_string("ok"));
		respond_json(resp, 200, doc);
		return;
	}
	log_warnx("store: %s", err);
	json_object_set_new(doc, "status", json_string("unavailable"));
	json_object_set_new(doc, "error", json_string("the store cannot be opened"));
	respond_json(resp, 503, doc);
}

/* ---- ingest: the writer and its queue ---- */

/*
 * Group commit. A request thread parses and validates its batch, queues it
 * and parks its request (http_request_defer), so that its worker thread
 * goes on with other connections. The writer takes what is queued (up to a
 * group's bounds), stores it with store_ingest_group in one transaction
 * and one fsync, and only then answers each request: a batch is
 * acknowledged once durable and never before. The roll-up, which no batch
 * should wait for, is folded in small steps while the queue is empty.
 */

/* A group: enough batches that one commit serves many, few enough that
 * the first does not wait long for the last. */
#define GROUP_BATCHES_MAX 64
#define GROUP_RECORDS_MAX 50000
/* The queue: a few seconds of work. A batch that finds it full waits for
 * room (backpressure: its worker thread reads nothing else meanwhile) and
 * after QUEUE_WAIT_SEC is refused, 503 with a Retry-After. */
#define QUEUE_BATCHES_MAX 256
#define QUEUE_RECORDS_MAX 250000
#define QUEUE_WAIT_SEC 5
#define RETRY_AFTER_SEC 5
/* The roll-up is folded ROLLUP_STEP_ROWS raw rows at a time (a batch that
 * comes meanwhile waits for one step at most) once ROLLUP_IDLE_ROWS wait
 * and no batch came for ROLLUP_QUIET_MS: a gap between two batches is no
 * time for it. Under a load that never pauses, raw rows wait until there
 * are ROLLUP_BUSY_ROWS; from then on each group's rows are folded before
 * the next group, so that they do not pile up for ever. */
/* The writer's page cache: a roll-up step dirties a page per row when rows
 * do not fold together, and a page that does not stay in the cache until
 * the commit is written to the WAL twice. */
#define WRITER_CACHE_KIB 65536
/* The checkpointer is asked to copy the WAL to the database once it holds
 * CHECKPOINT_PAGES (SQLite's own default for automatic checkpoints). Past
 * CHECKPOINT_PAGES_MAX (256 MiB) the writer copies it itself: the WAL
 * starts afresh only after a checkpoint that copied all of it, which one
 * running beside a busy writer may never do. */
#define CHECKPOINT_PAGES 1000
#define CHECKPOINT_PAGES_MAX 65536
#define ROLLUP_STEP_ROWS 5000
#define ROLLUP_IDLE_ROWS 5000
#define ROLLUP_BUSY_ROWS 500000
#define ROLLUP_QUIET_MS 50

enum { QUEUE_OK = 0, QUEUE_CLOSED = -1, QUEUE_FULL = -2 };

/* A parsed batch on its way to the store. */
struct ingest_job {
	struct ingest_job *next;
	struct http_request *req; /* answered by the writer */
	struct batch *b;          /* holds the records */
	struct store_batch sb;    /* agent: the request's token name */
	char error[256];          /* why the store failed it */
};

static void
job_free(struct ingest_job *job)
{
	batch_free(job->b);
	free(job);
}

/* Queues job: QUEUE_OK (the writer owns it now), QUEUE_CLOSED (stopping),
 * or QUEUE_FULL (no room within QUEUE_WAIT_SEC). */
static int
queue_push(struct ingest_queue *q, struct ingest_job *job)
{
	struct timespec deadline;
	int rc = QUEUE_OK;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += QUEUE_WAIT_SEC;
	pthread_mutex_lock(&q->lock);
	/* an empty queue takes any batch, however large */
	while (!q->closed && q->n_jobs > 0 &&
	       (q->n_jobs >= QUEUE_BATCHES_MAX || q->n_records + job->sb.n > QUEUE_RECORDS_MAX)) {
		if (pthread_cond_timedwait(&q->room, &q->lock, &deadline) == ETIMEDOUT &&
		    q->n_jobs > 0) {
			rc = QUEUE_FULL;
			goto out;
		}
	}
	if (q->closed) {
		rc = QUEUE_CLOSED;
		goto out;
	}
	job->next = NULL;
	if (q->tail)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
	q->n_jobs++;
	q->n_records += job->sb.n;
	clock_gettime(CLOCK_MONOTONIC, &q->last_push);
	pthread_cond_signal(&q->work);
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Takes the oldest jobs, at least one, within a group's bounds. Under
 * q->lock, with the queue not empty. */
static struct ingest_job *
queue_take_group(struct ingest_queue *q, size_t *n_jobs)
{
	struct ingest_job *first = q->head, *last = NULL;
	size_t n = 0, n_records = 0;

	for (struct ingest_job *j = q->head; j && n < GROUP_BATCHES_MAX; j = j->next) {
		if (n > 0 && n_records + j->sb.n > GROUP_RECORDS_MAX)
			break;
		n++;
		n_records += j->sb.n;
		last = j;
	}
	q->head = last->next;
	if (!q->head)
		q->tail = NULL;
	last->next = NULL;
	q->n_jobs -= n;
	q->n_records -= n_records;
	pthread_cond_broadcast(&q->room);
	*n_jobs = n;
	return first;
}

/* Answers a job's request and frees the job. The writer's thread. */
static void
job_answer(struct ingest_job *job, enum store_ingest_result r)
{
	struct http_response resp;
	json_t *doc;

	memset(&resp, 0, sizeof(resp));
	/* logged before the answer: the agent name lives in the request */
	if (r == STORE_FAILED) {
		log_warnx("store: batch %s from agent \"%s\": %s", job->sb.batch_id, job->sb.agent,
			  job->error);
		respond_error(&resp, 503, "the store failed; retry later", NULL);
		resp.retry_after = RETRY_AFTER_SEC;
	} else {
		if (r == STORE_STORED)
			log_info("batch %s from agent \"%s\": %zu records stored", job->sb.batch_id,
				 job->sb.agent, job->sb.n);
		else
			log_info("batch %s from agent \"%s\": a duplicate, nothing changed",
				 job->sb.batch_id, job->sb.agent);
		doc = json_object();
		if (doc) {
			json_object_set_new(doc, "status",
					    json_string(r == STORE_STORED ? "stored" : "duplicate"));
			json_object_set_new(doc, "batch_id", json_string(job->sb.batch_id));
			if (r == STORE_STORED)
				json_object_set_new(doc, "records", json_integer((json_int_t)job->sb.n));
		}
		respond_json(&resp, 200, doc);
	}
	http_request_answer(job->req, &resp);
	job_free(job);
}

/* After a commit of the writer: a checkpoint when the WAL has grown. */
static void
writer_committed(struct api *a)
{
	struct ingest_queue *q = &a->q;
	int64_t pages = store_wal_pages(q->w->st);

	if (pages >= CHECKPOINT_PAGES_MAX) {
		if (store_checkpoint(q->w->st) < 0)
			log_warnx("store: %s", store_error(q->w->st));
	} else if (pages >= CHECKPOINT_PAGES) {
		pthread_mutex_lock(&q->lock);
		q->ckpt_wanted = 1;
		pthread_cond_signal(&q->ckpt_work);
		pthread_mutex_unlock(&q->lock);
	}
}

static void *
checkpointer_main(void *arg)
{
	struct ingest_queue *q = arg;

	pthread_setname_np(pthread_self(), "store-ckpt");
	pthread_mutex_lock(&q->lock);
	while (!q->stop || q->ckpt_wanted) {
		if (!q->ckpt_wanted) {
			pthread_cond_wait(&q->ckpt_work, &q->lock);
			continue;
		}
		q->ckpt_wanted = 0;
		pthread_mutex_unlock(&q->lock);
		if (store_checkpoint(q->ckpt_st) < 0)
			log_warnx("store: %s", store_error(q->ckpt_st));
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* Stores a group in one transaction, then answers each of its requests. */
static void
writer_store_group(struct api *a, struct ingest_job *group, size_t n)
{
	struct store_batch sbs[GROUP_BATCHES_MAX];
	enum store_ingest_result results[GROUP_BATCHES_MAX];
	struct ingest_job *j, *next;
	size_t i = 0;

	for (j = group; j; j = j->next)
		sbs[i++] = j->sb;
	/* new signatures since the last group map the keys of this one */
	pooled_update(a->q.w, current_knowledge(a));
	store_ingest_group(a->q.w->st, sbs, n, results);
	for (i = 0, j = group; j; j = next, i++) {
		next = j->next;
		job_answer(j, results[i]);
	}
	writer_committed(a);
}

/* One step of the roll-up. -1 when it failed (logged). */
static int
writer_rollup_step(struct api *a)
{
	long n_rows = store_rollup_some(a->q.w->st, ROLLUP_STEP_ROWS);

	writer_committed(a);
	if (n_rows < 0) {
		log_warnx("store: %s (retried later; queries are exact meanwhile)",
			  store_error(a->q.w->st));
		return -1;
	}
	return 0;
}

static void *
writer_main(void *arg)
{
	struct api *a = arg;
	struct ingest_queue *q = &a->q;
	int rollup_failed = 0; /* not again before the next group */

	pthread_setname_np(pthread_self(), "store-writer"); /* for top -H, perf */
	pthread_mutex_lock(&q->lock);
	for (;;) {
		if (!q->head) {
			if (q->stop)
				break;
			if (q->new_knowledge) {
				/* let go of the old signatures now, not at the
				 * next batch */
				q->new_knowledge = 0;
				pthread_mutex_unlock(&q->lock);
				pooled_update(q->w, current_knowledge(a));
				pthread_mutex_lock(&q->lock);
				continue;
			}
			if (!rollup_failed &&
			    store_rollup_pending(q->w->st) >= ROLLUP_IDLE_ROWS) {
				/* only once no batch came for a while: a gap
				 * between two batches is no time for it */
				struct timespec now, quiet = q->last_push;
				quiet.tv_nsec += ROLLUP_QUIET_MS * 1000000L;
				quiet.tv_sec += quiet.tv_nsec / 1000000000L;
				quiet.tv_nsec %= 1000000000L;
				clock_gettime(CLOCK_MONOTONIC, &now);
				if (now.tv_sec > quiet.tv_sec ||
				    (now.tv_sec == quiet.tv_sec && now.tv_nsec >= quiet.tv_nsec)) {
					pthread_mutex_unlock(&q->lock);
					rollup_failed = writer_rollup_step(a) < 0;
					pthread_mutex_lock(&q->lock);
				} else {
					pthread_cond_timedwait(&q->work, &q->lock, &quiet);
				}
				continue;
			}
			pthread_cond_wait(&q->work, &q->lock);
			continue;
		}
		size_t n;
		struct ingest_job *group = queue_take_group(q, &n);
		pthread_mutex_unlock(&q->lock);
		writer_store_group(a, group, n);
		/* past the bound, the group's rows are folded before the next
		 * group: ingest slows down to what the roll-up can fold */
		rollup_failed = 0;
		while (!rollup_failed && store_rollup_pending(q->w->st) >= ROLLUP_BUSY_ROWS)
			rollup_failed = writer_rollup_step(a) < 0;
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static int
writer_start(struct api *a, char *err, size_t errlen)
{
	struct ingest_queue *q = &a->q;
	int rc;

	q->ckpt_st = store_open(a->db_path, err, errlen);
	if (!q->ckpt_st)
		return -1;
	rc = pthread_create(&q->ckpt_thread, NULL, checkpointer_main, q);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the checkpoint thread: %s", strerror(rc));
		return -1;
	}
	q->ckpt_running = 1;
	q->w = pool_acquire(a, err, errlen);
	if (!q->w)
		return -1;
	if (store_set_cache_kib(q->w->st, WRITER_CACHE_KIB) < 0)
		log_warnx("store: %s", store_error(q->w->st));
	store_manual_checkpoints(q->w->st);
	rc = pthread_create(&q->thread, NULL, writer_main, a);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the writer thread: %s", strerror(rc));
		return -1;
	}
	q->running = 1;
	return 0;
}

/* Refuses new batches, lets the writer store and answer the queued ones,
 * then stops it and the checkpointer. The writer's handle goes back to the
 * pool. Also undoes a writer_start that failed half-way. */
static void
writer_stop(struct api *a)
{
	struct ingest_queue *q = &a->q;

	pthread_mutex_lock(&q->lock);
	q->closed = 1;
	q->stop = 1;
	pthread_cond_broadcast(&q->work);
	pthread_cond_broadcast(&q->room);
	pthread_cond_broadcast(&q->ckpt_work);
	pthread_mutex_unlock(&q->lock);
	if (q->running)
		pthread_join(q->thread, NULL);
	q->running = 0;
	if (q->ckpt_running)
		pthread_join(q->ckpt_thread, NULL);
	q->ckpt_running = 0;
	store_close(q->ckpt_st);
	q->ckpt_st = NULL;
	if (q->w)
		pool_release(a, q->w);
	q->w = NULL;
}

void
api_quiesce(struct api *a)
{
	pthread_mutex_lock(&a->q.lock);
	a->q.closed = 1;
	pthread_cond_broadcast(&a->q.room);
	pthread_mutex_unlock(&a->q.lock);
}

static void
handle_batch(struct api *a, struct http_request *req, const struct req_state *st,
	     struct http_response *resp)
{
	struct batch_error berr;
	struct batch *b;
	struct ingest_job *job;
	const void *body;
	size_t len, n;

	body = http_request_body(req, &len);
	b = batch_parse(body, len, http_request_header(req, "Content-Encoding"),
			http_request_header(req, "Content-Type"), &berr);
	if (!b) {
		log_warnx("%s: batch from agent \"%s\" refused (%d): %s%s%s", http_request_peer(req),
			  st->token_name, berr.status, berr.where, berr.where[0] ? ": " : "",
			  berr.error);
		respond_error(resp, berr.status, berr.error, berr.where);
		return;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		batch_free(b);
		respond_error(resp, 500, "out of memory", NULL);
		return;
	}
	const struct usage_record *recs = batch_records(b, &n);
	job->req = req;
	job->b = b;
	job->sb = (struct store_batch){ batch_id(b), st->token_name, recs, n, job->error,
					sizeof(job->error) };
	switch (queue_push(&a->q, job)) {
	case QUEUE_OK:
		/* the writer answers once the batch's group is committed */
		http_request_defer(req);
		return;
	case QUEUE_CLOSED:
		log_info("batch %s from agent \"%s\": refused, the collector is stopping (503)",
			 batch_id(b), st->token_name);
		respond_error(resp, 503, "the collector is stopping; retry later", NULL);
		break;
	default:
		log_warnx("batch %s from agent \"%s\": refused, the store's queue stayed full for "
			  "%d s (503)", batch_id(b), st->token_name, QUEUE_WAIT_SEC);
		respond_error(resp, 503, "the collector is overloaded; retry later", NULL);
		break;
	}
	resp->retry_after = RETRY_AFTER_SEC;
	job_free(job);
}

/* ---- the HTTP callbacks ---- */

static int
api_begin(void *arg, struct http_request *req, struct http_response *resp)
{
	struct api *a = arg;
	const struct route *route = route_find(http_request_path(req));
	struct req_state *st;

	/* the dashboard's pages: sessions of their own, no bearer token */
	if (dashboard_owns(http_request_path(req)))
		return dashboard_begin(a->dash, req, resp);
	if (!route) {
		respond_error(resp, 404, "no such endpoint", NULL);
		return 1;
	}
	if (!method_allowed(route, http_request_method(req))) {
		resp->allow = strcmp(route->method, "GET") == 0 ? "GET, HEAD" : route->method;
		respond_error(resp, 405, "method not allowed", NULL);
		return 1;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		respond_error(resp, 500, "out of memory", NULL);
		return 1;
	}
	st->route = route;
	http_request_set_state(req, st, free);
	if (route->roles && !authenticate(a, req, route, st, resp))
		return 1;

	switch (route->id) {
	case R_BATCHES: {
		struct batch_error berr;
		if (batch_check_headers(http_request_header(req, "Content-Encoding"),
					http_request_header(req, "Content-Type"), &berr) < 0) {
			respond_error(resp, berr.status, berr.error, berr.where);
			return 1;
		}
		return 0; /* read the body */
	}
	case R_HEALTHZ:
		handle_healthz(a, resp);
		return 1;
	case R_SIGNATURES:
		handle_signatures(a, req, resp);
		return 1;
	default:
		handle_query(a, req, route->id, resp);
		return 1;
	}
}

static void
api_handle(void *arg, struct http_request *req, struct http_response *resp)
{
	struct api *a = arg;
	const struct req_state *st = http_request_state(req);

	if (dashboard_owns(http_request_path(req))) {
		dashboard_handle(a->dash, req, resp); /* its log-in and log-out forms */
		return;
	}
	/* only routes that read a body come here */
	if (!st || st->route->id != R_BATCHES) {
		respond_error(resp, 500, "internal error", NULL);
		return;
	}
	handle_batch(a, req, st, resp);
}

void
api_http_handlers(struct api *a, struct http_handlers *h)
{
	h->begin = api_begin;
	h->handle = api_handle;
	h->arg = a;
}
