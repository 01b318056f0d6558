/*
 * The SaaS signature database: apps (slug, name, vendor, category, the
 * domains, address ranges and nDPI protocols that identify them) loaded
 * from the YAML files of signatures/, and the matcher the agent and the
 * collector share: longest domain suffix, then address range, then nDPI.
 */
#ifndef SHADOWMAP_SIG_H
#define SHADOWMAP_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/addr.h"

typedef struct sig_db sig_db;

struct sig_range {
	struct sm_addr base; /* masked to prefix_len */
	uint8_t prefix_len;  /* 0..128, counted on the IPv4-mapped form */
};

struct sig_category {
	char *slug;
	char *name;
	char *description;
};

struct sig_app {
	size_t index; /* position in the database, stable until it is freed */
	char *slug;
	char *name;
	char *vendor;
	char *category; /* a category slug */
	char **domains;
	size_t n_domains;
	struct sig_range *ranges;
	size_t n_ranges;
	char **ndpi; /* nDPI protocol names, e.g. "Slack" */
	size_t n_ndpi;
	char *file; /* where it was defined */
	int line;
};

sig_db *sig_db_new(void);
void sig_db_free(sig_db *db);

/*
 * Loads a YAML file, or every *.yaml / *.yml file of a directory and its
 * subdirectories in name order. Returns 0, or -1 with a one-line
 * "file:line: reason" in err. Files loaded later may add apps and
 * categories; a slug defined twice is an error. (A problem with a file as a
 * whole, such as a missing file, is "file: reason".) After an error the
 * database holds what loaded before it: free it. Schema: signatures/README.md.
 */
int sig_db_load_path(sig_db *db, const char *path, char *err, size_t errlen);

/*
 * Checks cross references (every app's category exists, no domain claimed
 * by two apps, no nDPI protocol mapped to two apps) and builds the indexes.
 * Must be called once after loading and before any match (until then, and
 * after a failed finalize, nothing matches). Returns 0, or -1 with
 * "file:line: reason" in err. Afterwards the database is read-only: the
 * lookups below allocate nothing and may run in several threads at once.
 */
int sig_db_finalize(sig_db *db, char *err, size_t errlen);

/* The default signatures directory: $SHADOWMAP_SIGNATURES, the source tree's
 * signatures/ when it exists, else the installed copy. Static storage. */
const char *sig_default_dir(void);

size_t sig_db_app_count(const sig_db *db);
const struct sig_app *sig_db_app(const sig_db *db, size_t index);
const struct sig_app *sig_db_find_app(const sig_db *db, const char *slug);
size_t sig_db_category_count(const sig_db *db);
const struct sig_category *sig_db_category(const sig_db *db, size_t index);
const struct sig_category *sig_db_find_category(const sig_db *db, const char *slug);

/*
 * The app whose domain is the longest suffix of name on a label boundary
 * ("files.slack-edge.com" matches "slack-edge.com", "notslack.com" does
 * not match "slack.com"). name must be normalised (domain_normalize).
 * *matched (may be NULL) gets the domain that matched, owned by db.
 * Returns NULL when nothing matches.
 */
const struct sig_app *sig_match_name(const sig_db *db, const char *name,
				     const char **matched);
/* The app whose range holds addr, the most specific range winning. */
const struct sig_app *sig_match_addr(const sig_db *db, const struct sm_addr *addr);
/* The app an nDPI protocol name ("Slack", "Zoom") means, exact name. */
const struct sig_app *sig_match_ndpi(const sig_db *db, const char *proto_name);

#endif
