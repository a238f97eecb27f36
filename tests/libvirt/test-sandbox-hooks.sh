#!/bin/bash
# test-sandbox-hooks: a sandbox runs a real TCG guest with the hooks installed
# before libvirtd started; each hook call carries the domain XML on stdin, and
# the guest's macvtap on a veth exists exactly while it runs.
SBX_NEEDS="qemu-system-x86_64 ip"
. "$(dirname "$0")/sandbox-lib.sh"

DOMAIN=sbx-hooks
VETH=sbxh$$
LOG=$SBX_TMP/hook.log

# A hook that records its arguments, the size of its stdin and whether stdin
# is this domain's XML; it writes nothing to stdout.
mkdir -p "$SBX_TMP/hooks/qemu.d"
cat >"$SBX_TMP/hooks/qemu.d/50-record" <<HOOK
#!/bin/sh
xml=\$(mktemp)
cat >"\$xml"
printf '%s|%s|%s\n' "\$*" "\$(wc -c <"\$xml")" "\$(grep -c "<name>\$1</name>" "\$xml")" >>"$LOG"
rm -f "\$xml"
HOOK
chmod +x "$SBX_TMP/hooks/qemu.d/50-record"

sbx_start sbx --hook-dir "$SBX_TMP/hooks"
sbx_veth "$VETH"
sbx_domain_xml "$SBX_TMP/domain.xml" "$DOMAIN" "$VETH"
sbx_virsh "$SBX_QEMU_URI" define "$SBX_TMP/domain.xml" >/dev/null
[ ! -e "$LOG" ] || sbx_fail "define ran a hook"

sbx_virsh "$SBX_QEMU_URI" start "$DOMAIN" >/dev/null
state=$(sbx_virsh "$SBX_QEMU_URI" domstate "$DOMAIN")
[ "$state" = running ] || sbx_fail "$DOMAIN is '$state' after start"
taps=$(sbx_macvtaps_on "$VETH")
[ "$(printf '%s\n' "$taps" | grep -c .)" -eq 1 ] ||
    sbx_fail "expected one macvtap on $VETH while $DOMAIN runs, found '$taps'"
ip -d link show "$taps" | grep -q 'macvtap mode passthru' ||
    sbx_fail "macvtap $taps on $VETH is not in passthru mode"
sbx_note "$DOMAIN runs with $taps on $VETH"

sbx_virsh "$SBX_QEMU_URI" destroy "$DOMAIN" >/dev/null
taps=$(sbx_macvtaps_on "$VETH")
[ -z "$taps" ] || sbx_fail "macvtap $taps on $VETH outlived $DOMAIN"

[ -s "$LOG" ] || sbx_fail "no hook ran"
sed 's/^/# hook: /' "$LOG"
# libvirt 9.0 passes "-" as the 4th argument; 11.x passes the stop reason.
expected="prepare begin -
start begin -
started begin -
stopped end
release end"
got=$(cut -d'|' -f1 "$LOG" | awk -v d="$DOMAIN" '
    $1 != d { print "wrong domain " $1; next }
    $3 == "end" { print $2, $3; next }
    { print $2, $3, $4 }')
[ "$got" = "$expected" ] || sbx_fail "hook calls were
$got
instead of
$expected"
awk -F'|' '$2 <= 0 || $3 != 1 { bad = 1 } END { exit bad }' "$LOG" ||
    sbx_fail "a hook call did not get the domain XML on stdin"
echo "PASS: hooks saw prepare, start, started, stopped, release with the XML; macvtap lived with the guest"
