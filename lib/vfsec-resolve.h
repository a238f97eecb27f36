/* vfsec-resolve.h: which VF of which PF an attachment uses, from sysfs. */
#pragma once

#include "vfsec-domain.h"
#include "vfsec-topology.h"

G_BEGIN_DECLS

/* Resolves @att to its VF: hostdevs by PCI address, direct interfaces by
 * their source netdev, network interfaces by the VF that <actual> names.
 * Returns a new VfsecVfInfo, or NULL with @error saying why this attachment
 * does not (yet) name a VF. */
VfsecVfInfo *vfsec_attachment_resolve(const VfsecAttachment *att, VfsecTopology *topo,
                                      GError **error);

G_END_DECLS
