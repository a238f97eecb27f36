/* test-nicsim-lifecycle.c: the emulator's life — SIGTERM/SIGINT remove every
 * netdev, namespace and socket it made; a second emulator cannot take the
 * first one's names; VF MAC changes made on the netdevs are followed; scale
 * mode runs VFs without netdevs. */
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nicsim-fixture.h"
#include "vfsec-netlink.h"
#include "vfsec-netns.h"
#include "vfsec-test-util.h"

/* Names of the links in namespace @fd that start with @prefix. */
static GPtrArray *
links_with_prefix(int fd, const char *prefix)
{
    g_autoptr(VfsecNetlink) nl = NULL;
    g_autoptr(GError) error = NULL;
    GPtrArray *found = g_ptr_array_new_with_free_func(g_free);

    nl = vfsec_netlink_new(fd, &error);
    g_assert_no_error(error);
    /* The emulator's names are <prefix><port>{pf,up,v<n>}: probe them all. */
    for (guint port = 0; port < 2; port++) {
        const char *kinds[] = { "pf", "up" };

        for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
            g_autofree char *name = g_strdup_printf("%s%u%s", prefix, port, kinds[k]);
            g_autoptr(VfsecLinkInfo) info = vfsec_netlink_link_get(nl, name, NULL);

            if (info)
                g_ptr_array_add(found, g_steal_pointer(&name));
        }
        for (guint v = 0; v < 8; v++) {
            g_autofree char *name = g_strdup_printf("%s%uv%u", prefix, port, v);
            g_autoptr(VfsecLinkInfo) info = vfsec_netlink_link_get(nl, name, NULL);

            if (info)
                g_ptr_array_add(found, g_steal_pointer(&name));
        }
    }
    return found;
}

static gboolean
netns_exists(const char *name)
{
    g_autofree char *path = g_build_filename(VFSEC_NETNS_RUN_DIR, name, NULL);

    return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void
test_signal_cleanup(gconstpointer data)
{
    int sig = GPOINTER_TO_INT(data);
    NicsimOptions options = { .n_ports = 2, .n_vfs = 3, .pcap = TRUE };
    NicsimFixture *fx = nicsim_start(&options);
    int vm = nicsim_vm(fx, 1);
    g_autoptr(GPtrArray) host = links_with_prefix(fx->host_fd, fx->prefix);
    g_autoptr(GPtrArray) wire = links_with_prefix(fx->wire_fd, fx->prefix);
    g_autoptr(GPtrArray) in_vm = links_with_prefix(vm, fx->prefix);
    g_autoptr(GPtrArray) host_after = NULL;
    g_autoptr(GPtrArray) wire_after = NULL;
    g_autoptr(GPtrArray) vm_after = NULL;

    /* 2 PFs + 6 VFs, one of them in its VM; 2 uplinks. */
    g_assert_cmpuint(host->len, ==, 7);
    g_assert_cmpuint(in_vm->len, ==, 1);
    g_assert_cmpuint(wire->len, ==, 2);
    g_assert_true(netns_exists(fx->nic_ns));
    g_assert_true(g_file_test(fx->control, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(fx->contract, G_FILE_TEST_EXISTS));

    g_assert_cmpint(nicsim_terminate(fx, sig), ==, 0);
    host_after = links_with_prefix(fx->host_fd, fx->prefix);
    wire_after = links_with_prefix(fx->wire_fd, fx->prefix);
    vm_after = links_with_prefix(vm, fx->prefix);
    g_assert_cmpuint(host_after->len, ==, 0);
    g_assert_cmpuint(wire_after->len, ==, 0);
    g_assert_cmpuint(vm_after->len, ==, 0);
    g_assert_false(netns_exists(fx->nic_ns));
    g_assert_false(g_file_test(fx->control, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(fx->contract, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(fx->ready, G_FILE_TEST_EXISTS));
    /* Namespaces it did not create are left alone. */
    g_assert_true(netns_exists(fx->host_ns));
    g_assert_true(netns_exists(fx->wire_ns));
    nicsim_stop(fx);
}

/* A wire namespace that does not exist is created, and removed on exit. */
static void
test_creates_wire_netns(void)
{
    g_autofree char *wire2 = g_strdup_printf("vfsec-it-%d-wire2", (int)getpid());
    g_autofree char *option = g_strdup_printf("--wire-netns=%s", wire2);
    const char *extra[] = { option, NULL };
    NicsimOptions options = { .extra = extra };
    NicsimFixture *fx = nicsim_start(&options);

    g_assert_true(netns_exists(wire2));
    g_assert_cmpint(nicsim_terminate(fx, SIGTERM), ==, 0);
    g_assert_false(netns_exists(wire2));
    nicsim_stop(fx);
}

/* A second emulator with the same private namespace fails and leaves the
 * first one working. */
static void
test_second_instance(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    g_autofree char *nic = g_strdup_printf("--nic-netns=%s", fx->nic_ns);
    g_autofree char *control = g_build_filename(fx->dir, "second.sock", NULL);
    g_autofree char *control_opt = g_strdup_printf("--control-socket=%s", control);
    g_autofree char *contract_opt = g_strdup_printf("--contract-socket=%s-c", control);
    g_autofree char *err = NULL;
    const char *argv[] = { vfsec_test_env("VFSEC_NICSIM"), "--foreground", "--prefix=zz",
                           nic, control_opt, contract_opt, NULL };

    g_assert_cmpint(vfsec_test_run(argv, NULL, &err), ==, 1);
    g_assert_nonnull(strstr(err, fx->nic_ns));
    g_assert_false(g_file_test(control, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 0);
    nicsim_stop(fx);
}

typedef struct {
    guint changes;
    guint port;
} PortChanges;

static void
on_notify(VfsecContractClient *client, const VfsecContractNotification *n, gpointer user_data)
{
    PortChanges *seen = user_data;

    if (n->event == VFSEC_CONTRACT_EVENT_PORT_CHANGE && g_strcmp0(n->what, "vf-mac") == 0) {
        seen->changes++;
        seen->port = n->port;
    }
}

static gboolean
vf_mac_is(NicsimFixture *fx, guint vf, const char *mac)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx, "macs", "{\"port\": 0}");
    JsonArray *fns = json_object_get_array_member(res, "functions");
    g_autofree char *name = g_strdup_printf("vf:%u", vf);

    for (guint i = 0; i < json_array_get_length(fns); i++) {
        JsonObject *fn = json_array_get_object_element(fns, i);

        if (g_str_equal(json_object_get_string_member(fn, "fn"), name))
            return g_strcmp0(json_object_get_string_member(fn, "mac"), mac) == 0;
    }
    return FALSE;
}

/* libvirt sets a passthrough VF netdev's MAC itself: the switch follows,
 * and subscribers hear of it. */
static void
test_follows_mac(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    PortChanges seen = { 0 };
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, on_notify, &seen);
    g_autofree char *vf_name = nicsim_vf_name(fx, 2);
    g_autoptr(VfsecNetlink) nl = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) sub = NULL;
    g_autoptr(JsonObject) vfs = NULL;
    VfsecMac mac = { { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };

    sub = nicsim_contract_call(fx, client, "subscribe", "{\"events\": [\"port-change\"]}");
    nl = vfsec_netlink_new(fx->host_fd, &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_link_set_mac(nl, vf_name, &mac, &error));
    g_assert_no_error(error);
    g_assert_true(nicsim_run_until_count(fx, &seen.changes, 1, NICSIM_WAIT_MS));
    g_assert_cmpuint(seen.port, ==, 0);
    g_assert_true(vf_mac_is(fx, 2, "52:54:00:12:34:56"));
    vfs = nicsim_contract_call(fx, client, "list-vfs", "{\"port\": 0}");
    g_assert_cmpstr(json_object_get_string_member(
                        json_array_get_object_element(json_object_get_array_member(vfs, "vfs"), 2),
                        "mac"), ==, "52:54:00:12:34:56");
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

/* --no-netdevs: 2 x 64 VFs exist for the contract and the frame path, with
 * no netdev; frames for them are counted, not lost silently. */
static void
test_scale_mode(void)
{
    const char *extra[] = { "--no-netdevs", NULL };
    NicsimOptions options = { .n_ports = 2, .n_vfs = 64, .extra = extra };
    NicsimFixture *fx = nicsim_start(&options);
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, NULL, NULL);
    g_autoptr(JsonObject) vfs = nicsim_contract_call(fx, client, "list-vfs", "{\"port\": 1}");
    g_autoptr(JsonObject) out = NULL;
    g_autoptr(GPtrArray) host = links_with_prefix(fx->host_fd, fx->prefix);
    JsonArray *list = json_object_get_array_member(vfs, "vfs");
    JsonObject *vf63 = json_array_get_object_element(list, 63);
    VfsecMac vf5;
    VfsecMac vf6;
    g_autoptr(GByteArray) frame = NULL;
    g_autofree char *hex = NULL;

    g_assert_cmpuint(json_array_get_length(list), ==, 64);
    g_assert_true(json_node_is_null(json_object_get_member(vf63, "netdev")));
    g_assert_cmpstr(json_object_get_string_member(vf63, "pci"), ==, "fe00:01:17.7");
    g_assert_cmpuint(host->len, ==, 2);  /* the PFs only */

    /* VEB: VF 5 to VF 6 of port 0 is switched inside and reported. */
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, 5, &vf5);
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, 6, &vf6);
    frame = nicsim_frame_udp4(&vf6, &vf5, NULL, 0, "10.6.0.5", "10.6.0.6", "scale", 5);
    hex = nicsim_hex(frame->data, frame->len);
    out = nicsim_ctl(fx, "send-frame", "{\"port\": 0, \"from\": \"vf:5\", \"hex\": \"%s\"}", hex);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(out, "outputs")), ==, 1);
    g_assert_cmpstr(json_object_get_string_member(
                        json_array_get_object_element(json_object_get_array_member(out, "outputs"),
                                                      0),
                        "to"), ==, "vf:6");
    g_assert_cmpuint(nicsim_counter(fx, "sim.no_netdev_drops"), ==, 1);
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

/* Without --foreground the command returns once the emulator is ready, and
 * `vfsec-nicsim ctl` talks to it. */
static void
test_background(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    g_autofree char *prefix = g_strdup_printf("%sb", fx->prefix);
    g_autofree char *nic = g_strdup_printf("%s-bg", fx->tag);
    g_autofree char *nic_opt = g_strdup_printf("--nic-netns=%s", nic);
    g_autofree char *prefix_opt = g_strdup_printf("--prefix=%s", prefix);
    g_autofree char *netns_opt = g_strdup_printf("--netns=%s", fx->host_ns);
    g_autofree char *wire_opt = g_strdup_printf("--wire-netns=%s", fx->wire_ns);
    g_autofree char *control = g_build_filename(fx->dir, "bg-control.sock", NULL);
    g_autofree char *control_opt = g_strdup_printf("--control-socket=%s", control);
    g_autofree char *contract_opt = g_strdup_printf("--contract-socket=%s/bg-contract.sock",
                                                    fx->dir);
    g_autofree char *ready = g_build_filename(fx->dir, "bg-ready", NULL);
    g_autofree char *ready_opt = g_strdup_printf("--ready-file=%s", ready);
    const char *argv[] = { vfsec_test_env("VFSEC_NICSIM"), prefix_opt, nic_opt, netns_opt,
                           wire_opt, control_opt, contract_opt, ready_opt, "--vfs=1", NULL };
    const char *ctl[] = { vfsec_test_env("VFSEC_NICSIM"), "ctl", control_opt, "status", NULL };
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *out = NULL;
    g_autofree char *text = NULL;
    JsonObject *status;
    gint64 pid;
    int pidfd;
    struct pollfd pfd;

    g_assert_cmpint(vfsec_test_run(argv, NULL, NULL), ==, 0);
    g_assert_true(g_file_test(ready, G_FILE_TEST_EXISTS));
    g_assert_cmpint(vfsec_test_run(ctl, &out, NULL), ==, 0);
    g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
    status = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(json_object_get_string_member(status, "prefix"), ==, prefix);
    pid = json_object_get_int_member(status, "pid");
    g_assert_true(g_file_get_contents(ready, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "\"pid\""));

    pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    g_assert_cmpint(pidfd, >=, 0);
    g_assert_cmpint(kill((pid_t)pid, SIGTERM), ==, 0);
    pfd = (struct pollfd){ .fd = pidfd, .events = POLLIN };
    g_assert_cmpint(poll(&pfd, 1, NICSIM_WAIT_MS), ==, 1);
    close(pidfd);
    g_assert_false(netns_exists(nic));
    g_assert_false(g_file_test(control, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(ready, G_FILE_TEST_EXISTS));
    nicsim_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();
    g_test_add_data_func("/nicsim/lifecycle/sigterm", GINT_TO_POINTER(SIGTERM),
                         test_signal_cleanup);
    g_test_add_data_func("/nicsim/lifecycle/sigint", GINT_TO_POINTER(SIGINT), test_signal_cleanup);
    g_test_add_func("/nicsim/lifecycle/wire-netns", test_creates_wire_netns);
    g_test_add_func("/nicsim/lifecycle/second-instance", test_second_instance);
    g_test_add_func("/nicsim/lifecycle/follows-mac", test_follows_mac);
    g_test_add_func("/nicsim/lifecycle/scale", test_scale_mode);
    g_test_add_func("/nicsim/lifecycle/background", test_background);
    return g_test_run();
}
