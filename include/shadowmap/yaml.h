/*
 * Loading YAML files with libfyaml so that every problem, a syntax error
 * included, comes out as one line "file:line: reason" and nothing is
 * printed behind the caller's back.
 */
#ifndef SHADOWMAP_YAML_H
#define SHADOWMAP_YAML_H

#include <stddef.h>

struct fy_document;
struct fy_node;

/* Parses path into a document (caller frees with fy_document_destroy).
 * NULL with "path:line: reason" in err on failure. */
struct fy_document *yaml_load_file(const char *path, char *err, size_t errlen);

/* 1-based line of a node. */
int yaml_node_line(struct fy_node *node);

/* The scalar text of node (NUL-terminated copy, caller frees), or NULL if
 * it is not a scalar. */
char *yaml_scalar_dup(struct fy_node *node);

#endif
