/* vfsecctl: the operator's command line for vfsec.
 *
 * Exit codes (docs/cli.md): 0 success; 1 bad input or a failed operation
 * (one line on stderr); 2 usage error; 3 the input was fine but at least one
 * attachment did not resolve to a VF. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "vfsec-config.h"
#include "vfsec-domain.h"
#include "vfsec-json.h"
#include "vfsec-resolve.h"
#include "vfsec-topology.h"

enum {
    VFSECCTL_EXIT_OK = 0,
    VFSECCTL_EXIT_FAILED = 1,
    VFSECCTL_EXIT_USAGE = 2,
    VFSECCTL_EXIT_UNRESOLVED = 3,
};

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
    g_print("\n'vfsecctl COMMAND --help' describes a command. Exit status: 0 success,\n"
            "1 failure, 2 usage error, 3 some attachment did not resolve.\n");
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
    g_printerr("vfsecctl: unknown command '%s' (see 'vfsecctl --help')\n", argv[1]);
    return VFSECCTL_EXIT_USAGE;
}
