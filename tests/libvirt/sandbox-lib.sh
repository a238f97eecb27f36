# sandbox-lib.sh: what every libvirt-sandbox test sources — skips with a reason,
# a temporary directory, sandboxes and veths that are always cleaned up.
#
# A test sets SBX_NEEDS (extra commands it needs) before sourcing, then calls
# sbx_start and the helpers below. Exit codes: 0 pass, 1 fail, 77 skip.

# shellcheck shell=bash
set -eu

SBX_TOOL=${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tools/libvirt-sandbox
SBX_NAME=$(basename "$0" .sh)

sbx_skip() {
    echo "SKIP: $*"
    exit 77
}

sbx_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

sbx_note() {
    echo "# $*"
}

[ "$(id -u)" -eq 0 ] || sbx_skip "$SBX_NAME needs root (it starts a private libvirtd)"
for sbx_cmd in libvirtd virtlogd virsh unshare nsenter ${SBX_NEEDS-}; do
    command -v "$sbx_cmd" >/dev/null 2>&1 ||
        sbx_skip "$sbx_cmd is not installed (tools/install-deps installs it)"
done
unset sbx_cmd

# Short on purpose: the sockets under it must fit a sun_path.
SBX_TMP=$(mktemp -d /tmp/sbx-test.XXXXXX)
SBX_STARTED=""
SBX_VETHS=""
# Processes a test started in the background, killed at exit.
SBX_KILL=""
# Commands (eval'd) run at exit after the sandboxes stopped, last added first:
# what a test started before its sandbox (an emulator, a daemon) stops after it.
SBX_AFTER_STOP=""

sbx_cleanup() {
    local rc=$? dir veth pid
    trap - EXIT
    for dir in $SBX_STARTED; do
        "$SBX_TOOL" stop "$dir" >/dev/null || {
            echo "FAIL: sandbox $dir did not stop" >&2
            rc=1
        }
    done
    for pid in $SBX_KILL; do
        kill "$pid" 2>/dev/null || true
    done
    while [ -n "$SBX_AFTER_STOP" ]; do
        local cmd=${SBX_AFTER_STOP%%$'\n'*}
        if [ "$cmd" = "$SBX_AFTER_STOP" ]; then SBX_AFTER_STOP=""; else SBX_AFTER_STOP=${SBX_AFTER_STOP#*$'\n'}; fi
        eval "$cmd" || rc=1
    done
    for veth in $SBX_VETHS; do
        ip link del "$veth" 2>/dev/null || true
    done
    # Keep the logs of a failed run for inspection.
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
        rm -rf -- "$SBX_TMP"
    else
        echo "# kept $SBX_TMP (libvirtd logs under */var/log/libvirt)" >&2
    fi
    exit "$rc"
}
trap sbx_cleanup EXIT
trap 'exit 1' INT TERM

# Starts a sandbox in $SBX_TMP/NAME with the given start options, always
# stopped at exit; sets SBX_QEMU_URI and SBX_TEST_URI.
sbx_start() {
    local dir=$SBX_TMP/$1
    shift
    SBX_STARTED="$SBX_STARTED $dir"
    "$SBX_TOOL" start "$dir" "$@" >/dev/null || sbx_fail "sandbox $dir did not start"
    # shellcheck disable=SC1091
    . "$dir/uris.env"
    # shellcheck disable=SC2034 # used by the tests
    SBX_QEMU_URI=$LIBVIRT_SANDBOX_QEMU_URI
    # shellcheck disable=SC2034
    SBX_TEST_URI=$LIBVIRT_SANDBOX_TEST_URI
}

# Creates a veth pair NAME/NAMEp in the host namespace, deleted at exit.
sbx_veth() {
    SBX_VETHS="$SBX_VETHS $1"
    ip link add "$1" type veth peer name "$1p" || sbx_fail "veth $1 cannot be created"
}

# Writes a disk-less 64 MiB TCG domain named $2 to file $1; $3, if given, is
# a veth for an <interface type='direct'> in passthrough mode.
sbx_domain_xml() {
    local nic=""
    [ -z "${3-}" ] || nic="<interface type='direct'><source dev='$3' mode='passthrough'/><model type='virtio'/></interface>"
    cat >"$1" <<EOF
<domain type='qemu'>
  <name>$2</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    $nic
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# virsh against URI $1, failing the test with virsh's message on error.
sbx_virsh() {
    local uri=$1 out
    shift
    out=$(virsh -q -c "$uri" "$@" 2>&1) || sbx_fail "virsh $*: $out"
    printf '%s\n' "$out"
}

# Prints the pid QEMU of domain $2 in sandbox dir $1 runs as.
sbx_qemu_pid() {
    cat "$1/run/libvirt/qemu/$2.pid"
}

# Prints the macvtap interfaces whose lower device is $1.
sbx_macvtaps_on() {
    ip -o link show type macvtap | sed -n "s/^[0-9]*: \([^@]*\)@$1: .*/\1/p"
}

# Registers command $1 (eval'd) to run at exit after the sandboxes stopped;
# the last registered runs first.
sbx_after_stop() {
    if [ -z "$SBX_AFTER_STOP" ]; then
        SBX_AFTER_STOP=$1
    else
        SBX_AFTER_STOP=$1$'\n'$SBX_AFTER_STOP
    fi
}

# Waits until file $1 holds a line containing $2, at most $3 seconds; the
# matching line (without the serial console's CR) goes to stdout. tail -F
# follows the file through inotify, so this reacts at once and never sleeps.
sbx_wait_line() {
    local file=$1 want=$2 deadline=$((SECONDS + $3)) left line rc=1
    # --pid: tail also ends with this test if it dies before the kill below.
    coproc SBX_TAIL { exec tail -n +1 -F --pid=$$ -- "$file" 2>/dev/null; }
    local tail_pid=$SBX_TAIL_PID
    while left=$((deadline - SECONDS)); [ "$left" -gt 0 ]; do
        IFS= read -r -t "$left" line <&"${SBX_TAIL[0]}" || break
        line=${line//$'\r'/}
        case "$line" in
        *"$want"*) printf '%s\n' "$line"; rc=0; break ;;
        esac
    done
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
    return "$rc"
}

# Polls state query CMD... (a command that succeeds once the state is there)
# every 20 ms until it succeeds, at most $1 seconds. For state that has no
# event to wait on (a daemon's or an emulator's tables read over a socket);
# the only polling loop the libvirt and system tests use.
sbx_wait_for() {
    local deadline_ms now
    now=$(date +%s%N)
    deadline_ms=$((now / 1000000 + $1 * 1000))
    shift
    while :; do
        "$@" && return 0
        now=$(date +%s%N)
        [ $((now / 1000000)) -lt "$deadline_ms" ] || return 1
        sleep 0.02
    done
}

# Prints a timestamp in milliseconds.
sbx_now_ms() {
    local t
    t=$(date +%s%N)
    echo $((t / 1000000))
}

# Writes to file $1 an <interface type='direct'> with MAC $2 in passthrough
# mode on netdev $3 (virtio), for attach-device/detach-device.
sbx_direct_nic_xml() {
    cat >"$1" <<EOF2
<interface type='direct'>
  <mac address='$2'/>
  <source dev='$3' mode='passthrough'/>
  <model type='virtio'/>
</interface>
EOF2
}

# Live-detaches NIC file $3 (MAC $4) from domain $2 through URI $1 and waits
# until libvirt no longer lists it: libvirt waits 5 s for QEMU's
# DEVICE_DELETED, which comes only once the guest kernel ejected the device;
# past that, libvirt's device-removed event is awaited (60 s). Prints how
# long detach-device took.
sbx_detach_live() {
    local t0
    t0=$(sbx_now_ms)
    sbx_virsh "$1" detach-device "$2" "$3" --live >/dev/null
    echo "$(($(sbx_now_ms) - t0))"
    if sbx_virsh "$1" domiflist "$2" | grep -qi "$4"; then
        # The removal may also have come between the two commands: domiflist decides.
        virsh -q -c "$1" event --domain "$2" --event device-removed --timeout 60 >/dev/null 2>&1 || true
    fi
    if sbx_virsh "$1" domiflist "$2" | grep -qi "$4"; then
        sbx_fail "$2's interface $4 is still in domiflist after the live detach"
    fi
}
