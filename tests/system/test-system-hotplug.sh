#!/bin/bash
# test-system-hotplug (issue #5, item 9): `virsh attach-device --live` of an
# emulator-VF interface to a running kit guest → vfsecd (libvirt's
# DEVICE_ADDED event: no hook runs for hot-plug) claims, quarantines and
# publishes the VF; SAs added through its mailbox land in the SAD.
# `virsh detach-device --live` → the guest kernel acknowledges the unplug,
# libvirt sends DEVICE_REMOVED, and vfsecd reclaims the SAs and unpublishes
# the MAC. The domain's boot NIC is untouched throughout.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

MAC1=52:54:00:61:00:01
MAC2=52:54:00:61:00:02

sys_setup
sys_domain plug1 1 "$MAC1" --ip 10.77.0.1/24
sys_virsh start plug1 >/dev/null
sys_vf_add_sas 1 "$MAC1" 4 4096
# The guest must be up to acknowledge the unplug later (ACPI hot-plug).
sys_guest_line plug1 >/dev/null
sbx_direct_nic_xml "$SBX_TMP/nic2.xml" "$MAC2" "$(sys_vf_dev 2)"

sys_expect "VF 2 free before the attach" null sys_d 2 .owner
t0=$(sbx_now_ms)
sys_virsh attach-device plug1 "$SBX_TMP/nic2.xml" --live >/dev/null
sys_eventually "VF 2 claimed by plug1 after attach-device" sys_is '"plug1"' sys_d 2 .owner
echo "# MEASURED: VF 2 owned by plug1 $(($(sbx_now_ms) - t0)) ms after attach-device was called"
sys_eventually "VF 2 published by vfsecd" sys_is true sys_d 2 .published
sys_expect "VF 2 quarantined (port tag)" 4092 sys_hw 2 .port_tag.vid
sys_expect "VF 2 trust off" false sys_hw 2 .trust
sys_expect "VF 2 spoofchk on" true sys_hw 2 .spoofchk
sys_check "the attached MAC published (agent, vfsecd, file)" sys_mac_published "$MAC2"
sys_vf_add_sas 2 "$MAC2" 6 8192
sys_expect "VF 2's SAs in the agent's SAD" 6 sys_sad_count_mac "$MAC2"

t0=$(sbx_now_ms)
took=$(sbx_detach_live "$SYS_URI" plug1 "$SBX_TMP/nic2.xml" "$MAC2")
sbx_note "detach-device returned after $took ms"
sys_check "the guest released the NIC (gone from domiflist)" sh -c "! virsh -q -c '$SYS_URI' domiflist plug1 | grep -qi '$MAC2'"
sys_eventually "VF 2's SAs reclaimed from the agent's SAD" sys_is 0 sys_sad_count_mac "$MAC2"
echo "# MEASURED: VF 2's SAs gone $(($(sbx_now_ms) - t0)) ms after detach-device was called"
sys_eventually "VF 2 released" sys_is null sys_d 2 .owner
sys_expect_vf_free 2
sys_check "the detached MAC unpublished" sys_mac_unpublished "$MAC2"
sys_expect "plug1 keeps VF 1" '"plug1"' sys_d 1 .owner
sys_expect "VF 1's SAs untouched" 4 sys_db_count_vf 1
sys_check "plug1's boot MAC still published" sys_mac_published "$MAC1"

sys_pass "hot-plugged VF quarantined and published, reclaimed and unpublished on unplug"
