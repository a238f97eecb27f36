/* vfsec-ctlproto.h: the control protocol between vfsecd and its local clients
 * (the libvirt hook, vfsecctl) — message codec, the libvirt hook operation
 * table, a small blocking client, and vfsecd's server over VfsecJsonlServer.
 * Specified in docs/control-protocol.md. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vfsec-addr.h"
#include "vfsec-config.h"
#include "vfsec-domain.h"
#include "vfsec-error.h"
#include "vfsec-hookops.h"
#include "vfsec-jsonl-server.h"

G_BEGIN_DECLS

#define VFSEC_CTL_VERSION 1

/* Where vfsecd listens unless configured otherwise. */
#define VFSEC_CTL_DEFAULT_SOCKET VFSEC_RUNSTATEDIR "/vfsec/vfsecd.sock"

/* The longest line either side accepts, without its newline: a hook request
 * carries a whole domain XML (at most VFSEC_DOMAIN_XML_MAX bytes) in which
 * JSON escaping doubles quotes, backslashes and line breaks; 1 MiB is left
 * for everything else. (Rarer characters escape six-fold: such a request is
 * refused with VFSEC_ERROR_TOO_LARGE rather than cut.) */
#define VFSEC_CTL_MAX_LINE (2 * (gsize)VFSEC_DOMAIN_XML_MAX + 1024 * 1024)
/* Arrays and objects nested deeper than this (the root object included) are
 * refused before parsing. */
#define VFSEC_CTL_MAX_DEPTH 16
/* Ids are JSON integers that every JSON implementation holds exactly. */
#define VFSEC_CTL_MAX_ID ((G_GUINT64_CONSTANT(1) << 53) - 1)
/* A reply's message is one line for people (the hook prints it for virsh). */
#define VFSEC_CTL_MAX_MESSAGE 4096
/* The hook timeout a request may announce (args.timeout_ms). */
#define VFSEC_CTL_MAX_TIMEOUT_MS 600000

/* Requests vfsecd serves. */
typedef enum {
    VFSEC_CTL_OP_HOOK,       /* a libvirt hook call, forwarded by vfsec-hook */
    VFSEC_CTL_OP_STATUS,     /* daemon summary */
    VFSEC_CTL_OP_VFS,        /* every VF vfsecd knows and its state */
    VFSEC_CTL_OP_MACS,       /* the published local-MAC tables */
    VFSEC_CTL_OP_DOMAINS,    /* domains holding VFs */
    VFSEC_CTL_OP_RECLAIM,    /* reclaim one VF's SAs now */
    VFSEC_CTL_OP_RECONCILE,  /* run a reconcile pass now */
    VFSEC_CTL_OP_LAST
} VfsecCtlOp;

/* "hook", "status", "vfs", "macs", "domains", "reclaim", "reconcile" */
const char *vfsec_ctl_op_to_string(VfsecCtlOp op);
/* Returns -1 for an unknown name. */
int vfsec_ctl_op_from_string(const char *str);

/* The wire names of VfsecErrorCode ("failed", "invalid", "not-found", "io",
 * "protocol", "conflict", "timeout", "unsupported", "permission",
 * "too-large"); NULL for a value outside the enum. */
const char *vfsec_ctl_error_code_to_string(VfsecErrorCode code);
/* Returns -1 for an unknown name. */
int vfsec_ctl_error_code_from_string(const char *str);
/* The wire name of the code a reply carries for @err: its own when @err is
 * in VFSEC_ERROR, else "failed". */
const char *vfsec_ctl_error_code_from_gerror(const GError *err);

/* Checks a domain or network name as it travels in argv and in requests:
 * 1..VFSEC_CTL_MAX_NAME bytes of UTF-8, no '/', no control character (the
 * name ends up in one-line messages). @what names the field in the error,
 * e.g. "domain name" or "control request args.name". */
gboolean vfsec_ctl_check_name(const char *what, const char *name, GError **error);
/* Checks the hook's extra argument: 1..VFSEC_CTL_MAX_EXTRA bytes of UTF-8
 * without control characters. */
gboolean vfsec_ctl_check_extra(const char *what, const char *extra, GError **error);

/* Whether @att names a device that may be an SR-IOV VF, the hook's
 * "candidate": a PCI address (hostdev) or a netdev (macvtap). A network
 * interface before libvirt chose its port (prepare, or any NAT/bridge
 * network) names no device: a VF from a pool is gated by the network
 * hook's port-created instead. The full hook and vfsecd both decide with
 * this whether a hook call concerns vfsec at all. */
gboolean vfsec_ctl_hook_candidate(const VfsecAttachment *att);
/* The same for a network port: a VF handed over whole, or a macvtap on a
 * device that may be one. */
gboolean vfsec_ctl_hook_port_candidate(const VfsecNetworkPort *port);

/* args of a "hook" request: the libvirt hook call as vfsec-hook saw it. */
typedef struct {
    VfsecHookKind kind;
    VfsecHookOp op;           /* of @kind */
    VfsecHookSubop subop;
    char *name;               /* argv[1]: domain or network name */
    char *extra;              /* argv[4] */
    char *xml;                /* stdin; "" when the hook could not parse it */
    guint timeout_ms;         /* how long the hook waits; 0 = not said */
} VfsecCtlHookArgs;

typedef struct {
    guint64 id;               /* 0..VFSEC_CTL_MAX_ID */
    VfsecCtlOp op;
    VfsecCtlHookArgs hook;    /* op HOOK */
    gboolean has_port;        /* op MACS: one port (a PF's PCI address), or all */
    VfsecPciAddr port;
    VfsecPciAddr pf;          /* op RECLAIM: the PF and its VF index */
    guint32 vf;
} VfsecCtlRequest;

/* A zeroed request for @op. Free with vfsec_ctl_request_free(). */
VfsecCtlRequest *vfsec_ctl_request_new(VfsecCtlOp op);
void vfsec_ctl_request_free(VfsecCtlRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecCtlRequest, vfsec_ctl_request_free)

/* Validates @req as the parser would and serialises it as one line ending
 * in '\n'. Returns a new string (its length in @len, when given) or NULL
 * with @error naming the field at fault; VFSEC_ERROR_TOO_LARGE when the
 * line would exceed VFSEC_CTL_MAX_LINE. */
char *vfsec_ctl_request_build(const VfsecCtlRequest *req, gsize *len, GError **error);
/* Parses one request line (@len bytes, the newline already removed). On
 * failure returns NULL with @error naming the field, and sets *@id to the
 * request's id when it was readable (so the server can answer), else -1.
 * Members the parser does not know are ignored. */
VfsecCtlRequest *vfsec_ctl_request_parse(const char *line, gsize len, gint64 *id,
                                         GError **error);

/* A reply, in the PF-driver contract's envelope plus "v":
 * {"v":1,"id":7,"ok":true,"result":{...}} or
 * {"v":1,"id":7,"ok":false,"error":{"code":"conflict","message":"..."}}. */
typedef struct {
    guint64 id;
    gboolean ok;
    JsonObject *result;       /* ok: never NULL after parse; NULL builds {} */
    struct {
        VfsecErrorCode code;
        char *message;        /* one line for people, non-empty */
    } error;                  /* !ok */
} VfsecCtlReply;

/* A success reply; takes a reference on @result (may be NULL). */
VfsecCtlReply *vfsec_ctl_reply_new_ok(guint64 id, JsonObject *result);
/* A failure reply carrying @err's message, and its code when @err is in
 * VFSEC_ERROR (else VFSEC_ERROR_FAILED). */
VfsecCtlReply *vfsec_ctl_reply_new_error(guint64 id, const GError *err);
void vfsec_ctl_reply_free(VfsecCtlReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecCtlReply, vfsec_ctl_reply_free)

/* As vfsec_ctl_request_build(), for a reply. */
char *vfsec_ctl_reply_build(const VfsecCtlReply *reply, gsize *len, GError **error);
/* As vfsec_ctl_request_parse(), for a reply; every failure but an over-long
 * line (VFSEC_ERROR_TOO_LARGE) is VFSEC_ERROR_PROTOCOL. An error code this
 * side does not know reads as VFSEC_ERROR_FAILED. */
VfsecCtlReply *vfsec_ctl_reply_parse(const char *line, gsize len, GError **error);
/* FALSE with @error = the reply's error code and message when it is a
 * failure. */
gboolean vfsec_ctl_reply_check(const VfsecCtlReply *reply, GError **error);

/* vfsecd's control server: a VfsecJsonlServer in generic mode that speaks
 * this protocol — lines up to VFSEC_CTL_MAX_LINE, requests validated as
 * vfsec_ctl_request_parse() does (a request whose id is unreadable closes
 * the connection, any other fault is answered), "v":1 in every reply, error
 * codes named by vfsec_ctl_error_code_from_gerror(). @config gives the
 * socket, its mode and group and the peer check; its protocol fields
 * (contract, max_line, max_depth, reply_members, parse, parsed_free,
 * error_code) are ignored. Add handlers per op name ("hook", "status", ...)
 * and start it as any VfsecJsonlServer. */
VfsecJsonlServer *vfsec_ctl_server_new(const VfsecJsonlServerConfig *config);
/* The request of a call on a vfsec_ctl_server_new() server (borrowed). */
const VfsecCtlRequest *vfsec_ctl_call_get_request(VfsecJsonlCall *call);

/* Connects to the control socket at @path, waiting at most until @deadline
 * (g_get_monotonic_time() microseconds) when vfsecd's backlog is full.
 * Returns a connected, non-blocking, close-on-exec descriptor, or -errno:
 * -ENAMETOOLONG for a path that does not fit sun_path, -ETIMEDOUT when the
 * deadline passed, else connect()'s own error (-ENOENT, -ECONNREFUSED, ...). */
int vfsec_ctl_connect(const char *path, gint64 deadline);

/* A blocking client over a connected socket; needs no main loop. */
typedef struct _VfsecCtlClient VfsecCtlClient;

/* Takes ownership of @fd (from vfsec_ctl_connect()); @path is only used in
 * messages. */
VfsecCtlClient *vfsec_ctl_client_new(int fd, const char *path);
void vfsec_ctl_client_free(VfsecCtlClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecCtlClient, vfsec_ctl_client_free)

/* The reply in @line (@len bytes, no newline) that vfsecd at @path sent to
 * request @id, as vfsec_ctl_client_call() reads it: NULL with
 * VFSEC_ERROR_PROTOCOL when it is not a valid reply to @id. (The hook front
 * reads the line itself and leaves the lines it cannot judge to this.) */
VfsecCtlReply *vfsec_ctl_reply_from_line(const char *path, guint64 id, const char *line,
                                         gsize len, GError **error);

/* Gives @req the client's next id, sends it and waits until @deadline for
 * the reply. Returns the reply (a failure reply is still a reply: see
 * vfsec_ctl_reply_check()), or NULL with VFSEC_ERROR_TIMEOUT, _IO or
 * _PROTOCOL; after such an error the client only fails. */
VfsecCtlReply *vfsec_ctl_client_call(VfsecCtlClient *client, VfsecCtlRequest *req,
                                     gint64 deadline, GError **error);

G_END_DECLS
