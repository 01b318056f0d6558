#!/usr/bin/env bash
# The dashboard in a real browser: a collector on loopback with a week of
# generated traffic (shadowgen basic, shipped by the agent as
# scripts/demo.sh does), driven through Debian's headless Chromium and
# chromedriver (tests/tools/dashboard_browser.py, WebDriver over plain
# HTTP): log-in with the reader token, every page, the figures against the
# JSON API, no request to any other host, sorting, log-out. Screenshots of
# every page go to build/test-artifacts/dashboard/. Without chromium and
# chromium-driver (scripts/install-deps.sh installs them) it is skipped;
# ctest -LE browser leaves it out.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
command -v curl >/dev/null || skip "needs curl"
chromium=$(command -v chromium || true)
chromedriver=$(command -v chromedriver || true)
[ -n "$chromium" ] && [ -n "$chromedriver" ] ||
	skip "needs Debian's chromium and chromium-driver (scripts/install-deps.sh installs them)"
shots=${ARTIFACTS:-$WORKDIR/../../test-artifacts}/dashboard
rm -rf "$shots"
mkdir -p "$shots"

db=$T/usage.db
port=$(pick_port)
url=http://127.0.0.1:$port
cpid=
cleanup() {
	[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null
}
trap cleanup EXIT

"$COLLECTOR" token create --db "$db" --agent site-1 | tail -1 > "$T/agent.token"
"$COLLECTOR" token create --db "$db" --reader it-dashboard | tail -1 > "$T/reader.token"
chmod 600 "$T/agent.token" "$T/reader.token"
"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --signatures "$SIGS" \
	--catalog "$SIGS/catalog.example.yaml" 2> "$T/collector.log" &
cpid=$!
wait_healthz "$url" || { fail "collector did not come up: $(tail -3 "$T/collector.log")"; finish; }

# a few days of the last month, and one day of the month before (the
# previous period of the default range), relative to today so that the
# default range (the last 30 days) shows them too
i=0
for ago in 2 4 5 7 9 12 40; do
	i=$((i + 1))
	day=$(date -u -d "-$ago days" +%F)
	"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario basic --seed "$i" \
		--start "${day}T09:00:00Z" --pcap "$T/s$i.pcap" --truth "$T/s$i.json" >/dev/null 2>&1 ||
		fail "shadowgen day $day"
	"$AGENT" -q --signatures "$SIGS" -r "$T/s$i.pcap" -o "$T/local-$i.jsonl" \
		--collector "$url" --token-file "$T/agent.token" --spool "$T/sp-$i" \
		2>> "$T/agent.log" || fail "agent on day $day: $(tail -3 "$T/agent.log")"
done
# names that are markup, as an agent may send them
"$PYTHON" "$SOURCE_DIR/tests/tools/hostile_batch.py" --day "$(date -u -d '-3 days' +%F)" > "$T/hostile.json"
curl -sf -H "Authorization: Bearer $(cat "$T/agent.token")" -H 'Content-Type: application/json' \
	--data-binary @"$T/hostile.json" "$url/api/v1/batches" > /dev/null || fail "hostile batch refused"
pass "7 days of traffic shipped, and a batch of hostile names"

# without a browser first: what a page does without a session or with
# another method
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$url/dashboard/apps")
[ "$code" = "303 $url/dashboard/login" ] && pass "/dashboard/apps without a cookie: 303 to the log-in form" \
	|| fail "/dashboard/apps without a cookie: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "shadowmap_session=$(printf 'x%.0s' $(seq 43))" "$url/dashboard/")
[ "$code" = 303 ] && pass "an unknown session cookie: 303" || fail "unknown session cookie: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
	--data "token=$(cat "$T/agent.token")" "$url/dashboard/login")
[ "$code" = 403 ] && pass "an agent token does not open the dashboard (403)" || fail "agent token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Origin: http://evil.example' \
	-H 'Content-Type: application/x-www-form-urlencoded' \
	--data "token=$(cat "$T/reader.token")" "$url/dashboard/login")
[ "$code" = 403 ] && pass "a log-in posted from another site is refused (403)" || fail "cross-site log-in: $code"
headers=$(curl -s -D - -o /dev/null "$url/dashboard/login")
grep -qi "^content-security-policy: default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-[A-Za-z0-9+/]*='; img-src data:; form-action 'self'" <<< "$headers" \
	&& pass "pages carry the Content-Security-Policy" || fail "no CSP header: $headers"

from=$(date -u -d '-29 days' +%F)
to=$(date -u +%F)
if "$PYTHON" "$SOURCE_DIR/tests/tools/dashboard_browser.py" --url "$url" \
	--token-file "$T/reader.token" --from "$from" --to "$to" --shots "$shots" \
	--workdir "$T" --chromium "$chromium" --chromedriver "$chromedriver" > "$T/browser.out" 2>&1; then
	cat "$T/browser.out"
else
	cat "$T/browser.out"
	fail "in the browser (above)"
fi
n_shots=$(find "$shots" -name '*.png' | wc -l)
[ "$n_shots" -ge 6 ] && pass "$n_shots screenshots in $shots" || fail "only $n_shots screenshots"

grep -q 'dashboard: 127.0.0.1: "it-dashboard" logged in' "$T/collector.log" &&
	grep -q 'dashboard: 127.0.0.1: "it-dashboard" logged out' "$T/collector.log" &&
	pass "log-in and log-out are logged" || fail "log lines: $(grep dashboard "$T/collector.log" | tail -3)"

# at most 256 sessions: the 257th log-in closes the oldest
login() {
	curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
		--data "token=$(cat "$T/reader.token")" "$url/dashboard/login" |
		sed -n 's/^[Ss]et-[Cc]ookie: shadowmap_session=\([^;]*\);.*/\1/p'
}
oldest=$(login)
for _ in $(seq 256); do login > /dev/null; done
code=$(curl -s -o /dev/null -w '%{http_code}' -b "shadowmap_session=$oldest" "$url/dashboard/unknown-domains")
[ "$code" = 303 ] && grep -q "sessions open: the oldest was closed" "$T/collector.log" &&
	pass "the 257th session closes the oldest (logged)" || fail "session cap: $code"

# revoking the token ends its sessions at their next page
cookie=$(curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
	--data "token=$(cat "$T/reader.token")" "$url/dashboard/login" |
	sed -n 's/^[Ss]et-[Cc]ookie: shadowmap_session=\([^;]*\);.*/\1/p')
code=$(curl -s -o /dev/null -w '%{http_code}' -b "shadowmap_session=$cookie" "$url/dashboard/")
[ "$code" = 200 ] || fail "a fresh session: $code"
"$COLLECTOR" token revoke --db "$db" --reader it-dashboard >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -b "shadowmap_session=$cookie" "$url/dashboard/")
[ "$code" = 303 ] && pass "a revoked token's session is closed at its next page" || fail "revoked token: $code"

kill -TERM "$cpid"
wait "$cpid"
rc=$?
cpid=
[ $rc -eq 0 ] && pass "collector stops cleanly" || fail "collector exit $rc"

# over HTTPS the session cookie is Secure
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
		-keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 || fail "openssl: certificate"
	"$COLLECTOR" token create --db "$db" --reader it-tls | tail -1 > "$T/tls.token"
	"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --signatures "$SIGS" \
		--tls-cert "$T/cert.pem" --tls-key "$T/key.pem" 2>> "$T/collector.log" &
	cpid=$!
	wait_healthz "https://127.0.0.1:$port" --cacert "$T/cert.pem"
	cookie=$(curl -s --cacert "$T/cert.pem" -D - -o /dev/null -X POST \
		-H 'Content-Type: application/x-www-form-urlencoded' \
		--data "token=$(cat "$T/tls.token")" "https://127.0.0.1:$port/dashboard/login" |
		grep -i '^set-cookie:' | tr -d '\r')
	grep -q '; HttpOnly; SameSite=Strict; Secure$' <<< "$cookie" &&
		pass "over HTTPS the session cookie is Secure" || fail "HTTPS cookie: $cookie"
	kill -TERM "$cpid"
	wait "$cpid"
	cpid=
fi
finish
