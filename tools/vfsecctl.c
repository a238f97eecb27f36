/* vfsecctl: the operator's command line for vfsec.
 *
 * Exit codes (docs/cli.md): 0 success; 1 bad input or a failed operation
 * (one line on stderr); 2 usage error; 3 the input was fine but at least one
 * attachment did not resolve to a VF; 4 vfsecd is not reachable. */
#include <glib/gstdio.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "vfsec-conf.h"
#include "vfsec-config.h"
#include "vfsec-ctlproto.h"
#include "vfsec-domain.h"
#include "vfsec-json.h"
#include "vfsec-resolve.h"
#include "vfsec-topology.h"

enum {
    VFSECCTL_EXIT_OK = 0,
    VFSECCTL_EXIT_FAILED = 1,
    VFSECCTL_EXIT_USAGE = 2,
    VFSECCTL_EXIT_UNRESOLVED = 3,
    VFSECCTL_EXIT_UNREACHABLE = 4,
};

/* How long a daemon command waits for vfsecd (a reconcile relists every PF). */
#define VFSECCTL_DAEMON_TIMEOUT_MS 60000

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} VfsecctlCommand;

static int
vfsecctl_usage_error(GOptionContext *ctx, const char *message)
{
    g_printerr("vfsecctl: %s\n", message);
    g_printerr("Try 'vfsecctl %s --help'.\n", g_option_context_get_summary(ctx));
    return VFSECCTL_EXIT_USAGE;
}

static void
vfsecctl_print_attachment(guint index, const VfsecAttachment *att, gboolean resolve,
                          const VfsecVfInfo *vf, const GError *resolve_error)
{
    g_autofree char *text = vfsec_attachment_to_string(att);

    g_print("#%u %s\n", index, text);
    if (!resolve)
        return;
    if (vf)
        g_print("   -> pf=%s vf=%u vf_netdev=%s vf_driver=%s\n",
                vf->pf_netdev ? vf->pf_netdev : "-", vf->vf_index,
                vf->vf_netdev ? vf->vf_netdev : "-", vf->vf_driver ? vf->vf_driver : "-");
    else
        g_print("   -> unresolved: %s\n", resolve_error->message);
}

static int
vfsecctl_inspect_domain(int argc, char **argv)
{
    gboolean json = FALSE;
    gboolean resolve = FALSE;
    g_autofree char *sysfs_root = NULL;
    GOptionEntry entries[] = {
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print a JSON array (docs/cli.md)", NULL },
        { "resolve", 0, 0, G_OPTION_ARG_NONE, &resolve, "Resolve each attachment to its PF and VF", NULL },
        { "sysfs-root", 0, 0, G_OPTION_ARG_FILENAME, &sysfs_root, "Read sysfs below DIR (implies --resolve)", "DIR" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE|-");
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) domain = NULL;
    g_autoptr(VfsecTopology) topo = NULL;
    g_autoptr(JsonBuilder) out = json_builder_new();
    gboolean unresolved = FALSE;

    g_option_context_set_summary(ctx, "inspect-domain");
    g_option_context_set_description(ctx,
        "Lists every SR-IOV attachment candidate of a libvirt domain XML, in document\n"
        "order, with the vfsec policy that applies to it. FILE '-' reads standard input.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        return vfsecctl_usage_error(ctx, error->message);
    if (argc != 2)
        return vfsecctl_usage_error(ctx, "inspect-domain takes exactly one FILE (or '-')");
    if (sysfs_root)
        resolve = TRUE;

    domain = vfsec_domain_parse_file(argv[1], &error);
    if (!domain) {
        g_printerr("vfsecctl: %s: %s\n", argv[1], error->message);
        return VFSECCTL_EXIT_FAILED;
    }
    if (resolve)
        topo = vfsec_topology_new(sysfs_root);

    json_builder_begin_array(out);
    for (guint i = 0; i < domain->attachments->len; i++) {
        const VfsecAttachment *att = g_ptr_array_index(domain->attachments, i);
        g_autoptr(VfsecVfInfo) vf = NULL;
        g_autoptr(GError) resolve_error = NULL;

        if (resolve) {
            vf = vfsec_attachment_resolve(att, topo, &resolve_error);
            if (!vf)
                unresolved = TRUE;
        }
        if (json)
            json_builder_add_value(out, vfsec_attachment_to_json(att, resolve, vf, resolve_error));
        else
            vfsecctl_print_attachment(i, att, resolve, vf, resolve_error);
    }
    json_builder_end_array(out);

    if (json) {
        g_autoptr(JsonNode) root = json_builder_get_root(out);
        g_autofree char *text = vfsec_json_to_string(root, TRUE);
        g_print("%s\n", text);
    } else if (domain->attachments->len == 0) {
        g_print("domain '%s' has no SR-IOV attachment\n", domain->name);
    }
    return unresolved ? VFSECCTL_EXIT_UNRESOLVED : VFSECCTL_EXIT_OK;
}

/* ---- Daemon commands: one control request each (docs/control-protocol.md) ---- */

/* The control socket: --socket, else the configuration's (VFSEC_CONFIG or
 * <sysconfdir>/vfsec/vfsecd.conf), else the compiled default. A file that is
 * absent or not readable (not root) is not an error here: the compiled
 * default is what vfsecd uses then too. A readable file that does not
 * validate is worth a warning naming the file and the key, since vfsecd
 * refuses it and the socket guessed may well be wrong. */
static char *
vfsecctl_socket_path(const char *option)
{
    const char *env = g_getenv("VFSEC_CONFIG");
    g_autofree char *conf_path = NULL;
    g_autoptr(VfsecConf) conf = NULL;
    g_autoptr(GError) error = NULL;

    if (option)
        return g_strdup(option);
    conf_path = env && *env ? g_strdup(env) : vfsec_conf_default_path();
    if (g_access(conf_path, R_OK) != 0)
        return g_strdup(VFSEC_CTL_DEFAULT_SOCKET);
    conf = vfsec_conf_load(conf_path, &error);
    if (!conf) {
        g_printerr("vfsecctl: warning: %s; trying the default socket %s\n", error->message,
                   VFSEC_CTL_DEFAULT_SOCKET);
        return g_strdup(VFSEC_CTL_DEFAULT_SOCKET);
    }
    return g_strdup(conf->control_socket);
}

/* Sends @req to vfsecd; returns the result (ref) or NULL, having printed
 * one line and set *@status. */
static JsonObject *
vfsecctl_call(const char *socket_path, VfsecCtlRequest *req, int *status)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)VFSECCTL_DAEMON_TIMEOUT_MS * 1000;
    g_autoptr(VfsecCtlClient) client = NULL;
    g_autoptr(VfsecCtlReply) reply = NULL;
    g_autoptr(GError) error = NULL;
    int fd = vfsec_ctl_connect(socket_path, deadline);

    if (fd < 0) {
        g_printerr("vfsecctl: vfsecd is not reachable at %s: %s\n", socket_path,
                   g_strerror(-fd));
        *status = VFSECCTL_EXIT_UNREACHABLE;
        return NULL;
    }
    client = vfsec_ctl_client_new(fd, socket_path);
    reply = vfsec_ctl_client_call(client, req, deadline, &error);
    if (!reply || !vfsec_ctl_reply_check(reply, &error)) {
        g_printerr("%s\n", error->message);
        *status = VFSECCTL_EXIT_FAILED;
        return NULL;
    }
    *status = VFSECCTL_EXIT_OK;
    return json_object_ref(reply->result);
}

static const char *
vfsecctl_str(JsonObject *obj, const char *member)
{
    const char *value = json_object_get_string_member_with_default(obj, member, NULL);

    return value ? value : "-";
}

static const char *
vfsecctl_yes(JsonObject *obj, const char *member)
{
    return json_object_get_boolean_member_with_default(obj, member, FALSE) ? "yes" : "no";
}

/* "42,100" for an array of VLAN ids (or objects with "vid"); "-" if empty. */
static char *
vfsecctl_vlans(JsonObject *obj, const char *member)
{
    JsonNode *node = json_object_get_member(obj, member);
    g_autoptr(GString) out = g_string_new(NULL);

    if (node && JSON_NODE_HOLDS_VALUE(node))
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
    if (!node || !JSON_NODE_HOLDS_ARRAY(node))
        return g_strdup("-");
    for (guint i = 0; i < json_array_get_length(json_node_get_array(node)); i++) {
        JsonNode *v = json_array_get_element(json_node_get_array(node), i);

        if (out->len)
            g_string_append_c(out, ',');
        if (JSON_NODE_HOLDS_OBJECT(v))
            g_string_append_printf(out, "%" G_GINT64_FORMAT,
                                   json_object_get_int_member(json_node_get_object(v), "vid"));
        else
            g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(v));
    }
    return out->len ? g_string_free(g_steal_pointer(&out), FALSE) : g_strdup("-");
}

/* The array @member of @result, or a new empty one (a reference either way). */
static JsonArray *
vfsecctl_rows(JsonObject *result, const char *member)
{
    JsonArray *rows = json_object_get_array_member(result, member);

    return rows ? json_array_ref(rows) : json_array_new();
}

static void
vfsecctl_print_status(JsonObject *r)
{
    JsonArray *pfs = json_object_get_array_member(r, "pfs");
    JsonObject *rec = json_object_get_object_member(r, "reconcile");
    JsonObject *cfg = json_object_get_object_member(r, "config");

    g_print("vfsecd %s, up %" G_GINT64_FORMAT " s, libvirt %s\n", vfsecctl_str(r, "version"),
            json_object_get_int_member(r, "uptime_s"),
            json_object_get_boolean_member_with_default(r, "libvirt_connected", FALSE)
                ? "connected" : "not connected");
    g_print("%" G_GINT64_FORMAT " domains, %" G_GINT64_FORMAT " VFs in use; last reconcile %s%s\n",
            json_object_get_int_member(r, "domains"), json_object_get_int_member(r, "vfs_in_use"),
            rec ? vfsecctl_str(rec, "last") : "-",
            rec && !json_object_get_boolean_member_with_default(rec, "ok", TRUE) ? " (with errors)"
                                                                                  : "");
    if (cfg && json_object_get_int_member_with_default(cfg, "reloads", 0) > 0)
        g_print("%" G_GINT64_FORMAT " reloads, last %s: %s\n",
                json_object_get_int_member(cfg, "reloads"), vfsecctl_str(cfg, "last_reload"),
                json_object_get_string_member_with_default(cfg, "reload_error", NULL)
                    ? vfsecctl_str(cfg, "reload_error") : "applied");
    g_print("%-16s %-10s %-10s %s\n", "PF", "PLUGIN", "CONNECTED", "VFS");
    for (guint i = 0; pfs && i < json_array_get_length(pfs); i++) {
        JsonObject *pf = json_array_get_object_element(pfs, i);

        g_print("%-16s %-10s %-10s %" G_GINT64_FORMAT "\n", vfsecctl_str(pf, "pf"),
                vfsecctl_str(pf, "plugin"), vfsecctl_yes(pf, "connected"),
                json_object_get_int_member_with_default(pf, "vfs", 0));
    }
}

static void
vfsecctl_print_vfs(JsonObject *r)
{
    g_autoptr(JsonArray) rows = vfsecctl_rows(r, "vfs");

    g_print("%-10s %-3s %-14s %-12s %-16s %-17s %-8s %-9s %-5s %-5s %s\n", "PF", "VF", "PCI",
            "NETDEV", "OWNER", "MAC", "VLANS", "TRUST", "QUAR", "PUB", "SAS");
    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *vf = json_array_get_object_element(rows, i);
        g_autofree char *vlans = vfsecctl_vlans(vf, "vlans");

        g_print("%-10s %-3" G_GINT64_FORMAT " %-14s %-12s %-16s %-17s %-8s %-9s %-5s %-5s %"
                G_GINT64_FORMAT "\n",
                vfsecctl_str(vf, "pf"), json_object_get_int_member(vf, "vf"),
                vfsecctl_str(vf, "pci"), vfsecctl_str(vf, "netdev"), vfsecctl_str(vf, "owner"),
                vfsecctl_str(vf, "mac"), vlans, vfsecctl_str(vf, "trust"),
                vfsecctl_yes(vf, "quarantined"), vfsecctl_yes(vf, "published"),
                json_object_get_int_member_with_default(vf, "sa_count", 0));
    }
}

static void
vfsecctl_print_macs(JsonObject *r)
{
    g_autoptr(JsonArray) ports = vfsecctl_rows(r, "ports");

    for (guint i = 0; i < json_array_get_length(ports); i++) {
        JsonObject *port = json_array_get_object_element(ports, i);
        JsonArray *entries = json_object_get_array_member(port, "entries");

        g_print("%s (generation %" G_GINT64_FORMAT ")\n", vfsecctl_str(port, "pf"),
                json_object_get_int_member_with_default(port, "generation", 0));
        g_print("  %-17s %-6s %-14s %s\n", "MAC", "VLAN", "VF", "OWNER");
        for (guint k = 0; entries && k < json_array_get_length(entries); k++) {
            JsonObject *e = json_array_get_object_element(entries, k);
            g_autofree char *vlan = vfsecctl_vlans(e, "vlan");

            g_print("  %-17s %-6s %-14s %s\n", vfsecctl_str(e, "mac"), vlan,
                    vfsecctl_str(e, "vf"), vfsecctl_str(e, "owner"));
        }
    }
}

static void
vfsecctl_print_domains(JsonObject *r)
{
    g_autoptr(JsonArray) rows = vfsecctl_rows(r, "domains");

    g_print("%-20s %-30s %s\n", "NAME", "VFS", "REFUSAL / PROBLEMS");
    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *d = json_array_get_object_element(rows, i);
        JsonArray *vfs = json_object_get_array_member(d, "vfs");
        g_autoptr(GString) list = g_string_new(NULL);

        for (guint k = 0; vfs && k < json_array_get_length(vfs); k++)
            g_string_append_printf(list, "%s%s", k ? "," : "",
                                   json_array_get_string_element(vfs, k));
        JsonArray *problems = json_object_get_array_member(d, "problems");

        g_print("%-20s %-30s %s\n", vfsecctl_str(d, "name"), list->len ? list->str : "-",
                vfsecctl_str(d, "refusal"));
        /* What would make its start fail, one per line under it. */
        for (guint k = 0; problems && k < json_array_get_length(problems); k++)
            g_print("%-20s %-30s would not start: %s\n", "", "",
                    json_array_get_string_element(problems, k));
    }
}

static void
vfsecctl_print_reclaim(JsonObject *r)
{
    g_print("VF %s: %" G_GINT64_FORMAT " SAs removed\n", vfsecctl_str(r, "pci"),
            json_object_get_int_member(r, "removed"));
}

static void
vfsecctl_print_reconcile(JsonObject *r)
{
    g_print("reconcile: %" G_GINT64_FORMAT " corrections (%" G_GINT64_FORMAT " reclaimed, %"
            G_GINT64_FORMAT " quarantined, %" G_GINT64_FORMAT " released, %" G_GINT64_FORMAT
            " adopted, %" G_GINT64_FORMAT " republished), %" G_GINT64_FORMAT " failed\n",
            json_object_get_int_member(r, "fixed"), json_object_get_int_member(r, "reclaimed"),
            json_object_get_int_member(r, "quarantined"),
            json_object_get_int_member(r, "released"), json_object_get_int_member(r, "adopted"),
            json_object_get_int_member(r, "republished"), json_object_get_int_member(r, "failed"));
}

typedef struct {
    const char *name;
    VfsecCtlOp op;
    const char *args;           /* positional arguments, for --help */
    guint min_args;
    guint max_args;
    void (*print)(JsonObject *result);
} VfsecctlDaemonCommand;

static const VfsecctlDaemonCommand vfsecctl_daemon_commands[] = {
    { "status", VFSEC_CTL_OP_STATUS, "", 0, 0, vfsecctl_print_status },
    { "vfs", VFSEC_CTL_OP_VFS, "", 0, 0, vfsecctl_print_vfs },
    { "macs", VFSEC_CTL_OP_MACS, "[PF]", 0, 1, vfsecctl_print_macs },
    { "domains", VFSEC_CTL_OP_DOMAINS, "", 0, 0, vfsecctl_print_domains },
    { "reclaim", VFSEC_CTL_OP_RECLAIM, "PF VF", 2, 2, vfsecctl_print_reclaim },
    { "reconcile", VFSEC_CTL_OP_RECONCILE, "", 0, 0, vfsecctl_print_reconcile },
};

static int
vfsecctl_daemon(const VfsecctlDaemonCommand *cmd, int argc, char **argv)
{
    gboolean json = FALSE;
    g_autofree char *socket_opt = NULL;
    g_autofree char *socket_path = NULL;
    GOptionEntry entries[] = {
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print vfsecd's result as JSON", NULL },
        { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_opt,
          "vfsecd's control socket (default: vfsecd.conf's, else " VFSEC_CTL_DEFAULT_SOCKET ")",
          "PATH" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(cmd->args);
    g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(cmd->op);
    g_autoptr(JsonObject) result = NULL;
    g_autoptr(GError) error = NULL;
    guint n_args;
    int status;

    g_option_context_set_summary(ctx, cmd->name);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        return vfsecctl_usage_error(ctx, error->message);
    n_args = (guint)argc - 1;
    if (n_args < cmd->min_args || n_args > cmd->max_args)
        return vfsecctl_usage_error(ctx, "wrong number of arguments");
    if (cmd->op == VFSEC_CTL_OP_MACS && n_args == 1) {
        req->has_port = TRUE;
        if (!vfsec_pci_addr_parse(argv[1], &req->port, &error))
            return vfsecctl_usage_error(ctx, error->message);
    }
    if (cmd->op == VFSEC_CTL_OP_RECLAIM) {
        guint64 vf;

        if (!vfsec_pci_addr_parse(argv[1], &req->pf, &error))
            return vfsecctl_usage_error(ctx, error->message);
        if (!vfsec_parse_uint(argv[2], G_MAXUINT32, &vf))
            return vfsecctl_usage_error(ctx, "VF must be a VF index (0 to 4294967295)");
        req->vf = (guint32)vf;
    }
    socket_path = vfsecctl_socket_path(socket_opt);
    result = vfsecctl_call(socket_path, req, &status);
    if (!result)
        return status;
    if (json) {
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), result);
        g_autofree char *text = vfsec_json_to_string(node, TRUE);

        g_print("%s\n", text);
    } else {
        cmd->print(result);
    }
    return VFSECCTL_EXIT_OK;
}

static const VfsecctlCommand vfsecctl_commands[] = {
    { "inspect-domain", "List a domain XML's SR-IOV attachments and their policy", vfsecctl_inspect_domain },
};

static void
vfsecctl_print_help(void)
{
    g_print("Usage: vfsecctl [--version] [--help] COMMAND [ARGS...]\n\n"
            "Inspect and operate vfsec, which keeps SR-IOV VFs with an inline IPsec\n"
            "agent safe under libvirt.\n\nCommands:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(vfsecctl_commands); i++)
        g_print("  %-16s %s\n", vfsecctl_commands[i].name, vfsecctl_commands[i].summary);
    g_print("  %-16s %s\n", "status", "vfsecd's summary: PFs, domains, last reconcile");
    g_print("  %-16s %s\n", "vfs", "Every VF vfsecd manages and its state");
    g_print("  %-16s %s\n", "macs [PF]", "The published local-MAC tables");
    g_print("  %-16s %s\n", "domains", "Domains holding VFs, and refusals");
    g_print("  %-16s %s\n", "reclaim PF VF", "Reclaim a free VF's SAs now");
    g_print("  %-16s %s\n", "reconcile", "Run a reconcile pass now");
    g_print("\n'vfsecctl COMMAND --help' describes a command. Exit status: 0 success,\n"
            "1 failure, 2 usage error, 3 some attachment did not resolve,\n"
            "4 vfsecd not reachable.\n");
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");

    if (argc < 2) {
        vfsecctl_print_help();
        return VFSECCTL_EXIT_USAGE;
    }
    if (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h") ||
        g_str_equal(argv[1], "help")) {
        vfsecctl_print_help();
        return VFSECCTL_EXIT_OK;
    }
    if (g_str_equal(argv[1], "--version")) {
        g_print("vfsecctl %s\n", VFSEC_VERSION);
        return VFSECCTL_EXIT_OK;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(vfsecctl_commands); i++) {
        if (g_str_equal(argv[1], vfsecctl_commands[i].name))
            return vfsecctl_commands[i].run(argc - 1, argv + 1);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(vfsecctl_daemon_commands); i++) {
        if (g_str_equal(argv[1], vfsecctl_daemon_commands[i].name))
            return vfsecctl_daemon(&vfsecctl_daemon_commands[i], argc - 1, argv + 1);
    }
    g_printerr("vfsecctl: unknown command '%s' (see 'vfsecctl --help')\n", argv[1]);
    return VFSECCTL_EXIT_USAGE;
}
