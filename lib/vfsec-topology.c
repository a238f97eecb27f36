/* vfsec-topology.c: SR-IOV topology (VF <-> PF <-> netdev <-> driver) read from sysfs. */
#include "vfsec-topology.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfsec-error.h"

/*
 * Theory of operation
 *
 * Every path is handled as a path *relative to the sysfs root* and resolved
 * here, one component at a time, instead of by the kernel: a symlink target is
 * read with readlink() and spliced into the components still to walk, an
 * absolute target restarts from the root (not from "/"), and a ".." that would
 * climb above the root fails with -EXDEV rather than leaving it. So a fake tree
 * under tests/data/sysfs/ behaves like /sys wherever it is checked out, and a
 * hostile or broken tree cannot make us read files outside it. A resolved path
 * is canonical (no ".", "..", or symlink left), so two paths name the same
 * device exactly when their strings are equal.
 *
 * The SR-IOV relations are the kernel's (drivers/pci/iov.c):
 *   bus/pci/devices/<addr>  -> the device directory under devices/
 *   <vf>/physfn             -> the PF directory (only VFs have it)
 *   <pf>/virtfnN            -> the directory of VF N, N = 0 .. sriov_numvfs-1
 *   <dev>/driver            -> bus/pci/drivers/<name> (absent when unbound)
 *   <dev>/net/<ifname>/     (absent unless a network driver is bound)
 *   class/net/<ifname>      -> <dev>/net/<ifname>, whose device -> <dev>
 * Like libvirt, the VF index is the N of the PF's virtfnN link that resolves to
 * the VF's directory, and a device's netdev is the first entry of its net/
 * directory (sorted here, so the choice does not depend on readdir order).
 */

#define TOPOLOGY_MAX_SYMLINKS 40       /* as the kernel's path walk (MAXSYMLINKS) */
#define TOPOLOGY_ATTR_MAX 4096         /* sysfs attributes are at most one page */
#define TOPOLOGY_IFNAMSIZ 16           /* IFNAMSIZ, including the NUL */
#define TOPOLOGY_MAX_VFS 65535         /* TotalVFs is a 16-bit field */

struct _VfsecTopology {
    char *root;   /* absolute, no trailing slash unless it is "/" */
};

void
vfsec_vf_info_free(VfsecVfInfo *info)
{
    if (!info)
        return;
    g_free(info->pf_netdev);
    g_free(info->pf_driver);
    g_free(info->vf_netdev);
    g_free(info->vf_driver);
    g_free(info);
}

void
vfsec_pf_info_free(VfsecPfInfo *info)
{
    if (!info)
        return;
    g_free(info->netdev);
    g_free(info->driver);
    if (info->vfs)
        g_ptr_array_unref(info->vfs);
    g_free(info);
}

VfsecTopology *
vfsec_topology_new(const char *sysfs_root)
{
    VfsecTopology *topo = g_new0(VfsecTopology, 1);

    /* Absolute so that a later chdir() cannot move the tree under us. */
    topo->root = g_canonicalize_filename(sysfs_root ? sysfs_root : "/sys", NULL);
    return topo;
}

void
vfsec_topology_free(VfsecTopology *topo)
{
    if (!topo)
        return;
    g_free(topo->root);
    g_free(topo);
}

const char *
vfsec_topology_root(const VfsecTopology *topo)
{
    return topo->root;
}

/* ---- low level: paths relative to the root, -errno on failure ---- */

static char *
topology_abs(const VfsecTopology *topo, const char *rel)
{
    return *rel ? g_build_filename(topo->root, rel, NULL) : g_strdup(topo->root);
}

/* Whether the canonical directory @dir has an entry @name (a link counts,
 * even a dangling one). */
static gboolean
topology_has(const VfsecTopology *topo, const char *dir, const char *name)
{
    g_autofree char *rel = g_build_filename(dir, name, NULL);
    g_autofree char *abs = topology_abs(topo, rel);
    struct stat st;

    return lstat(abs, &st) == 0;
}

static char *
topology_join(GPtrArray *parts)
{
    g_ptr_array_add(parts, NULL);
    char *joined = g_strjoinv("/", (char **)parts->pdata);
    g_ptr_array_remove_index(parts, parts->len - 1);
    return joined;
}

/* Reads the target of the symlink at @abs into a new string. */
static int
topology_readlink(const char *abs, char **target)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(abs, buf, sizeof(buf));

    if (n < 0)
        return -errno;
    if ((size_t)n >= sizeof(buf))
        return -ENAMETOOLONG;
    *target = g_strndup(buf, (gsize)n);
    return 0;
}

/* Resolves @rel (relative to the root) to a canonical root-relative path in
 * @out ("" is the root itself). -ENOENT: a component is missing; -EXDEV: the
 * walk would leave the root; -ELOOP: too many symlinks. */
static int
topology_resolve(const VfsecTopology *topo, const char *rel, char **out)
{
    g_autoptr(GPtrArray) done = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *todo = g_strdup(rel);
    guint links = 0;
    gsize pos = 0;

    while (todo[pos]) {
        gsize len = strcspn(todo + pos, "/");
        g_autofree char *name = g_strndup(todo + pos, len);
        g_autofree char *abs = NULL;
        g_autofree char *target = NULL;
        g_autofree char *joined = NULL;
        char *rest;
        struct stat st;
        int rc;

        pos += len;
        while (todo[pos] == '/')
            pos++;
        if (!*name || g_str_equal(name, "."))
            continue;
        if (g_str_equal(name, "..")) {
            if (done->len == 0)
                return -EXDEV;
            g_ptr_array_remove_index(done, done->len - 1);
            continue;
        }
        g_ptr_array_add(done, g_strdup(name));
        joined = topology_join(done);
        abs = topology_abs(topo, joined);
        if (lstat(abs, &st) < 0)
            return -errno;
        if (!S_ISLNK(st.st_mode)) {
            if (!S_ISDIR(st.st_mode) && todo[pos])
                return -ENOTDIR;
            continue;
        }

        if (++links > TOPOLOGY_MAX_SYMLINKS)
            return -ELOOP;
        rc = topology_readlink(abs, &target);
        if (rc < 0)
            return rc;
        g_ptr_array_remove_index(done, done->len - 1);
        /* An absolute target means "from the root": the root is our "/". */
        if (g_path_is_absolute(target))
            g_ptr_array_set_size(done, 0);
        rest = g_strconcat(target, "/", todo + pos, NULL);
        g_free(todo);
        todo = rest;
        pos = 0;
    }
    *out = topology_join(done);
    return 0;
}

/* Follows the entry @name of the canonical directory @dir. -ENOENT: there is
 * no such entry; -ENOLINK: the entry is a link whose target is missing;
 * otherwise as topology_resolve(). */
static int
topology_follow(const VfsecTopology *topo, const char *dir, const char *name, char **out)
{
    g_autofree char *rel = g_build_filename(dir, name, NULL);
    g_autofree char *abs = topology_abs(topo, rel);
    struct stat st;
    int rc;

    if (lstat(abs, &st) < 0)
        return -errno;
    rc = topology_resolve(topo, rel, out);
    return rc == -ENOENT ? -ENOLINK : rc;
}

/* Reads the attribute file @name of the canonical directory @dir, at most
 * TOPOLOGY_ATTR_MAX bytes, without its trailing newline. */
static int
topology_read_attr(const VfsecTopology *topo, const char *dir, const char *name, char **out)
{
    g_autofree char *rel = g_build_filename(dir, name, NULL);
    g_autofree char *abs = topology_abs(topo, rel);
    char buf[TOPOLOGY_ATTR_MAX + 1];
    gsize len = 0;
    struct stat st;
    int fd;

    /* O_NONBLOCK: a FIFO planted in a fake tree must not hang us. */
    fd = open(abs, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    while (len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            return -saved;
        }
        if (n == 0)
            break;
        len += (gsize)n;
    }
    close(fd);
    if (len > TOPOLOGY_ATTR_MAX)
        return -EFBIG;
    if (memchr(buf, '\0', len))
        return -EINVAL;
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    *out = g_strndup(buf, len);
    return 0;
}

/* The kernel's dev_valid_name(): what may name a network interface. */
static gboolean
topology_ifname_valid(const char *name)
{
    gsize len = strlen(name);

    if (len == 0 || len >= TOPOLOGY_IFNAMSIZ)
        return FALSE;
    if (g_str_equal(name, ".") || g_str_equal(name, ".."))
        return FALSE;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == ':' || g_ascii_isspace(*p))
            return FALSE;
    return TRUE;
}

/* The first (by name) network interface of the canonical device directory
 * @dir; *@out is NULL when the device has no net/ directory. */
static int
topology_first_netdev(const VfsecTopology *topo, const char *dir, char **out)
{
    g_autofree char *rel = g_build_filename(dir, "net", NULL);
    g_autofree char *abs = topology_abs(topo, rel);
    g_autofree char *first = NULL;
    struct dirent *ent;
    DIR *dh;
    int fd;

    *out = NULL;
    fd = open(abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    dh = fdopendir(fd);
    if (!dh) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    while ((ent = readdir(dh))) {
        if (g_str_equal(ent->d_name, ".") || g_str_equal(ent->d_name, ".."))
            continue;
        if (!topology_ifname_valid(ent->d_name)) {
            closedir(dh);
            return -EINVAL;
        }
        if (!first || strcmp(ent->d_name, first) < 0) {
            g_free(first);
            first = g_strdup(ent->d_name);
        }
    }
    closedir(dh);
    *out = g_steal_pointer(&first);
    return 0;
}

/* The name of the driver bound to the canonical device directory @dir;
 * *@out is NULL when no driver is bound. */
static int
topology_driver(const VfsecTopology *topo, const char *dir, char **out)
{
    g_autofree char *target = NULL;
    int rc = topology_follow(topo, dir, "driver", &target);

    *out = NULL;
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    *out = g_path_get_basename(target);
    return 0;
}

/* ---- GError level ---- */

/* Reports a failed topology_follow() of link @link of @owner ("VF 0000:..."). */
static void
topology_link_error(const VfsecTopology *topo, int rc, const char *owner, const char *link,
                    GError **error)
{
    switch (rc) {
    case -ENOLINK:
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s link of %s is dangling", link, owner);
        break;
    case -EXDEV:
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s link of %s points outside the sysfs root %s", link, owner, topo->root);
        break;
    case -ELOOP:
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s link of %s is a symlink loop", link, owner);
        break;
    case -ENOENT:
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s link of %s is missing", link, owner);
        break;
    default:
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO,
                    "%s link of %s cannot be resolved: %s", link, owner, g_strerror(-rc));
        break;
    }
}

/* A PCI device found in the tree: its canonical directory and address. */
typedef struct {
    char *dir;
    VfsecPciAddr addr;
    char *label;          /* names the device in error messages */
} TopologyDev;

static void
topology_dev_clear(TopologyDev *dev)
{
    g_clear_pointer(&dev->dir, g_free);
    g_clear_pointer(&dev->label, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TopologyDev, topology_dev_clear)

/* Parses the PCI address that names the canonical device directory @dir. */
static gboolean
topology_dir_addr(const char *dir, VfsecPciAddr *addr)
{
    g_autofree char *base = g_path_get_basename(dir);

    return vfsec_pci_addr_parse(base, addr, NULL);
}

/* Follows the entry @name of @dir, which must lead to a PCI device, into
 * @dev; @link names the link and @owner its device in error messages. */
static gboolean
topology_follow_pci(const VfsecTopology *topo, const char *dir, const char *name,
                    const char *link, const char *owner, TopologyDev *dev, GError **error)
{
    char buf[VFSEC_PCI_ADDR_STRLEN];
    int rc = topology_follow(topo, dir, name, &dev->dir);

    if (rc < 0) {
        topology_link_error(topo, rc, owner, link, error);
        return FALSE;
    }
    if (!topology_dir_addr(dev->dir, &dev->addr)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s link of %s leads to %s, which is not a PCI device", link, owner,
                    dev->dir);
        return FALSE;
    }
    dev->label = g_strdup_printf("PCI device %s", vfsec_pci_addr_format(&dev->addr, buf));
    return TRUE;
}

static gboolean
topology_dev_by_addr(const VfsecTopology *topo, const VfsecPciAddr *addr, TopologyDev *dev,
                     GError **error)
{
    char want[VFSEC_PCI_ADDR_STRLEN];
    g_autofree char *owner = NULL;

    vfsec_pci_addr_format(addr, want);
    if (!topology_has(topo, "bus/pci/devices", want)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    "PCI device %s not found under %s", want, topo->root);
        return FALSE;
    }
    owner = g_strdup_printf("PCI device %s", want);
    if (!topology_follow_pci(topo, "bus/pci/devices", want, "bus/pci/devices", owner, dev,
                             error))
        return FALSE;
    if (!vfsec_pci_addr_equal(&dev->addr, addr)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "bus/pci/devices link of PCI device %s leads to %s", want, dev->dir);
        return FALSE;
    }
    return TRUE;
}

static gboolean
topology_dev_by_netdev(const VfsecTopology *topo, const char *netdev, TopologyDev *dev,
                       GError **error)
{
    char buf[VFSEC_PCI_ADDR_STRLEN];
    g_autofree char *owner = NULL;
    g_autofree char *netdir = NULL;
    g_autofree char *devdir = NULL;
    int rc;

    if (!topology_ifname_valid(netdev)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "'%s' is not a network interface name", netdev);
        return FALSE;
    }
    owner = g_strdup_printf("network interface %s", netdev);
    rc = topology_follow(topo, "class/net", netdev, &netdir);
    if (rc == -ENOENT) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                    "network interface %s not found under %s", netdev, topo->root);
        return FALSE;
    }
    if (rc < 0) {
        topology_link_error(topo, rc, owner, "class/net", error);
        return FALSE;
    }
    rc = topology_follow(topo, netdir, "device", &devdir);
    if (rc == -ENOENT) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "network interface %s has no device (it is a virtual interface)",
                    netdev);
        return FALSE;
    }
    if (rc < 0) {
        topology_link_error(topo, rc, owner, "device", error);
        return FALSE;
    }
    if (!topology_dir_addr(devdir, &dev->addr)) {
        g_autofree char *base = g_path_get_basename(devdir);
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "network interface %s is on %s, which is not a PCI device", netdev, base);
        return FALSE;
    }
    dev->dir = g_steal_pointer(&devdir);
    dev->label = g_strdup_printf("network interface %s (PCI device %s)", netdev,
                                 vfsec_pci_addr_format(&dev->addr, buf));
    return TRUE;
}

/* Reads a sriov_* count of the PF @dev. */
static gboolean
topology_read_count(const VfsecTopology *topo, const TopologyDev *dev, const char *attr,
                    guint *value, GError **error)
{
    g_autofree char *text = NULL;
    guint64 v = 0;
    int rc = topology_read_attr(topo, dev->dir, attr, &text);

    if (rc == -EFBIG) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s of %s is larger than %d bytes", attr, dev->label, TOPOLOGY_ATTR_MAX);
        return FALSE;
    }
    if (rc < 0) {
        g_set_error(error, VFSEC_ERROR, rc == -ENOENT ? VFSEC_ERROR_INVALID : VFSEC_ERROR_IO,
                    "%s of %s cannot be read: %s", attr, dev->label, g_strerror(-rc));
        return FALSE;
    }
    /* sysfs writes these in decimal; vfsec_parse_uint would also take 0x. */
    if (!g_ascii_isdigit(text[0]) || !vfsec_parse_uint(text, TOPOLOGY_MAX_VFS, &v)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s of %s is not a VF count: '%s'", attr, dev->label, text);
        return FALSE;
    }
    *value = (guint)v;
    return TRUE;
}

/* What @dev is bound to: its driver and first network interface (each NULL
 * when there is none). */
static gboolean
topology_binding(const VfsecTopology *topo, const TopologyDev *dev, char **driver,
                 char **netdev, GError **error)
{
    int rc = topology_driver(topo, dev->dir, driver);

    if (rc < 0) {
        topology_link_error(topo, rc, dev->label, "driver", error);
        return FALSE;
    }
    rc = topology_first_netdev(topo, dev->dir, netdev);
    if (rc < 0) {
        g_set_error(error, VFSEC_ERROR, rc == -EINVAL ? VFSEC_ERROR_INVALID : VFSEC_ERROR_IO,
                    "network interfaces of %s cannot be listed: %s", dev->label,
                    g_strerror(-rc));
        return FALSE;
    }
    return TRUE;
}

/* Loads everything about the PF @dev except its VF list. */
static VfsecPfInfo *
topology_pf_load(const VfsecTopology *topo, const TopologyDev *dev, GError **error)
{
    g_autoptr(VfsecPfInfo) pf = g_new0(VfsecPfInfo, 1);

    pf->pci = dev->addr;
    pf->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_vf_info_free);
    if (!topology_has(topo, dev->dir, "sriov_totalvfs")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s is not an SR-IOV PF (it has no sriov_totalvfs)", dev->label);
        return NULL;
    }
    if (!topology_read_count(topo, dev, "sriov_totalvfs", &pf->totalvfs, error) ||
        !topology_read_count(topo, dev, "sriov_numvfs", &pf->numvfs, error))
        return NULL;
    if (pf->numvfs > pf->totalvfs) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s has sriov_numvfs %u above its sriov_totalvfs %u", dev->label,
                    pf->numvfs, pf->totalvfs);
        return NULL;
    }
    if (!topology_binding(topo, dev, &pf->driver, &pf->netdev, error))
        return NULL;
    return g_steal_pointer(&pf);
}

/* Follows the PF's virtfn@index link, which must exist for every index below
 * sriov_numvfs. */
static gboolean
topology_pf_vf(const VfsecTopology *topo, const TopologyDev *pfdev, guint index,
               TopologyDev *vfdev, GError **error)
{
    g_autofree char *link = g_strdup_printf("virtfn%u", index);

    return topology_follow_pci(topo, pfdev->dir, link, link, pfdev->label, vfdev, error);
}

/* Builds the VF info of @vfdev, VF @index of @pf. */
static VfsecVfInfo *
topology_vf_info(const VfsecTopology *topo, const VfsecPfInfo *pf, guint index,
                 const TopologyDev *vfdev, GError **error)
{
    g_autoptr(VfsecVfInfo) vf = g_new0(VfsecVfInfo, 1);

    vf->vf_pci = vfdev->addr;
    vf->pf_pci = pf->pci;
    vf->pf_netdev = g_strdup(pf->netdev);
    vf->pf_driver = g_strdup(pf->driver);
    vf->vf_index = index;
    if (!topology_binding(topo, vfdev, &vf->vf_driver, &vf->vf_netdev, error))
        return NULL;
    return g_steal_pointer(&vf);
}

static void
topology_debug_vf(const TopologyDev *dev, const VfsecVfInfo *info)
{
    g_debug("%s is VF %u of %s", dev->label, info->vf_index,
            info->pf_netdev ? info->pf_netdev : "a PF without netdev");
}

/* The VF info of the PCI device @dev, which must be a VF. */
static VfsecVfInfo *
topology_vf_from_dev(const VfsecTopology *topo, const TopologyDev *dev, GError **error)
{
    g_auto(TopologyDev) pfdev = { 0 };
    g_autoptr(VfsecPfInfo) pf = NULL;
    char buf[VFSEC_PCI_ADDR_STRLEN];

    if (!topology_has(topo, dev->dir, "physfn")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s is not a VF (it has no physfn link)", dev->label);
        return NULL;
    }
    if (!topology_follow_pci(topo, dev->dir, "physfn", "physfn", dev->label, &pfdev, error))
        return NULL;
    pf = topology_pf_load(topo, &pfdev, error);
    if (!pf)
        return NULL;
    for (guint i = 0; i < pf->numvfs; i++) {
        g_auto(TopologyDev) vfdev = { 0 };
        if (!topology_pf_vf(topo, &pfdev, i, &vfdev, error))
            return NULL;
        if (g_str_equal(vfdev.dir, dev->dir))
            return topology_vf_info(topo, pf, i, dev, error);
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                "PF %s lists no virtfn link to %s", vfsec_pci_addr_format(&pf->pci, buf),
                dev->label);
    return NULL;
}

VfsecVfInfo *
vfsec_topology_lookup_vf(VfsecTopology *topo, const VfsecPciAddr *vf, GError **error)
{
    g_auto(TopologyDev) dev = { 0 };
    VfsecVfInfo *info;

    if (!topology_dev_by_addr(topo, vf, &dev, error))
        return NULL;
    info = topology_vf_from_dev(topo, &dev, error);
    if (info)
        topology_debug_vf(&dev, info);
    return info;
}

VfsecVfInfo *
vfsec_topology_lookup_netdev(VfsecTopology *topo, const char *netdev, GError **error)
{
    g_auto(TopologyDev) dev = { 0 };
    VfsecVfInfo *info;

    if (!topology_dev_by_netdev(topo, netdev, &dev, error))
        return NULL;
    info = topology_vf_from_dev(topo, &dev, error);
    if (!info)
        return NULL;
    /* The name asked for, even if the VF has several interfaces. */
    g_free(info->vf_netdev);
    info->vf_netdev = g_strdup(netdev);
    topology_debug_vf(&dev, info);
    return info;
}

VfsecPfInfo *
vfsec_topology_lookup_pf(VfsecTopology *topo, const char *pf, GError **error)
{
    g_auto(TopologyDev) dev = { 0 };
    g_autoptr(VfsecPfInfo) info = NULL;
    g_autofree char *beyond = NULL;
    VfsecPciAddr addr;

    /* No interface name can contain ':', so the two forms never collide. */
    if (vfsec_pci_addr_parse(pf, &addr, NULL)) {
        if (!topology_dev_by_addr(topo, &addr, &dev, error))
            return NULL;
    } else if (!topology_dev_by_netdev(topo, pf, &dev, error)) {
        return NULL;
    }

    if (topology_has(topo, dev.dir, "physfn")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s is a VF, not an SR-IOV PF", dev.label);
        return NULL;
    }
    info = topology_pf_load(topo, &dev, error);
    if (!info)
        return NULL;
    for (guint i = 0; i < info->numvfs; i++) {
        g_auto(TopologyDev) vfdev = { 0 };
        VfsecVfInfo *vf;

        if (!topology_pf_vf(topo, &dev, i, &vfdev, error))
            return NULL;
        vf = topology_vf_info(topo, info, i, &vfdev, error);
        if (!vf)
            return NULL;
        g_ptr_array_add(info->vfs, vf);
    }
    /* More virtfn links than sriov_numvfs: not a tree the kernel makes. */
    beyond = g_strdup_printf("virtfn%u", info->numvfs);
    if (topology_has(topo, dev.dir, beyond)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s has a %s link beyond its sriov_numvfs %u", dev.label, beyond,
                    info->numvfs);
        return NULL;
    }
    g_debug("%s is a PF with %u of %u VFs", dev.label, info->numvfs, info->totalvfs);
    return g_steal_pointer(&info);
}

const char *
vfsec_vf_info_require_pf_netdev(const VfsecVfInfo *info, GError **error)
{
    char vf[VFSEC_PCI_ADDR_STRLEN];
    char pf[VFSEC_PCI_ADDR_STRLEN];

    if (info->pf_netdev)
        return info->pf_netdev;
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND,
                "PF %s of VF %s has no network interface (PF driver: %s)",
                vfsec_pci_addr_format(&info->pf_pci, pf),
                vfsec_pci_addr_format(&info->vf_pci, vf),
                info->pf_driver ? info->pf_driver : "none");
    return NULL;
}
