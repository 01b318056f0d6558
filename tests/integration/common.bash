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

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures failure(s)"
		exit 1
	fi
	echo "all passed"
	exit 0
}
