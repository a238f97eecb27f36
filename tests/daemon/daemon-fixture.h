/* daemon-fixture.h: what vfsecd's integration tests share — a vfsecd on the
 * NIC emulator (nicsim-fixture.h) with a configuration of its own, the real
 * vfsec-hook run as libvirt runs it, vfsecctl, and waiting with deadlines. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "nicsim-fixture.h"

G_BEGIN_DECLS

typedef struct {
    NicsimFixture *nic;
    char *dir;                 /* temporary: config, state, run, sockets */
    char *config;
    char *control;
    char *ready;
    char *state_dir;
    char *run_dir;
    char *hook_dir;            /* <dir>/qemu.d and <dir>/network.d hold the hook */
    char *libvirt_uri;
    GPid pid;                  /* vfsecd; 0 when not running */
    char *contract_socket;     /* NULL: the emulator's; else what [pf nic0] socket names */
    const char *log_level;     /* [daemon] log-level; NULL: debug */
    char *stderr_path;         /* NULL: vfsecd inherits stderr; else appended to this file */
} DaemonFixture;

/* Exits 77 unless root with namespaces and the built programs. */
void daemon_require(void);
/* Starts the emulator (4 VFs on one port) and writes vfsecd's configuration;
 * @libvirt_uri NULL: a socket nobody listens on. vfsecd is not started. */
DaemonFixture *daemon_new(const char *libvirt_uri);
/* Starts vfsecd (first time, or again after daemon_kill()) and waits for
 * its ready file. */
void daemon_launch(DaemonFixture *fx);
/* (Re)writes vfsecd's configuration: the fixture's [daemon] and [timeouts]
 * (reconnect back-off), then @extra verbatim — it continues [timeouts], so it
 * may start with more timeout keys, and may add whole groups ([policy]) —
 * then [pf nic0] with hairpin = @hairpin. daemon_new() writes (NULL, TRUE). */
void daemon_write_config(DaemonFixture *fx, const char *extra, gboolean hairpin);
/* daemon_new() + daemon_launch(). */
DaemonFixture *daemon_start(const char *libvirt_uri);
/* Kills vfsecd with @sig and reaps it; returns its exit status (-1: killed). */
int daemon_kill(DaemonFixture *fx, int sig);
/* Stops vfsecd (SIGTERM, clean exit and socket removal asserted), the
 * emulator, and removes the temporary files. */
void daemon_stop(DaemonFixture *fx);

/* Runs the real vfsec-hook through <hook_dir>/@kind.d/vfsec with libvirt's
 * argv (@name @op @subop -) and @xml on stdin; returns its exit status and
 * its stderr in *@err (may be NULL). Asserts an empty stdout. */
int daemon_hook(DaemonFixture *fx, const char *kind, const char *name, const char *op,
                const char *subop, const char *xml, char **err);
/* A domain XML with one direct/passthrough interface on emulator VF @vf. */
char *daemon_domain_xml(DaemonFixture *fx, const char *name, const char *uuid, guint vf,
                        const char *mac);

/* Runs vfsecctl --socket <control> @args... (NULL-terminated); returns its
 * exit status, stdout in *@out and stderr in *@err (either may be NULL). */
int daemon_ctl(DaemonFixture *fx, char **out, char **err, ...) G_GNUC_NULL_TERMINATED;
/* vfsecctl @cmd --json; asserts exit 0 and returns the parsed result. */
JsonNode *daemon_ctl_json(DaemonFixture *fx, const char *cmd);

/* The emulator's view of VF @vf (a list-vfs row; unref it). */
JsonObject *daemon_nic_vf(DaemonFixture *fx, guint vf);
/* SAs in the PF driver's DB for VF @vf. */
guint daemon_nic_vf_sas(DaemonFixture *fx, guint vf);
/* Adds @count SAs to VF @vf's SAD domain through the emulator's mailbox. */
void daemon_nic_add_sas(DaemonFixture *fx, guint vf, guint count, guint32 spi);
/* Removes VF @vf's port tag through the PF driver, behind vfsecd's back (a
 * quarantined VF cannot offload SAs: its tag's VID is reserved), then adds
 * @count SAs to its SAD domain. */
void daemon_nic_untag_add_sas(DaemonFixture *fx, guint vf, guint count, guint32 spi);
/* TRUE when the agent's local-MAC table of port 0 holds @mac. */
gboolean daemon_nic_published(DaemonFixture *fx, const char *mac);
/* TRUE when vfsecd's local-MAC file of PF "nic0" names @mac. */
gboolean daemon_macfile_has(DaemonFixture *fx, const char *mac);

/* Calls @check until it returns TRUE or @timeout_ms passed, iterating the
 * main context between tries (no sleep). */
typedef gboolean (*DaemonCheckFunc)(DaemonFixture *fx, gconstpointer data);
gboolean daemon_wait_for(DaemonFixture *fx, DaemonCheckFunc check, gconstpointer data,
                         guint timeout_ms);

/* A relay between vfsecd's contract plugin and the emulator (a thread of
 * this process) that can go silent for one VF: what a PF driver that
 * accepts requests and never answers looks like. Creating it points
 * [pf nic0] socket at it (rewrites the configuration; call before
 * daemon_launch()). */
typedef struct _DaemonMuteProxy DaemonMuteProxy;
DaemonMuteProxy *daemon_mute_proxy_new(DaemonFixture *fx);
/* From now on, requests about VF @vf (-1: none) get no reply. */
void daemon_mute_proxy_set(DaemonMuteProxy *proxy, int vf);
/* Replies dropped so far. */
guint daemon_mute_proxy_dropped(DaemonMuteProxy *proxy);
/* Stops the relay (its connections close). */
void daemon_mute_proxy_free(DaemonMuteProxy *proxy);

G_END_DECLS
