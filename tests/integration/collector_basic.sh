#!/usr/bin/env bash
# The collector end to end, with curl(1) as the client: tokens, health,
# ingest (identity and gzip, duplicates, every kind of refusal: nothing
# refused is stored), totals equal to what was sent, from/to filters, the
# signature document and its ETag, SIGHUP with a broken catalog, a clean
# stop on SIGTERM that loses no acknowledged batch, and HTTPS.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
command -v curl >/dev/null || skip "needs curl"

db=$T/usage.db
cpid=
trap '[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null' EXIT

# start_collector LOG ARGS...: serves on a port the kernel picks (listen
# port 0) and sets $port and $cpid once it listens. LOG is a new file.
start_collector() {
	local log=$1
	shift
	rm -f "$log"
	"$COLLECTOR" serve --listen 127.0.0.1:0 --db "$db" --signatures "$SIGS" "$@" \
		2>> "$log" &
	cpid=$!
	port=
	for _ in $(seq 200); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' "$log" | tail -1)
		[ -n "$port" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$port" ] || { fail "collector did not start: $(tail -3 "$log")"; finish; }
}

# call NAME WANT_STATUS CURL_ARGS...: the status must be WANT_STATUS; the
# body is left in $T/body
call() {
	local name=$1 want=$2
	shift 2
	local got
	rm -f "$T/body"
	got=$(curl -s -o "$T/body" -w '%{http_code}' "$@")
	touch "$T/body"
	if [ "$got" = "$want" ]; then
		pass "$name: $got $(head -c 200 "$T/body")"
	else
		fail "$name: status $got, expected $want: $(head -c 300 "$T/body")"
	fi
}

# body_field FIELD: a top-level field of $T/body
body_field() {
	"$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' \
		"$T/body" "$1"
}

# ---- tokens ----
"$COLLECTOR" token create --db "$db" --agent gw-1 > "$T/tok.out" 2> "$T/tok.err"
agent=$(tail -1 "$T/tok.out")
[[ $agent =~ ^smk_[A-Za-z0-9_-]{43}$ ]] && pass "token create: a token alone on the last line" \
	|| fail "token create: last line is '$agent'"
reader=$("$COLLECTOR" token create --db "$db" --reader dashboard 2>/dev/null | tail -1)
old=$("$COLLECTOR" token create --db "$db" --agent gw-old 2>/dev/null | tail -1)
"$COLLECTOR" token create --db "$db" --agent gw-1 > /dev/null 2> "$T/err"
[ $? -eq 1 ] && grep -q "gw-1" "$T/err" && pass "token create: a live name twice is refused" \
	|| fail "token create twice: $(cat "$T/err")"
"$COLLECTOR" token create --db "$db" --agent 'bad name' > /dev/null 2>&1
[ $? -eq 2 ] && pass "token create: a bad name is a usage error (2)" || fail "bad token name accepted"
"$COLLECTOR" token create --db "$db" > /dev/null 2>&1
[ $? -eq 2 ] && pass "token create without a role: 2" || fail "token create without a role"
"$COLLECTOR" token revoke --db "$db" --agent gw-old 2> "$T/err" \
	&& pass "token revoke: $(cat "$T/err")" || fail "token revoke: $(cat "$T/err")"
"$COLLECTOR" token revoke --db "$db" --agent gw-old 2> /dev/null
[ $? -eq 1 ] && pass "token revoke: no live token of that name: 1" || fail "revoke twice"
"$COLLECTOR" token list --db "$db" > "$T/list" 2>&1
if grep -q "^gw-1 *agent .* live$" "$T/list" && grep -q "^dashboard *reader .* live$" "$T/list" &&
	grep -q "^gw-old *agent .* revoked$" "$T/list" && ! grep -q "smk_" "$T/list"; then
	pass "token list: names, roles, states, no secrets"
else
	fail "token list: $(cat "$T/list")"
fi

# ---- batches to send ----
"$PYTHON" - "$T" <<'PY' || fail "generating batches"
import gzip, json, sys, uuid
t = sys.argv[1]
def rec(day, minute, client, host, dom, app, cat, flows, packets, up, down):
    start = "2026-03-%02dT09:%02d:00Z" % (day, minute)
    return {"schema": "shadowmap.usage/1", "bucket_start": start, "bucket_seconds": 300,
            "client": client, "host": host, "domain": dom, "app": app, "category": cat,
            "ndpi_proto": "TLS", "flows": flows, "packets": packets, "bytes_up": up,
            "bytes_down": down, "first_seen": start[:-1] + ".250Z",
            "last_seen": "2026-03-%02dT09:%02d:59.999Z" % (day, minute + 4)}
def batch(recs, bid=None):
    return {"schema": "shadowmap.batch/1", "batch_id": bid or str(uuid.uuid4()),
            "agent_version": "test", "created": "2026-03-06T00:00:00Z", "records": recs}
# day 1: identity; day 5: gzip
b1 = batch([rec(1, 5 * (i % 12), "10.0.0.%d" % (i % 7 + 1), "zoom.us", "zoom.us", "zoom",
                "video-conferencing", i % 3, 10 + i, 1000 + i, 5000 + 2 * i) for i in range(40)])
b2 = batch([rec(5, 5 * (i % 12), "2001:db8::%x" % (i % 5 + 1), "files.slack.com", "slack.com",
                "slack", "messaging", 1, 20 + i, 300 + i, 7000 + i) for i in range(25)]
           + [rec(5, 0, "10.0.0.9", "www.no-such-saas-example.net", "no-such-saas-example.net",
                  None, None, 1, 3, 33, 44)])
open(t + "/b1.json", "w").write(json.dumps(b1))
open(t + "/b2.json.gz", "wb").write(gzip.compress(json.dumps(b2).encode()))
def sums(*bs):
    rs = [r for b in bs for r in b["records"]]
    return " ".join(str(x) for x in (len(rs), sum(r["flows"] for r in rs),
                    sum(r["packets"] for r in rs), sum(r["bytes_up"] for r in rs),
                    sum(r["bytes_down"] for r in rs)))
open(t + "/sum-all", "w").write(sums(b1, b2) + "\n")
open(t + "/sum-1", "w").write(sums(b1) + "\n")
open(t + "/sum-5", "w").write(sums(b2) + "\n")
# bad ones
good = rec(2, 0, "10.0.0.1", "zoom.us", "zoom.us", "zoom", "video-conferencing", 1, 1, 1, 1)
def bad(field, value):
    r = dict(good)
    r[field] = value
    return json.dumps(batch([good, r]))
open(t + "/bad-type.json", "w").write(bad("bytes_up", "12"))
open(t + "/bad-neg.json", "w").write(bad("packets", -1))
open(t + "/bad-float.json", "w").write(bad("flows", 1.5))
open(t + "/bad-time.json", "w").write(bad("last_seen", "2026-03-02T08:00:00.000Z"))
open(t + "/bad-json.json", "w").write(json.dumps(batch([good]))[:-5])
open(t + "/good-day2.json", "w").write(json.dumps(batch([good])))
# a gzip bomb: 200 MiB of spaces in about 200 KiB
open(t + "/bomb.gz", "wb").write(gzip.compress(b" " * (200 << 20), 9))
# a body over 16 MiB
open(t + "/huge.json", "w").write(" " * (17 << 20))
# the batch sent while the collector stops: 10,000 records
big = batch([rec(3, 5 * (i % 12), "10.1.%d.%d" % (i // 250, i % 250 + 1), "zoom.us", "zoom.us",
                 "zoom", "video-conferencing", 1, 2, 3, 4) for i in range(10000)])
open(t + "/big.json.gz", "wb").write(gzip.compress(json.dumps(big).encode()))
PY

cp "$SOURCE_DIR/signatures/catalog.example.yaml" "$T/catalog.yaml"
log=$T/collector.log
start_collector "$log" --catalog "$T/catalog.yaml"
url=http://127.0.0.1:$port
A=(-H "Authorization: Bearer $agent" -H "Content-Type: application/json")
Rd=(-H "Authorization: Bearer $reader")

call "healthz" 200 "$url/healthz"
[ "$(body_field status)" = ok ] || fail "healthz: status is not ok"

# ---- ingest ----
call "POST identity batch" 200 "${A[@]}" --data-binary @"$T/b1.json" "$url/api/v1/batches"
[ "$(body_field status) $(body_field records)" = "stored 40" ] || fail "b1: $(cat "$T/body")"
call "POST gzip batch" 200 "${A[@]}" -H "Content-Encoding: gzip" \
	--data-binary @"$T/b2.json.gz" "$url/api/v1/batches"
[ "$(body_field status) $(body_field records)" = "stored 26" ] || fail "b2: $(cat "$T/body")"
call "POST the same batch again" 200 "${A[@]}" --data-binary @"$T/b1.json" "$url/api/v1/batches"
[ "$(body_field status)" = duplicate ] && pass "replay: duplicate" || fail "replay: $(cat "$T/body")"
call "replay gzip'd" 200 "${A[@]}" -H "Content-Encoding: gzip" \
	--data-binary @"$T/b2.json.gz" "$url/api/v1/batches"
[ "$(body_field status)" = duplicate ] || fail "gzip replay: $(cat "$T/body")"

totals() {
	curl -s "${Rd[@]}" "$url/api/v1/totals$1" | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)
print(t["records"], t["flows"], t["packets"], t["bytes_up"], t["bytes_down"])'
}
want=$(cat "$T/sum-all")
got=$(totals "")
[ "$got" = "$want" ] && pass "totals equal what was sent: $got" || fail "totals $got, sent $want"

# ---- refusals: none of them stores anything ----
call "bad JSON" 400 "${A[@]}" --data-binary @"$T/bad-json.json" "$url/api/v1/batches"
call "a string for a number" 400 "${A[@]}" --data-binary @"$T/bad-type.json" \
	"$url/api/v1/batches"
[ "$(body_field where)" = "records[1].bytes_up" ] && pass "the place is named: records[1].bytes_up" \
	|| fail "where: $(cat "$T/body")"
call "a negative counter" 400 "${A[@]}" --data-binary @"$T/bad-neg.json" "$url/api/v1/batches"
call "a fraction" 400 "${A[@]}" --data-binary @"$T/bad-float.json" "$url/api/v1/batches"
call "last_seen before first_seen" 422 "${A[@]}" --data-binary @"$T/bad-time.json" \
	"$url/api/v1/batches"
call "no token" 401 -H "Content-Type: application/json" --data-binary @"$T/good-day2.json" \
	"$url/api/v1/batches"
[ "$(body_field error)" = "missing or unknown token" ] || fail "401 body: $(cat "$T/body")"
call "a wrong token" 401 -H "Authorization: Bearer smk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	-H "Content-Type: application/json" --data-binary @"$T/good-day2.json" "$url/api/v1/batches"
call "a revoked token" 401 -H "Authorization: Bearer $old" -H "Content-Type: application/json" \
	--data-binary @"$T/good-day2.json" "$url/api/v1/batches"
call "a reader token posting" 403 "${Rd[@]}" -H "Content-Type: application/json" \
	--data-binary @"$T/good-day2.json" "$url/api/v1/batches"
call "an agent token reading" 403 -H "Authorization: Bearer $agent" "$url/api/v1/totals"
call "a body over 16 MiB" 413 "${A[@]}" --data-binary @"$T/huge.json" "$url/api/v1/batches"
call "a chunked body over 16 MiB" 413 "${A[@]}" -H "Transfer-Encoding: chunked" \
	--data-binary @"$T/huge.json" "$url/api/v1/batches"
call "a gzip bomb" 413 "${A[@]}" -H "Content-Encoding: gzip" --data-binary @"$T/bomb.gz" \
	"$url/api/v1/batches"
call "Content-Encoding: br" 415 "${A[@]}" -H "Content-Encoding: br" \
	--data-binary @"$T/good-day2.json" "$url/api/v1/batches"
call "Content-Type: text/plain" 415 -H "Authorization: Bearer $agent" \
	-H "Content-Type: text/plain" --data-binary @"$T/good-day2.json" "$url/api/v1/batches"
call "GET on the ingest path" 405 "${A[@]}" "$url/api/v1/batches"
call "an unknown path" 404 "$url/api/v2/everything"
got=$(totals "")
[ "$got" = "$want" ] && pass "after the refusals nothing changed: $got" \
	|| fail "after refusals: totals $got, want $want"

# ---- queries ----
[ "$(totals "?from=2026-03-05")" = "$(cat "$T/sum-5")" ] && pass "from=2026-03-05: day 5 only" \
	|| fail "from=2026-03-05: $(totals "?from=2026-03-05"), want $(cat "$T/sum-5")"
[ "$(totals "?to=2026-03-01")" = "$(cat "$T/sum-1")" ] && pass "to=2026-03-01: the whole of day 1" \
	|| fail "to=2026-03-01: $(totals "?to=2026-03-01"), want $(cat "$T/sum-1")"
[ "$(totals "?from=2026-03-01T00:00:00Z&to=2026-03-01T09:30:00Z" | cut -d' ' -f1)" -gt 0 ] \
	&& [ "$(totals "?from=2026-03-02&to=2026-03-04" | cut -d' ' -f1)" = 0 ] \
	&& pass "from/to as RFC 3339 times and empty ranges" || fail "from/to times"
call "from=garbage" 400 "${Rd[@]}" "$url/api/v1/apps?from=yesterday"
[ "$(body_field where)" = from ] || fail "bad from: $(cat "$T/body")"
call "to before from" 400 "${Rd[@]}" "$url/api/v1/apps?from=2026-03-05&to=2026-03-01"

app_field() {
	curl -s "${Rd[@]}" "$url/api/v1/apps" | "$PYTHON" -c '
import json, sys
rows = [a for a in json.load(sys.stdin)["apps"] if a["app"] == sys.argv[1]]
print(" ".join(str(rows[0][f]) for f in sys.argv[2:]) if rows else "absent")' "$@"
}
[ "$(app_field zoom status category users)" = "tolerated video-conferencing 7" ] \
	&& pass "apps: zoom is tolerated, 7 users" || fail "apps zoom: $(app_field zoom status category users)"
[ "$(app_field slack status)" = "not-in-catalog" ] && pass "apps: slack is not in the catalog" \
	|| fail "apps slack: $(app_field slack status)"
call "categories" 200 "${Rd[@]}" "$url/api/v1/categories"
"$PYTHON" -c '
import json, sys
c = {r["category"]: r for r in json.load(open(sys.argv[1]))["categories"]}
assert "microsoft-teams" in c["video-conferencing"]["sanctioned_apps"], c
assert c["messaging"]["users"] == 5, c["messaging"]' "$T/body" \
	&& pass "categories: sanctioned apps and users" || fail "categories: $(head -c 400 "$T/body")"
call "clients" 200 "${Rd[@]}" "$url/api/v1/clients"
"$PYTHON" -c '
import json, sys
c = {r["client"] for r in json.load(open(sys.argv[1]))["clients"]}
assert "2001:db8::1" in c and "10.0.0.9" in c and len(c) == 13, c' "$T/body" \
	&& pass "clients: 13, IPv6 too" || fail "clients: $(head -c 400 "$T/body")"
call "unknown domains" 200 "${Rd[@]}" "$url/api/v1/unknown-domains"
grep -q '"domain":"no-such-saas-example.net"' "$T/body" || fail "unknown domain missing"

# ---- signatures ----
call "signatures" 200 -D "$T/headers" -H "Authorization: Bearer $agent" "$url/api/v1/signatures"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$T/headers" | tr -d '\r')
"$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
paths = [f["path"] for f in d["files"]]
assert d["schema"] == "shadowmap.signatures/1" and "categories.yaml" in paths, paths
assert paths == sorted(paths) and not any(p.endswith(".example.yaml") for p in paths), paths' \
	"$T/body" && [ -n "$etag" ] && pass "signatures: the files, ETag $etag" \
	|| fail "signatures document"
call "signatures, If-None-Match" 304 -H "Authorization: Bearer $reader" \
	-H "If-None-Match: $etag" "$url/api/v1/signatures"

# ---- SIGHUP ----
printf 'apps:\n  - app: zoom\n    status: aproved\n' > "$T/catalog.yaml"
kill -HUP "$cpid"
wait_log "$log" "catalog.yaml:3:" 5 && pass "a broken catalog on reload: $(grep "catalog.yaml:3:" "$log")" \
	|| fail "a broken catalog on reload: no file:line in the log"
[ "$(app_field zoom status)" = tolerated ] && pass "... and the old catalog stays in force" \
	|| fail "after a broken reload zoom is $(app_field zoom status)"
printf 'apps:\n  - app: zoom\n    status: banned\n' > "$T/catalog.yaml"
kill -HUP "$cpid"
for _ in $(seq 100); do [ "$(app_field zoom status)" = banned ] && break; sleep 0.05; done
[ "$(app_field zoom status)" = banned ] && pass "a good catalog on reload applies" \
	|| fail "after a good reload zoom is $(app_field zoom status)"

# ---- SIGTERM while a batch is in flight: acknowledged means stored ----
curl -s -o "$T/big.out" -w '%{http_code}' "${A[@]}" -H "Content-Encoding: gzip" \
	--data-binary @"$T/big.json.gz" "$url/api/v1/batches" > "$T/big.code" &
curl_pid=$!
sleep 0.05
kill -TERM "$cpid"
wait "$cpid"
rc=$?
cpid=
wait "$curl_pid"
[ "$rc" -eq 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
grep -q "stopped" "$log" && pass "SIGTERM: logged a clean stop" || fail "no clean stop in the log"
start_collector "$T/collector2.log" --catalog "$T/catalog.yaml"
url=http://127.0.0.1:$port
got=$(totals "" | cut -d' ' -f1)
if [ "$(cat "$T/big.code")" = 200 ]; then
	[ "$got" = $(( $(cut -d' ' -f1 < "$T/sum-all") + 10000 )) ] \
		&& pass "a batch acknowledged during the stop is stored" \
		|| fail "acknowledged during the stop, but $got records stored"
else
	echo "note: the batch in flight was not acknowledged ($(cat "$T/big.code"))"
	[ "$got" = "$(cut -d' ' -f1 < "$T/sum-all")" ] || [ "$got" = $(( $(cut -d' ' -f1 < "$T/sum-all") + 10000 )) ] \
		&& pass "an unacknowledged batch is stored whole or not at all" \
		|| fail "partial batch: $got records"
fi
kill -TERM "$cpid"; wait "$cpid"; cpid=

# ---- many batches at once (group commit) and a stop while they come ----
# Batch j carries bytes_up 2^j in its first record and 0 in the others, so
# the stored bytes_up is the set of stored batches, and a batch stored
# twice or in part shows. A database of its own.
main_db=$db
db=$T/many.db
magent=$("$COLLECTOR" token create --db "$db" --agent gw-many 2>/dev/null | tail -1)
mreader=$("$COLLECTOR" token create --db "$db" --reader many 2>/dev/null | tail -1)
"$PYTHON" - "$T" <<'PY' || fail "generating concurrent batches"
import json, sys, uuid
t = sys.argv[1]
for run in ("m", "s"):
    for j in range(40):
        recs = [{"schema": "shadowmap.usage/1", "bucket_start": "2026-03-07T10:00:00Z",
                 "bucket_seconds": 300, "client": "10.4.%d.%d" % (j, k + 1),
                 "host": "h%d.many.example" % k, "domain": "many.example", "app": None,
                 "category": None, "ndpi_proto": "TLS", "flows": 1, "packets": 1,
                 "bytes_up": 2 ** j if k == 0 else 0, "bytes_down": 1,
                 "first_seen": "2026-03-07T10:00:00.000Z",
                 "last_seen": "2026-03-07T10:04:59.000Z"} for k in range(1 + j % 5)]
        open("%s/%s%d.json" % (t, run, j), "w").write(json.dumps(
            {"schema": "shadowmap.batch/1", "batch_id": str(uuid.uuid4()), "agent_version": "t",
             "created": "2026-03-07T10:05:00Z", "records": recs}))
PY
# many_totals: "BYTES_UP RECORDS" of the stored totals
many_totals() {
	curl -s -H "Authorization: Bearer $mreader" "$url/api/v1/totals" | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)
print(t["bytes_up"], t["records"])'
}
start_collector "$T/collector-many.log"
url=http://127.0.0.1:$port
M=(-H "Authorization: Bearer $magent" -H "Content-Type: application/json")
pids=()
for j in $(seq 0 39); do
	curl -s -o "$T/m$j.out" -w '%{http_code}' "${M[@]}" --data-binary @"$T/m$j.json" \
		"$url/api/v1/batches" > "$T/m$j.code" &
	pids+=($!)
done
for j in $(seq 0 9); do # the same batches again, at the same time
	curl -s -o "$T/d$j.out" -w '%{http_code}' "${M[@]}" --data-binary @"$T/m$j.json" \
		"$url/api/v1/batches" > "$T/d$j.code" &
	pids+=($!)
done
wait "${pids[@]}"
"$PYTHON" - "$T" "$(many_totals)" <<'PY' && pass "40 batches and 10 duplicates at once: each stored once, totals exact" \
	|| fail "concurrent batches"
import json, sys
t, (mask, records) = sys.argv[1], map(int, sys.argv[2].split())
status = lambda f: json.load(open(t + "/" + f))["status"]
for j in range(40):
    codes = [open("%s/%s%d.code" % (t, r, j)).read() for r in ("m", "d") if j < 10 or r == "m"]
    assert all(c == "200" for c in codes), (j, codes)
    got = sorted(status("%s%d.out" % (r, j)) for r in ("m", "d") if j < 10 or r == "m")
    assert got == (["duplicate", "stored"] if j < 10 else ["stored"]), (j, got)
assert mask == 2 ** 40 - 1, bin(mask)
assert records == sum(1 + j % 5 for j in range(40)), records
PY

# SIGTERM with 40 more on their way: what was acknowledged is stored,
# whole; the others are stored whole or not at all
pids=()
for j in $(seq 0 39); do
	curl -s -o "$T/s$j.out" -w '%{http_code}' "${M[@]}" --data-binary @"$T/s$j.json" \
		"$url/api/v1/batches" > "$T/s$j.code" &
	pids+=($!)
done
sleep 0.05
kill -TERM "$cpid"
wait "$cpid"
rc=$?
cpid=
wait "${pids[@]}"
[ "$rc" -eq 0 ] && pass "SIGTERM under load: exit 0" || fail "SIGTERM under load: exit $rc"
start_collector "$T/collector-many2.log"
url=http://127.0.0.1:$port
"$PYTHON" - "$T" "$(many_totals)" <<'PY' && pass "SIGTERM under load: $(cat "$T/s.summary")" \
	|| fail "SIGTERM under load lost or split a batch"
import json, sys
t, (mask, records) = sys.argv[1], map(int, sys.argv[2].split())
mask -= 2 ** 40 - 1          # the first 40, stored above
records -= sum(1 + j % 5 for j in range(40))
acked = refused = 0
for j in range(40):
    code = open("%s/s%d.code" % (t, j)).read()
    if code == "200":
        assert json.load(open("%s/s%d.out" % (t, j)))["status"] == "stored", j
        assert mask & (1 << j), "batch %d acknowledged but not stored" % j
        acked += 1
    else:
        refused += 1
stored = [j for j in range(40) if mask & (1 << j)]
assert mask < 2 ** 40 and records == sum(1 + j % 5 for j in stored), (bin(mask), records)
open(t + "/s.summary", "w").write("%d acknowledged, %d not (%d of those stored all the same)"
                                  % (acked, refused, len(stored) - acked))
PY
kill -TERM "$cpid"; wait "$cpid"; cpid=
db=$main_db

# ---- check mode ----
"$COLLECTOR" serve -n --catalog "$T/catalog.yaml" --signatures "$SIGS" > /dev/null 2>&1 \
	&& pass "-n with good files: 0" || fail "-n with good files"
printf 'apps:\n  - app: nonexistent-app\n    status: banned\n' > "$T/bad-catalog.yaml"
"$COLLECTOR" serve -n --catalog "$T/bad-catalog.yaml" --signatures "$SIGS" 2> "$T/err"
[ $? -eq 2 ] && grep -q "bad-catalog.yaml:2:" "$T/err" && pass "-n with a bad catalog: 2, $(cat "$T/err")" \
	|| fail "-n with a bad catalog: $(cat "$T/err")"
printf 'listen: 127.0.0.1:99999\n' > "$T/bad.conf"
"$COLLECTOR" serve -n -c "$T/bad.conf" 2> "$T/err"
[ $? -eq 2 ] && pass "-n with a bad listen address: 2, $(cat "$T/err")" || fail "bad listen: $(cat "$T/err")"
printf 'db: %s\nlisten: 127.0.0.1:1\n' "$db" > "$T/good.conf"
"$COLLECTOR" serve -n -c "$T/good.conf" --listen 127.0.0.1:0 2> "$T/err" \
	&& pass "-c CONFIG, command line wins" || fail "config + command line: $(cat "$T/err")"

# ---- HTTPS ----
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$T/key.pem" -out "$T/cert.pem" \
		>/dev/null 2>&1 || fail "openssl could not make a certificate"
	"$COLLECTOR" serve --db "$db" --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" \
		--tls-key "$T/missing.pem" 2> "$T/err"
	[ $? -eq 2 ] && grep -q "missing.pem" "$T/err" && pass "an unreadable key: 2, $(cat "$T/err")" \
		|| fail "unreadable key: $(cat "$T/err")"
	start_collector "$T/collector-tls.log" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
	surl=https://127.0.0.1:$port
	call "HTTPS healthz" 200 --cacert "$T/cert.pem" "$surl/healthz"
	call "HTTPS POST" 200 --cacert "$T/cert.pem" "${A[@]}" --data-binary @"$T/good-day2.json" \
		"$surl/api/v1/batches"
	[ "$(body_field status)" = stored ] || fail "HTTPS POST: $(cat "$T/body")"
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
	[ "$code" != 200 ] && pass "plain HTTP to the HTTPS port gets no answer ($code)" \
		|| fail "plain HTTP answered on the HTTPS port"
	kill -TERM "$cpid"; wait "$cpid"; cpid=
else
	echo "note: no openssl, HTTPS not tested"
fi
finish
