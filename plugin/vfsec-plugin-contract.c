/* vfsec-plugin-contract.c: the "contract" PF plugin — a PF driver reached
 * through the PF-driver contract over its Unix socket.
 *
 * Theory of operation. A session is one VfsecContractClient: connect (hello,
 * whose capabilities become the plugin's caps), list-ports (the configured
 * port must exist; it fills plugin->port), then subscribe to every event when
 * the server announces notifications. start runs one session. When the server
 * closes the connection later, the plugin emits DISCONNECTED and opens new
 * sessions on a GLib timeout of the plugin's main context, waiting 100 ms,
 * then twice as long after each failure up to 5 s; the first that succeeds
 * emits RECONNECTED (the engine then reconciles: state may have changed).
 * Between the two, every operation fails at once with VFSEC_ERROR_IO naming
 * the PF and its socket, so the engine never waits on a dead peer.
 *
 * Operations map 1:1 onto contract calls. Their completions touch only their
 * own GTask, never the plugin, so a plugin may be freed with calls in flight
 * (they fail with VFSEC_ERROR_IO when its client closes). Session callbacks
 * do touch the plugin: they first check its lifetime cancellable, which free
 * cancels. */
#include "vfsec-plugin.h"

#include "vfsec-contract-client.h"
#include "vfsec-error.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* How much longer the client waits for a reclaim answer than the server's
 * own bound, so that the server's verdict (e.g. a timeout naming the SAs
 * left) arrives rather than a bare client timeout. */
#define RECLAIM_MARGIN_MS 1000

typedef struct {
    VfsecPlugin base;
    char *socket;
    guint port_no;
    VfsecContractClient *client;    /* the current session's, or NULL */
    gboolean connected;             /* a session is fully set up and open */
    gboolean started;               /* start was called: reconnect on loss or failure */
    GMainContext *context;
    GCancellable *life;             /* cancelled by free */
    GSource *retry;
    guint backoff_ms;
} VfsecPluginContract;

static void session_closed(VfsecContractClient *client, const GError *reason, gpointer user_data);
static void schedule_reconnect(VfsecPluginContract *self);

/* ---- Sessions ---------------------------------------------------------- */

typedef struct {
    VfsecPluginContract *self;      /* valid while !g_cancellable_is_cancelled(life) */
    GCancellable *life;
    VfsecContractClient *client;
} Session;

static void
session_free(Session *s)
{
    g_clear_object(&s->life);
    g_clear_object(&s->client);
    g_free(s);
}

/* TRUE when the plugin is gone or the step failed: the task got its error. */
static gboolean
session_step_failed(GTask *task, GError *error)
{
    Session *s = g_task_get_task_data(task);

    if (g_cancellable_is_cancelled(s->life)) {
        g_clear_error(&error);
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                "the plugin was freed");
        return TRUE;
    }
    if (!error)
        return FALSE;
    vfsec_contract_client_close(s->client);
    g_task_return_error(task, error);
    return TRUE;
}

static void
session_done(GTask *task)
{
    Session *s = g_task_get_task_data(task);
    VfsecPluginContract *self = s->self;

    /* A close seen while the session was being set up was ignored (see
     * session_closed()): report it here, or nothing would ever reconnect. */
    if (!vfsec_contract_client_is_open(s->client)) {
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO,
                                "PF %s: the PF driver at %s closed the connection during setup",
                                self->base.label, self->socket);
        return;
    }
    self->connected = TRUE;
    g_task_return_boolean(task, TRUE);
}

static void
subscribe_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;

    vfsec_contract_client_subscribe_finish(VFSEC_CONTRACT_CLIENT(source), result, &error);
    if (session_step_failed(task, error))
        return;
    session_done(task);
}

static void
ports_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Session *s = g_task_get_task_data(task);
    g_autoptr(GPtrArray) ports = NULL;
    GError *error = NULL;
    VfsecPluginContract *self;
    VfsecContractPort *found = NULL;

    vfsec_contract_client_list_ports_finish(VFSEC_CONTRACT_CLIENT(source), result, &ports, &error);
    if (session_step_failed(task, error))
        return;
    self = s->self;
    for (guint i = 0; i < ports->len && !found; i++) {
        if (((VfsecContractPort *)g_ptr_array_index(ports, i))->port == self->port_no)
            found = g_ptr_array_steal_index(ports, i);
    }
    if (!found) {
        error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                            "PF %s names port %u, which the PF driver at %s does not have",
                            self->base.label, self->port_no, self->socket);
        session_step_failed(task, error);
        return;
    }
    vfsec_contract_port_free(self->base.port);
    self->base.port = found;

    if (!self->base.caps.notifications) {
        session_done(task);
        return;
    }
    vfsec_contract_client_subscribe_async(s->client, VFSEC_CONTRACT_EVENT_MASK_ALL, 0, NULL,
                                          subscribe_done, g_steal_pointer(&task));
}

static void
caps_from_hello(VfsecPluginCaps *caps, const VfsecContractHello *hello)
{
    caps->reclaims_sas = TRUE;  /* reclaim-vf is the contract's core operation */
    caps->port_tag_8021ad =
        vfsec_contract_hello_has_capability(hello, VFSEC_CONTRACT_CAP_PORT_TAG_8021AD);
    caps->switch_mode = vfsec_contract_hello_has_capability(hello, VFSEC_CONTRACT_CAP_SWITCH_MODE);
    caps->local_macs = vfsec_contract_hello_has_capability(hello, VFSEC_CONTRACT_CAP_LOCAL_MACS);
    caps->notifications =
        vfsec_contract_hello_has_capability(hello, VFSEC_CONTRACT_CAP_NOTIFICATIONS);
}

static void
connect_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Session *s = g_task_get_task_data(task);
    GError *error = NULL;

    vfsec_contract_client_connect_finish(VFSEC_CONTRACT_CLIENT(source), result, &error);
    if (session_step_failed(task, error))
        return;
    caps_from_hello(&s->self->base.caps, vfsec_contract_client_get_hello(s->client));
    vfsec_contract_client_list_ports_async(s->client, 0, NULL, ports_done, g_steal_pointer(&task));
}

static void
notify_cb(VfsecContractClient *client, const VfsecContractNotification *n, gpointer user_data)
{
    VfsecPluginContract *self = user_data;

    if (client != self->client || n->port != self->port_no)
        return;
    switch (n->event) {
    case VFSEC_CONTRACT_EVENT_VF_RESET:
        vfsec_plugin_emit(&self->base, VFSEC_PLUGIN_EVENT_VF_RESET, (int)n->vf, NULL);
        break;
    case VFSEC_CONTRACT_EVENT_AGENT_RESET:
        vfsec_plugin_emit(&self->base, VFSEC_PLUGIN_EVENT_AGENT_RESET, -1, NULL);
        break;
    case VFSEC_CONTRACT_EVENT_PORT_CHANGE:
        vfsec_plugin_emit(&self->base, VFSEC_PLUGIN_EVENT_PORT_CHANGE, -1, n->what);
        break;
    case VFSEC_CONTRACT_EVENT_LAST:
        break;
    }
}

/* Opens a new session; the task returns a boolean. */
static void
session_open(VfsecPluginContract *self, GCancellable *cancellable, GAsyncReadyCallback callback,
             gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    Session *s = g_new0(Session, 1);

    s->self = self;
    s->life = g_object_ref(self->life);
    s->client = vfsec_contract_client_new(self->socket);
    vfsec_contract_client_set_notify_func(s->client, notify_cb, self, NULL);
    vfsec_contract_client_set_closed_func(s->client, session_closed, self, NULL);
    g_task_set_task_data(task, s, (GDestroyNotify)session_free);

    if (self->client)
        vfsec_contract_client_close(self->client);
    g_clear_object(&self->client);
    self->client = g_object_ref(s->client);
    self->connected = FALSE;
    vfsec_contract_client_connect_async(s->client, 0, cancellable, connect_done, task);
}

/* ---- Reconnection ------------------------------------------------------ */

static void
reconnect_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VfsecPluginContract *self = user_data;
    g_autoptr(GError) error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return;  /* freed: @self is gone */
        g_debug("PF %s: reconnecting to %s failed: %s", self->base.label, self->socket,
                error->message);
        self->backoff_ms = MIN(self->backoff_ms * 2, RECONNECT_MAX_MS);
        schedule_reconnect(self);
        return;
    }
    self->backoff_ms = RECONNECT_MIN_MS;
    vfsec_plugin_emit(&self->base, VFSEC_PLUGIN_EVENT_RECONNECTED, -1, self->socket);
}

static gboolean
reconnect_cb(gpointer user_data)
{
    VfsecPluginContract *self = user_data;

    g_clear_pointer(&self->retry, g_source_unref);
    session_open(self, NULL, reconnect_done, self);
    return G_SOURCE_REMOVE;
}

static void
schedule_reconnect(VfsecPluginContract *self)
{
    self->retry = g_timeout_source_new(self->backoff_ms);
    g_source_set_callback(self->retry, reconnect_cb, self, NULL);
    g_source_attach(self->retry, self->context);
}

static void
session_closed(VfsecContractClient *client, const GError *reason, gpointer user_data)
{
    VfsecPluginContract *self = user_data;

    /* A session being set up reports its failure through its own task. */
    if (client != self->client || !self->connected || !self->started)
        return;
    self->connected = FALSE;
    g_debug("PF %s: lost the PF driver at %s: %s", self->base.label, self->socket,
            reason ? reason->message : "closed");
    vfsec_plugin_emit(&self->base, VFSEC_PLUGIN_EVENT_DISCONNECTED, -1,
                      reason ? reason->message : NULL);
    self->backoff_ms = RECONNECT_MIN_MS;
    if (!self->retry)
        schedule_reconnect(self);
}

/* ---- Operations -------------------------------------------------------- */

/* The open client, or NULL with the fail-fast error returned on @task (which
 * it then consumes). */
static VfsecContractClient *
op_client(VfsecPluginContract *self, GTask *task)
{
    if (self->connected && self->client && vfsec_contract_client_is_open(self->client))
        return self->client;
    g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO,
                            "PF %s is disconnected from its PF driver at %s", self->base.label,
                            self->socket);
    g_object_unref(task);
    return NULL;
}

static void
contract_start_async(VfsecPlugin *plugin, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
    session_open((VfsecPluginContract *)plugin, cancellable, callback, user_data);
}

static gboolean
contract_start_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    VfsecPluginContract *self = (VfsecPluginContract *)plugin;

    g_autoptr(GError) local = NULL;

    /* A driver not there yet at start (or, with many PFs on one socket, a
     * full listen backlog: EAGAIN) is retried like a lost one; without
     * this the PF stayed disconnected until vfsecd restarted. */
    self->started = TRUE;
    if (g_task_propagate_boolean(G_TASK(result), &local))
        return TRUE;
    if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED) && !self->retry)
        schedule_reconnect(self);
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
}

static void
list_vfs_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GPtrArray *vfs = NULL;
    GError *error = NULL;

    if (!vfsec_contract_client_list_vfs_finish(VFSEC_CONTRACT_CLIENT(source), result, &vfs,
                                               &error))
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, vfs, (GDestroyNotify)g_ptr_array_unref);
}

static void
contract_list_vfs_async(VfsecPlugin *plugin, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    VfsecPluginContract *self = (VfsecPluginContract *)plugin;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    VfsecContractClient *client = op_client(self, task);

    if (client)
        vfsec_contract_client_list_vfs_async(client, self->port_no, 0, cancellable,
                                             list_vfs_done, task);
}

static GPtrArray *
contract_list_vfs_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
set_vf_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    VfsecContractVf *vf = NULL;
    GError *error = NULL;

    if (!vfsec_contract_client_set_vf_finish(VFSEC_CONTRACT_CLIENT(source), result, &vf, &error))
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, vf, (GDestroyNotify)vfsec_contract_vf_free);
}

static void
contract_set_vf_async(VfsecPlugin *plugin, VfsecContractSetVfFields fields,
                      const VfsecContractVf *want, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
    VfsecPluginContract *self = (VfsecPluginContract *)plugin;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    VfsecContractClient *client = op_client(self, task);
    g_autoptr(VfsecContractVf) vf = NULL;

    if (!client)
        return;
    vf = vfsec_contract_vf_copy(want);
    vf->port = self->port_no;  /* the plugin's port, whatever the caller filled in */
    vfsec_contract_client_set_vf_async(client, vf, fields, 0, cancellable, set_vf_done, task);
}

static VfsecContractVf *
contract_set_vf_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
reclaim_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    VfsecContractReclaim *out = g_new0(VfsecContractReclaim, 1);
    GError *error = NULL;

    if (!vfsec_contract_client_reclaim_vf_finish(VFSEC_CONTRACT_CLIENT(source), result, out,
                                                 &error)) {
        g_free(out);
        g_task_return_error(task, error);
        return;
    }
    g_task_return_pointer(task, out, g_free);
}

static void
contract_reclaim_vf_async(VfsecPlugin *plugin, guint vf, guint timeout_ms,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    VfsecPluginContract *self = (VfsecPluginContract *)plugin;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    VfsecContractClient *client = op_client(self, task);
    guint client_ms = timeout_ms ? timeout_ms + RECLAIM_MARGIN_MS : 0;

    if (client)
        vfsec_contract_client_reclaim_vf_async(client, self->port_no, vf, timeout_ms, client_ms,
                                               cancellable, reclaim_done, task);
}

static gboolean
contract_reclaim_vf_finish(VfsecPlugin *plugin, GAsyncResult *result, VfsecContractReclaim *out,
                           GError **error)
{
    g_autofree VfsecContractReclaim *r = g_task_propagate_pointer(G_TASK(result), error);

    if (!r)
        return FALSE;
    if (out)
        *out = *r;
    return TRUE;
}

static void
get_macs_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    VfsecContractMacTable *table = NULL;
    GError *error = NULL;

    if (!vfsec_contract_client_get_macs_finish(VFSEC_CONTRACT_CLIENT(source), result, &table,
                                               &error))
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, table, (GDestroyNotify)vfsec_contract_mac_table_free);
}

static void
contract_get_macs_async(VfsecPlugin *plugin, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    VfsecPluginContract *self = (VfsecPluginContract *)plugin;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    VfsecContractClient *client = op_client(self, task);

    if (client)
        vfsec_contract_client_get_macs_async(client, self->port_no, 0, cancellable,
                                             get_macs_done, task);
}

static VfsecContractMacTable *
contract_get_macs_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
set_macs_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    guint64 *generation = g_new0(guint64, 1);
    GError *error = NULL;

    if (!vfsec_contract_client_set_macs_finish(VFSEC_CONTRACT_CLIENT(source), result, generation,
                                               &error)) {
        g_free(generation);
        g_task_return_error(task, error);
        return;
    }
    g_task_return_pointer(task, generation, g_free);
}

static void
contract_set_macs_async(VfsecPlugin *plugin, const VfsecContractMacTable *table,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
    VfsecPluginContract *self = (VfsecPluginContract *)plugin;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    VfsecContractClient *client = op_client(self, task);

    if (client)
        vfsec_contract_client_set_macs_async(client, self->port_no, table, 0, cancellable,
                                             set_macs_done, task);
}

static gboolean
contract_set_macs_finish(VfsecPlugin *plugin, GAsyncResult *result, guint64 *generation,
                         GError **error)
{
    g_autofree guint64 *gen = g_task_propagate_pointer(G_TASK(result), error);

    if (!gen)
        return FALSE;
    if (generation)
        *generation = *gen;
    return TRUE;
}

typedef struct {
    VfsecPluginContract *self;
    GCancellable *life;
} ModeData;

static void
mode_data_free(ModeData *d)
{
    g_object_unref(d->life);
    g_free(d);
}

static void
set_switch_mode_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    ModeData *d = g_task_get_task_data(task);
    VfsecContractSwitchMode mode;
    GError *error = NULL;

    if (!vfsec_contract_client_set_switch_mode_finish(VFSEC_CONTRACT_CLIENT(source), result,
                                                      &mode, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if (!g_cancellable_is_cancelled(d->life))
        d->self->base.port->switch_mode = mode;
    g_task_return_boolean(task, TRUE);
}

static void
contract_set_switch_mode_async(VfsecPlugin *plugin, VfsecContractSwitchMode mode,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
    VfsecPluginContract *self = (VfsecPluginContract *)plugin;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    VfsecContractClient *client = op_client(self, task);
    ModeData *d;

    if (!client)
        return;
    d = g_new0(ModeData, 1);
    d->self = self;
    d->life = g_object_ref(self->life);
    g_task_set_task_data(task, d, (GDestroyNotify)mode_data_free);
    vfsec_contract_client_set_switch_mode_async(client, self->port_no, mode, 0, cancellable,
                                                set_switch_mode_done, task);
}

static gboolean
contract_set_switch_mode_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

static void
contract_free(VfsecPlugin *plugin)
{
    VfsecPluginContract *self = (VfsecPluginContract *)plugin;

    g_cancellable_cancel(self->life);
    if (self->retry) {
        g_source_destroy(self->retry);
        g_source_unref(self->retry);
    }
    if (self->client)
        vfsec_contract_client_close(self->client);
    g_clear_object(&self->client);
    g_clear_object(&self->life);
    g_main_context_unref(self->context);
    g_free(self->socket);
    vfsec_plugin_base_clear(plugin);
    g_free(self);
}

static const VfsecPluginOps contract_ops = {
    .kind = "contract",
    .free = contract_free,
    .start_async = contract_start_async,
    .start_finish = contract_start_finish,
    .list_vfs_async = contract_list_vfs_async,
    .list_vfs_finish = contract_list_vfs_finish,
    .set_vf_async = contract_set_vf_async,
    .set_vf_finish = contract_set_vf_finish,
    .reclaim_vf_async = contract_reclaim_vf_async,
    .reclaim_vf_finish = contract_reclaim_vf_finish,
    .get_macs_async = contract_get_macs_async,
    .get_macs_finish = contract_get_macs_finish,
    .set_macs_async = contract_set_macs_async,
    .set_macs_finish = contract_set_macs_finish,
    .set_switch_mode_async = contract_set_switch_mode_async,
    .set_switch_mode_finish = contract_set_switch_mode_finish,
};

VfsecPlugin *
vfsec_plugin_contract_new(const VfsecConfPf *pf, GError **error)
{
    VfsecPluginContract *self;

    if (!pf->socket) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "PF %s names no contract socket",
                    pf->label);
        return NULL;
    }
    self = g_new0(VfsecPluginContract, 1);
    vfsec_plugin_base_init(&self->base, &contract_ops, pf->label);
    self->socket = g_strdup(pf->socket);
    self->port_no = pf->port;
    self->context = g_main_context_ref_thread_default();
    self->life = g_cancellable_new();
    self->backoff_ms = RECONNECT_MIN_MS;
    return &self->base;
}
