#!/bin/bash
# test-system-libvirtd-restart (issue #5, item 6): libvirtd is restarted under
# a running vfsecd and a running VM (tools/libvirt-sandbox restart-libvirtd);
# vfsecd reconnects (its libvirt connection is back and delivers events: an
# undefine, which runs no hook, reaches it), keeps the running domain's VF, and
# the next start and destroy are handled as before.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

MAC1=52:54:00:5f:00:01
MAC2=52:54:00:5f:00:02

sys_libvirt_connected() {
    sys_ctl status --json | jq -e .libvirt_connected >/dev/null
}

sys_setup
sys_domain before1 1 "$MAC1" --ip 10.77.0.1/24
sys_domain after2 2 "$MAC2" --ip 10.77.0.2/24
# refused3 (before1's MAC) is refused: vfsecd keeps the refusal until libvirt's
# UNDEFINED event, which only a live event connection delivers (no hook runs
# for undefine) — the proof that vfsecd's reconnected connection works.
sys_domain refused3 3 "$MAC1" --ip 10.77.0.3/24
sys_virsh start before1 >/dev/null
virsh -q -c "$SYS_URI" start refused3 >/dev/null 2>&1 && sbx_fail "refused3 started with before1's MAC"
sys_expect "vfsecd records refused3's refusal" 1 eval "sys_ctl domains --json | jq '[.domains[] | select(.name == \"refused3\")] | length'"
sys_vf_add_sas 1 "$MAC1" 8 4096
sys_eventually "vfsecd is connected to libvirt" sys_libvirt_connected

qemu_pid=$(sbx_qemu_pid "$SYS_SBX" before1)
t0=$(sbx_now_ms)
"$SBX_TOOL" restart-libvirtd "$SYS_SBX" >/dev/null || sbx_fail "libvirtd did not restart"
echo "# MEASURED: libvirtd restarted in $(($(sbx_now_ms) - t0)) ms"
sys_check "before1's QEMU survived the restart" kill -0 "$qemu_pid"
sys_expect "libvirtd still runs before1" running sys_virsh domstate before1
sys_eventually "vfsecd reconnected to libvirt" sys_libvirt_connected
sys_expect "VF 1 still owned by before1" '"before1"' sys_d 1 .owner
sys_expect "before1's SAs untouched" 8 sys_db_count_vf 1
sys_check "before1's MAC still published" sys_mac_published "$MAC1"

sys_virsh undefine refused3 >/dev/null
sys_eventually "libvirt's UNDEFINED event reached vfsecd over the new connection" sys_is 0 eval "sys_ctl domains --json | jq '[.domains[] | select(.name == \"refused3\")] | length'"

sbx_note "-- the next start and destroy"
sys_virsh start after2 >/dev/null
sys_expect "VF 2 owned by after2" '"after2"' sys_d 2 .owner
sys_expect "VF 2 quarantined" 4092 sys_hw 2 .port_tag.vid
sys_check "after2's MAC published" sys_mac_published "$MAC2"
sys_virsh destroy before1 >/dev/null
sys_eventually "before1's SAs reclaimed from the agent's SAD" sys_is 0 sys_sad_count_mac "$MAC1"
sys_expect_vf_free 1
sys_check "before1's MAC unpublished" sys_mac_unpublished "$MAC1"
# The destroy was seen through the reconnected event connection as well:
# vfsecd's domain list no longer has before1.
sys_eventually "vfsecd lists no VF for before1" sys_is 0 eval "sys_ctl domains --json | jq '[.domains[] | select(.name == \"before1\" and (.vfs | length) > 0)] | length'"

sys_pass "vfsecd follows libvirtd through a restart"
