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

# One run: wall-clock seconds and peak RSS (KB) of a command.
run_once() {
  /usr/bin/time -o "$work/time.out" -f '%e %M' "$@" >/dev/null 2>/dev/null
  tail -1 "$work/time.out"
}

threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
# The three take turns, round after round, so that a busy moment of a
# shared machine weighs on all of them alike; each ratio is taken within
# one round, and the figures below are the best and the median of the
# rounds.
: > "$work/rounds.tsv"
for _ in $(seq "$runs"); do
  read -r ta ma < <(run_once "$agent" -q ${threads[@]+"${threads[@]}"} -r "$big" -o /dev/null)
  read -r tn mn < <(run_once ndpiReader -q -i "$big")
  read -r tr mr < <(run_once "$reader" "$big")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ta" "$ma" "$tn" "$mn" "$tr" "$mr" >> "$work/rounds.tsv"
done

/usr/bin/python3 - "$work/rounds.tsv" "$packets" "shadowmap-agent${THREADS:+ -t$THREADS}" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
packets = int(sys.argv[2])
names = [sys.argv[3], "ndpiReader -q", "libpcap read loop"]
print("%-22s %16s %22s %12s" % ("", "seconds best/med", "packets/s best/med", "peak RSS MB"))
for i, name in enumerate(names):
    t = [r[2 * i] for r in rows]
    m = max(r[2 * i + 1] for r in rows) / 1024
    best, med = min(t), statistics.median(t)
    print("%-22s %7.2f / %6.2f %10.0f / %9.0f %12.1f"
          % (name, best, med, packets / max(best, 1e-3), packets / max(med, 1e-3), m))
vs_ndpi = [r[2] / r[0] for r in rows]
vs_read = [r[0] / r[4] for r in rows]
print("agent vs ndpiReader: %.2fx faster (median of %d rounds; best %.2fx)"
      % (statistics.median(vs_ndpi), len(rows), max(vs_ndpi)))
print("agent vs plain read: %.2fx slower (median of %d rounds; best %.2fx, worst %.2fx)"
      % (statistics.median(vs_read), len(rows), min(vs_read), max(vs_read)))
PY
