/* vfsecd-main.c: vfsecd's entry point — configuration, plugins and engine,
 * control server, libvirt watcher, signals and the ready file. */
#include <errno.h>
#include <glib-unix.h>
#include <libxml/parser.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vfsec-config.h"
#include "vfsec-error.h"
#include "vfsecd.h"

void
vfsecd_log_event(const char *source, const char *event, const char *domain, const char *detail)
{
    g_autofree char *message = g_strdup_printf("%s %s domain %s%s%s", source, event,
                                               domain ? domain : "-", detail ? ": " : "",
                                               detail ? detail : "");
    const GLogField fields[] = {
        { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
        { "PRIORITY", "6", -1 },
        { "VFSEC_OP", event, -1 },
        { "VFSEC_SOURCE", source, -1 },
        { "DOMAIN", domain ? domain : "", -1 },
        { "MESSAGE", message, -1 },
    };

    g_log_structured_array(G_LOG_LEVEL_INFO, fields, G_N_ELEMENTS(fields));
}

/* The log writer. GLib's default one costs, per line, an isatty() of
 * stderr and (through localtime) a stat() of /etc/localtime; on the event
 * path that is a dozen lines per VM start and stop. This one drops what
 * the configured log-level hides (GLib alone would print every message at
 * log-level = warning), decides journald and colour once, and leaves
 * warnings and worse to GLib's writer, which also applies G_DEBUG's
 * fatal-warnings. main() pins TZ for the timestamps. */
static GLogWriterOutput
vfsecd_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    VfsecdDaemon *daemon = data;
    const char *domain = NULL;
    g_autofree char *line = NULL;

    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
        return g_log_writer_default(level, fields, n_fields, NULL);
    if (level & G_LOG_LEVEL_MESSAGE) {
        if (g_atomic_int_get(&daemon->log_level) < VFSEC_LOG_LEVEL_MESSAGE)
            return G_LOG_WRITER_HANDLED;
    } else {
        /* info and debug: shown at log-level info or debug, or when
         * G_MESSAGES_DEBUG names the domain, as with GLib's writer. */
        for (gsize i = 0; i < n_fields && !domain; i++) {
            if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
                domain = fields[i].value;
        }
        if (g_log_writer_default_would_drop(level, domain))
            return G_LOG_WRITER_HANDLED;
    }
    if (daemon->log_journald)
        return g_log_writer_default(level, fields, n_fields, NULL);
    line = g_log_writer_format_fields(level, fields, n_fields, daemon->log_color);
    fputs(line, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    return G_LOG_WRITER_HANDLED;
}

/* Applies the configured log level (start-up and reload). */
static void
vfsecd_log_set_level(VfsecdDaemon *daemon, VfsecLogLevel level)
{
    g_atomic_int_set(&daemon->log_level, (gint)level);
    g_log_set_debug_enabled(level >= VFSEC_LOG_LEVEL_INFO);
}

/* ---- Engine helpers shared by the control server and the watcher ---- */

typedef struct {
    VfsecdDaemon *daemon;
    guint pending;
    GError *error;              /* the first one */
    VfsecdOpsFunc callback;
    gpointer user_data;
} VfsecdOps;

static void
vfsecd_ops_done(GObject *source, GAsyncResult *result, gpointer data)
{
    VfsecdOps *ops = data;
    g_autoptr(GError) error = NULL;

    if (!vfsec_engine_operation_finish(ops->daemon->engine, result, &error) && !ops->error)
        ops->error = g_steal_pointer(&error);
    if (--ops->pending > 0)
        return;
    if (ops->callback)
        ops->callback(ops->daemon, ops->error, ops->user_data);
    g_clear_error(&ops->error);
    g_free(ops);
}

void
vfsecd_run_ops(VfsecdDaemon *daemon, VfsecDomain *domain, const VfsecEngineOp *ops, guint n_ops,
               VfsecdOpsFunc callback, gpointer user_data)
{
    VfsecdOps *o = g_new0(VfsecdOps, 1);

    o->daemon = daemon;
    o->callback = callback;
    o->user_data = user_data;
    /* One extra count so a synchronous completion cannot finish early. */
    o->pending = n_ops + 1;
    for (guint i = 0; i < n_ops; i++)
        vfsec_engine_run_async(daemon->engine, ops[i], domain, daemon->cancellable,
                               vfsecd_ops_done, o);
    if (--o->pending == 0) {
        if (o->callback)
            o->callback(daemon, o->error, o->user_data);
        g_clear_error(&o->error);
        g_free(o);
    }
}

typedef struct {
    VfsecdDaemon *daemon;
    VfsecdReconcileFunc callback;
    gpointer user_data;
} VfsecdReconcile;

static void
vfsecd_reconcile_done(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autofree VfsecdReconcile *rc = data;
    VfsecdDaemon *daemon = rc->daemon;
    VfsecEngineSummary summary = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    gboolean ok = vfsec_engine_reconcile_finish(daemon->engine, result, &summary, &error);

    g_free(daemon->last_reconcile);
    daemon->last_reconcile = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    daemon->last_reconcile_ok = ok && summary.failed == 0;
    if (!ok) {
        g_warning("reconcile failed: %s", error->message);
    } else {
        g_info("reconcile: %u intents finished, %u reclaimed, %u quarantined, %u released, "
               "%u adopted, %u republished, %u failed",
               summary.intents_finished, summary.reclaimed, summary.quarantined,
               summary.released, summary.adopted, summary.republished, summary.failed);
    }
    if (rc->callback)
        rc->callback(daemon, ok ? &summary : NULL, error, rc->user_data);
}

void
vfsecd_reconcile(VfsecdDaemon *daemon, GPtrArray *domains, gint64 listed_at,
                 VfsecdReconcileFunc callback, gpointer user_data)
{
    VfsecdReconcile *rc = g_new0(VfsecdReconcile, 1);

    rc->daemon = daemon;
    rc->callback = callback;
    rc->user_data = user_data;
    vfsec_engine_reconcile_listed_async(daemon->engine, domains, listed_at,
                                        daemon->cancellable, vfsecd_reconcile_done, rc);
}

/* A PF driver came back: reconcile against libvirt's running domains. The
 * watcher lists them on its own thread, so this never waits for libvirt
 * and never sits on a hook's path. */
static void
vfsecd_on_pf_reconnected(VfsecEngine *engine, const char *pf_label, gpointer data)
{
    VfsecdDaemon *daemon = data;

    (void)engine;
    g_message("PF %s: driver back, reconciling with libvirt's running domains", pf_label);
    if (daemon->watcher)
        vfsecd_watcher_reconcile(daemon->watcher, NULL, NULL);
    else
        vfsecd_reconcile(daemon, NULL, g_get_monotonic_time(), NULL, NULL);
}

/* ---- Start-up ---- */

static gboolean
vfsecd_write_ready(gpointer data)
{
    VfsecdDaemon *daemon = data;
    const char *path = daemon->ready_file;
    g_autoptr(GError) error = NULL;

    g_message("vfsecd %s ready: control socket %s, libvirt %s", VFSEC_VERSION,
              daemon->conf->control_socket, daemon->conf->libvirt_uri);
    if (path && !g_file_set_contents(path, "ready\n", -1, &error)) {
        g_critical("ready file %s: %s", path, error->message);
        daemon->exit_status = 1;
        g_main_loop_quit(daemon->loop);
    }
    return G_SOURCE_REMOVE;
}

static void
vfsecd_engine_started(GObject *source, GAsyncResult *result, gpointer data)
{
    VfsecdDaemon *daemon = data;
    g_autoptr(GError) error = NULL;

    if (!vfsec_engine_start_finish(daemon->engine, result, &error)) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return;
        /* The other PFs work; this one reconnects on its own. */
        g_warning("engine start: %s", error->message);
        g_clear_error(&error);
    }
    if (!vfsecd_control_start(daemon, &error)) {
        g_critical("control socket %s: %s", daemon->conf->control_socket, error->message);
        daemon->exit_status = 1;
        g_main_loop_quit(daemon->loop);
        return;
    }
    daemon->watcher = vfsecd_watcher_new(daemon, vfsecd_write_ready, daemon);
}

static gboolean
vfsecd_build(VfsecdDaemon *daemon, GError **error)
{
    g_autoptr(GPtrArray) plugins =
        g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_plugin_free);
    g_autoptr(VfsecConf) engine_conf = NULL;

    /* The engine takes a configuration of its own, from the same read. */
    daemon->conf = vfsec_conf_load_twice(daemon->config_path, &engine_conf, error);
    if (!daemon->conf)
        return FALSE;
    for (guint i = 0; i < engine_conf->pfs->len; i++) {
        const VfsecConfPf *pf = engine_conf->pfs->pdata[i];
        VfsecPlugin *plugin = vfsec_plugin_new(pf, NULL, error);

        if (!plugin)
            return FALSE;
        g_ptr_array_add(plugins, plugin);
        g_ptr_array_add(daemon->plugins, plugin);
    }
    /* The engine owns both from here on, also when it fails. */
    daemon->engine_conf = engine_conf;
    daemon->engine = vfsec_engine_new(g_steal_pointer(&engine_conf), g_steal_pointer(&plugins),
                                      error);
    if (!daemon->engine) {
        daemon->engine_conf = NULL;
        g_ptr_array_set_size(daemon->plugins, 0);
        return FALSE;
    }
    vfsec_engine_set_reconnect_func(daemon->engine, vfsecd_on_pf_reconnected, daemon);
    return TRUE;
}

/* ---- Signals ---- */

static gboolean
vfsecd_on_terminate(gpointer data)
{
    VfsecdDaemon *daemon = data;

    g_message("vfsecd stopping on signal");
    g_main_loop_quit(daemon->loop);
    return G_SOURCE_CONTINUE;
}

/* Records the outcome of a reload for `status`. */
static void
vfsecd_reload_record(VfsecdDaemon *daemon, const GError *error)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    daemon->reloads++;
    g_free(daemon->last_reload);
    daemon->last_reload = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    g_free(daemon->reload_error);
    daemon->reload_error = error ? g_strdup(error->message) : NULL;
    if (error)
        g_warning("reload refused, configuration kept: %s", error->message);
}

/* SIGHUP: a valid file replaces the configuration of the daemon and of the
 * engine (timeouts, tags, policy defaults, hairpin and fail-closed per PF,
 * log level); an invalid one, or one with another [pf] set, is refused as a
 * whole and the old configuration stays. control-socket, libvirt-uri and the
 * libvirt reconnect back-off take effect at the next restart. A reconcile
 * with libvirt's view then recomputes the owners' effective policy. */
static gboolean
vfsecd_on_reload(gpointer data)
{
    VfsecdDaemon *daemon = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecConf) engine_conf = NULL;
    g_autoptr(VfsecConf) conf = vfsec_conf_load_twice(daemon->config_path, &engine_conf, &error);

    if (!conf ||
        !vfsec_engine_set_conf(daemon->engine, g_steal_pointer(&engine_conf), &error)) {
        vfsecd_reload_record(daemon, error);
        return G_SOURCE_CONTINUE;
    }
    daemon->engine_conf = vfsec_engine_get_conf(daemon->engine);
    if (g_strcmp0(conf->control_socket, daemon->conf->control_socket) != 0 ||
        g_strcmp0(conf->libvirt_uri, daemon->conf->libvirt_uri) != 0) {
        g_warning("reload: control-socket and libvirt-uri take effect at the next restart");
        /* daemon->conf says what is in force. */
        g_free(conf->control_socket);
        conf->control_socket = g_strdup(daemon->conf->control_socket);
        g_free(conf->libvirt_uri);
        conf->libvirt_uri = g_strdup(daemon->conf->libvirt_uri);
    }
    vfsecd_log_set_level(daemon, conf->log_level);
    vfsec_conf_free(daemon->conf);
    daemon->conf = g_steal_pointer(&conf);
    vfsecd_reload_record(daemon, NULL);
    g_message("reload: configuration %s applied", daemon->config_path);
    if (daemon->watcher)
        vfsecd_watcher_reconcile(daemon->watcher, NULL, NULL);
    return G_SOURCE_CONTINUE;
}

/* ---- main ---- */

static void
vfsecd_daemon_clear(VfsecdDaemon *daemon)
{
    g_cancellable_cancel(daemon->cancellable);
    g_clear_pointer(&daemon->watcher, vfsecd_watcher_free);
    g_clear_pointer(&daemon->server, vfsec_jsonl_server_free);
    g_clear_pointer(&daemon->engine, vfsec_engine_free);
    g_clear_pointer(&daemon->plugins, g_ptr_array_unref);
    g_clear_pointer(&daemon->conf, vfsec_conf_free);
    g_clear_object(&daemon->cancellable);
    g_clear_pointer(&daemon->loop, g_main_loop_unref);
    g_free(daemon->config_path);
    g_free(daemon->ready_file);
    g_free(daemon->last_reconcile);
    g_free(daemon->last_reload);
    g_free(daemon->reload_error);
}

int
main(int argc, char **argv)
{
    VfsecdDaemon daemon = { 0 };
    g_autofree char *config = NULL;
    g_autofree char *ready = NULL;
    gboolean foreground = FALSE;
    gboolean version = FALSE;
    const GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config,
          "Configuration file (default " VFSEC_SYSCONFDIR "/vfsec/vfsecd.conf)", "PATH" },
        { "foreground", 'f', 0, G_OPTION_ARG_NONE, &foreground,
          "Stay in the foreground (vfsecd never forks; accepted for service managers)", NULL },
        { "ready-file", 0, 0, G_OPTION_ARG_FILENAME, &ready,
          "Write this file once the control socket serves and the first reconcile ran",
          "PATH" },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("");
    g_autoptr(GError) error = NULL;

    g_option_context_set_summary(ctx, "vfsec's daemon: keeps SR-IOV VFs with an inline IPsec "
                                      "agent safe under libvirt.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("vfsecd: %s\n", error->message);
        return 2;
    }
    if (argc > 1) {
        g_printerr("vfsecd: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    if (version) {
        g_print("vfsecd %s\n", VFSEC_VERSION);
        return 0;
    }
    /* Writing a journal or a table past RLIMIT_FSIZE must fail with EFBIG,
     * not kill the daemon. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Domain XML is parsed on the main thread (hooks) and on the libvirt
     * thread (events): libxml2 wants its globals set up first, here. */
    xmlInitParser();
#ifdef __GLIBC__
    /* Before any thread: one malloc arena for the whole daemon. glibc gives
     * each thread that allocates (the libvirt watcher, the journal
     * flusher, plugin workers) an arena of its own, and each keeps ~1 MiB
     * of touched pages after use: measured, 4.4 -> 3.4 MiB private memory
     * over the bare-client floor at 1000 domains (bench/README.md). These
     * threads allocate rarely, so sharing one arena's lock costs nothing
     * we can measure. */
    mallopt(M_ARENA_MAX, 1);
#endif

    /* Before any thread: with TZ unset, glibc's localtime() stats
     * /etc/localtime for every log line's timestamp; pinned, it reads the
     * zone once (a changed zone is seen at the next restart). */
    if (!g_getenv("TZ"))
        g_setenv("TZ", ":/etc/localtime", TRUE);
    daemon.log_level = VFSEC_LOG_LEVEL_MESSAGE;
    daemon.log_journald = g_log_writer_is_journald(fileno(stderr));
    daemon.log_color = g_log_writer_supports_color(fileno(stderr));
    g_log_set_writer_func(vfsecd_log_writer, &daemon, NULL);

    daemon.config_path = config ? g_steal_pointer(&config) : vfsec_conf_default_path();
    daemon.ready_file = g_steal_pointer(&ready);
    daemon.plugins = g_ptr_array_new();
    daemon.cancellable = g_cancellable_new();
    daemon.loop = g_main_loop_new(NULL, FALSE);
    daemon.started_us = g_get_monotonic_time();
    if (!vfsecd_build(&daemon, &error)) {
        g_printerr("vfsecd: %s\n", error->message);
        vfsecd_daemon_clear(&daemon);
        return 1;
    }
    vfsecd_log_set_level(&daemon, daemon.conf->log_level);

    g_unix_signal_add(SIGTERM, vfsecd_on_terminate, &daemon);
    g_unix_signal_add(SIGINT, vfsecd_on_terminate, &daemon);
    g_unix_signal_add(SIGHUP, vfsecd_on_reload, &daemon);
    vfsec_engine_start_async(daemon.engine, daemon.cancellable, vfsecd_engine_started, &daemon);
    g_main_loop_run(daemon.loop);

    vfsecd_daemon_clear(&daemon);
    return daemon.exit_status;
}
