/* vfsec-domain.c: libvirt domain XML → SR-IOV attachment candidates and vfsec policy. */

/*
 * Theory of operation
 *
 * Every document comes from outside (a hook's stdin, a libvirt event, a file),
 * so reading it is the dangerous part and happens in one place,
 * vfsec_xml_read():
 *   - the length is checked against VFSEC_DOMAIN_XML_MAX before libxml2 sees
 *     a byte;
 *   - the parser runs on its own (push) context with XML_PARSE_NONET and
 *     without XML_PARSE_NOENT / XML_PARSE_DTDLOAD / XML_PARSE_HUGE, so
 *     nothing is fetched, no entity is substituted and libxml2's depth limit
 *     holds;
 *   - the SAX internalSubset callback stops the parser at any <!DOCTYPE>:
 *     libvirt never writes one, and refusing it outright is the only way to
 *     be sure no entity declaration ("billion laughs", external entities)
 *     is ever expanded;
 *   - errors go to a structured handler on that context (and the RELAX NG
 *     contexts), never to libxml2's process-wide handlers, so vfsec neither
 *     prints to stderr nor disturbs another libxml2 user in the process.
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
 * gets a fully set policy: its override, over the domain policy, over the
 * built-in defaults.
 *
 * Any failure returns NULL and one GError naming the element: there is no
 * partial result a caller could act on by mistake.
 */
#include "vfsec-domain.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "vfsec-config.h"
#include "vfsec-error.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlParserCtxt, xmlFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNG, xmlRelaxNGFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNGParserCtxt, xmlRelaxNGFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNGValidCtxt, xmlRelaxNGFreeValidCtxt)

#define VFSEC_POLICY_SCHEMA "vfsec-policy.rng"

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

/* ------------------------------------------------------------------ */
/* Reading untrusted XML */

/* The first error libxml2 reported: later ones are usually consequences. */
typedef struct {
    gboolean saw_dtd;
    int line;
    char *message;
} VfsecXmlErrors;

static void
vfsec_xml_errors_clear(VfsecXmlErrors *errs)
{
    g_clear_pointer(&errs->message, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfsecXmlErrors, vfsec_xml_errors_clear)

static void
vfsec_xml_errors_record(VfsecXmlErrors *errs, const xmlError *err)
{
    if (!errs || !err || err->level < XML_ERR_ERROR || errs->message)
        return;
    errs->line = err->line;
    errs->message = g_strstrip(g_strdup(err->message ? err->message : "unknown error"));
}

/* Structured handler of the RELAX NG contexts: @data is the VfsecXmlErrors. */
static void
vfsec_xml_errors_handler(void *data, xmlErrorPtr err)
{
    vfsec_xml_errors_record(data, err);
}

/* Structured handler of a parser context: libxml2 passes the context itself. */
static void
vfsec_xml_parser_error(void *data, xmlErrorPtr err)
{
    xmlParserCtxt *ctxt = data;

    vfsec_xml_errors_record(ctxt->_private, err);
}

static void
vfsec_xml_refuse_dtd(void *data, const xmlChar *name, const xmlChar *external_id,
                     const xmlChar *system_id)
{
    xmlParserCtxt *ctxt = data;
    VfsecXmlErrors *errs = ctxt->_private;

    errs->saw_dtd = TRUE;
    errs->line = xmlSAX2GetLineNumber(ctxt);
    xmlStopParser(ctxt);
}

/* Parses @xml (@len bytes, or NUL-terminated when negative) into a document
 * that is safe to walk. @what names the input in errors.
 *
 * The push parser, fed in chunks, rather than xmlCtxtReadMemory(): reading
 * from one memory block, libxml2 2.9 refuses any document past 10 MB
 * ("Huge input lookup") unless XML_PARSE_HUGE, which would also lift the
 * depth limit; in chunks it keeps its default limits up to our own bound. */
static xmlDoc *
vfsec_xml_read(const char *xml, gssize len, const char *what, GError **error)
{
    const gsize chunk = 64 * 1024;
    g_autoptr(xmlParserCtxt) ctxt = NULL;
    g_auto(VfsecXmlErrors) errs = { 0 };
    g_autoptr(xmlDoc) doc = NULL;
    gsize size = len < 0 ? strnlen(xml, VFSEC_DOMAIN_XML_MAX + 1) : (gsize)len;
    gsize first = MIN(size, 4);  /* enough for libxml2 to detect the encoding */

    if (size > VFSEC_DOMAIN_XML_MAX) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s is larger than the %d-byte limit", what, VFSEC_DOMAIN_XML_MAX);
        return NULL;
    }

    ctxt = xmlCreatePushParserCtxt(NULL, NULL, xml, (int)first, NULL);
    if (!ctxt) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                    "cannot create an XML parser for %s", what);
        return NULL;
    }
    ctxt->_private = &errs;
    ctxt->sax->serror = vfsec_xml_parser_error;
    ctxt->sax->internalSubset = vfsec_xml_refuse_dtd;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING);

    for (gsize off = first;;) {
        gsize n = MIN(size - off, chunk);
        gboolean last = off + n == size;

        if (xmlParseChunk(ctxt, xml + off, (int)n, last) != 0 || last)
            break;
        off += n;
    }
    doc = g_steal_pointer(&ctxt->myDoc);

    if (errs.saw_dtd) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s has a <!DOCTYPE> at line %d: DTDs and entity declarations are refused",
                    what, errs.line);
        return NULL;
    }
    if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
        vfsec_xml_errors_record(&errs, xmlCtxtGetLastError(ctxt));
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s is malformed XML at line %d: %s", what, errs.line,
                    errs.message ? errs.message : "no document");
        return NULL;
    }
    return g_steal_pointer(&doc);
}

/* Reads all of @fd, refusing more than VFSEC_DOMAIN_XML_MAX bytes. The result
 * is NUL-terminated; @len excludes the NUL. */
static gboolean
vfsec_fd_read_bounded(int fd, const char *name, char **out, gsize *len, GError **error)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    guint8 chunk[64 * 1024];

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO,
                        "cannot read %s: %s", name, g_strerror(saved));
            return FALSE;
        }
        if (n == 0)
            break;
        if (buf->len + (gsize)n > VFSEC_DOMAIN_XML_MAX) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                        "%s is larger than the %d-byte limit", name, VFSEC_DOMAIN_XML_MAX);
            return FALSE;
        }
        g_byte_array_append(buf, chunk, (guint)n);
    }
    *len = buf->len;
    g_byte_array_append(buf, (const guint8 *)"", 1);
    *out = (char *)g_byte_array_free(g_steal_pointer(&buf), FALSE);
    return TRUE;
}

/* @path "-" is standard input. */
static gboolean
vfsec_file_read_bounded(const char *path, char **out, gsize *len, GError **error)
{
    gboolean ok;
    int fd;

    if (g_str_equal(path, "-"))
        return vfsec_fd_read_bounded(STDIN_FILENO, "standard input", out, len, error);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        g_set_error(error, VFSEC_ERROR,
                    saved == ENOENT ? VFSEC_ERROR_NOT_FOUND : VFSEC_ERROR_IO,
                    "cannot open %s: %s", path, g_strerror(saved));
        return FALSE;
    }
    ok = vfsec_fd_read_bounded(fd, path, out, len, error);
    close(fd);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Tree helpers: libvirt's own elements and attributes have no namespace. */

static gboolean
vfsec_xml_is(const xmlNode *node, const char *name)
{
    return node && node->type == XML_ELEMENT_NODE && !node->ns &&
           xmlStrEqual(node->name, (const xmlChar *)name);
}

static gboolean
vfsec_xml_is_policy(const xmlNode *node, const char *name)
{
    return node && node->type == XML_ELEMENT_NODE && node->ns &&
           xmlStrEqual(node->ns->href, (const xmlChar *)VFSEC_POLICY_NS) &&
           xmlStrEqual(node->name, (const xmlChar *)name);
}

static xmlNode *
vfsec_xml_child(const xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next) {
        if (vfsec_xml_is(c, name))
            return c;
    }
    return NULL;
}

/* A GLib-allocated copy of an unqualified attribute, or NULL. */
static char *
vfsec_xml_prop(const xmlNode *node, const char *name)
{
    xmlChar *value;
    char *ret;

    if (!node)
        return NULL;
    value = xmlGetNoNsProp(node, (const xmlChar *)name);
    if (!value)
        return NULL;
    ret = g_strdup((const char *)value);
    xmlFree(value);
    return ret;
}

/* A GLib-allocated copy of an element's text with spaces trimmed, or NULL. */
static char *
vfsec_xml_text(const xmlNode *node)
{
    xmlChar *value;
    char *ret;

    if (!node)
        return NULL;
    value = xmlNodeGetContent(node);
    if (!value)
        return NULL;
    ret = g_strstrip(g_strdup((const char *)value));
    xmlFree(value);
    return ret;
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

static VfsecAttachment *
vfsec_attachment_new(void)
{
    VfsecAttachment *att = g_new0(VfsecAttachment, 1);

    att->vlans = g_array_new(FALSE, FALSE, sizeof(guint16));
    att->native_vlan = -1;
    return att;
}

static void
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
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecAttachment, vfsec_attachment_free)

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

static char *
vfsec_policy_schema_default_path(void)
{
    const char *env = g_getenv("VFSEC_SCHEMADIR");
    g_autofree char *installed = NULL;

    if (env && *env)
        return g_build_filename(env, VFSEC_POLICY_SCHEMA, NULL);
    installed = g_build_filename(VFSEC_SCHEMADIR, VFSEC_POLICY_SCHEMA, NULL);
    if (g_file_test(installed, G_FILE_TEST_EXISTS))
        return g_steal_pointer(&installed);
    return g_build_filename(VFSEC_SOURCE_SCHEMADIR, VFSEC_POLICY_SCHEMA, NULL);
}

static xmlRelaxNG *
vfsec_policy_schema_load(const char *schema_path, GError **error)
{
    g_autofree char *path = schema_path ? g_strdup(schema_path)
                                        : vfsec_policy_schema_default_path();
    g_autofree char *text = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlRelaxNGParserCtxt) pctxt = NULL;
    g_auto(VfsecXmlErrors) errs = { 0 };
    xmlRelaxNG *schema;
    gsize len;

    if (!vfsec_file_read_bounded(path, &text, &len, error))
        return NULL;
    doc = vfsec_xml_read(text, (gssize)len, path, error);
    if (!doc)
        return NULL;
    pctxt = xmlRelaxNGNewDocParserCtxt(doc);
    if (!pctxt) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                    "cannot create a RELAX NG parser for %s", path);
        return NULL;
    }
    xmlRelaxNGSetParserStructuredErrors(pctxt, vfsec_xml_errors_handler, &errs);
    schema = xmlRelaxNGParse(pctxt);
    if (!schema) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s is not a RELAX NG schema: %s", path,
                    errs.message ? errs.message : "unknown error");
        return NULL;
    }
    return schema;
}

static gboolean
vfsec_policy_validate_doc(xmlDoc *doc, const char *schema_path, GError **error)
{
    g_autoptr(xmlRelaxNG) schema = vfsec_policy_schema_load(schema_path, error);
    g_autoptr(xmlRelaxNGValidCtxt) vctxt = NULL;
    g_auto(VfsecXmlErrors) errs = { 0 };

    if (!schema)
        return FALSE;
    vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (!vctxt) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                    "cannot create a RELAX NG validator for the vfsec policy");
        return FALSE;
    }
    xmlRelaxNGSetValidStructuredErrors(vctxt, vfsec_xml_errors_handler, &errs);
    if (xmlRelaxNGValidateDoc(vctxt, doc) != 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "<vfsec:policy> does not match %s at line %d: %s",
                    VFSEC_POLICY_SCHEMA, errs.line,
                    errs.message ? errs.message : "invalid");
        return FALSE;
    }
    return TRUE;
}

gboolean
vfsec_policy_validate_string(const char *xml, gssize len, const char *schema_path,
                             GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;

    g_return_val_if_fail(xml != NULL, FALSE);

    doc = vfsec_xml_read(xml, len, "policy XML", error);
    if (!doc)
        return FALSE;
    return vfsec_policy_validate_doc(doc, schema_path, error);
}

/* The policy element alone in its own document: the RELAX NG validator
 * wants a document, and a copy keeps the namespaces declared further up. */
static gboolean
vfsec_policy_validate_node(const xmlNode *node, GError **error)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *copy;

    if (!doc || !(copy = xmlDocCopyNode((xmlNode *)node, doc, 1))) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED, "cannot copy <vfsec:policy>");
        return FALSE;
    }
    xmlDocSetRootElement(doc, copy);
    return vfsec_policy_validate_doc(doc, NULL, error);
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
            dev->att->policy = override->policy;
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
    guint index = 0;

    for (xmlNode *c = metadata ? metadata->children : NULL; c; c = c->next) {
        if (!vfsec_xml_is_policy(c, "policy"))
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

        if (!vfsec_xml_is_policy(c, "interface"))
            continue;  /* anything else is for the schema to reject */
        override = vfsec_policy_override_parse(c, ++index, &label, error);
        if (!override)
            return FALSE;
        g_ptr_array_add(dom->overrides, override);
        g_ptr_array_add(labels, label);
    }
    return vfsec_policy_validate_node(policy, error);
}

/* ------------------------------------------------------------------ */
/* Domain */

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
    g_autoptr(VfsecDomain) dom = g_new0(VfsecDomain, 1);
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

    dom->id = -1;
    dom->overrides = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_policy_override_free);
    dom->attachments = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_attachment_free);

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

        vfsec_policy_merge(&dev->att->policy, &dom->policy);
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

    doc = vfsec_xml_read(xml, len, "domain XML", error);
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

    if (!vfsec_file_read_bounded(path, &text, &len, error))
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

    doc = vfsec_xml_read(xml, len, "network hook XML", error);
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
