/*
 * Table-driven settings (config.h): parsing of numbers, durations and
 * booleans with bounds, from the command line or a YAML file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shadowmap/config.h"
#include "shadowmap/yaml.h"

static int64_t *
int_field(const struct cfg_option *o, void *settings)
{
	return (int64_t *)((char *)settings + o->offset);
}

static char **
str_field(const struct cfg_option *o, void *settings)
{
	return (char **)((char *)settings + o->offset);
}

static int
parse_int(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*v = x;
	return 0;
}

static int
parse_seconds(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || x < 0)
		return -1;
	int64_t mult = 1;
	if (*end) {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return -1;
		}
		if (end[1])
			return -1;
	}
	if (x > INT64_MAX / mult)
		return -1;
	*v = x * mult;
	return 0;
}

static int
parse_bool(const char *s, int64_t *v)
{
	static const char *yes[] = { "true", "yes", "on", "1" };
	static const char *no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

const struct cfg_option *
cfg_find(const struct cfg_option *opts, const char *name)
{
	for (; opts->name; opts++)
		if (strcmp(opts->name, name) == 0)
			return opts;
	return NULL;
}

int
cfg_set(const struct cfg_option *opts, void *settings, const char *name, const char *value,
	const char *where, char *err, size_t errlen)
{
	const struct cfg_option *o = cfg_find(opts, name);
	int64_t v = 0;

	if (!o) {
		snprintf(err, errlen, "%s: unknown setting \"%s\"", where, name);
		return -1;
	}
	switch (o->type) {
	case CFG_INT:
		if (parse_int(value, &v) < 0) {
			snprintf(err, errlen, "%s: %s: \"%s\" is not a whole number", where, name,
				 value);
			return -1;
		}
		break;
	case CFG_SECONDS:
		if (parse_seconds(value, &v) < 0) {
			snprintf(err, errlen,
				 "%s: %s: \"%s\" is not a duration (seconds, or a number "
				 "with s, m, h or d)", where, name, value);
			return -1;
		}
		break;
	case CFG_BOOL:
		if (parse_bool(value, &v) < 0) {
			snprintf(err, errlen, "%s: %s: \"%s\" is not true or false", where, name,
				 value);
			return -1;
		}
		*int_field(o, settings) = v;
		return 0;
	case CFG_STRING:
	case CFG_PATH: {
		if (o->type == CFG_PATH && !*value) {
			snprintf(err, errlen, "%s: %s: empty path", where, name);
			return -1;
		}
		char *copy = strdup(value);
		if (!copy) {
			snprintf(err, errlen, "%s: out of memory", where);
			return -1;
		}
		char **field = str_field(o, settings);
		free(*field);
		*field = copy;
		return 0;
	}
	}
	if (v < o->min || v > o->max) {
		snprintf(err, errlen, "%s: %s: %" PRId64 " is out of range (%" PRId64 " to %" PRId64
			 ")", where, name, v, o->min, o->max);
		return -1;
	}
	*int_field(o, settings) = v;
	return 0;
}

int
cfg_defaults(const struct cfg_option *opts, void *settings, char *err, size_t errlen)
{
	for (const struct cfg_option *o = opts; o->name; o++) {
		if (o->def) {
			if (cfg_set(opts, settings, o->name, o->def, "default", err, errlen) < 0)
				return -1;
		} else if (o->type == CFG_STRING || o->type == CFG_PATH) {
			char **field = str_field(o, settings);
			free(*field);
			*field = NULL;
		} else {
			*int_field(o, settings) = 0;
		}
	}
	return 0;
}

int
cfg_load_file(const struct cfg_option *opts, void *settings, const char *path, char *err,
	      size_t errlen)
{
	struct ynode *root = NULL;
	char where[512];
	int rc = -1;

	if (yaml_read_file(path, YAML_FILE_MAX, &root, err, errlen) < 0)
		return -1;
	if (!root || (root->type == YNODE_SCALAR && root->is_null)) {
		rc = 0; /* an empty file sets nothing */
		goto out;
	}
	if (root->type != YNODE_MAP) {
		snprintf(err, errlen, "%s:%d: expected a mapping of setting: value", path,
			 root->line);
		goto out;
	}
	for (size_t i = 0; i + 1 < root->n_kids; i += 2) {
		const struct ynode *k = root->kids[i], *v = root->kids[i + 1];
		snprintf(where, sizeof(where), "%s:%d", path, k->line);
		if (k->type != YNODE_SCALAR || strlen(k->text) != k->len) {
			snprintf(err, errlen, "%s: a setting's name must be a plain word", where);
			goto out;
		}
		for (size_t j = 0; j < i; j += 2) {
			if (strcmp(root->kids[j]->text, k->text) == 0) {
				snprintf(err, errlen, "%s: %s: given twice (first on line %d)", where,
					 k->text, root->kids[j]->line);
				goto out;
			}
		}
		if (v->type != YNODE_SCALAR || strlen(v->text) != v->len) {
			snprintf(err, errlen, "%s: %s: expected a single value", where, k->text);
			goto out;
		}
		if (cfg_set(opts, settings, k->text, v->text, where, err, errlen) < 0)
			goto out;
	}
	rc = 0;
out:
	ynode_free(root);
	return rc;
}

void
cfg_free(const struct cfg_option *opts, void *settings)
{
	for (; opts->name; opts++) {
		if (opts->type == CFG_STRING || opts->type == CFG_PATH) {
			char **field = str_field(opts, settings);
			free(*field);
			*field = NULL;
		}
	}
}

int
cfg_help(const struct cfg_option *opts, struct sbuf *out)
{
	for (; opts->name; opts++) {
		const char *arg = "";
		switch (opts->type) {
		case CFG_INT: arg = " N"; break;
		case CFG_SECONDS: arg = " TIME"; break;
		case CFG_BOOL: arg = " BOOL"; break;
		case CFG_STRING: arg = " TEXT"; break;
		case CFG_PATH: arg = " PATH"; break;
		}
		char left[64];
		snprintf(left, sizeof(left), "--%s%s", opts->name, arg);
		sbuf_addf(out, "  %-28s %s", left, opts->help);
		if (opts->def)
			sbuf_addf(out, " (default %s)", opts->def);
		sbuf_addc(out, '\n');
	}
	return out->failed ? -1 : 0;
}
