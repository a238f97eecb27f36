/* test-switch.c: the emulated embedded switch — spoofchk, port tags pushed
 * outermost, VEB local switching vs VEPA, downstream stripping, floods. */
#include <glib.h>
#include <string.h>

#include "vfsec-error.h"
#include "vfsec-switch.h"
#include "vfsec-wire.h"

/* The port every test uses:
 *   PF   02:00:00:00:00:01  untagged
 *   VF0  52:54:00:00:00:10  untagged, trusted
 *   VF1  52:54:00:00:00:11  port tag 802.1ad VID 4092 (the bypass tag), spoofchk
 *   VF2  52:54:00:00:00:12  port tag 802.1Q VID 100
 *   VF3  52:54:00:00:00:13  port tag 802.1Q VID 100 */
enum { VF0, VF1, VF2, VF3, N_VFS };
#define PF VFSEC_FN_PF
#define NONE VFSEC_FN_NONE

static const guint8 mac_pf[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const guint8 mac_vf[N_VFS][6] = {
    { 0x52, 0x54, 0, 0, 0, 0x10 },
    { 0x52, 0x54, 0, 0, 0, 0x11 },
    { 0x52, 0x54, 0, 0, 0, 0x12 },
    { 0x52, 0x54, 0, 0, 0, 0x13 },
};
static const guint8 mac_remote[6] = { 0x52, 0x54, 0, 0xaa, 0, 0x01 };
static const guint8 mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static const guint8 *
fn_mac(int fn)
{
    return fn == PF ? mac_pf : mac_vf[fn];
}

static VfsecSwitch *
port_switch(VfsecSwitchMode mode)
{
    g_autoptr(GError) error = NULL;
    VfsecSwitch *sw = vfsec_switch_new(N_VFS, NULL, &error);

    g_assert_no_error(error);
    vfsec_switch_set_mode(sw, mode);
    for (int fn = PF; fn < N_VFS; fn++) {
        VfsecSwitchFn st = { .has_mac = TRUE, .trust = TRUE };

        memcpy(st.mac.b, fn_mac(fn), 6);
        if (fn == VF1) {
            st.trust = FALSE;
            st.spoofchk = TRUE;
            st.has_port_tag = TRUE;
            st.port_tag = (VfsecPortTag){ VFSEC_WIRE_TPID_8021AD, VFSEC_WIRE_MD_BASE_DEFAULT, 3 };
        } else if (fn == VF2 || fn == VF3) {
            st.has_port_tag = TRUE;
            st.port_tag = (VfsecPortTag){ VFSEC_WIRE_TPID_8021Q, 100, 0 };
        }
        g_assert_true(vfsec_switch_set_fn(sw, fn, &st, &error));
        g_assert_no_error(error);
    }
    return sw;
}

/* dst, src, then @n_tags (tpid, vid) pairs, then IPv4 ethertype and 46 bytes. */
static GByteArray *
frame_new(const guint8 *dst, const guint8 *src, guint n_tags, const guint16 *tags)
{
    GByteArray *f = g_byte_array_new();
    guint8 payload[48] = { 0x08, 0x00, 0x45 };

    g_byte_array_append(f, dst, 6);
    g_byte_array_append(f, src, 6);
    for (guint i = 0; i < n_tags; i++) {
        guint8 tag[4];

        vfsec_wire_put16(tag, tags[2 * i]);
        vfsec_wire_put16(tag + 2, tags[2 * i + 1]);
        g_byte_array_append(f, tag, 4);
    }
    for (guint i = 3; i < sizeof(payload); i++)
        payload[i] = (guint8)i;
    g_byte_array_append(f, payload, sizeof(payload));
    return f;
}

static const VfsecFrameOut *
only_output(GArray *out)
{
    g_assert_cmpuint(out->len, ==, 1);
    return &g_array_index(out, VfsecFrameOut, 0);
}

/* ---- Routing matrix ---- */

typedef struct {
    const char *name;
    VfsecSwitchMode mode;
    int from;
    int to;             /* destination function, or NONE for the remote MAC */
    int expect;         /* the receiving function, or NONE: up to the agent */
    gboolean stripped;  /* the receiver's port tag came off */
} RouteCase;

static const RouteCase route_cases[] = {
    { "veb-vf0-to-pf", VFSEC_SWITCH_VEB, VF0, PF, PF, FALSE },
    { "veb-pf-to-vf0", VFSEC_SWITCH_VEB, PF, VF0, VF0, FALSE },
    { "veb-same-port-vlan", VFSEC_SWITCH_VEB, VF2, VF3, VF3, TRUE },
    { "veb-vlan-mismatch-goes-up", VFSEC_SWITCH_VEB, VF0, VF2, NONE, FALSE },
    { "veb-untrusted-goes-up", VFSEC_SWITCH_VEB, VF1, VF0, NONE, FALSE },
    { "veb-remote-goes-up", VFSEC_SWITCH_VEB, VF0, NONE, NONE, FALSE },
    { "veb-to-itself-goes-up", VFSEC_SWITCH_VEB, VF0, VF0, NONE, FALSE },
    { "vepa-vf0-to-pf-goes-up", VFSEC_SWITCH_VEPA, VF0, PF, NONE, FALSE },
    { "vepa-same-port-vlan-goes-up", VFSEC_SWITCH_VEPA, VF2, VF3, NONE, FALSE },
};

static void
test_route(gconstpointer data)
{
    const RouteCase *tc = data;
    g_autoptr(VfsecSwitch) sw = port_switch(tc->mode);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GByteArray) f = frame_new(tc->to == NONE ? mac_remote : fn_mac(tc->to),
                                        fn_mac(tc->from), 0, NULL);
    g_autoptr(GError) error = NULL;
    const VfsecFrameOut *o;

    g_assert_true(vfsec_switch_from_function(sw, tc->from, f->data, f->len, out, &error));
    g_assert_no_error(error);
    o = only_output(out);
    if (tc->expect == NONE) {
        g_assert_cmpint(o->egress, ==, VFSEC_EGRESS_AGENT);
        g_assert_cmpint(o->fn, ==, tc->from);
        g_assert_cmpuint(vfsec_switch_counters(sw)->to_agent, ==, 1);
        g_assert_cmpuint(vfsec_switch_counters(sw)->local_switched, ==, 0);
        return;
    }
    g_assert_cmpint(o->egress, ==, VFSEC_EGRESS_FUNCTION);
    g_assert_cmpint(o->fn, ==, tc->expect);
    g_assert_cmpuint(vfsec_switch_counters(sw)->to_agent, ==, 0);
    g_assert_cmpuint(vfsec_switch_counters(sw)->local_switched, ==, 1);
    g_assert_cmpuint(vfsec_switch_fn_counters(sw, tc->expect)->tx_frames, ==, 1);
    /* Untagged in, untagged out: the port tag pushed on ingress came off again. */
    g_assert_cmpmem(o->frame->data, o->frame->len, f->data, f->len);
    g_assert_true(tc->stripped == vfsec_switch_get_fn(sw, tc->expect)->has_port_tag);
}

/* ---- Ingress ---- */

static void
test_spoofchk(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEPA);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GByteArray) forged = frame_new(mac_remote, mac_vf[VF0], 0, NULL);
    g_autoptr(GByteArray) own = frame_new(mac_remote, mac_vf[VF1], 0, NULL);

    /* VF1 checks: a frame claiming VF0's MAC is dropped and counted. */
    g_assert_true(vfsec_switch_from_function(sw, VF1, forged->data, forged->len, out, NULL));
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(vfsec_switch_fn_counters(sw, VF1)->spoof_drops, ==, 1);
    g_assert_true(vfsec_switch_from_function(sw, VF1, own->data, own->len, out, NULL));
    g_assert_cmpuint(out->len, ==, 1);
    g_assert_cmpuint(vfsec_switch_fn_counters(sw, VF1)->spoof_drops, ==, 1);

    /* VF2 does not check: the same forgery passes. */
    g_array_set_size(out, 0);
    g_assert_true(vfsec_switch_from_function(sw, VF2, forged->data, forged->len, out, NULL));
    g_assert_cmpuint(out->len, ==, 1);
    g_assert_cmpuint(vfsec_switch_fn_counters(sw, VF2)->spoof_drops, ==, 0);
}

static void
test_port_tag_outermost(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEPA);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    /* VF1 writes its own configuration tag and an inner customer VLAN. */
    const guint16 tags[] = { VFSEC_WIRE_TPID_8021Q, VFSEC_WIRE_CONFIG_VID_DEFAULT, VFSEC_WIRE_TPID_8021Q, 5 };
    g_autoptr(GByteArray) f = frame_new(mac_remote, mac_vf[VF1], 2, tags);
    const VfsecFrameOut *o;
    VfsecWireTagInfo info;

    g_assert_true(vfsec_switch_from_function(sw, VF1, f->data, f->len, out, NULL));
    o = only_output(out);
    g_assert_cmpint(o->egress, ==, VFSEC_EGRESS_AGENT);
    g_assert_cmpuint(o->frame->len, ==, f->len + 4);
    /* 88a8, PCP 3, VID 4092 outermost; the VF's bytes follow unchanged. */
    g_assert_cmphex(vfsec_wire_get16(o->frame->data + 12), ==, VFSEC_WIRE_TPID_8021AD);
    g_assert_cmphex(vfsec_wire_get16(o->frame->data + 14), ==, vfsec_wire_tci(3, FALSE, 4092));
    g_assert_cmpmem(o->frame->data + 16, o->frame->len - 16, f->data + 12, f->len - 12);
    g_assert_cmpmem(o->frame->data, 12, f->data, 12);
    g_assert_cmpint(vfsec_wire_classify(NULL, o->frame->data, o->frame->len, &info), ==,
                    VFSEC_WIRE_CLASS_METADATA_BYPASS);
}

static void
test_config_vid_filter(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEB);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    const guint16 cfg[] = { VFSEC_WIRE_TPID_8021Q, VFSEC_WIRE_CONFIG_VID_DEFAULT };
    g_autoptr(GByteArray) from_vf0 = frame_new(mac_remote, mac_vf[VF0], 1, cfg);
    g_autoptr(GByteArray) from_pf = frame_new(mac_remote, mac_pf, 1, cfg);

    /* A trusted VF has no port tag; only the PF may talk to the agent. */
    g_assert_true(vfsec_switch_from_function(sw, VF0, from_vf0->data, from_vf0->len, out, NULL));
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(vfsec_switch_fn_counters(sw, VF0)->config_drops, ==, 1);
    g_assert_true(vfsec_switch_from_function(sw, PF, from_pf->data, from_pf->len, out, NULL));
    g_assert_cmpint(only_output(out)->egress, ==, VFSEC_EGRESS_AGENT);
}

static void
test_veb_broadcast(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEB);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GByteArray) f = frame_new(mac_bcast, mac_vf[VF2], 0, NULL);
    gboolean got[N_VFS + 1] = { FALSE };
    guint up = 0;

    /* VF2's broadcast floods VLAN 100: VF3 (tag stripped) and the untagged
     * functions, which see VLANs as a trunk (tag kept); it also goes up.
     * VF1 lives in the bypass VLAN and sees none of it. */
    g_assert_true(vfsec_switch_from_function(sw, VF2, f->data, f->len, out, NULL));
    for (guint i = 0; i < out->len; i++) {
        const VfsecFrameOut *o = &g_array_index(out, VfsecFrameOut, i);

        if (o->egress == VFSEC_EGRESS_AGENT) {
            up++;
            continue;
        }
        got[o->fn + 1] = TRUE;
        g_assert_true(o->flags & VFSEC_FRAME_FLOOD);
        if (o->fn == VF3)
            g_assert_cmpmem(o->frame->data, o->frame->len, f->data, f->len);
        else
            g_assert_cmphex(vfsec_wire_get16(o->frame->data + 14), ==, 100);
    }
    g_assert_cmpuint(up, ==, 1);
    g_assert_cmpuint(out->len, ==, 4);
    g_assert_true(got[PF + 1] && got[VF0 + 1] && got[VF3 + 1]);
    g_assert_cmpuint(vfsec_switch_counters(sw)->flooded, ==, 3);
}

/* ---- Egress (from the agent) ---- */

/* @f with Rx metadata (status OK, SA 7) inserted outermost. */
static GByteArray *
with_rx_md(const GByteArray *f)
{
    g_autoptr(GError) error = NULL;
    GByteArray *copy = g_byte_array_new();
    VfsecWireMetadata md = {
        .offload = TRUE, .type = VFSEC_WIRE_MD_RX, .status = VFSEC_WIRE_RX_OK,
        .next_header = 17, .sa_index = 7, .seq = 1,
    };

    g_byte_array_append(copy, f->data, f->len);
    g_assert_true(vfsec_wire_metadata_insert(NULL, &md, copy, &error));
    g_assert_no_error(error);
    return copy;
}

typedef struct {
    const char *name;
    int to;              /* destination function */
    gboolean rx_md;      /* the agent put Rx metadata on it */
    guint16 vlan;        /* outer 802.1Q VID on the frame, 0: none */
    int expect;          /* receiver, NONE: dropped as unknown */
    gboolean md_kept;    /* the receiver sees the metadata */
} DownCase;

static const DownCase down_cases[] = {
    { "untagged-trusted-keeps-md", VF0, TRUE, 0, VF0, TRUE },
    { "pf-keeps-md", PF, TRUE, 0, PF, TRUE },
    { "bypass-tagged-vf-loses-md", VF1, TRUE, 0, VF1, FALSE },
    { "vlan-tagged-vf-loses-md-and-tag", VF2, TRUE, 100, VF2, FALSE },
    { "vlan-tagged-vf-loses-tag", VF2, FALSE, 100, VF2, FALSE },
    { "vlan-tagged-vf-wrong-context", VF2, FALSE, 0, NONE, FALSE },
    { "untagged-vf-customer-vlan", VF0, FALSE, 7, VF0, FALSE },
};

static void
test_downstream(gconstpointer data)
{
    const DownCase *tc = data;
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEPA);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    const guint16 tag[] = { VFSEC_WIRE_TPID_8021Q, tc->vlan };
    g_autoptr(GByteArray) plain = frame_new(fn_mac(tc->to), mac_remote, 0, NULL);
    g_autoptr(GByteArray) tagged = frame_new(fn_mac(tc->to), mac_remote, tc->vlan ? 1 : 0, tag);
    g_autoptr(GByteArray) sent = tc->rx_md ? with_rx_md(tagged) : g_byte_array_ref(tagged);
    const VfsecFrameOut *o;

    vfsec_switch_from_agent(sw, sent->data, sent->len, NONE, out);
    if (tc->expect == NONE) {
        g_assert_cmpuint(out->len, ==, 0);
        g_assert_cmpuint(vfsec_switch_counters(sw)->unknown_dst_drops, ==, 1);
        return;
    }
    o = only_output(out);
    g_assert_cmpint(o->egress, ==, VFSEC_EGRESS_FUNCTION);
    g_assert_cmpint(o->fn, ==, tc->expect);
    if (tc->md_kept)
        g_assert_cmpmem(o->frame->data, o->frame->len, sent->data, sent->len);
    else if (vfsec_switch_get_fn(sw, tc->expect)->has_port_tag)
        g_assert_cmpmem(o->frame->data, o->frame->len, plain->data, plain->len);
    else
        g_assert_cmpmem(o->frame->data, o->frame->len, tagged->data, tagged->len);
    g_assert_cmpuint(vfsec_switch_fn_counters(sw, tc->expect)->md_stripped, ==,
                     tc->rx_md && !tc->md_kept ? 1 : 0);
}

static void
test_unknown_mac(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEPA);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GByteArray) f = frame_new(mac_remote, mac_pf, 0, NULL);

    vfsec_switch_from_agent(sw, f->data, f->len, NONE, out);
    vfsec_switch_from_agent(sw, f->data, 10, NONE, out);
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(vfsec_switch_counters(sw)->unknown_dst_drops, ==, 1);
    g_assert_cmpuint(vfsec_switch_counters(sw)->malformed_drops, ==, 1);
}

static void
test_reflected_broadcast(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEPA);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GByteArray) f = frame_new(mac_bcast, mac_vf[VF0], 0, NULL);
    gboolean got[N_VFS + 1] = { FALSE };

    /* VF0's broadcast, turned around by the hairpin: everyone in the
     * untagged context but VF0 itself (VF1 too: its bypass tag is gone). */
    vfsec_switch_from_agent(sw, f->data, f->len, VF0, out);
    for (guint i = 0; i < out->len; i++) {
        const VfsecFrameOut *o = &g_array_index(out, VfsecFrameOut, i);

        g_assert_true(o->flags & VFSEC_FRAME_HAIRPIN);
        g_assert_true(o->flags & VFSEC_FRAME_FLOOD);
        got[o->fn + 1] = TRUE;
    }
    g_assert_cmpuint(out->len, ==, 2);
    g_assert_true(got[PF + 1] && got[VF1 + 1]);
    g_assert_cmpuint(vfsec_switch_counters(sw)->flooded, ==, 2);
}

static void
test_config_reply_to_pf_only(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEPA);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    const guint16 cfg[] = { VFSEC_WIRE_TPID_8021Q, VFSEC_WIRE_CONFIG_VID_DEFAULT };
    g_autoptr(GByteArray) to_pf = frame_new(mac_pf, mac_remote, 1, cfg);
    g_autoptr(GByteArray) to_vf0 = frame_new(mac_vf[VF0], mac_remote, 1, cfg);

    vfsec_switch_from_agent(sw, to_pf->data, to_pf->len, NONE, out);
    g_assert_cmpint(only_output(out)->fn, ==, PF);
    g_assert_true(only_output(out)->flags & VFSEC_FRAME_REPLY);
    vfsec_switch_from_agent(sw, to_vf0->data, to_vf0->len, NONE, out);
    g_assert_cmpuint(out->len, ==, 1);
    g_assert_cmpuint(vfsec_switch_counters(sw)->unknown_dst_drops, ==, 1);
}

/* ---- State ---- */

static void
test_fn_state(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEB);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    VfsecSwitchFn st = { .has_port_tag = TRUE, .port_tag = { VFSEC_WIRE_TPID_8021Q, 10, 0 } };
    VfsecMac mac = { { 0x52, 0x54, 0, 0, 0, 0x99 } };
    GError *error = NULL;
    guint8 tiny[4] = { 0 };

    g_assert_false(vfsec_switch_set_fn(sw, PF, &st, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    st.port_tag.vid = 0;
    g_assert_false(vfsec_switch_set_fn(sw, VF0, &st, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(vfsec_switch_set_fn(sw, N_VFS, &st, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(vfsec_switch_from_function(sw, -7, tiny, sizeof(tiny), out, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);

    g_assert_true(vfsec_switch_set_mac(sw, VF3, &mac, NULL));
    g_assert_cmpint(vfsec_switch_fn_by_mac(sw, &mac), ==, VF3);
    g_assert_true(vfsec_switch_get_fn(sw, VF3)->has_port_tag);  /* only the MAC changed */
    g_assert_true(vfsec_switch_from_function(sw, VF0, tiny, sizeof(tiny), out, NULL));
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(vfsec_switch_fn_counters(sw, VF0)->malformed_drops, ==, 1);
    g_assert_null(vfsec_switch_new(VFSEC_SWITCH_MAX_VFS + 1, NULL, NULL));
    g_assert_cmpint(vfsec_switch_mode_from_string("vepa"), ==, VFSEC_SWITCH_VEPA);
    g_assert_cmpint(vfsec_switch_mode_from_string("bridge"), ==, -1);
}

static void
count_cb(const char *name, guint64 value, gpointer user_data)
{
    g_hash_table_insert(user_data, g_strdup(name), g_memdup2(&value, sizeof(value)));
}

static void
test_counter_names(void)
{
    g_autoptr(VfsecSwitch) sw = port_switch(VFSEC_SWITCH_VEPA);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GByteArray) forged = frame_new(mac_remote, mac_vf[VF0], 0, NULL);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GHashTableIter iter;
    gpointer name;

    g_assert_true(vfsec_switch_from_function(sw, VF1, forged->data, forged->len, out, NULL));
    vfsec_switch_counters_foreach(sw, count_cb, seen);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "vf1.spoof_drops"), ==, 1);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "vf1.rx_frames"), ==, 1);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "pf.rx_frames"), ==, 0);
    g_assert_nonnull(g_hash_table_lookup(seen, "switch.unknown_dst_drops"));
    g_hash_table_iter_init(&iter, seen);
    while (g_hash_table_iter_next(&iter, &name, NULL)) {
        for (const char *p = name; *p; p++)
            g_assert_true(g_ascii_islower(*p) || g_ascii_isdigit(*p) || *p == '.' || *p == '_');
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(route_cases); i++) {
        g_autofree char *path = g_strdup_printf("/switch/route/%s", route_cases[i].name);

        g_test_add_data_func(path, &route_cases[i], test_route);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(down_cases); i++) {
        g_autofree char *path = g_strdup_printf("/switch/downstream/%s", down_cases[i].name);

        g_test_add_data_func(path, &down_cases[i], test_downstream);
    }
    g_test_add_func("/switch/spoofchk", test_spoofchk);
    g_test_add_func("/switch/port-tag-outermost", test_port_tag_outermost);
    g_test_add_func("/switch/config-vid-filter", test_config_vid_filter);
    g_test_add_func("/switch/veb-broadcast", test_veb_broadcast);
    g_test_add_func("/switch/unknown-mac", test_unknown_mac);
    g_test_add_func("/switch/reflected-broadcast", test_reflected_broadcast);
    g_test_add_func("/switch/config-reply-to-pf-only", test_config_reply_to_pf_only);
    g_test_add_func("/switch/fn-state", test_fn_state);
    g_test_add_func("/switch/counter-names", test_counter_names);
    return g_test_run();
}
