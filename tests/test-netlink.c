/* test-netlink.c: rtnetlink builders parsed back attribute by attribute, and
 * the RTM_NEWLINK parser fed valid, truncated and lying messages. No sockets. */
#include "vfsec-netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdarg.h>
#include <string.h>

/* ---- A test-side attribute walker ------------------------------------- *
 * Flattens a message into "type/type/..." paths. Nested attributes are
 * descended into where a NestRule says so (with an optional fixed header,
 * recorded as "<path>/hdr"). Every leaf must be taken by an expectation, so a
 * builder that adds an attribute the test does not know fails the test. */

typedef struct {
    const char *path;
    gsize hdr;
} NestRule;

typedef struct {
    char *path;
    GBytes *payload;
    gboolean taken;
} TAttr;

typedef struct {
    struct nlmsghdr nlh;
    struct ifinfomsg ifi;
    GPtrArray *attrs;
} Tree;

static void
tattr_free(gpointer p)
{
    TAttr *a = p;

    g_free(a->path);
    g_bytes_unref(a->payload);
    g_free(a);
}

static void
tree_free(Tree *t)
{
    g_ptr_array_unref(t->attrs);
    g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Tree, tree_free)

static const NestRule *
nest_rule(const NestRule *rules, const char *path)
{
    for (; rules && rules->path; rules++) {
        if (strcmp(rules->path, path) == 0)
            return rules;
    }
    return NULL;
}

static void
tree_add(Tree *t, const char *path, const void *data, gsize len, gboolean taken)
{
    TAttr *a = g_new0(TAttr, 1);

    a->path = g_strdup(path);
    a->payload = g_bytes_new(data, len);
    a->taken = taken;
    g_ptr_array_add(t->attrs, a);
}

static void
tree_walk(Tree *t, const guint8 *p, gsize len, const char *prefix, const NestRule *rules)
{
    while (len > 0) {
        const struct nlattr *a = (const struct nlattr *)p;
        g_autofree char *path = NULL;
        const NestRule *rule;
        gsize plen;

        g_assert_cmpuint(len, >=, sizeof(*a));
        g_assert_cmpuint(a->nla_len, >=, sizeof(*a));
        g_assert_cmpuint(a->nla_len, <=, len);
        path = prefix ? g_strdup_printf("%s/%u", prefix, a->nla_type & NLA_TYPE_MASK)
                      : g_strdup_printf("%u", a->nla_type & NLA_TYPE_MASK);
        plen = a->nla_len - sizeof(*a);
        rule = nest_rule(rules, path);
        if (rule) {
            g_autofree char *hdr_path = g_strdup_printf("%s/hdr", path);

            g_assert_cmpuint(plen, >=, rule->hdr);
            tree_add(t, path, p + sizeof(*a), plen, TRUE);
            if (rule->hdr)
                tree_add(t, hdr_path, p + sizeof(*a), rule->hdr, FALSE);
            tree_walk(t, p + sizeof(*a) + rule->hdr, plen - rule->hdr, path, rules);
        } else {
            tree_add(t, path, p + sizeof(*a), plen, FALSE);
        }
        p += MIN(NLMSG_ALIGN(a->nla_len), len);
        len -= MIN(NLMSG_ALIGN(a->nla_len), len);
    }
}

static Tree *
tree_parse(const void *buf, const NestRule *rules)
{
    const struct nlmsghdr *nlh = buf;
    Tree *t = g_new0(Tree, 1);
    gsize hdrs = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg));

    t->attrs = g_ptr_array_new_with_free_func(tattr_free);
    g_assert_cmpuint(nlh->nlmsg_len, >=, hdrs);
    g_assert_cmpuint(nlh->nlmsg_len, <=, VFSEC_NL_BUFSIZE);
    g_assert_cmpuint(nlh->nlmsg_seq, ==, 0);
    g_assert_cmpuint(nlh->nlmsg_pid, ==, 0);
    t->nlh = *nlh;
    memcpy(&t->ifi, (const guint8 *)buf + NLMSG_HDRLEN, sizeof(t->ifi));
    tree_walk(t, (const guint8 *)buf + hdrs, nlh->nlmsg_len - hdrs, NULL, rules);
    return t;
}

/* "a/b/c" from attribute types, terminated by -1. */
static char *
path_of(int first, ...)
{
    GString *s = g_string_new(NULL);
    va_list ap;

    va_start(ap, first);
    for (int type = first; type >= 0; type = va_arg(ap, int))
        g_string_append_printf(s, "%s%d", s->len ? "/" : "", type);
    va_end(ap);
    return g_string_free(s, FALSE);
}
#define P(...) path_of(__VA_ARGS__, -1)

static GBytes *
tree_take(Tree *t, char *path)
{
    g_autofree char *owned = path;

    for (guint i = 0; i < t->attrs->len; i++) {
        TAttr *a = g_ptr_array_index(t->attrs, i);

        if (strcmp(a->path, owned) == 0 && !a->taken) {
            a->taken = TRUE;
            return a->payload;
        }
    }
    g_error("attribute %s missing", owned);
    return NULL;
}

static void
expect_bytes(Tree *t, char *path, const void *data, gsize len)
{
    GBytes *b = tree_take(t, path);
    gsize blen;
    const void *bdata = g_bytes_get_data(b, &blen);

    g_assert_cmpmem(bdata, blen, data, len);
}

static void
expect_str(Tree *t, char *path, const char *str)
{
    expect_bytes(t, path, str, strlen(str) + 1);
}

static void
expect_u32(Tree *t, char *path, guint32 value)
{
    expect_bytes(t, path, &value, sizeof(value));
}

static void
expect_u16(Tree *t, char *path, guint16 value)
{
    expect_bytes(t, path, &value, sizeof(value));
}

static void
expect_all_taken(Tree *t)
{
    for (guint i = 0; i < t->attrs->len; i++) {
        TAttr *a = g_ptr_array_index(t->attrs, i);

        if (!a->taken)
            g_error("unexpected attribute %s", a->path);
    }
}

static void
expect_header(Tree *t, guint16 type, guint16 flags, guint8 family, int ifindex)
{
    g_assert_cmpuint(t->nlh.nlmsg_type, ==, type);
    g_assert_cmphex(t->nlh.nlmsg_flags, ==, flags);
    g_assert_cmpuint(t->ifi.ifi_family, ==, family);
    g_assert_cmpint(t->ifi.ifi_index, ==, ifindex);
}

static const VfsecMac mac_a = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a } };
static const VfsecMac mac_b = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b } };

#define REQ_ACK (NLM_F_REQUEST | NLM_F_ACK)

/* ---- Builders ---------------------------------------------------------- */

static const NestRule veth_rules[] = {
    { "18", 0 },      /* IFLA_LINKINFO */
    { "18/2", 0 },    /* IFLA_INFO_DATA */
    { "18/2/1", sizeof(struct ifinfomsg) },  /* VETH_INFO_PEER */
    { NULL, 0 },
};

static void
test_build_veth(void)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    struct ifinfomsg zero_ifi = { 0 };
    g_autoptr(Tree) t = NULL;

    g_assert_cmpint(IFLA_LINKINFO, ==, 18);
    g_assert_cmpint(vfsec_nl_build_veth_add(buf, sizeof(buf), "ve0", "ve0p", 7, &mac_a, &mac_b),
                    ==, 0);
    t = tree_parse(buf, veth_rules);
    expect_header(t, RTM_NEWLINK, REQ_ACK | NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
    expect_str(t, P(IFLA_IFNAME), "ve0");
    expect_bytes(t, P(IFLA_ADDRESS), mac_a.b, 6);
    expect_str(t, P(IFLA_LINKINFO, IFLA_INFO_KIND), "veth");
    expect_bytes(t, g_strdup("18/2/1/hdr"), &zero_ifi, sizeof(zero_ifi));
    expect_str(t, P(IFLA_LINKINFO, IFLA_INFO_DATA, VETH_INFO_PEER, IFLA_IFNAME), "ve0p");
    expect_bytes(t, P(IFLA_LINKINFO, IFLA_INFO_DATA, VETH_INFO_PEER, IFLA_ADDRESS), mac_b.b, 6);
    expect_u32(t, P(IFLA_LINKINFO, IFLA_INFO_DATA, VETH_INFO_PEER, IFLA_NET_NS_FD), 7);
    expect_all_taken(t);
}

static void
test_build_veth_minimal(void)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    struct ifinfomsg zero_ifi = { 0 };
    g_autoptr(Tree) t = NULL;

    g_assert_cmpint(vfsec_nl_build_veth_add(buf, sizeof(buf), "a", "b", -1, NULL, NULL), ==, 0);
    t = tree_parse(buf, veth_rules);
    expect_header(t, RTM_NEWLINK, REQ_ACK | NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
    expect_str(t, P(IFLA_IFNAME), "a");
    expect_str(t, P(IFLA_LINKINFO, IFLA_INFO_KIND), "veth");
    expect_bytes(t, g_strdup("18/2/1/hdr"), &zero_ifi, sizeof(zero_ifi));
    expect_str(t, P(IFLA_LINKINFO, IFLA_INFO_DATA, VETH_INFO_PEER, IFLA_IFNAME), "b");
    expect_all_taken(t);
}

/* Requests addressed to one link, each carrying at most one attribute. */
typedef enum { OP_DEL, OP_UP, OP_DOWN, OP_MAC, OP_MTU, OP_NETNS_FD, OP_NETNS_PID, OP_GET } LinkOp;

typedef struct {
    LinkOp op;
    int ifindex;
    const char *ifname;
    guint16 type;
    guint32 ifi_flags;
    guint32 ifi_change;
    int attr;          /* -1: none besides the name */
    guint32 value;     /* the u32 attribute's value */
} LinkCase;

static int
build_link_op(const LinkCase *c, void *buf, gsize buflen)
{
    switch (c->op) {
    case OP_DEL:
        return vfsec_nl_build_link_del(buf, buflen, c->ifindex, c->ifname);
    case OP_UP:
    case OP_DOWN:
        return vfsec_nl_build_link_set_up(buf, buflen, c->ifindex, c->ifname, c->op == OP_UP);
    case OP_MAC:
        return vfsec_nl_build_link_set_mac(buf, buflen, c->ifindex, c->ifname, &mac_a);
    case OP_MTU:
        return vfsec_nl_build_link_set_mtu(buf, buflen, c->ifindex, c->ifname, c->value);
    case OP_NETNS_FD:
        return vfsec_nl_build_link_set_netns_fd(buf, buflen, c->ifindex, c->ifname,
                                                (int)c->value);
    case OP_NETNS_PID:
        return vfsec_nl_build_link_set_netns_pid(buf, buflen, c->ifindex, c->ifname,
                                                 (pid_t)c->value);
    case OP_GET:
        return vfsec_nl_build_link_get(buf, buflen, c->ifindex, c->ifname);
    }
    g_assert_not_reached();
}

static const LinkCase link_cases[] = {
    { OP_DEL, 0, "ve0", RTM_DELLINK, 0, 0, -1, 0 },
    { OP_DEL, 12, NULL, RTM_DELLINK, 0, 0, -1, 0 },
    { OP_UP, 0, "ve0", RTM_SETLINK, IFF_UP, IFF_UP, -1, 0 },
    { OP_DOWN, 3, "ignored", RTM_SETLINK, 0, IFF_UP, -1, 0 },
    { OP_MAC, 0, "ve0", RTM_SETLINK, 0, 0, IFLA_ADDRESS, 0 },
    { OP_MTU, 0, "ve0", RTM_SETLINK, 0, 0, IFLA_MTU, 9000 },
    { OP_MTU, 4, NULL, RTM_SETLINK, 0, 0, IFLA_MTU, 68 },
    { OP_NETNS_FD, 0, "ve0", RTM_SETLINK, 0, 0, IFLA_NET_NS_FD, 5 },
    { OP_NETNS_PID, 0, "ve0", RTM_SETLINK, 0, 0, IFLA_NET_NS_PID, 4242 },
    { OP_GET, 0, "pf0", RTM_GETLINK, 0, 0, IFLA_EXT_MASK, RTEXT_FILTER_VF },
    { OP_GET, 9, NULL, RTM_GETLINK, 0, 0, IFLA_EXT_MASK, RTEXT_FILTER_VF },
};

static void
test_build_link_ops(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(link_cases); i++) {
        const LinkCase *c = &link_cases[i];
        guint8 buf[VFSEC_NL_BUFSIZE];
        g_autoptr(Tree) t = NULL;

        g_test_message("case %zu", i);
        g_assert_cmpint(build_link_op(c, buf, sizeof(buf)), ==, 0);
        t = tree_parse(buf, NULL);
        expect_header(t, c->type, REQ_ACK, AF_UNSPEC, c->ifindex);
        g_assert_cmphex(t->ifi.ifi_flags, ==, c->ifi_flags);
        g_assert_cmphex(t->ifi.ifi_change, ==, c->ifi_change);
        if (c->ifindex == 0)
            expect_str(t, P(IFLA_IFNAME), c->ifname);
        if (c->attr == IFLA_ADDRESS)
            expect_bytes(t, P(c->attr), mac_a.b, 6);
        else if (c->attr >= 0)
            expect_u32(t, P(c->attr), c->value);
        expect_all_taken(t);
    }
}

static const NestRule vf_rules[] = {
    { "22", 0 },       /* IFLA_VFINFO_LIST */
    { "22/1", 0 },     /* IFLA_VF_INFO */
    { "22/1/12", 0 },  /* IFLA_VF_VLAN_LIST */
    { NULL, 0 },
};

typedef struct {
    VfsecVfConfig cfg;
    int ifindex;
    const char *ifname;
} VfCase;

static const VfCase vf_cases[] = {
    { { 3, VFSEC_VF_SET_VLAN | VFSEC_VF_SET_TRUST | VFSEC_VF_SET_SPOOFCHK | VFSEC_VF_SET_MAC,
        100, 5, ETH_P_8021AD, TRUE, FALSE, { { 0x02, 1, 2, 3, 4, 5 } } }, 0, "pf0" },
    { { 0, VFSEC_VF_SET_TRUST, 0, 0, 0, FALSE, FALSE, { { 0 } } }, 7, NULL },
    { { 1, VFSEC_VF_SET_SPOOFCHK, 0, 0, 0, FALSE, TRUE, { { 0 } } }, 0, "pf0" },
    { { 127, VFSEC_VF_SET_VLAN, 4095, 0, ETH_P_8021Q, FALSE, FALSE, { { 0 } } }, 0, "pf1" },
    { { 2, VFSEC_VF_SET_VLAN, 0, 0, ETH_P_8021Q, FALSE, FALSE, { { 0 } } }, 0, "pf1" },
    { { 4, VFSEC_VF_SET_MAC, 0, 0, 0, FALSE, FALSE, { { 0x52, 0x54, 0, 9, 8, 7 } } }, 2, NULL },
};

static void
test_build_vf_set(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(vf_cases); i++) {
        const VfCase *c = &vf_cases[i];
        guint8 buf[VFSEC_NL_BUFSIZE];
        g_autoptr(Tree) t = NULL;

        g_test_message("case %zu", i);
        g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), c->ifindex, c->ifname, &c->cfg),
                        ==, 0);
        t = tree_parse(buf, vf_rules);
        expect_header(t, RTM_SETLINK, REQ_ACK, AF_UNSPEC, c->ifindex);
        if (c->ifindex == 0)
            expect_str(t, P(IFLA_IFNAME), c->ifname);
        if (c->cfg.set & VFSEC_VF_SET_MAC) {
            struct ifla_vf_mac m = { .vf = c->cfg.vf };

            memcpy(m.mac, c->cfg.mac.b, 6);
            expect_bytes(t, P(IFLA_VFINFO_LIST, IFLA_VF_INFO, IFLA_VF_MAC), &m, sizeof(m));
        }
        if (c->cfg.set & VFSEC_VF_SET_VLAN) {
            struct ifla_vf_vlan_info v;

            memset(&v, 0, sizeof(v));  /* padding must go out as zeroes */
            v.vf = c->cfg.vf;
            v.vlan = c->cfg.vlan;
            v.qos = c->cfg.qos;
            v.vlan_proto = htons(c->cfg.vlan_proto);
            expect_bytes(t, P(IFLA_VFINFO_LIST, IFLA_VF_INFO, IFLA_VF_VLAN_LIST, IFLA_VF_VLAN_INFO),
                         &v, sizeof(v));
        }
        if (c->cfg.set & VFSEC_VF_SET_SPOOFCHK) {
            struct ifla_vf_spoofchk s = { c->cfg.vf, c->cfg.spoofchk };

            expect_bytes(t, P(IFLA_VFINFO_LIST, IFLA_VF_INFO, IFLA_VF_SPOOFCHK), &s, sizeof(s));
        }
        if (c->cfg.set & VFSEC_VF_SET_TRUST) {
            struct ifla_vf_trust tr = { c->cfg.vf, c->cfg.trust };

            expect_bytes(t, P(IFLA_VFINFO_LIST, IFLA_VF_INFO, IFLA_VF_TRUST), &tr, sizeof(tr));
        }
        expect_all_taken(t);
    }
}

static const NestRule af_rules[] = {
    { "26", 0 },  /* IFLA_AF_SPEC */
    { NULL, 0 },
};

static void
test_build_bridge(void)
{
    static const struct {
        VfsecBridgeMode mode;
        guint16 kmode;
    } cases[] = {
        { VFSEC_BRIDGE_MODE_VEB, BRIDGE_MODE_VEB },
        { VFSEC_BRIDGE_MODE_VEPA, BRIDGE_MODE_VEPA },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        guint8 buf[VFSEC_NL_BUFSIZE];
        g_autoptr(Tree) t = NULL;

        g_assert_cmpint(vfsec_nl_build_bridge_set_hwmode(buf, sizeof(buf), 11, cases[i].mode),
                        ==, 0);
        t = tree_parse(buf, af_rules);
        expect_header(t, RTM_SETLINK, REQ_ACK, AF_BRIDGE, 11);
        expect_u16(t, P(IFLA_AF_SPEC, IFLA_BRIDGE_FLAGS), BRIDGE_FLAGS_SELF);
        expect_u16(t, P(IFLA_AF_SPEC, IFLA_BRIDGE_MODE), cases[i].kmode);
        expect_all_taken(t);
    }
}

static void
test_build_dumps(void)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    g_autoptr(Tree) links = NULL;
    g_autoptr(Tree) bridges = NULL;

    g_assert_cmpint(vfsec_nl_build_link_dump(buf, sizeof(buf)), ==, 0);
    links = tree_parse(buf, NULL);
    expect_header(links, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, 0);
    expect_u32(links, P(IFLA_EXT_MASK), RTEXT_FILTER_VF);
    expect_all_taken(links);

    g_assert_cmpint(vfsec_nl_build_bridge_dump(buf, sizeof(buf)), ==, 0);
    bridges = tree_parse(buf, NULL);
    expect_header(bridges, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, AF_BRIDGE, 0);
    expect_u32(bridges, P(IFLA_EXT_MASK), RTEXT_FILTER_VF);
    expect_all_taken(bridges);
}

static void
test_build_invalid(void)
{
    guint8 buf[VFSEC_NL_BUFSIZE];
    VfsecVfConfig vf = { .vf = 1, .set = VFSEC_VF_SET_VLAN, .vlan = 10,
                         .vlan_proto = ETH_P_8021Q };
    const char *long_name = "0123456789abcdef";  /* IFNAMSIZ bytes without the NUL */

    g_assert_cmpint(vfsec_nl_build_link_del(buf, sizeof(buf), 0, NULL), ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_link_del(buf, sizeof(buf), 0, ""), ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_link_del(buf, sizeof(buf), -1, "x"), ==, 0);
    g_assert_cmpint(vfsec_nl_build_link_del(buf, sizeof(buf), 0, long_name), ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_veth_add(buf, sizeof(buf), long_name, "b", -1, NULL, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_veth_add(buf, sizeof(buf), "a", NULL, -1, NULL, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_link_set_mac(buf, sizeof(buf), 1, NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_link_set_netns_fd(buf, sizeof(buf), 1, NULL, -1), ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_link_set_netns_pid(buf, sizeof(buf), 1, NULL, 0), ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_bridge_set_hwmode(buf, sizeof(buf), 0, VFSEC_BRIDGE_MODE_VEB),
                    ==, -EINVAL);
    g_assert_cmpint(vfsec_nl_build_bridge_set_hwmode(buf, sizeof(buf), 1, VFSEC_BRIDGE_MODE_LAST),
                    ==, -EINVAL);

    g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), 1, NULL, &vf), ==, 0);
    g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), 1, NULL, NULL), ==, -EINVAL);
    vf.vlan = 4096;
    g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), 1, NULL, &vf), ==, -EINVAL);
    vf.vlan = 10;
    vf.qos = 8;
    g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), 1, NULL, &vf), ==, -EINVAL);
    vf.qos = 0;
    vf.vlan_proto = ETH_P_IP;
    g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), 1, NULL, &vf), ==, -EINVAL);
    vf.vlan_proto = ETH_P_8021Q;
    vf.set = 0;
    g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), 1, NULL, &vf), ==, -EINVAL);
    vf.set = 1 << 7;
    g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), 1, NULL, &vf), ==, -EINVAL);
    vf.set = VFSEC_VF_SET_TRUST;
    vf.vf = G_MAXINT32;
    g_assert_cmpint(vfsec_nl_build_vf_set(buf, sizeof(buf), 1, NULL, &vf), ==, -EINVAL);
}

/* Every builder, given each buffer size short of what it needs, must say
 * -EMSGSIZE and write nothing past the end. */
static int
build_full_vf(void *buf, gsize len)
{
    return vfsec_nl_build_vf_set(buf, len, 0, "pf0", &vf_cases[0].cfg);
}

static int
build_full_veth(void *buf, gsize len)
{
    return vfsec_nl_build_veth_add(buf, len, "ve0", "ve0p", 7, &mac_a, &mac_b);
}

static int
build_hwmode(void *buf, gsize len)
{
    return vfsec_nl_build_bridge_set_hwmode(buf, len, 3, VFSEC_BRIDGE_MODE_VEPA);
}

static int
build_get(void *buf, gsize len)
{
    return vfsec_nl_build_link_get(buf, len, 0, "pf0");
}

static int
build_mac(void *buf, gsize len)
{
    return vfsec_nl_build_link_set_mac(buf, len, 0, "pf0", &mac_a);
}

static int
build_dump(void *buf, gsize len)
{
    return vfsec_nl_build_link_dump(buf, len);
}

static void
test_build_short_buffers(void)
{
    int (*const builders[])(void *, gsize) = {
        build_full_vf, build_full_veth, build_hwmode, build_get, build_mac, build_dump,
    };

    for (gsize i = 0; i < G_N_ELEMENTS(builders); i++) {
        guint8 full[VFSEC_NL_BUFSIZE];
        guint32 need;

        g_assert_cmpint(builders[i](full, sizeof(full)), ==, 0);
        need = ((struct nlmsghdr *)full)->nlmsg_len;
        for (gsize len = 0; len < need; len++) {
            guint8 buf[VFSEC_NL_BUFSIZE];

            memset(buf, 0xa5, sizeof(buf));
            g_assert_cmpint(builders[i](buf, len), ==, -EMSGSIZE);
            for (gsize j = len; j < need + 16; j++)
                g_assert_cmphex(buf[j], ==, 0xa5);
        }
        g_assert_cmpint(builders[i](full, need), ==, 0);
    }
}

static void
test_bridge_mode_strings(void)
{
    g_assert_cmpstr(vfsec_bridge_mode_to_string(VFSEC_BRIDGE_MODE_VEB), ==, "veb");
    g_assert_cmpstr(vfsec_bridge_mode_to_string(VFSEC_BRIDGE_MODE_VEPA), ==, "vepa");
    g_assert_null(vfsec_bridge_mode_to_string(VFSEC_BRIDGE_MODE_LAST));
    g_assert_cmpint(vfsec_bridge_mode_from_string("vepa"), ==, VFSEC_BRIDGE_MODE_VEPA);
    g_assert_cmpint(vfsec_bridge_mode_from_string("veb"), ==, VFSEC_BRIDGE_MODE_VEB);
    g_assert_cmpint(vfsec_bridge_mode_from_string("VEPA"), ==, -1);
    g_assert_cmpint(vfsec_bridge_mode_from_string(NULL), ==, -1);
}

/* ---- Parser ------------------------------------------------------------ *
 * A PF's RTM_NEWLINK as the kernel sends it for RTM_GETLINK with
 * RTEXT_FILTER_VF, built with libmnl; a Mutation breaks one thing. */

typedef enum {
    MUT_NONE,
    MUT_VF_MAC_SHORT,       /* IFLA_VF_MAC 4 bytes short */
    MUT_MTU_SHORT,          /* IFLA_MTU as a u16 */
    MUT_OPERSTATE_WIDE,     /* IFLA_OPERSTATE as a u32 */
    MUT_IFNAME_NO_NUL,
    MUT_IFNAME_LONG,        /* 17 bytes with the NUL */
    MUT_VF_INDEX_MISMATCH,  /* VF_TRUST names another VF than VF_MAC */
    MUT_VLAN_INFO_SHORT,
    MUT_VLAN_RANGE,         /* vlan 4096 */
    MUT_QOS_RANGE,          /* qos 8 */
    MUT_NO_VF_INDEX,        /* a VF_INFO with no VF_* member */
    MUT_LEGACY_VLAN_ONLY,   /* no IFLA_VF_VLAN_LIST: IFLA_VF_VLAN is used */
    MUT_ADDRESS_4,          /* a 4-byte link address (a tunnel) */
    MUT_TRAILING,           /* 2 stray bytes after the last attribute */
    MUT_ATTR_LEN_ZERO,      /* an attribute with nla_len 0 (endless-loop bait) */
    MUT_LIST_LIES,          /* IFLA_VFINFO_LIST longer than the message */
    MUT_VF_INFO_LIES,       /* IFLA_VF_INFO longer than its list */
    MUT_VLAN_LIST_LIES,     /* IFLA_VF_VLAN_LIST longer than its IFLA_VF_INFO */
    MUT_MSG_LEN_LIES,       /* nlmsg_len past the buffer */
    MUT_NOT_LINK,           /* RTM_NEWROUTE */
    MUT_IFINDEX_ZERO,
    MUT_BRIDGE,             /* an AF_BRIDGE message with IFLA_AF_SPEC */
    MUT_BRIDGE_MODE_WIDE,   /* IFLA_BRIDGE_MODE as a u32 */
    MUT_DELLINK,
} Mutation;

static void
put_vf(struct nlmsghdr *nlh, guint32 vf, const guint8 *mac, guint32 vlan, guint32 qos,
       guint16 proto, guint32 spoofchk, guint32 trust, Mutation m, struct nlattr **vf_info,
       struct nlattr **vlan_list)
{
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_VF_INFO);
    struct ifla_vf_mac vm = { .vf = vf };
    struct ifla_vf_vlan vv = { vf, vlan, qos };
    struct ifla_vf_vlan_info vi;
    struct ifla_vf_spoofchk vs = { vf, spoofchk };
    struct ifla_vf_trust vt = { m == MUT_VF_INDEX_MISMATCH ? vf + 1 : vf, trust };
    struct nlattr *stats;

    memcpy(vm.mac, mac, 6);
    memset(&vi, 0, sizeof(vi));
    vi.vf = vf;
    vi.vlan = m == MUT_VLAN_RANGE ? 4096 : vlan;
    vi.qos = m == MUT_QOS_RANGE ? 8 : qos;
    vi.vlan_proto = htons(proto);

    if (m == MUT_NO_VF_INDEX) {
        mnl_attr_nest_end(nlh, info);
        return;
    }
    mnl_attr_put(nlh, IFLA_VF_MAC, m == MUT_VF_MAC_SHORT ? sizeof(vm) - 4 : sizeof(vm), &vm);
    /* The kernel reports the legacy form as well, VLAN protocol-less. */
    mnl_attr_put(nlh, IFLA_VF_VLAN, sizeof(vv), &vv);
    mnl_attr_put(nlh, IFLA_VF_SPOOFCHK, sizeof(vs), &vs);
    mnl_attr_put(nlh, IFLA_VF_TRUST, sizeof(vt), &vt);
    if (m != MUT_LEGACY_VLAN_ONLY) {
        struct nlattr *list = mnl_attr_nest_start(nlh, IFLA_VF_VLAN_LIST);

        mnl_attr_put(nlh, IFLA_VF_VLAN_INFO, m == MUT_VLAN_INFO_SHORT ? 14 : sizeof(vi), &vi);
        mnl_attr_nest_end(nlh, list);
        *vlan_list = list;
    }
    /* Something the parser does not use, nested: it must be skipped. */
    stats = mnl_attr_nest_start(nlh, IFLA_VF_STATS);
    mnl_attr_put_u64(nlh, IFLA_VF_STATS_RX_PACKETS, 12345);
    mnl_attr_nest_end(nlh, stats);
    mnl_attr_nest_end(nlh, info);
    *vf_info = info;
}

static const guint8 pf_mac[6] = { 0x02, 0xaa, 0, 0, 0, 1 };
static const guint8 vf0_mac[6] = { 0x02, 0xbb, 0, 0, 0, 0 };
static const guint8 vf1_mac[6] = { 0x02, 0xbb, 0, 0, 0, 1 };

/* Builds the message into @buf; returns the length to hand the parser. */
static gsize
build_pf_msg(guint8 *buf, Mutation m)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;
    struct nlattr *list;
    struct nlattr *vf_info = NULL;
    struct nlattr *vlan_list = NULL;
    gboolean bridge = m == MUT_BRIDGE || m == MUT_BRIDGE_MODE_WIDE;
    gsize len;

    nlh->nlmsg_type = m == MUT_NOT_LINK ? RTM_NEWROUTE :
                      m == MUT_DELLINK ? RTM_DELLINK : RTM_NEWLINK;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = bridge ? AF_BRIDGE : AF_UNSPEC;
    ifi->ifi_index = m == MUT_IFINDEX_ZERO ? 0 : 5;
    ifi->ifi_flags = IFF_UP | IFF_BROADCAST | IFF_MULTICAST;

    if (m == MUT_IFNAME_NO_NUL)
        mnl_attr_put(nlh, IFLA_IFNAME, 3, "pf0");
    else
        mnl_attr_put_strz(nlh, IFLA_IFNAME, m == MUT_IFNAME_LONG ? "0123456789abcdef" : "pf0");
    mnl_attr_put(nlh, IFLA_ADDRESS, m == MUT_ADDRESS_4 ? 4 : 6, pf_mac);
    if (m == MUT_MTU_SHORT)
        mnl_attr_put_u16(nlh, IFLA_MTU, 1500);
    else
        mnl_attr_put_u32(nlh, IFLA_MTU, 1500);
    if (m == MUT_OPERSTATE_WIDE)
        mnl_attr_put_u32(nlh, IFLA_OPERSTATE, IF_OPER_UP);
    else
        mnl_attr_put_u8(nlh, IFLA_OPERSTATE, IF_OPER_UP);
    mnl_attr_put_u32(nlh, IFLA_LINK, 5);
    mnl_attr_put_u32(nlh, IFLA_NUM_VF, 2);
    if (m == MUT_ATTR_LEN_ZERO) {
        struct nlattr *a = mnl_nlmsg_get_payload_tail(nlh);

        mnl_attr_put_u32(nlh, IFLA_GROUP, 0);
        a->nla_len = 0;
    }
    if (bridge) {
        struct nlattr *af = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);

        mnl_attr_put_u16(nlh, IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_SELF);
        if (m == MUT_BRIDGE_MODE_WIDE)
            mnl_attr_put_u32(nlh, IFLA_BRIDGE_MODE, BRIDGE_MODE_VEPA);
        else
            mnl_attr_put_u16(nlh, IFLA_BRIDGE_MODE, BRIDGE_MODE_VEPA);
        mnl_attr_nest_end(nlh, af);
    }

    /* The VF list goes last so a lying length can run past the message. */
    list = mnl_attr_nest_start(nlh, IFLA_VFINFO_LIST);
    put_vf(nlh, 0, vf0_mac, 100, 3, ETH_P_8021AD, 1, 0, m, &vf_info, &vlan_list);
    put_vf(nlh, 1, vf1_mac, 0, 0, ETH_P_8021Q, G_MAXUINT32, 1, MUT_NONE, &vf_info, &vlan_list);
    mnl_attr_nest_end(nlh, list);

    len = nlh->nlmsg_len;
    if (m == MUT_TRAILING) {
        memset(buf + len, 0, 2);
        nlh->nlmsg_len += 2;
        len += 2;
    }
    if (m == MUT_LIST_LIES)
        list->nla_len += 4;
    if (m == MUT_VF_INFO_LIES)
        vf_info->nla_len += 4;  /* the last VF_INFO, so it runs past the list */
    if (m == MUT_VLAN_LIST_LIES)
        vlan_list->nla_len += 64;  /* more than what follows it in its VF_INFO */
    if (m == MUT_MSG_LEN_LIES)
        nlh->nlmsg_len += 8;
    return len;
}

typedef struct {
    Mutation m;
    int rc;
} ParseCase;

static const ParseCase parse_cases[] = {
    { MUT_VF_MAC_SHORT, -EBADMSG },
    { MUT_MTU_SHORT, -EBADMSG },
    { MUT_OPERSTATE_WIDE, -EBADMSG },
    { MUT_IFNAME_NO_NUL, -EBADMSG },
    { MUT_IFNAME_LONG, -EBADMSG },
    { MUT_VF_INDEX_MISMATCH, -EBADMSG },
    { MUT_VLAN_INFO_SHORT, -EBADMSG },
    { MUT_VLAN_RANGE, -EBADMSG },
    { MUT_QOS_RANGE, -EBADMSG },
    { MUT_NO_VF_INDEX, -EBADMSG },
    { MUT_TRAILING, -EBADMSG },
    { MUT_ATTR_LEN_ZERO, -EBADMSG },
    { MUT_LIST_LIES, -EBADMSG },
    { MUT_VF_INFO_LIES, -EBADMSG },
    { MUT_VLAN_LIST_LIES, -EBADMSG },
    { MUT_MSG_LEN_LIES, -EBADMSG },
    { MUT_NOT_LINK, -EPROTO },
    { MUT_IFINDEX_ZERO, -EBADMSG },
    { MUT_BRIDGE_MODE_WIDE, -EBADMSG },
};

/* Parses a heap copy of exactly @len bytes, so any over-read is a sanitizer
 * error rather than a silent read of the stack. */
static int
parse_copy(const guint8 *buf, gsize len, VfsecLinkInfo **out)
{
    g_autofree guint8 *copy = g_memdup2(buf, len);

    return vfsec_link_info_parse((const struct nlmsghdr *)copy, len, out);
}

static void
test_parse_pf(void)
{
    guint8 buf[VFSEC_NL_BUFSIZE] = { 0 };
    gsize len = build_pf_msg(buf, MUT_NONE);
    g_autoptr(VfsecLinkInfo) info = NULL;
    const VfsecVfLinkInfo *vf;

    g_assert_cmpint(parse_copy(buf, len, &info), ==, 0);
    g_assert_cmpuint(info->msg_type, ==, RTM_NEWLINK);
    g_assert_cmpuint(info->family, ==, AF_UNSPEC);
    g_assert_cmpuint(info->ifindex, ==, 5);
    g_assert_cmpstr(info->name, ==, "pf0");
    g_assert_true(info->has_mac);
    g_assert_cmpmem(info->mac.b, 6, pf_mac, 6);
    g_assert_cmpuint(info->mtu, ==, 1500);
    g_assert_cmphex(info->flags, ==, IFF_UP | IFF_BROADCAST | IFF_MULTICAST);
    g_assert_cmpuint(info->operstate, ==, IF_OPER_UP);
    g_assert_cmpuint(info->link, ==, 5);
    g_assert_cmpuint(info->num_vf, ==, 2);
    g_assert_cmpint(info->bridge_mode, ==, -1);
    g_assert_cmpuint(info->vfs->len, ==, 2);

    vf = &g_array_index(info->vfs, VfsecVfLinkInfo, 0);
    g_assert_cmpuint(vf->vf, ==, 0);
    g_assert_cmpmem(vf->mac.b, 6, vf0_mac, 6);
    g_assert_cmpuint(vf->vlan, ==, 100);
    g_assert_cmpuint(vf->qos, ==, 3);
    g_assert_cmphex(vf->vlan_proto, ==, ETH_P_8021AD);  /* from the list, not IFLA_VF_VLAN */
    g_assert_cmpint(vf->spoofchk, ==, 1);
    g_assert_cmpint(vf->trust, ==, 0);

    vf = &g_array_index(info->vfs, VfsecVfLinkInfo, 1);
    g_assert_cmpuint(vf->vf, ==, 1);
    g_assert_cmpmem(vf->mac.b, 6, vf1_mac, 6);
    g_assert_cmpuint(vf->vlan, ==, 0);
    g_assert_cmpuint(vf->qos, ==, 0);
    g_assert_cmphex(vf->vlan_proto, ==, ETH_P_8021Q);
    g_assert_cmpint(vf->spoofchk, ==, -1);  /* driver does not report it */
    g_assert_cmpint(vf->trust, ==, 1);
}

static void
test_parse_variants(void)
{
    guint8 buf[VFSEC_NL_BUFSIZE] = { 0 };
    g_autoptr(VfsecLinkInfo) legacy = NULL;
    g_autoptr(VfsecLinkInfo) tunnel = NULL;
    g_autoptr(VfsecLinkInfo) bridge = NULL;
    g_autoptr(VfsecLinkInfo) del = NULL;
    gsize len;

    len = build_pf_msg(buf, MUT_LEGACY_VLAN_ONLY);
    g_assert_cmpint(parse_copy(buf, len, &legacy), ==, 0);
    g_assert_cmpuint(g_array_index(legacy->vfs, VfsecVfLinkInfo, 0).vlan, ==, 100);
    g_assert_cmpuint(g_array_index(legacy->vfs, VfsecVfLinkInfo, 0).qos, ==, 3);
    g_assert_cmphex(g_array_index(legacy->vfs, VfsecVfLinkInfo, 0).vlan_proto, ==, ETH_P_8021Q);

    len = build_pf_msg(buf, MUT_ADDRESS_4);
    g_assert_cmpint(parse_copy(buf, len, &tunnel), ==, 0);
    g_assert_false(tunnel->has_mac);

    len = build_pf_msg(buf, MUT_BRIDGE);
    g_assert_cmpint(parse_copy(buf, len, &bridge), ==, 0);
    g_assert_cmpuint(bridge->family, ==, AF_BRIDGE);
    g_assert_cmpint(bridge->bridge_mode, ==, VFSEC_BRIDGE_MODE_VEPA);

    len = build_pf_msg(buf, MUT_DELLINK);
    g_assert_cmpint(parse_copy(buf, len, &del), ==, 0);
    g_assert_cmpuint(del->msg_type, ==, RTM_DELLINK);
}

static void
test_parse_rejects(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
        guint8 buf[VFSEC_NL_BUFSIZE] = { 0 };
        gsize len = build_pf_msg(buf, parse_cases[i].m);
        VfsecLinkInfo *info = NULL;

        g_test_message("mutation %d", parse_cases[i].m);
        g_assert_cmpint(parse_copy(buf, len, &info), ==, parse_cases[i].rc);
        g_assert_null(info);
    }
}

/* Cuts the valid message at every length: only a cut at the end of a
 * top-level attribute (with or without its padding) still parses. */
static void
test_parse_truncated(void)
{
    guint8 buf[VFSEC_NL_BUFSIZE] = { 0 };
    gsize full = build_pf_msg(buf, MUT_NONE);
    gsize hdrs = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg));
    g_autoptr(GHashTable) ok_lens = g_hash_table_new(NULL, NULL);
    guint accepted = 0;

    g_hash_table_add(ok_lens, GSIZE_TO_POINTER(hdrs));
    for (gsize off = hdrs; off < full;) {
        const struct nlattr *a = (const struct nlattr *)(buf + off);

        g_hash_table_add(ok_lens, GSIZE_TO_POINTER(off + a->nla_len));
        off += NLMSG_ALIGN(a->nla_len);
        g_hash_table_add(ok_lens, GSIZE_TO_POINTER(off));
    }

    for (gsize cut = 0; cut < full; cut++) {
        g_autofree guint8 *copy = g_memdup2(buf, MAX(cut, 1));
        g_autoptr(VfsecLinkInfo) info = NULL;
        gboolean expect_ok = g_hash_table_contains(ok_lens, GSIZE_TO_POINTER(cut));
        int rc;

        if (cut >= sizeof(guint32))
            ((struct nlmsghdr *)copy)->nlmsg_len = (guint32)cut;
        rc = vfsec_link_info_parse((const struct nlmsghdr *)copy, cut, &info);
        if (expect_ok) {
            g_assert_cmpint(rc, ==, 0);
            accepted++;
        } else {
            g_assert_cmpint(rc, ==, -EBADMSG);
            g_assert_null(info);
        }

        /* The same cut with the header still claiming the full length. */
        g_clear_pointer(&info, vfsec_link_info_free);
        if (cut >= sizeof(struct nlmsghdr)) {
            ((struct nlmsghdr *)copy)->nlmsg_len = (guint32)full;
            g_assert_cmpint(vfsec_link_info_parse((const struct nlmsghdr *)copy, cut, &info),
                            ==, -EBADMSG);
        }
    }
    g_assert_cmpuint(accepted, >=, 6);  /* name, address, mtu, operstate, link, num_vf */
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/netlink/build/veth", test_build_veth);
    g_test_add_func("/netlink/build/veth-minimal", test_build_veth_minimal);
    g_test_add_func("/netlink/build/link-ops", test_build_link_ops);
    g_test_add_func("/netlink/build/vf-set", test_build_vf_set);
    g_test_add_func("/netlink/build/bridge-hwmode", test_build_bridge);
    g_test_add_func("/netlink/build/dumps", test_build_dumps);
    g_test_add_func("/netlink/build/invalid", test_build_invalid);
    g_test_add_func("/netlink/build/short-buffers", test_build_short_buffers);
    g_test_add_func("/netlink/bridge-mode-strings", test_bridge_mode_strings);
    g_test_add_func("/netlink/parse/pf", test_parse_pf);
    g_test_add_func("/netlink/parse/variants", test_parse_variants);
    g_test_add_func("/netlink/parse/rejects", test_parse_rejects);
    g_test_add_func("/netlink/parse/truncated", test_parse_truncated);

    return g_test_run();
}
