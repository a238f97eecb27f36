/* test-domain.c: domain XML → SR-IOV attachments and policy, and the network hook's port XML. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <libxml/globals.h>
#include <libxml/xmlerror.h>

#include "vfsec-domain.h"
#include "vfsec-error.h"

static char *
source_path(const char *rel)
{
    const char *top = g_getenv("VFSEC_SOURCE_DIR");

    return g_build_filename(top ? top : ".", rel, NULL);
}

static char *
read_source(const char *rel, gsize *len)
{
    g_autofree char *path = source_path(rel);
    g_autoptr(GError) error = NULL;
    char *text = NULL;

    g_file_get_contents(path, &text, len, &error);
    g_assert_no_error(error);
    return text;
}

/* "trust=… hairpin=…" with only the fields that are set. */
static char *
policy_to_string(const VfsecPolicy *policy)
{
    g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);

    if (policy->has_trust)
        g_ptr_array_add(parts, g_strconcat("trust=", vfsec_trust_to_string(policy->trust), NULL));
    if (policy->has_hairpin)
        g_ptr_array_add(parts, g_strconcat("hairpin=", policy->hairpin ? "yes" : "no", NULL));
    g_ptr_array_add(parts, NULL);
    return g_strjoinv(" ", (char **)parts->pdata);
}

/* Fails with both texts when @error is not @code or lacks @expected. */
static void
assert_error_contains(const GError *error, VfsecErrorCode code, const char *expected)
{
    g_assert_error(error, VFSEC_ERROR, (gint)code);
    if (!strstr(error->message, expected))
        g_error("'%s' does not contain '%s'", error->message, expected);
}

/* ------------------------------------------------------------------ */
/* Well-formed domains: every attachment in document order, as
 * vfsec_attachment_to_string() writes it (kind, pci, mac, vlan, trunk,
 * native, dev, mode, network, portgroup, managed, driver, alias, actual,
 * teaming, trust, hairpin). */

typedef struct {
    const char *file;           /* relative to the source tree */
    const char *name;
    int id;
    const char *policy;         /* the domain's own (partial) policy */
    guint n_overrides;
    const char *attachments[8]; /* NULL-terminated */
} GoodCase;

static const GoodCase good_cases[] = {
    { "xml/samples/interface-hostdev.xml", "sample-interface-hostdev", -1, "", 0, {
        "interface-hostdev pci=0000:3b:02.0 mac=52:54:00:10:00:01 vlan=42,43 trunk "
        "native=42/untagged managed=yes driver=vfio trust=untrusted hairpin=yes",
    } },
    { "xml/samples/hostdev-pci.xml", "sample-hostdev-pci", -1, "", 0, {
        "hostdev-pci pci=0000:3b:02.1 managed=yes driver=vfio alias=ua-vf0 "
        "trust=untrusted hairpin=yes",
        "hostdev-pci pci=0000:3b:02.2 managed=no trust=untrusted hairpin=yes",
    } },
    { "xml/samples/interface-direct.xml", "sample-interface-direct", -1, "", 0, {
        "interface-direct mac=52:54:00:30:00:01 vlan=100 dev=ens1f0v1 mode=passthrough "
        "trust=untrusted hairpin=yes",
        "interface-direct mac=52:54:00:30:00:02 dev=ens1f0v2 mode=vepa "
        "trust=untrusted hairpin=yes",
    } },
    { "xml/samples/interface-network.xml", "sample-interface-network", -1, "", 0, {
        "interface-network mac=52:54:00:40:00:01 vlan=200 network=sriov-pool "
        "portgroup=tenant-a trust=untrusted hairpin=yes",
    } },
    { "xml/samples/policy-overrides.xml", "sample-policy-overrides", -1, "hairpin=no", 3, {
        "interface-hostdev pci=0000:3b:02.0 mac=52:54:00:50:00:01 managed=yes "
        "trust=trusted hairpin=no",
        "interface-hostdev pci=0000:3b:02.1 mac=52:54:00:50:00:02 managed=yes "
        "trust=untrusted hairpin=no",
        "hostdev-pci pci=0000:3b:02.2 managed=yes alias=ua-vf-backend "
        "trust=trusted hairpin=yes",
        "interface-hostdev pci=0000:3b:02.3 mac=52:54:00:50:00:03 managed=yes "
        "teaming=transient:ua-failover0 trust=untrusted hairpin=yes",
    } },
    { "tests/data/domains/status-actual.xml", "status-actual", 5, "", 0, {
        "interface-network pci=0000:81:10.3 mac=52:54:00:aa:00:01 vlan=10,20 trunk "
        "native=20/tagged network=sriov-pool portgroup=blue managed=yes driver=vfio "
        "alias=hostdev0 actual trust=untrusted hairpin=yes",
        "interface-network mac=52:54:00:aa:00:02 vlan=7 dev=ens2f1v7 mode=bridge "
        "network=macvtap-pool alias=net1 actual trust=untrusted hairpin=yes",
        "interface-network mac=52:54:00:aa:00:03 network=default alias=net2 "
        "trust=untrusted hairpin=yes",
    } },
    { "tests/data/domains/live-mixed.xml", "live-mixed", 12, "", 0, {
        "interface-direct mac=52:54:00:bb:00:01 dev=eno1 mode=private "
        "network=macvtap-net portgroup=gold alias=net0 trust=untrusted hairpin=yes",
        "hostdev-pci pci=0000:3b:1f.7 managed=no driver=vfio alias=hostdev0 "
        "trust=untrusted hairpin=yes",
        "hostdev-pci pci=10000:00:00.0 trust=untrusted hairpin=yes",
    } },
    { "tests/data/domains/policy-prefix.xml", "policy-prefix", -1, "trust=trusted", 2, {
        "interface-hostdev pci=0000:05:00.1 mac=52:54:00:cc:00:01 alias=ua-net1 "
        "trust=untrusted hairpin=yes",
        "interface-hostdev pci=0000:05:00.2 mac=52:54:00:cc:00:02 trust=trusted hairpin=no",
        "interface-network mac=52:54:00:cc:00:03 network=pool trust=trusted hairpin=yes",
    } },
    { "tests/data/domains/teaming-network.xml", "teaming-network", -1, "", 0, {
        "interface-network mac=52:54:00:dd:00:01 network=bridged alias=ua-backup0 "
        "teaming=persistent trust=untrusted hairpin=yes",
        "interface-network mac=52:54:00:dd:00:01 network=vf-pool "
        "teaming=transient:ua-backup0 trust=untrusted hairpin=yes",
    } },
    { "tests/data/domains/empty.xml", "empty", -1, "", 0, { NULL } },
};

static void
assert_good_case(const GoodCase *c, const VfsecDomain *dom)
{
    g_autofree char *policy = policy_to_string(&dom->policy);
    guint n = 0;

    g_assert_cmpstr(dom->name, ==, c->name);
    g_assert_cmpint(dom->id, ==, c->id);
    g_assert_cmpstr(policy, ==, c->policy);
    g_assert_cmpuint(dom->overrides->len, ==, c->n_overrides);
    while (c->attachments[n])
        n++;
    for (guint i = 0; i < dom->attachments->len && i < n; i++) {
        g_autofree char *got = vfsec_attachment_to_string(g_ptr_array_index(dom->attachments, i));

        g_assert_cmpstr(got, ==, c->attachments[i]);
    }
    g_assert_cmpuint(dom->attachments->len, ==, n);
}

static void
test_good(gconstpointer data)
{
    const GoodCase *c = data;
    g_autofree char *path = source_path(c->file);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) from_file = vfsec_domain_parse_file(path, &error);
    g_autofree char *text = NULL;
    g_autoptr(VfsecDomain) from_string = NULL;
    gsize len;

    g_assert_no_error(error);
    g_assert_nonnull(from_file);
    assert_good_case(c, from_file);

    /* The string entry point, with an explicit length and NUL-terminated. */
    text = read_source(c->file, &len);
    from_string = vfsec_domain_parse_string(text, (gssize)len, &error);
    g_assert_no_error(error);
    assert_good_case(c, from_string);
    g_clear_pointer(&from_string, vfsec_domain_free);
    from_string = vfsec_domain_parse_string(text, -1, &error);
    g_assert_no_error(error);
    assert_good_case(c, from_string);
}

/* The struct itself, not only its description, for the richest case. */
static void
test_fields(void)
{
    g_autofree char *path = source_path("tests/data/domains/status-actual.xml");
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = vfsec_domain_parse_file(path, &error);
    const VfsecAttachment *vf;
    const VfsecAttachment *macvtap;
    const VfsecAttachment *tap;
    char buf[VFSEC_PCI_ADDR_STRLEN];

    g_assert_no_error(error);
    g_assert_cmpstr(dom->uuid, ==, "2f0a8c55-4a36-4d53-9a5f-3a1c8e0c0001");
    g_assert_cmpstr(dom->type, ==, "kvm");
    g_assert_cmpuint(dom->attachments->len, ==, 3);

    vf = g_ptr_array_index(dom->attachments, 0);
    g_assert_cmpint(vf->kind, ==, VFSEC_ATTACHMENT_INTERFACE_NETWORK);
    g_assert_true(vf->has_pci);
    g_assert_cmpstr(vfsec_pci_addr_format(&vf->pci, buf), ==, "0000:81:10.3");
    g_assert_true(vf->from_actual);
    /* The VLAN of <actual> replaces the interface's own <vlan><tag id='99'>. */
    g_assert_cmpuint(vf->vlans->len, ==, 2);
    g_assert_cmpuint(g_array_index(vf->vlans, guint16, 0), ==, 10);
    g_assert_cmpuint(g_array_index(vf->vlans, guint16, 1), ==, 20);
    g_assert_true(vf->trunk);
    g_assert_cmpint(vf->native_vlan, ==, 20);
    g_assert_cmpint(vf->native_mode, ==, VFSEC_NATIVE_MODE_TAGGED);
    g_assert_cmpint(vf->managed, ==, VFSEC_TRISTATE_YES);
    g_assert_true(vf->policy.has_trust && vf->policy.has_hairpin);
    g_assert_cmpint(vf->policy.trust, ==, VFSEC_TRUST_UNTRUSTED);
    g_assert_true(vf->policy.hairpin);

    macvtap = g_ptr_array_index(dom->attachments, 1);
    g_assert_false(macvtap->has_pci);
    g_assert_true(macvtap->from_actual);
    g_assert_cmpstr(macvtap->source_dev, ==, "ens2f1v7");
    g_assert_cmpstr(macvtap->mode, ==, "bridge");
    g_assert_cmpuint(macvtap->vlans->len, ==, 1);
    g_assert_false(macvtap->trunk);
    g_assert_cmpint(macvtap->native_vlan, ==, -1);

    tap = g_ptr_array_index(dom->attachments, 2);
    g_assert_false(tap->from_actual);
    g_assert_null(tap->source_dev);
    g_assert_cmpuint(tap->vlans->len, ==, 0);
    g_assert_cmpint(tap->managed, ==, VFSEC_TRISTATE_ABSENT);
    g_assert_cmpint(tap->teaming, ==, VFSEC_TEAMING_NONE);
}

static void
test_overrides(void)
{
    g_autofree char *path = source_path("xml/samples/policy-overrides.xml");
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = vfsec_domain_parse_file(path, &error);
    const VfsecPolicyOverride *o;
    char buf[VFSEC_MAC_STRLEN];

    g_assert_no_error(error);
    g_assert_cmpuint(dom->overrides->len, ==, 3);
    o = g_ptr_array_index(dom->overrides, 0);
    g_assert_true(o->has_mac);
    g_assert_cmpstr(vfsec_mac_format(&o->mac, buf), ==, "52:54:00:50:00:01");
    g_assert_null(o->alias);
    g_assert_true(o->policy.has_trust);
    g_assert_false(o->policy.has_hairpin);
    o = g_ptr_array_index(dom->overrides, 1);
    g_assert_false(o->has_mac);
    g_assert_cmpstr(o->alias, ==, "ua-vf-backend");
    g_assert_true(o->policy.has_trust && o->policy.has_hairpin);
}

/* ------------------------------------------------------------------ */
/* Malformed and hostile inputs: one file each, the error code and a piece
 * of the message that names the element at fault. */

typedef struct {
    const char *file;       /* in tests/data/domains/bad/ */
    VfsecErrorCode code;
    const char *message;
} BadCase;

static const BadCase bad_cases[] = {
    { "malformed.xml", VFSEC_ERROR_INVALID,
      "domain XML is malformed XML at line 5: "
      "Opening and ending tag mismatch: interface line 4 and devices" },
    { "empty.xml", VFSEC_ERROR_INVALID, "domain XML is malformed XML" },
    { "wrong-root.xml", VFSEC_ERROR_INVALID,
      "root element <network> is not <domain> or <domstatus>" },
    { "domstatus-empty.xml", VFSEC_ERROR_INVALID, "<domstatus> has no <domain>" },
    { "no-name.xml", VFSEC_ERROR_INVALID, "<domain> has no <name>" },
    { "domain-id.xml", VFSEC_ERROR_INVALID, "<domain id='abc'> is not a domain id" },
    { "interface-no-type.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:aa:bb:cc) has no type" },
    { "pci-bus-range.xml", VFSEC_ERROR_INVALID,
      "hostdev #1: <source><address bus='0x1ff'> is not a PCI bus number (0-0xff)" },
    { "pci-slot-garbage.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:ee:00:01): <source><address slot='0x1g'> "
      "is not a PCI slot number (0-0x1f)" },
    { "pci-domain-range.xml", VFSEC_ERROR_INVALID,
      "hostdev #1: <source><address domain='0x100000000'> is not a PCI domain number" },
    { "pci-function-actual.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:ee:00:02): <actual><source><address function='8'> "
      "is not a PCI function number (0-7)" },
    { "pci-missing.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:ee:00:03): <source><address> is missing" },
    { "pci-no-bus.xml", VFSEC_ERROR_INVALID, "hostdev #1: <source><address> has no bus" },
    { "pci-type-drive.xml", VFSEC_ERROR_INVALID,
      "<source><address type='drive'> is not a PCI address" },
    { "pci-duplicate.xml", VFSEC_ERROR_INVALID,
      "duplicate PCI address 0000:03:07.1 on interface #1 (mac 52:54:00:ee:00:05) and hostdev #1" },
    { "mac-malformed.xml", VFSEC_ERROR_INVALID,
      "interface #2: <mac address>: '52:54:00:zz:00:01' is not a MAC address" },
    { "mac-multicast.xml", VFSEC_ERROR_INVALID,
      "interface #1: <mac address>: MAC address '01:00:5e:00:00:01' is a multicast address" },
    { "mac-duplicate.xml", VFSEC_ERROR_INVALID,
      "duplicate MAC 52:54:00:aa:bb:cc on interface #1 and interface #3" },
    { "teaming-wrong-peer.xml", VFSEC_ERROR_INVALID,
      "duplicate MAC 52:54:00:aa:bb:cc on interface #1 and interface #2" },
    { "teaming-two-transient.xml", VFSEC_ERROR_INVALID,
      "duplicate MAC 52:54:00:aa:bb:cc on interface #2 and interface #3" },
    { "teaming-no-peer.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:aa:bb:cc): <teaming type='transient'> does not name "
      "its persistent peer" },
    { "teaming-type.xml", VFSEC_ERROR_INVALID,
      "hostdev #1: <teaming type='sometimes'> is not 'persistent' or 'transient'" },
    { "vlan-range.xml", VFSEC_ERROR_INVALID,
      "interface #2 (mac 52:54:00:aa:bb:cc): <vlan><tag id='5000'> is outside 0-4095" },
    { "vlan-garbage.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:aa:bb:cc): <vlan><tag id='4x'> is not a VLAN id (0-4095)" },
    { "vlan-negative.xml", VFSEC_ERROR_INVALID,
      "interface #1: <vlan><tag id='-1'> is not a VLAN id (0-4095)" },
    { "vlan-native-mode.xml", VFSEC_ERROR_INVALID,
      "<vlan><tag id='42' nativeMode='sometimes'> is not 'tagged' or 'untagged'" },
    { "vlan-two-native.xml", VFSEC_ERROR_INVALID,
      "<vlan> has a nativeMode on more than one <tag>" },
    { "vlan-trunk-no.xml", VFSEC_ERROR_INVALID, "<vlan trunk='no'> has 2 tags" },
    { "vlan-empty.xml", VFSEC_ERROR_INVALID, "<vlan> has no <tag id>" },
    { "managed-garbage.xml", VFSEC_ERROR_INVALID,
      "hostdev #1: <hostdev managed='sure'> is not 'yes' or 'no'" },
    { "direct-mode.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:aa:bb:cc): <source mode='vepa2'> is not vepa, private, "
      "bridge or passthrough" },
    { "direct-no-dev.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:aa:bb:cc): <source dev> is missing" },
    { "network-no-source.xml", VFSEC_ERROR_INVALID,
      "interface #1 (mac 52:54:00:aa:bb:cc): <source network> is missing" },
    { "policy-trust.xml", VFSEC_ERROR_INVALID,
      "<vfsec:policy trust='maybe'> is not 'untrusted' or 'trusted'" },
    { "policy-hairpin.xml", VFSEC_ERROR_INVALID,
      "<vfsec:interface mac='52:54:00:aa:00:01' hairpin='sometimes'> is not 'yes' or 'no'" },
    { "policy-unmatched.xml", VFSEC_ERROR_INVALID,
      "<vfsec:interface alias='ua-gone'> matches no SR-IOV interface of domain 'bad'" },
    { "policy-unmatched-bridge.xml", VFSEC_ERROR_INVALID,
      "<vfsec:interface mac='52:54:00:aa:00:02'> matches no SR-IOV interface" },
    { "policy-twice.xml", VFSEC_ERROR_INVALID,
      "<vfsec:interface mac='52:54:00:aa:00:01'> and <vfsec:interface alias='ua-x'> both "
      "match interface #2 (mac 52:54:00:aa:00:01)" },
    { "policy-two-keys.xml", VFSEC_ERROR_INVALID,
      "<vfsec:interface> #1 needs exactly one of mac= or alias=" },
    { "policy-no-key.xml", VFSEC_ERROR_INVALID,
      "<vfsec:interface> #2 needs exactly one of mac= or alias=" },
    { "policy-bad-mac.xml", VFSEC_ERROR_INVALID,
      "<vfsec:interface mac='52:54:00:aa:00'>: '52:54:00:aa:00' is not a MAC address" },
    { "policy-unknown-attr.xml", VFSEC_ERROR_INVALID,
      "<vfsec:policy> does not match vfsec-policy.rng at line 5: Invalid attribute colour" },
    { "policy-unknown-element.xml", VFSEC_ERROR_INVALID,
      "<vfsec:policy> does not match vfsec-policy.rng at line 5" },
    { "policy-two.xml", VFSEC_ERROR_INVALID,
      "<metadata> holds more than one <vfsec:policy> (lines 4 and 6)" },
    { "namespace-undeclared.xml", VFSEC_ERROR_INVALID,
      "domain XML is malformed XML at line 4: Namespace prefix vfsec on policy is not defined" },
    { "billion-laughs.xml", VFSEC_ERROR_INVALID,
      "domain XML has a <!DOCTYPE> at line 2: DTDs and entity declarations are refused" },
    { "xxe.xml", VFSEC_ERROR_INVALID, "domain XML has a <!DOCTYPE> at line 2" },
    { "doctype-external.xml", VFSEC_ERROR_INVALID, "domain XML has a <!DOCTYPE> at line 2" },
    { "undefined-entity.xml", VFSEC_ERROR_INVALID,
      "domain XML is malformed XML at line 2: Entity 'xxe' not defined" },
};

static void
test_bad(gconstpointer data)
{
    const BadCase *c = data;
    g_autofree char *rel = g_build_filename("tests/data/domains/bad", c->file, NULL);
    g_autofree char *path = source_path(rel);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = NULL;
    gsize len;

    text = read_source(rel, &len);
    dom = vfsec_domain_parse_string(text, (gssize)len, &error);
    g_assert_null(dom);
    assert_error_contains(error, c->code, c->message);
    g_clear_error(&error);

    /* Files name themselves in front of the same message. */
    dom = vfsec_domain_parse_file(path, &error);
    g_assert_null(dom);
    assert_error_contains(error, c->code, c->message);
    g_assert_true(g_str_has_prefix(error->message, path));

    /* Callers may ignore the reason. */
    g_assert_null(vfsec_domain_parse_string(text, (gssize)len, NULL));
}

/* Every file in bad/ has a case and every case a file. */
static void
test_bad_complete(void)
{
    g_autofree char *dir_path = source_path("tests/data/domains/bad");
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, &error);
    const char *name;
    guint files = 0;

    g_assert_no_error(error);
    while ((name = g_dir_read_name(dir))) {
        gboolean found = FALSE;

        for (gsize i = 0; i < G_N_ELEMENTS(bad_cases) && !found; i++)
            found = g_str_equal(bad_cases[i].file, name);
        if (!found)
            g_error("tests/data/domains/bad/%s has no case in test-domain.c", name);
        files++;
    }
    g_assert_cmpuint(files, ==, G_N_ELEMENTS(bad_cases));
}

/* ------------------------------------------------------------------ */
/* Generated hostile inputs */

static char *
padded_domain(gsize size)
{
    static const char head[] = "<domain type='qemu'><name>big</name></domain>";
    char *text = g_malloc(size + 1);

    g_assert_cmpuint(size, >=, sizeof(head) - 1);
    memcpy(text, head, sizeof(head) - 1);
    memset(text + sizeof(head) - 1, ' ', size - (sizeof(head) - 1));
    text[size] = '\0';
    return text;
}

static void
test_size_limit(void)
{
    g_autofree char *at_limit = padded_domain(VFSEC_DOMAIN_XML_MAX);
    g_autofree char *over = padded_domain(VFSEC_DOMAIN_XML_MAX + 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = NULL;
    g_autofree char *path = NULL;
    int fd;

    dom = vfsec_domain_parse_string(at_limit, VFSEC_DOMAIN_XML_MAX, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(dom->name, ==, "big");

    g_assert_null(vfsec_domain_parse_string(over, VFSEC_DOMAIN_XML_MAX + 1, &error));
    assert_error_contains(error, VFSEC_ERROR_TOO_LARGE,
                          "domain XML is larger than the 16777216-byte limit");
    g_clear_error(&error);

    g_assert_null(vfsec_domain_parse_string(over, -1, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_clear_error(&error);

    g_assert_null(vfsec_network_port_parse_string(over, -1, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_clear_error(&error);

    g_assert_false(vfsec_policy_validate_string(over, -1, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_clear_error(&error);

    /* A file is refused while it is read, not after. */
    fd = g_file_open_tmp("test-domain-XXXXXX.xml", &path, &error);
    g_assert_no_error(error);
    g_assert_true(g_file_set_contents(path, over, VFSEC_DOMAIN_XML_MAX + 1, &error));
    close(fd);
    g_assert_null(vfsec_domain_parse_file(path, &error));
    assert_error_contains(error, VFSEC_ERROR_TOO_LARGE, path);
    g_unlink(path);
}

static void
test_deep_nesting(void)
{
    const guint depth = 100000;
    g_autoptr(GString) xml = g_string_new("<domain type='qemu'><name>deep</name><metadata>");
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < depth; i++)
        g_string_append(xml, "<a>");
    for (guint i = 0; i < depth; i++)
        g_string_append(xml, "</a>");
    g_string_append(xml, "</metadata></domain>");

    g_assert_null(vfsec_domain_parse_string(xml->str, (gssize)xml->len, &error));
    assert_error_contains(error, VFSEC_ERROR_INVALID,
                          "domain XML is malformed XML at line 1: "
                          "Excessive depth in document: 256");
}

/* Hundreds of thousands of devices stay linear (no pairwise checks). */
static void
test_many_devices(void)
{
    const guint n = 150000;
    g_autoptr(GString) xml = g_string_new("<domain type='qemu'><name>many</name><devices>");
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = NULL;
    gint64 start = g_get_monotonic_time();

    for (guint i = 0; i < n; i++)
        g_string_append_printf(xml, "<interface type='direct'>"
                               "<mac address='52:54:%02x:%02x:%02x:01'/>"
                               "<source dev='e%u'/></interface>",
                               (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, i);
    g_string_append(xml, "</devices></domain>");
    g_assert_cmpuint(xml->len, <, VFSEC_DOMAIN_XML_MAX);

    dom = vfsec_domain_parse_string(xml->str, (gssize)xml->len, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(dom->attachments->len, ==, n);
    /* Generous bound: quadratic checks would take minutes here. */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 20 * G_USEC_PER_SEC);
}

/* A buffer that is not NUL-terminated is read only up to @len. */
static void
test_explicit_length(void)
{
    gsize len;
    g_autofree char *text = read_source("xml/samples/hostdev-pci.xml", &len);
    g_autofree char *buf = g_malloc(len + 8);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = NULL;

    memcpy(buf, text, len);
    memcpy(buf + len, "<<<&&&<<", 8);
    dom = vfsec_domain_parse_string(buf, (gssize)len, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(dom->attachments->len, ==, 2);
}

static void
test_stdin(void)
{
    g_autofree char *path = source_path("xml/samples/interface-direct.xml");
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = NULL;
    int saved = dup(STDIN_FILENO);
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    g_assert_cmpint(saved, >=, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(dup2(fd, STDIN_FILENO), ==, STDIN_FILENO);
    close(fd);
    dom = vfsec_domain_parse_file("-", &error);
    g_assert_cmpint(dup2(saved, STDIN_FILENO), ==, STDIN_FILENO);
    close(saved);

    g_assert_no_error(error);
    g_assert_cmpstr(dom->name, ==, "sample-interface-direct");
    g_assert_cmpuint(dom->attachments->len, ==, 2);
}

static void
test_missing_file(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_null(vfsec_domain_parse_file("/nonexistent/vfsec/domain.xml", &error));
    assert_error_contains(error, VFSEC_ERROR_NOT_FOUND, "/nonexistent/vfsec/domain.xml");
}

/* libxml2 must neither print nor touch the process-wide handlers that
 * another libxml2 user in the same process may rely on. */
static guint global_calls;

static void
count_global(void *data, xmlErrorPtr err)
{
    global_calls++;
}

static void
parse_every_bad_file(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autofree char *rel = g_build_filename("tests/data/domains/bad", bad_cases[i].file, NULL);
        gsize len;
        g_autofree char *text = read_source(rel, &len);

        g_assert_null(vfsec_domain_parse_string(text, (gssize)len, NULL));
        g_assert_null(vfsec_network_port_parse_string(text, (gssize)len, NULL));
    }
    g_assert_false(vfsec_policy_validate_string("<x", -1, NULL, NULL));
    g_assert_false(vfsec_policy_validate_string("<policy/>", -1, NULL, NULL));
}

static void
test_no_global_state(void)
{
    xmlGenericErrorFunc generic = xmlGenericError;

    xmlSetStructuredErrorFunc(NULL, count_global);
    parse_every_bad_file();
    g_assert_cmpuint(global_calls, ==, 0);
    g_assert_true(xmlStructuredError == count_global);
    g_assert_true(xmlGenericError == generic);
    xmlSetStructuredErrorFunc(NULL, NULL);
}

static void
test_no_stderr(void)
{
    if (g_test_subprocess()) {
        parse_every_bad_file();
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout_unmatched("?*");
    g_test_trap_assert_stderr_unmatched("?*");
}

/* ------------------------------------------------------------------ */
/* The policy schema on its own */

typedef struct {
    const char *xml;
    const char *error;      /* NULL: valid */
} PolicyCase;

#define NS "xmlns:v='https://vfsec.dev/xmlns/policy/1'"

static const PolicyCase policy_cases[] = {
    { "<v:policy " NS "/>", NULL },
    { "<v:policy " NS " trust='trusted' hairpin='no'>"
      "<v:interface mac='52:54:00:12:34:56' trust='untrusted'/>"
      "<v:interface alias='ua-net0' hairpin='yes'/></v:policy>", NULL },
    { "<policy xmlns='https://vfsec.dev/xmlns/policy/1'><interface alias='hostdev0'/></policy>",
      NULL },
    { "<v:policy " NS " trust='sometimes'/>", "trust" },
    { "<v:policy " NS " hairpin='on'/>", "hairpin" },
    { "<v:policy " NS " colour='blue'/>", "Invalid attribute colour" },
    { "<v:policy " NS "><v:interface trust='trusted'/></v:policy>", "interface" },
    { "<v:policy " NS "><v:interface mac='52:54:00:12:34:56' alias='x'/></v:policy>",
      "Invalid attribute alias" },
    { "<v:policy " NS "><v:interface mac='52-54-00-12-34-56'/></v:policy>", "interface" },
    { "<v:policy " NS "><v:interface alias='has space'/></v:policy>", "interface" },
    { "<v:policy " NS "><v:interface alias='ua-x'>text</v:interface></v:policy>", "interface" },
    { "<v:policy " NS "><v:vlan/></v:policy>", "vlan" },
    { "<policy trust='trusted'/>", "policy" },
    { "<v:policy xmlns:v='https://vfsec.dev/xmlns/policy/2'/>", "policy" },
};

static void
test_policy_schema(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(policy_cases); i++) {
        const PolicyCase *c = &policy_cases[i];
        g_autoptr(GError) error = NULL;
        gboolean ok = vfsec_policy_validate_string(c->xml, -1, NULL, &error);

        if (!c->error) {
            g_assert_no_error(error);
            g_assert_true(ok);
            continue;
        }
        g_assert_false(ok);
        assert_error_contains(error, VFSEC_ERROR_INVALID, c->error);
    }
}

static void
test_policy_schema_path(void)
{
    g_autofree char *schema = source_path("xml/vfsec-policy.rng");
    g_autofree char *not_schema = source_path("xml/samples/hostdev-pci.xml");
    g_autoptr(GError) error = NULL;

    g_assert_true(vfsec_policy_validate_string("<v:policy " NS "/>", -1, schema, &error));
    g_assert_no_error(error);

    g_assert_false(vfsec_policy_validate_string("<v:policy " NS "/>", -1,
                                                "/nonexistent/vfsec-policy.rng", &error));
    assert_error_contains(error, VFSEC_ERROR_NOT_FOUND, "/nonexistent/vfsec-policy.rng");
    g_clear_error(&error);

    g_assert_false(vfsec_policy_validate_string("<v:policy " NS "/>", -1, not_schema, &error));
    assert_error_contains(error, VFSEC_ERROR_INVALID, "is not a RELAX NG schema");
}

/* The domain parser finds the schema through VFSEC_SCHEMADIR. */
static void
test_policy_schemadir(void)
{
    g_autofree char *path = source_path("xml/samples/policy-overrides.xml");
    g_autofree char *saved = g_strdup(g_getenv("VFSEC_SCHEMADIR"));
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = NULL;

    g_setenv("VFSEC_SCHEMADIR", "/nonexistent/vfsec-schemas", TRUE);
    dom = vfsec_domain_parse_file(path, &error);
    if (saved)
        g_setenv("VFSEC_SCHEMADIR", saved, TRUE);
    else
        g_unsetenv("VFSEC_SCHEMADIR");
    g_assert_null(dom);
    assert_error_contains(error, VFSEC_ERROR_NOT_FOUND,
                          "/nonexistent/vfsec-schemas/vfsec-policy.rng");
}

/* The samples are real libvirt XML (when libvirt's validator is here). */
static void
test_samples_libvirt_valid(void)
{
    static const char *const samples[] = {
        "interface-hostdev.xml", "hostdev-pci.xml", "interface-direct.xml",
        "interface-network.xml", "policy-overrides.xml",
    };
    g_autofree char *validator = g_find_program_in_path("virt-xml-validate");

    if (!validator) {
        g_test_skip("virt-xml-validate is not installed (package libvirt-clients)");
        return;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(samples); i++) {
        g_autofree char *rel = g_build_filename("xml/samples", samples[i], NULL);
        g_autofree char *path = source_path(rel);
        const char *argv[] = { validator, path, "domain", NULL };
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;
        g_autoptr(GError) error = NULL;
        int status = -1;

        g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                     &out, &err, &status, &error);
        g_assert_no_error(error);
        if (!g_spawn_check_wait_status(status, NULL))
            g_error("%s is not valid libvirt domain XML: %s%s", samples[i], out, err);
    }
}

/* ------------------------------------------------------------------ */
/* The network hook's port XML */

static const char port_hostdev_xml[] =
    "<hookData>\n"
    "  <network connections='1'>\n"
    "    <name>sriov-pool</name>\n"
    "    <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9c</uuid>\n"
    "    <forward mode='hostdev' managed='yes'>\n"
    "      <driver name='vfio'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x2'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>\n"
    "    </forward>\n"
    "    <portgroup name='tenant-a'/>\n"
    "  </network>\n"
    "  <networkport>\n"
    "    <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>\n"
    "    <owner>\n"
    "      <name>vm1</name>\n"
    "      <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
    "    </owner>\n"
    "    <group>tenant-a</group>\n"
    "    <mac address='52:54:00:7b:35:93'/>\n"
    "    <vlan trunk='yes'>\n"
    "      <tag id='42'/>\n"
    "      <tag id='43' nativeMode='untagged'/>\n"
    "    </vlan>\n"
    "    <plug type='hostdev-pci' managed='yes'>\n"
    "      <driver name='vfio'/>\n"
    "      <address domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>\n"
    "    </plug>\n"
    "  </networkport>\n"
    "</hookData>";

static void
test_port_hostdev(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecNetworkPort) port =
        vfsec_network_port_parse_string(port_hostdev_xml, -1, &error);
    char pci[VFSEC_PCI_ADDR_STRLEN];
    char mac[VFSEC_MAC_STRLEN];

    g_assert_no_error(error);
    g_assert_cmpstr(port->uuid, ==, "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d");
    g_assert_cmpstr(port->owner_name, ==, "vm1");
    g_assert_cmpstr(port->owner_uuid, ==, "c7a5fdbd-edaf-9455-926a-d65c16db1809");
    g_assert_cmpstr(port->network, ==, "sriov-pool");
    g_assert_cmpstr(port->portgroup, ==, "tenant-a");
    g_assert_true(port->has_mac);
    g_assert_cmpstr(vfsec_mac_format(&port->mac, mac), ==, "52:54:00:7b:35:93");
    g_assert_cmpuint(port->vlans->len, ==, 2);
    g_assert_cmpuint(g_array_index(port->vlans, guint16, 1), ==, 43);
    g_assert_true(port->trunk);
    g_assert_cmpint(port->native_vlan, ==, 43);
    g_assert_cmpint(port->native_mode, ==, VFSEC_NATIVE_MODE_UNTAGGED);
    g_assert_cmpstr(port->plug_type, ==, "hostdev-pci");
    /* The plug's VF, not the first of the network's pool. */
    g_assert_true(port->has_pci);
    g_assert_cmpstr(vfsec_pci_addr_format(&port->pci, pci), ==, "0000:03:10.3");
    g_assert_cmpstr(port->plug_driver, ==, "vfio");
    g_assert_cmpint(port->managed, ==, VFSEC_TRISTATE_YES);
    g_assert_null(port->plug_dev);
}

typedef struct {
    const char *xml;
    const char *plug_type;
    const char *plug_dev;
    const char *plug_mode;
    const char *network;
} PortCase;

#define PORT_HEAD "<networkport><uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>" \
                  "<owner><name>vm1</name>" \
                  "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></owner>" \
                  "<mac address='52:54:00:7b:35:93'/>"

static const PortCase port_cases[] = {
    { PORT_HEAD "<plug type='direct' dev='ens1f0v3' mode='passthrough'/></networkport>",
      "direct", "ens1f0v3", "passthrough", NULL },
    { "<hookData><network><name>macvtap</name></network>" PORT_HEAD
      "<plug type='direct' dev='eno1'/></networkport></hookData>",
      "direct", "eno1", "vepa", "macvtap" },
    { PORT_HEAD "<plug type='network' bridge='virbr0' macTableManager='libvirt'/></networkport>",
      "network", NULL, NULL, NULL },
    { PORT_HEAD "<plug type='bridge' bridge='br0'/></networkport>", "bridge", NULL, NULL, NULL },
    { PORT_HEAD "</networkport>", NULL, NULL, NULL, NULL },
};

static void
test_port_cases(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(port_cases); i++) {
        const PortCase *c = &port_cases[i];
        g_autoptr(GError) error = NULL;
        g_autoptr(VfsecNetworkPort) port = vfsec_network_port_parse_string(c->xml, -1, &error);

        g_assert_no_error(error);
        g_assert_cmpstr(port->owner_name, ==, "vm1");
        g_assert_true(port->has_mac);
        g_assert_cmpstr(port->plug_type, ==, c->plug_type);
        g_assert_cmpstr(port->plug_dev, ==, c->plug_dev);
        g_assert_cmpstr(port->plug_mode, ==, c->plug_mode);
        g_assert_cmpstr(port->network, ==, c->network);
        g_assert_false(port->has_pci);
        g_assert_cmpuint(port->vlans->len, ==, 0);
        g_assert_false(port->trunk);
    }
}

typedef struct {
    const char *xml;
    const char *message;
} PortBadCase;

static const PortBadCase port_bad_cases[] = {
    { "<network><name>x</name></network>",
      "root element <network> is not <hookData> or <networkport>" },
    { "<hookData><network><name>x</name></network></hookData>", "<hookData> has no <networkport>" },
    { "<networkport><mac address='52:54:00:7b:35:93'/></networkport>",
      "<networkport> has no <uuid>" },
    { "<networkport><uuid>u1</uuid></networkport>", "network port u1: <mac address> is missing" },
    { "<networkport><uuid>u1</uuid><mac address='ff:ff:ff:ff:ff:ff'/></networkport>",
      "network port u1: <mac address>: MAC address 'ff:ff:ff:ff:ff:ff' is a multicast address" },
    { "<networkport><uuid>u1</uuid><mac address='52:54:00:7b:35:93'/>"
      "<plug type='hostdev-pci' managed='yes'><driver name='vfio'/></plug></networkport>",
      "network port u1: <plug><address> is missing" },
    { "<networkport><uuid>u1</uuid><mac address='52:54:00:7b:35:93'/><plug type='hostdev-pci'>"
      "<address domain='0x0000' bus='0x100' slot='0x10' function='0x3'/></plug></networkport>",
      "network port u1: <plug><address bus='0x100'> is not a PCI bus number (0-0xff)" },
    { "<networkport><uuid>u1</uuid><mac address='52:54:00:7b:35:93'/>"
      "<plug type='direct' mode='vepa'/></networkport>",
      "network port u1: <plug type='direct'> has no dev" },
    { "<networkport><uuid>u1</uuid><mac address='52:54:00:7b:35:93'/>"
      "<plug type='direct' dev='eth0' mode='bogus'/></networkport>",
      "network port u1: <plug mode='bogus'> is not vepa, private, bridge or passthrough" },
    { "<networkport><uuid>u1</uuid><mac address='52:54:00:7b:35:93'/><plug/></networkport>",
      "network port u1: <plug> has no type" },
    { "<networkport><uuid>u1</uuid><mac address='52:54:00:7b:35:93'/>"
      "<vlan><tag id='4096'/></vlan></networkport>",
      "network port u1: <vlan><tag id='4096'> is outside 0-4095" },
    { "<!DOCTYPE networkport [<!ENTITY x 'y'>]><networkport/>",
      "network hook XML has a <!DOCTYPE> at line 1" },
    { "<hookData><networkport>", "network hook XML is malformed XML at line 1" },
};

static void
test_port_bad(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(port_bad_cases); i++) {
        const PortBadCase *c = &port_bad_cases[i];
        g_autoptr(GError) error = NULL;

        g_assert_null(vfsec_network_port_parse_string(c->xml, -1, &error));
        assert_error_contains(error, VFSEC_ERROR_INVALID, c->message);
    }
}

/* ------------------------------------------------------------------ */
/* Small pieces */

static void
test_enums(void)
{
    g_assert_cmpstr(vfsec_attachment_kind_to_string(VFSEC_ATTACHMENT_INTERFACE_HOSTDEV), ==,
                    "interface-hostdev");
    g_assert_cmpstr(vfsec_attachment_kind_to_string(VFSEC_ATTACHMENT_HOSTDEV_PCI), ==,
                    "hostdev-pci");
    g_assert_cmpstr(vfsec_attachment_kind_to_string(VFSEC_ATTACHMENT_INTERFACE_DIRECT), ==,
                    "interface-direct");
    g_assert_cmpstr(vfsec_attachment_kind_to_string(VFSEC_ATTACHMENT_INTERFACE_NETWORK), ==,
                    "interface-network");
    g_assert_null(vfsec_attachment_kind_to_string(VFSEC_ATTACHMENT_KIND_LAST));

    for (int t = 0; t < VFSEC_TRUST_LAST; t++)
        g_assert_cmpint(vfsec_trust_from_string(vfsec_trust_to_string(t)), ==, t);
    g_assert_cmpstr(vfsec_trust_to_string(VFSEC_TRUST_TRUSTED), ==, "trusted");
    g_assert_cmpint(vfsec_trust_from_string("Trusted"), ==, -1);
    g_assert_cmpint(vfsec_trust_from_string(NULL), ==, -1);
    g_assert_null(vfsec_trust_to_string(VFSEC_TRUST_LAST));

    g_assert_null(vfsec_native_mode_to_string(VFSEC_NATIVE_MODE_NONE));
    g_assert_cmpstr(vfsec_native_mode_to_string(VFSEC_NATIVE_MODE_TAGGED), ==, "tagged");
    g_assert_cmpstr(vfsec_native_mode_to_string(VFSEC_NATIVE_MODE_UNTAGGED), ==, "untagged");
    g_assert_null(vfsec_native_mode_to_string(VFSEC_NATIVE_MODE_LAST));

    g_assert_null(vfsec_teaming_to_string(VFSEC_TEAMING_NONE));
    g_assert_cmpstr(vfsec_teaming_to_string(VFSEC_TEAMING_PERSISTENT), ==, "persistent");
    g_assert_cmpstr(vfsec_teaming_to_string(VFSEC_TEAMING_TRANSIENT), ==, "transient");
}

static void
test_policy_merge(void)
{
    VfsecPolicy override = { .has_trust = TRUE, .trust = VFSEC_TRUST_TRUSTED };
    const VfsecPolicy domain = { .has_trust = TRUE, .trust = VFSEC_TRUST_UNTRUSTED,
                                 .has_hairpin = TRUE, .hairpin = FALSE };
    const VfsecPolicy defaults = { .has_trust = TRUE, .trust = VFSEC_TRUST_UNTRUSTED,
                                   .has_hairpin = TRUE, .hairpin = TRUE };
    VfsecPolicy empty = { 0 };

    vfsec_policy_merge(&override, &domain);
    g_assert_true(override.has_trust && override.has_hairpin);
    g_assert_cmpint(override.trust, ==, VFSEC_TRUST_TRUSTED);   /* kept */
    g_assert_false(override.hairpin);                            /* filled */
    vfsec_policy_merge(&override, &defaults);
    g_assert_false(override.hairpin);                            /* not overwritten */

    vfsec_policy_merge(&empty, &(VfsecPolicy){ 0 });
    g_assert_false(empty.has_trust || empty.has_hairpin);
    vfsec_policy_merge(&empty, &defaults);
    g_assert_true(empty.has_trust && empty.hairpin);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(good_cases); i++) {
        g_autofree char *name = g_strdup_printf("/domain/good/%s", good_cases[i].file);
        g_test_add_data_func(name, &good_cases[i], test_good);
    }
    g_test_add_func("/domain/fields", test_fields);
    g_test_add_func("/domain/overrides", test_overrides);
    for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autofree char *name = g_strdup_printf("/domain/bad/%s", bad_cases[i].file);
        g_test_add_data_func(name, &bad_cases[i], test_bad);
    }
    g_test_add_func("/domain/bad-complete", test_bad_complete);
    g_test_add_func("/domain/size-limit", test_size_limit);
    g_test_add_func("/domain/deep-nesting", test_deep_nesting);
    g_test_add_func("/domain/many-devices", test_many_devices);
    g_test_add_func("/domain/explicit-length", test_explicit_length);
    g_test_add_func("/domain/stdin", test_stdin);
    g_test_add_func("/domain/missing-file", test_missing_file);
    g_test_add_func("/domain/no-global-state", test_no_global_state);
    g_test_add_func("/domain/no-stderr", test_no_stderr);
    g_test_add_func("/policy/schema", test_policy_schema);
    g_test_add_func("/policy/schema-path", test_policy_schema_path);
    g_test_add_func("/policy/schemadir", test_policy_schemadir);
    g_test_add_func("/policy/merge", test_policy_merge);
    g_test_add_func("/domain/samples-libvirt-valid", test_samples_libvirt_valid);
    g_test_add_func("/port/hostdev", test_port_hostdev);
    g_test_add_func("/port/cases", test_port_cases);
    g_test_add_func("/port/bad", test_port_bad);
    g_test_add_func("/domain/enums", test_enums);
    return g_test_run();
}
