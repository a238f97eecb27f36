/* daemon-fixture.c: vfsecd on the NIC emulator for the daemon's integration
 * tests (see daemon-fixture.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-fixture.h"
#include "vfsec-test-util.h"

#define KEY128 "000102030405060708090a0b0c0d0e0f"

void
daemon_require(void)
{
    vfsec_test_require_root();
    nicsim_require();
}

void
daemon_write_config(DaemonFixture *fx, const char *extra, gboolean hairpin)
{
    g_autofree char *text = g_strdup_printf(
        "[daemon]\n"
        "libvirt-uri = %s\n"
        "control-socket = %s\n"
        "state-dir = %s\n"
        "run-dir = %s\n"
        "log-level = %s\n"
        "[timeouts]\n"
        "reconnect-min = 100\n"
        "reconnect-max = 1000\n"
        "%s"
        "[pf nic0]\n"
        "plugin = contract\n"
        "socket = %s\n"
        "port = 0\n"
        "hairpin = %s\n",
        fx->libvirt_uri, fx->control, fx->state_dir, fx->run_dir,
        fx->log_level ? fx->log_level : "debug", extra ? extra : "",
        fx->contract_socket ? fx->contract_socket : fx->nic->contract,
        hairpin ? "true" : "false");
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(fx->config, text, -1, &error));
    g_assert_no_error(error);
}

static void
daemon_install_hook(DaemonFixture *fx, const char *kind)
{
    g_autofree char *dir = g_strdup_printf("%s/%s.d", fx->hook_dir, kind);
    g_autofree char *link = g_build_filename(dir, "vfsec", NULL);

    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    g_assert_cmpint(symlink(vfsec_test_env("VFSEC_HOOK"), link), ==, 0);
}

static void
daemon_child_setup(gpointer data)
{
    const char *stderr_path = data;

    /* A test that aborts must not leave its vfsecd behind. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (stderr_path) {
        int fd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
            _exit(127);
        close(fd);
    }
}

void
daemon_launch(DaemonFixture *fx)
{
    g_autofree char *ready_arg = g_strdup_printf("--ready-file=%s", fx->ready);
    g_autofree char *config_arg = g_strdup_printf("--config=%s", fx->config);
    const char *argv[] = { vfsec_test_env("VFSECD"), config_arg, ready_arg, "--foreground",
                           NULL };
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(fx->pid, ==, 0);
    unlink(fx->ready);
    g_assert_true(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                daemon_child_setup, fx->stderr_path, &fx->pid, &error));
    g_assert_no_error(error);
    if (!vfsec_test_wait_for_file(fx->ready, NICSIM_WAIT_MS * 2))
        g_error("vfsecd did not become ready within %u ms", NICSIM_WAIT_MS * 2);
}

DaemonFixture *
daemon_new(const char *libvirt_uri)
{
    DaemonFixture *fx = g_new0(DaemonFixture, 1);

    fx->nic = nicsim_start(NULL);
    fx->dir = vfsec_test_make_dir("vfsecd-test");
    fx->config = g_build_filename(fx->dir, "vfsecd.conf", NULL);
    fx->control = g_build_filename(fx->dir, "vfsecd.sock", NULL);
    fx->ready = g_build_filename(fx->dir, "ready", NULL);
    fx->state_dir = g_build_filename(fx->dir, "state", NULL);
    fx->run_dir = g_build_filename(fx->dir, "run", NULL);
    fx->hook_dir = g_build_filename(fx->dir, "hooks", NULL);
    fx->libvirt_uri = libvirt_uri ? g_strdup(libvirt_uri)
                                  : g_strdup_printf("test+unix:///default?socket=%s/none.sock",
                                                    fx->dir);
    g_assert_cmpint(g_mkdir_with_parents(fx->state_dir, 0700), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(fx->run_dir, 0755), ==, 0);
    daemon_install_hook(fx, "qemu");
    daemon_install_hook(fx, "network");
    daemon_write_config(fx, NULL, TRUE);
    return fx;
}

DaemonFixture *
daemon_start(const char *libvirt_uri)
{
    DaemonFixture *fx = daemon_new(libvirt_uri);

    daemon_launch(fx);
    return fx;
}

int
daemon_kill(DaemonFixture *fx, int sig)
{
    int status = 0;

    g_assert_cmpint(fx->pid, >, 0);
    g_assert_cmpint(kill(fx->pid, sig), ==, 0);
    g_assert_cmpint(waitpid(fx->pid, &status, 0), ==, fx->pid);
    g_spawn_close_pid(fx->pid);
    fx->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Removes @dir and what is below it (the test's own tree only). */
static void
daemon_remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    if (!d)
        return;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK))
            daemon_remove_tree(path);
        else
            g_assert_cmpint(unlink(path), ==, 0);
    }
    g_assert_cmpint(rmdir(dir), ==, 0);
}

void
daemon_stop(DaemonFixture *fx)
{
    if (fx->pid > 0) {
        g_assert_cmpint(daemon_kill(fx, SIGTERM), ==, 0);
        g_assert_false(g_file_test(fx->control, G_FILE_TEST_EXISTS));
    }
    nicsim_stop(fx->nic);
    daemon_remove_tree(fx->dir);
    g_free(fx->dir);
    g_free(fx->config);
    g_free(fx->control);
    g_free(fx->ready);
    g_free(fx->state_dir);
    g_free(fx->run_dir);
    g_free(fx->hook_dir);
    g_free(fx->libvirt_uri);
    g_free(fx->contract_socket);
    g_free(fx->stderr_path);
    g_free(fx);
}

/* ---- Hook ---- */

int
daemon_hook(DaemonFixture *fx, const char *kind, const char *name, const char *op,
            const char *subop, const char *xml, char **err)
{
    g_autofree char *hook = g_strdup_printf("%s/%s.d/vfsec", fx->hook_dir, kind);
    g_autofree char *env_socket = g_strdup_printf("VFSEC_CONTROL_SOCKET=%s", fx->control);
    const char *argv[] = { hook, name, op, subop, "-", NULL };
    /* libvirt's environment for hooks, plus the socket (docs/hook-contract.md). */
    const char *envp[] = { "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", env_socket, NULL };
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GBytes) input = g_bytes_new(xml, strlen(xml));
    g_autoptr(GBytes) out = NULL;
    g_autoptr(GBytes) errb = NULL;
    g_autoptr(GError) error = NULL;

    g_subprocess_launcher_set_environ(launcher, (char **)envp);
    proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
    g_assert_no_error(error);
    g_assert_true(g_subprocess_communicate(proc, input, NULL, &out, &errb, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(g_bytes_get_size(out), ==, 0);
    if (err)
        *err = g_bytes_get_size(errb) ? g_strndup(g_bytes_get_data(errb, NULL),
                                                  g_bytes_get_size(errb))
                                      : g_strdup("");
    g_assert_true(g_subprocess_get_if_exited(proc));
    return g_subprocess_get_exit_status(proc);
}

char *
daemon_domain_xml(DaemonFixture *fx, const char *name, const char *uuid, guint vf,
                  const char *mac)
{
    g_autofree char *netdev = nicsim_vf_name(fx->nic, vf);

    return g_strdup_printf(
        "<domain type='test'>\n"
        "  <name>%s</name>\n"
        "  <uuid>%s</uuid>\n"
        "  <memory unit='KiB'>65536</memory>\n"
        "  <vcpu>1</vcpu>\n"
        "  <os><type arch='x86_64'>hvm</type></os>\n"
        "  <devices>\n"
        "    <interface type='direct'>\n"
        "      <mac address='%s'/>\n"
        "      <source dev='%s' mode='passthrough'/>\n"
        "    </interface>\n"
        "  </devices>\n"
        "</domain>\n",
        name, uuid, mac, netdev);
}

/* ---- vfsecctl ---- */

int
daemon_ctl(DaemonFixture *fx, char **out, char **err, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    const char *arg;
    va_list ap;

    g_ptr_array_add(argv, (char *)vfsec_test_env("VFSECCTL"));
    va_start(ap, err);
    while ((arg = va_arg(ap, const char *)))
        g_ptr_array_add(argv, (char *)arg);
    va_end(ap);
    g_ptr_array_add(argv, (char *)"--socket");
    g_ptr_array_add(argv, fx->control);
    g_ptr_array_add(argv, NULL);
    return vfsec_test_run((const char *const *)argv->pdata, out, err);
}

JsonNode *
daemon_ctl_json(DaemonFixture *fx, const char *cmd)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = daemon_ctl(fx, &out, &err, cmd, "--json", NULL);
    JsonNode *node;

    if (status != 0)
        g_error("vfsecctl %s: exit %d: %s", cmd, status, err);
    node = json_from_string(out, &error);
    g_assert_no_error(error);
    g_assert_nonnull(node);
    return node;
}

/* ---- The emulator's view ---- */

JsonObject *
daemon_nic_vf(DaemonFixture *fx, guint vf)
{
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx->nic, NULL, NULL);
    g_autoptr(JsonObject) res = nicsim_contract_call(fx->nic, client, "list-vfs",
                                                     "{\"port\": 0}");
    JsonArray *vfs = json_object_get_array_member(res, "vfs");

    for (guint i = 0; i < json_array_get_length(vfs); i++) {
        JsonObject *row = json_array_get_object_element(vfs, i);

        if (json_object_get_int_member(row, "vf") == vf)
            return json_object_ref(row);
    }
    g_error("the emulator has no VF %u", vf);
}

guint
daemon_nic_vf_sas(DaemonFixture *fx, guint vf)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx->nic, "db-dump", "{\"port\": 0}");
    JsonArray *sas = json_object_get_array_member(res, "sas");
    g_autofree char *domain = g_strdup_printf("vf:%u", vf);
    guint n = 0;

    for (guint i = 0; i < json_array_get_length(sas); i++)
        if (g_str_equal(json_object_get_string_member(json_array_get_object_element(sas, i),
                                                      "domain"),
                        domain))
            n++;
    return n;
}

void
daemon_nic_add_sas(DaemonFixture *fx, guint vf, guint count, guint32 spi)
{
    g_autoptr(JsonObject) res =
        nicsim_ctl(fx->nic, "vf-add-sa",
                   "{\"port\": 0, \"vf\": %u, \"count\": %u, \"sa\": {\"dir\": \"in\", "
                   "\"dst\": \"192.0.2.1\", \"spi\": %u, \"key\": \"" KEY128 "\"}}",
                   vf, count, spi);

    g_assert_cmpint(json_object_get_int_member(res, "added"), ==, count);
}

void
daemon_nic_untag_add_sas(DaemonFixture *fx, guint vf, guint count, guint32 spi)
{
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx->nic, NULL, NULL);
    g_autofree char *args = g_strdup_printf("{\"port\": 0, \"vf\": %u, \"port_tag\": null}", vf);
    g_autoptr(JsonObject) res = nicsim_contract_call(fx->nic, client, "set-vf", args);

    daemon_nic_add_sas(fx, vf, count, spi);
}

gboolean
daemon_nic_published(DaemonFixture *fx, const char *mac)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx->nic, "macs", "{\"port\": 0}");
    JsonArray *entries =
        json_object_get_array_member(json_object_get_object_member(res, "local"), "entries");

    for (guint i = 0; i < json_array_get_length(entries); i++)
        if (g_ascii_strcasecmp(json_object_get_string_member(
                                   json_array_get_object_element(entries, i), "mac"),
                               mac) == 0)
            return TRUE;
    return FALSE;
}

gboolean
daemon_macfile_has(DaemonFixture *fx, const char *mac)
{
    g_autofree char *path = g_build_filename(fx->run_dir, "local-macs", "nic0.xml", NULL);
    g_autofree char *text = NULL;
    g_autofree char *needle = g_strdup_printf("mac=\"%s\"", mac);

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return FALSE;
    return strstr(text, needle) != NULL;
}

static gboolean
daemon_tick(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

gboolean
daemon_wait_for(DaemonFixture *fx, DaemonCheckFunc check, gconstpointer data, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (!check(fx, data)) {
        gboolean tick = FALSE;
        g_autoptr(GSource) timer = NULL;

        if (g_get_monotonic_time() > deadline)
            return FALSE;
        /* Paced by a main-loop timer: the state is another process's. */
        timer = g_timeout_source_new(20);
        g_source_set_callback(timer, daemon_tick, &tick, NULL);
        g_source_attach(timer, fx->nic->ctx);
        while (!tick)
            g_main_context_iteration(fx->nic->ctx, TRUE);
    }
    return TRUE;
}

/* ---- A PF driver that stops answering ---- */

/*
 * A relay between vfsecd's contract plugin and the emulator's contract
 * socket, on a thread of its own: bytes pass through line by line, except
 * that while "mute" names a VF, the requests about that VF are forwarded and
 * their replies never come back — a PF driver that accepted and went silent.
 */
typedef struct {
    int client;
    int server;
    GString *from_client;
    GString *from_server;
    GHashTable *muted;         /* request ids whose reply is dropped */
} RelayPair;

struct _DaemonMuteProxy {
    char *path;
    char *upstream;
    int listen_fd;
    int wake[2];
    GThread *thread;
    gint mute_vf;              /* atomic; -1: none */
    gint dropped;              /* atomic */
};

static void
relay_pair_free(RelayPair *p)
{
    close(p->client);
    close(p->server);
    g_string_free(p->from_client, TRUE);
    g_string_free(p->from_server, TRUE);
    g_hash_table_unref(p->muted);
    g_free(p);
}

/* The member @name of the JSON object on @line, as an integer, or -1. */
static gint64
relay_member(const char *line, gsize len, const char *object, const char *name)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *obj;

    if (!json_parser_load_from_data(parser, line, (gssize)len, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
        return -1;
    obj = json_node_get_object(json_parser_get_root(parser));
    if (object) {
        if (!json_object_has_member(obj, object) ||
            !JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, object)))
            return -1;
        obj = json_object_get_object_member(obj, object);
    }
    if (!json_object_has_member(obj, name) ||
        json_node_get_value_type(json_object_get_member(obj, name)) != G_TYPE_INT64)
        return -1;
    return json_object_get_int_member(obj, name);
}

static gboolean
relay_write(int fd, const char *data, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* Moves the complete lines of @buf to @fd; FALSE when the peer is gone. */
static gboolean
relay_lines(DaemonMuteProxy *proxy, RelayPair *p, GString *buf, int fd, gboolean requests)
{
    char *nl;

    while ((nl = memchr(buf->str, '\n', buf->len))) {
        gsize len = (gsize)(nl - buf->str) + 1;
        gint mute = g_atomic_int_get(&proxy->mute_vf);
        gint64 id = relay_member(buf->str, len - 1, NULL, "id");
        gboolean pass = TRUE;

        if (requests && mute >= 0 && id >= 0 &&
            relay_member(buf->str, len - 1, "args", "vf") == mute)
            g_hash_table_add(p->muted, GINT_TO_POINTER((gint)id));
        if (!requests && id >= 0 && g_hash_table_remove(p->muted, GINT_TO_POINTER((gint)id))) {
            g_atomic_int_inc(&proxy->dropped);
            pass = FALSE;
        }
        if (pass && !relay_write(fd, buf->str, len))
            return FALSE;
        g_string_erase(buf, 0, (gssize)len);
    }
    return TRUE;
}

static gboolean
relay_read(DaemonMuteProxy *proxy, RelayPair *p, gboolean from_client)
{
    char chunk[65536];
    ssize_t n = read(from_client ? p->client : p->server, chunk, sizeof(chunk));
    GString *buf = from_client ? p->from_client : p->from_server;

    if (n <= 0)
        return FALSE;
    g_string_append_len(buf, chunk, n);
    return relay_lines(proxy, p, buf, from_client ? p->server : p->client, from_client);
}

static int
relay_connect(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static gpointer
relay_thread(gpointer data)
{
    DaemonMuteProxy *proxy = data;
    g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func((GDestroyNotify)relay_pair_free);

    for (;;) {
        g_autofree struct pollfd *fds = g_new0(struct pollfd, 2 + 2 * pairs->len);
        guint n = 0;

        fds[n++] = (struct pollfd){ .fd = proxy->wake[0], .events = POLLIN };
        fds[n++] = (struct pollfd){ .fd = proxy->listen_fd, .events = POLLIN };
        for (guint i = 0; i < pairs->len; i++) {
            RelayPair *p = pairs->pdata[i];

            fds[n++] = (struct pollfd){ .fd = p->client, .events = POLLIN };
            fds[n++] = (struct pollfd){ .fd = p->server, .events = POLLIN };
        }
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            g_error("relay poll: %s", g_strerror(errno));
        }
        if (fds[0].revents)
            return NULL;
        for (guint i = pairs->len; i-- > 0;) {
            RelayPair *p = pairs->pdata[i];
            gboolean ok = TRUE;

            if (fds[2 + 2 * i].revents)
                ok = relay_read(proxy, p, TRUE);
            if (ok && fds[3 + 2 * i].revents)
                ok = relay_read(proxy, p, FALSE);
            if (!ok)
                g_ptr_array_remove_index(pairs, i);
        }
        if (fds[1].revents & POLLIN) {
            int client = accept4(proxy->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            int server = client >= 0 ? relay_connect(proxy->upstream) : -1;
            RelayPair *p;

            if (server < 0) {
                if (client >= 0)
                    close(client);
                continue;
            }
            p = g_new0(RelayPair, 1);
            p->client = client;
            p->server = server;
            p->from_client = g_string_new(NULL);
            p->from_server = g_string_new(NULL);
            p->muted = g_hash_table_new(NULL, NULL);
            g_ptr_array_add(pairs, p);
        }
    }
}

DaemonMuteProxy *
daemon_mute_proxy_new(DaemonFixture *fx)
{
    DaemonMuteProxy *proxy = g_new0(DaemonMuteProxy, 1);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    proxy->path = g_build_filename(fx->dir, "relay.sock", NULL);
    proxy->upstream = g_strdup(fx->nic->contract);
    proxy->mute_vf = -1;
    proxy->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(proxy->listen_fd, >=, 0);
    g_strlcpy(addr.sun_path, proxy->path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(proxy->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(proxy->listen_fd, 8), ==, 0);
    g_assert_cmpint(pipe2(proxy->wake, O_CLOEXEC), ==, 0);
    proxy->thread = g_thread_new("mute-proxy", relay_thread, proxy);
    g_free(fx->contract_socket);
    fx->contract_socket = g_strdup(proxy->path);
    daemon_write_config(fx, NULL, TRUE);
    return proxy;
}

void
daemon_mute_proxy_set(DaemonMuteProxy *proxy, int vf)
{
    g_atomic_int_set(&proxy->mute_vf, vf);
}

guint
daemon_mute_proxy_dropped(DaemonMuteProxy *proxy)
{
    return (guint)g_atomic_int_get(&proxy->dropped);
}

void
daemon_mute_proxy_free(DaemonMuteProxy *proxy)
{
    g_assert_cmpint(write(proxy->wake[1], "q", 1), ==, 1);
    g_thread_join(proxy->thread);
    close(proxy->wake[0]);
    close(proxy->wake[1]);
    close(proxy->listen_fd);
    unlink(proxy->path);
    g_free(proxy->path);
    g_free(proxy->upstream);
    g_free(proxy);
}
