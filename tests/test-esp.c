/* test-esp.c: ESP/AES-GCM transform — known answers, round trips, tampering,
 * replay, the TSO IV rule, IPv6, and decryption of our packets by tshark. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "vfsec-error.h"
#include "vfsec-esp.h"
#include "vfsec-pcap.h"
#include "vfsec-wire.h"

static GByteArray *
hex(const char *str)
{
    GByteArray *out = g_byte_array_new();

    for (const char *p = str; *p; p += 2) {
        guint8 b;

        g_assert_true(g_ascii_isxdigit(p[0]) && g_ascii_isxdigit(p[1]));
        b = (guint8)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
        g_byte_array_append(out, &b, 1);
    }
    return out;
}

static guint16
csum(const guint8 *p, gsize len, guint32 sum)
{
    for (gsize i = 0; i < len; i += 2)
        sum += (guint32)(p[i] << 8) | (i + 1 < len ? p[i + 1] : 0);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

/* An IPv4 packet 192.0.2.1 -> 192.0.2.2 with a valid header checksum. */
static GByteArray *
ipv4_packet(guint8 proto, const guint8 *payload, gsize len)
{
    GByteArray *pkt = g_byte_array_sized_new(20 + len);
    guint8 h[20] = { 0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2 };

    vfsec_wire_put16(h + 2, (guint16)(20 + len));
    vfsec_wire_put16(h + 10, csum(h, 20, 0));
    g_byte_array_append(pkt, h, 20);
    g_byte_array_append(pkt, payload, (guint)len);
    return pkt;
}

/* An IPv6 packet 2001:db8::1 -> 2001:db8::2. */
static GByteArray *
ipv6_packet(guint8 nh, const guint8 *payload, gsize len)
{
    GByteArray *pkt = g_byte_array_sized_new(40 + len);
    guint8 h[40] = { 0x60, 0, 0, 0, 0, 0, nh, 64 };

    vfsec_wire_put16(h + 4, (guint16)len);
    h[8] = 0x20; h[9] = 0x01; h[10] = 0x0d; h[11] = 0xb8; h[23] = 1;
    h[24] = 0x20; h[25] = 0x01; h[26] = 0x0d; h[27] = 0xb8; h[39] = 2;
    g_byte_array_append(pkt, h, 40);
    g_byte_array_append(pkt, payload, (guint)len);
    return pkt;
}

/* ICMP (v4: type 8) or ICMPv6 (type 128) echo request with @data. The ICMPv6
 * checksum needs the pseudo header; tshark does not check it by default and
 * neither do we, so it stays 0 there. */
static GByteArray *
icmp_echo(gboolean v6, guint16 id, guint16 seq, const char *data)
{
    GByteArray *icmp = g_byte_array_new();
    guint8 h[8] = { v6 ? 128 : 8, 0, 0, 0 };

    vfsec_wire_put16(h + 4, id);
    vfsec_wire_put16(h + 6, seq);
    g_byte_array_append(icmp, h, 8);
    g_byte_array_append(icmp, (const guint8 *)data, (guint)strlen(data));
    if (!v6)
        vfsec_wire_put16(icmp->data + 2, csum(icmp->data, icmp->len, 0));
    return icmp;
}

static const guint8 test_key[32] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
#define TEST_SALT 0xa1b2c3d4u
#define TEST_SPI  0x00001234u

static VfsecEspSa *
sa_new(VfsecEspDir dir, gsize key_len, guint window)
{
    g_autoptr(GError) error = NULL;
    VfsecEspSa *sa = vfsec_esp_sa_new(dir, TEST_SPI, TEST_SALT, test_key, key_len, window, &error);

    g_assert_no_error(error);
    return sa;
}

/* Known answers from draft-mcgrew-gcm-test-01 ("Test Vectors for the Use of
 * GCM in IPsec ESP", McGrew & Viega), the two packets with 32-bit sequence
 * numbers: test case 2 (AES-128, SPI 0x0000a5f8, seq 10) and test case 3
 * (AES-256, SPI 0x4a2cbfe3, seq 2). Their plaintext is an IP packet plus the
 * ESP trailer (next header 1), so we encrypt that IP packet as the payload of
 * an outer header claiming protocol 1 and must produce exactly their bytes. */
typedef struct {
    const char *name;
    const char *key;
    guint32 salt;
    guint64 iv;
    guint32 spi;
    guint32 seq;
    const char *payload;    /* the vector's plaintext without the trailer */
    const char *esp;        /* SPI || seq || IV || ciphertext || ICV */
} KatCase;

static const KatCase kat_cases[] = {
    {
        "mcgrew-2-aes128",
        "feffe9928665731c6d6a8f9467308308", 0xcafebabe, G_GUINT64_CONSTANT(0xfacedbaddecaf888),
        0x0000a5f8, 10,
        "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100"
        "0001000000000000037369700963796265726369747902646b0000010001",
        "0000a5f80000000afacedbaddecaf888"
        "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c"
        "3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1"
        "83b70d3aa8bc6ee4c309e9d85a41ad4a",
    },
    {
        "mcgrew-3-aes256",
        "abbccddef00112233445566778899aababbccddef00112233445566778899aab", 0x11223344,
        G_GUINT64_CONSTANT(0x0102030405060708), 0x4a2cbfe3, 2,
        "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
        "7002400020bf0000020405b401010402",
        "4a2cbfe3000000020102030405060708"
        "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
        "748a637985771d347f0545659f14e99def842d8e"
        "b335f4eecfdbf831824b4c4915956c96",
    },
};

static void
test_known_answer(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(kat_cases); i++) {
        const KatCase *c = &kat_cases[i];
        g_autoptr(GByteArray) key = hex(c->key);
        g_autoptr(GByteArray) payload = hex(c->payload);
        g_autoptr(GByteArray) expect = hex(c->esp);
        g_autoptr(GByteArray) pkt = ipv4_packet(1, payload->data, payload->len);
        g_autoptr(GByteArray) out = g_byte_array_new();
        g_autoptr(GByteArray) back = g_byte_array_new();
        g_autoptr(GError) error = NULL;
        g_autoptr(VfsecEspSa) tx = vfsec_esp_sa_new(VFSEC_ESP_DIR_OUT, c->spi, c->salt, key->data,
                                                    key->len, 0, &error);
        g_autoptr(VfsecEspSa) rx = vfsec_esp_sa_new(VFSEC_ESP_DIR_IN, c->spi, c->salt, key->data,
                                                    key->len, 64, &error);
        VfsecEspInfo info;

        g_test_message("%s", c->name);
        g_assert_no_error(error);
        /* Earlier packets bring the counter to the vector's seq; their IVs
         * (0, 1, ...) stay below the vector's, so the IV rule keeps it. */
        for (guint32 s = 1; s < c->seq; s++)
            g_assert_cmpint(vfsec_esp_encrypt(tx, pkt->data, pkt->len, 0, out, NULL, &error), ==, VFSEC_ESP_OK);
        g_assert_cmpint(vfsec_esp_encrypt(tx, pkt->data, pkt->len, c->iv, out, &info, &error), ==, VFSEC_ESP_OK);
        g_assert_no_error(error);
        g_assert_cmpuint(info.seq, ==, c->seq);
        g_assert_cmpuint(info.iv, ==, c->iv);
        g_assert_cmpmem(out->data + 20, out->len - 20, expect->data, expect->len);
        g_assert_cmpuint(out->data[9], ==, 50);
        g_assert_cmpuint(vfsec_wire_get16(out->data + 2), ==, out->len);
        g_assert_cmpuint(csum(out->data, 20, 0), ==, 0);

        g_assert_cmpint(vfsec_esp_decrypt(rx, out->data, out->len, back, &info, &error), ==, VFSEC_ESP_OK);
        g_assert_no_error(error);
        g_assert_cmpmem(back->data, back->len, pkt->data, pkt->len);
        g_assert_cmpuint(info.next_header, ==, 1);
        g_assert_cmpuint(info.seq, ==, c->seq);
    }
}

/* Every padding case (payload length mod 4) for both key sizes and families. */
static void
test_round_trip(void)
{
    static const char *const data[] = { "", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg" };

    for (guint v6 = 0; v6 < 2; v6++) {
        for (gsize k = 16; k <= 32; k += 16) {
            g_autoptr(VfsecEspSa) tx = sa_new(VFSEC_ESP_DIR_OUT, k, 0);
            g_autoptr(VfsecEspSa) rx = sa_new(VFSEC_ESP_DIR_IN, k, 64);

            for (gsize i = 0; i < G_N_ELEMENTS(data); i++) {
                g_autoptr(GByteArray) icmp = icmp_echo(v6, 7, (guint16)i, data[i]);
                g_autoptr(GByteArray) pkt = v6 ? ipv6_packet(58, icmp->data, icmp->len)
                                               : ipv4_packet(1, icmp->data, icmp->len);
                g_autoptr(GByteArray) out = g_byte_array_new();
                g_autoptr(GByteArray) back = g_byte_array_new();
                g_autoptr(GError) error = NULL;
                gsize hlen = v6 ? 40 : 20;
                gsize pad = (4 - (icmp->len + 2) % 4) % 4;
                VfsecEspInfo info;
                VfsecEspPeek peek;

                g_assert_cmpint(vfsec_esp_encrypt(tx, pkt->data, pkt->len, 0, out, &info, &error), ==, VFSEC_ESP_OK);
                g_assert_no_error(error);
                g_assert_cmpuint(info.seq, ==, i + 1);
                g_assert_cmpuint(out->len, ==, hlen + 16 + icmp->len + pad + 2 + 16);
                g_assert_cmpuint((out->len - hlen - 16 - 16) % 4, ==, 0);
                g_assert_cmpuint(out->data[v6 ? 6 : 9], ==, 50);

                g_assert_true(vfsec_esp_peek(out->data, out->len, &peek, &error));
                g_assert_cmpuint(peek.family, ==, v6 ? 6 : 4);
                g_assert_cmpuint(peek.proto, ==, 50);
                g_assert_cmpuint(peek.spi, ==, TEST_SPI);
                g_assert_cmpuint(peek.seq, ==, i + 1);
                g_assert_cmpuint(peek.esp_offset, ==, hlen);
                g_assert_cmpuint(peek.dst[v6 ? 15 : 3], ==, 2);

                g_assert_cmpint(vfsec_esp_decrypt(rx, out->data, out->len, back, &info, &error), ==, VFSEC_ESP_OK);
                g_assert_no_error(error);
                g_assert_cmpmem(back->data, back->len, pkt->data, pkt->len);
                g_assert_cmpuint(info.next_header, ==, v6 ? 58 : 1);
            }
            g_assert_cmpuint(vfsec_esp_sa_seq(tx), ==, G_N_ELEMENTS(data));
            g_assert_cmpuint(vfsec_esp_sa_seq(rx), ==, G_N_ELEMENTS(data));
        }
    }
}

/* One encrypted ICMP echo, for the tamper and replay cases. */
static GByteArray *
encrypt_one(VfsecEspSa *tx, guint16 seq)
{
    g_autoptr(GByteArray) icmp = icmp_echo(FALSE, 1, seq, "tamper-me");
    g_autoptr(GByteArray) pkt = ipv4_packet(1, icmp->data, icmp->len);
    GByteArray *out = g_byte_array_new();
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(vfsec_esp_encrypt(tx, pkt->data, pkt->len, 0, out, NULL, &error), ==, VFSEC_ESP_OK);
    g_assert_no_error(error);
    return out;
}

static VfsecEspResult
decrypt(VfsecEspSa *rx, const GByteArray *pkt, GError **error)
{
    g_autoptr(GByteArray) back = g_byte_array_new();

    return vfsec_esp_decrypt(rx, pkt->data, pkt->len, back, NULL, error);
}

/* Flipping any byte after the IP header fails, with the result that byte's
 * role predicts; the window does not move, so the genuine packet still passes. */
static void
test_tamper(void)
{
    g_autoptr(VfsecEspSa) tx = sa_new(VFSEC_ESP_DIR_OUT, 16, 0);
    g_autoptr(VfsecEspSa) rx = sa_new(VFSEC_ESP_DIR_IN, 16, 64);
    g_autoptr(GByteArray) good = encrypt_one(tx, 1);

    for (guint i = 20; i < good->len; i++) {
        g_autoptr(GByteArray) bad = g_byte_array_new();
        g_autoptr(GError) error = NULL;
        VfsecEspResult expect = i < 24 ? VFSEC_ESP_MALFORMED : VFSEC_ESP_INTEGRITY_FAIL;

        g_byte_array_append(bad, good->data, good->len);
        bad->data[i] ^= 0x80;  /* not bit 0: seq 1 ^ 1 would be seq 0, a replay */
        g_assert_cmpint(decrypt(rx, bad, &error), ==, expect);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
    }
    g_assert_cmpint(decrypt(rx, good, NULL), ==, VFSEC_ESP_OK);

    /* A different key or salt is an integrity failure too. */
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(VfsecEspSa) wrong_salt = vfsec_esp_sa_new(VFSEC_ESP_DIR_IN, TEST_SPI, TEST_SALT + 1,
                                                            test_key, 16, 64, &error);

        g_assert_no_error(error);
        g_assert_cmpint(decrypt(wrong_salt, good, &error), ==, VFSEC_ESP_INTEGRITY_FAIL);
    }
}

static void
test_replay(void)
{
    g_autoptr(VfsecEspSa) tx = sa_new(VFSEC_ESP_DIR_OUT, 16, 0);
    g_autoptr(VfsecEspSa) rx = sa_new(VFSEC_ESP_DIR_IN, 16, 64);
    g_autoptr(VfsecEspSa) rx_off = sa_new(VFSEC_ESP_DIR_IN, 16, 0);
    g_autoptr(GPtrArray) pkts = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
    /* seq to deliver (1-based index into pkts), expected result */
    static const struct {
        guint seq;
        VfsecEspResult expect;
    } steps[] = {
        { 1, VFSEC_ESP_OK },
        { 1, VFSEC_ESP_REPLAY },     /* duplicate */
        { 3, VFSEC_ESP_OK },
        { 2, VFSEC_ESP_OK },         /* late but inside the window */
        { 2, VFSEC_ESP_REPLAY },
        { 70, VFSEC_ESP_OK },        /* window moves to 7..70 */
        { 6, VFSEC_ESP_REPLAY },     /* left of the window */
        { 7, VFSEC_ESP_OK },         /* the window's left edge */
        { 7, VFSEC_ESP_REPLAY },
        { 69, VFSEC_ESP_OK },
        { 70, VFSEC_ESP_REPLAY },
        { 200, VFSEC_ESP_OK },       /* jump past a whole window */
        { 137, VFSEC_ESP_OK },
        { 136, VFSEC_ESP_REPLAY },
    };

    for (guint16 s = 1; s <= 200; s++)
        g_ptr_array_add(pkts, encrypt_one(tx, s));
    for (gsize i = 0; i < G_N_ELEMENTS(steps); i++) {
        g_autoptr(GError) error = NULL;
        VfsecEspResult got = decrypt(rx, pkts->pdata[steps[i].seq - 1], &error);

        g_test_message("step %zu: seq %u -> %s", i, steps[i].seq, vfsec_esp_result_to_string(got));
        g_assert_cmpint(got, ==, steps[i].expect);
        if (got == VFSEC_ESP_REPLAY)
            g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
        /* Without a window nothing is a replay. */
        g_assert_cmpint(decrypt(rx_off, pkts->pdata[steps[i].seq - 1], NULL), ==, VFSEC_ESP_OK);
    }
    g_assert_cmpuint(vfsec_esp_sa_seq(rx), ==, 200);
}

/* The TSO IV rule, fed the driver's IVs of successive packets of one SA. */
static void
test_iv_rule(void)
{
    static const struct {
        const char *name;
        guint64 packet_iv[8];
        guint64 used[8];
        guint n;
    } cases[] = {
        { "burst of equal IVs (one TSO super-frame)",
          { 100, 100, 100, 100, 100 }, { 100, 101, 102, 103, 104 }, 5 },
        { "decreasing IVs",
          { 50, 40, 30, 20 }, { 50, 51, 52, 53 }, 4 },
        { "a jump ahead is taken, then bumped",
          { 5, 1000, 1000, 999, 1003 }, { 5, 1000, 1001, 1002, 1003 }, 5 },
        { "starting at 0",
          { 0, 0, 1, 2 }, { 0, 1, 2, 3 }, 4 },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(VfsecEspSa) tx = sa_new(VFSEC_ESP_DIR_OUT, 16, 0);
        g_autoptr(VfsecEspSa) rx = sa_new(VFSEC_ESP_DIR_IN, 16, 64);
        g_autoptr(GByteArray) icmp = icmp_echo(FALSE, 1, 1, "segment");
        g_autoptr(GByteArray) pkt = ipv4_packet(1, icmp->data, icmp->len);

        g_test_message("%s", cases[i].name);
        for (guint j = 0; j < cases[i].n; j++) {
            g_autoptr(GByteArray) out = g_byte_array_new();
            VfsecEspInfo info;

            g_assert_cmpint(vfsec_esp_encrypt(tx, pkt->data, pkt->len, cases[i].packet_iv[j], out, &info, NULL),
                            ==, VFSEC_ESP_OK);
            g_assert_cmpuint(info.iv, ==, cases[i].used[j]);
            /* ... and the wire carries it. */
            g_assert_cmpuint(((guint64)vfsec_wire_get32(out->data + 28) << 32) | vfsec_wire_get32(out->data + 32),
                             ==, cases[i].used[j]);
            g_assert_cmpint(decrypt(rx, out, NULL), ==, VFSEC_ESP_OK);
        }
    }

    /* The top of the IV space is used once, then the SA is exhausted rather
     * than wrapping to IV 0. */
    {
        g_autoptr(VfsecEspSa) tx = sa_new(VFSEC_ESP_DIR_OUT, 16, 0);
        g_autoptr(GByteArray) icmp = icmp_echo(FALSE, 1, 1, "last");
        g_autoptr(GByteArray) pkt = ipv4_packet(1, icmp->data, icmp->len);
        g_autoptr(GByteArray) out = g_byte_array_new();
        g_autoptr(GError) error = NULL;
        guint64 iv = 0;

        g_assert_true(vfsec_esp_iv_select(tx, G_MAXUINT64 - 1, &iv));
        g_assert_cmpuint(iv, ==, G_MAXUINT64 - 1);
        g_assert_cmpint(vfsec_esp_encrypt(tx, pkt->data, pkt->len, 0, out, NULL, &error), ==, VFSEC_ESP_OK);
        g_assert_cmpint(vfsec_esp_encrypt(tx, pkt->data, pkt->len, 0, out, NULL, &error), ==, VFSEC_ESP_EXHAUSTED);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
        g_assert_false(vfsec_esp_iv_select(tx, 0, &iv));
    }
}

/* The TX form: the driver placed SPI, a dummy seq and its IV after the IP
 * header, payload in clear; the segments of one TSO burst share that IV. */
static void
test_placed(void)
{
    g_autoptr(VfsecEspSa) tx = sa_new(VFSEC_ESP_DIR_OUT, 16, 0);
    g_autoptr(VfsecEspSa) rx = sa_new(VFSEC_ESP_DIR_IN, 16, 64);
    g_autoptr(GByteArray) icmp = icmp_echo(FALSE, 9, 1, "placed by the driver");
    g_autoptr(GByteArray) plain = ipv4_packet(1, icmp->data, icmp->len);
    g_autoptr(GByteArray) body = g_byte_array_new();
    g_autoptr(GByteArray) placed = NULL;
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GByteArray) back = g_byte_array_new();
    g_autoptr(GError) error = NULL;
    guint8 hdr[16] = { 0 };
    VfsecEspInfo info;

    vfsec_wire_put32(hdr, TEST_SPI);
    vfsec_wire_put32(hdr + 4, 0xdeadbeef);  /* ignored */
    vfsec_wire_put32(hdr + 12, 100);        /* IV 100 */
    g_byte_array_append(body, hdr, sizeof(hdr));
    g_byte_array_append(body, icmp->data, icmp->len);
    placed = ipv4_packet(50, body->data, body->len);

    for (guint i = 0; i < 3; i++) {
        g_assert_cmpint(vfsec_esp_encrypt_placed(tx, placed->data, placed->len, 20, 1, out, &info, &error),
                        ==, VFSEC_ESP_OK);
        g_assert_no_error(error);
        g_assert_cmpuint(info.iv, ==, 100 + i);
        g_assert_cmpuint(info.seq, ==, i + 1);
        g_assert_cmpint(vfsec_esp_decrypt(rx, out->data, out->len, back, &info, &error), ==, VFSEC_ESP_OK);
        g_assert_cmpmem(back->data, back->len, plain->data, plain->len);
    }

    g_assert_cmpint(vfsec_esp_encrypt_placed(tx, placed->data, placed->len, 24, 1, out, NULL, &error),
                    ==, VFSEC_ESP_MALFORMED);
    g_assert_nonnull(strstr(error->message, "esp_offset 24 is not the end of the 20-byte IP header"));
    g_clear_error(&error);
    g_assert_cmpint(vfsec_esp_encrypt_placed(tx, plain->data, plain->len, 20, 1, out, NULL, &error),
                    ==, VFSEC_ESP_MALFORMED);
    g_clear_error(&error);
    placed->data[23] ^= 1;
    g_assert_cmpint(vfsec_esp_encrypt_placed(tx, placed->data, placed->len, 20, 1, out, NULL, &error),
                    ==, VFSEC_ESP_MALFORMED);
    g_assert_nonnull(strstr(error->message, "placed header has SPI 0x00001235"));
}

static void
test_malformed(void)
{
    g_autoptr(VfsecEspSa) tx = sa_new(VFSEC_ESP_DIR_OUT, 16, 0);
    g_autoptr(VfsecEspSa) rx = sa_new(VFSEC_ESP_DIR_IN, 16, 64);
    g_autoptr(GByteArray) good = encrypt_one(tx, 1);
    g_autoptr(GByteArray) icmp = icmp_echo(FALSE, 1, 1, "plain");
    g_autoptr(GByteArray) plain = ipv4_packet(1, icmp->data, icmp->len);
    g_autoptr(GByteArray) frag = ipv4_packet(1, icmp->data, icmp->len);
    g_autoptr(GByteArray) hbh = ipv6_packet(0, icmp->data, icmp->len);
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GError) error = NULL;

    /* Every truncation: the IP total length no longer fits, or the ESP part is
     * cut; never a read past the end (ASan watches). */
    for (guint len = 0; len < good->len; len++) {
        g_clear_error(&error);
        g_assert_cmpint(vfsec_esp_decrypt(rx, good->data, len, out, NULL, &error), ==, VFSEC_ESP_MALFORMED);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
    }
    /* A total length that shrinks the ESP part below a multiple of 4. */
    {
        g_autoptr(GByteArray) odd = g_byte_array_new();

        g_byte_array_append(odd, good->data, good->len);
        vfsec_wire_put16(odd->data + 2, (guint16)(odd->len - 1));
        g_clear_error(&error);
        g_assert_cmpint(decrypt(rx, odd, &error), ==, VFSEC_ESP_MALFORMED);
    }
    g_clear_error(&error);
    g_assert_cmpint(decrypt(rx, plain, &error), ==, VFSEC_ESP_MALFORMED);
    g_assert_nonnull(strstr(error->message, "not ESP"));

    frag->data[6] = 0x20;  /* more fragments */
    g_clear_error(&error);
    g_assert_cmpint(vfsec_esp_encrypt(tx, frag->data, frag->len, 0, out, NULL, &error), ==, VFSEC_ESP_MALFORMED);
    g_assert_nonnull(strstr(error->message, "fragment"));
    g_clear_error(&error);
    g_assert_cmpint(vfsec_esp_encrypt(tx, hbh->data, hbh->len, 0, out, NULL, &error), ==, VFSEC_ESP_MALFORMED);
    g_assert_nonnull(strstr(error->message, "extension header 0"));

    /* SA parameters */
    g_clear_error(&error);
    g_assert_null(vfsec_esp_sa_new(VFSEC_ESP_DIR_IN, TEST_SPI, 0, test_key, 24, 0, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_clear_error(&error);
    g_assert_null(vfsec_esp_sa_new(VFSEC_ESP_DIR_IN, TEST_SPI, 0, test_key, 16, 65, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_clear_error(&error);
    g_assert_null(vfsec_esp_sa_new(VFSEC_ESP_DIR_IN, 0, 0, test_key, 16, 0, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
}

/* ---- Interoperability with a real dissector ---- */

static char *
hex_string(const guint8 *p, gsize len)
{
    GString *s = g_string_new(NULL);

    for (gsize i = 0; i < len; i++)
        g_string_append_printf(s, "%02x", p[i]);
    return g_string_free(s, FALSE);
}

/* One tshark UAT row; for AES-GCM the "key" is key || salt (RFC 4106). */
static char *
uat_row(const char *family)
{
    guint8 keymat[20];
    g_autofree char *keyhex = NULL;

    memcpy(keymat, test_key, 16);
    vfsec_wire_put32(keymat + 16, TEST_SALT);
    keyhex = hex_string(keymat, sizeof(keymat));
    return g_strdup_printf("uat:esp_sa:\"%s\",\"*\",\"*\",\"0x%08x\","
                           "\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x%s\",\"NULL\",\"\"",
                           family, TEST_SPI, keyhex);
}

/* Runs tshark on @pcap with our SAs; returns its stdout. */
static char *
run_tshark(const char *tshark, const char *dir, const char *pcap)
{
    g_autofree char *row4 = uat_row("IPv4");
    g_autofree char *row6 = uat_row("IPv6");
    const char *argv[] = {
        tshark, "-n", "-r", pcap,
        "-o", "esp.enable_encryption_decode:TRUE",
        "-o", "esp.enable_authentication_check:TRUE",
        "-o", row4, "-o", row6,
        "-T", "fields", "-E", "separator=|",
        "-e", "esp.sequence", "-e", "esp.icv_good",
        "-e", "icmp.seq", "-e", "icmpv6.echo.sequence_number", "-e", "data.data",
        NULL,
    };
    g_auto(GStrv) envp = g_get_environ();
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    /* A private HOME keeps the user's Wireshark profile out of the test. */
    envp = g_environ_setenv(envp, "HOME", dir, TRUE);
    envp = g_environ_setenv(envp, "XDG_CONFIG_HOME", dir, TRUE);
    g_assert_true(g_spawn_sync(NULL, (char **)argv, envp, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, &error))
        g_error("tshark failed: %s\n%s", error->message, err);
    return g_steal_pointer(&out);
}

static void
test_tshark(void)
{
    g_autofree char *tshark = g_find_program_in_path("tshark");
    g_autofree char *dir = NULL;
    g_autofree char *pcap = NULL;
    g_autofree char *got = NULL;
    g_autoptr(VfsecEspSa) tx = sa_new(VFSEC_ESP_DIR_OUT, 16, 0);
    g_autoptr(VfsecPcapWriter) writer = NULL;
    g_autoptr(GString) expect = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    static const char *const payloads[] = { "vfsec-esp-1", "vfsec-esp-two", "vfsec-esp-three!", "v6" };

    if (!tshark) {
        g_test_skip("tshark is not installed");
        return;
    }
    dir = g_dir_make_tmp("vfsec-esp-XXXXXX", &error);
    g_assert_no_error(error);
    pcap = g_build_filename(dir, "esp.pcap", NULL);
    writer = vfsec_pcap_writer_new(pcap, VFSEC_PCAP_LINKTYPE_RAW, &error);
    g_assert_no_error(error);

    for (guint i = 0; i < G_N_ELEMENTS(payloads); i++) {
        gboolean v6 = i == G_N_ELEMENTS(payloads) - 1;
        g_autoptr(GByteArray) icmp = icmp_echo(v6, 0x77, (guint16)(i + 1), payloads[i]);
        g_autoptr(GByteArray) pkt = v6 ? ipv6_packet(58, icmp->data, icmp->len)
                                       : ipv4_packet(1, icmp->data, icmp->len);
        g_autoptr(GByteArray) out = g_byte_array_new();
        g_autofree char *data = hex_string((const guint8 *)payloads[i], strlen(payloads[i]));
        g_autofree char *seq = g_strdup_printf("%u", i + 1);

        /* Same driver IV for all: the IV rule must still make them unique. */
        g_assert_cmpint(vfsec_esp_encrypt(tx, pkt->data, pkt->len, 42, out, NULL, &error), ==, VFSEC_ESP_OK);
        g_assert_true(vfsec_pcap_writer_add(writer, (gint64)(i + 1) * G_USEC_PER_SEC, out->data, out->len,
                                            &error));
        g_assert_no_error(error);
        /* esp.sequence | esp.icv_good | icmp.seq | icmpv6 seq | payload */
        g_string_append_printf(expect, "%u|1|%s|%s|%s\n", i + 1, v6 ? "" : seq, v6 ? seq : "", data);
    }
    g_assert_true(vfsec_pcap_writer_close(writer, &error));

    got = run_tshark(tshark, dir, pcap);
    g_test_message("tshark:\n%s", got);
    g_assert_cmpstr(got, ==, expect->str);

    g_unlink(pcap);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/esp/known-answer", test_known_answer);
    g_test_add_func("/esp/round-trip", test_round_trip);
    g_test_add_func("/esp/tamper", test_tamper);
    g_test_add_func("/esp/replay", test_replay);
    g_test_add_func("/esp/iv-rule", test_iv_rule);
    g_test_add_func("/esp/placed", test_placed);
    g_test_add_func("/esp/malformed", test_malformed);
    g_test_add_func("/esp/tshark", test_tshark);
    return g_test_run();
}
