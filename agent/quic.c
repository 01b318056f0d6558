/*
 * QUIC client Initials (quic.h; why and limits in docs/quic.md): derive the
 * Initial keys, open the packets, reassemble the CRYPTO stream by offset and
 * read the ClientHello (or gQUIC CHLO) once it is whole.
 */
#include <gcrypt.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/domain.h"
#include "shadowmap/log.h"

#include "quic.h"

#define QUIC_CID_MAX 20
#define QUIC_CID_FIRST_MIN 8     /* RFC 9000 7.2: a client's first DCID */
#define QUIC_TAG_LEN 16
#define QUIC_SAMPLE_LEN 16
#define QUIC_IV_LEN 12
#define QUIC_KEY_LEN 16
#define QUIC_PACKETS_PER_DATAGRAM 8
#define QUIC_STALL_MAX 8         /* client datagrams without new CRYPTO bytes */
#define QUIC_REKEY_MAX 2         /* key schedules for a new DCID (Retry) */
#define QUIC_PACKET_MAX 65536
#define QUIC_PLAIN_MIN 2048
#define GQUIC_HASH_LEN 12        /* message hash before cleartext frames */
#define GQUIC_CRYPTO_STREAM 1
#define CHLO_TAGS_MAX 128
#define HASH_LEN 32

enum quic_header_kind {
	HEADER_LONG = 0,    /* RFC 8999 long header (IETF, Q050, T05x) */
	HEADER_Q046,        /* long header, cleartext, no Length field */
	HEADER_PUBLIC,      /* gQUIC's public header (Q024 to Q043) */
};

enum quic_framing {
	FRAMING_IETF = 0,   /* RFC 9000 frame types */
	FRAMING_GQUIC,      /* Google's own (Q0xx, T05x) */
};

enum quic_hello {
	HELLO_TLS = 0,      /* a TLS 1.3 ClientHello */
	HELLO_CHLO,         /* QUIC crypto's CHLO message */
};

struct quic_version {
	uint32_t number;
	const uint8_t *salt;    /* NULL: Initials are cleartext (gQUIC) */
	const char *label_key, *label_iv, *label_hp;
	uint8_t initial_type;   /* long header packet type of an Initial */
	uint8_t header;         /* enum quic_header_kind */
	uint8_t framing;
	uint8_t hello;
	uint8_t little_endian;  /* gQUIC before Q039 */
	uint8_t private_flags;  /* gQUIC before Q034: a byte before the frames */
};

/* RFC 9001 5.2 and the drafts before it; RFC 9369 3.3.1; Google's
 * versions as their implementation defines them. */
static const uint8_t salt_v1[20] = {
	0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
	0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
};
static const uint8_t salt_v2[20] = {
	0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
	0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
};
static const uint8_t salt_draft23[20] = {
	0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7,
	0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02,
};
static const uint8_t salt_draft29[20] = {
	0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
	0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99,
};
static const uint8_t salt_q050[20] = {
	0x50, 0x45, 0x74, 0xef, 0xd0, 0x66, 0xfe, 0x2f, 0x9d, 0x94,
	0x5c, 0xfc, 0xdb, 0xd3, 0xa7, 0xf0, 0xd3, 0xb5, 0x6b, 0x45,
};
static const uint8_t salt_t050[20] = {
	0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80,
	0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c, 0x60, 0x48, 0x83, 0x10,
};
static const uint8_t salt_t051[20] = {
	0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50,
	0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc, 0xda, 0x6e, 0x03, 0x3d,
};

#define V1_LABELS "quic key", "quic iv", "quic hp"
#define IETF_TLS HEADER_LONG, FRAMING_IETF, HELLO_TLS, 0, 0
#define GOOGLE_TLS HEADER_LONG, FRAMING_GQUIC, HELLO_TLS, 0, 0
#define NO_KEYS NULL, NULL, NULL, NULL, 0
static const struct quic_version quic_versions[] = {
	{ 0x00000001, salt_v1, V1_LABELS, 0, IETF_TLS },
	{ 0x6b3343cf, salt_v2, "quicv2 key", "quicv2 iv", "quicv2 hp", 1, IETF_TLS },
	{ 0xff00001b, salt_draft23, V1_LABELS, 0, IETF_TLS },     /* draft-27 */
	{ 0xff00001c, salt_draft23, V1_LABELS, 0, IETF_TLS },
	{ 0xff00001d, salt_draft29, V1_LABELS, 0, IETF_TLS },     /* draft-29 */
	{ 0xff00001e, salt_draft29, V1_LABELS, 0, IETF_TLS },
	{ 0xff00001f, salt_draft29, V1_LABELS, 0, IETF_TLS },
	{ 0xff000020, salt_draft29, V1_LABELS, 0, IETF_TLS },
	{ 0xff000021, salt_v1, V1_LABELS, 0, IETF_TLS },          /* draft-33 */
	{ 0xff000022, salt_v1, V1_LABELS, 0, IETF_TLS },
	{ 0xfaceb002, salt_draft23, V1_LABELS, 0, IETF_TLS },     /* mvfst draft-27 */
	{ 0x54303530, salt_t050, V1_LABELS, 0, GOOGLE_TLS },      /* T050 */
	{ 0x54303531, salt_t051, V1_LABELS, 0, GOOGLE_TLS },      /* T051 */
	{ 0x51303530, salt_q050, V1_LABELS, 0, HEADER_LONG, FRAMING_GQUIC, HELLO_CHLO, 0, 0 },
	{ 0x51303436, NO_KEYS, HEADER_Q046, FRAMING_GQUIC, HELLO_CHLO, 0, 0 },
	{ 0x51303433, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 0, 0 },  /* Q043 */
	{ 0x51303339, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 0, 0 },
	{ 0x51303338, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 0 },
	{ 0x51303337, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 0 },
	{ 0x51303336, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 0 },
	{ 0x51303335, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 0 },
	{ 0x51303334, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 0 },
	{ 0x51303333, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303332, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303331, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303330, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303239, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303238, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303237, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303236, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303235, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
	{ 0x51303234, NO_KEYS, HEADER_PUBLIC, FRAMING_GQUIC, HELLO_CHLO, 1, 1 },
};

struct quic_keys {
	gcry_cipher_hd_t hp;    /* AES-128-ECB, for the header protection mask */
	gcry_cipher_hd_t aead;  /* AES-128-GCM */
	uint8_t iv[QUIC_IV_LEN];
};

struct quic_ctx {
	const struct quic_version *ver;  /* of the client's first Initial */
	struct quic_keys keys;
	int has_keys;
	uint8_t dcid[QUIC_CID_MAX];      /* the DCID the keys come from */
	uint8_t dcid_len;
	uint8_t n_rekeys;
	uint8_t n_stalled;
	uint8_t opened;                  /* an Initial was read: this is QUIC */
	uint8_t done;
	enum name_result result;         /* once done */
	int64_t largest_pn;
	size_t contiguous;               /* CRYPTO bytes held from offset 0 */
	uint8_t *plain;                  /* scratch: header copy + plaintext */
	size_t plain_cap;
	char name[DOMAIN_MAX];
	uint8_t have[QUIC_CRYPTO_MAX / 8];
	uint8_t crypto[QUIC_CRYPTO_MAX];
};

/* What the long header says, up to the packet number. */
struct quic_header {
	uint8_t type;            /* the two long-header type bits */
	const uint8_t *dcid;
	uint8_t dcid_len;
	size_t pn_offset;
	size_t frames_offset;    /* cleartext gQUIC: where the frames start */
	size_t packet_len;       /* this packet's bytes in the datagram */
};

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const struct quic_version *
version_find(uint32_t number)
{
	for (size_t i = 0; i < sizeof(quic_versions) / sizeof(quic_versions[0]); i++)
		if (quic_versions[i].number == number)
			return &quic_versions[i];
	return NULL;
}

/*
 * gQUIC's public header (before Q044): flags, then with 0x08 an 8-byte
 * connection ID and with 0x01 the version. Clients always send both in
 * their first packets; 0x80 is never set, unlike a long header.
 */
static int
public_header_has_version(const uint8_t *p, size_t len)
{
	return len >= 13 && !(p[0] & 0x80) && (p[0] & 0x09) == 0x09;
}

/* The version a client's packet announces, when we know it. */
static const struct quic_version *
version_of(const uint8_t *p, size_t len)
{
	const struct quic_version *v = NULL;

	if (len >= 7 && (p[0] & 0x80))
		v = version_find(be32(p + 1));
	else if (public_header_has_version(p, len))
		v = version_find(be32(p + 9));
	return v;
}

/* RFC 9000 16: reads a variable-length integer at *pos. */
static int
varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *value)
{
	size_t n;
	uint64_t v;

	if (*pos >= len)
		return -1;
	n = (size_t)1 << (p[*pos] >> 6);
	if (len - *pos < n)
		return -1;
	v = p[*pos] & 0x3f;
	for (size_t i = 1; i < n; i++)
		v = v << 8 | p[*pos + i];
	*pos += n;
	*value = v;
	return 0;
}

/*
 * Reads the header of the packet at p (len bytes to the end of the
 * datagram) for version v. Returns 0, or -1 when it is not a packet of v
 * or does not fit.
 */
static int
header_parse(const struct quic_version *v, const uint8_t *p, size_t len,
	     struct quic_header *h)
{
	size_t pos;
	uint64_t token_len, length;
	uint8_t scid_len;

	memset(h, 0, sizeof(*h));
	if (v->header == HEADER_PUBLIC) {
		/* flags, CID, version, packet number (1, 2, 4 or 6 bytes),
		 * a 12-byte message hash, a private flags byte before Q034 */
		static const uint8_t pn_lens[4] = { 1, 2, 4, 6 };
		if (!public_header_has_version(p, len) || be32(p + 9) != v->number)
			return -1;
		h->type = v->initial_type;
		h->dcid = p + 1;
		h->dcid_len = 8;
		h->pn_offset = 13;
		h->frames_offset = 13 + (size_t)pn_lens[(p[0] >> 4) & 3] + GQUIC_HASH_LEN +
				   v->private_flags;
		h->packet_len = len;
		return h->frames_offset < len ? 0 : -1;
	}
	if (len < 7 || !(p[0] & 0x80) || be32(p + 1) != v->number)
		return -1;
	h->type = (p[0] >> 4) & 3;
	if (v->header == HEADER_Q046) {
		/* both CID lengths in one byte; the packet runs to the end */
		uint8_t dl = p[5] >> 4, sl = p[5] & 0x0f;
		h->dcid_len = dl ? dl + 3 : 0;
		scid_len = sl ? sl + 3 : 0;
		h->dcid = p + 6;
		h->pn_offset = 6 + (size_t)h->dcid_len + scid_len;
		h->frames_offset = h->pn_offset + (size_t)(p[0] & 3) + 1 + GQUIC_HASH_LEN;
		h->packet_len = len;
		return h->frames_offset < len ? 0 : -1;
	}
	h->dcid_len = p[5];
	if (h->dcid_len > QUIC_CID_MAX || len < 7 + (size_t)h->dcid_len)
		return -1;
	h->dcid = p + 6;
	pos = 6 + (size_t)h->dcid_len;
	scid_len = p[pos++];
	if (scid_len > QUIC_CID_MAX || len - pos < scid_len)
		return -1;
	pos += scid_len;
	/* Retry (the type after Handshake) has no Length: not a client's. */
	if (h->type == ((v->initial_type + 3) & 3))
		return -1;
	if (h->type == v->initial_type) {
		if (varint(p, len, &pos, &token_len) < 0 || token_len > len - pos)
			return -1;
		pos += (size_t)token_len;
	}
	if (varint(p, len, &pos, &length) < 0 || length > len - pos)
		return -1;
	h->pn_offset = pos;
	h->packet_len = pos + (size_t)length;
	return 0;
}

/* ---- keys ---- */

static int
hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len,
	    uint8_t out[HASH_LEN])
{
	gcry_buffer_t iov[2];

	memset(iov, 0, sizeof(iov));
	iov[0].data = (void *)key;
	iov[0].len = key_len;
	iov[1].data = (void *)data;
	iov[1].len = data_len;
	return gcry_md_hash_buffers(GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC, out, iov, 2) ? -1 : 0;
}

/* RFC 8446 7.1 HKDF-Expand-Label with an empty context, for outputs of at
 * most one hash block (all QUIC Initial secrets are). */
static int
expand_label(const uint8_t secret[HASH_LEN], const char *label, uint8_t *out, size_t out_len)
{
	static const char prefix[] = "tls13 ";
	uint8_t info[2 + 1 + 32 + 1 + 1], block[HASH_LEN];
	size_t label_len = strlen(label), n = 0;

	if (out_len > HASH_LEN || sizeof(prefix) - 1 + label_len > 32)
		return -1;
	info[n++] = 0;
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(sizeof(prefix) - 1 + label_len);
	memcpy(info + n, prefix, sizeof(prefix) - 1);
	n += sizeof(prefix) - 1;
	memcpy(info + n, label, label_len);
	n += label_len;
	info[n++] = 0;    /* context */
	info[n++] = 1;    /* HKDF-Expand's block counter */
	if (hmac_sha256(secret, HASH_LEN, info, n, block) < 0)
		return -1;
	memcpy(out, block, out_len);
	return 0;
}

static void
keys_close(struct quic_keys *k)
{
	gcry_cipher_close(k->hp);
	gcry_cipher_close(k->aead);
	k->hp = NULL;
	k->aead = NULL;
}

/* The client's Initial keys for a DCID (RFC 9001 5.2). Returns 0 or -1. */
static int
keys_derive(struct quic_keys *k, const struct quic_version *v, const uint8_t *dcid,
	    size_t dcid_len)
{
	uint8_t initial[HASH_LEN], client[HASH_LEN], key[QUIC_KEY_LEN], hp[QUIC_KEY_LEN];

	memset(k, 0, sizeof(*k));
	if (hmac_sha256(v->salt, sizeof(salt_v1), dcid, dcid_len, initial) < 0 ||
	    expand_label(initial, "client in", client, HASH_LEN) < 0 ||
	    expand_label(client, v->label_key, key, sizeof(key)) < 0 ||
	    expand_label(client, v->label_iv, k->iv, sizeof(k->iv)) < 0 ||
	    expand_label(client, v->label_hp, hp, sizeof(hp)) < 0)
		goto fail;
	if (gcry_cipher_open(&k->hp, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_ECB, 0) ||
	    gcry_cipher_setkey(k->hp, hp, sizeof(hp)) ||
	    gcry_cipher_open(&k->aead, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM, 0) ||
	    gcry_cipher_setkey(k->aead, key, sizeof(key)))
		goto fail;
	return 0;
fail:
	keys_close(k);
	return -1;
}

/* ---- packets ---- */

/* RFC 9000 A.3: the full packet number nearest to the next expected. */
static uint64_t
pn_decode(int64_t largest, uint64_t truncated, unsigned bits)
{
	uint64_t expected = (uint64_t)(largest + 1);
	uint64_t win = (uint64_t)1 << bits, hwin = win / 2;
	uint64_t candidate = (expected & ~(win - 1)) | truncated;

	if (candidate + hwin <= expected && candidate < ((uint64_t)1 << 62) - win)
		return candidate + win;
	if (candidate > expected + hwin && candidate >= win)
		return candidate - win;
	return candidate;
}

static int
plain_reserve(struct quic_ctx *q, size_t size)
{
	uint8_t *p;
	size_t cap;

	if (size <= q->plain_cap)
		return 0;
	if (size > QUIC_PACKET_MAX)
		return -1;
	cap = size < QUIC_PLAIN_MIN ? QUIC_PLAIN_MIN : size;
	p = realloc(q->plain, cap);
	if (!p)
		return -1;
	q->plain = p;
	q->plain_cap = cap;
	return 0;
}

/*
 * Opens a protected Initial with keys k: on success the frames are at
 * *frames (in q->plain, *frames_len bytes) and the packet number is
 * accounted. Returns 0, or -1 when it does not open.
 */
static int
packet_open(struct quic_ctx *q, const struct quic_keys *k, const uint8_t *pkt,
	    const struct quic_header *h, const uint8_t **frames, size_t *frames_len)
{
	uint8_t mask[QUIC_SAMPLE_LEN], nonce[QUIC_IV_LEN], first;
	size_t pn_len, hdr_len, ct_len;
	uint64_t truncated = 0, pn;

	/* RFC 9001 5.4.2: the sample starts 4 bytes after the packet number
	 * offset, whatever the packet number's length. */
	if (h->packet_len < h->pn_offset + 4 + QUIC_SAMPLE_LEN)
		return -1;
	if (gcry_cipher_encrypt(k->hp, mask, sizeof(mask), pkt + h->pn_offset + 4,
				QUIC_SAMPLE_LEN))
		return -1;
	first = pkt[0] ^ (mask[0] & 0x0f);
	pn_len = (size_t)(first & 3) + 1;
	hdr_len = h->pn_offset + pn_len;
	if (h->packet_len < hdr_len + QUIC_TAG_LEN + 1)
		return -1;
	ct_len = h->packet_len - hdr_len - QUIC_TAG_LEN;
	if (plain_reserve(q, h->packet_len) < 0)
		return -1;

	/* The associated data is the header with its protection removed. */
	memcpy(q->plain, pkt, hdr_len);
	q->plain[0] = first;
	for (size_t i = 0; i < pn_len; i++) {
		q->plain[h->pn_offset + i] ^= mask[1 + i];
		truncated = truncated << 8 | q->plain[h->pn_offset + i];
	}
	pn = pn_decode(q->largest_pn, truncated, (unsigned)(8 * pn_len));
	memcpy(nonce, k->iv, sizeof(nonce));
	for (size_t i = 0; i < 8; i++)
		nonce[QUIC_IV_LEN - 1 - i] ^= (uint8_t)(pn >> (8 * i));

	if (gcry_cipher_reset(k->aead) || gcry_cipher_setiv(k->aead, nonce, sizeof(nonce)) ||
	    gcry_cipher_authenticate(k->aead, q->plain, hdr_len) ||
	    gcry_cipher_decrypt(k->aead, q->plain + hdr_len, ct_len, pkt + hdr_len, ct_len) ||
	    gcry_cipher_checktag(k->aead, pkt + hdr_len + ct_len, QUIC_TAG_LEN))
		return -1;
	if ((int64_t)pn > q->largest_pn)
		q->largest_pn = (int64_t)pn;
	*frames = q->plain + hdr_len;
	*frames_len = ct_len;
	return 0;
}

/* ---- CRYPTO stream ---- */

/* Stores stream bytes not held yet (the first copy wins). Returns how many
 * were new. */
static size_t
crypto_feed(struct quic_ctx *q, uint64_t offset, const uint8_t *data, uint64_t len)
{
	size_t fresh = 0;

	if (offset >= QUIC_CRYPTO_MAX)
		return 0;
	if (len > QUIC_CRYPTO_MAX - offset)
		len = QUIC_CRYPTO_MAX - offset;
	for (size_t i = 0; i < (size_t)len; i++) {
		size_t at = (size_t)offset + i;
		uint8_t bit = (uint8_t)(1u << (at & 7));
		if (q->have[at >> 3] & bit)
			continue;
		q->have[at >> 3] |= bit;
		q->crypto[at] = data[i];
		fresh++;
	}
	while (q->contiguous < QUIC_CRYPTO_MAX &&
	       (q->have[q->contiguous >> 3] & (1u << (q->contiguous & 7))))
		q->contiguous++;
	return fresh;
}

/*
 * RFC 9000 frames of an Initial. Stops at the first frame an Initial may
 * not carry (or that does not parse); what came before it counts.
 */
static size_t
frames_ietf(struct quic_ctx *q, const uint8_t *f, size_t len)
{
	size_t pos = 0, fresh = 0;
	uint64_t type, a, b, count;

	while (pos < len) {
		if (f[pos] == 0x00) {     /* PADDING, usually a long run */
			pos++;
			continue;
		}
		if (varint(f, len, &pos, &type) < 0)
			break;
		switch (type) {
		case 0x01:                /* PING */
			continue;
		case 0x02:                /* ACK */
		case 0x03:                /* ACK with ECN counts */
			if (varint(f, len, &pos, &a) < 0 || varint(f, len, &pos, &a) < 0 ||
			    varint(f, len, &pos, &count) < 0 || varint(f, len, &pos, &a) < 0)
				return fresh;
			/* each range takes at least two bytes */
			if (count > (len - pos) / 2)
				return fresh;
			for (uint64_t i = 0; i < count; i++)
				if (varint(f, len, &pos, &a) < 0 || varint(f, len, &pos, &b) < 0)
					return fresh;
			if (type == 0x03 &&
			    (varint(f, len, &pos, &a) < 0 || varint(f, len, &pos, &a) < 0 ||
			     varint(f, len, &pos, &a) < 0))
				return fresh;
			continue;
		case 0x06:                /* CRYPTO */
			if (varint(f, len, &pos, &a) < 0 || varint(f, len, &pos, &b) < 0 ||
			    b > len - pos)
				return fresh;
			fresh += crypto_feed(q, a, f + pos, b);
			pos += (size_t)b;
			continue;
		case 0x1c:                /* CONNECTION_CLOSE: nothing follows */
		default:
			return fresh;
		}
	}
	return fresh;
}

/* gQUIC's integers: little-endian before Q039, big-endian since. */
static uint64_t
gquic_uint(const uint8_t *p, size_t n, int little_endian)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[little_endian ? n - 1 - i : i];
	return v;
}

/*
 * Google QUIC frames (Q046 cleartext, Q050/T05x decrypted): PADDING,
 * PING, CRYPTO (0x08, IETF-style varints) and STREAM frames, of which
 * stream 1 is the handshake stream. Stops at anything else.
 */
static size_t
frames_gquic(struct quic_ctx *q, const uint8_t *f, size_t len)
{
	size_t pos = 0, fresh = 0;
	uint64_t a, b;
	int le = q->ver->little_endian;

	while (pos < len) {
		uint8_t type = f[pos];
		if (type == 0x00) {       /* PADDING */
			pos++;
		} else if (type == 0x07) { /* PING */
			pos++;
		} else if (type == 0x08) { /* CRYPTO */
			pos++;
			if (varint(f, len, &pos, &a) < 0 || varint(f, len, &pos, &b) < 0 ||
			    b > len - pos)
				break;
			fresh += crypto_feed(q, a, f + pos, b);
			pos += (size_t)b;
		} else if (type & 0x80) {  /* STREAM: 1fdooossB */
			size_t id_len = (size_t)(type & 3) + 1;
			size_t off_len = (type >> 2) & 7;
			size_t data_len;
			uint64_t stream, offset;
			if (off_len)
				off_len++;
			pos++;
			if (len - pos < id_len + off_len + ((type & 0x20) ? 2 : 0))
				break;
			stream = gquic_uint(f + pos, id_len, le);
			pos += id_len;
			offset = gquic_uint(f + pos, off_len, le);
			pos += off_len;
			if (type & 0x20) {
				data_len = (size_t)gquic_uint(f + pos, 2, le);
				pos += 2;
				if (data_len > len - pos)
					break;
			} else {
				data_len = len - pos;
			}
			if (stream == GQUIC_CRYPTO_STREAM)
				fresh += crypto_feed(q, offset, f + pos, data_len);
			pos += data_len;
		} else {
			break;
		}
	}
	return fresh;
}

static size_t
frames_walk(struct quic_ctx *q, const uint8_t *f, size_t len)
{
	if (q->ver->framing == FRAMING_GQUIC)
		return frames_gquic(q, f, len);
	return frames_ietf(q, f, len);
}

/*
 * One client Initial. A packet that does not open with the flow's keys
 * and carries another DCID may follow a Retry, whose Initials are keyed
 * from the DCID the server chose: try that, a bounded number of times.
 */
static size_t
initial_read(struct quic_ctx *q, const uint8_t *pkt, const struct quic_header *h)
{
	const uint8_t *frames;
	size_t frames_len;
	struct quic_keys fresh_keys;

	if (!q->ver->salt) {
		/* cleartext gQUIC; its message hash is not checked */
		q->opened = 1;
		return frames_walk(q, pkt + h->frames_offset, h->packet_len - h->frames_offset);
	}
	if (packet_open(q, &q->keys, pkt, h, &frames, &frames_len) == 0) {
		q->opened = 1;
		return frames_walk(q, frames, frames_len);
	}
	if (!q->opened || q->n_rekeys >= QUIC_REKEY_MAX || h->dcid_len == 0 ||
	    (h->dcid_len == q->dcid_len && memcmp(h->dcid, q->dcid, h->dcid_len) == 0))
		return 0;
	q->n_rekeys++;
	if (keys_derive(&fresh_keys, q->ver, h->dcid, h->dcid_len) < 0)
		return 0;
	if (packet_open(q, &fresh_keys, pkt, h, &frames, &frames_len) < 0) {
		keys_close(&fresh_keys);
		return 0;
	}
	keys_close(&q->keys);
	q->keys = fresh_keys;
	memcpy(q->dcid, h->dcid, h->dcid_len);
	q->dcid_len = h->dcid_len;
	return frames_walk(q, frames, frames_len);
}

/* Walks the packets coalesced in a datagram (RFC 9000 12.2). */
static size_t
datagram_walk(struct quic_ctx *q, const uint8_t *p, size_t len)
{
	size_t off = 0, fresh = 0;

	for (int i = 0; i < QUIC_PACKETS_PER_DATAGRAM && off < len; i++) {
		struct quic_header h;
		/* A short header runs to the end of the datagram; zeros after
		 * the last packet are padding some stacks add. */
		if (header_parse(q->ver, p + off, len - off, &h) < 0)
			break;
		if (h.type == q->ver->initial_type)
			fresh += initial_read(q, p + off, &h);
		off += h.packet_len;
	}
	return fresh;
}

/* ---- the handshake message ---- */

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * gQUIC's CHLO: "CHLO", a 16-bit little-endian tag count, 2 bytes of
 * padding, then (tag, 32-bit little-endian end offset) pairs in order and
 * the values they delimit.
 */
static enum name_result
chlo_sni(const uint8_t *d, size_t len, char *out, size_t out_size)
{
	size_t n_tags, hdr_len, prev = 0, sni_start = 0, sni_end = 0;
	int found = 0;

	if (len < 8)
		return len > 0 && memcmp(d, "CHLO", len < 4 ? len : 4) != 0 ? NAME_ABSENT
									     : NAME_NEED_MORE;
	if (memcmp(d, "CHLO", 4) != 0)
		return NAME_ABSENT;
	n_tags = (size_t)d[4] | (size_t)d[5] << 8;
	if (n_tags > CHLO_TAGS_MAX)
		return NAME_ABSENT;
	hdr_len = 8 + 8 * n_tags;
	if (len < hdr_len)
		return NAME_NEED_MORE;
	for (size_t i = 0; i < n_tags; i++) {
		const uint8_t *tag = d + 8 + 8 * i;
		size_t end = le32(tag + 4);
		if (end < prev || end > QUIC_CRYPTO_MAX)
			return NAME_ABSENT;
		if (!found && memcmp(tag, "SNI\0", 4) == 0) {
			sni_start = prev;
			sni_end = end;
			found = 1;
		}
		prev = end;
	}
	if (hdr_len + prev > QUIC_CRYPTO_MAX)
		return NAME_ABSENT;
	if (len < hdr_len + prev)
		return NAME_NEED_MORE;
	if (!found || sni_end == sni_start ||
	    domain_normalize((const char *)d + hdr_len + sni_start, sni_end - sni_start, out,
			     out_size) < 0)
		return NAME_ABSENT;
	return NAME_FOUND;
}

static enum name_result
hello_check(struct quic_ctx *q)
{
	enum name_result r;
	size_t total;

	if (q->ver->hello == HELLO_CHLO)
		return chlo_sni(q->crypto, q->contiguous, q->name, sizeof(q->name));
	if (q->contiguous > 0 && q->crypto[0] != 1)
		return NAME_ABSENT;  /* QUIC, but not a ClientHello */
	if (q->contiguous < 4)
		return NAME_NEED_MORE;
	total = 4 + ((size_t)q->crypto[1] << 16 | (size_t)q->crypto[2] << 8 | q->crypto[3]);
	if (total > QUIC_CRYPTO_MAX)
		return NAME_ABSENT;  /* would never fit */
	if (q->contiguous < total)
		return NAME_NEED_MORE;
	r = tls_sni_from_handshake(q->crypto, total, q->name, sizeof(q->name));
	return r == NAME_NOT_THIS || r == NAME_NEED_MORE ? NAME_ABSENT : r;
}

/* ---- the API ---- */

int
quic_global_init(void)
{
	if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P))
		return 0;
	if (!gcry_check_version(GCRYPT_VERSION)) {
		log_warnx("quic: libgcrypt is older than %s", GCRYPT_VERSION);
		return -1;
	}
	/* Initial keys are public: no secure memory needed. */
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	return 0;
}

struct quic_ctx *
quic_ctx_new(void)
{
	struct quic_ctx *q = calloc(1, sizeof(*q));

	if (q)
		q->largest_pn = -1;
	return q;
}

void
quic_ctx_free(struct quic_ctx *q)
{
	if (!q)
		return;
	if (q->has_keys)
		keys_close(&q->keys);
	free(q->plain);
	free(q);
}

int
quic_is_initial(const uint8_t *payload, size_t len)
{
	const struct quic_version *v;
	struct quic_header h;

	if (!payload)
		return 0;
	v = version_of(payload, len);
	if (!v || header_parse(v, payload, len, &h) < 0)
		return 0;
	return h.type == v->initial_type && h.dcid_len >= QUIC_CID_FIRST_MIN;
}

/* The client's first Initial fixes the version and the keys. */
static int
flow_start(struct quic_ctx *q, const uint8_t *payload, size_t len)
{
	struct quic_header h;

	if (!quic_is_initial(payload, len))
		return -1;
	q->ver = version_of(payload, len);
	if (header_parse(q->ver, payload, len, &h) < 0)
		return -1;
	memcpy(q->dcid, h.dcid, h.dcid_len);
	q->dcid_len = h.dcid_len;
	if (!q->ver->salt)
		return 0;
	if (keys_derive(&q->keys, q->ver, h.dcid, h.dcid_len) < 0)
		return -1;
	q->has_keys = 1;
	return 0;
}

static enum name_result
flow_finish(struct quic_ctx *q, enum name_result r)
{
	q->done = 1;
	q->result = r;
	if (r != NAME_FOUND)
		q->name[0] = '\0';
	/* keys and scratch are no longer needed; the flow may live on */
	if (q->has_keys) {
		keys_close(&q->keys);
		q->has_keys = 0;
	}
	free(q->plain);
	q->plain = NULL;
	q->plain_cap = 0;
	return r;
}

enum name_result
quic_client_datagram(struct quic_ctx *q, const uint8_t *payload, size_t len, char *out,
		     size_t out_size)
{
	enum name_result r;
	size_t fresh;

	if (out && out_size)
		out[0] = '\0';
	if (!q || !payload || !out || out_size == 0)
		return NAME_NOT_THIS;
	if (!q->done) {
		if (!q->ver && flow_start(q, payload, len) < 0) {
			flow_finish(q, NAME_NOT_THIS);
		} else {
			fresh = datagram_walk(q, payload, len);
			if (!q->opened) {
				/* the first Initial did not open: not QUIC we read */
				flow_finish(q, NAME_NOT_THIS);
			} else if (fresh > 0) {
				q->n_stalled = 0;
				r = hello_check(q);
				if (r != NAME_NEED_MORE)
					flow_finish(q, r);
			} else if (++q->n_stalled >= QUIC_STALL_MAX) {
				flow_finish(q, NAME_ABSENT);
			}
		}
	}
	if (!q->done)
		return NAME_NEED_MORE;
	if (q->result == NAME_FOUND) {
		size_t n = strlen(q->name);
		if (n >= out_size)
			return NAME_ABSENT;
		memcpy(out, q->name, n + 1);
	}
	return q->result;
}
