/* vfsec-nicsim-control.c: the emulator's control socket — the VF mailbox,
 * state dumps, resets, fault injection and frame injection (docs/nicsim.md). */
#include "vfsec-nicsim-private.h"

#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "vfsec-config.h"
#include "vfsec-contract.h"
#include "vfsec-error.h"

/*
 * The control socket speaks the contract's envelope (JSON lines: {"id", "op",
 * "args"} in, {"id", "ok", "result"|"error"} out) with the emulator's own ops.
 * It is what a VF driver, a test or a demo would do to the emulated NIC and
 * what cannot go through the PF-driver contract: VF mailbox requests (the
 * xdo_dev_state_add flow: a VF asks the PF to offload an SA), resets, faults
 * on the agent-reply path, injected frames. Every member is checked for type
 * and range; an error names the op and the member.
 */

/* Most SAs one vf-add-sa request may add (SPIs spi .. spi + count - 1). */
#define CONTROL_MAX_COUNT 65536
/* SAs of one request handed to the PF driver at a time. It runs a domain's
 * mailbox requests one after the other anyway, and its per-request timeout
 * counts time spent queued: thousands queued at once would expire there. */
#define CONTROL_ADD_WINDOW 32

/* ---- Reading arguments ---- */

static JsonNode *
ctl_member(JsonObject *args, const char *name)
{
    return args ? json_object_get_member(args, name) : NULL;
}

static gboolean
ctl_uint(JsonObject *args, const char *op, const char *name, guint64 max, gboolean required,
         guint64 *out, GError **error)
{
    JsonNode *node = ctl_member(args, name);
    gint64 v;

    if (!node || JSON_NODE_HOLDS_NULL(node)) {
        if (!required)
            return TRUE;
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: %s is required", op, name);
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
        (v = json_node_get_int(node)) < 0 || (guint64)v > max) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: %s must be a whole number between 0 and %" G_GUINT64_FORMAT, op, name,
                    max);
        return FALSE;
    }
    *out = (guint64)v;
    return TRUE;
}

/* A string member; *out stays NULL when it is absent and not @required. */
static gboolean
ctl_string(JsonObject *args, const char *op, const char *name, gboolean required,
           const char **out, GError **error)
{
    JsonNode *node = ctl_member(args, name);

    *out = NULL;
    if (!node || JSON_NODE_HOLDS_NULL(node)) {
        if (!required)
            return TRUE;
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: %s is required", op, name);
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: %s must be a string", op,
                    name);
        return FALSE;
    }
    *out = json_node_get_string(node);
    return TRUE;
}

static JsonObject *
ctl_object(JsonObject *args, const char *op, const char *name, GError **error)
{
    JsonNode *node = ctl_member(args, name);

    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: %s must be an object", op,
                    name);
        return NULL;
    }
    return json_node_get_object(node);
}

/* Bytes from an even-length hex string. */
static GByteArray *
ctl_hex(const char *op, const char *name, const char *hex, gsize max, GError **error)
{
    gsize len = strlen(hex);
    g_autoptr(GByteArray) bytes = NULL;

    if (len % 2 || len / 2 > max) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: %s must be an even number of hex digits, at most %zu bytes", op, name,
                    max);
        return NULL;
    }
    bytes = g_byte_array_sized_new((guint)(len / 2));
    for (gsize i = 0; i < len; i += 2) {
        int hi = g_ascii_xdigit_value(hex[i]);
        int lo = g_ascii_xdigit_value(hex[i + 1]);
        guint8 b;

        if (hi < 0 || lo < 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: %s has a non-hex character at offset %zu", op, name, i);
            return NULL;
        }
        b = (guint8)(hi << 4 | lo);
        g_byte_array_append(bytes, &b, 1);
    }
    return g_steal_pointer(&bytes);
}

static char *
ctl_to_hex(const guint8 *data, gsize len)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = g_malloc(len * 2 + 1);

    for (gsize i = 0; i < len; i++) {
        hex[2 * i] = digits[data[i] >> 4];
        hex[2 * i + 1] = digits[data[i] & 0xf];
    }
    hex[len * 2] = '\0';
    return hex;
}

/* ---- Replies ---- */

static void
ctl_fail(VfsecJsonlCall *call, GError *error)
{
    vfsec_jsonl_call_return_error(call, error);
    g_error_free(error);
}

static void
ctl_reply(VfsecJsonlCall *call, JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    vfsec_jsonl_call_return_result(call, json_node_get_object(root));
}

static void
ctl_add_uint(JsonBuilder *b, const char *name, guint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)MIN(value, (guint64)G_MAXINT64));
}

static void
ctl_add_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

static void
ctl_add_mac(JsonBuilder *b, const char *name, const VfsecMac *mac)
{
    char buf[VFSEC_MAC_STRLEN];

    ctl_add_string(b, name, vfsec_mac_format(mac, buf));
}

static void
ctl_add_vlans(JsonBuilder *b, guint n_tags, const VfsecWireVlan *tags)
{
    json_builder_set_member_name(b, "vlans");
    json_builder_begin_array(b);
    for (guint i = 0; i < n_tags && i < VFSEC_WIRE_MAX_TAGS; i++) {
        json_builder_begin_object(b);
        ctl_add_uint(b, "tpid", tags[i].tpid);
        ctl_add_uint(b, "vid", VFSEC_WIRE_TCI_VID(tags[i].tci));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void
ctl_add_key(JsonBuilder *b, const VfsecWireSaKey *key)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    json_builder_set_member_name(b, "key");
    json_builder_begin_object(b);
    inet_ntop(key->family == 4 ? AF_INET : AF_INET6, key->dst, ip, sizeof(ip));
    ctl_add_string(b, "dst", ip);
    ctl_add_string(b, "proto", key->proto == VFSEC_WIRE_PROTO_AH ? "ah" : "esp");
    ctl_add_uint(b, "spi", key->spi);
    ctl_add_mac(b, "mac", &key->mac);
    ctl_add_vlans(b, key->n_tags, key->tags);
    json_builder_end_object(b);
}

/* ---- Common argument shapes ---- */

static VfsecNicsimPort *
ctl_port(VfsecJsonlCall *call, VfsecNicsim *sim, gboolean required)
{
    JsonObject *args = vfsec_jsonl_call_get_args(call);
    const char *op = vfsec_jsonl_call_get_op(call);
    GError *error = NULL;
    guint64 index = 0;
    VfsecNicsimPort *port;

    if (!ctl_uint(args, op, "port", G_MAXUINT32, required, &index, &error)) {
        ctl_fail(call, error);
        return NULL;
    }
    port = vfsec_nicsim_get_port(sim, (guint)index, &error);
    if (!port)
        ctl_fail(call, error);
    return port;
}

/* The "vf" member, checked against the port. */
static gboolean
ctl_vf(VfsecNicsimPort *port, JsonObject *args, const char *op, gboolean required, guint *vf,
       gboolean *present, GError **error)
{
    guint64 v = G_MAXUINT64;

    if (!ctl_uint(args, op, "vf", G_MAXUINT32, required, &v, error))
        return FALSE;
    if (present)
        *present = v != G_MAXUINT64;
    if (v == G_MAXUINT64)
        return TRUE;
    if (v >= port->sim->config.n_vfs) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "VF %" G_GUINT64_FORMAT
                    " of port %u does not exist", v, port->index);
        return FALSE;
    }
    *vf = (guint)v;
    return TRUE;
}

/* The scope of a fault or gate: {"vf": N}, {"pf": true}, or the whole port. */
static gboolean
ctl_scope(VfsecNicsimPort *port, JsonObject *args, const char *op, guint *scope, GError **error)
{
    JsonNode *pf = ctl_member(args, "pf");
    gboolean has_vf = FALSE;
    guint vf = 0;

    if (!ctl_vf(port, args, op, FALSE, &vf, &has_vf, error))
        return FALSE;
    if (pf && (!JSON_NODE_HOLDS_VALUE(pf) || json_node_get_value_type(pf) != G_TYPE_BOOLEAN)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: pf must be true or false", op);
        return FALSE;
    }
    if (has_vf && pf && json_node_get_boolean(pf)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: give vf or pf, not both", op);
        return FALSE;
    }
    *scope = has_vf ? vf : (pf && json_node_get_boolean(pf)) ? VFSEC_PFDRV_PF : VFSEC_PFDRV_PORT;
    return TRUE;
}

/* The key members of @obj (dst, proto, spi, mac, vlans); @fn's MAC and port
 * VLAN fill what is absent. */
static gboolean
ctl_key(VfsecNicsimPort *port, int fn, JsonObject *obj, const char *op, VfsecWireSaKey *key,
        GError **error)
{
    const VfsecSwitchFn *state = vfsec_switch_get_fn(vfsec_nicport_switch(port->core), fn);
    const char *dst = NULL;
    const char *proto = NULL;
    const char *mac = NULL;
    JsonNode *vlans = ctl_member(obj, "vlans");
    guint64 spi = 0;

    memset(key, 0, sizeof(*key));
    if (!ctl_string(obj, op, "dst", TRUE, &dst, error) ||
        !vfsec_wire_ip_parse(dst, &key->family, key->dst, error) ||
        !ctl_string(obj, op, "proto", FALSE, &proto, error) ||
        !ctl_uint(obj, op, "spi", G_MAXUINT32, TRUE, &spi, error) ||
        !ctl_string(obj, op, "mac", FALSE, &mac, error))
        return FALSE;
    if (spi == 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: spi 0 is reserved", op);
        return FALSE;
    }
    key->spi = (guint32)spi;
    if (!proto || g_str_equal(proto, "esp")) {
        key->proto = VFSEC_WIRE_PROTO_ESP;
    } else if (g_str_equal(proto, "ah")) {
        key->proto = VFSEC_WIRE_PROTO_AH;
    } else {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: proto '%s' is not esp or ah",
                    op, proto);
        return FALSE;
    }
    if (mac && !vfsec_mac_parse(mac, &key->mac, error))
        return FALSE;
    if (!mac)
        key->mac = state->mac;
    if (!vlans) {
        /* The function's VLAN context: a port VLAN the agent sees outermost.
         * The quarantine tag (the metadata bypass tag) is not one: the agent
         * strips it, and the VF's Rx frames from the wire never carry it. */
        if (state->has_port_tag && state->port_tag.vid != port->sim->config.tags.md_base) {
            key->n_tags = 1;
            key->tags[0].tpid = state->port_tag.tpid;
            key->tags[0].tci = vfsec_wire_tci(0, FALSE, state->port_tag.vid);
        }
        vfsec_wire_sa_key_normalize(key);
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_ARRAY(vlans) ||
        json_array_get_length(json_node_get_array(vlans)) > VFSEC_WIRE_MAX_TAGS) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: vlans must be an array of at most %d {tpid, vid} objects", op,
                    VFSEC_WIRE_MAX_TAGS);
        return FALSE;
    }
    for (guint i = 0; i < json_array_get_length(json_node_get_array(vlans)); i++) {
        JsonNode *tag = json_array_get_element(json_node_get_array(vlans), i);
        JsonObject *t = JSON_NODE_HOLDS_OBJECT(tag) ? json_node_get_object(tag) : NULL;
        guint64 tpid = 0;
        guint64 vid = 0;

        if (!t || !ctl_uint(t, op, "tpid", G_MAXUINT16, TRUE, &tpid, error) ||
            !ctl_uint(t, op, "vid", 4095, TRUE, &vid, error))
            return FALSE;
        if (tpid != VFSEC_WIRE_TPID_8021Q && tpid != VFSEC_WIRE_TPID_8021AD) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: vlans tpid 0x%04x is neither 0x8100 nor 0x88a8", op, (guint)tpid);
            return FALSE;
        }
        key->tags[i].tpid = (guint16)tpid;
        key->tags[i].tci = vfsec_wire_tci(0, FALSE, (guint16)vid);
        key->n_tags = (guint8)(i + 1);
    }
    vfsec_wire_sa_key_normalize(key);
    return TRUE;
}

/* An ADD_SA from the "sa" object of a request. */
static gboolean
ctl_add_sa_parse(VfsecNicsimPort *port, int fn, JsonObject *obj, const char *op,
                 VfsecWireAddSa *sa, GError **error)
{
    const char *dir = NULL;
    const char *alg = NULL;
    const char *key = NULL;
    const char *src = NULL;
    g_autoptr(GByteArray) key_bytes = NULL;
    guint64 salt = 0;
    guint64 window = 0;
    guint8 family = 0;

    memset(sa, 0, sizeof(*sa));
    if (!ctl_key(port, fn, obj, op, &sa->key, error) ||
        !ctl_string(obj, op, "dir", TRUE, &dir, error) ||
        !ctl_string(obj, op, "alg", FALSE, &alg, error) ||
        !ctl_string(obj, op, "key", TRUE, &key, error) ||
        !ctl_string(obj, op, "src", FALSE, &src, error) ||
        !ctl_uint(obj, op, "salt", G_MAXUINT32, FALSE, &salt, error))
        return FALSE;
    if (g_str_equal(dir, "in")) {
        sa->dir = VFSEC_WIRE_DIR_IN;
        window = 64;
    } else if (g_str_equal(dir, "out")) {
        sa->dir = VFSEC_WIRE_DIR_OUT;
    } else {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: dir '%s' is not in or out",
                    op, dir);
        return FALSE;
    }
    if (!ctl_uint(obj, op, "replay_window", G_MAXUINT32, FALSE, &window, error))
        return FALSE;
    key_bytes = ctl_hex(op, "key", key, VFSEC_WIRE_KEY_MAX, error);
    if (!key_bytes)
        return FALSE;
    if (key_bytes->len != 16 && key_bytes->len != 32) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: key must be 16 or 32 bytes, not %u", op, key_bytes->len);
        return FALSE;
    }
    if (alg && !g_str_equal(alg, key_bytes->len == 16 ? "aes-gcm-128" : "aes-gcm-256")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: alg '%s' does not take a %u-byte key (aes-gcm-128: 16, aes-gcm-256: 32)",
                    op, alg, key_bytes->len);
        return FALSE;
    }
    sa->alg = key_bytes->len == 16 ? VFSEC_WIRE_ALG_AES_GCM_128 : VFSEC_WIRE_ALG_AES_GCM_256;
    sa->key_len = (guint8)key_bytes->len;
    memcpy(sa->key_bytes, key_bytes->data, key_bytes->len);
    memset(key_bytes->data, 0, key_bytes->len);
    sa->mode = VFSEC_WIRE_MODE_TRANSPORT;
    sa->salt = (guint32)salt;
    sa->replay_window = (guint32)window;
    if (src && (!vfsec_wire_ip_parse(src, &family, sa->src, error))) {
        memset(sa, 0, sizeof(*sa));
        return FALSE;
    }
    if (src && family != sa->key.family) {
        memset(sa, 0, sizeof(*sa));
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: src %s is not of the same family as dst", op, src);
        return FALSE;
    }
    return TRUE;
}

/* ---- Mailbox ---- */

/* Who a mailbox request is for: the port, the function (a VF, or the PF for
 * the pf- ops) and its SAD domain at the PF driver. */
typedef struct {
    VfsecNicsimPort *port;
    int fn;
    guint domain;
    JsonObject *obj;        /* the op's "sa" or "key" member (borrowed) */
} CtlMailbox;

/* Reads port, vf (not for the PF) and the object member @member; FALSE after
 * an error reply. */
static gboolean
ctl_mailbox(VfsecJsonlCall *call, VfsecNicsim *sim, gboolean pf, const char *member,
            CtlMailbox *mb)
{
    JsonObject *args = vfsec_jsonl_call_get_args(call);
    const char *op = vfsec_jsonl_call_get_op(call);
    GError *error = NULL;
    guint vf = 0;

    mb->port = ctl_port(call, sim, TRUE);
    if (!mb->port)
        return FALSE;
    if ((!pf && !ctl_vf(mb->port, args, op, TRUE, &vf, NULL, &error)) ||
        !(mb->obj = ctl_object(args, op, member, &error))) {
        ctl_fail(call, error);
        return FALSE;
    }
    mb->fn = pf ? VFSEC_FN_PF : (int)vf;
    mb->domain = pf ? VFSEC_PFDRV_PF : vf;
    return TRUE;
}

/* One vf-add-sa / pf-add-sa request: its SAs go to the PF driver a window at
 * a time (the driver serialises them per domain); the reply waits for the
 * last. */
typedef struct {
    VfsecJsonlCall *call;
    VfsecNicsimPort *port;
    VfsecPfdrv *pfdrv;
    int fn;
    guint domain;
    VfsecWireAddSa sa;     /* the template; secret: zeroed when done */
    guint count;
    guint started;
    guint done;
    GArray *indexes;       /* guint32, in completion order */
    GError *error;         /* the first failure */
} CtlAddSa;

static void
ctl_add_sa_free(CtlAddSa *a)
{
    memset(&a->sa, 0, sizeof(a->sa));
    g_array_unref(a->indexes);
    g_clear_error(&a->error);
    g_free(a);
}

/* One SA of a CtlAddSa in flight. */
typedef struct {
    CtlAddSa *add;
    guint32 spi;
} CtlAddSaOne;

static void ctl_add_sa_done(GObject *source, GAsyncResult *result, gpointer user_data);

/* Hands the next SA of @a (SPI: the template's + its position) to the PF. */
static void
ctl_add_sa_next(CtlAddSa *a)
{
    VfsecWireAddSa sa = a->sa;
    CtlAddSaOne *one = g_new0(CtlAddSaOne, 1);

    one->add = a;
    one->spi = sa.key.spi = a->sa.key.spi + a->started++;
    vfsec_pfdrv_vf_add_sa_async(a->pfdrv, a->domain, &sa, NULL, ctl_add_sa_done, one);
    memset(&sa, 0, sizeof(sa));
}

static void
ctl_add_sa_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree CtlAddSaOne *one = user_data;
    CtlAddSa *a = one->add;
    GError *error = NULL;
    guint32 index = 0;
    guint32 spi = one->spi;

    if (vfsec_pfdrv_vf_add_sa_finish(a->pfdrv, result, &index, &error)) {
        g_array_append_val(a->indexes, index);
        if (a->sa.dir == VFSEC_WIRE_DIR_OUT && !a->port->closing) {
            VfsecWireAddSa sa = a->sa;

            sa.key.spi = spi;
            /* The VF's driver keeps its own outbound SAs for the Tx path. */
            if (!vfsec_nicport_driver_add_sa(a->port->core, a->fn, &sa, &error)) {
                g_debug("%s: %s", a->port->name, error->message);
                g_clear_error(&error);
            }
            memset(&sa, 0, sizeof(sa));
        }
    } else if (!a->error) {
        a->error = error;
    } else {
        g_error_free(error);
    }
    a->done++;
    if (a->port->closing && a->started < a->count) {
        /* The PF driver is going away: what it was not given never will be. */
        if (!a->error)
            a->error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_FAILED,
                                   "port %s stopped before its SAs were all added", a->port->name);
        a->done += a->count - a->started;
        a->started = a->count;
    }
    if (a->done < a->count) {
        if (a->started < a->count)
            ctl_add_sa_next(a);
        return;
    }
    if (a->error) {
        vfsec_jsonl_call_return_error(a->call, a->error);
    } else {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        ctl_add_uint(b, "added", a->indexes->len);
        json_builder_set_member_name(b, "sa_indexes");
        json_builder_begin_array(b);
        for (guint i = 0; i < a->indexes->len; i++)
            json_builder_add_int_value(b, g_array_index(a->indexes, guint32, i));
        json_builder_end_array(b);
        json_builder_end_object(b);
        ctl_reply(a->call, b);
    }
    ctl_add_sa_free(a);
}

static void
ctl_add_sa(VfsecJsonlCall *call, VfsecNicsim *sim, gboolean pf)
{
    const char *op = vfsec_jsonl_call_get_op(call);
    GError *error = NULL;
    CtlMailbox mb;
    CtlAddSa *a;
    guint64 count = 1;

    if (!ctl_mailbox(call, sim, pf, "sa", &mb))
        return;
    if (!ctl_uint(vfsec_jsonl_call_get_args(call), op, "count", CONTROL_MAX_COUNT, FALSE, &count,
                  &error)) {
        ctl_fail(call, error);
        return;
    }
    a = g_new0(CtlAddSa, 1);
    a->call = call;
    a->port = mb.port;
    a->pfdrv = mb.port->pfdrv;
    a->fn = mb.fn;
    a->domain = mb.domain;
    a->indexes = g_array_new(FALSE, FALSE, sizeof(guint32));
    if (!ctl_add_sa_parse(mb.port, a->fn, mb.obj, op, &a->sa, &error) || count == 0 ||
        (guint64)a->sa.key.spi + count - 1 > G_MAXUINT32) {
        if (!error)
            error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                "%s: count %" G_GUINT64_FORMAT " must be 1 or more and keep "
                                "every SPI below 2^32", op, count);
        ctl_fail(call, error);
        ctl_add_sa_free(a);
        return;
    }
    a->count = (guint)count;
    while (a->started < MIN(a->count, CONTROL_ADD_WINDOW))
        ctl_add_sa_next(a);
}

static void
ctl_vf_add_sa(VfsecJsonlCall *call, gpointer user_data)
{
    ctl_add_sa(call, user_data, FALSE);
}

static void
ctl_pf_add_sa(VfsecJsonlCall *call, gpointer user_data)
{
    ctl_add_sa(call, user_data, TRUE);
}

typedef struct {
    VfsecJsonlCall *call;
    VfsecNicsimPort *port;
    VfsecPfdrv *pfdrv;
    int fn;
    VfsecWireSaKey key;
} CtlRemoveSa;

static void
ctl_remove_sa_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree CtlRemoveSa *r = user_data;
    GError *error = NULL;
    g_autoptr(JsonBuilder) b = NULL;

    if (!vfsec_pfdrv_vf_remove_sa_finish(r->pfdrv, result, &error)) {
        ctl_fail(r->call, error);
        return;
    }
    if (!r->port->closing)
        vfsec_nicport_driver_remove_sa(r->port->core, r->fn, &r->key);
    b = json_builder_new();
    json_builder_begin_object(b);
    ctl_add_uint(b, "removed", 1);
    json_builder_end_object(b);
    ctl_reply(r->call, b);
}

static void
ctl_remove_sa(VfsecJsonlCall *call, VfsecNicsim *sim, gboolean pf)
{
    GError *error = NULL;
    CtlMailbox mb;
    CtlRemoveSa *r;

    if (!ctl_mailbox(call, sim, pf, "key", &mb))
        return;
    r = g_new0(CtlRemoveSa, 1);
    r->call = call;
    r->port = mb.port;
    r->pfdrv = mb.port->pfdrv;
    r->fn = mb.fn;
    if (!ctl_key(mb.port, r->fn, mb.obj, vfsec_jsonl_call_get_op(call), &r->key, &error)) {
        ctl_fail(call, error);
        g_free(r);
        return;
    }
    vfsec_pfdrv_vf_remove_sa_async(mb.port->pfdrv, mb.domain, &r->key, NULL, ctl_remove_sa_done,
                                   r);
}

static void
ctl_vf_remove_sa(VfsecJsonlCall *call, gpointer user_data)
{
    ctl_remove_sa(call, user_data, FALSE);
}

static void
ctl_pf_remove_sa(VfsecJsonlCall *call, gpointer user_data)
{
    ctl_remove_sa(call, user_data, TRUE);
}

/* ---- Dumps ---- */

static const char *
ctl_dir_string(VfsecWireDir dir)
{
    return dir == VFSEC_WIRE_DIR_IN ? "in" : "out";
}

static void
ctl_sad_dump(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(GArray) sad = NULL;
    VfsecWireQueryInfo info;

    if (!port)
        return;
    vfsec_agent_query(vfsec_nicport_agent(port->core), &info);
    sad = vfsec_agent_sad_dump(vfsec_nicport_agent(port->core));
    b = json_builder_new();
    json_builder_begin_object(b);
    ctl_add_uint(b, "capacity", info.capacity);
    ctl_add_uint(b, "count", sad->len);
    json_builder_set_member_name(b, "sas");
    json_builder_begin_array(b);
    for (guint i = 0; i < sad->len; i++) {
        const VfsecAgentSaInfo *sa = &g_array_index(sad, VfsecAgentSaInfo, i);

        json_builder_begin_object(b);
        ctl_add_uint(b, "index", sa->index);
        ctl_add_string(b, "dir", ctl_dir_string(sa->dir));
        ctl_add_string(b, "alg", sa->alg == VFSEC_WIRE_ALG_AES_GCM_256 ? "aes-gcm-256"
                                                                       : "aes-gcm-128");
        ctl_add_key(b, &sa->key);
        ctl_add_uint(b, "replay_window", sa->replay_window);
        ctl_add_uint(b, "seq", sa->seq);
        ctl_add_uint(b, "packets", sa->packets);
        ctl_add_uint(b, "bytes", sa->bytes);
        ctl_add_uint(b, "errors", sa->errors);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    ctl_reply(call, b);
}

/* When the port last acted, on the clock of g_get_monotonic_time()
 * (CLOCK_MONOTONIC, µs; 0: never), so that a benchmark dates an action
 * (quarantine applied, MAC published, last SA removed) against the event
 * that caused it, as seen by its own process. Cheap: no SAD walk. */
static void
ctl_times(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);
    g_autoptr(JsonBuilder) b = NULL;
    const VfsecAgent *agent;
    const VfsecAgentTimes *times;
    VfsecSwitch *sw;

    if (!port)
        return;
    agent = vfsec_nicport_agent(port->core);
    times = vfsec_agent_times(agent);
    sw = vfsec_nicport_switch(port->core);
    b = json_builder_new();
    json_builder_begin_object(b);
    ctl_add_uint(b, "now_us", (guint64)g_get_monotonic_time());
    ctl_add_uint(b, "sas", vfsec_agent_sa_count(agent));
    ctl_add_uint(b, "sa_removed_us", (guint64)times->sa_removed_us);
    ctl_add_uint(b, "macs_changed_us", (guint64)times->macs_changed_us);
    json_builder_set_member_name(b, "functions");
    json_builder_begin_array(b);
    for (int fn = VFSEC_FN_PF; fn < (int)port->sim->config.n_vfs; fn++) {
        g_autofree char *name = vfsec_nicsim_io_endpoint_name(fn);

        json_builder_begin_object(b);
        ctl_add_string(b, "fn", name);
        ctl_add_uint(b, "changed_us", (guint64)vfsec_switch_fn_changed_us(sw, fn));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    ctl_reply(call, b);
}

static void
ctl_db_dump(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(GArray) sas = NULL;

    if (!port)
        return;
    sas = vfsec_pfdrv_list_sas(port->pfdrv, VFSEC_PFDRV_PORT);
    b = json_builder_new();
    json_builder_begin_object(b);
    ctl_add_uint(b, "count", sas->len);
    json_builder_set_member_name(b, "sas");
    json_builder_begin_array(b);
    for (guint i = 0; i < sas->len; i++) {
        const VfsecPfdrvSa *sa = &g_array_index(sas, VfsecPfdrvSa, i);
        g_autofree char *domain = vfsec_nicsim_io_endpoint_name(
            sa->domain == VFSEC_PFDRV_PF ? VFSEC_FN_PF : (int)sa->domain);

        json_builder_begin_object(b);
        ctl_add_string(b, "domain", domain);
        ctl_add_uint(b, "sa_index", sa->sa_index);
        ctl_add_string(b, "dir", ctl_dir_string(sa->dir));
        ctl_add_key(b, &sa->key);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    ctl_reply(call, b);
}

static void
ctl_macs(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);
    VfsecSwitch *sw;
    g_autoptr(JsonBuilder) b = NULL;
    const GArray *table;
    guint32 generation = 0;

    if (!port)
        return;
    sw = vfsec_nicport_switch(port->core);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "functions");
    json_builder_begin_array(b);
    for (int fn = VFSEC_FN_PF; fn < (int)port->sim->config.n_vfs; fn++) {
        const VfsecSwitchFn *state = vfsec_switch_get_fn(sw, fn);
        g_autofree char *name = vfsec_nicsim_io_endpoint_name(fn);

        json_builder_begin_object(b);
        ctl_add_string(b, "fn", name);
        if (state->has_mac)
            ctl_add_mac(b, "mac", &state->mac);
        if (fn >= 0 && port->vfs[fn])
            ctl_add_string(b, "netdev", port->vfs[fn]->name);
        else if (fn == VFSEC_FN_PF)
            ctl_add_string(b, "netdev", port->pf->name);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    table = vfsec_agent_mac_table(vfsec_nicport_agent(port->core), &generation);
    json_builder_set_member_name(b, "local");
    json_builder_begin_object(b);
    ctl_add_uint(b, "generation", generation);
    json_builder_set_member_name(b, "entries");
    json_builder_begin_array(b);
    for (guint i = 0; table && i < table->len; i++) {
        const VfsecWireMacEntry *e = &g_array_index(table, VfsecWireMacEntry, i);

        json_builder_begin_object(b);
        ctl_add_mac(b, "mac", &e->mac);
        ctl_add_vlans(b, e->n_tags, e->tags);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    ctl_reply(call, b);
}

static void
ctl_counter_add(const char *name, guint64 value, gpointer user_data)
{
    ctl_add_uint(user_data, name, value);
}

static void
ctl_counters(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsimPort *port = ctl_port(call, user_data, FALSE);
    g_autoptr(JsonBuilder) b = NULL;

    if (!port)
        return;
    b = json_builder_new();
    json_builder_begin_object(b);
    ctl_add_uint(b, "port", port->index);
    json_builder_set_member_name(b, "counters");
    json_builder_begin_object(b);
    vfsec_nicsim_port_counters_foreach(port, ctl_counter_add, b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    ctl_reply(call, b);
}

static void
ctl_status(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const VfsecNicsimConfig *c = &sim->config;
    GPtrArray *links = vfsec_nicsim_links_get_all(sim->links);
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    ctl_add_string(b, "version", VFSEC_VERSION);
    ctl_add_uint(b, "pid", (guint64)getpid());
    ctl_add_string(b, "prefix", c->prefix);
    ctl_add_uint(b, "ports", c->n_ports);
    ctl_add_uint(b, "vfs", c->n_vfs);
    ctl_add_string(b, "nic_netns", c->nic_netns);
    if (c->host_netns)
        ctl_add_string(b, "netns", c->host_netns);
    ctl_add_string(b, "wire_netns", c->wire_netns);
    ctl_add_string(b, "contract_socket", c->contract_socket);
    ctl_add_string(b, "control_socket", c->control_socket);
    json_builder_set_member_name(b, "links");
    json_builder_begin_array(b);
    for (guint i = 0; i < links->len; i++) {
        const VfsecNicsimLink *l = g_ptr_array_index(links, i);

        json_builder_begin_object(b);
        ctl_add_string(b, "name", l->name);
        ctl_add_string(b, "kind", vfsec_nicsim_link_kind_to_string(l->kind));
        ctl_add_uint(b, "port", l->port);
        if (l->kind == VFSEC_NICSIM_LINK_VF)
            ctl_add_uint(b, "vf", l->vf);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    ctl_reply(call, b);
}

/* ---- Resets, faults, modes ---- */

static void
ctl_reply_empty(VfsecJsonlCall *call)
{
    vfsec_jsonl_call_return_result(call, NULL);
}

static void
ctl_vf_reset(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);
    GError *error = NULL;
    guint vf = 0;

    if (!port)
        return;
    if (!ctl_vf(port, vfsec_jsonl_call_get_args(call), "vf-reset", TRUE, &vf, NULL, &error)) {
        ctl_fail(call, error);
        return;
    }
    vfsec_nicsim_vf_reset(port, vf);
    ctl_reply_empty(call);
}

static void
ctl_agent_reset_done(const GError *error, gpointer user_data)
{
    if (error)
        vfsec_jsonl_call_return_error(user_data, error);
    else
        ctl_reply_empty(user_data);
}

static void
ctl_agent_reset(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);

    if (port)
        vfsec_nicsim_agent_reset(port, ctl_agent_reset_done, call);
}

static void
ctl_fault_set(VfsecJsonlCall *call, gpointer user_data)
{
    JsonObject *args = vfsec_jsonl_call_get_args(call);
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);
    GError *error = NULL;
    const char *name = NULL;
    guint64 count = 0;
    guint64 delay = 0;
    guint scope = 0;
    int fault;

    if (!port)
        return;
    if (!ctl_scope(port, args, "fault-set", &scope, &error) ||
        !ctl_string(args, "fault-set", "fault", TRUE, &name, &error) ||
        !ctl_uint(args, "fault-set", "count", G_MAXUINT32, FALSE, &count, &error) ||
        !ctl_uint(args, "fault-set", "delay_ms", 600000, FALSE, &delay, &error)) {
        ctl_fail(call, error);
        return;
    }
    fault = vfsec_pfdrv_fault_from_string(name);
    if (fault < 0) {
        ctl_fail(call, g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                   "fault-set: fault '%s' is not none, drop, delay, duplicate "
                                   "or corrupt", name));
        return;
    }
    vfsec_pfdrv_set_fault(port->pfdrv, scope, (VfsecPfdrvFault)fault, (guint)count, (guint)delay);
    ctl_reply_empty(call);
}

static void
ctl_gate(VfsecJsonlCall *call, VfsecNicsim *sim, gboolean hold)
{
    VfsecNicsimPort *port = ctl_port(call, sim, TRUE);
    g_autoptr(JsonBuilder) b = NULL;
    GError *error = NULL;
    guint scope = 0;

    if (!port)
        return;
    if (!ctl_scope(port, vfsec_jsonl_call_get_args(call), vfsec_jsonl_call_get_op(call), &scope,
                   &error)) {
        ctl_fail(call, error);
        return;
    }
    if (hold)
        vfsec_pfdrv_gate_hold(port->pfdrv, scope);
    else
        vfsec_pfdrv_gate_release(port->pfdrv, scope);
    b = json_builder_new();
    json_builder_begin_object(b);
    ctl_add_uint(b, "held", vfsec_pfdrv_gate_held(port->pfdrv, scope));
    json_builder_end_object(b);
    ctl_reply(call, b);
}

static void
ctl_gate_hold(VfsecJsonlCall *call, gpointer user_data)
{
    ctl_gate(call, user_data, TRUE);
}

static void
ctl_gate_release(VfsecJsonlCall *call, gpointer user_data)
{
    ctl_gate(call, user_data, FALSE);
}

static void
ctl_reclaim_mode(VfsecJsonlCall *call, gpointer user_data)
{
    VfsecNicsim *sim = user_data;
    const char *mode = NULL;
    GError *error = NULL;

    if (!ctl_string(vfsec_jsonl_call_get_args(call), "reclaim-mode", "mode", TRUE, &mode,
                    &error)) {
        ctl_fail(call, error);
        return;
    }
    if (!g_str_equal(mode, "batched") && !g_str_equal(mode, "single")) {
        ctl_fail(call, g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                   "reclaim-mode: mode '%s' is neither batched nor single", mode));
        return;
    }
    sim->config.one_op_per_frame = g_str_equal(mode, "single");
    for (guint i = 0; i < sim->ports->len; i++) {
        VfsecNicsimPort *port = g_ptr_array_index(sim->ports, i);

        vfsec_pfdrv_set_one_op_per_frame(port->pfdrv, sim->config.one_op_per_frame);
    }
    ctl_reply_empty(call);
}

/* ---- Frames ---- */

/* Most segments one send-tso request may carry. */
#define CONTROL_MAX_SEGMENTS 64

/* Appends one output description per frame of @out to the builder. */
static void
ctl_add_outputs(JsonBuilder *b, GArray *out)
{
    json_builder_set_member_name(b, "outputs");
    json_builder_begin_array(b);
    for (guint i = 0; i < out->len; i++) {
        const VfsecFrameOut *o = &g_array_index(out, VfsecFrameOut, i);
        g_autofree char *to = vfsec_nicsim_io_endpoint_name(
            o->egress == VFSEC_EGRESS_UPLINK ? VFSEC_FN_NONE : o->fn);
        g_autofree char *data = ctl_to_hex(o->frame->data, o->frame->len);

        json_builder_begin_object(b);
        ctl_add_string(b, "to", to);
        ctl_add_uint(b, "len", o->frame->len);
        ctl_add_string(b, "hex", data);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* Writes @out to the netdevs and answers with what it held. */
static void
ctl_reply_outputs(VfsecJsonlCall *call, VfsecNicsimPort *port, GArray *out)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    ctl_add_outputs(b, out);
    json_builder_end_object(b);
    vfsec_nicsim_io_emit(port, out);
    ctl_reply(call, b);
}

static void
ctl_send_frame(VfsecJsonlCall *call, gpointer user_data)
{
    JsonObject *args = vfsec_jsonl_call_get_args(call);
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);
    g_autoptr(GByteArray) frame = NULL;
    g_autoptr(GArray) out = NULL;
    GError *error = NULL;
    const char *from = NULL;
    const char *hex = NULL;
    int fn = VFSEC_FN_NONE;

    if (!port)
        return;
    if (!ctl_string(args, "send-frame", "from", TRUE, &from, &error) ||
        !vfsec_nicsim_io_endpoint_parse(port, from, &fn, &error) ||
        !ctl_string(args, "send-frame", "hex", TRUE, &hex, &error) ||
        !(frame = ctl_hex("send-frame", "hex", hex, VFSEC_NICSIM_RXBUF_SIZE, &error))) {
        ctl_fail(call, error);
        return;
    }
    out = vfsec_frame_list_new();
    port->io.injected++;
    if (!vfsec_nicsim_io_input(port, fn, frame->data, frame->len, out, &error)) {
        ctl_fail(call, error);
        return;
    }
    ctl_reply_outputs(call, port, out);
}

/* The segments of one TSO super-frame from a function: what a netdev cannot
 * hand over (the kernel segments before a veth), so it comes this way. */
static void
ctl_send_tso(VfsecJsonlCall *call, gpointer user_data)
{
    JsonObject *args = vfsec_jsonl_call_get_args(call);
    VfsecNicsimPort *port = ctl_port(call, user_data, TRUE);
    JsonNode *node = ctl_member(args, "segments");
    g_autoptr(GPtrArray) segments = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
    g_autofree const guint8 **data = NULL;
    g_autofree gsize *lens = NULL;
    g_autoptr(GArray) out = NULL;
    GError *error = NULL;
    const char *from = NULL;
    guint64 mss = 0;
    JsonArray *array;
    int fn = VFSEC_FN_NONE;

    if (!port)
        return;
    if (!ctl_string(args, "send-tso", "from", TRUE, &from, &error) ||
        !vfsec_nicsim_io_endpoint_parse(port, from, &fn, &error) ||
        !ctl_uint(args, "send-tso", "mss", G_MAXUINT16, TRUE, &mss, &error)) {
        ctl_fail(call, error);
        return;
    }
    if (fn == VFSEC_FN_NONE || !node || !JSON_NODE_HOLDS_ARRAY(node) ||
        json_array_get_length(json_node_get_array(node)) == 0 ||
        json_array_get_length(json_node_get_array(node)) > CONTROL_MAX_SEGMENTS) {
        ctl_fail(call, g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                   "send-tso: from must be pf or vf:N and segments an array of "
                                   "1-%d hex strings", CONTROL_MAX_SEGMENTS));
        return;
    }
    array = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *e = json_array_get_element(array, i);
        GByteArray *seg;

        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
            ctl_fail(call, g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                       "send-tso: segment %u is not a hex string", i));
            return;
        }
        seg = ctl_hex("send-tso", "segment", json_node_get_string(e), VFSEC_NICSIM_RXBUF_SIZE,
                      &error);
        if (!seg) {
            ctl_fail(call, error);
            return;
        }
        g_ptr_array_add(segments, seg);
    }
    data = g_new0(const guint8 *, segments->len);
    lens = g_new0(gsize, segments->len);
    for (guint i = 0; i < segments->len; i++) {
        GByteArray *seg = g_ptr_array_index(segments, i);

        data[i] = seg->data;
        lens[i] = seg->len;
    }
    out = vfsec_frame_list_new();
    port->io.injected += segments->len;
    if (!vfsec_nicport_from_function_tso(port->core, fn, data, lens, segments->len,
                                         (guint16)mss, out, &error)) {
        ctl_fail(call, error);
        return;
    }
    ctl_reply_outputs(call, port, out);
}

gboolean
vfsec_nicsim_control_start(VfsecNicsim *sim, GError **error)
{
    static const VfsecJsonlHandler handlers[] = {
        { "status", ctl_status },
        { "vf-add-sa", ctl_vf_add_sa },
        { "vf-remove-sa", ctl_vf_remove_sa },
        { "pf-add-sa", ctl_pf_add_sa },
        { "pf-remove-sa", ctl_pf_remove_sa },
        { "sad-dump", ctl_sad_dump },
        { "db-dump", ctl_db_dump },
        { "macs", ctl_macs },
        { "times", ctl_times },
        { "counters", ctl_counters },
        { "vf-reset", ctl_vf_reset },
        { "agent-reset", ctl_agent_reset },
        { "fault-set", ctl_fault_set },
        { "gate-hold", ctl_gate_hold },
        { "gate-release", ctl_gate_release },
        { "reclaim-mode", ctl_reclaim_mode },
        { "send-frame", ctl_send_frame },
        { "send-tso", ctl_send_tso },
        { NULL, NULL },
    };
    VfsecJsonlServerConfig config;

    if (!vfsec_nicsim_server_config(sim, sim->config.control_socket, &config, error))
        return FALSE;
    sim->control = vfsec_jsonl_server_new(&config);
    vfsec_jsonl_server_add_handlers(sim->control, handlers, sim);
    return vfsec_jsonl_server_start(sim->control, error);
}
