#!/usr/bin/env bash
# Agents take the collector's signatures (--fetch-signatures): an app the
# organisation added on the collector is known to the agent; an unchanged
# set costs a 304; with the collector away the agent keeps its copy; a
# changed set replaces it.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
command -v curl >/dev/null || skip "needs curl"

db=$T/usage.db
port=$(pick_port)
url=http://127.0.0.1:$port
cpid=
trap '[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null' EXIT
cp -r "$SIGS" "$T/sigs"
cat > "$T/sigs/apps/zz-local.yaml" <<'Y'
apps:
  - slug: boardly
    name: Boardly
    vendor: Boardly Example Ltd
    category: whiteboard
    domains: [boardly-example.io]
Y
"$COLLECTOR" token create --db "$db" --agent a1 | tail -1 > "$T/token"
chmod 600 "$T/token"
start() {
	"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --signatures "$T/sigs" \
		2>> "$T/collector.log" &
	cpid=$!
	wait_healthz "$url"
}
lookup() {
	"$AGENT" --collector "$url" --token-file "$T/token" --spool "$T/spool" \
		--fetch-signatures yes --lookup eu.app.boardly-example.io 2> "$T/agent.err" | cut -f2
}
start
[ "$(lookup)" = boardly ] && pass "fetched: the collector's local app is known to the agent" \
	|| fail "fetch: got '$(lookup)': $(cat "$T/agent.err")"
[ -s "$T/spool/signatures.etag" ] && [ -d "$T/spool/signatures/apps" ] \
	&& pass "the set and its ETag are kept in the spool" || fail "no copy in the spool"
etag=$(cat "$T/spool/signatures.etag")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/token")" \
	-H "If-None-Match: $etag" "$url/api/v1/signatures")
[ "$code" = 304 ] && pass "the kept ETag gets a 304" || fail "If-None-Match: HTTP $code"
[ "$(lookup)" = boardly ] && ! grep -q "now in" "$T/agent.err" \
	&& pass "unchanged: nothing downloaded, the copy used" || fail "unchanged: $(cat "$T/agent.err")"

kill -TERM "$cpid"; wait "$cpid"; cpid=
[ "$(lookup)" = boardly ] && grep -q "using the copy" "$T/agent.err" \
	&& pass "collector away: the kept copy is used, with a warning" \
	|| fail "collector away: $(cat "$T/agent.err")"

rm "$T/sigs/apps/zz-local.yaml"
start
[ "$(lookup)" = - ] && pass "a changed set replaces the copy" || fail "changed set: $(cat "$T/agent.err")"
"$AGENT" --signatures "$SIGS" --collector "$url" --token-file "$T/token" --spool "$T/spool" \
	--fetch-signatures yes --lookup x.com > /dev/null 2> "$T/both.err"
[ $? -eq 2 ] && pass "--signatures with --fetch-signatures: usage error" \
	|| fail "both: $(cat "$T/both.err")"
kill -TERM "$cpid"; wait "$cpid"; cpid=
finish
