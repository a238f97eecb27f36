/* vfsec-nicsim-links.h: the emulator's netdevs — the namespaces they live in,
 * the veth pairs standing for PFs, VFs and uplinks, the packet sockets on
 * their NIC-side ends, and the rtnetlink monitor that follows VF MAC changes. */
#pragma once

#include <glib.h>
#include <net/if.h>

#include "vfsec-addr.h"
#include "vfsec-netlink.h"

G_BEGIN_DECLS

/* What a link stands for. */
typedef enum {
    VFSEC_NICSIM_LINK_PF,
    VFSEC_NICSIM_LINK_VF,
    VFSEC_NICSIM_LINK_UPLINK,
    VFSEC_NICSIM_LINK_LAST
} VfsecNicsimLinkKind;

/* "pf", "vf", "uplink"; NULL when out of range. */
const char *vfsec_nicsim_link_kind_to_string(VfsecNicsimLinkKind kind);

/* One veth pair. Both ends carry the same name: the one in the emulator's
 * private namespace is the NIC's side, the other the host's (PF, VF) or the
 * wire's (uplink). */
typedef struct {
    VfsecNicsimLinkKind kind;
    guint port;
    guint vf;                 /* VF index; 0 for PF and uplink */
    char name[IFNAMSIZ];
    VfsecMac mac;             /* the far (host/wire) end's MAC when created */
    guint32 far_ifindex;      /* far end's ifindex; 0 once it left its namespace */
    int nic_fd;               /* AF_PACKET socket on the NIC-side end, or -1 */
    gboolean created;
} VfsecNicsimLink;

/* Where everything goes, with names already derived. */
typedef struct {
    const char *prefix;       /* netdev name prefix */
    const char *nic_netns;    /* private namespace of the NIC-side ends */
    const char *host_netns;   /* PF/VF netdevs; NULL: the caller's namespace */
    const char *wire_netns;   /* far end of the uplinks */
    guint n_ports;
    guint n_vfs;
    gboolean vf_netdevs;      /* FALSE: scale mode, VFs exist without netdevs */
    guint mtu;                /* of the NIC-side ends and the uplinks' far ends */
} VfsecNicsimLinksConfig;

typedef struct _VfsecNicsimLinks VfsecNicsimLinks;

/* Called when the MAC of a VF's host-side netdev changed (libvirt sets the MAC
 * of a passthrough macvtap's lower device itself). */
typedef void (*VfsecNicsimMacFunc)(guint port, guint vf, const VfsecMac *mac, gpointer user_data);

/* The name of a link: "<prefix><port>pf", "<prefix><port>v<vf>" or
 * "<prefix><port>up" (@vf only counts for VFs). Returns a new string, or NULL
 * with @error set when it would not fit IFNAMSIZ. */
char *vfsec_nicsim_link_name(const char *prefix, VfsecNicsimLinkKind kind, guint port, guint vf,
                             GError **error);

/* The deterministic MAC the emulator gives a PF or VF netdev when it creates
 * it: locally administered 02:76:73 ("vs"), then the port and the function
 * (VF index, 0xff for the PF). The agent of a port uses 0xfe. */
void vfsec_nicsim_link_mac(VfsecNicsimLinkKind kind, guint port, guint vf, VfsecMac *mac);

/* Creates (or opens) the namespaces, then every veth pair with offloads off,
 * MTU set and both ends up, then the packet sockets. The private namespace
 * must not exist yet (another emulator with the same names, or the leftover
 * of a killed one). On failure whatever was made is removed again. */
VfsecNicsimLinks *vfsec_nicsim_links_new(const VfsecNicsimLinksConfig *config, GError **error);

/* Deletes every link, closes every socket and deletes the namespaces this
 * object created (not the ones it found). Safe on NULL. */
void vfsec_nicsim_links_free(VfsecNicsimLinks *links);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecNicsimLinks, vfsec_nicsim_links_free)

/* Every link, PFs, then VFs, then uplinks per port (owned by @links). */
GPtrArray *vfsec_nicsim_links_get_all(VfsecNicsimLinks *links);
/* The link of a function (@kind VF with @vf, PF or UPLINK), or NULL. */
VfsecNicsimLink *vfsec_nicsim_links_find(VfsecNicsimLinks *links, VfsecNicsimLinkKind kind,
                                         guint port, guint vf);

/* A packet socket on the host-side end of port @port's PF (the PF driver's
 * path to the agent), bound to every ethertype; the caller closes it. Returns
 * the fd or -errno. */
int vfsec_nicsim_links_open_pf_host_socket(VfsecNicsimLinks *links, guint port);

/* Starts following VF netdev MAC changes in the host namespace on the
 * thread-default main context. */
gboolean vfsec_nicsim_links_watch_macs(VfsecNicsimLinks *links, VfsecNicsimMacFunc func,
                                       gpointer user_data, GError **error);

/* Sets the MAC of a VF's host-side netdev (the administrative MAC pushed by
 * set-vf). Fails with VFSEC_ERROR_NOT_FOUND when the netdev has left the
 * host namespace (moved into a VM's namespace). */
gboolean vfsec_nicsim_links_set_vf_mac(VfsecNicsimLinks *links, guint port, guint vf,
                                       const VfsecMac *mac, GError **error);

G_END_DECLS
