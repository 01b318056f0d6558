/*
 * UTF-8 validation, shared by the JSON writer (which replaces bad bytes)
 * and the YAML reader (which refuses them).
 */
#ifndef SHADOWMAP_UTF8_H
#define SHADOWMAP_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (n bytes available; 1 for
 * ASCII), or 0 when it is invalid: truncated, overlong, a surrogate or
 * past U+10FFFF. n must be at least 1. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
