/* vfsec-file.h: files read with a bound and replaced atomically (stage +
 * fsync + rename + directory fsync): what the journal, the configuration,
 * the local-MAC tables and the XML readers share. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sets @error (NULL allowed) for the system-call failure @err of "@what
 * @path", e.g. "cannot open /x: No such file or directory":
 * VFSEC_ERROR_NOT_FOUND for ENOENT, VFSEC_ERROR_IO otherwise. Returns FALSE. */
gboolean vfsec_file_set_error(GError **error, int err, const char *what, const char *path);

/* Reads @fd to its end into *data (new, NUL-terminated; *len excludes the
 * NUL), refusing more than @max bytes (VFSEC_ERROR_TOO_LARGE) as soon as they
 * arrive, so an endless stream cannot exhaust memory. @name names the input
 * in errors. @fd stays open. */
gboolean vfsec_file_read_fd(int fd, const char *name, gsize max, char **data, gsize *len,
                            GError **error);

/* Reads the regular file @path whole into *data (new, NUL-terminated; *len
 * excludes the NUL). Refuses anything that is not a regular file
 * (VFSEC_ERROR_INVALID), so a wrong path such as /dev/zero cannot exhaust
 * memory, and more than @max bytes (VFSEC_ERROR_TOO_LARGE). A missing file
 * is VFSEC_ERROR_NOT_FOUND. */
gboolean vfsec_file_read_max(const char *path, gsize max, char **data, gsize *len,
                             GError **error);

/* Reads a command's input: @path "-" is standard input, anything else is
 * opened whatever its type (a pipe, /dev/stdin), and read as by
 * vfsec_file_read_fd(). A missing file is VFSEC_ERROR_NOT_FOUND. */
gboolean vfsec_file_read_input(const char *path, gsize max, char **data, gsize *len,
                               GError **error);

/* Writes @data to a new staged file in @dir (".NAME.tmp-XXXXXX", mode @mode)
 * and fsyncs it; @name itself is not touched. Returns the staged file's base
 * name (new string), or NULL with nothing left behind. */
char *vfsec_file_stage(const char *dir, const char *name, const void *data, gsize len,
                       int mode, GError **error);
/* vfsec_file_stage() without the fsync: for a caller that makes the file
 * durable later (fsync of @name after the rename, then of @dir). Until
 * then a kernel crash may leave @name empty or torn; a vfsecd crash cannot
 * (the page cache survives it). */
char *vfsec_file_stage_unsynced(const char *dir, const char *name, const void *data,
                                gsize len, int mode, GError **error);
/* Renames the staged file over @name and fsyncs @dir. On failure the staged
 * file is removed; @name holds either its old or its new content, never a
 * mix, and may already be the new one when only the directory fsync failed. */
gboolean vfsec_file_commit(const char *dir, const char *staged, const char *name,
                           GError **error);
/* The rename of vfsec_file_commit() without the directory fsync: after a
 * crash @name may be the old file again (each is whole: both were fsynced),
 * until a vfsec_dir_sync() of @dir, or any later commit in it. */
gboolean vfsec_file_commit_unsynced(const char *dir, const char *staged, const char *name,
                                    GError **error);
/* fsync()s the file @path (written unsynced before); a missing file is
 * VFSEC_ERROR_NOT_FOUND. */
gboolean vfsec_file_sync(const char *path, GError **error);
/* fsync()s the directory @dir: the renames done in it are durable. */
gboolean vfsec_dir_sync(const char *dir, GError **error);
/* Stage + commit: a reader of @dir/@name sees the old file or the new one. */
gboolean vfsec_file_replace(const char *dir, const char *name, const void *data, gsize len,
                            int mode, GError **error);
/* TRUE when @basename is a staged file that vfsec_file_stage() would name. */
gboolean vfsec_file_is_staged(const char *basename);
/* Removes the staged files a crash left in @dir; *removed (optional) counts
 * them. A missing @dir is not an error. */
gboolean vfsec_file_clean_staged(const char *dir, guint *removed, GError **error);

G_END_DECLS
