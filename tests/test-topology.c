/* test-topology.c: SR-IOV topology lookups over the fake sysfs trees in tests/data/sysfs/. */
#include <glib.h>
#include <glib/gstdio.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfsec-error.h"
#include "vfsec-topology.h"

static char *
tree_path(const char *tree)
{
    return g_build_filename(g_getenv("VFSEC_TEST_DATA"), "sysfs", tree, NULL);
}

static VfsecTopology *
tree_open(const char *tree)
{
    g_autofree char *root = tree_path(tree);

    return vfsec_topology_new(root);
}

static void
assert_pci(const VfsecPciAddr *addr, const char *expect)
{
    char buf[VFSEC_PCI_ADDR_STRLEN];

    g_assert_cmpstr(vfsec_pci_addr_format(addr, buf), ==, expect);
}

/* ---- every VF of every tree, by PCI address and by netdev ---- */

typedef struct {
    const char *tree;
    const char *vf_pci;
    const char *vf_netdev;   /* NULL: not bound to a network driver */
    const char *vf_driver;   /* NULL: unbound */
    guint vf_index;
    const char *pf_pci;
    const char *pf_netdev;
    const char *pf_driver;
} VfCase;

static const VfCase vf_cases[] = {
    { "i40e", "0000:3b:02.0", "ens1f0v0", "iavf", 0, "0000:3b:00.0", "ens1f0", "i40e" },
    { "i40e", "0000:3b:02.1", "ens1f0v1", "iavf", 1, "0000:3b:00.0", "ens1f0", "i40e" },
    { "i40e", "0000:3b:02.2", "ens1f0v2", "iavf", 2, "0000:3b:00.0", "ens1f0", "i40e" },
    { "i40e", "0000:3b:02.3", NULL, "vfio-pci", 3, "0000:3b:00.0", "ens1f0", "i40e" },
    { "ice", "0000:af:01.0", "ens2f0v0", "iavf", 0, "0000:af:00.0", "ens2f0", "ice" },
    { "ice", "0000:af:01.1", "ens2f0v1", "iavf", 1, "0000:af:00.0", "ens2f0", "ice" },
    { "ice", "0000:af:01.2", NULL, NULL, 2, "0000:af:00.0", "ens2f0", "ice" },
    { "ixgbe", "0000:04:10.0", "enp4s16", "ixgbevf", 0, "0000:04:00.0", "enp4s0f0", "ixgbe" },
    { "ixgbe", "0000:04:10.2", "enp4s16f2", "ixgbevf", 1, "0000:04:00.0", "enp4s0f0", "ixgbe" },
    { "ixgbe", "0000:04:10.1", NULL, "vfio-pci", 0, "0000:04:00.1", NULL, "vfio-pci" },
    { "igb", "0000:01:10.0", "enp1s16", "igbvf", 0, "0000:01:00.0", "enp1s0", "igb" },
    { "igb", "0000:01:10.2", "enp1s16f2", "igbvf", 1, "0000:01:00.0", "enp1s0", "igb" },
    /* Reached through absolute links, which count from the sysfs root. */
    { "broken", "0000:08:10.0", "enp8s16", "ixgbevf", 0, "0000:08:00.0", "enp8s0f0", "ixgbe" },
};

static void
assert_vf(const VfsecVfInfo *info, const VfCase *c)
{
    assert_pci(&info->vf_pci, c->vf_pci);
    assert_pci(&info->pf_pci, c->pf_pci);
    g_assert_cmpstr(info->vf_netdev, ==, c->vf_netdev);
    g_assert_cmpstr(info->vf_driver, ==, c->vf_driver);
    g_assert_cmpuint(info->vf_index, ==, c->vf_index);
    g_assert_cmpstr(info->pf_netdev, ==, c->pf_netdev);
    g_assert_cmpstr(info->pf_driver, ==, c->pf_driver);
}

static void
test_vf_lookup(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(vf_cases); i++) {
        const VfCase *c = &vf_cases[i];
        g_autoptr(VfsecTopology) topo = tree_open(c->tree);
        g_autoptr(VfsecVfInfo) by_pci = NULL;
        g_autoptr(GError) error = NULL;
        VfsecPciAddr addr;

        g_test_message("%s %s", c->tree, c->vf_pci);
        g_assert_true(vfsec_pci_addr_parse(c->vf_pci, &addr, NULL));
        by_pci = vfsec_topology_lookup_vf(topo, &addr, &error);
        g_assert_no_error(error);
        g_assert_nonnull(by_pci);
        assert_vf(by_pci, c);

        if (c->vf_netdev) {
            g_autoptr(VfsecVfInfo) by_netdev = vfsec_topology_lookup_netdev(topo, c->vf_netdev,
                                                                           &error);
            g_assert_no_error(error);
            g_assert_nonnull(by_netdev);
            assert_vf(by_netdev, c);
        }
    }
}

/* ---- PFs, by netdev and by PCI address ---- */

typedef struct {
    const char *tree;
    const char *query;
    const char *pci;
    const char *netdev;
    const char *driver;
    guint numvfs;
    guint totalvfs;
    const char *vfs[5];   /* PCI addresses by VF index, NULL-terminated */
} PfCase;

static const PfCase pf_cases[] = {
    { "i40e", "ens1f0", "0000:3b:00.0", "ens1f0", "i40e", 4, 64,
      { "0000:3b:02.0", "0000:3b:02.1", "0000:3b:02.2", "0000:3b:02.3", NULL } },
    { "i40e", "0000:3b:00.0", "0000:3b:00.0", "ens1f0", "i40e", 4, 64,
      { "0000:3b:02.0", "0000:3b:02.1", "0000:3b:02.2", "0000:3b:02.3", NULL } },
    /* VFs disabled. */
    { "i40e", "ens1f1", "0000:3b:00.1", "ens1f1", "i40e", 0, 64, { NULL } },
    { "i40e", "0000:3b:00.1", "0000:3b:00.1", "ens1f1", "i40e", 0, 64, { NULL } },
    { "ice", "ens2f0", "0000:af:00.0", "ens2f0", "ice", 3, 128,
      { "0000:af:01.0", "0000:af:01.1", "0000:af:01.2", NULL } },
    { "ixgbe", "enp4s0f0", "0000:04:00.0", "enp4s0f0", "ixgbe", 2, 63,
      { "0000:04:10.0", "0000:04:10.2", NULL } },
    /* A PF owned by vfio-pci: no netdev, still a PF with VFs. */
    { "ixgbe", "0000:04:00.1", "0000:04:00.1", NULL, "vfio-pci", 1, 63,
      { "0000:04:10.1", NULL } },
    { "igb", "enp1s0", "0000:01:00.0", "enp1s0", "igb", 2, 7,
      { "0000:01:10.0", "0000:01:10.2", NULL } },
    { "igb", "0000:01:00.0", "0000:01:00.0", "enp1s0", "igb", 2, 7,
      { "0000:01:10.0", "0000:01:10.2", NULL } },
    { "broken", "0000:08:00.0", "0000:08:00.0", "enp8s0f0", "ixgbe", 1, 63,
      { "0000:08:10.0", NULL } },
};

static void
test_pf_lookup(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(pf_cases); i++) {
        const PfCase *c = &pf_cases[i];
        g_autoptr(VfsecTopology) topo = tree_open(c->tree);
        g_autoptr(VfsecPfInfo) pf = NULL;
        g_autoptr(GError) error = NULL;

        g_test_message("%s %s", c->tree, c->query);
        pf = vfsec_topology_lookup_pf(topo, c->query, &error);
        g_assert_no_error(error);
        g_assert_nonnull(pf);
        assert_pci(&pf->pci, c->pci);
        g_assert_cmpstr(pf->netdev, ==, c->netdev);
        g_assert_cmpstr(pf->driver, ==, c->driver);
        g_assert_cmpuint(pf->numvfs, ==, c->numvfs);
        g_assert_cmpuint(pf->totalvfs, ==, c->totalvfs);
        g_assert_cmpuint(pf->vfs->len, ==, g_strv_length((char **)c->vfs));

        /* Each listed VF is exactly what a lookup of that VF returns. */
        for (guint n = 0; n < pf->vfs->len; n++) {
            const VfsecVfInfo *vf = g_ptr_array_index(pf->vfs, n);
            g_autoptr(VfsecVfInfo) alone = vfsec_topology_lookup_vf(topo, &vf->vf_pci, &error);

            g_assert_no_error(error);
            assert_pci(&vf->vf_pci, c->vfs[n]);
            g_assert_cmpuint(vf->vf_index, ==, n);
            assert_pci(&vf->pf_pci, c->pci);
            g_assert_cmpstr(vf->pf_netdev, ==, c->netdev);
            g_assert_cmpstr(vf->pf_driver, ==, c->driver);
            g_assert_cmpuint(alone->vf_index, ==, vf->vf_index);
            g_assert_cmpstr(alone->vf_netdev, ==, vf->vf_netdev);
            g_assert_cmpstr(alone->vf_driver, ==, vf->vf_driver);
        }
    }
}

/* ---- errors ---- */

typedef enum {
    BY_VF_PCI,
    BY_VF_NETDEV,
    BY_PF,
} LookupKind;

typedef struct {
    const char *tree;
    LookupKind kind;
    const char *query;
    VfsecErrorCode code;
    const char *message;   /* a substring of the error message */
} ErrorCase;

static const ErrorCase error_cases[] = {
    /* Not found. */
    { "i40e", BY_VF_PCI, "0000:3b:07.0", VFSEC_ERROR_NOT_FOUND,
      "PCI device 0000:3b:07.0 not found under " },
    { "i40e", BY_VF_PCI, "0000:3b:0a.0", VFSEC_ERROR_NOT_FOUND,   /* VF of disabled PF1 */
      "PCI device 0000:3b:0a.0 not found" },
    { "i40e", BY_VF_NETDEV, "eth9", VFSEC_ERROR_NOT_FOUND, "network interface eth9 not found" },
    { "i40e", BY_PF, "eth9", VFSEC_ERROR_NOT_FOUND, "network interface eth9 not found" },
    { "i40e", BY_PF, "0000:3b:07.0", VFSEC_ERROR_NOT_FOUND, "PCI device 0000:3b:07.0 not found" },
    /* Not a VF. */
    { "i40e", BY_VF_PCI, "0000:3b:00.0", VFSEC_ERROR_INVALID,
      "PCI device 0000:3b:00.0 is not a VF (it has no physfn link)" },
    { "i40e", BY_VF_NETDEV, "ens1f0", VFSEC_ERROR_INVALID,
      "network interface ens1f0 (PCI device 0000:3b:00.0) is not a VF" },
    { "i40e", BY_VF_NETDEV, "virbr0", VFSEC_ERROR_INVALID, "network interface virbr0 has no device" },
    { "i40e", BY_VF_NETDEV, "lo", VFSEC_ERROR_INVALID, "network interface lo has no device" },
    { "ice", BY_VF_NETDEV, "eno1", VFSEC_ERROR_INVALID,
      "network interface eno1 (PCI device 0000:00:1f.6) is not a VF" },
    { "igb", BY_VF_NETDEV, "enp0s3", VFSEC_ERROR_INVALID,
      "network interface enp0s3 is on virtio0, which is not a PCI device" },
    /* Not a PF. */
    { "i40e", BY_PF, "virbr0", VFSEC_ERROR_INVALID, "network interface virbr0 has no device" },
    { "i40e", BY_PF, "0000:3b:02.0", VFSEC_ERROR_INVALID,
      "PCI device 0000:3b:02.0 is a VF, not an SR-IOV PF" },
    { "i40e", BY_PF, "ens1f0v0", VFSEC_ERROR_INVALID,
      "network interface ens1f0v0 (PCI device 0000:3b:02.0) is a VF" },
    { "ice", BY_PF, "eno1", VFSEC_ERROR_INVALID,
      "network interface eno1 (PCI device 0000:00:1f.6) is not an SR-IOV PF" },
    { "igb", BY_PF, "enp0s3", VFSEC_ERROR_INVALID, "on virtio0, which is not a PCI device" },
    /* Names that cannot be interfaces never reach the file system. */
    { "i40e", BY_VF_NETDEV, "../../bus", VFSEC_ERROR_INVALID,
      "'../../bus' is not a network interface name" },
    { "i40e", BY_VF_NETDEV, "..", VFSEC_ERROR_INVALID, "is not a network interface name" },
    { "i40e", BY_VF_NETDEV, "", VFSEC_ERROR_INVALID, "is not a network interface name" },
    { "i40e", BY_VF_NETDEV, "ens1f0v0-longer1", VFSEC_ERROR_INVALID,
      "is not a network interface name" },
    { "i40e", BY_PF, "ens 1", VFSEC_ERROR_INVALID, "is not a network interface name" },
    /* Broken trees. */
    { "broken", BY_PF, "0000:05:00.0", VFSEC_ERROR_INVALID,
      "sriov_numvfs of PCI device 0000:05:00.0 is not a VF count: 'four'" },
    { "broken", BY_PF, "ens5f0", VFSEC_ERROR_INVALID,
      "sriov_numvfs of network interface ens5f0 (PCI device 0000:05:00.0) is not a VF count" },
    { "broken", BY_VF_PCI, "0000:05:02.0", VFSEC_ERROR_INVALID,
      "sriov_numvfs of PCI device 0000:05:00.0 is not a VF count: 'four'" },
    { "broken", BY_VF_NETDEV, "ens5f0v0", VFSEC_ERROR_INVALID,
      "sriov_numvfs of PCI device 0000:05:00.0 is not a VF count" },
    { "broken", BY_VF_PCI, "0000:06:02.0", VFSEC_ERROR_INVALID,
      "physfn link of PCI device 0000:06:02.0 points outside the sysfs root " },
    { "broken", BY_VF_PCI, "0000:07:00.0", VFSEC_ERROR_INVALID,
      "bus/pci/devices link of PCI device 0000:07:00.0 points outside the sysfs root " },
    { "broken", BY_PF, "0000:07:00.0", VFSEC_ERROR_INVALID, "points outside the sysfs root" },
    { "broken", BY_VF_PCI, "0000:09:02.0", VFSEC_ERROR_INVALID,
      "physfn link of PCI device 0000:09:02.0 is dangling" },
    { "broken", BY_VF_PCI, "0000:0a:00.0", VFSEC_ERROR_INVALID,
      "bus/pci/devices link of PCI device 0000:0a:00.0 is a symlink loop" },
    { "broken", BY_VF_PCI, "0000:0b:02.1", VFSEC_ERROR_INVALID,
      "PF 0000:0b:00.0 lists no virtfn link to PCI device 0000:0b:02.1" },
    { "broken", BY_PF, "0000:0c:00.0", VFSEC_ERROR_INVALID,
      "PCI device 0000:0c:00.0 has sriov_numvfs 9 above its sriov_totalvfs 7" },
    { "broken", BY_PF, "0000:0d:00.0", VFSEC_ERROR_TOO_LARGE,
      "sriov_totalvfs of PCI device 0000:0d:00.0 is larger than 4096 bytes" },
    { "broken", BY_PF, "0000:0e:00.0", VFSEC_ERROR_INVALID,
      "virtfn1 link of PCI device 0000:0e:00.0 is missing" },
    { "broken", BY_PF, "0000:0f:00.0", VFSEC_ERROR_INVALID,
      "PCI device 0000:0f:00.0 has a virtfn0 link beyond its sriov_numvfs 0" },
    { "broken", BY_VF_PCI, "0000:0f:02.0", VFSEC_ERROR_INVALID,
      "PF 0000:0f:00.0 lists no virtfn link to PCI device 0000:0f:02.0" },
    { "broken", BY_VF_NETDEV, "escape0", VFSEC_ERROR_INVALID,
      "device link of network interface escape0 points outside the sysfs root" },
    { "broken", BY_VF_NETDEV, "gone0", VFSEC_ERROR_INVALID,
      "class/net link of network interface gone0 is dangling" },
};

static gboolean
run_lookup(VfsecTopology *topo, LookupKind kind, const char *query, GError **error)
{
    VfsecPciAddr addr;

    switch (kind) {
    case BY_VF_PCI: {
        g_autoptr(VfsecVfInfo) vf = NULL;
        g_assert_true(vfsec_pci_addr_parse(query, &addr, NULL));
        vf = vfsec_topology_lookup_vf(topo, &addr, error);
        return vf != NULL;
    }
    case BY_VF_NETDEV: {
        g_autoptr(VfsecVfInfo) vf = vfsec_topology_lookup_netdev(topo, query, error);
        return vf != NULL;
    }
    case BY_PF: {
        g_autoptr(VfsecPfInfo) pf = vfsec_topology_lookup_pf(topo, query, error);
        return pf != NULL;
    }
    }
    g_assert_not_reached();
}

static void
test_errors(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(error_cases); i++) {
        const ErrorCase *c = &error_cases[i];
        g_autoptr(VfsecTopology) topo = tree_open(c->tree);
        g_autoptr(GError) error = NULL;

        g_test_message("%s %d '%s'", c->tree, c->kind, c->query);
        g_assert_false(run_lookup(topo, c->kind, c->query, &error));
        g_assert_error(error, VFSEC_ERROR, (gint)c->code);
        if (!strstr(error->message, c->message))
            g_error("message '%s' lacks '%s'", error->message, c->message);
        /* Callers may ignore errors. */
        g_assert_false(run_lookup(topo, c->kind, c->query, NULL));
    }
}

/* ---- the rest of the API ---- */

static void
test_require_pf_netdev(void)
{
    g_autoptr(VfsecTopology) ixgbe = tree_open("ixgbe");
    g_autoptr(VfsecVfInfo) bound = NULL;
    g_autoptr(VfsecVfInfo) vfio = NULL;
    g_autoptr(GError) error = NULL;
    VfsecPciAddr addr;

    g_assert_true(vfsec_pci_addr_parse("0000:04:10.2", &addr, NULL));
    bound = vfsec_topology_lookup_vf(ixgbe, &addr, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vfsec_vf_info_require_pf_netdev(bound, &error), ==, "enp4s0f0");
    g_assert_no_error(error);

    g_assert_true(vfsec_pci_addr_parse("0000:04:10.1", &addr, NULL));
    vfio = vfsec_topology_lookup_vf(ixgbe, &addr, &error);
    g_assert_no_error(error);
    g_assert_null(vfsec_vf_info_require_pf_netdev(vfio, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_assert_cmpstr(error->message, ==,
                    "PF 0000:04:00.1 of VF 0000:04:10.1 has no network interface "
                    "(PF driver: vfio-pci)");
    g_assert_null(vfsec_vf_info_require_pf_netdev(vfio, NULL));
}

static void
test_root(void)
{
    g_autoptr(VfsecTopology) sys = vfsec_topology_new(NULL);
    g_autofree char *data = tree_path(".");
    g_autofree char *cwd = g_get_current_dir();
    g_autoptr(VfsecTopology) rel = NULL;
    g_autoptr(VfsecVfInfo) vf = NULL;
    g_autoptr(GError) error = NULL;
    VfsecPciAddr addr;

    g_assert_cmpstr(vfsec_topology_root(sys), ==, "/sys");

    /* A relative root with a trailing slash is made absolute at once, so a
     * later chdir() does not move the tree. */
    g_assert_cmpint(g_chdir(data), ==, 0);
    rel = vfsec_topology_new("./igb/");
    g_assert_true(g_path_is_absolute(vfsec_topology_root(rel)));
    g_assert_true(g_str_has_suffix(vfsec_topology_root(rel), "/sysfs/igb"));
    g_assert_cmpint(g_chdir("/"), ==, 0);
    g_assert_true(vfsec_pci_addr_parse("0000:01:10.2", &addr, NULL));
    vf = vfsec_topology_lookup_vf(rel, &addr, &error);
    g_assert_cmpint(g_chdir(cwd), ==, 0);
    g_assert_no_error(error);
    g_assert_cmpstr(vf->vf_netdev, ==, "enp1s16f2");
}

/* Runs a command that must succeed. */
static void
run(const char *const *argv)
{
    g_autoptr(GError) error = NULL;
    gint status = -1;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               NULL, NULL, &status, &error));
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
}

static void
remove_tree(const char *path)
{
    const char *argv[] = { "rm", "-rf", "--", path, NULL };

    run(argv);
}

/* Checks what git would lose or what would tie a tree to one place. */
static int
check_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    char target[4096];
    ssize_t n;

    if (flag == FTW_D) {
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        g_assert_nonnull(dir);
        /* git stores no empty directory: a link into one would dangle. */
        if (!g_dir_read_name(dir))
            g_error("%s is empty: it would vanish from a git checkout", path);
        return 0;
    }
    if (flag != FTW_SL)
        return 0;
    n = readlink(path, target, sizeof(target) - 1);
    g_assert_cmpint(n, >, 0);
    target[n] = '\0';
    /* Only the broken tree has absolute links, on purpose (bus 08). */
    if (target[0] == '/' && !strstr(path, "/broken/"))
        g_error("%s -> %s is absolute: the tree would not be relocatable", path, target);
    return 0;
}

/* The trees work wherever they are checked out: links are relative, and a
 * copy somewhere else resolves the same. */
static void
test_relocatable(void)
{
    g_autofree char *data = tree_path(".");
    g_autofree char *src = tree_path("i40e");
    g_autofree char *tmp = g_dir_make_tmp("vfsec-topology-XXXXXX", NULL);
    g_autofree char *copy = NULL;
    g_autoptr(VfsecTopology) topo = NULL;
    g_autoptr(VfsecPfInfo) pf = NULL;
    g_autoptr(GError) error = NULL;
    const char *cp[] = { "cp", "-a", "--", src, tmp, NULL };

    g_assert_cmpint(nftw(data, check_entry, 16, FTW_PHYS), ==, 0);

    g_assert_nonnull(tmp);
    run(cp);
    copy = g_build_filename(tmp, "i40e", NULL);
    topo = vfsec_topology_new(copy);
    pf = vfsec_topology_lookup_pf(topo, "ens1f0", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(pf->vfs->len, ==, 4);
    g_assert_cmpstr(((VfsecVfInfo *)g_ptr_array_index(pf->vfs, 2))->vf_netdev, ==, "ens1f0v2");
    remove_tree(tmp);
}

/* A device with several interfaces (e.g. a representor next to the VF's own
 * netdev) reports the first by name, whatever the directory order; a lookup by
 * name reports the name asked for. */
static void
test_several_netdevs(void)
{
    g_autofree char *src = tree_path("igb");
    g_autofree char *tmp = g_dir_make_tmp("vfsec-topology-XXXXXX", NULL);
    g_autofree char *copy = NULL;
    g_autoptr(VfsecTopology) topo = NULL;
    g_autoptr(VfsecVfInfo) by_pci = NULL;
    g_autoptr(VfsecVfInfo) by_name = NULL;
    g_autoptr(GError) error = NULL;
    const char *cp[] = { "cp", "-a", "--", src, tmp, NULL };
    const char *extra[] = { "zz9", "eth7", "a0", "m5", "b1" };
    VfsecPciAddr addr;

    g_assert_nonnull(tmp);
    run(cp);
    copy = g_build_filename(tmp, "igb", NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(extra); i++) {
        g_autofree char *dir = g_build_filename(copy, "devices/pci0000:00/0000:00:02.0",
                                                "0000:01:10.0/net", extra[i], NULL);
        g_assert_cmpint(g_mkdir(dir, 0755), ==, 0);
    }
    topo = vfsec_topology_new(copy);
    g_assert_true(vfsec_pci_addr_parse("0000:01:10.0", &addr, NULL));
    by_pci = vfsec_topology_lookup_vf(topo, &addr, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(by_pci->vf_netdev, ==, "a0");
    by_name = vfsec_topology_lookup_netdev(topo, "enp1s16", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(by_name->vf_netdev, ==, "enp1s16");
    g_assert_cmpuint(by_name->vf_index, ==, 0);
    remove_tree(tmp);
}

/* An attribute that is not a regular file (here a FIFO nobody writes to)
 * fails at once instead of blocking the caller. */
static void
test_attr_not_regular(void)
{
    g_autofree char *tmp = g_dir_make_tmp("vfsec-topology-XXXXXX", NULL);
    g_autofree char *dev = g_build_filename(tmp, "devices/pci0000:00/0000:01:00.0", NULL);
    g_autofree char *bus = g_build_filename(tmp, "bus/pci/devices", NULL);
    g_autofree char *link = g_build_filename(bus, "0000:01:00.0", NULL);
    g_autofree char *total = g_build_filename(dev, "sriov_totalvfs", NULL);
    g_autofree char *num = g_build_filename(dev, "sriov_numvfs", NULL);
    g_autoptr(VfsecTopology) topo = NULL;
    g_autoptr(VfsecPfInfo) pf = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(tmp);
    g_assert_cmpint(g_mkdir_with_parents(dev, 0755), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(bus, 0755), ==, 0);
    g_assert_cmpint(symlink("../../../devices/pci0000:00/0000:01:00.0", link), ==, 0);
    g_assert_true(g_file_set_contents(total, "7\n", -1, NULL));
    g_assert_cmpint(mkfifo(num, 0600), ==, 0);

    topo = vfsec_topology_new(tmp);
    pf = vfsec_topology_lookup_pf(topo, "0000:01:00.0", &error);
    g_assert_null(pf);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_nonnull(strstr(error->message, "sriov_numvfs of PCI device 0000:01:00.0"));

    remove_tree(tmp);
}

/* The default root on this machine's real sysfs: loopback is never a VF. */
static void
test_real_sysfs(void)
{
    g_autoptr(VfsecTopology) topo = vfsec_topology_new(NULL);
    g_autoptr(VfsecVfInfo) vf = NULL;
    g_autoptr(GError) error = NULL;

    if (!g_file_test("/sys/class/net/lo", G_FILE_TEST_EXISTS)) {
        g_test_skip("no /sys/class/net/lo here");
        return;
    }
    vf = vfsec_topology_lookup_netdev(topo, "lo", &error);
    g_assert_null(vf);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!g_getenv("VFSEC_TEST_DATA")) {
        g_printerr("VFSEC_TEST_DATA is not set: run this test through meson test\n");
        return 77;
    }
    g_test_add_func("/topology/vf-lookup", test_vf_lookup);
    g_test_add_func("/topology/pf-lookup", test_pf_lookup);
    g_test_add_func("/topology/errors", test_errors);
    g_test_add_func("/topology/require-pf-netdev", test_require_pf_netdev);
    g_test_add_func("/topology/root", test_root);
    g_test_add_func("/topology/relocatable", test_relocatable);
    g_test_add_func("/topology/several-netdevs", test_several_netdevs);
    g_test_add_func("/topology/attr-not-regular", test_attr_not_regular);
    g_test_add_func("/topology/real-sysfs", test_real_sysfs);
    return g_test_run();
}
