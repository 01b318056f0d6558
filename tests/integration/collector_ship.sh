#!/usr/bin/env bash
# Agents ship to a real collector on loopback; whatever happens on the way
# (several agents at once, the collector killed with SIGKILL and restarted,
# the collector away for a while, an agent killed and restarted), the
# collector ends up with exactly what the agents counted: nothing lost,
# nothing twice.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
command -v curl >/dev/null || skip "needs curl"

db=$T/usage.db
port=$(pick_port)
url=http://127.0.0.1:$port
cpid=
cleanup() {
	[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null
	jobs -p | xargs -r kill -9 2>/dev/null
}
trap cleanup EXIT

"$COLLECTOR" token create --db "$db" --agent agents > "$T/tok.out" || fail "token create"
agent_token=$(tail -1 "$T/tok.out")
reader_token=$("$COLLECTOR" token create --db "$db" --reader tests | tail -1)
printf '%s\n' "$agent_token" > "$T/token"
chmod 600 "$T/token"

start_collector() {
	"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --signatures "$SIGS" \
		2>> "$T/collector.log" &
	cpid=$!
	wait_healthz "$url" || fail "collector did not come up: $(tail -3 "$T/collector.log")"
}

# totals FILE...: "flows packets bytes_up bytes_down" summed over JSON-lines files
totals() {
	"$PYTHON" -c '
import json, sys
t = [0, 0, 0, 0]
for p in sys.argv[1:]:
    for line in open(p):
        r = json.loads(line)
        for i, k in enumerate(("flows", "packets", "bytes_up", "bytes_down")):
            t[i] += r[k]
print(*t)' "$@"
}

stored() {
	curl -sf -H "Authorization: Bearer $reader_token" "$url/api/v1/totals" | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)
print(t["flows"], t["packets"], t["bytes_up"], t["bytes_down"])'
}

for s in 1 2 3 4 5 6; do
	"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario basic --seed "$s" \
		--start "2026-03-0${s}T09:00:00Z" --pcap "$T/s$s.pcap" --truth "$T/s$s.json" >/dev/null
done

# ship N: agent on capture sN, spool sp-N, local copy local-N.jsonl
ship() {
	local n=$1; shift
	"$AGENT" -q --signatures "$SIGS" -r "$T/s$n.pcap" -o "$T/local-$n.jsonl" \
		--collector "$url" --token-file "$T/token" --spool "$T/sp-$n" \
		--batch-max-records 20 --retry-max 1s "$@" 2>> "$T/agent-$n.log"
}

# 1. three agents at once
start_collector
ship 1 & p1=$!
ship 2 & p2=$!
ship 3 & p3=$!
rc=0
wait $p1 || rc=$?; wait $p2 || rc=$?; wait $p3 || rc=$?
[ $rc -eq 0 ] || fail "an agent exited $rc: $(cat "$T"/agent-*.log | tail -5)"
want=$(totals "$T"/local-1.jsonl "$T"/local-2.jsonl "$T"/local-3.jsonl)
got=$(stored)
[ "$want" = "$got" ] && pass "three agents at once: stored totals = agents' totals ($got)" \
	|| fail "three agents: stored $got, agents $want"
for n in 1 2 3; do
	[ -z "$(ls -A "$T/sp-$n" 2>/dev/null | grep -v '^rejected$')" ] \
		|| fail "spool $n not empty after delivery: $(ls "$T/sp-$n")"
done

# 2. the collector away: the agent keeps everything and says so
kill -TERM "$cpid"; wait "$cpid"; cpid=
ship 4 --drain-timeout 2s
rc=$?
[ $rc -eq 3 ] && pass "collector away: agent exits 3 (not delivered)" \
	|| fail "collector away: agent exited $rc, expected 3"
n_spooled=$(find "$T/sp-4" -maxdepth 1 -type f | wc -l)
[ "$n_spooled" -gt 0 ] && pass "collector away: $n_spooled batches kept in the spool" \
	|| fail "collector away: spool is empty"
cp "$T/local-4.jsonl" "$T/local-4a.jsonl"

# 3. back again: the next run sends the leftovers first, and its own data
start_collector
ship 4
rc=$?
[ $rc -eq 0 ] || fail "agent after the outage exited $rc: $(tail -3 "$T/agent-4.log")"
want=$(totals "$T"/local-1.jsonl "$T"/local-2.jsonl "$T"/local-3.jsonl "$T"/local-4a.jsonl \
	"$T"/local-4.jsonl)
got=$(stored)
[ "$want" = "$got" ] && pass "after the outage: leftovers and new data, once each ($got)" \
	|| fail "after the outage: stored $got, want $want"

# 4. the collector killed with SIGKILL while an agent ships, then restarted
ship 5 --batch-max-records 5 &
p5=$!
sleep 0.3
kill -9 "$cpid"; wait "$cpid" 2>/dev/null; cpid=
sleep 1.5
start_collector
wait $p5
rc=$?
[ $rc -eq 0 ] || fail "agent across a collector SIGKILL exited $rc: $(tail -3 "$T/agent-5.log")"
want=$(totals "$T"/local-[1-5].jsonl "$T"/local-4a.jsonl)
got=$(stored)
[ "$want" = "$got" ] && pass "collector SIGKILL mid-stream: nothing lost, nothing twice ($got)" \
	|| fail "collector SIGKILL: stored $got, want $want"

# 5. an agent killed with SIGKILL while its spool still holds batches,
# then started again on the same spool
kill -TERM "$cpid"; wait "$cpid"; cpid=
# run the agent itself in the background (not the ship function: $! must
# be the agent's pid, which is what SIGKILL must hit)
"$AGENT" -q --signatures "$SIGS" -r "$T/s6.pcap" -o "$T/local-6.jsonl" --collector "$url" \
	--token-file "$T/token" --spool "$T/sp-6" --batch-max-records 20 --retry-max 1s \
	--drain-timeout 30s 2>> "$T/agent-6.log" &
p6=$!
for _ in $(seq 100); do
	[ "$(find "$T/sp-6" -maxdepth 1 -type f 2>/dev/null | wc -l)" -gt 0 ] && \
		grep -q . "$T/local-6.jsonl" 2>/dev/null && break
	sleep 0.1
done
# the capture is read and its summaries written (the agent flushes -o
# before it waits for the spool to drain): the file stops growing and ends
# with a whole line
prev=-1
for _ in $(seq 100); do
	size=$(stat -c %s "$T/local-6.jsonl")
	[ "$size" = "$prev" ] && [ "$(tail -c 1 "$T/local-6.jsonl" | od -An -c | tr -d ' ')" = '\n' ] && break
	prev=$size
	sleep 0.3
done
kill -9 $p6; wait $p6 2>/dev/null
cp "$T/local-6.jsonl" "$T/local-6a.jsonl"
start_collector
# the restarted agent reads nothing new (an empty capture) and delivers the spool
"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario smoke --seed 9 --start 2026-03-09T09:00:00Z \
	--pcap "$T/s7.pcap" --truth "$T/s7.json" >/dev/null
"$AGENT" -q --signatures "$SIGS" -r "$T/s7.pcap" -o "$T/local-7.jsonl" --collector "$url" \
	--token-file "$T/token" --spool "$T/sp-6" --retry-max 1s 2>> "$T/agent-6.log"
rc=$?
[ $rc -eq 0 ] || fail "restarted agent exited $rc: $(tail -3 "$T/agent-6.log")"
want=$(totals "$T"/local-[1-5].jsonl "$T"/local-4a.jsonl "$T"/local-6a.jsonl "$T"/local-7.jsonl)
got=$(stored)
[ "$want" = "$got" ] && pass "agent SIGKILL and restart: its spool delivered once ($got)" \
	|| fail "agent SIGKILL: stored $got, want $want"

kill -TERM "$cpid"; wait "$cpid"
rc=$?; cpid=
[ $rc -eq 0 ] && pass "collector stops cleanly on SIGTERM" || fail "collector SIGTERM exit $rc"
finish
