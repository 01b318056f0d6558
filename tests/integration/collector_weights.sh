#!/usr/bin/env bash
# The organisation weights the risk factors in its config: the collector's
# risk-weights file changes the scores its dashboard shows, exactly as
# shadowmap-report --weights scores the same usage; a SIGHUP with a broken
# file keeps the weights in force and says where the file is wrong.
source "$(dirname "$0")/common.bash"
[ -n "${COLLECTOR:-}" ] && [ -x "$COLLECTOR" ] || skip "no collector built"
[ -n "${REPORT:-}" ] && [ -x "$REPORT" ] || skip "no shadowmap-report built"
command -v curl >/dev/null || skip "needs curl"

db=$T/usage.db
port=$(pick_port)
url=http://127.0.0.1:$port
cpid=
trap '[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null' EXIT

# file-sharing starts at 90 instead of 30, and missing SSO costs 40
cat > "$T/weights.yaml" <<'EOF'
risk_weights:
  category_base:
    file-sharing: 90
  no_sso: 40
EOF
"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario basic --seed 1 \
	--pcap "$T/basic.pcap" --truth "$T/basic.json" > /dev/null
"$COLLECTOR" token create --db "$db" --agent a | tail -1 > "$T/agent.token"
chmod 600 "$T/agent.token"
reader=$("$COLLECTOR" token create --db "$db" --reader r | tail -1)
"$COLLECTOR" serve --listen "127.0.0.1:$port" --db "$db" --signatures "$SIGS" \
	--risk-weights "$T/weights.yaml" 2> "$T/collector.log" &
cpid=$!
wait_healthz "$url" || { fail "collector did not start: $(tail -2 "$T/collector.log")"; finish; }
"$AGENT" -q -r "$T/basic.pcap" -o /dev/null --signatures "$SIGS" --collector "$url" \
	--token-file "$T/agent.token" --spool "$T/spool" 2> "$T/agent.log" || fail "agent: $(tail -1 "$T/agent.log")"

curl -s -c "$T/jar" -o /dev/null --data-urlencode "token=$reader" "$url/dashboard/login"
page_score() { # the risk score the dashboard's page of app $1 shows
	curl -s -b "$T/jar" "$url/dashboard/apps/$1?from=2026-03-01&to=2026-03-31" |
		grep -o '<span class="risk [a-z-]*">[0-9]*</span>' | head -1 | sed 's/.*>\([0-9]*\)<.*/\1/'
}
report_score() { # the score shadowmap-report gives app $1, with weights $2 (or none)
	"$REPORT" --db "$db" --from 2026-03-01 --to 2026-04-01 --signatures "$SIGS" ${2:+--weights "$2"} |
		"$PYTHON" -c 'import json,sys; print([a["risk"]["score"] for a in json.load(sys.stdin)["apps"] if a["app"] == sys.argv[1]][0])' "$1"
}
want=$(report_score wetransfer "$T/weights.yaml")
default=$(report_score wetransfer)
got=$(page_score wetransfer)
if [ -n "$got" ] && [ "$got" = "$want" ] && [ "$want" != "$default" ]; then
	pass "dashboard scores WeTransfer $got with the organisation's weights (built-in: $default)"
else
	fail "dashboard score '$got', report with the same weights '$want', built-in '$default'"
fi

# a broken weights file on SIGHUP: the old weights stay, the log says where
printf 'risk_weights:\n  default_base: 10\n  no_sso: lots\n' > "$T/weights.yaml"
kill -HUP "$cpid"
# the reload parses every signature file first: wait for its verdict, do
# not guess how long that takes on a loaded machine
wait_log "$T/collector.log" "weights.yaml:3" || fail "reload error does not name the line: $(tail -2 "$T/collector.log")"
[ "$(page_score wetransfer)" = "$want" ] && pass "a broken file on SIGHUP keeps the weights in force" ||
	fail "the weights changed after a failed reload"
finish
