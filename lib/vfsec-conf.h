/* vfsec-conf.h: vfsecd's configuration file (<sysconfdir>/vfsec/vfsecd.conf, a
 * GKeyFile) as one validated, immutable object, and host policy resolution. */
#pragma once

#include <glib.h>

#include "vfsec-domain.h"

G_BEGIN_DECLS

/* Bound on the configuration file: anything larger is a mistake, not a config. */
#define VFSEC_CONF_MAX (1024 * 1024)

/* Timeouts are milliseconds from 1 to this (ten minutes). */
#define VFSEC_CONF_TIMEOUT_MAX 600000

/* PF labels name files (journal, local-MAC tables) and appear in messages:
 * 1 to 32 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
#define VFSEC_CONF_LABEL_MAX 32

/* Defaults (docs/configuration.md lists every key). */
#define VFSEC_CONF_DEFAULT_LIBVIRT_URI "qemu:///system"
#define VFSEC_CONF_DEFAULT_PF_RECLAIM_MS 2000
#define VFSEC_CONF_DEFAULT_DAEMON_REQUEST_MS 5000
#define VFSEC_CONF_DEFAULT_HOOK_MS 10000
#define VFSEC_CONF_DEFAULT_RECONNECT_MIN_MS 500
#define VFSEC_CONF_DEFAULT_RECONNECT_MAX_MS 30000
#define VFSEC_CONF_DEFAULT_CONFIG_VID 4094
#define VFSEC_CONF_DEFAULT_METADATA_VID 4092

#define VFSEC_TPID_8021Q 0x8100
#define VFSEC_TPID_8021AD 0x88a8

/* The index of @str in the to-string table @names of an enum with @n
 * members, or -1 (NULL @str included): the from-string half of every table
 * of the daemon's units. */
int vfsec_name_index(const char *const *names, int n, const char *str);

/* "802.1Q" / "802.1ad"; NULL for any other value. */
const char *vfsec_tpid_to_string(guint16 tpid);
/* Accepts exactly "802.1Q" or "802.1ad". */
gboolean vfsec_tpid_from_string(const char *str, guint16 *tpid);

typedef enum {
    VFSEC_PLUGIN_CONTRACT,  /* the PF-driver contract over a Unix socket */
    VFSEC_PLUGIN_LINUX,     /* rtnetlink + sysfs on a kernel PF driver */
    VFSEC_PLUGIN_LAST
} VfsecPluginKind;

/* "contract" / "linux". */
const char *vfsec_plugin_kind_to_string(VfsecPluginKind kind);
/* Returns -1 for an unknown string. */
int vfsec_plugin_kind_from_string(const char *str);

typedef enum {
    VFSEC_LOG_LEVEL_ERROR,
    VFSEC_LOG_LEVEL_WARNING,
    VFSEC_LOG_LEVEL_MESSAGE,
    VFSEC_LOG_LEVEL_INFO,
    VFSEC_LOG_LEVEL_DEBUG,
    VFSEC_LOG_LEVEL_LAST
} VfsecLogLevel;

/* "error", "warning", "message", "info", "debug". */
const char *vfsec_log_level_to_string(VfsecLogLevel level);
/* Returns -1 for an unknown string. */
int vfsec_log_level_from_string(const char *str);

/* Checks a PF label (see VFSEC_CONF_LABEL_MAX); @error names it. */
gboolean vfsec_conf_label_check(const char *label, GError **error);

/* One [pf LABEL] group: a port that vfsecd manages. */
typedef struct {
    char *label;
    VfsecPluginKind plugin;
    char *socket;           /* contract: the PF driver's Unix socket; else NULL */
    guint port;             /* contract: the port number on that socket */
    char *netdev;           /* linux: the PF netdev; else NULL */
    gboolean hairpin;       /* put the port in VEPA mode and publish its local MACs */
    gboolean fail_closed;   /* refuse a start when this PF's driver cannot act */
    VfsecPolicy policy;     /* vf-trust / vf-hairpin: defaults for its VFs (partial) */
} VfsecConfPf;

/* One [policy network:NAME] or [policy network:NAME portgroup:PG] group. */
typedef struct {
    char *network;
    char *portgroup;        /* NULL for the network-wide group */
    VfsecPolicy policy;     /* partial */
} VfsecConfScope;

typedef struct {
    /* [daemon] */
    char *libvirt_uri;
    char *control_socket;
    char *control_group;    /* NULL: root only */
    char *state_dir;        /* the journal */
    char *run_dir;
    char *local_macs_dir;   /* derived: <run_dir>/local-macs */
    VfsecLogLevel log_level;

    /* [timeouts], milliseconds: pf_reclaim < daemon_request < hook */
    guint pf_reclaim_ms;
    guint daemon_request_ms;
    guint hook_ms;
    guint reconnect_min_ms;
    guint reconnect_max_ms;

    /* [tags] */
    guint16 config_vid;
    guint16 metadata_vid;   /* even: metadata_vid | 1 carries the offload bit */
    guint16 tpid;           /* VFSEC_TPID_8021Q or VFSEC_TPID_8021AD */
    guint8 pcp;

    /* [policy] and its network/portgroup groups */
    VfsecPolicy policy;     /* partial */
    GPtrArray *scopes;      /* VfsecConfScope*, file order */

    GPtrArray *pfs;         /* VfsecConfPf*, file order, at least one */

    /* [hook] */
    gboolean hook_fail_closed;
} VfsecConf;

/* <sysconfdir>/vfsec/vfsecd.conf. Returns a new string. */
char *vfsec_conf_default_path(void);

/* Parses and validates a whole configuration. Unknown groups and keys,
 * duplicated groups or keys and every out-of-range or inconsistent value are
 * errors naming "[group] key". Always builds a new object, so a reload
 * (SIGHUP) swaps to it only on success and keeps the old one otherwise.
 * Returns a new VfsecConf, or NULL with @error set. */
VfsecConf *vfsec_conf_load_data(const char *data, gsize len, GError **error);
/* As above from a regular file of at most VFSEC_CONF_MAX bytes; errors are
 * prefixed with @path. */
VfsecConf *vfsec_conf_load(const char *path, GError **error);
/* Reads @path once and parses it into two independent objects (the returned
 * one and *@copy), for two owners that must agree on one version of the
 * file even if it changes between reads. */
VfsecConf *vfsec_conf_load_twice(const char *path, VfsecConf **copy, GError **error);
void vfsec_conf_free(VfsecConf *conf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecConf, vfsec_conf_free)

/* The [pf LABEL] group, or NULL. Borrowed from @conf. */
const VfsecConfPf *vfsec_conf_find_pf(const VfsecConf *conf, const char *label);

/* The effective policy of one VF, every field set. Layers, most specific
 * first: @domain_policy (the domain's <vfsec:policy> with the interface's
 * override, as written: pass a partial policy, never one that already holds
 * the built-in defaults), [policy network:N portgroup:P], [policy network:N],
 * the PF's vf-trust/vf-hairpin, [policy], then the built-in defaults
 * (untrusted, hairpin on). Any of @pf_label, @network, @portgroup and
 * @domain_policy may be NULL; @portgroup without @network is ignored. */
VfsecPolicy vfsec_conf_policy_for(const VfsecConf *conf, const char *pf_label,
                                  const char *network, const char *portgroup,
                                  const VfsecPolicy *domain_policy);

/* TRUE when @vid is one of the agent's reserved VIDs (the configuration VID,
 * the metadata VID or its offload twin), which no VF may use as its VLAN. */
gboolean vfsec_conf_vid_reserved(const VfsecConf *conf, guint vid);

G_END_DECLS
