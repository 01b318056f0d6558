/*
 * Private to the signature database: the records behind the public structs
 * of sig.h and the calls through which the YAML loader (sig_load.c) hands
 * them to the database and its indexes (sig.c).
 */
#ifndef SHADOWMAP_SIG_INT_H
#define SHADOWMAP_SIG_INT_H

#include <stddef.h>

#include "shadowmap/sig.h"

/* Limits that keep a hostile or broken signature file from using unbounded
 * memory; real content is far below each of them. */
#define SIG_FILE_MAX (8u << 20)   /* bytes per YAML file */
#define SIG_APPS_MAX 100000u      /* apps (and categories) per database */
#define SIG_ITEMS_MAX 20000u      /* domains, ranges or nDPI names per app */
#define SIG_TEXT_MAX 4096u        /* bytes of one text field */
#define SIG_SLUG_MAX 64u
#define SIG_NDPI_MAX 63u

/*
 * One app as loaded. The public part comes first so that sig.h can hand out
 * &rec->pub; everything else stays here, out of the public ABI. The lines
 * are kept beside each list so that finalize can point at the entry that
 * conflicts, in whichever file it came from.
 *
 * Later issues: per-app risk facts (and their sources) become fields here
 * with one parser row each in sig_load.c's app field table; local override
 * files change an existing record through a sig_db_override_app() beside
 * sig_db_add_app(), before finalize, so that the checks and indexes of
 * finalize see one consistent set.
 */
struct sig_app_rec {
	struct sig_app pub;
	int category_line;
	int *domain_lines;
	int *range_lines;
	int *ndpi_lines;
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

/* Writes "file:line: message" (or "file: message" when line <= 0) into err,
 * which may be NULL. Always returns -1, for "return sig_errf(...)". */
int sig_errf(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
