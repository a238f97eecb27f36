/* vfsec-switch.c: the emulated NIC's embedded switch (VEB/VEPA), pure. */

/*
 * Theory of operation
 *
 * The switch sits between a port's functions (the PF and its VFs) and the
 * inline IPsec agent. It models what an SR-IOV embedded switch does, no more:
 *
 * Upstream (a function sends): spoofchk drops a frame whose source MAC is not
 * the function's; a port tag is pushed as the OUTERMOST tag, so whatever tags
 * the VF wrote (a forged metadata or configuration tag included) end up inside
 * it. In VEB mode a frame for another function in the same VLAN context is
 * delivered inside the switch and never reaches the agent; broadcast and
 * multicast are flooded to the context and also sent up. In VEPA mode every
 * frame goes up.
 *
 * VLAN context: a function with a port tag P lives in P; a function without
 * one sees untagged frames and any non-reserved VLAN (a trunk). Frames whose
 * outermost tag is one of the agent's reserved VIDs (config, metadata) belong
 * to no untagged function: they are the agent's business. Downstream, a port
 * tag that IS a reserved (metadata) VID has already been stripped by the agent
 * on the way out, so such a function receives untagged and non-reserved
 * frames, exactly like an untagged one.
 *
 * Only the PF configures the agent: a VF without a port tag (a trusted one)
 * that sends a frame with the configuration VID outermost is dropped, as the
 * PF's VLAN filter would; a port-tagged VF's is wrapped and bypassed anyway.
 *
 * Downstream (the agent sends): configuration replies go to the PF only. Rx
 * metadata, if outermost, is looked past to
 * find the VLAN context. Unicast goes to the function owning the destination
 * MAC in that context (unknown: dropped and counted). Broadcast/multicast
 * goes to every function in the context except, for a frame the agent's
 * hairpin turned around, its source: that is what an 802.1Qbg VEPA does with
 * reflected broadcasts (it filters the frame it sent itself). A port-tagged
 * function gets the frame without Rx metadata and without its port tag (its
 * driver is untrusted: it must not see agent metadata); the PF and untagged
 * VFs get the frame as it is and parse the metadata themselves.
 */

#include "vfsec-switch.h"

#include <string.h>

#include "vfsec-error.h"

#define get16 vfsec_wire_get16
#define put16 vfsec_wire_put16

/* ---- Frame lists ---- */

static const char *const egress_names[VFSEC_EGRESS_LAST] = {
    [VFSEC_EGRESS_FUNCTION] = "function",
    [VFSEC_EGRESS_UPLINK] = "uplink",
    [VFSEC_EGRESS_AGENT] = "agent",
    [VFSEC_EGRESS_SWITCH] = "switch",
};

const char *
vfsec_egress_to_string(VfsecEgress egress)
{
    return (guint)egress < G_N_ELEMENTS(egress_names) ? egress_names[egress] : NULL;
}

static void
frame_out_clear(gpointer data)
{
    VfsecFrameOut *item = data;

    g_clear_pointer(&item->frame, g_byte_array_unref);
}

GArray *
vfsec_frame_list_new(void)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(VfsecFrameOut));

    g_array_set_clear_func(out, frame_out_clear);
    return out;
}

VfsecFrameOut *
vfsec_frame_list_take(GArray *out, VfsecEgress egress, int fn, guint flags, GByteArray *frame)
{
    VfsecFrameOut item = { .egress = egress, .fn = fn, .flags = flags, .frame = frame };

    g_array_append_val(out, item);
    return &g_array_index(out, VfsecFrameOut, out->len - 1);
}

VfsecFrameOut *
vfsec_frame_list_push(GArray *out, VfsecEgress egress, int fn, guint flags, const guint8 *data,
                      gsize len)
{
    GByteArray *frame = g_byte_array_sized_new((guint)len);

    g_byte_array_append(frame, data, (guint)len);
    return vfsec_frame_list_take(out, egress, fn, flags, frame);
}

/* ---- Frame parsing ---- */

static gboolean
tpid_is_vlan(guint16 tpid)
{
    return tpid == VFSEC_WIRE_TPID_8021Q || tpid == VFSEC_WIRE_TPID_8021AD;
}

gboolean
vfsec_frame_l2_parse(const guint8 *frame, gsize len, VfsecFrameL2 *l2)
{
    gsize off = VFSEC_WIRE_TAG_OFFSET;

    memset(l2, 0, sizeof(*l2));
    if (len < VFSEC_WIRE_ETH_HLEN)
        return FALSE;
    memcpy(l2->dst.b, frame, 6);
    memcpy(l2->src.b, frame + 6, 6);
    while (tpid_is_vlan(get16(frame + off))) {
        if (l2->n_vlans == VFSEC_WIRE_MAX_TAGS || len - off < VFSEC_WIRE_TAG_LEN + 2)
            return FALSE;
        l2->vlans[l2->n_vlans].tpid = get16(frame + off);
        l2->vlans[l2->n_vlans].tci = get16(frame + off + 2);
        l2->n_vlans++;
        off += VFSEC_WIRE_TAG_LEN;
    }
    l2->ethertype_offset = off;
    l2->ethertype = get16(frame + off);
    if ((l2->ethertype == 0x0800 || l2->ethertype == 0x86dd) && len > off + 2)
        l2->l3_offset = off + 2;
    return TRUE;
}

gboolean
vfsec_frame_is_group(const guint8 *frame, gsize len)
{
    return len >= 6 && (frame[0] & 1);
}

void
vfsec_counters_emit(const char *prefix, const VfsecCounterField *fields, gsize n,
                    gconstpointer counters, VfsecCounterFunc func, gpointer user_data)
{
    for (gsize i = 0; i < n; i++) {
        g_autofree char *name = g_strconcat(prefix, fields[i].name, NULL);
        guint64 value;

        memcpy(&value, (const guint8 *)counters + fields[i].offset, sizeof(value));
        func(name, value, user_data);
    }
}

/* ---- Switch ---- */

static const char *const mode_names[VFSEC_SWITCH_MODE_LAST] = {
    [VFSEC_SWITCH_VEB] = "veb",
    [VFSEC_SWITCH_VEPA] = "vepa",
};

const char *
vfsec_switch_mode_to_string(VfsecSwitchMode mode)
{
    return (guint)mode < G_N_ELEMENTS(mode_names) ? mode_names[mode] : NULL;
}

int
vfsec_switch_mode_from_string(const char *str)
{
    for (guint i = 0; str && i < G_N_ELEMENTS(mode_names); i++) {
        if (strcmp(mode_names[i], str) == 0)
            return (int)i;
    }
    return -1;
}

typedef struct {
    VfsecSwitchFn state;
    VfsecSwitchFnCounters counters;
    gint64 changed_us;   /* monotonic time the settings last changed (benchmarks) */
} SwitchFn;

struct _VfsecSwitch {
    VfsecWireTags tags;
    VfsecSwitchMode mode;
    guint n_vfs;
    SwitchFn *fns;       /* [0] is the PF, [1 + n] VF n */
    VfsecSwitchCounters counters;
};

/* The outermost tag that decides a frame's VLAN context. */
typedef struct {
    gboolean tagged;
    gboolean reserved;   /* one of the agent's VIDs */
    guint16 tpid;
    guint16 vid;
} SwitchCtx;

static int
fn_slot(const VfsecSwitch *sw, int fn)
{
    if (fn == VFSEC_FN_PF)
        return 0;
    if (fn >= 0 && (guint)fn < sw->n_vfs)
        return fn + 1;
    return -1;
}

static int
slot_fn(int slot)
{
    return slot == 0 ? VFSEC_FN_PF : slot - 1;
}

static gboolean
vid_reserved(const VfsecWireTags *tags, guint16 vid)
{
    return vid == tags->config_vid || (vid & ~1u) == tags->md_base;
}

VfsecSwitch *
vfsec_switch_new(guint n_vfs, const VfsecWireTags *tags, GError **error)
{
    VfsecSwitch *sw;

    if (n_vfs > VFSEC_SWITCH_MAX_VFS) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "switch with %u VFs exceeds the %d a port supports", n_vfs, VFSEC_SWITCH_MAX_VFS);
        return NULL;
    }
    sw = g_new0(VfsecSwitch, 1);
    if (tags)
        sw->tags = *tags;
    else
        vfsec_wire_tags_init(&sw->tags);
    if (!vfsec_wire_tags_check(&sw->tags, error)) {
        g_free(sw);
        return NULL;
    }
    sw->mode = VFSEC_SWITCH_VEB;
    sw->n_vfs = n_vfs;
    sw->fns = g_new0(SwitchFn, n_vfs + 1);
    sw->fns[0].state.trust = TRUE;
    return sw;
}

void
vfsec_switch_free(VfsecSwitch *sw)
{
    if (!sw)
        return;
    g_free(sw->fns);
    g_free(sw);
}

guint
vfsec_switch_n_vfs(const VfsecSwitch *sw)
{
    return sw->n_vfs;
}

VfsecSwitchMode
vfsec_switch_get_mode(const VfsecSwitch *sw)
{
    return sw->mode;
}

void
vfsec_switch_set_mode(VfsecSwitch *sw, VfsecSwitchMode mode)
{
    g_return_if_fail((guint)mode < VFSEC_SWITCH_MODE_LAST);
    sw->mode = mode;
}

gboolean
vfsec_switch_fn_valid(const VfsecSwitch *sw, int fn)
{
    return fn_slot(sw, fn) >= 0;
}

/* Sets "port has no function N" and returns -1 when @fn is unknown. */
static int
fn_slot_or_error(const VfsecSwitch *sw, int fn, GError **error)
{
    int slot = fn_slot(sw, fn);

    if (slot < 0)
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "switch has no function %d (PF or VF 0..%u)", fn, sw->n_vfs ? sw->n_vfs - 1 : 0);
    return slot;
}

/* Field by field: the structs may hold padding. */
static gboolean
switch_fn_equal(const VfsecSwitchFn *a, const VfsecSwitchFn *b)
{
    return a->has_mac == b->has_mac && (!a->has_mac || vfsec_mac_equal(&a->mac, &b->mac)) &&
           a->has_port_tag == b->has_port_tag &&
           (!a->has_port_tag ||
            (a->port_tag.tpid == b->port_tag.tpid && a->port_tag.vid == b->port_tag.vid &&
             a->port_tag.pcp == b->port_tag.pcp)) &&
           a->trust == b->trust && a->spoofchk == b->spoofchk;
}

gboolean
vfsec_switch_set_fn(VfsecSwitch *sw, int fn, const VfsecSwitchFn *state, GError **error)
{
    int slot = fn_slot_or_error(sw, fn, error);
    const VfsecPortTag *tag = &state->port_tag;

    if (slot < 0)
        return FALSE;
    if (state->has_port_tag) {
        if (fn == VFSEC_FN_PF) {
            g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                "the PF cannot have a port tag");
            return FALSE;
        }
        if (!tpid_is_vlan(tag->tpid) || tag->vid == 0 || tag->vid > 4094 || tag->pcp > 7) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "VF %d port tag TPID 0x%04x VID %u PCP %u is not a valid tag",
                        fn, tag->tpid, tag->vid, tag->pcp);
            return FALSE;
        }
    }
    if (state->has_mac && (state->mac.b[0] & 1)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "function %d MAC is a multicast address", fn);
        return FALSE;
    }
    if (!switch_fn_equal(&sw->fns[slot].state, state))
        sw->fns[slot].changed_us = g_get_monotonic_time();
    sw->fns[slot].state = *state;
    if (fn == VFSEC_FN_PF)
        sw->fns[slot].state.trust = TRUE;
    return TRUE;
}

gboolean
vfsec_switch_set_mac(VfsecSwitch *sw, int fn, const VfsecMac *mac, GError **error)
{
    int slot = fn_slot_or_error(sw, fn, error);
    VfsecSwitchFn state;

    if (slot < 0)
        return FALSE;
    state = sw->fns[slot].state;
    state.has_mac = TRUE;
    state.mac = *mac;
    return vfsec_switch_set_fn(sw, fn, &state, error);
}

const VfsecSwitchFn *
vfsec_switch_get_fn(const VfsecSwitch *sw, int fn)
{
    int slot = fn_slot(sw, fn);

    return slot < 0 ? NULL : &sw->fns[slot].state;
}

gint64
vfsec_switch_fn_changed_us(const VfsecSwitch *sw, int fn)
{
    int slot = fn_slot(sw, fn);

    return slot < 0 ? 0 : sw->fns[slot].changed_us;
}

int
vfsec_switch_fn_by_mac(const VfsecSwitch *sw, const VfsecMac *mac)
{
    for (guint slot = 0; slot <= sw->n_vfs; slot++) {
        const VfsecSwitchFn *st = &sw->fns[slot].state;

        if (st->has_mac && vfsec_mac_equal(&st->mac, mac))
            return slot_fn((int)slot);
    }
    return VFSEC_FN_NONE;
}

const VfsecSwitchCounters *
vfsec_switch_counters(const VfsecSwitch *sw)
{
    return &sw->counters;
}

const VfsecSwitchFnCounters *
vfsec_switch_fn_counters(const VfsecSwitch *sw, int fn)
{
    int slot = fn_slot(sw, fn);

    return slot < 0 ? NULL : &sw->fns[slot].counters;
}

/* ---- Forwarding ---- */

/* The context of the tag at @off (the outermost tag, or the one after Rx
 * metadata). */
static void
ctx_at(const VfsecSwitch *sw, const guint8 *frame, gsize len, gsize off, SwitchCtx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    if (len < off + VFSEC_WIRE_TAG_LEN + 2 || !tpid_is_vlan(get16(frame + off)))
        return;
    ctx->tagged = TRUE;
    ctx->tpid = get16(frame + off);
    ctx->vid = VFSEC_WIRE_TCI_VID(get16(frame + off + 2));
    ctx->reserved = vid_reserved(&sw->tags, ctx->vid);
}

static gboolean
ctx_is_tag(const SwitchCtx *ctx, const VfsecPortTag *tag)
{
    return ctx->tagged && ctx->tpid == tag->tpid && ctx->vid == tag->vid;
}

/* Whether the function in @slot belongs to @ctx; @downstream: the agent
 * already removed a reserved port tag. */
static gboolean
fn_in_ctx(const VfsecSwitch *sw, int slot, const SwitchCtx *ctx, gboolean downstream)
{
    const VfsecSwitchFn *st = &sw->fns[slot].state;
    gboolean trunk = !ctx->tagged || !ctx->reserved;

    if (!st->has_port_tag)
        return trunk;
    if (downstream && vid_reserved(&sw->tags, st->port_tag.vid))
        return trunk;
    return ctx_is_tag(ctx, &st->port_tag);
}

/* How many bytes of Rx metadata lead the frame (0: none). */
static gsize
rx_md_len(const VfsecSwitch *sw, const guint8 *frame, gsize len)
{
    VfsecWireMetadata md;
    gsize strip = 0;

    if (vfsec_wire_classify(&sw->tags, frame, len, NULL) != VFSEC_WIRE_CLASS_METADATA)
        return 0;
    if (!vfsec_wire_metadata_decode(&sw->tags, frame, len, &md, &strip, NULL) ||
        md.type != VFSEC_WIRE_MD_RX)
        return 0;
    return strip;
}

/* Delivers a copy of @frame to the function in @slot, stripping what a
 * port-tagged function must not see. */
static void
deliver(VfsecSwitch *sw, int slot, const guint8 *frame, gsize len, guint flags, GArray *out)
{
    SwitchFn *f = &sw->fns[slot];
    GByteArray *copy = g_byte_array_sized_new((guint)len);

    g_byte_array_append(copy, frame, (guint)len);
    if (f->state.has_port_tag) {
        gsize md = rx_md_len(sw, copy->data, copy->len);
        SwitchCtx ctx;

        if (md) {
            g_byte_array_remove_range(copy, VFSEC_WIRE_TAG_OFFSET, (guint)md);
            f->counters.md_stripped++;
        }
        ctx_at(sw, copy->data, copy->len, VFSEC_WIRE_TAG_OFFSET, &ctx);
        if (ctx_is_tag(&ctx, &f->state.port_tag))
            g_byte_array_remove_range(copy, VFSEC_WIRE_TAG_OFFSET, VFSEC_WIRE_TAG_LEN);
    }
    f->counters.tx_frames++;
    f->counters.tx_bytes += copy->len;
    vfsec_frame_list_take(out, VFSEC_EGRESS_FUNCTION, slot_fn(slot), flags, copy);
}

/* Delivers @frame within @ctx: unicast to the owner of the destination MAC,
 * group frames to every member but @skip_slot. Returns how many copies. */
static guint
deliver_ctx(VfsecSwitch *sw, const guint8 *frame, gsize len, const SwitchCtx *ctx,
            gboolean downstream, int skip_slot, guint flags, GArray *out)
{
    gboolean group = vfsec_frame_is_group(frame, len);
    guint copies = 0;

    for (guint slot = 0; slot <= sw->n_vfs; slot++) {
        const VfsecSwitchFn *st = &sw->fns[slot].state;

        if ((int)slot == skip_slot || !fn_in_ctx(sw, (int)slot, ctx, downstream))
            continue;
        if (!group && !(st->has_mac && memcmp(st->mac.b, frame, 6) == 0))
            continue;
        deliver(sw, (int)slot, frame, len, group ? flags | VFSEC_FRAME_FLOOD : flags, out);
        copies++;
        if (!group)
            break;  /* one owner per MAC and context */
    }
    if (group)
        sw->counters.flooded += copies;
    return copies;
}

/* Returns @frame with @tag pushed outermost, or NULL if it would not fit. */
static GByteArray *
push_tag(const guint8 *frame, gsize len, const VfsecPortTag *tag)
{
    GByteArray *tagged;
    guint8 hdr[VFSEC_WIRE_TAG_LEN];

    if (len > G_MAXUINT - VFSEC_WIRE_TAG_LEN)
        return NULL;
    put16(hdr, tag->tpid);
    put16(hdr + 2, vfsec_wire_tci(tag->pcp, FALSE, tag->vid));
    tagged = g_byte_array_sized_new((guint)len + VFSEC_WIRE_TAG_LEN);
    g_byte_array_append(tagged, frame, VFSEC_WIRE_TAG_OFFSET);
    g_byte_array_append(tagged, hdr, sizeof(hdr));
    g_byte_array_append(tagged, frame + VFSEC_WIRE_TAG_OFFSET, (guint)(len - VFSEC_WIRE_TAG_OFFSET));
    return tagged;
}

gboolean
vfsec_switch_from_function(VfsecSwitch *sw, int fn, const guint8 *frame, gsize len, GArray *out,
                           GError **error)
{
    int slot = fn_slot_or_error(sw, fn, error);
    g_autoptr(GByteArray) tagged = NULL;
    SwitchFn *f;
    SwitchCtx ctx;
    gboolean group;

    if (slot < 0)
        return FALSE;
    f = &sw->fns[slot];
    f->counters.rx_frames++;
    f->counters.rx_bytes += len;
    if (len < VFSEC_WIRE_ETH_HLEN) {
        f->counters.malformed_drops++;
        return TRUE;
    }
    if (f->state.spoofchk &&
        !(f->state.has_mac && memcmp(f->state.mac.b, frame + 6, 6) == 0)) {
        f->counters.spoof_drops++;
        g_debug("switch: frame from function %d with a foreign source MAC dropped", fn);
        return TRUE;
    }
    if (fn != VFSEC_FN_PF && !f->state.has_port_tag &&
        vfsec_wire_classify(&sw->tags, frame, len, NULL) == VFSEC_WIRE_CLASS_CONFIG) {
        f->counters.config_drops++;
        g_debug("switch: configuration-tagged frame from VF %d dropped", fn);
        return TRUE;
    }
    if (f->state.has_port_tag) {
        tagged = push_tag(frame, len, &f->state.port_tag);
        if (!tagged) {
            f->counters.malformed_drops++;
            return TRUE;
        }
        frame = tagged->data;
        len = tagged->len;
    }

    group = vfsec_frame_is_group(frame, len);
    if (sw->mode == VFSEC_SWITCH_VEB) {
        guint copies;

        ctx_at(sw, frame, len, VFSEC_WIRE_TAG_OFFSET, &ctx);
        copies = deliver_ctx(sw, frame, len, &ctx, FALSE, slot, 0, out);
        sw->counters.local_switched += copies;
        if (copies && !group)
            return TRUE;
    }
    sw->counters.to_agent++;
    if (tagged)
        vfsec_frame_list_take(out, VFSEC_EGRESS_AGENT, fn, 0, g_steal_pointer(&tagged));
    else
        vfsec_frame_list_push(out, VFSEC_EGRESS_AGENT, fn, 0, frame, len);
    return TRUE;
}

void
vfsec_switch_from_agent(VfsecSwitch *sw, const guint8 *frame, gsize len, int exclude_fn,
                        GArray *out)
{
    SwitchCtx ctx;
    guint flags = 0;
    int skip = fn_slot(sw, exclude_fn);

    sw->counters.from_agent++;
    if (len < VFSEC_WIRE_ETH_HLEN) {
        sw->counters.malformed_drops++;
        return;
    }
    if (vfsec_wire_classify(&sw->tags, frame, len, NULL) == VFSEC_WIRE_CLASS_CONFIG) {
        /* The agent answers the PF driver and nobody else. */
        if (sw->fns[0].state.has_mac && memcmp(sw->fns[0].state.mac.b, frame, 6) == 0)
            deliver(sw, 0, frame, len, VFSEC_FRAME_REPLY, out);
        else
            sw->counters.unknown_dst_drops++;
        return;
    }
    if (skip >= 0)
        flags |= VFSEC_FRAME_HAIRPIN;
    ctx_at(sw, frame, len, VFSEC_WIRE_TAG_OFFSET + rx_md_len(sw, frame, len), &ctx);
    if (deliver_ctx(sw, frame, len, &ctx, TRUE, skip, flags, out) == 0 &&
        !vfsec_frame_is_group(frame, len)) {
        sw->counters.unknown_dst_drops++;
        g_debug("switch: frame from the agent for an unknown MAC dropped");
    }
}

/* ---- Counters ---- */

#define FN_FIELD(name) { #name, G_STRUCT_OFFSET(VfsecSwitchFnCounters, name) }
static const VfsecCounterField fn_fields[] = {
    FN_FIELD(rx_frames), FN_FIELD(rx_bytes), FN_FIELD(tx_frames), FN_FIELD(tx_bytes),
    FN_FIELD(spoof_drops), FN_FIELD(malformed_drops), FN_FIELD(md_stripped),
    FN_FIELD(config_drops),
};
#undef FN_FIELD

#define SW_FIELD(name) { #name, G_STRUCT_OFFSET(VfsecSwitchCounters, name) }
static const VfsecCounterField switch_fields[] = {
    SW_FIELD(to_agent), SW_FIELD(from_agent), SW_FIELD(local_switched), SW_FIELD(flooded),
    SW_FIELD(unknown_dst_drops), SW_FIELD(malformed_drops),
};
#undef SW_FIELD

void
vfsec_switch_counters_foreach(const VfsecSwitch *sw, VfsecCounterFunc func, gpointer user_data)
{
    vfsec_counters_emit("switch.", switch_fields, G_N_ELEMENTS(switch_fields), &sw->counters,
                        func, user_data);
    for (guint slot = 0; slot <= sw->n_vfs; slot++) {
        g_autofree char *prefix = slot == 0 ? g_strdup("pf.") : g_strdup_printf("vf%u.", slot - 1);

        vfsec_counters_emit(prefix, fn_fields, G_N_ELEMENTS(fn_fields), &sw->fns[slot].counters,
                            func, user_data);
    }
}
