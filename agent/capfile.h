/*
 * Classic pcap files read in place, for sharded runs (shard.h): the file is
 * read in chunks of 1 MiB and each packet is handed out where it lies, so
 * that no packet is copied on its way to a worker; a chunk is reused once
 * every worker is done with its packets. libpcap still opens the file,
 * checks its header and compiles the filter; the records are read as
 * libpcap reads them, with its messages. Anything else (pcapng, stdin,
 * other pcap variants) is read by libpcap itself.
 */
#ifndef SHADOWMAP_CAPFILE_H
#define SHADOWMAP_CAPFILE_H

#include <pcap/pcap.h>

#include "shard.h"

struct capfile;

/*
 * path as p opened it (pcap_open_offline or pcap_fopen_offline, nothing
 * read past the file header yet). NULL when the file is not a regular
 * file in classic pcap format, version 2.4, micro- or nanosecond time
 * stamps, of a link type the agent decodes: then read it with libpcap.
 * NULL too when out of memory. starved(arg) is called before waiting for
 * a chunk to come back: it must hand every packet the caller holds to the
 * workers (shard_pool_flush).
 */
struct capfile *capfile_open(const char *path, pcap_t *p, void (*starved)(void *arg),
			     void *arg);

/*
 * The next record, as pcap_next_ex: 1, with *hdr (valid until the next
 * call) and *data, which stays valid while *pin is held (hand it to
 * shard_pool_frame_pinned, which holds it for the workers); PCAP_ERROR_BREAK
 * at the end of the file; PCAP_ERROR on a damaged or truncated record or a
 * read error, with libpcap's message in capfile_geterr.
 */
int capfile_next(struct capfile *cf, struct pcap_pkthdr **hdr, const u_char **data,
		 struct shard_pin **pin);

const char *capfile_geterr(const struct capfile *cf);

/* Once no pin is held by anyone else (the pool is finished). */
void capfile_close(struct capfile *cf);

#endif
