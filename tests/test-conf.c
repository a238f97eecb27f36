/* test-conf.c: vfsecd.conf — defaults, every key, every validation rule, and
 * the order of the policy layers. */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "vfsec-conf.h"
#include "vfsec-config.h"
#include "vfsec-error.h"

static char *
conf_path(const char *rel)
{
    return g_build_filename(g_getenv("VFSEC_TEST_DATA"), "conf", rel, NULL);
}

static VfsecConf *
load_good(const char *name)
{
    g_autofree char *rel = g_strconcat("good/", name, NULL);
    g_autofree char *path = conf_path(rel);
    g_autoptr(GError) error = NULL;
    VfsecConf *conf = vfsec_conf_load(path, &error);

    g_assert_no_error(error);
    g_assert_nonnull(conf);
    return conf;
}

static void
assert_error_contains(const GError *error, VfsecErrorCode code, const char *expected)
{
    g_assert_error(error, VFSEC_ERROR, (gint)code);
    if (!strstr(error->message, expected))
        g_error("'%s' does not contain '%s'", error->message, expected);
}

/* ------------------------------------------------------------------ */

static void
test_defaults(void)
{
    g_autoptr(VfsecConf) conf = load_good("minimal.conf");
    g_autofree char *run = g_build_filename(VFSEC_RUNSTATEDIR, "vfsec", NULL);
    g_autofree char *sock = g_build_filename(run, "vfsecd.sock", NULL);
    g_autofree char *macs = g_build_filename(run, "local-macs", NULL);
    g_autofree char *state = g_build_filename(VFSEC_LOCALSTATEDIR, "lib", "vfsec", NULL);
    const VfsecConfPf *pf;

    g_assert_cmpstr(conf->libvirt_uri, ==, "qemu:///system");
    g_assert_cmpstr(conf->run_dir, ==, run);
    g_assert_cmpstr(conf->control_socket, ==, sock);
    g_assert_cmpstr(conf->local_macs_dir, ==, macs);
    g_assert_cmpstr(conf->state_dir, ==, state);
    g_assert_null(conf->control_group);
    g_assert_cmpint(conf->log_level, ==, VFSEC_LOG_LEVEL_MESSAGE);

    g_assert_cmpuint(conf->pf_reclaim_ms, ==, 2000);
    g_assert_cmpuint(conf->daemon_request_ms, ==, 5000);
    g_assert_cmpuint(conf->hook_ms, ==, 10000);
    g_assert_cmpuint(conf->reconnect_min_ms, ==, 500);
    g_assert_cmpuint(conf->reconnect_max_ms, ==, 30000);

    g_assert_cmpuint(conf->config_vid, ==, 4094);
    g_assert_cmpuint(conf->metadata_vid, ==, 4092);
    g_assert_cmpuint(conf->tpid, ==, VFSEC_TPID_8021Q);
    g_assert_cmpuint(conf->pcp, ==, 0);

    g_assert_false(conf->policy.has_trust);
    g_assert_false(conf->policy.has_hairpin);
    g_assert_cmpuint(conf->scopes->len, ==, 0);
    g_assert_true(conf->hook_fail_closed);

    g_assert_cmpuint(conf->pfs->len, ==, 1);
    pf = g_ptr_array_index(conf->pfs, 0);
    g_assert_cmpstr(pf->label, ==, "p0");
    g_assert_cmpint(pf->plugin, ==, VFSEC_PLUGIN_LINUX);
    g_assert_cmpstr(pf->netdev, ==, "ens1f0");
    g_assert_null(pf->socket);
    g_assert_false(pf->hairpin);
    g_assert_true(pf->fail_closed);
    g_assert_false(pf->policy.has_trust);
    g_assert_false(pf->policy.has_hairpin);
    g_assert_true(vfsec_conf_find_pf(conf, "p0") == pf);
    g_assert_null(vfsec_conf_find_pf(conf, "p1"));
    g_assert_null(vfsec_conf_find_pf(conf, NULL));
}

static void
test_every_key(void)
{
    g_autoptr(VfsecConf) conf = load_good("full.conf");
    const VfsecConfScope *scope;
    const VfsecConfPf *pf;

    g_assert_cmpstr(conf->libvirt_uri, ==, "test:///default");
    g_assert_cmpstr(conf->control_socket, ==, "/srv/vfsec/ctl.sock");
    g_assert_cmpstr(conf->control_group, ==, "vfsec-admin");
    g_assert_cmpstr(conf->state_dir, ==, "/srv/vfsec/state");
    g_assert_cmpstr(conf->run_dir, ==, "/srv/vfsec/run");
    g_assert_cmpstr(conf->local_macs_dir, ==, "/srv/vfsec/run/local-macs");
    g_assert_cmpint(conf->log_level, ==, VFSEC_LOG_LEVEL_DEBUG);

    g_assert_cmpuint(conf->pf_reclaim_ms, ==, 1500);
    g_assert_cmpuint(conf->daemon_request_ms, ==, 0x1000);
    g_assert_cmpuint(conf->hook_ms, ==, 8000);
    g_assert_cmpuint(conf->reconnect_min_ms, ==, 250);
    g_assert_cmpuint(conf->reconnect_max_ms, ==, 250);

    g_assert_cmpuint(conf->config_vid, ==, 100);
    g_assert_cmpuint(conf->metadata_vid, ==, 200);
    g_assert_cmpuint(conf->tpid, ==, VFSEC_TPID_8021AD);
    g_assert_cmpuint(conf->pcp, ==, 7);

    g_assert_true(conf->policy.has_trust);
    g_assert_cmpint(conf->policy.trust, ==, VFSEC_TRUST_TRUSTED);
    g_assert_true(conf->policy.has_hairpin);
    g_assert_false(conf->policy.hairpin);

    g_assert_cmpuint(conf->scopes->len, ==, 2);
    scope = g_ptr_array_index(conf->scopes, 0);
    g_assert_cmpstr(scope->network, ==, "sriov-pool");
    g_assert_null(scope->portgroup);
    g_assert_true(scope->policy.has_trust);
    g_assert_cmpint(scope->policy.trust, ==, VFSEC_TRUST_UNTRUSTED);
    g_assert_false(scope->policy.has_hairpin);
    scope = g_ptr_array_index(conf->scopes, 1);
    g_assert_cmpstr(scope->network, ==, "sriov-pool");
    g_assert_cmpstr(scope->portgroup, ==, "tenant-a");
    g_assert_false(scope->policy.has_trust);
    g_assert_true(scope->policy.has_hairpin);
    g_assert_true(scope->policy.hairpin);

    g_assert_cmpuint(conf->pfs->len, ==, 3);
    pf = g_ptr_array_index(conf->pfs, 0);
    g_assert_cmpstr(pf->label, ==, "nic0.p0");
    g_assert_cmpint(pf->plugin, ==, VFSEC_PLUGIN_CONTRACT);
    g_assert_cmpstr(pf->socket, ==, "/run/vfsec-nicsim/pf.sock");
    g_assert_cmpuint(pf->port, ==, 0);
    g_assert_null(pf->netdev);
    g_assert_true(pf->hairpin);
    g_assert_false(pf->fail_closed);
    g_assert_true(pf->policy.has_trust);
    g_assert_cmpint(pf->policy.trust, ==, VFSEC_TRUST_TRUSTED);
    g_assert_true(pf->policy.has_hairpin);
    g_assert_true(pf->policy.hairpin);
    pf = g_ptr_array_index(conf->pfs, 1);
    g_assert_cmpstr(pf->label, ==, "nic0.p1");
    g_assert_cmpstr(pf->socket, ==, "/run/vfsec-nicsim/pf.sock");  /* trailing blanks dropped */
    g_assert_cmpuint(pf->port, ==, 1);
    g_assert_false(pf->hairpin);
    g_assert_true(pf->fail_closed);
    pf = g_ptr_array_index(conf->pfs, 2);
    g_assert_cmpstr(pf->label, ==, "ens2f0");
    g_assert_cmpint(pf->plugin, ==, VFSEC_PLUGIN_LINUX);
    g_assert_cmpstr(pf->netdev, ==, "ens2f0");
    g_assert_false(pf->policy.has_trust);
    g_assert_true(pf->policy.has_hairpin);
    g_assert_false(pf->policy.hairpin);

    g_assert_false(conf->hook_fail_closed);

    /* The reserved VIDs follow the configuration. */
    g_assert_true(vfsec_conf_vid_reserved(conf, 100));
    g_assert_true(vfsec_conf_vid_reserved(conf, 200));
    g_assert_true(vfsec_conf_vid_reserved(conf, 201));
    g_assert_false(vfsec_conf_vid_reserved(conf, 199));
    g_assert_false(vfsec_conf_vid_reserved(conf, 4094));
}

/* The annotated example shipped in xml/samples is a valid configuration. */
static void
test_sample(void)
{
    g_autofree char *path = g_build_filename(g_getenv("VFSEC_SOURCE_DIR"), "xml", "samples",
                                             "vfsecd.conf", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecConf) conf = vfsec_conf_load(path, &error);
    const VfsecConfPf *pf;

    g_assert_no_error(error);
    g_assert_cmpstr(conf->control_group, ==, "vfsec");
    g_assert_cmpuint(conf->pfs->len, ==, 2);
    pf = vfsec_conf_find_pf(conf, "nic0.p0");
    g_assert_nonnull(pf);
    g_assert_cmpint(pf->plugin, ==, VFSEC_PLUGIN_CONTRACT);
    g_assert_true(pf->hairpin);
    pf = vfsec_conf_find_pf(conf, "ens1f0");
    g_assert_nonnull(pf);
    g_assert_cmpint(pf->plugin, ==, VFSEC_PLUGIN_LINUX);
    g_assert_cmpuint(conf->scopes->len, ==, 2);
}

/* ------------------------------------------------------------------ */
/* Every rule: one file per broken rule, the error names group and key. */

typedef struct {
    const char *file;           /* tests/data/conf/bad/<file>.conf */
    VfsecErrorCode code;
    const char *expected;       /* substring of the message */
} BadCase;

static const BadCase bad_cases[] = {
    { "not-keyfile", VFSEC_ERROR_INVALID, "the configuration is not a key file" },
    { "unknown-group", VFSEC_ERROR_INVALID, "unknown group [timeout]" },
    { "unknown-key", VFSEC_ERROR_INVALID, "[timeouts] unknown key 'pf-reclam'" },
    { "unknown-key-pf", VFSEC_ERROR_INVALID, "[pf p0] unknown key 'vf-trusted'" },
    { "unknown-key-locale", VFSEC_ERROR_INVALID, "[policy] unknown key 'trust[de]'" },
    { "unknown-key-hook", VFSEC_ERROR_INVALID, "[hook] unknown key 'timeout'" },
    { "group-twice", VFSEC_ERROR_INVALID, "[pf p0] appears twice (line 7)" },
    { "key-twice", VFSEC_ERROR_INVALID, "[timeouts] hook is set twice (line 4)" },
    { "uri-space", VFSEC_ERROR_INVALID, "[daemon] libvirt-uri='qemu:///system x' contains white space" },
    { "uri-empty", VFSEC_ERROR_INVALID, "[daemon] libvirt-uri is empty" },
    { "state-dir-relative", VFSEC_ERROR_INVALID, "[daemon] state-dir='var/lib/vfsec' is not an absolute path" },
    { "run-dir-relative", VFSEC_ERROR_INVALID, "[daemon] run-dir='./run' is not an absolute path" },
    { "control-socket-long", VFSEC_ERROR_INVALID, "[daemon] control-socket='/run/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.sock' is longer than the 107 bytes of a Unix socket path" },
    { "control-group-bad", VFSEC_ERROR_INVALID, "[daemon] control-group='vfsec admins' is not a group name" },
    { "log-level-bad", VFSEC_ERROR_INVALID, "[daemon] log-level='verbose' is not error, warning, message, info or debug" },
    { "timeout-unit", VFSEC_ERROR_INVALID, "[timeouts] hook='10s' is not a number from 1 to 600000" },
    { "timeout-zero", VFSEC_ERROR_INVALID, "[timeouts] pf-reclaim='0' is not a number from 1 to 600000" },
    { "timeout-negative", VFSEC_ERROR_INVALID, "[timeouts] reconnect-min='-1' is not a number from 1 to 600000" },
    { "timeout-too-long", VFSEC_ERROR_INVALID, "[timeouts] hook='600001' is not a number from 1 to 600000" },
    { "order-reclaim", VFSEC_ERROR_INVALID, "[timeouts] pf-reclaim=6000 must be less than daemon-request=5000" },
    { "order-request", VFSEC_ERROR_INVALID, "[timeouts] daemon-request=10000 must be less than hook=10000" },
    { "order-hook", VFSEC_ERROR_INVALID, "[timeouts] daemon-request=5000 must be less than hook=3000" },
    { "reconnect-order", VFSEC_ERROR_INVALID, "[timeouts] reconnect-min=5000 must not be more than reconnect-max=1000" },
    { "config-vid-4095", VFSEC_ERROR_INVALID, "[tags] config-vid='4095' is not a number from 1 to 4094" },
    { "config-vid-0", VFSEC_ERROR_INVALID, "[tags] config-vid='0' is not a number from 1 to 4094" },
    { "metadata-vid-odd", VFSEC_ERROR_INVALID, "[tags] metadata-vid=4091 must be even (bit 0 is the offload bit)" },
    { "metadata-vid-4094", VFSEC_ERROR_INVALID, "[tags] metadata-vid='4094' is not a number from 2 to 4092" },
    { "config-is-metadata", VFSEC_ERROR_INVALID, "[tags] config-vid=4092 must differ from metadata-vid=4092 and its offload VID 4093" },
    { "config-is-offload", VFSEC_ERROR_INVALID, "[tags] config-vid=101 must differ from metadata-vid=100 and its offload VID 101" },
    { "tpid-case", VFSEC_ERROR_INVALID, "[tags] tpid='802.1q' is not 802.1Q or 802.1ad" },
    { "pcp-8", VFSEC_ERROR_INVALID, "[tags] pcp='8' is not a number from 0 to 7" },
    { "policy-trust", VFSEC_ERROR_INVALID, "[policy] trust='yes' is not untrusted or trusted" },
    { "policy-hairpin", VFSEC_ERROR_INVALID, "[policy] hairpin='yes' is not true or false" },
    { "scope-no-name", VFSEC_ERROR_INVALID, "unknown group [policy network:]" },
    { "scope-word", VFSEC_ERROR_INVALID, "unknown group [policy net:a]" },
    { "scope-extra-word", VFSEC_ERROR_INVALID, "unknown group [policy network:a portgroup:b c]" },
    { "scope-key", VFSEC_ERROR_INVALID, "[policy network:a] unknown key 'vf-trust'" },
    { "scope-value", VFSEC_ERROR_INVALID, "[policy network:a portgroup:b] trust='maybe' is not untrusted or trusted" },
    { "no-pf", VFSEC_ERROR_INVALID, "no [pf LABEL] group: vfsecd needs at least one PF to manage" },
    { "pf-label-slash", VFSEC_ERROR_INVALID, "[pf p/0] PF label 'p/0' is not 1 to 32 of" },
    { "pf-label-dot", VFSEC_ERROR_INVALID, "[pf .p0] PF label '.p0' is not" },
    { "pf-label-empty", VFSEC_ERROR_INVALID, "[pf ] PF label '' is not" },
    { "pf-label-long", VFSEC_ERROR_INVALID, "PF label 'ppppppppppppppppppppppppppppppppp' is not 1 to 32" },
    { "pf-no-plugin", VFSEC_ERROR_INVALID, "[pf p0] plugin is missing (contract or linux)" },
    { "pf-plugin-bad", VFSEC_ERROR_INVALID, "[pf p0] plugin='vendor' is not contract or linux" },
    { "contract-no-socket", VFSEC_ERROR_INVALID, "[pf p0] socket is missing (plugin=contract needs it)" },
    { "contract-netdev", VFSEC_ERROR_INVALID, "[pf p0] netdev does not apply to plugin=contract" },
    { "contract-socket-relative", VFSEC_ERROR_INVALID, "[pf p0] socket='nic.sock' is not an absolute path" },
    { "contract-socket-long", VFSEC_ERROR_INVALID, "[pf p0] socket='/run/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.sock' is longer than the 107 bytes" },
    { "contract-port-range", VFSEC_ERROR_INVALID, "[pf p0] port='65536' is not a number from 0 to 65535" },
    { "linux-no-netdev", VFSEC_ERROR_INVALID, "[pf p0] netdev is missing (plugin=linux needs it)" },
    { "linux-socket", VFSEC_ERROR_INVALID, "[pf p0] socket does not apply to plugin=linux" },
    { "linux-port", VFSEC_ERROR_INVALID, "[pf p0] port does not apply to plugin=linux" },
    { "netdev-long", VFSEC_ERROR_INVALID, "[pf p0] netdev='abcdefghijklmnop' is not a network interface name" },
    { "netdev-slash", VFSEC_ERROR_INVALID, "[pf p0] netdev='ens/1' is not a network interface name" },
    { "pf-hairpin", VFSEC_ERROR_INVALID, "[pf p0] hairpin='yes' is not true or false" },
    { "pf-fail-closed", VFSEC_ERROR_INVALID, "[pf p0] fail-closed='1' is not true or false" },
    { "pf-vf-trust", VFSEC_ERROR_INVALID, "[pf p0] vf-trust='none' is not untrusted or trusted" },
    { "pf-vf-hairpin", VFSEC_ERROR_INVALID, "[pf p0] vf-hairpin='maybe' is not true or false" },
    { "pf-vf-hairpin-veb", VFSEC_ERROR_INVALID, "[pf p0] vf-hairpin=true needs hairpin=true (the port is not put in VEPA mode)" },
    { "dup-netdev", VFSEC_ERROR_CONFLICT, "[pf p1] netdev=ens1f0 is already managed by [pf p0]" },
    { "dup-socket-port", VFSEC_ERROR_CONFLICT, "[pf b] socket=/run/nic.sock port=0 is already managed by [pf a]" },
    { "hook-fail-closed", VFSEC_ERROR_INVALID, "[hook] fail-closed='no' is not true or false" },
};

static void
test_bad(gconstpointer data)
{
    const BadCase *c = data;
    g_autofree char *rel = g_strdup_printf("bad/%s.conf", c->file);
    g_autofree char *path = conf_path(rel);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecConf) conf = NULL;
    gsize len;

    conf = vfsec_conf_load(path, &error);
    g_assert_null(conf);
    assert_error_contains(error, c->code, c->expected);
    /* From a file, the message starts with its path. */
    g_assert_true(g_str_has_prefix(error->message, path));
    g_clear_error(&error);

    /* The same from memory, and a NULL error is allowed. */
    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    g_assert_null(vfsec_conf_load_data(text, len, &error));
    assert_error_contains(error, c->code, c->expected);
    g_assert_null(vfsec_conf_load_data(text, len, NULL));
}

/* Every file in bad/ is in the table (a new rule cannot go untested by a
 * forgotten row) and every row has its file. */
static void
test_bad_table_complete(void)
{
    g_autofree char *dir = conf_path("bad");
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    guint files = 0;

    g_assert_nonnull(d);
    for (const char *name; (name = g_dir_read_name(d));) {
        gboolean listed = FALSE;

        g_assert_true(g_str_has_suffix(name, ".conf"));
        for (guint i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
            g_autofree char *file = g_strconcat(bad_cases[i].file, ".conf", NULL);

            listed = listed || g_str_equal(file, name);
        }
        if (!listed)
            g_error("%s/%s has no row in bad_cases", dir, name);
        files++;
    }
    g_assert_cmpuint(files, ==, G_N_ELEMENTS(bad_cases));
}

static void
test_file_errors(void)
{
    g_autofree char *dir = conf_path("good");
    g_autofree char *missing = conf_path("no-such.conf");
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) big = g_string_new("[pf p0]\nplugin = linux\nnetdev = eth0\n");

    g_assert_null(vfsec_conf_load(missing, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_clear_error(&error);

    /* A directory, or a device such as /dev/zero, is never read. */
    g_assert_null(vfsec_conf_load(dir, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_null(vfsec_conf_load("/dev/zero", &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_clear_error(&error);

    while (big->len <= VFSEC_CONF_MAX)
        g_string_append(big, "# padding padding padding padding padding padding\n");
    g_assert_null(vfsec_conf_load_data(big->str, big->len, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
}

/* A reload builds a new object: a refused file changes nothing in the one
 * already loaded (the daemon keeps it), a good one yields an independent one. */
static void
test_reload(void)
{
    static const char good[] = "[pf p0]\nplugin = linux\nnetdev = eth0\n"
                               "[timeouts]\nhook = 9000\n";
    static const char bad[] = "[pf p0]\nplugin = linux\nnetdev = eth0\n"
                              "[timeouts]\nhook = 4000\n";
    g_autoptr(VfsecConf) running = vfsec_conf_load_data(good, strlen(good), NULL);
    g_autoptr(VfsecConf) reloaded = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(running);
    reloaded = vfsec_conf_load_data(bad, strlen(bad), &error);
    g_assert_null(reloaded);
    assert_error_contains(error, VFSEC_ERROR_INVALID,
                          "[timeouts] daemon-request=5000 must be less than hook=4000");
    g_assert_cmpuint(running->hook_ms, ==, 9000);

    reloaded = vfsec_conf_load_data(good, strlen(good), NULL);
    g_assert_nonnull(reloaded);
    g_assert_true(reloaded != running);
    g_assert_true(reloaded->pfs != running->pfs);
}

/* ------------------------------------------------------------------ */
/* Policy resolution: domain > network+portgroup > network > PF > [policy] >
 * built-in. */

typedef struct {
    const char *pf;
    const char *network;
    const char *portgroup;
    const char *domain;         /* "", "trust", "hairpin" or "both": which fields the
                                 * domain sets (to trusted / false); NULL: no domain */
    VfsecTrust trust;
    gboolean hairpin;
} PolicyCase;

#define U VFSEC_TRUST_UNTRUSTED
#define T VFSEC_TRUST_TRUSTED

static const PolicyCase policy_cases[] = {
    /* One layer after the other. */
    { "p9", NULL, NULL, NULL, T, FALSE },           /* unknown PF: [policy] */
    { "p1", NULL, NULL, NULL, T, FALSE },           /* PF without keys: [policy] */
    { NULL, NULL, NULL, NULL, T, FALSE },
    { "p0", NULL, NULL, NULL, U, TRUE },            /* PF over [policy] */
    { "p0", "net-a", NULL, NULL, T, FALSE },        /* network over PF */
    { "p0", "net-a", "pg-1", NULL, U, TRUE },       /* portgroup over network */
    { "p0", "net-a", "pg-1", "both", T, FALSE },    /* domain over everything */
    { "p0", "net-a", "pg-1", "", U, TRUE },         /* a domain that sets nothing */
    /* Partial layers: each field falls through on its own. */
    { "p0", "net-a", "pg-1", "trust", T, TRUE },
    { "p0", "net-a", "pg-1", "hairpin", U, FALSE },
    { "p0", NULL, NULL, "trust", T, TRUE },
    { "p0", "net-c", "pg-h", NULL, T, FALSE },      /* trust from net-c, hairpin from pg-h */
    { "p0", "net-c", NULL, NULL, T, TRUE },         /* trust from net-c, hairpin from p0 */
    { "p1", "net-c", NULL, NULL, T, FALSE },        /* trust from net-c, hairpin from [policy] */
    /* Scopes that do not apply. */
    { "p0", "net-a", "pg-x", NULL, T, FALSE },      /* unknown portgroup: the network's */
    { "p0", "net-b", "pg-1", NULL, U, TRUE },       /* pg-1 belongs to net-a only */
    { "p0", NULL, "pg-1", NULL, U, TRUE },          /* a portgroup needs its network */
    { "p0", "net-z", NULL, NULL, U, TRUE },
};

static void
test_policy_layers(gconstpointer data)
{
    const PolicyCase *c = data;
    g_autoptr(VfsecConf) conf = load_good("policy-layers.conf");
    VfsecPolicy domain = { 0 };
    VfsecPolicy got;

    if (c->domain && (g_str_equal(c->domain, "trust") || g_str_equal(c->domain, "both"))) {
        domain.has_trust = TRUE;
        domain.trust = VFSEC_TRUST_TRUSTED;
    }
    if (c->domain && (g_str_equal(c->domain, "hairpin") || g_str_equal(c->domain, "both"))) {
        domain.has_hairpin = TRUE;
        domain.hairpin = FALSE;
    }
    got = vfsec_conf_policy_for(conf, c->pf, c->network, c->portgroup,
                                c->domain ? &domain : NULL);
    g_assert_true(got.has_trust);
    g_assert_true(got.has_hairpin);
    g_assert_cmpint(got.trust, ==, c->trust);
    g_assert_cmpint(got.hairpin, ==, c->hairpin);
}

/* With no host layer at all, the built-in defaults; a domain still wins. */
static void
test_policy_builtin(void)
{
    g_autoptr(VfsecConf) conf = load_good("minimal.conf");
    const VfsecPolicy trusted = { .has_trust = TRUE, .trust = VFSEC_TRUST_TRUSTED };
    VfsecPolicy got = vfsec_conf_policy_for(conf, "p0", "net", "pg", NULL);

    g_assert_true(got.has_trust && got.has_hairpin);
    g_assert_cmpint(got.trust, ==, VFSEC_POLICY_DEFAULT_TRUST);
    g_assert_cmpint(got.hairpin, ==, VFSEC_POLICY_DEFAULT_HAIRPIN);
    got = vfsec_conf_policy_for(conf, "p0", NULL, NULL, &trusted);
    g_assert_cmpint(got.trust, ==, VFSEC_TRUST_TRUSTED);
    g_assert_cmpint(got.hairpin, ==, VFSEC_POLICY_DEFAULT_HAIRPIN);
}

/* What the domain parser hands over: written_policy leaves the host layers
 * their say field by field, where the fully merged policy (built-in
 * defaults included) would hide them. */
static void
test_policy_from_domain(void)
{
    static const char xml[] =
        "<domain type='qemu'><name>layered</name><metadata>"
        "<vfsec:policy xmlns:vfsec='" VFSEC_POLICY_NS "'>"
        "<vfsec:interface mac='52:54:00:00:00:02' trust='untrusted'/>"
        "</vfsec:policy></metadata><devices>"
        "<interface type='network'><mac address='52:54:00:00:00:01'/>"
        "<source network='net-a'/></interface>"
        "<interface type='network'><mac address='52:54:00:00:00:02'/>"
        "<source network='net-a'/></interface>"
        "</devices></domain>";
    g_autoptr(VfsecConf) conf = load_good("policy-layers.conf");
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = vfsec_domain_parse_string(xml, -1, &error);
    const VfsecAttachment *plain;
    const VfsecAttachment *override;
    VfsecPolicy got;

    g_assert_no_error(error);
    g_assert_cmpuint(dom->attachments->len, ==, 2);
    plain = g_ptr_array_index(dom->attachments, 0);
    override = g_ptr_array_index(dom->attachments, 1);

    /* Nothing written: [policy network:net-a] decides both fields. */
    got = vfsec_conf_policy_for(conf, "p0", plain->network, plain->portgroup,
                                &plain->written_policy);
    g_assert_cmpint(got.trust, ==, VFSEC_TRUST_TRUSTED);
    g_assert_false(got.hairpin);
    /* The merged view would have kept the built-in defaults instead. */
    got = vfsec_conf_policy_for(conf, "p0", plain->network, plain->portgroup, &plain->policy);
    g_assert_cmpint(got.trust, ==, VFSEC_POLICY_DEFAULT_TRUST);
    g_assert_cmpint(got.hairpin, ==, VFSEC_POLICY_DEFAULT_HAIRPIN);

    /* trust written by the override, hairpin from the network. */
    got = vfsec_conf_policy_for(conf, "p0", override->network, override->portgroup,
                                &override->written_policy);
    g_assert_cmpint(got.trust, ==, VFSEC_TRUST_UNTRUSTED);
    g_assert_false(got.hairpin);
}

static void
test_enums(void)
{
    guint16 tpid = 0;

    for (int i = 0; i < VFSEC_PLUGIN_LAST; i++)
        g_assert_cmpint(vfsec_plugin_kind_from_string(vfsec_plugin_kind_to_string(i)), ==, i);
    for (int i = 0; i < VFSEC_LOG_LEVEL_LAST; i++)
        g_assert_cmpint(vfsec_log_level_from_string(vfsec_log_level_to_string(i)), ==, i);
    g_assert_cmpint(vfsec_plugin_kind_from_string("Linux"), ==, -1);
    g_assert_cmpint(vfsec_log_level_from_string(NULL), ==, -1);
    g_assert_null(vfsec_plugin_kind_to_string(VFSEC_PLUGIN_LAST));
    g_assert_true(vfsec_tpid_from_string("802.1ad", &tpid));
    g_assert_cmpuint(tpid, ==, 0x88a8);
    g_assert_cmpstr(vfsec_tpid_to_string(0x8100), ==, "802.1Q");
    g_assert_null(vfsec_tpid_to_string(0x9100));
    g_assert_false(vfsec_tpid_from_string(NULL, &tpid));

    g_assert_true(vfsec_conf_label_check("p0", NULL));
    g_assert_true(vfsec_conf_label_check("nic_0.port-1", NULL));
    g_assert_false(vfsec_conf_label_check("-p0", NULL));
    g_assert_false(vfsec_conf_label_check("..", NULL));
    g_assert_false(vfsec_conf_label_check("p 0", NULL));
    g_assert_false(vfsec_conf_label_check(NULL, NULL));
}

/* One read, two independent objects; a bad file gives neither. */
static void
test_load_twice(void)
{
    g_autofree char *dir = g_dir_make_tmp("vfsec-conf-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "vfsecd.conf", NULL);
    g_autoptr(VfsecConf) a = NULL;
    g_autoptr(VfsecConf) b = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(path, "[pf p0]\nplugin = contract\n"
                                      "socket = /run/pf.sock\nport = 3\n", -1, NULL));
    a = vfsec_conf_load_twice(path, &b, &error);
    g_assert_no_error(error);
    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_assert_true(a != b && a->pfs != b->pfs);
    g_assert_cmpuint(((VfsecConfPf *)b->pfs->pdata[0])->port, ==, 3);
    g_clear_pointer(&a, vfsec_conf_free);
    g_clear_pointer(&b, vfsec_conf_free);

    g_assert_true(g_file_set_contents(path, "[bogus]\n", -1, NULL));
    a = vfsec_conf_load_twice(path, &b, &error);
    g_assert_null(a);
    g_assert_null(b);
    g_assert_nonnull(error);
    g_assert_true(g_str_has_prefix(error->message, path));
    g_remove(path);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/conf/defaults", test_defaults);
    g_test_add_func("/conf/every-key", test_every_key);
    g_test_add_func("/conf/sample", test_sample);
    for (guint i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autofree char *name = g_strdup_printf("/conf/bad/%s", bad_cases[i].file);

        g_test_add_data_func(name, &bad_cases[i], test_bad);
    }
    g_test_add_func("/conf/bad-table-complete", test_bad_table_complete);
    g_test_add_func("/conf/file-errors", test_file_errors);
    g_test_add_func("/conf/reload", test_reload);
    for (guint i = 0; i < G_N_ELEMENTS(policy_cases); i++) {
        const PolicyCase *c = &policy_cases[i];
        g_autofree char *name = g_strdup_printf("/conf/policy/%u-%s-%s-%s-%s", i,
                                                c->pf ? c->pf : "none",
                                                c->network ? c->network : "none",
                                                c->portgroup ? c->portgroup : "none",
                                                c->domain ? (*c->domain ? c->domain : "empty")
                                                          : "none");

        g_test_add_data_func(name, c, test_policy_layers);
    }
    g_test_add_func("/conf/policy-builtin", test_policy_builtin);
    g_test_add_func("/conf/policy-from-domain", test_policy_from_domain);
    g_test_add_func("/conf/enums", test_enums);
    g_test_add_func("/conf/load-twice", test_load_twice);
    return g_test_run();
}
