/*
 * Reading YAML for every shadowmap loader (signatures, config, catalog)
 * into a small tree that keeps the line of every node, so that loaders can
 * say "file:line: reason" about anything, and nothing is printed behind
 * the caller's back. Anchors, aliases, tags and multi-document files are
 * refused; size, nesting and node count are bounded.
 */
#ifndef SHADOWMAP_YAML_H
#define SHADOWMAP_YAML_H

#include <stddef.h>

enum ynode_type {
	YNODE_SCALAR,
	YNODE_SEQ,
	YNODE_MAP,
};

struct yarena;

struct ynode {
	enum ynode_type type;
	int line;            /* 1-based */
	int is_null;         /* a plain empty, "~" or "null" scalar */
	char *text;          /* scalars: NUL-terminated copy (may hold NULs) */
	size_t len;
	struct ynode **kids; /* sequences: items; mappings: key, value, key, ... */
	size_t n_kids, cap_kids;
	struct yarena *arena; /* the root's: where the whole tree lives */
};

#define YAML_FILE_MAX (8u << 20)

/*
 * Reads a regular file of at most max_bytes and parses it. *root is the
 * document's root, NULL for an empty file; caller frees with ynode_free.
 * Returns 0, or -1 with "path:line: reason" (or "path: reason") in err.
 */
int yaml_read_file(const char *path, size_t max_bytes, struct ynode **root, char *err,
		   size_t errlen);
/* The same on a buffer; name stands for the file in messages. */
int yaml_read_string(const char *name, const char *data, size_t len, struct ynode **root,
		     char *err, size_t errlen);
/*
 * A parsed tree in a compact binary form, for a cache of parsed files
 * (sig_load.c): decoding costs about a twentieth of parsing.
 * yaml_tree_encode appends root's tree (NULL: an empty file) to out;
 * returns 0, or -1 when out's cap or memory runs out. yaml_tree_decode
 * builds the tree exactly as the parser built it, in a fresh arena (caller
 * frees with ynode_free; *root NULL for an empty file); every length and
 * count is checked, so a truncated or corrupt buffer gives -1 with a reason
 * in err and builds nothing. Bump YAML_TREE_VERSION when the format or what
 * the parser produces changes: entries of the old form then fail to decode.
 */
#define YAML_TREE_VERSION 1u
struct sbuf;
int yaml_tree_encode(const struct ynode *root, struct sbuf *out);
int yaml_tree_decode(const void *buf, size_t len, struct ynode **root, char *err,
		     size_t errlen);

/* Frees a tree given its root (a tree's nodes go all at once). */
void ynode_free(struct ynode *n);

/* The value of a mapping's key, or NULL. */
const struct ynode *ynode_map_get(const struct ynode *map, const char *key);

/* Quotes input text for a message: bounded, one line, printable. */
const char *yaml_quote(char *buf, size_t size, const char *s, size_t len);

#endif
