/* vfsec-macfile.c: a port's local-MAC table in memory, as XML, and on disk. */

/*
 * Theory of operation
 *
 * On a port in VEPA mode, a frame from one VF to another leaves the NIC and
 * reaches the agent, which hairpins it back only if the destination is one of
 * the port's local (MAC, tags) keys. vfsecd owns that table: it pushes it to
 * the PF driver and writes it to <run-dir>/local-macs/<port>.xml, for
 * operators and for its own reconcile after a restart.
 *
 * The file is replaced, never edited: the new document is staged next to it
 * and renamed over it, so a reader opening the name at any moment gets a
 * complete old or new table. It is not fsynced: it describes the running
 * host's table, lives in run-dir (a tmpfs, /run, by default), is never read
 * back by vfsecd, and a host crash that could lose it also empties the
 * agents' tables it describes; the atomic rename is what readers need, and
 * two fsyncs per table change were a third of a domain start's latency. Every write
 * carries a generation one above the table's last, so two readings of the
 * file can be ordered.
 *
 * Reading treats the file as input from outside (it lives in a directory an
 * operator can write): vfsec_xml_read() refuses DTDs and entities and
 * anything over VFSEC_MACFILE_MAX, the document is checked against
 * vfsec-local-macs.rng, and only then is that same tree walked. The walk
 * re-checks every value with the project's own parsers, so a schema and a
 * parser can never disagree silently.
 */
#include "vfsec-macfile.h"

#include <errno.h>
#include <string.h>

#include "vfsec-conf.h"
#include "vfsec-error.h"
#include "vfsec-file.h"
#include "vfsec-xml.h"

/* ------------------------------------------------------------------ */
/* Entries and tables */

VfsecMacEntry *
vfsec_mac_entry_new(const VfsecMac *mac)
{
    VfsecMacEntry *entry = g_new0(VfsecMacEntry, 1);

    entry->mac = *mac;
    entry->vf = -1;
    return entry;
}

VfsecMacEntry *
vfsec_mac_entry_copy(const VfsecMacEntry *entry)
{
    VfsecMacEntry *copy = g_new0(VfsecMacEntry, 1);

    *copy = *entry;
    copy->owner_name = g_strdup(entry->owner_name);
    copy->owner_uuid = g_strdup(entry->owner_uuid);
    return copy;
}

void
vfsec_mac_entry_free(VfsecMacEntry *entry)
{
    if (!entry)
        return;
    g_free(entry->owner_name);
    g_free(entry->owner_uuid);
    g_free(entry);
}

VfsecMacTable *
vfsec_mac_table_new(const char *port)
{
    VfsecMacTable *table = g_new0(VfsecMacTable, 1);

    table->port = g_strdup(port);
    table->entries = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_mac_entry_free);
    return table;
}

void
vfsec_mac_table_free(VfsecMacTable *table)
{
    if (!table)
        return;
    g_free(table->port);
    g_clear_pointer(&table->entries, g_ptr_array_unref);
    g_free(table);
}

/* Orders by the key the agent matches on: MAC, then the tag stack. */
static int
vfsec_mac_key_cmp(const VfsecMac *mac_a, const VfsecMacTag *tags_a, guint n_a,
                  const VfsecMac *mac_b, const VfsecMacTag *tags_b, guint n_b)
{
    int c = memcmp(mac_a->b, mac_b->b, sizeof(mac_a->b));

    if (c)
        return c;
    for (guint i = 0; i < MIN(n_a, n_b); i++) {
        if (tags_a[i].tpid != tags_b[i].tpid)
            return tags_a[i].tpid < tags_b[i].tpid ? -1 : 1;
        if (tags_a[i].vid != tags_b[i].vid)
            return tags_a[i].vid < tags_b[i].vid ? -1 : 1;
    }
    return n_a < n_b ? -1 : n_a > n_b;
}

/* "untagged" or "802.1Q/42+802.1ad/7", outermost first (new string). */
static char *
vfsec_mac_tags_describe(const VfsecMacTag *tags, guint n_tags)
{
    g_autoptr(GString) s = g_string_new(NULL);

    if (n_tags == 0)
        return g_strdup("untagged");
    for (guint i = 0; i < n_tags; i++) {
        const char *tpid = vfsec_tpid_to_string(tags[i].tpid);

        g_string_append_printf(s, "%s%s/%u", i ? "+" : "", tpid ? tpid : "?", tags[i].vid);
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* An owner string must survive an XML attribute unchanged: UTF-8 without
 * control characters (attribute normalisation would turn tabs and newlines
 * into spaces, and XML 1.0 cannot carry the others at all). */
static gboolean
vfsec_mac_owner_text_ok(const char *text)
{
    if (!text)
        return TRUE;
    if (!*text || !g_utf8_validate(text, -1, NULL))
        return FALSE;
    for (const char *p = text; *p; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f)
            return FALSE;
    }
    return TRUE;
}

static gboolean
vfsec_mac_entry_check(const VfsecMacTable *table, const VfsecMacEntry *entry, GError **error)
{
    char mac[VFSEC_MAC_STRLEN];

    vfsec_mac_format(&entry->mac, mac);
    if (entry->n_tags > VFSEC_MACFILE_MAX_TAGS || entry->vf < -1 || entry->vf > G_MAXUINT16) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "local-MAC entry %s of port %s has %u tags or VF index %d",
                    mac, table->port, entry->n_tags, entry->vf);
        return FALSE;
    }
    for (guint i = 0; i < entry->n_tags; i++) {
        const VfsecMacTag *tag = &entry->tags[i];

        if (!vfsec_tpid_to_string(tag->tpid) || tag->vid < 1 || tag->vid > 4094) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "local-MAC entry %s of port %s: tag %u (TPID 0x%04x, VID %u) is not "
                        "802.1Q/802.1ad with a VID from 1 to 4094",
                        mac, table->port, i + 1, tag->tpid, tag->vid);
            return FALSE;
        }
    }
    if (!vfsec_mac_owner_text_ok(entry->owner_name) ||
        (entry->owner_uuid && !g_uuid_string_is_valid(entry->owner_uuid))) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "local-MAC entry %s of port %s has an owner that cannot be written "
                    "(name '%s', UUID '%s')",
                    mac, table->port, entry->owner_name ? entry->owner_name : "",
                    entry->owner_uuid ? entry->owner_uuid : "");
        return FALSE;
    }
    return TRUE;
}

static int
vfsec_mac_entry_cmp_key(const VfsecMacEntry *e, const VfsecMac *mac, const VfsecMacTag *tags,
                        guint n_tags)
{
    return vfsec_mac_key_cmp(&e->mac, e->tags, e->n_tags, mac, tags, n_tags);
}

/* Index of the first entry not below the key; *found when it is the key. */
static guint
vfsec_mac_table_find(const VfsecMacTable *table, const VfsecMac *mac, const VfsecMacTag *tags,
                     guint n_tags, gboolean *found)
{
    guint lo = 0, hi = table->entries->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;

        if (vfsec_mac_entry_cmp_key(g_ptr_array_index(table->entries, mid),
                                    mac, tags, n_tags) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < table->entries->len &&
             vfsec_mac_entry_cmp_key(g_ptr_array_index(table->entries, lo),
                                     mac, tags, n_tags) == 0;
    return lo;
}

gboolean
vfsec_mac_table_add(VfsecMacTable *table, VfsecMacEntry *entry, GError **error)
{
    g_autoptr(VfsecMacEntry) owned = entry;
    gboolean found;
    guint at;

    g_return_val_if_fail(table != NULL && entry != NULL, FALSE);

    if (!vfsec_mac_entry_check(table, owned, error))
        return FALSE;
    at = vfsec_mac_table_find(table, &owned->mac, owned->tags, owned->n_tags, &found);
    if (found) {
        const VfsecMacEntry *other = g_ptr_array_index(table->entries, at);
        g_autofree char *tags = vfsec_mac_tags_describe(owned->tags, owned->n_tags);
        char mac[VFSEC_MAC_STRLEN];

        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "MAC %s %s is already in the local-MAC table of port %s (VF %d, owner '%s')",
                    vfsec_mac_format(&owned->mac, mac), tags, table->port, other->vf,
                    other->owner_name ? other->owner_name : "");
        return FALSE;
    }
    g_ptr_array_insert(table->entries, (gint)at, g_steal_pointer(&owned));
    return TRUE;
}

gboolean
vfsec_mac_table_remove(VfsecMacTable *table, const VfsecMac *mac, const VfsecMacTag *tags,
                       guint n_tags)
{
    gboolean found;
    guint at;

    g_return_val_if_fail(table != NULL && mac != NULL, FALSE);

    at = vfsec_mac_table_find(table, mac, tags, n_tags, &found);
    if (found)
        g_ptr_array_remove_index(table->entries, at);
    return found;
}

guint
vfsec_mac_table_remove_vf(VfsecMacTable *table, int vf)
{
    guint removed = 0;

    g_return_val_if_fail(table != NULL, 0);

    for (guint i = table->entries->len; i-- > 0;) {
        if (((const VfsecMacEntry *)g_ptr_array_index(table->entries, i))->vf == vf) {
            g_ptr_array_remove_index(table->entries, i);
            removed++;
        }
    }
    return removed;
}

static gboolean
vfsec_mac_entry_equal(const VfsecMacEntry *a, const VfsecMacEntry *b)
{
    return vfsec_mac_entry_cmp_key(a, &b->mac, b->tags, b->n_tags) == 0 &&
           a->vf == b->vf && g_strcmp0(a->owner_name, b->owner_name) == 0 &&
           g_strcmp0(a->owner_uuid, b->owner_uuid) == 0;
}

gboolean
vfsec_mac_table_equal(const VfsecMacTable *a, const VfsecMacTable *b)
{
    if (g_strcmp0(a->port, b->port) != 0 || a->generation != b->generation ||
        a->entries->len != b->entries->len)
        return FALSE;
    for (guint i = 0; i < a->entries->len; i++) {
        if (!vfsec_mac_entry_equal(g_ptr_array_index(a->entries, i),
                                   g_ptr_array_index(b->entries, i)))
            return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Writing */

static void
vfsec_macfile_build_entry(xmlNode *root, xmlNs *ns, const VfsecMacEntry *entry)
{
    xmlNode *node = xmlNewChild(root, ns, (const xmlChar *)"entry", NULL);
    char mac[VFSEC_MAC_STRLEN];

    vfsec_xml_set_prop(node, "mac", vfsec_mac_format(&entry->mac, mac));
    if (entry->vf >= 0) {
        g_autofree char *vf = g_strdup_printf("%d", entry->vf);

        vfsec_xml_set_prop(node, "vf", vf);
    }
    if (entry->owner_name || entry->owner_uuid) {
        xmlNode *owner = xmlNewChild(node, ns, (const xmlChar *)"owner", NULL);

        if (entry->owner_name)
            vfsec_xml_set_prop(owner, "name", entry->owner_name);
        if (entry->owner_uuid)
            vfsec_xml_set_prop(owner, "uuid", entry->owner_uuid);
    }
    for (guint i = 0; i < entry->n_tags; i++) {
        xmlNode *tag = xmlNewChild(node, ns, (const xmlChar *)"tag", NULL);
        g_autofree char *vid = g_strdup_printf("%u", entry->tags[i].vid);

        vfsec_xml_set_prop(tag, "tpid", vfsec_tpid_to_string(entry->tags[i].tpid));
        vfsec_xml_set_prop(tag, "vid", vid);
    }
}

static char *
vfsec_macfile_serialize(const VfsecMacTable *table, guint64 generation, gsize *len)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc((const xmlChar *)"1.0");
    g_autofree char *gen = g_strdup_printf("%" G_GUINT64_FORMAT, generation);
    xmlNode *root = xmlNewDocNode(doc, NULL, (const xmlChar *)"local-macs", NULL);
    xmlNs *ns = xmlNewNs(root, (const xmlChar *)VFSEC_MACFILE_NS, NULL);
    xmlChar *buf = NULL;
    char *text;
    int size = 0;

    xmlSetNs(root, ns);
    xmlDocSetRootElement(doc, root);
    vfsec_xml_set_prop(root, "port", table->port);
    vfsec_xml_set_prop(root, "generation", gen);
    for (guint i = 0; i < table->entries->len; i++)
        vfsec_macfile_build_entry(root, ns, g_ptr_array_index(table->entries, i));

    xmlDocDumpFormatMemoryEnc(doc, &buf, &size, "UTF-8", 1);
    if (!buf)
        g_error("libxml2 could not serialise the local-MAC table of port %s", table->port);
    text = g_strndup((const char *)buf, (gsize)size);
    xmlFree(buf);
    *len = (gsize)size;
    return text;
}

char *
vfsec_macfile_to_xml(const VfsecMacTable *table, gsize *len)
{
    g_return_val_if_fail(table != NULL && len != NULL, NULL);

    return vfsec_macfile_serialize(table, table->generation, len);
}

char *
vfsec_macfile_path(const char *dir, const char *port)
{
    g_autofree char *name = g_strconcat(port, ".xml", NULL);

    return g_build_filename(dir, name, NULL);
}

gboolean
vfsec_macfile_write(const char *dir, VfsecMacTable *table, GError **error)
{
    g_autofree char *name = NULL;
    g_autofree char *text = NULL;
    g_autofree char *staged = NULL;
    gsize len;

    g_return_val_if_fail(dir != NULL && table != NULL, FALSE);

    if (!vfsec_conf_label_check(table->port, error))
        return FALSE;
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        int saved = errno;

        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot create %s: %s",
                    dir, g_strerror(saved));
        return FALSE;
    }
    name = g_strconcat(table->port, ".xml", NULL);
    text = vfsec_macfile_serialize(table, table->generation + 1, &len);
    staged = vfsec_file_stage_unsynced(dir, name, text, len, 0644, error);
    if (!staged || !vfsec_file_commit_unsynced(dir, staged, name, error))
        return FALSE;
    table->generation++;
    g_debug("local-MAC table of port %s: generation %" G_GUINT64_FORMAT ", %u entries",
            table->port, table->generation, table->entries->len);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Reading */

/* An element of the table's namespace. */
static gboolean
vfsec_macfile_is(const xmlNode *node, const char *name)
{
    return vfsec_xml_is_ns(node, VFSEC_MACFILE_NS, name);
}

static gboolean
vfsec_macfile_parse_tag(const xmlNode *node, const char *what, VfsecMacTag *tag,
                        GError **error)
{
    g_autofree char *tpid = vfsec_xml_prop(node, "tpid");
    g_autofree char *vid = vfsec_xml_prop(node, "vid");
    guint64 v;

    if (!vfsec_tpid_from_string(tpid, &tag->tpid) || !vid ||
        !vfsec_parse_uint(vid, 4094, &v) || v < 1) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s line %ld: <tag tpid='%s' vid='%s'> is not a VLAN tag",
                    what, xmlGetLineNo(node), tpid ? tpid : "", vid ? vid : "");
        return FALSE;
    }
    tag->vid = (guint16)v;
    return TRUE;
}

static VfsecMacEntry *
vfsec_macfile_parse_entry(const xmlNode *node, const char *what, GError **error)
{
    g_autofree char *mac_str = vfsec_xml_prop(node, "mac");
    g_autofree char *vf_str = vfsec_xml_prop(node, "vf");
    g_autoptr(VfsecMacEntry) entry = NULL;
    g_autoptr(GError) local = NULL;
    VfsecMac mac;
    guint64 vf;

    if (!mac_str || !vfsec_mac_parse(mac_str, &mac, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s line %ld: %s", what,
                    xmlGetLineNo(node), local ? local->message : "<entry> has no mac");
        return NULL;
    }
    entry = vfsec_mac_entry_new(&mac);
    if (vf_str) {
        if (!vfsec_parse_uint(vf_str, G_MAXUINT16, &vf)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s line %ld: vf='%s' is not a VF index", what, xmlGetLineNo(node),
                        vf_str);
            return NULL;
        }
        entry->vf = (int)vf;
    }
    for (const xmlNode *c = node->children; c; c = c->next) {
        if (vfsec_macfile_is(c, "owner")) {
            entry->owner_name = vfsec_xml_prop(c, "name");
            entry->owner_uuid = vfsec_xml_prop(c, "uuid");
        } else if (vfsec_macfile_is(c, "tag")) {
            if (entry->n_tags == VFSEC_MACFILE_MAX_TAGS) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "%s line %ld: more than %d tags", what, xmlGetLineNo(c),
                            VFSEC_MACFILE_MAX_TAGS);
                return NULL;
            }
            if (!vfsec_macfile_parse_tag(c, what, &entry->tags[entry->n_tags++], error))
                return NULL;
        }
    }
    return g_steal_pointer(&entry);
}

static VfsecMacTable *
vfsec_macfile_parse_doc(xmlDoc *doc, const char *what, GError **error)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    g_autofree char *port = NULL;
    g_autofree char *gen = NULL;
    g_autoptr(VfsecMacTable) table = NULL;
    g_autoptr(GError) local = NULL;

    if (!vfsec_macfile_is(root, "local-macs")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s has no <local-macs> root in namespace %s", what, VFSEC_MACFILE_NS);
        return NULL;
    }
    port = vfsec_xml_prop(root, "port");
    gen = vfsec_xml_prop(root, "generation");
    if (!vfsec_conf_label_check(port, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: %s", what, local->message);
        return NULL;
    }
    table = vfsec_mac_table_new(port);
    if (!gen || !vfsec_parse_uint(gen, G_MAXUINT64, &table->generation)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: generation='%s' is not a number", what, gen ? gen : "");
        return NULL;
    }
    for (const xmlNode *c = root->children; c; c = c->next) {
        VfsecMacEntry *entry;

        if (!vfsec_macfile_is(c, "entry"))
            continue;
        entry = vfsec_macfile_parse_entry(c, what, error);
        if (!entry)
            return NULL;
        if (!vfsec_mac_table_add(table, entry, &local)) {
            g_set_error(error, local->domain, local->code, "%s line %ld: %s", what,
                        xmlGetLineNo(c), local->message);
            return NULL;
        }
    }
    return g_steal_pointer(&table);
}

VfsecMacTable *
vfsec_macfile_parse(const char *xml, gsize len, const char *what, const char *schema_path,
                    GError **error)
{
    g_autofree char *schema = NULL;
    g_autoptr(xmlDoc) doc = NULL;

    g_return_val_if_fail(xml != NULL && what != NULL, NULL);

    /* Clamped, a length no buffer can have is still refused as too large. */
    doc = vfsec_xml_read(xml, (gssize)MIN(len, (gsize)G_MAXSSIZE), VFSEC_MACFILE_MAX, what,
                         error);
    if (!doc)
        return NULL;
    schema = schema_path ? g_strdup(schema_path) : vfsec_xml_schema_path(VFSEC_MACFILE_SCHEMA);
    if (!vfsec_xml_validate_doc(doc, schema, what, error))
        return NULL;
    return vfsec_macfile_parse_doc(doc, what, error);
}

VfsecMacTable *
vfsec_macfile_read(const char *dir, const char *port, const char *schema_path, GError **error)
{
    g_autofree char *path = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(VfsecMacTable) table = NULL;
    gsize len;

    g_return_val_if_fail(dir != NULL && port != NULL, NULL);

    path = vfsec_macfile_path(dir, port);
    if (!vfsec_file_read_max(path, VFSEC_MACFILE_MAX, &xml, &len, error))
        return NULL;
    table = vfsec_macfile_parse(xml, len, path, schema_path, error);
    if (!table)
        return NULL;
    if (!g_str_equal(table->port, port)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s holds the table of port '%s'", path, table->port);
        return NULL;
    }
    return g_steal_pointer(&table);
}
