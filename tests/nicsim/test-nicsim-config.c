/* test-nicsim-config.c: the emulator's command line, netdev names and PCI
 * identities, and the executable's --help, --version and ctl usage errors;
 * no root needed. */
#include <glib.h>
#include <string.h>

#include "vfsec-nicsim-links.h"
#include "vfsec-nicsim.h"
#include "vfsec-test-util.h"

typedef struct {
    const char *args;         /* space-separated options */
    gboolean ok;
    guint n_ports;
    guint n_vfs;
    const char *prefix;
    const char *nic_netns;
    const char *wire_netns;
    VfsecSwitchMode mode;
    guint16 config_vid;
    guint16 md_base;
    gboolean netdevs;
} ConfigCase;

static const ConfigCase config_cases[] = {
    { "", TRUE, 1, 8, "vs", "vs-nic", "vs-wire", VFSEC_SWITCH_VEB, 4094, 4092, TRUE },
    { "--ports=3 --vfs=64 --prefix=ab --mode=vepa --no-netdevs --config-vid=100 "
      "--md-vid-base=200",
      TRUE, 3, 64, "ab", "ab-nic", "ab-wire", VFSEC_SWITCH_VEPA, 100, 200, FALSE },
    { "--ports=16 --vfs=0 --prefix=abcdefghij --nic-netns=n1 --wire-netns=w1", TRUE, 16, 0,
      "abcdefghij", "n1", "w1", VFSEC_SWITCH_VEB, 4094, 4092, TRUE },
    { "--ports=0" },
    { "--ports=17" },
    { "--ports=abc" },
    { "--ports=-1" },
    { "--vfs=65" },
    { "--prefix=abcdefghijk" },        /* "abcdefghijk15v63" would not fit IFNAMSIZ */
    { "--prefix=a/b" },
    { "--prefix=-x" },
    { "--prefix=" },
    { "--mode=hub" },
    { "--config-vid=4095" },
    { "--md-vid-base=4093" },          /* odd */
    { "--config-vid=4092" },           /* the bypass VID */
    { "--sad-capacity=0" },
    { "--reclaim-mode=fast" },
    { "--netns=../x" },
    { "--nic-netns=w --wire-netns=w" },
    { "--control-socket=/tmp/a --contract-socket=/tmp/a" },
    { "positional" },
    { "--no-such-option" },
};

static void
test_config(gconstpointer data)
{
    const ConfigCase *c = data;
    g_autofree char *line = g_strdup_printf("vfsec-nicsim %s", c->args);
    g_auto(GStrv) argv = g_strsplit(line, " ", -1);
    /* GOption takes what it parsed out of the array: hand it a copy of the
     * pointers, so that argv still frees every string. */
    g_autofree char **args = g_memdup2(argv, sizeof(char *) * (g_strv_length(argv) + 1));
    char **parse_args = args;
    int argc = (int)g_strv_length(argv);
    g_autoptr(GError) error = NULL;
    VfsecNicsimConfig config;
    gboolean ok;

    /* An empty trailing word from the split is no argument. */
    if (argc > 1 && !*argv[argc - 1])
        argc--;
    vfsec_nicsim_config_init(&config);
    ok = vfsec_nicsim_config_parse(&config, &argc, &parse_args, &error);
    if (!c->ok) {
        g_assert_false(ok);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
        g_test_message("%s: %s", c->args, error->message);
        vfsec_nicsim_config_clear(&config);
        return;
    }
    g_assert_no_error(error);
    g_assert_true(ok);
    g_assert_cmpuint(config.n_ports, ==, c->n_ports);
    g_assert_cmpuint(config.n_vfs, ==, c->n_vfs);
    g_assert_cmpstr(config.prefix, ==, c->prefix);
    g_assert_cmpstr(config.nic_netns, ==, c->nic_netns);
    g_assert_cmpstr(config.wire_netns, ==, c->wire_netns);
    g_assert_null(config.host_netns);
    g_assert_cmpint(config.mode, ==, c->mode);
    g_assert_cmpuint(config.tags.config_vid, ==, c->config_vid);
    g_assert_cmpuint(config.tags.md_base, ==, c->md_base);
    g_assert_cmpint(config.netdevs, ==, c->netdevs);
    g_assert_true(g_str_has_suffix(config.control_socket, "-control.sock"));
    g_assert_true(g_str_has_suffix(config.contract_socket, "-contract.sock"));
    vfsec_nicsim_config_clear(&config);
}

static void
test_names(void)
{
    struct {
        VfsecNicsimLinkKind kind;
        guint port;
        guint vf;
        const char *name;
    } cases[] = {
        { VFSEC_NICSIM_LINK_PF, 0, 0, "vs0pf" },
        { VFSEC_NICSIM_LINK_VF, 0, 63, "vs0v63" },
        { VFSEC_NICSIM_LINK_UPLINK, 15, 0, "vs15up" },
    };
    g_autoptr(GError) error = NULL;
    g_autofree char *too_long = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = vfsec_nicsim_link_name("vs", cases[i].kind, cases[i].port,
                                                       cases[i].vf, NULL);

        g_assert_cmpstr(name, ==, cases[i].name);
    }
    too_long = vfsec_nicsim_link_name("abcdefghijkl", VFSEC_NICSIM_LINK_VF, 1, 63, &error);
    g_assert_null(too_long);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
}

static void
test_identities(void)
{
    VfsecPciAddr pci;
    VfsecMac mac;
    char buf[VFSEC_PCI_ADDR_STRLEN];
    char macbuf[VFSEC_MAC_STRLEN];

    vfsec_nicsim_pci_addr(0, -1, &pci);
    g_assert_cmpstr(vfsec_pci_addr_format(&pci, buf), ==, "fe00:00:00.0");
    vfsec_nicsim_pci_addr(1, 63, &pci);
    g_assert_cmpstr(vfsec_pci_addr_format(&pci, buf), ==, "fe00:01:17.7");
    vfsec_nicsim_pci_addr(15, 9, &pci);
    g_assert_cmpstr(vfsec_pci_addr_format(&pci, buf), ==, "fe00:0f:11.1");
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 2, 7, &mac);
    g_assert_cmpstr(vfsec_mac_format(&mac, macbuf), ==, "02:76:73:02:00:07");
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_PF, 2, 0, &mac);
    g_assert_cmpstr(vfsec_mac_format(&mac, macbuf), ==, "02:76:73:02:ff:00");
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_UPLINK, 2, 0, &mac);
    g_assert_cmpstr(vfsec_mac_format(&mac, macbuf), ==, "02:76:73:02:fe:00");
}

typedef struct {
    const char *args;
    int status;
    const char *out;   /* expected in stdout, or NULL */
} ExecCase;

static const ExecCase exec_cases[] = {
    { "--help", 0, "--no-netdevs" },
    { "--version", 0, "vfsec-nicsim " },
    { "--ports=0", 2, NULL },
    { "ctl", 2, NULL },
    { "ctl status {not-json}", 2, NULL },
    { "ctl --control-socket=/nonexistent/control.sock status", 1, NULL },
};

static void
test_exec(gconstpointer data)
{
    const ExecCase *c = data;
    g_autofree char *line = g_strdup_printf("%s %s", vfsec_test_env("VFSEC_NICSIM"), c->args);
    g_auto(GStrv) argv = g_strsplit(line, " ", -1);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    g_assert_cmpint(vfsec_test_run((const char *const *)argv, &out, &err), ==, c->status);
    if (c->out)
        g_assert_nonnull(strstr(out, c->out));
    if (c->status != 0)
        g_assert_cmpstr(err, !=, "");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(config_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicsim/config/%u", i);

        g_test_add_data_func(path, &config_cases[i], test_config);
    }
    g_test_add_func("/nicsim/config/names", test_names);
    g_test_add_func("/nicsim/config/identities", test_identities);
    for (guint i = 0; i < G_N_ELEMENTS(exec_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicsim/exec/%u", i);

        g_test_add_data_func(path, &exec_cases[i], test_exec);
    }
    return g_test_run();
}
