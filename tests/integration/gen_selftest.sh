#!/usr/bin/env bash
# The traffic generator and its checkers judge themselves: RFC vectors for
# the QUIC crypto, perfect outputs pass, every kind of damage fails.
source "$(dirname "$0")/common.bash"
PYTHON=$PYTHON bash "$SOURCE_DIR/tests/gen/selftest.sh" > "$T/selftest.log" 2>&1
rc=$?
tail -3 "$T/selftest.log"
[ $rc -eq 0 ] || fail "tests/gen/selftest.sh (log: $T/selftest.log)"
finish
