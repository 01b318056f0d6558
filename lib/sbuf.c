/*
 * Capped growable buffers (see sbuf.h): growth doubles, never past max.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/sbuf.h"

void
sbuf_init(struct sbuf *sb, size_t max)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->max = max;
	sb->failed = 0;
}

void
sbuf_free(struct sbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
	sb->failed = 0;
}

void
sbuf_reset(struct sbuf *sb)
{
	sb->len = 0;
	sb->failed = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

static int
sbuf_grow(struct sbuf *sb, size_t need)
{
	/* need counts the NUL terminator */
	if (need <= sb->cap)
		return 0;
	if (need - 1 > sb->max)
		return -1;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	if (cap - 1 > sb->max)
		cap = sb->max + 1;
	char *p = realloc(sb->data, cap);
	if (!p)
		return -1;
	sb->data = p;
	sb->cap = cap;
	return 0;
}

int
sbuf_add(struct sbuf *sb, const void *data, size_t len)
{
	if (sb->failed)
		return -1;
	if (len > sb->max - sb->len || sbuf_grow(sb, sb->len + len + 1) < 0) {
		sb->failed = 1;
		return -1;
	}
	if (len)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
	return 0;
}

int
sbuf_addstr(struct sbuf *sb, const char *s)
{
	return sbuf_add(sb, s, strlen(s));
}

int
sbuf_addc(struct sbuf *sb, char c)
{
	if (!sb->failed && sb->len + 2 <= sb->cap && sb->len < sb->max) {
		sb->data[sb->len++] = c;
		sb->data[sb->len] = '\0';
		return 0;
	}
	return sbuf_add(sb, &c, 1);
}

int
sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	char small[256];
	va_list ap;

	if (sb->failed)
		return -1;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = 1;
		return -1;
	}
	if ((size_t)n < sizeof(small))
		return sbuf_add(sb, small, (size_t)n);
	if ((size_t)n > sb->max - sb->len || sbuf_grow(sb, sb->len + (size_t)n + 1) < 0) {
		sb->failed = 1;
		return -1;
	}
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}

char *
sbuf_steal(struct sbuf *sb)
{
	char *p = sb->data;
	if (!p)
		p = calloc(1, 1);
	sb->data = NULL;
	sb->len = sb->cap = 0;
	sb->failed = 0;
	return p;
}
