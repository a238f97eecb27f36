#!/bin/bash
# test-system-parallel (issue #5, item 10): eight domains on eight VFs started
# and destroyed at once (parallel virsh). One of them (VF 3) has its reclaim
# held by the emulator's per-VF reply gate: the other seven destroys complete
# while it is held (their VFs free, SAs gone, MACs unpublished), its own waits;
# once the gate is released it completes, and the end state is exact: no SA,
# no published MAC, every VF free and quarantined.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

SYS_VFS=8
HELD=3
# The held reclaim must outlast the seven others by far.
SYS_HOOK_TIMEOUT_MS=140000
SYS_TIMEOUTS="pf-reclaim = 120000
daemon-request = 130000
hook = 140000"
mac() { printf '52:54:00:62:00:%02x' "$1"; }

sys_setup
for i in 0 1 2 3 4 5 6 7; do
    sys_domain "par$i" "$i" "$(mac "$i")"
done

t0=$(sbx_now_ms)
pids=()
for i in 0 1 2 3 4 5 6 7; do
    virsh -q -c "$SYS_URI" start "par$i" >"$SBX_TMP/start$i.out" 2>&1 &
    pids[i]=$!
done
for i in 0 1 2 3 4 5 6 7; do
    wait "${pids[i]}" || sbx_fail "virsh start par$i failed: $(cat "$SBX_TMP/start$i.out")"
done
echo "# MEASURED: 8 parallel virsh start completed in $(($(sbx_now_ms) - t0)) ms"
for i in 0 1 2 3 4 5 6 7; do
    sys_expect "VF $i owned by par$i" "\"par$i\"" sys_d "$i" .owner
    sys_vf_add_sas "$i" "$(mac "$i")" 4 $((4096 + 16 * i))
done
sys_expect "32 SAs in the agent's SAD" 32 sys_sad_count
sys_expect "8 MACs published" 8 eval "sys_nic macs '{\"port\": 0}' | jq '.local.entries | length'"

sys_nic gate-hold "{\"port\": 0, \"vf\": $HELD}" >/dev/null
t0=$(sbx_now_ms)
for i in 0 1 2 3 4 5 6 7; do
    virsh -q -c "$SYS_URI" destroy "par$i" >"$SBX_TMP/destroy$i.out" 2>&1 &
    pids[i]=$!
    SBX_KILL="$SBX_KILL ${pids[i]}"
done
for i in 0 1 2 3 4 5 6 7; do
    [ "$i" -ne "$HELD" ] || continue
    wait "${pids[i]}" || sbx_fail "virsh destroy par$i failed: $(cat "$SBX_TMP/destroy$i.out")"
done
echo "# MEASURED: the 7 ungated parallel destroys completed in $(($(sbx_now_ms) - t0)) ms"
sys_check "par$HELD's destroy still waits on its held reclaim" kill -0 "${pids[HELD]}"
for i in 0 1 2 3 4 5 6 7; do
    [ "$i" -ne "$HELD" ] || continue
    sys_expect "VF $i has no owner" null sys_d "$i" .owner
    sys_expect "VF $i holds no SA in the PF DB" 0 sys_db_count_vf "$i"
    sys_check "par$i's MAC unpublished" sys_mac_unpublished "$(mac "$i")"
done
sys_expect "par$HELD's 4 SAs still in the PF DB" 4 sys_db_count_vf "$HELD"
sys_expect "the agent's SAD: only par$HELD's removals are done but unanswered" 0 sys_sad_count

t0=$(sbx_now_ms)
sys_nic gate-release "{\"port\": 0, \"vf\": $HELD}" >/dev/null
wait "${pids[HELD]}" || sbx_fail "virsh destroy par$HELD failed: $(cat "$SBX_TMP/destroy$HELD.out")"
echo "# MEASURED: par$HELD's destroy completed $(($(sbx_now_ms) - t0)) ms after the gate was released"
sys_expect "end state: no SA in the agent's SAD" 0 sys_sad_count
sys_expect "end state: no SA in the PF DB" 0 eval "sys_nic db-dump '{\"port\": 0}' | jq .count"
sys_expect "end state: the agent's local-MAC table is empty" 0 eval "sys_nic macs '{\"port\": 0}' | jq '.local.entries | length'"
sys_expect "end state: vfsecd publishes no MAC" 0 eval "sys_ctl macs --json | jq '[.ports[].entries[]] | length'"
sys_expect "end state: vfsecd's MAC file has no entry" 0 eval "xmllint --xpath 'count(//*[local-name()=\"entry\"])' '$SYS_RUN_DIR/local-macs/nic0.xml'"
sys_expect "end state: no VF owned" 0 eval "sys_ctl vfs --json | jq '[.vfs[] | select(.owner != null)] | length'"
sys_expect "end state: every VF quarantined" 8 eval "sys_contract_vfs | jq '[.vfs[] | select(.port_tag.vid == 4092)] | length'"
sys_expect "end state: no domain runs" "" sys_virsh list --name

sys_pass "eight parallel starts/destroys, one held by its gate, exact end state"
