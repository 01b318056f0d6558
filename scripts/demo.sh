#!/usr/bin/env bash
# The main job, end to end, on traffic the project makes itself: installs
# what is needed, builds, generates a month of traffic of a sample
# organisation (Acme Widgets: 300 people at two sites, 37 apps, a service
# catalog with real gaps; tests/gen/orgsim.py, ground truth beside it),
# puts the freely licensed country and ASN databases in place
# (scripts/install-geo.sh, from the npm registry; the demo goes on without
# them if that fails), starts a collector on loopback with the sample
# catalog, runs one agent per site shipping to it, and writes the month's
# report: HTML (open it in a browser), JSON, CSV, a blocklist, an RPZ zone
# and SIEM events. Prints the top of the report and where everything is.
# Output goes to out/demo/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh
echo "== build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" \
  --target shadowmap-agent shadowmap-collector shadowmap-report >/dev/null

out=$top/out/demo
mkdir -p "$out"
echo "== geolocation databases (scripts/install-geo.sh)"
geodir=${SHADOWMAP_GEOIP_DIR:-/var/lib/shadowmap/geoip}
if ! mkdir -p "$geodir" 2>/dev/null || [ ! -w "$geodir" ]; then
  geodir=$out/geoip
fi
geo_args=()
if scripts/install-geo.sh "$geodir"; then
  geo_args=(--geoip-country-db "$geodir/country.mmdb" --geoip-asn-db "$geodir/asn.mmdb")
else
  echo "demo: no geolocation databases: summaries will have null country and network"
fi

catalog=tests/gen/sample-org/catalog.yaml
echo "== a month of Acme Widgets' traffic (tests/gen/orgsim.py: 300 people, 2 sites; ~30 s)"
/usr/bin/python3 tests/gen/orgsim.py --out "$out/org"
read -r from to < <(/usr/bin/python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["period"]
print(p["from"], p["to"])' "$out/org/org.json")

echo "== collector (127.0.0.1, database $out/usage.db, catalog $catalog)"
rm -f "$out"/usage.db*
rm -rf "$out"/spool-*
for site in 1 2; do
  build/shadowmap-collector token create --db "$out/usage.db" --agent "site-$site" | tail -1 \
    > "$out/site-$site.token"
done
build/shadowmap-collector token create --db "$out/usage.db" --reader demo | tail -1 > "$out/reader.token"
chmod 600 "$out"/*.token
# port 0: the kernel picks a free one, and the collector logs which
build/shadowmap-collector serve --listen "127.0.0.1:0" --db "$out/usage.db" \
  --catalog "$catalog" 2> "$out/collector.log" &
collector=$!
trap 'kill "$collector" 2>/dev/null' EXIT
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' "$out/collector.log" | tail -1)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.05
done
[ -n "$port" ] || { echo "the collector did not start: $(cat "$out/collector.log")" >&2; exit 1; }

echo "== agents, one per site (capture -> summaries -> collector)"
pids=()
for site in 1 2; do
  build/shadowmap-agent -r "$out/org/agent-$site.pcap" -o "$out/usage-$site.jsonl" \
    ${geo_args[@]+"${geo_args[@]}"} --collector "http://127.0.0.1:$port" \
    --token-file "$out/site-$site.token" --spool "$out/spool-$site" 2> "$out/agent-$site.log" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
tail -n 1 "$out"/agent-*.log

echo "== the month's report ($from .. $to)"
report() {
  build/shadowmap-report --db "$out/usage.db" --from "$from" --to "$to" --catalog "$catalog" "$@"
}
report --format html -o "$out/report.html"
report --format json -o "$out/report.json" --blocklist "$out/blocklist.txt" \
  --rpz "$out/banned.rpz" --siem "$out/first-seen.jsonl"
report --format csv -o "$out/csv"
/usr/bin/python3 - "$out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
print(f"  {s['users']} users (client addresses), {s['apps']} apps, "
      f"{s['unsanctioned_users']} of the users used apps IT has not sanctioned, "
      f"{s['unsanctioned_bytes_up'] / 1e6:.1f} MB sent to them")
print("  act first:")
for g in r["gaps"][:6]:
    print(f"  {g['rank']:2}. [{g['verdict']}] {g['text']}")
print("  unknown domains to triage:",
      ", ".join(d["domain"] for d in r["unknown_domains"][:5]) or "none")
PY
echo "== the dashboard: http://127.0.0.1:$port/dashboard/ (reader token in $out/reader.token);"
echo "   this demo stops it now: run build/shadowmap-collector serve --db $out/usage.db --catalog $catalog"
echo "== files in $out:"
echo "   report.html (open it in a browser), report.json, csv/, blocklist.txt, banned.rpz,"
echo "   first-seen.jsonl (SIEM), org/ (captures and ground truth), usage-*.jsonl, usage.db"
