#!/bin/bash
# test-system-undefine (issue #5, item 8): `virsh undefine` of a domain that
# ran and was destroyed leaves no trace in vfsecd's state: no VF, no MAC, no
# entry in `vfsecctl domains` (also not a refusal on record), no assignment
# nor pending operation in its journal (state-dir), nothing in its local-MAC
# file.
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/system/system-lib.sh"

MAC1=52:54:00:60:00:01

# True if vfsecd's view or files still name domain $1.
sys_traces_of() {
    sys_ctl domains --json | jq -e --arg n "$1" '[.domains[] | select(.name == $n)] | length > 0' >/dev/null && return 0
    sys_ctl vfs --json | jq -e --arg n "$1" '[.vfs[] | select(.owner == $n)] | length > 0' >/dev/null && return 0
    sys_ctl macs --json | jq -e --arg n "$1" '[.ports[].entries[] | select(.owner == $n)] | length > 0' >/dev/null && return 0
    # The journal: no assignment and no pending operation names it. (Each VF's
    # file keeps its latest done operation, with that operation's owner, to
    # carry the sequence number: history until the VF's next operation.)
    local f
    for f in "$SBX_TMP"/vfsecd/state/vf-*.json; do
        jq -e --arg n "$1" '[(.assignment // {}), (.operations[] | select(.state != "done"))] | [.. | strings] | index($n) != null' \
            "$f" >/dev/null && return 0
    done
    grep -rqF -- "name=\"$1\"" "$SYS_RUN_DIR/local-macs" && return 0
    return 1
}
sys_no_traces_of() { ! sys_traces_of "$1"; }

sys_setup
sys_domain ran1 1 "$MAC1" --ip 10.77.0.1/24
# refused2 is refused at start (ran1's MAC): vfsecd keeps the refusal on record.
sys_domain refused2 2 "$MAC1" --ip 10.77.0.2/24
sys_virsh start ran1 >/dev/null
sys_vf_add_sas 1 "$MAC1" 4 4096
virsh -q -c "$SYS_URI" start refused2 >/dev/null 2>&1 && sbx_fail "refused2 started with ran1's MAC"
sys_check "vfsecd's state names ran1 while it runs" sys_traces_of ran1
sys_check "vfsecd records refused2's refusal" sys_traces_of refused2

sys_virsh destroy ran1 >/dev/null
sys_virsh undefine ran1 >/dev/null
sys_virsh undefine refused2 >/dev/null
sys_eventually "no trace of ran1 in vfsecd (domains, VFs, MACs, journal, MAC file)" sys_no_traces_of ran1
sys_eventually "no trace of refused2 in vfsecd" sys_no_traces_of refused2
sys_expect_vf_free 1
sys_expect "vfsecd lists no domain" 0 eval "sys_ctl domains --json | jq '.domains | length'"

sys_pass "undefine after destroy leaves nothing behind"
