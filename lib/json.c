/*
 * JSON output helpers. Strings from the network are written as valid
 * UTF-8 JSON whatever their bytes, so a hostile name cannot break a record.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shadowmap/json.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and beyond U+10FFFF are invalid */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
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
	while (i < len) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			sbuf_add(sb, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			sbuf_add(sb, esc, 6);
			i++;
		} else if (c < 0x80) {
			/* copy a run of plain ASCII at once */
			size_t j = i;
			while (j < len && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' &&
			       p[j] != '\\')
				j++;
			sbuf_add(sb, p + i, j - i);
			i = j;
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

int
json_add_u64(struct sbuf *sb, uint64_t v)
{
	return sbuf_addf(sb, "%" PRIu64, v);
}

int
json_add_i64(struct sbuf *sb, int64_t v)
{
	return sbuf_addf(sb, "%" PRId64, v);
}

int
json_add_key(struct sbuf *sb, const char *key, int first)
{
	if (!first)
		sbuf_addc(sb, ',');
	json_add_string(sb, key);
	return sbuf_addc(sb, ':');
}
