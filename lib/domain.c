/*
 * Server names as the agent reports them: what SNI, Host and DNS carry,
 * normalised into one spelling, and the registrable domain (eTLD+1) that
 * stands for a name no signature knows, by the ICANN section of the public
 * suffix list only (libpsl).
 */
#include <stdint.h>
#include <string.h>

#include <libpsl.h>

#include "shadowmap/domain.h"
#include "shadowmap/log.h"

static psl_ctx_t *domain_psl;

int
domain_init(void)
{
	if (domain_psl)
		return 0;
	/* The newer of the distribution's list (updated with the publicsuffix
	 * package) and the copy built into libpsl. */
	domain_psl = psl_latest(NULL);
	if (!domain_psl) {
		log_warnx("cannot load a public suffix list");
		return -1;
	}
	return 0;
}

void
domain_cleanup(void)
{
	psl_free(domain_psl); /* leaves the built-in list alone */
	domain_psl = NULL;
}

/* Whether the label is a number, decimal or 0x-hex: no TLD is one, and
 * resolvers and browsers read "10.1", "127.0.0.1" or "0x7f.1" as IPv4.
 * For input that passed the byte check this covers every IPv4 literal
 * addr_is_literal knows; IPv6 needs ':' or '[', which never pass. */
static int
label_is_numeric(const char *s, size_t len)
{
	size_t i = 0;
	int hex = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		hex = 1;
		i = 2;
	}
	for (; i < len; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9')
			continue;
		if (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			continue;
		return 0;
	}
	return 1;
}

/* out may be in itself (normalising in place); on failure it is "". */
int
domain_normalize(const char *in, size_t in_len, char *out, size_t out_size)
{
	const char *colon;
	size_t len = in_len, label = 0, last_start = 0;

	if (!in || !out || out_size == 0 || in_len == 0)
		goto fail;
	/* "[v6]" and "[v6]:port" (HTTP Host) are addresses, not names. */
	if (in[0] == '[')
		goto fail;
	colon = memchr(in, ':', in_len);
	if (colon) {
		/* One ":port" of digits (possibly empty, as RFC 3986 allows);
		 * a second colon means a bare IPv6 address. */
		const char *port = colon + 1;
		size_t port_len = in_len - (size_t)(port - in);
		unsigned long value = 0;
		if (port_len > 5)
			goto fail;
		for (size_t i = 0; i < port_len; i++) {
			if (port[i] < '0' || port[i] > '9')
				goto fail;
			value = value * 10 + (unsigned long)(port[i] - '0');
		}
		if (value > 65535)
			goto fail;
		len = (size_t)(colon - in);
	}
	if (len > 0 && in[len - 1] == '.')
		len--; /* the root label: "example.com." is "example.com" */
	if (len == 0 || len > DOMAIN_MAX - 1 || len >= out_size)
		goto fail;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '.') {
			if (label == 0)
				goto fail;
			label = 0;
			last_start = i + 1;
			out[i] = '.';
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			   c == '_'))
			goto fail;
		if (++label > 63)
			goto fail;
		out[i] = c;
	}
	if (label == 0 || label_is_numeric(out + last_start, len - last_start))
		goto fail;
	out[len] = '\0';
	return (int)len;
fail:
	if (out && out_size)
		out[0] = '\0';
	return -1;
}

int
domain_registrable(const char *name, char *out, size_t out_size)
{
	const char *p, *registrable = NULL;
	size_t len;

	if (out && out_size)
		out[0] = '\0';
	if (!domain_psl || !name || !out)
		return -1;
	len = strlen(name);
	if (len == 0 || len >= DOMAIN_MAX || name[0] == '.' || name[len - 1] == '.' ||
	    strstr(name, "..") || strchr(name, ':') || name[0] == '[')
		return -1;
	{
		const char *last = strrchr(name, '.');
		last = last ? last + 1 : name;
		if (label_is_numeric(last, len - (size_t)(last - name)))
			return -1; /* an IPv4 literal has no registrable domain */
	}
	/*
	 * Left to right, the first suffix that is a public suffix is the
	 * longest one (as libpsl's own psl_registrable_domain walks, which
	 * also keeps "forgot.his.name" right); the registrable domain is it
	 * with one label more. PSL_TYPE_ICANN makes libpsl answer from ICANN
	 * rules alone (a PRIVATE entry such as github.io or s3.amazonaws.com
	 * counts as not public) plus the implicit "*" rule for one label, so
	 * "host.corp.internal" gives "corp.internal". A PRIVATE rule sitting
	 * exactly under an ICANN wildcard would hide that wildcard; the list
	 * has no such pair (checked against the 2023 list).
	 */
	for (p = name; p;) {
		if (psl_is_public_suffix2(domain_psl, p, PSL_TYPE_ICANN))
			break;
		registrable = p;
		p = strchr(p, '.');
		if (p)
			p++;
	}
	if (!p || !registrable)
		return -1; /* the name is a public suffix itself */
	len = strlen(registrable);
	if (len >= out_size)
		return -1;
	memcpy(out, registrable, len + 1);
	return 0;
}
