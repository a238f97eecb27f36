/* vfsec-contract.c: the PF-driver contract (v1) codec and line framer. */
#include "vfsec-contract.h"

#include <stdarg.h>
#include <string.h>

#include "vfsec-json.h"

/*
 * Theory of operation
 *
 * The contract is one JSON object per line over a Unix stream socket (see
 * docs/pf-driver-contract.md). This file turns lines into typed C structures and
 * back, and holds no state beyond the framer's buffer, so both ends share it: the
 * client (vfsecd) builds requests and parses messages (replies, notifications),
 * the server (vfsec-nicsim, or a vendor's daemon written in C) parses requests
 * and builds replies and notifications.
 *
 * Reading is layered. vfsec_json_parse_line() first holds every line to RFC 8259
 * and vfsec's stricter rules (depth, integer range, no NUL, no duplicate or
 * escaped member names) before json-glib 1.6 sees it: alone, json-glib accepts
 * more than JSON, saturates integers that overflow 64 bits, keeps the last of
 * duplicate members and recurses once per nesting level, so a line of a million
 * '[' would overflow the stack. The envelope (id, op, ok, event) is read next; a
 * broken envelope is a protocol error that closes the connection. Last, the op's
 * arguments or result are read into a typed structure by readers that check
 * type, range and syntax of every field and name the op and the field's path in
 * their message ("set-vf: port_tag.vid 5000 is outside 0-4095"). Keys a reader
 * does not know are ignored: that is how later versions add optional keys
 * without a version bump.
 *
 * Writing goes through JsonBuilder and vfsec_json_to_line() (compact form, which
 * never emits a raw newline: newlines in strings are escaped), and every line is
 * measured against VFSEC_CONTRACT_MAX_LINE before it is handed out.
 *
 * The reply envelope ({"id","ok":true,"result"} or {"id","ok":false,"error":
 * {"code","message"}}) is also vfsecd's control protocol's, which writes its
 * "v" member first and names its error codes itself; so the envelope's builders
 * and reader take those parts as parameters (the _full builders,
 * vfsec_contract_reply_envelope_read()).
 */

/* ------------------------------------------------------------------------ */
/* Names */

static const char *const op_names[] = {
    [VFSEC_CONTRACT_OP_HELLO] = "hello",
    [VFSEC_CONTRACT_OP_LIST_PORTS] = "list-ports",
    [VFSEC_CONTRACT_OP_LIST_VFS] = "list-vfs",
    [VFSEC_CONTRACT_OP_SET_VF] = "set-vf",
    [VFSEC_CONTRACT_OP_RECLAIM_VF] = "reclaim-vf",
    [VFSEC_CONTRACT_OP_GET_MACS] = "get-macs",
    [VFSEC_CONTRACT_OP_SET_MACS] = "set-macs",
    [VFSEC_CONTRACT_OP_GET_SWITCH_MODE] = "get-switch-mode",
    [VFSEC_CONTRACT_OP_SET_SWITCH_MODE] = "set-switch-mode",
    [VFSEC_CONTRACT_OP_COUNTERS] = "counters",
    [VFSEC_CONTRACT_OP_SUBSCRIBE] = "subscribe",
};
G_STATIC_ASSERT(G_N_ELEMENTS(op_names) == VFSEC_CONTRACT_OP_LAST);

static const char *const error_code_names[] = {
    [VFSEC_CONTRACT_ERROR_INVALID] = "invalid",
    [VFSEC_CONTRACT_ERROR_NOT_FOUND] = "not-found",
    [VFSEC_CONTRACT_ERROR_BUSY] = "busy",
    [VFSEC_CONTRACT_ERROR_TIMEOUT] = "timeout",
    [VFSEC_CONTRACT_ERROR_UNSUPPORTED] = "unsupported",
    [VFSEC_CONTRACT_ERROR_PERMISSION] = "permission",
    [VFSEC_CONTRACT_ERROR_CONFLICT] = "conflict",
    [VFSEC_CONTRACT_ERROR_FAILED] = "failed",
    [VFSEC_CONTRACT_ERROR_VERSION] = "version",
};
G_STATIC_ASSERT(G_N_ELEMENTS(error_code_names) == VFSEC_CONTRACT_ERROR_LAST);

static const VfsecErrorCode error_code_vfsec[] = {
    [VFSEC_CONTRACT_ERROR_INVALID] = VFSEC_ERROR_INVALID,
    [VFSEC_CONTRACT_ERROR_NOT_FOUND] = VFSEC_ERROR_NOT_FOUND,
    [VFSEC_CONTRACT_ERROR_BUSY] = VFSEC_ERROR_CONFLICT,
    [VFSEC_CONTRACT_ERROR_TIMEOUT] = VFSEC_ERROR_TIMEOUT,
    [VFSEC_CONTRACT_ERROR_UNSUPPORTED] = VFSEC_ERROR_UNSUPPORTED,
    [VFSEC_CONTRACT_ERROR_PERMISSION] = VFSEC_ERROR_PERMISSION,
    [VFSEC_CONTRACT_ERROR_CONFLICT] = VFSEC_ERROR_CONFLICT,
    [VFSEC_CONTRACT_ERROR_FAILED] = VFSEC_ERROR_FAILED,
    [VFSEC_CONTRACT_ERROR_VERSION] = VFSEC_ERROR_PROTOCOL,
};
G_STATIC_ASSERT(G_N_ELEMENTS(error_code_vfsec) == VFSEC_CONTRACT_ERROR_LAST);

static const char *const switch_mode_names[] = {
    [VFSEC_CONTRACT_SWITCH_MODE_VEB] = "veb",
    [VFSEC_CONTRACT_SWITCH_MODE_VEPA] = "vepa",
};
G_STATIC_ASSERT(G_N_ELEMENTS(switch_mode_names) == VFSEC_CONTRACT_SWITCH_MODE_LAST);

static const char *const event_names[] = {
    [VFSEC_CONTRACT_EVENT_VF_RESET] = "vf-reset",
    [VFSEC_CONTRACT_EVENT_AGENT_RESET] = "agent-reset",
    [VFSEC_CONTRACT_EVENT_PORT_CHANGE] = "port-change",
};
G_STATIC_ASSERT(G_N_ELEMENTS(event_names) == VFSEC_CONTRACT_EVENT_LAST);

static int
name_lookup(const char *const *names, int n, const char *str)
{
    for (int i = 0; str && i < n; i++) {
        if (strcmp(names[i], str) == 0)
            return i;
    }
    return -1;
}

/* The to_string/from_string pair of an enum over its name table. */
#define VFSEC_CONTRACT_ENUM_NAMES(prefix, Type, names)                      \
    const char *prefix##_to_string(Type value)                              \
    {                                                                       \
        g_return_val_if_fail((guint)value < G_N_ELEMENTS(names), NULL);     \
        return names[value];                                                \
    }                                                                       \
    int prefix##_from_string(const char *str)                               \
    {                                                                       \
        return name_lookup(names, G_N_ELEMENTS(names), str);                \
    }

VFSEC_CONTRACT_ENUM_NAMES(vfsec_contract_op, VfsecContractOp, op_names)
VFSEC_CONTRACT_ENUM_NAMES(vfsec_contract_error_code, VfsecContractErrorCode, error_code_names)
VFSEC_CONTRACT_ENUM_NAMES(vfsec_contract_switch_mode, VfsecContractSwitchMode, switch_mode_names)
VFSEC_CONTRACT_ENUM_NAMES(vfsec_contract_event, VfsecContractEvent, event_names)

VfsecErrorCode
vfsec_contract_error_code_to_vfsec(VfsecContractErrorCode code)
{
    g_return_val_if_fail(code < VFSEC_CONTRACT_ERROR_LAST, VFSEC_ERROR_FAILED);
    return error_code_vfsec[code];
}

VfsecContractErrorCode
vfsec_contract_error_code_from_gerror(const GError *error)
{
    if (!error || error->domain != VFSEC_ERROR)
        return VFSEC_CONTRACT_ERROR_FAILED;
    switch ((VfsecErrorCode)error->code) {
    case VFSEC_ERROR_INVALID:
    case VFSEC_ERROR_PROTOCOL:
    case VFSEC_ERROR_TOO_LARGE:
        return VFSEC_CONTRACT_ERROR_INVALID;
    case VFSEC_ERROR_NOT_FOUND:
        return VFSEC_CONTRACT_ERROR_NOT_FOUND;
    case VFSEC_ERROR_CONFLICT:
        return VFSEC_CONTRACT_ERROR_CONFLICT;
    case VFSEC_ERROR_TIMEOUT:
        return VFSEC_CONTRACT_ERROR_TIMEOUT;
    case VFSEC_ERROR_UNSUPPORTED:
        return VFSEC_CONTRACT_ERROR_UNSUPPORTED;
    case VFSEC_ERROR_PERMISSION:
        return VFSEC_CONTRACT_ERROR_PERMISSION;
    case VFSEC_ERROR_FAILED:
    case VFSEC_ERROR_IO:
        break;
    }
    return VFSEC_CONTRACT_ERROR_FAILED;
}

/* ------------------------------------------------------------------------ */
/* Value types */

gboolean
vfsec_contract_port_tag_equal(const VfsecContractPortTag *a, const VfsecContractPortTag *b)
{
    return a->tpid == b->tpid && a->vid == b->vid && a->pcp == b->pcp;
}

VfsecContractPort *
vfsec_contract_port_new(void)
{
    return g_new0(VfsecContractPort, 1);
}

void
vfsec_contract_port_free(VfsecContractPort *port)
{
    if (!port)
        return;
    g_free(port->name);
    g_free(port->pf_netdev);
    g_free(port);
}

VfsecContractVf *
vfsec_contract_vf_new(void)
{
    return g_new0(VfsecContractVf, 1);
}

VfsecContractVf *
vfsec_contract_vf_copy(const VfsecContractVf *vf)
{
    VfsecContractVf *copy = g_memdup2(vf, sizeof(*vf));

    copy->netdev = g_strdup(vf->netdev);
    return copy;
}

void
vfsec_contract_vf_free(VfsecContractVf *vf)
{
    if (!vf)
        return;
    g_free(vf->netdev);
    g_free(vf);
}

gboolean
vfsec_contract_vf_equal(const VfsecContractVf *a, const VfsecContractVf *b)
{
    return a->port == b->port && a->vf == b->vf &&
           vfsec_pci_addr_equal(&a->pci, &b->pci) &&
           g_strcmp0(a->netdev, b->netdev) == 0 &&
           a->has_mac == b->has_mac && (!a->has_mac || vfsec_mac_equal(&a->mac, &b->mac)) &&
           a->has_port_tag == b->has_port_tag &&
           (!a->has_port_tag || vfsec_contract_port_tag_equal(&a->port_tag, &b->port_tag)) &&
           !a->trust == !b->trust && !a->spoofchk == !b->spoofchk &&
           a->sa_count == b->sa_count;
}

VfsecContractMacEntry *
vfsec_contract_mac_entry_new(const VfsecMac *mac)
{
    VfsecContractMacEntry *entry = g_new0(VfsecContractMacEntry, 1);

    entry->mac = *mac;
    entry->tags = g_array_new(FALSE, FALSE, sizeof(VfsecContractMacTag));
    return entry;
}

void
vfsec_contract_mac_entry_add_tag(VfsecContractMacEntry *entry, guint16 tpid, guint16 vid)
{
    VfsecContractMacTag tag = { .tpid = tpid, .vid = vid };

    g_array_append_val(entry->tags, tag);
}

void
vfsec_contract_mac_entry_free(VfsecContractMacEntry *entry)
{
    if (!entry)
        return;
    g_array_unref(entry->tags);
    g_free(entry);
}

VfsecContractMacTable *
vfsec_contract_mac_table_new(guint64 generation)
{
    VfsecContractMacTable *table = g_new0(VfsecContractMacTable, 1);

    table->generation = generation;
    table->entries = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_contract_mac_entry_free);
    return table;
}

void
vfsec_contract_mac_table_free(VfsecContractMacTable *table)
{
    if (!table)
        return;
    g_ptr_array_unref(table->entries);
    g_free(table);
}

gboolean
vfsec_contract_mac_table_same_entries(const VfsecContractMacTable *a,
                                      const VfsecContractMacTable *b)
{
    if (a->entries->len != b->entries->len)
        return FALSE;
    for (guint i = 0; i < a->entries->len; i++) {
        const VfsecContractMacEntry *ea = g_ptr_array_index(a->entries, i);
        const VfsecContractMacEntry *eb = g_ptr_array_index(b->entries, i);

        if (!vfsec_mac_equal(&ea->mac, &eb->mac) || ea->tags->len != eb->tags->len)
            return FALSE;
        /* An empty GArray's data may be NULL, which memcmp must never see. */
        if (ea->tags->len > 0 &&
            memcmp(ea->tags->data, eb->tags->data, ea->tags->len * sizeof(VfsecContractMacTag)) != 0)
            return FALSE;
    }
    return TRUE;
}

gboolean
vfsec_contract_mac_table_equal(const VfsecContractMacTable *a, const VfsecContractMacTable *b)
{
    return a->generation == b->generation && vfsec_contract_mac_table_same_entries(a, b);
}

static void
counter_clear(gpointer p)
{
    VfsecContractCounter *counter = p;

    g_free(counter->name);
}

GArray *
vfsec_contract_counters_new(void)
{
    GArray *counters = g_array_new(FALSE, FALSE, sizeof(VfsecContractCounter));

    g_array_set_clear_func(counters, counter_clear);
    return counters;
}

void
vfsec_contract_counters_add(GArray *counters, const char *name, guint64 value)
{
    VfsecContractCounter counter = { .name = g_strdup(name), .value = value };

    g_array_append_val(counters, counter);
}

gboolean
vfsec_contract_counters_get(GArray *counters, const char *name, guint64 *value)
{
    for (guint i = 0; i < counters->len; i++) {
        const VfsecContractCounter *counter = &g_array_index(counters, VfsecContractCounter, i);

        if (strcmp(counter->name, name) == 0) {
            *value = counter->value;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean
vfsec_contract_hello_has_capability(const VfsecContractHello *hello, const char *cap)
{
    return hello->capabilities && g_strv_contains((const char *const *)hello->capabilities, cap);
}

/* ------------------------------------------------------------------------ */
/* Lines */

/* One line to its root object (vfsec_json_parse_line()'s rules); every
 * failure is VFSEC_ERROR_PROTOCOL: the receiver closes the connection. */
static JsonObject *
parse_line(const char *line, gsize len, const char *what, GError **error)
{
    g_autoptr(GError) local = NULL;
    JsonObject *root = vfsec_json_parse_line(line, len, VFSEC_CONTRACT_MAX_LINE,
                                             VFSEC_CONTRACT_MAX_DEPTH, what, &local);

    if (!root) {
        local->code = VFSEC_ERROR_PROTOCOL;
        g_propagate_error(error, g_steal_pointer(&local));
    }
    return root;
}

/* ------------------------------------------------------------------------ */
/* Readers: each checks one member and names it in its error */

/* Where a member sits, for messages: "<what>: <prefix><key> ...". */
typedef struct {
    const char *what;    /* "set-vf", "list-vfs result", "vf-reset", "reply" */
    const char *prefix;  /* "" or "vfs[2]." */
    VfsecErrorCode code; /* INVALID for arguments and results, PROTOCOL for envelopes */
} Where;

static gboolean G_GNUC_PRINTF(4, 5)
field_error(GError **error, const Where *w, const char *key, const char *fmt, ...)
{
    g_autofree char *detail = NULL;
    va_list ap;

    va_start(ap, fmt);
    detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, VFSEC_ERROR, w->code, "%s: %s%s %s", w->what, w->prefix, key, detail);
    return FALSE;
}

/* A string from the wire, quoted for a message: escaped and cut short. */
static char *
quote(const char *s)
{
    g_autofree char *head = g_strndup(s, 64);
    g_autofree char *escaped = g_strescape(head, NULL);

    return g_strdup_printf("'%s'%s", escaped, strlen(s) > 64 ? "..." : "");
}

static JsonNode *
need(JsonObject *obj, const Where *w, const char *key, GError **error)
{
    JsonNode *node = json_object_get_member(obj, key);

    if (!node)
        field_error(error, w, key, "is missing");
    return node;
}

static gboolean
read_uint64(JsonObject *obj, const Where *w, const char *key, guint64 max, guint64 *out,
            GError **error)
{
    JsonNode *node = need(obj, w, key, error);
    gint64 v;

    if (!node)
        return FALSE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
        return field_error(error, w, key, "is not an integer");
    v = json_node_get_int(node);
    if (v < 0 || (guint64)v > max)
        return field_error(error, w, key, "%" G_GINT64_FORMAT " is outside 0-%" G_GUINT64_FORMAT,
                           v, max);
    *out = (guint64)v;
    return TRUE;
}

static gboolean
read_uint(JsonObject *obj, const Where *w, const char *key, guint max, guint *out, GError **error)
{
    guint64 v;

    if (!read_uint64(obj, w, key, max, &v, error))
        return FALSE;
    *out = (guint)v;
    return TRUE;
}

static gboolean
read_bool(JsonObject *obj, const Where *w, const char *key, gboolean *out, GError **error)
{
    JsonNode *node = need(obj, w, key, error);

    if (!node)
        return FALSE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN)
        return field_error(error, w, key, "is not a boolean");
    *out = json_node_get_boolean(node);
    return TRUE;
}

/* Kinds of strings the contract carries, each with its own syntax. */
typedef enum {
    TEXT_ANY,       /* free text: error messages */
    TEXT_LABEL,     /* names meant for people: printable, no control characters */
    TEXT_TOKEN,     /* names meant for programs: [a-z0-9._-] */
    TEXT_NETDEV,    /* Linux interface names */
} TextKind;

static const struct {
    gsize max;
    const char *noun;
} text_kinds[] = {
    [TEXT_ANY] = { VFSEC_CONTRACT_MAX_LINE, "text" },
    [TEXT_LABEL] = { 128, "a printable label" },
    [TEXT_TOKEN] = { 64, "a token of a-z, 0-9, '.', '_', '-'" },
    [TEXT_NETDEV] = { 15, "an interface name" },
};

static gboolean
text_valid(TextKind kind, const char *s)
{
    gsize n = strlen(s);

    if ((n == 0 && kind != TEXT_ANY) || n > text_kinds[kind].max || !g_utf8_validate(s, -1, NULL))
        return FALSE;
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);

        switch (kind) {
        case TEXT_ANY:
            break;
        case TEXT_LABEL:
            if (g_unichar_iscntrl(ch))
                return FALSE;
            break;
        case TEXT_TOKEN:
            if (!(g_ascii_islower(ch) || g_ascii_isdigit(ch) || ch == '.' || ch == '_' || ch == '-'))
                return FALSE;
            break;
        case TEXT_NETDEV:
            /* The kernel's dev_valid_name(). */
            if (ch == '/' || ch == ':' || g_unichar_isspace(ch) || g_unichar_iscntrl(ch))
                return FALSE;
            break;
        }
    }
    return kind != TEXT_NETDEV || (strcmp(s, ".") != 0 && strcmp(s, "..") != 0);
}

/* A string of @kind; with @nullable, JSON null gives *out = NULL. */
static gboolean
read_string(JsonObject *obj, const Where *w, const char *key, TextKind kind, gboolean nullable,
            char **out, GError **error)
{
    JsonNode *node = need(obj, w, key, error);
    const char *s;

    if (!node)
        return FALSE;
    if (nullable && JSON_NODE_HOLDS_NULL(node)) {
        *out = NULL;
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
        return field_error(error, w, key, nullable ? "is neither a string nor null" : "is not a string");
    s = json_node_get_string(node);
    if (!text_valid(kind, s)) {
        g_autofree char *q = quote(s);
        return field_error(error, w, key, "%s is not %s of at most %" G_GSIZE_FORMAT " bytes",
                           q, text_kinds[kind].noun, text_kinds[kind].max);
    }
    *out = g_strdup(s);
    return TRUE;
}

/* A MAC; with @present non-NULL, JSON null is accepted and clears *present. */
static gboolean
read_mac(JsonObject *obj, const Where *w, const char *key, gboolean *present, VfsecMac *mac,
         GError **error)
{
    g_autofree char *s = NULL;
    g_autoptr(GError) local = NULL;

    if (!read_string(obj, w, key, TEXT_LABEL, present != NULL, &s, error))
        return FALSE;
    if (present)
        *present = s != NULL;
    if (s && !vfsec_mac_parse(s, mac, &local))
        return field_error(error, w, key, "is invalid: %s", local->message);
    return TRUE;
}

static gboolean
read_pci(JsonObject *obj, const Where *w, const char *key, VfsecPciAddr *addr, GError **error)
{
    g_autofree char *s = NULL;
    g_autoptr(GError) local = NULL;

    if (!read_string(obj, w, key, TEXT_LABEL, FALSE, &s, error))
        return FALSE;
    if (!vfsec_pci_addr_parse(s, addr, &local))
        return field_error(error, w, key, "is invalid: %s", local->message);
    return TRUE;
}

/* A member that must be an object (with @nullable, or null: *out = NULL). */
static gboolean
read_object(JsonObject *obj, const Where *w, const char *key, gboolean nullable, JsonObject **out,
            GError **error)
{
    JsonNode *node = need(obj, w, key, error);

    if (!node)
        return FALSE;
    if (nullable && JSON_NODE_HOLDS_NULL(node)) {
        *out = NULL;
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return field_error(error, w, key, nullable ? "is neither an object nor null" : "is not an object");
    *out = json_node_get_object(node);
    return TRUE;
}

static JsonArray *
read_array(JsonObject *obj, const Where *w, const char *key, GError **error)
{
    JsonNode *node = need(obj, w, key, error);

    if (!node)
        return NULL;
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        field_error(error, w, key, "is not an array");
        return NULL;
    }
    return json_node_get_array(node);
}

/* Element @i of an array, which must be an object; @sub receives its Where. */
static JsonObject *
array_object(JsonArray *array, guint i, const Where *w, const char *key, char **prefix,
             Where *sub, GError **error)
{
    JsonNode *node = json_array_get_element(array, i);
    g_autofree char *element = g_strdup_printf("%s[%u]", key, i);

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        field_error(error, w, element, "is not an object");
        return NULL;
    }
    *prefix = g_strdup_printf("%s%s.", w->prefix, element);
    *sub = (Where){ w->what, *prefix, w->code };
    return json_node_get_object(node);
}

/* The tpid and vid (and pcp when @pcp is non-NULL) of a tag object. */
static gboolean
read_tag(JsonObject *obj, const Where *w, guint16 *tpid, guint16 *vid, guint8 *pcp, GError **error)
{
    guint v;

    if (!read_uint(obj, w, "tpid", G_MAXUINT16, &v, error))
        return FALSE;
    if (v != VFSEC_CONTRACT_TPID_8021Q && v != VFSEC_CONTRACT_TPID_8021AD)
        return field_error(error, w, "tpid", "%#x is not 0x8100 (802.1Q) or 0x88a8 (802.1ad)", v);
    *tpid = (guint16)v;
    if (!read_uint(obj, w, "vid", 4095, &v, error))
        return FALSE;
    *vid = (guint16)v;
    if (!pcp)
        return TRUE;
    if (!read_uint(obj, w, "pcp", 7, &v, error))
        return FALSE;
    *pcp = (guint8)v;
    return TRUE;
}

static gboolean
read_port_tag(JsonObject *obj, const Where *w, gboolean *present, VfsecContractPortTag *tag,
              GError **error)
{
    g_autofree char *prefix = g_strdup_printf("%sport_tag.", w->prefix);
    Where sub = { w->what, prefix, w->code };
    JsonObject *tobj;

    if (!read_object(obj, w, "port_tag", TRUE, &tobj, error))
        return FALSE;
    *present = tobj != NULL;
    return !tobj || read_tag(tobj, &sub, &tag->tpid, &tag->vid, &tag->pcp, error);
}

static gboolean
read_switch_mode(JsonObject *obj, const Where *w, const char *key, VfsecContractSwitchMode *mode,
                 GError **error)
{
    g_autofree char *s = NULL;
    int v;

    if (!read_string(obj, w, key, TEXT_TOKEN, FALSE, &s, error))
        return FALSE;
    v = vfsec_contract_switch_mode_from_string(s);
    if (v < 0)
        return field_error(error, w, key, "'%s' is not veb or vepa", s);
    *mode = (VfsecContractSwitchMode)v;
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Writers */

static void
add_key(JsonBuilder *b, const char *key)
{
    if (key)
        json_builder_set_member_name(b, key);
}

static void
add_uint(JsonBuilder *b, const char *key, guint64 v)
{
    add_key(b, key);
    json_builder_add_int_value(b, (gint64)MIN(v, VFSEC_CONTRACT_MAX_UINT));
}

static void
add_bool(JsonBuilder *b, const char *key, gboolean v)
{
    add_key(b, key);
    json_builder_add_boolean_value(b, v);
}

/* NULL is written as null. */
static void
add_string(JsonBuilder *b, const char *key, const char *s)
{
    add_key(b, key);
    if (s)
        json_builder_add_string_value(b, s);
    else
        json_builder_add_null_value(b);
}

static void
add_mac(JsonBuilder *b, const char *key, const VfsecMac *mac)
{
    char buf[VFSEC_MAC_STRLEN];

    add_string(b, key, mac ? vfsec_mac_format(mac, buf) : NULL);
}

static void
add_pci(JsonBuilder *b, const char *key, const VfsecPciAddr *addr)
{
    char buf[VFSEC_PCI_ADDR_STRLEN];

    add_string(b, key, vfsec_pci_addr_format(addr, buf));
}

/* A tag object; pcp only when @with_pcp. */
static void
add_tag(JsonBuilder *b, const char *key, guint16 tpid, guint16 vid, gboolean with_pcp, guint8 pcp)
{
    add_key(b, key);
    json_builder_begin_object(b);
    add_uint(b, "tpid", tpid);
    add_uint(b, "vid", vid);
    if (with_pcp)
        add_uint(b, "pcp", pcp);
    json_builder_end_object(b);
}

static JsonObject *
builder_steal_object(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    return json_node_dup_object(root);
}

static char *
finish_builder(JsonBuilder *b, const char *what, gsize *len, GError **error)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *line_what = g_strconcat(what, " line", NULL);

    return vfsec_json_to_line(root, VFSEC_CONTRACT_MAX_LINE, line_what, len, error);
}

static void
add_object(JsonBuilder *b, const char *key, JsonObject *obj)
{
    g_autoptr(JsonObject) empty = obj ? NULL : json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_node_set_object(node, obj ? obj : empty);
    add_key(b, key);
    json_builder_add_value(b, node);
}

/* ------------------------------------------------------------------------ */
/* Typed objects */

/* The members of a VF object: all of them (@full), or port, vf and @fields. */
static void
build_vf_members(JsonBuilder *b, const VfsecContractVf *vf, VfsecContractSetVfFields fields,
                 gboolean full)
{
    add_uint(b, "port", vf->port);
    add_uint(b, "vf", vf->vf);
    if (full) {
        add_pci(b, "pci", &vf->pci);
        add_string(b, "netdev", vf->netdev);
    }
    if (fields & VFSEC_CONTRACT_SET_VF_MAC)
        add_mac(b, "mac", vf->has_mac ? &vf->mac : NULL);
    if (fields & VFSEC_CONTRACT_SET_VF_PORT_TAG) {
        if (vf->has_port_tag)
            add_tag(b, "port_tag", vf->port_tag.tpid, vf->port_tag.vid, TRUE, vf->port_tag.pcp);
        else
            add_string(b, "port_tag", NULL);
    }
    if (fields & VFSEC_CONTRACT_SET_VF_TRUST)
        add_bool(b, "trust", vf->trust);
    if (fields & VFSEC_CONTRACT_SET_VF_SPOOFCHK)
        add_bool(b, "spoofchk", vf->spoofchk);
    if (full)
        add_uint(b, "sa_count", vf->sa_count);
}

/* A VF object (@full) or set-vf arguments, whose four settings are optional:
 * *fields receives those present. */
static gboolean
parse_vf(JsonObject *obj, const Where *w, gboolean full, VfsecContractVf *vf,
         VfsecContractSetVfFields *fields, GError **error)
{
    *fields = 0;
    if (!read_uint(obj, w, "port", G_MAXUINT32, &vf->port, error) ||
        !read_uint(obj, w, "vf", G_MAXUINT32, &vf->vf, error))
        return FALSE;
    if (full && (!read_pci(obj, w, "pci", &vf->pci, error) ||
                 !read_string(obj, w, "netdev", TEXT_NETDEV, TRUE, &vf->netdev, error) ||
                 !read_uint64(obj, w, "sa_count", VFSEC_CONTRACT_MAX_UINT, &vf->sa_count, error)))
        return FALSE;
    if (full || json_object_has_member(obj, "mac")) {
        if (!read_mac(obj, w, "mac", &vf->has_mac, &vf->mac, error))
            return FALSE;
        *fields |= VFSEC_CONTRACT_SET_VF_MAC;
    }
    if (full || json_object_has_member(obj, "port_tag")) {
        if (!read_port_tag(obj, w, &vf->has_port_tag, &vf->port_tag, error))
            return FALSE;
        *fields |= VFSEC_CONTRACT_SET_VF_PORT_TAG;
    }
    if (full || json_object_has_member(obj, "trust")) {
        if (!read_bool(obj, w, "trust", &vf->trust, error))
            return FALSE;
        *fields |= VFSEC_CONTRACT_SET_VF_TRUST;
    }
    if (full || json_object_has_member(obj, "spoofchk")) {
        if (!read_bool(obj, w, "spoofchk", &vf->spoofchk, error))
            return FALSE;
        *fields |= VFSEC_CONTRACT_SET_VF_SPOOFCHK;
    }
    return TRUE;
}

static void
build_port(JsonBuilder *b, const VfsecContractPort *port)
{
    json_builder_begin_object(b);
    add_uint(b, "port", port->port);
    add_string(b, "name", port->name);
    add_pci(b, "pf_pci", &port->pf_pci);
    add_string(b, "pf_netdev", port->pf_netdev);
    add_mac(b, "pf_mac", &port->pf_mac);
    add_uint(b, "num_vfs", port->num_vfs);
    add_string(b, "switch_mode", vfsec_contract_switch_mode_to_string(port->switch_mode));
    add_bool(b, "hairpin_capable", port->hairpin_capable);
    json_builder_end_object(b);
}

static gboolean
parse_port(JsonObject *obj, const Where *w, VfsecContractPort *port, GError **error)
{
    return read_uint(obj, w, "port", G_MAXUINT32, &port->port, error) &&
           read_string(obj, w, "name", TEXT_LABEL, FALSE, &port->name, error) &&
           read_pci(obj, w, "pf_pci", &port->pf_pci, error) &&
           read_string(obj, w, "pf_netdev", TEXT_NETDEV, FALSE, &port->pf_netdev, error) &&
           read_mac(obj, w, "pf_mac", NULL, &port->pf_mac, error) &&
           read_uint(obj, w, "num_vfs", G_MAXUINT32, &port->num_vfs, error) &&
           read_switch_mode(obj, w, "switch_mode", &port->switch_mode, error) &&
           read_bool(obj, w, "hairpin_capable", &port->hairpin_capable, error);
}

/* generation and entries, the members of get-macs results and set-macs args. */
static void
build_mac_table_members(JsonBuilder *b, const VfsecContractMacTable *table)
{
    add_uint(b, "generation", table->generation);
    json_builder_set_member_name(b, "entries");
    json_builder_begin_array(b);
    for (guint i = 0; i < table->entries->len; i++) {
        const VfsecContractMacEntry *entry = g_ptr_array_index(table->entries, i);

        json_builder_begin_object(b);
        add_mac(b, "mac", &entry->mac);
        json_builder_set_member_name(b, "tags");
        json_builder_begin_array(b);
        for (guint j = 0; j < entry->tags->len; j++) {
            const VfsecContractMacTag *tag = &g_array_index(entry->tags, VfsecContractMacTag, j);
            add_tag(b, NULL, tag->tpid, tag->vid, FALSE, 0);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static guint64
mac_key(const VfsecMac *mac)
{
    guint64 key = 0;

    for (int i = 0; i < 6; i++)
        key = key << 8 | mac->b[i];
    return key;
}

static gboolean
parse_mac_entry(JsonObject *obj, const Where *w, VfsecContractMacEntry **out, GError **error)
{
    g_autoptr(VfsecContractMacEntry) entry = NULL;
    VfsecMac mac;
    JsonArray *tags;

    if (!read_mac(obj, w, "mac", NULL, &mac, error))
        return FALSE;
    entry = vfsec_contract_mac_entry_new(&mac);
    tags = read_array(obj, w, "tags", error);
    if (!tags)
        return FALSE;
    for (guint i = 0; i < json_array_get_length(tags); i++) {
        g_autofree char *prefix = NULL;
        VfsecContractMacTag tag;
        JsonObject *tobj;
        Where sub;

        tobj = array_object(tags, i, w, "tags", &prefix, &sub, error);
        if (!tobj || !read_tag(tobj, &sub, &tag.tpid, &tag.vid, NULL, error))
            return FALSE;
        g_array_append_val(entry->tags, tag);
    }
    *out = g_steal_pointer(&entry);
    return TRUE;
}

static gboolean
parse_mac_table(JsonObject *obj, const Where *w, VfsecContractMacTable *table, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    JsonArray *entries;

    if (!read_uint64(obj, w, "generation", VFSEC_CONTRACT_MAX_UINT, &table->generation, error))
        return FALSE;
    entries = read_array(obj, w, "entries", error);
    if (!entries)
        return FALSE;
    for (guint i = 0; i < json_array_get_length(entries); i++) {
        g_autofree char *prefix = NULL;
        VfsecContractMacEntry *entry = NULL;
        guint64 key;
        JsonObject *eobj;
        Where sub;

        eobj = array_object(entries, i, w, "entries", &prefix, &sub, error);
        if (!eobj || !parse_mac_entry(eobj, &sub, &entry, error))
            return FALSE;
        g_ptr_array_add(table->entries, entry);
        key = mac_key(&entry->mac);
        if (g_hash_table_contains(seen, &key)) {
            char buf[VFSEC_MAC_STRLEN];
            return field_error(error, &sub, "mac", "%s appears twice",
                               vfsec_mac_format(&entry->mac, buf));
        }
        g_hash_table_add(seen, g_memdup2(&key, sizeof(key)));
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Requests */

VfsecContractRequest *
vfsec_contract_request_new(VfsecContractOp op)
{
    VfsecContractRequest *req;

    g_return_val_if_fail(op < VFSEC_CONTRACT_OP_LAST, NULL);
    req = g_new0(VfsecContractRequest, 1);
    req->op = op;
    if (op == VFSEC_CONTRACT_OP_SET_MACS)
        req->args.set_macs.table = vfsec_contract_mac_table_new(0);
    return req;
}

void
vfsec_contract_request_free(VfsecContractRequest *req)
{
    if (!req)
        return;
    switch (req->op) {
    case VFSEC_CONTRACT_OP_HELLO:
        g_free(req->args.hello.client);
        break;
    case VFSEC_CONTRACT_OP_SET_VF:
        g_free(req->args.set_vf.vf.netdev);
        break;
    case VFSEC_CONTRACT_OP_SET_MACS:
        vfsec_contract_mac_table_free(req->args.set_macs.table);
        break;
    default:
        break;
    }
    g_free(req);
}

JsonObject *
vfsec_contract_request_args_to_json(const VfsecContractRequest *req)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    switch (req->op) {
    case VFSEC_CONTRACT_OP_HELLO:
        add_uint(b, "version", req->args.hello.version);
        add_string(b, "client", req->args.hello.client);
        break;
    case VFSEC_CONTRACT_OP_LIST_PORTS:
        break;
    case VFSEC_CONTRACT_OP_LIST_VFS:
    case VFSEC_CONTRACT_OP_GET_MACS:
    case VFSEC_CONTRACT_OP_GET_SWITCH_MODE:
    case VFSEC_CONTRACT_OP_COUNTERS:
        add_uint(b, "port", req->args.port);
        break;
    case VFSEC_CONTRACT_OP_SET_VF:
        build_vf_members(b, &req->args.set_vf.vf, req->args.set_vf.fields, FALSE);
        break;
    case VFSEC_CONTRACT_OP_RECLAIM_VF:
        add_uint(b, "port", req->args.reclaim_vf.port);
        add_uint(b, "vf", req->args.reclaim_vf.vf);
        if (req->args.reclaim_vf.timeout_ms)
            add_uint(b, "timeout_ms", req->args.reclaim_vf.timeout_ms);
        break;
    case VFSEC_CONTRACT_OP_SET_MACS:
        add_uint(b, "port", req->args.set_macs.port);
        build_mac_table_members(b, req->args.set_macs.table);
        break;
    case VFSEC_CONTRACT_OP_SET_SWITCH_MODE:
        add_uint(b, "port", req->args.set_switch_mode.port);
        add_string(b, "mode", vfsec_contract_switch_mode_to_string(req->args.set_switch_mode.mode));
        break;
    case VFSEC_CONTRACT_OP_SUBSCRIBE:
        json_builder_set_member_name(b, "events");
        json_builder_begin_array(b);
        for (int ev = 0; ev < VFSEC_CONTRACT_EVENT_LAST; ev++) {
            if (req->args.events & VFSEC_CONTRACT_EVENT_MASK(ev))
                json_builder_add_string_value(b, event_names[ev]);
        }
        json_builder_end_array(b);
        break;
    case VFSEC_CONTRACT_OP_LAST:
        g_assert_not_reached();
    }
    json_builder_end_object(b);
    return builder_steal_object(b);
}

static gboolean
parse_events(JsonObject *args, const Where *w, guint *mask, GError **error)
{
    JsonArray *events = read_array(args, w, "events", error);

    if (!events)
        return FALSE;
    *mask = 0;
    for (guint i = 0; i < json_array_get_length(events); i++) {
        JsonNode *node = json_array_get_element(events, i);
        g_autofree char *element = g_strdup_printf("events[%u]", i);
        int ev;

        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
            return field_error(error, w, element, "is not a string");
        ev = vfsec_contract_event_from_string(json_node_get_string(node));
        if (ev < 0) {
            g_autofree char *q = quote(json_node_get_string(node));
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                        "%s: %s %s is not an event of contract version %d",
                        w->what, element, q, VFSEC_CONTRACT_VERSION);
            return FALSE;
        }
        *mask |= VFSEC_CONTRACT_EVENT_MASK(ev);
    }
    return TRUE;
}

static gboolean
parse_args(VfsecContractRequest *req, JsonObject *args, GError **error)
{
    Where w = { op_names[req->op], "", VFSEC_ERROR_INVALID };
    VfsecContractSetVfFields fields;
    guint timeout = 0;

    switch (req->op) {
    case VFSEC_CONTRACT_OP_HELLO:
        return read_uint(args, &w, "version", G_MAXUINT32, &req->args.hello.version, error) &&
               read_string(args, &w, "client", TEXT_LABEL, FALSE, &req->args.hello.client, error);
    case VFSEC_CONTRACT_OP_LIST_PORTS:
        return TRUE;
    case VFSEC_CONTRACT_OP_LIST_VFS:
    case VFSEC_CONTRACT_OP_GET_MACS:
    case VFSEC_CONTRACT_OP_GET_SWITCH_MODE:
    case VFSEC_CONTRACT_OP_COUNTERS:
        return read_uint(args, &w, "port", G_MAXUINT32, &req->args.port, error);
    case VFSEC_CONTRACT_OP_SET_VF:
        if (!parse_vf(args, &w, FALSE, &req->args.set_vf.vf, &fields, error))
            return FALSE;
        req->args.set_vf.fields = fields;
        return TRUE;
    case VFSEC_CONTRACT_OP_RECLAIM_VF:
        if (!read_uint(args, &w, "port", G_MAXUINT32, &req->args.reclaim_vf.port, error) ||
            !read_uint(args, &w, "vf", G_MAXUINT32, &req->args.reclaim_vf.vf, error))
            return FALSE;
        if (json_object_has_member(args, "timeout_ms")) {
            if (!read_uint(args, &w, "timeout_ms", VFSEC_CONTRACT_MAX_TIMEOUT_MS, &timeout, error))
                return FALSE;
            if (timeout == 0)
                return field_error(error, &w, "timeout_ms", "0 is outside 1-%d",
                                   VFSEC_CONTRACT_MAX_TIMEOUT_MS);
        }
        req->args.reclaim_vf.timeout_ms = timeout;
        return TRUE;
    case VFSEC_CONTRACT_OP_SET_MACS:
        return read_uint(args, &w, "port", G_MAXUINT32, &req->args.set_macs.port, error) &&
               parse_mac_table(args, &w, req->args.set_macs.table, error);
    case VFSEC_CONTRACT_OP_SET_SWITCH_MODE:
        return read_uint(args, &w, "port", G_MAXUINT32, &req->args.set_switch_mode.port, error) &&
               read_switch_mode(args, &w, "mode", &req->args.set_switch_mode.mode, error);
    case VFSEC_CONTRACT_OP_SUBSCRIBE:
        return parse_events(args, &w, &req->args.events, error);
    case VFSEC_CONTRACT_OP_LAST:
        break;
    }
    g_assert_not_reached();
}

char *
vfsec_contract_request_build(guint64 id, const char *op, JsonObject *args, gsize *len,
                             GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_return_val_if_fail(id <= VFSEC_CONTRACT_MAX_UINT, NULL);
    g_return_val_if_fail(op && *op, NULL);
    json_builder_begin_object(b);
    add_uint(b, "id", id);
    add_string(b, "op", op);
    add_object(b, "args", args);
    json_builder_end_object(b);
    return finish_builder(b, op, len, error);
}

VfsecContractRequest *
vfsec_contract_request_parse(const char *line, gsize len, guint64 *id, GError **error)
{
    const Where envelope = { "request", "", VFSEC_ERROR_PROTOCOL };
    const Where body = { "request", "", VFSEC_ERROR_INVALID };
    g_autoptr(JsonObject) root = parse_line(line, len, "request line", error);
    g_autoptr(VfsecContractRequest) req = NULL;
    g_autofree char *op = NULL;
    g_autoptr(JsonObject) empty = NULL;
    JsonObject *args = NULL;
    guint64 rid;
    int op_index;

    if (!root || !read_uint64(root, &envelope, "id", VFSEC_CONTRACT_MAX_UINT, &rid, error))
        return NULL;
    if (id)
        *id = rid;
    if (!read_string(root, &body, "op", TEXT_TOKEN, FALSE, &op, error))
        return NULL;
    op_index = vfsec_contract_op_from_string(op);
    if (op_index < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "request: op '%s' is not an op of contract version %d", op, VFSEC_CONTRACT_VERSION);
        return NULL;
    }
    /* "args" may be left out when it would be empty. */
    if (json_object_has_member(root, "args")) {
        if (!read_object(root, &body, "args", FALSE, &args, error))
            return NULL;
    } else {
        args = empty = json_object_new();
    }
    req = vfsec_contract_request_new((VfsecContractOp)op_index);
    req->id = rid;
    if (!parse_args(req, args, error))
        return NULL;
    return g_steal_pointer(&req);
}

/* ------------------------------------------------------------------------ */
/* Results */

VfsecContractResult *
vfsec_contract_result_new(VfsecContractOp op)
{
    VfsecContractResult *res;

    g_return_val_if_fail(op < VFSEC_CONTRACT_OP_LAST, NULL);
    res = g_new0(VfsecContractResult, 1);
    res->op = op;
    switch (op) {
    case VFSEC_CONTRACT_OP_HELLO:
        res->u.hello.capabilities = g_new0(char *, 1);
        break;
    case VFSEC_CONTRACT_OP_LIST_PORTS:
        res->u.ports = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_contract_port_free);
        break;
    case VFSEC_CONTRACT_OP_LIST_VFS:
        res->u.vfs = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_contract_vf_free);
        break;
    case VFSEC_CONTRACT_OP_SET_VF:
        res->u.vf = vfsec_contract_vf_new();
        break;
    case VFSEC_CONTRACT_OP_GET_MACS:
        res->u.macs = vfsec_contract_mac_table_new(0);
        break;
    case VFSEC_CONTRACT_OP_COUNTERS:
        res->u.counters = vfsec_contract_counters_new();
        break;
    default:
        break;
    }
    return res;
}

void
vfsec_contract_result_free(VfsecContractResult *res)
{
    if (!res)
        return;
    switch (res->op) {
    case VFSEC_CONTRACT_OP_HELLO:
        g_free(res->u.hello.server);
        g_strfreev(res->u.hello.capabilities);
        break;
    case VFSEC_CONTRACT_OP_LIST_PORTS:
        g_clear_pointer(&res->u.ports, g_ptr_array_unref);
        break;
    case VFSEC_CONTRACT_OP_LIST_VFS:
        g_clear_pointer(&res->u.vfs, g_ptr_array_unref);
        break;
    case VFSEC_CONTRACT_OP_SET_VF:
        vfsec_contract_vf_free(res->u.vf);
        break;
    case VFSEC_CONTRACT_OP_GET_MACS:
        vfsec_contract_mac_table_free(res->u.macs);
        break;
    case VFSEC_CONTRACT_OP_COUNTERS:
        g_clear_pointer(&res->u.counters, g_array_unref);
        break;
    default:
        break;
    }
    g_free(res);
}

JsonObject *
vfsec_contract_result_to_json(const VfsecContractResult *res)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    switch (res->op) {
    case VFSEC_CONTRACT_OP_HELLO:
        add_uint(b, "version", res->u.hello.version);
        add_string(b, "server", res->u.hello.server);
        json_builder_set_member_name(b, "capabilities");
        json_builder_begin_array(b);
        for (char **cap = res->u.hello.capabilities; cap && *cap; cap++)
            json_builder_add_string_value(b, *cap);
        json_builder_end_array(b);
        add_uint(b, "max_sas_per_port", res->u.hello.max_sas_per_port);
        break;
    case VFSEC_CONTRACT_OP_LIST_PORTS:
        json_builder_set_member_name(b, "ports");
        json_builder_begin_array(b);
        for (guint i = 0; i < res->u.ports->len; i++)
            build_port(b, g_ptr_array_index(res->u.ports, i));
        json_builder_end_array(b);
        break;
    case VFSEC_CONTRACT_OP_LIST_VFS:
        json_builder_set_member_name(b, "vfs");
        json_builder_begin_array(b);
        for (guint i = 0; i < res->u.vfs->len; i++) {
            json_builder_begin_object(b);
            build_vf_members(b, g_ptr_array_index(res->u.vfs, i), VFSEC_CONTRACT_SET_VF_ALL, TRUE);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        break;
    case VFSEC_CONTRACT_OP_SET_VF:
        build_vf_members(b, res->u.vf, VFSEC_CONTRACT_SET_VF_ALL, TRUE);
        break;
    case VFSEC_CONTRACT_OP_RECLAIM_VF:
        add_uint(b, "removed", res->u.reclaim.removed);
        add_uint(b, "failed", res->u.reclaim.failed);
        add_uint(b, "remaining", res->u.reclaim.remaining);
        break;
    case VFSEC_CONTRACT_OP_GET_MACS:
        build_mac_table_members(b, res->u.macs);
        break;
    case VFSEC_CONTRACT_OP_SET_MACS:
        add_uint(b, "generation", res->u.generation);
        break;
    case VFSEC_CONTRACT_OP_GET_SWITCH_MODE:
    case VFSEC_CONTRACT_OP_SET_SWITCH_MODE:
        add_string(b, "mode", vfsec_contract_switch_mode_to_string(res->u.mode));
        break;
    case VFSEC_CONTRACT_OP_COUNTERS:
        for (guint i = 0; i < res->u.counters->len; i++) {
            const VfsecContractCounter *c = &g_array_index(res->u.counters, VfsecContractCounter, i);
            add_uint(b, c->name, c->value);
        }
        break;
    case VFSEC_CONTRACT_OP_SUBSCRIBE:
        break;
    case VFSEC_CONTRACT_OP_LAST:
        g_assert_not_reached();
    }
    json_builder_end_object(b);
    return builder_steal_object(b);
}

static gboolean
parse_hello(JsonObject *obj, const Where *w, VfsecContractHello *hello, GError **error)
{
    g_autoptr(GStrvBuilder) caps = g_strv_builder_new();
    JsonArray *array;

    if (!read_uint(obj, w, "version", G_MAXUINT32, &hello->version, error) ||
        !read_string(obj, w, "server", TEXT_LABEL, FALSE, &hello->server, error))
        return FALSE;
    array = read_array(obj, w, "capabilities", error);
    if (!array)
        return FALSE;
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *node = json_array_get_element(array, i);
        g_autofree char *element = g_strdup_printf("capabilities[%u]", i);
        const char *cap;

        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
            return field_error(error, w, element, "is not a string");
        cap = json_node_get_string(node);
        if (!text_valid(TEXT_TOKEN, cap)) {
            g_autofree char *q = quote(cap);
            return field_error(error, w, element, "%s is not %s", q, text_kinds[TEXT_TOKEN].noun);
        }
        g_strv_builder_add(caps, cap);
    }
    g_strfreev(hello->capabilities);
    hello->capabilities = g_strv_builder_end(caps);
    return read_uint64(obj, w, "max_sas_per_port", VFSEC_CONTRACT_MAX_UINT,
                       &hello->max_sas_per_port, error);
}

static gboolean
parse_counters(JsonObject *obj, const Where *w, GArray *counters, GError **error)
{
    g_autoptr(GList) names = json_object_get_members(obj);

    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;
        guint64 value;

        if (!text_valid(TEXT_TOKEN, name)) {
            g_autofree char *q = quote(name);
            g_set_error(error, VFSEC_ERROR, w->code, "%s: counter name %s is not %s",
                        w->what, q, text_kinds[TEXT_TOKEN].noun);
            return FALSE;
        }
        if (!read_uint64(obj, w, name, VFSEC_CONTRACT_MAX_UINT, &value, error))
            return FALSE;
        vfsec_contract_counters_add(counters, name, value);
    }
    return TRUE;
}

/* An array of objects, each read by @parse, which appends an element to @out. */
static gboolean
parse_list(JsonObject *obj, const Where *w, const char *key, GPtrArray *out,
           gboolean (*parse)(JsonObject *, const Where *, GPtrArray *, GError **),
           GError **error)
{
    JsonArray *array = read_array(obj, w, key, error);

    if (!array)
        return FALSE;
    for (guint i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *prefix = NULL;
        JsonObject *eobj;
        Where sub;

        eobj = array_object(array, i, w, key, &prefix, &sub, error);
        if (!eobj || !parse(eobj, &sub, out, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_port_element(JsonObject *obj, const Where *w, GPtrArray *out, GError **error)
{
    VfsecContractPort *port = vfsec_contract_port_new();

    g_ptr_array_add(out, port);
    return parse_port(obj, w, port, error);
}

static gboolean
parse_vf_element(JsonObject *obj, const Where *w, GPtrArray *out, GError **error)
{
    VfsecContractVf *vf = vfsec_contract_vf_new();
    VfsecContractSetVfFields fields;

    g_ptr_array_add(out, vf);
    return parse_vf(obj, w, TRUE, vf, &fields, error);
}

VfsecContractResult *
vfsec_contract_result_from_json(VfsecContractOp op, JsonObject *obj, GError **error)
{
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(op);
    g_autofree char *what = NULL;
    VfsecContractSetVfFields fields;
    gboolean ok = FALSE;
    Where w;

    g_return_val_if_fail(res != NULL, NULL);
    what = g_strdup_printf("%s result", op_names[op]);
    w = (Where){ what, "", VFSEC_ERROR_INVALID };
    switch (op) {
    case VFSEC_CONTRACT_OP_HELLO:
        ok = parse_hello(obj, &w, &res->u.hello, error);
        break;
    case VFSEC_CONTRACT_OP_LIST_PORTS:
        ok = parse_list(obj, &w, "ports", res->u.ports, parse_port_element, error);
        break;
    case VFSEC_CONTRACT_OP_LIST_VFS:
        ok = parse_list(obj, &w, "vfs", res->u.vfs, parse_vf_element, error);
        break;
    case VFSEC_CONTRACT_OP_SET_VF:
        ok = parse_vf(obj, &w, TRUE, res->u.vf, &fields, error);
        break;
    case VFSEC_CONTRACT_OP_RECLAIM_VF:
        ok = read_uint64(obj, &w, "removed", VFSEC_CONTRACT_MAX_UINT, &res->u.reclaim.removed, error) &&
             read_uint64(obj, &w, "failed", VFSEC_CONTRACT_MAX_UINT, &res->u.reclaim.failed, error) &&
             read_uint64(obj, &w, "remaining", VFSEC_CONTRACT_MAX_UINT, &res->u.reclaim.remaining, error);
        break;
    case VFSEC_CONTRACT_OP_GET_MACS:
        ok = parse_mac_table(obj, &w, res->u.macs, error);
        break;
    case VFSEC_CONTRACT_OP_SET_MACS:
        ok = read_uint64(obj, &w, "generation", VFSEC_CONTRACT_MAX_UINT, &res->u.generation, error);
        break;
    case VFSEC_CONTRACT_OP_GET_SWITCH_MODE:
    case VFSEC_CONTRACT_OP_SET_SWITCH_MODE:
        ok = read_switch_mode(obj, &w, "mode", &res->u.mode, error);
        break;
    case VFSEC_CONTRACT_OP_COUNTERS:
        ok = parse_counters(obj, &w, res->u.counters, error);
        break;
    case VFSEC_CONTRACT_OP_SUBSCRIBE:
        ok = TRUE;
        break;
    case VFSEC_CONTRACT_OP_LAST:
        g_assert_not_reached();
    }
    return ok ? g_steal_pointer(&res) : NULL;
}

/* ------------------------------------------------------------------------ */
/* The reply envelope, shared with the control protocol */

/* A reply's first members: @extras' (e.g. the control protocol's "v"), then
 * "id" and "ok". */
static void
begin_reply(JsonBuilder *b, JsonObject *extras, guint64 id, gboolean ok)
{
    json_builder_begin_object(b);
    if (extras) {
        g_autoptr(GList) names = json_object_get_members(extras);

        for (GList *l = names; l; l = l->next) {
            json_builder_set_member_name(b, l->data);
            json_builder_add_value(b, json_object_dup_member(extras, l->data));
        }
    }
    add_uint(b, "id", id);
    add_bool(b, "ok", ok);
}

char *
vfsec_contract_reply_build_full(JsonObject *extras, guint64 id, JsonObject *result,
                                gsize max_line, gsize *len, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    g_return_val_if_fail(id <= VFSEC_CONTRACT_MAX_UINT, NULL);
    begin_reply(b, extras, id, TRUE);
    add_object(b, "result", result);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return vfsec_json_to_line(root, max_line, "reply line", len, error);
}

char *
vfsec_contract_reply_build(guint64 id, JsonObject *result, gsize *len, GError **error)
{
    return vfsec_contract_reply_build_full(NULL, id, result, VFSEC_CONTRACT_MAX_LINE, len, error);
}

/* @message as an error reply carries it: valid UTF-8 on one line (a control
 * character becomes a space, trailing ones go: libxml2's messages end in a
 * newline), at most VFSEC_CONTRACT_MAX_MESSAGE bytes cut at a character
 * boundary, and never empty (@code stands in). */
static char *
reply_message(const char *message, const char *code)
{
    g_autofree char *text = g_utf8_make_valid(message ? message : "", -1);
    gsize n = strlen(text);

    if (n > VFSEC_CONTRACT_MAX_MESSAGE) {
        /* Continuation bytes are 10xxxxxx. */
        n = VFSEC_CONTRACT_MAX_MESSAGE;
        while (n > 0 && ((guchar)text[n] & 0xc0) == 0x80)
            n--;
        text[n] = '\0';
    }
    for (char *p = text; *p; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    }
    g_strchomp(text);
    return *text ? g_steal_pointer(&text) : g_strdup(code);
}

char *
vfsec_contract_reply_error_build_full(JsonObject *extras, guint64 id, const char *code,
                                      const char *message, gsize *len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *text = NULL;
    char *line;

    g_return_val_if_fail(id <= VFSEC_CONTRACT_MAX_UINT, NULL);
    g_return_val_if_fail(code && text_valid(TEXT_TOKEN, code), NULL);
    text = reply_message(message, code);
    begin_reply(b, extras, id, FALSE);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    add_string(b, "code", code);
    add_string(b, "message", text);
    json_builder_end_object(b);
    json_builder_end_object(b);
    line = finish_builder(b, "reply", len, NULL);
    g_assert(line);  /* a few kilobytes at most */
    return line;
}

char *
vfsec_contract_reply_error_build(guint64 id, VfsecContractErrorCode code, const char *message,
                                 gsize *len)
{
    g_return_val_if_fail(code < VFSEC_CONTRACT_ERROR_LAST, NULL);
    return vfsec_contract_reply_error_build_full(NULL, id, error_code_names[code], message, len);
}

void
vfsec_contract_reply_envelope_clear(VfsecContractReplyEnvelope *env)
{
    g_clear_pointer(&env->result, json_object_unref);
    g_clear_pointer(&env->error_code, g_free);
    g_clear_pointer(&env->error_message, g_free);
}

gboolean
vfsec_contract_reply_envelope_read(JsonObject *root, const char *what, guint64 max_id,
                                   VfsecContractReplyEnvelope *out, GError **error)
{
    const Where w = { what, "", VFSEC_ERROR_PROTOCOL };
    const Where we = { what, "error.", VFSEC_ERROR_PROTOCOL };
    JsonObject *obj;

    memset(out, 0, sizeof(*out));
    if (!read_uint64(root, &w, "id", max_id, &out->id, error) ||
        !read_bool(root, &w, "ok", &out->ok, error))
        return FALSE;
    if (out->ok) {
        if (!read_object(root, &w, "result", FALSE, &obj, error))
            return FALSE;
        out->result = json_object_ref(obj);
        return TRUE;
    }
    return read_object(root, &w, "error", FALSE, &obj, error) &&
           read_string(obj, &we, "code", TEXT_TOKEN, FALSE, &out->error_code, error) &&
           read_string(obj, &we, "message", TEXT_ANY, FALSE, &out->error_message, error);
}

/* ------------------------------------------------------------------------ */
/* Notifications and messages */

void
vfsec_contract_notification_clear(VfsecContractNotification *n)
{
    g_clear_pointer(&n->what, g_free);
}

char *
vfsec_contract_notification_build(const VfsecContractNotification *n, gsize *len, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_return_val_if_fail(n->event < VFSEC_CONTRACT_EVENT_LAST, NULL);
    g_return_val_if_fail(n->event != VFSEC_CONTRACT_EVENT_PORT_CHANGE || n->what, NULL);
    json_builder_begin_object(b);
    add_string(b, "event", event_names[n->event]);
    json_builder_set_member_name(b, "data");
    json_builder_begin_object(b);
    add_uint(b, "port", n->port);
    if (n->event == VFSEC_CONTRACT_EVENT_VF_RESET)
        add_uint(b, "vf", n->vf);
    if (n->event == VFSEC_CONTRACT_EVENT_PORT_CHANGE)
        add_string(b, "what", n->what);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return finish_builder(b, event_names[n->event], len, error);
}

gboolean
vfsec_contract_notification_parse(const char *event, JsonObject *data,
                                  VfsecContractNotification *out, GError **error)
{
    Where w = { event, "", VFSEC_ERROR_INVALID };
    int ev = vfsec_contract_event_from_string(event);

    memset(out, 0, sizeof(*out));
    if (ev < 0) {
        g_autofree char *q = quote(event);
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "notification %s is not an event of contract version %d", q,
                    VFSEC_CONTRACT_VERSION);
        return FALSE;
    }
    out->event = (VfsecContractEvent)ev;
    if (!read_uint(data, &w, "port", G_MAXUINT32, &out->port, error))
        return FALSE;
    if (ev == VFSEC_CONTRACT_EVENT_VF_RESET)
        return read_uint(data, &w, "vf", G_MAXUINT32, &out->vf, error);
    if (ev == VFSEC_CONTRACT_EVENT_PORT_CHANGE)
        return read_string(data, &w, "what", TEXT_TOKEN, FALSE, &out->what, error);
    return TRUE;
}

void
vfsec_contract_message_free(VfsecContractMessage *msg)
{
    if (!msg)
        return;
    g_clear_pointer(&msg->result, json_object_unref);
    g_free(msg->error_message);
    g_free(msg->event);
    g_clear_pointer(&msg->data, json_object_unref);
    g_free(msg);
}

static gboolean
parse_notification(JsonObject *root, VfsecContractMessage *msg, GError **error)
{
    const Where w = { "notification", "", VFSEC_ERROR_PROTOCOL };
    JsonObject *data;

    msg->kind = VFSEC_CONTRACT_MESSAGE_NOTIFICATION;
    if (!read_string(root, &w, "event", TEXT_TOKEN, FALSE, &msg->event, error) ||
        !read_object(root, &w, "data", FALSE, &data, error))
        return FALSE;
    msg->data = json_object_ref(data);
    return TRUE;
}

static gboolean
parse_reply(JsonObject *root, VfsecContractMessage *msg, GError **error)
{
    g_auto(VfsecContractReplyEnvelope) env = { 0 };
    int code_index;

    msg->kind = VFSEC_CONTRACT_MESSAGE_REPLY;
    if (!vfsec_contract_reply_envelope_read(root, "reply", VFSEC_CONTRACT_MAX_UINT, &env, error))
        return FALSE;
    msg->id = env.id;
    msg->ok = env.ok;
    if (msg->ok) {
        msg->result = g_steal_pointer(&env.result);
        return TRUE;
    }
    /* A code from a later version reads as "failed": the message still says why. */
    code_index = vfsec_contract_error_code_from_string(env.error_code);
    msg->error_code = code_index < 0 ? VFSEC_CONTRACT_ERROR_FAILED : (VfsecContractErrorCode)code_index;
    msg->error_message = g_steal_pointer(&env.error_message);
    return TRUE;
}

VfsecContractMessage *
vfsec_contract_message_parse(const char *line, gsize len, GError **error)
{
    g_autoptr(JsonObject) root = parse_line(line, len, "reply line", error);
    g_autoptr(VfsecContractMessage) msg = NULL;
    gboolean ok;

    if (!root)
        return NULL;
    msg = g_new0(VfsecContractMessage, 1);
    /* Only notifications have an "event"; only replies have an "id". */
    if (json_object_has_member(root, "event"))
        ok = parse_notification(root, msg, error);
    else
        ok = parse_reply(root, msg, error);
    return ok ? g_steal_pointer(&msg) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Framer */

struct _VfsecContractFramer {
    GByteArray *buf;
    gsize max_line;
    gsize head;        /* start of the first line not popped yet */
    gsize tail;        /* start of the first incomplete line: [head, tail) are whole lines */
    gboolean broken;   /* a line was too long: nothing more is accepted */
};

VfsecContractFramer *
vfsec_contract_framer_new(gsize max_line)
{
    VfsecContractFramer *framer = g_new0(VfsecContractFramer, 1);

    framer->buf = g_byte_array_new();
    framer->max_line = max_line;
    return framer;
}

void
vfsec_contract_framer_free(VfsecContractFramer *framer)
{
    if (!framer)
        return;
    g_byte_array_unref(framer->buf);
    g_free(framer);
}

static gboolean
framer_break(VfsecContractFramer *framer, GError **error)
{
    framer->broken = TRUE;
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                "contract line exceeds the %" G_GSIZE_FORMAT "-byte limit", framer->max_line);
    return FALSE;
}

gboolean
vfsec_contract_framer_feed(VfsecContractFramer *framer, const void *data, gsize len,
                           GError **error)
{
    gsize scan = framer->buf->len;

    g_return_val_if_fail(len <= G_MAXUINT, FALSE);
    if (framer->broken)
        return framer_break(framer, error);
    g_byte_array_append(framer->buf, data, (guint)len);
    /* Bytes before @scan hold no newline past tail: only the new ones are searched. */
    while (scan < framer->buf->len) {
        const guint8 *nl = memchr(framer->buf->data + scan, '\n', framer->buf->len - scan);
        gsize end;

        if (!nl)
            break;
        end = (gsize)(nl - framer->buf->data);
        if (end - framer->tail > framer->max_line)
            return framer_break(framer, error);
        framer->tail = end + 1;
        scan = framer->tail;
    }
    if (framer->buf->len - framer->tail > framer->max_line)
        return framer_break(framer, error);
    return TRUE;
}

char *
vfsec_contract_framer_pop(VfsecContractFramer *framer, gsize *len)
{
    const guint8 *start = framer->buf->data + framer->head;
    const guint8 *nl;
    gsize n;
    char *line;

    if (framer->head == framer->tail)
        return NULL;
    nl = memchr(start, '\n', framer->tail - framer->head);
    g_assert(nl);
    n = (gsize)(nl - start);
    line = g_malloc(n + 1);
    memcpy(line, start, n);
    line[n] = '\0';
    framer->head += n + 1;
    /* Drop what was consumed once it is the larger part of the buffer, so a
     * long-lived connection neither grows the buffer nor copies it per line. */
    if (framer->head == framer->buf->len) {
        g_byte_array_set_size(framer->buf, 0);
        framer->head = framer->tail = 0;
    } else if (framer->head > framer->buf->len / 2) {
        g_byte_array_remove_range(framer->buf, 0, (guint)framer->head);
        framer->tail -= framer->head;
        framer->head = 0;
    }
    if (len)
        *len = n;
    return line;
}

gsize
vfsec_contract_framer_pending(const VfsecContractFramer *framer)
{
    return framer->buf->len - framer->tail;
}
