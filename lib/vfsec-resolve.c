/* vfsec-resolve.c: attachment → (PF, VF index) through the sysfs topology. */
#include "vfsec-resolve.h"

#include "vfsec-error.h"

VfsecVfInfo *
vfsec_attachment_resolve(const VfsecAttachment *att, VfsecTopology *topo, GError **error)
{
    if (att->has_pci)
        return vfsec_topology_lookup_vf(topo, &att->pci, error);

    if (att->source_dev)
        return vfsec_topology_lookup_netdev(topo, att->source_dev, error);

    if (att->kind == VFSEC_ATTACHMENT_INTERFACE_NETWORK) {
        /* A VF pool hands out the VF at start: only live XML names it. */
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    "network '%s' has not assigned a VF yet (known once the domain starts)",
                    att->network ? att->network : "?");
        return NULL;
    }

    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                "%s attachment names neither a PCI address nor a netdev",
                vfsec_attachment_kind_to_string(att->kind));
    return NULL;
}
