/*
 * capfile (a classic pcap file read in place) against libpcap itself: the
 * same records, bytes, time stamps and end on every corpus capture it
 * takes, in both byte orders and with nanosecond time stamps, and the same
 * results and messages on files cut at every length, with a packet longer
 * than the snapshot length and with an insane captured length.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "capfile.h"

struct outcome {
	int n_ok;
	int last;            /* the result that ended the read */
	char err[PCAP_ERRBUF_SIZE];
};

/* Reads path with libpcap and with capfile side by side; every record must
 * agree. Returns -1 when capfile does not take the file. */
static int
compare_file(const char *path, struct outcome *out)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *ref = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO,
							       errbuf);
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO,
							     errbuf);
	if (!ref || !p) {
		if (ref)
			pcap_close(ref);
		if (p)
			pcap_close(p);
		return -2; /* libpcap refuses it: nothing to compare */
	}
	struct capfile *cf = capfile_open(path, p, NULL, NULL);
	if (!cf) {
		pcap_close(ref);
		pcap_close(p);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	for (;;) {
		struct pcap_pkthdr *h1, *h2;
		const u_char *d1, *d2;
		struct shard_pin *pin;
		int r1 = pcap_next_ex(ref, &h1, &d1);
		int r2 = capfile_next(cf, &h2, &d2, &pin);
		if (r1 != r2)
			fail_msg("%s: record %d: libpcap %d (%s), capfile %d (%s)", path, out->n_ok + 1,
				 r1, pcap_geterr(ref), r2, capfile_geterr(cf));
		if (r1 != 1) {
			out->last = r1;
			if (r1 == PCAP_ERROR) {
				assert_string_equal(pcap_geterr(ref), capfile_geterr(cf));
				snprintf(out->err, sizeof(out->err), "%s", capfile_geterr(cf));
			}
			break;
		}
		assert_int_equal(h1->ts.tv_sec, h2->ts.tv_sec);
		assert_int_equal(h1->ts.tv_usec, h2->ts.tv_usec);
		assert_int_equal(h1->caplen, h2->caplen);
		assert_int_equal(h1->len, h2->len);
		assert_memory_equal(d1, d2, h1->caplen);
		out->n_ok++;
	}
	capfile_close(cf);
	pcap_close(ref);
	pcap_close(p);
	return 0;
}

static void
test_corpus(void **state)
{
	(void)state;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/ndpi", CORPUS_DIR);
	DIR *d = opendir(dir);
	if (!d)
		skip();
	struct dirent *de;
	int taken = 0, records = 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 5 || (strcmp(de->d_name + n - 5, ".pcap") != 0 &&
			      (n < 7 || strcmp(de->d_name + n - 7, ".pcapng") != 0)))
			continue;
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct outcome o;
		if (compare_file(path, &o) == 0) {
			taken++;
			records += o.n_ok;
			assert_int_equal(o.last, PCAP_ERROR_BREAK);
		}
	}
	closedir(d);
	print_message("capfile took %d corpus captures, %d records, all as libpcap reads them\n",
		      taken, records);
	assert_true(taken > 50);
}

/* A small classic pcap (Ethernet, microseconds) in memory. */
static size_t
make_pcap(uint8_t *b, uint32_t snaplen, int n_packets, const uint32_t *caplens)
{
	static const uint8_t head[] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
	size_t off = sizeof(head);
	memcpy(b, head, sizeof(head));
	memcpy(b + 16, &snaplen, 4);
	for (int i = 0; i < n_packets; i++) {
		uint32_t h[4] = { 1700000000u + (uint32_t)i, 123456u + (uint32_t)i, caplens[i],
				  caplens[i] + 10 };
		memcpy(b + off, h, sizeof(h));
		off += sizeof(h);
		for (uint32_t k = 0; k < caplens[i]; k++)
			b[off + k] = (uint8_t)(k * 7 + (uint32_t)i);
		off += caplens[i];
	}
	return off;
}

static void
write_file(const char *path, const uint8_t *b, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* The same file in the other byte order, or with nanosecond stamps. */
static void
convert(uint8_t *b, size_t len, int swap, int nsec)
{
	uint32_t magic = nsec ? 0xa1b23c4d : 0xa1b2c3d4;
	size_t off = 24;
	uint32_t v;
	while (off + 16 <= len) {
		uint32_t caplen;
		memcpy(&caplen, b + off + 8, 4);
		if (nsec) {
			memcpy(&v, b + off + 4, 4);
			v = v * 1000 + 999;
			memcpy(b + off + 4, &v, 4);
		}
		if (swap)
			for (int i = 0; i < 4; i++) {
				memcpy(&v, b + off + 4 * i, 4);
				v = __builtin_bswap32(v);
				memcpy(b + off + 4 * i, &v, 4);
			}
		off += 16 + caplen;
	}
	memcpy(b, &magic, 4);
	if (swap) {
		for (int i = 0; i < 6; i++) {
			size_t at = i < 2 ? (size_t)(4 + 2 * i) : (size_t)(8 + 4 * (i - 2));
			if (i < 2) {
				uint16_t s;
				memcpy(&s, b + at, 2);
				s = __builtin_bswap16(s);
				memcpy(b + at, &s, 2);
			} else {
				memcpy(&v, b + at, 4);
				v = __builtin_bswap32(v);
				memcpy(b + at, &v, 4);
			}
		}
		memcpy(&v, b, 4);
		v = __builtin_bswap32(v);
		memcpy(b, &v, 4);
	}
}

static void
test_variants_and_cuts(void **state)
{
	(void)state;
	static uint8_t b[8192];
	char path[] = "/tmp/test_capfile.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	const uint32_t caplens[] = { 60, 1, 0, 300, 64 };
	for (int variant = 0; variant < 4; variant++) {
		size_t len = make_pcap(b, 65535, 5, caplens);
		convert(b, len, variant & 1, variant & 2);
		struct outcome o;
		write_file(path, b, len);
		assert_int_equal(compare_file(path, &o), 0);
		assert_int_equal(o.n_ok, 5);
		assert_int_equal(o.last, PCAP_ERROR_BREAK);
		/* cut at every length: the same records, then the same end */
		for (size_t cut = 24; cut < len; cut++) {
			write_file(path, b, cut);
			assert_int_equal(compare_file(path, &o), 0);
		}
	}
	/* a packet longer than the snapshot length is cut to it, even cut */
	size_t len = make_pcap(b, 100, 5, caplens);
	struct outcome o;
	write_file(path, b, len);
	assert_int_equal(compare_file(path, &o), 0);
	assert_int_equal(o.n_ok, 5);
	for (size_t cut = 24; cut < len; cut++) {
		write_file(path, b, cut);
		assert_int_equal(compare_file(path, &o), 0);
	}
	/* an insane captured length, beyond and within the snapshot length */
	const uint32_t huge[] = { 60, 300000 };
	len = make_pcap(b, 65535, 1, huge);
	uint32_t h[4] = { 1, 2, 300000, 300000 };
	memcpy(b + len, h, sizeof(h));
	write_file(path, b, len + 16);
	assert_int_equal(compare_file(path, &o), 0);
	assert_int_equal(o.last, PCAP_ERROR);
	memcpy(b + 16, &(uint32_t){ 400000 }, 4);
	write_file(path, b, len + 16);
	assert_int_equal(compare_file(path, &o), 0);
	assert_int_equal(o.last, PCAP_ERROR);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_variants_and_cuts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
