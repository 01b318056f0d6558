/*
 * Reads signature YAML (signatures/README.md is the schema, RISK.md the
 * risk facts) into the database of sig.c: the built-in files, then the
 * organisation's local ones, which may also change built-in apps. Strict on
 * purpose: an unknown key, a wrong type, a malformed domain or a fact
 * without its source is an error "file:line: reason", so that a typo in the
 * knowledge base fails loudly in CI instead of silently matching nothing.
 * In lint mode (sig_db_set_problem_handler) it reports and goes on.
 *
 * The YAML itself is read by yaml.c into a tree that keeps every node's
 * line, with libfyaml's diagnostics turned into the same one-line form.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "shadowmap/addr.h"
#include "shadowmap/fileio.h"
#include "shadowmap/sig.h"
#include "shadowmap/yaml.h"
#include "sig_int.h"

#define DIR_DEPTH_MAX 16
#define DIR_FILES_MAX 10000u
#define SIG_URL_MAX 2048u

/* What one file load carries around: where errors go and what is built. */
struct loader {
	sig_db *db;
	const char *file; /* interned path, for messages and records */
	char *err;
	size_t errlen;
	int local; /* a local file: overrides and take_domains allowed */
	int lint;  /* report every problem and go on */
};

static int
load_fail(struct loader *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
load_fail(struct loader *ld, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sig_db_problem(ld->db, ld->err, ld->errlen, ld->file, line, "%s", msg);
}

/* ---- field checks ---------------------------------------------------- */

static int
is_slug(const char *s, size_t len)
{
	if (len == 0 || len > SIG_SLUG_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

/* Why c cannot stand in a label of a domain; NULL when it can. */
static const char *
label_char_problem(char c)
{
	if (c >= 'A' && c <= 'Z')
		return "is not lower case";
	if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
		return "has a character other than a-z, 0-9, '-', '_' and '.'";
	return NULL;
}

/* Why s is not a normalised domain (lower case, labels of [a-z0-9_-], two
 * labels at least), or NULL when it is one. */
static const char *
domain_problem(const char *s, size_t len)
{
	size_t label = 0, n_labels = 1, last_start = 0;
	int last_numeric;

	if (len == 0)
		return "is empty";
	if (addr_is_literal(s))
		return "is an IP address (list it under ip_ranges)";
	if (len > 253)
		return "is longer than 253 characters";
	if (s[0] == '.')
		return "starts with a dot";
	if (s[len - 1] == '.')
		return "ends with a dot (write it without)";
	if (memchr(s, '*', len))
		return "has a wildcard (a domain already matches all names under it)";
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return "has an empty label";
			label = 0;
			n_labels++;
			last_start = i + 1;
			continue;
		}
		const char *why = label_char_problem(c);
		if (why)
			return why;
		if (++label > 63)
			return "has a label longer than 63 characters";
	}
	if (n_labels < 2)
		return "has a single label (a registrable domain has two at least)";
	last_numeric = 1;
	for (size_t i = last_start; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			last_numeric = 0;
	if (last_numeric)
		return "ends in a numeric label (an IP address? list it under ip_ranges)";
	return NULL;
}

/* Why the first label of a pattern, [s, end) less the '*' at star if it
 * lies there, is not one; NULL when it is fine. */
static const char *
pattern_label_problem(const char *s, const char *end, const char *star)
{
	if (end - s > 63)
		return "has a label longer than 63 characters";
	for (const char *c = s; c < end; c++) {
		const char *why = c == star ? NULL : label_char_problem(*c);
		if (why)
			return why;
	}
	return NULL;
}

/*
 * Why s is not a label pattern, or NULL when it is one. Two forms:
 * - one '*' at the start or the end of the first label ("*-my.sharepoint.com":
 *   a label ending in "-my" directly under sharepoint.com; "my-*.example.com":
 *   one starting with "my-"), a literal part of [a-z0-9_-] beside it;
 * - a whole literal first label, then a whole-label '*' ("instagram.*.fna.fbcdn.net":
 *   a label "instagram" over any one label under fna.fbcdn.net), for
 *   vendors that put a product's name left of a per-site label;
 * then a normalised domain, the parent. In exclude_domains (excluded set)
 * the first label may also be a bare '*' ("*.teachable.com": every name
 * under the parent that the app does not list itself), for vendors whose
 * own site sits on the apex and whose customers' sites fill the labels
 * under it. Anything richer (a '*' mid-label, two of them, a '*' deeper
 * down) is refused so that precedence stays a matter of label count and
 * literal length alone. buf holds the reason when it names the parent's
 * own problem.
 */
static const char *
pattern_problem(const char *s, size_t len, int excluded, char *buf, size_t size)
{
	const char *star = memchr(s, '*', len), *dot = memchr(s, '.', len);
	const char *why, *parent;
	size_t label_len;

	if (len > 253)
		return "is longer than 253 characters";
	if (memchr(star + 1, '*', len - (size_t)(star + 1 - s)))
		return "has more than one '*' (a label pattern has one, at the start or end of "
		       "its first label, or as its whole second label)";
	if (!dot)
		return "is a label pattern without a domain after its first label";
	label_len = (size_t)(dot - s);
	if (star > dot) {
		/* the second form: "name.*.parent" */
		if (star != dot + 1 || (size_t)(star + 1 - s) >= len || star[1] != '.')
			return "has a '*' after its first label (only the first label may be a "
			       "pattern, or the whole second label after a literal first one)";
		if (label_len == 0)
			return "has an empty label";
		why = pattern_label_problem(s, dot, NULL);
		if (why)
			return why;
		parent = star + 2;
	} else {
		if (label_len == 1 && !excluded)
			return "has a wildcard (a domain already matches all names under it; a "
			       "label pattern needs a literal part, as in *-my.example.com)";
		if (star != s && star != dot - 1)
			return "has a '*' inside its first label (it may only begin or end the "
			       "label)";
		why = pattern_label_problem(s, dot, star);
		if (why)
			return why;
		parent = dot + 1;
	}
	why = domain_problem(parent, len - (size_t)(parent - s));
	if (why) {
		snprintf(buf, size, "is a label pattern over \"%.*s\", which %s",
			 (int)(len - (size_t)(parent - s)), parent, why);
		return buf;
	}
	return NULL;
}

/* Parses "address/prefix"; returns NULL or why it is not a CIDR. *masked
 * gets the network with the host bits cleared, for the host-bits message. */
static const char *
parse_cidr(const char *s, size_t len, struct sig_range *out, struct sm_addr *masked)
{
	char text[64];
	const char *slash = memchr(s, '/', len);
	size_t addr_len, digits;
	unsigned prefix = 0, max, offset;
	int v6;

	if (!slash)
		return "needs a /prefix length";
	addr_len = (size_t)(slash - s);
	if (addr_len == 0 || addr_len >= sizeof(text))
		return "has a malformed address";
	memcpy(text, s, addr_len);
	text[addr_len] = '\0';
	v6 = memchr(text, ':', addr_len) != NULL;
	if (addr_parse(text, &out->base) < 0)
		return "has a malformed address";
	max = v6 ? 128 : 32;
	offset = v6 ? 0 : 96;
	digits = len - addr_len - 1;
	if (digits == 0 || digits > 3)
		return "has a malformed prefix length";
	for (size_t i = 0; i < digits; i++) {
		char c = slash[1 + i];
		if (c < '0' || c > '9')
			return "has a malformed prefix length";
		prefix = prefix * 10 + (unsigned)(c - '0');
	}
	if (prefix > max)
		return v6 ? "has a prefix length over 128" : "has a prefix length over 32";
	out->prefix_len = (uint8_t)(prefix + offset);
	*masked = out->base;
	for (unsigned bit = out->prefix_len; bit < 128; bit++)
		masked->b[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	if (memcmp(masked->b, out->base.b, sizeof(masked->b)) != 0)
		return "has host bits set";
	return NULL;
}

/* ---- the vocabularies of risk facts (signatures/RISK.md) ------------- */

/* ISO 3166-1 alpha-2, the 249 assigned codes, in order. */
static const char iso_countries[] =
	"ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
	"CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFR"
	"GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJO"
	"JPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMR"
	"MSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERO"
	"RSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTV"
	"TWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW";

/* The 27 member states of the European Union. */
static const char eu_countries[] = "ATBEBGCYCZDEDKEEESFIFRGRHRHUIEITLTLULVMTNLPLPTROSESISK";

static int
code_in(const char *list, const char *code)
{
	char up[2];

	if (strlen(code) != 2)
		return 0;
	for (int i = 0; i < 2; i++) {
		char c = code[i];
		up[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
	}
	for (const char *p = list; p[0]; p += 2)
		if (p[0] == up[0] && p[1] == up[1])
			return 1;
	return 0;
}

int
sig_country_valid(const char *code)
{
	return strlen(code) == 2 && code[0] >= 'A' && code[0] <= 'Z' && code[1] >= 'A' &&
	       code[1] <= 'Z' && code_in(iso_countries, code);
}

int
sig_country_in_eu(const char *code)
{
	return code_in(eu_countries, code);
}

/* The usual mistakes: codes people write that ISO spells differently. */
static const char *
country_hint(const char *code)
{
	if (strcasecmp(code, "uk") == 0)
		return " (the United Kingdom is GB)";
	if (strcasecmp(code, "el") == 0)
		return " (Greece is GR)";
	return "";
}

const char *
sig_region_problem(const char *text)
{
	if (strcmp(text, "eu") == 0)
		return NULL;
	if (strcmp(text, "uk") == 0)
		return "is not a region: the United Kingdom is gb (ISO 3166-1)";
	if (strcmp(text, "el") == 0)
		return "is not a region: Greece is gr (ISO 3166-1)";
	if (strlen(text) == 2 && code_in(iso_countries, text)) {
		if (text[0] >= 'a' && text[0] <= 'z' && text[1] >= 'a' && text[1] <= 'z')
			return NULL;
		return "must be lower case";
	}
	if (strcmp(text, "EU") == 0)
		return "must be lower case";
	return "is not a region (eu, or an ISO 3166-1 alpha-2 country code in lower case)";
}

/* Certifications and attestations an app's vendor may hold; one row more
 * when another one matters to security teams (signatures/RISK.md). */
static const char *const certifications[] = {
	"soc1",	    "soc2",	    "soc3",	"iso27001", "iso27017",	    "iso27018",
	"iso27701", "iso22301",	    "iso42001", "iso9001",  "csa-star",	    "c5",
	"hds",	    "secnumcloud", "ens",	"tisax",    "cyber-essentials", "cyber-essentials-plus",
	"pci-dss",  "hitrust",	    "fedramp",	"stateramp", "irap",	    "ismap",
	"isms-p",   "mtcs",
};
#define N_CERTIFICATIONS (sizeof(certifications) / sizeof(certifications[0]))

int
sig_certification_valid(const char *name)
{
	for (size_t i = 0; i < N_CERTIFICATIONS; i++)
		if (strcmp(certifications[i], name) == 0)
			return 1;
	return 0;
}

const char *
sig_certification_names(void)
{
	static char names[512];

	if (!names[0]) {
		size_t o = 0;
		for (size_t i = 0; i < N_CERTIFICATIONS && o < sizeof(names); i++) {
			int w = snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
					 certifications[i]);
			if (w < 0)
				break;
			o += (size_t)w;
		}
	}
	return names;
}

static const char *const sso_methods[] = { "saml", "oidc" };

/* One row per fact: its key and the type of its value. */
static const struct {
	const char *name;
	enum sig_fact_type type;
} fact_schema[SIG_FACT_COUNT] = {
	[SIG_FACT_HQ_COUNTRY] = { "hq_country", SIG_FACT_COUNTRY },
	[SIG_FACT_SSO] = { "sso", SIG_FACT_LIST },
	[SIG_FACT_MFA] = { "mfa", SIG_FACT_BOOL },
	[SIG_FACT_CERTIFICATIONS] = { "certifications", SIG_FACT_LIST },
	[SIG_FACT_DATA_RESIDENCY] = { "data_residency", SIG_FACT_LIST },
	[SIG_FACT_TRAINS_ON_CUSTOMER_DATA] = { "trains_on_customer_data", SIG_FACT_TRAINING },
	[SIG_FACT_E2EE] = { "e2ee", SIG_FACT_BOOL },
	[SIG_FACT_PUBLIC_LINK_SHARING] = { "public_link_sharing", SIG_FACT_BOOL },
};

const char *
sig_fact_name(enum sig_fact_id id)
{
	return (unsigned)id < SIG_FACT_COUNT ? fact_schema[id].name : NULL;
}

int
sig_fact_type(enum sig_fact_id id)
{
	return (unsigned)id < SIG_FACT_COUNT ? (int)fact_schema[id].type : -1;
}

int
sig_fact_has(const struct sig_fact *fact, const char *item)
{
	if (!fact || !fact->known || !item)
		return 0;
	for (size_t i = 0; i < fact->n_items; i++)
		if (strcmp(fact->items[i], item) == 0)
			return 1;
	return 0;
}

/* Why s is not an https URL we accept as a source, or NULL. The host is a
 * normalised domain (a vendor's page, not an address); the rest printable
 * ASCII without spaces, as RFC 3986 has it (other bytes percent-encoded). */
static const char *
url_problem(const char *s, size_t len)
{
	const char *host, *end;
	size_t host_len;
	char name[254];

	if (len > SIG_URL_MAX)
		return "is longer than 2048 bytes";
	if (len < 8 || memcmp(s, "https://", 8) != 0)
		return "must be an https:// URL";
	host = s + 8;
	end = host;
	while (end < s + len && *end != '/' && *end != '?' && *end != '#')
		end++;
	host_len = (size_t)(end - host);
	if (host_len == 0)
		return "has no host";
	if (memchr(host, '@', host_len))
		return "must not hold a user name";
	if (host[0] == '[')
		return "must have a domain name as host";
	if (memchr(host, ':', host_len))
		return "must not name a port";
	for (size_t i = 0; i < host_len; i++)
		if (host[i] >= 'A' && host[i] <= 'Z')
			return "must have a lower-case host";
	if (host_len >= sizeof(name))
		return "has a host longer than 253 characters";
	memcpy(name, host, host_len);
	name[host_len] = '\0';
	if (domain_problem(name, host_len))
		return "must have a domain name as host";
	for (const char *p = end; p < s + len; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c))
			return "must be printable ASCII without spaces (percent-encode the rest)";
	}
	return NULL;
}

/* 1 when s is a real date "YYYY-MM-DD" from 2000 to 2099. */
static int
is_date(const char *s, size_t len)
{
	static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 2000 || y > 2099 || m < 1 || m > 12 || d < 1 || d > days[m - 1])
		return 0;
	return !(m == 2 && d == 29 && y % 4 != 0); /* 2000 is a leap year */
}

/* ---- mappings by table ------------------------------------------------ */

struct field {
	const char *key;
	int required;
	int (*parse)(struct loader *ld, const struct ynode *key, const struct ynode *val,
		     void *rec);
};

/* Applies fields to every key of map; unknown and repeated keys are errors,
 * and so is a missing required key (at the mapping's line). In lint mode
 * every key is tried, the bad ones reported; the result is -1 if any was. */
static int
walk_mapping(struct loader *ld, const struct ynode *map, const struct field *fields,
	     size_t n_fields, const char *what, void *rec)
{
	unsigned seen = 0; /* one bit per field */
	int bad = 0;
	char q[96];

	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const struct ynode *key = map->kids[i], *val = map->kids[i + 1];
		size_t f;
		if (key->type != YNODE_SCALAR || key->is_null) {
			load_fail(ld, key->line, "%s keys must be plain words", what);
			goto next_bad;
		}
		for (f = 0; f < n_fields; f++)
			if (strlen(fields[f].key) == key->len &&
			    memcmp(fields[f].key, key->text, key->len) == 0)
				break;
		if (f == n_fields) {
			char expected[320];
			size_t o = 0;
			for (size_t k = 0; k < n_fields && o < sizeof(expected); k++) {
				int w = snprintf(expected + o, sizeof(expected) - o, "%s%s",
						 k ? ", " : "", fields[k].key);
				if (w < 0)
					break;
				o += (size_t)w;
			}
			load_fail(ld, key->line, "unknown key %s in %s (expected %s)",
				  yaml_quote(q, sizeof(q), key->text, key->len), what, expected);
			goto next_bad;
		}
		if (seen & (1u << f)) {
			load_fail(ld, key->line, "key \"%s\" given twice in %s", fields[f].key,
				  what);
			goto next_bad;
		}
		seen |= 1u << f;
		if (fields[f].parse(ld, key, val, rec) < 0)
			goto next_bad;
		continue;
	next_bad:
		if (!ld->lint)
			return -1;
		bad = 1;
	}
	for (size_t f = 0; f < n_fields; f++)
		if (fields[f].required && !(seen & (1u << f))) {
			load_fail(ld, map->line, "%s has no \"%s\"", what, fields[f].key);
			if (!ld->lint)
				return -1;
			bad = 1;
		}
	return bad ? -1 : 0;
}

/* A single-line (or, with multiline, free) text value, copied to *out. */
static int
get_text(struct loader *ld, const struct ynode *key, const struct ynode *val, int multiline,
	 char **out)
{
	if (val->type != YNODE_SCALAR)
		return load_fail(ld, val->line, "\"%s\" must be a string, not a %s", key->text,
				 val->type == YNODE_MAP ? "mapping" : "list");
	if (val->is_null || val->len == 0)
		return load_fail(ld, val->line, "\"%s\" must not be empty", key->text);
	if (val->len > SIG_TEXT_MAX)
		return load_fail(ld, val->line, "\"%s\" is longer than %u bytes", key->text,
				 SIG_TEXT_MAX);
	for (size_t i = 0; i < val->len; i++) {
		unsigned char c = (unsigned char)val->text[i];
		if (c == 0x7f || (c < 0x20 && !(multiline && (c == '\n' || c == '\t'))))
			return load_fail(ld, val->line, "\"%s\" holds a control character",
					 key->text);
	}
	free(*out);
	*out = strdup(val->text);
	if (!*out)
		return load_fail(ld, val->line, "out of memory");
	return 0;
}

static int
get_slug(struct loader *ld, const struct ynode *key, const struct ynode *val, char **out)
{
	char q[96];

	if (get_text(ld, key, val, 0, out) < 0)
		return -1;
	if (!is_slug(val->text, val->len)) {
		/* no half-valid slug is kept: lint mode would trip on it again */
		free(*out);
		*out = NULL;
		return load_fail(ld, val->line,
				 "%s %s must be 1 to %u characters of a-z, 0-9 and '-'",
				 key->text, yaml_quote(q, sizeof(q), val->text, val->len),
				 SIG_SLUG_MAX);
	}
	return 0;
}

/* The items of a list of strings; calls add for each. */
static int
get_list(struct loader *ld, const struct ynode *key, const struct ynode *val,
	 const char *item_kind, void *rec,
	 int (*add)(struct loader *ld, const struct ynode *item, void *rec))
{
	int bad = 0;

	if (val->type != YNODE_SEQ)
		return load_fail(ld, val->line, "\"%s\" must be a list of %s", key->text,
				 item_kind);
	if (val->n_kids > SIG_ITEMS_MAX)
		return load_fail(ld, val->line, "\"%s\" has more than %u items", key->text,
				 SIG_ITEMS_MAX);
	for (size_t i = 0; i < val->n_kids; i++) {
		const struct ynode *item = val->kids[i];
		int r;
		if (item->type != YNODE_SCALAR || item->is_null || item->len == 0)
			r = load_fail(ld, item->line, "\"%s\" must be a list of %s", key->text,
				      item_kind);
		else
			r = add(ld, item, rec);
		if (r < 0) {
			if (!ld->lint)
				return -1;
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* ---- categories -------------------------------------------------------- */

static int
cat_slug(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_slug(ld, key, val, &((struct sig_cat_rec *)rec)->pub.slug);
}

static int
cat_name(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_text(ld, key, val, 0, &((struct sig_cat_rec *)rec)->pub.name);
}

static int
cat_description(struct loader *ld, const struct ynode *key, const struct ynode *val,
		void *rec)
{
	return get_text(ld, key, val, 1, &((struct sig_cat_rec *)rec)->pub.description);
}

static const struct field cat_fields[] = {
	{ "slug", 1, cat_slug },
	{ "name", 1, cat_name },
	{ "description", 0, cat_description },
};

static int
load_category(struct loader *ld, const struct ynode *map)
{
	struct sig_cat_rec *rec;
	const struct sig_cat_rec *dup;
	int bad;

	if (map->type != YNODE_MAP)
		return load_fail(ld, map->line, "a category must be a mapping");
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return load_fail(ld, map->line, "out of memory");
	rec->file = ld->file;
	rec->line = map->line;
	bad = walk_mapping(ld, map, cat_fields, sizeof(cat_fields) / sizeof(cat_fields[0]),
			   "category", rec) < 0;
	/* In lint mode a broken category with a good slug is kept, so that its
	 * apps do not all report an unknown category too. */
	if (bad && (!ld->lint || !rec->pub.slug))
		goto fail;
	if (sig_db_add_category(ld->db, rec, &dup) < 0) {
		if (dup)
			load_fail(ld, map->line,
				  "category \"%s\" is already defined (%s:%d)", rec->pub.slug,
				  dup->file, dup->line);
		else
			load_fail(ld, map->line, "out of memory or too many categories");
		goto fail;
	}
	return bad ? -1 : 0;
fail:
	sig_cat_rec_free(rec);
	return -1;
}

/* ---- apps ------------------------------------------------------------ */

/* Makes room for item n of one of an app's lists (items of item_size
 * bytes) and its parallel array of positions; returns the new list or
 * NULL. Lists are small: growing by one keeps the code simple and exact. */
static void *
app_grow(void *items, size_t item_size, struct sig_pos **pos, size_t n)
{
	struct sig_pos *np = realloc(*pos, (n + 1) * sizeof(**pos));

	if (!np)
		return NULL;
	*pos = np;
	return realloc(items, (n + 1) * item_size);
}

/* "(line 8)" for an earlier entry of this file, "(file:8)" for another's. */
static const char *
where_text(const struct loader *ld, const struct sig_pos *pos, char *buf, size_t size)
{
	if (pos->file && strcmp(pos->file, ld->file) != 0)
		snprintf(buf, size, "(%s:%d)", pos->file, pos->line);
	else
		snprintf(buf, size, "(line %d)", pos->line);
	return buf;
}

/* One of an app's lists of domains: the domains that name it, or the
 * hosts under them it excludes. Both may hold label patterns. */
struct domain_list {
	char ***items;
	size_t *n;
	struct sig_pos **pos;
	const char *noun; /* for messages: "domain", "excluded domain" */
	int excluded;
};

static struct domain_list
domains_of(struct sig_app_rec *rec)
{
	return (struct domain_list){ &rec->pub.domains, &rec->pub.n_domains, &rec->domain_pos,
				     "domain", 0 };
}

/* A pattern here carves hosts whose name says what they are
 * ("p123-fmip.icloud.com") out of a domain; it ranks as a domain pattern
 * does, so no second kind of precedence comes with it. */
static struct domain_list
excludes_of(struct sig_app_rec *rec)
{
	return (struct domain_list){ &rec->pub.exclude_domains, &rec->pub.n_exclude_domains,
				     &rec->exclude_pos, "excluded domain", 1 };
}

/* Checks an entry of list; 0 when it may be added to it. */
static int
domain_entry_ok(struct loader *ld, const struct ynode *item, struct domain_list list)
{
	char q[96], where[300], why_buf[400];
	const char *why;

	if (!memchr(item->text, '*', item->len))
		why = domain_problem(item->text, item->len);
	else
		why = pattern_problem(item->text, item->len, list.excluded, why_buf,
				      sizeof(why_buf));

	if (why || strlen(item->text) != item->len)
		return load_fail(ld, item->line, "%s %s %s", list.noun,
				 yaml_quote(q, sizeof(q), item->text, item->len),
				 why ? why : "holds a NUL byte");
	for (size_t i = 0; i < *list.n; i++)
		if (strcmp((*list.items)[i], item->text) == 0)
			return load_fail(ld, item->line, "%s \"%s\" is listed twice in this app %s",
					 list.noun, item->text,
					 where_text(ld, &(*list.pos)[i], where, sizeof(where)));
	return 0;
}

static int
domain_append(struct loader *ld, const struct ynode *item, struct domain_list list)
{
	char **items = app_grow(*list.items, sizeof(*items), list.pos, *list.n);

	if (!items)
		return load_fail(ld, item->line, "out of memory");
	*list.items = items;
	items[*list.n] = strdup(item->text);
	if (!items[*list.n])
		return load_fail(ld, item->line, "out of memory");
	(*list.pos)[*list.n].file = ld->file;
	(*list.pos)[(*list.n)++].line = item->line;
	return 0;
}

static int
app_add_domain(struct loader *ld, const struct ynode *item, void *vrec)
{
	if (domain_entry_ok(ld, item, domains_of(vrec)) < 0)
		return -1;
	return domain_append(ld, item, domains_of(vrec));
}

/* exclude_domains: hosts (or label patterns) under the app's domains that
 * do not mean it; whether each is under one of them is checked once every
 * file is read (sig_db_finalize), since an override may add the domain
 * later. */
static int
app_add_exclude(struct loader *ld, const struct ynode *item, void *vrec)
{
	struct sig_app_rec *rec = vrec;
	char where[300];

	if (domain_entry_ok(ld, item, excludes_of(rec)) < 0)
		return -1;
	for (size_t i = 0; i < rec->pub.n_domains; i++)
		if (strcmp(rec->pub.domains[i], item->text) == 0)
			return load_fail(ld, item->line,
					 "\"%s\" is both a domain %s and an excluded domain of this app",
					 item->text,
					 where_text(ld, &rec->domain_pos[i], where, sizeof(where)));
	return domain_append(ld, item, excludes_of(rec));
}

/*
 * take_domains: the domain moves from the built-in app that lists it to
 * this one. Only a local file may do it, only by this key, and only from a
 * built-in app, so that a collision by accident stays an error.
 */
static int
app_take_domain(struct loader *ld, const struct ynode *item, void *vrec)
{
	struct sig_app_rec *rec = vrec, *owner;
	size_t at;

	if (domain_entry_ok(ld, item, domains_of(rec)) < 0)
		return -1;
	owner = sig_db_domain_owner(ld->db, item->text, rec, &at);
	if (!owner)
		return load_fail(ld, item->line,
				 "take_domains: domain \"%s\" is not claimed by any other app "
				 "(list it under domains)", item->text);
	if (owner->pub.local)
		return load_fail(ld, item->line,
				 "take_domains: domain \"%s\" belongs to local app \"%s\" (%s:%d); "
				 "only a built-in app's domain can be taken",
				 item->text, owner->pub.slug, owner->domain_pos[at].file,
				 owner->domain_pos[at].line);
	if (domain_append(ld, item, domains_of(rec)) < 0)
		return -1;
	sig_app_rec_drop_domain(owner, at);
	owner->pub.overridden = 1;
	return 0;
}

static int
app_add_range(struct loader *ld, const struct ynode *item, void *vrec)
{
	struct sig_app_rec *rec = vrec;
	struct sig_app *app = &rec->pub;
	struct sig_range range;
	struct sm_addr masked;
	const char *why = parse_cidr(item->text, item->len, &range, &masked);
	struct sig_range *ranges;
	char q[96], where[300];

	if (why) {
		if (strcmp(why, "has host bits set") == 0) {
			char net[ADDR_STRLEN];
			unsigned shown = range.prefix_len;
			if (!memchr(item->text, ':', item->len))
				shown -= 96;
			return load_fail(ld, item->line,
					 "ip range %s has host bits set (the network is %s/%u)",
					 yaml_quote(q, sizeof(q), item->text, item->len),
					 addr_format(&masked, net, sizeof(net)), shown);
		}
		return load_fail(ld, item->line, "ip range %s %s",
				 yaml_quote(q, sizeof(q), item->text, item->len), why);
	}
	for (size_t i = 0; i < app->n_ranges; i++)
		if (app->ranges[i].prefix_len == range.prefix_len &&
		    memcmp(app->ranges[i].base.b, range.base.b, sizeof(range.base.b)) == 0)
			return load_fail(ld, item->line,
					 "ip range %s is listed twice in this app %s",
					 yaml_quote(q, sizeof(q), item->text, item->len),
					 where_text(ld, &rec->range_pos[i], where, sizeof(where)));
	ranges = app_grow(app->ranges, sizeof(*ranges), &rec->range_pos, app->n_ranges);
	if (!ranges)
		return load_fail(ld, item->line, "out of memory");
	app->ranges = ranges;
	app->ranges[app->n_ranges] = range;
	rec->range_pos[app->n_ranges].file = ld->file;
	rec->range_pos[app->n_ranges++].line = item->line;
	return 0;
}

static int
app_add_ndpi(struct loader *ld, const struct ynode *item, void *vrec)
{
	struct sig_app_rec *rec = vrec;
	struct sig_app *app = &rec->pub;
	char **ndpi;
	char q[96], where[300];

	/* nDPI names are printable ASCII without spaces ("Sina(Weibo)",
	 * "MsSQL-TDS", "Z39.50"); case matters, as nDPI prints them. */
	int ok = item->len <= SIG_NDPI_MAX;
	for (size_t i = 0; ok && i < item->len; i++)
		ok = item->text[i] > 0x20 && item->text[i] < 0x7f;
	if (!ok)
		return load_fail(ld, item->line,
				 "nDPI protocol %s must be up to %u printable characters without spaces",
				 yaml_quote(q, sizeof(q), item->text, item->len), SIG_NDPI_MAX);
	for (size_t i = 0; i < app->n_ndpi; i++)
		if (strcmp(app->ndpi[i], item->text) == 0)
			return load_fail(ld, item->line,
					 "nDPI protocol \"%s\" is listed twice in this app %s",
					 item->text,
					 where_text(ld, &rec->ndpi_pos[i], where, sizeof(where)));
	ndpi = app_grow(app->ndpi, sizeof(*ndpi), &rec->ndpi_pos, app->n_ndpi);
	if (!ndpi)
		return load_fail(ld, item->line, "out of memory");
	app->ndpi = ndpi;
	app->ndpi[app->n_ndpi] = strdup(item->text);
	if (!app->ndpi[app->n_ndpi])
		return load_fail(ld, item->line, "out of memory");
	rec->ndpi_pos[app->n_ndpi].file = ld->file;
	rec->ndpi_pos[app->n_ndpi++].line = item->line;
	return 0;
}

static int
app_slug(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_slug(ld, key, val, &((struct sig_app_rec *)rec)->pub.slug);
}

static int
app_name(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_text(ld, key, val, 0, &((struct sig_app_rec *)rec)->pub.name);
}

static int
app_vendor(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_text(ld, key, val, 0, &((struct sig_app_rec *)rec)->pub.vendor);
}

static int
app_category(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	struct sig_app_rec *app = rec;

	app->category_pos.file = ld->file;
	app->category_pos.line = val->line;
	return get_slug(ld, key, val, &app->pub.category);
}

static int
app_domains(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_list(ld, key, val, "domains", rec, app_add_domain);
}

static int
app_exclude_domains(struct loader *ld, const struct ynode *key, const struct ynode *val,
		    void *rec)
{
	return get_list(ld, key, val, "domains", rec, app_add_exclude);
}

static int
app_take_domains(struct loader *ld, const struct ynode *key, const struct ynode *val,
		 void *rec)
{
	return get_list(ld, key, val, "domains", rec, app_take_domain);
}

static int
app_ranges(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_list(ld, key, val, "CIDR ranges", rec, app_add_range);
}

static int
app_ndpi(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_list(ld, key, val, "nDPI protocol names", rec, app_add_ndpi);
}

static int
app_notes(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_text(ld, key, val, 1, &((struct sig_app_rec *)rec)->notes);
}

/* ---- risk facts (signatures/RISK.md) ---------------------------------- */

/* One fact while it is read; it replaces the app's only when all is well. */
struct fact_ctx {
	enum sig_fact_id id;
	struct sig_fact fact;
	char what[48]; /* risk fact "mfa" */
};

/* Appends a copy of text to a list fact. */
static int
fact_add_item(struct loader *ld, struct sig_fact *fact, const struct ynode *item)
{
	char **items = realloc(fact->items, (fact->n_items + 1) * sizeof(*items));

	if (!items)
		return load_fail(ld, item->line, "out of memory");
	fact->items = items;
	fact->items[fact->n_items] = strdup(item->text);
	if (!fact->items[fact->n_items])
		return load_fail(ld, item->line, "out of memory");
	fact->n_items++;
	return 0;
}

static int
items_have(const struct sig_fact *fact, const char *item)
{
	for (size_t i = 0; i < fact->n_items; i++)
		if (strcmp(fact->items[i], item) == 0)
			return 1;
	return 0;
}

/* Checks item against the vocabulary of list fact id: 0 or -1 (reported). */
static int
fact_item_check(struct loader *ld, enum sig_fact_id id, const struct ynode *item)
{
	char q[96];
	const char *why;

	yaml_quote(q, sizeof(q), item->text, item->len);
	switch (id) {
	case SIG_FACT_SSO:
		for (size_t i = 0; i < sizeof(sso_methods) / sizeof(sso_methods[0]); i++)
			if (strcmp(item->text, sso_methods[i]) == 0)
				return 0;
		return load_fail(ld, item->line, "unknown sso method %s (expected saml, oidc)", q);
	case SIG_FACT_CERTIFICATIONS:
		if (sig_certification_valid(item->text))
			return 0;
		return load_fail(ld, item->line, "unknown certification %s (expected %s)", q,
				 sig_certification_names());
	case SIG_FACT_DATA_RESIDENCY:
		why = sig_region_problem(item->text);
		if (!why)
			return 0;
		return load_fail(ld, item->line, "data_residency %s %s", q, why);
	default:
		return load_fail(ld, item->line, "risk fact \"%s\" has no items",
				 sig_fact_name(id));
	}
}

static int
fact_value_list(struct loader *ld, struct fact_ctx *c, const struct ynode *val)
{
	static const char *const expected[SIG_FACT_COUNT] = {
		[SIG_FACT_SSO] = "saml, oidc",
		[SIG_FACT_CERTIFICATIONS] = "soc2, iso27001, ...",
		[SIG_FACT_DATA_RESIDENCY] = "eu, us, ...",
	};
	int bad = 0;

	if (val->type == YNODE_SCALAR && !val->is_null && strcmp(val->text, "none") == 0) {
		c->fact.known = 1; /* stated: there is none */
		return 0;
	}
	if (val->type != YNODE_SEQ)
		return load_fail(ld, val->line, "value of %s must be a list (%s) or none",
				 c->what, expected[c->id]);
	if (val->n_kids == 0)
		return load_fail(ld, val->line,
				 "value of %s is an empty list: write none to state that there is none",
				 c->what);
	if (val->n_kids > SIG_ITEMS_MAX)
		return load_fail(ld, val->line, "value of %s has more than %u items", c->what,
				 SIG_ITEMS_MAX);
	for (size_t i = 0; i < val->n_kids; i++) {
		const struct ynode *item = val->kids[i];
		int r = 0;
		if (item->type != YNODE_SCALAR || item->is_null || item->len == 0 ||
		    strlen(item->text) != item->len)
			r = load_fail(ld, item->line, "value of %s must be a list of names (%s)",
				      c->what, expected[c->id]);
		else if (strcmp(item->text, "none") == 0)
			r = load_fail(ld, item->line,
				      "none in the list of %s: write none alone, not in a list",
				      c->what);
		else if (items_have(&c->fact, item->text))
			r = load_fail(ld, item->line, "\"%s\" is listed twice in %s", item->text,
				      c->what);
		else if (fact_item_check(ld, c->id, item) < 0)
			r = -1;
		else
			r = fact_add_item(ld, &c->fact, item);
		if (r < 0) {
			if (!ld->lint)
				return -1;
			bad = 1;
		}
	}
	if (bad)
		return -1;
	c->fact.known = 1;
	return 0;
}

static int
fact_value(struct loader *ld, const struct ynode *key, const struct ynode *val, void *vctx)
{
	struct fact_ctx *c = vctx;
	enum sig_fact_type type = fact_schema[c->id].type;
	char q[96];

	if (type == SIG_FACT_LIST)
		return fact_value_list(ld, c, val);
	if (val->type != YNODE_SCALAR || val->is_null || strlen(val->text) != val->len) {
		static const char *const want[] = {
			[SIG_FACT_BOOL] = "yes or no",
			[SIG_FACT_TRAINING] = "yes, no or opt-out",
			[SIG_FACT_COUNTRY] = "an ISO 3166-1 alpha-2 country code",
		};
		return load_fail(ld, val->line, "value of %s must be %s", c->what, want[type]);
	}
	yaml_quote(q, sizeof(q), val->text, val->len);
	if (type == SIG_FACT_COUNTRY) {
		if (sig_country_valid(val->text)) {
			memcpy(c->fact.country, val->text, 3);
			c->fact.known = 1;
			return 0;
		}
		/* code_in ignores case: a valid code in lower case gets its hint */
		if (val->len == 2 && code_in(iso_countries, val->text))
			return load_fail(ld, val->line, "%s %s must be upper case (%c%c)",
					 sig_fact_name(c->id), q, toupper((unsigned char)val->text[0]),
					 toupper((unsigned char)val->text[1]));
		return load_fail(ld, val->line, "%s %s is not an ISO 3166-1 alpha-2 country code%s",
				 sig_fact_name(c->id), q, country_hint(val->text));
	}
	if (strcmp(val->text, "yes") == 0 || strcmp(val->text, "true") == 0)
		c->fact.answer = SIG_YES;
	else if (strcmp(val->text, "no") == 0 || strcmp(val->text, "false") == 0)
		c->fact.answer = SIG_NO;
	else if (type == SIG_FACT_TRAINING && strcmp(val->text, "opt-out") == 0)
		c->fact.answer = SIG_OPT_OUT;
	else
		return load_fail(ld, val->line, "value of %s must be %s, not %s", c->what,
				 type == SIG_FACT_TRAINING ? "yes, no or opt-out" : "yes or no", q);
	c->fact.known = 1;
	return 0;
}

static int
fact_source(struct loader *ld, const struct ynode *key, const struct ynode *val, void *vctx)
{
	struct fact_ctx *c = vctx;
	const char *why;
	char q[96];

	if (get_text(ld, key, val, 0, &c->fact.source) < 0)
		return -1;
	why = url_problem(val->text, val->len);
	if (why) {
		free(c->fact.source);
		c->fact.source = NULL;
		return load_fail(ld, val->line, "source %s of %s %s",
				 yaml_quote(q, sizeof(q), val->text, val->len), c->what, why);
	}
	return 0;
}

static int
fact_checked(struct loader *ld, const struct ynode *key, const struct ynode *val, void *vctx)
{
	struct fact_ctx *c = vctx;
	char q[96];

	if (get_text(ld, key, val, 0, &c->fact.checked) < 0)
		return -1;
	if (!is_date(val->text, val->len))
		return load_fail(ld, val->line,
				 "checked %s of %s must be a date YYYY-MM-DD (the day the source was read)",
				 yaml_quote(q, sizeof(q), val->text, val->len), c->what);
	return 0;
}

static int
fact_note(struct loader *ld, const struct ynode *key, const struct ynode *val, void *vctx)
{
	return get_text(ld, key, val, 0, &((struct fact_ctx *)vctx)->fact.note);
}

/* value and source are required, checked in risk_fact with messages of
 * their own at the fact's line. */
static const struct field fact_fields[] = {
	{ "value", 0, fact_value },
	{ "source", 0, fact_source },
	{ "checked", 0, fact_checked },
	{ "note", 0, fact_note },
};

/* One fact of "risk:": {value: ..., source: https://...}. */
static int
risk_fact(struct loader *ld, const struct ynode *key, const struct ynode *val, void *vrec)
{
	struct sig_app_rec *rec = vrec;
	struct fact_ctx c;
	int bad;

	memset(&c, 0, sizeof(c));
	for (c.id = 0; c.id < SIG_FACT_COUNT; c.id++)
		if (strcmp(fact_schema[c.id].name, key->text) == 0)
			break;
	if (c.id == SIG_FACT_COUNT) /* walk_mapping checked the name */
		return load_fail(ld, key->line, "unknown risk fact");
	snprintf(c.what, sizeof(c.what), "risk fact \"%s\"", key->text);
	if (val->type != YNODE_MAP)
		return load_fail(ld, key->line,
				 "%s must be a mapping {value: ..., source: https://...}: every fact "
				 "names the page where it is published",
				 c.what);
	bad = walk_mapping(ld, val, fact_fields, sizeof(fact_fields) / sizeof(fact_fields[0]),
			   c.what, &c) < 0;
	if (!ynode_map_get(val, "value") && (!bad || ld->lint)) {
		load_fail(ld, key->line, "%s has no \"value\"", c.what);
		bad = 1;
	}
	if (!ynode_map_get(val, "source") && (!bad || ld->lint)) {
		load_fail(ld, key->line,
			  "%s has no \"source\" (every fact names the https page where the vendor "
			  "publishes it)", c.what);
		bad = 1;
	}
	if (bad) {
		sig_fact_clear(&c.fact);
		return -1;
	}
	sig_fact_clear(&rec->pub.risk[c.id]);
	rec->pub.risk[c.id] = c.fact;
	rec->fact_pos[c.id].file = ld->file;
	rec->fact_pos[c.id].line = key->line;
	return 0;
}

static const struct field risk_fields[] = {
	{ "hq_country", 0, risk_fact },
	{ "sso", 0, risk_fact },
	{ "mfa", 0, risk_fact },
	{ "certifications", 0, risk_fact },
	{ "data_residency", 0, risk_fact },
	{ "trains_on_customer_data", 0, risk_fact },
	{ "e2ee", 0, risk_fact },
	{ "public_link_sharing", 0, risk_fact },
};

static int
app_risk(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	if (val->type != YNODE_MAP)
		return load_fail(ld, val->line, "\"risk\" must be a mapping of facts (%s, %s, ...)",
				 fact_schema[0].name, fact_schema[1].name);
	return walk_mapping(ld, val, risk_fields, sizeof(risk_fields) / sizeof(risk_fields[0]),
			    "risk", rec);
}

/* ---- apps, continued ------------------------------------------------- */

/* One row per key of an app; a new key is one row more. Local files also
 * have take_domains. */
static const struct field app_fields[] = {
	{ "slug", 1, app_slug },
	{ "name", 1, app_name },
	{ "vendor", 1, app_vendor },
	{ "category", 1, app_category },
	{ "domains", 0, app_domains },
	{ "exclude_domains", 0, app_exclude_domains },
	{ "ip_ranges", 0, app_ranges },
	{ "ndpi", 0, app_ndpi },
	{ "notes", 0, app_notes },
	{ "risk", 0, app_risk },
	{ "take_domains", 0, app_take_domains }, /* local files only: the last row */
};
#define N_APP_FIELDS (sizeof(app_fields) / sizeof(app_fields[0]))

static int
load_app(struct loader *ld, const struct ynode *map)
{
	struct sig_app_rec *rec;
	const struct sig_app_rec *dup;
	int bad;

	if (map->type != YNODE_MAP)
		return load_fail(ld, map->line, "an app must be a mapping");
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return load_fail(ld, map->line, "out of memory");
	rec->pub.file = (char *)ld->file;
	rec->pub.line = map->line;
	rec->pub.local = ld->local;
	bad = walk_mapping(ld, map, app_fields, ld->local ? N_APP_FIELDS : N_APP_FIELDS - 1,
			   "app", rec) < 0;
	/* In lint mode a broken app with a good slug is kept for the checks
	 * across apps (a duplicate slug, a domain claimed twice). */
	if (bad && (!ld->lint || !rec->pub.slug))
		goto fail;
	if (!bad && rec->pub.n_domains + rec->pub.n_ranges + rec->pub.n_ndpi == 0) {
		load_fail(ld, map->line,
			  "app \"%s\" needs at least one of domains, ip_ranges and ndpi",
			  rec->pub.slug);
		if (!ld->lint)
			goto fail;
		bad = 1;
	}
	if (sig_db_add_app(ld->db, rec, &dup) < 0) {
		if (dup)
			load_fail(ld, map->line, "app \"%s\" is already defined (%s:%d)%s",
				  rec->pub.slug, dup->pub.file, dup->pub.line,
				  ld->local && !dup->pub.local
					  ? "; to change a built-in app, list it under overrides"
					  : "");
		else
			load_fail(ld, map->line, "out of memory or too many apps");
		goto fail;
	}
	return bad ? -1 : 0;
fail:
	sig_app_rec_free(rec);
	return -1;
}

/* ---- local overrides ------------------------------------------------- */

static int
override_app(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return 0; /* found and checked before the walk */
}

/* What an override entry may change: the name, vendor, category and notes
 * are replaced, risk facts replaced one by one, the lists added to. */
static const struct field override_fields[] = {
	{ "app", 1, override_app },
	{ "name", 0, app_name },
	{ "vendor", 0, app_vendor },
	{ "category", 0, app_category },
	{ "domains", 0, app_domains },
	{ "exclude_domains", 0, app_exclude_domains },
	{ "take_domains", 0, app_take_domains },
	{ "ip_ranges", 0, app_ranges },
	{ "ndpi", 0, app_ndpi },
	{ "notes", 0, app_notes },
	{ "risk", 0, app_risk },
};

/* An entry of "overrides:" in a local file: {app: SLUG, <changes>}. */
static int
load_override(struct loader *ld, const struct ynode *map)
{
	const struct ynode *slug;
	struct sig_app_rec *target;
	char q[96];

	if (map->type != YNODE_MAP)
		return load_fail(ld, map->line, "an override must be a mapping");
	slug = ynode_map_get(map, "app");
	if (!slug)
		return load_fail(ld, map->line,
				 "override has no \"app\" (the slug of the built-in app it changes)");
	if (slug->type != YNODE_SCALAR || slug->is_null || !is_slug(slug->text, slug->len))
		return load_fail(ld, slug->line, "app %s of an override must be an app slug",
				 slug->type == YNODE_SCALAR
					 ? yaml_quote(q, sizeof(q), slug->text, slug->len)
					 : "(a list or mapping)");
	target = sig_db_find_app_rec(ld->db, slug->text);
	if (!target)
		return load_fail(ld, slug->line,
				 "app \"%s\" is not defined: an override changes a built-in app "
				 "(a new app goes under apps)", slug->text);
	if (target->pub.local)
		return load_fail(ld, slug->line,
				 "app \"%s\" is a local app (%s:%d): change it there, not with an override",
				 slug->text, target->pub.file, target->pub.line);
	if (target->override_pos.file)
		return load_fail(ld, slug->line, "app \"%s\" is already overridden (%s:%d)",
				 slug->text, target->override_pos.file, target->override_pos.line);
	if (map->n_kids <= 2)
		return load_fail(ld, map->line, "the override of app \"%s\" changes nothing",
				 slug->text);
	target->override_pos.file = ld->file;
	target->override_pos.line = map->line;
	target->pub.overridden = 1;
	return walk_mapping(ld, map, override_fields,
			    sizeof(override_fields) / sizeof(override_fields[0]), "override",
			    target);
}

/* ---- files ----------------------------------------------------------- */

static int
load_tree(struct loader *ld, const struct ynode *root)
{
	int seen[3] = { 0, 0, 0 };
	static const char *const keys[] = { "categories", "apps", "overrides" };
	const size_t n_keys = ld->local ? 3 : 2;
	int bad = 0;

	if (!root || (root->type == YNODE_SCALAR && root->is_null))
		return 0; /* an empty file */
	if (root->type != YNODE_MAP)
		return load_fail(ld, root->line,
				 ld->local ? "the top level must be a mapping with \"categories\", "
					     "\"apps\" and/or \"overrides\""
					   : "the top level must be a mapping with \"categories\" and/or \"apps\"");
	for (size_t i = 0; i + 1 < root->n_kids; i += 2) {
		const struct ynode *key = root->kids[i], *val = root->kids[i + 1];
		size_t which;
		char q[96];
		for (which = 0; which < 3; which++)
			if (key->type == YNODE_SCALAR && strcmp(key->text, keys[which]) == 0)
				break;
		if (key->type != YNODE_SCALAR) {
			load_fail(ld, key->line, "top-level keys must be plain words");
			goto next_bad;
		}
		if (which == 2 && !ld->local) {
			load_fail(ld, key->line,
				  "\"overrides\" belong in local signature files (signatures-local), "
				  "not in the built-in ones");
			goto next_bad;
		}
		if (which >= n_keys) {
			load_fail(ld, key->line, "unknown key %s at the top level (expected %s)",
				  yaml_quote(q, sizeof(q), key->text, key->len),
				  ld->local ? "categories, apps, overrides" : "categories, apps");
			goto next_bad;
		}
		if (seen[which]++) {
			load_fail(ld, key->line, "key \"%s\" given twice at the top level",
				  key->text);
			goto next_bad;
		}
		if (val->type == YNODE_SCALAR && val->is_null)
			continue; /* "apps:" with nothing yet */
		if (val->type != YNODE_SEQ) {
			load_fail(ld, val->line, "\"%s\" must be a list", key->text);
			goto next_bad;
		}
		for (size_t k = 0; k < val->n_kids; k++) {
			int r = which == 0   ? load_category(ld, val->kids[k])
				: which == 1 ? load_app(ld, val->kids[k])
					     : load_override(ld, val->kids[k]);
			if (r < 0) {
				if (!ld->lint)
					return -1;
				bad = 1;
			}
		}
		continue;
	next_bad:
		if (!ld->lint)
			return -1;
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* A file read and parsed, waiting for its turn to be loaded. */
struct parsed {
	const char *path;
	struct sig_cache *cache; /* NULL: none */
	struct ynode *root;
	int failed;
	int keyed; /* key is the hash of the file's bytes */
	uint64_t key;
	char why[1024]; /* the parser's "file:line: reason" when failed */
};

/* Reads the file once, for its hash and for the parser: the tree comes
 * from the cache when an entry has it, else from the parser and goes into
 * the cache. A file that does not parse is not cached: its error must be
 * reported again. */
static void
parse_one(struct parsed *f)
{
	size_t len;
	char *data;

	f->root = NULL;
	f->failed = 1;
	data = file_read_all(f->path, SIG_FILE_MAX, &len, f->why, sizeof(f->why));
	if (!data)
		return;
	if (f->cache) {
		f->key = sig_cache_key(data, len);
		f->keyed = 1;
		if (sig_cache_get(f->cache, f->key, &f->root) == 0) {
			f->failed = 0;
			goto out;
		}
	}
	f->failed = yaml_read_string(f->path, data, len, &f->root, f->why, sizeof(f->why)) < 0;
	if (!f->failed && f->cache)
		sig_cache_put(f->cache, f->key, f->root);
out:
	free(data);
}

/* Loads a parsed file's apps and categories (in the caller's order: the
 * order of the files gives the apps their indexes). Frees the tree. */
static int
load_parsed(sig_db *db, struct parsed *f, int local, char *err, size_t errlen)
{
	struct loader ld;
	int rc = -1;

	memset(&ld, 0, sizeof(ld));
	ld.db = db;
	ld.err = err;
	ld.errlen = errlen;
	ld.local = local;
	ld.lint = sig_db_linting(db);
	ld.file = sig_db_intern_file(db, f->path);
	if (!ld.file)
		rc = sig_db_problem(db, err, errlen, f->path, 0, "out of memory");
	else if (f->failed)
		sig_db_report_line(db, err, errlen, f->why);
	else
		rc = load_tree(&ld, f->root);
	ynode_free(f->root);
	f->root = NULL;
	return rc;
}

static int
load_file(sig_db *db, const char *path, int local, char *err, size_t errlen)
{
	struct parsed f = { .path = path, .cache = sig_db_cache(db) };
	parse_one(&f);
	if (f.keyed)
		(void)sig_cache_note_used(f.cache, f.key); /* if not: pruned, parsed next time */
	return load_parsed(db, &f, local, err, errlen);
}

/*
 * Parsing is most of the time of a load (libfyaml, about 150 instructions
 * a byte) and each file parses alone, so a directory's files are parsed
 * by two threads, each taking the next file not taken; then they are
 * loaded one by one in order, exactly as if read one after another. On
 * the agent's start this runs beside the thread that builds nDPI's
 * modules.
 */
#define PARSE_THREADS 2

struct parse_pool {
	struct parsed *v;
	size_t n;
	atomic_size_t next;
};

static void *
parse_some(void *arg)
{
	struct parse_pool *pp = arg;
	size_t i;
	while ((i = atomic_fetch_add(&pp->next, 1)) < pp->n)
		parse_one(&pp->v[i]);
	return NULL;
}

static void
parse_all(struct parse_pool *pp)
{
	pthread_t t[PARSE_THREADS - 1];
	int started = 0;

	for (int i = 0; i < PARSE_THREADS - 1 && (size_t)(i + 1) < pp->n; i++)
		if (pthread_create(&t[i], NULL, parse_some, pp) == 0)
			started++;
	parse_some(pp); /* this thread too; alone when none could start */
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
}

/* ---- directories ----------------------------------------------------- */

struct path_list {
	char **v;
	size_t n, cap;
};

/* A signature file: *.yaml or *.yml, but not an example of another
 * format that lives beside them (catalog.example.yaml). */
static int
has_yaml_suffix(const char *name)
{
	size_t n = strlen(name);
	if (n > 13 && strcmp(name + n - 13, ".example.yaml") == 0)
		return 0;
	if (n > 12 && strcmp(name + n - 12, ".example.yml") == 0)
		return 0;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the YAML files under dir. Hidden entries (".git", editor
 * droppings) are skipped; symbolic links are followed to a bounded depth.
 * In lint mode an entry that cannot be read is reported and skipped. */
static int
collect(sig_db *db, const char *dir, int depth, struct path_list *out, char *err,
	size_t errlen)
{
	DIR *d;
	struct dirent *de;
	int rc = -1, bad = 0;
	const int lint = sig_db_linting(db);

	if (depth > DIR_DEPTH_MAX)
		return sig_db_problem(db, err, errlen, dir, 0, "directories nested too deeply");
	d = opendir(dir);
	if (!d)
		return sig_db_problem(db, err, errlen, dir, 0, "cannot open directory: %s",
				      strerror(errno));
	while ((errno = 0, de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;
		int n;
		if (de->d_name[0] == '.')
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			sig_db_problem(db, err, errlen, dir, 0, "path too long");
			if (!lint)
				goto out;
			bad = 1;
			continue;
		}
		if (stat(path, &st) < 0) {
			sig_db_problem(db, err, errlen, path, 0, "cannot stat: %s", strerror(errno));
			if (!lint)
				goto out;
			bad = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (collect(db, path, depth + 1, out, err, errlen) < 0) {
				if (!lint)
					goto out;
				bad = 1;
			}
			continue;
		}
		if (!S_ISREG(st.st_mode) || !has_yaml_suffix(de->d_name))
			continue;
		if (out->n >= DIR_FILES_MAX) {
			sig_db_problem(db, err, errlen, dir, 0, "more than %u signature files",
				       DIR_FILES_MAX);
			goto out;
		}
		if (out->n == out->cap) {
			size_t want = out->cap ? out->cap * 2 : 32;
			char **v = realloc(out->v, want * sizeof(*v));
			if (!v) {
				sig_db_problem(db, err, errlen, dir, 0, "out of memory");
				goto out;
			}
			out->v = v;
			out->cap = want;
		}
		out->v[out->n] = strdup(path);
		if (!out->v[out->n]) {
			sig_db_problem(db, err, errlen, dir, 0, "out of memory");
			goto out;
		}
		out->n++;
	}
	if (errno) {
		sig_db_problem(db, err, errlen, dir, 0, "cannot read directory: %s",
			       strerror(errno));
		goto out;
	}
	rc = bad ? -1 : 0;
out:
	closedir(d);
	return rc;
}

/* A file, or every signature file of a directory in path order. */
static int
load_path(sig_db *db, const char *path, int local, char *err, size_t errlen)
{
	struct path_list files = { NULL, 0, 0 };
	struct parse_pool pp = { NULL, 0, 0 };
	struct stat st;
	int rc = -1, bad = 0;

	if (err && errlen && !sig_db_linting(db))
		err[0] = '\0'; /* lint mode: err keeps the first problem of all */
	if (!db || !path)
		return sig_errf(err, errlen, path ? path : "signatures", 0, "no database or path");
	if (sig_db_is_finalized(db))
		return sig_db_problem(db, err, errlen, path, 0, "database already finalized");
	if (!local && sig_db_local_started(db))
		return sig_db_problem(db, err, errlen, path, 0,
				      "built-in signatures must be loaded before the local ones");
	if (local)
		sig_db_start_local(db);
	if (stat(path, &st) < 0)
		return sig_db_problem(db, err, errlen, path, 0, "cannot open: %s",
				      strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return load_file(db, path, local, err, errlen);

	if (collect(db, path, 0, &files, err, errlen) < 0) {
		if (!sig_db_linting(db))
			goto out;
		bad = 1; /* what could be listed is still checked */
	}
	/* Whole paths in byte order: the same tree loads the same way on every
	 * machine, whatever order readdir gives. */
	if (files.n > 1)
		qsort(files.v, files.n, sizeof(*files.v), path_cmp);
	pp.n = files.n;
	if (files.n > 0) {
		pp.v = calloc(files.n, sizeof(*pp.v));
		if (!pp.v) {
			sig_db_problem(db, err, errlen, path, 0, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < files.n; i++) {
			pp.v[i].path = files.v[i];
			pp.v[i].cache = sig_db_cache(db);
		}
		atomic_init(&pp.next, 0);
		parse_all(&pp);
		for (size_t i = 0; i < files.n; i++)
			if (pp.v[i].keyed)
				(void)sig_cache_note_used(pp.v[i].cache, pp.v[i].key);
	}
	for (size_t i = 0; i < files.n; i++)
		if (load_parsed(db, &pp.v[i], local, err, errlen) < 0) {
			if (!sig_db_linting(db))
				goto out;
			bad = 1;
		}
	rc = bad ? -1 : 0;
out:
	if (pp.v)
		for (size_t i = 0; i < pp.n; i++)
			ynode_free(pp.v[i].root); /* those not loaded after an error */
	free(pp.v);
	sig_files_free(files.v, files.n);
	return rc;
}

int
sig_list_files(const char *path, char ***files, size_t *n, char *err, size_t errlen)
{
	struct path_list list = { NULL, 0, 0 };
	struct stat st;

	*files = NULL;
	*n = 0;
	if (stat(path, &st) < 0)
		return sig_errf(err, errlen, path, 0, "cannot open: %s", strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		/* no database: problems go to err, the first one ends the walk */
		if (collect(NULL, path, 0, &list, err, errlen) < 0) {
			sig_files_free(list.v, list.n);
			return -1;
		}
		if (list.n > 1)
			qsort(list.v, list.n, sizeof(*list.v), path_cmp);
	} else {
		list.v = malloc(sizeof(*list.v));
		if (!list.v || !(list.v[0] = strdup(path))) {
			free(list.v);
			return sig_errf(err, errlen, path, 0, "out of memory");
		}
		list.n = 1;
	}
	*files = list.v;
	*n = list.n;
	return 0;
}

void
sig_files_free(char **files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

int
sig_db_load_path(sig_db *db, const char *path, char *err, size_t errlen)
{
	return load_path(db, path, 0, err, errlen);
}

int
sig_db_load_overrides(sig_db *db, const char *path, char *err, size_t errlen)
{
	return load_path(db, path, 1, err, errlen);
}
