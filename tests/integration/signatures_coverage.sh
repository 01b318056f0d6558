#!/usr/bin/env bash
# Breadth and precision of the signatures on real host names: every name in
# tests/tools/coverage_hosts.tsv gets the app and category written there
# from `shadowmap-agent --lookup`, and the names that belong to no SaaS app
# (generic CDNs, OS and update services, trackers, shared sign-in, cloud
# providers' raw hosts; "-" in the file) get none. Lists every mismatch and
# prints the share of names that are right.
source "$(dirname "$0")/common.bash"
HOSTS=$SOURCE_DIR/tests/tools/coverage_hosts.tsv
[ -f "$HOSTS" ] || { fail "no $HOSTS"; finish; }

# The expected rows, without comments and blank lines.
grep -v -e '^#' -e '^[[:space:]]*$' "$HOSTS" > "$T/expected.tsv"
cut -f1 "$T/expected.tsv" > "$T/names"
if ! xargs -d '\n' "$AGENT" --signatures "$SIGS" --lookup < "$T/names" > "$T/got.tsv" 2> "$T/err"; then
	fail "--lookup failed: $(head -3 "$T/err")"
	finish
fi

if "$PYTHON" - "$T/expected.tsv" "$T/got.tsv" > "$T/report" <<'PY'; then
import sys

expected = [line.rstrip('\n').split('\t') for line in open(sys.argv[1])]
got = [line.rstrip('\n').split('\t') for line in open(sys.argv[2])]
problems = []
for i, row in enumerate(expected):
    if len(row) != 3 or not all(row):
        problems.append('malformed row %d: %r' % (i + 1, row))
if len(got) != len(expected):
    problems.append('%d names looked up, %d answers' % (len(expected), len(got)))
seen = set()
for row in expected:
    if row[0] in seen:
        problems.append('%s listed twice' % row[0])
    seen.add(row[0])
positive = sum(1 for r in expected if len(r) == 3 and r[1] != '-')
negative = len(expected) - positive
if positive < 300:
    problems.append('only %d SaaS names (at least 300 wanted)' % positive)
if negative < 60:
    problems.append('only %d names that must match no app (at least 60 wanted)' % negative)

right = {True: 0, False: 0}
wrong = []
for want, have in zip(expected, got):
    if len(want) != 3 or len(have) < 3:
        continue
    host, app, cat = want
    ok = have[0] == host and have[1] == app and have[2] == cat
    right[app != '-'] += ok
    if not ok:
        wrong.append('%s: expected %s (%s), got %s (%s)' % (
            host, app, cat, have[1], have[2]))
for line in problems + wrong:
    print('MISMATCH ' + line)
total = len(expected)
print('%d of %d names right (%.1f%%): %d of %d SaaS names, %d of %d non-SaaS names' % (
    right[True] + right[False], total, 100.0 * (right[True] + right[False]) / max(total, 1),
    right[True], positive, right[False], negative))
sys.exit(1 if problems or wrong else 0)
PY
	pass "$(tail -1 "$T/report")"
else
	grep '^MISMATCH' "$T/report" | sed 's/^MISMATCH /  /'
	fail "coverage hosts: $(tail -1 "$T/report")"
fi
finish
