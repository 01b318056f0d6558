#!/usr/bin/env bash
# Runs an agent command on a generated scenario and judges its outputs.
#
#   tests/gen/agent_check.sh [--scenario basic] [--seed 1] [--linktype ether] [--snaplen N]
#       [--bucket-seconds 300] [--counts-only] [--geo TABLE|null] [--workdir DIR]
#       -- AGENT COMMAND WITH {pcap} {flows} {summaries}
# --counts-only: compare the summaries per (bucket, client) only, for captures
# whose names a short snaplen cut off. --geo: the checkers also judge the
# server's country and network (see check_summaries.py).
#
# {pcap} becomes the generated capture, {summaries} the usage-summary file
# the agent must write (JSON lines), {flows} the per-flow file (optional:
# check_flows runs only when the command uses {flows}). Example:
#   tests/gen/agent_check.sh --scenario basic -- "$AGENT" -r {pcap} -o {summaries} --flows-out {flows}
# Exit: 0 both checkers passed, 1 a checker failed or the agent failed.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-/usr/bin/python3}"
scenario=basic seed=1 linktype=ether snaplen=65535 bucket=300 workdir="" counts_only="" geo=()
while [ $# -gt 0 ]; do
	case "$1" in
	--scenario) scenario="$2"; shift 2 ;;
	--seed) seed="$2"; shift 2 ;;
	--linktype) linktype="$2"; shift 2 ;;
	--snaplen) snaplen="$2"; shift 2 ;;
	--counts-only) counts_only=--counts-only; shift ;;
	--geo) geo=(--geo "$2"); shift 2 ;;
	--bucket-seconds) bucket="$2"; shift 2 ;;
	--workdir) workdir="$2"; shift 2 ;;
	--) shift; break ;;
	*) echo "agent_check: unknown option $1" >&2; exit 1 ;;
	esac
done
[ $# -gt 0 ] || { echo "agent_check: no agent command after --" >&2; exit 1; }
if [ -z "$workdir" ]; then
	workdir="$(mktemp -d "${TMPDIR:-/tmp}/agent_check.XXXXXX")"
fi
mkdir -p "$workdir"
base="$workdir/$scenario-$seed-$linktype"
pcap="$base.pcap" truth="$base.truth.json" flows="$base.flows.jsonl" sums="$base.summaries.jsonl"
rm -f "$flows" "$sums"
"$PY" "$HERE/shadowgen.py" --scenario "$scenario" --seed "$seed" --linktype "$linktype" \
	--snaplen "$snaplen" --pcap "$pcap" --truth "$truth" || exit 1

cmd=()
want_flows=0
for a in "$@"; do
	case "$a" in *"{flows}"*) want_flows=1 ;; esac
	a="${a//\{pcap\}/$pcap}"
	a="${a//\{flows\}/$flows}"
	a="${a//\{summaries\}/$sums}"
	cmd+=("$a")
done
echo "agent_check: ${cmd[*]}"
"${cmd[@]}"
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "agent_check: the agent exited $rc"
	exit 1
fi
status=0
if [ "$want_flows" -eq 1 ]; then
	"$PY" "$HERE/check_flows.py" "${geo[@]}" "$flows" "$truth" || status=1
fi
"$PY" "$HERE/check_summaries.py" --bucket-seconds "$bucket" $counts_only "${geo[@]}" "$sums" "$truth" || status=1
echo "agent_check: $scenario seed $seed $linktype: $([ $status -eq 0 ] && echo passed || echo FAILED) (files in $workdir)"
exit $status
