/*
 * Time stamps: shadowmap keeps times as microseconds since the Unix epoch
 * (int64_t, UTC) and writes them as RFC 3339 in UTC ("Z").
 */
#ifndef SHADOWMAP_TIMEFMT_H
#define SHADOWMAP_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_LEN 40

#define USEC_PER_SEC INT64_C(1000000)

/* frac_digits: 0 (seconds), 3 (milliseconds) or 6 (microseconds).
 * Writes into out (at least TIMEFMT_LEN bytes); returns out. */
char *time_format_rfc3339(int64_t usec, int frac_digits, char *out);

/* Parses "YYYY-MM-DD" (midnight UTC) or RFC 3339 with a "Z" or a numeric
 * offset and an optional fraction. Returns 0, or -1 when s is not one. */
int time_parse_rfc3339(const char *s, int64_t *usec);

/* Start of the bucket of length bucket_usec that holds t: buckets are
 * aligned to multiples of their length since the epoch (UTC). */
int64_t time_bucket_start(int64_t t, int64_t bucket_usec);

#endif
