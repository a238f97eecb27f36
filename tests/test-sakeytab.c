/* test-sakeytab.c: the SA key table against a plain model, collisions forced. */
#include <string.h>

#include "vfsec-sakeytab.h"

/* The records: a flat array indexed by SA index, as in the agent and the PF
 * driver. The hash a test uses for a record is chosen by the test, so that
 * runs, collisions and wrap-around at the end of the bucket array happen on
 * purpose. */
#define N_SLOTS 512

typedef struct {
    VfsecWireSaKey keys[N_SLOTS];
    gboolean used[N_SLOTS];
    guint hash[N_SLOTS];
    guint key_at_calls;
} Records;

static const VfsecWireSaKey *
key_at(guint32 index, gpointer data)
{
    Records *r = data;

    r->key_at_calls++;
    return index < N_SLOTS && r->used[index] ? &r->keys[index] : NULL;
}

static VfsecWireSaKey
make_key(guint32 spi)
{
    VfsecWireSaKey key = { 0 };

    key.family = 4;
    key.proto = VFSEC_WIRE_PROTO_ESP;
    key.spi = spi;
    key.dst[0] = 192;
    key.dst[3] = 7;
    key.mac.b[0] = 0x52;
    vfsec_wire_sa_key_normalize(&key);
    return key;
}

static void
put(VfsecSaKeyTab *tab, Records *r, guint32 index, guint32 spi, guint hash)
{
    r->keys[index] = make_key(spi);
    r->used[index] = TRUE;
    r->hash[index] = hash;
    vfsec_sa_keytab_insert(tab, hash, index);
}

static void
drop(VfsecSaKeyTab *tab, Records *r, guint32 index)
{
    g_assert_true(vfsec_sa_keytab_remove(tab, r->hash[index], index));
    r->used[index] = FALSE;
}

/* Every used record is found under its key, and the count agrees. */
static void
check_all(VfsecSaKeyTab *tab, Records *r)
{
    guint n = 0;

    for (guint32 i = 0; i < N_SLOTS; i++) {
        guint32 found = G_MAXUINT32;

        if (!r->used[i])
            continue;
        n++;
        g_assert_true(vfsec_sa_keytab_lookup(tab, &r->keys[i], r->hash[i], &found));
        g_assert_cmpuint(found, ==, i);
    }
    g_assert_cmpuint(vfsec_sa_keytab_size(tab), ==, n);
}

/* All keys on one hash: one long run; removing from its middle and its
 * start must leave every other key reachable. */
static void
test_collisions(void)
{
    Records r = { 0 };
    g_autoptr(VfsecSaKeyTab) tab = vfsec_sa_keytab_new(key_at, &r);
    VfsecWireSaKey absent = make_key(999);
    guint32 index = 0;

    for (guint32 i = 0; i < 20; i++)
        put(tab, &r, i, 100 + i, 7);
    check_all(tab, &r);
    drop(tab, &r, 10);
    drop(tab, &r, 0);
    drop(tab, &r, 19);
    check_all(tab, &r);
    g_assert_false(vfsec_sa_keytab_lookup(tab, &absent, 7, &index));
    /* The same key under another hash is another bucket: not found. */
    g_assert_false(vfsec_sa_keytab_lookup(tab, &r.keys[5], 8, &index));
    /* Removing what is not there changes nothing. */
    g_assert_false(vfsec_sa_keytab_remove(tab, 7, 10));
    g_assert_false(vfsec_sa_keytab_remove(tab, 8, 5));
    check_all(tab, &r);
}

/* Runs that wrap from the last bucket to the first, mixed with keys whose
 * home is the first buckets; removals must not strand either kind. */
static void
test_wraparound(void)
{
    Records r = { 0 };
    g_autoptr(VfsecSaKeyTab) tab = vfsec_sa_keytab_new(key_at, &r);
    const guint top = 63;   /* the last bucket of the first table (64 buckets) */

    for (guint32 i = 0; i < 6; i++)
        put(tab, &r, i, 200 + i, top - 1);
    put(tab, &r, 6, 300, 0);
    put(tab, &r, 7, 301, 1);
    put(tab, &r, 8, 302, top);
    check_all(tab, &r);
    drop(tab, &r, 1);
    check_all(tab, &r);
    drop(tab, &r, 8);
    check_all(tab, &r);
    drop(tab, &r, 6);
    check_all(tab, &r);
}

/* Growth while full of collisions, and removal without key comparisons. */
static void
test_grow_and_remove(void)
{
    Records r = { 0 };
    g_autoptr(VfsecSaKeyTab) tab = vfsec_sa_keytab_new(key_at, &r);

    for (guint32 i = 0; i < N_SLOTS; i++)
        put(tab, &r, i, 0x1000 + i, i % 5);
    check_all(tab, &r);
    r.key_at_calls = 0;
    for (guint32 i = 0; i < N_SLOTS; i += 2)
        drop(tab, &r, i);
    g_assert_cmpuint(r.key_at_calls, ==, 0);
    check_all(tab, &r);
    vfsec_sa_keytab_clear(tab);
    g_assert_cmpuint(vfsec_sa_keytab_size(tab), ==, 0);
    for (guint32 i = 1; i < N_SLOTS; i += 2) {
        guint32 index;

        g_assert_false(vfsec_sa_keytab_lookup(tab, &r.keys[i], r.hash[i], &index));
    }
}

/* Random inserts and removals with few distinct hashes, against the model
 * (the records array itself), checked after every step. */
static void
test_model(void)
{
    Records r = { 0 };
    g_autoptr(VfsecSaKeyTab) tab = vfsec_sa_keytab_new(key_at, &r);
    g_autoptr(GRand) rand = g_rand_new_with_seed(0x5a5a);
    guint32 spi = 1;

    for (guint step = 0; step < 4000; step++) {
        guint32 i = (guint32)g_rand_int_range(rand, 0, N_SLOTS);
        guint hash = (guint)g_rand_int_range(rand, 0, 16) * 37u;

        if (r.used[i])
            drop(tab, &r, i);
        else
            put(tab, &r, i, spi++, hash);
        if (step % 50 == 0 || step > 3900)
            check_all(tab, &r);
    }
    check_all(tab, &r);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sakeytab/collisions", test_collisions);
    g_test_add_func("/sakeytab/wraparound", test_wraparound);
    g_test_add_func("/sakeytab/grow-and-remove", test_grow_and_remove);
    g_test_add_func("/sakeytab/model", test_model);
    return g_test_run();
}
