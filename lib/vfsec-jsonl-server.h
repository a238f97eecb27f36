/* vfsec-jsonl-server.h: a reusable server for newline-delimited JSON
 * request/reply protocols (the PF-driver contract's envelope, which vfsecd's
 * control protocol shares) on a Unix stream socket, with peer-credential
 * checks, asynchronous handlers and notifications. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

#include "vfsec-contract.h"

G_BEGIN_DECLS

typedef struct _VfsecJsonlServer VfsecJsonlServer;
typedef struct _VfsecJsonlConn VfsecJsonlConn;   /* one accepted connection */
typedef struct _VfsecJsonlCall VfsecJsonlCall;   /* one request waiting for its reply */

/* Supplementary groups kept from SO_PEERGROUPS; a peer with more is
 * checked through /proc instead. */
#define VFSEC_JSONL_MAX_PEER_GROUPS 64

/* Who is at the other end of a connection (SO_PEERCRED, SO_PEERGROUPS). */
typedef struct {
    pid_t pid;
    uid_t uid;
    gid_t gid;                 /* primary group only */
    /* Supplementary groups as at connect() (SO_PEERGROUPS, Linux 4.13+);
     * n_groups < 0: unknown, read from /proc/<pid>/status instead. */
    int n_groups;
    gid_t groups[VFSEC_JSONL_MAX_PEER_GROUPS];
} VfsecJsonlPeer;

/* Decides whether @peer may talk to the server; on refusal sets @error (its
 * message goes to the peer in the "permission" error reply). */
typedef gboolean (*VfsecJsonlAuthFunc)(const VfsecJsonlPeer *peer, gpointer user_data,
                                       GError **error);

/* Handles one request. The handler (or something it starts) must end @call
 * exactly once with vfsec_jsonl_call_return_result() or _return_error(), now or
 * later, in any order relative to other calls. */
typedef void (*VfsecJsonlHandlerFunc)(VfsecJsonlCall *call, gpointer user_data);

/* One entry of a handler table; the table ends with an entry whose op is NULL. */
typedef struct {
    const char *op;
    VfsecJsonlHandlerFunc func;
} VfsecJsonlHandler;

/* Generic mode: reads one request, whose line already passed
 * vfsec_json_parse_line() (@request is its root object). It sets *@id (-1 on
 * entry) as soon as it has read a usable id — a request whose id stays -1
 * cannot be answered, and its connection closes — then validates the rest.
 * Returns the typed request, which the call carries
 * (vfsec_jsonl_call_get_parsed()), or NULL with @error, which is answered. */
typedef gpointer (*VfsecJsonlParseFunc)(JsonObject *request, gint64 *id, GError **error);

/* The wire name of the error code a reply carries for @error (any domain). */
typedef const char *(*VfsecJsonlErrorCodeFunc)(const GError *error);

typedef struct {
    const char *socket_path;   /* copied */
    guint mode;                /* socket file mode; 0: 0660 */
    gboolean allow_group;      /* besides uid 0, allow members of @group ... */
    gid_t group;               /* ... primary or supplementary; the socket is chgrp'ed to it */
    gsize max_line;            /* longest line read or written; 0: VFSEC_CONTRACT_MAX_LINE */
    guint max_depth;           /* generic mode: JSON nesting bound; 0: VFSEC_CONTRACT_MAX_DEPTH */
    /* TRUE: requests must be PF-driver contract requests; they are validated
     * with vfsec_contract_request_parse() (bad args are answered "invalid",
     * unknown ops "unsupported", without calling a handler) and calls carry
     * the typed request. The server also enforces the session rules of
     * docs/pf-driver-contract.md section 6: "hello" first, and only one
     * successful hello per connection. FALSE (generic mode): a request is an
     * object with an id, a string "op" and an optional "args" object (null
     * reads as {}), first validated by @parse when set. Both modes use the
     * contract's envelope and framing. */
    gboolean contract;
    /* Generic mode: reads and validates each request (NULL: the id must be
     * an integer 0..2^63-1, nothing else is checked); @parsed_free frees
     * what it returns. */
    VfsecJsonlParseFunc parse;
    GDestroyNotify parsed_free;
    /* Members every reply carries before "id", e.g. {"v":1}; NULL: none. The
     * server keeps a reference. */
    JsonObject *reply_members;
    /* Names the error code of a reply built from a GError: handlers' and the
     * server's own ("permission", "invalid", "unsupported", "failed"). NULL:
     * the contract's codes, vfsec_contract_error_code_from_gerror(). */
    VfsecJsonlErrorCodeFunc error_code;
    const char *proc_root;     /* where <pid>/status is read; NULL: "/proc" (a test seam) */
} VfsecJsonlServerConfig;

/* The default check: uid 0, or (when @allow_group) a peer whose primary group
 * or one of whose supplementary groups (the "Groups:" line of
 * @proc_root/<pid>/status) is @group. Refusal: VFSEC_ERROR_PERMISSION. */
gboolean vfsec_jsonl_peer_allowed(const VfsecJsonlPeer *peer, gboolean allow_group, gid_t group,
                                  const char *proc_root, GError **error);

/* A server that does not listen yet. Callbacks run on the caller's
 * thread-default main context. */
VfsecJsonlServer *vfsec_jsonl_server_new(const VfsecJsonlServerConfig *config);
/* Closes every connection (calls still running go on; their replies are
 * dropped), stops listening, removes the socket file if it is still the one
 * this server made, and frees. */
void vfsec_jsonl_server_free(VfsecJsonlServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecJsonlServer, vfsec_jsonl_server_free)

/* Replaces the default peer check (e.g. in tests). */
void vfsec_jsonl_server_set_auth_func(VfsecJsonlServer *server, VfsecJsonlAuthFunc func,
                                      gpointer user_data);
/* Registers the handlers of @table (NULL-terminated; copied), all called with
 * @user_data. An op registered twice keeps the later handler. Requests for an
 * op without handler get an "unsupported" error reply. */
void vfsec_jsonl_server_add_handlers(VfsecJsonlServer *server, const VfsecJsonlHandler *table,
                                     gpointer user_data);

/* Creates the socket file (mode config.mode, replacing a stale socket left by a
 * dead process, refusing with VFSEC_ERROR_CONFLICT a path a live server
 * answers on and with VFSEC_ERROR_IO a path that is not a socket) and starts
 * accepting. */
gboolean vfsec_jsonl_server_start(VfsecJsonlServer *server, GError **error);

/* Sends a notification line {"event": @event, "data": @data} to every
 * connection subscribed to any bit of @mask. @data NULL: {}. */
void vfsec_jsonl_server_notify(VfsecJsonlServer *server, guint32 mask, const char *event,
                               JsonObject *data);
/* Same with a line already built (e.g. vfsec_contract_notification_build()),
 * with its newline. */
void vfsec_jsonl_server_broadcast_line(VfsecJsonlServer *server, guint32 mask, const char *line,
                                       gsize len);
/* Connections open now (refused ones included until they are closed). */
guint vfsec_jsonl_server_n_connections(VfsecJsonlServer *server);

/* ---- Connections ---- */

/* Replaces the set of notifications this connection receives (0: none). */
void vfsec_jsonl_conn_set_events(VfsecJsonlConn *conn, guint32 mask);
guint32 vfsec_jsonl_conn_get_events(VfsecJsonlConn *conn);
const VfsecJsonlPeer *vfsec_jsonl_conn_get_peer(VfsecJsonlConn *conn);

/* ---- Calls ---- */

guint64 vfsec_jsonl_call_get_id(VfsecJsonlCall *call);
const char *vfsec_jsonl_call_get_op(VfsecJsonlCall *call);
/* The request's args object (borrowed; {} when absent). */
JsonObject *vfsec_jsonl_call_get_args(VfsecJsonlCall *call);
/* The typed request in contract mode, else NULL. Borrowed. */
const VfsecContractRequest *vfsec_jsonl_call_get_request(VfsecJsonlCall *call);
/* The typed request: in contract mode the VfsecContractRequest, in generic
 * mode what the server's parse function returned (NULL without one).
 * Borrowed. */
gpointer vfsec_jsonl_call_get_parsed(VfsecJsonlCall *call);
/* The connection the request came on; valid until the call ends. A call runs
 * to its end even when the connection closes first (the contract says closing
 * cancels nothing); its reply is then dropped. */
VfsecJsonlConn *vfsec_jsonl_call_get_conn(VfsecJsonlCall *call);
/* FALSE once the call's connection has closed (the reply would be dropped). */
gboolean vfsec_jsonl_call_is_connected(VfsecJsonlCall *call);

/* Ends @call with a success reply; @result (borrowed; NULL: {}). Frees @call.
 * The reply is dropped if the connection has closed meanwhile. A reply longer
 * than max_line is replaced by an error reply with code VFSEC_ERROR_FAILED. */
void vfsec_jsonl_call_return_result(VfsecJsonlCall *call, JsonObject *result);
/* Ends @call with an error reply whose code is the server's name for @error
 * (see VfsecJsonlServerConfig.error_code) and message @error's. @error is
 * borrowed. Frees @call. */
void vfsec_jsonl_call_return_error(VfsecJsonlCall *call, const GError *error);
/* Ends @call with an error reply of any contract code (e.g. "busy", which no
 * GError code maps to), named as the contract names it. Frees @call. */
void vfsec_jsonl_call_return_error_code(VfsecJsonlCall *call, VfsecContractErrorCode code,
                                        const char *message);

G_END_DECLS
