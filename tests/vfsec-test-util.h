/* vfsec-test-util.h: what every test program needs and nothing else —
 * skipping (exit 77) with a reason, waiting on files and async results
 * without sleeping, running a command to completion, scratch directories,
 * and making writes fail on purpose. */
#pragma once

#include <sys/resource.h>

#include <gio/gio.h>
#include <glib.h>

G_BEGIN_DECLS

/* Meson's "skipped" exit status. */
#define VFSEC_TEST_SKIP 77

/* Prints "SKIP: <reason>" and exits 77. */
G_NORETURN void vfsec_test_skip_all(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Exits 77 unless the test runs as root. */
void vfsec_test_require_root(void);

/* Waits until @path exists, watching its directory with inotify (no polling
 * sleep). Returns FALSE when @timeout_ms passes first. */
gboolean vfsec_test_wait_for_file(const char *path, guint timeout_ms);

/* How long a test waits for an async result before it fails: far above any
 * operation's own timeout, so that one reports first. */
#define VFSEC_TEST_WAIT_MS 10000

/* Iterates @ctx (NULL: the default context) until *@flag is TRUE or
 * @timeout_ms passed (a monotonic deadline; a timer on @ctx wakes a blocked
 * iteration then, so nothing sleeps). Returns *@flag. */
gboolean vfsec_test_run_until(GMainContext *ctx, const gboolean *flag, guint timeout_ms);
/* The same, until *@count reaches @want (a callback counts); returns whether
 * it did. */
gboolean vfsec_test_run_until_count(GMainContext *ctx, const guint *count, guint want,
                                    guint timeout_ms);

/* Where one async call's completion lands: pass vfsec_test_async_cb() and a
 * pointer to this as the call's callback and user data. Zero-initialise it;
 * to compare completion order, point @sequence of each call at one counter
 * the test owns. */
typedef struct {
    gboolean done;          /* the callback ran */
    GAsyncResult *result;   /* a reference to its result */
    guint *sequence;        /* NULL, or the counter that numbers completions */
    guint order;            /* ++*sequence when it completed; 0 without one */
} VfsecTestAsync;

/* The GAsyncReadyCallback filling the VfsecTestAsync at @user_data. */
void vfsec_test_async_cb(GObject *source, GAsyncResult *result, gpointer user_data);
/* Iterates @ctx (NULL: default) until @async completed; the test fails after
 * VFSEC_TEST_WAIT_MS. Returns the result, owned by @async. */
GAsyncResult *vfsec_test_async_wait(GMainContext *ctx, VfsecTestAsync *async);
/* Drops the result and completion, keeping @sequence, so @async can be reused. */
void vfsec_test_async_clear(VfsecTestAsync *async);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfsecTestAsync, vfsec_test_async_clear)

/* Runs @argv (NULL-terminated) to completion; returns its exit status (or
 * -1 if it could not start or was killed), storing stdout/stderr if asked. */
int vfsec_test_run(const char *const *argv, char **out, char **err);

/* An environment variable the meson test definition sets; aborts if absent. */
const char *vfsec_test_env(const char *name);

/* A new empty directory "<tmpdir>/@prefix-XXXXXX" (new string); the test
 * fails if it cannot be made. */
char *vfsec_test_make_dir(const char *prefix);
/* Removes the files in @dir, then @dir; the test fails on anything it
 * cannot remove (a subdirectory included: remove those first). */
void vfsec_test_remove_dir(const char *dir);

/* Makes this process's writes past @bytes in a file fail (RLIMIT_FSIZE)
 * with EFBIG rather than SIGXFSZ, which is ignored until the matching
 * vfsec_test_unlimit_file_size(@saved): a disk that fills up mid-write. */
void vfsec_test_limit_file_size(rlim_t bytes, struct rlimit *saved);
/* Restores the limit vfsec_test_limit_file_size() saved, and SIGXFSZ. */
void vfsec_test_unlimit_file_size(const struct rlimit *saved);

G_END_DECLS
