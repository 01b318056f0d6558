#!/usr/bin/env bash
# The agent on generated traffic with ground truth: every flow's client,
# host, domain, app, category and byte counts, and every bucket's sums, on
# each link type, with a short snaplen, and with other bucket lengths.
source "$(dirname "$0")/common.bash"
check() {
	local what=$1; shift
	if bash "$SOURCE_DIR/tests/gen/agent_check.sh" --workdir "$T" "$@" > "$T/log" 2>&1; then
		pass "$what"
	else
		fail "$what"
		grep -E "FAIL|error|agent_check" "$T/log" | head -40
	fi
}
for lt in ether sll sll2 raw null; do
	check "basic scenario, link type $lt" --scenario basic --linktype "$lt" -- \
		"$AGENT" -q --signatures "$SIGS" -r {pcap} -o {summaries} --flows {flows}
done
# 96 bytes cut every name off, but no count may change
check "basic scenario, snaplen 96: every count per client" --scenario basic --snaplen 96 --counts-only -- \
	"$AGENT" -q --signatures "$SIGS" -r {pcap} -o {summaries}
check "basic scenario, seed 7, 60 s buckets" --scenario basic --seed 7 --bucket-seconds 60 -- \
	"$AGENT" -q --signatures "$SIGS" --bucket-seconds 60 -r {pcap} -o {summaries} --flows {flows}
check "basic scenario, 1 h buckets" --scenario basic --seed 3 --bucket-seconds 3600 -- \
	"$AGENT" -q --signatures "$SIGS" --bucket-seconds 1h -r {pcap} -o {summaries}
finish
