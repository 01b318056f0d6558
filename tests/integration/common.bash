# Shared by the integration test scripts (sourced, not run): paths from
# the environment ctest sets, a work directory, and small assertions.
set -u
: "${AGENT:?set by ctest}" "${SOURCE_DIR:?}" "${WORKDIR:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
CORPUS=${CORPUS:-$SOURCE_DIR/../shared/corpus}
SIGS=$SOURCE_DIR/signatures
T=$WORKDIR/$(basename "$0" .sh)
rm -rf "$T"
mkdir -p "$T"
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# A loopback TCP port for a collector that a test restarts on the same
# port: below the kernel's ephemeral range (where curl, the agents and the
# browser get their own ports from, so a random pick there can be taken
# already) and free when picked.
pick_port() {
	local low=32768 p
	read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	[ "$low" -gt 11000 ] || low=32768
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % (low - 10000)))
		if "$PYTHON" -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' \
			"$p" 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

# Waits up to 5 s for the collector at URL to answer /healthz; curl options
# (--cacert FILE) may follow URL. 0 once it answers, 1 if it never did.
wait_healthz() {
	local url=$1
	shift
	for _ in $(seq 100); do
		curl -sf "$@" "$url/healthz" >/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Waits up to SECONDS (default 10) for a line matching PATTERN (grep) in
# FILE, such as a daemon's verdict on a reload it was signalled to do.
# 0 once it is there, 1 if it never came.
wait_log() {
	local file=$1 pattern=$2 tries=$((${3:-10} * 20))
	for _ in $(seq "$tries"); do
		grep -q -- "$pattern" "$file" && return 0
		sleep 0.05
	done
	return 1
}

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures failure(s)"
		exit 1
	fi
	echo "all passed"
	exit 0
}
