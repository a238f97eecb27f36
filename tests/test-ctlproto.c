/* test-ctlproto.c: the control protocol codec — round trips, every invalid
 * field and line refused with an error naming it, the op tables, the
 * client's connect errors, and the blocking client against vfsecd's server
 * (VfsecJsonlServer speaking this protocol). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "vfsec-ctlproto.h"

/* Fails with both texts when @error is not @code or lacks @expected. */
static void
assert_error_contains(const GError *error, VfsecErrorCode code, const char *expected)
{
    g_assert_nonnull(error);
    if (error->domain != VFSEC_ERROR || error->code != (gint)code || !strstr(error->message, expected))
        g_error("got \"%s\" (code %d), expected code %d containing \"%s\"", error->message,
                error->code, (int)code, expected);
}

static VfsecCtlRequest *
hook_request(VfsecHookKind kind, VfsecHookOp op, VfsecHookSubop subop, const char *name,
             const char *extra, const char *xml)
{
    VfsecCtlRequest *req = vfsec_ctl_request_new(VFSEC_CTL_OP_HOOK);

    req->id = 42;
    req->hook.kind = kind;
    req->hook.op = op;
    req->hook.subop = subop;
    req->hook.name = g_strdup(name);
    req->hook.extra = g_strdup(extra);
    req->hook.xml = g_strdup(xml);
    req->hook.timeout_ms = 10000;
    return req;
}

/* Builds @req, checks the line's shape and parses it back. */
static VfsecCtlRequest *
request_round_trip(const VfsecCtlRequest *req)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    VfsecCtlRequest *back;
    gint64 id = -2;
    gsize len = 0;

    line = vfsec_ctl_request_build(req, &len, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(len, ==, strlen(line));
    g_assert_true(g_str_has_suffix(line, "\n"));
    g_assert_null(memchr(line, '\n', len - 1));
    back = vfsec_ctl_request_parse(line, len - 1, &id, &error);
    g_assert_no_error(error);
    g_assert_cmpint(id, ==, (gint64)req->id);
    g_assert_cmpuint(back->id, ==, req->id);
    g_assert_cmpint(back->op, ==, req->op);
    return back;
}

static void
test_request_hook_round_trip(void)
{
    /* Text that needs escaping: quotes, backslash, newline, tab, non-ASCII,
     * a character outside the BMP and DEL. */
    static const char xml[] =
        "<domain type='qemu'>\n\t<name>vm \"1\" \\ é 𝄞 \x7f</name>\n</domain>\n";

    for (guint op = 0; op < VFSEC_HOOK_OP_LAST; op++) {
        VfsecHookKind kind = vfsec_hook_op_kind(op);

        for (guint subop = 0; subop < VFSEC_HOOK_SUBOP_LAST; subop++) {
            g_autoptr(VfsecCtlRequest) req =
                hook_request(kind, op, subop, "vm-ä 1", subop == VFSEC_HOOK_SUBOP_END ?
                             "destroyed" : "-", xml);
            g_autoptr(VfsecCtlRequest) back = request_round_trip(req);

            g_assert_cmpint(back->hook.kind, ==, kind);
            g_assert_cmpint(back->hook.op, ==, op);
            g_assert_cmpint(back->hook.subop, ==, subop);
            g_assert_cmpstr(back->hook.name, ==, req->hook.name);
            g_assert_cmpstr(back->hook.extra, ==, req->hook.extra);
            g_assert_cmpstr(back->hook.xml, ==, xml);
            g_assert_cmpuint(back->hook.timeout_ms, ==, 10000);
        }
    }
}

static void
test_request_hook_exact_line(void)
{
    g_autoptr(VfsecCtlRequest) req = hook_request(VFSEC_HOOK_KIND_NETWORK,
                                                  VFSEC_HOOK_OP_NETWORK_PORT_CREATED,
                                                  VFSEC_HOOK_SUBOP_BEGIN, "pool", "-",
                                                  "<hookData/>");
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;

    req->id = 7;
    req->hook.timeout_ms = 0;  /* not said: left out */
    line = vfsec_ctl_request_build(req, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(line, ==,
                    "{\"v\":1,\"id\":7,\"op\":\"hook\",\"args\":{\"kind\":\"network\","
                    "\"name\":\"pool\",\"op\":\"port-created\",\"subop\":\"begin\","
                    "\"extra\":\"-\",\"xml\":\"<hookData/>\"}}\n");
}

static void
test_request_cli_round_trip(void)
{
    static const VfsecCtlOp plain[] = {
        VFSEC_CTL_OP_STATUS, VFSEC_CTL_OP_VFS, VFSEC_CTL_OP_DOMAINS, VFSEC_CTL_OP_RECONCILE,
    };
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(plain); i++) {
        g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(plain[i]);
        g_autoptr(VfsecCtlRequest) back = NULL;

        req->id = VFSEC_CTL_MAX_ID;
        back = request_round_trip(req);
    }
    {
        g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(VFSEC_CTL_OP_MACS);
        g_autoptr(VfsecCtlRequest) all = request_round_trip(req);
        g_autoptr(VfsecCtlRequest) one = NULL;
        char buf[VFSEC_PCI_ADDR_STRLEN];

        g_assert_false(all->has_port);
        req->has_port = TRUE;
        g_assert_true(vfsec_pci_addr_parse("0000:3b:00.1", &req->port, &error));
        one = request_round_trip(req);
        g_assert_true(one->has_port);
        g_assert_cmpstr(vfsec_pci_addr_format(&one->port, buf), ==, "0000:3b:00.1");
    }
    {
        g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(VFSEC_CTL_OP_RECLAIM);
        g_autoptr(VfsecCtlRequest) back = NULL;
        char buf[VFSEC_PCI_ADDR_STRLEN];

        g_assert_true(vfsec_pci_addr_parse("10000:ff:1f.7", &req->pf, &error));
        req->vf = G_MAXUINT32;
        back = request_round_trip(req);
        g_assert_cmpstr(vfsec_pci_addr_format(&back->pf, buf), ==, "10000:ff:1f.7");
        g_assert_cmpuint(back->vf, ==, G_MAXUINT32);
    }
}

/* Members a parser does not know are how the protocol grows. */
static void
test_request_unknown_members(void)
{
    static const char line[] =
        "{\"future\":{\"a\":[1,2.5,true,null]},\"v\":1,\"op\":\"reclaim\",\"id\":3,"
        "\"args\":{\"vf\":2,\"pf\":\"0000:03:00.0\",\"why\":\"operator\"}}";
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_parse(line, strlen(line), NULL, &error);

    g_assert_no_error(error);
    g_assert_cmpint(req->op, ==, VFSEC_CTL_OP_RECLAIM);
    g_assert_cmpuint(req->vf, ==, 2);
    g_assert_cmpuint(req->pf.bus, ==, 3);
}

typedef struct {
    const char *line;
    VfsecErrorCode code;
    const char *message;      /* a part of the error message */
    gint64 id;                /* what the parser could still read */
} BadLine;

static const BadLine bad_request_lines[] = {
    /* A line that is not strict JSON (tests/test-json.c has every rule) is
     * the peer's invalid input, and it has no id to answer. */
    { "", VFSEC_ERROR_INVALID, "control request is not a valid JSON object: an empty line", -1 },
    { "{\"v\":1,\"id\":1,\"op\":\"status\"} {}", VFSEC_ERROR_INVALID,
      "data after the object", -1 },
    /* Two ids: json-glib would take the second, so the line is refused. */
    { "{\"v\":1,\"id\":1,\"id\":2,\"op\":\"status\"}", VFSEC_ERROR_INVALID,
      "a duplicate member name at byte 14", -1 },
    { "{\"v\":1,\"id\":99999999999999999999,\"op\":\"status\"}", VFSEC_ERROR_INVALID,
      "an integer outside the signed 64-bit range", -1 },
    /* Fields, in the order the parser reads them. */
    { "{\"v\":1,\"op\":\"status\"}", VFSEC_ERROR_INVALID, "no member id", -1 },
    { "{\"v\":1,\"id\":-1,\"op\":\"status\"}", VFSEC_ERROR_INVALID, "id is -1, outside", -1 },
    { "{\"v\":1,\"id\":9007199254740992,\"op\":\"status\"}", VFSEC_ERROR_INVALID,
      "id is 9007199254740992, outside", -1 },
    { "{\"v\":1,\"id\":1.0,\"op\":\"status\"}", VFSEC_ERROR_INVALID, "id is not an integer", -1 },
    { "{\"v\":1,\"id\":\"1\",\"op\":\"status\"}", VFSEC_ERROR_INVALID, "id is not an integer", -1 },
    { "{\"id\":5,\"op\":\"status\"}", VFSEC_ERROR_INVALID, "no member v", 5 },
    { "{\"v\":2,\"id\":5,\"op\":\"status\"}", VFSEC_ERROR_PROTOCOL, "is version 2", 5 },
    { "{\"v\":\"1\",\"id\":5,\"op\":\"status\"}", VFSEC_ERROR_INVALID, "v is not an integer", 5 },
    { "{\"v\":1,\"id\":5}", VFSEC_ERROR_INVALID, "no member op", 5 },
    { "{\"v\":1,\"id\":5,\"op\":3}", VFSEC_ERROR_INVALID, "op is not a string", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"frob\"}", VFSEC_ERROR_UNSUPPORTED, "op \"frob\" is not", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"status\",\"args\":[]}", VFSEC_ERROR_INVALID,
      "args is not an object", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"macs\",\"args\":{\"port\":\"0000:03:20.0\"}}",
      VFSEC_ERROR_INVALID, "args.port", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"macs\",\"args\":{\"port\":7}}", VFSEC_ERROR_INVALID,
      "args.port is not a string", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"reclaim\",\"args\":{\"vf\":1}}", VFSEC_ERROR_INVALID,
      "no member args.pf", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"reclaim\",\"args\":{\"pf\":\"0000:03:00.0\"}}",
      VFSEC_ERROR_INVALID, "no member args.vf", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"reclaim\",\"args\":{\"pf\":\"0000:03:00.0\",\"vf\":4294967296}}",
      VFSEC_ERROR_INVALID, "args.vf is 4294967296, outside", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"reclaim\",\"args\":{\"pf\":\"eth0\",\"vf\":1}}",
      VFSEC_ERROR_INVALID, "args.pf", 5 },
    { "{\"v\":1,\"id\":5,\"op\":\"hook\"}", VFSEC_ERROR_INVALID, "no member args.kind", 5 },
};

static void
test_request_bad_lines(void)
{
    for (guint i = 0; i < G_N_ELEMENTS(bad_request_lines); i++) {
        const BadLine *c = &bad_request_lines[i];
        g_autoptr(GError) error = NULL;
        g_autoptr(VfsecCtlRequest) req = NULL;
        gint64 id = -2;

        g_test_message("line %u: %s", i, c->line);
        req = vfsec_ctl_request_parse(c->line, strlen(c->line), &id, &error);
        g_assert_null(req);
        assert_error_contains(error, c->code, c->message);
        g_assert_cmpint(id, ==, c->id);
    }
}

/* One hook request member replaced (or removed when @value is NULL). */
typedef struct {
    const char *key;
    const char *value;        /* raw JSON */
    VfsecErrorCode code;
    const char *message;
} BadHookArg;

static const BadHookArg bad_hook_args[] = {
    { "kind", NULL, VFSEC_ERROR_INVALID, "no member args.kind" },
    { "kind", "\"lxc\"", VFSEC_ERROR_INVALID, "args.kind is \"lxc\"" },
    { "kind", "1", VFSEC_ERROR_INVALID, "args.kind is not a string" },
    { "name", NULL, VFSEC_ERROR_INVALID, "no member args.name" },
    { "name", "\"\"", VFSEC_ERROR_INVALID, "args.name is empty" },
    { "name", "\"a/b\"", VFSEC_ERROR_INVALID, "args.name 'a/b' contains '/'" },
    { "name", "\"a\\nb\"", VFSEC_ERROR_INVALID, "args.name holds control character 0x0a" },
    { "name", "\"a\\u007fb\"", VFSEC_ERROR_INVALID, "args.name holds control character 0x7f" },
    { "name", "[\"vm\"]", VFSEC_ERROR_INVALID, "args.name is not a string" },
    { "op", NULL, VFSEC_ERROR_INVALID, "no member args.op" },
    { "op", "\"frob\"", VFSEC_ERROR_INVALID, "args.op \"frob\" is not an operation of the qemu" },
    { "op", "\"port-created\"", VFSEC_ERROR_INVALID, "args.op \"port-created\" is not" },
    { "subop", NULL, VFSEC_ERROR_INVALID, "no member args.subop" },
    { "subop", "\"middle\"", VFSEC_ERROR_INVALID, "args.subop is \"middle\"" },
    { "extra", NULL, VFSEC_ERROR_INVALID, "no member args.extra" },
    { "extra", "\"\"", VFSEC_ERROR_INVALID, "args.extra is empty" },
    { "extra", "\"a\\rb\"", VFSEC_ERROR_INVALID, "args.extra holds control character 0x0d" },
    { "xml", NULL, VFSEC_ERROR_INVALID, "no member args.xml" },
    { "xml", "false", VFSEC_ERROR_INVALID, "args.xml is not a string" },
    { "timeout_ms", "600001", VFSEC_ERROR_INVALID, "args.timeout_ms is 600001, outside" },
    { "timeout_ms", "-1", VFSEC_ERROR_INVALID, "args.timeout_ms is -1, outside" },
    { "timeout_ms", "1e3", VFSEC_ERROR_INVALID, "args.timeout_ms is not an integer" },
};

static char *
hook_line_with(const char *key, const char *value)
{
    static const char *const base[][2] = {
        { "kind", "\"qemu\"" }, { "name", "\"vm1\"" }, { "op", "\"prepare\"" },
        { "subop", "\"begin\"" }, { "extra", "\"-\"" }, { "xml", "\"<domain/>\"" },
        { "timeout_ms", "5000" },
    };
    GString *line = g_string_new("{\"v\":1,\"id\":9,\"op\":\"hook\",\"args\":{");
    gboolean first = TRUE;

    for (guint i = 0; i < G_N_ELEMENTS(base); i++) {
        const char *v = g_str_equal(base[i][0], key) ? value : base[i][1];

        if (!v)
            continue;
        g_string_append_printf(line, "%s\"%s\":%s", first ? "" : ",", base[i][0], v);
        first = FALSE;
    }
    g_string_append(line, "}}");
    return g_string_free(line, FALSE);
}

static void
test_request_bad_hook_args(void)
{
    g_autofree char *good = hook_line_with("", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecCtlRequest) ok = vfsec_ctl_request_parse(good, strlen(good), NULL, &error);

    /* The base line itself is valid, so each case tests only its change. */
    g_assert_no_error(error);
    g_assert_cmpuint(ok->hook.timeout_ms, ==, 5000);
    for (guint i = 0; i < G_N_ELEMENTS(bad_hook_args); i++) {
        const BadHookArg *c = &bad_hook_args[i];
        g_autofree char *line = hook_line_with(c->key, c->value);
        g_autoptr(GError) err = NULL;
        g_autoptr(VfsecCtlRequest) req = NULL;
        gint64 id = -2;

        g_test_message("case %u: %s", i, line);
        req = vfsec_ctl_request_parse(line, strlen(line), &id, &err);
        g_assert_null(req);
        assert_error_contains(err, c->code, c->message);
        g_assert_cmpint(id, ==, 9);
    }
}

static void
test_request_bad_names(void)
{
    g_autofree char *long_name = g_strnfill(VFSEC_CTL_MAX_NAME + 1, 'a');
    g_autofree char *max_name = g_strnfill(VFSEC_CTL_MAX_NAME, 'a');
    g_autoptr(GError) error = NULL;

    g_assert_true(vfsec_ctl_check_name("domain name", max_name, &error));
    g_assert_no_error(error);
    g_assert_false(vfsec_ctl_check_name("domain name", long_name, &error));
    assert_error_contains(error, VFSEC_ERROR_INVALID, "domain name is 256 bytes, more than 255");
    g_clear_error(&error);
    g_assert_false(vfsec_ctl_check_name("domain name", "a\xc3", &error));
    assert_error_contains(error, VFSEC_ERROR_INVALID, "domain name is not valid UTF-8");
    g_clear_error(&error);
    g_assert_false(vfsec_ctl_check_extra("extra", "a\x1b[2J", &error));
    assert_error_contains(error, VFSEC_ERROR_INVALID, "extra holds control character 0x1b");
}

static void
test_request_build_refuses(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *huge = g_malloc(VFSEC_DOMAIN_XML_MAX + 2);
    g_autofree char *line = NULL;

    {
        g_autoptr(VfsecCtlRequest) req = hook_request(VFSEC_HOOK_KIND_QEMU,
                                                      VFSEC_HOOK_OP_NETWORK_PORT_CREATED,
                                                      VFSEC_HOOK_SUBOP_BEGIN, "vm", "-", "");

        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "not an operation of the qemu hook");
        g_clear_error(&error);
        req->hook.op = VFSEC_HOOK_OP_QEMU_PREPARE;
        req->id = VFSEC_CTL_MAX_ID + 1;
        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "id 9007199254740992 is more than");
        g_clear_error(&error);
        req->id = 1;
        g_free(req->hook.name);
        req->hook.name = g_strdup("../x");
        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "args.name '../x' contains '/'");
        g_clear_error(&error);
        g_free(req->hook.name);
        req->hook.name = g_strdup("vm");
        g_free(req->hook.xml);
        req->hook.xml = g_strdup("<a>\xff</a>");
        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "args.xml is not valid UTF-8");
        g_clear_error(&error);
        g_clear_pointer(&req->hook.xml, g_free);
        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "args.xml is missing");
        g_clear_error(&error);

        /* One byte over the XML bound. */
        memset(huge, 'x', VFSEC_DOMAIN_XML_MAX + 1);
        huge[VFSEC_DOMAIN_XML_MAX + 1] = '\0';
        req->hook.xml = g_strdup(huge);
        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_TOO_LARGE, "args.xml is 16777217 bytes");
        g_clear_error(&error);

        /* At the bound the XML fits even when every byte needs escaping
         * twice over... but not six times: DEL is written as \u007f. */
        memset(huge, '"', VFSEC_DOMAIN_XML_MAX);
        huge[VFSEC_DOMAIN_XML_MAX] = '\0';
        g_free(req->hook.xml);
        req->hook.xml = g_strdup(huge);
        line = vfsec_ctl_request_build(req, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(line);
        memset(huge, 0x7f, VFSEC_DOMAIN_XML_MAX);
        g_free(req->hook.xml);
        req->hook.xml = g_strdup(huge);
        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_TOO_LARGE, "control request would be");
        g_clear_error(&error);
    }
    {
        g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(VFSEC_CTL_OP_RECLAIM);

        req->pf.slot = 0x20;
        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "args.pf has slot 0x20");
        g_clear_error(&error);
    }
    {
        g_autoptr(VfsecCtlRequest) req = vfsec_ctl_request_new(VFSEC_CTL_OP_LAST);

        g_assert_null(vfsec_ctl_request_build(req, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "op 7 is out of range");
    }
}

/* A line longer than the bound is refused before anything looks at it. */
static void
test_line_too_long(void)
{
    gsize len = VFSEC_CTL_MAX_LINE + 1;
    g_autofree char *line = g_malloc(len);
    g_autoptr(GError) error = NULL;
    gint64 id = -2;

    memset(line, ' ', len);
    line[0] = '{';
    g_assert_null(vfsec_ctl_request_parse(line, len, &id, &error));
    assert_error_contains(error, VFSEC_ERROR_TOO_LARGE, "control request is 34603009 bytes");
    g_assert_cmpint(id, ==, -1);
    g_clear_error(&error);
    g_assert_null(vfsec_ctl_reply_parse(line, len, &error));
    assert_error_contains(error, VFSEC_ERROR_TOO_LARGE, "control reply is 34603009 bytes");
}

static void
test_reply_round_trip(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) result = json_object_new();
    g_autoptr(VfsecCtlReply) ok = NULL;
    g_autoptr(VfsecCtlReply) ok_back = NULL;
    g_autofree char *line = NULL;
    gsize len;

    json_object_set_int_member(result, "vfs", 3);
    ok = vfsec_ctl_reply_new_ok(12, result);
    line = vfsec_ctl_reply_build(ok, &len, &error);
    g_assert_no_error(error);
    /* The PF-driver contract's envelope, "v" first. */
    g_assert_cmpstr(line, ==, "{\"v\":1,\"id\":12,\"ok\":true,\"result\":{\"vfs\":3}}\n");
    ok_back = vfsec_ctl_reply_parse(line, len - 1, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(ok_back->id, ==, 12);
    g_assert_true(ok_back->ok);
    g_assert_null(ok_back->error.message);
    g_assert_cmpint(json_object_get_int_member(ok_back->result, "vfs"), ==, 3);
    g_assert_true(vfsec_ctl_reply_check(ok_back, &error));
    g_assert_no_error(error);

    for (guint code = 0; code <= VFSEC_ERROR_TOO_LARGE; code++) {
        g_autoptr(GError) cause = g_error_new(VFSEC_ERROR, (gint)code,
                                              "VF 0000:03:10.2 still holds 12 SAs after 2000 ms");
        g_autoptr(VfsecCtlReply) bad = vfsec_ctl_reply_new_error(5, cause);
        g_autoptr(VfsecCtlReply) back = NULL;
        g_autofree char *bad_line = vfsec_ctl_reply_build(bad, &len, &error);
        const char *name = vfsec_ctl_error_code_to_string(code);

        g_autofree char *expected = g_strdup_printf("{\"v\":1,\"id\":5,\"ok\":false,\"error\":"
                                                    "{\"code\":\"%s\",\"message\":\"%s\"}}\n",
                                                    name, cause->message);

        g_assert_no_error(error);
        g_assert_nonnull(name);
        g_assert_cmpint(vfsec_ctl_error_code_from_string(name), ==, (int)code);
        g_assert_cmpstr(vfsec_ctl_error_code_from_gerror(cause), ==, name);
        g_assert_cmpstr(bad_line, ==, expected);
        back = vfsec_ctl_reply_parse(bad_line, len - 1, &error);
        g_assert_no_error(error);
        g_assert_false(back->ok);
        g_assert_cmpint(back->error.code, ==, code);
        g_assert_cmpstr(back->error.message, ==, cause->message);
        g_assert_null(back->result);
        g_assert_false(vfsec_ctl_reply_check(back, &error));
        g_assert_error(error, VFSEC_ERROR, (gint)code);
        g_assert_cmpstr(error->message, ==, cause->message);
        g_clear_error(&error);
    }
    {
        /* Errors from other domains travel as "failed". */
        g_autoptr(GError) cause = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_BUSY, "busy");
        g_autoptr(GError) unknown = g_error_new_literal(VFSEC_ERROR, 99, "from the future");
        g_autoptr(VfsecCtlReply) bad = vfsec_ctl_reply_new_error(5, cause);

        g_assert_cmpint(bad->error.code, ==, VFSEC_ERROR_FAILED);
        g_assert_cmpstr(vfsec_ctl_error_code_from_gerror(cause), ==, "failed");
        g_assert_cmpstr(vfsec_ctl_error_code_from_gerror(unknown), ==, "failed");
    }
}

/* What a reader ignores or reads leniently, so that the protocol can grow. */
static void
test_reply_unknown_parts(void)
{
    static const char unknown_code[] =
        "{\"v\":1,\"id\":2,\"ok\":false,\"error\":{\"code\":\"melted\",\"message\":"
        "\"PF 0000:03:00.0 is on fire\",\"hint\":\"x\"},\"extra\":1}";
    static const char extra_ok[] =
        "{\"result\":{\"a\":[]},\"ok\":true,\"id\":2,\"v\":1,\"message\":\"not read\"}";
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecCtlReply) a = vfsec_ctl_reply_parse(unknown_code, strlen(unknown_code), &error);
    g_autoptr(VfsecCtlReply) b = NULL;

    g_assert_no_error(error);
    g_assert_cmpint(a->error.code, ==, VFSEC_ERROR_FAILED);
    g_assert_cmpstr(a->error.message, ==, "PF 0000:03:00.0 is on fire");
    b = vfsec_ctl_reply_parse(extra_ok, strlen(extra_ok), &error);
    g_assert_no_error(error);
    g_assert_true(b->ok);
    g_assert_true(json_object_has_member(b->result, "a"));
}

static const BadLine bad_reply_lines[] = {
    { "{\"id\":1,\"ok\":true,\"result\":{}}", VFSEC_ERROR_PROTOCOL,
      "control reply has no member v", 0 },
    { "{\"v\":3,\"id\":1,\"ok\":true,\"result\":{}}", VFSEC_ERROR_PROTOCOL,
      "control reply is version 3", 0 },
    { "{\"v\":1,\"ok\":true,\"result\":{}}", VFSEC_ERROR_PROTOCOL,
      "control reply: id is missing", 0 },
    { "{\"v\":1,\"id\":9007199254740992,\"ok\":true,\"result\":{}}", VFSEC_ERROR_PROTOCOL,
      "control reply: id 9007199254740992 is outside 0-9007199254740991", 0 },
    { "{\"v\":1,\"id\":1}", VFSEC_ERROR_PROTOCOL, "control reply: ok is missing", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":\"yes\"}", VFSEC_ERROR_PROTOCOL,
      "control reply: ok is not a boolean", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":true}", VFSEC_ERROR_PROTOCOL,
      "control reply: result is missing", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":true,\"result\":[]}", VFSEC_ERROR_PROTOCOL,
      "control reply: result is not an object", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":false}", VFSEC_ERROR_PROTOCOL,
      "control reply: error is missing", 0 },
    /* The envelope of earlier builds: code and message at the top. */
    { "{\"v\":1,\"id\":1,\"ok\":false,\"code\":\"conflict\",\"message\":\"m\",\"result\":{}}",
      VFSEC_ERROR_PROTOCOL, "control reply: error is missing", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"message\":\"m\"}}", VFSEC_ERROR_PROTOCOL,
      "control reply: error.code is missing", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":7,\"message\":\"m\"}}",
      VFSEC_ERROR_PROTOCOL, "control reply: error.code is not a string", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"Not Found\",\"message\":\"m\"}}",
      VFSEC_ERROR_PROTOCOL, "control reply: error.code 'Not Found' is not a token", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"io\"}}", VFSEC_ERROR_PROTOCOL,
      "control reply: error.message is missing", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"io\",\"message\":5}}",
      VFSEC_ERROR_PROTOCOL, "control reply: error.message is not a string", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"io\",\"message\":\"\"}}",
      VFSEC_ERROR_PROTOCOL, "control reply error.message is empty", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"io\",\"message\":\"two\\nlines\"}}",
      VFSEC_ERROR_PROTOCOL, "error.message holds control character 0x0a", 0 },
    /* Not strict JSON: vfsecd broke the protocol. */
    { "{\"v\":1,\"id\":1,\"ok\":true,\"result\":{}} x", VFSEC_ERROR_PROTOCOL,
      "control reply is not a valid JSON object: data after the object", 0 },
    { "{\"v\":1,\"id\":1,\"ok\":true,\"ok\":false,\"result\":{}}", VFSEC_ERROR_PROTOCOL,
      "a duplicate member name", 0 },
    { "", VFSEC_ERROR_PROTOCOL, "an empty line", 0 },
};

static void
test_reply_bad(void)
{
    g_autofree char *long_message = g_strnfill(VFSEC_CTL_MAX_MESSAGE + 1, 'm');
    g_autofree char *long_line =
        g_strdup_printf("{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"io\",\"message\":"
                        "\"%s\"}}", long_message);
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(bad_reply_lines); i++) {
        const BadLine *c = &bad_reply_lines[i];
        g_autoptr(GError) err = NULL;
        g_autoptr(VfsecCtlReply) reply = NULL;

        g_test_message("line %u: %s", i, c->line);
        reply = vfsec_ctl_reply_parse(c->line, strlen(c->line), &err);
        g_assert_null(reply);
        assert_error_contains(err, c->code, c->message);
    }
    g_assert_null(vfsec_ctl_reply_parse(long_line, strlen(long_line), &error));
    assert_error_contains(error, VFSEC_ERROR_PROTOCOL,
                          "error.message is 4097 bytes, more than 4096");
    g_clear_error(&error);

    /* The builder refuses what the parser would. */
    {
        g_autoptr(GError) cause = g_error_new_literal(VFSEC_ERROR, VFSEC_ERROR_CONFLICT, "");
        g_autoptr(VfsecCtlReply) reply = vfsec_ctl_reply_new_error(1, cause);

        g_assert_null(vfsec_ctl_reply_build(reply, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "control reply error.message is empty");
        g_clear_error(&error);
        g_free(reply->error.message);
        reply->error.message = g_strdup("first\nsecond");
        g_assert_null(vfsec_ctl_reply_build(reply, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "control character 0x0a");
        g_clear_error(&error);
        g_free(reply->error.message);
        reply->error.message = g_strdup("fine");
        reply->error.code = VFSEC_ERROR_TOO_LARGE + 1;
        g_assert_null(vfsec_ctl_reply_build(reply, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "error.code 10 is out of range");
        g_clear_error(&error);
        reply->error.code = VFSEC_ERROR_CONFLICT;
        reply->id = VFSEC_CTL_MAX_ID + 1;
        g_assert_null(vfsec_ctl_reply_build(reply, NULL, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, "id 9007199254740992");
    }
}

typedef struct {
    VfsecHookKind kind;
    const char *name;
    VfsecHookOp op;
    gboolean forwarded;
    gboolean gates;
} OpRow;

/* libvirt's op words per hook (src/util/virhook.c) and what vfsec does. */
static const OpRow op_rows[] = {
    { VFSEC_HOOK_KIND_QEMU, "prepare", VFSEC_HOOK_OP_QEMU_PREPARE, TRUE, TRUE },
    { VFSEC_HOOK_KIND_QEMU, "start", VFSEC_HOOK_OP_QEMU_START, TRUE, TRUE },
    { VFSEC_HOOK_KIND_QEMU, "started", VFSEC_HOOK_OP_QEMU_STARTED, TRUE, TRUE },
    { VFSEC_HOOK_KIND_QEMU, "stopped", VFSEC_HOOK_OP_QEMU_STOPPED, TRUE, FALSE },
    { VFSEC_HOOK_KIND_QEMU, "release", VFSEC_HOOK_OP_QEMU_RELEASE, TRUE, FALSE },
    { VFSEC_HOOK_KIND_QEMU, "migrate", VFSEC_HOOK_OP_QEMU_MIGRATE, FALSE, FALSE },
    { VFSEC_HOOK_KIND_QEMU, "restore", VFSEC_HOOK_OP_QEMU_RESTORE, FALSE, FALSE },
    { VFSEC_HOOK_KIND_QEMU, "reconnect", VFSEC_HOOK_OP_QEMU_RECONNECT, TRUE, FALSE },
    { VFSEC_HOOK_KIND_QEMU, "attach", VFSEC_HOOK_OP_QEMU_ATTACH, FALSE, FALSE },
    { VFSEC_HOOK_KIND_NETWORK, "start", VFSEC_HOOK_OP_NETWORK_START, FALSE, FALSE },
    { VFSEC_HOOK_KIND_NETWORK, "started", VFSEC_HOOK_OP_NETWORK_STARTED, FALSE, FALSE },
    { VFSEC_HOOK_KIND_NETWORK, "stopped", VFSEC_HOOK_OP_NETWORK_STOPPED, FALSE, FALSE },
    { VFSEC_HOOK_KIND_NETWORK, "port-created", VFSEC_HOOK_OP_NETWORK_PORT_CREATED, TRUE, TRUE },
    { VFSEC_HOOK_KIND_NETWORK, "port-deleted", VFSEC_HOOK_OP_NETWORK_PORT_DELETED, TRUE, FALSE },
    { VFSEC_HOOK_KIND_NETWORK, "updated", VFSEC_HOOK_OP_NETWORK_UPDATED, FALSE, FALSE },
};

static void
test_tables(void)
{
    G_STATIC_ASSERT(G_N_ELEMENTS(op_rows) == VFSEC_HOOK_OP_LAST);
    for (guint i = 0; i < G_N_ELEMENTS(op_rows); i++) {
        const OpRow *r = &op_rows[i];

        g_assert_cmpint(vfsec_hook_op_from_string(r->kind, r->name), ==, r->op);
        g_assert_cmpstr(vfsec_hook_op_to_string(r->op), ==, r->name);
        g_assert_cmpint(vfsec_hook_op_kind(r->op), ==, r->kind);
        g_assert_cmpint(vfsec_hook_op_forwarded(r->op), ==, r->forwarded);
        g_assert_cmpint(vfsec_hook_op_gates(r->op), ==, r->gates);
    }
    g_assert_cmpint(vfsec_hook_op_from_string(VFSEC_HOOK_KIND_NETWORK, "prepare"), ==, -1);
    g_assert_cmpint(vfsec_hook_op_from_string(VFSEC_HOOK_KIND_QEMU, "updated"), ==, -1);
    g_assert_cmpint(vfsec_hook_op_from_string(VFSEC_HOOK_KIND_QEMU, "Prepare"), ==, -1);
    g_assert_cmpint(vfsec_hook_op_from_string(VFSEC_HOOK_KIND_QEMU, NULL), ==, -1);
    g_assert_null(vfsec_hook_op_to_string(VFSEC_HOOK_OP_LAST));
    g_assert_false(vfsec_hook_op_gates(VFSEC_HOOK_OP_LAST));

    for (guint k = 0; k < VFSEC_HOOK_KIND_LAST; k++)
        g_assert_cmpint(vfsec_hook_kind_from_string(vfsec_hook_kind_to_string(k)), ==, k);
    g_assert_cmpint(vfsec_hook_kind_from_string("lxc"), ==, -1);
    for (guint s = 0; s < VFSEC_HOOK_SUBOP_LAST; s++)
        g_assert_cmpint(vfsec_hook_subop_from_string(vfsec_hook_subop_to_string(s)), ==, s);
    g_assert_cmpint(vfsec_hook_subop_from_string(""), ==, -1);
    for (guint o = 0; o < VFSEC_CTL_OP_LAST; o++)
        g_assert_cmpint(vfsec_ctl_op_from_string(vfsec_ctl_op_to_string(o)), ==, o);
    g_assert_cmpint(vfsec_ctl_op_from_string("HOOK"), ==, -1);
    g_assert_null(vfsec_ctl_op_to_string(VFSEC_CTL_OP_LAST));
    g_assert_null(vfsec_ctl_error_code_to_string(VFSEC_ERROR_TOO_LARGE + 1));
    g_assert_cmpint(vfsec_ctl_error_code_from_string("busy"), ==, -1);
}

/* connect errors come back as -errno, for the hook to word. */
static void
test_connect_errors(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("vfsec-ctlproto-XXXXXX", &error);
    g_autofree char *missing = g_build_filename(dir, "missing.sock", NULL);
    g_autofree char *stale = g_build_filename(dir, "stale.sock", NULL);
    g_autofree char *long_path = g_strnfill(sizeof(((struct sockaddr_un *)NULL)->sun_path), 'x');
    gint64 later = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    g_assert_no_error(error);
    g_assert_cmpint(vfsec_ctl_connect(missing, later), ==, -ENOENT);
    g_assert_cmpint(vfsec_ctl_connect(long_path, later), ==, -ENAMETOOLONG);
    g_assert_cmpint(vfsec_ctl_connect(missing, g_get_monotonic_time() - 1), ==, -ETIMEDOUT);

    /* A socket file nobody listens on: what a crashed vfsecd leaves. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(addr.sun_path, stale, sizeof(addr.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(vfsec_ctl_connect(stale, later), ==, -ECONNREFUSED);
    close(fd);
    g_assert_cmpint(g_unlink(stale), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* ---- The client against vfsecd's server ---- */

typedef struct {
    char *dir;
    char *path;
    VfsecJsonlServer *server;
    char *hook_name;          /* what the hook handler was asked about */
    gboolean refuse;          /* the peer check refuses */
} CtlServer;

static void
ctl_status(VfsecJsonlCall *call, gpointer user_data)
{
    g_autoptr(JsonObject) result = json_object_new();

    g_assert_cmpint(vfsec_ctl_call_get_request(call)->op, ==, VFSEC_CTL_OP_STATUS);
    json_object_set_string_member(result, "version", "test");
    vfsec_jsonl_call_return_result(call, result);
}

/* Refuses, with a message the way libxml2 writes them: ending in '\n'. */
static void
ctl_hook(VfsecJsonlCall *call, gpointer user_data)
{
    CtlServer *srv = user_data;
    const VfsecCtlRequest *req = vfsec_ctl_call_get_request(call);
    g_autoptr(GError) error = g_error_new(VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                                          "vfsecd: MAC 52:54:00:10:00:01 on PF 0000:3b:00.0 "
                                          "is already taken by domain %s\n", "vm2");

    srv->hook_name = g_strdup(req->hook.name);
    vfsec_jsonl_call_return_error(call, error);
}

static void
ctl_reclaim(VfsecJsonlCall *call, gpointer user_data)
{
    g_autoptr(GError) error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_BUSY, "agent link down");

    vfsec_jsonl_call_return_error(call, error);
}

static const VfsecJsonlHandler ctl_handlers[] = {
    { "status", ctl_status },
    { "hook", ctl_hook },
    { "reclaim", ctl_reclaim },
    { NULL, NULL },
};

static gboolean
ctl_auth(const VfsecJsonlPeer *peer, gpointer user_data, GError **error)
{
    CtlServer *srv = user_data;

    if (srv->refuse)
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "uid %u is not in group vfsec",
                    (guint)peer->uid);
    return !srv->refuse;
}

static void
ctl_server_start(CtlServer *srv, gboolean refuse)
{
    VfsecJsonlServerConfig config = { 0 };
    g_autoptr(GError) error = NULL;

    srv->dir = g_dir_make_tmp("vfsec-ctlproto-XXXXXX", &error);
    g_assert_no_error(error);
    srv->path = g_build_filename(srv->dir, "vfsecd.sock", NULL);
    srv->refuse = refuse;
    config.socket_path = srv->path;
    /* Protocol fields are the control server's to set. */
    config.contract = TRUE;
    config.max_line = 16;
    srv->server = vfsec_ctl_server_new(&config);
    vfsec_jsonl_server_set_auth_func(srv->server, ctl_auth, srv);
    vfsec_jsonl_server_add_handlers(srv->server, ctl_handlers, srv);
    g_assert_true(vfsec_jsonl_server_start(srv->server, &error));
    g_assert_no_error(error);
}

static void
ctl_server_stop(CtlServer *srv)
{
    g_clear_pointer(&srv->server, vfsec_jsonl_server_free);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpint(g_rmdir(srv->dir), ==, 0);
    g_free(srv->hook_name);
    g_free(srv->path);
    g_free(srv->dir);
}

/* One blocking exchange on a thread of its own, while this thread runs the
 * server's main context: a request through VfsecCtlClient, or raw bytes
 * read back until the server closes. */
typedef struct {
    const char *path;
    VfsecCtlRequest *req;     /* NULL: send @raw */
    const char *raw;
    VfsecCtlReply *reply;
    GError *error;
    GString *received;
    gboolean done;            /* set on the main thread */
} CtlExchange;

static gboolean
ctl_exchange_done(gpointer data)
{
    CtlExchange *x = data;

    x->done = TRUE;
    return G_SOURCE_REMOVE;
}

static gpointer
ctl_exchange_thread(gpointer data)
{
    CtlExchange *x = data;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    int fd = vfsec_ctl_connect(x->path, deadline);

    g_assert_cmpint(fd, >=, 0);
    if (x->req) {
        g_autoptr(VfsecCtlClient) client = vfsec_ctl_client_new(fd, x->path);

        x->reply = vfsec_ctl_client_call(client, x->req, deadline, &x->error);
    } else {
        char buf[4096];
        ssize_t n;

        g_assert_cmpint(fcntl(fd, F_SETFL, 0), ==, 0);
        g_assert_cmpint(send(fd, x->raw, strlen(x->raw), MSG_NOSIGNAL), ==, (ssize_t)strlen(x->raw));
        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
            g_string_append_len(x->received, buf, n);
        close(fd);
    }
    g_main_context_invoke(NULL, ctl_exchange_done, x);
    return NULL;
}

static void
ctl_exchange(CtlExchange *x)
{
    GThread *thread = g_thread_new("ctl-client", ctl_exchange_thread, x);

    while (!x->done)
        g_main_context_iteration(NULL, TRUE);
    g_thread_join(thread);
}

static void
test_server(void)
{
    CtlServer srv = { 0 };
    g_autoptr(VfsecCtlRequest) status = vfsec_ctl_request_new(VFSEC_CTL_OP_STATUS);
    g_autoptr(VfsecCtlRequest) hook = hook_request(VFSEC_HOOK_KIND_QEMU, VFSEC_HOOK_OP_QEMU_PREPARE,
                                                   VFSEC_HOOK_SUBOP_BEGIN, "vm1", "-",
                                                   "<domain/>");
    g_autoptr(VfsecCtlRequest) reclaim = vfsec_ctl_request_new(VFSEC_CTL_OP_RECLAIM);
    CtlExchange a = { 0 };
    CtlExchange b = { 0 };
    CtlExchange c = { 0 };

    ctl_server_start(&srv, FALSE);
    a.path = b.path = c.path = srv.path;

    a.req = status;
    ctl_exchange(&a);
    g_assert_no_error(a.error);
    g_assert_true(a.reply->ok);
    g_assert_cmpstr(json_object_get_string_member(a.reply->result, "version"), ==, "test");
    vfsec_ctl_reply_free(a.reply);

    /* What the hook prints: vfsecd's sentence, made one line. */
    b.req = hook;
    ctl_exchange(&b);
    g_assert_no_error(b.error);
    g_assert_cmpstr(srv.hook_name, ==, "vm1");
    g_assert_false(b.reply->ok);
    g_assert_cmpint(b.reply->error.code, ==, VFSEC_ERROR_CONFLICT);
    g_assert_cmpstr(b.reply->error.message, ==, "vfsecd: MAC 52:54:00:10:00:01 on PF 0000:3b:00.0 "
                    "is already taken by domain vm2");
    vfsec_ctl_reply_free(b.reply);

    /* An error outside VFSEC_ERROR travels as "failed". */
    c.req = reclaim;
    ctl_exchange(&c);
    g_assert_no_error(c.error);
    g_assert_cmpint(c.reply->error.code, ==, VFSEC_ERROR_FAILED);
    g_assert_cmpstr(c.reply->error.message, ==, "agent link down");
    vfsec_ctl_reply_free(c.reply);
    ctl_server_stop(&srv);
}

typedef struct {
    guint64 id;
    VfsecErrorCode code;      /* FAILED + ok: success */
    gboolean ok;
    const char *message;
} RawReply;

/* Lines only a hand-written client sends, and what vfsecd's server answers. */
static void
test_server_raw(void)
{
    static const char lines[] =
        "{\"v\":2,\"id\":4,\"op\":\"status\"}\n"
        "{\"v\":1,\"id\":5,\"op\":\"frob\"}\n"
        "{\"v\":1,\"id\":6,\"op\":\"vfs\"}\n"
        "{\"v\":1,\"id\":7,\"op\":\"status\",\"args\":null}\n"
        "{\"v\":1,\"id\":8,\"op\":\"hook\",\"args\":{\"kind\":\"qemu\"}}\n"
        /* No id to answer: the server closes. */
        "{\"v\":1,\"id\":9007199254740992,\"op\":\"status\"}\n"
        "{\"v\":1,\"id\":10,\"op\":\"status\"}\n";
    static const RawReply replies[] = {
        { 4, VFSEC_ERROR_PROTOCOL, FALSE,
          "control request is version 2, this side speaks version 1" },
        { 5, VFSEC_ERROR_UNSUPPORTED, FALSE,
          "control request op \"frob\" is not an operation vfsecd knows" },
        { 6, VFSEC_ERROR_UNSUPPORTED, FALSE, "op 'vfs' is not supported by this server" },
        { 7, 0, TRUE, NULL },
        { 8, VFSEC_ERROR_INVALID, FALSE, "control request has no member args.name" },
    };
    CtlServer srv = { 0 };
    CtlExchange x = { 0 };
    g_auto(GStrv) got = NULL;

    ctl_server_start(&srv, FALSE);
    x.path = srv.path;
    x.raw = lines;
    x.received = g_string_new(NULL);
    ctl_exchange(&x);
    g_test_message("received: %s", x.received->str);
    got = g_strsplit(x.received->str, "\n", -1);
    g_assert_cmpuint(g_strv_length(got), ==, G_N_ELEMENTS(replies) + 1);
    g_assert_cmpstr(got[G_N_ELEMENTS(replies)], ==, "");
    for (guint i = 0; i < G_N_ELEMENTS(replies); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VfsecCtlReply) reply = vfsec_ctl_reply_parse(got[i], strlen(got[i]), &error);

        g_test_message("reply %u: %s", i, got[i]);
        g_assert_no_error(error);
        g_assert_cmpuint(reply->id, ==, replies[i].id);
        g_assert_cmpint(reply->ok, ==, replies[i].ok);
        if (replies[i].ok)
            continue;
        g_assert_cmpint(reply->error.code, ==, replies[i].code);
        g_assert_cmpstr(reply->error.message, ==, replies[i].message);
    }
    g_string_free(x.received, TRUE);
    ctl_server_stop(&srv);
}

/* A refused peer's request is answered "permission", then it is closed. */
static void
test_server_refused(void)
{
    CtlServer srv = { 0 };
    g_autoptr(VfsecCtlRequest) status = vfsec_ctl_request_new(VFSEC_CTL_OP_STATUS);
    CtlExchange x = { 0 };

    ctl_server_start(&srv, TRUE);
    x.path = srv.path;
    x.req = status;
    ctl_exchange(&x);
    g_assert_no_error(x.error);
    g_assert_false(x.reply->ok);
    g_assert_cmpint(x.reply->error.code, ==, VFSEC_ERROR_PERMISSION);
    g_assert_cmpstr(x.reply->error.message, ==, "uid 0 is not in group vfsec");
    vfsec_ctl_reply_free(x.reply);
    ctl_server_stop(&srv);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ctlproto/request/hook-round-trip", test_request_hook_round_trip);
    g_test_add_func("/ctlproto/request/hook-exact-line", test_request_hook_exact_line);
    g_test_add_func("/ctlproto/request/cli-round-trip", test_request_cli_round_trip);
    g_test_add_func("/ctlproto/request/unknown-members", test_request_unknown_members);
    g_test_add_func("/ctlproto/request/bad-lines", test_request_bad_lines);
    g_test_add_func("/ctlproto/request/bad-hook-args", test_request_bad_hook_args);
    g_test_add_func("/ctlproto/request/bad-names", test_request_bad_names);
    g_test_add_func("/ctlproto/request/build-refuses", test_request_build_refuses);
    g_test_add_func("/ctlproto/line-too-long", test_line_too_long);
    g_test_add_func("/ctlproto/reply/round-trip", test_reply_round_trip);
    g_test_add_func("/ctlproto/reply/unknown-parts", test_reply_unknown_parts);
    g_test_add_func("/ctlproto/reply/bad", test_reply_bad);
    g_test_add_func("/ctlproto/tables", test_tables);
    g_test_add_func("/ctlproto/connect-errors", test_connect_errors);
    g_test_add_func("/ctlproto/server/calls", test_server);
    g_test_add_func("/ctlproto/server/raw", test_server_raw);
    g_test_add_func("/ctlproto/server/refused", test_server_refused);
    return g_test_run();
}
