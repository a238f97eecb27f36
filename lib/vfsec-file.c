/* vfsec-file.c: bounded file reads and atomic file replacement. */

/*
 * Theory of operation
 *
 * Reading: every file vfsec reads may be wrong (an operator's typo, a path
 * that names a device or a pipe) or hostile, so every read has a bound and
 * stops one byte past it, however long the input would go on.
 *
 * Writing: a file is never modified in place. The new content goes to a
 * staged file ".NAME.tmp-XXXXXX" in the same directory, is fsynced, takes
 * NAME's place (names exchanged, atomic within one file system, the old file
 * then removed) and the directory is fsynced so the exchange itself is
 * durable. The unsynced variants leave both fsyncs to their caller (the
 * journal batches them on a thread of its own). A crash leaves the old or the new file, plus
 * at worst a staged file, which vfsec_file_clean_staged() removes. When an
 * error is returned the change may still have reached the disk (only the
 * directory fsync failed); callers treat that as "not done" and redo it.
 */
#include "vfsec-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfsec-error.h"

/* Where a stream's buffer starts: most inputs fit, larger ones double. */
#define VFSEC_FILE_STREAM_HINT (64 * 1024)

gboolean
vfsec_file_set_error(GError **error, int err, const char *what, const char *path)
{
    g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(err),
                "cannot %s %s: %s", what, path, g_strerror(err));
    return FALSE;
}

/* Reads @fd to its end, starting with room for @hint bytes and growing,
 * stopping once more than @max bytes came. */
static gboolean
vfsec_file_read_sized(int fd, const char *name, gsize max, gsize hint, char **data,
                      gsize *len, GError **error)
{
    /* One byte past the bound tells "exactly @max" from "more". */
    gsize cap = MIN(hint, max) + 1;
    g_autofree char *buf = g_malloc(cap + 1);
    gsize n = 0;

    for (;;) {
        ssize_t r;

        if (n == cap) {
            if (cap > max)
                break;
            cap = MIN(cap * 2, max + 1);
            buf = g_realloc(buf, cap + 1);
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return vfsec_file_set_error(error, errno, "read", name);
        if (r == 0)
            break;
        n += (gsize)r;
    }
    if (n > max) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s is larger than the %" G_GSIZE_FORMAT "-byte limit", name, max);
        return FALSE;
    }
    buf[n] = '\0';
    *len = n;
    *data = g_steal_pointer(&buf);
    return TRUE;
}

gboolean
vfsec_file_read_fd(int fd, const char *name, gsize max, char **data, gsize *len,
                   GError **error)
{
    g_return_val_if_fail(fd >= 0 && name != NULL && data != NULL && len != NULL, FALSE);
    g_return_val_if_fail(max < G_MAXSIZE / 2, FALSE);

    return vfsec_file_read_sized(fd, name, max, VFSEC_FILE_STREAM_HINT, data, len, error);
}

gboolean
vfsec_file_read_max(const char *path, gsize max, char **data, gsize *len, GError **error)
{
    struct stat st;
    gboolean ok;
    int fd;

    g_return_val_if_fail(path != NULL && data != NULL && len != NULL, FALSE);
    g_return_val_if_fail(max < G_MAXSIZE / 2, FALSE);

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return vfsec_file_set_error(error, errno, "open", path);
    if (fstat(fd, &st) < 0) {
        int saved = errno;

        close(fd);
        return vfsec_file_set_error(error, saved, "stat", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s is not a regular file", path);
        return FALSE;
    }
    if ((guint64)st.st_size > max) {
        close(fd);
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s is larger than the %" G_GSIZE_FORMAT "-byte limit", path, max);
        return FALSE;
    }
    /* Room for what fstat said and one byte more, to notice a file that grew. */
    ok = vfsec_file_read_sized(fd, path, max, (gsize)st.st_size, data, len, error);
    close(fd);
    return ok;
}

gboolean
vfsec_file_read_input(const char *path, gsize max, char **data, gsize *len, GError **error)
{
    gboolean ok;
    int fd;

    g_return_val_if_fail(path != NULL && data != NULL && len != NULL, FALSE);

    if (g_str_equal(path, "-"))
        return vfsec_file_read_fd(STDIN_FILENO, "standard input", max, data, len, error);

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return vfsec_file_set_error(error, errno, "open", path);
    ok = vfsec_file_read_fd(fd, path, max, data, len, error);
    close(fd);
    return ok;
}

static gboolean
vfsec_file_write_all(int fd, const char *path, const void *data, gsize len, GError **error)
{
    const char *p = data;

    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return vfsec_file_set_error(error, errno, "write", path);
        p += w;
        len -= (gsize)w;
    }
    return TRUE;
}


static gboolean
vfsec_path_sync(const char *path, int flags, const char *what_open, const char *what_sync,
                GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    int saved;

    if (fd < 0)
        return vfsec_file_set_error(error, errno, what_open, path);
    if (fsync(fd) < 0) {
        saved = errno;
        close(fd);
        return vfsec_file_set_error(error, saved, what_sync, path);
    }
    close(fd);
    return TRUE;
}

/* fsync() on the directory makes a rename in it durable. */
gboolean
vfsec_dir_sync(const char *dir, GError **error)
{
    return vfsec_path_sync(dir, O_DIRECTORY, "open directory", "fsync directory", error);
}

gboolean
vfsec_file_sync(const char *path, GError **error)
{
    return vfsec_path_sync(path, 0, "open", "fsync", error);
}

static char *
vfsec_file_stage_full(const char *dir, const char *name, const void *data, gsize len,
                      int mode, gboolean sync, GError **error)
{
    g_autofree char *tmpl = NULL;
    int fd;

    g_return_val_if_fail(dir != NULL && name != NULL && (data != NULL || len == 0), NULL);

    tmpl = g_strdup_printf("%s/.%s.tmp-XXXXXX", dir, name);
    fd = g_mkstemp_full(tmpl, O_WRONLY | O_CLOEXEC, mode);
    if (fd < 0) {
        vfsec_file_set_error(error, errno, "create a staged file for", name);
        return NULL;
    }
    if (!vfsec_file_write_all(fd, tmpl, data, len, error)) {
        close(fd);
        unlink(tmpl);
        return NULL;
    }
    if (sync && fsync(fd) < 0) {
        int saved = errno;

        close(fd);
        unlink(tmpl);
        vfsec_file_set_error(error, saved, "fsync", tmpl);
        return NULL;
    }
    /* close() can report a deferred write error (NFS); the fd is gone either way. */
    if (close(fd) < 0) {
        vfsec_file_set_error(error, errno, "close", tmpl);
        unlink(tmpl);
        return NULL;
    }
    return g_path_get_basename(tmpl);
}

char *
vfsec_file_stage(const char *dir, const char *name, const void *data, gsize len, int mode,
                 GError **error)
{
    return vfsec_file_stage_full(dir, name, data, len, mode, TRUE, error);
}

char *
vfsec_file_stage_unsynced(const char *dir, const char *name, const void *data, gsize len,
                          int mode, GError **error)
{
    return vfsec_file_stage_full(dir, name, data, len, mode, FALSE, error);
}

gboolean
vfsec_file_commit_unsynced(const char *dir, const char *staged, const char *name,
                           GError **error)
{
    g_autofree char *from = NULL;
    g_autofree char *to = NULL;

    g_return_val_if_fail(dir != NULL && staged != NULL && name != NULL, FALSE);

    from = g_build_filename(dir, staged, NULL);
    to = g_build_filename(dir, name, NULL);
    /* Exchanging the two names, then removing the old file under the staged
     * name, is as atomic for readers as a rename over @name, and ext4 does
     * not flush the staged file's data first as it does when a rename
     * replaces a file (auto_da_alloc: ~0.2 ms per replace here); a staged
     * file still fsyncs it (vfsec_file_stage), an unsynced one leaves it to
     * its caller. A crash between the two steps leaves a staged file, as
     * one before the rename would. Without the file (ENOENT) or where the
     * file system cannot exchange (EINVAL), a plain rename. */
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) == 0) {
        if (unlink(from) < 0)
            g_debug("cannot remove the replaced %s (removed at the next clean-up): %s", from,
                    g_strerror(errno));
        return TRUE;
    }
    if (errno != ENOENT && errno != EINVAL && errno != ENOSYS) {
        int saved = errno;

        unlink(from);
        return vfsec_file_set_error(error, saved, "exchange a staged file with", to);
    }
    if (rename(from, to) < 0) {
        int saved = errno;

        unlink(from);
        return vfsec_file_set_error(error, saved, "rename a staged file over", to);
    }
    return TRUE;
}

gboolean
vfsec_file_commit(const char *dir, const char *staged, const char *name, GError **error)
{
    return vfsec_file_commit_unsynced(dir, staged, name, error) && vfsec_dir_sync(dir, error);
}

gboolean
vfsec_file_replace(const char *dir, const char *name, const void *data, gsize len, int mode,
                   GError **error)
{
    g_autofree char *staged = vfsec_file_stage(dir, name, data, len, mode, error);

    return staged && vfsec_file_commit(dir, staged, name, error);
}

gboolean
vfsec_file_is_staged(const char *basename)
{
    const char *suffix = ".tmp-XXXXXX";
    gsize len = strlen(basename);
    gsize slen = strlen(suffix);

    return len > slen + 1 && basename[0] == '.' &&
           strncmp(basename + len - slen, suffix, 5) == 0;
}

gboolean
vfsec_file_clean_staged(const char *dir, guint *removed, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &local);
    guint n = 0;

    if (removed)
        *removed = 0;
    if (!d) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot list %s: %s",
                    dir, local->message);
        return FALSE;
    }
    for (const char *name; (name = g_dir_read_name(d));) {
        g_autofree char *path = NULL;

        if (!vfsec_file_is_staged(name))
            continue;
        path = g_build_filename(dir, name, NULL);
        if (unlink(path) < 0 && errno != ENOENT)
            return vfsec_file_set_error(error, errno, "remove", path);
        g_debug("removed %s, left by an interrupted write", path);
        n++;
    }
    if (removed)
        *removed = n;
    return TRUE;
}
