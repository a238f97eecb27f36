/* test-nicsim-badinput.c: bad input of every kind — truncated, oversized,
 * wrong-version and forged frames (injected and on the netdevs), malformed
 * control and contract requests, an unprivileged client — is refused or
 * counted; the emulator survives and the SAD is intact. */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "nicsim-fixture.h"
#include "vfsec-contract.h"
#include "vfsec-test-util.h"

#define KEY128 "000102030405060708090a0b0c0d0e0f"

typedef struct {
    NicsimFixture *fx;
    char *sad;          /* the SAD as set up, to compare with at the end */
    VfsecWireTags tags;
} BadInput;

static void
setup(BadInput *b)
{
    g_autoptr(JsonObject) res = NULL;

    b->fx = nicsim_start(NULL);
    vfsec_wire_tags_init(&b->tags);
    nicsim_ctl_do(b->fx, "pf-add-sa",
                  "{\"port\": 0, \"count\": 3, \"sa\": {\"dir\": \"in\", \"dst\": \"192.0.2.9\", "
                  "\"spi\": 100, \"key\": \"" KEY128 "\"}}");
    nicsim_ctl_do(b->fx, "vf-add-sa",
                  "{\"port\": 0, \"vf\": 1, \"sa\": {\"dir\": \"out\", \"dst\": \"192.0.2.8\", "
                  "\"spi\": 200, \"key\": \"" KEY128 "\"}}");
    res = nicsim_ctl(b->fx, "sad-dump", "{\"port\": 0}");
    b->sad = nicsim_json_text(res);
}

/* The emulator still answers and its SAD is what setup() left. */
static void
teardown(BadInput *b)
{
    g_autoptr(JsonObject) res = nicsim_ctl(b->fx, "sad-dump", "{\"port\": 0}");
    g_autofree char *sad = nicsim_json_text(res);

    g_assert_cmpstr(sad, ==, b->sad);
    g_free(b->sad);
    nicsim_stop(b->fx);
}

/* An ADD_SA request from the PF, as the PF driver would send it. */
static GByteArray *
add_sa_frame(void)
{
    VfsecWireOp op;
    VfsecMac pf;

    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_PF, 0, 0, &pf);
    nicsim_add_sa_op(&op, &pf, "198.51.100.1", 0xbad, VFSEC_WIRE_DIR_IN);
    return nicsim_config_request(&pf, 0, 99, &op);
}

static void
inject(BadInput *b, const char *from, const guint8 *data, gsize len)
{
    g_autofree char *hex = nicsim_hex(data, len);

    nicsim_ctl_do(b->fx, "send-frame", "{\"port\": 0, \"from\": \"%s\", \"hex\": \"%s\"}", from,
                  hex);
}

/* Every truncation of a valid request, a wrong version, a bad magic, a forged
 * reply, a request from the wire: none executes. */
static void
test_frames_injected(void)
{
    BadInput b = { 0 };
    g_autoptr(GByteArray) good = NULL;
    g_autoptr(GByteArray) bad = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *huge = NULL;
    guint64 rejected;

    setup(&b);
    good = add_sa_frame();
    rejected = nicsim_counter(b.fx, "agent.cfg_rejected");
    for (gsize len = 0; len < good->len; len++)
        inject(&b, "pf", good->data, len);
    g_assert_cmpuint(nicsim_counter(b.fx, "agent.cfg_rejected"), >, rejected);

    bad = g_byte_array_append(g_byte_array_new(), good->data, good->len);
    bad->data[VFSEC_WIRE_CONFIG_OFFSET + 2] = 2;  /* version */
    rejected = nicsim_counter(b.fx, "agent.cfg_rejected");
    inject(&b, "pf", bad->data, bad->len);
    g_assert_cmpuint(nicsim_counter(b.fx, "agent.cfg_rejected"), ==, rejected + 1);
    bad->data[VFSEC_WIRE_CONFIG_OFFSET + 2] = VFSEC_WIRE_VERSION;
    bad->data[VFSEC_WIRE_CONFIG_OFFSET] ^= 0xff;  /* magic */
    inject(&b, "pf", bad->data, bad->len);
    g_assert_cmpuint(nicsim_counter(b.fx, "agent.cfg_rejected"), ==, rejected + 2);
    bad->data[VFSEC_WIRE_CONFIG_OFFSET] ^= 0xff;
    bad->data[VFSEC_WIRE_CONFIG_OFFSET + 3] = VFSEC_WIRE_KIND_REPLY;  /* a forged reply */
    inject(&b, "pf", bad->data, bad->len);
    g_assert_cmpuint(nicsim_counter(b.fx, "agent.cfg_rejected"), ==, rejected + 3);

    /* Configuration from the wire is never honoured. */
    rejected = nicsim_counter(b.fx, "agent.cfg_from_uplink");
    inject(&b, "uplink", good->data, good->len);
    g_assert_cmpuint(nicsim_counter(b.fx, "agent.cfg_from_uplink"), ==, rejected + 1);

    /* Over the emulator's largest frame, bad hex, unknown sources: refused. */
    huge = g_strnfill(2 * 16385, 'a');
    {
        g_autofree char *args = g_strdup_printf("{\"port\": 0, \"from\": \"pf\", \"hex\": \"%s\"}",
                                                huge);

        g_assert_false(nicsim_ctl_try(b.fx, "send-frame", args, NULL, &error));
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
        g_clear_error(&error);
    }
    g_assert_false(nicsim_ctl_try(b.fx, "send-frame",
                                  "{\"port\": 0, \"from\": \"pf\", \"hex\": \"abc\"}", NULL,
                                  &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(nicsim_ctl_try(b.fx, "send-frame",
                                  "{\"port\": 0, \"from\": \"vf:9\", \"hex\": \"00\"}", NULL,
                                  &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    teardown(&b);
}

/* The same on the PF netdev, where the PF driver's own socket listens too.
 * (The kernel itself drops the shortest ones, whose VLAN tag is cut.) */
static void
test_frames_on_netdev(void)
{
    BadInput b = { 0 };
    g_autoptr(GByteArray) good = NULL;
    g_autoptr(GByteArray) query = NULL;
    g_autofree char *pf_name = NULL;
    VfsecWireOp op = { .opcode = VFSEC_WIRE_OP_QUERY };
    VfsecMac pf_mac;
    guint8 buf[VFSEC_WIRE_FRAME_MAX];
    guint64 rejected;
    int pf;

    setup(&b);
    good = add_sa_frame();
    pf_name = nicsim_pf_name(b.fx);
    pf = nicsim_capture(b.fx->host_fd, pf_name);
    rejected = nicsim_counter(b.fx, "agent.cfg_rejected");
    for (gsize len = VFSEC_WIRE_ETH_HLEN; len < good->len; len++)
        nicsim_send(pf, good->data, len);
    /* Frames on one link are handled in order: once a QUERY sent after them
     * is answered, the agent has seen every one of them. */
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_PF, 0, 0, &pf_mac);
    query = nicsim_config_request(&pf_mac, 0, 0x51, &op);
    nicsim_send(pf, query->data, query->len);
    g_assert_cmpint(nicsim_recv(pf, buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_reply,
                                GUINT_TO_POINTER(0x51)), >, 0);
    g_assert_cmpuint(nicsim_counter(b.fx, "agent.cfg_rejected"), >, rejected);
    close(pf);
    teardown(&b);
}

/* ---- Malformed requests ---- */

/* Sends @data on a new connection to @path and reads one reply line: returns
 * it, or NULL when the server closed the connection instead. */
static char *
raw_request(const char *path, const char *data, gsize len)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
    gint64 deadline = g_get_monotonic_time() + NICSIM_WAIT_MS * 1000;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    gsize sent = 0;
    char buf[4096];

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), ==, 0);
    while (sent < len) {
        ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);

        if (n < 0)
            break;  /* the server may close before it read it all */
        sent += (gsize)n;
    }
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        gsize line_len;
        char *line = vfsec_contract_framer_pop(framer, &line_len);
        ssize_t n;

        if (line) {
            close(fd);
            return line;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        poll(&pfd, 1, 100);
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            close(fd);
            return NULL;
        }
        if (n > 0)
            g_assert_true(vfsec_contract_framer_feed(framer, buf, (gsize)n, NULL));
    }
}

/* The reply's error code, or NULL for an ok reply. */
static char *
reply_error_code(const char *line)
{
    g_autoptr(VfsecContractMessage) msg = vfsec_contract_message_parse(line, strlen(line), NULL);

    g_assert_nonnull(msg);
    g_assert_cmpint(msg->kind, ==, VFSEC_CONTRACT_MESSAGE_REPLY);
    if (msg->ok)
        return NULL;
    return g_strdup(vfsec_contract_error_code_to_string(msg->error_code));
}

typedef struct {
    const char *request;    /* one line, without its newline */
    const char *code;       /* the error code answered; NULL: the connection is closed */
} BadRequest;

static const BadRequest bad_control[] = {
    { "{\"id\": 1, \"op\": \"sad-dump\", \"args\": {\"port\": \"zero\"}}", "invalid" },
    { "{\"id\": 1, \"op\": \"sad-dump\", \"args\": {\"port\": -1}}", "invalid" },
    { "{\"id\": 1, \"op\": \"sad-dump\", \"args\": {\"port\": 99}}", "not-found" },
    { "{\"id\": 1, \"op\": \"sad-dump\", \"args\": {}}", "invalid" },
    { "{\"id\": 1, \"op\": \"no-such-op\", \"args\": {}}", "unsupported" },
    { "{\"id\": 1, \"op\": \"vf-add-sa\", \"args\": {\"port\": 0, \"vf\": 1, \"sa\": {\"dir\": "
      "\"sideways\", \"dst\": \"192.0.2.1\", \"spi\": 1, \"key\": \"" KEY128 "\"}}}", "invalid" },
    { "{\"id\": 1, \"op\": \"vf-add-sa\", \"args\": {\"port\": 0, \"vf\": 1, \"sa\": {\"dir\": "
      "\"in\", \"dst\": \"192.0.2.1\", \"spi\": 1, \"key\": \"0011\"}}}", "invalid" },
    { "{\"id\": 1, \"op\": \"vf-add-sa\", \"args\": {\"port\": 0, \"vf\": 1, \"sa\": {\"dir\": "
      "\"in\", \"dst\": \"not-an-ip\", \"spi\": 1, \"key\": \"" KEY128 "\"}}}", "invalid" },
    { "{\"id\": 1, \"op\": \"vf-add-sa\", \"args\": {\"port\": 0, \"vf\": 64, \"sa\": {}}}",
      "not-found" },
    { "{\"id\": 1, \"op\": \"vf-add-sa\", \"args\": {\"port\": 0, \"vf\": 1, \"count\": 0, "
      "\"sa\": {\"dir\": \"in\", \"dst\": \"192.0.2.1\", \"spi\": 1, \"key\": \"" KEY128 "\"}}}",
      "invalid" },
    { "{\"id\": 1, \"op\": \"vf-remove-sa\", \"args\": {\"port\": 0, \"vf\": 2, \"key\": {\"dst\": "
      "\"192.0.2.8\", \"spi\": 200}}}", "not-found" },
    { "{\"id\": 1, \"op\": \"fault-set\", \"args\": {\"port\": 0, \"fault\": \"explode\"}}",
      "invalid" },
    { "{\"id\": 1, \"op\": \"fault-set\", \"args\": {\"port\": 0, \"vf\": 1, \"pf\": true, "
      "\"fault\": \"drop\"}}", "invalid" },
    { "{\"id\": 1, \"op\": \"reclaim-mode\", \"args\": {\"mode\": \"fast\"}}", "invalid" },
    { "{\"id\": 1, \"op\": \"send-tso\", \"args\": {\"port\": 0, \"from\": \"uplink\", \"mss\": "
      "100, \"segments\": [\"00\"]}}", "invalid" },
    { "not json at all", NULL },
    { "[1, 2, 3]", NULL },
};

static const BadRequest bad_contract[] = {
    { "{\"id\": 1, \"op\": \"list-ports\", \"args\": {}}", "invalid" },  /* before hello */
    { "{\"id\": 1, \"op\": \"hello\", \"args\": {\"version\": 2, \"client\": \"t\"}}", "version" },
    { "{\"id\": 1, \"op\": \"frobnicate\", \"args\": {}}", "unsupported" },
    { "{\"op\": \"hello\"}", NULL },
    { "\x01\x02\x03", NULL },
};

#define HELLO "{\"id\": 0, \"op\": \"hello\", \"args\": {\"version\": 1, \"client\": \"t\"}}\n"

static const BadRequest bad_contract_after_hello[] = {
    { "{\"id\": 1, \"op\": \"set-vf\", \"args\": {\"port\": 0, \"vf\": 1, \"port_tag\": "
      "{\"tpid\": 33024, \"vid\": 5000, \"pcp\": 0}}}", "invalid" },
    { "{\"id\": 1, \"op\": \"set-vf\", \"args\": {\"port\": 0, \"vf\": 1, \"port_tag\": "
      "{\"tpid\": 33024, \"vid\": 0, \"pcp\": 0}}}", "invalid" },
    { "{\"id\": 1, \"op\": \"set-vf\", \"args\": {\"port\": 0, \"vf\": 9}}", "not-found" },
    { "{\"id\": 1, \"op\": \"reclaim-vf\", \"args\": {\"port\": 0, \"vf\": 99}}", "not-found" },
    { "{\"id\": 1, \"op\": \"list-vfs\", \"args\": {\"port\": 7}}", "not-found" },
    { "{\"id\": 1, \"op\": \"set-macs\", \"args\": {\"port\": 0, \"generation\": 5, "
      "\"entries\": []}}", "conflict" },
    { "{\"id\": 1, \"op\": \"hello\", \"args\": {\"version\": 1, \"client\": \"t\"}}", "invalid" },
};

static void
check_requests(const char *path, const BadRequest *cases, guint n)
{
    for (guint i = 0; i < n; i++) {
        g_autofree char *data = g_strdup_printf("%s\n", cases[i].request);
        g_autofree char *line = raw_request(path, data, strlen(data));
        g_autofree char *code = NULL;

        g_test_message("request %s", cases[i].request);
        if (!cases[i].code) {
            /* Not a request at all: an error reply or the connection closed. */
            if (line)
                code = reply_error_code(line);
            g_assert_true(!line || code);
            continue;
        }
        g_assert_nonnull(line);
        code = reply_error_code(line);
        g_assert_cmpstr(code, ==, cases[i].code);
    }
}

static void
test_requests(void)
{
    BadInput b = { 0 };
    g_autofree char *long_line = NULL;
    gsize long_len = VFSEC_CONTRACT_MAX_LINE + 16;

    setup(&b);
    check_requests(b.fx->control, bad_control, G_N_ELEMENTS(bad_control));
    check_requests(b.fx->contract, bad_contract, G_N_ELEMENTS(bad_contract));
    /* Over the line limit: the connection is closed, the server lives on. */
    long_line = g_malloc(long_len);
    memset(long_line, ' ', long_len);
    g_assert_null(raw_request(b.fx->control, long_line, long_len));
    g_assert_null(raw_request(b.fx->contract, long_line, long_len));
    teardown(&b);
}

/* Errors after a good hello: one connection, the hello's reply, then the
 * bad request's. */
static void
test_contract_after_hello(void)
{
    BadInput b = { 0 };

    setup(&b);
    for (guint i = 0; i < G_N_ELEMENTS(bad_contract_after_hello); i++) {
        const BadRequest *c = &bad_contract_after_hello[i];
        g_autofree char *data = g_strdup_printf(HELLO "%s\n", c->request);
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
        gint64 deadline = g_get_monotonic_time() + NICSIM_WAIT_MS * 1000;
        g_autofree char *second = NULL;
        g_autofree char *code = NULL;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        guint lines = 0;

        g_test_message("request %s", c->request);
        g_strlcpy(sun.sun_path, b.fx->contract, sizeof(sun.sun_path));
        g_assert_cmpint(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), ==, 0);
        g_assert_cmpint(send(fd, data, strlen(data), MSG_NOSIGNAL), ==, (gssize)strlen(data));
        while (lines < 2) {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            char buf[4096];
            gsize len;
            char *line;
            ssize_t n;

            while (lines < 2 && (line = vfsec_contract_framer_pop(framer, &len))) {
                if (++lines == 2)
                    second = line;
                else
                    g_free(line);
            }
            if (lines == 2)
                break;
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            poll(&pfd, 1, 100);
            n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            g_assert_true(n > 0 || (n < 0 && errno == EAGAIN));
            if (n > 0)
                g_assert_true(vfsec_contract_framer_feed(framer, buf, (gsize)n, NULL));
        }
        close(fd);
        code = reply_error_code(second);
        g_assert_cmpstr(code, ==, c->code);
    }
    teardown(&b);
}

typedef struct {
    const char *name;
    gboolean allow_group;   /* start the emulator with --allow-group=nogroup */
    gid_t gid;              /* the client's primary group */
    gid_t supplementary;    /* and one supplementary group (0: none) */
    gboolean allowed;
} PeerCase;

#define NOBODY 65534
#define NOGROUP 65534
#define BIN_GROUP 2

static const PeerCase peer_cases[] = {
    { "refused", FALSE, NOGROUP, 0, FALSE },
    { "other-group", TRUE, BIN_GROUP, 0, FALSE },
    { "primary-group", TRUE, NOGROUP, 0, TRUE },
    { "supplementary-group", TRUE, BIN_GROUP, NOGROUP, TRUE },
};

/* Runs in the child, as @c's user: FALSE when a socket answered otherwise
 * than @c expects. */
static gboolean
peer_check(const PeerCase *c, const char *const paths[2])
{
    const char *requests[2] = { "{\"id\": 1, \"op\": \"status\", \"args\": {}}\n", HELLO };

    for (guint i = 0; i < 2; i++) {
        g_autofree char *line = raw_request(paths[i], requests[i], strlen(requests[i]));
        g_autofree char *code = line ? reply_error_code(line) : g_strdup("closed");

        if (c->allowed ? code != NULL : g_strcmp0(code, "permission") != 0)
            return FALSE;
    }
    return TRUE;
}

/* Root, or a member (primary or supplementary) of --allow-group: nobody
 * else, on both sockets (made reachable for the client first: the test owns
 * them, and the check under test is the emulator's, not the file mode). */
static void
test_peer(gconstpointer data)
{
    const PeerCase *c = data;
    const char *extra[] = { "--allow-group=nogroup", NULL };
    NicsimOptions options = { .extra = c->allow_group ? extra : NULL };
    NicsimFixture *fx = nicsim_start(&options);
    const char *paths[2] = { fx->control, fx->contract };
    pid_t pid;
    int status = 0;

    g_assert_cmpint(chmod(fx->dir, 0755), ==, 0);
    for (guint i = 0; i < 2; i++)
        g_assert_cmpint(chmod(paths[i], 0666), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        gid_t groups[1] = { c->supplementary };

        if (setgroups(c->supplementary ? 1 : 0, groups) < 0 || setgid(c->gid) < 0 ||
            setuid(NOBODY) < 0)
            _exit(2);
        _exit(peer_check(c, paths) ? 0 : 1);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    nicsim_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();
    g_test_add_func("/nicsim/bad-input/frames-injected", test_frames_injected);
    g_test_add_func("/nicsim/bad-input/frames-on-netdev", test_frames_on_netdev);
    g_test_add_func("/nicsim/bad-input/requests", test_requests);
    g_test_add_func("/nicsim/bad-input/contract-after-hello", test_contract_after_hello);
    for (guint i = 0; i < G_N_ELEMENTS(peer_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicsim/bad-input/peer/%s", peer_cases[i].name);

        g_test_add_data_func(path, &peer_cases[i], test_peer);
    }
    return g_test_run();
}
