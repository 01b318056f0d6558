#!/usr/bin/env bash
# Agent to collector over HTTPS with a private CA: without --ca the agent
# refuses the collector's certificate and keeps every batch; with --ca it
# delivers them, and the stored totals equal what the agent counted.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
command -v openssl >/dev/null && command -v curl >/dev/null || skip "needs openssl and curl"

cpid=
trap '[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null' EXIT
# a private CA and a server certificate it signed, for 127.0.0.1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=shadowmap test CA" \
	-keyout "$T/ca.key" -out "$T/ca.pem" >/dev/null 2>&1 || fail "openssl: CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$T/key.pem" \
	-out "$T/req.pem" >/dev/null 2>&1 || fail "openssl: request"
printf 'subjectAltName=IP:127.0.0.1\n' > "$T/ext"
openssl x509 -req -in "$T/req.pem" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-days 2 -extfile "$T/ext" -out "$T/cert.pem" >/dev/null 2>&1 || fail "openssl: sign"

db=$T/usage.db
"$COLLECTOR" token create --db "$db" --agent tls | tail -1 > "$T/token"
chmod 600 "$T/token"
reader=$("$COLLECTOR" token create --db "$db" --reader tls | tail -1)
port=$(pick_port)
"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --tls-cert "$T/cert.pem" \
	--tls-key "$T/key.pem" 2> "$T/collector.log" &
cpid=$!
wait_healthz "https://127.0.0.1:$port" --cacert "$T/ca.pem"
"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario basic --seed 4 --pcap "$T/s.pcap" \
	--truth "$T/s.json" >/dev/null

ship() {
	"$AGENT" -q --signatures "$SIGS" -r "$T/s.pcap" -o "$T/local.jsonl" \
		--collector "https://127.0.0.1:$port" --token-file "$T/token" --spool "$T/spool" \
		--retry-max 1s "$@" 2>> "$T/agent.log"
}
ship --drain-timeout 2s
rc=$?
[ $rc -eq 3 ] && grep -qi "certificate" "$T/agent.log" \
	&& pass "unknown CA: refused ($(grep -i -m1 certificate "$T/agent.log" | cut -c1-100)...), exit 3" \
	|| fail "unknown CA: exit $rc, log: $(tail -2 "$T/agent.log")"
kept=$(find "$T/spool" -maxdepth 1 -type f -name '*.json.gz' | wc -l)
[ "$kept" -gt 0 ] && pass "unknown CA: $kept batches kept" || fail "unknown CA: nothing kept"
cp "$T/local.jsonl" "$T/first.jsonl"

ship --ca "$T/ca.pem"
rc=$?
[ $rc -eq 0 ] && pass "with --ca: delivered" || fail "with --ca: exit $rc: $(tail -2 "$T/agent.log")"
want=$(cat "$T/first.jsonl" "$T/local.jsonl" | "$PYTHON" -c '
import json, sys
t = [0, 0, 0]
for line in sys.stdin:
    r = json.loads(line)
    t[0] += r["packets"]; t[1] += r["bytes_up"]; t[2] += r["bytes_down"]
print(*t)')
got=$(curl -sf --cacert "$T/ca.pem" -H "Authorization: Bearer $reader" \
	"https://127.0.0.1:$port/api/v1/totals" | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)
print(t["packets"], t["bytes_up"], t["bytes_down"])')
[ "$want" = "$got" ] && pass "over HTTPS: stored totals = the agent's, both runs ($got)" \
	|| fail "over HTTPS: stored $got, want $want"
kill -TERM "$cpid"; wait "$cpid"; cpid=
finish
