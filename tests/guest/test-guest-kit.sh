#!/bin/bash
# test-guest-kit: two guests booted from tools/guest-kit in a libvirt sandbox,
# their passthrough NICs the two ends of one veth pair, reach each other (guest
# 1 pings guest 2), and guest 2 acknowledges a live detach of its NIC.
SBX_NEEDS="qemu-system-x86_64 ip tail apt-get apt-cache dpkg flock"
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/libvirt/sandbox-lib.sh"

KIT_TOOL=$VFSEC_SOURCE_DIR/tools/guest-kit
# Unique per run: other engineers' tests share the host's network namespace.
VETH=gkt$$
G1=gkt-ping-$$
G2=gkt-listen-$$
MAC1=52:54:00:6b:00:01
MAC2=52:54:00:6b:00:02
# Boot under TCG takes ~6 s here; the deadline leaves room for a loaded host.
BOOT_TIMEOUT=120
# Guest 1 probes once a second for up to 120 s (guest-kit's default).
PING_TIMEOUT=150

# Prints a timestamp in milliseconds.
now_ms() {
    local t
    t=$(date +%s%N)
    echo $((t / 1000000))
}

# Waits until file $1 holds a line containing $2, at most $3 seconds; the
# matching line (without the serial console's CR) goes to stdout. tail -F
# follows the file through inotify, so this reacts at once and never sleeps.
wait_line() {
    local file=$1 want=$2 deadline=$((SECONDS + $3)) left line rc=1
    # --pid: tail also ends with this test if it dies before the kill below.
    coproc GKT_TAIL { exec tail -n +1 -F --pid=$$ -- "$file" 2>/dev/null; }
    SBX_KILL="$SBX_KILL $GKT_TAIL_PID"
    while left=$((deadline - SECONDS)); [ "$left" -gt 0 ]; do
        IFS= read -r -t "$left" line <&"${GKT_TAIL[0]}" || break
        line=${line//$'\r'/}
        case "$line" in
        *"$want"*) printf '%s\n' "$line"; rc=0; break ;;
        esac
    done
    kill "$GKT_TAIL_PID" 2>/dev/null || true
    wait "$GKT_TAIL_PID" 2>/dev/null || true
    return "$rc"
}

# The kit goes into the test's directory; the download and unpacking are
# cached (guest-kit's cache), so only a first run on a machine needs the archive.
kit_out=$("$KIT_TOOL" build "$SBX_TMP/kit" 2>&1) ||
    sbx_skip "guest-kit cannot build the guest (Debian archive unreachable?): $(printf '%s' "$kit_out" | tail -n 1)"
sbx_note "$(printf '%s' "$kit_out" | tail -n 1)"

sbx_start sbx
sbx_veth "$VETH"
ip link set "$VETH" up
ip link set "${VETH}p" up

"$KIT_TOOL" domain-xml --name "$G1" --mac "$MAC1" --vf "$VETH" --kit "$SBX_TMP/kit" \
    --ip 10.77.0.1/24 --peer 10.77.0.2 --serial-log "$SBX_TMP/g1.log" "$SBX_TMP/g1.xml"
"$KIT_TOOL" domain-xml --name "$G2" --mac "$MAC2" --vf "${VETH}p" --kit "$SBX_TMP/kit" \
    --ip 10.77.0.2/24 --mode listen --serial-log "$SBX_TMP/g2.log" "$SBX_TMP/g2.xml"
sbx_virsh "$SBX_QEMU_URI" define "$SBX_TMP/g1.xml" >/dev/null
sbx_virsh "$SBX_QEMU_URI" define "$SBX_TMP/g2.xml" >/dev/null

t0=$(now_ms)
sbx_virsh "$SBX_QEMU_URI" start "$G2" >/dev/null
sbx_virsh "$SBX_QEMU_URI" start "$G1" >/dev/null

ready2=$(wait_line "$SBX_TMP/g2.log" "VFSEC-GUEST READY" "$BOOT_TIMEOUT") ||
    sbx_fail "$G2 printed no READY line within ${BOOT_TIMEOUT}s: $(tail -c 400 "$SBX_TMP/g2.log" 2>/dev/null)"
t2=$(now_ms)
ready1=$(wait_line "$SBX_TMP/g1.log" "VFSEC-GUEST READY" "$BOOT_TIMEOUT") ||
    sbx_fail "$G1 printed no READY line within ${BOOT_TIMEOUT}s: $(tail -c 400 "$SBX_TMP/g1.log" 2>/dev/null)"
t1=$(now_ms)
sbx_note "$G2: $ready2"
sbx_note "$G1: $ready1"
sbx_note "boot to READY under TCG: $G2 $((t2 - t0)) ms, $G1 <= $((t1 - t0)) ms (both started at once)"
case "$ready1" in *"ip=10.77.0.1/24 mac=$MAC1 "*) ;; *) sbx_fail "$G1 READY line has the wrong address or MAC: $ready1" ;; esac
case "$ready2" in *"ip=10.77.0.2/24 mac=$MAC2 "*) ;; *) sbx_fail "$G2 READY line has the wrong address or MAC: $ready2" ;; esac

ping=$(wait_line "$SBX_TMP/g1.log" "VFSEC-GUEST PING" "$PING_TIMEOUT") ||
    sbx_fail "$G1 printed no PING line within ${PING_TIMEOUT}s"
sbx_note "$G1: $ping"
case "$ping" in *"PING ok peer=10.77.0.2 "*) ;; *) sbx_fail "$G1 could not ping $G2: $ping" ;; esac

# Live detach of guest 2's NIC: libvirt waits (5 s) for QEMU's DEVICE_DELETED,
# which comes only once the guest kernel ejected the device.
cat >"$SBX_TMP/g2-nic.xml" <<EOF
<interface type='direct'>
  <mac address='$MAC2'/>
  <source dev='${VETH}p' mode='passthrough'/>
  <model type='virtio'/>
</interface>
EOF
sbx_virsh "$SBX_QEMU_URI" domiflist "$G2" | grep -qi "$MAC2" ||
    sbx_fail "$G2's interface $MAC2 is missing from domiflist before the detach"
t0=$(now_ms)
sbx_virsh "$SBX_QEMU_URI" detach-device "$G2" "$SBX_TMP/g2-nic.xml" --live >/dev/null
sbx_note "detach-device returned after $(($(now_ms) - t0)) ms"
if sbx_virsh "$SBX_QEMU_URI" domiflist "$G2" | grep -qi "$MAC2"; then
    # Only the request went out in libvirt's 5 s: wait for the removal event
    # (it may also have come between the two commands: domiflist decides).
    virsh -q -c "$SBX_QEMU_URI" event --domain "$G2" --event device-removed --timeout 60 >/dev/null 2>&1 || true
fi
if sbx_virsh "$SBX_QEMU_URI" domiflist "$G2" | grep -qi "$MAC2"; then
    sbx_fail "$G2's interface $MAC2 is still in domiflist after the live detach"
fi
gone=$(wait_line "$SBX_TMP/g2.log" "VFSEC-GUEST NIC-REMOVED" 30) ||
    sbx_fail "$G2 did not report its NIC removed"
sbx_note "$G2: $gone"

sbx_virsh "$SBX_QEMU_URI" destroy "$G1" >/dev/null
sbx_virsh "$SBX_QEMU_URI" destroy "$G2" >/dev/null
echo "PASS: two kit guests booted under TCG, $G1 pinged $G2 over $VETH, $G2 acknowledged the NIC hot-unplug"
