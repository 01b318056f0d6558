/*
 * Private to the signature database: the records behind the public structs
 * of sig.h and the calls through which the YAML loader (sig_load.c) hands
 * them to the database and its indexes (sig.c).
 */
#ifndef SHADOWMAP_SIG_INT_H
#define SHADOWMAP_SIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/sig.h"

/* Limits that keep a hostile or broken signature file from using unbounded
 * memory; real content is far below each of them. */
#define SIG_FILE_MAX (8u << 20)   /* bytes per YAML file */
#define SIG_APPS_MAX 100000u      /* apps (and categories) per database */
#define SIG_ITEMS_MAX 20000u      /* domains, ranges or nDPI names per app */
#define SIG_TEXT_MAX 4096u        /* bytes of one text field */
#define SIG_SLUG_MAX 64u
#define SIG_NDPI_MAX 63u

/* Where an entry was written: lists of one app may come from several files
 * once local overrides add to them. file is owned by the database. */
struct sig_pos {
	const char *file;
	int line;
};

/*
 * One app as loaded. The public part comes first so that sig.h can hand out
 * &rec->pub; everything else stays here, out of the public ABI. The
 * positions are kept beside each list so that finalize can point at the
 * entry that conflicts, in whichever file it came from.
 */
struct sig_app_rec {
	struct sig_app pub;
	struct sig_pos category_pos;
	struct sig_pos *domain_pos;
	struct sig_pos *exclude_pos;
	struct sig_pos *range_pos;
	struct sig_pos *ndpi_pos;
	struct sig_pos fact_pos[SIG_FACT_COUNT];
	struct sig_pos override_pos; /* the local override entry; file NULL: none */
	char *notes; /* free text, not used for matching */
};

struct sig_cat_rec {
	struct sig_category pub;
	const char *file; /* owned by the database */
	int line;
};

/* Frees a record the database does not own (one that was never added). */
void sig_app_rec_free(struct sig_app_rec *rec);
void sig_cat_rec_free(struct sig_cat_rec *rec);

/* A copy of path that lives as long as db, for the file fields of records.
 * Returns NULL when memory runs out. */
const char *sig_db_intern_file(sig_db *db, const char *path);

/*
 * Add a record; the database takes ownership on success (0). Returns -1
 * when the slug is already taken (*dup gets the first definition) or when
 * memory or SIG_APPS_MAX runs out (*dup is NULL); the caller still owns
 * rec then. rec->pub.file and line must be set.
 */
int sig_db_add_app(sig_db *db, struct sig_app_rec *rec, const struct sig_app_rec **dup);
int sig_db_add_category(sig_db *db, struct sig_cat_rec *rec,
			const struct sig_cat_rec **dup);

int sig_db_is_finalized(const sig_db *db);

/* The app of that slug with its record, or NULL. */
struct sig_app_rec *sig_db_find_app_rec(sig_db *db, const char *slug);

/* The app (other than except) that lists domain, and the domain's index in
 * its list; NULL when none does. A linear scan: for take_domains only. */
struct sig_app_rec *sig_db_domain_owner(sig_db *db, const char *domain,
					const struct sig_app_rec *except, size_t *at);

/* Removes domain number at from rec's list (a local app takes it). */
void sig_app_rec_drop_domain(struct sig_app_rec *rec, size_t at);

/* Frees what a fact holds and zeroes it (back to unknown). */
void sig_fact_clear(struct sig_fact *fact);

/* Local files come after every built-in one: set by the first
 * sig_db_load_overrides, after which sig_db_load_path refuses. */
void sig_db_start_local(sig_db *db);
int sig_db_local_started(const sig_db *db);

/*
 * A problem at file:line (line <= 0: the file as a whole). Outside lint
 * mode it is written into err, as sig_errf. In lint mode it goes to the
 * handler and is counted, and err keeps the first one. Always returns -1.
 */
int sig_db_problem(sig_db *db, char *err, size_t errlen, const char *file, int line,
		   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The same for a problem already formatted "file:line: reason". */
int sig_db_report_line(sig_db *db, char *err, size_t errlen, const char *problem);
int sig_db_linting(const sig_db *db);

/* Vocabularies of the risk facts, shared by the loader and risk.c. */
/* 1 when code is an assigned ISO 3166-1 alpha-2 code, upper case ("DE"). */
int sig_country_valid(const char *code);
/* 1 when the upper- or lower-case code is an EU member state ("de", "FR"). */
int sig_country_in_eu(const char *code);
/* Why text is not a data_residency region (eu, or a lower-case country
 * code), or NULL when it is one. */
const char *sig_region_problem(const char *text);
/* 1 when name is a known certification ("soc2", "iso27001"). */
int sig_certification_valid(const char *name);
/* The certification names, comma-separated, for messages. */
const char *sig_certification_names(void);

/* Writes "file:line: message" (or "file: message" when line <= 0) into err,
 * which may be NULL. Always returns -1, for "return sig_errf(...)". */
int sig_errf(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * The cache of parsed files (sig_cache.c), set with sig_db_set_cache_dir.
 * sig_cache_open makes dir (0700) if missing and refuses one that others
 * could write: NULL with "dir: reason" in err. get and put may run in
 * several threads at once; note_used and prune in one. get gives the tree
 * of an entry (caller frees with ynode_free) or -1; put writes one,
 * atomically, and failing costs nothing but the next parse. prune removes
 * the entries no note_used named, after a load that went well.
 */
struct sig_cache;
struct ynode;
struct sig_cache *sig_cache_open(const char *dir, char *err, size_t errlen);
void sig_cache_free(struct sig_cache *c);
uint64_t sig_cache_key(const void *data, size_t len);
int sig_cache_get(struct sig_cache *c, uint64_t key, struct ynode **root);
void sig_cache_put(struct sig_cache *c, uint64_t key, const struct ynode *root);
int sig_cache_note_used(struct sig_cache *c, uint64_t key);
void sig_cache_prune(struct sig_cache *c);

/* The database's cache, or NULL: none set, or lint mode. */
struct sig_cache *sig_db_cache(sig_db *db);

#endif
