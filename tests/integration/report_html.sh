#!/usr/bin/env bash
# The standalone HTML report (shadowmap-report --format html) of a store
# filled as in production (collector on loopback, agent shipping generated
# traffic, and a batch of names that are markup): well-formed, nothing
# fetched from anywhere, every table there, the same figures as the JSON
# report of the same days, hostile names shown as text. With Chromium at
# hand it is also printed to PDF (build/test-artifacts/report/).
source "$(dirname "$0")/common.bash"
[ -n "${REPORT:-}" ] && [ -x "$REPORT" ] || skip "no shadowmap-report built"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
command -v curl >/dev/null || skip "needs curl"
artifacts=${ARTIFACTS:-$WORKDIR/../../test-artifacts}/report
rm -rf "$artifacts"
mkdir -p "$artifacts"

db=$T/usage.db
port=$(pick_port)
url=http://127.0.0.1:$port
cpid=
cleanup() {
	[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null
}
trap cleanup EXIT

"$COLLECTOR" token create --db "$db" --agent site-1 | tail -1 > "$T/agent.token"
chmod 600 "$T/agent.token"
"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --signatures "$SIGS" \
	--catalog "$SIGS/catalog.example.yaml" 2> "$T/collector.log" &
cpid=$!
wait_healthz "$url"
for s in 1 2 3; do
	"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario basic --seed "$s" \
		--start "2026-03-0$((s * 2))T09:00:00Z" --pcap "$T/s$s.pcap" --truth "$T/s$s.json" \
		>/dev/null 2>&1 || fail "shadowgen seed $s"
	"$AGENT" -q --signatures "$SIGS" -r "$T/s$s.pcap" -o "$T/local-$s.jsonl" \
		--collector "$url" --token-file "$T/agent.token" --spool "$T/sp-$s" \
		2>> "$T/agent.log" || fail "agent $s: $(tail -3 "$T/agent.log")"
done
"$PYTHON" "$SOURCE_DIR/tests/tools/hostile_batch.py" --day 2026-03-03 > "$T/hostile.json"
curl -sf -H "Authorization: Bearer $(cat "$T/agent.token")" -H 'Content-Type: application/json' \
	--data-binary @"$T/hostile.json" "$url/api/v1/batches" > /dev/null || fail "hostile batch refused"
kill -TERM "$cpid"
wait "$cpid"
cpid=

report() {
	"$REPORT" --db "$db" --signatures "$SIGS" --catalog "$SIGS/catalog.example.yaml" "$@" \
		2>> "$T/report.log"
}
report --from 2026-03-01 --to 2026-04-01 --format html -o "$T/report.html" ||
	fail "shadowmap-report --format html: $(tail -3 "$T/report.log")"
report --from 2026-03-01 --to 2026-04-01 --format json -o "$T/report.json" ||
	fail "shadowmap-report --format json: $(tail -3 "$T/report.log")"
cp "$T/report.html" "$artifacts/report.html"
if "$PYTHON" "$SOURCE_DIR/tests/tools/check_report_html.py" "$T/report.html" --json "$T/report.json" \
	--tables gaps-table,categories-table,apps-table,new-apps-table,domains-table \
	--text "xss-test-example.net" --text '<img src=x onerror="window.__pwned=2">' \
	> "$T/check.out" 2>&1; then
	cat "$T/check.out"
	pass "the report of March (3 days of traffic)"
else
	cat "$T/check.out"
	fail "the report of March (above)"
fi
grep -q '&lt;script&gt;\|&lt;img' "$T/report.html" || ! grep -q 'pwned' "$T/report.html" \
	&& pass "hostile names appear escaped or not at all" || fail "a hostile name is in the file raw"

# a period with nothing in it is a report all the same
report --from 2025-01-01 --to 2025-01-08 --format html -o "$T/empty.html" ||
	fail "empty period: $(tail -3 "$T/report.log")"
if "$PYTHON" "$SOURCE_DIR/tests/tools/check_report_html.py" "$T/empty.html" > "$T/empty.out" 2>&1; then
	pass "an empty period gives a well-formed report"
else
	cat "$T/empty.out"
	fail "empty period (above)"
fi

# printed by a browser, offline: a PDF of several pages
chromium=$(command -v chromium || true)
if [ -n "$chromium" ]; then
	timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--no-first-run --disable-background-networking --no-pdf-header-footer \
		--user-data-dir="$T/chromium-profile" \
		--print-to-pdf="$artifacts/report.pdf" "file://$T/report.html" > "$T/print.log" 2>&1
	if [ -s "$artifacts/report.pdf" ]; then
		pages=$(grep -ao '/Count [0-9]*' "$artifacts/report.pdf" | awk '$2 > n { n = $2 } END { print n + 0 }')
		[ "$pages" -ge 2 ] && pass "printed to PDF by Chromium: $pages pages (A4 landscape)" ||
			fail "printed PDF has $pages pages"
		if command -v pdftoppm >/dev/null; then
			pdftoppm -r 50 -png "$artifacts/report.pdf" "$artifacts/page" 2>/dev/null
		fi
	else
		fail "Chromium did not print the report: $(tail -3 "$T/print.log")"
	fi
else
	echo "note: no chromium: the print check is left out"
fi
finish
