/*
 * Token generation and hashing (token.h). libgcrypt provides SHA-256 (the
 * collector already links it); randomness comes straight from getrandom(),
 * which blocks only until the kernel's pool is seeded once after boot.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <gcrypt.h>

#include "token.h"

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static pthread_once_t gcrypt_once = PTHREAD_ONCE_INIT;
static int gcrypt_ok;

static void
gcrypt_setup(void)
{
	/* We use no secure memory: only hashes of tokens, never keys. */
	if (!gcry_check_version(GCRYPT_VERSION))
		return;
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	gcrypt_ok = 1;
}

int
token_init(void)
{
	pthread_once(&gcrypt_once, gcrypt_setup);
	return gcrypt_ok ? 0 : -1;
}

/* base64url without padding of n bytes; out must hold 4 * ceil(n / 3) + 1. */
static size_t
b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

int
token_generate(char *out, size_t outlen)
{
	unsigned char raw[TOKEN_RANDOM_BYTES];
	char text[64];
	size_t got = 0;

	if (outlen < TOKEN_TEXT_LEN + 1) {
		errno = ENOSPC;
		return -1;
	}
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	size_t n = b64url_encode(raw, sizeof(raw), text);
	memset(raw, 0, sizeof(raw));
	memcpy(out, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
	memcpy(out + sizeof(TOKEN_PREFIX) - 1, text, n + 1);
	memset(text, 0, sizeof(text));
	return 0;
}

int
token_well_formed(const char *s, size_t len)
{
	size_t plen = sizeof(TOKEN_PREFIX) - 1;
	if (len != TOKEN_TEXT_LEN || memcmp(s, TOKEN_PREFIX, plen) != 0)
		return 0;
	for (size_t i = plen; i < len; i++)
		if (!memchr(b64url, s[i], sizeof(b64url) - 1))
			return 0;
	return 1;
}

int
token_sha256_hex(const void *data, size_t len, char *hex, size_t hexlen)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[32];

	if (hexlen < TOKEN_HASH_HEX_LEN + 1 || token_init() < 0)
		return -1;
	gcry_md_hash_buffer(GCRY_MD_SHA256, digest, data, len);
	for (size_t i = 0; i < sizeof(digest); i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[TOKEN_HASH_HEX_LEN] = '\0';
	return 0;
}

int
token_from_bearer(const char *header, const char **tok, size_t *len)
{
	const char *p = header;
	size_t n;

	if (!header)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	/* the scheme is case-insensitive (RFC 9110, 11.1) */
	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return -1;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	n = strcspn(p, " \t");
	if (n == 0 || p[n + strspn(p + n, " \t")] != '\0')
		return -1;
	*tok = p;
	*len = n;
	return 0;
}
