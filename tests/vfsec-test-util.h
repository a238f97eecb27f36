/* vfsec-test-util.h: what every test program needs and nothing else —
 * skipping (exit 77) with a reason, waiting on files without sleeping, and
 * running a command to completion. */
#pragma once

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

/* Runs @argv (NULL-terminated) to completion; returns its exit status (or
 * -1 if it could not start or was killed), storing stdout/stderr if asked. */
int vfsec_test_run(const char *const *argv, char **out, char **err);

/* An environment variable the meson test definition sets; aborts if absent. */
const char *vfsec_test_env(const char *name);

G_END_DECLS
