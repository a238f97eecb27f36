/* vfsec-plugin-linux.c: the "linux" PF plugin — a kernel SR-IOV PF driver
 * driven through rtnetlink and sysfs, for NICs whose PF driver speaks no
 * contract vfsec can see.
 *
 * Theory of operation. start resolves the PF netdev in sysfs (PCI address,
 * driver, VFs), opens a NETLINK_ROUTE socket and reads the PF's link (its
 * ifindex names it in every later request, its VF list gives num_vfs) and
 * the embedded bridge mode (none reported: no switch_mode cap). Every kernel
 * request is built with lib/vfsec-netlink.h's pure builders and goes through
 * one transact function, which tests replace (vfsec_plugin_linux_set_transact).
 *
 * set_vf sends one RTM_SETLINK with the fields asked, then always reads the
 * VF back: some drivers (igb) accept a request and silently ignore part of
 * it, so a field that reads back differently fails with UNSUPPORTED naming
 * it. An 802.1ad port tag that the kernel refuses with EPROTONOSUPPORT
 * (igb, ixgbe, i40e accept 802.1Q only) clears caps.port_tag_8021ad and
 * fails with UNSUPPORTED; later 802.1ad requests fail at once. The engine
 * falls back to an 802.1Q tag itself. What set_vf last applied per VF is kept,
 * so a reclaim can check it survived.
 *
 * reclaim_vf resets the VF function (writes "1" to its sysfs `reset`, which
 * runs pci_reset_function with the kernel's first working `reset_method`).
 * Whether that removes the VF's SAs depends on the PF driver: see
 * docs/plugins.md; caps.reclaims_sas is TRUE only for the drivers listed
 * there. The reset is synchronous in the kernel, so @timeout_ms is not used;
 * the answer reports removed 0 (the kernel does not count them) and
 * remaining 0. The VF's PF-set attributes are read back afterwards and
 * re-applied when the reset lost them.
 *
 * No notifications: a VF reset is invisible to rtnetlink, and an agent reset
 * does not exist here. The local-MAC table is kept in memory with its
 * generation (CAS); it reaches no agent (caps.local_macs FALSE: the daemon's
 * file is the only consumer).
 *
 * Threads. A VF reset can take the kernel seconds (FLR waits, a PF driver
 * mailbox, a device that is slow to come back) and a netlink request waits
 * on RTNL: list_vfs, set_vf, reclaim_vf and set_switch_mode run in GTask's
 * thread pool and complete on the caller's context, so vfsecd's main loop
 * (the hook's control socket, the engine's deadlines) never waits on the
 * kernel. One mutex serialises the kernel requests and the state they share
 * (the netlink socket and its extended ack, the applied table, the 802.1ad
 * refusal); the reset write itself runs outside it, so a reset stuck in the
 * kernel does not hold up the other VFs. What the main thread reads (caps,
 * port) is written by the _finish functions only. Every worker holds a
 * reference on the plugin: freeing it while a reset is stuck leaves that
 * worker its memory. start (once, before the daemon serves) and the
 * in-memory MAC table run on the caller's thread. */
#include "vfsec-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include "vfsec-error.h"
#include "vfsec-netlink.h"
#include "vfsec-netns.h"
#include "vfsec-topology.h"

/* Kernel PF drivers whose VF reset leaves the VF no SA (see docs/plugins.md). */
static const char *const reclaiming_drivers[] = {
    "ixgbe",  /* VF IPsec through the mailbox; a VF reset clears the VF's SAs */
    "igb",    /* no IPsec offload at all; its FLR keeps the PF-set port VLAN, MAC,
               * trust and spoofchk (measured in the nested tier, docs/nested.md) */
    "i40e",   /* no IPsec offload at all (X710/XL710) */
    NULL,
};

typedef struct {
    VfsecContractSetVfFields fields;
    VfsecContractVf vf;             /* netdev unused */
} Applied;

typedef struct {
    VfsecPlugin base;               /* first: the plugin is a g_atomic_rc_box */
    GMutex lock;                    /* the kernel seam and the state below it */
    char *netdev;
    VfsecTopology *topo;
    VfsecPfInfo *pf;
    VfsecNetlink *nl;
    VfsecPluginLinuxTransactFunc transact;
    gpointer transact_data;
    guint32 ifindex;
    gint refuses_8021ad;            /* atomic: the kernel said EPROTONOSUPPORT once */
    GHashTable *applied;            /* VF index -> Applied* */
    VfsecContractMacTable *macs;
} VfsecPluginLinux;

/* ---- Kernel seam ------------------------------------------------------- */

static int
linux_transact(VfsecPluginLinux *self, void *buf, VfsecNetlinkReplyFunc func, gpointer data)
{
    if (self->transact)
        return self->transact(buf, func, data, self->transact_data);
    if (!self->nl)
        return -ENOTCONN;
    return vfsec_netlink_transact(self->nl, buf, func, data);
}

/* "…: <strerror> (<extended ack>)" tail of a kernel failure (new string). */
static char *
kernel_reason(VfsecPluginLinux *self, int rc)
{
    const char *ack = self->nl ? vfsec_netlink_last_ext_ack(self->nl) : NULL;

    if (ack)
        return g_strdup_printf("%s (%s)", g_strerror(-rc), ack);
    return g_strdup(g_strerror(-rc));
}

/* The PF's link with its VFs (caller frees), or NULL with @error set. */
static VfsecLinkInfo *
pf_link_get(VfsecPluginLinux *self, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    VfsecNetlinkLinkReply reply = { .ifindex = self->ifindex };
    int rc = vfsec_nl_build_link_get(buf, sizeof(buf), (int)self->ifindex,
                                     self->ifindex ? NULL : self->netdev);

    if (rc == 0)
        rc = linux_transact(self, buf, vfsec_netlink_link_reply_cb, &reply);
    if (rc == 0 && !reply.info)
        rc = -ENODEV;
    if (rc < 0) {
        g_autofree char *why = kernel_reason(self, rc);

        vfsec_link_info_free(reply.info);
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc), "reading PF %s (%s) failed: %s",
                    self->base.label, self->netdev, why);
        return NULL;
    }
    g_debug("PF %s: read link %s: ok", self->base.label, self->netdev);
    return reply.info;
}

/* The bridge mode of the PF, or -1 when its driver reports none. */
static int
pf_bridge_mode(VfsecPluginLinux *self)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    VfsecNetlinkLinkReply reply = { .ifindex = self->ifindex };
    int rc = vfsec_nl_build_bridge_dump(buf, sizeof(buf));
    int mode;

    if (rc == 0)
        rc = linux_transact(self, buf, vfsec_netlink_link_reply_cb, &reply);
    mode = rc == 0 && reply.info ? reply.info->bridge_mode : -1;
    vfsec_link_info_free(reply.info);
    g_debug("PF %s: bridge mode of %s: %d (rc %d)", self->base.label, self->netdev, mode, rc);
    return mode;
}

/* ---- Mapping kernel VFs to contract VFs -------------------------------- */

static const VfsecVfInfo *
topo_vf(VfsecPluginLinux *self, guint vf)
{
    for (guint i = 0; i < self->pf->vfs->len; i++) {
        const VfsecVfInfo *info = g_ptr_array_index(self->pf->vfs, i);

        if (info->vf_index == vf)
            return info;
    }
    return NULL;
}

static gboolean
mac_is_zero(const VfsecMac *mac)
{
    static const VfsecMac zero;

    return vfsec_mac_equal(mac, &zero);
}

static VfsecContractVf *
vf_from_kernel(VfsecPluginLinux *self, const VfsecVfLinkInfo *k)
{
    VfsecContractVf *vf = vfsec_contract_vf_new();
    const VfsecVfInfo *t = topo_vf(self, k->vf);

    vf->port = self->base.port->port;
    vf->vf = k->vf;
    if (t) {
        vf->pci = t->vf_pci;
        vf->netdev = g_strdup(t->vf_netdev);
    }
    vf->has_mac = !mac_is_zero(&k->mac);
    vf->mac = k->mac;
    vf->has_port_tag = k->vlan != 0 || k->qos != 0;
    if (vf->has_port_tag) {
        vf->port_tag.tpid = k->vlan_proto == ETH_P_8021AD ? VFSEC_CONTRACT_TPID_8021AD
                                                          : VFSEC_CONTRACT_TPID_8021Q;
        vf->port_tag.vid = k->vlan;
        vf->port_tag.pcp = k->qos;
    }
    /* A driver that does not report trust/spoofchk (-1) is read as off. */
    vf->trust = k->trust == 1;
    vf->spoofchk = k->spoofchk == 1;
    vf->sa_count = 0;  /* the kernel does not count a VF's SAs */
    return vf;
}

/* VF @vf as the kernel reports it now (caller frees). */
static VfsecContractVf *
vf_read(VfsecPluginLinux *self, guint vf, GError **error)
{
    g_autoptr(VfsecLinkInfo) link = pf_link_get(self, error);

    if (!link)
        return NULL;
    for (guint i = 0; i < link->vfs->len; i++) {
        const VfsecVfLinkInfo *k = &g_array_index(link->vfs, VfsecVfLinkInfo, i);

        if (k->vf == vf)
            return vf_from_kernel(self, k);
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "PF %s (%s) has no VF %u",
                self->base.label, self->netdev, vf);
    return NULL;
}

/* The first field of @fields where @got differs from @want, or NULL. */
static const char *
vf_mismatch(VfsecContractSetVfFields fields, const VfsecContractVf *want,
            const VfsecContractVf *got)
{
    if ((fields & VFSEC_CONTRACT_SET_VF_PORT_TAG) &&
        (want->has_port_tag != got->has_port_tag ||
         (want->has_port_tag && !vfsec_contract_port_tag_equal(&want->port_tag, &got->port_tag))))
        return "port tag";
    if ((fields & VFSEC_CONTRACT_SET_VF_TRUST) && !want->trust != !got->trust)
        return "trust";
    if ((fields & VFSEC_CONTRACT_SET_VF_SPOOFCHK) && !want->spoofchk != !got->spoofchk)
        return "spoofchk";
    if ((fields & VFSEC_CONTRACT_SET_VF_MAC) &&
        (want->has_mac != got->has_mac || !vfsec_mac_equal(&want->mac, &got->mac)))
        return "mac";
    return NULL;
}

/* ---- set_vf ------------------------------------------------------------ */

static void
vf_config_from(VfsecContractSetVfFields fields, const VfsecContractVf *want, VfsecVfConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->vf = want->vf;
    cfg->vlan_proto = ETH_P_8021Q;
    if (fields & VFSEC_CONTRACT_SET_VF_PORT_TAG) {
        cfg->set |= VFSEC_VF_SET_VLAN;
        if (want->has_port_tag) {
            cfg->vlan = want->port_tag.vid;
            cfg->qos = want->port_tag.pcp;
            cfg->vlan_proto = want->port_tag.tpid;
        }
    }
    if (fields & VFSEC_CONTRACT_SET_VF_TRUST) {
        cfg->set |= VFSEC_VF_SET_TRUST;
        cfg->trust = want->trust;
    }
    if (fields & VFSEC_CONTRACT_SET_VF_SPOOFCHK) {
        cfg->set |= VFSEC_VF_SET_SPOOFCHK;
        cfg->spoofchk = want->spoofchk;
    }
    if (fields & VFSEC_CONTRACT_SET_VF_MAC) {
        /* No administrative MAC is the all-zero one, as `ip link set vf mac`. */
        cfg->set |= VFSEC_VF_SET_MAC;
        if (want->has_mac)
            cfg->mac = want->mac;
    }
}

static gboolean
is_8021ad(VfsecContractSetVfFields fields, const VfsecContractVf *want)
{
    return (fields & VFSEC_CONTRACT_SET_VF_PORT_TAG) && want->has_port_tag &&
           want->port_tag.tpid == VFSEC_CONTRACT_TPID_8021AD;
}

static gboolean
refuse_8021ad(VfsecPluginLinux *self, guint vf, GError **error)
{
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                "PF %s (%s, driver %s) refuses an 802.1ad port tag on VF %u: it supports "
                "802.1Q port VLANs only",
                self->base.label, self->netdev, self->pf->driver ? self->pf->driver : "unknown",
                vf);
    return FALSE;
}

/* Sets @fields of VF want->vf and checks them read back; the VF's new
 * state (caller frees). */
static VfsecContractVf *
vf_apply(VfsecPluginLinux *self, VfsecContractSetVfFields fields, const VfsecContractVf *want,
         GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    g_autoptr(VfsecContractVf) got = NULL;
    VfsecVfConfig cfg;
    const char *field;
    Applied *applied;
    int rc;

    if ((fields & VFSEC_CONTRACT_SET_VF_ALL) == 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "set-vf on VF %u of PF %s names no field", want->vf, self->base.label);
        return NULL;
    }
    if (is_8021ad(fields, want) && g_atomic_int_get(&self->refuses_8021ad)) {
        refuse_8021ad(self, want->vf, error);
        return NULL;
    }
    vf_config_from(fields, want, &cfg);
    rc = vfsec_nl_build_vf_set(buf, sizeof(buf), (int)self->ifindex, NULL, &cfg);
    if (rc == 0)
        rc = linux_transact(self, buf, NULL, NULL);
    g_debug("PF %s: set VF %u (fields 0x%x): %s", self->base.label, want->vf, (guint)fields,
            rc < 0 ? g_strerror(-rc) : "ok");
    if (rc == -EPROTONOSUPPORT && is_8021ad(fields, want)) {
        /* caps.port_tag_8021ad follows in linux_set_vf_finish (main thread). */
        g_atomic_int_set(&self->refuses_8021ad, TRUE);
        refuse_8021ad(self, want->vf, error);
        return NULL;
    }
    if (rc < 0) {
        g_autofree char *why = kernel_reason(self, rc);

        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "setting VF %u of PF %s (%s) failed: %s", want->vf, self->base.label,
                    self->netdev, why);
        return NULL;
    }

    got = vf_read(self, want->vf, error);
    if (!got)
        return NULL;
    field = vf_mismatch(fields, want, got);
    if (field) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "VF %u of PF %s (%s, driver %s) did not take the %s it was set: the driver "
                    "ignores it",
                    want->vf, self->base.label, self->netdev,
                    self->pf->driver ? self->pf->driver : "unknown", field);
        return NULL;
    }

    applied = g_hash_table_lookup(self->applied, GUINT_TO_POINTER(want->vf));
    if (!applied) {
        applied = g_new0(Applied, 1);
        g_hash_table_insert(self->applied, GUINT_TO_POINTER(want->vf), applied);
    }
    applied->fields |= fields;
    if (fields & VFSEC_CONTRACT_SET_VF_PORT_TAG) {
        applied->vf.has_port_tag = want->has_port_tag;
        applied->vf.port_tag = want->port_tag;
    }
    if (fields & VFSEC_CONTRACT_SET_VF_TRUST)
        applied->vf.trust = want->trust;
    if (fields & VFSEC_CONTRACT_SET_VF_SPOOFCHK)
        applied->vf.spoofchk = want->spoofchk;
    if (fields & VFSEC_CONTRACT_SET_VF_MAC) {
        applied->vf.has_mac = want->has_mac;
        applied->vf.mac = want->mac;
    }
    applied->vf.vf = want->vf;
    return g_steal_pointer(&got);
}

/* ---- reclaim ----------------------------------------------------------- */

static gboolean
drivers_list_has(const char *const *list, const char *driver)
{
    return driver && g_strv_contains(list, driver);
}

/* VF drivers whose PCI reset_prepare stops the interface unconditionally:
 * on a closed netdev its napi_disable() waits forever for a NAPI that is
 * already disabled, and the sysfs reset write sits in the kernel (state D,
 * the VF's device lock held) for good. Measured in the nested tier on
 * Linux 6.12 (docs/nested.md). */
static const char *const reset_needs_up_drivers[] = {
    "igbvf",    /* igbvf_io_prepare -> igbvf_down -> napi_disable */
    NULL,
};

/* The name of the network device of VF @pci when it is bound to a driver
 * of reset_needs_up_drivers and closed (IFF_UP clear in its sysfs flags),
 * else NULL. Read at reclaim time: libvirt rebinds VFs at will. */
static char *
vf_closed_netdev(VfsecPluginLinux *self, const char *pci)
{
    g_autofree char *dev = g_build_filename(vfsec_topology_root(self->topo), "bus", "pci",
                                            "devices", pci, NULL);
    g_autofree char *drvlink = g_build_filename(dev, "driver", NULL);
    g_autofree char *netdir = g_build_filename(dev, "net", NULL);
    g_autofree char *target = g_file_read_link(drvlink, NULL);
    g_autofree char *driver = target ? g_path_get_basename(target) : NULL;
    g_autoptr(GDir) dir = NULL;
    const char *name;
    g_autofree char *flags_path = NULL;
    g_autofree char *flags = NULL;
    char *end = NULL;
    guint64 value;

    if (!drivers_list_has(reset_needs_up_drivers, driver))
        return NULL;
    dir = g_dir_open(netdir, 0, NULL);
    name = dir ? g_dir_read_name(dir) : NULL;
    if (!name)
        return NULL;
    flags_path = g_build_filename(netdir, name, "flags", NULL);
    /* sysfs writes it as "0x1003"; unreadable: assume open (the old path). */
    if (!g_file_get_contents(flags_path, &flags, NULL, NULL))
        return NULL;
    value = g_ascii_strtoull(flags, &end, 16);
    if (end == flags)
        return NULL;
    return (value & IFF_UP) ? NULL : g_strdup(name);
}

/* Sets network device @name up or down through the kernel seam. */
static gboolean
vf_netdev_set_up(VfsecPluginLinux *self, const char *name, gboolean up, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    int rc = vfsec_nl_build_link_set_up(buf, sizeof(buf), 0, name, up);

    if (rc == 0)
        rc = linux_transact(self, buf, NULL, NULL);
    g_debug("PF %s: VF netdev %s %s: %s", self->base.label, name, up ? "up" : "down",
            rc < 0 ? g_strerror(-rc) : "ok");
    if (rc < 0) {
        g_autofree char *why = kernel_reason(self, rc);

        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "setting VF netdev %s %s (PF %s) failed: %s", name, up ? "up" : "down",
                    self->base.label, why);
        return FALSE;
    }
    return TRUE;
}

/* Writes "1" to the VF's sysfs reset (a function-level reset). */
static gboolean
vf_reset_write(VfsecPluginLinux *self, guint vf, GError **error)
{
    const VfsecVfInfo *t = topo_vf(self, vf);
    char pci[VFSEC_PCI_ADDR_STRLEN];
    g_autofree char *path = NULL;
    int fd;
    ssize_t n;
    int err;

    if (!t) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND, "PF %s (%s) has no VF %u in sysfs",
                    self->base.label, self->netdev, vf);
        return FALSE;
    }
    vfsec_pci_addr_format(&t->vf_pci, pci);
    path = g_build_filename(vfsec_topology_root(self->topo), "bus", "pci", "devices", pci,
                            "reset", NULL);
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        /* The kernel offers `reset` only when the device has a reset method. */
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "VF %s (VF %u of PF %s) has no reset method", pci, vf, self->base.label);
        return FALSE;
    }
    if (fd < 0) {
        err = errno;
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot open %s: %s", path,
                    g_strerror(err));
        return FALSE;
    }
    n = write(fd, "1", 1);
    err = errno;
    close(fd);
    g_debug("PF %s: reset VF %u (%s): %s", self->base.label, vf, pci,
            n == 1 ? "ok" : g_strerror(err));
    if (n != 1) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "resetting VF %s through %s failed: %s",
                    pci, path, n < 0 ? g_strerror(err) : "short write");
        return FALSE;
    }
    return TRUE;
}

/* Resets VF @vf. A VF whose bound driver hangs resetting a closed netdev
 * (reset_needs_up_drivers) is opened for the reset and closed again after:
 * the host sees its VF netdev up for the reset's duration, instead of a
 * reset that never returns. The netdev up/down take the lock (the seam);
 * the reset write does not (see reclaim_thread). */
static gboolean
vf_reset(VfsecPluginLinux *self, guint vf, GError **error)
{
    const VfsecVfInfo *t = topo_vf(self, vf);
    char pci[VFSEC_PCI_ADDR_STRLEN];
    g_autofree char *closed = NULL;
    gboolean ok;

    if (t) {
        vfsec_pci_addr_format(&t->vf_pci, pci);
        closed = vf_closed_netdev(self, pci);
    }
    if (closed) {
        g_message("PF %s: VF %u (%s) is bound to a driver that hangs resetting a closed netdev: "
                  "opening %s for the reset", self->base.label, vf, pci, closed);
        g_mutex_lock(&self->lock);
        ok = vf_netdev_set_up(self, closed, TRUE, error);
        g_mutex_unlock(&self->lock);
        if (!ok)
            return FALSE;
    }
    ok = vf_reset_write(self, vf, error);
    if (closed) {
        g_mutex_lock(&self->lock);
        ok = vf_netdev_set_up(self, closed, FALSE, ok ? error : NULL) && ok;
        g_mutex_unlock(&self->lock);
    }
    return ok;
}

/* Re-reads VF @vf after a reset and re-applies what set_vf applied when the
 * reset lost some of it. */
static gboolean
vf_reverify(VfsecPluginLinux *self, guint vf, GError **error)
{
    Applied *applied = g_hash_table_lookup(self->applied, GUINT_TO_POINTER(vf));
    g_autoptr(VfsecContractVf) got = vf_read(self, vf, error);
    g_autoptr(VfsecContractVf) again = NULL;
    const char *field;

    if (!got)
        return FALSE;
    if (!applied)
        return TRUE;
    field = vf_mismatch(applied->fields, &applied->vf, got);
    if (!field)
        return TRUE;
    g_message("PF %s: VF %u lost its %s in the reset; setting it again", self->base.label, vf,
              field);
    again = vf_apply(self, applied->fields, &applied->vf, error);
    return again != NULL;
}

/* ---- Operations -------------------------------------------------------- */

static gboolean
linux_start(VfsecPluginLinux *self, GError **error)
{
    g_autoptr(VfsecLinkInfo) link = NULL;
    int mode;

    g_clear_pointer(&self->pf, vfsec_pf_info_free);
    self->pf = vfsec_topology_lookup_pf(self->topo, self->netdev, error);
    if (!self->pf)
        return FALSE;
    if (!self->transact && !self->nl) {
        self->nl = vfsec_netlink_new(-1, error);
        if (!self->nl)
            return FALSE;
    }
    self->ifindex = 0;
    link = pf_link_get(self, error);
    if (!link)
        return FALSE;
    self->ifindex = link->ifindex;

    self->base.port->port = 0;
    g_free(self->base.port->name);
    self->base.port->name = g_strdup(self->netdev);
    self->base.port->pf_pci = self->pf->pci;
    g_free(self->base.port->pf_netdev);
    self->base.port->pf_netdev = g_strdup(self->netdev);
    self->base.port->pf_mac = link->mac;
    self->base.port->num_vfs = link->num_vf ? link->num_vf : self->pf->numvfs;
    self->base.port->hairpin_capable = FALSE;  /* no agent hairpin vfsec can see */

    mode = pf_bridge_mode(self);
    self->base.caps.switch_mode = mode >= 0;
    self->base.port->switch_mode = mode == VFSEC_BRIDGE_MODE_VEPA ? VFSEC_CONTRACT_SWITCH_MODE_VEPA
                                                                  : VFSEC_CONTRACT_SWITCH_MODE_VEB;
    /* Unknown until tried: set_vf clears it on the kernel's EPROTONOSUPPORT. */
    self->base.caps.port_tag_8021ad = !g_atomic_int_get(&self->refuses_8021ad);
    self->base.caps.reclaims_sas = drivers_list_has(reclaiming_drivers, self->pf->driver);
    self->base.caps.local_macs = FALSE;
    self->base.caps.notifications = FALSE;
    g_debug("PF %s: %s, driver %s, ifindex %u, %u VFs", self->base.label, self->netdev,
            self->pf->driver ? self->pf->driver : "none", self->ifindex,
            self->base.port->num_vfs);
    return TRUE;
}

static GPtrArray *
linux_list(VfsecPluginLinux *self, GError **error)
{
    g_autoptr(VfsecLinkInfo) link = pf_link_get(self, error);
    GPtrArray *vfs;

    if (!link)
        return NULL;
    vfs = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_contract_vf_free);
    for (guint i = 0; i < link->vfs->len; i++)
        g_ptr_array_add(vfs, vf_from_kernel(self, &g_array_index(link->vfs, VfsecVfLinkInfo, i)));
    return vfs;
}

static gint
vf_cmp(gconstpointer a, gconstpointer b)
{
    const VfsecContractVf *x = *(VfsecContractVf *const *)a;
    const VfsecContractVf *y = *(VfsecContractVf *const *)b;

    return x->vf < y->vf ? -1 : x->vf > y->vf;
}

static gboolean
linux_switch_mode(VfsecPluginLinux *self, VfsecContractSwitchMode mode, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    VfsecBridgeMode bmode = mode == VFSEC_CONTRACT_SWITCH_MODE_VEPA ? VFSEC_BRIDGE_MODE_VEPA
                                                                   : VFSEC_BRIDGE_MODE_VEB;
    int rc = vfsec_nl_build_bridge_set_hwmode(buf, sizeof(buf), (int)self->ifindex, bmode);

    if (rc == 0)
        rc = linux_transact(self, buf, NULL, NULL);
    g_debug("PF %s: set bridge mode %s: %s", self->base.label, vfsec_bridge_mode_to_string(bmode),
            rc < 0 ? g_strerror(-rc) : "ok");
    if (rc == -EOPNOTSUPP) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "PF %s (%s, driver %s) cannot switch its embedded bridge to %s",
                    self->base.label, self->netdev,
                    self->pf->driver ? self->pf->driver : "unknown",
                    vfsec_bridge_mode_to_string(bmode));
        return FALSE;
    }
    if (rc < 0) {
        g_autofree char *why = kernel_reason(self, rc);

        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "setting bridge mode %s on PF %s (%s) failed: %s",
                    vfsec_bridge_mode_to_string(bmode), self->base.label, self->netdev, why);
        return FALSE;
    }
    return TRUE;  /* port->switch_mode follows in the finish (main thread) */
}

/* Every operation: a GTask completed on the caller's context. */
static GTask *
linux_task(gpointer tag, GCancellable *cancellable, GAsyncReadyCallback callback,
           gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);

    g_task_set_source_tag(task, tag);
    return task;
}

static void
task_return_bool(GTask *task, gboolean ok, GError *error)
{
    if (ok)
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

static void
task_return_pointer(GTask *task, gpointer ptr, GDestroyNotify destroy, GError *error)
{
    if (ptr)
        g_task_return_pointer(task, ptr, destroy);
    else
        g_task_return_error(task, error);
}

/* FALSE with the error on @task (and @task unreffed) when start has not
 * succeeded. */
static gboolean
linux_ready(VfsecPluginLinux *self, GTask *task)
{
    if (self->ifindex)
        return TRUE;
    g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO, "PF %s (%s) is not started",
                            self->base.label, self->netdev);
    g_object_unref(task);
    return FALSE;
}

/* ---- Worker-thread operations ------------------------------------------ */

/* One operation's arguments, the task data of a worker. */
typedef struct {
    VfsecPluginLinux *self;         /* a reference */
    VfsecContractSetVfFields fields;
    VfsecContractVf want;           /* netdev unused (NULL) */
    guint vf;
    VfsecContractSwitchMode mode;
} LinuxOp;

static void linux_unref(VfsecPluginLinux *self);

static void
linux_op_free(LinuxOp *op)
{
    linux_unref(op->self);
    g_free(op);
}

/* Runs @func on @task in the thread pool with @op as its data; takes @task. */
static void
linux_run(VfsecPluginLinux *self, GTask *task, LinuxOp *op, GTaskThreadFunc func)
{
    op->self = g_atomic_rc_box_acquire(self);
    g_task_set_task_data(task, op, (GDestroyNotify)linux_op_free);
    g_task_run_in_thread(task, func);
    g_object_unref(task);
}

static LinuxOp *
linux_op_new(void)
{
    return g_new0(LinuxOp, 1);
}

static void
list_vfs_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    LinuxOp *op = data;
    GError *error = NULL;
    GPtrArray *vfs;

    g_mutex_lock(&op->self->lock);
    vfs = linux_list(op->self, &error);
    g_mutex_unlock(&op->self->lock);
    if (vfs)
        g_ptr_array_sort(vfs, vf_cmp);
    task_return_pointer(task, vfs, (GDestroyNotify)g_ptr_array_unref, error);
}

static void
set_vf_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    LinuxOp *op = data;
    GError *error = NULL;
    VfsecContractVf *vf;

    g_mutex_lock(&op->self->lock);
    vf = vf_apply(op->self, op->fields, &op->want, &error);
    g_mutex_unlock(&op->self->lock);
    task_return_pointer(task, vf, (GDestroyNotify)vfsec_contract_vf_free, error);
}

static void
reclaim_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    LinuxOp *op = data;
    GError *error = NULL;
    gboolean ok;

    /* The reset touches no shared state: outside the lock, so a reset the
     * kernel sits on holds up this VF only. */
    ok = vf_reset(op->self, op->vf, &error);
    if (ok) {
        g_mutex_lock(&op->self->lock);
        ok = vf_reverify(op->self, op->vf, &error);
        g_mutex_unlock(&op->self->lock);
    }
    task_return_bool(task, ok, error);
}

static void
switch_mode_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    LinuxOp *op = data;
    GError *error = NULL;
    gboolean ok;

    g_mutex_lock(&op->self->lock);
    ok = linux_switch_mode(op->self, op->mode, &error);
    g_mutex_unlock(&op->self->lock);
    task_return_bool(task, ok, error);
}

/* ---- Operations -------------------------------------------------------- */

static void
linux_start_async(VfsecPlugin *plugin, GCancellable *cancellable, GAsyncReadyCallback callback,
                  gpointer user_data)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;
    GTask *task = linux_task(linux_start_async, cancellable, callback, user_data);
    GError *error = NULL;
    gboolean ok;

    /* Before any worker exists: nothing else touches the seam yet. */
    g_mutex_lock(&self->lock);
    ok = linux_start(self, &error);
    g_mutex_unlock(&self->lock);
    task_return_bool(task, ok, error);
    g_object_unref(task);
}

static gboolean
linux_bool_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

static gpointer
linux_pointer_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
linux_list_vfs_async(VfsecPlugin *plugin, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;
    GTask *task = linux_task(linux_list_vfs_async, cancellable, callback, user_data);

    if (linux_ready(self, task))
        linux_run(self, task, linux_op_new(), list_vfs_thread);
}

static GPtrArray *
linux_list_vfs_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return linux_pointer_finish(result, error);
}

static void
linux_set_vf_async(VfsecPlugin *plugin, VfsecContractSetVfFields fields,
                   const VfsecContractVf *want, GCancellable *cancellable,
                   GAsyncReadyCallback callback, gpointer user_data)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;
    GTask *task = linux_task(linux_set_vf_async, cancellable, callback, user_data);
    LinuxOp *op;

    if (!linux_ready(self, task))
        return;
    op = linux_op_new();
    op->fields = fields;
    op->want = *want;
    op->want.netdev = NULL;     /* the caller's string: not the worker's */
    linux_run(self, task, op, set_vf_thread);
}

static VfsecContractVf *
linux_set_vf_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;

    /* What the worker learnt, in the caps the main thread reads. */
    if (g_atomic_int_get(&self->refuses_8021ad))
        self->base.caps.port_tag_8021ad = FALSE;
    return linux_pointer_finish(result, error);
}

static void
linux_reclaim_vf_async(VfsecPlugin *plugin, guint vf, guint timeout_ms,
                       GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;
    GTask *task = linux_task(linux_reclaim_vf_async, cancellable, callback, user_data);
    LinuxOp *op;

    if (!linux_ready(self, task))
        return;
    op = linux_op_new();
    op->vf = vf;
    linux_run(self, task, op, reclaim_thread);
}

static gboolean
linux_reclaim_vf_finish(VfsecPlugin *plugin, GAsyncResult *result, VfsecContractReclaim *out,
                        GError **error)
{
    if (!g_task_propagate_boolean(G_TASK(result), error))
        return FALSE;
    if (out)
        *out = (VfsecContractReclaim){ .removed = 0, .failed = 0, .remaining = 0 };
    return TRUE;
}

static void
linux_get_macs_async(VfsecPlugin *plugin, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;
    GTask *task = linux_task(linux_get_macs_async, cancellable, callback, user_data);

    task_return_pointer(task, vfsec_plugin_mac_table_copy(self->macs),
                        (GDestroyNotify)vfsec_contract_mac_table_free, NULL);
    g_object_unref(task);
}

static VfsecContractMacTable *
linux_get_macs_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    return linux_pointer_finish(result, error);
}

static void
linux_set_macs_async(VfsecPlugin *plugin, const VfsecContractMacTable *table,
                     GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;
    GTask *task = linux_task(linux_set_macs_async, cancellable, callback, user_data);
    guint64 *generation;

    if (table->generation != self->macs->generation) {
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                                "local-MAC table of PF %s is at generation %" G_GUINT64_FORMAT
                                ", not %" G_GUINT64_FORMAT,
                                self->base.label, self->macs->generation, table->generation);
        g_object_unref(task);
        return;
    }
    vfsec_contract_mac_table_free(self->macs);
    self->macs = vfsec_plugin_mac_table_copy(table);
    self->macs->generation = table->generation + 1;
    generation = g_new(guint64, 1);
    *generation = self->macs->generation;
    task_return_pointer(task, generation, g_free, NULL);
    g_object_unref(task);
}

static gboolean
linux_set_macs_finish(VfsecPlugin *plugin, GAsyncResult *result, guint64 *generation,
                      GError **error)
{
    g_autofree guint64 *gen = linux_pointer_finish(result, error);

    if (!gen)
        return FALSE;
    if (generation)
        *generation = *gen;
    return TRUE;
}

static void
linux_set_switch_mode_async(VfsecPlugin *plugin, VfsecContractSwitchMode mode,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;
    GTask *task = linux_task(linux_set_switch_mode_async, cancellable, callback, user_data);
    LinuxOp *op;

    if (!linux_ready(self, task))
        return;
    op = linux_op_new();
    op->mode = mode;
    linux_run(self, task, op, switch_mode_thread);
}

static gboolean
linux_set_switch_mode_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    LinuxOp *op = g_task_get_task_data(G_TASK(result));

    if (!g_task_propagate_boolean(G_TASK(result), error))
        return FALSE;
    plugin->port->switch_mode = op->mode;
    return TRUE;
}

static void
linux_clear(VfsecPluginLinux *self)
{
    g_free(self->netdev);
    vfsec_topology_free(self->topo);
    vfsec_pf_info_free(self->pf);
    vfsec_netlink_free(self->nl);
    g_hash_table_unref(self->applied);
    vfsec_contract_mac_table_free(self->macs);
    vfsec_plugin_base_clear(&self->base);
    g_mutex_clear(&self->lock);
}

/* The last reference (the owner's or a worker's) frees the plugin. */
static void
linux_unref(VfsecPluginLinux *self)
{
    g_atomic_rc_box_release_full(self, (GDestroyNotify)linux_clear);
}

static void
linux_free(VfsecPlugin *plugin)
{
    linux_unref((VfsecPluginLinux *)plugin);
}

static const VfsecPluginOps linux_ops = {
    .kind = "linux",
    .free = linux_free,
    .start_async = linux_start_async,
    .start_finish = linux_bool_finish,
    .list_vfs_async = linux_list_vfs_async,
    .list_vfs_finish = linux_list_vfs_finish,
    .set_vf_async = linux_set_vf_async,
    .set_vf_finish = linux_set_vf_finish,
    .reclaim_vf_async = linux_reclaim_vf_async,
    .reclaim_vf_finish = linux_reclaim_vf_finish,
    .get_macs_async = linux_get_macs_async,
    .get_macs_finish = linux_get_macs_finish,
    .set_macs_async = linux_set_macs_async,
    .set_macs_finish = linux_set_macs_finish,
    .set_switch_mode_async = linux_set_switch_mode_async,
    .set_switch_mode_finish = linux_set_switch_mode_finish,
};

VfsecPlugin *
vfsec_plugin_linux_new(const VfsecConfPf *pf, const char *sysfs_root, GError **error)
{
    VfsecPluginLinux *self;

    if (!pf->netdev) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "PF %s names no netdev", pf->label);
        return NULL;
    }
    self = g_atomic_rc_box_new0(VfsecPluginLinux);
    g_mutex_init(&self->lock);
    vfsec_plugin_base_init(&self->base, &linux_ops, pf->label);
    self->netdev = g_strdup(pf->netdev);
    self->topo = vfsec_topology_new(sysfs_root);
    self->applied = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    self->macs = vfsec_contract_mac_table_new(0);
    return &self->base;
}

void
vfsec_plugin_linux_set_transact(VfsecPlugin *plugin, VfsecPluginLinuxTransactFunc func,
                                gpointer user_data)
{
    VfsecPluginLinux *self = (VfsecPluginLinux *)plugin;

    g_return_if_fail(g_str_equal(plugin->ops->kind, "linux"));
    self->transact = func;
    self->transact_data = user_data;
}
