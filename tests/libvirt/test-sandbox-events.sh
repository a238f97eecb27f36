#!/bin/bash
# test-sandbox-events: the test driver behind a sandbox's libvirtd is shared by
# every client while one connection stays open: client A (a C program on
# libvirt's event loop, as vfsecd will be) sees client B's define and start.
. "$(dirname "$0")/sandbox-lib.sh"

WATCH=${SANDBOX_EVENT_WATCH-}
[ -n "$WATCH" ] || sbx_skip "sandbox-event-watch was not built (vfsec built without libvirt)"
DOMAIN=sbx-events

sbx_start sbx

cat >"$SBX_TMP/domain.xml" <<XML
<domain type='test'>
  <name>$DOMAIN</name>
  <memory unit='MiB'>64</memory>
  <os><type>hvm</type></os>
</domain>
XML

# Client A holds the connection; "ready" means its subscription is in place.
mkfifo "$SBX_TMP/events"
"$WATCH" "$SBX_TEST_URI" 60000 "$DOMAIN" defined started >"$SBX_TMP/events" &
watch_pid=$!
exec {events}<"$SBX_TMP/events"
read -r -t 60 -u "$events" line || sbx_fail "client A never got ready"
[ "$line" = ready ] || sbx_fail "client A printed '$line' instead of ready"

# Client B: another process, another connection.
sbx_virsh "$SBX_TEST_URI" define "$SBX_TMP/domain.xml" >/dev/null
sbx_virsh "$SBX_TEST_URI" start "$DOMAIN" >/dev/null

rc=0
wait "$watch_pid" || rc=$?
seen=$(cat <&"$events")
exec {events}<&-
printf '%s\n' "$seen" | sed 's/^/# A: /'
[ "$rc" -eq 0 ] || sbx_fail "client A exited with $rc"
printf '%s\n' "$seen" | grep -qx "event $DOMAIN defined" || sbx_fail "client A saw no defined event"
printf '%s\n' "$seen" | grep -qx "event $DOMAIN started" || sbx_fail "client A saw no started event"
# The state, not only the events, is shared: A looks the domain up itself.
printf '%s\n' "$seen" | grep -qx "active $DOMAIN yes" || sbx_fail "client A does not see $DOMAIN running"
echo "PASS: client A saw client B define and start $DOMAIN on the shared test driver"
