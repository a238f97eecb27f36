/* vfsec-ctlproto.c: codec, blocking client and server binding of vfsecd's
 * control protocol.
 *
 * Theory of operation (the normative text is docs/control-protocol.md):
 *
 * A client connects to vfsecd's Unix stream socket and writes requests, one
 * JSON object per '\n'-terminated line:
 *     {"v":1,"id":7,"op":"hook","args":{"kind":"qemu","name":"vm1",...}}
 * and vfsecd answers each with one line carrying the same id, in the
 * PF-driver contract's reply envelope with "v" in front:
 *     {"v":1,"id":7,"ok":true,"result":{...}}
 *     {"v":1,"id":7,"ok":false,"error":{"code":"conflict","message":"..."}}
 * Requests on one connection are answered in order; this client sends one at
 * a time, so any other id is a protocol error.
 *
 * Every line is held to strict JSON by vfsec_json_parse_line() before
 * json-glib builds it (bounded length and depth, no duplicate or escaped
 * member names, integers within 64 bits, ...); the envelope is the contract's
 * (vfsec_contract_reply_envelope_read() and the _full builders), the error
 * codes are VfsecErrorCode's wire names.
 *
 * Building runs the same field checks as parsing, so whatever a vfsec
 * program sends, a vfsec program accepts; the size bound is checked on the
 * finished line because escaping changes the length.
 *
 * The client is deliberately blocking (poll() against one deadline): the
 * libvirt hook is a short-lived process with no main loop, and the deadline
 * covers connect, send and receive together so the hook's timeout is one
 * number. vfsecd's side is a VfsecJsonlServer configured with this file's
 * parse function, reply members and error names (vfsec_ctl_server_new()). */
#include "vfsec-ctlproto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfsec-contract.h"
#include "vfsec-json.h"

static const char *const vfsec_ctl_op_names[VFSEC_CTL_OP_LAST] = {
    [VFSEC_CTL_OP_HOOK] = "hook",
    [VFSEC_CTL_OP_STATUS] = "status",
    [VFSEC_CTL_OP_VFS] = "vfs",
    [VFSEC_CTL_OP_MACS] = "macs",
    [VFSEC_CTL_OP_DOMAINS] = "domains",
    [VFSEC_CTL_OP_RECLAIM] = "reclaim",
    [VFSEC_CTL_OP_RECONCILE] = "reconcile",
};

static const char *const vfsec_ctl_error_code_names[] = {
    [VFSEC_ERROR_FAILED] = "failed",
    [VFSEC_ERROR_INVALID] = "invalid",
    [VFSEC_ERROR_NOT_FOUND] = "not-found",
    [VFSEC_ERROR_IO] = "io",
    [VFSEC_ERROR_PROTOCOL] = "protocol",
    [VFSEC_ERROR_CONFLICT] = "conflict",
    [VFSEC_ERROR_TIMEOUT] = "timeout",
    [VFSEC_ERROR_UNSUPPORTED] = "unsupported",
    [VFSEC_ERROR_PERMISSION] = "permission",
    [VFSEC_ERROR_TOO_LARGE] = "too-large",
};

const char *
vfsec_ctl_op_to_string(VfsecCtlOp op)
{
    return (guint)op < VFSEC_CTL_OP_LAST ? vfsec_ctl_op_names[op] : NULL;
}

int
vfsec_ctl_op_from_string(const char *str)
{
    return vfsec_hook_name_lookup(vfsec_ctl_op_names, VFSEC_CTL_OP_LAST, str);
}

const char *
vfsec_ctl_error_code_to_string(VfsecErrorCode code)
{
    return (guint)code < G_N_ELEMENTS(vfsec_ctl_error_code_names) ?
           vfsec_ctl_error_code_names[code] : NULL;
}

const char *
vfsec_ctl_error_code_from_gerror(const GError *err)
{
    const char *name = err->domain == VFSEC_ERROR ? vfsec_ctl_error_code_to_string(err->code) : NULL;

    return name ? name : vfsec_ctl_error_code_names[VFSEC_ERROR_FAILED];
}

int
vfsec_ctl_error_code_from_string(const char *str)
{
    return vfsec_hook_name_lookup(vfsec_ctl_error_code_names,
                                 G_N_ELEMENTS(vfsec_ctl_error_code_names), str);
}

/* Text that is printed on one line: UTF-8, no C0 control, no DEL. */
static gboolean
vfsec_ctl_text_check(const char *what, const char *text, gsize max, gboolean allow_empty,
                     VfsecErrorCode code, GError **error)
{
    char msg[1024];

    if (vfsec_hook_text_check(what, text, max, allow_empty, msg, sizeof(msg)))
        return TRUE;
    g_set_error_literal(error, VFSEC_ERROR, code, msg);
    return FALSE;
}

gboolean
vfsec_ctl_check_name(const char *what, const char *name, GError **error)
{
    char msg[1024];

    if (vfsec_hook_name_check(what, name, msg, sizeof(msg)))
        return TRUE;
    g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, msg);
    return FALSE;
}

gboolean
vfsec_ctl_check_extra(const char *what, const char *extra, GError **error)
{
    char msg[1024];

    if (vfsec_hook_extra_check(what, extra, msg, sizeof(msg)))
        return TRUE;
    g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, msg);
    return FALSE;
}

gboolean
vfsec_ctl_hook_candidate(const VfsecAttachment *att)
{
    if (att->kind == VFSEC_ATTACHMENT_INTERFACE_NETWORK && !att->from_actual)
        return FALSE;
    return att->has_pci || att->source_dev;
}

gboolean
vfsec_ctl_hook_port_candidate(const VfsecNetworkPort *port)
{
    return port->has_pci || port->plug_dev;
}

/* Which side is reading: a malformed request is the peer's invalid input,
 * a malformed reply is vfsecd breaking the protocol. */
typedef struct {
    const char *what;
    VfsecErrorCode code;
} VfsecCtlIn;

static const VfsecCtlIn vfsec_ctl_in_request = { "control request", VFSEC_ERROR_INVALID };
static const VfsecCtlIn vfsec_ctl_in_reply = { "control reply", VFSEC_ERROR_PROTOCOL };

/* Parses a line (its root is an object): an over-long line is
 * VFSEC_ERROR_TOO_LARGE, any other fault @in's code. */
static JsonObject *
vfsec_ctl_line_parse(const VfsecCtlIn *in, const char *line, gsize len, GError **error)
{
    g_autoptr(GError) local = NULL;
    JsonObject *root = vfsec_json_parse_line(line, len, VFSEC_CTL_MAX_LINE, VFSEC_CTL_MAX_DEPTH,
                                             in->what, &local);

    if (!root) {
        if (local->code != VFSEC_ERROR_TOO_LARGE)
            local->code = in->code;
        g_propagate_error(error, g_steal_pointer(&local));
    }
    return root;
}

/* The member @key of @obj (field @prefix@key in messages): NULL when
 * absent or null, which is an error only when @required. */
static gboolean
vfsec_ctl_member(const VfsecCtlIn *in, JsonObject *obj, const char *prefix, const char *key,
                 gboolean required, JsonNode **out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, key);

    *out = NULL;
    if (!node || JSON_NODE_HOLDS_NULL(node)) {
        if (!required)
            return TRUE;
        g_set_error(error, VFSEC_ERROR, in->code, "%s has no member %s%s", in->what, prefix,
                    key);
        return FALSE;
    }
    *out = node;
    return TRUE;
}

static gboolean
vfsec_ctl_wrong_type(const VfsecCtlIn *in, const char *prefix, const char *key,
                     const char *expected, GError **error)
{
    g_set_error(error, VFSEC_ERROR, in->code, "%s member %s%s is not %s", in->what, prefix, key,
                expected);
    return FALSE;
}

static gboolean
vfsec_ctl_get_string(const VfsecCtlIn *in, JsonObject *obj, const char *prefix,
                     const char *key, gboolean required, const char **out, GError **error)
{
    JsonNode *node;

    *out = NULL;
    if (!vfsec_ctl_member(in, obj, prefix, key, required, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_STRING)
        return vfsec_ctl_wrong_type(in, prefix, key, "a string", error);
    *out = json_node_get_string(node);
    return TRUE;
}

/* An integer in 0..@max; *@present tells whether it was there. */
static gboolean
vfsec_ctl_get_uint(const VfsecCtlIn *in, JsonObject *obj, const char *prefix, const char *key,
                   gboolean required, guint64 max, guint64 *out, gboolean *present,
                   GError **error)
{
    JsonNode *node;
    gint64 v;

    *out = 0;
    if (present)
        *present = FALSE;
    if (!vfsec_ctl_member(in, obj, prefix, key, required, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_INT64)
        return vfsec_ctl_wrong_type(in, prefix, key, "an integer", error);
    v = json_node_get_int(node);
    if (v < 0 || (guint64)v > max) {
        g_set_error(error, VFSEC_ERROR, in->code, "%s member %s%s is %" G_GINT64_FORMAT
                    ", outside 0..%" G_GUINT64_FORMAT, in->what, prefix, key, v, max);
        return FALSE;
    }
    *out = (guint64)v;
    if (present)
        *present = TRUE;
    return TRUE;
}

/* An object member; absent or null reads as NULL. */
static gboolean
vfsec_ctl_get_object(const VfsecCtlIn *in, JsonObject *obj, const char *key, JsonObject **out,
                     GError **error)
{
    JsonNode *node;

    *out = NULL;
    if (!vfsec_ctl_member(in, obj, "", key, FALSE, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return vfsec_ctl_wrong_type(in, "", key, "an object", error);
    *out = json_node_get_object(node);
    return TRUE;
}

static gboolean
vfsec_ctl_get_pci(const VfsecCtlIn *in, JsonObject *obj, const char *key, gboolean required,
                  VfsecPciAddr *out, gboolean *present, GError **error)
{
    g_autoptr(GError) local = NULL;
    const char *str;

    if (present)
        *present = FALSE;
    if (!vfsec_ctl_get_string(in, obj, "args.", key, required, &str, error))
        return FALSE;
    if (!str)
        return TRUE;
    if (!vfsec_pci_addr_parse(str, out, &local)) {
        g_set_error(error, VFSEC_ERROR, in->code, "%s member args.%s: %s", in->what, key,
                    local->message);
        return FALSE;
    }
    if (present)
        *present = TRUE;
    return TRUE;
}

/* The version member, common to both directions. */
static gboolean
vfsec_ctl_check_version(const VfsecCtlIn *in, JsonObject *obj, GError **error)
{
    guint64 v;

    if (!vfsec_ctl_get_uint(in, obj, "", "v", TRUE, G_MAXINT64, &v, NULL, error))
        return FALSE;
    if (v != VFSEC_CTL_VERSION) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "%s is version %" G_GUINT64_FORMAT ", this side speaks version %d",
                    in->what, v, VFSEC_CTL_VERSION);
        return FALSE;
    }
    return TRUE;
}

VfsecCtlRequest *
vfsec_ctl_request_new(VfsecCtlOp op)
{
    VfsecCtlRequest *req = g_new0(VfsecCtlRequest, 1);

    req->op = op;
    return req;
}

void
vfsec_ctl_request_free(VfsecCtlRequest *req)
{
    if (!req)
        return;
    g_free(req->hook.name);
    g_free(req->hook.extra);
    g_free(req->hook.xml);
    g_free(req);
}

/* The checks a request's values pass, whether built or parsed. */
static gboolean
vfsec_ctl_hook_args_check(const VfsecCtlHookArgs *args, GError **error)
{
    const char *what = vfsec_ctl_in_request.what;
    gsize xml_len;

    if ((guint)args->kind >= VFSEC_HOOK_KIND_LAST) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s args.kind %d is out of range",
                    what, (int)args->kind);
        return FALSE;
    }
    if ((guint)args->op >= VFSEC_HOOK_OP_LAST || vfsec_hook_op_kind(args->op) != args->kind) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s args.op %d is not an operation of the %s hook", what, (int)args->op,
                    vfsec_hook_kind_to_string(args->kind));
        return FALSE;
    }
    if ((guint)args->subop >= VFSEC_HOOK_SUBOP_LAST) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s args.subop %d is out of range",
                    what, (int)args->subop);
        return FALSE;
    }
    if (!args->name || !args->extra || !args->xml) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s args.%s is missing", what,
                    !args->name ? "name" : !args->extra ? "extra" : "xml");
        return FALSE;
    }
    if (!vfsec_ctl_check_name("control request args.name", args->name, error) ||
        !vfsec_ctl_check_extra("control request args.extra", args->extra, error))
        return FALSE;
    xml_len = strlen(args->xml);
    if (xml_len > VFSEC_DOMAIN_XML_MAX) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s args.xml is %" G_GSIZE_FORMAT " bytes, more than %d", what, xml_len,
                    VFSEC_DOMAIN_XML_MAX);
        return FALSE;
    }
    if (!g_utf8_validate_len(args->xml, xml_len, NULL)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s args.xml is not valid UTF-8",
                    what);
        return FALSE;
    }
    if (args->timeout_ms > VFSEC_CTL_MAX_TIMEOUT_MS) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s args.timeout_ms is %u, more than %d", what, args->timeout_ms,
                    VFSEC_CTL_MAX_TIMEOUT_MS);
        return FALSE;
    }
    return TRUE;
}

/* A PCI address a caller filled in field by field. */
static gboolean
vfsec_ctl_pci_check(const char *field, const VfsecPciAddr *addr, GError **error)
{
    if (addr->slot > 0x1f || addr->function > 7) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s %s has slot %#x function %u (at most 0x1f and 7)",
                    vfsec_ctl_in_request.what, field, addr->slot, addr->function);
        return FALSE;
    }
    return TRUE;
}

static gboolean
vfsec_ctl_request_check(const VfsecCtlRequest *req, GError **error)
{
    const char *what = vfsec_ctl_in_request.what;

    if (req->id > VFSEC_CTL_MAX_ID) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s id %" G_GUINT64_FORMAT
                    " is more than %" G_GUINT64_FORMAT, what, req->id, VFSEC_CTL_MAX_ID);
        return FALSE;
    }
    switch (req->op) {
    case VFSEC_CTL_OP_HOOK:
        return vfsec_ctl_hook_args_check(&req->hook, error);
    case VFSEC_CTL_OP_MACS:
        return !req->has_port || vfsec_ctl_pci_check("args.port", &req->port, error);
    case VFSEC_CTL_OP_RECLAIM:
        return vfsec_ctl_pci_check("args.pf", &req->pf, error);
    case VFSEC_CTL_OP_STATUS:
    case VFSEC_CTL_OP_VFS:
    case VFSEC_CTL_OP_DOMAINS:
    case VFSEC_CTL_OP_RECONCILE:
        return TRUE;
    case VFSEC_CTL_OP_LAST:
    default:
        break;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s op %d is out of range", what,
                (int)req->op);
    return FALSE;
}

static void
vfsec_ctl_add_string(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_string_value(b, value);
}

static void
vfsec_ctl_add_int(JsonBuilder *b, const char *key, gint64 value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, value);
}

static void
vfsec_ctl_add_pci(JsonBuilder *b, const char *key, const VfsecPciAddr *addr)
{
    char buf[VFSEC_PCI_ADDR_STRLEN];

    vfsec_ctl_add_string(b, key, vfsec_pci_addr_format(addr, buf));
}

/* Serialises the object @b holds as one line and checks the bound. */
static char *
vfsec_ctl_line_finish(const VfsecCtlIn *in, JsonBuilder *b, gsize *len, GError **error)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    return vfsec_json_to_line(root, VFSEC_CTL_MAX_LINE, in->what, len, error);
}

char *
vfsec_ctl_request_build(const VfsecCtlRequest *req, gsize *len, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    const VfsecCtlHookArgs *h = &req->hook;

    if (!vfsec_ctl_request_check(req, error))
        return NULL;
    json_builder_begin_object(b);
    vfsec_ctl_add_int(b, "v", VFSEC_CTL_VERSION);
    vfsec_ctl_add_int(b, "id", (gint64)req->id);
    vfsec_ctl_add_string(b, "op", vfsec_ctl_op_to_string(req->op));
    json_builder_set_member_name(b, "args");
    json_builder_begin_object(b);
    switch (req->op) {
    case VFSEC_CTL_OP_HOOK:
        vfsec_ctl_add_string(b, "kind", vfsec_hook_kind_to_string(h->kind));
        vfsec_ctl_add_string(b, "name", h->name);
        vfsec_ctl_add_string(b, "op", vfsec_hook_op_to_string(h->op));
        vfsec_ctl_add_string(b, "subop", vfsec_hook_subop_to_string(h->subop));
        vfsec_ctl_add_string(b, "extra", h->extra);
        vfsec_ctl_add_string(b, "xml", h->xml);
        if (h->timeout_ms)
            vfsec_ctl_add_int(b, "timeout_ms", h->timeout_ms);
        break;
    case VFSEC_CTL_OP_MACS:
        if (req->has_port)
            vfsec_ctl_add_pci(b, "port", &req->port);
        break;
    case VFSEC_CTL_OP_RECLAIM:
        vfsec_ctl_add_pci(b, "pf", &req->pf);
        vfsec_ctl_add_int(b, "vf", req->vf);
        break;
    default:
        break;
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    return vfsec_ctl_line_finish(&vfsec_ctl_in_request, b, len, error);
}

static gboolean
vfsec_ctl_hook_args_parse(JsonObject *args, VfsecCtlHookArgs *out, GError **error)
{
    const VfsecCtlIn *in = &vfsec_ctl_in_request;
    const char *kind, *name, *op, *subop, *extra, *xml;
    guint64 timeout_ms;
    int k, o, s;

    if (!vfsec_ctl_get_string(in, args, "args.", "kind", TRUE, &kind, error) ||
        !vfsec_ctl_get_string(in, args, "args.", "name", TRUE, &name, error) ||
        !vfsec_ctl_get_string(in, args, "args.", "op", TRUE, &op, error) ||
        !vfsec_ctl_get_string(in, args, "args.", "subop", TRUE, &subop, error) ||
        !vfsec_ctl_get_string(in, args, "args.", "extra", TRUE, &extra, error) ||
        !vfsec_ctl_get_string(in, args, "args.", "xml", TRUE, &xml, error) ||
        !vfsec_ctl_get_uint(in, args, "args.", "timeout_ms", FALSE, VFSEC_CTL_MAX_TIMEOUT_MS,
                            &timeout_ms, NULL, error))
        return FALSE;
    if ((k = vfsec_hook_kind_from_string(kind)) < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s args.kind is \"%s\", not qemu or network", in->what, kind);
        return FALSE;
    }
    if ((o = vfsec_hook_op_from_string(k, op)) < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s args.op \"%s\" is not an operation of the %s hook", in->what, op, kind);
        return FALSE;
    }
    if ((s = vfsec_hook_subop_from_string(subop)) < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s args.subop is \"%s\", not -, begin or end", in->what, subop);
        return FALSE;
    }
    out->kind = k;
    out->op = o;
    out->subop = s;
    out->name = g_strdup(name);
    out->extra = g_strdup(extra);
    out->xml = g_strdup(xml);
    out->timeout_ms = (guint)timeout_ms;
    return vfsec_ctl_hook_args_check(out, error);
}

/* Fills @req's op-specific fields from @args (never NULL). */
static gboolean
vfsec_ctl_request_args_parse(VfsecCtlRequest *req, JsonObject *args, GError **error)
{
    const VfsecCtlIn *in = &vfsec_ctl_in_request;
    guint64 vf;

    switch (req->op) {
    case VFSEC_CTL_OP_HOOK:
        return vfsec_ctl_hook_args_parse(args, &req->hook, error);
    case VFSEC_CTL_OP_MACS:
        return vfsec_ctl_get_pci(in, args, "port", FALSE, &req->port, &req->has_port, error);
    case VFSEC_CTL_OP_RECLAIM:
        if (!vfsec_ctl_get_pci(in, args, "pf", TRUE, &req->pf, NULL, error) ||
            !vfsec_ctl_get_uint(in, args, "args.", "vf", TRUE, G_MAXUINT32, &vf, NULL, error))
            return FALSE;
        req->vf = (guint32)vf;
        return TRUE;
    default:
        return TRUE;
    }
}

/* A request from its line's root object; *@id as for vfsec_ctl_request_parse(). */
static VfsecCtlRequest *
vfsec_ctl_request_from_json(JsonObject *root, gint64 *id, GError **error)
{
    const VfsecCtlIn *in = &vfsec_ctl_in_request;
    g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(VFSEC_CTL_OP_LAST);
    g_autoptr(JsonObject) empty = json_object_new();
    JsonObject *args;
    const char *op;
    int o;

    /* The id first, so that whatever is wrong next can still be answered. */
    if (!vfsec_ctl_get_uint(in, root, "", "id", TRUE, VFSEC_CTL_MAX_ID, &req->id, NULL, error))
        return NULL;
    *id = (gint64)req->id;
    if (!vfsec_ctl_check_version(in, root, error) ||
        !vfsec_ctl_get_string(in, root, "", "op", TRUE, &op, error) ||
        !vfsec_ctl_get_object(in, root, "args", &args, error))
        return NULL;
    if ((o = vfsec_ctl_op_from_string(op)) < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "%s op \"%s\" is not an operation vfsecd knows", in->what, op);
        return NULL;
    }
    req->op = o;
    if (!vfsec_ctl_request_args_parse(req, args ? args : empty, error))
        return NULL;
    return g_steal_pointer(&req);
}

VfsecCtlRequest *
vfsec_ctl_request_parse(const char *line, gsize len, gint64 *id, GError **error)
{
    g_autoptr(JsonObject) root = NULL;
    gint64 unused;

    if (!id)
        id = &unused;
    *id = -1;
    if (!(root = vfsec_ctl_line_parse(&vfsec_ctl_in_request, line, len, error)))
        return NULL;
    return vfsec_ctl_request_from_json(root, id, error);
}

VfsecCtlReply *
vfsec_ctl_reply_new_ok(guint64 id, JsonObject *result)
{
    VfsecCtlReply *reply = g_new0(VfsecCtlReply, 1);

    reply->id = id;
    reply->ok = TRUE;
    reply->result = result ? json_object_ref(result) : NULL;
    return reply;
}

VfsecCtlReply *
vfsec_ctl_reply_new_error(guint64 id, const GError *err)
{
    VfsecCtlReply *reply = g_new0(VfsecCtlReply, 1);

    reply->id = id;
    reply->ok = FALSE;
    reply->error.code = vfsec_ctl_error_code_from_string(vfsec_ctl_error_code_from_gerror(err));
    reply->error.message = g_strdup(err->message);
    return reply;
}

void
vfsec_ctl_reply_free(VfsecCtlReply *reply)
{
    if (!reply)
        return;
    g_free(reply->error.message);
    if (reply->result)
        json_object_unref(reply->result);
    g_free(reply);
}

static gboolean
vfsec_ctl_reply_values_check(const VfsecCtlIn *in, const VfsecCtlReply *reply, GError **error)
{
    if (reply->id > VFSEC_CTL_MAX_ID) {
        g_set_error(error, VFSEC_ERROR, in->code, "%s id %" G_GUINT64_FORMAT " is more than %"
                    G_GUINT64_FORMAT, in->what, reply->id, VFSEC_CTL_MAX_ID);
        return FALSE;
    }
    if (reply->ok)
        return TRUE;
    if (!vfsec_ctl_error_code_to_string(reply->error.code)) {
        g_set_error(error, VFSEC_ERROR, in->code, "%s error.code %d is out of range", in->what,
                    (int)reply->error.code);
        return FALSE;
    }
    if (!reply->error.message) {
        g_set_error(error, VFSEC_ERROR, in->code, "%s has no error.message", in->what);
        return FALSE;
    }
    return vfsec_ctl_text_check("control reply error.message", reply->error.message,
                                VFSEC_CTL_MAX_MESSAGE, FALSE, in->code, error);
}

/* The members every reply carries in front of the contract's envelope. */
static JsonObject *
vfsec_ctl_reply_members(void)
{
    JsonObject *members = json_object_new();

    json_object_set_int_member(members, "v", VFSEC_CTL_VERSION);
    return members;
}

char *
vfsec_ctl_reply_build(const VfsecCtlReply *reply, gsize *len, GError **error)
{
    static const VfsecCtlIn out = { "control reply", VFSEC_ERROR_INVALID };
    g_autoptr(JsonObject) members = vfsec_ctl_reply_members();

    if (!vfsec_ctl_reply_values_check(&out, reply, error))
        return NULL;
    if (reply->ok)
        return vfsec_contract_reply_build_full(members, reply->id, reply->result,
                                               VFSEC_CTL_MAX_LINE, len, error);
    /* The checks above leave the builder nothing to mend. */
    return vfsec_contract_reply_error_build_full(members, reply->id,
                                                 vfsec_ctl_error_code_to_string(reply->error.code),
                                                 reply->error.message, len);
}

VfsecCtlReply *
vfsec_ctl_reply_parse(const char *line, gsize len, GError **error)
{
    const VfsecCtlIn *in = &vfsec_ctl_in_reply;
    g_autoptr(VfsecCtlReply) reply = g_new0(VfsecCtlReply, 1);
    g_auto(VfsecContractReplyEnvelope) env = { 0 };
    g_autoptr(JsonObject) root = NULL;
    int code;

    if (!(root = vfsec_ctl_line_parse(in, line, len, error)) ||
        !vfsec_ctl_check_version(in, root, error) ||
        !vfsec_contract_reply_envelope_read(root, in->what, VFSEC_CTL_MAX_ID, &env, error))
        return NULL;
    reply->id = env.id;
    reply->ok = env.ok;
    if (reply->ok) {
        reply->result = g_steal_pointer(&env.result);
        return g_steal_pointer(&reply);
    }
    /* A code this side does not know yet is still a failure. */
    code = vfsec_ctl_error_code_from_string(env.error_code);
    reply->error.code = code < 0 ? VFSEC_ERROR_FAILED : (VfsecErrorCode)code;
    reply->error.message = g_steal_pointer(&env.error_message);
    if (!vfsec_ctl_reply_values_check(in, reply, error))
        return NULL;
    return g_steal_pointer(&reply);
}

gboolean
vfsec_ctl_reply_check(const VfsecCtlReply *reply, GError **error)
{
    if (reply->ok)
        return TRUE;
    g_set_error_literal(error, VFSEC_ERROR, reply->error.code, reply->error.message);
    return FALSE;
}

/* VfsecJsonlParseFunc of vfsec_ctl_server_new(). */
static gpointer
vfsec_ctl_server_parse(JsonObject *request, gint64 *id, GError **error)
{
    return vfsec_ctl_request_from_json(request, id, error);
}

VfsecJsonlServer *
vfsec_ctl_server_new(const VfsecJsonlServerConfig *config)
{
    g_autoptr(JsonObject) members = vfsec_ctl_reply_members();
    VfsecJsonlServerConfig ctl = *config;

    ctl.contract = FALSE;
    ctl.max_line = VFSEC_CTL_MAX_LINE;
    ctl.max_depth = VFSEC_CTL_MAX_DEPTH;
    ctl.parse = vfsec_ctl_server_parse;
    ctl.parsed_free = (GDestroyNotify)vfsec_ctl_request_free;
    ctl.reply_members = members;
    ctl.error_code = vfsec_ctl_error_code_from_gerror;
    return vfsec_jsonl_server_new(&ctl);
}

const VfsecCtlRequest *
vfsec_ctl_call_get_request(VfsecJsonlCall *call)
{
    return vfsec_jsonl_call_get_parsed(call);
}

/* Milliseconds left until @deadline, rounded up; 0 when it has passed. */
static int
vfsec_ctl_ms_left(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();

    if (left <= 0)
        return 0;
    return (int)MIN((left + 999) / 1000, G_MAXINT);
}

int
vfsec_ctl_connect(const char *path, gint64 deadline)
{
    return vfsec_hook_connect(path, deadline - g_get_monotonic_time());
}

struct _VfsecCtlClient {
    int fd;
    char *path;
    VfsecContractFramer *framer;  /* the PF-driver contract's line splitter */
    guint64 next_id;
    gboolean broken;
};

VfsecCtlClient *
vfsec_ctl_client_new(int fd, const char *path)
{
    VfsecCtlClient *client = g_new0(VfsecCtlClient, 1);

    client->fd = fd;
    client->path = g_strdup(path);
    client->framer = vfsec_contract_framer_new(VFSEC_CTL_MAX_LINE);
    client->next_id = 1;
    return client;
}

void
vfsec_ctl_client_free(VfsecCtlClient *client)
{
    if (!client)
        return;
    if (client->fd >= 0)
        close(client->fd);
    g_free(client->path);
    vfsec_contract_framer_free(client->framer);
    g_free(client);
}

/* Waits for @events on the client's socket until @deadline. */
static gboolean
vfsec_ctl_client_wait(VfsecCtlClient *client, short events, guint64 id, gint64 deadline,
                      GError **error)
{
    for (;;) {
        struct pollfd pfd = { .fd = client->fd, .events = events };
        int ms = vfsec_ctl_ms_left(deadline);
        int rc;

        if (ms == 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT,
                        "vfsecd at %s did not answer control request %" G_GUINT64_FORMAT
                        " in time", client->path, id);
            return FALSE;
        }
        rc = poll(&pfd, 1, ms);
        if (rc > 0)
            return TRUE;
        if (rc < 0 && errno != EINTR) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "poll on the socket to %s: %s",
                        client->path, g_strerror(errno));
            return FALSE;
        }
    }
}

static gboolean
vfsec_ctl_client_send(VfsecCtlClient *client, const char *data, gsize len, guint64 id,
                      gint64 deadline, GError **error)
{
    gsize off = 0;

    while (off < len) {
        ssize_t n = send(client->fd, data + off, len - off, MSG_NOSIGNAL);

        if (n >= 0) {
            off += (gsize)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO,
                        "sending control request %" G_GUINT64_FORMAT " to vfsecd at %s: %s",
                        id, client->path, g_strerror(errno));
            return FALSE;
        }
        if (!vfsec_ctl_client_wait(client, POLLOUT, id, deadline, error))
            return FALSE;
    }
    return TRUE;
}

/* The next line from vfsecd, without its newline. */
static char *
vfsec_ctl_client_read_line(VfsecCtlClient *client, guint64 id, gint64 deadline, gsize *len,
                           GError **error)
{
    for (;;) {
        guint8 chunk[65536];
        char *line = vfsec_contract_framer_pop(client->framer, len);
        ssize_t n;

        if (line)
            return line;
        n = recv(client->fd, chunk, sizeof(chunk), 0);
        if (n > 0) {
            if (!vfsec_contract_framer_feed(client->framer, chunk, (gsize)n, NULL)) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                            "vfsecd at %s sent a line longer than %" G_GSIZE_FORMAT " bytes",
                            client->path, VFSEC_CTL_MAX_LINE);
                return NULL;
            }
            continue;
        }
        if (n == 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                        "vfsecd at %s closed the connection without answering control request %"
                        G_GUINT64_FORMAT, client->path, id);
            return NULL;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO,
                        "receiving the answer to control request %" G_GUINT64_FORMAT
                        " from vfsecd at %s: %s", id, client->path, g_strerror(errno));
            return NULL;
        }
        if (!vfsec_ctl_client_wait(client, POLLIN, id, deadline, error))
            return NULL;
    }
}

static VfsecCtlReply *
vfsec_ctl_client_exchange(VfsecCtlClient *client, const VfsecCtlRequest *req,
                          const char *out, gsize out_len, gint64 deadline, GError **error)
{
    g_autofree char *line = NULL;
    gsize len;

    if (!vfsec_ctl_client_send(client, out, out_len, req->id, deadline, error) ||
        !(line = vfsec_ctl_client_read_line(client, req->id, deadline, &len, error)))
        return NULL;
    return vfsec_ctl_reply_from_line(client->path, req->id, line, len, error);
}

VfsecCtlReply *
vfsec_ctl_reply_from_line(const char *path, guint64 id, const char *line, gsize len,
                          GError **error)
{
    g_autoptr(VfsecCtlReply) reply = NULL;
    g_autoptr(GError) local = NULL;

    if (!(reply = vfsec_ctl_reply_parse(line, len, &local))) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL, "vfsecd at %s: %s", path,
                    local->message);
        return NULL;
    }
    if (reply->id != id) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "vfsecd at %s answered control request %" G_GUINT64_FORMAT
                    " with id %" G_GUINT64_FORMAT, path, id, reply->id);
        return NULL;
    }
    return g_steal_pointer(&reply);
}

VfsecCtlReply *
vfsec_ctl_client_call(VfsecCtlClient *client, VfsecCtlRequest *req, gint64 deadline,
                      GError **error)
{
    g_autofree char *out = NULL;
    VfsecCtlReply *reply;
    gsize len;

    if (client->broken) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO,
                    "the connection to vfsecd at %s failed earlier", client->path);
        return NULL;
    }
    req->id = client->next_id++;
    if (!(out = vfsec_ctl_request_build(req, &len, error)))
        return NULL;
    reply = vfsec_ctl_client_exchange(client, req, out, len, deadline, error);
    /* After a timeout or a bad line the stream position is unknown. */
    client->broken = reply == NULL;
    return reply;
}
