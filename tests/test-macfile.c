/* test-macfile.c: local-MAC tables — the writer's output is valid against
 * xml/vfsec-local-macs.rng and reads back equal, generations grow, a failed
 * or interrupted write never leaves a partial file under the table's name,
 * and the reader refuses hostile and invalid files. */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>

#include "vfsec-conf.h"
#include "vfsec-error.h"
#include "vfsec-journal.h"
#include "vfsec-macfile.h"

#define UUID_A "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
#define UUID_B "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"

static char *
schema_path(void)
{
    return g_build_filename(g_getenv("VFSEC_SCHEMADIR"), VFSEC_MACFILE_SCHEMA, NULL);
}

static char *
make_dir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("test-macfile-XXXXXX", &error);

    g_assert_no_error(error);
    return dir;
}

static void
remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);

    for (const char *name; d && (name = g_dir_read_name(d));) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        g_assert_cmpint(g_unlink(path), ==, 0);
    }
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static VfsecMacEntry *
entry_new(const char *mac, int vf, const char *owner, const char *uuid)
{
    VfsecMac m;
    VfsecMacEntry *entry;

    g_assert_true(vfsec_mac_parse(mac, &m, NULL));
    entry = vfsec_mac_entry_new(&m);
    entry->vf = vf;
    entry->owner_name = g_strdup(owner);
    entry->owner_uuid = g_strdup(uuid);
    return entry;
}

static void
entry_tag(VfsecMacEntry *entry, guint16 tpid, guint16 vid)
{
    g_assert_cmpuint(entry->n_tags, <, VFSEC_MACFILE_MAX_TAGS);
    entry->tags[entry->n_tags].tpid = tpid;
    entry->tags[entry->n_tags].vid = vid;
    entry->n_tags++;
}

/* The PF's own MAC untagged, VFs with one tag, two tags (QinQ), the same
 * MAC on two VLANs, and an owner name that needs escaping. */
static VfsecMacTable *
make_table(void)
{
    VfsecMacTable *table = vfsec_mac_table_new("nic0.p0");
    VfsecMacEntry *e;

    g_assert_true(vfsec_mac_table_add(table, entry_new("3c:fd:fe:00:00:01", -1, NULL, NULL),
                                      NULL));
    e = entry_new("52:54:00:00:00:03", 3, "web\"<&>'1 \xc3\xa9t\xc3\xa9", UUID_A);
    entry_tag(e, VFSEC_TPID_8021Q, 42);
    g_assert_true(vfsec_mac_table_add(table, e, NULL));
    e = entry_new("52:54:00:00:00:03", 3, "web\"<&>'1 \xc3\xa9t\xc3\xa9", UUID_A);
    entry_tag(e, VFSEC_TPID_8021Q, 43);
    g_assert_true(vfsec_mac_table_add(table, e, NULL));
    e = entry_new("52:54:00:00:00:01", 1, "db", UUID_B);
    entry_tag(e, VFSEC_TPID_8021AD, 100);
    entry_tag(e, VFSEC_TPID_8021Q, 7);
    g_assert_true(vfsec_mac_table_add(table, e, NULL));
    e = entry_new("52:54:00:00:00:02", 2, NULL, UUID_B);
    g_assert_true(vfsec_mac_table_add(table, e, NULL));
    return table;
}

/* Validation with libxml2's RELAX NG API directly, independent of the
 * reader under test. */
static void
assert_schema_valid(const char *xml, gsize len)
{
    g_autofree char *path = schema_path();
    xmlRelaxNGParserCtxtPtr pctxt = xmlRelaxNGNewParserCtxt(path);
    xmlRelaxNGPtr schema = xmlRelaxNGParse(pctxt);
    xmlRelaxNGValidCtxtPtr vctxt = xmlRelaxNGNewValidCtxt(schema);
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "table.xml", NULL, XML_PARSE_NONET);

    g_assert_nonnull(schema);
    g_assert_nonnull(doc);
    g_assert_cmpint(xmlRelaxNGValidateDoc(vctxt, doc), ==, 0);
    xmlFreeDoc(doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    xmlRelaxNGFree(schema);
    xmlRelaxNGFreeParserCtxt(pctxt);
}

/* ------------------------------------------------------------------ */

static void
test_round_trip(void)
{
    g_autofree char *dir = make_dir();
    g_autofree char *path = vfsec_macfile_path(dir, "nic0.p0");
    g_autoptr(VfsecMacTable) table = make_table();
    g_autoptr(VfsecMacTable) back = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *expected_path = g_build_filename(dir, "nic0.p0.xml", NULL);
    gsize len;

    g_assert_cmpstr(path, ==, expected_path);
    g_assert_cmpuint(table->generation, ==, 0);
    g_assert_true(vfsec_macfile_write(dir, table, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(table->generation, ==, 1);

    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    assert_schema_valid(text, len);
    g_assert_nonnull(strstr(text, "xmlns=\"" VFSEC_MACFILE_NS "\""));
    g_assert_nonnull(strstr(text, "generation=\"1\""));

    back = vfsec_macfile_read(dir, "nic0.p0", NULL, &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_mac_table_equal(table, back));
    /* Sorted by MAC, then tags; the owner survived the escaping. */
    g_assert_cmpuint(back->entries->len, ==, 5);
    g_assert_cmpint(((VfsecMacEntry *)g_ptr_array_index(back->entries, 0))->vf, ==, -1);
    g_assert_cmpint(((VfsecMacEntry *)g_ptr_array_index(back->entries, 1))->vf, ==, 1);
    g_assert_cmpstr(((VfsecMacEntry *)g_ptr_array_index(back->entries, 3))->owner_name, ==,
                    "web\"<&>'1 \xc3\xa9t\xc3\xa9");
    g_assert_cmpuint(((VfsecMacEntry *)g_ptr_array_index(back->entries, 4))->tags[0].vid, ==,
                     43);

    /* An empty table is valid too. */
    g_ptr_array_set_size(table->entries, 0);
    g_assert_true(vfsec_macfile_write(dir, table, NULL));
    g_clear_pointer(&text, g_free);
    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    assert_schema_valid(text, len);
    g_clear_pointer(&back, vfsec_mac_table_free);
    back = vfsec_macfile_read(dir, "nic0.p0", NULL, &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_mac_table_equal(table, back));

    remove_tree(dir);
}

static void
test_generation_grows(void)
{
    g_autofree char *dir = make_dir();
    g_autofree char *sub = g_build_filename(dir, "local-macs", NULL);
    g_autoptr(VfsecMacTable) table = make_table();

    /* The directory is created on the first write. */
    for (guint i = 0; i < 5; i++) {
        g_autoptr(VfsecMacTable) back = NULL;
        g_autoptr(GError) error = NULL;
        guint64 gen = 1 + 2 * i;

        g_assert_true(vfsec_macfile_write(sub, table, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(table->generation, ==, gen);
        back = vfsec_macfile_read(sub, "nic0.p0", NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(back->generation, ==, gen);
        g_assert_true(vfsec_mac_table_equal(table, back));
        /* A table continued from the file keeps counting from there. */
        g_assert_true(vfsec_macfile_write(sub, back, NULL));
        g_assert_cmpuint(back->generation, ==, gen + 1);
        table->generation = back->generation;
    }
    remove_tree(sub);
    remove_tree(dir);
}

/* The name always holds a complete table. A crash between staging the new
 * file and renaming it leaves the old table under the name (and a staged
 * file that cleaning removes); a write that fails midway (file size limit)
 * leaves the old table, no staged file, and the in-memory generation as it
 * was. */
static void
test_atomic_replace(void)
{
    g_autofree char *dir = make_dir();
    g_autofree char *path = vfsec_macfile_path(dir, "nic0.p0");
    g_autoptr(VfsecMacTable) table = make_table();
    g_autoptr(VfsecMacTable) back = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *old_text = NULL;
    g_autofree char *new_text = NULL;
    g_autofree char *now = NULL;
    g_autofree char *staged = NULL;
    g_autofree char *staged_path = NULL;
    struct rlimit saved, small = { 0 };
    guint removed = 0;
    gsize len;

    g_assert_true(vfsec_macfile_write(dir, table, NULL));
    g_assert_true(g_file_get_contents(path, &old_text, NULL, NULL));

    /* Simulated crash after staging generation 2, before the rename. */
    g_ptr_array_remove_index(table->entries, 0);
    table->generation = 2;
    new_text = vfsec_macfile_to_xml(table, &len);
    staged = vfsec_file_stage(dir, "nic0.p0.xml", new_text, len, 0644, &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_file_is_staged(staged));
    staged_path = g_build_filename(dir, staged, NULL);
    g_assert_true(g_file_test(staged_path, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_get_contents(path, &now, NULL, NULL));
    g_assert_cmpstr(now, ==, old_text);
    back = vfsec_macfile_read(dir, "nic0.p0", NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(back->generation, ==, 1);
    g_assert_cmpuint(back->entries->len, ==, 5);
    g_assert_true(vfsec_file_clean_staged(dir, &removed, &error));
    g_assert_cmpuint(removed, ==, 1);
    g_assert_false(g_file_test(staged_path, G_FILE_TEST_EXISTS));

    /* The writer failing midway: only 64 bytes may be written. */
    table->generation = 1;
    g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &saved), ==, 0);
    small.rlim_cur = 64;
    small.rlim_max = saved.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &small), ==, 0);
    g_assert_false(vfsec_macfile_write(dir, table, &error));
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &saved), ==, 0);
    signal(SIGXFSZ, SIG_DFL);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_cmpuint(table->generation, ==, 1);
    g_clear_pointer(&now, g_free);
    g_assert_true(g_file_get_contents(path, &now, NULL, NULL));
    g_assert_cmpstr(now, ==, old_text);
    g_assert_true(vfsec_file_clean_staged(dir, &removed, NULL));
    g_assert_cmpuint(removed, ==, 0);

    /* And the next write goes through. */
    g_assert_true(vfsec_macfile_write(dir, table, NULL));
    g_clear_pointer(&back, vfsec_mac_table_free);
    back = vfsec_macfile_read(dir, "nic0.p0", NULL, NULL);
    g_assert_nonnull(back);
    g_assert_cmpuint(back->generation, ==, 2);
    g_assert_cmpuint(back->entries->len, ==, 4);
    remove_tree(dir);
}

/* ------------------------------------------------------------------ */
/* The reader refuses */

#define HEAD "<local-macs xmlns='" VFSEC_MACFILE_NS "' port='p0' generation='3'>"
#define TAIL "</local-macs>"

typedef struct {
    const char *name;
    const char *xml;
    VfsecErrorCode code;
} BadFile;

static const BadFile bad_files[] = {
    { "not-xml", "<local-macs", VFSEC_ERROR_INVALID },
    { "doctype",
      "<!DOCTYPE local-macs [<!ENTITY a 'x'>]>" HEAD "<entry mac='52:54:00:00:00:01'>"
      "<owner name='&a;'/></entry>" TAIL, VFSEC_ERROR_INVALID },
    { "billion-laughs",
      "<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'>"
      "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
      "<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>]>"
      HEAD "<entry mac='52:54:00:00:00:01'><owner name='&d;'/></entry>" TAIL,
      VFSEC_ERROR_INVALID },
    { "xxe",
      "<!DOCTYPE l [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" HEAD
      "<entry mac='52:54:00:00:00:01'><owner name='&x;'/></entry>" TAIL, VFSEC_ERROR_INVALID },
    { "wrong-namespace", "<local-macs port='p0' generation='1'/>", VFSEC_ERROR_INVALID },
    { "wrong-root", "<macs xmlns='" VFSEC_MACFILE_NS "' port='p0' generation='1'/>",
      VFSEC_ERROR_INVALID },
    { "no-generation", "<local-macs xmlns='" VFSEC_MACFILE_NS "' port='p0'/>",
      VFSEC_ERROR_INVALID },
    { "generation-hex", "<local-macs xmlns='" VFSEC_MACFILE_NS "' port='p0' generation='0x1'/>",
      VFSEC_ERROR_INVALID },
    { "generation-overflow",
      "<local-macs xmlns='" VFSEC_MACFILE_NS "' port='p0' generation='99999999999999999999'/>",
      VFSEC_ERROR_INVALID },
    { "port-slash", "<local-macs xmlns='" VFSEC_MACFILE_NS "' port='a/b' generation='1'/>",
      VFSEC_ERROR_INVALID },
    { "unknown-element", HEAD "<entry mac='52:54:00:00:00:01'/><extra/>" TAIL,
      VFSEC_ERROR_INVALID },
    { "unknown-attribute", HEAD "<entry mac='52:54:00:00:00:01' trust='yes'/>" TAIL,
      VFSEC_ERROR_INVALID },
    { "mac-shape", HEAD "<entry mac='52:54:00:00:01'/>" TAIL, VFSEC_ERROR_INVALID },
    { "mac-multicast", HEAD "<entry mac='01:00:5e:00:00:01'/>" TAIL, VFSEC_ERROR_INVALID },
    { "mac-zero", HEAD "<entry mac='00:00:00:00:00:00'/>" TAIL, VFSEC_ERROR_INVALID },
    { "vf-range", HEAD "<entry mac='52:54:00:00:00:01' vf='65536'/>" TAIL, VFSEC_ERROR_INVALID },
    { "three-tags",
      HEAD "<entry mac='52:54:00:00:00:01'><tag tpid='802.1ad' vid='1'/>"
      "<tag tpid='802.1Q' vid='2'/><tag tpid='802.1Q' vid='3'/></entry>" TAIL,
      VFSEC_ERROR_INVALID },
    { "tag-tpid", HEAD "<entry mac='52:54:00:00:00:01'><tag tpid='0x8100' vid='1'/></entry>" TAIL,
      VFSEC_ERROR_INVALID },
    { "tag-vid-0", HEAD "<entry mac='52:54:00:00:00:01'><tag tpid='802.1Q' vid='0'/></entry>" TAIL,
      VFSEC_ERROR_INVALID },
    { "tag-vid-4095",
      HEAD "<entry mac='52:54:00:00:00:01'><tag tpid='802.1Q' vid='4095'/></entry>" TAIL,
      VFSEC_ERROR_INVALID },
    { "tag-before-owner",
      HEAD "<entry mac='52:54:00:00:00:01'><tag tpid='802.1Q' vid='5'/><owner name='a'/></entry>"
      TAIL, VFSEC_ERROR_INVALID },
    { "owner-uuid", HEAD "<entry mac='52:54:00:00:00:01'><owner uuid='1234'/></entry>" TAIL,
      VFSEC_ERROR_INVALID },
    { "owner-name-newline",
      HEAD "<entry mac='52:54:00:00:00:01'><owner name='a&#10;b'/></entry>" TAIL,
      VFSEC_ERROR_INVALID },
    { "duplicate-key",
      HEAD "<entry mac='52:54:00:00:00:01' vf='1'><tag tpid='802.1Q' vid='5'/></entry>"
      "<entry mac='52:54:00:00:00:01' vf='2'><tag tpid='802.1Q' vid='5'/></entry>" TAIL,
      VFSEC_ERROR_CONFLICT },
};

static void
test_bad_file(gconstpointer data)
{
    const BadFile *c = data;
    g_autofree char *schema = schema_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecMacTable) table = NULL;

    table = vfsec_macfile_parse(c->xml, strlen(c->xml), c->name, schema, &error);
    g_assert_null(table);
    g_assert_error(error, VFSEC_ERROR, (gint)c->code);
    g_assert_true(g_str_has_prefix(error->message, c->name));
    g_assert_null(vfsec_macfile_parse(c->xml, strlen(c->xml), c->name, schema, NULL));
}

/* The same MAC on other tags, or with one tag more, is another key. */
static void
test_good_file(void)
{
    static const char xml[] =
        HEAD "<entry mac='52:54:00:00:00:01' vf='1'><tag tpid='802.1Q' vid='5'/></entry>"
        "<entry mac='52:54:00:00:00:01' vf='1'><tag tpid='802.1ad' vid='5'/></entry>"
        "<entry mac='52:54:00:00:00:01' vf='1'><tag tpid='802.1Q' vid='5'/>"
        "<tag tpid='802.1Q' vid='6'/></entry>"
        "<entry mac='52:54:00:00:00:01' vf='1'/>"
        "<entry mac='3C:FD:FE:00:00:01'><owner/></entry>" TAIL;
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecMacTable) table = vfsec_macfile_parse(xml, strlen(xml), "good", NULL,
                                                         &error);

    g_assert_no_error(error);
    g_assert_cmpstr(table->port, ==, "p0");
    g_assert_cmpuint(table->generation, ==, 3);
    g_assert_cmpuint(table->entries->len, ==, 5);
}

static void
test_read_errors(void)
{
    g_autofree char *dir = make_dir();
    g_autofree char *p0 = vfsec_macfile_path(dir, "p0");
    g_autofree char *p1 = vfsec_macfile_path(dir, "p1");
    g_autoptr(VfsecMacTable) table = vfsec_mac_table_new("p0");
    g_autoptr(GError) error = NULL;
    g_autofree char *huge = g_malloc(VFSEC_MACFILE_MAX + 1);

    g_assert_null(vfsec_macfile_read(dir, "p1", NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_clear_error(&error);

    /* p0's table under p1's name. */
    g_assert_true(vfsec_macfile_write(dir, table, NULL));
    g_assert_cmpint(g_rename(p0, p1), ==, 0);
    g_assert_null(vfsec_macfile_read(dir, "p1", NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "holds the table of port 'p0'"));
    g_clear_error(&error);

    /* Too large, from a file and from memory, before any parsing. */
    memset(huge, ' ', VFSEC_MACFILE_MAX + 1);
    g_assert_true(g_file_set_contents(p1, huge, VFSEC_MACFILE_MAX + 1, NULL));
    g_assert_null(vfsec_macfile_read(dir, "p1", NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_clear_error(&error);
    g_assert_null(vfsec_macfile_parse(huge, VFSEC_MACFILE_MAX + 1, "huge", NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    remove_tree(dir);
}

static void
test_table_ops(void)
{
    g_autoptr(VfsecMacTable) table = make_table();
    g_autoptr(VfsecMacTable) other = make_table();
    g_autoptr(GError) error = NULL;
    VfsecMacEntry *e;
    VfsecMacTag tag = { VFSEC_TPID_8021Q, 42 };

    g_assert_true(vfsec_mac_table_equal(table, other));
    other->generation = 4;
    g_assert_false(vfsec_mac_table_equal(table, other));
    other->generation = 0;

    /* Same MAC and tags: refused whoever owns it. */
    e = entry_new("52:54:00:00:00:03", 9, "intruder", UUID_B);
    entry_tag(e, VFSEC_TPID_8021Q, 42);
    g_assert_false(vfsec_mac_table_add(table, e, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_clear_error(&error);

    /* Entries that cannot be written. */
    e = entry_new("52:54:00:00:00:09", 9, NULL, NULL);
    entry_tag(e, VFSEC_TPID_8021Q, 0);
    g_assert_false(vfsec_mac_table_add(table, e, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    e = entry_new("52:54:00:00:00:09", 9, NULL, NULL);
    entry_tag(e, 0x9100, 10);
    g_assert_false(vfsec_mac_table_add(table, e, NULL));
    e = entry_new("52:54:00:00:00:09", 9, "tab\there", NULL);
    g_assert_false(vfsec_mac_table_add(table, e, NULL));
    e = entry_new("52:54:00:00:00:09", 9, "\xff\xfe", NULL);
    g_assert_false(vfsec_mac_table_add(table, e, NULL));
    e = entry_new("52:54:00:00:00:09", 9, "ok", "not-a-uuid");
    g_assert_false(vfsec_mac_table_add(table, e, NULL));
    e = entry_new("52:54:00:00:00:09", 70000, NULL, NULL);
    g_assert_false(vfsec_mac_table_add(table, e, NULL));
    g_assert_true(vfsec_mac_table_equal(table, other));

    /* Remove one key, then everything of a VF. */
    g_assert_true(vfsec_mac_table_remove(table, &((VfsecMacEntry *)
                                                  g_ptr_array_index(table->entries, 3))->mac,
                                         &tag, 1));
    g_assert_false(vfsec_mac_table_remove(table, &((VfsecMacEntry *)
                                                   g_ptr_array_index(table->entries, 0))->mac,
                                          &tag, 1));
    g_assert_cmpuint(table->entries->len, ==, 4);
    g_assert_cmpuint(vfsec_mac_table_remove_vf(table, 3), ==, 1);
    g_assert_cmpuint(vfsec_mac_table_remove_vf(table, 3), ==, 0);
    g_assert_cmpuint(vfsec_mac_table_remove_vf(table, -1), ==, 1);
    g_assert_cmpuint(table->entries->len, ==, 2);

    /* A port name that is no PF label is never written. */
    g_free(table->port);
    table->port = g_strdup("../etc");
    g_assert_false(vfsec_macfile_write("/nonexistent", table, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/macfile/round-trip", test_round_trip);
    g_test_add_func("/macfile/generation-grows", test_generation_grows);
    g_test_add_func("/macfile/atomic-replace", test_atomic_replace);
    for (guint i = 0; i < G_N_ELEMENTS(bad_files); i++) {
        g_autofree char *name = g_strdup_printf("/macfile/bad/%s", bad_files[i].name);

        g_test_add_data_func(name, &bad_files[i], test_bad_file);
    }
    g_test_add_func("/macfile/good-file", test_good_file);
    g_test_add_func("/macfile/read-errors", test_read_errors);
    g_test_add_func("/macfile/table-ops", test_table_ops);
    return g_test_run();
}
