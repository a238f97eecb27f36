/* test-domain-corpus.c: libvirt's own test domains (in ../shared) parse as expected. */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "vfsec-domain.h"
#include "vfsec-error.h"

/* The corpus lives outside the project (see its PROVENANCE.md) and is never
 * copied in; this table names every file in it, so a file added there fails
 * here until someone decides what vfsec must make of it. None carries a
 * vfsec policy, so every attachment has the defaults, which the test adds. */
typedef struct {
    const char *file;
    const char *error;              /* NULL: must parse; else part of the message */
    const char *attachments[9];     /* vfsec_attachment_to_string() without the policy */
} CorpusCase;

static const CorpusCase corpus_cases[] = {
    /* type='network' is a candidate; bridge, server and client are not. */
    { "domain-qemu-interface-filterref.xml", NULL, {
        "interface-network mac=52:54:00:d6:c0:0b network=default",
    } },
    /* mdev and usb hostdevs are no VFs. */
    { "hostdev-mdev-precreated.xml", NULL, { NULL } },
    { "hostdev-usb-address.xml", NULL, { NULL } },
    /* address type='unassigned' hides the device from the guest, but the
     * host VF still belongs to the domain. */
    { "hostdev-pci-address-unassigned.x86_64-latest.xml", NULL, {
        "hostdev-pci pci=0005:90:01.0 managed=yes",
        "hostdev-pci pci=0005:90:01.1 managed=yes",
        "hostdev-pci pci=0005:90:01.2 managed=yes",
        "hostdev-pci pci=0005:90:01.3 managed=yes",
    } },
    { "hostdev-pci-address-unassigned.xml", NULL, {
        "hostdev-pci pci=0005:90:01.0 managed=yes",
        "hostdev-pci pci=0005:90:01.1 managed=yes",
        "hostdev-pci pci=0005:90:01.2 managed=yes",
        "hostdev-pci pci=0005:90:01.3 managed=yes",
    } },
    { "hostdev-pci-address.xml", NULL, {
        "hostdev-pci pci=0000:06:12.5 managed=yes",
    } },
    /* Document order, not address order. */
    { "hostdev-pci-multifunction.xml", NULL, {
        "hostdev-pci pci=0005:90:01.0 managed=yes driver=vfio",
        "hostdev-pci pci=0001:01:00.1 managed=yes driver=vfio",
        "hostdev-pci pci=0001:01:00.0 managed=yes driver=vfio",
        "hostdev-pci pci=0005:90:01.2 managed=yes driver=vfio",
        "hostdev-pci pci=0005:90:01.3 managed=yes driver=vfio",
        "hostdev-pci pci=0000:06:12.1 managed=yes driver=vfio",
        "hostdev-pci pci=0000:06:12.2 managed=yes driver=vfio",
    } },
    /* Decimal bus='222' slot='31' function='1'. */
    { "hostdev-vfio-multidomain.xml", NULL, {
        "hostdev-pci pci=0021:de:1f.1 managed=yes driver=vfio",
    } },
    /* The guest-side zPCI <address> is not the host's. */
    { "hostdev-vfio-zpci-boundaries.xml", NULL, {
        "hostdev-pci pci=ffff:00:00.0",
        "hostdev-pci pci=0000:00:00.0",
    } },
    { "hostdev-vfio-zpci-multidomain-many.xml", NULL, {
        "hostdev-pci pci=0001:00:00.0",
        "hostdev-pci pci=0002:00:00.0",
        "hostdev-pci pci=0003:00:00.0",
        "hostdev-pci pci=0004:00:00.0",
        "hostdev-pci pci=0005:00:00.0",
        "hostdev-pci pci=0006:00:00.0",
        "hostdev-pci pci=0007:00:00.0",
        "hostdev-pci pci=0008:00:00.0",
    } },
    { "hostdev-vfio-zpci.xml", NULL, {
        "hostdev-pci pci=0000:00:00.0 managed=no",
    } },
    /* <driver model='vfio-pci-igb'> without a name is no driver name. */
    { "hostdev-vfio.xml", NULL, {
        "hostdev-pci pci=0000:06:12.1 managed=yes",
        "hostdev-pci pci=0000:06:12.2 managed=yes driver=vfio",
        "hostdev-pci pci=0000:06:12.3 managed=yes",
        "hostdev-pci pci=0000:06:12.4 managed=yes driver=vfio",
    } },
    { "lxcconf2xml-macvlannetwork.xml", NULL, {
        "interface-direct mac=02:00:15:8f:05:c1 dev=eth0 mode=vepa",
    } },
    /* hostdev mode='capabilities' type='net' moves a netdev, not a VF. */
    { "lxcconf2xml-miscnetwork.xml", NULL, {
        "interface-direct mac=02:00:15:8f:05:c1 dev=eth0 mode=vepa",
    } },
    { "minimal.xml", NULL, { NULL } },
    { "moredevs-hvm.xml", NULL, {
        "interface-hostdev pci=0000:0a:10.0 mac=00:16:3e:2e:e7:fc managed=yes",
        "hostdev-pci pci=0000:0a:08.0 managed=yes",
    } },
    /* libvirt's test harness encodes the network's forward type after ';'. */
    { "net-coalesce.xml", NULL, {
        "interface-network mac=52:54:00:e5:48:58 network=nat-network;plug-network-basic",
        "interface-network mac=52:54:00:e5:48:59 network=nat-network;plug-network-basic",
        "interface-network mac=52:54:00:e5:48:60 network=nat-network;plug-network-basic",
    } },
    { "net-hostdev-bootorder.x86_64-latest.xml", NULL, {
        "interface-hostdev pci=0000:03:07.1 mac=00:11:22:33:44:55 managed=yes",
    } },
    { "net-hostdev-bootorder.xml", NULL, {
        "interface-hostdev pci=0000:03:07.1 mac=00:11:22:33:44:55 managed=yes",
    } },
    /* libvirt's QEMU driver refuses <filterref> on a hostdev interface, but
     * the XML is well-formed and names a VF: vfsec must see it. */
    { "net-hostdev-fail.xml", NULL, {
        "interface-hostdev pci=0000:06:12.1 mac=00:11:22:33:44:55 managed=yes",
    } },
    { "net-hostdev-multidomain.xml", NULL, {
        "interface-hostdev pci=2424:21:1c.6 mac=00:11:22:33:44:55 vlan=42 managed=yes",
    } },
    { "net-hostdev-vfio-multidomain.x86_64-latest.xml", NULL, {
        "interface-hostdev pci=0021:de:1f.1 mac=00:11:22:33:44:55 vlan=42 managed=yes",
    } },
    { "net-hostdev-vfio-multidomain.xml", NULL, {
        "interface-hostdev pci=0021:de:1f.1 mac=00:11:22:33:44:55 vlan=42 managed=yes",
    } },
    { "net-hostdev-vfio.xml", NULL, {
        "interface-hostdev pci=0000:06:12.1 mac=00:11:22:33:44:55 vlan=42 managed=yes driver=vfio",
    } },
    { "net-isolated-port.xml", NULL, {
        "interface-network mac=52:54:00:d6:c0:0b network=default",
    } },
    { "net-mtu.xml", NULL, {
        "interface-network mac=52:54:00:e5:48:58 network=nat-network;plug-network-basic",
        "interface-network mac=52:54:00:e5:48:59 network=nat-network;plug-network-basic",
    } },
    /* Several tags without trunk='yes' are a trunk. */
    { "net-openvswitch.xml", NULL, {
        "interface-network mac=00:11:22:33:44:55 vlan=42,48,456 trunk "
        "network=openvswitch-net;plug-bridge-basic",
    } },
    /* VLAN 4095 is the top of the range, not past it. */
    { "net-virtio-network-portgroup.xml", NULL, {
        "interface-network mac=00:11:22:33:44:55 vlan=4095 network=rednet portgroup=bob",
        "interface-network mac=10:11:22:33:44:55 network=blue portgroup=sam",
        "interface-network mac=22:11:22:33:44:55 network=blue portgroup=sam",
    } },
    /* Failover with <hostdev>: the persistent halves are user NICs. */
    { "net-virtio-teaming-hostdev.xml", NULL, {
        "hostdev-pci pci=0000:03:07.1 managed=yes teaming=transient:ua-backup0",
        "hostdev-pci pci=0000:03:07.2 managed=yes teaming=transient:ua-backup1",
    } },
    /* Both halves are network interfaces with one MAC: the accepted duplicate. */
    { "net-virtio-teaming-network.xml", NULL, {
        "interface-network mac=00:11:22:33:44:55 network=nat-network;plug-bridge-basic "
        "alias=ua-backup0 teaming=persistent",
        "interface-network mac=00:11:22:33:44:55 network=hostdev;plug-hostdev-pci "
        "teaming=transient:ua-backup0",
    } },
    { "net-virtio-teaming.xml", NULL, {
        "interface-hostdev pci=0000:03:07.1 mac=00:11:22:33:44:55 managed=yes "
        "teaming=transient:ua-backup0",
        "interface-hostdev pci=0000:03:07.2 mac=66:44:33:22:11:00 managed=yes "
        "teaming=transient:ua-backup1",
    } },
    /* Five macvtaps on one parent and no MACs: only PCI addresses and MACs
     * must be unique. */
    { "portprofile.xml", NULL, {
        "interface-direct dev=eth0 mode=vepa",
        "interface-direct dev=eth0 mode=vepa",
        "interface-direct dev=eth0 mode=vepa",
        "interface-direct dev=eth0 mode=vepa",
        "interface-direct dev=eth0 mode=vepa",
    } },
    /* <mac> after <source> inside the interface: order does not matter. */
    { "pseries-hostdevs-1.xml", NULL, {
        "hostdev-pci pci=0001:01:00.0 managed=yes",
        "interface-hostdev pci=0005:90:01.0 mac=52:54:00:6d:90:02 managed=yes",
        "hostdev-pci pci=0001:01:00.1 managed=yes",
    } },
    { "qemuhotplug-base-live+hostdev-pci.xml", NULL, {
        "hostdev-pci pci=0000:06:12.2 managed=yes driver=vfio alias=hostdev0",
    } },
    /* Live XML of a hot-plugged network interface backed by a VF. */
    { "qemuhotplug-base-live+interface-network-hostdev.xml", NULL, {
        "interface-hostdev pci=0000:06:12.2 mac=52:54:00:7b:35:93 managed=yes driver=vfio "
        "alias=hostdev0",
    } },
    { "qemuxml2argvdata-net-hostdev.xml", NULL, {
        "interface-hostdev pci=0000:03:07.1 mac=00:11:22:33:44:55 vlan=42 managed=yes",
    } },
    /* The guest-side <address> libvirt adds must not change the result. */
    { "qemuxml2xmloutdata-net-hostdev.xml", NULL, {
        "interface-hostdev pci=0000:03:07.1 mac=00:11:22:33:44:55 vlan=42 managed=yes",
    } },
    { "test-fullvirt-ovswitch-trunked.xml", NULL, { NULL } },
    { "test-fullvirt-pci.xml", NULL, {
        "hostdev-pci pci=0000:01:1a.1 managed=no driver=xen",
        "hostdev-pci pci=0000:02:00.0 managed=no driver=xen",
    } },
    { "test-pci-devs.xml", NULL, {
        "hostdev-pci pci=0001:0c:1b.2 managed=no",
        "hostdev-pci pci=0000:01:13.0 managed=no",
    } },
};

/* NULL when VFSEC_SHARED_DIR is not set. */
static char *
corpus_dir(void)
{
    const char *shared = g_getenv("VFSEC_SHARED_DIR");

    return shared ? g_build_filename(shared, "corpus", "libvirt-domains", NULL) : NULL;
}

static void
test_corpus_file(gconstpointer data)
{
    const CorpusCase *c = data;
    g_autofree char *dir = corpus_dir();
    g_autofree char *path = g_build_filename(dir, c->file, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecDomain) dom = NULL;
    guint n = 0;

    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
        g_error("%s is in the table but not in %s", c->file, dir);
    dom = vfsec_domain_parse_file(path, &error);
    if (c->error) {
        g_assert_null(dom);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, c->error));
        return;
    }
    g_assert_no_error(error);
    g_assert_nonnull(dom->name);
    g_assert_cmpuint(dom->overrides->len, ==, 0);
    g_assert_false(dom->policy.has_trust || dom->policy.has_hairpin);

    while (c->attachments[n])
        n++;
    for (guint i = 0; i < dom->attachments->len && i < n; i++) {
        g_autofree char *got = vfsec_attachment_to_string(g_ptr_array_index(dom->attachments, i));
        g_autofree char *want = g_strconcat(c->attachments[i], " trust=untrusted hairpin=yes",
                                            NULL);

        g_assert_cmpstr(got, ==, want);
    }
    g_assert_cmpuint(dom->attachments->len, ==, n);
}

/* Every XML file of the corpus is in the table. */
static void
test_corpus_complete(void)
{
    g_autofree char *path = corpus_dir();
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) dir = g_dir_open(path, 0, &error);
    const char *name;
    guint files = 0;

    g_assert_no_error(error);
    while ((name = g_dir_read_name(dir))) {
        gboolean found = FALSE;

        if (!g_str_has_suffix(name, ".xml"))
            continue;
        for (gsize i = 0; i < G_N_ELEMENTS(corpus_cases) && !found; i++)
            found = g_str_equal(corpus_cases[i].file, name);
        if (!found)
            g_error("corpus file %s has no entry in test-domain-corpus.c", name);
        files++;
    }
    g_assert_cmpuint(files, ==, G_N_ELEMENTS(corpus_cases));
}

int
main(int argc, char **argv)
{
    g_autofree char *dir = corpus_dir();

    g_test_init(&argc, &argv, NULL);

    if (!dir) {
        printf("1..0 # SKIP VFSEC_SHARED_DIR is not set: no libvirt domain corpus\n");
        return 77;
    }
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        printf("1..0 # SKIP %s does not exist: no libvirt domain corpus\n", dir);
        return 77;
    }

    for (gsize i = 0; i < G_N_ELEMENTS(corpus_cases); i++) {
        g_autofree char *name = g_strdup_printf("/corpus/%s", corpus_cases[i].file);
        g_test_add_data_func(name, &corpus_cases[i], test_corpus_file);
    }
    g_test_add_func("/corpus/complete", test_corpus_complete);
    return g_test_run();
}
