/*
 * QUIC Initials: the RFC 9001 and RFC 9369 client Initial vectors, Initials
 * sealed here (libgcrypt) with the ClientHello split, reordered, coalesced,
 * repeated, corrupted and cut, gQUIC cleartext CHLOs, and every capture of
 * the shared corpus that carries QUIC, flow by flow.
 */
#include <dirent.h>
#include <gcrypt.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shadowmap/domain.h"

#include "decode.h"
#include "quic.h"

/* ---- test vectors: RFC 9001 A.2 (v1) and RFC 9369 A.2 (v2) ---- */

static const char rfc9001_a2[] =
	"c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
	"d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
	"1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
	"8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
	"30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
	"457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
	"4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
	"4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
	"485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
	"059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
	"7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
	"9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
	"be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
	"68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
	"c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
	"f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
	"291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
	"25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
	"14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
	"ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
	"e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
	"c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
	"203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
	"cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
	"fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
	"a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
	"90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
	"162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
	"40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
	"6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
	"8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
	"be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
	"54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
	"760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
	"f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
	"056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
	"7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
	"e221af44860018ab0856972e194cd934";

static const char rfc9369_a2[] =
	"d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
	"dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
	"9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
	"250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
	"12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
	"cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
	"18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
	"12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
	"d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
	"6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
	"bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
	"636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
	"ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
	"16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
	"4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
	"fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
	"8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
	"14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
	"9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
	"abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
	"80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
	"848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
	"d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
	"c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
	"7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
	"f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
	"10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
	"3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
	"06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
	"8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
	"34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
	"e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
	"5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
	"8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
	"d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
	"6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
	"9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
	"a18b2faa745b6fe189cf772a9f84cbfc";

/* The unprotected payload of both: one CRYPTO frame, then PADDING. */
static const char rfc_a2_crypto_frame[] =
	"060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
	"04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
	"616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
	"04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
	"baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
	"0d0010000e0403050306030203080408050806002d00020101001c0002400100"
	"3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
	"75300901100f088394c8f03e51570806048000ffff";

static const uint8_t rfc_dcid[] = { 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08 };

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;
	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* ---- sealing Initials the way a client does, independently of quic.c ---- */

struct seal_version {
	uint32_t number;
	const char *salt_hex;
	const char *prefix;     /* "quic" or "quicv2" */
	uint8_t initial_type;
};

static const struct seal_version v1 = { 0x00000001, "38762cf7f55934b34d179ae6a4c80cadccbb7f0a",
					"quic", 0 };
static const struct seal_version v2 = { 0x6b3343cf, "0dede3def700a6db819381be6e269dcbf9bd2ed9",
					"quicv2", 1 };
static const struct seal_version d29 = { 0xff00001d, "afbfec289993d24c9e9786f19c6111e04390a899",
					 "quic", 0 };
static const struct seal_version t51 = { 0x54303531, "7a4edef4e7ccee5fa4506c19124fc8ccda6e033d",
					 "quic", 0 };

struct seal_keys {
	uint8_t key[16], iv[12], hp[16];
};

static void
hmac256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len, uint8_t out[32])
{
	gcry_md_hd_t h;
	assert_int_equal(gcry_md_open(&h, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC), 0);
	assert_int_equal(gcry_md_setkey(h, key, key_len), 0);
	gcry_md_write(h, msg, msg_len);
	memcpy(out, gcry_md_read(h, GCRY_MD_SHA256), 32);
	gcry_md_close(h);
}

static void
hkdf_label(const uint8_t secret[32], const char *prefix, const char *label, uint8_t *out,
	   size_t out_len)
{
	uint8_t info[80], block[32];
	size_t n = 0;
	char full[64];

	snprintf(full, sizeof(full), "tls13 %s%s%s", prefix, *prefix ? " " : "", label);
	info[n++] = 0;
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)strlen(full);
	memcpy(info + n, full, strlen(full));
	n += strlen(full);
	info[n++] = 0;
	info[n++] = 1;
	hmac256(secret, 32, info, n, block);
	memcpy(out, block, out_len);
}

static void
seal_keys_for(const struct seal_version *v, const uint8_t *dcid, size_t dcid_len,
	      struct seal_keys *k)
{
	uint8_t salt[20], initial[32], client[32];

	unhex(v->salt_hex, salt, sizeof(salt));
	hmac256(salt, sizeof(salt), dcid, dcid_len, initial);
	hkdf_label(initial, "", "client in", client, 32);
	hkdf_label(client, v->prefix, "key", k->key, 16);
	hkdf_label(client, v->prefix, "iv", k->iv, 12);
	hkdf_label(client, v->prefix, "hp", k->hp, 16);
}

struct initial_spec {
	const struct seal_version *v;
	const uint8_t *key_dcid;   /* keys from this DCID (NULL: dcid) */
	const uint8_t *dcid;
	size_t dcid_len, key_dcid_len;
	uint64_t pn;
	size_t pn_len;
	size_t token_len;
	size_t scid_len;           /* of 0xaa bytes */
};

/* Seals one Initial carrying plain (frames) into out; returns its size. */
static size_t
seal_initial(const struct initial_spec *s, const uint8_t *plain, size_t plain_len, uint8_t *out,
	     size_t cap)
{
	struct seal_keys k;
	uint8_t nonce[12], mask[16];
	size_t n = 0, pn_offset, length = s->pn_len + plain_len + 16;
	gcry_cipher_hd_t h;

	seal_keys_for(s->v, s->key_dcid ? s->key_dcid : s->dcid,
		      s->key_dcid ? s->key_dcid_len : s->dcid_len, &k);
	assert_true(cap >= 64 + s->token_len + plain_len);
	out[n++] = (uint8_t)(0xc0 | s->v->initial_type << 4 | (s->pn_len - 1));
	out[n++] = (uint8_t)(s->v->number >> 24);
	out[n++] = (uint8_t)(s->v->number >> 16);
	out[n++] = (uint8_t)(s->v->number >> 8);
	out[n++] = (uint8_t)s->v->number;
	out[n++] = (uint8_t)s->dcid_len;
	memcpy(out + n, s->dcid, s->dcid_len);
	n += s->dcid_len;
	out[n++] = (uint8_t)s->scid_len;
	memset(out + n, 0xaa, s->scid_len);
	n += s->scid_len;
	assert_true(s->token_len < 64);
	out[n++] = (uint8_t)s->token_len;
	memset(out + n, 0x5a, s->token_len);
	n += s->token_len;
	assert_true(length < 16384);
	out[n++] = (uint8_t)(0x40 | length >> 8);
	out[n++] = (uint8_t)length;
	pn_offset = n;
	for (size_t i = 0; i < s->pn_len; i++)
		out[n++] = (uint8_t)(s->pn >> (8 * (s->pn_len - 1 - i)));
	memcpy(nonce, k.iv, 12);
	for (size_t i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(s->pn >> (8 * i));
	assert_int_equal(gcry_cipher_open(&h, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM, 0), 0);
	assert_int_equal(gcry_cipher_setkey(h, k.key, 16), 0);
	assert_int_equal(gcry_cipher_setiv(h, nonce, 12), 0);
	assert_int_equal(gcry_cipher_authenticate(h, out, n), 0);
	assert_int_equal(gcry_cipher_encrypt(h, out + n, plain_len, plain, plain_len), 0);
	assert_int_equal(gcry_cipher_gettag(h, out + n + plain_len, 16), 0);
	gcry_cipher_close(h);
	n += plain_len + 16;
	assert_int_equal(gcry_cipher_open(&h, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_ECB, 0), 0);
	assert_int_equal(gcry_cipher_setkey(h, k.hp, 16), 0);
	assert_int_equal(gcry_cipher_encrypt(h, mask, 16, out + pn_offset + 4, 16), 0);
	gcry_cipher_close(h);
	out[0] ^= mask[0] & 0x0f;
	for (size_t i = 0; i < s->pn_len; i++)
		out[pn_offset + i] ^= mask[1 + i];
	return n;
}

/* ---- ClientHellos and frames ---- */

static size_t
put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

/* A TLS 1.3 ClientHello handshake message of about total bytes (at least
 * what its extensions need), naming sni (NULL: no server_name). */
static size_t
build_hello(uint8_t *out, size_t cap, const char *sni, size_t total)
{
	size_t n = 4, ext_start, pad;

	assert_true(cap >= total + 512);
	n += put16(out + n, 0x0303);
	memset(out + n, 0x11, 32);
	n += 32;
	out[n++] = 32;
	memset(out + n, 0x22, 32);
	n += 32;
	n += put16(out + n, 6);
	n += put16(out + n, 0x1301);
	n += put16(out + n, 0x1302);
	n += put16(out + n, 0x1303);
	out[n++] = 1;
	out[n++] = 0;
	ext_start = n;
	n += 2;
	n += put16(out + n, 0x8a8a); /* GREASE, empty */
	n += put16(out + n, 0);
	if (sni) {
		size_t l = strlen(sni);
		n += put16(out + n, 0);
		n += put16(out + n, l + 5);
		n += put16(out + n, l + 3);
		out[n++] = 0;
		n += put16(out + n, l);
		memcpy(out + n, sni, l);
		n += l;
	}
	n += put16(out + n, 0x002b); /* supported_versions: TLS 1.3 */
	n += put16(out + n, 3);
	out[n++] = 2;
	n += put16(out + n, 0x0304);
	/* a key_share as big as a post-quantum one fills the rest */
	pad = total > n + 4 + 6 ? total - n - 4 - 6 : 0;
	n += put16(out + n, 0x0033);
	n += put16(out + n, pad + 2 + 4);
	n += put16(out + n, pad + 4);
	n += put16(out + n, 0x11ec);
	n += put16(out + n, pad);
	memset(out + n, 0x77, pad);
	n += pad;
	put16(out + ext_start, n - ext_start - 2);
	out[0] = 1;
	out[1] = (uint8_t)((n - 4) >> 16);
	out[2] = (uint8_t)((n - 4) >> 8);
	out[3] = (uint8_t)(n - 4);
	return n;
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
	if (v < 64) {
		p[0] = (uint8_t)v;
		return 1;
	}
	assert_true(v < 16384);
	p[0] = (uint8_t)(0x40 | v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

/* A CRYPTO frame (type 0x06, or Google's 0x08) with data[off, off+len). */
static size_t
put_crypto(uint8_t *p, uint8_t type, const uint8_t *data, size_t off, size_t len)
{
	size_t n = 0;
	p[n++] = type;
	n += put_varint(p + n, off);
	n += put_varint(p + n, len);
	memcpy(p + n, data + off, len);
	return n + len;
}

struct piece {
	size_t off, len;
};

#define PLAIN_CAP 2048 /* frames of one test Initial */

/* The frames of one Initial: the pieces in the given order, with a PING
 * and some PADDING between them, padded to at least min_len. */
static size_t
frames_of(uint8_t *p, uint8_t crypto_type, const uint8_t *hello, const struct piece *pieces,
	  size_t n_pieces, size_t min_len)
{
	size_t n = 0;
	for (size_t i = 0; i < n_pieces; i++) {
		assert_true(n + pieces[i].len + 12 <= PLAIN_CAP);
		if (i > 0) {
			p[n++] = crypto_type == 0x06 ? 0x01 : 0x07;
			memset(p + n, 0, 3);
			n += 3;
		}
		n += put_crypto(p + n, crypto_type, hello, pieces[i].off, pieces[i].len);
	}
	assert_true(min_len <= PLAIN_CAP);
	if (n < min_len) {
		memset(p + n, 0, min_len - n);
		n = min_len;
	}
	return n;
}

static void
setup_keys_check(void)
{
	assert_int_equal(quic_global_init(), 0);
}

static const uint8_t dcid8[] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* ---- tests ---- */

static void
test_rfc9001_vector(void **state)
{
	(void)state;
	uint8_t pkt[1200], mine[1400], plain[1200];
	char out[DOMAIN_MAX];
	size_t n = unhex(rfc9001_a2, pkt, sizeof(pkt));
	struct initial_spec s = { &v1, NULL, rfc_dcid, sizeof(rfc_dcid), 0, 2, 4, 0, 0 };
	struct quic_ctx *q;

	setup_keys_check();
	assert_int_equal(n, 1200);
	assert_true(quic_is_initial(pkt, n));
	q = quic_ctx_new();
	assert_non_null(q);
	assert_int_equal(quic_client_datagram(q, pkt, n, out, sizeof(out)), NAME_FOUND);
	assert_string_equal(out, "example.com");
	/* answers stay once given */
	assert_int_equal(quic_client_datagram(q, pkt, n, out, sizeof(out)), NAME_FOUND);
	assert_string_equal(out, "example.com");
	quic_ctx_free(q);

	/* the sealing helper of these tests makes the very same bytes */
	memset(plain, 0, sizeof(plain));
	unhex(rfc_a2_crypto_frame, plain, sizeof(plain));
	assert_int_equal(seal_initial(&s, plain, 1162, mine, sizeof(mine)), 1200);
	assert_memory_equal(mine, pkt, 1200);
}

static void
test_rfc9369_vector(void **state)
{
	(void)state;
	uint8_t pkt[1200], mine[1400], plain[1200];
	char out[DOMAIN_MAX];
	size_t n = unhex(rfc9369_a2, pkt, sizeof(pkt));
	struct initial_spec s = { &v2, NULL, rfc_dcid, sizeof(rfc_dcid), 0, 2, 4, 0, 0 };
	struct quic_ctx *q;

	setup_keys_check();
	assert_int_equal(n, 1200);
	assert_true(quic_is_initial(pkt, n));
	q = quic_ctx_new();
	assert_int_equal(quic_client_datagram(q, pkt, n, out, sizeof(out)), NAME_FOUND);
	assert_string_equal(out, "example.com");
	quic_ctx_free(q);

	memset(plain, 0, sizeof(plain));
	unhex(rfc_a2_crypto_frame, plain, sizeof(plain));
	assert_int_equal(seal_initial(&s, plain, 1162, mine, sizeof(mine)), 1200);
	assert_memory_equal(mine, pkt, 1200);

	/* a v2 packet is not read with v1 keys: with the version number
	 * changed to 1 the type bits say 0-RTT, and there is no Initial */
	pkt[1] = pkt[2] = pkt[3] = 0;
	pkt[4] = 1;
	assert_false(quic_is_initial(pkt, n));
	q = quic_ctx_new();
	assert_int_equal(quic_client_datagram(q, pkt, n, out, sizeof(out)), NAME_NOT_THIS);
	quic_ctx_free(q);
}

static void
test_vector_corrupted_and_cut(void **state)
{
	(void)state;
	uint8_t pkt[1200];
	char out[DOMAIN_MAX];
	size_t n = unhex(rfc9001_a2, pkt, sizeof(pkt));
	struct quic_ctx *q;

	setup_keys_check();
	/* a bit changed in the tag, the ciphertext or the protected header */
	static const size_t flips[] = { 1199, 1190, 600, 30, 21, 18, 0 };
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		pkt[flips[i]] ^= 0x04;
		q = quic_ctx_new();
		assert_int_not_equal(quic_client_datagram(q, pkt, n, out, sizeof(out)), NAME_FOUND);
		assert_string_equal(out, "");
		quic_ctx_free(q);
		pkt[flips[i]] ^= 0x04;
	}
	/* cut at every length */
	for (size_t len = 0; len < n; len++) {
		q = quic_ctx_new();
		assert_int_equal(quic_client_datagram(q, pkt, len, out, sizeof(out)),
				 NAME_NOT_THIS);
		quic_ctx_free(q);
	}
}

/* A ClientHello of hello_len bytes in pieces, one Initial per datagram. */
struct flight {
	uint8_t dgram[8][PLAIN_CAP + 100];
	size_t len[8];
	size_t n;
};

static void
flight_add(struct flight *f, const struct initial_spec *s, const uint8_t *hello,
	   const struct piece *pieces, size_t n_pieces)
{
	uint8_t plain[PLAIN_CAP];
	size_t pn = frames_of(plain, 0x06, hello, pieces, n_pieces, 1100);
	assert_true(f->n < 8);
	f->len[f->n] = seal_initial(s, plain, pn, f->dgram[f->n], sizeof(f->dgram[0]));
	f->n++;
}

static enum name_result
feed(struct quic_ctx *q, const uint8_t *d, size_t len, char *out)
{
	return quic_client_datagram(q, d, len, out, DOMAIN_MAX);
}

static void
test_split_hello_orders(void **state)
{
	(void)state;
	uint8_t hello[4096];
	char out[DOMAIN_MAX];
	size_t hl = build_hello(hello, sizeof(hello), "Www.Example.ORG", 1800);
	struct initial_spec s = { &v1, NULL, dcid8, 8, 0, 0, 1, 0, 0 };
	struct flight f = { 0 };
	/* Chrome's way: each datagram holds pieces out of order */
	struct piece a[] = { { 900, 200 }, { 0, 500 }, { 1500, hl - 1500 } };
	struct piece b[] = { { 1100, 400 }, { 500, 400 } };
	static const int orders[][2] = { { 0, 1 }, { 1, 0 } };

	setup_keys_check();
	assert_int_equal(hl, 1800);
	s.pn = 0;
	flight_add(&f, &s, hello, a, 3);
	s.pn = 1;
	flight_add(&f, &s, hello, b, 2);
	for (size_t o = 0; o < 2; o++) {
		struct quic_ctx *q = quic_ctx_new();
		int first = orders[o][0], second = orders[o][1];
		assert_int_equal(feed(q, f.dgram[first], f.len[first], out), NAME_NEED_MORE);
		assert_string_equal(out, "");
		assert_int_equal(feed(q, f.dgram[second], f.len[second], out), NAME_FOUND);
		assert_string_equal(out, "www.example.org");
		quic_ctx_free(q);
	}
}

static void
test_coalesced_duplicates_and_new_dcid(void **state)
{
	(void)state;
	uint8_t hello[4096], plain[PLAIN_CAP], dgram[4000];
	char out[DOMAIN_MAX];
	size_t hl = build_hello(hello, sizeof(hello), "cdn.example.net", 1750), n = 0, pl;
	static const uint8_t server_cid[] = { 9, 9, 9, 9, 9 };
	struct initial_spec s = { &v1, NULL, dcid8, 8, 0, 0, 2, 0, 0 };
	struct quic_ctx *q;

	setup_keys_check();
	/* three Initials coalesced in one datagram, with an overlap and a
	 * repeat; then the rest in an Initial to the server's CID (keys
	 * stay those of the first DCID) */
	struct piece p0[] = { { 0, 600 } };
	struct piece p1[] = { { 400, 500 } };          /* overlaps p0 */
	struct piece p2[] = { { 0, 600 } };            /* repeat */
	struct piece p3[] = { { 900, hl - 900 } };
	pl = frames_of(plain, 0x06, hello, p0, 1, 0);
	n += seal_initial(&s, plain, pl, dgram + n, sizeof(dgram) - n);
	s.pn = 1;
	pl = frames_of(plain, 0x06, hello, p1, 1, 0);
	n += seal_initial(&s, plain, pl, dgram + n, sizeof(dgram) - n);
	s.pn = 2;
	pl = frames_of(plain, 0x06, hello, p2, 1, 0);
	n += seal_initial(&s, plain, pl, dgram + n, sizeof(dgram) - n);
	memset(dgram + n, 0, 40); /* zeros after the packets */
	n += 40;
	q = quic_ctx_new();
	assert_int_equal(feed(q, dgram, n, out), NAME_NEED_MORE);
	/* the same datagram again: nothing new, still waiting */
	assert_int_equal(feed(q, dgram, n, out), NAME_NEED_MORE);

	s.pn = 3;
	s.key_dcid = dcid8;
	s.key_dcid_len = 8;
	s.dcid = server_cid;
	s.dcid_len = sizeof(server_cid);
	pl = frames_of(plain, 0x06, hello, p3, 1, 1100);
	n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
	assert_int_equal(feed(q, dgram, n, out), NAME_FOUND);
	assert_string_equal(out, "cdn.example.net");
	quic_ctx_free(q);
}

static void
test_zero_rtt_and_short_after_initial(void **state)
{
	(void)state;
	uint8_t hello[2048], plain[PLAIN_CAP], dgram[3000];
	char out[DOMAIN_MAX];
	size_t hl = build_hello(hello, sizeof(hello), "zero.example", 600), n, pl;
	struct initial_spec s = { &v1, NULL, dcid8, 8, 0, 0, 1, 0, 0 };
	struct piece all[] = { { 0, hl } };
	struct quic_ctx *q;

	setup_keys_check();
	pl = frames_of(plain, 0x06, hello, all, 1, 700);
	n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
	/* a 0-RTT packet (type 1) follows in the same datagram */
	uint8_t *z = dgram + n;
	z[0] = 0xd0;
	z[1] = z[2] = z[3] = 0;
	z[4] = 1;
	z[5] = 8;
	memcpy(z + 6, dcid8, 8);
	z[14] = 0;
	z[15] = 0x40 | (300 >> 8);
	z[16] = 300 & 0xff;
	memset(z + 17, 0xee, 300);
	n += 17 + 300;
	q = quic_ctx_new();
	assert_int_equal(feed(q, dgram, n, out), NAME_FOUND);
	assert_string_equal(out, "zero.example");
	quic_ctx_free(q);
}

static void
test_retry_keys(void **state)
{
	(void)state;
	uint8_t hello[4096], plain[PLAIN_CAP], dgram[PLAIN_CAP + 100];
	char out[DOMAIN_MAX];
	size_t hl = build_hello(hello, sizeof(hello), "retry.example.com", 1500), n, pl;
	static const uint8_t retry_cid[] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8 };
	struct initial_spec s = { &v1, NULL, dcid8, 8, 0, 0, 2, 0, 0 };
	struct piece first[] = { { 0, 1000 } }, all[] = { { 0, 1000 }, { 1000, hl - 1000 } };
	struct quic_ctx *q = quic_ctx_new();

	setup_keys_check();
	pl = frames_of(plain, 0x06, hello, first, 1, 1100);
	n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
	assert_int_equal(feed(q, dgram, n, out), NAME_NEED_MORE);
	/* after a Retry: a token, the server's CID and keys from it */
	s.dcid = retry_cid;
	s.dcid_len = sizeof(retry_cid);
	s.token_len = 20;
	s.pn = 1;
	pl = frames_of(plain, 0x06, hello, all, 2, 1100);
	n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
	assert_int_equal(feed(q, dgram, n, out), NAME_FOUND);
	assert_string_equal(out, "retry.example.com");
	quic_ctx_free(q);
}

static void
test_corrupt_later_packet_then_retransmit(void **state)
{
	(void)state;
	uint8_t hello[4096];
	char out[DOMAIN_MAX];
	size_t hl = build_hello(hello, sizeof(hello), "later.example", 1800);
	struct initial_spec s = { &v1, NULL, dcid8, 8, 0, 0, 4, 0, 0 };
	struct flight f = { 0 };
	struct piece a[] = { { 0, 1000 } }, b[] = { { 1000, hl - 1000 } };
	struct quic_ctx *q = quic_ctx_new();

	setup_keys_check();
	flight_add(&f, &s, hello, a, 1);
	s.pn = 1;
	flight_add(&f, &s, hello, b, 1);
	s.pn = 2;
	flight_add(&f, &s, hello, b, 1);
	f.dgram[1][f.len[1] - 1] ^= 1; /* the tag */
	assert_int_equal(feed(q, f.dgram[0], f.len[0], out), NAME_NEED_MORE);
	assert_int_equal(feed(q, f.dgram[1], f.len[1], out), NAME_NEED_MORE);
	assert_int_equal(feed(q, f.dgram[2], f.len[2], out), NAME_FOUND);
	assert_string_equal(out, "later.example");
	quic_ctx_free(q);
}

static void
test_versions_draft29_v2_t051(void **state)
{
	(void)state;
	uint8_t hello[4096], plain[PLAIN_CAP], dgram[PLAIN_CAP + 100];
	char out[DOMAIN_MAX];
	size_t hl = build_hello(hello, sizeof(hello), "versions.example", 1300), n, pl;
	const struct seal_version *vs[] = { &d29, &v2, &t51 };
	struct piece a[] = { { 700, hl - 700 }, { 0, 700 } };

	setup_keys_check();
	for (size_t i = 0; i < 3; i++) {
		struct initial_spec s = { vs[i], NULL, dcid8, 8, 0, 0, 2, 0, 0 };
		struct quic_ctx *q = quic_ctx_new();
		/* Google's T051 frames CRYPTO as 0x08 */
		pl = frames_of(plain, vs[i] == &t51 ? 0x08 : 0x06, hello, a, 2, 1100);
		n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
		assert_true(quic_is_initial(dgram, n));
		assert_int_equal(feed(q, dgram, n, out), NAME_FOUND);
		assert_string_equal(out, "versions.example");
		quic_ctx_free(q);
	}
}

static void
test_no_sni_oversize_and_stall(void **state)
{
	(void)state;
	static uint8_t hello[QUIC_CRYPTO_MAX + 4096];
	uint8_t plain[PLAIN_CAP], dgram[PLAIN_CAP + 100];
	char out[DOMAIN_MAX];
	size_t hl, n, pl;
	struct initial_spec s = { &v1, NULL, dcid8, 8, 0, 0, 2, 0, 0 };
	struct quic_ctx *q;

	setup_keys_check();
	/* whole, no server_name */
	hl = build_hello(hello, sizeof(hello), NULL, 900);
	struct piece all[] = { { 0, hl } };
	pl = frames_of(plain, 0x06, hello, all, 1, 1100);
	n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
	q = quic_ctx_new();
	assert_int_equal(feed(q, dgram, n, out), NAME_ABSENT);
	quic_ctx_free(q);

	/* an IP address as SNI is no name */
	hl = build_hello(hello, sizeof(hello), "192.0.2.1", 900);
	all[0].len = hl;
	pl = frames_of(plain, 0x06, hello, all, 1, 1100);
	n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
	q = quic_ctx_new();
	assert_int_equal(feed(q, dgram, n, out), NAME_ABSENT);
	quic_ctx_free(q);

	/* a ClientHello bigger than the reassembly buffer: no use waiting */
	hl = build_hello(hello, sizeof(hello), "big.example", QUIC_CRYPTO_MAX + 100);
	struct piece head[] = { { 0, 1000 } };
	pl = frames_of(plain, 0x06, hello, head, 1, 1100);
	n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
	q = quic_ctx_new();
	assert_int_equal(feed(q, dgram, n, out), NAME_ABSENT);
	quic_ctx_free(q);

	/* half a ClientHello, then only datagrams that add nothing */
	hl = build_hello(hello, sizeof(hello), "stall.example", 1800);
	pl = frames_of(plain, 0x06, hello, head, 1, 1100);
	n = seal_initial(&s, plain, pl, dgram, sizeof(dgram));
	q = quic_ctx_new();
	assert_int_equal(feed(q, dgram, n, out), NAME_NEED_MORE);
	static const uint8_t short_hdr[40] = { 0x41, 1, 2, 3 };
	int rounds = 0;
	enum name_result r = NAME_NEED_MORE;
	while (r == NAME_NEED_MORE && rounds < 100) {
		r = feed(q, rounds & 1 ? dgram : short_hdr, rounds & 1 ? n : sizeof(short_hdr), out);
		rounds++;
	}
	assert_int_equal(r, NAME_ABSENT);
	assert_true(rounds <= 16);
	quic_ctx_free(q);
}

static void
test_garbage(void **state)
{
	(void)state;
	static const uint8_t dns[] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
				       3, 'w', 'w', 'w', 0, 0, 1, 0, 1 };
	uint8_t junk[1300];
	char out[DOMAIN_MAX];
	struct quic_ctx *q;
	uint32_t seed = 12345;

	setup_keys_check();
	q = quic_ctx_new();
	assert_false(quic_is_initial(dns, sizeof(dns)));
	assert_int_equal(feed(q, dns, sizeof(dns), out), NAME_NOT_THIS);
	/* and it stays that way */
	assert_int_equal(feed(q, dns, sizeof(dns), out), NAME_NOT_THIS);
	quic_ctx_free(q);

	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			seed = seed * 1103515245 + 12345;
			junk[i] = (uint8_t)(seed >> 16);
		}
		if (round & 1) {
			/* a plausible v1 Initial header over random bytes */
			junk[0] = 0xc3;
			junk[1] = junk[2] = junk[3] = 0;
			junk[4] = 1;
			junk[5] = 8;
			junk[14] = 0;
			junk[15] = 0;
			junk[16] = 0x44;
			junk[17] = 0x00;
		}
		q = quic_ctx_new();
		assert_int_equal(feed(q, junk, sizeof(junk), out), NAME_NOT_THIS);
		quic_ctx_free(q);
	}
	/* hostile CIDs and lengths */
	static const uint8_t long_cid[] = { 0xc0, 0, 0, 0, 1, 21, 1, 2, 3 };
	static const uint8_t big_len[] = { 0xc0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0,
					   0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	q = quic_ctx_new();
	assert_int_equal(feed(q, long_cid, sizeof(long_cid), out), NAME_NOT_THIS);
	quic_ctx_free(q);
	q = quic_ctx_new();
	assert_int_equal(feed(q, big_len, sizeof(big_len), out), NAME_NOT_THIS);
	quic_ctx_free(q);
	assert_int_equal(quic_client_datagram(NULL, dns, sizeof(dns), out, sizeof(out)),
			 NAME_NOT_THIS);
}

/* Q046: the CHLO in cleartext, in a STREAM frame on stream 1. */
static size_t
build_q046(uint8_t *d, size_t cap, const char *sni, size_t stream_off, size_t chlo_from,
	   size_t chlo_len_max, uint8_t *chlo_out, size_t *chlo_total)
{
	uint8_t chlo[600];
	size_t n = 0, c = 0, sni_len = strlen(sni);
	static const char *tags[] = { "PAD", "SNI", "VER", "UAID" };
	size_t ends[4];

	/* CHLO with four tags */
	memcpy(chlo, "CHLO", 4);
	chlo[4] = 4;
	chlo[5] = 0;
	chlo[6] = chlo[7] = 0;
	ends[0] = 100;
	ends[1] = ends[0] + sni_len;
	ends[2] = ends[1] + 4;
	ends[3] = ends[2] + 10;
	c = 8;
	for (int i = 0; i < 4; i++) {
		memset(chlo + c, 0, 4);
		memcpy(chlo + c, tags[i], strlen(tags[i]));
		chlo[c + 4] = (uint8_t)ends[i];
		chlo[c + 5] = (uint8_t)(ends[i] >> 8);
		chlo[c + 6] = chlo[c + 7] = 0;
		c += 8;
	}
	memset(chlo + c, '-', 100);
	memcpy(chlo + c + 100, sni, sni_len);
	memcpy(chlo + c + ends[1], "Q046", 4);
	memcpy(chlo + c + ends[2], "Chrome/99 ", 10);
	c += ends[3];
	*chlo_total = c;
	if (chlo_out)
		memcpy(chlo_out, chlo, c);
	assert_true(cap >= 1350);
	d[n++] = 0xc3;
	memcpy(d + n, "Q046", 4);
	n += 4;
	d[n++] = 0x50;
	memcpy(d + n, dcid8, 8);
	n += 8;
	d[n++] = 0;
	d[n++] = 0;
	d[n++] = 0;
	d[n++] = 1;
	memset(d + n, 0x99, 12); /* message hash */
	n += 12;
	size_t take = c - chlo_from < chlo_len_max ? c - chlo_from : chlo_len_max;
	d[n++] = stream_off ? 0xa4 : 0xa0; /* data length, 2-byte offset if any */
	d[n++] = 1;
	if (stream_off) {
		d[n++] = (uint8_t)(stream_off >> 8);
		d[n++] = (uint8_t)stream_off;
	}
	d[n++] = (uint8_t)(take >> 8);
	d[n++] = (uint8_t)take;
	memcpy(d + n, chlo + chlo_from, take);
	n += take;
	memset(d + n, 0, 1350 - n);
	return 1350;
}

static void
test_gquic_q046(void **state)
{
	(void)state;
	uint8_t d[1400], d2[1400];
	char out[DOMAIN_MAX];
	size_t total, n;
	struct quic_ctx *q;

	setup_keys_check();
	n = build_q046(d, sizeof(d), "www.youtube.com", 0, 0, 1000, NULL, &total);
	assert_true(quic_is_initial(d, n));
	q = quic_ctx_new();
	assert_int_equal(feed(q, d, n, out), NAME_FOUND);
	assert_string_equal(out, "www.youtube.com");
	quic_ctx_free(q);

	/* split over two packets, second first is not possible (the first
	 * datagram fixes the flow), so first half then second half */
	n = build_q046(d, sizeof(d), "split.youtube.com", 0, 0, 60, NULL, &total);
	size_t n2 = build_q046(d2, sizeof(d2), "split.youtube.com", 60, 60, 1000, NULL, &total);
	q = quic_ctx_new();
	assert_int_equal(feed(q, d, n, out), NAME_NEED_MORE);
	assert_int_equal(feed(q, d2, n2, out), NAME_FOUND);
	assert_string_equal(out, "split.youtube.com");
	quic_ctx_free(q);

	/* a CHLO whose tag offsets run backwards */
	n = build_q046(d, sizeof(d), "bad.youtube.com", 0, 0, 1000, NULL, &total);
	d[30 + 4 + 8 + 4] = 0xff; /* PAD ends at 255, after SNI's end */
	q = quic_ctx_new();
	assert_int_equal(feed(q, d, n, out), NAME_ABSENT);
	quic_ctx_free(q);
}

/* ---- the corpus ---- */

struct cflow {
	struct sm_addr client, server;
	uint16_t cport, sport;
	struct quic_ctx *q;
	enum name_result result;
	int fed;
	int initial_seen;
	char name[DOMAIN_MAX];
};

struct capture_stats {
	int flows_443, named_443, quic_flows, quic_named;
	int quic_read; /* ClientHello read, with or without a name */
};

#define CORPUS_FLOWS_MAX 4096
#define CORPUS_DATAGRAMS_MAX 16 /* what the agent feeds per flow */

static struct cflow *
cflow_find(struct cflow *flows, int *n_flows, const struct pkt *p, int *from_client)
{
	for (int i = 0; i < *n_flows; i++) {
		struct cflow *f = &flows[i];
		if (f->cport == p->sport && f->sport == p->dport &&
		    addr_cmp(&f->client, &p->src) == 0 && addr_cmp(&f->server, &p->dst) == 0) {
			*from_client = 1;
			return f;
		}
		if (f->cport == p->dport && f->sport == p->sport &&
		    addr_cmp(&f->client, &p->dst) == 0 && addr_cmp(&f->server, &p->src) == 0) {
			*from_client = 0;
			return f;
		}
	}
	if (*n_flows >= CORPUS_FLOWS_MAX)
		return NULL;
	struct cflow *f = &flows[(*n_flows)++];
	memset(f, 0, sizeof(*f));
	/* until an Initial says otherwise, the client is whoever is not on 443 */
	int swap = p->sport == 443 && p->dport != 443;
	f->client = swap ? p->dst : p->src;
	f->server = swap ? p->src : p->dst;
	f->cport = swap ? p->dport : p->sport;
	f->sport = swap ? p->sport : p->dport;
	f->result = NAME_NEED_MORE;
	*from_client = !swap;
	return f;
}

static int
run_capture(const char *path, struct capture_stats *st, int verbose)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, err);
	struct pcap_pkthdr *hdr;
	const u_char *data;
	struct cflow *flows;
	int n_flows = 0, dlt;

	memset(st, 0, sizeof(*st));
	if (!pc)
		return -1;
	dlt = pcap_datalink(pc);
	flows = calloc(CORPUS_FLOWS_MAX, sizeof(*flows));
	assert_non_null(flows);
	while (pcap_next_ex(pc, &hdr, &data) == 1) {
		struct pkt p;
		int from_client;
		memset(&p, 0, sizeof(p));
		if (decode_frame(dlt, data, hdr->caplen, hdr->len, &p) != DECODE_IP ||
		    p.l4_proto != IPPROTO_UDP || !p.has_ports || p.frag == PKT_FRAG_LATER ||
		    !p.payload)
			continue;
		struct cflow *f = cflow_find(flows, &n_flows, &p, &from_client);
		if (!f)
			continue;
		if (!f->initial_seen) {
			if (!quic_is_initial(p.payload, p.payload_caplen))
				continue;
			/* the client is the side that sent the first Initial */
			if (!from_client) {
				struct sm_addr a = f->client;
				uint16_t port = f->cport;
				f->client = f->server;
				f->cport = f->sport;
				f->server = a;
				f->sport = port;
				from_client = 1;
			}
			f->initial_seen = 1;
			f->q = quic_ctx_new();
			assert_non_null(f->q);
		}
		if (!from_client || !f->q || f->result != NAME_NEED_MORE ||
		    f->fed >= CORPUS_DATAGRAMS_MAX || p.payload_caplen < p.payload_len)
			continue;
		f->fed++;
		f->result = quic_client_datagram(f->q, p.payload, p.payload_caplen, f->name,
						 sizeof(f->name));
	}
	pcap_close(pc);
	for (int i = 0; i < n_flows; i++) {
		struct cflow *f = &flows[i];
		int named = f->result == NAME_FOUND;
		if (f->sport == 443) {
			st->flows_443++;
			st->named_443 += named;
		}
		if (f->initial_seen) {
			st->quic_flows++;
			st->quic_named += named;
			st->quic_read += named || f->result == NAME_ABSENT;
		}
		if (verbose && (f->initial_seen || f->sport == 443)) {
			char c[ADDR_STRLEN], s[ADDR_STRLEN];
			printf("    %s:%u -> %s:%u initial=%d fed=%d result=%d %s\n",
			       addr_format(&f->client, c, sizeof(c)), f->cport,
			       addr_format(&f->server, s, sizeof(s)), f->sport, f->initial_seen,
			       f->fed, (int)f->result, f->name);
		}
		quic_ctx_free(f->q);
	}
	free(flows);
	return 0;
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_corpus(void **state)
{
	(void)state;
	static const char *required[] = {
		"quic_frags_ch_out_of_order_same_packet_craziness.pcapng", "quic.pcap",
		"quic-27.pcap", "quic-v2.pcapng", "quic_0RTT.pcap", "quic_t50.pcap",
		"quic_t51.pcap", "youtube_quic.pcap", "youtubeupload.pcap", "doq.pcapng",
		"doq_adguard.pcapng",
	};
	const char *dir_path = CORPUS_DIR "/ndpi";
	const char *verbose_env = getenv("QUIC_CORPUS_VERBOSE");
	char *names[1024];
	size_t n_names = 0;
	struct dirent *de;
	DIR *dir;
	int seen_required = 0;

	dir = opendir(dir_path);
	if (!dir)
		skip();
	setup_keys_check();
	while ((de = readdir(dir)) != NULL && n_names < 1024) {
		if (has_suffix(de->d_name, ".pcap") || has_suffix(de->d_name, ".pcapng"))
			names[n_names++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n_names, sizeof(names[0]), name_cmp);

	printf("  capture: flows to UDP 443 / with SNI (QUIC flows / with SNI)\n");
	for (size_t i = 0; i < n_names; i++) {
		char path[1024];
		struct capture_stats st;
		int verbose = verbose_env && (strcmp(verbose_env, "all") == 0 ||
					      strcmp(verbose_env, names[i]) == 0);
		snprintf(path, sizeof(path), "%s/%s", dir_path, names[i]);
		assert_int_equal(run_capture(path, &st, 0), 0);
		if (st.quic_flows == 0 && strncmp(names[i], "quic", 4) != 0) {
			free(names[i]);
			continue;
		}
		printf("  %-58s %3d / %3d   (%3d / %3d)\n", names[i], st.flows_443, st.named_443,
		       st.quic_flows, st.quic_named);
		if (verbose)
			run_capture(path, &st, 1);
		for (size_t r = 0; r < sizeof(required) / sizeof(required[0]); r++) {
			if (strcmp(names[i], required[r]) != 0)
				continue;
			seen_required++;
			/* every capture we name carries QUIC we can read (a
			 * DoQ client to ::1 sends no server_name) */
			assert_true(st.quic_flows > 0);
			assert_true(st.quic_read > 0);
		}
		if (strcmp(names[i], required[0]) == 0) {
			/* Chrome's split, reordered ClientHellos: nDPI 4.2 names
			 * a handful of these flows; we must name nearly all */
			assert_true(st.flows_443 >= 100);
			assert_true(st.named_443 * 100 >= st.flows_443 * 95);
		}
		free(names[i]);
	}
	assert_int_equal(seen_required, (int)(sizeof(required) / sizeof(required[0])));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc9001_vector),
		cmocka_unit_test(test_rfc9369_vector),
		cmocka_unit_test(test_vector_corrupted_and_cut),
		cmocka_unit_test(test_split_hello_orders),
		cmocka_unit_test(test_coalesced_duplicates_and_new_dcid),
		cmocka_unit_test(test_zero_rtt_and_short_after_initial),
		cmocka_unit_test(test_retry_keys),
		cmocka_unit_test(test_corrupt_later_packet_then_retransmit),
		cmocka_unit_test(test_versions_draft29_v2_t051),
		cmocka_unit_test(test_no_sni_oversize_and_stall),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_gquic_q046),
		cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
