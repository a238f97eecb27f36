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

t0=$(sbx_now_ms)
sbx_virsh "$SBX_QEMU_URI" start "$G2" >/dev/null
sbx_virsh "$SBX_QEMU_URI" start "$G1" >/dev/null

ready2=$(sbx_wait_line "$SBX_TMP/g2.log" "VFSEC-GUEST READY" "$BOOT_TIMEOUT") ||
    sbx_fail "$G2 printed no READY line within ${BOOT_TIMEOUT}s: $(tail -c 400 "$SBX_TMP/g2.log" 2>/dev/null)"
t2=$(sbx_now_ms)
ready1=$(sbx_wait_line "$SBX_TMP/g1.log" "VFSEC-GUEST READY" "$BOOT_TIMEOUT") ||
    sbx_fail "$G1 printed no READY line within ${BOOT_TIMEOUT}s: $(tail -c 400 "$SBX_TMP/g1.log" 2>/dev/null)"
t1=$(sbx_now_ms)
sbx_note "$G2: $ready2"
sbx_note "$G1: $ready1"
sbx_note "boot to READY under TCG: $G2 $((t2 - t0)) ms, $G1 <= $((t1 - t0)) ms (both started at once)"
case "$ready1" in *"ip=10.77.0.1/24 mac=$MAC1 "*) ;; *) sbx_fail "$G1 READY line has the wrong address or MAC: $ready1" ;; esac
case "$ready2" in *"ip=10.77.0.2/24 mac=$MAC2 "*) ;; *) sbx_fail "$G2 READY line has the wrong address or MAC: $ready2" ;; esac

ping=$(sbx_wait_line "$SBX_TMP/g1.log" "VFSEC-GUEST PING" "$PING_TIMEOUT") ||
    sbx_fail "$G1 printed no PING line within ${PING_TIMEOUT}s"
sbx_note "$G1: $ping"
case "$ping" in *"PING ok peer=10.77.0.2 "*) ;; *) sbx_fail "$G1 could not ping $G2: $ping" ;; esac

# Live detach of guest 2's NIC: libvirt waits (5 s) for QEMU's DEVICE_DELETED,
# which comes only once the guest kernel ejected the device.
sbx_direct_nic_xml "$SBX_TMP/g2-nic.xml" "$MAC2" "${VETH}p"
sbx_virsh "$SBX_QEMU_URI" domiflist "$G2" | grep -qi "$MAC2" ||
    sbx_fail "$G2's interface $MAC2 is missing from domiflist before the detach"
took=$(sbx_detach_live "$SBX_QEMU_URI" "$G2" "$SBX_TMP/g2-nic.xml" "$MAC2")
sbx_note "detach-device returned after $took ms"
gone=$(sbx_wait_line "$SBX_TMP/g2.log" "VFSEC-GUEST NIC-REMOVED" 30) ||
    sbx_fail "$G2 did not report its NIC removed"
sbx_note "$G2: $gone"

sbx_virsh "$SBX_QEMU_URI" destroy "$G1" >/dev/null
sbx_virsh "$SBX_QEMU_URI" destroy "$G2" >/dev/null
echo "PASS: two kit guests booted under TCG, $G1 pinged $G2 over $VETH, $G2 acknowledged the NIC hot-unplug"
