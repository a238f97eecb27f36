/* vfsec-nicsim-links.c: namespaces, veth pairs and packet sockets of the NIC emulator. */
#include "vfsec-nicsim-links.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfsec-error.h"
#include "vfsec-netns.h"

/*
 * Theory of operation
 *
 * Each PF, VF and uplink is a veth pair whose two ends carry the same name in
 * two namespaces. The NIC-side end lives in a private namespace the emulator
 * creates (and that nothing else uses); the emulator reads and writes it with
 * an AF_PACKET socket, so for the kernel the emulator *is* the device behind
 * the other end. The other end is what users see: PF and VF netdevs in the
 * host namespace (or the one named by --netns), the uplink's far end in the
 * wire namespace.
 *
 * Links are deleted one by one on the way out, not left to namespace
 * teardown: the kernel destroys a dead namespace's devices asynchronously, and
 * a script that sees the emulator exit must find the names free again.
 *
 * Socket buffers are raised well above the default because a batched reclaim
 * puts ~110 full frames in flight at once on the PF's path.
 */

#define LINKS_SOCKET_BUFFER (4 * 1024 * 1024)

struct _VfsecNicsimLinks {
    char *nic_netns;
    char *host_netns;         /* NULL: the caller's namespace */
    char *wire_netns;
    gboolean nic_created;
    gboolean host_created;
    gboolean wire_created;
    int nic_fd;
    int host_fd;
    int wire_fd;
    VfsecNetlink *nl_nic;
    VfsecNetlink *nl_host;
    VfsecNetlink *nl_wire;
    GPtrArray *links;         /* VfsecNicsimLink*, owned */
    GHashTable *by_ifindex;   /* far ifindex of VF links -> VfsecNicsimLink* */
    VfsecNetlinkMonitor *monitor;
    VfsecNicsimMacFunc mac_func;
    gpointer mac_data;
};

static const char *const link_kinds[] = {
    [VFSEC_NICSIM_LINK_PF] = "pf",
    [VFSEC_NICSIM_LINK_VF] = "vf",
    [VFSEC_NICSIM_LINK_UPLINK] = "uplink",
};
G_STATIC_ASSERT(G_N_ELEMENTS(link_kinds) == VFSEC_NICSIM_LINK_LAST);

const char *
vfsec_nicsim_link_kind_to_string(VfsecNicsimLinkKind kind)
{
    return (guint)kind < VFSEC_NICSIM_LINK_LAST ? link_kinds[kind] : NULL;
}

char *
vfsec_nicsim_link_name(const char *prefix, VfsecNicsimLinkKind kind, guint port, guint vf,
                       GError **error)
{
    g_autofree char *name = NULL;

    switch (kind) {
    case VFSEC_NICSIM_LINK_PF:
        name = g_strdup_printf("%s%upf", prefix, port);
        break;
    case VFSEC_NICSIM_LINK_VF:
        name = g_strdup_printf("%s%uv%u", prefix, port, vf);
        break;
    case VFSEC_NICSIM_LINK_UPLINK:
    default:
        name = g_strdup_printf("%s%uup", prefix, port);
        break;
    }
    if (strlen(name) >= IFNAMSIZ) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "netdev name %s is longer than %d characters: use a shorter --prefix", name,
                    IFNAMSIZ - 1);
        return NULL;
    }
    return g_steal_pointer(&name);
}

void
vfsec_nicsim_link_mac(VfsecNicsimLinkKind kind, guint port, guint vf, VfsecMac *mac)
{
    mac->b[0] = 0x02;
    mac->b[1] = 0x76;
    mac->b[2] = 0x73;
    mac->b[3] = (guint8)port;
    switch (kind) {
    case VFSEC_NICSIM_LINK_PF:
        mac->b[4] = 0xff;
        mac->b[5] = 0x00;
        break;
    case VFSEC_NICSIM_LINK_VF:
        mac->b[4] = 0x00;
        mac->b[5] = (guint8)vf;
        break;
    case VFSEC_NICSIM_LINK_UPLINK:
    default:
        mac->b[4] = 0xfe;
        mac->b[5] = 0x00;
        break;
    }
}

static int
links_socket_tune(int fd)
{
    int size = LINKS_SOCKET_BUFFER;
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    /* FORCE needs CAP_NET_ADMIN, which the emulator has; fall back to the
     * capped variant otherwise. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    return 0;
}

/* Opens namespace @name (NULL: the caller's), creating it when it does not
 * exist; with @must_create an existing one is an error. *@created says
 * whether this call made it. Returns the fd or -errno with @error set. */
static int
links_netns_acquire(const char *name, gboolean must_create, gboolean *created, GError **error)
{
    int rc;
    int fd;

    *created = FALSE;
    if (!name) {
        fd = vfsec_netns_open_current();
        if (fd < 0)
            g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(fd),
                        "cannot open the current network namespace: %s", g_strerror(-fd));
        return fd;
    }
    rc = vfsec_netns_add(name);
    if (rc == -EEXIST && must_create) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "network namespace %s already exists: another vfsec-nicsim uses it, or a "
                    "killed one left it (remove it with 'ip netns delete %s')", name, name);
        return -EEXIST;
    }
    if (rc < 0 && rc != -EEXIST) {
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "cannot create network namespace %s: %s", name, g_strerror(-rc));
        return rc;
    }
    *created = rc == 0;
    fd = vfsec_netns_open(name);
    if (fd < 0) {
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(fd),
                    "cannot open network namespace %s: %s", name, g_strerror(-fd));
        if (*created)
            vfsec_netns_delete(name);
        *created = FALSE;
    }
    return fd;
}

static VfsecNetlink *
links_far_netlink(VfsecNicsimLinks *links, const VfsecNicsimLink *link)
{
    return link->kind == VFSEC_NICSIM_LINK_UPLINK ? links->nl_wire : links->nl_host;
}

static gboolean
links_create_one(VfsecNicsimLinks *links, VfsecNicsimLink *link, guint mtu, GError **error)
{
    gboolean uplink = link->kind == VFSEC_NICSIM_LINK_UPLINK;
    VfsecNetlink *far = links_far_netlink(links, link);
    g_autoptr(VfsecLinkInfo) info = NULL;
    int fd;
    int rc;

    if (!vfsec_netlink_veth_add(links->nl_nic, link->name, link->name,
                                uplink ? links->wire_fd : links->host_fd, NULL,
                                uplink ? NULL : &link->mac, error))
        return FALSE;
    link->created = TRUE;
    /* The NIC-side ends (and the wire) carry what the agent adds to a frame
     * (metadata, ESP): give them room. PF and VF netdevs keep the usual 1500. */
    if (!vfsec_netlink_link_set_mtu(links->nl_nic, link->name, mtu, error) ||
        (uplink && !vfsec_netlink_link_set_mtu(far, link->name, mtu, error)) ||
        !vfsec_netlink_offloads_disable(links->nl_nic, link->name, error) ||
        !vfsec_netlink_offloads_disable(far, link->name, error) ||
        !vfsec_netlink_link_set_up(links->nl_nic, link->name, TRUE, error) ||
        !vfsec_netlink_link_set_up(far, link->name, TRUE, error))
        return FALSE;
    info = vfsec_netlink_link_get(far, link->name, error);
    if (!info)
        return FALSE;
    link->far_ifindex = info->ifindex;
    if (info->has_mac)
        link->mac = info->mac;
    fd = vfsec_netns_packet_socket(links->nic_fd, link->name, ETH_P_ALL);
    rc = fd < 0 ? fd : links_socket_tune(fd);
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "cannot open a packet socket on %s in namespace %s: %s", link->name,
                    links->nic_netns, g_strerror(-rc));
        return FALSE;
    }
    link->nic_fd = fd;
    if (link->kind == VFSEC_NICSIM_LINK_VF)
        g_hash_table_insert(links->by_ifindex, GUINT_TO_POINTER(link->far_ifindex), link);
    g_debug("link %s created (far ifindex %u)", link->name, link->far_ifindex);
    return TRUE;
}

static VfsecNicsimLink *
links_add(VfsecNicsimLinks *links, const VfsecNicsimLinksConfig *config, VfsecNicsimLinkKind kind,
          guint port, guint vf, GError **error)
{
    g_autofree char *name = vfsec_nicsim_link_name(config->prefix, kind, port, vf, error);
    VfsecNicsimLink *link;

    if (!name)
        return NULL;
    link = g_new0(VfsecNicsimLink, 1);
    link->kind = kind;
    link->port = port;
    link->vf = vf;
    link->nic_fd = -1;
    g_strlcpy(link->name, name, sizeof(link->name));
    vfsec_nicsim_link_mac(kind, port, vf, &link->mac);
    g_ptr_array_add(links->links, link);
    return link;
}

static void
links_close_netns(const char *name, int *fd, gboolean created)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    if (created && name) {
        int rc = vfsec_netns_delete(name);

        g_debug("deleting network namespace %s: %s", name, rc < 0 ? g_strerror(-rc) : "ok");
    }
}

void
vfsec_nicsim_links_free(VfsecNicsimLinks *links)
{
    if (!links)
        return;
    g_clear_pointer(&links->monitor, vfsec_netlink_monitor_free);
    for (guint i = links->links ? links->links->len : 0; i > 0; i--) {
        VfsecNicsimLink *link = g_ptr_array_index(links->links, i - 1);
        g_autoptr(GError) error = NULL;

        if (link->nic_fd >= 0)
            close(link->nic_fd);
        link->nic_fd = -1;
        /* Deleting the NIC-side end takes the peer with it, wherever it is
         * now (a VF netdev may have been moved into a VM's namespace). */
        if (link->created && links->nl_nic &&
            !vfsec_netlink_link_del(links->nl_nic, link->name, &error))
            g_warning("%s", error->message);
    }
    g_clear_pointer(&links->nl_nic, vfsec_netlink_free);
    g_clear_pointer(&links->nl_host, vfsec_netlink_free);
    g_clear_pointer(&links->nl_wire, vfsec_netlink_free);
    links_close_netns(links->nic_netns, &links->nic_fd, links->nic_created);
    links_close_netns(links->host_netns, &links->host_fd, links->host_created);
    links_close_netns(links->wire_netns, &links->wire_fd, links->wire_created);
    g_clear_pointer(&links->by_ifindex, g_hash_table_unref);
    g_clear_pointer(&links->links, g_ptr_array_unref);
    g_free(links->nic_netns);
    g_free(links->host_netns);
    g_free(links->wire_netns);
    g_free(links);
}

/* Runs in the private namespace: its links are the NIC's insides and must not
 * speak IPv6 (router solicitations, DAD, MLD) to the host of their own accord. */
static int
links_quiet_func(gpointer user_data)
{
    static const char *const paths[] = {
        "/proc/sys/net/ipv6/conf/all/disable_ipv6",
        "/proc/sys/net/ipv6/conf/default/disable_ipv6",
    };

    for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autoptr(GError) error = NULL;

        /* A kernel without IPv6 has nothing to silence. */
        if (g_file_test(paths[i], G_FILE_TEST_EXISTS) &&
            !g_file_set_contents_full(paths[i], "1\n", -1, G_FILE_SET_CONTENTS_NONE, 0644,
                                      &error)) {
            g_debug("%s", error->message);
            return -EIO;
        }
    }
    return 0;
}

static gboolean
links_open_namespaces(VfsecNicsimLinks *links, GError **error)
{
    int rc;

    links->nic_fd = links_netns_acquire(links->nic_netns, TRUE, &links->nic_created, error);
    if (links->nic_fd < 0)
        return FALSE;
    rc = vfsec_netns_run(links->nic_fd, links_quiet_func, NULL);
    if (rc < 0) {
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "cannot turn IPv6 off in namespace %s: %s", links->nic_netns, g_strerror(-rc));
        return FALSE;
    }
    links->host_fd = links_netns_acquire(links->host_netns, FALSE, &links->host_created, error);
    if (links->host_fd < 0)
        return FALSE;
    links->wire_fd = links_netns_acquire(links->wire_netns, FALSE, &links->wire_created, error);
    if (links->wire_fd < 0)
        return FALSE;
    links->nl_nic = vfsec_netlink_new(links->nic_fd, error);
    if (!links->nl_nic)
        return FALSE;
    links->nl_host = vfsec_netlink_new(links->host_fd, error);
    if (!links->nl_host)
        return FALSE;
    links->nl_wire = vfsec_netlink_new(links->wire_fd, error);
    return links->nl_wire != NULL;
}

VfsecNicsimLinks *
vfsec_nicsim_links_new(const VfsecNicsimLinksConfig *config, GError **error)
{
    g_autoptr(VfsecNicsimLinks) links = g_new0(VfsecNicsimLinks, 1);

    links->nic_fd = links->host_fd = links->wire_fd = -1;
    links->nic_netns = g_strdup(config->nic_netns);
    links->host_netns = g_strdup(config->host_netns);
    links->wire_netns = g_strdup(config->wire_netns);
    links->links = g_ptr_array_new_with_free_func(g_free);
    links->by_ifindex = g_hash_table_new(NULL, NULL);

    /* Names first: a prefix too long fails before anything is made. */
    for (guint p = 0; p < config->n_ports; p++) {
        if (!links_add(links, config, VFSEC_NICSIM_LINK_PF, p, 0, error))
            return NULL;
        for (guint v = 0; config->vf_netdevs && v < config->n_vfs; v++) {
            if (!links_add(links, config, VFSEC_NICSIM_LINK_VF, p, v, error))
                return NULL;
        }
        if (!links_add(links, config, VFSEC_NICSIM_LINK_UPLINK, p, 0, error))
            return NULL;
    }
    if (!links_open_namespaces(links, error))
        return NULL;
    for (guint i = 0; i < links->links->len; i++) {
        if (!links_create_one(links, g_ptr_array_index(links->links, i), config->mtu, error))
            return NULL;
    }
    return g_steal_pointer(&links);
}

GPtrArray *
vfsec_nicsim_links_get_all(VfsecNicsimLinks *links)
{
    return links->links;
}

VfsecNicsimLink *
vfsec_nicsim_links_find(VfsecNicsimLinks *links, VfsecNicsimLinkKind kind, guint port, guint vf)
{
    for (guint i = 0; i < links->links->len; i++) {
        VfsecNicsimLink *link = g_ptr_array_index(links->links, i);

        if (link->kind == kind && link->port == port &&
            (kind != VFSEC_NICSIM_LINK_VF || link->vf == vf))
            return link;
    }
    return NULL;
}

int
vfsec_nicsim_links_open_pf_host_socket(VfsecNicsimLinks *links, guint port)
{
    VfsecNicsimLink *pf = vfsec_nicsim_links_find(links, VFSEC_NICSIM_LINK_PF, port, 0);
    int fd;
    int rc;

    if (!pf)
        return -ENODEV;
    fd = vfsec_netns_packet_socket(links->host_fd, pf->name, ETH_P_ALL);
    if (fd < 0)
        return fd;
    rc = links_socket_tune(fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static void
links_apply_mac(VfsecNicsimLinks *links, VfsecNicsimLink *link, const VfsecMac *mac)
{
    char buf[VFSEC_MAC_STRLEN];

    if (vfsec_mac_equal(&link->mac, mac))
        return;
    link->mac = *mac;
    g_debug("VF netdev %s now has MAC %s", link->name, vfsec_mac_format(mac, buf));
    if (links->mac_func)
        links->mac_func(link->port, link->vf, mac, links->mac_data);
}

/* After lost notifications: read every VF netdev still in the host namespace. */
static void
links_resync_macs(VfsecNicsimLinks *links)
{
    for (guint i = 0; i < links->links->len; i++) {
        VfsecNicsimLink *link = g_ptr_array_index(links->links, i);
        g_autoptr(VfsecLinkInfo) info = NULL;

        if (link->kind != VFSEC_NICSIM_LINK_VF || link->far_ifindex == 0)
            continue;
        info = vfsec_netlink_link_get(links->nl_host, link->name, NULL);
        if (!info || info->ifindex != link->far_ifindex) {
            g_hash_table_remove(links->by_ifindex, GUINT_TO_POINTER(link->far_ifindex));
            link->far_ifindex = 0;
            continue;
        }
        if (info->has_mac)
            links_apply_mac(links, link, &info->mac);
    }
}

static void
links_monitor_cb(const VfsecLinkInfo *info, gpointer user_data)
{
    VfsecNicsimLinks *links = user_data;
    VfsecNicsimLink *link;

    if (!info) {
        links_resync_macs(links);
        return;
    }
    link = g_hash_table_lookup(links->by_ifindex, GUINT_TO_POINTER(info->ifindex));
    if (!link)
        return;
    if (info->msg_type == RTM_DELLINK) {
        /* Moved into another namespace (a VM's) or deleted: no longer ours
         * to follow from here. */
        g_debug("VF netdev %s left the host namespace", link->name);
        g_hash_table_remove(links->by_ifindex, GUINT_TO_POINTER(info->ifindex));
        link->far_ifindex = 0;
        return;
    }
    if (info->has_mac)
        links_apply_mac(links, link, &info->mac);
}

gboolean
vfsec_nicsim_links_watch_macs(VfsecNicsimLinks *links, VfsecNicsimMacFunc func,
                              gpointer user_data, GError **error)
{
    links->mac_func = func;
    links->mac_data = user_data;
    links->monitor = vfsec_netlink_monitor_new(links->host_fd, links_monitor_cb, links, error);
    if (!links->monitor)
        return FALSE;
    vfsec_netlink_monitor_attach(links->monitor, g_main_context_get_thread_default());
    /* A change made between creation and now would otherwise go unseen. */
    links_resync_macs(links);
    return TRUE;
}

gboolean
vfsec_nicsim_links_set_vf_mac(VfsecNicsimLinks *links, guint port, guint vf, const VfsecMac *mac,
                              GError **error)
{
    VfsecNicsimLink *link = vfsec_nicsim_links_find(links, VFSEC_NICSIM_LINK_VF, port, vf);

    if (!link || link->far_ifindex == 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    "VF %u of port %u has no netdev in the host namespace", vf, port);
        return FALSE;
    }
    if (!vfsec_netlink_link_set_mac(links->nl_host, link->name, mac, error))
        return FALSE;
    link->mac = *mac;
    return TRUE;
}
