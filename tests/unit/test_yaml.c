/*
 * Unit tests of the binary form of parsed trees (yaml_tree_encode and
 * yaml_tree_decode, the parse cache's entries): a round trip gives the
 * parser's tree on every real signature file, and truncated, flipped or
 * crafted buffers are refused or give a tree that holds together (run
 * under AddressSanitizer in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shadowmap/sbuf.h"
#include "shadowmap/sig.h"
#include "shadowmap/yaml.h"

#define ENC_MAX ((size_t)64 << 20)

static void
assert_same_tree(const struct ynode *a, const struct ynode *b)
{
	if (!a || !b) {
		assert_ptr_equal(a, b);
		return;
	}
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->is_null, b->is_null);
	assert_int_equal(a->line, b->line);
	assert_int_equal(a->len, b->len);
	if (a->type == YNODE_SCALAR) {
		assert_non_null(b->text);
		assert_memory_equal(a->text, b->text, a->len);
		assert_int_equal(b->text[b->len], '\0');
	} else {
		assert_null(b->text);
	}
	assert_int_equal(a->n_kids, b->n_kids);
	assert_true(b->n_kids <= b->cap_kids);
	for (size_t i = 0; i < a->n_kids; i++)
		assert_same_tree(a->kids[i], b->kids[i]);
}

/* What every loader may assume of a tree, whatever bytes it came from. */
static size_t
check_tree(const struct ynode *n, int depth)
{
	size_t count = 1;

	assert_true(n->type == YNODE_SCALAR || n->type == YNODE_SEQ || n->type == YNODE_MAP);
	assert_true(n->line >= 1);
	if (n->type == YNODE_SCALAR) {
		assert_non_null(n->text);
		assert_int_equal(n->text[n->len], '\0');
		assert_int_equal(n->n_kids, 0);
		return 1;
	}
	assert_true(depth < 32);
	assert_false(n->is_null);
	if (n->type == YNODE_MAP)
		assert_int_equal(n->n_kids % 2, 0);
	for (size_t i = 0; i < n->n_kids; i++)
		count += check_tree(n->kids[i], depth + 1);
	return count;
}

static void
encode(const struct ynode *root, struct sbuf *sb)
{
	sbuf_init(sb, ENC_MAX);
	assert_int_equal(yaml_tree_encode(root, sb), 0);
}

static void
round_trip(const struct ynode *root)
{
	struct sbuf sb;
	struct ynode *back = (struct ynode *)1;
	char err[256];

	encode(root, &sb);
	assert_int_equal(yaml_tree_decode(sb.data, sb.len, &back, err, sizeof(err)), 0);
	assert_same_tree(root, back);
	if (back)
		assert_ptr_not_equal(back->arena, root ? root->arena : NULL);
	ynode_free(back);
	sbuf_free(&sb);
}

static void
test_round_trip_signatures(void **state)
{
	char **files;
	size_t n_files;
	char err[1024];

	(void)state;
	assert_int_equal(sig_list_files(SOURCE_DIR "/signatures", &files, &n_files, err,
					 sizeof(err)), 0);
	assert_true(n_files > 10);
	for (size_t i = 0; i < n_files; i++) {
		struct ynode *root;
		assert_int_equal(yaml_read_file(files[i], YAML_FILE_MAX, &root, err, sizeof(err)), 0);
		assert_non_null(root);
		round_trip(root);
		ynode_free(root);
	}
	sig_files_free(files, n_files);
}

static void
test_round_trip_edges(void **state)
{
	static const char *const docs[] = {
		"",
		"# only a comment\n",
		"plain\n",
		"~\n",
		"a:\nb: ~\nc: null\nd: \"null\"\ne: ''\n",
		"- []\n- {}\n- [1, [2, [3]]]\n-\n- \"a\\0b\"\n",
		"text: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
		"k: \"\xc3\xa9t\xc3\xa9\"\nlist:\n  - x\n  -\n  - z\n",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct ynode *root;
		assert_int_equal(yaml_read_string("t", docs[i], strlen(docs[i]), &root, err,
						  sizeof(err)), 0);
		round_trip(root);
		ynode_free(root);
	}
}

/* Decodes buf; a success must give a tree that holds together. */
static void
decode_any(const void *buf, size_t len)
{
	struct ynode *root = (struct ynode *)1;
	char err[256];

	if (yaml_tree_decode(buf, len, &root, err, sizeof(err)) < 0) {
		assert_null(root);
		assert_true(strncmp(err, "tree: ", 6) == 0);
		return;
	}
	if (root) {
		assert_ptr_not_equal(root->arena, NULL);
		check_tree(root, 0);
	}
	ynode_free(root);
}

static void
test_truncated_and_flipped(void **state)
{
	static const unsigned char flips[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80,
					       0xff, 0x7f };
	const char *doc = "app:\n  slug: x\n  domains: [a.com, b.com]\n  n: {k: [1, [2]], e: []}\n"
			  "  z: ~\n";
	struct ynode *root;
	struct sbuf sb;
	char err[256];

	(void)state;
	/* a small tree: every truncation, every byte with every flip */
	assert_int_equal(yaml_read_string("t", doc, strlen(doc), &root, err, sizeof(err)), 0);
	encode(root, &sb);
	for (size_t cut = 0; cut < sb.len; cut++) {
		struct ynode *back = (struct ynode *)1;
		unsigned char *copy = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
		memcpy(copy, sb.data, cut);
		assert_int_equal(yaml_tree_decode(copy, cut, &back, err, sizeof(err)), -1);
		assert_null(back);
		free(copy);
	}
	for (size_t i = 0; i < sb.len; i++)
		for (size_t f = 0; f < sizeof(flips); f++) {
			unsigned char *copy = malloc(sb.len);
			memcpy(copy, sb.data, sb.len);
			copy[i] ^= flips[f];
			decode_any(copy, sb.len);
			free(copy);
		}
	sbuf_free(&sb);
	ynode_free(root);

	/* a real file: every truncation, and flips at a stride */
	assert_int_equal(yaml_read_file(SOURCE_DIR "/signatures/categories.yaml", YAML_FILE_MAX,
					&root, err, sizeof(err)), 0);
	encode(root, &sb);
	assert_true(sb.len > 1000);
	for (size_t cut = 0; cut < sb.len; cut++) {
		struct ynode *back = (struct ynode *)1;
		assert_int_equal(yaml_tree_decode(sb.data, cut, &back, err, sizeof(err)), -1);
		assert_null(back);
	}
	for (size_t i = 0; i < sb.len; i += 7) {
		sb.data[i] ^= 0x41;
		decode_any(sb.data, sb.len);
		sb.data[i] ^= 0x41;
	}
	sbuf_free(&sb);
	ynode_free(root);
}

/* Appends an LEB128 varint. */
static void
put_varint(struct sbuf *sb, uint64_t v)
{
	do {
		unsigned char b = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b |= 0x80;
		assert_int_equal(sbuf_add(sb, &b, 1), 0);
	} while (v);
}

static void
put_header(struct sbuf *sb, uint64_t count)
{
	unsigned char version = YAML_TREE_VERSION;
	sbuf_init(sb, ENC_MAX);
	sbuf_add(sb, "SMyt", 4);
	sbuf_add(sb, &version, 1);
	put_varint(sb, count);
}

/* A node as the encoder writes it: its type byte, its line, then its text
 * length (a scalar) or its kid count. */
static void
put_node(struct sbuf *sb, char type, uint64_t line, uint64_t n)
{
	sbuf_addc(sb, type);
	put_varint(sb, line);
	put_varint(sb, n);
}

static void
expect_refused(struct sbuf *sb)
{
	struct ynode *root = (struct ynode *)1;
	char err[256];
	assert_int_equal(yaml_tree_decode(sb->data, sb->len, &root, err, sizeof(err)), -1);
	assert_null(root);
	sbuf_free(sb);
}

static void
test_crafted(void **state)
{
	struct sbuf sb;
	struct ynode *root;
	char err[256];

	(void)state;
	/* 32 nested sequences are what the parser takes; 33 are not */
	for (int levels = 32; levels <= 33; levels++) {
		put_header(&sb, (uint64_t)levels + 1);
		for (int i = 0; i < levels; i++) {
			put_node(&sb, (char)YNODE_SEQ, 1, 1);
		}
		put_node(&sb, (char)YNODE_SCALAR, 1, 0);
		if (levels == 32) {
			assert_int_equal(yaml_tree_decode(sb.data, sb.len, &root, err, sizeof(err)), 0);
			assert_int_equal(check_tree(root, 0), 33);
			ynode_free(root);
			sbuf_free(&sb);
		} else {
			expect_refused(&sb);
		}
	}
	/* more nodes than the parser allows, whatever the buffer holds */
	put_header(&sb, 250001);
	put_node(&sb, (char)YNODE_SEQ, 1, 250000);
	for (int i = 0; i < 250000; i++) {
		put_node(&sb, (char)YNODE_SCALAR, 1, 0);
	}
	expect_refused(&sb);
	/* a scalar longer than the buffer; a length of 2^64 - 1 */
	put_header(&sb, 1);
	put_node(&sb, (char)YNODE_SCALAR, 1, 1000);
	sbuf_add(&sb, "abc", 3);
	expect_refused(&sb);
	put_header(&sb, 1);
	put_node(&sb, (char)YNODE_SCALAR, 1, UINT64_MAX);
	sbuf_add(&sb, "abc", 3);
	expect_refused(&sb);
	/* a mapping with a key and no value; kids beyond the node count */
	put_header(&sb, 2);
	put_node(&sb, (char)YNODE_MAP, 1, 1);
	put_node(&sb, (char)YNODE_SCALAR, 1, 0);
	expect_refused(&sb);
	put_header(&sb, 2);
	put_node(&sb, (char)YNODE_SEQ, 1, 1u << 30);
	put_node(&sb, (char)YNODE_SCALAR, 1, 0);
	expect_refused(&sb);
	/* two roots; line 0; a null sequence; an unknown type; a varint of 11 bytes */
	put_header(&sb, 2);
	for (int i = 0; i < 2; i++) {
		put_node(&sb, (char)YNODE_SCALAR, 1, 0);
	}
	expect_refused(&sb);
	put_header(&sb, 1);
	put_node(&sb, (char)YNODE_SCALAR, 0, 0);
	expect_refused(&sb);
	put_header(&sb, 1);
	put_node(&sb, (char)(YNODE_SEQ | 4), 1, 0);
	expect_refused(&sb);
	put_header(&sb, 1);
	put_node(&sb, 3, 1, 0);
	expect_refused(&sb);
	put_header(&sb, 1);
	sbuf_addc(&sb, (char)YNODE_SCALAR);
	sbuf_add(&sb, "\x81\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11);
	put_varint(&sb, 0);
	expect_refused(&sb);
	/* another version or magic */
	put_header(&sb, 0);
	sb.data[4]++;
	expect_refused(&sb);
	put_header(&sb, 0);
	sb.data[0] = 'X';
	expect_refused(&sb);
	/* trailing bytes after a tree */
	put_header(&sb, 1);
	put_node(&sb, (char)YNODE_SCALAR, 1, 0);
	assert_int_equal(yaml_tree_decode(sb.data, sb.len, &root, err, sizeof(err)), 0);
	ynode_free(root);
	sbuf_addc(&sb, 0);
	expect_refused(&sb);
	/* the empty document, and trailing bytes after it */
	put_header(&sb, 0);
	root = (struct ynode *)1;
	assert_int_equal(yaml_tree_decode(sb.data, sb.len, &root, err, sizeof(err)), 0);
	assert_null(root);
	sbuf_addc(&sb, 0);
	expect_refused(&sb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_signatures),
		cmocka_unit_test(test_round_trip_edges),
		cmocka_unit_test(test_truncated_and_flipped),
		cmocka_unit_test(test_crafted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
