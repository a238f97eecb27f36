/* vfsec-sakeytab.h: a table from SA key to SA index for an SAD whose records
 * live in a flat array indexed by SA index (the agent's SAD and the PF
 * driver's SA database). */
#pragma once

#include <glib.h>

#include "vfsec-wire.h"

G_BEGIN_DECLS

/* The canonical key of the record at @index, or NULL when the slot is free. */
typedef const VfsecWireSaKey *(*VfsecSaKeyAtFunc)(guint32 index, gpointer user_data);

typedef struct _VfsecSaKeyTab VfsecSaKeyTab;

/* An empty table. The records stay the caller's: the table keeps each key's
 * hash (vfsec_wire_sa_key_hash()) and index, and asks @key_at for the key
 * only to compare on lookup. */
VfsecSaKeyTab *vfsec_sa_keytab_new(VfsecSaKeyAtFunc key_at, gpointer user_data);
void vfsec_sa_keytab_free(VfsecSaKeyTab *tab);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecSaKeyTab, vfsec_sa_keytab_free)

/* Keys in the table. */
guint vfsec_sa_keytab_size(const VfsecSaKeyTab *tab);
/* The index of @key (canonical, hashing to @hash): TRUE and *@index, or FALSE. */
gboolean vfsec_sa_keytab_lookup(const VfsecSaKeyTab *tab, const VfsecWireSaKey *key, guint hash,
                                guint32 *index);
/* Adds @index under @hash; the caller made sure its key is not in the table. */
void vfsec_sa_keytab_insert(VfsecSaKeyTab *tab, guint hash, guint32 index);
/* Removes @index, added under @hash: compares no key and touches only the
 * table. Returns FALSE (and changes nothing) when it is not there. */
gboolean vfsec_sa_keytab_remove(VfsecSaKeyTab *tab, guint hash, guint32 index);
void vfsec_sa_keytab_clear(VfsecSaKeyTab *tab);
/* Starts loading the buckets where @hash's probe begins. The buckets of a
 * large SAD are cache misses in random order; a caller about to remove or
 * look up many keys (a frame of 124 removals) prefetches them all first, so
 * the misses overlap instead of queueing one by one. A hint only. */
void vfsec_sa_keytab_prefetch(const VfsecSaKeyTab *tab, guint hash);

G_END_DECLS
