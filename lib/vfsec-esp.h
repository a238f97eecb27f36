/* vfsec-esp.h: RFC 4303 ESP in transport mode with AES-GCM (RFC 4106), as the
 * emulated agent applies it, including the TSO IV rule (IVDB). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VFSEC_ESP_HLEN            8    /* SPI + sequence number */
#define VFSEC_ESP_IV_LEN          8    /* explicit per-packet IV */
#define VFSEC_ESP_ICV_LEN         16
#define VFSEC_ESP_SALT_LEN        4
/* Most an ESP packet grows over its plaintext: header, IV, 3 pad, 2 trailer, ICV. */
#define VFSEC_ESP_OVERHEAD_MAX    (VFSEC_ESP_HLEN + VFSEC_ESP_IV_LEN + 3 + 2 + VFSEC_ESP_ICV_LEN)
#define VFSEC_ESP_REPLAY_WINDOW_MAX 64

typedef enum {
    VFSEC_ESP_DIR_IN = 1,
    VFSEC_ESP_DIR_OUT = 2,
} VfsecEspDir;

typedef enum {
    VFSEC_ESP_OK,
    VFSEC_ESP_INTEGRITY_FAIL,  /* ICV mismatch: wrong key, salt or a modified packet */
    VFSEC_ESP_REPLAY,          /* sequence number seen before or left of the window */
    VFSEC_ESP_MALFORMED,       /* not a packet this SA can process */
    VFSEC_ESP_EXHAUSTED,       /* outbound: sequence numbers or IVs used up; rekey */
    VFSEC_ESP_RESULT_LAST
} VfsecEspResult;

/* "ok", "integrity-fail", "replay", "malformed", "exhausted" */
const char *vfsec_esp_result_to_string(VfsecEspResult result);

typedef struct _VfsecEspSa VfsecEspSa;

/* Creates an SA. @key is 16 (AES-GCM-128) or 32 (AES-GCM-256) bytes and is
 * copied; @salt is the 4-byte RFC 4106 salt, most significant byte first in the
 * nonce; @replay_window (inbound) is 0 (off) .. 64. */
VfsecEspSa *vfsec_esp_sa_new(VfsecEspDir dir, guint32 spi, guint32 salt, const guint8 *key,
                             gsize key_len, guint replay_window, GError **error);
/* Zeroes the key schedule and frees. */
void vfsec_esp_sa_free(VfsecEspSa *sa);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecEspSa, vfsec_esp_sa_free)

guint32 vfsec_esp_sa_spi(const VfsecEspSa *sa);
/* Outbound: the last sequence number sent; inbound: the highest accepted. */
guint32 vfsec_esp_sa_seq(const VfsecEspSa *sa);

/* The TSO IV rule. For a packet carrying the driver-chosen IV @packet_iv:
 *   if IVDB <= packet_iv: use packet_iv, IVDB = packet_iv + 1
 *   else:                 use IVDB,      IVDB = IVDB + 1
 * so the segments of one TSO super-frame (same IV from the driver) still get
 * strictly increasing IVs. Stores the IV to use in *@iv; FALSE once the 64-bit
 * IV space is used up (a GCM nonce must never repeat). */
gboolean vfsec_esp_iv_select(VfsecEspSa *sa, guint64 packet_iv, guint64 *iv);

/* What a packet carried or was given. */
typedef struct {
    guint32 spi;
    guint32 seq;
    guint64 iv;
    guint8 next_header;
} VfsecEspInfo;

/* Encrypts the IPv4/IPv6 packet @pkt (header + payload; IPv6 without
 * hop-by-hop/routing/fragment headers) into @out (replacing its contents): IP
 * header with protocol 50 and fixed lengths/checksum, ESP header, IV chosen by
 * vfsec_esp_iv_select(@packet_iv), ciphertext, ICV. Bytes after the IP total
 * length (link padding) are ignored. @info (may be NULL) gets seq and IV. */
VfsecEspResult vfsec_esp_encrypt(VfsecEspSa *sa, const guint8 *pkt, gsize len, guint64 packet_iv,
                                 GByteArray *out, VfsecEspInfo *info, GError **error);
/* Encrypts a packet in the form the host hands it to the agent under TX
 * metadata: the driver placed an ESP header and IV field right after the IP
 * header (@esp_offset, counted from the IP header; protocol 50, lengths
 * covering the clear payload) and @next_header came in the metadata. The SPI
 * must be the SA's, the IV field is the driver's IV for the IV rule, and the
 * sequence number field is ignored: the SA assigns it. */
VfsecEspResult vfsec_esp_encrypt_placed(VfsecEspSa *sa, const guint8 *pkt, gsize len, gsize esp_offset,
                                        guint8 next_header, GByteArray *out, VfsecEspInfo *info,
                                        GError **error);
/* Verifies and decrypts the ESP packet @pkt into @out (the original IP packet
 * with its next header restored; @out must not share memory with @pkt). The replay window moves only for packets
 * whose ICV verified. @info (may be NULL) gets SPI, seq, IV and next header. */
VfsecEspResult vfsec_esp_decrypt(VfsecEspSa *sa, const guint8 *pkt, gsize len,
                                 GByteArray *out, VfsecEspInfo *info, GError **error);

/* The SAD lookup fields of an IP packet, read without an SA. */
typedef struct {
    guint8 family;    /* 4 or 6 */
    guint8 proto;     /* IPv4 protocol / IPv6 next header */
    guint8 src[16];
    guint8 dst[16];   /* IPv4 in the first 4 bytes */
    gsize esp_offset; /* where the IP payload (ESP header if proto 50) starts */
    guint32 spi;      /* proto 50 only */
    guint32 seq;
} VfsecEspPeek;

gboolean vfsec_esp_peek(const guint8 *pkt, gsize len, VfsecEspPeek *peek, GError **error);

G_END_DECLS
