/* vfsec-domain.c: libvirt domain XML → SR-IOV attachment candidates and vfsec policy. */

/*
 * Theory of operation
 *
 * Every document comes from outside (a hook's stdin, a libvirt event, a
 * file), so it is read only through vfsec_xml_read() (vfsec-xml.c: bounded
 * by VFSEC_DOMAIN_XML_MAX, no DTD, no entity, no network, no output), and
 * only the tree that reader accepted is walked.
 *
 * The domain is then walked in document order. Every <interface> and
 * <hostdev> under <devices> becomes a VfsecDevice, numbered per element name
 * as libvirt users count them ("interface #2", "hostdev #1"); only the
 * SR-IOV forms are candidates, but all interfaces keep their MAC, alias and
 * <teaming> role because duplicate MACs are checked across all of them: two
 * NICs with one MAC are an error except for virtio failover, where a
 * transient hostdev names the alias of its persistent virtio peer.
 *
 * Status XML (<domstatus>, and <actual> inside a type='network' interface)
 * says which VF or macvtap parent libvirt really picked; that is what vfsec
 * must act on, so it wins over the inactive config and sets from_actual.
 *
 * Last comes the policy in <metadata>: matched by namespace URI, checked
 * field by field (so an error can name the offending value), then validated
 * against xml/vfsec-policy.rng for anything structural. Every attachment
 * gets two views of it: written_policy, its override over the domain
 * policy with the unwritten fields left unset, for vfsecd to layer its host
 * defaults under; and policy, that over the built-in defaults, fully set,
 * for what has no host configuration (the CLI, logs).
 *
 * Any failure returns NULL and one GError naming the element: there is no
 * partial result a caller could act on by mistake.
 */
#include "vfsec-domain.h"

#include <string.h>

#include "vfsec-error.h"
#include "vfsec-file.h"
#include "vfsec-xml.h"

/* ------------------------------------------------------------------ */
/* Enums */

static const char *const vfsec_attachment_kind_names[VFSEC_ATTACHMENT_KIND_LAST] = {
    [VFSEC_ATTACHMENT_INTERFACE_HOSTDEV] = "interface-hostdev",
    [VFSEC_ATTACHMENT_HOSTDEV_PCI] = "hostdev-pci",
    [VFSEC_ATTACHMENT_INTERFACE_DIRECT] = "interface-direct",
    [VFSEC_ATTACHMENT_INTERFACE_NETWORK] = "interface-network",
};

const char *
vfsec_attachment_kind_to_string(VfsecAttachmentKind kind)
{
    if ((guint)kind >= VFSEC_ATTACHMENT_KIND_LAST)
        return NULL;
    return vfsec_attachment_kind_names[kind];
}

static const char *const vfsec_trust_names[VFSEC_TRUST_LAST] = {
    [VFSEC_TRUST_UNTRUSTED] = "untrusted",
    [VFSEC_TRUST_TRUSTED] = "trusted",
};

const char *
vfsec_trust_to_string(VfsecTrust trust)
{
    if ((guint)trust >= VFSEC_TRUST_LAST)
        return NULL;
    return vfsec_trust_names[trust];
}

int
vfsec_trust_from_string(const char *str)
{
    for (int i = 0; str && i < VFSEC_TRUST_LAST; i++) {
        if (g_str_equal(str, vfsec_trust_names[i]))
            return i;
    }
    return -1;
}

static const char *const vfsec_native_mode_names[VFSEC_NATIVE_MODE_LAST] = {
    [VFSEC_NATIVE_MODE_NONE] = NULL,
    [VFSEC_NATIVE_MODE_TAGGED] = "tagged",
    [VFSEC_NATIVE_MODE_UNTAGGED] = "untagged",
};

const char *
vfsec_native_mode_to_string(VfsecNativeMode mode)
{
    if ((guint)mode >= VFSEC_NATIVE_MODE_LAST)
        return NULL;
    return vfsec_native_mode_names[mode];
}

const char *
vfsec_teaming_to_string(VfsecTeaming teaming)
{
    switch (teaming) {
    case VFSEC_TEAMING_PERSISTENT:
        return "persistent";
    case VFSEC_TEAMING_TRANSIENT:
        return "transient";
    case VFSEC_TEAMING_NONE:
    default:
        return NULL;
    }
}

void
vfsec_policy_merge(VfsecPolicy *policy, const VfsecPolicy *fallback)
{
    if (!policy->has_trust && fallback->has_trust) {
        policy->has_trust = TRUE;
        policy->trust = fallback->trust;
    }
    if (!policy->has_hairpin && fallback->has_hairpin) {
        policy->has_hairpin = TRUE;
        policy->hairpin = fallback->hairpin;
    }
}

static gboolean
vfsec_tristate_parse(const xmlNode *node, const char *attr, const char *label,
                     VfsecTristate *out, GError **error)
{
    g_autofree char *value = vfsec_xml_prop(node, attr);

    if (!value) {
        *out = VFSEC_TRISTATE_ABSENT;
    } else if (g_str_equal(value, "yes")) {
        *out = VFSEC_TRISTATE_YES;
    } else if (g_str_equal(value, "no")) {
        *out = VFSEC_TRISTATE_NO;
    } else {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <%s %s='%s'> is not 'yes' or 'no'",
                    label, (const char *)node->name, attr, value);
        return FALSE;
    }
    return TRUE;
}

/* A host PCI address: libvirt writes domain/bus/slot/function in hex or
 * decimal, with type='pci' inside <interface> and <actual> but without it in
 * <hostdev> and <plug>; a missing domain is 0. @where is the element path
 * as the message shows it, e.g. "<source><address". */
static gboolean
vfsec_pci_source_parse(const xmlNode *address, const char *label, const char *where,
                       VfsecPciAddr *pci, GError **error)
{
    static const struct {
        const char *attr;
        guint64 max;
        const char *range;
    } parts[4] = {
        { "domain", G_MAXUINT32, "0-0xffffffff" },
        { "bus", 0xff, "0-0xff" },
        { "slot", 0x1f, "0-0x1f" },
        { "function", 7, "0-7" },
    };
    g_autofree char *type = NULL;
    guint64 v[4] = { 0 };

    if (!address) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: %s> is missing", label, where);
        return FALSE;
    }
    type = vfsec_xml_prop(address, "type");
    if (type && !g_str_equal(type, "pci")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: %s type='%s'> is not a PCI address", label, where, type);
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(parts); i++) {
        g_autofree char *value = vfsec_xml_prop(address, parts[i].attr);

        if (!value && i == 0)
            continue;
        if (!value) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: %s> has no %s", label, where, parts[i].attr);
            return FALSE;
        }
        if (!vfsec_parse_uint(value, parts[i].max, &v[i])) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: %s %s='%s'> is not a PCI %s number (%s)",
                        label, where, parts[i].attr, value, parts[i].attr, parts[i].range);
            return FALSE;
        }
    }
    return vfsec_pci_addr_check(v[0], v[1], v[2], v[3], pci, error);
}

/* libvirt's <vlan [trunk='yes|no']><tag id='N' [nativeMode='tagged|untagged']/>…
 * Several tags or a native tag imply a trunk, as in libvirt. */
static gboolean
vfsec_vlan_parse(const xmlNode *vlan, const char *label, GArray *ids, gboolean *trunk,
                 int *native_vlan, VfsecNativeMode *native_mode, GError **error)
{
    g_autofree char *trunk_attr = vfsec_xml_prop(vlan, "trunk");

    if (trunk_attr && !g_str_equal(trunk_attr, "yes") && !g_str_equal(trunk_attr, "no")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <vlan trunk='%s'> is not 'yes' or 'no'", label, trunk_attr);
        return FALSE;
    }
    for (xmlNode *tag = vlan->children; tag; tag = tag->next) {
        g_autofree char *id = NULL;
        g_autofree char *native = NULL;
        guint64 value;
        guint16 tag_id;

        if (!vfsec_xml_is(tag, "tag"))
            continue;
        id = vfsec_xml_prop(tag, "id");
        if (!id) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: <vlan><tag> has no id", label);
            return FALSE;
        }
        if (!*id || strspn(id, "0123456789") != strlen(id)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: <vlan><tag id='%s'> is not a VLAN id (0-4095)", label, id);
            return FALSE;
        }
        if (!vfsec_parse_uint(id, 4095, &value)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: <vlan><tag id='%s'> is outside 0-4095", label, id);
            return FALSE;
        }
        native = vfsec_xml_prop(tag, "nativeMode");
        if (native) {
            if (*native_mode != VFSEC_NATIVE_MODE_NONE) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "%s: <vlan> has a nativeMode on more than one <tag>", label);
                return FALSE;
            }
            if (g_str_equal(native, "tagged")) {
                *native_mode = VFSEC_NATIVE_MODE_TAGGED;
            } else if (g_str_equal(native, "untagged")) {
                *native_mode = VFSEC_NATIVE_MODE_UNTAGGED;
            } else {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "%s: <vlan><tag id='%s' nativeMode='%s'> is not 'tagged' or 'untagged'",
                            label, id, native);
                return FALSE;
            }
            *native_vlan = (int)value;
        }
        tag_id = (guint16)value;
        g_array_append_val(ids, tag_id);
    }
    if (ids->len == 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <vlan> has no <tag id>", label);
        return FALSE;
    }
    if (g_strcmp0(trunk_attr, "no") == 0 &&
        (ids->len > 1 || *native_mode != VFSEC_NATIVE_MODE_NONE)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <vlan trunk='no'> has %u tags or a nativeMode", label, ids->len);
        return FALSE;
    }
    *trunk = g_strcmp0(trunk_attr, "yes") == 0 || ids->len > 1 ||
             *native_mode != VFSEC_NATIVE_MODE_NONE;
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Attachments */

VfsecAttachment *
vfsec_attachment_new(void)
{
    VfsecAttachment *att = g_new0(VfsecAttachment, 1);

    att->vlans = g_array_new(FALSE, FALSE, sizeof(guint16));
    att->native_vlan = -1;
    return att;
}

void
vfsec_attachment_free(VfsecAttachment *att)
{
    if (!att)
        return;
    g_array_unref(att->vlans);
    g_free(att->source_dev);
    g_free(att->mode);
    g_free(att->network);
    g_free(att->portgroup);
    g_free(att->driver_name);
    g_free(att->alias);
    g_free(att->teaming_persistent);
    g_free(att);
}

static const char *
vfsec_tristate_to_string(VfsecTristate value)
{
    return value == VFSEC_TRISTATE_YES ? "yes" : value == VFSEC_TRISTATE_NO ? "no" : NULL;
}

char *
vfsec_attachment_to_string(const VfsecAttachment *att)
{
    GString *str = g_string_new(vfsec_attachment_kind_to_string(att->kind));
    char pci[VFSEC_PCI_ADDR_STRLEN];
    char mac[VFSEC_MAC_STRLEN];

    if (att->has_pci)
        g_string_append_printf(str, " pci=%s", vfsec_pci_addr_format(&att->pci, pci));
    if (att->has_mac)
        g_string_append_printf(str, " mac=%s", vfsec_mac_format(&att->mac, mac));
    for (guint i = 0; att->vlans && i < att->vlans->len; i++)
        g_string_append_printf(str, "%s%u", i ? "," : " vlan=",
                               g_array_index(att->vlans, guint16, i));
    if (att->trunk)
        g_string_append(str, " trunk");
    if (att->native_mode != VFSEC_NATIVE_MODE_NONE)
        g_string_append_printf(str, " native=%d/%s", att->native_vlan,
                               vfsec_native_mode_to_string(att->native_mode));
    if (att->source_dev)
        g_string_append_printf(str, " dev=%s", att->source_dev);
    if (att->mode)
        g_string_append_printf(str, " mode=%s", att->mode);
    if (att->network)
        g_string_append_printf(str, " network=%s", att->network);
    if (att->portgroup)
        g_string_append_printf(str, " portgroup=%s", att->portgroup);
    if (att->managed != VFSEC_TRISTATE_ABSENT)
        g_string_append_printf(str, " managed=%s", vfsec_tristate_to_string(att->managed));
    if (att->driver_name)
        g_string_append_printf(str, " driver=%s", att->driver_name);
    if (att->alias)
        g_string_append_printf(str, " alias=%s", att->alias);
    if (att->from_actual)
        g_string_append(str, " actual");
    if (att->teaming == VFSEC_TEAMING_PERSISTENT)
        g_string_append(str, " teaming=persistent");
    if (att->teaming == VFSEC_TEAMING_TRANSIENT)
        g_string_append_printf(str, " teaming=transient:%s", att->teaming_persistent);
    if (att->policy.has_trust)
        g_string_append_printf(str, " trust=%s", vfsec_trust_to_string(att->policy.trust));
    if (att->policy.has_hairpin)
        g_string_append_printf(str, " hairpin=%s", att->policy.hairpin ? "yes" : "no");
    return g_string_free(str, FALSE);
}

static void
vfsec_policy_override_free(VfsecPolicyOverride *override)
{
    if (!override)
        return;
    g_free(override->alias);
    g_free(override);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecPolicyOverride, vfsec_policy_override_free)

/* One <interface> or <hostdev> while the domain is being read: every
 * interface is kept (candidate or not) for the duplicate-MAC check. */
typedef struct {
    VfsecAttachment *att;       /* kind valid only when candidate */
    char *name;                 /* "interface #2" */
    char *label;                /* "interface #2 (mac 52:54:00:…)" */
    gboolean candidate;
    const char *override;       /* label of the <vfsec:interface> that matched */
} VfsecDevice;

static VfsecDevice *
vfsec_device_new(const char *element, guint index)
{
    VfsecDevice *dev = g_new0(VfsecDevice, 1);

    dev->att = vfsec_attachment_new();
    dev->name = g_strdup_printf("%s #%u", element, index);
    dev->label = g_strdup(dev->name);
    return dev;
}

static void
vfsec_device_free(VfsecDevice *dev)
{
    if (!dev)
        return;
    vfsec_attachment_free(dev->att);
    g_free(dev->name);
    g_free(dev->label);
    g_free(dev);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecDevice, vfsec_device_free)

static gboolean
vfsec_device_parse_mac(VfsecDevice *dev, const xmlNode *node, GError **error)
{
    xmlNode *mac = vfsec_xml_child(node, "mac");
    g_autofree char *address = NULL;
    g_autoptr(GError) local = NULL;
    char buf[VFSEC_MAC_STRLEN];

    if (!mac)
        return TRUE;
    address = vfsec_xml_prop(mac, "address");
    if (!address) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <mac> has no address", dev->name);
        return FALSE;
    }
    if (!vfsec_mac_parse(address, &dev->att->mac, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <mac address>: %s", dev->name, local->message);
        return FALSE;
    }
    dev->att->has_mac = TRUE;
    g_free(dev->label);
    dev->label = g_strdup_printf("%s (mac %s)", dev->name, vfsec_mac_format(&dev->att->mac, buf));
    return TRUE;
}

/* <alias name> and <teaming>, which both interfaces and hostdevs carry. */
static gboolean
vfsec_device_parse_identity(VfsecDevice *dev, const xmlNode *node, GError **error)
{
    xmlNode *teaming = vfsec_xml_child(node, "teaming");
    g_autofree char *type = NULL;
    g_autofree char *persistent = NULL;

    dev->att->alias = vfsec_xml_prop(vfsec_xml_child(node, "alias"), "name");
    if (!teaming)
        return TRUE;

    type = vfsec_xml_prop(teaming, "type");
    persistent = vfsec_xml_prop(teaming, "persistent");
    if (g_strcmp0(type, "persistent") == 0) {
        if (persistent) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: <teaming type='persistent' persistent='%s'> cannot name a peer",
                        dev->label, persistent);
            return FALSE;
        }
        dev->att->teaming = VFSEC_TEAMING_PERSISTENT;
    } else if (g_strcmp0(type, "transient") == 0) {
        if (!persistent || !*persistent) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: <teaming type='transient'> does not name its persistent peer",
                        dev->label);
            return FALSE;
        }
        dev->att->teaming = VFSEC_TEAMING_TRANSIENT;
        dev->att->teaming_persistent = g_steal_pointer(&persistent);
    } else {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <teaming type='%s'> is not 'persistent' or 'transient'",
                    dev->label, type ? type : "");
        return FALSE;
    }
    return TRUE;
}

/* managed= on @node and <driver name> below it, for the hostdev forms. */
static gboolean
vfsec_device_parse_hostdev_common(VfsecDevice *dev, const xmlNode *node, GError **error)
{
    g_autofree char *driver = vfsec_xml_prop(vfsec_xml_child(node, "driver"), "name");

    if (!vfsec_tristate_parse(node, "managed", dev->label, &dev->att->managed, error))
        return FALSE;
    if (driver) {
        g_free(dev->att->driver_name);
        dev->att->driver_name = g_steal_pointer(&driver);
    }
    return TRUE;
}

static gboolean
vfsec_direct_mode_check(const char *mode, const char *label, const char *where, GError **error)
{
    static const char *const modes[] = { "vepa", "private", "bridge", "passthrough" };

    for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (g_str_equal(mode, modes[i]))
            return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                "%s: %s mode='%s'> is not vepa, private, bridge or passthrough",
                label, where, mode);
    return FALSE;
}

/* <source dev mode> of a direct interface or of <actual type='direct'>. */
static gboolean
vfsec_device_parse_direct_source(VfsecDevice *dev, const xmlNode *source, const char *where,
                                 GError **error)
{
    g_autofree char *source_dev = vfsec_xml_prop(source, "dev");
    g_autofree char *mode = vfsec_xml_prop(source, "mode");

    if (!source_dev || !*source_dev) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: %s dev> is missing", dev->label, where);
        return FALSE;
    }
    if (!mode)
        mode = g_strdup("vepa");
    if (!vfsec_direct_mode_check(mode, dev->label, where, error))
        return FALSE;
    g_free(dev->att->source_dev);
    g_free(dev->att->mode);
    dev->att->source_dev = g_steal_pointer(&source_dev);
    dev->att->mode = g_steal_pointer(&mode);
    return TRUE;
}

/* The <actual> child that status XML adds to a type='network' interface:
 * the VF or macvtap parent the network really handed out. */
static gboolean
vfsec_device_parse_actual(VfsecDevice *dev, const xmlNode *actual, GError **error)
{
    g_autofree char *type = vfsec_xml_prop(actual, "type");
    xmlNode *source = vfsec_xml_child(actual, "source");

    if (g_strcmp0(type, "hostdev") == 0) {
        if (!vfsec_pci_source_parse(vfsec_xml_child(source, "address"), dev->label,
                                    "<actual><source><address", &dev->att->pci, error))
            return FALSE;
        dev->att->has_pci = TRUE;
        dev->att->from_actual = TRUE;
        return vfsec_device_parse_hostdev_common(dev, actual, error);
    }
    if (g_strcmp0(type, "direct") == 0) {
        if (!vfsec_device_parse_direct_source(dev, source, "<actual><source", error))
            return FALSE;
        dev->att->from_actual = TRUE;
    }
    /* type='network' / 'bridge': a tap on a bridge, nothing for vfsec. */
    return TRUE;
}

static VfsecDevice *
vfsec_interface_parse(const xmlNode *node, guint index, GError **error)
{
    g_autoptr(VfsecDevice) dev = vfsec_device_new("interface", index);
    g_autofree char *type = vfsec_xml_prop(node, "type");
    VfsecAttachment *att = dev->att;
    xmlNode *source = vfsec_xml_child(node, "source");
    xmlNode *actual = NULL;
    xmlNode *vlan;

    if (!vfsec_device_parse_mac(dev, node, error) ||
        !vfsec_device_parse_identity(dev, node, error))
        return NULL;
    if (!type) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s has no type", dev->label);
        return NULL;
    }

    if (g_str_equal(type, "hostdev")) {
        att->kind = VFSEC_ATTACHMENT_INTERFACE_HOSTDEV;
        if (!vfsec_pci_source_parse(vfsec_xml_child(source, "address"), dev->label,
                                    "<source><address", &att->pci, error))
            return NULL;
        att->has_pci = TRUE;
        if (!vfsec_device_parse_hostdev_common(dev, node, error))
            return NULL;
    } else if (g_str_equal(type, "direct")) {
        att->kind = VFSEC_ATTACHMENT_INTERFACE_DIRECT;
        if (!vfsec_device_parse_direct_source(dev, source, "<source", error))
            return NULL;
        /* Live XML of a network interface shows the direct form plus the network. */
        att->network = vfsec_xml_prop(source, "network");
        att->portgroup = vfsec_xml_prop(source, "portgroup");
    } else if (g_str_equal(type, "network")) {
        att->kind = VFSEC_ATTACHMENT_INTERFACE_NETWORK;
        att->network = vfsec_xml_prop(source, "network");
        att->portgroup = vfsec_xml_prop(source, "portgroup");
        if (!att->network || !*att->network) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: <source network> is missing", dev->label);
            return NULL;
        }
        actual = vfsec_xml_child(node, "actual");
        if (actual && !vfsec_device_parse_actual(dev, actual, error))
            return NULL;
    } else {
        return g_steal_pointer(&dev);  /* bridge, user, ethernet, …: not SR-IOV */
    }
    dev->candidate = TRUE;

    /* libvirt uses the VLAN of <actual> when it has one. */
    vlan = vfsec_xml_child(actual, "vlan");
    if (!vlan)
        vlan = vfsec_xml_child(node, "vlan");
    if (vlan && !vfsec_vlan_parse(vlan, dev->label, att->vlans, &att->trunk,
                                  &att->native_vlan, &att->native_mode, error))
        return NULL;
    return g_steal_pointer(&dev);
}

static VfsecDevice *
vfsec_hostdev_parse(const xmlNode *node, guint index, GError **error)
{
    g_autoptr(VfsecDevice) dev = vfsec_device_new("hostdev", index);
    g_autofree char *mode = vfsec_xml_prop(node, "mode");
    g_autofree char *type = vfsec_xml_prop(node, "type");

    if (!vfsec_device_parse_identity(dev, node, error))
        return NULL;
    /* mode defaults to subsystem; usb, scsi, mdev and capabilities are no VFs. */
    if ((mode && !g_str_equal(mode, "subsystem")) || g_strcmp0(type, "pci") != 0)
        return g_steal_pointer(&dev);

    dev->att->kind = VFSEC_ATTACHMENT_HOSTDEV_PCI;
    if (!vfsec_pci_source_parse(vfsec_xml_child(vfsec_xml_child(node, "source"), "address"),
                                dev->label, "<source><address", &dev->att->pci, error))
        return NULL;
    dev->att->has_pci = TRUE;
    if (!vfsec_device_parse_hostdev_common(dev, node, error))
        return NULL;
    dev->candidate = TRUE;
    return g_steal_pointer(&dev);
}

/* virtio failover: @a is the persistent interface whose alias @b names. */
static gboolean
vfsec_teaming_pair(const VfsecAttachment *a, const VfsecAttachment *b)
{
    return a->teaming == VFSEC_TEAMING_PERSISTENT && a->alias &&
           b->teaming == VFSEC_TEAMING_TRANSIENT &&
           g_strcmp0(b->teaming_persistent, a->alias) == 0;
}

/* Hash tables rather than pairwise loops: a hostile 16 MiB document can hold
 * hundreds of thousands of devices. */
static gboolean
vfsec_devices_check_unique(GPtrArray *devices, GError **error)
{
    g_autoptr(GHashTable) by_pci = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) by_mac = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                         (GDestroyNotify)g_ptr_array_unref);

    for (guint i = 0; i < devices->len; i++) {
        VfsecDevice *dev = g_ptr_array_index(devices, i);
        char buf[MAX(VFSEC_PCI_ADDR_STRLEN, VFSEC_MAC_STRLEN)];
        GPtrArray *same;

        if (dev->candidate && dev->att->has_pci) {
            VfsecDevice *other;

            vfsec_pci_addr_format(&dev->att->pci, buf);
            other = g_hash_table_lookup(by_pci, buf);
            if (other) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "duplicate PCI address %s on %s and %s",
                            buf, other->label, dev->label);
                return FALSE;
            }
            g_hash_table_insert(by_pci, g_strdup(buf), dev);
        }
        if (!dev->att->has_mac)
            continue;
        vfsec_mac_format(&dev->att->mac, buf);
        same = g_hash_table_lookup(by_mac, buf);
        if (!same) {
            same = g_ptr_array_new();
            g_hash_table_insert(by_mac, g_strdup(buf), same);
        }
        for (guint j = 0; j < same->len; j++) {
            VfsecDevice *other = g_ptr_array_index(same, j);

            if (!vfsec_teaming_pair(other->att, dev->att) &&
                !vfsec_teaming_pair(dev->att, other->att)) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "duplicate MAC %s on %s and %s", buf, other->name, dev->name);
                return FALSE;
            }
        }
        g_ptr_array_add(same, dev);
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Policy */

gboolean
vfsec_policy_validate_string(const char *xml, gssize len, const char *schema_path,
                             GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *schema = NULL;

    g_return_val_if_fail(xml != NULL, FALSE);

    doc = vfsec_xml_read(xml, len, VFSEC_DOMAIN_XML_MAX, "policy XML", error);
    if (!doc)
        return FALSE;
    schema = schema_path ? g_strdup(schema_path) : vfsec_xml_schema_path(VFSEC_POLICY_SCHEMA);
    return vfsec_xml_validate_doc(doc, schema, "<vfsec:policy>", error);
}

/* trust= and hairpin= of <vfsec:policy> or <vfsec:interface>; @what is the
 * element as messages show it, without the closing '>'. */
static gboolean
vfsec_policy_parse_attrs(const xmlNode *node, const char *what, VfsecPolicy *policy,
                         GError **error)
{
    g_autofree char *trust = vfsec_xml_prop(node, "trust");
    g_autofree char *hairpin = vfsec_xml_prop(node, "hairpin");

    if (trust) {
        int value = vfsec_trust_from_string(trust);

        if (value < 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s trust='%s'> is not 'untrusted' or 'trusted'", what, trust);
            return FALSE;
        }
        policy->has_trust = TRUE;
        policy->trust = (VfsecTrust)value;
    }
    if (hairpin) {
        if (!g_str_equal(hairpin, "yes") && !g_str_equal(hairpin, "no")) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s hairpin='%s'> is not 'yes' or 'no'", what, hairpin);
            return FALSE;
        }
        policy->has_hairpin = TRUE;
        policy->hairpin = g_str_equal(hairpin, "yes");
    }
    return TRUE;
}

static VfsecPolicyOverride *
vfsec_policy_override_parse(const xmlNode *node, guint index, char **label, GError **error)
{
    g_autoptr(VfsecPolicyOverride) override = g_new0(VfsecPolicyOverride, 1);
    g_autofree char *mac = vfsec_xml_prop(node, "mac");
    g_autofree char *alias = vfsec_xml_prop(node, "alias");
    g_autofree char *what = NULL;
    g_autoptr(GError) local = NULL;

    if ((mac != NULL) == (alias != NULL)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "<vfsec:interface> #%u needs exactly one of mac= or alias=", index);
        return NULL;
    }
    what = mac ? g_strdup_printf("<vfsec:interface mac='%s'", mac)
               : g_strdup_printf("<vfsec:interface alias='%s'", alias);
    if (mac && !vfsec_mac_parse(mac, &override->mac, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s>: %s", what, local->message);
        return NULL;
    }
    override->has_mac = mac != NULL;
    override->alias = g_steal_pointer(&alias);
    if (!vfsec_policy_parse_attrs(node, what, &override->policy, error))
        return NULL;
    *label = g_strconcat(what, ">", NULL);
    return g_steal_pointer(&override);
}

/* The key an override and an attachment meet on: "mac …" or "alias …". */
static char *
vfsec_policy_key(const VfsecMac *mac, const char *alias)
{
    char buf[VFSEC_MAC_STRLEN];

    if (mac)
        return g_strconcat("mac ", vfsec_mac_format(mac, buf), NULL);
    return g_strconcat("alias ", alias, NULL);
}

static void
vfsec_policy_key_add(GHashTable *by_key, char *key, VfsecDevice *dev)
{
    GPtrArray *list = g_hash_table_lookup(by_key, key);

    if (list) {
        g_free(key);
    } else {
        list = g_ptr_array_new();
        g_hash_table_insert(by_key, key, list);
    }
    g_ptr_array_add(list, dev);
}

/* Finds each override's attachments (a MAC may name both halves of a
 * teaming pair); an attachment claimed twice, or an override that claims
 * none, is a mistake in the policy that must not pass silently. */
static gboolean
vfsec_policy_apply_overrides(VfsecDomain *dom, GPtrArray *candidates, GPtrArray *labels,
                             GError **error)
{
    g_autoptr(GHashTable) by_key = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                         (GDestroyNotify)g_ptr_array_unref);

    for (guint i = 0; i < candidates->len; i++) {
        VfsecDevice *dev = g_ptr_array_index(candidates, i);

        if (dev->att->has_mac)
            vfsec_policy_key_add(by_key, vfsec_policy_key(&dev->att->mac, NULL), dev);
        if (dev->att->alias)
            vfsec_policy_key_add(by_key, vfsec_policy_key(NULL, dev->att->alias), dev);
    }

    for (guint i = 0; i < dom->overrides->len; i++) {
        const VfsecPolicyOverride *override = g_ptr_array_index(dom->overrides, i);
        const char *label = g_ptr_array_index(labels, i);
        g_autofree char *key = vfsec_policy_key(override->has_mac ? &override->mac : NULL,
                                                override->alias);
        GPtrArray *list = g_hash_table_lookup(by_key, key);

        if (!list) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s matches no SR-IOV interface of domain '%s'", label, dom->name);
            return FALSE;
        }
        for (guint j = 0; j < list->len; j++) {
            VfsecDevice *dev = g_ptr_array_index(list, j);

            if (dev->override) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "%s and %s both match %s", dev->override, label, dev->label);
                return FALSE;
            }
            dev->override = label;
            dev->att->written_policy = override->policy;
        }
    }
    return TRUE;
}

/* Reads the <vfsec:policy> in <metadata>, if any, into @dom->policy and
 * @dom->overrides (@labels gets each override's name for messages). */
static gboolean
vfsec_policy_parse(const xmlNode *domain, VfsecDomain *dom, GPtrArray *labels, GError **error)
{
    xmlNode *metadata = vfsec_xml_child(domain, "metadata");
    const xmlNode *policy = NULL;
    g_autofree char *schema = NULL;
    guint index = 0;

    for (xmlNode *c = metadata ? metadata->children : NULL; c; c = c->next) {
        if (!vfsec_xml_is_ns(c, VFSEC_POLICY_NS, "policy"))
            continue;
        if (policy) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "<metadata> holds more than one <vfsec:policy> (lines %ld and %ld)",
                        xmlGetLineNo(policy), xmlGetLineNo(c));
            return FALSE;
        }
        policy = c;
    }
    if (!policy)
        return TRUE;

    if (!vfsec_policy_parse_attrs(policy, "<vfsec:policy", &dom->policy, error))
        return FALSE;
    for (xmlNode *c = policy->children; c; c = c->next) {
        VfsecPolicyOverride *override;
        char *label = NULL;

        if (!vfsec_xml_is_ns(c, VFSEC_POLICY_NS, "interface"))
            continue;  /* anything else is for the schema to reject */
        override = vfsec_policy_override_parse(c, ++index, &label, error);
        if (!override)
            return FALSE;
        g_ptr_array_add(dom->overrides, override);
        g_ptr_array_add(labels, label);
    }
    schema = vfsec_xml_schema_path(VFSEC_POLICY_SCHEMA);
    return vfsec_xml_validate_node(policy, schema, "<vfsec:policy>", error);
}

/* ------------------------------------------------------------------ */
/* Domain */

VfsecDomain *
vfsec_domain_new(const char *name, const char *uuid)
{
    VfsecDomain *dom = g_new0(VfsecDomain, 1);

    dom->name = g_strdup(name);
    dom->uuid = g_strdup(uuid);
    dom->id = -1;
    dom->overrides = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_policy_override_free);
    dom->attachments = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_attachment_free);
    return dom;
}

VfsecAttachment *
vfsec_domain_add_attachment(VfsecDomain *domain, VfsecAttachmentKind kind)
{
    VfsecAttachment *att = vfsec_attachment_new();

    att->kind = kind;
    g_ptr_array_add(domain->attachments, att);
    return att;
}

void
vfsec_domain_free(VfsecDomain *domain)
{
    if (!domain)
        return;
    g_free(domain->name);
    g_free(domain->uuid);
    g_free(domain->type);
    g_clear_pointer(&domain->overrides, g_ptr_array_unref);
    g_clear_pointer(&domain->attachments, g_ptr_array_unref);
    g_free(domain);
}

static gboolean
vfsec_domain_parse_header(const xmlNode *node, VfsecDomain *dom, GError **error)
{
    g_autofree char *id = vfsec_xml_prop(node, "id");

    dom->type = vfsec_xml_prop(node, "type");
    dom->name = vfsec_xml_text(vfsec_xml_child(node, "name"));
    dom->uuid = vfsec_xml_text(vfsec_xml_child(node, "uuid"));
    if (!dom->name || !*dom->name) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "<domain> has no <name>");
        return FALSE;
    }
    if (id) {
        guint64 value;

        if (!vfsec_parse_uint(id, G_MAXINT, &value)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "<domain id='%s'> is not a domain id", id);
            return FALSE;
        }
        dom->id = (int)value;
    }
    return TRUE;
}

static VfsecDomain *
vfsec_domain_parse_doc(xmlDoc *doc, GError **error)
{
    xmlNode *node = xmlDocGetRootElement(doc);
    g_autoptr(VfsecDomain) dom = vfsec_domain_new(NULL, NULL);
    g_autoptr(GPtrArray) devices =
        g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_device_free);
    g_autoptr(GPtrArray) candidates = g_ptr_array_new();
    g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func(g_free);
    const VfsecPolicy defaults = {
        .has_trust = TRUE, .trust = VFSEC_POLICY_DEFAULT_TRUST,
        .has_hairpin = TRUE, .hairpin = VFSEC_POLICY_DEFAULT_HAIRPIN,
    };
    xmlNode *devices_node;
    guint n_interfaces = 0;
    guint n_hostdevs = 0;


    if (vfsec_xml_is(node, "domstatus")) {
        node = vfsec_xml_child(node, "domain");
        if (!node) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "<domstatus> has no <domain>");
            return NULL;
        }
    } else if (!vfsec_xml_is(node, "domain")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "root element <%s> is not <domain> or <domstatus>",
                    node ? (const char *)node->name : "");
        return NULL;
    }
    if (!vfsec_domain_parse_header(node, dom, error))
        return NULL;

    devices_node = vfsec_xml_child(node, "devices");
    for (xmlNode *c = devices_node ? devices_node->children : NULL; c; c = c->next) {
        VfsecDevice *dev;

        if (vfsec_xml_is(c, "interface"))
            dev = vfsec_interface_parse(c, ++n_interfaces, error);
        else if (vfsec_xml_is(c, "hostdev"))
            dev = vfsec_hostdev_parse(c, ++n_hostdevs, error);
        else
            continue;
        if (!dev)
            return NULL;
        g_ptr_array_add(devices, dev);
        if (dev->candidate)
            g_ptr_array_add(candidates, dev);
    }
    if (!vfsec_devices_check_unique(devices, error))
        return NULL;

    if (!vfsec_policy_parse(node, dom, labels, error) ||
        !vfsec_policy_apply_overrides(dom, candidates, labels, error))
        return NULL;

    for (guint i = 0; i < candidates->len; i++) {
        VfsecDevice *dev = g_ptr_array_index(candidates, i);

        vfsec_policy_merge(&dev->att->written_policy, &dom->policy);
        dev->att->policy = dev->att->written_policy;
        vfsec_policy_merge(&dev->att->policy, &defaults);
        g_ptr_array_add(dom->attachments, g_steal_pointer(&dev->att));
    }
    g_debug("domain '%s': %u SR-IOV attachment(s), %u policy override(s)",
            dom->name, dom->attachments->len, dom->overrides->len);
    return g_steal_pointer(&dom);
}

VfsecDomain *
vfsec_domain_parse_string(const char *xml, gssize len, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;

    g_return_val_if_fail(xml != NULL, NULL);

    doc = vfsec_xml_read(xml, len, VFSEC_DOMAIN_XML_MAX, "domain XML", error);
    if (!doc)
        return NULL;
    return vfsec_domain_parse_doc(doc, error);
}

VfsecDomain *
vfsec_domain_parse_file(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    VfsecDomain *dom;
    gsize len;

    g_return_val_if_fail(path != NULL, NULL);

    if (!vfsec_file_read_input(path, VFSEC_DOMAIN_XML_MAX, &text, &len, error))
        return NULL;
    dom = vfsec_domain_parse_string(text, (gssize)len, &local);
    if (!dom) {
        g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: ",
                                   g_str_equal(path, "-") ? "standard input" : path);
        return NULL;
    }
    return dom;
}

/* ------------------------------------------------------------------ */
/* Network hook port XML */

void
vfsec_network_port_free(VfsecNetworkPort *port)
{
    if (!port)
        return;
    g_free(port->uuid);
    g_free(port->owner_name);
    g_free(port->owner_uuid);
    g_free(port->network);
    g_free(port->portgroup);
    if (port->vlans)
        g_array_unref(port->vlans);
    g_free(port->plug_type);
    g_free(port->plug_dev);
    g_free(port->plug_mode);
    g_free(port->plug_driver);
    g_free(port);
}

static gboolean
vfsec_network_port_parse_plug(VfsecNetworkPort *port, const xmlNode *plug, const char *label,
                              GError **error)
{
    port->plug_type = vfsec_xml_prop(plug, "type");
    if (!port->plug_type) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "%s: <plug> has no type", label);
        return FALSE;
    }
    if (g_str_equal(port->plug_type, "hostdev-pci")) {
        if (!vfsec_tristate_parse(plug, "managed", label, &port->managed, error) ||
            !vfsec_pci_source_parse(vfsec_xml_child(plug, "address"), label, "<plug><address",
                                    &port->pci, error))
            return FALSE;
        port->has_pci = TRUE;
        port->plug_driver = vfsec_xml_prop(vfsec_xml_child(plug, "driver"), "name");
    } else if (g_str_equal(port->plug_type, "direct")) {
        port->plug_dev = vfsec_xml_prop(plug, "dev");
        port->plug_mode = vfsec_xml_prop(plug, "mode");
        if (!port->plug_dev || !*port->plug_dev) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "%s: <plug type='direct'> has no dev", label);
            return FALSE;
        }
        if (!port->plug_mode)
            port->plug_mode = g_strdup("vepa");
        if (!vfsec_direct_mode_check(port->plug_mode, label, "<plug", error))
            return FALSE;
    }
    /* network / bridge: a tap on a bridge; unknown types are kept by name
     * so a newer libvirt's hook call is not refused outright. */
    return TRUE;
}

VfsecNetworkPort *
vfsec_network_port_parse_string(const char *xml, gssize len, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(VfsecNetworkPort) port = NULL;
    g_autofree char *label = NULL;
    g_autofree char *mac = NULL;
    g_autoptr(GError) local = NULL;
    xmlNode *root;
    xmlNode *node;
    xmlNode *owner;
    xmlNode *vlan;
    xmlNode *plug;

    g_return_val_if_fail(xml != NULL, NULL);

    doc = vfsec_xml_read(xml, len, VFSEC_DOMAIN_XML_MAX, "network hook XML", error);
    if (!doc)
        return NULL;
    root = xmlDocGetRootElement(doc);
    port = g_new0(VfsecNetworkPort, 1);
    port->vlans = g_array_new(FALSE, FALSE, sizeof(guint16));
    port->native_vlan = -1;

    if (vfsec_xml_is(root, "hookData")) {
        node = vfsec_xml_child(root, "networkport");
        port->network = vfsec_xml_text(vfsec_xml_child(vfsec_xml_child(root, "network"), "name"));
        if (!node) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "<hookData> has no <networkport>");
            return NULL;
        }
    } else if (vfsec_xml_is(root, "networkport")) {
        node = root;
    } else {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "root element <%s> is not <hookData> or <networkport>",
                    root ? (const char *)root->name : "");
        return NULL;
    }

    port->uuid = vfsec_xml_text(vfsec_xml_child(node, "uuid"));
    if (!port->uuid || !*port->uuid) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "<networkport> has no <uuid>");
        return NULL;
    }
    label = g_strdup_printf("network port %s", port->uuid);
    owner = vfsec_xml_child(node, "owner");
    port->owner_name = vfsec_xml_text(vfsec_xml_child(owner, "name"));
    port->owner_uuid = vfsec_xml_text(vfsec_xml_child(owner, "uuid"));
    port->portgroup = vfsec_xml_text(vfsec_xml_child(node, "group"));

    mac = vfsec_xml_prop(vfsec_xml_child(node, "mac"), "address");
    if (!mac) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <mac address> is missing", label);
        return NULL;
    }
    if (!vfsec_mac_parse(mac, &port->mac, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s: <mac address>: %s", label, local->message);
        return NULL;
    }
    port->has_mac = TRUE;

    vlan = vfsec_xml_child(node, "vlan");
    if (vlan && !vfsec_vlan_parse(vlan, label, port->vlans, &port->trunk,
                                  &port->native_vlan, &port->native_mode, error))
        return NULL;
    plug = vfsec_xml_child(node, "plug");
    if (plug && !vfsec_network_port_parse_plug(port, plug, label, error))
        return NULL;
    return g_steal_pointer(&port);
}
