#!/bin/bash
# test-sandbox-stop: "stop" leaves nothing behind — no libvirtd, virtlogd or
# QEMU process and no mount namespace of the sandbox, no macvtap — after a
# clean run and after a crash of both daemons; it is idempotent and never
# touches a process a stale pid file names.
SBX_NEEDS="qemu-system-x86_64 ip"
. "$(dirname "$0")/sandbox-lib.sh"

DIR=$SBX_TMP/sbx
DOMAIN=sbx-stop
VETH=sbxs$$

# Prints "STATE STARTTIME" of a process from /proc/PID/stat (fields 3 and 22).
proc_state() {
    local stat
    local -a field
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r -a field <<<"${stat##*) }"
    echo "${field[0]} ${field[19]}"
}

# Prints "PID:STARTTIME:MNTNS" for a process, the identity that survives pid reuse.
proc_identity() {
    local state
    state=$(proc_state "$1") || sbx_fail "process $1 is gone too early"
    printf '%s:%s:%s\n' "$1" "${state#* }" "$(readlink "/proc/$1/ns/mnt")"
}

# Records the identities of libvirtd, virtlogd and the guest's QEMU.
snapshot() {
    SNAPSHOT="$(proc_identity "$(cat "$DIR/run/libvirtd.pid")")
$(proc_identity "$(cat "$DIR/run/virtlogd.pid")")
$(proc_identity "$(sbx_qemu_pid "$DIR" "$DOMAIN")")"
}

# Fails unless every process of the snapshot and every mount namespace it
# lived in is gone, and the guest's macvtap with them.
assert_gone() {
    local what=$1 entry pid start ns p
    for entry in $SNAPSHOT; do
        pid=${entry%%:*}
        start=${entry#*:}
        start=${start%%:*}
        ns=${entry##*:}
        # A zombie has already released its files, mounts and namespaces.
        case "$(proc_state "$pid")" in
        "Z "* | "") ;;
        *" $start") sbx_fail "$what: process $pid ($(cat "/proc/$pid/comm")) still runs" ;;
        esac
        for p in /proc/[0-9]*/ns/mnt; do
            [ "$(readlink "$p" 2>/dev/null)" != "$ns" ] ||
                sbx_fail "$what: ${p%/ns/mnt} still lives in the sandbox namespace $ns"
        done
    done
    [ -z "$(sbx_macvtaps_on "$VETH")" ] || sbx_fail "$what: a macvtap on $VETH remains"
    if [ -e "$DIR/run/libvirtd.pid" ] || [ -e "$DIR/run/virtlogd.pid" ]; then
        sbx_fail "$what: pid files remain"
    fi
    if "$SBX_TOOL" status "$DIR" >/dev/null; then
        sbx_fail "$what: status still reports the sandbox running"
    fi
}

run_guest() {
    sbx_virsh "$SBX_QEMU_URI" start "$DOMAIN" >/dev/null
    [ -n "$(sbx_macvtaps_on "$VETH")" ] || sbx_fail "no macvtap on $VETH while $DOMAIN runs"
    snapshot
}

sbx_veth "$VETH"
sbx_domain_xml "$SBX_TMP/domain.xml" "$DOMAIN" "$VETH"

# 1. A clean stop with a guest running.
sbx_start sbx
sbx_virsh "$SBX_QEMU_URI" define "$SBX_TMP/domain.xml" >/dev/null
run_guest
"$SBX_TOOL" stop "$DIR" >/dev/null || sbx_fail "stop failed"
assert_gone "clean stop"
"$SBX_TOOL" stop "$DIR" >/dev/null || sbx_fail "a second stop failed"
sbx_note "clean stop: nothing left; a second stop succeeds"

# 2. libvirtd and virtlogd killed while the guest runs (same DIR again: its
# domain definition and capability cache persist).
sbx_start sbx
run_guest
kill -KILL "$(cat "$DIR/run/libvirtd.pid")" "$(cat "$DIR/run/virtlogd.pid")"
"$SBX_TOOL" stop "$DIR" >/dev/null 2>"$SBX_TMP/stop.err" || {
    cat "$SBX_TMP/stop.err" >&2
    sbx_fail "stop after a crash failed"
}
assert_gone "stop after a crash"
sbx_note "stop after a crash: guest destroyed through a restarted libvirtd, nothing left"

# 3. Stale pid files naming a live process that is not the sandbox's.
# A stand-in for whatever process may reuse a dead daemon's pid.
sleep 300 &
bystander=$!
SBX_KILL="$SBX_KILL $bystander"
echo "$bystander" >"$DIR/run/libvirtd.pid"
echo "$bystander" >"$DIR/run/virtlogd.pid"
"$SBX_TOOL" stop "$DIR" >/dev/null || sbx_fail "stop with stale pid files failed"
kill -0 "$bystander" 2>/dev/null || sbx_fail "stop killed process $bystander named by a stale pid file"
kill "$bystander"
[ ! -e "$DIR/run/libvirtd.pid" ] || sbx_fail "stale pid files remain"
sbx_note "stale pid files: the process they name was left alone"
echo "PASS: stop leaves no process, namespace, macvtap or pid file behind"
