/* test-nicsim-tso.c: the TSO IV rule over a burst of segments — the VF's
 * driver stamps one IV on every segment of a super-frame, the agent makes the
 * explicit IVs strictly increase; sequence numbers count up; the ESP on the
 * wire decrypts to the segments in order. */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "nicsim-fixture.h"
#include "vfsec-esp.h"
#include "vfsec-test-util.h"

#define SPI 0xa00
#define SRC_IP "10.4.0.1"
#define DST_IP "10.4.0.2"
#define N_SEGMENTS 4

static const guint8 key[16] = { 0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

static gboolean
match_esp(const guint8 *frame, gsize len, gconstpointer data)
{
    gsize l3 = nicsim_frame_l3(frame, len);

    return l3 + 36 <= len && frame[l3 + 9] == 50 && vfsec_wire_get32(frame + l3 + 20) == SPI;
}

/* The wire's next ESP frame: its explicit IV and sequence number, and the
 * plaintext it decrypts to. */
static void
next_esp(int wire, VfsecEspSa *in, guint64 *iv, guint32 *seq, GByteArray *plain)
{
    guint8 buf[4096];
    gssize n = nicsim_recv(wire, buf, sizeof(buf), NICSIM_WAIT_MS, match_esp, NULL);
    g_autoptr(GError) error = NULL;
    VfsecEspInfo info = { 0 };
    gsize l3;

    g_assert_cmpint(n, >, 0);
    l3 = nicsim_frame_l3(buf, (gsize)n);
    *seq = vfsec_wire_get32(buf + l3 + 24);
    *iv = (guint64)vfsec_wire_get32(buf + l3 + 28) << 32 | vfsec_wire_get32(buf + l3 + 32);
    g_assert_cmpint(vfsec_esp_decrypt(in, buf + l3, (gsize)n - l3, plain, &info, &error), ==,
                    VFSEC_ESP_OK);
    g_assert_no_error(error);
    g_assert_cmpuint(info.iv, ==, *iv);
    g_assert_cmpuint(info.seq, ==, *seq);
}

static void
test_tso_burst(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, NULL, NULL);
    g_autofree char *uplink = nicsim_uplink_name(fx);
    g_autofree char *key_hex = nicsim_hex(key, sizeof(key));
    g_autofree char *vf_name = nicsim_vf_name(fx, 0);
    g_autoptr(VfsecEspSa) in = NULL;
    g_autoptr(GString) args = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) res = NULL;
    VfsecMac vf0;
    VfsecMac peer = { { 0x02, 0x99, 0, 0, 0, 4 } };
    guint64 last_iv = 0;
    guint32 last_seq = 0;
    int wire = nicsim_capture(fx->wire_fd, uplink);
    int vf_host;

    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, 0, &vf0);
    json_object_unref(nicsim_contract_call(fx, client, "set-vf",
                                           "{\"port\": 0, \"vf\": 0, \"trust\": true}"));
    nicsim_ctl_do(fx, "vf-add-sa",
                  "{\"port\": 0, \"vf\": 0, \"sa\": {\"dir\": \"out\", \"dst\": \"" DST_IP
                  "\", \"src\": \"" SRC_IP "\", \"spi\": %u, \"key\": \"%s\"}}", SPI, key_hex);
    in = vfsec_esp_sa_new(VFSEC_ESP_DIR_IN, SPI, 0, key, sizeof(key), 64, &error);
    g_assert_no_error(error);

    /* One super-frame, cut into N_SEGMENTS by the "host stack". */
    g_string_printf(args, "{\"port\": 0, \"from\": \"vf:0\", \"mss\": 64, \"segments\": [");
    for (guint i = 0; i < N_SEGMENTS; i++) {
        g_autofree char *marker = g_strdup_printf("tso-segment-%u", i);
        g_autoptr(GByteArray) seg = nicsim_frame_udp4(&peer, &vf0, NULL, 0, SRC_IP, DST_IP, marker,
                                                      strlen(marker));
        g_autofree char *hex = nicsim_hex(seg->data, seg->len);

        g_string_append_printf(args, "%s\"%s\"", i ? ", " : "", hex);
    }
    g_string_append(args, "]}");
    res = nicsim_ctl(fx, "send-tso", "%s", args->str);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(res, "outputs")), ==,
                     N_SEGMENTS);

    for (guint i = 0; i < N_SEGMENTS; i++) {
        g_autofree char *marker = g_strdup_printf("tso-segment-%u", i);
        g_autoptr(GByteArray) plain = g_byte_array_new();
        guint64 iv;
        guint32 seq;

        next_esp(wire, in, &iv, &seq, plain);
        /* Same IV from the driver, strictly increasing on the wire. */
        if (i > 0) {
            g_assert_cmpuint(iv, ==, last_iv + 1);
            g_assert_cmpuint(seq, ==, last_seq + 1);
        } else {
            g_assert_cmpuint(seq, ==, 1);
        }
        g_assert_nonnull(memmem(plain->data, plain->len, marker, strlen(marker)));
        last_iv = iv;
        last_seq = seq;
    }

    /* A packet after the burst, from the VF's netdev: the driver's next IV is
     * below what the burst used, so the agent moves it past. */
    {
        g_autoptr(GByteArray) frame = nicsim_frame_udp4(&peer, &vf0, NULL, 0, SRC_IP, DST_IP,
                                                        "after-burst", 11);
        g_autoptr(GByteArray) plain = g_byte_array_new();
        guint64 iv;
        guint32 seq;

        vf_host = nicsim_capture(fx->host_fd, vf_name);
        nicsim_send(vf_host, frame->data, frame->len);
        next_esp(wire, in, &iv, &seq, plain);
        g_assert_cmpuint(iv, >, last_iv);
        g_assert_cmpuint(seq, ==, last_seq + 1);
        g_assert_nonnull(memmem(plain->data, plain->len, "after-burst", 11));
        close(vf_host);
    }
    g_assert_cmpuint(nicsim_counter(fx, "agent.offloaded_tx"), ==, N_SEGMENTS + 1);
    close(wire);
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();
    g_test_add_func("/nicsim/tso/burst", test_tso_burst);
    return g_test_run();
}
