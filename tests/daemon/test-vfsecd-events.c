/* test-vfsecd-events.c: vfsecd's libvirt event path — libvirt's test driver
 * in a private libvirtd (tools/libvirt-sandbox), domains defined, started
 * and destroyed with virsh (no hooks run), the NIC emulator's state checked;
 * and a vfsecd killed while its domain stops, whose restart reconciles.
 *
 * The parent process starts the sandbox, holds one connection to the test
 * driver (its state lives as long as one connection does) and always stops
 * the sandbox; each test case runs in a subprocess. */
#include <libvirt/libvirt.h>
#include <signal.h>
#include <string.h>

#include "daemon-fixture.h"
#include "vfsec-journal.h"
#include "vfsec-test-util.h"

#define MAC_E "52:54:00:ee:00:01"
#define MAC_K "52:54:00:ee:00:02"
#define MAC_L "52:54:00:ee:00:03"
#define MAC_D "52:54:00:ee:00:04"
#define MAC_R "52:54:00:ee:00:07"
#define MAC_P "52:54:00:ee:00:08"

static char *sandbox_dir;
static char *test_uri;
static virConnectPtr keep;     /* parent: keeps the test driver's state */

static void sandbox_teardown(void);

static void
virsh(const char *first, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *err = NULL;
    const char *arg;
    va_list ap;

    g_ptr_array_add(argv, (char *)"virsh");
    g_ptr_array_add(argv, (char *)"-q");
    g_ptr_array_add(argv, (char *)"-c");
    g_ptr_array_add(argv, test_uri);
    va_start(ap, first);
    for (arg = first; arg; arg = va_arg(ap, const char *))
        g_ptr_array_add(argv, (char *)arg);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    if (vfsec_test_run((const char *const *)argv->pdata, NULL, &err) != 0)
        g_error("virsh %s: %s", first, err);
}

static char *
write_domain(DaemonFixture *fx, const char *name, const char *uuid, guint vf, const char *mac)
{
    g_autofree char *xml = daemon_domain_xml(fx, name, uuid, vf, mac);
    char *path = g_strdup_printf("%s/%s.xml", fx->dir, name);

    g_assert_true(g_file_set_contents(path, xml, -1, NULL));
    return path;
}

static gboolean
is_published(DaemonFixture *fx, gconstpointer mac)
{
    return daemon_nic_published(fx, mac) && daemon_macfile_has(fx, mac);
}

static gboolean
is_unpublished(DaemonFixture *fx, gconstpointer mac)
{
    return !daemon_nic_published(fx, mac) && !daemon_macfile_has(fx, mac);
}

/* The emulator's VF 1 carries the quarantine settings. */
static gboolean
vf1_quarantined(DaemonFixture *fx, gconstpointer data)
{
    g_autoptr(JsonObject) row = daemon_nic_vf(fx, 1);
    JsonObject *tag = json_object_get_object_member(row, "port_tag");

    return tag && json_object_get_int_member(tag, "vid") == 4092 &&
           !json_object_get_boolean_member(row, "trust") &&
           json_object_get_boolean_member(row, "spoofchk");
}

static gboolean
vf_clean(DaemonFixture *fx, gconstpointer vf)
{
    return daemon_nic_vf_sas(fx, GPOINTER_TO_UINT(vf)) == 0;
}

static gboolean
no_domain(DaemonFixture *fx, gconstpointer name)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "domains");
    JsonArray *rows = json_object_get_array_member(json_node_get_object(node), "domains");

    for (guint i = 0; i < json_array_get_length(rows); i++)
        if (g_strcmp0(json_object_get_string_member(json_array_get_object_element(rows, i),
                                                    "name"),
                      name) == 0)
            return FALSE;
    return TRUE;
}

/* 3: define + start → quarantine and publish from the events alone;
 * destroy → reclaim and unpublish; undefine → no trace. */
static void
run_event_path(void)
{
    DaemonFixture *fx = daemon_start(test_uri);
    g_autofree char *xml = write_domain(fx, "vfsecd-ev", "6d3bf2a0-1b1c-4c55-9d5e-0000000e0001",
                                        1, MAC_E);

    virsh("define", xml, NULL);
    virsh("start", "vfsecd-ev", NULL);
    g_assert_true(daemon_wait_for(fx, vf1_quarantined, NULL, NICSIM_WAIT_MS));
    g_assert_true(daemon_wait_for(fx, is_published, MAC_E, NICSIM_WAIT_MS));
    /* Owned by the domain, not merely quarantined as every free VF is. */
    g_assert_false(no_domain(fx, "vfsecd-ev"));

    daemon_nic_untag_add_sas(fx, 1, 3, 9000);
    virsh("destroy", "vfsecd-ev", NULL);
    g_assert_true(daemon_wait_for(fx, is_unpublished, MAC_E, NICSIM_WAIT_MS));
    g_assert_true(daemon_wait_for(fx, vf_clean, GUINT_TO_POINTER(1), NICSIM_WAIT_MS));

    virsh("undefine", "vfsecd-ev", NULL);
    g_assert_true(daemon_wait_for(fx, no_domain, "vfsecd-ev", NICSIM_WAIT_MS));
    daemon_stop(fx);
}

/* 4: vfsecd is killed while the domain runs, the domain is destroyed
 * meanwhile, and the restarted vfsecd's reconcile cleans up before ready. */
static void
run_killed_daemon(void)
{
    DaemonFixture *fx = daemon_start(test_uri);
    g_autofree char *xml = write_domain(fx, "vfsecd-kill", "6d3bf2a0-1b1c-4c55-9d5e-0000000e0002",
                                        2, MAC_K);

    virsh("define", xml, NULL);
    virsh("start", "vfsecd-kill", NULL);
    g_assert_true(daemon_wait_for(fx, is_published, MAC_K, NICSIM_WAIT_MS));
    daemon_nic_untag_add_sas(fx, 2, 4, 11000);

    g_assert_cmpint(daemon_kill(fx, SIGKILL), ==, -1);
    virsh("destroy", "vfsecd-kill", NULL);
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 2), ==, 4);
    g_assert_true(daemon_nic_published(fx, MAC_K));

    /* Ready is written after the first reconcile: no waiting needed. */
    daemon_launch(fx);
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 2), ==, 0);
    g_assert_false(daemon_nic_published(fx, MAC_K));
    g_assert_false(daemon_macfile_has(fx, MAC_K));
    virsh("undefine", "vfsecd-kill", NULL);
    daemon_stop(fx);
}

static gboolean
vf1_has_job(DaemonFixture *fx, gconstpointer data)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "vfs");
    JsonArray *rows = json_object_get_array_member(json_node_get_object(node), "vfs");

    (void)data;
    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);

        if (json_object_get_int_member(row, "vf") == 1)
            return json_object_get_int_member(row, "jobs") >= 1;
    }
    return FALSE;
}

/* The journal's pending intents for VF 1 of nic0 (vfsecd must not run). */
static guint
pending_vf1(DaemonFixture *fx)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecJournal) journal = vfsec_journal_open(fx->state_dir, NULL, &error);
    g_autoptr(GPtrArray) pending = NULL;
    guint n = 0;

    g_assert_no_error(error);
    pending = vfsec_journal_list_pending(journal);
    for (guint i = 0; i < pending->len; i++) {
        const VfsecJournalOp *op = pending->pdata[i];

        if (g_str_equal(op->pf, "nic0") && op->vf == 1)
            n++;
    }
    return n;
}

/* 4b: vfsecd is killed in the middle of a release: the domain was
 * destroyed, the reclaim of its VF is in flight (the emulator holds the
 * agent's answer) and its intent is in the journal. The restarted vfsecd
 * finishes it: the VF ends with no SAs, unowned, unpublished, and no
 * intent left pending. SAs added after the kill stand for whatever the
 * dead vfsecd never saw confirmed. */
static void
run_killed_mid_release(void)
{
    DaemonFixture *fx = daemon_new(test_uri);
    g_autofree char *xml = NULL;

    daemon_write_config(fx, "pf-reclaim = 8000\ndaemon-request = 16000\nhook = 30000\n", TRUE);
    daemon_launch(fx);
    xml = write_domain(fx, "vfsecd-mid", "6d3bf2a0-1b1c-4c55-9d5e-0000000e0009", 1, MAC_D);
    virsh("define", xml, NULL);
    virsh("start", "vfsecd-mid", NULL);
    g_assert_true(daemon_wait_for(fx, is_published, MAC_D, NICSIM_WAIT_MS));
    daemon_nic_untag_add_sas(fx, 1, 4, 13000);
    nicsim_ctl_do(fx->nic, "gate-hold", "{\"port\": 0, \"vf\": 1}");
    virsh("destroy", "vfsecd-mid", NULL);
    g_assert_true(daemon_wait_for(fx, vf1_has_job, NULL, NICSIM_WAIT_MS));

    g_assert_cmpint(daemon_kill(fx, SIGKILL), ==, -1);
    g_assert_cmpuint(pending_vf1(fx), >=, 1);           /* killed mid-operation */
    nicsim_ctl_do(fx->nic, "gate-release", "{\"port\": 0, \"vf\": 1}");
    daemon_nic_untag_add_sas(fx, 1, 2, 14000);

    daemon_launch(fx);                                  /* ready after its reconcile */
    g_assert_cmpuint(daemon_nic_vf_sas(fx, 1), ==, 0);
    g_assert_false(daemon_nic_published(fx, MAC_D));
    g_assert_false(daemon_macfile_has(fx, MAC_D));
    g_assert_true(vf1_quarantined(fx, NULL));
    g_assert_cmpint(daemon_kill(fx, SIGTERM), ==, 0);
    g_assert_cmpuint(pending_vf1(fx), ==, 0);
    virsh("undefine", "vfsecd-mid", NULL);
    daemon_stop(fx);
}

static gboolean
libvirt_connected(DaemonFixture *fx, gconstpointer data)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "status");

    return json_object_get_boolean_member(json_node_get_object(node), "libvirt_connected");
}

/* vfsecd started while libvirtd is not there: it is ready anyway (the hook
 * path needs no libvirt), retries with back-off, and once libvirtd appears
 * its events drive the engine. The socket "appears" as a symlink to the
 * sandbox's. */
static void
run_late_libvirt(void)
{
    g_autofree char *dir = vfsec_test_make_dir("vfsecd-late");
    g_autofree char *link = g_build_filename(dir, "lv.sock", NULL);
    g_autofree char *uri = g_strdup_printf("test+unix:///default?socket=%s", link);
    const char *real = strstr(test_uri, "socket=") + strlen("socket=");
    DaemonFixture *fx = daemon_start(uri);
    g_autofree char *xml = write_domain(fx, "vfsecd-late", "6d3bf2a0-1b1c-4c55-9d5e-0000000e0003",
                                        3, MAC_L);

    g_assert_false(libvirt_connected(fx, NULL));
    g_assert_cmpint(symlink(real, link), ==, 0);
    g_assert_true(daemon_wait_for(fx, libvirt_connected, NULL, NICSIM_WAIT_MS));
    virsh("define", xml, NULL);
    virsh("start", "vfsecd-late", NULL);
    g_assert_true(daemon_wait_for(fx, is_published, MAC_L, NICSIM_WAIT_MS));
    virsh("destroy", "vfsecd-late", NULL);
    g_assert_true(daemon_wait_for(fx, is_unpublished, MAC_L, NICSIM_WAIT_MS));
    virsh("undefine", "vfsecd-late", NULL);
    daemon_stop(fx);
    g_assert_cmpint(unlink(link), ==, 0);
    vfsec_test_remove_dir(dir);
}

/* The domains row of @name with a problem containing @needle. */
typedef struct {
    const char *name;
    const char *needle;
} ProblemQuery;

static gboolean
has_problem(DaemonFixture *fx, gconstpointer data)
{
    const ProblemQuery *q = data;
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "domains");
    JsonArray *rows = json_object_get_array_member(json_node_get_object(node), "domains");

    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);
        JsonArray *problems = json_object_get_array_member(row, "problems");

        if (g_strcmp0(json_object_get_string_member(row, "name"), q->name) != 0)
            continue;
        if (!q->needle)
            return json_object_get_boolean_member(row, "defined") &&
                   json_array_get_length(problems) == 0;
        for (guint k = 0; k < json_array_get_length(problems); k++)
            if (strstr(json_array_get_string_element(problems, k), q->needle))
                return TRUE;
    }
    return FALSE;
}

/* DEFINED: what would make a start fail is recorded per defined domain and
 * shown by vfsecctl domains; UNDEFINED forgets it. */
static void
run_defined(void)
{
    DaemonFixture *fx = daemon_start(test_uri);
    g_autofree char *xml_a = write_domain(fx, "vfsecd-def-a",
                                          "6d3bf2a0-1b1c-4c55-9d5e-0000000e0011", 1, MAC_D);
    g_autofree char *xml_b = write_domain(fx, "vfsecd-def-b",
                                          "6d3bf2a0-1b1c-4c55-9d5e-0000000e0012", 1,
                                          "52:54:00:ee:00:05");
    g_autofree char *xml_c = write_domain(fx, "vfsecd-def-c",
                                          "6d3bf2a0-1b1c-4c55-9d5e-0000000e0013", 2, MAC_D);
    g_autofree char *xml_d = write_domain(fx, "vfsecd-def-d",
                                          "6d3bf2a0-1b1c-4c55-9d5e-0000000e0014", 3,
                                          "52:54:00:ee:00:06");
    g_autofree char *text_d = NULL;
    g_autofree char *vf3 = nicsim_vf_name(fx->nic, 3);
    g_autofree char *out = NULL;
    const ProblemQuery a_clean = { "vfsecd-def-a", NULL };
    const ProblemQuery b_owned = { "vfsecd-def-b", "is owned by running domain vfsecd-def-a" };
    const ProblemQuery c_key = { "vfsecd-def-c", "collides with domain vfsecd-def-a" };
    const ProblemQuery d_unmanaged = { "vfsecd-def-d", "netdev lo is not a VF of a managed PF" };

    /* D's interface sits on a netdev no managed PF has. */
    g_assert_true(g_file_get_contents(xml_d, &text_d, NULL, NULL));
    {
        g_autofree char *needle = g_strdup_printf("dev='%s'", vf3);
        g_auto(GStrv) parts = g_strsplit(text_d, needle, 2);
        g_autofree char *edited = g_strjoinv("dev='lo'", parts);

        g_assert_nonnull(parts[1]);
        g_assert_true(g_file_set_contents(xml_d, edited, -1, NULL));
    }

    virsh("define", xml_a, NULL);
    g_assert_true(daemon_wait_for(fx, has_problem, &a_clean, NICSIM_WAIT_MS));
    virsh("start", "vfsecd-def-a", NULL);
    g_assert_true(daemon_wait_for(fx, is_published, MAC_D, NICSIM_WAIT_MS));
    virsh("define", xml_b, NULL);
    virsh("define", xml_c, NULL);
    virsh("define", xml_d, NULL);
    g_assert_true(daemon_wait_for(fx, has_problem, &b_owned, NICSIM_WAIT_MS));
    g_assert_true(daemon_wait_for(fx, has_problem, &c_key, NICSIM_WAIT_MS));
    g_assert_true(daemon_wait_for(fx, has_problem, &d_unmanaged, NICSIM_WAIT_MS));
    g_assert_true(has_problem(fx, &a_clean));   /* its own VF is no problem */
    /* The human form says it too. */
    g_assert_cmpint(daemon_ctl(fx, &out, NULL, "domains", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "would not start: VF"));

    /* Once A is gone, B's and C's problems are too (checked at each query). */
    virsh("destroy", "vfsecd-def-a", NULL);
    g_assert_true(daemon_wait_for(fx, is_unpublished, MAC_D, NICSIM_WAIT_MS));
    g_assert_false(has_problem(fx, &b_owned));
    g_assert_false(has_problem(fx, &c_key));

    for (guint i = 0; i < 4; i++) {
        g_autofree char *name = g_strdup_printf("vfsecd-def-%c", 'a' + i);

        virsh("undefine", name, NULL);
        g_assert_true(daemon_wait_for(fx, no_domain, name, NICSIM_WAIT_MS));
    }
    daemon_stop(fx);
}

static gboolean
pf_connected(DaemonFixture *fx, gconstpointer want)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "status");
    JsonArray *pfs = json_object_get_array_member(json_node_get_object(node), "pfs");

    return json_object_get_boolean_member(json_array_get_object_element(pfs, 0), "connected") ==
           GPOINTER_TO_INT(want);
}

static gboolean
has_refusal(DaemonFixture *fx, gconstpointer name)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "domains");
    JsonArray *rows = json_object_get_array_member(json_node_get_object(node), "domains");

    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);

        if (g_strcmp0(json_object_get_string_member(row, "name"), name) == 0)
            return json_object_get_string_member_with_default(row, "refusal", NULL) != NULL;
    }
    return FALSE;
}

static gboolean
vf1_owned_by(DaemonFixture *fx, gconstpointer name)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "vfs");
    JsonArray *rows = json_object_get_array_member(json_node_get_object(node), "vfs");

    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);

        if (json_object_get_int_member(row, "vf") == 1)
            return g_strcmp0(json_object_get_string_member(row, "owner"), name) == 0;
    }
    return FALSE;
}

/* A domain starts while the PF driver is away (its STARTED cannot reach the
 * driver: refused, nothing claimed). When the driver comes back, the plugin's
 * RECONNECTED makes vfsecd reconcile with libvirt's running domains: the
 * domain is adopted and its MAC published — a reconcile on the registry
 * alone could not know it runs. */
static void
run_pf_reconnect(void)
{
    DaemonFixture *fx = daemon_start(test_uri);
    g_autofree char *xml = write_domain(fx, "vfsecd-pf", "6d3bf2a0-1b1c-4c55-9d5e-0000000e0031",
                                        1, MAC_P);

    virsh("define", xml, NULL);
    g_assert_cmpint(nicsim_terminate(fx->nic, SIGTERM), ==, 0);
    g_assert_true(daemon_wait_for(fx, pf_connected, GINT_TO_POINTER(FALSE), NICSIM_WAIT_MS));
    virsh("start", "vfsecd-pf", NULL);
    g_assert_true(daemon_wait_for(fx, has_refusal, "vfsecd-pf", NICSIM_WAIT_MS));
    g_assert_false(vf1_owned_by(fx, "vfsecd-pf"));

    nicsim_restart(fx->nic);
    g_assert_true(daemon_wait_for(fx, vf1_owned_by, "vfsecd-pf", NICSIM_WAIT_MS * 2));
    g_assert_true(daemon_wait_for(fx, is_published, MAC_P, NICSIM_WAIT_MS));
    g_assert_true(daemon_wait_for(fx, vf1_quarantined, NULL, NICSIM_WAIT_MS));

    virsh("destroy", "vfsecd-pf", NULL);
    g_assert_true(daemon_wait_for(fx, is_unpublished, MAC_P, NICSIM_WAIT_MS));
    virsh("undefine", "vfsecd-pf", NULL);
    daemon_stop(fx);
}

static gboolean
libvirt_reconnected(DaemonFixture *fx, gconstpointer data)
{
    g_autoptr(JsonNode) node = daemon_ctl_json(fx, "status");
    JsonObject *libvirt = json_object_get_object_member(json_node_get_object(node), "libvirt");

    (void)data;
    return json_object_get_boolean_member(libvirt, "connected") &&
           json_object_get_int_member(libvirt, "reconnects") >= 1;
}

static gboolean
libvirt_lost(DaemonFixture *fx, gconstpointer data)
{
    return !libvirt_connected(fx, data);
}

/* Starts the sandbox's libvirtd again, in the sandbox's mount namespace
 * (its virtlogd still runs there). */
static void
sandbox_restart_libvirtd(void)
{
    g_autofree char *pidfile = g_build_filename(sandbox_dir, "run", "libvirtd.pid", NULL);
    const char *argv[] = { vfsec_test_env("VFSEC_SANDBOX"), "exec", sandbox_dir, "env", "-i",
                           "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "libvirtd", "-d",
                           "-p", pidfile, "-f", "/etc/libvirt/libvirtd.conf", NULL };
    g_autofree char *err = NULL;

    unlink(pidfile);
    if (vfsec_test_run(argv, NULL, &err) != 0)
        g_error("restarting libvirtd: %s", err);
}

/* libvirtd dies under a running vfsecd and comes back: the close callback
 * and the back-off reconnect re-register every callback and reconcile, and
 * the next define/start/destroy is handled. (Runs last: the parent's own
 * connection to the test driver dies with libvirtd.) */
static void
run_libvirt_reconnect(void)
{
    DaemonFixture *fx = daemon_start(test_uri);
    g_autofree char *pidfile = g_build_filename(sandbox_dir, "run", "libvirtd.pid", NULL);
    g_autofree char *pidtext = NULL;
    g_autofree char *xml = write_domain(fx, "vfsecd-rc", "6d3bf2a0-1b1c-4c55-9d5e-0000000e0021",
                                        1, MAC_R);
    virConnectPtr hold;
    pid_t pid;

    g_assert_true(daemon_wait_for(fx, libvirt_connected, NULL, NICSIM_WAIT_MS));
    g_assert_true(g_file_get_contents(pidfile, &pidtext, NULL, NULL));
    pid = (pid_t)g_ascii_strtoll(pidtext, NULL, 10);
    g_assert_cmpint(pid, >, 1);
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    g_assert_true(daemon_wait_for(fx, libvirt_lost, NULL, NICSIM_WAIT_MS));

    sandbox_restart_libvirtd();
    g_assert_true(daemon_wait_for(fx, libvirt_reconnected, NULL, NICSIM_WAIT_MS * 2));
    /* The new test driver's state lives while a connection is open. */
    hold = virConnectOpen(test_uri);
    g_assert_nonnull(hold);

    virsh("define", xml, NULL);
    virsh("start", "vfsecd-rc", NULL);
    g_assert_true(daemon_wait_for(fx, vf1_quarantined, NULL, NICSIM_WAIT_MS));
    g_assert_true(daemon_wait_for(fx, is_published, MAC_R, NICSIM_WAIT_MS));
    daemon_nic_untag_add_sas(fx, 1, 2, 13000);
    virsh("destroy", "vfsecd-rc", NULL);
    g_assert_true(daemon_wait_for(fx, is_unpublished, MAC_R, NICSIM_WAIT_MS));
    g_assert_true(daemon_wait_for(fx, vf_clean, GUINT_TO_POINTER(1), NICSIM_WAIT_MS));
    virsh("undefine", "vfsecd-rc", NULL);
    daemon_stop(fx);
    virConnectClose(hold);
}

/* Runs the case @data (a GTestFunc) in a subprocess: an assertion there
 * must not keep the parent from stopping the sandbox. */
static void
test_in_subprocess(gconstpointer data)
{
    if (g_test_subprocess()) {
        ((GTestFunc)data)();
        return;
    }
    g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDOUT |
                                                           G_TEST_SUBPROCESS_INHERIT_STDERR);
    if (!g_test_trap_has_passed()) {
        /* A failed case aborts this process (no --keep-going): stop the
         * sandbox first, nothing else would. */
        sandbox_teardown();
        g_test_fail();
    }
}

/* Starts the sandbox; returns FALSE (having said why) when it cannot. */
static gboolean
sandbox_start(void)
{
    const char *tool = vfsec_test_env("VFSEC_SANDBOX");
    const char *argv[] = { tool, "start", NULL, NULL };
    g_autofree char *env = NULL;
    g_autofree char *err = NULL;
    g_autofree char *path = NULL;
    char *line;

    sandbox_dir = g_dir_make_tmp("vfsecd-sbx-XXXXXX", NULL);
    g_assert_nonnull(sandbox_dir);
    argv[2] = sandbox_dir;
    if (vfsec_test_run(argv, NULL, &err) != 0) {
        g_printerr("libvirt-sandbox start: %s\n", err);
        return FALSE;
    }
    path = g_build_filename(sandbox_dir, "uris.env", NULL);
    g_assert_true(g_file_get_contents(path, &env, NULL, NULL));
    line = strstr(env, "LIBVIRT_SANDBOX_TEST_URI='");
    g_assert_nonnull(line);
    line += strlen("LIBVIRT_SANDBOX_TEST_URI='");
    test_uri = g_strndup(line, strcspn(line, "'"));
    return TRUE;
}

static void
sandbox_stop(void)
{
    const char *argv[] = { vfsec_test_env("VFSEC_SANDBOX"), "stop", sandbox_dir, NULL };
    const char *rm[] = { "rm", "-rf", "--", sandbox_dir, NULL };

    if (vfsec_test_run(argv, NULL, NULL) != 0)
        g_printerr("libvirt-sandbox stop %s failed\n", sandbox_dir);
    else
        vfsec_test_run(rm, NULL, NULL);
}

/* Closes our connection and stops the sandbox, once. */
static void
sandbox_teardown(void)
{
    if (!keep)
        return;
    virConnectClose(keep);
    keep = NULL;
    sandbox_stop();
}

int
main(int argc, char **argv)
{
    int status;

    g_autofree char *libvirtd = NULL;
    g_autofree char *virsh_path = NULL;

    g_test_init(&argc, &argv, NULL);
    daemon_require();
    /* libvirt-reconnect kills libvirtd: closing our own connection to it
     * then writes to a dead socket. */
    signal(SIGPIPE, SIG_IGN);
    if (!g_test_subprocess()) {
        libvirtd = g_find_program_in_path("libvirtd");
        virsh_path = g_find_program_in_path("virsh");
        if (!libvirtd || !virsh_path)
            vfsec_test_skip_all("libvirtd or virsh is not installed (tools/install-deps)");
        if (!sandbox_start()) {
            sandbox_stop();
            return 1;
        }
        /* The test driver's state lives while one connection is open. */
        keep = virConnectOpen(test_uri);
        if (!keep) {
            sandbox_stop();
            g_error("cannot connect to %s", test_uri);
        }
        g_setenv("VFSECD_TEST_URI", test_uri, TRUE);
        g_setenv("VFSECD_TEST_SANDBOX", sandbox_dir, TRUE);
    } else {
        test_uri = g_strdup(g_getenv("VFSECD_TEST_URI"));
        sandbox_dir = g_strdup(g_getenv("VFSECD_TEST_SANDBOX"));
    }
    g_test_add_data_func("/vfsecd/event-path", run_event_path, test_in_subprocess);
    g_test_add_data_func("/vfsecd/killed-daemon", run_killed_daemon, test_in_subprocess);
    g_test_add_data_func("/vfsecd/killed-mid-release", run_killed_mid_release,
                         test_in_subprocess);
    g_test_add_data_func("/vfsecd/late-libvirt", run_late_libvirt, test_in_subprocess);
    g_test_add_data_func("/vfsecd/defined", run_defined, test_in_subprocess);
    g_test_add_data_func("/vfsecd/pf-reconnect", run_pf_reconnect, test_in_subprocess);
    /* Last: it kills libvirtd, and with it the parent's connection. */
    g_test_add_data_func("/vfsecd/libvirt-reconnect", run_libvirt_reconnect,
                         test_in_subprocess);
    status = g_test_run();
    sandbox_teardown();
    return status;
}
