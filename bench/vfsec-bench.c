/* vfsec-bench.c: the timed loops of bench/run that need to be a C client
 * of libvirt or to fork/exec fast: each subcommand prints CSV rows of raw
 * samples (µs) on stdout; bench/run orchestrates, aggregates and plots.
 *
 * Times are g_get_monotonic_time() (CLOCK_MONOTONIC, µs), the clock the NIC
 * emulator's "times" control op reports, so an action the emulator dates is
 * compared with this process's own receipt of the libvirt event that caused
 * it.
 *
 *   vfsec-bench events  URI CTL PORT VF NETDEV CYCLES
 *   vfsec-bench reclaim URI CTL PORT VF NETDEV SAS REPS
 *   vfsec-bench scale   URI COUNT PORTS VFS FIRST (domains FIRST..COUNT-1, held until stdin closes)
 *   vfsec-bench hook    N XMLFILE HOOK [ARG...]   (runs HOOK N times, XML on stdin)
 *   vfsec-bench hook-pair N XMLFILE FLOOR HOOK [ARG...]
 *                       (N pairs: FLOOR and HOOK, alternating which goes first)
 *   vfsec-bench hook-rpc SOCKET N XMLFILE NAME TIMEOUT_MS [GAP_US]
 *                       (vfsecd's service time for the front's hook request)
 *   vfsec-bench floor   URI                       (memory of a bare libvirt client)
 *   vfsec-bench parse   XMLFILE N                 (vfsec's domain-XML parse, for callgrind)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "vfsec-ctlproto.h"
#include "vfsec-domain.h"

#define BENCH_WAIT_US (60 * G_USEC_PER_SEC)

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

/* ---- A blocking JSON-lines client (the emulator's control socket) ---- */

typedef struct {
    int fd;
    GString *buf;
    guint id;
} BenchRpc;

static void
bench_die(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN;

static void
bench_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("vfsec-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static BenchRpc *
bench_rpc_open(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    BenchRpc *rpc = g_new0(BenchRpc, 1);

    if (strlen(path) >= sizeof(sa.sun_path))
        bench_die("socket path %s is too long", path);
    strcpy(sa.sun_path, path);
    rpc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rpc->fd < 0 || connect(rpc->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        bench_die("cannot connect to %s: %s", path, g_strerror(errno));
    rpc->buf = g_string_new(NULL);
    return rpc;
}

/* One request; returns its result (unref it) or dies naming the op. */
static JsonObject *
bench_rpc_call(BenchRpc *rpc, const char *op, const char *args)
{
    g_autofree char *line = g_strdup_printf("{\"id\":%u,\"op\":\"%s\",\"args\":%s}\n", ++rpc->id,
                                            op, args ? args : "{}");
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    gsize off = 0, len = strlen(line);
    char *nl;
    JsonObject *reply;

    while (off < len) {
        ssize_t n = write(rpc->fd, line + off, len - off);

        if (n < 0 && errno != EINTR)
            bench_die("%s: write: %s", op, g_strerror(errno));
        off += n > 0 ? (gsize)n : 0;
    }
    while (!(nl = memchr(rpc->buf->str, '\n', rpc->buf->len))) {
        char chunk[65536];
        ssize_t n = read(rpc->fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_die("%s: connection closed", op);
        g_string_append_len(rpc->buf, chunk, n);
    }
    if (!json_parser_load_from_data(parser, rpc->buf->str, nl - rpc->buf->str, &error))
        bench_die("%s: bad reply: %s", op, error->message);
    g_string_erase(rpc->buf, 0, nl - rpc->buf->str + 1);
    reply = json_node_get_object(json_parser_get_root(parser));
    if (!json_object_get_boolean_member_with_default(reply, "ok", FALSE))
        bench_die("%s %s: %s", op, args ? args : "", json_object_get_string_member_with_default(
            json_object_get_object_member(reply, "error"), "message", "error"));
    return json_object_ref(json_object_get_object_member(reply, "result"));
}

typedef struct {
    gint64 now;
    guint sas;
    gint64 sa_removed;
    gint64 macs_changed;
    gint64 vf_changed;
} BenchTimes;

static void
bench_times(BenchRpc *rpc, guint port, guint vf, BenchTimes *t)
{
    g_autofree char *args = g_strdup_printf("{\"port\":%u}", port);
    g_autoptr(JsonObject) res = bench_rpc_call(rpc, "times", args);
    JsonArray *fns = json_object_get_array_member(res, "functions");

    t->now = json_object_get_int_member(res, "now_us");
    t->sas = json_object_get_int_member(res, "sas");
    t->sa_removed = json_object_get_int_member(res, "sa_removed_us");
    t->macs_changed = json_object_get_int_member(res, "macs_changed_us");
    /* Element 0 is the PF. */
    t->vf_changed = json_object_get_int_member(json_array_get_object_element(fns, vf + 1),
                                               "changed_us");
}

/* ---- libvirt: one connection, events on a thread of their own ---- */

typedef struct {
    GMutex lock;
    GCond cond;
    guint started;
    guint stopped;
    gint64 started_at;
    gint64 stopped_at;
} BenchEvents;

static int
bench_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    BenchEvents *ev = opaque;
    gint64 now = g_get_monotonic_time();

    g_mutex_lock(&ev->lock);
    if (event == VIR_DOMAIN_EVENT_STARTED) {
        ev->started++;
        ev->started_at = now;
    } else if (event == VIR_DOMAIN_EVENT_STOPPED) {
        ev->stopped++;
        ev->stopped_at = now;
    }
    g_cond_broadcast(&ev->cond);
    g_mutex_unlock(&ev->lock);
    return 0;
}

static gpointer
bench_event_thread(gpointer data)
{
    for (;;)
        virEventRunDefaultImpl();
    return NULL;
}

static virConnectPtr
bench_connect(const char *uri, BenchEvents *ev)
{
    virConnectPtr conn;

    if (virEventRegisterDefaultImpl() < 0)
        bench_die("libvirt event loop: %s", virGetLastErrorMessage());
    g_thread_unref(g_thread_new("bench-events", bench_event_thread, NULL));
    conn = virConnectOpen(uri);
    if (!conn)
        bench_die("cannot open %s: %s", uri, virGetLastErrorMessage());
    if (ev && virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                               VIR_DOMAIN_EVENT_CALLBACK(bench_lifecycle), ev,
                                               NULL) < 0)
        bench_die("event registration: %s", virGetLastErrorMessage());
    return conn;
}

static guint
bench_count(BenchEvents *ev, const guint *counter)
{
    guint n;

    g_mutex_lock(&ev->lock);
    n = *counter;
    g_mutex_unlock(&ev->lock);
    return n;
}

/* Waits until *@counter exceeds @before; returns the event's time. */
static gint64
bench_wait_event(BenchEvents *ev, const guint *counter, guint before, const gint64 *at,
                 const char *what)
{
    gint64 deadline = g_get_monotonic_time() + BENCH_WAIT_US;
    gint64 t;

    g_mutex_lock(&ev->lock);
    while (*counter <= before)
        if (!g_cond_wait_until(&ev->cond, &ev->lock, deadline))
            bench_die("no %s event within %d s", what, (int)(BENCH_WAIT_US / G_USEC_PER_SEC));
    t = *at;
    g_mutex_unlock(&ev->lock);
    return t;
}

static char *
bench_domain_xml(const char *name, const char *netdev, guint n)
{
    return g_strdup_printf("<domain type='test'><name>%s</name>"
                           "<memory unit='KiB'>65536</memory><vcpu>1</vcpu>"
                           "<os><type arch='x86_64'>hvm</type></os><devices>"
                           "<interface type='direct'><mac address='52:54:00:be:%02x:%02x'/>"
                           "<source dev='%s' mode='passthrough'/></interface>"
                           "</devices></domain>",
                           name, (n >> 8) & 0xff, n & 0xff, netdev);
}

typedef gboolean (*BenchCheck)(const BenchTimes *t, const BenchTimes *before);

/* Polls the emulator's times until @check holds (bounded; a benchmark, not
 * a test: polling costs the emulator one small request per iteration). */
static void
bench_poll(BenchRpc *rpc, guint port, guint vf, BenchCheck check, const BenchTimes *before,
           BenchTimes *t, const char *what)
{
    gint64 deadline = g_get_monotonic_time() + BENCH_WAIT_US;

    for (;;) {
        bench_times(rpc, port, vf, t);
        if (check(t, before))
            return;
        if (t->now > deadline)
            bench_die("%s did not happen within %d s", what, (int)(BENCH_WAIT_US / G_USEC_PER_SEC));
        g_usleep(50);   /* yield the CPU to vfsecd and the emulator (2 cores) */
    }
}

/* Start (the VF is trusted): the tag is lifted, then the MAC published, the
 * last step. Release: the MAC unpublished, then the quarantine tag set, the
 * last step. Either way both changed since @before. */
static gboolean
vf_and_macs_changed(const BenchTimes *t, const BenchTimes *before)
{
    return t->vf_changed > before->vf_changed && t->macs_changed > before->macs_changed;
}

/* The release is over (the quarantine comes last), not only the reclaim:
 * the next start must not see this release's changes as its own. */
static gboolean
sad_empty_and_released(const BenchTimes *t, const BenchTimes *before)
{
    return t->sas == 0 && vf_and_macs_changed(t, before);
}

static guint
bench_uint(const char *s, const char *what)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT32, &v, NULL))
        bench_die("%s '%s' is not a number", what, s);
    return (guint)v;
}

/* What events and reclaim share: the libvirt connection with its events,
 * the emulator's control socket, and the VF the domains own. */
typedef struct {
    BenchEvents ev;
    virConnectPtr conn;
    BenchRpc *rpc;
    guint port;
    guint vf;
    const char *netdev;
} BenchVf;

/* From argv URI CTL PORT VF NETDEV. */
static void
bench_vf_open(BenchVf *b, char **argv)
{
    b->conn = bench_connect(argv[0], &b->ev);
    b->rpc = bench_rpc_open(argv[1]);
    b->port = bench_uint(argv[2], "port");
    b->vf = bench_uint(argv[3], "vf");
    b->netdev = argv[4];
}

static void
bench_vf_close(BenchVf *b)
{
    virConnectClose(b->conn);
    close(b->rpc->fd);
    g_string_free(b->rpc->buf, TRUE);
    g_free(b->rpc);
}

static virDomainPtr
bench_start(BenchVf *b, guint n, gint64 *event_at, BenchTimes *after)
{
    g_autofree char *name = g_strdup_printf("vfsec-bench-%u", n);
    g_autofree char *xml = bench_domain_xml(name, b->netdev, n);
    BenchTimes before;
    guint started;
    virDomainPtr dom;

    bench_times(b->rpc, b->port, b->vf, &before);
    started = bench_count(&b->ev, &b->ev.started);
    dom = virDomainCreateXML(b->conn, xml, 0);
    if (!dom)
        bench_die("start %s: %s", name, virGetLastErrorMessage());
    *event_at = bench_wait_event(&b->ev, &b->ev.started, started, &b->ev.started_at, "STARTED");
    bench_poll(b->rpc, b->port, b->vf, vf_and_macs_changed, &before, after, "MAC publication");
    return dom;
}

static void
bench_stop(BenchVf *b, virDomainPtr dom, BenchCheck check, gint64 *returned_at,
           gint64 *event_at, BenchTimes *after)
{
    BenchTimes before;
    guint stopped;

    bench_times(b->rpc, b->port, b->vf, &before);
    stopped = bench_count(&b->ev, &b->ev.stopped);
    if (virDomainDestroy(dom) < 0)
        bench_die("destroy: %s", virGetLastErrorMessage());
    *returned_at = g_get_monotonic_time();
    *event_at = bench_wait_event(&b->ev, &b->ev.stopped, stopped, &b->ev.stopped_at, "STOPPED");
    bench_poll(b->rpc, b->port, b->vf, check, &before, after, "release");
}

/* Item 3: STARTED -> MAC published, STOPPED -> VF quarantined again
 * (the VF's domain is trusted, so its tag really changes at both ends). */
static int
cmd_events(char **argv)
{
    BenchVf b = { 0 };
    guint cycles = bench_uint(argv[5], "cycles");

    bench_vf_open(&b, argv);

    printf("cycle,start_to_published_us,stop_to_quarantined_us,destroy_to_quarantined_us\n");
    for (guint i = 0; i < cycles; i++) {
        BenchTimes on, off;
        gint64 started_at, stopped_at, returned_at;
        g_autoptr(virDomain) dom = bench_start(&b, i, &started_at, &on);

        bench_stop(&b, dom, vf_and_macs_changed, &returned_at, &stopped_at, &off);
        printf("%u,%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "\n", i,
               on.macs_changed - started_at, off.vf_changed - stopped_at,
               off.vf_changed - returned_at);
    }
    bench_vf_close(&b);
    return 0;
}

/* Item 1: a domain's VF holding SAS SAs is destroyed; until the last one
 * left the agent, from the STOPPED event and from destroy returning. */
static int
cmd_reclaim(char **argv)
{
    BenchVf b = { 0 };
    guint sas = bench_uint(argv[5], "sas"), reps = bench_uint(argv[6], "reps");

    bench_vf_open(&b, argv);

    printf("sas,rep,event_to_last_sa_us,destroy_to_last_sa_us\n");
    for (guint i = 0; i < reps; i++) {
        BenchTimes on, off;
        gint64 started_at, stopped_at, returned_at;
        g_autoptr(virDomain) dom = bench_start(&b, i, &started_at, &on);
        g_autofree char *add = g_strdup_printf(
            "{\"port\":%u,\"vf\":%u,\"count\":%u,\"sa\":{\"dir\":\"in\",\"dst\":\"192.0.2.1\","
            "\"spi\":4096,\"key\":\"000102030405060708090a0b0c0d0e0f\"}}", b.port, b.vf, sas);
        g_autoptr(JsonObject) added = bench_rpc_call(b.rpc, "vf-add-sa", add);

        if (json_object_get_int_member(added, "added") != sas)
            bench_die("vf-add-sa added fewer than %u SAs", sas);
        bench_stop(&b, dom, sad_empty_and_released, &returned_at, &stopped_at, &off);
        printf("%u,%u,%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "\n", sas, i,
               off.sa_removed - stopped_at, off.sa_removed - returned_at);
        fflush(stdout);
    }
    bench_vf_close(&b);
    return 0;
}

/* Item 4: COUNT running domains, each with one VF as a PCI hostdev on the
 * emulator (VFs without netdevs), spread over PORTS x VFS; they live as long
 * as this connection (the test driver's state), until stdin closes. */
static int
cmd_scale(char **argv)
{
    g_autoptr(virConnect) conn = bench_connect(argv[0], NULL);
    guint count = bench_uint(argv[1], "count"), ports = bench_uint(argv[2], "ports");
    guint vfs = bench_uint(argv[3], "vfs"), first = bench_uint(argv[4], "first");
    gint64 t0 = g_get_monotonic_time();
    char c;

    if (count > ports * vfs)
        bench_die("%u domains need more than %u x %u VFs", count, ports, vfs);
    for (guint i = first; i < count; i++) {
        guint p = i % ports, v = i / ports;
        g_autofree char *xml = g_strdup_printf(
            "<domain type='test'><name>vfsec-scale-%u</name>"
            "<memory unit='KiB'>65536</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64'>hvm</type></os><devices>"
            "<interface type='hostdev' managed='yes'><mac address='52:54:00:5c:%02x:%02x'/>"
            "<source><address type='pci' domain='0xfe00' bus='0x%02x' slot='0x%02x'"
            " function='0x%x'/></source></interface></devices></domain>",
            i, (i >> 8) & 0xff, i & 0xff, p, 0x10 + v / 8, v % 8);
        g_autoptr(virDomain) dom = virDomainCreateXML(conn, xml, 0);

        if (!dom)
            bench_die("start vfsec-scale-%u: %s", i, virGetLastErrorMessage());
    }
    printf("started %u %" G_GINT64_FORMAT "\n", count, g_get_monotonic_time() - t0);
    fflush(stdout);
    while (read(STDIN_FILENO, &c, 1) > 0)
        ;
    return 0;
}

/* Runs @argv[0] with @argv as libvirt runs a hook (@xml on stdin, stdout
 * and stderr to /dev/null); returns exec-to-exit in µs, the exit status
 * (or -1 for a signal) in *@status. SIGPIPE must be ignored. */
static gint64
bench_spawn_timed(char **argv, const char *xml, gsize xml_len, int *status)
{
    extern char **environ;
    posix_spawn_file_actions_t fa;
    int in[2], wstatus = 0;
    pid_t pid;
    gint64 t0, t1;
    gsize off = 0;

    if (pipe2(in, O_CLOEXEC) < 0)
        bench_die("pipe: %s", g_strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    t0 = g_get_monotonic_time();
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        bench_die("cannot run %s", argv[0]);
    close(in[0]);
    while (off < xml_len) {
        ssize_t w = write(in[1], xml + off, xml_len - off);

        if (w < 0 && errno != EINTR)
            break;   /* a hook that does not read (EPIPE) is still timed */
        off += w > 0 ? (gsize)w : 0;
    }
    close(in[1]);
    if (waitpid(pid, &wstatus, 0) < 0)
        bench_die("waitpid: %s", g_strerror(errno));
    t1 = g_get_monotonic_time();
    posix_spawn_file_actions_destroy(&fa);
    *status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    return t1 - t0;
}

static char *
bench_read_xml(const char *path, gsize *len)
{
    g_autoptr(GError) error = NULL;
    char *xml = NULL;

    if (!g_file_get_contents(path, &xml, len, &error))
        bench_die("%s", error->message);
    return xml;
}

/* Item 2: HOOK run N times as libvirt runs it (argv, XML on stdin, stdout
 * and stderr to /dev/null), exec to exit. */
static int
cmd_hook(char **argv)
{
    guint n = bench_uint(argv[0], "n");
    gsize xml_len = 0;
    g_autofree char *xml = bench_read_xml(argv[1], &xml_len);

    /* A hook may exit without reading its stdin (/bin/true): EPIPE, not death. */
    signal(SIGPIPE, SIG_IGN);
    printf("run,us,status\n");
    for (guint i = 0; i < n; i++) {
        int status;
        gint64 us = bench_spawn_timed(argv + 2, xml, xml_len, &status);

        printf("%u,%" G_GINT64_FORMAT ",%d\n", i, us, status);
    }
    return 0;
}

/* Item 2, the hook over its exec floor: N pairs of FLOOR (a program that
 * does nothing, /bin/true) and HOOK, with the same arguments and stdin,
 * back to back so both see the same machine state; which one runs first
 * alternates, so neither always inherits the other's cache and scheduler
 * state. bench/run compares the percentiles of the two columns and takes
 * the per-pair differences. */
static int
cmd_hook_pair(char **argv)
{
    guint n = bench_uint(argv[0], "n");
    gsize xml_len = 0;
    g_autofree char *xml = bench_read_xml(argv[1], &xml_len);
    /* FLOOR's argv: its own path, then HOOK's arguments. */
    g_autofree char **floor_argv = g_memdup2(argv + 3, (g_strv_length(argv + 3) + 1) *
                                             sizeof(char *));

    floor_argv[0] = argv[2];
    signal(SIGPIPE, SIG_IGN);
    printf("run,hook_us,floor_us,hook_status,floor_status\n");
    for (guint i = 0; i < n; i++) {
        int hs, fs;
        gint64 hook_us, floor_us;

        if (i % 2) {
            hook_us = bench_spawn_timed(argv + 3, xml, xml_len, &hs);
            floor_us = bench_spawn_timed(floor_argv, xml, xml_len, &fs);
        } else {
            floor_us = bench_spawn_timed(floor_argv, xml, xml_len, &fs);
            hook_us = bench_spawn_timed(argv + 3, xml, xml_len, &hs);
        }
        printf("%u,%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%d,%d\n", i, hook_us, floor_us,
               hs, fs);
    }
    return 0;
}

/* Item 2, vfsecd's part alone: the "hook" request the front sends for
 * "NAME prepare begin -" of kind qemu with XMLFILE on its stdin (built by
 * the codec the front mirrors, id 1, the same timeout_ms), sent N times,
 * each over a fresh connection as the front does. Timed from before
 * connect() to the reply's last byte; the reply is checked after the clock
 * stops (the front's own parse is part of the hook's time, not vfsecd's).
 * GAP_US (default 0) paces the requests, outside the clock: back to back,
 * vfsecd never goes idle; a hook comes every few milliseconds at best, to
 * a vfsecd (and a vCPU) that has gone to sleep since the last one. */
static int
cmd_hook_rpc(char **argv)
{
    const char *sock = argv[0];
    guint n = bench_uint(argv[1], "n");
    g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(VFSEC_CTL_OP_HOOK);
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) reply = g_string_new(NULL);
    g_autofree char *line = NULL;
    gsize line_len = 0;
    guint gap_us;

    req->id = 1;
    req->hook.kind = VFSEC_HOOK_KIND_QEMU;
    req->hook.op = VFSEC_HOOK_OP_QEMU_PREPARE;
    req->hook.subop = VFSEC_HOOK_SUBOP_BEGIN;
    req->hook.name = g_strdup(argv[3]);
    req->hook.extra = g_strdup("-");
    req->hook.xml = bench_read_xml(argv[2], NULL);
    req->hook.timeout_ms = bench_uint(argv[4], "timeout_ms");
    gap_us = argv[5] ? bench_uint(argv[5], "gap_us") : 0;
    line = vfsec_ctl_request_build(req, &line_len, &error);
    if (!line)
        bench_die("hook request for %s: %s", argv[2], error->message);

    signal(SIGPIPE, SIG_IGN);
    printf("run,us\n");
    for (guint i = 0; i < n; i++) {
        gint64 t0, t1;
        int fd;
        g_autoptr(VfsecCtlReply) r = NULL;
        gsize off = 0;
        char *nl;

        if (gap_us)
            g_usleep(gap_us);
        t0 = g_get_monotonic_time();
        fd = vfsec_ctl_connect(sock, t0 + BENCH_WAIT_US);
        if (fd < 0)
            bench_die("cannot connect to %s: %s", sock, g_strerror(-fd));
        /* Blocking from here: the front polls on EAGAIN, the same wait. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
            bench_die("fcntl: %s", g_strerror(errno));
        while (off < line_len) {
            ssize_t w = send(fd, line + off, line_len - off, MSG_NOSIGNAL);

            if (w < 0 && errno != EINTR)
                bench_die("send to %s: %s", sock, g_strerror(errno));
            off += w > 0 ? (gsize)w : 0;
        }
        g_string_truncate(reply, 0);
        while (!(nl = memchr(reply->str, '\n', reply->len))) {
            char chunk[65536];
            ssize_t r_n = recv(fd, chunk, sizeof(chunk), 0);

            if (r_n < 0 && errno == EINTR)
                continue;
            if (r_n <= 0)
                bench_die("%s closed the connection before replying", sock);
            g_string_append_len(reply, chunk, r_n);
        }
        t1 = g_get_monotonic_time();
        close(fd);
        r = vfsec_ctl_reply_from_line(sock, 1, reply->str, nl - reply->str, &error);
        if (!r || !vfsec_ctl_reply_check(r, &error))
            bench_die("hook request %u for %s: %s", i, argv[3], error->message);
        printf("%u,%" G_GINT64_FORMAT "\n", i, t1 - t0);
    }
    return 0;
}

/* Item 4's floor: a bare libvirt client with its event loop and one open
 * connection, as vfsecd holds; prints "rss_kib,private_kib". */
static int
cmd_floor(char **argv)
{
    g_autoptr(virConnect) conn = bench_connect(argv[0], NULL);
    g_autofree char *text = NULL;
    guint64 rss = 0, priv = 0;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents("/proc/self/smaps_rollup", &text, NULL, NULL))
        bench_die("cannot read /proc/self/smaps_rollup");
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        guint64 v = 0;
        char key[64];

        if (sscanf(lines[i], "%63[^:]: %" G_GUINT64_FORMAT, key, &v) != 2)
            continue;
        if (g_str_equal(key, "Rss"))
            rss = v;
        else if (g_str_equal(key, "Private_Clean") || g_str_equal(key, "Private_Dirty"))
            priv += v;
    }
    printf("rss_kib,private_kib\n%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT "\n", rss, priv);
    return 0;
}

/* Item 5: vfsec's domain-XML parse, N times (callgrind divides by N). */
static int
cmd_parse(char **argv)
{
    g_autofree char *xml = NULL;
    g_autoptr(GError) error = NULL;
    guint n = bench_uint(argv[1], "n");

    if (!g_file_get_contents(argv[0], &xml, NULL, &error))
        bench_die("%s", error->message);
    for (guint i = 0; i < n; i++) {
        g_autoptr(VfsecDomain) dom = vfsec_domain_parse_string(xml, -1, &error);

        if (!dom)
            bench_die("%s: %s", argv[0], error->message);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int n_args;
    } cmds[] = {
        { "events", 6 }, { "reclaim", 7 }, { "scale", 5 }, { "hook", 3 }, { "floor", 1 },
        { "parse", 2 }, { "hook-pair", 4 }, { "hook-rpc", 5 },
    };

    for (gsize i = 0; argc > 1 && i < G_N_ELEMENTS(cmds); i++) {
        if (!g_str_equal(argv[1], cmds[i].name))
            continue;
        if (argc - 2 < cmds[i].n_args) {
            fprintf(stderr, "vfsec-bench %s: needs %d arguments (see the header of "
                    "bench/vfsec-bench.c)\n", cmds[i].name, cmds[i].n_args);
            return 2;
        }
        switch (i) {
        case 0: return cmd_events(argv + 2);
        case 1: return cmd_reclaim(argv + 2);
        case 2: return cmd_scale(argv + 2);
        case 3: return cmd_hook(argv + 2);
        case 4: return cmd_floor(argv + 2);
        case 5: return cmd_parse(argv + 2);
        case 6: return cmd_hook_pair(argv + 2);
        default: return cmd_hook_rpc(argv + 2);
        }
    }
    fprintf(stderr, "usage: vfsec-bench events|reclaim|scale|hook|hook-pair|hook-rpc|floor|parse ARGS...\n");
    return 2;
}
