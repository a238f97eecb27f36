/* test-nicport.c: the seed scenarios end to end on the pure NIC port core —
 * quarantine by port tag, East-West (VEB, VEPA + hairpin), the VF-driver
 * model's offload, TSO, Rx delivery, bad input, counters. */
#include <glib.h>
#include <string.h>

#include "vfsec-error.h"
#include "vfsec-esp.h"
#include "vfsec-nicport.h"
#include "vfsec-wire.h"

/* The port:
 *   PF   02:00:00:00:00:01                         agent 02:00:00:00:00:fe
 *   VF0  52:54:00:00:00:0a  192.0.2.10  trusted, untagged
 *   VF1  52:54:00:00:00:0b  192.0.2.11  untrusted: port tag 802.1ad VID 4092
 *   VF2  52:54:00:00:00:0c  192.0.2.12  trusted, untagged
 *   VF3  52:54:00:00:00:0d  192.0.2.13  trusted, untagged
 *   a remote host 52:54:00:aa:00:01, 198.51.100.1, beyond the uplink */
enum { VF0, VF1, VF2, VF3, N_VFS };
#define PF VFSEC_FN_PF
#define REMOTE N_VFS

static const guint8 mac_pf[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const guint8 mac_agent[6] = { 0x02, 0, 0, 0, 0, 0xfe };
static const guint8 mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void
host_mac(int who, guint8 mac[6])
{
    const guint8 vm[6] = { 0x52, 0x54, 0, 0, 0, 0x0a };
    const guint8 remote[6] = { 0x52, 0x54, 0, 0xaa, 0, 0x01 };

    if (who == PF)
        memcpy(mac, mac_pf, 6);
    else if (who == REMOTE)
        memcpy(mac, remote, 6);
    else {
        memcpy(mac, vm, 6);
        mac[5] = (guint8)(0x0a + who);
    }
}

static void
host_ip(int who, guint8 ip[4])
{
    const guint8 vm[4] = { 192, 0, 2, 10 };
    const guint8 remote[4] = { 198, 51, 100, 1 };

    memcpy(ip, who == REMOTE ? remote : vm, 4);
    if (who != REMOTE)
        ip[3] = (guint8)(10 + (who == PF ? 99 : who));
}

static VfsecNicPort *
port_new(VfsecSwitchMode mode)
{
    g_autoptr(GError) error = NULL;
    VfsecNicPortConfig cfg;
    VfsecNicPort *port;

    vfsec_nicport_config_init(&cfg);
    cfg.n_vfs = N_VFS;
    cfg.mode = mode;
    memcpy(cfg.agent.mac.b, mac_agent, 6);
    port = vfsec_nicport_new(&cfg, &error);
    g_assert_no_error(error);
    for (int fn = PF; fn < N_VFS; fn++) {
        VfsecSwitchFn st = { .has_mac = TRUE, .trust = TRUE, .spoofchk = TRUE };

        host_mac(fn, st.mac.b);
        if (fn == VF1) {
            st.trust = FALSE;
            st.has_port_tag = TRUE;
            st.port_tag = (VfsecPortTag){ VFSEC_WIRE_TPID_8021AD, VFSEC_WIRE_MD_BASE_DEFAULT, 0 };
        }
        g_assert_true(vfsec_switch_set_fn(vfsec_nicport_switch(port), fn, &st, &error));
    }
    return port;
}

/* The one's complement sum of a 20-byte IPv4 header: what goes into its
 * checksum field when that is 0, and 0 when the checksum is right. */
static guint16
ipv4_header_sum(const guint8 *ip)
{
    guint32 sum = 0;

    for (guint i = 0; i < 20; i += 2)
        sum += vfsec_wire_get16(ip + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

/* An untagged IPv4/UDP frame from @from to @to (host indexes) with @n bytes. */
static GByteArray *
udp_frame(int from, int to, const guint8 *dst_mac, gsize n)
{
    GByteArray *f = g_byte_array_new();
    guint8 h[14 + 20 + 8] = { 0 };
    guint8 *ip = h + 14;

    if (dst_mac)
        memcpy(h, dst_mac, 6);
    else
        host_mac(to, h);
    host_mac(from, h + 6);
    vfsec_wire_put16(h + 12, 0x0800);
    ip[0] = 0x45;
    ip[8] = 64;
    ip[9] = 17;
    vfsec_wire_put16(ip + 2, (guint16)(28 + n));
    host_ip(from, ip + 12);
    host_ip(to, ip + 16);
    vfsec_wire_put16(ip + 10, ipv4_header_sum(ip));
    vfsec_wire_put16(ip + 20, 4000);
    vfsec_wire_put16(ip + 22, 5000);
    vfsec_wire_put16(ip + 24, (guint16)(8 + n));
    g_byte_array_append(f, h, sizeof(h));
    for (gsize i = 0; i < n; i++) {
        guint8 b = (guint8)('A' + i % 26);

        g_byte_array_append(f, &b, 1);
    }
    return f;
}

/* An SA of @owner's SAD domain for traffic to @peer's address. */
static VfsecWireAddSa
sa_for(VfsecWireDir dir, int owner, int peer, guint32 spi)
{
    VfsecWireAddSa sa = {
        .key = { .family = 4, .proto = VFSEC_WIRE_PROTO_ESP, .spi = spi },
        .dir = dir,
        .alg = VFSEC_WIRE_ALG_AES_GCM_128,
        .mode = VFSEC_WIRE_MODE_TRANSPORT,
        .salt = 0x11223344 ^ spi,
        .key_len = 16,
        .replay_window = dir == VFSEC_WIRE_DIR_IN ? 64 : 0,
    };

    host_ip(peer, sa.key.dst);
    host_mac(owner, sa.key.mac.b);
    host_ip(owner, sa.src);
    for (guint i = 0; i < 16; i++)
        sa.key_bytes[i] = (guint8)(spi + i);
    return sa;
}

static VfsecEspSa *
esp_twin(const VfsecWireAddSa *sa, VfsecEspDir dir)
{
    g_autoptr(GError) error = NULL;
    VfsecEspSa *esp = vfsec_esp_sa_new(dir, sa->key.spi, sa->salt, sa->key_bytes, 16,
                                       dir == VFSEC_ESP_DIR_IN ? 64 : 0, &error);

    g_assert_no_error(error);
    return esp;
}

static GByteArray *
config_frame(const guint8 *src, const VfsecWireConfig *cfg)
{
    g_autoptr(GError) error = NULL;
    GByteArray *f = g_byte_array_new();
    VfsecWireConfig copy = *cfg;
    gssize n;

    memcpy(copy.l2.src.b, src, 6);
    memcpy(copy.l2.dst.b, mac_agent, 6);
    g_byte_array_set_size(f, VFSEC_WIRE_FRAME_MAX);
    n = vfsec_wire_config_encode(NULL, &copy, f->data, f->len, &error);
    g_assert_no_error(error);
    g_byte_array_set_size(f, (guint)n);
    return f;
}

/* The PF driver's side: sends @cfg from the PF, returns the op statuses'
 * reply (exactly one frame, to the PF). */
static VfsecWireConfig *
pf_request(VfsecNicPort *port, const VfsecWireConfig *cfg)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) f = config_frame(mac_pf, cfg);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    const VfsecFrameOut *o;
    VfsecWireConfig *reply;

    g_assert_true(vfsec_nicport_from_function(port, PF, f->data, f->len, out, &error));
    g_assert_cmpuint(out->len, ==, 1);
    o = &g_array_index(out, VfsecFrameOut, 0);
    g_assert_cmpint(o->egress, ==, VFSEC_EGRESS_FUNCTION);
    g_assert_cmpint(o->fn, ==, PF);
    reply = vfsec_wire_config_decode(NULL, o->frame->data, o->frame->len, VFSEC_WIRE_DECODE_STRICT,
                                     &error);
    g_assert_no_error(error);
    g_assert_cmpuint(reply->seq, ==, cfg->seq);
    return reply;
}

/* The mailbox flow: the PF adds @sa to the agent for @fn; outbound SAs also
 * go to @fn's driver model. */
static void
mailbox_add(VfsecNicPort *port, int fn, const VfsecWireAddSa *sa)
{
    g_autoptr(VfsecWireConfig) req = vfsec_wire_config_new(VFSEC_WIRE_KIND_REQUEST, 10);
    g_autoptr(VfsecWireConfig) reply = NULL;
    g_autoptr(GError) error = NULL;

    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = *sa;
    reply = pf_request(port, req);
    g_assert_cmpint(g_array_index(reply->ops, VfsecWireOp, 0).status, ==, VFSEC_WIRE_STATUS_OK);
    g_assert_true(vfsec_nicport_driver_add_sa(port, fn, sa, &error));
    g_assert_no_error(error);
}

static void
publish_macs(VfsecNicPort *port, const int *fns, guint n, guint32 generation)
{
    g_autoptr(VfsecWireConfig) req = vfsec_wire_config_new(VFSEC_WIRE_KIND_REQUEST, 20);
    g_autoptr(VfsecWireConfig) reply = NULL;
    VfsecWireOp *op = vfsec_wire_config_add(req, VFSEC_WIRE_OP_MAC_REPLACE);

    op->generation = generation;
    op->mac_entries = g_array_new(FALSE, TRUE, sizeof(VfsecWireMacEntry));
    for (guint i = 0; i < n; i++) {
        VfsecWireMacEntry e = { .n_tags = 0 };

        host_mac(fns[i], e.mac.b);
        g_array_append_val(op->mac_entries, e);
    }
    reply = pf_request(port, req);
    g_assert_cmpint(g_array_index(reply->ops, VfsecWireOp, 0).status, ==, VFSEC_WIRE_STATUS_OK);
}

static GArray *
send(VfsecNicPort *port, int fn, const GByteArray *f)
{
    g_autoptr(GError) error = NULL;
    GArray *out = vfsec_frame_list_new();

    g_assert_true(vfsec_nicport_from_function(port, fn, f->data, f->len, out, &error));
    g_assert_no_error(error);
    return out;
}

static const VfsecFrameOut *
only_output(GArray *out, VfsecEgress egress, int fn)
{
    const VfsecFrameOut *o;

    g_assert_cmpuint(out->len, ==, 1);
    o = &g_array_index(out, VfsecFrameOut, 0);
    g_assert_cmpint(o->egress, ==, egress);
    if (egress == VFSEC_EGRESS_FUNCTION)
        g_assert_cmpint(o->fn, ==, fn);
    return o;
}

static GByteArray *
decrypt_frame(VfsecEspSa *esp, const GByteArray *f, VfsecEspInfo *info)
{
    g_autoptr(GError) error = NULL;
    GByteArray *plain = g_byte_array_new();

    g_assert_cmpint(vfsec_esp_decrypt(esp, f->data + 14, f->len - 14, plain, info, &error), ==,
                    VFSEC_ESP_OK);
    g_assert_no_error(error);
    return plain;
}

/* ---- Quarantine: the same crafted frames from an untrusted VF and the PF ---- */

typedef enum { CRAFT_CONFIG, CRAFT_METADATA } Craft;

typedef struct {
    const char *name;
    int from;
    Craft craft;
    gboolean honoured;
} QuarantineCase;

static const QuarantineCase quarantine_cases[] = {
    { "untrusted-vf-config", VF1, CRAFT_CONFIG, FALSE },
    { "pf-config", PF, CRAFT_CONFIG, TRUE },
    { "untrusted-vf-metadata", VF1, CRAFT_METADATA, FALSE },
    { "pf-metadata", PF, CRAFT_METADATA, TRUE },
};

static void
test_quarantine(gconstpointer data)
{
    const QuarantineCase *tc = data;
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEPA);
    VfsecAgent *agent = vfsec_nicport_agent(port);
    const VfsecAgentCounters *c = vfsec_agent_counters(agent);
    VfsecWireAddSa sa = sa_for(VFSEC_WIRE_DIR_OUT, tc->from, REMOTE, 0x400);
    g_autoptr(GByteArray) crafted = NULL;
    g_autoptr(GArray) out = NULL;
    g_autoptr(GError) error = NULL;
    guint8 src[6];
    const VfsecFrameOut *o;

    host_mac(tc->from, src);
    if (tc->craft == CRAFT_CONFIG) {
        g_autoptr(VfsecWireConfig) req = vfsec_wire_config_new(VFSEC_WIRE_KIND_REQUEST, 77);

        vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = sa;
        crafted = config_frame(src, req);
    } else {
        /* The PF put an SA of the sender's own domain in the SAD; the sender
         * hand-crafts Tx metadata asking to use it (already ESP, so the
         * driver model leaves it alone). */
        g_autoptr(GByteArray) plain = udp_frame(tc->from, REMOTE, NULL, 40);
        VfsecWireMetadata md = {
            .offload = TRUE, .type = VFSEC_WIRE_MD_TX, .flags = VFSEC_WIRE_MD_FLAG_OFFLOAD,
            .next_header = 17, .l3_offset = 2, .esp_offset = 22,
        };
        guint8 esp[16] = { 0 };

        mailbox_add(port, tc->from, &sa);
        vfsec_wire_put32(esp, sa.key.spi);
        crafted = g_byte_array_new();
        g_byte_array_append(crafted, plain->data, 34);
        g_byte_array_append(crafted, esp, sizeof(esp));
        g_byte_array_append(crafted, plain->data + 34, plain->len - 34);
        crafted->data[14 + 9] = VFSEC_WIRE_PROTO_ESP;
        vfsec_wire_put16(crafted->data + 16, (guint16)(crafted->len - 14));
        g_assert_true(vfsec_wire_metadata_insert(NULL, &md, crafted, &error));
    }
    out = send(port, tc->from, crafted);
    if (!tc->honoured) {
        /* Stripped of the port tag, passed to the wire byte for byte. */
        o = only_output(out, VFSEC_EGRESS_UPLINK, 0);
        g_assert_cmpmem(o->frame->data, o->frame->len, crafted->data, crafted->len);
        g_assert_cmpuint(c->bypassed, ==, 1);
        g_assert_cmpuint(c->offloaded_tx, ==, 0);
        g_assert_cmpuint(vfsec_agent_sa_count(agent), ==, tc->craft == CRAFT_METADATA ? 1 : 0);
        return;
    }
    g_assert_cmpuint(c->bypassed, ==, 0);
    if (tc->craft == CRAFT_CONFIG) {
        o = only_output(out, VFSEC_EGRESS_FUNCTION, PF);
        g_assert_cmpuint(vfsec_agent_sa_count(agent), ==, 1);
        g_assert_cmpint(vfsec_wire_classify(NULL, o->frame->data, o->frame->len, NULL), ==,
                        VFSEC_WIRE_CLASS_CONFIG);
    } else {
        g_autoptr(VfsecEspSa) peer = esp_twin(&sa, VFSEC_ESP_DIR_IN);
        g_autoptr(GByteArray) clear = NULL;
        VfsecEspInfo info;

        o = only_output(out, VFSEC_EGRESS_UPLINK, 0);
        clear = decrypt_frame(peer, o->frame, &info);
        g_assert_cmpuint(c->offloaded_tx, ==, 1);
    }
}

/* A trusted VF (no port tag) cannot reach the agent's configuration at all. */
static void
test_trusted_vf_config_filtered(void)
{
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEPA);
    g_autoptr(VfsecWireConfig) req = vfsec_wire_config_new(VFSEC_WIRE_KIND_REQUEST, 5);
    g_autoptr(GByteArray) f = NULL;
    g_autoptr(GArray) out = NULL;
    guint8 src[6];

    host_mac(VF0, src);
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_REMOVE_ALL_SA);
    f = config_frame(src, req);
    out = send(port, VF0, f);
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(vfsec_switch_fn_counters(vfsec_nicport_switch(port), VF0)->config_drops, ==, 1);
    g_assert_cmpuint(vfsec_agent_counters(vfsec_nicport_agent(port))->cfg_frames, ==, 0);
}

/* ---- East-West ---- */

static void
test_east_west_veb(void)
{
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEB);
    g_autoptr(GByteArray) f = udp_frame(VF0, VF2, NULL, 64);
    g_autoptr(GArray) out = NULL;
    const VfsecFrameOut *o;
    const VfsecAgentCounters *c = vfsec_agent_counters(vfsec_nicport_agent(port));
    VfsecAgentCounters zero = { 0 };

    out = send(port, VF0, f);
    o = only_output(out, VFSEC_EGRESS_FUNCTION, VF2);
    g_assert_cmpmem(o->frame->data, o->frame->len, f->data, f->len);
    /* Never reached the agent. */
    g_assert_cmpmem(c, sizeof(*c), &zero, sizeof(zero));
    g_assert_cmpuint(vfsec_switch_counters(vfsec_nicport_switch(port))->local_switched, ==, 1);
}

typedef struct {
    VfsecNicPort *port;
    VfsecWireAddSa out_sa;   /* VF0 -> VF2 */
    VfsecWireAddSa in_sa;    /* VF2's inbound twin */
    guint tap_esp[VFSEC_AGENT_TAP_LAST];
    guint tap_all[VFSEC_AGENT_TAP_LAST];
} EastWest;

static void
tap_cb(VfsecAgentTapPoint point, const guint8 *frame, gsize len, gpointer user_data)
{
    EastWest *ew = user_data;

    ew->tap_all[point]++;
    if (len > 14 + 20 && vfsec_wire_get16(frame + 12) == 0x0800 && frame[14 + 9] == 50)
        ew->tap_esp[point]++;
}

/* VEPA, VF0 and VF2 published, an SA pair VF0 -> VF2 (VF0's driver has the
 * outbound one). */
static void
east_west_setup(EastWest *ew)
{
    const int published[] = { VF0, VF2 };

    memset(ew, 0, sizeof(*ew));
    ew->port = port_new(VFSEC_SWITCH_VEPA);
    publish_macs(ew->port, published, G_N_ELEMENTS(published), 1);
    ew->out_sa = sa_for(VFSEC_WIRE_DIR_OUT, VF0, VF2, 0x500);
    ew->in_sa = sa_for(VFSEC_WIRE_DIR_IN, VF2, VF2, 0x500);
    mailbox_add(ew->port, VF0, &ew->out_sa);
    mailbox_add(ew->port, VF2, &ew->in_sa);
    vfsec_agent_set_tap(vfsec_nicport_agent(ew->port), tap_cb, ew, NULL);
}

static void
test_east_west_vepa_hairpin(void)
{
    EastWest ew;
    g_autoptr(GByteArray) f = NULL;
    g_autoptr(GArray) out = NULL;
    const VfsecFrameOut *o;
    const VfsecAgentCounters *c;

    east_west_setup(&ew);
    c = vfsec_agent_counters(vfsec_nicport_agent(ew.port));
    f = udp_frame(VF0, VF2, NULL, 64);
    out = send(ew.port, VF0, f);
    /* VF2 gets exactly what VF0 sent; in between it was ESP. */
    o = only_output(out, VFSEC_EGRESS_FUNCTION, VF2);
    g_assert_cmpmem(o->frame->data, o->frame->len, f->data, f->len);
    g_assert_cmpuint(c->hairpinned, ==, 1);
    g_assert_cmpuint(c->hairpinned_esp, ==, 1);
    g_assert_cmpuint(c->offloaded_tx, ==, 1);
    g_assert_cmpuint(c->decrypted_rx, ==, 1);
    g_assert_cmpuint(c->uplink_tx, ==, 0);
    g_assert_cmpuint(ew.tap_esp[VFSEC_AGENT_TAP_HAIRPIN], ==, 1);
    g_assert_cmpuint(ew.tap_all[VFSEC_AGENT_TAP_UPLINK_TX], ==, 0);
    g_assert_cmpuint(vfsec_nicport_driver_counters(ew.port, VF0)->esp_tx, ==, 1);
    g_assert_cmpuint(vfsec_nicport_driver_counters(ew.port, VF2)->rx_md_stripped, ==, 1);
    vfsec_nicport_free(ew.port);
}

static void
test_east_west_unpublished(void)
{
    EastWest ew;
    g_autoptr(GByteArray) f = NULL;
    g_autoptr(GArray) out = NULL;
    const VfsecFrameOut *o;

    east_west_setup(&ew);
    f = udp_frame(VF0, VF3, NULL, 64);
    out = send(ew.port, VF0, f);
    /* VF3 is not in the table: the frame leaves by the uplink, in clear
     * (VF0 has no SA for VF3's address). */
    o = only_output(out, VFSEC_EGRESS_UPLINK, 0);
    g_assert_cmpmem(o->frame->data, o->frame->len, f->data, f->len);
    g_assert_cmpuint(vfsec_agent_counters(vfsec_nicport_agent(ew.port))->hairpinned, ==, 0);
    g_assert_cmpuint(ew.tap_all[VFSEC_AGENT_TAP_UPLINK_TX], ==, 1);
    vfsec_nicport_free(ew.port);
}

static void
test_vepa_broadcast(void)
{
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEPA);
    g_autoptr(GByteArray) f = udp_frame(VF0, REMOTE, mac_bcast, 20);
    g_autoptr(GArray) out = NULL;
    guint seen[N_VFS + 2] = { 0 };

    out = send(port, VF0, f);
    for (guint i = 0; i < out->len; i++) {
        const VfsecFrameOut *o = &g_array_index(out, VfsecFrameOut, i);

        g_assert_cmpmem(o->frame->data, o->frame->len, f->data, f->len);
        seen[o->egress == VFSEC_EGRESS_UPLINK ? N_VFS + 1 : o->fn + 1]++;
    }
    /* The wire, and every function but the sender (VF1 untagged: its port
     * tag is an upstream thing). */
    g_assert_cmpuint(out->len, ==, 5);
    g_assert_cmpuint(seen[N_VFS + 1], ==, 1);
    g_assert_cmpuint(seen[PF + 1] + seen[VF1 + 1] + seen[VF2 + 1] + seen[VF3 + 1], ==, 4);
    g_assert_cmpuint(seen[VF0 + 1], ==, 0);
}

static void
test_hairpin_gating(void)
{
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEB);
    VfsecAgent *agent = vfsec_nicport_agent(port);

    g_assert_true(vfsec_nicport_get_hairpin(port));
    g_assert_false(vfsec_agent_get_hairpin(agent));
    vfsec_nicport_set_mode(port, VFSEC_SWITCH_VEPA);
    g_assert_true(vfsec_agent_get_hairpin(agent));
    vfsec_nicport_set_hairpin(port, FALSE);
    g_assert_false(vfsec_agent_get_hairpin(agent));
    vfsec_nicport_set_hairpin(port, TRUE);
    g_assert_true(vfsec_agent_get_hairpin(agent));
    g_assert_cmpint(vfsec_nicport_get_mode(port), ==, VFSEC_SWITCH_VEPA);
}

/* ---- The VF-driver model ---- */

static void
test_trusted_tx_offload(void)
{
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEB);
    VfsecWireAddSa sa = sa_for(VFSEC_WIRE_DIR_OUT, VF0, REMOTE, 0x600);
    g_autoptr(VfsecEspSa) peer = esp_twin(&sa, VFSEC_ESP_DIR_IN);
    g_autoptr(GByteArray) f = udp_frame(VF0, REMOTE, NULL, 100);
    g_autoptr(GByteArray) clear = NULL;
    g_autoptr(GArray) out = NULL;
    const VfsecFrameOut *o;
    VfsecEspInfo info;

    mailbox_add(port, VF0, &sa);
    out = send(port, VF0, f);
    o = only_output(out, VFSEC_EGRESS_UPLINK, 0);
    g_assert_cmpmem(o->frame->data, 14, f->data, 14);
    clear = decrypt_frame(peer, o->frame, &info);
    g_assert_cmpmem(clear->data, clear->len, f->data + 14, f->len - 14);
    g_assert_cmpuint(info.iv, ==, 1);
    g_assert_cmpuint(vfsec_nicport_driver_counters(port, VF0)->esp_tx, ==, 1);

    /* Forgotten by the driver (reclaim): the next packet goes in clear. */
    g_assert_cmpuint(vfsec_nicport_driver_clear(port, VF0), ==, 1);
    g_array_unref(out);
    out = send(port, VF0, f);
    o = only_output(out, VFSEC_EGRESS_UPLINK, 0);
    g_assert_cmpmem(o->frame->data, o->frame->len, f->data, f->len);
}

static void
test_untrusted_tx_bypassed(void)
{
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEB);
    VfsecWireAddSa sa = sa_for(VFSEC_WIRE_DIR_OUT, VF1, REMOTE, 0x700);
    g_autoptr(GByteArray) f = udp_frame(VF1, REMOTE, NULL, 100);
    g_autoptr(GArray) out = NULL;
    g_autoptr(GError) error = NULL;
    const VfsecFrameOut *o;
    VfsecWireMetadata md;
    g_autoptr(GByteArray) inner = g_byte_array_new();
    const VfsecAgentCounters *c = vfsec_agent_counters(vfsec_nicport_agent(port));

    mailbox_add(port, VF1, &sa);
    out = send(port, VF1, f);
    /* The driver model added Tx metadata, the port tag wrapped it, the agent
     * bypassed it: the wire sees the VF's own metadata and the payload in
     * clear, and the SA was never used. */
    o = only_output(out, VFSEC_EGRESS_UPLINK, 0);
    g_assert_cmpuint(vfsec_nicport_driver_counters(port, VF1)->esp_tx, ==, 1);
    g_assert_cmpint(vfsec_wire_classify(NULL, o->frame->data, o->frame->len, NULL), ==,
                    VFSEC_WIRE_CLASS_METADATA);
    g_byte_array_append(inner, o->frame->data, o->frame->len);
    g_assert_true(vfsec_wire_metadata_strip(NULL, inner, &md, &error));
    g_assert_cmpmem(inner->data + inner->len - 100, 100, f->data + f->len - 100, 100);
    /* The placed packet: protocol 50, 16 bytes longer, checksum still right. */
    g_assert_cmpuint(inner->data[14 + 9], ==, VFSEC_WIRE_PROTO_ESP);
    g_assert_cmpuint(vfsec_wire_get16(inner->data + 16), ==, vfsec_wire_get16(f->data + 16) + 16);
    g_assert_cmphex(ipv4_header_sum(inner->data + 14), ==, 0);
    g_assert_cmpuint(c->bypassed, ==, 1);
    g_assert_cmpuint(c->offloaded_tx, ==, 0);
}

static void
test_tso_burst(void)
{
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEB);
    VfsecWireAddSa sa = sa_for(VFSEC_WIRE_DIR_OUT, VF0, REMOTE, 0x800);
    g_autoptr(VfsecEspSa) peer = esp_twin(&sa, VFSEC_ESP_DIR_IN);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GError) error = NULL;
    GByteArray *segs[4];
    const guint8 *data[4];
    gsize lens[4];

    mailbox_add(port, VF0, &sa);
    for (guint i = 0; i < 4; i++) {
        segs[i] = udp_frame(VF0, REMOTE, NULL, 200);
        segs[i]->data[14 + 28] = (guint8)i;
        data[i] = segs[i]->data;
        lens[i] = segs[i]->len;
    }
    g_assert_true(vfsec_nicport_from_function_tso(port, VF0, data, lens, 4, 200, out, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(out->len, ==, 4);
    for (guint i = 0; i < 4; i++) {
        const VfsecFrameOut *o = &g_array_index(out, VfsecFrameOut, i);
        g_autoptr(GByteArray) clear = NULL;
        VfsecEspInfo info;

        g_assert_cmpint(o->egress, ==, VFSEC_EGRESS_UPLINK);
        clear = decrypt_frame(peer, o->frame, &info);
        /* One driver IV (1) for the burst; the agent made them 1, 2, 3, 4. */
        g_assert_cmpuint(info.iv, ==, 1 + i);
        g_assert_cmpuint(info.seq, ==, 1 + i);
        g_assert_cmpmem(clear->data, clear->len, segs[i]->data + 14, segs[i]->len - 14);
        g_byte_array_unref(segs[i]);
    }
    g_assert_false(vfsec_nicport_from_function_tso(port, VF0, data, lens, 0, 0, out, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
}

/* ---- From the wire ---- */

typedef struct {
    const char *name;
    int to;
    gboolean tamper;
    gboolean delivered;
} RxCase;

static const RxCase rx_cases[] = {
    { "trusted-vf", VF0, FALSE, TRUE },
    { "untrusted-vf", VF1, FALSE, TRUE },
    { "trusted-vf-integrity-fail", VF0, TRUE, FALSE },
    { "untrusted-vf-integrity-fail", VF1, TRUE, TRUE },
};

static void
test_rx(gconstpointer data)
{
    const RxCase *tc = data;
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEB);
    VfsecWireAddSa sa = sa_for(VFSEC_WIRE_DIR_IN, tc->to, tc->to, 0x900);
    g_autoptr(VfsecEspSa) remote = esp_twin(&sa, VFSEC_ESP_DIR_OUT);
    g_autoptr(GByteArray) plain = udp_frame(REMOTE, tc->to, NULL, 50);
    g_autoptr(GByteArray) esp = g_byte_array_new();
    g_autoptr(GByteArray) wire = g_byte_array_new();
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GError) error = NULL;
    const VfsecFrameOut *o;

    mailbox_add(port, tc->to, &sa);
    g_assert_cmpint(vfsec_esp_encrypt(remote, plain->data + 14, plain->len - 14, 0, esp, NULL, &error),
                    ==, VFSEC_ESP_OK);
    g_byte_array_append(wire, plain->data, 14);
    g_byte_array_append(wire, esp->data, esp->len);
    if (tc->tamper)
        wire->data[wire->len - 1] ^= 0x80;
    vfsec_nicport_from_uplink(port, wire->data, wire->len, out);
    if (!tc->delivered) {
        /* A trusted VF's driver sees INTEGRITY_FAIL and drops, like xfrm. */
        g_assert_cmpuint(out->len, ==, 0);
        g_assert_cmpuint(vfsec_nicport_driver_counters(port, tc->to)->rx_crypto_drops, ==, 1);
        return;
    }
    o = only_output(out, VFSEC_EGRESS_FUNCTION, tc->to);
    /* No metadata reaches a netdev; an untrusted VF gets the ESP as it came
     * when the agent could not verify it (its metadata was stripped). */
    if (tc->tamper)
        g_assert_cmpmem(o->frame->data, o->frame->len, wire->data, wire->len);
    else
        g_assert_cmpmem(o->frame->data, o->frame->len, plain->data, plain->len);
    if (tc->to == VF1)
        g_assert_cmpuint(vfsec_switch_fn_counters(vfsec_nicport_switch(port), VF1)->md_stripped, ==, 1);
    else
        g_assert_cmpuint(vfsec_nicport_driver_counters(port, tc->to)->rx_md_stripped, ==, 1);
}

/* ---- Bad input ---- */

static void
test_bad_input(void)
{
    g_autoptr(VfsecNicPort) port = port_new(VFSEC_SWITCH_VEPA);
    VfsecWireAddSa sa = sa_for(VFSEC_WIRE_DIR_OUT, VF0, REMOTE, 0xa00);
    g_autoptr(GByteArray) f = udp_frame(VF0, REMOTE, NULL, 40);
    g_autoptr(GByteArray) big = g_byte_array_new();
    g_autoptr(GArray) out = vfsec_frame_list_new();
    const int from[] = { PF, VF0, VF1 };
    GError *error = NULL;

    mailbox_add(port, VF0, &sa);
    /* Every truncation from every kind of function and from the wire: no
     * crash (ASan run), no SA gained or lost. */
    for (gsize len = 0; len <= f->len; len++) {
        g_autofree guint8 *cut = g_memdup2(f->data, len);

        for (guint i = 0; i < G_N_ELEMENTS(from); i++) {
            g_assert_true(vfsec_nicport_from_function(port, from[i], cut, len, out, NULL));
        }
        vfsec_nicport_from_uplink(port, cut, len, out);
    }
    g_assert_cmpuint(vfsec_agent_sa_count(vfsec_nicport_agent(port)), ==, 1);

    g_byte_array_set_size(big, VFSEC_NICPORT_FRAME_MAX + 1);
    memset(big->data, 0xee, big->len);
    g_array_set_size(out, 0);
    g_assert_true(vfsec_nicport_from_function(port, VF0, big->data, big->len, out, NULL));
    vfsec_nicport_from_uplink(port, big->data, big->len, out);
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(vfsec_nicport_counters(port)->oversized_drops, ==, 2);

    g_assert_false(vfsec_nicport_from_function(port, N_VFS, f->data, f->len, out, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(vfsec_nicport_driver_add_sa(port, -9, &sa, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(vfsec_nicport_driver_add_sa(port, VF0, &sa, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_clear_error(&error);
    g_assert_cmpuint(vfsec_nicport_counters(port)->loop_drops, ==, 0);
}

/* ---- Counters ---- */

static void
collect(const char *name, guint64 value, gpointer user_data)
{
    g_assert_false(g_hash_table_contains(user_data, name));
    g_hash_table_insert(user_data, g_strdup(name), g_memdup2(&value, sizeof(value)));
}

static void
test_counters(void)
{
    EastWest ew;
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GByteArray) f = NULL;
    g_autoptr(GArray) out = NULL;
    const VfsecAgentCounters *c;

    east_west_setup(&ew);
    c = vfsec_agent_counters(vfsec_nicport_agent(ew.port));
    f = udp_frame(VF0, VF2, NULL, 10);
    out = send(ew.port, VF0, f);
    vfsec_nicport_counters_foreach(ew.port, collect, seen);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "agent.hairpinned_esp"), ==,
                     c->hairpinned_esp);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "agent.cfg_ok"), ==, c->cfg_ok);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "agent.cfg_ok"), ==, 3);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "vf0.driver_esp_tx"), ==, 1);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "vf2.driver_rx_md_stripped"), ==, 1);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "vf0.rx_frames"), ==, 1);
    g_assert_cmpuint(*(guint64 *)g_hash_table_lookup(seen, "port.from_functions"), ==, 4);
    g_assert_nonnull(g_hash_table_lookup(seen, "pf.driver_esp_tx"));
    g_assert_nonnull(g_hash_table_lookup(seen, "vf3.spoof_drops"));
    g_assert_nonnull(g_hash_table_lookup(seen, "switch.flooded"));
    vfsec_nicport_free(ew.port);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(quarantine_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicport/quarantine/%s", quarantine_cases[i].name);

        g_test_add_data_func(path, &quarantine_cases[i], test_quarantine);
    }
    g_test_add_func("/nicport/quarantine/trusted-vf-config-filtered", test_trusted_vf_config_filtered);
    g_test_add_func("/nicport/east-west/veb", test_east_west_veb);
    g_test_add_func("/nicport/east-west/vepa-hairpin", test_east_west_vepa_hairpin);
    g_test_add_func("/nicport/east-west/unpublished", test_east_west_unpublished);
    g_test_add_func("/nicport/east-west/broadcast", test_vepa_broadcast);
    g_test_add_func("/nicport/hairpin-gating", test_hairpin_gating);
    g_test_add_func("/nicport/driver/trusted-tx-offload", test_trusted_tx_offload);
    g_test_add_func("/nicport/driver/untrusted-tx-bypassed", test_untrusted_tx_bypassed);
    g_test_add_func("/nicport/driver/tso-burst", test_tso_burst);
    for (gsize i = 0; i < G_N_ELEMENTS(rx_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicport/rx/%s", rx_cases[i].name);

        g_test_add_data_func(path, &rx_cases[i], test_rx);
    }
    g_test_add_func("/nicport/bad-input", test_bad_input);
    g_test_add_func("/nicport/counters", test_counters);
    return g_test_run();
}
