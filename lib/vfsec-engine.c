/* vfsec-engine.c: vfsecd's engine — the VF registry, per-VF job queues, the
 * operations on them, the local-MAC tables and reconcile. */

/*
 * Theory of operation
 *
 * Registry: one EnginePf per [pf LABEL] (its plugin, its VFs as the plugin
 * lists them, its local-MAC table), one EngineVf per VF (last known device
 * state, owner with MAC, VLANs and effective policy, published?, queue).
 *
 * Ordering: every request becomes one job per VF concerned, appended to
 * that VF's queue; a VF runs one job at a time, in arrival order, and VFs
 * run independently, so a slow reclaim stalls only its own VF. Conditions
 * (who owns the VF, does the key collide) are checked when the job runs,
 * not when it is queued, so two domains racing for a VF are decided by
 * arrival order. A Batch groups the jobs of one request and completes its
 * GTask when the last job is done; a failed prepare releases the claims its
 * own jobs made.
 *
 * Idempotency: each job compares the wanted state with the registry (and
 * the device's read-back) first and does nothing when they agree, so the
 * hook and the libvirt event may both ask for the same thing.
 *
 * Journal: each action is recorded as an intent before the plugin is asked
 * and marked done after; the assignment (owner, flags) is written when it
 * changes. A reclaim that fails keeps its intent pending: reconcile retries.
 *
 * Local-MAC tables: per PF, pushes are serialized in rounds; requests that
 * arrive during a round share the next one. A round writes the file, then
 * pushes the table with the plugin's generation (compare-and-swap), reading
 * the generation again and retrying once on a conflict.
 *
 * Lifetime: the engine owns a GCancellable that it cancels when freed.
 * Every plugin callback holds the job or round it serves, and the job holds
 * a reference to that cancellable: a callback arriving after the engine is
 * gone sees it cancelled and only releases what it holds.
 */
#include "vfsec-engine.h"

#include <malloc.h>
#include <string.h>

#include "vfsec-error.h"
#include "vfsec-journal.h"
#include "vfsec-macfile.h"
#include "vfsec-topology.h"

typedef struct _EnginePf EnginePf;
typedef struct _EngineVf EngineVf;
typedef struct _VfJob VfJob;
typedef struct _Batch Batch;

/* A domain's claim on a VF, as the engine needs it. */
typedef struct {
    char *name;
    char *uuid;
    gboolean has_mac;
    VfsecMac mac;
    GArray *vlans;              /* guint16 */
    VfsecPolicy policy;         /* effective, every field set */
} Owner;

typedef void (*SyncFunc)(gpointer data, const GError *error);

typedef struct {
    SyncFunc func;
    gpointer data;
} SyncWaiter;

struct _EnginePf {
    VfsecEngine *engine;
    const VfsecConfPf *conf;
    VfsecPlugin *plugin;
    gboolean connected;
    GPtrArray *vfs;             /* EngineVf*, by index */
    VfsecMacTable *table;       /* what the file holds (or is about to) */
    guint64 plugin_generation;  /* the plugin's table generation, last seen */
    GArray *round;              /* SyncWaiter: the push in flight, or NULL */
    GArray *queued;             /* SyncWaiter: waiting for the next push */
};

struct _EngineVf {
    EnginePf *pf;
    guint index;
    char *name;                 /* "VF 0000:03:10.2" or "VF 3 of p0" */
    char *pci;                  /* for log fields, may be NULL */
    VfsecContractVf *state;     /* listed or read back; NULL before the first list */
    gboolean stale;             /* the device may differ from state (VF reset) */
    gboolean owned;
    gint64 claimed_at;          /* monotonic time of the claim */
    Owner own;
    gboolean ready;             /* SAs reclaimed since the claim */
    gboolean published;
    char *last_reclaim;
    gboolean reclaim_pending;   /* the last reclaim failed: reconcile retries it */
    gboolean releasing;         /* owner stopped, libvirt not yet done with the VF */
    GQueue queue;               /* VfJob*, waiting */
    GQueue parked;              /* VfJob*: other domains' prepares waiting for the release */
    VfJob *current;
};

typedef struct {
    char *name;
    char *uuid;
    char *refusal;
    VfsecDomain *defined;       /* what its define said (what checks need), or NULL */
    char *unparsable;           /* why its defined XML could not be parsed, or NULL */
} DomainRecord;

struct _VfsecEngine {
    VfsecConf *conf;
    GPtrArray *plugins;
    GPtrArray *pfs;             /* EnginePf* */
    VfsecJournal *journal;
    GSource *journal_idle;      /* writes the journal's staged changes; NULL: none due */
    GCancellable *alive;
    GHashTable *domains;        /* name -> DomainRecord* */
    VfsecEngineReconnectFunc reconnect_func;
    gpointer reconnect_data;
};

typedef enum {
    JOB_PREPARE,
    JOB_QUARANTINE,
    JOB_PUBLISH,
    JOB_RELEASE,
    JOB_STOP,                   /* stopped hook: reclaim + unpublish, VF stays owned */
    JOB_RECLAIM,
    JOB_REAPPLY,
    JOB_CONVERGE,
    JOB_RECLAIM_FREE,           /* vfsecctl reclaim: a VF nobody owns */
    JOB_ROLLBACK,               /* a refused prepare gives the VF back */
} JobKind;

typedef void (*JobStep)(VfJob *job);

struct _VfJob {
    JobKind kind;
    EngineVf *vf;
    Batch *batch;
    GCancellable *alive;
    Owner own;                  /* the domain the job is for (converge: the desired owner) */
    gboolean has_owner;
    GArray *intents;            /* converge: guint64 pending intents of this VF */
    gboolean pending_reclaim;   /* converge: a reclaim intent is pending */
    JobStep next;               /* continuation of the running primitive */
    guint64 op_intent;          /* the job's own intent (release) */
    GError *error;              /* what the job reports */
    GError *step_error;         /* what the last primitive reported */
    gboolean acted;             /* the last primitive called the plugin */
    guint64 removed;            /* SAs the last reclaim removed */
    GSource *park_timer;        /* parked prepare: its deadline */
    gint64 queued_at;           /* monotonic time the job was queued */
};

typedef void (*BatchDone)(Batch *batch);

struct _Batch {
    VfsecEngine *engine;
    GCancellable *alive;
    GTask *task;                /* NULL for internal work */
    guint pending;
    GError *error;
    GPtrArray *claimed;         /* EngineVf* this batch claimed anew */
    char *domain;               /* for refusals; NULL if none */
    char *domain_uuid;
    VfsecEngineOp op;           /* domain operations */
    BatchDone done;
    VfsecEngineSummary summary;
    guint64 removed;            /* reclaim_vf: SAs removed */
    gint64 listed_at;           /* reconcile: when the running domains were listed */
};

/* ------------------------------------------------------------------ */
/* Small helpers */

static void
owner_clear(Owner *o)
{
    g_clear_pointer(&o->name, g_free);
    g_clear_pointer(&o->uuid, g_free);
    g_clear_pointer(&o->vlans, g_array_unref);
    memset(o, 0, sizeof(*o));
}

static void
owner_copy(Owner *dst, const Owner *src)
{
    owner_clear(dst);
    *dst = *src;
    dst->name = g_strdup(src->name);
    dst->uuid = g_strdup(src->uuid);
    dst->vlans = g_array_copy(src->vlans);
}

static gboolean
owner_is(const Owner *o, const char *name, const char *uuid)
{
    if (o->uuid && uuid)
        return g_ascii_strcasecmp(o->uuid, uuid) == 0;
    return g_strcmp0(o->name, name) == 0;
}

static gboolean
vlans_equal(const GArray *a, const GArray *b)
{
    /* An empty GArray may have no data at all. */
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len * sizeof(guint16)) == 0);
}

/* Same key (MAC, VLANs) and same effective policy. */
static gboolean
owner_same_terms(const Owner *a, const Owner *b)
{
    return a->has_mac == b->has_mac && (!a->has_mac || vfsec_mac_equal(&a->mac, &b->mac)) &&
           vlans_equal(a->vlans, b->vlans) && a->policy.trust == b->policy.trust &&
           a->policy.hairpin == b->policy.hairpin;
}

static char *
vlans_format(const GArray *vlans)
{
    GString *s = g_string_new(NULL);

    if (vlans->len == 0)
        return g_string_free(g_string_append(s, "untagged"), FALSE);
    for (guint i = 0; i < vlans->len; i++)
        g_string_append_printf(s, "%s%u", i ? "," : "", g_array_index(vlans, guint16, i));
    return g_string_free(s, FALSE);
}

static gboolean
engine_dead(GCancellable *alive)
{
    return g_cancellable_is_cancelled(alive);
}

static const char *
level_priority(GLogLevelFlags level)
{
    if (level & G_LOG_LEVEL_WARNING)
        return "4";
    if (level & G_LOG_LEVEL_MESSAGE)
        return "5";
    return "6";
}

/* One audit entry: a structured log record with the fields operators
 * filter on (VFSEC_OP, DOMAIN, PF, VF, COUNT). */
static void G_GNUC_PRINTF(6, 7)
audit(GLogLevelFlags level, const char *op, const EngineVf *vf, const char *domain,
      guint64 count, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;
    g_autofree char *count_str = g_strdup_printf("%" G_GUINT64_FORMAT, count);
    g_autofree char *vf_str = vf ? (vf->pci ? g_strdup(vf->pci) : g_strdup_printf("%u", vf->index))
                                 : g_strdup("");
    GLogField fields[] = {
        { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
        { "PRIORITY", level_priority(level), -1 },
        { "MESSAGE", NULL, -1 },
        { "VFSEC_OP", op, -1 },
        { "DOMAIN", domain ? domain : "", -1 },
        { "PF", vf ? vf->pf->conf->label : "", -1 },
        { "VF", vf_str, -1 },
        { "COUNT", count_str, -1 },
    };

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fields[2].value = msg;
    g_log_structured_array(level, fields, G_N_ELEMENTS(fields));
}

/* ------------------------------------------------------------------ */
/* Registry */

static void
vf_free(EngineVf *vf)
{
    g_free(vf->name);
    g_free(vf->pci);
    g_clear_pointer(&vf->state, vfsec_contract_vf_free);
    owner_clear(&vf->own);
    g_free(vf->last_reclaim);
    g_free(vf);
}

static void
pf_free(EnginePf *pf)
{
    g_ptr_array_unref(pf->vfs);
    vfsec_mac_table_free(pf->table);
    g_clear_pointer(&pf->round, g_array_unref);
    g_clear_pointer(&pf->queued, g_array_unref);
    g_free(pf);
}

static EngineVf *
pf_find_vf(EnginePf *pf, guint index)
{
    for (guint i = 0; i < pf->vfs->len; i++) {
        EngineVf *vf = pf->vfs->pdata[i];

        if (vf->index == index)
            return vf;
    }
    return NULL;
}

/* @vf's state becomes a copy of @st, reusing its record and netdev string. */
static void
vf_state_update(EngineVf *vf, const VfsecContractVf *st)
{
    char *netdev;

    if (!vf->state) {
        vf->state = vfsec_contract_vf_copy(st);
        return;
    }
    /* In place, no copy per listing (1024 VFs per reconcile): netdev is
     * VfsecContractVf's only owned member; a new one must be handled here. */
    netdev = vf->state->netdev;
    if (g_strcmp0(netdev, st->netdev) != 0) {
        g_free(netdev);
        netdev = g_strdup(st->netdev);
    }
    *vf->state = *st;
    vf->state->netdev = netdev;
}

/* Takes the plugin's list: updates known VFs, adds new ones. */
static void
pf_update_vfs(EnginePf *pf, GPtrArray *listed)
{
    for (guint i = 0; i < listed->len; i++) {
        const VfsecContractVf *st = listed->pdata[i];
        EngineVf *vf = pf_find_vf(pf, st->vf);
        char buf[VFSEC_PCI_ADDR_STRLEN];

        if (!vf) {
            vf = g_new0(EngineVf, 1);
            vf->pf = pf;
            vf->index = st->vf;
            g_queue_init(&vf->queue);
            g_ptr_array_add(pf->vfs, vf);
        }
        /* Updated in place: every reconcile lists every VF again, and new
         * copies of these long-lived records, made amid the reconcile's
         * short-lived allocations, would keep the heap from shrinking back. */
        vfsec_pci_addr_format(&st->pci, buf);
        if (!vf->pci || strcmp(vf->pci, buf) != 0) {
            g_free(vf->pci);
            vf->pci = g_strdup(buf);
            g_free(vf->name);
            vf->name = g_strdup_printf("VF %s", vf->pci);
        }
        vf_state_update(vf, st);
        vf->stale = FALSE;
    }
}

static EngineVf *
engine_resolve(VfsecEngine *engine, const VfsecAttachment *att)
{
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        for (guint i = 0; i < pf->vfs->len; i++) {
            EngineVf *vf = pf->vfs->pdata[i];

            if (!vf->state)
                continue;
            if (att->has_pci && vfsec_pci_addr_equal(&att->pci, &vf->state->pci))
                return vf;
            if (!att->has_pci && att->source_dev && vf->state->netdev &&
                strcmp(att->source_dev, vf->state->netdev) == 0)
                return vf;
        }
    }
    return NULL;
}

static void
owner_from_attachment(Owner *o, VfsecEngine *engine, const EngineVf *vf,
                      const VfsecDomain *domain, const VfsecAttachment *att)
{
    owner_clear(o);
    o->name = g_strdup(domain->name);
    o->uuid = g_strdup(domain->uuid);
    o->has_mac = att->has_mac;
    o->mac = att->mac;
    o->vlans = g_array_copy(att->vlans);
    o->policy = vfsec_conf_policy_for(engine->conf, vf->pf->conf->label, att->network,
                                      att->portgroup, &att->written_policy);
}

/* The main loop is idle: what the journal staged goes to its files. */
static gboolean
engine_journal_idle(gpointer data)
{
    VfsecEngine *engine = data;
    g_autoptr(GError) error = NULL;

    g_clear_pointer(&engine->journal_idle, g_source_unref);
    if (!vfsec_journal_write_staged(engine->journal, &error))
        audit(G_LOG_LEVEL_WARNING, "journal", NULL, NULL, 0, "%s", error->message);
    return G_SOURCE_REMOVE;
}

/* Has the journal's staged changes written once the main loop has nothing
 * else to do: after the burst of plugin calls an event causes, not between
 * them. (A failed write stays staged; the next change retries.) */
static void
engine_journal_later(VfsecEngine *engine)
{
    if (engine->journal_idle || !vfsec_journal_has_staged(engine->journal))
        return;
    engine->journal_idle = g_idle_source_new();
    g_source_set_priority(engine->journal_idle, G_PRIORITY_LOW);
    g_source_set_callback(engine->journal_idle, engine_journal_idle, engine, NULL);
    g_source_attach(engine->journal_idle, g_main_context_get_thread_default());
}

/* Records (or replaces) the VF's assignment in the journal, staged (see
 * docs/engine.md, "Crash safety"): it reaches the VF's file with the VF's
 * next intent, which a claim is always followed by (the reclaim's), or
 * when the main loop is idle. What a vfsecd crash can lose that way is the
 * assignment's port and table flags and a release's forgetting of the
 * owner; reconcile re-derives all three (it re-reads the port, rebuilds the
 * table, releases an owner that is not running). */
static gboolean vf_port_ok(EngineVf *vf);

static gboolean
vf_save(EngineVf *vf, GError **error)
{
    VfsecEngine *engine = vf->pf->engine;
    VfsecJournal *journal = engine->journal;
    g_autoptr(VfsecJournalAssignment) a = NULL;
    gboolean ok;

    if (!vf->owned) {
        ok = vfsec_journal_stage_clear_assignment(journal, vf->pf->conf->label, vf->index,
                                                  error);
        engine_journal_later(engine);
        return ok;
    }
    a = vfsec_journal_assignment_new(vf->pf->conf->label, vf->index);
    if (vf->state) {
        a->has_pci = TRUE;
        a->pci = vf->state->pci;
    }
    a->owner_name = g_strdup(vf->own.name);
    a->owner_uuid = g_strdup(vf->own.uuid);
    a->has_mac = vf->own.has_mac;
    a->mac = vf->own.mac;
    g_array_append_vals(a->vlans, vf->own.vlans->data, vf->own.vlans->len);
    a->trust = vf->own.policy.trust;
    a->quarantined = vf_port_ok(vf);
    a->published = vf->published;
    ok = vfsec_journal_stage_assignment(journal, a, error);
    engine_journal_later(engine);
    return ok;
}

/* Saves, logging a failure: for paths that must go on (release, reconcile). */
static void
vf_save_or_log(EngineVf *vf, const char *op)
{
    g_autoptr(GError) error = NULL;

    if (!vf_save(vf, &error))
        audit(G_LOG_LEVEL_WARNING, op, vf, vf->own.name, 0, "%s", error->message);
}

/* ------------------------------------------------------------------ */
/* Desired port settings */

/* The port settings the engine wants on @vf. Untrusted (and unowned) VFs:
 * the quarantine tag, trust off, spoofchk on. Trusted VFs: no port tag (so
 * their metadata frames reach the agent) unless libvirt set the domain's
 * <vlan> as the port tag, which is left alone; trust stays off and spoofchk
 * on for every VF, so the MAC the key check saw is the one on the wire. */
static VfsecContractSetVfFields
vf_desired(const EngineVf *vf, VfsecContractVf *want)
{
    const VfsecConf *conf = vf->pf->engine->conf;
    VfsecContractSetVfFields fields = VFSEC_CONTRACT_SET_VF_TRUST | VFSEC_CONTRACT_SET_VF_SPOOFCHK;
    gboolean trusted = vf->owned && vf->own.policy.trust == VFSEC_TRUST_TRUSTED;

    want->port = vf->pf->plugin->port ? vf->pf->plugin->port->port : 0;
    want->vf = vf->index;
    want->trust = FALSE;
    want->spoofchk = TRUE;
    want->has_port_tag = FALSE;
    if (!trusted) {
        fields |= VFSEC_CONTRACT_SET_VF_PORT_TAG;
        want->has_port_tag = TRUE;
        want->port_tag.tpid = conf->tpid;
        want->port_tag.vid = conf->metadata_vid;
        want->port_tag.pcp = conf->pcp;
    } else if (vf->own.vlans->len == 0) {
        fields |= VFSEC_CONTRACT_SET_VF_PORT_TAG;
    }
    return fields;
}

/* The first field of @fields where @have differs from @want, or NULL. */
static const char *
port_mismatch(VfsecContractSetVfFields fields, const VfsecContractVf *want,
              const VfsecContractVf *have)
{
    if ((fields & VFSEC_CONTRACT_SET_VF_PORT_TAG) &&
        (want->has_port_tag != have->has_port_tag ||
         (want->has_port_tag && !vfsec_contract_port_tag_equal(&want->port_tag, &have->port_tag))))
        return "port tag";
    if ((fields & VFSEC_CONTRACT_SET_VF_TRUST) && want->trust != have->trust)
        return "trust";
    if ((fields & VFSEC_CONTRACT_SET_VF_SPOOFCHK) && want->spoofchk != have->spoofchk)
        return "spoofchk";
    return NULL;
}

static gboolean
vf_port_ok(EngineVf *vf)
{
    VfsecContractVf want = { 0 };
    VfsecContractSetVfFields fields;

    if (!vf->state || vf->stale)
        return FALSE;
    fields = vf_desired(vf, &want);
    return port_mismatch(fields, &want, vf->state) == NULL;
}

/* ------------------------------------------------------------------ */
/* Batches and jobs */

static Batch *
batch_new(VfsecEngine *engine, GTask *task, BatchDone done)
{
    Batch *b = g_new0(Batch, 1);

    b->engine = engine;
    b->alive = g_object_ref(engine->alive);
    b->task = task;
    b->claimed = g_ptr_array_new();
    b->done = done;
    b->pending = 1;             /* the setup's own hold */
    return b;
}

static void
batch_free(Batch *b)
{
    g_clear_object(&b->task);
    g_clear_object(&b->alive);
    g_clear_error(&b->error);
    g_ptr_array_unref(b->claimed);
    g_free(b->domain);
    g_free(b->domain_uuid);
    g_free(b);
}

static void
batch_fail(Batch *b, GError *error)
{
    if (!error)
        return;
    if (!b->error)
        b->error = error;
    else
        g_error_free(error);
}

static void queue_owner_job_for(Batch *b, EngineVf *vf, JobKind kind, const char *name,
                                const char *uuid);
static void batch_release(Batch *b, GError *error);
static void batch_return(Batch *b);

/* Undoes the claims of a failed prepare: each VF the batch claimed gets a
 * rollback job (unpublish, give back, quarantine again) behind whatever its
 * queue already holds for the domain — a quarantine or publish queued with
 * the prepare may have run on a VF whose own prepare succeeded. The refusal
 * does not wait for them: the owner is cleared as soon as the VF's queue
 * reaches the job, and a port that cannot be set stays pending for
 * reconcile. */
static void
batch_rollback(Batch *b)
{
    Batch *undo = batch_new(b->engine, NULL, batch_return);

    for (guint i = 0; i < b->claimed->len; i++) {
        EngineVf *vf = b->claimed->pdata[i];

        if (!vf->owned || !owner_is(&vf->own, b->domain, b->domain_uuid))
            continue;
        queue_owner_job_for(undo, vf, JOB_ROLLBACK, b->domain, b->domain_uuid);
    }
    batch_release(undo, NULL);
}

static void
batch_return(Batch *b)
{
    if (b->task) {
        if (b->error)
            g_task_return_error(b->task, g_steal_pointer(&b->error));
        else
            g_task_return_boolean(b->task, TRUE);
    }
    batch_free(b);
}

/* The record of domain @name, created empty if there is none. */
static DomainRecord *
engine_record(VfsecEngine *engine, const char *name)
{
    DomainRecord *rec = g_hash_table_lookup(engine->domains, name);

    if (!rec) {
        rec = g_new0(DomainRecord, 1);
        rec->name = g_strdup(name);
        g_hash_table_insert(engine->domains, rec->name, rec);
    }
    return rec;
}

/* The default completion of a domain operation. */
static void
batch_done_domain(Batch *b)
{
    VfsecEngine *engine = b->engine;

    if (b->error)
        audit(G_LOG_LEVEL_MESSAGE, "refuse", NULL, b->domain, 0, "%s of domain %s refused: %s",
              vfsec_engine_op_to_string(b->op), b->domain, b->error->message);
    if (b->error && b->claimed->len > 0)
        batch_rollback(b);
    if (b->domain) {
        DomainRecord *rec = engine_record(engine, b->domain);

        g_free(rec->uuid);
        rec->uuid = g_strdup(b->domain_uuid);
        if (b->error) {
            g_free(rec->refusal);
            rec->refusal = g_strdup(b->error->message);
        } else if (b->op == VFSEC_ENGINE_OP_PREPARE) {
            g_clear_pointer(&rec->refusal, g_free);
        }
        /* A transient domain is never UNDEFINED: its stop is the end of it,
         * or records would pile up for every transient domain ever run. */
        if (!b->error && b->op == VFSEC_ENGINE_OP_RELEASE && !rec->defined && !rec->unparsable)
            g_hash_table_remove(engine->domains, b->domain);
    }
    batch_return(b);
}

static void
batch_hold(Batch *b)
{
    b->pending++;
}

/* Drops one hold; the last one completes the batch. */
static void
batch_release(Batch *b, GError *error)
{
    batch_fail(b, error);
    if (--b->pending > 0)
        return;
    if (engine_dead(b->alive)) {
        if (b->task)
            g_task_return_new_error(b->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                    "vfsecd's engine stopped");
        batch_free(b);
        return;
    }
    b->done(b);
}

static VfJob *
job_new(Batch *b, JobKind kind, EngineVf *vf)
{
    VfJob *job = g_new0(VfJob, 1);

    job->kind = kind;
    job->vf = vf;
    job->batch = b;
    job->alive = g_object_ref(b->alive);
    job->queued_at = g_get_monotonic_time();
    batch_hold(b);
    return job;
}

static void
job_free(VfJob *job)
{
    owner_clear(&job->own);
    if (job->park_timer) {
        g_source_destroy(job->park_timer);
        g_source_unref(job->park_timer);
    }
    g_clear_pointer(&job->intents, g_array_unref);
    g_clear_error(&job->error);
    g_clear_error(&job->step_error);
    g_object_unref(job->alive);
    g_free(job);
}

static void vf_run_next(EngineVf *vf);

/* The engine is gone: give the batch its hold back, touch nothing else. */
static void
job_abandon(VfJob *job)
{
    Batch *b = job->batch;

    job_free(job);
    batch_release(b, NULL);
}

static void
job_finish(VfJob *job)
{
    EngineVf *vf = job->vf;
    Batch *b = job->batch;
    GError *error = g_steal_pointer(&job->error);

    if (engine_dead(job->alive)) {
        g_clear_error(&error);
        job_abandon(job);
        return;
    }
    vf->current = NULL;
    job_free(job);
    vf_run_next(vf);
    batch_release(b, error);
}

static void job_start(VfJob *job);

static void
vf_run_next(EngineVf *vf)
{
    if (vf->current)
        return;
    vf->current = g_queue_pop_head(&vf->queue);
    if (vf->current)
        job_start(vf->current);
}

static void
vf_enqueue(EngineVf *vf, VfJob *job)
{
    g_queue_push_tail(&vf->queue, job);
    vf_run_next(vf);
}

static const char *
job_owner_name(VfJob *job)
{
    return job->own.name ? job->own.name : job->vf->own.name;
}

/* Records an intent; FALSE (and step_error) if the journal refused. */
static gboolean
job_intent(VfJob *job, VfsecJournalOpKind kind, guint64 *id)
{
    EngineVf *vf = job->vf;
    const char *name = job_owner_name(job);
    const char *uuid = job->own.name ? job->own.uuid : vf->own.uuid;

    return vfsec_journal_record_intent(vf->pf->engine->journal, kind, vf->pf->conf->label,
                                       vf->index, name, uuid, id, &job->step_error);
}

/* Marks an intent done. @now: written before the caller goes on — a
 * reclaim's, whose replay after a vfsecd crash would remove the SAs of a
 * guest that runs by then; otherwise staged (a replayed release finds the
 * VF given back and does nothing). */
static void
job_done_intent(VfJob *job, guint64 id, gboolean now)
{
    VfsecEngine *engine = job->vf->pf->engine;
    g_autoptr(GError) error = NULL;
    gboolean ok = now ? vfsec_journal_mark_done(engine->journal, id, &error)
                      : vfsec_journal_stage_done(engine->journal, id, &error);

    if (!ok)
        audit(G_LOG_LEVEL_WARNING, "journal", job->vf, job_owner_name(job), 0, "%s",
              error->message);
    engine_journal_later(engine);
}

/* ------------------------------------------------------------------ */
/* Deadlines on plugin calls.
 *
 * A PF driver that never answers must not hold a VF's queue forever: every
 * plugin call the engine makes goes through a Watch, which completes it with
 * a VFSEC_ERROR_TIMEOUT naming the PF, the VF and the plugin when no answer
 * came within the deadline, and cancels the call. An answer that arrives
 * later is dropped. The deadline lies halfway between [timeouts] pf-reclaim
 * (the PF driver's own bound, whose verdict should arrive first) and
 * daemon-request (so the hook gets the engine's reason, not a bare
 * timeout). */

/* @result is NULL and @expired set when the deadline passed first. */
typedef void (*WatchFunc)(GObject *source, GAsyncResult *result, const GError *expired,
                          gpointer data);

typedef struct {
    WatchFunc func;
    gpointer data;
    GCancellable *cancellable;  /* handed to the plugin; cancelled on expiry */
    GSource *timer;
    gboolean fired;             /* func ran */
    guint refs;                 /* the plugin's callback and the timer */
    char *what;                 /* "reclaim of VF 0000:03:10.1" */
    char *pf;
    char *plugin;
    guint deadline_ms;
} Watch;

static void
watch_unref(Watch *w)
{
    if (--w->refs > 0)
        return;
    g_object_unref(w->cancellable);
    if (w->timer) {
        g_source_destroy(w->timer);
        g_source_unref(w->timer);
    }
    g_free(w->what);
    g_free(w->pf);
    g_free(w->plugin);
    g_free(w);
}

static gboolean
watch_expired(gpointer data)
{
    Watch *w = data;
    g_autoptr(GError) error = NULL;

    g_clear_pointer(&w->timer, g_source_unref);
    if (!w->fired) {
        w->fired = TRUE;
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT,
                    "PF %s: the %s plugin gave no answer to the %s within %u ms", w->pf,
                    w->plugin, w->what, w->deadline_ms);
        g_cancellable_cancel(w->cancellable);
        w->func(NULL, NULL, error, w->data);
    }
    watch_unref(w);
    return G_SOURCE_REMOVE;
}

static void
watch_answered(GObject *source, GAsyncResult *result, gpointer data)
{
    Watch *w = data;

    if (!w->fired) {
        w->fired = TRUE;
        if (w->timer) {
            g_source_destroy(w->timer);
            g_clear_pointer(&w->timer, g_source_unref);
            w->refs--;          /* the timer's */
        }
        w->func(source, result, NULL, w->data);
    }
    watch_unref(w);
}

/* The deadline of one plugin call (see above). */
static guint
engine_call_deadline(const VfsecConf *conf)
{
    return conf->pf_reclaim_ms + (conf->daemon_request_ms - conf->pf_reclaim_ms) / 2;
}

/* Starts watching a call to @pf's plugin about @what; pass watch_answered
 * and the Watch as the call's callback and data, w->cancellable as its
 * cancellable. */
static Watch * G_GNUC_PRINTF(4, 5)
watch_new(EnginePf *pf, WatchFunc func, gpointer data, const char *fmt, ...)
{
    Watch *w = g_new0(Watch, 1);
    va_list ap;

    va_start(ap, fmt);
    w->what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    w->func = func;
    w->data = data;
    w->cancellable = g_cancellable_new();
    w->pf = g_strdup(pf->conf->label);
    w->plugin = g_strdup(pf->plugin->ops->kind);
    w->deadline_ms = engine_call_deadline(pf->engine->conf);
    w->refs = 2;
    w->timer = g_timeout_source_new(w->deadline_ms);
    g_source_set_callback(w->timer, watch_expired, w, NULL);
    g_source_attach(w->timer, g_main_context_get_thread_default());
    return w;
}

/* ------------------------------------------------------------------ */
/* Primitive: reclaim the VF's SAs. Sets step_error on failure (the intent
 * then stays pending). */

typedef struct {
    VfJob *job;
    guint64 intent;
} ReclaimCall;

static void
job_reclaim_cb(GObject *source, GAsyncResult *result, const GError *expired, gpointer data)
{
    g_autofree ReclaimCall *call = data;
    VfJob *job = call->job;
    EngineVf *vf;
    VfsecContractReclaim out = { 0 };
    guint timeout;

    (void)source;
    if (engine_dead(job->alive)) {
        job_abandon(job);
        return;
    }
    vf = job->vf;
    timeout = vf->pf->engine->conf->pf_reclaim_ms;
    if (expired) {
        job->step_error = g_error_copy(expired);
    } else if (!vfsec_plugin_reclaim_vf_finish(vf->pf->plugin, result, &out, &job->step_error)) {
        g_prefix_error(&job->step_error, "%s: reclaim failed: ", vf->name);
    } else if (out.remaining > 0) {
        g_set_error(&job->step_error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT,
                    "%s still holds %" G_GUINT64_FORMAT " SAs after %u ms", vf->name,
                    out.remaining, timeout);
    }
    g_free(vf->last_reclaim);
    if (job->step_error) {
        /* The intent stays pending: reconcile reclaims again. */
        vf->reclaim_pending = TRUE;
        vf->last_reclaim = g_strdup(job->step_error->message);
        audit(G_LOG_LEVEL_WARNING, "reclaim", vf, job_owner_name(job), out.remaining, "%s",
              job->step_error->message);
    } else {
        vf->reclaim_pending = FALSE;
        job->removed = out.removed;
        vf->last_reclaim = g_strdup_printf("removed %" G_GUINT64_FORMAT, out.removed);
        if (vf->state)
            vf->state->sa_count = 0;
        /* Written now where a guest may run (prepare, reboot, reconcile): a
         * replay after a vfsecd crash would remove its SAs. A stopped
         * domain's (release, stop) is staged: any later claim of the VF
         * writes its file, this done included, before its own reclaim. */
        job_done_intent(job, call->intent, job->kind != JOB_RELEASE && job->kind != JOB_STOP);
        audit(G_LOG_LEVEL_MESSAGE, "reclaim", vf, job_owner_name(job), out.removed,
              "%s: %" G_GUINT64_FORMAT " SAs reclaimed", vf->name, out.removed);
        if (!vf->pf->plugin->caps.reclaims_sas) {
            /* The reset ran, but this driver does not vouch that it drops
             * SAs: the caller decides (fail-closed PF: refused). Retrying
             * would not change that, so nothing stays pending. */
            g_set_error(&job->step_error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                        "%s: PF %s was reset, but its %s plugin cannot vouch that the "
                        "reset removes SAs", vf->name, vf->pf->conf->label,
                        vf->pf->plugin->ops->kind);
            audit(G_LOG_LEVEL_WARNING, "reclaim", vf, job_owner_name(job), 0, "%s",
                  job->step_error->message);
        }
    }
    job->next(job);
}

static void
job_reclaim(VfJob *job, JobStep next)
{
    EngineVf *vf = job->vf;
    ReclaimCall *call = g_new0(ReclaimCall, 1);
    Watch *w;

    job->next = next;
    g_clear_error(&job->step_error);
    call->job = job;
    if (!job_intent(job, VFSEC_JOURNAL_OP_RECLAIM, &call->intent)) {
        g_free(call);
        next(job);
        return;
    }
    w = watch_new(vf->pf, job_reclaim_cb, call, "reclaim of %s", vf->name);
    vfsec_plugin_reclaim_vf_async(vf->pf->plugin, vf->index,
                                  vf->pf->engine->conf->pf_reclaim_ms, w->cancellable,
                                  watch_answered, w);
}

/* ------------------------------------------------------------------ */
/* Primitive: apply the desired port settings (if they differ) and verify
 * the read-back. job->acted tells whether the plugin was called. */

/* No intent is journaled for port settings nor for the local-MAC table
 * (publish, unpublish): both are idempotent and re-derived by every
 * reconcile — the one at start-up included — from the owners and the
 * device's read-back, so after a vfsecd crash an intent would only repeat
 * what reconcile does anyway; the engine acts at once (docs/engine.md,
 * "Crash safety"). */
typedef struct {
    VfJob *job;
    VfsecContractSetVfFields fields;
    VfsecContractVf want;
} PortCall;

static void
job_port_cb(GObject *source, GAsyncResult *result, const GError *expired, gpointer data)
{
    g_autofree PortCall *call = data;
    VfJob *job = call->job;
    EngineVf *vf;
    g_autoptr(VfsecContractVf) have = NULL;
    const char *field;

    (void)source;
    if (engine_dead(job->alive)) {
        job_abandon(job);
        return;
    }
    vf = job->vf;
    if (expired)
        job->step_error = g_error_copy(expired);
    else
        have = vfsec_plugin_set_vf_finish(vf->pf->plugin, result, &job->step_error);
    if (!have && !expired) {
        g_prefix_error(&job->step_error, "%s: setting the port failed: ", vf->name);
    } else if (have && (field = port_mismatch(call->fields, &call->want, have))) {
        g_set_error(&job->step_error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                    "%s reads back a different %s than was set", vf->name, field);
    }
    if (have) {
        g_clear_pointer(&vf->state, vfsec_contract_vf_free);
        vf->state = g_steal_pointer(&have);
        vf->stale = FALSE;
    }
    if (job->step_error) {
        audit(G_LOG_LEVEL_WARNING, "quarantine", vf, job_owner_name(job), 0, "%s",
              job->step_error->message);
    } else {
        audit(G_LOG_LEVEL_MESSAGE, "quarantine", vf, job_owner_name(job), 1,
              "%s: %s", vf->name,
              call->want.has_port_tag ? "quarantine tag set, trust off, spoofchk on"
                                      : "no port tag, trust off, spoofchk on");
    }
    if (vf->owned)
        vf_save_or_log(vf, "quarantine");
    job->next(job);
}

static void
job_apply_port(VfJob *job, JobStep next)
{
    EngineVf *vf = job->vf;
    PortCall *call;
    Watch *w;

    job->next = next;
    job->acted = FALSE;
    g_clear_error(&job->step_error);
    if (vf_port_ok(vf)) {
        next(job);
        return;
    }
    call = g_new0(PortCall, 1);
    call->job = job;
    call->fields = vf_desired(vf, &call->want);
    if (call->want.has_port_tag && call->want.port_tag.tpid == VFSEC_TPID_8021AD &&
        !vf->pf->plugin->caps.port_tag_8021ad) {
        g_set_error(&job->step_error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "%s: PF %s does not accept an 802.1ad port tag", vf->name,
                    vf->pf->conf->label);
        g_free(call);
        next(job);
        return;
    }
    job->acted = TRUE;
    w = watch_new(vf->pf, job_port_cb, call, "port settings of %s", vf->name);
    vfsec_plugin_set_vf_async(vf->pf->plugin, call->fields, &call->want, w->cancellable,
                              watch_answered, w);
}

/* ------------------------------------------------------------------ */
/* Local-MAC tables */

static VfsecContractMacTable *
pf_contract_table(EnginePf *pf, guint64 generation)
{
    VfsecContractMacTable *t = vfsec_contract_mac_table_new(generation);
    VfsecContractMacEntry *last = NULL;

    /* The file has one entry per MAC + tag; the contract one per MAC with
     * every tag it is reachable with. The file is sorted by MAC. */
    for (guint i = 0; i < pf->table->entries->len; i++) {
        const VfsecMacEntry *e = pf->table->entries->pdata[i];

        if (!last || !vfsec_mac_equal(&last->mac, &e->mac)) {
            last = vfsec_contract_mac_entry_new(&e->mac);
            g_ptr_array_add(t->entries, last);
        }
        for (guint k = 0; k < e->n_tags; k++)
            vfsec_contract_mac_entry_add_tag(last, e->tags[k].tpid, e->tags[k].vid);
    }
    return t;
}

/* Adds the VF's owner's MAC (once per VLAN, or untagged) to its table. */
static gboolean
pf_table_add(EnginePf *pf, EngineVf *vf, GError **error)
{
    guint n = MAX(vf->own.vlans->len, 1);

    for (guint i = 0; i < n; i++) {
        VfsecMacEntry *e = vfsec_mac_entry_new(&vf->own.mac);

        if (vf->own.vlans->len > 0) {
            e->n_tags = 1;
            e->tags[0].tpid = VFSEC_TPID_8021Q;
            e->tags[0].vid = g_array_index(vf->own.vlans, guint16, i);
        }
        e->vf = (int)vf->index;
        e->owner_name = g_strdup(vf->own.name);
        e->owner_uuid = g_strdup(vf->own.uuid);
        if (!vfsec_mac_table_add(pf->table, e, error)) {
            vfsec_mac_table_remove_vf(pf->table, (int)vf->index);
            return FALSE;
        }
    }
    return TRUE;
}

typedef struct {
    EnginePf *pf;
    GCancellable *alive;
    gboolean retried;
    VfsecContractMacTable *table;
} SyncCall;

static void pf_sync_round(EnginePf *pf);

static void
pf_round_done(EnginePf *pf, const GError *error)
{
    g_autoptr(GArray) round = g_steal_pointer(&pf->round);

    for (guint i = 0; i < round->len; i++) {
        SyncWaiter *w = &g_array_index(round, SyncWaiter, i);

        w->func(w->data, error);
    }
    if (!pf->round && pf->queued) {
        pf->round = g_steal_pointer(&pf->queued);
        pf_sync_round(pf);
    }
}

static void sync_set(SyncCall *call);

static void
sync_call_free(SyncCall *call)
{
    g_object_unref(call->alive);
    vfsec_contract_mac_table_free(call->table);
    g_free(call);
}

static void
sync_get_cb(GObject *source, GAsyncResult *result, const GError *expired, gpointer data)
{
    SyncCall *call = data;
    g_autoptr(VfsecContractMacTable) now = NULL;
    g_autoptr(GError) error = NULL;
    EnginePf *pf = call->pf;

    (void)source;
    if (engine_dead(call->alive)) {
        sync_call_free(call);
        return;
    }
    if (expired)
        error = g_error_copy(expired);
    else
        now = vfsec_plugin_get_macs_finish(pf->plugin, result, &error);
    if (!now) {
        sync_call_free(call);
        g_prefix_error(&error, "PF %s: reading the local-MAC table failed: ", pf->conf->label);
        pf_round_done(pf, error);
        return;
    }
    call->table->generation = now->generation;
    sync_set(call);
}

static void
sync_set_cb(GObject *source, GAsyncResult *result, const GError *expired, gpointer data)
{
    SyncCall *call = data;
    g_autoptr(GError) error = NULL;
    EnginePf *pf = call->pf;
    guint64 generation = 0;

    (void)source;
    if (engine_dead(call->alive)) {
        sync_call_free(call);
        return;
    }
    if (expired)
        error = g_error_copy(expired);
    if (expired || !vfsec_plugin_set_macs_finish(pf->plugin, result, &generation, &error)) {
        if (!call->retried && g_error_matches(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT)) {
            /* Someone else changed the table (an agent reset re-programmed
             * it): read the generation and push ours over it, once. */
            Watch *w = watch_new(pf, sync_get_cb, call, "local-MAC table read");

            call->retried = TRUE;
            vfsec_plugin_get_macs_async(pf->plugin, w->cancellable, watch_answered, w);
            return;
        }
        sync_call_free(call);
        g_prefix_error(&error, "PF %s: pushing the local-MAC table failed: ", pf->conf->label);
        pf_round_done(pf, error);
        return;
    }
    sync_call_free(call);
    pf->plugin_generation = generation;
    audit(G_LOG_LEVEL_MESSAGE, "publish-table", NULL, NULL, pf->table->entries->len,
          "PF %s: local-MAC table of %u entries pushed, generation %" G_GUINT64_FORMAT,
          pf->conf->label, pf->table->entries->len, generation);
    pf_round_done(pf, NULL);
}

static void
sync_set(SyncCall *call)
{
    EnginePf *pf = call->pf;
    Watch *w = watch_new(pf, sync_set_cb, call, "local-MAC table push");

    vfsec_plugin_set_macs_async(pf->plugin, call->table, w->cancellable, watch_answered, w);
}

static void
pf_sync_round(EnginePf *pf)
{
    g_autoptr(GError) error = NULL;
    SyncCall *call;

    if (!vfsec_macfile_write(pf->engine->conf->local_macs_dir, pf->table, &error)) {
        pf_round_done(pf, error);
        return;
    }
    if (!pf->connected || !pf->plugin->caps.local_macs) {
        pf_round_done(pf, NULL);
        return;
    }
    call = g_new0(SyncCall, 1);
    call->pf = pf;
    call->alive = g_object_ref(pf->engine->alive);
    call->table = pf_contract_table(pf, pf->plugin_generation);
    sync_set(call);
}

/* Writes the table file and pushes the table; @func runs when a push that
 * started after this call has completed. */
static void
pf_sync(EnginePf *pf, SyncFunc func, gpointer data)
{
    SyncWaiter w = { func, data };

    if (pf->round) {
        if (!pf->queued)
            pf->queued = g_array_new(FALSE, FALSE, sizeof(SyncWaiter));
        g_array_append_val(pf->queued, w);
        return;
    }
    pf->round = g_array_new(FALSE, FALSE, sizeof(SyncWaiter));
    g_array_append_val(pf->round, w);
    pf_sync_round(pf);
}

static void
job_sync_cb(gpointer data, const GError *error)
{
    VfJob *job = data;

    if (engine_dead(job->alive)) {
        job_abandon(job);
        return;
    }
    if (error)
        job->step_error = g_error_copy(error);
    job->next(job);
}

/* Primitive: sync the VF's table (no intent: see PortCall). */
static void
job_sync(VfJob *job, JobStep next)
{
    job->next = next;
    pf_sync(job->vf->pf, job_sync_cb, job);
}

static gboolean
vf_wants_published(const EngineVf *vf)
{
    return vf->owned && !vf->releasing && vf->pf->conf->hairpin && vf->own.policy.hairpin &&
           vf->own.has_mac;
}

/* ------------------------------------------------------------------ */
/* Jobs */

static gboolean
job_owns(VfJob *job)
{
    return job->vf->owned && owner_is(&job->vf->own, job->own.name, job->own.uuid);
}

static void
job_take_step_error(VfJob *job)
{
    if (job->step_error && !job->error)
        job->error = g_steal_pointer(&job->step_error);
    g_clear_error(&job->step_error);
}

static void
job_finish_step(VfJob *job)
{
    job_take_step_error(job);
    job_finish(job);
}

/* The key (MAC + VLANs) of @own collides with another owner on the port or
 * the PF's own MAC. */
static gboolean
prepare_check_key(EngineVf *vf, const Owner *own, GError **error)
{
    EnginePf *pf = vf->pf;
    char mbuf[VFSEC_MAC_STRLEN];
    g_autofree char *vlans = NULL;

    if (!own->has_mac)
        return TRUE;
    vlans = vlans_format(own->vlans);
    for (guint i = 0; i < pf->vfs->len; i++) {
        EngineVf *other = pf->vfs->pdata[i];

        if (other == vf || !other->owned || !other->own.has_mac ||
            !vfsec_mac_equal(&other->own.mac, &own->mac) ||
            !vlans_equal(other->own.vlans, own->vlans))
            continue;
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "%s: MAC %s (%s) of domain %s collides with domain %s on %s", vf->name,
                    vfsec_mac_format(&own->mac, mbuf), vlans, own->name, other->own.name,
                    other->name);
        return FALSE;
    }
    if (own->vlans->len == 0 && pf->plugin->port &&
        vfsec_mac_equal(&pf->plugin->port->pf_mac, &own->mac)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "%s: MAC %s of domain %s collides with PF %s's own MAC", vf->name,
                    vfsec_mac_format(&own->mac, mbuf), own->name, pf->conf->label);
        return FALSE;
    }
    return TRUE;
}

/* A PF driver that failed: with fail-closed (the default) the domain's
 * operation fails; without, the failure is logged (its intent stays pending
 * for reconcile) and the domain goes on unprotected, as configured. */
static void
job_pf_failure(VfJob *job)
{
    EngineVf *vf = job->vf;

    if (!job->step_error || vf->pf->conf->fail_closed)
        return;
    audit(G_LOG_LEVEL_WARNING, "fail-open", vf, job_owner_name(job), 0,
          "%s (PF %s is not fail-closed: going on)", job->step_error->message,
          vf->pf->conf->label);
    g_clear_error(&job->step_error);
}

static void
prepare_reclaimed(VfJob *job)
{
    EngineVf *vf = job->vf;

    job_pf_failure(job);
    if (!job->step_error) {
        vf->ready = TRUE;
        audit(G_LOG_LEVEL_MESSAGE, "prepare", vf, vf->own.name, 1, "%s ready for domain %s",
              vf->name, vf->own.name);
    }
    job_finish_step(job);
}

static void job_unpublish(VfJob *job, JobStep next);

static void
prepare_unpublished(VfJob *job)
{
    job_pf_failure(job);
    vf_save_or_log(job->vf, "prepare");
    job_finish_step(job);
}

/*
 * Releasing VFs. libvirt tears a stopped domain's devices down after its
 * stopped hook (hostdev reattach, MAC and VLAN restore from the file it
 * saved at the start) and runs the release hook after that. A VF handed to
 * another domain at `stopped` would have that domain's MAC overwritten by
 * the restore. So at `stopped` the owner's SAs are reclaimed and its MAC
 * unpublished at once, but the VF stays the stopped domain's, "releasing",
 * until the release hook, the STOPPED event or a reconcile says libvirt is
 * done with it. Another domain's prepare that finds it releasing is parked:
 * taken off the queue (so that the release itself can run) until the VF is
 * given back, then put back at the head of the queue; at its deadline it is
 * refused, naming the VF and the domain that holds it.
 */

static gboolean
park_expired(gpointer data)
{
    VfJob *job = data;
    EngineVf *vf = job->vf;
    Batch *b = job->batch;
    GError *error;

    g_queue_remove(&vf->parked, job);
    g_clear_pointer(&job->park_timer, g_source_unref);  /* removed by returning */
    /* Its domain's jobs parked behind it have nothing to act on now. */
    for (GList *l = vf->parked.head, *next; l; l = next) {
        VfJob *behind = l->data;

        next = l->next;
        if (!behind->park_timer && owner_is(&behind->own, job->own.name, job->own.uuid)) {
            g_queue_delete_link(&vf->parked, l);
            job_abandon(behind);
        }
    }
    error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_TIMEOUT,
                        "%s is still being released by stopped domain %s: libvirt did not "
                        "let go of it (no release hook, no STOPPED event) within %u ms",
                        vf->name, vf->own.name, engine_call_deadline(vf->pf->engine->conf));
    audit(G_LOG_LEVEL_WARNING, "prepare", vf, job->own.name, 0, "%s", error->message);
    job_free(job);
    batch_release(b, error);
    return G_SOURCE_REMOVE;
}

/* The running job @job, a prepare of another domain, waits off the queue
 * until the VF is given back, within the deadline of the request (counted
 * from when it was queued, so that the refusal reaches the hook before the
 * daemon's own bound). */
static void
prepare_park(VfJob *job)
{
    EngineVf *vf = job->vf;
    guint deadline = engine_call_deadline(vf->pf->engine->conf);
    gint64 waited = (g_get_monotonic_time() - job->queued_at) / 1000;

    audit(G_LOG_LEVEL_MESSAGE, "prepare", vf, job->own.name, 0,
          "%s: domain %s waits until libvirt has released it from stopped domain %s",
          vf->name, job->own.name, vf->own.name);
    job->park_timer = g_timeout_source_new(waited < deadline ? deadline - (guint)waited : 1);
    g_source_set_callback(job->park_timer, park_expired, job, NULL);
    g_source_attach(job->park_timer, g_main_context_get_thread_default());
    g_queue_push_tail(&vf->parked, job);
    vf->current = NULL;
    vf_run_next(vf);
}

/* The VF is not releasing any more (given back, or its owner started
 * again): the parked prepares go back to the head of the queue, in their
 * order, and run after the current job. */
static void
vf_unpark(EngineVf *vf)
{
    VfJob *job;

    vf->releasing = FALSE;
    while ((job = g_queue_pop_tail(&vf->parked))) {
        if (job->park_timer) {
            g_source_destroy(job->park_timer);
            g_clear_pointer(&job->park_timer, g_source_unref);
        }
        g_queue_push_head(&vf->queue, job);
    }
}

/* A job of a domain whose prepare is parked on the VF (its quarantine and
 * publish, queued with the prepare) waits behind it, without a deadline of
 * its own: it runs after the prepare, or goes with it. */
static gboolean
vf_park_behind(EngineVf *vf, VfJob *job)
{
    if (job->kind == JOB_CONVERGE || job->kind == JOB_REAPPLY || job->kind == JOB_RECLAIM_FREE)
        return FALSE;
    for (GList *l = vf->parked.head; l; l = l->next) {
        VfJob *parked = l->data;

        if (parked->park_timer && owner_is(&parked->own, job->own.name, job->own.uuid)) {
            g_queue_push_tail(&vf->parked, job);
            vf->current = NULL;
            vf_run_next(vf);
            return TRUE;
        }
    }
    return FALSE;
}

static void
prepare_start(VfJob *job)
{
    EngineVf *vf = job->vf;

    if (vf->owned && vf->releasing) {
        if (!job_owns(job)) {
            prepare_park(job);
            return;
        }
        /* Its own start again: libvirt finished its stop before (it holds
         * the domain's job), whatever vfsecd heard of it. The VF is its
         * again, to be reclaimed and set up like a new claim. */
        vf_unpark(vf);
        vf->ready = FALSE;
        vf->stale = TRUE;
    }

    if (vf->owned && !job_owns(job)) {
        g_set_error(&job->error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "%s is owned by running domain %s", vf->name, vf->own.name);
        job_finish(job);
        return;
    }
    if (vf->owned && !owner_same_terms(&vf->own, &job->own)) {
        /* The owner's terms changed: a network port-created claims with the
         * network's defaults, the start that follows brings the domain's
         * full XML (its metadata, MAC, VLANs). The newest word wins, after
         * the same checks a claim gets; the port is set again. */
        if (!prepare_check_key(vf, &job->own, &job->error)) {
            job_finish(job);
            return;
        }
        owner_copy(&vf->own, &job->own);
        vf->stale = TRUE;
        audit(G_LOG_LEVEL_MESSAGE, "prepare", vf, vf->own.name, 1,
              "%s: terms of domain %s updated (trust %s)", vf->name, vf->own.name,
              vfsec_trust_to_string(vf->own.policy.trust));
        if (vf->ready && !vf_save(vf, &job->error)) {
            job_finish(job);
            return;
        }
        /* Published under the old terms: take it out; the publish that
         * follows the start puts it back under the new ones. */
        if (vf->ready && vf->published) {
            job_unpublish(job, prepare_unpublished);
            return;
        }
    }
    if (vf->owned && vf->ready) {
        job_finish(job);
        return;
    }
    if (!prepare_check_key(vf, &job->own, &job->error)) {
        job_finish(job);
        return;
    }
    if (!vf->owned) {
        owner_copy(&vf->own, &job->own);
        vf->owned = TRUE;
        vf->ready = FALSE;
        /* libvirt sets the VF's MAC and VLAN after prepare (and resets the
         * VLAN to 0 when the domain has no <vlan>): what was read before
         * says nothing about the port the quarantine will find, so the
         * next quarantine sets and reads back. */
        vf->stale = TRUE;
        vf->claimed_at = g_get_monotonic_time();
        g_ptr_array_add(job->batch->claimed, vf);
    }
    if (!vf_save(vf, &job->error)) {
        job_finish(job);
        return;
    }
    job_reclaim(job, prepare_reclaimed);
}

static void
publish_synced(VfJob *job)
{
    EngineVf *vf = job->vf;

    job_pf_failure(job);
    if (!job->step_error)
        audit(G_LOG_LEVEL_MESSAGE, "publish", vf, vf->own.name, 1,
              "%s: MAC of domain %s published on PF %s", vf->name, vf->own.name,
              vf->pf->conf->label);
    job_finish_step(job);
}

static void
publish_start(VfJob *job)
{
    EngineVf *vf = job->vf;

    /* Not ready: its prepare failed and is about to be rolled back. */
    if (!job_owns(job) || !vf->ready || !vf_wants_published(vf) || vf->published) {
        job_finish(job);
        return;
    }
    if (!pf_table_add(vf->pf, vf, &job->error)) {
        job_finish(job);
        return;
    }
    vf->published = TRUE;
    vf_save_or_log(vf, "publish");
    job_sync(job, publish_synced);
}

/* Primitive: remove the VF from its table (if published) and sync. */
static void
job_unpublish(VfJob *job, JobStep next)
{
    EngineVf *vf = job->vf;
    guint n;

    job->next = next;
    g_clear_error(&job->step_error);
    if (!vf->published) {
        next(job);
        return;
    }
    n = vfsec_mac_table_remove_vf(vf->pf->table, (int)vf->index);
    vf->published = FALSE;
    audit(G_LOG_LEVEL_MESSAGE, "unpublish", vf, job_owner_name(job), n,
          "%s: MAC of domain %s unpublished from PF %s", vf->name, job_owner_name(job),
          vf->pf->conf->label);
    job_sync(job, next);
}

static void
release_unpublished(VfJob *job)
{
    EngineVf *vf = job->vf;

    /* A port that could not be re-quarantined, a table that could not be
     * pushed: logged, left to reconcile; the release itself is done. */
    if (job->step_error)
        audit(G_LOG_LEVEL_WARNING, "unpublish", vf, job->own.name, 0, "%s",
              job->step_error->message);
    g_clear_error(&job->step_error);
    job_done_intent(job, job->op_intent, FALSE);
    audit(G_LOG_LEVEL_MESSAGE, "release", vf, job->own.name, 1, "%s released by domain %s",
          vf->name, job->own.name);
    job_finish(job);
}

/* The quarantine tag is back on (or its failure logged by the primitive):
 * now the MAC leaves the table. */
static void
release_quarantined(VfJob *job)
{
    g_clear_error(&job->step_error);
    job_unpublish(job, release_unpublished);
}

/* The VF has no owner any more: after a rollback's unpublish (whose
 * failure is logged and left to reconcile), before a release's. */
static void
job_give_back(VfJob *job, const char *op)
{
    EngineVf *vf = job->vf;

    if (job->step_error)
        audit(G_LOG_LEVEL_WARNING, "unpublish", vf, job->own.name, 0, "%s",
              job->step_error->message);
    g_clear_error(&job->step_error);
    owner_clear(&vf->own);
    vf->owned = FALSE;
    vf->ready = FALSE;
    vf_unpark(vf);
    vf_save_or_log(vf, op);
}

/* The domain is gone and its SAs reclaimed: the VF is freed and
 * quarantined first, its MAC unpublished after. The tag is what stops an
 * unowned VF's frames (an unpublish only stops the agent's local delivery
 * to it), so it goes back on one PF round trip sooner; nothing can claim
 * the VF meanwhile, since this job holds its queue until the unpublish. */
static void
release_free(VfJob *job)
{
    job_give_back(job, "release");
    job_apply_port(job, release_quarantined);
}

static void
rollback_quarantined(VfJob *job)
{
    /* Logged by the primitive; its intent stays pending for reconcile. */
    g_clear_error(&job->step_error);
    job_finish(job);
}

static void
rollback_unpublished(VfJob *job)
{
    job_give_back(job, "rollback");
    audit(G_LOG_LEVEL_MESSAGE, "rollback", job->vf, job->own.name, 0,
          "%s given back: domain %s was refused", job->vf->name, job->own.name);
    job_apply_port(job, rollback_quarantined);
}

static void
release_reclaimed(VfJob *job)
{
    /* Logged by the reclaim; its intent stays pending for reconcile. */
    g_clear_error(&job->step_error);
    release_free(job);
}

static void
release_start(VfJob *job)
{
    if (!job_owns(job)) {
        job_finish(job);
        return;
    }
    /* Staged: it rides on the reclaim intent's write; lost in a crash, it is
     * re-derived (reconcile releases an owner that is not running). */
    if (!vfsec_journal_stage_intent(job->vf->pf->engine->journal, VFSEC_JOURNAL_OP_RELEASE,
                                    job->vf->pf->conf->label, job->vf->index, job->own.name,
                                    job->own.uuid, &job->op_intent, &job->step_error)) {
        job_finish_step(job);
        return;
    }
    engine_journal_later(job->vf->pf->engine);
    /* Stopped before: its SAs were reclaimed then (a failure left pending
     * for reconcile), and nothing could add any since. */
    if (job->vf->releasing) {
        release_free(job);
        return;
    }
    job_reclaim(job, release_reclaimed);
}

static void
stop_unpublished(VfJob *job)
{
    EngineVf *vf = job->vf;

    if (job->step_error)
        audit(G_LOG_LEVEL_WARNING, "unpublish", vf, job->own.name, 0, "%s",
              job->step_error->message);
    g_clear_error(&job->step_error);
    vf->ready = FALSE;
    vf_save_or_log(vf, "stop");
    audit(G_LOG_LEVEL_MESSAGE, "stop", vf, job->own.name, 1,
          "%s: domain %s stopped, its SAs reclaimed; it keeps the VF until libvirt releases it",
          vf->name, job->own.name);
    job_finish(job);
}

static void
stop_reclaimed(VfJob *job)
{
    /* Logged by the reclaim; its intent stays pending for reconcile. */
    g_clear_error(&job->step_error);
    job_unpublish(job, stop_unpublished);
}

static void
stop_start(VfJob *job)
{
    if (!job_owns(job) || job->vf->releasing) {
        job_finish(job);
        return;
    }
    job->vf->releasing = TRUE;
    job_reclaim(job, stop_reclaimed);
}

static void
port_applied(VfJob *job)
{
    job_pf_failure(job);
    job_finish_step(job);
}

static void
reapply_applied(VfJob *job)
{
    /* Logged by the primitive; nobody waits for an event's work. */
    g_clear_error(&job->step_error);
    job_finish(job);
}

/* Reconcile, per VF: release a stale owner, adopt a running one, reclaim
 * what is due, re-apply the port, fix the table membership. */
static void
converge_finish(VfJob *job)
{
    EngineVf *vf = job->vf;
    Batch *b = job->batch;
    gboolean failed = FALSE;

    if (job->step_error) {
        b->summary.failed++;
        failed = TRUE;
        g_clear_error(&job->step_error);
    } else if (job->acted) {
        b->summary.quarantined++;
    }
    if (vf_wants_published(vf) != vf->published) {
        g_autoptr(GError) error = NULL;

        if (vf->published) {
            vfsec_mac_table_remove_vf(vf->pf->table, (int)vf->index);
            vf->published = FALSE;
        } else if (pf_table_add(vf->pf, vf, &error)) {
            vf->published = TRUE;
        } else {
            audit(G_LOG_LEVEL_WARNING, "publish", vf, vf->own.name, 0, "%s", error->message);
            b->summary.failed++;
            failed = TRUE;
        }
    }
    if (vf->owned)
        vf_save_or_log(vf, "reconcile");
    for (guint i = 0; job->intents && i < job->intents->len && !failed; i++) {
        job_done_intent(job, g_array_index(job->intents, guint64, i), TRUE);
        b->summary.intents_finished++;
    }
    job_finish(job);
}

static void
converge_reclaimed(VfJob *job)
{
    Batch *b = job->batch;

    if (job->step_error) {
        b->summary.failed++;
        g_clear_pointer(&job->intents, g_array_unref);  /* left pending: retried */
        g_clear_error(&job->step_error);
    } else {
        b->summary.reclaimed++;
    }
    job_apply_port(job, converge_finish);
}

static void
converge_adopt(VfJob *job)
{
    EngineVf *vf = job->vf;
    Batch *b = job->batch;

    if (job->has_owner && !vf->owned) {
        owner_copy(&vf->own, &job->own);
        vf->owned = TRUE;
        vf->ready = TRUE;
        b->summary.adopted++;
        audit(G_LOG_LEVEL_MESSAGE, "adopt", vf, vf->own.name, 1,
              "%s belongs to running domain %s", vf->name, vf->own.name);
    } else if (job->has_owner) {
        /* Same owner: its live XML is the truth for MAC, VLANs, policy. */
        owner_copy(&vf->own, &job->own);
    }
    if (job->pending_reclaim || (!vf->owned && vf->state && vf->state->sa_count > 0)) {
        job_reclaim(job, converge_reclaimed);
        return;
    }
    job_apply_port(job, converge_finish);
}

static void
converge_released(VfJob *job)
{
    EngineVf *vf = job->vf;
    Batch *b = job->batch;
    g_autofree char *was = g_strdup(vf->own.name);

    if (job->step_error) {
        b->summary.failed++;
        g_clear_error(&job->step_error);
    } else {
        b->summary.reclaimed++;
        job->pending_reclaim = FALSE;
    }
    if (vf->published) {
        vfsec_mac_table_remove_vf(vf->pf->table, (int)vf->index);
        vf->published = FALSE;
    }
    owner_clear(&vf->own);
    vf->owned = FALSE;
    vf->ready = FALSE;
    vf_unpark(vf);
    vf_save_or_log(vf, "reconcile");
    b->summary.released++;
    audit(G_LOG_LEVEL_MESSAGE, "release", vf, was, 1, "%s released: domain %s is not running",
          vf->name, was);
    converge_adopt(job);
}

static void
converge_start(VfJob *job)
{
    EngineVf *vf = job->vf;

    /* Claimed after the running domains were listed: the list cannot know
     * that domain, which is starting now; its owner stands. */
    if (vf->owned && !job->has_owner && vf->claimed_at > job->batch->listed_at) {
        owner_copy(&job->own, &vf->own);
        job->has_owner = TRUE;
    }

    if (vf->owned && (!job->has_owner || !owner_is(&vf->own, job->own.name, job->own.uuid))) {
        job_reclaim(job, converge_released);
        return;
    }
    converge_adopt(job);
}

static void
reclaim_free_done(VfJob *job)
{
    job->batch->removed = job->removed;
    job_finish_step(job);
}

static void
reclaim_free_start(VfJob *job)
{
    EngineVf *vf = job->vf;

    /* Checked when the job runs: a prepare queued before may have claimed it. */
    if (vf->owned) {
        g_set_error(&job->error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "%s belongs to running domain %s", vf->name, vf->own.name);
        job_finish(job);
        return;
    }
    job_reclaim(job, reclaim_free_done);
}

static void
job_start(VfJob *job)
{
    if (vf_park_behind(job->vf, job))
        return;
    /* These act for the domain on a VF it owns; once it does not (a
     * refused prepare, a release queued before), they have nothing to do. */
    if ((job->kind == JOB_QUARANTINE || job->kind == JOB_RECLAIM ||
         job->kind == JOB_ROLLBACK) && !job_owns(job)) {
        job_finish(job);
        return;
    }
    switch (job->kind) {
    case JOB_PREPARE:
        prepare_start(job);
        return;
    case JOB_QUARANTINE:
        job_apply_port(job, port_applied);
        return;
    case JOB_PUBLISH:
        publish_start(job);
        return;
    case JOB_RELEASE:
        release_start(job);
        return;
    case JOB_STOP:
        stop_start(job);
        return;
    case JOB_RECLAIM:
        job_reclaim(job, job_finish_step);
        return;
    case JOB_REAPPLY:
        job->vf->stale = TRUE;
        job_apply_port(job, reapply_applied);
        return;
    case JOB_CONVERGE:
        converge_start(job);
        return;
    case JOB_RECLAIM_FREE:
        reclaim_free_start(job);
        return;
    case JOB_ROLLBACK:
        job_unpublish(job, rollback_unpublished);
        return;
    }
    g_assert_not_reached();
}

/* ------------------------------------------------------------------ */
/* Engine */

static void
domain_record_free(DomainRecord *rec)
{
    g_free(rec->name);
    g_free(rec->uuid);
    g_free(rec->refusal);
    vfsec_domain_free(rec->defined);
    g_free(rec->unparsable);
    g_free(rec);
}

static void engine_plugin_event(VfsecPlugin *plugin, VfsecPluginEvent event, int vf,
                                const char *detail, gpointer user_data);

VfsecEngine *
vfsec_engine_new(VfsecConf *conf, GPtrArray *plugins, GError **error)
{
    g_autoptr(VfsecConf) owned_conf = conf;
    g_autoptr(GPtrArray) owned_plugins = plugins;
    g_autoptr(VfsecJournal) journal = NULL;
    VfsecEngine *engine;

    for (guint i = 0; i < plugins->len; i++) {
        VfsecPlugin *plugin = plugins->pdata[i];

        if (!vfsec_conf_find_pf(conf, plugin->label)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "plugin for PF %s: the configuration has no such [pf]", plugin->label);
            return NULL;
        }
    }
    journal = vfsec_journal_open(conf->state_dir, NULL, error);
    if (!journal)
        return NULL;

    engine = g_new0(VfsecEngine, 1);
    engine->conf = g_steal_pointer(&owned_conf);
    engine->plugins = g_steal_pointer(&owned_plugins);
    engine->journal = g_steal_pointer(&journal);
    engine->alive = g_cancellable_new();
    engine->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)pf_free);
    engine->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                            (GDestroyNotify)domain_record_free);
    for (guint i = 0; i < engine->conf->pfs->len; i++) {
        const VfsecConfPf *cpf = engine->conf->pfs->pdata[i];
        EnginePf *pf = g_new0(EnginePf, 1);

        pf->engine = engine;
        pf->conf = cpf;
        pf->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)vf_free);
        pf->table = vfsec_mac_table_new(cpf->label);
        g_ptr_array_add(engine->pfs, pf);
        for (guint k = 0; k < engine->plugins->len; k++) {
            VfsecPlugin *plugin = engine->plugins->pdata[k];

            if (strcmp(plugin->label, cpf->label) == 0)
                pf->plugin = plugin;
        }
        if (!pf->plugin) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "PF %s has no plugin",
                        cpf->label);
            vfsec_engine_free(engine);
            return NULL;
        }
        /* Set directly: the engine is the plugin's only owner. */
        vfsec_plugin_set_event_func(pf->plugin, engine_plugin_event, pf);
    }
    return engine;
}

static void
abandon_waiters(GArray *waiters, const GError *error)
{
    for (guint i = 0; waiters && i < waiters->len; i++) {
        SyncWaiter *w = &g_array_index(waiters, SyncWaiter, i);

        w->func(w->data, error);
    }
}

void
vfsec_engine_free(VfsecEngine *engine)
{
    g_autoptr(GError) cancelled = NULL;

    if (!engine)
        return;
    cancelled = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "vfsecd's engine stopped");
    g_cancellable_cancel(engine->alive);
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];
        VfJob *job;

        /* Queued jobs never started; jobs waiting for a table push are
         * abandoned by their waiter; running jobs by their plugin callback. */
        for (guint i = 0; i < pf->vfs->len; i++) {
            EngineVf *vf = pf->vfs->pdata[i];

            while ((job = g_queue_pop_head(&vf->queue)))
                job_abandon(job);
            while ((job = g_queue_pop_head(&vf->parked)))
                job_abandon(job);
        }
        abandon_waiters(pf->round, cancelled);
        abandon_waiters(pf->queued, cancelled);
        vfsec_plugin_set_event_func(pf->plugin, NULL, NULL);
    }
    /* Plugins answer their calls in flight as they go: the callbacks see
     * the engine cancelled. */
    g_ptr_array_unref(engine->plugins);
    g_ptr_array_unref(engine->pfs);
    g_hash_table_unref(engine->domains);
    if (engine->journal_idle) {
        g_source_destroy(engine->journal_idle);
        g_clear_pointer(&engine->journal_idle, g_source_unref);
    }
    vfsec_journal_free(engine->journal);   /* writes what is staged */
    vfsec_conf_free(engine->conf);
    g_object_unref(engine->alive);
    g_free(engine);
}

void
vfsec_engine_set_reconnect_func(VfsecEngine *engine, VfsecEngineReconnectFunc func,
                                gpointer user_data)
{
    engine->reconnect_func = func;
    engine->reconnect_data = user_data;
}

const VfsecConf *
vfsec_engine_get_conf(VfsecEngine *engine)
{
    return engine->conf;
}

/* ------------------------------------------------------------------ */
/* Start */

typedef struct {
    EnginePf *pf;
    Batch *batch;
} PfCall;

static void
pf_call_done(PfCall *call, GError *error)
{
    Batch *b = call->batch;

    if (error && !engine_dead(b->alive))
        g_prefix_error(&error, "PF %s: ", call->pf->conf->label);
    g_free(call);
    batch_release(b, error);
}

/* Restores the journal's assignments of @pf into the registry. */
static void
pf_restore(EnginePf *pf)
{
    VfsecEngine *engine = pf->engine;
    g_autoptr(GPtrArray) all = vfsec_journal_list_assignments(engine->journal);

    for (guint i = 0; i < all->len; i++) {
        const VfsecJournalAssignment *a = all->pdata[i];
        EngineVf *vf;
        g_autoptr(GError) error = NULL;

        if (strcmp(a->pf, pf->conf->label) != 0)
            continue;
        vf = pf_find_vf(pf, a->vf);
        if (!vf || vf->owned)
            continue;
        vf->owned = TRUE;
        vf->ready = TRUE;
        vf->own.name = g_strdup(a->owner_name);
        vf->own.uuid = g_strdup(a->owner_uuid);
        vf->own.has_mac = a->has_mac;
        vf->own.mac = a->mac;
        vf->own.vlans = g_array_copy(a->vlans);
        vf->own.policy = vfsec_conf_policy_for(engine->conf, pf->conf->label, NULL, NULL, NULL);
        vf->own.policy.trust = a->trust;
        vf->own.policy.hairpin = a->published;
        if (a->published) {
            if (pf_table_add(pf, vf, &error))
                vf->published = TRUE;
            else
                audit(G_LOG_LEVEL_WARNING, "restore", vf, a->owner_name, 0, "%s",
                      error->message);
        }
    }
}

static void
start_switch_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    PfCall *call = data;
    GError *error = NULL;

    (void)source;
    if (!engine_dead(call->batch->alive))
        vfsec_plugin_set_switch_mode_finish(call->pf->plugin, result, &error);
    pf_call_done(call, error);
}

static void
start_list_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    PfCall *call = data;
    EnginePf *pf = call->pf;
    g_autoptr(GPtrArray) vfs = NULL;
    GError *error = NULL;

    (void)source;
    if (engine_dead(call->batch->alive)) {
        pf_call_done(call, NULL);
        return;
    }
    vfs = vfsec_plugin_list_vfs_finish(pf->plugin, result, &error);
    if (!vfs) {
        pf_call_done(call, error);
        return;
    }
    pf->connected = TRUE;
    pf_update_vfs(pf, vfs);
    pf_restore(pf);
    if (pf->conf->hairpin && pf->plugin->caps.switch_mode) {
        vfsec_plugin_set_switch_mode_async(pf->plugin, VFSEC_CONTRACT_SWITCH_MODE_VEPA, NULL,
                                               start_switch_cb, call);
        return;
    }
    pf_call_done(call, NULL);
}

static void
start_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    PfCall *call = data;
    EnginePf *pf = call->pf;
    GError *error = NULL;

    (void)source;
    if (engine_dead(call->batch->alive)) {
        pf_call_done(call, NULL);
        return;
    }
    if (!vfsec_plugin_start_finish(pf->plugin, result, &error)) {
        pf_call_done(call, error);
        return;
    }
    vfsec_plugin_list_vfs_async(pf->plugin, NULL, start_list_cb, call);
}

void
vfsec_engine_start_async(VfsecEngine *engine, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    Batch *b;

    g_task_set_source_tag(task, vfsec_engine_start_async);
    b = batch_new(engine, task, batch_return);
    for (guint i = 0; i < engine->pfs->len; i++) {
        PfCall *call = g_new0(PfCall, 1);

        call->pf = engine->pfs->pdata[i];
        call->batch = b;
        batch_hold(b);
        vfsec_plugin_start_async(call->pf->plugin, NULL, start_cb, call);
    }
    batch_release(b, NULL);
}

gboolean
vfsec_engine_start_finish(VfsecEngine *engine, GAsyncResult *result, GError **error)
{
    (void)engine;
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ------------------------------------------------------------------ */
/* Domain operations */

/* Refuses what no VF could carry, before anything is queued. */
static gboolean
prepare_check_attachment(VfsecEngine *engine, const EngineVf *vf, const VfsecDomain *domain,
                         const Owner *own, GError **error)
{
    if (!domain->uuid) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "domain %s has no UUID",
                    domain->name);
        return FALSE;
    }
    for (guint i = 0; i < own->vlans->len; i++) {
        guint vid = g_array_index(own->vlans, guint16, i);

        if (vfsec_conf_vid_reserved(engine->conf, vid)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: VLAN %u of domain %s is reserved for the IPsec agent", vf->name,
                        vid, domain->name);
            return FALSE;
        }
    }
    if (own->policy.trust == VFSEC_TRUST_UNTRUSTED && own->vlans->len > 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "%s: untrusted domain %s asks for a <vlan>, but the VF's one port tag "
                    "is the quarantine tag", vf->name, domain->name);
        return FALSE;
    }
    return TRUE;
}

static Batch *
domain_batch(VfsecEngine *engine, const VfsecDomain *domain, GCancellable *cancellable,
             GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    Batch *b;

    g_task_set_source_tag(task, tag);
    b = batch_new(engine, task, batch_done_domain);
    b->domain = g_strdup(domain->name);
    b->domain_uuid = g_strdup(domain->uuid);
    return b;
}

static EnginePf *
engine_find_pf(VfsecEngine *engine, const char *label)
{
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        if (strcmp(pf->conf->label, label) == 0)
            return pf;
    }
    return NULL;
}

/* The managed PF whose VF list vfsecd never got (its driver was not reached)
 * that @att is on, or NULL: known from the journal (a VF it assigned there
 * before) or from sysfs (the VF's PF is the configured netdev or the PCI
 * device the driver reported). */
static EnginePf *
engine_unlisted_pf(VfsecEngine *engine, const VfsecAttachment *att)
{
    g_autoptr(GPtrArray) assignments = NULL;
    g_autoptr(VfsecTopology) topo = NULL;
    g_autoptr(VfsecVfInfo) info = NULL;
    gboolean any = FALSE;

    for (guint p = 0; p < engine->pfs->len; p++)
        any |= ((EnginePf *)engine->pfs->pdata[p])->vfs->len == 0;
    if (!any)
        return NULL;
    assignments = vfsec_journal_list_assignments(engine->journal);
    for (guint i = 0; att->has_pci && i < assignments->len; i++) {
        const VfsecJournalAssignment *a = assignments->pdata[i];
        EnginePf *pf;

        if (a->has_pci && vfsec_pci_addr_equal(&a->pci, &att->pci) &&
            (pf = engine_find_pf(engine, a->pf)) && pf->vfs->len == 0)
            return pf;
    }
    topo = vfsec_topology_new(NULL);
    if (att->has_pci)
        info = vfsec_topology_lookup_vf(topo, &att->pci, NULL);
    else if (att->source_dev)
        info = vfsec_topology_lookup_netdev(topo, att->source_dev, NULL);
    for (guint p = 0; info && p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];
        const VfsecContractPort *port = pf->plugin->port;

        if (pf->vfs->len > 0)
            continue;
        if ((pf->conf->netdev && g_strcmp0(info->pf_netdev, pf->conf->netdev) == 0) ||
            (port && vfsec_pci_addr_equal(&port->pf_pci, &info->pf_pci)))
            return pf;
    }
    return NULL;
}

/* An attachment on a managed PF that vfsecd could not reach: refused when
 * that PF is fail-closed, logged otherwise. */
static gboolean
prepare_unlisted(VfsecEngine *engine, const VfsecDomain *domain, const VfsecAttachment *att,
                 GError **error)
{
    EnginePf *pf = engine_unlisted_pf(engine, att);
    g_autofree char *what = NULL;
    char buf[VFSEC_PCI_ADDR_STRLEN];

    if (!pf)
        return TRUE;
    what = att->has_pci ? g_strdup_printf("VF %s", vfsec_pci_addr_format(&att->pci, buf))
                        : g_strdup_printf("VF %s", att->source_dev);
    if (!pf->conf->fail_closed) {
        audit(G_LOG_LEVEL_WARNING, "fail-open", NULL, domain->name, 0,
              "%s of domain %s is on PF %s, whose driver vfsecd has not reached (PF %s is "
              "not fail-closed: going on)", what, domain->name, pf->conf->label,
              pf->conf->label);
        return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                "%s of domain %s is on PF %s, whose driver vfsecd has not reached", what,
                domain->name, pf->conf->label);
    return FALSE;
}

/* A plain <hostdev> names no MAC: the guest's driver uses the VF's
 * administrative MAC (set by the host, read from the PF driver), which is
 * then the key that must be unique and the MAC to publish. A VF without
 * one lets the guest pick any MAC: no key can be checked, so a fail-closed
 * PF refuses it. */
static gboolean
prepare_key_mac(const EngineVf *vf, const VfsecDomain *domain, Owner *own, GError **error)
{
    static const VfsecMac zero = { { 0 } };

    if (own->has_mac)
        return TRUE;
    if (vf->state && vf->state->has_mac && !vfsec_mac_equal(&vf->state->mac, &zero)) {
        own->has_mac = TRUE;
        own->mac = vf->state->mac;
        return TRUE;
    }
    if (!vf->pf->conf->fail_closed) {
        audit(G_LOG_LEVEL_WARNING, "fail-open", (EngineVf *)vf, domain->name, 0,
              "%s of domain %s has no MAC in the XML and no administrative MAC: its key "
              "cannot be checked (PF %s is not fail-closed: going on)", vf->name,
              domain->name, vf->pf->conf->label);
        return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                "%s of domain %s has no MAC in the XML and no administrative MAC, so its "
                "SAD-domain key cannot be checked: give it a <mac> or set the VF's MAC",
                vf->name, domain->name);
    return FALSE;
}

/* Queues a prepare job for attachment @att (if it is on a managed VF). */
static gboolean
queue_prepare(Batch *b, const VfsecDomain *domain, const VfsecAttachment *att,
              EngineVf **out, GError **error)
{
    VfsecEngine *engine = b->engine;
    EngineVf *vf = engine_resolve(engine, att);
    Owner own = { 0 };
    VfJob *job;

    *out = vf;
    if (!vf)
        return prepare_unlisted(engine, domain, att, error);
    owner_from_attachment(&own, engine, vf, domain, att);
    if (!prepare_check_attachment(engine, vf, domain, &own, error) ||
        !prepare_key_mac(vf, domain, &own, error)) {
        owner_clear(&own);
        return FALSE;
    }
    job = job_new(b, JOB_PREPARE, vf);
    job->own = own;
    vf_enqueue(vf, job);
    return TRUE;
}

static void
queue_owner_job_for(Batch *b, EngineVf *vf, JobKind kind, const char *name, const char *uuid)
{
    VfJob *job = job_new(b, kind, vf);

    job->own.name = g_strdup(name);
    job->own.uuid = g_strdup(uuid);
    job->own.vlans = g_array_new(FALSE, FALSE, sizeof(guint16));
    vf_enqueue(vf, job);
}

static void
queue_owner_job(Batch *b, EngineVf *vf, JobKind kind, const VfsecDomain *domain)
{
    queue_owner_job_for(b, vf, kind, domain->name, domain->uuid);
}

static gboolean
jobs_have_prepare_for(GQueue *jobs, const VfsecDomain *domain)
{
    for (GList *l = jobs->head; l; l = l->next) {
        VfJob *job = l->data;

        if (job->kind == JOB_PREPARE && owner_is(&job->own, domain->name, domain->uuid))
            return TRUE;
    }
    return FALSE;
}

static gboolean
vf_has_prepare_for(EngineVf *vf, const VfsecDomain *domain)
{
    if (vf->current && vf->current->kind == JOB_PREPARE &&
        owner_is(&vf->current->own, domain->name, domain->uuid))
        return TRUE;
    /* Parked: waiting for the VF's release by a stopped domain. */
    return jobs_have_prepare_for(&vf->queue, domain) ||
           jobs_have_prepare_for(&vf->parked, domain);
}

static void
domain_owned_op(Batch *b, const VfsecDomain *domain, JobKind kind)
{
    VfsecEngine *engine = b->engine;

    /* The VFs it owns, and those a queued prepare is about to give it. */
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        for (guint i = 0; i < pf->vfs->len; i++) {
            EngineVf *vf = pf->vfs->pdata[i];

            if ((vf->owned && owner_is(&vf->own, domain->name, domain->uuid)) ||
                vf_has_prepare_for(vf, domain))
                queue_owner_job(b, vf, kind, domain);
        }
    }
    batch_release(b, NULL);
}

static const char *const engine_op_names[] = {
    [VFSEC_ENGINE_OP_PREPARE] = "prepare",
    [VFSEC_ENGINE_OP_QUARANTINE] = "quarantine",
    [VFSEC_ENGINE_OP_PUBLISH] = "publish",
    [VFSEC_ENGINE_OP_RELEASE] = "release",
    [VFSEC_ENGINE_OP_RECLAIM] = "reclaim",
    [VFSEC_ENGINE_OP_STOP] = "stop",
};
G_STATIC_ASSERT(G_N_ELEMENTS(engine_op_names) == VFSEC_ENGINE_OP_LAST);

const char *
vfsec_engine_op_to_string(VfsecEngineOp op)
{
    return op < VFSEC_ENGINE_OP_LAST ? engine_op_names[op] : NULL;
}

int
vfsec_engine_op_from_string(const char *str)
{
    return vfsec_name_index(engine_op_names, VFSEC_ENGINE_OP_LAST, str);
}

static void
engine_prepare(Batch *b, const VfsecDomain *domain)
{
    GError *error = NULL;

    for (guint i = 0; i < domain->attachments->len && !error; i++) {
        EngineVf *vf;

        queue_prepare(b, domain, domain->attachments->pdata[i], &vf, &error);
    }
    batch_release(b, error);
}

void
vfsec_engine_run_async(VfsecEngine *engine, VfsecEngineOp op, const VfsecDomain *domain,
                       GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data)
{
    static const JobKind kinds[] = {
        [VFSEC_ENGINE_OP_PREPARE] = JOB_PREPARE,
        [VFSEC_ENGINE_OP_QUARANTINE] = JOB_QUARANTINE,
        [VFSEC_ENGINE_OP_PUBLISH] = JOB_PUBLISH,
        [VFSEC_ENGINE_OP_RELEASE] = JOB_RELEASE,
        [VFSEC_ENGINE_OP_RECLAIM] = JOB_RECLAIM,
        [VFSEC_ENGINE_OP_STOP] = JOB_STOP,
    };
    Batch *b;

    g_return_if_fail(op < VFSEC_ENGINE_OP_LAST);
    b = domain_batch(engine, domain, cancellable, callback, user_data, vfsec_engine_run_async);
    b->op = op;
    if (op == VFSEC_ENGINE_OP_PREPARE) {
        engine_prepare(b, domain);
        return;
    }
    domain_owned_op(b, domain, kinds[op]);
}

void
vfsec_engine_attach_async(VfsecEngine *engine, const VfsecDomain *domain, guint index,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    Batch *b = domain_batch(engine, domain, cancellable, callback, user_data,
                            vfsec_engine_attach_async);
    GError *error = NULL;
    EngineVf *vf = NULL;

    b->op = VFSEC_ENGINE_OP_PREPARE;
    if (index >= domain->attachments->len) {
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    "domain %s has no attachment %u", domain->name, index);
    } else if (queue_prepare(b, domain, domain->attachments->pdata[index], &vf, &error) && vf) {
        /* Same queue: they run after the prepare, and do nothing if it
         * was refused (the VF is then not the domain's). */
        queue_owner_job(b, vf, JOB_QUARANTINE, domain);
        queue_owner_job(b, vf, JOB_PUBLISH, domain);
    }
    batch_release(b, error);
}

void
vfsec_engine_detach_async(VfsecEngine *engine, const VfsecDomain *domain, guint index,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    Batch *b = domain_batch(engine, domain, cancellable, callback, user_data,
                            vfsec_engine_detach_async);
    GError *error = NULL;
    EngineVf *vf;

    b->op = VFSEC_ENGINE_OP_RELEASE;
    if (index >= domain->attachments->len)
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    "domain %s has no attachment %u", domain->name, index);
    else if ((vf = engine_resolve(engine, domain->attachments->pdata[index])))
        queue_owner_job(b, vf, JOB_RELEASE, domain);
    batch_release(b, error);
}

/* Whether some attachment of @live resolves to @vf. */
static gboolean
domain_has_vf(VfsecEngine *engine, const VfsecDomain *live, const EngineVf *vf)
{
    for (guint i = 0; i < live->attachments->len; i++)
        if (engine_resolve(engine, live->attachments->pdata[i]) == vf)
            return TRUE;
    return FALSE;
}

void
vfsec_engine_detach_missing_async(VfsecEngine *engine, const VfsecDomain *live,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
    Batch *b = domain_batch(engine, live, cancellable, callback, user_data,
                            vfsec_engine_detach_missing_async);

    b->op = VFSEC_ENGINE_OP_RELEASE;
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        for (guint i = 0; i < pf->vfs->len; i++) {
            EngineVf *vf = pf->vfs->pdata[i];

            /* A VF the domain is being given (prepare queued) is not owned
             * yet: only what it owns now and its XML no longer names. */
            if (vf->owned && owner_is(&vf->own, live->name, live->uuid) &&
                !domain_has_vf(engine, live, vf))
                queue_owner_job(b, vf, JOB_RELEASE, live);
        }
    }
    batch_release(b, NULL);
}

gboolean
vfsec_engine_operation_finish(VfsecEngine *engine, GAsyncResult *result, GError **error)
{
    (void)engine;
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
vfsec_engine_forget(VfsecEngine *engine, const char *name, const char *uuid)
{
    (void)uuid;
    g_hash_table_remove(engine->domains, name);
}

/* ------------------------------------------------------------------ */
/* Reclaim on request (vfsecctl reclaim) */

static void
reclaim_vf_return(Batch *b)
{
    if (b->task && !b->error)
        *(guint64 *)g_task_get_task_data(b->task) = b->removed;
    batch_return(b);
}

void
vfsec_engine_reclaim_vf_async(VfsecEngine *engine, const char *pf_label, guint vf_index,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    GError *error = NULL;
    EnginePf *pf = NULL;
    EngineVf *vf = NULL;
    Batch *b;

    g_task_set_source_tag(task, vfsec_engine_reclaim_vf_async);
    g_task_set_task_data(task, g_new0(guint64, 1), g_free);
    b = batch_new(engine, task, reclaim_vf_return);
    for (guint p = 0; p < engine->pfs->len && !pf; p++)
        if (strcmp(((EnginePf *)engine->pfs->pdata[p])->conf->label, pf_label) == 0)
            pf = engine->pfs->pdata[p];
    if (!pf)
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "PF %s is not managed by vfsecd",
                    pf_label);
    else if (!(vf = pf_find_vf(pf, vf_index)))
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "PF %s has no VF %u", pf_label,
                    vf_index);
    else
        vf_enqueue(vf, job_new(b, JOB_RECLAIM_FREE, vf));
    batch_release(b, error);
}

gboolean
vfsec_engine_reclaim_vf_finish(VfsecEngine *engine, GAsyncResult *result, guint64 *removed,
                               GError **error)
{
    (void)engine;
    if (!g_task_propagate_boolean(G_TASK(result), error))
        return FALSE;
    if (removed)
        *removed = *(guint64 *)g_task_get_task_data(G_TASK(result));
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Defined domains: what would make their start fail */

/* The parts of @domain that the start checks read (name, UUID, and per
 * attachment what resolves it and what makes its owner). */
static VfsecDomain *
defined_copy(const VfsecDomain *domain)
{
    VfsecDomain *copy = vfsec_domain_new(domain->name, domain->uuid);

    for (guint i = 0; i < domain->attachments->len; i++) {
        const VfsecAttachment *att = domain->attachments->pdata[i];
        VfsecAttachment *c = vfsec_domain_add_attachment(copy, att->kind);

        c->has_pci = att->has_pci;
        c->pci = att->pci;
        c->has_mac = att->has_mac;
        c->mac = att->mac;
        g_array_append_vals(c->vlans, att->vlans->data, att->vlans->len);
        c->source_dev = g_strdup(att->source_dev);
        c->network = g_strdup(att->network);
        c->portgroup = g_strdup(att->portgroup);
        c->written_policy = att->written_policy;
    }
    return copy;
}

/* Why attachment @att of @domain would make its start fail now, or NULL. */
static char *
defined_problem(VfsecEngine *engine, const VfsecDomain *domain, const VfsecAttachment *att)
{
    g_autoptr(GError) error = NULL;
    EngineVf *vf;
    Owner own = { 0 };
    char buf[VFSEC_PCI_ADDR_STRLEN];
    char *problem = NULL;

    if (!att->has_pci && !att->source_dev)
        return NULL;            /* a network pool's VF: known at start */
    vf = engine_resolve(engine, att);
    if (!vf) {
        const char *what = att->has_pci ? vfsec_pci_addr_format(&att->pci, buf) : att->source_dev;

        for (guint p = 0; p < engine->pfs->len; p++) {
            EnginePf *pf = engine->pfs->pdata[p];

            if (!pf->connected)
                return g_strdup_printf("%s %s cannot be resolved: the driver of PF %s is not "
                                       "connected", att->has_pci ? "PCI device" : "netdev",
                                       what, pf->conf->label);
        }
        return g_strdup_printf("%s %s is not a VF of a managed PF: vfsecd will not protect it",
                               att->has_pci ? "PCI device" : "netdev", what);
    }
    owner_from_attachment(&own, engine, vf, domain, att);
    if (vf->owned && !owner_is(&vf->own, domain->name, domain->uuid))
        problem = g_strdup_printf("%s is owned by running domain %s", vf->name, vf->own.name);
    else if (!prepare_check_attachment(engine, vf, domain, &own, &error) ||
             !prepare_check_key(vf, &own, &error))
        problem = g_strdup(error->message);
    owner_clear(&own);
    return problem;
}

/* The problems of a defined domain, now (a new array of strings). */
static GPtrArray *
defined_problems(VfsecEngine *engine, const DomainRecord *rec)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    if (rec->unparsable)
        g_ptr_array_add(out, g_strdup(rec->unparsable));
    for (guint i = 0; rec->defined && i < rec->defined->attachments->len; i++) {
        char *problem = defined_problem(engine, rec->defined, rec->defined->attachments->pdata[i]);

        if (problem)
            g_ptr_array_add(out, problem);
    }
    return out;
}

void
vfsec_engine_define(VfsecEngine *engine, const char *name, const char *uuid,
                    const VfsecDomain *domain, const char *unparsable)
{
    DomainRecord *rec = engine_record(engine, name);
    g_autoptr(GPtrArray) problems = NULL;

    g_free(rec->uuid);
    rec->uuid = g_strdup(uuid);
    g_clear_pointer(&rec->defined, vfsec_domain_free);
    g_clear_pointer(&rec->unparsable, g_free);
    if (domain)
        rec->defined = defined_copy(domain);
    else
        rec->unparsable = g_strdup(unparsable ? unparsable : "its XML cannot be parsed");
    problems = defined_problems(engine, rec);
    for (guint i = 0; i < problems->len; i++)
        audit(G_LOG_LEVEL_WARNING, "defined", NULL, name, 0, "domain %s would not start: %s",
              name, (const char *)problems->pdata[i]);
}

/* ------------------------------------------------------------------ */
/* Reconcile */

static void reconcile_return(Batch *b);

/* Frees @call; FALSE (and its batch hold dropped) when the engine is gone. */
static gboolean
pf_call_open(PfCall *call, const GError *expired, Batch **b, EnginePf **pf, GError **error)
{
    *b = call->batch;
    *pf = call->pf;
    g_free(call);
    if (engine_dead((*b)->alive)) {
        batch_release(*b, NULL);
        return FALSE;
    }
    /* The deadline passed first: that is the call's error. */
    if (expired)
        *error = g_error_copy(expired);
    return TRUE;
}

/* A correction that failed: logged, counted, and the batch hold dropped. */
static void G_GNUC_PRINTF(2, 3)
reconcile_failed(Batch *b, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    audit(G_LOG_LEVEL_WARNING, "reconcile", NULL, NULL, 0, "%s", msg);
    b->summary.failed++;
    batch_release(b, NULL);
}

static void
reconcile_table_synced(gpointer data, const GError *error)
{
    Batch *b = data;

    if (error) {
        audit(G_LOG_LEVEL_WARNING, "publish-table", NULL, NULL, 0, "%s", error->message);
        b->summary.failed++;
    } else {
        b->summary.republished++;
    }
    batch_release(b, NULL);
}

static void
reconcile_macs_cb(GObject *source, GAsyncResult *result, const GError *expired, gpointer data)
{
    Batch *b;
    EnginePf *pf;
    g_autoptr(VfsecContractMacTable) now = NULL;
    g_autoptr(VfsecContractMacTable) want = NULL;
    g_autoptr(GError) error = NULL;

    (void)source;
    if (!pf_call_open(data, expired, &b, &pf, &error))
        return;
    if (!error)
        now = vfsec_plugin_get_macs_finish(pf->plugin, result, &error);
    if (!now) {
        reconcile_failed(b, "PF %s: reading the local-MAC table failed: %s", pf->conf->label,
                         error->message);
        return;
    }
    pf->plugin_generation = now->generation;
    want = pf_contract_table(pf, now->generation);
    if (vfsec_contract_mac_table_same_entries(now, want)) {
        batch_release(b, NULL);
        return;
    }
    pf_sync(pf, reconcile_table_synced, b);  /* keeps the hold */
}

/* Last phase: every hairpin port's table as the registry says. */
static void
reconcile_tables(Batch *b)
{
    VfsecEngine *engine = b->engine;

    b->done = reconcile_return;
    b->pending = 1;
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];
        PfCall *call;
        Watch *w;

        if (!pf->conf->hairpin || !pf->connected)
            continue;
        batch_hold(b);
        if (!pf->plugin->caps.local_macs) {
            pf_sync(pf, reconcile_table_synced, b);
            continue;
        }
        call = g_new0(PfCall, 1);
        call->pf = pf;
        call->batch = b;
        w = watch_new(pf, reconcile_macs_cb, call, "local-MAC table read");
        vfsec_plugin_get_macs_async(pf->plugin, w->cancellable, watch_answered, w);
    }
    batch_release(b, NULL);
}

typedef struct {
    EngineVf *vf;
    Owner own;
} Desired;

static void
desired_free(Desired *d)
{
    owner_clear(&d->own);
    g_free(d);
}

/* Second phase: one converge job per VF. */
static void
reconcile_converge(Batch *b, GPtrArray *domains)
{
    VfsecEngine *engine = b->engine;
    g_autoptr(GHashTable) desired = g_hash_table_new_full(NULL, NULL, NULL,
                                                          (GDestroyNotify)desired_free);
    g_autoptr(GPtrArray) pending = vfsec_journal_list_pending(engine->journal);

    for (guint d = 0; domains && d < domains->len; d++) {
        const VfsecDomain *domain = domains->pdata[d];

        for (guint i = 0; i < domain->attachments->len; i++) {
            const VfsecAttachment *att = domain->attachments->pdata[i];
            EngineVf *vf = engine_resolve(engine, att);
            Desired *want;

            if (!vf || g_hash_table_contains(desired, vf))
                continue;
            want = g_new0(Desired, 1);
            want->vf = vf;
            owner_from_attachment(&want->own, engine, vf, domain, att);
            g_hash_table_insert(desired, vf, want);
        }
    }
    b->done = reconcile_tables;
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        for (guint i = 0; pf->connected && i < pf->vfs->len; i++) {
            EngineVf *vf = pf->vfs->pdata[i];
            Desired *want = g_hash_table_lookup(desired, vf);
            VfJob *job = job_new(b, JOB_CONVERGE, vf);

            if (want) {
                owner_copy(&job->own, &want->own);
                job->has_owner = TRUE;
            } else if (!domains && vf->owned) {
                /* No list of running domains: the registry's owners stand. */
                owner_copy(&job->own, &vf->own);
                job->has_owner = TRUE;
            }
            job->intents = g_array_new(FALSE, FALSE, sizeof(guint64));
            for (guint k = 0; k < pending->len; k++) {
                const VfsecJournalOp *op = pending->pdata[k];

                if (strcmp(op->pf, pf->conf->label) != 0 || op->vf != vf->index)
                    continue;
                g_array_append_val(job->intents, op->id);
                if (op->kind == VFSEC_JOURNAL_OP_RECLAIM)
                    job->pending_reclaim = vf->reclaim_pending = TRUE;
            }
            vf_enqueue(vf, job);
        }
    }
}

typedef struct {
    GPtrArray *domains;
    VfsecEngineSummary summary;
} ReconcileStart;

static void
reconcile_return(Batch *b)
{
    ReconcileStart *rs = g_task_get_task_data(b->task);
    const VfsecEngineSummary *s = &b->summary;

    rs->summary = *s;
    audit(G_LOG_LEVEL_MESSAGE, "reconcile", NULL, NULL,
          s->intents_finished + s->reclaimed + s->quarantined + s->released + s->adopted +
          s->republished,
          "reconcile: %u intents finished, %u VFs reclaimed, %u quarantined, %u released, "
          "%u adopted, %u tables republished, %u failures", s->intents_finished, s->reclaimed,
          s->quarantined, s->released, s->adopted, s->republished, s->failed);
    batch_return(b);
}

static void
reconcile_listed(Batch *b)
{
    ReconcileStart *rs = g_task_get_task_data(b->task);

    b->pending = 1;
    reconcile_converge(b, rs->domains);
    batch_release(b, NULL);
}

static void
reconcile_list_cb(GObject *source, GAsyncResult *result, const GError *expired, gpointer data)
{
    Batch *b;
    EnginePf *pf;
    g_autoptr(GPtrArray) vfs = NULL;
    g_autoptr(GError) error = NULL;
    gboolean first;

    (void)source;
    if (!pf_call_open(data, expired, &b, &pf, &error))
        return;
    if (!error)
        vfs = vfsec_plugin_list_vfs_finish(pf->plugin, result, &error);
    if (!vfs) {
        reconcile_failed(b, "PF %s: listing VFs failed: %s", pf->conf->label, error->message);
        return;
    }
    /* No VFs yet: its start failed and the plugin reconnected since; the
     * journal's owners of this PF were never restored. */
    first = pf->vfs->len == 0;
    pf->connected = TRUE;
    pf_update_vfs(pf, vfs);
    if (first)
        pf_restore(pf);
    batch_release(b, NULL);
}

/* Domains in a reconcile from which its end gives freed heap back. */
#define RECONCILE_TRIM_DOMAINS 64

static void
reconcile_data_free(gpointer data)
{
    ReconcileStart *rs = data;
    gboolean large = rs->domains && rs->domains->len >= RECONCILE_TRIM_DOMAINS;

    g_clear_pointer(&rs->domains, g_ptr_array_unref);
    g_free(rs);
    /* A large reconcile's parsed domains, calls and replies are freed now,
     * between the long-lived records made meanwhile; glibc keeps those pages
     * (private memory) unless told to give back the free ones. */
    if (large)
        malloc_trim(0);
}

void
vfsec_engine_reconcile_async(VfsecEngine *engine, GPtrArray *domains,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    vfsec_engine_reconcile_listed_async(engine, domains, g_get_monotonic_time(), cancellable,
                                        callback, user_data);
}

void
vfsec_engine_reconcile_listed_async(VfsecEngine *engine, GPtrArray *domains, gint64 listed_at,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    ReconcileStart *rs = g_new0(ReconcileStart, 1);
    Batch *b;

    g_task_set_source_tag(task, vfsec_engine_reconcile_async);
    rs->domains = domains ? g_ptr_array_ref(domains) : NULL;
    g_task_set_task_data(task, rs, reconcile_data_free);
    b = batch_new(engine, task, reconcile_listed);
    b->listed_at = listed_at;
    for (guint p = 0; p < engine->pfs->len; p++) {
        PfCall *call = g_new0(PfCall, 1);
        Watch *w;

        call->pf = engine->pfs->pdata[p];
        call->batch = b;
        batch_hold(b);
        w = watch_new(call->pf, reconcile_list_cb, call, "VF listing");
        vfsec_plugin_list_vfs_async(call->pf->plugin, w->cancellable, watch_answered, w);
    }
    batch_release(b, NULL);
}

gboolean
vfsec_engine_reconcile_finish(VfsecEngine *engine, GAsyncResult *result,
                              VfsecEngineSummary *summary, GError **error)
{
    (void)engine;
    if (!g_task_propagate_boolean(G_TASK(result), error))
        return FALSE;
    if (summary) {
        const ReconcileStart *rs = g_task_get_task_data(G_TASK(result));

        *summary = rs->summary;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Plugin events */

static void
event_table_synced(gpointer data, const GError *error)
{
    EnginePf *pf = data;

    if (error)
        audit(G_LOG_LEVEL_WARNING, "publish-table", NULL, NULL, 0, "%s", error->message);
    else
        audit(G_LOG_LEVEL_MESSAGE, "publish-table", NULL, NULL, 1,
              "PF %s: local-MAC table republished", pf->conf->label);
}

static void
queue_reapply(EngineVf *vf)
{
    Batch *b = batch_new(vf->pf->engine, NULL, batch_return);

    vf_enqueue(vf, job_new(b, JOB_REAPPLY, vf));
    batch_release(b, NULL);
}

static void
engine_plugin_event(VfsecPlugin *plugin, VfsecPluginEvent event, int vf_index,
                    const char *detail, gpointer user_data)
{
    EnginePf *pf = user_data;
    EngineVf *vf;

    (void)plugin;
    switch (event) {
    case VFSEC_PLUGIN_EVENT_VF_RESET:
        /* A VF reset may have dropped the port settings: verify them. */
        if (vf_index >= 0 && (vf = pf_find_vf(pf, (guint)vf_index)))
            queue_reapply(vf);
        return;
    case VFSEC_PLUGIN_EVENT_AGENT_RESET:
        /* The agent lost its table (and every SA): push it again. */
        if (pf->conf->hairpin)
            pf_sync(pf, event_table_synced, pf);
        return;
    case VFSEC_PLUGIN_EVENT_DISCONNECTED:
        pf->connected = FALSE;
        audit(G_LOG_LEVEL_WARNING, "disconnected", NULL, NULL, 0, "PF %s: driver lost%s%s",
              pf->conf->label, detail ? ": " : "", detail ? detail : "");
        return;
    case VFSEC_PLUGIN_EVENT_RECONNECTED:
        /* Anything may have changed meanwhile: the owner (the daemon)
         * reconciles with libvirt's running domains; without one, converge
         * on the registry's owners. */
        pf->connected = TRUE;
        audit(G_LOG_LEVEL_MESSAGE, "reconnected", NULL, NULL, 0, "PF %s: driver back",
              pf->conf->label);
        if (pf->engine->reconnect_func)
            pf->engine->reconnect_func(pf->engine, pf->conf->label, pf->engine->reconnect_data);
        else
            vfsec_engine_reconcile_async(pf->engine, NULL, NULL, NULL, NULL);
        return;
    case VFSEC_PLUGIN_EVENT_PORT_CHANGE:
    case VFSEC_PLUGIN_EVENT_LAST:
        break;
    }
    audit(G_LOG_LEVEL_MESSAGE, "port-change", NULL, NULL, 0, "PF %s: port changed%s%s",
          pf->conf->label, detail ? ": " : "", detail ? detail : "");
}

/* ------------------------------------------------------------------ */
/* Reload */

/* TRUE when @a and @b describe the same port through the same plugin. */
static gboolean
conf_pf_same(const VfsecConfPf *a, const VfsecConfPf *b)
{
    return a->plugin == b->plugin && a->port == b->port && g_strcmp0(a->socket, b->socket) == 0 &&
           g_strcmp0(a->netdev, b->netdev) == 0;
}

static void
reload_switch_cb(GObject *source, GAsyncResult *result, const GError *expired, gpointer data)
{
    g_autoptr(GError) error = NULL;
    PfCall *call = data;
    Batch *b;
    EnginePf *pf;

    (void)source;
    if (!pf_call_open(call, expired, &b, &pf, &error))
        return;
    if (!error)
        vfsec_plugin_set_switch_mode_finish(pf->plugin, result, &error);
    if (error)
        audit(G_LOG_LEVEL_WARNING, "reload", NULL, NULL, 0, "PF %s: VEPA mode: %s",
              pf->conf->label, error->message);
    batch_release(b, NULL);
}

gboolean
vfsec_engine_set_conf(VfsecEngine *engine, VfsecConf *conf, GError **error)
{
    g_autoptr(VfsecConf) owned = conf;
    g_autoptr(VfsecConf) old = NULL;
    Batch *b;

    if (conf->pfs->len != engine->conf->pfs->len) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "the [pf] groups changed from %u to %u: that needs a restart of vfsecd",
                    engine->conf->pfs->len, conf->pfs->len);
        return FALSE;
    }
    for (guint i = 0; i < conf->pfs->len; i++) {
        const VfsecConfPf *want = conf->pfs->pdata[i];
        const VfsecConfPf *have = vfsec_conf_find_pf(engine->conf, want->label);

        if (!have || !conf_pf_same(have, want)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                        "[pf %s] %s: that needs a restart of vfsecd", want->label,
                        have ? "names another port or plugin" : "is new");
            return FALSE;
        }
    }
    /* Swap: PFs point into the new configuration; owners keep the policy
     * they were given until the next reconcile recomputes it from the
     * domains' XML. */
    old = g_steal_pointer(&engine->conf);
    engine->conf = g_steal_pointer(&owned);
    b = batch_new(engine, NULL, batch_return);
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];
        gboolean was_hairpin = pf->conf->hairpin;

        pf->conf = vfsec_conf_find_pf(engine->conf, pf->conf->label);
        if (was_hairpin && !pf->conf->hairpin) {
            /* Hairpin off: nothing is published on this port any more. */
            for (guint i = 0; i < pf->vfs->len; i++) {
                EngineVf *vf = pf->vfs->pdata[i];

                if (!vf->published)
                    continue;
                vfsec_mac_table_remove_vf(pf->table, (int)vf->index);
                vf->published = FALSE;
                vf_save_or_log(vf, "reload");
            }
            pf_sync(pf, event_table_synced, pf);
        } else if (!was_hairpin && pf->conf->hairpin && pf->connected &&
                   pf->plugin->caps.switch_mode) {
            PfCall *call = g_new0(PfCall, 1);
            Watch *w;

            call->pf = pf;
            call->batch = b;
            batch_hold(b);
            w = watch_new(pf, reload_switch_cb, call, "switch mode");
            vfsec_plugin_set_switch_mode_async(pf->plugin, VFSEC_CONTRACT_SWITCH_MODE_VEPA,
                                               w->cancellable, watch_answered, w);
        }
    }
    batch_release(b, NULL);
    audit(G_LOG_LEVEL_MESSAGE, "reload", NULL, NULL, engine->conf->pfs->len,
          "configuration reloaded: timeouts %u/%u/%u ms", engine->conf->pf_reclaim_ms,
          engine->conf->daemon_request_ms, engine->conf->hook_ms);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Introspection */

static void
json_add_vlans(JsonBuilder *jb, const GArray *vlans)
{
    json_builder_set_member_name(jb, "vlans");
    json_builder_begin_array(jb);
    for (guint i = 0; vlans && i < vlans->len; i++)
        json_builder_add_int_value(jb, g_array_index(vlans, guint16, i));
    json_builder_end_array(jb);
}

static void
json_add_string(JsonBuilder *jb, const char *name, const char *value)
{
    json_builder_set_member_name(jb, name);
    if (value)
        json_builder_add_string_value(jb, value);
    else
        json_builder_add_null_value(jb);
}

static void
json_add_bool(JsonBuilder *jb, const char *name, gboolean value)
{
    json_builder_set_member_name(jb, name);
    json_builder_add_boolean_value(jb, value);
}

static void
json_add_int(JsonBuilder *jb, const char *name, gint64 value)
{
    json_builder_set_member_name(jb, name);
    json_builder_add_int_value(jb, value);
}

JsonNode *
vfsec_engine_status_json(VfsecEngine *engine)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();

    json_builder_begin_array(jb);
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        json_builder_begin_object(jb);
        json_add_string(jb, "pf", pf->conf->label);
        json_add_string(jb, "plugin", pf->plugin->ops->kind);
        json_add_bool(jb, "connected", pf->connected);
        json_add_int(jb, "vfs", pf->vfs->len);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    return json_builder_get_root(jb);
}

JsonNode *
vfsec_engine_vfs_json(VfsecEngine *engine)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();

    json_builder_begin_array(jb);
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        for (guint i = 0; i < pf->vfs->len; i++) {
            EngineVf *vf = pf->vfs->pdata[i];
            char mbuf[VFSEC_MAC_STRLEN];

            json_builder_begin_object(jb);
            json_add_string(jb, "pf", pf->conf->label);
            json_add_int(jb, "vf", vf->index);
            json_add_string(jb, "pci", vf->pci);
            json_add_string(jb, "netdev", vf->state ? vf->state->netdev : NULL);
            json_add_string(jb, "owner", vf->owned ? vf->own.name : NULL);
            json_add_string(jb, "uuid", vf->owned ? vf->own.uuid : NULL);
            json_add_string(jb, "mac", vf->owned && vf->own.has_mac
                                           ? vfsec_mac_format(&vf->own.mac, mbuf) : NULL);
            json_add_vlans(jb, vf->owned ? vf->own.vlans : NULL);
            json_add_string(jb, "trust", vf->owned ? vfsec_trust_to_string(vf->own.policy.trust)
                                                   : NULL);
            json_add_bool(jb, "hairpin", vf->owned && vf->own.policy.hairpin);
            json_add_bool(jb, "quarantined", vf_port_ok(vf));
            json_add_bool(jb, "published", vf->published);
            json_add_int(jb, "sa_count", vf->state ? (gint64)vf->state->sa_count : 0);
            json_add_string(jb, "last_reclaim", vf->last_reclaim);
            json_add_bool(jb, "releasing", vf->releasing);
            json_add_bool(jb, "reclaim_pending", vf->reclaim_pending);
            json_add_int(jb, "jobs", g_queue_get_length(&vf->queue) +
                                         g_queue_get_length(&vf->parked) +
                                         (vf->current ? 1 : 0));
            json_builder_end_object(jb);
        }
    }
    json_builder_end_array(jb);
    return json_builder_get_root(jb);
}

JsonNode *
vfsec_engine_macs_json(VfsecEngine *engine)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();

    json_builder_begin_array(jb);
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        json_builder_begin_object(jb);
        json_add_string(jb, "pf", pf->conf->label);
        json_add_int(jb, "generation", (gint64)pf->table->generation);
        json_builder_set_member_name(jb, "entries");
        json_builder_begin_array(jb);
        for (guint i = 0; i < pf->table->entries->len; i++) {
            const VfsecMacEntry *e = pf->table->entries->pdata[i];
            char mbuf[VFSEC_MAC_STRLEN];

            json_builder_begin_object(jb);
            json_add_string(jb, "mac", vfsec_mac_format(&e->mac, mbuf));
            if (e->n_tags > 0) {
                json_add_int(jb, "vlan", e->tags[0].vid);
            }
            json_add_int(jb, "vf", e->vf);
            json_add_string(jb, "owner", e->owner_name);
            json_builder_end_object(jb);
        }
        json_builder_end_array(jb);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    return json_builder_get_root(jb);
}

JsonNode *
vfsec_engine_domains_json(VfsecEngine *engine)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;

    /* Every owner, and every domain with a refusal on record. */
    for (guint p = 0; p < engine->pfs->len; p++) {
        EnginePf *pf = engine->pfs->pdata[p];

        for (guint i = 0; i < pf->vfs->len; i++) {
            EngineVf *vf = pf->vfs->pdata[i];

            if (vf->owned && g_hash_table_add(seen, vf->own.name))
                g_ptr_array_add(names, vf->own.name);
        }
    }
    g_hash_table_iter_init(&it, engine->domains);
    while (g_hash_table_iter_next(&it, &key, NULL))
        if (g_hash_table_add(seen, key))
            g_ptr_array_add(names, key);

    json_builder_begin_array(jb);
    for (guint n = 0; n < names->len; n++) {
        const char *name = names->pdata[n];
        DomainRecord *rec = g_hash_table_lookup(engine->domains, name);
        const char *uuid = rec ? rec->uuid : NULL;

        json_builder_begin_object(jb);
        json_add_string(jb, "name", name);
        json_builder_set_member_name(jb, "vfs");
        json_builder_begin_array(jb);
        for (guint p = 0; p < engine->pfs->len; p++) {
            EnginePf *pf = engine->pfs->pdata[p];

            for (guint i = 0; i < pf->vfs->len; i++) {
                EngineVf *vf = pf->vfs->pdata[i];

                if (!vf->owned || strcmp(vf->own.name, name) != 0)
                    continue;
                uuid = vf->own.uuid;
                json_builder_add_string_value(jb, vf->pci ? vf->pci : vf->name);
            }
        }
        json_builder_end_array(jb);
        json_add_string(jb, "uuid", uuid);
        json_add_string(jb, "refusal", rec ? rec->refusal : NULL);
        json_add_bool(jb, "defined", rec && (rec->defined || rec->unparsable));
        json_builder_set_member_name(jb, "problems");
        json_builder_begin_array(jb);
        if (rec) {
            g_autoptr(GPtrArray) problems = defined_problems(engine, rec);

            for (guint i = 0; i < problems->len; i++)
                json_builder_add_string_value(jb, problems->pdata[i]);
        }
        json_builder_end_array(jb);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    return json_builder_get_root(jb);
}
