#!/usr/bin/env bash
# Where traffic goes: with a country and an ASN database (small ones built
# here by tests/tools/mkmmdb.pl from tests/tools/geo_networks.tsv, never the
# downloaded ones), every summary and flow record carries its server's
# country, AS number and organisation as the table says, in both field
# layouts; one name served from two countries is two records; packets of
# a full flow table get theirs from the address; without databases every
# field is null; a database that is missing, no database or the wrong kind
# is a usage error (exit 2) that names the file.
source "$(dirname "$0")/common.bash"
perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null ||
	skip "perl with MaxMind::DB::Writer::Tree (libmaxmind-db-writer-perl) not installed"
TABLE=$SOURCE_DIR/tests/tools/geo_networks.tsv
DB=$T/db
mkdir -p "$DB"
perl "$SOURCE_DIR/tests/tools/mkmmdb.pl" "$DB" || { fail "mkmmdb.pl"; finish; }
A=("$AGENT" -q --signatures "$SIGS")

check() {
	local what=$1; shift
	if bash "$SOURCE_DIR/tests/gen/agent_check.sh" --workdir "$T/$1" "${@:2}" > "$T/log" 2>&1; then
		pass "$what"
	else
		fail "$what"
		grep -E "FAIL|error|agent_check" "$T/log" | head -40
	fi
}

check "basic scenario, GeoLite2-style databases: country, asn, as_org of every record" \
	geolite --scenario basic --geo "$TABLE" -- "${A[@]}" \
	--geoip-country-db "$DB/country.mmdb" --geoip-asn-db "$DB/asn.mmdb" \
	-r {pcap} -o {summaries} --flows {flows}
check "basic scenario, ip-location-db-style databases, raw IP, 60 s buckets" \
	flat --scenario basic --seed 4 --linktype raw --bucket-seconds 60 --geo "$TABLE" -- "${A[@]}" \
	--geoip-country-db "$DB/country-flat.mmdb" --geoip-asn-db "$DB/asn-text.mmdb" \
	--bucket-seconds 60 -r {pcap} -o {summaries} --flows {flows}
check "basic scenario without databases: every geo field null" \
	none --scenario basic --geo null -- "${A[@]}" -r {pcap} -o {summaries} --flows {flows}
check "geo scenario: one name from three networks" \
	geoscen --scenario geo --geo "$TABLE" -- "${A[@]}" \
	--geoip-country-db "$DB/country.mmdb" --geoip-asn-db "$DB/asn.mmdb" \
	-r {pcap} -o {summaries} --flows {flows}

# The same name for the same client in the same bucket, from the US and
# from Britain: two records, not one.
sums=$T/geoscen/geo-1-ether.summaries.jsonl
if "$PYTHON" - "$sums" <<'PY'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
mine = [(r["country"], r["asn"], r["flows"]) for r in recs
        if r["client"] == "10.20.0.11" and r["host"] == "app.slack.com"]
want = [("GB", 64502, 1), ("US", 64500, 2)]
if mine != want:
    sys.exit("app.slack.com for 10.20.0.11: %r, expected %r" % (mine, want))
PY
	pass "geo scenario: app.slack.com for one client is one record per country, in order"
else
	fail "geo scenario: app.slack.com records"
fi

# A full flow table: the packets it could not track are counted for their
# client and, by their server's address, for its country and network.
# TCP only (ICMP replies have no ports to tell the client by).
"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario geo --seed 1 \
	--pcap "$T/full.pcap" --truth "$T/full.json" >/dev/null
"${A[@]}" --geoip-country-db "$DB/country.mmdb" --geoip-asn-db "$DB/asn.mmdb" --max-flows 1 \
	-f tcp -r "$T/full.pcap" -o "$T/full.jsonl" 2> "$T/full.err"
rc=$?
if [ "$rc" -eq 0 ] && PYTHONPATH="$SOURCE_DIR/tests/gen" "$PYTHON" - "$T/full.jsonl" "$T/full.json" "$TABLE" <<'PY'; then
import json, sys
import truthlib as tl
geo = tl.GeoTable(sys.argv[3])
want, got, untracked = {}, {}, 0
for tf in json.load(open(sys.argv[2]))["flows"]:
    if tf["proto"] != "tcp":
        continue
    k = (tf["client"],) + geo.lookup(tf["server"])
    want[k] = want.get(k, 0) + tf["packets_up"] + tf["packets_down"]
for line in open(sys.argv[1]):
    r = json.loads(line)
    untracked += r.get("untracked") == "table_full"
    k = (r["client"], r["country"], r["asn"], r["as_org"])
    got[k] = got.get(k, 0) + r["packets"]
if not untracked:
    sys.exit("no table_full record: the test did not fill the table")
if got != want:
    sys.exit("packets per (client, country, asn, as_org): agent %r, truth %r" % (got, want))
print("%d table_full records" % untracked)
PY
	pass "full flow table: untracked packets carry their server's country and network"
else
	fail "full flow table (agent exit $rc): $(head -3 "$T/full.err")"
fi

# expect NAME STATUS PATTERN -- command...: exit status and the error line
expect() {
	local name=$1 want=$2 pattern=$3
	shift 4
	"$@" > "$T/out" 2> "$T/err"
	local rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$name: exit $rc, expected $want; stderr: $(head -3 "$T/err")"
	elif ! grep -q -- "$pattern" "$T/err"; then
		fail "$name: stderr lacks \"$pattern\": $(head -3 "$T/err")"
	elif [ -s "$T/out" ]; then
		fail "$name: wrote output: $(head -c 200 "$T/out")"
	else
		pass "$name: $(head -1 "$T/err")"
	fi
}
P=$T/geoscen/geo-1-ether.pcap
expect "missing country database" 2 "geoip-country-db: $T/nope.mmdb: cannot open: No such file or directory" -- \
	"${A[@]}" --geoip-country-db "$T/nope.mmdb" -r "$P"
expect "missing ASN database" 2 "geoip-asn-db: $T/nope.mmdb: cannot open: No such file or directory" -- \
	"${A[@]}" --geoip-country-db "$DB/country.mmdb" --geoip-asn-db "$T/nope.mmdb" -r "$P"
echo "192.0.2.0/24,US" > "$T/text.mmdb"
expect "a text file as country database" 2 "geoip-country-db: $T/text.mmdb: not a MaxMind DB (.mmdb) file" -- \
	"${A[@]}" --geoip-country-db "$T/text.mmdb" -r "$P"
expect "a text file as ASN database" 2 "geoip-asn-db: $T/text.mmdb: not a MaxMind DB (.mmdb) file" -- \
	"${A[@]}" --geoip-asn-db "$T/text.mmdb" -r "$P"
expect "an ASN database as country database" 2 \
	"geoip-country-db: $DB/asn.mmdb: database_type \"ShadowmapTest-ASN\" is not a country database" -- \
	"${A[@]}" --geoip-country-db "$DB/asn.mmdb" -r "$P"
expect "a country database as ASN database" 2 "geoip-asn-db: $DB/country.mmdb: database_type .* is not an ASN database" -- \
	"${A[@]}" --geoip-asn-db "$DB/country.mmdb" -r "$P"
expect "a City database without countries" 2 "city-nofields.mmdb: .* neither country.iso_code nor country_code" -- \
	"${A[@]}" --geoip-country-db "$DB/city-nofields.mmdb" -r "$P"
expect "a directory" 2 "geoip-asn-db: $DB: not a regular file" -- \
	"${A[@]}" --geoip-asn-db "$DB" -r "$P"
# the config file and -n alike
printf 'geoip-country-db: %s\ngeoip-asn-db: %s\n' "$DB/country.mmdb" "$T/text.mmdb" > "$T/agent.yaml"
expect "-n with a bad database in the config file" 2 "geoip-asn-db: $T/text.mmdb: not a MaxMind DB" -- \
	"${A[@]}" -n -c "$T/agent.yaml"
printf 'geoip-country-db: %s\ngeoip-asn-db: %s\n' "$DB/country.mmdb" "$DB/asn.mmdb" > "$T/agent.yaml"
if "${A[@]}" -n -c "$T/agent.yaml" 2> "$T/err"; then
	pass "-n with good databases in the config file"
else
	fail "-n with good databases: $(cat "$T/err")"
fi
finish
