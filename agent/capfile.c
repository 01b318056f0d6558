/*
 * Classic pcap files read in place (capfile.h). A record never spans two
 * chunks: what is left of one chunk is copied to the start of the next
 * before more of the file is read into it. The capture thread holds the
 * current chunk; every batch of records that points into a chunk holds it
 * too (shard.c), and the last one to let go gives it back here.
 *
 * The checks and messages are libpcap 1.10's (sf-pcap.c, pcap_next_packet)
 * for the file types taken here, so that an agent reading in place fails
 * where and as an agent reading with libpcap does: a record header cut
 * short, a captured length beyond the sane maximum, a packet cut short. A
 * packet longer than the file's snapshot length is cut to it. libpcap's
 * post-processing of pseudo-headers concerns none of the link types taken
 * (only CAN frames in Linux cooked captures, which are not IP).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capfile.h"
#include "decode.h"

#define CHUNK_BYTES (1u << 20)   /* > the largest record: 16 + 262144 */
#define CHUNKS_MAX 16            /* of the file held at once, at most */
#define MAXIMUM_SNAPLEN 262144   /* libpcap's sane maximum for these links */
#define PCAP_HDR 24
#define REC_HDR 16

struct chunk {
	struct shard_pin pin; /* first: the pin is the chunk */
	struct capfile *cf;
	struct chunk *next;   /* the free list */
	size_t len;           /* bytes held */
	uint8_t data[CHUNK_BYTES];
};

struct capfile {
	int fd;
	int swapped, nsec;
	uint32_t snapshot;
	struct chunk *cur;    /* the capture thread's */
	size_t pos;           /* of the next record in cur */
	int eof, read_errno;
	void (*starved)(void *arg);
	void *arg;
	/* chunks given back by the workers */
	pthread_mutex_t mu;
	pthread_cond_t freed;
	struct chunk *free;
	unsigned n_chunks;
	struct chunk *all[CHUNKS_MAX];
	struct pcap_pkthdr hdr;
	char err[PCAP_ERRBUF_SIZE];
};

static uint32_t
rd32(const struct capfile *cf, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return cf->swapped ? __builtin_bswap32(v) : v;
}

static void
chunk_release(struct shard_pin *pin)
{
	struct chunk *c = (struct chunk *)pin;
	struct capfile *cf = c->cf;

	pthread_mutex_lock(&cf->mu);
	c->next = cf->free;
	cf->free = c;
	pthread_cond_signal(&cf->freed);
	pthread_mutex_unlock(&cf->mu);
}

struct capfile *
capfile_open(const char *path, pcap_t *p, void (*starved)(void *arg), void *arg)
{
	uint8_t head[PCAP_HDR];
	struct stat st;
	struct capfile *cf;
	int fd;

	if (!decode_linktype_supported(pcap_datalink(p)))
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head))
		goto no;
	uint32_t magic;
	memcpy(&magic, head, 4);
	int swapped, nsec;
	switch (magic) {
	case 0xa1b2c3d4: swapped = 0; nsec = 0; break;
	case 0xd4c3b2a1: swapped = 1; nsec = 0; break;
	case 0xa1b23c4d: swapped = 0; nsec = 1; break;
	case 0x4d3cb2a1: swapped = 1; nsec = 1; break;
	default: goto no; /* pcapng, or a variant of pcap: libpcap's */
	}
	uint16_t major, minor;
	memcpy(&major, head + 4, 2);
	memcpy(&minor, head + 6, 2);
	if (swapped) {
		major = __builtin_bswap16(major);
		minor = __builtin_bswap16(minor);
	}
	if (major != 2 || minor != 4 || swapped != pcap_is_swapped(p) ||
	    pcap_snapshot(p) <= 0 || lseek(fd, PCAP_HDR, SEEK_SET) != PCAP_HDR)
		goto no;
	cf = calloc(1, sizeof(*cf));
	if (!cf)
		goto no;
	if (pthread_mutex_init(&cf->mu, NULL) != 0) {
		free(cf);
		goto no;
	}
	pthread_cond_init(&cf->freed, NULL);
	cf->fd = fd;
	cf->swapped = swapped;
	cf->nsec = nsec;
	cf->snapshot = (uint32_t)pcap_snapshot(p);
	cf->starved = starved;
	cf->arg = arg;
	return cf;
no:
	close(fd);
	return NULL;
}

/* A chunk to read into: a free one, a new one, or one given back after a
 * wait; NULL when out of memory. */
static struct chunk *
chunk_get(struct capfile *cf)
{
	struct chunk *c = NULL;

	pthread_mutex_lock(&cf->mu);
	if (!cf->free && cf->n_chunks >= CHUNKS_MAX) {
		/* every chunk is held: by records the capture thread has not
		 * handed over yet, or by the workers; hand everything over
		 * first, then the workers give chunks back */
		pthread_mutex_unlock(&cf->mu);
		if (cf->starved)
			cf->starved(cf->arg);
		pthread_mutex_lock(&cf->mu);
		while (!cf->free)
			pthread_cond_wait(&cf->freed, &cf->mu);
	}
	if (cf->free) {
		c = cf->free;
		cf->free = c->next;
	}
	pthread_mutex_unlock(&cf->mu);
	if (!c) {
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		c->cf = cf;
		c->pin.release = chunk_release;
		cf->all[cf->n_chunks++] = c;
	}
	atomic_store(&c->pin.refs, 1); /* the capture thread's */
	c->len = 0;
	return c;
}

/* At least n bytes from pos in the current chunk, unless the file ends
 * first; returns how many there are. */
static size_t
need(struct capfile *cf, size_t n)
{
	size_t avail = cf->cur ? cf->cur->len - cf->pos : 0;

	if (avail >= n || cf->eof)
		return avail;
	struct chunk *c = chunk_get(cf);
	if (!c) {
		cf->read_errno = ENOMEM;
		cf->eof = 1;
		return avail;
	}
	if (avail)
		memcpy(c->data, cf->cur->data + cf->pos, avail);
	c->len = avail;
	if (cf->cur)
		shard_pin_drop(&cf->cur->pin);
	cf->cur = c;
	cf->pos = 0;
	while (c->len < CHUNK_BYTES) {
		ssize_t r = read(cf->fd, c->data + c->len, CHUNK_BYTES - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				cf->read_errno = errno;
			cf->eof = 1;
			break;
		}
		c->len += (size_t)r;
	}
	return c->len;
}

int
capfile_next(struct capfile *cf, struct pcap_pkthdr **hdr, const u_char **data,
	     struct shard_pin **pin)
{
	size_t avail = need(cf, REC_HDR);

	if (avail < REC_HDR) {
		if (cf->read_errno)
			goto read_error;
		if (avail == 0)
			return PCAP_ERROR_BREAK;
		snprintf(cf->err, sizeof(cf->err),
			 "truncated dump file; tried to read %zu header bytes, only got %zu",
			 (size_t)REC_HDR, avail);
		return PCAP_ERROR;
	}
	const uint8_t *h = cf->cur->data + cf->pos;
	uint32_t sec = rd32(cf, h), frac = rd32(cf, h + 4);
	uint32_t caplen = rd32(cf, h + 8), len = rd32(cf, h + 12);
	if (caplen > MAXIMUM_SNAPLEN) {
		if (caplen > cf->snapshot)
			snprintf(cf->err, sizeof(cf->err), "invalid packet capture length %u, "
				 "bigger than snaplen of %u", caplen, cf->snapshot);
		else
			snprintf(cf->err, sizeof(cf->err), "invalid packet capture length %u, "
				 "bigger than maximum of %u", caplen, MAXIMUM_SNAPLEN);
		return PCAP_ERROR;
	}
	avail = need(cf, REC_HDR + (size_t)caplen);
	if (avail < REC_HDR + (size_t)caplen) {
		size_t got = avail - REC_HDR;
		if (cf->read_errno)
			goto read_error;
		/* libpcap reads the snapshot's worth first, then the rest */
		uint32_t tried = caplen > cf->snapshot && got < cf->snapshot ? cf->snapshot : caplen;
		snprintf(cf->err, sizeof(cf->err),
			 "truncated dump file; tried to read %u captured bytes, only got %zu", tried,
			 got);
		return PCAP_ERROR;
	}
	/* the fields are 32-bit signed in the file, as libpcap reads them;
	 * nanoseconds are scaled down as unsigned */
	cf->hdr.ts.tv_sec = (int32_t)sec;
	cf->hdr.ts.tv_usec = cf->nsec ? (suseconds_t)(frac / 1000) : (suseconds_t)(int32_t)frac;
	cf->hdr.caplen = caplen > cf->snapshot ? cf->snapshot : caplen;
	cf->hdr.len = len;
	*hdr = &cf->hdr;
	*data = cf->cur->data + cf->pos + REC_HDR;
	*pin = &cf->cur->pin;
	cf->pos += REC_HDR + caplen;
	return 1;
read_error:
	snprintf(cf->err, sizeof(cf->err), "error reading dump file: %s",
		 strerror(cf->read_errno));
	return PCAP_ERROR;
}

const char *
capfile_geterr(const struct capfile *cf)
{
	return cf->err;
}

void
capfile_close(struct capfile *cf)
{
	if (!cf)
		return;
	for (unsigned i = 0; i < cf->n_chunks; i++)
		free(cf->all[i]);
	pthread_mutex_destroy(&cf->mu);
	pthread_cond_destroy(&cf->freed);
	close(cf->fd);
	free(cf);
}
