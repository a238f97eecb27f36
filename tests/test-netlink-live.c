/* test-netlink-live.c: rtnetlink, ethtool and AF_PACKET against the real
 * kernel, inside two network namespaces made (and always removed) per test. */
#include "vfsec-netlink.h"

#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <linux/if_ether.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfsec-netns.h"

/* ---- Sandbox ------------------------------------------------------------ *
 * Each test body runs in a g_test_trap_subprocess() child; the parent makes
 * the namespaces before and removes them after, whatever the child did. The
 * names carry the parent's pid, so the child finds them with getppid() and a
 * later run can tell leftovers of a killed run (dead pid) from a live one. */

#define LIVE_PREFIX "vfsec-live-"

static char *
ns_name(pid_t owner, char which)
{
    return g_strdup_printf(LIVE_PREFIX "%d-%c", (int)owner, which);
}

static void
sandbox_delete(pid_t owner)
{
    g_autofree char *a = ns_name(owner, 'a');
    g_autofree char *b = ns_name(owner, 'b');

    vfsec_netns_delete(a);
    vfsec_netns_delete(b);
}

static int
sandbox_create(pid_t owner)
{
    g_autofree char *a = ns_name(owner, 'a');
    g_autofree char *b = ns_name(owner, 'b');
    int rc = vfsec_netns_add(a);

    if (rc == 0)
        rc = vfsec_netns_add(b);
    if (rc < 0)
        sandbox_delete(owner);
    return rc;
}

/* Removes namespaces left by runs that were killed before their cleanup. */
static void
sandbox_sweep_stale(void)
{
    g_autoptr(GDir) dir = g_dir_open(VFSEC_NETNS_RUN_DIR, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        guint64 pid;
        g_autofree char *pidstr = NULL;
        const char *dash;

        if (!g_str_has_prefix(name, LIVE_PREFIX))
            continue;
        dash = strrchr(name, '-');
        pidstr = g_strndup(name + strlen(LIVE_PREFIX), dash - name - strlen(LIVE_PREFIX));
        if (vfsec_parse_uint(pidstr, G_MAXINT32, &pid) && kill((pid_t)pid, 0) < 0 &&
            errno == ESRCH)
            vfsec_netns_delete(name);
    }
}

typedef struct {
    int fd_a;
    int fd_b;
    char *name_a;
    VfsecNetlink *nl_a;
    VfsecNetlink *nl_b;
} Live;

static void
live_free(Live *live)
{
    vfsec_netlink_free(live->nl_a);
    vfsec_netlink_free(live->nl_b);
    if (live->fd_a >= 0)
        close(live->fd_a);
    if (live->fd_b >= 0)
        close(live->fd_b);
    g_free(live->name_a);
    g_free(live);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Live, live_free)

/* In the child: opens the parent's namespaces and a VfsecNetlink in each. */
static Live *
live_open(void)
{
    g_autoptr(Live) live = g_new0(Live, 1);
    g_autofree char *name_b = ns_name(getppid(), 'b');
    g_autoptr(GError) error = NULL;

    live->name_a = ns_name(getppid(), 'a');
    live->fd_a = vfsec_netns_open(live->name_a);
    live->fd_b = vfsec_netns_open(name_b);
    g_assert_cmpint(live->fd_a, >=, 0);
    g_assert_cmpint(live->fd_b, >=, 0);
    live->nl_a = vfsec_netlink_new(live->fd_a, &error);
    g_assert_no_error(error);
    live->nl_b = vfsec_netlink_new(live->fd_b, &error);
    g_assert_no_error(error);
    return g_steal_pointer(&live);
}

static const VfsecMac mac1 = { { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 } };
static const VfsecMac mac2 = { { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02 } };
static const VfsecMac mac3 = { { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x03 } };

/* va in A <-> vb in B, up, offloads off. */
static void
live_wire(Live *live)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(vfsec_netlink_veth_add(live->nl_a, "va", "vb", live->fd_b, &mac1, &mac2,
                                         &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_offloads_disable(live->nl_a, "va", &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_offloads_disable(live->nl_b, "vb", &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_link_set_up(live->nl_a, "va", TRUE, &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_link_set_up(live->nl_b, "vb", TRUE, &error));
    g_assert_no_error(error);
}

/* ---- Tests ------------------------------------------------------------- */

static void
test_links(void)
{
    g_autoptr(Live) live = live_open();
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecLinkInfo) va = NULL;
    g_autoptr(VfsecLinkInfo) vb = NULL;
    g_autoptr(VfsecLinkInfo) gone = NULL;

    /* Both ends made in A, one moved to B afterwards. */
    g_assert_true(vfsec_netlink_veth_add(live->nl_a, "va", "vb", -1, &mac1, &mac2, &error));
    g_assert_no_error(error);
    g_assert_false(vfsec_netlink_veth_add(live->nl_a, "va", "vx", -1, NULL, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_clear_error(&error);

    g_assert_true(vfsec_netlink_link_set_netns(live->nl_a, "vb", live->fd_b, &error));
    g_assert_no_error(error);
    gone = vfsec_netlink_link_get(live->nl_a, "vb", &error);
    g_assert_null(gone);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "vb"));
    g_clear_error(&error);

    g_assert_true(vfsec_netlink_link_set_mac(live->nl_a, "va", &mac3, &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_link_set_mtu(live->nl_a, "va", 1400, &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_link_set_mtu(live->nl_b, "vb", 9000, &error));
    g_assert_no_error(error);
    /* The kernel explains this one in an extended ACK; it must reach us. */
    g_assert_false(vfsec_netlink_link_set_mtu(live->nl_a, "va", 10, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_assert_nonnull(vfsec_netlink_last_ext_ack(live->nl_a));
    g_assert_nonnull(strstr(error->message, vfsec_netlink_last_ext_ack(live->nl_a)));
    g_test_message("%s", error->message);
    g_clear_error(&error);
    g_assert_true(vfsec_netlink_link_set_up(live->nl_a, "va", TRUE, &error));
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_link_set_up(live->nl_b, "vb", TRUE, &error));
    g_assert_no_error(error);

    va = vfsec_netlink_link_get(live->nl_a, "va", &error);
    g_assert_no_error(error);
    vb = vfsec_netlink_link_get(live->nl_b, "vb", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(va->name, ==, "va");
    g_assert_true(va->has_mac);
    g_assert_true(vfsec_mac_equal(&va->mac, &mac3));
    g_assert_cmpuint(va->mtu, ==, 1400);
    g_assert_true(va->flags & IFF_UP);
    g_assert_cmpuint(va->num_vf, ==, 0);
    g_assert_cmpuint(va->vfs->len, ==, 0);
    g_assert_cmpstr(vb->name, ==, "vb");
    g_assert_true(vfsec_mac_equal(&vb->mac, &mac2));
    g_assert_cmpuint(vb->mtu, ==, 9000);
    g_assert_true(vb->flags & IFF_UP);
    /* Both ends up: the carrier is there. */
    g_assert_true(va->flags & IFF_LOWER_UP);
    g_assert_cmpuint(vb->operstate, ==, IF_OPER_UP);
    g_assert_cmpuint(va->link, ==, vb->ifindex);

    g_assert_true(vfsec_netlink_link_set_up(live->nl_a, "va", FALSE, &error));
    g_assert_no_error(error);
    g_clear_pointer(&va, vfsec_link_info_free);
    va = vfsec_netlink_link_get(live->nl_a, "va", &error);
    g_assert_no_error(error);
    g_assert_false(va->flags & IFF_UP);

    /* Deleting one end deletes the pair, across namespaces. */
    g_assert_true(vfsec_netlink_link_del(live->nl_a, "va", &error));
    g_assert_no_error(error);
    g_clear_pointer(&gone, vfsec_link_info_free);
    gone = vfsec_netlink_link_get(live->nl_b, "vb", &error);
    g_assert_null(gone);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
}

static void
test_veth_peer_netns(void)
{
    g_autoptr(Live) live = live_open();
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecLinkInfo) vb = NULL;
    g_autoptr(VfsecLinkInfo) absent = NULL;

    live_wire(live);
    vb = vfsec_netlink_link_get(live->nl_b, "vb", &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_mac_equal(&vb->mac, &mac2));
    absent = vfsec_netlink_link_get(live->nl_a, "vb", &error);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_assert_null(absent);
}

typedef struct {
    GMainLoop *loop;
    const char *ifname;
    guint16 want_type;
    VfsecMac want_mac;
    gboolean seen;
    gboolean lost;
} MonitorWait;

static void
monitor_cb(const VfsecLinkInfo *info, gpointer user_data)
{
    MonitorWait *w = user_data;

    if (!info) {
        w->lost = TRUE;
        return;
    }
    if (w->seen || strcmp(info->name, w->ifname) != 0 || info->msg_type != w->want_type)
        return;
    if (w->want_type == RTM_NEWLINK && !(info->has_mac && vfsec_mac_equal(&info->mac, &w->want_mac)))
        return;
    w->seen = TRUE;
    g_main_loop_quit(w->loop);
}

static gboolean
monitor_timeout(gpointer user_data)
{
    g_main_loop_quit(user_data);
    return G_SOURCE_REMOVE;
}

/* Runs the loop until the awaited notification arrived or 10 s passed. */
static void
monitor_await(MonitorWait *w)
{
    guint timeout = g_timeout_add_seconds(10, monitor_timeout, w->loop);

    if (!w->seen)
        g_main_loop_run(w->loop);
    g_source_remove(timeout);
    g_assert_false(w->lost);
    g_assert_true(w->seen);
}

static void
test_monitor(void)
{
    g_autoptr(Live) live = live_open();
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(VfsecNetlinkMonitor) mon = NULL;
    g_autofree char *ip = g_find_program_in_path("ip");
    MonitorWait w = { .loop = loop, .ifname = "va", .want_type = RTM_NEWLINK, .want_mac = mac3 };
    int status = -1;

    if (!ip) {
        g_test_skip("ip(8) is not installed");
        return;
    }
    live_wire(live);
    mon = vfsec_netlink_monitor_new(live->fd_a, monitor_cb, &w, &error);
    g_assert_no_error(error);
    g_assert_cmpint(vfsec_netlink_monitor_get_fd(mon), >=, 0);
    vfsec_netlink_monitor_attach(mon, NULL);

    /* A change made by someone else, through their own netlink socket. */
    {
        const char *argv[] = { ip, "-n", live->name_a, "link", "set", "dev", "va", "address",
                               "02:00:5e:10:00:03", NULL };

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                   NULL, NULL, &status, &error));
        g_assert_no_error(error);
        g_assert_true(g_spawn_check_wait_status(status, &error));
        g_assert_no_error(error);
    }
    monitor_await(&w);

    w.seen = FALSE;
    w.want_type = RTM_DELLINK;
    g_assert_true(vfsec_netlink_link_del(live->nl_a, "va", &error));
    g_assert_no_error(error);
    monitor_await(&w);
}

static void
test_offloads(void)
{
    g_autoptr(Live) live = live_open();
    g_autoptr(GError) error = NULL;
    static const char *const vlan_features[] = {
        "rx-vlan-hw-parse", "tx-vlan-hw-insert", "rx-vlan-stag-hw-parse",
        "tx-vlan-stag-hw-insert", "tx-checksum-ip-generic", "tx-tcp-segmentation",
    };
    const char *enable[] = { "tx-vlan-hw-insert", NULL };
    const char *unknown[] = { "no-such-feature", NULL };
    gboolean active = TRUE;

    g_assert_true(vfsec_netlink_veth_add(live->nl_a, "va", "vb", -1, NULL, NULL, &error));
    g_assert_no_error(error);
    /* veth starts with VLAN offloads on: the switch below is a real change. */
    g_assert_cmpint(vfsec_netlink_feature_get(live->nl_a, "va", "tx-vlan-hw-insert", &active),
                    ==, 0);
    g_assert_true(active);

    g_assert_true(vfsec_netlink_offloads_disable(live->nl_a, "va", &error));
    g_assert_no_error(error);
    for (gsize i = 0; i < G_N_ELEMENTS(vlan_features); i++) {
        active = TRUE;
        g_assert_cmpint(vfsec_netlink_feature_get(live->nl_a, "va", vlan_features[i], &active),
                        ==, 0);
        g_assert_false(active);
    }
    /* Idempotent. */
    g_assert_true(vfsec_netlink_offloads_disable(live->nl_a, "va", &error));
    g_assert_no_error(error);

    g_assert_cmpint(vfsec_netlink_features_set(live->nl_a, "va", enable, TRUE), ==, 0);
    g_assert_cmpint(vfsec_netlink_feature_get(live->nl_a, "va", "tx-vlan-hw-insert", &active),
                    ==, 0);
    g_assert_true(active);

    g_assert_cmpint(vfsec_netlink_feature_get(live->nl_a, "va", "no-such-feature", &active), ==,
                    -ENOENT);
    g_assert_cmpint(vfsec_netlink_features_set(live->nl_a, "va", unknown, FALSE), ==, -ENOENT);
    g_assert_cmpint(vfsec_netlink_feature_get(live->nl_a, "nope0", "rx-gro", &active), ==,
                    -ENODEV);
    g_assert_false(vfsec_netlink_offloads_disable(live->nl_a, "nope0", &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
}

#define TEST_ETHERTYPE 0x88b5  /* IEEE local experimental */

/* dst vb, src va, then @tags (TPID, TCI pairs), then TEST_ETHERTYPE and a
 * payload marked with @mark. */
static GByteArray *
make_frame(const guint16 *tags, gsize n_tags, guint8 mark)
{
    GByteArray *f = g_byte_array_new();
    guint16 be;

    g_byte_array_append(f, mac2.b, 6);
    g_byte_array_append(f, mac1.b, 6);
    for (gsize i = 0; i < 2 * n_tags; i++) {
        be = g_htons(tags[i]);
        g_byte_array_append(f, (const guint8 *)&be, 2);
    }
    be = g_htons(TEST_ETHERTYPE);
    g_byte_array_append(f, (const guint8 *)&be, 2);
    for (guint i = 0; i < 50; i++) {
        guint8 b = (guint8)(mark + i);

        g_byte_array_append(f, &b, 1);
    }
    return f;
}

/* Receives frames on @fd until one whose last byte matches @sent's. */
static void
expect_frame(int fd, GByteArray *sent)
{
    for (int i = 0; i < 100; i++) {
        guint8 buf[2048];
        gssize n = vfsec_packet_recv(fd, buf, sizeof(buf));

        g_assert_cmpint(n, >, 0);  /* -EAGAIN here: the 5 s receive timeout */
        if ((gsize)n < sent->len || buf[n - 1] != sent->data[sent->len - 1])
            continue;  /* IPv6 neighbour discovery and friends */
        g_assert_cmpmem(buf, n, sent->data, sent->len);
        return;
    }
    g_assert_not_reached();
}

static void
test_packet_vlan(void)
{
    g_autoptr(Live) live = live_open();
    struct timeval tv = { .tv_sec = 5 };
    static const guint16 ctag[] = { ETH_P_8021Q, (3 << 13) | 100 };
    static const guint16 qinq[] = { ETH_P_8021AD, (5 << 13) | 200, ETH_P_8021Q, 300 };
    static const guint16 prio0[] = { ETH_P_8021Q, 0 };  /* priority tag, VID 0 */
    struct {
        const guint16 *tags;
        gsize n_tags;
    } cases[] = {
        { ctag, 1 }, { qinq, 2 }, { prio0, 1 }, { NULL, 0 },
    };
    int tx;
    int rx;

    live_wire(live);
    tx = vfsec_netns_packet_socket(live->fd_a, "va", ETH_P_ALL);
    rx = vfsec_netns_packet_socket(live->fd_b, "vb", ETH_P_ALL);
    g_assert_cmpint(tx, >=, 0);
    g_assert_cmpint(rx, >=, 0);
    g_assert_cmpint(setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
    g_assert_cmpint(vfsec_netns_packet_socket(live->fd_a, "vb", ETH_P_ALL), ==, -ENODEV);

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) frame = make_frame(cases[i].tags, cases[i].n_tags, (guint8)(i * 7));

        g_assert_cmpint(send(tx, frame->data, frame->len, 0), ==, (gssize)frame->len);
        expect_frame(rx, frame);
    }
    close(tx);
    close(rx);
}

static void
test_vf_unsupported(void)
{
    g_autoptr(Live) live = live_open();
    g_autoptr(GError) error = NULL;
    VfsecVfConfig cfg = {
        .vf = 0,
        .set = VFSEC_VF_SET_VLAN | VFSEC_VF_SET_TRUST | VFSEC_VF_SET_SPOOFCHK | VFSEC_VF_SET_MAC,
        .vlan = 100, .vlan_proto = ETH_P_8021AD, .trust = TRUE, .mac = mac3,
    };
    VfsecBridgeMode mode;

    g_assert_true(vfsec_netlink_veth_add(live->nl_a, "va", "vb", -1, NULL, NULL, &error));
    g_assert_no_error(error);

    g_assert_false(vfsec_netlink_vf_set(live->nl_a, "va", &cfg, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(error->message, "VF 0"));
    g_assert_nonnull(strstr(error->message, "va"));
    g_clear_error(&error);

    g_assert_false(vfsec_netlink_bridge_set_hwmode(live->nl_a, "va", VFSEC_BRIDGE_MODE_VEPA,
                                                   &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_clear_error(&error);
    g_assert_false(vfsec_netlink_bridge_get_hwmode(live->nl_a, "va", &mode, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_clear_error(&error);

    /* Bad arguments never reach the kernel. */
    cfg.vlan = 5000;
    g_assert_false(vfsec_netlink_vf_set(live->nl_a, "va", &cfg, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_assert_null(vfsec_netlink_last_ext_ack(live->nl_a));
}

/* Link dumps go through the multi-part path of the transaction. */
static int
count_links(const struct nlmsghdr *nlh, gsize len, gpointer user_data)
{
    g_autoptr(VfsecLinkInfo) info = NULL;
    int rc = vfsec_link_info_parse(nlh, len, &info);

    if (rc == 0)
        g_ptr_array_add(user_data, g_strdup(info->name));
    return rc;
}

static void
test_dump(void)
{
    g_autoptr(Live) live = live_open();
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    guint8 buf[VFSEC_NL_BUFSIZE];

    g_assert_true(vfsec_netlink_veth_add(live->nl_a, "va", "vb", -1, NULL, NULL, &error));
    g_assert_no_error(error);
    g_assert_cmpint(vfsec_nl_build_link_dump(buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(vfsec_netlink_transact(live->nl_a, (struct nlmsghdr *)buf, count_links,
                                           names), ==, 0);
    g_assert_cmpuint(names->len, ==, 3);  /* lo, va, vb */
    g_assert_true(g_ptr_array_find_with_equal_func(names, "lo", g_str_equal, NULL));
    g_assert_true(g_ptr_array_find_with_equal_func(names, "va", g_str_equal, NULL));
    g_assert_true(g_ptr_array_find_with_equal_func(names, "vb", g_str_equal, NULL));
}

static guint64
ns_inode(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return st.st_ino;
}

static int
record_ns_inode(gpointer user_data)
{
    *(guint64 *)user_data = ns_inode("/proc/thread-self/ns/net");
    return 42;
}

static void
test_netns_helpers(void)
{
    g_autoptr(Live) live = live_open();
    g_autofree char *path_a = g_build_filename(VFSEC_NETNS_RUN_DIR, live->name_a, NULL);
    guint64 mine = ns_inode("/proc/thread-self/ns/net");
    guint64 seen = 0;
    int cur;

    g_assert_cmpint(vfsec_netns_run(live->fd_a, record_ns_inode, &seen), ==, 42);
    g_assert_cmpuint(seen, ==, ns_inode(path_a));
    g_assert_cmpuint(seen, !=, mine);
    g_assert_cmpuint(ns_inode("/proc/thread-self/ns/net"), ==, mine);  /* we never moved */
    g_assert_cmpint(vfsec_netns_run(-1, record_ns_inode, &seen), ==, 42);
    g_assert_cmpuint(seen, ==, mine);
    g_assert_cmpint(vfsec_netns_run(1000000, record_ns_inode, &seen), ==, -EBADF);

    cur = vfsec_netns_open_current();
    g_assert_cmpint(cur, >=, 0);
    close(cur);

    g_assert_cmpint(vfsec_netns_add(live->name_a), ==, -EEXIST);
    g_assert_cmpint(vfsec_netns_add("a/b"), ==, -EINVAL);
    g_assert_cmpint(vfsec_netns_add(".."), ==, -EINVAL);
    g_assert_cmpint(vfsec_netns_delete(LIVE_PREFIX "no-such"), ==, -ENOENT);
    g_assert_cmpint(vfsec_netns_open(LIVE_PREFIX "no-such"), ==, -ENOENT);
}

/* ---- Harness ------------------------------------------------------------ */

static void
run_isolated(gconstpointer data)
{
    GTestFunc body = (GTestFunc)data;
    pid_t me = getpid();
    int rc;

    if (g_test_subprocess()) {
        body();
        return;
    }
    rc = sandbox_create(me);
    if (rc < 0) {
        g_test_fail_printf("cannot create test namespaces: %s", g_strerror(-rc));
        return;
    }
    g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC,
                           G_TEST_SUBPROCESS_INHERIT_STDOUT | G_TEST_SUBPROCESS_INHERIT_STDERR);
    sandbox_delete(me);
    /* Not g_test_trap_assert_passed(): that would abort before the next
     * test's sandbox is cleaned up. */
    if (!g_test_trap_has_passed())
        g_test_fail();
}

int
main(int argc, char **argv)
{
    static const struct {
        const char *path;
        GTestFunc func;
    } tests[] = {
        { "/netlink-live/links", test_links },
        { "/netlink-live/veth-peer-netns", test_veth_peer_netns },
        { "/netlink-live/monitor", test_monitor },
        { "/netlink-live/offloads", test_offloads },
        { "/netlink-live/packet-vlan", test_packet_vlan },
        { "/netlink-live/vf-unsupported", test_vf_unsupported },
        { "/netlink-live/dump", test_dump },
        { "/netlink-live/netns-helpers", test_netns_helpers },
    };

    g_test_init(&argc, &argv, NULL);

    if (!g_test_subprocess()) {
        int rc;

        if (geteuid() != 0) {
            g_printerr("skipped: creating network namespaces needs root\n");
            return 77;
        }
        sandbox_sweep_stale();
        /* Probe once, so a machine without namespaces skips instead of failing. */
        rc = sandbox_create(getpid());
        if (rc < 0) {
            g_printerr("skipped: cannot create a network namespace: %s\n", g_strerror(-rc));
            return 77;
        }
        sandbox_delete(getpid());
    }

    for (gsize i = 0; i < G_N_ELEMENTS(tests); i++)
        g_test_add_data_func(tests[i].path, (gconstpointer)tests[i].func, run_isolated);
    return g_test_run();
}
