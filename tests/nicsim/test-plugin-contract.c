/* test-plugin-contract.c: the contract PF plugin against a real
 * vfsec-nicsim — start, every operation, a notification, and losing the
 * emulator and getting it back (integration, root). */
#include <string.h>

#include "nicsim-fixture.h"
#include "vfsec-plugin.h"
#include "vfsec-test-util.h"

#define KEY128 "000102030405060708090a0b0c0d0e0f"

typedef struct {
    guint count[VFSEC_PLUGIN_EVENT_LAST];
    int last_vf[VFSEC_PLUGIN_EVENT_LAST];
} Events;

static void
on_event(VfsecPlugin *plugin, VfsecPluginEvent event, int vf, const char *detail,
         gpointer user_data)
{
    Events *ev = user_data;

    g_assert_cmpint(event, <, VFSEC_PLUGIN_EVENT_LAST);
    ev->count[event]++;
    ev->last_vf[event] = vf;
}

static VfsecPlugin *
plugin_new(NicsimFixture *fx, guint port, Events *ev)
{
    VfsecConfPf pf = { .label = (char *)"nic0", .plugin = VFSEC_PLUGIN_CONTRACT,
                       .socket = fx->contract, .port = port };
    g_autoptr(GError) error = NULL;
    VfsecPlugin *plugin = vfsec_plugin_new(&pf, NULL, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(plugin->ops->kind, ==, "contract");
    if (ev)
        vfsec_plugin_set_event_func(plugin, on_event, ev);
    return plugin;
}

static gboolean
start(NicsimFixture *fx, VfsecPlugin *plugin, GError **error)
{
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_start_async(plugin, NULL, vfsec_test_async_cb, &w);
    return vfsec_plugin_start_finish(plugin, vfsec_test_async_wait(fx->ctx, &w), error);
}

static GPtrArray *
list_vfs(NicsimFixture *fx, VfsecPlugin *plugin, GError **error)
{
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_list_vfs_async(plugin, NULL, vfsec_test_async_cb, &w);
    return vfsec_plugin_list_vfs_finish(plugin, vfsec_test_async_wait(fx->ctx, &w), error);
}

static void
check_start(NicsimFixture *fx, VfsecPlugin *plugin)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pf_name = nicsim_pf_name(fx);

    g_assert_true(start(fx, plugin, &error));
    g_assert_no_error(error);
    g_assert_true(plugin->caps.reclaims_sas);
    g_assert_true(plugin->caps.port_tag_8021ad);
    g_assert_true(plugin->caps.switch_mode);
    g_assert_true(plugin->caps.local_macs);
    g_assert_true(plugin->caps.notifications);
    g_assert_cmpuint(plugin->port->port, ==, 0);
    g_assert_cmpuint(plugin->port->num_vfs, ==, 4);
    g_assert_cmpstr(plugin->port->pf_netdev, ==, pf_name);
    g_assert_cmpint(plugin->port->switch_mode, ==, VFSEC_CONTRACT_SWITCH_MODE_VEB);
}

static void
check_set_vf(NicsimFixture *fx, VfsecPlugin *plugin)
{
    g_autoptr(VfsecContractVf) got = NULL;
    g_autoptr(GPtrArray) vfs = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractVf want = { .vf = 1, .has_port_tag = TRUE,
                             .port_tag = { VFSEC_CONTRACT_TPID_8021Q, 4092, 0 },
                             .trust = FALSE, .spoofchk = TRUE };
    const VfsecContractVf *vf1;
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_set_vf_async(plugin, VFSEC_CONTRACT_SET_VF_PORT_TAG | VFSEC_CONTRACT_SET_VF_TRUST |
                                          VFSEC_CONTRACT_SET_VF_SPOOFCHK,
                              &want, NULL, vfsec_test_async_cb, &w);
    got = vfsec_plugin_set_vf_finish(plugin, vfsec_test_async_wait(fx->ctx, &w), &error);
    g_assert_no_error(error);
    g_assert_cmpuint(got->vf, ==, 1);
    g_assert_true(got->has_port_tag);
    g_assert_true(vfsec_contract_port_tag_equal(&got->port_tag, &want.port_tag));
    g_assert_false(got->trust);
    g_assert_true(got->spoofchk);

    vfs = list_vfs(fx, plugin, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(vfs->len, ==, 4);
    vf1 = g_ptr_array_index(vfs, 1);
    g_assert_cmpuint(vf1->vf, ==, 1);
    g_assert_true(vfsec_contract_port_tag_equal(&vf1->port_tag, &want.port_tag));
    g_assert_false(((VfsecContractVf *)g_ptr_array_index(vfs, 0))->has_port_tag);
}

static void
check_reclaim(NicsimFixture *fx, VfsecPlugin *plugin)
{
    g_autoptr(JsonObject) added = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractReclaim out = { 0 };
    g_auto(VfsecTestAsync) w = { 0 };

    /* VF 2's driver offloads SAs through the PF mailbox. */
    added = nicsim_ctl(fx, "vf-add-sa",
                       "{\"port\": 0, \"vf\": 2, \"count\": 5, \"sa\": {\"dir\": \"in\", "
                       "\"dst\": \"192.0.2.1\", \"spi\": 4096, \"key\": \"" KEY128 "\"}}");
    g_assert_cmpint(json_object_get_int_member(added, "added"), ==, 5);
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 5);
    g_assert_cmpuint(nicsim_db_count(fx), ==, 5);

    vfsec_plugin_reclaim_vf_async(plugin, 2, 2000, NULL, vfsec_test_async_cb, &w);
    vfsec_test_async_wait(fx->ctx, &w);
    g_assert_true(vfsec_plugin_reclaim_vf_finish(plugin, w.result, &out, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(out.removed, ==, 5);
    g_assert_cmpuint(out.failed, ==, 0);
    g_assert_cmpuint(out.remaining, ==, 0);
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 0);
    g_assert_cmpuint(nicsim_db_count(fx), ==, 0);
}

static VfsecContractMacTable *
get_macs(NicsimFixture *fx, VfsecPlugin *plugin)
{
    g_autoptr(GError) error = NULL;
    VfsecContractMacTable *t;
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_get_macs_async(plugin, NULL, vfsec_test_async_cb, &w);
    t = vfsec_plugin_get_macs_finish(plugin, vfsec_test_async_wait(fx->ctx, &w), &error);
    g_assert_no_error(error);
    return t;
}

static gboolean
set_macs(NicsimFixture *fx, VfsecPlugin *plugin, const VfsecContractMacTable *t, guint64 *gen,
         GError **error)
{
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_set_macs_async(plugin, t, NULL, vfsec_test_async_cb, &w);
    return vfsec_plugin_set_macs_finish(plugin, vfsec_test_async_wait(fx->ctx, &w), gen, error);
}

static void
check_macs(NicsimFixture *fx, VfsecPlugin *plugin)
{
    g_autoptr(VfsecContractMacTable) before = get_macs(fx, plugin);
    g_autoptr(VfsecContractMacTable) want = vfsec_contract_mac_table_new(before->generation);
    g_autoptr(VfsecContractMacTable) after = NULL;
    g_autoptr(GError) error = NULL;
    VfsecMac mac = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x42 } };
    VfsecContractMacEntry *e = vfsec_contract_mac_entry_new(&mac);
    guint64 gen = 0;

    vfsec_contract_mac_entry_add_tag(e, VFSEC_CONTRACT_TPID_8021Q, 100);
    g_ptr_array_add(want->entries, e);
    g_assert_true(set_macs(fx, plugin, want, &gen, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(gen, !=, before->generation);

    /* Compare-and-swap: the stale generation loses. */
    g_assert_false(set_macs(fx, plugin, want, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);

    after = get_macs(fx, plugin);
    want->generation = gen;
    g_assert_true(vfsec_contract_mac_table_equal(after, want));
}

static void
check_switch_mode(NicsimFixture *fx, VfsecPlugin *plugin)
{
    g_autoptr(GError) error = NULL;
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_set_switch_mode_async(plugin, VFSEC_CONTRACT_SWITCH_MODE_VEPA, NULL,
                                       vfsec_test_async_cb, &w);
    vfsec_test_async_wait(fx->ctx, &w);
    g_assert_true(vfsec_plugin_set_switch_mode_finish(plugin, w.result, &error));
    g_assert_no_error(error);
    g_assert_cmpint(plugin->port->switch_mode, ==, VFSEC_CONTRACT_SWITCH_MODE_VEPA);
}

static void
test_operations(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    Events ev = { 0 };
    VfsecPlugin *plugin = plugin_new(fx, 0, &ev);

    check_start(fx, plugin);
    check_set_vf(fx, plugin);
    check_reclaim(fx, plugin);
    check_macs(fx, plugin);
    check_switch_mode(fx, plugin);

    /* A notification: the emulator resets VF 3. */
    nicsim_ctl_do(fx, "vf-reset", "{\"port\": 0, \"vf\": 3}");
    g_assert_true(nicsim_run_until_count(fx, &ev.count[VFSEC_PLUGIN_EVENT_VF_RESET], 1,
                                         NICSIM_WAIT_MS));
    g_assert_cmpint(ev.last_vf[VFSEC_PLUGIN_EVENT_VF_RESET], ==, 3);
    g_assert_cmpuint(ev.count[VFSEC_PLUGIN_EVENT_DISCONNECTED], ==, 0);

    vfsec_plugin_free(plugin);
    nicsim_stop(fx);
}

static void
test_missing_port(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    g_autoptr(VfsecPlugin) plugin = plugin_new(fx, 7, NULL);
    g_autoptr(GError) error = NULL;

    g_assert_false(start(fx, plugin, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "nic0"));
    g_assert_nonnull(strstr(error->message, "port 7"));
    g_assert_nonnull(strstr(error->message, fx->contract));
    g_clear_pointer(&plugin, vfsec_plugin_free);
    nicsim_stop(fx);
}

static void
test_reconnect(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    Events ev = { 0 };
    VfsecPlugin *plugin = plugin_new(fx, 0, &ev);
    g_autoptr(GPtrArray) vfs = NULL;
    g_autoptr(GError) error = NULL;

    check_start(fx, plugin);

    /* The PF driver goes away. */
    g_assert_cmpint(nicsim_terminate(fx, SIGTERM), ==, 0);
    g_assert_true(nicsim_run_until_count(fx, &ev.count[VFSEC_PLUGIN_EVENT_DISCONNECTED], 1,
                                         NICSIM_WAIT_MS));

    /* Meanwhile every operation fails at once, naming the PF and socket. */
    g_assert_null(list_vfs(fx, plugin, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_nonnull(strstr(error->message, "nic0"));
    g_assert_nonnull(strstr(error->message, fx->contract));
    g_clear_error(&error);
    g_assert_cmpuint(ev.count[VFSEC_PLUGIN_EVENT_RECONNECTED], ==, 0);

    /* It comes back: the plugin finds it on its own. */
    nicsim_restart(fx);
    g_assert_true(nicsim_run_until_count(fx, &ev.count[VFSEC_PLUGIN_EVENT_RECONNECTED], 1,
                                         NICSIM_WAIT_MS));
    g_assert_cmpuint(ev.count[VFSEC_PLUGIN_EVENT_DISCONNECTED], ==, 1);
    vfs = list_vfs(fx, plugin, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(vfs->len, ==, 4);

    /* And the new session is subscribed again. */
    nicsim_ctl_do(fx, "vf-reset", "{\"port\": 0, \"vf\": 0}");
    g_assert_true(nicsim_run_until_count(fx, &ev.count[VFSEC_PLUGIN_EVENT_VF_RESET], 1,
                                         NICSIM_WAIT_MS));
    g_assert_cmpint(ev.last_vf[VFSEC_PLUGIN_EVENT_VF_RESET], ==, 0);

    vfsec_plugin_free(plugin);
    nicsim_stop(fx);
}

/* Freed while waiting to reconnect: the retry timer must not fire on a freed
 * plugin (the sanitizer build catches it if it does). */
static void
test_free_while_disconnected(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    Events ev = { 0 };
    VfsecPlugin *plugin = plugin_new(fx, 0, &ev);
    gboolean never = FALSE;

    check_start(fx, plugin);
    g_assert_cmpint(nicsim_terminate(fx, SIGTERM), ==, 0);
    g_assert_true(nicsim_run_until_count(fx, &ev.count[VFSEC_PLUGIN_EVENT_DISCONNECTED], 1,
                                         NICSIM_WAIT_MS));
    vfsec_plugin_free(plugin);
    /* Longer than the first retry delays (100 + 200 ms). */
    g_assert_false(nicsim_run_until(fx, &never, NICSIM_QUIET_MS + 200));
    nicsim_stop(fx);
}

/* The PF driver is not there when vfsecd starts (or refuses the connection:
 * EAGAIN, a full listen backlog with many PFs on one socket): start fails,
 * and the plugin keeps trying, as after a loss, instead of leaving the PF
 * disconnected until vfsecd restarts. */
static void
test_start_before_driver(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    Events ev = { 0 };
    VfsecPlugin *plugin = plugin_new(fx, 0, &ev);
    g_autoptr(GPtrArray) vfs = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(nicsim_terminate(fx, SIGTERM), ==, 0);
    g_assert_false(start(fx, plugin, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_clear_error(&error);

    nicsim_restart(fx);
    g_assert_true(nicsim_run_until_count(fx, &ev.count[VFSEC_PLUGIN_EVENT_RECONNECTED], 1,
                                         NICSIM_WAIT_MS));
    vfs = list_vfs(fx, plugin, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(vfs->len, ==, 4);

    vfsec_plugin_free(plugin);
    nicsim_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();

    g_test_add_func("/plugin-contract/operations", test_operations);
    g_test_add_func("/plugin-contract/missing-port", test_missing_port);
    g_test_add_func("/plugin-contract/reconnect", test_reconnect);
    g_test_add_func("/plugin-contract/free-while-disconnected", test_free_while_disconnected);
    g_test_add_func("/plugin-contract/start-before-driver", test_start_before_driver);
    return g_test_run();
}
