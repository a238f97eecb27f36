/* test-hook.c: the real vfsec-hook binary run as libvirt runs it — argv[0] in
 * a qemu.d/ or network.d/ directory, libvirt's exact arguments, the XML on
 * stdin, a near-empty environment — against an in-test fake vfsecd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "vfsec-ctlproto.h"
#include "vfsec-test-util.h"

#define SAMPLE_VF "xml/samples/interface-hostdev.xml"
#define SAMPLE_VF_NAME "sample-interface-hostdev"
#define SAMPLE_HOSTDEV "xml/samples/hostdev-pci.xml"
#define SAMPLE_NO_VF "tests/data/domains/empty.xml"
#define SAMPLE_MALFORMED "tests/data/domains/bad/malformed.xml"
#define REFUSAL "vfsecd: VF 0000:3b:02.0 still holds 12 SAs after 2000 ms"

/* libvirt's network hook stdin for a port on an SR-IOV hostdev pool. */
static const char port_hostdev_xml[] =
    "<hookData>\n"
    "  <network connections='1'>\n"
    "    <name>sriov-pool</name>\n"
    "    <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9c</uuid>\n"
    "    <forward mode='hostdev' managed='yes'>\n"
    "      <driver name='vfio'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x2'/>\n"
    "    </forward>\n"
    "  </network>\n"
    "  <networkport>\n"
    "    <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>\n"
    "    <owner>\n"
    "      <name>vm1</name>\n"
    "      <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
    "    </owner>\n"
    "    <mac address='52:54:00:7b:35:93'/>\n"
    "    <plug type='hostdev-pci' managed='yes'>\n"
    "      <driver name='vfio'/>\n"
    "      <address domain='0x0000' bus='0x3b' slot='0x02' function='0x2'/>\n"
    "    </plug>\n"
    "  </networkport>\n"
    "</hookData>\n";

/* ... and for a tap on an ordinary bridge network: nothing for vfsec. */
static const char port_bridge_xml[] =
    "<hookData>\n"
    "  <network>\n"
    "    <name>default</name>\n"
    "    <forward mode='nat'/>\n"
    "    <bridge name='virbr0'/>\n"
    "  </network>\n"
    "  <networkport>\n"
    "    <uuid>0b6c3f1e-3a0e-4a55-9d43-0f4b2b5d1c11</uuid>\n"
    "    <owner>\n"
    "      <name>vm2</name>\n"
    "      <uuid>4a0f0e9c-1b6d-4f0e-8f61-3c2b7d9e6a10</uuid>\n"
    "    </owner>\n"
    "    <mac address='52:54:00:aa:bb:cc'/>\n"
    "    <plug type='network' bridge='virbr0'/>\n"
    "  </networkport>\n"
    "</hookData>\n";

/* Domains whose devices sysfs (tests/data/sysfs/i40e) tells apart: a NAT
 * network before libvirt chose a port, the PF itself as a plain hostdev, a
 * pool VF that <actual> names. */
#define DOMAIN_XML(name, dev) \
    "<domain type='kvm'><name>" name "</name>" \
    "<uuid>6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f</uuid><devices>" dev "</devices></domain>"
static const char domain_nat_xml[] = DOMAIN_XML("nat-vm",
    "<interface type='network'><mac address='52:54:00:01:02:03'/>"
    "<source network='default'/></interface>");
static const char domain_pf_hostdev_xml[] = DOMAIN_XML("pf-vm",
    "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
    "<address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/></source></hostdev>");
static const char domain_actual_vf_xml[] = DOMAIN_XML("pool-vm",
    "<interface type='network'><mac address='52:54:00:01:02:04'/>"
    "<source network='sriov-pool'/><actual type='hostdev' managed='yes'><source>"
    "<address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x1'/>"
    "</source></actual></interface>");

/* Malformed XML that mentions a hostdev: it could name a VF, so it is
 * judged (by vfsecd, or by the full hook when vfsecd is down). */
static const char domain_malformed_hostdev_xml[] = "<domain type='kvm'><name>"
    "sample-interface-hostdev</name><devices><hostdev mode='subsystem' type='pci'>"
    "</devices></domain>";

/* The byte prefilter's edges: none of these may take the fast exit. */
static const char domain_charref_xml[] = DOMAIN_XML("ref-vm",
    "<interface type='&#104;ostdev'><source><address type='pci' domain='0x0000' "
    "bus='0x3b' slot='0x02' function='0x1'/></source></interface>");
static const char domain_entity_xml[] =
    "<!DOCTYPE domain [<!ENTITY h \"host\">]>" DOMAIN_XML("ent-vm",
    "<interface type='&h;dev'><source><address type='pci' domain='0x0000' "
    "bus='0x3b' slot='0x02' function='0x1'/></source></interface>");
static const char domain_nul_xml[] = DOMAIN_XML("nul-vm", "<!-- a NUL: @NUL@ -->");
static const char domain_description_xml[] =
    "<domain type='kvm'><name>desc-vm</name><description>direct attach later"
    "</description><devices/></domain>";
/* ... and what may: comments, a UTF-8 declaration, predefined entities. */
static const char domain_plain_xml[] =
    "<?xml version='1.0' encoding='utf-8'?><!-- no VF here -->"
    "<domain type='kvm'><name>plain-vm</name><description>a &lt;b&gt; &amp; "
    "&quot;c&quot; &apos;d&apos;</description><devices/></domain>";
/* A declaration of another encoding is never fast. */
static const char domain_latin1_xml[] =
    "<?xml version='1.0' encoding='ISO-8859-1'?><domain type='kvm'><name>latin-vm</name>"
    "<devices/></domain>";

typedef enum {
    DAEMON_NONE,      /* no socket file at all */
    DAEMON_STALE,     /* a socket file nobody listens on */
    DAEMON_OK,
    DAEMON_REFUSE,    /* answers ok:false with REFUSAL */
    DAEMON_SILENT,    /* reads the request, never answers */
    DAEMON_CLOSE,     /* reads the request, hangs up */
    DAEMON_GARBAGE,   /* answers a line that is not JSON */
    DAEMON_WRONG_ID,  /* answers another request */
    DAEMON_OLD_REPLY, /* refuses in the envelope of earlier builds (code, message on top) */
    DAEMON_FLOOD,     /* answers a line longer than the protocol allows */
    DAEMON_ESCAPED,   /* refuses with a message full of JSON escapes, members reordered */
    /* Accepts in a line the codec refuses (the front must not take it). */
    DAEMON_NUL_NAME,  /* a member name "v\u0000" standing for "v" */
    DAEMON_ESC_NAME,  /* a member name "\u0076" (escaped "v") */
    DAEMON_NO_RESULT, /* "ok":true without "result" */
    DAEMON_BAD_NUMBER,/* a number that is not JSON */
    DAEMON_DUP_NAME,  /* a duplicate member name inside "result" */
    DAEMON_BAD_UTF8,  /* a string that is not UTF-8 */
    DAEMON_BAD_CODE,  /* refuses with a code that is not a token */
} DaemonMode;

/* The lines of the modes above, by mode. */
static const char *const daemon_bad_lines[] = {
    [DAEMON_NUL_NAME] = "{\"v\\u0000\":1,\"id\":1,\"ok\":true,\"result\":{}}\n",
    [DAEMON_ESC_NAME] = "{\"\\u0076\":1,\"id\":1,\"ok\":true,\"result\":{}}\n",
    [DAEMON_NO_RESULT] = "{\"v\":1,\"id\":1,\"ok\":true}\n",
    [DAEMON_BAD_NUMBER] = "{\"v\":1,\"id\":1,\"ok\":true,\"result\":{\"n\":1e}}\n",
    [DAEMON_DUP_NAME] = "{\"v\":1,\"id\":1,\"ok\":true,\"result\":{\"a\":1,\"a\":2}}\n",
    [DAEMON_BAD_UTF8] = "{\"v\":1,\"id\":1,\"ok\":true,\"result\":{\"a\":\"\xff\"}}\n",
    [DAEMON_BAD_CODE] = "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"No Way\","
                        "\"message\":\"vfsecd: refused\"}}\n",
};

/* DAEMON_ESCAPED's reply, and the line the hook must print for it. */
#define ESCAPED_REPLY "{ \"ok\" : false , \"error\":{\"message\":\"vfsecd: VF \\u00e9 \\\"x\\\" " \
    "\\\\ \\/ \\ud83d\\ude00\",\"code\":\"conflict\",\"more\":[1,{\"a\":null}]},\"id\":1,\"v\":1}\n"
#define ESCAPED_LINE "vfsecd: VF \u00e9 \"x\" \\ / \U0001F600\n"

typedef enum {
    INPUT_NULL,       /* /dev/null */
    INPUT_FILE,       /* a file from the source tree */
    INPUT_TEXT,       /* inline text */
    INPUT_UNREAD,     /* a pipe holding the file, checked afterwards */
    INPUT_HUGE,       /* VFSEC_DOMAIN_XML_MAX + 1 bytes */
} InputKind;

/* A fake vfsecd: one thread, one listening socket, one connection. */
typedef struct {
    DaemonMode mode;
    char *path;
    int listen_fd;
    int stop[2];              /* written by the test once the hook exited */
    GThread *thread;
    /* Results, read after the thread was joined. */
    gboolean connected;
    VfsecCtlRequest *request;
    char *request_error;
} FakeVfsecd;

/* Reads one line (without '\n') or returns NULL at EOF first. */
static char *
fake_read_line(int fd, gsize *len)
{
    GString *line = g_string_new(NULL);

    for (;;) {
        char c;
        ssize_t n = recv(fd, &c, 1, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g_string_free(line, TRUE);
            return NULL;
        }
        if (c == '\n')
            break;
        g_string_append_c(line, c);
    }
    *len = line->len;
    return g_string_free(line, FALSE);
}

static void
fake_send(int fd, const char *text)
{
    gsize len = strlen(text);

    g_assert_cmpint(send(fd, text, len, MSG_NOSIGNAL), ==, (ssize_t)len);
}

static void
fake_answer(FakeVfsecd *fake, int fd)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecCtlReply) reply = NULL;
    g_autofree char *line = NULL;
    char c;

    switch (fake->mode) {
    case DAEMON_OK:
        reply = vfsec_ctl_reply_new_ok(fake->request->id, NULL);
        break;
    case DAEMON_REFUSE: {
        g_autoptr(GError) why = g_error_new_literal(VFSEC_ERROR, VFSEC_ERROR_CONFLICT, REFUSAL);

        reply = vfsec_ctl_reply_new_error(fake->request->id, why);
        break;
    }
    case DAEMON_WRONG_ID:
        reply = vfsec_ctl_reply_new_ok(fake->request->id + 1, NULL);
        break;
    case DAEMON_GARBAGE:
        fake_send(fd, "Hello from vfsecd\n");
        return;
    case DAEMON_OLD_REPLY: {
        g_autofree char *old = g_strdup_printf("{\"v\":1,\"id\":%" G_GUINT64_FORMAT ",\"ok\":false,"
                                               "\"code\":\"conflict\",\"message\":\"%s\",\"result\":{}}\n",
                                               fake->request->id, REFUSAL);

        fake_send(fd, old);
        return;
    }
    case DAEMON_FLOOD: {
        g_autofree char *chunk = g_strnfill(1024 * 1024, 'x');
        gsize sent = 0;

        /* Until one byte over the bound, or until the hook hangs up. */
        while (sent <= VFSEC_CTL_MAX_LINE) {
            ssize_t n = send(fd, chunk, MIN(1024 * 1024, VFSEC_CTL_MAX_LINE + 1 - sent),
                             MSG_NOSIGNAL);

            if (n <= 0)
                break;
            sent += (gsize)n;
        }
        return;
    }
    case DAEMON_ESCAPED:
        fake_send(fd, ESCAPED_REPLY);
        return;
    case DAEMON_NUL_NAME:
    case DAEMON_ESC_NAME:
    case DAEMON_NO_RESULT:
    case DAEMON_BAD_NUMBER:
    case DAEMON_DUP_NAME:
    case DAEMON_BAD_UTF8:
    case DAEMON_BAD_CODE:
        fake_send(fd, daemon_bad_lines[fake->mode]);
        return;
    case DAEMON_SILENT:
        /* Until the hook gives up and its end of the socket closes. */
        while (recv(fd, &c, 1, 0) > 0)
            ;
        return;
    default:
        return;
    }
    line = vfsec_ctl_reply_build(reply, NULL, &error);
    g_assert_no_error(error);
    fake_send(fd, line);
}

static gpointer
fake_thread(gpointer data)
{
    FakeVfsecd *fake = data;
    struct pollfd pfd[2] = {
        { .fd = fake->listen_fd, .events = POLLIN },
        { .fd = fake->stop[0], .events = POLLIN },
    };
    g_autofree char *line = NULL;
    g_autoptr(GError) error = NULL;
    gsize len = 0;
    int fd;

    while (poll(pfd, 2, -1) < 0)
        g_assert_cmpint(errno, ==, EINTR);
    if (!(pfd[0].revents & POLLIN))
        return NULL;  /* stopped: the hook never connected */
    fd = accept4(fake->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    fake->connected = TRUE;
    line = fake_read_line(fd, &len);
    if (line) {
        fake->request = vfsec_ctl_request_parse(line, len, NULL, &error);
        if (error)
            fake->request_error = g_strdup(error->message);
    }
    if (fake->request)
        fake_answer(fake, fd);
    close(fd);
    return NULL;
}

static FakeVfsecd *
fake_start(DaemonMode mode, const char *dir)
{
    FakeVfsecd *fake = g_new0(FakeVfsecd, 1);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    fake->mode = mode;
    fake->path = g_build_filename(dir, "vfsecd.sock", NULL);
    fake->listen_fd = -1;
    fake->stop[0] = fake->stop[1] = -1;
    if (mode == DAEMON_NONE)
        return fake;
    g_assert_cmpuint(strlen(fake->path), <, sizeof(addr.sun_path));
    g_strlcpy(addr.sun_path, fake->path, sizeof(addr.sun_path));
    fake->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fake->listen_fd, >=, 0);
    g_assert_cmpint(bind(fake->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    if (mode == DAEMON_STALE)
        return fake;
    g_assert_cmpint(listen(fake->listen_fd, 4), ==, 0);
    g_assert_cmpint(pipe2(fake->stop, O_CLOEXEC), ==, 0);
    fake->thread = g_thread_new("fake-vfsecd", fake_thread, fake);
    return fake;
}

/* Stops the fake (the hook has exited by now) and keeps its results. */
static void
fake_stop(FakeVfsecd *fake)
{
    if (fake->thread) {
        g_assert_cmpint(write(fake->stop[1], "x", 1), ==, 1);
        g_thread_join(fake->thread);
        fake->thread = NULL;
    }
}

static void
fake_free(FakeVfsecd *fake)
{
    fake_stop(fake);
    if (fake->listen_fd >= 0) {
        close(fake->listen_fd);
        g_unlink(fake->path);
    }
    if (fake->stop[0] >= 0) {
        close(fake->stop[0]);
        close(fake->stop[1]);
    }
    vfsec_ctl_request_free(fake->request);
    g_free(fake->request_error);
    g_free(fake->path);
    g_free(fake);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeVfsecd, fake_free)

typedef struct {
    const char *name;
    const char *dir;            /* "qemu.d", "network.d", "elsewhere"; NULL: the binary */
    const char *args[8];        /* after argv[0]; the last four are libvirt's */
    InputKind input;
    const char *source;         /* INPUT_FILE/UNREAD: path in the source tree; TEXT: text */
    DaemonMode daemon;
    const char *env[3];         /* extra NAME=value */
    int status;
    const char *err;            /* exact stderr, @SOCK@ = the socket path; NULL: empty */
    const char *err_has;        /* instead: one line holding this */
    gboolean forwarded;         /* the fake received a valid request */
    gboolean xml_dropped;       /* ... whose xml is "" (unusable XML) */
} HookCase;

#define NOT_REACHABLE "vfsec: vfsecd is not reachable at @SOCK@: "
#define WARN_NOT_REACHABLE "vfsec: warning: vfsecd is not reachable at @SOCK@: "
#define REFUSE_VF "; refusing to start " SAMPLE_VF_NAME " with SR-IOV VFs\n"

static const HookCase hook_cases[] = {
    /* vfsecd answers ok: every forwarded op, with libvirt's exact argv. */
    { "ok/prepare", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "ok/start", "qemu.d", { SAMPLE_VF_NAME, "start", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "ok/started", "qemu.d", { "sample-hostdev-pci", "started", "begin", "-" }, INPUT_FILE,
      SAMPLE_HOSTDEV, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "ok/stopped", "qemu.d", { SAMPLE_VF_NAME, "stopped", "end", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "ok/release-11.3", "qemu.d", { SAMPLE_VF_NAME, "release", "end", "destroyed" },
      INPUT_FILE, SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "ok/reconnect", "qemu.d", { SAMPLE_VF_NAME, "reconnect", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "ok/port-created", "network.d", { "sriov-pool", "port-created", "begin", "-" },
      INPUT_TEXT, port_hostdev_xml, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "ok/port-deleted", "network.d", { "sriov-pool", "port-deleted", "begin", "-" },
      INPUT_TEXT, port_hostdev_xml, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "ok/kind-option", NULL, { "--kind", "qemu", "--socket=@SOCK@", SAMPLE_VF_NAME, "prepare",
      "begin", "-" }, INPUT_FILE, SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, TRUE },

    /* vfsecd refuses: its sentence is the one line virsh shows. */
    { "refuse/prepare", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_REFUSE, {}, 1, REFUSAL "\n", NULL, TRUE },
    { "refuse/port-created", "network.d", { "sriov-pool", "port-created", "begin", "-" },
      INPUT_TEXT, port_hostdev_xml, DAEMON_REFUSE, {}, 1, REFUSAL "\n", NULL, TRUE },
    { "refuse/release", "qemu.d", { SAMPLE_VF_NAME, "release", "end", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_REFUSE, {}, 0, REFUSAL "\n", NULL, TRUE },

    /* vfsecd never answers: the bounded wait, then fail closed. */
    { "silent/prepare", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_SILENT, { "VFSEC_HOOK_TIMEOUT_MS=300" }, 1,
      "vfsec: vfsecd at @SOCK@ did not answer within 300 ms" REFUSE_VF, NULL, TRUE },
    { "silent/stopped", "qemu.d", { SAMPLE_VF_NAME, "stopped", "end", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_SILENT, { "VFSEC_HOOK_TIMEOUT_MS=300" }, 0,
      "vfsec: warning: vfsecd at @SOCK@ did not answer within 300 ms; stopped of domain "
      SAMPLE_VF_NAME " left to vfsecd's reconcile\n", NULL, TRUE },
    { "silent/option-wins", "qemu.d", { "--timeout-ms", "200", SAMPLE_VF_NAME, "prepare",
      "begin", "-" }, INPUT_FILE, SAMPLE_VF, DAEMON_SILENT, { "VFSEC_HOOK_TIMEOUT_MS=60000" },
      1, "vfsec: vfsecd at @SOCK@ did not answer within 200 ms" REFUSE_VF, NULL, TRUE },

    /* vfsecd breaks the protocol: fail closed, saying how. */
    { "broken/close", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_CLOSE, {}, 1, "vfsec: vfsecd at @SOCK@ closed the connection without "
      "answering control request 1" REFUSE_VF, NULL, TRUE },
    { "broken/garbage", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_GARBAGE, {}, 1, NULL, "control reply is not a valid JSON object", TRUE },
    { "broken/old-reply", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OLD_REPLY, {}, 1, "vfsec: vfsecd at @SOCK@: control reply: error is "
      "missing" REFUSE_VF, NULL, TRUE },
    { "broken/wrong-id", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_WRONG_ID, {}, 1, "vfsec: vfsecd at @SOCK@ answered control request 1 "
      "with id 2" REFUSE_VF, NULL, TRUE },
    { "broken/flood", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_FLOOD, {}, 1, "vfsec: vfsecd at @SOCK@ sent a line longer than "
      "34603008 bytes" REFUSE_VF, NULL, TRUE },

    /* No vfsecd. */
    { "down/no-vf", "qemu.d", { "empty", "prepare", "begin", "-" }, INPUT_FILE, SAMPLE_NO_VF,
      DAEMON_NONE, {}, 0, NULL, NULL, FALSE },
    { "down/prepare", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_NONE, {}, 1, NOT_REACHABLE "No such file or directory" REFUSE_VF,
      NULL, FALSE },
    { "down/stale-socket", "qemu.d", { SAMPLE_VF_NAME, "start", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_STALE, {}, 1, NOT_REACHABLE "Connection refused" REFUSE_VF, NULL,
      FALSE },
    { "down/fail-open", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_NONE, { "VFSEC_HOOK_FAIL_OPEN=1" }, 0, WARN_NOT_REACHABLE
      "No such file or directory; starting " SAMPLE_VF_NAME " without vfsec (fail-open)\n",
      NULL, FALSE },
    { "down/release", "qemu.d", { SAMPLE_VF_NAME, "release", "end", "destroyed" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_NONE, {}, 0, WARN_NOT_REACHABLE "No such file or directory; release "
      "of domain " SAMPLE_VF_NAME " left to vfsecd's reconcile\n", NULL, FALSE },
    { "down/reconnect", "qemu.d", { SAMPLE_VF_NAME, "reconnect", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_NONE, {}, 0, NULL, "warning: vfsecd is not reachable", FALSE },
    { "down/port-created", "network.d", { "sriov-pool", "port-created", "begin", "-" },
      INPUT_TEXT, port_hostdev_xml, DAEMON_NONE, {}, 1, NOT_REACHABLE "No such file or "
      "directory; refusing to plug vm1 into SR-IOV network sriov-pool\n", NULL, FALSE },
    /* Without vfsecd, only what sysfs shows to be a VF refuses a start. */
    { "down/nat-network", "qemu.d", { "nat-vm", "prepare", "begin", "-" }, INPUT_TEXT,
      domain_nat_xml, DAEMON_NONE, {}, 0, NULL, NULL, FALSE },
    { "down/not-a-vf", "qemu.d", { "pf-vm", "start", "begin", "-" }, INPUT_TEXT,
      domain_pf_hostdev_xml, DAEMON_NONE, {}, 0, NULL, NULL, FALSE },
    { "down/actual-vf", "qemu.d", { "pool-vm", "start", "begin", "-" }, INPUT_TEXT,
      domain_actual_vf_xml, DAEMON_NONE, {}, 1, NOT_REACHABLE "No such file or directory; "
      "refusing to start pool-vm with SR-IOV VFs\n", NULL, FALSE },
    { "down/port-deleted", "network.d", { "sriov-pool", "port-deleted", "begin", "-" },
      INPUT_TEXT, port_hostdev_xml, DAEMON_NONE, {}, 0, NULL, "warning: vfsecd is not", FALSE },

    /* Nothing for vfsec: passes without asking, even with vfsecd up. */
    { "pass/no-vf", "qemu.d", { "empty", "start", "begin", "-" }, INPUT_FILE, SAMPLE_NO_VF,
      DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "pass/nat-network", "qemu.d", { "nat-vm", "start", "begin", "-" }, INPUT_TEXT,
      domain_nat_xml, DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "pass/bridge-port", "network.d", { "default", "port-created", "begin", "-" }, INPUT_TEXT,
      port_bridge_xml, DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "pass/migrate", "qemu.d", { SAMPLE_VF_NAME, "migrate", "begin", "-" }, INPUT_UNREAD,
      SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "pass/restore", "qemu.d", { SAMPLE_VF_NAME, "restore", "begin", "-" }, INPUT_UNREAD,
      SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "pass/network-start", "network.d", { "sriov-pool", "start", "begin", "-" },
      INPUT_UNREAD, SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "pass/network-updated", "network.d", { "sriov-pool", "updated", "begin", "-" },
      INPUT_UNREAD, SAMPLE_VF, DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    /* A domain named like an option is still a name. */
    { "pass/named-help", "qemu.d", { "--help", "migrate", "begin", "-" }, INPUT_UNREAD,
      SAMPLE_VF, DAEMON_NONE, {}, 0, NULL, NULL, FALSE },

    /* Bad XML that could name a VF: vfsecd judges it (the fake says ok;
     * tests/daemon/test-vfsecd-hook.c has vfsecd's refusals), or, when
     * vfsecd is down, the full hook refuses a start. */
    { "xml/malformed-prepare", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_TEXT, domain_malformed_hostdev_xml, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "xml/malformed-prepare-down", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_TEXT, domain_malformed_hostdev_xml, DAEMON_NONE, {}, 1, NULL, "malformed XML",
      FALSE },
    { "xml/malformed-release", "qemu.d", { SAMPLE_VF_NAME, "release", "end", "-" },
      INPUT_TEXT, domain_malformed_hostdev_xml, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "xml/malformed-release-down", "qemu.d", { SAMPLE_VF_NAME, "release", "end", "-" },
      INPUT_TEXT, domain_malformed_hostdev_xml, DAEMON_NONE, {}, 0, NULL,
      "warning: vfsecd is not reachable", FALSE },
    { "xml/other-domain", "qemu.d", { "vm9", "prepare", "begin", "-" }, INPUT_FILE, SAMPLE_VF,
      DAEMON_NONE, {}, 1, "vfsec: domain vm9: the XML on stdin describes domain " SAMPLE_VF_NAME
      "; refusing to start vm9\n", NULL, FALSE },
    { "xml/other-network", "network.d", { "pool2", "port-created", "begin", "-" }, INPUT_TEXT,
      port_hostdev_xml, DAEMON_NONE, {}, 1, NULL, "describes network sriov-pool", FALSE },
    { "xml/too-large", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_HUGE,
      NULL, DAEMON_OK, {}, 1, NULL, "larger than 16777216 bytes", FALSE },
    { "xml/too-large-release", "qemu.d", { SAMPLE_VF_NAME, "release", "end", "-" }, INPUT_HUGE,
      NULL, DAEMON_OK, {}, 0, NULL, NULL, TRUE, TRUE },
    /* XML that cannot name a VF passes unjudged, even malformed or empty
     * (docs/hook-contract.md, "The byte prefilter"). */
    { "xml/malformed-no-vf", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_FILE, SAMPLE_MALFORMED, DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "xml/empty-start", "qemu.d", { SAMPLE_VF_NAME, "start", "begin", "-" }, INPUT_NULL, NULL,
      DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "xml/other-domain-no-vf", "qemu.d", { "vm9", "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_NO_VF, DAEMON_OK, {}, 0, NULL, NULL, FALSE },

    /* The prefilter's edges. */
    { "prefilter/plain", "qemu.d", { "plain-vm", "prepare", "begin", "-" }, INPUT_TEXT,
      domain_plain_xml, DAEMON_OK, {}, 0, NULL, NULL, FALSE },
    { "prefilter/char-ref", "qemu.d", { "ref-vm", "prepare", "begin", "-" }, INPUT_TEXT,
      domain_charref_xml, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "prefilter/char-ref-down", "qemu.d", { "ref-vm", "prepare", "begin", "-" }, INPUT_TEXT,
      domain_charref_xml, DAEMON_NONE, {}, 1, NOT_REACHABLE "No such file or directory; "
      "refusing to start ref-vm with SR-IOV VFs\n", NULL, FALSE },
    { "prefilter/entity", "qemu.d", { "ent-vm", "prepare", "begin", "-" }, INPUT_TEXT,
      domain_entity_xml, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "prefilter/nul", "qemu.d", { "nul-vm", "prepare", "begin", "-" }, INPUT_TEXT,
      domain_nul_xml, DAEMON_OK, {}, 1, NULL, "refusing to start nul-vm", FALSE },
    { "prefilter/description", "qemu.d", { "desc-vm", "prepare", "begin", "-" }, INPUT_TEXT,
      domain_description_xml, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    { "prefilter/latin1", "qemu.d", { "latin-vm", "prepare", "begin", "-" }, INPUT_TEXT,
      domain_latin1_xml, DAEMON_OK, {}, 0, NULL, NULL, TRUE },
    /* No candidate by parse: passes while vfsecd is wedged (the full hook
     * parses it after the front's wait). */
    { "prefilter/description-wedged", "qemu.d", { "desc-vm", "prepare", "begin", "-" },
      INPUT_TEXT, domain_description_xml, DAEMON_SILENT, { "VFSEC_HOOK_TIMEOUT_MS=300" }, 0,
      NULL, NULL, TRUE },
    { "prefilter/no-vf-wedged", "qemu.d", { "empty", "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_NO_VF, DAEMON_SILENT, {}, 0, NULL, NULL, FALSE },

    /* The front's own reply reader and options. */
    { "front/escaped-refusal", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_FILE, SAMPLE_VF, DAEMON_ESCAPED, {}, 1, ESCAPED_LINE, NULL, TRUE },
    /* Lines the codec refuses: the front hands them to the full hook, which
     * fails closed saying what is wrong, instead of taking them as "ok". */
    { "front/nul-member-name", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_FILE, SAMPLE_VF, DAEMON_NUL_NAME, {}, 1, NULL, "control reply", TRUE },
    { "front/escaped-member-name", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_FILE, SAMPLE_VF, DAEMON_ESC_NAME, {}, 1, NULL, "control reply", TRUE },
    { "front/no-result", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_FILE, SAMPLE_VF, DAEMON_NO_RESULT, {}, 1, NULL, "control reply", TRUE },
    { "front/bad-number", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_FILE, SAMPLE_VF, DAEMON_BAD_NUMBER, {}, 1, NULL, "control reply", TRUE },
    { "front/duplicate-member", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_FILE, SAMPLE_VF, DAEMON_DUP_NAME, {}, 1, NULL, "control reply", TRUE },
    { "front/bad-utf8", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_FILE, SAMPLE_VF, DAEMON_BAD_UTF8, {}, 1, NULL, "control reply", TRUE },
    { "front/bad-code", "qemu.d", { SAMPLE_VF_NAME, "release", "end", "-" },
      INPUT_FILE, SAMPLE_VF, DAEMON_BAD_CODE, {}, 0, NULL, "control reply", TRUE },
    { "front/options", NULL, { "--kind=qemu", "--socket=@SOCK@", "--timeout-ms=4321",
      SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_FILE, SAMPLE_VF, DAEMON_OK, {}, 0,
      NULL, NULL, TRUE },
    { "front/options-spaced", NULL, { "--socket", "@SOCK@", "--kind", "network", "sriov-pool",
      "port-created", "begin", "-" }, INPUT_TEXT, port_hostdev_xml, DAEMON_OK, {}, 0, NULL,
      NULL, TRUE },
    { "front/socket-option-wins", "qemu.d", { "--socket=@SOCK@", SAMPLE_VF_NAME, "prepare",
      "begin", "-" }, INPUT_FILE, SAMPLE_VF, DAEMON_OK,
      { "VFSEC_CONTROL_SOCKET=/nonexistent/vfsecd.sock" }, 0, NULL, NULL, TRUE },
    /* Options only the full hook takes. */
    { "front/fail-open-option", "qemu.d", { "--fail-open", SAMPLE_VF_NAME, "prepare", "begin",
      "-" }, INPUT_FILE, SAMPLE_VF, DAEMON_NONE, {}, 0, WARN_NOT_REACHABLE
      "No such file or directory; starting " SAMPLE_VF_NAME " without vfsec (fail-open)\n",
      NULL, FALSE },
    { "front/sysfs-root-option", "qemu.d", { "--sysfs-root=/nonexistent", "pf-vm", "start",
      "begin", "-" }, INPUT_TEXT, domain_pf_hostdev_xml, DAEMON_NONE, {}, 0, NULL, NULL,
      FALSE },
    { "front/hex-timeout", "qemu.d", { "--timeout-ms=0x12c", SAMPLE_VF_NAME, "prepare",
      "begin", "-" }, INPUT_FILE, SAMPLE_VF, DAEMON_SILENT, {}, 1,
      "vfsec: vfsecd at @SOCK@ did not answer within 300 ms" REFUSE_VF, NULL, TRUE },
    { "front/internal-option", "qemu.d", { "--front-outcome=bogus", SAMPLE_VF_NAME, "prepare",
      "begin", "-" }, INPUT_FILE, SAMPLE_VF, DAEMON_OK, {}, 2, NULL,
      "--front-outcome=bogus is not one vfsec-hook sends", FALSE },

    /* The front's kept reply cannot be read (fd 99 is not open): a failed
     * call, so a release goes on with a warning instead of a usage error. */
    { "front/reply-unreadable", "qemu.d", { "--front-outcome=reply:99", SAMPLE_VF_NAME,
      "release", "end", "-" }, INPUT_FILE, SAMPLE_VF, DAEMON_OK, {}, 0, NULL,
      "cannot read the answer of vfsecd", FALSE },

    /* Garbage argv. */
    { "argv/none", "qemu.d", {}, INPUT_NULL, NULL, DAEMON_OK, {}, 2, NULL,
      "expected NAME OP SUBOP EXTRA, got 0 arguments", FALSE },
    { "argv/three", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin" }, INPUT_NULL, NULL,
      DAEMON_OK, {}, 2, NULL, "got 3 arguments", FALSE },
    { "argv/unknown-op", "qemu.d", { SAMPLE_VF_NAME, "explode", "begin", "-" }, INPUT_NULL,
      NULL, DAEMON_OK, {}, 0, NULL, "qemu hook operation 'explode' is not one vfsec handles; ignored", FALSE },
    { "argv/network-op-on-qemu", "qemu.d", { SAMPLE_VF_NAME, "port-created", "begin", "-" },
      INPUT_NULL, NULL, DAEMON_OK, {}, 0, NULL, "qemu hook operation 'port-created' is not one vfsec handles", FALSE },
    { "argv/unknown-subop", "qemu.d", { SAMPLE_VF_NAME, "prepare", "now", "-" }, INPUT_NULL,
      NULL, DAEMON_OK, {}, 0, NULL, "hook sub-operation 'now' (not -, begin or end) is not one vfsec handles", FALSE },
    { "argv/slash", "qemu.d", { "../etc", "prepare", "begin", "-" }, INPUT_FILE, SAMPLE_VF,
      DAEMON_OK, {}, 2, "vfsec: domain name '../etc' contains '/'; refusing this qemu "
      "prepare call\n", NULL, FALSE },
    { "argv/newline", "qemu.d", { "vm\nrm -rf", "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 2, NULL, "domain name holds control character 0x0a", FALSE },
    { "argv/escape", "network.d", { "net\x1b[2J", "port-created", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 2, NULL, "network name holds control character 0x1b", FALSE },
    { "argv/extra", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "a\tb" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 2, NULL, "EXTRA holds control character 0x09", FALSE },
    { "argv/bad-name-on-stop", "qemu.d", { "a/b", "stopped", "end", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 0, NULL, "warning: domain name 'a/b' contains '/'", FALSE },
    { "argv/absurd-length", "qemu.d", { "@LONG@", "prepare", "begin", "-" }, INPUT_FILE,
      SAMPLE_VF, DAEMON_OK, {}, 2, NULL, "domain name is 100000 bytes, more than 255", FALSE },
    { "argv/unknown-option", "qemu.d", { "--frob", SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_NULL, NULL, DAEMON_OK, {}, 2, NULL, "unknown option '--frob'", FALSE },
    { "argv/stray", "qemu.d", { "x", SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_NULL,
      NULL, DAEMON_OK, {}, 2, NULL, "unexpected argument 'x'", FALSE },
    { "argv/bad-kind", "qemu.d", { "--kind=lxc", SAMPLE_VF_NAME, "prepare", "begin", "-" },
      INPUT_NULL, NULL, DAEMON_OK, {}, 2, NULL, "--kind needs qemu or network", FALSE },
    { "argv/no-kind", "elsewhere", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_NULL,
      NULL, DAEMON_OK, {}, 2, NULL, "cannot tell the hook kind from", FALSE },
    { "argv/bad-timeout", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_NULL,
      NULL, DAEMON_OK, { "VFSEC_HOOK_TIMEOUT_MS=0" }, 2, NULL,
      "VFSEC_HOOK_TIMEOUT_MS is '0', not a number of milliseconds from 1 to 600000", FALSE },
    { "argv/bad-fail-open", "qemu.d", { SAMPLE_VF_NAME, "prepare", "begin", "-" }, INPUT_NULL,
      NULL, DAEMON_OK, { "VFSEC_HOOK_FAIL_OPEN=maybe" }, 2, NULL,
      "VFSEC_HOOK_FAIL_OPEN is 'maybe', not 1/yes/true/on", FALSE },
    { "argv/help-with-args", "qemu.d", { "--help", "a", "prepare", "begin", "-" }, INPUT_NULL,
      NULL, DAEMON_OK, {}, 2, NULL, "'--help' takes no other argument", FALSE },
};

typedef struct {
    char *dir;                  /* per test, removed at the end */
    GPtrArray *cleanup;         /* files to unlink, in order */
} Sandbox;

static void
sandbox_free(Sandbox *box)
{
    for (guint i = 0; i < box->cleanup->len; i++)
        g_remove(g_ptr_array_index(box->cleanup, i));
    g_ptr_array_unref(box->cleanup);
    g_rmdir(box->dir);
    g_free(box->dir);
    g_free(box);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Sandbox, sandbox_free)

static Sandbox *
sandbox_new(void)
{
    g_autoptr(GError) error = NULL;
    Sandbox *box = g_new0(Sandbox, 1);

    box->dir = g_dir_make_tmp("vfsec-hook-XXXXXX", &error);
    g_assert_no_error(error);
    box->cleanup = g_ptr_array_new_with_free_func(g_free);
    return box;
}

/* @dir/@name in the sandbox, removed with it (add children before parents). */
static char *
sandbox_path(Sandbox *box, const char *name)
{
    char *path = g_build_filename(box->dir, name, NULL);

    g_ptr_array_insert(box->cleanup, 0, g_strdup(path));
    return path;
}

/* argv[0]: a symlink to the hook in @dir, as the install does. */
static char *
sandbox_hook(Sandbox *box, const char *dir)
{
    const char *hook = vfsec_test_env("VFSEC_HOOK");
    g_autofree char *d = NULL;
    g_autofree char *rel = NULL;
    char *link;

    if (!dir)
        return g_strdup(hook);
    d = sandbox_path(box, dir);
    g_assert_cmpint(g_mkdir(d, 0700), ==, 0);
    rel = g_build_filename(dir, "vfsec", NULL);
    link = sandbox_path(box, rel);
    g_assert_cmpint(symlink(hook, link), ==, 0);
    return link;
}

static char *
source_file(const char *rel, gsize *len)
{
    g_autofree char *path = g_build_filename(vfsec_test_env("VFSEC_SOURCE_DIR"), rel, NULL);
    g_autoptr(GError) error = NULL;
    char *text = NULL;

    g_file_get_contents(path, &text, len, &error);
    g_assert_no_error(error);
    return text;
}

/* libvirt's environment for hooks: LC_ALL=C plus PATH and a few more
 * (vircommand.c virCommandAddEnvPassCommon); sanitizer options pass too. */
static GStrv
hook_environ(const HookCase *c, const char *socket_path)
{
    static const char *const pass[] = {
        "PATH", "HOME", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
    };
    GStrv env = g_environ_setenv(NULL, "LC_ALL", "C", TRUE);
    g_autofree char *sysfs_root = g_build_filename(vfsec_test_env("VFSEC_TEST_DATA"), "sysfs",
                                                   "i40e", NULL);

    for (guint i = 0; i < G_N_ELEMENTS(pass); i++)
        if (g_getenv(pass[i]))
            env = g_environ_setenv(env, pass[i], g_getenv(pass[i]), TRUE);
    /* A case with its own vfsecd.conf takes the socket from there. */
    if (!(c->env[0] && g_str_has_prefix(c->env[0], "VFSEC_CONFIG=")))
        env = g_environ_setenv(env, "VFSEC_CONTROL_SOCKET", socket_path, TRUE);
    /* The samples' VFs (0000:3b:02.x) are VFs of this tree's ens1f0. */
    env = g_environ_setenv(env, "VFSEC_SYSFS_ROOT", sysfs_root, TRUE);
    for (guint i = 0; i < G_N_ELEMENTS(c->env) && c->env[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(c->env[i], "=", 2);

        env = g_environ_setenv(env, kv[0], kv[1], TRUE);
    }
    return env;
}

typedef struct {
    int status;
    char *out;
    gsize out_len;
    char *err;
    gint64 elapsed_us;
} HookResult;

static void
hook_result_clear(HookResult *r)
{
    g_free(r->out);
    g_free(r->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HookResult, hook_result_clear)

/* Gives the hook its stdin as the case says; returns the fd to read back
 * for INPUT_UNREAD, else -1. */
static int
hook_stdin(GSubprocessLauncher *launcher, Sandbox *box, const HookCase *c)
{
    g_autofree char *text = NULL;
    g_autofree char *path = NULL;
    gsize len = 0;
    int fds[2];
    int keep;

    switch (c->input) {
    case INPUT_NULL:
        g_subprocess_launcher_set_stdin_file_path(launcher, "/dev/null");
        return -1;
    case INPUT_HUGE:
        len = VFSEC_DOMAIN_XML_MAX + 1;
        text = g_malloc(len);
        memset(text, ' ', len);
        memcpy(text, "<domain>", 8);
        break;
    case INPUT_TEXT:
        text = g_strdup(c->source);
        len = strlen(text);
        if (strstr(text, "@NUL@"))
            memset(strstr(text, "@NUL@"), '\0', 5);
        break;
    case INPUT_FILE:
    case INPUT_UNREAD:
        text = source_file(c->source, &len);
        break;
    }
    if (c->input != INPUT_UNREAD) {
        g_autoptr(GError) error = NULL;

        path = sandbox_path(box, "stdin.xml");
        g_file_set_contents(path, text, (gssize)len, &error);
        g_assert_no_error(error);
        g_subprocess_launcher_set_stdin_file_path(launcher, path);
        return -1;
    }
    /* A pipe already holding the whole XML: whatever the hook leaves in it
     * is still there when it exits. */
    g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
    g_assert_cmpuint(len, <, 65536);
    g_assert_cmpint(write(fds[1], text, len), ==, (ssize_t)len);
    close(fds[1]);
    keep = fcntl(fds[0], F_DUPFD_CLOEXEC, 3);
    g_subprocess_launcher_take_stdin_fd(launcher, fds[0]);
    return keep;
}

static void
run_hook(Sandbox *box, const HookCase *c, const char *socket_path, HookResult *res)
{
    /* Close to the kernel's limit for one argument (128 KiB). */
    char long_name[100001];
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) env = hook_environ(c, socket_path);
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GBytes) out = NULL;
    g_autoptr(GBytes) err = NULL;
    g_autoptr(GError) error = NULL;
    int unread;
    gint64 start;

    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    g_ptr_array_add(argv, sandbox_hook(box, c->dir));
    for (guint i = 0; i < G_N_ELEMENTS(c->args) && c->args[i]; i++) {
        g_autoptr(GString) arg = g_string_new(c->args[i]);

        g_string_replace(arg, "@SOCK@", socket_path, 0);
        if (g_str_equal(arg->str, "@LONG@")) {
            g_string_truncate(arg, 0);
            g_string_append_len(arg, long_name, sizeof(long_name) - 1);
        }
        g_ptr_array_add(argv, g_string_free(g_steal_pointer(&arg), FALSE));
    }
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_set_environ(launcher, env);
    unread = hook_stdin(launcher, box, c);

    start = g_get_monotonic_time();
    proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_subprocess_communicate(proc, NULL, NULL, &out, &err, &error);
    g_assert_no_error(error);
    res->elapsed_us = g_get_monotonic_time() - start;
    g_assert_true(g_subprocess_get_if_exited(proc));
    res->status = g_subprocess_get_exit_status(proc);
    res->out_len = g_bytes_get_size(out);
    res->out = g_strndup(res->out_len ? g_bytes_get_data(out, NULL) : "", res->out_len);
    res->err = g_strndup(g_bytes_get_size(err) ? g_bytes_get_data(err, NULL) : "",
                         g_bytes_get_size(err));

    if (unread >= 0) {
        g_autofree char *expected = source_file(c->source, NULL);
        g_autoptr(GString) left = g_string_new(NULL);
        char buf[4096];
        ssize_t n;

        while ((n = read(unread, buf, sizeof(buf))) > 0)
            g_string_append_len(left, buf, n);
        close(unread);
        g_assert_cmpstr(left->str, ==, expected);
    }
}

/* The hook kind a case runs as: --kind, else its directory. */
static const char *
case_kind(const HookCase *c)
{
    for (guint i = 0; i + 1 < G_N_ELEMENTS(c->args) && c->args[i]; i++) {
        if (g_str_equal(c->args[i], "--kind"))
            return c->args[i + 1];
        if (g_str_has_prefix(c->args[i], "--kind="))
            return c->args[i] + 7;
    }
    return g_str_equal(c->dir ? c->dir : "qemu.d", "network.d") ? "network" : "qemu";
}

/* The request must carry libvirt's argv and stdin unchanged. */
static void
check_request(const HookCase *c, const FakeVfsecd *fake, guint timeout_ms)
{
    guint n = 0;
    const char *const *pos;
    const VfsecCtlHookArgs *h;

    g_assert_null(fake->request_error);
    g_assert_nonnull(fake->request);
    g_assert_cmpint(fake->request->op, ==, VFSEC_CTL_OP_HOOK);
    h = &fake->request->hook;
    while (n < G_N_ELEMENTS(c->args) && c->args[n])
        n++;
    pos = c->args + n - 4;
    g_assert_cmpstr(vfsec_hook_kind_to_string(h->kind), ==, case_kind(c));
    g_assert_cmpstr(h->name, ==, pos[0]);
    g_assert_cmpstr(vfsec_hook_op_to_string(h->op), ==, pos[1]);
    g_assert_cmpstr(vfsec_hook_subop_to_string(h->subop), ==, pos[2]);
    g_assert_cmpstr(h->extra, ==, pos[3]);
    g_assert_cmpuint(h->timeout_ms, ==, timeout_ms);
    if (c->xml_dropped) {
        g_assert_cmpstr(h->xml, ==, "");
    } else if (c->input == INPUT_TEXT) {
        g_assert_cmpstr(h->xml, ==, c->source);
    } else {
        g_autofree char *expected = source_file(c->source, NULL);

        g_assert_cmpstr(h->xml, ==, expected);
    }
}

static guint
case_timeout_ms(const HookCase *c)
{
    for (guint i = 0; i < G_N_ELEMENTS(c->args) && c->args[i]; i++) {
        if (g_str_equal(c->args[i], "--timeout-ms"))
            return (guint)g_ascii_strtoull(c->args[i + 1], NULL, 10);
        if (g_str_has_prefix(c->args[i], "--timeout-ms="))
            return (guint)g_ascii_strtoull(c->args[i] + 13, NULL, 0);
    }
    for (guint i = 0; i < G_N_ELEMENTS(c->env) && c->env[i]; i++)
        if (g_str_has_prefix(c->env[i], "VFSEC_HOOK_TIMEOUT_MS="))
            return (guint)g_ascii_strtoull(strchr(c->env[i], '=') + 1, NULL, 10);
    return 10000;
}

static void
test_hook_case(gconstpointer data)
{
    const HookCase *c = data;
    g_autoptr(Sandbox) box = sandbox_new();
    g_autoptr(FakeVfsecd) fake = fake_start(c->daemon, box->dir);
    g_auto(HookResult) res = { 0 };
    guint timeout_ms = case_timeout_ms(c);

    run_hook(box, c, fake->path, &res);
    fake_stop(fake);
    g_test_message("exit %d, stderr: %s", res.status, res.err);

    /* Never a byte on stdout: for migrate/restore it would replace the XML. */
    g_assert_cmpuint(res.out_len, ==, 0);
    g_assert_cmpint(res.status, ==, c->status);
    /* Whatever the input, the line stays readable in virsh. */
    g_assert_cmpuint(strlen(res.err), <, 1024);
    if (c->err) {
        g_autoptr(GString) expected = g_string_new(c->err);

        g_string_replace(expected, "@SOCK@", fake->path, 0);
        g_assert_cmpstr(res.err, ==, expected->str);
    } else if (c->err_has) {
        g_assert_nonnull(strstr(res.err, c->err_has));
        /* One line. */
        g_assert_true(strchr(res.err, '\n') == res.err + strlen(res.err) - 1);
        g_assert_true(g_str_has_prefix(res.err, "vfsec: "));
    } else {
        g_assert_cmpstr(res.err, ==, "");
    }
    g_assert_cmpint(fake->request != NULL, ==, c->forwarded);
    if (c->forwarded)
        check_request(c, fake, timeout_ms);
    else if (c->daemon >= DAEMON_OK)
        g_assert_false(fake->connected);
    /* A silent vfsecd costs the configured wait, not less and not forever. */
    if (c->daemon == DAEMON_SILENT && c->forwarded) {
        g_assert_cmpint(res.elapsed_us, >=, (gint64)timeout_ms * 1000);
        g_assert_cmpint(res.elapsed_us, <, (gint64)timeout_ms * 1000 + 20 * G_USEC_PER_SEC);
    }
}

/* The PF every vfsecd.conf needs. */
#define CONF_PF "[pf p0]\nplugin = contract\nsocket = /nonexistent/pf.sock\nport = 0\n"

/* Runs the hook for @op of the VF sample with vfsecd.conf @conf_text
 * (@SOCK@: the fake's socket, @DIR@: a fresh directory) and no socket in
 * the environment; *@forwarded: the fake received a request. */
static void
run_with_conf(DaemonMode mode, const char *op, const char *conf_text, HookResult *res,
              char **conf_path, gboolean *forwarded)
{
    g_autoptr(Sandbox) box = sandbox_new();
    g_autoptr(FakeVfsecd) fake = fake_start(mode, box->dir);
    g_autoptr(GString) text = g_string_new(conf_text);
    g_autofree char *path = g_build_filename(box->dir, "vfsecd.conf", NULL);
    g_autofree char *env = g_strdup_printf("VFSEC_CONFIG=%s", path);
    HookCase c = { "conf", "qemu.d", { SAMPLE_VF_NAME, op, "begin", "-" }, INPUT_FILE, SAMPLE_VF,
                   mode, { env }, 0, NULL, NULL, FALSE };

    g_string_replace(text, "@SOCK@", fake->path, 0);
    g_string_replace(text, "@DIR@", box->dir, 0);
    g_assert_true(g_file_set_contents(path, text->str, -1, NULL));
    g_ptr_array_add(box->cleanup, g_strdup(path));
    run_hook(box, &c, fake->path, res);
    fake_stop(fake);
    g_test_message("exit %d, stderr: %s", res->status, res->err);
    g_assert_cmpuint(res->out_len, ==, 0);
    if (forwarded)
        *forwarded = fake->request != NULL;
    *conf_path = g_steal_pointer(&path);
}

/* vfsecd.conf gives the hook its socket, its timeout and its fail-closed
 * rule (option > environment > file > default); a value the hook reads
 * that is broken refuses a start, naming the file. */
static void
test_hook_config(void)
{
    g_auto(HookResult) silent = { 0 };
    g_auto(HookResult) open = { 0 };
    g_auto(HookResult) broken = { 0 };
    g_auto(HookResult) broken_stop = { 0 };
    g_autofree char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL;

    run_with_conf(DAEMON_SILENT, "prepare",
                  "[daemon]\ncontrol-socket = @SOCK@\nstate-dir = @DIR@/state\n"
                  "run-dir = @DIR@/run\n[timeouts]\npf-reclaim = 100\n"
                  "daemon-request = 200\nhook = 300\n" CONF_PF, &silent, &p1, NULL);
    g_assert_cmpint(silent.status, ==, 1);
    g_assert_nonnull(strstr(silent.err, "did not answer within 300 ms"));
    g_assert_cmpint(silent.elapsed_us, >=, 300 * 1000);

    run_with_conf(DAEMON_NONE, "prepare",
                  "[daemon]\ncontrol-socket = @DIR@/none.sock\nstate-dir = @DIR@/state\n"
                  "run-dir = @DIR@/run\n[hook]\nfail-closed = false\n" CONF_PF, &open, &p2, NULL);
    g_assert_cmpint(open.status, ==, 0);
    g_assert_nonnull(strstr(open.err, "(fail-open)"));
    g_assert_nonnull(strstr(open.err, "none.sock"));

    run_with_conf(DAEMON_OK, "prepare", "[timeouts]\nhook = soon\n" CONF_PF, &broken, &p3,
                  NULL);
    g_assert_cmpint(broken.status, ==, 1);
    g_assert_nonnull(strstr(broken.err, p3));
    g_assert_nonnull(strstr(broken.err, "hook='soon'"));

    run_with_conf(DAEMON_OK, "stopped", "[timeouts]\nhook = soon\n" CONF_PF, &broken_stop, &p4,
                  NULL);
    g_assert_cmpint(broken_stop.status, ==, 0);
    g_assert_true(g_str_has_prefix(broken_stop.err, "vfsec: warning: "));
}

/* The front reads only the keys it needs, strictly; what it cannot read
 * with certainty goes to the full hook, which validates like vfsecd. */
typedef struct {
    const char *name;
    DaemonMode mode;
    const char *conf;
    int status;
    const char *err_has;        /* NULL: stderr empty */
    gboolean forwarded;
} ConfCase;

static const ConfCase conf_cases[] = {
    /* Groups and keys the hook does not use are vfsecd's to validate. */
    { "other-groups", DAEMON_OK, "[bogus]\nkey = 1\n[daemon]\ncontrol-socket=@SOCK@\n"
      "log-level = chatty\n", 0, NULL, TRUE },
    /* Comments, blank lines, white space around keys and values. */
    { "layout", DAEMON_SILENT, "# vfsecd\n\n  [daemon]\n\tcontrol-socket   =   @SOCK@  \n"
      "[timeouts]\npf-reclaim = 100\ndaemon-request = 200\nhook=300\n# end\n" CONF_PF, 1,
      "did not answer within 300 ms", TRUE },
    /* The socket's default is <run-dir>/vfsecd.sock. */
    { "run-dir", DAEMON_OK, "[daemon]\nrun-dir = @DIR@\n", 0, NULL, TRUE },
    { "socket-beats-run-dir", DAEMON_OK, "[daemon]\ncontrol-socket = @SOCK@\n"
      "run-dir = /nonexistent\n", 0, NULL, TRUE },
    /* What only the full hook reads with certainty, in vfsecd's words. */
    { "group-twice", DAEMON_OK, "[daemon]\ncontrol-socket = @SOCK@\n[daemon]\n"
      "run-dir = @DIR@\n", 1, "[daemon] appears twice", FALSE },
    { "key-twice", DAEMON_OK, "[timeouts]\nhook = 300\nhook = 400\n", 1,
      "[timeouts] hook is set twice", FALSE },
    { "no-equals", DAEMON_OK, "[daemon]\ncontrol-socket @SOCK@\n", 1, "not a key file",
      FALSE },
    { "relative-socket", DAEMON_OK, "[daemon]\ncontrol-socket = vfsecd.sock\n", 1,
      "is not an absolute path", FALSE },
    { "escape", DAEMON_OK, "[daemon]\ncontrol-socket = @SOCK@\\s\n", 1, NULL, FALSE },
    { "fail-closed-word", DAEMON_OK, "[hook]\nfail-closed = maybe\n", 1,
      "fail-closed='maybe' is not true or false", FALSE },
    { "timeout-range", DAEMON_OK, "[timeouts]\nhook = 600001\n", 1,
      "hook='600001' is not a number from 1 to 600000", FALSE },
    { "control-char", DAEMON_OK, "[daemon]\ncontrol-socket = @SOCK@\x01\n", 1, NULL, FALSE },
};

static void
test_hook_conf_case(gconstpointer data)
{
    const ConfCase *cc = data;
    g_auto(HookResult) res = { 0 };
    g_autofree char *path = NULL;
    gboolean forwarded = FALSE;

    run_with_conf(cc->mode, "prepare", cc->conf, &res, &path, &forwarded);
    g_assert_cmpint(res.status, ==, cc->status);
    g_assert_cmpint(forwarded, ==, cc->forwarded);
    if (cc->err_has)
        g_assert_nonnull(strstr(res.err, cc->err_has));
    else if (cc->status == 0)
        g_assert_cmpstr(res.err, ==, "");
    else
        g_assert_nonnull(strstr(res.err, path));
}

static void
test_hook_help_version(void)
{
    static const char *const flags[] = { "--help", "--version" };

    for (guint i = 0; i < G_N_ELEMENTS(flags); i++) {
        const char *argv[] = { vfsec_test_env("VFSEC_HOOK"), flags[i], NULL };
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        g_assert_cmpint(vfsec_test_run(argv, &out, &err), ==, 0);
        g_assert_cmpstr(out, ==, "");
        g_assert_true(g_str_has_prefix(err, i == 0 ? "Usage: vfsec-hook" : "vfsec-hook "));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(hook_cases); i++) {
        g_autofree char *path = g_strconcat("/hook/", hook_cases[i].name, NULL);

        g_test_add_data_func(path, &hook_cases[i], test_hook_case);
    }
    g_test_add_func("/hook/help-version", test_hook_help_version);
    g_test_add_func("/hook/config", test_hook_config);
    for (guint i = 0; i < G_N_ELEMENTS(conf_cases); i++) {
        g_autofree char *path = g_strconcat("/hook/config/", conf_cases[i].name, NULL);

        g_test_add_data_func(path, &conf_cases[i], test_hook_conf_case);
    }
    return g_test_run();
}
