#!/usr/bin/env bash
# Live capture for real: two network namespaces joined by a veth pair; the
# agent captures on one end (-i, with and without a BPF filter) while
# tcpreplay sends generated traffic from the other; SIGTERM ends the run
# and every byte must be in the summaries, under the right names.
source "$(dirname "$0")/common.bash"
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null && command -v tcpreplay >/dev/null || skip "needs iproute2 and tcpreplay"
ns1=smlive1-$$ ns2=smlive2-$$
cleanup() {
	ip netns del "$ns1" 2>/dev/null
	ip netns del "$ns2" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$ns1" && ip netns add "$ns2" || skip "cannot create network namespaces here"
ip link add smva type veth peer name smvb || skip "cannot create a veth pair"
ip link set smva netns "$ns1"
ip link set smvb netns "$ns2"
# no IPv6 link-local chatter (router solicitations, MLD) from the kernel
ip netns exec "$ns1" sysctl -qw net.ipv6.conf.smva.disable_ipv6=1
ip netns exec "$ns2" sysctl -qw net.ipv6.conf.smvb.disable_ipv6=1
ip -n "$ns1" link set smva up
ip -n "$ns2" link set smvb up

"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario smoke --seed 5 \
	--pcap "$T/smoke.pcap" --truth "$T/smoke.json" >/dev/null

# run NAME [agent args...]: capture while the sample is replayed
run() {
	local name=$1; shift
	ip netns exec "$ns1" "$AGENT" --signatures "$SIGS" -i smva "$@" \
		-o "$T/$name.jsonl" --flows "$T/$name.flows" 2> "$T/$name.err" &
	local pid=$!
	for _ in $(seq 50); do
		grep -q "capturing on smva" "$T/$name.err" && break
		sleep 0.1
	done
	ip netns exec "$ns2" tcpreplay -q -i smvb "$T/smoke.pcap" > "$T/$name.replay" 2>&1 \
		|| fail "$name: tcpreplay: $(tail -2 "$T/$name.replay")"
	sleep 1
	kill -TERM "$pid"
	wait "$pid"
	local rc=$?
	[ $rc -eq 0 ] || fail "$name: agent exited $rc: $(cat "$T/$name.err")"
}

# compare NAME FILTER: per (client, host, app) packets and bytes both ways
compare() {
	"$PYTHON" - "$T/$1.jsonl" "$T/smoke.json" "$2" <<'PY'
import json, sys
got, want = {}, {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    k = (r['client'], r['host'], r['app'])
    g = got.setdefault(k, [0, 0, 0])
    g[0] += r['packets']; g[1] += r['bytes_up']; g[2] += r['bytes_down']
skip_dns = sys.argv[3] == 'no-dns'
for f in json.load(open(sys.argv[2]))['flows']:
    if skip_dns and f['proto'] == 'udp' and f['server_port'] == 53:
        continue
    k = (f['client'], f['host'], f['app'])
    w = want.setdefault(k, [0, 0, 0])
    w[0] += f['packets_up'] + f['packets_down']; w[1] += f['bytes_up']; w[2] += f['bytes_down']
bad = 0
for k in sorted(set(got) | set(want), key=str):
    if got.get(k) != want.get(k):
        print(f'  {k}: agent {got.get(k)} truth {want.get(k)}')
        bad += 1
sys.exit(1 if bad else 0)
PY
}

run all --user nobody
grep -q "running as nobody" "$T/all.err" && pass "live capture: root dropped after opening (running as nobody)" \
	|| fail "live: no privilege drop: $(cat "$T/all.err")"
if compare all all; then pass "live capture: every flow's name, app and bytes"; else fail "live capture differs from the truth"; fi
grep -q '"name_source":"quic"' "$T/all.flows" && pass "live capture: QUIC SNI" || fail "live: no QUIC-named flow"
grep -q '"name_source":"dns"' "$T/all.flows" && pass "live capture: DNS-named flow" || fail "live: no DNS-named flow"

# with a BPF filter, DNS never reaches the agent (and the no-SNI flow then has no name)
run filtered -f "not udp port 53"
if grep -q '"server_port":53' "$T/filtered.flows"; then fail "filter: DNS flows captured"; else pass "filter: no DNS flow"; fi
if grep -q '"host":"slack.com"' "$T/filtered.jsonl"; then pass "filter: TLS flows still named"; else fail "filter: slack.com missing"; fi
finish
