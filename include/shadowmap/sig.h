/*
 * The SaaS signature database: apps (slug, name, vendor, category, the
 * domains, address ranges and nDPI protocols that identify them, the risk
 * facts a security team weighs) loaded from the YAML files of signatures/
 * and from the organisation's local files, and the matcher the agent and
 * the collector share: longest domain suffix, then address range, then nDPI.
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

/*
 * Risk facts (signatures/RISK.md): what a vendor publishes about an app,
 * each with the https URL where it is published. A fact nobody has written
 * down is unknown (known == 0), which is not the same as "no".
 */
enum sig_fact_id {
	SIG_FACT_HQ_COUNTRY,		  /* country: ISO 3166-1 alpha-2 */
	SIG_FACT_SSO,			  /* list: saml, oidc */
	SIG_FACT_MFA,			  /* yes / no */
	SIG_FACT_CERTIFICATIONS,	  /* list: soc2, iso27001, ... */
	SIG_FACT_DATA_RESIDENCY,	  /* list: eu and lower-case country codes */
	SIG_FACT_TRAINS_ON_CUSTOMER_DATA, /* yes / no / opt-out */
	SIG_FACT_E2EE,			  /* yes / no */
	SIG_FACT_PUBLIC_LINK_SHARING,	  /* yes / no */
	SIG_FACT_COUNT
};

enum sig_fact_type {
	SIG_FACT_BOOL,	   /* answer: SIG_NO or SIG_YES */
	SIG_FACT_TRAINING, /* answer: SIG_NO, SIG_YES or SIG_OPT_OUT */
	SIG_FACT_COUNTRY,  /* country */
	SIG_FACT_LIST,	   /* items; "none" is a known fact with no items */
};

enum sig_answer {
	SIG_NO = 0,
	SIG_YES = 1,
	SIG_OPT_OUT = 2, /* trains_on_customer_data: yes, unless the customer opts out */
};

struct sig_fact {
	int known;	  /* 0: unknown; everything below is then empty */
	int answer;	  /* SIG_FACT_BOOL and SIG_FACT_TRAINING */
	char country[3];  /* SIG_FACT_COUNTRY: upper case, "US" */
	char **items;	  /* SIG_FACT_LIST: lower case, each once; none: n_items 0 */
	size_t n_items;
	char *source;	  /* https URL where the vendor publishes it; never NULL when known */
	char *checked;	  /* "YYYY-MM-DD" the source was read, or NULL */
	char *note;	  /* one line for people ("SSO on the Enterprise plan"), or NULL */
};

struct sig_app {
	size_t index; /* position in the database, stable until it is freed */
	char *slug;
	char *name;
	char *vendor;
	char *category; /* a category slug */
	/* Normalised domains, and label patterns such as "*-my.sharepoint.com"
	 * (a '*' at one end of the first label): not host names, so whoever
	 * exports or resolves domains tells them apart by the '*'. */
	char **domains;
	size_t n_domains;
	/* Hosts under domains that do not mean use of the app: what the vendor
	 * serves into other websites (widgets, tags, embeds), or what devices
	 * query by themselves. A name under one of them matches no app at all.
	 * Label patterns too ("*-fmip.icloud.com", a '*' as in domains). */
	char **exclude_domains;
	size_t n_exclude_domains;
	struct sig_range *ranges;
	size_t n_ranges;
	char **ndpi; /* nDPI protocol names, e.g. "Slack" */
	size_t n_ndpi;
	struct sig_fact risk[SIG_FACT_COUNT]; /* indexed by enum sig_fact_id */
	int local;	/* defined in a local file (sig_db_load_overrides) */
	int overridden; /* a local file changed it (overrides:, take_domains:) */
	char *file;	/* where it was defined */
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
 * The files sig_db_load_path reads for path, in the order it reads them:
 * path itself when it is a file, else every *.yaml and *.yml below it
 * (hidden entries and *.example.yaml skipped), whole paths in byte order.
 * For whoever must hand the same files on (the collector serves them to
 * agents). *files holds *n strings; caller frees with sig_files_free.
 * Returns 0, or -1 with "path: reason" in err.
 */
int sig_list_files(const char *path, char ***files, size_t *n, char *err, size_t errlen);
void sig_files_free(char **files, size_t n);

/*
 * Loads the organisation's local signatures, a file or a directory as
 * above, after every sig_db_load_path and before finalize. Local files may
 * add categories and apps, change built-in apps under "overrides:", and
 * move a domain from another app with "take_domains:"; a local app whose
 * slug is already taken is still an error (signatures/README.md, "Local
 * signatures"). Returns 0, or -1 with "file:line: reason" in err.
 */
int sig_db_load_overrides(sig_db *db, const char *path, char *err, size_t errlen);

/*
 * Checks cross references (every app's category exists, no domain claimed
 * by two apps, no nDPI protocol mapped to two apps) and builds the indexes.
 * Must be called once after loading and before any match (until then, and
 * after a failed finalize, nothing matches). Returns 0, or -1 with
 * "file:line: reason" in err. Afterwards the database is read-only: the
 * lookups below allocate nothing and may run in several threads at once.
 */
int sig_db_finalize(sig_db *db, char *err, size_t errlen);

/*
 * The usual sequence in one call: a new database, path loaded, then
 * local_path (NULL: none) as local signatures, finalized. Returns the
 * database (caller frees with sig_db_free), or NULL with err set.
 */
sig_db *sig_db_open(const char *path, const char *local_path, char *err, size_t errlen);

/*
 * Keeps parsed files in dir (signatures/README.md, "The parse cache"), so
 * that the loads of this database decode an unchanged file's tree instead
 * of parsing it: set it before loading. The directory is made (0700) if
 * missing; one that another user owns or others may write is not used
 * (-1 with "dir: reason" in err; the loads work without it). Nothing about
 * the cache fails a load. A successful finalize removes the entries no
 * file of this database used. NULL or "" sets none; lint mode uses none.
 */
int sig_db_set_cache_dir(sig_db *db, const char *dir, char *err, size_t errlen);

/*
 * Lint mode, for "shadowmap-agent --check-signatures": with a handler set
 * (before loading), every problem is passed to fn as one line
 * "file:line: reason" (valid during the call only) and loading goes on with
 * the next entry, key or file instead of stopping at the first; err still
 * gets the first problem. Entries with a problem are left out or kept in
 * part, so one typo is reported once, without follow-on errors where
 * possible. Finalize then fails when any problem was reported: a linted
 * database is for checking, not for matching.
 */
typedef void (*sig_problem_fn)(void *arg, const char *problem);
void sig_db_set_problem_handler(sig_db *db, sig_problem_fn fn, void *arg);
/* Problems reported so far in lint mode. */
size_t sig_db_problem_count(const sig_db *db);

/* The default signatures directory: $SHADOWMAP_SIGNATURES, the source tree's
 * signatures/ when it exists, else the installed copy. Static storage. */
const char *sig_default_dir(void);

size_t sig_db_app_count(const sig_db *db);
const struct sig_app *sig_db_app(const sig_db *db, size_t index);
const struct sig_app *sig_db_find_app(const sig_db *db, const char *slug);
size_t sig_db_category_count(const sig_db *db);
const struct sig_category *sig_db_category(const sig_db *db, size_t index);
const struct sig_category *sig_db_find_category(const sig_db *db, const char *slug);

/* A fact's YAML key ("hq_country") and its type; NULL / -1 out of range. */
const char *sig_fact_name(enum sig_fact_id id);
int sig_fact_type(enum sig_fact_id id);
/* 1 when a known list fact holds item ("saml"), else 0. */
int sig_fact_has(const struct sig_fact *fact, const char *item);

/*
 * The app whose domain is the longest suffix of name on a label boundary
 * ("files.slack-edge.com" matches "slack-edge.com", "notslack.com" does
 * not match "slack.com"); a label pattern ranks as a domain one label
 * longer than its parent ("*-my.sharepoint.com" takes
 * "contoso-my.sharepoint.com" from "sharepoint.com"). A name whose longest
 * match is an exclusion, a host or a pattern, matches nothing (and
 * *matched stays NULL). name must be normalised
 * (domain_normalize). *matched (may be NULL) gets the domain or pattern
 * that matched, owned by db. Returns NULL when nothing matches.
 */
const struct sig_app *sig_match_name(const sig_db *db, const char *name,
				     const char **matched);
/* The app whose range holds addr, the most specific range winning. */
const struct sig_app *sig_match_addr(const sig_db *db, const struct sm_addr *addr);
/* The app an nDPI protocol name ("Slack", "Zoom") means, exact name. */
const struct sig_app *sig_match_ndpi(const sig_db *db, const char *proto_name);

#endif
