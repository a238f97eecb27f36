/* test-nicsim-vlan.c: the outermost VLAN tag is what the agent sees — the
 * emulator's links carry tags in the frame bytes (offloads off, tags restored
 * from PACKET_AUXDATA), the agent classifies by the outermost tag only, and
 * inner tags pass untouched. */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "nicsim-fixture.h"
#include "vfsec-netlink.h"
#include "vfsec-netns.h"
#include "vfsec-test-util.h"

static void
test_offloads_off(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    const char *features[] = { "rx-vlan-hw-parse", "tx-vlan-hw-insert", "rx-vlan-stag-hw-parse",
                               "tx-vlan-stag-hw-insert" };
    g_autofree char *vf = nicsim_vf_name(fx, 0);
    g_autofree char *uplink = nicsim_uplink_name(fx);
    g_autoptr(GError) error = NULL;
    int nic_fd = vfsec_netns_open(fx->nic_ns);
    struct {
        int ns;
        const char *ifname;
    } ends[] = { { fx->host_fd, vf }, { nic_fd, vf }, { nic_fd, uplink }, { fx->wire_fd, uplink } };

    g_assert_cmpint(nic_fd, >=, 0);
    for (guint e = 0; e < G_N_ELEMENTS(ends); e++) {
        g_autoptr(VfsecNetlink) nl = vfsec_netlink_new(ends[e].ns, &error);

        g_assert_no_error(error);
        for (guint f = 0; f < G_N_ELEMENTS(features); f++) {
            gboolean active = TRUE;
            int rc = vfsec_netlink_feature_get(nl, ends[e].ifname, features[f], &active);

            /* A kernel that does not know a feature cannot have it on. */
            if (rc == -ENOENT)
                continue;
            g_assert_cmpint(rc, ==, 0);
            g_assert_false(active);
        }
    }
    close(nic_fd);
    nicsim_stop(fx);
}

/* A QUERY request to the agent under a configuration tag of TPID @cfg_tpid,
 * wrapped in @outer (if any). */
static GByteArray *
config_query(const VfsecMac *src, guint16 cfg_tpid, const VfsecWireVlan *outer)
{
    VfsecWireOp op = { .opcode = VFSEC_WIRE_OP_QUERY };
    g_autoptr(GByteArray) request = nicsim_config_request(src, cfg_tpid, 7, &op);
    GByteArray *f = g_byte_array_new();
    guint8 tag[4];

    g_byte_array_append(f, request->data, VFSEC_WIRE_TAG_OFFSET);
    if (outer) {
        vfsec_wire_put16(tag, outer->tpid);
        vfsec_wire_put16(tag + 2, outer->tci);
        g_byte_array_append(f, tag, sizeof(tag));
    }
    g_byte_array_append(f, request->data + VFSEC_WIRE_TAG_OFFSET,
                        request->len - VFSEC_WIRE_TAG_OFFSET);
    return f;
}

typedef struct {
    const char *name;
    guint16 cfg_tpid;        /* TPID of the configuration tag */
    gboolean qinq;           /* an ordinary S-tag outside it */
    gboolean seen_as_config; /* the agent's verdict */
} UplinkCase;

static const UplinkCase uplink_cases[] = {
    { "config-8021q", VFSEC_WIRE_TPID_8021Q, FALSE, TRUE },
    { "config-8021ad", VFSEC_WIRE_TPID_8021AD, FALSE, TRUE },
    { "config-inside-s-tag", VFSEC_WIRE_TPID_8021Q, TRUE, FALSE },
};

/* Frames from the wire: the agent sees a configuration tag only when it is
 * the outermost, whichever TPID; an inner one travels on as data, tags intact. */
static void
test_uplink_outermost(gconstpointer data)
{
    const UplinkCase *c = data;
    NicsimFixture *fx = nicsim_start(NULL);
    g_autofree char *uplink = nicsim_uplink_name(fx);
    g_autofree char *pf_name = nicsim_pf_name(fx);
    VfsecWireVlan s_tag = { VFSEC_WIRE_TPID_8021AD, vfsec_wire_tci(3, FALSE, 10) };
    VfsecMac peer = { { 0x02, 0x99, 0, 0, 0, 6 } };
    g_autoptr(GByteArray) frame = config_query(&peer, c->cfg_tpid, c->qinq ? &s_tag : NULL);
    guint64 from_uplink = nicsim_counter(fx, "agent.cfg_from_uplink");
    int wire = nicsim_capture(fx->wire_fd, uplink);
    int pf = nicsim_capture(fx->host_fd, pf_name);
    guint8 buf[4096];

    /* Addressed to the PF, so that data is delivered somewhere visible. */
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_PF, 0, 0, (VfsecMac *)frame->data);
    nicsim_send(wire, frame->data, frame->len);
    if (c->seen_as_config) {
        /* Configuration never comes from the wire: counted, dropped. */
        g_assert_cmpuint(nicsim_counter(fx, "agent.cfg_from_uplink"), ==, from_uplink + 1);
        g_assert_cmpint(nicsim_recv(pf, buf, sizeof(buf), NICSIM_QUIET_MS, nicsim_match_bytes, frame),
                        ==, -1);
    } else {
        g_assert_cmpint(nicsim_recv(pf, buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_bytes, frame), ==,
                        (gssize)frame->len);
        g_assert_cmpuint(nicsim_counter(fx, "agent.cfg_from_uplink"), ==, from_uplink);
    }
    close(wire);
    close(pf);
    nicsim_stop(fx);
}

/* A port tag in either TPID is pushed outermost, so the VF's own C-tag is
 * inside it; the agent strips the port tag and the wire gets the VF's frame
 * with its C-tag, byte for byte. */
static void
test_port_tag_outermost(gconstpointer data)
{
    guint16 tpid = GPOINTER_TO_UINT(data);
    NicsimFixture *fx = nicsim_start(NULL);
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, NULL, NULL);
    g_autofree char *uplink = nicsim_uplink_name(fx);
    g_autofree char *vf_name = nicsim_vf_name(fx, 2);
    g_autofree char *set_vf = NULL;
    VfsecWireVlan c_tag = { VFSEC_WIRE_TPID_8021Q, vfsec_wire_tci(0, FALSE, 100) };
    VfsecMac peer = { { 0x02, 0x99, 0, 0, 0, 7 } };
    VfsecMac vf2;
    VfsecWireTags tags;
    g_autoptr(GByteArray) frame = NULL;
    guint64 bypassed = nicsim_counter(fx, "agent.bypassed");
    int wire = nicsim_capture(fx->wire_fd, uplink);
    int vf = nicsim_capture(fx->host_fd, vf_name);
    guint8 buf[4096];

    vfsec_wire_tags_init(&tags);
    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, 2, &vf2);
    set_vf = g_strdup_printf("{\"port\": 0, \"vf\": 2, \"port_tag\": {\"tpid\": %u, \"vid\": %u, "
                             "\"pcp\": 5}}", tpid, tags.md_base);
    json_object_unref(nicsim_contract_call(fx, client, "set-vf", set_vf));
    frame = nicsim_frame_udp4(&peer, &vf2, &c_tag, 1, "10.5.0.1", "10.5.0.2", "c-tagged", 8);
    nicsim_send(vf, frame->data, frame->len);
    g_assert_cmpint(nicsim_recv(wire, buf, sizeof(buf), NICSIM_WAIT_MS, nicsim_match_bytes, frame), ==,
                    (gssize)frame->len);
    g_assert_cmpuint(nicsim_counter(fx, "agent.bypassed"), ==, bypassed + 1);
    close(wire);
    close(vf);
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();
    g_test_add_func("/nicsim/vlan/offloads-off", test_offloads_off);
    for (guint i = 0; i < G_N_ELEMENTS(uplink_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicsim/vlan/uplink/%s", uplink_cases[i].name);

        g_test_add_data_func(path, &uplink_cases[i], test_uplink_outermost);
    }
    g_test_add_data_func("/nicsim/vlan/port-tag/8021q", GUINT_TO_POINTER(VFSEC_WIRE_TPID_8021Q),
                         test_port_tag_outermost);
    g_test_add_data_func("/nicsim/vlan/port-tag/8021ad", GUINT_TO_POINTER(VFSEC_WIRE_TPID_8021AD),
                         test_port_tag_outermost);
    return g_test_run();
}
