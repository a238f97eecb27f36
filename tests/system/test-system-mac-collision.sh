#!/bin/bash
# test-system-mac-collision (issue #5, item 4): two domains with the same MAC
# on one port: the second `virsh start` fails, virsh prints vfsecd's message,
# and nothing of the second domain is left (VF free, first's MAC published).
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

MAC=52:54:00:5d:00:01

sys_setup
sys_domain owner1 1 "$MAC" --ip 10.77.0.1/24
sys_domain clash2 2 "$MAC" --ip 10.77.0.2/24
sys_virsh start owner1 >/dev/null
if out=$(virsh -q -c "$SYS_URI" start clash2 2>&1); then
    sbx_fail "virsh start clash2 succeeded with owner1's MAC $MAC on the same port"
fi
sbx_note "virsh: ${out//$'\n'/ }"
case "$out" in
*"vfsecd: "*"$MAC"*"collides"*) sys_check "virsh printed vfsecd's collision message naming $MAC" true ;;
*) sbx_fail "virsh's message is not vfsecd's MAC collision: $out" ;;
esac
sys_expect "clash2 is not running" "shut off" sys_virsh domstate clash2
sys_expect "VF 2 not given to clash2" null sys_d 2 .owner
sys_expect "VF 2 keeps the quarantine tag" 4092 sys_hw 2 .port_tag.vid
sys_expect "VF 1 still owned by owner1" '"owner1"' sys_d 1 .owner
sys_check "owner1's MAC still published" sys_mac_published "$MAC"
sys_expect "the local-MAC table has one entry" 1 eval "sys_nic macs '{\"port\": 0}' | jq '.local.entries | length'"
sys_expect "vfsecd records clash2's refusal" true eval "sys_ctl domains --json | jq '[.domains[] | select(.name == \"clash2\" and .refusal != null)] | length == 1'"

sys_pass "a duplicate MAC on the port is refused with vfsecd's message"
