/* vfsec-switch.h: the NIC emulator's embedded switch (VEB/VEPA) between a
 * port's functions (PF, VFs) and its inline IPsec agent; pure, no I/O. */
#pragma once

#include <glib.h>

#include "vfsec-addr.h"
#include "vfsec-wire.h"

G_BEGIN_DECLS

#define VFSEC_SWITCH_MAX_VFS 64

/* Function indexes: VFs are 0..n_vfs-1; these name the others. */
#define VFSEC_FN_PF   (-1)  /* the physical function */
#define VFSEC_FN_NONE (-2)  /* no function (e.g. a frame that came from the wire) */

/* ---- Frames out ------------------------------------------------------- */

/* Where a frame produced by the switch, the agent or a port goes. */
typedef enum {
    VFSEC_EGRESS_FUNCTION,  /* to a function: VfsecFrameOut.fn (a VF index or VFSEC_FN_PF) */
    VFSEC_EGRESS_UPLINK,    /* to the wire */
    VFSEC_EGRESS_AGENT,     /* internal: from the switch up into the agent */
    VFSEC_EGRESS_SWITCH,    /* internal: from the agent down into the switch */
    VFSEC_EGRESS_LAST
} VfsecEgress;

/* "function", "uplink", "agent", "switch" */
const char *vfsec_egress_to_string(VfsecEgress egress);

/* VfsecFrameOut.flags */
#define VFSEC_FRAME_HAIRPIN 0x01  /* turned around by the agent's hairpin */
#define VFSEC_FRAME_REPLY   0x02  /* a configuration reply from the agent */
#define VFSEC_FRAME_FLOOD   0x04  /* one copy of a broadcast/multicast frame */

/* One frame to emit. */
typedef struct {
    VfsecEgress egress;
    int fn;              /* FUNCTION: the receiver; UPLINK/AGENT/SWITCH: the function
                          * the frame originally came from, or VFSEC_FN_NONE */
    guint flags;         /* VFSEC_FRAME_* */
    GByteArray *frame;   /* owned by the list; starts at the destination MAC */
} VfsecFrameOut;

/* A GArray of VfsecFrameOut that frees each frame when an element is removed
 * or the array is freed (g_array_unref / g_array_set_size(out, 0) to reuse). */
GArray *vfsec_frame_list_new(void);
/* Appends a copy of @data. Returns the new element (valid until the next append). */
VfsecFrameOut *vfsec_frame_list_push(GArray *out, VfsecEgress egress, int fn, guint flags,
                                     const guint8 *data, gsize len);
/* Appends @frame, taking ownership. */
VfsecFrameOut *vfsec_frame_list_take(GArray *out, VfsecEgress egress, int fn, guint flags,
                                     GByteArray *frame);

/* What the port's parts need to know about a frame's L2 layout. */
typedef struct {
    VfsecMac dst;
    VfsecMac src;
    guint n_vlans;                            /* 0..2 802.1Q/802.1ad tags, outermost first */
    VfsecWireVlan vlans[VFSEC_WIRE_MAX_TAGS];
    gsize ethertype_offset;                   /* after the tags */
    guint16 ethertype;
    gsize l3_offset;                          /* the IPv4/IPv6 header; 0: not IP */
} VfsecFrameL2;

/* Parses the MACs, up to two VLAN tags (any VIDs, reserved ones included) and
 * the ethertype. FALSE for a frame too short for that or with a third tag. */
gboolean vfsec_frame_l2_parse(const guint8 *frame, gsize len, VfsecFrameL2 *l2);
/* TRUE for a broadcast or multicast destination. */
gboolean vfsec_frame_is_group(const guint8 *frame, gsize len);

/* Counters are also exported as name/value pairs through this callback;
 * names match [a-z0-9._]+ (e.g. "vf3.spoof_drops", "agent.cfg_ok"). */
typedef void (*VfsecCounterFunc)(const char *name, guint64 value, gpointer user_data);

/* One guint64 field of a counters struct, for vfsec_counters_emit(). */
typedef struct {
    const char *name;
    gsize offset;
} VfsecCounterField;

/* Calls @func with "<prefix><name>" for each of the @n fields of @counters. */
void vfsec_counters_emit(const char *prefix, const VfsecCounterField *fields, gsize n,
                         gconstpointer counters, VfsecCounterFunc func, gpointer user_data);

/* ---- Switch ------------------------------------------------------------ */

typedef enum {
    VFSEC_SWITCH_VEB,   /* frames between the port's functions are switched inside */
    VFSEC_SWITCH_VEPA,  /* every frame from a function goes up to the agent */
    VFSEC_SWITCH_MODE_LAST
} VfsecSwitchMode;

/* "veb", "vepa"; NULL when out of range. */
const char *vfsec_switch_mode_to_string(VfsecSwitchMode mode);
/* -1 for an unknown string. */
int vfsec_switch_mode_from_string(const char *str);

/* A PF-set port tag: pushed outermost on every frame of the function. */
typedef struct {
    guint16 tpid;  /* VFSEC_WIRE_TPID_8021Q or VFSEC_WIRE_TPID_8021AD */
    guint16 vid;   /* 1..4094 */
    guint8 pcp;    /* 0..7 */
} VfsecPortTag;

/* The administrative state of one function. The PF has no port tag and is
 * always trusted; its spoofchk is honoured. */
typedef struct {
    gboolean has_mac;        /* FALSE: no MAC yet; it receives no unicast */
    VfsecMac mac;
    gboolean has_port_tag;
    VfsecPortTag port_tag;
    gboolean trust;
    gboolean spoofchk;
} VfsecSwitchFn;

/* Per function. rx = from the function into the switch, tx = to it. */
typedef struct {
    guint64 rx_frames;
    guint64 rx_bytes;
    guint64 tx_frames;
    guint64 tx_bytes;
    guint64 spoof_drops;     /* source MAC not the function's, spoofchk on */
    guint64 malformed_drops; /* shorter than an Ethernet header, or a tag that cannot be pushed */
    guint64 md_stripped;     /* Rx metadata removed on the way to a port-tagged VF */
    guint64 config_drops;    /* a VF's frame with the configuration VID outermost: only the
                              * PF configures the agent (the PF's VLAN filter for VFs) */
} VfsecSwitchFnCounters;

typedef struct {
    guint64 to_agent;            /* frames sent up */
    guint64 from_agent;          /* frames the agent sent down */
    guint64 local_switched;      /* VEB: copies delivered without reaching the agent */
    guint64 flooded;             /* broadcast/multicast copies delivered */
    guint64 unknown_dst_drops;   /* unicast from the agent that no function owns */
    guint64 malformed_drops;     /* frames from the agent too short to switch */
} VfsecSwitchCounters;

typedef struct _VfsecSwitch VfsecSwitch;

/* A switch with @n_vfs VFs (0..VFSEC_SWITCH_MAX_VFS), all without MAC, port
 * tag, trust or spoofchk; the PF without MAC; mode VEB. @tags (NULL: defaults)
 * tell which outermost tags are the agent's reserved ones. */
VfsecSwitch *vfsec_switch_new(guint n_vfs, const VfsecWireTags *tags, GError **error);
void vfsec_switch_free(VfsecSwitch *sw);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecSwitch, vfsec_switch_free)

guint vfsec_switch_n_vfs(const VfsecSwitch *sw);
VfsecSwitchMode vfsec_switch_get_mode(const VfsecSwitch *sw);
void vfsec_switch_set_mode(VfsecSwitch *sw, VfsecSwitchMode mode);
/* TRUE when @fn names a function of this switch (a VF index or VFSEC_FN_PF). */
gboolean vfsec_switch_fn_valid(const VfsecSwitch *sw, int fn);

/* Replaces the state of function @fn. Fails (VFSEC_ERROR_INVALID) on an
 * unknown function, a port tag on the PF, or a port tag with a bad TPID/VID/PCP. */
gboolean vfsec_switch_set_fn(VfsecSwitch *sw, int fn, const VfsecSwitchFn *state, GError **error);
/* Sets just the MAC (the emulator follows MAC changes of the VF netdevs). */
gboolean vfsec_switch_set_mac(VfsecSwitch *sw, int fn, const VfsecMac *mac, GError **error);
/* The state of @fn (owned by the switch), or NULL for an unknown function. */
const VfsecSwitchFn *vfsec_switch_get_fn(const VfsecSwitch *sw, int fn);
/* g_get_monotonic_time() when function @fn's settings last changed (0: never
 * since creation; an unchanged set does not count): how benchmarks date an
 * action such as a quarantine against the event that caused it. */
gint64 vfsec_switch_fn_changed_us(const VfsecSwitch *sw, int fn);
/* The function owning unicast @mac, or VFSEC_FN_NONE. */
int vfsec_switch_fn_by_mac(const VfsecSwitch *sw, const VfsecMac *mac);

/* A frame function @fn sent (starting at the destination MAC). Applies
 * spoofchk and the port tag, then appends FUNCTION outputs (VEB local
 * delivery, broadcast flooding) and/or one AGENT output (fn = @fn). Drops are
 * counted. Returns FALSE only for an unknown @fn (a caller bug, not a frame
 * problem). */
gboolean vfsec_switch_from_function(VfsecSwitch *sw, int fn, const guint8 *frame, gsize len,
                                    GArray *out, GError **error);
/* A frame the agent sent down. Unicast goes to the function owning the
 * destination MAC in that VLAN context; broadcast/multicast to every function
 * in the context except @exclude_fn (the source of a hairpinned frame, else
 * VFSEC_FN_NONE). Port-tagged VFs get the frame without the port tag and
 * without Rx metadata; the PF and untagged VFs get it as is. Configuration
 * replies go to the PF only. */
void vfsec_switch_from_agent(VfsecSwitch *sw, const guint8 *frame, gsize len, int exclude_fn,
                             GArray *out);

/* Counters (owned by the switch); NULL for an unknown function. */
const VfsecSwitchCounters *vfsec_switch_counters(const VfsecSwitch *sw);
const VfsecSwitchFnCounters *vfsec_switch_fn_counters(const VfsecSwitch *sw, int fn);
/* Every switch counter as "switch.<name>", "pf.<name>", "vf<N>.<name>". */
void vfsec_switch_counters_foreach(const VfsecSwitch *sw, VfsecCounterFunc func,
                                   gpointer user_data);

G_END_DECLS
