/* vfsec-jsonl-server.c: a JSON-lines request/reply server on a Unix stream
 * socket (the PF-driver contract's transport, docs/pf-driver-contract.md, and
 * vfsecd's control protocol's, docs/control-protocol.md). */
#include "vfsec-jsonl-server.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfsec-addr.h"
#include "vfsec-error.h"
#include "vfsec-json.h"

/*
 * Theory of operation
 *
 * Listening. start() replaces a stale socket file (one nobody answers on),
 * binds, sets mode and group BEFORE listen() so no peer can connect through
 * a looser mode, then watches the listening socket with a GSource on the
 * caller's context. At shutdown the file is removed only if it is still the
 * inode we bound (a newer server may have replaced it).
 *
 * Connections. At accept the peer's SO_PEERCRED credentials are read and
 * checked at once; supplementary groups come from SO_PEERGROUPS (recorded at
 * connect(), so immune to pid reuse), else from /proc/<pid>/status, which
 * must be read while the peer still exists. Bytes go through the contract's
 * framer; each complete line is one request. Every line is held to strict
 * JSON (vfsec_json_parse_line(): depth, UTF-8, integer range, duplicate
 * members) before json-glib sees it, by vfsec_contract_request_parse() in
 * contract mode and by the server itself in generic mode, where the
 * protocol's parse function then reads the request. A line without a usable
 * id cannot be answered and closes the connection; any other fault is
 * answered with an error reply to that id.
 *
 * Replies. Both modes write the contract's envelope, with the server's
 * reply_members in front (the control protocol's "v") and error codes named
 * by the server's error_code function, so one server type serves both
 * protocols without knowing either's details.
 *
 * A refused peer's first line is answered "permission" (if it has an id) and
 * the connection closes once that reply is written. An over-long line, or one
 * without a usable id, is not read further: the connection closes as soon as
 * the replies to the lines before it are written.
 *
 * Calls. Each request becomes a VfsecJsonlCall handed to its handler, which
 * ends it whenever it likes; replies therefore go out in completion order.
 * A call holds a reference on its connection, so a connection closed by the
 * peer stays allocated until its last call ends, and that reply is dropped.
 * Output is a queue of lines written one at a time, so replies and
 * notifications keep the order in which they were produced; a peer that
 * stops reading while more than VFSEC_JSONL_MAX_QUEUED bytes pile up is
 * disconnected rather than letting it grow the server without bound.
 */

#define VFSEC_JSONL_READ_SIZE 65536
#define VFSEC_JSONL_MAX_QUEUED (16 * 1024 * 1024)
#define VFSEC_JSONL_MAX_PROC_STATUS (64 * 1024)

typedef struct {
    VfsecJsonlHandlerFunc func;
    gpointer user_data;
} Handler;

struct _VfsecJsonlServer {
    char *socket_path;
    char *proc_root;
    guint mode;
    gboolean allow_group;
    gid_t group;
    gsize max_line;
    guint max_depth;
    gboolean contract;
    VfsecJsonlParseFunc parse;
    GDestroyNotify parsed_free;
    JsonObject *reply_members;
    VfsecJsonlErrorCodeFunc error_code;
    GMainContext *context;
    GHashTable *handlers;      /* op -> Handler* */
    VfsecJsonlAuthFunc auth;
    gpointer auth_data;
    GSocket *listener;
    GSource *accept_source;
    gboolean bound;            /* the socket file is ours: remove it at the end */
    dev_t dev;
    ino_t ino;
    GQueue conns;              /* VfsecJsonlConn*, open ones */
};

struct _VfsecJsonlConn {
    gint refs;
    VfsecJsonlServer *server;  /* NULL once closed */
    GSocketConnection *stream;
    GCancellable *cancel;      /* of the pending read and write */
    VfsecContractFramer *framer;
    guint8 *buf;
    VfsecJsonlPeer peer;
    gboolean allowed;
    GError *refusal;           /* why the peer is refused */
    gboolean greeted;          /* contract mode: hello succeeded */
    guint32 events;
    GHashTable *ids;           /* guint64* ids of calls in flight */
    GQueue out;                /* GBytes* lines */
    gsize queued;
    gboolean writing;
    gboolean closing;          /* close once the output queue is written */
};

/* A request as its handler gets it. */
typedef struct {
    char *op;
    JsonObject *args;
    gpointer parsed;           /* the typed request */
    GDestroyNotify parsed_free;
} Request;

static void
request_clear(Request *req)
{
    g_clear_pointer(&req->op, g_free);
    g_clear_pointer(&req->args, json_object_unref);
    if (req->parsed && req->parsed_free)
        req->parsed_free(req->parsed);
    req->parsed = NULL;
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Request, request_clear)

struct _VfsecJsonlCall {
    VfsecJsonlConn *conn;
    guint64 id;
    Request req;
    gboolean contract;         /* req.parsed is a VfsecContractRequest */
    gboolean hello;
};

/* ---- Peer credentials ---- */

/* The peer's supplementary groups as the kernel recorded them at connect()
 * (SO_PEERGROUPS), into @groups; -1 when unknown (an older kernel, or more
 * than VFSEC_JSONL_MAX_PEER_GROUPS). */
static int
peer_groups(int fd, gid_t *groups)
{
#ifdef SO_PEERGROUPS
    socklen_t len = VFSEC_JSONL_MAX_PEER_GROUPS * sizeof(gid_t);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
        return (int)(len / sizeof(gid_t));
#else
    (void)fd;
    (void)groups;
#endif
    return -1;
}

/* Reads the "Groups:" line of @proc_root/@pid/status into @gids. */
static gboolean
read_groups(const char *proc_root, pid_t pid, GArray *gids, GError **error)
{
    g_autofree char *path = g_strdup_printf("%s/%d/status", proc_root, (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, error))
        return FALSE;
    if (len > VFSEC_JSONL_MAX_PROC_STATUS) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s is %" G_GSIZE_FORMAT " bytes long", path, len);
        return FALSE;
    }
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        g_auto(GStrv) words = NULL;

        if (!g_str_has_prefix(lines[i], "Groups:"))
            continue;
        words = g_strsplit_set(lines[i] + strlen("Groups:"), " \t", -1);
        for (guint j = 0; words[j]; j++) {
            guint64 gid;
            gid_t g;

            if (!*words[j])
                continue;
            /* Decimal only: vfsec_parse_uint() would also take 0x... */
            if ((words[j][0] == '0' && words[j][1]) || !vfsec_parse_uint(words[j], G_MAXUINT32, &gid)) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "%s: '%s' in the Groups line is not a group id", path, words[j]);
                return FALSE;
            }
            g = (gid_t)gid;
            g_array_append_val(gids, g);
        }
        return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s has no Groups line", path);
    return FALSE;
}

gboolean
vfsec_jsonl_peer_allowed(const VfsecJsonlPeer *peer, gboolean allow_group, gid_t group,
                         const char *proc_root, GError **error)
{
    g_autoptr(GArray) gids = g_array_new(FALSE, FALSE, sizeof(gid_t));
    g_autoptr(GError) local = NULL;

    if (peer->uid == 0)
        return TRUE;
    if (!allow_group) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "uid %u (pid %d) is not root", (guint)peer->uid, (int)peer->pid);
        return FALSE;
    }
    if (peer->gid == group)
        return TRUE;
    /* The kernel's copy first: taken at connect(), so a pid reused since
     * cannot lend its groups. */
    if (peer->n_groups >= 0) {
        for (int i = 0; i < peer->n_groups; i++)
            if (peer->groups[i] == group)
                return TRUE;
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "uid %u (pid %d) is neither root nor in group %u", (guint)peer->uid,
                    (int)peer->pid, (guint)group);
        return FALSE;
    }
    /* Unreadable (the peer already exited): denied, as the contract says. */
    if (!read_groups(proc_root ? proc_root : "/proc", peer->pid, gids, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                    "cannot read the groups of uid %u (pid %d): %s", (guint)peer->uid,
                    (int)peer->pid, local->message);
        return FALSE;
    }
    for (guint i = 0; i < gids->len; i++) {
        if (g_array_index(gids, gid_t, i) == group)
            return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                "uid %u (pid %d) is neither root nor in group %u", (guint)peer->uid,
                (int)peer->pid, (guint)group);
    return FALSE;
}

static gboolean
default_auth(const VfsecJsonlPeer *peer, gpointer user_data, GError **error)
{
    VfsecJsonlServer *server = user_data;

    return vfsec_jsonl_peer_allowed(peer, server->allow_group, server->group, server->proc_root,
                                    error);
}

/* ---- Connections: output ---- */

static void conn_close(VfsecJsonlConn *conn);
static void conn_write_next(VfsecJsonlConn *conn);
static void conn_read_next(VfsecJsonlConn *conn);

static VfsecJsonlConn *
conn_ref(VfsecJsonlConn *conn)
{
    conn->refs++;
    return conn;
}

static void
conn_unref(VfsecJsonlConn *conn)
{
    if (--conn->refs > 0)
        return;
    g_assert(!conn->server);
    g_clear_object(&conn->stream);
    g_clear_object(&conn->cancel);
    g_clear_pointer(&conn->framer, vfsec_contract_framer_free);
    g_clear_pointer(&conn->ids, g_hash_table_destroy);
    g_queue_clear_full(&conn->out, (GDestroyNotify)g_bytes_unref);
    g_clear_error(&conn->refusal);
    g_free(conn->buf);
    g_free(conn);
}

static void
write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VfsecJsonlConn *conn = user_data;
    g_autoptr(GError) error = NULL;
    GBytes *line;

    conn->writing = FALSE;
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        if (conn->server)
            g_debug("connection of pid %d: write failed: %s", (int)conn->peer.pid, error->message);
        conn_close(conn);
        conn_unref(conn);
        return;
    }
    line = g_queue_pop_head(&conn->out);
    conn->queued -= g_bytes_get_size(line);
    g_bytes_unref(line);
    conn_write_next(conn);
    conn_unref(conn);
}

static void
conn_write_next(VfsecJsonlConn *conn)
{
    GBytes *line;
    gsize len = 0;
    const void *data;

    if (!conn->server || conn->writing)
        return;
    line = g_queue_peek_head(&conn->out);
    if (!line) {
        if (conn->closing)
            conn_close(conn);
        return;
    }
    data = g_bytes_get_data(line, &len);
    conn->writing = TRUE;
    g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(conn->stream)),
                                    data, len, G_PRIORITY_DEFAULT, conn->cancel, write_cb,
                                    conn_ref(conn));
}

/* Queues a line (with its newline) for @conn; takes @line. */
static void
conn_send(VfsecJsonlConn *conn, char *line, gsize len)
{
    if (!conn->server || !line) {
        g_free(line);
        return;
    }
    if (conn->queued + len > VFSEC_JSONL_MAX_QUEUED) {
        g_message("connection of pid %d: more than %d bytes unread, disconnecting",
                  (int)conn->peer.pid, VFSEC_JSONL_MAX_QUEUED);
        g_free(line);
        conn_close(conn);
        return;
    }
    conn->queued += len;
    g_queue_push_tail(&conn->out, g_bytes_new_take(line, len));
    conn_write_next(conn);
}

/* An error reply with the wire code @code. */
static void
conn_send_error(VfsecJsonlConn *conn, guint64 id, const char *code, const char *message)
{
    gsize len = 0;
    char *line;

    /* Closed: the server (and its reply members) may be gone. */
    if (!conn->server)
        return;
    line = vfsec_contract_reply_error_build_full(conn->server->reply_members, id, code, message,
                                                 &len);
    conn_send(conn, line, len);
}

/* An error reply for @error, its code named the server's way. */
static void
conn_send_gerror(VfsecJsonlConn *conn, guint64 id, const GError *error)
{
    VfsecJsonlServer *server = conn->server;
    const char *code;

    if (!server)
        return;
    code = server->error_code ? server->error_code(error) :
           vfsec_contract_error_code_to_string(vfsec_contract_error_code_from_gerror(error));
    conn_send_error(conn, id, code, error->message);
}

/* Closes the socket and forgets the connection; calls still running keep
 * the structure alive and their replies are dropped. */
static void
conn_close(VfsecJsonlConn *conn)
{
    VfsecJsonlServer *server = conn->server;

    if (!server)
        return;
    conn->server = NULL;
    g_cancellable_cancel(conn->cancel);
    /* The socket itself, at once: the streams refuse to close while the
     * cancelled read is still pending, and calls may keep @conn for long. */
    g_socket_close(g_socket_connection_get_socket(conn->stream), NULL);
    g_queue_remove(&server->conns, conn);
    conn_unref(conn);
}

/* ---- Calls ---- */

static void
call_free(VfsecJsonlCall *call)
{
    g_hash_table_remove(call->conn->ids, &call->id);
    conn_unref(call->conn);
    request_clear(&call->req);
    g_free(call);
}

guint64
vfsec_jsonl_call_get_id(VfsecJsonlCall *call)
{
    return call->id;
}

const char *
vfsec_jsonl_call_get_op(VfsecJsonlCall *call)
{
    return call->req.op;
}

JsonObject *
vfsec_jsonl_call_get_args(VfsecJsonlCall *call)
{
    return call->req.args;
}

const VfsecContractRequest *
vfsec_jsonl_call_get_request(VfsecJsonlCall *call)
{
    return call->contract ? call->req.parsed : NULL;
}

gpointer
vfsec_jsonl_call_get_parsed(VfsecJsonlCall *call)
{
    return call->req.parsed;
}

VfsecJsonlConn *
vfsec_jsonl_call_get_conn(VfsecJsonlCall *call)
{
    return call->conn;
}

gboolean
vfsec_jsonl_call_is_connected(VfsecJsonlCall *call)
{
    return call->conn->server != NULL;
}

void
vfsec_jsonl_call_return_result(VfsecJsonlCall *call, JsonObject *result)
{
    g_autoptr(GError) error = NULL;
    gsize len = 0;
    char *line;

    VfsecJsonlServer *server = call->conn->server;

    if (!server) {
        call_free(call);
        return;
    }
    line = vfsec_contract_reply_build_full(server->reply_members, call->id, result,
                                           server->max_line, &len, &error);
    if (!line) {
        g_message("%s reply to pid %d not sent: %s", call->req.op, (int)call->conn->peer.pid,
                  error->message);
        /* The server's fault, not the request's. */
        error->code = VFSEC_ERROR_FAILED;
        vfsec_jsonl_call_return_error(call, error);
        return;
    }
    if (call->hello)
        call->conn->greeted = TRUE;
    conn_send(call->conn, line, len);
    call_free(call);
}

void
vfsec_jsonl_call_return_error_code(VfsecJsonlCall *call, VfsecContractErrorCode code,
                                   const char *message)
{
    conn_send_error(call->conn, call->id, vfsec_contract_error_code_to_string(code), message);
    call_free(call);
}

void
vfsec_jsonl_call_return_error(VfsecJsonlCall *call, const GError *error)
{
    conn_send_gerror(call->conn, call->id, error);
    call_free(call);
}

/* ---- Connections: input ---- */

/* Contract mode: the typed request, whose op and args the call also gets. */
static gboolean
read_contract(const char *line, gsize len, gint64 *id, Request *req, GError **error)
{
    g_autoptr(GError) local = NULL;
    guint64 rid = 0;
    VfsecContractRequest *creq = vfsec_contract_request_parse(line, len, &rid, &local);

    /* PROTOCOL: the line has no usable id. */
    if (creq || !g_error_matches(local, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL))
        *id = (gint64)rid;
    if (!creq) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    req->op = g_strdup(vfsec_contract_op_to_string(creq->op));
    req->args = vfsec_contract_request_args_to_json(creq);
    req->parsed = creq;
    req->parsed_free = (GDestroyNotify)vfsec_contract_request_free;
    return TRUE;
}

/* Generic mode without a parse function: the id is all that is checked. */
static gboolean
read_id(JsonObject *root, gint64 *id, GError **error)
{
    JsonNode *node = json_object_get_member(root, "id");

    if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
        json_node_get_int(node) < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "request: id is missing or not an integer 0-%" G_GINT64_FORMAT, G_MAXINT64);
        return FALSE;
    }
    *id = json_node_get_int(node);
    return TRUE;
}

/* Generic mode: the request's op and args. */
static gboolean
read_op_args(JsonObject *root, Request *req, GError **error)
{
    JsonNode *node = json_object_get_member(root, "op");

    if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "request: op is not a string");
        return FALSE;
    }
    req->op = g_strdup(json_node_get_string(node));
    node = json_object_get_member(root, "args");
    if (node && !JSON_NODE_HOLDS_NULL(node) && !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "request: args is not an object");
        return FALSE;
    }
    req->args = node && JSON_NODE_HOLDS_OBJECT(node) ? json_object_ref(json_node_get_object(node)) :
                json_object_new();
    return TRUE;
}

/* Reads a line into @req. *@id (-1 on entry) is set once the id is known;
 * FALSE with @error: answer it, or close when *@id is still -1. */
static gboolean
read_request(VfsecJsonlServer *server, const char *line, gsize len, gint64 *id, Request *req,
             GError **error)
{
    g_autoptr(JsonObject) root = NULL;

    if (server->contract)
        return read_contract(line, len, id, req, error);
    if (!(root = vfsec_json_parse_line(line, len, server->max_line, server->max_depth,
                                       "request line", error)))
        return FALSE;
    if (server->parse) {
        if (!(req->parsed = server->parse(root, id, error)))
            return FALSE;
        req->parsed_free = server->parsed_free;
    } else if (!read_id(root, id, error)) {
        return FALSE;
    }
    return read_op_args(root, req, error);
}

/* The session rules of the contract (section 6); FALSE: @error to answer. */
static gboolean
check_session(VfsecJsonlConn *conn, const VfsecContractRequest *req, GError **error)
{
    if (!conn->greeted && req->op != VFSEC_CONTRACT_OP_HELLO) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "hello must be the first request");
        return FALSE;
    }
    if (conn->greeted && req->op == VFSEC_CONTRACT_OP_HELLO) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "hello was already answered on this connection");
        return FALSE;
    }
    return TRUE;
}

/* Handles one line; FALSE when the connection must close. */
static gboolean
conn_line(VfsecJsonlConn *conn, const char *line, gsize len)
{
    VfsecJsonlServer *server = conn->server;
    g_autoptr(GError) error = NULL;
    g_auto(Request) req = { 0 };
    gint64 id = -1;
    gboolean ok = read_request(server, line, len, &id, &req, &error);
    VfsecJsonlCall *call;
    const Handler *handler;

    if (id < 0) {
        g_debug("connection of pid %d: %s", (int)conn->peer.pid,
                error ? error->message : "request without an id");
        return FALSE;
    }
    if (!conn->allowed) {
        conn_send_gerror(conn, (guint64)id, conn->refusal);
        conn->closing = TRUE;
        return TRUE;
    }
    if (g_hash_table_contains(conn->ids, &id)) {
        g_clear_error(&error);
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "request id %" G_GINT64_FORMAT " is already in flight", id);
        conn_send_gerror(conn, (guint64)id, error);
        return TRUE;
    }
    if (!ok || (server->contract && !check_session(conn, req.parsed, &error))) {
        conn_send_gerror(conn, (guint64)id, error);
        return TRUE;
    }
    handler = g_hash_table_lookup(server->handlers, req.op);
    if (!handler) {
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "op '%s' is not supported by this server", req.op);
        conn_send_gerror(conn, (guint64)id, error);
        return TRUE;
    }

    call = g_new0(VfsecJsonlCall, 1);
    call->conn = conn_ref(conn);
    call->id = (guint64)id;
    call->req = req;
    memset(&req, 0, sizeof(req));
    call->contract = server->contract;
    call->hello = server->contract &&
                  ((const VfsecContractRequest *)call->req.parsed)->op == VFSEC_CONTRACT_OP_HELLO;
    g_hash_table_add(conn->ids, g_memdup2(&call->id, sizeof(call->id)));
    handler->func(call, handler->user_data);
    return TRUE;
}

static void
read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VfsecJsonlConn *conn = user_data;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
    gboolean too_long;
    char *line;
    gsize len = 0;

    if (!conn->server) {
        conn_unref(conn);
        return;
    }
    if (n <= 0) {
        if (n < 0)
            g_debug("connection of pid %d: read failed: %s", (int)conn->peer.pid, error->message);
        conn_close(conn);
        conn_unref(conn);
        return;
    }
    /* Lines before an over-long or unanswerable one are still answered; then
     * the connection closes once those replies are written. */
    too_long = !vfsec_contract_framer_feed(conn->framer, conn->buf, (gsize)n, &error);
    while (conn->server && !conn->closing && (line = vfsec_contract_framer_pop(conn->framer, &len))) {
        gboolean keep = conn_line(conn, line, len);

        g_free(line);
        if (!keep)
            conn->closing = TRUE;
    }
    if (too_long) {
        g_debug("connection of pid %d: %s", (int)conn->peer.pid, error->message);
        conn->closing = TRUE;
    }
    if (conn->server && !conn->closing)
        conn_read_next(conn);
    else if (conn->server && !conn->writing && g_queue_is_empty(&conn->out))
        conn_close(conn);
    conn_unref(conn);
}

static void
conn_read_next(VfsecJsonlConn *conn)
{
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(conn->stream)), conn->buf,
                              VFSEC_JSONL_READ_SIZE, G_PRIORITY_DEFAULT, conn->cancel, read_cb,
                              conn_ref(conn));
}

static void
conn_new(VfsecJsonlServer *server, GSocket *socket)
{
    VfsecJsonlConn *conn = g_new0(VfsecJsonlConn, 1);
    g_autoptr(GCredentials) creds = NULL;
    g_autoptr(GError) error = NULL;
    const struct ucred *uc = NULL;

    conn->refs = 1;
    conn->server = server;
    conn->stream = g_socket_connection_factory_create_connection(socket);
    conn->cancel = g_cancellable_new();
    conn->framer = vfsec_contract_framer_new(server->max_line);
    conn->buf = g_malloc(VFSEC_JSONL_READ_SIZE);
    conn->ids = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    conn->peer.pid = -1;
    conn->peer.uid = (uid_t)-1;
    conn->peer.gid = (gid_t)-1;
    conn->peer.n_groups = peer_groups(g_socket_get_fd(socket), conn->peer.groups);
    g_queue_push_tail(&server->conns, conn);

    creds = g_socket_get_credentials(socket, &error);
    if (creds)
        uc = g_credentials_get_native(creds, G_CREDENTIALS_TYPE_LINUX_UCRED);
    if (!uc) {
        conn->refusal = g_error_new(VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                                    "peer credentials unavailable: %s",
                                    error ? error->message : "no SO_PEERCRED");
    } else {
        conn->peer.pid = uc->pid;
        conn->peer.uid = uc->uid;
        conn->peer.gid = uc->gid;
        conn->allowed = server->auth(&conn->peer, server->auth_data, &error);
        /* Whatever the check's code, the peer is answered "permission". */
        if (!conn->allowed)
            conn->refusal = g_error_new_literal(VFSEC_ERROR, VFSEC_ERROR_PERMISSION,
                                                error ? error->message : "peer refused");
    }
    if (!conn->allowed)
        g_message("%s: refusing pid %d: %s", server->socket_path, (int)conn->peer.pid,
                  conn->refusal->message);
    else
        g_debug("%s: accepted pid %d uid %u", server->socket_path, (int)conn->peer.pid,
                (guint)conn->peer.uid);
    conn_read_next(conn);
}

static gboolean
accept_cb(GSocket *listener, GIOCondition condition, gpointer user_data)
{
    VfsecJsonlServer *server = user_data;

    for (;;) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocket) socket = g_socket_accept(listener, NULL, &error);

        if (!socket) {
            if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                g_message("%s: accept failed: %s", server->socket_path, error->message);
            break;
        }
        conn_new(server, socket);
    }
    return G_SOURCE_CONTINUE;
}

/* ---- The server ---- */

VfsecJsonlServer *
vfsec_jsonl_server_new(const VfsecJsonlServerConfig *config)
{
    VfsecJsonlServer *server = g_new0(VfsecJsonlServer, 1);

    server->socket_path = g_strdup(config->socket_path);
    server->proc_root = g_strdup(config->proc_root ? config->proc_root : "/proc");
    server->mode = config->mode ? config->mode : 0660;
    server->allow_group = config->allow_group;
    server->group = config->group;
    server->max_line = config->max_line ? config->max_line : VFSEC_CONTRACT_MAX_LINE;
    server->max_depth = config->max_depth ? config->max_depth : VFSEC_CONTRACT_MAX_DEPTH;
    server->contract = config->contract;
    server->parse = config->parse;
    server->parsed_free = config->parsed_free;
    server->reply_members = config->reply_members ? json_object_ref(config->reply_members) : NULL;
    server->error_code = config->error_code;
    server->context = g_main_context_ref_thread_default();
    server->handlers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    server->auth = default_auth;
    server->auth_data = server;
    return server;
}

void
vfsec_jsonl_server_set_auth_func(VfsecJsonlServer *server, VfsecJsonlAuthFunc func,
                                 gpointer user_data)
{
    server->auth = func ? func : default_auth;
    server->auth_data = func ? user_data : server;
}

void
vfsec_jsonl_server_add_handlers(VfsecJsonlServer *server, const VfsecJsonlHandler *table,
                                gpointer user_data)
{
    for (; table->op; table++) {
        Handler *h = g_new0(Handler, 1);

        h->func = table->func;
        h->user_data = user_data;
        g_hash_table_replace(server->handlers, g_strdup(table->op), h);
    }
}

/* Removes @path if it is a socket nobody answers on: -errno, or 0 when it is
 * gone (or was never there). -EADDRINUSE: a server answers there. */
static int
remove_stale_socket(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;
    int rc;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -ENOTSOCK;
    /* Non-blocking: a live server with a full backlog answers EAGAIN. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    if (rc < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 || rc == -EAGAIN)
        return -EADDRINUSE;
    if (rc != -ECONNREFUSED)
        return rc;
    return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static gboolean
io_fail(GError **error, const char *path, const char *what, int err)
{
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "%s: cannot %s: %s", path, what, g_strerror(err));
    return FALSE;
}

gboolean
vfsec_jsonl_server_start(VfsecJsonlServer *server, GError **error)
{
    const char *path = server->socket_path;
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GSocket) listener = NULL;
    g_autoptr(GError) local = NULL;
    struct stat st;
    int rc;

    g_return_val_if_fail(!server->listener, FALSE);

    if (!path || !*path || strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "socket path '%s' is empty or longer than %zu bytes", path ? path : "",
                    sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
        return FALSE;
    }
    rc = remove_stale_socket(path);
    if (rc == -EADDRINUSE) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                    "%s is in use by a running server", path);
        return FALSE;
    }
    if (rc == -ENOTSOCK) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "%s exists and is not a socket", path);
        return FALSE;
    }
    if (rc < 0)
        return io_fail(error, path, "replace the stale socket", -rc);

    listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                            &local);
    address = g_unix_socket_address_new(path);
    if (!listener || !g_socket_bind(listener, address, FALSE, &local)) {
        g_set_error(error, VFSEC_ERROR,
                    g_error_matches(local, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE) ?
                        VFSEC_ERROR_CONFLICT : VFSEC_ERROR_IO,
                    "%s: cannot bind: %s", path, local->message);
        return FALSE;
    }
    /* Mode and group before listen(): until then every connect() is refused. */
    server->bound = TRUE;
    if (stat(path, &st) < 0)
        return io_fail(error, path, "stat the new socket", errno);
    server->dev = st.st_dev;
    server->ino = st.st_ino;
    if (chmod(path, server->mode) < 0)
        return io_fail(error, path, "set the socket's mode", errno);
    if (server->allow_group && chown(path, (uid_t)-1, server->group) < 0)
        return io_fail(error, path, "give the socket to the allowed group", errno);
    g_socket_set_blocking(listener, FALSE);
    if (!g_socket_listen(listener, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "%s: cannot listen: %s", path,
                    local->message);
        return FALSE;
    }
    server->listener = g_steal_pointer(&listener);
    server->accept_source = g_socket_create_source(server->listener, G_IO_IN, NULL);
    g_source_set_callback(server->accept_source, G_SOURCE_FUNC(accept_cb), server, NULL);
    g_source_attach(server->accept_source, server->context);
    g_debug("%s: listening (mode %04o)", path, server->mode);
    return TRUE;
}

void
vfsec_jsonl_server_free(VfsecJsonlServer *server)
{
    VfsecJsonlConn *conn;
    struct stat st;

    if (!server)
        return;
    while ((conn = g_queue_peek_head(&server->conns)))
        conn_close(conn);
    if (server->accept_source) {
        g_source_destroy(server->accept_source);
        g_source_unref(server->accept_source);
    }
    if (server->listener)
        g_socket_close(server->listener, NULL);
    g_clear_object(&server->listener);
    /* Only our own inode: a newer server may already have replaced the file. */
    if (server->bound && stat(server->socket_path, &st) == 0 && st.st_dev == server->dev &&
        st.st_ino == server->ino)
        unlink(server->socket_path);
    g_hash_table_destroy(server->handlers);
    g_clear_pointer(&server->reply_members, json_object_unref);
    g_main_context_unref(server->context);
    g_free(server->socket_path);
    g_free(server->proc_root);
    g_free(server);
}

void
vfsec_jsonl_server_broadcast_line(VfsecJsonlServer *server, guint32 mask, const char *line,
                                  gsize len)
{
    for (GList *l = server->conns.head; l;) {
        VfsecJsonlConn *conn = l->data;

        /* conn_send() may close (and unlink) @conn. */
        l = l->next;
        if (conn->allowed && !conn->closing && (conn->events & mask))
            conn_send(conn, g_memdup2(line, len), len);
    }
}

void
vfsec_jsonl_server_notify(VfsecJsonlServer *server, guint32 mask, const char *event,
                          JsonObject *data)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    gsize len = 0;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, event);
    json_builder_set_member_name(b, "data");
    if (data) {
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(node, data);
        json_builder_add_value(b, node);
    } else {
        json_builder_begin_object(b);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    if (!(line = vfsec_json_to_line(root, server->max_line, "notification", &len, &error))) {
        g_message("%s: %s not sent: %s", server->socket_path, event, error->message);
        return;
    }
    vfsec_jsonl_server_broadcast_line(server, mask, line, len);
}

guint
vfsec_jsonl_server_n_connections(VfsecJsonlServer *server)
{
    return server->conns.length;
}

void
vfsec_jsonl_conn_set_events(VfsecJsonlConn *conn, guint32 mask)
{
    conn->events = mask;
}

guint32
vfsec_jsonl_conn_get_events(VfsecJsonlConn *conn)
{
    return conn->events;
}

const VfsecJsonlPeer *
vfsec_jsonl_conn_get_peer(VfsecJsonlConn *conn)
{
    return &conn->peer;
}
