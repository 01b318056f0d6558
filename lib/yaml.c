/*
 * libfyaml with its diagnostics collected instead of printed, turned into
 * the one-line "file:line: reason" errors every shadowmap loader gives.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "shadowmap/yaml.h"

struct fy_document *
yaml_load_file(const char *path, char *err, size_t errlen)
{
	struct fy_diag_cfg dcfg;
	struct fy_diag *diag = NULL;
	struct fy_document *doc = NULL;
	FILE *probe;

	/* libfyaml's own message for a missing file is vague; check first */
	probe = fopen(path, "r");
	if (!probe) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	fclose(probe);

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (!diag) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	fy_diag_set_collect_errors(diag, true);

	struct fy_parse_cfg pcfg = {
		.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_AUTO,
		.diag = diag,
	};
	doc = fy_document_build_from_file(&pcfg, path);
	if (!doc || fy_diag_got_error(diag)) {
		void *iter = NULL;
		struct fy_diag_error *e = fy_diag_errors_iterate(diag, &iter);
		if (e)
			snprintf(err, errlen, "%s:%d: %s", path, e->line,
				 e->msg ? e->msg : "YAML syntax error");
		else
			snprintf(err, errlen, "%s: not valid YAML", path);
		if (doc)
			fy_document_destroy(doc);
		doc = NULL;
	}
	fy_diag_unref(diag);
	return doc;
}

int
yaml_node_line(struct fy_node *node)
{
	void *iter = NULL;

	/* libfyaml 0.7 keeps marks on tokens, not on collection nodes: a
	 * collection is placed at its first entry. */
	for (int depth = 0; node && depth < 64; depth++) {
		if (fy_node_is_scalar(node)) {
			struct fy_token *t = fy_node_get_scalar_token(node);
			const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
			return m ? m->line + 1 : 0;
		}
		iter = NULL;
		if (fy_node_is_mapping(node)) {
			struct fy_node_pair *pair = fy_node_mapping_iterate(node, &iter);
			node = pair ? fy_node_pair_key(pair) : NULL;
		} else if (fy_node_is_sequence(node)) {
			node = fy_node_sequence_iterate(node, &iter);
		} else {
			return 0;
		}
	}
	return 0;
}

char *
yaml_scalar_dup(struct fy_node *node)
{
	size_t len;
	const char *s;

	if (!node || !fy_node_is_scalar(node))
		return NULL;
	s = fy_node_get_scalar(node, &len);
	if (!s)
		return NULL;
	char *copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}
