/* test-vfsecd-hook.c: vfsecd on the NIC emulator driven by the real
 * vfsec-hook (libvirt's argv and environment), the control socket's peer
 * check, and vfsecctl's daemon commands. */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-fixture.h"
#include "vfsec-ctlproto.h"
#include "vfsec-test-util.h"

#define UUID_A "6d3bf2a0-1b1c-4c55-9d5e-000000000a01"
#define UUID_B "6d3bf2a0-1b1c-4c55-9d5e-000000000b02"
#define MAC_A "52:54:00:aa:00:01"

static char *
vf_pci(DaemonFixture *fx, guint vf)
{
    g_autoptr(JsonObject) row = daemon_nic_vf(fx, vf);

    return g_strdup(json_object_get_string_member(row, "pci"));
}

/* vfsecd's `vfs` row of emulator VF @vf (a new reference). */
static JsonObject *
vfsecd_vf_row(DaemonFixture *fx, guint vf)
{
    g_autofree char *pci = vf_pci(fx, vf);
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "vfs");
    JsonArray *rows = json_object_get_array_member(json_node_get_object(node), "vfs");

    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);

        if (g_strcmp0(json_object_get_string_member(row, "pci"), pci) == 0)
            return json_object_ref(row);
    }
    g_error("vfsecd lists no VF %s", pci);
}

/* The emulator's PF PCI address (port 0). */
static char *
nic_pf_pci(DaemonFixture *fx)
{
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx->nic, NULL, NULL);
    g_autoptr(JsonObject) ports = nicsim_contract_call(fx->nic, client, "list-ports", NULL);

    return g_strdup(json_object_get_string_member(
        json_array_get_object_element(json_object_get_array_member(ports, "ports"), 0),
        "pf_pci"));
}

static void
assert_quarantined(DaemonFixture *fx, guint vf)
{
    g_autoptr(JsonObject) row = daemon_nic_vf(fx, vf);
    JsonObject *tag = json_object_get_object_member(row, "port_tag");

    g_assert_nonnull(tag);
    g_assert_cmpint(json_object_get_int_member(tag, "vid"), ==, 4092);
    g_assert_false(json_object_get_boolean_member(row, "trust"));
    g_assert_true(json_object_get_boolean_member(row, "spoofchk"));
}

static void
hook_ok(DaemonFixture *fx, const char *name, const char *op, const char *subop,
        const char *xml)
{
    g_autofree char *err = NULL;
    int status = daemon_hook(fx, "qemu", name, op, subop, xml, &err);

    if (status != 0)
        g_error("hook %s %s: exit %d: %s", name, op, status, err);
    g_assert_cmpstr(err, ==, "");
}

/* 1 and 2: prepare reclaims leftovers, start quarantines, started publishes,
 * a second domain with the same key is refused, release cleans up. */
static void
test_hook_path(void)
{
    DaemonFixture *fx = daemon_new(NULL);
    g_autofree char *xml_a = daemon_domain_xml(fx, "vm-a", UUID_A, 1, MAC_A);
    g_autofree char *xml_b = daemon_domain_xml(fx, "vm-b", UUID_B, 2, MAC_A);
    g_autofree char *pci_b = vf_pci(fx, 2);
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) row = NULL;

    /* Leftovers of a previous owner, while the VF is untagged: once vfsecd
     * runs, a free VF carries the quarantine tag and can add none. vfsecd's
     * start-up reconcile or the prepare removes them; either way they must
     * be gone when prepare answers. */
    daemon_nic_add_sas(fx, 1, 5, 1000);
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 1), ==, 5);
    daemon_launch(fx);

    hook_ok(fx, "vm-a", "prepare", "begin", xml_a);
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 1), ==, 0);
    hook_ok(fx, "vm-a", "start", "begin", xml_a);
    assert_quarantined(fx, 1);
    g_assert_false(daemon_nic_published(fx, MAC_A));
    hook_ok(fx, "vm-a", "started", "begin", xml_a);
    g_assert_true(daemon_nic_published(fx, MAC_A));
    g_assert_true(daemon_macfile_has(fx, MAC_A));

    /* Same MAC, same port, another VF: refused, naming the VF and vm-a. */
    g_assert_cmpint(daemon_hook(fx, "qemu", "vm-b", "prepare", "begin", xml_b, &err), ==, 1);
    g_assert_nonnull(strstr(err, pci_b));
    g_assert_nonnull(strstr(err, "vm-a"));
    g_assert_true(g_str_has_prefix(err, "vfsecd: "));
    /* One line. */
    g_assert_cmpint(strchr(err, '\n') - err, ==, (int)strlen(err) - 1);
    g_clear_pointer(&err, g_free);
    /* libvirt still runs stopped/release for the refused start: vm-a keeps its VF. */
    hook_ok(fx, "vm-b", "stopped", "end", xml_b);
    hook_ok(fx, "vm-b", "release", "end", xml_b);
    g_assert_true(daemon_nic_published(fx, MAC_A));

    /* SAs on the VF (an untrusted guest cannot offload through the
     * quarantine tag: untag it behind vfsecd's back); the stop reclaims
     * them, unpublishes and quarantines again. */
    daemon_nic_untag_add_sas(fx, 1, 3, 5000);
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 1), ==, 3);
    hook_ok(fx, "vm-a", "stopped", "end", xml_a);
    /* SAs and MAC gone at once; the VF stays vm-a's until libvirt's
     * teardown (which restores the VF's MAC) is over: the release hook. */
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 1), ==, 0);
    g_assert_false(daemon_nic_published(fx, MAC_A));
    g_assert_false(daemon_macfile_has(fx, MAC_A));
    row = vfsecd_vf_row(fx, 1);
    g_assert_cmpstr(json_object_get_string_member(row, "owner"), ==, "vm-a");
    g_assert_true(json_object_get_boolean_member(row, "releasing"));
    g_clear_pointer(&row, json_object_unref);
    hook_ok(fx, "vm-a", "release", "end", xml_a);
    row = vfsecd_vf_row(fx, 1);
    g_assert_null(json_object_get_string_member(row, "owner"));
    g_assert_false(json_object_get_boolean_member(row, "releasing"));
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 1), ==, 0);
    /* The tag removed behind vfsecd's back comes back with a reconcile,
     * which reads the devices again. */
    g_assert_cmpint(daemon_ctl(fx, NULL, NULL, "reconcile", NULL), ==, 0);
    assert_quarantined(fx, 1);

    daemon_stop(fx);
}

/* One "hook" request straight to vfsecd, as the hook front sends it (the XML
 * unparsed); returns whether vfsecd answered ok, its message in *@message. */
static gboolean
vfsecd_hook_call(DaemonFixture *fx, VfsecHookKind kind, VfsecHookOp op, const char *name,
                 const char *xml, char **message)
{
    g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(VFSEC_CTL_OP_HOOK);
    g_autoptr(VfsecCtlClient) client = NULL;
    g_autoptr(VfsecCtlReply) reply = NULL;
    g_autoptr(GError) error = NULL;
    gint64 deadline = g_get_monotonic_time() + NICSIM_WAIT_MS * 1000;
    int fd;

    req->hook.kind = kind;
    req->hook.op = op;
    req->hook.subop = VFSEC_HOOK_SUBOP_BEGIN;
    req->hook.name = g_strdup(name);
    req->hook.extra = g_strdup("-");
    req->hook.xml = g_strdup(xml);
    req->hook.timeout_ms = 10000;
    fd = vfsec_ctl_connect(fx->control, deadline);
    g_assert_cmpint(fd, >=, 0);
    client = vfsec_ctl_client_new(fd, fx->control);
    reply = vfsec_ctl_client_call(client, req, deadline, &error);
    g_assert_no_error(error);
    *message = g_strdup(reply->ok ? "" : reply->error.message);
    g_test_message("hook %s of %s: %s", vfsec_hook_op_to_string(op), name, *message);
    return reply->ok;
}

/* The hook front forwards XML it cannot rule out unparsed: vfsecd parses
 * it, refuses a gating op's unusable XML in the hook's words, lets a stop
 * go on by name, and passes a domain without a candidate device. */
static void
test_hook_xml(void)
{
    static const char malformed[] = "<domain type='test'><name>vm-m</name><devices>"
                                    "<hostdev mode='subsystem' type='pci'></devices></domain>";
    static const char no_candidate[] = "<domain type='test'><name>vm-d</name><description>"
                                       "hostdev and direct, in words only</description>"
                                       "<devices/></domain>";
    static const char other_port[] =
        "<hookData><network><name>pool-a</name></network><networkport>"
        "<uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid><owner><name>vm-a</name>"
        "<uuid>" UUID_A "</uuid></owner><mac address='52:54:00:7b:35:93'/>"
        "<plug type='hostdev-pci'><address domain='0x0000' bus='0x3b' slot='0x02' "
        "function='0x2'/></plug></networkport></hookData>";
    static const char bridge_port[] =
        "<hookData><network><name>br</name><description>direct</description></network>"
        "<networkport><uuid>0b6c3f1e-3a0e-4a55-9d43-0f4b2b5d1c11</uuid><owner><name>vm-b"
        "</name><uuid>" UUID_B "</uuid></owner><mac address='52:54:00:aa:bb:cc'/>"
        "<plug type='network' bridge='virbr0'/>"
        "</networkport></hookData>";
    DaemonFixture *fx = daemon_start(NULL);
    g_autofree char *xml_a = daemon_domain_xml(fx, "vm-a", UUID_A, 1, MAC_A);
    g_autofree char *msg = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) row = NULL;

    g_assert_false(vfsecd_hook_call(fx, VFSEC_HOOK_KIND_QEMU, VFSEC_HOOK_OP_QEMU_PREPARE, "vm-m",
                                    malformed, &msg));
    g_assert_true(g_str_has_prefix(msg, "vfsec: domain vm-m: "));
    g_assert_true(g_str_has_suffix(msg, "; refusing to start vm-m"));
    g_clear_pointer(&msg, g_free);
    /* The same through the hook: vfsecd's line is what virsh shows. */
    g_assert_cmpint(daemon_hook(fx, "qemu", "vm-m", "prepare", "begin", malformed, &err), ==, 1);
    g_assert_true(g_str_has_prefix(err, "vfsec: domain vm-m: "));
    g_assert_true(g_str_has_suffix(err, "; refusing to start vm-m\n"));
    g_clear_pointer(&err, g_free);

    g_assert_false(vfsecd_hook_call(fx, VFSEC_HOOK_KIND_QEMU, VFSEC_HOOK_OP_QEMU_START, "vm-z",
                                    xml_a, &msg));
    g_assert_cmpstr(msg, ==, "vfsec: domain vm-z: the XML on stdin describes domain vm-a; "
                    "refusing to start vm-z");
    g_clear_pointer(&msg, g_free);
    /* Nothing was claimed for the XML's domain. */
    row = vfsecd_vf_row(fx, 1);
    g_assert_null(json_object_get_string_member_with_default(row, "owner", NULL));
    g_clear_pointer(&row, json_object_unref);

    /* Stops go on whatever the XML: vfsecd knows what the name owns. */
    g_assert_true(vfsecd_hook_call(fx, VFSEC_HOOK_KIND_QEMU, VFSEC_HOOK_OP_QEMU_STOPPED, "vm-z",
                                   xml_a, &msg));
    g_clear_pointer(&msg, g_free);
    g_assert_true(vfsecd_hook_call(fx, VFSEC_HOOK_KIND_QEMU, VFSEC_HOOK_OP_QEMU_RELEASE, "vm-m",
                                   malformed, &msg));
    g_clear_pointer(&msg, g_free);

    /* The words alone are no device. */
    g_assert_true(vfsecd_hook_call(fx, VFSEC_HOOK_KIND_QEMU, VFSEC_HOOK_OP_QEMU_STARTED, "vm-d",
                                   no_candidate, &msg));
    g_clear_pointer(&msg, g_free);
    g_assert_cmpint(daemon_hook(fx, "qemu", "vm-d", "prepare", "begin", no_candidate, &err), ==,
                    0);
    g_assert_cmpstr(err, ==, "");
    g_clear_pointer(&err, g_free);
    g_assert_true(vfsecd_hook_call(fx, VFSEC_HOOK_KIND_NETWORK,
                                   VFSEC_HOOK_OP_NETWORK_PORT_CREATED, "br", bridge_port, &msg));
    g_clear_pointer(&msg, g_free);

    g_assert_false(vfsecd_hook_call(fx, VFSEC_HOOK_KIND_NETWORK,
                                    VFSEC_HOOK_OP_NETWORK_PORT_CREATED, "pool-b", other_port,
                                    &msg));
    g_assert_cmpstr(msg, ==, "vfsec: network pool-b: the XML on stdin describes network pool-a; "
                    "refusing the new port on network pool-b");
    g_clear_pointer(&msg, g_free);
    g_assert_true(vfsecd_hook_call(fx, VFSEC_HOOK_KIND_NETWORK,
                                   VFSEC_HOOK_OP_NETWORK_PORT_DELETED, "pool-b", other_port, &msg));
    daemon_stop(fx);
}

/* 5: a peer that is neither root nor in the control group is refused by the
 * credential check even when the file mode would let it in. */
/* In a child running as @pw: one @op call; its exit status says how it
 * went (0 ok, 1 refused with "permission", 2 another error, 3 no answer). */
static int
peer_call(const char *control, const struct passwd *pw, VfsecCtlOp op)
{
    g_autoptr(VfsecCtlClient) client = NULL;
    g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(op);
    g_autoptr(VfsecCtlReply) reply = NULL;
    g_autoptr(GError) error = NULL;
    gint64 deadline = g_get_monotonic_time() + NICSIM_WAIT_MS * 1000;
    int fd;

    if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        return 10;
    if (op == VFSEC_CTL_OP_HOOK) {
        /* A forged "release" of a domain nobody runs: refused before it
         * reaches the engine. */
        req->hook.kind = VFSEC_HOOK_KIND_QEMU;
        req->hook.op = VFSEC_HOOK_OP_QEMU_RELEASE;
        req->hook.subop = VFSEC_HOOK_SUBOP_END;
        req->hook.name = g_strdup("vm-x");
        req->hook.extra = g_strdup("-");
        req->hook.xml = g_strdup("");
        req->hook.timeout_ms = 1000;
    }
    fd = vfsec_ctl_connect(control, deadline);
    if (fd < 0)
        return 3;
    client = vfsec_ctl_client_new(fd, control);
    reply = vfsec_ctl_client_call(client, req, deadline, &error);
    if (!reply)
        return 3;
    if (vfsec_ctl_reply_check(reply, &error))
        return 0;
    return g_error_matches(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION) ? 1 : 2;
}

static int
peer_call_status(const char *control, const struct passwd *pw, VfsecCtlOp op)
{
    pid_t pid = fork();
    int status = 0;

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0)
        _exit(peer_call(control, pw, op));
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void
test_unprivileged_peer(void)
{
    DaemonFixture *fx = daemon_start(NULL);
    struct passwd *nobody = getpwnam("nobody");

    if (!nobody) {
        daemon_stop(fx);
        g_test_skip("no user nobody");
        return;
    }
    /* Open the fences that come before the credential check. */
    g_assert_cmpint(chmod(fx->dir, 0711), ==, 0);
    g_assert_cmpint(chmod(fx->control, 0666), ==, 0);
    g_assert_cmpint(peer_call_status(fx->control, nobody, VFSEC_CTL_OP_STATUS), ==, 1);
    daemon_stop(fx);
}

/* A member of the control group may query; hook and reclaim stay root's. */
static void
test_group_member(void)
{
    DaemonFixture *fx = NULL;
    struct passwd *nobody = getpwnam("nobody");
    struct group *gr = nobody ? getgrgid(nobody->pw_gid) : NULL;
    g_autofree char *text = NULL;
    g_autofree char *group_line = NULL;
    g_auto(GStrv) parts = NULL;

    if (!nobody || !gr) {
        g_test_skip("no user nobody with a named primary group");
        return;
    }
    fx = daemon_new(NULL);
    g_assert_true(g_file_get_contents(fx->config, &text, NULL, NULL));
    group_line = g_strdup_printf("[daemon]\ncontrol-group = %s\n", gr->gr_name);
    parts = g_strsplit(text, "[daemon]\n", 2);
    g_clear_pointer(&text, g_free);
    text = g_strconcat(parts[0], group_line, parts[1], NULL);
    g_assert_true(g_file_set_contents(fx->config, text, -1, NULL));
    daemon_launch(fx);
    g_assert_cmpint(chmod(fx->dir, 0711), ==, 0);
    g_assert_cmpint(peer_call_status(fx->control, nobody, VFSEC_CTL_OP_STATUS), ==, 0);
    g_assert_cmpint(peer_call_status(fx->control, nobody, VFSEC_CTL_OP_HOOK), ==, 1);
    g_assert_cmpint(peer_call_status(fx->control, nobody, VFSEC_CTL_OP_RECLAIM), ==, 1);
    daemon_stop(fx);
}

static JsonObject *
find_row(JsonArray *rows, const char *member, const char *value)
{
    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);

        if (g_strcmp0(json_object_get_string_member_with_default(row, member, NULL), value) == 0)
            return row;
    }
    return NULL;
}

/* 6: vfsecctl's JSON matches the state; reclaim works and refuses an owned VF. */
static void
test_vfsecctl(void)
{
    DaemonFixture *fx = daemon_start(NULL);
    g_autofree char *xml_a = daemon_domain_xml(fx, "vm-a", UUID_A, 1, MAC_A);
    g_autofree char *pci_a = vf_pci(fx, 1);
    g_autofree char *pf_pci = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonNode) status = NULL;
    g_autoptr(JsonNode) vfs = NULL;
    g_autoptr(JsonNode) macs = NULL;
    g_autoptr(JsonNode) domains = NULL;
    JsonObject *row;

    hook_ok(fx, "vm-a", "prepare", "begin", xml_a);
    hook_ok(fx, "vm-a", "start", "begin", xml_a);
    hook_ok(fx, "vm-a", "started", "begin", xml_a);

    status = daemon_ctl_json(fx, "status");
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(status), "vfs_in_use"), ==, 1);
    row = json_array_get_object_element(
        json_object_get_array_member(json_node_get_object(status), "pfs"), 0);
    g_assert_cmpstr(json_object_get_string_member(row, "pf"), ==, "nic0");
    g_assert_true(json_object_get_boolean_member(row, "connected"));

    vfs = daemon_ctl_json(fx, "vfs");
    row = find_row(json_object_get_array_member(json_node_get_object(vfs), "vfs"), "pci", pci_a);
    g_assert_nonnull(row);
    g_assert_cmpstr(json_object_get_string_member(row, "owner"), ==, "vm-a");
    g_assert_cmpstr(json_object_get_string_member(row, "mac"), ==, MAC_A);

    macs = daemon_ctl_json(fx, "macs");
    row = json_array_get_object_element(
        json_object_get_array_member(json_node_get_object(macs), "ports"), 0);
    g_assert_nonnull(find_row(json_object_get_array_member(row, "entries"), "mac", MAC_A));

    domains = daemon_ctl_json(fx, "domains");
    row = find_row(json_object_get_array_member(json_node_get_object(domains), "domains"),
                   "name", "vm-a");
    g_assert_nonnull(row);
    g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(row, "vfs"), 0),
                    ==, pci_a);

    /* The table form names the owner too. */
    g_assert_cmpint(daemon_ctl(fx, &out, &err, "vfs", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "vm-a"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* reclaim: refused on vm-a's VF, done on a free one. */
    pf_pci = nic_pf_pci(fx);
    g_assert_cmpint(daemon_ctl(fx, &out, &err, "reclaim", pf_pci, "1", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "vm-a"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    daemon_nic_untag_add_sas(fx, 3, 4, 7000);
    if (daemon_ctl(fx, &out, &err, "reclaim", pf_pci, "3", "--json", NULL) != 0)
        g_error("vfsecctl reclaim: %s", err);
    g_assert_nonnull(strstr(out, "\"removed\""));
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 3), ==, 0);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(daemon_ctl(fx, &out, &err, "reconcile", "--json", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "\"fixed\""));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    /* macs of one PF, by its PCI address; an unmanaged PF is not found. */
    g_assert_cmpint(daemon_ctl(fx, &out, &err, "macs", pf_pci, "--json", NULL), ==, 0);
    g_assert_nonnull(strstr(out, MAC_A));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(daemon_ctl(fx, &out, &err, "macs", "0000:99:00.0", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "0000:99:00.0"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    /* Usage errors and an unreachable daemon have their own exit codes. */
    g_assert_cmpint(daemon_ctl(fx, NULL, NULL, "reclaim", pf_pci, NULL), ==, 2);
    {
        g_autofree char *gone = g_build_filename(fx->dir, "gone.sock", NULL);
        const char *argv[] = { vfsec_test_env("VFSECCTL"), "status", "--socket", gone, NULL };

        g_assert_cmpint(vfsec_test_run(argv, NULL, NULL), ==, 4);
    }
    daemon_stop(fx);
}

/* The network hook: port-created claims, quarantines and publishes the VF
 * the port's plug names for the port's owner; port-deleted releases it. */
static void
test_network_port(void)
{
    DaemonFixture *fx = daemon_start(NULL);
    g_autofree char *netdev = nicsim_vf_name(fx->nic, 2);
    g_autofree char *xml = g_strdup_printf(
        "<hookData>\n"
        "  <network><name>sriov-pool</name><forward mode='passthrough'/></network>\n"
        "  <networkport>\n"
        "    <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>\n"
        "    <owner><name>vm-n</name><uuid>" UUID_B "</uuid></owner>\n"
        "    <mac address='52:54:00:aa:00:02'/>\n"
        "    <plug type='direct' dev='%s' mode='passthrough'/>\n"
        "  </networkport>\n"
        "</hookData>\n", netdev);
    g_autofree char *err = NULL;
    g_autoptr(JsonNode) vfs = NULL;
    g_autofree char *pci = vf_pci(fx, 2);
    JsonObject *row;

    g_assert_cmpint(daemon_hook(fx, "network", "sriov-pool", "port-created", "begin", xml, &err),
                    ==, 0);
    g_assert_cmpstr(err, ==, "");
    assert_quarantined(fx, 2);
    g_assert_true(daemon_nic_published(fx, "52:54:00:aa:00:02"));
    vfs = daemon_ctl_json(fx, "vfs");
    row = find_row(json_object_get_array_member(json_node_get_object(vfs), "vfs"), "pci", pci);
    g_assert_cmpstr(json_object_get_string_member(row, "owner"), ==, "vm-n");

    g_clear_pointer(&err, g_free);
    g_assert_cmpint(daemon_hook(fx, "network", "sriov-pool", "port-deleted", "-", xml, &err),
                    ==, 0);
    g_assert_false(daemon_nic_published(fx, "52:54:00:aa:00:02"));
    daemon_stop(fx);
}

/* The "config" object of vfsecctl status --json (a new reference). */
static JsonObject *
status_config(DaemonFixture *fx)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "status");

    return json_object_ref(json_object_get_object_member(json_node_get_object(node), "config"));
}

static gboolean
reloaded(DaemonFixture *fx, gconstpointer count)
{
    g_autoptr(JsonObject) cfg = status_config(fx);

    return json_object_get_int_member(cfg, "reloads") >= GPOINTER_TO_INT(count);
}

static gint64
config_timeout(JsonObject *cfg, const char *name)
{
    return json_object_get_int_member(json_object_get_object_member(cfg, "timeouts"), name);
}

static const char *
config_trust(JsonObject *cfg)
{
    return json_object_get_string_member(json_object_get_object_member(cfg, "policy"), "trust");
}

/* SIGHUP hands the engine new timeouts, policy defaults and hairpin
 * settings, which the next start obeys; an invalid file is refused as a
 * whole, naming group and key, and the old configuration stays. */
static void
test_reload(void)
{
    DaemonFixture *fx = daemon_start(NULL);
    g_autofree char *xml = daemon_domain_xml(fx, "vm-r", UUID_A, 1, MAC_A);
    g_autoptr(JsonObject) cfg = status_config(fx);
    g_autoptr(JsonObject) row = NULL;
    const char *error;

    g_assert_cmpint(json_object_get_int_member(cfg, "reloads"), ==, 0);
    g_assert_cmpint(config_timeout(cfg, "pf_reclaim_ms"), ==, 2000);
    g_assert_cmpstr(config_trust(cfg), ==, "untrusted");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(cfg, "hairpin_pfs")),
                     ==, 1);

    daemon_write_config(fx, "pf-reclaim = 700\ndaemon-request = 1400\nhook = 5000\n"
                            "[policy]\ntrust = trusted\n", FALSE);
    g_assert_cmpint(kill(fx->pid, SIGHUP), ==, 0);
    g_assert_true(daemon_wait_for(fx, reloaded, GINT_TO_POINTER(1), NICSIM_WAIT_MS));
    g_clear_pointer(&cfg, json_object_unref);
    cfg = status_config(fx);
    g_assert_null(json_object_get_string_member_with_default(cfg, "reload_error", NULL));
    g_assert_cmpint(config_timeout(cfg, "pf_reclaim_ms"), ==, 700);
    g_assert_cmpint(config_timeout(cfg, "daemon_request_ms"), ==, 1400);
    g_assert_cmpstr(config_trust(cfg), ==, "trusted");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(cfg, "hairpin_pfs")),
                     ==, 0);

    /* The engine obeys: a trusted VF gets no port tag, hairpin off
     * publishes nothing. */
    hook_ok(fx, "vm-r", "prepare", "begin", xml);
    hook_ok(fx, "vm-r", "start", "begin", xml);
    hook_ok(fx, "vm-r", "started", "begin", xml);
    row = daemon_nic_vf(fx, 1);
    g_assert_null(json_object_get_object_member(row, "port_tag"));
    g_assert_false(daemon_nic_published(fx, MAC_A));
    g_assert_false(daemon_macfile_has(fx, MAC_A));

    /* Invalid: refused whole, the previous configuration stays. */
    daemon_write_config(fx, "pf-reclaim = 9000\n", TRUE);
    g_assert_cmpint(kill(fx->pid, SIGHUP), ==, 0);
    g_assert_true(daemon_wait_for(fx, reloaded, GINT_TO_POINTER(2), NICSIM_WAIT_MS));
    g_clear_pointer(&cfg, json_object_unref);
    cfg = status_config(fx);
    error = json_object_get_string_member_with_default(cfg, "reload_error", NULL);
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error, "[timeouts]"));
    g_assert_nonnull(strstr(error, "pf-reclaim"));
    g_assert_cmpint(config_timeout(cfg, "pf_reclaim_ms"), ==, 700);
    g_assert_cmpstr(config_trust(cfg), ==, "trusted");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(cfg, "hairpin_pfs")),
                     ==, 0);

    hook_ok(fx, "vm-r", "release", "end", xml);
    assert_quarantined(fx, 1);
    daemon_stop(fx);
}

/* ---- Operations that wait on the PF driver ---- */

/* The real hook with libvirt's argv, not waited for: stdin from a file. */
static GSubprocess *
hook_spawn(DaemonFixture *fx, const char *name, const char *op, const char *subop,
           const char *xml)
{
    g_autofree char *hook = g_strdup_printf("%s/qemu.d/vfsec", fx->hook_dir);
    g_autofree char *env_socket = g_strdup_printf("VFSEC_CONTROL_SOCKET=%s", fx->control);
    g_autofree char *input = g_strdup_printf("%s/%s-%s.xml", fx->dir, name, op);
    const char *argv[] = { hook, name, op, subop, "-", NULL };
    const char *envp[] = { "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", env_socket, NULL };
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GError) error = NULL;
    GSubprocess *proc;

    g_assert_true(g_file_set_contents(input, xml, -1, NULL));
    g_subprocess_launcher_set_environ(launcher, (char **)envp);
    g_subprocess_launcher_set_stdin_file_path(launcher, input);
    proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
    g_assert_no_error(error);
    return proc;
}

/* Waits for @proc; returns its exit status, stdout and stderr (may be NULL). */
static int
proc_wait(GSubprocess *proc, char **out, char **err)
{
    g_autofree char *o = NULL;
    g_autofree char *e = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, &o, &e, &error));
    g_assert_no_error(error);
    g_assert_true(g_subprocess_get_if_exited(proc));
    if (out)
        *out = g_steal_pointer(&o);
    if (err)
        *err = g_steal_pointer(&e);
    return g_subprocess_get_exit_status(proc);
}

/* vfsecctl vfs row of VF @vf (a new reference). */
static JsonObject *
vf_row(DaemonFixture *fx, guint vf)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "vfs");
    JsonArray *rows = json_object_get_array_member(json_node_get_object(node), "vfs");

    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);

        if (json_object_get_int_member(row, "vf") == vf)
            return json_object_ref(row);
    }
    g_error("vfsecd has no VF %u", vf);
}

typedef struct {
    guint vf;
    gint64 jobs;
} JobsQuery;

static gboolean
vf_has_jobs(DaemonFixture *fx, gconstpointer data)
{
    const JobsQuery *q = data;
    g_autoptr(JsonObject) row = vf_row(fx, q->vf);

    return json_object_get_int_member(row, "jobs") == q->jobs;
}

static char *
vf_owner(DaemonFixture *fx, guint vf)
{
    g_autoptr(JsonObject) row = vf_row(fx, vf);

    return g_strdup(json_object_get_string_member_with_default(row, "owner", NULL));
}

/* A PF driver that accepts vfsecd's requests about VF 1 and never answers
 * (a relay that drops those replies, in front of the emulator): the
 * prepare fails within vfsecd's deadline naming PF, plugin and VF; VF 2 is
 * served meanwhile; VF 1's queue moves on, the VF is marked for reclaim and
 * reconcile retries it once the driver answers again. */
static void
test_stuck_pf_driver(void)
{
    DaemonFixture *fx = daemon_new(NULL);
    DaemonMuteProxy *proxy = daemon_mute_proxy_new(fx);
    g_autofree char *xml_a = daemon_domain_xml(fx, "vm-a", UUID_A, 1, MAC_A);
    g_autofree char *xml_b = daemon_domain_xml(fx, "vm-b", UUID_B, 2, "52:54:00:aa:00:02");
    g_autofree char *pci_a = vf_pci(fx, 1);
    g_autofree char *err = NULL;
    g_autofree char *owner = NULL;
    g_autoptr(GSubprocess) hook_a = NULL;
    g_autoptr(JsonObject) row = NULL;
    const JobsQuery one_job = { 1, 1 };
    const JobsQuery no_job = { 1, 0 };

    /* Engine deadline: 200 + (1000 - 200) / 2 = 600 ms; the plugin's own
     * client would wait 1200 ms for a reclaim. */
    daemon_write_config(fx, "pf-reclaim = 200\ndaemon-request = 1000\nhook = 3000\n", TRUE);
    daemon_launch(fx);
    daemon_mute_proxy_set(proxy, 1);

    hook_a = hook_spawn(fx, "vm-a", "prepare", "begin", xml_a);
    g_assert_true(daemon_wait_for(fx, vf_has_jobs, &one_job, NICSIM_WAIT_MS));
    hook_ok(fx, "vm-b", "prepare", "begin", xml_b);     /* VF 2 is not stalled */
    g_assert_true(vf_has_jobs(fx, &one_job));            /* while VF 1 still waits */

    g_assert_cmpint(proc_wait(hook_a, NULL, &err), ==, 1);
    g_assert_true(g_str_has_prefix(err, "vfsecd: PF nic0: the contract plugin gave no answer"));
    g_assert_nonnull(strstr(err, pci_a));
    g_assert_cmpuint(daemon_mute_proxy_dropped(proxy), >=, 1);
    owner = vf_owner(fx, 1);
    g_assert_null(owner);                                /* fail-closed: given back */
    row = vf_row(fx, 1);
    g_assert_true(json_object_get_boolean_member(row, "reclaim_pending"));
    /* The rollback's re-quarantine of VF 1 meets the same silent driver and
     * its own deadline; then the queue is empty. */
    g_assert_true(daemon_wait_for(fx, vf_has_jobs, &no_job, NICSIM_WAIT_MS));

    /* The driver answers again: reconcile retries the reclaim, and the
     * VF serves its next start. */
    daemon_mute_proxy_set(proxy, -1);
    g_assert_cmpint(daemon_ctl(fx, NULL, NULL, "reconcile", NULL), ==, 0);
    g_clear_pointer(&row, json_object_unref);
    row = vf_row(fx, 1);
    g_assert_false(json_object_get_boolean_member(row, "reclaim_pending"));
    hook_ok(fx, "vm-a", "prepare", "begin", xml_a);
    g_free(owner);
    owner = vf_owner(fx, 1);
    g_assert_cmpstr(owner, ==, "vm-a");

    daemon_stop(fx);
    daemon_mute_proxy_free(proxy);
}

/* vfsecctl reclaim is one more job on the VF's queue: with the agent's
 * replies for VF 1 held (emulator gate), a reclaim is in flight; a prepare
 * that arrives then waits behind it (not yet owning the VF), and both
 * complete in order when the gate opens. */
static void
test_reclaim_serialized(void)
{
    DaemonFixture *fx = daemon_new(NULL);
    g_autofree char *xml_a = daemon_domain_xml(fx, "vm-a", UUID_A, 1, MAC_A);
    g_autofree char *pf_pci = NULL;
    g_autofree char *owner = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GSubprocess) reclaim = NULL;
    g_autoptr(GSubprocess) hook_a = NULL;
    g_autoptr(JsonNode) result = NULL;
    g_autoptr(GError) error = NULL;
    const JobsQuery one_job = { 1, 1 };
    const JobsQuery two_jobs = { 1, 2 };

    /* Generous bounds: nothing here may time out while the gate holds. */
    daemon_write_config(fx, "pf-reclaim = 8000\ndaemon-request = 16000\nhook = 30000\n", TRUE);
    daemon_launch(fx);
    pf_pci = nic_pf_pci(fx);
    daemon_nic_untag_add_sas(fx, 1, 3, 7000);
    nicsim_ctl_do(fx->nic, "gate-hold", "{\"port\": 0, \"vf\": 1}");

    reclaim = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                               &error, vfsec_test_env("VFSECCTL"), "reclaim", pf_pci, "1",
                               "--json", "--socket", fx->control, NULL);
    g_assert_no_error(error);
    g_assert_true(daemon_wait_for(fx, vf_has_jobs, &one_job, NICSIM_WAIT_MS));
    hook_a = hook_spawn(fx, "vm-a", "prepare", "begin", xml_a);
    g_assert_true(daemon_wait_for(fx, vf_has_jobs, &two_jobs, NICSIM_WAIT_MS));
    owner = vf_owner(fx, 1);
    g_assert_null(owner);                   /* the prepare has not run yet */
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 1), ==, 3);

    nicsim_ctl_do(fx->nic, "gate-release", "{\"port\": 0, \"vf\": 1}");
    g_assert_cmpint(proc_wait(reclaim, &out, &err), ==, 0);
    result = json_from_string(out, &error);
    g_assert_no_error(error);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(result), "removed"), ==, 3);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(proc_wait(hook_a, NULL, &err), ==, 0);
    g_assert_cmpstr(err, ==, "");
    g_free(owner);
    owner = vf_owner(fx, 1);
    g_assert_cmpstr(owner, ==, "vm-a");
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 1), ==, 0);
    daemon_stop(fx);
}

/* vfsecd's stderr after a prepare and a release of vm-l at @level. */
static char *
log_of_prepare(DaemonFixture *fx, const char *level, const char *xml)
{
    char *text = NULL;
    g_autoptr(GError) error = NULL;

    fx->log_level = level;
    daemon_write_config(fx, NULL, TRUE);
    g_free(fx->stderr_path);
    fx->stderr_path = g_strdup_printf("%s/vfsecd-%s.stderr", fx->dir, level);
    daemon_launch(fx);
    hook_ok(fx, "vm-l", "prepare", "begin", xml);
    hook_ok(fx, "vm-l", "release", "end", xml);
    g_assert_cmpint(daemon_kill(fx, SIGTERM), ==, 0);
    g_assert_true(g_file_get_contents(fx->stderr_path, &text, NULL, &error));
    g_assert_no_error(error);
    return text;
}

/* log-level applies to messages too (the engine's audit entries): GLib's
 * own writer printed them at any level, vfsecd's writer drops them below
 * "message" and prints them from it on. */
static void
test_log_level(void)
{
    DaemonFixture *fx = daemon_new(NULL);
    g_autofree char *xml = daemon_domain_xml(fx, "vm-l", UUID_A, 1, MAC_A);
    g_autofree char *quiet = log_of_prepare(fx, "warning", xml);
    g_autofree char *loud = log_of_prepare(fx, "message", xml);

    g_assert_null(strstr(quiet, "-Message:"));
    g_assert_nonnull(strstr(loud, "ready for domain vm-l"));
    daemon_launch(fx);
    daemon_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    daemon_require();
    g_test_add_func("/vfsecd/hook-path", test_hook_path);
    g_test_add_func("/vfsecd/hook-xml", test_hook_xml);
    g_test_add_func("/vfsecd/unprivileged-peer", test_unprivileged_peer);
    g_test_add_func("/vfsecd/unprivileged-peer/group-member", test_group_member);
    g_test_add_func("/vfsecd/vfsecctl", test_vfsecctl);
    g_test_add_func("/vfsecd/reload", test_reload);
    g_test_add_func("/vfsecd/network-port", test_network_port);
    g_test_add_func("/vfsecd/stuck-pf-driver", test_stuck_pf_driver);
    g_test_add_func("/vfsecd/reclaim-serialized", test_reclaim_serialized);
    g_test_add_func("/vfsecd/log-level", test_log_level);
    return g_test_run();
}
