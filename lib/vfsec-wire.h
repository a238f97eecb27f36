/* vfsec-wire.h: the agent wire protocol v1 — tag classification, per-packet
 * metadata headers and configuration frames (docs/wire-protocol.md). */
#pragma once

#include <glib.h>

#include "vfsec-addr.h"

G_BEGIN_DECLS

/* ---- Sizes and constants (every one is a wire fact; see the document) ---- */

#define VFSEC_WIRE_ETHERTYPE       0x88b5  /* IEEE 802 local experimental */
#define VFSEC_WIRE_MTU             1500    /* payload bound of a configuration frame */
#define VFSEC_WIRE_TPID_8021Q      0x8100
#define VFSEC_WIRE_TPID_8021AD     0x88a8
#define VFSEC_WIRE_ETH_HLEN        14      /* dst, src, ethertype */
#define VFSEC_WIRE_ETH_ZLEN        60      /* shortest frame a MAC sends (no FCS) */
#define VFSEC_WIRE_TAG_LEN         4       /* TPID + TCI */
#define VFSEC_WIRE_TAG_OFFSET      12      /* the outermost tag follows the two MACs */
#define VFSEC_WIRE_VERSION         1

#define VFSEC_WIRE_CONFIG_MAGIC    0x5653  /* "VS" */
#define VFSEC_WIRE_CONFIG_OFFSET   18      /* config header: after MACs, tag, ethertype */
#define VFSEC_WIRE_CONFIG_HLEN     12
#define VFSEC_WIRE_OP_HLEN         4       /* opcode, flags/status, body_len */
#define VFSEC_WIRE_FRAME_MAX       (VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_MTU)  /* 1518 */

#define VFSEC_WIRE_SA_KEY_LEN      40
#define VFSEC_WIRE_ADD_SA_LEN      104
#define VFSEC_WIRE_REMOVE_SA_LEN   8       /* by index; by key it is the 40-byte key */
#define VFSEC_WIRE_MAC_ENTRY_LEN   16
#define VFSEC_WIRE_MAC_REPLACE_HLEN 8
#define VFSEC_WIRE_REPLY_LEN       4       /* value u32 */
#define VFSEC_WIRE_QUERY_REPLY_LEN 16
#define VFSEC_WIRE_KEY_MAX         32
#define VFSEC_WIRE_MAX_TAGS        2

/* How many of the fixed-size ops one frame holds (checked by test-wire). */
#define VFSEC_WIRE_REMOVE_SA_PER_FRAME   124
#define VFSEC_WIRE_ADD_SA_PER_FRAME      13
#define VFSEC_WIRE_MAC_REPLACE_MAX       92

#define VFSEC_WIRE_MD_HLEN         16      /* TX and RX metadata headers of v1 */
/* What inserting metadata with the offload bit set adds to a frame. */
#define VFSEC_WIRE_MD_INSERT_LEN   (VFSEC_WIRE_TAG_LEN + 2 + VFSEC_WIRE_MD_HLEN)

#define VFSEC_WIRE_VID_MASK        0x0fff
#define VFSEC_WIRE_TCI_VID(tci)    ((guint16)((tci) & VFSEC_WIRE_VID_MASK))
#define VFSEC_WIRE_TCI_PCP(tci)    ((guint8)(((tci) >> 13) & 0x7))
#define VFSEC_WIRE_TCI_DEI(tci)    (((tci) >> 12) & 0x1)

/* Network byte order accessors: every multi-byte field of the protocol is
 * big-endian. The caller has checked that the bytes are there. */
static inline guint16
vfsec_wire_get16(const guint8 *p)
{
    return (guint16)((p[0] << 8) | p[1]);
}

static inline guint32
vfsec_wire_get32(const guint8 *p)
{
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

static inline void
vfsec_wire_put16(guint8 *p, guint16 v)
{
    p[0] = (guint8)(v >> 8);
    p[1] = (guint8)v;
}

static inline void
vfsec_wire_put32(guint8 *p, guint32 v)
{
    p[0] = (guint8)(v >> 24);
    p[1] = (guint8)(v >> 16);
    p[2] = (guint8)(v >> 8);
    p[3] = (guint8)v;
}

/* Builds a TCI; @vid is masked to 12 bits, @pcp to 3. */
static inline guint16
vfsec_wire_tci(guint8 pcp, gboolean dei, guint16 vid)
{
    return (guint16)(((pcp & 0x7) << 13) | ((dei ? 1 : 0) << 12) | (vid & VFSEC_WIRE_VID_MASK));
}

/* ---- Tags and classification ---- */

/* The reserved VIDs of one port. Defaults: config 4094, metadata 4092/4093. */
typedef struct {
    guint16 config_vid;  /* configuration frames */
    guint16 md_base;     /* even; md_base = metadata bypass, md_base|1 = metadata + header */
} VfsecWireTags;

#define VFSEC_WIRE_CONFIG_VID_DEFAULT  4094
#define VFSEC_WIRE_MD_BASE_DEFAULT     4092

/* Fills @tags with the defaults. */
void vfsec_wire_tags_init(VfsecWireTags *tags);
/* Checks that md_base is even, the three VIDs are distinct and all in 1..4094. */
gboolean vfsec_wire_tags_check(const VfsecWireTags *tags, GError **error);

/* One 802.1Q/802.1ad tag as it is on the wire. */
typedef struct {
    guint16 tpid;  /* VFSEC_WIRE_TPID_8021Q or VFSEC_WIRE_TPID_8021AD */
    guint16 tci;
} VfsecWireVlan;

typedef enum {
    VFSEC_WIRE_CLASS_DATA,             /* untagged, or a VLAN that is not reserved */
    VFSEC_WIRE_CLASS_CONFIG,           /* configuration tag */
    VFSEC_WIRE_CLASS_METADATA_BYPASS,  /* metadata tag, offload bit clear: strip and pass */
    VFSEC_WIRE_CLASS_METADATA,         /* metadata tag, offload bit set: a header follows */
    VFSEC_WIRE_CLASS_MALFORMED,        /* too short to classify */
    VFSEC_WIRE_CLASS_LAST
} VfsecWireClass;

/* "data", "config", "metadata-bypass", "metadata", "malformed" */
const char *vfsec_wire_class_to_string(VfsecWireClass klass);

/* What vfsec_wire_classify() saw in the outermost tag. */
typedef struct {
    VfsecWireClass klass;
    gboolean tagged;  /* FALSE: no 802.1Q/802.1ad TPID at offset 12 */
    guint16 tpid;
    guint8 pcp;
    gboolean dei;
    guint16 vid;
    gsize offset;     /* the 2 bytes after the outermost tag (12 when untagged) */
} VfsecWireTagInfo;

/* Classifies an Ethernet frame (starting at the destination MAC) by its
 * OUTERMOST tag only; nothing inside a tag is looked at, so a frame whose outer
 * tag is the bypass tag stays bypass whatever it carries. @info may be NULL. */
VfsecWireClass vfsec_wire_classify(const VfsecWireTags *tags, const guint8 *frame, gsize len,
                                   VfsecWireTagInfo *info);

/* Reads the VLAN tags of a frame that carries no reserved tag (after metadata
 * was stripped): up to two 802.1Q/802.1ad tags, outermost first, into @vlans
 * (PCP/DEI kept); *@ethertype_offset is where the ethertype after them is.
 * Fails on a truncated frame or a third tag. */
gboolean vfsec_wire_frame_vlans(const guint8 *frame, gsize len, VfsecWireVlan vlans[VFSEC_WIRE_MAX_TAGS],
                                guint *n_vlans, gsize *ethertype_offset, GError **error);

/* ---- Per-packet metadata ---- */

typedef enum {
    VFSEC_WIRE_MD_TX = 1,  /* host -> agent: what to do with an outgoing packet */
    VFSEC_WIRE_MD_RX = 2,  /* agent -> host: what happened to an incoming packet */
} VfsecWireMdType;

#define VFSEC_WIRE_MD_FLAG_OFFLOAD  0x01
#define VFSEC_WIRE_MD_FLAG_TSO      0x02

typedef enum {
    VFSEC_WIRE_RX_OK,
    VFSEC_WIRE_RX_NO_SA,
    VFSEC_WIRE_RX_INTEGRITY_FAIL,
    VFSEC_WIRE_RX_REPLAY,
    VFSEC_WIRE_RX_BYPASSED,
    VFSEC_WIRE_RX_MALFORMED,
    VFSEC_WIRE_RX_STATUS_LAST
} VfsecWireRxStatus;

/* "ok", "no-sa", "integrity-fail", "replay", "bypassed", "malformed" */
const char *vfsec_wire_rx_status_to_string(VfsecWireRxStatus status);

typedef struct {
    guint16 tpid;            /* of the metadata tag */
    guint8 pcp;              /* carried, never used for classification */
    gboolean offload;        /* FALSE: bare bypass tag; nothing below is on the wire */
    VfsecWireMdType type;
    guint8 next_header;      /* the ESP next-header value (IP protocol) */
    /* TX */
    guint8 flags;            /* VFSEC_WIRE_MD_FLAG_*; OFFLOAD is always set */
    guint16 l3_offset;       /* from the original ethertype to the IP header */
    guint16 esp_offset;      /* from the original ethertype to the ESP header */
    guint16 mss;             /* TSO segment payload size; 0 unless TSO */
    /* RX */
    VfsecWireRxStatus status;
    guint32 sa_index;
    guint32 seq;             /* the ESP sequence number seen */
} VfsecWireMetadata;

/* Writes the metadata tag (and, when @md->offload, the ethertype and header)
 * into @buf; returns the bytes written (4 or VFSEC_WIRE_MD_INSERT_LEN) or -1
 * with @error set. Offsets are not checked against a frame here. */
gssize vfsec_wire_metadata_encode(const VfsecWireTags *tags, const VfsecWireMetadata *md,
                                  guint8 *buf, gsize size, GError **error);
/* Inserts the metadata at offset 12 of the Ethernet frame in @frame, checking
 * the TX offsets against the frame. */
gboolean vfsec_wire_metadata_insert(const VfsecWireTags *tags, const VfsecWireMetadata *md,
                                    GByteArray *frame, GError **error);
/* Parses the metadata of a METADATA or METADATA_BYPASS frame into @md. On
 * success *@strip_len is how many bytes from offset 12 belong to the metadata,
 * so the original frame is frame[0..12) + frame[12 + strip_len..). */
gboolean vfsec_wire_metadata_decode(const VfsecWireTags *tags, const guint8 *frame, gsize len,
                                    VfsecWireMetadata *md, gsize *strip_len, GError **error);
/* vfsec_wire_metadata_decode() and removal of the metadata from @frame. */
gboolean vfsec_wire_metadata_strip(const VfsecWireTags *tags, GByteArray *frame,
                                   VfsecWireMetadata *md, GError **error);

/* ---- Configuration frames ---- */

typedef enum {
    VFSEC_WIRE_KIND_REQUEST = 1,
    VFSEC_WIRE_KIND_REPLY = 2,
} VfsecWireKind;

typedef enum {
    VFSEC_WIRE_OP_ADD_SA = 1,
    VFSEC_WIRE_OP_REMOVE_SA = 2,
    VFSEC_WIRE_OP_REMOVE_ALL_SA = 3,
    VFSEC_WIRE_OP_MAC_ADD = 4,
    VFSEC_WIRE_OP_MAC_REMOVE = 5,
    VFSEC_WIRE_OP_MAC_REPLACE = 6,
    VFSEC_WIRE_OP_QUERY = 7,
    VFSEC_WIRE_OP_LAST
} VfsecWireOpcode;

/* "ADD_SA", ...; NULL for a value this version does not know. */
const char *vfsec_wire_opcode_to_string(guint opcode);
/* Returns -1 for an unknown name. */
int vfsec_wire_opcode_from_string(const char *str);

typedef enum {
    VFSEC_WIRE_STATUS_OK = 0,
    VFSEC_WIRE_STATUS_DUPLICATE_KEY = 1,    /* value: index of the SA holding the key */
    VFSEC_WIRE_STATUS_NO_SUCH_SA = 2,
    VFSEC_WIRE_STATUS_SAD_FULL = 3,
    VFSEC_WIRE_STATUS_MALFORMED = 4,
    VFSEC_WIRE_STATUS_UNSUPPORTED_OP = 5,
    VFSEC_WIRE_STATUS_UNSUPPORTED_ALG = 6,  /* also: an SA feature (mode, flag) not supported */
    VFSEC_WIRE_STATUS_TABLE_FULL = 7,
    VFSEC_WIRE_STATUS_STALE_GENERATION = 8, /* value: the agent's current generation */
    VFSEC_WIRE_STATUS_NO_SUCH_MAC = 9,
    VFSEC_WIRE_STATUS_LAST
} VfsecWireStatus;

/* "OK", "DUPLICATE_KEY", ...; NULL for a value this version does not know. */
const char *vfsec_wire_status_to_string(guint status);
int vfsec_wire_status_from_string(const char *str);

#define VFSEC_WIRE_PROTO_ESP 50
#define VFSEC_WIRE_PROTO_AH  51

/* The extended SAD key. Compare and hash with the functions below, which see
 * only the canonical form (tag PCP/DEI masked, unused tags and the IPv4 tail
 * ignored). */
typedef struct {
    guint8 family;       /* 4 or 6 */
    guint8 proto;        /* VFSEC_WIRE_PROTO_ESP or _AH */
    guint8 n_tags;       /* 0..2, outermost first */
    guint32 spi;         /* never 0 */
    guint8 dst[16];      /* IPv4 in the first 4 bytes */
    VfsecMac mac;        /* local MAC: source of Tx frames, destination of Rx frames */
    VfsecWireVlan tags[VFSEC_WIRE_MAX_TAGS];
} VfsecWireSaKey;

/* Parses a textual IPv4/IPv6 address into @family and @addr (IPv4: first 4 bytes). */
gboolean vfsec_wire_ip_parse(const char *str, guint8 *family, guint8 addr[16], GError **error);
/* Puts @key into canonical form in place. */
void vfsec_wire_sa_key_normalize(VfsecWireSaKey *key);
/* GEqualFunc / GHashFunc over VfsecWireSaKey pointers. */
gboolean vfsec_wire_sa_key_equal(gconstpointer a, gconstpointer b);
guint vfsec_wire_sa_key_hash(gconstpointer key);
/* "esp 192.0.2.1 spi 0x00001234 mac 52:54:00:12:34:56 vlan 802.1Q/100"; free with g_free. */
char *vfsec_wire_sa_key_describe(const VfsecWireSaKey *key);

typedef enum {
    VFSEC_WIRE_DIR_IN = 1,
    VFSEC_WIRE_DIR_OUT = 2,
} VfsecWireDir;

typedef enum {
    VFSEC_WIRE_ALG_AES_GCM_128 = 1,  /* rfc4106, 16-byte ICV, key_len 16 */
    VFSEC_WIRE_ALG_AES_GCM_256 = 2,  /* rfc4106, 16-byte ICV, key_len 32 */
} VfsecWireAlg;

#define VFSEC_WIRE_MODE_TRANSPORT 1

typedef struct {
    VfsecWireSaKey key;
    VfsecWireDir dir;
    VfsecWireAlg alg;
    guint8 mode;           /* VFSEC_WIRE_MODE_TRANSPORT */
    guint8 flags;          /* none defined in v1 */
    guint32 salt;          /* the rfc4106 salt, most significant byte first on the wire */
    guint8 key_len;        /* 16 or 32, must match @alg */
    guint8 key_bytes[VFSEC_WIRE_KEY_MAX];  /* secret: zeroed by vfsec_wire_op_clear() */
    guint8 src[16];        /* source address (same family as the key); outbound */
    guint32 replay_window; /* inbound: 0 disables anti-replay */
} VfsecWireAddSa;

/* "out aes-gcm-128 transport esp 192.0.2.1 spi ... src ... replay-window 64":
 * every field but the key bytes and the salt. Free with g_free. */
char *vfsec_wire_sa_describe(const VfsecWireAddSa *sa);

typedef struct {
    gboolean by_key;       /* wire flag bit 0 */
    guint32 sa_index;      /* by index: the agent's index ... */
    guint32 spi;           /* ... and the SPI it must hold (a stale-index guard) */
    VfsecWireSaKey key;    /* by key */
} VfsecWireRemoveSa;

#define VFSEC_WIRE_REMOVE_SA_BY_KEY 0x01

/* An entry of the agent's local-MAC table. */
typedef struct {
    VfsecMac mac;
    guint8 n_tags;
    VfsecWireVlan tags[VFSEC_WIRE_MAX_TAGS];
} VfsecWireMacEntry;

typedef struct {
    guint32 capacity;    /* SAs the agent can hold */
    guint32 sa_count;
    guint32 mac_count;
    guint32 generation;  /* of the MAC table */
} VfsecWireQueryInfo;

/* One operation of a request or a reply. Only the fields of its opcode (and,
 * for a reply, status/value/query) mean anything. */
typedef struct {
    guint8 opcode;                 /* VfsecWireOpcode; a decoded unknown value is kept */
    /* request bodies: only the opcode's own member means anything. They
     * share storage: an op is 160 bytes instead of 232, and a decoded frame
     * of 124 REMOVE_SA ops has 9 KiB less to clear. */
    union {
        VfsecWireAddSa add_sa;
        VfsecWireRemoveSa remove_sa;
        VfsecWireMacEntry mac;     /* MAC_ADD, MAC_REMOVE */
    };
    guint32 generation;            /* MAC_REPLACE */
    GArray *mac_entries;           /* MAC_REPLACE: VfsecWireMacEntry; owned */
    /* reply: the agent's answer. On a decoded request: the status the op
     * earned while decoding (OK when it parsed), so a reply can be prefilled. */
    VfsecWireStatus status;
    guint32 value;                 /* ADD_SA: SA index; REMOVE_ALL_SA: count; ... */
    VfsecWireQueryInfo query;      /* QUERY reply; query.capacity == value */
    GError *error;                 /* decoded request: why status is not OK; owned */
} VfsecWireOp;

/* Frees what @op owns and zeroes it (key material included). */
void vfsec_wire_op_clear(VfsecWireOp *op);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfsecWireOp, vfsec_wire_op_clear)
/* One line for logs: never prints key bytes or salt. Free with g_free. */
char *vfsec_wire_op_describe(const VfsecWireOp *op, VfsecWireKind kind);

/* The L2 envelope of a configuration frame (the VID comes from VfsecWireTags). */
typedef struct {
    VfsecMac dst;
    VfsecMac src;
    guint16 tpid;   /* of the configuration tag; 0 means 0x8100 */
    guint8 pcp;
} VfsecWireL2;

typedef struct {
    VfsecWireL2 l2;
    VfsecWireKind kind;
    guint32 seq;
    GArray *ops;    /* VfsecWireOp, cleared with vfsec_wire_op_clear() */
} VfsecWireConfig;

VfsecWireConfig *vfsec_wire_config_new(VfsecWireKind kind, guint32 seq);
void vfsec_wire_config_free(VfsecWireConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecWireConfig, vfsec_wire_config_free)

/* Appends a zeroed op; the pointer is valid until the next append. */
VfsecWireOp *vfsec_wire_config_add(VfsecWireConfig *cfg, VfsecWireOpcode opcode);

typedef enum {
    /* Any op that does not decode fails the whole frame. For replies, and for
     * tests that want the first error. */
    VFSEC_WIRE_DECODE_STRICT = 0,
    /* Requests only (replies are always strict): an op body that does not
     * decode is kept with status/error set, so an agent can answer every op
     * of the request. Framing errors still fail the frame. */
    VFSEC_WIRE_DECODE_PER_OP = 1 << 0,
} VfsecWireDecodeFlags;

/* Decodes a whole configuration frame (starting at the destination MAC).
 * Never reads past @len. Errors are VFSEC_ERROR_PROTOCOL naming the field and
 * its offset in the frame. */
VfsecWireConfig *vfsec_wire_config_decode(const VfsecWireTags *tags, const guint8 *frame, gsize len,
                                          VfsecWireDecodeFlags flags, GError **error);
/* Encodes @cfg as ONE frame into @buf (at most VFSEC_WIRE_FRAME_MAX bytes are
 * needed). Returns its length or -1; VFSEC_ERROR_TOO_LARGE when the ops do not
 * fit one frame (use a builder or a batch to split them). */
gssize vfsec_wire_config_encode(const VfsecWireTags *tags, const VfsecWireConfig *cfg,
                                guint8 *buf, gsize size, GError **error);
/* The reply skeleton of a decoded request: MACs swapped, same tag and seq, one
 * op per request op with the same opcode and the status decoding gave it. */
VfsecWireConfig *vfsec_wire_config_new_reply(const VfsecWireConfig *request);
/* Checks that @reply answers the @n_ops request ops sent under @seq: kind,
 * seq, op count and every opcode in order. */
gboolean vfsec_wire_reply_check(const VfsecWireOp *request_ops, guint n_ops, guint32 seq,
                                const VfsecWireConfig *reply, GError **error);
/* ---- Replies without allocation (the PF driver's hot path) ---- */

/* Most ops one reply frame can hold: every reply op is at least its header
 * and a 4-byte value. */
#define VFSEC_WIRE_REPLY_OPS_MAX ((VFSEC_WIRE_MTU - VFSEC_WIRE_CONFIG_HLEN) / \
                                  (VFSEC_WIRE_OP_HLEN + VFSEC_WIRE_REPLY_LEN))

/* One op of a reply: what a VfsecWireOp of a decoded reply means, in 24 bytes. */
typedef struct {
    guint8 opcode;
    guint8 status;                 /* VfsecWireStatus; unknown values are kept */
    guint32 value;
    VfsecWireQueryInfo query;      /* QUERY answered OK only */
} VfsecWireReplyOp;

/* A decoded reply frame. Big (about 4.5 KiB): meant for the stack, so that
 * decoding a reply of 124 removals allocates nothing. */
typedef struct {
    guint32 seq;
    guint n_ops;
    VfsecWireReplyOp ops[VFSEC_WIRE_REPLY_OPS_MAX];
} VfsecWireReply;

/* Decodes a reply frame with the checks of vfsec_wire_config_decode() (same
 * errors); a request frame fails with VFSEC_ERROR_PROTOCOL. @reply is only
 * written up to its n_ops. */
gboolean vfsec_wire_reply_decode(const VfsecWireTags *tags, const guint8 *frame, gsize len,
                                 VfsecWireReply *reply, GError **error);
/* Checks that @reply answers @n_ops request ops, all with @opcode, sent under
 * @seq: seq, op count and every opcode (vfsec_wire_reply_check()'s errors). */
gboolean vfsec_wire_reply_answers(const VfsecWireReply *reply, guint32 seq, guint8 opcode,
                                  guint n_ops, GError **error);

/* Multi-line summary of a frame for logs, without key material. */
char *vfsec_wire_config_describe(const VfsecWireConfig *cfg);

/* ---- Building frames op by op (batching) ---- */

typedef enum {
    VFSEC_WIRE_APPEND_OK,
    VFSEC_WIRE_APPEND_FULL,     /* does not fit this frame: finish it, reset, append again */
    VFSEC_WIRE_APPEND_INVALID,  /* cannot be encoded at all (@error set), even alone */
} VfsecWireAppend;

typedef struct _VfsecWireBuilder VfsecWireBuilder;

/* A builder owns one frame buffer of VFSEC_WIRE_FRAME_MAX bytes. A request
 * builder also keeps room for the reply: it reports FULL when the reply to the
 * ops so far would no longer fit one frame. */
VfsecWireBuilder *vfsec_wire_builder_new(const VfsecWireTags *tags, const VfsecWireL2 *l2,
                                         VfsecWireKind kind, guint32 seq);
/* Zeroes the buffer (it may hold keys) and frees. */
void vfsec_wire_builder_free(VfsecWireBuilder *builder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecWireBuilder, vfsec_wire_builder_free)

VfsecWireAppend vfsec_wire_builder_append(VfsecWireBuilder *builder, const VfsecWireOp *op,
                                          GError **error);
/* vfsec_wire_builder_append() of a REMOVE_SA by index with the SPI guard,
 * without a VfsecWireOp (a reclaim appends thousands). Request builders only;
 * SPI 0 is INVALID, as the decoder refuses it. */
VfsecWireAppend vfsec_wire_builder_append_remove_sa(VfsecWireBuilder *builder, guint32 sa_index,
                                                    guint32 spi, GError **error);
/* vfsec_wire_builder_append() of a reply op, without a VfsecWireOp: what an
 * agent answers, op by op. Reply builders only. */
VfsecWireAppend vfsec_wire_builder_append_reply(VfsecWireBuilder *builder, const VfsecWireReplyOp *op);
guint vfsec_wire_builder_count(const VfsecWireBuilder *builder);
/* Completes the frame (op_count, zero padding to 60 bytes) and returns it; the
 * bytes belong to the builder and stay valid until reset or free. */
const guint8 *vfsec_wire_builder_finish(VfsecWireBuilder *builder, gsize *len);
/* Empties the builder for the next frame, which gets @seq. */
void vfsec_wire_builder_reset(VfsecWireBuilder *builder, guint32 seq);

/* A request split into as few frames as possible, seqs consecutive. */
typedef struct {
    guint32 seq;
    guint first_op;  /* index of the frame's first op in the caller's array */
    guint n_ops;
    GBytes *frame;
} VfsecWireBatchFrame;

typedef struct {
    guint32 first_seq;
    GArray *frames;  /* VfsecWireBatchFrame */
} VfsecWireBatch;

VfsecWireBatch *vfsec_wire_batch_new(const VfsecWireTags *tags, const VfsecWireL2 *l2,
                                     guint32 first_seq, const VfsecWireOp *ops, guint n_ops,
                                     GError **error);
void vfsec_wire_batch_free(VfsecWireBatch *batch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecWireBatch, vfsec_wire_batch_free)
/* The frame sent under @seq, or NULL. */
const VfsecWireBatchFrame *vfsec_wire_batch_find(const VfsecWireBatch *batch, guint32 seq);
/* Finds the frame @reply answers (by seq) and checks the reply against the ops
 * (@ops as passed to vfsec_wire_batch_new()). */
const VfsecWireBatchFrame *vfsec_wire_batch_match(const VfsecWireBatch *batch, const VfsecWireOp *ops,
                                                  const VfsecWireConfig *reply, GError **error);

G_END_DECLS
