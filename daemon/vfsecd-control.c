/* vfsecd-control.c: vfsecd's control-socket handlers — libvirt hook calls
 * mapped to engine operations, and the vfsecctl requests.
 *
 * Theory of operation: a "hook" request arrives while libvirtd holds the
 * domain's lock, so nothing here calls libvirt; the answer comes only from
 * the XML in the request and the engine's state. Gating ops (prepare, start,
 * started, port-created) are answered when the engine's jobs completed, or
 * with "timeout" when they did not within our bound — shorter than the
 * hook's, so the hook prints our reason rather than its own; the jobs go on
 * (they are idempotent and journalled) and their reply is dropped. */
#include <errno.h>
#include <grp.h>
#include <string.h>

#include "vfsec-config.h"
#include "vfsec-ctlproto.h"
#include "vfsec-error.h"
#include "vfsecd.h"

/* ---- One call answered at most once: by the engine or by our timer ---- */

typedef struct {
    VfsecdDaemon *daemon;
    VfsecJsonlCall *call;       /* NULL once answered */
    char *domain;               /* for the result's VF list */
    guint timer;
    guint refs;
} VfsecdCall;

static VfsecdCall *
vfsecd_call_new(VfsecdDaemon *daemon, VfsecJsonlCall *call, const char *domain)
{
    VfsecdCall *c = g_new0(VfsecdCall, 1);

    c->daemon = daemon;
    c->call = call;
    c->domain = g_strdup(domain);
    c->refs = 1;
    return c;
}

static void
vfsecd_call_unref(VfsecdCall *c)
{
    if (--c->refs > 0)
        return;
    g_clear_handle_id(&c->timer, g_source_remove);
    g_free(c->domain);
    g_free(c);
}

/* The PCI addresses of the VFs @domain owns now (a new JSON array). */
static JsonArray *
vfsecd_owned_vfs(VfsecdDaemon *daemon, const char *domain)
{
    g_autoptr(JsonNode) rows = vfsec_engine_vfs_json(daemon->engine);
    JsonArray *out = json_array_new();
    JsonArray *arr = json_node_get_array(rows);

    for (guint i = 0; domain && i < json_array_get_length(arr); i++) {
        JsonObject *row = json_array_get_object_element(arr, i);
        const char *owner = json_object_get_string_member_with_default(row, "owner", NULL);

        if (g_strcmp0(owner, domain) == 0)
            json_array_add_string_element(out, json_object_get_string_member(row, "pci"));
    }
    return out;
}

static void
vfsecd_call_answer(VfsecdCall *c, const GError *error)
{
    g_autoptr(JsonObject) result = NULL;

    if (!c->call)
        return;
    if (error) {
        /* One phrase for virsh, said by vfsecd. */
        g_autoptr(GError) said = g_error_new(error->domain, error->code, "vfsecd: %s",
                                             error->message);

        vfsec_jsonl_call_return_error(c->call, said);
    } else {
        result = json_object_new();
        json_object_set_array_member(result, "vfs", vfsecd_owned_vfs(c->daemon, c->domain));
        vfsec_jsonl_call_return_result(c->call, result);
    }
    c->call = NULL;
}

static gboolean
vfsecd_call_timeout(gpointer data)
{
    VfsecdCall *c = data;
    g_autoptr(GError) error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_TIMEOUT,
                                          "domain %s: the PF drivers did not finish in time",
                                          c->domain);

    c->timer = 0;
    g_warning("hook for domain %s answered with a timeout; the operation goes on", c->domain);
    vfsecd_call_answer(c, error);
    return G_SOURCE_REMOVE;
}

/* Arms our own bound: under the hook's (@timeout_ms, 0 = not said) by a
 * margin for the reply's way back, and at most [timeouts] daemon-request. */
static void
vfsecd_call_arm(VfsecdCall *c, guint timeout_ms)
{
    guint bound = c->daemon->conf->daemon_request_ms;

    if (timeout_ms > 0)
        bound = MIN(bound, timeout_ms - timeout_ms / 5);
    c->timer = g_timeout_add(MAX(bound, 1), vfsecd_call_timeout, c);
}

static void
vfsecd_call_ops_done(VfsecdDaemon *daemon, const GError *error, gpointer data)
{
    VfsecdCall *c = data;

    if (error && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_message("domain %s: %s", c->domain, error->message);
    vfsecd_call_answer(c, error);
    vfsecd_call_unref(c);
}

static void
vfsecd_call_engine_done(GObject *source, GAsyncResult *result, gpointer data)
{
    VfsecdCall *c = data;
    g_autoptr(GError) error = NULL;

    vfsec_engine_operation_finish(c->daemon->engine, result, &error);
    vfsecd_call_ops_done(c->daemon, error, c);
}

/* ---- hook ---- */

/* A one-attachment domain for a network port: the port's owner holds the VF
 * that its plug names. */
static VfsecDomain *
vfsecd_port_domain(const VfsecNetworkPort *port, GError **error)
{
    VfsecDomain *domain;
    VfsecAttachment *att;

    if (!port->owner_name) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "network port %s has no owner",
                    port->uuid ? port->uuid : "(no uuid)");
        return NULL;
    }
    domain = vfsec_domain_new(port->owner_name, port->owner_uuid);
    att = vfsec_domain_add_attachment(domain, port->has_pci ? VFSEC_ATTACHMENT_INTERFACE_HOSTDEV
                                                             : VFSEC_ATTACHMENT_INTERFACE_DIRECT);
    att->has_pci = port->has_pci;
    att->pci = port->pci;
    att->has_mac = port->has_mac;
    att->mac = port->mac;
    g_array_append_vals(att->vlans, port->vlans->data, port->vlans->len);
    att->trunk = port->trunk;
    att->native_vlan = port->native_vlan;
    att->native_mode = port->native_mode;
    att->source_dev = g_strdup(port->plug_dev);
    att->mode = g_strdup(port->plug_mode);
    att->network = g_strdup(port->network);
    att->portgroup = g_strdup(port->portgroup);
    att->driver_name = g_strdup(port->plug_driver);
    att->managed = port->managed;
    att->from_actual = TRUE;
    att->policy = (VfsecPolicy){ .has_trust = TRUE, .trust = VFSEC_POLICY_DEFAULT_TRUST,
                                 .has_hairpin = TRUE, .hairpin = VFSEC_POLICY_DEFAULT_HAIRPIN };
    return domain;
}

/* The hook's XML, which the hook front forwards unparsed: refusing a gating
 * op's unusable XML is vfsecd's job, in the words the full hook uses
 * (docs/hook-contract.md, "Fail-closed rules"), which virsh shows. (The
 * port's owner is not known when its XML is unusable.) */
static void
vfsecd_hook_refuse_xml(VfsecJsonlCall *call, const VfsecCtlHookArgs *args, const GError *why)
{
    g_autoptr(GError) error = NULL;
    const char *reason = why ? why->message : "the XML on stdin is empty";

    if (args->kind == VFSEC_HOOK_KIND_QEMU)
        error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "vfsec: domain %s: %s; refusing to start %s", args->name, reason,
                            args->name);
    else
        error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "vfsec: network %s: %s; refusing the new port on network %s",
                            args->name, reason, args->name);
    vfsec_jsonl_call_return_error(call, error);
}

/* The domain the hook's XML describes, when it parses and names the
 * domain in argv. */
static VfsecDomain *
vfsecd_hook_domain(const VfsecCtlHookArgs *args, GError **error)
{
    g_autoptr(VfsecDomain) domain = NULL;

    if (!args->xml[0]) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "the XML on stdin is empty");
        return NULL;
    }
    if (!(domain = vfsec_domain_parse_string(args->xml, -1, error)))
        return NULL;
    if (strcmp(domain->name, args->name) != 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "the XML on stdin describes domain %s", domain->name);
        return NULL;
    }
    return g_steal_pointer(&domain);
}

static gboolean
vfsecd_hook_has_candidate(const VfsecDomain *domain)
{
    for (guint i = 0; i < domain->attachments->len; i++)
        if (vfsec_ctl_hook_candidate(domain->attachments->pdata[i]))
            return TRUE;
    return FALSE;
}

static void
vfsecd_hook_network(VfsecdDaemon *daemon, VfsecJsonlCall *call, const VfsecCtlHookArgs *args)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecNetworkPort) port = NULL;
    g_autoptr(VfsecDomain) domain = NULL;
    gboolean created = args->op == VFSEC_HOOK_OP_NETWORK_PORT_CREATED;
    VfsecdCall *c;

    if (!created && args->op != VFSEC_HOOK_OP_NETWORK_PORT_DELETED) {
        vfsec_jsonl_call_return_result(call, NULL);
        return;
    }
    port = vfsec_network_port_parse_string(args->xml, -1, &error);
    if (port && port->network && strcmp(port->network, args->name) != 0) {
        g_clear_error(&error);
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "the XML on stdin describes network %s", port->network);
        g_clear_pointer(&port, vfsec_network_port_free);
    }
    if (port && !vfsec_ctl_hook_port_candidate(port)) {
        /* A tap on a bridge or NAT network: nothing for vfsec. */
        vfsec_jsonl_call_return_result(call, NULL);
        return;
    }
    if (!port) {
        if (created)
            vfsecd_hook_refuse_xml(call, args, error);
        else
            vfsec_jsonl_call_return_result(call, NULL);  /* the event path releases it */
        return;
    }
    domain = vfsecd_port_domain(port, &error);
    if (!domain) {
        if (!created) {
            /* Not gating: the event path and reconcile release it. */
            vfsec_jsonl_call_return_result(call, NULL);
            return;
        }
        g_prefix_error(&error, "network %s: ", args->name);
        vfsec_jsonl_call_return_error(call, error);
        return;
    }
    c = vfsecd_call_new(daemon, call, domain->name);
    vfsecd_call_arm(c, args->timeout_ms);
    if (created)
        vfsec_engine_attach_async(daemon->engine, domain, 0, daemon->cancellable,
                                  vfsecd_call_engine_done, c);
    else
        vfsec_engine_detach_async(daemon->engine, domain, 0, daemon->cancellable,
                                  vfsecd_call_engine_done, c);
}

static void
vfsecd_hook_qemu(VfsecdDaemon *daemon, VfsecJsonlCall *call, const VfsecCtlHookArgs *args)
{
    static const VfsecEngineOp prepare[] = { VFSEC_ENGINE_OP_PREPARE };
    static const VfsecEngineOp start[] = { VFSEC_ENGINE_OP_PREPARE, VFSEC_ENGINE_OP_QUARANTINE };
    static const VfsecEngineOp started[] = { VFSEC_ENGINE_OP_PREPARE, VFSEC_ENGINE_OP_QUARANTINE,
                                             VFSEC_ENGINE_OP_PUBLISH };
    static const VfsecEngineOp stop[] = { VFSEC_ENGINE_OP_STOP };
    static const VfsecEngineOp release[] = { VFSEC_ENGINE_OP_RELEASE };
    const VfsecEngineOp *ops;
    guint n_ops;
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) domain = NULL;
    VfsecdCall *c;

    switch (args->op) {
    case VFSEC_HOOK_OP_QEMU_PREPARE:
        ops = prepare, n_ops = G_N_ELEMENTS(prepare);
        break;
    case VFSEC_HOOK_OP_QEMU_START:
        ops = start, n_ops = G_N_ELEMENTS(start);
        break;
    case VFSEC_HOOK_OP_QEMU_STARTED:
        ops = started, n_ops = G_N_ELEMENTS(started);
        break;
    case VFSEC_HOOK_OP_QEMU_STOPPED:
        /* SAs reclaimed now; the VF is handed over only at release, once
         * libvirt has restored its MAC and VLAN (see docs/engine.md). */
        ops = stop, n_ops = G_N_ELEMENTS(stop);
        break;
    case VFSEC_HOOK_OP_QEMU_RELEASE:
        ops = release, n_ops = G_N_ELEMENTS(release);
        break;
    case VFSEC_HOOK_OP_QEMU_RECONNECT:
        /* libvirtd restarted: never block it; the watcher reconciles from
         * the live XML once libvirt has released the domain. */
        if (daemon->watcher)
            vfsecd_watcher_reconcile(daemon->watcher, NULL, NULL);
        vfsec_jsonl_call_return_result(call, NULL);
        return;
    default:
        vfsec_jsonl_call_return_result(call, NULL);
        return;
    }

    domain = vfsecd_hook_domain(args, &error);
    if (!domain) {
        if (vfsec_hook_op_gates(args->op)) {
            vfsecd_hook_refuse_xml(call, args, error);
            return;
        }
        /* Stop and release work on what the domain owns: its name is enough. */
        domain = vfsec_domain_new(args->name, NULL);
    } else if (!vfsecd_hook_has_candidate(domain)) {
        /* Nothing that may be a VF: nothing for vfsec to do or refuse. */
        vfsec_jsonl_call_return_result(call, NULL);
        return;
    }
    c = vfsecd_call_new(daemon, call, domain->name);
    vfsecd_call_arm(c, args->timeout_ms);
    vfsecd_run_ops(daemon, domain, ops, n_ops, vfsecd_call_ops_done, c);
}

/* Ops that act for libvirt or on a VF's SAs are root's: a member of the
 * control group may query, but a forged hook call could release another
 * domain's VF or claim one, and a reclaim drops SAs. libvirtd runs hooks as
 * root. */
static gboolean
vfsecd_require_root(VfsecJsonlCall *call)
{
    const VfsecJsonlPeer *peer = vfsec_jsonl_conn_get_peer(vfsec_jsonl_call_get_conn(call));
    g_autoptr(GError) error = NULL;

    if (peer->uid == 0)
        return TRUE;
    g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                "control op %s is for root only (peer uid %u may only query)",
                vfsec_jsonl_call_get_op(call), (guint)peer->uid);
    vfsec_jsonl_call_return_error(call, error);
    return FALSE;
}

static void
vfsecd_handle_hook(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecdDaemon *daemon = user_data;
    const VfsecCtlHookArgs *args = &vfsec_ctl_call_get_request(call)->hook;

    if (!vfsecd_require_root(call))
        return;

    vfsecd_log_event("hook", vfsec_hook_op_to_string(args->op), args->name,
                     vfsec_hook_kind_to_string(args->kind));
    if (args->kind == VFSEC_HOOK_KIND_NETWORK)
        vfsecd_hook_network(daemon, call, args);
    else
        vfsecd_hook_qemu(daemon, call, args);
}

/* ---- vfsecctl ---- */

static guint
vfsecd_count_owned(JsonNode *vfs)
{
    JsonArray *arr = json_node_get_array(vfs);
    guint n = 0;

    for (guint i = 0; i < json_array_get_length(arr); i++)
        if (json_object_get_string_member_with_default(json_array_get_object_element(arr, i),
                                                       "owner", NULL))
            n++;
    return n;
}

static void
vfsecd_set_string_or_null(JsonObject *obj, const char *member, const char *value)
{
    if (value)
        json_object_set_string_member(obj, member, value);
    else
        json_object_set_null_member(obj, member);
}

/* What `status` says of the configuration in force (the engine's) and of
 * the reloads. */
static JsonObject *
vfsecd_config_json(VfsecdDaemon *daemon)
{
    const VfsecConf *conf = vfsec_engine_get_conf(daemon->engine);
    VfsecPolicy policy = vfsec_conf_policy_for(conf, NULL, NULL, NULL, NULL);
    JsonObject *obj = json_object_new();
    JsonObject *timeouts = json_object_new();
    JsonObject *defaults = json_object_new();
    JsonArray *hairpin = json_array_new();

    json_object_set_string_member(obj, "path", daemon->config_path);
    json_object_set_int_member(obj, "reloads", daemon->reloads);
    vfsecd_set_string_or_null(obj, "last_reload", daemon->last_reload);
    vfsecd_set_string_or_null(obj, "reload_error", daemon->reload_error);
    json_object_set_int_member(timeouts, "pf_reclaim_ms", conf->pf_reclaim_ms);
    json_object_set_int_member(timeouts, "daemon_request_ms", conf->daemon_request_ms);
    json_object_set_int_member(timeouts, "hook_ms", conf->hook_ms);
    json_object_set_object_member(obj, "timeouts", timeouts);
    json_object_set_string_member(defaults, "trust", vfsec_trust_to_string(policy.trust));
    json_object_set_boolean_member(defaults, "hairpin", policy.hairpin);
    json_object_set_object_member(obj, "policy", defaults);
    for (guint i = 0; i < conf->pfs->len; i++) {
        const VfsecConfPf *pf = conf->pfs->pdata[i];

        if (pf->hairpin)
            json_array_add_string_element(hairpin, pf->label);
    }
    json_object_set_array_member(obj, "hairpin_pfs", hairpin);
    return obj;
}

static void
vfsecd_handle_status(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecdDaemon *daemon = user_data;
    g_autoptr(JsonObject) result = json_object_new();
    g_autoptr(JsonNode) vfs = vfsec_engine_vfs_json(daemon->engine);
    g_autoptr(JsonNode) domains = vfsec_engine_domains_json(daemon->engine);
    JsonObject *rec = json_object_new();
    JsonObject *libvirt = json_object_new();

    json_object_set_string_member(result, "version", VFSEC_VERSION);
    json_object_set_int_member(result, "protocol", VFSEC_CTL_VERSION);
    json_object_set_int_member(result, "uptime_s",
                               (g_get_monotonic_time() - daemon->started_us) / G_USEC_PER_SEC);
    json_object_set_member(result, "pfs", vfsec_engine_status_json(daemon->engine));
    json_object_set_int_member(result, "domains",
                               json_array_get_length(json_node_get_array(domains)));
    json_object_set_int_member(result, "vfs_in_use", vfsecd_count_owned(vfs));
    json_object_set_boolean_member(result, "libvirt_connected",
                                   daemon->watcher && vfsecd_watcher_connected(daemon->watcher));
    json_object_set_string_member(libvirt, "uri", daemon->conf->libvirt_uri);
    json_object_set_boolean_member(libvirt, "connected",
                                   daemon->watcher && vfsecd_watcher_connected(daemon->watcher));
    json_object_set_int_member(libvirt, "reconnects",
                               daemon->watcher ? vfsecd_watcher_reconnects(daemon->watcher) : 0);
    json_object_set_object_member(result, "libvirt", libvirt);
    if (daemon->last_reconcile)
        json_object_set_string_member(rec, "last", daemon->last_reconcile);
    else
        json_object_set_null_member(rec, "last");
    json_object_set_boolean_member(rec, "ok", daemon->last_reconcile_ok);
    json_object_set_object_member(result, "reconcile", rec);
    json_object_set_object_member(result, "config", vfsecd_config_json(daemon));
    vfsec_jsonl_call_return_result(call, result);
}

/* Returns the result {@member: @node}, taking @node. */
static void
vfsecd_return_member(VfsecJsonlCall *call, const char *member, JsonNode *node)
{
    g_autoptr(JsonObject) result = json_object_new();

    json_object_set_member(result, member, node);
    vfsec_jsonl_call_return_result(call, result);
}

static void
vfsecd_handle_vfs(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecdDaemon *daemon = user_data;

    vfsecd_return_member(call, "vfs", vfsec_engine_vfs_json(daemon->engine));
}

static void
vfsecd_handle_domains(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecdDaemon *daemon = user_data;

    vfsecd_return_member(call, "domains", vfsec_engine_domains_json(daemon->engine));
}

/* The plugin serving the PF at @pci, or NULL. */
static VfsecPlugin *
vfsecd_find_plugin(VfsecdDaemon *daemon, const VfsecPciAddr *pci)
{
    for (guint i = 0; i < daemon->plugins->len; i++) {
        VfsecPlugin *plugin = daemon->plugins->pdata[i];

        if (plugin->port && vfsec_pci_addr_equal(&plugin->port->pf_pci, pci))
            return plugin;
    }
    return NULL;
}

static void
vfsecd_handle_macs(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecdDaemon *daemon = user_data;
    const VfsecCtlRequest *req = vfsec_ctl_call_get_request(call);
    g_autoptr(JsonNode) tables = vfsec_engine_macs_json(daemon->engine);
    JsonArray *all = json_node_get_array(tables);
    JsonArray *out;
    VfsecPlugin *plugin = NULL;

    if (req->has_port && !(plugin = vfsecd_find_plugin(daemon, &req->port))) {
        char buf[VFSEC_PCI_ADDR_STRLEN];
        g_autoptr(GError) error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                                              "PF %s is not managed by vfsecd",
                                              vfsec_pci_addr_format(&req->port, buf));

        vfsec_jsonl_call_return_error(call, error);
        return;
    }
    out = json_array_new();
    for (guint i = 0; i < json_array_get_length(all); i++) {
        JsonObject *table = json_array_get_object_element(all, i);

        if (!plugin || g_strcmp0(json_object_get_string_member(table, "pf"), plugin->label) == 0)
            json_array_add_object_element(out, json_object_ref(table));
    }
    vfsecd_return_member(call, "ports", json_node_init_array(json_node_alloc(), out));
    json_array_unref(out);
}

/* ---- reclaim ---- */

/* Goes through the engine's queue of that VF, so it is serialized with the
 * hook's and the events' operations on it. */
typedef struct {
    VfsecdDaemon *daemon;
    VfsecJsonlCall *call;
    char pci[VFSEC_PCI_ADDR_STRLEN];
    char pf[VFSEC_PCI_ADDR_STRLEN];
    guint vf;
} VfsecdReclaim;

static void
vfsecd_reclaim_done(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autofree VfsecdReclaim *r = data;
    guint64 removed = 0;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) obj = NULL;

    if (!vfsec_engine_reclaim_vf_finish(r->daemon->engine, result, &removed, &error)) {
        vfsec_jsonl_call_return_error(r->call, error);
        return;
    }
    g_message("reclaim of VF %u of PF %s on request: %" G_GUINT64_FORMAT " SAs removed", r->vf,
              r->pf, removed);
    obj = json_object_new();
    json_object_set_string_member(obj, "pci", r->pci);
    json_object_set_int_member(obj, "removed", (gint64)removed);
    vfsec_jsonl_call_return_result(r->call, obj);
}

static void
vfsecd_handle_reclaim(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecdDaemon *daemon = user_data;
    const VfsecCtlRequest *req = vfsec_ctl_call_get_request(call);
    VfsecPlugin *plugin = NULL;
    g_autoptr(JsonNode) rows = NULL;
    JsonArray *arr;
    g_autoptr(GError) error = NULL;
    JsonObject *row = NULL;
    VfsecdReclaim *r;

    if (!vfsecd_require_root(call))
        return;
    plugin = vfsecd_find_plugin(daemon, &req->pf);
    rows = vfsec_engine_vfs_json(daemon->engine);
    arr = json_node_get_array(rows);
    r = g_new0(VfsecdReclaim, 1);

    vfsec_pci_addr_format(&req->pf, r->pf);
    for (guint i = 0; plugin && i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (g_strcmp0(json_object_get_string_member(o, "pf"), plugin->label) == 0 &&
            json_object_get_int_member(o, "vf") == req->vf)
            row = o;
    }
    if (!plugin || !row) {
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    plugin ? "PF %s has no VF %u" : "PF %s is not managed by vfsecd", r->pf,
                    req->vf);
        vfsec_jsonl_call_return_error(call, error);
        g_free(r);
        return;
    }
    r->daemon = daemon;
    r->call = call;
    r->vf = req->vf;
    g_strlcpy(r->pci, json_object_get_string_member(row, "pci"), sizeof(r->pci));
    vfsec_engine_reclaim_vf_async(daemon->engine, plugin->label, req->vf, daemon->cancellable,
                                  vfsecd_reclaim_done, r);
}

/* ---- reconcile ---- */

static void
vfsecd_reconcile_answer(VfsecdDaemon *daemon, const VfsecEngineSummary *s, const GError *error,
                        gpointer data)
{
    VfsecJsonlCall *call = data;
    g_autoptr(JsonObject) result = NULL;

    if (!s) {
        vfsec_jsonl_call_return_error(call, error);
        return;
    }
    result = json_object_new();
    json_object_set_int_member(result, "fixed",
                               s->intents_finished + s->reclaimed + s->quarantined +
                                   s->released + s->adopted + s->republished);
    json_object_set_int_member(result, "intents_finished", s->intents_finished);
    json_object_set_int_member(result, "reclaimed", s->reclaimed);
    json_object_set_int_member(result, "quarantined", s->quarantined);
    json_object_set_int_member(result, "released", s->released);
    json_object_set_int_member(result, "adopted", s->adopted);
    json_object_set_int_member(result, "republished", s->republished);
    json_object_set_int_member(result, "failed", s->failed);
    json_object_set_array_member(result, "errors", json_array_new());
    vfsec_jsonl_call_return_result(call, result);
}

static void
vfsecd_handle_reconcile(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecdDaemon *daemon = user_data;

    vfsecd_watcher_reconcile(daemon->watcher, vfsecd_reconcile_answer, call);
}

gboolean
vfsecd_control_start(VfsecdDaemon *daemon, GError **error)
{
    static const VfsecJsonlHandler handlers[] = {
        { "hook", vfsecd_handle_hook },
        { "status", vfsecd_handle_status },
        { "vfs", vfsecd_handle_vfs },
        { "macs", vfsecd_handle_macs },
        { "domains", vfsecd_handle_domains },
        { "reclaim", vfsecd_handle_reclaim },
        { "reconcile", vfsecd_handle_reconcile },
        { NULL, NULL },
    };
    VfsecJsonlServerConfig config = {
        .socket_path = daemon->conf->control_socket,
        .mode = 0660,
    };
    g_autofree char *dir = g_path_get_dirname(daemon->conf->control_socket);

    if (daemon->conf->control_group) {
        struct group *gr = getgrnam(daemon->conf->control_group);

        /* A missing group only costs operators their sudo-less vfsecctl. */
        if (!gr) {
            g_warning("control group %s does not exist: the control socket is root only",
                      daemon->conf->control_group);
        } else {
            config.allow_group = TRUE;
            config.group = gr->gr_gid;
        }
    }
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "control socket directory %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    daemon->server = vfsec_ctl_server_new(&config);
    vfsec_jsonl_server_add_handlers(daemon->server, handlers, daemon);
    return vfsec_jsonl_server_start(daemon->server, error);
}
