/* vfsec-agent.h: the NIC emulator's inline IPsec agent — SAD with the
 * extended key, configuration frames, Tx/Rx metadata, ESP, hairpin; pure. */
#pragma once

#include <glib.h>

#include "vfsec-switch.h"
#include "vfsec-wire.h"

G_BEGIN_DECLS

#define VFSEC_AGENT_SAD_CAPACITY_DEFAULT 4096
#define VFSEC_AGENT_MAC_CAPACITY_DEFAULT 1024

typedef struct {
    VfsecWireTags tags;       /* the port's reserved VIDs */
    guint32 sad_capacity;     /* SAs; 0 means VFSEC_AGENT_SAD_CAPACITY_DEFAULT */
    guint32 mac_capacity;     /* local-MAC entries; 0 means the default */
    gboolean hairpin;         /* see vfsec_agent_set_hairpin() */
    VfsecMac mac;             /* the agent's own MAC: source of its replies */
} VfsecAgentConfig;

/* Defaults: default tags, capacities, hairpin on, MAC 02:00:00:00:00:fe. */
void vfsec_agent_config_init(VfsecAgentConfig *cfg);

typedef struct {
    /* configuration */
    guint64 cfg_frames;         /* configuration frames received from the switch */
    guint64 cfg_ok;             /* ops executed with status OK */
    guint64 cfg_op_failed;      /* ops answered with another status */
    guint64 cfg_rejected;       /* frames dropped: malformed, truncated, oversized, wrong
                                 * version/magic/kind */
    guint64 cfg_from_uplink;    /* configuration frames from the wire: never honoured */
    /* transmit (switch -> uplink) */
    guint64 bypassed;           /* bypass-tag frames stripped and passed unparsed */
    guint64 offloaded_tx;       /* frames encrypted */
    guint64 tx_no_sa;           /* Tx metadata without a matching outbound SA: dropped */
    guint64 tx_malformed;       /* Tx metadata or packet unusable, or a forged Rx header: dropped */
    guint64 tso_segments;       /* segments cut from TSO super-frames */
    guint64 tx_error;           /* encryption refused (exhausted SA): dropped */
    guint64 uplink_tx;          /* frames sent to the wire */
    /* receive (uplink -> switch, and the hairpin's Rx pass) */
    guint64 uplink_rx;          /* frames from the wire */
    guint64 decrypted_rx;
    guint64 integrity_fail;
    guint64 replay;
    guint64 no_sa;              /* ESP without a matching inbound SA: delivered as is */
    guint64 rx_malformed;       /* ESP an SA could not parse / reserved tag from the wire */
    /* hairpin */
    guint64 hairpinned;         /* frames turned around toward the switch */
    guint64 hairpinned_esp;     /* ... of which ESP (offloaded before turning) */
    guint64 resets;
} VfsecAgentCounters;

/* One SA as the agent reports it: never any key material. */
typedef struct {
    guint32 index;
    VfsecWireSaKey key;
    VfsecWireDir dir;
    VfsecWireAlg alg;
    guint32 replay_window;
    guint32 seq;         /* outbound: last sent; inbound: highest accepted */
    guint64 packets;     /* processed OK */
    guint64 bytes;
    guint64 errors;      /* integrity/replay failures (inbound), refusals (outbound) */
} VfsecAgentSaInfo;

/* Where the tap sees a frame. */
typedef enum {
    VFSEC_AGENT_TAP_HAIRPIN,    /* a frame turned around (after Tx processing) */
    VFSEC_AGENT_TAP_UPLINK_TX,  /* a frame leaving to the wire */
    VFSEC_AGENT_TAP_UPLINK_RX,  /* a frame arriving from the wire */
    VFSEC_AGENT_TAP_LAST
} VfsecAgentTapPoint;

/* "hairpin", "uplink-tx", "uplink-rx" */
const char *vfsec_agent_tap_point_to_string(VfsecAgentTapPoint point);

/* Sees each frame at a tap point; the bytes are only valid during the call. */
typedef void (*VfsecAgentTapFunc)(VfsecAgentTapPoint point, const guint8 *frame, gsize len,
                                  gpointer user_data);

typedef struct _VfsecAgent VfsecAgent;

/* Fails (VFSEC_ERROR_INVALID) on bad reserved VIDs or a multicast/zero MAC. */
VfsecAgent *vfsec_agent_new(const VfsecAgentConfig *cfg, GError **error);
/* Zeroes every SA's key schedule and frees. */
void vfsec_agent_free(VfsecAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecAgent, vfsec_agent_free)

const VfsecWireTags *vfsec_agent_tags(const VfsecAgent *agent);
const VfsecMac *vfsec_agent_mac(const VfsecAgent *agent);
/* The hairpin turns frames for local-table destinations around. The port
 * turns it on only in VEPA mode (a VEB switches East-West itself). */
void vfsec_agent_set_hairpin(VfsecAgent *agent, gboolean hairpin);
gboolean vfsec_agent_get_hairpin(const VfsecAgent *agent);
/* Replaces the tap (NULL: none); @destroy frees @user_data when replaced or
 * with the agent. */
void vfsec_agent_set_tap(VfsecAgent *agent, VfsecAgentTapFunc func, gpointer user_data,
                         GDestroyNotify destroy);

/* A frame the switch sent up (starting at the destination MAC) from
 * function @src_fn. Appends to @out (see vfsec_frame_list_new()):
 *   UPLINK outputs (data, bypassed, encrypted frames; fn = @src_fn);
 *   SWITCH outputs flagged VFSEC_FRAME_REPLY (the reply to a configuration
 *   request, addressed to its sender) or VFSEC_FRAME_HAIRPIN (a frame turned
 *   around and passed through Rx processing), fn = @src_fn.
 * Frames that are refused are counted and produce nothing. */
void vfsec_agent_from_switch(VfsecAgent *agent, const guint8 *frame, gsize len, int src_fn,
                             GArray *out);
/* A frame from the wire: appends SWITCH outputs (fn = VFSEC_FN_NONE); ESP for
 * an inbound SA is decrypted and carries Rx metadata; configuration frames are
 * counted and dropped. */
void vfsec_agent_from_uplink(VfsecAgent *agent, const guint8 *frame, gsize len, GArray *out);

/* Forgets every SA and the local-MAC table (generation back to 0), as a
 * device reset does; counters are kept (resets + 1). A retried request (same
 * seq after a lost reply) is simply executed again: every op answers it
 * consistently (docs/wire-protocol.md section 3.4). */
void vfsec_agent_reset(VfsecAgent *agent);

/* What a QUERY op answers. */
void vfsec_agent_query(const VfsecAgent *agent, VfsecWireQueryInfo *info);
/* The SAD, ordered by index: a new GArray of VfsecAgentSaInfo. */
GArray *vfsec_agent_sad_dump(const VfsecAgent *agent);
guint vfsec_agent_sa_count(const VfsecAgent *agent);
/* When the agent last changed its state, as g_get_monotonic_time() (0:
 * never): benchmarks date the end of a reclaim or a publication with it. */
typedef struct {
    gint64 sa_removed_us;     /* the last SA removal (REMOVE_SA, reset) */
    gint64 macs_changed_us;   /* the last accepted SET_MACS */
} VfsecAgentTimes;
const VfsecAgentTimes *vfsec_agent_times(const VfsecAgent *agent);
/* The local-MAC table (owned by the agent; VfsecWireMacEntry) and its generation. */
const GArray *vfsec_agent_mac_table(const VfsecAgent *agent, guint32 *generation);
/* TRUE when (@mac, VLAN tags) is in the local-MAC table. */
gboolean vfsec_agent_mac_is_local(const VfsecAgent *agent, const VfsecMac *mac, guint n_tags,
                                  const VfsecWireVlan *tags);

const VfsecAgentCounters *vfsec_agent_counters(const VfsecAgent *agent);
/* Every counter as "agent.<name>". */
void vfsec_agent_counters_foreach(const VfsecAgent *agent, VfsecCounterFunc func,
                                  gpointer user_data);

G_END_DECLS
