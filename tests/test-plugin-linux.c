/* test-plugin-linux.c: the linux PF plugin against fake sysfs trees and a
 * fake kernel behind its netlink seam (no root, no socket). The fake keeps a
 * model of the PF's VFs, answers RTM_GETLINK from it and applies RTM_SETLINK
 * to it; assertions parse the requests the plugin built with the netlink
 * unit's parser. */
#include "vfsec-netlink.h"  /* first: it orders net/if.h before linux/ headers */

#include <errno.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfsec-plugin.h"
#include "vfsec-test-util.h"

#define PF_IFINDEX 7

typedef struct {
    GArray *vfs;                /* VfsecVfLinkInfo: the kernel's model */
    VfsecMac pf_mac;
    GPtrArray *sent;            /* GBytes: every request, as built */
    gboolean refuse_8021ad;     /* EPROTONOSUPPORT for an 802.1ad VLAN (igb) */
    gboolean ignore_trust;      /* accepts trust and keeps it on (a quirk) */
    int bridge_mode;            /* -1: the driver reports none */
    int bridge_set_rc;
    guint netdev_ups;           /* link set-up / set-down requests taken */
    guint netdev_downs;
} FakeKernel;

typedef struct {
    FakeKernel kernel;
    char *root;                 /* writable copy of a sysfs tree, or NULL */
    VfsecPlugin *plugin;
} Fixture;

/* ---- The fake kernel --------------------------------------------------- */

/* The request parsed as a link message (the parser takes RTM_NEWLINK only). */
static VfsecLinkInfo *
parse_request(GBytes *req)
{
    gsize len;
    const guint8 *data = g_bytes_get_data(req, &len);
    g_autofree struct nlmsghdr *copy = g_memdup2(data, len);
    VfsecLinkInfo *info = NULL;

    copy->nlmsg_type = RTM_NEWLINK;
    g_assert_cmpint(vfsec_link_info_parse(copy, len, &info), ==, 0);
    return info;
}

static int
vf_attr_presence_cb(const struct nlattr *attr, void *data)
{
    guint *present = data;

    *present |= 1u << mnl_attr_get_type(attr);
    return MNL_CB_OK;
}

static int
vf_info_presence_cb(const struct nlattr *attr, void *data)
{
    if (mnl_attr_get_type(attr) == IFLA_VF_INFO)
        mnl_attr_parse_nested(attr, vf_attr_presence_cb, data);
    return MNL_CB_OK;
}

static int
link_presence_cb(const struct nlattr *attr, void *data)
{
    if (mnl_attr_get_type(attr) == IFLA_VFINFO_LIST)
        mnl_attr_parse_nested(attr, vf_info_presence_cb, data);
    return MNL_CB_OK;
}

/* Bit (1 << IFLA_VF_*) for every VF attribute the request carries. */
static guint
vf_attrs_present(const struct nlmsghdr *nlh)
{
    guint present = 0;

    mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_presence_cb, &present);
    return present;
}

static int
fake_vf_set(FakeKernel *k, const struct nlmsghdr *nlh, GBytes *req)
{
    g_autoptr(VfsecLinkInfo) info = parse_request(req);
    guint present = vf_attrs_present(nlh);
    const VfsecVfLinkInfo *want;
    VfsecVfLinkInfo *vf;

    g_assert_cmpuint(info->ifindex, ==, PF_IFINDEX);
    g_assert_cmpuint(info->vfs->len, ==, 1);
    want = &g_array_index(info->vfs, VfsecVfLinkInfo, 0);
    if (want->vf >= k->vfs->len)
        return -EINVAL;
    if ((present & (1u << IFLA_VF_VLAN_LIST)) && k->refuse_8021ad &&
        want->vlan_proto == ETH_P_8021AD)
        return -EPROTONOSUPPORT;
    vf = &g_array_index(k->vfs, VfsecVfLinkInfo, want->vf);
    if (present & (1u << IFLA_VF_MAC))
        vf->mac = want->mac;
    if (present & (1u << IFLA_VF_VLAN_LIST)) {
        vf->vlan = want->vlan;
        vf->qos = want->qos;
        vf->vlan_proto = want->vlan_proto;
    }
    if (want->spoofchk >= 0)
        vf->spoofchk = want->spoofchk;
    if (want->trust >= 0)
        vf->trust = k->ignore_trust ? 1 : want->trust;
    return 0;
}

static int
fake_reply_link(FakeKernel *k, VfsecPluginLinuxReplyFunc func, gpointer data)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    struct nlattr *list;

    nlh->nlmsg_type = RTM_NEWLINK;
    ifi->ifi_index = PF_IFINDEX;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, "pf0");
    mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(k->pf_mac.b), k->pf_mac.b);
    mnl_attr_put_u32(nlh, IFLA_NUM_VF, k->vfs->len);
    list = mnl_attr_nest_start(nlh, IFLA_VFINFO_LIST);
    for (guint i = 0; i < k->vfs->len; i++) {
        const VfsecVfLinkInfo *vf = &g_array_index(k->vfs, VfsecVfLinkInfo, i);
        struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_VF_INFO);
        struct nlattr *vlans;
        struct ifla_vf_mac m = { .vf = i };
        struct ifla_vf_vlan_info v = { .vf = i, .vlan = vf->vlan, .qos = vf->qos,
                                       .vlan_proto = htons(vf->vlan_proto) };
        struct ifla_vf_spoofchk s = { .vf = i, .setting = (guint32)vf->spoofchk };
        struct ifla_vf_trust t = { .vf = i, .setting = (guint32)vf->trust };

        memcpy(m.mac, vf->mac.b, sizeof(vf->mac.b));
        mnl_attr_put(nlh, IFLA_VF_MAC, sizeof(m), &m);
        vlans = mnl_attr_nest_start(nlh, IFLA_VF_VLAN_LIST);
        mnl_attr_put(nlh, IFLA_VF_VLAN_INFO, sizeof(v), &v);
        mnl_attr_nest_end(nlh, vlans);
        mnl_attr_put(nlh, IFLA_VF_SPOOFCHK, sizeof(s), &s);
        mnl_attr_put(nlh, IFLA_VF_TRUST, sizeof(t), &t);
        mnl_attr_nest_end(nlh, info);
    }
    mnl_attr_nest_end(nlh, list);
    return func(nlh, nlh->nlmsg_len, data);
}

static int
fake_reply_bridge(FakeKernel *k, VfsecPluginLinuxReplyFunc func, gpointer data)
{
    guint8 buf[512];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    struct nlattr *af;

    if (k->bridge_mode < 0)
        return 0;
    nlh->nlmsg_type = RTM_NEWLINK;
    ifi->ifi_family = AF_BRIDGE;
    ifi->ifi_index = PF_IFINDEX;
    af = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
    mnl_attr_put_u16(nlh, IFLA_BRIDGE_MODE,
                     k->bridge_mode == VFSEC_BRIDGE_MODE_VEPA ? BRIDGE_MODE_VEPA
                                                              : BRIDGE_MODE_VEB);
    mnl_attr_nest_end(nlh, af);
    return func(nlh, nlh->nlmsg_len, data);
}

static int
fake_transact(struct nlmsghdr *nlh, VfsecPluginLinuxReplyFunc func, gpointer reply_data,
              gpointer user_data)
{
    FakeKernel *k = user_data;
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    GBytes *req = g_bytes_new(nlh, nlh->nlmsg_len);

    g_ptr_array_add(k->sent, req);
    if (nlh->nlmsg_type == RTM_GETLINK && ifi->ifi_family == AF_BRIDGE)
        return fake_reply_bridge(k, func, reply_data);
    if (nlh->nlmsg_type == RTM_GETLINK)
        return fake_reply_link(k, func, reply_data);
    if (nlh->nlmsg_type == RTM_SETLINK && ifi->ifi_family == AF_BRIDGE) {
        g_autoptr(VfsecLinkInfo) info = parse_request(req);

        if (k->bridge_set_rc < 0)
            return k->bridge_set_rc;
        k->bridge_mode = info->bridge_mode;
        return 0;
    }
    if (nlh->nlmsg_type == RTM_SETLINK && ifi->ifi_change == IFF_UP) {
        if (ifi->ifi_flags & IFF_UP)
            k->netdev_ups++;
        else
            k->netdev_downs++;
        return 0;
    }
    if (nlh->nlmsg_type == RTM_SETLINK)
        return fake_vf_set(k, nlh, req);
    return -EOPNOTSUPP;
}

/* ---- Fixture ----------------------------------------------------------- */

static void
kernel_init(FakeKernel *k, guint n_vfs)
{
    VfsecMac pf = { { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 } };

    k->vfs = g_array_new(FALSE, TRUE, sizeof(VfsecVfLinkInfo));
    for (guint i = 0; i < n_vfs; i++) {
        VfsecVfLinkInfo vf = { .vf = i, .vlan_proto = ETH_P_8021Q, .trust = 0, .spoofchk = 1 };

        g_array_append_val(k->vfs, vf);
    }
    k->pf_mac = pf;
    k->sent = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    k->bridge_mode = VFSEC_BRIDGE_MODE_VEB;
}

/* A plugin, not started, for PF @netdev of sysfs tree @tree (copied when
 * @writable) over a fake kernel with two VFs. */
static Fixture *
fixture_open(const char *tree, const char *netdev, gboolean writable)
{
    Fixture *fx = g_new0(Fixture, 1);
    g_autofree char *src = g_build_filename(vfsec_test_env("VFSEC_TEST_DATA"), "sysfs", tree,
                                            NULL);
    VfsecConfPf pf = { .label = (char *)"p0", .plugin = VFSEC_PLUGIN_LINUX,
                       .netdev = (char *)netdev };
    g_autoptr(GError) error = NULL;

    kernel_init(&fx->kernel, 2);
    if (writable) {
        const char *argv[] = { "cp", "-a", src, NULL, NULL };

        fx->root = vfsec_test_make_dir("plugin-linux");
        argv[3] = fx->root;
        g_assert_cmpint(vfsec_test_run(argv, NULL, NULL), ==, 0);
        g_free(src);
        src = g_build_filename(fx->root, tree, NULL);
    }
    fx->plugin = vfsec_plugin_new(&pf, src, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(fx->plugin->ops->kind, ==, "linux");
    vfsec_plugin_linux_set_transact(fx->plugin, fake_transact, &fx->kernel);
    return fx;
}

static gboolean
fixture_start(Fixture *fx, GError **error)
{
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_start_async(fx->plugin, NULL, vfsec_test_async_cb, &w);
    return vfsec_plugin_start_finish(fx->plugin, vfsec_test_async_wait(NULL, &w), error);
}

/* fixture_open(), started. */
static Fixture *
fixture_new(const char *tree, const char *netdev, gboolean writable)
{
    Fixture *fx = fixture_open(tree, netdev, writable);
    g_autoptr(GError) error = NULL;

    g_assert_true(fixture_start(fx, &error));
    g_assert_no_error(error);
    return fx;
}

static void
fixture_free(Fixture *fx)
{
    vfsec_plugin_free(fx->plugin);
    if (fx->root) {
        const char *argv[] = { "rm", "-rf", fx->root, NULL };

        g_assert_cmpint(vfsec_test_run(argv, NULL, NULL), ==, 0);
        g_free(fx->root);
    }
    g_array_unref(fx->kernel.vfs);
    g_ptr_array_unref(fx->kernel.sent);
    g_free(fx);
}

static VfsecContractVf *
set_vf(Fixture *fx, VfsecContractSetVfFields fields, const VfsecContractVf *want, GError **error)
{
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_set_vf_async(fx->plugin, fields, want, NULL, vfsec_test_async_cb, &w);
    return vfsec_plugin_set_vf_finish(fx->plugin, vfsec_test_async_wait(NULL, &w), error);
}

static gboolean
reclaim(Fixture *fx, guint vf, GError **error)
{
    g_auto(VfsecTestAsync) w = { 0 };
    VfsecContractReclaim out = { 1, 1, 1 };
    gboolean ok;

    vfsec_plugin_reclaim_vf_async(fx->plugin, vf, 2000, NULL, vfsec_test_async_cb, &w);
    ok = vfsec_plugin_reclaim_vf_finish(fx->plugin, vfsec_test_async_wait(NULL, &w), &out, error);
    if (ok) {
        g_assert_cmpuint(out.removed, ==, 0);
        g_assert_cmpuint(out.failed, ==, 0);
        g_assert_cmpuint(out.remaining, ==, 0);
    }
    return ok;
}

/* The quarantine vfsecd asks for: 802.1Q VID 4092 qos 0, trust off,
 * spoofchk on, a MAC. */
static void
quarantine(VfsecContractVf *want, guint vf)
{
    VfsecMac mac = { { 0x02, 0x00, 0x00, 0x00, 0x10, (guint8)vf } };

    memset(want, 0, sizeof(*want));
    want->vf = vf;
    want->has_port_tag = TRUE;
    want->port_tag.tpid = VFSEC_CONTRACT_TPID_8021Q;
    want->port_tag.vid = 4092;
    want->trust = FALSE;
    want->spoofchk = TRUE;
    want->has_mac = TRUE;
    want->mac = mac;
}

static GBytes *
sent(Fixture *fx, guint from_end)
{
    g_assert_cmpuint(fx->kernel.sent->len, >, from_end);
    return g_ptr_array_index(fx->kernel.sent, fx->kernel.sent->len - 1 - from_end);
}

static guint16
sent_type(GBytes *req)
{
    return ((const struct nlmsghdr *)g_bytes_get_data(req, NULL))->nlmsg_type;
}

/* ---- Tests ------------------------------------------------------------- */

typedef struct {
    const char *tree;
    const char *netdev;
    const char *pci;
    guint num_vfs;
    gboolean reclaims_sas;
} StartCase;

static const StartCase start_cases[] = {
    { "igb", "enp1s0", "0000:01:00.0", 2, TRUE },
    { "i40e", "ens1f0", "0000:3b:00.0", 2, TRUE },
    { "ixgbe", "enp4s0f0", "0000:04:00.0", 2, TRUE },
    { "ice", "ens2f0", "0000:af:00.0", 2, FALSE },
};

static void
test_start(gconstpointer data)
{
    const StartCase *c = data;
    Fixture *fx = fixture_new(c->tree, c->netdev, FALSE);
    char pci[VFSEC_PCI_ADDR_STRLEN];

    g_assert_cmpstr(vfsec_pci_addr_format(&fx->plugin->port->pf_pci, pci), ==, c->pci);
    g_assert_cmpstr(fx->plugin->port->pf_netdev, ==, c->netdev);
    g_assert_true(vfsec_mac_equal(&fx->plugin->port->pf_mac, &fx->kernel.pf_mac));
    g_assert_cmpuint(fx->plugin->port->num_vfs, ==, c->num_vfs);
    g_assert_cmpint(fx->plugin->port->switch_mode, ==, VFSEC_CONTRACT_SWITCH_MODE_VEB);
    g_assert_cmpint(fx->plugin->caps.reclaims_sas, ==, c->reclaims_sas);
    g_assert_true(fx->plugin->caps.switch_mode);
    g_assert_true(fx->plugin->caps.port_tag_8021ad);  /* unknown until tried */
    g_assert_false(fx->plugin->caps.local_macs);
    g_assert_false(fx->plugin->caps.notifications);
    fixture_free(fx);
}

static void
test_start_errors(void)
{
    Fixture *fx = fixture_open("igb", "nosuch0", FALSE);
    g_autofree char *root = g_build_filename(vfsec_test_env("VFSEC_TEST_DATA"), "sysfs", "igb",
                                             NULL);
    VfsecConfPf pf = { .label = (char *)"p0", .plugin = VFSEC_PLUGIN_LINUX };
    g_autoptr(GError) error = NULL;
    g_auto(VfsecTestAsync) w = { 0 };

    g_assert_false(fixture_start(fx, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "nosuch0"));
    g_clear_error(&error);

    /* Operations before a successful start fail at once. */
    vfsec_plugin_list_vfs_async(fx->plugin, NULL, vfsec_test_async_cb, &w);
    vfsec_test_async_wait(NULL, &w);
    g_assert_null(vfsec_plugin_list_vfs_finish(fx->plugin, w.result, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    vfsec_test_async_clear(&w);  /* before fixture_free() frees the plugin */
    g_clear_error(&error);
    fixture_free(fx);

    /* A linux PF without a netdev is refused at creation. */
    g_assert_null(vfsec_plugin_new(&pf, root, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
}

static void
test_list_vfs(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", FALSE);
    VfsecVfLinkInfo *k1 = &g_array_index(fx->kernel.vfs, VfsecVfLinkInfo, 1);
    g_autoptr(GPtrArray) vfs = NULL;
    g_autoptr(GError) error = NULL;
    const VfsecContractVf *vf;
    char pci[VFSEC_PCI_ADDR_STRLEN];
    g_auto(VfsecTestAsync) w = { 0 };

    k1->vlan = 4092;
    k1->qos = 3;
    k1->vlan_proto = ETH_P_8021AD;
    k1->trust = -1;  /* a driver that does not report it */
    vfsec_plugin_list_vfs_async(fx->plugin, NULL, vfsec_test_async_cb, &w);
    vfs = vfsec_plugin_list_vfs_finish(fx->plugin, vfsec_test_async_wait(NULL, &w), &error);
    vfsec_test_async_clear(&w);  /* before fixture_free() frees the plugin */
    g_assert_no_error(error);
    g_assert_cmpuint(vfs->len, ==, 2);

    vf = g_ptr_array_index(vfs, 0);
    g_assert_cmpuint(vf->vf, ==, 0);
    g_assert_cmpstr(vfsec_pci_addr_format(&vf->pci, pci), ==, "0000:01:10.0");
    g_assert_cmpstr(vf->netdev, ==, "enp1s16");
    g_assert_false(vf->has_port_tag);
    g_assert_false(vf->has_mac);
    g_assert_true(vf->spoofchk);
    g_assert_cmpuint(vf->sa_count, ==, 0);

    vf = g_ptr_array_index(vfs, 1);
    g_assert_cmpstr(vfsec_pci_addr_format(&vf->pci, pci), ==, "0000:01:10.2");
    g_assert_cmpstr(vf->netdev, ==, "enp1s16f2");
    g_assert_true(vf->has_port_tag);
    g_assert_cmpuint(vf->port_tag.tpid, ==, VFSEC_CONTRACT_TPID_8021AD);
    g_assert_cmpuint(vf->port_tag.vid, ==, 4092);
    g_assert_cmpuint(vf->port_tag.pcp, ==, 3);
    g_assert_false(vf->trust);
    fixture_free(fx);
}

static void
test_set_vf_quarantine(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", FALSE);
    g_autoptr(VfsecContractVf) got = NULL;
    g_autoptr(VfsecLinkInfo) req = NULL;
    g_autoptr(GError) error = NULL;
    const VfsecVfLinkInfo *r;
    VfsecContractVf want;
    guint before;

    quarantine(&want, 1);
    g_array_index(fx->kernel.vfs, VfsecVfLinkInfo, 1).trust = 1;
    before = fx->kernel.sent->len;
    got = set_vf(fx, VFSEC_CONTRACT_SET_VF_ALL, &want, &error);
    g_assert_no_error(error);

    /* One RTM_SETLINK, then a read-back. */
    g_assert_cmpuint(fx->kernel.sent->len, ==, before + 2);
    g_assert_cmpuint(sent_type(sent(fx, 1)), ==, RTM_SETLINK);
    g_assert_cmpuint(sent_type(sent(fx, 0)), ==, RTM_GETLINK);
    req = parse_request(sent(fx, 1));
    g_assert_cmpuint(req->ifindex, ==, PF_IFINDEX);
    g_assert_cmpuint(req->vfs->len, ==, 1);
    r = &g_array_index(req->vfs, VfsecVfLinkInfo, 0);
    g_assert_cmpuint(r->vf, ==, 1);
    g_assert_cmpuint(r->vlan, ==, 4092);
    g_assert_cmpuint(r->qos, ==, 0);
    g_assert_cmphex(r->vlan_proto, ==, ETH_P_8021Q);
    g_assert_cmpint(r->trust, ==, 0);
    g_assert_cmpint(r->spoofchk, ==, 1);
    g_assert_true(vfsec_mac_equal(&r->mac, &want.mac));

    g_assert_cmpuint(got->vf, ==, 1);
    g_assert_true(got->has_port_tag);
    g_assert_cmpuint(got->port_tag.vid, ==, 4092);
    g_assert_false(got->trust);
    g_assert_true(got->spoofchk);
    g_assert_true(vfsec_mac_equal(&got->mac, &want.mac));
    g_assert_cmpstr(got->netdev, ==, "enp1s16f2");
    fixture_free(fx);
}

static void
test_set_vf_subset(void)
{
    Fixture *fx = fixture_new("i40e", "ens1f0", FALSE);
    g_autoptr(VfsecContractVf) got = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractVf want;
    guint present;

    quarantine(&want, 0);
    want.trust = TRUE;
    got = set_vf(fx, VFSEC_CONTRACT_SET_VF_TRUST, &want, &error);
    g_assert_no_error(error);
    present = vf_attrs_present(g_bytes_get_data(sent(fx, 1), NULL));
    g_assert_cmphex(present, ==, 1u << IFLA_VF_TRUST);
    g_assert_true(got->trust);
    g_assert_false(got->has_port_tag);  /* untouched */

    /* No field at all is refused before the kernel sees anything. */
    g_assert_null(set_vf(fx, 0, &want, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    fixture_free(fx);
}

static void
test_set_vf_readback_mismatch(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", FALSE);
    g_autoptr(GError) error = NULL;
    VfsecContractVf want;

    fx->kernel.ignore_trust = TRUE;
    quarantine(&want, 0);
    g_assert_null(set_vf(fx, VFSEC_CONTRACT_SET_VF_ALL, &want, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(error->message, "trust"));
    g_assert_nonnull(strstr(error->message, "igb"));
    fixture_free(fx);
}

static void
test_set_vf_8021ad_refused(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", FALSE);
    g_autoptr(GError) error = NULL;
    VfsecContractVf want;
    guint before;

    fx->kernel.refuse_8021ad = TRUE;
    quarantine(&want, 0);
    want.port_tag.tpid = VFSEC_CONTRACT_TPID_8021AD;
    g_assert_null(set_vf(fx, VFSEC_CONTRACT_SET_VF_ALL, &want, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(error->message, "802.1ad"));
    g_assert_false(fx->plugin->caps.port_tag_8021ad);
    g_clear_error(&error);

    /* Recorded: the next 802.1ad request does not reach the kernel. */
    before = fx->kernel.sent->len;
    g_assert_null(set_vf(fx, VFSEC_CONTRACT_SET_VF_PORT_TAG, &want, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_cmpuint(fx->kernel.sent->len, ==, before);
    g_clear_error(&error);

    /* The engine's fallback, 802.1Q, goes through. */
    want.port_tag.tpid = VFSEC_CONTRACT_TPID_8021Q;
    g_autoptr(VfsecContractVf) got = set_vf(fx, VFSEC_CONTRACT_SET_VF_ALL, &want, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(got->port_tag.tpid, ==, VFSEC_CONTRACT_TPID_8021Q);
    fixture_free(fx);
}

static char *
reset_path(Fixture *fx, const char *tree, const char *pci)
{
    return g_build_filename(fx->root, tree, "bus", "pci", "devices", pci, "reset", NULL);
}

static void
test_reclaim(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", TRUE);
    g_autofree char *reset = reset_path(fx, "igb", "0000:01:10.2");
    g_autofree char *written = NULL;
    g_autoptr(VfsecLinkInfo) req = NULL;
    g_autoptr(VfsecContractVf) got = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractVf want;
    VfsecVfLinkInfo *k1 = &g_array_index(fx->kernel.vfs, VfsecVfLinkInfo, 1);
    guint before;

    g_assert_true(g_file_set_contents(reset, "", 0, NULL));
    quarantine(&want, 1);
    got = set_vf(fx, VFSEC_CONTRACT_SET_VF_ALL, &want, &error);
    g_assert_no_error(error);

    /* The quarantine held: the reset file is written, the VF read, no set. */
    before = fx->kernel.sent->len;
    g_assert_true(reclaim(fx, 1, &error));
    g_assert_no_error(error);
    g_assert_true(g_file_get_contents(reset, &written, NULL, NULL));
    g_assert_cmpstr(written, ==, "1");
    g_assert_cmpuint(fx->kernel.sent->len, ==, before + 1);
    g_assert_cmpuint(sent_type(sent(fx, 0)), ==, RTM_GETLINK);

    /* The reset lost the port VLAN and trust: set again and read back. */
    k1->vlan = 0;
    k1->trust = 1;
    before = fx->kernel.sent->len;
    g_assert_true(reclaim(fx, 1, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(fx->kernel.sent->len, ==, before + 3);
    g_assert_cmpuint(sent_type(sent(fx, 1)), ==, RTM_SETLINK);
    req = parse_request(sent(fx, 1));
    g_assert_cmpuint(g_array_index(req->vfs, VfsecVfLinkInfo, 0).vlan, ==, 4092);
    g_assert_cmpuint(k1->vlan, ==, 4092);
    g_assert_cmpint(k1->trust, ==, 0);
    fixture_free(fx);
}

static void
test_reclaim_no_reset(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", TRUE);
    g_autoptr(GError) error = NULL;

    /* The kernel offers no `reset` for a device without a reset method. */
    g_assert_false(reclaim(fx, 0, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(error->message, "0000:01:10.0"));
    g_clear_error(&error);

    g_assert_false(reclaim(fx, 9, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    fixture_free(fx);
}

/* The reset write blocks (a FIFO stands in for the sysfs file: the write's
 * open() waits for a reader, as a reset the kernel sits on waits): the
 * main loop keeps running, and another VF's set_vf completes meanwhile. */
static void
test_reclaim_blocked_reset(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", TRUE);
    g_autofree char *reset = reset_path(fx, "igb", "0000:01:10.2");
    g_auto(VfsecTestAsync) rw = { 0 };
    g_auto(VfsecTestAsync) sw = { 0 };
    g_autoptr(VfsecContractVf) got = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractReclaim out;
    VfsecContractVf want;
    char byte = 0;
    int fd;

    g_assert_cmpint(mkfifo(reset, 0600), ==, 0);
    vfsec_plugin_reclaim_vf_async(fx->plugin, 1, 2000, NULL, vfsec_test_async_cb, &rw);

    /* A kernel request for VF 0 runs and completes while VF 1's reset is
     * stuck: neither the main loop nor the plugin's lock waits on it. */
    quarantine(&want, 0);
    vfsec_plugin_set_vf_async(fx->plugin, VFSEC_CONTRACT_SET_VF_ALL, &want, NULL,
                              vfsec_test_async_cb, &sw);
    got = vfsec_plugin_set_vf_finish(fx->plugin, vfsec_test_async_wait(NULL, &sw), &error);
    g_assert_no_error(error);
    g_assert_cmpuint(got->port_tag.vid, ==, 4092);
    g_assert_false(rw.done);

    /* The "kernel" finishes the reset: the reclaim completes. */
    fd = open(reset, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(vfsec_plugin_reclaim_vf_finish(fx->plugin, vfsec_test_async_wait(NULL, &rw),
                                                 &out, &error));
    g_assert_no_error(error);
    g_assert_cmpint(read(fd, &byte, 1), ==, 1);
    g_assert_cmpint(byte, ==, '1');
    close(fd);
    fixture_free(fx);
}

/* Whether @req is a link set-up (@up) or set-down of @ifname. */
static gboolean
sent_names_up(GBytes *req, const char *ifname, gboolean up)
{
    const struct nlmsghdr *nlh = g_bytes_get_data(req, NULL);
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *attr;

    if (nlh->nlmsg_type != RTM_SETLINK || ifi->ifi_change != IFF_UP ||
        !(ifi->ifi_flags & IFF_UP) != !up)
        return FALSE;
    mnl_attr_for_each(attr, nlh, sizeof(*ifi)) {
        if (mnl_attr_get_type(attr) == IFLA_IFNAME)
            return g_strcmp0(mnl_attr_get_str(attr), ifname) == 0;
    }
    return FALSE;
}

/* igbvf hangs resetting a closed netdev: the plugin opens it for the reset
 * and closes it again; an open one, or another driver's, is left alone. */
static void
test_reclaim_closed_igbvf(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", TRUE);
    g_autofree char *reset = reset_path(fx, "igb", "0000:01:10.2");
    g_autofree char *flags = g_build_filename(fx->root, "igb", "bus", "pci", "devices",
                                              "0000:01:10.2", "net", "enp1s16f2", "flags", NULL);
    g_autofree char *written = NULL;
    g_autoptr(GError) error = NULL;
    guint before;

    g_assert_true(g_file_set_contents(reset, "", 0, NULL));
    g_assert_true(g_file_set_contents(flags, "0x1002\n", -1, NULL));
    before = fx->kernel.sent->len;
    g_assert_true(reclaim(fx, 1, &error));
    g_assert_no_error(error);
    g_assert_true(g_file_get_contents(reset, &written, NULL, NULL));
    g_assert_cmpstr(written, ==, "1");
    g_assert_cmpuint(fx->kernel.netdev_ups, ==, 1);
    g_assert_cmpuint(fx->kernel.netdev_downs, ==, 1);
    /* up, down (the reset between them), then the read back. */
    g_assert_cmpuint(fx->kernel.sent->len, ==, before + 3);
    g_assert_true(sent_names_up(sent(fx, 2), "enp1s16f2", TRUE));
    g_assert_true(sent_names_up(sent(fx, 1), "enp1s16f2", FALSE));
    g_assert_cmpuint(sent_type(sent(fx, 0)), ==, RTM_GETLINK);

    /* Open already: nothing but the reset and the read back. */
    g_assert_true(g_file_set_contents(flags, "0x1003\n", -1, NULL));
    g_assert_true(reclaim(fx, 1, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(fx->kernel.netdev_ups, ==, 1);
    fixture_free(fx);
}

static gboolean
set_mode(Fixture *fx, VfsecContractSwitchMode mode, GError **error)
{
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_set_switch_mode_async(fx->plugin, mode, NULL, vfsec_test_async_cb, &w);
    return vfsec_plugin_set_switch_mode_finish(fx->plugin, vfsec_test_async_wait(NULL, &w), error);
}

static void
test_switch_mode(void)
{
    Fixture *fx = fixture_new("ixgbe", "enp4s0f0", FALSE);
    g_autoptr(VfsecLinkInfo) req = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(set_mode(fx, VFSEC_CONTRACT_SWITCH_MODE_VEPA, &error));
    g_assert_no_error(error);
    req = parse_request(sent(fx, 0));
    g_assert_cmpuint(req->family, ==, AF_BRIDGE);
    g_assert_cmpuint(req->ifindex, ==, PF_IFINDEX);
    g_assert_cmpint(req->bridge_mode, ==, VFSEC_BRIDGE_MODE_VEPA);
    g_assert_cmpint(fx->plugin->port->switch_mode, ==, VFSEC_CONTRACT_SWITCH_MODE_VEPA);

    fx->kernel.bridge_set_rc = -EOPNOTSUPP;
    g_assert_false(set_mode(fx, VFSEC_CONTRACT_SWITCH_MODE_VEB, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(error->message, "enp4s0f0"));
    g_assert_cmpint(fx->plugin->port->switch_mode, ==, VFSEC_CONTRACT_SWITCH_MODE_VEPA);
    fixture_free(fx);
}

static void
test_no_bridge_mode(void)
{
    Fixture *fx = fixture_open("igb", "enp1s0", FALSE);
    g_autoptr(GError) error = NULL;

    fx->kernel.bridge_mode = -1;
    g_assert_true(fixture_start(fx, &error));
    g_assert_no_error(error);
    g_assert_false(fx->plugin->caps.switch_mode);
    fixture_free(fx);
}

static VfsecContractMacTable *
get_macs(Fixture *fx)
{
    g_auto(VfsecTestAsync) w = { 0 };
    g_autoptr(GError) error = NULL;
    VfsecContractMacTable *t;

    vfsec_plugin_get_macs_async(fx->plugin, NULL, vfsec_test_async_cb, &w);
    t = vfsec_plugin_get_macs_finish(fx->plugin, vfsec_test_async_wait(NULL, &w), &error);
    g_assert_no_error(error);
    return t;
}

static gboolean
set_macs(Fixture *fx, const VfsecContractMacTable *t, guint64 *gen, GError **error)
{
    g_auto(VfsecTestAsync) w = { 0 };

    vfsec_plugin_set_macs_async(fx->plugin, t, NULL, vfsec_test_async_cb, &w);
    return vfsec_plugin_set_macs_finish(fx->plugin, vfsec_test_async_wait(NULL, &w), gen, error);
}

static void
test_macs_cas(void)
{
    Fixture *fx = fixture_new("igb", "enp1s0", FALSE);
    g_autoptr(VfsecContractMacTable) empty = get_macs(fx);
    g_autoptr(VfsecContractMacTable) want = vfsec_contract_mac_table_new(0);
    g_autoptr(VfsecContractMacTable) now = NULL;
    g_autoptr(GError) error = NULL;
    VfsecMac mac = { { 0x02, 0, 0, 0, 0, 0x11 } };
    VfsecContractMacEntry *e = vfsec_contract_mac_entry_new(&mac);
    guint64 gen = 0;

    g_assert_cmpuint(empty->generation, ==, 0);
    g_assert_cmpuint(empty->entries->len, ==, 0);
    vfsec_contract_mac_entry_add_tag(e, VFSEC_CONTRACT_TPID_8021Q, 100);
    g_ptr_array_add(want->entries, e);
    g_assert_true(set_macs(fx, want, &gen, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(gen, ==, 1);

    /* A writer that read generation 0 lost the race. */
    g_assert_false(set_macs(fx, want, &gen, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_assert_cmpuint(gen, ==, 1);

    now = get_macs(fx);
    want->generation = 1;
    g_assert_true(vfsec_contract_mac_table_equal(now, want));
    fixture_free(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(start_cases); i++) {
        g_autofree char *name = g_strdup_printf("/plugin-linux/start/%s", start_cases[i].tree);

        g_test_add_data_func(name, &start_cases[i], test_start);
    }
    g_test_add_func("/plugin-linux/start/errors", test_start_errors);
    g_test_add_func("/plugin-linux/start/no-bridge-mode", test_no_bridge_mode);
    g_test_add_func("/plugin-linux/list-vfs", test_list_vfs);
    g_test_add_func("/plugin-linux/set-vf/quarantine", test_set_vf_quarantine);
    g_test_add_func("/plugin-linux/set-vf/subset", test_set_vf_subset);
    g_test_add_func("/plugin-linux/set-vf/readback-mismatch", test_set_vf_readback_mismatch);
    g_test_add_func("/plugin-linux/set-vf/8021ad-refused", test_set_vf_8021ad_refused);
    g_test_add_func("/plugin-linux/reclaim/reset", test_reclaim);
    g_test_add_func("/plugin-linux/reclaim/no-reset", test_reclaim_no_reset);
    g_test_add_func("/plugin-linux/reclaim/blocked-reset", test_reclaim_blocked_reset);
    g_test_add_func("/plugin-linux/reclaim/closed-igbvf", test_reclaim_closed_igbvf);
    g_test_add_func("/plugin-linux/switch-mode", test_switch_mode);
    g_test_add_func("/plugin-linux/macs-cas", test_macs_cas);
    return g_test_run();
}
