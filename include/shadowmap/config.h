/*
 * Settings, as redis config.c: one table row per option (name, type,
 * bounds, default, reloadable, help) drives the command line, the YAML
 * config file and the help text alike, so they can never disagree.
 */
#ifndef SHADOWMAP_CONFIG_H
#define SHADOWMAP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/sbuf.h"

enum cfg_type {
	CFG_INT,     /* int64_t */
	CFG_SECONDS, /* int64_t seconds; accepts 90, 90s, 5m, 2h, 1d */
	CFG_BOOL,    /* int64_t 0/1; accepts true/false, yes/no, on/off, 1/0 */
	CFG_STRING,  /* char *, owned by the settings */
	CFG_PATH,    /* char *, a file or directory name */
};

struct cfg_option {
	const char *name;   /* config key and long option: "bucket-seconds" */
	enum cfg_type type;
	int64_t min, max;   /* bounds of numbers */
	const char *def;    /* default as text; NULL for none */
	size_t offset;      /* of the int64_t or char * in the settings */
	int reloadable;
	const char *help;
};
/* A table ends with a row whose name is NULL. */

/* Sets every option to its default. 0 or -1 (a bad default is a bug). */
int cfg_defaults(const struct cfg_option *opts, void *settings, char *err, size_t errlen);

const struct cfg_option *cfg_find(const struct cfg_option *opts, const char *name);

/* Sets one option from text; where ("file:line" or "--name") prefixes an
 * error. Returns 0 or -1 with a one-line reason in err. */
int cfg_set(const struct cfg_option *opts, void *settings, const char *name,
	    const char *value, const char *where, char *err, size_t errlen);

/* Reads a YAML mapping of option names to scalars. Unknown keys, wrong
 * types and out-of-range values are errors "file:line: reason". */
int cfg_load_file(const struct cfg_option *opts, void *settings, const char *path,
		  char *err, size_t errlen);

/* Frees the strings the settings own. */
void cfg_free(const struct cfg_option *opts, void *settings);

/* Appends "  --name VALUE  help (default: x)" lines. */
int cfg_help(const struct cfg_option *opts, struct sbuf *out);

#endif
