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

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures failure(s)"
		exit 1
	fi
	echo "all passed"
	exit 0
}
