#!/usr/bin/env bash
# One engine or several (--threads, docs/threads.md) must write the same
# summaries and flow records, line for line once sorted, and the same
# counters: on generated captures (with and without geolocation), on every
# capture of the shared corpus, and on the corpus captures played one after
# another (many clients, buckets closing while flows go on). Also the exit
# statuses and byte totals of a cut capture and a full disk, and a flow
# table too small for the traffic, with threads.
source "$(dirname "$0")/common.bash"

# same WHAT CAPTURE [AGENT OPTIONS]: threads 1, 2 and 3 agree
same() {
	local what=$1 cap=$2; shift 2
	local n bad=0
	for n in 1 2 3; do
		"$AGENT" --signatures "$SIGS" --threads "$n" "$@" -r "$cap" -o "$T/u$n" \
			--flows "$T/f$n" 2> "$T/e$n"
		echo $? > "$T/rc$n"
		sort "$T/u$n" > "$T/u$n.sorted"
		sort "$T/f$n" > "$T/f$n.sorted"
		# the counters: every line but the file name
		sed "s|$cap||" "$T/e$n" | sort > "$T/e$n.sorted"
	done
	for n in 2 3; do
		cmp -s "$T/rc1" "$T/rc$n" || { echo "  exit $(cat "$T/rc1") vs $(cat "$T/rc$n") with $n threads"; bad=1; }
		cmp -s "$T/u1.sorted" "$T/u$n.sorted" || { echo "  summaries differ with $n threads:"; diff "$T/u1.sorted" "$T/u$n.sorted" | head -6; bad=1; }
		cmp -s "$T/f1.sorted" "$T/f$n.sorted" || { echo "  flow records differ with $n threads:"; diff "$T/f1.sorted" "$T/f$n.sorted" | head -6; bad=1; }
		cmp -s "$T/e1.sorted" "$T/e$n.sorted" || { echo "  counters differ with $n threads:"; diff "$T/e1.sorted" "$T/e$n.sorted" | head -6; bad=1; }
	done
	[ -s "$T/u1" ] || { echo "  no summaries at all"; bad=1; }
	if [ "$bad" -eq 0 ]; then
		pass "$what: $(wc -l < "$T/u1") summaries, $(wc -l < "$T/f1") flows, the same with 1, 2 and 3 threads"
	else
		fail "$what"
	fi
	return "$bad"
}

# generated traffic, several link types and seeds
for spec in "1 ether" "2 ether" "3 sll" "4 raw" "5 sll2"; do
	set -- $spec
	"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario basic --seed "$1" --linktype "$2" \
		--pcap "$T/gen-$1.pcap" --truth "$T/gen-$1.truth.json" || fail "shadowgen seed $1"
	same "generated, seed $1, $2" "$T/gen-$1.pcap"
done
same "generated, seed 1, 60 s buckets" "$T/gen-1.pcap" --bucket-seconds 60

# the server's country and network, looked up by every worker in one handle
mkdir -p "$T/db"
if ! perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null; then
	echo "SKIP: perl's MaxMind::DB::Writer::Tree not installed: geolocation case"
elif perl "$SOURCE_DIR/tests/tools/mkmmdb.pl" "$T/db" > "$T/mkmmdb.log" 2>&1; then
	"$PYTHON" "$SOURCE_DIR/tests/gen/shadowgen.py" --scenario geo --seed 1 \
		--pcap "$T/geo.pcap" --truth "$T/geo.truth.json" || fail "shadowgen geo"
	same "generated geo scenario, with databases" "$T/geo.pcap" \
		--geoip-country-db "$T/db/country.mmdb" --geoip-asn-db "$T/db/asn.mmdb"
else
	fail "mkmmdb.pl: $(tail -1 "$T/mkmmdb.log")"
fi

if [ -d "$CORPUS/ndpi" ]; then
	# every corpus capture on its own
	n_caps=0 n_bad=0
	for cap in "$CORPUS"/ndpi/*.pcap "$CORPUS"/ndpi/*.pcapng; do
		[ -f "$cap" ] || continue
		n_caps=$((n_caps + 1))
		same "corpus $(basename "$cap")" "$cap" > "$T/one.log" || { cat "$T/one.log"; n_bad=$((n_bad + 1)); failures=$((failures - 1)); }
	done
	[ "$n_bad" -eq 0 ] && pass "corpus: all $n_caps captures the same with 1, 2 and 3 threads" \
		|| fail "corpus: $n_bad of $n_caps captures differ"

	# the Ethernet ones in classic pcap played one after another: many
	# clients at once
	mapfile -t ether < <("$PYTHON" - "$CORPUS/ndpi" <<'PY'
import os, struct, sys
d = sys.argv[1]
for line in open(os.path.join(d, 'MANIFEST.tsv')).readlines()[1:]:
    f = line.split('\t')
    with open(os.path.join(d, f[0]), 'rb') as fp:
        head = fp.read(24)
    if len(head) == 24 and head[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') and \
            struct.unpack('<I', head[20:24])[0] == 1:
        print(os.path.join(d, f[0]))
PY
)
	if "$PYTHON" "$SOURCE_DIR/bench/mkbig.py" "$T/all.pcap" "${ether[@]}" > /dev/null 2>&1; then
		same "corpus played one after another (${#ether[@]} captures)" "$T/all.pcap"
		same "the same with 60 s buckets and 60 s idle timeouts" "$T/all.pcap" \
			--bucket-seconds 60 --idle-timeout 60 --tcp-idle-timeout 60
		same "the same through a filter (udp or port 443)" "$T/all.pcap" -f "udp or port 443"
	else
		fail "mkbig.py on the corpus"
	fi
else
	echo "SKIP: no corpus at $CORPUS/ndpi: corpus cases"
fi

# a cut capture: exit 1, and what was read is written, with threads
size=$(stat -c %s "$T/gen-1.pcap")
head -c $((size / 2 + 7)) "$T/gen-1.pcap" > "$T/cut.pcap"
"$AGENT" -q --signatures "$SIGS" --threads 2 -r "$T/cut.pcap" -o "$T/cut.jsonl" 2> "$T/cut.err"
rc=$?
want=$("$PYTHON" "$SOURCE_DIR/tests/tools/iptotals.py" "$T/cut.pcap" 2>/dev/null)
got=$("$PYTHON" -c 'import json,sys
p=b=0
for l in open(sys.argv[1]):
    r=json.loads(l); p+=r["packets"]; b+=r["bytes_up"]+r["bytes_down"]
print(p, b)' "$T/cut.jsonl")
if [ "$rc" -eq 1 ] && grep -q "truncated dump file" "$T/cut.err" && [ "$want" = "$got" ]; then
	pass "cut capture, 2 threads: exit 1, the summaries hold what was read ($got)"
else
	fail "cut capture, 2 threads: exit $rc, summaries $got, capture holds $want: $(cat "$T/cut.err")"
fi

# a full disk: exit 1 with threads too
if [ -w /dev/full ]; then
	"$AGENT" -q --signatures "$SIGS" --threads 2 -r "$T/gen-1.pcap" -o /dev/full 2> "$T/full.err"
	rc=$?
	[ "$rc" -eq 1 ] && grep -q "cannot write to /dev/full" "$T/full.err" \
		&& pass "full disk, 2 threads: exit 1 and the reason" \
		|| fail "full disk, 2 threads: exit $rc: $(cat "$T/full.err")"
fi

# a flow table too small: the limit is shared out, no byte is lost
"$AGENT" --signatures "$SIGS" --threads 2 --max-flows 4 --max-detecting 2 -r "$T/gen-1.pcap" \
	-o "$T/small.jsonl" 2> "$T/small.err"
rc=$?
want=$("$PYTHON" "$SOURCE_DIR/tests/tools/iptotals.py" "$T/gen-1.pcap" 2>/dev/null)
got=$("$PYTHON" -c 'import json,sys
p=b=0
for l in open(sys.argv[1]):
    r=json.loads(l); p+=r["packets"]; b+=r["bytes_up"]+r["bytes_down"]
print(p, b)' "$T/small.jsonl")
if [ "$rc" -eq 0 ] && [ "$want" = "$got" ] && grep -q "table_full\|flow table was full" "$T/small.err" \
	|| { [ "$rc" -eq 0 ] && [ "$want" = "$got" ] && grep -q untracked "$T/small.jsonl"; }; then
	pass "max-flows 4 over 2 threads: counted untracked, totals kept ($got)"
else
	fail "max-flows 4 over 2 threads: exit $rc, summaries $got, capture $want"
fi

# settings: threads is checked like every other setting
"$AGENT" -q --threads 65 -n > /dev/null 2> "$T/bad.err"
[ $? -eq 2 ] && pass "--threads 65 refused" || fail "--threads 65: $(cat "$T/bad.err")"
finish
