/* nicsim-fixture.c: the emulator integration tests' sandbox, sockets,
 * captures and frame builders. */
#include "nicsim-fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vfsec-netlink.h"
#include "vfsec-netns.h"
#include "vfsec-nicsim.h"
#include "vfsec-test-util.h"

/*
 * Every namespace a test makes is named "vfsec-it-<pid>-<n>-<role>", <pid>
 * being the test process: a later run removes those of dead pids, so a test
 * killed half-way leaks nothing for long. The emulator gets the test's
 * namespaces by name (--netns, --wire-netns, --nic-netns), and
 * PR_SET_PDEATHSIG, so it cleans up after itself when the test dies.
 */

#define FIXTURE_NS_PREFIX "vfsec-it-"

static guint fixture_seq;  /* a test process runs its fixtures one after the other */

static int
quiet_ipv6(gpointer user_data)
{
    const char *const paths[] = {
        "/proc/sys/net/ipv6/conf/all/disable_ipv6",
        "/proc/sys/net/ipv6/conf/default/disable_ipv6",
    };

    for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
        if (g_file_test(paths[i], G_FILE_TEST_EXISTS) &&
            !g_file_set_contents_full(paths[i], "1\n", -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL))
            return -EIO;
    }
    return 0;
}

/* Creates namespace @name with IPv6 off; returns its fd. */
static int
fixture_netns(const char *name)
{
    int rc = vfsec_netns_add(name);
    int fd;

    g_assert_cmpint(rc, ==, 0);
    fd = vfsec_netns_open(name);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(vfsec_netns_run(fd, quiet_ipv6, NULL), ==, 0);
    return fd;
}

static void
sweep_stale(void)
{
    g_autoptr(GDir) dir = g_dir_open(VFSEC_NETNS_RUN_DIR, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_auto(GStrv) parts = NULL;
        guint64 pid;

        if (!g_str_has_prefix(name, FIXTURE_NS_PREFIX))
            continue;
        parts = g_strsplit(name + strlen(FIXTURE_NS_PREFIX), "-", 2);
        if (parts[0] && vfsec_parse_uint(parts[0], G_MAXINT32, &pid) &&
            kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            vfsec_netns_delete(name);
    }
}

void
nicsim_require(void)
{
    g_autofree char *probe = NULL;
    int rc;

    vfsec_test_require_root();
    sweep_stale();
    probe = g_strdup_printf(FIXTURE_NS_PREFIX "%d-probe", (int)getpid());
    rc = vfsec_netns_add(probe);
    if (rc < 0)
        vfsec_test_skip_all("cannot create a network namespace: %s", g_strerror(-rc));
    vfsec_netns_delete(probe);
    if (!g_file_test(vfsec_test_env("VFSEC_NICSIM"), G_FILE_TEST_IS_EXECUTABLE))
        vfsec_test_skip_all("the emulator %s was not built", vfsec_test_env("VFSEC_NICSIM"));
}

static void
child_setup(gpointer user_data)
{
    /* The emulator removes its netdevs when the test dies, whatever killed it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Starts the emulator from fx->argv and waits for its ready file. */
static void
fixture_spawn(NicsimFixture *fx)
{
    g_autoptr(GError) error = NULL;

    g_spawn_async(NULL, fx->argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL, &fx->pid,
                  &error);
    g_assert_no_error(error);
    if (!vfsec_test_wait_for_file(fx->ready, NICSIM_WAIT_MS * 3))
        g_error("the emulator did not become ready within %u ms", NICSIM_WAIT_MS * 3);
}

NicsimFixture *
nicsim_start(const NicsimOptions *options)
{
    NicsimOptions defaults = { 0 };
    NicsimFixture *fx = g_new0(NicsimFixture, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    guint seq = fixture_seq++;

    if (!options)
        options = &defaults;
    fx->ctx = g_main_context_new();
    g_main_context_push_thread_default(fx->ctx);
    fx->tag = g_strdup_printf(FIXTURE_NS_PREFIX "%d-%u", (int)getpid(), seq);
    fx->prefix = g_strdup_printf("t%d%c", (int)(getpid() % 1000000), 'a' + (char)(seq % 26));
    fx->host_ns = g_strdup_printf("%s-host", fx->tag);
    fx->wire_ns = g_strdup_printf("%s-wire", fx->tag);
    fx->nic_ns = g_strdup_printf("%s-nic", fx->tag);
    fx->dir = g_dir_make_tmp("vfsec-nicsim-XXXXXX", &error);
    g_assert_no_error(error);
    fx->control = g_build_filename(fx->dir, "control.sock", NULL);
    fx->contract = g_build_filename(fx->dir, "contract.sock", NULL);
    fx->ready = g_build_filename(fx->dir, "ready", NULL);
    fx->pcap_dir = g_build_filename(fx->dir, "pcap", NULL);
    fx->vm_fds = g_hash_table_new(NULL, NULL);
    fx->host_fd = fixture_netns(fx->host_ns);
    fx->wire_fd = fixture_netns(fx->wire_ns);

    g_ptr_array_add(argv, g_strdup(vfsec_test_env("VFSEC_NICSIM")));
    g_ptr_array_add(argv, g_strdup("--foreground"));
    g_ptr_array_add(argv, g_strdup_printf("--ports=%u", options->n_ports ? options->n_ports : 1));
    g_ptr_array_add(argv, g_strdup_printf("--vfs=%u", options->n_vfs ? options->n_vfs : 4));
    g_ptr_array_add(argv, g_strdup_printf("--prefix=%s", fx->prefix));
    g_ptr_array_add(argv, g_strdup_printf("--netns=%s", fx->host_ns));
    g_ptr_array_add(argv, g_strdup_printf("--wire-netns=%s", fx->wire_ns));
    g_ptr_array_add(argv, g_strdup_printf("--nic-netns=%s", fx->nic_ns));
    g_ptr_array_add(argv, g_strdup_printf("--control-socket=%s", fx->control));
    g_ptr_array_add(argv, g_strdup_printf("--contract-socket=%s", fx->contract));
    g_ptr_array_add(argv, g_strdup_printf("--ready-file=%s", fx->ready));
    g_ptr_array_add(argv, g_strdup_printf("--mode=%s", options->mode ? options->mode : "veb"));
    if (options->pcap)
        g_ptr_array_add(argv, g_strdup_printf("--pcap-dir=%s", fx->pcap_dir));
    for (guint i = 0; options->extra && options->extra[i]; i++)
        g_ptr_array_add(argv, g_strdup(options->extra[i]));
    g_ptr_array_add(argv, NULL);
    fx->argv = (GStrv)g_ptr_array_steal(argv, NULL);
    fixture_spawn(fx);
    return fx;
}

void
nicsim_restart(NicsimFixture *fx)
{
    g_assert_cmpint(fx->pid, ==, 0);
    /* The old ready file would satisfy the wait at once. */
    unlink(fx->ready);
    fixture_spawn(fx);
}

/* Waits for the emulator's exit; its status, or -1. */
static int
fixture_wait(NicsimFixture *fx, guint timeout_ms)
{
    int pidfd = (int)syscall(SYS_pidfd_open, fx->pid, 0);
    struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
    int status = 0;

    g_assert_cmpint(pidfd, >=, 0);
    if (poll(&pfd, 1, (int)timeout_ms) <= 0) {
        close(pidfd);
        kill(fx->pid, SIGKILL);
        waitpid(fx->pid, &status, 0);
        fx->pid = 0;
        return -1;
    }
    close(pidfd);
    g_assert_cmpint(waitpid(fx->pid, &status, 0), ==, fx->pid);
    fx->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
nicsim_terminate(NicsimFixture *fx, int sig)
{
    g_assert_cmpint(fx->pid, >, 0);
    g_assert_cmpint(kill(fx->pid, sig), ==, 0);
    return fixture_wait(fx, NICSIM_WAIT_MS * 3);
}

static void
remove_tree(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
            remove_tree(child);
        else
            unlink(child);
    }
    rmdir(path);
}

static void
close_vm(gpointer key, gpointer value, gpointer user_data)
{
    NicsimFixture *fx = user_data;
    g_autofree char *name = g_strdup_printf("%s-vm%u", fx->tag, GPOINTER_TO_UINT(key));

    close(GPOINTER_TO_INT(value));
    vfsec_netns_delete(name);
}

void
nicsim_stop(NicsimFixture *fx)
{
    if (fx->pid > 0)
        g_assert_cmpint(nicsim_terminate(fx, SIGTERM), ==, 0);
    g_hash_table_foreach(fx->vm_fds, close_vm, fx);
    g_hash_table_unref(fx->vm_fds);
    close(fx->host_fd);
    close(fx->wire_fd);
    vfsec_netns_delete(fx->host_ns);
    vfsec_netns_delete(fx->wire_ns);
    /* The emulator deletes its own; this is for one that was killed. */
    vfsec_netns_delete(fx->nic_ns);
    remove_tree(fx->dir);
    g_main_context_pop_thread_default(fx->ctx);
    g_main_context_unref(fx->ctx);
    g_free(fx->tag);
    g_free(fx->prefix);
    g_free(fx->host_ns);
    g_free(fx->wire_ns);
    g_free(fx->nic_ns);
    g_free(fx->dir);
    g_free(fx->control);
    g_free(fx->contract);
    g_free(fx->ready);
    g_free(fx->pcap_dir);
    g_strfreev(fx->argv);
    g_free(fx);
}

char *
nicsim_pf_name(NicsimFixture *fx)
{
    return vfsec_nicsim_link_name(fx->prefix, VFSEC_NICSIM_LINK_PF, 0, 0, NULL);
}

char *
nicsim_vf_name(NicsimFixture *fx, guint vf)
{
    return vfsec_nicsim_link_name(fx->prefix, VFSEC_NICSIM_LINK_VF, 0, vf, NULL);
}

char *
nicsim_uplink_name(NicsimFixture *fx)
{
    return vfsec_nicsim_link_name(fx->prefix, VFSEC_NICSIM_LINK_UPLINK, 0, 0, NULL);
}

/* ---- Control socket ---- */

gboolean
nicsim_ctl_try(NicsimFixture *fx, const char *op, const char *args_json, JsonObject **result,
               GError **error)
{
    g_autoptr(JsonObject) args = NULL;

    if (args_json) {
        g_autoptr(JsonParser) parser = json_parser_new();

        if (!json_parser_load_from_data(parser, args_json, -1, error))
            return FALSE;
        g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
        args = json_object_ref(json_node_get_object(json_parser_get_root(parser)));
    }
    return vfsec_nicsim_ctl_call(fx->control, op, args, NICSIM_WAIT_MS, result, error);
}

static JsonObject *
ctl_va(NicsimFixture *fx, const char *op, const char *args_fmt, va_list ap)
{
    g_autofree char *args = args_fmt ? g_strdup_vprintf(args_fmt, ap) : NULL;
    g_autoptr(GError) error = NULL;
    JsonObject *result = NULL;

    if (!nicsim_ctl_try(fx, op, args, &result, &error))
        g_error("control op %s %s failed: %s", op, args ? args : "", error->message);
    return result;
}

JsonObject *
nicsim_ctl(NicsimFixture *fx, const char *op, const char *args_fmt, ...)
{
    JsonObject *result;
    va_list ap;

    va_start(ap, args_fmt);
    result = ctl_va(fx, op, args_fmt, ap);
    va_end(ap);
    return result;
}

void
nicsim_ctl_do(NicsimFixture *fx, const char *op, const char *args_fmt, ...)
{
    va_list ap;

    va_start(ap, args_fmt);
    json_object_unref(ctl_va(fx, op, args_fmt, ap));
    va_end(ap);
}

guint64
nicsim_counter(NicsimFixture *fx, const char *name)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx, "counters", "{\"port\": 0}");
    JsonObject *counters = json_object_get_object_member(res, "counters");

    if (!json_object_has_member(counters, name))
        g_error("the emulator has no counter %s", name);
    return (guint64)json_object_get_int_member(counters, name);
}

GPtrArray *
nicsim_sad_with_mac(NicsimFixture *fx, const VfsecMac *mac)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx, "sad-dump", "{\"port\": 0}");
    JsonArray *sas = json_object_get_array_member(res, "sas");
    GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    char want[VFSEC_MAC_STRLEN];

    vfsec_mac_format(mac, want);
    for (guint i = 0; i < json_array_get_length(sas); i++) {
        JsonObject *sa = json_array_get_object_element(sas, i);
        JsonObject *key = json_object_get_object_member(sa, "key");

        if (g_str_equal(json_object_get_string_member(key, "mac"), want))
            g_ptr_array_add(found, json_object_ref(sa));
    }
    return found;
}

guint
nicsim_sad_count(NicsimFixture *fx)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx, "sad-dump", "{\"port\": 0}");

    return (guint)json_object_get_int_member(res, "count");
}

guint
nicsim_db_count(NicsimFixture *fx)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx, "db-dump", "{\"port\": 0}");

    return (guint)json_object_get_int_member(res, "count");
}

char *
nicsim_json_text(JsonObject *obj)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), obj);

    return json_to_string(node, FALSE);
}

/* ---- Contract socket ---- */

gboolean
nicsim_run_until(NicsimFixture *fx, const gboolean *flag, guint timeout_ms)
{
    return vfsec_test_run_until(fx->ctx, flag, timeout_ms);
}

gboolean
nicsim_run_until_count(NicsimFixture *fx, const guint *count, guint want, guint timeout_ms)
{
    return vfsec_test_run_until_count(fx->ctx, count, want, timeout_ms);
}

void
nicsim_run_pending(NicsimFixture *fx)
{
    while (g_main_context_iteration(fx->ctx, FALSE))
        ;
}

VfsecContractClient *
nicsim_contract_connect(NicsimFixture *fx, VfsecContractNotifyFunc notify, gpointer user_data)
{
    VfsecContractClient *client = vfsec_contract_client_new(fx->contract);
    g_auto(VfsecTestAsync) w = { 0 };
    g_autoptr(GError) error = NULL;
    gboolean ok;

    if (notify)
        vfsec_contract_client_set_notify_func(client, notify, user_data, NULL);
    vfsec_contract_client_connect_async(client, NICSIM_WAIT_MS, NULL, vfsec_test_async_cb, &w);
    g_assert_true(nicsim_run_until(fx, &w.done, NICSIM_WAIT_MS * 2));
    ok = vfsec_contract_client_connect_finish(client, w.result, &error);
    g_assert_no_error(error);
    g_assert_true(ok);
    return client;
}

JsonObject *
nicsim_contract_call(NicsimFixture *fx, VfsecContractClient *client, const char *op,
                     const char *args_json)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_auto(VfsecTestAsync) w = { 0 };
    g_autoptr(GError) error = NULL;
    JsonObject *args = NULL;
    JsonObject *result = NULL;

    if (args_json) {
        g_assert_true(json_parser_load_from_data(parser, args_json, -1, NULL));
        args = json_node_get_object(json_parser_get_root(parser));
    }
    vfsec_contract_client_call_async(client, op, args, NICSIM_WAIT_MS, NULL, vfsec_test_async_cb,
                                     &w);
    g_assert_true(nicsim_run_until(fx, &w.done, NICSIM_WAIT_MS * 2));
    vfsec_contract_client_call_finish(client, w.result, &result, &error);
    if (error)
        g_error("contract op %s %s failed: %s", op, args_json ? args_json : "", error->message);
    return result;
}

/* ---- Namespaces and frames ---- */

int
nicsim_vm(NicsimFixture *fx, guint vf)
{
    g_autofree char *name = g_strdup_printf("%s-vm%u", fx->tag, vf);
    g_autofree char *ifname = nicsim_vf_name(fx, vf);
    g_autoptr(VfsecNetlink) host = NULL;
    g_autoptr(VfsecNetlink) vm = NULL;
    g_autoptr(GError) error = NULL;
    int fd = fixture_netns(name);

    g_hash_table_insert(fx->vm_fds, GUINT_TO_POINTER(vf), GINT_TO_POINTER(fd));
    host = vfsec_netlink_new(fx->host_fd, &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_link_set_netns(host, ifname, fd, &error));
    g_assert_no_error(error);
    vm = vfsec_netlink_new(fd, &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_netlink_link_set_up(vm, ifname, TRUE, &error));
    g_assert_no_error(error);
    return fd;
}

int
nicsim_capture(int ns_fd, const char *ifname)
{
    int fd = vfsec_netns_packet_socket(ns_fd, ifname, ETH_P_ALL);
    int flags;

    if (fd < 0)
        g_error("cannot capture on %s: %s", ifname, g_strerror(-fd));
    flags = fcntl(fd, F_GETFL);
    g_assert_cmpint(fcntl(fd, F_SETFL, flags | O_NONBLOCK), ==, 0);
    return fd;
}

gssize
nicsim_recv(int fd, guint8 *buf, gsize size, guint timeout_ms, NicsimMatchFunc match,
            gconstpointer data)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        gint64 left = deadline - g_get_monotonic_time();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        gssize n;

        n = vfsec_packet_recv(fd, buf, size);
        if (n >= 0 && (!match || match(buf, (gsize)n, data)))
            return n;
        if (n >= 0)
            continue;
        g_assert_cmpint(n, ==, -EAGAIN);
        if (left <= 0)
            return -1;
        poll(&pfd, 1, (int)MAX(1, left / 1000));
    }
}

gboolean
nicsim_match_text(const guint8 *frame, gsize len, gconstpointer data)
{
    const char *text = data;

    return memmem(frame, len, text, strlen(text)) != NULL;
}

void
nicsim_send(int fd, const guint8 *frame, gsize len)
{
    g_assert_cmpint(send(fd, frame, len, 0), ==, (gssize)len);
}

guint16
nicsim_ip_checksum(const guint8 *p, gsize len)
{
    guint32 sum = 0;

    for (gsize i = 0; i + 1 < len; i += 2)
        sum += vfsec_wire_get16(p + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

GByteArray *
nicsim_frame_udp4(const VfsecMac *dst, const VfsecMac *src, const VfsecWireVlan *tags,
                  guint n_tags, const char *ip_src, const char *ip_dst, const void *payload,
                  gsize payload_len)
{
    GByteArray *f = g_byte_array_new();
    guint8 hdr[4];
    guint8 ip[20] = { 0x45, 0 };
    guint8 udp[8] = { 0 };
    guint8 family = 0;
    guint8 addr[16];

    g_byte_array_append(f, dst->b, 6);
    g_byte_array_append(f, src->b, 6);
    for (guint i = 0; i < n_tags; i++) {
        vfsec_wire_put16(hdr, tags[i].tpid);
        vfsec_wire_put16(hdr + 2, tags[i].tci);
        g_byte_array_append(f, hdr, 4);
    }
    vfsec_wire_put16(hdr, 0x0800);
    g_byte_array_append(f, hdr, 2);
    vfsec_wire_put16(ip + 2, (guint16)(20 + 8 + payload_len));
    ip[8] = 64;
    ip[9] = 17;
    g_assert_true(vfsec_wire_ip_parse(ip_src, &family, addr, NULL));
    memcpy(ip + 12, addr, 4);
    g_assert_true(vfsec_wire_ip_parse(ip_dst, &family, addr, NULL));
    memcpy(ip + 16, addr, 4);
    vfsec_wire_put16(ip + 10, nicsim_ip_checksum(ip, 20));
    g_byte_array_append(f, ip, 20);
    vfsec_wire_put16(udp, 4000);
    vfsec_wire_put16(udp + 2, 4001);
    vfsec_wire_put16(udp + 4, (guint16)(8 + payload_len));
    g_byte_array_append(f, udp, 8);
    g_byte_array_append(f, payload, (guint)payload_len);
    return f;
}

gsize
nicsim_frame_l3(const guint8 *frame, gsize len)
{
    gsize off = 12;

    while (off + 4 <= len && (vfsec_wire_get16(frame + off) == VFSEC_WIRE_TPID_8021Q ||
                              vfsec_wire_get16(frame + off) == VFSEC_WIRE_TPID_8021AD))
        off += 4;
    return off + 2;
}

GByteArray *
nicsim_config_request(const VfsecMac *src, guint16 tpid, guint32 seq, const VfsecWireOp *op)
{
    g_autoptr(VfsecWireConfig) cfg = vfsec_wire_config_new(VFSEC_WIRE_KIND_REQUEST, seq);
    g_autoptr(GError) error = NULL;
    VfsecWireTags tags;
    VfsecWireOp *copy;
    guint8 buf[VFSEC_WIRE_FRAME_MAX];
    gssize n;

    vfsec_wire_tags_init(&tags);
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_UPLINK, 0, 0, &cfg->l2.dst);
    cfg->l2.src = *src;
    cfg->l2.tpid = tpid;
    copy = vfsec_wire_config_add(cfg, op->opcode);
    copy->add_sa = op->add_sa;
    copy->remove_sa = op->remove_sa;
    copy->mac = op->mac;
    copy->generation = op->generation;
    n = vfsec_wire_config_encode(&tags, cfg, buf, sizeof(buf), &error);
    g_assert_no_error(error);
    return g_byte_array_append(g_byte_array_new(), buf, (guint)n);
}

void
nicsim_add_sa_op(VfsecWireOp *op, const VfsecMac *mac, const char *dst, guint32 spi,
                 VfsecWireDir dir)
{
    VfsecWireAddSa *sa = &op->add_sa;

    memset(op, 0, sizeof(*op));
    op->opcode = VFSEC_WIRE_OP_ADD_SA;
    g_assert_true(vfsec_wire_ip_parse(dst, &sa->key.family, sa->key.dst, NULL));
    sa->key.proto = VFSEC_WIRE_PROTO_ESP;
    sa->key.spi = spi;
    sa->key.mac = *mac;
    sa->dir = dir;
    sa->alg = VFSEC_WIRE_ALG_AES_GCM_128;
    sa->mode = VFSEC_WIRE_MODE_TRANSPORT;
    sa->key_len = 16;
    memset(sa->key_bytes, 0x42, 16);
}

gboolean
nicsim_match_bytes(const guint8 *frame, gsize len, gconstpointer data)
{
    const GByteArray *want = data;

    return len == want->len && memcmp(frame, want->data, len) == 0;
}

gboolean
nicsim_match_reply(const guint8 *frame, gsize len, gconstpointer data)
{
    g_autoptr(VfsecWireConfig) cfg = NULL;
    VfsecWireTags tags;

    vfsec_wire_tags_init(&tags);
    if (vfsec_wire_classify(&tags, frame, len, NULL) != VFSEC_WIRE_CLASS_CONFIG)
        return FALSE;
    cfg = vfsec_wire_config_decode(&tags, frame, len, VFSEC_WIRE_DECODE_STRICT, NULL);
    return cfg && cfg->kind == VFSEC_WIRE_KIND_REPLY && cfg->seq == GPOINTER_TO_UINT(data);
}

char *
nicsim_hex(const guint8 *data, gsize len)
{
    GString *s = g_string_sized_new(len * 2);

    for (gsize i = 0; i < len; i++)
        g_string_append_printf(s, "%02x", data[i]);
    return g_string_free(s, FALSE);
}
