/* vfsec-pfdrv.c: the NIC emulator's PF driver: SA database, mailbox, batched
 * reclaim, retries and fault injection on the agent-reply path. */
#include "vfsec-pfdrv.h"

#include <string.h>

#include "vfsec-error.h"
#include "vfsec-sakeytab.h"

/*
 * Theory of operation
 *
 * Operations. Every public call becomes an Op owned by its GTask (task data)
 * and queued in arrival order. The scheduler starts an Op when no earlier Op
 * with the same scheduling key (its SAD domain; MAC_REPLACE and QUERY share a
 * key of their own) is queued or running, so one VF's operations run in order
 * while other VFs proceed in parallel. REMOVE_ALL_SA is a barrier: it starts
 * only at the head of the queue and nothing after it starts before it ends.
 *
 * Requests. An Op's frames are built with the wire builder only when the
 * Op may put another one in flight, so an Op holds the frames in flight and
 * nothing more. Each frame gets its own seq and becomes a Request carrying
 * the wire ops ("items") it holds, which its reply is checked against. Most
 * Ops have one item and one frame; a reclaim keeps up to config.pipeline
 * frames in flight and fills each one (one op per frame in that mode) with
 * the next SAs of its domain in sa_index order after a cursor, the last index
 * it sent. A REMOVE_SA item remembers the slot and its generation, so an SA
 * that went away meanwhile (a stale record replaced by another domain's
 * ADD_SA) is not touched by the answer. A Request in flight sits
 * in the pending table under its seq and
 * is resent unchanged, under the same seq, every retry_ms until answered or
 * until the Op's deadline, which runs from the call, queueing included. The
 * agent either answers a resent seq from a reply cache or executes it again;
 * for the second, docs/wire-protocol.md (3.4) makes repeated ops answer
 * consistently, and a resent request takes those answers as success:
 * ADD_SA -> DUPLICATE_KEY (with the index), REMOVE_SA -> NO_SUCH_SA,
 * MAC_REPLACE -> STALE_GENERATION equal to the generation it asked for.
 *
 * Replies. vfsec_pfdrv_receive_frame() decodes a frame and looks its seq up.
 * Frames that do not decode, or whose seq no Request waits for (a late or
 * duplicated reply), are counted and ignored; so is a reply that does not
 * answer its request op for op. A reply that matches passes the fault stage
 * (drop, delay, duplicate, corrupt: scope of its Op's domain first, else the
 * port's), then the gate stage (kept while its domain's or the port's gate is
 * held), and is then decoded and matched again, since a delayed, held or
 * corrupted copy may no longer match anything. REMOVE_SA answered NO_SUCH_SA
 * on a first try counts as removed too: the record was stale (counted), and
 * the SA is gone either way.
 *
 * Re-entrancy. The send callback may feed the reply back synchronously, and
 * completing an Op would run user callbacks in the middle of the scheduler.
 * So every entry point runs inside enter()/leave(): frames received inside
 * are queued and handled by the outermost leave(), and finished Ops are
 * answered from an idle source, never from inside the driver.
 *
 * The database. The agent's SA indexes are dense (it hands out the lowest
 * free slot below its capacity), so records live in a flat array indexed by
 * sa_index, grown on demand up to the agent's capacity (from the last QUERY
 * answered, else VFSEC_PFDRV_MAX_SAS); an ADD_SA answered with an index
 * beyond that fails as a protocol error instead of growing the array. A key
 * table (vfsec-sakeytab.h) finds a record by key; removing one rehashes
 * nothing and compares no key.
 * Each domain keeps its count and bounds on its indexes, so a domain's SAs
 * in index order are a scan of [lo, hi] and a reclaim scans it once, in
 * cursor order. Removal is O(1): no tree, no per-SA allocation or free.
 *
 * Secrets. ADD_SA key material lives in the Op's item and in the frame bytes
 * only until the reply is in; both are zeroed when freed.
 */

/* The scheduling key of MAC_REPLACE and QUERY: they touch no SAD domain. */
#define SCHED_PORT_OPS VFSEC_PFDRV_PORT

typedef enum {
    OP_ADD_SA,
    OP_REMOVE_SA,
    OP_RECLAIM,
    OP_RECLAIM_PORT,
    OP_MAC_REPLACE,
    OP_QUERY,
} OpKind;

static const char *const op_kind_names[] = {
    [OP_ADD_SA] = "ADD_SA",
    [OP_REMOVE_SA] = "REMOVE_SA",
    [OP_RECLAIM] = "reclaim",
    [OP_RECLAIM_PORT] = "REMOVE_ALL_SA",
    [OP_MAC_REPLACE] = "MAC_REPLACE",
    [OP_QUERY] = "QUERY",
};
G_STATIC_ASSERT(G_N_ELEMENTS(op_kind_names) == OP_QUERY + 1);

typedef struct _Op Op;

/* The SA a REMOVE_SA item removes: its slot, as long as the slot's
 * generation has not moved on. */
typedef struct {
    guint32 sa_index;
    guint32 gen;
} Target;

typedef struct {
    Op *op;
    guint32 seq;
    guint8 *frame;        /* may hold key material: zeroed when freed */
    gsize len;
    guint8 opcode;        /* of every op the frame carries */
    guint n_items;
    Target *targets;      /* REMOVE_SA: n_items, else NULL */
    guint tries;
    GSource *retry;
} Request;

/* A slot of the database: the record of the SA with that sa_index. */
typedef struct {
    VfsecPfdrvSa sa;
    guint hash;           /* vfsec_wire_sa_key_hash() of sa.key */
    guint32 gen;          /* bumped whenever the slot is filled */
    gboolean used;
} Slot;

/* One SAD domain's share of the database. Its SAs' indexes are all in
 * [lo, hi] (bounds, not tight after removals); reset when it empties. */
typedef struct {
    guint count;
    guint32 lo;
    guint32 hi;
} Domain;

struct _Op {
    VfsecPfdrv *pfdrv;    /* NULL once the driver is gone */
    OpKind kind;
    guint domain;         /* SAD domain, also the fault scope of its replies */
    guint sched;          /* scheduling key */
    gboolean barrier;
    gboolean started;
    GTask *task;          /* owns this Op (task data) */
    guint timeout_ms;
    GSource *deadline;
    GSource *cancel;
    GArray *items;        /* VfsecWireOp of a one-op Op (a reclaim builds its own) */
    GArray *keys;         /* REMOVE_SA: the VfsecWireSaKey it removes */
    Target target;        /* REMOVE_SA: the record it found for the key */
    VfsecWireBuilder *builder;
    GPtrArray *frames;    /* Request* in flight, once started */
    guint n_frames;       /* frames built so far */
    gboolean built_all;   /* no frame left to build */
    guint per_frame;      /* reclaim: most ops in one frame */
    gboolean has_cursor;  /* reclaim: @cursor is set */
    guint32 cursor;       /* reclaim: the last sa_index put in a frame */
    guint in_flight;
    VfsecPfdrvReclaim reclaim;
    guint32 value;        /* ADD_SA: index; REMOVE_ALL_SA: count; MAC_REPLACE: generation */
    VfsecWireQueryInfo query;
    GError *error;
};

typedef struct {
    VfsecPfdrvFault fault;
    guint remaining;      /* 0: every reply until changed */
    guint delay_ms;
} Fault;

/* A reply on its way after the fault stage: delayed or kept by a gate. */
typedef struct {
    VfsecPfdrv *pfdrv;
    guint scope;
    GBytes *frame;
    GSource *source;      /* delay timer */
} Parked;

struct _VfsecPfdrv {
    char *name;
    VfsecPfdrvConfig config;
    VfsecPfdrvSendFunc send;
    VfsecPfdrvVfLookupFunc lookup;
    gpointer user_data;
    GDestroyNotify destroy;
    GMainContext *context;
    guint32 next_seq;
    GArray *slots;        /* Slot, indexed by sa_index (see "The database") */
    VfsecSaKeyTab *keys;  /* key -> sa_index of every used slot */
    guint n_sas;
    guint32 capacity;     /* the agent's SAD capacity: no index at or above it */
    GHashTable *domains;  /* domain -> Domain*, kept once made (Ops point to them) */
    GQueue ops;           /* Op*, queued and running, in arrival order */
    GHashTable *pending;  /* seq -> Request* in flight */
    GQueue done;          /* Op* finished, not answered yet */
    GSource *done_source;
    GHashTable *faults;   /* scope -> Fault* */
    GHashTable *gates;    /* scopes whose gate is held */
    GQueue held;          /* Parked* kept by gates, in arrival order */
    GQueue delayed;       /* Parked* waiting for their delay */
    GQueue inbox;         /* GBytes* received while the driver was busy */
    guint depth;
    gboolean scheduling;
    gboolean reschedule;
    guint64 counters[VFSEC_PFDRV_COUNTER_LAST];
};

static const char *const fault_names[] = {
    [VFSEC_PFDRV_FAULT_NONE] = "none",
    [VFSEC_PFDRV_FAULT_DROP] = "drop",
    [VFSEC_PFDRV_FAULT_DELAY] = "delay",
    [VFSEC_PFDRV_FAULT_DUPLICATE] = "duplicate",
    [VFSEC_PFDRV_FAULT_CORRUPT] = "corrupt",
};
G_STATIC_ASSERT(G_N_ELEMENTS(fault_names) == VFSEC_PFDRV_FAULT_LAST);

static const char *const counter_names[] = {
    [VFSEC_PFDRV_COUNTER_FRAMES_SENT] = "frames-sent",
    [VFSEC_PFDRV_COUNTER_RETRIES] = "retries",
    [VFSEC_PFDRV_COUNTER_REPLIES] = "replies",
    [VFSEC_PFDRV_COUNTER_REPLIES_ACCEPTED] = "replies-accepted",
    [VFSEC_PFDRV_COUNTER_REPLIES_INVALID] = "replies-invalid",
    [VFSEC_PFDRV_COUNTER_REPLIES_UNMATCHED] = "replies-unmatched",
    [VFSEC_PFDRV_COUNTER_FAULT_DROPPED] = "fault-dropped",
    [VFSEC_PFDRV_COUNTER_FAULT_DELAYED] = "fault-delayed",
    [VFSEC_PFDRV_COUNTER_FAULT_DUPLICATED] = "fault-duplicated",
    [VFSEC_PFDRV_COUNTER_FAULT_CORRUPTED] = "fault-corrupted",
    [VFSEC_PFDRV_COUNTER_GATE_HELD] = "gate-held",
    [VFSEC_PFDRV_COUNTER_STALE_SAS] = "stale-sas",
};
G_STATIC_ASSERT(G_N_ELEMENTS(counter_names) == VFSEC_PFDRV_COUNTER_LAST);

const char *
vfsec_pfdrv_fault_to_string(VfsecPfdrvFault fault)
{
    return (guint)fault < VFSEC_PFDRV_FAULT_LAST ? fault_names[fault] : NULL;
}

int
vfsec_pfdrv_fault_from_string(const char *str)
{
    for (int i = 0; i < VFSEC_PFDRV_FAULT_LAST; i++) {
        if (g_strcmp0(str, fault_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *
vfsec_pfdrv_counter_to_string(VfsecPfdrvCounter counter)
{
    return (guint)counter < VFSEC_PFDRV_COUNTER_LAST ? counter_names[counter] : NULL;
}

/* ---- Small helpers ---- */

/* "VF 3 of port p0" or "the PF of port p0"; free with g_free. */
static char *
domain_label(VfsecPfdrv *pfdrv, guint domain)
{
    if (domain == VFSEC_PFDRV_PF)
        return g_strdup_printf("the PF of port %s", pfdrv->name);
    return g_strdup_printf("VF %u of port %s", domain, pfdrv->name);
}

/* What an Op is about, for messages: its domain for SA operations, else the port. */
static char *
op_label(Op *op)
{
    if (op->kind == OP_ADD_SA || op->kind == OP_REMOVE_SA || op->kind == OP_RECLAIM)
        return domain_label(op->pfdrv, op->domain);
    return g_strdup_printf("port %s", op->pfdrv->name);
}

static gboolean
vid_reserved(const VfsecWireTags *tags, guint16 vid)
{
    return vid == tags->config_vid || vid == tags->md_base || vid == (tags->md_base | 1);
}

static const char *
tpid_name(guint16 tpid)
{
    return tpid == VFSEC_WIRE_TPID_8021AD ? "802.1ad" : "802.1Q";
}

static guint32
next_seq(VfsecPfdrv *pfdrv)
{
    guint32 seq = pfdrv->next_seq++;

    /* seq 0 is never used, so a zeroed frame answers nothing. */
    if (pfdrv->next_seq == 0)
        pfdrv->next_seq = 1;
    return seq;
}

static GSource *
attach_timeout(VfsecPfdrv *pfdrv, guint ms, GSourceFunc func, gpointer data)
{
    GSource *source = g_timeout_source_new(ms);

    g_source_set_callback(source, func, data, NULL);
    g_source_attach(source, pfdrv->context);
    return source;
}

static void
source_clear(GSource **source)
{
    if (!*source)
        return;
    g_source_destroy(*source);
    g_clear_pointer(source, g_source_unref);
}

static void
enter(VfsecPfdrv *pfdrv)
{
    pfdrv->depth++;
}

static void reply_path(VfsecPfdrv *pfdrv, GBytes *frame);

/* Leaves the driver; the outermost leave handles frames that came in meanwhile. */
static void
leave(VfsecPfdrv *pfdrv)
{
    GBytes *frame;

    if (pfdrv->depth == 1) {
        while ((frame = g_queue_pop_head(&pfdrv->inbox))) {
            reply_path(pfdrv, frame);
            g_bytes_unref(frame);
        }
    }
    pfdrv->depth--;
}

/* ---- The SA database ---- */

static Slot *
db_slot(VfsecPfdrv *pfdrv, guint32 sa_index)
{
    if (sa_index >= pfdrv->slots->len)
        return NULL;
    return &g_array_index(pfdrv->slots, Slot, sa_index);
}

/* The record of the SA at @sa_index if it is still the one @target saw. */
static Slot *
db_target(VfsecPfdrv *pfdrv, const Target *target)
{
    Slot *slot = db_slot(pfdrv, target->sa_index);

    return slot && slot->used && slot->gen == target->gen ? slot : NULL;
}

/* @domain's share, made on first use when @create. */
static Domain *
db_domain(VfsecPfdrv *pfdrv, guint domain, gboolean create)
{
    Domain *dom = g_hash_table_lookup(pfdrv->domains, GUINT_TO_POINTER(domain));

    if (!dom && create) {
        dom = g_new0(Domain, 1);
        dom->lo = G_MAXUINT32;
        g_hash_table_insert(pfdrv->domains, GUINT_TO_POINTER(domain), dom);
    }
    return dom;
}

static const VfsecWireSaKey *
db_key_at(guint32 sa_index, gpointer data)
{
    VfsecPfdrv *pfdrv = data;
    const Slot *slot = db_slot(pfdrv, sa_index);

    return slot && slot->used ? &slot->sa.key : NULL;
}

/* The record holding @key (canonical), or NULL. */
static Slot *
db_find_key(VfsecPfdrv *pfdrv, const VfsecWireSaKey *key)
{
    guint32 sa_index;

    if (pfdrv->n_sas == 0 ||
        !vfsec_sa_keytab_lookup(pfdrv->keys, key, vfsec_wire_sa_key_hash(key), &sa_index))
        return NULL;
    return db_slot(pfdrv, sa_index);
}

/* Forgets the SA in @slot; @dom is its domain's share, or NULL. */
static void
db_remove(VfsecPfdrv *pfdrv, Slot *slot, Domain *dom)
{
    if (!dom)
        dom = db_domain(pfdrv, slot->sa.domain, FALSE);
    vfsec_sa_keytab_remove(pfdrv->keys, slot->hash, slot->sa.sa_index);
    pfdrv->n_sas--;
    slot->used = FALSE;
    if (--dom->count == 0) {
        dom->lo = G_MAXUINT32;
        dom->hi = 0;
    }
}

static void
db_clear(VfsecPfdrv *pfdrv)
{
    GHashTableIter iter;
    Domain *dom;

    /* Slots stay (unused), so generations keep counting up. */
    for (guint i = 0; i < pfdrv->slots->len; i++)
        g_array_index(pfdrv->slots, Slot, i).used = FALSE;
    vfsec_sa_keytab_clear(pfdrv->keys);
    pfdrv->n_sas = 0;
    g_hash_table_iter_init(&iter, pfdrv->domains);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&dom)) {
        dom->count = 0;
        dom->lo = G_MAXUINT32;
        dom->hi = 0;
    }
}

/* The most slots the database may need: the agent's capacity when a QUERY
 * told it, else the fixed bound. */
static guint32
db_limit(VfsecPfdrv *pfdrv)
{
    return pfdrv->capacity ? pfdrv->capacity : VFSEC_PFDRV_MAX_SAS;
}

/* Records the SA the agent just added at @sa_index. Fails when the index is
 * beyond what the agent may hand out. */
static gboolean
db_record(VfsecPfdrv *pfdrv, guint domain, const VfsecWireSaKey *key, VfsecWireDir dir,
          guint32 sa_index, GError **error)
{
    Domain *dom;
    Slot *slot;

    if (sa_index >= db_limit(pfdrv)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "port %s: the agent answered ADD_SA with SA index %u, not below its capacity %u",
                    pfdrv->name, sa_index, db_limit(pfdrv));
        return FALSE;
    }
    if (sa_index >= pfdrv->slots->len)
        g_array_set_size(pfdrv->slots, MIN(MAX(sa_index + 1, pfdrv->slots->len * 2), db_limit(pfdrv)));
    /* The agent just gave out this index, so any record still holding it (or
     * this key) describes an SA the agent no longer has. */
    slot = &g_array_index(pfdrv->slots, Slot, sa_index);
    if (slot->used) {
        pfdrv->counters[VFSEC_PFDRV_COUNTER_STALE_SAS]++;
        db_remove(pfdrv, slot, NULL);
    }
    if ((slot = db_find_key(pfdrv, key))) {
        pfdrv->counters[VFSEC_PFDRV_COUNTER_STALE_SAS]++;
        db_remove(pfdrv, slot, NULL);
    }
    slot = &g_array_index(pfdrv->slots, Slot, sa_index);
    slot->sa.domain = domain;
    slot->sa.sa_index = sa_index;
    slot->sa.key = *key;
    slot->sa.dir = dir;
    slot->hash = vfsec_wire_sa_key_hash(key);
    slot->gen++;
    slot->used = TRUE;
    vfsec_sa_keytab_insert(pfdrv->keys, slot->hash, sa_index);
    pfdrv->n_sas++;
    dom = db_domain(pfdrv, domain, TRUE);
    dom->count++;
    dom->lo = MIN(dom->lo, sa_index);
    dom->hi = MAX(dom->hi, sa_index);
    return TRUE;
}

/* @domain's first SA at or after @from in index order, or NULL. */
static Slot *
db_domain_next(VfsecPfdrv *pfdrv, guint domain, guint32 from)
{
    Domain *dom = db_domain(pfdrv, domain, FALSE);
    guint32 end;

    if (!dom || dom->count == 0)
        return NULL;
    end = MIN(dom->hi, pfdrv->slots->len - 1);
    for (guint32 i = MAX(from, dom->lo); i <= end; i++) {
        Slot *slot = &g_array_index(pfdrv->slots, Slot, i);

        if (slot->used && slot->sa.domain == domain)
            return slot;
    }
    return NULL;
}

GArray *
vfsec_pfdrv_list_sas(VfsecPfdrv *pfdrv, guint domain)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(VfsecPfdrvSa));

    if (domain != VFSEC_PFDRV_PORT) {
        for (Slot *slot = db_domain_next(pfdrv, domain, 0); slot;
             slot = db_domain_next(pfdrv, domain, slot->sa.sa_index + 1))
            g_array_append_val(out, slot->sa);
        return out;
    }
    for (guint i = 0; i < pfdrv->slots->len; i++) {
        const Slot *slot = &g_array_index(pfdrv->slots, Slot, i);

        if (slot->used)
            g_array_append_val(out, slot->sa);
    }
    return out;
}

guint
vfsec_pfdrv_sa_count(VfsecPfdrv *pfdrv, guint domain)
{
    Domain *dom;

    if (domain == VFSEC_PFDRV_PORT)
        return pfdrv->n_sas;
    dom = db_domain(pfdrv, domain, FALSE);
    return dom ? dom->count : 0;
}

/* ---- Requests and Ops ---- */

static void
request_free(gpointer data)
{
    Request *req = data;

    source_clear(&req->retry);
    if (req->frame)
        explicit_bzero(req->frame, req->len);
    g_free(req->frame);
    g_free(req->targets);
    g_free(req);
}

static void
item_clear(gpointer data)
{
    vfsec_wire_op_clear(data);
}

static void
op_free(gpointer data)
{
    Op *op = data;

    source_clear(&op->deadline);
    source_clear(&op->cancel);
    g_clear_pointer(&op->frames, g_ptr_array_unref);
    g_clear_pointer(&op->items, g_array_unref);
    g_clear_pointer(&op->keys, g_array_unref);
    g_clear_pointer(&op->builder, vfsec_wire_builder_free);
    g_clear_error(&op->error);
    g_free(op);
}

static void
transmit(Request *req)
{
    VfsecPfdrv *pfdrv = req->op->pfdrv;

    req->tries++;
    pfdrv->counters[VFSEC_PFDRV_COUNTER_FRAMES_SENT]++;
    if (req->tries > 1) {
        pfdrv->counters[VFSEC_PFDRV_COUNTER_RETRIES]++;
        g_debug("port %s: resending seq %u (try %u)", pfdrv->name, req->seq, req->tries);
    }
    pfdrv->send(pfdrv, req->frame, req->len, pfdrv->user_data);
}

static gboolean
request_retry_cb(gpointer data)
{
    Request *req = data;
    VfsecPfdrv *pfdrv = req->op->pfdrv;

    enter(pfdrv);
    transmit(req);
    leave(pfdrv);
    return G_SOURCE_CONTINUE;
}

/* Stops waiting for @req: out of the pending table, no more retries. */
static void
request_stop(Request *req)
{
    VfsecPfdrv *pfdrv = req->op->pfdrv;

    if (g_hash_table_lookup(pfdrv->pending, GUINT_TO_POINTER(req->seq)) == req) {
        g_hash_table_remove(pfdrv->pending, GUINT_TO_POINTER(req->seq));
        req->op->in_flight--;
    }
    source_clear(&req->retry);
}

static void schedule(VfsecPfdrv *pfdrv);

static gboolean
done_cb(gpointer data)
{
    VfsecPfdrv *pfdrv = data;
    Op *op;

    g_clear_pointer(&pfdrv->done_source, g_source_unref);
    while ((op = g_queue_pop_head(&pfdrv->done))) {
        GTask *task = op->task;

        if (op->error)
            g_task_return_error(task, g_steal_pointer(&op->error));
        else
            g_task_return_boolean(task, TRUE);
        g_object_unref(task);
    }
    return G_SOURCE_REMOVE;
}

/* Ends @op (failed when op->error is set): stops its requests and timers,
 * drops key material, and answers it from an idle source. */
static void
op_finish(Op *op)
{
    VfsecPfdrv *pfdrv = op->pfdrv;
    g_autofree char *who = op_label(op);

    if (op->kind == OP_RECLAIM && !op->error)
        op->reclaim.remaining = vfsec_pfdrv_sa_count(pfdrv, op->domain);
    if (op->error)
        g_debug("%s: %s failed: %s", who, op_kind_names[op->kind], op->error->message);
    else if (op->kind == OP_RECLAIM)
        g_debug("%s: reclaim done in %u frames: %" G_GUINT64_FORMAT " removed, %" G_GUINT64_FORMAT
                " failed, %" G_GUINT64_FORMAT " remaining", who, op->n_frames,
                op->reclaim.removed, op->reclaim.failed, op->reclaim.remaining);
    else
        g_debug("%s: %s done (value %u)", who, op_kind_names[op->kind], op->value);
    for (guint i = 0; op->frames && i < op->frames->len; i++)
        request_stop(op->frames->pdata[i]);
    g_clear_pointer(&op->frames, g_ptr_array_unref);
    g_clear_pointer(&op->items, g_array_unref);
    g_clear_pointer(&op->builder, vfsec_wire_builder_free);
    source_clear(&op->deadline);
    source_clear(&op->cancel);
    g_queue_remove(&pfdrv->ops, op);
    g_queue_push_tail(&pfdrv->done, op);
    if (!pfdrv->done_source) {
        pfdrv->done_source = g_idle_source_new();
        g_source_set_callback(pfdrv->done_source, done_cb, pfdrv, NULL);
        g_source_attach(pfdrv->done_source, pfdrv->context);
    }
    schedule(pfdrv);
}

static void
op_fail(Op *op, GError *error)
{
    g_clear_error(&op->error);
    op->error = error;
    op_finish(op);
}

static GError *
too_large_error(VfsecPfdrv *pfdrv, guint8 opcode)
{
    return g_error_new(VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                       "port %s: a %s op does not fit one configuration frame", pfdrv->name,
                       vfsec_wire_opcode_to_string(opcode));
}

/* Starts a new frame in op->builder; returns its seq. */
static guint32
op_frame_start(Op *op)
{
    VfsecPfdrv *pfdrv = op->pfdrv;
    guint32 seq = next_seq(pfdrv);

    if (!op->builder)
        op->builder = vfsec_wire_builder_new(&pfdrv->config.tags, &pfdrv->config.l2,
                                             VFSEC_WIRE_KIND_REQUEST, seq);
    else
        vfsec_wire_builder_reset(op->builder, seq);
    return seq;
}

/* The frame in op->builder as a Request carrying @n_items ops @opcode;
 * @targets (taken) are the SAs of REMOVE_SA items. */
static Request *
request_new(Op *op, guint32 seq, guint8 opcode, guint n_items, Target *targets)
{
    Request *req = g_new0(Request, 1);
    gsize len = 0;
    const guint8 *data = vfsec_wire_builder_finish(op->builder, &len);

    req->op = op;
    req->seq = seq;
    req->frame = g_memdup2(data, len);
    req->len = len;
    req->opcode = opcode;
    req->n_items = n_items;
    req->targets = targets;
    op->n_frames++;
    return req;
}

/* The one frame of a one-op Op, carrying op->items. */
static gboolean
single_request(Op *op, Request **out, GError **error)
{
    guint32 seq = op_frame_start(op);
    const VfsecWireOp *item = &g_array_index(op->items, VfsecWireOp, 0);

    switch (vfsec_wire_builder_append(op->builder, item, error)) {
    case VFSEC_WIRE_APPEND_OK:
        break;
    case VFSEC_WIRE_APPEND_FULL:
        g_propagate_error(error, too_large_error(op->pfdrv, item->opcode));
        return FALSE;
    case VFSEC_WIRE_APPEND_INVALID:
        return FALSE;
    }
    *out = request_new(op, seq, item->opcode, 1,
                       op->kind == OP_REMOVE_SA ? g_memdup2(&op->target, sizeof(Target)) : NULL);
    /* An ADD_SA frame holds key material: keep it in the Request alone. */
    g_clear_pointer(&op->builder, vfsec_wire_builder_free);
    return TRUE;
}

/* The next frame of a reclaim: REMOVE_SA by index with the SPI guard for the
 * domain's SAs after the cursor, as many as one frame (and op->per_frame)
 * takes. */
static gboolean
reclaim_request(Op *op, Request **out, GError **error)
{
    VfsecPfdrv *pfdrv = op->pfdrv;
    Domain *dom = db_domain(pfdrv, op->domain, FALSE);
    Target targets[VFSEC_WIRE_REMOVE_SA_PER_FRAME];
    guint max = MIN(op->per_frame, G_N_ELEMENTS(targets));
    guint n = 0;
    guint32 seq = 0;
    guint32 end;

    if (!dom || dom->count == 0)
        return TRUE;
    /* The domain's SAs in index order: a scan of its [lo, hi] from the cursor. */
    end = MIN(dom->hi, pfdrv->slots->len - 1);
    for (guint32 i = MAX(op->has_cursor ? op->cursor + 1 : 0, dom->lo); i <= end && n < max; i++) {
        const Slot *slot = &g_array_index(pfdrv->slots, Slot, i);
        VfsecWireAppend res;

        if (!slot->used || slot->sa.domain != op->domain)
            continue;
        if (n == 0)
            seq = op_frame_start(op);
        res = vfsec_wire_builder_append_remove_sa(op->builder, i, slot->sa.key.spi, error);
        if (res == VFSEC_WIRE_APPEND_FULL && n > 0)
            break;
        if (res == VFSEC_WIRE_APPEND_FULL)
            g_propagate_error(error, too_large_error(pfdrv, VFSEC_WIRE_OP_REMOVE_SA));
        if (res != VFSEC_WIRE_APPEND_OK)
            return FALSE;
        targets[n].sa_index = i;
        targets[n].gen = slot->gen;
        n++;
        op->cursor = i;
        op->has_cursor = TRUE;
    }
    if (n > 0)
        *out = request_new(op, seq, VFSEC_WIRE_OP_REMOVE_SA, n, g_memdup2(targets, n * sizeof(Target)));
    return TRUE;
}

/* Builds and sends frames up to the op's in-flight limit; finishes the op
 * when nothing is left to send or wait for. */
static void
op_pump(Op *op)
{
    VfsecPfdrv *pfdrv = op->pfdrv;
    guint limit = op->kind == OP_RECLAIM && op->per_frame > 1 ? pfdrv->config.pipeline : 1;

    while (!op->built_all && op->in_flight < limit) {
        GError *error = NULL;
        Request *req = NULL;
        gboolean ok;

        if (op->kind == OP_RECLAIM)
            ok = reclaim_request(op, &req, &error);
        else
            ok = op->n_frames > 0 || single_request(op, &req, &error);
        if (!ok) {
            op_fail(op, error);
            return;
        }
        if (!req) {
            op->built_all = TRUE;
            break;
        }
        g_ptr_array_add(op->frames, req);
        g_hash_table_insert(pfdrv->pending, GUINT_TO_POINTER(req->seq), req);
        op->in_flight++;
        req->retry = attach_timeout(pfdrv, pfdrv->config.retry_ms, request_retry_cb, req);
        /* Last: the send callback may answer at once (queued, see leave()). */
        transmit(req);
    }
    if (op->built_all && op->in_flight == 0)
        op_finish(op);
}

static VfsecWireOp *
op_add_item(Op *op, VfsecWireOpcode opcode)
{
    VfsecWireOp item = { .opcode = (guint8)opcode };

    g_array_append_val(op->items, item);
    return &g_array_index(op->items, VfsecWireOp, op->items->len - 1);
}

/* ---- Checking a mailbox request ---- */

static gboolean
check_tags(VfsecPfdrv *pfdrv, const char *who, const VfsecWireSaKey *key, GError **error)
{
    for (guint i = 0; i < key->n_tags; i++) {
        guint16 vid = VFSEC_WIRE_TCI_VID(key->tags[i].tci);

        if (vid_reserved(&pfdrv->config.tags, vid)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                        "%s may not offload an SA whose VLAN tag #%u has the reserved VID %u",
                        who, i, vid);
            return FALSE;
        }
    }
    return TRUE;
}

/* The VLAN tags a VF may put in a key: its port VLAN outermost if it has
 * one; then, untrusted, at most one 802.1Q tag of its own. The quarantine
 * port tag (the metadata bypass tag) is no port VLAN: the agent strips it
 * before anything else, and the VF's Rx frames from the wire never carry it,
 * so it is not part of the VF's SAD-domain key. */
static gboolean
check_vf_tags(VfsecPfdrv *pfdrv, const char *who, const VfsecPfdrvVfState *vf,
              const VfsecWireSaKey *key, GError **error)
{
    guint own = 0;

    if (vf->has_port_tag && VFSEC_WIRE_TCI_VID(vf->port_tag.tci) != pfdrv->config.tags.md_base) {
        guint16 want = VFSEC_WIRE_TCI_VID(vf->port_tag.tci);

        if (key->n_tags == 0 || key->tags[0].tpid != vf->port_tag.tpid ||
            VFSEC_WIRE_TCI_VID(key->tags[0].tci) != want) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                        "%s may not offload an SA without its port tag %s/%u as outer VLAN tag",
                        who, tpid_name(vf->port_tag.tpid), want);
            return FALSE;
        }
        own = 1;
    }
    if (vf->trust)
        return TRUE;
    if (key->n_tags - own > 1) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "%s is not trusted and may not offload an SA with %u VLAN tags of its own",
                    who, key->n_tags - own);
        return FALSE;
    }
    if (key->n_tags > own && key->tags[own].tpid != VFSEC_WIRE_TPID_8021Q) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "%s is not trusted and may not offload an SA with an 802.1ad VLAN tag",
                    who);
        return FALSE;
    }
    return TRUE;
}

/* May @domain hold an SA with @key? */
static gboolean
check_key(VfsecPfdrv *pfdrv, guint domain, const VfsecWireSaKey *key, GError **error)
{
    g_autofree char *who = domain_label(pfdrv, domain);
    VfsecPfdrvVfState vf = { 0 };
    char have[VFSEC_MAC_STRLEN];
    char want[VFSEC_MAC_STRLEN];

    if (!check_tags(pfdrv, who, key, error))
        return FALSE;
    if (domain == VFSEC_PFDRV_PF) {
        if (!vfsec_mac_equal(&key->mac, &pfdrv->config.l2.src)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                        "%s may not offload an SA with local MAC %s: its MAC is %s", who,
                        vfsec_mac_format(&key->mac, have), vfsec_mac_format(&pfdrv->config.l2.src, want));
            return FALSE;
        }
        return TRUE;
    }
    if (!pfdrv->lookup(domain, &vf, pfdrv->user_data)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "port %s has no VF %u",
                    pfdrv->name, domain);
        return FALSE;
    }
    if (!vf.has_mac) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "%s has no MAC and may offload no SA", who);
        return FALSE;
    }
    /* Without spoof checking an untrusted VF's frames may carry any source
     * MAC, so binding its SAs to its MAC would protect nobody. */
    if (!vf.spoofchk && !vf.trust) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "%s has spoof checking off and is not trusted, so it may offload no SA", who);
        return FALSE;
    }
    if (!vfsec_mac_equal(&key->mac, &vf.mac)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "%s may not offload an SA with local MAC %s: its MAC is %s", who,
                    vfsec_mac_format(&key->mac, have), vfsec_mac_format(&vf.mac, want));
        return FALSE;
    }
    return check_vf_tags(pfdrv, who, &vf, key, error);
}

/* ---- Starting Ops ---- */

static gboolean
start_add_sa(Op *op, GError **error)
{
    VfsecPfdrv *pfdrv = op->pfdrv;
    VfsecWireOp *item = &g_array_index(op->items, VfsecWireOp, 0);
    const Slot *slot;
    const VfsecPfdrvSa *old;

    if (!check_key(pfdrv, op->domain, &item->add_sa.key, error))
        return FALSE;
    slot = db_find_key(pfdrv, &item->add_sa.key);
    if (slot) {
        old = &slot->sa;
        g_autofree char *who = domain_label(pfdrv, old->domain);
        g_autofree char *desc = vfsec_wire_sa_key_describe(&old->key);

        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "SA key %s is already offloaded by %s at index %u", desc, who, old->sa_index);
        return FALSE;
    }
    return TRUE;
}

static gboolean
start_remove_sa(Op *op, GError **error)
{
    VfsecPfdrv *pfdrv = op->pfdrv;
    const VfsecWireSaKey *key = &g_array_index(op->keys, VfsecWireSaKey, 0);
    const Slot *slot = db_find_key(pfdrv, key);
    const VfsecPfdrvSa *sa = slot ? &slot->sa : NULL;
    g_autofree char *who = domain_label(pfdrv, op->domain);
    g_autofree char *desc = vfsec_wire_sa_key_describe(key);
    VfsecWireOp *item;

    if (!sa) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "%s holds no SA %s", who, desc);
        return FALSE;
    }
    if (sa->domain != op->domain) {
        g_autofree char *owner = domain_label(pfdrv, sa->domain);

        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "%s may not remove SA %s: it belongs to %s", who, desc, owner);
        return FALSE;
    }
    item = op_add_item(op, VFSEC_WIRE_OP_REMOVE_SA);
    item->remove_sa.sa_index = sa->sa_index;
    item->remove_sa.spi = sa->key.spi;
    op->target.sa_index = sa->sa_index;
    op->target.gen = slot->gen;
    return TRUE;
}

static void
op_start(Op *op)
{
    GError *error = NULL;
    gboolean ok = TRUE;

    op->started = TRUE;
    switch (op->kind) {
    case OP_ADD_SA:
        ok = start_add_sa(op, &error);
        break;
    case OP_REMOVE_SA:
        ok = start_remove_sa(op, &error);
        break;
    case OP_RECLAIM:
        /* Taken now: switching modes applies to reclaims that start later. */
        op->per_frame = op->pfdrv->config.one_op_per_frame ? 1 : G_MAXUINT;
        break;
    case OP_RECLAIM_PORT:
    case OP_MAC_REPLACE:
    case OP_QUERY:
        break;
    }
    if (!ok) {
        op_fail(op, error);
        return;
    }
    op->frames = g_ptr_array_new_with_free_func(request_free);
    op_pump(op);
}

/* Starts every Op whose turn has come (see the theory of operation). */
static void
schedule(VfsecPfdrv *pfdrv)
{
    if (pfdrv->scheduling) {
        pfdrv->reschedule = TRUE;
        return;
    }
    pfdrv->scheduling = TRUE;
    do {
        g_autoptr(GHashTable) busy = g_hash_table_new(NULL, NULL);
        GList *l = pfdrv->ops.head;

        pfdrv->reschedule = FALSE;
        while (l) {
            Op *op = l->data;
            GList *next = l->next;

            if (op->barrier) {
                if (l == pfdrv->ops.head && !op->started)
                    op_start(op);
                break;
            }
            if (!g_hash_table_contains(busy, GUINT_TO_POINTER(op->sched))) {
                g_hash_table_add(busy, GUINT_TO_POINTER(op->sched));
                if (!op->started)
                    op_start(op);
            }
            /* op_start() may finish @op (unlinking it), never another Op. */
            l = next;
        }
    } while (pfdrv->reschedule);
    pfdrv->scheduling = FALSE;
}

/* ---- Replies ---- */

static GError *
status_error(Op *op, guint status, guint32 value)
{
    g_autofree char *who = op_label(op);
    const char *name = vfsec_wire_status_to_string(status);
    VfsecErrorCode code;

    switch (status) {
    case VFSEC_WIRE_STATUS_DUPLICATE_KEY:
        return g_error_new(VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                           "%s: the agent already holds the SA key at index %u", who, value);
    case VFSEC_WIRE_STATUS_STALE_GENERATION:
        return g_error_new(VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                           "%s: the agent's local-MAC table is at generation %u, not below %u", who,
                           value, g_array_index(op->items, VfsecWireOp, 0).generation);
    case VFSEC_WIRE_STATUS_NO_SUCH_SA:
    case VFSEC_WIRE_STATUS_NO_SUCH_MAC:
        code = VFSEC_ERROR_NOT_FOUND;
        break;
    case VFSEC_WIRE_STATUS_SAD_FULL:
    case VFSEC_WIRE_STATUS_TABLE_FULL:
        code = VFSEC_ERROR_TOO_LARGE;
        break;
    case VFSEC_WIRE_STATUS_MALFORMED:
        code = VFSEC_ERROR_INVALID;
        break;
    case VFSEC_WIRE_STATUS_UNSUPPORTED_OP:
    case VFSEC_WIRE_STATUS_UNSUPPORTED_ALG:
        code = VFSEC_ERROR_UNSUPPORTED;
        break;
    default:
        code = VFSEC_ERROR_PROTOCOL;
        break;
    }
    if (!name)
        return g_error_new(VFSEC_ERROR, code, "%s: the agent refused %s with status %u", who,
                           op_kind_names[op->kind], status);
    return g_error_new(VFSEC_ERROR, code, "%s: the agent refused %s with %s", who,
                       op_kind_names[op->kind], name);
}

/* Applies the answers to a frame of REMOVE_SA ops. */
static void
apply_removals(Op *op, const Request *req, const VfsecWireReply *reply)
{
    VfsecPfdrv *pfdrv = op->pfdrv;
    /* Every target is an SA of the op's domain (its generation says so). */
    Domain *dom = db_domain(pfdrv, op->domain, FALSE);

    /* The key-table buckets of a frame's SAs are scattered: load them all
     * at once rather than one miss per removal. */
    for (guint j = 0; j < req->n_items; j++) {
        const Slot *slot = db_target(pfdrv, &req->targets[j]);

        if (slot)
            vfsec_sa_keytab_prefetch(pfdrv->keys, slot->hash);
    }
    for (guint j = 0; j < req->n_items; j++) {
        const VfsecWireReplyOp *rop = &reply->ops[j];
        Slot *slot;

        if (rop->status == VFSEC_WIRE_STATUS_OK || rop->status == VFSEC_WIRE_STATUS_NO_SUCH_SA) {
            if (rop->status == VFSEC_WIRE_STATUS_NO_SUCH_SA && req->tries == 1)
                pfdrv->counters[VFSEC_PFDRV_COUNTER_STALE_SAS]++;
            if ((slot = db_target(pfdrv, &req->targets[j])))
                db_remove(pfdrv, slot, dom);
            op->reclaim.removed++;
        } else {
            op->reclaim.failed++;
            if (op->kind == OP_REMOVE_SA)
                op->error = status_error(op, rop->status, rop->value);
        }
    }
}

static void
apply_reply(Op *op, const Request *req, const VfsecWireReply *reply)
{
    VfsecPfdrv *pfdrv = op->pfdrv;
    const VfsecWireReplyOp *rop = &reply->ops[0];
    const VfsecWireOp *item = op->items->len ? &g_array_index(op->items, VfsecWireOp, 0) : NULL;

    switch (op->kind) {
    case OP_REMOVE_SA:
    case OP_RECLAIM:
        apply_removals(op, req, reply);
        return;
    case OP_ADD_SA:
        /* A retried ADD_SA that finds its key taken was done by the first copy. */
        if (rop->status == VFSEC_WIRE_STATUS_OK ||
            (rop->status == VFSEC_WIRE_STATUS_DUPLICATE_KEY && req->tries > 1)) {
            op->value = rop->value;
            db_record(pfdrv, op->domain, &item->add_sa.key, item->add_sa.dir, rop->value,
                      &op->error);
            return;
        }
        break;
    case OP_RECLAIM_PORT:
        if (rop->status == VFSEC_WIRE_STATUS_OK) {
            op->value = rop->value;
            db_clear(pfdrv);
            return;
        }
        break;
    case OP_MAC_REPLACE:
        /* A retried MAC_REPLACE finds the generation it asked for in place. */
        if (rop->status == VFSEC_WIRE_STATUS_OK ||
            (rop->status == VFSEC_WIRE_STATUS_STALE_GENERATION && req->tries > 1 &&
             rop->value == item->generation)) {
            op->value = rop->value;
            return;
        }
        break;
    case OP_QUERY:
        if (rop->status == VFSEC_WIRE_STATUS_OK) {
            op->query = rop->query;
            /* The bound on the indexes the agent hands out (see "The database"). */
            if (rop->query.capacity)
                pfdrv->capacity = MIN(rop->query.capacity, (guint32)VFSEC_PFDRV_MAX_SAS);
            return;
        }
        break;
    }
    op->error = status_error(op, rop->status, rop->value);
}

/* Decodes @frame into @reply and finds the request it answers; counts what
 * it ignores. */
static Request *
reply_match(VfsecPfdrv *pfdrv, GBytes *frame, VfsecWireReply *reply)
{
    g_autoptr(GError) error = NULL;
    gsize len = 0;
    const guint8 *data = g_bytes_get_data(frame, &len);
    Request *req;

    if (!vfsec_wire_reply_decode(&pfdrv->config.tags, data, len, reply, &error)) {
        pfdrv->counters[VFSEC_PFDRV_COUNTER_REPLIES_INVALID]++;
        g_debug("port %s: ignoring a frame from the agent: %s", pfdrv->name, error->message);
        return NULL;
    }
    req = g_hash_table_lookup(pfdrv->pending, GUINT_TO_POINTER(reply->seq));
    if (!req) {
        pfdrv->counters[VFSEC_PFDRV_COUNTER_REPLIES_UNMATCHED]++;
        g_debug("port %s: ignoring reply seq %u: no request waits for it", pfdrv->name, reply->seq);
        return NULL;
    }
    return req;
}

/* The last stage: decoded @reply reaches @req, the request it answers. */
static void
reply_accept(VfsecPfdrv *pfdrv, Request *req, const VfsecWireReply *reply)
{
    g_autoptr(GError) error = NULL;
    Op *op = req->op;

    if (!vfsec_wire_reply_answers(reply, req->seq, req->opcode, req->n_items, &error)) {
        pfdrv->counters[VFSEC_PFDRV_COUNTER_REPLIES_INVALID]++;
        g_debug("port %s: ignoring a reply: %s", pfdrv->name, error->message);
        return;
    }
    pfdrv->counters[VFSEC_PFDRV_COUNTER_REPLIES_ACCEPTED]++;
    request_stop(req);
    apply_reply(op, req, reply);
    g_ptr_array_remove_fast(op->frames, req);
    if (op->error)
        op_finish(op);
    else
        op_pump(op);
}

/* A reply back from a delay or a gate: matched again, since its request may
 * have been answered or given up meanwhile. */
static void
reply_handle(VfsecPfdrv *pfdrv, GBytes *frame)
{
    VfsecWireReply reply;
    Request *req = reply_match(pfdrv, frame, &reply);

    if (req)
        reply_accept(pfdrv, req, &reply);
}

static gboolean
gated(VfsecPfdrv *pfdrv, guint scope)
{
    return g_hash_table_contains(pfdrv->gates, GUINT_TO_POINTER(scope)) ||
           g_hash_table_contains(pfdrv->gates, GUINT_TO_POINTER(VFSEC_PFDRV_PORT));
}

static void
parked_free(gpointer data)
{
    Parked *parked = data;

    source_clear(&parked->source);
    g_bytes_unref(parked->frame);
    g_free(parked);
}

static void
gate_stage(VfsecPfdrv *pfdrv, guint scope, GBytes *frame)
{
    Parked *parked;

    if (!gated(pfdrv, scope)) {
        reply_handle(pfdrv, frame);
        return;
    }
    parked = g_new0(Parked, 1);
    parked->pfdrv = pfdrv;
    parked->scope = scope;
    parked->frame = g_bytes_ref(frame);
    g_queue_push_tail(&pfdrv->held, parked);
    pfdrv->counters[VFSEC_PFDRV_COUNTER_GATE_HELD]++;
}

static gboolean
delay_cb(gpointer data)
{
    Parked *parked = data;
    VfsecPfdrv *pfdrv = parked->pfdrv;

    g_queue_remove(&pfdrv->delayed, parked);
    enter(pfdrv);
    gate_stage(pfdrv, parked->scope, parked->frame);
    parked_free(parked);
    leave(pfdrv);
    return G_SOURCE_REMOVE;
}

/* The fault to apply to the next reply of @scope, consumed; NONE if none. */
static VfsecPfdrvFault
fault_take(VfsecPfdrv *pfdrv, guint scope, guint *delay_ms)
{
    Fault *fault = g_hash_table_lookup(pfdrv->faults, GUINT_TO_POINTER(scope));
    VfsecPfdrvFault kind;

    if (!fault) {
        scope = VFSEC_PFDRV_PORT;
        fault = g_hash_table_lookup(pfdrv->faults, GUINT_TO_POINTER(scope));
    }
    if (!fault)
        return VFSEC_PFDRV_FAULT_NONE;
    kind = fault->fault;
    *delay_ms = fault->delay_ms;
    if (fault->remaining > 0 && --fault->remaining == 0)
        g_hash_table_remove(pfdrv->faults, GUINT_TO_POINTER(scope));
    return kind;
}

/* A received frame: match, faults, gate, handling. */
static void
reply_path(VfsecPfdrv *pfdrv, GBytes *frame)
{
    VfsecWireReply reply;
    Request *req = reply_match(pfdrv, frame, &reply);
    guint scope;
    guint delay_ms = 0;
    Parked *parked;

    if (!req)
        return;
    scope = req->op->domain;
    switch (fault_take(pfdrv, scope, &delay_ms)) {
    case VFSEC_PFDRV_FAULT_NONE:
    case VFSEC_PFDRV_FAULT_LAST:
        /* The usual path: nothing happened since matching, so the decoded
         * reply is used as it is rather than decoded again. */
        if (!gated(pfdrv, scope))
            reply_accept(pfdrv, req, &reply);
        else
            gate_stage(pfdrv, scope, frame);
        return;
    case VFSEC_PFDRV_FAULT_DROP:
        pfdrv->counters[VFSEC_PFDRV_COUNTER_FAULT_DROPPED]++;
        return;
    case VFSEC_PFDRV_FAULT_DELAY:
        pfdrv->counters[VFSEC_PFDRV_COUNTER_FAULT_DELAYED]++;
        parked = g_new0(Parked, 1);
        parked->pfdrv = pfdrv;
        parked->scope = scope;
        parked->frame = g_bytes_ref(frame);
        parked->source = attach_timeout(pfdrv, delay_ms, delay_cb, parked);
        g_queue_push_tail(&pfdrv->delayed, parked);
        return;
    case VFSEC_PFDRV_FAULT_DUPLICATE:
        pfdrv->counters[VFSEC_PFDRV_COUNTER_FAULT_DUPLICATED]++;
        gate_stage(pfdrv, scope, frame);
        gate_stage(pfdrv, scope, frame);
        return;
    case VFSEC_PFDRV_FAULT_CORRUPT: {
        gsize len = 0;
        const guint8 *data = g_bytes_get_data(frame, &len);
        guint8 *copy = g_memdup2(data, len);
        g_autoptr(GBytes) bad = NULL;

        /* Damage the magic: the receiver must notice, as it would a bad FCS. */
        pfdrv->counters[VFSEC_PFDRV_COUNTER_FAULT_CORRUPTED]++;
        copy[VFSEC_WIRE_CONFIG_OFFSET] ^= 0xff;
        bad = g_bytes_new_take(copy, len);
        gate_stage(pfdrv, scope, bad);
        return;
    }
    }
}

void
vfsec_pfdrv_receive_frame(VfsecPfdrv *pfdrv, const guint8 *frame, gsize len)
{
    g_autoptr(GBytes) bytes = g_bytes_new(frame, len);

    pfdrv->counters[VFSEC_PFDRV_COUNTER_REPLIES]++;
    if (pfdrv->depth > 0) {
        g_queue_push_tail(&pfdrv->inbox, g_steal_pointer(&bytes));
        return;
    }
    enter(pfdrv);
    reply_path(pfdrv, bytes);
    leave(pfdrv);
}

/* ---- Queueing Ops ---- */

static gboolean
deadline_cb(gpointer data)
{
    Op *op = data;
    VfsecPfdrv *pfdrv = op->pfdrv;
    g_autofree char *who = op_label(op);
    GError *error;

    enter(pfdrv);
    if (op->kind == OP_RECLAIM) {
        guint left = vfsec_pfdrv_sa_count(pfdrv, op->domain);

        error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_TIMEOUT, "%s still holds %u SA%s after %u ms",
                            who, left, left == 1 ? "" : "s", op->timeout_ms);
    } else {
        error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_TIMEOUT, "%s: %s not answered within %u ms",
                            who, op_kind_names[op->kind], op->timeout_ms);
    }
    op_fail(op, error);
    leave(pfdrv);
    return G_SOURCE_REMOVE;
}

static gboolean
cancel_cb(GCancellable *cancellable, gpointer data)
{
    Op *op = data;
    VfsecPfdrv *pfdrv = op->pfdrv;
    GError *error = NULL;

    enter(pfdrv);
    g_cancellable_set_error_if_cancelled(cancellable, &error);
    op_fail(op, error);
    leave(pfdrv);
    return G_SOURCE_REMOVE;
}

static Op *
op_new(VfsecPfdrv *pfdrv, OpKind kind, guint domain, guint timeout_ms, GCancellable *cancellable,
       GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
    Op *op = g_new0(Op, 1);

    op->pfdrv = pfdrv;
    op->kind = kind;
    op->domain = domain;
    op->sched = domain;
    op->timeout_ms = timeout_ms;
    op->items = g_array_new(FALSE, TRUE, sizeof(VfsecWireOp));
    g_array_set_clear_func(op->items, item_clear);
    op->task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_source_tag(op->task, source_tag);
    g_task_set_task_data(op->task, op, op_free);
    return op;
}

/* Fails @op at once, before it is queued. */
static void
op_reject(Op *op, GError *error)
{
    VfsecPfdrv *pfdrv = op->pfdrv;

    enter(pfdrv);
    g_queue_push_tail(&pfdrv->ops, op);
    op_fail(op, error);
    leave(pfdrv);
}

/* Queues @op, arms its deadline and cancellation, and runs the scheduler. */
static void
op_queue(Op *op, GCancellable *cancellable)
{
    VfsecPfdrv *pfdrv = op->pfdrv;

    if (op->domain != VFSEC_PFDRV_PF && op->domain >= VFSEC_PFDRV_MAX_VFS) {
        op_reject(op, g_error_new(VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                  "port %s: VF index %u is out of range", pfdrv->name, op->domain));
        return;
    }
    enter(pfdrv);
    g_queue_push_tail(&pfdrv->ops, op);
    op->deadline = attach_timeout(pfdrv, op->timeout_ms, deadline_cb, op);
    if (cancellable) {
        op->cancel = g_cancellable_source_new(cancellable);
        g_source_set_callback(op->cancel, G_SOURCE_FUNC(cancel_cb), op, NULL);
        g_source_attach(op->cancel, pfdrv->context);
    }
    schedule(pfdrv);
    leave(pfdrv);
}

void
vfsec_pfdrv_vf_add_sa_async(VfsecPfdrv *pfdrv, guint vf, const VfsecWireAddSa *sa,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    Op *op = op_new(pfdrv, OP_ADD_SA, vf, pfdrv->config.op_timeout_ms, cancellable, callback,
                    user_data, vfsec_pfdrv_vf_add_sa_async);
    VfsecWireOp *item = op_add_item(op, VFSEC_WIRE_OP_ADD_SA);

    item->add_sa = *sa;
    vfsec_wire_sa_key_normalize(&item->add_sa.key);
    op_queue(op, cancellable);
}

static Op *
op_finish_get(GAsyncResult *result, gpointer source_tag, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == source_tag, NULL);

    if (!g_task_propagate_boolean(G_TASK(result), error))
        return NULL;
    return g_task_get_task_data(G_TASK(result));
}

gboolean
vfsec_pfdrv_vf_add_sa_finish(VfsecPfdrv *pfdrv, GAsyncResult *result, guint32 *sa_index,
                             GError **error)
{
    Op *op = op_finish_get(result, vfsec_pfdrv_vf_add_sa_async, error);

    if (!op)
        return FALSE;
    if (sa_index)
        *sa_index = op->value;
    return TRUE;
}

void
vfsec_pfdrv_vf_remove_sa_async(VfsecPfdrv *pfdrv, guint vf, const VfsecWireSaKey *key,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
    Op *op = op_new(pfdrv, OP_REMOVE_SA, vf, pfdrv->config.op_timeout_ms, cancellable, callback,
                    user_data, vfsec_pfdrv_vf_remove_sa_async);
    VfsecWireSaKey copy = *key;

    vfsec_wire_sa_key_normalize(&copy);
    op->keys = g_array_new(FALSE, FALSE, sizeof(VfsecWireSaKey));
    g_array_append_val(op->keys, copy);
    op_queue(op, cancellable);
}

gboolean
vfsec_pfdrv_vf_remove_sa_finish(VfsecPfdrv *pfdrv, GAsyncResult *result, GError **error)
{
    return op_finish_get(result, vfsec_pfdrv_vf_remove_sa_async, error) != NULL;
}

void
vfsec_pfdrv_reclaim_vf_async(VfsecPfdrv *pfdrv, guint vf, guint timeout_ms,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    Op *op = op_new(pfdrv, OP_RECLAIM, vf, timeout_ms ? timeout_ms : pfdrv->config.reclaim_timeout_ms,
                    cancellable, callback, user_data, vfsec_pfdrv_reclaim_vf_async);

    op_queue(op, cancellable);
}

gboolean
vfsec_pfdrv_reclaim_vf_finish(VfsecPfdrv *pfdrv, GAsyncResult *result, VfsecPfdrvReclaim *reclaim,
                              GError **error)
{
    Op *op = op_finish_get(result, vfsec_pfdrv_reclaim_vf_async, error);

    if (!op)
        return FALSE;
    if (reclaim)
        *reclaim = op->reclaim;
    return TRUE;
}

void
vfsec_pfdrv_reclaim_port_async(VfsecPfdrv *pfdrv, guint timeout_ms, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    Op *op = op_new(pfdrv, OP_RECLAIM_PORT, VFSEC_PFDRV_PF,
                    timeout_ms ? timeout_ms : pfdrv->config.reclaim_timeout_ms, cancellable,
                    callback, user_data, vfsec_pfdrv_reclaim_port_async);

    op->barrier = TRUE;
    op_add_item(op, VFSEC_WIRE_OP_REMOVE_ALL_SA);
    op_queue(op, cancellable);
}

gboolean
vfsec_pfdrv_reclaim_port_finish(VfsecPfdrv *pfdrv, GAsyncResult *result, guint32 *removed,
                                GError **error)
{
    Op *op = op_finish_get(result, vfsec_pfdrv_reclaim_port_async, error);

    if (!op)
        return FALSE;
    if (removed)
        *removed = op->value;
    return TRUE;
}

void
vfsec_pfdrv_mac_replace_async(VfsecPfdrv *pfdrv, guint32 generation,
                              const VfsecWireMacEntry *entries, guint n_entries,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
    Op *op = op_new(pfdrv, OP_MAC_REPLACE, VFSEC_PFDRV_PF, pfdrv->config.op_timeout_ms,
                    cancellable, callback, user_data, vfsec_pfdrv_mac_replace_async);
    VfsecWireOp *item = op_add_item(op, VFSEC_WIRE_OP_MAC_REPLACE);

    op->sched = SCHED_PORT_OPS;
    item->generation = generation;
    item->mac_entries = g_array_sized_new(FALSE, TRUE, sizeof(VfsecWireMacEntry), n_entries);
    g_array_append_vals(item->mac_entries, entries, n_entries);
    if (n_entries > VFSEC_WIRE_MAC_REPLACE_MAX) {
        op_reject(op, g_error_new(VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                                  "port %s: %u local MACs do not fit one MAC_REPLACE (at most %d)",
                                  pfdrv->name, n_entries, VFSEC_WIRE_MAC_REPLACE_MAX));
        return;
    }
    op_queue(op, cancellable);
}

gboolean
vfsec_pfdrv_mac_replace_finish(VfsecPfdrv *pfdrv, GAsyncResult *result, guint32 *new_generation,
                               GError **error)
{
    Op *op = op_finish_get(result, vfsec_pfdrv_mac_replace_async, error);

    if (!op)
        return FALSE;
    if (new_generation)
        *new_generation = op->value;
    return TRUE;
}

void
vfsec_pfdrv_query_async(VfsecPfdrv *pfdrv, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    Op *op = op_new(pfdrv, OP_QUERY, VFSEC_PFDRV_PF, pfdrv->config.op_timeout_ms, cancellable,
                    callback, user_data, vfsec_pfdrv_query_async);

    op->sched = SCHED_PORT_OPS;
    op_add_item(op, VFSEC_WIRE_OP_QUERY);
    op_queue(op, cancellable);
}

gboolean
vfsec_pfdrv_query_finish(VfsecPfdrv *pfdrv, GAsyncResult *result, VfsecWireQueryInfo *info,
                         GError **error)
{
    Op *op = op_finish_get(result, vfsec_pfdrv_query_async, error);

    if (!op)
        return FALSE;
    if (info)
        *info = op->query;
    return TRUE;
}

/* ---- Faults and gates ---- */

void
vfsec_pfdrv_set_fault(VfsecPfdrv *pfdrv, guint scope, VfsecPfdrvFault fault, guint count,
                      guint delay_ms)
{
    Fault *f;

    g_return_if_fail((guint)fault < VFSEC_PFDRV_FAULT_LAST);

    if (fault == VFSEC_PFDRV_FAULT_NONE) {
        g_hash_table_remove(pfdrv->faults, GUINT_TO_POINTER(scope));
        return;
    }
    f = g_new0(Fault, 1);
    f->fault = fault;
    f->remaining = count;
    f->delay_ms = delay_ms;
    g_hash_table_replace(pfdrv->faults, GUINT_TO_POINTER(scope), f);
}

void
vfsec_pfdrv_gate_hold(VfsecPfdrv *pfdrv, guint scope)
{
    g_hash_table_add(pfdrv->gates, GUINT_TO_POINTER(scope));
}

void
vfsec_pfdrv_gate_release(VfsecPfdrv *pfdrv, guint scope)
{
    GQueue release = G_QUEUE_INIT;
    GList *l = pfdrv->held.head;
    Parked *parked;

    g_hash_table_remove(pfdrv->gates, GUINT_TO_POINTER(scope));
    while (l) {
        GList *next = l->next;

        parked = l->data;
        if (!gated(pfdrv, parked->scope)) {
            g_queue_unlink(&pfdrv->held, l);
            g_queue_push_tail_link(&release, l);
        }
        l = next;
    }
    enter(pfdrv);
    while ((parked = g_queue_pop_head(&release))) {
        reply_handle(pfdrv, parked->frame);
        parked_free(parked);
    }
    leave(pfdrv);
}

guint
vfsec_pfdrv_gate_held(VfsecPfdrv *pfdrv, guint scope)
{
    guint n = 0;

    for (GList *l = pfdrv->held.head; l; l = l->next) {
        const Parked *parked = l->data;

        n += scope == VFSEC_PFDRV_PORT || parked->scope == scope;
    }
    return n;
}

/* ---- Life cycle and introspection ---- */

void
vfsec_pfdrv_config_init(VfsecPfdrvConfig *config)
{
    memset(config, 0, sizeof(*config));
    vfsec_wire_tags_init(&config->tags);
    config->l2.tpid = VFSEC_WIRE_TPID_8021Q;
}

VfsecPfdrv *
vfsec_pfdrv_new(const VfsecPfdrvConfig *config, VfsecPfdrvSendFunc send,
                VfsecPfdrvVfLookupFunc lookup, gpointer user_data, GDestroyNotify destroy,
                GError **error)
{
    VfsecPfdrv *pfdrv;

    g_return_val_if_fail(send && lookup, NULL);

    if (!vfsec_wire_tags_check(&config->tags, error))
        return NULL;
    if (config->l2.tpid && config->l2.tpid != VFSEC_WIRE_TPID_8021Q &&
        config->l2.tpid != VFSEC_WIRE_TPID_8021AD) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "port %s: configuration tag TPID 0x%04x is neither 802.1Q nor 802.1ad",
                    config->name ? config->name : "?", config->l2.tpid);
        return NULL;
    }
    if (config->l2.pcp > 7) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "port %s: configuration tag PCP %u is above 7",
                    config->name ? config->name : "?", config->l2.pcp);
        return NULL;
    }

    pfdrv = g_new0(VfsecPfdrv, 1);
    pfdrv->config = *config;
    pfdrv->name = g_strdup(config->name && *config->name ? config->name : "?");
    pfdrv->config.name = pfdrv->name;
    if (!pfdrv->config.retry_ms)
        pfdrv->config.retry_ms = VFSEC_PFDRV_DEFAULT_RETRY_MS;
    if (!pfdrv->config.op_timeout_ms)
        pfdrv->config.op_timeout_ms = VFSEC_PFDRV_DEFAULT_OP_TIMEOUT_MS;
    if (!pfdrv->config.reclaim_timeout_ms)
        pfdrv->config.reclaim_timeout_ms = VFSEC_PFDRV_DEFAULT_RECLAIM_MS;
    if (!pfdrv->config.pipeline)
        pfdrv->config.pipeline = VFSEC_PFDRV_DEFAULT_PIPELINE;
    pfdrv->send = send;
    pfdrv->lookup = lookup;
    pfdrv->user_data = user_data;
    pfdrv->destroy = destroy;
    pfdrv->context = g_main_context_ref_thread_default();
    pfdrv->next_seq = 1;
    pfdrv->slots = g_array_new(FALSE, TRUE, sizeof(Slot));
    pfdrv->keys = vfsec_sa_keytab_new(db_key_at, pfdrv);
    pfdrv->domains = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    pfdrv->pending = g_hash_table_new(NULL, NULL);
    pfdrv->faults = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    pfdrv->gates = g_hash_table_new(NULL, NULL);
    return pfdrv;
}

void
vfsec_pfdrv_free(VfsecPfdrv *pfdrv)
{
    Op *op;

    if (!pfdrv)
        return;
    /* Fail what is still queued; nothing is scheduled any more. */
    pfdrv->scheduling = TRUE;
    while ((op = g_queue_peek_head(&pfdrv->ops))) {
        op_fail(op, g_error_new(VFSEC_ERROR, VFSEC_ERROR_FAILED,
                                "the PF driver of port %s shut down", pfdrv->name));
    }
    source_clear(&pfdrv->done_source);
    while ((op = g_queue_pop_head(&pfdrv->done))) {
        GTask *task = op->task;

        op->pfdrv = NULL;
        if (op->error)
            g_task_return_error(task, g_steal_pointer(&op->error));
        else
            g_task_return_boolean(task, TRUE);
        g_object_unref(task);
    }
    g_queue_clear_full(&pfdrv->held, parked_free);
    g_queue_clear_full(&pfdrv->delayed, parked_free);
    g_queue_clear_full(&pfdrv->inbox, (GDestroyNotify)g_bytes_unref);
    g_hash_table_destroy(pfdrv->domains);
    g_array_unref(pfdrv->slots);
    vfsec_sa_keytab_free(pfdrv->keys);
    g_hash_table_destroy(pfdrv->pending);
    g_hash_table_destroy(pfdrv->faults);
    g_hash_table_destroy(pfdrv->gates);
    if (pfdrv->destroy)
        pfdrv->destroy(pfdrv->user_data);
    g_main_context_unref(pfdrv->context);
    g_free(pfdrv->name);
    g_free(pfdrv);
}

const char *
vfsec_pfdrv_get_name(VfsecPfdrv *pfdrv)
{
    return pfdrv->name;
}

void
vfsec_pfdrv_set_one_op_per_frame(VfsecPfdrv *pfdrv, gboolean one_op_per_frame)
{
    pfdrv->config.one_op_per_frame = one_op_per_frame;
}

guint64
vfsec_pfdrv_get_counter(VfsecPfdrv *pfdrv, VfsecPfdrvCounter counter)
{
    g_return_val_if_fail((guint)counter < VFSEC_PFDRV_COUNTER_LAST, 0);
    return pfdrv->counters[counter];
}

guint
vfsec_pfdrv_in_flight(VfsecPfdrv *pfdrv)
{
    return g_hash_table_size(pfdrv->pending);
}

guint
vfsec_pfdrv_pending_ops(VfsecPfdrv *pfdrv)
{
    return pfdrv->ops.length;
}

gboolean
vfsec_pfdrv_reclaim_pending(VfsecPfdrv *pfdrv, guint vf)
{
    for (GList *l = pfdrv->ops.head; l; l = l->next) {
        const Op *op = l->data;

        if (op->kind == OP_RECLAIM && op->domain == vf)
            return TRUE;
    }
    return FALSE;
}
