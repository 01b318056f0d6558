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
	JSON_FIRST_KEY(sb, "schema");
	json_add_string(sb, USAGE_SCHEMA);
	JSON_KEY(sb, "bucket_start");
	json_add_string(sb, time_format_rfc3339(r->bucket_start, 0, ts));
	JSON_KEY(sb, "bucket_seconds");
	json_add_i64(sb, r->bucket_seconds);
	JSON_KEY(sb, "client");
	json_add_string(sb, r->has_client ? addr_format(&r->client, client, sizeof(client)) : NULL);
	JSON_KEY(sb, "host");
	json_add_string(sb, r->host);
	JSON_KEY(sb, "domain");
	json_add_string(sb, r->domain);
	JSON_KEY(sb, "app");
	json_add_string(sb, r->app);
	JSON_KEY(sb, "category");
	json_add_string(sb, r->category);
	JSON_KEY(sb, "ndpi_proto");
	json_add_string(sb, r->ndpi_proto);
	if (r->untracked) {
		JSON_KEY(sb, "untracked");
		json_add_string(sb, r->untracked);
	}
	JSON_KEY(sb, "flows");
	json_add_u64(sb, r->flows);
	JSON_KEY(sb, "packets");
	json_add_u64(sb, r->packets);
	JSON_KEY(sb, "bytes_up");
	json_add_u64(sb, r->bytes_up);
	JSON_KEY(sb, "bytes_down");
	json_add_u64(sb, r->bytes_down);
	JSON_KEY(sb, "first_seen");
	json_add_string(sb, time_format_rfc3339(r->first_seen, 3, ts));
	JSON_KEY(sb, "last_seen");
	json_add_string(sb, time_format_rfc3339(r->last_seen, 3, ts));
	JSON_KEY(sb, "country");
	json_add_string(sb, r->country);
	JSON_KEY(sb, "asn");
	if (r->asn)
		json_add_u64(sb, r->asn);
	else
		sbuf_addstr(sb, "null");
	JSON_KEY(sb, "as_org");
	json_add_string(sb, r->as_org);
	return sbuf_addc(sb, '}');
}
