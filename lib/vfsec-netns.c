/* vfsec-netns.c: named network namespaces, code run inside them, and packet
 * sockets opened inside them.
 *
 * Theory of operation
 * -------------------
 * A network namespace belongs to a thread, not to a process: unshare() and
 * setns() with CLONE_NEWNET change only the calling thread, and every socket
 * stays in the namespace it was created in for its whole life. So everything
 * here that must happen "inside" a namespace runs on a short-lived GThread that
 * joins the namespace, does its one job (create a socket, bind-mount the
 * namespace), and exits; the caller's thread, and so the daemon's main loop,
 * never moves.
 *
 * A named namespace is what `ip netns add` makes: an empty file
 * /run/netns/NAME with the namespace bind-mounted on it, which keeps the
 * namespace alive with no process in it. /run/netns is first made a shared
 * mount point (bind-mounting it on itself if it is not a mount point yet) so
 * that the bind mount, and its later unmount, propagate into mount namespaces
 * copied from ours (`ip netns exec` makes one per command). The bind source is
 * /proc/thread-self/ns/net, not /proc/self/ns/net: the latter names the main
 * thread's namespace, which is the one we must NOT capture.
 */
#include "vfsec-netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs @func on a fresh thread and returns the int it returns. */
static int
netns_thread_run(GThreadFunc func, gpointer data)
{
    GThread *thread = g_thread_try_new("vfsec-netns", func, data, NULL);

    if (!thread)
        return -EAGAIN;
    return GPOINTER_TO_INT(g_thread_join(thread));
}

static gboolean
netns_name_valid(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && strlen(name) < NAME_MAX;
}

/* Makes VFSEC_NETNS_RUN_DIR a shared mount point (see the top of the file). */
static int
netns_prepare_run_dir(void)
{
    if (g_mkdir_with_parents(VFSEC_NETNS_RUN_DIR, 0755) < 0)
        return -errno;
    if (mount("", VFSEC_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
        return 0;
    if (errno != EINVAL)
        return -errno;
    /* EINVAL: not a mount point yet. */
    if (mount(VFSEC_NETNS_RUN_DIR, VFSEC_NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
        return -errno;
    if (mount("", VFSEC_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
        return -errno;
    return 0;
}

static gpointer
netns_add_thread(gpointer data)
{
    const char *path = data;

    if (unshare(CLONE_NEWNET) < 0)
        return GINT_TO_POINTER(-errno);
    if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
        return GINT_TO_POINTER(-errno);
    return GINT_TO_POINTER(0);
}

int
vfsec_netns_add(const char *name)
{
    g_autofree char *path = NULL;
    int fd;
    int rc;

    if (!netns_name_valid(name))
        return -EINVAL;
    rc = netns_prepare_run_dir();
    if (rc < 0)
        return rc;

    path = g_build_filename(VFSEC_NETNS_RUN_DIR, name, NULL);
    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    close(fd);

    rc = netns_thread_run(netns_add_thread, path);
    if (rc < 0)
        unlink(path);
    g_debug("netns add %s: %s", name, rc < 0 ? g_strerror(-rc) : "ok");
    return rc;
}

int
vfsec_netns_delete(const char *name)
{
    g_autofree char *path = NULL;
    int rc = 0;

    if (!netns_name_valid(name))
        return -EINVAL;
    path = g_build_filename(VFSEC_NETNS_RUN_DIR, name, NULL);
    /* EINVAL: the file is there but nothing is mounted on it (a half-made
     * namespace); it is still ours to unlink. */
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
        rc = -errno;
    if (rc == 0 && unlink(path) < 0)
        rc = -errno;
    g_debug("netns delete %s: %s", name, rc < 0 ? g_strerror(-rc) : "ok");
    return rc;
}

int
vfsec_netns_open(const char *name)
{
    g_autofree char *path = NULL;
    int fd;

    if (!netns_name_valid(name))
        return -EINVAL;
    path = g_build_filename(VFSEC_NETNS_RUN_DIR, name, NULL);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int
vfsec_netns_open_current(void)
{
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

typedef struct {
    int netns_fd;
    VfsecNetnsFunc func;
    gpointer user_data;
} NetnsRun;

static gpointer
netns_run_thread(gpointer data)
{
    NetnsRun *run = data;

    if (setns(run->netns_fd, CLONE_NEWNET) < 0)
        return GINT_TO_POINTER(-errno);
    return GINT_TO_POINTER(run->func(run->user_data));
}

int
vfsec_netns_run(int netns_fd, VfsecNetnsFunc func, gpointer user_data)
{
    NetnsRun run = { netns_fd, func, user_data };

    if (netns_fd < 0)
        return func(user_data);
    return netns_thread_run(netns_run_thread, &run);
}

typedef struct {
    int domain;
    int type;
    int protocol;
} NetnsSocket;

static int
netns_socket_func(gpointer data)
{
    NetnsSocket *s = data;
    int fd = socket(s->domain, s->type | SOCK_CLOEXEC, s->protocol);

    return fd < 0 ? -errno : fd;
}

int
vfsec_netns_socket(int netns_fd, int domain, int type, int protocol)
{
    NetnsSocket s = { domain, type, protocol };

    return vfsec_netns_run(netns_fd, netns_socket_func, &s);
}

typedef struct {
    const char *ifname;
    guint16 ethertype;
} NetnsPacket;

static int
netns_packet_func(gpointer data)
{
    NetnsPacket *p = data;
    struct sockaddr_ll sll = { 0 };
    int one = 1;
    int rc;
    /* Protocol 0 until bound: an unbound socket with a protocol would queue
     * frames from every interface in the meantime. */
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(p->ethertype);
    sll.sll_ifindex = (int)if_nametoindex(p->ifname);
    if (sll.sll_ifindex == 0) {
        rc = -ENODEV;
    } else if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0 ||
               /* The socket models one end of a wire: it wants what arrives,
                * not copies of what this host transmits on the interface. */
               setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
               bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        rc = -errno;
    } else {
        return fd;
    }
    close(fd);
    return rc;
}

int
vfsec_netns_packet_socket(int netns_fd, const char *ifname, guint16 ethertype)
{
    NetnsPacket p = { ifname, ethertype };

    if (!ifname || strlen(ifname) >= IFNAMSIZ)
        return -EINVAL;
    return vfsec_netns_run(netns_fd, netns_packet_func, &p);
}

#define VFSEC_VLAN_HLEN 4
#define VFSEC_ETH_ADDRS_LEN (2 * ETH_ALEN)

gssize
vfsec_packet_recv(int fd, void *buf, gsize buflen)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    } control;
    struct iovec iov;
    struct msghdr msg = { 0 };
    struct tpacket_auxdata aux;
    gboolean have_aux = FALSE;
    guint8 *frame = buf;
    guint16 tpid;
    guint16 tci;
    gssize n;

    if (buflen < ETH_HLEN + VFSEC_VLAN_HLEN)
        return -EINVAL;
    /* Leave room for a tag we may have to put back. */
    iov.iov_base = buf;
    iov.iov_len = buflen - VFSEC_VLAN_HLEN;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);

    n = recvmsg(fd, &msg, MSG_TRUNC);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if ((gsize)n > iov.iov_len || (msg.msg_flags & MSG_TRUNC))
        return -EMSGSIZE;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
            c->cmsg_len >= CMSG_LEN(sizeof(aux))) {
            memcpy(&aux, CMSG_DATA(c), sizeof(aux));
            have_aux = TRUE;
        }
    }
    if (!have_aux || !(aux.tp_status & TP_STATUS_VLAN_VALID))
        return n;
    if (n < VFSEC_ETH_ADDRS_LEN)
        return -EBADMSG;

    tpid = htons((aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : ETH_P_8021Q);
    tci = htons(aux.tp_vlan_tci);
    memmove(frame + VFSEC_ETH_ADDRS_LEN + VFSEC_VLAN_HLEN, frame + VFSEC_ETH_ADDRS_LEN,
            (gsize)n - VFSEC_ETH_ADDRS_LEN);
    memcpy(frame + VFSEC_ETH_ADDRS_LEN, &tpid, sizeof(tpid));
    memcpy(frame + VFSEC_ETH_ADDRS_LEN + sizeof(tpid), &tci, sizeof(tci));
    return n + VFSEC_VLAN_HLEN;
}
