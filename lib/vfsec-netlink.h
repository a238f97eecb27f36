/* vfsec-netlink.h: rtnetlink link configuration on libmnl: pure message
 * builders and a validating RTM_NEWLINK parser, a sender (VfsecNetlink), a
 * link-notification monitor, and the ethtool feature switches the NIC
 * emulator needs on its veths. */
#pragma once

#include <glib.h>
#include <netinet/in.h>  /* before any linux/ header that pulls linux/in6.h */
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <linux/if.h>  /* after net/if.h: IF_OPER_* */

#include "vfsec-addr.h"
#include "vfsec-error.h"

G_BEGIN_DECLS

/* Size of a request buffer for the builders: every request built here fits.
 * (MNL_SOCKET_BUFFER_SIZE is a run-time expression, at most 8192.) */
#define VFSEC_NL_BUFSIZE 8192

/* ---- Enumerations ------------------------------------------------------ */

/* The embedded switch mode of an SR-IOV PF, as `bridge link set hwmode`. */
typedef enum {
    VFSEC_BRIDGE_MODE_VEB,    /* BRIDGE_MODE_VEB: VF-to-VF traffic hairpins in the NIC */
    VFSEC_BRIDGE_MODE_VEPA,   /* BRIDGE_MODE_VEPA: all traffic goes to the wire */
    VFSEC_BRIDGE_MODE_LAST
} VfsecBridgeMode;

/* "veb"/"vepa"; NULL for an out-of-range value. */
const char *vfsec_bridge_mode_to_string(VfsecBridgeMode mode);
/* -1 for an unknown string. */
int vfsec_bridge_mode_from_string(const char *str);

/* ---- Parsed link ------------------------------------------------------- */

/* One VF of a PF as the kernel reports it (IFLA_VFINFO_LIST/IFLA_VF_INFO). */
typedef struct {
    guint32 vf;
    VfsecMac mac;
    guint16 vlan;         /* 0..4095; 0 with qos 0 means "no port VLAN" */
    guint8 qos;           /* 0..7 */
    guint16 vlan_proto;   /* ETH_P_8021Q or ETH_P_8021AD, host order */
    int trust;            /* 1, 0, or -1 when the driver does not report it */
    int spoofchk;         /* likewise */
} VfsecVfLinkInfo;

/* One link from an RTM_NEWLINK (or RTM_DELLINK) message. */
typedef struct {
    guint16 msg_type;     /* RTM_NEWLINK or RTM_DELLINK */
    guint8 family;        /* AF_UNSPEC, or AF_BRIDGE for PF_BRIDGE dumps */
    guint32 ifindex;
    char name[IFNAMSIZ];  /* "" when the message had no IFLA_IFNAME */
    gboolean has_mac;     /* FALSE when IFLA_ADDRESS is absent or not 6 bytes */
    VfsecMac mac;
    guint32 mtu;          /* 0 when absent */
    guint32 flags;        /* IFF_* from the ifinfomsg */
    guint8 operstate;     /* IF_OPER_*; IF_OPER_UNKNOWN when absent */
    guint32 link;         /* IFLA_LINK (a veth's peer ifindex); 0 when absent */
    guint32 num_vf;       /* IFLA_NUM_VF; 0 when absent */
    GArray *vfs;          /* VfsecVfLinkInfo, in message order; never NULL */
    int bridge_mode;      /* a VfsecBridgeMode from IFLA_AF_SPEC of an AF_BRIDGE
                           * message; -1 when absent */
} VfsecLinkInfo;

VfsecLinkInfo *vfsec_link_info_new(void);
void vfsec_link_info_free(VfsecLinkInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecLinkInfo, vfsec_link_info_free)

/* Parses one RTM_NEWLINK/RTM_DELLINK message of at most @len bytes. Every
 * attribute this parser uses is length-checked, every attribute stream must
 * tile its container exactly, and nested lists must fit their parent: a
 * truncated or inconsistent message is rejected, never over-read. Unknown
 * attributes are skipped. On success stores a new VfsecLinkInfo (caller frees)
 * in @out and returns 0; otherwise returns -EBADMSG (malformed), -EPROTO (not a
 * link message) and leaves @out alone. */
int vfsec_link_info_parse(const struct nlmsghdr *nlh, gsize len, VfsecLinkInfo **out);

/* ---- Builders ---------------------------------------------------------- *
 * Each writes one request into @buf (@buflen bytes, VFSEC_NL_BUFSIZE is
 * always enough), with no socket involved: nlmsg_seq and nlmsg_pid are left 0
 * for the sender to fill in, NLM_F_ACK is set. A link is named by @ifindex
 * when it is > 0, else by @ifname (put in IFLA_IFNAME; the kernel looks it up).
 * Return 0, -EINVAL for bad arguments (no link named, a name of IFNAMSIZ or
 * more bytes, a VLAN out of range) or -EMSGSIZE when @buflen is too small. */

/* RTM_NEWLINK (create, exclusive) of a veth pair @name <-> @peer. @peer is
 * created in namespace @peer_netns_fd when >= 0 (the fd is a number in the
 * message: send it from this process). @mac/@peer_mac may be NULL (kernel
 * picks random ones). */
int vfsec_nl_build_veth_add(void *buf, gsize buflen, const char *name, const char *peer,
                            int peer_netns_fd, const VfsecMac *mac, const VfsecMac *peer_mac);
/* RTM_DELLINK. */
int vfsec_nl_build_link_del(void *buf, gsize buflen, int ifindex, const char *ifname);
/* RTM_SETLINK changing only IFF_UP (ifi_change = IFF_UP). */
int vfsec_nl_build_link_set_up(void *buf, gsize buflen, int ifindex, const char *ifname,
                               gboolean up);
/* RTM_SETLINK with IFLA_ADDRESS. */
int vfsec_nl_build_link_set_mac(void *buf, gsize buflen, int ifindex, const char *ifname,
                                const VfsecMac *mac);
/* RTM_SETLINK with IFLA_MTU. */
int vfsec_nl_build_link_set_mtu(void *buf, gsize buflen, int ifindex, const char *ifname,
                                guint32 mtu);
/* RTM_SETLINK with IFLA_NET_NS_FD (@netns_fd >= 0). */
int vfsec_nl_build_link_set_netns_fd(void *buf, gsize buflen, int ifindex, const char *ifname,
                                     int netns_fd);
/* RTM_SETLINK with IFLA_NET_NS_PID: the namespace of process @pid. */
int vfsec_nl_build_link_set_netns_pid(void *buf, gsize buflen, int ifindex, const char *ifname,
                                      pid_t pid);
/* RTM_GETLINK for one link, with IFLA_EXT_MASK = RTEXT_FILTER_VF so a PF's
 * reply carries IFLA_VFINFO_LIST. */
int vfsec_nl_build_link_get(void *buf, gsize buflen, int ifindex, const char *ifname);
/* RTM_GETLINK dump of every link (NLM_F_DUMP), with RTEXT_FILTER_VF. */
int vfsec_nl_build_link_dump(void *buf, gsize buflen);

/* Which fields of a VfsecVfConfig a request sets. */
typedef enum {
    VFSEC_VF_SET_VLAN = 1 << 0,
    VFSEC_VF_SET_TRUST = 1 << 1,
    VFSEC_VF_SET_SPOOFCHK = 1 << 2,
    VFSEC_VF_SET_MAC = 1 << 3,
} VfsecVfSetFlags;

typedef struct {
    guint32 vf;             /* VF index on the PF */
    VfsecVfSetFlags set;    /* at least one flag */
    guint16 vlan;           /* 0..4095; vlan 0 and qos 0 clear the port VLAN */
    guint8 qos;             /* 0..7 */
    guint16 vlan_proto;     /* ETH_P_8021Q or ETH_P_8021AD, host order */
    gboolean trust;
    gboolean spoofchk;
    VfsecMac mac;
} VfsecVfConfig;

/* RTM_SETLINK on the PF: IFLA_VFINFO_LIST { IFLA_VF_INFO { IFLA_VF_MAC,
 * IFLA_VF_VLAN_LIST { IFLA_VF_VLAN_INFO }, IFLA_VF_SPOOFCHK, IFLA_VF_TRUST } }
 * with the members @cfg->set selects. The VLAN always goes in
 * IFLA_VF_VLAN_LIST (kernel >= 4.9), the only form that carries the protocol,
 * so 802.1ad port VLANs and 802.1Q ones take the same path. */
int vfsec_nl_build_vf_set(void *buf, gsize buflen, int ifindex, const char *ifname,
                          const VfsecVfConfig *cfg);
/* RTM_SETLINK family PF_BRIDGE: IFLA_AF_SPEC { IFLA_BRIDGE_FLAGS =
 * BRIDGE_FLAGS_SELF, IFLA_BRIDGE_MODE = @mode }, as `bridge link set dev PF
 * hwmode veb|vepa`. The kernel looks the PF up by index only: @ifindex > 0. */
int vfsec_nl_build_bridge_set_hwmode(void *buf, gsize buflen, int ifindex, VfsecBridgeMode mode);
/* RTM_GETLINK dump, family PF_BRIDGE: one AF_BRIDGE message per link whose
 * driver reports a bridge mode (the kernel has no per-link PF_BRIDGE get). */
int vfsec_nl_build_bridge_dump(void *buf, gsize buflen);

/* ---- Sender ------------------------------------------------------------ */

typedef struct _VfsecNetlink VfsecNetlink;

/* Opens a NETLINK_ROUTE socket in namespace @netns_fd (< 0: the caller's).
 * The socket is created on a short-lived thread that joined the namespace
 * (see vfsec-netns.h), so it works on that namespace from any thread; the
 * caller may close @netns_fd afterwards. */
VfsecNetlink *vfsec_netlink_new(int netns_fd, GError **error);
void vfsec_netlink_free(VfsecNetlink *nl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecNetlink, vfsec_netlink_free)

/* Called for each reply message (not for ACKs, errors or NLMSG_DONE), with its
 * length already checked against the datagram. Return 0 to go on or -errno to
 * stop: the transaction then still drains its replies and returns that value. */
typedef int (*VfsecNetlinkReplyFunc)(const struct nlmsghdr *nlh, gsize len, gpointer user_data);

/* Sends the request in @nlh (its seq and portid are overwritten) and reads
 * until its ACK, error or NLMSG_DONE, passing replies to @func (may be NULL).
 * Returns 0, the kernel's -errno, -EBADMSG for a malformed reply, -EAGAIN when
 * a dump was interrupted by a concurrent change (retry it), or -ETIMEDOUT when
 * the kernel did not answer within 10 s. Not thread-safe per VfsecNetlink. */
int vfsec_netlink_transact(VfsecNetlink *nl, struct nlmsghdr *nlh, VfsecNetlinkReplyFunc func,
                           gpointer user_data);
/* The kernel's extended-ack message for the last failed transaction, or NULL.
 * Owned by @nl, valid until the next transaction. */
const char *vfsec_netlink_last_ext_ack(VfsecNetlink *nl);
/* The socket fd, e.g. for SIOCETHTOOL (the ioctl acts in the socket's
 * namespace). Owned by @nl. */
int vfsec_netlink_get_fd(VfsecNetlink *nl);

/* A reply callback for vfsec_netlink_transact() that keeps the first
 * RTM_NEWLINK of a reply, or the one with @ifindex when it is not 0. The
 * caller frees @info. */
typedef struct {
    guint32 ifindex;
    VfsecLinkInfo *info;
} VfsecNetlinkLinkReply;

int vfsec_netlink_link_reply_cb(const struct nlmsghdr *nlh, gsize len, gpointer data);

/* Operations: build, transact, report failures as one GError naming the link
 * (code from vfsec_errno_to_code(): a kernel EOPNOTSUPP becomes
 * VFSEC_ERROR_UNSUPPORTED, ENODEV VFSEC_ERROR_NOT_FOUND, ...). */
gboolean vfsec_netlink_veth_add(VfsecNetlink *nl, const char *name, const char *peer,
                                int peer_netns_fd, const VfsecMac *mac,
                                const VfsecMac *peer_mac, GError **error);
gboolean vfsec_netlink_link_del(VfsecNetlink *nl, const char *ifname, GError **error);
gboolean vfsec_netlink_link_set_up(VfsecNetlink *nl, const char *ifname, gboolean up,
                                   GError **error);
gboolean vfsec_netlink_link_set_mac(VfsecNetlink *nl, const char *ifname, const VfsecMac *mac,
                                    GError **error);
gboolean vfsec_netlink_link_set_mtu(VfsecNetlink *nl, const char *ifname, guint32 mtu,
                                    GError **error);
/* Moves @ifname into namespace @netns_fd; afterwards it is reachable only
 * through a VfsecNetlink opened in that namespace. */
gboolean vfsec_netlink_link_set_netns(VfsecNetlink *nl, const char *ifname, int netns_fd,
                                      GError **error);
/* The link with its VF list; caller frees. */
VfsecLinkInfo *vfsec_netlink_link_get(VfsecNetlink *nl, const char *ifname, GError **error);
/* Sets the members @cfg->set selects on VF @cfg->vf of @pf. */
gboolean vfsec_netlink_vf_set(VfsecNetlink *nl, const char *pf, const VfsecVfConfig *cfg,
                              GError **error);
gboolean vfsec_netlink_bridge_set_hwmode(VfsecNetlink *nl, const char *pf, VfsecBridgeMode mode,
                                         GError **error);
/* The embedded switch mode of @pf; fails with VFSEC_ERROR_UNSUPPORTED when
 * its driver reports none. */
gboolean vfsec_netlink_bridge_get_hwmode(VfsecNetlink *nl, const char *pf, VfsecBridgeMode *mode,
                                         GError **error);

/* ---- Link notifications ------------------------------------------------ */

typedef struct _VfsecNetlinkMonitor VfsecNetlinkMonitor;

/* Called with each RTM_NEWLINK/RTM_DELLINK notification, parsed (borrowed:
 * copy what you keep). @info NULL means notifications were lost (the socket
 * overflowed) or a notification was malformed: re-read the state with a dump.
 * The callback must not free the monitor. */
typedef void (*VfsecNetlinkMonitorFunc)(const VfsecLinkInfo *info, gpointer user_data);

/* A non-blocking NETLINK_ROUTE socket in namespace @netns_fd (< 0: the
 * caller's) joined to RTNLGRP_LINK. Nothing is delivered until
 * vfsec_netlink_monitor_dispatch() runs, typically from
 * vfsec_netlink_monitor_attach(). */
VfsecNetlinkMonitor *vfsec_netlink_monitor_new(int netns_fd, VfsecNetlinkMonitorFunc func,
                                               gpointer user_data, GError **error);
/* Detaches (if attached), closes and frees. */
void vfsec_netlink_monitor_free(VfsecNetlinkMonitor *mon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecNetlinkMonitor, vfsec_netlink_monitor_free)

/* The fd to poll for G_IO_IN yourself (owned by @mon). */
int vfsec_netlink_monitor_get_fd(VfsecNetlinkMonitor *mon);
/* Reads every pending datagram and calls the callback for each link message.
 * Returns 0, or -errno of a failed read (other than EAGAIN). */
int vfsec_netlink_monitor_dispatch(VfsecNetlinkMonitor *mon);
/* Adds a g_unix_fd source on @context (NULL: the default context) that
 * dispatches whenever the socket is readable; removed by _free(). */
void vfsec_netlink_monitor_attach(VfsecNetlinkMonitor *mon, GMainContext *context);

/* ---- Ethtool features (SIOCETHTOOL) ------------------------------------ *
 * Feature names are the kernel's ("rx-vlan-hw-parse", "tx-vlan-hw-insert",
 * ... as `ethtool -k` shows in its long form); their bit numbers are looked
 * up with ETHTOOL_GSSET_INFO/ETHTOOL_GSTRINGS(ETH_SS_FEATURES) on each call,
 * never hard-coded. The ioctls go through @nl's socket, so they act on
 * @ifname in @nl's namespace. */

/* Reads whether feature @name is active on @ifname. Returns 0, -ENOENT for a
 * name this kernel does not know, or -errno. */
int vfsec_netlink_feature_get(VfsecNetlink *nl, const char *ifname, const char *name,
                              gboolean *active);
/* Switches every feature in the NULL-terminated @names to @enable, then reads
 * them back. Features already in that state are left alone. Returns 0,
 * -ENOENT for an unknown name, -EOPNOTSUPP when one is fixed in the other
 * state or the device refused to change it, or -errno. */
int vfsec_netlink_features_set(VfsecNetlink *nl, const char *ifname, const char *const *names,
                               gboolean enable);
/* Makes @ifname carry frames exactly as written: VLAN tag insertion/parsing
 * (C-tag and S-tag), transmit checksum offload and segmentation offloads, and
 * GRO, off. See vfsec_packet_recv() for why receive still needs PACKET_AUXDATA. */
gboolean vfsec_netlink_offloads_disable(VfsecNetlink *nl, const char *ifname, GError **error);

G_END_DECLS
