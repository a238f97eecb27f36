/* vfsec-nicport.c: one emulated NIC port — switch, agent and the VF-driver
 * model chained into a pure frame-in, frames-out core. */

/*
 * Theory of operation
 *
 *   function netdev ─▶ driver model (Tx) ─▶ switch ─▶ agent ─▶ uplink
 *                                             ▲        │ hairpin / replies
 *   function netdev ◀─ driver model (Rx) ◀─ switch ◀───┘ ◀── uplink
 *
 * An input frame becomes a work list of (egress, frame) items. Items for the
 * agent or the switch are fed to them and replaced by what they emit; items
 * for a function pass the Rx driver model; items for a function or the
 * uplink leave as outputs. The chain is acyclic by construction (the switch
 * never sends a frame from the agent back up), and a hop limit guards it
 * anyway: items still inside after VFSEC_NICPORT_MAX_HOPS rounds are dropped
 * and counted.
 *
 * The VF-driver model stands in for the xfrm offload a real VF driver would
 * do, because the guests here have no driver for this NIC. It knows the
 * outbound SAs added on a function's behalf (never their keys). Tx: an IP
 * packet whose destination, source MAC and VLAN tags match such an SA gets
 * the placed ESP header of protocol section 6 (SPI, sequence 0, an IV from
 * the SA's driver counter — or one IV for every segment of a TSO burst) and
 * the Tx metadata (OFFLOAD, next header, offsets). It does so whatever the
 * function's trust: an untrusted VF's metadata ends up inside its port tag,
 * the agent bypasses it, and the packet leaves in clear — the quarantine
 * working as designed. Rx: Rx metadata reaching a function is consumed
 * before the netdev sees it; a packet the agent failed to verify
 * (integrity-fail, replay, malformed) is dropped as xfrm drops it.
 */

#include "vfsec-nicport.h"

#include <string.h>

#include "vfsec-error.h"
#include "vfsec-esp.h"

#define get16 vfsec_wire_get16
#define put16 vfsec_wire_put16
#define put32 vfsec_wire_put32

#define PLACED_LEN (VFSEC_ESP_HLEN + VFSEC_ESP_IV_LEN)

typedef struct {
    VfsecWireSaKey key;   /* canonical */
    guint64 next_iv;      /* the driver's IV counter */
} DriverSa;

typedef struct {
    GArray *sas;          /* DriverSa */
    VfsecNicPortDriverCounters counters;
} DriverFn;

struct _VfsecNicPort {
    VfsecSwitch *sw;
    VfsecAgent *agent;
    gboolean hairpin;
    guint n_vfs;
    DriverFn *drv;        /* [0] the PF, [1 + n] VF n */
    VfsecNicPortCounters counters;
};

void
vfsec_nicport_config_init(VfsecNicPortConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->n_vfs = 8;
    cfg->mode = VFSEC_SWITCH_VEB;
    vfsec_agent_config_init(&cfg->agent);
}

static void
sync_hairpin(VfsecNicPort *port)
{
    vfsec_agent_set_hairpin(port->agent,
                            port->hairpin && vfsec_switch_get_mode(port->sw) == VFSEC_SWITCH_VEPA);
}

VfsecNicPort *
vfsec_nicport_new(const VfsecNicPortConfig *cfg, GError **error)
{
    g_autoptr(VfsecSwitch) sw = NULL;
    g_autoptr(VfsecAgent) agent = NULL;
    VfsecNicPort *port;

    if ((guint)cfg->mode >= VFSEC_SWITCH_MODE_LAST) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "switch mode %d is unknown", cfg->mode);
        return NULL;
    }
    sw = vfsec_switch_new(cfg->n_vfs, &cfg->agent.tags, error);
    if (!sw)
        return NULL;
    agent = vfsec_agent_new(&cfg->agent, error);
    if (!agent)
        return NULL;

    port = g_new0(VfsecNicPort, 1);
    port->sw = g_steal_pointer(&sw);
    port->agent = g_steal_pointer(&agent);
    port->n_vfs = cfg->n_vfs;
    port->hairpin = cfg->agent.hairpin;
    port->drv = g_new0(DriverFn, cfg->n_vfs + 1);
    for (guint i = 0; i <= cfg->n_vfs; i++)
        port->drv[i].sas = g_array_new(FALSE, TRUE, sizeof(DriverSa));
    vfsec_switch_set_mode(port->sw, cfg->mode);
    sync_hairpin(port);
    return port;
}

void
vfsec_nicport_free(VfsecNicPort *port)
{
    if (!port)
        return;
    for (guint i = 0; i <= port->n_vfs; i++)
        g_array_unref(port->drv[i].sas);
    g_free(port->drv);
    vfsec_agent_free(port->agent);
    vfsec_switch_free(port->sw);
    g_free(port);
}

VfsecSwitch *
vfsec_nicport_switch(VfsecNicPort *port)
{
    return port->sw;
}

VfsecAgent *
vfsec_nicport_agent(VfsecNicPort *port)
{
    return port->agent;
}

void
vfsec_nicport_set_mode(VfsecNicPort *port, VfsecSwitchMode mode)
{
    vfsec_switch_set_mode(port->sw, mode);
    sync_hairpin(port);
}

VfsecSwitchMode
vfsec_nicport_get_mode(const VfsecNicPort *port)
{
    return vfsec_switch_get_mode(port->sw);
}

void
vfsec_nicport_set_hairpin(VfsecNicPort *port, gboolean hairpin)
{
    port->hairpin = hairpin;
    sync_hairpin(port);
}

gboolean
vfsec_nicport_get_hairpin(const VfsecNicPort *port)
{
    return port->hairpin;
}

const VfsecNicPortCounters *
vfsec_nicport_counters(const VfsecNicPort *port)
{
    return &port->counters;
}

/* ---- VF-driver model: SAs ---- */

static DriverFn *
driver_fn(const VfsecNicPort *port, int fn)
{
    if (fn == VFSEC_FN_PF)
        return &port->drv[0];
    if (fn >= 0 && (guint)fn < port->n_vfs)
        return &port->drv[fn + 1];
    return NULL;
}

static DriverFn *
driver_fn_or_error(const VfsecNicPort *port, int fn, GError **error)
{
    DriverFn *d = driver_fn(port, fn);

    if (!d)
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "port has no function %d", fn);
    return d;
}

static int
driver_sa_find(const DriverFn *d, const VfsecWireSaKey *key)
{
    for (guint i = 0; i < d->sas->len; i++) {
        if (vfsec_wire_sa_key_equal(&g_array_index(d->sas, DriverSa, i).key, key))
            return (int)i;
    }
    return -1;
}

gboolean
vfsec_nicport_driver_add_sa(VfsecNicPort *port, int fn, const VfsecWireAddSa *sa, GError **error)
{
    DriverFn *d = driver_fn_or_error(port, fn, error);
    DriverSa entry = { .key = sa->key, .next_iv = 1 };

    if (!d)
        return FALSE;
    if (sa->dir != VFSEC_WIRE_DIR_OUT)
        return TRUE;
    vfsec_wire_sa_key_normalize(&entry.key);
    if (driver_sa_find(d, &entry.key) >= 0) {
        g_autofree char *what = vfsec_wire_sa_key_describe(&entry.key);

        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "function %d driver already has an outbound SA %s", fn, what);
        return FALSE;
    }
    g_array_append_val(d->sas, entry);
    return TRUE;
}

gboolean
vfsec_nicport_driver_remove_sa(VfsecNicPort *port, int fn, const VfsecWireSaKey *key)
{
    DriverFn *d = driver_fn(port, fn);
    int i = d ? driver_sa_find(d, key) : -1;

    if (i < 0)
        return FALSE;
    g_array_remove_index(d->sas, (guint)i);
    return TRUE;
}

guint
vfsec_nicport_driver_clear(VfsecNicPort *port, int fn)
{
    DriverFn *d = driver_fn(port, fn);
    guint n = d ? d->sas->len : 0;

    if (d)
        g_array_set_size(d->sas, 0);
    return n;
}

guint
vfsec_nicport_driver_sa_count(const VfsecNicPort *port, int fn)
{
    const DriverFn *d = driver_fn(port, fn);

    return d ? d->sas->len : 0;
}

const VfsecNicPortDriverCounters *
vfsec_nicport_driver_counters(const VfsecNicPort *port, int fn)
{
    const DriverFn *d = driver_fn(port, fn);

    return d ? &d->counters : NULL;
}

/* ---- VF-driver model: frames ---- */

/* The outbound SA of @d covering a packet to @peek from (@l2 source, tags). */
static DriverSa *
driver_sa_match(DriverFn *d, const VfsecEspPeek *peek, const VfsecFrameL2 *l2)
{
    for (guint i = 0; i < d->sas->len; i++) {
        DriverSa *sa = &g_array_index(d->sas, DriverSa, i);
        const VfsecWireSaKey *k = &sa->key;
        gboolean tags_ok = k->n_tags == l2->n_vlans;

        for (guint t = 0; tags_ok && t < k->n_tags; t++)
            tags_ok = k->tags[t].tpid == l2->vlans[t].tpid &&
                      VFSEC_WIRE_TCI_VID(k->tags[t].tci) == VFSEC_WIRE_TCI_VID(l2->vlans[t].tci);
        if (tags_ok && k->family == peek->family && vfsec_mac_equal(&k->mac, &l2->src) &&
            memcmp(k->dst, peek->dst, peek->family == 4 ? 4 : 16) == 0)
            return sa;
    }
    return NULL;
}

/* Updates the checksum at @csum for a 16-bit word changed from @old to
 * @new (RFC 1624, eqn. 3), without summing the whole header again. */
static void
csum_update(guint8 *csum, guint16 old, guint16 new)
{
    guint32 sum = (guint16)~get16(csum) + (guint32)(guint16)~old + new;

    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    put16(csum, (guint16)~sum);
}

/* The driver's Tx offload: returns @frame with the placed ESP header and Tx
 * metadata, or NULL to send it as it is. @burst_iv (0 until chosen) makes
 * every segment of a TSO burst carry one IV. */
static GByteArray *
driver_tx(VfsecNicPort *port, DriverFn *d, const guint8 *frame, gsize len, guint16 mss,
          guint64 *burst_iv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) placed = NULL;
    VfsecWireMetadata md = { .offload = TRUE, .type = VFSEC_WIRE_MD_TX };
    VfsecFrameL2 l2;
    VfsecEspPeek peek;
    DriverSa *sa;
    const guint8 *ip;
    gsize hlen;
    gsize total;
    guint8 esp[PLACED_LEN] = { 0 };
    guint64 iv;

    if (!d->sas->len || !vfsec_frame_l2_parse(frame, len, &l2) || !l2.l3_offset)
        return NULL;
    ip = frame + l2.l3_offset;
    if (!vfsec_esp_peek(ip, len - l2.l3_offset, &peek, NULL) ||
        peek.proto == VFSEC_WIRE_PROTO_ESP)
        return NULL;
    sa = driver_sa_match(d, &peek, &l2);
    if (!sa)
        return NULL;
    hlen = peek.esp_offset;
    total = peek.family == 4 ? get16(ip + 2) : hlen + get16(ip + 4);
    if (total + PLACED_LEN > G_MAXUINT16 || l2.l3_offset - VFSEC_WIRE_TAG_OFFSET + hlen > G_MAXUINT16)
        return NULL;

    if (burst_iv && *burst_iv)
        iv = *burst_iv;
    else
        iv = sa->next_iv++;
    if (burst_iv)
        *burst_iv = iv;
    put32(esp, sa->key.spi);
    put32(esp + 8, (guint32)(iv >> 32));
    put32(esp + 12, (guint32)iv);

    placed = g_byte_array_sized_new((guint)(l2.l3_offset + total + PLACED_LEN + VFSEC_WIRE_MD_INSERT_LEN));
    g_byte_array_append(placed, frame, (guint)(l2.l3_offset + hlen));
    g_byte_array_append(placed, esp, sizeof(esp));
    g_byte_array_append(placed, ip + hlen, (guint)(total - hlen));
    if (peek.family == 4) {
        guint8 *h = placed->data + l2.l3_offset;
        guint16 old_len = get16(h + 2);
        guint16 old_ttl_proto = get16(h + 8);

        h[9] = VFSEC_WIRE_PROTO_ESP;
        put16(h + 2, (guint16)(total + PLACED_LEN));
        csum_update(h + 10, old_len, get16(h + 2));
        csum_update(h + 10, old_ttl_proto, get16(h + 8));
    } else {
        guint8 *h = placed->data + l2.l3_offset;

        h[6] = VFSEC_WIRE_PROTO_ESP;
        put16(h + 4, (guint16)(total + PLACED_LEN - hlen));
    }

    md.flags = VFSEC_WIRE_MD_FLAG_OFFLOAD | (mss ? VFSEC_WIRE_MD_FLAG_TSO : 0);
    md.mss = mss;
    md.next_header = peek.proto;
    md.l3_offset = (guint16)(l2.l3_offset - VFSEC_WIRE_TAG_OFFSET);
    md.esp_offset = (guint16)(md.l3_offset + hlen);
    if (!vfsec_wire_metadata_insert(vfsec_agent_tags(port->agent), &md, placed, &error)) {
        g_debug("driver model: Tx metadata not insertable: %s", error->message);
        return NULL;
    }
    d->counters.esp_tx++;
    return g_steal_pointer(&placed);
}

/* The driver's Rx side: consumes Rx metadata. FALSE: drop the frame. */
static gboolean
driver_rx(VfsecNicPort *port, DriverFn *d, GByteArray *frame)
{
    const VfsecWireTags *tags = vfsec_agent_tags(port->agent);
    VfsecWireMetadata md;
    gsize strip = 0;

    if (vfsec_wire_classify(tags, frame->data, frame->len, NULL) != VFSEC_WIRE_CLASS_METADATA ||
        !vfsec_wire_metadata_decode(tags, frame->data, frame->len, &md, &strip, NULL) ||
        md.type != VFSEC_WIRE_MD_RX)
        return TRUE;
    g_byte_array_remove_range(frame, VFSEC_WIRE_TAG_OFFSET, (guint)strip);
    d->counters.rx_md_stripped++;
    switch (md.status) {
    case VFSEC_WIRE_RX_INTEGRITY_FAIL:
    case VFSEC_WIRE_RX_REPLAY:
    case VFSEC_WIRE_RX_MALFORMED:
        d->counters.rx_crypto_drops++;
        return FALSE;
    default:
        return TRUE;
    }
}

/* ---- Frame chaining ---- */

/* Moves a FUNCTION/UPLINK item to @out (through the Rx driver model). */
static void
settle(VfsecNicPort *port, VfsecFrameOut *item, GArray *out)
{
    if (item->egress == VFSEC_EGRESS_FUNCTION &&
        !driver_rx(port, driver_fn(port, item->fn), item->frame))
        return;
    vfsec_frame_list_take(out, item->egress, item->fn, item->flags, g_steal_pointer(&item->frame));
}

/* Runs the work list (consumed) until every frame has left the port. */
static void
run(VfsecNicPort *port, GArray *first, GArray *out)
{
    g_autoptr(GArray) work = first;
    g_autoptr(GArray) next = vfsec_frame_list_new();

    for (guint hop = 0; work->len && hop < VFSEC_NICPORT_MAX_HOPS; hop++) {
        GArray *swap;

        for (guint i = 0; i < work->len; i++) {
            VfsecFrameOut *item = &g_array_index(work, VfsecFrameOut, i);
            int exclude = (item->flags & VFSEC_FRAME_HAIRPIN) ? item->fn : VFSEC_FN_NONE;

            switch (item->egress) {
            case VFSEC_EGRESS_AGENT:
                vfsec_agent_from_switch(port->agent, item->frame->data, item->frame->len,
                                        item->fn, next);
                break;
            case VFSEC_EGRESS_SWITCH:
                vfsec_switch_from_agent(port->sw, item->frame->data, item->frame->len, exclude,
                                        next);
                break;
            case VFSEC_EGRESS_FUNCTION:
            case VFSEC_EGRESS_UPLINK:
            case VFSEC_EGRESS_LAST:
            default:
                settle(port, item, out);
                break;
            }
        }
        g_array_set_size(work, 0);
        swap = work;
        work = next;
        next = swap;
    }
    for (guint i = 0; i < work->len; i++) {
        VfsecFrameOut *item = &g_array_index(work, VfsecFrameOut, i);

        if (item->egress == VFSEC_EGRESS_FUNCTION || item->egress == VFSEC_EGRESS_UPLINK) {
            settle(port, item, out);
            continue;
        }
        port->counters.loop_drops++;
        g_warning("NIC port: frame still inside after %d hops dropped", VFSEC_NICPORT_MAX_HOPS);
    }
}

static gboolean
from_function(VfsecNicPort *port, int fn, const guint8 *frame, gsize len, guint16 mss,
              guint64 *burst_iv, GArray *out, GError **error)
{
    DriverFn *d = driver_fn_or_error(port, fn, error);
    g_autoptr(GByteArray) placed = NULL;
    g_autoptr(GArray) work = NULL;

    if (!d)
        return FALSE;
    port->counters.from_functions++;
    if (len > VFSEC_NICPORT_FRAME_MAX) {
        port->counters.oversized_drops++;
        return TRUE;
    }
    placed = driver_tx(port, d, frame, len, mss, burst_iv);
    if (placed) {
        frame = placed->data;
        len = placed->len;
    }
    work = vfsec_frame_list_new();
    if (!vfsec_switch_from_function(port->sw, fn, frame, len, work, error))
        return FALSE;
    run(port, g_steal_pointer(&work), out);
    return TRUE;
}

gboolean
vfsec_nicport_from_function(VfsecNicPort *port, int fn, const guint8 *frame, gsize len,
                            GArray *out, GError **error)
{
    return from_function(port, fn, frame, len, 0, NULL, out, error);
}

gboolean
vfsec_nicport_from_function_tso(VfsecNicPort *port, int fn, const guint8 *const *segments,
                                const gsize *lens, guint n_segments, guint16 mss, GArray *out,
                                GError **error)
{
    guint64 burst_iv = 0;

    if (mss == 0) {
        g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "TSO burst with an mss of 0");
        return FALSE;
    }
    for (guint i = 0; i < n_segments; i++) {
        if (!from_function(port, fn, segments[i], lens[i], mss, &burst_iv, out, error))
            return FALSE;
    }
    return TRUE;
}

void
vfsec_nicport_from_uplink(VfsecNicPort *port, const guint8 *frame, gsize len, GArray *out)
{
    g_autoptr(GArray) work = NULL;

    port->counters.from_uplink++;
    if (len > VFSEC_NICPORT_FRAME_MAX) {
        port->counters.oversized_drops++;
        return;
    }
    work = vfsec_frame_list_new();
    vfsec_agent_from_uplink(port->agent, frame, len, work);
    run(port, g_steal_pointer(&work), out);
}

/* ---- Counters ---- */

#define PORT_FIELD(name) { #name, G_STRUCT_OFFSET(VfsecNicPortCounters, name) }
static const VfsecCounterField port_fields[] = {
    PORT_FIELD(from_functions), PORT_FIELD(from_uplink), PORT_FIELD(oversized_drops),
    PORT_FIELD(loop_drops),
};
#undef PORT_FIELD

#define DRV_FIELD(name) { "driver_" #name, G_STRUCT_OFFSET(VfsecNicPortDriverCounters, name) }
static const VfsecCounterField driver_fields[] = {
    DRV_FIELD(esp_tx), DRV_FIELD(rx_md_stripped), DRV_FIELD(rx_crypto_drops),
};
#undef DRV_FIELD

void
vfsec_nicport_counters_foreach(const VfsecNicPort *port, VfsecCounterFunc func,
                               gpointer user_data)
{
    vfsec_counters_emit("port.", port_fields, G_N_ELEMENTS(port_fields), &port->counters, func,
                        user_data);
    vfsec_switch_counters_foreach(port->sw, func, user_data);
    for (guint i = 0; i <= port->n_vfs; i++) {
        g_autofree char *prefix = i == 0 ? g_strdup("pf.") : g_strdup_printf("vf%u.", i - 1);

        vfsec_counters_emit(prefix, driver_fields, G_N_ELEMENTS(driver_fields),
                            &port->drv[i].counters, func, user_data);
    }
    vfsec_agent_counters_foreach(port->agent, func, user_data);
}
