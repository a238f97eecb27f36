/* vfsec-plugin.c: the PF-plugin interface's common part — creation by kind,
 * dispatch to the implementation's operations, and event delivery. */
#include "vfsec-plugin.h"

#include "vfsec-error.h"

static const char *const event_names[VFSEC_PLUGIN_EVENT_LAST] = {
    [VFSEC_PLUGIN_EVENT_VF_RESET] = "vf-reset",
    [VFSEC_PLUGIN_EVENT_AGENT_RESET] = "agent-reset",
    [VFSEC_PLUGIN_EVENT_PORT_CHANGE] = "port-change",
    [VFSEC_PLUGIN_EVENT_DISCONNECTED] = "disconnected",
    [VFSEC_PLUGIN_EVENT_RECONNECTED] = "reconnected",
};

const char *
vfsec_plugin_event_to_string(VfsecPluginEvent event)
{
    if ((guint)event >= VFSEC_PLUGIN_EVENT_LAST)
        return NULL;
    return event_names[event];
}

VfsecPlugin *
vfsec_plugin_new(const VfsecConfPf *pf, const char *sysfs_root, GError **error)
{
    g_return_val_if_fail(pf != NULL, NULL);

    switch (pf->plugin) {
    case VFSEC_PLUGIN_CONTRACT:
        return vfsec_plugin_contract_new(pf, error);
    case VFSEC_PLUGIN_LINUX:
        return vfsec_plugin_linux_new(pf, sysfs_root, error);
    case VFSEC_PLUGIN_LAST:
        break;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "PF %s names an unknown plugin kind %d",
                pf->label, (int)pf->plugin);
    return NULL;
}

void
vfsec_plugin_free(VfsecPlugin *plugin)
{
    if (!plugin)
        return;
    /* The implementation frees the common part too: it knows its own size. */
    plugin->ops->free(plugin);
}

void
vfsec_plugin_set_event_func(VfsecPlugin *plugin, VfsecPluginEventFunc func, gpointer user_data)
{
    plugin->event_func = func;
    plugin->event_data = user_data;
}

void
vfsec_plugin_emit(VfsecPlugin *plugin, VfsecPluginEvent event, int vf, const char *detail)
{
    g_debug("PF %s: event %s (VF %d%s%s)", plugin->label, vfsec_plugin_event_to_string(event), vf,
            detail ? ", " : "", detail ? detail : "");
    if (plugin->event_func)
        plugin->event_func(plugin, event, vf, detail, plugin->event_data);
}

void
vfsec_plugin_start_async(VfsecPlugin *plugin, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    plugin->ops->start_async(plugin, cancellable, callback, user_data);
}

gboolean
vfsec_plugin_start_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return plugin->ops->start_finish(plugin, result, error);
}

void
vfsec_plugin_list_vfs_async(VfsecPlugin *plugin, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    plugin->ops->list_vfs_async(plugin, cancellable, callback, user_data);
}

GPtrArray *
vfsec_plugin_list_vfs_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return plugin->ops->list_vfs_finish(plugin, result, error);
}

void
vfsec_plugin_set_vf_async(VfsecPlugin *plugin, VfsecContractSetVfFields fields,
                          const VfsecContractVf *want, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
    plugin->ops->set_vf_async(plugin, fields, want, cancellable, callback, user_data);
}

VfsecContractVf *
vfsec_plugin_set_vf_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return plugin->ops->set_vf_finish(plugin, result, error);
}

void
vfsec_plugin_reclaim_vf_async(VfsecPlugin *plugin, guint vf, guint timeout_ms,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
    plugin->ops->reclaim_vf_async(plugin, vf, timeout_ms, cancellable, callback, user_data);
}

gboolean
vfsec_plugin_reclaim_vf_finish(VfsecPlugin *plugin, GAsyncResult *result,
                               VfsecContractReclaim *out, GError **error)
{
    return plugin->ops->reclaim_vf_finish(plugin, result, out, error);
}

void
vfsec_plugin_get_macs_async(VfsecPlugin *plugin, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    plugin->ops->get_macs_async(plugin, cancellable, callback, user_data);
}

VfsecContractMacTable *
vfsec_plugin_get_macs_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return plugin->ops->get_macs_finish(plugin, result, error);
}

void
vfsec_plugin_set_macs_async(VfsecPlugin *plugin, const VfsecContractMacTable *table,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    plugin->ops->set_macs_async(plugin, table, cancellable, callback, user_data);
}

gboolean
vfsec_plugin_set_macs_finish(VfsecPlugin *plugin, GAsyncResult *result, guint64 *generation,
                             GError **error)
{
    return plugin->ops->set_macs_finish(plugin, result, generation, error);
}

void
vfsec_plugin_set_switch_mode_async(VfsecPlugin *plugin, VfsecContractSwitchMode mode,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
    plugin->ops->set_switch_mode_async(plugin, mode, cancellable, callback, user_data);
}

gboolean
vfsec_plugin_set_switch_mode_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return plugin->ops->set_switch_mode_finish(plugin, result, error);
}

void
vfsec_plugin_base_init(VfsecPlugin *plugin, const VfsecPluginOps *ops, const char *label)
{
    plugin->ops = ops;
    plugin->label = g_strdup(label);
    plugin->port = vfsec_contract_port_new();
}

void
vfsec_plugin_base_clear(VfsecPlugin *plugin)
{
    g_clear_pointer(&plugin->label, g_free);
    g_clear_pointer(&plugin->port, vfsec_contract_port_free);
}

VfsecContractMacTable *
vfsec_plugin_mac_table_copy(const VfsecContractMacTable *table)
{
    VfsecContractMacTable *copy = vfsec_contract_mac_table_new(table->generation);

    for (guint i = 0; i < table->entries->len; i++) {
        const VfsecContractMacEntry *e = g_ptr_array_index(table->entries, i);
        VfsecContractMacEntry *c = vfsec_contract_mac_entry_new(&e->mac);

        for (guint t = 0; t < e->tags->len; t++) {
            const VfsecContractMacTag *tag = &g_array_index(e->tags, VfsecContractMacTag, t);

            vfsec_contract_mac_entry_add_tag(c, tag->tpid, tag->vid);
        }
        g_ptr_array_add(copy->entries, c);
    }
    return copy;
}
