/* vfsecd-watcher.c: vfsecd's libvirt event watcher — one connection,
 * lifecycle / reboot / device events mapped to engine operations.
 *
 * Theory of operation: a thread of its own connects and runs libvirt's
 * default event implementation (virEventRegisterDefaultImpl +
 * virEventRunDefaultImpl). Current libvirt builds that implementation on
 * GLib's default main context, which vfsecd's main loop runs and holds: so
 * the keepalive, the close callback, the event callbacks and the blocking
 * virDomainGetXMLDesc() they make actually run on the main thread, and
 * g_main_context_invoke() below runs the job at once (no thread hop). The
 * engine only ever runs on the main thread either way. The cost: a slow
 * libvirtd stalls the main loop — the control socket included — for one
 * call (docs/vfsecd.md, "libvirt events").
 *
 * On a lost connection (close callback, or keepalive) the thread drops the
 * connection and retries with a back-off doubling from [timeouts]
 * reconnect-min to reconnect-max; every successful connection registers
 * every callback again and reconciles from the running domains' live XML,
 * since events were missed meanwhile. DEVICE_REMOVED needs no earlier XML:
 * the engine releases what the domain owns and its live XML no longer names. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>

#include "vfsec-error.h"
#include "vfsecd-events.h"
#include "vfsecd.h"

/* Keepalive: a probe every 5 s, the connection is dead after 3 unanswered. */
#define VFSECD_KEEPALIVE_INTERVAL 5
#define VFSECD_KEEPALIVE_COUNT 3

typedef enum {
    VFSECD_EV_LIFECYCLE,
    VFSECD_EV_REBOOT,
    VFSECD_EV_DEVICE_ADDED,
    VFSECD_EV_DEVICE_REMOVED,
    VFSECD_EV_LAST
} VfsecdEventId;

struct _VfsecdWatcher {
    VfsecdDaemon *daemon;       /* main thread only */
    GMainContext *main_ctx;
    GThread *thread;
    gint quit;                  /* atomic */
    gint connected;             /* atomic */
    gint connections;           /* atomic: successful connections so far */
    GAsyncQueue *requests;      /* VfsecdJob* reconcile requests from the main thread */
    /* Thread side only. */
    virConnectPtr conn;
    int callbacks[VFSECD_EV_LAST];
    int retry_timer;
    guint backoff_ms;
    guint reconnect_min_ms;
    guint reconnect_max_ms;
    char *uri;
    gboolean ready_sent;
    GSourceFunc ready;
    gpointer ready_data;
};

/* ---- Jobs for the main context ---- */

typedef enum {
    VFSECD_JOB_OPS,
    VFSECD_JOB_ATTACH,
    VFSECD_JOB_DETACH,
    VFSECD_JOB_FORGET,
    VFSECD_JOB_DEFINE,
    VFSECD_JOB_RECONCILE,
} VfsecdJobKind;

typedef struct {
    VfsecdWatcher *watcher;     /* valid until the job is run */
    VfsecdDaemon *daemon;
    VfsecdJobKind kind;
    VfsecDomain *domain;
    VfsecEngineOp ops[3];
    guint n_ops;
    guint index;
    GPtrArray *domains;         /* reconcile: VfsecDomain*; NULL: the registry's owners */
    gint64 listed_at;           /* reconcile: monotonic time before the listing */
    VfsecdReconcileFunc callback;
    gpointer user_data;
    GSourceFunc ready;          /* called after the reconcile; may be NULL */
    gpointer ready_data;
    char *name;                 /* define: the domain's name and UUID */
    char *uuid;
    char *unparsable;           /* define: why its XML could not be read (domain NULL) */
} VfsecdJob;

static VfsecdJob *
vfsecd_job_new(VfsecdWatcher *w, VfsecdJobKind kind, VfsecDomain *domain)
{
    VfsecdJob *job = g_new0(VfsecdJob, 1);

    job->watcher = w;
    job->daemon = w->daemon;
    job->kind = kind;
    job->domain = domain;
    return job;
}

static void
vfsecd_job_free(VfsecdJob *job)
{
    vfsec_domain_free(job->domain);
    g_clear_pointer(&job->domains, g_ptr_array_unref);
    g_free(job->name);
    g_free(job->uuid);
    g_free(job->unparsable);
    g_free(job);
}

static void
vfsecd_job_ops_done(VfsecdDaemon *daemon, const GError *error, gpointer data)
{
    g_autofree char *name = data;

    if (error && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning("domain %s: %s", name, error->message);
}

static void
vfsecd_job_engine_done(GObject *source, GAsyncResult *result, gpointer data)
{
    VfsecdJob *job = data;
    g_autoptr(GError) error = NULL;

    if (!vfsec_engine_operation_finish(job->daemon->engine, result, &error) &&
        !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning("domain %s: %s", job->domain->name, error->message);
    vfsecd_job_free(job);
}

static void
vfsecd_job_reconciled(VfsecdDaemon *daemon, const VfsecEngineSummary *summary,
                      const GError *error, gpointer data)
{
    VfsecdJob *job = data;

    if (job->callback)
        job->callback(daemon, summary, error, job->user_data);
    if (job->ready && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        job->ready(job->ready_data);
    vfsecd_job_free(job);
}

static gboolean
vfsecd_job_run(gpointer data)
{
    VfsecdJob *job = data;
    VfsecdDaemon *daemon = job->daemon;
    VfsecDomain *domain = job->domain;

    job->watcher = NULL;

    switch (job->kind) {
    case VFSECD_JOB_OPS:
        vfsecd_run_ops(daemon, domain, job->ops, job->n_ops, vfsecd_job_ops_done,
                       g_strdup(domain->name));
        break;
    case VFSECD_JOB_ATTACH:
        vfsec_engine_attach_async(daemon->engine, domain, job->index, daemon->cancellable,
                                  vfsecd_job_engine_done, job);
        return G_SOURCE_REMOVE;   /* freed when done */
    case VFSECD_JOB_DETACH:
        vfsec_engine_detach_missing_async(daemon->engine, domain, daemon->cancellable,
                                          vfsecd_job_engine_done, job);
        return G_SOURCE_REMOVE;
    case VFSECD_JOB_FORGET:
        vfsec_engine_forget(daemon->engine, domain->name, domain->uuid);
        break;
    case VFSECD_JOB_DEFINE:
        vfsec_engine_define(daemon->engine, job->name, job->uuid, domain, job->unparsable);
        break;
    case VFSECD_JOB_RECONCILE:
        vfsecd_reconcile(daemon, job->domains, job->listed_at, vfsecd_job_reconciled, job);
        return G_SOURCE_REMOVE;   /* freed when reconciled */
    }
    vfsecd_job_free(job);
    return G_SOURCE_REMOVE;
}

static void
vfsecd_job_send(VfsecdJob *job)
{
    g_main_context_invoke(job->watcher->main_ctx, vfsecd_job_run, job);
}

/* ---- libvirt helpers (watcher thread) ---- */

static const char *
vfsecd_virt_error(void)
{
    const virError *err = virGetLastError();

    return err && err->message ? err->message : "unknown libvirt error";
}

/* The domain's live XML (when running), parsed; NULL with a log line. */
static VfsecDomain *
vfsecd_fetch_domain(virDomainPtr dom)
{
    g_autofree char *xml = virDomainGetXMLDesc(dom, 0);
    g_autoptr(GError) error = NULL;
    VfsecDomain *domain;

    if (!xml) {
        g_warning("domain %s: cannot read its XML: %s", virDomainGetName(dom),
                  vfsecd_virt_error());
        return NULL;
    }
    domain = vfsec_domain_parse_string(xml, -1, &error);
    if (!domain)
        g_warning("domain %s: %s", virDomainGetName(dom), error->message);
    return domain;
}

/* @dom's name and UUID, for release, reclaim and forget. */
static VfsecDomain *
vfsecd_identity_domain(virDomainPtr dom)
{
    char uuid[VIR_UUID_STRING_BUFLEN];

    return vfsec_domain_new(virDomainGetName(dom),
                             virDomainGetUUIDString(dom, uuid) == 0 ? uuid : NULL);
}

static void
vfsecd_send_ops(VfsecdWatcher *w, VfsecDomain *domain, const VfsecEngineOp *ops, guint n_ops)
{
    VfsecdJob *job = vfsecd_job_new(w, VFSECD_JOB_OPS, domain);

    g_assert(n_ops <= G_N_ELEMENTS(job->ops));
    memcpy(job->ops, ops, n_ops * sizeof(*ops));
    job->n_ops = n_ops;
    vfsecd_job_send(job);
}

/* The running domains' live XML (a new array), or NULL when libvirt failed. */
static GPtrArray *
vfsecd_running_domains(VfsecdWatcher *w)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(w->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    GPtrArray *out;

    if (n < 0) {
        g_warning("libvirt %s: cannot list the running domains: %s", w->uri,
                  vfsecd_virt_error());
        return NULL;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_domain_free);
    for (int i = 0; i < n; i++) {
        VfsecDomain *domain = vfsecd_fetch_domain(doms[i]);

        if (domain)
            g_ptr_array_add(out, domain);
        virDomainFree(doms[i]);
    }
    free(doms);
    return out;
}

static void
vfsecd_send_reconcile(VfsecdWatcher *w, VfsecdJob *job)
{
    if (!job)
        job = vfsecd_job_new(w, VFSECD_JOB_RECONCILE, NULL);
    /* Before the listing: a VF claimed later belongs to a domain the list
     * may have missed while it was starting, which reconcile must not
     * release. */
    job->listed_at = g_get_monotonic_time();
    job->domains = w->conn ? vfsecd_running_domains(w) : NULL;
    if (!w->ready_sent) {
        job->ready = w->ready;
        job->ready_data = w->ready_data;
        w->ready_sent = TRUE;
    }
    vfsecd_job_send(job);
}

/* ---- Event callbacks (watcher thread) ---- */

/* Parses @dom's XML and hands it to the engine's define check. */
static void
vfsecd_send_define(VfsecdWatcher *w, virDomainPtr dom)
{
    /* The definition, not the running instance's live XML: what the next
     * start will use (a running domain redefined keeps its old live XML). */
    g_autofree char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    g_autoptr(GError) error = NULL;
    VfsecdJob *job = vfsecd_job_new(w, VFSECD_JOB_DEFINE, NULL);
    char uuid[VIR_UUID_STRING_BUFLEN];

    job->name = g_strdup(virDomainGetName(dom));
    job->uuid = virDomainGetUUIDString(dom, uuid) == 0 ? g_strdup(uuid) : NULL;
    if (!xml)
        job->unparsable = g_strdup_printf("its XML cannot be read: %s", vfsecd_virt_error());
    else if (!(job->domain = vfsec_domain_parse_string(xml, -1, &error)))
        job->unparsable = g_strdup(error->message);
    vfsecd_log_event("libvirt", "defined", job->name, job->domain ? "parsed" : "unparsable");
    vfsecd_job_send(job);
}


static void
vfsecd_on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    static const VfsecEngineOp start[] = { VFSEC_ENGINE_OP_PREPARE, VFSEC_ENGINE_OP_QUARANTINE,
                                           VFSEC_ENGINE_OP_PUBLISH };
    static const VfsecEngineOp release[] = { VFSEC_ENGINE_OP_RELEASE };
    static const VfsecEngineOp reclaim[] = { VFSEC_ENGINE_OP_RECLAIM };
    static const VfsecEngineOp stop[] = { VFSEC_ENGINE_OP_STOP };
    VfsecdWatcher *w = opaque;
    const char *name = virDomainGetName(dom);
    g_autofree char *what = g_strdup_printf("lifecycle event %d detail %d", event, detail);
    /* Only a crash needs to know whether the domain runs on. */
    gboolean active = event == VIR_DOMAIN_EVENT_CRASHED && virDomainIsActive(dom) == 1;
    VfsecdAction action = vfsecd_lifecycle_action(event, detail, active);
    VfsecDomain *domain;

    vfsecd_log_event("libvirt", vfsecd_action_to_string(action), name, what);
    switch (action) {
    case VFSECD_ACTION_START:
        if ((domain = vfsecd_fetch_domain(dom)))
            vfsecd_send_ops(w, domain, start, G_N_ELEMENTS(start));
        break;
    case VFSECD_ACTION_RELEASE:
        vfsecd_send_ops(w, vfsecd_identity_domain(dom), release, G_N_ELEMENTS(release));
        break;
    case VFSECD_ACTION_RECLAIM:
        vfsecd_send_ops(w, vfsecd_identity_domain(dom), reclaim, G_N_ELEMENTS(reclaim));
        break;
    case VFSECD_ACTION_STOP:
        vfsecd_send_ops(w, vfsecd_identity_domain(dom), stop, G_N_ELEMENTS(stop));
        break;
    case VFSECD_ACTION_DEFINE:
        vfsecd_send_define(w, dom);
        break;
    case VFSECD_ACTION_FORGET:
        vfsecd_job_send(vfsecd_job_new(w, VFSECD_JOB_FORGET, vfsecd_identity_domain(dom)));
        break;
    case VFSECD_ACTION_NONE:
    case VFSECD_ACTION_LAST:
        break;
    }
}

/* The guest rebooted and lost its IPsec state while the domain keeps its
 * VFs: reclaim, nothing else. */
static void
vfsecd_on_reboot(virConnectPtr conn, virDomainPtr dom, void *opaque)
{
    static const VfsecEngineOp reclaim[] = { VFSEC_ENGINE_OP_RECLAIM };

    vfsecd_log_event("libvirt", "reboot", virDomainGetName(dom), NULL);
    vfsecd_send_ops(opaque, vfsecd_identity_domain(dom), reclaim, G_N_ELEMENTS(reclaim));
}

/* The index of the attachment whose alias is @alias, or -1. */
static int
vfsecd_find_alias(const VfsecDomain *domain, const char *alias)
{
    for (guint i = 0; domain && i < domain->attachments->len; i++) {
        const VfsecAttachment *att = domain->attachments->pdata[i];

        if (g_strcmp0(att->alias, alias) == 0)
            return (int)i;
    }
    return -1;
}

static void
vfsecd_on_device_added(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
    VfsecdWatcher *w = opaque;
    VfsecDomain *domain;
    VfsecdJob *job;
    int index;

    vfsecd_log_event("libvirt", "device-added", virDomainGetName(dom), alias);
    domain = vfsecd_fetch_domain(dom);
    index = vfsecd_find_alias(domain, alias);
    if (index < 0) {
        vfsec_domain_free(domain);
        return;
    }
    job = vfsecd_job_new(w, VFSECD_JOB_ATTACH, domain);
    job->index = index;
    vfsecd_job_send(job);
}

/* The live XML after the removal is all it takes: the engine releases the
 * VFs the domain owns that it no longer names (whichever device went, and
 * whether or not vfsecd saw the XML before). */
static void
vfsecd_on_device_removed(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
    VfsecdWatcher *w = opaque;
    VfsecDomain *domain;

    vfsecd_log_event("libvirt", "device-removed", virDomainGetName(dom), alias);
    domain = vfsecd_fetch_domain(dom);
    if (domain)
        vfsecd_job_send(vfsecd_job_new(w, VFSECD_JOB_DETACH, domain));
}

/* ---- Connection (watcher thread) ---- */

static void vfsecd_connect(VfsecdWatcher *w);
static void vfsecd_on_close(virConnectPtr conn, int reason, void *opaque);

static void
vfsecd_retry_cb(int timer, void *opaque)
{
    VfsecdWatcher *w = opaque;

    virEventRemoveTimeout(timer);
    w->retry_timer = -1;
    vfsecd_connect(w);
}

static void
vfsecd_schedule_retry(VfsecdWatcher *w)
{
    if (w->retry_timer >= 0 || g_atomic_int_get(&w->quit))
        return;
    g_message("libvirt %s: reconnecting in %u ms", w->uri, w->backoff_ms);
    w->retry_timer = virEventAddTimeout((int)w->backoff_ms, vfsecd_retry_cb, w, NULL);
    w->backoff_ms = MIN(w->backoff_ms * 2, w->reconnect_max_ms);
}

static void
vfsecd_disconnect(VfsecdWatcher *w)
{
    if (!w->conn)
        return;
    /* Our own close must not look like a lost connection. */
    virConnectUnregisterCloseCallback(w->conn, vfsecd_on_close);
    for (guint i = 0; i < VFSECD_EV_LAST; i++) {
        if (w->callbacks[i] >= 0)
            virConnectDomainEventDeregisterAny(w->conn, w->callbacks[i]);
        w->callbacks[i] = -1;
    }
    virConnectClose(w->conn);
    w->conn = NULL;
    g_atomic_int_set(&w->connected, FALSE);
}

static void
vfsecd_lost_cb(int timer, void *opaque)
{
    VfsecdWatcher *w = opaque;

    virEventRemoveTimeout(timer);
    vfsecd_disconnect(w);
    vfsecd_schedule_retry(w);
}

static void
vfsecd_on_close(virConnectPtr conn, int reason, void *opaque)
{
    VfsecdWatcher *w = opaque;

    g_warning("libvirt %s: connection lost (reason %d)", w->uri, reason);
    g_atomic_int_set(&w->connected, FALSE);
    /* Not from inside libvirt's own callback: close it on the next turn. */
    virEventAddTimeout(0, vfsecd_lost_cb, w, NULL);
}

static void
vfsecd_connect(VfsecdWatcher *w)
{
    static const struct {
        int id;
        virConnectDomainEventGenericCallback cb;
    } events[VFSECD_EV_LAST] = {
        [VFSECD_EV_LIFECYCLE] = { VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                  VIR_DOMAIN_EVENT_CALLBACK(vfsecd_on_lifecycle) },
        [VFSECD_EV_REBOOT] = { VIR_DOMAIN_EVENT_ID_REBOOT,
                               VIR_DOMAIN_EVENT_CALLBACK(vfsecd_on_reboot) },
        [VFSECD_EV_DEVICE_ADDED] = { VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                                     VIR_DOMAIN_EVENT_CALLBACK(vfsecd_on_device_added) },
        [VFSECD_EV_DEVICE_REMOVED] = { VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                                       VIR_DOMAIN_EVENT_CALLBACK(vfsecd_on_device_removed) },
    };

    w->conn = virConnectOpen(w->uri);
    if (!w->conn) {
        g_warning("libvirt %s: cannot connect: %s", w->uri, vfsecd_virt_error());
        if (!w->ready_sent)
            vfsecd_send_reconcile(w, NULL);
        vfsecd_schedule_retry(w);
        return;
    }
    /* Some drivers (test:///, qemu:///embed) have no keepalive: not fatal. */
    if (virConnectSetKeepAlive(w->conn, VFSECD_KEEPALIVE_INTERVAL, VFSECD_KEEPALIVE_COUNT) < 0)
        g_debug("libvirt %s: no keepalive: %s", w->uri, vfsecd_virt_error());
    if (virConnectRegisterCloseCallback(w->conn, vfsecd_on_close, w, NULL) < 0)
        g_debug("libvirt %s: no close callback: %s", w->uri, vfsecd_virt_error());
    for (guint i = 0; i < VFSECD_EV_LAST; i++) {
        w->callbacks[i] = virConnectDomainEventRegisterAny(w->conn, NULL, events[i].id,
                                                           events[i].cb, w, NULL);
        if (w->callbacks[i] < 0) {
            g_warning("libvirt %s: cannot register event %d: %s", w->uri, events[i].id,
                      vfsecd_virt_error());
            vfsecd_disconnect(w);
            vfsecd_schedule_retry(w);
            return;
        }
    }
    g_atomic_int_set(&w->connected, TRUE);
    g_atomic_int_inc(&w->connections);
    w->backoff_ms = w->reconnect_min_ms;
    g_message("libvirt %s: connected", w->uri);
    /* Events were missed while not connected: converge on what runs now. */
    vfsecd_send_reconcile(w, NULL);
}

static void
vfsecd_requests_cb(int timer, void *opaque)
{
    VfsecdWatcher *w = opaque;
    VfsecdJob *job;

    virEventRemoveTimeout(timer);
    while ((job = g_async_queue_try_pop(w->requests)))
        vfsecd_send_reconcile(w, job);
}

static gpointer
vfsecd_watcher_thread(gpointer data)
{
    VfsecdWatcher *w = data;

    vfsecd_connect(w);
    while (!g_atomic_int_get(&w->quit)) {
        if (virEventRunDefaultImpl() < 0) {
            g_warning("libvirt event loop: %s", vfsecd_virt_error());
            break;
        }
    }
    if (w->retry_timer >= 0)
        virEventRemoveTimeout(w->retry_timer);
    vfsecd_disconnect(w);
    return NULL;
}

/* ---- Main-thread API ---- */

static void
vfsecd_silence_libvirt(void *data, virErrorPtr error)
{
    /* Errors are reported where they are handled, with their context. */
}

VfsecdWatcher *
vfsecd_watcher_new(VfsecdDaemon *daemon, GSourceFunc ready, gpointer ready_data)
{
    VfsecdWatcher *w = g_new0(VfsecdWatcher, 1);

    w->daemon = daemon;
    w->main_ctx = g_main_context_ref_thread_default();
    w->requests = g_async_queue_new();
    w->retry_timer = -1;
    for (guint i = 0; i < VFSECD_EV_LAST; i++)
        w->callbacks[i] = -1;
    w->uri = g_strdup(daemon->conf->libvirt_uri);
    w->reconnect_min_ms = daemon->conf->reconnect_min_ms;
    w->reconnect_max_ms = daemon->conf->reconnect_max_ms;
    w->backoff_ms = w->reconnect_min_ms;
    w->ready = ready;
    w->ready_data = ready_data;
    virSetErrorFunc(NULL, vfsecd_silence_libvirt);
    /* Must precede the first connection; registering twice is refused by
     * libvirt but harmless (one watcher per process). */
    virEventRegisterDefaultImpl();
    w->thread = g_thread_new("vfsecd-libvirt", vfsecd_watcher_thread, w);
    return w;
}

gboolean
vfsecd_watcher_connected(VfsecdWatcher *watcher)
{
    return g_atomic_int_get(&watcher->connected);
}

guint
vfsecd_watcher_reconnects(VfsecdWatcher *watcher)
{
    int n = g_atomic_int_get(&watcher->connections);

    return n > 1 ? (guint)n - 1 : 0;
}

void
vfsecd_watcher_reconcile(VfsecdWatcher *watcher, VfsecdReconcileFunc callback,
                         gpointer user_data)
{
    VfsecdJob *job = vfsecd_job_new(watcher, VFSECD_JOB_RECONCILE, NULL);

    job->callback = callback;
    job->user_data = user_data;
    g_async_queue_push(watcher->requests, job);
    /* Wakes libvirt's loop (the default implementation interrupts its poll). */
    virEventAddTimeout(0, vfsecd_requests_cb, watcher, NULL);
}

static void
vfsecd_wake_cb(int timer, void *opaque)
{
    virEventRemoveTimeout(timer);
}

void
vfsecd_watcher_free(VfsecdWatcher *watcher)
{
    VfsecdJob *job;

    if (!watcher)
        return;
    g_atomic_int_set(&watcher->quit, TRUE);
    virEventAddTimeout(0, vfsecd_wake_cb, NULL, NULL);
    g_thread_join(watcher->thread);
    while ((job = g_async_queue_try_pop(watcher->requests)))
        vfsecd_job_free(job);
    g_async_queue_unref(watcher->requests);
    g_main_context_unref(watcher->main_ctx);
    g_free(watcher->uri);
    g_free(watcher);
}
