/* vfsec-nicsim.c: the emulator's configuration and its assembly: netdevs,
 * ports (switch + agent + PF driver), frame path, sockets. */
#include "vfsec-nicsim-private.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

#include "vfsec-config.h"
#include "vfsec-contract.h"
#include "vfsec-error.h"
#include "vfsec-netns.h"

/* Longest prefix: "<prefix>15v63" must fit IFNAMSIZ - 1 = 15 characters. */
#define NICSIM_PREFIX_MAX 10
#define NICSIM_PCI_DOMAIN 0xfe00
#define NICSIM_VF_SLOT_BASE 0x10

void
vfsec_nicsim_config_init(VfsecNicsimConfig *config)
{
    memset(config, 0, sizeof(*config));
    config->n_ports = 1;
    config->n_vfs = VFSEC_NICSIM_DEFAULT_VFS;
    config->sad_capacity = VFSEC_AGENT_SAD_CAPACITY_DEFAULT;
    config->mode = VFSEC_SWITCH_VEB;
    config->hairpin = TRUE;
    vfsec_wire_tags_init(&config->tags);
    config->netdevs = TRUE;
}

void
vfsec_nicsim_config_clear(VfsecNicsimConfig *config)
{
    g_clear_pointer(&config->prefix, g_free);
    g_clear_pointer(&config->host_netns, g_free);
    g_clear_pointer(&config->nic_netns, g_free);
    g_clear_pointer(&config->wire_netns, g_free);
    g_clear_pointer(&config->contract_socket, g_free);
    g_clear_pointer(&config->control_socket, g_free);
    g_clear_pointer(&config->allow_group, g_free);
    g_clear_pointer(&config->pcap_dir, g_free);
    g_clear_pointer(&config->ready_file, g_free);
}

static void
config_copy(VfsecNicsimConfig *dst, const VfsecNicsimConfig *src)
{
    *dst = *src;
    dst->prefix = g_strdup(src->prefix);
    dst->host_netns = g_strdup(src->host_netns);
    dst->nic_netns = g_strdup(src->nic_netns);
    dst->wire_netns = g_strdup(src->wire_netns);
    dst->contract_socket = g_strdup(src->contract_socket);
    dst->control_socket = g_strdup(src->control_socket);
    dst->allow_group = g_strdup(src->allow_group);
    dst->pcap_dir = g_strdup(src->pcap_dir);
    dst->ready_file = g_strdup(src->ready_file);
}

char *
vfsec_nicsim_default_control_socket(const char *prefix)
{
    return g_strdup_printf("%s/vfsec-nicsim/%s-control.sock", VFSEC_RUNSTATEDIR, prefix);
}

char *
vfsec_nicsim_default_contract_socket(const char *prefix)
{
    return g_strdup_printf("%s/vfsec-nicsim/%s-contract.sock", VFSEC_RUNSTATEDIR, prefix);
}

void
vfsec_nicsim_pci_addr(guint port, int vf, VfsecPciAddr *addr)
{
    addr->domain = NICSIM_PCI_DOMAIN;
    addr->bus = (guint8)port;
    if (vf < 0) {
        addr->slot = 0;
        addr->function = 0;
        return;
    }
    addr->slot = (guint8)(NICSIM_VF_SLOT_BASE + vf / 8);
    addr->function = (guint8)(vf % 8);
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

/* Namespace names go to /run/netns/NAME and the prefix into netdev names:
 * one path component, nothing a shell or `ip` would trip on. */
static gboolean
config_check_name(const char *what, const char *name, gsize max, GError **error)
{
    if (!name || !*name || strlen(name) > max || strspn(name, NAME_CHARS) != strlen(name) ||
        name[0] == '-') {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s '%s' must be 1-%zu letters, digits, '_' or '-', not starting with '-'",
                    what, name ? name : "", max);
        return FALSE;
    }
    return TRUE;
}

gboolean
vfsec_nicsim_config_finish(VfsecNicsimConfig *config, GError **error)
{
    g_autofree char *longest = NULL;

    if (!config->prefix)
        config->prefix = g_strdup(VFSEC_NICSIM_DEFAULT_PREFIX);
    if (!config_check_name("--prefix", config->prefix, NICSIM_PREFIX_MAX, error))
        return FALSE;
    if (config->n_ports < 1 || config->n_ports > VFSEC_NICSIM_MAX_PORTS) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "--ports %u is outside 1-%d",
                    config->n_ports, VFSEC_NICSIM_MAX_PORTS);
        return FALSE;
    }
    if (config->n_vfs > VFSEC_NICSIM_MAX_VFS) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "--vfs %u is outside 0-%d",
                    config->n_vfs, VFSEC_NICSIM_MAX_VFS);
        return FALSE;
    }
    if (config->sad_capacity < 1) {
        g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "--sad-capacity must be at least 1");
        return FALSE;
    }
    if (!vfsec_wire_tags_check(&config->tags, error))
        return FALSE;
    /* The longest netdev name there will be. */
    longest = vfsec_nicsim_link_name(config->prefix, VFSEC_NICSIM_LINK_VF, config->n_ports - 1,
                                     config->n_vfs ? config->n_vfs - 1 : 0, error);
    if (!longest)
        return FALSE;
    if (!config->nic_netns)
        config->nic_netns = g_strdup_printf("%s-nic", config->prefix);
    if (!config->wire_netns)
        config->wire_netns = g_strdup_printf("%s-wire", config->prefix);
    if (!config_check_name("--nic-netns", config->nic_netns, 64, error) ||
        !config_check_name("--wire-netns", config->wire_netns, 64, error) ||
        (config->host_netns && !config_check_name("--netns", config->host_netns, 64, error)))
        return FALSE;
    if (g_strcmp0(config->nic_netns, config->wire_netns) == 0 ||
        g_strcmp0(config->nic_netns, config->host_netns) == 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "the emulator's private namespace %s cannot also be the host or wire one",
                    config->nic_netns);
        return FALSE;
    }
    if (!config->control_socket)
        config->control_socket = vfsec_nicsim_default_control_socket(config->prefix);
    if (!config->contract_socket)
        config->contract_socket = vfsec_nicsim_default_contract_socket(config->prefix);
    if (g_strcmp0(config->control_socket, config->contract_socket) == 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "the control and contract sockets cannot both be %s", config->control_socket);
        return FALSE;
    }
    return TRUE;
}

/* ---- Options ---- */

typedef struct {
    char *ports;
    char *vfs;
    char *sad_capacity;
    char *mode;
    char *config_vid;
    char *md_vid_base;
    char *reclaim_mode;
    gboolean no_netdevs;
    gboolean no_hairpin;
} NicsimOptionStrings;

static void
option_strings_clear(NicsimOptionStrings *s)
{
    g_free(s->ports);
    g_free(s->vfs);
    g_free(s->sad_capacity);
    g_free(s->mode);
    g_free(s->config_vid);
    g_free(s->md_vid_base);
    g_free(s->reclaim_mode);
}

static gboolean
option_uint(const char *option, const char *value, guint64 max, guint *out, GError **error)
{
    guint64 v;

    if (!value)
        return TRUE;
    if (!vfsec_parse_uint(value, max, &v)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s '%s' is not a number between 0 and %" G_GUINT64_FORMAT, option, value,
                    max);
        return FALSE;
    }
    *out = (guint)v;
    return TRUE;
}

static gboolean
option_strings_apply(const NicsimOptionStrings *s, VfsecNicsimConfig *config, GError **error)
{
    guint vid;

    if (!option_uint("--ports", s->ports, G_MAXUINT32, &config->n_ports, error) ||
        !option_uint("--vfs", s->vfs, G_MAXUINT32, &config->n_vfs, error) ||
        !option_uint("--sad-capacity", s->sad_capacity, G_MAXUINT32, &config->sad_capacity,
                     error))
        return FALSE;
    vid = config->tags.config_vid;
    if (!option_uint("--config-vid", s->config_vid, 4095, &vid, error))
        return FALSE;
    config->tags.config_vid = (guint16)vid;
    vid = config->tags.md_base;
    if (!option_uint("--md-vid-base", s->md_vid_base, 4095, &vid, error))
        return FALSE;
    config->tags.md_base = (guint16)vid;
    if (s->mode) {
        int mode = vfsec_switch_mode_from_string(s->mode);

        if (mode < 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "--mode '%s' is neither veb nor vepa", s->mode);
            return FALSE;
        }
        config->mode = (VfsecSwitchMode)mode;
    }
    if (s->reclaim_mode) {
        if (g_str_equal(s->reclaim_mode, "batched")) {
            config->one_op_per_frame = FALSE;
        } else if (g_str_equal(s->reclaim_mode, "single")) {
            config->one_op_per_frame = TRUE;
        } else {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "--reclaim-mode '%s' is neither batched nor single", s->reclaim_mode);
            return FALSE;
        }
    }
    if (s->no_netdevs)
        config->netdevs = FALSE;
    if (s->no_hairpin)
        config->hairpin = FALSE;
    return TRUE;
}

gboolean
vfsec_nicsim_config_parse(VfsecNicsimConfig *config, int *argc, char ***argv, GError **error)
{
    NicsimOptionStrings s = { 0 };
    gboolean ok;
    const GOptionEntry entries[] = {
        { "ports", 0, 0, G_OPTION_ARG_STRING, &s.ports, "Physical ports (1-16, default 1)", "N" },
        { "vfs", 0, 0, G_OPTION_ARG_STRING, &s.vfs, "VFs per port (0-64, default 8)", "M" },
        { "prefix", 0, 0, G_OPTION_ARG_STRING, &config->prefix,
          "Netdev name prefix (default vs: vs0pf, vs0v0.., vs0up)", "PREFIX" },
        { "netns", 0, 0, G_OPTION_ARG_STRING, &config->host_netns,
          "Namespace of the PF and VF netdevs (default: the current one)", "NAME" },
        { "nic-netns", 0, 0, G_OPTION_ARG_STRING, &config->nic_netns,
          "The emulator's private namespace (default PREFIX-nic)", "NAME" },
        { "wire-netns", 0, 0, G_OPTION_ARG_STRING, &config->wire_netns,
          "Namespace of the uplinks' far ends (default PREFIX-wire)", "NAME" },
        { "sad-capacity", 0, 0, G_OPTION_ARG_STRING, &s.sad_capacity,
          "SAs per port (default 4096)", "N" },
        { "mode", 0, 0, G_OPTION_ARG_STRING, &s.mode, "Initial switch mode: veb or vepa", "MODE" },
        { "no-hairpin", 0, 0, G_OPTION_ARG_NONE, &s.no_hairpin,
          "Agents never hairpin East-West frames", NULL },
        { "config-vid", 0, 0, G_OPTION_ARG_STRING, &s.config_vid,
          "VID of the configuration tag (default 4094)", "VID" },
        { "md-vid-base", 0, 0, G_OPTION_ARG_STRING, &s.md_vid_base,
          "Even VID of the metadata tags (default 4092: 4092 bypass, 4093 offload)", "VID" },
        { "contract-socket", 0, 0, G_OPTION_ARG_FILENAME, &config->contract_socket,
          "PF-driver contract socket", "PATH" },
        { "control-socket", 0, 0, G_OPTION_ARG_FILENAME, &config->control_socket,
          "Control socket (mailbox, faults, tests)", "PATH" },
        { "allow-group", 0, 0, G_OPTION_ARG_STRING, &config->allow_group,
          "Besides root, members of this group may use the sockets", "GROUP" },
        { "pcap-dir", 0, 0, G_OPTION_ARG_FILENAME, &config->pcap_dir,
          "Write the agents' hairpin and uplink taps as pcap files here", "DIR" },
        { "reclaim-mode", 0, 0, G_OPTION_ARG_STRING, &s.reclaim_mode,
          "batched (default) or single: one REMOVE_SA per frame", "MODE" },
        { "no-netdevs", 0, 0, G_OPTION_ARG_NONE, &s.no_netdevs,
          "Scale mode: VFs exist without netdevs", NULL },
        { "ready-file", 0, 0, G_OPTION_ARG_FILENAME, &config->ready_file,
          "Create this file once ready (removed on exit)", "PATH" },
        { "foreground", 'f', 0, G_OPTION_ARG_NONE, &config->foreground,
          "Stay in the foreground", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- emulated SR-IOV NIC with an inline "
                                                         "IPsec agent");

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Also: vfsec-nicsim ctl [--control-socket PATH | --prefix PREFIX] OP [JSON]\n"
        "sends one request to a running emulator's control socket (see docs/nicsim.md).");
    ok = g_option_context_parse(ctx, argc, argv, error);
    if (!ok) {
        option_strings_clear(&s);
        if (error && *error && (*error)->domain != VFSEC_ERROR) {
            GError *e = *error;

            *error = g_error_new_literal(VFSEC_ERROR, VFSEC_ERROR_INVALID, e->message);
            g_error_free(e);
        }
        return FALSE;
    }
    ok = option_strings_apply(&s, config, error);
    option_strings_clear(&s);
    if (ok && *argc > 1) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "unexpected argument '%s'",
                    (*argv)[1]);
        return FALSE;
    }
    return ok && vfsec_nicsim_config_finish(config, error);
}

/* ---- Ports ---- */

VfsecNicsimPort *
vfsec_nicsim_get_port(VfsecNicsim *sim, guint port, GError **error)
{
    if (port >= sim->ports->len) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "port %u does not exist", port);
        return NULL;
    }
    return g_ptr_array_index(sim->ports, port);
}

static void
port_free(VfsecNicsimPort *port)
{
    if (!port)
        return;
    port->closing = TRUE;
    g_clear_pointer(&port->pfdrv, vfsec_pfdrv_free);
    if (port->pfdrv_fd >= 0)
        close(port->pfdrv_fd);
    if (port->core)
        vfsec_agent_set_tap(vfsec_nicport_agent(port->core), NULL, NULL, NULL);
    g_clear_pointer(&port->tap_hairpin, vfsec_pcap_writer_free);
    g_clear_pointer(&port->tap_uplink, vfsec_pcap_writer_free);
    g_clear_pointer(&port->core, vfsec_nicport_free);
    g_clear_pointer(&port->macs, g_array_unref);
    g_free(port);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecNicsimPort, port_free)

static gboolean
port_init_functions(VfsecNicsimPort *port, GError **error)
{
    VfsecSwitch *sw = vfsec_nicport_switch(port->core);
    VfsecSwitchFn pf = { .has_mac = TRUE, .mac = port->pf_mac, .trust = TRUE };

    if (!vfsec_switch_set_fn(sw, VFSEC_FN_PF, &pf, error))
        return FALSE;
    for (guint v = 0; v < port->sim->config.n_vfs; v++) {
        /* What Linux PF drivers start VFs with: no port VLAN, trust off,
         * spoof checking on; the MAC is the VF netdev's. */
        VfsecSwitchFn vf = { .has_mac = TRUE, .spoofchk = TRUE };

        if (port->vfs[v])
            vf.mac = port->vfs[v]->mac;
        else
            vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, port->index, v, &vf.mac);
        if (!vfsec_switch_set_fn(sw, (int)v, &vf, error))
            return FALSE;
    }
    return TRUE;
}

static VfsecNicsimPort *
port_new(VfsecNicsim *sim, guint index, GError **error)
{
    const VfsecNicsimConfig *config = &sim->config;
    g_autoptr(VfsecNicsimPort) port = g_new0(VfsecNicsimPort, 1);
    VfsecNicPortConfig core = { 0 };
    VfsecPfdrvConfig drv;
    int fd;

    port->sim = sim;
    port->index = index;
    port->pfdrv_fd = -1;
    port->macs = g_array_new(FALSE, TRUE, sizeof(VfsecWireMacEntry));
    g_snprintf(port->name, sizeof(port->name), "p%u", index);
    port->pf = vfsec_nicsim_links_find(sim->links, VFSEC_NICSIM_LINK_PF, index, 0);
    port->uplink = vfsec_nicsim_links_find(sim->links, VFSEC_NICSIM_LINK_UPLINK, index, 0);
    for (guint v = 0; v < config->n_vfs; v++)
        port->vfs[v] = vfsec_nicsim_links_find(sim->links, VFSEC_NICSIM_LINK_VF, index, v);
    port->pf_mac = port->pf->mac;
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_UPLINK, index, 0, &port->agent_mac);

    vfsec_nicport_config_init(&core);
    core.n_vfs = config->n_vfs;
    core.mode = config->mode;
    core.agent.tags = config->tags;
    core.agent.sad_capacity = config->sad_capacity;
    core.agent.hairpin = config->hairpin;
    core.agent.mac = port->agent_mac;
    port->core = vfsec_nicport_new(&core, error);
    if (!port->core || !port_init_functions(port, error))
        return NULL;
    vfsec_nicport_set_hairpin(port->core, config->hairpin);

    vfsec_pfdrv_config_init(&drv);
    drv.name = port->name;
    drv.tags = config->tags;
    drv.l2.src = port->pf_mac;
    drv.l2.dst = port->agent_mac;
    drv.l2.tpid = VFSEC_WIRE_TPID_8021Q;
    drv.one_op_per_frame = config->one_op_per_frame;
    port->pfdrv = vfsec_pfdrv_new(&drv, vfsec_nicsim_io_pfdrv_send, vfsec_nicsim_io_vf_lookup,
                                  port, NULL, error);
    if (!port->pfdrv)
        return NULL;
    fd = vfsec_nicsim_links_open_pf_host_socket(sim->links, index);
    if (fd < 0) {
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(fd),
                    "cannot open the PF driver's socket on %s: %s", port->pf->name,
                    g_strerror(-fd));
        return NULL;
    }
    port->pfdrv_fd = fd;
    if (config->pcap_dir && !vfsec_nicsim_io_open_taps(port, config->pcap_dir, error))
        return NULL;
    return g_steal_pointer(&port);
}

/* ---- Resets ---- */

void
vfsec_nicsim_vf_reset(VfsecNicsimPort *port, guint vf)
{
    guint n = vfsec_nicport_driver_clear(port->core, (int)vf);

    g_debug("%s: VF %u reset, its driver forgot %u SAs", port->name, vf, n);
    vfsec_nicsim_contract_notify(port->sim, VFSEC_CONTRACT_EVENT_VF_RESET, port->index, vf, NULL);
}

typedef struct {
    VfsecNicsimPort *port;
    VfsecPfdrv *pfdrv;
    VfsecNicsimDoneFunc done;
    gpointer user_data;
} AgentReset;

static void
agent_reset_finish(AgentReset *r, GError *error)
{
    if (!error && !r->port->closing)
        vfsec_nicsim_contract_notify(r->port->sim, VFSEC_CONTRACT_EVENT_AGENT_RESET,
                                     r->port->index, 0, NULL);
    if (error)
        g_warning("%s", error->message);
    if (r->done)
        r->done(error, r->user_data);
    g_clear_error(&error);
    g_free(r);
}

static void
agent_reset_macs_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    AgentReset *r = user_data;
    GError *error = NULL;

    vfsec_pfdrv_mac_replace_finish(r->pfdrv, result, NULL, &error);
    agent_reset_finish(r, error);
}

static void
agent_reset_sas_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    AgentReset *r = user_data;
    GError *error = NULL;

    if (!vfsec_pfdrv_reclaim_port_finish(r->pfdrv, result, NULL, &error) ||
        r->port->closing || r->port->mac_generation == 0) {
        agent_reset_finish(r, error);
        return;
    }
    vfsec_pfdrv_mac_replace_async(r->pfdrv, r->port->mac_generation,
                                  (const VfsecWireMacEntry *)r->port->macs->data,
                                  r->port->macs->len, NULL, agent_reset_macs_done, r);
}

void
vfsec_nicsim_agent_reset(VfsecNicsimPort *port, VfsecNicsimDoneFunc done, gpointer user_data)
{
    AgentReset *r = g_new0(AgentReset, 1);

    r->port = port;
    r->pfdrv = port->pfdrv;
    r->done = done;
    r->user_data = user_data;
    vfsec_agent_reset(vfsec_nicport_agent(port->core));
    g_debug("%s: agent reset, SAD and local-MAC table lost", port->name);
    /* REMOVE_ALL_SA on the empty agent: the PF driver's DB follows it. */
    vfsec_pfdrv_reclaim_port_async(port->pfdrv, 0, NULL, agent_reset_sas_done, r);
}

/* ---- Sockets ---- */

gboolean
vfsec_nicsim_server_config(VfsecNicsim *sim, const char *path, VfsecJsonlServerConfig *config,
                           GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);

    memset(config, 0, sizeof(*config));
    config->socket_path = path;
    config->mode = 0660;
    if (sim->config.allow_group) {
        struct group *gr = getgrnam(sim->config.allow_group);

        if (!gr) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "group %s does not exist",
                        sim->config.allow_group);
            return FALSE;
        }
        config->allow_group = TRUE;
        config->group = gr->gr_gid;
    }
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        int err = errno;

        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot create socket directory %s: %s",
                    dir, g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

/* ---- The emulator ---- */

static void
nicsim_mac_changed(guint port_index, guint vf, const VfsecMac *mac, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    VfsecNicsimPort *port = vfsec_nicsim_get_port(sim, port_index, NULL);
    g_autoptr(GError) error = NULL;

    if (!port)
        return;
    if (!vfsec_switch_set_mac(vfsec_nicport_switch(port->core), (int)vf, mac, &error)) {
        g_warning("%s", error->message);
        return;
    }
    vfsec_nicsim_contract_notify(sim, VFSEC_CONTRACT_EVENT_PORT_CHANGE, port_index, vf,
                                 "vf-mac");
}

void
vfsec_nicsim_free(VfsecNicsim *sim)
{
    if (!sim)
        return;
    /* The PF drivers first: they fail their pending operations, whose replies
     * still have a server to go to. */
    for (guint i = 0; sim->ports && i < sim->ports->len; i++) {
        VfsecNicsimPort *port = g_ptr_array_index(sim->ports, i);

        port->closing = TRUE;
        g_clear_pointer(&port->pfdrv, vfsec_pfdrv_free);
    }
    g_clear_pointer(&sim->contract, vfsec_jsonl_server_free);
    g_clear_pointer(&sim->control, vfsec_jsonl_server_free);
    vfsec_nicsim_io_stop(sim);
    g_clear_pointer(&sim->sources, g_ptr_array_unref);
    g_clear_pointer(&sim->ports, g_ptr_array_unref);
    g_clear_pointer(&sim->links, vfsec_nicsim_links_free);
    g_clear_pointer(&sim->out, g_array_unref);
    g_free(sim->rxbuf);
    vfsec_nicsim_config_clear(&sim->config);
    g_free(sim);
}

VfsecNicsim *
vfsec_nicsim_new(const VfsecNicsimConfig *config, GError **error)
{
    g_autoptr(VfsecNicsim) sim = g_new0(VfsecNicsim, 1);
    VfsecNicsimLinksConfig lc = { 0 };

    config_copy(&sim->config, config);
    sim->ports = g_ptr_array_new_with_free_func((GDestroyNotify)port_free);
    sim->sources = g_ptr_array_new();
    sim->out = vfsec_frame_list_new();
    sim->rxbuf = g_malloc(VFSEC_NICSIM_RXBUF_SIZE);

    lc.prefix = config->prefix;
    lc.nic_netns = config->nic_netns;
    lc.host_netns = config->host_netns;
    lc.wire_netns = config->wire_netns;
    lc.n_ports = config->n_ports;
    lc.n_vfs = config->n_vfs;
    lc.vf_netdevs = config->netdevs;
    lc.mtu = VFSEC_NICSIM_INTERNAL_MTU;
    sim->links = vfsec_nicsim_links_new(&lc, error);
    if (!sim->links)
        return NULL;
    for (guint p = 0; p < config->n_ports; p++) {
        VfsecNicsimPort *port = port_new(sim, p, error);

        if (!port)
            return NULL;
        g_ptr_array_add(sim->ports, port);
    }
    if (!vfsec_nicsim_io_start(sim, error) ||
        !vfsec_nicsim_links_watch_macs(sim->links, nicsim_mac_changed, sim, error) ||
        !vfsec_nicsim_contract_start(sim, error) || !vfsec_nicsim_control_start(sim, error))
        return NULL;
    return g_steal_pointer(&sim);
}
