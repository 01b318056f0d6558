/*
 * A growable byte buffer with a hard size cap, as curl's dynbuf: every
 * writer of output built from outside input (JSON records, names) goes
 * through one so that no input can make it grow without bound.
 */
#ifndef SHADOWMAP_SBUF_H
#define SHADOWMAP_SBUF_H

#include <stddef.h>

struct sbuf {
	char *data;     /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;     /* hard limit on len */
	int failed;     /* set once an append failed (cap or ENOMEM) */
};

void sbuf_init(struct sbuf *sb, size_t max);
void sbuf_free(struct sbuf *sb);
/* Keeps the allocation, forgets the content and a previous failure. */
void sbuf_reset(struct sbuf *sb);

/* All return 0, or -1 when the cap is reached or memory runs out; after a
 * failure the buffer keeps what it had and further appends fail too. */
int sbuf_add(struct sbuf *sb, const void *data, size_t len);
int sbuf_addstr(struct sbuf *sb, const char *s);
int sbuf_addc(struct sbuf *sb, char c);
int sbuf_addf(struct sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Hands the buffer (NUL-terminated, caller frees) over and empties sb. */
char *sbuf_steal(struct sbuf *sb);

#endif
