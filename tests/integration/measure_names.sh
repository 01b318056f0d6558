#!/usr/bin/env bash
# scripts/measure-names.py on a small signature set of its own: a host named
# like its main address is right, one under an app the set lacks is a missing
# app, one the set names while its row says "-" is counted, and shared
# sign-in rows are left out of the figures.
source "$(dirname "$0")/common.bash"

mkdir -p "$T/sigs"
cat > "$T/sigs/apps.yaml" <<'YAML'
categories:
  - {slug: c, name: C}
apps:
  - slug: chat
    name: Chat
    vendor: Chat Ltd
    category: c
    domains: [chat.example, chatcdn.example]
  - slug: docs
    name: Docs
    vendor: Docs Ltd
    category: c
    domains: [app.docs.example]
  - slug: cdnco
    name: CDN Co
    vendor: CDN Co Ltd
    category: c
    domains: [cdnco.example]
YAML
printf '%s\t%s\t%s\n' \
	files.chatcdn.example chat.example Chat \
	api.docs.example docs.example Docs \
	x.unknown.example unknown.example Unknown \
	edge1.cdnco.example - CDN \
	accounts.google.com workspace.google.com Google > "$T/expect.tsv"

if ! "$PYTHON" "$SOURCE_DIR/scripts/measure-names.py" --agent "$AGENT" --signatures "$T/sigs" \
	--rows "$T/expect.tsv" > "$T/out" 2> "$T/err"; then
	fail "measure-names.py failed: $(head -3 "$T/err")"
	finish
fi
first=$(head -1 "$T/out")
want="SaaS right 1/3 = 33.33%; unnamed-known-app 1, missing-app 1, other-app 0; must-stay-unnamed named 1/1; 1 shared sign-in rows left out"
case "$first" in
*"$want") ;;
*) fail "figures: \"$first\", expected \"...$want\"" ;;
esac
# app.docs.example is Docs, so docs.example's host api.docs.example is a
# known app left unnamed, not a missing one
grep -q $'^KNOWN-UNNAMED\tapi.docs.example\t' "$T/out" || fail "api.docs.example not a known-app miss: $(cat "$T/out")"
grep -q $'^MISSING-APP\tx.unknown.example\t' "$T/out" || fail "x.unknown.example not a missing app"
grep -q $'^NAMED\tedge1.cdnco.example\t' "$T/out" || fail "edge1.cdnco.example not counted as named"

# a malformed row says where it is
printf 'only-a-host\n' > "$T/bad.tsv"
if "$PYTHON" "$SOURCE_DIR/scripts/measure-names.py" --agent "$AGENT" --signatures "$T/sigs" \
	"$T/bad.tsv" > /dev/null 2> "$T/err"; then
	fail "a row without a main address was accepted"
elif ! grep -q "bad.tsv:1:" "$T/err"; then
	fail "no FILE:LINE in \"$(cat "$T/err")\""
fi
finish
