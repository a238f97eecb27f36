/* vfsec-nicport.h: one emulated NIC port — embedded switch + inline IPsec
 * agent + a model of the VF drivers' xfrm offload — as a pure frame core:
 * a frame in at a function or the uplink, the frames out and where. */
#pragma once

#include <glib.h>

#include "vfsec-agent.h"
#include "vfsec-switch.h"
#include "vfsec-wire.h"

G_BEGIN_DECLS

/* The largest frame the port accepts from a function or the wire. */
#define VFSEC_NICPORT_FRAME_MAX 65535
/* How many internal hops (switch -> agent -> hairpin -> switch ...) one input
 * may take before the rest is dropped as a loop. */
#define VFSEC_NICPORT_MAX_HOPS 8

typedef struct {
    guint n_vfs;                 /* 0..VFSEC_SWITCH_MAX_VFS */
    VfsecSwitchMode mode;        /* initial switch mode */
    VfsecAgentConfig agent;      /* tags, SAD capacity, hairpin, agent MAC */
} VfsecNicPortConfig;

/* Defaults: 8 VFs, VEB, vfsec_agent_config_init(). */
void vfsec_nicport_config_init(VfsecNicPortConfig *cfg);

/* The VF-driver model's counters, per function. */
typedef struct {
    guint64 esp_tx;          /* packets given an ESP header + Tx metadata */
    guint64 rx_md_stripped;  /* Rx metadata consumed before the netdev */
    guint64 rx_crypto_drops; /* Rx metadata saying integrity-fail/replay/malformed: dropped,
                              * as the xfrm stack drops a packet whose offload failed */
} VfsecNicPortDriverCounters;

typedef struct {
    guint64 from_functions;  /* frames in from the PF/VFs */
    guint64 from_uplink;     /* frames in from the wire */
    guint64 oversized_drops; /* inputs over VFSEC_NICPORT_FRAME_MAX */
    guint64 loop_drops;      /* frames dropped by the hop limit */
} VfsecNicPortCounters;

typedef struct _VfsecNicPort VfsecNicPort;

VfsecNicPort *vfsec_nicport_new(const VfsecNicPortConfig *cfg, GError **error);
void vfsec_nicport_free(VfsecNicPort *port);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecNicPort, vfsec_nicport_free)

/* The parts (owned by the port): read state and counters, set function
 * state (MAC, port tag, trust, spoofchk) on the switch, set the tap on the
 * agent. Change the mode and hairpin only through the port (below). */
VfsecSwitch *vfsec_nicport_switch(VfsecNicPort *port);
VfsecAgent *vfsec_nicport_agent(VfsecNicPort *port);

void vfsec_nicport_set_mode(VfsecNicPort *port, VfsecSwitchMode mode);
VfsecSwitchMode vfsec_nicport_get_mode(const VfsecNicPort *port);
/* The agent hairpins only when this is on AND the switch is in VEPA mode. */
void vfsec_nicport_set_hairpin(VfsecNicPort *port, gboolean hairpin);
gboolean vfsec_nicport_get_hairpin(const VfsecNicPort *port);

/* ---- VF-driver model ----
 * What a VF's (or the PF's) driver with xfrm offload does at the function
 * boundary. The emulator calls these when a mailbox ADD_SA/REMOVE_SA on
 * behalf of @fn succeeded, and clears @fn on reclaim or VF reset. Only
 * outbound SAs matter to the model; inbound ones are accepted and ignored.
 * The model keeps no key material (the agent encrypts). */

/* Registers an outbound SA of @fn; its key's MAC/VLAN tags say which frames
 * of @fn it covers. Fails on an unknown function or a key already known. */
gboolean vfsec_nicport_driver_add_sa(VfsecNicPort *port, int fn, const VfsecWireAddSa *sa,
                                     GError **error);
/* Forgets the SA with @key; FALSE when @fn had none. */
gboolean vfsec_nicport_driver_remove_sa(VfsecNicPort *port, int fn, const VfsecWireSaKey *key);
/* Forgets every SA of @fn; returns how many. */
guint vfsec_nicport_driver_clear(VfsecNicPort *port, int fn);
guint vfsec_nicport_driver_sa_count(const VfsecNicPort *port, int fn);
/* NULL for an unknown function. */
const VfsecNicPortDriverCounters *vfsec_nicport_driver_counters(const VfsecNicPort *port, int fn);

/* ---- Frames ----
 * @out is a vfsec_frame_list_new() array; outputs are appended, each with
 * egress FUNCTION (fn = VF index or VFSEC_FN_PF) or UPLINK, already through
 * the VF-driver model (Rx metadata consumed). Internal hops never appear. */

/* A frame function @fn's netdev sent (starting at the destination MAC): an
 * IP packet to a destination with an outbound SA of @fn leaves the driver
 * model as ESP-with-Tx-metadata, then switch, agent, hairpin. FALSE only for
 * an unknown @fn. */
gboolean vfsec_nicport_from_function(VfsecNicPort *port, int fn, const guint8 *frame, gsize len,
                                     GArray *out, GError **error);
/* The segments of one TSO super-frame: like vfsec_nicport_from_function()
 * for each, except that the driver stamps the SAME IV on all of them and
 * sets the TSO flag with @mss, so the agent's IVDB rule has to make the IVs
 * increase. */
gboolean vfsec_nicport_from_function_tso(VfsecNicPort *port, int fn,
                                         const guint8 *const *segments, const gsize *lens,
                                         guint n_segments, guint16 mss, GArray *out,
                                         GError **error);
/* A frame from the wire. */
void vfsec_nicport_from_uplink(VfsecNicPort *port, const guint8 *frame, gsize len, GArray *out);

/* ---- Counters ---- */
const VfsecNicPortCounters *vfsec_nicport_counters(const VfsecNicPort *port);
/* Every counter of the port: "port.<name>", the switch's ("switch.", "pf.",
 * "vf<N>."), the driver model's ("pf.driver_<name>", "vf<N>.driver_<name>")
 * and the agent's ("agent."). */
void vfsec_nicport_counters_foreach(const VfsecNicPort *port, VfsecCounterFunc func,
                                    gpointer user_data);

G_END_DECLS
