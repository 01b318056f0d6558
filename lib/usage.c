/*
 * The usage summary's JSON form (see docs/usage-format.md). Field order is
 * fixed so that output is stable and diffable.
 */
#include "shadowmap/json.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/usage.h"

int
usage_record_to_json(const struct usage_record *r, struct sbuf *sb)
{
	char ts[TIMEFMT_LEN];
	char client[ADDR_STRLEN];

	sbuf_addc(sb, '{');
	json_add_key(sb, "schema", 1);
	json_add_string(sb, USAGE_SCHEMA);
	json_add_key(sb, "bucket_start", 0);
	json_add_string(sb, time_format_rfc3339(r->bucket_start, 0, ts));
	json_add_key(sb, "bucket_seconds", 0);
	json_add_i64(sb, r->bucket_seconds);
	json_add_key(sb, "client", 0);
	json_add_string(sb, r->has_client ? addr_format(&r->client, client, sizeof(client)) : NULL);
	json_add_key(sb, "host", 0);
	json_add_string(sb, r->host);
	json_add_key(sb, "domain", 0);
	json_add_string(sb, r->domain);
	json_add_key(sb, "app", 0);
	json_add_string(sb, r->app);
	json_add_key(sb, "category", 0);
	json_add_string(sb, r->category);
	json_add_key(sb, "ndpi_proto", 0);
	json_add_string(sb, r->ndpi_proto);
	if (r->untracked) {
		json_add_key(sb, "untracked", 0);
		json_add_string(sb, r->untracked);
	}
	json_add_key(sb, "flows", 0);
	json_add_u64(sb, r->flows);
	json_add_key(sb, "packets", 0);
	json_add_u64(sb, r->packets);
	json_add_key(sb, "bytes_up", 0);
	json_add_u64(sb, r->bytes_up);
	json_add_key(sb, "bytes_down", 0);
	json_add_u64(sb, r->bytes_down);
	json_add_key(sb, "first_seen", 0);
	json_add_string(sb, time_format_rfc3339(r->first_seen, 3, ts));
	json_add_key(sb, "last_seen", 0);
	json_add_string(sb, time_format_rfc3339(r->last_seen, 3, ts));
	json_add_key(sb, "country", 0);
	json_add_string(sb, r->country);
	json_add_key(sb, "asn", 0);
	if (r->asn)
		json_add_u64(sb, r->asn);
	else
		sbuf_addstr(sb, "null");
	json_add_key(sb, "as_org", 0);
	json_add_string(sb, r->as_org);
	return sbuf_addc(sb, '}');
}
