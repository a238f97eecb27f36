/* vfsec-contract.h: the PF-driver contract (v1) codec: typed requests, results and
 * notifications to and from newline-delimited JSON, and the line framer. Pure, no
 * I/O: vfsecd's client and the NIC emulator's server both build on it. The protocol
 * itself is specified in docs/pf-driver-contract.md. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vfsec-addr.h"
#include "vfsec-error.h"

G_BEGIN_DECLS

#define VFSEC_CONTRACT_VERSION 1
/* Longest line either side may send, not counting its newline. */
#define VFSEC_CONTRACT_MAX_LINE (1024 * 1024)
/* Deepest nesting of arrays and objects in a line (v1 needs 5). */
#define VFSEC_CONTRACT_MAX_DEPTH 16
/* Largest integer anywhere in the contract (JSON numbers as signed 64-bit). */
#define VFSEC_CONTRACT_MAX_UINT ((guint64)G_MAXINT64)
/* Longest reclaim-vf timeout_ms a server must accept. */
#define VFSEC_CONTRACT_MAX_TIMEOUT_MS 600000
/* An error reply's message is cut to this many bytes. */
#define VFSEC_CONTRACT_MAX_MESSAGE 4096

#define VFSEC_CONTRACT_TPID_8021Q 0x8100
#define VFSEC_CONTRACT_TPID_8021AD 0x88a8

/* Capabilities a v1 server may announce in its hello result. */
#define VFSEC_CONTRACT_CAP_RECLAIM_BATCHED "reclaim-batched"
#define VFSEC_CONTRACT_CAP_PORT_TAG_8021AD "port-tag-8021ad"
#define VFSEC_CONTRACT_CAP_SWITCH_MODE "switch-mode"
#define VFSEC_CONTRACT_CAP_LOCAL_MACS "local-macs"
#define VFSEC_CONTRACT_CAP_NOTIFICATIONS "notifications"
#define VFSEC_CONTRACT_CAP_COUNTERS "counters"

typedef enum {
    VFSEC_CONTRACT_OP_HELLO,
    VFSEC_CONTRACT_OP_LIST_PORTS,
    VFSEC_CONTRACT_OP_LIST_VFS,
    VFSEC_CONTRACT_OP_SET_VF,
    VFSEC_CONTRACT_OP_RECLAIM_VF,
    VFSEC_CONTRACT_OP_GET_MACS,
    VFSEC_CONTRACT_OP_SET_MACS,
    VFSEC_CONTRACT_OP_GET_SWITCH_MODE,
    VFSEC_CONTRACT_OP_SET_SWITCH_MODE,
    VFSEC_CONTRACT_OP_COUNTERS,
    VFSEC_CONTRACT_OP_SUBSCRIBE,
    VFSEC_CONTRACT_OP_LAST
} VfsecContractOp;

/* "hello", "list-ports", ... */
const char *vfsec_contract_op_to_string(VfsecContractOp op);
/* Returns -1 for an op this codec does not know. */
int vfsec_contract_op_from_string(const char *str);

/* The error codes of an error reply. */
typedef enum {
    VFSEC_CONTRACT_ERROR_INVALID,
    VFSEC_CONTRACT_ERROR_NOT_FOUND,
    VFSEC_CONTRACT_ERROR_BUSY,
    VFSEC_CONTRACT_ERROR_TIMEOUT,
    VFSEC_CONTRACT_ERROR_UNSUPPORTED,
    VFSEC_CONTRACT_ERROR_PERMISSION,
    VFSEC_CONTRACT_ERROR_CONFLICT,
    VFSEC_CONTRACT_ERROR_FAILED,
    VFSEC_CONTRACT_ERROR_VERSION,
    VFSEC_CONTRACT_ERROR_LAST
} VfsecContractErrorCode;

const char *vfsec_contract_error_code_to_string(VfsecContractErrorCode code);
int vfsec_contract_error_code_from_string(const char *str);
/* The VFSEC_ERROR code a client reports for a remote error: busy becomes
 * CONFLICT (the object is held by another operation), version PROTOCOL. */
VfsecErrorCode vfsec_contract_error_code_to_vfsec(VfsecContractErrorCode code);
/* The contract code a server answers for a local GError (any domain). */
VfsecContractErrorCode vfsec_contract_error_code_from_gerror(const GError *error);

typedef enum {
    VFSEC_CONTRACT_SWITCH_MODE_VEB,
    VFSEC_CONTRACT_SWITCH_MODE_VEPA,
    VFSEC_CONTRACT_SWITCH_MODE_LAST
} VfsecContractSwitchMode;

const char *vfsec_contract_switch_mode_to_string(VfsecContractSwitchMode mode);
int vfsec_contract_switch_mode_from_string(const char *str);

typedef enum {
    VFSEC_CONTRACT_EVENT_VF_RESET,
    VFSEC_CONTRACT_EVENT_AGENT_RESET,
    VFSEC_CONTRACT_EVENT_PORT_CHANGE,
    VFSEC_CONTRACT_EVENT_LAST
} VfsecContractEvent;

#define VFSEC_CONTRACT_EVENT_MASK(ev) (1u << (ev))
#define VFSEC_CONTRACT_EVENT_MASK_ALL ((1u << VFSEC_CONTRACT_EVENT_LAST) - 1)

const char *vfsec_contract_event_to_string(VfsecContractEvent event);
int vfsec_contract_event_from_string(const char *str);

/* A VF's port L2 tag, pushed by the PF on every frame of the VF. */
typedef struct {
    guint16 tpid;  /* VFSEC_CONTRACT_TPID_8021Q or _8021AD */
    guint16 vid;   /* 0..4095 */
    guint8 pcp;    /* 0..7 */
} VfsecContractPortTag;

gboolean vfsec_contract_port_tag_equal(const VfsecContractPortTag *a,
                                       const VfsecContractPortTag *b);

typedef struct {
    guint port;
    char *name;                  /* the server's label for the port, e.g. "p0" */
    VfsecPciAddr pf_pci;
    char *pf_netdev;
    VfsecMac pf_mac;
    guint num_vfs;               /* VFs enabled now */
    VfsecContractSwitchMode switch_mode;
    gboolean hairpin_capable;    /* the agent can hairpin East-West traffic */
} VfsecContractPort;

VfsecContractPort *vfsec_contract_port_new(void);
void vfsec_contract_port_free(VfsecContractPort *port);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecContractPort, vfsec_contract_port_free)

typedef struct {
    guint port;
    guint vf;
    VfsecPciAddr pci;
    char *netdev;                /* NULL: no network driver bound (e.g. vfio-pci) */
    gboolean has_mac;            /* FALSE: no administrative MAC set */
    VfsecMac mac;
    gboolean has_port_tag;       /* FALSE: the VF's frames are not tagged */
    VfsecContractPortTag port_tag;
    gboolean trust;
    gboolean spoofchk;
    guint64 sa_count;            /* SAs in the VF's SAD domain */
} VfsecContractVf;

VfsecContractVf *vfsec_contract_vf_new(void);
VfsecContractVf *vfsec_contract_vf_copy(const VfsecContractVf *vf);
void vfsec_contract_vf_free(VfsecContractVf *vf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecContractVf, vfsec_contract_vf_free)
/* Compares every field, netdev included. */
gboolean vfsec_contract_vf_equal(const VfsecContractVf *a, const VfsecContractVf *b);

/* The keys a set-vf request changes; the others are left as they are. */
typedef enum {
    VFSEC_CONTRACT_SET_VF_PORT_TAG = 1 << 0,
    VFSEC_CONTRACT_SET_VF_TRUST = 1 << 1,
    VFSEC_CONTRACT_SET_VF_SPOOFCHK = 1 << 2,
    VFSEC_CONTRACT_SET_VF_MAC = 1 << 3,
    VFSEC_CONTRACT_SET_VF_ALL = (1 << 4) - 1,
} VfsecContractSetVfFields;

/* One tag a local MAC is reachable with (no PCP: it does not select a VF). */
typedef struct {
    guint16 tpid;
    guint16 vid;
} VfsecContractMacTag;

typedef struct {
    VfsecMac mac;
    GArray *tags;                /* VfsecContractMacTag; empty: untagged */
} VfsecContractMacEntry;

VfsecContractMacEntry *vfsec_contract_mac_entry_new(const VfsecMac *mac);
void vfsec_contract_mac_entry_add_tag(VfsecContractMacEntry *entry, guint16 tpid, guint16 vid);
void vfsec_contract_mac_entry_free(VfsecContractMacEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecContractMacEntry, vfsec_contract_mac_entry_free)

/* A port's local-MAC table; the generation changes with every set-macs. */
typedef struct {
    guint64 generation;
    GPtrArray *entries;          /* VfsecContractMacEntry*, no MAC twice */
} VfsecContractMacTable;

VfsecContractMacTable *vfsec_contract_mac_table_new(guint64 generation);
void vfsec_contract_mac_table_free(VfsecContractMacTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecContractMacTable, vfsec_contract_mac_table_free)
/* The same entries in the same order with the same tags (generation aside). */
gboolean vfsec_contract_mac_table_same_entries(const VfsecContractMacTable *a,
                                               const VfsecContractMacTable *b);
/* Same generation, same entries in the same order with the same tags. */
gboolean vfsec_contract_mac_table_equal(const VfsecContractMacTable *a,
                                        const VfsecContractMacTable *b);

typedef struct {
    char *name;                  /* [a-z0-9._-]+ */
    guint64 value;
} VfsecContractCounter;

/* An empty GArray of VfsecContractCounter that frees the names. */
GArray *vfsec_contract_counters_new(void);
void vfsec_contract_counters_add(GArray *counters, const char *name, guint64 value);
/* FALSE when @counters has no counter @name. */
gboolean vfsec_contract_counters_get(GArray *counters, const char *name, guint64 *value);

typedef struct {
    guint version;
    char *server;                /* software name and version, e.g. "vfsec-nicsim/0.1" */
    GStrv capabilities;          /* as announced, unknown ones included */
    guint64 max_sas_per_port;
} VfsecContractHello;

gboolean vfsec_contract_hello_has_capability(const VfsecContractHello *hello, const char *cap);

typedef struct {
    guint64 removed;             /* removals the agent confirmed */
    guint64 failed;              /* removals the agent refused */
    guint64 remaining;           /* SAs left in the VF's domain when answered */
} VfsecContractReclaim;

/* A request with its arguments decoded; the member of args is the op's. */
typedef struct {
    guint64 id;
    VfsecContractOp op;
    union {
        struct {
            guint version;
            char *client;
        } hello;
        guint port;              /* list-vfs, get-macs, get-switch-mode, counters */
        struct {
            VfsecContractSetVfFields fields;
            VfsecContractVf vf;  /* port, vf and the fields named; pci, netdev unused */
        } set_vf;
        struct {
            guint port;
            guint vf;
            guint timeout_ms;    /* 0: absent, the server's default */
        } reclaim_vf;
        struct {
            guint port;
            VfsecContractMacTable *table;  /* generation: the expected current one */
        } set_macs;
        struct {
            guint port;
            VfsecContractSwitchMode mode;
        } set_switch_mode;
        guint events;            /* subscribe: VFSEC_CONTRACT_EVENT_MASK() bits */
    } args;
} VfsecContractRequest;

/* A zeroed request for @op; set_macs.table is allocated (generation 0, empty). */
VfsecContractRequest *vfsec_contract_request_new(VfsecContractOp op);
void vfsec_contract_request_free(VfsecContractRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecContractRequest, vfsec_contract_request_free)

/* The request's args object (new reference). */
JsonObject *vfsec_contract_request_args_to_json(const VfsecContractRequest *req);

/* Builds a request line from an op name and an args object (NULL: {}), with its
 * newline, NUL-terminated; *len (optional) excludes the NUL. Fails with
 * VFSEC_ERROR_TOO_LARGE when the line would exceed VFSEC_CONTRACT_MAX_LINE. */
char *vfsec_contract_request_build(guint64 id, const char *op, JsonObject *args,
                                   gsize *len, GError **error);

/* Parses and validates one request line (without its newline). Failing with
 * VFSEC_ERROR_PROTOCOL means the line is no request at all: the server closes the
 * connection. Any other code means *id (optional) holds the request's id, and the
 * server answers it with vfsec_contract_error_code_from_gerror(). */
VfsecContractRequest *vfsec_contract_request_parse(const char *line, gsize len,
                                                   guint64 *id, GError **error);

/* A result with its members decoded; the member of u is the op's. subscribe has
 * none. */
typedef struct {
    VfsecContractOp op;
    union {
        VfsecContractHello hello;
        GPtrArray *ports;        /* list-ports: VfsecContractPort* */
        GPtrArray *vfs;          /* list-vfs: VfsecContractVf* */
        VfsecContractVf *vf;     /* set-vf: the VF's new state */
        VfsecContractReclaim reclaim;
        VfsecContractMacTable *macs;      /* get-macs */
        guint64 generation;      /* set-macs: the new generation */
        VfsecContractSwitchMode mode;     /* get-switch-mode, set-switch-mode */
        GArray *counters;        /* VfsecContractCounter */
    } u;
} VfsecContractResult;

/* A zeroed result for @op, its arrays and objects allocated and empty. */
VfsecContractResult *vfsec_contract_result_new(VfsecContractOp op);
void vfsec_contract_result_free(VfsecContractResult *res);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecContractResult, vfsec_contract_result_free)

/* The result object of a reply (new reference). */
JsonObject *vfsec_contract_result_to_json(const VfsecContractResult *res);
/* Validates a reply's result object for @op (VFSEC_ERROR_INVALID on failure). */
VfsecContractResult *vfsec_contract_result_from_json(VfsecContractOp op, JsonObject *obj,
                                                     GError **error);

/* Builds a success reply line (see vfsec_contract_request_build()). */
char *vfsec_contract_reply_build(guint64 id, JsonObject *result, gsize *len, GError **error);
/* Builds an error reply line; never fails. @message is made one line of valid
 * UTF-8 (control characters become spaces, trailing white space goes), cut to
 * VFSEC_CONTRACT_MAX_MESSAGE bytes at a character boundary, and replaced by
 * the code when empty. */
char *vfsec_contract_reply_error_build(guint64 id, VfsecContractErrorCode code,
                                       const char *message, gsize *len);

/* The reply envelope is shared with vfsecd's control protocol
 * (docs/control-protocol.md), which adds members of its own in front ("v")
 * and has its own error codes and line bound. */

/* As vfsec_contract_reply_build(), with @extras' members (NULL: none) written
 * before "id", and @max_line as the bound. */
char *vfsec_contract_reply_build_full(JsonObject *extras, guint64 id, JsonObject *result,
                                      gsize max_line, gsize *len, GError **error);
/* As vfsec_contract_reply_error_build(), with @extras and any error code
 * @code (a token, e.g. "too-large"). */
char *vfsec_contract_reply_error_build_full(JsonObject *extras, guint64 id, const char *code,
                                            const char *message, gsize *len);

/* A reply's envelope as read; the strings and object are owned. */
typedef struct {
    guint64 id;
    gboolean ok;
    JsonObject *result;          /* ok */
    char *error_code;            /* !ok: the code as sent, a token */
    char *error_message;         /* !ok: any text */
} VfsecContractReplyEnvelope;

void vfsec_contract_reply_envelope_clear(VfsecContractReplyEnvelope *env);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfsecContractReplyEnvelope, vfsec_contract_reply_envelope_clear)

/* Reads the envelope of the reply @root: "id" (0..@max_id), "ok", then
 * "result" (an object) when ok, or "error" {"code", "message"} when not.
 * Other members are ignored. Fails with VFSEC_ERROR_PROTOCOL naming @what and
 * the member ("reply: error.code is missing"). Clear @out afterwards. */
gboolean vfsec_contract_reply_envelope_read(JsonObject *root, const char *what, guint64 max_id,
                                            VfsecContractReplyEnvelope *out, GError **error);

typedef struct {
    VfsecContractEvent event;
    guint port;
    guint vf;                    /* vf-reset */
    char *what;                  /* port-change: [a-z0-9._-]+, e.g. "num-vfs" */
} VfsecContractNotification;

void vfsec_contract_notification_clear(VfsecContractNotification *n);
/* Builds a notification line (see vfsec_contract_request_build()). */
char *vfsec_contract_notification_build(const VfsecContractNotification *n, gsize *len,
                                        GError **error);
/* Validates a notification's data for @event; VFSEC_ERROR_UNSUPPORTED for an event
 * this codec does not know, which a client ignores. Clear @out afterwards. */
gboolean vfsec_contract_notification_parse(const char *event, JsonObject *data,
                                           VfsecContractNotification *out, GError **error);

typedef enum {
    VFSEC_CONTRACT_MESSAGE_REPLY,
    VFSEC_CONTRACT_MESSAGE_NOTIFICATION,
} VfsecContractMessageKind;

/* A line a client receives: a reply or a notification, envelope checked only. */
typedef struct {
    VfsecContractMessageKind kind;
    guint64 id;                  /* reply */
    gboolean ok;                 /* reply */
    JsonObject *result;          /* ok reply */
    VfsecContractErrorCode error_code;   /* error reply; unknown codes read as failed */
    char *error_message;         /* error reply */
    char *event;                 /* notification, as sent */
    JsonObject *data;            /* notification */
} VfsecContractMessage;

void vfsec_contract_message_free(VfsecContractMessage *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecContractMessage, vfsec_contract_message_free)

/* Parses one line a server sent (without its newline); VFSEC_ERROR_PROTOCOL on
 * anything that is not a well-formed reply or notification. */
VfsecContractMessage *vfsec_contract_message_parse(const char *line, gsize len, GError **error);

/* Splits a byte stream into lines. */
typedef struct _VfsecContractFramer VfsecContractFramer;

/* @max_line: the longest line accepted, not counting its newline. */
VfsecContractFramer *vfsec_contract_framer_new(gsize max_line);
void vfsec_contract_framer_free(VfsecContractFramer *framer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecContractFramer, vfsec_contract_framer_free)

/* Appends received bytes. Fails with VFSEC_ERROR_TOO_LARGE as soon as a line
 * (complete or not) is longer than max_line; the framer then refuses every
 * further feed and the connection must be closed. Lines already complete before
 * the long one can still be popped. */
gboolean vfsec_contract_framer_feed(VfsecContractFramer *framer, const void *data, gsize len,
                                    GError **error);
/* The next complete line without its newline, NUL-terminated (the line itself
 * may hold NUL bytes: use *len), or NULL when there is none. Free with g_free(). */
char *vfsec_contract_framer_pop(VfsecContractFramer *framer, gsize *len);
/* Bytes received that do not yet form a complete line. */
gsize vfsec_contract_framer_pending(const VfsecContractFramer *framer);

G_END_DECLS
