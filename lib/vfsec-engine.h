/* vfsec-engine.h: vfsecd's engine — per-VF operations (prepare, quarantine,
 * publish, release, reclaim, reconcile) serialized per VF, on the PF plugins,
 * with the journal and the local-MAC tables; nothing here knows libvirt. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "vfsec-conf.h"
#include "vfsec-domain.h"
#include "vfsec-plugin.h"

G_BEGIN_DECLS

typedef struct _VfsecEngine VfsecEngine;

/* Creates the engine. Takes @conf and @plugins (VfsecPlugin*, one per
 * [pf LABEL] of @conf, matched by label; the array's free function frees
 * them, so give it one). Opens the journal in conf->state_dir; the local-MAC
 * files go to conf->local_macs_dir. Nothing is started: call
 * vfsec_engine_start_async(). Returns NULL with @error when a PF has no
 * plugin, a plugin serves no PF, or the journal cannot be opened. */
VfsecEngine *vfsec_engine_new(VfsecConf *conf, GPtrArray *plugins, GError **error);
/* Frees the engine. Operations still running complete with
 * G_IO_ERROR_CANCELLED; what they left half done stays in the journal for
 * the next engine's reconcile. */
void vfsec_engine_free(VfsecEngine *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecEngine, vfsec_engine_free)

/* Called (on the engine's context) when PF @pf_label's driver came back
 * after it was lost: state may have changed behind vfsecd's back, so the
 * owner runs a full reconcile with libvirt's running domains. Without a
 * function set, the engine reconciles on its registry's owners. */
typedef void (*VfsecEngineReconnectFunc)(VfsecEngine *engine, const char *pf_label,
                                         gpointer user_data);
void vfsec_engine_set_reconnect_func(VfsecEngine *engine, VfsecEngineReconnectFunc func,
                                     gpointer user_data);

/* The configuration the engine runs with (borrowed; a reload replaces it). */
const VfsecConf *vfsec_engine_get_conf(VfsecEngine *engine);

/* Reload (SIGHUP): hands the engine a new configuration, taking @conf in
 * every case. Timeouts, tags, policy defaults and per-PF settings (hairpin,
 * fail-closed, vf-trust, vf-hairpin) apply from now on: a port whose hairpin
 * went off is unpublished at once, one whose hairpin went on is put in VEPA
 * mode; owners keep their effective policy until the next reconcile with
 * libvirt's view recomputes it. A different [pf] set (labels, plugin, socket,
 * port, netdev) needs a restart: VFSEC_ERROR_UNSUPPORTED naming the group,
 * and the engine keeps its configuration. */
gboolean vfsec_engine_set_conf(VfsecEngine *engine, VfsecConf *conf, GError **error);

/* Starts every plugin, lists its VFs, puts hairpin ports in VEPA mode and
 * restores the journal's assignments into the registry. A PF whose plugin
 * fails to start is reported in the error (the first one) and left
 * disconnected; the others work. */
void vfsec_engine_start_async(VfsecEngine *engine, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_engine_start_finish(VfsecEngine *engine, GAsyncResult *result, GError **error);

/*
 * Domain operations. Each one copies what it needs from @domain (which the
 * caller keeps), queues one job per VF concerned behind the jobs already
 * queued on that VF, and completes when all of them did. All are
 * idempotent: calling one twice (hook and event) acts once.
 *
 * prepare: resolves every attachment to a managed VF (others are ignored),
 *   refuses (VFSEC_ERROR_CONFLICT) a VF another domain owns or a MAC + VLAN
 *   key already on the port, refuses (VFSEC_ERROR_UNSUPPORTED) an untrusted
 *   VF with a <vlan>, claims the VF and reclaims its leftover SAs. On any
 *   error, the VFs this call claimed are released again.
 * quarantine: applies the owned VFs' port settings and verifies the read-back.
 * publish: adds the owned VFs' MACs to their ports' local-MAC tables (on
 *   hairpin PFs, for VFs whose hairpin policy is on).
 * A PF driver failing in prepare, quarantine or publish fails the operation
 * on a fail-closed PF only; otherwise it is logged and the domain goes on.
 * release: reclaims, unpublishes, re-quarantines and frees the owned VFs; a
 *   reclaim failure is logged and left pending in the journal, never fails
 *   the release.
 * reclaim: reclaims the owned VFs' SAs, the domain keeps them.
 * stop: (stopped hook) reclaims and unpublishes the owned VFs at once, but
 *   they stay the domain's, "releasing", until a release (release hook,
 *   STOPPED event) or a reconcile that finds the domain not running: libvirt
 *   still restores their MAC and VLAN after the stopped hook. Another
 *   domain's prepare of a releasing VF waits for that, within the request's
 *   deadline (then VFSEC_ERROR_TIMEOUT naming the VF and the stopped domain);
 *   the same domain's prepare takes it back at once.
 */
typedef enum {
    VFSEC_ENGINE_OP_PREPARE,
    VFSEC_ENGINE_OP_QUARANTINE,
    VFSEC_ENGINE_OP_PUBLISH,
    VFSEC_ENGINE_OP_RELEASE,
    VFSEC_ENGINE_OP_RECLAIM,    /* guest reboot or panic: the VF stays owned */
    VFSEC_ENGINE_OP_STOP,       /* stopped hook: reclaim, the VF stays owned until released */
    VFSEC_ENGINE_OP_LAST
} VfsecEngineOp;

/* "prepare", "quarantine", "publish", "release", "reclaim", "stop". */
const char *vfsec_engine_op_to_string(VfsecEngineOp op);
/* Returns -1 for an unknown string. */
int vfsec_engine_op_from_string(const char *str);

/* Runs domain operation @op (see above) on @domain. */
void vfsec_engine_run_async(VfsecEngine *engine, VfsecEngineOp op, const VfsecDomain *domain,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);
/* Hot-plug of attachment @index of @domain: prepare + quarantine + publish of
 * that one VF (attach), or its release (detach). */
void vfsec_engine_attach_async(VfsecEngine *engine, const VfsecDomain *domain, guint index,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
void vfsec_engine_detach_async(VfsecEngine *engine, const VfsecDomain *domain, guint index,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
/* Device removed: releases every VF the domain owns that its live XML @live
 * (after the removal) no longer names — no need to know which device went,
 * nor any earlier XML. */
void vfsec_engine_detach_missing_async(VfsecEngine *engine, const VfsecDomain *live,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
/* Finishes any of the domain operations above. */
gboolean vfsec_engine_operation_finish(VfsecEngine *engine, GAsyncResult *result,
                                       GError **error);

/* Reclaims the SAs of VF @vf_index of PF @pf_label on request (vfsecctl
 * reclaim), queued behind that VF's other jobs like any operation on it.
 * Refuses (VFSEC_ERROR_CONFLICT) a VF that a domain owns when the job runs;
 * VFSEC_ERROR_NOT_FOUND for an unknown PF or VF. *@removed: SAs removed. */
void vfsec_engine_reclaim_vf_async(VfsecEngine *engine, const char *pf_label, guint vf_index,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean vfsec_engine_reclaim_vf_finish(VfsecEngine *engine, GAsyncResult *result,
                                        guint64 *removed, GError **error);

/* Define: remembers what domain @name's (inactive) XML @domain needs, so that
 * `domains` can say what would make its start fail — checked again at each
 * query against the VFs' current owners: an attachment that resolves to no
 * managed VF (or cannot be resolved while a PF driver is away), a VF another
 * running domain owns, a MAC + VLAN key that collides on the port, an
 * untrusted VF with a <vlan>, a reserved VLAN. A define is never refused.
 * @domain NULL: its XML could not be parsed, @unparsable says why. */
void vfsec_engine_define(VfsecEngine *engine, const char *name, const char *uuid,
                         const VfsecDomain *domain, const char *unparsable);

/* Undefine: forgets what the engine remembers about domain @name (its define
 * and its last refusal). VFs it still owns are kept: a running domain can be undefined. */
void vfsec_engine_forget(VfsecEngine *engine, const char *name, const char *uuid);

/* What a reconcile corrected, one count per kind (each also an audit entry). */
typedef struct {
    guint intents_finished;     /* pending journal intents completed */
    guint reclaimed;            /* VFs whose SAs were reclaimed */
    guint quarantined;          /* VFs whose port settings were re-applied */
    guint released;             /* VFs owned by a domain no longer running */
    guint adopted;              /* VFs of running domains the registry did not know */
    guint republished;          /* local-MAC tables pushed again */
    guint failed;               /* corrections that failed (logged) */
} VfsecEngineSummary;

/* Converges on @domains (VfsecDomain*, the running domains' live XML; NULL:
 * keep the registry's owners, as after a PF driver reconnected):
 * finishes the journal's pending intents, releases VFs of domains not in
 * @domains, reclaims SAs of unowned VFs, re-applies port settings that
 * differ, republishes tables that differ. Failures of single corrections are
 * counted and logged, not returned. */
void vfsec_engine_reconcile_async(VfsecEngine *engine, GPtrArray *domains,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
/* The same for @domains listed at @listed_at (g_get_monotonic_time() taken
 * before the listing started): a VF claimed after that is not released for
 * missing from @domains, as its domain was starting while they were listed.
 * vfsec_engine_reconcile_async() takes the time of the call. */
void vfsec_engine_reconcile_listed_async(VfsecEngine *engine, GPtrArray *domains,
                                         gint64 listed_at, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_engine_reconcile_finish(VfsecEngine *engine, GAsyncResult *result,
                                       VfsecEngineSummary *summary, GError **error);

/* Introspection for vfsecctl, each a new JsonNode (an array of objects):
 * status: PFs {pf, plugin, connected, vfs};
 * vfs: registry rows {pf, vf, pci, netdev, owner, uuid, mac, vlans, trust,
 *   hairpin, quarantined, published, sa_count, last_reclaim, releasing (its
 *   owner stopped, libvirt has not released it yet), reclaim_pending (the
 *   last reclaim failed: reconcile retries), jobs (running + queued)};
 * macs: tables {pf, generation, entries [{mac, vlan?, vf, owner}]};
 * domains: {name, uuid, vfs [pci...], refusal, defined, problems [string...]}
 *   (problems: see vfsec_engine_define, evaluated now). */
JsonNode *vfsec_engine_status_json(VfsecEngine *engine);
JsonNode *vfsec_engine_vfs_json(VfsecEngine *engine);
JsonNode *vfsec_engine_macs_json(VfsecEngine *engine);
JsonNode *vfsec_engine_domains_json(VfsecEngine *engine);

G_END_DECLS
