/* vfsec-json.c: JSON forms of attachments (the inspect-domain contract). */
#include "vfsec-json.h"

static void
vfsec_json_add_string_or_null(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void
vfsec_json_add_resolved(JsonBuilder *b, gboolean requested,
                        const VfsecVfInfo *resolved, const GError *resolve_error)
{
    json_builder_set_member_name(b, "resolved");
    if (!requested) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    if (resolved) {
        char pf_pci[VFSEC_PCI_ADDR_STRLEN];
        char vf_pci[VFSEC_PCI_ADDR_STRLEN];

        vfsec_json_add_string_or_null(b, "pf", resolved->pf_netdev);
        json_builder_set_member_name(b, "vf");
        json_builder_add_int_value(b, resolved->vf_index);
        vfsec_json_add_string_or_null(b, "vf_netdev", resolved->vf_netdev);
        vfsec_json_add_string_or_null(b, "pf_pci", vfsec_pci_addr_format(&resolved->pf_pci, pf_pci));
        vfsec_json_add_string_or_null(b, "vf_pci", vfsec_pci_addr_format(&resolved->vf_pci, vf_pci));
        vfsec_json_add_string_or_null(b, "pf_driver", resolved->pf_driver);
        vfsec_json_add_string_or_null(b, "vf_driver", resolved->vf_driver);
    } else {
        vfsec_json_add_string_or_null(b, "error",
                                      resolve_error ? resolve_error->message : "not resolved");
    }
    json_builder_end_object(b);
}

JsonNode *
vfsec_attachment_to_json(const VfsecAttachment *att,
                         gboolean resolve_requested,
                         const VfsecVfInfo *resolved,
                         const GError *resolve_error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    char pci[VFSEC_PCI_ADDR_STRLEN];
    char mac[VFSEC_MAC_STRLEN];

    json_builder_begin_object(b);
    vfsec_json_add_string_or_null(b, "kind", vfsec_attachment_kind_to_string(att->kind));
    vfsec_json_add_string_or_null(b, "pci", att->has_pci ? vfsec_pci_addr_format(&att->pci, pci) : NULL);
    vfsec_json_add_string_or_null(b, "mac", att->has_mac ? vfsec_mac_format(&att->mac, mac) : NULL);

    json_builder_set_member_name(b, "vlans");
    json_builder_begin_array(b);
    for (guint i = 0; att->vlans && i < att->vlans->len; i++)
        json_builder_add_int_value(b, g_array_index(att->vlans, guint16, i));
    json_builder_end_array(b);

    json_builder_set_member_name(b, "trunk");
    json_builder_add_boolean_value(b, att->trunk);
    json_builder_set_member_name(b, "native_vlan");
    if (att->native_vlan >= 0)
        json_builder_add_int_value(b, att->native_vlan);
    else
        json_builder_add_null_value(b);
    vfsec_json_add_string_or_null(b, "native_mode", vfsec_native_mode_to_string(att->native_mode));

    vfsec_json_add_string_or_null(b, "source_dev",
                                  att->kind == VFSEC_ATTACHMENT_INTERFACE_DIRECT ||
                                  att->from_actual ? att->source_dev : NULL);
    vfsec_json_add_string_or_null(b, "mode",
                                  att->kind == VFSEC_ATTACHMENT_INTERFACE_DIRECT ? att->mode : NULL);
    vfsec_json_add_string_or_null(b, "network",
                                  att->kind == VFSEC_ATTACHMENT_INTERFACE_NETWORK ? att->network : NULL);
    vfsec_json_add_string_or_null(b, "portgroup", att->portgroup);

    json_builder_set_member_name(b, "managed");
    if (att->managed == VFSEC_TRISTATE_ABSENT)
        json_builder_add_null_value(b);
    else
        json_builder_add_boolean_value(b, att->managed == VFSEC_TRISTATE_YES);

    vfsec_json_add_string_or_null(b, "driver", att->driver_name);
    vfsec_json_add_string_or_null(b, "alias", att->alias);
    json_builder_set_member_name(b, "from_actual");
    json_builder_add_boolean_value(b, att->from_actual);

    json_builder_set_member_name(b, "teaming");
    if (att->teaming == VFSEC_TEAMING_NONE) {
        json_builder_add_null_value(b);
    } else {
        json_builder_begin_object(b);
        vfsec_json_add_string_or_null(b, "type", vfsec_teaming_to_string(att->teaming));
        vfsec_json_add_string_or_null(b, "persistent", att->teaming_persistent);
        json_builder_end_object(b);
    }

    json_builder_set_member_name(b, "policy");
    json_builder_begin_object(b);
    vfsec_json_add_string_or_null(b, "trust", vfsec_trust_to_string(att->policy.trust));
    json_builder_set_member_name(b, "hairpin");
    json_builder_add_boolean_value(b, att->policy.hairpin);
    json_builder_end_object(b);

    vfsec_json_add_resolved(b, resolve_requested, resolved, resolve_error);
    json_builder_end_object(b);

    return json_builder_get_root(b);
}

char *
vfsec_json_to_string(JsonNode *node, gboolean pretty)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, pretty);
    json_generator_set_indent(gen, 2);
    return json_generator_to_data(gen, NULL);
}
