/*
 * Server names: normalising what the wire says (SNI, Host, DNS) into a DNS
 * name, and its registrable domain (eTLD+1) by the ICANN section of the
 * public suffix list, through libpsl.
 */
#ifndef SHADOWMAP_DOMAIN_H
#define SHADOWMAP_DOMAIN_H

#include <stddef.h>

#define DOMAIN_MAX 254 /* 253 characters and the NUL */

/* Loads the newest public suffix list libpsl knows (the system's
 * /usr/share/publicsuffix file or libpsl's built-in copy). Returns 0 or -1.
 * Call once before domain_registrable; not thread-safe itself. */
int domain_init(void);
void domain_cleanup(void);

/*
 * Normalises a name seen on the wire into out (at least DOMAIN_MAX bytes):
 * lower case, no trailing dot, no ":port". Returns its length, or -1 when
 * the input is not a DNS name (empty, too long, a label over 63, bytes
 * outside letters, digits, '-', '_' and '.', or an IP literal).
 */
int domain_normalize(const char *in, size_t in_len, char *out, size_t out_size);

/*
 * The registrable domain of a normalised name by the ICANN section of the
 * public suffix list ("files.slack-edge.com" -> "slack-edge.com",
 * "foo.bar.co.uk" -> "bar.co.uk", "x.s3.amazonaws.com" -> "amazonaws.com").
 * Writes into out; returns 0, or -1 when the name is itself a public
 * suffix or has none.
 */
int domain_registrable(const char *name, char *out, size_t out_size);

#endif
