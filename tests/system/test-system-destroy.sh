#!/bin/bash
# test-system-destroy (issue #5, item 2): `virsh destroy` → every SA of the
# domain's VF leaves the agent's SAD and the PF driver's DB, its MAC leaves the
# local-MAC tables (agent, vfsecd, file); another domain's SAs and MAC stay.
# Measures and prints the time from `virsh destroy` returning to the last SA
# gone (and from `virsh destroy` being called), for N_SAS SAs.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

MAC1=52:54:00:5b:00:01
MAC2=52:54:00:5b:00:02
N_SAS=${N_SAS:-1000}

sys_setup
sys_domain gone1 1 "$MAC1" --ip 10.77.0.1/24
sys_domain stays2 2 "$MAC2" --ip 10.77.0.2/24
sys_virsh start gone1 >/dev/null
sys_virsh start stays2 >/dev/null
sys_vf_add_sas 1 "$MAC1" "$N_SAS" 4096
sys_vf_add_sas 2 "$MAC2" 16 65536
sys_expect "gone1's $N_SAS SAs in the agent's SAD" "$N_SAS" sys_sad_count_mac "$MAC1"
sys_expect "gone1's $N_SAS SAs in the PF DB" "$N_SAS" sys_db_count_vf 1
sys_check "gone1's MAC published" sys_mac_published "$MAC1"

# The guest must be up: a destroy of a booted guest is what users do.
sys_guest_line gone1 >/dev/null

t_call=$(sbx_now_ms)
sys_virsh destroy gone1 >/dev/null
t_ret=$(sbx_now_ms)
# One read of the agent's SAD right away (a dump of $N_SAS SAs takes a few
# hundred ms: the resolution of this measurement), then polled until empty.
left=$(sys_sad_count_mac "$MAC1")
t_first=$(sbx_now_ms)
sbx_wait_for 30 sys_is 0 sys_sad_count_mac "$MAC1" || sbx_fail "gone1's SAs still in the agent's SAD 30 s after virsh destroy"
t_gone=$(sbx_now_ms)
if [ "$left" -eq 0 ]; then
    echo "# MEASURED: $N_SAS SAs: virsh destroy took $((t_ret - t_call)) ms; every SA was already gone from the agent's SAD when it returned (first read, $((t_first - t_ret)) ms later, found 0)"
else
    echo "# MEASURED: $N_SAS SAs: virsh destroy took $((t_ret - t_call)) ms; $left SAs left when it returned, the last gone $((t_gone - t_ret)) ms after it returned ($((t_gone - t_call)) ms after the call)"
fi
sys_expect "no SA of gone1 in the PF DB" 0 sys_db_count_vf 1
sys_check "gone1's MAC unpublished (agent, vfsecd, file)" sys_mac_unpublished "$MAC1"
sys_expect_vf_free 1
sys_expect "stays2's 16 SAs untouched in the SAD" 16 sys_sad_count_mac "$MAC2"
sys_expect "stays2's 16 SAs untouched in the PF DB" 16 sys_db_count_vf 2
sys_check "stays2's MAC still published" sys_mac_published "$MAC2"
sys_expect "stays2 still owns VF 2" '"stays2"' sys_d 2 .owner

sys_pass "destroy reclaimed $N_SAS SAs and unpublished the MAC"
