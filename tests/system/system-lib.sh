# system-lib.sh: the fixture every system test sources — the NIC emulator with
# a prefix of its own, vfsecd on its contract socket, a private libvirtd
# (tools/libvirt-sandbox) with vfsec's hook installed before it starts, the
# guest kit, and queries of the emulator's and vfsecd's state. Everything is
# torn down at exit, pass or fail (sandbox-lib.sh's trap): the sandbox first
# (its domains are destroyed through libvirtd, so their release hooks still
# reach vfsecd), then vfsecd, then the emulator.
#
# A test sets SYS_VFS (VFs of port 0, default 4), SYS_MODE (veb|vepa, default
# vepa), SYS_HAIRPIN (true|false, default true) and SYS_TIMEOUTS (extra
# "[timeouts]" lines) and SYS_HOOK_TIMEOUT_MS (the hook's wait for vfsecd,
# default 10000; vfsecd answers within 0.8 of it) before calling sys_setup. Exit codes: 0 pass, 1 fail,
# 77 skip (not root, a tool missing, no guest kit).

# shellcheck shell=bash
SBX_NEEDS="qemu-system-x86_64 ip tail jq python3 setsid apt-get apt-cache dpkg flock xmllint ${SBX_NEEDS-}"
# shellcheck disable=SC1091
. "${VFSEC_SOURCE_DIR:?VFSEC_SOURCE_DIR is not set}/tests/libvirt/sandbox-lib.sh"

: "${VFSEC_BUILD_DIR:?VFSEC_BUILD_DIR is not set}"
SYS_NICSIM=$VFSEC_BUILD_DIR/nicsim/vfsec-nicsim
SYS_VFSECD=$VFSEC_BUILD_DIR/daemon/vfsecd
SYS_VFSECCTL=$VFSEC_BUILD_DIR/tools/vfsecctl
SYS_HOOK_BIN=$VFSEC_BUILD_DIR/hooks/vfsec-hook
SYS_KIT_TOOL=$VFSEC_SOURCE_DIR/tools/guest-kit
for sys_bin in "$SYS_NICSIM" "$SYS_VFSECD" "$SYS_VFSECCTL" "$SYS_HOOK_BIN"; do
    [ -x "$sys_bin" ] || sbx_fail "$sys_bin is not built (meson compile -C $VFSEC_BUILD_DIR)"
done
unset sys_bin

# Deadlines (seconds): a guest boots in 4-8 s alone under TCG, up to ~30 s
# with eight starting together on two cores.
SYS_BOOT_TIMEOUT=${SYS_BOOT_TIMEOUT:-180}
SYS_STATE_TIMEOUT=${SYS_STATE_TIMEOUT:-30}
SYS_KEY=000102030405060708090a0b0c0d0e0f
SYS_T0=$(sbx_now_ms)

# ---- bring-up ----

# A prefix no other emulator on this machine uses: tests of other developers
# share the host's network namespace.
sys_pick_prefix() {
    local p n
    for n in 1 2 3 4 5 6 7 8; do
        p=sy$(printf '%04x' $((RANDOM % 65536)))
        if ! ip link show "${p}0pf" >/dev/null 2>&1 && ! ip netns list | grep -qw -- "$p-nic"; then
            echo "$p"
            return 0
        fi
    done
    sbx_fail "no free emulator prefix after $n tries"
}

sys_start_nicsim() {
    SYS_PREFIX=$(sys_pick_prefix)
    SYS_NIC_CONTRACT=$SBX_TMP/nic-contract.sock
    SYS_NIC_CONTROL=$SBX_TMP/nic-control.sock
    local ready=$SBX_TMP/nicsim.ready args=()
    [ "${SYS_HAIRPIN:-true}" = true ] || args+=(--no-hairpin)
    "$SYS_NICSIM" --ports 1 --vfs "${SYS_VFS:-4}" --prefix "$SYS_PREFIX" --mode "${SYS_MODE:-vepa}" \
        --contract-socket "$SYS_NIC_CONTRACT" --control-socket "$SYS_NIC_CONTROL" \
        --ready-file "$ready" "${args[@]}" </dev/null >>"$SBX_TMP/nicsim.log" 2>&1 ||
        sbx_fail "vfsec-nicsim did not start: $(tail -n 3 "$SBX_TMP/nicsim.log")"
    SYS_NIC_PID=$(jq -r .pid "$ready")
    sbx_after_stop "sys_stop_pid $SYS_NIC_PID vfsec-nicsim"
}

# SIGTERMs process $1 (named $2) and waits for it to exit; SIGKILL after 30 s.
sys_stop_pid() {
    kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null || true
    if ! timeout 30 tail --pid="$1" -f /dev/null; then
        echo "# $2 (pid $1) ignored SIGTERM for 30 s: killing it" >&2
        kill -KILL "$1" 2>/dev/null || true
        timeout 30 tail --pid="$1" -f /dev/null || true
    fi
}

sys_write_vfsecd_conf() {
    mkdir -p "$SBX_TMP/vfsecd/state" "$SBX_TMP/vfsecd/run"
    chmod 700 "$SBX_TMP/vfsecd/state"
    cat >"$SYS_D_CONF" <<EOF
[daemon]
libvirt-uri = $SYS_URI
control-socket = $SYS_D_SOCK
state-dir = $SBX_TMP/vfsecd/state
run-dir = $SBX_TMP/vfsecd/run
log-level = info
[timeouts]
reconnect-min = 100
reconnect-max = 1000
${SYS_TIMEOUTS-}
[pf nic0]
plugin = contract
socket = $SYS_NIC_CONTRACT
port = 0
hairpin = ${SYS_HAIRPIN:-true}
EOF
}

# Starts vfsecd (again, after a kill) and waits for its ready file.
sys_start_vfsecd() {
    local ready=$SBX_TMP/vfsecd/vfsecd.ready
    rm -f "$ready"
    # vfsecd never forks: its own session, detached from the test's shell.
    setsid "$SYS_VFSECD" --config "$SYS_D_CONF" --ready-file "$ready" --foreground \
        </dev/null >>"$SBX_TMP/vfsecd.log" 2>&1 &
    SYS_D_PID=$!
    sbx_after_stop "sys_stop_pid $SYS_D_PID vfsecd"
    sbx_wait_line "$ready" ready 60 >/dev/null ||
        sbx_fail "vfsecd did not become ready: $(tail -n 3 "$SBX_TMP/vfsecd.log")"
}

# The hook libvirt runs: libvirt clears a hook's environment, so this wrapper
# names vfsecd's socket and runs the built hook with its kind.
sys_write_hook() {
    cat >"$SYS_HOOK" <<EOF
#!/bin/sh
VFSEC_CONTROL_SOCKET='$SYS_D_SOCK'
VFSEC_HOOK_TIMEOUT_MS='${SYS_HOOK_TIMEOUT_MS:-10000}'
export VFSEC_CONTROL_SOCKET VFSEC_HOOK_TIMEOUT_MS
kind=\$(basename "\$(dirname "\$0")" .d)
exec '$SYS_HOOK_BIN' --kind="\$kind" "\$@"
EOF
    chmod 755 "$SYS_HOOK"
}

# Brings the whole environment up: guest kit, emulator, vfsecd, sandbox.
sys_setup() {
    local out
    out=$("$SYS_KIT_TOOL" build "$SBX_TMP/kit" 2>&1) ||
        sbx_skip "guest-kit cannot build the guest (Debian archive unreachable?): $(printf '%s' "$out" | tail -n 1)"
    SYS_KIT=$SBX_TMP/kit
    SYS_SBX=$SBX_TMP/sbx
    SYS_URI="qemu:///system?socket=$SYS_SBX/run/libvirt/libvirt-sock"
    SYS_D_CONF=$SBX_TMP/vfsecd/vfsecd.conf
    SYS_D_SOCK=$SBX_TMP/vfsecd/vfsecd.sock
    SYS_HOOK=$SBX_TMP/vfsec-hook.sh
    SYS_RUN_DIR=$SBX_TMP/vfsecd/run
    sys_start_nicsim
    sys_write_vfsecd_conf
    sys_start_vfsecd
    sys_write_hook
    # Installed before libvirtd starts: libvirtd scans its hooks at start.
    sbx_start sbx --hook "qemu:$SYS_HOOK" --hook "network:$SYS_HOOK"
    sbx_note "environment up in $(($(sbx_now_ms) - SYS_T0)) ms: emulator ${SYS_PREFIX}0pf, vfsecd, sandbox $SYS_SBX"
}

# ---- domains ----

# VF m's netdev.
sys_vf_dev() {
    echo "${SYS_PREFIX}0v$1"
}

# VF m's PCI address as the emulator's contract names it.
sys_vf_pci() {
    printf 'fe00:00:%02x.%d\n' $((0x10 + $1 / 8)) $(($1 % 8))
}

# sys_domain NAME VF MAC [guest-kit domain-xml options...]: writes NAME's XML
# (a kit guest on VF's netdev) to $SBX_TMP/NAME.xml and defines it.
sys_domain() {
    local name=$1 vf=$2 mac=$3
    shift 3
    "$SYS_KIT_TOOL" domain-xml --name "$name" --mac "$mac" --vf "$(sys_vf_dev "$vf")" \
        --kit "$SYS_KIT" --serial-log "$SBX_TMP/$name.serial.log" "$@" "$SBX_TMP/$name.xml" ||
        sbx_fail "guest-kit domain-xml $name failed"
    sys_virsh define "$SBX_TMP/$name.xml" >/dev/null
}

sys_virsh() {
    sbx_virsh "$SYS_URI" "$@"
}

# Waits for guest NAME's serial line containing $2 (default READY); prints it.
sys_guest_line() {
    sbx_wait_line "$SBX_TMP/$1.serial.log" "VFSEC-GUEST ${2:-READY}" "$SYS_BOOT_TIMEOUT" ||
        sbx_fail "$1 printed no '${2:-READY}' line within ${SYS_BOOT_TIMEOUT}s: $(tail -c 300 "$SBX_TMP/$1.serial.log" 2>/dev/null)"
}

# ---- state queries (the emulator's sockets, vfsecd's control socket, files) ----

sys_nic() {
    "$SYS_NICSIM" ctl --control-socket "$SYS_NIC_CONTROL" "$@"
}

sys_ctl() {
    "$SYS_VFSECCTL" "$@" --socket "$SYS_D_SOCK"
}

# The PF driver's list-vfs of port 0 (contract socket) as JSON: port tag,
# trust, spoofchk and SA count of every VF, as the "hardware" holds them.
sys_contract_vfs() {
    python3 - "$SYS_NIC_CONTRACT" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
def call(i, op, args):
    f.write(json.dumps({"id": i, "op": op, "args": args}) + "\n")
    f.flush()
    while True:
        line = f.readline()
        if not line:
            sys.exit("contract socket closed")
        msg = json.loads(line)
        if msg.get("id") == i:
            break
    if not msg.get("ok"):
        sys.exit("contract %s: %s" % (op, msg["error"]["message"]))
    return msg["result"]
call(0, "hello", {"version": 1, "client": "system-test"})
print(json.dumps(call(1, "list-vfs", {"port": 0})))
EOF
}

# sys_hw VF FIELD: one field of VF's list-vfs row (jq syntax, e.g. .trust).
sys_hw() {
    sys_contract_vfs | jq -c ".vfs[] | select(.vf == $1) | $2"
}

# sys_d VF FIELD: one field of VF's row in `vfsecctl vfs --json`.
sys_d() {
    sys_ctl vfs --json | jq -c ".vfs[] | select(.vf == $1) | $2"
}

# Number of SAs in the agent's SAD / in the PF driver's DB for VF $1 (DB) or
# the whole port (SAD: the agent does not know VFs, only SAD-domain keys).
sys_sad_count() {
    sys_nic sad-dump '{"port": 0}' | jq .count
}
sys_db_count_vf() {
    sys_nic db-dump '{"port": 0}' | jq "[.sas[] | select(.domain == \"vf:$1\")] | length"
}

# One counter of port 0.
sys_counter() {
    sys_nic counters '{"port": 0}' | jq ".counters[\"$1\"] // 0"
}

# True if MAC $1 is in the agent's local-MAC table (emulator), in vfsecd's
# table (vfsecctl macs) and in vfsecd's file; false if in none. Mixed is a
# failure of its own (the three must agree).
sys_mac_in_agent() {
    sys_nic macs '{"port": 0}' | jq -e --arg m "${1,,}" '[.local.entries[] | select((.mac | ascii_downcase) == $m)] | length > 0' >/dev/null
}
sys_mac_in_vfsecd() {
    sys_ctl macs --json | jq -e --arg m "${1,,}" '[.ports[].entries[] | select((.mac | ascii_downcase) == $m)] | length > 0' >/dev/null
}
sys_mac_in_file() {
    local f=$SYS_RUN_DIR/local-macs/nic0.xml
    [ -r "$f" ] || return 1
    xmllint --xpath "//*[translate(@mac,'ABCDEF','abcdef')='${1,,}']" "$f" >/dev/null 2>&1
}
sys_mac_published() {
    sys_mac_in_agent "$1" && sys_mac_in_vfsecd "$1" && sys_mac_in_file "$1"
}
sys_mac_unpublished() {
    ! sys_mac_in_agent "$1" && ! sys_mac_in_vfsecd "$1" && ! sys_mac_in_file "$1"
}

# ---- assertions ----

SYS_CHECKS=0
# sys_expect WHAT WANT CMD...: CMD's output must be WANT.
sys_expect() {
    local what=$1 want=$2 got
    shift 2
    got=$("$@") || got="(query failed: $*)"
    [ "$got" = "$want" ] || sbx_fail "$what: expected $want, got $got"
    SYS_CHECKS=$((SYS_CHECKS + 1))
    sbx_note "ok: $what ($got)"
}

# sys_check WHAT CMD...: CMD must succeed.
sys_check() {
    local what=$1
    shift
    "$@" || sbx_fail "$what"
    SYS_CHECKS=$((SYS_CHECKS + 1))
    sbx_note "ok: $what"
}

# sys_eventually WHAT CMD...: CMD must succeed within SYS_STATE_TIMEOUT.
sys_eventually() {
    local what=$1
    shift
    sbx_wait_for "$SYS_STATE_TIMEOUT" "$@" || sbx_fail "$what (not within ${SYS_STATE_TIMEOUT}s)"
    SYS_CHECKS=$((SYS_CHECKS + 1))
    sbx_note "ok: $what"
}

# True when command output $2.. equals $1 (for sys_eventually).
sys_is() {
    local want=$1 got
    shift
    got=$("$@" 2>/dev/null) || return 1
    [ "$got" = "$want" ]
}

# True when number output by $2.. is greater than $1.
sys_gt() {
    local floor=$1 got
    shift
    got=$("$@" 2>/dev/null) || return 1
    [ "$got" -gt "$floor" ]
}

# Adds $3 SAs (inbound, SPIs from $4) through VF $1's mailbox with MAC $2;
# fails the test unless the PF accepted all of them.
sys_vf_add_sas() {
    local out
    out=$(sys_nic vf-add-sa "{\"port\": 0, \"vf\": $1, \"count\": $3, \"sa\": {\"dir\": \"in\",
        \"dst\": \"10.77.0.$((100 + $1))\", \"spi\": $4, \"key\": \"$SYS_KEY\", \"mac\": \"$2\"}}" 2>&1) ||
        sbx_fail "VF $1's mailbox refused $3 SAs: $out"
    [ "$(printf '%s' "$out" | jq .added)" = "$3" ] || sbx_fail "VF $1's mailbox added not $3 SAs: $out"
}

sys_pass() {
    echo "PASS: $* ($SYS_CHECKS checks, $(($(sbx_now_ms) - SYS_T0)) ms)"
}

# Adds one outbound SA (SPI $3) through VF $1's mailbox with MAC $2 for
# destination $4: the VF-driver model then offloads the VF's packets to $4
# (ESP header and TX metadata), as a guest's xfrm-offload driver would.
# $5 = in adds the inbound SA (the receiver's side) instead.
sys_vf_add_out_sa() {
    local out
    out=$(sys_nic vf-add-sa "{\"port\": 0, \"vf\": $1, \"sa\": {\"dir\": \"${5:-out}\",
        \"dst\": \"$4\", \"spi\": $3, \"key\": \"$SYS_KEY\", \"mac\": \"$2\"}}" 2>&1) ||
        sbx_fail "VF $1's mailbox refused an SA (${5:-out}, SPI $3): $out"
}

# Packets the agent processed with the SA(s) of SPI $1, direction $2 (in|out;
# both when absent); 0 when there is no such SA.
sys_sa_packets() {
    sys_nic sad-dump '{"port": 0}' |
        jq --arg d "${2-}" "[.sas[] | select(.key.spi == $1 and (\$d == \"\" or .dir == \$d)) | .packets] | add // 0"
}

# Waits (at most $2 s) for a frame from MAC $1 leaving port 0's uplink, read
# with a packet socket on the wire's end of the cable; prints "esp SPI" for an
# IPv4 ESP frame, "plain PROTO" for another IPv4 frame. $3 = esp: only an ESP
# frame counts.
sys_uplink_frame() {
    ip netns exec "$SYS_PREFIX-wire" python3 - "${SYS_PREFIX}0up" "$1" "$2" "${3-}" <<'EOF2'
import socket, struct, sys, time
dev, mac, limit, want = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((dev, 0))
deadline = time.monotonic() + limit
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        sys.exit(1)
    s.settimeout(left)
    try:
        frame = s.recv(65535)
    except socket.timeout:
        sys.exit(1)
    if frame[6:12] != mac:
        continue
    off, etype = 12, struct.unpack("!H", frame[12:14])[0]
    while etype in (0x8100, 0x88a8):
        off += 4
        etype = struct.unpack("!H", frame[off:off + 2])[0]
    if etype != 0x0800:
        continue
    ip = frame[off + 2:]
    proto, ihl = ip[9], (ip[0] & 0xF) * 4
    if proto == 50:
        print("esp %d" % struct.unpack("!I", ip[ihl:ihl + 4])[0])
        break
    if want != "esp":
        print("plain %d" % proto)
        break
EOF2
}

# SAs in the agent's SAD whose SAD-domain key carries MAC $1.
sys_sad_count_mac() {
    sys_nic sad-dump '{"port": 0}' | jq --arg m "${1,,}" '[.sas[] | select((.key.mac | ascii_downcase) == $m)] | length'
}

# True while a vfsec-hook call for domain $1, operation $2, runs: the hook is
# blocked in vfsecd (process table, not logs).
sys_hook_running() {
    pgrep -f -- "^$SYS_HOOK_BIN --kind=qemu $1 $2 " >/dev/null
}

# A VF's row in vfsecd and the hardware after its owner left: no owner, no
# SA in the PF DB, quarantine tag back on.
sys_expect_vf_free() {
    sys_expect "VF $1 has no owner" null sys_d "$1" .owner
    sys_expect "VF $1 holds no SA in the PF DB" 0 sys_db_count_vf "$1"
    sys_expect "VF $1 carries the quarantine tag again" 4092 sys_hw "$1" .port_tag.vid
}
