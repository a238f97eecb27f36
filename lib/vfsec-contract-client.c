/* vfsec-contract-client.c: the asynchronous PF-driver contract client on GIO. */
#include "vfsec-contract-client.h"

#include <stdarg.h>
#include <string.h>
#include <sys/un.h>

#include <gio/gunixsocketaddress.h>

#include "vfsec-config.h"

/*
 * Theory of operation
 *
 * One client is one connection. connect_async() connects the Unix socket, starts
 * the read loop and sends hello; the client is open once the server answered it
 * with contract version 1. From then on any number of calls may be in flight.
 *
 * Each call takes the next id and waits in the pending table, keyed by id,
 * with, when it has a cancellable, a cancellable source. At most max_in_flight
 * calls are sent and unanswered at a time (a PF driver may well be one thread:
 * a thousand requests written at once only make the last ones wait past their
 * timeout); the others wait in the send queue, oldest first, and go out as
 * answers come back. One write is in flight at a time, as GOutputStream
 * demands; it carries every waiting call that has a free slot, and when it
 * ends the next one starts. A call's timeout source is started when its line
 * is handed to the socket, not before: the timeout bounds the PF driver's
 * answer, not the client's own queue or a busy owner thread (the caller bounds
 * the whole, e.g. the engine's deadline on every plugin call). It runs at a
 * lower priority than the I/O, so an answer already received wins over a late
 * timer. Whichever of reply, timeout, cancellation or close comes first
 * completes the call, and removes it from the table and the send queue with
 * both sources, so it completes once; the slot it held goes to the next
 * waiting call before its callback runs.
 * Ids only grow and are sent in order, so an id at or above sent_end was never
 * sent. A reply whose id is no longer pending but lies below sent_end is late
 * (its call timed out or was cancelled): it is dropped. A reply to an id never
 * sent, a line that is no reply or notification, and a line over the length
 * limit break the contract: the connection is closed with VFSEC_ERROR_PROTOCOL.
 *
 * Closing (server's end of stream, I/O error, protocol error, or the owner)
 * fails every pending call, oldest first, then, unless the owner closed, calls
 * the closed handler. Callbacks may run user code that drops the last reference
 * to the client, so every path that runs them holds its own reference.
 *
 * Reading is a pollable source on the socket, owned by the client and
 * destroyed when it closes: each time the socket is readable, one
 * non-blocking read into a stack buffer. The write loop does not keep the
 * client alive: it holds a weak reference, and its buffer lives in its own
 * small structure, so dropping the client closes the connection, and a write
 * still in flight finishes, cancelled, on its own. Everything runs on the main context that was the
 * thread-default when the client was made: the sources are attached to it and
 * the I/O is started with it pushed as thread-default.
 */

/* One read takes at most this much from the socket, into a buffer on the
 * stack: a client keeps no read buffer of its own between reads (vfsecd has
 * one client per PF), and the framer is fed FEED_CHUNK bytes at a time, its
 * lines popped in between, so its buffer stays near that size instead of
 * growing to a whole read's. */
#define READ_CHUNK 65536
#define FEED_CHUNK 4096

/* Below the I/O's G_PRIORITY_DEFAULT: when the owner's thread was busy (a
 * thousand domains to reconcile, fsyncs) past a deadline, an answer already
 * in the socket is read before the timer fires, and a call the PF driver did
 * answer in time does not fail. A timer then waits only for a loop iteration
 * without ready I/O. */
#define TIMEOUT_PRIORITY (G_PRIORITY_DEFAULT + 10)

typedef enum {
    STATE_NEW,
    STATE_CONNECTING,   /* connecting, then waiting for the hello reply */
    STATE_OPEN,
    STATE_CLOSED,
} ClientState;

struct _VfsecContractClient {
    GObject parent_instance;

    GMainContext *context;
    char *path;
    ClientState state;
    GSocketConnection *conn;
    GCancellable *io_cancel;        /* cancels the write loop on close */
    GSource *read_source;           /* the socket is readable; destroyed on close */
    VfsecContractFramer *framer;
    gboolean writing;
    guint64 next_id;
    guint64 sent_end;               /* every id below was sent or dropped unsent */
    GHashTable *pending;            /* &PendingCall.id -> PendingCall* (owned) */
    GQueue waiting;                 /* PendingCall* not sent yet, oldest first */
    guint max_in_flight;            /* 0: no cap */
    VfsecContractResult *hello;     /* once open */

    VfsecContractNotifyFunc notify_func;
    gpointer notify_data;
    GDestroyNotify notify_destroy;
    VfsecContractClosedFunc closed_func;
    gpointer closed_data;
    GDestroyNotify closed_destroy;
};

G_DEFINE_TYPE(VfsecContractClient, vfsec_contract_client, G_TYPE_OBJECT)

typedef struct {
    VfsecContractClient *client;    /* kept alive by the task (its source object) */
    guint64 id;
    char *label;                    /* "reclaim-vf for port 0 VF 3", for messages */
    guint timeout_ms;
    GTask *task;
    GBytes *line;                   /* while waiting to be sent */
    GList wait_link;                /* in client->waiting while line is set */
    GSource *timeout_source;        /* once sent */
    GSource *cancel_source;
} PendingCall;

typedef struct {
    GWeakRef client;
    GBytes *bytes;
} WriteOp;

static void close_with(VfsecContractClient *client, GError *reason);

/* ------------------------------------------------------------------------ */
/* Calls */

static void
pending_call_free(PendingCall *call)
{
    if (call->timeout_source) {
        g_source_destroy(call->timeout_source);
        g_source_unref(call->timeout_source);
    }
    if (call->cancel_source) {
        g_source_destroy(call->cancel_source);
        g_source_unref(call->cancel_source);
    }
    g_clear_pointer(&call->line, g_bytes_unref);
    g_clear_object(&call->task);
    g_free(call->label);
    g_free(call);
}

/* Completes a call already taken out of the pending table: with @result, or with
 * @error (owned) when it is non-NULL. */
static void
call_complete(PendingCall *call, JsonObject *result, GError *error)
{
    g_autoptr(GTask) task = g_steal_pointer(&call->task);

    pending_call_free(call);
    if (error)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, json_object_ref(result), (GDestroyNotify)json_object_unref);
}

static void send_waiting(VfsecContractClient *client);

/* Takes @call out of the table and the send queue, gives its slot to the next
 * waiting call, then completes it: its callback may drop the client. */
static void
call_take_and_complete(VfsecContractClient *client, PendingCall *call, JsonObject *result,
                       GError *error)
{
    g_hash_table_steal(client->pending, &call->id);
    if (call->line)
        g_queue_unlink(&client->waiting, &call->wait_link);
    else
        send_waiting(client);
    call_complete(call, result, error);
}

static gboolean
on_call_timeout(gpointer data)
{
    PendingCall *call = data;
    VfsecContractClient *client = call->client;

    g_debug("PF driver at %s: %s timed out after %u ms", client->path, call->label,
            call->timeout_ms);
    call_take_and_complete(client, call, NULL,
                           g_error_new(VFSEC_ERROR, VFSEC_ERROR_TIMEOUT,
                                       "PF driver at %s did not answer %s within %u ms",
                                       client->path, call->label, call->timeout_ms));
    return G_SOURCE_REMOVE;
}

static gboolean
on_call_cancelled(GCancellable *cancellable, gpointer data)
{
    PendingCall *call = data;
    GError *error = NULL;

    g_cancellable_set_error_if_cancelled(cancellable, &error);
    call_take_and_complete(call->client, call, NULL, error);
    return G_SOURCE_REMOVE;
}

/* "op for port P VF V", from whatever of port and vf @args holds. */
static char *
call_label(const char *op, JsonObject *args)
{
    JsonNode *port = args ? json_object_get_member(args, "port") : NULL;
    JsonNode *vf = args ? json_object_get_member(args, "vf") : NULL;

    if (!port || !JSON_NODE_HOLDS_VALUE(port) || json_node_get_value_type(port) != G_TYPE_INT64)
        return g_strdup(op);
    if (!vf || !JSON_NODE_HOLDS_VALUE(vf) || json_node_get_value_type(vf) != G_TYPE_INT64)
        return g_strdup_printf("%s for port %" G_GINT64_FORMAT, op, json_node_get_int(port));
    return g_strdup_printf("%s for port %" G_GINT64_FORMAT " VF %" G_GINT64_FORMAT, op,
                           json_node_get_int(port), json_node_get_int(vf));
}

static void send_waiting(VfsecContractClient *client);

/* Queues a request for @task, sent as soon as a slot is free, and waits for
 * its reply in the pending table. */
static void
start_call(VfsecContractClient *client, GTask *task, const char *op, JsonObject *args,
           guint timeout_ms)
{
    GCancellable *cancellable = g_task_get_cancellable(task);
    GError *error = NULL;
    PendingCall *call;
    char *line;
    gsize len;

    if (g_task_return_error_if_cancelled(task))
        return;
    line = vfsec_contract_request_build(client->next_id, op, args, &len, &error);
    if (!line) {
        g_task_return_error(task, error);
        return;
    }
    call = g_new0(PendingCall, 1);
    call->client = client;
    call->id = client->next_id++;
    call->label = call_label(op, args);
    call->timeout_ms = timeout_ms ? timeout_ms : VFSEC_CONTRACT_CLIENT_DEFAULT_TIMEOUT_MS;
    call->task = g_object_ref(task);
    call->line = g_bytes_new_take(line, len);
    call->wait_link.data = call;
    if (cancellable) {
        call->cancel_source = g_cancellable_source_new(cancellable);
        g_source_set_callback(call->cancel_source, G_SOURCE_FUNC(on_call_cancelled), call, NULL);
        g_source_attach(call->cancel_source, client->context);
    }
    g_hash_table_insert(client->pending, &call->id, call);
    g_queue_push_tail_link(&client->waiting, &call->wait_link);
    send_waiting(client);
}

static gint
call_compare_id(gconstpointer a, gconstpointer b)
{
    const PendingCall *ca = *(const PendingCall *const *)a;
    const PendingCall *cb = *(const PendingCall *const *)b;

    return ca->id < cb->id ? -1 : ca->id > cb->id;
}

/* ------------------------------------------------------------------------ */
/* Connection */

static GError *
closed_error(VfsecContractClient *client)
{
    return g_error_new(VFSEC_ERROR, VFSEC_ERROR_IO, "PF driver connection to %s closed",
                       client->path);
}

/* Stops all I/O; the calls are left to the caller. */
static void
close_connection(VfsecContractClient *client)
{
    client->state = STATE_CLOSED;
    g_cancellable_cancel(client->io_cancel);
    if (client->read_source) {
        g_source_destroy(client->read_source);
        g_clear_pointer(&client->read_source, g_source_unref);
    }
    if (client->conn) {
        /* The peer sees the end of stream now, not when the cancelled I/O still in
         * flight has returned and let go of the socket. */
        g_socket_shutdown(g_socket_connection_get_socket(client->conn), TRUE, TRUE, NULL);
        g_clear_object(&client->conn);
    }
    /* The calls themselves stay in the table, for the caller to fail. */
    g_queue_init(&client->waiting);
}

/* Closes and fails every pending call with @reason (owned), or, when @reason is
 * NULL (the owner closed), with the "closed" error. */
static void
close_with(VfsecContractClient *client, GError *reason)
{
    g_autoptr(VfsecContractClient) self = g_object_ref(client);
    g_autoptr(GError) owned = reason;
    g_autoptr(GPtrArray) calls = g_ptr_array_new();
    gboolean was_open = client->state == STATE_OPEN;
    GHashTableIter iter;
    gpointer value;

    if (client->state == STATE_CLOSED)
        return;
    close_connection(client);
    if (reason)
        g_debug("%s", reason->message);
    g_hash_table_iter_init(&iter, client->pending);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        g_ptr_array_add(calls, value);
    g_hash_table_steal_all(client->pending);
    g_ptr_array_sort(calls, call_compare_id);
    for (guint i = 0; i < calls->len; i++)
        call_complete(g_ptr_array_index(calls, i), NULL,
                      reason ? g_error_copy(reason) : closed_error(client));
    if (reason && was_open && client->closed_func)
        client->closed_func(client, reason, client->closed_data);
}

static void G_GNUC_PRINTF(2, 3)
close_protocol(VfsecContractClient *client, const char *fmt, ...)
{
    g_autofree char *why = NULL;
    va_list ap;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    close_with(client, g_error_new(VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                                   "PF driver at %s broke the contract: %s", client->path, why));
}

static void
write_op_free(WriteOp *op)
{
    g_weak_ref_clear(&op->client);
    g_bytes_unref(op->bytes);
    g_free(op);
}

static void
on_written(GObject *source, GAsyncResult *res, gpointer data)
{
    WriteOp *op = data;
    g_autoptr(VfsecContractClient) client = g_weak_ref_get(&op->client);
    g_autoptr(GError) error = NULL;
    gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error);

    write_op_free(op);
    if (!client || client->state == STATE_CLOSED)
        return;
    client->writing = FALSE;
    if (!ok) {
        close_with(client, g_error_new(VFSEC_ERROR, VFSEC_ERROR_IO,
                                       "PF driver connection to %s failed: %s",
                                       client->path, error->message));
        return;
    }
    send_waiting(client);
}

/* Writes the waiting calls that fit in the free slots, in one write, unless
 * a write is under way (its end calls this again), and starts each one's
 * timeout now that its line goes to the socket: a line that waited here while
 * the owner's thread was busy did not wait for the PF driver. */
/* Calls sent and not yet answered: every pending call not waiting to be
 * sent (meaningful while the connection is open). */
static guint
client_in_flight(const VfsecContractClient *client)
{
    return g_hash_table_size(client->pending) - client->waiting.length;
}

static void
send_waiting(VfsecContractClient *client)
{
    g_autoptr(GByteArray) batch = NULL;
    GBytes *line = NULL;
    WriteOp *op;
    GList *link;

    if (client->writing || client->state == STATE_CLOSED || !client->conn)
        return;
    while ((client->max_in_flight == 0 || client_in_flight(client) < client->max_in_flight) &&
           (link = g_queue_pop_head_link(&client->waiting))) {
        PendingCall *call = link->data;
        g_autoptr(GBytes) own = g_steal_pointer(&call->line);

        if (line && !batch) {
            batch = g_byte_array_new();
            g_byte_array_append(batch, g_bytes_get_data(line, NULL), g_bytes_get_size(line));
            g_clear_pointer(&line, g_bytes_unref);
        }
        if (batch)
            g_byte_array_append(batch, g_bytes_get_data(own, NULL), g_bytes_get_size(own));
        else
            line = g_steal_pointer(&own);
        client->sent_end = call->id + 1;
        call->timeout_source = g_timeout_source_new(call->timeout_ms);
        g_source_set_priority(call->timeout_source, TIMEOUT_PRIORITY);
        g_source_set_callback(call->timeout_source, on_call_timeout, call, NULL);
        g_source_attach(call->timeout_source, client->context);
    }
    if (!line && !batch)
        return;
    op = g_new0(WriteOp, 1);
    g_weak_ref_init(&op->client, client);
    op->bytes = batch ? g_byte_array_free_to_bytes(g_steal_pointer(&batch)) : line;
    client->writing = TRUE;
    g_main_context_push_thread_default(client->context);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(client->conn)),
                                    g_bytes_get_data(op->bytes, NULL), g_bytes_get_size(op->bytes),
                                    G_PRIORITY_DEFAULT, client->io_cancel, on_written, op);
    g_main_context_pop_thread_default(client->context);
}

static void
handle_notification(VfsecContractClient *client, const VfsecContractMessage *msg)
{
    g_autoptr(GError) error = NULL;
    VfsecContractNotification n;

    if (!vfsec_contract_notification_parse(msg->event, msg->data, &n, &error)) {
        /* Events of later versions are announced to clients that did not ask for
         * them only by a broken server; either way they mean nothing here. */
        if (g_error_matches(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED)) {
            g_debug("PF driver at %s: ignoring %s", client->path, error->message);
            return;
        }
        close_protocol(client, "%s", error->message);
        return;
    }
    g_debug("PF driver at %s: notification %s for port %u", client->path, msg->event, n.port);
    if (client->state == STATE_OPEN && client->notify_func)
        client->notify_func(client, &n, client->notify_data);
    vfsec_contract_notification_clear(&n);
}

static void
handle_line(VfsecContractClient *client, const char *line, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractMessage) msg = vfsec_contract_message_parse(line, len, &error);
    PendingCall *call;

    if (!msg) {
        close_protocol(client, "%s", error->message);
        return;
    }
    if (msg->kind == VFSEC_CONTRACT_MESSAGE_NOTIFICATION) {
        handle_notification(client, msg);
        return;
    }
    call = g_hash_table_lookup(client->pending, &msg->id);
    if (call && call->line) {
        close_protocol(client, "reply to request %" G_GUINT64_FORMAT " that was not sent yet",
                       msg->id);
        return;
    }
    if (!call) {
        if (msg->id >= client->sent_end) {
            close_protocol(client, "reply to request %" G_GUINT64_FORMAT " that was never sent",
                           msg->id);
            return;
        }
        g_debug("PF driver at %s: dropping the late reply to request %" G_GUINT64_FORMAT,
                client->path, msg->id);
        return;
    }
    g_debug("PF driver at %s: %s: %s", client->path, call->label,
            msg->ok ? "ok" : vfsec_contract_error_code_to_string(msg->error_code));
    if (msg->ok) {
        call_take_and_complete(client, call, msg->result, NULL);
        return;
    }
    call_take_and_complete(client, call, NULL,
                           g_error_new(VFSEC_ERROR, vfsec_contract_error_code_to_vfsec(msg->error_code),
                                       "PF driver at %s answered %s with %s: %s", client->path,
                                       call->label,
                                       vfsec_contract_error_code_to_string(msg->error_code),
                                       msg->error_message));
}

/* Feeds @len bytes to the framer and handles the lines they complete. FALSE
 * once the connection is closed. */
static gboolean
feed(VfsecContractClient *client, const guint8 *data, gsize len)
{
    g_autoptr(GError) error = NULL;
    gboolean fed;
    char *line;
    gsize n;

    /* Lines completed before an over-long one are still answered. */
    fed = vfsec_contract_framer_feed(client->framer, data, len, &error);
    while (client->state != STATE_CLOSED && (line = vfsec_contract_framer_pop(client->framer, &n))) {
        handle_line(client, line, n);
        g_free(line);
    }
    if (!fed && client->state != STATE_CLOSED)
        close_protocol(client, "%s", error->message);
    return client->state != STATE_CLOSED;
}

static gboolean
on_readable(GObject *stream, gpointer data)
{
    g_autoptr(VfsecContractClient) client = g_object_ref(data);
    g_autoptr(GError) error = NULL;
    guint8 buf[READ_CHUNK];
    gssize n;

    if (client->state == STATE_CLOSED)
        return G_SOURCE_REMOVE;
    n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(stream), buf, sizeof(buf),
                                                 NULL, &error);
    if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        close_with(client, n == 0 ? closed_error(client)
                                  : g_error_new(VFSEC_ERROR, VFSEC_ERROR_IO,
                                                "PF driver connection to %s failed: %s",
                                                client->path, error->message));
        return G_SOURCE_REMOVE;
    }
    for (gsize off = 0; off < (gsize)n; off += FEED_CHUNK) {
        if (!feed(client, buf + off, MIN(FEED_CHUNK, (gsize)n - off)))
            return G_SOURCE_REMOVE;
    }
    /* A line longer than FEED_CHUNK (a port's VF list) grew the framer's
     * buffer, which it keeps; with nothing left in it, a new framer costs
     * one small allocation and gives the buffer back. */
    if (n > FEED_CHUNK && vfsec_contract_framer_pending(client->framer) == 0) {
        vfsec_contract_framer_free(client->framer);
        client->framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
    }
    return G_SOURCE_CONTINUE;
}

static void
start_reading(VfsecContractClient *client)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(client->conn));

    /* The source's callback data is the client itself: the source never
     * outlives the connection, which close_connection() (also run by
     * dispose) ends. */
    client->read_source = g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(in), NULL);
    g_source_set_callback(client->read_source, G_SOURCE_FUNC(on_readable), client, NULL);
    g_source_attach(client->read_source, client->context);
}

static void
on_hello(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(GTask) task = data;
    VfsecContractClient *client = VFSEC_CONTRACT_CLIENT(source);
    g_autoptr(JsonObject) result = NULL;
    g_autoptr(VfsecContractResult) hello = NULL;
    g_autoptr(GError) error = NULL;

    if (!vfsec_contract_client_call_finish(client, res, &result, &error)) {
        close_with(client, NULL);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    hello = vfsec_contract_result_from_json(VFSEC_CONTRACT_OP_HELLO, result, &error);
    if (hello && hello->u.hello.version != VFSEC_CONTRACT_VERSION) {
        g_set_error(&error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "PF driver at %s answered hello with contract version %u, not %d",
                    client->path, hello->u.hello.version, VFSEC_CONTRACT_VERSION);
    } else if (!hello) {
        g_prefix_error(&error, "PF driver at %s broke the contract: ", client->path);
        error->code = VFSEC_ERROR_PROTOCOL;
    }
    if (error) {
        close_with(client, NULL);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_debug("PF driver at %s: %s speaks contract version %u", client->path,
            hello->u.hello.server, hello->u.hello.version);
    client->hello = g_steal_pointer(&hello);
    client->state = STATE_OPEN;
    g_task_return_boolean(task, TRUE);
}

static void
on_connected(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(GTask) task = data;
    VfsecContractClient *client = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(source),
                                                                       res, &error);
    g_autoptr(VfsecContractRequest) hello = vfsec_contract_request_new(VFSEC_CONTRACT_OP_HELLO);
    g_autoptr(JsonObject) args = NULL;
    g_autoptr(GTask) hello_task = NULL;

    if (client->state != STATE_CONNECTING) {
        g_task_return_error(task, closed_error(client));
        return;
    }
    if (!conn) {
        client->state = STATE_CLOSED;
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_task_return_error(task, g_steal_pointer(&error));
            return;
        }
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO,
                                "cannot connect to PF driver at %s: %s", client->path,
                                error->message);
        return;
    }
    client->conn = g_steal_pointer(&conn);
    start_reading(client);

    hello->args.hello.version = VFSEC_CONTRACT_VERSION;
    hello->args.hello.client = g_strdup_printf("%.64s/%s", g_get_prgname() ? g_get_prgname() : "vfsec",
                                               VFSEC_VERSION);
    args = vfsec_contract_request_args_to_json(hello);
    hello_task = g_task_new(client, g_task_get_cancellable(task), on_hello, g_object_ref(task));
    start_call(client, hello_task, "hello", args, GPOINTER_TO_UINT(g_task_get_task_data(task)));
}

/* ------------------------------------------------------------------------ */
/* Object */

static void
vfsec_contract_client_dispose(GObject *object)
{
    VfsecContractClient *client = VFSEC_CONTRACT_CLIENT(object);

    /* Every pending call holds a reference: none is left here. */
    close_connection(client);
    G_OBJECT_CLASS(vfsec_contract_client_parent_class)->dispose(object);
}

static void
vfsec_contract_client_finalize(GObject *object)
{
    VfsecContractClient *client = VFSEC_CONTRACT_CLIENT(object);

    if (client->notify_destroy)
        client->notify_destroy(client->notify_data);
    if (client->closed_destroy)
        client->closed_destroy(client->closed_data);
    vfsec_contract_result_free(client->hello);
    g_hash_table_unref(client->pending);
    vfsec_contract_framer_free(client->framer);
    g_object_unref(client->io_cancel);
    g_free(client->path);
    g_main_context_unref(client->context);
    G_OBJECT_CLASS(vfsec_contract_client_parent_class)->finalize(object);
}

static void
vfsec_contract_client_class_init(VfsecContractClientClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = vfsec_contract_client_dispose;
    object_class->finalize = vfsec_contract_client_finalize;
}

static void
vfsec_contract_client_init(VfsecContractClient *client)
{
    client->context = g_main_context_ref_thread_default();
    client->io_cancel = g_cancellable_new();
    client->framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
    client->pending = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                            (GDestroyNotify)pending_call_free);
    g_queue_init(&client->waiting);
    client->max_in_flight = VFSEC_CONTRACT_CLIENT_DEFAULT_MAX_IN_FLIGHT;
}

VfsecContractClient *
vfsec_contract_client_new(const char *socket_path)
{
    VfsecContractClient *client;

    g_return_val_if_fail(socket_path != NULL, NULL);
    client = g_object_new(VFSEC_TYPE_CONTRACT_CLIENT, NULL);
    client->path = g_strdup(socket_path);
    return client;
}

void
vfsec_contract_client_set_notify_func(VfsecContractClient *client, VfsecContractNotifyFunc func,
                                      gpointer user_data, GDestroyNotify destroy)
{
    if (client->notify_destroy)
        client->notify_destroy(client->notify_data);
    client->notify_func = func;
    client->notify_data = user_data;
    client->notify_destroy = destroy;
}

void
vfsec_contract_client_set_closed_func(VfsecContractClient *client, VfsecContractClosedFunc func,
                                      gpointer user_data, GDestroyNotify destroy)
{
    if (client->closed_destroy)
        client->closed_destroy(client->closed_data);
    client->closed_func = func;
    client->closed_data = user_data;
    client->closed_destroy = destroy;
}

void
vfsec_contract_client_connect_async(VfsecContractClient *client, guint timeout_ms,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(client, cancellable, callback, user_data);
    g_autoptr(GSocketClient) socket_client = NULL;
    g_autoptr(GSocketAddress) address = NULL;
    gsize max_path = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;

    g_task_set_source_tag(task, vfsec_contract_client_connect_async);
    g_task_set_task_data(task, GUINT_TO_POINTER(timeout_ms), NULL);
    if (client->state != STATE_NEW) {
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                                "PF driver client for %s was already connected", client->path);
        return;
    }
    /* GUnixSocketAddress would silently cut a longer path. */
    if (strlen(client->path) > max_path) {
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                "PF driver socket path %s is longer than %" G_GSIZE_FORMAT " bytes",
                                client->path, max_path);
        return;
    }
    client->state = STATE_CONNECTING;
    socket_client = g_socket_client_new();
    address = g_unix_socket_address_new(client->path);
    g_main_context_push_thread_default(client->context);
    g_socket_client_connect_async(socket_client, G_SOCKET_CONNECTABLE(address), cancellable,
                                  on_connected, g_steal_pointer(&task));
    g_main_context_pop_thread_default(client->context);
}

gboolean
vfsec_contract_client_connect_finish(VfsecContractClient *client, GAsyncResult *result,
                                     GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, client), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
vfsec_contract_client_set_max_in_flight(VfsecContractClient *client, guint max_in_flight)
{
    client->max_in_flight = max_in_flight;
    if (client->state != STATE_CLOSED && client->conn)
        send_waiting(client);
}

guint
vfsec_contract_client_get_max_in_flight(VfsecContractClient *client)
{
    return client->max_in_flight;
}

guint
vfsec_contract_client_get_n_waiting(VfsecContractClient *client)
{
    return g_queue_get_length(&client->waiting);
}

const VfsecContractHello *
vfsec_contract_client_get_hello(VfsecContractClient *client)
{
    return client->hello ? &client->hello->u.hello : NULL;
}

const char *
vfsec_contract_client_get_path(VfsecContractClient *client)
{
    return client->path;
}

gboolean
vfsec_contract_client_is_open(VfsecContractClient *client)
{
    return client->state == STATE_OPEN;
}

void
vfsec_contract_client_close(VfsecContractClient *client)
{
    close_with(client, NULL);
}

void
vfsec_contract_client_call_async(VfsecContractClient *client, const char *op, JsonObject *args,
                                 guint timeout_ms, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(client, cancellable, callback, user_data);

    /* The function, not GLib's macro, which also gives every call's task a
     * name of its own on the heap (a thousand calls queued at a reconcile). */
    (g_task_set_source_tag)(task, vfsec_contract_client_call_async);
    if (client->state != STATE_OPEN) {
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO,
                                "PF driver connection to %s is not open", client->path);
        return;
    }
    start_call(client, task, op, args, timeout_ms);
}

gboolean
vfsec_contract_client_call_finish(VfsecContractClient *client, GAsyncResult *result,
                                  JsonObject **result_out, GError **error)
{
    g_autoptr(JsonObject) obj = NULL;

    g_return_val_if_fail(g_task_is_valid(result, client), FALSE);
    obj = g_task_propagate_pointer(G_TASK(result), error);
    if (!obj)
        return FALSE;
    if (result_out)
        *result_out = g_steal_pointer(&obj);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Typed calls */

static void
call_request(VfsecContractClient *client, const VfsecContractRequest *req, guint timeout_ms,
             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(JsonObject) args = vfsec_contract_request_args_to_json(req);

    vfsec_contract_client_call_async(client, vfsec_contract_op_to_string(req->op), args,
                                     timeout_ms, cancellable, callback, user_data);
}

/* The ops whose only argument is the port. */
static void
call_port(VfsecContractClient *client, VfsecContractOp op, guint port, guint timeout_ms,
          GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(VfsecContractRequest) req = vfsec_contract_request_new(op);

    req->args.port = port;
    call_request(client, req, timeout_ms, cancellable, callback, user_data);
}

/* The reply's result decoded for @op; one that breaks the contract fails the
 * call with VFSEC_ERROR_PROTOCOL but leaves the connection open. */
static VfsecContractResult *
finish_typed(VfsecContractClient *client, GAsyncResult *result, VfsecContractOp op,
             GError **error)
{
    g_autoptr(JsonObject) obj = NULL;
    g_autoptr(GError) local = NULL;
    VfsecContractResult *typed;

    if (!vfsec_contract_client_call_finish(client, result, &obj, error))
        return NULL;
    typed = vfsec_contract_result_from_json(op, obj, &local);
    if (!typed)
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "PF driver at %s broke the contract: %s", client->path, local->message);
    return typed;
}

void
vfsec_contract_client_list_ports_async(VfsecContractClient *client, guint timeout_ms,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data)
{
    g_autoptr(VfsecContractRequest) req = vfsec_contract_request_new(VFSEC_CONTRACT_OP_LIST_PORTS);

    call_request(client, req, timeout_ms, cancellable, callback, user_data);
}

gboolean
vfsec_contract_client_list_ports_finish(VfsecContractClient *client, GAsyncResult *result,
                                        GPtrArray **ports, GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, VFSEC_CONTRACT_OP_LIST_PORTS,
                                                      error);

    if (!res)
        return FALSE;
    *ports = g_steal_pointer(&res->u.ports);
    return TRUE;
}

void
vfsec_contract_client_list_vfs_async(VfsecContractClient *client, guint port, guint timeout_ms,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
    call_port(client, VFSEC_CONTRACT_OP_LIST_VFS, port, timeout_ms, cancellable, callback,
              user_data);
}

gboolean
vfsec_contract_client_list_vfs_finish(VfsecContractClient *client, GAsyncResult *result,
                                      GPtrArray **vfs, GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, VFSEC_CONTRACT_OP_LIST_VFS,
                                                      error);

    if (!res)
        return FALSE;
    *vfs = g_steal_pointer(&res->u.vfs);
    return TRUE;
}

void
vfsec_contract_client_set_vf_async(VfsecContractClient *client, const VfsecContractVf *vf,
                                   VfsecContractSetVfFields fields, guint timeout_ms,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
    g_autoptr(VfsecContractRequest) req = vfsec_contract_request_new(VFSEC_CONTRACT_OP_SET_VF);

    req->args.set_vf.fields = fields;
    req->args.set_vf.vf = *vf;
    req->args.set_vf.vf.netdev = NULL;  /* not sent; the request must not own the caller's */
    call_request(client, req, timeout_ms, cancellable, callback, user_data);
}

gboolean
vfsec_contract_client_set_vf_finish(VfsecContractClient *client, GAsyncResult *result,
                                    VfsecContractVf **vf, GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, VFSEC_CONTRACT_OP_SET_VF,
                                                      error);

    if (!res)
        return FALSE;
    *vf = g_steal_pointer(&res->u.vf);
    return TRUE;
}

void
vfsec_contract_client_reclaim_vf_async(VfsecContractClient *client, guint port, guint vf,
                                       guint reclaim_timeout_ms, guint timeout_ms,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data)
{
    g_autoptr(VfsecContractRequest) req = vfsec_contract_request_new(VFSEC_CONTRACT_OP_RECLAIM_VF);
    guint deadline = timeout_ms ? timeout_ms : VFSEC_CONTRACT_CLIENT_DEFAULT_TIMEOUT_MS;

    if (reclaim_timeout_ms >= deadline) {
        g_task_report_new_error(client, callback, user_data, vfsec_contract_client_call_async,
                                VFSEC_ERROR, VFSEC_ERROR_INVALID,
                                "reclaim-vf timeout of %u ms for port %u VF %u is not shorter "
                                "than the request timeout of %u ms",
                                reclaim_timeout_ms, port, vf, deadline);
        return;
    }
    req->args.reclaim_vf.port = port;
    req->args.reclaim_vf.vf = vf;
    req->args.reclaim_vf.timeout_ms = reclaim_timeout_ms;
    call_request(client, req, deadline, cancellable, callback, user_data);
}

gboolean
vfsec_contract_client_reclaim_vf_finish(VfsecContractClient *client, GAsyncResult *result,
                                        VfsecContractReclaim *reclaim, GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, VFSEC_CONTRACT_OP_RECLAIM_VF,
                                                      error);

    if (!res)
        return FALSE;
    *reclaim = res->u.reclaim;
    return TRUE;
}

void
vfsec_contract_client_get_macs_async(VfsecContractClient *client, guint port, guint timeout_ms,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
    call_port(client, VFSEC_CONTRACT_OP_GET_MACS, port, timeout_ms, cancellable, callback,
              user_data);
}

gboolean
vfsec_contract_client_get_macs_finish(VfsecContractClient *client, GAsyncResult *result,
                                      VfsecContractMacTable **table, GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, VFSEC_CONTRACT_OP_GET_MACS,
                                                      error);

    if (!res)
        return FALSE;
    *table = g_steal_pointer(&res->u.macs);
    return TRUE;
}

void
vfsec_contract_client_set_macs_async(VfsecContractClient *client, guint port,
                                     const VfsecContractMacTable *table, guint timeout_ms,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
    g_autoptr(VfsecContractRequest) req = vfsec_contract_request_new(VFSEC_CONTRACT_OP_SET_MACS);
    VfsecContractMacTable *own = req->args.set_macs.table;

    /* Borrow the caller's table for the encoding only. */
    req->args.set_macs.port = port;
    req->args.set_macs.table = (VfsecContractMacTable *)table;
    call_request(client, req, timeout_ms, cancellable, callback, user_data);
    req->args.set_macs.table = own;
}

gboolean
vfsec_contract_client_set_macs_finish(VfsecContractClient *client, GAsyncResult *result,
                                      guint64 *generation, GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, VFSEC_CONTRACT_OP_SET_MACS,
                                                      error);

    if (!res)
        return FALSE;
    *generation = res->u.generation;
    return TRUE;
}

void
vfsec_contract_client_get_switch_mode_async(VfsecContractClient *client, guint port,
                                            guint timeout_ms, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
    call_port(client, VFSEC_CONTRACT_OP_GET_SWITCH_MODE, port, timeout_ms, cancellable, callback,
              user_data);
}

static gboolean
finish_switch_mode(VfsecContractClient *client, GAsyncResult *result, VfsecContractOp op,
                   VfsecContractSwitchMode *mode, GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, op, error);

    if (!res)
        return FALSE;
    *mode = res->u.mode;
    return TRUE;
}

gboolean
vfsec_contract_client_get_switch_mode_finish(VfsecContractClient *client, GAsyncResult *result,
                                             VfsecContractSwitchMode *mode, GError **error)
{
    return finish_switch_mode(client, result, VFSEC_CONTRACT_OP_GET_SWITCH_MODE, mode, error);
}

void
vfsec_contract_client_set_switch_mode_async(VfsecContractClient *client, guint port,
                                            VfsecContractSwitchMode mode, guint timeout_ms,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(VfsecContractRequest) req =
        vfsec_contract_request_new(VFSEC_CONTRACT_OP_SET_SWITCH_MODE);

    req->args.set_switch_mode.port = port;
    req->args.set_switch_mode.mode = mode;
    call_request(client, req, timeout_ms, cancellable, callback, user_data);
}

gboolean
vfsec_contract_client_set_switch_mode_finish(VfsecContractClient *client, GAsyncResult *result,
                                             VfsecContractSwitchMode *mode, GError **error)
{
    return finish_switch_mode(client, result, VFSEC_CONTRACT_OP_SET_SWITCH_MODE, mode, error);
}

void
vfsec_contract_client_counters_async(VfsecContractClient *client, guint port, guint timeout_ms,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
    call_port(client, VFSEC_CONTRACT_OP_COUNTERS, port, timeout_ms, cancellable, callback,
              user_data);
}

gboolean
vfsec_contract_client_counters_finish(VfsecContractClient *client, GAsyncResult *result,
                                      GArray **counters, GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, VFSEC_CONTRACT_OP_COUNTERS,
                                                      error);

    if (!res)
        return FALSE;
    *counters = g_steal_pointer(&res->u.counters);
    return TRUE;
}

void
vfsec_contract_client_subscribe_async(VfsecContractClient *client, guint events, guint timeout_ms,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data)
{
    g_autoptr(VfsecContractRequest) req = vfsec_contract_request_new(VFSEC_CONTRACT_OP_SUBSCRIBE);

    req->args.events = events & VFSEC_CONTRACT_EVENT_MASK_ALL;
    call_request(client, req, timeout_ms, cancellable, callback, user_data);
}

gboolean
vfsec_contract_client_subscribe_finish(VfsecContractClient *client, GAsyncResult *result,
                                       GError **error)
{
    g_autoptr(VfsecContractResult) res = finish_typed(client, result, VFSEC_CONTRACT_OP_SUBSCRIBE,
                                                      error);

    return res != NULL;
}

/* ------------------------------------------------------------------------ */
/* Blocking conveniences */

static void
store_result(GObject *source, GAsyncResult *result, gpointer data)
{
    GAsyncResult **out = data;

    *out = g_object_ref(result);
}

VfsecContractClient *
vfsec_contract_client_connect_sync(const char *socket_path, guint timeout_ms, GError **error)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(VfsecContractClient) client = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    gboolean ok;

    g_main_context_push_thread_default(context);
    client = vfsec_contract_client_new(socket_path);
    vfsec_contract_client_connect_async(client, timeout_ms, NULL, store_result, &result);
    while (!result)
        g_main_context_iteration(context, TRUE);
    ok = vfsec_contract_client_connect_finish(client, result, error);
    g_main_context_pop_thread_default(context);
    return ok ? g_steal_pointer(&client) : NULL;
}

gboolean
vfsec_contract_client_call_sync(VfsecContractClient *client, const char *op, JsonObject *args,
                                guint timeout_ms, JsonObject **result, GError **error)
{
    g_autoptr(GAsyncResult) res = NULL;
    gboolean ok;

    g_main_context_push_thread_default(client->context);
    vfsec_contract_client_call_async(client, op, args, timeout_ms, NULL, store_result, &res);
    while (!res)
        g_main_context_iteration(client->context, TRUE);
    ok = vfsec_contract_client_call_finish(client, res, result, error);
    g_main_context_pop_thread_default(client->context);
    return ok;
}
