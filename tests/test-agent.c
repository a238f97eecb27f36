/* test-agent.c: the emulated inline IPsec agent — every configuration op,
 * batching, refused frames, bypass, Tx offload, TSO, Rx SAD domains,
 * integrity and replay, hairpin. */
#include <glib.h>
#include <string.h>

#include "vfsec-agent.h"
#include "vfsec-error.h"
#include "vfsec-esp.h"
#include "vfsec-wire.h"

#define PF VFSEC_FN_PF
#define SALT 0x0a0b0c0d
#define IV_NONE 0

static const guint8 mac_pf[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const guint8 mac_agent[6] = { 0x02, 0, 0, 0, 0, 0xfe };
static const guint8 mac_a[6] = { 0x52, 0x54, 0, 0, 0, 0x0a };
static const guint8 mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0x0b };
static const guint8 mac_remote[6] = { 0x52, 0x54, 0, 0xaa, 0, 0x01 };
static const guint8 ip_local[4] = { 192, 0, 2, 1 };
static const guint8 ip_peer[4] = { 192, 0, 2, 2 };

static guint32 next_seq = 1;

static VfsecAgent *
agent_new(guint32 capacity, gboolean hairpin)
{
    g_autoptr(GError) error = NULL;
    VfsecAgentConfig cfg;
    VfsecAgent *agent;

    vfsec_agent_config_init(&cfg);
    cfg.sad_capacity = capacity;
    cfg.hairpin = hairpin;
    memcpy(cfg.mac.b, mac_agent, 6);
    agent = vfsec_agent_new(&cfg, &error);
    g_assert_no_error(error);
    return agent;
}

/* An AES-GCM-128 SA to 192.0.2.2 with local MAC @mac, optionally behind an
 * 802.1Q @vid; @seed varies the key. */
static VfsecWireAddSa
sa_make(VfsecWireDir dir, guint32 spi, const guint8 *mac, guint16 vid, guint8 seed)
{
    VfsecWireAddSa sa = {
        .key = { .family = 4, .proto = VFSEC_WIRE_PROTO_ESP, .spi = spi },
        .dir = dir,
        .alg = VFSEC_WIRE_ALG_AES_GCM_128,
        .mode = VFSEC_WIRE_MODE_TRANSPORT,
        .salt = SALT + seed,
        .key_len = 16,
        .replay_window = dir == VFSEC_WIRE_DIR_IN ? 32 : 0,
    };

    memcpy(sa.key.dst, ip_peer, 4);
    memcpy(sa.key.mac.b, mac, 6);
    if (vid) {
        sa.key.n_tags = 1;
        sa.key.tags[0] = (VfsecWireVlan){ VFSEC_WIRE_TPID_8021Q, vid };
    }
    for (guint i = 0; i < 16; i++)
        sa.key_bytes[i] = (guint8)(seed * 16 + i);
    memcpy(sa.src, ip_local, 4);
    return sa;
}

/* The host side's twin of @sa (the other direction, same key and salt). */
static VfsecEspSa *
esp_twin(const VfsecWireAddSa *sa, VfsecEspDir dir)
{
    g_autoptr(GError) error = NULL;
    VfsecEspSa *esp = vfsec_esp_sa_new(dir, sa->key.spi, sa->salt, sa->key_bytes, sa->key_len,
                                       dir == VFSEC_ESP_DIR_IN ? 64 : 0, &error);

    g_assert_no_error(error);
    return esp;
}

static VfsecWireConfig *
request_new(void)
{
    VfsecWireConfig *req = vfsec_wire_config_new(VFSEC_WIRE_KIND_REQUEST, next_seq++);

    memcpy(req->l2.dst.b, mac_agent, 6);
    memcpy(req->l2.src.b, mac_pf, 6);
    return req;
}

static GByteArray *
request_encode(const VfsecWireConfig *req)
{
    g_autoptr(GError) error = NULL;
    GByteArray *frame = g_byte_array_new();
    gssize n;

    g_byte_array_set_size(frame, VFSEC_WIRE_FRAME_MAX);
    n = vfsec_wire_config_encode(NULL, req, frame->data, frame->len, &error);
    g_assert_no_error(error);
    g_byte_array_set_size(frame, (guint)n);
    return frame;
}

/* Sends the request @frame from the PF; returns the decoded reply. */
static VfsecWireConfig *
send_frame(VfsecAgent *agent, const GByteArray *frame, guint32 seq)
{
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GError) error = NULL;
    const VfsecFrameOut *o;
    VfsecWireConfig *reply;

    vfsec_agent_from_switch(agent, frame->data, frame->len, PF, out);
    g_assert_cmpuint(out->len, ==, 1);
    o = &g_array_index(out, VfsecFrameOut, 0);
    g_assert_cmpint(o->egress, ==, VFSEC_EGRESS_SWITCH);
    g_assert_cmpint(o->fn, ==, PF);
    g_assert_true(o->flags & VFSEC_FRAME_REPLY);
    reply = vfsec_wire_config_decode(NULL, o->frame->data, o->frame->len, VFSEC_WIRE_DECODE_STRICT,
                                     &error);
    g_assert_no_error(error);
    g_assert_cmpint(reply->kind, ==, VFSEC_WIRE_KIND_REPLY);
    g_assert_cmpuint(reply->seq, ==, seq);
    g_assert_cmpmem(reply->l2.dst.b, 6, mac_pf, 6);
    g_assert_cmpmem(reply->l2.src.b, 6, mac_agent, 6);
    return reply;
}

static VfsecWireConfig *
send_request(VfsecAgent *agent, const VfsecWireConfig *req)
{
    g_autoptr(GByteArray) frame = request_encode(req);

    return send_frame(agent, frame, req->seq);
}

static const VfsecWireOp *
reply_op(const VfsecWireConfig *reply, guint i)
{
    g_assert_cmpuint(i, <, reply->ops->len);
    return &g_array_index(reply->ops, VfsecWireOp, i);
}

/* ADD_SA @sa; asserts @status and returns the reply value. */
static guint32
add_sa(VfsecAgent *agent, const VfsecWireAddSa *sa, VfsecWireStatus status)
{
    g_autoptr(VfsecWireConfig) req = request_new();
    g_autoptr(VfsecWireConfig) reply = NULL;

    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = *sa;
    reply = send_request(agent, req);
    g_assert_cmpint(reply_op(reply, 0)->status, ==, status);
    return reply_op(reply, 0)->value;
}

/* One line per SA (index, key, direction), for before/after comparisons. */
static char *
sad_string(const VfsecAgent *agent)
{
    g_autoptr(GArray) dump = vfsec_agent_sad_dump(agent);
    GString *out = g_string_new(NULL);

    for (guint i = 0; i < dump->len; i++) {
        const VfsecAgentSaInfo *info = &g_array_index(dump, VfsecAgentSaInfo, i);
        g_autofree char *key = vfsec_wire_sa_key_describe(&info->key);

        g_string_append_printf(out, "%u %s dir %d\n", info->index, key, info->dir);
    }
    return g_string_free(out, FALSE);
}

/* ---- Packets ---- */

static guint32
csum_add(guint32 sum, const guint8 *p, gsize len)
{
    for (gsize i = 0; i < len; i += 2)
        sum += (guint32)(p[i] << 8) | (i + 1 < len ? p[i + 1] : 0);
    return sum;
}

static guint16
csum_fold(guint32 sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

/* An IPv4 packet 192.0.2.1 -> 192.0.2.2, protocol @proto, around @l4. */
static GByteArray *
ipv4_packet(guint8 proto, const guint8 *l4, gsize len)
{
    GByteArray *pkt = g_byte_array_new();
    guint8 h[20] = { 0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto };

    memcpy(h + 12, ip_local, 4);
    memcpy(h + 16, ip_peer, 4);
    vfsec_wire_put16(h + 2, (guint16)(20 + len));
    vfsec_wire_put16(h + 10, csum_fold(csum_add(0, h, 20)));
    g_byte_array_append(pkt, h, 20);
    g_byte_array_append(pkt, l4, (guint)len);
    return pkt;
}

/* A UDP datagram 1234 -> 5678 (checksum 0) of @n payload bytes. */
static GByteArray *
udp_packet(gsize n)
{
    g_autofree guint8 *l4 = g_malloc0(8 + n);

    vfsec_wire_put16(l4, 1234);
    vfsec_wire_put16(l4 + 2, 5678);
    vfsec_wire_put16(l4 + 4, (guint16)(8 + n));
    for (gsize i = 0; i < n; i++)
        l4[8 + i] = (guint8)('a' + i % 26);
    return ipv4_packet(17, l4, 8 + n);
}

/* dst, src, an optional 802.1Q @vid, IPv4 ethertype, @pkt. */
static GByteArray *
eth_frame(const guint8 *dst, const guint8 *src, guint16 vid, const GByteArray *pkt)
{
    GByteArray *f = g_byte_array_new();
    guint8 b[4];

    g_byte_array_append(f, dst, 6);
    g_byte_array_append(f, src, 6);
    if (vid) {
        vfsec_wire_put16(b, VFSEC_WIRE_TPID_8021Q);
        vfsec_wire_put16(b + 2, vid);
        g_byte_array_append(f, b, 4);
    }
    vfsec_wire_put16(b, 0x0800);
    g_byte_array_append(f, b, 2);
    g_byte_array_append(f, pkt->data, pkt->len);
    return f;
}

/* What a driver hands the agent: @plain (IPv4) turned into protocol 50 with
 * the placed ESP header (@spi, seq 0, @iv), under Tx metadata. */
static GByteArray *
placed_frame(const guint8 *src, guint16 vid, const GByteArray *plain, guint32 spi, guint64 iv,
             guint16 mss)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) pkt = g_byte_array_new();
    GByteArray *f;
    guint8 esp[16] = { 0 };
    VfsecWireMetadata md = {
        .offload = TRUE, .type = VFSEC_WIRE_MD_TX,
        .flags = VFSEC_WIRE_MD_FLAG_OFFLOAD | (mss ? VFSEC_WIRE_MD_FLAG_TSO : 0),
        .next_header = plain->data[9], .mss = mss,
        .l3_offset = vid ? 6 : 2,
    };

    md.esp_offset = md.l3_offset + 20;
    vfsec_wire_put32(esp, spi);
    vfsec_wire_put32(esp + 8, (guint32)(iv >> 32));
    vfsec_wire_put32(esp + 12, (guint32)iv);
    g_byte_array_append(pkt, plain->data, 20);
    g_byte_array_append(pkt, esp, sizeof(esp));
    g_byte_array_append(pkt, plain->data + 20, plain->len - 20);
    pkt->data[9] = VFSEC_WIRE_PROTO_ESP;
    vfsec_wire_put16(pkt->data + 2, (guint16)pkt->len);
    f = eth_frame(mac_remote, src, vid, pkt);
    g_assert_true(vfsec_wire_metadata_insert(NULL, &md, f, &error));
    g_assert_no_error(error);
    return f;
}

/* The IP packet of a frame without metadata (after its VLAN tags). */
static const guint8 *
frame_ip(const GByteArray *f, gsize *len)
{
    VfsecFrameL2 l2;

    g_assert_true(vfsec_frame_l2_parse(f->data, f->len, &l2));
    g_assert_cmpuint(l2.l3_offset, !=, 0);
    *len = f->len - l2.l3_offset;
    return f->data + l2.l3_offset;
}

/* Decrypts the ESP frame @f with @esp; returns the plaintext IP packet and
 * the ESP header fields in @info. */
static GByteArray *
decrypt_frame(VfsecEspSa *esp, const GByteArray *f, VfsecEspInfo *info)
{
    g_autoptr(GError) error = NULL;
    GByteArray *plain = g_byte_array_new();
    gsize len;
    const guint8 *ip = frame_ip(f, &len);

    g_assert_cmpint(vfsec_esp_decrypt(esp, ip, len, plain, info, &error), ==, VFSEC_ESP_OK);
    g_assert_no_error(error);
    return plain;
}

static const VfsecFrameOut *
only_output(GArray *out, VfsecEgress egress)
{
    const VfsecFrameOut *o;

    g_assert_cmpuint(out->len, ==, 1);
    o = &g_array_index(out, VfsecFrameOut, 0);
    g_assert_cmpint(o->egress, ==, egress);
    return o;
}

/* ---- Configuration ops ---- */

/* Three SAD domains that share destination, protocol and SPI: MAC A, MAC B,
 * and MAC A behind VLAN 100. */
enum { SA_A, SA_B, SA_A_VLAN, N_DOMAINS };

static VfsecWireAddSa
domain_sa(VfsecWireDir dir, guint32 spi, int domain)
{
    static const struct {
        const guint8 *mac;
        guint16 vid;
    } domains[N_DOMAINS] = { { mac_a, 0 }, { mac_b, 0 }, { mac_a, 100 } };

    g_assert_true(domain >= 0 && domain < N_DOMAINS);
    return sa_make(dir, spi, domains[domain].mac, domains[domain].vid,
                   (guint8)(dir * N_DOMAINS + domain + 1));
}

static VfsecWireAddSa
test_sa(int domain)
{
    return domain_sa(VFSEC_WIRE_DIR_OUT, 0x100, domain);
}

static VfsecWireMacEntry
test_mac(int which)
{
    VfsecWireMacEntry e = { .n_tags = which == 2 ? 1 : 0 };

    memcpy(e.mac.b, which == 0 ? mac_a : mac_b, 6);
    if (which == 2)
        e.tags[0] = (VfsecWireVlan){ VFSEC_WIRE_TPID_8021Q, 100 };
    return e;
}

/* One op of the scripted sequence and the answer it must get. */
typedef struct {
    VfsecWireOpcode opcode;
    int arg;              /* ADD/REMOVE_SA: a test SA; MAC_ADD/REMOVE: a test MAC;
                           * MAC_REPLACE: a bitmask of test MACs */
    gboolean by_key;      /* REMOVE_SA */
    guint32 index;        /* REMOVE_SA by index */
    guint32 spi;          /* REMOVE_SA by index; 0: the SA's */
    guint32 generation;   /* MAC_REPLACE */
    VfsecWireStatus status;
    guint32 value;
} OpStep;

static const OpStep op_steps[] = {
    { VFSEC_WIRE_OP_ADD_SA, SA_A, .status = VFSEC_WIRE_STATUS_OK, .value = 0 },
    { VFSEC_WIRE_OP_ADD_SA, SA_A, .status = VFSEC_WIRE_STATUS_DUPLICATE_KEY, .value = 0 },
    /* Same destination, proto and SPI: other SAD domains (MAC, VLAN). */
    { VFSEC_WIRE_OP_ADD_SA, SA_B, .status = VFSEC_WIRE_STATUS_OK, .value = 1 },
    { VFSEC_WIRE_OP_ADD_SA, SA_A_VLAN, .status = VFSEC_WIRE_STATUS_OK, .value = 2 },
    { VFSEC_WIRE_OP_REMOVE_SA, SA_B, .index = 1, .spi = 0x999, .status = VFSEC_WIRE_STATUS_NO_SUCH_SA },
    { VFSEC_WIRE_OP_REMOVE_SA, SA_B, .index = 1, .status = VFSEC_WIRE_STATUS_OK },
    { VFSEC_WIRE_OP_REMOVE_SA, SA_B, .index = 1, .status = VFSEC_WIRE_STATUS_NO_SUCH_SA },
    { VFSEC_WIRE_OP_REMOVE_SA, SA_A_VLAN, .by_key = TRUE, .status = VFSEC_WIRE_STATUS_OK },
    { VFSEC_WIRE_OP_REMOVE_SA, SA_A_VLAN, .by_key = TRUE, .status = VFSEC_WIRE_STATUS_NO_SUCH_SA },
    { VFSEC_WIRE_OP_MAC_ADD, 0, .status = VFSEC_WIRE_STATUS_OK, .value = 1 },
    { VFSEC_WIRE_OP_MAC_ADD, 0, .status = VFSEC_WIRE_STATUS_OK, .value = 1 },
    { VFSEC_WIRE_OP_MAC_ADD, 1, .status = VFSEC_WIRE_STATUS_OK, .value = 2 },
    { VFSEC_WIRE_OP_MAC_REMOVE, 2, .status = VFSEC_WIRE_STATUS_NO_SUCH_MAC },
    { VFSEC_WIRE_OP_MAC_REMOVE, 1, .status = VFSEC_WIRE_STATUS_OK, .value = 1 },
    { VFSEC_WIRE_OP_MAC_REPLACE, 0x6, .generation = 5, .status = VFSEC_WIRE_STATUS_OK, .value = 5 },
    { VFSEC_WIRE_OP_MAC_REPLACE, 0x1, .generation = 5, .status = VFSEC_WIRE_STATUS_STALE_GENERATION, .value = 5 },
    { VFSEC_WIRE_OP_MAC_REPLACE, 0x1, .generation = 4, .status = VFSEC_WIRE_STATUS_STALE_GENERATION, .value = 5 },
    { VFSEC_WIRE_OP_MAC_ADD, 0, .status = VFSEC_WIRE_STATUS_OK, .value = 3 },
    { VFSEC_WIRE_OP_QUERY, .status = VFSEC_WIRE_STATUS_OK, .value = 16 },
    { VFSEC_WIRE_OP_REMOVE_ALL_SA, .status = VFSEC_WIRE_STATUS_OK, .value = 1 },
    { VFSEC_WIRE_OP_REMOVE_ALL_SA, .status = VFSEC_WIRE_STATUS_OK, .value = 0 },
};

static void
op_fill(VfsecWireOp *op, const OpStep *step)
{
    switch (step->opcode) {
    case VFSEC_WIRE_OP_ADD_SA:
        op->add_sa = test_sa(step->arg);
        break;
    case VFSEC_WIRE_OP_REMOVE_SA:
        op->remove_sa.by_key = step->by_key;
        op->remove_sa.key = test_sa(step->arg).key;
        op->remove_sa.sa_index = step->index;
        op->remove_sa.spi = step->spi ? step->spi : op->remove_sa.key.spi;
        break;
    case VFSEC_WIRE_OP_MAC_ADD:
    case VFSEC_WIRE_OP_MAC_REMOVE:
        op->mac = test_mac(step->arg);
        break;
    case VFSEC_WIRE_OP_MAC_REPLACE:
        op->generation = step->generation;
        op->mac_entries = g_array_new(FALSE, TRUE, sizeof(VfsecWireMacEntry));
        for (int i = 0; i < 3; i++) {
            if (step->arg & (1 << i)) {
                VfsecWireMacEntry e = test_mac(i);

                g_array_append_val(op->mac_entries, e);
            }
        }
        break;
    default:
        break;
    }
}

static void
test_config_ops(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    VfsecWireQueryInfo q;
    guint32 gen = 0;

    for (gsize i = 0; i < G_N_ELEMENTS(op_steps); i++) {
        g_autoptr(VfsecWireConfig) req = request_new();
        g_autoptr(VfsecWireConfig) reply = NULL;
        const VfsecWireOp *r;

        g_test_message("step %zu: %s", i, vfsec_wire_opcode_to_string(op_steps[i].opcode));
        op_fill(vfsec_wire_config_add(req, op_steps[i].opcode), &op_steps[i]);
        reply = send_request(agent, req);
        r = reply_op(reply, 0);
        g_assert_cmpuint(reply->ops->len, ==, 1);
        g_assert_cmpuint(r->opcode, ==, op_steps[i].opcode);
        g_assert_cmpstr(vfsec_wire_status_to_string(r->status), ==,
                        vfsec_wire_status_to_string(op_steps[i].status));
        g_assert_cmpuint(r->value, ==, op_steps[i].value);
        if (op_steps[i].opcode == VFSEC_WIRE_OP_QUERY) {
            g_assert_cmpuint(r->query.capacity, ==, 16);
            g_assert_cmpuint(r->query.sa_count, ==, 1);
            g_assert_cmpuint(r->query.mac_count, ==, 3);
            g_assert_cmpuint(r->query.generation, ==, 5);
        }
    }
    vfsec_agent_query(agent, &q);
    g_assert_cmpuint(q.sa_count, ==, 0);
    g_assert_cmpuint(vfsec_agent_mac_table(agent, &gen)->len, ==, 3);
    g_assert_cmpuint(gen, ==, 5);
    g_assert_cmpuint(vfsec_agent_counters(agent)->cfg_frames, ==, G_N_ELEMENTS(op_steps));
}

static void
test_config_batch(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    g_autoptr(VfsecWireConfig) req = request_new();
    g_autoptr(VfsecWireConfig) reply = NULL;
    g_autoptr(GByteArray) frame = NULL;
    VfsecWireAddSa a = test_sa(SA_A);
    VfsecWireAddSa b = test_sa(SA_B);
    VfsecWireAddSa c = test_sa(SA_A_VLAN);
    const VfsecWireStatus expect[] = {
        VFSEC_WIRE_STATUS_OK, VFSEC_WIRE_STATUS_DUPLICATE_KEY, VFSEC_WIRE_STATUS_MALFORMED,
        VFSEC_WIRE_STATUS_OK, VFSEC_WIRE_STATUS_NO_SUCH_SA, VFSEC_WIRE_STATUS_UNSUPPORTED_OP,
        VFSEC_WIRE_STATUS_OK,
    };
    const guint32 values[] = { 0, 0, 0, 1, 0, 0, 16 };
    VfsecWireOp *op;
    gsize off;

    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = a;
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = a;
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = c;   /* corrupted below */
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = b;
    op = vfsec_wire_config_add(req, VFSEC_WIRE_OP_REMOVE_SA);
    op->remove_sa.sa_index = 9;
    op->remove_sa.spi = 0x100;
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_REMOVE_ALL_SA);        /* opcode patched below */
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_QUERY);
    frame = request_encode(req);

    /* Op #2's key family becomes 7 (MALFORMED); op #5's opcode 99. Both are
     * answered; their siblings still execute. */
    off = VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_CONFIG_HLEN + 2 * (VFSEC_WIRE_OP_HLEN + VFSEC_WIRE_ADD_SA_LEN);
    frame->data[off + VFSEC_WIRE_OP_HLEN] = 7;
    off += 2 * (VFSEC_WIRE_OP_HLEN + VFSEC_WIRE_ADD_SA_LEN) + VFSEC_WIRE_OP_HLEN + VFSEC_WIRE_REMOVE_SA_LEN;
    g_assert_cmpuint(frame->data[off], ==, VFSEC_WIRE_OP_REMOVE_ALL_SA);
    frame->data[off] = 99;

    reply = send_frame(agent, frame, req->seq);
    g_assert_cmpuint(reply->ops->len, ==, G_N_ELEMENTS(expect));
    for (guint i = 0; i < G_N_ELEMENTS(expect); i++) {
        g_assert_cmpstr(vfsec_wire_status_to_string(reply_op(reply, i)->status), ==,
                        vfsec_wire_status_to_string(expect[i]));
        g_assert_cmpuint(reply_op(reply, i)->value, ==, values[i]);
    }
    g_assert_cmpuint(reply_op(reply, 5)->opcode, ==, 99);
    g_assert_cmpuint(reply_op(reply, 6)->query.sa_count, ==, 2);
    g_assert_cmpuint(vfsec_agent_counters(agent)->cfg_ok, ==, 3);
    g_assert_cmpuint(vfsec_agent_counters(agent)->cfg_op_failed, ==, 4);
}

static void
test_sad_full(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(4, FALSE);
    VfsecWireAddSa sa = test_sa(SA_A);
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;

    for (guint i = 0; i < 4; i++) {
        sa.key.spi = 0x1000 + i;
        g_assert_cmpuint(add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK), ==, i);
    }
    before = sad_string(agent);
    sa.key.spi = 0x2000;
    add_sa(agent, &sa, VFSEC_WIRE_STATUS_SAD_FULL);
    after = sad_string(agent);
    g_assert_cmpstr(before, ==, after);
    g_assert_cmpuint(vfsec_agent_sa_count(agent), ==, 4);
}

/* Never-used indexes first, then freed ones, oldest first. */
static void
test_index_reuse(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(4, FALSE);
    VfsecWireAddSa sa = test_sa(SA_A);
    const guint remove_order[] = { 2, 0 };
    const guint32 expect[] = { 3, 2, 0 };

    for (guint i = 0; i < 3; i++) {
        sa.key.spi = 0x1000 + i;
        add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK);
    }
    for (guint i = 0; i < G_N_ELEMENTS(remove_order); i++) {
        g_autoptr(VfsecWireConfig) req = request_new();
        g_autoptr(VfsecWireConfig) reply = NULL;
        VfsecWireOp *op = vfsec_wire_config_add(req, VFSEC_WIRE_OP_REMOVE_SA);

        op->remove_sa.sa_index = remove_order[i];
        op->remove_sa.spi = 0x1000 + remove_order[i];
        reply = send_request(agent, req);
        g_assert_cmpint(reply_op(reply, 0)->status, ==, VFSEC_WIRE_STATUS_OK);
    }
    for (guint i = 0; i < G_N_ELEMENTS(expect); i++) {
        sa.key.spi = 0x2000 + i;
        g_assert_cmpuint(add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK), ==, expect[i]);
    }
}

/* ---- Refused configuration frames ---- */

typedef struct {
    const char *name;
    gsize offset;      /* byte to set, or G_MAXSIZE */
    guint8 value;
    gssize resize;     /* new length relative to the frame (0: unchanged) */
} Corruption;

static const Corruption corruptions[] = {
    { "bad-magic", 18, 0x00, 0 },
    { "wrong-version", 20, 2, 0 },
    { "reply-kind", 21, VFSEC_WIRE_KIND_REPLY, 0 },
    { "unknown-kind", 21, 7, 0 },
    { "op-count-too-big", 27, 3, 0 },
    { "wrong-ethertype", 17, 0xb6, 0 },
    { "body-len-overrun", 32, 0xff, 0 },
    { "trailing-garbage", G_MAXSIZE, 0, 1 },
    { "oversized", G_MAXSIZE, 0, 1600 },
};

static void
assert_refused(VfsecAgent *agent, const guint8 *frame, gsize len, const char *sad_before)
{
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autofree char *sad_after = NULL;

    vfsec_agent_from_switch(agent, frame, len, PF, out);
    g_assert_cmpuint(out->len, ==, 0);
    sad_after = sad_string(agent);
    g_assert_cmpstr(sad_before, ==, sad_after);
}

static void
test_refused(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    g_autoptr(VfsecWireConfig) req = request_new();
    g_autoptr(GByteArray) good = NULL;
    g_autofree char *before = NULL;
    VfsecWireAddSa sa = test_sa(SA_B);
    const VfsecAgentCounters *c = vfsec_agent_counters(agent);
    guint64 expect_rejected = 0;

    add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK);
    before = sad_string(agent);
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = test_sa(SA_A);
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_REMOVE_ALL_SA);
    good = request_encode(req);

    /* Every truncation: too short to classify (dropped as malformed) or a
     * configuration frame whose ops run past its end (rejected). */
    for (gsize len = 0; len < good->len; len++) {
        g_autofree guint8 *cut = g_memdup2(good->data, len);

        assert_refused(agent, cut, len, before);
        if (len >= VFSEC_WIRE_TAG_OFFSET + VFSEC_WIRE_TAG_LEN + 2)
            expect_rejected++;
    }
    g_assert_cmpuint(c->cfg_rejected, ==, expect_rejected);
    g_assert_cmpuint(c->tx_malformed, ==, good->len - expect_rejected);

    for (gsize i = 0; i < G_N_ELEMENTS(corruptions); i++) {
        const Corruption *k = &corruptions[i];
        g_autoptr(GByteArray) bad = g_byte_array_new();

        g_test_message("corruption %s", k->name);
        g_byte_array_append(bad, good->data, good->len);
        if (k->offset != G_MAXSIZE)
            bad->data[k->offset] = k->value;
        if (k->resize) {
            g_byte_array_set_size(bad, bad->len + (guint)k->resize);
            memset(bad->data + good->len, 0, (gsize)k->resize);
            bad->data[bad->len - 1] = 0x55;
        }
        assert_refused(agent, bad->data, bad->len, before);
        g_assert_cmpuint(c->cfg_rejected, ==, ++expect_rejected);
    }
    g_assert_cmpuint(c->cfg_ok, ==, 1);
}

static void
test_bypass_config_inside(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    g_autoptr(VfsecWireConfig) req = request_new();
    g_autoptr(GByteArray) inner = NULL;
    g_autoptr(GByteArray) wrapped = g_byte_array_new();
    g_autoptr(GArray) out = vfsec_frame_list_new();
    const VfsecFrameOut *o;
    guint8 tag[4];

    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = test_sa(SA_A);
    inner = request_encode(req);
    /* What the switch makes of it when an untrusted VF sends it. */
    vfsec_wire_put16(tag, VFSEC_WIRE_TPID_8021AD);
    vfsec_wire_put16(tag + 2, vfsec_wire_tci(0, FALSE, VFSEC_WIRE_MD_BASE_DEFAULT));
    g_byte_array_append(wrapped, inner->data, 12);
    g_byte_array_append(wrapped, tag, 4);
    g_byte_array_append(wrapped, inner->data + 12, inner->len - 12);

    vfsec_agent_from_switch(agent, wrapped->data, wrapped->len, 1, out);
    o = only_output(out, VFSEC_EGRESS_UPLINK);
    g_assert_cmpmem(o->frame->data, o->frame->len, inner->data, inner->len);
    g_assert_cmpuint(vfsec_agent_sa_count(agent), ==, 0);
    g_assert_cmpuint(vfsec_agent_counters(agent)->bypassed, ==, 1);
    g_assert_cmpuint(vfsec_agent_counters(agent)->cfg_frames, ==, 0);
}

static void
test_config_from_uplink(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    g_autoptr(VfsecWireConfig) req = request_new();
    g_autoptr(GByteArray) frame = NULL;
    g_autoptr(GArray) out = vfsec_frame_list_new();

    vfsec_wire_config_add(req, VFSEC_WIRE_OP_ADD_SA)->add_sa = test_sa(SA_A);
    frame = request_encode(req);
    vfsec_agent_from_uplink(agent, frame->data, frame->len, out);
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(vfsec_agent_sa_count(agent), ==, 0);
    g_assert_cmpuint(vfsec_agent_counters(agent)->cfg_from_uplink, ==, 1);
}

/* ---- Tx ---- */

static void
test_tx_offload(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    VfsecWireAddSa sa = test_sa(SA_A_VLAN);
    g_autoptr(VfsecEspSa) peer = esp_twin(&sa, VFSEC_ESP_DIR_IN);
    g_autoptr(GByteArray) plain = udp_packet(40);
    g_autoptr(GByteArray) frame = placed_frame(mac_a, 100, plain, sa.key.spi, 77, 0);
    g_autoptr(GByteArray) l2 = eth_frame(mac_remote, mac_a, 100, plain);
    g_autoptr(GByteArray) clear = NULL;
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GArray) dump = NULL;
    const VfsecFrameOut *o;
    VfsecEspInfo info;

    add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK);
    vfsec_agent_from_switch(agent, frame->data, frame->len, 0, out);
    o = only_output(out, VFSEC_EGRESS_UPLINK);
    /* The L2 header stays (VLAN 100 included); the packet is real ESP that
     * the peer's SA decrypts back to the original datagram. */
    g_assert_cmpmem(o->frame->data, 18, l2->data, 18);
    clear = decrypt_frame(peer, o->frame, &info);
    g_assert_cmpmem(clear->data, clear->len, plain->data, plain->len);
    g_assert_cmphex(info.spi, ==, sa.key.spi);
    g_assert_cmpuint(info.seq, ==, 1);
    g_assert_cmpuint(info.iv, ==, 77);
    g_assert_cmpuint(vfsec_agent_counters(agent)->offloaded_tx, ==, 1);
    dump = vfsec_agent_sad_dump(agent);
    g_assert_cmpuint(g_array_index(dump, VfsecAgentSaInfo, 0).packets, ==, 1);
    g_assert_cmpuint(g_array_index(dump, VfsecAgentSaInfo, 0).seq, ==, 1);
}

/* Tx metadata the agent must not act on: each is counted and dropped. */
typedef struct {
    const char *name;
    const guint8 *src;   /* frame source MAC */
    guint16 vid;
    guint32 spi;
    gboolean no_sa;      /* counted as tx_no_sa (else tx_malformed) */
    gsize poke;          /* 0, or a frame byte to change ... */
    guint8 value;        /* ... to this */
} TxRefusal;

static const TxRefusal tx_refusals[] = {
    /* The SA is keyed to MAC A untagged: another MAC, VLAN or SPI misses. */
    { "other-mac", mac_b, 0, 0x100, TRUE },
    { "other-vlan", mac_a, 200, 0x100, TRUE },
    { "other-spi", mac_a, 0, 0x101, TRUE },
    { "rx-type-from-host", mac_a, 0, 0x100, FALSE, 19, VFSEC_WIRE_MD_RX },
    { "l3-offset-off", mac_a, 0, 0x100, FALSE, 25, 4 },
    { "esp-offset-off", mac_a, 0, 0x100, FALSE, 27, 26 },
    { "offload-flag-clear", mac_a, 0, 0x100, FALSE, 21, 0 },
    { "metadata-version", mac_a, 0, 0x100, FALSE, 18, 9 },
};

static void
test_tx_refused(gconstpointer data)
{
    const TxRefusal *tc = data;
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    VfsecWireAddSa sa = test_sa(SA_A);
    g_autoptr(GByteArray) plain = udp_packet(20);
    g_autoptr(GByteArray) frame = placed_frame(tc->src, tc->vid, plain, tc->spi, 1, 0);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    const VfsecAgentCounters *c = vfsec_agent_counters(agent);

    add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK);
    if (tc->poke)
        frame->data[tc->poke] = tc->value;
    vfsec_agent_from_switch(agent, frame->data, frame->len, 0, out);
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(c->offloaded_tx, ==, 0);
    g_assert_cmpuint(c->tx_no_sa, ==, tc->no_sa ? 1 : 0);
    g_assert_cmpuint(c->tx_malformed, ==, tc->no_sa ? 0 : 1);
}

/* The segments of one TSO burst carry one driver IV; the agent's IV rule
 * gives them increasing IVs and sequence numbers. */
static void
test_tso_burst(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    VfsecWireAddSa sa = test_sa(SA_A);
    g_autoptr(VfsecEspSa) peer = esp_twin(&sa, VFSEC_ESP_DIR_IN);
    g_autoptr(GArray) out = vfsec_frame_list_new();

    add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK);
    for (guint i = 0; i < 4; i++) {
        g_autoptr(GByteArray) seg = udp_packet(100);
        g_autoptr(GByteArray) frame = placed_frame(mac_a, 0, seg, sa.key.spi, 500, 100);

        vfsec_agent_from_switch(agent, frame->data, frame->len, 0, out);
    }
    /* A later packet whose driver IV is below what was used is bumped too. */
    {
        g_autoptr(GByteArray) pkt = udp_packet(10);
        g_autoptr(GByteArray) frame = placed_frame(mac_a, 0, pkt, sa.key.spi, 3, 0);

        vfsec_agent_from_switch(agent, frame->data, frame->len, 0, out);
    }
    g_assert_cmpuint(out->len, ==, 5);
    for (guint i = 0; i < out->len; i++) {
        g_autoptr(GByteArray) clear = NULL;
        VfsecEspInfo info;

        clear = decrypt_frame(peer, g_array_index(out, VfsecFrameOut, i).frame, &info);
        g_assert_cmpuint(info.iv, ==, 500 + i);
        g_assert_cmpuint(info.seq, ==, i + 1);
    }
    g_assert_cmpuint(vfsec_agent_counters(agent)->tso_segments, ==, 0);
}

/* A super-frame larger than mss is cut: TCP header repeated, sequence
 * numbers advanced, FIN/PSH on the last segment only, checksums valid. */
static void
test_tso_cut(void)
{
    const guint mss = 100;
    const guint32 tcp_seq = 1000;
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    VfsecWireAddSa sa = test_sa(SA_A);
    g_autoptr(VfsecEspSa) peer = esp_twin(&sa, VFSEC_ESP_DIR_IN);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GByteArray) data = g_byte_array_new();
    g_autoptr(GByteArray) l4 = g_byte_array_new();
    g_autoptr(GByteArray) plain = NULL;
    g_autoptr(GByteArray) frame = NULL;
    guint8 tcp[20] = { 0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x19, 0xff, 0xff };

    for (guint i = 0; i < 2 * mss + 30; i++) {
        guint8 b = (guint8)(i * 7);

        g_byte_array_append(data, &b, 1);
    }
    vfsec_wire_put32(tcp + 4, tcp_seq);
    g_byte_array_append(l4, tcp, sizeof(tcp));
    g_byte_array_append(l4, data->data, data->len);
    plain = ipv4_packet(6, l4->data, l4->len);
    frame = placed_frame(mac_a, 0, plain, sa.key.spi, 40, mss);
    add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK);

    vfsec_agent_from_switch(agent, frame->data, frame->len, 0, out);
    g_assert_cmpuint(out->len, ==, 3);
    g_assert_cmpuint(vfsec_agent_counters(agent)->tso_segments, ==, 3);
    for (guint i = 0; i < out->len; i++) {
        g_autoptr(GByteArray) seg = NULL;
        VfsecEspInfo info;
        const guint8 *t;
        gsize chunk = MIN((gsize)mss, data->len - i * mss);
        guint32 sum;

        seg = decrypt_frame(peer, g_array_index(out, VfsecFrameOut, i).frame, &info);
        g_assert_cmpuint(info.iv, ==, 40 + i);
        g_assert_cmpuint(seg->len, ==, 20 + 20 + chunk);
        g_assert_cmpuint(vfsec_wire_get16(seg->data + 2), ==, seg->len);
        t = seg->data + 20;
        g_assert_cmpuint(vfsec_wire_get32(t + 4), ==, tcp_seq + i * mss);
        g_assert_cmphex(t[13], ==, i + 1 == out->len ? 0x19 : 0x10);
        g_assert_cmpmem(t + 20, chunk, data->data + i * mss, chunk);
        /* pseudo header + segment sums to 0xffff when the checksum is right */
        sum = csum_add(0, seg->data + 12, 8);
        sum += 6 + (guint32)(20 + chunk);
        g_assert_cmphex(csum_fold(csum_add(sum, t, 20 + chunk)), ==, 0);
    }
}

/* ---- Rx ---- */

/* The frame @sa's peer sends: UDP encrypted under @sa, to its local MAC. */
static GByteArray *
esp_from_wire(VfsecEspSa *tx, const guint8 *dst_mac, guint16 vid, const GByteArray *plain)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) esp = g_byte_array_new();

    g_assert_cmpint(vfsec_esp_encrypt(tx, plain->data, plain->len, 0, esp, NULL, &error), ==,
                    VFSEC_ESP_OK);
    g_assert_no_error(error);
    return eth_frame(dst_mac, mac_remote, vid, esp);
}

/* Strips the Rx metadata of the only output into @md; returns the rest. */
static GByteArray *
rx_output(GArray *out, VfsecWireMetadata *md)
{
    g_autoptr(GError) error = NULL;
    const VfsecFrameOut *o = only_output(out, VFSEC_EGRESS_SWITCH);
    GByteArray *f = g_byte_array_new();

    g_byte_array_append(f, o->frame->data, o->frame->len);
    g_assert_true(vfsec_wire_metadata_strip(NULL, f, md, &error));
    g_assert_no_error(error);
    g_assert_cmpint(md->type, ==, VFSEC_WIRE_MD_RX);
    return f;
}

typedef struct {
    const char *name;
    const guint8 *to;    /* destination MAC of the frame */
    guint16 vid;
    int key_of;          /* which test SA's key encrypted it */
    VfsecWireRxStatus status;
    int sa_of;           /* which SA the agent used (-1: none) */
} RxCase;

static const RxCase rx_cases[] = {
    { "domain-a", mac_a, 0, SA_A, VFSEC_WIRE_RX_OK, SA_A },
    { "domain-b", mac_b, 0, SA_B, VFSEC_WIRE_RX_OK, SA_B },
    { "domain-a-vlan", mac_a, 100, SA_A_VLAN, VFSEC_WIRE_RX_OK, SA_A_VLAN },
    /* Same (dst, proto, SPI), but the MAC picks A's SA: B's key fails there. */
    { "b-key-to-mac-a", mac_a, 0, SA_B, VFSEC_WIRE_RX_INTEGRITY_FAIL, SA_A },
    { "no-domain-vlan", mac_b, 100, SA_B, VFSEC_WIRE_RX_NO_SA, -1 },
};

static void
test_rx_domains(gconstpointer data)
{
    const RxCase *tc = data;
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    VfsecWireAddSa sas[N_DOMAINS];
    guint32 index[N_DOMAINS];
    g_autoptr(VfsecEspSa) tx = NULL;
    g_autoptr(GByteArray) plain = udp_packet(33);
    g_autoptr(GByteArray) frame = NULL;
    g_autoptr(GByteArray) got = NULL;
    g_autoptr(GByteArray) expect = NULL;
    g_autoptr(GArray) out = vfsec_frame_list_new();
    VfsecWireMetadata md;

    for (int i = 0; i < N_DOMAINS; i++) {
        sas[i] = domain_sa(VFSEC_WIRE_DIR_IN, 0x200, i);
        index[i] = add_sa(agent, &sas[i], VFSEC_WIRE_STATUS_OK);
    }
    tx = esp_twin(&sas[tc->key_of], VFSEC_ESP_DIR_OUT);
    frame = esp_from_wire(tx, tc->to, tc->vid, plain);
    vfsec_agent_from_uplink(agent, frame->data, frame->len, out);
    got = rx_output(out, &md);
    g_assert_cmpstr(vfsec_wire_rx_status_to_string(md.status), ==,
                    vfsec_wire_rx_status_to_string(tc->status));
    g_assert_cmpuint(md.sa_index, ==, tc->sa_of >= 0 ? index[tc->sa_of] : G_MAXUINT32);
    g_assert_cmpuint(md.seq, ==, 1);
    /* OK: the plaintext; anything else: the frame as received. */
    expect = tc->status == VFSEC_WIRE_RX_OK ? eth_frame(tc->to, mac_remote, tc->vid, plain)
                                            : g_byte_array_ref(frame);
    g_assert_cmpmem(got->data, got->len, expect->data, expect->len);
    if (tc->status == VFSEC_WIRE_RX_OK)
        g_assert_cmpuint(md.next_header, ==, 17);
}

static void
test_rx_integrity_replay(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    VfsecWireAddSa sa = domain_sa(VFSEC_WIRE_DIR_IN, 0x200, SA_A);
    g_autoptr(VfsecEspSa) tx = esp_twin(&sa, VFSEC_ESP_DIR_OUT);
    g_autoptr(GByteArray) plain = udp_packet(20);
    g_autoptr(GByteArray) first = NULL;
    g_autoptr(GByteArray) second = NULL;
    const VfsecWireRxStatus expect[] = {
        VFSEC_WIRE_RX_INTEGRITY_FAIL, VFSEC_WIRE_RX_OK, VFSEC_WIRE_RX_REPLAY, VFSEC_WIRE_RX_OK,
    };
    GByteArray *frames[4];
    const VfsecAgentCounters *c = vfsec_agent_counters(agent);

    add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK);
    first = esp_from_wire(tx, mac_a, 0, plain);
    second = esp_from_wire(tx, mac_a, 0, plain);
    /* A tampered copy of the first (rejected, window unmoved), the first,
     * the first again (replay), the second. */
    frames[0] = g_byte_array_new();
    g_byte_array_append(frames[0], first->data, first->len);
    frames[0]->data[frames[0]->len - 20] ^= 0x01;
    frames[1] = first;
    frames[2] = first;
    frames[3] = second;
    for (guint i = 0; i < G_N_ELEMENTS(expect); i++) {
        g_autoptr(GArray) out = vfsec_frame_list_new();
        g_autoptr(GByteArray) got = NULL;
        VfsecWireMetadata md;

        vfsec_agent_from_uplink(agent, frames[i]->data, frames[i]->len, out);
        got = rx_output(out, &md);
        g_assert_cmpstr(vfsec_wire_rx_status_to_string(md.status), ==,
                        vfsec_wire_rx_status_to_string(expect[i]));
        if (md.status != VFSEC_WIRE_RX_OK)
            g_assert_cmpmem(got->data, got->len, frames[i]->data, frames[i]->len);
    }
    g_byte_array_unref(frames[0]);
    g_assert_cmpuint(c->integrity_fail, ==, 1);
    g_assert_cmpuint(c->replay, ==, 1);
    g_assert_cmpuint(c->decrypted_rx, ==, 2);
}

static void
test_rx_plain_and_reserved(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    g_autoptr(GByteArray) plain = udp_packet(20);
    g_autoptr(GByteArray) frame = eth_frame(mac_a, mac_remote, 0, plain);
    g_autoptr(GByteArray) forged = eth_frame(mac_a, mac_remote, 0, plain);
    g_autoptr(GArray) out = vfsec_frame_list_new();
    g_autoptr(GError) error = NULL;
    VfsecWireMetadata md = {
        .offload = TRUE, .type = VFSEC_WIRE_MD_RX, .status = VFSEC_WIRE_RX_OK, .next_header = 17,
    };

    /* Not ESP: delivered byte for byte, no metadata. */
    vfsec_agent_from_uplink(agent, frame->data, frame->len, out);
    g_assert_cmpmem(only_output(out, VFSEC_EGRESS_SWITCH)->frame->data,
                    only_output(out, VFSEC_EGRESS_SWITCH)->frame->len, frame->data, frame->len);
    /* Rx metadata forged on the wire never reaches the host. */
    g_assert_true(vfsec_wire_metadata_insert(NULL, &md, forged, &error));
    g_array_set_size(out, 0);
    vfsec_agent_from_uplink(agent, forged->data, forged->len, out);
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpuint(vfsec_agent_counters(agent)->rx_malformed, ==, 1);
    g_assert_cmpuint(vfsec_agent_counters(agent)->uplink_rx, ==, 2);
}

/* ---- Hairpin ---- */

typedef struct {
    guint count[VFSEC_AGENT_TAP_LAST];
    guint esp[VFSEC_AGENT_TAP_LAST];
} TapLog;

static void
tap_cb(VfsecAgentTapPoint point, const guint8 *frame, gsize len, gpointer user_data)
{
    TapLog *log = user_data;
    VfsecFrameL2 l2;

    log->count[point]++;
    if (vfsec_frame_l2_parse(frame, len, &l2) && l2.l3_offset && frame[l2.l3_offset + 9] == 50)
        log->esp[point]++;
}

static void
test_hairpin(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, TRUE);
    VfsecWireAddSa out_sa = sa_make(VFSEC_WIRE_DIR_OUT, 0x300, mac_a, 0, 8);
    VfsecWireAddSa in_sa = sa_make(VFSEC_WIRE_DIR_IN, 0x300, mac_b, 0, 8);
    g_autoptr(VfsecWireConfig) req = request_new();
    g_autoptr(VfsecWireConfig) reply = NULL;
    g_autoptr(GByteArray) plain = udp_packet(30);
    g_autoptr(GByteArray) placed = NULL;
    g_autoptr(GByteArray) got = NULL;
    g_autoptr(GByteArray) expect = NULL;
    g_autoptr(GArray) out = vfsec_frame_list_new();
    VfsecWireOp *op;
    VfsecWireMetadata md;
    TapLog log = { { 0 } };
    const VfsecAgentCounters *c = vfsec_agent_counters(agent);

    add_sa(agent, &out_sa, VFSEC_WIRE_STATUS_OK);
    add_sa(agent, &in_sa, VFSEC_WIRE_STATUS_OK);
    op = vfsec_wire_config_add(req, VFSEC_WIRE_OP_MAC_REPLACE);
    op->generation = 1;
    op->mac_entries = g_array_new(FALSE, TRUE, sizeof(VfsecWireMacEntry));
    for (guint i = 0; i < 2; i++) {
        VfsecWireMacEntry e = test_mac((int)i);

        g_array_append_val(op->mac_entries, e);
    }
    reply = send_request(agent, req);
    g_assert_cmpint(reply_op(reply, 0)->status, ==, VFSEC_WIRE_STATUS_OK);
    vfsec_agent_set_tap(agent, tap_cb, &log, NULL);

    /* A (MAC A) to B (MAC B, published): encrypted, turned around, decrypted
     * with B's inbound SA, handed down with Rx metadata; never on the wire. */
    placed = placed_frame(mac_a, 0, plain, 0x300, 1, 0);
    memcpy(placed->data, mac_b, 6);
    vfsec_agent_from_switch(agent, placed->data, placed->len, 0, out);
    g_assert_true(only_output(out, VFSEC_EGRESS_SWITCH)->flags & VFSEC_FRAME_HAIRPIN);
    g_assert_cmpint(only_output(out, VFSEC_EGRESS_SWITCH)->fn, ==, 0);
    got = rx_output(out, &md);
    g_assert_cmpint(md.status, ==, VFSEC_WIRE_RX_OK);
    expect = eth_frame(mac_b, mac_a, 0, plain);
    g_assert_cmpmem(got->data, got->len, expect->data, expect->len);
    g_assert_cmpuint(c->hairpinned, ==, 1);
    g_assert_cmpuint(c->hairpinned_esp, ==, 1);
    g_assert_cmpuint(c->uplink_tx, ==, 0);
    g_assert_cmpuint(log.count[VFSEC_AGENT_TAP_HAIRPIN], ==, 1);
    g_assert_cmpuint(log.esp[VFSEC_AGENT_TAP_HAIRPIN], ==, 1);

    /* Hairpin off: the same destination goes to the wire. */
    vfsec_agent_set_hairpin(agent, FALSE);
    g_array_set_size(out, 0);
    vfsec_agent_from_switch(agent, expect->data, expect->len, 0, out);
    only_output(out, VFSEC_EGRESS_UPLINK);
    g_assert_cmpuint(log.count[VFSEC_AGENT_TAP_UPLINK_TX], ==, 1);
    g_assert_cmpuint(log.esp[VFSEC_AGENT_TAP_UPLINK_TX], ==, 0);
}

static void
test_reset(void)
{
    g_autoptr(VfsecAgent) agent = agent_new(16, FALSE);
    VfsecWireAddSa sa = test_sa(SA_A);
    g_autoptr(VfsecWireConfig) req = request_new();
    g_autoptr(VfsecWireConfig) reply = NULL;
    VfsecWireQueryInfo q;

    add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK);
    vfsec_wire_config_add(req, VFSEC_WIRE_OP_MAC_ADD)->mac = test_mac(0);
    reply = send_request(agent, req);
    vfsec_agent_reset(agent);
    vfsec_agent_query(agent, &q);
    g_assert_cmpuint(q.sa_count, ==, 0);
    g_assert_cmpuint(q.mac_count, ==, 0);
    g_assert_cmpuint(q.generation, ==, 0);
    g_assert_cmpuint(vfsec_agent_counters(agent)->resets, ==, 1);
    /* Index 0 was freed; a fresh index comes first. */
    g_assert_cmpuint(add_sa(agent, &sa, VFSEC_WIRE_STATUS_OK), ==, 1);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/agent/config/ops", test_config_ops);
    g_test_add_func("/agent/config/batch", test_config_batch);
    g_test_add_func("/agent/config/sad-full", test_sad_full);
    g_test_add_func("/agent/config/index-reuse", test_index_reuse);
    g_test_add_func("/agent/config/refused", test_refused);
    g_test_add_func("/agent/config/bypass-not-executed", test_bypass_config_inside);
    g_test_add_func("/agent/config/from-uplink", test_config_from_uplink);
    g_test_add_func("/agent/tx/offload", test_tx_offload);
    for (gsize i = 0; i < G_N_ELEMENTS(tx_refusals); i++) {
        g_autofree char *path = g_strdup_printf("/agent/tx/refused/%s", tx_refusals[i].name);

        g_test_add_data_func(path, &tx_refusals[i], test_tx_refused);
    }
    g_test_add_func("/agent/tx/tso-burst", test_tso_burst);
    g_test_add_func("/agent/tx/tso-cut", test_tso_cut);
    for (gsize i = 0; i < G_N_ELEMENTS(rx_cases); i++) {
        g_autofree char *path = g_strdup_printf("/agent/rx/%s", rx_cases[i].name);

        g_test_add_data_func(path, &rx_cases[i], test_rx_domains);
    }
    g_test_add_func("/agent/rx/integrity-replay", test_rx_integrity_replay);
    g_test_add_func("/agent/rx/plain-and-reserved", test_rx_plain_and_reserved);
    g_test_add_func("/agent/hairpin", test_hairpin);
    g_test_add_func("/agent/reset", test_reset);
    return g_test_run();
}
