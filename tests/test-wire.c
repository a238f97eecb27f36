/* test-wire.c: the agent wire protocol codec — round trips, truncations,
 * corruptions, batching, classification, metadata, pcap, and the hex examples
 * of docs/wire-protocol.md (VFSEC_WIRE_DUMP_EXAMPLES=1 prints them). */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "vfsec-error.h"
#include "vfsec-pcap.h"
#include "vfsec-wire.h"

/* ---- Fixtures ---- */

static const VfsecWireL2 pf_l2 = {
    .dst = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe } },  /* the agent */
    .src = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 } },  /* the PF */
    .tpid = VFSEC_WIRE_TPID_8021Q,
    .pcp = 0,
};

static const VfsecMac vm_mac = { { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };
static const VfsecMac vm2_mac = { { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef } };
static const guint8 sa_key_bytes[16] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};
#define SA_KEY_HEX "00112233445566778899aabbccddeeff"
#define SA_SALT 0xa1b2c3d4u
#define SA_SALT_HEX "a1b2c3d4"

static void
key_v4(VfsecWireSaKey *key, const char *dst, guint32 spi, guint16 vid)
{
    memset(key, 0, sizeof(*key));
    g_assert_true(vfsec_wire_ip_parse(dst, &key->family, key->dst, NULL));
    key->proto = VFSEC_WIRE_PROTO_ESP;
    key->spi = spi;
    key->mac = vm_mac;
    if (vid) {
        key->n_tags = 1;
        key->tags[0] = (VfsecWireVlan){ VFSEC_WIRE_TPID_8021Q, vid };
    }
}

static void
add_sa_fill(VfsecWireAddSa *sa, VfsecWireDir dir)
{
    key_v4(&sa->key, "192.0.2.10", 0x1234, 100);
    sa->dir = dir;
    sa->alg = VFSEC_WIRE_ALG_AES_GCM_128;
    sa->mode = VFSEC_WIRE_MODE_TRANSPORT;
    sa->salt = SA_SALT;
    sa->key_len = 16;
    memcpy(sa->key_bytes, sa_key_bytes, 16);
    g_assert_true(vfsec_wire_ip_parse("192.0.2.1", &(guint8){ 0 }, sa->src, NULL));
    sa->replay_window = dir == VFSEC_WIRE_DIR_IN ? 64 : 0;
}

static void
mac_entry_fill(VfsecWireMacEntry *e, const VfsecMac *mac, guint16 vid)
{
    memset(e, 0, sizeof(*e));
    e->mac = *mac;
    if (vid) {
        e->n_tags = 1;
        e->tags[0] = (VfsecWireVlan){ VFSEC_WIRE_TPID_8021Q, vid };
    }
}

static GBytes *
encode(const VfsecWireConfig *cfg)
{
    guint8 buf[VFSEC_WIRE_FRAME_MAX];
    g_autoptr(GError) error = NULL;
    gssize n = vfsec_wire_config_encode(NULL, cfg, buf, sizeof(buf), &error);

    g_assert_no_error(error);
    g_assert_cmpint(n, >, 0);
    return g_bytes_new(buf, (gsize)n);
}

/* ---- The examples (also the hex dumps of docs/wire-protocol.md) ---- */

static VfsecWireConfig *
config_new(VfsecWireKind kind, guint32 seq)
{
    VfsecWireConfig *cfg = vfsec_wire_config_new(kind, seq);

    cfg->l2 = pf_l2;
    if (kind == VFSEC_WIRE_KIND_REPLY) {
        cfg->l2.dst = pf_l2.src;
        cfg->l2.src = pf_l2.dst;
    }
    return cfg;
}

static GBytes *
ex_query_request(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 1);

    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_QUERY);
    return encode(cfg);
}

static GBytes *
ex_query_reply(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REPLY, 1);
    VfsecWireOp *op = vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_QUERY);

    op->query = (VfsecWireQueryInfo){ .capacity = 1024, .sa_count = 3, .mac_count = 4, .generation = 5 };
    return encode(cfg);
}

static GBytes *
ex_add_sa_request(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 2);

    add_sa_fill(&vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_ADD_SA)->add_sa, VFSEC_WIRE_DIR_OUT);
    return encode(cfg);
}

static GBytes *
ex_add_sa_reply(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REPLY, 2);

    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_ADD_SA)->value = 7;
    return encode(cfg);
}

static GBytes *
ex_remove_sa_request(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 3);
    VfsecWireOp *op = vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_REMOVE_SA);
    VfsecWireSaKey *key;

    op->remove_sa.sa_index = 7;
    op->remove_sa.spi = 0x1234;
    op = vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_REMOVE_SA);
    op->remove_sa.by_key = TRUE;
    key = &op->remove_sa.key;
    g_assert_true(vfsec_wire_ip_parse("2001:db8::10", &key->family, key->dst, NULL));
    key->proto = VFSEC_WIRE_PROTO_ESP;
    key->spi = 0x5678;
    key->mac = vm2_mac;
    key->n_tags = 2;
    key->tags[0] = (VfsecWireVlan){ VFSEC_WIRE_TPID_8021AD, 10 };
    key->tags[1] = (VfsecWireVlan){ VFSEC_WIRE_TPID_8021Q, 100 };
    return encode(cfg);
}

static GBytes *
ex_remove_sa_reply(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REPLY, 3);

    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_REMOVE_SA);
    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_REMOVE_SA)->status = VFSEC_WIRE_STATUS_NO_SUCH_SA;
    return encode(cfg);
}

static GBytes *
ex_remove_all_sa_request(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 4);

    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_REMOVE_ALL_SA);
    return encode(cfg);
}

static GBytes *
ex_remove_all_sa_reply(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REPLY, 4);

    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_REMOVE_ALL_SA)->value = 12;
    return encode(cfg);
}

static GBytes *
ex_mac_add_request(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 5);

    mac_entry_fill(&vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_MAC_ADD)->mac, &vm_mac, 100);
    return encode(cfg);
}

static GBytes *
ex_mac_add_reply(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REPLY, 5);

    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_MAC_ADD)->status = VFSEC_WIRE_STATUS_TABLE_FULL;
    return encode(cfg);
}

static GBytes *
ex_mac_remove_request(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 6);

    mac_entry_fill(&vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_MAC_REMOVE)->mac, &vm2_mac, 0);
    return encode(cfg);
}

static GBytes *
ex_mac_remove_reply(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REPLY, 6);

    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_MAC_REMOVE)->status = VFSEC_WIRE_STATUS_NO_SUCH_MAC;
    return encode(cfg);
}

static GBytes *
ex_mac_replace_request(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 7);
    VfsecWireOp *op = vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_MAC_REPLACE);
    VfsecWireMacEntry e;

    op->generation = 6;
    op->mac_entries = g_array_new(FALSE, TRUE, sizeof(VfsecWireMacEntry));
    mac_entry_fill(&e, &vm_mac, 100);
    g_array_append_val(op->mac_entries, e);
    mac_entry_fill(&e, &vm2_mac, 0);
    g_array_append_val(op->mac_entries, e);
    return encode(cfg);
}

static GBytes *
ex_mac_replace_reply(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REPLY, 7);

    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_MAC_REPLACE)->value = 6;
    return encode(cfg);
}

static guint16
ip_checksum(const guint8 *h)
{
    guint32 sum = 0;

    for (gsize i = 0; i < 20; i += 2)
        sum += vfsec_wire_get16(h + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

/* An Ethernet + IPv4 frame between the VM (52:54:00:12:34:56, 192.0.2.1) and
 * a peer (52:54:00:ab:cd:ef, 192.0.2.10). */
static GByteArray *
ipv4_frame(gboolean from_vm, guint8 proto, const guint8 *payload, gsize len)
{
    GByteArray *f = g_byte_array_new();
    guint8 h[34] = { 0 };
    guint8 *ip = h + 14;

    memcpy(h, from_vm ? vm2_mac.b : vm_mac.b, 6);
    memcpy(h + 6, from_vm ? vm_mac.b : vm2_mac.b, 6);
    vfsec_wire_put16(h + 12, 0x0800);
    ip[0] = 0x45;
    vfsec_wire_put16(ip + 2, (guint16)(20 + len));
    vfsec_wire_put16(ip + 4, 1);
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, (const guint8[]){ 192, 0, 2, from_vm ? 1 : 10 }, 4);
    memcpy(ip + 16, (const guint8[]){ 192, 0, 2, from_vm ? 10 : 1 }, 4);
    vfsec_wire_put16(ip + 10, ip_checksum(ip));
    g_byte_array_append(f, h, sizeof(h));
    g_byte_array_append(f, payload, (guint)len);
    return f;
}

/* UDP 1234 -> 5678 "ping" (checksum 0: none, allowed over IPv4). */
static const guint8 udp_ping[12] = { 0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0x00, 0x00, 'p', 'i', 'n', 'g' };

/* What an untrusted VM sends: plain UDP. */
static GByteArray *
frame_plain_out(void)
{
    return ipv4_frame(TRUE, 17, udp_ping, sizeof(udp_ping));
}

/* What the driver hands over for offload: IP protocol 50, the ESP header
 * (SPI 0x1234, seq left 0) and IV 1 placed, the UDP packet still clear. */
static GByteArray *
frame_placed_out(void)
{
    guint8 body[16 + sizeof(udp_ping)] = { 0x00, 0x00, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

    memcpy(body + 16, udp_ping, sizeof(udp_ping));
    return ipv4_frame(TRUE, 50, body, sizeof(body));
}

/* What the agent delivers after decrypting: the VM's inbound UDP. */
static GByteArray *
frame_decrypted_in(void)
{
    return ipv4_frame(FALSE, 17, udp_ping, sizeof(udp_ping));
}

static const VfsecWireMetadata md_tx = {
    .tpid = VFSEC_WIRE_TPID_8021Q, .offload = TRUE, .type = VFSEC_WIRE_MD_TX,
    .flags = VFSEC_WIRE_MD_FLAG_OFFLOAD, .next_header = 17, .l3_offset = 2, .esp_offset = 22,
};
static const VfsecWireMetadata md_rx = {
    .tpid = VFSEC_WIRE_TPID_8021Q, .offload = TRUE, .type = VFSEC_WIRE_MD_RX,
    .status = VFSEC_WIRE_RX_OK, .next_header = 17, .sa_index = 7, .seq = 1,
};
static const VfsecWireMetadata md_bypass = {
    .tpid = VFSEC_WIRE_TPID_8021AD, .pcp = 3, .offload = FALSE,
};

static GBytes *
md_example(const VfsecWireMetadata *md, GByteArray *(*inner)(void))
{
    g_autoptr(GByteArray) frame = inner();
    g_autoptr(GError) error = NULL;

    g_assert_true(vfsec_wire_metadata_insert(NULL, md, frame, &error));
    g_assert_no_error(error);
    return g_bytes_new(frame->data, frame->len);
}

static GBytes *
ex_md_bypass(void)
{
    return md_example(&md_bypass, frame_plain_out);
}

static GBytes *
ex_md_tx(void)
{
    return md_example(&md_tx, frame_placed_out);
}

static GBytes *
ex_md_rx(void)
{
    return md_example(&md_rx, frame_decrypted_in);
}

typedef struct {
    const char *name;
    GBytes *(*build)(void);
    GByteArray *(*inner)(void);  /* metadata examples: the frame without it */
} Example;

static const Example examples[] = {
    { "query-request", ex_query_request, NULL },
    { "query-reply", ex_query_reply, NULL },
    { "add-sa-request", ex_add_sa_request, NULL },
    { "add-sa-reply", ex_add_sa_reply, NULL },
    { "remove-sa-request", ex_remove_sa_request, NULL },
    { "remove-sa-reply", ex_remove_sa_reply, NULL },
    { "remove-all-sa-request", ex_remove_all_sa_request, NULL },
    { "remove-all-sa-reply", ex_remove_all_sa_reply, NULL },
    { "mac-add-request", ex_mac_add_request, NULL },
    { "mac-add-reply", ex_mac_add_reply, NULL },
    { "mac-remove-request", ex_mac_remove_request, NULL },
    { "mac-remove-reply", ex_mac_remove_reply, NULL },
    { "mac-replace-request", ex_mac_replace_request, NULL },
    { "mac-replace-reply", ex_mac_replace_reply, NULL },
    { "metadata-bypass", ex_md_bypass, frame_plain_out },
    { "metadata-tx", ex_md_tx, frame_placed_out },
    { "metadata-rx", ex_md_rx, frame_decrypted_in },
};

/* Where the ops of a config frame end (padding starts), walked by hand. */
static gsize
config_content_len(const guint8 *f)
{
    gsize off = VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_CONFIG_HLEN;
    guint n = vfsec_wire_get16(f + VFSEC_WIRE_CONFIG_OFFSET + 8);

    for (guint i = 0; i < n; i++)
        off += VFSEC_WIRE_OP_HLEN + vfsec_wire_get16(f + off + 2);
    return off;
}

/* ---- Round trips ---- */

static void
test_round_trip(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(examples); i++) {
        g_autoptr(GBytes) frame = examples[i].build();
        gsize len = 0;
        const guint8 *f = g_bytes_get_data(frame, &len);
        g_autoptr(GError) error = NULL;

        g_test_message("%s", examples[i].name);
        if (examples[i].inner) {
            g_autoptr(GByteArray) copy = g_byte_array_new();
            g_autoptr(GByteArray) inner = examples[i].inner();
            g_autoptr(GByteArray) again = examples[i].inner();
            VfsecWireMetadata md;

            g_byte_array_append(copy, f, (guint)len);
            g_assert_true(vfsec_wire_metadata_strip(NULL, copy, &md, &error));
            g_assert_no_error(error);
            g_assert_cmpmem(copy->data, copy->len, inner->data, inner->len);
            g_assert_true(vfsec_wire_metadata_insert(NULL, &md, again, &error));
            g_assert_cmpmem(again->data, again->len, f, len);
            continue;
        }

        {
            g_autoptr(VfsecWireConfig) cfg = vfsec_wire_config_decode(NULL, f, len, VFSEC_WIRE_DECODE_STRICT,
                                                                       &error);
            g_autoptr(GBytes) again = NULL;

            g_assert_no_error(error);
            g_assert_nonnull(cfg);
            g_assert_cmpuint(len, >=, VFSEC_WIRE_ETH_ZLEN);
            g_assert_true(vfsec_mac_equal(&cfg->l2.src,
                                          cfg->kind == VFSEC_WIRE_KIND_REQUEST ? &pf_l2.src : &pf_l2.dst));
            /* encode -> decode -> encode is byte-identical: nothing the wire
             * carries was lost or altered by the decoder. */
            again = encode(cfg);
            g_assert_true(g_bytes_equal(frame, again));
        }
    }
}

/* Field-level checks that the byte comparison above cannot make: the decoder
 * fills the structs the way the API documents. */
static void
test_decoded_fields(void)
{
    g_autoptr(GBytes) add = ex_add_sa_request();
    g_autoptr(GBytes) rem = ex_remove_sa_request();
    g_autoptr(GBytes) rep = ex_mac_replace_request();
    g_autoptr(GBytes) query = ex_query_reply();
    g_autoptr(VfsecWireConfig) a = vfsec_wire_config_decode(NULL, g_bytes_get_data(add, NULL),
                                                             g_bytes_get_size(add), 0, NULL);
    g_autoptr(VfsecWireConfig) r = vfsec_wire_config_decode(NULL, g_bytes_get_data(rem, NULL),
                                                             g_bytes_get_size(rem), 0, NULL);
    g_autoptr(VfsecWireConfig) m = vfsec_wire_config_decode(NULL, g_bytes_get_data(rep, NULL),
                                                             g_bytes_get_size(rep), 0, NULL);
    g_autoptr(VfsecWireConfig) q = vfsec_wire_config_decode(NULL, g_bytes_get_data(query, NULL),
                                                             g_bytes_get_size(query), 0, NULL);
    VfsecWireAddSa expect;
    const VfsecWireAddSa *got;
    const VfsecWireOp *op;

    g_assert_nonnull(a);
    g_assert_nonnull(r);
    g_assert_nonnull(m);
    g_assert_nonnull(q);
    memset(&expect, 0, sizeof(expect));
    add_sa_fill(&expect, VFSEC_WIRE_DIR_OUT);
    got = &g_array_index(a->ops, VfsecWireOp, 0).add_sa;
    g_assert_cmpuint(a->seq, ==, 2);
    g_assert_cmpint(a->kind, ==, VFSEC_WIRE_KIND_REQUEST);
    g_assert_true(vfsec_wire_sa_key_equal(&got->key, &expect.key));
    g_assert_cmpuint(got->key.tags[0].tci, ==, 100);
    g_assert_cmpint(got->dir, ==, VFSEC_WIRE_DIR_OUT);
    g_assert_cmpuint(got->salt, ==, SA_SALT);
    g_assert_cmpmem(got->key_bytes, got->key_len, sa_key_bytes, 16);
    g_assert_cmpmem(got->src, 16, expect.src, 16);

    op = &g_array_index(r->ops, VfsecWireOp, 0);
    g_assert_false(op->remove_sa.by_key);
    g_assert_cmpuint(op->remove_sa.sa_index, ==, 7);
    g_assert_cmpuint(op->remove_sa.spi, ==, 0x1234);
    op = &g_array_index(r->ops, VfsecWireOp, 1);
    g_assert_true(op->remove_sa.by_key);
    g_assert_cmpuint(op->remove_sa.key.family, ==, 6);
    g_assert_cmpuint(op->remove_sa.key.n_tags, ==, 2);
    g_assert_cmpuint(op->remove_sa.key.tags[0].tpid, ==, VFSEC_WIRE_TPID_8021AD);

    op = &g_array_index(m->ops, VfsecWireOp, 0);
    g_assert_cmpuint(op->generation, ==, 6);
    g_assert_cmpuint(op->mac_entries->len, ==, 2);
    g_assert_true(vfsec_mac_equal(&g_array_index(op->mac_entries, VfsecWireMacEntry, 1).mac, &vm2_mac));

    op = &g_array_index(q->ops, VfsecWireOp, 0);
    g_assert_cmpint(q->kind, ==, VFSEC_WIRE_KIND_REPLY);
    g_assert_cmpuint(op->value, ==, 1024);
    g_assert_cmpuint(op->query.capacity, ==, 1024);
    g_assert_cmpuint(op->query.generation, ==, 5);
}

/* Every prefix of every example, each in a buffer of exactly that size so
 * ASan sees any read past the end. Config frames are valid from the end of
 * their last op on (the rest is padding); metadata frames once the ESP header
 * the TX offsets point at is in. */
static void
test_truncation(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(examples); i++) {
        g_autoptr(GBytes) frame = examples[i].build();
        gsize len = 0;
        const guint8 *f = g_bytes_get_data(frame, &len);
        gsize valid_from = examples[i].inner ? len : config_content_len(f);

        if (examples[i].inner && f[VFSEC_WIRE_TAG_OFFSET + 3] & 1) {
            /* strip_len + TX esp_offset + SPI/seq; RX needs only the header */
            valid_from = VFSEC_WIRE_TAG_OFFSET + VFSEC_WIRE_MD_INSERT_LEN + 2;
            if (f[19] == VFSEC_WIRE_MD_TX)
                valid_from = VFSEC_WIRE_TAG_OFFSET + VFSEC_WIRE_MD_INSERT_LEN + md_tx.esp_offset + 8;
        } else if (examples[i].inner) {
            valid_from = VFSEC_WIRE_TAG_OFFSET + VFSEC_WIRE_TAG_LEN + 2;
        }

        g_test_message("%s: valid from %zu of %zu bytes", examples[i].name, valid_from, len);
        for (gsize cut = 0; cut <= len; cut++) {
            g_autofree guint8 *copy = g_memdup2(f, cut);
            g_autoptr(GError) error = NULL;
            gboolean ok;

            if (examples[i].inner) {
                VfsecWireMetadata md;
                gsize strip = 0;

                ok = vfsec_wire_metadata_decode(NULL, copy, cut, &md, &strip, &error);
            } else {
                g_autoptr(VfsecWireConfig) cfg = vfsec_wire_config_decode(NULL, copy, cut,
                                                                           VFSEC_WIRE_DECODE_PER_OP, &error);
                ok = cfg != NULL;
            }
            if (cut < valid_from) {
                g_assert_false(ok);
                g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
            } else {
                g_assert_no_error(error);
                g_assert_true(ok);
            }
        }
    }
}

/* ---- Corruptions ---- */

/* The base frame of the corruption table: ADD_SA (op #0, header at 30, body
 * 34..137), REMOVE_SA by index (op #1, header at 138, body 142..149), QUERY
 * (op #2, header at 150), 154 bytes in all. */
static GBytes *
corrupt_base(void)
{
    g_autoptr(VfsecWireConfig) cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 9);
    VfsecWireOp *op;

    add_sa_fill(&vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_ADD_SA)->add_sa, VFSEC_WIRE_DIR_IN);
    op = vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_REMOVE_SA);
    op->remove_sa.sa_index = 3;
    op->remove_sa.spi = 0x99;
    vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_QUERY);
    return encode(cfg);
}

#define FRAME_LEVEL (-1)

typedef struct {
    const char *name;
    gsize offset;
    guint width;       /* 1, 2 or 4 bytes written big-endian */
    guint32 value;
    const char *message;
    int status;        /* per-op status in PER_OP mode (op #op), or FRAME_LEVEL */
    guint op;
} Corruption;

static const Corruption corruptions[] = {
    { "outer VID", 14, 2, 100, "outer VID 100 at offset 14 (data) is not the configuration VID 4094", FRAME_LEVEL, 0 },
    { "bypass tag", 14, 2, 4092, "(metadata-bypass) is not the configuration VID", FRAME_LEVEL, 0 },
    { "ethertype", 16, 2, 0x0800, "ethertype 0x0800 at offset 16 is not 0x88b5", FRAME_LEVEL, 0 },
    { "magic", 18, 2, 0x5654, "magic 0x5654 at offset 18 is not 0x5653", FRAME_LEVEL, 0 },
    { "version", 20, 1, 2, "version 2 at offset 20 is not 1", FRAME_LEVEL, 0 },
    { "kind", 21, 1, 3, "kind 3 at offset 21 is neither request (1) nor reply (2)", FRAME_LEVEL, 0 },
    { "op_count too high", 26, 2, 4, "op #3 header at offset 154 is cut off (0 bytes left, op_count 4)", FRAME_LEVEL, 0 },
    { "op_count too low", 26, 2, 2, "op_count 2 but a non-zero byte follows the last op at offset 150", FRAME_LEVEL, 0 },
    { "body_len overrun", 140, 2, 200, "op #1 body_len 200 exceeds the 12 bytes left at offset 142", FRAME_LEVEL, 0 },
    { "body_len of the last op", 152, 2, 1, "op #2 body_len 1 exceeds the 0 bytes left at offset 154", FRAME_LEVEL, 0 },
    { "unknown opcode", 150, 1, 0x42, "op #2 unknown opcode: opcode 66 at offset 150 is not known to protocol v1", VFSEC_WIRE_STATUS_UNSUPPORTED_OP, 2 },
    { "opcode 0", 138, 1, 0, "opcode 0 at offset 138 is not known", VFSEC_WIRE_STATUS_UNSUPPORTED_OP, 1 },
    { "n_tags 3", 36, 1, 3, "op #0 ADD_SA: n_tags 3 at offset 36 exceeds 2", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "family 5", 34, 1, 5, "key family 5 at offset 34 is not 4 or 6", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "family 0", 34, 1, 0, "key family 0 at offset 34", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "key proto", 35, 1, 17, "key proto 17 at offset 35 is not ESP (50) or AH (51)", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "AH", 35, 1, 51, "key proto 51 at offset 35 has no v1 transform", VFSEC_WIRE_STATUS_UNSUPPORTED_ALG, 0 },
    { "SPI 0", 38, 4, 0, "key SPI at offset 38 is 0", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "IPv4 dst tail", 50, 1, 1, "IPv4 key dst at offset 42 has non-zero bytes after the first 4", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "multicast MAC", 58, 1, 0x01, "MAC at offset 58 is zero or multicast", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "tag TPID", 66, 2, 0x9100, "tag 0 TPID 0x9100 at offset 66 is not 0x8100 or 0x88a8", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "tag VID 4095", 68, 2, 0x0fff, "tag 0 VID 4095 at offset 68 is reserved", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "unused tag slot", 72, 2, 5, "unused tag slot 1 at offset 70 is not zero", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "n_tags 0 with a tag", 36, 1, 0, "unused tag slot 0 at offset 66 is not zero", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "dir", 74, 1, 3, "dir 3 at offset 74 is not 1 or 2", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "alg", 75, 1, 9, "alg 9 at offset 75 is unknown", VFSEC_WIRE_STATUS_UNSUPPORTED_ALG, 0 },
    { "mode", 76, 1, 2, "mode 2 at offset 76 is not transport (1)", VFSEC_WIRE_STATUS_UNSUPPORTED_ALG, 0 },
    { "SA flags", 77, 1, 1, "SA flags 0x01 at offset 77 ask for features v1 lacks", VFSEC_WIRE_STATUS_UNSUPPORTED_ALG, 0 },
    { "key_len 32 for AES-128", 82, 1, 32, "key_len 32 at offset 82 does not match alg 1 (16 bytes)", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "key_len 16 for AES-256", 75, 1, 2, "key_len 16 at offset 82 does not match alg 2 (32 bytes)", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "IPv4 src tail", 130, 1, 1, "IPv4 src at offset 118 has non-zero bytes", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "op flags", 31, 1, 1, "op #0 ADD_SA: flags 0x01 at offset 31 have unknown bits", VFSEC_WIRE_STATUS_MALFORMED, 0 },
    { "REMOVE_SA flags", 139, 1, 2, "flags 0x02 at offset 139 have unknown bits", VFSEC_WIRE_STATUS_MALFORMED, 1 },
    { "REMOVE_SA SPI 0", 146, 4, 0, "op #1 REMOVE_SA: SPI at offset 146 is 0", VFSEC_WIRE_STATUS_MALFORMED, 1 },
    { "REMOVE_SA by key, short body", 139, 1, 1, "body_len 8 at offset 140 is below 40", VFSEC_WIRE_STATUS_MALFORMED, 1 },
    /* Strictly the short body is the error; leniently op #1 is misframed at
     * 137 and the leftover bytes after op #2 sink the frame. */
    { "ADD_SA body short", 32, 2, 103, "op #0 ADD_SA: body_len 103 at offset 32 is below 104", FRAME_LEVEL, 0 },
};

static void
test_corruption(void)
{
    g_autoptr(GBytes) base = corrupt_base();
    gsize len = 0;
    const guint8 *f = g_bytes_get_data(base, &len);

    g_assert_cmpuint(len, ==, 154);
    for (gsize i = 0; i < G_N_ELEMENTS(corruptions); i++) {
        const Corruption *c = &corruptions[i];
        g_autofree guint8 *copy = g_memdup2(f, len);
        g_autoptr(GError) error = NULL;
        g_autoptr(GError) per_op_error = NULL;
        g_autoptr(VfsecWireConfig) strict = NULL;
        g_autoptr(VfsecWireConfig) lenient = NULL;

        g_test_message("%s", c->name);
        if (c->width == 1)
            copy[c->offset] = (guint8)c->value;
        else if (c->width == 2)
            vfsec_wire_put16(copy + c->offset, (guint16)c->value);
        else
            vfsec_wire_put32(copy + c->offset, c->value);

        strict = vfsec_wire_config_decode(NULL, copy, len, VFSEC_WIRE_DECODE_STRICT, &error);
        g_assert_null(strict);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
        if (!strstr(error->message, c->message))
            g_error("%s: got \"%s\", want \"%s\"", c->name, error->message, c->message);
        g_assert_true(g_str_has_prefix(error->message, "config frame"));

        lenient = vfsec_wire_config_decode(NULL, copy, len, VFSEC_WIRE_DECODE_PER_OP, &per_op_error);
        if (c->status == FRAME_LEVEL) {
            g_assert_null(lenient);
            g_assert_error(per_op_error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
            continue;
        }
        /* The bad op keeps its status and error, its siblings decode. */
        g_assert_no_error(per_op_error);
        g_assert_nonnull(lenient);
        g_assert_cmpuint(lenient->ops->len, ==, 3);
        for (guint j = 0; j < 3; j++) {
            const VfsecWireOp *op = &g_array_index(lenient->ops, VfsecWireOp, j);

            if (j == c->op) {
                g_assert_cmpint(op->status, ==, c->status);
                g_assert_nonnull(op->error);
                g_assert_cmpstr(op->error->message, ==, error->message);
            } else {
                g_assert_cmpint(op->status, ==, VFSEC_WIRE_STATUS_OK);
                g_assert_null(op->error);
            }
        }
    }
}

/* Corruptions that change the frame's size, and reply-specific ones. */
static void
test_corruption_sizes(void)
{
    g_autoptr(GBytes) base = corrupt_base();
    g_autoptr(GByteArray) f = g_byte_array_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecWireConfig) cfg = NULL;
    guint8 buf[VFSEC_WIRE_FRAME_MAX + 8] = { 0 };
    gsize n;

    /* Zero padding after the last op is fine (the MAC adds it)... */
    g_byte_array_append(f, g_bytes_get_data(base, NULL), (guint)g_bytes_get_size(base));
    g_byte_array_set_size(f, f->len + 40);
    memset(f->data + 154, 0, 40);
    cfg = vfsec_wire_config_decode(NULL, f->data, f->len, 0, &error);
    g_assert_no_error(error);
    g_clear_pointer(&cfg, vfsec_wire_config_free);
    /* ... non-zero bytes there are not. */
    f->data[190] = 0xaa;
    g_assert_null(vfsec_wire_config_decode(NULL, f->data, f->len, 0, &error));
    g_assert_nonnull(strstr(error->message, "non-zero byte follows the last op at offset 190"));
    g_clear_error(&error);

    /* Over the MTU, even if it is only padding. */
    memcpy(buf, f->data, 154);
    g_assert_null(vfsec_wire_config_decode(NULL, buf, VFSEC_WIRE_FRAME_MAX + 1, 0, &error));
    g_assert_nonnull(strstr(error->message, "payload of 1501 bytes exceeds the 1500-byte MTU"));
    g_clear_error(&error);
    cfg = vfsec_wire_config_decode(NULL, buf, VFSEC_WIRE_FRAME_MAX, 0, &error);
    g_assert_no_error(error);
    g_clear_pointer(&cfg, vfsec_wire_config_free);

    /* A request whose reply would not fit one frame: 187 REMOVE_ALL_SA fit the
     * request (30 + 187 * 4 bytes) but need 12 + 187 * 8 = 1508 reply bytes. */
    memcpy(buf, f->data, 30);
    vfsec_wire_put16(buf + 26, 187);
    for (guint i = 0; i < 187; i++) {
        buf[30 + 4 * i] = VFSEC_WIRE_OP_REMOVE_ALL_SA;
        buf[30 + 4 * i + 1] = 0;
        vfsec_wire_put16(buf + 30 + 4 * i + 2, 0);
    }
    n = 30 + 187 * 4;
    g_assert_null(vfsec_wire_config_decode(NULL, buf, n, VFSEC_WIRE_DECODE_PER_OP, &error));
    g_assert_nonnull(strstr(error->message, "the 187 ops need a 1508-byte reply, over the 1500-byte MTU"));
    g_clear_error(&error);
    vfsec_wire_put16(buf + 26, 186);
    cfg = vfsec_wire_config_decode(NULL, buf, n - 4, 0, &error);
    g_assert_no_error(error);
    g_clear_pointer(&cfg, vfsec_wire_config_free);

    /* Replies: a QUERY answered OK needs the 16-byte body; unknown statuses
     * and opcodes from a newer agent are kept. */
    {
        g_autoptr(GBytes) reply = ex_query_reply();
        g_autofree guint8 *r = g_memdup2(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply));
        gsize rlen = g_bytes_get_size(reply);

        vfsec_wire_put16(r + 32, 4);
        g_assert_null(vfsec_wire_config_decode(NULL, r, rlen, VFSEC_WIRE_DECODE_PER_OP, &error));
        g_assert_nonnull(strstr(error->message, "op #0 QUERY: QUERY reply body_len 4 at offset 32 is below 16"));
        g_clear_error(&error);
        vfsec_wire_put16(r + 32, 16);
        r[30] = 0x42;
        r[31] = 0x77;
        cfg = vfsec_wire_config_decode(NULL, r, rlen, 0, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(g_array_index(cfg->ops, VfsecWireOp, 0).opcode, ==, 0x42);
        g_assert_cmpuint(g_array_index(cfg->ops, VfsecWireOp, 0).status, ==, 0x77);
    }
}

/* ---- Batching ---- */

typedef struct {
    const char *name;
    VfsecWireOpcode opcode;
    guint expect;          /* ops that fit one frame */
    gsize frame_len;       /* the full frame's length */
} FitCase;

static void
op_fill(VfsecWireOp *op, VfsecWireOpcode opcode, guint i)
{
    memset(op, 0, sizeof(*op));
    op->opcode = (guint8)opcode;
    switch (opcode) {
    case VFSEC_WIRE_OP_REMOVE_SA:
        op->remove_sa.sa_index = i;
        op->remove_sa.spi = 0x10000 + i;
        break;
    case VFSEC_WIRE_OP_ADD_SA:
        add_sa_fill(&op->add_sa, VFSEC_WIRE_DIR_OUT);
        op->add_sa.key.spi = 0x10000 + i;
        break;
    case VFSEC_WIRE_OP_MAC_ADD:
        mac_entry_fill(&op->mac, &vm_mac, (guint16)(i + 1));
        break;
    default:
        break;
    }
}

static void
test_fit(void)
{
    static const FitCase cases[] = {
        /* (1500 - 12) / 12 */
        { "REMOVE_SA by index", VFSEC_WIRE_OP_REMOVE_SA, VFSEC_WIRE_REMOVE_SA_PER_FRAME, 18 + 12 + 124 * 12 },
        /* (1500 - 12) / 108 */
        { "ADD_SA", VFSEC_WIRE_OP_ADD_SA, VFSEC_WIRE_ADD_SA_PER_FRAME, 18 + 12 + 13 * 108 },
        /* (1500 - 12) / 20 */
        { "MAC_ADD", VFSEC_WIRE_OP_MAC_ADD, 74, 18 + 12 + 74 * 20 },
        /* the reply bounds these: (1500 - 12) / 8 and (1500 - 12) / 20 */
        { "REMOVE_ALL_SA", VFSEC_WIRE_OP_REMOVE_ALL_SA, 186, 18 + 12 + 186 * 4 },
        { "QUERY", VFSEC_WIRE_OP_QUERY, 74, 18 + 12 + 74 * 4 },
    };

    for (gsize c = 0; c < G_N_ELEMENTS(cases); c++) {
        g_autoptr(VfsecWireBuilder) b = vfsec_wire_builder_new(NULL, &pf_l2, VFSEC_WIRE_KIND_REQUEST, 1);
        g_autoptr(VfsecWireConfig) cfg = NULL;
        g_autoptr(GError) error = NULL;
        VfsecWireOp op;
        const guint8 *frame;
        gsize len = 0;
        guint i;

        g_test_message("%s", cases[c].name);
        for (i = 0; i < cases[c].expect; i++) {
            op_fill(&op, cases[c].opcode, i);
            g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_OK);
            g_assert_no_error(error);
        }
        op_fill(&op, cases[c].opcode, i);
        g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_FULL);
        g_assert_no_error(error);
        g_assert_cmpuint(vfsec_wire_builder_count(b), ==, cases[c].expect);

        frame = vfsec_wire_builder_finish(b, &len);
        g_assert_cmpuint(len, ==, cases[c].frame_len);
        cfg = vfsec_wire_config_decode(NULL, frame, len, 0, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(cfg->ops->len, ==, cases[c].expect);

        /* After a reset the op that did not fit goes into the next frame. */
        vfsec_wire_builder_reset(b, 2);
        g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_OK);
        frame = vfsec_wire_builder_finish(b, &len);
        g_assert_cmpuint(len, >=, VFSEC_WIRE_ETH_ZLEN);
        g_assert_cmpuint(vfsec_wire_get32(frame + 22), ==, 2);
    }
}

static void
test_fit_limits(void)
{
    g_autoptr(VfsecWireBuilder) b = vfsec_wire_builder_new(NULL, &pf_l2, VFSEC_WIRE_KIND_REQUEST, 1);
    g_autoptr(GError) error = NULL;
    VfsecWireOp op = { .opcode = VFSEC_WIRE_OP_MAC_REPLACE, .generation = 2 };
    VfsecWireMacEntry e;
    g_autoptr(VfsecWireConfig) cfg = NULL;
    guint8 buf[VFSEC_WIRE_FRAME_MAX];

    /* MAC_REPLACE: 92 entries fill a frame, 93 can never be sent. */
    op.mac_entries = g_array_new(FALSE, TRUE, sizeof(VfsecWireMacEntry));
    for (guint i = 0; i < VFSEC_WIRE_MAC_REPLACE_MAX; i++) {
        mac_entry_fill(&e, &vm_mac, (guint16)(i + 1));
        g_array_append_val(op.mac_entries, e);
    }
    g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_OK);
    g_assert_no_error(error);
    g_array_append_val(op.mac_entries, e);
    vfsec_wire_builder_reset(b, 2);
    g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_INVALID);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_clear_error(&error);
    g_array_unref(op.mac_entries);

    /* An op the receiver would refuse is refused by the encoder too, and
     * leaves nothing behind in the frame. */
    op_fill(&op, VFSEC_WIRE_OP_ADD_SA, 0);
    op.add_sa.key.n_tags = 3;
    g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_INVALID);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(error->message, "n_tags 3"));
    g_clear_error(&error);
    op.add_sa.key.n_tags = 1;
    op.add_sa.key_len = 32;
    g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_INVALID);
    g_assert_nonnull(strstr(error->message, "key_len 32"));
    g_clear_error(&error);
    op.opcode = 99;
    g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_INVALID);
    g_clear_error(&error);
    /* REMOVE_SA by index skips the read-back, but not its one refusable value. */
    op = (VfsecWireOp){ .opcode = VFSEC_WIRE_OP_REMOVE_SA };
    op.remove_sa.sa_index = 3;
    g_assert_cmpint(vfsec_wire_builder_append(b, &op, &error), ==, VFSEC_WIRE_APPEND_INVALID);
    g_assert_nonnull(strstr(error->message, "op #0 REMOVE_SA: SPI at offset 38 is 0"));
    g_clear_error(&error);
    g_assert_cmpuint(vfsec_wire_builder_count(b), ==, 0);

    /* vfsec_wire_config_encode() is one frame or an error. */
    cfg = config_new(VFSEC_WIRE_KIND_REQUEST, 5);
    for (guint i = 0; i <= VFSEC_WIRE_REMOVE_SA_PER_FRAME; i++)
        op_fill(vfsec_wire_config_add(cfg, VFSEC_WIRE_OP_REMOVE_SA), VFSEC_WIRE_OP_REMOVE_SA, i);
    g_assert_cmpint(vfsec_wire_config_encode(NULL, cfg, buf, sizeof(buf), &error), ==, -1);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_assert_nonnull(strstr(error->message, "op #124 does not fit"));
    g_clear_error(&error);
    g_array_set_size(cfg->ops, 1);
    g_assert_cmpint(vfsec_wire_config_encode(NULL, cfg, buf, 59, &error), ==, -1);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
}

/* The agent's side of a batch: decode each request, answer every op. SAs with
 * an odd index do not exist. */
static GBytes *
agent_answer(GBytes *request)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecWireConfig) req = vfsec_wire_config_decode(NULL, g_bytes_get_data(request, NULL),
                                                               g_bytes_get_size(request),
                                                               VFSEC_WIRE_DECODE_PER_OP, &error);
    g_autoptr(VfsecWireConfig) reply = NULL;

    g_assert_no_error(error);
    reply = vfsec_wire_config_new_reply(req);
    g_assert_true(vfsec_mac_equal(&reply->l2.dst, &pf_l2.src));
    for (guint i = 0; i < req->ops->len; i++) {
        const VfsecWireOp *op = &g_array_index(req->ops, VfsecWireOp, i);

        if (op->remove_sa.sa_index & 1)
            g_array_index(reply->ops, VfsecWireOp, i).status = VFSEC_WIRE_STATUS_NO_SUCH_SA;
    }
    return encode(reply);
}

static void
test_batch(void)
{
    const guint n = 10000;
    g_autofree VfsecWireOp *ops = g_new0(VfsecWireOp, n);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecWireBatch) batch = NULL;
    guint covered = 0;
    guint missing = 0;

    for (guint i = 0; i < n; i++)
        op_fill(&ops[i], VFSEC_WIRE_OP_REMOVE_SA, i);
    /* Start near the top so the seqs wrap inside the batch. */
    batch = vfsec_wire_batch_new(NULL, &pf_l2, G_MAXUINT32 - 10, ops, n, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(batch->frames->len, ==, (n + VFSEC_WIRE_REMOVE_SA_PER_FRAME - 1) / VFSEC_WIRE_REMOVE_SA_PER_FRAME);

    for (guint f = 0; f < batch->frames->len; f++) {
        const VfsecWireBatchFrame *frame = &g_array_index(batch->frames, VfsecWireBatchFrame, f);
        g_autoptr(GBytes) answer = agent_answer(frame->frame);
        g_autoptr(VfsecWireConfig) reply = vfsec_wire_config_decode(NULL, g_bytes_get_data(answer, NULL),
                                                                     g_bytes_get_size(answer), 0, &error);
        const VfsecWireBatchFrame *matched;

        g_assert_no_error(error);
        g_assert_cmpuint(frame->seq, ==, (guint32)(G_MAXUINT32 - 10 + f));
        g_assert_cmpuint(frame->first_op, ==, covered);
        g_assert_true(vfsec_wire_batch_find(batch, frame->seq) == frame);
        covered += frame->n_ops;

        matched = vfsec_wire_batch_match(batch, ops, reply, &error);
        g_assert_no_error(error);
        g_assert_true(matched == frame);
        for (guint i = 0; i < reply->ops->len; i++) {
            if (g_array_index(reply->ops, VfsecWireOp, i).status == VFSEC_WIRE_STATUS_NO_SUCH_SA) {
                g_assert_cmpuint(ops[frame->first_op + i].remove_sa.sa_index & 1, ==, 1);
                missing++;
            }
        }

        /* Replies are matched by seq alone; what can be checked is that
         * the seq is ours and the reply has the frame's shape. */
        if (f == 0) {
            reply->seq = batch->first_seq - 1;
            g_assert_null(vfsec_wire_batch_match(batch, ops, reply, &error));
            g_assert_nonnull(strstr(error->message, "answers none of the 81 frames"));
            g_clear_error(&error);
            reply->seq = batch->first_seq + batch->frames->len - 1;  /* the last, shorter frame */
            g_assert_null(vfsec_wire_batch_match(batch, ops, reply, &error));
            g_assert_nonnull(strstr(error->message, "has 124 ops for 80 request ops"));
            g_clear_error(&error);
        }
    }
    g_assert_cmpuint(covered, ==, n);
    g_assert_cmpuint(missing, ==, n / 2);
    g_assert_null(vfsec_wire_batch_find(batch, G_MAXUINT32 - 11));
    g_assert_null(vfsec_wire_batch_find(batch, G_MAXUINT32 - 10 + batch->frames->len));
    for (guint i = 0; i < n; i++)
        vfsec_wire_op_clear(&ops[i]);
}

static void
test_reply_check(void)
{
    g_autoptr(GBytes) req_frame = ex_remove_sa_request();
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecWireConfig) req = vfsec_wire_config_decode(NULL, g_bytes_get_data(req_frame, NULL),
                                                               g_bytes_get_size(req_frame), 0, &error);
    g_autoptr(VfsecWireConfig) reply = vfsec_wire_config_new_reply(req);
    const VfsecWireOp *ops = (const VfsecWireOp *)req->ops->data;

    g_assert_true(vfsec_wire_reply_check(ops, req->ops->len, req->seq, reply, &error));
    g_assert_no_error(error);
    g_assert_false(vfsec_wire_reply_check(ops, req->ops->len, req->seq, req, &error));
    g_assert_nonnull(strstr(error->message, "is a request, not a reply"));
    g_clear_error(&error);
    g_assert_false(vfsec_wire_reply_check(ops, req->ops->len, req->seq + 1, reply, &error));
    g_assert_nonnull(strstr(error->message, "reply seq 3 does not answer request seq 4"));
    g_clear_error(&error);
    g_assert_false(vfsec_wire_reply_check(ops, 1, req->seq, reply, &error));
    g_assert_nonnull(strstr(error->message, "has 2 ops for 1 request ops"));
    g_clear_error(&error);
    g_array_index(reply->ops, VfsecWireOp, 1).opcode = VFSEC_WIRE_OP_ADD_SA;
    g_assert_false(vfsec_wire_reply_check(ops, req->ops->len, req->seq, reply, &error));
    g_assert_nonnull(strstr(error->message, "op #1 is ADD_SA, the request op was REMOVE_SA"));
}

/* The allocation-free paths against the general ones: the same bytes for a
 * REMOVE_SA by index, the same reply decoded both ways, the same checks. */
static void
test_fast_paths(void)
{
    g_autoptr(VfsecWireBuilder) general = vfsec_wire_builder_new(NULL, &pf_l2, VFSEC_WIRE_KIND_REQUEST, 9);
    g_autoptr(VfsecWireBuilder) fast = vfsec_wire_builder_new(NULL, &pf_l2, VFSEC_WIRE_KIND_REQUEST, 9);
    g_autoptr(VfsecWireBuilder) reply = NULL;
    g_autoptr(VfsecWireConfig) decoded = NULL;
    g_autoptr(GError) error = NULL;
    VfsecWireL2 agent_l2 = pf_l2;
    VfsecWireReply view = { 0 };
    VfsecWireReplyOp rop = { 0 };
    const guint8 *a, *b;
    gsize alen = 0, blen = 0;
    guint n = 0;

    /* Request: byte for byte what vfsec_wire_builder_append() writes, and
     * FULL at the same op. */
    for (;; n++) {
        VfsecWireOp op = { .opcode = VFSEC_WIRE_OP_REMOVE_SA };
        VfsecWireAppend x, y;

        op.remove_sa.sa_index = 1000 + n;
        op.remove_sa.spi = 0x100 + n;
        x = vfsec_wire_builder_append(general, &op, &error);
        y = vfsec_wire_builder_append_remove_sa(fast, 1000 + n, 0x100 + n, &error);
        g_assert_no_error(error);
        g_assert_cmpint(x, ==, y);
        if (x == VFSEC_WIRE_APPEND_FULL)
            break;
    }
    g_assert_cmpuint(n, ==, VFSEC_WIRE_REMOVE_SA_PER_FRAME);
    a = vfsec_wire_builder_finish(general, &alen);
    b = vfsec_wire_builder_finish(fast, &blen);
    g_assert_cmpmem(a, alen, b, blen);
    vfsec_wire_builder_reset(fast, 10);
    g_assert_cmpint(vfsec_wire_builder_append_remove_sa(fast, 1, 0, &error), ==, VFSEC_WIRE_APPEND_INVALID);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(error->message, "REMOVE_SA of index 1 with SPI 0"));
    g_clear_error(&error);
    g_assert_cmpuint(vfsec_wire_builder_count(fast), ==, 0);

    /* Reply: three ops written op by op, read by both decoders. */
    agent_l2.src = pf_l2.dst;
    agent_l2.dst = pf_l2.src;
    reply = vfsec_wire_builder_new(NULL, &agent_l2, VFSEC_WIRE_KIND_REPLY, 9);
    rop = (VfsecWireReplyOp){ .opcode = VFSEC_WIRE_OP_REMOVE_SA, .status = VFSEC_WIRE_STATUS_OK };
    g_assert_cmpint(vfsec_wire_builder_append_reply(reply, &rop), ==, VFSEC_WIRE_APPEND_OK);
    rop = (VfsecWireReplyOp){ .opcode = VFSEC_WIRE_OP_REMOVE_SA, .status = VFSEC_WIRE_STATUS_NO_SUCH_SA,
                              .value = 77 };
    g_assert_cmpint(vfsec_wire_builder_append_reply(reply, &rop), ==, VFSEC_WIRE_APPEND_OK);
    rop = (VfsecWireReplyOp){ .opcode = VFSEC_WIRE_OP_QUERY, .status = VFSEC_WIRE_STATUS_OK,
                              .value = 4096, .query = { 4096, 3, 2, 5 } };
    g_assert_cmpint(vfsec_wire_builder_append_reply(reply, &rop), ==, VFSEC_WIRE_APPEND_OK);
    a = vfsec_wire_builder_finish(reply, &alen);
    g_assert_true(vfsec_wire_reply_decode(NULL, a, alen, &view, &error));
    g_assert_no_error(error);
    decoded = vfsec_wire_config_decode(NULL, a, alen, VFSEC_WIRE_DECODE_STRICT, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(view.seq, ==, decoded->seq);
    g_assert_cmpuint(view.n_ops, ==, decoded->ops->len);
    for (guint i = 0; i < view.n_ops; i++) {
        const VfsecWireOp *op = &g_array_index(decoded->ops, VfsecWireOp, i);

        g_assert_cmpuint(view.ops[i].opcode, ==, op->opcode);
        g_assert_cmpuint(view.ops[i].status, ==, op->status);
        g_assert_cmpuint(view.ops[i].value, ==, op->value);
        g_assert_cmpmem(&view.ops[i].query, sizeof(view.ops[i].query), &op->query, sizeof(op->query));
    }
    g_assert_cmpuint(view.ops[2].query.generation, ==, 5);
    g_assert_cmpuint(view.ops[1].value, ==, 77);

    /* The checks of vfsec_wire_reply_check(), on the view. */
    g_assert_false(vfsec_wire_reply_answers(&view, 9, VFSEC_WIRE_OP_REMOVE_SA, 3, &error));
    g_assert_nonnull(strstr(error->message, "op #2 is QUERY, the request op was REMOVE_SA"));
    g_clear_error(&error);
    g_assert_false(vfsec_wire_reply_answers(&view, 8, VFSEC_WIRE_OP_REMOVE_SA, 3, &error));
    g_assert_nonnull(strstr(error->message, "reply seq 9 does not answer request seq 8"));
    g_clear_error(&error);
    g_assert_false(vfsec_wire_reply_answers(&view, 9, VFSEC_WIRE_OP_REMOVE_SA, 2, &error));
    g_assert_nonnull(strstr(error->message, "has 3 ops for 2 request ops"));
    g_clear_error(&error);
    view.n_ops = 2;
    g_assert_true(vfsec_wire_reply_answers(&view, 9, VFSEC_WIRE_OP_REMOVE_SA, 2, &error));
    g_assert_no_error(error);

    /* A request is no reply; a request builder's frame says so. */
    a = vfsec_wire_builder_finish(general, &alen);
    g_assert_false(vfsec_wire_reply_decode(NULL, a, alen, &view, &error));
    g_assert_nonnull(strstr(error->message, "is a request, not a reply"));
    g_clear_error(&error);
}

/* What the allocation-free reply decoder refuses, as the general one does. */
static void
test_reply_decode_errors(void)
{
    g_autoptr(VfsecWireBuilder) reply = vfsec_wire_builder_new(NULL, &pf_l2, VFSEC_WIRE_KIND_REPLY, 4);
    VfsecWireReplyOp rop = { .opcode = VFSEC_WIRE_OP_REMOVE_SA };
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *f = NULL;
    VfsecWireReply view;
    const guint8 *frame;
    gsize len = 0;
    const gsize count_off = VFSEC_WIRE_CONFIG_OFFSET + 8;
    const gsize end = VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_CONFIG_HLEN + 2 * 8;

    g_assert_cmpint(vfsec_wire_builder_append_reply(reply, &rop), ==, VFSEC_WIRE_APPEND_OK);
    g_assert_cmpint(vfsec_wire_builder_append_reply(reply, &rop), ==, VFSEC_WIRE_APPEND_OK);
    frame = vfsec_wire_builder_finish(reply, &len);
    f = g_memdup2(frame, len);

    /* More ops than a reply can hold: refused before any is read. */
    vfsec_wire_put16(f + count_off, VFSEC_WIRE_REPLY_OPS_MAX + 1);
    g_assert_false(vfsec_wire_reply_decode(NULL, f, len, &view, &error));
    g_assert_nonnull(strstr(error->message, "above the 186 ops a reply holds"));
    g_clear_error(&error);
    /* One op more than the frame has: its header is cut off. */
    vfsec_wire_put16(f + count_off, 3);
    g_assert_false(vfsec_wire_reply_decode(NULL, f, end, &view, &error));
    g_assert_nonnull(strstr(error->message, "op #2 header"));
    g_clear_error(&error);
    /* A body shorter than the value. */
    vfsec_wire_put16(f + count_off, 2);
    vfsec_wire_put16(f + end - 8 + 2, 2);
    g_assert_false(vfsec_wire_reply_decode(NULL, f, len, &view, &error));
    g_assert_nonnull(strstr(error->message, "op #1 REMOVE_SA: body_len 2"));
    g_clear_error(&error);
    /* Garbage after the last op. */
    memcpy(f, frame, len);
    f[end] = 1;
    g_assert_false(vfsec_wire_reply_decode(NULL, f, len, &view, &error));
    g_assert_nonnull(strstr(error->message, "non-zero byte follows the last op"));
    g_clear_error(&error);
    /* And the intact frame decodes. */
    f[end] = 0;
    g_assert_true(vfsec_wire_reply_decode(NULL, f, len, &view, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(view.n_ops, ==, 2);
}

/* The agent path for a request with a bad op among good ones. */
static void
test_agent_reply(void)
{
    g_autoptr(GBytes) base = corrupt_base();
    g_autofree guint8 *f = g_memdup2(g_bytes_get_data(base, NULL), g_bytes_get_size(base));
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecWireConfig) req = NULL;
    g_autoptr(VfsecWireConfig) reply = NULL;
    g_autoptr(VfsecWireConfig) back = NULL;
    g_autoptr(GBytes) reply_frame = NULL;
    g_autofree char *text = NULL;

    f[75] = 9;        /* ADD_SA alg 9 */
    f[150] = 0x42;    /* QUERY -> unknown opcode */
    req = vfsec_wire_config_decode(NULL, f, g_bytes_get_size(base), VFSEC_WIRE_DECODE_PER_OP, &error);
    g_assert_no_error(error);
    reply = vfsec_wire_config_new_reply(req);
    reply_frame = encode(reply);
    back = vfsec_wire_config_decode(NULL, g_bytes_get_data(reply_frame, NULL), g_bytes_get_size(reply_frame),
                                    0, &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_wire_reply_check((const VfsecWireOp *)req->ops->data, req->ops->len, req->seq,
                                         back, &error));
    g_assert_cmpint(g_array_index(back->ops, VfsecWireOp, 0).status, ==, VFSEC_WIRE_STATUS_UNSUPPORTED_ALG);
    g_assert_cmpint(g_array_index(back->ops, VfsecWireOp, 1).status, ==, VFSEC_WIRE_STATUS_OK);
    g_assert_cmpint(g_array_index(back->ops, VfsecWireOp, 2).status, ==, VFSEC_WIRE_STATUS_UNSUPPORTED_OP);
    g_assert_cmpuint(g_array_index(back->ops, VfsecWireOp, 2).opcode, ==, 0x42);

    text = vfsec_wire_config_describe(back);
    g_assert_cmpstr(text, ==,
                    "reply seq 9 02:00:00:00:00:fe -> 02:00:00:00:00:01, 3 ops\n"
                    "  #0 ADD_SA: UNSUPPORTED_ALG value 0\n"
                    "  #1 REMOVE_SA: OK value 0\n"
                    "  #2 opcode 66: UNSUPPORTED_OP value 0");
    g_clear_pointer(&text, g_free);
    text = vfsec_wire_op_describe(&g_array_index(req->ops, VfsecWireOp, 0), VFSEC_WIRE_KIND_REQUEST);
    g_assert_cmpstr(text, ==, "ADD_SA [UNSUPPORTED_ALG: config frame: op #0 ADD_SA: alg 9 at offset 75 is unknown]");
}

/* ---- Classification ---- */

typedef struct {
    const char *name;
    const char *hex;         /* the frame from offset 12 on; MACs are prepended */
    VfsecWireClass klass;
    guint16 tpid;
    guint8 pcp;
    guint16 vid;
    gsize offset;
} ClassCase;

static const ClassCase class_cases[] = {
    { "untagged IPv4", "080045", VFSEC_WIRE_CLASS_DATA, 0, 0, 0, 12 },
    { "untagged, only an ethertype", "0800", VFSEC_WIRE_CLASS_DATA, 0, 0, 0, 12 },
    { "customer VLAN 100", "81000064" "0800", VFSEC_WIRE_CLASS_DATA, 0x8100, 0, 100, 16 },
    { "old Q-in-Q TPID is not a tag", "91000ffe" "0800", VFSEC_WIRE_CLASS_DATA, 0, 0, 0, 12 },
    { "config 802.1Q", "81000ffe" "88b5", VFSEC_WIRE_CLASS_CONFIG, 0x8100, 0, 4094, 16 },
    { "config 802.1ad", "88a80ffe" "88b5", VFSEC_WIRE_CLASS_CONFIG, 0x88a8, 0, 4094, 16 },
    { "config PCP 7 DEI", "8100fffe" "88b5", VFSEC_WIRE_CLASS_CONFIG, 0x8100, 7, 4094, 16 },
    { "bypass", "81000ffc" "0800", VFSEC_WIRE_CLASS_METADATA_BYPASS, 0x8100, 0, 4092, 16 },
    { "bypass 802.1ad PCP 5", "88a8affc" "0800", VFSEC_WIRE_CLASS_METADATA_BYPASS, 0x88a8, 5, 4092, 16 },
    { "metadata", "81000ffd" "88b5", VFSEC_WIRE_CLASS_METADATA, 0x8100, 0, 4093, 16 },
    { "metadata 802.1ad PCP 1", "88a82ffd" "88b5", VFSEC_WIRE_CLASS_METADATA, 0x88a8, 1, 4093, 16 },
    { "Q-in-Q: bypass outside a customer VLAN", "88a80ffc" "81000064" "0800",
      VFSEC_WIRE_CLASS_METADATA_BYPASS, 0x88a8, 0, 4092, 16 },
    /* An untrusted VF writes a config tag; the port tag goes outside it. */
    { "config tag inside the bypass tag", "81000ffc" "81000ffe" "88b5",
      VFSEC_WIRE_CLASS_METADATA_BYPASS, 0x8100, 0, 4092, 16 },
    { "metadata tag inside the bypass tag", "88a80ffc" "81000ffd" "88b5",
      VFSEC_WIRE_CLASS_METADATA_BYPASS, 0x88a8, 0, 4092, 16 },
    { "config tag inside a customer VLAN", "81000064" "81000ffe" "88b5",
      VFSEC_WIRE_CLASS_DATA, 0x8100, 0, 100, 16 },
    { "VID 0 priority tag", "8100a000" "0800", VFSEC_WIRE_CLASS_DATA, 0x8100, 5, 0, 16 },
    { "no ethertype", "08", VFSEC_WIRE_CLASS_MALFORMED, 0, 0, 0, 12 },
    { "nothing after the MACs", "", VFSEC_WIRE_CLASS_MALFORMED, 0, 0, 0, 12 },
    { "tag cut after the TPID", "8100", VFSEC_WIRE_CLASS_MALFORMED, 0x8100, 0, 0, 12 },
    { "tag without a following ethertype", "81000ffe", VFSEC_WIRE_CLASS_MALFORMED, 0x8100, 0, 0, 12 },
};

static GByteArray *
frame_from_hex(const char *hex)
{
    static const guint8 macs[12] = { 0x52, 0x54, 0, 0xab, 0xcd, 0xef, 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
    GByteArray *f = g_byte_array_new();

    g_byte_array_append(f, macs, sizeof(macs));
    for (const char *p = hex; *p; p += 2) {
        guint8 b = (guint8)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));

        g_byte_array_append(f, &b, 1);
    }
    return f;
}

static void
test_classify(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(class_cases); i++) {
        const ClassCase *c = &class_cases[i];
        g_autoptr(GByteArray) f = frame_from_hex(c->hex);
        g_autofree guint8 *exact = g_memdup2(f->data, f->len);
        VfsecWireTagInfo info;

        g_test_message("%s", c->name);
        g_assert_cmpint(vfsec_wire_classify(NULL, exact, f->len, &info), ==, c->klass);
        g_assert_cmpint(info.klass, ==, c->klass);
        g_assert_cmpuint(info.tpid, ==, c->tpid);
        g_assert_cmpuint(info.pcp, ==, c->pcp);
        g_assert_cmpuint(info.vid, ==, c->vid);
        g_assert_cmpuint(info.offset, ==, c->offset);
        g_assert_cmpint(vfsec_wire_classify(NULL, exact, f->len, NULL), ==, c->klass);
    }
    /* Frames shorter than the MACs are malformed too. */
    g_assert_cmpint(vfsec_wire_classify(NULL, (const guint8 *)"", 0, NULL), ==, VFSEC_WIRE_CLASS_MALFORMED);
}

static void
test_classify_custom_tags(void)
{
    const VfsecWireTags tags = { .config_vid = 10, .md_base = 20 };
    static const struct {
        const char *hex;
        VfsecWireClass klass;
    } cases[] = {
        { "8100000a" "88b5", VFSEC_WIRE_CLASS_CONFIG },
        { "81000014" "0800", VFSEC_WIRE_CLASS_METADATA_BYPASS },
        { "81000015" "88b5", VFSEC_WIRE_CLASS_METADATA },
        { "81000ffe" "88b5", VFSEC_WIRE_CLASS_DATA },
        { "81000ffc" "0800", VFSEC_WIRE_CLASS_DATA },
        { "81000016" "0800", VFSEC_WIRE_CLASS_DATA },
    };
    g_autoptr(GError) error = NULL;
    VfsecWireTags t;

    g_assert_true(vfsec_wire_tags_check(&tags, &error));
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) f = frame_from_hex(cases[i].hex);

        g_assert_cmpint(vfsec_wire_classify(&tags, f->data, f->len, NULL), ==, cases[i].klass);
    }

    vfsec_wire_tags_init(&t);
    g_assert_cmpuint(t.config_vid, ==, 4094);
    g_assert_cmpuint(t.md_base, ==, 4092);
    g_assert_true(vfsec_wire_tags_check(&t, &error));
    t.md_base = 4093;
    g_assert_false(vfsec_wire_tags_check(&t, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    t = (VfsecWireTags){ .config_vid = 21, .md_base = 20 };
    g_assert_false(vfsec_wire_tags_check(&t, &error));
    g_assert_nonnull(strstr(error->message, "collides"));
    g_clear_error(&error);
    t = (VfsecWireTags){ .config_vid = 4095, .md_base = 20 };
    g_assert_false(vfsec_wire_tags_check(&t, &error));
    g_clear_error(&error);
    t = (VfsecWireTags){ .config_vid = 10, .md_base = 0 };
    g_assert_false(vfsec_wire_tags_check(&t, &error));
}

static void
test_frame_vlans(void)
{
    VfsecWireVlan vlans[VFSEC_WIRE_MAX_TAGS];
    guint n = 9;
    gsize off = 0;
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) qinq = frame_from_hex("88a8000a" "8100a064" "0800");
    g_autoptr(GByteArray) three = frame_from_hex("88a8000a" "81000064" "81000065" "0800");
    g_autoptr(GByteArray) cut = frame_from_hex("88a8000a" "8100");
    g_autoptr(GByteArray) none = frame_from_hex("86dd");

    g_assert_true(vfsec_wire_frame_vlans(qinq->data, qinq->len, vlans, &n, &off, &error));
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpuint(off, ==, 20);
    g_assert_cmpuint(vlans[0].tpid, ==, VFSEC_WIRE_TPID_8021AD);
    g_assert_cmpuint(VFSEC_WIRE_TCI_VID(vlans[1].tci), ==, 100);
    g_assert_cmpuint(VFSEC_WIRE_TCI_PCP(vlans[1].tci), ==, 5);
    g_assert_true(vfsec_wire_frame_vlans(none->data, none->len, vlans, &n, &off, &error));
    g_assert_cmpuint(n, ==, 0);
    g_assert_cmpuint(off, ==, 12);
    g_assert_false(vfsec_wire_frame_vlans(three->data, three->len, vlans, &n, &off, &error));
    g_assert_nonnull(strstr(error->message, "third VLAN tag at offset 20"));
    g_clear_error(&error);
    g_assert_false(vfsec_wire_frame_vlans(cut->data, cut->len, vlans, &n, &off, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
}

/* ---- Metadata ---- */

static void
test_metadata_round_trip(void)
{
    static const VfsecWireMetadata cases[] = {
        { .tpid = VFSEC_WIRE_TPID_8021Q, .offload = TRUE, .type = VFSEC_WIRE_MD_TX,
          .flags = VFSEC_WIRE_MD_FLAG_OFFLOAD | VFSEC_WIRE_MD_FLAG_TSO, .next_header = 6,
          .l3_offset = 2, .esp_offset = 22, .mss = 1400 },
        { .tpid = VFSEC_WIRE_TPID_8021AD, .pcp = 6, .offload = TRUE, .type = VFSEC_WIRE_MD_RX,
          .status = VFSEC_WIRE_RX_REPLAY, .next_header = 50, .sa_index = 0xfffffffe, .seq = 0x80000001 },
        { .tpid = VFSEC_WIRE_TPID_8021Q, .offload = TRUE, .type = VFSEC_WIRE_MD_RX,
          .status = VFSEC_WIRE_RX_BYPASSED },
        { .tpid = VFSEC_WIRE_TPID_8021Q, .pcp = 7, .offload = FALSE },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) frame = frame_placed_out();
        g_autoptr(GByteArray) orig = frame_placed_out();
        g_autoptr(GError) error = NULL;
        VfsecWireMetadata got;

        g_assert_true(vfsec_wire_metadata_insert(NULL, &cases[i], frame, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(frame->len, ==, orig->len + (cases[i].offload ? VFSEC_WIRE_MD_INSERT_LEN : 4));
        g_assert_cmpint(vfsec_wire_classify(NULL, frame->data, frame->len, NULL), ==,
                        cases[i].offload ? VFSEC_WIRE_CLASS_METADATA : VFSEC_WIRE_CLASS_METADATA_BYPASS);
        g_assert_true(vfsec_wire_metadata_strip(NULL, frame, &got, &error));
        g_assert_no_error(error);
        g_assert_cmpmem(frame->data, frame->len, orig->data, orig->len);
        g_assert_cmpmem(&got, sizeof(got), &cases[i], sizeof(got));
    }
}

typedef struct {
    const char *name;
    gsize offset;   /* in a frame carrying md_tx */
    guint8 value;
    const char *message;
} MdCorruption;

static void
test_metadata_corruption(void)
{
    static const MdCorruption cases[] = {
        { "ethertype", 17, 0x00, "ethertype 0x8800 at offset 16 is not 0x88b5" },
        { "version", 18, 2, "version 2 at offset 18 is not 1" },
        { "type", 19, 3, "type 3 at offset 19 is neither TX (1) nor RX (2)" },
        { "length short", 20, 15, "length 15 at offset 20 is below 16" },
        { "length past the frame", 20, 200, "length 200 at offset 20 exceeds the 66 bytes left" },
        { "unknown flag", 21, 0x05, "TX flags 0x05 at offset 21 have unknown bits" },
        { "no OFFLOAD", 21, 0x00, "lack OFFLOAD under an offload tag" },
        { "TSO without mss", 21, 0x03, "mss 0 at offset 28 disagrees with the TSO flag" },
        { "l3_offset 0", 25, 0, "l3_offset 0 at offset 24 points into the ethertype" },
        { "esp before l3", 27, 1, "esp_offset 1 at offset 26 is not after l3_offset 2" },
        { "esp past the frame", 27, 45, "esp_offset 45 at offset 26 is beyond the 50-byte packet" },
    };
    g_autoptr(GBytes) base = ex_md_tx();
    g_autoptr(GError) error = NULL;
    VfsecWireMetadata md;
    gsize strip = 0;

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree guint8 *f = g_memdup2(g_bytes_get_data(base, NULL), g_bytes_get_size(base));

        g_test_message("%s", cases[i].name);
        f[cases[i].offset] = cases[i].value;
        g_assert_false(vfsec_wire_metadata_decode(NULL, f, g_bytes_get_size(base), &md, &strip, &error));
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
        if (!strstr(error->message, cases[i].message))
            g_error("%s: got \"%s\", want \"%s\"", cases[i].name, error->message, cases[i].message);
        g_clear_error(&error);
    }

    /* A longer header from a later version: the extra bytes are skipped. */
    {
        g_autoptr(GByteArray) f = g_byte_array_new();
        static const guint8 extra[4] = { 0xee, 0xee, 0xee, 0xee };

        g_byte_array_append(f, g_bytes_get_data(base, NULL), 34);
        g_byte_array_append(f, extra, sizeof(extra));
        g_byte_array_append(f, (const guint8 *)g_bytes_get_data(base, NULL) + 34,
                            (guint)g_bytes_get_size(base) - 34);
        f->data[20] = 20;
        g_assert_true(vfsec_wire_metadata_decode(NULL, f->data, f->len, &md, &strip, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(strip, ==, 26);
        g_assert_cmpuint(md.esp_offset, ==, 22);
    }

    /* Frames of other classes are not metadata. */
    {
        g_autoptr(GBytes) cfg = ex_query_request();
        g_autoptr(GByteArray) data = frame_placed_out();

        g_assert_false(vfsec_wire_metadata_decode(NULL, g_bytes_get_data(cfg, NULL), g_bytes_get_size(cfg),
                                                  &md, &strip, &error));
        g_assert_nonnull(strstr(error->message, "outer VID 4094 (config) is not a metadata frame"));
        g_clear_error(&error);
        g_assert_false(vfsec_wire_metadata_decode(NULL, data->data, data->len, &md, &strip, &error));
        g_assert_nonnull(strstr(error->message, "(data) is not a metadata frame"));
        g_clear_error(&error);
    }

    /* The encoder refuses what the decoder would. */
    {
        VfsecWireMetadata bad = md_tx;
        g_autoptr(GByteArray) frame = frame_placed_out();
        guint8 buf[VFSEC_WIRE_MD_INSERT_LEN];

        bad.esp_offset = 60;
        g_assert_false(vfsec_wire_metadata_insert(NULL, &bad, frame, &error));
        g_assert_nonnull(strstr(error->message, "beyond the 50-byte packet"));
        g_clear_error(&error);
        bad = md_rx;
        bad.status = VFSEC_WIRE_RX_STATUS_LAST;
        g_assert_cmpint(vfsec_wire_metadata_encode(NULL, &bad, buf, sizeof(buf), &error), ==, -1);
        g_clear_error(&error);
        g_assert_cmpint(vfsec_wire_metadata_encode(NULL, &md_rx, buf, sizeof(buf) - 1, &error), ==, -1);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    }
}

/* ---- SA keys ---- */

static void
test_sa_key(void)
{
    VfsecWireSaKey a;
    VfsecWireSaKey b;
    g_autoptr(GHashTable) sad = g_hash_table_new(vfsec_wire_sa_key_hash, vfsec_wire_sa_key_equal);
    g_autofree char *text = NULL;

    key_v4(&a, "192.0.2.10", 0x1234, 100);
    g_hash_table_add(sad, &a);

    /* Canonical form: PCP/DEI, unused slots and the IPv4 tail do not count. */
    key_v4(&b, "192.0.2.10", 0x1234, 100);
    b.tags[0].tci = vfsec_wire_tci(5, TRUE, 100);
    b.tags[1] = (VfsecWireVlan){ VFSEC_WIRE_TPID_8021Q, 7 };
    b.dst[10] = 0x55;
    g_assert_true(vfsec_wire_sa_key_equal(&a, &b));
    g_assert_cmpuint(vfsec_wire_sa_key_hash(&a), ==, vfsec_wire_sa_key_hash(&b));
    g_assert_true(g_hash_table_contains(sad, &b));
    vfsec_wire_sa_key_normalize(&b);
    g_assert_cmpuint(b.tags[0].tci, ==, 100);
    g_assert_cmpuint(b.tags[1].tpid, ==, 0);
    g_assert_cmpuint(b.dst[10], ==, 0);

    /* Everything else is part of the key: the SAD domains stay apart. */
    key_v4(&b, "192.0.2.10", 0x1234, 101);
    g_assert_false(g_hash_table_contains(sad, &b));
    key_v4(&b, "192.0.2.10", 0x1234, 100);
    b.tags[0].tpid = VFSEC_WIRE_TPID_8021AD;
    g_assert_false(g_hash_table_contains(sad, &b));
    key_v4(&b, "192.0.2.10", 0x1234, 0);
    g_assert_false(g_hash_table_contains(sad, &b));
    key_v4(&b, "192.0.2.10", 0x1234, 100);
    b.mac = vm2_mac;
    g_assert_false(g_hash_table_contains(sad, &b));
    key_v4(&b, "192.0.2.10", 0x1235, 100);
    g_assert_false(g_hash_table_contains(sad, &b));
    key_v4(&b, "192.0.2.10", 0x1234, 100);
    b.proto = VFSEC_WIRE_PROTO_AH;
    g_assert_false(g_hash_table_contains(sad, &b));
    key_v4(&b, "192.0.2.11", 0x1234, 100);
    g_assert_false(g_hash_table_contains(sad, &b));
    key_v4(&b, "::ffff:192.0.2.10", 0x1234, 100);
    g_assert_cmpuint(b.family, ==, 6);
    g_assert_false(g_hash_table_contains(sad, &b));
    /* IPv6: the last address byte counts too. */
    key_v4(&a, "2001:db8::1", 0x1234, 100);
    key_v4(&b, "2001:db8::1", 0x1234, 100);
    g_assert_true(vfsec_wire_sa_key_equal(&a, &b));
    g_assert_cmpuint(vfsec_wire_sa_key_hash(&a), ==, vfsec_wire_sa_key_hash(&b));
    key_v4(&b, "2001:db8::2", 0x1234, 100);
    g_assert_false(vfsec_wire_sa_key_equal(&a, &b));
    key_v4(&a, "192.0.2.10", 0x1234, 100);

    text = vfsec_wire_sa_key_describe(&a);
    g_assert_cmpstr(text, ==, "esp 192.0.2.10 spi 0x00001234 mac 52:54:00:12:34:56 vlan 802.1Q/100");
    g_assert_false(vfsec_wire_ip_parse("192.0.2", &a.family, a.dst, NULL));
}

/* Key material never reaches a description, in any op or frame summary. */
static void
test_describe_hides_keys(void)
{
    g_autoptr(GBytes) frame = ex_add_sa_request();
    g_autoptr(VfsecWireConfig) cfg = vfsec_wire_config_decode(NULL, g_bytes_get_data(frame, NULL),
                                                               g_bytes_get_size(frame), 0, NULL);
    const VfsecWireOp *op = &g_array_index(cfg->ops, VfsecWireOp, 0);
    g_autofree char *sa = vfsec_wire_sa_describe(&op->add_sa);
    g_autofree char *one = vfsec_wire_op_describe(op, VFSEC_WIRE_KIND_REQUEST);
    g_autofree char *all = vfsec_wire_config_describe(cfg);
    const char *texts[] = { sa, one, all };

    g_assert_cmpstr(sa, ==,
                    "out aes-gcm-128 transport esp 192.0.2.10 spi 0x00001234 mac 52:54:00:12:34:56 "
                    "vlan 802.1Q/100 src 192.0.2.1 replay-window 0");
    g_assert_cmpstr(one, ==, "ADD_SA out aes-gcm-128 transport esp 192.0.2.10 spi 0x00001234 "
                    "mac 52:54:00:12:34:56 vlan 802.1Q/100 src 192.0.2.1 replay-window 0");
    for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autofree char *lower = g_ascii_strdown(texts[i], -1);

        g_assert_null(strstr(lower, SA_KEY_HEX));
        g_assert_null(strstr(lower, "00 11 22 33"));
        g_assert_null(strstr(lower, "8899aabb"));
        g_assert_null(strstr(lower, SA_SALT_HEX));
        g_assert_null(strstr(lower, "2712847316"));  /* the salt in decimal */
    }
}

static void
test_names(void)
{
    for (guint op = VFSEC_WIRE_OP_ADD_SA; op < VFSEC_WIRE_OP_LAST; op++)
        g_assert_cmpint(vfsec_wire_opcode_from_string(vfsec_wire_opcode_to_string(op)), ==, op);
    for (guint st = 0; st < VFSEC_WIRE_STATUS_LAST; st++)
        g_assert_cmpint(vfsec_wire_status_from_string(vfsec_wire_status_to_string(st)), ==, st);
    g_assert_null(vfsec_wire_opcode_to_string(0));
    g_assert_null(vfsec_wire_opcode_to_string(VFSEC_WIRE_OP_LAST));
    g_assert_null(vfsec_wire_status_to_string(VFSEC_WIRE_STATUS_LAST));
    g_assert_cmpint(vfsec_wire_opcode_from_string("NOPE"), ==, -1);
    g_assert_cmpstr(vfsec_wire_class_to_string(VFSEC_WIRE_CLASS_METADATA_BYPASS), ==, "metadata-bypass");
    g_assert_cmpstr(vfsec_wire_rx_status_to_string(VFSEC_WIRE_RX_INTEGRITY_FAIL), ==, "integrity-fail");
    g_assert_null(vfsec_wire_rx_status_to_string(VFSEC_WIRE_RX_STATUS_LAST));
}

/* ---- pcap ---- */

static void
test_pcap(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("vfsec-wire-XXXXXX", &error);
    g_autofree char *path = g_build_filename(dir, "frames.pcap", NULL);
    g_autoptr(VfsecPcapWriter) writer = vfsec_pcap_writer_new(path, VFSEC_PCAP_LINKTYPE_ETHERNET, &error);
    g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    g_autoptr(GPtrArray) back = NULL;
    g_autofree char *tshark = g_find_program_in_path("tshark");
    g_autofree char *contents = NULL;
    gsize len = 0;
    guint32 linktype = 0;

    g_assert_no_error(error);
    for (gsize i = 0; i < G_N_ELEMENTS(examples); i++) {
        GBytes *f = examples[i].build();

        g_ptr_array_add(frames, f);
        g_assert_true(vfsec_pcap_writer_add(writer, G_GINT64_CONSTANT(1700000000) * G_USEC_PER_SEC + (gint64)i,
                                            g_bytes_get_data(f, NULL), g_bytes_get_size(f), &error));
    }
    g_assert_true(vfsec_pcap_writer_close(writer, &error));
    g_assert_true(vfsec_pcap_writer_close(writer, &error));

    back = vfsec_pcap_read(path, &linktype, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(linktype, ==, VFSEC_PCAP_LINKTYPE_ETHERNET);
    g_assert_cmpuint(back->len, ==, frames->len);
    for (guint i = 0; i < frames->len; i++)
        g_assert_true(g_bytes_equal(back->pdata[i], frames->pdata[i]));

    /* A real reader sees 802.1Q frames with our VIDs and ethertype. */
    if (tshark) {
        const char *argv[] = { tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=|",
                               "-e", "vlan.id", "-e", "vlan.etype", "-e", "ieee8021ad.id", NULL };
        g_autofree char *out = NULL;
        g_auto(GStrv) lines = NULL;
        int status = 0;

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                                   &out, NULL, &status, &error));
        g_assert_true(g_spawn_check_wait_status(status, &error));
        lines = g_strsplit(out, "\n", -1);
        g_assert_cmpstr(lines[0], ==, "4094|0x88b5|");     /* query-request */
        g_assert_cmpstr(lines[14], ==, "||4092");          /* metadata-bypass, 802.1ad */
        g_assert_cmpstr(lines[15], ==, "4093|0x88b5|");    /* metadata-tx */
    }

    /* A cut file is reported, not overrun. */
    g_assert_true(g_file_get_contents(path, &contents, &len, &error));
    g_assert_true(g_file_set_contents(path, contents, (gssize)len - 3, &error));
    g_assert_null(vfsec_pcap_read(path, &linktype, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_true(g_file_set_contents(path, contents, 10, &error));
    g_assert_null(vfsec_pcap_read(path, &linktype, &error));
    g_clear_error(&error);

    g_unlink(path);
    g_rmdir(dir);
}

/* ---- The document's hex examples ---- */

static char *
hexdump(GBytes *bytes)
{
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(bytes, &len);
    GString *out = g_string_new(NULL);

    for (gsize i = 0; i < len; i += 16) {
        g_string_append_printf(out, "%04zx ", i);
        for (gsize j = i; j < i + 16 && j < len; j++)
            g_string_append_printf(out, " %02x", p[j]);
        g_string_append_c(out, '\n');
    }
    return g_string_free(out, FALSE);
}

static char *
example_block(const Example *ex)
{
    g_autoptr(GBytes) frame = ex->build();
    g_autofree char *dump = hexdump(frame);

    return g_strdup_printf("<!-- example: %s -->\n```text\n%s```\n", ex->name, dump);
}

static void
test_doc_examples(void)
{
    const char *srcdir = g_getenv("VFSEC_SOURCE_DIR");
    g_autofree char *path = NULL;
    g_autofree char *doc = NULL;
    g_autoptr(GError) error = NULL;

    if (!srcdir) {
        g_test_skip("VFSEC_SOURCE_DIR is not set (run under meson test)");
        return;
    }
    path = g_build_filename(srcdir, "docs", "wire-protocol.md", NULL);
    g_assert_true(g_file_get_contents(path, &doc, NULL, &error));
    g_assert_no_error(error);
    for (gsize i = 0; i < G_N_ELEMENTS(examples); i++) {
        g_autofree char *block = example_block(&examples[i]);

        if (!strstr(doc, block))
            g_error("docs/wire-protocol.md lacks or has a stale example \"%s\"; expected:\n%s\n"
                    "(VFSEC_WIRE_DUMP_EXAMPLES=1 test-wire prints all of them)",
                    examples[i].name, block);
    }
}

int
main(int argc, char **argv)
{
    if (g_getenv("VFSEC_WIRE_DUMP_EXAMPLES")) {
        for (gsize i = 0; i < G_N_ELEMENTS(examples); i++) {
            g_autofree char *block = example_block(&examples[i]);

            g_print("%s\n", block);
        }
        return 0;
    }

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/wire/round-trip", test_round_trip);
    g_test_add_func("/wire/decoded-fields", test_decoded_fields);
    g_test_add_func("/wire/truncation", test_truncation);
    g_test_add_func("/wire/corruption", test_corruption);
    g_test_add_func("/wire/corruption-sizes", test_corruption_sizes);
    g_test_add_func("/wire/fit", test_fit);
    g_test_add_func("/wire/fit-limits", test_fit_limits);
    g_test_add_func("/wire/batch", test_batch);
    g_test_add_func("/wire/reply-check", test_reply_check);
    g_test_add_func("/wire/fast-paths", test_fast_paths);
    g_test_add_func("/wire/reply-decode-errors", test_reply_decode_errors);
    g_test_add_func("/wire/agent-reply", test_agent_reply);
    g_test_add_func("/wire/classify", test_classify);
    g_test_add_func("/wire/classify-custom-tags", test_classify_custom_tags);
    g_test_add_func("/wire/frame-vlans", test_frame_vlans);
    g_test_add_func("/wire/metadata-round-trip", test_metadata_round_trip);
    g_test_add_func("/wire/metadata-corruption", test_metadata_corruption);
    g_test_add_func("/wire/sa-key", test_sa_key);
    g_test_add_func("/wire/describe-hides-keys", test_describe_hides_keys);
    g_test_add_func("/wire/names", test_names);
    g_test_add_func("/wire/pcap", test_pcap);
    g_test_add_func("/wire/doc-examples", test_doc_examples);
    return g_test_run();
}
