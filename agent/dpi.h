/*
 * The one door to nDPI: every call into libndpi goes through this file, so
 * the next nDPI version is a one-file change. A flow's nDPI state exists
 * only while it is being classified.
 */
#ifndef SHADOWMAP_DPI_H
#define SHADOWMAP_DPI_H

#include <stddef.h>
#include <stdint.h>

struct dpi;
struct dpi_flow;

enum dpi_confidence {
	DPI_CONF_UNKNOWN = 0,
	DPI_CONF_PORT,    /* guessed from ports */
	DPI_CONF_IP,      /* guessed from the server's address */
	DPI_CONF_CACHE,   /* from nDPI's cache of earlier flows */
	DPI_CONF_PAYLOAD, /* the packets themselves */
	DPI_CONF_NAME,    /* nDPI's host rules on a name the agent found itself */
};

/* Where a name the agent found itself came from: the protocol it implies
 * when nDPI saw none. */
enum dpi_name_kind {
	DPI_NAME_NONE = 0,
	DPI_NAME_TLS,
	DPI_NAME_QUIC,
	DPI_NAME_HTTP,
	DPI_NAME_OTHER, /* from the DNS cache: implies no protocol */
};

struct dpi_verdict {
	uint16_t name_id;            /* dpi_name(): "TLS.Google", "BitTorrent" */
	uint8_t confidence;          /* enum dpi_confidence */
	const char *app_name;        /* nDPI's app protocol name ("Google"), or NULL */
	const char *master_name;     /* nDPI's master protocol name ("TLS"), or NULL */
	uint8_t is_dns_like;         /* DNS/mDNS/LLMNR/NetBIOS: names in it are queries */
};

/*
 * Starts making n nDPI modules in a thread of its own, one after another,
 * for the next n dpi_new calls: each takes some 15 ms to build (nDPI's host
 * automata and address trees), time the agent can spend loading its
 * signatures meanwhile. dpi_prepare_end joins that thread and frees what
 * was not taken; call it once no dpi_new can come any more.
 */
void dpi_prepare(unsigned n);
void dpi_prepare_end(void);

/* NULL when nDPI cannot be initialised. */
struct dpi *dpi_new(void);
void dpi_free(struct dpi *d);

/* NULL when out of memory. */
struct dpi_flow *dpi_flow_new(struct dpi *d);
void dpi_flow_free(struct dpi_flow *f);

/*
 * Feeds one IP packet (l3: IP header on, len captured bytes). Returns 1
 * once nDPI has a verdict from the payload; 0 while it wants more.
 * may_hold: a TCP packet without payload, which may wait until nDPI is
 * needed for the flow (dpi.c, "held packets").
 */
int dpi_packet(struct dpi *d, struct dpi_flow *f, const uint8_t *l3, uint32_t len,
	       int64_t ts_usec, int may_hold);
/* Packets nDPI has processed so far, over all flows. */
uint64_t dpi_fed_packets(const struct dpi *d);

/* Whether nDPI could still learn more (e.g. a TLS certificate). */
int dpi_wants_more(struct dpi *d, struct dpi_flow *f);

/* Whether nDPI's verdict so far names an application from the traffic
 * ("TLS.Github"), not just a carrier ("TLS") or a guess by address. */
int dpi_has_app(struct dpi_flow *f);

/*
 * Settles the verdict from a name the agent read from the flow's first
 * client payload (kind TLS, QUIC or HTTP), without nDPI seeing that
 * payload: the carrier the parser recognised, with nDPI's host rules on
 * the name for the application ("TLS.Google"). It spares the ClientHello
 * dissection (JA3 and all), the costliest part of nDPI. Taken when the
 * signatures know the name (sig_known), where nDPI's verdict cannot change
 * the app, or when nDPI's host rules name an application for it, which is
 * what nDPI would conclude from that payload. Returns 0, settling nothing,
 * for other names (nDPI may learn more from their payload: DoH, a
 * certificate) and for names whose payload nDPI learns from (it names
 * later media flows of the same client by them).
 */
int dpi_verdict_by_name(struct dpi *d, struct dpi_flow *f, const char *name,
			enum dpi_name_kind kind, int sig_known);

/*
 * Ends detection: nDPI's verdict, guessed from ports and addresses when
 * the payload gave none. When nDPI's verdict is only a guess or names no
 * application, and the agent found the server's name itself (name, of
 * kind; NULL when none), nDPI's host rules are applied to that name: the
 * SNI of a split QUIC ClientHello names the flow "QUIC.Google" as nDPI
 * would had it read the SNI. Call once, then dpi_flow_free.
 */
void dpi_finish(struct dpi *d, struct dpi_flow *f, const char *name, enum dpi_name_kind kind,
		struct dpi_verdict *v);

/*
 * A server name nDPI read from a TLS certificate (the first subject
 * alternative name, or the subject CN, with a registrable domain), "*."
 * removed; NULL when none. Call after dpi_finish; valid until the flow is
 * freed.
 */
const char *dpi_cert_name(struct dpi_flow *f);

/* The protocol name of an interned id; "Unknown" for 0. */
const char *dpi_name(const struct dpi *d, uint16_t name_id);

/* Interned ids are below this. */
#define DPI_NAMES_MAX 4096

/* What an id stands for, the same in every module: nDPI's (master, app)
 * pair, plus one; 0 for id 0 or an unknown id. */
uint32_t dpi_name_key(const struct dpi *d, uint16_t name_id);

#endif
