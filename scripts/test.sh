#!/usr/bin/env bash
# Builds shadowmap twice (plain, then ASan+UBSan with warnings as errors)
# and runs the whole test suite in both. Installs what is missing first.
# Usage: scripts/test.sh [ctest arguments, e.g. -R unit]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

run() {
  local dir=$1; shift
  echo "== build $dir ($*)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "${ctest_args[@]}")
}

ctest_args=("$@")
run build -DSHADOWMAP_WERROR=ON
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run build-asan -DSHADOWMAP_SANITIZE=ON -DSHADOWMAP_WERROR=ON
echo "== all tests passed in both builds"
