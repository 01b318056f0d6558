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
 * "[v6]" and "[v6]:port" are addresses, so -1; so is a name whose last
 * label is a number ("10.1", "0x7f.1"), which resolvers read as IPv4.
 * Single labels ("localhost") are names. out may be in (in place); on -1
 * out holds "".
 */
int domain_normalize(const char *in, size_t in_len, char *out, size_t out_size);

/*
 * The registrable domain of a normalised name by the ICANN section of the
 * public suffix list ("files.slack-edge.com" -> "slack-edge.com",
 * "foo.bar.co.uk" -> "bar.co.uk", "x.s3.amazonaws.com" -> "amazonaws.com").
 * Writes into out; returns 0, or -1 when the name is itself a public
 * suffix or has none. PRIVATE-section entries are ignored ("user.github.io"
 * -> "github.io"); an unlisted TLD follows the list's implicit "*" rule
 * ("host.corp.internal" -> "corp.internal"), so a single label
 * ("localhost", "printer") is a public suffix: -1, and callers keep the
 * name as it is. IP literals: -1. Thread-safe after domain_init.
 */
int domain_registrable(const char *name, char *out, size_t out_size);

#endif
