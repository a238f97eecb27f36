/* vfsec-netns.h: named network namespaces (compatible with `ip netns`), running
 * code inside one without moving the caller's thread, and AF_PACKET sockets
 * opened inside one. */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "vfsec-error.h"

G_BEGIN_DECLS

/* Where `ip netns` keeps its namespaces; a namespace made here is visible to
 * `ip netns exec NAME` and `ip -n NAME` and the other way round. */
#define VFSEC_NETNS_RUN_DIR "/run/netns"

/* Creates the named namespace NAME the way `ip netns add` does: a fresh net
 * namespace bind-mounted onto VFSEC_NETNS_RUN_DIR/NAME. Returns 0, -EEXIST when
 * the name is taken, -EINVAL for a name that is not one path component, or
 * another -errno. The calling thread stays in its namespace. */
int vfsec_netns_add(const char *name);

/* Removes VFSEC_NETNS_RUN_DIR/NAME (lazy unmount, then unlink). The namespace
 * itself lives on while a process, thread or socket still holds it. Returns 0,
 * -ENOENT when there is no such name, or another -errno. */
int vfsec_netns_delete(const char *name);

/* Opens the named namespace; returns an O_CLOEXEC fd the caller closes, or
 * -errno. */
int vfsec_netns_open(const char *name);

/* Opens the calling thread's network namespace; fd or -errno. */
int vfsec_netns_open_current(void);

/* Called inside the namespace by vfsec_netns_run(); returns 0 or -errno. */
typedef int (*VfsecNetnsFunc)(gpointer user_data);

/* Runs @func(@user_data) on a short-lived thread that has joined the namespace
 * @netns_fd, and waits for it. The caller's thread never changes namespace, so
 * this is safe in a daemon with a main loop. @netns_fd < 0 means "the caller's
 * namespace" and runs @func directly. Returns what @func returns, or the -errno
 * of setns()/thread creation. Anything created in the namespace (sockets above
 * all) keeps its namespace when used from other threads afterwards. */
int vfsec_netns_run(int netns_fd, VfsecNetnsFunc func, gpointer user_data);

/* socket(2) inside namespace @netns_fd (< 0: the caller's); the socket is
 * O_CLOEXEC. Returns the fd or -errno. */
int vfsec_netns_socket(int netns_fd, int domain, int type, int protocol);

/* An AF_PACKET/SOCK_RAW socket inside @netns_fd, bound to @ifname (resolved in
 * that namespace) for @ethertype (host order; ETH_P_ALL for everything), with
 * PACKET_AUXDATA enabled so vfsec_packet_recv() can restore VLAN tags. The fd
 * works from any thread afterwards. Returns the fd or -errno (-ENODEV when
 * @ifname does not exist there). */
int vfsec_netns_packet_socket(int netns_fd, const char *ifname, guint16 ethertype);

/* Receives one frame from a socket made by vfsec_netns_packet_socket() into
 * @buf, with the outermost VLAN tag back in the frame bytes.
 *
 * Why: the Linux receive path always moves the outermost 802.1Q/802.1ad tag of
 * an incoming frame into skb metadata (software untagging in the core, whether
 * or not the device offloads it), so AF_PACKET hands out the frame without it
 * and reports it in PACKET_AUXDATA. Turning VLAN offloads off on a veth keeps
 * the transmit side honest but cannot undo that; re-inserting the tag from
 * the auxdata (as libpcap does) is the only way to see the frame as sent.
 *
 * Returns the frame length, -EMSGSIZE when the frame (with its tag) does not
 * fit @buflen, -EAGAIN on a non-blocking socket or receive timeout with no
 * frame, or another -errno. */
gssize vfsec_packet_recv(int fd, void *buf, gsize buflen);

G_END_DECLS
