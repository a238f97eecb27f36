/* vfsec-test-util.h: what every test program needs and nothing else —
 * skipping (exit 77) with a reason, waiting on files without sleeping,
 * running a command to completion, scratch directories, and making writes
 * fail on purpose. */
#pragma once

#include <sys/resource.h>

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
