/* vfsec-nicsim-contract.c: the emulator's PF-driver contract server
 * (docs/pf-driver-contract.md) over the emulator's ports and PF drivers. */
#include "vfsec-nicsim-private.h"

#include <string.h>

#include "vfsec-config.h"
#include "vfsec-contract.h"
#include "vfsec-error.h"

/*
 * Every op of contract v1 is served from the emulator's state: the switch
 * holds each function's MAC, port tag, trust and spoofchk; the PF driver holds
 * the SA database and sends every configuration frame (reclaim, local-MAC
 * table); the agent holds the local-MAC table a get-macs reads. Replies that
 * wait on the agent (reclaim-vf, set-macs) are sent from the PF driver's
 * completion, so they can overtake earlier requests on the same connection,
 * as the contract allows.
 */

static void
contract_return(VfsecJsonlCall *call, const VfsecContractResult *res)
{
    g_autoptr(JsonObject) obj = vfsec_contract_result_to_json(res);

    vfsec_jsonl_call_return_result(call, obj);
}

static void
contract_return_gerror(VfsecJsonlCall *call, GError *error)
{
    vfsec_jsonl_call_return_error(call, error);
    g_error_free(error);
}

/* The port named by a request, or NULL after an error reply. */
static VfsecNicsimPort *
contract_port(VfsecJsonlCall *call, VfsecNicsim *sim, guint index)
{
    GError *error = NULL;
    VfsecNicsimPort *port = vfsec_nicsim_get_port(sim, index, &error);

    if (!port)
        contract_return_gerror(call, error);
    return port;
}

/* The port of a request naming a VF, checked to have it; NULL after an error. */
static VfsecNicsimPort *
contract_vf_port(VfsecJsonlCall *call, VfsecNicsim *sim, guint index, guint vf)
{
    VfsecNicsimPort *port = contract_port(call, sim, index);

    if (port && vf >= sim->config.n_vfs) {
        contract_return_gerror(call, g_error_new(VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                                                 "VF %u of port %u does not exist", vf, index));
        return NULL;
    }
    return port;
}

static VfsecContractSwitchMode
contract_mode(VfsecSwitchMode mode)
{
    return mode == VFSEC_SWITCH_VEPA ? VFSEC_CONTRACT_SWITCH_MODE_VEPA
                                     : VFSEC_CONTRACT_SWITCH_MODE_VEB;
}

static void
contract_hello(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_HELLO);
    const char *caps[] = {
        VFSEC_CONTRACT_CAP_RECLAIM_BATCHED, VFSEC_CONTRACT_CAP_PORT_TAG_8021AD,
        VFSEC_CONTRACT_CAP_SWITCH_MODE,     VFSEC_CONTRACT_CAP_LOCAL_MACS,
        VFSEC_CONTRACT_CAP_NOTIFICATIONS,   VFSEC_CONTRACT_CAP_COUNTERS,
        NULL,
    };

    if (req->args.hello.version != VFSEC_CONTRACT_VERSION) {
        g_autofree char *msg = g_strdup_printf("contract version %u is not supported: this "
                                               "server speaks version %d",
                                               req->args.hello.version, VFSEC_CONTRACT_VERSION);

        vfsec_jsonl_call_return_error_code(call, VFSEC_CONTRACT_ERROR_VERSION, msg);
        return;
    }
    g_debug("contract: hello from %s", req->args.hello.client ? req->args.hello.client : "?");
    res->u.hello.version = VFSEC_CONTRACT_VERSION;
    res->u.hello.server = g_strdup(VFSEC_NICSIM_SERVER_NAME "/" VFSEC_VERSION);
    g_strfreev(res->u.hello.capabilities);
    res->u.hello.capabilities = g_strdupv((char **)caps);
    res->u.hello.max_sas_per_port = sim->config.sad_capacity;
    contract_return(call, res);
}

static void
contract_list_ports(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_LIST_PORTS);

    for (guint i = 0; i < sim->ports->len; i++) {
        VfsecNicsimPort *port = g_ptr_array_index(sim->ports, i);
        VfsecContractPort *cp = vfsec_contract_port_new();

        cp->port = port->index;
        cp->name = g_strdup(port->name);
        vfsec_nicsim_pci_addr(port->index, -1, &cp->pf_pci);
        cp->pf_netdev = g_strdup(port->pf->name);
        cp->pf_mac = port->pf_mac;
        cp->num_vfs = sim->config.n_vfs;
        cp->switch_mode = contract_mode(vfsec_nicport_get_mode(port->core));
        cp->hairpin_capable = TRUE;
        g_ptr_array_add(res->u.ports, cp);
    }
    contract_return(call, res);
}

/* The contract's view of VF @vf. */
static void
contract_vf_fill(VfsecNicsimPort *port, guint vf, VfsecContractVf *cv)
{
    const VfsecSwitchFn *fn = vfsec_switch_get_fn(vfsec_nicport_switch(port->core), (int)vf);

    cv->port = port->index;
    cv->vf = vf;
    vfsec_nicsim_pci_addr(port->index, (int)vf, &cv->pci);
    g_free(cv->netdev);
    cv->netdev = port->vfs[vf] ? g_strdup(port->vfs[vf]->name) : NULL;
    cv->has_mac = fn->has_mac;
    cv->mac = fn->mac;
    cv->has_port_tag = fn->has_port_tag;
    cv->port_tag.tpid = fn->port_tag.tpid;
    cv->port_tag.vid = fn->port_tag.vid;
    cv->port_tag.pcp = fn->port_tag.pcp;
    cv->trust = fn->trust;
    cv->spoofchk = fn->spoofchk;
    cv->sa_count = port->pfdrv ? vfsec_pfdrv_sa_count(port->pfdrv, vf) : 0;
}

static void
contract_list_vfs(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    VfsecNicsimPort *port = contract_port(call, sim, req->args.port);
    g_autoptr(VfsecContractResult) res = NULL;

    if (!port)
        return;
    res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_LIST_VFS);
    for (guint v = 0; v < sim->config.n_vfs; v++) {
        VfsecContractVf *cv = vfsec_contract_vf_new();

        contract_vf_fill(port, v, cv);
        g_ptr_array_add(res->u.vfs, cv);
    }
    contract_return(call, res);
}

/* The MAC a VF falls back to when its administrative MAC is cleared: its
 * netdev's own (the VF driver's choice), as with Linux PF drivers. */
static void
contract_vf_own_mac(VfsecNicsimPort *port, guint vf, VfsecMac *mac)
{
    if (port->vfs[vf])
        *mac = port->vfs[vf]->mac;
    else
        vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, port->index, vf, mac);
}

static void
contract_set_vf(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    const VfsecContractVf *want = &req->args.set_vf.vf;
    VfsecContractSetVfFields fields = req->args.set_vf.fields;
    VfsecNicsimPort *port = contract_vf_port(call, sim, want->port, want->vf);
    g_autoptr(VfsecContractResult) res = NULL;
    GError *error = NULL;
    VfsecSwitch *sw;
    VfsecSwitchFn state;

    if (!port)
        return;
    sw = vfsec_nicport_switch(port->core);
    state = *vfsec_switch_get_fn(sw, (int)want->vf);
    if (fields & VFSEC_CONTRACT_SET_VF_PORT_TAG) {
        state.has_port_tag = want->has_port_tag;
        state.port_tag.tpid = want->port_tag.tpid;
        state.port_tag.vid = want->port_tag.vid;
        state.port_tag.pcp = want->port_tag.pcp;
    }
    if (fields & VFSEC_CONTRACT_SET_VF_TRUST)
        state.trust = want->trust;
    if (fields & VFSEC_CONTRACT_SET_VF_SPOOFCHK)
        state.spoofchk = want->spoofchk;
    if (fields & VFSEC_CONTRACT_SET_VF_MAC) {
        state.has_mac = TRUE;
        if (want->has_mac)
            state.mac = want->mac;
        else
            contract_vf_own_mac(port, want->vf, &state.mac);
    }
    if (!vfsec_switch_set_fn(sw, (int)want->vf, &state, &error)) {
        contract_return_gerror(call, error);
        return;
    }
    /* The administrative MAC reaches the VF's netdev too (a real VF driver
     * adopts it); a netdev moved into a VM's namespace is out of reach. */
    if ((fields & VFSEC_CONTRACT_SET_VF_MAC) && want->has_mac && port->vfs[want->vf] &&
        !vfsec_nicsim_links_set_vf_mac(sim->links, port->index, want->vf, &want->mac, &error)) {
        g_debug("%s", error->message);
        g_clear_error(&error);
    }
    res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_SET_VF);
    contract_vf_fill(port, want->vf, res->u.vf);
    contract_return(call, res);
}

/* A request waiting for its PF driver. The driver is kept here: the port
 * forgets it before the driver fails its pending operations on the way out. */
typedef struct {
    VfsecJsonlCall *call;
    VfsecNicsimPort *port;
    VfsecPfdrv *pfdrv;
    guint vf;
} ContractPending;

static void
contract_reclaim_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree ContractPending *p = user_data;
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_RECLAIM_VF);
    VfsecPfdrvReclaim reclaim = { 0 };
    GError *error = NULL;

    if (!vfsec_pfdrv_reclaim_vf_finish(p->pfdrv, result, &reclaim, &error)) {
        contract_return_gerror(p->call, error);
        return;
    }
    /* The VF's owner is gone: its driver's SAs went with it. */
    if (!p->port->closing)
        vfsec_nicport_driver_clear(p->port->core, (int)p->vf);
    res->u.reclaim.removed = reclaim.removed;
    res->u.reclaim.failed = reclaim.failed;
    res->u.reclaim.remaining = reclaim.remaining;
    contract_return(p->call, res);
}

static void
contract_reclaim_vf(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    VfsecNicsimPort *port = contract_vf_port(call, sim, req->args.reclaim_vf.port,
                                             req->args.reclaim_vf.vf);
    ContractPending *p;

    if (!port)
        return;
    /* One reclaim per VF at a time: a second asker learns it is under way. */
    if (vfsec_pfdrv_reclaim_pending(port->pfdrv, req->args.reclaim_vf.vf)) {
        g_autofree char *msg = g_strdup_printf("VF %u of port %u is being reclaimed already",
                                               req->args.reclaim_vf.vf, port->index);

        vfsec_jsonl_call_return_error_code(call, VFSEC_CONTRACT_ERROR_BUSY, msg);
        return;
    }
    p = g_new0(ContractPending, 1);
    p->call = call;
    p->port = port;
    p->pfdrv = port->pfdrv;
    p->vf = req->args.reclaim_vf.vf;
    vfsec_pfdrv_reclaim_vf_async(port->pfdrv, p->vf, req->args.reclaim_vf.timeout_ms,
                                 NULL, contract_reclaim_done,
                                 p);
}

static void
contract_get_macs(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    VfsecNicsimPort *port = contract_port(call, sim, req->args.port);
    g_autoptr(VfsecContractResult) res = NULL;
    const GArray *table;

    if (!port)
        return;
    res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_GET_MACS);
    table = port->macs;
    res->u.macs->generation = port->mac_generation;
    for (guint i = 0; i < table->len; i++) {
        const VfsecWireMacEntry *e = &g_array_index(table, VfsecWireMacEntry, i);
        VfsecContractMacEntry *ce = vfsec_contract_mac_entry_new(&e->mac);

        for (guint t = 0; t < e->n_tags && t < VFSEC_WIRE_MAX_TAGS; t++)
            vfsec_contract_mac_entry_add_tag(ce, e->tags[t].tpid,
                                             VFSEC_WIRE_TCI_VID(e->tags[t].tci));
        g_ptr_array_add(res->u.macs->entries, ce);
    }
    contract_return(call, res);
}

/* A set-macs waiting for the agent: the table to keep once it is in. */
typedef struct {
    VfsecJsonlCall *call;
    VfsecNicsimPort *port;
    VfsecPfdrv *pfdrv;
    GArray *entries;        /* VfsecWireMacEntry */
} ContractSetMacs;

static void
contract_set_macs_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ContractSetMacs *p = user_data;
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_SET_MACS);
    guint32 generation = 0;
    GError *error = NULL;

    p->port->macs_pending = FALSE;
    if (!vfsec_pfdrv_mac_replace_finish(p->pfdrv, result, &generation, &error)) {
        contract_return_gerror(p->call, error);
    } else {
        g_array_unref(p->port->macs);
        p->port->macs = g_steal_pointer(&p->entries);
        p->port->mac_generation = generation;
        res->u.generation = generation;
        contract_return(p->call, res);
        vfsec_nicsim_contract_notify(p->port->sim, VFSEC_CONTRACT_EVENT_PORT_CHANGE,
                                     p->port->index, 0, "local-macs");
    }
    if (p->entries)
        g_array_unref(p->entries);
    g_free(p);
}

/* The contract's entries as the agent's; NULL after an error reply. */
static GArray *
contract_mac_entries(VfsecJsonlCall *call, const VfsecContractMacTable *table)
{
    g_autoptr(GArray) entries = g_array_sized_new(FALSE, TRUE, sizeof(VfsecWireMacEntry),
                                                  table->entries->len);

    for (guint i = 0; i < table->entries->len; i++) {
        const VfsecContractMacEntry *ce = g_ptr_array_index(table->entries, i);
        VfsecWireMacEntry e = { .mac = ce->mac };
        char mac[VFSEC_MAC_STRLEN];

        if (ce->tags->len > VFSEC_WIRE_MAX_TAGS) {
            contract_return_gerror(call, g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                                     "set-macs: entry %s has %u tags; the "
                                                     "agent keys on at most %d",
                                                     vfsec_mac_format(&ce->mac, mac),
                                                     ce->tags->len, VFSEC_WIRE_MAX_TAGS));
            return NULL;
        }
        e.n_tags = (guint8)ce->tags->len;
        for (guint t = 0; t < ce->tags->len; t++) {
            const VfsecContractMacTag *tag = &g_array_index(ce->tags, VfsecContractMacTag, t);

            e.tags[t].tpid = tag->tpid;
            e.tags[t].tci = vfsec_wire_tci(0, FALSE, tag->vid);
        }
        g_array_append_val(entries, e);
    }
    return g_steal_pointer(&entries);
}

static void
contract_set_macs(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    const VfsecContractMacTable *table = req->args.set_macs.table;
    VfsecNicsimPort *port = contract_port(call, sim, req->args.set_macs.port);
    ContractSetMacs *p;
    guint32 agent_generation = 0;
    guint32 next;
    GArray *entries;

    if (!port)
        return;
    /* Compare and swap on the PF driver's table. One replacement at a time:
     * a second one asked meanwhile would compare against a generation that
     * is about to change. */
    if (port->macs_pending || table->generation != port->mac_generation) {
        contract_return_gerror(call, g_error_new(VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                                                 "local-MAC table of port %u is at generation "
                                                 "%u%s, not %" G_GUINT64_FORMAT,
                                                 port->index, port->mac_generation,
                                                 port->macs_pending ? " and being replaced" : "",
                                                 table->generation));
        return;
    }
    /* The agent's MAC_REPLACE wants a generation above its own, which a
     * frame from elsewhere (a test on the PF netdev) may have moved. */
    vfsec_agent_mac_table(vfsec_nicport_agent(port->core), &agent_generation);
    next = MAX(port->mac_generation, agent_generation);
    if (next == G_MAXUINT32) {
        contract_return_gerror(call, g_error_new(VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                                                 "local-MAC table of port %u has used up its "
                                                 "generations", port->index));
        return;
    }
    entries = contract_mac_entries(call, table);
    if (!entries)
        return;
    p = g_new0(ContractSetMacs, 1);
    p->call = call;
    p->port = port;
    p->pfdrv = port->pfdrv;
    p->entries = entries;
    port->macs_pending = TRUE;
    vfsec_pfdrv_mac_replace_async(port->pfdrv, next + 1, (const VfsecWireMacEntry *)entries->data,
                                  entries->len, NULL, contract_set_macs_done, p);
}

static void
contract_return_mode(VfsecJsonlCall *call, VfsecContractOp op, VfsecNicsimPort *port)
{
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(op);

    res->u.mode = contract_mode(vfsec_nicport_get_mode(port->core));
    contract_return(call, res);
}

static void
contract_get_switch_mode(VfsecJsonlCall *call, gpointer user_data)
{
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    VfsecNicsimPort *port = contract_port(call, user_data, req->args.port);

    if (port)
        contract_return_mode(call, VFSEC_CONTRACT_OP_GET_SWITCH_MODE, port);
}

static void
contract_set_switch_mode(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    VfsecNicsimPort *port = contract_port(call, sim, req->args.set_switch_mode.port);
    VfsecSwitchMode mode;

    if (!port)
        return;
    mode = req->args.set_switch_mode.mode == VFSEC_CONTRACT_SWITCH_MODE_VEPA ? VFSEC_SWITCH_VEPA
                                                                             : VFSEC_SWITCH_VEB;
    if (mode != vfsec_nicport_get_mode(port->core)) {
        vfsec_nicport_set_mode(port->core, mode);
        g_debug("%s: switch mode now %s", port->name, vfsec_switch_mode_to_string(mode));
        vfsec_nicsim_contract_notify(sim, VFSEC_CONTRACT_EVENT_PORT_CHANGE, port->index, 0,
                                     "switch-mode");
    }
    contract_return_mode(call, VFSEC_CONTRACT_OP_SET_SWITCH_MODE, port);
}

static void
contract_counter_add(const char *name, guint64 value, gpointer user_data)
{
    vfsec_contract_counters_add(user_data, name, value);
}

static void
contract_counters(VfsecJsonlCall *call, gpointer user_data)
{
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    VfsecNicsimPort *port = contract_port(call, user_data, req->args.port);
    g_autoptr(VfsecContractResult) res = NULL;

    if (!port)
        return;
    res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_COUNTERS);
    vfsec_nicsim_port_counters_foreach(port, contract_counter_add, res->u.counters);
    contract_return(call, res);
}

static void
contract_subscribe(VfsecJsonlCall *call, gpointer user_data)
{
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_SUBSCRIBE);

    vfsec_jsonl_conn_set_events(vfsec_jsonl_call_get_conn(call), req->args.events);
    contract_return(call, res);
}

void
vfsec_nicsim_contract_notify(VfsecNicsim *sim, int event, guint port, guint vf, const char *what)
{
    VfsecContractNotification n = { .event = (VfsecContractEvent)event, .port = port, .vf = vf };
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    gsize len = 0;

    if (!sim->contract)
        return;
    n.what = (char *)what;
    line = vfsec_contract_notification_build(&n, &len, &error);
    if (!line) {
        g_warning("%s", error->message);
        return;
    }
    vfsec_jsonl_server_broadcast_line(sim->contract, VFSEC_CONTRACT_EVENT_MASK(event), line, len);
}

gboolean
vfsec_nicsim_contract_start(VfsecNicsim *sim, GError **error)
{
    static const VfsecJsonlHandler handlers[] = {
        { "hello", contract_hello },
        { "list-ports", contract_list_ports },
        { "list-vfs", contract_list_vfs },
        { "set-vf", contract_set_vf },
        { "reclaim-vf", contract_reclaim_vf },
        { "get-macs", contract_get_macs },
        { "set-macs", contract_set_macs },
        { "get-switch-mode", contract_get_switch_mode },
        { "set-switch-mode", contract_set_switch_mode },
        { "counters", contract_counters },
        { "subscribe", contract_subscribe },
        { NULL, NULL },
    };
    VfsecJsonlServerConfig config;

    if (!vfsec_nicsim_server_config(sim, sim->config.contract_socket, &config, error))
        return FALSE;
    config.contract = TRUE;
    sim->contract = vfsec_jsonl_server_new(&config);
    vfsec_jsonl_server_add_handlers(sim->contract, handlers, sim);
    return vfsec_jsonl_server_start(sim->contract, error);
}
