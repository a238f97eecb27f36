/* test-jsonl-server.c: the JSON-lines socket server, with the contract client
 * and with raw sockets. */
#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <grp.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfsec-contract-client.h"
#include "vfsec-error.h"
#include "vfsec-jsonl-server.h"
#include "vfsec-test-util.h"

/* ---- Fixture: a server in a temporary directory ---- */

typedef struct {
    char *dir;
    char *path;
    VfsecJsonlServer *server;
    GPtrArray *held;          /* VfsecJsonlCall* the "slow" handlers keep */
    guint handled;
    gboolean refuse;          /* the injected auth refuses */
} Fixture;

static void
hello_handler(VfsecJsonlCall *call, gpointer user_data)
{
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_HELLO);
    g_autoptr(JsonObject) obj = NULL;
    const char *caps[] = { VFSEC_CONTRACT_CAP_NOTIFICATIONS, NULL };

    if (req->args.hello.version != VFSEC_CONTRACT_VERSION) {
        vfsec_jsonl_call_return_error_code(call, VFSEC_CONTRACT_ERROR_VERSION, "version 1 only");
        return;
    }
    res->u.hello.version = VFSEC_CONTRACT_VERSION;
    res->u.hello.server = g_strdup("test-jsonl-server/0");
    g_strfreev(res->u.hello.capabilities);
    res->u.hello.capabilities = g_strdupv((char **)caps);
    obj = vfsec_contract_result_to_json(res);
    vfsec_jsonl_call_return_result(call, obj);
}

/* Completes at once with {"mode":"veb"}. */
static void
fast_handler(VfsecJsonlCall *call, gpointer user_data)
{
    Fixture *fx = user_data;
    g_autoptr(JsonObject) obj = json_object_new();

    fx->handled++;
    json_object_set_string_member(obj, "mode", "veb");
    vfsec_jsonl_call_return_result(call, obj);
}

/* Keeps the call; the test completes it. */
static void
slow_handler(VfsecJsonlCall *call, gpointer user_data)
{
    Fixture *fx = user_data;

    fx->handled++;
    g_ptr_array_add(fx->held, call);
}

static void
failing_handler(VfsecJsonlCall *call, gpointer user_data)
{
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    g_autoptr(GError) error = NULL;

    /* counters on port 7: not found; on any other port: busy. */
    if (req->args.port == 7) {
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "port 7 does not exist");
        vfsec_jsonl_call_return_error(call, error);
        return;
    }
    vfsec_jsonl_call_return_error_code(call, VFSEC_CONTRACT_ERROR_BUSY, "port is busy");
}

static void
subscribe_handler(VfsecJsonlCall *call, gpointer user_data)
{
    const VfsecContractRequest *req = vfsec_jsonl_call_get_request(call);
    JsonObject *args = vfsec_jsonl_call_get_args(call);
    guint32 events = req ? req->args.events : (guint32)json_object_get_int_member_with_default(args, "mask", 0);

    vfsec_jsonl_conn_set_events(vfsec_jsonl_call_get_conn(call), events);
    vfsec_jsonl_call_return_result(call, NULL);
}

/* Generic mode: echoes its args. */
static void
echo_handler(VfsecJsonlCall *call, gpointer user_data)
{
    vfsec_jsonl_call_return_result(call, vfsec_jsonl_call_get_args(call));
}

/* Generic mode with proto_parse(): returns what the parse function made, or
 * fails when that is "fail". */
static void
parsed_handler(VfsecJsonlCall *call, gpointer user_data)
{
    const char *parsed = vfsec_jsonl_call_get_parsed(call);
    g_autoptr(JsonObject) obj = json_object_new();

    g_assert_null(vfsec_jsonl_call_get_request(call));
    if (g_str_equal(parsed, "fail")) {
        g_autoptr(GError) error = g_error_new_literal(VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                                                      "taken\n");

        vfsec_jsonl_call_return_error(call, error);
        return;
    }
    json_object_set_string_member(obj, "parsed", parsed);
    vfsec_jsonl_call_return_result(call, obj);
}

static const VfsecJsonlHandler contract_handlers[] = {
    { "hello", hello_handler },
    { "get-switch-mode", fast_handler },
    { "list-vfs", slow_handler },
    { "counters", failing_handler },
    { "subscribe", subscribe_handler },
    { NULL, NULL },
};

static const VfsecJsonlHandler generic_handlers[] = {
    { "echo", echo_handler },
    { "slow", slow_handler },
    { "subscribe", subscribe_handler },
    { "parsed", parsed_handler },
    { NULL, NULL },
};

/* A made-up protocol for the generic mode's hooks: ids up to 100, a "proto"
 * member that must be "t" in requests and comes first in replies, and its
 * own error code names. The typed request is "tag" (a string). */
static gpointer
proto_parse(JsonObject *request, gint64 *id, GError **error)
{
    JsonNode *node = json_object_get_member(request, "id");
    const char *proto = json_object_get_string_member_with_default(request, "proto", "");

    if (!node || json_node_get_value_type(node) != G_TYPE_INT64 || json_node_get_int(node) < 0 ||
        json_node_get_int(node) > 100) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "t: no id up to 100");
        return NULL;
    }
    *id = json_node_get_int(node);
    if (!g_str_equal(proto, "t")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL, "t: proto is '%s'", proto);
        return NULL;
    }
    return g_strdup(json_object_get_string_member_with_default(request, "tag", ""));
}

static const char *
proto_error_code(const GError *error)
{
    if (error->domain != VFSEC_ERROR)
        return "oops";
    switch ((VfsecErrorCode)error->code) {
    case VFSEC_ERROR_PROTOCOL:
        return "wrong-proto";
    case VFSEC_ERROR_UNSUPPORTED:
        return "no-such-op";
    case VFSEC_ERROR_CONFLICT:
        return "taken";
    default:
        return "oops";
    }
}

static gboolean
inject_auth(const VfsecJsonlPeer *peer, gpointer user_data, GError **error)
{
    Fixture *fx = user_data;

    g_assert_cmpint(peer->pid, ==, getpid());
    g_assert_cmpuint(peer->uid, ==, geteuid());
    if (fx->refuse) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION, "uid %u is not on the test's list",
                    (guint)peer->uid);
        return FALSE;
    }
    return TRUE;
}

typedef enum {
    MODE_CONTRACT = 1 << 0,
    MODE_DEFAULT_AUTH = 1 << 1,   /* default check; allowed through our primary group */
    MODE_SMALL_LINES = 1 << 2,    /* max_line 1024 */
    MODE_NO_START = 1 << 3,       /* the test starts the server itself */
    MODE_PROTOCOL = 1 << 4,       /* generic, with proto_parse() and its envelope */
} Mode;

static void
fixture_start(Fixture *fx, guint mode)
{
    VfsecJsonlServerConfig config = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) members = json_object_new();

    config.socket_path = fx->path;
    config.contract = (mode & MODE_CONTRACT) != 0;
    if (mode & MODE_PROTOCOL) {
        json_object_set_string_member(members, "proto", "t");
        config.reply_members = members;
        config.parse = proto_parse;
        config.parsed_free = g_free;
        config.error_code = proto_error_code;
    }
    config.allow_group = TRUE;
    config.group = getegid();
    config.max_line = mode & MODE_SMALL_LINES ? 1024 : 0;
    fx->server = vfsec_jsonl_server_new(&config);
    if (!(mode & MODE_DEFAULT_AUTH))
        vfsec_jsonl_server_set_auth_func(fx->server, inject_auth, fx);
    vfsec_jsonl_server_add_handlers(fx->server, config.contract ? contract_handlers : generic_handlers, fx);
    g_assert_true(vfsec_jsonl_server_start(fx->server, &error));
    g_assert_no_error(error);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    memset(fx, 0, sizeof(*fx));
    fx->dir = g_dir_make_tmp("vfsec-jsonl-XXXXXX", &error);
    g_assert_no_error(error);
    fx->path = g_build_filename(fx->dir, "s.sock", NULL);
    fx->held = g_ptr_array_new();
    if (!(GPOINTER_TO_UINT(data) & MODE_NO_START))
        fixture_start(fx, GPOINTER_TO_UINT(data));
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
    /* Calls still held end after the server is gone: their replies drop. */
    g_clear_pointer(&fx->server, vfsec_jsonl_server_free);
    for (guint i = 0; i < fx->held->len; i++)
        vfsec_jsonl_call_return_result(fx->held->pdata[i], NULL);
    g_ptr_array_unref(fx->held);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_false(g_file_test(fx->path, G_FILE_TEST_EXISTS));
    g_rmdir(fx->dir);
    g_free(fx->path);
    g_free(fx->dir);
}

/* ---- A raw client: bytes in, lines out ---- */

typedef struct {
    GSocketConnection *conn;
    GString *in;
    gboolean eof;
    guint8 buf[4096];
} Raw;

static Raw *
raw_connect(const char *path)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    g_autoptr(GError) error = NULL;
    Raw *raw = g_new0(Raw, 1);

    raw->conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
    g_assert_no_error(error);
    raw->in = g_string_new(NULL);
    return raw;
}

static void
raw_free(Raw *raw)
{
    g_object_unref(raw->conn);
    g_string_free(raw->in, TRUE);
    g_free(raw);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Raw, raw_free)

static void
raw_send(Raw *raw, const char *data)
{
    g_autoptr(GError) error = NULL;

    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(raw->conn)), data,
                              strlen(data), NULL, NULL, &error);
    g_assert_no_error(error);
}

static void
raw_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Raw *raw = user_data;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);

    if (n <= 0)
        raw->eof = TRUE;
    else
        g_string_append_len(raw->in, (const char *)raw->buf, n);
}

/* The next line without its newline, or NULL at end of stream. Runs the main
 * context (the server's too) while waiting. */
static char *
raw_read_line(Raw *raw)
{
    for (;;) {
        const char *nl = memchr(raw->in->str, '\n', raw->in->len);
        gboolean pending = TRUE;

        if (nl) {
            char *line = g_strndup(raw->in->str, nl - raw->in->str);

            g_string_erase(raw->in, 0, nl - raw->in->str + 1);
            return line;
        }
        if (raw->eof)
            return NULL;
        g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(raw->conn)), raw->buf,
                                  sizeof(raw->buf), G_PRIORITY_DEFAULT, NULL, raw_read_cb, raw);
        while (pending) {
            gsize before = raw->in->len;

            g_main_context_iteration(NULL, TRUE);
            pending = !raw->eof && raw->in->len == before;
        }
    }
}

/* Parses a reply line: its id, ok, and error code (NULL when ok). */
static void
check_reply(const char *line, guint64 id, const char *code)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractMessage) msg = NULL;

    g_assert_nonnull(line);
    msg = vfsec_contract_message_parse(line, strlen(line), &error);
    g_assert_no_error(error);
    g_assert_cmpint(msg->kind, ==, VFSEC_CONTRACT_MESSAGE_REPLY);
    g_assert_cmpuint(msg->id, ==, id);
    if (!code) {
        g_assert_true(msg->ok);
        return;
    }
    g_assert_false(msg->ok);
    g_assert_cmpstr(vfsec_contract_error_code_to_string(msg->error_code), ==, code);
}

/* ---- With the contract client ---- */

static VfsecContractClient *
client_connect(Fixture *fx, GError **error)
{
    g_autoptr(VfsecContractClient) client = vfsec_contract_client_new(fx->path);
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_contract_client_connect_async(client, 5000, NULL, vfsec_test_async_cb, &w);
    if (!vfsec_contract_client_connect_finish(client, vfsec_test_async_wait(NULL, &w), error))
        return NULL;
    return g_steal_pointer(&client);
}

static JsonObject *
port_args(guint port)
{
    JsonObject *args = json_object_new();

    json_object_set_int_member(args, "port", port);
    return args;
}

static gboolean
client_call(VfsecContractClient *client, const char *op, guint port, GError **error)
{
    g_autoptr(JsonObject) args = port_args(port);
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_contract_client_call_async(client, op, args, 5000, NULL, vfsec_test_async_cb, &w);
    return vfsec_contract_client_call_finish(client, vfsec_test_async_wait(NULL, &w), NULL, error);
}

static void
test_out_of_order(Fixture *fx, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractClient) client = client_connect(fx, &error);
    g_autoptr(JsonObject) args = port_args(0);
    g_autoptr(JsonObject) vfs = json_object_new();
    guint completions = 0;
    g_auto(VfsecTestAsync) slow = { .sequence = &completions };
    g_auto(VfsecTestAsync) fast = { .sequence = &completions };

    g_assert_no_error(error);
    g_assert_cmpstr(vfsec_contract_client_get_hello(client)->server, ==, "test-jsonl-server/0");
    g_assert_cmpuint(vfsec_jsonl_server_n_connections(fx->server), ==, 1);

    vfsec_contract_client_call_async(client, "list-vfs", args, 5000, NULL, vfsec_test_async_cb,
                                     &slow);
    vfsec_contract_client_call_async(client, "get-switch-mode", args, 5000, NULL,
                                     vfsec_test_async_cb, &fast);
    vfsec_test_async_wait(NULL, &fast);
    g_assert_null(slow.result);
    g_assert_true(vfsec_contract_client_call_finish(client, fast.result, NULL, &error));
    g_assert_no_error(error);

    /* The slow call was read and handed to its handler before the fast one. */
    g_assert_cmpuint(fx->held->len, ==, 1);
    g_assert_cmpstr(vfsec_jsonl_call_get_op(fx->held->pdata[0]), ==, "list-vfs");
    g_assert_cmpuint(vfsec_jsonl_call_get_request(fx->held->pdata[0])->args.port, ==, 0);
    json_object_set_array_member(vfs, "vfs", json_array_new());
    vfsec_jsonl_call_return_result(g_ptr_array_steal_index(fx->held, 0), vfs);
    vfsec_test_async_wait(NULL, &slow);
    g_assert_cmpuint(fast.order, <, slow.order);
    g_assert_true(vfsec_contract_client_call_finish(client, slow.result, NULL, &error));
    g_assert_no_error(error);
}

typedef struct {
    const char *op;
    guint port;
    GQuark domain;
    int code;
} ErrorCase;

static void
test_errors(Fixture *fx, gconstpointer data)
{
    const ErrorCase cases[] = {
        { "frobnicate", 0, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED },   /* unknown op */
        { "set-switch-mode", 0, VFSEC_ERROR, VFSEC_ERROR_INVALID },  /* no "mode" arg */
        { "get-macs", 0, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED },     /* a contract op, no handler */
        { "counters", 7, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND },      /* handler's GError */
        { "counters", 1, VFSEC_ERROR, VFSEC_ERROR_CONFLICT },       /* handler's "busy" */
        { "get-switch-mode", 0, 0, 0 },
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractClient) client = client_connect(fx, &error);

    g_assert_no_error(error);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        gboolean ok = client_call(client, cases[i].op, cases[i].port, &err);

        g_test_message("%s: %s", cases[i].op, err ? err->message : "ok");
        if (!cases[i].domain) {
            g_assert_no_error(err);
            g_assert_true(ok);
        } else {
            g_assert_false(ok);
            g_assert_error(err, cases[i].domain, cases[i].code);
        }
    }
}

/* Session rules, duplicate ids, and lines that close the connection. */
static void
test_raw_contract(Fixture *fx, gconstpointer data)
{
    g_autoptr(Raw) raw = raw_connect(fx->path);
    g_autofree char *line = NULL;

    raw_send(raw, "{\"id\":1,\"op\":\"get-switch-mode\",\"args\":{\"port\":0}}\n");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 1, "invalid");
    g_assert_nonnull(strstr(line, "hello must be the first request"));

    raw_send(raw, "{\"id\":2,\"op\":\"hello\",\"args\":{\"version\":2,\"client\":\"t\"}}\n");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 2, "version");
    raw_send(raw, "{\"id\":3,\"op\":\"hello\",\"args\":{\"version\":1,\"client\":\"t\"}}\r\n");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 3, NULL);
    raw_send(raw, "{\"id\":4,\"op\":\"hello\",\"args\":{\"version\":1,\"client\":\"t\"}}\n");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 4, "invalid");

    /* An id still in flight: the second request is refused, the first goes on. */
    raw_send(raw, "{\"id\":5,\"op\":\"list-vfs\",\"args\":{\"port\":0}}\n"
                  "{\"id\":5,\"op\":\"get-switch-mode\",\"args\":{\"port\":0}}\n");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 5, "invalid");
    g_assert_nonnull(strstr(line, "already in flight"));
    g_assert_cmpuint(fx->held->len, ==, 1);
    vfsec_jsonl_call_return_result(g_ptr_array_steal_index(fx->held, 0), NULL);
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 5, NULL);

    /* Not JSON: no id to answer, so the server closes. */
    raw_send(raw, "{\"id\":6,\"op\":\n");
    g_free(line), line = raw_read_line(raw);
    g_assert_null(line);
    g_assert_cmpuint(vfsec_jsonl_server_n_connections(fx->server), ==, 0);
}

static void
test_long_line(Fixture *fx, gconstpointer data)
{
    g_autoptr(Raw) raw = raw_connect(fx->path);
    g_autofree char *junk = g_strnfill(1025, 'x');
    g_autofree char *line = NULL;

    raw_send(raw, "{\"id\":9,\"op\":\"echo\",\"args\":{\"a\":[1,2]}}\n");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 9, NULL);
    g_assert_nonnull(strstr(line, "\"result\":{\"a\":[1,2]}"));

    /* A complete line, then one over 1024 bytes: the first is answered, then
     * the connection closes without waiting for the long one's newline. */
    raw_send(raw, "{\"id\":10,\"op\":\"echo\"}\n");
    raw_send(raw, junk);
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 10, NULL);
    g_free(line), line = raw_read_line(raw);
    g_assert_null(line);

    /* Generic mode takes any op; unknown ones are unsupported, bad args invalid. */
    g_clear_pointer(&raw, raw_free);
    raw = raw_connect(fx->path);
    raw_send(raw, "{\"id\":1,\"op\":\"nope\"}\n{\"id\":2,\"op\":\"echo\",\"args\":[]}\n{\"id\":3,\"op\":7}\n"
                  "{\"id\":4,\"op\":\"echo\",\"args\":null}\n");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 1, "unsupported");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 2, "invalid");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 3, "invalid");
    g_free(line), line = raw_read_line(raw);
    g_assert_cmpstr(line, ==, "{\"id\":4,\"ok\":true,\"result\":{}}");

    /* Not strict JSON (a second "id" json-glib would prefer): closed. */
    raw_send(raw, "{\"id\":5,\"op\":\"echo\",\"id\":6}\n");
    g_free(line), line = raw_read_line(raw);
    g_assert_null(line);
}

/* A protocol of its own on the generic mode: parse function, reply members
 * and error names (how vfsecd serves its control protocol). */
static void
test_protocol(Fixture *fx, gconstpointer data)
{
    static const struct {
        const char *request;
        const char *reply;    /* NULL: the server closes the connection */
    } exchanges[] = {
        { "{\"id\":1,\"proto\":\"t\",\"op\":\"echo\",\"args\":{\"a\":1}}",
          "{\"proto\":\"t\",\"id\":1,\"ok\":true,\"result\":{\"a\":1}}" },
        { "{\"id\":2,\"proto\":\"t\",\"op\":\"parsed\",\"tag\":\"xyz\"}",
          "{\"proto\":\"t\",\"id\":2,\"ok\":true,\"result\":{\"parsed\":\"xyz\"}}" },
        /* A handler's error: named the protocol's way, one line. */
        { "{\"id\":3,\"proto\":\"t\",\"op\":\"parsed\",\"tag\":\"fail\"}",
          "{\"proto\":\"t\",\"id\":3,\"ok\":false,\"error\":{\"code\":\"taken\",\"message\":\"taken\"}}" },
        /* The parse function's error, once it has the id. */
        { "{\"id\":4,\"proto\":\"u\",\"op\":\"echo\"}",
          "{\"proto\":\"t\",\"id\":4,\"ok\":false,\"error\":{\"code\":\"wrong-proto\","
          "\"message\":\"t: proto is 'u'\"}}" },
        /* The server's own. */
        { "{\"id\":5,\"proto\":\"t\",\"op\":\"nope\"}",
          "{\"proto\":\"t\",\"id\":5,\"ok\":false,\"error\":{\"code\":\"no-such-op\","
          "\"message\":\"op 'nope' is not supported by this server\"}}" },
        /* No id the parse function can read: nothing to answer. */
        { "{\"id\":101,\"proto\":\"t\",\"op\":\"echo\"}", NULL },
    };
    g_autoptr(Raw) raw = raw_connect(fx->path);

    for (guint i = 0; i < G_N_ELEMENTS(exchanges); i++) {
        g_autofree char *request = g_strconcat(exchanges[i].request, "\n", NULL);
        g_autofree char *line = NULL;

        raw_send(raw, request);
        line = raw_read_line(raw);
        g_assert_cmpstr(line, ==, exchanges[i].reply);
    }
}

static void
test_notify(Fixture *fx, gconstpointer data)
{
    g_autoptr(Raw) a = raw_connect(fx->path);
    g_autoptr(Raw) b = raw_connect(fx->path);
    g_autoptr(JsonObject) payload = json_object_new();
    g_autofree char *line = NULL;

    raw_send(a, "{\"id\":1,\"op\":\"subscribe\",\"args\":{\"mask\":2}}\n");
    g_free(line), line = raw_read_line(a);
    check_reply(line, 1, NULL);
    raw_send(b, "{\"id\":1,\"op\":\"subscribe\",\"args\":{\"mask\":1}}\n");
    g_free(line), line = raw_read_line(b);
    check_reply(line, 1, NULL);

    json_object_set_int_member(payload, "vf", 3);
    vfsec_jsonl_server_notify(fx->server, 2, "vf-reset", payload);
    vfsec_jsonl_server_notify(fx->server, 1, "port-change", NULL);
    g_free(line), line = raw_read_line(a);
    g_assert_cmpstr(line, ==, "{\"event\":\"vf-reset\",\"data\":{\"vf\":3}}");
    g_free(line), line = raw_read_line(b);
    g_assert_cmpstr(line, ==, "{\"event\":\"port-change\",\"data\":{}}");

    /* Only one line each: an echo now comes right after. */
    raw_send(a, "{\"id\":2,\"op\":\"echo\"}\n");
    g_free(line), line = raw_read_line(a);
    check_reply(line, 2, NULL);
}

static void
notified(VfsecContractClient *client, const VfsecContractNotification *n, gpointer user_data)
{
    guint *vf = user_data;

    g_assert_cmpint(n->event, ==, VFSEC_CONTRACT_EVENT_VF_RESET);
    *vf = n->vf;
}

static void
test_notify_contract(Fixture *fx, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractClient) client = vfsec_contract_client_new(fx->path);
    VfsecContractNotification n = { .event = VFSEC_CONTRACT_EVENT_VF_RESET, .port = 0, .vf = 5 };
    g_autofree char *line = NULL;
    guint vf = G_MAXUINT;
    gsize len = 0;
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_contract_client_set_notify_func(client, notified, &vf, NULL);
    vfsec_contract_client_connect_async(client, 5000, NULL, vfsec_test_async_cb, &w);
    vfsec_test_async_wait(NULL, &w);
    g_assert_true(vfsec_contract_client_connect_finish(client, w.result, &error));
    vfsec_test_async_clear(&w);
    vfsec_contract_client_subscribe_async(client, VFSEC_CONTRACT_EVENT_MASK(VFSEC_CONTRACT_EVENT_VF_RESET),
                                          5000, NULL, vfsec_test_async_cb, &w);
    vfsec_test_async_wait(NULL, &w);
    g_assert_true(vfsec_contract_client_subscribe_finish(client, w.result, &error));
    g_assert_no_error(error);
    vfsec_test_async_clear(&w);

    line = vfsec_contract_notification_build(&n, &len, &error);
    g_assert_no_error(error);
    vfsec_jsonl_server_broadcast_line(fx->server, VFSEC_CONTRACT_EVENT_MASK(VFSEC_CONTRACT_EVENT_AGENT_RESET),
                                      line, len);
    vfsec_jsonl_server_broadcast_line(fx->server, VFSEC_CONTRACT_EVENT_MASK(VFSEC_CONTRACT_EVENT_VF_RESET),
                                      line, len);
    while (vf == G_MAXUINT)
        g_main_context_iteration(NULL, TRUE);
    g_assert_cmpuint(vf, ==, 5);
}

/* A call whose connection went away still ends normally; its reply drops. */
static void
test_closed_with_call(Fixture *fx, gconstpointer data)
{
    g_autoptr(Raw) raw = raw_connect(fx->path);
    g_autofree char *line = NULL;
    VfsecJsonlCall *call;

    raw_send(raw, "{\"id\":1,\"op\":\"slow\"}\n");
    while (fx->held->len == 0)
        g_main_context_iteration(NULL, TRUE);
    g_clear_pointer(&raw, raw_free);
    while (vfsec_jsonl_server_n_connections(fx->server) > 0)
        g_main_context_iteration(NULL, TRUE);
    call = g_ptr_array_steal_index(fx->held, 0);
    g_assert_false(vfsec_jsonl_call_is_connected(call));
    g_assert_cmpuint(vfsec_jsonl_call_get_id(call), ==, 1);
    vfsec_jsonl_call_return_result(call, NULL);
}

/* ---- Peer credentials ---- */

static void
test_refused(Fixture *fx, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractClient) client = NULL;
    g_autoptr(Raw) raw = NULL;
    g_autofree char *line = NULL;

    fx->refuse = TRUE;
    fixture_start(fx, MODE_CONTRACT);

    /* The first request is answered "permission", then the server closes. */
    raw = raw_connect(fx->path);
    raw_send(raw, "{\"id\":42,\"op\":\"hello\",\"args\":{\"version\":1,\"client\":\"t\"}}\n"
                  "{\"id\":43,\"op\":\"hello\",\"args\":{\"version\":1,\"client\":\"t\"}}\n");
    g_free(line), line = raw_read_line(raw);
    check_reply(line, 42, "permission");
    g_assert_nonnull(strstr(line, "is not on the test's list"));
    g_free(line), line = raw_read_line(raw);
    g_assert_null(line);

    client = client_connect(fx, &error);
    g_assert_null(client);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION);
    g_assert_cmpuint(fx->handled, ==, 0);
}

/* The default check, for real, both ways: our primary group is allowed (the
 * fixture's config), and "root only" refuses us unless we are root. */
static void
test_default_auth(Fixture *fx, gconstpointer data)
{
    VfsecJsonlServerConfig config = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractClient) client = NULL;
    g_autofree char *path = g_build_filename(fx->dir, "root-only.sock", NULL);
    g_autoptr(VfsecJsonlServer) root_only = NULL;

    fixture_start(fx, MODE_CONTRACT | MODE_DEFAULT_AUTH);
    client = client_connect(fx, &error);
    g_assert_no_error(error);
    g_assert_nonnull(client);
    g_clear_object(&client);

    config.socket_path = path;
    config.contract = TRUE;
    root_only = vfsec_jsonl_server_new(&config);
    vfsec_jsonl_server_add_handlers(root_only, contract_handlers, fx);
    g_assert_true(vfsec_jsonl_server_start(root_only, &error));
    client = vfsec_contract_client_new(path);
    {
        g_auto(VfsecTestAsync) w = { 0 };

        vfsec_contract_client_connect_async(client, 5000, NULL, vfsec_test_async_cb, &w);
        vfsec_test_async_wait(NULL, &w);
        if (geteuid() == 0) {
            g_assert_true(vfsec_contract_client_connect_finish(client, w.result, &error));
        } else {
            g_assert_false(vfsec_contract_client_connect_finish(client, w.result, &error));
            g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION);
        }
    }
}

/* As root: real peers with other credentials, in forked children. */
typedef struct {
    const char *name;
    gid_t gid;
    gid_t supplementary;     /* 0: none */
    const char *expect;      /* in the reply line */
} RealPeer;

#define TEST_GROUP 4242
#define NOBODY 65534

static const RealPeer real_peers[] = {
    { "stranger", NOBODY, 0, "\"code\":\"permission\"" },
    { "supplementary member", NOBODY, TEST_GROUP, "\"ok\":true" },
    { "primary member", TEST_GROUP, 0, "\"ok\":true" },
};

/* The child: become uid NOBODY, send one request, exit 0 if the reply holds
 * @expect. Only system calls: this runs after fork(). */
static G_NORETURN void
real_peer_child(const char *path, const RealPeer *peer)
{
    static const char req[] = "{\"id\":1,\"op\":\"echo\"}\n";
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char buf[4096];
    gsize got = 0;
    int fd;

    if (setgroups(peer->supplementary ? 1 : 0, &peer->supplementary) < 0 ||
        setresgid(peer->gid, peer->gid, peer->gid) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
        _exit(2);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        write(fd, req, sizeof(req) - 1) != sizeof(req) - 1)
        _exit(3);
    while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

        if (n <= 0)
            break;
        got += (gsize)n;
    }
    buf[got] = '\0';
    _exit(strstr(buf, peer->expect) ? 0 : 1);
}

static void
child_exited(GPid pid, gint status, gpointer user_data)
{
    gint *out = user_data;

    *out = status;
}

static void
test_real_peers(Fixture *fx, gconstpointer data)
{
    VfsecJsonlServerConfig config = { 0 };
    g_autoptr(GError) error = NULL;

    if (geteuid() != 0) {
        g_test_skip("needs root to connect with other credentials");
        return;
    }
    config.socket_path = fx->path;
    config.allow_group = TRUE;
    config.group = TEST_GROUP;
    fx->server = vfsec_jsonl_server_new(&config);
    vfsec_jsonl_server_add_handlers(fx->server, generic_handlers, fx);
    g_assert_true(vfsec_jsonl_server_start(fx->server, &error));
    g_assert_no_error(error);
    /* Let a stranger reach the socket so the credential check is what stops
     * it (with 0660 the file mode would, before the server sees anything). */
    g_assert_cmpint(chmod(fx->dir, 0755), ==, 0);
    g_assert_cmpint(chmod(fx->path, 0666), ==, 0);

    for (guint i = 0; i < G_N_ELEMENTS(real_peers); i++) {
        gint status = -1;
        pid_t pid = fork();

        g_assert_cmpint(pid, >=, 0);
        if (pid == 0)
            real_peer_child(fx->path, &real_peers[i]);
        g_child_watch_add(pid, child_exited, &status);
        while (status == -1)
            g_main_context_iteration(NULL, TRUE);
        g_test_message("%s: wait status %d", real_peers[i].name, status);
        g_assert_true(g_spawn_check_wait_status(status, &error));
        g_assert_no_error(error);
    }
}

typedef struct {
    const char *name;
    uid_t uid;
    gid_t gid;
    gboolean allow_group;
    const char *status;      /* NULL: no status file */
    gboolean allowed;
} PeerCase;

static const PeerCase peer_cases[] = {
    { "root", 0, 0, FALSE, NULL, TRUE },
    { "root only", 1000, 27, FALSE, "Groups:\t27\n", FALSE },
    { "primary group", 1000, 27, TRUE, NULL, TRUE },
    { "supplementary", 1000, 100, TRUE, "Name:\tx\nGroups:\t100 27 1000 \nUid:\t1000\n", TRUE },
    { "not a member", 1000, 100, TRUE, "Groups:\t100 1000\n", FALSE },
    { "no groups", 1000, 100, TRUE, "Groups:\n", FALSE },
    { "peer gone", 1000, 100, TRUE, NULL, FALSE },
    { "no Groups line", 1000, 100, TRUE, "Name:\tx\n", FALSE },
    { "garbage", 1000, 100, TRUE, "Groups:\t100 2x7\n", FALSE },
    { "hex", 1000, 100, TRUE, "Groups:\t0x1b\n", FALSE },
    { "overflow", 1000, 100, TRUE, "Groups:\t4294967323\n", FALSE },
};

static void
test_peer_allowed(Fixture *fx, gconstpointer data)
{
    for (guint i = 0; i < G_N_ELEMENTS(peer_cases); i++) {
        const PeerCase *c = &peer_cases[i];
        VfsecJsonlPeer peer = { .pid = 4242 + i, .uid = c->uid, .gid = c->gid, .n_groups = -1 };
        g_autofree char *pid_dir = g_strdup_printf("%s/%d", fx->dir, (int)peer.pid);
        g_autofree char *status = g_build_filename(pid_dir, "status", NULL);
        g_autoptr(GError) error = NULL;
        gboolean ok;

        if (c->status) {
            g_assert_cmpint(g_mkdir(pid_dir, 0700), ==, 0);
            g_assert_true(g_file_set_contents(status, c->status, -1, &error));
        }
        ok = vfsec_jsonl_peer_allowed(&peer, c->allow_group, 27, fx->dir, &error);
        g_test_message("%s: %s", c->name, error ? error->message : "allowed");
        g_assert_cmpint(ok, ==, c->allowed);
        if (!ok)
            g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION);
        if (c->status) {
            g_unlink(status);
            g_rmdir(pid_dir);
        }
    }
}

/* The kernel's groups (SO_PEERGROUPS) win over /proc/<pid>/status, which a
 * process that reused the peer's pid could answer for. */
static void
test_peer_groups_kernel(Fixture *fx, gconstpointer data)
{
    static const struct {
        const char *name;
        int n_groups;
        gid_t groups[2];
        const char *status;     /* what a reused pid's /proc says */
        gboolean allowed;
    } cases[] = {
        { "member", 2, { 100, 27 }, "Groups:\t100\n", TRUE },
        { "not a member", 1, { 100 }, "Groups:\t27\n", FALSE },
        { "none", 0, { 0 }, "Groups:\t27\n", FALSE },
    };

    (void)data;
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        VfsecJsonlPeer peer = { .pid = 5252 + i, .uid = 1000, .gid = 100,
                                .n_groups = cases[i].n_groups };
        g_autofree char *pid_dir = g_strdup_printf("%s/%d", fx->dir, (int)peer.pid);
        g_autofree char *status = g_build_filename(pid_dir, "status", NULL);
        g_autoptr(GError) error = NULL;
        gboolean ok;

        memcpy(peer.groups, cases[i].groups, sizeof(cases[i].groups));
        g_assert_cmpint(g_mkdir(pid_dir, 0700), ==, 0);
        g_assert_true(g_file_set_contents(status, cases[i].status, -1, &error));
        ok = vfsec_jsonl_peer_allowed(&peer, TRUE, 27, fx->dir, &error);
        g_test_message("%s: %s", cases[i].name, error ? error->message : "allowed");
        g_assert_cmpint(ok, ==, cases[i].allowed);
        g_unlink(status);
        g_rmdir(pid_dir);
    }
}

/* ---- The socket file ---- */

static void
test_socket_file(Fixture *fx, gconstpointer data)
{
    VfsecJsonlServerConfig config = { .socket_path = fx->path };
    g_autoptr(VfsecJsonlServer) second = NULL;
    g_autoptr(GError) error = NULL;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    /* A stale socket: bound by a process that is gone (closed, not unlinked). */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(addr.sun_path, fx->path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    close(fd);
    g_assert_true(g_file_test(fx->path, G_FILE_TEST_EXISTS));

    fixture_start(fx, 0);
    g_assert_cmpint(stat(fx->path, &st), ==, 0);
    g_assert_true(S_ISSOCK(st.st_mode));
    g_assert_cmpint(st.st_mode & 07777, ==, 0660);
    g_assert_cmpuint(st.st_gid, ==, getegid());

    /* A live server owns the path: a second one is refused and leaves it. */
    second = vfsec_jsonl_server_new(&config);
    g_assert_false(vfsec_jsonl_server_start(second, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_clear_error(&error);
    g_clear_pointer(&second, vfsec_jsonl_server_free);
    g_assert_true(g_file_test(fx->path, G_FILE_TEST_EXISTS));
    g_clear_pointer(&fx->server, vfsec_jsonl_server_free);
    g_assert_false(g_file_test(fx->path, G_FILE_TEST_EXISTS));

    /* Not a socket: never removed. */
    g_assert_true(g_file_set_contents(fx->path, "data", -1, &error));
    second = vfsec_jsonl_server_new(&config);
    g_assert_false(vfsec_jsonl_server_start(second, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_clear_pointer(&second, vfsec_jsonl_server_free);
    g_assert_true(g_file_test(fx->path, G_FILE_TEST_IS_REGULAR));
    g_unlink(fx->path);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, mode, func) \
    g_test_add(path, Fixture, GUINT_TO_POINTER(mode), fixture_setup, func, fixture_teardown)
    ADD("/jsonl-server/contract/out-of-order", MODE_CONTRACT, test_out_of_order);
    ADD("/jsonl-server/contract/errors", MODE_CONTRACT, test_errors);
    ADD("/jsonl-server/contract/raw", MODE_CONTRACT, test_raw_contract);
    ADD("/jsonl-server/contract/notify", MODE_CONTRACT, test_notify_contract);
    ADD("/jsonl-server/generic/long-line", MODE_SMALL_LINES, test_long_line);
    ADD("/jsonl-server/generic/notify", 0, test_notify);
    ADD("/jsonl-server/generic/closed-with-call", 0, test_closed_with_call);
    ADD("/jsonl-server/generic/protocol", MODE_PROTOCOL, test_protocol);
    /* These start the server themselves. */
    ADD("/jsonl-server/auth/refused", MODE_NO_START, test_refused);
    ADD("/jsonl-server/auth/default", MODE_NO_START, test_default_auth);
    ADD("/jsonl-server/auth/peer-allowed", MODE_NO_START, test_peer_allowed);
    ADD("/jsonl-server/auth/peer-groups-kernel", MODE_NO_START, test_peer_groups_kernel);
    ADD("/jsonl-server/auth/real-peers", MODE_NO_START, test_real_peers);
    ADD("/jsonl-server/socket-file", MODE_NO_START, test_socket_file);
#undef ADD
    return g_test_run();
}
