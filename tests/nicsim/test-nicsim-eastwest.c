/* test-nicsim-eastwest.c: East-West traffic between two VFs of one port —
 * VEB switches it inside (the agent never sees it); VEPA with both MACs
 * published hairpins it through the agent as ESP; a MAC missing from the
 * local-MAC table sends it to the uplink. */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "nicsim-fixture.h"
#include "vfsec-pcap.h"
#include "vfsec-test-util.h"

#define KEY128 "00112233445566778899aabbccddeeff"
#define SPI 0x900
#define IP0 "10.3.0.1"
#define IP1 "10.3.0.2"
#define IP_NO_SA "10.3.0.99"

typedef struct {
    NicsimFixture *fx;
    VfsecContractClient *client;
    VfsecMac mac[2];
    int cap[2];      /* the VFs' netdevs, each in its VM namespace */
    int wire;
} EastWest;

static void
ew_setup(EastWest *ew, const char *mode)
{
    NicsimOptions options = { .mode = mode, .pcap = TRUE };
    g_autofree char *uplink = NULL;

    ew->fx = nicsim_start(&options);
    ew->client = nicsim_contract_connect(ew->fx, NULL, NULL);
    uplink = nicsim_uplink_name(ew->fx);
    ew->wire = nicsim_capture(ew->fx->wire_fd, uplink);
    for (guint v = 0; v < 2; v++) {
        g_autofree char *ifname = nicsim_vf_name(ew->fx, v);
        g_autofree char *args = g_strdup_printf("{\"port\": 0, \"vf\": %u, \"trust\": true}", v);

        vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, v, &ew->mac[v]);
        ew->cap[v] = nicsim_capture(nicsim_vm(ew->fx, v), ifname);
        json_object_unref(nicsim_contract_call(ew->fx, ew->client, "set-vf", args));
    }
}

static void
ew_teardown(EastWest *ew)
{
    close(ew->cap[0]);
    close(ew->cap[1]);
    close(ew->wire);
    vfsec_contract_client_close(ew->client);
    g_object_unref(ew->client);
    nicsim_stop(ew->fx);
}

/* Publishes the local MACs of VFs 0..@n-1 with set-macs (compare and swap). */
static void
ew_publish(EastWest *ew, guint n)
{
    g_autoptr(JsonObject) current = nicsim_contract_call(ew->fx, ew->client, "get-macs",
                                                         "{\"port\": 0}");
    g_autoptr(GString) args = g_string_new(NULL);
    g_autoptr(JsonObject) res = NULL;
    gint64 generation = json_object_get_int_member(current, "generation");

    g_string_printf(args, "{\"port\": 0, \"generation\": %" G_GINT64_FORMAT ", \"entries\": [",
                    generation);
    for (guint v = 0; v < n; v++) {
        char mac[VFSEC_MAC_STRLEN];

        g_string_append_printf(args, "%s{\"mac\": \"%s\", \"tags\": []}", v ? ", " : "",
                               vfsec_mac_format(&ew->mac[v], mac));
    }
    g_string_append(args, "]}");
    res = nicsim_contract_call(ew->fx, ew->client, "set-macs", args->str);
    g_assert_cmpint(json_object_get_int_member(res, "generation"), >, generation);
}

/* VF 0 sends to VF 1 (its MAC, @dst_ip) a UDP datagram carrying @marker. */
static void
ew_send(EastWest *ew, const char *dst_ip, const char *marker)
{
    g_autoptr(GByteArray) frame = nicsim_frame_udp4(&ew->mac[1], &ew->mac[0], NULL, 0, IP0,
                                                    dst_ip, marker, strlen(marker));

    nicsim_send(ew->cap[0], frame->data, frame->len);
}

/* Every "agent." counter, as one string. */
static char *
agent_counters(EastWest *ew)
{
    g_autoptr(JsonObject) res = nicsim_ctl(ew->fx, "counters", "{\"port\": 0}");
    JsonObject *counters = json_object_get_object_member(res, "counters");
    g_autoptr(GList) names = json_object_get_members(counters);
    GString *s = g_string_new(NULL);

    for (GList *l = names; l; l = l->next) {
        if (g_str_has_prefix(l->data, "agent."))
            g_string_append_printf(s, "%s=%" G_GINT64_FORMAT " ", (const char *)l->data,
                                   json_object_get_int_member(counters, l->data));
    }
    return g_string_free(s, FALSE);
}

static void
test_veb(void)
{
    EastWest ew = { 0 };
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    guint8 buf[4096];
    guint64 switched;

    ew_setup(&ew, "veb");
    /* Even published MACs and SAs change nothing: a VEB never asks the agent. */
    ew_publish(&ew, 2);
    before = agent_counters(&ew);
    switched = nicsim_counter(ew.fx, "switch.local_switched");
    ew_send(&ew, IP1, "veb-east-west");
    g_assert_cmpint(nicsim_recv(ew.cap[1], buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_text,
                                "veb-east-west"), >, 0);
    g_assert_cmpint(nicsim_recv(ew.wire, buf, sizeof(buf), NICSIM_QUIET_MS, nicsim_match_text,
                                "veb-east-west"), ==, -1);
    after = agent_counters(&ew);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpuint(nicsim_counter(ew.fx, "switch.local_switched"), ==, switched + 1);
    ew_teardown(&ew);
}

static gboolean
match_esp(const guint8 *frame, gsize len, gconstpointer data)
{
    gsize l3 = nicsim_frame_l3(frame, len);

    return l3 + 24 <= len && frame[l3 + 9] == 50 &&
           vfsec_wire_get32(frame + l3 + 20) == GPOINTER_TO_UINT(data);
}

static void
test_vepa_hairpin(void)
{
    EastWest ew = { 0 };
    g_autofree char *pcap = NULL;
    g_autoptr(GPtrArray) packets = NULL;
    g_autoptr(GError) error = NULL;
    guint8 buf[4096];
    guint64 hairpinned;
    guint64 hairpinned_esp;
    guint esp_frames = 0;
    guint32 linktype = 0;
    gssize n;

    ew_setup(&ew, "vepa");
    ew_publish(&ew, 2);
    nicsim_ctl_do(ew.fx, "vf-add-sa",
                  "{\"port\": 0, \"vf\": 0, \"sa\": {\"dir\": \"out\", \"dst\": \"" IP1
                  "\", \"src\": \"" IP0 "\", \"spi\": %u, \"key\": \"" KEY128 "\"}}", SPI);
    nicsim_ctl_do(ew.fx, "vf-add-sa",
                  "{\"port\": 0, \"vf\": 1, \"sa\": {\"dir\": \"in\", \"dst\": \"" IP1
                  "\", \"spi\": %u, \"key\": \"" KEY128 "\"}}", SPI);
    hairpinned = nicsim_counter(ew.fx, "agent.hairpinned");
    hairpinned_esp = nicsim_counter(ew.fx, "agent.hairpinned_esp");

    ew_send(&ew, IP1, "vepa-hairpin");
    /* Delivered to VF 1 in clear (decrypted by its inbound SA), never on the wire. */
    n = nicsim_recv(ew.cap[1], buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_text,
                    "vepa-hairpin");
    g_assert_cmpint(n, >, 0);
    g_assert_cmpuint(buf[nicsim_frame_l3(buf, (gsize)n) + 9], ==, 17);
    g_assert_cmpint(nicsim_recv(ew.wire, buf, sizeof(buf), NICSIM_QUIET_MS, match_esp,
                                GUINT_TO_POINTER(SPI)), ==, -1);
    g_assert_cmpuint(nicsim_counter(ew.fx, "agent.hairpinned"), ==, hairpinned + 1);
    g_assert_cmpuint(nicsim_counter(ew.fx, "agent.hairpinned_esp"), ==, hairpinned_esp + 1);
    g_assert_cmpuint(nicsim_counter(ew.fx, "agent.decrypted_rx"), ==, 1);

    /* The hairpin tap saw it as ESP (the file is complete once the emulator exits). */
    g_assert_cmpint(nicsim_terminate(ew.fx, SIGTERM), ==, 0);
    pcap = g_strdup_printf("%s/%s0-hairpin.pcap", ew.fx->pcap_dir, ew.fx->prefix);
    packets = vfsec_pcap_read(pcap, &linktype, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(linktype, ==, VFSEC_PCAP_LINKTYPE_ETHERNET);
    for (guint i = 0; i < packets->len; i++) {
        gsize len = 0;
        const guint8 *p = g_bytes_get_data(g_ptr_array_index(packets, i), &len);

        if (match_esp(p, len, GUINT_TO_POINTER(SPI))) {
            esp_frames++;
            g_assert_null(memmem(p, len, "vepa-hairpin", 12));
        }
    }
    g_assert_cmpuint(esp_frames, ==, 1);
    ew_teardown(&ew);
}

static void
test_vepa_unpublished(void)
{
    EastWest ew = { 0 };
    guint8 buf[4096];
    guint64 hairpinned;

    ew_setup(&ew, "vepa");
    ew_publish(&ew, 1);  /* VF 1's MAC is not in the table */
    hairpinned = nicsim_counter(ew.fx, "agent.hairpinned");
    ew_send(&ew, IP_NO_SA, "vepa-to-uplink");
    g_assert_cmpint(nicsim_recv(ew.wire, buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_text,
                                "vepa-to-uplink"), >, 0);
    g_assert_true(vfsec_mac_equal((const VfsecMac *)buf, &ew.mac[1]));
    g_assert_cmpint(nicsim_recv(ew.cap[1], buf, sizeof(buf), NICSIM_QUIET_MS, nicsim_match_text,
                                "vepa-to-uplink"), ==, -1);
    g_assert_cmpuint(nicsim_counter(ew.fx, "agent.hairpinned"), ==, hairpinned);
    ew_teardown(&ew);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();
    g_test_add_func("/nicsim/east-west/veb", test_veb);
    g_test_add_func("/nicsim/east-west/vepa-hairpin", test_vepa_hairpin);
    g_test_add_func("/nicsim/east-west/vepa-unpublished", test_vepa_unpublished);
    return g_test_run();
}
