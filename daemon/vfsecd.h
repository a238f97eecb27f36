/* vfsecd.h: vfsecd's daemon context and the parts of the daemon glue
 * (control server, libvirt watcher) that share it. */
#pragma once

#include <gio/gio.h>

#include "vfsec-conf.h"
#include "vfsec-domain.h"
#include "vfsec-engine.h"
#include "vfsec-jsonl-server.h"

G_BEGIN_DECLS

typedef struct _VfsecdWatcher VfsecdWatcher;

/* Everything the daemon holds; passed down, never global. */
typedef struct {
    char *config_path;
    char *ready_file;           /* NULL: none */
    VfsecConf *conf;            /* the configuration in force for the daemon's own parts */
    const VfsecConf *engine_conf; /* the one the engine runs with (borrowed from it) */
    VfsecEngine *engine;
    GPtrArray *plugins;         /* VfsecPlugin*, borrowed: the engine owns them */
    VfsecJsonlServer *server;
    VfsecdWatcher *watcher;
    GMainLoop *loop;
    GCancellable *cancellable;
    gint64 started_us;          /* monotonic */
    char *last_reconcile;       /* ISO 8601, NULL before the first */
    gboolean last_reconcile_ok;
    guint reloads;              /* SIGHUPs handled */
    char *last_reload;          /* ISO 8601, NULL before the first */
    char *reload_error;         /* why the last reload was refused; NULL if it applied */
    int exit_status;
    /* Log writer (vfsecd-main.c): the configured VfsecLogLevel (atomic: the
     * libvirt thread logs too) and what was learnt of stderr once at start. */
    gint log_level;
    gboolean log_journald;
    gboolean log_color;
} VfsecdDaemon;

/* Structured audit line for one libvirt event or hook call (G_LOG_DOMAIN
 * "vfsecd", VFSEC_OP = @op). */
void vfsecd_log_event(const char *source, const char *event, const char *domain,
                      const char *detail);


/* Starts the control server on conf->control_socket with the handlers of
 * vfsecd-control.c. */
gboolean vfsecd_control_start(VfsecdDaemon *daemon, GError **error);

/* Runs an engine reconcile over @domains (VfsecDomain*, may be NULL: the
 * registry's owners), records the outcome for `status`; @callback (may be
 * NULL) gets the summary, or NULL on failure. Takes a reference on @domains. */
typedef void (*VfsecdReconcileFunc)(VfsecdDaemon *daemon, const VfsecEngineSummary *summary,
                                    const GError *error, gpointer user_data);
/* @listed_at: g_get_monotonic_time() from before @domains were listed. */
void vfsecd_reconcile(VfsecdDaemon *daemon, GPtrArray *domains, gint64 listed_at,
                      VfsecdReconcileFunc callback, gpointer user_data);

/* Runs the engine ops @ops (@n_ops of them, queued at once, in order) on a
 * copy of @domain; @callback (may be NULL) gets the first error, or NULL. */
typedef void (*VfsecdOpsFunc)(VfsecdDaemon *daemon, const GError *error, gpointer user_data);
void vfsecd_run_ops(VfsecdDaemon *daemon, VfsecDomain *domain, const VfsecEngineOp *ops,
                    guint n_ops, VfsecdOpsFunc callback, gpointer user_data);

/* ---- libvirt watcher (vfsecd-watcher.c) ---- */

/* Starts a thread that runs libvirt's default event loop, connects to
 * conf->libvirt_uri (retrying with back-off), registers the event callbacks
 * and, on every (re)connection, reconciles from the running domains' live
 * XML; @ready is called once on the main context after the first reconcile
 * (or the first failed connection attempt). */
VfsecdWatcher *vfsecd_watcher_new(VfsecdDaemon *daemon, GSourceFunc ready, gpointer ready_data);
/* Asks the watcher thread to list libvirt's running domains (live XML) and
 * then reconciles on the main context; @callback (may be NULL) gets the
 * outcome. Without a libvirt connection the reconcile keeps the registry's
 * owners. Never blocks. */
void vfsecd_watcher_reconcile(VfsecdWatcher *watcher, VfsecdReconcileFunc callback,
                              gpointer user_data);
/* TRUE while a libvirt connection is open (any thread). */
gboolean vfsecd_watcher_connected(VfsecdWatcher *watcher);
/* Connections made after the first one: each followed a lost connection
 * (any thread). */
guint vfsecd_watcher_reconnects(VfsecdWatcher *watcher);
/* Stops the thread, closes the connection, frees. */
void vfsecd_watcher_free(VfsecdWatcher *watcher);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecdWatcher, vfsecd_watcher_free)

G_END_DECLS
