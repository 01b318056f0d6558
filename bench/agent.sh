#!/usr/bin/env bash
# Agent throughput and memory against ndpiReader and a plain libpcap read
# loop, all on one large capture built from the shared corpus: its Ethernet
# captures played one after another, repeated with addresses rewritten by
# tcprewrite --seed (so every copy is classified anew) and times shifted
# forward, until the file holds at least PACKETS packets (default 1,000,000).
#
# usage: bench/agent.sh [BUILD_DIR]   (default: build)
# env:   PACKETS=1000000 RUNS=3 CORPUS=../shared/corpus/ndpi
#        THREADS=N: the agent's --threads (default: its own, 2 on a machine
#        with two CPUs or more, docs/threads.md)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
corpus=${CORPUS:-$top/../shared/corpus/ndpi}
want=${PACKETS:-1000000}
runs=${RUNS:-3}
work=$top/bench/work
agent=$build/shadowmap-agent
reader=$build/bench/pcap-read-loop

[ -x "$agent" ] && [ -x "$reader" ] || { echo "build first: cmake --build $build" >&2; exit 2; }
[ -d "$corpus" ] || { echo "no corpus at $corpus" >&2; exit 2; }
command -v tcprewrite >/dev/null || { echo "tcprewrite missing: scripts/install-deps.sh" >&2; exit 2; }
mkdir -p "$work"
big=$work/big-$want.pcap

if [ ! -s "$big" ]; then
  echo "building $big ..."
  # one round: every Ethernet capture of the corpus, converted to classic pcap
  inputs=()
  while IFS=$'\t' read -r file _ _ linktype _; do
    [ "$linktype" = ether ] || continue
    tcprewrite --infile="$corpus/$file" --outfile="$work/r0-$file.pcap" 2>/dev/null || continue
    inputs+=("$work/r0-$file.pcap")
  done < <(tail -n +2 "$corpus/MANIFEST.tsv")
  /usr/bin/python3 "$top/bench/mkbig.py" "$work/round0.pcap" "${inputs[@]}" >/dev/null
  rm -f "$work"/r0-*.pcap
  copies=()
  n=0 i=0
  per=$("$reader" "$work/round0.pcap" | sed 's/.*packets=\([0-9]*\).*/\1/')
  while [ "$n" -lt "$want" ]; do
    i=$((i + 1))
    tcprewrite --seed="$i" --infile="$work/round0.pcap" --outfile="$work/copy$i.pcap" 2>/dev/null
    copies+=("$work/copy$i.pcap")
    n=$((n + per))
  done
  /usr/bin/python3 "$top/bench/mkbig.py" "$big" "${copies[@]}" >/dev/null
  rm -f "${copies[@]}"
fi

packets=$("$reader" "$big" | sed 's/.*packets=\([0-9]*\).*/\1/')
echo "capture: $big: $packets packets, $(du -m "$big" | cut -f1) MB"

# best of $runs wall-clock seconds and the peak RSS of that run
measure() {
  local best= rss=
  for _ in $(seq "$runs"); do
    local out
    /usr/bin/time -o "$work/time.out" -f '%e %M' "$@" >/dev/null 2>/dev/null
    out=$(tail -1 "$work/time.out")
    local secs=${out% *} kb=${out#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs rss=$kb; fi
  done
  echo "$best $rss"
}

threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
read -r t_agent m_agent < <(measure "$agent" -q "${threads[@]}" -r "$big" -o /dev/null)
read -r t_ndpi m_ndpi < <(measure ndpiReader -q -i "$big")
read -r t_read m_read < <(measure "$reader" "$big")

pps() { awk "BEGIN{printf \"%.0f\", $packets / ($1 > 0 ? $1 : 0.001)}"; }
printf '%-22s %10s %14s %12s\n' "" seconds packets/s "peak RSS MB"
printf '%-22s %10s %14s %12.1f\n' "shadowmap-agent${THREADS:+ -t$THREADS}" "$t_agent" "$(pps "$t_agent")" "$(awk "BEGIN{print $m_agent/1024}")"
printf '%-22s %10s %14s %12.1f\n' "ndpiReader -q" "$t_ndpi" "$(pps "$t_ndpi")" "$(awk "BEGIN{print $m_ndpi/1024}")"
printf '%-22s %10s %14s %12.1f\n' "libpcap read loop" "$t_read" "$(pps "$t_read")" "$(awk "BEGIN{print $m_read/1024}")"
awk "BEGIN{printf \"agent vs ndpiReader: %.2fx faster; agent vs plain read: %.2fx slower\n\", $t_ndpi/$t_agent, $t_agent/$t_read}"
