#!/usr/bin/env bash
# Bad input gets a one-line error that names what and where, a non-zero
# exit, and loses no data: a capture cut short still yields the summaries
# of what was read; damaged packets are counted, never crash the agent.
source "$(dirname "$0")/common.bash"
gen() { "$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" "$@" >/dev/null; }
sums() { "$PYTHON" -c '
import json, sys
p = b = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    p += r["packets"]; b += r["bytes_up"] + r["bytes_down"]
print(p, b)' "$1"; }

# expect NAME STATUS PATTERN -- command...: exit status and a single error line
expect() {
	local name=$1 want=$2 pattern=$3
	shift 4
	"$@" > "$T/out" 2> "$T/err"
	local rc=$?
	local lines
	lines=$(grep -c . "$T/err")
	if [ "$rc" -ne "$want" ]; then
		fail "$name: exit $rc, expected $want; stderr: $(head -3 "$T/err")"
	elif ! grep -q -- "$pattern" "$T/err"; then
		fail "$name: stderr lacks \"$pattern\": $(head -3 "$T/err")"
	elif [ "$lines" -ne 1 ]; then
		fail "$name: $lines lines on stderr, expected one: $(cat "$T/err")"
	else
		pass "$name: $(cat "$T/err")"
	fi
}

A=("$AGENT" -q --signatures "$SIGS")
gen --scenario basic --seed 2 --pcap "$T/basic.pcap" --truth "$T/basic.json"

# a capture cut short in the middle of a packet
size=$(stat -c %s "$T/basic.pcap")
head -c $((size / 2 + 7)) "$T/basic.pcap" > "$T/cut.pcap"
expect "truncated capture" 1 "cut.pcap: capture cut short after packet [0-9]*: truncated dump file" -- \
	"${A[@]}" -r "$T/cut.pcap" -o "$T/cut.jsonl"
want=$("$PYTHON" "$SOURCE_DIR/tests/tools/iptotals.py" "$T/cut.pcap" 2>/dev/null)
got=$(sums "$T/cut.jsonl")
[ -n "$want" ] && [ "$want" = "$got" ] && pass "truncated capture: summaries of what was read: $got" \
	|| fail "truncated capture: summaries $got, capture holds $want"

# an unknown link type (USER0)
"$PYTHON" -c '
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 147))
    f.write(struct.pack("<IIII", 1, 0, 4, 4) + b"abcd")' "$T/user0.pcap"
expect "unknown link type" 1 "user0.pcap: link type 147 .* is not supported" -- \
	"${A[@]}" -r "$T/user0.pcap" -o "$T/x.jsonl"

expect "missing file" 1 "cannot read $T/nonexistent.pcap: No such file or directory$" -- \
	"${A[@]}" -r "$T/nonexistent.pcap"
echo "this is not a capture" > "$T/text.pcap"
expect "not a capture" 1 "cannot read $T/text.pcap: unknown file format" -- \
	"${A[@]}" -r "$T/text.pcap"
expect "a directory" 1 "cannot read $T: " -- "${A[@]}" -r "$T"
expect "bad filter" 2 'bad filter "tcp port": ' -- \
	"${A[@]}" -r "$T/basic.pcap" -f "tcp port" -o "$T/x.jsonl"

# a broken signature file: file and line
mkdir -p "$T/sigs"
cp -r "$SIGS/." "$T/sigs/"
cat > "$T/sigs/zz-local.yaml" <<'YAML'
apps:
  - slug: intranet-wiki
    name: Intranet wiki
    vendor: Example
    category: notes-wiki
    domians: [wiki.example.org]
YAML
expect "bad signature file" 2 "zz-local.yaml:6: " -- \
	"$AGENT" -q --signatures "$T/sigs" -r "$T/basic.pcap"
printf 'bucket-seconds: 300\nmax-flow: 10\n' > "$T/agent.yaml"
expect "bad config key" 2 "agent.yaml:2: unknown setting \"max-flow\"" -- \
	"${A[@]}" -c "$T/agent.yaml" -r "$T/basic.pcap"
expect "bad setting value" 2 "bucket-seconds: 5 is out of range" -- \
	"${A[@]}" --bucket-seconds 5 -r "$T/basic.pcap"
expect "no input" 2 "nothing to read" -- "${A[@]}"

# a full disk: the loss is reported, the status says so
if [ -w /dev/full ]; then
	expect "full disk" 1 "cannot write to /dev/full: No space left on device" -- \
		"${A[@]}" -r "$T/basic.pcap" -o /dev/full
fi

# damaged packets: random bytes over headers and payloads, but the capture
# itself well formed; the agent must count every IP packet and not crash
"$PYTHON" - "$T/basic.pcap" "$T/damaged.pcap" <<'PY'
import random, struct, sys
rnd = random.Random(99)
src, dst = open(sys.argv[1], 'rb'), open(sys.argv[2], 'wb')
dst.write(src.read(24))
while True:
    h = src.read(16)
    if len(h) < 16:
        break
    incl = struct.unpack('<IIII', h)[2]
    d = bytearray(src.read(incl))
    for _ in range(rnd.randint(0, 6)):
        if len(d) > 14:
            d[rnd.randrange(14, len(d))] = rnd.randrange(256)
    if rnd.random() < 0.05 and len(d) > 20:
        d = d[:rnd.randrange(14, len(d))]  # a cut frame
        h = h[:8] + struct.pack('<I', len(d)) + h[12:]
    dst.write(h + bytes(d))
PY
"${A[@]}" -r "$T/damaged.pcap" -o "$T/damaged.jsonl" --flows "$T/damaged.flows" 2> "$T/err"
rc=$?
want=$("$PYTHON" "$SOURCE_DIR/tests/tools/iptotals.py" "$T/damaged.pcap")
got=$(sums "$T/damaged.jsonl")
[ $rc -eq 0 ] && [ "$want" = "$got" ] && pass "damaged packets: all IP bytes counted ($got)" \
	|| fail "damaged packets: exit $rc, summaries $got, capture holds $want: $(head -2 "$T/err")"

# --lookup prints the matcher's view, tab-separated, '-' for none
"${A[@]}" --lookup files.slack.com FILES.SLACK.COM. cdn.tiny-startup-example.co.uk 10.0.0.1 > "$T/lookup"
printf 'files.slack.com\tslack\tmessaging\tslack.com\nFILES.SLACK.COM.\tslack\tmessaging\tslack.com\ncdn.tiny-startup-example.co.uk\t-\t-\ttiny-startup-example.co.uk\n10.0.0.1\t-\t-\t-\n' > "$T/lookup.want"
diff -u "$T/lookup.want" "$T/lookup" && pass "--lookup" || fail "--lookup output"

# dropping root: an unknown user is a usage error, named
"${A[@]}" -r "$T/basic.pcap" -o /dev/null --user no-such-user-here 2> "$T/err"
rc=$?
[ $rc -eq 2 ] && grep -q 'no-such-user-here' "$T/err" && pass "--user unknown: 2, $(cat "$T/err")" \
	|| fail "--user unknown: exit $rc: $(cat "$T/err")"
if [ "$(id -u)" -eq 0 ]; then
	# as root, -r with --user: the spool is handed over and shipping still works
	# from the unprivileged process (no collector here: the batch stays, exit 3)
	"${A[@]}" -r "$T/basic.pcap" -o /dev/null --user nobody --collector http://127.0.0.1:9 \
		--token x --spool "$T/spool-user" --drain-timeout 1s 2> "$T/err"
	rc=$?
	owner=$(stat -c %U "$T/spool-user")
	files=$(find "$T/spool-user" -maxdepth 1 -name '*.json.gz' -user nobody | wc -l)
	[ $rc -eq 3 ] && [ "$owner" = nobody ] && [ "$files" -gt 0 ] \
		&& pass "--user nobody: spool handed over, batches written as nobody" \
		|| fail "--user nobody: exit $rc, owner $owner, $files batches: $(tail -2 "$T/err")"
fi
finish
