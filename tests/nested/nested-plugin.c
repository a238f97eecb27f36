/* nested-plugin.c: drives the linux PF plugin against a real kernel PF
 * driver inside the nested tier's L1 guest, one operation per argument, and
 * prints what the plugin answered as one JSON object per line. The checks
 * (tests/nested/l1-checks.py) compare these answers with the kernel's own
 * readback (ip -d -j link show, sysfs); this program asserts nothing itself.
 *
 * Usage: nested-plugin [--sysfs-root DIR] PF-NETDEV OP...
 *   set:VF:KEY=VAL[,KEY=VAL...]  keys: vlan, qos, proto (8021q|8021ad),
 *                                trust (on|off), spoofchk (on|off),
 *                                mac (aa:bb:cc:dd:ee:ff|none)
 *   reclaim:VF
 *   switch-mode:veb|vepa
 * Every OP runs on the same plugin instance, so what set_vf applied is what
 * a later reclaim re-checks. Exit status 0 when every OP could be parsed and
 * the plugin started; an operation the plugin refused is reported, not fatal. */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "vfsec-addr.h"
#include "vfsec-conf.h"
#include "vfsec-error.h"
#include "vfsec-plugin.h"
#include "vfsec-test-util.h"

static const char *const error_codes[] = {
    "FAILED", "INVALID", "NOT_FOUND", "IO", "PROTOCOL", "CONFLICT",
    "TIMEOUT", "UNSUPPORTED", "PERMISSION", "TOO_LARGE",
};

static void
add_vf(JsonBuilder *b, const VfsecContractVf *vf)
{
    char mac[VFSEC_MAC_STRLEN];

    json_builder_set_member_name(b, "vf_state");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vf");
    json_builder_add_int_value(b, vf->vf);
    json_builder_set_member_name(b, "mac");
    if (vf->has_mac)
        json_builder_add_string_value(b, vfsec_mac_format(&vf->mac, mac));
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "port_tag");
    if (vf->has_port_tag) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "tpid");
        json_builder_add_int_value(b, vf->port_tag.tpid);
        json_builder_set_member_name(b, "vid");
        json_builder_add_int_value(b, vf->port_tag.vid);
        json_builder_set_member_name(b, "pcp");
        json_builder_add_int_value(b, vf->port_tag.pcp);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "trust");
    json_builder_add_boolean_value(b, vf->trust);
    json_builder_set_member_name(b, "spoofchk");
    json_builder_add_boolean_value(b, vf->spoofchk);
    json_builder_end_object(b);
}

/* Prints one result line: the operation, its outcome, the caps after it. */
static void
print_result(VfsecPlugin *plugin, const char *op, const GError *error, const VfsecContractVf *vf)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "op");
    json_builder_add_string_value(b, op);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, error == NULL);
    if (error) {
        json_builder_set_member_name(b, "code");
        json_builder_add_string_value(b, error->domain == VFSEC_ERROR &&
                                             (guint)error->code < G_N_ELEMENTS(error_codes)
                                         ? error_codes[error->code]
                                         : "FOREIGN");
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, error->message);
    }
    if (vf)
        add_vf(b, vf);
    json_builder_set_member_name(b, "port_tag_8021ad");
    json_builder_add_boolean_value(b, plugin->caps.port_tag_8021ad);
    json_builder_set_member_name(b, "switch_mode");
    json_builder_add_string_value(b, plugin->port->switch_mode == VFSEC_CONTRACT_SWITCH_MODE_VEPA
                                         ? "vepa" : "veb");
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
    fflush(stdout);
}

static gboolean
parse_onoff(const char *val, gboolean *out, GError **error)
{
    if (g_str_equal(val, "on") || g_str_equal(val, "off")) {
        *out = g_str_equal(val, "on");
        return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "'%s' is neither on nor off", val);
    return FALSE;
}

/* Parses "KEY=VAL,..." of a set operation into @fields and @want. */
static gboolean
parse_set(const char *spec, VfsecContractSetVfFields *fields, VfsecContractVf *want,
          GError **error)
{
    g_auto(GStrv) pairs = g_strsplit(spec, ",", -1);
    guint64 n;

    want->port_tag.tpid = VFSEC_CONTRACT_TPID_8021Q;
    for (guint i = 0; pairs[i]; i++) {
        const char *eq = strchr(pairs[i], '=');
        g_autofree char *key = eq ? g_strndup(pairs[i], eq - pairs[i]) : NULL;
        const char *val = eq ? eq + 1 : NULL;

        if (!key) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "'%s' is not KEY=VALUE", pairs[i]);
            return FALSE;
        }
        if (g_str_equal(key, "vlan") || g_str_equal(key, "qos")) {
            if (!g_ascii_string_to_unsigned(val, 10, 0, g_str_equal(key, "vlan") ? 4094 : 7, &n,
                                            error))
                return FALSE;
            *fields |= VFSEC_CONTRACT_SET_VF_PORT_TAG;
            if (g_str_equal(key, "vlan"))
                want->port_tag.vid = n;
            else
                want->port_tag.pcp = n;
            want->has_port_tag = want->port_tag.vid || want->port_tag.pcp;
        } else if (g_str_equal(key, "proto")) {
            if (!g_str_equal(val, "8021q") && !g_str_equal(val, "8021ad")) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "proto '%s' is neither 8021q nor 8021ad", val);
                return FALSE;
            }
            want->port_tag.tpid = g_str_equal(val, "8021ad") ? VFSEC_CONTRACT_TPID_8021AD
                                                             : VFSEC_CONTRACT_TPID_8021Q;
        } else if (g_str_equal(key, "trust")) {
            *fields |= VFSEC_CONTRACT_SET_VF_TRUST;
            if (!parse_onoff(val, &want->trust, error))
                return FALSE;
        } else if (g_str_equal(key, "spoofchk")) {
            *fields |= VFSEC_CONTRACT_SET_VF_SPOOFCHK;
            if (!parse_onoff(val, &want->spoofchk, error))
                return FALSE;
        } else if (g_str_equal(key, "mac")) {
            *fields |= VFSEC_CONTRACT_SET_VF_MAC;
            want->has_mac = !g_str_equal(val, "none");
            if (want->has_mac && !vfsec_mac_parse(val, &want->mac, error))
                return FALSE;
        } else {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "unknown set key '%s'", key);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
parse_vf(const char *text, guint *vf, GError **error)
{
    guint64 n;

    if (!g_ascii_string_to_unsigned(text, 10, 0, 255, &n, error))
        return FALSE;
    *vf = n;
    return TRUE;
}

/* Runs one OP; FALSE only when it cannot be parsed. */
static gboolean
run_op(VfsecPlugin *plugin, const char *op, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(op, ":", 3);
    g_auto(VfsecTestAsync) w = { 0 };
    g_autoptr(GError) opError = NULL;
    guint vf;

    if (g_str_equal(parts[0], "set") && parts[1] && parts[2]) {
        g_autoptr(VfsecContractVf) want = vfsec_contract_vf_new();
        g_autoptr(VfsecContractVf) got = NULL;
        VfsecContractSetVfFields fields = 0;

        if (!parse_vf(parts[1], &vf, error) || !parse_set(parts[2], &fields, want, error))
            return FALSE;
        want->vf = vf;
        vfsec_plugin_set_vf_async(plugin, fields, want, NULL, vfsec_test_async_cb, &w);
        got = vfsec_plugin_set_vf_finish(plugin, vfsec_test_async_wait(NULL, &w), &opError);
        print_result(plugin, op, opError, got);
        return TRUE;
    }
    if (g_str_equal(parts[0], "reclaim") && parts[1] && !parts[2]) {
        VfsecContractReclaim out = { 0 };

        if (!parse_vf(parts[1], &vf, error))
            return FALSE;
        vfsec_plugin_reclaim_vf_async(plugin, vf, 5000, NULL, vfsec_test_async_cb, &w);
        vfsec_plugin_reclaim_vf_finish(plugin, vfsec_test_async_wait(NULL, &w), &out, &opError);
        print_result(plugin, op, opError, NULL);
        return TRUE;
    }
    if (g_str_equal(parts[0], "switch-mode") && parts[1] && !parts[2] &&
        (g_str_equal(parts[1], "veb") || g_str_equal(parts[1], "vepa"))) {
        VfsecContractSwitchMode mode = g_str_equal(parts[1], "vepa")
                                           ? VFSEC_CONTRACT_SWITCH_MODE_VEPA
                                           : VFSEC_CONTRACT_SWITCH_MODE_VEB;

        vfsec_plugin_set_switch_mode_async(plugin, mode, NULL, vfsec_test_async_cb, &w);
        vfsec_plugin_set_switch_mode_finish(plugin, vfsec_test_async_wait(NULL, &w), &opError);
        print_result(plugin, op, opError, NULL);
        return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "'%s' is not an operation", op);
    return FALSE;
}

int
main(int argc, char **argv)
{
    g_autofree char *sysfs_root = NULL;
    GOptionEntry entries[] = {
        { "sysfs-root", 0, 0, G_OPTION_ARG_FILENAME, &sysfs_root, "Read sysfs below DIR", "DIR" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("PF-NETDEV OP...");
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecPlugin) plugin = NULL;
    g_auto(VfsecTestAsync) w = { 0 };
    VfsecConfPf pf = { .label = (char *)"p0", .plugin = VFSEC_PLUGIN_LINUX };

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc < 3) {
        fprintf(stderr, "nested-plugin: %s\n", error ? error->message : "need PF-NETDEV and OPs");
        return 2;
    }
    pf.netdev = argv[1];
    plugin = vfsec_plugin_new(&pf, sysfs_root, &error);
    if (plugin) {
        vfsec_plugin_start_async(plugin, NULL, vfsec_test_async_cb, &w);
        if (!vfsec_plugin_start_finish(plugin, vfsec_test_async_wait(NULL, &w), &error))
            g_clear_pointer(&plugin, vfsec_plugin_free);
    }
    if (!plugin) {
        fprintf(stderr, "nested-plugin: starting the linux plugin on %s failed: %s\n", argv[1],
                error->message);
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        if (!run_op(plugin, argv[i], &error)) {
            fprintf(stderr, "nested-plugin: %s\n", error->message);
            return 2;
        }
    }
    return 0;
}
