#!/usr/bin/env bash
# Where traffic goes, at the collector: agents with small test MMDBs (built
# here by tests/tools/mkmmdb.pl; two tables, so that one unknown domain is
# served from two networks) and one without any ship generated captures to
# a real collector on loopback. /api/v1/unknown-domains (with each domain's
# top network) and /api/v1/networks must say what the agents' own JSON lines
# say, summed here independently, over all time and over a range. Then the
# collector's local signatures (signatures-local): a local app for an
# unknown domain names its usage after SIGHUP, a broken local file leaves
# the previous set in force, -n checks it, and the config file key works.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
command -v curl >/dev/null || skip "needs curl"
perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null ||
	skip "perl with MaxMind::DB::Writer::Tree (libmaxmind-db-writer-perl) not installed"

db=$T/usage.db
cpid=
cleanup() {
	[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null
	jobs -p | xargs -r kill -9 2>/dev/null
}
trap cleanup EXIT

# ---- the databases: the usual table, and one where two networks moved ----
mkdir -p "$T/db" "$T/db2"
perl "$SOURCE_DIR/tests/tools/mkmmdb.pl" "$T/db" || { fail "mkmmdb.pl"; finish; }
# 198.51.100.0/24 (GB in the usual table) is another network in Ireland,
# and 2001:db8::/32 has a country but no AS
sed -e 's/^198\.51\.100\.0\/24\t.*/198.51.100.0\/24\tIE\t64520\tAutre Nuage SARL/' \
	-e 's/^2001:db8::\/32\t.*/2001:db8::\/32\tJP\t-\t-/' \
	"$SOURCE_DIR/tests/tools/geo_networks.tsv" > "$T/networks2.tsv"
grep -q "Autre Nuage" "$T/networks2.tsv" || { fail "second table"; finish; }
perl "$SOURCE_DIR/tests/tools/mkmmdb.pl" --networks "$T/networks2.tsv" "$T/db2" ||
	{ fail "mkmmdb.pl --networks"; finish; }

# ---- the collector ----
# start_collector LOG ARGS...: serves on a port the kernel picks and sets
# $port, $url and $cpid once it listens. LOG is a new file.
start_collector() {
	local log=$1
	shift
	rm -f "$log"
	"$COLLECTOR" serve --listen 127.0.0.1:0 "$@" 2>> "$log" &
	cpid=$!
	port=
	for _ in $(seq 200); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' "$log" | tail -1)
		[ -n "$port" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$port" ] || { fail "collector did not start: $(tail -3 "$log")"; finish; }
	url=http://127.0.0.1:$port
}

stop_collector() {
	kill -TERM "$cpid"
	wait "$cpid"
	local rc=$?
	cpid=
	[ $rc -eq 0 ] || fail "collector exited $rc on SIGTERM"
}

agent_token=$("$COLLECTOR" token create --db "$db" --agent gw | tail -1)
reader=$("$COLLECTOR" token create --db "$db" --reader tests | tail -1)
printf '%s\n' "$agent_token" > "$T/token"
chmod 600 "$T/token"

# A local signature directory with one app of the organisation's own that
# none of the traffic uses: loaded, and it changes nothing yet.
mkdir -p "$T/local.d"
cat > "$T/local.d/corp.yaml" <<'EOF'
categories:
  - slug: internal
    name: Internal services
apps:
  - slug: corp-wiki
    name: Corp wiki
    vendor: Example Corp
    category: internal
    domains: [wiki.corp.example]
EOF
start_collector "$T/collector.log" --db "$db" --signatures "$SIGS" --signatures-local "$T/local.d"

# ---- agents ----
gen() { # gen NAME SCENARIO SEED START
	"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario "$2" --seed "$3" --start "$4" \
		--pcap "$T/$1.pcap" --truth "$T/$1.json" >/dev/null
}
ship() { # ship NAME AGENT-OPTIONS...: the capture NAME, its summaries NAME.jsonl
	local name=$1
	shift
	if "$AGENT" -q --signatures "$SIGS" -r "$T/$name.pcap" -o "$T/$name.jsonl" \
		--collector "$url" --token-file "$T/token" --spool "$T/spool-$name" \
		--batch-max-records 20 --retry-max 1s "$@" 2>> "$T/agent-$name.log"; then
		pass "agent $name shipped $(wc -l < "$T/$name.jsonl") summaries"
	else
		fail "agent $name: $(tail -3 "$T/agent-$name.log")"
	fi
}
geo1=(--geoip-country-db "$T/db/country.mmdb" --geoip-asn-db "$T/db/asn.mmdb")
geo2=(--geoip-country-db "$T/db2/country.mmdb" --geoip-asn-db "$T/db2/asn.mmdb")
gen geo geo 1 2026-03-01T12:00:00Z
gen b1 basic 1 2026-03-01T09:00:00Z
gen b2 basic 2 2026-03-02T09:00:00Z
gen b3 basic 3 2026-03-03T09:00:00Z
gen b4 basic 4 2026-03-04T09:00:00Z
ship geo "${geo1[@]}"
ship b1 "${geo1[@]}"
ship b2 "${geo2[@]}"
ship b3 "${geo2[@]}"
ship b4 # no databases: its usage is on no known network
files=("$T"/geo.jsonl "$T"/b1.jsonl "$T"/b2.jsonl "$T"/b3.jsonl "$T"/b4.jsonl)

api() {
	curl -sf -H "Authorization: Bearer $reader" "$url/api/v1/$1"
}

# compare QUERY FROM TO: the collector's unknown domains and networks for
# [FROM, TO) (dates, "" for no bound; TO a whole day, as the API reads a
# date) against the agents' summaries. Unknown domains are those with a
# domain, no app and not untracked; a domain's network is the one with
# the most bytes among those the agents placed (null when none).
compare() {
	local from=$1 to=$2 q=
	[ -n "$from" ] && q="from=$from"
	[ -n "$to" ] && q="$q${q:+&}to=$to"
	api "unknown-domains?$q" > "$T/domains.json" || { fail "GET unknown-domains?$q"; return; }
	api "networks?$q" > "$T/networks.json" || { fail "GET networks?$q"; return; }
	if "$PYTHON" - "$from" "$to" "$T/domains.json" "$T/networks.json" "${files[@]}" \
		> "$T/compare.out" 2>&1 <<'PY'; then
import datetime, json, sys
frm, to, domains_path, networks_path = sys.argv[1:5]
recs = [json.loads(l) for p in sys.argv[5:] for l in open(p)]
def day(s):
    return s[:10]
if frm:
    recs = [r for r in recs if day(r["bucket_start"]) >= frm]
if to:
    recs = [r for r in recs if day(r["bucket_start"]) <= to]
if not recs:
    sys.exit("no summaries in the range: the test is wrong")

def net(r):
    return (r["asn"], r["as_org"], r["country"])

def group(rows, key):
    out = {}
    for r in rows:
        g = out.setdefault(key(r), {"users": set(), "hosts": set(), "flows": 0, "packets": 0,
                                    "bytes_up": 0, "bytes_down": 0, "first_seen": None,
                                    "last_seen": None, "nets": {}})
        g["users"].add(r["client"])
        g["hosts"].add(r["host"])
        for k in ("flows", "packets", "bytes_up", "bytes_down"):
            g[k] += r[k]
        if g["first_seen"] is None or r["first_seen"] < g["first_seen"]:
            g["first_seen"] = r["first_seen"]
        if g["last_seen"] is None or r["last_seen"] > g["last_seen"]:
            g["last_seen"] = r["last_seen"]
        if net(r) != (None, None, None):
            g["nets"][net(r)] = g["nets"].get(net(r), 0) + r["bytes_up"] + r["bytes_down"]
    return out

def same(what, got, want):
    for k in ("users", "flows", "packets", "bytes_up", "bytes_down", "first_seen",
              "last_seen"):
        w = len(want[k]) if k == "users" else want[k]
        if got[k] != w:
            sys.exit("%s: %s %r, the agents say %r" % (what, k, got[k], w))

unknown = group([r for r in recs if r["app"] is None and r["domain"] and
                 not r.get("untracked")], lambda r: r["domain"])
rows = json.load(open(domains_path))["domains"]
if sorted(r["domain"] for r in rows) != sorted(unknown):
    sys.exit("unknown domains %r, the agents' %r" % (sorted(r["domain"] for r in rows),
                                                      sorted(unknown)))
two = 0
for r in rows:
    want = unknown[r["domain"]]
    same(r["domain"], r, want)
    if r["hosts"] != len(want["hosts"]):
        sys.exit("%s: hosts %r, want %r" % (r["domain"], r["hosts"], len(want["hosts"])))
    if want["nets"]:
        top = sorted(want["nets"].items(), key=lambda kv: (-kv[1], kv[0][0] or 0,
                                                           kv[0][1] or "", kv[0][2] or ""))[0][0]
        top = {"asn": top[0], "org": top[1], "country": top[2]}
    else:
        top = None
    if r["network"] != top:
        sys.exit("%s: network %r, want %r (bytes per network: %r)" % (r["domain"],
                 r["network"], top, want["nets"]))
    two += len(want["nets"]) > 1
print("%d unknown domains, %d on two networks or more" % (len(rows), two), end="; ")

nets = group(recs, net)
rows = json.load(open(networks_path))["networks"]
got = {(r["asn"], r["org"], r["country"]): r for r in rows}
if len(got) != len(rows) or sorted(got, key=str) != sorted(nets, key=str):
    sys.exit("networks %r, the agents' %r" % (sorted(got, key=str), sorted(nets, key=str)))
for k, r in got.items():
    same("network %r" % (k,), r, nets[k])
b = [r["bytes_up"] + r["bytes_down"] for r in rows]
if b != sorted(b, reverse=True):
    sys.exit("networks not ordered by bytes: %r" % b)
print("%d networks" % len(rows))
PY
		pass "unknown domains and networks ${q:-(all time)} match the agents: $(cat "$T/compare.out")"
	else
		fail "unknown domains and networks ${q:-(all time)}: $(tail -3 "$T/compare.out")"
	fi
}
compare "" ""
compare 2026-03-02 2026-03-03
compare 2026-03-04 ""

# the shape of the answers, for people
api "unknown-domains" | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
r = [x for x in d["domains"] if x["domain"] == "tiny-startup-example.co.uk"][0]
assert r["network"] == {"asn": 64520, "org": "Autre Nuage SARL", "country": "IE"}, r["network"]
assert set(d) == {"from", "to", "domains"}, d.keys()
' && pass "tiny-startup-example.co.uk: its top network is the Irish one (two runs against one)" \
	|| fail "tiny-startup-example.co.uk: $(api unknown-domains)"
api "networks?from=2026-03-01&to=2026-03-01" | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
assert d["from"] == "2026-03-01T00:00:00.000Z" and d["to"] == "2026-03-02T00:00:00.000Z", d
keys = {"asn", "org", "country", "users", "apps", "flows", "packets", "bytes_up",
        "bytes_down", "first_seen", "last_seen"}
for r in d["networks"]:
    assert set(r) == keys, r
us = [r for r in d["networks"] if r["asn"] == 64500 and r["country"] == "US"][0]
assert us["org"] == "Example Cloud, Inc." and us["apps"] >= 3, us
' && pass "networks: fields and the range in the answer" || fail "networks answer: $(api networks)"
status=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $reader" \
	"$url/api/v1/networks?from=yesterday")
[ "$status" = 400 ] && grep -q '"where":"from"' "$T/body" && pass "networks: a bad from is a 400" \
	|| fail "networks?from=yesterday: $status $(cat "$T/body")"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $agent_token" \
	"$url/api/v1/networks")
[ "$status" = 403 ] && pass "networks: an agent token gets a 403" || fail "networks, agent: $status"

# A batch with impossible geolocation is refused with its place.
bad='{"schema":"shadowmap.batch/1","batch_id":"0b6f3c1e-2d4a-4c5b-8e9f-0a1b2c3d4e5f",
"created":"2026-03-05T00:00:00Z","records":[{"schema":"shadowmap.usage/1",
"bucket_start":"2026-03-05T09:00:00Z","bucket_seconds":300,"client":"10.0.0.1",
"host":"a.example.com","domain":"example.com","app":null,"category":null,"ndpi_proto":"TLS",
"flows":1,"packets":1,"bytes_up":1,"bytes_down":1,"first_seen":"2026-03-05T09:00:01Z",
"last_seen":"2026-03-05T09:00:01Z","country":"XX","asn":4294967296,"as_org":null}]}'
status=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $agent_token" \
	-H 'Content-Type: application/json' --data-binary "$bad" "$url/api/v1/batches")
[ "$status" = 422 ] && grep -q '"where":"records\[0\].asn"' "$T/body" \
	&& pass "asn past 2^32 - 1: 422 at records[0].asn" || fail "bad asn: $status $(cat "$T/body")"

# ---- local signatures: a local app names an unknown domain ----
app_bytes() { # app_bytes APP: its bytes in /api/v1/apps, "absent" without a row
	api apps | "$PYTHON" -c '
import json, sys
rows = [a for a in json.load(sys.stdin)["apps"] if a["app"] == sys.argv[1]]
print(rows[0]["bytes_up"] + rows[0]["bytes_down"] if rows else "absent")' "$1"
}
tiny_bytes=$("$PYTHON" -c '
import json, sys
print(sum(r["bytes_up"] + r["bytes_down"] for p in sys.argv[1:] for r in map(json.loads, open(p))
          if r["domain"] == "tiny-startup-example.co.uk"))' "${files[@]}")
[ "$(app_bytes tinyco)" = absent ] && pass "before: no app tinyco" || fail "tinyco before its signature"
cat > "$T/local.d/tiny.yaml" <<'EOF'
apps:
  - slug: tinyco
    name: Tiny Startup
    vendor: Tiny Startup Example Ltd
    category: file-sharing
    domains: [tiny-startup-example.co.uk]
EOF
kill -HUP "$cpid"
for _ in $(seq 100); do [ "$(app_bytes tinyco)" != absent ] && break; sleep 0.05; done
got=$(app_bytes tinyco)
[ "$got" = "$tiny_bytes" ] && pass "SIGHUP with a local app: tinyco names its $got bytes" \
	|| fail "local app after SIGHUP: tinyco $got bytes, the agents' $tiny_bytes"
api unknown-domains | grep -q tiny-startup-example && fail "still an unknown domain after its local app" \
	|| pass "after the local app: no longer an unknown domain"
files_served=$(api signatures | "$PYTHON" -c '
import json, sys
print(any("tiny" in f["path"] or "corp" in f["path"] for f in json.load(sys.stdin)["files"]))')
# the document is for agents, which have a signatures-local of their own
[ "$files_served" = False ] && pass "local files are not in the signature document" \
	|| fail "local files served to agents"

# a broken local file on reload: logged with its line, the previous set stays
printf 'apps:\n  - slug: tinyco\n    name: Tiny\n    vendor: X\n    category: nope\n    domains: [tiny-startup-example.co.uk]\n' \
	> "$T/local.d/tiny.yaml"
kill -HUP "$cpid"
wait_log "$T/collector.log" "reload: .*tiny.yaml" 5
grep -q "reload: .*tiny.yaml:[0-9]*:" "$T/collector.log" \
	&& pass "broken local file on reload: $(grep -o 'tiny.yaml:[0-9]*:.*' "$T/collector.log" | head -1)" \
	|| fail "broken local file: no file:line in the log: $(tail -2 "$T/collector.log")"
[ "$(app_bytes tinyco)" = "$tiny_bytes" ] && pass "broken local file on reload: the previous set stays" \
	|| fail "broken local file: tinyco now $(app_bytes tinyco)"

# -n checks local files like the others
"$COLLECTOR" serve -n --signatures "$SIGS" --signatures-local "$T/local.d" > /dev/null 2> "$T/check.err"
rc=$?
[ $rc -eq 2 ] && grep -q "tiny.yaml:[0-9]*:" "$T/check.err" \
	&& pass "-n with a broken local file: exit 2, $(head -1 "$T/check.err")" \
	|| fail "-n with a broken local file: exit $rc, $(cat "$T/check.err")"
"$COLLECTOR" serve -n --signatures "$SIGS" --signatures-local "$T/nowhere" > /dev/null 2> "$T/check.err"
rc=$?
[ $rc -eq 2 ] && grep -q "nowhere" "$T/check.err" && pass "-n with a missing local path: exit 2" \
	|| fail "-n with a missing local path: exit $rc, $(cat "$T/check.err")"
stop_collector

# the config file key, at start
rm "$T/local.d/tiny.yaml"
cat > "$T/local-tiny.yaml" <<'EOF'
apps:
  - slug: tinyco
    name: Tiny Startup
    vendor: Tiny Startup Example Ltd
    category: file-sharing
    domains: [tiny-startup-example.co.uk]
EOF
printf 'db: %s\nsignatures: %s\nsignatures-local: %s\n' "$db" "$SIGS" "$T/local-tiny.yaml" \
	> "$T/collector.yaml"
start_collector "$T/collector2.log" -c "$T/collector.yaml"
got=$(app_bytes tinyco)
[ "$got" = "$tiny_bytes" ] && pass "signatures-local in the config file: tinyco named at start" \
	|| fail "config file signatures-local: tinyco $got, want $tiny_bytes"
stop_collector
finish
