/* vfsec-pfdrv.h: the NIC emulator's PF driver for one physical port: the SA
 * database with its SAD domains, the VF mailbox, batched reclaim, retries and
 * fault injection on the agent-reply path. I/O-free: frames go out through a
 * callback and agent replies come in through vfsec_pfdrv_receive_frame(). */
#pragma once

#include <gio/gio.h>

#include "vfsec-addr.h"
#include "vfsec-wire.h"

G_BEGIN_DECLS

/* The SAD domain of the PF's own SAs, wherever a VF index is expected. Replies
 * to port-wide operations (REMOVE_ALL_SA, MAC_REPLACE, QUERY) belong to it too
 * for fault injection. */
#define VFSEC_PFDRV_PF G_MAXUINT
/* Fault/gate scope meaning every reply of the port, whatever its domain. */
#define VFSEC_PFDRV_PORT (G_MAXUINT - 1)
/* VF indexes are below this (PCIe SR-IOV TotalVFs is a 16-bit field). */
#define VFSEC_PFDRV_MAX_VFS 65536
/* The agent's SA indexes are below its SAD capacity (QUERY); until a QUERY
 * has told it, the PF driver accepts indexes below this bound, and never
 * more: an ADD_SA answered with a larger index fails (VFSEC_ERROR_PROTOCOL). */
#define VFSEC_PFDRV_MAX_SAS (1u << 20)

/* Defaults used when a VfsecPfdrvConfig field is 0. */
#define VFSEC_PFDRV_DEFAULT_RETRY_MS 100       /* wait for one reply before resending */
#define VFSEC_PFDRV_DEFAULT_OP_TIMEOUT_MS 2000 /* add/remove/port ops, all retries included */
#define VFSEC_PFDRV_DEFAULT_RECLAIM_MS 5000    /* reclaim with timeout_ms 0 */
#define VFSEC_PFDRV_DEFAULT_PIPELINE 8         /* frames of one reclaim in flight at once */

typedef struct _VfsecPfdrv VfsecPfdrv;

/* What the PF checks a VF's mailbox request against. The executable owns VF
 * state and hands a copy to the PF driver through VfsecPfdrvVfLookupFunc. */
typedef struct {
    gboolean has_mac;          /* FALSE: the VF has no MAC yet; it may add no SA */
    VfsecMac mac;              /* the MAC the VF uses now (administrative or its own) */
    gboolean has_port_tag;     /* the PF pushes port_tag on every frame of the VF */
    VfsecWireVlan port_tag;    /* TPID and TCI; only TPID and VID are compared */
    gboolean trust;            /* trusted: may use 802.1ad and two tags of its own */
    gboolean spoofchk;         /* off and untrusted: the VF may offload nothing */
} VfsecPfdrvVfState;

/* Fills @state for VF @vf and returns TRUE, or returns FALSE when the port has
 * no such VF. Called synchronously from the mailbox functions. */
typedef gboolean (*VfsecPfdrvVfLookupFunc)(guint vf, VfsecPfdrvVfState *state, gpointer user_data);

/* Sends one configuration frame towards the agent. @frame is only valid during
 * the call. The callback may feed the agent's reply back synchronously with
 * vfsec_pfdrv_receive_frame(): it is queued and handled once the PF driver is
 * done sending. */
typedef void (*VfsecPfdrvSendFunc)(VfsecPfdrv *pfdrv, const guint8 *frame, gsize len,
                                   gpointer user_data);

typedef struct {
    const char *name;          /* port label for messages and logs, e.g. "p0"; copied */
    VfsecWireTags tags;        /* the port's reserved VIDs */
    VfsecWireL2 l2;            /* envelope of the frames the PF sends: src is the PF's
                                * MAC (also the local MAC of the PF's own SAs), dst the
                                * agent's */
    guint retry_ms;            /* 0: VFSEC_PFDRV_DEFAULT_RETRY_MS */
    guint op_timeout_ms;       /* 0: VFSEC_PFDRV_DEFAULT_OP_TIMEOUT_MS */
    guint reclaim_timeout_ms;  /* 0: VFSEC_PFDRV_DEFAULT_RECLAIM_MS */
    guint pipeline;            /* 0: VFSEC_PFDRV_DEFAULT_PIPELINE */
    gboolean one_op_per_frame; /* benchmarks: one REMOVE_SA per frame, one frame at a time */
} VfsecPfdrvConfig;

/* Fills @config with the defaults (tags default, no name, zero MACs). */
void vfsec_pfdrv_config_init(VfsecPfdrvConfig *config);

/* A PF driver on the caller's thread-default main context (timers run there;
 * every function must be called from the thread that runs it). @destroy frees
 * @user_data (shared by @send and @lookup) with the driver. Fails on invalid
 * tags. */
VfsecPfdrv *vfsec_pfdrv_new(const VfsecPfdrvConfig *config, VfsecPfdrvSendFunc send,
                            VfsecPfdrvVfLookupFunc lookup, gpointer user_data,
                            GDestroyNotify destroy, GError **error);
/* Fails every pending operation with VFSEC_ERROR_FAILED (their callbacks run
 * before this returns and must not use @pfdrv), zeroes the SA database and key
 * material still held, and frees. */
void vfsec_pfdrv_free(VfsecPfdrv *pfdrv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecPfdrv, vfsec_pfdrv_free)

const char *vfsec_pfdrv_get_name(VfsecPfdrv *pfdrv);
/* Switches between batched reclaim and one REMOVE_SA per frame (benchmarks).
 * Applies to reclaims that start afterwards. */
void vfsec_pfdrv_set_one_op_per_frame(VfsecPfdrv *pfdrv, gboolean one_op_per_frame);

/* Feeds one frame received from the agent (starting at the destination MAC).
 * Frames that are no configuration reply, fail to decode, or answer no pending
 * request are counted and ignored. Never fails. */
void vfsec_pfdrv_receive_frame(VfsecPfdrv *pfdrv, const guint8 *frame, gsize len);

/* ---- The SA database ---- */

/* One offloaded SA as the PF driver records it. No key material. */
typedef struct {
    guint domain;              /* VF index or VFSEC_PFDRV_PF */
    guint32 sa_index;          /* the agent's, from the ADD_SA reply */
    VfsecWireSaKey key;        /* extended key, canonical form */
    VfsecWireDir dir;
} VfsecPfdrvSa;

/* SAs recorded for @domain (VF index or VFSEC_PFDRV_PF), or for the whole port
 * with VFSEC_PFDRV_PORT. */
guint vfsec_pfdrv_sa_count(VfsecPfdrv *pfdrv, guint domain);
/* A new array of VfsecPfdrvSa for @domain (as above), ordered by sa_index. */
GArray *vfsec_pfdrv_list_sas(VfsecPfdrv *pfdrv, guint domain);

/* ---- The mailbox (xdo_dev_state_add / _delete of a VF driver) ---- */

/*
 * Adds an SA in @vf's SAD domain (VFSEC_PFDRV_PF: the PF's own). The PF checks
 * the key against the VF's state first and refuses with VFSEC_ERROR_PERMISSION,
 * naming the VF and the field, when the key's local MAC is not the VF's, its
 * outer tag is not the VF's port tag, it uses a reserved VID, or the VF's
 * trust/spoofchk settings do not allow it; VFSEC_ERROR_NOT_FOUND for an unknown
 * VF; VFSEC_ERROR_CONFLICT when the key is already offloaded. Then it sends
 * ADD_SA, waits for the reply (retrying lost ones), records the SA and answers
 * with the agent's SA index. @sa is copied; the copy of its key material is
 * zeroed as soon as the reply is in. Operations on one domain run one at a time
 * in arrival order.
 */
void vfsec_pfdrv_vf_add_sa_async(VfsecPfdrv *pfdrv, guint vf, const VfsecWireAddSa *sa,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean vfsec_pfdrv_vf_add_sa_finish(VfsecPfdrv *pfdrv, GAsyncResult *result,
                                      guint32 *sa_index, GError **error);

/* Removes the SA with @key from @vf's domain: VFSEC_ERROR_NOT_FOUND when no SA
 * has that key, VFSEC_ERROR_PERMISSION when it belongs to another domain. Sends
 * REMOVE_SA by index with the SPI guard. */
void vfsec_pfdrv_vf_remove_sa_async(VfsecPfdrv *pfdrv, guint vf, const VfsecWireSaKey *key,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean vfsec_pfdrv_vf_remove_sa_finish(VfsecPfdrv *pfdrv, GAsyncResult *result,
                                         GError **error);

/* ---- Reclaim ---- */

typedef struct {
    guint64 removed;           /* removals the agent confirmed (or SAs it no longer held) */
    guint64 failed;            /* removals the agent refused */
    guint64 remaining;         /* SAs left in the domain when answered */
} VfsecPfdrvReclaim;

/*
 * Removes every SA of @vf's domain (VFSEC_PFDRV_PF allowed): REMOVE_SA by index
 * with the SPI guard, as few frames as the codec allows, up to config.pipeline
 * frames in flight, answered once the agent has answered every removal. With
 * @timeout_ms (0: config.reclaim_timeout_ms) expired it fails with
 * VFSEC_ERROR_TIMEOUT naming the VF and how many SAs remain; removals confirmed
 * until then stay done. A domain with no SA answers {0, 0, 0} without a frame.
 * Cancelling stops it like a timeout (G_IO_ERROR_CANCELLED).
 */
void vfsec_pfdrv_reclaim_vf_async(VfsecPfdrv *pfdrv, guint vf, guint timeout_ms,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean vfsec_pfdrv_reclaim_vf_finish(VfsecPfdrv *pfdrv, GAsyncResult *result,
                                       VfsecPfdrvReclaim *reclaim, GError **error);

/* TRUE while a reclaim of @vf's domain is queued or running (the contract
 * answers a second reclaim-vf of that VF "busy"). */
gboolean vfsec_pfdrv_reclaim_pending(VfsecPfdrv *pfdrv, guint vf);

/* REMOVE_ALL_SA: empties the agent's SAD and the database. Waits for every
 * operation queued before it and holds back every one queued after it.
 * *removed (optional) is the count the agent reported. */
void vfsec_pfdrv_reclaim_port_async(VfsecPfdrv *pfdrv, guint timeout_ms,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean vfsec_pfdrv_reclaim_port_finish(VfsecPfdrv *pfdrv, GAsyncResult *result,
                                         guint32 *removed, GError **error);

/* ---- Port operations ---- */

/* MAC_REPLACE: replaces the agent's local-MAC table and sets its generation
 * to @generation, which must be greater than the agent's (else
 * VFSEC_ERROR_CONFLICT naming the agent's current one); *new_generation
 * (optional) receives the generation the agent confirmed. More entries than one
 * op holds (VFSEC_WIRE_MAC_REPLACE_MAX) fail with VFSEC_ERROR_TOO_LARGE.
 * @entries is copied. */
void vfsec_pfdrv_mac_replace_async(VfsecPfdrv *pfdrv, guint32 generation,
                                   const VfsecWireMacEntry *entries, guint n_entries,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean vfsec_pfdrv_mac_replace_finish(VfsecPfdrv *pfdrv, GAsyncResult *result,
                                        guint32 *new_generation, GError **error);

/* QUERY: the agent's capacity and counts. */
void vfsec_pfdrv_query_async(VfsecPfdrv *pfdrv, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_pfdrv_query_finish(VfsecPfdrv *pfdrv, GAsyncResult *result,
                                  VfsecWireQueryInfo *info, GError **error);

/* ---- Fault injection on the agent-reply path ---- */

/*
 * A reply is attributed to a scope by the request it answers (its seq): the
 * VF whose domain the request serves, or VFSEC_PFDRV_PF for the PF's SAs and
 * port operations. A fault set on that scope applies first; if none is set,
 * the fault on VFSEC_PFDRV_PORT does. Replies that match no pending request
 * are never faulted.
 */
typedef enum {
    VFSEC_PFDRV_FAULT_NONE,
    VFSEC_PFDRV_FAULT_DROP,       /* the reply is lost: the request is resent */
    VFSEC_PFDRV_FAULT_DELAY,      /* the reply arrives delay_ms later */
    VFSEC_PFDRV_FAULT_DUPLICATE,  /* the reply arrives twice */
    VFSEC_PFDRV_FAULT_CORRUPT,    /* the reply arrives damaged (fails decoding) */
    VFSEC_PFDRV_FAULT_LAST
} VfsecPfdrvFault;

/* "none", "drop", "delay", "duplicate", "corrupt" */
const char *vfsec_pfdrv_fault_to_string(VfsecPfdrvFault fault);
/* Returns -1 for an unknown name. */
int vfsec_pfdrv_fault_from_string(const char *str);

/* Applies @fault to the next @count replies of @scope (0: to all of them until
 * changed). @delay_ms is used by VFSEC_PFDRV_FAULT_DELAY only. Replaces the
 * scope's previous fault; VFSEC_PFDRV_FAULT_NONE clears it. */
void vfsec_pfdrv_set_fault(VfsecPfdrv *pfdrv, guint scope, VfsecPfdrvFault fault,
                           guint count, guint delay_ms);

/* The gate: while held, replies of @scope (after faults) are kept, in arrival
 * order, instead of being handled. Releasing hands every kept reply that no
 * other held gate covers to the driver, in order, before returning. */
void vfsec_pfdrv_gate_hold(VfsecPfdrv *pfdrv, guint scope);
void vfsec_pfdrv_gate_release(VfsecPfdrv *pfdrv, guint scope);
/* Replies kept right now by gates (any scope with VFSEC_PFDRV_PORT). */
guint vfsec_pfdrv_gate_held(VfsecPfdrv *pfdrv, guint scope);

/* ---- Introspection ---- */

typedef enum {
    VFSEC_PFDRV_COUNTER_FRAMES_SENT,       /* request frames, retries included */
    VFSEC_PFDRV_COUNTER_RETRIES,           /* frames resent after a reply timeout */
    VFSEC_PFDRV_COUNTER_REPLIES,           /* frames received */
    VFSEC_PFDRV_COUNTER_REPLIES_ACCEPTED,  /* replies that completed a request */
    VFSEC_PFDRV_COUNTER_REPLIES_INVALID,   /* not a reply, or not to its request */
    VFSEC_PFDRV_COUNTER_REPLIES_UNMATCHED, /* late or duplicate: no request waits */
    VFSEC_PFDRV_COUNTER_FAULT_DROPPED,
    VFSEC_PFDRV_COUNTER_FAULT_DELAYED,
    VFSEC_PFDRV_COUNTER_FAULT_DUPLICATED,
    VFSEC_PFDRV_COUNTER_FAULT_CORRUPTED,
    VFSEC_PFDRV_COUNTER_GATE_HELD,         /* replies ever kept by a gate */
    VFSEC_PFDRV_COUNTER_STALE_SAS,         /* recorded SAs the agent no longer held */
    VFSEC_PFDRV_COUNTER_LAST
} VfsecPfdrvCounter;

/* "frames-sent", "retries", "replies", "replies-accepted", "replies-invalid",
 * "replies-unmatched", "fault-dropped", "fault-delayed", "fault-duplicated",
 * "fault-corrupted", "gate-held", "stale-sas" (contract counter names). */
const char *vfsec_pfdrv_counter_to_string(VfsecPfdrvCounter counter);
guint64 vfsec_pfdrv_get_counter(VfsecPfdrv *pfdrv, VfsecPfdrvCounter counter);

/* Request frames sent and not answered yet (pipelining shows here). */
guint vfsec_pfdrv_in_flight(VfsecPfdrv *pfdrv);
/* Operations queued or running. */
guint vfsec_pfdrv_pending_ops(VfsecPfdrv *pfdrv);

G_END_DECLS
