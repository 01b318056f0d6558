/*
 * Server names from a client's first bytes (names.h): the SNI of a TLS
 * ClientHello read across records without copying, and the Host of an
 * HTTP/1.x request. Every length on the wire is checked against its frame.
 */
#include <string.h>

#include "shadowmap/domain.h"

#include "names.h"

#define TLS_CONTENT_HANDSHAKE 22
#define TLS_HANDSHAKE_CLIENT_HELLO 1
#define TLS_EXT_SERVER_NAME 0
#define TLS_SNI_HOST_NAME 0
/* RFC 8446 allows 2^14 bytes of plaintext per record; tolerate the
 * expansion allowance of older versions so odd stacks still parse. */
#define TLS_RECORD_MAX (16384 + 2048)
/* Bigger ClientHellos exist only to hurt parsers: give up on them. */
#define TLS_HELLO_MAX 65536
/* version, random, session id length, one suite, one compression method */
#define TLS_HELLO_BODY_MIN (2 + 32 + 1 + 2 + 2 + 1 + 1)
#define SNI_BUF 256

#define HTTP_HEAD_MAX 16384
#define HTTP_METHOD_MAX 24

/*
 * A forward-only reader of handshake bytes. With records set, data is a
 * TLS record stream and the reader steps over record headers as it goes,
 * so a ClientHello split into many records (or records split into many
 * segments) is read where it lies. taken counts handshake bytes consumed;
 * reads past limit fail as malformed.
 */
struct hs_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;        /* next byte of data */
	size_t rec_left;   /* payload bytes left in the current record */
	size_t taken;      /* handshake bytes consumed */
	size_t limit;      /* handshake bytes that may be consumed */
	int records;
	int n_records;
	enum name_result err; /* why the last read failed */
};

static void
hs_init(struct hs_reader *r, const uint8_t *data, size_t len, int records)
{
	memset(r, 0, sizeof(*r));
	r->data = data;
	r->len = len;
	r->records = records;
	r->limit = TLS_HELLO_MAX;
}

/* Makes sure a record with unread payload is current. Returns 0 or -1. */
static int
hs_record(struct hs_reader *r)
{
	if (!r->records || r->rec_left > 0)
		return 0;
	if (r->len - r->pos < 5) {
		r->err = NAME_NEED_MORE;
		return -1;
	}
	const uint8_t *h = r->data + r->pos;
	size_t rec_len = (size_t)h[3] << 8 | h[4];
	if (h[0] != TLS_CONTENT_HANDSHAKE || h[1] != 3 || rec_len == 0 ||
	    rec_len > TLS_RECORD_MAX) {
		/* Not TLS at all, or TLS that breaks off mid-ClientHello. */
		r->err = r->n_records == 0 ? NAME_NOT_THIS : NAME_ABSENT;
		return -1;
	}
	r->pos += 5;
	r->rec_left = rec_len;
	r->n_records++;
	return 0;
}

/* Consumes n handshake bytes, copying them to out unless out is NULL. */
static int
hs_take(struct hs_reader *r, uint8_t *out, size_t n)
{
	if (n > r->limit - r->taken) {
		r->err = NAME_ABSENT;
		return -1;
	}
	while (n > 0) {
		if (hs_record(r) < 0)
			return -1;
		size_t chunk = r->len - r->pos;
		if (chunk == 0) {
			r->err = NAME_NEED_MORE;
			return -1;
		}
		if (r->records && chunk > r->rec_left)
			chunk = r->rec_left;
		if (chunk > n)
			chunk = n;
		if (out) {
			memcpy(out, r->data + r->pos, chunk);
			out += chunk;
		}
		r->pos += chunk;
		if (r->records)
			r->rec_left -= chunk;
		r->taken += chunk;
		n -= chunk;
	}
	return 0;
}

static int
hs_uint(struct hs_reader *r, size_t width, size_t *value)
{
	uint8_t b[3];

	if (hs_take(r, b, width) < 0)
		return -1;
	*value = 0;
	for (size_t i = 0; i < width; i++)
		*value = *value << 8 | b[i];
	return 0;
}

/* A vector's length: fails unless the length and the vector fit before end. */
static int
hs_vector(struct hs_reader *r, size_t width, size_t end, size_t *vec_len)
{
	if (end < r->taken || end - r->taken < width) {
		r->err = NAME_ABSENT;
		return -1;
	}
	if (hs_uint(r, width, vec_len) < 0)
		return -1;
	if (*vec_len > end - r->taken) {
		r->err = NAME_ABSENT;
		return -1;
	}
	return 0;
}

/*
 * The server_name extension body (RFC 6066 section 3): copies the first
 * host_name into name (unusable ones leave *name_len at 0).
 */
static int
hello_server_name(struct hs_reader *r, size_t ext_end, char *name, size_t *name_len)
{
	size_t list_len, entry_len, type, outer_limit = r->limit;
	int rc = -1;

	/* Nothing in here may read past the extension. */
	r->limit = ext_end;
	r->err = NAME_ABSENT;
	if (hs_vector(r, 2, ext_end, &list_len) < 0)
		goto out;
	if (list_len == 0 || r->taken + list_len != ext_end)
		goto out;
	while (r->taken < ext_end) {
		if (hs_uint(r, 1, &type) < 0 || hs_vector(r, 2, ext_end, &entry_len) < 0)
			goto out;
		if (type == TLS_SNI_HOST_NAME && *name_len == 0 && entry_len > 0 &&
		    entry_len < SNI_BUF) {
			if (hs_take(r, (uint8_t *)name, entry_len) < 0)
				goto out;
			*name_len = entry_len;
		} else if (hs_take(r, NULL, entry_len) < 0) {
			goto out;
		}
	}
	rc = 0;
out:
	r->limit = outer_limit;
	return rc;
}

/* The ClientHello body after its 4-byte header, all of it present. */
static enum name_result
hello_parse(struct hs_reader *r, size_t body_len, char *out, size_t out_size)
{
	char name[SNI_BUF];
	size_t name_len = 0, value, vec_len, end = r->taken + body_len;
	int seen_sni = 0;

	r->limit = end;
	r->err = NAME_ABSENT;
	/* legacy_version: SSL 3.0 to TLS 1.2 all read 0x03xx */
	if (hs_uint(r, 2, &value) < 0 || (value >> 8) != 3)
		return NAME_ABSENT;
	if (hs_take(r, NULL, 32) < 0)
		return NAME_ABSENT;
	if (hs_vector(r, 1, end, &vec_len) < 0 || vec_len > 32 || hs_take(r, NULL, vec_len) < 0)
		return NAME_ABSENT;
	if (hs_vector(r, 2, end, &vec_len) < 0 || vec_len < 2 || (vec_len & 1) ||
	    hs_take(r, NULL, vec_len) < 0)
		return NAME_ABSENT;
	if (hs_vector(r, 1, end, &vec_len) < 0 || vec_len < 1 || hs_take(r, NULL, vec_len) < 0)
		return NAME_ABSENT;
	if (r->taken == end)
		return NAME_ABSENT; /* no extensions at all */
	if (hs_vector(r, 2, end, &vec_len) < 0 || r->taken + vec_len != end)
		return NAME_ABSENT;
	while (r->taken < end) {
		size_t type, ext_len;
		if (hs_uint(r, 2, &type) < 0 || hs_vector(r, 2, end, &ext_len) < 0)
			return NAME_ABSENT;
		if (type == TLS_EXT_SERVER_NAME) {
			/* RFC 8446 4.2: one extension of a type per message */
			if (seen_sni)
				return NAME_ABSENT;
			seen_sni = 1;
			if (hello_server_name(r, r->taken + ext_len, name, &name_len) < 0)
				return NAME_ABSENT;
		} else if (hs_take(r, NULL, ext_len) < 0) {
			return NAME_ABSENT;
		}
	}
	if (name_len == 0 || domain_normalize(name, name_len, out, out_size) < 0)
		return NAME_ABSENT;
	return NAME_FOUND;
}

static enum name_result
hello_from(const uint8_t *data, size_t len, int records, char *out, size_t out_size)
{
	struct hs_reader r;
	size_t type, body_len;
	enum name_result res;

	if (out && out_size)
		out[0] = '\0';
	if (!data || !out || out_size == 0)
		return NAME_NOT_THIS;
	/* Answer "not TLS" from the first bytes, before a whole header. */
	if (records) {
		if ((len > 0 && data[0] != TLS_CONTENT_HANDSHAKE) || (len > 1 && data[1] != 3))
			return NAME_NOT_THIS;
		if (len > 5 && data[5] != TLS_HANDSHAKE_CLIENT_HELLO)
			return NAME_NOT_THIS;
	} else if (len > 0 && data[0] != TLS_HANDSHAKE_CLIENT_HELLO) {
		return NAME_NOT_THIS;
	}

	/* First pass: is the whole ClientHello here? */
	hs_init(&r, data, len, records);
	if (hs_uint(&r, 1, &type) < 0)
		return r.err;
	if (type != TLS_HANDSHAKE_CLIENT_HELLO)
		return NAME_NOT_THIS;
	if (hs_uint(&r, 3, &body_len) < 0)
		return r.err;
	if (body_len < TLS_HELLO_BODY_MIN || body_len > TLS_HELLO_MAX - 4)
		return NAME_ABSENT;
	if (hs_take(&r, NULL, body_len) < 0)
		return r.err;

	/* Second pass: parse it. */
	hs_init(&r, data, len, records);
	if (hs_take(&r, NULL, 4) < 0)
		return NAME_ABSENT;
	res = hello_parse(&r, body_len, out, out_size);
	if (res != NAME_FOUND)
		out[0] = '\0';
	return res;
}

enum name_result
tls_sni_from_stream(const uint8_t *data, size_t len, char *out, size_t out_size)
{
	return hello_from(data, len, 1, out, out_size);
}

enum name_result
tls_sni_from_handshake(const uint8_t *data, size_t len, char *out, size_t out_size)
{
	return hello_from(data, len, 0, out, out_size);
}

/* ---- HTTP/1.x ---- */

static int
http_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
http_ieq(const uint8_t *a, size_t a_len, const char *b)
{
	size_t b_len = strlen(b);

	if (a_len != b_len)
		return 0;
	for (size_t i = 0; i < a_len; i++)
		if (http_lower(a[i]) != http_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* The end of the line starting at from: the index of its LF, or -1. */
static long
http_line_end(const uint8_t *data, size_t len, size_t from)
{
	const uint8_t *lf = memchr(data + from, '\n', len - from);
	return lf ? (long)(lf - data) : -1;
}

/* The line [start, lf) without its CR. */
static size_t
http_line_len(const uint8_t *data, size_t start, size_t lf)
{
	size_t n = lf - start;
	if (n > 0 && data[start + n - 1] == '\r')
		n--;
	return n;
}

/*
 * The authority of an absolute-form target ("http://user@host:port/path"):
 * sets *auth and *auth_len and returns 1, or returns 0 when the target is
 * not absolute-form.
 */
static int
http_absolute_authority(const uint8_t *target, size_t len, const uint8_t **auth,
			size_t *auth_len)
{
	size_t i = 0, start, end;

	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	while (i < len && ((target[i] >= 'a' && target[i] <= 'z') ||
			   (target[i] >= 'A' && target[i] <= 'Z') ||
			   (i > 0 && ((target[i] >= '0' && target[i] <= '9') ||
				      target[i] == '+' || target[i] == '-' || target[i] == '.'))))
		i++;
	if (i == 0 || len - i < 3 || memcmp(target + i, "://", 3) != 0)
		return 0;
	start = i + 3;
	end = start;
	while (end < len && target[end] != '/' && target[end] != '?' && target[end] != '#')
		end++;
	/* userinfo never names the server */
	for (size_t j = end; j > start; j--) {
		if (target[j - 1] == '@') {
			start = j;
			break;
		}
	}
	*auth = target + start;
	*auth_len = end - start;
	return 1;
}

/*
 * The request line: "METHOD SP target SP HTTP/1.x". Returns NAME_FOUND when
 * it is one (target and method set), NAME_NEED_MORE while it may still be,
 * NAME_NOT_THIS when it cannot be.
 */
static enum name_result
http_request_line(const uint8_t *data, size_t len, size_t *method_len,
		  size_t *target_start, size_t *target_len, size_t *line_end)
{
	static const char version[] = "HTTP/1.";
	size_t i = 0, t, v;

	for (; i < len && i <= HTTP_METHOD_MAX; i++) {
		uint8_t c = data[i];
		if (c == ' ')
			break;
		/* Registered methods are upper-case letters, '-' and '_'. */
		if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return NAME_NOT_THIS;
	}
	if (i > HTTP_METHOD_MAX)
		return NAME_NOT_THIS;
	if (i == len)
		return NAME_NEED_MORE;
	if (i == 0)
		return NAME_NOT_THIS;
	*method_len = i;
	t = i + 1;
	for (i = t; i < len && data[i] != ' '; i++)
		if (data[i] <= 0x20 || data[i] == 0x7f)
			return NAME_NOT_THIS;
	if (i == len)
		return NAME_NEED_MORE;
	if (i == t)
		return NAME_NOT_THIS;
	*target_start = t;
	*target_len = i - t;
	v = i + 1;
	for (i = 0; i < sizeof(version) - 1; i++) {
		if (v + i == len)
			return NAME_NEED_MORE;
		if (data[v + i] != (uint8_t)version[i])
			return NAME_NOT_THIS;
	}
	v += sizeof(version) - 1;
	if (v == len)
		return NAME_NEED_MORE;
	if (data[v] != '0' && data[v] != '1')
		return NAME_NOT_THIS;
	v++;
	if (v < len && data[v] == '\r')
		v++;
	if (v == len)
		return NAME_NEED_MORE;
	if (data[v] != '\n')
		return NAME_NOT_THIS;
	*line_end = v;
	return NAME_FOUND;
}

enum name_result
http_host_from_stream(const uint8_t *data, size_t len, char *out, size_t out_size)
{
	size_t method_len = 0, target_start = 0, target_len = 0, line_end = 0;
	const uint8_t *host = NULL, *auth = NULL;
	size_t host_len = 0, auth_len = 0, pos;
	int head_done = 0;
	enum name_result res;

	if (out && out_size)
		out[0] = '\0';
	if (!data || !out || out_size == 0)
		return NAME_NOT_THIS;
	if (len > HTTP_HEAD_MAX)
		len = HTTP_HEAD_MAX; /* the header block must end within the cap */
	res = http_request_line(data, len, &method_len, &target_start, &target_len, &line_end);
	if (res == NAME_NEED_MORE && len == HTTP_HEAD_MAX)
		return NAME_ABSENT;
	if (res != NAME_FOUND)
		return res;

	/* Header fields up to the empty line; obs-fold lines are skipped. */
	for (pos = line_end + 1; pos < len;) {
		long lf = http_line_end(data, len, pos);
		if (lf < 0)
			break;
		size_t n = http_line_len(data, pos, (size_t)lf);
		const uint8_t *line = data + pos;
		pos = (size_t)lf + 1;
		if (n == 0) {
			head_done = 1;
			break;
		}
		if (line[0] == ' ' || line[0] == '\t')
			continue;
		const uint8_t *colon = memchr(line, ':', n);
		/* "Host :" is invalid (RFC 9112 5.1): such a field is not Host. */
		if (!colon || host || !http_ieq(line, (size_t)(colon - line), "host"))
			continue;
		const uint8_t *v = colon + 1, *v_end = line + n;
		while (v < v_end && (*v == ' ' || *v == '\t'))
			v++;
		while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
			v_end--;
		host = v;
		host_len = (size_t)(v_end - v);
	}
	if (!head_done)
		return len == HTTP_HEAD_MAX ? NAME_ABSENT : NAME_NEED_MORE;

	/* A proxy request names its destination in the target, which then
	 * outranks Host (RFC 9112 3.2.2). */
	if (method_len == 7 && memcmp(data, "CONNECT", 7) == 0) {
		auth = data + target_start;
		auth_len = target_len;
	} else if (!http_absolute_authority(data + target_start, target_len, &auth, &auth_len)) {
		auth = host;
		auth_len = host_len;
	}
	if (!auth || auth_len == 0 ||
	    domain_normalize((const char *)auth, auth_len, out, out_size) < 0) {
		out[0] = '\0';
		return NAME_ABSENT;
	}
	return NAME_FOUND;
}
