#!/bin/bash
# test-sandbox-hook-fail: a prepare hook that fails aborts "virsh start", and
# virsh shows the hook's own message (this is how vfsec's hook refuses a VM).
SBX_NEEDS="qemu-system-x86_64"
. "$(dirname "$0")/sandbox-lib.sh"

DOMAIN=sbx-refused
MESSAGE="sbx: refusing $DOMAIN"

cat >"$SBX_TMP/refuse" <<HOOK
#!/bin/sh
cat >/dev/null
[ "\$2" = prepare ] || exit 0
echo "$MESSAGE" >&2
exit 1
HOOK
chmod +x "$SBX_TMP/refuse"

sbx_start sbx --hook "qemu:$SBX_TMP/refuse"
sbx_domain_xml "$SBX_TMP/domain.xml" "$DOMAIN"
sbx_virsh "$SBX_QEMU_URI" define "$SBX_TMP/domain.xml" >/dev/null

if out=$(virsh -q -c "$SBX_QEMU_URI" start "$DOMAIN" 2>&1); then
    sbx_fail "virsh start succeeded despite the failing prepare hook"
fi
printf '%s\n' "$out" | sed 's/^/# virsh: /'
case "$out" in
*"$MESSAGE"*) ;;
*) sbx_fail "virsh did not show the hook's message '$MESSAGE'" ;;
esac
state=$(sbx_virsh "$SBX_QEMU_URI" domstate "$DOMAIN")
[ "$state" = "shut off" ] || sbx_fail "$DOMAIN is '$state' after a refused start"
echo "PASS: a failing prepare hook aborted the start and virsh showed its message"
