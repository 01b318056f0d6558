/*
 * Batch bodies (batch.h): gzip with a hard output cap, then one pass of a
 * strict JSON reader (RFC 8259) made for this one schema, which checks the
 * syntax and fills the records as it goes, then every field of every
 * record checked against docs/usage-format.md. No tree and no allocation
 * per value: the records point into the body (owned by the batch, closing
 * quotes overwritten with NULs) or, for strings with escapes, into one
 * arena sized once; a batch costs its text, the arena and one array.
 *
 * The reader keeps what jansson (with JSON_REJECT_DUPLICATES), which did
 * this before, accepted and refused, so that the wire format did not move
 * with the parser: duplicate keys in any object, \u0000, integers past
 * int64 and numbers past the largest double are refused; nesting is
 * bounded at 2048 levels; the root must be an object or an array.
 *
 * Unknown fields are ignored, in the batch and in its records: the usage
 * format says readers must ignore fields they do not know (a new field does
 * not change the schema string), and an agent one release ahead must not
 * have its batches refused for good. Known fields are checked strictly.
 * Unknown fields must still be valid JSON, of any type and nesting.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "shadowmap/addr.h"
#include "shadowmap/domain.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/utf8.h"

#include "batch.h"

#define COUNTER_MAX (UINT64_C(1) << 53) /* what a double holds exactly */
#define BUCKET_SECONDS_MAX 86400

struct batch {
	char *text;  /* the body as read; strings without escapes point into it */
	char *arena; /* strings with escapes, unescaped; or NULL */
	const char *id;
	struct usage_record *recs;
	size_t n;
};

static int set_err(struct batch_error *err, int status, const char *where, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

static int
set_err(struct batch_error *err, int status, const char *where, const char *fmt, ...)
{
	va_list ap;
	err->status = status;
	snprintf(err->where, sizeof(err->where), "%s", where ? where : "");
	va_start(ap, fmt);
	vsnprintf(err->error, sizeof(err->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- gzip ---- */

int
batch_gunzip(const void *in, size_t in_len, size_t max, char **out, size_t *out_len,
	     struct batch_error *err)
{
	z_stream z;
	char *buf = NULL;
	size_t cap, len = 0;
	int rc = -1, zrc;

	*out = NULL;
	*out_len = 0;
	memset(&z, 0, sizeof(z));
	/* 16 + MAX_WBITS: gzip wrapper only; a raw or zlib stream is not gzip */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return set_err(err, 500, NULL, "out of memory");
	/* Start near the usual ratio of JSON (5-10x) and double up to max. */
	cap = in_len < max / 8 ? in_len * 8 + 4096 : max;
	if (cap > max)
		cap = max;
	buf = malloc(cap + 1);
	if (!buf) {
		set_err(err, 500, NULL, "out of memory");
		goto out;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = 0;
	size_t in_left = in_len;
	for (;;) {
		/* zlib counts in uInt: feed large inputs in slices */
		if (z.avail_in == 0 && in_left > 0) {
			z.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
			in_left -= z.avail_in;
		}
		if (len == cap) {
			if (cap >= max) {
				/* Full: only the end of the stream may follow. A
				 * byte more of output means over the limit. */
				char probe;
				z.next_out = (Bytef *)&probe;
				z.avail_out = 1;
				zrc = inflate(&z, Z_NO_FLUSH);
				if (z.avail_out == 0) {
					set_err(err, 413, NULL,
						"body inflates to more than %zu bytes", max);
					goto out;
				}
				goto check;
			}
			size_t want = cap * 2 > max ? max : cap * 2;
			char *bigger = realloc(buf, want + 1);
			if (!bigger) {
				set_err(err, 500, NULL, "out of memory");
				goto out;
			}
			buf = bigger;
			cap = want;
		}
		z.next_out = (Bytef *)buf + len;
		z.avail_out = (uInt)(cap - len > (1u << 30) ? (1u << 30) : cap - len);
		uInt before = z.avail_out;
		zrc = inflate(&z, Z_NO_FLUSH);
		len += before - z.avail_out;
check:
		if (zrc == Z_STREAM_END) {
			if (z.avail_in == 0 && in_left == 0)
				break;
			/* RFC 1952 allows several members back to back */
			const unsigned char *next = z.next_in;
			if (z.avail_in >= 2 && next[0] == 0x1f && next[1] == 0x8b) {
				if (inflateReset(&z) != Z_OK) {
					set_err(err, 500, NULL, "out of memory");
					goto out;
				}
				continue;
			}
			set_err(err, 400, NULL, "data after the end of the gzip stream");
			goto out;
		}
		if (zrc == Z_BUF_ERROR && z.avail_in == 0 && in_left == 0) {
			set_err(err, 400, NULL, "gzip body is truncated");
			goto out;
		}
		if (zrc == Z_MEM_ERROR) {
			set_err(err, 500, NULL, "out of memory");
			goto out;
		}
		if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
			set_err(err, 400, NULL, "gzip body is damaged: %s",
				z.msg ? z.msg : "bad data");
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = 0;
out:
	inflateEnd(&z);
	free(buf);
	return rc;
}

/* ---- small checks ---- */

int
batch_uuid_valid(const char *s)
{
	static const int dash_at[] = { 8, 13, 18, 23 };
	size_t d = 0;
	for (size_t i = 0; i < 36; i++) {
		char c = s[i];
		if (d < 4 && (int)i == dash_at[d]) {
			if (c != '-')
				return 0;
			d++;
			continue;
		}
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return s[36] == '\0';
}

static int
digits_at(const char *s, size_t from, size_t n)
{
	for (size_t i = from; i < from + n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int
batch_parse_utc(const char *s, int frac_allowed, int64_t *usec)
{
	/* the shape first; time_parse_rfc3339 then checks the ranges */
	size_t n = strlen(s), i = 19;
	if (n < 20 || !digits_at(s, 0, 4) || s[4] != '-' || !digits_at(s, 5, 2) ||
	    s[7] != '-' || !digits_at(s, 8, 2) || s[10] != 'T' || !digits_at(s, 11, 2) ||
	    s[13] != ':' || !digits_at(s, 14, 2) || s[16] != ':' || !digits_at(s, 17, 2))
		return -1;
	if (s[i] == '.') {
		if (!frac_allowed)
			return -1;
		size_t k = ++i;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == k || i - k > 9)
			return -1;
	}
	if (s[i] != 'Z' || s[i + 1] != '\0')
		return -1;
	return time_parse_rfc3339(s, usec);
}


/* ---- the JSON reader ---- */

/* Nesting levels, the root being 1: jansson's JSON_PARSER_MAX_DEPTH, so
 * that what passed before passes now. */
#define JSON_DEPTH_MAX 2048
/* Unknown keys of one object compared one by one as they come; past this
 * many, all of them are sorted when the object closes. */
#define KEYS_LINEAR 16

enum jtype { JT_ABSENT, JT_OBJECT, JT_ARRAY, JT_STRING, JT_INTEGER, JT_REAL, JT_TRUE,
	     JT_FALSE, JT_NULL };

/* How much of a string the caller wants. */
enum keep {
	KEEP_NONE, /* checked only */
	KEEP_SPAN, /* its unescaped bytes (object keys); the text is not written */
	KEEP_CSTR, /* the same, NUL-terminated (field values) */
};

/* A value as the reader hands it over. Strings are unescaped (s, len) when
 * kept; containers come by type only, their contents checked and passed. */
struct jval {
	enum jtype type;
	const char *s;
	size_t len;
	int64_t i; /* JT_INTEGER */
};

/* An unknown key of an object still open, for the duplicate check. */
struct key_span {
	const char *p;
	uint32_t len;
	uint32_t hash;
};

struct jreader {
	char *base; /* the text, writable, with a NUL at end */
	char *p;    /* the next byte */
	char *end;
	/* values as json_value_estimate counts them (1 + '[', '{', ',' outside
	 * strings), all read before p */
	size_t n_values;

	/* the error: 400 with why, at (the byte at fault) and tok (where the
	 * token at fault starts, before which nothing is written), 413 past
	 * BATCH_JSON_VALUES_MAX, 500 out of memory */
	int status;
	const char *at, *tok;
	char why[128];

	/* unescaped strings: sized once for the rest of the body, so that what
	 * is in it never moves (an unescaped string is never longer than its
	 * text, quotes included) */
	char *arena;
	size_t arena_used;

	struct key_span *keys; /* of the open objects, innermost last */
	size_t n_keys, cap_keys;

	/* skip_container's stack: '{' or '[', and where the keys start */
	char open_kind[JSON_DEPTH_MAX];
	uint32_t open_mark[JSON_DEPTH_MAX];
};

static int jr_syntax(struct jreader *jr, const char *tok, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
jr_syntax(struct jreader *jr, const char *tok, const char *at, const char *fmt, ...)
{
	va_list ap;
	jr->status = 400;
	jr->tok = tok;
	jr->at = at;
	va_start(ap, fmt);
	vsnprintf(jr->why, sizeof(jr->why), fmt, ap);
	va_end(ap);
	return -1;
}

static int
jr_oom(struct jreader *jr)
{
	jr->status = 500;
	return -1;
}

/* An unexpected byte where a token starts. */
static int
jr_unexpected(struct jreader *jr, const char *p, const char *what)
{
	if (p == jr->end)
		return jr_syntax(jr, p, p, "%s near end of file", what);
	return jr_syntax(jr, p, p, "%s", what);
}

/* Counts a '[', '{' or ','. A body of millions of tiny values is refused
 * as soon as it passes the limit, however it goes on. */
static int
count_value(struct jreader *jr)
{
	if (++jr->n_values > BATCH_JSON_VALUES_MAX) {
		jr->status = 413;
		return -1;
	}
	return 0;
}

static char *
skip_ws(char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	return p;
}

#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
/* Bytes a string cannot simply pass over: control characters (the NUL at
 * the end among them), '"', '\\', and the bytes of multi-byte sequences. */
static const unsigned char str_stop[256] = {
	R16(1), R16(1),
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
	R16(0), R16(0),
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
	R16(0), R16(0),
	R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1),
};
#undef R16

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Whether a byte of w is zero (exact, as the test for existence). */
static uint64_t
swar_zero(uint64_t w)
{
	return (w - ONES) & ~w & HIGHS;
}

/* Whether one of the eight bytes in w is one str_stop stops at: the high
 * bit of each such byte set, and maybe of bytes after the first (a borrow
 * runs upwards only). */
static uint64_t
swar_stop(uint64_t w)
{
	return (w & HIGHS) | ((w - ONES * 0x20) & ~w & HIGHS) | swar_zero(w ^ (ONES * '"')) |
	       swar_zero(w ^ (ONES * '\\'));
}

/* Four hex digits, or -1. Stops at the first that is not one, so never
 * reads past the NUL at the end. */
static int
hex4(const char *s)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static char *
put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		*out++ = (char)cp;
	} else if (cp < 0x800) {
		*out++ = (char)(0xc0 | cp >> 6);
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*out++ = (char)(0xe0 | cp >> 12);
		*out++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*out++ = (char)(0xf0 | cp >> 18);
		*out++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*out++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	}
	return out;
}

/* The rest of a string from q, the first byte str_stop stopped at: escapes,
 * multi-byte sequences, and what is refused. A kept string with escapes is
 * written to the arena, from start; the text is never written here. */
static int
scan_string_slow(struct jreader *jr, enum keep keep, struct jval *v, char *start, char *q)
{
	const char *tok = start - 1;
	char *out = NULL, *out_start = NULL;

	for (;;) {
		unsigned char c = (unsigned char)*q;
		char *run;

		if (c == '"')
			break;
		if (c == '\\') {
			uint32_t cp;
			char *esc = q;
			if (keep != KEEP_NONE && !out) {
				if (!jr->arena) {
					jr->arena = malloc((size_t)(jr->end - start) + 1);
					if (!jr->arena)
						return jr_oom(jr);
				}
				out_start = jr->arena + jr->arena_used;
				memcpy(out_start, start, (size_t)(q - start));
				out = out_start + (q - start);
			}
			switch (q[1]) {
			case '"':
			case '\\':
			case '/': cp = (unsigned char)q[1]; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u': {
				int hi = hex4(q + 2), lo;
				if (hi < 0)
					return jr_syntax(jr, tok, esc, "invalid escape");
				q += 4;
				cp = (uint32_t)hi;
				if (hi >= 0xdc00 && hi <= 0xdfff)
					return jr_syntax(jr, tok, esc, "invalid Unicode '\\u%04X'", hi);
				if (hi >= 0xd800 && hi <= 0xdbff) {
					/* a high surrogate: a low one must follow */
					lo = q[2] == '\\' && q[3] == 'u' ? hex4(q + 4) : -1;
					if (lo < 0xdc00 || lo > 0xdfff)
						return jr_syntax(jr, tok, esc,
								 "invalid Unicode '\\u%04X' (a lone "
								 "surrogate)",
								 hi);
					cp = 0x10000 + ((uint32_t)(hi - 0xd800) << 10) +
					     (uint32_t)(lo - 0xdc00);
					q += 6;
				}
				if (cp == 0)
					return jr_syntax(jr, tok, esc, "\\u0000 is not allowed");
				break;
			}
			default: return jr_syntax(jr, tok, esc, "invalid escape");
			}
			q += 2;
			if (out)
				out = put_utf8(out, cp);
			continue;
		}
		if (c < 0x20) {
			if (q == jr->end)
				return jr_syntax(jr, tok, q, "premature end of input");
			return jr_syntax(jr, tok, q, "control character 0x%x in a string", c);
		}
		run = q;
		if (c >= 0x80) {
			size_t n = utf8_seq_len((const unsigned char *)q, (size_t)(jr->end - q));
			if (n == 0)
				return jr_syntax(jr, tok, q, "invalid UTF-8");
			q += n;
		}
		while (!str_stop[(unsigned char)*q])
			q++;
		if (out) {
			memcpy(out, run, (size_t)(q - run));
			out += q - run;
		}
	}
	v->type = JT_STRING;
	if (out) {
		*out = '\0';
		v->s = out_start;
		v->len = (size_t)(out - out_start);
		jr->arena_used += v->len + 1;
	} else {
		v->s = start;
		v->len = (size_t)(q - start);
		if (keep == KEEP_CSTR)
			*q = '\0';
	}
	jr->p = q + 1;
	return 0;
}

/* A string at jr->p (its '"'). Most are plain ASCII and end at the first
 * stop byte, a '"': those are not copied, only their quote may become the
 * NUL. */
static int
scan_string(struct jreader *jr, enum keep keep, struct jval *v)
{
	char *start = jr->p + 1, *q = start;

	/* eight bytes at a time while eight are left; the lowest flag of
	 * swar_stop is exact, and on a little-endian machine the first byte */
	for (;;) {
		uint64_t w, stop;
		if (jr->end - q < 8) {
			while (!str_stop[(unsigned char)*q])
				q++;
			break;
		}
		memcpy(&w, q, 8);
		stop = swar_stop(w);
		if (stop) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			q += __builtin_ctzll(stop) / 8;
#else
			while (!str_stop[(unsigned char)*q])
				q++;
#endif
			break;
		}
		q += 8;
	}
	if (*q != '"')
		return scan_string_slow(jr, keep, v, start, q);
	v->type = JT_STRING;
	v->s = start;
	v->len = (size_t)(q - start);
	if (keep == KEEP_CSTR)
		*q = '\0';
	jr->p = q + 1;
	return 0;
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Whether a number with a fraction or an exponent (s to e, the grammar
 * checked) is too large for a double: jansson refused those ("real number
 * overflow") and took the rest, however small. strtod overflows from
 * 2^1024 - 2^970 on, the midpoint between DBL_MAX and 2^1024, which rounds
 * to even, up. Compared digit by digit, so no locale and no length limit.
 */
static int
real_overflows(const char *s, const char *e)
{
	/* 2^1024 - 2^970, 309 digits */
	static const char limit[] =
		"17976931348623158079372897140530341507993413271003782693617377898044496829"
		"27647509466490179775872070963302864166928879109465555478519404026306574886"
		"71505820681908902000708383676273854845817711531764475730270069855571366959"
		"62284291481986083493647529271907416844436551070434271155969950809304288017"
		"7904174497792";
	const char *p = s, *int_start, *int_end, *frac, *frac_end, *q;
	int64_t exp10 = 0, mag;

	if (*p == '-')
		p++;
	int_start = p;
	while (p < e && is_digit(*p))
		p++;
	int_end = frac = frac_end = p;
	if (p < e && *p == '.') {
		frac = ++p;
		while (p < e && is_digit(*p))
			p++;
		frac_end = p;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		int negative = 0;
		p++;
		if (*p == '+' || *p == '-')
			negative = *p++ == '-';
		for (; p < e; p++)
			if (exp10 < 1000000000) /* far past any text we take */
				exp10 = exp10 * 10 + (*p - '0');
		if (negative)
			exp10 = -exp10;
	}
	/* the value is 0.d1d2... x 10^mag, d1 the first digit not 0 */
	q = int_start;
	mag = int_end - int_start;
	while (q < int_end && *q == '0') {
		q++;
		mag--;
	}
	if (q == int_end) {
		for (q = frac; q < frac_end && *q == '0'; q++)
			mag--;
		if (q == frac_end)
			return 0; /* zero */
	}
	mag += exp10;
	if (mag != (int64_t)sizeof(limit) - 1)
		return mag > (int64_t)sizeof(limit) - 1;
	for (size_t i = 0; i < sizeof(limit) - 1; i++) {
		if (q == int_end)
			q = frac;
		if (q == frac_end)
			return 0; /* fewer digits: below (the limit ends in 2) */
		if (*q != limit[i])
			return *q > limit[i];
		q++;
	}
	return 1;
}

/* A number at jr->p, by RFC 8259's grammar. Integers as jansson held them,
 * in an int64 ("-0" is 0); the rest as JT_REAL. */
static int
scan_number(struct jreader *jr, struct jval *v)
{
	char *s = jr->p, *q = s;
	uint64_t mag = 0;
	int negative = 0, too_big = 0;

	if (*q == '-') {
		negative = 1;
		q++;
	}
	if (*q == '0') {
		q++;
		if (is_digit(*q))
			return jr_syntax(jr, s, q, "invalid number (a leading zero)");
	} else if (*q >= '1' && *q <= '9') {
		do {
			unsigned d = (unsigned)(*q - '0');
			if (mag > (UINT64_MAX - d) / 10)
				too_big = 1;
			else
				mag = mag * 10 + d;
			q++;
		} while (is_digit(*q));
	} else {
		return jr_syntax(jr, s, q, "invalid number");
	}
	if (*q != '.' && *q != 'e' && *q != 'E') {
		if (too_big || mag > (uint64_t)INT64_MAX + (uint64_t)negative)
			return jr_syntax(jr, s, s, negative ? "too big negative integer"
							    : "too big integer");
		v->type = JT_INTEGER;
		/* -(2^63) is INT64_MIN: negate in unsigned, then convert */
		v->i = negative ? (int64_t)(~mag + 1) : (int64_t)mag;
		jr->p = q;
		return 0;
	}
	if (*q == '.') {
		q++;
		if (!is_digit(*q))
			return jr_syntax(jr, s, q, "invalid number (no digit after '.')");
		while (is_digit(*q))
			q++;
	}
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '+' || *q == '-')
			q++;
		if (!is_digit(*q))
			return jr_syntax(jr, s, q, "invalid number (no digit in the exponent)");
		while (is_digit(*q))
			q++;
	}
	if (real_overflows(s, q))
		return jr_syntax(jr, s, s, "real number overflow");
	v->type = JT_REAL;
	jr->p = q;
	return 0;
}

static int
scan_literal(struct jreader *jr, const char *word, size_t len, enum jtype type,
	     struct jval *v)
{
	if ((size_t)(jr->end - jr->p) < len || memcmp(jr->p, word, len) != 0)
		return jr_syntax(jr, jr->p, jr->p, "invalid token");
	v->type = type;
	jr->p += len;
	return 0;
}

/* A string, number, true, false or null at jr->p. */
static int
read_scalar(struct jreader *jr, enum keep keep, struct jval *v)
{
	switch (*jr->p) {
	case '"': return scan_string(jr, keep, v);
	case 't': return scan_literal(jr, "true", 4, JT_TRUE, v);
	case 'f': return scan_literal(jr, "false", 5, JT_FALSE, v);
	case 'n': return scan_literal(jr, "null", 4, JT_NULL, v);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9': return scan_number(jr, v);
	case '{':
	case '}':
	case '[':
	case ']':
	case ':':
	case ',': return jr_unexpected(jr, jr->p, "unexpected token");
	default: return jr_unexpected(jr, jr->p, "invalid token");
	}
}

/* At '{' or '[': counts it and steps in. 1 when a member follows, 0 when
 * the container is empty (and passed), -1 on error. */
static int
open_container(struct jreader *jr)
{
	char close = *jr->p == '{' ? '}' : ']';
	char *p;
	if (count_value(jr) < 0)
		return -1;
	p = skip_ws(jr->p + 1);
	if (*p == close) {
		jr->p = p + 1;
		return 0;
	}
	jr->p = p;
	return 1;
}

/* After a value in a container that close ends: 1 when a ',' says another
 * follows, 0 when close ended the container (passed), -1 on error. */
static int
after_value(struct jreader *jr, char close)
{
	char *p = skip_ws(jr->p);
	if (*p == ',') {
		jr->p = p + 1;
		return count_value(jr) < 0 ? -1 : 1;
	}
	if (*p == close) {
		jr->p = p + 1;
		return 0;
	}
	return jr_unexpected(jr, p, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

/* At a member of an object: its key (unescaped, not NUL-terminated) and
 * the ':' after it. *key_at: where the key starts. */
static int
read_key(struct jreader *jr, struct jval *key, char **key_at)
{
	char *p = skip_ws(jr->p);
	jr->p = *key_at = p;
	if (*p != '"')
		return jr_unexpected(jr, p, "string or '}' expected");
	if (scan_string(jr, KEEP_SPAN, key) < 0)
		return -1;
	p = skip_ws(jr->p);
	if (*p != ':')
		return jr_unexpected(jr, p, "':' expected");
	jr->p = p + 1;
	return 0;
}

/* Adds an unknown key to the object whose keys start at mark; refuses it
 * when the object has it already (checked here for the first few keys,
 * by keys_close for objects with more). */
static int
key_add(struct jreader *jr, size_t mark, const struct jval *key, const char *key_at)
{
	if (jr->n_keys - mark < KEYS_LINEAR) {
		for (size_t i = mark; i < jr->n_keys; i++)
			if (jr->keys[i].len == key->len &&
			    memcmp(jr->keys[i].p, key->s, key->len) == 0)
				return jr_syntax(jr, key_at, key_at, "duplicate object key");
	}
	if (jr->n_keys == jr->cap_keys) {
		/* at most one per value: BATCH_JSON_VALUES_MAX bounds it */
		size_t cap = jr->cap_keys ? jr->cap_keys * 2 : 64;
		struct key_span *bigger = realloc(jr->keys, cap * sizeof(*bigger));
		if (!bigger)
			return jr_oom(jr);
		jr->keys = bigger;
		jr->cap_keys = cap;
	}
	jr->keys[jr->n_keys].p = key->s;
	jr->keys[jr->n_keys].len = (uint32_t)key->len; /* the text is at most 64 MiB */
	jr->keys[jr->n_keys].hash = 0;
	jr->n_keys++;
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct key_span *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->p, y->p, x->len);
}

/* The object whose keys start at mark has closed (at: its '}'): sorts its
 * keys when there were too many to compare one by one, then forgets them. */
static int
keys_close(struct jreader *jr, size_t mark, const char *at)
{
	struct key_span *k = jr->keys + mark;
	size_t n = jr->n_keys - mark;

	jr->n_keys = mark;
	if (n <= KEYS_LINEAR)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t h = 2166136261u; /* FNV-1a */
		for (uint32_t j = 0; j < k[i].len; j++)
			h = (h ^ (unsigned char)k[i].p[j]) * 16777619u;
		k[i].hash = h;
	}
	qsort(k, n, sizeof(*k), key_cmp);
	for (size_t i = 1; i < n; i++)
		if (key_cmp(&k[i - 1], &k[i]) == 0)
			return jr_syntax(jr, at, at, "duplicate object key");
	return 0;
}

/*
 * Checks and passes the container at jr->p, at nesting level depth: the
 * unknown fields, of any shape. A loop over its own stack rather than
 * recursion, so that hostile nesting costs no C stack.
 */
static int
skip_container(struct jreader *jr, int depth)
{
	int top = 0, more;
	struct jval key, scalar;
	char *key_at;

	jr->open_kind[0] = *jr->p;
	jr->open_mark[0] = (uint32_t)jr->n_keys;
	more = open_container(jr);
	for (;;) {
		if (more < 0)
			return -1;
		if (more == 0) {
			/* the container at top has closed */
			if (jr->open_kind[top] == '{' &&
			    keys_close(jr, jr->open_mark[top], jr->p - 1) < 0)
				return -1;
			if (top == 0)
				return 0;
			top--;
			more = after_value(jr, jr->open_kind[top] == '{' ? '}' : ']');
			continue;
		}
		/* a member of the container at top, at level depth + top + 1 */
		if (jr->open_kind[top] == '{') {
			if (read_key(jr, &key, &key_at) < 0 ||
			    key_add(jr, jr->open_mark[top], &key, key_at) < 0)
				return -1;
		}
		jr->p = skip_ws(jr->p);
		if (depth + top + 1 > JSON_DEPTH_MAX)
			return jr_syntax(jr, jr->p, jr->p, "maximum parsing depth reached");
		if (*jr->p == '{' || *jr->p == '[') {
			top++;
			jr->open_kind[top] = *jr->p;
			jr->open_mark[top] = (uint32_t)jr->n_keys;
			more = open_container(jr);
			continue;
		}
		if (read_scalar(jr, KEEP_NONE, &scalar) < 0)
			return -1;
		more = after_value(jr, jr->open_kind[top] == '{' ? '}' : ']');
	}
}

/* Any value, at nesting level depth; strings kept as keep says. */
static int
read_value(struct jreader *jr, int depth, enum keep keep, struct jval *v)
{
	jr->p = skip_ws(jr->p);
	if (depth > JSON_DEPTH_MAX)
		return jr_syntax(jr, jr->p, jr->p, "maximum parsing depth reached");
	if (*jr->p == '{' || *jr->p == '[') {
		v->type = *jr->p == '{' ? JT_OBJECT : JT_ARRAY;
		return skip_container(jr, depth);
	}
	return read_scalar(jr, keep, v);
}

/* Line and column (in characters, from 1) of at, for people. Only closing
 * quotes were overwritten before at, by NULs: the counts are the text's. */
static void
text_position(const char *base, const char *at, int *line, int *column)
{
	int l = 1, c = 1;
	for (const char *p = base; p < at; p++) {
		if (*p == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)*p & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*column = c;
}

/* Counts JSON values roughly (containers and separators outside strings),
 * as the limit has always been counted. On valid text it is exactly what
 * the reader counts; after a syntax error the count goes on from there. */
static size_t
json_value_estimate(const char *s, size_t len)
{
	size_t count = 1;
	int in_string = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{' || c == ',') {
			count++;
		}
	}
	return count;
}

/* The reader's error as the sender gets it. */
static void
reader_error(const struct jreader *jr, struct batch_error *err)
{
	int line, column;
	char where[64];

	if (jr->status == 500) {
		set_err(err, 500, NULL, "out of memory");
		return;
	}
	/* The limit was checked on the whole text before parsing: a body past
	 * it is a 413 even when its syntax breaks before the limit is reached.
	 * Nothing from tok on was written, and tok is outside any string. */
	if (jr->status == 413 ||
	    jr->n_values - 1 + json_value_estimate(jr->tok, (size_t)(jr->end - jr->tok)) >
		    BATCH_JSON_VALUES_MAX) {
		set_err(err, 413, NULL, "more than %d JSON values", BATCH_JSON_VALUES_MAX);
		return;
	}
	text_position(jr->base, jr->at, &line, &column);
	snprintf(where, sizeof(where), "line %d, column %d", line, column);
	set_err(err, 400, where, "invalid JSON: %s", jr->why);
}

static const char *
json_type_name(enum jtype t)
{
	switch (t) {
	case JT_OBJECT: return "an object";
	case JT_ARRAY: return "an array";
	case JT_STRING: return "a string";
	case JT_INTEGER: return "an integer";
	case JT_REAL: return "a number with a fraction or exponent";
	case JT_TRUE:
	case JT_FALSE: return "a boolean";
	case JT_NULL: return "null";
	case JT_ABSENT: break;
	}
	return "something else";
}

/* Known keys of an object, by name. */
struct field_name {
	const char *name;
	size_t len;
};

#define FIELD_NAME(s) { s, sizeof(s) - 1 }

/* The index of key in names, or -1. Agents write the fields in one order:
 * the one after the last found (hint) is tried first. */
static int
field_find(const struct field_name *names, int n, int hint, const struct jval *key)
{
	if (hint < n && names[hint].len == key->len &&
	    memcmp(names[hint].name, key->s, key->len) == 0)
		return hint;
	for (int i = 0; i < n; i++)
		if (names[i].len == key->len && memcmp(names[i].name, key->s, key->len) == 0)
			return i;
	return -1;
}

/* ---- records ---- */

/* The fields of a record, in the order agents write them. */
enum rec_field {
	RF_SCHEMA,
	RF_BUCKET_START,
	RF_BUCKET_SECONDS,
	RF_CLIENT,
	RF_HOST,
	RF_DOMAIN,
	RF_APP,
	RF_CATEGORY,
	RF_NDPI_PROTO,
	RF_UNTRACKED,
	RF_FLOWS,
	RF_PACKETS,
	RF_BYTES_UP,
	RF_BYTES_DOWN,
	RF_FIRST_SEEN,
	RF_LAST_SEEN,
	RF_COUNTRY,
	RF_ASN,
	RF_AS_ORG,
	RF_COUNT
};

static const struct field_name rec_names[RF_COUNT] = {
	FIELD_NAME("schema"),	  FIELD_NAME("bucket_start"), FIELD_NAME("bucket_seconds"),
	FIELD_NAME("client"),	  FIELD_NAME("host"),	      FIELD_NAME("domain"),
	FIELD_NAME("app"),	  FIELD_NAME("category"),     FIELD_NAME("ndpi_proto"),
	FIELD_NAME("untracked"),  FIELD_NAME("flows"),	      FIELD_NAME("packets"),
	FIELD_NAME("bytes_up"),	  FIELD_NAME("bytes_down"),   FIELD_NAME("first_seen"),
	FIELD_NAME("last_seen"),  FIELD_NAME("country"),      FIELD_NAME("asn"),
	FIELD_NAME("as_org"),
};
_Static_assert(RF_COUNT <= 32, "rec_fields.present has a bit per field");

/* A record's known fields as read: present says which (and caught the
 * duplicates). */
struct rec_fields {
	uint32_t present;
	struct jval v[RF_COUNT];
};

static const struct jval *
rec_get(const struct rec_fields *rf, enum rec_field f)
{
	return rf->present >> f & 1 ? &rf->v[f] : NULL;
}

struct vctx {
	struct batch_error *err;
	size_t index;      /* of the record */
	char where[96];
};

static const char *
where_of(struct vctx *v, const char *field)
{
	snprintf(v->where, sizeof(v->where), "records[%zu].%s", v->index, field);
	return v->where;
}

static int
field_err(struct vctx *v, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
field_err(struct vctx *v, int status, const char *field, const char *fmt, ...)
{
	va_list ap;
	v->err->status = status;
	snprintf(v->err->where, sizeof(v->err->where), "%s", where_of(v, field));
	va_start(ap, fmt);
	vsnprintf(v->err->error, sizeof(v->err->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* Text fields: valid UTF-8 (the reader checks it too; this does not depend
 * on that), no control characters, 1..max bytes. */
static int
text_ok(struct vctx *v, const char *field, const char *s, size_t len, size_t max)
{
	if (len == 0)
		return field_err(v, 400, field, "empty string (use null)");
	if (len > max)
		return field_err(v, 400, field, "longer than %zu bytes", max);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : utf8_seq_len((const unsigned char *)s + i, len - i);
		if (n == 0)
			return field_err(v, 400, field, "not valid UTF-8");
		if (c < 0x20 || c == 0x7f)
			return field_err(v, 400, field, "control character in text");
		i += n;
	}
	return 0;
}

/* A string, or null when nullable; *out NULL for null. Absent (x NULL): an
 * error when required, else NULL. */
static int
get_text(struct vctx *v, const struct jval *x, const char *field, int required, int nullable,
	 size_t max, const char **out)
{
	*out = NULL;
	if (!x) {
		if (required)
			return field_err(v, 400, field, "missing");
		return 0;
	}
	if (x->type == JT_NULL) {
		if (nullable)
			return 0;
		return field_err(v, 400, field, "expected a string, got null");
	}
	if (x->type != JT_STRING)
		return field_err(v, 400, field, "expected a string%s, got %s",
				 nullable ? " or null" : "", json_type_name(x->type));
	if (text_ok(v, field, x->s, x->len, max) < 0)
		return -1;
	*out = x->s;
	return 0;
}

/* A host or registrable domain: a DNS name exactly as domain_normalize
 * writes it (lower case, no trailing dot, no port), so that the store can
 * match it against signatures as it is. */
static int
get_name(struct vctx *v, const struct jval *x, const char *field, const char **out)
{
	char norm[DOMAIN_MAX];
	if (get_text(v, x, field, 1, 1, BATCH_HOST_MAX, out) < 0)
		return -1;
	if (!*out)
		return 0;
	size_t len = x->len;
	if (domain_normalize(*out, len, norm, sizeof(norm)) != (int)len ||
	    memcmp(norm, *out, len) != 0)
		return field_err(v, 400, field,
				 "not a DNS name in normal form (lower case, no port, "
				 "no trailing dot)");
	return 0;
}

static int
get_counter(struct vctx *v, const struct jval *x, const char *field, uint64_t *out)
{
	if (!x)
		return field_err(v, 400, field, "missing");
	if (x->type != JT_INTEGER)
		return field_err(v, 400, field, "expected a non-negative integer, got %s",
				 json_type_name(x->type));
	if (x->i < 0)
		return field_err(v, 400, field, "negative");
	if ((uint64_t)x->i > COUNTER_MAX)
		return field_err(v, 400, field, "larger than 2^53");
	*out = (uint64_t)x->i;
	return 0;
}

static int
get_time(struct vctx *v, const struct jval *x, const char *field, int frac_allowed,
	 int64_t *out)
{
	if (!x)
		return field_err(v, 400, field, "missing");
	if (x->type != JT_STRING)
		return field_err(v, 400, field, "expected an RFC 3339 time string, got %s",
				 json_type_name(x->type));
	if (batch_parse_utc(x->s, frac_allowed, out) < 0)
		return field_err(v, 400, field,
				 frac_allowed ? "not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.fff]Z)"
					      : "not an RFC 3339 UTC time in whole seconds "
						"(YYYY-MM-DDTHH:MM:SSZ)");
	if (*out < 0)
		return field_err(v, 422, field, "before 1970");
	return 0;
}

/*
 * Where the server is: country, asn, as_org, each null (or absent, as from
 * an agent without the geolocation databases) when unknown. A value of the
 * wrong type is a 400 like any other field's; a value of the right type
 * that is no country code, AS number or organisation name is a 422.
 * as_org is the database's text as it is (the agent keeps control
 * characters), so only its size and encoding are checked. asn 0 ("no AS",
 * RFC 7607) is the same as null.
 */
static int
get_geo(struct vctx *v, const struct rec_fields *rf, struct usage_record *r)
{
	const struct jval *x = rec_get(rf, RF_COUNTRY);

	if (x && x->type != JT_NULL) {
		if (x->type != JT_STRING)
			return field_err(v, 400, "country", "expected a string or null, got %s",
					 json_type_name(x->type));
		if (x->len != 2 || x->s[0] < 'A' || x->s[0] > 'Z' || x->s[1] < 'A' ||
		    x->s[1] > 'Z')
			return field_err(v, 422, "country",
					 "not an ISO 3166-1 alpha-2 code in upper case (\"DE\")");
		r->country = x->s;
	}

	x = rec_get(rf, RF_ASN);
	if (x && x->type != JT_NULL) {
		if (x->type != JT_INTEGER)
			return field_err(v, 400, "asn", "expected an integer or null, got %s",
					 json_type_name(x->type));
		if (x->i < 0 || x->i > (int64_t)UINT32_MAX)
			return field_err(v, 422, "asn", "out of range (0 to 4294967295)");
		r->asn = (uint32_t)x->i;
	}

	x = rec_get(rf, RF_AS_ORG);
	if (x && x->type != JT_NULL) {
		if (x->type != JT_STRING)
			return field_err(v, 400, "as_org", "expected a string or null, got %s",
					 json_type_name(x->type));
		if (x->len == 0)
			return field_err(v, 422, "as_org", "empty string (use null)");
		if (x->len > BATCH_AS_ORG_MAX)
			return field_err(v, 422, "as_org", "longer than %d bytes", BATCH_AS_ORG_MAX);
		for (size_t i = 0; i < x->len;) {
			unsigned char c = (unsigned char)x->s[i];
			size_t n = c < 0x80 ? 1
					    : utf8_seq_len((const unsigned char *)x->s + i, x->len - i);
			if (n == 0)
				return field_err(v, 422, "as_org", "not valid UTF-8");
			i += n;
		}
		r->as_org = x->s;
	}
	return 0;
}

/* One record's fields, checked in a fixed order whatever the order of the
 * text, so that the first fault named does not depend on it. */
static int
check_record(struct vctx *v, const struct rec_fields *rf, struct usage_record *r)
{
	const char *schema, *client;
	const struct jval *x;

	memset(r, 0, sizeof(*r));
	if (get_text(v, rec_get(rf, RF_SCHEMA), "schema", 1, 0, 64, &schema) < 0)
		return -1;
	if (strcmp(schema, USAGE_SCHEMA) != 0)
		return field_err(v, 422, "schema", "unknown record schema (expected \"%s\")",
				 USAGE_SCHEMA);

	if (get_time(v, rec_get(rf, RF_BUCKET_START), "bucket_start", 0, &r->bucket_start) < 0)
		return -1;
	x = rec_get(rf, RF_BUCKET_SECONDS);
	if (!x)
		return field_err(v, 400, "bucket_seconds", "missing");
	if (x->type != JT_INTEGER)
		return field_err(v, 400, "bucket_seconds", "expected a positive integer, got %s",
				 json_type_name(x->type));
	if (x->i <= 0 || x->i > BUCKET_SECONDS_MAX)
		return field_err(v, 400, "bucket_seconds", "out of range (1 to %d)",
				 BUCKET_SECONDS_MAX);
	r->bucket_seconds = x->i;
	if (r->bucket_start % (r->bucket_seconds * USEC_PER_SEC) != 0)
		return field_err(v, 422, "bucket_start",
				 "not aligned to a multiple of bucket_seconds since the epoch");

	/* untracked before client: it decides whether client may be null */
	if (get_text(v, rec_get(rf, RF_UNTRACKED), "untracked", 0, 0, 32, &r->untracked) < 0)
		return -1;
	if (r->untracked) {
		static const char *const reasons[] = { USAGE_UNTRACKED_TABLE_FULL,
						       USAGE_UNTRACKED_FRAGMENT,
						       USAGE_UNTRACKED_MALFORMED };
		const char *known = NULL;
		for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
			if (strcmp(r->untracked, reasons[i]) == 0)
				known = reasons[i];
		if (!known)
			return field_err(v, 422, "untracked",
					 "unknown reason (expected table_full, fragment or "
					 "malformed)");
		r->untracked = known; /* static storage, like the agent's */
	}

	if (get_text(v, rec_get(rf, RF_CLIENT), "client", 1, 1, ADDR_STRLEN, &client) < 0)
		return -1;
	if (client) {
		if (addr_parse(client, &r->client) < 0)
			return field_err(v, 400, "client", "not an IPv4 or IPv6 address");
		r->has_client = 1;
	} else if (!r->untracked) {
		return field_err(v, 422, "client", "null, but the record is not untracked");
	}

	if (get_name(v, rec_get(rf, RF_HOST), "host", &r->host) < 0 ||
	    get_name(v, rec_get(rf, RF_DOMAIN), "domain", &r->domain) < 0)
		return -1;
	if (r->domain && !r->host)
		return field_err(v, 422, "domain", "set without a host");
	if (get_text(v, rec_get(rf, RF_APP), "app", 1, 1, BATCH_SLUG_MAX, &r->app) < 0 ||
	    get_text(v, rec_get(rf, RF_CATEGORY), "category", 1, 1, BATCH_SLUG_MAX,
		     &r->category) < 0 ||
	    get_text(v, rec_get(rf, RF_NDPI_PROTO), "ndpi_proto", 1, 1, BATCH_SLUG_MAX,
		     &r->ndpi_proto) < 0)
		return -1;
	if (r->category && !r->app)
		return field_err(v, 422, "category", "set without an app");
	if (r->untracked && (r->host || r->app))
		return field_err(v, 422, r->host ? "host" : "app",
				 "set in an untracked record");

	if (get_counter(v, rec_get(rf, RF_FLOWS), "flows", &r->flows) < 0 ||
	    get_counter(v, rec_get(rf, RF_PACKETS), "packets", &r->packets) < 0 ||
	    get_counter(v, rec_get(rf, RF_BYTES_UP), "bytes_up", &r->bytes_up) < 0 ||
	    get_counter(v, rec_get(rf, RF_BYTES_DOWN), "bytes_down", &r->bytes_down) < 0)
		return -1;

	if (get_time(v, rec_get(rf, RF_FIRST_SEEN), "first_seen", 1, &r->first_seen) < 0 ||
	    get_time(v, rec_get(rf, RF_LAST_SEEN), "last_seen", 1, &r->last_seen) < 0)
		return -1;
	if (r->first_seen > r->last_seen)
		return field_err(v, 422, "last_seen", "earlier than first_seen");
	return get_geo(v, rf, r);
}

/* ---- the batch ---- */

static int
media_type_is_json(const char *ct)
{
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	while (n > 0 && (*ct == ' ' || *ct == '\t')) {
		ct++;
		n--;
	}
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

static int
is_gzip(const char *content_encoding)
{
	return content_encoding && (strcasecmp(content_encoding, "gzip") == 0 ||
				    strcasecmp(content_encoding, "x-gzip") == 0);
}

int
batch_check_headers(const char *content_encoding, const char *content_type,
		    struct batch_error *err)
{
	memset(err, 0, sizeof(*err));
	if (content_type && *content_type && !media_type_is_json(content_type))
		return set_err(err, 415, NULL, "Content-Type must be application/json");
	if (content_encoding && *content_encoding && !is_gzip(content_encoding) &&
	    strcasecmp(content_encoding, "identity") != 0)
		return set_err(err, 415, NULL,
			       "Content-Encoding must be gzip or absent (identity)");
	return 0;
}

enum batch_field { BF_SCHEMA, BF_BATCH_ID, BF_AGENT_VERSION, BF_CREATED, BF_RECORDS, BF_COUNT };

static const struct field_name batch_names[BF_COUNT] = {
	FIELD_NAME("schema"),  FIELD_NAME("batch_id"), FIELD_NAME("agent_version"),
	FIELD_NAME("created"), FIELD_NAME("records"),
};

/* One body being read: the reader, what the batch object held, and the
 * records so far. */
struct batch_reader {
	struct jreader jr;
	struct batch *b;
	enum jtype root;
	uint32_t present; /* of batch_names */
	struct jval top[BF_COUNT];
	size_t n_records; /* elements of "records", objects or not */
	size_t cap_records;
	/* The first record at fault. The checks of the batch's own fields and
	 * of the number of records come first, and a syntax error anywhere
	 * overrides all: it is told only once the whole body has been read. */
	int record_failed;
	struct batch_error record_err;
};

static const struct jval *
top_get(const struct batch_reader *br, enum batch_field f)
{
	return br->present >> f & 1 ? &br->top[f] : NULL;
}

/* Room for record i (below BATCH_RECORDS_MAX). */
static int
record_room(struct batch_reader *br, size_t i)
{
	struct batch *b = br->b;
	if (i < br->cap_records)
		return 0;
	/* a record is some 300 bytes of text: guess from the body's size */
	size_t cap = br->cap_records ? br->cap_records * 2
				     : (size_t)(br->jr.end - br->jr.base) / 256 + 16;
	if (cap > BATCH_RECORDS_MAX)
		cap = BATCH_RECORDS_MAX;
	struct usage_record *bigger = realloc(b->recs, cap * sizeof(*bigger));
	if (!bigger)
		return jr_oom(&br->jr);
	b->recs = bigger;
	br->cap_records = cap;
	return 0;
}

/* Record i, an object at jr->p (level 3): its fields (level 4), then, unless
 * an earlier record failed or there are too many, the checks. */
static int
read_record(struct batch_reader *br, size_t i)
{
	struct jreader *jr = &br->jr;
	struct rec_fields rf;
	size_t mark = jr->n_keys;
	int more, hint = 0;

	rf.present = 0;
	for (more = open_container(jr); more > 0; more = after_value(jr, '}')) {
		struct jval key, ignored;
		struct jval *x = &ignored;
		char *key_at;
		int f;

		if (read_key(jr, &key, &key_at) < 0)
			return -1;
		f = field_find(rec_names, RF_COUNT, hint, &key);
		if (f >= 0) {
			if (rf.present >> f & 1)
				return jr_syntax(jr, key_at, key_at, "duplicate object key");
			rf.present |= UINT32_C(1) << f;
			x = &rf.v[f];
			hint = f + 1;
		} else if (key_add(jr, mark, &key, key_at) < 0) {
			return -1;
		}
		if (read_value(jr, 4, f >= 0 ? KEEP_CSTR : KEEP_NONE, x) < 0)
			return -1;
	}
	if (more < 0 || keys_close(jr, mark, jr->p - 1) < 0)
		return -1;
	if (br->record_failed || i >= BATCH_RECORDS_MAX)
		return 0;
	if (record_room(br, i) < 0)
		return -1;
	struct vctx v = { &br->record_err, i, "" };
	if (check_record(&v, &rf, &br->b->recs[i]) < 0)
		br->record_failed = 1;
	return 0;
}

/* The "records" array at jr->p (level 2). */
static int
read_records(struct batch_reader *br)
{
	struct jreader *jr = &br->jr;
	int more;

	for (more = open_container(jr); more > 0; more = after_value(jr, ']')) {
		size_t i = br->n_records++;
		jr->p = skip_ws(jr->p);
		if (*jr->p == '{') {
			if (read_record(br, i) < 0)
				return -1;
			continue;
		}
		struct jval x;
		if (read_value(jr, 3, KEEP_NONE, &x) < 0)
			return -1;
		if (!br->record_failed && i < BATCH_RECORDS_MAX) {
			char where[96];
			snprintf(where, sizeof(where), "records[%zu]", i);
			set_err(&br->record_err, 400, where, "expected an object, got %s",
				json_type_name(x.type));
			br->record_failed = 1;
		}
	}
	return more < 0 ? -1 : 0;
}

/* The batch object at jr->p (the root). */
static int
read_batch(struct batch_reader *br)
{
	struct jreader *jr = &br->jr;
	size_t mark = jr->n_keys;
	int more, hint = 0;

	for (more = open_container(jr); more > 0; more = after_value(jr, '}')) {
		struct jval key, ignored;
		char *key_at;
		int f;

		if (read_key(jr, &key, &key_at) < 0)
			return -1;
		f = field_find(batch_names, BF_COUNT, hint, &key);
		if (f < 0) {
			if (key_add(jr, mark, &key, key_at) < 0 ||
			    read_value(jr, 2, KEEP_NONE, &ignored) < 0)
				return -1;
			continue;
		}
		if (br->present >> f & 1)
			return jr_syntax(jr, key_at, key_at, "duplicate object key");
		br->present |= UINT32_C(1) << f;
		hint = f + 1;
		jr->p = skip_ws(jr->p);
		if (f == BF_RECORDS && *jr->p == '[') {
			br->top[f].type = JT_ARRAY;
			if (read_records(br) < 0)
				return -1;
		} else if (read_value(jr, 2, KEEP_CSTR, &br->top[f]) < 0) {
			return -1;
		}
	}
	if (more < 0 || keys_close(jr, mark, jr->p - 1) < 0)
		return -1;
	return 0;
}

/* The whole text: one object or array, and nothing after it. */
static int
read_body(struct batch_reader *br)
{
	struct jreader *jr = &br->jr;

	jr->p = skip_ws(jr->p);
	if (*jr->p == '{') {
		br->root = JT_OBJECT;
		if (read_batch(br) < 0)
			return -1;
	} else if (*jr->p == '[') {
		br->root = JT_ARRAY;
		if (skip_container(jr, 1) < 0)
			return -1;
	} else {
		return jr_unexpected(jr, jr->p, "'[' or '{' expected");
	}
	jr->p = skip_ws(jr->p);
	if (jr->p != jr->end)
		return jr_syntax(jr, jr->p, jr->p, "end of file expected");
	return 0;
}

/* The batch's own fields, then the number of records, then the first
 * record at fault. */
static int
check_batch(struct batch_reader *br, struct batch_error *err)
{
	const struct jval *x;
	struct batch *b = br->b;

	if (br->root != JT_OBJECT)
		return set_err(err, 400, NULL, "expected a JSON object, got %s",
			       json_type_name(br->root));
	x = top_get(br, BF_SCHEMA);
	if (!x)
		return set_err(err, 400, "schema", "missing");
	if (x->type != JT_STRING)
		return set_err(err, 400, "schema", "expected a string, got %s",
			       json_type_name(x->type));
	if (strcmp(x->s, BATCH_SCHEMA) != 0)
		return set_err(err, 422, "schema", "unknown batch schema (expected \"%s\")",
			       BATCH_SCHEMA);

	x = top_get(br, BF_BATCH_ID);
	if (!x)
		return set_err(err, 400, "batch_id", "missing");
	if (x->type != JT_STRING)
		return set_err(err, 400, "batch_id", "expected a string, got %s",
			       json_type_name(x->type));
	if (x->len != 36 || !batch_uuid_valid(x->s))
		return set_err(err, 400, "batch_id",
			       "not a lower-case UUID (8-4-4-4-12 hex digits)");
	b->id = x->s;

	x = top_get(br, BF_AGENT_VERSION);
	if (x && x->type != JT_STRING)
		return set_err(err, 400, "agent_version", "expected a string, got %s",
			       json_type_name(x->type));

	x = top_get(br, BF_CREATED);
	int64_t created;
	if (!x)
		return set_err(err, 400, "created", "missing");
	if (x->type != JT_STRING)
		return set_err(err, 400, "created", "expected an RFC 3339 time string, got %s",
			       json_type_name(x->type));
	if (batch_parse_utc(x->s, 1, &created) < 0)
		return set_err(err, 400, "created",
			       "not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.fff]Z)");

	x = top_get(br, BF_RECORDS);
	if (!x)
		return set_err(err, 400, "records", "missing");
	if (x->type != JT_ARRAY)
		return set_err(err, 400, "records", "expected an array, got %s",
			       json_type_name(x->type));
	size_t n = br->n_records;
	if (n == 0)
		return set_err(err, 422, "records", "empty: a batch holds 1 to %d records",
			       BATCH_RECORDS_MAX);
	if (n > BATCH_RECORDS_MAX)
		return set_err(err, 413, "records", "%zu records: a batch holds at most %d", n,
			       BATCH_RECORDS_MAX);
	if (br->record_failed) {
		*err = br->record_err;
		return -1;
	}
	b->n = n;
	return 0;
}

struct batch *
batch_parse(const void *body, size_t len, const char *content_encoding,
	    const char *content_type, struct batch_error *err)
{
	struct batch *b = NULL;
	struct batch_reader *br = NULL;
	char *text = NULL;
	size_t text_len = len;
	int rc;

	memset(err, 0, sizeof(*err));
	if (batch_check_headers(content_encoding, content_type, err) < 0)
		return NULL;
	if (len > BATCH_BODY_MAX) {
		set_err(err, 413, NULL, "body larger than %zu bytes", BATCH_BODY_MAX);
		return NULL;
	}
	if (is_gzip(content_encoding)) {
		if (batch_gunzip(body, len, BATCH_INFLATED_MAX, &text, &text_len, err) < 0)
			return NULL;
	} else {
		/* the reader writes NULs into the text and stops at the one
		 * after it: a copy of our own */
		text = malloc(len + 1);
		if (!text) {
			set_err(err, 500, NULL, "out of memory");
			return NULL;
		}
		if (len)
			memcpy(text, body, len);
		text[len] = '\0';
	}
	b = calloc(1, sizeof(*b));
	/* ~10 KiB of nesting stack: not on the caller's */
	br = calloc(1, sizeof(*br));
	if (!b || !br) {
		free(text);
		set_err(err, 500, NULL, "out of memory");
		goto fail;
	}
	b->text = text;
	br->b = b;
	br->jr.base = br->jr.p = text;
	br->jr.end = text + text_len;
	br->jr.n_values = 1;
	rc = read_body(br);
	b->arena = br->jr.arena;
	if (rc < 0) {
		reader_error(&br->jr, err);
		goto fail;
	}
	if (check_batch(br, err) < 0)
		goto fail;
	free(br->jr.keys);
	free(br);
	return b;
fail:
	if (br)
		free(br->jr.keys);
	free(br);
	batch_free(b);
	return NULL;
}

void
batch_free(struct batch *b)
{
	if (!b)
		return;
	free(b->text);
	free(b->arena);
	free(b->recs);
	free(b);
}

const char *
batch_id(const struct batch *b)
{
	return b->id;
}

const struct usage_record *
batch_records(const struct batch *b, size_t *n)
{
	*n = b->n;
	return b->recs;
}
