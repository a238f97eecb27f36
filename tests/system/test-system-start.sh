#!/bin/bash
# test-system-start (issue #5, item 1): `virsh start` of an untrusted domain
# quarantines its VF (port tag, trust off, spoofchk on), publishes its MAC
# (agent table, vfsecd's table and file), SAs its VF driver adds through the
# PF mailbox land in the agent's SAD, and its Tx is bypassed, never offloaded.
# A domain marked trusted (<vfsec:policy trust='trusted'>) gets no port tag and
# its Tx leaves the uplink as ESP. Then `virsh reset` of the trusted domain (a
# reboot: libvirt's REBOOT event) reclaims its SAs and keeps it the owner.
# (`virsh reset`, not `virsh reboot`: reboot asks the guest through ACPI or an
# agent, and the kit's busybox init handles neither; a reset raises the same
# REBOOT event, which is all vfsecd sees of a reboot.)
#
# How a guest's Tx is offloaded here: the guest (tools/guest-kit, stream mode)
# pings a peer behind the uplink once a second; an outbound SA for that peer
# added through its VF's mailbox makes the emulator's VF-driver model do what a
# guest's xfrm-offload VF driver does (ESP header, TX metadata tag). The agent
# then encrypts (trusted: the metadata reaches it) or bypasses (untrusted: the
# quarantine tag is outermost). A guest-side offload driver cannot exist here:
# no VFIO, the VF reaches the guest as a virtio NIC over a macvtap.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

MAC_U=52:54:00:5a:00:01
MAC_T=52:54:00:5a:00:02
PEER=10.77.0.99
PEER_MAC=02:00:00:00:09:09

sys_setup
sys_domain untrusted1 1 "$MAC_U" --ip 10.77.0.1/24 --mode stream --peer "$PEER" --peer-mac "$PEER_MAC"
sys_domain trusted2 2 "$MAC_T" --ip 10.77.0.2/24 --mode stream --peer "$PEER" --peer-mac "$PEER_MAC" --trust trusted --on-reboot restart

sbx_note "-- untrusted domain"
sys_virsh start untrusted1 >/dev/null
sys_expect "VF 1 owned by untrusted1" '"untrusted1"' sys_d 1 .owner
sys_expect "VF 1 untrusted in vfsecd" '"untrusted"' sys_d 1 .trust
sys_expect "VF 1 port tag is the quarantine tag" '{"tpid":33024,"vid":4092,"pcp":0}' sys_hw 1 .port_tag
sys_expect "VF 1 trust off" false sys_hw 1 .trust
sys_expect "VF 1 spoofchk on" true sys_hw 1 .spoofchk
sys_check "untrusted1's MAC in the agent's table, vfsecd's table and its file" sys_mac_published "$MAC_U"

sad0=$(sys_sad_count)
sys_vf_add_sas 1 "$MAC_U" 4 4096
sys_expect "the agent's SAD grew by VF 1's 4 SAs" $((sad0 + 4)) sys_sad_count
sys_expect "the PF DB holds 4 SAs in VF 1's domain" 4 sys_db_count_vf 1
sys_expect "the PF driver reports 4 SAs on VF 1" 4 sys_hw 1 .sa_count

sys_vf_add_out_sa 1 "$MAC_U" 8192 "$PEER"
sys_guest_line untrusted1 STREAM >/dev/null
byp0=$(sys_counter bypassed)
sys_eventually "untrusted1's Tx got the VF driver's ESP offload (driver_esp_tx > 2)" sys_gt 2 sys_counter vf1.driver_esp_tx
sys_eventually "the agent bypassed untrusted1's frames" sys_gt "$byp0" sys_counter bypassed
sys_expect "no frame of untrusted1 was encrypted with its SA" 0 sys_sa_packets 8192
sys_expect "the agent offloaded nothing" 0 sys_counter offloaded_tx

sbx_note "-- trusted domain"
sys_virsh start trusted2 >/dev/null
sys_expect "VF 2 owned by trusted2" '"trusted2"' sys_d 2 .owner
sys_expect "VF 2 trusted in vfsecd" '"trusted"' sys_d 2 .trust
sys_expect "VF 2 has no port tag" null sys_hw 2 .port_tag
sys_expect "VF 2 trust flag stays off" false sys_hw 2 .trust
sys_expect "VF 2 spoofchk on" true sys_hw 2 .spoofchk
sys_check "trusted2's MAC published" sys_mac_published "$MAC_T"
sys_vf_add_sas 2 "$MAC_T" 3 12288
sys_vf_add_out_sa 2 "$MAC_T" 8193 "$PEER"
sys_guest_line trusted2 STREAM >/dev/null
esp=$(sys_uplink_frame "$MAC_T" 60 esp) || sbx_fail "no ESP frame from trusted2 left the uplink within 60 s"
sys_expect "trusted2's Tx leaves the uplink as ESP with its SA's SPI" "esp 8193" echo "$esp"
sys_eventually "the agent encrypted trusted2's frames with its SA" sys_gt 0 sys_sa_packets 8193
sys_check "the agent counted offloaded Tx" sys_gt 0 sys_counter offloaded_tx
sys_expect "still no frame of untrusted1 encrypted" 0 sys_sa_packets 8192

sbx_note "-- virsh reset trusted2: a reboot reclaims its SAs, the domain keeps its VF"
sys_expect "VF 2 holds 4 SAs before the reset" 4 sys_db_count_vf 2
sys_virsh reset trusted2 >/dev/null
sys_eventually "the reboot reclaimed VF 2's SAs from the PF DB" sys_is 0 sys_db_count_vf 2
sys_expect "no SA of VF 2 left in the agent's SAD" 0 sys_sad_count_mac "$MAC_T"
sys_expect "VF 2 still owned by trusted2" '"trusted2"' sys_d 2 .owner
sys_check "trusted2's MAC still published" sys_mac_published "$MAC_T"
sys_expect "VF 1's SAs untouched" 5 sys_db_count_vf 1

sys_pass "untrusted start quarantined, published, SAs in the SAD, Tx bypassed; trusted Tx offloaded as ESP; reset reclaimed"
