/* test-cli.c: vfsecctl as a user runs it — exit codes, one-line errors and the
 * inspect-domain JSON contract (docs/cli.md). */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

typedef struct {
    int status;
    char *out;
    char *err;
} CliResult;

static void
cli_result_clear(CliResult *r)
{
    g_free(r->out);
    g_free(r->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliResult, cli_result_clear)

/* Runs vfsecctl with @argv (NULL-terminated, without argv[0]) and @input on stdin. */
static void
cli_run(CliResult *r, const char *input, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) error = NULL;
    const char *exe = g_getenv("VFSECCTL");

    g_assert_nonnull(exe);
    g_ptr_array_add(argv, (gpointer)exe);
    for (gsize i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);

    proc = g_subprocess_newv((const char *const *)argv->pdata,
                             G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8(proc, input ? input : "", NULL, &r->out, &r->err, &error);
    g_assert_no_error(error);
    g_assert_true(g_subprocess_get_if_exited(proc));
    r->status = g_subprocess_get_exit_status(proc);
}

static char *
sample_path(const char *name)
{
    return g_build_filename(g_getenv("VFSEC_SOURCE_DIR"), "xml", "samples", name, NULL);
}

/* One line on stderr, non-empty, naming @needle. */
static void
assert_one_line_error(const CliResult *r, const char *needle)
{
    g_assert_nonnull(r->err);
    g_assert_cmpuint(strlen(r->err), >, 0);
    g_assert_nonnull(strchr(r->err, '\n'));
    g_assert_cmpstr(strchr(r->err, '\n') + 1, ==, "");
    if (needle && !strstr(r->err, needle))
        g_error("stderr '%s' does not name '%s'", r->err, needle);
}

static void
test_version_help(void)
{
    g_auto(CliResult) v = { 0 };
    g_auto(CliResult) h = { 0 };
    g_auto(CliResult) sub = { 0 };

    cli_run(&v, NULL, (const char *[]){ "--version", NULL });
    g_assert_cmpint(v.status, ==, 0);
    g_assert_true(g_str_has_prefix(v.out, "vfsecctl "));

    cli_run(&h, NULL, (const char *[]){ "--help", NULL });
    g_assert_cmpint(h.status, ==, 0);
    g_assert_nonnull(strstr(h.out, "inspect-domain"));

    cli_run(&sub, NULL, (const char *[]){ "inspect-domain", "--help", NULL });
    g_assert_cmpint(sub.status, ==, 0);
    g_assert_nonnull(strstr(sub.out, "--sysfs-root"));
}

static void
test_usage_errors(void)
{
    static const char *const none[] = { NULL };
    static const char *const unknown[] = { "frobnicate", NULL };
    static const char *const no_file[] = { "inspect-domain", NULL };
    static const char *const two_files[] = { "inspect-domain", "a.xml", "b.xml", NULL };
    static const char *const bad_option[] = { "inspect-domain", "--no-such-option", "a.xml", NULL };
    static const char *const *const cases[] = { none, unknown, no_file, two_files, bad_option };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_auto(CliResult) r = { 0 };
        cli_run(&r, NULL, cases[i]);
        g_assert_cmpint(r.status, ==, 2);
    }
}

static void
test_bad_input(void)
{
    static const struct {
        const char *input;   /* on stdin; NULL: a missing file */
        const char *needle;
    } cases[] = {
        { NULL, "/nonexistent/domain.xml" },
        { "<domain><devices>", "line" },
        { "<network><name>x</name></network>", "network" },
        { "<domain type='qemu'><name>d</name><devices><hostdev mode='subsystem' type='pci'>"
          "<source><address domain='0' bus='0x1ff' slot='0' function='0'/></source>"
          "</hostdev></devices></domain>", "hostdev" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_auto(CliResult) r = { 0 };
        if (cases[i].input)
            cli_run(&r, cases[i].input, (const char *[]){ "inspect-domain", "-", NULL });
        else
            cli_run(&r, NULL, (const char *[]){ "inspect-domain", "/nonexistent/domain.xml", NULL });
        g_assert_cmpint(r.status, ==, 1);
        g_assert_cmpstr(r.out, ==, "");
        assert_one_line_error(&r, cases[i].needle);
    }
}

static const char *const json_keys[] = {
    "kind", "pci", "mac", "vlans", "trunk", "native_vlan", "native_mode", "source_dev",
    "mode", "network", "managed", "policy", "resolved",
};

static JsonArray *
parse_array(JsonParser *parser, const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonNode *root;

    json_parser_load_from_data(parser, text, -1, &error);
    g_assert_no_error(error);
    root = json_parser_get_root(parser);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(root));
    return json_node_get_array(root);
}

/* Every sample parses; its JSON has every contract key with the right type,
 * and "kind" matches the sample's name for the one-form samples. */
static void
test_samples_json(void)
{
    static const char *const samples[] = {
        "interface-hostdev.xml", "hostdev-pci.xml", "interface-direct.xml",
        "interface-network.xml", "policy-overrides.xml",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(samples); i++) {
        g_autofree char *path = sample_path(samples[i]);
        g_auto(CliResult) r = { 0 };
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonArray *arr;
        g_autofree char *kind = g_strndup(samples[i], strlen(samples[i]) - 4);

        cli_run(&r, NULL, (const char *[]){ "inspect-domain", "--json", path, NULL });
        g_assert_cmpint(r.status, ==, 0);
        arr = parse_array(parser, r.out);
        g_assert_cmpuint(json_array_get_length(arr), >, 0);

        for (guint j = 0; j < json_array_get_length(arr); j++) {
            JsonObject *o = json_array_get_object_element(arr, j);
            JsonObject *policy;

            for (gsize k = 0; k < G_N_ELEMENTS(json_keys); k++)
                g_assert_true(json_object_has_member(o, json_keys[k]));
            g_assert_true(JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "vlans")));
            g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(o, "resolved")));
            policy = json_object_get_object_member(o, "policy");
            g_assert_nonnull(policy);
            g_assert_true(g_str_equal(json_object_get_string_member(policy, "trust"), "trusted") ||
                          g_str_equal(json_object_get_string_member(policy, "trust"), "untrusted"));
            if (!g_str_equal(kind, "policy-overrides"))
                g_assert_cmpstr(json_object_get_string_member(o, "kind"), ==, kind);
        }
    }
}

/* The same document on stdin and from a file gives the same JSON. */
static void
test_stdin_equals_file(void)
{
    g_autofree char *path = sample_path("policy-overrides.xml");
    g_autofree char *xml = NULL;
    g_auto(CliResult) a = { 0 };
    g_auto(CliResult) b = { 0 };

    g_assert_true(g_file_get_contents(path, &xml, NULL, NULL));
    cli_run(&a, NULL, (const char *[]){ "inspect-domain", "--json", path, NULL });
    cli_run(&b, xml, (const char *[]){ "inspect-domain", "--json", "-", NULL });
    g_assert_cmpint(a.status, ==, 0);
    g_assert_cmpint(b.status, ==, 0);
    g_assert_cmpstr(a.out, ==, b.out);
}

/* --sysfs-root resolves each VF of the i40e tree (tests/data/sysfs/README.md);
 * a network interface without <actual> is reported unresolved, exit 3. */
static void
test_resolve(void)
{
    static const struct {
        const char *sample;
        int status;
        const char *pf[4];
        int vf[4];
        const char *vf_netdev[4];
    } cases[] = {
        { "policy-overrides.xml", 0, { "ens1f0", "ens1f0", "ens1f0", "ens1f0" },
          { 0, 1, 2, 3 }, { "ens1f0v0", "ens1f0v1", "ens1f0v2", NULL } },
        { "interface-direct.xml", 0, { "ens1f0", "ens1f0" }, { 1, 2 },
          { "ens1f0v1", "ens1f0v2" } },
        { "interface-network.xml", 3, { NULL }, { -1 }, { NULL } },
    };
    g_autofree char *root = g_build_filename(g_getenv("VFSEC_TEST_DATA"), "sysfs", "i40e", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = sample_path(cases[i].sample);
        g_auto(CliResult) r = { 0 };
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonArray *arr;

        cli_run(&r, NULL, (const char *[]){ "inspect-domain", "--json", "--sysfs-root", root,
                                            path, NULL });
        g_assert_cmpint(r.status, ==, cases[i].status);
        arr = parse_array(parser, r.out);
        for (guint j = 0; j < json_array_get_length(arr); j++) {
            JsonObject *o = json_array_get_object_element(arr, j);
            JsonObject *res = json_object_get_object_member(o, "resolved");

            g_assert_nonnull(res);
            if (cases[i].pf[j] == NULL) {
                g_assert_nonnull(strstr(json_object_get_string_member(res, "error"), "sriov-pool"));
                continue;
            }
            g_assert_cmpstr(json_object_get_string_member(res, "pf"), ==, cases[i].pf[j]);
            g_assert_cmpint(json_object_get_int_member(res, "vf"), ==, cases[i].vf[j]);
            g_assert_cmpstr(json_object_get_string_member(res, "vf_netdev"), ==,
                            cases[i].vf_netdev[j]);
        }
    }
}

/* A vfsecd.conf that does not validate: vfsecctl says so, naming the file
 * and the group, before trying the default socket. */
static void
test_bad_config(void)
{
    g_autofree char *dir = g_dir_make_tmp("vfsec-cli-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "vfsecd.conf", NULL);
    g_auto(CliResult) r = { 0 };

    g_assert_true(g_file_set_contents(path, "[bogus]\nkey = 1\n", -1, NULL));
    g_setenv("VFSEC_CONFIG", path, TRUE);
    cli_run(&r, NULL, (const char *[]){ "status", NULL });
    g_unsetenv("VFSEC_CONFIG");
    g_assert_cmpint(r.status, !=, 0);
    g_assert_true(g_str_has_prefix(r.err, "vfsecctl: warning: "));
    g_assert_nonnull(strstr(r.err, path));
    g_assert_nonnull(strstr(r.err, "[bogus]"));
    g_remove(path);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/version-help", test_version_help);
    g_test_add_func("/cli/usage-errors", test_usage_errors);
    g_test_add_func("/cli/bad-input", test_bad_input);
    g_test_add_func("/cli/samples-json", test_samples_json);
    g_test_add_func("/cli/stdin-equals-file", test_stdin_equals_file);
    g_test_add_func("/cli/resolve", test_resolve);
    g_test_add_func("/cli/bad-config", test_bad_config);
    return g_test_run();
}
