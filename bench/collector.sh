#!/usr/bin/env bash
# Collector ingest throughput and acknowledgement latency: N concurrent
# simulated agents (bench/collector_load.c) post gzip'd batches of usage
# summaries to one collector on loopback, on this machine; then the stored
# totals are compared with what was sent.
#
# usage: bench/collector.sh [BUILD_DIR]   (default: build)
# env:   AGENTS=50 BATCHES=20 RECORDS=500 (per agent: BATCHES batches of RECORDS)
#        RATE=0: closed loop (maximum throughput); RATE=N: the agents offer N
#        summaries/s together (latency at that load). Without RATE, both runs:
#        closed loop, then RATE=100000 on a fresh database.
#        SHAPE=recurring (default: each agent's 50 clients use the same hosts
#        bucket after bucket, as real traffic does) or unique (every record a
#        new day/client/host: the worst case for the daily roll-up).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
agents=${AGENTS:-50} batches=${BATCHES:-20} records=${RECORDS:-500}
rates=${RATE:-"0 100000"}
shape=${SHAPE:-recurring}
collector=$build/shadowmap-collector
load=$build/bench/collector-load
[ -x "$collector" ] && [ -x "$load" ] || { echo "build first: cmake --build $build" >&2; exit 2; }

# run RATE: one collector on a fresh database, one load, totals checked
run() {
	work=$(mktemp -d /tmp/shadowmap-bench.XXXXXX)
	pid=
	cleanup() {
		[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
		rm -rf "$work"
	}
	trap cleanup EXIT
	db=$work/bench.db
	agent_token=$("$collector" token create --db "$db" --agent bench | tail -1)
	reader_token=$("$collector" token create --db "$db" --reader bench | tail -1)
	port=$((20000 + RANDOM % 20000))
	"$collector" serve --listen "127.0.0.1:$port" --db "$db" 2> "$work/collector.log" &
	pid=$!
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
		sleep 0.1
	done

	"$load" "http://127.0.0.1:$port/api/v1/batches" "$agent_token" "$agents" "$batches" "$records" "$1" "$shape" \
		| tee "$work/load.out"
	sent=$(grep '^sent' "$work/load.out")
	stored=$(curl -sf -H "Authorization: Bearer $reader_token" "http://127.0.0.1:$port/api/v1/totals" \
		| /usr/bin/python3 -c 'import json,sys; t=json.load(sys.stdin); print("sent flows %d packets %d bytes_up %d bytes_down %d" % (t["flows"], t["packets"], t["bytes_up"], t["bytes_down"]))')
	if [ "$sent" = "$stored" ]; then
		echo "stored totals equal what was sent"
	else
		echo "MISMATCH: $sent / stored: ${stored#sent }"
		exit 1
	fi
	echo "database: $(du -m "$db" | cut -f1) MB"
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	rm -rf "$work"
}
for r in $rates; do
	run "$r"
done
