#!/bin/bash
# test-system-eastwest-veb (issue #5, item 7, VEB port): two trusted kit guests
# on a port in VEB mode (vfsecd's hairpin off, the emulator started in VEB)
# ping each other; the embedded switch delivers their frames locally, so
# nothing of it reaches the agent: no frame hairpinned, none offloaded.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

SYS_MODE=veb
SYS_HAIRPIN=false
mac() { printf '52:54:00:64:00:%02x' "$1"; }

sys_setup
sys_domain v1 1 "$(mac 1)" --ip 10.77.0.1/24 --peer 10.77.0.2 --trust trusted
sys_domain v2 2 "$(mac 2)" --ip 10.77.0.2/24 --mode listen --trust trusted
local0=$(sys_counter switch.local_switched)
sys_virsh start v2 >/dev/null
sys_virsh start v1 >/dev/null
sys_expect "VF 1 has no port tag" null sys_hw 1 .port_tag
sys_expect "vfsecd publishes nothing on a VEB port" false sys_d 1 .published
line=$(sys_guest_line v1 PING)
sys_expect "v1 pinged v2" "ok peer=10.77.0.2" eval "printf '%s' '$line' | sed -n 's/.*PING \([a-z]* peer=[0-9.]*\).*/\1/p'"
sys_check "the switch delivered their frames locally" sys_gt "$local0" sys_counter switch.local_switched
sys_expect "the agent hairpinned nothing" 0 sys_counter agent.hairpinned
sys_expect "the agent hairpinned no ESP" 0 sys_counter agent.hairpinned_esp
sys_expect "the agent offloaded nothing" 0 sys_counter offloaded_tx

sys_pass "East-West on VEB stays in the switch"
