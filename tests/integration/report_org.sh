#!/usr/bin/env bash
# The whole product on a month of a sample organisation: orgsim.py writes
# two sites' captures (300 people, 30 days, 37 apps, a catalog with gaps
# built in) and their ground truth; two agents ship to a collector on
# loopback; shadowmap-report writes the month's report. Every figure of
# every table is checked against tests/gen/report_expect.py, which computes
# them from the ground truth alone, and the gaps against the ones the
# organisation was built with. The exports (CSV, blocklist, RPZ, SIEM) are
# checked against the same truth.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
[ -n "${REPORT:-}" ] && [ -x "$REPORT" ] || skip "no shadowmap-report built"
command -v curl >/dev/null || skip "needs curl"

gen=$SOURCE_DIR/tests/gen
catalog=$gen/sample-org/catalog.yaml
db=$T/usage.db
port=$(pick_port)
url=http://127.0.0.1:$port
cpid=
trap '[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null' EXIT

"$PYTHON" "$gen/orgsim.py" --out "$T/org" > "$T/orgsim.log" 2>&1 ||
	{ cat "$T/orgsim.log"; fail "orgsim failed"; finish; }
read -r from to < <("$PYTHON" -c '
import json, sys
o = json.load(open(sys.argv[1]))
p = o["period"]
print(p["from"], p["to"])' "$T/org/org.json")

for site in 1 2; do
	"$COLLECTOR" token create --db "$db" --agent "site-$site" | tail -1 > "$T/site-$site.token"
	chmod 600 "$T/site-$site.token"
done
"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --signatures "$SIGS" \
	--catalog "$catalog" 2> "$T/collector.log" &
cpid=$!
wait_healthz "$url"

pids=()
for site in 1 2; do
	"$AGENT" -q -r "$T/org/agent-$site.pcap" -o "$T/usage-$site.jsonl" --signatures "$SIGS" \
		--collector "$url" --token-file "$T/site-$site.token" --spool "$T/spool-$site" \
		2> "$T/agent-$site.log" &
	pids+=($!)
done
for i in 0 1; do
	wait "${pids[$i]}" || fail "agent $((i + 1)) exited $? ($(tail -1 "$T/agent-$((i + 1)).log"))"
done
kill -TERM "$cpid"
wait "$cpid" 2>/dev/null
cpid=

rep() {
	"$REPORT" --db "$db" --from "$from" --to "$to" --signatures "$SIGS" --catalog "$catalog" "$@"
}
rep --format json -o "$T/report.json" --blocklist "$T/blocklist.txt" --rpz "$T/banned.rpz" \
	--siem "$T/siem.jsonl" 2> "$T/report.log" || fail "shadowmap-report json: $(cat "$T/report.log")"
rep --format csv -o "$T/csv" 2>> "$T/report.log" || fail "shadowmap-report csv"
rep --format html -o "$T/report.html" 2>> "$T/report.log" || fail "shadowmap-report html"

# every figure against the ground truth, and the designed gaps
if "$PYTHON" "$gen/report_expect.py" --truth "$T/org/truth.jsonl" --catalog "$catalog" \
	--from "$from" --to "$to" --check "$T/report.json" --org "$T/org/org.json" --strict-gaps \
	> "$T/expect.log" 2>&1; then
	pass "report figures and gaps: $(tail -1 "$T/expect.log")"
else
	grep -v '^report_expect:' "$T/expect.log" | head -20
	fail "report differs from the ground truth: $(tail -1 "$T/expect.log")"
fi

# the CSV tables say what the JSON says; the exports follow the truth
"$PYTHON" - "$T" "$catalog" "$gen" <<'PY' > "$T/exports.log" 2>&1 || fail "exports: $(tail -3 "$T/exports.log")"
import csv, json, sys
sys.path.insert(0, sys.argv[3])
import report_expect as rx
t, catalog_path = sys.argv[1], sys.argv[2]
rep = json.load(open(t + "/report.json"))
problems = []
def same(what, a, b):
    if a != b:
        problems.append("%s: %r != %r" % (what, a, b))
cats = {c["category"]: c for c in rep["categories"]}
rows = list(csv.DictReader(open(t + "/csv/categories.csv", newline="")))
same("categories.csv rows", len(rows), len(cats))
for row in rows:
    c = cats[row["category"]]
    for k in ("users", "served_users", "elsewhere_users", "unserved_users"):
        same("categories.csv %s %s" % (row["category"], k), int(row[k]), c[k])
    same("categories.csv %s verdict" % row["category"], row["verdict"], c["verdict"])
apps = {a["app"]: a for a in rep["apps"]}
rows = list(csv.DictReader(open(t + "/csv/apps.csv", newline="")))
same("apps.csv rows", len(rows), len(apps))
for row in rows:
    for k in ("users", "flows", "bytes_up", "bytes_down"):
        same("apps.csv %s %s" % (row["app"], k), int(row[k]), apps[row["app"]][k])
gaps = list(csv.DictReader(open(t + "/csv/gaps.csv", newline="")))
same("gaps.csv", [(g["rank"], g["verdict"], g["app"] or None) for g in gaps],
     [(str(g["rank"]), g["verdict"], g["app"]) for g in rep["gaps"]])

status = {a: e["status"] for a, e in rx.load_catalog(catalog_path)["apps"].items()}
banned = sorted(a for a, s in status.items() if s == "banned")
block = [l for l in open(t + "/blocklist.txt").read().split("\n") if l and not l.startswith("#")]
if "pastebin" in banned and "pastebin.com" not in block:
    problems.append("blocklist lacks pastebin.com: %r" % block)
rpz = open(t + "/banned.rpz").read()
for d in block:
    if "\n%s CNAME .\n*.%s CNAME .\n" % (d, d) not in rpz:
        problems.append("rpz lacks %s" % d)
if "IN SOA" not in rpz:
    problems.append("rpz has no SOA")

# first sightings: every (client, app) of the period whose app is not
# sanctioned (the store holds nothing before the period)
truth = [json.loads(l) for l in open(t + "/org/truth.jsonl")]
want = {(r["client"], r["app"]) for r in truth
        if r["app"] and status.get(r["app"], "not-in-catalog") != "sanctioned"}
events = [json.loads(l) for l in open(t + "/siem.jsonl")]
got = {(e["client"], e["app"]) for e in events}
same("siem events", len(events), len(got))
same("siem first sightings", sorted(got - want)[:5] + sorted(want - got)[:5], [])
times = [e["time"] for e in events]
same("siem order", times, sorted(times))
first_org = {e["app"] for e in events if e["first_for_organisation"]}
same("siem first_for_organisation", sorted(first_org), sorted({a for _, a in want}))
for p in problems:
    print(p)
print("exports: %d csv tables, %d blocklist domains, %d siem events" % (5, len(block), len(events)))
sys.exit(1 if problems else 0)
PY
[ -s "$T/exports.log" ] && pass "$(tail -1 "$T/exports.log")"

# the HTML: well-formed, fetches nothing, shows the JSON's figures
if "$PYTHON" "$SOURCE_DIR/tests/tools/check_report_html.py" "$T/report.html" \
	--json "$T/report.json" > "$T/html.log" 2>&1; then
	pass "HTML report ($(grep -c '^ok' "$T/html.log") checks)"
else
	grep FAIL "$T/html.log" | head
	fail "HTML report"
fi
finish
