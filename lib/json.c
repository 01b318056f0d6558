/*
 * JSON output helpers. Strings from the network are written as valid
 * UTF-8 JSON whatever their bytes, so a hostile name cannot break a record.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shadowmap/json.h"
#include "shadowmap/utf8.h"

/* Needs escaping or checking in a JSON string: quote, backslash, control
 * characters, DEL and every non-ASCII byte (checked as UTF-8). A table,
 * as every byte of every string of every summary goes through it. */
static const unsigned char plain_byte[256] = {
	[0x20 ... 0x21] = 1, /* '"' is 0x22 */
	[0x23 ... 0x5b] = 1, /* '\\' is 0x5c */
	[0x5d ... 0x7e] = 1,
};

static inline int
plain(unsigned char c)
{
	return plain_byte[c];
}

int
json_add_stringn(struct sbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	if (!s)
		return sbuf_add(sb, "null", 4);
	sbuf_addc(sb, '"');
	while (i < len && plain(p[i]))
		i++;
	if (i == len) {
		/* all plain, as nearly every name and address is: one copy */
		sbuf_add(sb, p, len);
		return sbuf_addc(sb, '"');
	}
	if (i > 0)
		sbuf_add(sb, p, i);
	while (i < len) {
		unsigned char c = p[i];
		if (plain(c)) {
			/* copy a run of plain ASCII at once: most strings are one */
			size_t j = i + 1;
			while (j < len && plain(p[j]))
				j++;
			sbuf_add(sb, p + i, j - i);
			i = j;
		} else if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			sbuf_add(sb, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			sbuf_add(sb, esc, 6);
			i++;
		} else {
			size_t n = utf8_seq_len(p + i, len - i);
			if (n == 0) {
				sbuf_add(sb, "\\ufffd", 6);
				i++;
			} else {
				sbuf_add(sb, p + i, n);
				i += n;
			}
		}
	}
	return sbuf_addc(sb, '"');
}

int
json_add_string(struct sbuf *sb, const char *s)
{
	return json_add_stringn(sb, s, s ? strlen(s) : 0);
}

/* Numbers by hand, not printf: a summary has half a dozen of them. */
int
json_add_u64(struct sbuf *sb, uint64_t v)
{
	char buf[20];
	size_t i = sizeof(buf);
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return sbuf_add(sb, buf + i, sizeof(buf) - i);
}

int
json_add_i64(struct sbuf *sb, int64_t v)
{
	if (v >= 0)
		return json_add_u64(sb, (uint64_t)v);
	if (sbuf_addc(sb, '-') < 0)
		return -1;
	return json_add_u64(sb, (uint64_t)0 - (uint64_t)v);
}

int
json_add_key(struct sbuf *sb, const char *key, int first)
{
	/* Keys are the program's own names: plain and short, written in one
	 * piece (a summary has eighteen of them). */
	char buf[64];
	size_t n = 0;
	if (!first)
		buf[n++] = ',';
	buf[n++] = '"';
	for (const char *k = key; *k; k++) {
		if (n + 2 >= sizeof(buf) || !plain((unsigned char)*k)) {
			if (!first)
				sbuf_addc(sb, ',');
			json_add_string(sb, key);
			return sbuf_addc(sb, ':');
		}
		buf[n++] = *k;
	}
	buf[n++] = '"';
	buf[n++] = ':';
	return sbuf_add(sb, buf, n);
}
