/*
 * The floor for the agent's speed: read every packet of a capture with
 * libpcap and touch its bytes, nothing else. Prints packets and seconds.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

int
main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *hdr;
	const u_char *data;
	struct timespec t0, t1;
	uint64_t n = 0, sum = 0;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: pcap-read-loop FILE\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pcap_t *p = pcap_open_offline(argv[1], errbuf);
	if (!p) {
		fprintf(stderr, "pcap-read-loop: %s\n", errbuf);
		return 1;
	}
	while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
		n++;
		/* touch the headers as any reader must, so the loop is not free */
		sum += hdr->len + (hdr->caplen > 14 ? data[12] + data[13] : 0);
	}
	if (rc == PCAP_ERROR)
		fprintf(stderr, "pcap-read-loop: %s\n", pcap_geterr(p));
	pcap_close(p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("packets=%llu seconds=%.3f checksum=%llu\n", (unsigned long long)n, secs,
	       (unsigned long long)sum);
	return rc == PCAP_ERROR ? 1 : 0;
}
