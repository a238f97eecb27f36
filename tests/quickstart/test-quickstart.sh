#!/bin/bash
# test-quickstart: tools/quickstart brings the demo up (twice: the second run
# only reports), runs its scenario, and --stop leaves no emulator netdev or
# namespace, no vfsecd, no sandbox process behind.
set -u

: "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}"
: "${VFSEC_BUILD_DIR:?VFSEC_BUILD_DIR is not set}"
QS=$VFSEC_SOURCE_DIR/tools/quickstart

skip() {
    echo "SKIP: $*"
    exit 77
}

fail() {
    echo "FAIL: $*"
    exit 1
}

[ "$(id -u)" -eq 0 ] || skip "tools/quickstart needs root (netdevs, namespaces, libvirtd)"
for tool in libvirtd virtlogd virsh qemu-system-x86_64 ip unshare nsenter python3 setsid; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (tools/install-deps)"
done
# The emulator's prefix is fixed: another quickstart running here owns it.
if ip link show qs0pf >/dev/null 2>&1; then
    skip "qs0pf exists: another tools/quickstart runs on this machine"
fi

tmp=$(mktemp -d /var/tmp/vfsec-qs-test.XXXXXX)
state=$tmp/state
cleanup() {
    local rc=$?
    "$QS" --state-dir "$state" --stop >/dev/null 2>&1 || true
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
        rm -rf "$tmp"
    else
        echo "state and logs kept in $tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT

# The kit's download and unpacking are cached; only a cold cache needs the archive.
kit_out=$("$VFSEC_SOURCE_DIR/tools/guest-kit" build "$tmp/kit" 2>&1) ||
    skip "guest-kit cannot build the guest (Debian archive unreachable?): $(printf '%s' "$kit_out" | tail -n 1)"

"$QS" --state-dir "$state" || fail "tools/quickstart exited $?"
out=$("$QS" --state-dir "$state" --no-build) || fail "a second tools/quickstart exited $?"
case "$out" in *"already up"*) ;; *) fail "a second tools/quickstart did not report the running setup: $out" ;; esac

"$QS" --state-dir "$state" --scenario || fail "tools/quickstart --scenario exited $?"

"$QS" --state-dir "$state" --stop || fail "tools/quickstart --stop exited $?"
"$QS" --state-dir "$state" --stop >/dev/null || fail "a second tools/quickstart --stop exited $?"

left=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^qs[0-9]+(pf|v[0-9]+)$')
[ -z "$left" ] || fail "netdevs left after --stop: $left"
left=$(ip netns list | grep -E '^qs-(nic|wire)\b')
[ -z "$left" ] || fail "namespaces left after --stop: $left"
# Processes of the sandbox (libvirtd, virtlogd, QEMU: their /run/libvirt is the
# sandbox's) or ours naming the state dir.
sbx_run=$(stat -c %d:%i "$state/sbx/run/libvirt") || fail "the sandbox's run/libvirt is gone"
for proc in /proc/[0-9]*; do
    if { tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null | grep -qF -- "$state"; then
        fail "process ${proc#/proc/} left after --stop: $(tr '\0' ' ' <"$proc/cmdline")"
    fi
    if [ "$(stat -L -c %d:%i "$proc/root/run/libvirt" 2>/dev/null)" = "$sbx_run" ]; then
        fail "sandbox process ${proc#/proc/} left after --stop"
    fi
done
[ -e "$state/vfsecd/vfsecd.sock" ] && fail "vfsecd's control socket left after --stop"

"$QS" --state-dir "$state" --stop --purge >/dev/null || fail "tools/quickstart --stop --purge exited $?"
[ -e "$state" ] && fail "--purge left $state"
echo "PASS: quickstart up, re-run reports, scenario held, stop left nothing"
