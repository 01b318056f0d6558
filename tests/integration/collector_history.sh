#!/usr/bin/env bash
# History follows knowledge: a month of usage of a service no signature
# knows is stored; then a signature for it is added and the collector told
# (SIGHUP): the whole month, with its distinct users, moves to the new app.
# Then the catalog changes, and the app's status changes for all of it.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
command -v curl >/dev/null || skip "needs curl"

db=$T/usage.db
port=$(pick_port)
url=http://127.0.0.1:$port
cpid=
trap '[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null' EXIT

cp -r "$SIGS" "$T/sigs"
printf 'apps: []\n' > "$T/catalog.yaml"
agent_token=$("$COLLECTOR" token create --db "$db" --agent month | tail -1)
reader_token=$("$COLLECTOR" token create --db "$db" --reader tests | tail -1)
"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --signatures "$T/sigs" \
	--catalog "$T/catalog.yaml" 2> "$T/collector.log" &
cpid=$!
wait_healthz "$url"

# A month (March 2026): 7 people use boardly (unknown), 12 use Slack.
"$PYTHON" - "$url" "$agent_token" > "$T/sent.txt" <<'PY' || fail "posting the month failed"
import gzip, json, sys, urllib.request, uuid
url, token = sys.argv[1], sys.argv[2]
recs, bytes_boardly = [], 0
for day in range(1, 32):
    for c in range(12):
        host, dom = ("files.slack.com", "slack.com")
        recs.append((day, c, host, dom, "slack", "messaging"))
        if c < 7 and day % (c + 1) == 0:
            recs.append((day, c, "eu.app.boardly-example.io", "boardly-example.io", None, None))
def rec(day, c, host, dom, app, cat):
    return {"schema": "shadowmap.usage/1", "bucket_start": "2026-03-%02dT10:05:00Z" % day,
            "bucket_seconds": 300, "client": "10.1.0.%d" % (c + 1), "host": host,
            "domain": dom, "app": app, "category": cat, "ndpi_proto": "TLS",
            "flows": 2, "packets": 40, "bytes_up": 1000 + c, "bytes_down": 9000 + day,
            "first_seen": "2026-03-%02dT10:05:01.000Z" % day,
            "last_seen": "2026-03-%02dT10:09:00.000Z" % day}
for i in range(0, len(recs), 100):
    body = {"schema": "shadowmap.batch/1", "batch_id": str(uuid.uuid4()),
            "created": "2026-04-01T00:00:00Z", "records": [rec(*r) for r in recs[i:i + 100]]}
    req = urllib.request.Request(url + "/api/v1/batches", data=gzip.compress(json.dumps(body).encode()),
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json",
                                          "Content-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        assert json.load(r)["status"] == "stored"
b = [r for r in recs if r[2].endswith("boardly-example.io")]
print(len(b), len({r[1] for r in b}), sum(1000 + r[1] + 9000 + r[0] for r in b))
PY
read -r n_boardly users_boardly bytes_boardly < "$T/sent.txt"

api() {
	curl -sf -H "Authorization: Bearer $reader_token" "$url/api/v1/$1"
}
# app_field APP FIELD: a field of an app's row in /api/v1/apps ("absent" when no row)
app_field() {
	api apps | "$PYTHON" -c '
import json, sys
rows = [a for a in json.load(sys.stdin)["apps"] if a["app"] == (sys.argv[1] or None)]
print(rows[0][sys.argv[2]] if rows else "absent")' "$1" "$2"
}
unknown_has() {
	api unknown-domains | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
rows = d.get("domains", d.get("unknown_domains", []))
print(any(r["domain"] == sys.argv[1] for r in rows))' "$1"
}

[ "$(app_field boardly absent)" = absent ] && [ "$(unknown_has boardly-example.io)" = True ] \
	&& pass "before: boardly-example.io is an unknown domain" \
	|| fail "before: boardly should be unknown"

# new knowledge: a signature for it, and SIGHUP
cat > "$T/sigs/apps/zz-local.yaml" <<'EOF'
apps:
  - slug: boardly
    name: Boardly
    vendor: Boardly Example Ltd
    category: whiteboard
    domains: [boardly-example.io]
EOF
kill -HUP "$cpid"
for _ in $(seq 50); do [ "$(app_field boardly users)" != absent ] && break; sleep 0.1; done
users=$(app_field boardly users)
bytes=$(api apps | "$PYTHON" -c '
import json, sys
a = [a for a in json.load(sys.stdin)["apps"] if a["app"] == "boardly"][0]
print(a["bytes_up"] + a["bytes_down"], a["category"], a["status"])')
[ "$users" = "$users_boardly" ] && pass "after a new signature: the month's $users users moved to boardly" \
	|| fail "after a new signature: boardly users $users, want $users_boardly"
[ "$bytes" = "$bytes_boardly whiteboard not-in-catalog" ] \
	&& pass "after a new signature: bytes and category follow ($bytes)" \
	|| fail "after a new signature: got '$bytes', want '$bytes_boardly whiteboard not-in-catalog'"
[ "$(unknown_has boardly-example.io)" = False ] && pass "after: no longer an unknown domain" \
	|| fail "after: boardly-example.io still unknown"

# the catalog changes: status follows, for the whole month
printf 'apps:\n  - app: boardly\n    status: banned\n  - app: slack\n    status: sanctioned\n' \
	> "$T/catalog.yaml"
kill -HUP "$cpid"
for _ in $(seq 50); do [ "$(app_field boardly status)" = banned ] && break; sleep 0.1; done
[ "$(app_field boardly status)" = banned ] && [ "$(app_field slack status)" = sanctioned ] \
	&& pass "after a catalog change: boardly banned, slack sanctioned" \
	|| fail "after a catalog change: boardly $(app_field boardly status), slack $(app_field slack status)"

# a broken catalog on reload: logged with its line, the old one stays
printf 'apps:\n  - app: boardly\n    status: aproved\n' > "$T/catalog.yaml"
kill -HUP "$cpid"
wait_log "$T/collector.log" "catalog.yaml:3:" && pass "broken catalog on reload: logged with its line" \
	|| fail "broken catalog: no file:line in the log: $(tail -2 "$T/collector.log")"
[ "$(app_field boardly status)" = banned ] && pass "broken catalog on reload: the old one stays" \
	|| fail "broken catalog: status now $(app_field boardly status)"
kill -TERM "$cpid"; wait "$cpid"; cpid=
finish
