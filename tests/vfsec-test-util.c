/* vfsec-test-util.c: helpers shared by the test programs. */
#include "vfsec-test-util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

void
vfsec_test_skip_all(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("SKIP: %s\n", msg);
    fflush(stdout);
    exit(VFSEC_TEST_SKIP);
}

void
vfsec_test_require_root(void)
{
    if (geteuid() != 0)
        vfsec_test_skip_all("needs root (network namespaces, netdevs); running as uid %u",
                            (unsigned)geteuid());
}

gboolean
vfsec_test_wait_for_file(const char *path, guint timeout_ms)
{
    g_autofree char *dir = g_path_get_dirname(path);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    gboolean found = FALSE;

    g_assert_cmpint(fd, >=, 0);
    /* Watch before checking, so a file created in between is not missed. */
    if (inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        close(fd);
        return g_file_test(path, G_FILE_TEST_EXISTS);
    }
    while (!(found = g_file_test(path, G_FILE_TEST_EXISTS))) {
        gint64 left = deadline - g_get_monotonic_time();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        char buf[4096];

        if (left <= 0)
            break;
        if (poll(&pfd, 1, (int)MAX(1, left / 1000)) < 0 && errno != EINTR)
            break;
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    }
    close(fd);
    return found;
}

/* ---- Running a main context until something happened ----
 *
 * The loop blocks in g_main_context_iteration(), so a one-shot timer on the
 * same context wakes it at the deadline; the deadline itself is checked
 * against the monotonic clock after every iteration, so sources that keep
 * the context busy cannot keep the timer from ending the wait. */

typedef gboolean (*RunDoneFunc)(const void *data);

static gboolean
run_wake(gpointer user_data)
{
    return G_SOURCE_REMOVE;
}

static gboolean
run_until(GMainContext *ctx, RunDoneFunc done, const void *data, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    /* Created after the deadline was taken, so it fires no earlier. */
    GSource *wake = g_timeout_source_new(timeout_ms);

    g_source_set_callback(wake, run_wake, NULL, NULL);
    g_source_attach(wake, ctx);
    while (!done(data) && g_get_monotonic_time() < deadline)
        g_main_context_iteration(ctx, TRUE);
    g_source_destroy(wake);
    g_source_unref(wake);
    return done(data);
}

static gboolean
flag_done(const void *data)
{
    return *(const gboolean *)data;
}

gboolean
vfsec_test_run_until(GMainContext *ctx, const gboolean *flag, guint timeout_ms)
{
    return run_until(ctx, flag_done, flag, timeout_ms);
}

typedef struct {
    const guint *count;
    guint want;
} CountDone;

static gboolean
count_done(const void *data)
{
    const CountDone *c = data;

    return *c->count >= c->want;
}

gboolean
vfsec_test_run_until_count(GMainContext *ctx, const guint *count, guint want, guint timeout_ms)
{
    CountDone c = { count, want };

    return run_until(ctx, count_done, &c, timeout_ms);
}

void
vfsec_test_async_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VfsecTestAsync *async = user_data;

    async->result = g_object_ref(result);
    async->done = TRUE;
    if (async->sequence)
        async->order = ++*async->sequence;
}

GAsyncResult *
vfsec_test_async_wait(GMainContext *ctx, VfsecTestAsync *async)
{
    g_assert_true(vfsec_test_run_until(ctx, &async->done, VFSEC_TEST_WAIT_MS));
    return async->result;
}

void
vfsec_test_async_clear(VfsecTestAsync *async)
{
    g_clear_object(&async->result);
    async->done = FALSE;
    async->order = 0;
}

int
vfsec_test_run(const char *const *argv, char **out, char **err)
{
    g_autoptr(GError) error = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                      out, err, &status, &error)) {
        g_test_message("cannot run %s: %s", argv[0], error->message);
        return -1;
    }
    if (!WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

const char *
vfsec_test_env(const char *name)
{
    const char *value = g_getenv(name);

    if (!value)
        g_error("environment variable %s is not set: run this test through 'meson test'", name);
    return value;
}

char *
vfsec_test_make_dir(const char *prefix)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *tmpl = g_strconcat(prefix, "-XXXXXX", NULL);
    char *dir = g_dir_make_tmp(tmpl, &error);

    g_assert_no_error(error);
    return dir;
}

void
vfsec_test_remove_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);

    for (const char *name; d && (name = g_dir_read_name(d));) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        g_assert_cmpint(g_unlink(path), ==, 0);
    }
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

void
vfsec_test_limit_file_size(rlim_t bytes, struct rlimit *saved)
{
    struct rlimit small;

    g_assert_cmpint(getrlimit(RLIMIT_FSIZE, saved), ==, 0);
    small.rlim_cur = bytes;
    small.rlim_max = saved->rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &small), ==, 0);
}

void
vfsec_test_unlimit_file_size(const struct rlimit *saved)
{
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, saved), ==, 0);
    signal(SIGXFSZ, SIG_DFL);
}
