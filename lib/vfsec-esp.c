/* vfsec-esp.c: ESP transport mode with AES-GCM (RFC 4303, RFC 4106) on nettle. */

/*
 * Theory of operation
 *
 * Transport mode keeps the IP header and puts ESP between it and the payload:
 *
 *   [IP header, proto 50][SPI 4][seq 4][IV 8][ciphertext ...][ICV 16]
 *   ciphertext = encrypt(payload | pad 1,2,3.. | pad_len | next_header)
 *
 * with pad chosen so that payload + pad + 2 is a multiple of 4. AES-GCM per
 * RFC 4106: nonce = salt (4, from the key exchange) || IV (8, on the wire);
 * AAD = SPI || seq (32-bit sequence numbers, no ESN); ICV = 16-byte GCM tag.
 *
 * The one property GCM cannot survive is a repeated nonce under one key, so
 * the IV is never taken from the packet blindly: vfsec_esp_iv_select() keeps
 * the next free IV per SA (the IVDB) and bumps any IV not above it. That is
 * what makes TSO safe: the driver stamps one IV on a super-frame, the agent
 * cuts it into segments, and each segment gets a fresh IV.
 *
 * Inbound, the replay window (RFC 4303 3.4.3, 64-bit bitmap) is checked before
 * the ICV (cheap drop of old packets) and moved only after the ICV verified,
 * so forged packets cannot advance it. Plaintext is never released before the
 * ICV is compared in constant time.
 */

#include "vfsec-esp.h"

#include <netinet/in.h>
#include <nettle/gcm.h>
#include <nettle/memops.h>
#include <string.h>

#include "vfsec-error.h"
#include "vfsec-wire.h"

#define IPV4_HLEN 20
#define IPV6_HLEN 40

/* Short names for the byte order helpers of vfsec-wire.h. */
#define get16 vfsec_wire_get16
#define get32 vfsec_wire_get32
#define put16 vfsec_wire_put16
#define put32 vfsec_wire_put32

struct _VfsecEspSa {
    VfsecEspDir dir;
    guint32 spi;
    guint8 salt[VFSEC_ESP_SALT_LEN];
    gsize key_len;
    union {
        struct gcm_aes128_ctx aes128;
        struct gcm_aes256_ctx aes256;
    } gcm;
    /* outbound */
    guint32 seq;           /* last sent; 0 before the first packet */
    gboolean seq_exhausted;
    guint64 iv_next;       /* the IVDB entry of this SA */
    gboolean iv_exhausted;
    /* inbound */
    guint replay_window;
    guint32 replay_top;    /* highest sequence number accepted */
    guint64 replay_bitmap; /* bit i: replay_top - i was accepted */
};

static const char *const result_names[VFSEC_ESP_RESULT_LAST] = {
    [VFSEC_ESP_OK] = "ok",
    [VFSEC_ESP_INTEGRITY_FAIL] = "integrity-fail",
    [VFSEC_ESP_REPLAY] = "replay",
    [VFSEC_ESP_MALFORMED] = "malformed",
    [VFSEC_ESP_EXHAUSTED] = "exhausted",
};

const char *
vfsec_esp_result_to_string(VfsecEspResult result)
{
    return (guint)result < G_N_ELEMENTS(result_names) ? result_names[result] : NULL;
}


/* Sets @error and yields @result, for the one-line failure returns. Running
 * out of sequence numbers or IVs is a bound, everything else the packet. */
#define esp_fail(error, result, ...) \
    (g_set_error((error), VFSEC_ERROR, \
                 (result) == VFSEC_ESP_EXHAUSTED ? VFSEC_ERROR_TOO_LARGE : VFSEC_ERROR_PROTOCOL, \
                 __VA_ARGS__), \
     (result))

VfsecEspSa *
vfsec_esp_sa_new(VfsecEspDir dir, guint32 spi, guint32 salt, const guint8 *key, gsize key_len,
                 guint replay_window, GError **error)
{
    VfsecEspSa *sa;

    if (dir != VFSEC_ESP_DIR_IN && dir != VFSEC_ESP_DIR_OUT) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "ESP SA spi 0x%08x: direction %d is not in/out", spi, dir);
        return NULL;
    }
    if (spi == 0) {
        g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "ESP SA: SPI 0 is reserved");
        return NULL;
    }
    if (key_len != 16 && key_len != 32) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "ESP SA spi 0x%08x: AES-GCM key of %zu bytes is neither 16 nor 32", spi, key_len);
        return NULL;
    }
    if (replay_window > VFSEC_ESP_REPLAY_WINDOW_MAX) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "ESP SA spi 0x%08x: replay window %u exceeds %d", spi, replay_window,
                    VFSEC_ESP_REPLAY_WINDOW_MAX);
        return NULL;
    }

    sa = g_new0(VfsecEspSa, 1);
    sa->dir = dir;
    sa->spi = spi;
    put32(sa->salt, salt);
    sa->key_len = key_len;
    sa->replay_window = replay_window;
    if (key_len == 16)
        gcm_aes128_set_key(&sa->gcm.aes128, key);
    else
        gcm_aes256_set_key(&sa->gcm.aes256, key);
    return sa;
}

void
vfsec_esp_sa_free(VfsecEspSa *sa)
{
    if (!sa)
        return;
    explicit_bzero(sa, sizeof(*sa));
    g_free(sa);
}

guint32
vfsec_esp_sa_spi(const VfsecEspSa *sa)
{
    return sa->spi;
}

guint32
vfsec_esp_sa_seq(const VfsecEspSa *sa)
{
    return sa->dir == VFSEC_ESP_DIR_OUT ? sa->seq : sa->replay_top;
}

gboolean
vfsec_esp_iv_select(VfsecEspSa *sa, guint64 packet_iv, guint64 *iv)
{
    if (sa->iv_exhausted)
        return FALSE;
    *iv = sa->iv_next <= packet_iv ? packet_iv : sa->iv_next;
    if (*iv == G_MAXUINT64)
        sa->iv_exhausted = TRUE;  /* IVDB would wrap to 0 and reuse nonces */
    else
        sa->iv_next = *iv + 1;
    return TRUE;
}

/* ---- AES-GCM with the RFC 4106 nonce and AAD ---- */

/* Starts a message: nonce = salt || @iv (8 bytes as on the wire), AAD = @aad. */
static void
gcm_start(VfsecEspSa *sa, const guint8 *iv, const guint8 *aad)
{
    guint8 nonce[GCM_IV_SIZE];

    memcpy(nonce, sa->salt, VFSEC_ESP_SALT_LEN);
    memcpy(nonce + VFSEC_ESP_SALT_LEN, iv, VFSEC_ESP_IV_LEN);
    if (sa->key_len == 16) {
        gcm_aes128_set_iv(&sa->gcm.aes128, sizeof(nonce), nonce);
        gcm_aes128_update(&sa->gcm.aes128, VFSEC_ESP_HLEN, aad);
    } else {
        gcm_aes256_set_iv(&sa->gcm.aes256, sizeof(nonce), nonce);
        gcm_aes256_update(&sa->gcm.aes256, VFSEC_ESP_HLEN, aad);
    }
}

/* Encrypts or decrypts @len bytes (in place allowed) and writes the tag. */
static void
gcm_crypt(VfsecEspSa *sa, gboolean encrypt, gsize len, guint8 *dst, const guint8 *src,
          guint8 tag[VFSEC_ESP_ICV_LEN])
{
    if (sa->key_len == 16) {
        if (encrypt)
            gcm_aes128_encrypt(&sa->gcm.aes128, len, dst, src);
        else
            gcm_aes128_decrypt(&sa->gcm.aes128, len, dst, src);
        gcm_aes128_digest(&sa->gcm.aes128, VFSEC_ESP_ICV_LEN, tag);
    } else {
        if (encrypt)
            gcm_aes256_encrypt(&sa->gcm.aes256, len, dst, src);
        else
            gcm_aes256_decrypt(&sa->gcm.aes256, len, dst, src);
        gcm_aes256_digest(&sa->gcm.aes256, VFSEC_ESP_ICV_LEN, tag);
    }
}

/* ---- IP headers ---- */

typedef struct {
    guint8 family;
    gsize hlen;     /* IPv4 with options; IPv6 fixed header only */
    gsize total;    /* the packet's own idea of its length (<= the buffer) */
    guint8 proto;   /* IPv4 protocol / IPv6 next header */
} IpInfo;

static gboolean
ip_parse(const guint8 *pkt, gsize len, IpInfo *ip, GError **error)
{
    memset(ip, 0, sizeof(*ip));
    if (len < 1) {
        g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL, "IP packet is empty");
        return FALSE;
    }
    if ((pkt[0] >> 4) == 4) {
        ip->family = 4;
        ip->hlen = (gsize)(pkt[0] & 0xf) * 4;
        if (len < IPV4_HLEN || ip->hlen < IPV4_HLEN || ip->hlen > len) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                        "IPv4 header of %zu bytes does not fit the %zu-byte packet", ip->hlen, len);
            return FALSE;
        }
        ip->total = get16(pkt + 2);
        if (ip->total < ip->hlen || ip->total > len) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                        "IPv4 total length %zu is outside %zu..%zu", ip->total, ip->hlen, len);
            return FALSE;
        }
        /* Transport-mode ESP is applied to whole datagrams, not fragments. */
        if (get16(pkt + 6) & 0x3fff) {
            g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL, "IPv4 packet is a fragment");
            return FALSE;
        }
        ip->proto = pkt[9];
        return TRUE;
    }
    if ((pkt[0] >> 4) == 6) {
        ip->family = 6;
        ip->hlen = IPV6_HLEN;
        if (len < IPV6_HLEN) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                        "IPv6 packet of %zu bytes is shorter than its header", len);
            return FALSE;
        }
        ip->total = IPV6_HLEN + (gsize)get16(pkt + 4);
        if (ip->total > len) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                        "IPv6 payload length %zu exceeds the %zu bytes after the header",
                        ip->total - IPV6_HLEN, len - IPV6_HLEN);
            return FALSE;
        }
        ip->proto = pkt[6];
        /* These must stay in front of ESP; this transform keeps no chain. */
        if (ip->proto == 0 || ip->proto == 43 || ip->proto == 44) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                        "IPv6 extension header %u before ESP is not supported", ip->proto);
            return FALSE;
        }
        return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL, "IP version %u is not 4 or 6", pkt[0] >> 4);
    return FALSE;
}

static guint16
ipv4_checksum(const guint8 *hdr, gsize hlen)
{
    guint32 sum = 0;

    for (gsize i = 0; i + 1 < hlen; i += 2)
        sum += get16(hdr + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

/* Rewrites protocol/next header and lengths of the header at @pkt for a
 * packet of @total bytes; the caller checked @total fits the length field. */
static void
ip_rewrite(guint8 *pkt, const IpInfo *ip, guint8 proto, gsize total)
{
    if (ip->family == 6) {
        pkt[6] = proto;
        put16(pkt + 4, (guint16)(total - IPV6_HLEN));
        return;
    }
    pkt[9] = proto;
    put16(pkt + 2, (guint16)total);
    put16(pkt + 10, 0);
    put16(pkt + 10, ipv4_checksum(pkt, ip->hlen));
}

/* ---- Replay window ---- */

static gboolean
replay_ok(const VfsecEspSa *sa, guint32 seq)
{
    guint32 diff;

    if (seq == 0)  /* never sent: the counter starts at 1 */
        return FALSE;
    if (sa->replay_window == 0 || seq > sa->replay_top)
        return TRUE;
    diff = sa->replay_top - seq;
    if (diff >= sa->replay_window)
        return FALSE;
    return !(sa->replay_bitmap & (G_GUINT64_CONSTANT(1) << diff));
}

static void
replay_update(VfsecEspSa *sa, guint32 seq)
{
    if (seq > sa->replay_top) {
        guint32 shift = seq - sa->replay_top;

        sa->replay_bitmap = shift >= 64 ? 0 : sa->replay_bitmap << shift;
        sa->replay_bitmap |= 1;
        sa->replay_top = seq;
        return;
    }
    /* Only reachable that far left with the window off: nothing to record. */
    if (sa->replay_top - seq < 64)
        sa->replay_bitmap |= G_GUINT64_CONSTANT(1) << (sa->replay_top - seq);
}

/* ---- Encrypt / decrypt ---- */

VfsecEspResult
vfsec_esp_encrypt(VfsecEspSa *sa, const guint8 *pkt, gsize len, guint64 packet_iv,
                  GByteArray *out, VfsecEspInfo *info, GError **error)
{
    IpInfo ip;
    gsize plen;
    gsize pad;
    gsize ct_len;
    gsize total;
    guint64 iv = 0;
    guint8 *esp;
    guint8 *ct;

    g_return_val_if_fail(sa->dir == VFSEC_ESP_DIR_OUT, VFSEC_ESP_MALFORMED);

    if (!ip_parse(pkt, len, &ip, error))
        return VFSEC_ESP_MALFORMED;
    plen = ip.total - ip.hlen;
    pad = (4 - (plen + 2) % 4) % 4;
    ct_len = plen + pad + 2;
    total = ip.hlen + VFSEC_ESP_HLEN + VFSEC_ESP_IV_LEN + ct_len + VFSEC_ESP_ICV_LEN;
    if (total - (ip.family == 6 ? IPV6_HLEN : 0) > G_MAXUINT16)
        return esp_fail(error, VFSEC_ESP_MALFORMED,
                        "ESP SA spi 0x%08x: a %zu-byte packet would grow past the IP length field",
                        sa->spi, ip.total);
    /* RFC 4303 3.3.3: the counter must not cycle; rekey instead. */
    if (sa->seq == G_MAXUINT32)
        return esp_fail(error, VFSEC_ESP_EXHAUSTED, "ESP SA spi 0x%08x: sequence numbers exhausted",
                        sa->spi);
    if (!vfsec_esp_iv_select(sa, packet_iv, &iv))
        return esp_fail(error, VFSEC_ESP_EXHAUSTED, "ESP SA spi 0x%08x: IVs exhausted", sa->spi);
    sa->seq++;

    g_byte_array_set_size(out, (guint)total);
    memcpy(out->data, pkt, ip.hlen);
    esp = out->data + ip.hlen;
    put32(esp, sa->spi);
    put32(esp + 4, sa->seq);
    put32(esp + 8, (guint32)(iv >> 32));
    put32(esp + 12, (guint32)iv);
    ct = esp + VFSEC_ESP_HLEN + VFSEC_ESP_IV_LEN;
    memcpy(ct, pkt + ip.hlen, plen);
    for (gsize i = 0; i < pad; i++)
        ct[plen + i] = (guint8)(i + 1);
    ct[plen + pad] = (guint8)pad;
    ct[plen + pad + 1] = ip.proto;

    gcm_start(sa, esp + VFSEC_ESP_HLEN, esp);
    gcm_crypt(sa, TRUE, ct_len, ct, ct, ct + ct_len);
    ip_rewrite(out->data, &ip, IPPROTO_ESP, total);

    if (info)
        *info = (VfsecEspInfo){ .spi = sa->spi, .seq = sa->seq, .iv = iv, .next_header = ip.proto };
    return VFSEC_ESP_OK;
}

VfsecEspResult
vfsec_esp_encrypt_placed(VfsecEspSa *sa, const guint8 *pkt, gsize len, gsize esp_offset,
                         guint8 next_header, GByteArray *out, VfsecEspInfo *info, GError **error)
{
    const gsize placed = VFSEC_ESP_HLEN + VFSEC_ESP_IV_LEN;
    g_autoptr(GByteArray) plain = NULL;
    IpInfo ip;
    guint64 packet_iv;
    guint32 spi;

    if (!ip_parse(pkt, len, &ip, error))
        return VFSEC_ESP_MALFORMED;
    if (ip.proto != IPPROTO_ESP)
        return esp_fail(error, VFSEC_ESP_MALFORMED, "ESP SA spi 0x%08x: placed packet has protocol %u, not ESP",
                        sa->spi, ip.proto);
    /* Transport mode: the ESP header follows the IP header directly. */
    if (esp_offset != ip.hlen)
        return esp_fail(error, VFSEC_ESP_MALFORMED,
                        "ESP SA spi 0x%08x: esp_offset %zu is not the end of the %zu-byte IP header",
                        sa->spi, esp_offset, ip.hlen);
    if (ip.total - ip.hlen < placed)
        return esp_fail(error, VFSEC_ESP_MALFORMED, "ESP SA spi 0x%08x: placed ESP header is cut off", sa->spi);
    spi = get32(pkt + esp_offset);
    if (spi != sa->spi)
        return esp_fail(error, VFSEC_ESP_MALFORMED, "ESP SA spi 0x%08x: placed header has SPI 0x%08x",
                        sa->spi, spi);
    packet_iv = ((guint64)get32(pkt + esp_offset + 8) << 32) | get32(pkt + esp_offset + 12);

    plain = g_byte_array_sized_new((guint)(ip.total - placed));
    g_byte_array_append(plain, pkt, (guint)ip.hlen);
    g_byte_array_append(plain, pkt + ip.hlen + placed, (guint)(ip.total - ip.hlen - placed));
    ip_rewrite(plain->data, &ip, next_header, plain->len);
    return vfsec_esp_encrypt(sa, plain->data, plain->len, packet_iv, out, info, error);
}

VfsecEspResult
vfsec_esp_decrypt(VfsecEspSa *sa, const guint8 *pkt, gsize len, GByteArray *out,
                  VfsecEspInfo *info, GError **error)
{
    IpInfo ip;
    const guint8 *esp;
    gsize esp_len;
    gsize ct_len;
    guint8 tag[VFSEC_ESP_ICV_LEN];
    guint8 *pt;
    guint8 pad;
    guint8 nh;
    guint32 spi;
    guint32 seq;

    g_return_val_if_fail(sa->dir == VFSEC_ESP_DIR_IN, VFSEC_ESP_MALFORMED);

    if (!ip_parse(pkt, len, &ip, error))
        return VFSEC_ESP_MALFORMED;
    if (ip.proto != IPPROTO_ESP)
        return esp_fail(error, VFSEC_ESP_MALFORMED, "ESP SA spi 0x%08x: packet protocol %u is not ESP",
                        sa->spi, ip.proto);
    esp = pkt + ip.hlen;
    esp_len = ip.total - ip.hlen;
    /* The smallest ciphertext is the 2-byte trailer padded to 4. */
    if (esp_len < VFSEC_ESP_HLEN + VFSEC_ESP_IV_LEN + 4 + VFSEC_ESP_ICV_LEN)
        return esp_fail(error, VFSEC_ESP_MALFORMED, "ESP SA spi 0x%08x: ESP payload of %zu bytes is too short",
                        sa->spi, esp_len);
    ct_len = esp_len - VFSEC_ESP_HLEN - VFSEC_ESP_IV_LEN - VFSEC_ESP_ICV_LEN;
    if (ct_len % 4)
        return esp_fail(error, VFSEC_ESP_MALFORMED,
                        "ESP SA spi 0x%08x: ciphertext of %zu bytes is not a multiple of 4", sa->spi, ct_len);
    spi = get32(esp);
    seq = get32(esp + 4);
    if (info)
        *info = (VfsecEspInfo){
            .spi = spi,
            .seq = seq,
            .iv = ((guint64)get32(esp + 8) << 32) | get32(esp + 12),
        };
    if (spi != sa->spi)
        return esp_fail(error, VFSEC_ESP_MALFORMED, "ESP SA spi 0x%08x: packet has SPI 0x%08x", sa->spi, spi);
    if (!replay_ok(sa, seq))
        return esp_fail(error, VFSEC_ESP_REPLAY, "ESP SA spi 0x%08x: sequence number %u is a replay",
                        sa->spi, seq);

    g_byte_array_set_size(out, (guint)(ip.hlen + ct_len));
    memcpy(out->data, pkt, ip.hlen);
    pt = out->data + ip.hlen;
    gcm_start(sa, esp + VFSEC_ESP_HLEN, esp);
    gcm_crypt(sa, FALSE, ct_len, pt, esp + VFSEC_ESP_HLEN + VFSEC_ESP_IV_LEN, tag);
    if (!memeql_sec(tag, esp + esp_len - VFSEC_ESP_ICV_LEN, VFSEC_ESP_ICV_LEN)) {
        explicit_bzero(out->data, out->len);
        g_byte_array_set_size(out, 0);
        return esp_fail(error, VFSEC_ESP_INTEGRITY_FAIL, "ESP SA spi 0x%08x: ICV of seq %u does not verify",
                        sa->spi, seq);
    }
    /* Authentic from here on: the window may move even if the trailer is bad. */
    replay_update(sa, seq);

    pad = pt[ct_len - 2];
    nh = pt[ct_len - 1];
    if ((gsize)pad + 2 > ct_len) {
        g_byte_array_set_size(out, 0);
        return esp_fail(error, VFSEC_ESP_MALFORMED, "ESP SA spi 0x%08x: pad length %u exceeds the payload",
                        sa->spi, pad);
    }
    for (guint i = 0; i < pad; i++) {
        if (pt[ct_len - 2 - pad + i] != i + 1) {
            g_byte_array_set_size(out, 0);
            return esp_fail(error, VFSEC_ESP_MALFORMED, "ESP SA spi 0x%08x: padding byte %u is not %u",
                            sa->spi, i, i + 1);
        }
    }
    g_byte_array_set_size(out, (guint)(ip.hlen + ct_len - 2 - pad));
    ip_rewrite(out->data, &ip, nh, out->len);
    if (info)
        info->next_header = nh;
    return VFSEC_ESP_OK;
}

gboolean
vfsec_esp_peek(const guint8 *pkt, gsize len, VfsecEspPeek *peek, GError **error)
{
    IpInfo ip;

    memset(peek, 0, sizeof(*peek));
    if (!ip_parse(pkt, len, &ip, error))
        return FALSE;
    peek->family = ip.family;
    peek->proto = ip.proto;
    peek->esp_offset = ip.hlen;
    if (ip.family == 4) {
        memcpy(peek->src, pkt + 12, 4);
        memcpy(peek->dst, pkt + 16, 4);
    } else {
        memcpy(peek->src, pkt + 8, 16);
        memcpy(peek->dst, pkt + 24, 16);
    }
    if (ip.proto != IPPROTO_ESP)
        return TRUE;
    if (ip.total - ip.hlen < VFSEC_ESP_HLEN) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "ESP header at offset %zu is cut off", ip.hlen);
        return FALSE;
    }
    peek->spi = get32(pkt + ip.hlen);
    peek->seq = get32(pkt + ip.hlen + 4);
    return TRUE;
}
