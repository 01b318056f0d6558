#!/usr/bin/env bash
# The main job, end to end on sample traffic the project makes itself:
# installs what is needed, builds, generates a capture of a small office's
# SaaS use (TLS, QUIC, HTTP, DNS; ground truth beside it), puts the freely
# licensed country and ASN databases in place (scripts/install-geo.sh, from
# the npm registry; the demo goes on without them if that fails), starts a
# collector on loopback with the example service catalog, runs the agent on
# the capture shipping to the collector, and prints what the collector now
# knows: apps with their users, volume and catalog status. Output goes to
# out/demo/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh
echo "== build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target shadowmap-agent shadowmap-collector >/dev/null

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
echo "== generate sample traffic"
/usr/bin/python3 tests/gen/shadowgen.py --scenario basic --seed 1 \
  --pcap "$out/sample.pcap" --truth "$out/sample.truth.json"

echo "== collector (127.0.0.1, database $out/usage.db, catalog signatures/catalog.example.yaml)"
rm -f "$out"/usage.db*
rm -rf "$out/spool"
build/shadowmap-collector token create --db "$out/usage.db" --agent demo-agent | tail -1 > "$out/agent.token"
build/shadowmap-collector token create --db "$out/usage.db" --reader demo | tail -1 > "$out/reader.token"
chmod 600 "$out/agent.token" "$out/reader.token"
port=$((20000 + RANDOM % 20000))
build/shadowmap-collector serve --listen "127.0.0.1:$port" --db "$out/usage.db" \
  --catalog signatures/catalog.example.yaml 2> "$out/collector.log" &
collector=$!
trap 'kill "$collector" 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.05
done

echo "== agent (capture -> summaries -> collector; a copy in $out/usage.jsonl)"
build/shadowmap-agent -r "$out/sample.pcap" -o "$out/usage.jsonl" --flows "$out/flows.jsonl" \
  ${geo_args[@]+"${geo_args[@]}"} --collector "http://127.0.0.1:$port" --token-file "$out/agent.token" --spool "$out/spool"

echo "== what the collector knows (GET /api/v1/apps)"
curl -sf -H "Authorization: Bearer $(cat "$out/reader.token")" \
  "http://127.0.0.1:$port/api/v1/apps" > "$out/apps.json"
/usr/bin/python3 - "$out/apps.json" <<'PY'
import json, sys
apps = json.load(open(sys.argv[1]))["apps"]
print(f"{'app':22} {'category':20} {'status':15} {'users':>5} {'flows':>5} {'up KB':>9} {'down KB':>9}")
for a in apps:
    print(f"{a['app'] or '(no app)':22} {a['category'] or '-':20} {a['status'] or '-':15} "
          f"{a['users']:5} {a['flows']:5} {a['bytes_up']/1024:9.1f} {a['bytes_down']/1024:9.1f}")
PY
curl -sf -H "Authorization: Bearer $(cat "$out/reader.token")" \
  "http://127.0.0.1:$port/api/v1/unknown-domains" > "$out/unknown.json"
echo "== unknown domains (GET /api/v1/unknown-domains): the long tail no signature knows yet"
/usr/bin/python3 - "$out/unknown.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d.get("domains", d.get("unknown_domains", []))
for r in rows[:10]:
    print(f"  {r['domain']:34} users {r['users']:3}  {(r['bytes_up'] + r['bytes_down'])/1024:9.1f} KB")
PY
echo "== where traffic goes (usage.jsonl: country and network of the servers)"
/usr/bin/python3 - "$out/usage.jsonl" <<'PY'
import json, sys
by = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    k = (r.get("country") or "-", r.get("asn"), r.get("as_org") or "-")
    by[k] = by.get(k, 0) + r["bytes_up"] + r["bytes_down"]
for (cc, asn, org), b in sorted(by.items(), key=lambda kv: -kv[1])[:10]:
    print(f"  {cc:3} {('AS%d' % asn) if asn else '-':10} {org[:40]:40} {b/1024:10.1f} KB")
print("  (the sample traffic goes to documentation addresses, RFC 5737 and RFC 3849: no\n"
      "   network announces them, so no AS; the country database places a few where the\n"
      "   registry that holds them is. Real traffic shows real countries and networks.)")
PY
echo "== files in $out: sample.pcap (capture), usage.jsonl (summaries), usage.db (collector)"
