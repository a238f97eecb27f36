/* vfsec-agent.c: the emulated inline IPsec agent of one NIC port, pure. */

/*
 * Theory of operation
 *
 * The agent sits between the embedded switch and the wire and implements
 * docs/wire-protocol.md. Frames from the switch (Tx) are classified by their
 * OUTERMOST tag and nothing else:
 *
 *   CONFIG           a request from the PF driver: decoded per op, every op
 *                    executed in order, one reply frame (from the agent's MAC
 *                    to the requester) back toward the switch. A frame whose
 *                    framing does not decode is counted and dropped, unread.
 *   METADATA_BYPASS  the 4-byte tag is stripped and the frame forwarded as
 *                    data; nothing inside is looked at (this is the untrusted
 *                    VF's port tag: its forged config/metadata stays payload).
 *   METADATA         Tx metadata: the SA is looked up by the extended key
 *                    (IP destination, ESP, the SPI the driver placed, the
 *                    frame's source MAC and VLAN tags after the metadata) and
 *                    the packet encrypted (TSO super-frames cut into mss-sized
 *                    segments first, the IV rule keeping IVs unique). No SA:
 *                    counted (tx_no_sa) and dropped: sending in clear what the
 *                    host asked to protect would be the unsafe choice.
 *   DATA             forwarded unchanged.
 *
 * Forwarding: with the hairpin on (the port turns it on in VEPA mode only), a
 * frame whose (destination MAC, VLAN tags) is in the local-MAC table turns
 * around toward the switch instead of going to the wire; a broadcast or
 * multicast frame goes to the wire AND turns around (so ARP works between
 * VMs on a VEPA port; the switch keeps it from its source). A turned frame is
 * already ESP when it was offloaded, and then passes the Rx path as if it had
 * come from the wire, so the receiving VF's inbound SA decrypts it: East-West
 * traffic is protected exactly like North-South.
 *
 * Rx (from the wire, or turned around): configuration and metadata tags are
 * never honoured there (counted and dropped: a remote peer must not configure
 * the agent or forge Rx metadata). ESP whose key (destination, ESP, SPI,
 * destination MAC, VLAN tags) matches an inbound SA is verified and
 * decrypted; it goes up with Rx metadata (OK with the plaintext, or
 * INTEGRITY_FAIL / REPLAY / MALFORMED with the packet as received). ESP
 * without an SA goes up unchanged with NO_SA metadata (sa_index 0xffffffff).
 * Anything else goes up unchanged and without metadata: a data path that
 * touched no byte has nothing to report.
 *
 * SA indexes are stable handles: never-used indexes are handed out first,
 * freed ones afterwards, oldest first, so a stale index rarely names a new SA
 * (and REMOVE_SA's SPI guard catches the rest). A retried request is executed
 * again; the ops answer it consistently (protocol section 3.4).
 */

#include "vfsec-agent.h"

#include <stdarg.h>
#include <string.h>

#include "vfsec-error.h"
#include "vfsec-esp.h"
#include "vfsec-sakeytab.h"

#define get16 vfsec_wire_get16
#define get32 vfsec_wire_get32
#define put16 vfsec_wire_put16
#define put32 vfsec_wire_put32

#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80
#define PLACED_LEN (VFSEC_ESP_HLEN + VFSEC_ESP_IV_LEN)
/* A super-frame cut into more segments than this is refused. */
#define TSO_MAX_SEGMENTS 1024
#define RX_NO_SA_INDEX G_MAXUINT32

typedef struct {
    guint32 index;
    VfsecWireSaKey key;    /* canonical */
    guint hash;            /* vfsec_wire_sa_key_hash(&key), for the key table */
    VfsecWireDir dir;
    VfsecWireAlg alg;
    guint32 replay_window;
    guint32 salt;          /* secret, like the key: zeroed on free */
    guint8 key_len;
    guint8 key_bytes[VFSEC_WIRE_KEY_MAX];
    VfsecEspSa *esp;       /* the key schedule; NULL until the first packet */
    guint64 packets;
    guint64 bytes;
    guint64 errors;
} AgentSa;

struct _VfsecAgent {
    VfsecAgentConfig cfg;
    GPtrArray *slots;       /* AgentSa* or NULL; the index is the SA index */
    /* Freed indexes (guint), oldest first from free_head on: an array, not a
     * GQueue, because a 10k-SA reclaim would allocate 10k list nodes. */
    GArray *free_slots;
    guint free_head;
    VfsecSaKeyTab *keys;    /* key -> index of every SA in slots */
    GPtrArray *spare;       /* AgentSa* wiped and free for reuse: a reclaim of
                             * thousands of SAs frees no memory, the next adds
                             * allocate none */
    GArray *macs;           /* VfsecWireMacEntry, canonical */
    guint32 generation;
    VfsecAgentTimes times;
    VfsecAgentTapFunc tap;
    gpointer tap_data;
    GDestroyNotify tap_destroy;
    VfsecAgentCounters counters;
};

static const char *const tap_names[VFSEC_AGENT_TAP_LAST] = {
    [VFSEC_AGENT_TAP_HAIRPIN] = "hairpin",
    [VFSEC_AGENT_TAP_UPLINK_TX] = "uplink-tx",
    [VFSEC_AGENT_TAP_UPLINK_RX] = "uplink-rx",
};

const char *
vfsec_agent_tap_point_to_string(VfsecAgentTapPoint point)
{
    return (guint)point < G_N_ELEMENTS(tap_names) ? tap_names[point] : NULL;
}

void
vfsec_agent_config_init(VfsecAgentConfig *cfg)
{
    static const VfsecMac agent_mac = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe } };

    memset(cfg, 0, sizeof(*cfg));
    vfsec_wire_tags_init(&cfg->tags);
    cfg->sad_capacity = VFSEC_AGENT_SAD_CAPACITY_DEFAULT;
    cfg->mac_capacity = VFSEC_AGENT_MAC_CAPACITY_DEFAULT;
    cfg->hairpin = TRUE;
    cfg->mac = agent_mac;
}

/* Wipes @sa (key material included) and keeps it for the next sad_add(). */
static void
agent_sa_release(VfsecAgent *agent, AgentSa *sa)
{
    vfsec_esp_sa_free(sa->esp);
    explicit_bzero(sa, sizeof(*sa));
    g_ptr_array_add(agent->spare, sa);
}

/* A zeroed AgentSa, from the spares if there is one. */
static AgentSa *
agent_sa_get(VfsecAgent *agent)
{
    if (agent->spare->len == 0)
        return g_new0(AgentSa, 1);
    return g_ptr_array_steal_index_fast(agent->spare, agent->spare->len - 1);
}

static const VfsecWireSaKey *
sad_key_at(guint32 index, gpointer data)
{
    VfsecAgent *agent = data;
    const AgentSa *sa = index < agent->slots->len ? g_ptr_array_index(agent->slots, index) : NULL;

    return sa ? &sa->key : NULL;
}

VfsecAgent *
vfsec_agent_new(const VfsecAgentConfig *cfg, GError **error)
{
    static const guint8 zero[6];
    VfsecAgent *agent;

    if (!vfsec_wire_tags_check(&cfg->tags, error))
        return NULL;
    if ((cfg->mac.b[0] & 1) || memcmp(cfg->mac.b, zero, 6) == 0) {
        g_set_error_literal(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "agent MAC is zero or multicast");
        return NULL;
    }
    agent = g_new0(VfsecAgent, 1);
    agent->cfg = *cfg;
    if (!agent->cfg.sad_capacity)
        agent->cfg.sad_capacity = VFSEC_AGENT_SAD_CAPACITY_DEFAULT;
    if (!agent->cfg.mac_capacity)
        agent->cfg.mac_capacity = VFSEC_AGENT_MAC_CAPACITY_DEFAULT;
    agent->slots = g_ptr_array_new();
    agent->free_slots = g_array_new(FALSE, FALSE, sizeof(guint));
    agent->keys = vfsec_sa_keytab_new(sad_key_at, agent);
    agent->spare = g_ptr_array_new_with_free_func(g_free);
    agent->macs = g_array_new(FALSE, TRUE, sizeof(VfsecWireMacEntry));
    return agent;
}

/* ---- SAD ---- */

/* The oldest freed index; only called at capacity, when one exists (the
 * SAD holds fewer SAs than slots). */
static guint
free_slot_pop(VfsecAgent *agent)
{
    guint index = g_array_index(agent->free_slots, guint, agent->free_head++);

    /* Drop the consumed prefix once it is half the array: amortised O(1). */
    if (agent->free_head == agent->free_slots->len) {
        g_array_set_size(agent->free_slots, 0);
        agent->free_head = 0;
    } else if (agent->free_head * 2 >= agent->free_slots->len) {
        g_array_remove_range(agent->free_slots, 0, agent->free_head);
        agent->free_head = 0;
    }
    return index;
}

static void
sad_remove(VfsecAgent *agent, AgentSa *sa)
{
    vfsec_sa_keytab_remove(agent->keys, sa->hash, sa->index);
    g_ptr_array_index(agent->slots, sa->index) = NULL;
    g_array_append_val(agent->free_slots, sa->index);
    agent_sa_release(agent, sa);
}

static guint
sad_remove_all(VfsecAgent *agent)
{
    guint n = 0;

    for (guint i = 0; i < agent->slots->len; i++) {
        AgentSa *sa = g_ptr_array_index(agent->slots, i);

        if (sa) {
            sad_remove(agent, sa);
            n++;
        }
    }
    return n;
}

void
vfsec_agent_free(VfsecAgent *agent)
{
    if (!agent)
        return;
    sad_remove_all(agent);
    g_ptr_array_unref(agent->slots);
    g_array_unref(agent->free_slots);
    vfsec_sa_keytab_free(agent->keys);
    g_ptr_array_unref(agent->spare);
    g_array_unref(agent->macs);
    if (agent->tap_destroy)
        agent->tap_destroy(agent->tap_data);
    g_free(agent);
}

static AgentSa *
sad_lookup(const VfsecAgent *agent, VfsecWireSaKey *key)
{
    guint32 index;

    vfsec_wire_sa_key_normalize(key);
    if (!vfsec_sa_keytab_lookup(agent->keys, key, vfsec_wire_sa_key_hash(key), &index))
        return NULL;
    return g_ptr_array_index(agent->slots, index);
}

static VfsecWireStatus
sad_add(VfsecAgent *agent, const VfsecWireAddSa *req, guint32 *value)
{
    VfsecWireSaKey key = req->key;
    AgentSa *old = sad_lookup(agent, &key);
    AgentSa *sa;

    if (old) {
        *value = old->index;
        return VFSEC_WIRE_STATUS_DUPLICATE_KEY;
    }
    if (vfsec_sa_keytab_size(agent->keys) >= agent->cfg.sad_capacity)
        return VFSEC_WIRE_STATUS_SAD_FULL;
    /* What vfsec_esp_sa_new() will refuse (the codec checked the rest). */
    if ((req->key_len != 16 && req->key_len != 32) ||
        (req->dir == VFSEC_WIRE_DIR_IN && req->replay_window > VFSEC_ESP_REPLAY_WINDOW_MAX)) {
        g_debug("agent: ADD_SA spi 0x%08x refused: key length %u / replay window %u unsupported",
                key.spi, req->key_len, req->replay_window);
        return VFSEC_WIRE_STATUS_UNSUPPORTED_ALG;
    }
    sa = agent_sa_get(agent);
    sa->key = key;
    sa->dir = req->dir;
    sa->alg = req->alg;
    sa->replay_window = req->dir == VFSEC_WIRE_DIR_IN ? req->replay_window : 0;
    sa->salt = req->salt;
    sa->key_len = req->key_len;
    memcpy(sa->key_bytes, req->key_bytes, req->key_len);
    if (agent->slots->len < agent->cfg.sad_capacity) {
        sa->index = agent->slots->len;
        g_ptr_array_add(agent->slots, sa);
    } else {
        sa->index = free_slot_pop(agent);
        g_ptr_array_index(agent->slots, sa->index) = sa;
    }
    sa->hash = vfsec_wire_sa_key_hash(&sa->key);
    vfsec_sa_keytab_insert(agent->keys, sa->hash, sa->index);
    *value = sa->index;
    return VFSEC_WIRE_STATUS_OK;
}

/* The SA's ESP context, made on first use: an SAD full of SAs that carry
 * no traffic (a reclaim benchmark) then costs no key schedules. */
static VfsecEspSa *
sa_esp(AgentSa *sa)
{
    g_autoptr(GError) error = NULL;

    if (sa->esp)
        return sa->esp;
    sa->esp = vfsec_esp_sa_new(sa->dir == VFSEC_WIRE_DIR_IN ? VFSEC_ESP_DIR_IN : VFSEC_ESP_DIR_OUT,
                               sa->key.spi, sa->salt, sa->key_bytes, sa->key_len,
                               sa->replay_window, &error);
    if (!sa->esp)
        g_warning("agent: SA %u has no usable ESP context: %s", sa->index, error->message);
    return sa->esp;
}

static VfsecWireStatus
sad_remove_op(VfsecAgent *agent, const VfsecWireRemoveSa *req)
{
    AgentSa *sa = NULL;

    if (req->by_key) {
        VfsecWireSaKey key = req->key;

        sa = sad_lookup(agent, &key);
    } else if (req->sa_index < agent->slots->len) {
        sa = g_ptr_array_index(agent->slots, req->sa_index);
        if (sa && sa->key.spi != req->spi)
            sa = NULL;  /* a stale index now naming another SA */
    }
    if (!sa)
        return VFSEC_WIRE_STATUS_NO_SUCH_SA;
    sad_remove(agent, sa);
    return VFSEC_WIRE_STATUS_OK;
}

/* ---- Local-MAC table ---- */

static gboolean
vlans_equal(guint n_a, const VfsecWireVlan *a, guint n_b, const VfsecWireVlan *b)
{
    if (n_a != n_b)
        return FALSE;
    for (guint i = 0; i < n_a; i++) {
        if (a[i].tpid != b[i].tpid || VFSEC_WIRE_TCI_VID(a[i].tci) != VFSEC_WIRE_TCI_VID(b[i].tci))
            return FALSE;
    }
    return TRUE;
}

static int
mac_find(const VfsecAgent *agent, const VfsecMac *mac, guint n_tags, const VfsecWireVlan *tags)
{
    for (guint i = 0; i < agent->macs->len; i++) {
        const VfsecWireMacEntry *e = &g_array_index(agent->macs, VfsecWireMacEntry, i);

        if (vfsec_mac_equal(&e->mac, mac) && vlans_equal(e->n_tags, e->tags, n_tags, tags))
            return (int)i;
    }
    return -1;
}

static int
mac_find_entry(const VfsecAgent *agent, const VfsecWireMacEntry *entry)
{
    return mac_find(agent, &entry->mac, entry->n_tags, entry->tags);
}

/* The entry as the table keeps it: PCP/DEI and unused tags cleared. */
static VfsecWireMacEntry
mac_canonical(const VfsecWireMacEntry *entry)
{
    VfsecWireMacEntry e;

    memset(&e, 0, sizeof(e));
    e.mac = entry->mac;
    e.n_tags = MIN(entry->n_tags, VFSEC_WIRE_MAX_TAGS);
    for (guint i = 0; i < e.n_tags; i++) {
        e.tags[i].tpid = entry->tags[i].tpid;
        e.tags[i].tci = VFSEC_WIRE_TCI_VID(entry->tags[i].tci);
    }
    return e;
}

gboolean
vfsec_agent_mac_is_local(const VfsecAgent *agent, const VfsecMac *mac, guint n_tags,
                         const VfsecWireVlan *tags)
{
    return n_tags <= VFSEC_WIRE_MAX_TAGS && mac_find(agent, mac, n_tags, tags) >= 0;
}

static VfsecWireStatus
mac_add(VfsecAgent *agent, const VfsecWireMacEntry *entry, guint32 *value)
{
    VfsecWireMacEntry e = mac_canonical(entry);

    if (mac_find_entry(agent, &e) < 0) {
        if (agent->macs->len >= agent->cfg.mac_capacity)
            return VFSEC_WIRE_STATUS_TABLE_FULL;
        g_array_append_val(agent->macs, e);
    }
    *value = agent->macs->len;
    return VFSEC_WIRE_STATUS_OK;
}

static VfsecWireStatus
mac_remove(VfsecAgent *agent, const VfsecWireMacEntry *entry, guint32 *value)
{
    int i = mac_find_entry(agent, entry);

    if (i < 0)
        return VFSEC_WIRE_STATUS_NO_SUCH_MAC;
    g_array_remove_index(agent->macs, (guint)i);
    *value = agent->macs->len;
    return VFSEC_WIRE_STATUS_OK;
}

static VfsecWireStatus
mac_replace(VfsecAgent *agent, guint32 generation, const GArray *entries, guint32 *value)
{
    g_autoptr(GArray) table = NULL;
    guint n = entries ? entries->len : 0;

    *value = agent->generation;
    if (generation <= agent->generation)
        return VFSEC_WIRE_STATUS_STALE_GENERATION;
    if (n > agent->cfg.mac_capacity)
        return VFSEC_WIRE_STATUS_TABLE_FULL;
    table = g_array_sized_new(FALSE, TRUE, sizeof(VfsecWireMacEntry), n);
    for (guint i = 0; i < n; i++) {
        VfsecWireMacEntry e = mac_canonical(&g_array_index(entries, VfsecWireMacEntry, i));

        for (guint j = 0; j < table->len; j++) {
            const VfsecWireMacEntry *t = &g_array_index(table, VfsecWireMacEntry, j);

            /* A table naming an endpoint twice is a confused sender. */
            if (vfsec_mac_equal(&t->mac, &e.mac) && vlans_equal(t->n_tags, t->tags, e.n_tags, e.tags))
                return VFSEC_WIRE_STATUS_MALFORMED;
        }
        g_array_append_val(table, e);
    }
    g_array_unref(agent->macs);
    agent->macs = g_steal_pointer(&table);
    agent->generation = generation;
    agent->times.macs_changed_us = g_get_monotonic_time();
    *value = generation;
    return VFSEC_WIRE_STATUS_OK;
}

/* ---- Configuration ---- */

void
vfsec_agent_query(const VfsecAgent *agent, VfsecWireQueryInfo *info)
{
    info->capacity = agent->cfg.sad_capacity;
    info->sa_count = vfsec_sa_keytab_size(agent->keys);
    info->mac_count = agent->macs->len;
    info->generation = agent->generation;
}

/* Executes request op @req and fills reply op @rep (prefilled with the
 * status decoding gave the request op); logs it when @log. */
static void
op_execute(VfsecAgent *agent, const VfsecWireOp *req, VfsecWireReplyOp *rep, gboolean log)
{
    g_autofree char *what = NULL;

    if (req->status == VFSEC_WIRE_STATUS_OK) {
        switch ((VfsecWireOpcode)req->opcode) {
        case VFSEC_WIRE_OP_ADD_SA:
            rep->status = (guint8)sad_add(agent, &req->add_sa, &rep->value);
            break;
        case VFSEC_WIRE_OP_REMOVE_SA:
            rep->status = (guint8)sad_remove_op(agent, &req->remove_sa);
            break;
        case VFSEC_WIRE_OP_REMOVE_ALL_SA:
            rep->value = sad_remove_all(agent);
            rep->status = VFSEC_WIRE_STATUS_OK;
            break;
        case VFSEC_WIRE_OP_MAC_ADD:
            rep->status = (guint8)mac_add(agent, &req->mac, &rep->value);
            break;
        case VFSEC_WIRE_OP_MAC_REMOVE:
            rep->status = (guint8)mac_remove(agent, &req->mac, &rep->value);
            break;
        case VFSEC_WIRE_OP_MAC_REPLACE:
            rep->status = (guint8)mac_replace(agent, req->generation, req->mac_entries, &rep->value);
            break;
        case VFSEC_WIRE_OP_QUERY:
            vfsec_agent_query(agent, &rep->query);
            rep->value = rep->query.capacity;
            rep->status = VFSEC_WIRE_STATUS_OK;
            break;
        case VFSEC_WIRE_OP_LAST:
        default:
            rep->status = VFSEC_WIRE_STATUS_UNSUPPORTED_OP;
            break;
        }
    }
    if (rep->status == VFSEC_WIRE_STATUS_OK)
        agent->counters.cfg_ok++;
    else
        agent->counters.cfg_op_failed++;
    /* Describing costs more than executing: only when someone listens. The
     * describer never prints key bytes or salt. */
    if (!log)
        return;
    what = vfsec_wire_op_describe(req, VFSEC_WIRE_KIND_REQUEST);
    g_debug("agent: %s -> %s value %u", what, vfsec_wire_status_to_string(rep->status), rep->value);
}

/* The SA a REMOVE_SA-by-index op of a frame will remove, or NULL. */
static const AgentSa *
sad_prefetch_target(VfsecAgent *agent, const VfsecWireOp *op)
{
    if (op->opcode != VFSEC_WIRE_OP_REMOVE_SA || op->remove_sa.by_key ||
        op->remove_sa.sa_index >= agent->slots->len)
        return NULL;
    return g_ptr_array_index(agent->slots, op->remove_sa.sa_index);
}

/* Loads what the REMOVE_SA-by-index ops of a frame will touch before the
 * first executes: each SA record (scattered on the heap), then its key-table
 * bucket (scattered by hash). One pass per level lets the cache misses of
 * up to 124 removals overlap. A hint only: nothing is changed. */
static void
sad_prefetch(VfsecAgent *agent, const GArray *ops)
{
    for (guint i = 0; i < ops->len; i++) {
        const char *sa = (const char *)sad_prefetch_target(agent,
                                                           &g_array_index(ops, VfsecWireOp, i));

        /* The whole record: removal reads its ESP context and wipes it. */
        for (gsize off = 0; sa && off < sizeof(AgentSa); off += 64)
            __builtin_prefetch(sa + off, 1);
    }
    for (guint i = 0; i < ops->len; i++) {
        const AgentSa *sa = sad_prefetch_target(agent, &g_array_index(ops, VfsecWireOp, i));

        if (sa)
            vfsec_sa_keytab_prefetch(agent->keys, sa->hash);
    }
}

static void
config_handle(VfsecAgent *agent, const guint8 *frame, gsize len, int src_fn, GArray *out)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecWireConfig) req = NULL;
    g_autoptr(VfsecWireBuilder) reply = NULL;
    VfsecWireL2 l2;
    const guint8 *buf;
    gsize n = 0;
    gboolean log;
    guint sas_before;

    agent->counters.cfg_frames++;
    req = vfsec_wire_config_decode(&agent->cfg.tags, frame, len, VFSEC_WIRE_DECODE_PER_OP, &error);
    if (!req) {
        agent->counters.cfg_rejected++;
        g_debug("agent: configuration frame dropped: %s", error->message);
        return;
    }
    if (req->kind != VFSEC_WIRE_KIND_REQUEST) {
        agent->counters.cfg_rejected++;
        g_debug("agent: configuration reply seq %u from the host dropped", req->seq);
        return;
    }
    /* The reply is written op by op as the ops execute: no reply VfsecWireOp
     * array (a reclaim frame has 124 ops). */
    l2.dst = req->l2.src;
    l2.src = agent->cfg.mac;
    l2.tpid = req->l2.tpid;
    l2.pcp = req->l2.pcp;
    reply = vfsec_wire_builder_new(&agent->cfg.tags, &l2, VFSEC_WIRE_KIND_REPLY, req->seq);
    /* Asked once per frame: the answer reads the environment, and a frame
     * holds up to 124 ops. */
    log = !g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
    sas_before = vfsec_sa_keytab_size(agent->keys);
    sad_prefetch(agent, req->ops);
    for (guint i = 0; i < req->ops->len; i++) {
        const VfsecWireOp *op = &g_array_index(req->ops, VfsecWireOp, i);
        VfsecWireReplyOp rep = { .opcode = op->opcode, .status = (guint8)op->status };

        op_execute(agent, op, &rep, log);
        /* The decoder refuses requests whose reply would not fit one frame. */
        if (vfsec_wire_builder_append_reply(reply, &rep) != VFSEC_WIRE_APPEND_OK) {
            agent->counters.cfg_rejected++;
            g_warning("agent: reply to seq %u does not fit one frame at op #%u", req->seq, i);
            return;
        }
    }
    /* Once per frame, not per op: 124 clock reads would show in a reclaim. */
    if (vfsec_sa_keytab_size(agent->keys) < sas_before)
        agent->times.sa_removed_us = g_get_monotonic_time();
    buf = vfsec_wire_builder_finish(reply, &n);
    vfsec_frame_list_push(out, VFSEC_EGRESS_SWITCH, src_fn, VFSEC_FRAME_REPLY, buf, n);
}

/* ---- Packets ---- */

static void
tap(VfsecAgent *agent, VfsecAgentTapPoint point, const GByteArray *frame)
{
    if (agent->tap)
        agent->tap(point, frame->data, frame->len, agent->tap_data);
}

/* Fills @key from the IP packet peeked at and the frame's L2 endpoint. */
static void
key_from_packet(VfsecWireSaKey *key, const VfsecEspPeek *peek, const VfsecMac *mac,
                const VfsecFrameL2 *l2)
{
    memset(key, 0, sizeof(*key));
    key->family = peek->family;
    key->proto = VFSEC_WIRE_PROTO_ESP;
    key->spi = peek->spi;
    memcpy(key->dst, peek->dst, sizeof(key->dst));
    key->mac = *mac;
    key->n_tags = (guint8)l2->n_vlans;
    memcpy(key->tags, l2->vlans, sizeof(key->tags));
}

/* Parses @frame down to its IP header; TRUE when it carries an ESP packet. */
static gboolean
frame_esp(const guint8 *frame, gsize len, VfsecFrameL2 *l2, VfsecEspPeek *peek)
{
    if (!vfsec_frame_l2_parse(frame, len, l2) || !l2->l3_offset)
        return FALSE;
    if (!vfsec_esp_peek(frame + l2->l3_offset, len - l2->l3_offset, peek, NULL))
        return FALSE;
    return peek->proto == VFSEC_WIRE_PROTO_ESP;
}

static void
rx_push(VfsecAgent *agent, GByteArray *frame, const VfsecWireMetadata *md, guint flags, int fn,
        GArray *out)
{
    g_autoptr(GError) error = NULL;

    if (md && !vfsec_wire_metadata_insert(&agent->cfg.tags, md, frame, &error)) {
        g_warning("agent: Rx metadata not insertable: %s", error->message);
        g_byte_array_unref(frame);
        return;
    }
    vfsec_frame_list_take(out, VFSEC_EGRESS_SWITCH, fn, flags, frame);
}

/* The Rx path for @frame (owned): from the wire, or turned around by the
 * hairpin (@flags VFSEC_FRAME_HAIRPIN, @fn its source). */
static void
rx_process(VfsecAgent *agent, GByteArray *frame, guint flags, int fn, GArray *out)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) plain = NULL;
    VfsecWireMetadata md = { .offload = TRUE, .type = VFSEC_WIRE_MD_RX };
    VfsecWireClass klass = vfsec_wire_classify(&agent->cfg.tags, frame->data, frame->len, NULL);
    VfsecFrameL2 l2;
    VfsecEspPeek peek;
    VfsecEspInfo info = { 0 };
    VfsecWireSaKey key;
    AgentSa *sa;

    if (klass == VFSEC_WIRE_CLASS_CONFIG && !(flags & VFSEC_FRAME_HAIRPIN)) {
        agent->counters.cfg_from_uplink++;
        g_debug("agent: configuration frame from the wire dropped");
        g_byte_array_unref(frame);
        return;
    }
    if (klass != VFSEC_WIRE_CLASS_DATA) {
        agent->counters.rx_malformed++;
        g_debug("agent: Rx frame with a reserved or truncated outer tag (%s) dropped",
                vfsec_wire_class_to_string(klass));
        g_byte_array_unref(frame);
        return;
    }
    if (!frame_esp(frame->data, frame->len, &l2, &peek)) {
        rx_push(agent, frame, NULL, flags, fn, out);
        return;
    }

    key_from_packet(&key, &peek, &l2.dst, &l2);
    sa = sad_lookup(agent, &key);
    md.seq = peek.seq;
    md.sa_index = RX_NO_SA_INDEX;
    md.next_header = VFSEC_WIRE_PROTO_ESP;
    if (!sa || sa->dir != VFSEC_WIRE_DIR_IN) {
        agent->counters.no_sa++;
        md.status = VFSEC_WIRE_RX_NO_SA;
        rx_push(agent, frame, &md, flags, fn, out);
        return;
    }

    md.sa_index = sa->index;
    if (!sa_esp(sa)) {
        agent->counters.rx_malformed++;
        md.status = VFSEC_WIRE_RX_MALFORMED;
        rx_push(agent, frame, &md, flags, fn, out);
        return;
    }
    plain = g_byte_array_new();
    switch (vfsec_esp_decrypt(sa->esp, frame->data + l2.l3_offset, frame->len - l2.l3_offset,
                              plain, &info, &error)) {
    case VFSEC_ESP_OK:
        agent->counters.decrypted_rx++;
        sa->packets++;
        sa->bytes += plain->len;
        md.status = VFSEC_WIRE_RX_OK;
        md.next_header = info.next_header;
        g_byte_array_set_size(frame, (guint)l2.l3_offset);
        g_byte_array_append(frame, plain->data, plain->len);
        explicit_bzero(plain->data, plain->len);
        rx_push(agent, frame, &md, flags, fn, out);
        return;
    case VFSEC_ESP_INTEGRITY_FAIL:
        agent->counters.integrity_fail++;
        md.status = VFSEC_WIRE_RX_INTEGRITY_FAIL;
        break;
    case VFSEC_ESP_REPLAY:
        agent->counters.replay++;
        md.status = VFSEC_WIRE_RX_REPLAY;
        break;
    case VFSEC_ESP_MALFORMED:
    case VFSEC_ESP_EXHAUSTED:
    case VFSEC_ESP_RESULT_LAST:
    default:
        agent->counters.rx_malformed++;
        md.status = VFSEC_WIRE_RX_MALFORMED;
        break;
    }
    sa->errors++;
    g_debug("agent: Rx SA %u: %s", sa->index, error ? error->message : "failed");
    rx_push(agent, frame, &md, flags, fn, out);
}

/* Sends a processed Tx frame (owned) on: to the wire, turned around, or both. */
static void
forward(VfsecAgent *agent, GByteArray *frame, int src_fn, GArray *out)
{
    VfsecFrameL2 l2;
    VfsecEspPeek peek;
    gboolean group = vfsec_frame_is_group(frame->data, frame->len);
    gboolean parsed = vfsec_frame_l2_parse(frame->data, frame->len, &l2);
    gboolean hairpin = agent->cfg.hairpin && parsed &&
                       (group || vfsec_agent_mac_is_local(agent, &l2.dst, l2.n_vlans, l2.vlans));

    if (!hairpin || group) {
        agent->counters.uplink_tx++;
        tap(agent, VFSEC_AGENT_TAP_UPLINK_TX, frame);
        if (!hairpin) {
            vfsec_frame_list_take(out, VFSEC_EGRESS_UPLINK, src_fn, 0, frame);
            return;
        }
        vfsec_frame_list_push(out, VFSEC_EGRESS_UPLINK, src_fn, 0, frame->data, frame->len);
    }
    agent->counters.hairpinned++;
    if (frame_esp(frame->data, frame->len, &l2, &peek))
        agent->counters.hairpinned_esp++;
    tap(agent, VFSEC_AGENT_TAP_HAIRPIN, frame);
    rx_process(agent, frame, VFSEC_FRAME_HAIRPIN, src_fn, out);
}

/* ---- TSO ---- */

static guint32
csum_add(guint32 sum, const guint8 *p, gsize len)
{
    for (gsize i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (guint32)p[len - 1] << 8;
    return sum;
}

static guint16
csum_fold(guint32 sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

/* The TCP/UDP checksum of the L4 segment @l4 under the IP header @ip. */
static guint16
l4_checksum(const VfsecEspPeek *ip, guint8 proto, const guint8 *l4, gsize len)
{
    gsize alen = ip->family == 4 ? 4 : 16;
    guint8 tail[8] = { 0 };
    guint32 sum = 0;

    sum = csum_add(sum, ip->src, alen);
    sum = csum_add(sum, ip->dst, alen);
    put32(tail, (guint32)len);
    tail[7] = proto;
    sum = csum_add(sum, tail, sizeof(tail));
    return csum_fold(csum_add(sum, l4, len));
}

/* Cuts the placed IP packet @pkt (@hlen header bytes, then the 16 placed
 * bytes, then the L4 payload) into packets of at most @mss payload bytes,
 * as a TSO/USO engine does: TCP and UDP headers are repeated with sequence
 * numbers, lengths and checksums fixed; other protocols are cut as bytes.
 * Returns NULL when the packet needs no cutting, or cannot be cut. */
static GPtrArray *
tso_segment(const guint8 *pkt, gsize total, gsize hlen, guint8 proto, guint16 mss,
            const VfsecEspPeek *ip, gboolean *refused)
{
    const guint8 *l4 = pkt + hlen + PLACED_LEN;
    gsize l4_len = total - hlen - PLACED_LEN;
    gsize l4h = 0;
    gsize data_len;
    guint n;
    GPtrArray *segs;

    *refused = FALSE;
    if (proto == PROTO_TCP && l4_len >= 20 && (gsize)(l4[12] >> 4) * 4 >= 20 &&
        (gsize)(l4[12] >> 4) * 4 <= l4_len)
        l4h = (gsize)(l4[12] >> 4) * 4;
    else if (proto == PROTO_UDP && l4_len >= 8)
        l4h = 8;
    data_len = l4_len - l4h;
    if (data_len <= mss)
        return NULL;
    n = (guint)((data_len + mss - 1) / mss);
    if (n > TSO_MAX_SEGMENTS) {
        *refused = TRUE;
        return NULL;
    }

    segs = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
    for (guint i = 0; i < n; i++) {
        gsize off = (gsize)i * mss;
        gsize chunk = MIN((gsize)mss, data_len - off);
        gsize seg_total = hlen + PLACED_LEN + l4h + chunk;
        GByteArray *seg = g_byte_array_sized_new((guint)seg_total);
        guint8 *s4;

        g_byte_array_append(seg, pkt, (guint)(hlen + PLACED_LEN + l4h));
        g_byte_array_append(seg, l4 + l4h + off, (guint)chunk);
        if (ip->family == 4) {
            put16(seg->data + 2, (guint16)seg_total);
            put16(seg->data + 4, (guint16)(get16(pkt + 4) + i));  /* IP ID per segment */
        } else {
            put16(seg->data + 4, (guint16)(seg_total - hlen));
        }
        s4 = seg->data + hlen + PLACED_LEN;
        if (proto == PROTO_TCP && l4h) {
            guint8 flags = l4[13];

            put32(s4 + 4, get32(l4 + 4) + (guint32)off);
            if (i + 1 < n)
                flags &= (guint8)~(TCP_FLAG_FIN | TCP_FLAG_PSH);
            if (i > 0)
                flags &= (guint8)~TCP_FLAG_CWR;
            s4[13] = flags;
            put16(s4 + 16, 0);
            put16(s4 + 16, l4_checksum(ip, proto, s4, l4h + chunk));
        } else if (proto == PROTO_UDP && l4h) {
            put16(s4 + 4, (guint16)(l4h + chunk));
            if (ip->family == 6 || get16(l4 + 6) != 0) {
                guint16 c;

                put16(s4 + 6, 0);
                c = l4_checksum(ip, proto, s4, l4h + chunk);
                put16(s4 + 6, c ? c : 0xffff);
            }
        }
        g_ptr_array_add(segs, seg);
    }
    return segs;
}

/* ---- Tx ---- */

/* Encrypts one placed IP packet and forwards the frame (L2 header @hdr). */
static void
tx_encrypt(VfsecAgent *agent, AgentSa *sa, const guint8 *hdr, gsize hdr_len, const guint8 *pkt,
           gsize pkt_len, gsize hlen, guint8 next_header, int src_fn, GArray *out)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) esp = g_byte_array_new();
    GByteArray *frame;

    if (!sa_esp(sa)) {
        agent->counters.tx_error++;
        return;
    }
    switch (vfsec_esp_encrypt_placed(sa->esp, pkt, pkt_len, hlen, next_header, esp, NULL, &error)) {
    case VFSEC_ESP_OK:
        break;
    case VFSEC_ESP_EXHAUSTED:
        agent->counters.tx_error++;
        sa->errors++;
        g_debug("agent: Tx SA %u: %s", sa->index, error->message);
        return;
    default:
        agent->counters.tx_malformed++;
        sa->errors++;
        g_debug("agent: Tx SA %u: %s", sa->index, error ? error->message : "failed");
        return;
    }
    agent->counters.offloaded_tx++;
    sa->packets++;
    sa->bytes += pkt_len;
    frame = g_byte_array_sized_new((guint)(hdr_len + esp->len));
    g_byte_array_append(frame, hdr, (guint)hdr_len);
    g_byte_array_append(frame, esp->data, esp->len);
    forward(agent, frame, src_fn, out);
}

/* Fails with a debug line naming why a Tx metadata frame is dropped. */
static void G_GNUC_PRINTF(2, 3)
tx_drop(VfsecAgent *agent, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    agent->counters.tx_malformed++;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_debug("agent: Tx metadata frame dropped: %s", msg);
}

static void
tx_offload(VfsecAgent *agent, const guint8 *frame, gsize len, int src_fn, GArray *out)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) orig = NULL;
    g_autoptr(GPtrArray) segs = NULL;
    VfsecWireMetadata md;
    VfsecFrameL2 l2;
    VfsecEspPeek peek;
    VfsecWireSaKey key;
    gsize strip = 0;
    gsize l3;
    gboolean refused;
    AgentSa *sa;

    if (!vfsec_wire_metadata_decode(&agent->cfg.tags, frame, len, &md, &strip, &error)) {
        tx_drop(agent, "%s", error->message);
        return;
    }
    if (md.type != VFSEC_WIRE_MD_TX) {
        tx_drop(agent, "Rx metadata from the host side");
        return;
    }
    orig = g_byte_array_sized_new((guint)(len - strip));
    g_byte_array_append(orig, frame, VFSEC_WIRE_TAG_OFFSET);
    g_byte_array_append(orig, frame + VFSEC_WIRE_TAG_OFFSET + strip,
                        (guint)(len - VFSEC_WIRE_TAG_OFFSET - strip));

    l3 = VFSEC_WIRE_TAG_OFFSET + md.l3_offset;
    if (!frame_esp(orig->data, orig->len, &l2, &peek) || l2.l3_offset != l3) {
        tx_drop(agent, "l3_offset %u is not an IP packet with an ESP header", md.l3_offset);
        return;
    }
    if ((gsize)VFSEC_WIRE_TAG_OFFSET + md.esp_offset != l3 + peek.esp_offset) {
        tx_drop(agent, "esp_offset %u is not right after the IP header", md.esp_offset);
        return;
    }
    key_from_packet(&key, &peek, &l2.src, &l2);
    sa = sad_lookup(agent, &key);
    if (!sa || sa->dir != VFSEC_WIRE_DIR_OUT) {
        g_autofree char *what = vfsec_wire_sa_key_describe(&key);

        agent->counters.tx_no_sa++;
        g_debug("agent: Tx metadata for %s without an outbound SA dropped", what);
        return;
    }

    if (md.flags & VFSEC_WIRE_MD_FLAG_TSO) {
        gsize total = peek.family == 4 ? get16(orig->data + l3 + 2)
                                       : 40 + (gsize)get16(orig->data + l3 + 4);

        if (total < peek.esp_offset + PLACED_LEN || total > orig->len - l3) {
            tx_drop(agent, "TSO packet length %zu does not fit the frame", total);
            return;
        }
        segs = tso_segment(orig->data + l3, total, peek.esp_offset, md.next_header, md.mss, &peek,
                           &refused);
        if (refused) {
            tx_drop(agent, "TSO super-frame needs more than %d segments of %u bytes",
                    TSO_MAX_SEGMENTS, md.mss);
            return;
        }
    }
    if (!segs) {
        tx_encrypt(agent, sa, orig->data, l3, orig->data + l3, orig->len - l3, peek.esp_offset,
                   md.next_header, src_fn, out);
        return;
    }
    agent->counters.tso_segments += segs->len;
    for (guint i = 0; i < segs->len; i++) {
        GByteArray *seg = g_ptr_array_index(segs, i);

        tx_encrypt(agent, sa, orig->data, l3, seg->data, seg->len, peek.esp_offset,
                   md.next_header, src_fn, out);
    }
}

void
vfsec_agent_from_switch(VfsecAgent *agent, const guint8 *frame, gsize len, int src_fn,
                        GArray *out)
{
    GByteArray *copy;

    switch (vfsec_wire_classify(&agent->cfg.tags, frame, len, NULL)) {
    case VFSEC_WIRE_CLASS_CONFIG:
        config_handle(agent, frame, len, src_fn, out);
        return;
    case VFSEC_WIRE_CLASS_METADATA:
        tx_offload(agent, frame, len, src_fn, out);
        return;
    case VFSEC_WIRE_CLASS_METADATA_BYPASS:
        /* Strip exactly the tag; what follows is payload, whatever it says. */
        agent->counters.bypassed++;
        copy = g_byte_array_sized_new((guint)(len - VFSEC_WIRE_TAG_LEN));
        g_byte_array_append(copy, frame, VFSEC_WIRE_TAG_OFFSET);
        g_byte_array_append(copy, frame + VFSEC_WIRE_TAG_OFFSET + VFSEC_WIRE_TAG_LEN,
                            (guint)(len - VFSEC_WIRE_TAG_OFFSET - VFSEC_WIRE_TAG_LEN));
        forward(agent, copy, src_fn, out);
        return;
    case VFSEC_WIRE_CLASS_DATA:
        copy = g_byte_array_sized_new((guint)len);
        g_byte_array_append(copy, frame, (guint)len);
        forward(agent, copy, src_fn, out);
        return;
    case VFSEC_WIRE_CLASS_MALFORMED:
    case VFSEC_WIRE_CLASS_LAST:
    default:
        agent->counters.tx_malformed++;
        return;
    }
}

void
vfsec_agent_from_uplink(VfsecAgent *agent, const guint8 *frame, gsize len, GArray *out)
{
    GByteArray *copy = g_byte_array_sized_new((guint)len);

    g_byte_array_append(copy, frame, (guint)len);
    agent->counters.uplink_rx++;
    tap(agent, VFSEC_AGENT_TAP_UPLINK_RX, copy);
    rx_process(agent, copy, 0, VFSEC_FN_NONE, out);
}

/* ---- State ---- */

const VfsecWireTags *
vfsec_agent_tags(const VfsecAgent *agent)
{
    return &agent->cfg.tags;
}

const VfsecMac *
vfsec_agent_mac(const VfsecAgent *agent)
{
    return &agent->cfg.mac;
}

void
vfsec_agent_set_hairpin(VfsecAgent *agent, gboolean hairpin)
{
    agent->cfg.hairpin = hairpin;
}

gboolean
vfsec_agent_get_hairpin(const VfsecAgent *agent)
{
    return agent->cfg.hairpin;
}

void
vfsec_agent_set_tap(VfsecAgent *agent, VfsecAgentTapFunc func, gpointer user_data,
                    GDestroyNotify destroy)
{
    if (agent->tap_destroy)
        agent->tap_destroy(agent->tap_data);
    agent->tap = func;
    agent->tap_data = user_data;
    agent->tap_destroy = destroy;
}

void
vfsec_agent_reset(VfsecAgent *agent)
{
    guint n = sad_remove_all(agent);

    g_array_set_size(agent->macs, 0);
    agent->generation = 0;
    agent->counters.resets++;
    if (n > 0)
        agent->times.sa_removed_us = g_get_monotonic_time();
    g_debug("agent: reset, %u SAs forgotten", n);
}

GArray *
vfsec_agent_sad_dump(const VfsecAgent *agent)
{
    GArray *dump = g_array_new(FALSE, TRUE, sizeof(VfsecAgentSaInfo));

    for (guint i = 0; i < agent->slots->len; i++) {
        const AgentSa *sa = g_ptr_array_index(agent->slots, i);
        VfsecAgentSaInfo info;

        if (!sa)
            continue;
        memset(&info, 0, sizeof(info));
        info.index = sa->index;
        info.key = sa->key;
        info.dir = sa->dir;
        info.alg = sa->alg;
        info.replay_window = sa->replay_window;
        info.seq = sa->esp ? vfsec_esp_sa_seq(sa->esp) : 0;
        info.packets = sa->packets;
        info.bytes = sa->bytes;
        info.errors = sa->errors;
        g_array_append_val(dump, info);
    }
    return dump;
}

guint
vfsec_agent_sa_count(const VfsecAgent *agent)
{
    return vfsec_sa_keytab_size(agent->keys);
}

const VfsecAgentTimes *
vfsec_agent_times(const VfsecAgent *agent)
{
    return &agent->times;
}

const GArray *
vfsec_agent_mac_table(const VfsecAgent *agent, guint32 *generation)
{
    if (generation)
        *generation = agent->generation;
    return agent->macs;
}

const VfsecAgentCounters *
vfsec_agent_counters(const VfsecAgent *agent)
{
    return &agent->counters;
}

#define FIELD(name) { #name, G_STRUCT_OFFSET(VfsecAgentCounters, name) }
static const VfsecCounterField agent_fields[] = {
    FIELD(cfg_frames), FIELD(cfg_ok), FIELD(cfg_op_failed), FIELD(cfg_rejected),
    FIELD(cfg_from_uplink), FIELD(bypassed), FIELD(offloaded_tx), FIELD(tx_no_sa),
    FIELD(tx_malformed), FIELD(tso_segments), FIELD(tx_error), FIELD(uplink_tx),
    FIELD(uplink_rx), FIELD(decrypted_rx), FIELD(integrity_fail), FIELD(replay), FIELD(no_sa),
    FIELD(rx_malformed), FIELD(hairpinned), FIELD(hairpinned_esp), FIELD(resets),
};
#undef FIELD

void
vfsec_agent_counters_foreach(const VfsecAgent *agent, VfsecCounterFunc func, gpointer user_data)
{
    vfsec_counters_emit("agent.", agent_fields, G_N_ELEMENTS(agent_fields), &agent->counters,
                        func, user_data);
}
