/* vfsec-wire.c: encoder and decoder of the agent wire protocol v1. */

/*
 * Theory of operation
 *
 * The agent sits between the NIC's embedded switch and the wire and sees only
 * Ethernet frames, so everything the host tells it rides in frames marked by
 * the OUTERMOST 802.1Q/802.1ad tag (docs/wire-protocol.md has every byte):
 *
 *   VID config_vid      configuration frame: a request from the PF driver or
 *                       the agent's reply (magic, version, kind, seq, ops).
 *   VID md_base         metadata, offload bit clear: the agent strips the tag
 *                       and passes the frame without looking further. The PF
 *                       sets it as the port VLAN of an untrusted VF, so
 *                       whatever such a VF writes lands INSIDE this tag.
 *   VID md_base | 1     metadata, offload bit set: a metadata header follows
 *                       (TX: what to encrypt; RX: what decryption found).
 *   anything else       data.
 *
 * Only the outermost tag is classified, and a bypass frame is never parsed
 * further: that is the whole isolation argument, so the classifier is tiny
 * and the metadata/config decoders refuse frames of any other class.
 *
 * Decoders take (buf, len), check every length before reading and report one
 * GError (VFSEC_ERROR_PROTOCOL) naming the field and its offset in the frame.
 * A request op whose body is bad does not sink its siblings when the caller
 * asks for VFSEC_WIRE_DECODE_PER_OP: the op keeps the status the agent must
 * answer with. Framing errors (magic, version, kind, lengths, op_count) always
 * refuse the whole frame: there is no trustworthy op list to answer.
 *
 * Encoders go through one builder, which writes each op into the frame buffer
 * and then decodes it back with the same body decoder, so nothing is ever sent
 * that a v1 receiver refuses. A request builder also counts the size of the
 * reply so an agent can always answer a request in one frame.
 */

#include "vfsec-wire.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>

#include "vfsec-error.h"

/* Short names for the byte order helpers of vfsec-wire.h. */
#define get16 vfsec_wire_get16
#define get32 vfsec_wire_get32
#define put16 vfsec_wire_put16
#define put32 vfsec_wire_put32

static gboolean G_GNUC_PRINTF(2, 3)
proto_fail(GError **error, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL, msg);
    return FALSE;
}

/* For op bodies: sets the error and yields the status the agent answers with. */
#define op_fail(error, status, ...) \
    (g_set_error((error), VFSEC_ERROR, VFSEC_ERROR_PROTOCOL, __VA_ARGS__), (status))

/* ---- Names ---- */

static const char *const class_names[VFSEC_WIRE_CLASS_LAST] = {
    [VFSEC_WIRE_CLASS_DATA] = "data",
    [VFSEC_WIRE_CLASS_CONFIG] = "config",
    [VFSEC_WIRE_CLASS_METADATA_BYPASS] = "metadata-bypass",
    [VFSEC_WIRE_CLASS_METADATA] = "metadata",
    [VFSEC_WIRE_CLASS_MALFORMED] = "malformed",
};

static const char *const rx_status_names[VFSEC_WIRE_RX_STATUS_LAST] = {
    [VFSEC_WIRE_RX_OK] = "ok",
    [VFSEC_WIRE_RX_NO_SA] = "no-sa",
    [VFSEC_WIRE_RX_INTEGRITY_FAIL] = "integrity-fail",
    [VFSEC_WIRE_RX_REPLAY] = "replay",
    [VFSEC_WIRE_RX_BYPASSED] = "bypassed",
    [VFSEC_WIRE_RX_MALFORMED] = "malformed",
};

static const char *const opcode_names[VFSEC_WIRE_OP_LAST] = {
    [VFSEC_WIRE_OP_ADD_SA] = "ADD_SA",
    [VFSEC_WIRE_OP_REMOVE_SA] = "REMOVE_SA",
    [VFSEC_WIRE_OP_REMOVE_ALL_SA] = "REMOVE_ALL_SA",
    [VFSEC_WIRE_OP_MAC_ADD] = "MAC_ADD",
    [VFSEC_WIRE_OP_MAC_REMOVE] = "MAC_REMOVE",
    [VFSEC_WIRE_OP_MAC_REPLACE] = "MAC_REPLACE",
    [VFSEC_WIRE_OP_QUERY] = "QUERY",
};

static const char *const status_names[VFSEC_WIRE_STATUS_LAST] = {
    [VFSEC_WIRE_STATUS_OK] = "OK",
    [VFSEC_WIRE_STATUS_DUPLICATE_KEY] = "DUPLICATE_KEY",
    [VFSEC_WIRE_STATUS_NO_SUCH_SA] = "NO_SUCH_SA",
    [VFSEC_WIRE_STATUS_SAD_FULL] = "SAD_FULL",
    [VFSEC_WIRE_STATUS_MALFORMED] = "MALFORMED",
    [VFSEC_WIRE_STATUS_UNSUPPORTED_OP] = "UNSUPPORTED_OP",
    [VFSEC_WIRE_STATUS_UNSUPPORTED_ALG] = "UNSUPPORTED_ALG",
    [VFSEC_WIRE_STATUS_TABLE_FULL] = "TABLE_FULL",
    [VFSEC_WIRE_STATUS_STALE_GENERATION] = "STALE_GENERATION",
    [VFSEC_WIRE_STATUS_NO_SUCH_MAC] = "NO_SUCH_MAC",
};

static const char *
name_of(const char *const *names, gsize n, guint value)
{
    return value < n ? names[value] : NULL;
}

static int
value_of(const char *const *names, gsize n, const char *str)
{
    for (gsize i = 0; str && i < n; i++) {
        if (names[i] && strcmp(names[i], str) == 0)
            return (int)i;
    }
    return -1;
}

const char *
vfsec_wire_class_to_string(VfsecWireClass klass)
{
    return name_of(class_names, G_N_ELEMENTS(class_names), klass);
}

const char *
vfsec_wire_rx_status_to_string(VfsecWireRxStatus status)
{
    return name_of(rx_status_names, G_N_ELEMENTS(rx_status_names), status);
}

const char *
vfsec_wire_opcode_to_string(guint opcode)
{
    return name_of(opcode_names, G_N_ELEMENTS(opcode_names), opcode);
}

int
vfsec_wire_opcode_from_string(const char *str)
{
    return value_of(opcode_names, G_N_ELEMENTS(opcode_names), str);
}

const char *
vfsec_wire_status_to_string(guint status)
{
    return name_of(status_names, G_N_ELEMENTS(status_names), status);
}

int
vfsec_wire_status_from_string(const char *str)
{
    return value_of(status_names, G_N_ELEMENTS(status_names), str);
}

/* An op's name for messages, also for opcodes this version does not know. */
static const char *
opcode_label(guint opcode)
{
    const char *name = vfsec_wire_opcode_to_string(opcode);

    return name ? name : "unknown opcode";
}

/* ---- Tags and classification ---- */

static const VfsecWireTags default_tags = {
    .config_vid = VFSEC_WIRE_CONFIG_VID_DEFAULT,
    .md_base = VFSEC_WIRE_MD_BASE_DEFAULT,
};

/* Every entry point accepts NULL tags as "the defaults". */
static const VfsecWireTags *
tags_or_default(const VfsecWireTags *tags)
{
    return tags ? tags : &default_tags;
}

static gboolean
tpid_valid(guint16 tpid)
{
    return tpid == VFSEC_WIRE_TPID_8021Q || tpid == VFSEC_WIRE_TPID_8021AD;
}

/* 0 stands for the common 802.1Q TPID in the caller-facing structs. */
static guint16
tpid_or_default(guint16 tpid)
{
    return tpid ? tpid : VFSEC_WIRE_TPID_8021Q;
}

void
vfsec_wire_tags_init(VfsecWireTags *tags)
{
    *tags = default_tags;
}

gboolean
vfsec_wire_tags_check(const VfsecWireTags *tags, GError **error)
{
    if (tags->md_base & 1) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "metadata base VID %u is odd; bit 0 is the offload bit", tags->md_base);
        return FALSE;
    }
    if (tags->config_vid == 0 || tags->config_vid > 4094 || tags->md_base == 0 ||
        tags->md_base > 4094) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "reserved VIDs config %u / metadata %u are outside 1..4094",
                    tags->config_vid, tags->md_base);
        return FALSE;
    }
    if ((tags->config_vid & ~1u) == tags->md_base) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "configuration VID %u collides with metadata VIDs %u/%u",
                    tags->config_vid, tags->md_base, tags->md_base | 1);
        return FALSE;
    }
    return TRUE;
}

VfsecWireClass
vfsec_wire_classify(const VfsecWireTags *tags, const guint8 *frame, gsize len,
                    VfsecWireTagInfo *info)
{
    VfsecWireTagInfo local;
    VfsecWireTagInfo *out = info ? info : &local;
    guint16 tci;

    tags = tags_or_default(tags);
    memset(out, 0, sizeof(*out));
    out->offset = VFSEC_WIRE_TAG_OFFSET;

    if (len < VFSEC_WIRE_ETH_HLEN) {
        out->klass = VFSEC_WIRE_CLASS_MALFORMED;
        return out->klass;
    }
    out->tpid = get16(frame + VFSEC_WIRE_TAG_OFFSET);
    if (!tpid_valid(out->tpid)) {
        out->tpid = 0;
        out->klass = VFSEC_WIRE_CLASS_DATA;
        return out->klass;
    }
    out->tagged = TRUE;
    /* A tag must be followed by at least the next ethertype or TPID. */
    if (len < VFSEC_WIRE_TAG_OFFSET + VFSEC_WIRE_TAG_LEN + 2) {
        out->klass = VFSEC_WIRE_CLASS_MALFORMED;
        return out->klass;
    }
    tci = get16(frame + VFSEC_WIRE_TAG_OFFSET + 2);
    out->pcp = VFSEC_WIRE_TCI_PCP(tci);
    out->dei = VFSEC_WIRE_TCI_DEI(tci);
    out->vid = VFSEC_WIRE_TCI_VID(tci);
    out->offset = VFSEC_WIRE_TAG_OFFSET + VFSEC_WIRE_TAG_LEN;

    if (out->vid == tags->config_vid)
        out->klass = VFSEC_WIRE_CLASS_CONFIG;
    else if ((out->vid & ~1u) == tags->md_base)
        out->klass = (out->vid & 1) ? VFSEC_WIRE_CLASS_METADATA : VFSEC_WIRE_CLASS_METADATA_BYPASS;
    else
        out->klass = VFSEC_WIRE_CLASS_DATA;
    return out->klass;
}

gboolean
vfsec_wire_frame_vlans(const guint8 *frame, gsize len, VfsecWireVlan vlans[VFSEC_WIRE_MAX_TAGS],
                       guint *n_vlans, gsize *ethertype_offset, GError **error)
{
    gsize off = VFSEC_WIRE_TAG_OFFSET;
    guint n = 0;

    if (len < VFSEC_WIRE_ETH_HLEN)
        return proto_fail(error, "frame of %zu bytes is shorter than an Ethernet header", len);
    while (tpid_valid(get16(frame + off))) {
        if (n == VFSEC_WIRE_MAX_TAGS)
            return proto_fail(error, "frame has a third VLAN tag at offset %zu", off);
        if (len - off < VFSEC_WIRE_TAG_LEN + 2)
            return proto_fail(error, "frame ends inside the VLAN tag at offset %zu", off);
        vlans[n].tpid = get16(frame + off);
        vlans[n].tci = get16(frame + off + 2);
        n++;
        off += VFSEC_WIRE_TAG_LEN;
    }
    for (guint i = n; i < VFSEC_WIRE_MAX_TAGS; i++)
        vlans[i] = (VfsecWireVlan){ 0, 0 };
    *n_vlans = n;
    *ethertype_offset = off;
    return TRUE;
}

/* ---- Metadata ---- */

/* Offsets inside a frame carrying a v1 metadata header (tag at 12). */
enum {
    MD_OFF_ETHERTYPE = 16,
    MD_OFF_VERSION = 18,
    MD_OFF_TYPE = 19,
    MD_OFF_LENGTH = 20,
    MD_OFF_FLAGS = 21,      /* TX flags / RX status */
    MD_OFF_NEXT_HEADER = 22,
    MD_OFF_L3 = 24,         /* TX */
    MD_OFF_ESP = 26,
    MD_OFF_MSS = 28,
    MD_OFF_SA_INDEX = 24,   /* RX */
    MD_OFF_SEQ = 28,
};

/* Checks the fields of @md; @rest_len is the length of the original frame from
 * its ethertype on, or 0 when no frame is known yet. Offsets in messages are
 * those of the field in a frame carrying the header. */
static gboolean
md_check(const VfsecWireMetadata *md, gsize rest_len, GError **error)
{
    if (md->type == VFSEC_WIRE_MD_RX) {
        if (md->status >= VFSEC_WIRE_RX_STATUS_LAST)
            return proto_fail(error, "metadata header: RX status %u at offset %d is unknown",
                              md->status, MD_OFF_FLAGS);
        return TRUE;
    }
    if (md->type != VFSEC_WIRE_MD_TX)
        return proto_fail(error, "metadata header: type %u at offset %d is neither TX (1) nor RX (2)",
                          md->type, MD_OFF_TYPE);
    if (md->flags & ~(VFSEC_WIRE_MD_FLAG_OFFLOAD | VFSEC_WIRE_MD_FLAG_TSO))
        return proto_fail(error, "metadata header: TX flags 0x%02x at offset %d have unknown bits",
                          md->flags, MD_OFF_FLAGS);
    if (!(md->flags & VFSEC_WIRE_MD_FLAG_OFFLOAD))
        return proto_fail(error, "metadata header: TX flags 0x%02x at offset %d lack OFFLOAD under an offload tag",
                          md->flags, MD_OFF_FLAGS);
    if (!!(md->flags & VFSEC_WIRE_MD_FLAG_TSO) != (md->mss != 0))
        return proto_fail(error, "metadata header: mss %u at offset %d disagrees with the TSO flag",
                          md->mss, MD_OFF_MSS);
    if (md->l3_offset < 2)
        return proto_fail(error, "metadata header: l3_offset %u at offset %d points into the ethertype",
                          md->l3_offset, MD_OFF_L3);
    if (md->esp_offset <= md->l3_offset)
        return proto_fail(error, "metadata header: esp_offset %u at offset %d is not after l3_offset %u",
                          md->esp_offset, MD_OFF_ESP, md->l3_offset);
    /* The ESP header's SPI and sequence number must be inside the frame. */
    if (rest_len && (gsize)md->esp_offset + 8 > rest_len)
        return proto_fail(error, "metadata header: esp_offset %u at offset %d is beyond the %zu-byte packet",
                          md->esp_offset, MD_OFF_ESP, rest_len);
    return TRUE;
}

gssize
vfsec_wire_metadata_encode(const VfsecWireTags *tags, const VfsecWireMetadata *md,
                           guint8 *buf, gsize size, GError **error)
{
    guint16 tpid = tpid_or_default(md->tpid);
    gsize need = md->offload ? VFSEC_WIRE_MD_INSERT_LEN : VFSEC_WIRE_TAG_LEN;
    guint8 *h = buf + VFSEC_WIRE_TAG_LEN + 2;  /* the header proper */

    tags = tags_or_default(tags);
    if (!tpid_valid(tpid) || md->pcp > 7) {
        proto_fail(error, "metadata tag: TPID 0x%04x / PCP %u is not encodable", tpid, md->pcp);
        return -1;
    }
    if (md->offload && !md_check(md, 0, error))
        return -1;
    if (size < need) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "metadata needs %zu bytes, the buffer has %zu", need, size);
        return -1;
    }
    put16(buf, tpid);
    put16(buf + 2, vfsec_wire_tci(md->pcp, FALSE, tags->md_base | (md->offload ? 1 : 0)));
    if (!md->offload)
        return (gssize)need;

    memset(buf + VFSEC_WIRE_TAG_LEN, 0, need - VFSEC_WIRE_TAG_LEN);
    put16(buf + VFSEC_WIRE_TAG_LEN, VFSEC_WIRE_ETHERTYPE);
    h[0] = VFSEC_WIRE_VERSION;
    h[1] = (guint8)md->type;
    h[2] = VFSEC_WIRE_MD_HLEN;
    h[4] = md->next_header;
    if (md->type == VFSEC_WIRE_MD_TX) {
        h[3] = md->flags;
        put16(h + 6, md->l3_offset);
        put16(h + 8, md->esp_offset);
        put16(h + 10, md->mss);
    } else {
        h[3] = (guint8)md->status;
        put32(h + 6, md->sa_index);
        put32(h + 10, md->seq);
    }
    return (gssize)need;
}

gboolean
vfsec_wire_metadata_insert(const VfsecWireTags *tags, const VfsecWireMetadata *md,
                           GByteArray *frame, GError **error)
{
    guint8 hdr[VFSEC_WIRE_MD_INSERT_LEN];
    gsize old_len = frame->len;
    gssize n;

    if (old_len < VFSEC_WIRE_ETH_HLEN)
        return proto_fail(error, "frame of %zu bytes is shorter than an Ethernet header", old_len);
    if (md->offload && !md_check(md, old_len - VFSEC_WIRE_TAG_OFFSET, error))
        return FALSE;
    n = vfsec_wire_metadata_encode(tags, md, hdr, sizeof(hdr), error);
    if (n < 0)
        return FALSE;
    g_byte_array_set_size(frame, old_len + (guint)n);
    memmove(frame->data + VFSEC_WIRE_TAG_OFFSET + n, frame->data + VFSEC_WIRE_TAG_OFFSET,
            old_len - VFSEC_WIRE_TAG_OFFSET);
    memcpy(frame->data + VFSEC_WIRE_TAG_OFFSET, hdr, (gsize)n);
    return TRUE;
}

gboolean
vfsec_wire_metadata_decode(const VfsecWireTags *tags, const guint8 *frame, gsize len,
                           VfsecWireMetadata *md, gsize *strip_len, GError **error)
{
    VfsecWireTagInfo info;
    VfsecWireClass klass = vfsec_wire_classify(tags, frame, len, &info);
    gsize hlen;
    guint16 ethertype;

    memset(md, 0, sizeof(*md));
    if (klass == VFSEC_WIRE_CLASS_MALFORMED)
        return proto_fail(error, "metadata frame of %zu bytes is truncated", len);
    if (klass != VFSEC_WIRE_CLASS_METADATA && klass != VFSEC_WIRE_CLASS_METADATA_BYPASS)
        return proto_fail(error, "frame with outer VID %u (%s) is not a metadata frame",
                          info.vid, vfsec_wire_class_to_string(klass));
    md->tpid = info.tpid;
    md->pcp = info.pcp;
    if (klass == VFSEC_WIRE_CLASS_METADATA_BYPASS) {
        *strip_len = VFSEC_WIRE_TAG_LEN;
        return TRUE;
    }

    md->offload = TRUE;
    ethertype = get16(frame + MD_OFF_ETHERTYPE);
    if (ethertype != VFSEC_WIRE_ETHERTYPE)
        return proto_fail(error, "metadata header: ethertype 0x%04x at offset %d is not 0x%04x",
                          ethertype, MD_OFF_ETHERTYPE, VFSEC_WIRE_ETHERTYPE);
    if (len < MD_OFF_LENGTH + 1)
        return proto_fail(error, "metadata header: frame of %zu bytes ends before the length field", len);
    if (frame[MD_OFF_VERSION] != VFSEC_WIRE_VERSION)
        return proto_fail(error, "metadata header: version %u at offset %d is not %u",
                          frame[MD_OFF_VERSION], MD_OFF_VERSION, VFSEC_WIRE_VERSION);
    md->type = frame[MD_OFF_TYPE];
    hlen = frame[MD_OFF_LENGTH];
    if (hlen < VFSEC_WIRE_MD_HLEN)
        return proto_fail(error, "metadata header: length %zu at offset %d is below %d",
                          hlen, MD_OFF_LENGTH, VFSEC_WIRE_MD_HLEN);
    /* The header and the original ethertype after it must be in the frame. */
    if (len - MD_OFF_VERSION < hlen + 2)
        return proto_fail(error, "metadata header: length %zu at offset %d exceeds the %zu bytes left",
                          hlen, MD_OFF_LENGTH, len - MD_OFF_VERSION);

    md->next_header = frame[MD_OFF_NEXT_HEADER];
    if (md->type == VFSEC_WIRE_MD_TX) {
        md->flags = frame[MD_OFF_FLAGS];
        md->l3_offset = get16(frame + MD_OFF_L3);
        md->esp_offset = get16(frame + MD_OFF_ESP);
        md->mss = get16(frame + MD_OFF_MSS);
    } else {
        md->status = frame[MD_OFF_FLAGS];
        md->sa_index = get32(frame + MD_OFF_SA_INDEX);
        md->seq = get32(frame + MD_OFF_SEQ);
    }
    if (!md_check(md, len - MD_OFF_VERSION - hlen, error))
        return FALSE;
    *strip_len = VFSEC_WIRE_TAG_LEN + 2 + hlen;
    return TRUE;
}

gboolean
vfsec_wire_metadata_strip(const VfsecWireTags *tags, GByteArray *frame,
                          VfsecWireMetadata *md, GError **error)
{
    gsize strip = 0;

    if (!vfsec_wire_metadata_decode(tags, frame->data, frame->len, md, &strip, error))
        return FALSE;
    g_byte_array_remove_range(frame, VFSEC_WIRE_TAG_OFFSET, (guint)strip);
    return TRUE;
}

/* ---- SA keys ---- */

gboolean
vfsec_wire_ip_parse(const char *str, guint8 *family, guint8 addr[16], GError **error)
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, str, addr) == 1) {
        *family = 4;
        return TRUE;
    }
    if (inet_pton(AF_INET6, str, addr) == 1) {
        *family = 6;
        return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "'%s' is not an IPv4 or IPv6 address", str);
    return FALSE;
}

static const char *
ip_format(guint8 family, const guint8 addr[16], char buf[INET6_ADDRSTRLEN])
{
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, INET6_ADDRSTRLEN))
        g_strlcpy(buf, "?", INET6_ADDRSTRLEN);
    return buf;
}

/* Tags of keys and MAC entries are matched on TPID + VID only. */
static void
tags_normalize(guint8 n_tags, VfsecWireVlan tags[VFSEC_WIRE_MAX_TAGS])
{
    for (guint i = 0; i < VFSEC_WIRE_MAX_TAGS; i++) {
        if (i < n_tags)
            tags[i].tci = VFSEC_WIRE_TCI_VID(tags[i].tci);
        else
            tags[i] = (VfsecWireVlan){ 0, 0 };
    }
}

void
vfsec_wire_sa_key_normalize(VfsecWireSaKey *key)
{
    tags_normalize(key->n_tags, key->tags);
    if (key->family == 4)
        memset(key->dst + 4, 0, 12);
}

static void
tags_write(guint8 *p, guint8 n_tags, const VfsecWireVlan tags[VFSEC_WIRE_MAX_TAGS])
{
    for (guint i = 0; i < VFSEC_WIRE_MAX_TAGS && i < n_tags; i++) {
        put16(p + 4 * i, tags[i].tpid);
        put16(p + 4 * i + 2, VFSEC_WIRE_TCI_VID(tags[i].tci));
    }
}

/* Writes the canonical 40-byte key (the wire form is the canonical form). */
static void
sa_key_write(guint8 *p, const VfsecWireSaKey *key)
{
    memset(p, 0, VFSEC_WIRE_SA_KEY_LEN);
    p[0] = key->family;
    p[1] = key->proto;
    p[2] = key->n_tags;
    put32(p + 4, key->spi);
    memcpy(p + 8, key->dst, key->family == 4 ? 4 : 16);
    memcpy(p + 24, key->mac.b, 6);
    tags_write(p + 32, key->n_tags, key->tags);
}

/* Equality and hash read the fields the canonical form (sa_key_write) is
 * made of, without writing it out: both run for every SAD lookup, and a
 * reclaim of 10,000 SAs does tens of thousands of them. */
gboolean
vfsec_wire_sa_key_equal(gconstpointer a, gconstpointer b)
{
    const VfsecWireSaKey *x = a;
    const VfsecWireSaKey *y = b;

    if (x->family != y->family || x->proto != y->proto || x->n_tags != y->n_tags ||
        x->spi != y->spi || memcmp(x->dst, y->dst, x->family == 4 ? 4 : 16) != 0 ||
        memcmp(x->mac.b, y->mac.b, sizeof(x->mac.b)) != 0)
        return FALSE;
    for (guint i = 0; i < VFSEC_WIRE_MAX_TAGS && i < x->n_tags; i++) {
        if (x->tags[i].tpid != y->tags[i].tpid ||
            VFSEC_WIRE_TCI_VID(x->tags[i].tci) != VFSEC_WIRE_TCI_VID(y->tags[i].tci))
            return FALSE;
    }
    return TRUE;
}

static guint32
hash_mix(guint32 h, guint32 word)
{
    h ^= word;
    h *= 0x9e3779b1u;  /* golden-ratio multiplier; the rotation spreads the high bits */
    return (h << 13) | (h >> 19);
}

guint
vfsec_wire_sa_key_hash(gconstpointer key)
{
    const VfsecWireSaKey *k = key;
    guint32 h = hash_mix(2166136261u, k->spi);
    guint n_dst = k->family == 4 ? 1 : 4;

    h = hash_mix(h, (guint32)k->family | (guint32)k->proto << 8 | (guint32)k->n_tags << 16);
    for (guint i = 0; i < n_dst; i++)
        h = hash_mix(h, get32(k->dst + 4 * i));
    h = hash_mix(h, get32(k->mac.b));
    h = hash_mix(h, get16(k->mac.b + 4));
    for (guint i = 0; i < VFSEC_WIRE_MAX_TAGS && i < k->n_tags; i++)
        h = hash_mix(h, (guint32)k->tags[i].tpid << 16 | VFSEC_WIRE_TCI_VID(k->tags[i].tci));
    return h;
}

static void
vlans_describe(GString *out, guint8 n_tags, const VfsecWireVlan tags[VFSEC_WIRE_MAX_TAGS])
{
    if (n_tags == 0) {
        g_string_append(out, " untagged");
        return;
    }
    g_string_append(out, " vlan ");
    for (guint i = 0; i < n_tags && i < VFSEC_WIRE_MAX_TAGS; i++) {
        g_string_append_printf(out, "%s%s/%u", i ? "," : "",
                               tags[i].tpid == VFSEC_WIRE_TPID_8021AD ? "802.1ad" : "802.1Q",
                               VFSEC_WIRE_TCI_VID(tags[i].tci));
    }
}

static void
sa_key_describe(GString *out, const VfsecWireSaKey *key)
{
    char ip[INET6_ADDRSTRLEN];
    char mac[VFSEC_MAC_STRLEN];

    g_string_append_printf(out, "%s %s spi 0x%08x mac %s",
                           key->proto == VFSEC_WIRE_PROTO_AH ? "ah" : "esp",
                           ip_format(key->family, key->dst, ip), key->spi,
                           vfsec_mac_format(&key->mac, mac));
    vlans_describe(out, key->n_tags, key->tags);
}

char *
vfsec_wire_sa_key_describe(const VfsecWireSaKey *key)
{
    GString *out = g_string_new(NULL);

    sa_key_describe(out, key);
    return g_string_free(out, FALSE);
}

static void
sa_describe(GString *out, const VfsecWireAddSa *sa)
{
    char ip[INET6_ADDRSTRLEN];

    /* Deliberately no key bytes and no salt: logs end up everywhere. */
    g_string_append_printf(out, "%s %s %s ",
                           sa->dir == VFSEC_WIRE_DIR_OUT ? "out" : "in",
                           sa->alg == VFSEC_WIRE_ALG_AES_GCM_256 ? "aes-gcm-256" : "aes-gcm-128",
                           sa->mode == VFSEC_WIRE_MODE_TRANSPORT ? "transport" : "mode?");
    sa_key_describe(out, &sa->key);
    g_string_append_printf(out, " src %s replay-window %u",
                           ip_format(sa->key.family, sa->src, ip), sa->replay_window);
}

char *
vfsec_wire_sa_describe(const VfsecWireAddSa *sa)
{
    GString *out = g_string_new(NULL);

    sa_describe(out, sa);
    return g_string_free(out, FALSE);
}

/* ---- Op bodies ---- */

/* Offsets inside an ADD_SA body. */
enum {
    ADD_SA_OFF_DIR = 40,
    ADD_SA_OFF_ALG = 41,
    ADD_SA_OFF_MODE = 42,
    ADD_SA_OFF_FLAGS = 43,
    ADD_SA_OFF_SALT = 44,
    ADD_SA_OFF_KEY_LEN = 48,
    ADD_SA_OFF_KEY = 52,
    ADD_SA_OFF_SRC = 84,
    ADD_SA_OFF_REPLAY = 100,
};

static gboolean
mac_usable(const guint8 *mac)
{
    static const guint8 zero[6];

    return memcmp(mac, zero, 6) != 0 && !(mac[0] & 1);
}

static gboolean
is_zero(const guint8 *p, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        if (p[i])
            return FALSE;
    }
    return TRUE;
}

/* Decodes the n_tags byte at @n_off and the two tag slots at @off. */
static VfsecWireStatus
tags_decode(const guint8 *f, gsize n_off, gsize off, guint8 *n_tags,
            VfsecWireVlan tags[VFSEC_WIRE_MAX_TAGS], GError **error)
{
    *n_tags = f[n_off];
    if (*n_tags > VFSEC_WIRE_MAX_TAGS)
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED, "n_tags %u at offset %zu exceeds %d",
                       *n_tags, n_off, VFSEC_WIRE_MAX_TAGS);
    for (guint i = 0; i < VFSEC_WIRE_MAX_TAGS; i++) {
        gsize t = off + 4 * i;

        if (i >= *n_tags) {
            /* Unused slots are zero: a non-zero one means n_tags is wrong,
             * and a wrong key puts an SA in the wrong domain. */
            if (!is_zero(f + t, 4))
                return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                               "unused tag slot %u at offset %zu is not zero", i, t);
            tags[i] = (VfsecWireVlan){ 0, 0 };
            continue;
        }
        tags[i].tpid = get16(f + t);
        tags[i].tci = VFSEC_WIRE_TCI_VID(get16(f + t + 2));
        if (!tpid_valid(tags[i].tpid))
            return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                           "tag %u TPID 0x%04x at offset %zu is not 0x8100 or 0x88a8",
                           i, tags[i].tpid, t);
        if (tags[i].tci == 0 || tags[i].tci == VFSEC_WIRE_VID_MASK)
            return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                           "tag %u VID %u at offset %zu is reserved", i, tags[i].tci, t + 2);
    }
    return VFSEC_WIRE_STATUS_OK;
}

static VfsecWireStatus
mac_decode(const guint8 *f, gsize off, VfsecMac *mac, GError **error)
{
    if (!mac_usable(f + off))
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                       "MAC at offset %zu is zero or multicast", off);
    memcpy(mac->b, f + off, 6);
    return VFSEC_WIRE_STATUS_OK;
}

/* An address of @family at @off: IPv4 uses the first 4 of 16 bytes. */
static VfsecWireStatus
addr_decode(const guint8 *f, gsize off, guint8 family, const char *field, guint8 addr[16],
            GError **error)
{
    if (family == 4 && !is_zero(f + off + 4, 12))
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                       "IPv4 %s at offset %zu has non-zero bytes after the first 4", field, off);
    memcpy(addr, f + off, 16);
    return VFSEC_WIRE_STATUS_OK;
}

static VfsecWireStatus
sa_key_decode(const guint8 *f, gsize off, VfsecWireSaKey *key, GError **error)
{
    VfsecWireStatus st;

    memset(key, 0, sizeof(*key));
    key->family = f[off];
    key->proto = f[off + 1];
    key->spi = get32(f + off + 4);
    if (key->family != 4 && key->family != 6)
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                       "key family %u at offset %zu is not 4 or 6", key->family, off);
    if (key->proto != VFSEC_WIRE_PROTO_ESP && key->proto != VFSEC_WIRE_PROTO_AH)
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                       "key proto %u at offset %zu is not ESP (50) or AH (51)", key->proto, off + 1);
    if (key->spi == 0)
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED, "key SPI at offset %zu is 0", off + 4);
    st = addr_decode(f, off + 8, key->family, "key dst", key->dst, error);
    if (st == VFSEC_WIRE_STATUS_OK)
        st = mac_decode(f, off + 24, &key->mac, error);
    if (st == VFSEC_WIRE_STATUS_OK)
        st = tags_decode(f, off + 2, off + 32, &key->n_tags, key->tags, error);
    return st;
}

static VfsecWireStatus
mac_entry_decode(const guint8 *f, gsize off, VfsecWireMacEntry *entry, GError **error)
{
    VfsecWireStatus st;

    memset(entry, 0, sizeof(*entry));
    st = mac_decode(f, off, &entry->mac, error);
    if (st == VFSEC_WIRE_STATUS_OK)
        st = tags_decode(f, off + 6, off + 8, &entry->n_tags, entry->tags, error);
    return st;
}

static void
mac_entry_write(guint8 *p, const VfsecWireMacEntry *entry)
{
    memset(p, 0, VFSEC_WIRE_MAC_ENTRY_LEN);
    memcpy(p, entry->mac.b, 6);
    p[6] = entry->n_tags;
    tags_write(p + 8, entry->n_tags, entry->tags);
}

static VfsecWireStatus
add_sa_decode(const guint8 *f, gsize off, VfsecWireAddSa *sa, GError **error)
{
    VfsecWireStatus st;
    guint8 want_len;

    memset(sa, 0, sizeof(*sa));
    st = sa_key_decode(f, off, &sa->key, error);
    if (st != VFSEC_WIRE_STATUS_OK)
        return st;
    sa->dir = f[off + ADD_SA_OFF_DIR];
    sa->alg = f[off + ADD_SA_OFF_ALG];
    sa->mode = f[off + ADD_SA_OFF_MODE];
    sa->flags = f[off + ADD_SA_OFF_FLAGS];
    sa->salt = get32(f + off + ADD_SA_OFF_SALT);
    sa->key_len = f[off + ADD_SA_OFF_KEY_LEN];
    sa->replay_window = get32(f + off + ADD_SA_OFF_REPLAY);

    if (sa->dir != VFSEC_WIRE_DIR_IN && sa->dir != VFSEC_WIRE_DIR_OUT)
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED, "dir %u at offset %zu is not 1 or 2",
                       sa->dir, off + ADD_SA_OFF_DIR);
    if (sa->key.proto != VFSEC_WIRE_PROTO_ESP)
        return op_fail(error, VFSEC_WIRE_STATUS_UNSUPPORTED_ALG,
                       "key proto %u at offset %zu has no v1 transform (ESP only)",
                       sa->key.proto, off + 1);
    if (sa->alg != VFSEC_WIRE_ALG_AES_GCM_128 && sa->alg != VFSEC_WIRE_ALG_AES_GCM_256)
        return op_fail(error, VFSEC_WIRE_STATUS_UNSUPPORTED_ALG, "alg %u at offset %zu is unknown",
                       sa->alg, off + ADD_SA_OFF_ALG);
    if (sa->mode != VFSEC_WIRE_MODE_TRANSPORT)
        return op_fail(error, VFSEC_WIRE_STATUS_UNSUPPORTED_ALG,
                       "mode %u at offset %zu is not transport (1)", sa->mode, off + ADD_SA_OFF_MODE);
    if (sa->flags)
        return op_fail(error, VFSEC_WIRE_STATUS_UNSUPPORTED_ALG,
                       "SA flags 0x%02x at offset %zu ask for features v1 lacks",
                       sa->flags, off + ADD_SA_OFF_FLAGS);
    want_len = sa->alg == VFSEC_WIRE_ALG_AES_GCM_128 ? 16 : 32;
    if (sa->key_len != want_len)
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                       "key_len %u at offset %zu does not match alg %u (%u bytes)",
                       sa->key_len, off + ADD_SA_OFF_KEY_LEN, sa->alg, want_len);
    memcpy(sa->key_bytes, f + off + ADD_SA_OFF_KEY, sa->key_len);
    return addr_decode(f, off + ADD_SA_OFF_SRC, sa->key.family, "src", sa->src, error);
}

static void
add_sa_write(guint8 *p, const VfsecWireAddSa *sa)
{
    memset(p, 0, VFSEC_WIRE_ADD_SA_LEN);
    sa_key_write(p, &sa->key);
    p[ADD_SA_OFF_DIR] = (guint8)sa->dir;
    p[ADD_SA_OFF_ALG] = (guint8)sa->alg;
    p[ADD_SA_OFF_MODE] = sa->mode;
    p[ADD_SA_OFF_FLAGS] = sa->flags;
    put32(p + ADD_SA_OFF_SALT, sa->salt);
    p[ADD_SA_OFF_KEY_LEN] = sa->key_len;
    memcpy(p + ADD_SA_OFF_KEY, sa->key_bytes, MIN(sa->key_len, VFSEC_WIRE_KEY_MAX));
    memcpy(p + ADD_SA_OFF_SRC, sa->src, sa->key.family == 4 ? 4 : 16);
    put32(p + ADD_SA_OFF_REPLAY, sa->replay_window);
}

/* The fixed part each opcode's request body needs; longer bodies are allowed
 * (a later version appends fields), shorter ones are MALFORMED. */
static gsize
request_body_min(guint8 opcode, guint8 flags)
{
    switch (opcode) {
    case VFSEC_WIRE_OP_ADD_SA:
        return VFSEC_WIRE_ADD_SA_LEN;
    case VFSEC_WIRE_OP_REMOVE_SA:
        return (flags & VFSEC_WIRE_REMOVE_SA_BY_KEY) ? VFSEC_WIRE_SA_KEY_LEN : VFSEC_WIRE_REMOVE_SA_LEN;
    case VFSEC_WIRE_OP_MAC_ADD:
    case VFSEC_WIRE_OP_MAC_REMOVE:
        return VFSEC_WIRE_MAC_ENTRY_LEN;
    case VFSEC_WIRE_OP_MAC_REPLACE:
        return VFSEC_WIRE_MAC_REPLACE_HLEN;
    default:
        return 0;
    }
}

/* Decodes the body of request op @op->opcode at @off in frame @f; the caller
 * checked that @body_len bytes are there. */
static VfsecWireStatus
request_body_decode(const guint8 *f, gsize op_off, gsize body_len, VfsecWireOp *op, GError **error)
{
    guint8 flags = f[op_off + 1];
    gsize off = op_off + VFSEC_WIRE_OP_HLEN;
    guint8 allowed = op->opcode == VFSEC_WIRE_OP_REMOVE_SA ? VFSEC_WIRE_REMOVE_SA_BY_KEY : 0;
    gsize min = request_body_min(op->opcode, flags);
    guint count;

    if (op->opcode == 0 || op->opcode >= VFSEC_WIRE_OP_LAST)
        return op_fail(error, VFSEC_WIRE_STATUS_UNSUPPORTED_OP,
                       "opcode %u at offset %zu is not known to protocol v1", op->opcode, op_off);
    if (flags & ~allowed)
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED, "flags 0x%02x at offset %zu have unknown bits",
                       flags, op_off + 1);
    if (body_len < min)
        return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED, "body_len %zu at offset %zu is below %zu",
                       body_len, op_off + 2, min);

    switch ((VfsecWireOpcode)op->opcode) {
    case VFSEC_WIRE_OP_ADD_SA:
        return add_sa_decode(f, off, &op->add_sa, error);
    case VFSEC_WIRE_OP_REMOVE_SA:
        op->remove_sa.by_key = !!(flags & VFSEC_WIRE_REMOVE_SA_BY_KEY);
        if (op->remove_sa.by_key)
            return sa_key_decode(f, off, &op->remove_sa.key, error);
        op->remove_sa.sa_index = get32(f + off);
        op->remove_sa.spi = get32(f + off + 4);
        if (op->remove_sa.spi == 0)
            return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED, "SPI at offset %zu is 0", off + 4);
        return VFSEC_WIRE_STATUS_OK;
    case VFSEC_WIRE_OP_MAC_ADD:
    case VFSEC_WIRE_OP_MAC_REMOVE:
        return mac_entry_decode(f, off, &op->mac, error);
    case VFSEC_WIRE_OP_MAC_REPLACE:
        op->generation = get32(f + off);
        count = get16(f + off + 4);
        if ((gsize)count * VFSEC_WIRE_MAC_ENTRY_LEN > body_len - VFSEC_WIRE_MAC_REPLACE_HLEN)
            return op_fail(error, VFSEC_WIRE_STATUS_MALFORMED,
                           "count %u at offset %zu needs %zu bytes, body_len is %zu",
                           count, off + 4,
                           VFSEC_WIRE_MAC_REPLACE_HLEN + (gsize)count * VFSEC_WIRE_MAC_ENTRY_LEN, body_len);
        op->mac_entries = g_array_sized_new(FALSE, TRUE, sizeof(VfsecWireMacEntry), count);
        g_array_set_size(op->mac_entries, count);
        for (guint i = 0; i < count; i++) {
            VfsecWireStatus st = mac_entry_decode(f, off + VFSEC_WIRE_MAC_REPLACE_HLEN + i * VFSEC_WIRE_MAC_ENTRY_LEN,
                                                  &g_array_index(op->mac_entries, VfsecWireMacEntry, i),
                                                  error);
            if (st != VFSEC_WIRE_STATUS_OK)
                return st;
        }
        return VFSEC_WIRE_STATUS_OK;
    case VFSEC_WIRE_OP_REMOVE_ALL_SA:
    case VFSEC_WIRE_OP_QUERY:
    case VFSEC_WIRE_OP_LAST:
        break;
    }
    return VFSEC_WIRE_STATUS_OK;
}

static gboolean
reply_body_decode(const guint8 *f, gsize op_off, gsize body_len, VfsecWireReplyOp *op, GError **error)
{
    gsize off = op_off + VFSEC_WIRE_OP_HLEN;

    /* Unknown statuses and opcodes are kept: a newer agent may use them, and
     * the PF treats every status but OK as failure anyway. */
    op->opcode = f[op_off];
    op->status = f[op_off + 1];
    if (body_len < VFSEC_WIRE_REPLY_LEN)
        return proto_fail(error, "body_len %zu at offset %zu is below %d",
                          body_len, op_off + 2, VFSEC_WIRE_REPLY_LEN);
    op->value = get32(f + off);
    if (op->opcode != VFSEC_WIRE_OP_QUERY || op->status != VFSEC_WIRE_STATUS_OK)
        return TRUE;
    if (body_len < VFSEC_WIRE_QUERY_REPLY_LEN)
        return proto_fail(error, "QUERY reply body_len %zu at offset %zu is below %d",
                          body_len, op_off + 2, VFSEC_WIRE_QUERY_REPLY_LEN);
    op->query.capacity = op->value;
    op->query.sa_count = get32(f + off + 4);
    op->query.mac_count = get32(f + off + 8);
    op->query.generation = get32(f + off + 12);
    return TRUE;
}

/* What a v1 encoder writes as the body of @op. */
static gsize
body_size(const VfsecWireOp *op, VfsecWireKind kind)
{
    if (kind == VFSEC_WIRE_KIND_REPLY)
        return op->opcode == VFSEC_WIRE_OP_QUERY ? VFSEC_WIRE_QUERY_REPLY_LEN : VFSEC_WIRE_REPLY_LEN;
    switch (op->opcode) {
    case VFSEC_WIRE_OP_ADD_SA:
        return VFSEC_WIRE_ADD_SA_LEN;
    case VFSEC_WIRE_OP_REMOVE_SA:
        return op->remove_sa.by_key ? VFSEC_WIRE_SA_KEY_LEN : VFSEC_WIRE_REMOVE_SA_LEN;
    case VFSEC_WIRE_OP_MAC_ADD:
    case VFSEC_WIRE_OP_MAC_REMOVE:
        return VFSEC_WIRE_MAC_ENTRY_LEN;
    case VFSEC_WIRE_OP_MAC_REPLACE:
        return VFSEC_WIRE_MAC_REPLACE_HLEN +
               (gsize)(op->mac_entries ? op->mac_entries->len : 0) * VFSEC_WIRE_MAC_ENTRY_LEN;
    default:
        return 0;
    }
}

/* The size of the reply op answering request op @opcode. */
static gsize
reply_op_size(guint8 opcode)
{
    return VFSEC_WIRE_OP_HLEN +
           (opcode == VFSEC_WIRE_OP_QUERY ? VFSEC_WIRE_QUERY_REPLY_LEN : VFSEC_WIRE_REPLY_LEN);
}

/* Writes a reply op (header and body, reply_op_size() bytes) at @p. */
static void
reply_op_write(guint8 *p, guint8 opcode, guint8 status, guint32 value, const VfsecWireQueryInfo *query)
{
    guint8 *b = p + VFSEC_WIRE_OP_HLEN;

    p[0] = opcode;
    p[1] = status;
    if (opcode == VFSEC_WIRE_OP_QUERY) {
        put16(p + 2, VFSEC_WIRE_QUERY_REPLY_LEN);
        put32(b, query->capacity);
        put32(b + 4, query->sa_count);
        put32(b + 8, query->mac_count);
        put32(b + 12, query->generation);
    } else {
        put16(p + 2, VFSEC_WIRE_REPLY_LEN);
        put32(b, value);
    }
}

/* Writes op header and body (body_size() bytes) at @p. */
static void
op_write(guint8 *p, const VfsecWireOp *op, VfsecWireKind kind, gsize blen)
{
    guint8 *b = p + VFSEC_WIRE_OP_HLEN;

    if (kind == VFSEC_WIRE_KIND_REPLY) {
        reply_op_write(p, op->opcode, (guint8)op->status, op->value, &op->query);
        return;
    }
    memset(p, 0, VFSEC_WIRE_OP_HLEN + blen);
    p[0] = op->opcode;
    put16(p + 2, (guint16)blen);
    switch ((VfsecWireOpcode)op->opcode) {
    case VFSEC_WIRE_OP_ADD_SA:
        add_sa_write(b, &op->add_sa);
        break;
    case VFSEC_WIRE_OP_REMOVE_SA:
        if (op->remove_sa.by_key) {
            p[1] = VFSEC_WIRE_REMOVE_SA_BY_KEY;
            sa_key_write(b, &op->remove_sa.key);
        } else {
            put32(b, op->remove_sa.sa_index);
            put32(b + 4, op->remove_sa.spi);
        }
        break;
    case VFSEC_WIRE_OP_MAC_ADD:
    case VFSEC_WIRE_OP_MAC_REMOVE:
        mac_entry_write(b, &op->mac);
        break;
    case VFSEC_WIRE_OP_MAC_REPLACE:
        put32(b, op->generation);
        put16(b + 4, (guint16)(op->mac_entries ? op->mac_entries->len : 0));
        for (guint i = 0; op->mac_entries && i < op->mac_entries->len; i++)
            mac_entry_write(b + VFSEC_WIRE_MAC_REPLACE_HLEN + i * VFSEC_WIRE_MAC_ENTRY_LEN,
                            &g_array_index(op->mac_entries, VfsecWireMacEntry, i));
        break;
    case VFSEC_WIRE_OP_REMOVE_ALL_SA:
    case VFSEC_WIRE_OP_QUERY:
    case VFSEC_WIRE_OP_LAST:
        break;
    }
}

void
vfsec_wire_op_clear(VfsecWireOp *op)
{
    if (op->mac_entries)
        g_array_unref(op->mac_entries);
    g_clear_error(&op->error);
    /* The op may have carried an SA key; do not leave it in freed memory. */
    explicit_bzero(op, sizeof(*op));
}

/* Decodes one op (header at @op_off, body checked to be in the frame) into
 * @op, which the caller zeroed. Request ops get status/error on a body error; the return value says
 * whether the op decoded. Reply ops fail outright. */
static gboolean
op_decode(const guint8 *f, gsize op_off, gsize body_len, VfsecWireKind kind, guint index,
          VfsecWireOp *op, GError **error)
{
    g_autoptr(GError) local = NULL;

    op->opcode = f[op_off];
    if (kind == VFSEC_WIRE_KIND_REPLY) {
        VfsecWireReplyOp rop = { 0 };
        gboolean ok = reply_body_decode(f, op_off, body_len, &rop, &local);

        op->status = rop.status;
        op->value = rop.value;
        op->query = rop.query;
        if (ok)
            return TRUE;
    } else {
        op->status = request_body_decode(f, op_off, body_len, op, &local);
        if (op->status == VFSEC_WIRE_STATUS_OK)
            return TRUE;
    }
    g_prefix_error(&local, "config frame: op #%u %s: ", index, opcode_label(op->opcode));
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
}

/* ---- Configuration frames ---- */

/* Frees what an op in a frame's array owns. Only ADD_SA carries key
 * material, so only it is wiped: wiping every op of a 124-op reclaim frame
 * (and of its reply) cost more than decoding them. */
static void
op_array_clear(gpointer data)
{
    VfsecWireOp *op = data;

    if (op->opcode == VFSEC_WIRE_OP_ADD_SA) {
        vfsec_wire_op_clear(op);
        return;
    }
    g_clear_pointer(&op->mac_entries, g_array_unref);
    g_clear_error(&op->error);
}

VfsecWireConfig *
vfsec_wire_config_new(VfsecWireKind kind, guint32 seq)
{
    VfsecWireConfig *cfg = g_new0(VfsecWireConfig, 1);

    cfg->l2.tpid = VFSEC_WIRE_TPID_8021Q;
    cfg->kind = kind;
    cfg->seq = seq;
    cfg->ops = g_array_new(FALSE, TRUE, sizeof(VfsecWireOp));
    g_array_set_clear_func(cfg->ops, op_array_clear);
    return cfg;
}

void
vfsec_wire_config_free(VfsecWireConfig *cfg)
{
    if (!cfg)
        return;
    g_array_unref(cfg->ops);
    g_free(cfg);
}

VfsecWireOp *
vfsec_wire_config_add(VfsecWireConfig *cfg, VfsecWireOpcode opcode)
{
    VfsecWireOp op = { .opcode = (guint8)opcode };

    g_array_append_val(cfg->ops, op);
    return &g_array_index(cfg->ops, VfsecWireOp, cfg->ops->len - 1);
}

/* Decodes the config header at VFSEC_WIRE_CONFIG_OFFSET; *@op_count out. */
static gboolean
config_header_decode(const VfsecWireTags *tags, const guint8 *f, gsize len, VfsecWireConfig *cfg,
                     guint *op_count, GError **error)
{
    VfsecWireTagInfo info;
    VfsecWireClass klass = vfsec_wire_classify(tags, f, len, &info);
    const guint8 *h = f + VFSEC_WIRE_CONFIG_OFFSET;
    guint16 ethertype;
    guint16 magic;

    if (len < VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_CONFIG_HLEN)
        return proto_fail(error, "config frame of %zu bytes is shorter than the %d bytes of its headers",
                          len, VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_CONFIG_HLEN);
    if (klass != VFSEC_WIRE_CLASS_CONFIG)
        return proto_fail(error, "config frame: outer VID %u at offset 14 (%s) is not the configuration VID %u",
                          info.vid, vfsec_wire_class_to_string(klass), tags_or_default(tags)->config_vid);
    ethertype = get16(f + 16);
    if (ethertype != VFSEC_WIRE_ETHERTYPE)
        return proto_fail(error, "config frame: ethertype 0x%04x at offset 16 is not 0x%04x",
                          ethertype, VFSEC_WIRE_ETHERTYPE);
    if (len - VFSEC_WIRE_CONFIG_OFFSET > VFSEC_WIRE_MTU)
        return proto_fail(error, "config frame: payload of %zu bytes exceeds the %d-byte MTU",
                          len - VFSEC_WIRE_CONFIG_OFFSET, VFSEC_WIRE_MTU);
    magic = get16(h);
    if (magic != VFSEC_WIRE_CONFIG_MAGIC)
        return proto_fail(error, "config frame: magic 0x%04x at offset 18 is not 0x%04x",
                          magic, VFSEC_WIRE_CONFIG_MAGIC);
    if (h[2] != VFSEC_WIRE_VERSION)
        return proto_fail(error, "config frame: version %u at offset 20 is not %u",
                          h[2], VFSEC_WIRE_VERSION);
    if (h[3] != VFSEC_WIRE_KIND_REQUEST && h[3] != VFSEC_WIRE_KIND_REPLY)
        return proto_fail(error, "config frame: kind %u at offset 21 is neither request (1) nor reply (2)",
                          h[3]);

    memcpy(cfg->l2.dst.b, f, 6);
    memcpy(cfg->l2.src.b, f + 6, 6);
    cfg->l2.tpid = info.tpid;
    cfg->l2.pcp = info.pcp;
    cfg->kind = h[3];
    cfg->seq = get32(h + 4);
    *op_count = get16(h + 8);
    return TRUE;
}

/* Checks op #@i's header at @off and that its body is in the frame;
 * *@body_len out. */
static gboolean
op_header_check(const guint8 *frame, gsize len, gsize off, guint i, guint op_count,
                gsize *body_len, GError **error)
{
    if (len - off < VFSEC_WIRE_OP_HLEN)
        return proto_fail(error, "config frame: op #%u header at offset %zu is cut off (%zu bytes left, op_count %u)",
                          i, off, len - off, op_count);
    *body_len = get16(frame + off + 2);
    if (*body_len > len - off - VFSEC_WIRE_OP_HLEN)
        return proto_fail(error, "config frame: op #%u body_len %zu exceeds the %zu bytes left at offset %zu",
                          i, *body_len, len - off - VFSEC_WIRE_OP_HLEN, off + VFSEC_WIRE_OP_HLEN);
    return TRUE;
}

/* The MAC pads short frames with zeros; anything else after the last op
 * (ending at @off) means op_count and the ops disagree. */
static gboolean
padding_check(const guint8 *frame, gsize len, gsize off, guint op_count, GError **error)
{
    for (gsize i = off; i < len; i++) {
        if (frame[i])
            return proto_fail(error, "config frame: op_count %u but a non-zero byte follows the last op at offset %zu",
                              op_count, i);
    }
    return TRUE;
}

VfsecWireConfig *
vfsec_wire_config_decode(const VfsecWireTags *tags, const guint8 *frame, gsize len,
                         VfsecWireDecodeFlags flags, GError **error)
{
    g_autoptr(VfsecWireConfig) cfg = vfsec_wire_config_new(VFSEC_WIRE_KIND_REQUEST, 0);
    gsize off = VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_CONFIG_HLEN;
    gsize reply_len = VFSEC_WIRE_CONFIG_HLEN;
    guint op_count = 0;

    if (!config_header_decode(tags, frame, len, cfg, &op_count, error))
        return NULL;

    g_array_set_size(cfg->ops, op_count);
    for (guint i = 0; i < op_count; i++) {
        VfsecWireOp *op = &g_array_index(cfg->ops, VfsecWireOp, i);
        g_autoptr(GError) local = NULL;
        gsize body_len;

        if (!op_header_check(frame, len, off, i, op_count, &body_len, error))
            return NULL;
        if (!op_decode(frame, off, body_len, cfg->kind, i, op, &local)) {
            if (cfg->kind == VFSEC_WIRE_KIND_REPLY || !(flags & VFSEC_WIRE_DECODE_PER_OP)) {
                g_propagate_error(error, g_steal_pointer(&local));
                return NULL;
            }
            op->error = g_steal_pointer(&local);
        }
        reply_len += reply_op_size(op->opcode);
        off += VFSEC_WIRE_OP_HLEN + body_len;
    }
    if (!padding_check(frame, len, off, op_count, error))
        return NULL;
    if (cfg->kind == VFSEC_WIRE_KIND_REQUEST && reply_len > VFSEC_WIRE_MTU) {
        proto_fail(error, "config frame: the %u ops need a %zu-byte reply, over the %d-byte MTU",
                   op_count, reply_len, VFSEC_WIRE_MTU);
        return NULL;
    }
    return g_steal_pointer(&cfg);
}

gboolean
vfsec_wire_reply_decode(const VfsecWireTags *tags, const guint8 *frame, gsize len,
                        VfsecWireReply *reply, GError **error)
{
    VfsecWireConfig header = { 0 };
    gsize off = VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_CONFIG_HLEN;
    guint op_count = 0;

    if (!config_header_decode(tags, frame, len, &header, &op_count, error))
        return FALSE;
    if (header.kind != VFSEC_WIRE_KIND_REPLY)
        return proto_fail(error, "config frame seq %u is a request, not a reply", header.seq);
    /* More ops than fit a reply cannot all be in the frame: the checks below
     * would fail on one of them, but the array must not overflow first. */
    if (op_count > VFSEC_WIRE_REPLY_OPS_MAX)
        return proto_fail(error, "config frame: op_count %u at offset 26 is above the %d ops a reply holds",
                          op_count, VFSEC_WIRE_REPLY_OPS_MAX);
    reply->seq = header.seq;
    reply->n_ops = op_count;
    for (guint i = 0; i < op_count; i++) {
        g_autoptr(GError) local = NULL;
        gsize body_len;

        if (!op_header_check(frame, len, off, i, op_count, &body_len, error))
            return FALSE;
        memset(&reply->ops[i].query, 0, sizeof(reply->ops[i].query));
        if (!reply_body_decode(frame, off, body_len, &reply->ops[i], &local)) {
            g_prefix_error(&local, "config frame: op #%u %s: ", i, opcode_label(frame[off]));
            g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        off += VFSEC_WIRE_OP_HLEN + body_len;
    }
    return padding_check(frame, len, off, op_count, error);
}

gboolean
vfsec_wire_reply_answers(const VfsecWireReply *reply, guint32 seq, guint8 opcode, guint n_ops,
                         GError **error)
{
    if (reply->seq != seq)
        return proto_fail(error, "reply seq %u does not answer request seq %u", reply->seq, seq);
    if (reply->n_ops != n_ops)
        return proto_fail(error, "reply seq %u has %u ops for %u request ops", seq, reply->n_ops, n_ops);
    for (guint i = 0; i < n_ops; i++) {
        if (reply->ops[i].opcode != opcode)
            return proto_fail(error, "reply seq %u op #%u is %s, the request op was %s",
                              seq, i, opcode_label(reply->ops[i].opcode), opcode_label(opcode));
    }
    return TRUE;
}

/* ---- Builder ---- */

struct _VfsecWireBuilder {
    VfsecWireTags tags;
    VfsecWireL2 l2;
    VfsecWireKind kind;
    guint count;
    gsize len;        /* bytes used in buf; everything after is zero */
    gsize reply_len;  /* request: payload its reply needs */
    guint8 buf[VFSEC_WIRE_FRAME_MAX];
};

static void
builder_start(VfsecWireBuilder *b, guint32 seq)
{
    guint8 *h = b->buf + VFSEC_WIRE_CONFIG_OFFSET;

    explicit_bzero(b->buf, sizeof(b->buf));
    memcpy(b->buf, b->l2.dst.b, 6);
    memcpy(b->buf + 6, b->l2.src.b, 6);
    put16(b->buf + 12, b->l2.tpid);
    put16(b->buf + 14, vfsec_wire_tci(b->l2.pcp, FALSE, b->tags.config_vid));
    put16(b->buf + 16, VFSEC_WIRE_ETHERTYPE);
    put16(h, VFSEC_WIRE_CONFIG_MAGIC);
    h[2] = VFSEC_WIRE_VERSION;
    h[3] = (guint8)b->kind;
    put32(h + 4, seq);
    b->count = 0;
    b->len = VFSEC_WIRE_CONFIG_OFFSET + VFSEC_WIRE_CONFIG_HLEN;
    b->reply_len = VFSEC_WIRE_CONFIG_HLEN;
}

VfsecWireBuilder *
vfsec_wire_builder_new(const VfsecWireTags *tags, const VfsecWireL2 *l2, VfsecWireKind kind,
                       guint32 seq)
{
    VfsecWireBuilder *b;

    g_return_val_if_fail(kind == VFSEC_WIRE_KIND_REQUEST || kind == VFSEC_WIRE_KIND_REPLY, NULL);
    g_return_val_if_fail(tpid_valid(tpid_or_default(l2->tpid)) && l2->pcp <= 7, NULL);

    b = g_new0(VfsecWireBuilder, 1);
    b->tags = *tags_or_default(tags);
    b->l2 = *l2;
    b->l2.tpid = tpid_or_default(l2->tpid);
    b->kind = kind;
    builder_start(b, seq);
    return b;
}

void
vfsec_wire_builder_free(VfsecWireBuilder *builder)
{
    if (!builder)
        return;
    explicit_bzero(builder->buf, sizeof(builder->buf));
    g_free(builder);
}

void
vfsec_wire_builder_reset(VfsecWireBuilder *builder, guint32 seq)
{
    builder_start(builder, seq);
}

guint
vfsec_wire_builder_count(const VfsecWireBuilder *builder)
{
    return builder->count;
}

/*
 * Could the receiver's decoder refuse @op as op_write() writes it? Not a
 * reply op (status and value, QUERY's four counts: integers at fixed offsets,
 * the decoder takes any value), nor REMOVE_ALL_SA or QUERY (no body), nor
 * REMOVE_SA by index with a non-zero SPI (two integers; SPI 0 is the one value
 * refused). Reading those back cost a decode per op on the reclaim path (a
 * REMOVE_SA and its reply for each of 10,000 SAs) and could never fail; the
 * round-trip tests in test-wire cover their layout. Everything else (SA keys,
 * algorithms, MAC entries, unknown opcodes) is still read back.
 */
static gboolean
decoder_may_refuse(const VfsecWireOp *op, VfsecWireKind kind)
{
    if (kind == VFSEC_WIRE_KIND_REPLY)
        return FALSE;
    switch (op->opcode) {
    case VFSEC_WIRE_OP_REMOVE_ALL_SA:
    case VFSEC_WIRE_OP_QUERY:
        return FALSE;
    case VFSEC_WIRE_OP_REMOVE_SA:
        return op->remove_sa.by_key || op->remove_sa.spi == 0;
    default:
        return TRUE;
    }
}

VfsecWireAppend
vfsec_wire_builder_append(VfsecWireBuilder *b, const VfsecWireOp *op, GError **error)
{
    gsize blen = body_size(op, b->kind);
    gsize need = VFSEC_WIRE_OP_HLEN + blen;
    gsize rneed = b->kind == VFSEC_WIRE_KIND_REQUEST ? reply_op_size(op->opcode) : 0;
    g_autoptr(GError) local = NULL;

    if (b->kind == VFSEC_WIRE_KIND_REQUEST &&
        (op->opcode == 0 || op->opcode >= VFSEC_WIRE_OP_LAST)) {
        proto_fail(error, "config frame: opcode %u is not known to protocol v1", op->opcode);
        return VFSEC_WIRE_APPEND_INVALID;
    }
    /* An op that cannot fit an empty frame would be FULL forever. */
    if (need > VFSEC_WIRE_MTU - VFSEC_WIRE_CONFIG_HLEN) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "config frame: %s op of %zu bytes can never fit the %d-byte MTU",
                    opcode_label(op->opcode), need, VFSEC_WIRE_MTU);
        return VFSEC_WIRE_APPEND_INVALID;
    }
    if (b->count == G_MAXUINT16 || b->len + need > VFSEC_WIRE_FRAME_MAX ||
        b->reply_len + rneed > VFSEC_WIRE_MTU)
        return VFSEC_WIRE_APPEND_FULL;

    /* Write it, then read it back with the receiver's decoder wherever the
     * decoder could refuse it: the encoder cannot drift from what a receiver
     * accepts. */
    op_write(b->buf + b->len, op, b->kind, blen);
    if (decoder_may_refuse(op, b->kind)) {
        VfsecWireOp check = { 0 };
        gboolean ok = op_decode(b->buf, b->len, blen, b->kind, b->count, &check, &local);

        vfsec_wire_op_clear(&check);
        if (!ok) {
            explicit_bzero(b->buf + b->len, need);
            g_propagate_error(error, g_steal_pointer(&local));
            return VFSEC_WIRE_APPEND_INVALID;
        }
    }
    b->len += need;
    b->reply_len += rneed;
    b->count++;
    return VFSEC_WIRE_APPEND_OK;
}

VfsecWireAppend
vfsec_wire_builder_append_remove_sa(VfsecWireBuilder *b, guint32 sa_index, guint32 spi,
                                    GError **error)
{
    const gsize need = VFSEC_WIRE_OP_HLEN + VFSEC_WIRE_REMOVE_SA_LEN;
    const gsize rneed = VFSEC_WIRE_OP_HLEN + VFSEC_WIRE_REPLY_LEN;
    guint8 *p = b->buf + b->len;

    g_return_val_if_fail(b->kind == VFSEC_WIRE_KIND_REQUEST, VFSEC_WIRE_APPEND_INVALID);

    if (spi == 0) {
        proto_fail(error, "config frame: REMOVE_SA of index %u with SPI 0 (the decoder refuses it)",
                   sa_index);
        return VFSEC_WIRE_APPEND_INVALID;
    }
    if (b->count == G_MAXUINT16 || b->len + need > VFSEC_WIRE_FRAME_MAX ||
        b->reply_len + rneed > VFSEC_WIRE_MTU)
        return VFSEC_WIRE_APPEND_FULL;
    /* op_write()'s layout; the bytes after b->len are zero already. */
    p[0] = VFSEC_WIRE_OP_REMOVE_SA;
    p[1] = 0;
    put16(p + 2, VFSEC_WIRE_REMOVE_SA_LEN);
    put32(p + VFSEC_WIRE_OP_HLEN, sa_index);
    put32(p + VFSEC_WIRE_OP_HLEN + 4, spi);
    b->len += need;
    b->reply_len += rneed;
    b->count++;
    return VFSEC_WIRE_APPEND_OK;
}

VfsecWireAppend
vfsec_wire_builder_append_reply(VfsecWireBuilder *b, const VfsecWireReplyOp *op)
{
    gsize need = reply_op_size(op->opcode);

    g_return_val_if_fail(b->kind == VFSEC_WIRE_KIND_REPLY, VFSEC_WIRE_APPEND_INVALID);

    if (b->count == G_MAXUINT16 || b->len + need > VFSEC_WIRE_FRAME_MAX)
        return VFSEC_WIRE_APPEND_FULL;
    reply_op_write(b->buf + b->len, op->opcode, op->status, op->value, &op->query);
    b->len += need;
    b->count++;
    return VFSEC_WIRE_APPEND_OK;
}

const guint8 *
vfsec_wire_builder_finish(VfsecWireBuilder *builder, gsize *len)
{
    put16(builder->buf + VFSEC_WIRE_CONFIG_OFFSET + 8, (guint16)builder->count);
    /* Bytes past len are zero, so padding a short frame is only a length. */
    *len = MAX(builder->len, (gsize)VFSEC_WIRE_ETH_ZLEN);
    return builder->buf;
}

gssize
vfsec_wire_config_encode(const VfsecWireTags *tags, const VfsecWireConfig *cfg,
                         guint8 *buf, gsize size, GError **error)
{
    g_autoptr(VfsecWireBuilder) b = vfsec_wire_builder_new(tags, &cfg->l2, cfg->kind, cfg->seq);
    const guint8 *frame;
    gsize len = 0;

    for (guint i = 0; i < cfg->ops->len; i++) {
        switch (vfsec_wire_builder_append(b, &g_array_index(cfg->ops, VfsecWireOp, i), error)) {
        case VFSEC_WIRE_APPEND_OK:
            break;
        case VFSEC_WIRE_APPEND_FULL:
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                        "config frame seq %u: op #%u does not fit; %u ops need more than one frame",
                        cfg->seq, i, cfg->ops->len);
            return -1;
        case VFSEC_WIRE_APPEND_INVALID:
            return -1;
        }
    }
    frame = vfsec_wire_builder_finish(b, &len);
    if (size < len) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "config frame seq %u needs %zu bytes, the buffer has %zu", cfg->seq, len, size);
        return -1;
    }
    memcpy(buf, frame, len);
    return (gssize)len;
}

VfsecWireConfig *
vfsec_wire_config_new_reply(const VfsecWireConfig *request)
{
    VfsecWireConfig *reply = vfsec_wire_config_new(VFSEC_WIRE_KIND_REPLY, request->seq);

    reply->l2.dst = request->l2.src;
    reply->l2.src = request->l2.dst;
    reply->l2.tpid = request->l2.tpid;
    reply->l2.pcp = request->l2.pcp;
    /* One zeroed allocation, not one append (and its reallocations) per op. */
    g_array_set_size(reply->ops, request->ops->len);
    for (guint i = 0; i < request->ops->len; i++) {
        const VfsecWireOp *req = &g_array_index(request->ops, VfsecWireOp, i);
        VfsecWireOp *op = &g_array_index(reply->ops, VfsecWireOp, i);

        op->opcode = req->opcode;
        op->status = req->status;
    }
    return reply;
}

gboolean
vfsec_wire_reply_check(const VfsecWireOp *request_ops, guint n_ops, guint32 seq,
                       const VfsecWireConfig *reply, GError **error)
{
    if (reply->kind != VFSEC_WIRE_KIND_REPLY)
        return proto_fail(error, "config frame seq %u is a request, not a reply", reply->seq);
    if (reply->seq != seq)
        return proto_fail(error, "reply seq %u does not answer request seq %u", reply->seq, seq);
    if (reply->ops->len != n_ops)
        return proto_fail(error, "reply seq %u has %u ops for %u request ops", seq, reply->ops->len, n_ops);
    for (guint i = 0; i < n_ops; i++) {
        guint8 got = g_array_index(reply->ops, VfsecWireOp, i).opcode;

        if (got != request_ops[i].opcode)
            return proto_fail(error, "reply seq %u op #%u is %s, the request op was %s",
                              seq, i, opcode_label(got), opcode_label(request_ops[i].opcode));
    }
    return TRUE;
}

/* ---- Batches ---- */

static void
batch_frame_clear(gpointer data)
{
    VfsecWireBatchFrame *frame = data;

    g_clear_pointer(&frame->frame, g_bytes_unref);
}

/* A frame copy that is zeroed when its last reference goes: ADD_SA frames
 * hold keys. */
typedef struct {
    gsize len;
    guint8 data[];
} SecretFrame;

static void
secret_frame_free(gpointer data)
{
    SecretFrame *frame = data;

    explicit_bzero(frame->data, frame->len);
    g_free(frame);
}

static GBytes *
secret_bytes_new(const guint8 *data, gsize len)
{
    SecretFrame *frame = g_malloc(sizeof(SecretFrame) + len);

    frame->len = len;
    memcpy(frame->data, data, len);
    return g_bytes_new_with_free_func(frame->data, len, secret_frame_free, frame);
}

static void
batch_push(VfsecWireBatch *batch, VfsecWireBuilder *b, guint32 seq, guint first_op)
{
    gsize len = 0;
    const guint8 *data = vfsec_wire_builder_finish(b, &len);
    VfsecWireBatchFrame frame = {
        .seq = seq,
        .first_op = first_op,
        .n_ops = vfsec_wire_builder_count(b),
        .frame = secret_bytes_new(data, len),
    };

    g_array_append_val(batch->frames, frame);
}

VfsecWireBatch *
vfsec_wire_batch_new(const VfsecWireTags *tags, const VfsecWireL2 *l2, guint32 first_seq,
                     const VfsecWireOp *ops, guint n_ops, GError **error)
{
    g_autoptr(VfsecWireBatch) batch = g_new0(VfsecWireBatch, 1);
    g_autoptr(VfsecWireBuilder) b = vfsec_wire_builder_new(tags, l2, VFSEC_WIRE_KIND_REQUEST, first_seq);
    guint32 seq = first_seq;
    guint first_op = 0;

    batch->first_seq = first_seq;
    batch->frames = g_array_new(FALSE, TRUE, sizeof(VfsecWireBatchFrame));
    g_array_set_clear_func(batch->frames, batch_frame_clear);

    for (guint i = 0; i < n_ops; i++) {
        VfsecWireAppend res = vfsec_wire_builder_append(b, &ops[i], error);

        if (res == VFSEC_WIRE_APPEND_FULL) {
            batch_push(batch, b, seq, first_op);
            vfsec_wire_builder_reset(b, ++seq);
            first_op = i;
            /* An empty frame takes any op that can fit at all: append
             * reports INVALID, not FULL, for one that never fits. */
            res = vfsec_wire_builder_append(b, &ops[i], error);
            if (res == VFSEC_WIRE_APPEND_FULL) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                            "batch op #%u does not fit an empty frame", i);
                return NULL;
            }
        }
        if (res != VFSEC_WIRE_APPEND_OK) {
            g_prefix_error(error, "batch op #%u: ", i);
            return NULL;
        }
    }
    if (vfsec_wire_builder_count(b) > 0)
        batch_push(batch, b, seq, first_op);
    return g_steal_pointer(&batch);
}

void
vfsec_wire_batch_free(VfsecWireBatch *batch)
{
    if (!batch)
        return;
    if (batch->frames)
        g_array_unref(batch->frames);
    g_free(batch);
}

const VfsecWireBatchFrame *
vfsec_wire_batch_find(const VfsecWireBatch *batch, guint32 seq)
{
    guint32 index = seq - batch->first_seq;  /* seqs wrap like the counter */

    if (index >= batch->frames->len)
        return NULL;
    return &g_array_index(batch->frames, VfsecWireBatchFrame, index);
}

const VfsecWireBatchFrame *
vfsec_wire_batch_match(const VfsecWireBatch *batch, const VfsecWireOp *ops,
                       const VfsecWireConfig *reply, GError **error)
{
    const VfsecWireBatchFrame *frame = vfsec_wire_batch_find(batch, reply->seq);

    if (!frame) {
        proto_fail(error, "reply seq %u answers none of the %u frames of the batch starting at seq %u",
                   reply->seq, batch->frames->len, batch->first_seq);
        return NULL;
    }
    if (!vfsec_wire_reply_check(ops + frame->first_op, frame->n_ops, frame->seq, reply, error))
        return NULL;
    return frame;
}

/* ---- Descriptions ---- */

static void
mac_entry_describe(GString *out, const VfsecWireMacEntry *entry)
{
    char mac[VFSEC_MAC_STRLEN];

    g_string_append(out, vfsec_mac_format(&entry->mac, mac));
    vlans_describe(out, entry->n_tags, entry->tags);
}

static void
request_describe(GString *out, const VfsecWireOp *op)
{
    switch ((VfsecWireOpcode)op->opcode) {
    case VFSEC_WIRE_OP_ADD_SA:
        sa_describe(out, &op->add_sa);
        break;
    case VFSEC_WIRE_OP_REMOVE_SA:
        if (op->remove_sa.by_key)
            sa_key_describe(out, &op->remove_sa.key);
        else
            g_string_append_printf(out, "index %u spi 0x%08x", op->remove_sa.sa_index, op->remove_sa.spi);
        break;
    case VFSEC_WIRE_OP_MAC_ADD:
    case VFSEC_WIRE_OP_MAC_REMOVE:
        mac_entry_describe(out, &op->mac);
        break;
    case VFSEC_WIRE_OP_MAC_REPLACE:
        g_string_append_printf(out, "generation %u, %u entries:", op->generation,
                               op->mac_entries ? op->mac_entries->len : 0);
        for (guint i = 0; op->mac_entries && i < op->mac_entries->len; i++) {
            g_string_append_c(out, ' ');
            mac_entry_describe(out, &g_array_index(op->mac_entries, VfsecWireMacEntry, i));
        }
        break;
    case VFSEC_WIRE_OP_REMOVE_ALL_SA:
    case VFSEC_WIRE_OP_QUERY:
    case VFSEC_WIRE_OP_LAST:
        break;
    }
}

static void
op_describe(GString *out, const VfsecWireOp *op, VfsecWireKind kind)
{
    const char *status = vfsec_wire_status_to_string(op->status);

    if (op->opcode == 0 || op->opcode >= VFSEC_WIRE_OP_LAST)
        g_string_append_printf(out, "opcode %u", op->opcode);
    else
        g_string_append(out, opcode_label(op->opcode));

    if (kind == VFSEC_WIRE_KIND_REPLY) {
        if (status)
            g_string_append_printf(out, ": %s", status);
        else
            g_string_append_printf(out, ": status %u", op->status);
        if (op->opcode == VFSEC_WIRE_OP_QUERY && op->status == VFSEC_WIRE_STATUS_OK)
            g_string_append_printf(out, " capacity %u sas %u macs %u generation %u",
                                   op->query.capacity, op->query.sa_count, op->query.mac_count,
                                   op->query.generation);
        else
            g_string_append_printf(out, " value %u", op->value);
        return;
    }
    if (op->status != VFSEC_WIRE_STATUS_OK) {
        g_string_append_printf(out, " [%s: %s]", status ? status : "?",
                               op->error ? op->error->message : "not decoded");
        return;
    }
    g_string_append_c(out, ' ');
    request_describe(out, op);
}

char *
vfsec_wire_op_describe(const VfsecWireOp *op, VfsecWireKind kind)
{
    GString *out = g_string_new(NULL);

    op_describe(out, op, kind);
    return g_string_free(out, FALSE);
}

char *
vfsec_wire_config_describe(const VfsecWireConfig *cfg)
{
    GString *out = g_string_new(NULL);
    char src[VFSEC_MAC_STRLEN];
    char dst[VFSEC_MAC_STRLEN];

    g_string_append_printf(out, "%s seq %u %s -> %s, %u ops",
                           cfg->kind == VFSEC_WIRE_KIND_REPLY ? "reply" : "request", cfg->seq,
                           vfsec_mac_format(&cfg->l2.src, src), vfsec_mac_format(&cfg->l2.dst, dst),
                           cfg->ops->len);
    for (guint i = 0; i < cfg->ops->len; i++) {
        g_string_append_printf(out, "\n  #%u ", i);
        op_describe(out, &g_array_index(cfg->ops, VfsecWireOp, i), cfg->kind);
    }
    return g_string_free(out, FALSE);
}
