/*
 * The organisation's sanctioned service catalog: which apps are
 * sanctioned, tolerated, unsanctioned or banned, which categories each
 * sanctioned service covers, who owns it and what to use instead. Loaded
 * from one YAML file (schema in signatures/CATALOG.md), strictly, with
 * FILE:LINE errors. An app the catalog does not list is "not in catalog".
 *
 * A loaded catalog is immutable: reloading builds a new one, and readers
 * swap pointers, so lookups need no lock.
 */
#ifndef SHADOWMAP_CATALOG_H
#define SHADOWMAP_CATALOG_H

#include <stddef.h>

#include "shadowmap/sig.h"

enum catalog_status {
	CATALOG_NOT_LISTED = 0, /* "not-in-catalog" */
	CATALOG_SANCTIONED,
	CATALOG_TOLERATED,
	CATALOG_UNSANCTIONED,
	CATALOG_BANNED,
};

struct catalog_entry {
	const char *app;            /* app slug (of the signatures, or the catalog's own) */
	enum catalog_status status;
	const char *const *covers;  /* category slugs a sanctioned service covers; NULL-terminated */
	const char *owner;          /* or NULL */
	const char *const *alternatives; /* approved app slugs to use instead; NULL-terminated */
	const char *notes;          /* or NULL */
	int line;                   /* where it is defined */
};

struct catalog;

/*
 * Loads path. When sigs is given, app slugs, categories and alternatives
 * are checked against it (an unknown app is an error naming the line, so a
 * typo does not silently leave an app "not in catalog"). NULL with
 * "FILE:LINE: reason" in err on failure.
 */
struct catalog *catalog_load(const char *path, const sig_db *sigs, char *err, size_t errlen);

/* An empty catalog: every app is not in catalog. */
struct catalog *catalog_empty(void);
void catalog_free(struct catalog *c);

/* The entry of an app, or NULL (not in catalog). */
const struct catalog_entry *catalog_find(const struct catalog *c, const char *app);
enum catalog_status catalog_status_of(const struct catalog *c, const char *app);

/* Whether a sanctioned entry covers category: listed in its covers, or,
 * with no covers, the app's own category in sigs (CATALOG.md). 0 for an
 * entry that is not sanctioned. */
int catalog_covers(const struct catalog_entry *e, const sig_db *sigs, const char *category);

size_t catalog_count(const struct catalog *c);
const struct catalog_entry *catalog_entry_at(const struct catalog *c, size_t i);

/* "sanctioned", "tolerated", "unsanctioned", "banned", "not-in-catalog". */
const char *catalog_status_name(enum catalog_status s);

#endif
