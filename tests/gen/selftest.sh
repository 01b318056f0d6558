#!/usr/bin/env bash
# Self-test of the traffic generator and of the checkers (no agent needed):
#  - shadowgen --self-test (RFC 9001 / RFC 9369 vectors, QUIC and TLS round trips)
#  - each scenario: an independent reading of the pcap (pcapcheck.py) gives the truth
#  - "perfect" agent outputs made from the truth pass both checkers, also when
#    split over several records; each mutation makes the checker concerned fail
#  - the other link types and --snaplen 96 give the same truth; same seed, same bytes
#  - tcpdump (when installed) finds no bad checksum
# Usage: bash tests/gen/selftest.sh   (PYTHON=/usr/bin/python3 by default)
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-/usr/bin/python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shadowgen-selftest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $*"; }
ko() { fail=$((fail + 1)); echo "FAIL $*"; }

# expect RC DESCRIPTION -- COMMAND...: runs COMMAND, wants exit status RC
expect() {
	local want="$1" what="$2"
	shift 3
	local out rc
	out="$("$@" 2>&1)"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		ok "$what"
	else
		ko "$what (exit $rc, wanted $want)"
		printf '%s\n' "$out" | tail -n 15 | sed 's/^/     | /'
	fi
}

expect 0 "shadowgen --self-test" -- "$PY" "$HERE/shadowgen.py" --self-test

for sc in smoke basic geo; do
	pcap="$WORK/$sc.pcap" truth="$WORK/$sc.json"
	expect 0 "$sc: generate" -- "$PY" "$HERE/shadowgen.py" --scenario "$sc" --seed 1 --pcap "$pcap" --truth "$truth"
	expect 0 "$sc: pcapcheck (independent reading of the pcap = truth)" -- "$PY" "$HERE/pcapcheck.py" "$pcap" "$truth"
	out="$WORK/$sc"
	expect 0 "$sc: perfect outputs" -- "$PY" "$HERE/truth_to_outputs.py" "$truth" --flows "$out.flows" --summaries "$out.sums"
	expect 0 "$sc: check_flows passes perfect flows" -- "$PY" "$HERE/check_flows.py" "$out.flows" "$truth"
	expect 0 "$sc: check_summaries passes perfect summaries" -- "$PY" "$HERE/check_summaries.py" "$out.sums" "$truth"
	expect 0 "$sc: split outputs" -- "$PY" "$HERE/truth_to_outputs.py" "$truth" --split --flows "$out.flows" --summaries "$out.sums"
	expect 0 "$sc: check_flows sums split flows" -- "$PY" "$HERE/check_flows.py" "$out.flows" "$truth"
	expect 0 "$sc: check_summaries sums over ndpi_proto" -- "$PY" "$HERE/check_summaries.py" "$out.sums" "$truth"
	expect 0 "$sc: 60 s buckets" -- "$PY" "$HERE/truth_to_outputs.py" "$truth" --bucket-seconds 60 --flows "$out.flows" --summaries "$out.sums"
	expect 0 "$sc: check_summaries --bucket-seconds 60" -- "$PY" "$HERE/check_summaries.py" --bucket-seconds 60 "$out.sums" "$truth"
	expect 1 "$sc: check_summaries rejects 60 s buckets as 300 s" -- "$PY" "$HERE/check_summaries.py" "$out.sums" "$truth"
	for m in flow-bytes flow-packets flow-host flow-app flow-drop flow-extra flow-swap flow-time \
		sum-bytes sum-flows sum-host sum-drop sum-extra sum-bucket sum-time; do
		"$PY" "$HERE/truth_to_outputs.py" "$truth" --mutate "$m" --flows "$out.flows" --summaries "$out.sums"
		case "$m" in
		flow-*)
			expect 1 "$sc: check_flows catches $m" -- "$PY" "$HERE/check_flows.py" "$out.flows" "$truth"
			expect 0 "$sc: check_summaries unaffected by $m" -- "$PY" "$HERE/check_summaries.py" "$out.sums" "$truth"
			;;
		sum-*)
			expect 1 "$sc: check_summaries catches $m" -- "$PY" "$HERE/check_summaries.py" "$out.sums" "$truth"
			expect 0 "$sc: check_flows unaffected by $m" -- "$PY" "$HERE/check_flows.py" "$out.flows" "$truth"
			;;
		esac
	done
done

base="$WORK/basic"
for lt in sll sll2 raw null; do
	expect 0 "basic --linktype $lt: generate" -- "$PY" "$HERE/shadowgen.py" --scenario basic --seed 1 --linktype "$lt" --pcap "$base-$lt.pcap" --truth "$base-$lt.json"
	expect 0 "basic --linktype $lt: pcapcheck" -- "$PY" "$HERE/pcapcheck.py" "$base-$lt.pcap" "$base-$lt.json"
	expect 0 "basic --linktype $lt: same truth as ether" -- diff <(grep -v '"linktype"' "$base.json") <(grep -v '"linktype"' "$base-$lt.json")
done
expect 0 "basic --snaplen 96: generate" -- "$PY" "$HERE/shadowgen.py" --scenario basic --seed 1 --snaplen 96 --pcap "$base-snap.pcap" --truth "$base-snap.json"
expect 0 "basic --snaplen 96: pcapcheck --counts-only" -- "$PY" "$HERE/pcapcheck.py" --counts-only "$base-snap.pcap" "$base-snap.json"
expect 0 "basic --snaplen 96: same truth" -- diff <(grep -v '"snaplen"' "$base.json") <(grep -v '"snaplen"' "$base-snap.json")
expect 0 "basic: same seed, same bytes" -- bash -c "'$PY' '$HERE/shadowgen.py' --scenario basic --seed 1 --pcap '$base-2.pcap' --truth '$base-2.json' && cmp '$base.pcap' '$base-2.pcap' && cmp '$base.json' '$base-2.json'"
expect 1 "basic: another seed, other bytes" -- bash -c "'$PY' '$HERE/shadowgen.py' --scenario basic --seed 2 --pcap '$base-3.pcap' --truth '$base-3.json' && cmp -s '$base.pcap' '$base-3.pcap'"

if command -v tcpdump >/dev/null 2>&1; then
	for f in "$base.pcap" "$base-sll2.pcap" "$base-null.pcap"; do
		bad="$(tcpdump -nr "$f" -vv 2>/dev/null | grep -c -E 'incorrect|bad .*cksum|wrong .*cksum|malformed')"
		if [ "$bad" -eq 0 ]; then ok "tcpdump -vv $(basename "$f"): no bad checksum"; else ko "tcpdump -vv $(basename "$f"): $bad bad"; fi
	done
else
	echo "skip tcpdump checks (tcpdump not installed)"
fi


if command -v tshark >/dev/null 2>&1; then
	# an independent dissector: every SNI the truth takes from TLS or QUIC
	# (decrypted Initials, CRYPTO reassembled) must be there, nothing malformed
	tshark -r "$base.pcap" -Y 'tls.handshake.type==1' -T fields -e tls.handshake.extensions_server_name \
		2>/dev/null | sort -u >"$WORK/tshark.sni"
	expect 0 "tshark: finds every TLS and QUIC SNI of the truth" -- "$PY" -c '
import json, sys
want = {f["host"] for f in json.load(open(sys.argv[1]))["flows"] if f["name_source"] in ("sni", "quic")}
got = set(open(sys.argv[2]).read().split())
missing = sorted(want - got)
print("missing:", missing)
sys.exit(1 if missing else 0)' "$base.json" "$WORK/tshark.sni"
	expect 0 "tshark: no malformed packet, no bad checksum" -- bash -c "! tshark -r '$base.pcap' -q -z expert \
		-o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE 2>/dev/null \
		| grep -iE 'malformed|checksum|previous segment|unseen|out-of-order|retransmission'"
else
	echo "skip tshark checks (tshark not installed)"
fi

echo "selftest: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
