#!/usr/bin/env bash
# The agent on every capture of the shared nDPI corpus: it reads each one
# without error, the summaries hold every IP byte (tests/tools/iptotals.py
# counts them independently), it names every flow ndpiReader names, and
# what it finds matches the reviewed golden files (tests/golden/corpus/).
source "$(dirname "$0")/common.bash"
[ -d "$CORPUS/ndpi" ] || skip "no corpus at $CORPUS/ndpi"
command -v ndpiReader >/dev/null || skip "ndpiReader (libndpi-bin) not installed"

if "$PYTHON" "$SOURCE_DIR/tests/tools/corpus_golden.py" check --agent "$AGENT" \
	--signatures "$SIGS" "$CORPUS/ndpi" "$SOURCE_DIR/tests/golden/corpus" > "$T/golden.out"; then
	pass "corpus golden files: $(tail -1 "$T/golden.out")"
else
	cat "$T/golden.out"
	fail "corpus differs from the golden files (update them with tests/tools/corpus_golden.py update ... once reviewed)"
fi

# Chrome's QUIC: ClientHellos split over several Initials, out of order
cap=$CORPUS/ndpi/quic_frags_ch_out_of_order_same_packet_craziness.pcapng
if [ -f "$cap" ]; then
	"$AGENT" -q --signatures "$SIGS" -r "$cap" -o /dev/null --flows "$T/quic.flows" \
		|| fail "agent failed on $cap"
	"$PYTHON" - "$T/quic.flows" <<'PY' && pass "QUIC SNI on the craziness capture: $(cat "$T/quic.ratio")" || fail "QUIC SNI: $(cat "$T/quic.ratio")"
import json, sys
n = named = 0
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f['proto'] == 'udp' and f['server_port'] == 443:
        n += 1
        named += f['host'] is not None
open(sys.argv[1].replace('.flows', '.ratio'), 'w').write('%d of %d flows to UDP 443 named' % (named, n))
sys.exit(0 if n and named >= 0.95 * n else 1)
PY
fi
finish
