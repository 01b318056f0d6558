#!/usr/bin/env bash
# The signatures on every server name of the shared nDPI corpus: the names
# that tests/tools/corpus_names.py reads from the captures (SNI, QUIC SNI,
# HTTP Host, DNS questions) are exactly those of the reviewed
# tests/golden/corpus_names.tsv, and `shadowmap-agent --lookup` gives each
# the app and category written there ("-" for the names of no app). Lists
# every difference and prints the coverage: names of SaaS apps named right,
# names of no app named as none. An outside measure: the corpus is not ours.
source "$(dirname "$0")/common.bash"
GOLDEN=$SOURCE_DIR/tests/golden/corpus_names.tsv
[ -d "$CORPUS/ndpi" ] || skip "no corpus at $CORPUS/ndpi"
[ -f "$GOLDEN" ] || { fail "no $GOLDEN"; finish; }

if ! "$PYTHON" "$SOURCE_DIR/tests/tools/corpus_names.py" --stats "$T/stats" "$CORPUS/ndpi" \
	> "$T/names.tsv" 2> "$T/err"; then
	fail "corpus_names.py failed: $(tail -3 "$T/err")"
	finish
fi
sed 's/^/  /' "$T/stats"
cut -f1 "$T/names.tsv" > "$T/names"
if ! xargs -d '\n' "$AGENT" --signatures "$SIGS" --lookup < "$T/names" > "$T/got.tsv" 2> "$T/err"; then
	fail "--lookup failed: $(head -3 "$T/err")"
	finish
fi

if "$PYTHON" - "$GOLDEN" "$T/names.tsv" "$T/got.tsv" > "$T/report" <<'PY'; then
import collections
import sys

golden, problems = {}, []
for i, line in enumerate(open(sys.argv[1]), 1):
    if line.startswith('#') or not line.strip():
        continue
    row = line.rstrip('\n').split('\t')
    if len(row) < 5 or not all(row[:5]):
        problems.append('golden line %d malformed: %r' % (i, line))
        continue
    name, kinds, app, cat, cls = row[:5]
    if name in golden:
        problems.append('golden line %d: %s listed twice' % (i, name))
    if (app == '-') != (cat == '-') or (app == '-') == (cls == 'app'):
        problems.append('golden line %d: %s: app %s, category %s, class %s do not agree'
                        % (i, name, app, cat, cls))
    golden[name] = (kinds, app, cat, cls)

found = {}
for line in open(sys.argv[2]):
    name, kinds, caps = line.rstrip('\n').split('\t')
    found[name] = (kinds, caps)
for name in sorted(set(found) - set(golden)):
    problems.append('%s (%s, in %s) is in the corpus but not in the golden file'
                    % (name, found[name][0], found[name][1]))
for name in sorted(set(golden) - set(found)):
    problems.append('%s is in the golden file but no longer in the corpus' % name)
for name in sorted(set(golden) & set(found)):
    if golden[name][0] != found[name][0]:
        problems.append('%s: seen as %s, the golden file says %s (in %s)'
                        % (name, found[name][0], golden[name][0], found[name][1]))

got = {}
for line in open(sys.argv[3]):
    row = line.rstrip('\n').split('\t')
    if len(row) >= 3:               # name, app, category[, registrable domain]
        got[row[0]] = (row[1], row[2])
if set(got) != set(found):
    problems.append('%d names looked up, %d answers' % (len(found), len(got)))

right = collections.Counter()
total = collections.Counter()
kinds_app, kinds_right = collections.Counter(), collections.Counter()
wrong = []
for name in sorted(set(golden) & set(got)):
    kinds, app, cat, cls = golden[name]
    side = 'app' if app != '-' else ('uncovered' if cls == 'saas-not-covered' else 'none')
    ok = got[name] == (app, cat)
    total[side] += 1
    right[side] += ok
    if side == 'app':
        for k in kinds.split(','):
            kinds_app[k] += 1
            kinds_right[k] += ok
    if not ok:
        wrong.append('%s: expected %s (%s), got %s (%s)' % (name, app, cat, got[name][0], got[name][1]))
for line in problems + wrong:
    print('MISMATCH ' + line)

pct = lambda a, b: 100.0 * a / b if b else 0.0
print('names of SaaS apps named right, by kind: ' + ', '.join(
    '%s %d/%d' % (k, kinds_right[k], kinds_app[k]) for k in ('sni', 'quic', 'http', 'dns')))
print('SaaS apps the catalog cannot name (saas-not-covered): %d names; with them, %.1f%% of SaaS names are named'
      % (total['uncovered'], pct(right['app'], total['app'] + total['uncovered'])))
print('%d names: %d of %d names of SaaS apps named right (%.1f%%), %d of %d names of no app named as none'
      % (len(golden), right['app'], total['app'], pct(right['app'], total['app']),
         right['none'] + right['uncovered'], total['none'] + total['uncovered']))
sys.exit(1 if problems or wrong else 0)
PY
	grep -v '^MISMATCH' "$T/report" | sed '$d' | sed 's/^/  /'
	pass "corpus names: $(tail -1 "$T/report")"
else
	grep '^MISMATCH' "$T/report" | sed 's/^MISMATCH /  /'
	grep -v '^MISMATCH' "$T/report" | sed 's/^/  /'
	fail "corpus names differ from $GOLDEN (judge new names by hand; fix the signatures, not the expectation)"
fi
finish
