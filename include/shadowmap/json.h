/*
 * Writing JSON into an sbuf: the wire format of usage summaries is built
 * with these, so escaping lives in one place.
 */
#ifndef SHADOWMAP_JSON_H
#define SHADOWMAP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/sbuf.h"

/* A JSON string literal with quotes; NULL writes null. Bytes that are not
 * valid UTF-8 are written as U+FFFD so the output always parses. */
int json_add_string(struct sbuf *sb, const char *s);
int json_add_stringn(struct sbuf *sb, const char *s, size_t len);
int json_add_u64(struct sbuf *sb, uint64_t v);
int json_add_i64(struct sbuf *sb, int64_t v);
/* "key": with a leading comma unless first is set. */
int json_add_key(struct sbuf *sb, const char *key, int first);
/* The same for a key spelled out in the program (a string literal, plain
 * ASCII): the compiler writes the quotes and the comma, so a summary's
 * eighteen keys cost a copy each. */
#define JSON_KEY(sb, lit) sbuf_add((sb), ",\"" lit "\":", sizeof(",\"" lit "\":") - 1)
#define JSON_FIRST_KEY(sb, lit) sbuf_add((sb), "\"" lit "\":", sizeof("\"" lit "\":") - 1)

#endif
