#!/bin/bash
# test-system-eastwest (issue #5, item 7, VEPA port with hairpin): East-West
# traffic between kit guests on one port.
# 1. Two untrusted domains ping each other: the agent hairpins their frames
#    (published MACs), without offload (no ESP hairpinned, nothing offloaded).
# 2. Two trusted domains, SAs both ways through their VFs' mailboxes: their
#    traffic is hairpinned by the agent as ESP (encrypted with the sender's
#    outbound SA, decrypted with the receiver's inbound SA, both counted).
# 3. A trusted domain with hairpin='no' (its MAC unpublished) pings the second
#    one: the replies to its unpublished MAC leave by the uplink.
# The VEB side of item 7 is test-system-eastwest-veb.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

SYS_VFS=6
mac() { printf '52:54:00:63:00:%02x' "$1"; }
SPI_12=4097 # t1 -> t2
SPI_21=4098 # t2 -> t1

sys_setup

sbx_note "-- 1. two untrusted domains ping each other through the hairpin"
sys_domain u4 4 "$(mac 4)" --ip 10.77.0.4/24 --peer 10.77.0.5
sys_domain u5 5 "$(mac 5)" --ip 10.77.0.5/24 --mode listen
hp0=$(sys_counter agent.hairpinned)
sys_virsh start u5 >/dev/null
sys_virsh start u4 >/dev/null
sys_expect "VF 4 quarantined" 4092 sys_hw 4 .port_tag.vid
sys_expect "VF 5 quarantined" 4092 sys_hw 5 .port_tag.vid
line=$(sys_guest_line u4 PING)
sys_expect "u4 pinged u5" "ok peer=10.77.0.5" eval "printf '%s' '$line' | sed -n 's/.*PING \([a-z]* peer=[0-9.]*\).*/\1/p'"
sys_check "the agent hairpinned their frames" sys_gt "$hp0" sys_counter agent.hairpinned
sys_expect "no frame was hairpinned as ESP" 0 sys_counter agent.hairpinned_esp
sys_expect "nothing was offloaded" 0 sys_counter offloaded_tx
sys_virsh destroy u4 >/dev/null
sys_virsh destroy u5 >/dev/null

sbx_note "-- 2. two trusted domains: hairpinned as ESP"
sys_domain t1 1 "$(mac 1)" --ip 10.77.0.1/24 --mode stream --peer 10.77.0.2 --trust trusted
sys_domain t2 2 "$(mac 2)" --ip 10.77.0.2/24 --mode listen --trust trusted
sys_virsh start t2 >/dev/null
sys_virsh start t1 >/dev/null
sys_expect "VF 1 has no port tag" null sys_hw 1 .port_tag
sys_expect "VF 2 has no port tag" null sys_hw 2 .port_tag
sys_check "t1's MAC published" sys_mac_published "$(mac 1)"
sys_check "t2's MAC published" sys_mac_published "$(mac 2)"
# Each side's VF driver offloads: t1's outbound SA to 10.77.0.2 is t2's
# inbound one, and the other way round.
sys_vf_add_out_sa 1 "$(mac 1)" "$SPI_12" 10.77.0.2
sys_vf_add_out_sa 2 "$(mac 2)" "$SPI_12" 10.77.0.2 in
sys_vf_add_out_sa 2 "$(mac 2)" "$SPI_21" 10.77.0.1
sys_vf_add_out_sa 1 "$(mac 1)" "$SPI_21" 10.77.0.1 in
sys_guest_line t1 STREAM >/dev/null
sys_eventually "the agent hairpinned t1's echo requests as ESP" sys_gt 0 sys_counter agent.hairpinned_esp
sys_eventually "t1's requests encrypted with its outbound SA" sys_gt 0 sys_sa_packets "$SPI_12" out
sys_eventually "and decrypted with t2's inbound SA" sys_gt 0 sys_sa_packets "$SPI_12" in
sys_eventually "t2's replies encrypted with its outbound SA" sys_gt 0 sys_sa_packets "$SPI_21" out
sys_eventually "and decrypted with t1's inbound SA: a round trip through the hairpin" sys_gt 0 sys_sa_packets "$SPI_21" in

sbx_note "-- 3. an unpublished MAC: its traffic leaves by the uplink"
sys_domain t3 3 "$(mac 3)" --ip 10.77.0.3/24 --mode stream --peer 10.77.0.2 --peer-mac "$(mac 2)" \
    --trust trusted --hairpin no
sys_virsh start t3 >/dev/null
sys_expect "VF 3 owned by t3" '"t3"' sys_d 3 .owner
sys_expect "vfsecd does not publish t3 (hairpin='no')" false sys_d 3 .published
sys_check "t3's MAC is in no local-MAC table" sys_mac_unpublished "$(mac 3)"
sys_guest_line t3 STREAM >/dev/null
frame=$(sys_uplink_frame "$(mac 2)" 60) || sbx_fail "no IPv4 frame from t2 left by the uplink within 60 s"
sys_expect "t2's plain echo reply to t3's unpublished MAC left by the uplink" "plain 1" echo "$frame"

sys_pass "East-West on VEPA: untrusted hairpinned in clear, trusted hairpinned as ESP, unpublished by the uplink"
