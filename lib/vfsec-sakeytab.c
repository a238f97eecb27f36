/* vfsec-sakeytab.c: SA key -> SA index, open addressing over (hash, index). */
#include "vfsec-sakeytab.h"

#include <string.h>

/*
 * Theory of operation
 *
 * Linear probing over buckets of (hash, index + 1); index + 1 == 0 marks an
 * empty bucket. The table is at most half full, so a probe run is short.
 * Keeping the hash in the bucket means that growing, removing and skipping
 * non-matching buckets never touch the records (a record is a cache miss
 * elsewhere in memory); only a lookup whose hash matches reads a key. A
 * removal empties its bucket and moves later members of the run back into
 * the hole where their probe sequence allows (deletion without tombstones),
 * so removing every SA of a domain leaves no debris behind and never
 * rehashes. The table does not shrink: its size is bounded by the SAD's
 * capacity anyway.
 */

typedef struct {
    guint hash;
    guint32 slot;         /* SA index + 1; 0: empty */
} Bucket;

struct _VfsecSaKeyTab {
    VfsecSaKeyAtFunc key_at;
    gpointer user_data;
    Bucket *buckets;
    guint size;           /* a power of two, or 0 before the first insert */
    guint count;
};

#define KEYTAB_MIN_SIZE 64

VfsecSaKeyTab *
vfsec_sa_keytab_new(VfsecSaKeyAtFunc key_at, gpointer user_data)
{
    VfsecSaKeyTab *tab = g_new0(VfsecSaKeyTab, 1);

    tab->key_at = key_at;
    tab->user_data = user_data;
    return tab;
}

void
vfsec_sa_keytab_free(VfsecSaKeyTab *tab)
{
    if (!tab)
        return;
    g_free(tab->buckets);
    g_free(tab);
}

guint
vfsec_sa_keytab_size(const VfsecSaKeyTab *tab)
{
    return tab->count;
}

static void
put(Bucket *buckets, guint mask, guint hash, guint32 slot)
{
    guint b = hash & mask;

    while (buckets[b].slot)
        b = (b + 1) & mask;
    buckets[b].hash = hash;
    buckets[b].slot = slot;
}

/* Room for one more key at a load of at most one half. */
static void
reserve(VfsecSaKeyTab *tab)
{
    g_autofree Bucket *old = NULL;
    guint old_size = tab->size;

    if ((tab->count + 1) * 2 <= tab->size)
        return;
    old = g_steal_pointer(&tab->buckets);
    tab->size = MAX(old_size * 2, (guint)KEYTAB_MIN_SIZE);
    tab->buckets = g_new0(Bucket, tab->size);
    for (guint i = 0; i < old_size; i++) {
        if (old[i].slot)
            put(tab->buckets, tab->size - 1, old[i].hash, old[i].slot);
    }
}

gboolean
vfsec_sa_keytab_lookup(const VfsecSaKeyTab *tab, const VfsecWireSaKey *key, guint hash,
                       guint32 *index)
{
    guint mask = tab->size - 1;

    if (tab->count == 0)
        return FALSE;
    for (guint b = hash & mask; tab->buckets[b].slot; b = (b + 1) & mask) {
        const VfsecWireSaKey *have;

        if (tab->buckets[b].hash != hash)
            continue;
        have = tab->key_at(tab->buckets[b].slot - 1, tab->user_data);
        if (have && vfsec_wire_sa_key_equal(have, key)) {
            *index = tab->buckets[b].slot - 1;
            return TRUE;
        }
    }
    return FALSE;
}

void
vfsec_sa_keytab_insert(VfsecSaKeyTab *tab, guint hash, guint32 index)
{
    g_return_if_fail(index < G_MAXUINT32);

    reserve(tab);
    put(tab->buckets, tab->size - 1, hash, index + 1);
    tab->count++;
}

gboolean
vfsec_sa_keytab_remove(VfsecSaKeyTab *tab, guint hash, guint32 index)
{
    guint mask = tab->size - 1;
    guint b;
    guint next;

    if (tab->count == 0)
        return FALSE;
    for (b = hash & mask; tab->buckets[b].slot != index + 1 || tab->buckets[b].hash != hash;
         b = (b + 1) & mask) {
        if (!tab->buckets[b].slot)
            return FALSE;
    }
    tab->buckets[b].slot = 0;
    tab->count--;
    for (next = (b + 1) & mask; tab->buckets[next].slot; next = (next + 1) & mask) {
        guint home = tab->buckets[next].hash & mask;

        /* The member at @next may fill the hole at @b unless its home lies
         * cyclically in (b, next]: then moving it would hide it from its own
         * probe sequence. */
        if (((next - home) & mask) >= ((next - b) & mask)) {
            tab->buckets[b] = tab->buckets[next];
            tab->buckets[next].slot = 0;
            b = next;
        }
    }
    return TRUE;
}

void
vfsec_sa_keytab_prefetch(const VfsecSaKeyTab *tab, guint hash)
{
    const Bucket *first;

    if (!tab->size)
        return;
    first = &tab->buckets[hash & (tab->size - 1)];
    __builtin_prefetch(first, 1);
    /* A run (and a removal's backward shift) often crosses into the next
     * cache line; the end of the array wraps, where a run is rare. */
    if (first + 8 < tab->buckets + tab->size)
        __builtin_prefetch(first + 8, 1);
}

void
vfsec_sa_keytab_clear(VfsecSaKeyTab *tab)
{
    if (tab->buckets)
        memset(tab->buckets, 0, tab->size * sizeof(*tab->buckets));
    tab->count = 0;
}
