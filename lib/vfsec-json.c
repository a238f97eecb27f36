/* vfsec-json.c: JSON forms of attachments (the inspect-domain contract) and
 * the strict line reader and writer of vfsec's JSON-lines protocols. */
#include "vfsec-json.h"
#include "vfsec-hookops.h"

#include <stdarg.h>
#include <string.h>

static void
vfsec_json_add_string_or_null(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void
vfsec_json_add_resolved(JsonBuilder *b, gboolean requested,
                        const VfsecVfInfo *resolved, const GError *resolve_error)
{
    json_builder_set_member_name(b, "resolved");
    if (!requested) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    if (resolved) {
        char pf_pci[VFSEC_PCI_ADDR_STRLEN];
        char vf_pci[VFSEC_PCI_ADDR_STRLEN];

        vfsec_json_add_string_or_null(b, "pf", resolved->pf_netdev);
        json_builder_set_member_name(b, "vf");
        json_builder_add_int_value(b, resolved->vf_index);
        vfsec_json_add_string_or_null(b, "vf_netdev", resolved->vf_netdev);
        vfsec_json_add_string_or_null(b, "pf_pci", vfsec_pci_addr_format(&resolved->pf_pci, pf_pci));
        vfsec_json_add_string_or_null(b, "vf_pci", vfsec_pci_addr_format(&resolved->vf_pci, vf_pci));
        vfsec_json_add_string_or_null(b, "pf_driver", resolved->pf_driver);
        vfsec_json_add_string_or_null(b, "vf_driver", resolved->vf_driver);
    } else {
        vfsec_json_add_string_or_null(b, "error",
                                      resolve_error ? resolve_error->message : "not resolved");
    }
    json_builder_end_object(b);
}

JsonNode *
vfsec_attachment_to_json(const VfsecAttachment *att,
                         gboolean resolve_requested,
                         const VfsecVfInfo *resolved,
                         const GError *resolve_error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    char pci[VFSEC_PCI_ADDR_STRLEN];
    char mac[VFSEC_MAC_STRLEN];

    json_builder_begin_object(b);
    vfsec_json_add_string_or_null(b, "kind", vfsec_attachment_kind_to_string(att->kind));
    vfsec_json_add_string_or_null(b, "pci", att->has_pci ? vfsec_pci_addr_format(&att->pci, pci) : NULL);
    vfsec_json_add_string_or_null(b, "mac", att->has_mac ? vfsec_mac_format(&att->mac, mac) : NULL);

    json_builder_set_member_name(b, "vlans");
    json_builder_begin_array(b);
    for (guint i = 0; att->vlans && i < att->vlans->len; i++)
        json_builder_add_int_value(b, g_array_index(att->vlans, guint16, i));
    json_builder_end_array(b);

    json_builder_set_member_name(b, "trunk");
    json_builder_add_boolean_value(b, att->trunk);
    json_builder_set_member_name(b, "native_vlan");
    if (att->native_vlan >= 0)
        json_builder_add_int_value(b, att->native_vlan);
    else
        json_builder_add_null_value(b);
    vfsec_json_add_string_or_null(b, "native_mode", vfsec_native_mode_to_string(att->native_mode));

    vfsec_json_add_string_or_null(b, "source_dev",
                                  att->kind == VFSEC_ATTACHMENT_INTERFACE_DIRECT ||
                                  att->from_actual ? att->source_dev : NULL);
    vfsec_json_add_string_or_null(b, "mode",
                                  att->kind == VFSEC_ATTACHMENT_INTERFACE_DIRECT ? att->mode : NULL);
    vfsec_json_add_string_or_null(b, "network",
                                  att->kind == VFSEC_ATTACHMENT_INTERFACE_NETWORK ? att->network : NULL);
    vfsec_json_add_string_or_null(b, "portgroup", att->portgroup);

    json_builder_set_member_name(b, "managed");
    if (att->managed == VFSEC_TRISTATE_ABSENT)
        json_builder_add_null_value(b);
    else
        json_builder_add_boolean_value(b, att->managed == VFSEC_TRISTATE_YES);

    vfsec_json_add_string_or_null(b, "driver", att->driver_name);
    vfsec_json_add_string_or_null(b, "alias", att->alias);
    json_builder_set_member_name(b, "from_actual");
    json_builder_add_boolean_value(b, att->from_actual);

    json_builder_set_member_name(b, "teaming");
    if (att->teaming == VFSEC_TEAMING_NONE) {
        json_builder_add_null_value(b);
    } else {
        json_builder_begin_object(b);
        vfsec_json_add_string_or_null(b, "type", vfsec_teaming_to_string(att->teaming));
        vfsec_json_add_string_or_null(b, "persistent", att->teaming_persistent);
        json_builder_end_object(b);
    }

    json_builder_set_member_name(b, "policy");
    json_builder_begin_object(b);
    vfsec_json_add_string_or_null(b, "trust", vfsec_trust_to_string(att->policy.trust));
    json_builder_set_member_name(b, "hairpin");
    json_builder_add_boolean_value(b, att->policy.hairpin);
    json_builder_end_object(b);

    vfsec_json_add_resolved(b, resolve_requested, resolved, resolve_error);
    json_builder_end_object(b);

    return json_builder_get_root(b);
}

char *
vfsec_json_to_string(JsonNode *node, gboolean pretty)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, pretty);
    json_generator_set_indent(gen, 2);
    return json_generator_to_data(gen, NULL);
}

/*
 * Strict lines: theory of operation
 *
 * vfsec_json_parse_line() makes one pass over the line before json-glib sees
 * it. The pass is iterative (a stack of open objects and arrays, bounded by
 * max_depth), so a line of a million '[' costs no stack; it checks the whole
 * RFC 8259 grammar itself, so json-glib's leniency (GScanner takes single
 * quotes, hex numbers, a second value after the first) never decides
 * anything, and json-glib only builds the tree of a line known to be good.
 *
 * Each open object keeps a set of its member names. A name may hold no
 * escape, so its first '"' ends it and the set can key on a pointer into the
 * line itself: no copy per member, and an object's set is emptied when it
 * closes, so sibling objects may reuse names.
 */

typedef struct {
    guchar closer;           /* '}' or ']' */
    GHashTable *names;       /* objects: their member names so far */
} VfsecJsonLevel;

typedef struct {
    const char *what;
    const guchar *start;
    const guchar *p;
    const guchar *end;
    VfsecJsonLevel *levels;  /* max_depth of them */
    guint max_depth;
    guint depth;
} VfsecJsonScan;

static void
vfsec_json_scan_clear(VfsecJsonScan *s)
{
    for (guint i = 0; s->levels && i < s->max_depth; i++)
        g_clear_pointer(&s->levels[i].names, g_hash_table_destroy);
    g_clear_pointer(&s->levels, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfsecJsonScan, vfsec_json_scan_clear)

/* A member name as it stands in the line, from after its opening quote up
 * to its closing one (it holds no escape, so the first '"' is that one). */
static guint
vfsec_json_name_hash(gconstpointer key)
{
    guint h = 5381;

    for (const guchar *p = key; *p != '"'; p++)
        h = h * 33 + *p;
    return h;
}

static gboolean
vfsec_json_name_equal(gconstpointer a, gconstpointer b)
{
    const guchar *p = a;
    const guchar *q = b;

    for (; *p == *q; p++, q++) {
        if (*p == '"')
            return TRUE;
    }
    return FALSE;
}

static gboolean G_GNUC_PRINTF(3, 4)
vfsec_json_scan_fail(const VfsecJsonScan *s, GError **error, const char *fmt, ...)
{
    g_autofree char *problem = NULL;
    va_list ap;

    va_start(ap, fmt);
    problem = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                "%s is not a valid JSON object: %s at byte %" G_GSIZE_FORMAT, s->what, problem,
                (gsize)(s->p - s->start));
    return FALSE;
}

static void
vfsec_json_scan_ws(VfsecJsonScan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static gboolean
vfsec_json_hex4(const guchar *p, const guchar *end, guint *out)
{
    guint v = 0;

    if (end - p < 4)
        return FALSE;
    for (int i = 0; i < 4; i++) {
        int d = g_ascii_xdigit_value((char)p[i]);

        if (d < 0)
            return FALSE;
        v = v << 4 | (guint)d;
    }
    *out = v;
    return TRUE;
}

/* A string, s->p on its opening quote; leaves s->p after the closing one.
 * A member name (@name) may hold no escape. */
static gboolean
vfsec_json_scan_string(VfsecJsonScan *s, gboolean name, GError **error)
{
    s->p++;
    while (s->p < s->end) {
        guint cp;
        guint low;

        if (*s->p == '"') {
            s->p++;
            return TRUE;
        }
        if (*s->p < 0x20)
            return vfsec_json_scan_fail(s, error, "a raw control character in a string");
        if (*s->p != '\\') {
            s->p++;
            continue;
        }
        if (name)
            return vfsec_json_scan_fail(s, error, "an escape in a member name");
        if (s->end - s->p < 2)
            break;
        if (s->p[1] != 'u') {
            if (s->p[1] == '\0' || !strchr("\"\\/bfnrt", s->p[1]))
                return vfsec_json_scan_fail(s, error, "an unknown escape");
            s->p += 2;
            continue;
        }
        if (!vfsec_json_hex4(s->p + 2, s->end, &cp))
            return vfsec_json_scan_fail(s, error, "a malformed \\u escape");
        /* Strings become C strings: an escaped NUL would cut them short. */
        if (cp == 0)
            return vfsec_json_scan_fail(s, error, "\\u0000 in a string");
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return vfsec_json_scan_fail(s, error, "a lone low surrogate");
        if (cp >= 0xd800 && cp <= 0xdbff &&
            (s->end - s->p < 12 || s->p[6] != '\\' || s->p[7] != 'u' ||
             !vfsec_json_hex4(s->p + 8, s->end, &low) || low < 0xdc00 || low > 0xdfff))
            return vfsec_json_scan_fail(s, error, "a lone high surrogate");
        s->p += cp >= 0xd800 && cp <= 0xdbff ? 12 : 6;
    }
    s->p = s->end;
    return vfsec_json_scan_fail(s, error, "an unterminated string");
}

/* A number; an integer (no fraction, no exponent) must fit 64 signed bits,
 * which json-glib would otherwise wrap without a word. The scanner is the
 * hook front's too (vfsec-hookops.h), so both take the same numbers. */
static gboolean
vfsec_json_scan_number(VfsecJsonScan *s, GError **error)
{
    const char *p = (const char *)s->p;
    int rc = vfsec_hook_json_number(&p, (const char *)s->end);

    s->p = (const guchar *)p;
    if (rc == 0)
        return vfsec_json_scan_fail(s, error, "a malformed number");
    if (rc < 0)
        return vfsec_json_scan_fail(s, error, "an integer outside the signed 64-bit range");
    return TRUE;
}

static gboolean
vfsec_json_scan_literal(VfsecJsonScan *s, const char *word, GError **error)
{
    gsize n = strlen(word);

    if ((gsize)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return vfsec_json_scan_fail(s, error, "an unexpected character");
    s->p += n;
    return TRUE;
}

static gboolean
vfsec_json_scan_scalar(VfsecJsonScan *s, GError **error)
{
    switch (*s->p) {
    case '"':
        return vfsec_json_scan_string(s, FALSE, error);
    case 't':
        return vfsec_json_scan_literal(s, "true", error);
    case 'f':
        return vfsec_json_scan_literal(s, "false", error);
    case 'n':
        return vfsec_json_scan_literal(s, "null", error);
    default:
        if (*s->p == '-' || g_ascii_isdigit(*s->p))
            return vfsec_json_scan_number(s, error);
        return vfsec_json_scan_fail(s, error, "an unexpected character");
    }
}

/* A member name of the innermost object, and its colon. */
static gboolean
vfsec_json_scan_name(VfsecJsonScan *s, GError **error)
{
    VfsecJsonLevel *level = &s->levels[s->depth - 1];
    const guchar *quote;

    vfsec_json_scan_ws(s);
    if (s->p == s->end || *s->p != '"')
        return vfsec_json_scan_fail(s, error, "a missing member name");
    quote = s->p;
    if (!vfsec_json_scan_string(s, TRUE, error))
        return FALSE;
    if (!level->names)
        level->names = g_hash_table_new(vfsec_json_name_hash, vfsec_json_name_equal);
    if (!g_hash_table_add(level->names, (gpointer)(quote + 1))) {
        s->p = quote;
        return vfsec_json_scan_fail(s, error, "a duplicate member name");
    }
    vfsec_json_scan_ws(s);
    if (s->p == s->end || *s->p != ':')
        return vfsec_json_scan_fail(s, error, "a missing ':'");
    s->p++;
    return TRUE;
}

static void
vfsec_json_scan_close(VfsecJsonScan *s)
{
    VfsecJsonLevel *level = &s->levels[--s->depth];

    if (level->names)
        g_hash_table_remove_all(level->names);
    s->p++;
}

/* A value, s->p on its first byte. *@done: it is complete (a scalar, or an
 * empty object or array); else an object or array is open and, for an
 * object, its first member name read. */
static gboolean
vfsec_json_scan_value(VfsecJsonScan *s, gboolean *done, GError **error)
{
    guchar closer;

    if (s->p == s->end)
        return vfsec_json_scan_fail(s, error, "an unterminated object or array");
    if (*s->p != '{' && *s->p != '[') {
        *done = TRUE;
        return vfsec_json_scan_scalar(s, error);
    }
    if (s->depth == s->max_depth)
        return vfsec_json_scan_fail(s, error, "nesting deeper than %u levels", s->max_depth);
    closer = *s->p == '{' ? '}' : ']';
    s->levels[s->depth++].closer = closer;
    s->p++;
    vfsec_json_scan_ws(s);
    if (s->p < s->end && *s->p == closer) {
        vfsec_json_scan_close(s);
        *done = TRUE;
        return TRUE;
    }
    *done = FALSE;
    return closer == ']' || vfsec_json_scan_name(s, error);
}

/* The whole line; see the theory of operation above. */
static gboolean
vfsec_json_scan_line(VfsecJsonScan *s, GError **error)
{
    gboolean need_value = TRUE;

    vfsec_json_scan_ws(s);
    if (s->p == s->end)
        return vfsec_json_scan_fail(s, error, "an empty line");
    if (*s->p != '{')
        return vfsec_json_scan_fail(s, error, "something other than an object");
    for (;;) {
        guchar closer;

        vfsec_json_scan_ws(s);
        if (need_value) {
            gboolean done;

            if (!vfsec_json_scan_value(s, &done, error))
                return FALSE;
            need_value = !done;
            continue;
        }
        if (s->depth == 0)
            return s->p == s->end || vfsec_json_scan_fail(s, error, "data after the object");
        if (s->p == s->end)
            return vfsec_json_scan_fail(s, error, "an unterminated object or array");
        closer = s->levels[s->depth - 1].closer;
        if (*s->p == closer) {
            vfsec_json_scan_close(s);
            continue;
        }
        if (*s->p != ',')
            return vfsec_json_scan_fail(s, error, "a missing ',' or closing bracket");
        s->p++;
        if (closer == '}' && !vfsec_json_scan_name(s, error))
            return FALSE;
        need_value = TRUE;
    }
}

JsonObject *
vfsec_json_parse_line(const char *line, gsize len, gsize max_len, guint max_depth,
                      const char *what, GError **error)
{
    g_auto(VfsecJsonScan) s = { what, (const guchar *)line, (const guchar *)line,
                                (const guchar *)line + len, NULL, max_depth, 0 };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) local = NULL;
    const char *nul;
    const char *bad;

    g_return_val_if_fail(max_depth > 0, NULL);
    if (len > max_len) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s is %" G_GSIZE_FORMAT " bytes, more than %" G_GSIZE_FORMAT, what, len,
                    max_len);
        return NULL;
    }
    if ((nul = memchr(line, '\0', len))) {
        s.p = (const guchar *)nul;
        vfsec_json_scan_fail(&s, error, "a NUL byte");
        return NULL;
    }
    if (!g_utf8_validate_len(line, len, &bad)) {
        s.p = (const guchar *)bad;
        vfsec_json_scan_fail(&s, error, "invalid UTF-8");
        return NULL;
    }
    s.levels = g_new0(VfsecJsonLevel, max_depth);
    if (!vfsec_json_scan_line(&s, error))
        return NULL;
    parser = json_parser_new_immutable();
    /* Not expected to fail once the scan passed. */
    if (!json_parser_load_from_data(parser, line, (gssize)len, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s is not a valid JSON object: %s",
                    what, local->message);
        return NULL;
    }
    return json_node_dup_object(json_parser_get_root(parser));
}

char *
vfsec_json_to_line(JsonNode *root, gsize max_len, const char *what, gsize *len, GError **error)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;
    gsize n = 0;

    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, &n);
    if (n > max_len) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s would be %" G_GSIZE_FORMAT " bytes, more than %" G_GSIZE_FORMAT, what, n,
                    max_len);
        return NULL;
    }
    text = g_realloc(text, n + 2);
    text[n] = '\n';
    text[n + 1] = '\0';
    if (len)
        *len = n + 1;
    return g_steal_pointer(&text);
}
