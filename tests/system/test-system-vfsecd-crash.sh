#!/bin/bash
# test-system-vfsecd-crash (issue #5, item 5): vfsecd is killed with SIGKILL
# while a VM runs; `virsh destroy` happens while it is down (the release hook
# cannot reach it: the SAs and the MAC stay); vfsecd is started again and its
# start-up reconcile, from the journal and libvirt's running domains, reclaims
# the SAs, unpublishes the MAC and quarantines the VF again. The other domain,
# still running, keeps its VF, SAs and MAC.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

MAC1=52:54:00:5e:00:01
MAC2=52:54:00:5e:00:02

sys_setup
sys_domain victim1 1 "$MAC1" --ip 10.77.0.1/24
sys_domain runs2 2 "$MAC2" --ip 10.77.0.2/24
sys_virsh start victim1 >/dev/null
sys_virsh start runs2 >/dev/null
sys_vf_add_sas 1 "$MAC1" 32 4096
sys_vf_add_sas 2 "$MAC2" 8 8192

kill -KILL "$SYS_D_PID"
wait "$SYS_D_PID" 2>/dev/null || true
sys_check "vfsecd is gone" sh -c "! kill -0 $SYS_D_PID 2>/dev/null"
# The release hook cannot reach vfsecd; a release is never refused.
sys_virsh destroy victim1 >/dev/null
sys_expect "victim1 is shut off" "shut off" sys_virsh domstate victim1
sys_expect "with vfsecd down victim1's SAs stay in the PF DB" 32 sys_db_count_vf 1
sys_expect "with vfsecd down victim1's SAs stay in the agent's SAD" 32 sys_sad_count_mac "$MAC1"
sys_check "with vfsecd down victim1's MAC stays in the agent's table" sys_mac_in_agent "$MAC1"

t0=$(sbx_now_ms)
sys_start_vfsecd
echo "# MEASURED: vfsecd restarted and ready (its start-up reconcile done) in $(($(sbx_now_ms) - t0)) ms"
sys_eventually "the reconcile reclaimed victim1's SAs from the agent's SAD" sys_is 0 sys_sad_count_mac "$MAC1"
sys_expect_vf_free 1
sys_check "victim1's MAC unpublished (agent, vfsecd, file)" sys_mac_unpublished "$MAC1"
sys_expect "runs2 still owns VF 2" '"runs2"' sys_d 2 .owner
sys_expect "runs2's SAs untouched" 8 sys_db_count_vf 2
sys_check "runs2's MAC still published" sys_mac_published "$MAC2"
sys_expect "vfsecd's last reconcile succeeded" true eval "sys_ctl status --json | jq .reconcile.ok"

sys_pass "a vfsecd killed under a running VM reclaims after the restart"
