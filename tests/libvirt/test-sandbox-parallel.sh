#!/bin/bash
# test-sandbox-parallel: two sandboxes started at the same time are separate —
# own sockets, own domains (even with the same name), own guests — and
# stopping one leaves the other's guest running.
SBX_NEEDS="qemu-system-x86_64"
. "$(dirname "$0")/sandbox-lib.sh"

DOMAIN=sbx-twin

# Both start concurrently; both are stopped at exit whatever happens.
SBX_STARTED="$SBX_TMP/a $SBX_TMP/b"
"$SBX_TOOL" start "$SBX_TMP/a" >/dev/null &
pid_a=$!
"$SBX_TOOL" start "$SBX_TMP/b" >/dev/null &
pid_b=$!
wait "$pid_a" || sbx_fail "sandbox a did not start"
wait "$pid_b" || sbx_fail "sandbox b did not start"
# shellcheck disable=SC1091
. "$SBX_TMP/a/uris.env"
URI_A=$LIBVIRT_SANDBOX_QEMU_URI
# shellcheck disable=SC1091
. "$SBX_TMP/b/uris.env"
URI_B=$LIBVIRT_SANDBOX_QEMU_URI
[ "$URI_A" != "$URI_B" ] || sbx_fail "both sandboxes have the URI $URI_A"

sbx_domain_xml "$SBX_TMP/twin.xml" "$DOMAIN"
sbx_domain_xml "$SBX_TMP/only-a.xml" sbx-only-a
sbx_virsh "$URI_A" define "$SBX_TMP/twin.xml" >/dev/null
sbx_virsh "$URI_A" define "$SBX_TMP/only-a.xml" >/dev/null
sbx_virsh "$URI_B" define "$SBX_TMP/twin.xml" >/dev/null
[ "$(sbx_virsh "$URI_B" list --all --name)" = "$DOMAIN" ] ||
    sbx_fail "sandbox b lists domains it never defined"
[ "$(sbx_virsh "$URI_A" domuuid "$DOMAIN")" != "$(sbx_virsh "$URI_B" domuuid "$DOMAIN")" ] ||
    sbx_fail "both sandboxes share the definition of $DOMAIN"

sbx_virsh "$URI_A" start "$DOMAIN" >/dev/null
sbx_virsh "$URI_B" start "$DOMAIN" >/dev/null
qemu_a=$(sbx_qemu_pid "$SBX_TMP/a" "$DOMAIN")
qemu_b=$(sbx_qemu_pid "$SBX_TMP/b" "$DOMAIN")
[ "$qemu_a" != "$qemu_b" ] || sbx_fail "both sandboxes report QEMU pid $qemu_a"

"$SBX_TOOL" stop "$SBX_TMP/a" >/dev/null || sbx_fail "sandbox a did not stop"
[ ! -d "/proc/$qemu_a" ] || sbx_fail "the guest of sandbox a (pid $qemu_a) outlived it"
[ "$(sbx_virsh "$URI_B" domstate "$DOMAIN")" = running ] ||
    sbx_fail "stopping sandbox a stopped the guest of sandbox b"
kill -0 "$qemu_b" || sbx_fail "the guest of sandbox b (pid $qemu_b) is gone"
echo "PASS: two sandboxes ran side by side; stopping one left the other's guest running"
