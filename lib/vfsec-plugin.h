/* vfsec-plugin.h: the one interface every managed PF goes through.
 *
 * vfsecd's engine never speaks netlink, frames or the PF-driver contract
 * itself: each [pf LABEL] of vfsecd.conf becomes one VfsecPlugin, and the
 * engine calls these asynchronous operations on it. Two implementations:
 *   - "contract" (plugin/vfsec-plugin-contract.c): the PF-driver contract
 *     over a Unix socket (docs/pf-driver-contract.md) — a vendor PF driver,
 *     its companion daemon, or vfsec-nicsim. SA reclaim is the PF driver's
 *     SA → SAD-domain DB removing that VF's SAs.
 *   - "linux" (plugin/vfsec-plugin-linux.c): standard kernel interfaces for
 *     any SR-IOV NIC — rtnetlink VF attributes, IFLA_BRIDGE_MODE, reclaim by
 *     VF function-level reset through sysfs, local-MAC tables as files only.
 *
 * The value types are the PF-driver contract's (lib/vfsec-contract.h): the
 * contract is the model of a PF driver, and the linux plugin maps the kernel
 * onto the same shapes, so nothing is described twice.
 *
 * Every operation follows GIO's async pattern on the thread-default main
 * context of the caller at plugin creation: _async(..., cancellable,
 * callback, user_data) then _finish(plugin, result, ..., error). Operations
 * may run concurrently (different VFs in parallel); the plugin does not
 * serialize them — ordering per VF is the engine's job. */
#pragma once

#include <gio/gio.h>

#include "vfsec-conf.h"
#include "vfsec-contract.h"

G_BEGIN_DECLS

typedef struct _VfsecPlugin VfsecPlugin;

/* What a plugin tells its owner without being asked. @vf is -1 for
 * port-wide events. VFSEC_PLUGIN_EVENT_RECONNECTED: the PF driver was lost
 * and is back (state may have changed behind vfsecd's back: reconcile). */
typedef enum {
    VFSEC_PLUGIN_EVENT_VF_RESET,
    VFSEC_PLUGIN_EVENT_AGENT_RESET,
    VFSEC_PLUGIN_EVENT_PORT_CHANGE,
    VFSEC_PLUGIN_EVENT_DISCONNECTED,
    VFSEC_PLUGIN_EVENT_RECONNECTED,
    VFSEC_PLUGIN_EVENT_LAST
} VfsecPluginEvent;

const char *vfsec_plugin_event_to_string(VfsecPluginEvent event);

typedef void (*VfsecPluginEventFunc)(VfsecPlugin *plugin, VfsecPluginEvent event,
                                     int vf, const char *detail, gpointer user_data);

/* What a plugin can do, learnt at start (hello / driver probing). */
typedef struct {
    gboolean reclaims_sas;      /* contract: the PF DB removes SAs; linux: FLR clears them
                                 * only on drivers known to (see docs/plugins.md) */
    gboolean port_tag_8021ad;   /* an 802.1ad port tag is accepted */
    gboolean switch_mode;       /* VEB/VEPA can be set */
    gboolean local_macs;        /* the local-MAC table reaches the agent (else file only) */
    gboolean notifications;
} VfsecPluginCaps;

typedef struct {
    const char *kind;           /* "contract" | "linux" */

    void (*free)(VfsecPlugin *plugin);

    /* Connect / probe; fills caps and the port description. */
    void (*start_async)(VfsecPlugin *plugin, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data);
    gboolean (*start_finish)(VfsecPlugin *plugin, GAsyncResult *result, GError **error);

    /* Every VF of the port: VfsecContractVf*, ordered by index. */
    void (*list_vfs_async)(VfsecPlugin *plugin, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
    GPtrArray *(*list_vfs_finish)(VfsecPlugin *plugin, GAsyncResult *result, GError **error);

    /* Sets the @fields of @want (port tag, trust, spoofchk, MAC) on VF
     * want->vf and returns the state read back from the device. */
    void (*set_vf_async)(VfsecPlugin *plugin, VfsecContractSetVfFields fields,
                         const VfsecContractVf *want, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data);
    VfsecContractVf *(*set_vf_finish)(VfsecPlugin *plugin, GAsyncResult *result,
                                      GError **error);

    /* Removes every SA of the VF's SAD domain; completes only once the PF
     * driver confirmed, within @timeout_ms. */
    void (*reclaim_vf_async)(VfsecPlugin *plugin, guint vf, guint timeout_ms,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);
    gboolean (*reclaim_vf_finish)(VfsecPlugin *plugin, GAsyncResult *result,
                                  VfsecContractReclaim *out, GError **error);

    /* The port's local-MAC table (generation included). */
    void (*get_macs_async)(VfsecPlugin *plugin, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
    VfsecContractMacTable *(*get_macs_finish)(VfsecPlugin *plugin, GAsyncResult *result,
                                              GError **error);

    /* Replaces the table if the plugin's generation is still
     * table->generation; returns the new generation. */
    void (*set_macs_async)(VfsecPlugin *plugin, const VfsecContractMacTable *table,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data);
    gboolean (*set_macs_finish)(VfsecPlugin *plugin, GAsyncResult *result,
                                guint64 *generation, GError **error);

    void (*set_switch_mode_async)(VfsecPlugin *plugin, VfsecContractSwitchMode mode,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
    gboolean (*set_switch_mode_finish)(VfsecPlugin *plugin, GAsyncResult *result,
                                       GError **error);
} VfsecPluginOps;

/* The common part of every plugin; implementations embed it first. */
struct _VfsecPlugin {
    const VfsecPluginOps *ops;
    char *label;                /* the [pf LABEL] it serves */
    VfsecPluginCaps caps;       /* valid after start */
    VfsecContractPort *port;    /* valid after start: PF PCI, netdev, MAC, num VFs */
    VfsecPluginEventFunc event_func;
    gpointer event_data;
};

/* Creates the plugin that @pf names (not started). @sysfs_root: NULL for /sys. */
VfsecPlugin *vfsec_plugin_new(const VfsecConfPf *pf, const char *sysfs_root, GError **error);
void vfsec_plugin_free(VfsecPlugin *plugin);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecPlugin, vfsec_plugin_free)

void vfsec_plugin_set_event_func(VfsecPlugin *plugin, VfsecPluginEventFunc func,
                                 gpointer user_data);
/* For implementations: deliver an event to the owner. */
void vfsec_plugin_emit(VfsecPlugin *plugin, VfsecPluginEvent event, int vf, const char *detail);

/* Thin dispatchers over plugin->ops, so callers read naturally. */
void vfsec_plugin_start_async(VfsecPlugin *plugin, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_plugin_start_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error);
void vfsec_plugin_list_vfs_async(VfsecPlugin *plugin, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *vfsec_plugin_list_vfs_finish(VfsecPlugin *plugin, GAsyncResult *result,
                                        GError **error);
void vfsec_plugin_set_vf_async(VfsecPlugin *plugin, VfsecContractSetVfFields fields,
                               const VfsecContractVf *want, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
VfsecContractVf *vfsec_plugin_set_vf_finish(VfsecPlugin *plugin, GAsyncResult *result,
                                            GError **error);
void vfsec_plugin_reclaim_vf_async(VfsecPlugin *plugin, guint vf, guint timeout_ms,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean vfsec_plugin_reclaim_vf_finish(VfsecPlugin *plugin, GAsyncResult *result,
                                        VfsecContractReclaim *out, GError **error);
void vfsec_plugin_get_macs_async(VfsecPlugin *plugin, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
VfsecContractMacTable *vfsec_plugin_get_macs_finish(VfsecPlugin *plugin, GAsyncResult *result,
                                                    GError **error);
void vfsec_plugin_set_macs_async(VfsecPlugin *plugin, const VfsecContractMacTable *table,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean vfsec_plugin_set_macs_finish(VfsecPlugin *plugin, GAsyncResult *result,
                                      guint64 *generation, GError **error);
void vfsec_plugin_set_switch_mode_async(VfsecPlugin *plugin, VfsecContractSwitchMode mode,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_plugin_set_switch_mode_finish(VfsecPlugin *plugin, GAsyncResult *result,
                                             GError **error);

/* For implementations: fill the common part (@ops, a copy of @label, an
 * empty port) / free what it holds, not the struct itself. */
void vfsec_plugin_base_init(VfsecPlugin *plugin, const VfsecPluginOps *ops, const char *label);
void vfsec_plugin_base_clear(VfsecPlugin *plugin);
/* A deep copy of @table (caller frees). */
VfsecContractMacTable *vfsec_plugin_mac_table_copy(const VfsecContractMacTable *table);

/* Implementation constructors (plugin/). */
VfsecPlugin *vfsec_plugin_contract_new(const VfsecConfPf *pf, GError **error);
VfsecPlugin *vfsec_plugin_linux_new(const VfsecConfPf *pf, const char *sysfs_root,
                                    GError **error);

/* The linux plugin's kernel seam, for tests: every netlink request it makes
 * (built with lib/vfsec-netlink.h's builders) goes through @func instead of a
 * NETLINK_ROUTE socket, with vfsec_netlink_transact()'s contract: replies to
 * @reply_func (a VfsecNetlinkReplyFunc), return 0 or -errno. Set before
 * start; the plugin then opens no socket. */
struct nlmsghdr;
typedef int (*VfsecPluginLinuxReplyFunc)(const struct nlmsghdr *nlh, gsize len,
                                         gpointer reply_data);
typedef int (*VfsecPluginLinuxTransactFunc)(struct nlmsghdr *nlh,
                                            VfsecPluginLinuxReplyFunc reply_func,
                                            gpointer reply_data, gpointer user_data);
void vfsec_plugin_linux_set_transact(VfsecPlugin *plugin, VfsecPluginLinuxTransactFunc func,
                                     gpointer user_data);

G_END_DECLS
