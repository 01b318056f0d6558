/*
 * API tokens: how they are made (32 random bytes from getrandom(), base64url,
 * prefixed "smk_" so that a leaked one is easy to spot in logs and repos) and
 * how they are kept (only their SHA-256, as hex, ever reaches the store).
 * The collector looks a token up by its hash, so comparing secrets in
 * constant time does not arise.
 */
#ifndef SHADOWMAP_TOKEN_H
#define SHADOWMAP_TOKEN_H

#include <stddef.h>

#define TOKEN_PREFIX "smk_"
#define TOKEN_RANDOM_BYTES 32
/* "smk_" + 43 base64url characters (32 bytes, no padding) */
#define TOKEN_TEXT_LEN (sizeof(TOKEN_PREFIX) - 1 + 43)
#define TOKEN_HASH_HEX_LEN 64 /* SHA-256 as lower-case hex */

/* Initialises libgcrypt. Call once from the main thread before any other
 * thread hashes (token_sha256_hex calls it too, guarded by pthread_once).
 * 0, or -1 when the library is too old. */
int token_init(void);

/* Writes a new token, NUL-terminated, into out (at least TOKEN_TEXT_LEN + 1
 * bytes). 0, or -1 when the kernel gives no randomness (errno set). */
int token_generate(char *out, size_t outlen);

/* Whether s (len bytes) has the shape of a token: the prefix and base64url
 * characters of the right length. Cheap: spares hashing garbage. */
int token_well_formed(const char *s, size_t len);

/* SHA-256 of data as 64 lower-case hex digits and a NUL into hex (at least
 * TOKEN_HASH_HEX_LEN + 1 bytes). 0 or -1. */
int token_sha256_hex(const void *data, size_t len, char *hex, size_t hexlen);

/* The token of an "Authorization: Bearer TOKEN" header value: *tok points
 * into header (not NUL-terminated at the end of the token if trailing
 * blanks follow), *len its length. 0, or -1 when it is no bearer header. */
int token_from_bearer(const char *header, const char **tok, size_t *len);

#endif
