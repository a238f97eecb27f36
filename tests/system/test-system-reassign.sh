#!/bin/bash
# test-system-reassign (issue #5, item 3): a VF given to a second domain. Its
# start succeeds only once no SA of the first owner remains: with the
# emulator's reply gate held on the VF, the first domain's reclaim cannot
# finish, and the second `virsh start` waits (its prepare hook stays blocked in
# vfsecd); releasing the gate lets it complete. With the gate never released,
# the start fails closed when the reclaim timeout expires, and virsh prints
# vfsecd's message naming the VF. After the reassignment VF 1 carries the
# second domain's MAC: vfsecd frees the VF only at the first domain's release
# hook, once libvirt has restored the MAC it saved (no MAC race).
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

MAC_A=52:54:00:5c:00:0a
MAC_B=52:54:00:5c:00:0b
MAC_C=52:54:00:5c:00:0c
# The reclaim waits up to 10 s: room to see the start wait on a loaded host.
SYS_HOOK_TIMEOUT_MS=20000
SYS_TIMEOUTS="pf-reclaim = 10000
daemon-request = 15000
hook = 20000"

sys_setup
VF1_PCI=$(sys_vf_pci 1)
sys_domain first 1 "$MAC_A" --ip 10.77.0.1/24
sys_domain second 1 "$MAC_B" --ip 10.77.0.2/24
sys_domain third 1 "$MAC_C" --ip 10.77.0.3/24

sbx_note "-- the gate released in time: the start waits, then completes"
sys_virsh start first >/dev/null
sys_vf_add_sas 1 "$MAC_A" 8 4096
sys_nic gate-hold '{"port": 0, "vf": 1}' >/dev/null
virsh -q -c "$SYS_URI" destroy first >"$SBX_TMP/destroy.out" 2>&1 &
destroy_pid=$!
SBX_KILL="$SBX_KILL $destroy_pid"
# The destroy reached vfsecd: first's release waits on the held reclaim.
sys_eventually "first's stopped hook is blocked in vfsecd (its reclaim is held)" sys_hook_running first stopped
virsh -q -c "$SYS_URI" start second >"$SBX_TMP/start.out" 2>&1 &
start_pid=$!
SBX_KILL="$SBX_KILL $start_pid"
sys_eventually "second's prepare hook is blocked in vfsecd" sys_hook_running second prepare
sys_expect "the agent already removed first's SAs" 0 sys_sad_count_mac "$MAC_A"
sys_expect "the PF DB still holds them (their removal replies are held)" 8 sys_db_count_vf 1
# (Not virsh domstate: libvirt holds second's domain lock while its hook runs.)
sys_check "virsh start second is still waiting" kill -0 "$start_pid"
sys_expect "VF 1 still owned by first (its release waits on the held reclaim)" '"first"' sys_d 1 .owner
sys_check "second's prepare hook still blocked" sys_hook_running second prepare
t_rel=$(sbx_now_ms)
sys_nic gate-release '{"port": 0, "vf": 1}' >/dev/null
wait "$start_pid" || sbx_fail "virsh start second failed after the gate was released: $(cat "$SBX_TMP/start.out")"
echo "# MEASURED: virsh start second completed $(($(sbx_now_ms) - t_rel)) ms after the gate was released"
wait "$destroy_pid" || sbx_fail "virsh destroy first failed: $(cat "$SBX_TMP/destroy.out")"
sys_expect "second is running" running sys_virsh domstate second
sys_expect "VF 1 owned by second" '"second"' sys_d 1 .owner
sys_expect "no SA of first left in the PF DB" 0 sys_db_count_vf 1
sys_check "first's MAC unpublished" sys_mac_unpublished "$MAC_A"
sys_check "second's MAC published" sys_mac_published "$MAC_B"

# libvirt keeps a passthrough VF's saved MAC in one file per lower device and
# restores it in first's teardown, after first's stopped hook. vfsecd hands
# the VF over only at first's release hook (the VF stays first's, releasing,
# in between), so second's start saves and sets its MAC after that restore:
# VF 1 must carry second's MAC, not first's.
sys_expect "VF 1 carries second's MAC after the reassignment" "\"$MAC_B\"" sys_hw 1 .mac
sys_expect "VF 1 is no longer releasing" false sys_d 1 .releasing

sbx_note "-- the gate never released: the start fails closed at the timeout"
# A clean restart of second: its MAC on VF 1 again.
sys_virsh destroy second >/dev/null
sys_virsh start second >/dev/null
sys_expect "VF 1 carries second's MAC" "\"$MAC_B\"" sys_hw 1 .mac
sys_vf_add_sas 1 "$MAC_B" 6 8192
sys_nic gate-hold '{"port": 0, "vf": 1}' >/dev/null
sys_virsh destroy second >/dev/null
t0=$(sbx_now_ms)
if out=$(virsh -q -c "$SYS_URI" start third 2>&1); then
    sbx_fail "virsh start third succeeded while VF 1 still held second's SAs"
fi
echo "# MEASURED: virsh start third failed after $(($(sbx_now_ms) - t0)) ms: ${out//$'\n'/ }"
case "$out" in
*"vfsecd: "*"$VF1_PCI"*) sys_check "virsh printed vfsecd's message naming VF $VF1_PCI" true ;;
*) sbx_fail "virsh's message is not vfsecd's naming VF $VF1_PCI: $out" ;;
esac
sys_expect "third is not running" "shut off" sys_virsh domstate third
sys_expect "VF 1 not given to third" null sys_d 1 .owner
sys_expect "second's SAs are still in the PF DB (the reclaim never finished)" 6 sys_db_count_vf 1
sys_nic gate-release '{"port": 0, "vf": 1}' >/dev/null
sys_ctl reconcile >/dev/null
sys_eventually "after the release and a reconcile VF 1 holds no SA" sys_is 0 sys_db_count_vf 1
sys_virsh start third >/dev/null
sys_expect "third now starts on VF 1" '"third"' sys_d 1 .owner

sys_pass "reassignment waits for the reclaim, fails closed without it"
