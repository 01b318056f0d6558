#!/usr/bin/env bash
# The main job, end to end on sample traffic the project makes itself:
# installs what is needed, builds, generates a capture of a small office's
# SaaS use (TLS, QUIC, HTTP, DNS; ground truth beside it), runs the agent on
# it and prints what it found. Output goes to out/demo/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh
echo "== build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target shadowmap-agent >/dev/null

out=$top/out/demo
mkdir -p "$out"
echo "== generate sample traffic"
/usr/bin/python3 tests/gen/shadowgen.py --scenario basic --seed 1 \
  --pcap "$out/sample.pcap" --truth "$out/sample.truth.json"

echo "== agent"
build/shadowmap-agent -r "$out/sample.pcap" -o "$out/usage.jsonl" --flows "$out/flows.jsonl"

echo "== what the agent found (usage summaries in $out/usage.jsonl)"
/usr/bin/python3 - "$out/usage.jsonl" <<'PY'
import json, sys
apps = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r.get('app') or '(' + (r.get('domain') or r.get('ndpi_proto') or r.get('untracked') or '?') + ')',
           r.get('category') or '-')
    a = apps.setdefault(key, {'users': set(), 'flows': 0, 'up': 0, 'down': 0})
    if r.get('client'):
        a['users'].add(r['client'])
    a['flows'] += r['flows']
    a['up'] += r['bytes_up']
    a['down'] += r['bytes_down']
print(f"{'app (or domain / protocol)':34} {'category':20} {'users':>5} {'flows':>5} {'up KB':>9} {'down KB':>9}")
for (app, cat), a in sorted(apps.items(), key=lambda kv: -(kv[1]['up'] + kv[1]['down'])):
    print(f"{app:34} {cat:20} {len(a['users']):5} {a['flows']:5} {a['up']/1024:9.1f} {a['down']/1024:9.1f}")
PY
echo "== files: $out/sample.pcap (capture), $out/usage.jsonl (summaries), $out/flows.jsonl (flows)"
