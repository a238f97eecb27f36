/* vfsec-journal.c: crash-safe VF state in one checksummed JSON file per VF,
 * on atomic file replacement. */

/*
 * Theory of operation
 *
 * vfsecd must survive its own crash in the middle of an operation: after a
 * restart, reconcile has to know which VF belonged to whom and which
 * operation was under way. So every operation is recorded (intent) before
 * vfsecd acts and marked done after; an intent found at start-up is replayed
 * (operations are idempotent: reclaiming twice removes nothing the second
 * time).
 *
 * Shape: one file per VF, "vf-<pf label>-<vf index>.json", holding the VF's
 * assignment, its pending operations and its latest done one. The engine
 * serializes work per VF, so a change touches exactly one small file and
 * never rewrites the others; an append log would need compaction and a
 * torn tail would have to be told apart from corruption in the middle,
 * while here the unit of damage is one VF.
 *
 * Atomicity: a file is never modified in place but replaced through a
 * staged copy renamed over it (vfsec-file.h). A vfsecd crash leaves the old
 * or the new file, plus at worst a staged file, which the next open
 * removes: a change is in the page cache, which outlives the process, once
 * the call returns, so every write is "crash-safe" for vfsecd the moment it
 * returns. When an error is returned the caller does not act.
 *
 * Durability (surviving a kernel crash or power loss) is written behind,
 * off the caller's path: a flusher thread, VFSEC_JOURNAL_FLUSH_MS after the
 * first change of a round, fsyncs every file changed since its last round,
 * then the directory, in one batch (every operation of that second shares
 * it). vfsec_journal_sync() asks for a round at once and waits for it;
 * vfsec_journal_free() flushes. A kernel crash or power loss can therefore
 * lose the changes of the last second or so (a VF file may be its older
 * version, or empty/torn, which the checksum rejects). That loses nothing that matters, because such a
 * crash also stops every domain on the host and resets the NIC (its SADs
 * are device memory): at the next start no domain runs, and reconcile
 * releases every owner it finds, reclaims every VF that holds SAs (owned
 * or not), quarantines every unowned VF and empties the local-MAC tables,
 * whatever the journal says. The journal is what lets a vfsecd crash (the
 * host and its domains still up) resume precisely; for a host crash,
 * reconcile from libvirt and the PF driver is the authority. This is the
 * argument the old synchronous design already made for its lazy "done"
 * marks, extended to every write; it saves 15-17 fsyncs per domain
 * start or stop (docs/engine.md, "Crash safety").
 *
 * Cost: an unchanged assignment is not rewritten, so a reconcile that finds
 * every VF as recorded touches no file.
 *
 * Damage (a bad disk, an operator's editor, a file system without ordered
 * data writes) is caught by a SHA-256 over the file: each file starts with
 * {"version":1,"sha256":"<64 hex>", and the checksum covers every byte after
 * that prefix, so it is checked on the raw bytes before any JSON parsing and
 * does not depend on how a JSON library would reformat the text. A file that
 * fails any check is renamed NAME.rejected (kept for the operator, never
 * overwritten by the next write) and reported; the other VFs load normally.
 * Reconcile then rebuilds that VF from what libvirt and the PF driver say.
 *
 * Sequence numbers are journal-wide and strictly increasing: every write
 * takes the next one, and an operation's id is the number of the write that
 * recorded it. VF files are never deleted (a VF without assignment or
 * pending operation keeps its latest done one), so the highest number on
 * disk is the high-water mark the next open continues from.
 *
 * One writer: one vfsecd owns a state directory, and calls the journal from
 * its main thread; there is no locking between processes or threads.
 */
#include "vfsec-journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "vfsec-conf.h"
#include "vfsec-error.h"
#include "vfsec-file.h"

/* ------------------------------------------------------------------ */
/* Enums */

static const char *const vfsec_journal_op_kind_names[VFSEC_JOURNAL_OP_LAST] = {
    [VFSEC_JOURNAL_OP_RECLAIM] = "reclaim",
    [VFSEC_JOURNAL_OP_QUARANTINE] = "quarantine",
    [VFSEC_JOURNAL_OP_PUBLISH] = "publish",
    [VFSEC_JOURNAL_OP_UNPUBLISH] = "unpublish",
    [VFSEC_JOURNAL_OP_RELEASE] = "release",
};

static const char *const vfsec_journal_op_state_names[VFSEC_JOURNAL_STATE_LAST] = {
    [VFSEC_JOURNAL_STATE_INTENT] = "intent",
    [VFSEC_JOURNAL_STATE_DONE] = "done",
};

const char *
vfsec_journal_op_kind_to_string(VfsecJournalOpKind kind)
{
    if ((guint)kind >= VFSEC_JOURNAL_OP_LAST)
        return NULL;
    return vfsec_journal_op_kind_names[kind];
}

int
vfsec_journal_op_kind_from_string(const char *str)
{
    return vfsec_name_index(vfsec_journal_op_kind_names, VFSEC_JOURNAL_OP_LAST, str);
}

const char *
vfsec_journal_op_state_to_string(VfsecJournalOpState state)
{
    if ((guint)state >= VFSEC_JOURNAL_STATE_LAST)
        return NULL;
    return vfsec_journal_op_state_names[state];
}

int
vfsec_journal_op_state_from_string(const char *str)
{
    return vfsec_name_index(vfsec_journal_op_state_names, VFSEC_JOURNAL_STATE_LAST,
                                    str);
}

/* ------------------------------------------------------------------ */
/* Operations and assignments */

VfsecJournalOp *
vfsec_journal_op_copy(const VfsecJournalOp *op)
{
    VfsecJournalOp *copy = g_new0(VfsecJournalOp, 1);

    *copy = *op;
    copy->pf = g_strdup(op->pf);
    copy->owner_name = g_strdup(op->owner_name);
    copy->owner_uuid = g_strdup(op->owner_uuid);
    return copy;
}

void
vfsec_journal_op_free(VfsecJournalOp *op)
{
    if (!op)
        return;
    g_free(op->pf);
    g_free(op->owner_name);
    g_free(op->owner_uuid);
    g_free(op);
}

VfsecJournalAssignment *
vfsec_journal_assignment_new(const char *pf, guint vf)
{
    VfsecJournalAssignment *a = g_new0(VfsecJournalAssignment, 1);

    a->pf = g_strdup(pf);
    a->vf = vf;
    a->vlans = g_array_new(FALSE, FALSE, sizeof(guint16));
    a->trust = VFSEC_POLICY_DEFAULT_TRUST;
    return a;
}

VfsecJournalAssignment *
vfsec_journal_assignment_copy(const VfsecJournalAssignment *a)
{
    VfsecJournalAssignment *copy = g_new0(VfsecJournalAssignment, 1);

    *copy = *a;
    copy->pf = g_strdup(a->pf);
    copy->owner_name = g_strdup(a->owner_name);
    copy->owner_uuid = g_strdup(a->owner_uuid);
    copy->vlans = g_array_copy(a->vlans);
    return copy;
}

void
vfsec_journal_assignment_free(VfsecJournalAssignment *a)
{
    if (!a)
        return;
    g_free(a->pf);
    g_free(a->owner_name);
    g_free(a->owner_uuid);
    g_clear_pointer(&a->vlans, g_array_unref);
    g_free(a);
}

/* The VF a record is about: a valid label and index. */
static gboolean
vfsec_journal_check_vf(const char *pf, guint vf, GError **error)
{
    if (!vfsec_conf_label_check(pf, error))
        return FALSE;
    if (vf > VFSEC_JOURNAL_VF_MAX) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "VF index %u of PF %s is above %d", vf, pf, VFSEC_JOURNAL_VF_MAX);
        return FALSE;
    }
    return TRUE;
}

/* An owner is a domain name with its UUID, both or neither (@required: both). */
static gboolean
vfsec_journal_check_owner(const char *name, const char *uuid, gboolean required,
                          const char *what, GError **error)
{
    if (!name && !uuid && !required)
        return TRUE;
    if (!name || !*name || !uuid || !g_uuid_string_is_valid(uuid)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s needs an owner with a domain name and a UUID (got '%s', '%s')",
                    what, name ? name : "", uuid ? uuid : "");
        return FALSE;
    }
    return TRUE;
}

static gboolean
vfsec_journal_assignment_check(const VfsecJournalAssignment *a, GError **error)
{
    g_autofree char *what = NULL;

    if (!vfsec_journal_check_vf(a->pf, a->vf, error))
        return FALSE;
    what = g_strdup_printf("the assignment of VF %u of PF %s", a->vf, a->pf);
    if (!vfsec_journal_check_owner(a->owner_name, a->owner_uuid, TRUE, what, error))
        return FALSE;
    if (!a->vlans || a->vlans->len > VFSEC_JOURNAL_VLANS_MAX) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s has no VLAN list or more than %d VLANs", what, VFSEC_JOURNAL_VLANS_MAX);
        return FALSE;
    }
    for (guint i = 0; i < a->vlans->len; i++) {
        guint16 vid = g_array_index(a->vlans, guint16, i);

        if (vid > 4095) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s has VLAN %u, above 4095", what, vid);
            return FALSE;
        }
    }
    if ((guint)a->trust >= VFSEC_TRUST_LAST) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s has no valid trust", what);
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* One VF's file */

typedef struct {
    char *pf;
    guint vf;
    char *file;                         /* base name in the journal directory */
    guint64 sequence;                   /* of the write that produced the file */
    VfsecJournalAssignment *assignment; /* NULL: the VF is not assigned */
    GPtrArray *ops;                     /* VfsecJournalOp*: intents by id, then at most
                                         * one done */
} VfsecJournalVf;

static char *
vfsec_journal_file_name(const char *pf, guint vf)
{
    /* The index has no '-', so the last one separates it from the label. */
    return g_strdup_printf("vf-%s-%u.json", pf, vf);
}

static VfsecJournalVf *
vfsec_journal_vf_new(const char *pf, guint vf)
{
    VfsecJournalVf *entry = g_new0(VfsecJournalVf, 1);

    entry->pf = g_strdup(pf);
    entry->vf = vf;
    entry->file = vfsec_journal_file_name(pf, vf);
    entry->ops = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_journal_op_free);
    return entry;
}

static void
vfsec_journal_vf_free(VfsecJournalVf *entry)
{
    if (!entry)
        return;
    g_free(entry->pf);
    g_free(entry->file);
    vfsec_journal_assignment_free(entry->assignment);
    g_clear_pointer(&entry->ops, g_ptr_array_unref);
    g_free(entry);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecJournalVf, vfsec_journal_vf_free)

/* A deep copy to change: the journal swaps it in only once it is on disk. */
static VfsecJournalVf *
vfsec_journal_vf_copy(const VfsecJournalVf *entry)
{
    VfsecJournalVf *copy = vfsec_journal_vf_new(entry->pf, entry->vf);

    copy->sequence = entry->sequence;
    if (entry->assignment)
        copy->assignment = vfsec_journal_assignment_copy(entry->assignment);
    for (guint i = 0; i < entry->ops->len; i++)
        g_ptr_array_add(copy->ops, vfsec_journal_op_copy(g_ptr_array_index(entry->ops, i)));
    return copy;
}

/* ---- To JSON ---- */

static void
vfsec_journal_build_owner(JsonBuilder *b, const char *name, const char *uuid)
{
    if (!name)
        return;
    json_builder_set_member_name(b, "owner");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "uuid");
    json_builder_add_string_value(b, uuid);
    json_builder_end_object(b);
}

static void
vfsec_journal_build_assignment(JsonBuilder *b, const VfsecJournalAssignment *a)
{
    char pci[VFSEC_PCI_ADDR_STRLEN];
    char mac[VFSEC_MAC_STRLEN];

    json_builder_begin_object(b);
    if (a->has_pci) {
        json_builder_set_member_name(b, "pci");
        json_builder_add_string_value(b, vfsec_pci_addr_format(&a->pci, pci));
    }
    vfsec_journal_build_owner(b, a->owner_name, a->owner_uuid);
    if (a->has_mac) {
        json_builder_set_member_name(b, "mac");
        json_builder_add_string_value(b, vfsec_mac_format(&a->mac, mac));
    }
    json_builder_set_member_name(b, "vlans");
    json_builder_begin_array(b);
    for (guint i = 0; i < a->vlans->len; i++)
        json_builder_add_int_value(b, g_array_index(a->vlans, guint16, i));
    json_builder_end_array(b);
    json_builder_set_member_name(b, "trust");
    json_builder_add_string_value(b, vfsec_trust_to_string(a->trust));
    json_builder_set_member_name(b, "quarantined");
    json_builder_add_boolean_value(b, a->quarantined);
    json_builder_set_member_name(b, "published");
    json_builder_add_boolean_value(b, a->published);
    json_builder_end_object(b);
}

static void
vfsec_journal_build_op(JsonBuilder *b, const VfsecJournalOp *op)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, (gint64)op->id);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, vfsec_journal_op_kind_to_string(op->kind));
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, vfsec_journal_op_state_to_string(op->state));
    vfsec_journal_build_owner(b, op->owner_name, op->owner_uuid);
    json_builder_end_object(b);
}

/* The whole file: the checksummed prefix, then the body's members. */
static char *
vfsec_journal_vf_serialize(const VfsecJournalVf *entry, gsize *len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *body = NULL;
    g_autofree char *rest = NULL;
    g_autofree char *sum = NULL;
    char *text;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pf");
    json_builder_add_string_value(b, entry->pf);
    json_builder_set_member_name(b, "vf");
    json_builder_add_int_value(b, entry->vf);
    json_builder_set_member_name(b, "sequence");
    json_builder_add_int_value(b, (gint64)entry->sequence);
    json_builder_set_member_name(b, "assignment");
    if (entry->assignment)
        vfsec_journal_build_assignment(b, entry->assignment);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "operations");
    json_builder_begin_array(b);
    for (guint i = 0; i < entry->ops->len; i++)
        vfsec_journal_build_op(b, g_ptr_array_index(entry->ops, i));
    json_builder_end_array(b);
    json_builder_end_object(b);

    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    body = json_generator_to_data(gen, NULL);
    /* body is "{...}": what follows its '{' continues the prefix's object. */
    rest = g_strconcat(body + 1, "\n", NULL);
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, rest, -1);
    text = g_strdup_printf("{\"version\":%d,\"sha256\":\"%s\",%s",
                           VFSEC_JOURNAL_VERSION, sum, rest);
    *len = strlen(text);
    return text;
}

/* ---- From JSON ---- */

/* Checks the prefix and the checksum on the raw bytes. */
static gboolean
vfsec_journal_verify(const char *data, gsize len, GError **error)
{
    static const char head[] = "{\"version\":";
    static const char mid[] = ",\"sha256\":\"";
    const gsize hex = 64;
    g_autofree char *sum = NULL;
    const char *p = data;
    const char *end = data + len;
    guint64 version = 0;
    gsize digits = 0;

    if (len < sizeof(head) - 1 || memcmp(p, head, sizeof(head) - 1) != 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "does not start like a vfsec journal file");
        return FALSE;
    }
    p += sizeof(head) - 1;
    while (p < end && digits < 10 && g_ascii_isdigit(*p)) {
        version = version * 10 + (guint64)(*p++ - '0');
        digits++;
    }
    if (digits == 0 || (gsize)(end - p) < sizeof(mid) - 1 + hex + 2 ||
        memcmp(p, mid, sizeof(mid) - 1) != 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "has no version and checksum prefix (truncated)");
        return FALSE;
    }
    if (version != VFSEC_JOURNAL_VERSION) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "has version %" G_GUINT64_FORMAT "; this vfsecd reads version %d",
                    version, VFSEC_JOURNAL_VERSION);
        return FALSE;
    }
    p += sizeof(mid) - 1;
    if (memcmp(p + hex, "\",", 2) != 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "has a malformed checksum");
        return FALSE;
    }
    sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)p + hex + 2,
                                      (gsize)(end - p) - hex - 2);
    if (memcmp(sum, p, hex) != 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "fails its checksum (truncated or damaged)");
        return FALSE;
    }
    return TRUE;
}

/* Members of a JSON object by type; each failure names the member. */
static gboolean
vfsec_json_uint(JsonObject *obj, const char *name, guint64 max, guint64 *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64 || json_node_get_int(node) < 0 ||
        (guint64)json_node_get_int(node) > max) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "\"%s\" is missing or not a number from 0 to %" G_GUINT64_FORMAT,
                    name, max);
        return FALSE;
    }
    *out = (guint64)json_node_get_int(node);
    return TRUE;
}

/* A string member; NULL (no error) when absent and not @required. */
static gboolean
vfsec_json_string(JsonObject *obj, const char *name, gboolean required, const char **out,
                  GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    *out = NULL;
    if (!node && !required)
        return TRUE;
    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "\"%s\" is missing or not a string", name);
        return FALSE;
    }
    *out = json_node_get_string(node);
    return TRUE;
}

static gboolean
vfsec_json_bool(JsonObject *obj, const char *name, gboolean *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "\"%s\" is missing or not true/false", name);
        return FALSE;
    }
    *out = json_node_get_boolean(node);
    return TRUE;
}

/* An object or array member; NULL with @error when it is something else. */
static JsonNode *
vfsec_json_node(JsonObject *obj, const char *name, JsonNodeType type, gboolean required,
                GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    if ((!node || JSON_NODE_HOLDS_NULL(node)) && !required)
        return NULL;
    if (!node || JSON_NODE_TYPE(node) != type) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "\"%s\" is missing or not an %s",
                    name, type == JSON_NODE_ARRAY ? "array" : "object");
        return NULL;
    }
    return node;
}

static gboolean
vfsec_journal_parse_owner(JsonObject *obj, char **name, char **uuid, GError **error)
{
    g_autoptr(GError) local = NULL;
    JsonNode *node = vfsec_json_node(obj, "owner", JSON_NODE_OBJECT, FALSE, &local);
    JsonObject *owner;
    const char *n, *u;

    if (local) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (!node)
        return TRUE;
    owner = json_node_get_object(node);
    if (!vfsec_json_string(owner, "name", TRUE, &n, error) ||
        !vfsec_json_string(owner, "uuid", TRUE, &u, error))
        return FALSE;
    *name = g_strdup(n);
    *uuid = g_strdup(u);
    return TRUE;
}

static gboolean
vfsec_journal_parse_vlans(JsonObject *obj, GArray *vlans, GError **error)
{
    JsonNode *node = vfsec_json_node(obj, "vlans", JSON_NODE_ARRAY, TRUE, error);
    JsonArray *array;

    if (!node)
        return FALSE;
    array = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *item = json_array_get_element(array, i);
        guint16 vid;

        if (!JSON_NODE_HOLDS_VALUE(item) || json_node_get_value_type(item) != G_TYPE_INT64 ||
            json_node_get_int(item) < 0 || json_node_get_int(item) > 4095) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "\"vlans\" item %u is not a VLAN id from 0 to 4095", i);
            return FALSE;
        }
        vid = (guint16)json_node_get_int(item);
        g_array_append_val(vlans, vid);
    }
    return TRUE;
}

static VfsecJournalAssignment *
vfsec_journal_parse_assignment(JsonObject *obj, const char *pf, guint vf, GError **error)
{
    g_autoptr(VfsecJournalAssignment) a = vfsec_journal_assignment_new(pf, vf);
    const char *pci, *mac, *trust;
    int t;

    if (!vfsec_json_string(obj, "pci", FALSE, &pci, error) ||
        !vfsec_json_string(obj, "mac", FALSE, &mac, error) ||
        !vfsec_json_string(obj, "trust", TRUE, &trust, error) ||
        !vfsec_journal_parse_owner(obj, &a->owner_name, &a->owner_uuid, error) ||
        !vfsec_journal_parse_vlans(obj, a->vlans, error) ||
        !vfsec_json_bool(obj, "quarantined", &a->quarantined, error) ||
        !vfsec_json_bool(obj, "published", &a->published, error))
        return NULL;
    a->has_pci = pci != NULL;
    if (pci && !vfsec_pci_addr_parse(pci, &a->pci, error))
        return NULL;
    a->has_mac = mac != NULL;
    if (mac && !vfsec_mac_parse(mac, &a->mac, error))
        return NULL;
    t = vfsec_trust_from_string(trust);
    if (t < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "\"trust\" '%s' is not untrusted or trusted", trust);
        return NULL;
    }
    a->trust = (VfsecTrust)t;
    if (!vfsec_journal_assignment_check(a, error))
        return NULL;
    return g_steal_pointer(&a);
}

static VfsecJournalOp *
vfsec_journal_parse_op(JsonNode *node, const char *pf, guint vf, GError **error)
{
    g_autoptr(VfsecJournalOp) op = g_new0(VfsecJournalOp, 1);
    JsonObject *obj;
    const char *kind, *state;
    int k, s;

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "an operation is not an object");
        return NULL;
    }
    obj = json_node_get_object(node);
    op->pf = g_strdup(pf);
    op->vf = vf;
    if (!vfsec_json_uint(obj, "id", G_MAXINT64, &op->id, error) ||
        !vfsec_json_string(obj, "kind", TRUE, &kind, error) ||
        !vfsec_json_string(obj, "state", TRUE, &state, error) ||
        !vfsec_journal_parse_owner(obj, &op->owner_name, &op->owner_uuid, error))
        return NULL;
    k = vfsec_journal_op_kind_from_string(kind);
    s = vfsec_journal_op_state_from_string(state);
    if (k < 0 || s < 0 || op->id == 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "operation %" G_GUINT64_FORMAT " has kind '%s' and state '%s'",
                    op->id, kind, state);
        return NULL;
    }
    op->kind = (VfsecJournalOpKind)k;
    op->state = (VfsecJournalOpState)s;
    if (!vfsec_journal_check_owner(op->owner_name, op->owner_uuid, FALSE, "an operation",
                                   error))
        return NULL;
    return g_steal_pointer(&op);
}

/* Parses a verified file. */
static VfsecJournalVf *
vfsec_journal_vf_parse(const char *data, gsize len, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(VfsecJournalVf) entry = NULL;
    g_autoptr(GError) local = NULL;
    JsonNode *assignment, *ops;
    JsonObject *obj;
    const char *pf;
    guint64 vf, sequence;

    if (!json_parser_load_from_data(parser, data, (gssize)len, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "is not JSON: %s",
                    local->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "is not a JSON object");
        return NULL;
    }
    obj = json_node_get_object(json_parser_get_root(parser));
    if (!vfsec_json_string(obj, "pf", TRUE, &pf, error) ||
        !vfsec_json_uint(obj, "vf", VFSEC_JOURNAL_VF_MAX, &vf, error) ||
        !vfsec_json_uint(obj, "sequence", G_MAXINT64, &sequence, error) ||
        !vfsec_journal_check_vf(pf, (guint)vf, error))
        return NULL;
    entry = vfsec_journal_vf_new(pf, (guint)vf);
    entry->sequence = sequence;

    assignment = vfsec_json_node(obj, "assignment", JSON_NODE_OBJECT, FALSE, &local);
    if (local) {
        g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    if (assignment) {
        entry->assignment = vfsec_journal_parse_assignment(json_node_get_object(assignment),
                                                           pf, (guint)vf, error);
        if (!entry->assignment)
            return NULL;
    }
    ops = vfsec_json_node(obj, "operations", JSON_NODE_ARRAY, TRUE, error);
    if (!ops)
        return NULL;
    for (guint i = 0; i < json_array_get_length(json_node_get_array(ops)); i++) {
        JsonNode *item = json_array_get_element(json_node_get_array(ops), i);
        VfsecJournalOp *op = vfsec_journal_parse_op(item, pf, (guint)vf, error);

        if (!op)
            return NULL;
        g_ptr_array_add(entry->ops, op);
    }
    return g_steal_pointer(&entry);
}

/* ------------------------------------------------------------------ */
/* The journal */

/* How long a round of fsyncs waits for more changes to share it: the bound
 * on what a host crash can take from the journal (ext4 itself commits
 * every 5 s by default). */
#define VFSEC_JOURNAL_FLUSH_MS 1000

/* The write-behind of durability: what the flusher thread shares with the
 * writer (the journal's one calling thread), under @lock. */
typedef struct {
    GMutex lock;
    GCond cond;             /* signalled on new work, on a finished round, on quit */
    GHashTable *dirty;      /* file base names (owned) renamed since the last round */
    guint64 requested;      /* rounds asked for: bumped by every write */
    guint64 synced;         /* the last request a finished round covered */
    guint64 urgent;         /* a vfsec_journal_sync() waits for this request */
    gboolean quit;
    GThread *thread;
    char *dir;
} VfsecJournalFlusher;

struct _VfsecJournal {
    char *dir;
    GHashTable *vfs;        /* file base name (owned by the value) → VfsecJournalVf* */
    GHashTable *ops;        /* operation id → file base name (owned by the entry) */
    GHashTable *unwritten;  /* file base names (owned) whose entry was staged, not written */
    guint64 next_seq;
    guint64 writes;         /* files replaced since open, see vfsec_journal_get_writes() */
    VfsecJournalFlusher *flusher;   /* NULL until the first write */
};

/* fsyncs @dir/@name; a file that vanished (never here) is not an error. */
static gboolean
vfsec_journal_sync_file(const char *dir, const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) local = NULL;

    if (vfsec_file_sync(path, &local) ||
        g_error_matches(local, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND))
        return TRUE;
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
}

/* One round: the files, then the directory that names them. Every file is
 * tried, whatever one of them did; the first error is returned. */
static gboolean
vfsec_journal_flush_round(const char *dir, GHashTable *names, GError **error)
{
    g_autoptr(GError) first = NULL;
    GHashTableIter iter;
    gpointer name;

    g_hash_table_iter_init(&iter, names);
    while (g_hash_table_iter_next(&iter, &name, NULL))
        vfsec_journal_sync_file(dir, name, first ? NULL : &first);
    vfsec_dir_sync(dir, first ? NULL : &first);
    if (!first)
        return TRUE;
    g_propagate_error(error, g_steal_pointer(&first));
    return FALSE;
}

static gpointer
vfsec_journal_flusher_main(gpointer data)
{
    VfsecJournalFlusher *f = data;

    g_mutex_lock(&f->lock);
    for (;;) {
        g_autoptr(GHashTable) names = NULL;
        g_autoptr(GError) error = NULL;
        guint64 target;
        gint64 deadline;
        gboolean failed;

        while (!f->quit && f->synced == f->requested)
            g_cond_wait(&f->cond, &f->lock);
        if (f->synced == f->requested)
            break;  /* quit, nothing left */
        /* Let the changes of the next moments join this round: on ext4 an
         * fsync commits the file system's journal, and the writer's next
         * create or rename waits behind that commit, so rounds must be
         * rare, not merely off the writer's thread. */
        deadline = g_get_monotonic_time() + VFSEC_JOURNAL_FLUSH_MS * G_TIME_SPAN_MILLISECOND;
        while (!f->quit && f->urgent <= f->synced &&
               g_cond_wait_until(&f->cond, &f->lock, deadline))
            ;
        /* Everything renamed until now: the writes that come while this
         * round runs wait for the next one, and share it. */
        target = f->requested;
        names = g_steal_pointer(&f->dirty);
        f->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_mutex_unlock(&f->lock);

        failed = !vfsec_journal_flush_round(f->dir, names, &error);
        if (failed)
            /* Not retried at once (the disk refuses): the names go back to
             * the set, and the next write's round tries them again. The
             * files are whole for vfsecd either way. */
            g_warning("journal %s: cannot make the latest changes durable: %s", f->dir,
                      error->message);

        g_mutex_lock(&f->lock);
        if (failed) {
            GHashTableIter iter;
            gpointer name;

            g_hash_table_iter_init(&iter, names);
            while (g_hash_table_iter_next(&iter, &name, NULL)) {
                g_hash_table_iter_steal(&iter);
                g_hash_table_add(f->dirty, name);
            }
        }
        f->synced = target;
        g_cond_broadcast(&f->cond);
    }
    g_mutex_unlock(&f->lock);
    return NULL;
}

static VfsecJournalFlusher *
vfsec_journal_flusher_new(const char *dir)
{
    VfsecJournalFlusher *f = g_new0(VfsecJournalFlusher, 1);

    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    f->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    f->dir = g_strdup(dir);
    f->thread = g_thread_new("vfsec-journal", vfsec_journal_flusher_main, f);
    return f;
}

/* Flushes what is pending, then stops the thread. */
static void
vfsec_journal_flusher_free(VfsecJournalFlusher *f)
{
    if (!f)
        return;
    g_mutex_lock(&f->lock);
    f->quit = TRUE;
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
    g_thread_join(f->thread);
    g_hash_table_unref(f->dirty);
    g_mutex_clear(&f->lock);
    g_cond_clear(&f->cond);
    g_free(f->dir);
    g_free(f);
}

/* @name was just renamed into place: have it made durable. */
static void
vfsec_journal_flusher_add(VfsecJournal *journal, const char *name)
{
    VfsecJournalFlusher *f;

    if (!journal->flusher)
        journal->flusher = vfsec_journal_flusher_new(journal->dir);
    f = journal->flusher;
    g_mutex_lock(&f->lock);
    g_hash_table_add(f->dirty, g_strdup(name));
    /* Only the first change of a round wakes the thread (a context switch
     * per write would cost the writer on a busy machine); the others are
     * collected when its delay ends. */
    if (f->requested++ == f->synced)
        g_cond_signal(&f->cond);
    g_mutex_unlock(&f->lock);
}

void
vfsec_journal_sync(VfsecJournal *journal)
{
    VfsecJournalFlusher *f;
    guint64 target;

    g_return_if_fail(journal != NULL);

    if (!(f = journal->flusher))
        return;
    g_mutex_lock(&f->lock);
    target = f->requested;
    f->urgent = MAX(f->urgent, target);
    g_cond_broadcast(&f->cond);
    while (f->synced < target)
        g_cond_wait(&f->cond, &f->lock);
    g_mutex_unlock(&f->lock);
}

void
vfsec_journal_free(VfsecJournal *journal)
{
    g_autoptr(GError) error = NULL;

    if (!journal)
        return;
    if (journal->unwritten && !vfsec_journal_write_staged(journal, &error))
        g_warning("journal %s: %s", journal->dir, error->message);
    g_clear_pointer(&journal->unwritten, g_hash_table_unref);
    vfsec_journal_flusher_free(journal->flusher);
    g_free(journal->dir);
    g_clear_pointer(&journal->ops, g_hash_table_unref);
    g_clear_pointer(&journal->vfs, g_hash_table_unref);
    g_free(journal);
}

/* The operation index: every id an entry holds (intents and its done one)
 * names the entry's file, so that marking an operation done and checking
 * ids at load are lookups, not a scan of every VF. The 64-bit ids are the
 * keys themselves, packed in the pointer: a build where they do not fit
 * would make ids collide, so it does not compile. */
G_STATIC_ASSERT(sizeof(gpointer) >= sizeof(guint64));

static void
vfsec_journal_index(VfsecJournal *journal, const VfsecJournalVf *entry, gboolean add)
{
    for (guint i = 0; i < entry->ops->len; i++) {
        const VfsecJournalOp *op = g_ptr_array_index(entry->ops, i);

        if (add)
            g_hash_table_insert(journal->ops, GSIZE_TO_POINTER(op->id), entry->file);
        else
            g_hash_table_remove(journal->ops, GSIZE_TO_POINTER(op->id));
    }
}

/* The highest sequence number the entry holds. */
static guint64
vfsec_journal_vf_high(const VfsecJournalVf *entry)
{
    guint64 high = entry->sequence;

    for (guint i = 0; i < entry->ops->len; i++)
        high = MAX(high, ((const VfsecJournalOp *)g_ptr_array_index(entry->ops, i))->id);
    return high;
}

static gboolean
vfsec_journal_has_op(VfsecJournal *journal, guint64 id, VfsecJournalVf **owner_vf)
{
    const char *file = g_hash_table_lookup(journal->ops, GSIZE_TO_POINTER(id));

    if (!file)
        return FALSE;
    if (owner_vf)
        *owner_vf = g_hash_table_lookup(journal->vfs, file);
    return TRUE;
}

/* Reads, verifies and parses one VF file; checks that it is where its
 * content says it belongs and that its ids are new. */
static VfsecJournalVf *
vfsec_journal_load_file(VfsecJournal *journal, const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(journal->dir, name, NULL);
    g_autofree char *data = NULL;
    g_autoptr(VfsecJournalVf) entry = NULL;
    gsize len;

    if (!vfsec_file_read_max(path, VFSEC_JOURNAL_FILE_MAX, &data, &len, error) ||
        !vfsec_journal_verify(data, len, error))
        return NULL;
    entry = vfsec_journal_vf_parse(data, len, error);
    if (!entry)
        return NULL;
    if (!g_str_equal(entry->file, name)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "holds VF %u of PF %s, whose file is %s", entry->vf, entry->pf, entry->file);
        return NULL;
    }
    for (guint i = 0; i < entry->ops->len; i++) {
        guint64 id = ((VfsecJournalOp *)g_ptr_array_index(entry->ops, i))->id;

        if (vfsec_journal_has_op(journal, id, NULL)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "reuses operation id %" G_GUINT64_FORMAT " of another VF", id);
            return NULL;
        }
    }
    return g_steal_pointer(&entry);
}

/* Moves a file that failed to load out of the way and reports it. */
static void
vfsec_journal_reject(VfsecJournal *journal, const char *name, GError *why,
                     GPtrArray *warnings)
{
    g_autofree char *path = g_build_filename(journal->dir, name, NULL);
    g_autofree char *aside = g_strconcat(path, ".rejected", NULL);
    GError *warning;

    if (rename(path, aside) < 0) {
        int saved = errno;

        warning = g_error_new(VFSEC_ERROR, why->code,
                              "journal file %s %s; ignored (cannot set it aside: %s)",
                              path, why->message, g_strerror(saved));
    } else {
        warning = g_error_new(VFSEC_ERROR, why->code,
                              "journal file %s %s; ignored and set aside as %s.rejected",
                              path, why->message, name);
    }
    if (warnings)
        g_ptr_array_add(warnings, warning);
    else {
        g_warning("%s", warning->message);
        g_error_free(warning);
    }
}

static gint
vfsec_str_ptr_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

VfsecJournal *
vfsec_journal_open(const char *dir, GPtrArray **warnings, GError **error)
{
    g_autoptr(VfsecJournal) journal = g_new0(VfsecJournal, 1);
    g_autoptr(GPtrArray) found = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) d = NULL;
    g_autoptr(GError) local = NULL;
    guint64 high = 0;

    g_return_val_if_fail(dir != NULL, NULL);

    if (warnings)
        found = g_ptr_array_new_with_free_func((GDestroyNotify)g_error_free);
    journal->dir = g_strdup(dir);
    journal->vfs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify)vfsec_journal_vf_free);
    /* Ids fit a pointer: vfsecd runs on 64-bit hosts (SR-IOV servers). */
    G_STATIC_ASSERT(sizeof(gsize) >= sizeof(guint64));
    journal->ops = g_hash_table_new(g_direct_hash, g_direct_equal);
    journal->unwritten = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        vfsec_file_set_error(error, errno, "create journal directory", dir);
        return NULL;
    }
    if (!vfsec_file_clean_staged(dir, NULL, error))
        return NULL;
    d = g_dir_open(dir, 0, &local);
    if (!d) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot list journal directory %s: %s",
                    dir, local->message);
        return NULL;
    }
    for (const char *name; (name = g_dir_read_name(d));) {
        if (g_str_has_prefix(name, "vf-") && g_str_has_suffix(name, ".json"))
            g_ptr_array_add(names, g_strdup(name));
    }
    /* A fixed order, so which of two conflicting files is rejected does not
     * depend on the directory's hash order. */
    g_ptr_array_sort(names, vfsec_str_ptr_cmp);

    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autoptr(GError) why = NULL;
        VfsecJournalVf *entry = vfsec_journal_load_file(journal, name, &why);

        if (!entry) {
            vfsec_journal_reject(journal, name, why, found);
            continue;
        }
        high = MAX(high, vfsec_journal_vf_high(entry));
        g_hash_table_insert(journal->vfs, entry->file, entry);
        vfsec_journal_index(journal, entry, TRUE);
    }
    journal->next_seq = high + 1;
    g_debug("journal %s: %u VF file(s), next sequence %" G_GUINT64_FORMAT,
            dir, g_hash_table_size(journal->vfs), journal->next_seq);
    if (warnings)
        *warnings = g_steal_pointer(&found);
    return g_steal_pointer(&journal);
}

/* The VF's current entry, or a fresh copy to change (new when unknown). */
static VfsecJournalVf *
vfsec_journal_edit(VfsecJournal *journal, const char *pf, guint vf)
{
    g_autofree char *name = vfsec_journal_file_name(pf, vf);
    const VfsecJournalVf *entry = g_hash_table_lookup(journal->vfs, name);

    return entry ? vfsec_journal_vf_copy(entry) : vfsec_journal_vf_new(pf, vf);
}

/* Writes @entry's file (in place for a restarted vfsecd once this returns;
 * durable after the flusher's round, see the top). */
static gboolean
vfsec_journal_write(VfsecJournal *journal, const VfsecJournalVf *entry, GError **error)
{
    g_autofree char *text = NULL;
    g_autofree char *staged = NULL;
    gsize len;

    text = vfsec_journal_vf_serialize(entry, &len);
    staged = vfsec_file_stage_unsynced(journal->dir, entry->file, text, len, 0600, error);
    if (!staged || !vfsec_file_commit_unsynced(journal->dir, staged, entry->file, error))
        return FALSE;
    g_hash_table_remove(journal->unwritten, entry->file);
    vfsec_journal_flusher_add(journal, entry->file);
    journal->writes++;
    g_debug("journal: wrote %s (sequence %" G_GUINT64_FORMAT ")", entry->file, entry->sequence);
    return TRUE;
}

/* Makes @next (taken, under a new sequence number) the VF's entry. @now:
 * its file is written first (together with whatever was staged for that
 * VF), and on failure nothing in memory changes; otherwise the change is
 * staged: in memory at once, on disk with the VF's next written change or
 * vfsec_journal_write_staged(). */
static gboolean
vfsec_journal_commit(VfsecJournal *journal, VfsecJournalVf *next, gboolean now,
                     GError **error)
{
    g_autoptr(VfsecJournalVf) entry = next;
    const VfsecJournalVf *old;

    if (now && !vfsec_journal_write(journal, entry, error))
        return FALSE;
    if (!now)
        g_hash_table_add(journal->unwritten, g_strdup(entry->file));
    next = g_steal_pointer(&entry);
    if ((old = g_hash_table_lookup(journal->vfs, next->file)))
        vfsec_journal_index(journal, old, FALSE);
    g_hash_table_replace(journal->vfs, next->file, next);
    vfsec_journal_index(journal, next, TRUE);
    return TRUE;
}

static gboolean
vfsec_journal_intent(VfsecJournal *journal, VfsecJournalOpKind kind, const char *pf, guint vf,
                     const char *owner_name, const char *owner_uuid, gboolean now,
                     guint64 *id, GError **error)
{
    g_autoptr(VfsecJournalVf) next = NULL;
    VfsecJournalOp *op;

    g_return_val_if_fail(journal != NULL && id != NULL, FALSE);
    g_return_val_if_fail((guint)kind < VFSEC_JOURNAL_OP_LAST, FALSE);

    if (!vfsec_journal_check_vf(pf, vf, error) ||
        !vfsec_journal_check_owner(owner_name, owner_uuid, FALSE, "an operation", error))
        return FALSE;

    next = vfsec_journal_edit(journal, pf, vf);
    next->sequence = journal->next_seq++;
    op = g_new0(VfsecJournalOp, 1);
    op->id = next->sequence;
    op->kind = kind;
    op->state = VFSEC_JOURNAL_STATE_INTENT;
    op->pf = g_strdup(pf);
    op->vf = vf;
    op->owner_name = g_strdup(owner_name);
    op->owner_uuid = g_strdup(owner_uuid);
    /* Intents stay in id order ahead of the one done operation kept. */
    for (guint i = 0;; i++) {
        if (i == next->ops->len ||
            ((VfsecJournalOp *)g_ptr_array_index(next->ops, i))->state ==
                VFSEC_JOURNAL_STATE_DONE) {
            g_ptr_array_insert(next->ops, (gint)i, op);
            break;
        }
    }
    *id = op->id;
    return vfsec_journal_commit(journal, g_steal_pointer(&next), now, error);
}

gboolean
vfsec_journal_record_intent(VfsecJournal *journal, VfsecJournalOpKind kind, const char *pf,
                            guint vf, const char *owner_name, const char *owner_uuid,
                            guint64 *id, GError **error)
{
    return vfsec_journal_intent(journal, kind, pf, vf, owner_name, owner_uuid, TRUE, id, error);
}

gboolean
vfsec_journal_stage_intent(VfsecJournal *journal, VfsecJournalOpKind kind, const char *pf,
                           guint vf, const char *owner_name, const char *owner_uuid,
                           guint64 *id, GError **error)
{
    return vfsec_journal_intent(journal, kind, pf, vf, owner_name, owner_uuid, FALSE, id,
                                error);
}

static gboolean
vfsec_journal_done(VfsecJournal *journal, guint64 id, gboolean now, GError **error)
{
    g_autoptr(VfsecJournalVf) next = NULL;
    VfsecJournalVf *entry = NULL;
    VfsecJournalOp *done = NULL;

    g_return_val_if_fail(journal != NULL, FALSE);

    if (!vfsec_journal_has_op(journal, id, &entry)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    "journal operation %" G_GUINT64_FORMAT " is not pending", id);
        return FALSE;
    }
    next = vfsec_journal_vf_copy(entry);
    for (guint i = next->ops->len; i-- > 0;) {
        VfsecJournalOp *op = g_ptr_array_index(next->ops, i);

        if (op->id == id && op->state == VFSEC_JOURNAL_STATE_INTENT)
            done = g_ptr_array_steal_index(next->ops, i);
        else if (op->state == VFSEC_JOURNAL_STATE_DONE)
            g_ptr_array_remove_index(next->ops, i);
    }
    if (!done) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    "journal operation %" G_GUINT64_FORMAT " is already done", id);
        return FALSE;
    }
    done->state = VFSEC_JOURNAL_STATE_DONE;
    g_ptr_array_add(next->ops, done);
    next->sequence = journal->next_seq++;
    return vfsec_journal_commit(journal, g_steal_pointer(&next), now, error);
}

gboolean
vfsec_journal_mark_done(VfsecJournal *journal, guint64 id, GError **error)
{
    return vfsec_journal_done(journal, id, TRUE, error);
}

gboolean
vfsec_journal_stage_done(VfsecJournal *journal, guint64 id, GError **error)
{
    return vfsec_journal_done(journal, id, FALSE, error);
}

gboolean
vfsec_journal_assignment_equal(const VfsecJournalAssignment *a,
                               const VfsecJournalAssignment *b)
{
    if (!a || !b)
        return a == b;
    return g_strcmp0(a->pf, b->pf) == 0 && a->vf == b->vf && a->has_pci == b->has_pci &&
           (!a->has_pci || vfsec_pci_addr_equal(&a->pci, &b->pci)) &&
           g_strcmp0(a->owner_name, b->owner_name) == 0 &&
           g_strcmp0(a->owner_uuid, b->owner_uuid) == 0 && a->has_mac == b->has_mac &&
           (!a->has_mac || vfsec_mac_equal(&a->mac, &b->mac)) &&
           a->vlans->len == b->vlans->len &&
           (a->vlans->len == 0 ||
            memcmp(a->vlans->data, b->vlans->data, a->vlans->len * sizeof(guint16)) == 0) &&
           a->trust == b->trust && !a->quarantined == !b->quarantined &&
           !a->published == !b->published;
}

static gboolean
vfsec_journal_assign(VfsecJournal *journal, const VfsecJournalAssignment *assignment,
                     gboolean now, GError **error)
{
    g_autoptr(VfsecJournalVf) next = NULL;

    g_return_val_if_fail(journal != NULL && assignment != NULL, FALSE);

    if (!vfsec_journal_assignment_check(assignment, error))
        return FALSE;
    /* Reconcile saves every owned VF; the disk already holds this one, and
     * rewriting it would cost a rename and a flush per VF for nothing. */
    if (vfsec_journal_assignment_equal(
            vfsec_journal_get_assignment(journal, assignment->pf, assignment->vf), assignment))
        return TRUE;
    next = vfsec_journal_edit(journal, assignment->pf, assignment->vf);
    vfsec_journal_assignment_free(next->assignment);
    next->assignment = vfsec_journal_assignment_copy(assignment);
    next->sequence = journal->next_seq++;
    return vfsec_journal_commit(journal, g_steal_pointer(&next), now, error);
}

gboolean
vfsec_journal_set_assignment(VfsecJournal *journal, const VfsecJournalAssignment *assignment,
                             GError **error)
{
    return vfsec_journal_assign(journal, assignment, TRUE, error);
}

gboolean
vfsec_journal_stage_assignment(VfsecJournal *journal, const VfsecJournalAssignment *assignment,
                               GError **error)
{
    return vfsec_journal_assign(journal, assignment, FALSE, error);
}

static gboolean
vfsec_journal_unassign(VfsecJournal *journal, const char *pf, guint vf, gboolean now,
                       GError **error)
{
    g_autoptr(VfsecJournalVf) next = NULL;

    g_return_val_if_fail(journal != NULL, FALSE);

    if (!vfsec_journal_check_vf(pf, vf, error))
        return FALSE;
    if (!vfsec_journal_get_assignment(journal, pf, vf))
        return TRUE;
    next = vfsec_journal_edit(journal, pf, vf);
    g_clear_pointer(&next->assignment, vfsec_journal_assignment_free);
    next->sequence = journal->next_seq++;
    return vfsec_journal_commit(journal, g_steal_pointer(&next), now, error);
}

gboolean
vfsec_journal_clear_assignment(VfsecJournal *journal, const char *pf, guint vf,
                               GError **error)
{
    return vfsec_journal_unassign(journal, pf, vf, TRUE, error);
}

gboolean
vfsec_journal_stage_clear_assignment(VfsecJournal *journal, const char *pf, guint vf,
                                     GError **error)
{
    return vfsec_journal_unassign(journal, pf, vf, FALSE, error);
}

gboolean
vfsec_journal_has_staged(VfsecJournal *journal)
{
    g_return_val_if_fail(journal != NULL, FALSE);

    return g_hash_table_size(journal->unwritten) > 0;
}

gboolean
vfsec_journal_write_staged(VfsecJournal *journal, GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer key;

    g_return_val_if_fail(journal != NULL, FALSE);

    /* A copy: each write takes its name out of the set. */
    g_hash_table_iter_init(&iter, journal->unwritten);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(names, g_strdup(key));
    for (guint i = 0; i < names->len; i++) {
        const char *name = names->pdata[i];
        const VfsecJournalVf *entry = g_hash_table_lookup(journal->vfs, name);

        if (entry && !vfsec_journal_write(journal, entry, error))
            return FALSE;
        if (!entry)
            g_hash_table_remove(journal->unwritten, name);
    }
    return TRUE;
}

guint64
vfsec_journal_get_writes(VfsecJournal *journal)
{
    g_return_val_if_fail(journal != NULL, 0);

    return journal->writes;
}

const VfsecJournalAssignment *
vfsec_journal_get_assignment(VfsecJournal *journal, const char *pf, guint vf)
{
    g_autofree char *name = NULL;
    const VfsecJournalVf *entry;

    g_return_val_if_fail(journal != NULL, NULL);

    if (!pf)
        return NULL;
    name = vfsec_journal_file_name(pf, vf);
    entry = g_hash_table_lookup(journal->vfs, name);
    return entry ? entry->assignment : NULL;
}

static gint
vfsec_journal_op_cmp(gconstpointer a, gconstpointer b)
{
    const VfsecJournalOp *x = *(VfsecJournalOp *const *)a;
    const VfsecJournalOp *y = *(VfsecJournalOp *const *)b;

    return x->id < y->id ? -1 : x->id > y->id;
}

GPtrArray *
vfsec_journal_list_pending(VfsecJournal *journal)
{
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_journal_op_free);
    GHashTableIter iter;
    gpointer value;

    g_return_val_if_fail(journal != NULL, list);

    g_hash_table_iter_init(&iter, journal->vfs);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        const VfsecJournalVf *entry = value;

        for (guint i = 0; i < entry->ops->len; i++) {
            const VfsecJournalOp *op = g_ptr_array_index(entry->ops, i);

            if (op->state == VFSEC_JOURNAL_STATE_INTENT)
                g_ptr_array_add(list, vfsec_journal_op_copy(op));
        }
    }
    g_ptr_array_sort(list, vfsec_journal_op_cmp);
    return list;
}

static gint
vfsec_journal_assignment_cmp(gconstpointer a, gconstpointer b)
{
    const VfsecJournalAssignment *x = *(VfsecJournalAssignment *const *)a;
    const VfsecJournalAssignment *y = *(VfsecJournalAssignment *const *)b;
    int c = strcmp(x->pf, y->pf);

    if (c)
        return c;
    return x->vf < y->vf ? -1 : x->vf > y->vf;
}

GPtrArray *
vfsec_journal_list_assignments(VfsecJournal *journal)
{
    GPtrArray *list =
        g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_journal_assignment_free);
    GHashTableIter iter;
    gpointer value;

    g_return_val_if_fail(journal != NULL, list);

    g_hash_table_iter_init(&iter, journal->vfs);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        const VfsecJournalVf *entry = value;

        if (entry->assignment)
            g_ptr_array_add(list, vfsec_journal_assignment_copy(entry->assignment));
    }
    g_ptr_array_sort(list, vfsec_journal_assignment_cmp);
    return list;
}
