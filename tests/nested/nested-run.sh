#!/bin/sh
# nested-run.sh CHECK TIMEOUT [MEMORY-MIB VCPUS]: one meson test of the
# nested suite. Boots L1 with tools/nested-kit (1024 MiB, 1 vCPU unless
# given), runs tests/nested/l1-checks.py CHECK in it and turns
# its "VFSEC-NESTED <name> ok|fail <detail>" serial lines into the result:
# 0 when every line is ok and L1's command exited 0, 1 otherwise (a hung L1
# is killed after TIMEOUT seconds and fails), 77 when this machine cannot
# run the tier at all (not root, no 6.12 headers from tools/install-deps).
set -eu

check=$1
timeout=$2
memory=${3:-1024}
smp=${4:-1}
src=${VFSEC_SOURCE_DIR:?}
build=${VFSEC_BUILD_DIR:?}

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the nested tier needs root (a mount namespace and a 9p export of /)"
    exit 77
fi
if ! dpkg-query -W -f='${Status}\n' linux-headers-amd64 2>/dev/null | grep -q '^install ok installed$'; then
    echo "SKIP: linux-headers-amd64 from bookworm-backports is not installed (run tools/install-deps)"
    exit 77
fi

log=$(mktemp "${TMPDIR:-/tmp}/vfsec-nested-$check.XXXXXX")
trap 'rm -f -- "$log"' EXIT
status=0
"$src/tools/nested-kit" run --timeout "$timeout" --memory "$memory" --smp "$smp" --serial "$log" -- \
    /usr/bin/python3 "$src/tests/nested/l1-checks.py" "$check" "$build" || status=$?

# The L1 console as it was, for the test log.
tr -d '\r' <"$log" | grep -v '^\[ *[0-9.]*\] ' || true
tr -d '\r' <"$log" | grep '^VFSEC-NESTED ' >"$log.results" || true
oks=$(grep -c '^VFSEC-NESTED [^ ]* ok' "$log.results" || true)
fails=$(grep -c '^VFSEC-NESTED [^ ]* fail' "$log.results" || true)
rm -f -- "$log.results"
echo "nested $check: $oks ok, $fails failed, L1 status $status"
case "$status" in
124) echo "FAIL: L1 hung (did not finish within ${timeout}s, or twice did not boot) and was killed"; exit 1 ;;
125) echo "FAIL: L1 ended without reporting the checks' exit status"; exit 1 ;;
esac
[ "$status" -eq 0 ] && [ "$fails" -eq 0 ] && [ "$oks" -gt 0 ] || exit 1
exit 0
