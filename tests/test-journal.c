/* test-journal.c: the journal survives crashes (an intent never marked done is
 * pending after reopening), torn and damaged files (reported, set aside, the
 * other VFs kept), staged leftovers, and failed writes (nothing changes).
 *
 * Concurrent writers are not tested because they are not supported: one
 * vfsecd owns its state directory and calls the journal from one thread. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "vfsec-error.h"
#include "vfsec-file.h"
#include "vfsec-journal.h"
#include "vfsec-test-util.h"

#define UUID_A "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
#define UUID_B "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"

static VfsecJournal *
open_clean(const char *dir)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) warnings = NULL;
    VfsecJournal *journal = vfsec_journal_open(dir, &warnings, &error);

    g_assert_no_error(error);
    g_assert_nonnull(journal);
    g_assert_cmpuint(warnings->len, ==, 0);
    return journal;
}

static VfsecJournalAssignment *
make_assignment(const char *pf, guint vf, const char *owner, const char *uuid)
{
    VfsecJournalAssignment *a = vfsec_journal_assignment_new(pf, vf);
    g_autofree char *pci = g_strdup_printf("0000:3b:%02x.%u", 2 + vf / 8, vf % 8);
    g_autofree char *mac = g_strdup_printf("52:54:00:00:%02x:%02x", vf / 256, vf % 256);
    guint16 vlans[] = { 42, (guint16)(100 + vf) };

    a->owner_name = g_strdup(owner);
    a->owner_uuid = g_strdup(uuid);
    a->has_pci = TRUE;
    g_assert_true(vfsec_pci_addr_parse(pci, &a->pci, NULL));
    a->has_mac = TRUE;
    g_assert_true(vfsec_mac_parse(mac, &a->mac, NULL));
    g_array_append_vals(a->vlans, vlans, G_N_ELEMENTS(vlans));
    a->trust = VFSEC_TRUST_UNTRUSTED;
    a->quarantined = TRUE;
    a->published = vf % 2;
    return a;
}

static void
assert_assignment_equal(const VfsecJournalAssignment *a, const VfsecJournalAssignment *b)
{
    g_assert_cmpstr(a->pf, ==, b->pf);
    g_assert_cmpuint(a->vf, ==, b->vf);
    g_assert_cmpint(a->has_pci, ==, b->has_pci);
    g_assert_true(!a->has_pci || vfsec_pci_addr_equal(&a->pci, &b->pci));
    g_assert_cmpstr(a->owner_name, ==, b->owner_name);
    g_assert_cmpstr(a->owner_uuid, ==, b->owner_uuid);
    g_assert_cmpint(a->has_mac, ==, b->has_mac);
    g_assert_true(!a->has_mac || vfsec_mac_equal(&a->mac, &b->mac));
    g_assert_cmpmem(a->vlans->data, a->vlans->len * sizeof(guint16),
                    b->vlans->data, b->vlans->len * sizeof(guint16));
    g_assert_cmpint(a->trust, ==, b->trust);
    g_assert_cmpint(a->quarantined, ==, b->quarantined);
    g_assert_cmpint(a->published, ==, b->published);
}

/* ------------------------------------------------------------------ */

/* Record an intent, "crash" (drop the journal without marking it done),
 * reopen: the operation is pending, with everything it was recorded with. */
static void
test_intent_survives_crash(void)
{
    g_autofree char *dir = vfsec_test_make_dir("test-journal");
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    g_autoptr(GPtrArray) pending = NULL;
    g_autoptr(GError) error = NULL;
    const VfsecJournalOp *op;
    guint64 reclaim = 0, release = 0;

    g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p0", 3,
                                              "web1", UUID_A, &reclaim, &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RELEASE, "p1", 0,
                                              NULL, NULL, &release, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(reclaim, >, 0);
    g_assert_cmpuint(release, >, reclaim);
    g_clear_pointer(&journal, vfsec_journal_free);

    journal = open_clean(dir);
    pending = vfsec_journal_list_pending(journal);
    g_assert_cmpuint(pending->len, ==, 2);
    op = g_ptr_array_index(pending, 0);
    g_assert_cmpuint(op->id, ==, reclaim);
    g_assert_cmpint(op->kind, ==, VFSEC_JOURNAL_OP_RECLAIM);
    g_assert_cmpint(op->state, ==, VFSEC_JOURNAL_STATE_INTENT);
    g_assert_cmpstr(op->pf, ==, "p0");
    g_assert_cmpuint(op->vf, ==, 3);
    g_assert_cmpstr(op->owner_name, ==, "web1");
    g_assert_cmpstr(op->owner_uuid, ==, UUID_A);
    op = g_ptr_array_index(pending, 1);
    g_assert_cmpuint(op->id, ==, release);
    g_assert_cmpint(op->kind, ==, VFSEC_JOURNAL_OP_RELEASE);
    g_assert_null(op->owner_name);
    g_assert_null(op->owner_uuid);

    /* Done after the restart: gone for good. */
    g_assert_true(vfsec_journal_mark_done(journal, reclaim, &error));
    g_assert_no_error(error);
    g_clear_pointer(&journal, vfsec_journal_free);
    journal = open_clean(dir);
    g_clear_pointer(&pending, g_ptr_array_unref);
    pending = vfsec_journal_list_pending(journal);
    g_assert_cmpuint(pending->len, ==, 1);
    g_assert_cmpuint(((VfsecJournalOp *)g_ptr_array_index(pending, 0))->id, ==, release);

    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

/* The pending operations a vfsecd restarted now would read. */
static guint
pending_on_disk(const char *dir)
{
    g_autoptr(VfsecJournal) reader = open_clean(dir);
    g_autoptr(GPtrArray) pending = vfsec_journal_list_pending(reader);

    return pending->len;
}

/* Staged changes are in memory at once and reach the file with the VF's
 * next written change or write_staged(), one write for all of them; what
 * a restarted reader sees until then is the last written state. */
static void
test_staged(void)
{
    g_autofree char *dir = vfsec_test_make_dir("test-journal");
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    g_autoptr(VfsecJournalAssignment) a = vfsec_journal_assignment_new("p0", 2);
    g_autoptr(GPtrArray) pending = NULL;
    g_autoptr(GError) error = NULL;
    guint64 reclaim = 0, release = 0;

    a->owner_name = g_strdup("web1");
    a->owner_uuid = g_strdup(UUID_A);
    g_assert_true(vfsec_journal_stage_assignment(journal, a, &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_journal_has_staged(journal));
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, 0);
    g_assert_cmpstr(vfsec_journal_get_assignment(journal, "p0", 2)->owner_name, ==, "web1");
    {
        g_autoptr(VfsecJournal) reader = open_clean(dir);

        g_assert_null(vfsec_journal_get_assignment(reader, "p0", 2));
    }

    /* The intent's write carries the staged assignment: one file write. */
    g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p0", 2,
                                              "web1", UUID_A, &reclaim, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, 1);
    g_assert_false(vfsec_journal_has_staged(journal));
    {
        g_autoptr(VfsecJournal) reader = open_clean(dir);

        g_assert_cmpstr(vfsec_journal_get_assignment(reader, "p0", 2)->owner_uuid, ==,
                        UUID_A);
    }
    g_assert_cmpuint(pending_on_disk(dir), ==, 1);

    /* A staged done and a staged intent: memory now, the disk later. */
    g_assert_true(vfsec_journal_stage_done(journal, reclaim, &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_journal_stage_intent(journal, VFSEC_JOURNAL_OP_RELEASE, "p0", 2,
                                             "web1", UUID_A, &release, &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_journal_stage_clear_assignment(journal, "p0", 2, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(release, >, reclaim);
    pending = vfsec_journal_list_pending(journal);
    g_assert_cmpuint(pending->len, ==, 1);
    g_assert_cmpuint(((VfsecJournalOp *)g_ptr_array_index(pending, 0))->id, ==, release);
    g_assert_null(vfsec_journal_get_assignment(journal, "p0", 2));
    g_assert_cmpuint(pending_on_disk(dir), ==, 1);      /* still the reclaim */
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, 1);

    g_assert_true(vfsec_journal_write_staged(journal, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, 2);     /* three changes, one write */
    g_assert_false(vfsec_journal_has_staged(journal));
    {
        g_autoptr(VfsecJournal) reader = open_clean(dir);
        g_autoptr(GPtrArray) on_disk = vfsec_journal_list_pending(reader);

        g_assert_cmpuint(on_disk->len, ==, 1);
        g_assert_cmpuint(((VfsecJournalOp *)g_ptr_array_index(on_disk, 0))->id, ==, release);
        g_assert_null(vfsec_journal_get_assignment(reader, "p0", 2));
    }

    /* Marking done goes through the operation index: an id never recorded,
     * and one already done, are refused by name. */
    g_assert_false(vfsec_journal_mark_done(journal, release + 100, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_false(vfsec_journal_stage_done(journal, reclaim, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    {
        g_autofree char *want = g_strdup_printf("journal operation %" G_GUINT64_FORMAT
                                                " is already done", reclaim);

        g_assert_cmpstr(error->message, ==, want);
    }
    g_clear_error(&error);

    /* Staged at the end: the journal writes it when it is freed. */
    g_assert_true(vfsec_journal_stage_done(journal, release, &error));
    g_assert_no_error(error);
    vfsec_journal_sync(journal);
    g_clear_pointer(&journal, vfsec_journal_free);
    g_assert_cmpuint(pending_on_disk(dir), ==, 0);
    vfsec_test_remove_dir(dir);
}

/* Ids grow across reopenings, even when the newest operation is done. */
static void
test_sequence_monotonic(void)
{
    g_autofree char *dir = vfsec_test_make_dir("test-journal");
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    guint64 last = 0;

    for (guint round = 0; round < 4; round++) {
        for (guint i = 0; i < 3; i++) {
            guint64 id = 0;

            g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_QUARANTINE,
                                                      "p0", i, NULL, NULL, &id, NULL));
            g_assert_cmpuint(id, >, last);
            last = id;
            g_assert_true(vfsec_journal_mark_done(journal, id, NULL));
        }
        g_clear_pointer(&journal, vfsec_journal_free);
        journal = open_clean(dir);
    }
    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

/* Reads one VF file's JSON (after its checksummed prefix, it is plain JSON). */
static JsonNode *
read_vf_json(const char *dir, const char *name)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_file(parser, path, &error);
    g_assert_no_error(error);
    return json_node_copy(json_parser_get_root(parser));
}

static void
test_file_format(void)
{
    g_autofree char *dir = vfsec_test_make_dir("test-journal");
    g_autofree char *path = g_build_filename(dir, "vf-p0-3.json", NULL);
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    g_autofree char *sum = NULL;
    JsonObject *obj;
    JsonArray *ops;
    guint64 a = 0, b = 0, c = 0;
    gsize len;

    g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p0", 3,
                                              "web1", UUID_A, &a, NULL));
    g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_QUARANTINE, "p0", 3,
                                              "web1", UUID_A, &b, NULL));
    g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_PUBLISH, "p0", 3,
                                              "web1", UUID_A, &c, NULL));
    g_assert_true(vfsec_journal_mark_done(journal, a, NULL));
    g_assert_true(vfsec_journal_mark_done(journal, c, NULL));

    /* {"version":1,"sha256":"<sha256 of everything after this prefix>",... */
    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    g_assert_true(g_str_has_prefix(text, "{\"version\":1,\"sha256\":\""));
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text + 23 + 64 + 2, -1);
    g_assert_cmpmem(text + 23, 64, sum, 64);

    /* The pending intent first, then only the latest done operation. */
    root = read_vf_json(dir, "vf-p0-3.json");
    obj = json_node_get_object(root);
    g_assert_cmpint(json_object_get_int_member(obj, "version"), ==, 1);
    g_assert_cmpstr(json_object_get_string_member(obj, "pf"), ==, "p0");
    g_assert_cmpint(json_object_get_int_member(obj, "vf"), ==, 3);
    g_assert_true(json_object_get_null_member(obj, "assignment"));
    ops = json_object_get_array_member(obj, "operations");
    g_assert_cmpuint(json_array_get_length(ops), ==, 2);
    obj = json_array_get_object_element(ops, 0);
    g_assert_cmpint(json_object_get_int_member(obj, "id"), ==, (gint64)b);
    g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "intent");
    obj = json_array_get_object_element(ops, 1);
    g_assert_cmpint(json_object_get_int_member(obj, "id"), ==, (gint64)c);
    g_assert_cmpstr(json_object_get_string_member(obj, "kind"), ==, "publish");
    g_assert_cmpstr(json_object_get_string_member(obj, "state"), ==, "done");

    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

static void
test_assignments(void)
{
    g_autofree char *dir = vfsec_test_make_dir("test-journal");
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    g_autoptr(VfsecJournalAssignment) a0 = make_assignment("p1", 0, "db", UUID_B);
    g_autoptr(VfsecJournalAssignment) a1 = make_assignment("p0", 12, "web1", UUID_A);
    g_autoptr(VfsecJournalAssignment) a2 = make_assignment("p0", 2, "web2", UUID_B);
    g_autoptr(VfsecJournalAssignment) bare = vfsec_journal_assignment_new("p0", 7);
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GError) error = NULL;

    bare->owner_name = g_strdup("bare");
    bare->owner_uuid = g_strdup(UUID_A);
    bare->trust = VFSEC_TRUST_TRUSTED;
    for (guint round = 0; round < 2; round++) {
        g_assert_true(vfsec_journal_set_assignment(journal, a0, &error));
        g_assert_true(vfsec_journal_set_assignment(journal, a1, &error));
        g_assert_true(vfsec_journal_set_assignment(journal, a2, &error));
        g_assert_true(vfsec_journal_set_assignment(journal, bare, &error));
        g_assert_no_error(error);
    }
    /* The journal keeps its own copy. */
    g_assert_true(vfsec_journal_get_assignment(journal, "p0", 12) != a1);
    g_clear_pointer(&journal, vfsec_journal_free);

    journal = open_clean(dir);
    list = vfsec_journal_list_assignments(journal);
    g_assert_cmpuint(list->len, ==, 4);
    /* By PF label, then VF index as a number. */
    assert_assignment_equal(g_ptr_array_index(list, 0), a2);
    assert_assignment_equal(g_ptr_array_index(list, 1), bare);
    assert_assignment_equal(g_ptr_array_index(list, 2), a1);
    assert_assignment_equal(g_ptr_array_index(list, 3), a0);
    assert_assignment_equal(vfsec_journal_get_assignment(journal, "p0", 12), a1);
    g_assert_null(vfsec_journal_get_assignment(journal, "p0", 13));

    /* A new owner replaces the old one; clearing forgets it, durably. */
    g_free(a1->owner_name);
    a1->owner_name = g_strdup("web3");
    a1->quarantined = FALSE;
    g_assert_true(vfsec_journal_set_assignment(journal, a1, NULL));
    g_assert_true(vfsec_journal_clear_assignment(journal, "p1", 0, &error));
    g_assert_true(vfsec_journal_clear_assignment(journal, "p1", 9, &error));
    g_assert_no_error(error);
    g_clear_pointer(&journal, vfsec_journal_free);
    journal = open_clean(dir);
    g_clear_pointer(&list, g_ptr_array_unref);
    list = vfsec_journal_list_assignments(journal);
    g_assert_cmpuint(list->len, ==, 3);
    assert_assignment_equal(vfsec_journal_get_assignment(journal, "p0", 12), a1);
    g_assert_null(vfsec_journal_get_assignment(journal, "p1", 0));

    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

/* The same assignment again writes nothing (a steady-state reconcile saves
 * every owned VF): the write counter and the file's inode stay; any field
 * that changes is written, and a reopened journal sees it. */
static void
test_assignment_unchanged_not_written(void)
{
    g_autofree char *dir = vfsec_test_make_dir("test-journal");
    g_autofree char *path = g_build_filename(dir, "vf-p0-3.json", NULL);
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    g_autoptr(VfsecJournalAssignment) a = make_assignment("p0", 3, "web1", UUID_A);
    g_autoptr(VfsecJournalAssignment) same = NULL;
    g_autoptr(GError) error = NULL;
    GStatBuf before, after;
    guint64 writes;

    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, 0);
    g_assert_true(vfsec_journal_set_assignment(journal, a, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, 1);
    g_assert_cmpint(g_stat(path, &before), ==, 0);

    /* An equal copy, not the same pointer. */
    same = vfsec_journal_assignment_copy(a);
    g_assert_true(vfsec_journal_assignment_equal(same, a));
    for (guint i = 0; i < 3; i++)
        g_assert_true(vfsec_journal_set_assignment(journal, same, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, 1);
    g_assert_cmpint(g_stat(path, &after), ==, 0);
    g_assert_cmpuint(after.st_ino, ==, before.st_ino);

    /* Each field counts. */
    writes = vfsec_journal_get_writes(journal);
    same->published = !same->published;
    g_assert_false(vfsec_journal_assignment_equal(same, a));
    g_assert_true(vfsec_journal_set_assignment(journal, same, &error));
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, ++writes);
    g_array_index(same->vlans, guint16, 1) = 7;
    g_assert_true(vfsec_journal_set_assignment(journal, same, &error));
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, ++writes);
    same->mac.b[5] ^= 1;
    g_assert_true(vfsec_journal_set_assignment(journal, same, &error));
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, ++writes);
    g_free(same->owner_uuid);
    same->owner_uuid = g_strdup(UUID_B);
    g_assert_true(vfsec_journal_set_assignment(journal, same, &error));
    g_assert_cmpuint(vfsec_journal_get_writes(journal), ==, ++writes);
    g_assert_no_error(error);
    g_assert_false(vfsec_journal_assignment_equal(NULL, a));
    g_assert_true(vfsec_journal_assignment_equal(NULL, NULL));

    g_clear_pointer(&journal, vfsec_journal_free);
    journal = open_clean(dir);
    assert_assignment_equal(vfsec_journal_get_assignment(journal, "p0", 3), same);
    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

static void
test_invalid_requests(void)
{
    g_autofree char *dir = vfsec_test_make_dir("test-journal");
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    g_autoptr(VfsecJournalAssignment) a = make_assignment("p0", 1, "web1", UUID_A);
    g_autoptr(GPtrArray) pending = NULL;
    g_autoptr(GError) error = NULL;
    guint64 id = 0;

    g_assert_false(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p/0", 1,
                                               NULL, NULL, &id, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p0",
                                               VFSEC_JOURNAL_VF_MAX + 1, NULL, NULL, &id,
                                               &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p0", 1,
                                               "web1", NULL, &id, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p0", 1,
                                               "web1", "not-a-uuid", &id, NULL));

    g_assert_false(vfsec_journal_mark_done(journal, 12345, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p0", 1,
                                              NULL, NULL, &id, NULL));
    g_assert_true(vfsec_journal_mark_done(journal, id, NULL));
    g_assert_false(vfsec_journal_mark_done(journal, id, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_clear_error(&error);

    g_clear_pointer(&a->owner_uuid, g_free);
    g_assert_false(vfsec_journal_set_assignment(journal, a, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    a->owner_uuid = g_strdup(UUID_A);
    g_array_append_val(a->vlans, (guint16){ 4096 });
    g_assert_false(vfsec_journal_set_assignment(journal, a, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);

    pending = vfsec_journal_list_pending(journal);
    g_assert_cmpuint(pending->len, ==, 0);
    g_assert_null(vfsec_journal_get_assignment(journal, "p0", 1));
    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

/* ------------------------------------------------------------------ */
/* Damage */

/* Three VFs: p0/1 and p0/3 and p1/2, each with an assignment and a pending
 * intent. Returns the journal directory. */
static char *
make_three(void)
{
    char *dir = vfsec_test_make_dir("test-journal");
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    const struct {
        const char *pf;
        guint vf;
    } vfs[] = { { "p0", 1 }, { "p0", 3 }, { "p1", 2 } };

    for (guint i = 0; i < G_N_ELEMENTS(vfs); i++) {
        g_autoptr(VfsecJournalAssignment) a = make_assignment(vfs[i].pf, vfs[i].vf, "web1",
                                                              UUID_A);
        guint64 id;

        g_assert_true(vfsec_journal_set_assignment(journal, a, NULL));
        g_assert_true(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_PUBLISH,
                                                  vfs[i].pf, vfs[i].vf, "web1", UUID_A, &id,
                                                  NULL));
    }
    return dir;
}

/* Opens @dir where vf-p0-3.json was damaged: exactly that file is reported,
 * set aside, and the two others are intact. */
static void
assert_only_victim_rejected(const char *dir, const char *what)
{
    g_autofree char *victim = g_build_filename(dir, "vf-p0-3.json", NULL);
    g_autofree char *aside = g_build_filename(dir, "vf-p0-3.json.rejected", NULL);
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecJournal) journal = vfsec_journal_open(dir, &warnings, &error);
    g_autoptr(GPtrArray) pending = NULL;
    g_autoptr(GPtrArray) assigned = NULL;
    const GError *warning;

    g_assert_no_error(error);
    if (warnings->len != 1)
        g_error("%s: %u warnings, expected 1", what, warnings->len);
    warning = g_ptr_array_index(warnings, 0);
    g_assert_true(warning->domain == VFSEC_ERROR);
    if (!strstr(warning->message, victim))
        g_error("%s: warning '%s' does not name %s", what, warning->message, victim);
    g_assert_false(g_file_test(victim, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(aside, G_FILE_TEST_EXISTS));
    g_assert_cmpint(g_unlink(aside), ==, 0);

    assigned = vfsec_journal_list_assignments(journal);
    pending = vfsec_journal_list_pending(journal);
    g_assert_cmpuint(assigned->len, ==, 2);
    g_assert_cmpuint(pending->len, ==, 2);
    g_assert_nonnull(vfsec_journal_get_assignment(journal, "p0", 1));
    g_assert_nonnull(vfsec_journal_get_assignment(journal, "p1", 2));
    g_assert_null(vfsec_journal_get_assignment(journal, "p0", 3));
}

typedef enum {
    DAMAGE_TRUNCATE,            /* a torn write: the file cut at every length */
    DAMAGE_FLIP,                /* one bit flipped in every byte in turn */
} Damage;

static void
test_damage(gconstpointer data)
{
    Damage damage = GPOINTER_TO_INT(data);
    g_autofree char *dir = make_three();
    g_autofree char *victim = g_build_filename(dir, "vf-p0-3.json", NULL);
    g_autofree char *good = NULL;
    gsize len;

    g_assert_true(g_file_get_contents(victim, &good, &len, NULL));
    g_assert_cmpuint(len, >, 100);
    for (gsize at = 0; at < len; at++) {
        g_autofree char *bad = g_memdup2(good, len);
        g_autofree char *what = g_strdup_printf("%s at byte %zu of %zu",
                                                damage == DAMAGE_FLIP ? "flipped" : "cut",
                                                at, len);

        if (damage == DAMAGE_FLIP)
            bad[at] ^= 0x01;
        g_assert_true(g_file_set_contents(victim, bad,
                                          (gssize)(damage == DAMAGE_FLIP ? len : at), NULL));
        assert_only_victim_rejected(dir, what);
    }
    vfsec_test_remove_dir(dir);
}

/* Files that are intact but not acceptable: another version, the wrong name,
 * a directory, trailing garbage, an oversized file. */
static void
test_rejected_files(void)
{
    g_autofree char *dir = make_three();
    g_autofree char *victim = g_build_filename(dir, "vf-p0-3.json", NULL);
    g_autofree char *other = g_build_filename(dir, "vf-p0-1.json", NULL);
    g_autofree char *good = NULL;
    g_autofree char *v2 = NULL;
    g_autofree char *huge = NULL;
    g_autofree char *longer = NULL;
    gsize len;

    g_assert_true(g_file_get_contents(victim, &good, &len, NULL));

    v2 = g_strdup(good);
    v2[11] = '2';
    g_assert_true(g_file_set_contents(victim, v2, -1, NULL));
    assert_only_victim_rejected(dir, "version 2");

    /* A valid file of another VF under this VF's name. */
    g_clear_pointer(&v2, g_free);
    g_assert_true(g_file_get_contents(other, &v2, NULL, NULL));
    g_assert_true(g_file_set_contents(victim, v2, -1, NULL));
    assert_only_victim_rejected(dir, "another VF's file");

    g_assert_cmpint(g_mkdir(victim, 0700), ==, 0);
    {
        g_autofree char *aside = g_build_filename(dir, "vf-p0-3.json.rejected", NULL);
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(VfsecJournal) journal = vfsec_journal_open(dir, &warnings, NULL);

        g_assert_nonnull(journal);
        g_assert_cmpuint(warnings->len, ==, 1);
        g_assert_true(g_file_test(aside, G_FILE_TEST_IS_DIR));
        g_assert_cmpint(g_rmdir(aside), ==, 0);
    }

    longer = g_strconcat(good, "{}", NULL);
    g_assert_true(g_file_set_contents(victim, longer, -1, NULL));
    assert_only_victim_rejected(dir, "trailing bytes");

    huge = g_malloc(VFSEC_JOURNAL_FILE_MAX + 1);
    memset(huge, ' ', VFSEC_JOURNAL_FILE_MAX + 1);
    g_assert_true(g_file_set_contents(victim, huge, VFSEC_JOURNAL_FILE_MAX + 1, NULL));
    assert_only_victim_rejected(dir, "oversized");

    vfsec_test_remove_dir(dir);
}

/* A crash between staging and renaming leaves a staged file: the next open
 * removes it and loads the last committed state; other names are left alone. */
static void
test_staged_leftovers(void)
{
    g_autofree char *dir = make_three();
    g_autofree char *staged = g_build_filename(dir, ".vf-p0-3.json.tmp-a1B2c3", NULL);
    g_autofree char *staged2 = g_build_filename(dir, ".vf-p9-0.json.tmp-zzzzzz", NULL);
    g_autofree char *foreign = g_build_filename(dir, "README", NULL);
    g_autoptr(VfsecJournal) journal = NULL;
    g_autoptr(GPtrArray) assigned = NULL;

    g_assert_true(g_file_set_contents(staged, "{\"version\":1,\"sha2", -1, NULL));
    g_assert_true(g_file_set_contents(staged2, "", -1, NULL));
    g_assert_true(g_file_set_contents(foreign, "not a journal file", -1, NULL));

    journal = open_clean(dir);
    g_assert_false(g_file_test(staged, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(staged2, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(foreign, G_FILE_TEST_EXISTS));
    assigned = vfsec_journal_list_assignments(journal);
    g_assert_cmpuint(assigned->len, ==, 3);

    g_assert_true(vfsec_file_is_staged(".vf-p0-3.json.tmp-a1B2c3"));
    g_assert_false(vfsec_file_is_staged("vf-p0-3.json"));
    g_assert_false(vfsec_file_is_staged(".tmp-abcdef"));
    g_assert_false(vfsec_file_is_staged("vf.tmp-abcdef"));

    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

/* With no warnings array, damage is logged instead. */
static void
test_warnings_logged(void)
{
    g_autofree char *dir = make_three();
    g_autofree char *victim = g_build_filename(dir, "vf-p0-3.json", NULL);
    g_autofree char *aside = g_build_filename(dir, "vf-p0-3.json.rejected", NULL);
    g_autoptr(VfsecJournal) journal = NULL;

    g_assert_true(g_file_set_contents(victim, "{", -1, NULL));
    g_test_expect_message("vfsec", G_LOG_LEVEL_WARNING, "journal file *vf-p0-3.json*");
    journal = vfsec_journal_open(dir, NULL, NULL);
    g_test_assert_expected_messages();
    g_assert_nonnull(journal);
    g_assert_true(g_file_test(aside, G_FILE_TEST_EXISTS));
    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

/* A write that fails (here: the file size limit) changes nothing, in memory
 * or on disk, and leaves no staged file. */
static void
test_failed_write(void)
{
    g_autofree char *dir = make_three();
    g_autofree char *victim = g_build_filename(dir, "vf-p0-3.json", NULL);
    g_autoptr(VfsecJournal) journal = open_clean(dir);
    g_autoptr(VfsecJournalAssignment) a = make_assignment("p0", 3, "other", UUID_B);
    g_autoptr(GPtrArray) pending = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    struct rlimit saved;
    guint removed = 99;
    guint64 id = 0;

    g_assert_true(g_file_get_contents(victim, &before, NULL, NULL));
    vfsec_test_limit_file_size(64, &saved);

    g_assert_false(vfsec_journal_set_assignment(journal, a, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_clear_error(&error);
    g_assert_false(vfsec_journal_record_intent(journal, VFSEC_JOURNAL_OP_RECLAIM, "p0", 3,
                                               NULL, NULL, &id, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);

    vfsec_test_unlimit_file_size(&saved);

    g_assert_cmpstr(vfsec_journal_get_assignment(journal, "p0", 3)->owner_name, ==, "web1");
    pending = vfsec_journal_list_pending(journal);
    g_assert_cmpuint(pending->len, ==, 3);
    g_assert_true(g_file_get_contents(victim, &after, NULL, NULL));
    g_assert_cmpstr(before, ==, after);
    g_assert_true(vfsec_file_clean_staged(dir, &removed, NULL));
    g_assert_cmpuint(removed, ==, 0);

    g_clear_pointer(&journal, vfsec_journal_free);
    vfsec_test_remove_dir(dir);
}

static void
test_enums(void)
{
    for (int i = 0; i < VFSEC_JOURNAL_OP_LAST; i++)
        g_assert_cmpint(vfsec_journal_op_kind_from_string(vfsec_journal_op_kind_to_string(i)),
                        ==, i);
    for (int i = 0; i < VFSEC_JOURNAL_STATE_LAST; i++)
        g_assert_cmpint(
            vfsec_journal_op_state_from_string(vfsec_journal_op_state_to_string(i)), ==, i);
    g_assert_cmpint(vfsec_journal_op_kind_from_string("Reclaim"), ==, -1);
    g_assert_null(vfsec_journal_op_kind_to_string(VFSEC_JOURNAL_OP_LAST));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/journal/intent-survives-crash", test_intent_survives_crash);
    g_test_add_func("/journal/sequence-monotonic", test_sequence_monotonic);
    g_test_add_func("/journal/staged", test_staged);
    g_test_add_func("/journal/file-format", test_file_format);
    g_test_add_func("/journal/assignments", test_assignments);
    g_test_add_func("/journal/assignment-unchanged-not-written",
                    test_assignment_unchanged_not_written);
    g_test_add_func("/journal/invalid-requests", test_invalid_requests);
    g_test_add_data_func("/journal/damage/torn-write", GINT_TO_POINTER(DAMAGE_TRUNCATE),
                         test_damage);
    g_test_add_data_func("/journal/damage/flipped-bit", GINT_TO_POINTER(DAMAGE_FLIP),
                         test_damage);
    g_test_add_func("/journal/rejected-files", test_rejected_files);
    g_test_add_func("/journal/staged-leftovers", test_staged_leftovers);
    g_test_add_func("/journal/warnings-logged", test_warnings_logged);
    g_test_add_func("/journal/failed-write", test_failed_write);
    g_test_add_func("/journal/enums", test_enums);
    return g_test_run();
}
