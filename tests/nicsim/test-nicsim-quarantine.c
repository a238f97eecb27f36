/* test-nicsim-quarantine.c: a malicious VF — port-tagged (untrusted), it sends
 * crafted configuration frames and its own metadata: nothing is added or
 * removed, the frames are only stripped and bypassed onto the wire; the same
 * frames from the PF are honoured. */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "nicsim-fixture.h"
#include "vfsec-test-util.h"

#define KEY128 "000102030405060708090a0b0c0d0e0f"
#define PF_SPI 0x7000
#define SRC_IP "10.2.0.1"
#define DST_IP "10.2.0.2"

typedef struct {
    NicsimFixture *fx;
    VfsecWireTags tags;
    VfsecMac pf;
    VfsecMac vf1;
    int wire;        /* capture on the uplink's far end */
    int pf_host;     /* the host's PF netdev */
    int vf_host;     /* VF 1's netdev */
} Quarantine;

/* A configuration request from @src with one op: REMOVE_ALL_SA, or ADD_SA of
 * an outbound SA keyed to @src (an attempt to bypass the PF's mailbox). */
static GByteArray *
config_frame(const VfsecMac *src, guint32 seq, VfsecWireOpcode opcode)
{
    VfsecWireOp op = { .opcode = opcode };

    if (opcode == VFSEC_WIRE_OP_ADD_SA)
        nicsim_add_sa_op(&op, src, DST_IP, 0x6666, VFSEC_WIRE_DIR_OUT);
    return nicsim_config_request(src, 0, seq, &op);
}

/* A frame with TX metadata and a placed ESP header (SPI PF_SPI, IV 1), as a
 * driver with xfrm offload hands it to the NIC, sent from @src. */
static GByteArray *
metadata_frame(Quarantine *q, const VfsecMac *src, const char *marker)
{
    VfsecMac peer = { { 0x02, 0x99, 0, 0, 0, 2 } };
    g_autoptr(GByteArray) plain = nicsim_frame_udp4(&peer, src, NULL, 0, SRC_IP, DST_IP, marker,
                                                    strlen(marker));
    VfsecWireMetadata md = {
        .offload = TRUE,
        .type = VFSEC_WIRE_MD_TX,
        .flags = VFSEC_WIRE_MD_FLAG_OFFLOAD,
        .next_header = 17,
        .l3_offset = 2,
        .esp_offset = 22,
    };
    g_autoptr(GError) error = NULL;
    GByteArray *f = g_byte_array_new();
    guint8 esp[16] = { 0 };
    guint8 *ip;

    vfsec_wire_put32(esp, PF_SPI);
    vfsec_wire_put32(esp + 12, 1);
    g_byte_array_append(f, plain->data, 14 + 20);
    g_byte_array_append(f, esp, sizeof(esp));
    g_byte_array_append(f, plain->data + 34, plain->len - 34);
    ip = f->data + 14;
    ip[9] = 50;
    vfsec_wire_put16(ip + 2, (guint16)(f->len - 14));
    vfsec_wire_put16(ip + 10, 0);
    vfsec_wire_put16(ip + 10, nicsim_ip_checksum(ip, 20));
    g_assert_true(vfsec_wire_metadata_insert(&q->tags, &md, f, &error));
    g_assert_no_error(error);
    return f;
}

static char *
sad_text(NicsimFixture *fx)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx, "sad-dump", "{\"port\": 0}");

    return nicsim_json_text(res);
}

static void
test_quarantine(void)
{
    Quarantine q = { 0 };
    g_autoptr(VfsecContractClient) client = NULL;
    g_autoptr(JsonObject) vf = NULL;
    g_autofree char *uplink = NULL;
    g_autofree char *pf_name = NULL;
    g_autofree char *vf_name = NULL;
    g_autofree char *set_vf = NULL;
    g_autofree char *sad_before = NULL;
    g_autofree char *sad_after = NULL;
    guint8 buf[4096];
    guint64 cfg_frames;
    guint64 bypassed;
    guint64 offloaded;

    q.fx = nicsim_start(NULL);
    vfsec_wire_tags_init(&q.tags);
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_PF, 0, 0, &q.pf);
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, 1, &q.vf1);
    uplink = nicsim_uplink_name(q.fx);
    pf_name = nicsim_pf_name(q.fx);
    vf_name = nicsim_vf_name(q.fx, 1);
    q.wire = nicsim_capture(q.fx->wire_fd, uplink);
    q.pf_host = nicsim_capture(q.fx->host_fd, pf_name);
    q.vf_host = nicsim_capture(q.fx->host_fd, vf_name);

    /* Quarantine VF 1 as vfsecd would: its port tag is the metadata bypass tag. */
    client = nicsim_contract_connect(q.fx, NULL, NULL);
    set_vf = g_strdup_printf("{\"port\": 0, \"vf\": 1, \"trust\": false, \"spoofchk\": true, "
                             "\"port_tag\": {\"tpid\": %u, \"vid\": %u, \"pcp\": 0}}",
                             VFSEC_WIRE_TPID_8021Q, q.tags.md_base);
    vf = nicsim_contract_call(q.fx, client, "set-vf", set_vf);
    g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(vf, "port_tag"),
                                               "vid"), ==, q.tags.md_base);

    /* The PF's own outbound SA, which the VF's forged metadata aims at. */
    nicsim_ctl_do(q.fx, "pf-add-sa",
                  "{\"port\": 0, \"sa\": {\"dir\": \"out\", \"dst\": \"" DST_IP "\", \"src\": \""
                  SRC_IP "\", \"spi\": %u, \"key\": \"" KEY128 "\"}}", PF_SPI);
    sad_before = sad_text(q.fx);
    cfg_frames = nicsim_counter(q.fx, "agent.cfg_frames");
    bypassed = nicsim_counter(q.fx, "agent.bypassed");
    offloaded = nicsim_counter(q.fx, "agent.offloaded_tx");

    /* The VF's crafted frames: stripped of the port tag and bypassed, byte
     * for byte what the VF wrote, on the wire; no reply comes back. */
    {
        g_autoptr(GByteArray) remove_all = config_frame(&q.vf1, 1, VFSEC_WIRE_OP_REMOVE_ALL_SA);
        g_autoptr(GByteArray) add = config_frame(&q.vf1, 2, VFSEC_WIRE_OP_ADD_SA);
        g_autoptr(GByteArray) md = metadata_frame(&q, &q.vf1, "forged-by-vf");
        GByteArray *frames[] = { remove_all, add, md };

        for (guint i = 0; i < G_N_ELEMENTS(frames); i++) {
            nicsim_send(q.vf_host, frames[i]->data, frames[i]->len);
            g_assert_cmpint(nicsim_recv(q.wire, buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_bytes,
                                        frames[i]), ==, (gssize)frames[i]->len);
        }
        g_assert_cmpint(nicsim_recv(q.vf_host, buf, sizeof(buf), NICSIM_QUIET_MS, nicsim_match_reply,
                                    GUINT_TO_POINTER(1)), ==, -1);
    }
    sad_after = sad_text(q.fx);
    g_assert_cmpstr(sad_after, ==, sad_before);
    g_assert_cmpuint(nicsim_counter(q.fx, "agent.cfg_frames"), ==, cfg_frames);
    g_assert_cmpuint(nicsim_counter(q.fx, "agent.offloaded_tx"), ==, offloaded);
    g_assert_cmpuint(nicsim_counter(q.fx, "agent.bypassed"), ==, bypassed + 3);

    /* The same frames from the PF are honoured. */
    {
        g_autoptr(GByteArray) md = metadata_frame(&q, &q.pf, "sent-by-pf");
        g_autoptr(GByteArray) add = config_frame(&q.pf, 11, VFSEC_WIRE_OP_ADD_SA);
        g_autoptr(GByteArray) remove_all = config_frame(&q.pf, 12, VFSEC_WIRE_OP_REMOVE_ALL_SA);
        gssize n;
        gsize l3;

        /* Metadata: encrypted with the PF's SA; ESP on the wire, nothing in clear. */
        nicsim_send(q.pf_host, md->data, md->len);
        n = nicsim_recv(q.wire, buf, sizeof(buf), NICSIM_WAIT_MS, NULL, NULL);
        g_assert_cmpint(n, >, 0);
        g_assert_cmpuint(vfsec_wire_get16(buf + 12), ==, 0x0800);
        l3 = nicsim_frame_l3(buf, (gsize)n);
        g_assert_cmpuint(buf[l3 + 9], ==, 50);
        g_assert_cmpuint(vfsec_wire_get32(buf + l3 + 20), ==, PF_SPI);
        g_assert_null(memmem(buf, (gsize)n, "sent-by-pf", 10));
        g_assert_cmpuint(nicsim_counter(q.fx, "agent.offloaded_tx"), ==, offloaded + 1);

        /* Configuration: executed, and answered to the PF. */
        nicsim_send(q.pf_host, add->data, add->len);
        g_assert_cmpint(nicsim_recv(q.pf_host, buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_reply,
                                    GUINT_TO_POINTER(11)), >, 0);
        g_assert_cmpuint(nicsim_sad_count(q.fx), ==, 2);
        nicsim_send(q.pf_host, remove_all->data, remove_all->len);
        g_assert_cmpint(nicsim_recv(q.pf_host, buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_reply,
                                    GUINT_TO_POINTER(12)), >, 0);
        g_assert_cmpuint(nicsim_sad_count(q.fx), ==, 0);
    }
    close(q.wire);
    close(q.pf_host);
    close(q.vf_host);
    vfsec_contract_client_close(client);
    nicsim_stop(q.fx);
}

/* The mailbox refuses what the quarantine would make pointless or harmful:
 * a key in another VF's domain, and a key under a reserved VID. */
static void
test_mailbox_refusals(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    VfsecMac vf2;
    char mac[VFSEC_MAC_STRLEN];
    g_autofree char *args = NULL;
    g_autoptr(GError) error = NULL;

    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, 2, &vf2);
    args = g_strdup_printf("{\"port\": 0, \"vf\": 1, \"sa\": {\"dir\": \"in\", \"dst\": "
                           "\"192.0.2.1\", \"spi\": 1, \"mac\": \"%s\", \"key\": \"" KEY128 "\"}}",
                           vfsec_mac_format(&vf2, mac));
    g_assert_false(nicsim_ctl_try(fx, "vf-add-sa", args, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION);
    g_clear_error(&error);
    g_assert_false(nicsim_ctl_try(fx, "vf-add-sa",
                                  "{\"port\": 0, \"vf\": 1, \"sa\": {\"dir\": \"in\", \"dst\": "
                                  "\"192.0.2.1\", \"spi\": 1, \"vlans\": [{\"tpid\": 33024, "
                                  "\"vid\": 4094}], \"key\": \"" KEY128 "\"}}",
                                  NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PERMISSION);
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 0);
    g_assert_cmpuint(nicsim_db_count(fx), ==, 0);
    nicsim_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();
    g_test_add_func("/nicsim/quarantine/bypass", test_quarantine);
    g_test_add_func("/nicsim/quarantine/mailbox", test_mailbox_refusals);
    return g_test_run();
}
