/* vfsec-domain.h: the domain model — every SR-IOV attachment candidate of a
 * libvirt domain XML (inactive, live or status form) plus vfsec's policy from
 * the domain's <metadata>, and the port XML of libvirt's network hook. */
#pragma once

#include <glib.h>

#include "vfsec-addr.h"

G_BEGIN_DECLS

/* Hard bound on a domain or network-hook XML document (hook stdin, files,
 * events); other readers of vfsec_xml_read() have bounds of their own. */
#define VFSEC_DOMAIN_XML_MAX (16 * 1024 * 1024)

/* The XML namespace of vfsec's policy inside a domain's <metadata>. */
#define VFSEC_POLICY_NS "https://vfsec.dev/xmlns/policy/1"
/* The policy schema's file name in the schema directory. */
#define VFSEC_POLICY_SCHEMA "vfsec-policy.rng"

typedef enum {
    VFSEC_ATTACHMENT_INTERFACE_HOSTDEV,  /* <interface type='hostdev'> */
    VFSEC_ATTACHMENT_HOSTDEV_PCI,        /* <hostdev mode='subsystem' type='pci'> */
    VFSEC_ATTACHMENT_INTERFACE_DIRECT,   /* <interface type='direct'> */
    VFSEC_ATTACHMENT_INTERFACE_NETWORK,  /* <interface type='network'> */
    VFSEC_ATTACHMENT_KIND_LAST
} VfsecAttachmentKind;

/* "interface-hostdev", "hostdev-pci", "interface-direct", "interface-network" */
const char *vfsec_attachment_kind_to_string(VfsecAttachmentKind kind);

typedef enum {
    VFSEC_TRUST_UNTRUSTED,
    VFSEC_TRUST_TRUSTED,
    VFSEC_TRUST_LAST
} VfsecTrust;

const char *vfsec_trust_to_string(VfsecTrust trust);
/* Returns -1 for an unknown string. */
int vfsec_trust_from_string(const char *str);

typedef enum {
    VFSEC_NATIVE_MODE_NONE,
    VFSEC_NATIVE_MODE_TAGGED,
    VFSEC_NATIVE_MODE_UNTAGGED,
    VFSEC_NATIVE_MODE_LAST
} VfsecNativeMode;

/* NULL for NONE, else "tagged" / "untagged". */
const char *vfsec_native_mode_to_string(VfsecNativeMode mode);

typedef enum {
    VFSEC_TRISTATE_ABSENT,
    VFSEC_TRISTATE_YES,
    VFSEC_TRISTATE_NO,
} VfsecTristate;

/* Policy as written somewhere (domain, interface override, host default):
 * each field may be unset, so several sources can be layered. */
typedef struct {
    gboolean has_trust;
    VfsecTrust trust;
    gboolean has_hairpin;
    gboolean hairpin;
} VfsecPolicy;

/* The built-in defaults: untrusted, hairpin on. */
#define VFSEC_POLICY_DEFAULT_TRUST VFSEC_TRUST_UNTRUSTED
#define VFSEC_POLICY_DEFAULT_HAIRPIN TRUE

/* Fills every unset field of @policy from @fallback (which may itself be partial). */
void vfsec_policy_merge(VfsecPolicy *policy, const VfsecPolicy *fallback);

/* libvirt's <teaming> role (virtio failover): a persistent virtio interface
 * and a transient hostdev share one MAC on purpose. */
typedef enum {
    VFSEC_TEAMING_NONE,
    VFSEC_TEAMING_PERSISTENT,
    VFSEC_TEAMING_TRANSIENT,
} VfsecTeaming;

/* NULL for NONE, else "persistent" / "transient". */
const char *vfsec_teaming_to_string(VfsecTeaming teaming);

typedef struct {
    VfsecAttachmentKind kind;

    /* Host-side PCI address: <source><address> of a hostdev, or the VF that
     * the <actual> element of status XML names for a network interface. */
    gboolean has_pci;
    VfsecPciAddr pci;

    gboolean has_mac;
    VfsecMac mac;

    GArray *vlans;              /* guint16 VLAN ids in document order, never NULL */
    gboolean trunk;
    int native_vlan;            /* -1 when no tag carries nativeMode */
    VfsecNativeMode native_mode;

    char *source_dev;           /* direct: <source dev>; network: actual dev */
    char *mode;                 /* direct: <source mode>, default "vepa" */
    char *network;              /* network: <source network> */
    char *portgroup;            /* network: <source portgroup> */
    VfsecTristate managed;
    char *driver_name;          /* <driver name='vfio'|'kvm'|'xen'> */
    char *alias;                /* <alias name> (live XML) */
    gboolean from_actual;       /* pci/source_dev come from <actual> */

    VfsecTeaming teaming;
    char *teaming_persistent;   /* transient: alias of its persistent peer */

    /* The policy as the domain wrote it: this interface's <vfsec:interface>
     * override over the domain's <vfsec:policy>, partial (has_trust FALSE
     * when neither says trust=). What vfsecd passes to
     * vfsec_conf_policy_for(), so host defaults fill the unwritten fields. */
    VfsecPolicy written_policy;
    /* written_policy over the built-in defaults, every field set: the
     * effective policy where no host configuration applies (the CLI's JSON,
     * vfsec_attachment_to_string()). */
    VfsecPolicy policy;
} VfsecAttachment;

/* One line naming every field that is set, in a fixed order, e.g.
 * "interface-hostdev pci=0000:03:10.2 mac=52:54:00:12:34:56 vlan=42
 *  managed=yes trust=untrusted hairpin=yes" (for logs, the CLI and tests).
 * Returns a new string. */
char *vfsec_attachment_to_string(const VfsecAttachment *att);

/* A <vfsec:interface> override, kept so later layers can report unmatched ones. */
typedef struct {
    gboolean has_mac;
    VfsecMac mac;
    char *alias;
    VfsecPolicy policy;
} VfsecPolicyOverride;

typedef struct {
    char *name;
    char *uuid;                 /* NULL when the XML has none */
    int id;                     /* -1 for inactive XML */
    char *type;                 /* <domain type=> */
    VfsecPolicy policy;         /* <vfsec:policy> attributes (partial) */
    GPtrArray *overrides;       /* VfsecPolicyOverride* */
    GPtrArray *attachments;     /* VfsecAttachment*, document order */
} VfsecDomain;

/* A new attachment with no fields set (native_vlan -1, empty vlans). */
VfsecAttachment *vfsec_attachment_new(void);
void vfsec_attachment_free(VfsecAttachment *att);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecAttachment, vfsec_attachment_free)

/* A domain with only a name and a UUID (either may be NULL) and no
 * attachment, for callers that know a domain by name or by a network port
 * (the daemon's release by name, the network hook). */
VfsecDomain *vfsec_domain_new(const char *name, const char *uuid);
/* Appends a new attachment of @kind to @domain; returns it (borrowed). */
VfsecAttachment *vfsec_domain_add_attachment(VfsecDomain *domain, VfsecAttachmentKind kind);

/* Parse a domain XML document. Accepts <domain> at the root, and the status
 * XML that libvirt keeps (<domstatus> wrapping a <domain>). Entities are not
 * expanded, no DTD or network resource is loaded, documents over
 * VFSEC_DOMAIN_XML_MAX or nested deeper than libxml2's default are refused.
 * Returns a new domain, or NULL with @error naming the element at fault. */
VfsecDomain *vfsec_domain_parse_string(const char *xml, gssize len, GError **error);
/* @path "-" reads standard input. */
VfsecDomain *vfsec_domain_parse_file(const char *path, GError **error);
void vfsec_domain_free(VfsecDomain *domain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecDomain, vfsec_domain_free)

/* Validate a <vfsec:policy> element tree (read as by vfsec_xml_read(),
 * bounded by VFSEC_DOMAIN_XML_MAX) against xml/vfsec-policy.rng.
 * @schema_path NULL finds the schema with vfsec_xml_schema_path(). */
gboolean vfsec_policy_validate_string(const char *xml, gssize len,
                                      const char *schema_path, GError **error);

/* The port XML that libvirt hands the network hook (<networkport>). */
typedef struct {
    char *uuid;
    char *owner_name;
    char *owner_uuid;
    char *network;              /* from the hook's <network><name>, may be NULL */
    char *portgroup;
    gboolean has_mac;
    VfsecMac mac;
    GArray *vlans;              /* guint16, never NULL */
    gboolean trunk;
    int native_vlan;            /* -1 when no tag carries nativeMode */
    VfsecNativeMode native_mode;
    char *plug_type;            /* "hostdev-pci", "direct", "network", "bridge", ... */
    gboolean has_pci;           /* plug type hostdev-pci */
    VfsecPciAddr pci;
    char *plug_dev;             /* plug type direct */
    char *plug_mode;
    char *plug_driver;          /* plug type hostdev-pci: <driver name> */
    VfsecTristate managed;
} VfsecNetworkPort;

/* Parses the network hook's stdin for port-created/port-deleted: a
 * <hookData> holding <network> and <networkport>, or a bare <networkport>. */
VfsecNetworkPort *vfsec_network_port_parse_string(const char *xml, gssize len, GError **error);
void vfsec_network_port_free(VfsecNetworkPort *port);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecNetworkPort, vfsec_network_port_free)

G_END_DECLS
