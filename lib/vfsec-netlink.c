/* vfsec-netlink.c: rtnetlink link configuration on libmnl (builders, parser,
 * sender, monitor) and ethtool feature switches over SIOCETHTOOL.
 *
 * Theory of operation
 * -------------------
 * Builders are pure: they lay one request into a caller buffer through a
 * NlBuild, which turns libmnl's per-call "does it fit" checks into one sticky
 * overflow flag, so a builder reads as the message it builds and reports
 * -EMSGSIZE once at the end.
 *
 * The parser trusts nothing. libmnl's mnl_attr_parse() stops quietly at the
 * first attribute that does not fit, which would make a truncated message look
 * like a short valid one; nl_attr_walk() instead requires the attributes to
 * tile their container exactly (the last one may omit its padding) and fails
 * with -EBADMSG otherwise. Each attribute the parser uses is then checked with
 * mnl_attr_validate()/mnl_attr_validate2() against its exact type or struct
 * size before its payload is read, and nested lists are walked by the same
 * function, bounded by their parent.
 *
 * The sender (VfsecNetlink) owns one NETLINK_ROUTE socket created inside the
 * wanted namespace by vfsec_netns_socket(). A transaction stamps a fresh
 * sequence number, forces NLM_F_ACK (unless it is a dump, which ends with
 * NLMSG_DONE instead), and reads datagrams until the ACK/error/DONE carrying
 * that sequence number; datagrams are sized with MSG_PEEK|MSG_TRUNC first,
 * because a PF's RTM_NEWLINK with its VF list can outgrow any fixed buffer.
 * Replies with another sequence number (left over from an aborted earlier
 * transaction) are skipped. Extended ACKs are requested so the kernel's
 * reason, when it gives one, reaches the GError.
 *
 * The monitor is a second, non-blocking socket joined to RTNLGRP_LINK. Its
 * datagrams are framed and parsed like replies; a lost notification (ENOBUFS)
 * or a malformed one is reported to the callback as NULL, meaning "resync".
 */
#include "vfsec-netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <linux/ethtool.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/sockios.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfsec-netns.h"

#define VFSEC_NL_TIMEOUT_SEC 10
#define VFSEC_VLAN_VID_MAX 4095
#define VFSEC_VLAN_QOS_MAX 7

/* ---- Enumerations ------------------------------------------------------ */

static const char *const bridge_mode_names[VFSEC_BRIDGE_MODE_LAST] = {
    [VFSEC_BRIDGE_MODE_VEB] = "veb",
    [VFSEC_BRIDGE_MODE_VEPA] = "vepa",
};
/* VfsecBridgeMode -> the kernel's BRIDGE_MODE_*. */
static const guint16 bridge_mode_kernel[VFSEC_BRIDGE_MODE_LAST] = {
    [VFSEC_BRIDGE_MODE_VEB] = BRIDGE_MODE_VEB,
    [VFSEC_BRIDGE_MODE_VEPA] = BRIDGE_MODE_VEPA,
};

const char *
vfsec_bridge_mode_to_string(VfsecBridgeMode mode)
{
    if ((guint)mode >= VFSEC_BRIDGE_MODE_LAST)
        return NULL;
    return bridge_mode_names[mode];
}

int
vfsec_bridge_mode_from_string(const char *str)
{
    for (int i = 0; i < VFSEC_BRIDGE_MODE_LAST; i++) {
        if (g_strcmp0(str, bridge_mode_names[i]) == 0)
            return i;
    }
    return -1;
}

static int
bridge_mode_from_kernel(guint16 kmode)
{
    for (int i = 0; i < VFSEC_BRIDGE_MODE_LAST; i++) {
        if (bridge_mode_kernel[i] == kmode)
            return i;
    }
    return -1;
}

/* ---- Builders ---------------------------------------------------------- */

typedef struct {
    struct nlmsghdr *nlh;
    gsize buflen;
    gboolean overflow;
} NlBuild;

static gboolean
ifname_valid(const char *ifname)
{
    return ifname && *ifname && strlen(ifname) < IFNAMSIZ;
}

/* Starts a request with an ifinfomsg header; NULL (and overflow) when even
 * that does not fit. */
static struct ifinfomsg *
nlb_start(NlBuild *b, void *buf, gsize buflen, guint16 type, guint16 flags)
{
    struct ifinfomsg *ifi;

    b->nlh = NULL;
    b->buflen = buflen;
    b->overflow = buflen < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*ifi));
    if (b->overflow)
        return NULL;
    b->nlh = mnl_nlmsg_put_header(buf);
    b->nlh->nlmsg_type = type;
    b->nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    ifi = mnl_nlmsg_put_extra_header(b->nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    return ifi;
}

static void
nlb_put(NlBuild *b, guint16 type, gsize len, const void *data)
{
    if (!b->overflow && !mnl_attr_put_check(b->nlh, b->buflen, type, len, data))
        b->overflow = TRUE;
}

static void
nlb_put_u16(NlBuild *b, guint16 type, guint16 value)
{
    nlb_put(b, type, sizeof(value), &value);
}

static void
nlb_put_u32(NlBuild *b, guint16 type, guint32 value)
{
    nlb_put(b, type, sizeof(value), &value);
}

static void
nlb_put_strz(NlBuild *b, guint16 type, const char *str)
{
    nlb_put(b, type, strlen(str) + 1, str);
}

static struct nlattr *
nlb_nest_start(NlBuild *b, guint16 type)
{
    struct nlattr *nest = NULL;

    if (!b->overflow)
        nest = mnl_attr_nest_start_check(b->nlh, b->buflen, type);
    if (!nest)
        b->overflow = TRUE;
    return nest;
}

static void
nlb_nest_end(NlBuild *b, struct nlattr *nest)
{
    if (!b->overflow)
        mnl_attr_nest_end(b->nlh, nest);
}

/* Reserves a zeroed, aligned fixed header inside the current nest (a veth
 * peer's ifinfomsg), which libmnl has no call for. */
static void *
nlb_reserve(NlBuild *b, gsize len)
{
    void *p;

    if (b->overflow || b->nlh->nlmsg_len + MNL_ALIGN(len) > b->buflen) {
        b->overflow = TRUE;
        return NULL;
    }
    p = mnl_nlmsg_get_payload_tail(b->nlh);
    memset(p, 0, MNL_ALIGN(len));
    b->nlh->nlmsg_len += MNL_ALIGN(len);
    return p;
}

static int
nlb_finish(NlBuild *b)
{
    return b->overflow ? -EMSGSIZE : 0;
}

/* Starts a request addressed to one link, by index or by IFLA_IFNAME. */
static struct ifinfomsg *
nlb_start_link(NlBuild *b, void *buf, gsize buflen, guint16 type, guint16 flags, int ifindex,
               const char *ifname, int *rc)
{
    struct ifinfomsg *ifi;

    *rc = 0;
    if (ifindex <= 0 && !ifname_valid(ifname)) {
        *rc = -EINVAL;
        return NULL;
    }
    ifi = nlb_start(b, buf, buflen, type, flags);
    if (!ifi) {
        *rc = -EMSGSIZE;
        return NULL;
    }
    if (ifindex > 0)
        ifi->ifi_index = ifindex;
    else
        nlb_put_strz(b, IFLA_IFNAME, ifname);
    return ifi;
}

int
vfsec_nl_build_veth_add(void *buf, gsize buflen, const char *name, const char *peer,
                        int peer_netns_fd, const VfsecMac *mac, const VfsecMac *peer_mac)
{
    NlBuild b;
    struct nlattr *linkinfo;
    struct nlattr *data;
    struct nlattr *peer_nest;

    if (!ifname_valid(name) || !ifname_valid(peer))
        return -EINVAL;
    if (!nlb_start(&b, buf, buflen, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL))
        return -EMSGSIZE;
    nlb_put_strz(&b, IFLA_IFNAME, name);
    if (mac)
        nlb_put(&b, IFLA_ADDRESS, sizeof(mac->b), mac->b);

    linkinfo = nlb_nest_start(&b, IFLA_LINKINFO);
    nlb_put_strz(&b, IFLA_INFO_KIND, "veth");
    data = nlb_nest_start(&b, IFLA_INFO_DATA);
    /* VETH_INFO_PEER is an ifinfomsg followed by the peer's attributes. */
    peer_nest = nlb_nest_start(&b, VETH_INFO_PEER);
    nlb_reserve(&b, sizeof(struct ifinfomsg));
    nlb_put_strz(&b, IFLA_IFNAME, peer);
    if (peer_mac)
        nlb_put(&b, IFLA_ADDRESS, sizeof(peer_mac->b), peer_mac->b);
    if (peer_netns_fd >= 0)
        nlb_put_u32(&b, IFLA_NET_NS_FD, (guint32)peer_netns_fd);
    nlb_nest_end(&b, peer_nest);
    nlb_nest_end(&b, data);
    nlb_nest_end(&b, linkinfo);
    return nlb_finish(&b);
}

int
vfsec_nl_build_link_del(void *buf, gsize buflen, int ifindex, const char *ifname)
{
    NlBuild b;
    int rc;

    if (!nlb_start_link(&b, buf, buflen, RTM_DELLINK, NLM_F_ACK, ifindex, ifname, &rc))
        return rc;
    return nlb_finish(&b);
}

int
vfsec_nl_build_link_set_up(void *buf, gsize buflen, int ifindex, const char *ifname,
                           gboolean up)
{
    NlBuild b;
    struct ifinfomsg *ifi;
    int rc;

    ifi = nlb_start_link(&b, buf, buflen, RTM_SETLINK, NLM_F_ACK, ifindex, ifname, &rc);
    if (!ifi)
        return rc;
    ifi->ifi_flags = up ? IFF_UP : 0;
    ifi->ifi_change = IFF_UP;
    return nlb_finish(&b);
}

int
vfsec_nl_build_link_set_mac(void *buf, gsize buflen, int ifindex, const char *ifname,
                            const VfsecMac *mac)
{
    NlBuild b;
    int rc;

    if (!mac)
        return -EINVAL;
    if (!nlb_start_link(&b, buf, buflen, RTM_SETLINK, NLM_F_ACK, ifindex, ifname, &rc))
        return rc;
    nlb_put(&b, IFLA_ADDRESS, sizeof(mac->b), mac->b);
    return nlb_finish(&b);
}

/* A request to one link carrying one u32 attribute. */
static int
build_link_u32(void *buf, gsize buflen, guint16 msg_type, int ifindex, const char *ifname,
               guint16 type, guint32 value)
{
    NlBuild b;
    int rc;

    if (!nlb_start_link(&b, buf, buflen, msg_type, NLM_F_ACK, ifindex, ifname, &rc))
        return rc;
    nlb_put_u32(&b, type, value);
    return nlb_finish(&b);
}

int
vfsec_nl_build_link_set_mtu(void *buf, gsize buflen, int ifindex, const char *ifname,
                            guint32 mtu)
{
    return build_link_u32(buf, buflen, RTM_SETLINK, ifindex, ifname, IFLA_MTU, mtu);
}

int
vfsec_nl_build_link_set_netns_fd(void *buf, gsize buflen, int ifindex, const char *ifname,
                                 int netns_fd)
{
    if (netns_fd < 0)
        return -EINVAL;
    return build_link_u32(buf, buflen, RTM_SETLINK, ifindex, ifname, IFLA_NET_NS_FD,
                          (guint32)netns_fd);
}

int
vfsec_nl_build_link_set_netns_pid(void *buf, gsize buflen, int ifindex, const char *ifname,
                                  pid_t pid)
{
    if (pid <= 0)
        return -EINVAL;
    return build_link_u32(buf, buflen, RTM_SETLINK, ifindex, ifname, IFLA_NET_NS_PID,
                          (guint32)pid);
}

int
vfsec_nl_build_link_get(void *buf, gsize buflen, int ifindex, const char *ifname)
{
    return build_link_u32(buf, buflen, RTM_GETLINK, ifindex, ifname, IFLA_EXT_MASK,
                          RTEXT_FILTER_VF);
}

/* A dump request: no NLM_F_ACK, the dump ends with NLMSG_DONE. */
static int
build_dump(void *buf, gsize buflen, guint8 family)
{
    NlBuild b;
    struct ifinfomsg *ifi = nlb_start(&b, buf, buflen, RTM_GETLINK, NLM_F_DUMP);

    if (!ifi)
        return -EMSGSIZE;
    ifi->ifi_family = family;
    nlb_put_u32(&b, IFLA_EXT_MASK, RTEXT_FILTER_VF);
    return nlb_finish(&b);
}

int
vfsec_nl_build_link_dump(void *buf, gsize buflen)
{
    return build_dump(buf, buflen, AF_UNSPEC);
}

int
vfsec_nl_build_bridge_dump(void *buf, gsize buflen)
{
    return build_dump(buf, buflen, AF_BRIDGE);
}

#define VFSEC_VF_SET_ALL \
    (VFSEC_VF_SET_VLAN | VFSEC_VF_SET_TRUST | VFSEC_VF_SET_SPOOFCHK | VFSEC_VF_SET_MAC)

static gboolean
vf_config_valid(const VfsecVfConfig *cfg)
{
    if (!cfg || cfg->set == 0 || (cfg->set & ~VFSEC_VF_SET_ALL) || cfg->vf >= G_MAXINT32)
        return FALSE;
    if (!(cfg->set & VFSEC_VF_SET_VLAN))
        return TRUE;
    return cfg->vlan <= VFSEC_VLAN_VID_MAX && cfg->qos <= VFSEC_VLAN_QOS_MAX &&
           (cfg->vlan_proto == ETH_P_8021Q || cfg->vlan_proto == ETH_P_8021AD);
}

int
vfsec_nl_build_vf_set(void *buf, gsize buflen, int ifindex, const char *ifname,
                      const VfsecVfConfig *cfg)
{
    NlBuild b;
    struct nlattr *list;
    struct nlattr *info;
    int rc;

    if (!vf_config_valid(cfg))
        return -EINVAL;
    if (!nlb_start_link(&b, buf, buflen, RTM_SETLINK, NLM_F_ACK, ifindex, ifname, &rc))
        return rc;

    list = nlb_nest_start(&b, IFLA_VFINFO_LIST);
    info = nlb_nest_start(&b, IFLA_VF_INFO);
    if (cfg->set & VFSEC_VF_SET_MAC) {
        struct ifla_vf_mac m;

        memset(&m, 0, sizeof(m));
        m.vf = cfg->vf;
        memcpy(m.mac, cfg->mac.b, sizeof(cfg->mac.b));
        nlb_put(&b, IFLA_VF_MAC, sizeof(m), &m);
    }
    if (cfg->set & VFSEC_VF_SET_VLAN) {
        struct ifla_vf_vlan_info v;
        struct nlattr *vlans = nlb_nest_start(&b, IFLA_VF_VLAN_LIST);

        memset(&v, 0, sizeof(v));  /* the struct has tail padding */
        v.vf = cfg->vf;
        v.vlan = cfg->vlan;
        v.qos = cfg->qos;
        v.vlan_proto = htons(cfg->vlan_proto);
        nlb_put(&b, IFLA_VF_VLAN_INFO, sizeof(v), &v);
        nlb_nest_end(&b, vlans);
    }
    if (cfg->set & VFSEC_VF_SET_SPOOFCHK) {
        struct ifla_vf_spoofchk s = { .vf = cfg->vf, .setting = cfg->spoofchk ? 1 : 0 };

        nlb_put(&b, IFLA_VF_SPOOFCHK, sizeof(s), &s);
    }
    if (cfg->set & VFSEC_VF_SET_TRUST) {
        struct ifla_vf_trust t = { .vf = cfg->vf, .setting = cfg->trust ? 1 : 0 };

        nlb_put(&b, IFLA_VF_TRUST, sizeof(t), &t);
    }
    nlb_nest_end(&b, info);
    nlb_nest_end(&b, list);
    return nlb_finish(&b);
}

int
vfsec_nl_build_bridge_set_hwmode(void *buf, gsize buflen, int ifindex, VfsecBridgeMode mode)
{
    NlBuild b;
    struct ifinfomsg *ifi;
    struct nlattr *af;

    if (ifindex <= 0 || (guint)mode >= VFSEC_BRIDGE_MODE_LAST)
        return -EINVAL;
    ifi = nlb_start(&b, buf, buflen, RTM_SETLINK, NLM_F_ACK);
    if (!ifi)
        return -EMSGSIZE;
    ifi->ifi_family = AF_BRIDGE;
    ifi->ifi_index = ifindex;
    af = nlb_nest_start(&b, IFLA_AF_SPEC);
    /* SELF: the request is for the device's own (embedded) switch, not for a
     * software bridge it may be a port of. */
    nlb_put_u16(&b, IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_SELF);
    nlb_put_u16(&b, IFLA_BRIDGE_MODE, bridge_mode_kernel[mode]);
    nlb_nest_end(&b, af);
    return nlb_finish(&b);
}

/* ---- Parser ------------------------------------------------------------ */

typedef int (*NlAttrFunc)(const struct nlattr *attr, gpointer data);

/* How far to advance past an item (attribute or message) of @len bytes with
 * @rem left: its aligned length, or exactly @len when it ends the container
 * unpadded; 0 when the container ends inside its padding. */
static gsize
nl_step(gsize len, gsize rem)
{
    if (MNL_ALIGN(len) <= rem)
        return MNL_ALIGN(len);
    return len == rem ? rem : 0;
}

/* Calls @func for each attribute of [@payload, @payload + @len); see the top
 * of the file for why this is not mnl_attr_parse_payload(). */
static int
nl_attr_walk(const void *payload, gsize len, NlAttrFunc func, gpointer data)
{
    const guint8 *p = payload;
    gsize rem = len;

    while (rem > 0) {
        const struct nlattr *attr = (const struct nlattr *)p;
        gsize step;
        int rc;

        if (rem < sizeof(*attr) || attr->nla_len < sizeof(*attr) || attr->nla_len > rem)
            return -EBADMSG;
        step = nl_step(attr->nla_len, rem);
        if (step == 0)
            return -EBADMSG;
        rc = func(attr, data);
        if (rc < 0)
            return rc;
        p += step;
        rem -= step;
    }
    return 0;
}

static int
nl_attr_walk_nested(const struct nlattr *attr, NlAttrFunc func, gpointer data)
{
    return nl_attr_walk(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr), func, data);
}

/* mnl_attr_validate() reports through errno; the parser speaks -EBADMSG. */
static gboolean
attr_ok(const struct nlattr *attr, enum mnl_attr_data_type type)
{
    return mnl_attr_validate(attr, type) == 0;
}

static gboolean
attr_ok_size(const struct nlattr *attr, gsize size)
{
    return mnl_attr_validate2(attr, MNL_TYPE_UNSPEC, size) == 0;
}

/* One IFLA_VF_INFO being parsed. Every IFLA_VF_* struct starts with the VF
 * index; they must all agree. */
typedef struct {
    VfsecVfLinkInfo vf;
    gboolean have_index;
    gboolean have_list_vlan;
    guint16 list_vlan;
    guint8 list_qos;
    guint16 list_proto;
} VfParse;

static int
vf_note_index(VfParse *p, guint32 index)
{
    if (p->have_index && p->vf.vf != index)
        return -EBADMSG;  /* one IFLA_VF_INFO, two VFs: a lying message */
    p->vf.vf = index;
    p->have_index = TRUE;
    return 0;
}

static gboolean
vlan_in_range(guint32 vlan, guint32 qos)
{
    return vlan <= VFSEC_VLAN_VID_MAX && qos <= VFSEC_VLAN_QOS_MAX;
}

static int
tristate(guint32 setting)
{
    return setting == G_MAXUINT32 ? -1 : setting != 0;
}

static int
vf_vlan_list_cb(const struct nlattr *attr, gpointer data)
{
    VfParse *p = data;
    struct ifla_vf_vlan_info v;
    int rc;

    if (mnl_attr_get_type(attr) != IFLA_VF_VLAN_INFO)
        return 0;
    if (!attr_ok_size(attr, sizeof(v)))
        return -EBADMSG;
    memcpy(&v, mnl_attr_get_payload(attr), sizeof(v));
    if (!vlan_in_range(v.vlan, v.qos))
        return -EBADMSG;
    rc = vf_note_index(p, v.vf);
    if (rc < 0 || p->have_list_vlan)
        return rc;  /* the first entry is the outermost tag */
    p->have_list_vlan = TRUE;
    p->list_vlan = (guint16)v.vlan;
    p->list_qos = (guint8)v.qos;
    p->list_proto = ntohs(v.vlan_proto);
    return 0;
}

static int
vf_info_cb(const struct nlattr *attr, gpointer data)
{
    VfParse *p = data;

    switch (mnl_attr_get_type(attr)) {
    case IFLA_VF_MAC: {
        struct ifla_vf_mac m;

        if (!attr_ok_size(attr, sizeof(m)))
            return -EBADMSG;
        memcpy(&m, mnl_attr_get_payload(attr), sizeof(m));
        memcpy(p->vf.mac.b, m.mac, sizeof(p->vf.mac.b));
        return vf_note_index(p, m.vf);
    }
    case IFLA_VF_VLAN: {
        struct ifla_vf_vlan v;

        if (!attr_ok_size(attr, sizeof(v)))
            return -EBADMSG;
        memcpy(&v, mnl_attr_get_payload(attr), sizeof(v));
        if (!vlan_in_range(v.vlan, v.qos))
            return -EBADMSG;
        p->vf.vlan = (guint16)v.vlan;
        p->vf.qos = (guint8)v.qos;
        return vf_note_index(p, v.vf);
    }
    case IFLA_VF_VLAN_LIST:
        if (!attr_ok(attr, MNL_TYPE_NESTED))
            return -EBADMSG;
        return nl_attr_walk_nested(attr, vf_vlan_list_cb, p);
    case IFLA_VF_SPOOFCHK: {
        struct ifla_vf_spoofchk s;

        if (!attr_ok_size(attr, sizeof(s)))
            return -EBADMSG;
        memcpy(&s, mnl_attr_get_payload(attr), sizeof(s));
        p->vf.spoofchk = tristate(s.setting);
        return vf_note_index(p, s.vf);
    }
    case IFLA_VF_TRUST: {
        struct ifla_vf_trust t;

        if (!attr_ok_size(attr, sizeof(t)))
            return -EBADMSG;
        memcpy(&t, mnl_attr_get_payload(attr), sizeof(t));
        p->vf.trust = tristate(t.setting);
        return vf_note_index(p, t.vf);
    }
    default:
        return 0;
    }
}

static int
vfinfo_list_cb(const struct nlattr *attr, gpointer data)
{
    GArray *vfs = data;
    VfParse p = { .vf = { .vlan_proto = ETH_P_8021Q, .trust = -1, .spoofchk = -1 } };
    int rc;

    if (mnl_attr_get_type(attr) != IFLA_VF_INFO)
        return 0;
    if (!attr_ok(attr, MNL_TYPE_NESTED))
        return -EBADMSG;
    rc = nl_attr_walk_nested(attr, vf_info_cb, &p);
    if (rc < 0)
        return rc;
    if (!p.have_index)
        return -EBADMSG;  /* a VF entry that names no VF */
    /* IFLA_VF_VLAN_LIST carries the protocol; IFLA_VF_VLAN is its 802.1Q-only
     * predecessor, used when the list is absent. */
    if (p.have_list_vlan) {
        p.vf.vlan = p.list_vlan;
        p.vf.qos = p.list_qos;
        p.vf.vlan_proto = p.list_proto;
    }
    g_array_append_val(vfs, p.vf);
    return 0;
}

static int
bridge_af_cb(const struct nlattr *attr, gpointer data)
{
    VfsecLinkInfo *info = data;

    if (mnl_attr_get_type(attr) != IFLA_BRIDGE_MODE)
        return 0;
    if (!attr_ok(attr, MNL_TYPE_U16))
        return -EBADMSG;
    info->bridge_mode = bridge_mode_from_kernel(mnl_attr_get_u16(attr));
    return 0;
}

static int
link_attr_cb(const struct nlattr *attr, gpointer data)
{
    VfsecLinkInfo *info = data;

    switch (mnl_attr_get_type(attr)) {
    case IFLA_IFNAME:
        if (!attr_ok(attr, MNL_TYPE_NUL_STRING) || mnl_attr_get_payload_len(attr) > IFNAMSIZ)
            return -EBADMSG;
        g_strlcpy(info->name, mnl_attr_get_str(attr), sizeof(info->name));
        return 0;
    case IFLA_ADDRESS:
        /* Not every link has a 6-byte address (tunnels, loopback-likes). */
        info->has_mac = mnl_attr_get_payload_len(attr) == sizeof(info->mac.b);
        if (info->has_mac)
            memcpy(info->mac.b, mnl_attr_get_payload(attr), sizeof(info->mac.b));
        return 0;
    case IFLA_MTU:
    case IFLA_LINK:
    case IFLA_NUM_VF: {
        guint16 type = mnl_attr_get_type(attr);
        guint32 *field = type == IFLA_MTU ? &info->mtu :
                         type == IFLA_LINK ? &info->link : &info->num_vf;

        if (!attr_ok(attr, MNL_TYPE_U32))
            return -EBADMSG;
        *field = mnl_attr_get_u32(attr);
        return 0;
    }
    case IFLA_OPERSTATE:
        if (!attr_ok(attr, MNL_TYPE_U8))
            return -EBADMSG;
        info->operstate = mnl_attr_get_u8(attr);
        return 0;
    case IFLA_VFINFO_LIST:
        if (!attr_ok(attr, MNL_TYPE_NESTED))
            return -EBADMSG;
        return nl_attr_walk_nested(attr, vfinfo_list_cb, info->vfs);
    case IFLA_AF_SPEC:
        /* Only an AF_BRIDGE message's IFLA_AF_SPEC holds IFLA_BRIDGE_*; an
         * AF_UNSPEC one nests per-address-family data we do not use. */
        if (info->family != AF_BRIDGE)
            return 0;
        if (!attr_ok(attr, MNL_TYPE_NESTED))
            return -EBADMSG;
        return nl_attr_walk_nested(attr, bridge_af_cb, info);
    default:
        return 0;
    }
}

VfsecLinkInfo *
vfsec_link_info_new(void)
{
    VfsecLinkInfo *info = g_new0(VfsecLinkInfo, 1);

    info->operstate = IF_OPER_UNKNOWN;
    info->bridge_mode = -1;
    info->vfs = g_array_new(FALSE, TRUE, sizeof(VfsecVfLinkInfo));
    return info;
}

void
vfsec_link_info_free(VfsecLinkInfo *info)
{
    if (!info)
        return;
    g_array_unref(info->vfs);
    g_free(info);
}

int
vfsec_link_info_parse(const struct nlmsghdr *nlh, gsize len, VfsecLinkInfo **out)
{
    g_autoptr(VfsecLinkInfo) info = NULL;
    const struct ifinfomsg *ifi;
    gsize hdrs = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*ifi));
    int rc;

    if (!nlh || len < sizeof(*nlh) || nlh->nlmsg_len > len || nlh->nlmsg_len < sizeof(*nlh))
        return -EBADMSG;
    if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
        return -EPROTO;
    if (nlh->nlmsg_len < hdrs)
        return -EBADMSG;
    ifi = mnl_nlmsg_get_payload(nlh);
    if (ifi->ifi_index <= 0)
        return -EBADMSG;

    info = vfsec_link_info_new();
    info->msg_type = nlh->nlmsg_type;
    info->family = ifi->ifi_family;
    info->ifindex = (guint32)ifi->ifi_index;
    info->flags = ifi->ifi_flags;
    rc = nl_attr_walk((const guint8 *)nlh + hdrs, nlh->nlmsg_len - hdrs, link_attr_cb, info);
    if (rc < 0)
        return rc;
    *out = g_steal_pointer(&info);
    return 0;
}

/* ---- Sender ------------------------------------------------------------ */

struct _VfsecNetlink {
    struct mnl_socket *sock;
    guint32 portid;
    guint32 seq;
    guint8 *rxbuf;
    gsize rxbuf_len;
    char *ext_ack;
};

/* Opens a bound NETLINK_ROUTE socket in @netns_fd; -errno on failure. */
static int
nl_socket_open(int netns_fd, int type_flags, struct mnl_socket **out)
{
    struct mnl_socket *sock;
    int fd = vfsec_netns_socket(netns_fd, AF_NETLINK, SOCK_RAW | type_flags, NETLINK_ROUTE);
    int rc;

    if (fd < 0)
        return fd;
    sock = mnl_socket_fdopen(fd);
    if (!sock) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        mnl_socket_close(sock);
        return rc;
    }
    *out = sock;
    return 0;
}

/* Receives one whole datagram from the kernel into *@buf (grown to fit).
 * Returns its length or -errno. */
static gssize
nl_recv(int fd, guint8 **buf, gsize *buflen, int flags)
{
    struct sockaddr_nl addr;
    socklen_t addrlen = sizeof(addr);
    gssize need = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | flags);
    gssize n;

    if (need < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if ((gsize)need > *buflen || !*buf) {
        *buflen = MAX((gsize)need, (gsize)VFSEC_NL_BUFSIZE);
        *buf = g_realloc(*buf, *buflen);
    }
    n = recvfrom(fd, *buf, *buflen, flags, (struct sockaddr *)&addr, &addrlen);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (addrlen != sizeof(addr) || addr.nl_family != AF_NETLINK)
        return -EPROTO;
    if (addr.nl_pid != 0)
        return -EPERM;  /* not from the kernel */
    return n;
}

/* Called for each message of a datagram, with its length checked; returns 0
 * to go on, 1 to stop, or -errno. */
typedef int (*NlMsgFunc)(const struct nlmsghdr *nlh, gsize len, gpointer data);

/* Frames the messages of the datagram [@buf, @buf + @n) as nl_attr_walk()
 * frames attributes: -EBADMSG when a header does not fit or lies. */
static int
nl_datagram_walk(const guint8 *buf, gsize n, NlMsgFunc func, gpointer data)
{
    const guint8 *p = buf;
    gsize rem = n;

    while (rem > 0) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
        gsize step;
        int rc;

        if (rem < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > rem)
            return -EBADMSG;
        step = nl_step(nlh->nlmsg_len, rem);
        if (step == 0)
            return -EBADMSG;
        rc = func(nlh, nlh->nlmsg_len, data);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        p += step;
        rem -= step;
    }
    return 0;
}

static int
ext_ack_cb(const struct nlattr *attr, gpointer data)
{
    char **msg = data;

    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && attr_ok(attr, MNL_TYPE_NUL_STRING))
        *msg = g_strdup(mnl_attr_get_str(attr));
    return 0;
}

/* The kernel's error in an NLMSG_ERROR of @len bytes (0 for an ACK), or
 * -EBADMSG; keeps an extended-ack message in @nl. */
static int
nl_error_msg(VfsecNetlink *nl, const struct nlmsghdr *nlh, gsize len)
{
    const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
    gsize payload;
    gsize tlv_off = sizeof(*err);

    if (len < MNL_NLMSG_HDRLEN + sizeof(*err) || err->error > 0)
        return -EBADMSG;
    payload = len - MNL_NLMSG_HDRLEN;
    if (err->error == 0 || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
        return err->error;
    /* Without NLM_F_CAPPED the whole request is echoed before the TLVs. */
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
        tlv_off += MNL_ALIGN(MAX((gsize)err->msg.nlmsg_len, sizeof(err->msg))) - sizeof(err->msg);
    if (tlv_off <= payload) {
        char *msg = NULL;

        if (nl_attr_walk((const guint8 *)err + tlv_off, payload - tlv_off, ext_ack_cb, &msg) < 0)
            g_clear_pointer(&msg, g_free);  /* a garbled reason is no reason */
        g_free(nl->ext_ack);
        nl->ext_ack = msg;
    }
    return err->error;
}

VfsecNetlink *
vfsec_netlink_new(int netns_fd, GError **error)
{
    g_autoptr(VfsecNetlink) nl = g_new0(VfsecNetlink, 1);
    struct timeval tv = { .tv_sec = VFSEC_NL_TIMEOUT_SEC };
    int one = 1;
    int rc = nl_socket_open(netns_fd, 0, &nl->sock);

    if (rc < 0) {
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "cannot open an rtnetlink socket: %s", g_strerror(-rc));
        return NULL;
    }
    /* Best effort: older kernels lack extended ACKs, which only add detail. */
    mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
    mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
    if (setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
        rc = -errno;
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "cannot set the rtnetlink socket timeout: %s", g_strerror(-rc));
        return NULL;
    }
    nl->portid = mnl_socket_get_portid(nl->sock);
    /* Start from the clock, as iproute2 does, so a new socket reusing a port
     * id is unlikely to match stale replies. */
    nl->seq = (guint32)(g_get_real_time() / G_USEC_PER_SEC);
    return g_steal_pointer(&nl);
}

void
vfsec_netlink_free(VfsecNetlink *nl)
{
    if (!nl)
        return;
    if (nl->sock)
        mnl_socket_close(nl->sock);
    g_free(nl->rxbuf);
    g_free(nl->ext_ack);
    g_free(nl);
}

int
vfsec_netlink_get_fd(VfsecNetlink *nl)
{
    return mnl_socket_get_fd(nl->sock);
}

const char *
vfsec_netlink_last_ext_ack(VfsecNetlink *nl)
{
    return nl->ext_ack;
}

typedef struct {
    VfsecNetlink *nl;
    guint32 seq;
    VfsecNetlinkReplyFunc func;
    gpointer user_data;
    int func_rc;       /* first error returned by @func */
    gboolean done;
    gboolean interrupted;
    int result;
} NlTransaction;

static int
nl_transaction_msg(const struct nlmsghdr *nlh, gsize len, gpointer data)
{
    NlTransaction *t = data;

    if (nlh->nlmsg_seq != t->seq || nlh->nlmsg_pid != t->nl->portid)
        return 0;  /* a late answer to an earlier, abandoned request */
    if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
        t->interrupted = TRUE;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        t->done = TRUE;
        t->result = nl_error_msg(t->nl, nlh, len);
        return 1;
    }
    if (nlh->nlmsg_type == NLMSG_DONE) {
        t->done = TRUE;
        t->result = 0;
        return 1;
    }
    if (nlh->nlmsg_type >= NLMSG_MIN_TYPE && t->func && t->func_rc == 0)
        t->func_rc = t->func(nlh, len, t->user_data);
    return 0;
}

int
vfsec_netlink_transact(VfsecNetlink *nl, struct nlmsghdr *nlh, VfsecNetlinkReplyFunc func,
                       gpointer user_data)
{
    NlTransaction t = { .nl = nl, .func = func, .user_data = user_data };
    int fd = mnl_socket_get_fd(nl->sock);

    g_clear_pointer(&nl->ext_ack, g_free);
    t.seq = ++nl->seq;
    nlh->nlmsg_seq = t.seq;
    nlh->nlmsg_pid = 0;
    if (!(nlh->nlmsg_flags & NLM_F_DUMP))
        nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -errno;

    while (!t.done) {
        gssize n = nl_recv(fd, &nl->rxbuf, &nl->rxbuf_len, 0);
        int rc;

        if (n == -EAGAIN)
            return -ETIMEDOUT;
        if (n == -EPERM)
            continue;  /* a unicast from a process, not the kernel's answer */
        if (n < 0)
            return (int)n;
        rc = nl_datagram_walk(nl->rxbuf, (gsize)n, nl_transaction_msg, &t);
        if (rc < 0)
            return rc;
    }
    if (t.result < 0)
        return t.result;
    if (t.func_rc < 0)
        return t.func_rc;
    return t.interrupted ? -EAGAIN : 0;
}

/* Sends a built request and reports a failure as "@fmt failed: reason". */
static gboolean G_GNUC_PRINTF(7, 8)
nl_run(VfsecNetlink *nl, void *buf, int build_rc, VfsecNetlinkReplyFunc func,
       gpointer user_data, GError **error, const char *fmt, ...)
{
    g_autofree char *what = NULL;
    va_list ap;
    int rc = build_rc;

    if (rc == 0)
        rc = vfsec_netlink_transact(nl, buf, func, user_data);

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_debug("%s: %s", what, rc < 0 ? g_strerror(-rc) : "ok");
    if (rc == 0)
        return TRUE;
    if (rc < 0 && nl->ext_ack && build_rc == 0)
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc), "%s failed: %s (%s)", what,
                    g_strerror(-rc), nl->ext_ack);
    else
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc), "%s failed: %s", what,
                    g_strerror(-rc));
    return FALSE;
}

gboolean
vfsec_netlink_veth_add(VfsecNetlink *nl, const char *name, const char *peer, int peer_netns_fd,
                       const VfsecMac *mac, const VfsecMac *peer_mac, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    int rc = vfsec_nl_build_veth_add(buf, sizeof(buf), name, peer, peer_netns_fd, mac, peer_mac);

    return nl_run(nl, buf, rc, NULL, NULL, error, "creating veth pair %s/%s", name, peer);
}

gboolean
vfsec_netlink_link_del(VfsecNetlink *nl, const char *ifname, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    int rc = vfsec_nl_build_link_del(buf, sizeof(buf), 0, ifname);

    return nl_run(nl, buf, rc, NULL, NULL, error, "deleting link %s", ifname);
}

gboolean
vfsec_netlink_link_set_up(VfsecNetlink *nl, const char *ifname, gboolean up, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    int rc = vfsec_nl_build_link_set_up(buf, sizeof(buf), 0, ifname, up);

    return nl_run(nl, buf, rc, NULL, NULL, error, "setting link %s %s", ifname,
                  up ? "up" : "down");
}

gboolean
vfsec_netlink_link_set_mac(VfsecNetlink *nl, const char *ifname, const VfsecMac *mac,
                           GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    char macstr[VFSEC_MAC_STRLEN] = "(none)";
    int rc = vfsec_nl_build_link_set_mac(buf, sizeof(buf), 0, ifname, mac);

    if (mac)
        vfsec_mac_format(mac, macstr);
    return nl_run(nl, buf, rc, NULL, NULL, error, "setting MAC %s on link %s", macstr, ifname);
}

gboolean
vfsec_netlink_link_set_mtu(VfsecNetlink *nl, const char *ifname, guint32 mtu, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    int rc = vfsec_nl_build_link_set_mtu(buf, sizeof(buf), 0, ifname, mtu);

    return nl_run(nl, buf, rc, NULL, NULL, error, "setting MTU %u on link %s", mtu, ifname);
}

gboolean
vfsec_netlink_link_set_netns(VfsecNetlink *nl, const char *ifname, int netns_fd, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    int rc = vfsec_nl_build_link_set_netns_fd(buf, sizeof(buf), 0, ifname, netns_fd);

    return nl_run(nl, buf, rc, NULL, NULL, error, "moving link %s to another namespace", ifname);
}

int
vfsec_netlink_link_reply_cb(const struct nlmsghdr *nlh, gsize len, gpointer data)
{
    VfsecNetlinkLinkReply *r = data;
    VfsecLinkInfo *info = NULL;
    int rc;

    if (nlh->nlmsg_type != RTM_NEWLINK || r->info)
        return 0;
    rc = vfsec_link_info_parse(nlh, len, &info);
    if (rc < 0)
        return rc;
    if (r->ifindex != 0 && info->ifindex != r->ifindex)
        vfsec_link_info_free(info);
    else
        r->info = info;
    return 0;
}

VfsecLinkInfo *
vfsec_netlink_link_get(VfsecNetlink *nl, const char *ifname, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    VfsecNetlinkLinkReply reply = { 0 };
    int rc = vfsec_nl_build_link_get(buf, sizeof(buf), 0, ifname);

    if (!nl_run(nl, buf, rc, vfsec_netlink_link_reply_cb, &reply, error, "reading link %s", ifname)) {
        vfsec_link_info_free(reply.info);
        return NULL;
    }
    if (!reply.info)
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "reading link %s failed: the kernel sent no link", ifname);
    return reply.info;
}

gboolean
vfsec_netlink_vf_set(VfsecNetlink *nl, const char *pf, const VfsecVfConfig *cfg, GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    int rc = vfsec_nl_build_vf_set(buf, sizeof(buf), 0, pf, cfg);

    return nl_run(nl, buf, rc, NULL, NULL, error, "setting attributes of VF %u on %s",
                  cfg ? cfg->vf : 0, pf);
}

gboolean
vfsec_netlink_bridge_set_hwmode(VfsecNetlink *nl, const char *pf, VfsecBridgeMode mode,
                                GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    g_autoptr(VfsecLinkInfo) link = vfsec_netlink_link_get(nl, pf, error);
    int rc;

    if (!link)
        return FALSE;
    rc = vfsec_nl_build_bridge_set_hwmode(buf, sizeof(buf), (int)link->ifindex, mode);
    return nl_run(nl, buf, rc, NULL, NULL, error, "setting bridge mode %s on %s",
                  vfsec_bridge_mode_to_string(mode) ?: "(invalid)", pf);
}

gboolean
vfsec_netlink_bridge_get_hwmode(VfsecNetlink *nl, const char *pf, VfsecBridgeMode *mode,
                                GError **error)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    g_autoptr(VfsecLinkInfo) link = vfsec_netlink_link_get(nl, pf, error);
    VfsecNetlinkLinkReply reply = { 0 };
    g_autoptr(VfsecLinkInfo) br = NULL;
    int rc;

    if (!link)
        return FALSE;
    reply.ifindex = link->ifindex;
    rc = vfsec_nl_build_bridge_dump(buf, sizeof(buf));
    if (!nl_run(nl, buf, rc, vfsec_netlink_link_reply_cb, &reply, error, "reading the bridge mode of %s", pf)) {
        vfsec_link_info_free(reply.info);
        return FALSE;
    }
    br = reply.info;
    if (!br || br->bridge_mode < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED,
                    "%s reports no embedded bridge mode", pf);
        return FALSE;
    }
    *mode = (VfsecBridgeMode)br->bridge_mode;
    return TRUE;
}

/* ---- Link notifications ------------------------------------------------ */

struct _VfsecNetlinkMonitor {
    struct mnl_socket *sock;
    VfsecNetlinkMonitorFunc func;
    gpointer user_data;
    guint8 *rxbuf;
    gsize rxbuf_len;
    GSource *source;
};

VfsecNetlinkMonitor *
vfsec_netlink_monitor_new(int netns_fd, VfsecNetlinkMonitorFunc func, gpointer user_data,
                          GError **error)
{
    g_autoptr(VfsecNetlinkMonitor) mon = g_new0(VfsecNetlinkMonitor, 1);
    int group = RTNLGRP_LINK;
    int rc = nl_socket_open(netns_fd, SOCK_NONBLOCK, &mon->sock);

    if (rc == 0 &&
        mnl_socket_setsockopt(mon->sock, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
        rc = -errno;
    if (rc < 0) {
        g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                    "cannot open an rtnetlink link monitor: %s", g_strerror(-rc));
        return NULL;
    }
    mon->func = func;
    mon->user_data = user_data;
    return g_steal_pointer(&mon);
}

void
vfsec_netlink_monitor_free(VfsecNetlinkMonitor *mon)
{
    if (!mon)
        return;
    if (mon->source) {
        g_source_destroy(mon->source);
        g_source_unref(mon->source);
    }
    if (mon->sock)
        mnl_socket_close(mon->sock);
    g_free(mon->rxbuf);
    g_free(mon);
}

int
vfsec_netlink_monitor_get_fd(VfsecNetlinkMonitor *mon)
{
    return mnl_socket_get_fd(mon->sock);
}

/* Delivers one notification; -EBADMSG when it is malformed. */
static int
monitor_msg(const struct nlmsghdr *nlh, gsize len, gpointer data)
{
    VfsecNetlinkMonitor *mon = data;
    g_autoptr(VfsecLinkInfo) info = NULL;
    int rc;

    if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
        return 0;
    rc = vfsec_link_info_parse(nlh, len, &info);
    if (rc < 0)
        return rc;
    mon->func(info, mon->user_data);
    return 0;
}

int
vfsec_netlink_monitor_dispatch(VfsecNetlinkMonitor *mon)
{
    int fd = mnl_socket_get_fd(mon->sock);

    for (;;) {
        gssize n = nl_recv(fd, &mon->rxbuf, &mon->rxbuf_len, MSG_DONTWAIT);

        if (n == -EAGAIN)
            return 0;
        if (n == -ENOBUFS || n == -EPERM) {
            g_debug("link monitor: %s", n == -EPERM ? "datagram not from the kernel dropped"
                                                    : "notifications lost");
            if (n == -ENOBUFS)
                mon->func(NULL, mon->user_data);
            continue;
        }
        if (n < 0)
            return (int)n;
        if (nl_datagram_walk(mon->rxbuf, (gsize)n, monitor_msg, mon) < 0) {
            g_debug("link monitor: malformed notification dropped");
            mon->func(NULL, mon->user_data);
        }
    }
}

static gboolean
monitor_source_cb(gint fd, GIOCondition condition, gpointer user_data)
{
    VfsecNetlinkMonitor *mon = user_data;
    int rc = vfsec_netlink_monitor_dispatch(mon);

    if (rc == 0)
        return G_SOURCE_CONTINUE;
    /* A socket that fails for any other reason would fail forever: stop
     * polling it and tell the owner to resync (or reopen). */
    g_warning("rtnetlink link monitor stopped: %s", g_strerror(-rc));
    mon->func(NULL, mon->user_data);
    g_clear_pointer(&mon->source, g_source_unref);
    return G_SOURCE_REMOVE;
}

void
vfsec_netlink_monitor_attach(VfsecNetlinkMonitor *mon, GMainContext *context)
{
    g_return_if_fail(mon->source == NULL);
    mon->source = g_unix_fd_source_new(mnl_socket_get_fd(mon->sock), G_IO_IN);
    g_source_set_callback(mon->source, G_SOURCE_FUNC(monitor_source_cb), mon, NULL);
    g_source_attach(mon->source, context);
}

/* ---- Ethtool features -------------------------------------------------- */

/* More feature bits than any kernel has; bounds the string-set allocation. */
#define VFSEC_ETHTOOL_MAX_FEATURES 1024

static int
ethtool_ioctl(int fd, const char *ifname, void *cmd)
{
    struct ifreq ifr;
    int rc;

    if (!ifname_valid(ifname))
        return -EINVAL;
    memset(&ifr, 0, sizeof(ifr));
    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    ifr.ifr_data = cmd;
    rc = ioctl(fd, SIOCETHTOOL, &ifr);
    return rc < 0 ? -errno : rc;
}

/* Resolves the NULL-terminated @names to feature bit numbers in @bits (one per
 * name) and tells how many feature bits the device has. */
static int
ethtool_feature_bits(int fd, const char *ifname, const char *const *names, guint *bits,
                     guint *n_features)
{
    struct {
        struct ethtool_sset_info hdr;
        guint32 count;
    } sset;
    g_autofree struct ethtool_gstrings *strings = NULL;
    guint count;
    int rc;

    memset(&sset, 0, sizeof(sset));
    sset.hdr.cmd = ETHTOOL_GSSET_INFO;
    sset.hdr.sset_mask = 1ULL << ETH_SS_FEATURES;
    rc = ethtool_ioctl(fd, ifname, &sset);
    if (rc < 0)
        return rc;
    if (!(sset.hdr.sset_mask & (1ULL << ETH_SS_FEATURES)))
        return -EOPNOTSUPP;
    count = sset.count;
    if (count == 0 || count > VFSEC_ETHTOOL_MAX_FEATURES)
        return -EPROTO;

    strings = g_malloc0(sizeof(*strings) + (gsize)count * ETH_GSTRING_LEN);
    strings->cmd = ETHTOOL_GSTRINGS;
    strings->string_set = ETH_SS_FEATURES;
    strings->len = count;
    rc = ethtool_ioctl(fd, ifname, strings);
    if (rc < 0)
        return rc;
    count = MIN(count, strings->len);

    for (gsize i = 0; names[i]; i++) {
        guint j;

        for (j = 0; j < count; j++) {
            const char *s = (const char *)strings->data + (gsize)j * ETH_GSTRING_LEN;

            if (strnlen(s, ETH_GSTRING_LEN) < ETH_GSTRING_LEN && strcmp(s, names[i]) == 0)
                break;
        }
        if (j == count)
            return -ENOENT;
        bits[i] = j;
    }
    *n_features = count;
    return 0;
}

static struct ethtool_gfeatures *
ethtool_gfeatures(int fd, const char *ifname, guint n_features, int *rc)
{
    guint blocks = (n_features + 31) / 32;
    g_autofree struct ethtool_gfeatures *g =
        g_malloc0(sizeof(*g) + blocks * sizeof(struct ethtool_get_features_block));

    g->cmd = ETHTOOL_GFEATURES;
    g->size = blocks;
    *rc = ethtool_ioctl(fd, ifname, g);
    return *rc < 0 ? NULL : g_steal_pointer(&g);
}

static gboolean
feature_active(const struct ethtool_gfeatures *g, guint bit)
{
    return (g->features[bit / 32].active & (1U << (bit % 32))) != 0;
}

int
vfsec_netlink_feature_get(VfsecNetlink *nl, const char *ifname, const char *name,
                          gboolean *active)
{
    const char *names[] = { name, NULL };
    g_autofree struct ethtool_gfeatures *g = NULL;
    int fd = vfsec_netlink_get_fd(nl);
    guint bit;
    guint n_features;
    int rc = ethtool_feature_bits(fd, ifname, names, &bit, &n_features);

    if (rc < 0)
        return rc;
    g = ethtool_gfeatures(fd, ifname, n_features, &rc);
    if (!g)
        return rc;
    *active = feature_active(g, bit);
    return 0;
}

int
vfsec_netlink_features_set(VfsecNetlink *nl, const char *ifname, const char *const *names,
                           gboolean enable)
{
    int fd = vfsec_netlink_get_fd(nl);
    gsize n_names = g_strv_length((char **)names);
    g_autofree guint *bits = g_new0(guint, n_names + 1);
    g_autofree struct ethtool_gfeatures *g = NULL;
    g_autofree struct ethtool_sfeatures *s = NULL;
    gboolean change = FALSE;
    guint n_features;
    guint blocks;
    int rc = ethtool_feature_bits(fd, ifname, names, bits, &n_features);

    if (rc < 0)
        return rc;
    g = ethtool_gfeatures(fd, ifname, n_features, &rc);
    if (!g)
        return rc;

    blocks = g->size;
    s = g_malloc0(sizeof(*s) + blocks * sizeof(struct ethtool_set_features_block));
    s->cmd = ETHTOOL_SFEATURES;
    s->size = blocks;
    for (gsize i = 0; i < n_names; i++) {
        guint b = bits[i] / 32;
        guint32 mask = 1U << (bits[i] % 32);

        if (feature_active(g, bits[i]) == enable)
            continue;
        if (!(g->features[b].available & mask) || (g->features[b].never_changed & mask))
            return -EOPNOTSUPP;  /* fixed in the other state */
        s->features[b].valid |= mask;
        if (enable)
            s->features[b].requested |= mask;
        change = TRUE;
    }
    if (!change)
        return 0;
    rc = ethtool_ioctl(fd, ifname, s);
    if (rc < 0)
        return rc;

    /* A positive return (ETHTOOL_F_WISH, ...) means "not all as asked": trust
     * only what reads back. */
    g_free(g);
    g = ethtool_gfeatures(fd, ifname, n_features, &rc);
    if (!g)
        return rc;
    for (gsize i = 0; i < n_names; i++) {
        if (feature_active(g, bits[i]) != enable)
            return -EOPNOTSUPP;
    }
    return 0;
}

gboolean
vfsec_netlink_offloads_disable(VfsecNetlink *nl, const char *ifname, GError **error)
{
    static const char *const names[] = {
        /* VLAN tags stay in the frame bytes on transmit. */
        "rx-vlan-hw-parse", "tx-vlan-hw-insert",
        "rx-vlan-stag-hw-parse", "tx-vlan-stag-hw-insert",
        /* Checksums are computed before the frame is seen, not left partial. */
        "tx-checksum-ipv4", "tx-checksum-ip-generic", "tx-checksum-ipv6", "tx-checksum-sctp",
        /* Frames are wire-sized, never super-frames split later. */
        "tx-tcp-segmentation", "tx-tcp-ecn-segmentation", "tx-tcp-mangleid-segmentation",
        "tx-tcp6-segmentation", "tx-udp-segmentation", "tx-generic-segmentation",
        "rx-gro",
        NULL,
    };
    int rc = vfsec_netlink_features_set(nl, ifname, names, FALSE);

    g_debug("disabling offloads on %s: %s", ifname, rc < 0 ? g_strerror(-rc) : "ok");
    if (rc == 0)
        return TRUE;
    g_set_error(error, VFSEC_ERROR, vfsec_errno_to_code(rc),
                "disabling offloads on link %s failed: %s", ifname, g_strerror(-rc));
    return FALSE;
}
