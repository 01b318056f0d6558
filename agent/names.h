/*
 * Server names from the first bytes a client sends: the SNI of a TLS
 * ClientHello (possibly spread over several TLS records and TCP segments)
 * and the Host of an HTTP/1.x request. QUIC (quic.h) reuses the
 * ClientHello parser on its decrypted CRYPTO stream.
 */
#ifndef SHADOWMAP_NAMES_H
#define SHADOWMAP_NAMES_H

#include <stddef.h>
#include <stdint.h>

enum name_result {
	NAME_NEED_MORE = 0,   /* looks like this protocol; give me more bytes */
	NAME_FOUND,           /* out holds a normalised name */
	NAME_ABSENT,          /* the message is complete and has no usable name */
	NAME_NOT_THIS,        /* these bytes are not this protocol */
};

/*
 * data: the client's stream from its first byte, in order, len bytes so far.
 * out: at least DOMAIN_MAX bytes; on NAME_FOUND it holds the name as
 * domain_normalize() gives it. An SNI that is not a DNS name (an IP
 * literal, bad bytes) counts as NAME_ABSENT.
 */
enum name_result tls_sni_from_stream(const uint8_t *data, size_t len,
				     char *out, size_t out_size);

/*
 * The same on a bare handshake stream (what QUIC's CRYPTO frames carry):
 * data starts at the ClientHello's handshake header (type 1).
 */
enum name_result tls_sni_from_handshake(const uint8_t *data, size_t len,
					char *out, size_t out_size);

/*
 * HTTP/1.x: the Host header of the first request (or the authority of a
 * CONNECT request, which names where a proxy client goes). Port removed.
 */
enum name_result http_host_from_stream(const uint8_t *data, size_t len,
				       char *out, size_t out_size);

#endif
