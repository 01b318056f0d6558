#!/usr/bin/env bash
# Report generation over an organisation's month: bench/report-fill writes
# USERS clients over DAYS days into a store (through the store library, as
# the collector does), then shadowmap-report builds the period's report in
# each format; prints wall and CPU time and peak memory per format, best of
# RUNS. The issue's target: 30 days of 5,000 users in under 2 seconds.
#
# usage: bench/report.sh [BUILD_DIR]   (default: build)
# env:   USERS=5000 DAYS=30 RUNS=3
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
users=${USERS:-5000}
days=${DAYS:-30}
runs=${RUNS:-3}
work=$top/bench/work
db=$work/report-$users-$days.db
report=$build/shadowmap-report
fill=$build/bench/report-fill

[ -x "$report" ] && [ -x "$fill" ] || { echo "build first: cmake --build $build" >&2; exit 2; }
mkdir -p "$work"
start=2026-10-01
to=$(date -u -d "$start + $days days" +%F)
if [ ! -s "$db" ]; then
  echo "filling $db ($users users, $days days) ..."
  rm -f "$db" "$db-wal" "$db-shm"
  "$fill" "$db" "$users" "$days" "$start" 2>/dev/null
fi
rows=$(sqlite3 "$db" "SELECT count(*) FROM usage_daily")
echo "store: $db: $rows daily rows, $(du -mL "$db" | cut -f1) MB"
printf '%-8s %10s %10s %12s\n' format "wall s" "cpu s" "peak RSS MB"
for fmt in json html csv; do
  out=$work/report.$fmt
  [ "$fmt" = csv ] && out=$work/report-csv
  best=
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %U %S %M' -o "$work/time.out" \
      "$report" --db "$db" --from "$start" --to "$to" --format "$fmt" -o "$out" \
      --catalog "$top/signatures/catalog.example.yaml" 2>/dev/null
    read -r wall user sys kb < "$work/time.out"
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then
      best=$wall cpu=$(awk "BEGIN{print $user + $sys}") mem=$kb
    fi
  done
  printf '%-8s %10s %10s %12.1f\n' "$fmt" "$best" "$cpu" "$(awk "BEGIN{print $mem/1024}")"
done
