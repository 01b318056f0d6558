/*
 * The collector's API (docs/collector.md): routing, tokens and roles, the
 * ingest of batches and the read-only queries, on top of http.h. It also
 * holds what the collector knows (signatures, catalog, and the signature
 * document served to agents) as one reference-counted "knowledge" that a
 * reload replaces whole, so that a request never sees half of an update.
 */
#ifndef SHADOWMAP_API_H
#define SHADOWMAP_API_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/sig.h"

#include "http.h"

struct api;
struct api_knowledge;

/*
 * Loads signatures (a directory or file; NULL: sig_default_dir()), then the
 * organisation's local signatures (a directory or file; NULL: none), and
 * the catalog (NULL: an empty one), the risk weights (the risk_weights:
 * mapping of a YAML file; NULL: the built-in ones), and builds the
 * signature document (of sig_path's files: local ones are not served).
 * NULL with "file:line: reason" in err on failure. The caller owns one
 * reference.
 */
struct api_knowledge *api_knowledge_load(const char *sig_path, const char *local_path,
					 const char *catalog_path, const char *weights_path,
					 char *err, size_t errlen);
void api_knowledge_release(struct api_knowledge *k);
/* For log lines: "410 apps, 30 categories, 9 catalog entries". */
void api_knowledge_describe(const struct api_knowledge *k, char *out, size_t len);

/*
 * Opens the store at db_path (one handle now, so that a database that
 * cannot be opened fails at start; more per worker thread as they come)
 * and maps stored usage with k's signatures. Takes over the reference to k
 * (also on failure). db_max_bytes caps the database (store_set_max_bytes; 0
 * for no cap). NULL with a reason in err.
 */
struct api *api_new(const char *db_path, int64_t db_max_bytes, struct api_knowledge *k,
		    char *err, size_t errlen);
/*
 * Installs new knowledge (taking over the reference): stored usage is
 * re-mapped with its signatures, then requests see it. The previous one is
 * released when its last request ends. 0, or -1 when the re-map failed
 * (the new knowledge is in force all the same; err says what failed).
 */
int api_set_knowledge(struct api *a, struct api_knowledge *k, char *err, size_t errlen);
/*
 * Stops taking batches: from now on they are refused with a 503 and a
 * Retry-After, while those already queued are still stored and answered.
 * For a clean stop, before http_stop.
 */
void api_quiesce(struct api *a);
/*
 * For the dashboard (dashboard.c): calls fn with a pooled store handle and
 * the signatures, catalog and risk weights it maps usage with, all valid during the call
 * only. Returns what fn returns, or -1 with err when no store handle could
 * be had.
 */
struct catalog;
struct store;
struct risk_weights;
int api_with_store(struct api *a,
		   int (*fn)(void *arg, struct store *st, const sig_db *sigs,
			     const struct catalog *cat, const struct risk_weights *weights),
		   void *arg, char *err, size_t errlen);
/* Fills the handlers for http_start. */
void api_http_handlers(struct api *a, struct http_handlers *h);
/* Stores and answers the batches still queued, stops the writer and
 * closes every store handle. Call after the HTTP server stopped. */
void api_free(struct api *a);

#endif
