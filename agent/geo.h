/*
 * Where traffic goes: the country (ISO 3166-1 alpha-2) and the network
 * (autonomous system number and organisation) of a server address, from
 * optional MaxMind DB files (libmaxminddb). The engine looks a flow's
 * server up once, when the flow is created. geo.c is the only file that
 * includes maxminddb.h; see docs/agent.md, "Where traffic goes".
 */
#ifndef SHADOWMAP_GEO_H
#define SHADOWMAP_GEO_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/addr.h"

typedef struct geo geo;

/* What a lookup found; every field is 0 when unknown. */
struct geo_info {
	uint16_t country; /* two upper-case ASCII letters, first one in the high byte */
	uint32_t asn;     /* autonomous system number */
	uint32_t as_org;  /* its organisation, interned: geo_org_name() */
};

struct geo_stats {
	uint64_t lookups;      /* addresses looked up */
	uint64_t country;      /* ...that got a country */
	uint64_t asn;          /* ...that got a network */
	uint64_t orgs;         /* distinct organisation names held */
	uint64_t orgs_dropped; /* names not kept: the table was full */
};

/* ---- life ---- */

/* An empty handle: every lookup finds nothing until a database is opened.
 * NULL when out of memory. */
geo *geo_new(void);
void geo_free(geo *g);

/*
 * Opens a country database (GeoLite2/GeoIP2 Country or City style:
 * country.iso_code; or ip-location-db style: country_code) or an ASN
 * database (autonomous_system_number, autonomous_system_organization).
 * The file must open as a MaxMind DB, its metadata database_type must say
 * the kind, and its records must carry the fields. Returns 0, or -1 with
 * "PATH: reason" in err; a second call for the same kind is refused.
 */
int geo_open_country(geo *g, const char *path, char *err, size_t errlen);
int geo_open_asn(geo *g, const char *path, char *err, size_t errlen);

/* Whether any database is open (lookups can find something). */
int geo_enabled(const geo *g);

/* ---- lookups ---- */

/* Fills out for address a (about a microsecond per database). */
void geo_lookup(geo *g, const struct sm_addr *a, struct geo_info *out);

/* The organisation name of an id from geo_lookup, or NULL for 0. Valid
 * while g lives. */
const char *geo_org_name(const geo *g, uint32_t id);

/* The country as a string ("DE") in buf, or NULL when code is 0. */
const char *geo_country_str(uint16_t code, char buf[3]);

void geo_get_stats(const geo *g, struct geo_stats *st);

#endif
