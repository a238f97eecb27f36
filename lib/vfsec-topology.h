/* vfsec-topology.h: SR-IOV topology read from sysfs. The sysfs root is a
 * parameter so tests run over fake trees in tests/data/sysfs/. */
#pragma once

#include <glib.h>

#include "vfsec-addr.h"

G_BEGIN_DECLS

typedef struct {
    VfsecPciAddr vf_pci;
    VfsecPciAddr pf_pci;
    char *pf_netdev;        /* NULL when the PF has no netdev (unbound) */
    char *pf_driver;        /* e.g. "i40e" */
    guint vf_index;         /* N of the PF's virtfnN link */
    char *vf_netdev;        /* NULL when not bound to a network driver */
    char *vf_driver;        /* e.g. "iavf", "vfio-pci"; NULL when unbound */
} VfsecVfInfo;

void vfsec_vf_info_free(VfsecVfInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecVfInfo, vfsec_vf_info_free)

/* The PF's netdev, for callers that must program the VF through it (VLAN,
 * trust, MAC via the PF's netlink): fails with VFSEC_ERROR_NOT_FOUND when the
 * PF has none (e.g. bound to vfio-pci). Owned by @info. */
const char *vfsec_vf_info_require_pf_netdev(const VfsecVfInfo *info, GError **error);

typedef struct {
    VfsecPciAddr pci;
    char *netdev;           /* NULL when no network driver is bound */
    char *driver;
    guint numvfs;           /* sriov_numvfs */
    guint totalvfs;         /* sriov_totalvfs */
    GPtrArray *vfs;         /* VfsecVfInfo*, ordered by VF index */
} VfsecPfInfo;

void vfsec_pf_info_free(VfsecPfInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecPfInfo, vfsec_pf_info_free)

typedef struct _VfsecTopology VfsecTopology;

/* @sysfs_root NULL means "/sys"; a relative root is made absolute at once.
 * Symlinks are resolved inside the root (absolute targets count from it) and
 * never lead out of it. */
VfsecTopology *vfsec_topology_new(const char *sysfs_root);
void vfsec_topology_free(VfsecTopology *topo);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecTopology, vfsec_topology_free)

/* The absolute root, owned by @topo. */
const char *vfsec_topology_root(const VfsecTopology *topo);

/* A VF by its PCI address: fails with VFSEC_ERROR_NOT_FOUND when the device
 * does not exist and VFSEC_ERROR_INVALID when it exists but is not a VF. */
VfsecVfInfo *vfsec_topology_lookup_vf(VfsecTopology *topo, const VfsecPciAddr *vf,
                                      GError **error);
/* Reverse lookup: the VF whose network interface is @netdev. */
VfsecVfInfo *vfsec_topology_lookup_netdev(VfsecTopology *topo, const char *netdev,
                                          GError **error);
/* A PF by netdev name or by PCI address string, with all its VFs.
 * Each lookup returns a new object the caller frees, or NULL with @error set. */
VfsecPfInfo *vfsec_topology_lookup_pf(VfsecTopology *topo, const char *pf, GError **error);

G_END_DECLS
