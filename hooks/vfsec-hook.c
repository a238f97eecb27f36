/* vfsec-hook-full: libvirt's qemu and network hook with all its rules;
 * forwards a lifecycle call to vfsecd and turns its answer into an exit
 * status (docs/hook-contract.md). libvirt runs the lean front, vfsec-hook
 * (vfsec-hook-front.c, libc only), which decides the common cases and
 * execs this program with the same argv for the rest; when it already
 * asked vfsecd, its internal option --front-outcome= says what happened
 * (not reachable, timed out, no or an unclear reply) and this program
 * applies its rules to that instead of asking again.
 *
 * libvirt runs it as qemu.d/vfsec DOMAIN OP SUBOP EXTRA or network.d/vfsec
 * NETWORK OP SUBOP -, with the object's XML on stdin, synchronously, with no
 * timeout, holding the object's lock. Hence the rules this file keeps:
 *   - nothing is ever written to stdout: for migrate and restore libvirt
 *     takes stdout as the new domain XML (fd 1 is pointed at /dev/null
 *     first thing, so not even a library can break this);
 *   - no libvirt call, from here or from vfsecd on our behalf (deadlock);
 *   - every wait is bounded by one deadline;
 *   - exactly one line on stderr when there is something to say: for a
 *     refused start virsh prints it after "unexpected exit status 1: ";
 *   - ops vfsec does not handle exit 0 before stdin is read: libvirt writes
 *     stdin from its side of a pipe and ignores EPIPE (vircommand.c);
 *   - a domain without SR-IOV attachments passes without asking vfsecd;
 *   - only prepare/start/started/port-created can fail (their failure aborts
 *     the start); for every other op the hook warns and exits 0, because
 *     libvirt ignores those failures, except reconnect, whose failure kills
 *     a running domain.
 *
 * Exit status: 0 go ahead, 1 refused or failed, 2 bad invocation. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vfsec-conf.h"
#include "vfsec-config.h"
#include "vfsec-ctlproto.h"
#include "vfsec-domain.h"
#include "vfsec-topology.h"

enum {
    VFSEC_HOOK_EXIT_OK = 0,
    VFSEC_HOOK_EXIT_FAILED = 1,
    VFSEC_HOOK_EXIT_USAGE = 2,
};

/* Not yet decided: main() continues. */
#define VFSEC_HOOK_CONTINUE (-1)

#define VFSEC_HOOK_DEFAULT_TIMEOUT_MS 10000

/* Longest argv text quoted back in a message. */
#define VFSEC_HOOK_QUOTE_MAX 64

typedef struct {
    int kind;                   /* VfsecHookKind, -1 until known */
    VfsecHookOp op;
    VfsecHookSubop subop;
    const char *name;           /* argv: domain or network */
    const char *extra;
    const char *socket_path;
    guint timeout_ms;
    gboolean fail_open;
    const char *sysfs_root;     /* NULL: /sys */
    GByteArray *xml;            /* stdin, NUL-terminated once read */
    gboolean xml_usable;        /* parsed, and the name matched */
    char *owner;                /* network port: the domain it is for */
    GPtrArray *candidates;      /* VfsecHookDevice*: what may be a VF */
    VfsecConf *conf;            /* vfsecd.conf when it exists and is valid */
    char *conf_error;           /* why vfsecd.conf could not be used, or NULL */
    const char *front_outcome;  /* --front-outcome: the front asked vfsecd */
} VfsecHookRun;

/* The front (libc only) repeats these bounds. */
G_STATIC_ASSERT(VFSEC_HOOK_XML_MAX == VFSEC_DOMAIN_XML_MAX);
G_STATIC_ASSERT(VFSEC_HOOK_REPLY_MAX == VFSEC_CTL_MAX_LINE);

/* A device the XML hands to the object that may be an SR-IOV VF: a PCI
 * address (hostdev) or a netdev (macvtap). */
typedef struct {
    gboolean has_pci;
    VfsecPciAddr pci;
    char *netdev;
} VfsecHookDevice;

static void
vfsec_hook_device_free(VfsecHookDevice *dev)
{
    g_free(dev->netdev);
    g_free(dev);
}

static void
vfsec_hook_run_clear(VfsecHookRun *run)
{
    if (run->xml)
        g_byte_array_unref(run->xml);
    g_free(run->owner);
    if (run->candidates)
        g_ptr_array_unref(run->candidates);
    g_clear_pointer(&run->conf, vfsec_conf_free);
    g_free(run->conf_error);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfsecHookRun, vfsec_hook_run_clear)

/* Writes @text as one line on stderr; control characters become '?', so no
 * input can add a line or a terminal escape. */
static void
vfsec_hook_print_line(const char *text)
{
    g_autofree char *line = g_strdup(text);

    for (char *p = line; *p; p++)
        if ((guchar)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void vfsec_hook_say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* "vfsec: <message>" on stderr. */
static void
vfsec_hook_say(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    g_autofree char *line = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    line = g_strconcat("vfsec: ", msg, NULL);
    vfsec_hook_print_line(line);
}

/* argv text for a message: escaped and cut, whatever it holds. */
static char *
vfsec_hook_quote(const char *arg)
{
    g_autofree char *head = g_strndup(arg, VFSEC_HOOK_QUOTE_MAX);
    g_autofree char *escaped = g_strescape(head, NULL);

    return g_strdup_printf("'%s%s'", escaped, strlen(arg) > VFSEC_HOOK_QUOTE_MAX ? "..." : "");
}

static const char vfsec_hook_usage[] =
    "Usage: vfsec-hook [OPTION...] NAME OP SUBOP EXTRA\n"
    "vfsec's libvirt hook. libvirt runs it as /etc/libvirt/hooks/qemu.d/vfsec and\n"
    "/etc/libvirt/hooks/network.d/vfsec with the object's XML on stdin; it asks\n"
    "vfsecd and exits 0 (go ahead) or 1 (refused, one line on stderr).\n"
    "\n"
    "  --kind=qemu|network  which hook this is (default: the directory it runs from)\n"
    "  --socket=PATH        vfsecd's control socket (env VFSEC_CONTROL_SOCKET;\n"
    "                       default " VFSEC_CTL_DEFAULT_SOCKET ")\n"
    "  --timeout-ms=N       how long to wait for vfsecd, 1-600000 ms\n"
    "                       (env VFSEC_HOOK_TIMEOUT_MS; default 10000)\n"
    "  --sysfs-root=DIR     read sysfs below DIR (env VFSEC_SYSFS_ROOT; default /sys):\n"
    "                       without vfsecd, only devices sysfs shows to be VFs count\n"
    "  --fail-open          let domains with VFs start while vfsecd is not running\n"
    "                       (env VFSEC_HOOK_FAIL_OPEN=1; default: refuse them)\n"
    "  --help, --version\n"
    "\n"
    "It writes nothing to standard output, not even this text. See\n"
    "docs/hook-contract.md.\n";

/* The kind from argv[0]: .../qemu.d/NAME, .../network.d/NAME, or a hook
 * installed as libvirt's single script .../hooks/qemu or .../hooks/network. */
static int
vfsec_hook_kind_from_argv0(const char *argv0)
{
    g_autofree char *dir = NULL;
    g_autofree char *dirbase = NULL;
    g_autofree char *base = NULL;
    int kind;

    if (!argv0)
        return -1;
    dir = g_path_get_dirname(argv0);
    dirbase = g_path_get_basename(dir);
    if (g_str_has_suffix(dirbase, ".d")) {
        dirbase[strlen(dirbase) - 2] = '\0';
        if ((kind = vfsec_hook_kind_from_string(dirbase)) >= 0)
            return kind;
    }
    base = g_path_get_basename(argv0);
    return vfsec_hook_kind_from_string(base);
}

static int
vfsec_hook_usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static int
vfsec_hook_usage_error(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vfsec_hook_say("%s (see vfsec-hook --help)", msg);
    return VFSEC_HOOK_EXIT_USAGE;
}

static int
vfsec_hook_set_timeout(VfsecHookRun *run, const char *source, const char *value)
{
    guint64 ms;

    if (!vfsec_parse_uint(value, VFSEC_CTL_MAX_TIMEOUT_MS, &ms) || ms == 0) {
        g_autofree char *q = vfsec_hook_quote(value);

        return vfsec_hook_usage_error("%s is %s, not a number of milliseconds from 1 to %d",
                                      source, q, VFSEC_CTL_MAX_TIMEOUT_MS);
    }
    run->timeout_ms = (guint)ms;
    return VFSEC_HOOK_CONTINUE;
}

static int
vfsec_hook_set_fail_open(VfsecHookRun *run, const char *value)
{
    static const char *const yes[] = { "1", "yes", "true", "on" };
    static const char *const no[] = { "0", "no", "false", "off" };
    g_autofree char *q = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(value, yes[i]) == 0) {
            run->fail_open = TRUE;
            return VFSEC_HOOK_CONTINUE;
        }
        if (g_ascii_strcasecmp(value, no[i]) == 0) {
            run->fail_open = FALSE;
            return VFSEC_HOOK_CONTINUE;
        }
    }
    q = vfsec_hook_quote(value);
    return vfsec_hook_usage_error("VFSEC_HOOK_FAIL_OPEN is %s, not 1/yes/true/on or "
                                  "0/no/false/off", q);
}

/* vfsecd's own file (VFSEC_CONFIG, else <sysconfdir>/vfsec/vfsecd.conf):
 * its control socket, [timeouts] hook and [hook] fail-closed. No file is
 * not a problem (the built-in defaults apply); an invalid one is kept in
 * conf_error and decided on once the op is known. */
static void
vfsec_hook_read_config(VfsecHookRun *run)
{
    const char *env = g_getenv("VFSEC_CONFIG");
    g_autofree char *path = env && *env ? g_strdup(env) : vfsec_conf_default_path();
    g_autoptr(GError) error = NULL;

    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return;
    run->conf = vfsec_conf_load(path, &error);
    if (!run->conf) {
        run->conf_error = g_strdup(error->message);
        return;
    }
    run->socket_path = run->conf->control_socket;
    run->timeout_ms = MIN(run->conf->hook_ms, VFSEC_CTL_MAX_TIMEOUT_MS);
    run->fail_open = !run->conf->hook_fail_closed;
}

/* Defaults, then vfsecd.conf, then the environment; options override all
 * of them afterwards (libvirt passes hooks almost no environment: the file
 * is what a real install uses). */
static int
vfsec_hook_read_env(VfsecHookRun *run)
{
    const char *v;
    int rc;

    run->socket_path = VFSEC_CTL_DEFAULT_SOCKET;
    run->timeout_ms = VFSEC_HOOK_DEFAULT_TIMEOUT_MS;
    vfsec_hook_read_config(run);
    if ((v = g_getenv("VFSEC_CONTROL_SOCKET")) && *v)
        run->socket_path = v;
    if ((v = g_getenv("VFSEC_SYSFS_ROOT")) && *v)
        run->sysfs_root = v;
    if ((v = g_getenv("VFSEC_HOOK_TIMEOUT_MS")) && *v &&
        (rc = vfsec_hook_set_timeout(run, "VFSEC_HOOK_TIMEOUT_MS", v)) != VFSEC_HOOK_CONTINUE)
        return rc;
    if ((v = g_getenv("VFSEC_HOOK_FAIL_OPEN")) && *v &&
        (rc = vfsec_hook_set_fail_open(run, v)) != VFSEC_HOOK_CONTINUE)
        return rc;
    return VFSEC_HOOK_CONTINUE;
}

/* libvirt's four arguments: NAME OP SUBOP EXTRA. */
static int
vfsec_hook_parse_positional(VfsecHookRun *run, char **pos)
{
    int op = vfsec_hook_op_from_string(run->kind, pos[1]);
    int subop = vfsec_hook_subop_from_string(pos[2]);
    g_autofree char *q = NULL;

    /* An operation vfsec does not know is one it does not handle: a newer
     * libvirt may add operations, and refusing them would break it. */
    if (op < 0) {
        q = vfsec_hook_quote(pos[1]);
        vfsec_hook_say("note: %s hook operation %s is not one vfsec handles; ignored",
                       vfsec_hook_kind_to_string(run->kind), q);
        return VFSEC_HOOK_EXIT_OK;
    }
    if (subop < 0) {
        q = vfsec_hook_quote(pos[2]);
        vfsec_hook_say("note: hook sub-operation %s (not -, begin or end) is not one vfsec "
                       "handles; ignored", q);
        return VFSEC_HOOK_EXIT_OK;
    }
    run->name = pos[0];
    run->op = op;
    run->subop = subop;
    run->extra = pos[3];
    return VFSEC_HOOK_CONTINUE;
}

/* Options come first and the last four arguments are always libvirt's, so
 * an object named like an option ("--help") can never change behaviour. */
static int
vfsec_hook_parse_args(int argc, char **argv, VfsecHookRun *run)
{
    int end = argc - 4;
    int rc;

    run->kind = vfsec_hook_kind_from_argv0(argc > 0 ? argv[0] : NULL);
    if ((rc = vfsec_hook_read_env(run)) != VFSEC_HOOK_CONTINUE)
        return rc;
    if (argc == 2 && g_str_equal(argv[1], "--help")) {
        fputs(vfsec_hook_usage, stderr);
        return VFSEC_HOOK_EXIT_OK;
    }
    if (argc == 2 && g_str_equal(argv[1], "--version")) {
        fprintf(stderr, "vfsec-hook %s (control protocol %d)\n", VFSEC_VERSION,
                VFSEC_CTL_VERSION);
        return VFSEC_HOOK_EXIT_OK;
    }
    if (argc < 5)
        return vfsec_hook_usage_error("expected NAME OP SUBOP EXTRA, got %d argument%s",
                                      MAX(argc - 1, 0), argc == 2 ? "" : "s");
    for (int i = 1; i < end; i++) {
        const char *value = NULL;
        g_autofree char *q = vfsec_hook_quote(argv[i]);

        if (!g_str_has_prefix(argv[i], "--"))
            return vfsec_hook_usage_error("unexpected argument %s before NAME OP SUBOP EXTRA", q);
        if (g_str_equal(argv[i], "--help") || g_str_equal(argv[i], "--version"))
            return vfsec_hook_usage_error("%s takes no other argument", q);
        if (g_str_equal(argv[i], "--fail-open")) {
            run->fail_open = TRUE;
        } else if (vfsec_hook_option_value(argv, &i, end, "kind", &value)) {
            if (!value || (run->kind = vfsec_hook_kind_from_string(value)) < 0)
                return vfsec_hook_usage_error("--kind needs qemu or network");
        } else if (vfsec_hook_option_value(argv, &i, end, "socket", &value)) {
            if (!value || !*value)
                return vfsec_hook_usage_error("--socket needs a path");
            run->socket_path = value;
        } else if (vfsec_hook_option_value(argv, &i, end, "sysfs-root", &value)) {
            if (!value || !*value)
                return vfsec_hook_usage_error("--sysfs-root needs a directory");
            run->sysfs_root = value;
        } else if (g_str_has_prefix(argv[i], "--front-outcome=")) {
            /* Internal, from vfsec-hook-front.c; checked where it is used. */
            run->front_outcome = argv[i] + strlen("--front-outcome=");
        } else if (vfsec_hook_option_value(argv, &i, end, "timeout-ms", &value)) {
            if (!value)
                return vfsec_hook_usage_error("--timeout-ms needs a number");
            if ((rc = vfsec_hook_set_timeout(run, "--timeout-ms", value)) != VFSEC_HOOK_CONTINUE)
                return rc;
        } else {
            return vfsec_hook_usage_error("unknown option %s", q);
        }
    }
    if (run->kind < 0) {
        g_autofree char *q = vfsec_hook_quote(argc > 0 && argv[0] ? argv[0] : "");

        return vfsec_hook_usage_error("cannot tell the hook kind from %s: run it from qemu.d/ "
                                      "or network.d/, or pass --kind", q);
    }
    return vfsec_hook_parse_positional(run, argv + end);
}

static gboolean
vfsec_hook_gates(const VfsecHookRun *run)
{
    return vfsec_hook_op_gates(run->op);
}

static const char *
vfsec_hook_object(const VfsecHookRun *run)
{
    return run->kind == VFSEC_HOOK_KIND_QEMU ? "domain" : "network";
}

/* What the hook does about a problem: the end of its one line. */
static char *
vfsec_hook_consequence(const VfsecHookRun *run, gboolean has_vfs)
{
    if (!vfsec_hook_gates(run))
        return g_strdup_printf("%s of %s %s left to vfsecd's reconcile",
                               vfsec_hook_op_to_string(run->op), vfsec_hook_object(run),
                               run->name);
    if (run->kind == VFSEC_HOOK_KIND_QEMU)
        return g_strdup_printf(has_vfs ? "refusing to start %s with SR-IOV VFs" :
                               "refusing to start %s", run->name);
    if (run->owner)
        return g_strdup_printf("refusing to plug %s into SR-IOV network %s", run->owner,
                               run->name);
    return g_strdup_printf("refusing the new port on network %s", run->name);
}

static int vfsec_hook_problem(const VfsecHookRun *run, gboolean has_vfs, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* Reports a problem in one line: a refusal (exit 1) for an op that gates,
 * a warning (exit 0) for any other. */
static int
vfsec_hook_problem(const VfsecHookRun *run, gboolean has_vfs, const char *fmt, ...)
{
    g_autofree char *problem = NULL;
    g_autofree char *consequence = vfsec_hook_consequence(run, has_vfs);
    va_list ap;

    va_start(ap, fmt);
    problem = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!vfsec_hook_gates(run)) {
        vfsec_hook_say("warning: %s; %s", problem, consequence);
        return VFSEC_HOOK_EXIT_OK;
    }
    vfsec_hook_say("%s; %s", problem, consequence);
    return VFSEC_HOOK_EXIT_FAILED;
}

/* Name and extra are checked once the op is known to matter. */
static int
vfsec_hook_check_args(const VfsecHookRun *run)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *what = g_strdup_printf("%s name", vfsec_hook_object(run));

    if (vfsec_ctl_check_name(what, run->name, &error) &&
        vfsec_ctl_check_extra("hook argument EXTRA", run->extra, &error))
        return VFSEC_HOOK_CONTINUE;
    if (!vfsec_hook_gates(run)) {
        vfsec_hook_say("warning: %s; not forwarded to vfsecd", error->message);
        return VFSEC_HOOK_EXIT_OK;
    }
    /* The message may hold the bad name: print_line neutralises it. */
    vfsec_hook_say("%s; refusing this %s %s call", error->message,
                   vfsec_hook_kind_to_string(run->kind), vfsec_hook_op_to_string(run->op));
    return VFSEC_HOOK_EXIT_USAGE;
}

/* Reads all of @fd into @buf, at most @max bytes. Returns 0 or -errno
 * (-EFBIG beyond @max). */
static int
vfsec_hook_read_all(int fd, GByteArray *buf, gsize max)
{
    for (;;) {
        guint8 chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (buf->len + (gsize)n > max)
            return -EFBIG;
        g_byte_array_append(buf, chunk, (guint)n);
    }
}

static void
vfsec_hook_add_candidate(VfsecHookRun *run, gboolean has_pci, const VfsecPciAddr *pci,
                         const char *netdev)
{
    VfsecHookDevice *dev = g_new0(VfsecHookDevice, 1);

    dev->has_pci = has_pci;
    if (has_pci)
        dev->pci = *pci;
    else
        dev->netdev = g_strdup(netdev);
    g_ptr_array_add(run->candidates, dev);
}

/* Whether some candidate device is an SR-IOV VF, from sysfs. Only a device
 * sysfs shows is not a VF (no such device, or no physfn link) counts as
 * none: when sysfs cannot tell, it may be one. */
static gboolean
vfsec_hook_has_vf(const VfsecHookRun *run)
{
    g_autoptr(VfsecTopology) topo = vfsec_topology_new(run->sysfs_root);

    for (guint i = 0; i < run->candidates->len; i++) {
        const VfsecHookDevice *dev = run->candidates->pdata[i];
        g_autoptr(VfsecVfInfo) info = NULL;
        g_autoptr(GError) error = NULL;

        info = dev->has_pci ? vfsec_topology_lookup_vf(topo, &dev->pci, &error)
                            : vfsec_topology_lookup_netdev(topo, dev->netdev, &error);
        if (info || !(g_error_matches(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND) ||
                      g_error_matches(error, VFSEC_ERROR, VFSEC_ERROR_INVALID)))
            return TRUE;
    }
    return FALSE;
}

/* Parses stdin. Sets *@has_vfs; xml_usable stays FALSE when the XML cannot
 * be used, with @error saying why. */
static gboolean
vfsec_hook_inspect_xml(VfsecHookRun *run, gboolean *has_vfs, GError **error)
{
    const char *xml = (const char *)run->xml->data;
    gsize len = run->xml->len - 1;  /* without the NUL we added */

    *has_vfs = FALSE;
    run->candidates = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_hook_device_free);
    if (run->kind == VFSEC_HOOK_KIND_QEMU) {
        g_autoptr(VfsecDomain) dom = vfsec_domain_parse_string(xml, (gssize)len, error);

        if (!dom)
            return FALSE;
        if (g_strcmp0(dom->name, run->name) != 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "the XML on stdin describes domain %s", dom->name);
            return FALSE;
        }
        for (guint i = 0; i < dom->attachments->len; i++) {
            const VfsecAttachment *att = dom->attachments->pdata[i];

            if (!vfsec_ctl_hook_candidate(att))
                continue;
            vfsec_hook_add_candidate(run, att->has_pci, &att->pci, att->source_dev);
        }
    } else {
        g_autoptr(VfsecNetworkPort) port = vfsec_network_port_parse_string(xml, (gssize)len,
                                                                           error);

        if (!port)
            return FALSE;
        if (port->network && !g_str_equal(port->network, run->name)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "the XML on stdin describes network %s", port->network);
            return FALSE;
        }
        run->owner = g_strdup(port->owner_name);
        if (vfsec_ctl_hook_port_candidate(port))
            vfsec_hook_add_candidate(run, port->has_pci, &port->pci, port->plug_dev);
    }
    *has_vfs = run->candidates->len > 0;
    run->xml_usable = TRUE;
    return TRUE;
}

/* Reads and inspects stdin; decides when there is nothing to ask vfsecd. */
static int
vfsec_hook_take_input(VfsecHookRun *run)
{
    g_autoptr(GError) error = NULL;
    gboolean has_vfs = FALSE;
    int rc;

    run->xml = g_byte_array_new();
    rc = vfsec_hook_read_all(STDIN_FILENO, run->xml, VFSEC_DOMAIN_XML_MAX);
    g_byte_array_append(run->xml, (const guint8 *)"", 1);
    if (rc == -EFBIG)
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "the XML on stdin is larger than %d bytes", VFSEC_DOMAIN_XML_MAX);
    else if (rc < 0)
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot read the XML on stdin: %s",
                    g_strerror(-rc));
    if (rc == 0 && vfsec_hook_inspect_xml(run, &has_vfs, &error))
        return has_vfs ? VFSEC_HOOK_CONTINUE : VFSEC_HOOK_EXIT_OK;
    /* Unusable XML: a start cannot be judged, so it is refused; a stop is
     * still worth telling vfsecd, which knows by name what the object held. */
    if (vfsec_hook_gates(run))
        return vfsec_hook_problem(run, FALSE, "%s %s: %s", vfsec_hook_object(run), run->name,
                                  error->message);
    return VFSEC_HOOK_CONTINUE;
}

/* Reads a memfd the front left (at most one control line). */
static char *
vfsec_hook_read_fd(int fd, gsize *len)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    int rc = (int)lseek(fd, 0, SEEK_SET);

    if (rc == 0)
        rc = vfsec_hook_read_all(fd, buf, VFSEC_CTL_MAX_LINE);
    close(fd);
    if (rc < 0)
        return NULL;
    *len = buf->len;
    g_byte_array_append(buf, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(g_steal_pointer(&buf), FALSE);
}

/* What the front met when it asked vfsecd (docs/hook-contract.md, "The
 * front"), as vfsec_ctl_connect() and vfsec_ctl_client_call() would have
 * reported it: -errno when vfsecd was not reachable; otherwise 0 with
 * *@reply or @error set as the call would have. VFSEC_HOOK_EXIT_USAGE when
 * the option is not one the front sends. */
static int
vfsec_hook_front_outcome(VfsecHookRun *run, VfsecCtlReply **reply, GError **error)
{
    const char *o = run->front_outcome;
    const char *arg = strchr(o, ':');
    guint64 n = 0;
    g_autofree char *line = NULL;
    gsize len = 0;

    if (arg && !vfsec_parse_uint(arg + 1, G_MAXINT, &n))
        return VFSEC_HOOK_EXIT_USAGE;
    if (g_str_has_prefix(o, "unreachable:") && n > 0)
        return -(int)n;
    if (g_str_equal(o, "timeout")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT, "timeout");
    } else if (g_str_equal(o, "closed")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "vfsecd at %s closed the connection without answering control request 1",
                    run->socket_path);
    } else if (g_str_equal(o, "too-long")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "vfsecd at %s sent a line longer than %" G_GSIZE_FORMAT " bytes",
                    run->socket_path, VFSEC_CTL_MAX_LINE);
    } else if (g_str_has_prefix(o, "send:") && n > 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO,
                    "sending control request 1 to vfsecd at %s: %s", run->socket_path,
                    g_strerror((int)n));
    } else if (g_str_has_prefix(o, "recv:") && n > 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO,
                    "receiving the answer to control request 1 from vfsecd at %s: %s",
                    run->socket_path, g_strerror((int)n));
    } else if (g_str_has_prefix(o, "reply:") && arg) {
        /* The line is vfsecd's answer: one that cannot be read is a failed
         * call (the op's own rules apply), not a usage error (exit 2, which
         * for reconnect would kill the domain). */
        if (!(line = vfsec_hook_read_fd((int)n, &len)))
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO,
                        "cannot read the answer of vfsecd at %s that vfsec-hook kept in fd %d",
                        run->socket_path, (int)n);
        else
            *reply = vfsec_ctl_reply_from_line(run->socket_path, 1, line, len, error);
    } else {
        return VFSEC_HOOK_EXIT_USAGE;
    }
    return 0;
}

static int
vfsec_hook_ask_vfsecd(VfsecHookRun *run)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)run->timeout_ms * 1000;
    g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(VFSEC_CTL_OP_HOOK);
    g_autoptr(VfsecCtlClient) client = NULL;
    g_autoptr(VfsecCtlReply) reply = NULL;
    g_autoptr(GError) error = NULL;
    int fd;

    req->hook.kind = run->kind;
    req->hook.op = run->op;
    req->hook.subop = run->subop;
    req->hook.name = g_strdup(run->name);
    req->hook.extra = g_strdup(run->extra);
    req->hook.xml = g_strdup(run->xml_usable ? (const char *)run->xml->data : "");
    req->hook.timeout_ms = run->timeout_ms;

    /* An unusable vfsecd.conf leaves the hook guessing the socket and the
     * policy: a start is refused, a stop goes on with the defaults. */
    if (run->conf_error) {
        int rc = vfsec_hook_problem(run, TRUE, "%s", run->conf_error);

        if (rc != VFSEC_HOOK_EXIT_OK)
            return rc;
    }
    if (run->front_outcome) {
        if ((fd = vfsec_hook_front_outcome(run, &reply, &error)) == VFSEC_HOOK_EXIT_USAGE)
            return vfsec_hook_usage_error("--front-outcome=%s is not one vfsec-hook sends",
                                          run->front_outcome);
    } else {
        fd = vfsec_ctl_connect(run->socket_path, deadline);
    }
    /* Without vfsecd, only a device sysfs shows to be a VF is worth
     * refusing a start for: a hostdev GPU or a macvtap on a plain NIC is
     * none of vfsec's business. */
    if (fd < 0 && run->xml_usable && !vfsec_hook_has_vf(run))
        return VFSEC_HOOK_EXIT_OK;
    if (fd < 0) {
        if (vfsec_hook_gates(run) && run->fail_open) {
            vfsec_hook_say("warning: vfsecd is not reachable at %s: %s; starting %s without "
                           "vfsec (fail-open)", run->socket_path, g_strerror(-fd),
                           run->owner ? run->owner : run->name);
            return VFSEC_HOOK_EXIT_OK;
        }
        return vfsec_hook_problem(run, TRUE, "vfsecd is not reachable at %s: %s",
                                  run->socket_path, g_strerror(-fd));
    }
    if (!run->front_outcome) {
        client = vfsec_ctl_client_new(fd, run->socket_path);
        reply = vfsec_ctl_client_call(client, req, deadline, &error);
    }
    if (!reply && g_error_matches(error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT))
        return vfsec_hook_problem(run, TRUE, "vfsecd at %s did not answer within %u ms",
                                  run->socket_path, run->timeout_ms);
    if (!reply)
        return vfsec_hook_problem(run, TRUE, "%s", error->message);
    if (reply->ok)
        return VFSEC_HOOK_EXIT_OK;
    /* vfsecd's own sentence, the reply's error.message, is what the operator
     * sees in virsh. */
    vfsec_hook_print_line(reply->error.message);
    return vfsec_hook_gates(run) ? VFSEC_HOOK_EXIT_FAILED : VFSEC_HOOK_EXIT_OK;
}

int
main(int argc, char **argv)
{
    g_auto(VfsecHookRun) run = { .kind = -1 };
    int rc;

    vfsec_hook_seal_stdout();
    /* vfsecd may close the socket under us: an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    g_log_writer_default_set_use_stderr(TRUE);

    if ((rc = vfsec_hook_parse_args(argc, argv, &run)) != VFSEC_HOOK_CONTINUE)
        return rc;
    if (!vfsec_hook_op_forwarded(run.op))
        return VFSEC_HOOK_EXIT_OK;
    if ((rc = vfsec_hook_check_args(&run)) != VFSEC_HOOK_CONTINUE ||
        (rc = vfsec_hook_take_input(&run)) != VFSEC_HOOK_CONTINUE)
        return rc;
    return vfsec_hook_ask_vfsecd(&run);
}
