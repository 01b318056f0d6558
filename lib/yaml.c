/*
 * YAML for every shadowmap loader (signatures, config, catalog): libfyaml's
 * event parser feeds a small tree of our own that keeps the line of every
 * node (libfyaml 0.7's document API has no marks for collections), and its
 * diagnostics are collected, never printed, so that every problem, a syntax
 * error included, comes out as one line "file:line: reason". Input is
 * checked first for what libfyaml does not guard against.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "shadowmap/fileio.h"
#include "shadowmap/sbuf.h"
#include "shadowmap/utf8.h"
#include "shadowmap/yaml.h"

#define YAML_DEPTH_MAX 32
#define YAML_NODES_MAX 250000u /* about 100 bytes each; real files need a few thousand */

/* What one parse carries around: where errors go. */
/*
 * A tree's nodes, texts and child lists come from blocks of an arena and
 * go with it at once: on the agent's start, malloc and free of some
 * hundred thousand small pieces were a third of loading the signatures.
 */
#define YBLOCK_SIZE ((size_t)64 << 10)

struct yblock {
	struct yblock *next;
	size_t used, size;
	max_align_t data[]; /* size bytes */
};

struct yarena {
	struct yblock *blocks; /* the newest first */
};

static void *
yalloc(struct yarena *ar, size_t size)
{
	size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	struct yblock *b = ar->blocks;
	if (!b || b->size - b->used < size) {
		size_t cap = size > YBLOCK_SIZE / 4 ? size : YBLOCK_SIZE;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->size = cap;
		if (cap == size && ar->blocks) {
			/* a big piece alone: the current block stays current */
			b->next = ar->blocks->next;
			ar->blocks->next = b;
			b->used = size;
			return b->data;
		}
		b->next = ar->blocks;
		ar->blocks = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	return p;
}

static void
yarena_free(struct yarena *ar)
{
	if (!ar)
		return;
	for (struct yblock *b = ar->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(ar);
}

struct yreader {
	struct yarena *arena; /* of the tree being built */
	const char *name; /* the file, for messages */
	char *err;
	size_t errlen;
	size_t n_nodes;
	int last_line;      /* of the last event that had a position */
	char diag_msg[256]; /* the first diagnostic libfyaml wanted to print */
};

static int
yfail(struct yreader *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
yfail(struct yreader *ld, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!ld->err || !ld->errlen)
		return -1;
	if (line > 0)
		snprintf(ld->err, ld->errlen, "%s:%d: %s", ld->name, line, msg);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", ld->name, msg);
	return -1;
}

/* Quotes text from the input for a message: bounded, one line, printable. */
const char *
yaml_quote(char *buf, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (size < 8)
		return "";
	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o + 6 >= size) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void
ynode_free(struct ynode *n)
{
	/* a node other than a root lives and dies with its root's arena */
	if (n)
		yarena_free(n->arena);
}

static int
ynode_add_kid(struct yreader *ld, struct ynode *parent, struct ynode *kid)
{
	if (parent->n_kids == parent->cap_kids) {
		size_t want = parent->cap_kids ? parent->cap_kids * 2 : 4;
		struct ynode **v = yalloc(ld->arena, want * sizeof(*v));
		if (!v)
			return -1;
		if (parent->n_kids)
			memcpy(v, parent->kids, parent->n_kids * sizeof(*v));
		parent->kids = v;
		parent->cap_kids = want;
	}
	parent->kids[parent->n_kids++] = kid;
	return 0;
}

static int
is_null_text(const char *s, size_t len)
{
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
			     memcmp(s, "NULL", 4) == 0));
}

static void
diag_capture(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	struct yreader *ld = user;
	size_t n = 0;

	(void)diag;
	if (ld->diag_msg[0])
		return;
	while (n < len && n + 1 < sizeof(ld->diag_msg) && buf[n] != '\n') {
		ld->diag_msg[n] = buf[n];
		n++;
	}
	ld->diag_msg[n] = '\0';
}

/*
 * What libfyaml does not check for us, before it sees the input:
 * - it reads past invalid UTF-8 (and a NUL) as if the stream had ended, so
 *   a bad byte would silently cut the file short;
 * - it buffers every token of a nested flow collection ("[[[[...") before
 *   the first event, some 300 bytes per bracket, so nesting is bounded
 *   here. Brackets in comments and quoted scalars do not count; one in
 *   plain prose might, but prose with 32 unclosed brackets is not a file we
 *   need to read.
 */
/* ASCII bytes that mean nothing to precheck but as the byte before the
 * next: all but NUL, newline, quotes, backslash, '#' and brackets. */
static const unsigned char ordinary[256] = {
	[0x01 ... 0x09] = 1, /* '\n' */
	[0x0b ... 0x21] = 1, /* '"' '#' */
	[0x24 ... 0x26] = 1, /* '\'' */
	[0x28 ... 0x5a] = 1, /* '[' '\\' ']' */
	[0x5e ... 0x7a] = 1, /* '{' */
	[0x7c] = 1,          /* '}' */
	[0x7e ... 0x7f] = 1,
};

static int
precheck(struct yreader *ld, const unsigned char *s, size_t len)
{
	int line = 1, flow = 0;
	unsigned char quote_char = 0; /* inside a quoted scalar */
	unsigned char prev = '\n';   /* the byte before, outside quotes */
	int comment = 0;

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		/* This loop sees every byte of every signature file at each
		 * start of the agent: most take the first branch. (Inside
		 * quotes or a comment prev does not matter: the closing quote
		 * and the newline set it.) */
		if (ordinary[c]) {
			prev = c;
			i++;
			continue;
		}
		size_t n = c < 0x80 ? 1 : utf8_seq_len(s + i, len - i);

		if (c == 0)
			return yfail(ld, line, "NUL byte in the file");
		if (n == 0)
			return yfail(ld, line, "invalid UTF-8");
		i += n;
		if (c == '\n') {
			line++;
			comment = 0;
		}
		if (comment)
			continue;
		if (quote_char) {
			if (quote_char == '"' && c == '\\' && i < len && s[i] < 0x80) {
				if (s[i] == '\n')
					line++;
				i++; /* an escaped byte, "\"" included */
			} else if (c == quote_char) {
				if (c == '\'' && i < len && s[i] == '\'')
					i++; /* '' inside single quotes */
				else
					quote_char = 0;
			}
			prev = 'a';
			continue;
		}
		/* A quote or '#' only starts something after a separator. */
		if (prev == ' ' || prev == '\t' || prev == '\n' || prev == '\r' ||
		    prev == '[' || prev == '{' || prev == ',' || prev == ':' || prev == '-') {
			if (c == '"' || c == '\'') {
				quote_char = c;
				continue;
			}
			if (c == '#' && (prev == ' ' || prev == '\t' || prev == '\n' || prev == '\r')) {
				comment = 1;
				continue;
			}
		}
		if (c == '[' || c == '{') {
			if (++flow > YAML_DEPTH_MAX)
				return yfail(ld, line, "YAML nested too deeply");
		} else if ((c == ']' || c == '}') && flow > 0) {
			flow--;
		}
		prev = c;
	}
	return 0;
}

static int
event_line(struct fy_event *ev)
{
	const struct fy_mark *m = fy_event_start_mark(ev);
	return m ? m->line + 1 : -1;
}

/* The error libfyaml reported, as "file:line: reason". */
static int
yaml_syntax_fail(struct yreader *ld, struct fy_diag *diag)
{
	void *iter = NULL;
	struct fy_diag_error *de;

	while ((de = fy_diag_errors_iterate(diag, &iter)) != NULL) {
		if (de->type < FYET_ERROR || !de->msg)
			continue;
		/* Collected lines are 1-based (marks are 0-based). */
		return yfail(ld, de->line > 0 ? de->line : ld->last_line,
				 "YAML syntax error: %s", de->msg);
	}
	return yfail(ld, ld->last_line, "YAML syntax error: %s",
			 ld->diag_msg[0] ? ld->diag_msg : "malformed document");
}

/* Starts a node from an event, after the checks common to every node. */
static struct ynode *
ynode_from_event(struct yreader *ld, struct fy_event *ev, enum ynode_type type,
		 struct fy_token *anchor, struct fy_token *tag)
{
	struct ynode *n;
	int line = event_line(ev);

	/* an empty value has no token and no position: the line before */
	if (line < 0)
		line = ld->last_line;
	if (anchor) {
		yfail(ld, line, "YAML anchors and aliases are not supported");
		return NULL;
	}
	if (tag) {
		yfail(ld, line, "YAML tags are not supported");
		return NULL;
	}
	if (++ld->n_nodes > YAML_NODES_MAX) {
		yfail(ld, line, "too many YAML nodes");
		return NULL;
	}
	n = yalloc(ld->arena, sizeof(*n));
	if (!n) {
		yfail(ld, line, "out of memory");
		return NULL;
	}
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->line = event_line(ev); /* -1 for an empty value: see yaml_read */
	if (type == YNODE_SCALAR) {
		size_t len = 0;
		const char *text = fy_token_get_text(ev->scalar.value, &len);
		if (!text)
			len = 0;
		n->text = yalloc(ld->arena, len + 1);
		if (!n->text) {
			yfail(ld, line, "out of memory");
			return NULL;
		}
		if (len)
			memcpy(n->text, text, len);
		n->text[len] = '\0';
		n->len = len;
		n->is_null = fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN &&
			     is_null_text(n->text, len);
	}
	return n;
}

/* Parses one YAML document into *root (NULL for an empty file). */
static int
yaml_parse(struct yreader *ld, const char *data, size_t len, struct ynode **root)
{
	struct fy_diag_cfg dcfg;
	struct fy_diag *diag = NULL;
	struct fy_parse_cfg pcfg;
	struct fy_parser *fyp = NULL;
	struct fy_event *ev = NULL;
	struct ynode *stack[YAML_DEPTH_MAX];
	size_t depth = 0;
	int n_docs = 0, rc = -1;

	*root = NULL;
	ld->last_line = 1;
	if (precheck(ld, (const unsigned char *)data, len) < 0)
		return -1;
	ld->arena = calloc(1, sizeof(*ld->arena));
	if (!ld->arena)
		return yfail(ld, 0, "out of memory");

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL; /* never stderr: errors are collected below */
	dcfg.output_fn = diag_capture;
	dcfg.user = ld;
	dcfg.level = FYET_ERROR;
	dcfg.colorize = false;
	dcfg.show_source = false;
	dcfg.show_position = false;
	dcfg.show_type = false;
	dcfg.show_module = false;
	diag = fy_diag_create(&dcfg);
	if (!diag) {
		yfail(ld, 0, "cannot start the YAML parser");
		goto out;
	}
	fy_diag_set_collect_errors(diag, true);

	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET;
	pcfg.diag = diag;
	fyp = fy_parser_create(&pcfg);
	if (!fyp || fy_parser_set_string(fyp, data, len) != 0) {
		yfail(ld, 0, "cannot start the YAML parser");
		goto out;
	}

	while ((ev = fy_parser_parse(fyp)) != NULL) {
		struct ynode *n = NULL;
		int line = event_line(ev);

		if (line > 0)
			ld->last_line = line;
		switch (ev->type) {
		case FYET_DOCUMENT_START:
			if (++n_docs > 1) {
				yfail(ld, line > 0 ? line : ld->last_line,
					  "only one YAML document per file");
				goto out;
			}
			break;
		case FYET_MAPPING_START:
			n = ynode_from_event(ld, ev, YNODE_MAP, ev->mapping_start.anchor,
					     ev->mapping_start.tag);
			break;
		case FYET_SEQUENCE_START:
			n = ynode_from_event(ld, ev, YNODE_SEQ, ev->sequence_start.anchor,
					     ev->sequence_start.tag);
			break;
		case FYET_SCALAR:
			n = ynode_from_event(ld, ev, YNODE_SCALAR, ev->scalar.anchor,
					     ev->scalar.tag);
			break;
		case FYET_ALIAS:
			/* the usual way to get here is a label pattern such as
			 * *-my.example.com written without quotes */
			yfail(ld, line > 0 ? line : ld->last_line,
				  "YAML anchors and aliases are not supported (quote a value "
				  "that starts with '*')");
			goto out;
		case FYET_MAPPING_END:
		case FYET_SEQUENCE_END:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		if (ev->type == FYET_MAPPING_START || ev->type == FYET_SEQUENCE_START ||
		    ev->type == FYET_SCALAR) {
			if (!n)
				goto out;
			if (depth == 0) {
				/* Only one root per document, one document per file
				 * (an earlier one stays in the arena until the end). */
				*root = n;
			} else {
				struct ynode *parent = stack[depth - 1];
				/* An empty value has no token: use its key's line. */
				if (n->line < 0)
					n->line = parent->n_kids ? parent->kids[parent->n_kids - 1]->line
								 : parent->line;
				if (ynode_add_kid(ld, parent, n) < 0) {
					yfail(ld, ld->last_line, "out of memory");
					goto out;
				}
			}
			if (n->line < 0)
				n->line = ld->last_line;
			if (n->type != YNODE_SCALAR) {
				if (depth == YAML_DEPTH_MAX) {
					yfail(ld, n->line, "YAML nested too deeply");
					goto out;
				}
				stack[depth++] = n;
			}
		}
		fy_parser_event_free(fyp, ev);
		ev = NULL;
	}
	if (fy_parser_get_stream_error(fyp) || fy_diag_got_error(diag)) {
		yaml_syntax_fail(ld, diag);
		goto out;
	}
	rc = 0;
out:
	if (ev)
		fy_parser_event_free(fyp, ev);
	if (rc == 0 && *root) {
		(*root)->arena = ld->arena; /* the tree goes with its root */
	} else {
		yarena_free(ld->arena);
		*root = NULL;
	}
	ld->arena = NULL;
	if (fyp)
		fy_parser_destroy(fyp);
	if (diag)
		fy_diag_destroy(diag);
	return rc;
}

int
yaml_read_string(const char *name, const char *data, size_t len, struct ynode **root,
		 char *err, size_t errlen)
{
	struct yreader ld;

	memset(&ld, 0, sizeof(ld));
	ld.name = name;
	ld.err = err;
	ld.errlen = errlen;
	return yaml_parse(&ld, data, len, root);
}

int
yaml_read_file(const char *path, size_t max_bytes, struct ynode **root, char *err,
	       size_t errlen)
{
	struct yreader ld;
	char *data = NULL;
	size_t len;
	int rc;

	*root = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.name = path;
	ld.err = err;
	ld.errlen = errlen;
	data = file_read_all(path, max_bytes, &len, err, errlen);
	if (!data)
		return -1;
	rc = yaml_parse(&ld, data, len, root);
	free(data);
	return rc;
}

/* ---- the binary form of a tree ---------------------------------------- */

/*
 * "SMyt", a version byte, the node count, then every node in pre-order: a
 * byte of type (bits 0-1) and is_null (bit 2), the line, then for a scalar
 * its length and bytes, for a collection its number of kids. Numbers are
 * LEB128 varints: most are below 128, and a byte each keeps entries small.
 * Byte order is fixed, so an entry means the same on any host.
 */
static const unsigned char ytree_magic[4] = { 'S', 'M', 'y', 't' };

#define YT_TYPE_MASK 3u
#define YT_NULL 4u

static int
yt_put_varint(struct sbuf *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	return sbuf_add(out, b, n);
}

static int
yt_count(const struct ynode *n, size_t *count)
{
	if (++*count > YAML_NODES_MAX)
		return -1;
	for (size_t i = 0; i < n->n_kids; i++)
		if (yt_count(n->kids[i], count) < 0)
			return -1;
	return 0;
}

static int
yt_put_node(struct sbuf *out, const struct ynode *n)
{
	unsigned char flags = (unsigned char)n->type | (n->is_null ? YT_NULL : 0);

	if (n->line < 1 || sbuf_add(out, &flags, 1) < 0 ||
	    yt_put_varint(out, (uint64_t)n->line) < 0)
		return -1;
	if (n->type == YNODE_SCALAR)
		return yt_put_varint(out, n->len) < 0 || sbuf_add(out, n->text, n->len) < 0 ? -1
											  : 0;
	if (yt_put_varint(out, n->n_kids) < 0)
		return -1;
	for (size_t i = 0; i < n->n_kids; i++)
		if (yt_put_node(out, n->kids[i]) < 0)
			return -1;
	return 0;
}

int
yaml_tree_encode(const struct ynode *root, struct sbuf *out)
{
	unsigned char version = YAML_TREE_VERSION;
	size_t count = 0;

	/* recursion is bounded: trees come from the parser or the decoder */
	if (root && yt_count(root, &count) < 0)
		return -1;
	if (sbuf_add(out, ytree_magic, sizeof(ytree_magic)) < 0 ||
	    sbuf_add(out, &version, 1) < 0 || yt_put_varint(out, count) < 0)
		return -1;
	return root ? yt_put_node(out, root) : 0;
}

struct yt_in {
	const unsigned char *p, *end;
};

static int
yt_get_varint(struct yt_in *in, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (in->p == in->end)
			return -1;
		unsigned char b = *in->p++;
		if (shift == 63 && b > 1)
			return -1; /* more than 64 bits */
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

static int
yt_fail(char *err, size_t errlen, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "tree: %s", why);
	return -1;
}

int
yaml_tree_decode(const void *buf, size_t len, struct ynode **root, char *err, size_t errlen)
{
	struct yt_in in = { buf, (const unsigned char *)buf + len };
	struct yarena *arena = NULL;
	struct ynode *stack[YAML_DEPTH_MAX]; /* open collections, waiting for kids */
	size_t depth = 0;
	uint64_t count, v;
	const char *why = "truncated";

	*root = NULL;
	if (len < sizeof(ytree_magic) + 2 || memcmp(buf, ytree_magic, sizeof(ytree_magic)) != 0)
		return yt_fail(err, errlen, "not a tree");
	in.p += sizeof(ytree_magic);
	if (*in.p++ != YAML_TREE_VERSION)
		return yt_fail(err, errlen, "another version");
	if (yt_get_varint(&in, &count) < 0)
		return yt_fail(err, errlen, why);
	/* a node takes 3 bytes at least: the bound comes before any allocation */
	if (count > YAML_NODES_MAX || count > (uint64_t)(in.end - in.p) / 3)
		return yt_fail(err, errlen, "bad node count");
	if (count == 0)
		return in.p == in.end ? 0 : yt_fail(err, errlen, "trailing bytes");
	arena = calloc(1, sizeof(*arena));
	if (!arena)
		return yt_fail(err, errlen, "out of memory");

	for (uint64_t i = 0; i < count; i++) {
		struct ynode *n;
		unsigned char flags;

		if (in.p == in.end)
			goto fail;
		flags = *in.p++;
		if ((flags & ~(YT_TYPE_MASK | YT_NULL)) || (flags & YT_TYPE_MASK) > YNODE_MAP) {
			why = "bad node type";
			goto fail;
		}
		if (yt_get_varint(&in, &v) < 0)
			goto fail;
		if (v < 1 || v > INT32_MAX) {
			why = "bad line";
			goto fail;
		}
		if (i > 0 && depth == 0) {
			why = "more than one root";
			goto fail;
		}
		n = yalloc(arena, sizeof(*n));
		if (!n) {
			why = "out of memory";
			goto fail;
		}
		memset(n, 0, sizeof(*n));
		n->type = (enum ynode_type)(flags & YT_TYPE_MASK);
		n->line = (int)v;
		if (yt_get_varint(&in, &v) < 0)
			goto fail;
		if (n->type == YNODE_SCALAR) {
			if (v > (uint64_t)(in.end - in.p))
				goto fail;
			n->len = (size_t)v;
			n->text = yalloc(arena, n->len + 1);
			if (!n->text) {
				why = "out of memory";
				goto fail;
			}
			memcpy(n->text, in.p, n->len);
			n->text[n->len] = '\0';
			in.p += n->len;
			n->is_null = (flags & YT_NULL) != 0;
		} else {
			/* as the parser: no null collection, pairs in a mapping,
			 * YAML_DEPTH_MAX collections deep at most */
			if ((flags & YT_NULL) || v > count - i - 1 ||
			    (n->type == YNODE_MAP && (v & 1))) {
				why = "bad collection";
				goto fail;
			}
			if (depth == YAML_DEPTH_MAX) {
				why = "nested too deeply";
				goto fail;
			}
			if (v) {
				n->kids = yalloc(arena, (size_t)v * sizeof(*n->kids));
				if (!n->kids) {
					why = "out of memory";
					goto fail;
				}
				n->cap_kids = (size_t)v;
			}
		}
		if (i == 0) {
			*root = n;
		} else {
			struct ynode *parent = stack[depth - 1];
			parent->kids[parent->n_kids++] = n;
		}
		if (n->cap_kids) {
			stack[depth++] = n;
		} else {
			while (depth > 0 && stack[depth - 1]->n_kids == stack[depth - 1]->cap_kids)
				depth--;
		}
	}
	if (depth > 0)
		goto fail; /* kids promised, nodes ran out */
	if (in.p != in.end) {
		why = "trailing bytes";
		goto fail;
	}
	(*root)->arena = arena;
	return 0;
fail:
	*root = NULL;
	yarena_free(arena);
	return yt_fail(err, errlen, why);
}

const struct ynode *
ynode_map_get(const struct ynode *map, const char *key)
{
	if (!map || map->type != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const struct ynode *k = map->kids[i];
		if (k->type == YNODE_SCALAR && strlen(key) == k->len &&
		    memcmp(k->text, key, k->len) == 0)
			return map->kids[i + 1];
	}
	return NULL;
}
