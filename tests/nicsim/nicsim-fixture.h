/* nicsim-fixture.h: what the emulator's integration tests share — an emulator
 * started in namespaces the test made (and always removes), its control and
 * contract sockets, VM namespaces, packet captures with deadlines, and frame
 * builders. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vfsec-addr.h"
#include "vfsec-contract-client.h"
#include "vfsec-nicsim-links.h"
#include "vfsec-wire.h"

G_BEGIN_DECLS

/* How long a test waits for anything (ready file, reply, frame). */
#define NICSIM_WAIT_MS 10000
/* How long a test watches for a frame that must NOT arrive. */
#define NICSIM_QUIET_MS 300

typedef struct {
    guint n_ports;             /* 0: 1 */
    guint n_vfs;               /* 0: 4 */
    const char *mode;          /* NULL: veb */
    gboolean pcap;             /* taps in <dir>/pcap */
    const char *const *extra;  /* more options, NULL-terminated; may be NULL */
} NicsimOptions;

typedef struct {
    char *tag;                 /* "vfsec-it-<pid>-<n>": every namespace name starts so */
    char *prefix;              /* netdev prefix */
    char *host_ns;             /* PF and VF netdevs */
    char *wire_ns;             /* far ends of the uplinks */
    char *nic_ns;              /* the emulator's own (it creates and removes it) */
    char *dir;                 /* temporary: sockets, ready file, taps */
    char *control;
    char *contract;
    char *ready;
    char *pcap_dir;
    int host_fd;
    int wire_fd;
    GHashTable *vm_fds;        /* VF index -> namespace fd of its VM namespace */
    GPid pid;                  /* the emulator; 0 once reaped */
    GMainContext *ctx;         /* pushed as thread-default while the fixture lives */
    GStrv argv;                /* the emulator's command line, for nicsim_restart() */
} NicsimFixture;

/* Exits 77 unless root with working network namespaces; removes namespaces
 * left by earlier runs that were killed. Call first in main(). */
void nicsim_require(void);

/* Creates the host and wire namespaces (IPv6 off: no chatter in counters),
 * starts the emulator and waits for its ready file. Asserts on failure. */
NicsimFixture *nicsim_start(const NicsimOptions *options);
/* Sends @sig to the emulator and waits for it; returns its exit status (-1:
 * killed by a signal, or did not exit in time). */
int nicsim_terminate(NicsimFixture *fx, int sig);
/* Starts the emulator again, with the same command line (same sockets and
 * namespaces), after nicsim_terminate(); waits for its ready file. */
void nicsim_restart(NicsimFixture *fx);
/* Stops the emulator (SIGTERM, exit status 0 asserted) if still running,
 * deletes the test's namespaces and temporary files, frees. */
void nicsim_stop(NicsimFixture *fx);

/* Netdev names of port 0 (new strings). */
char *nicsim_pf_name(NicsimFixture *fx);
char *nicsim_vf_name(NicsimFixture *fx, guint vf);
char *nicsim_uplink_name(NicsimFixture *fx);

/* ---- Control socket ---- */

/* One request; @args_fmt (printf, may be NULL) is the JSON args object.
 * Asserts an ok reply and returns its result (caller unrefs). */
JsonObject *nicsim_ctl(NicsimFixture *fx, const char *op, const char *args_fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* nicsim_ctl() for a request whose result does not matter. */
void nicsim_ctl_do(NicsimFixture *fx, const char *op, const char *args_fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Same without asserting: FALSE with @error on an error reply. */
gboolean nicsim_ctl_try(NicsimFixture *fx, const char *op, const char *args_json,
                        JsonObject **result, GError **error);
/* A counter of port 0 ("agent.bypassed", ...); asserts it exists. */
guint64 nicsim_counter(NicsimFixture *fx, const char *name);
/* The SAs of port 0's agent SAD whose key carries @mac (new array of
 * JsonObject references). */
GPtrArray *nicsim_sad_with_mac(NicsimFixture *fx, const VfsecMac *mac);
/* Number of SAs in port 0's agent SAD / PF-driver DB. */
guint nicsim_sad_count(NicsimFixture *fx);
guint nicsim_db_count(NicsimFixture *fx);
/* Compact JSON text of @obj (new string). */
char *nicsim_json_text(JsonObject *obj);

/* ---- Contract socket ---- */

/* A connected contract client on the fixture's main context; @notify (may
 * be NULL) gets its notifications. */
VfsecContractClient *nicsim_contract_connect(NicsimFixture *fx, VfsecContractNotifyFunc notify,
                                             gpointer user_data);
/* One contract request with @args_json (NULL: {}); asserts an ok reply and
 * returns its result (caller unrefs). */
JsonObject *nicsim_contract_call(NicsimFixture *fx, VfsecContractClient *client, const char *op,
                                 const char *args_json);
/* vfsec_test_run_until() on the fixture's context: iterates it until *@flag
 * is TRUE; FALSE after @timeout_ms. */
gboolean nicsim_run_until(NicsimFixture *fx, const gboolean *flag, guint timeout_ms);
/* vfsec_test_run_until_count() on the fixture's context: iterates it until
 * *@count reaches @want (a notification callback counts); FALSE after
 * @timeout_ms. */
gboolean nicsim_run_until_count(NicsimFixture *fx, const guint *count, guint want,
                                guint timeout_ms);
/* Iterates the fixture's context without blocking until it has nothing to do. */
void nicsim_run_pending(NicsimFixture *fx);

/* ---- Namespaces and frames ---- */

/* Moves VF @vf's netdev into a new "VM" namespace (IPv6 off) and sets it up;
 * returns that namespace's fd (owned by the fixture). */
int nicsim_vm(NicsimFixture *fx, guint vf);
/* A non-blocking packet socket on @ifname in namespace @ns_fd (VLAN tags
 * restored from PACKET_AUXDATA). The caller closes it. */
int nicsim_capture(int ns_fd, const char *ifname);
/* Returns TRUE when the frame is the one waited for. */
typedef gboolean (*NicsimMatchFunc)(const guint8 *frame, gsize len, gconstpointer data);
/* Reads frames from @fd until one matches (or any, with @match NULL) and
 * copies it to @buf; returns its length, or -1 when @timeout_ms passed. */
gssize nicsim_recv(int fd, guint8 *buf, gsize size, guint timeout_ms, NicsimMatchFunc match,
                   gconstpointer data);
/* A match function: the frame contains the NUL-terminated string @data. */
gboolean nicsim_match_text(const guint8 *frame, gsize len, gconstpointer data);
void nicsim_send(int fd, const guint8 *frame, gsize len);

/* An Ethernet frame carrying IPv4/UDP (ports 4000 -> 4001) with @payload,
 * under @n_tags VLAN tags (outermost first). */
GByteArray *nicsim_frame_udp4(const VfsecMac *dst, const VfsecMac *src, const VfsecWireVlan *tags,
                              guint n_tags, const char *ip_src, const char *ip_dst,
                              const void *payload, gsize payload_len);
/* The IPv4 header checksum of @len bytes (checksum field zeroed). */
guint16 nicsim_ip_checksum(const guint8 *header, gsize len);
/* Where the IP header of an Ethernet frame starts (after its VLAN tags). */
gsize nicsim_frame_l3(const guint8 *frame, gsize len);
/* A configuration request of one op, @op (its opcode and body filled by the
 * caller), from @src to port 0's agent, under a configuration tag of TPID
 * @tpid (0: 802.1Q) and default VIDs. */
GByteArray *nicsim_config_request(const VfsecMac *src, guint16 tpid, guint32 seq,
                                  const VfsecWireOp *op);
/* Fills @op as an ADD_SA of an AES-GCM-128 SA (key bytes 0x42) keyed to
 * (@dst, ESP, @spi, @mac), untagged. */
void nicsim_add_sa_op(VfsecWireOp *op, const VfsecMac *mac, const char *dst, guint32 spi,
                      VfsecWireDir dir);
/* Match functions: the frame is exactly the GByteArray @data; the frame is
 * the agent's configuration reply with seq GPOINTER_TO_UINT(@data). */
gboolean nicsim_match_bytes(const guint8 *frame, gsize len, gconstpointer data);
gboolean nicsim_match_reply(const guint8 *frame, gsize len, gconstpointer data);
/* Lower-case hex of @len bytes (new string). */
char *nicsim_hex(const guint8 *data, gsize len);

G_END_DECLS
