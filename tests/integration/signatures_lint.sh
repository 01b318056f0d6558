#!/usr/bin/env bash
# shadowmap-agent --check-signatures: the built-in signatures are clean
# (exit 0); copies with one problem each, and one with all of them, exit 2
# with exactly one "FILE:LINE: reason" line per problem on standard output.
source "$(dirname "$0")/common.bash"

# broken NAME YAML: a copy of the built-in set with one more file, zz-NAME.yaml
broken() {
	mkdir -p "$T/$1"
	cp -r "$SIGS/." "$T/$1/"
	cat > "$T/$1/zz-$1.yaml"
}

# expect NAME STATUS LINES... -- command...: exit status, and stdout is
# exactly LINES (each a grep pattern for one line, in order)
expect() {
	local name=$1 want=$2
	shift 2
	local patterns=()
	while [ "$1" != "--" ]; do
		patterns+=("$1")
		shift
	done
	shift
	"$@" > "$T/out" 2> "$T/err"
	local rc=$?
	local n
	n=$(grep -c . "$T/out")
	if [ "$rc" -ne "$want" ]; then
		fail "$name: exit $rc, expected $want; stdout: $(head -5 "$T/out"); stderr: $(head -3 "$T/err")"
		return
	fi
	if [ "$n" -ne "${#patterns[@]}" ]; then
		fail "$name: $n problem lines, expected ${#patterns[@]}: $(cat "$T/out")"
		return
	fi
	local i=1 p
	for p in "${patterns[@]}"; do
		if ! sed -n "${i}p" "$T/out" | grep -q -- "$p"; then
			fail "$name: line $i is \"$(sed -n "${i}p" "$T/out")\", expected \"$p\""
			return
		fi
		i=$((i + 1))
	done
	pass "$name: exit $rc, ${#patterns[@]} problem(s)"
}

# the built-in set, named or by default
expect "built-in signatures" 0 -- "$AGENT" --check-signatures "$SIGS"
expect "default directory" 0 -- env -u SHADOWMAP_SIGNATURES "$AGENT" --check-signatures
grep -q "OK: [0-9]* apps in [0-9]* categories" "$T/err" &&
	pass "summary: $(cat "$T/err")" || fail "no summary: $(cat "$T/err")"

# a slug of a built-in app, for the copies to collide with
first_app=$(ls "$SIGS"/apps/*.yaml | head -1)
slug=$(awk '/^  - slug: /{ print $3; exit }' "$first_app")
[ -n "$slug" ] || fail "no app slug found in $first_app"

broken dup-slug <<YAML
# an app of the built-in set, again
apps:
  - slug: $slug
    name: Again
    vendor: V
    category: file-sharing
    domains: [lint-dup-slug.example]
YAML
expect "duplicate slug" 2 "^$T/dup-slug/zz-dup-slug.yaml:3: app \"$slug\" is already defined ($T/dup-slug/apps/" -- \
	"$AGENT" --check-signatures "$T/dup-slug"

broken dup-domain <<'YAML'
apps:
  - slug: zz-lint-a
    name: A
    vendor: V
    category: file-sharing
    domains: [lint-dup.example]
YAML
cat > "$T/dup-domain/zz-second.yaml" <<'YAML'
# the same domain in another file
apps:
  - slug: zz-lint-b
    name: B
    vendor: V
    category: file-sharing
    domains:
      - lint-b.example
      - lint-dup.example
YAML
expect "duplicate domain across files" 2 \
	"^$T/dup-domain/zz-second.yaml:9: domain \"lint-dup.example\" of app \"zz-lint-b\" is already claimed by app \"zz-lint-a\" ($T/dup-domain/zz-dup-domain.yaml:6)$" -- \
	"$AGENT" --check-signatures "$T/dup-domain"

broken category <<'YAML'
apps:
  - slug: zz-lint
    name: Lint
    vendor: V
    category: file-shareing
    domains: [lint.example]
YAML
expect "unknown category" 2 "^$T/category/zz-category.yaml:5: app \"zz-lint\": unknown category \"file-shareing\"" -- \
	"$AGENT" --check-signatures "$T/category"

broken cidr <<'YAML'
apps:
  - slug: zz-lint
    name: Lint
    vendor: V
    category: file-sharing
    ip_ranges:
      - 192.0.2.0/24
      - 198.51.100.7/24
YAML
expect "bad CIDR" 2 "^$T/cidr/zz-cidr.yaml:8: ip range \"198.51.100.7/24\" has host bits set (the network is 198.51.100.0/24)$" -- \
	"$AGENT" --check-signatures "$T/cidr"

broken source <<'YAML'
apps:
  - slug: zz-lint
    name: Lint
    vendor: V
    category: file-sharing
    domains: [lint.example]
    risk:
      hq_country: {value: US, source: "https://lint.example/about"}
      mfa: {value: yes}
YAML
expect "fact without source" 2 "^$T/source/zz-source.yaml:9: risk fact \"mfa\" has no \"source\"" -- \
	"$AGENT" --check-signatures "$T/source"

# all of them at once: every problem is reported, not only the first
broken all <<YAML
apps:
  - slug: $slug
    name: Again
    vendor: V
    category: file-sharing
    domains: [lint-all.example]
  - slug: zz-lint
    name: Lint
    vendor: V
    category: file-shareing
    domains: [lint-all.example, Lint.example]
    ip_ranges: [198.51.100.7/24]
    risk:
      mfa: {value: yes, source: "http://lint.example/security"}
      sso: {value: [saml]}
YAML
expect "every problem" 2 \
	"^$T/all/zz-all.yaml:2: app \"$slug\" is already defined" \
	"^$T/all/zz-all.yaml:11: domain \"Lint.example\" is not lower case$" \
	"^$T/all/zz-all.yaml:12: ip range \"198.51.100.7/24\" has host bits set" \
	"^$T/all/zz-all.yaml:14: source \"http://lint.example/security\" of risk fact \"mfa\" must be an https:// URL$" \
	"^$T/all/zz-all.yaml:15: risk fact \"sso\" has no \"source\"" \
	"^$T/all/zz-all.yaml:10: app \"zz-lint\": unknown category \"file-shareing\"" -- \
	"$AGENT" --check-signatures "$T/all"
grep -q "error: $T/all: 6 problems" "$T/err" && pass "summary: $(cat "$T/err")" ||
	fail "summary: $(cat "$T/err")"

# the default directory is the one in use: SHADOWMAP_SIGNATURES
SHADOWMAP_SIGNATURES=$T/cidr expect "default directory from the environment" 2 \
	"^$T/cidr/zz-cidr.yaml:8: " -- "$AGENT" --check-signatures

# local signatures: checked on top of the built-in ones when configured
cat > "$T/local-good.yaml" <<YAML
categories: [{slug: internal, name: Internal services}]
apps:
  - slug: corp-wiki
    name: Corp wiki
    vendor: Example Corp
    category: internal
    domains: [wiki.corp.example]
overrides:
  - app: $slug
    category: internal
YAML
expect "good local file" 0 -- "$AGENT" --check-signatures --signatures-local "$T/local-good.yaml"
cat > "$T/local-bad.yaml" <<YAML
# an accidental collision with a built-in app, and an override of nothing
apps:
  - slug: $slug
    name: Ours
    vendor: Example Corp
    category: file-sharing
    domains: [ours.corp.example]
overrides:
  - app: no-such-app
    category: file-sharing
YAML
expect "bad local file" 2 \
	"^$T/local-bad.yaml:3: app \"$slug\" is already defined (.*); to change a built-in app, list it under overrides$" \
	"^$T/local-bad.yaml:9: app \"no-such-app\" is not defined" -- \
	"$AGENT" --check-signatures "$SIGS" --signatures-local "$T/local-bad.yaml"
printf 'signatures-local: %s\n' "$T/local-bad.yaml" > "$T/agent.yaml"
expect "local file from the config" 2 "^$T/local-bad.yaml:3: " "^$T/local-bad.yaml:9: " -- \
	"$AGENT" -c "$T/agent.yaml" --check-signatures "$SIGS"

# the agent itself refuses the same, and -n checks local files too
"$AGENT" -q --signatures "$SIGS" --signatures-local "$T/local-bad.yaml" -n > /dev/null 2> "$T/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "local-bad.yaml:3: app \"$slug\" is already defined" "$T/err" &&
	pass "-n with a bad local file: $(cat "$T/err")" ||
	fail "-n with a bad local file: exit $rc: $(cat "$T/err")"
"$AGENT" --signatures "$SIGS" --signatures-local "$T/local-good.yaml" --lookup wiki.corp.example \
	> "$T/out" 2> "$T/err"
grep -q "^wiki.corp.example	corp-wiki	internal	" "$T/out" &&
	pass "--lookup with a local app: $(cat "$T/out")" ||
	fail "--lookup with a local app: $(cat "$T/out" "$T/err")"

# exclusion patterns: a local app carves per-device hosts out of itself;
# --lookup names the hosts beside them, and --check-signatures reports a
# pattern outside the app's domains and a tie with another app's pattern
cat > "$T/local-xpat.yaml" <<YAML
apps:
  - slug: corp-cloud
    name: Corp cloud
    vendor: Example Corp
    category: file-sharing
    domains: [cloud.corp.example]
    exclude_domains: ["*-ping.cloud.corp.example"]
YAML
expect "local exclusion pattern" 0 -- \
	"$AGENT" --check-signatures "$SIGS" --signatures-local "$T/local-xpat.yaml"
"$AGENT" --signatures "$SIGS" --signatures-local "$T/local-xpat.yaml" \
	--lookup p1-ping.cloud.corp.example p1-files.cloud.corp.example > "$T/out" 2> "$T/err"
printf 'p1-ping.cloud.corp.example\t-\t-\tcorp.example\np1-files.cloud.corp.example\tcorp-cloud\tfile-sharing\tcorp.example\n' \
	> "$T/want"
diff -u "$T/want" "$T/out" > /dev/null &&
	pass "--lookup with a local exclusion pattern" ||
	fail "--lookup with a local exclusion pattern: $(cat "$T/out" "$T/err")"
cat >> "$T/local-xpat.yaml" <<YAML
  - slug: corp-pinger
    name: Corp pinger
    vendor: Example Corp
    category: file-sharing
    domains: [ping-*.cloud.corp.example]
    exclude_domains: ["*-x.cloud.corp.example"]
YAML
expect "bad local exclusion patterns" 2 \
	"^$T/local-xpat.yaml:13: exclude_domains: pattern \"\*-x.cloud.corp.example\" is not under any domain of app \"corp-pinger\"" \
	"^$T/local-xpat.yaml:12: pattern \"ping-\*.cloud.corp.example\" of app \"corp-pinger\" is as specific as excluded pattern \"\*-ping.cloud.corp.example\" of app \"corp-cloud\"" -- \
	"$AGENT" --check-signatures "$SIGS" --signatures-local "$T/local-xpat.yaml"

expect "two directories" 2 -- "$AGENT" --check-signatures "$SIGS" "$SIGS"
expect "missing directory" 2 "^$T/nowhere: cannot open: No such file or directory$" -- \
	"$AGENT" --check-signatures "$T/nowhere"

finish
