/* test-nicsim-domains.c: multiple SAD domains — the same (dst, ESP, SPI) in
 * two VFs that differ in MAC or VLAN makes two SAs, and ESP from the wire is
 * decrypted with the right one and delivered to the right VF's "VM". */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "nicsim-fixture.h"
#include "vfsec-esp.h"
#include "vfsec-test-util.h"

#define SPI 0x4242
#define SALT 0x01020304u
#define VM_IP "10.1.0.1"
#define PEER_IP "10.1.0.254"

static const guint8 keys[2][16] = {
    { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e,
      0x1f },
    { 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e,
      0x2f },
};

typedef struct {
    const char *name;
    guint16 vid[2];     /* the VLAN each VF's traffic and SA use; 0: untagged */
    gboolean quarantined;  /* both VFs carry the untrusted port tag first */
} DomainCase;

static const DomainCase cases[] = {
    { "macs", { 0, 0 }, FALSE },          /* differ in MAC only */
    { "vlans", { 100, 200 }, FALSE },     /* ... and in VLAN */
    { "same-vlan", { 300, 300 }, FALSE }, /* same VLAN, different MACs */
    /* Untrusted VFs: the quarantine tag is stripped by the agent and is no
     * part of their SAD-domain key; inbound SAs the PF installs for them
     * still decrypt their Rx traffic. */
    { "quarantined", { 0, 0 }, TRUE },
};

/* Quarantines VF @vf as vfsecd does: the metadata bypass tag as port tag,
 * trust off, spoofchk on. */
static void
quarantine(NicsimFixture *fx, VfsecContractClient *client, guint vf)
{
    g_autofree char *args = g_strdup_printf(
        "{\"port\": 0, \"vf\": %u, \"trust\": false, \"spoofchk\": true, "
        "\"port_tag\": {\"tpid\": %u, \"vid\": %u, \"pcp\": 0}}",
        vf, VFSEC_WIRE_TPID_8021Q, VFSEC_WIRE_MD_BASE_DEFAULT);

    json_object_unref(nicsim_contract_call(fx, client, "set-vf", args));
}

static char *
vlans_json(guint16 vid)
{
    if (!vid)
        return g_strdup("[]");
    return g_strdup_printf("[{\"tpid\": %u, \"vid\": %u}]", VFSEC_WIRE_TPID_8021Q, vid);
}

/* An ESP frame from the wire for the VF with @mac (under @vid), encrypted
 * with @key, carrying the text @marker. */
static GByteArray *
esp_frame(const VfsecMac *mac, guint16 vid, const guint8 *key, guint32 seq_iv,
          const char *marker)
{
    VfsecMac peer = { { 0x02, 0x99, 0, 0, 0, 1 } };
    VfsecWireVlan tag = { VFSEC_WIRE_TPID_8021Q, vfsec_wire_tci(0, FALSE, vid) };
    g_autoptr(GByteArray) plain = nicsim_frame_udp4(mac, &peer, &tag, vid ? 1 : 0, PEER_IP, VM_IP,
                                                    marker, strlen(marker));
    g_autoptr(VfsecEspSa) sa = NULL;
    g_autoptr(GByteArray) esp = g_byte_array_new();
    g_autoptr(GError) error = NULL;
    gsize l3 = nicsim_frame_l3(plain->data, plain->len);
    GByteArray *frame;

    sa = vfsec_esp_sa_new(VFSEC_ESP_DIR_OUT, SPI, SALT, key, 16, 0, &error);
    g_assert_no_error(error);
    /* Sequence numbers start at 1 per SA object: skip to @seq_iv. */
    for (guint32 i = 1; i < seq_iv; i++) {
        g_autoptr(GByteArray) skip = g_byte_array_new();

        vfsec_esp_encrypt(sa, plain->data + l3, plain->len - l3, i, skip, NULL, NULL);
    }
    g_assert_cmpint(vfsec_esp_encrypt(sa, plain->data + l3, plain->len - l3, seq_iv, esp, NULL,
                                      &error), ==, VFSEC_ESP_OK);
    g_assert_no_error(error);
    frame = g_byte_array_new();
    g_byte_array_append(frame, plain->data, (guint)l3);
    g_byte_array_append(frame, esp->data, esp->len);
    return frame;
}

static guint64
sa_packets(NicsimFixture *fx, const VfsecMac *mac)
{
    g_autoptr(GPtrArray) sas = nicsim_sad_with_mac(fx, mac);

    g_assert_cmpuint(sas->len, ==, 1);
    return (guint64)json_object_get_int_member(g_ptr_array_index(sas, 0), "packets");
}

static void
test_domains(gconstpointer data)
{
    const DomainCase *c = data;
    NicsimFixture *fx = nicsim_start(NULL);
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, NULL, NULL);
    g_autofree char *uplink = nicsim_uplink_name(fx);
    int wire = nicsim_capture(fx->wire_fd, uplink);
    int cap[2];
    VfsecMac mac[2];
    guint8 buf[4096];

    for (guint v = 0; v < 2; v++) {
        g_autofree char *ifname = nicsim_vf_name(fx, v);
        g_autofree char *vlans = vlans_json(c->vid[v]);
        g_autofree char *key = nicsim_hex(keys[v], 16);
        int vm = nicsim_vm(fx, v);

        if (c->quarantined)
            quarantine(fx, client, v);
        vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, v, &mac[v]);
        cap[v] = nicsim_capture(vm, ifname);
        /* A quarantined VF's request names no VLANs: the default is its
         * own VLAN context, which the quarantine tag is not part of. */
        if (c->quarantined)
            nicsim_ctl_do(fx, "vf-add-sa",
                          "{\"port\": 0, \"vf\": %u, \"sa\": {\"dir\": \"in\", \"dst\": \""
                          VM_IP "\", \"spi\": %u, \"salt\": %u, \"key\": \"%s\"}}",
                          v, SPI, SALT, key);
        else
            nicsim_ctl_do(fx, "vf-add-sa",
                          "{\"port\": 0, \"vf\": %u, \"sa\": {\"dir\": \"in\", \"dst\": \""
                          VM_IP "\", \"spi\": %u, \"salt\": %u, \"vlans\": %s, \"key\": \"%s\"}}",
                          v, SPI, SALT, vlans, key);
    }
    /* Same (dst, proto, SPI), two SAD domains: two SAs. */
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 2);

    for (guint v = 0; v < 2; v++) {
        g_autofree char *marker = g_strdup_printf("to-vm%u-%s", v, c->name);
        g_autoptr(GByteArray) frame = esp_frame(&mac[v], c->vid[v], keys[v], 1, marker);
        guint64 before = sa_packets(fx, &mac[v]);
        gssize n;

        nicsim_send(wire, frame->data, frame->len);
        /* Decrypted (the marker is plaintext again) and at this VF only. */
        n = nicsim_recv(cap[v], buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_text, marker);
        g_assert_cmpint(n, >, 0);
        g_assert_true(vfsec_mac_equal((const VfsecMac *)buf, &mac[v]));
        g_assert_cmpuint(buf[nicsim_frame_l3(buf, (gsize)n) + 9], ==, 17);  /* UDP, not ESP */
        if (c->vid[v]) {
            g_assert_cmpuint(vfsec_wire_get16(buf + 12), ==, VFSEC_WIRE_TPID_8021Q);
            g_assert_cmpuint(VFSEC_WIRE_TCI_VID(vfsec_wire_get16(buf + 14)), ==, c->vid[v]);
        }
        g_assert_cmpint(nicsim_recv(cap[1 - v], buf, sizeof(buf), NICSIM_QUIET_MS,
                                    nicsim_match_text, marker), ==, -1);
        g_assert_cmpuint(sa_packets(fx, &mac[v]), ==, before + 1);
    }

    /* The other domain's key for this VF's MAC/VLAN: the agent finds this VF's
     * SA, whose ICV check fails, and nothing reaches either VM. */
    {
        g_autoptr(GByteArray) frame = esp_frame(&mac[0], c->vid[0], keys[1], 2, "wrong-key");
        guint64 fails = nicsim_counter(fx, "agent.integrity_fail");

        nicsim_send(wire, frame->data, frame->len);
        g_assert_cmpint(nicsim_recv(cap[0], buf, sizeof(buf), NICSIM_QUIET_MS, nicsim_match_text,
                                    "wrong-key"), ==, -1);
        g_assert_cmpuint(nicsim_counter(fx, "agent.integrity_fail"), ==, fails + 1);
    }
    close(wire);
    close(cap[0]);
    close(cap[1]);
    g_clear_object(&client);
    nicsim_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicsim/domains/%s", cases[i].name);

        g_test_add_data_func(path, &cases[i], test_domains);
    }
    return g_test_run();
}
