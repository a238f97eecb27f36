/* vfsec-nicsim-io.c: the emulator's frame path — packet sockets on the
 * NIC-side ends into the port core and back out, the PF driver's own socket
 * on the host-side PF, and the pcap taps. */
#include "vfsec-nicsim-private.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>

#include "vfsec-error.h"
#include "vfsec-netns.h"

/*
 * Theory of operation
 *
 * Every NIC-side end has a non-blocking AF_PACKET socket watched on the main
 * loop. A readable socket is drained (up to IO_BURST frames, so one busy
 * netdev cannot starve the others) into one receive buffer, each frame is
 * handed to the port core with the function (or the uplink) it came from, and
 * what the core returns is written at once to the NIC-side end of its egress.
 * The receive buffer and the output list are the emulator's, reused for every
 * frame: the path allocates only inside the core.
 *
 * The PF driver is the host's side of the PF: it writes its configuration
 * frames with a packet socket on the host-side PF netdev, so they cross the
 * veth like any PF traffic (a capture on the PF netdev shows the whole
 * configuration conversation) and the agent's replies come back the same way.
 * That socket sees every frame delivered to the PF; only configuration frames
 * go to the driver.
 *
 * The packet socket helper restores the outermost VLAN tag the kernel moves
 * into skb metadata on receive (PACKET_AUXDATA), so the core sees frames with
 * their tags exactly as written.
 */

#define IO_BURST 256

typedef struct {
    VfsecNicsimPort *port;
    int fn;      /* VF index, VFSEC_FN_PF, or VFSEC_FN_NONE for the uplink */
    int fd;
} IoWatch;

char *
vfsec_nicsim_io_endpoint_name(int fn)
{
    if (fn == VFSEC_FN_PF)
        return g_strdup("pf");
    if (fn == VFSEC_FN_NONE)
        return g_strdup("uplink");
    return g_strdup_printf("vf:%d", fn);
}

gboolean
vfsec_nicsim_io_endpoint_parse(VfsecNicsimPort *port, const char *str, int *fn, GError **error)
{
    guint64 vf;

    if (g_strcmp0(str, "pf") == 0) {
        *fn = VFSEC_FN_PF;
        return TRUE;
    }
    if (g_strcmp0(str, "uplink") == 0) {
        *fn = VFSEC_FN_NONE;
        return TRUE;
    }
    if (str && g_str_has_prefix(str, "vf:") &&
        vfsec_parse_uint(str + 3, VFSEC_NICSIM_MAX_VFS - 1, &vf) &&
        vf < port->sim->config.n_vfs) {
        *fn = (int)vf;
        return TRUE;
    }
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                "'%s' is not pf, uplink or vf:N with a VF of port %u", str ? str : "", port->index);
    return FALSE;
}

gboolean
vfsec_nicsim_io_input(VfsecNicsimPort *port, int fn, const guint8 *frame, gsize len, GArray *out,
                      GError **error)
{
    if (fn == VFSEC_FN_NONE) {
        vfsec_nicport_from_uplink(port->core, frame, len, out);
        return TRUE;
    }
    return vfsec_nicport_from_function(port->core, fn, frame, len, out, error);
}

static int
io_egress_fd(VfsecNicsimPort *port, const VfsecFrameOut *o)
{
    if (o->egress == VFSEC_EGRESS_UPLINK)
        return port->uplink->nic_fd;
    if (o->egress != VFSEC_EGRESS_FUNCTION)
        return -1;
    if (o->fn == VFSEC_FN_PF)
        return port->pf->nic_fd;
    if (o->fn >= 0 && (guint)o->fn < port->sim->config.n_vfs && port->vfs[o->fn])
        return port->vfs[o->fn]->nic_fd;
    return -1;
}

void
vfsec_nicsim_io_emit(VfsecNicsimPort *port, GArray *out)
{
    for (guint i = 0; i < out->len; i++) {
        const VfsecFrameOut *o = &g_array_index(out, VfsecFrameOut, i);
        int fd = io_egress_fd(port, o);

        if (fd < 0) {
            port->io.no_netdev_drops++;
            continue;
        }
        if (send(fd, o->frame->data, o->frame->len, MSG_DONTWAIT) < 0) {
            port->io.tx_errors++;
            g_debug("%s: writing a %u-byte frame to the %s failed: %s", port->name,
                    o->frame->len, vfsec_egress_to_string(o->egress), g_strerror(errno));
            continue;
        }
        port->io.tx_frames++;
    }
}

static gboolean
io_readable(int fd, GIOCondition condition, gpointer user_data)
{
    IoWatch *w = user_data;
    VfsecNicsimPort *port = w->port;
    VfsecNicsim *sim = port->sim;

    for (guint i = 0; i < IO_BURST; i++) {
        gssize n = vfsec_packet_recv(fd, sim->rxbuf, VFSEC_NICSIM_RXBUF_SIZE);
        g_autoptr(GError) error = NULL;

        if (n == -EAGAIN || n == -EINTR)
            break;
        if (n < 0) {
            port->io.rx_errors++;
            g_debug("%s: reading a frame failed: %s", port->name, g_strerror((int)-n));
            if (n == -EMSGSIZE)
                continue;
            break;
        }
        port->io.rx_frames++;
        if (!vfsec_nicsim_io_input(port, w->fn, sim->rxbuf, (gsize)n, sim->out, &error))
            g_debug("%s: %s", port->name, error->message);
        vfsec_nicsim_io_emit(port, sim->out);
        g_array_set_size(sim->out, 0);
    }
    return G_SOURCE_CONTINUE;
}

/* Frames delivered to the host-side PF: configuration replies go to the PF
 * driver, everything else is the host stack's business. */
static gboolean
io_pfdrv_readable(int fd, GIOCondition condition, gpointer user_data)
{
    IoWatch *w = user_data;
    VfsecNicsimPort *port = w->port;
    guint8 *buf = port->sim->rxbuf;

    for (guint i = 0; i < IO_BURST; i++) {
        gssize n = vfsec_packet_recv(fd, buf, VFSEC_NICSIM_RXBUF_SIZE);

        if (n == -EAGAIN || n == -EINTR)
            break;
        if (n < 0) {
            port->io.pf_driver_errors++;
            if (n == -EMSGSIZE)
                continue;
            break;
        }
        if (port->closing || !port->pfdrv ||
            vfsec_wire_classify(&port->sim->config.tags, buf, (gsize)n, NULL) !=
                VFSEC_WIRE_CLASS_CONFIG)
            continue;
        port->io.pf_driver_rx++;
        vfsec_pfdrv_receive_frame(port->pfdrv, buf, (gsize)n);
    }
    return G_SOURCE_CONTINUE;
}

void
vfsec_nicsim_io_pfdrv_send(VfsecPfdrv *pfdrv, const guint8 *frame, gsize len, gpointer user_data)
{
    VfsecNicsimPort *port = user_data;

    /* A lost request is the PF driver's to retry, as with a real MAC. */
    if (send(port->pfdrv_fd, frame, len, MSG_DONTWAIT) < 0) {
        port->io.pf_driver_errors++;
        g_debug("%s: the PF driver's frame was not sent: %s", port->name, g_strerror(errno));
        return;
    }
    port->io.pf_driver_tx++;
}

gboolean
vfsec_nicsim_io_vf_lookup(guint vf, VfsecPfdrvVfState *state, gpointer user_data)
{
    VfsecNicsimPort *port = user_data;
    const VfsecSwitchFn *fn;

    if (vf >= port->sim->config.n_vfs)
        return FALSE;
    fn = vfsec_switch_get_fn(vfsec_nicport_switch(port->core), (int)vf);
    if (!fn)
        return FALSE;
    memset(state, 0, sizeof(*state));
    state->has_mac = fn->has_mac;
    state->mac = fn->mac;
    state->has_port_tag = fn->has_port_tag;
    state->port_tag.tpid = fn->port_tag.tpid;
    state->port_tag.tci = vfsec_wire_tci(fn->port_tag.pcp, FALSE, fn->port_tag.vid);
    state->trust = fn->trust;
    state->spoofchk = fn->spoofchk;
    return TRUE;
}

static void
io_watch_add(VfsecNicsim *sim, VfsecNicsimPort *port, int fn, int fd, GSourceFunc func)
{
    IoWatch *w = g_new0(IoWatch, 1);
    GSource *source = g_unix_fd_source_new(fd, G_IO_IN);

    w->port = port;
    w->fn = fn;
    w->fd = fd;
    g_source_set_callback(source, func, w, g_free);
    g_source_attach(source, g_main_context_get_thread_default());
    g_ptr_array_add(sim->sources, source);
}

gboolean
vfsec_nicsim_io_start(VfsecNicsim *sim, GError **error)
{
    for (guint p = 0; p < sim->ports->len; p++) {
        VfsecNicsimPort *port = g_ptr_array_index(sim->ports, p);

        io_watch_add(sim, port, VFSEC_FN_PF, port->pf->nic_fd, G_SOURCE_FUNC(io_readable));
        io_watch_add(sim, port, VFSEC_FN_NONE, port->uplink->nic_fd,
                     G_SOURCE_FUNC(io_readable));
        for (guint v = 0; v < sim->config.n_vfs; v++) {
            if (port->vfs[v])
                io_watch_add(sim, port, (int)v, port->vfs[v]->nic_fd,
                             G_SOURCE_FUNC(io_readable));
        }
        io_watch_add(sim, port, VFSEC_FN_PF, port->pfdrv_fd, G_SOURCE_FUNC(io_pfdrv_readable));
    }
    return TRUE;
}

void
vfsec_nicsim_io_stop(VfsecNicsim *sim)
{
    if (!sim->sources)
        return;
    for (guint i = 0; i < sim->sources->len; i++) {
        GSource *source = g_ptr_array_index(sim->sources, i);

        g_source_destroy(source);
        g_source_unref(source);
    }
    g_ptr_array_set_size(sim->sources, 0);
}

/* ---- Taps ---- */

static void
io_tap(VfsecAgentTapPoint point, const guint8 *frame, gsize len, gpointer user_data)
{
    VfsecNicsimPort *port = user_data;
    VfsecPcapWriter *writer = point == VFSEC_AGENT_TAP_HAIRPIN ? port->tap_hairpin
                                                               : port->tap_uplink;
    g_autoptr(GError) error = NULL;

    if (writer && !vfsec_pcap_writer_add(writer, g_get_real_time(), frame, len, &error))
        g_debug("%s", error->message);
}

gboolean
vfsec_nicsim_io_open_taps(VfsecNicsimPort *port, const char *dir, GError **error)
{
    const char *prefix = port->sim->config.prefix;
    g_autofree char *hairpin = g_strdup_printf("%s/%s%u-hairpin.pcap", dir, prefix, port->index);
    g_autofree char *uplink = g_strdup_printf("%s/%s%u-uplink.pcap", dir, prefix, port->index);

    if (g_mkdir_with_parents(dir, 0755) < 0) {
        int err = errno;

        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot create pcap directory %s: %s",
                    dir, g_strerror(err));
        return FALSE;
    }
    port->tap_hairpin = vfsec_pcap_writer_new(hairpin, VFSEC_PCAP_LINKTYPE_ETHERNET, error);
    if (!port->tap_hairpin)
        return FALSE;
    port->tap_uplink = vfsec_pcap_writer_new(uplink, VFSEC_PCAP_LINKTYPE_ETHERNET, error);
    if (!port->tap_uplink)
        return FALSE;
    vfsec_agent_set_tap(vfsec_nicport_agent(port->core), io_tap, port, NULL);
    return TRUE;
}

/* ---- Counters ---- */

void
vfsec_nicsim_port_counters_foreach(VfsecNicsimPort *port, VfsecCounterFunc func,
                                   gpointer user_data)
{
    const VfsecNicsimIoCounters *io = &port->io;
    const struct {
        const char *name;
        guint64 value;
    } sim[] = {
        { "sim.rx_frames", io->rx_frames },
        { "sim.rx_errors", io->rx_errors },
        { "sim.tx_frames", io->tx_frames },
        { "sim.tx_errors", io->tx_errors },
        { "sim.no_netdev_drops", io->no_netdev_drops },
        { "sim.injected", io->injected },
        { "sim.pf_driver_rx", io->pf_driver_rx },
        { "sim.pf_driver_tx", io->pf_driver_tx },
        { "sim.pf_driver_errors", io->pf_driver_errors },
    };

    const VfsecAgentCounters *agent = vfsec_agent_counters(vfsec_nicport_agent(port->core));
    /* The names docs/pf-driver-contract.md lists for vfsec-nicsim first, then
     * every counter of every part under its prefix. */
    const struct {
        const char *name;
        guint64 value;
    } summary[] = {
        { "rx_frames", agent->uplink_rx },
        { "tx_frames", agent->uplink_tx },
        { "cfg_frames", agent->cfg_frames },
        { "cfg_rejected", agent->cfg_rejected },
        { "bypassed", agent->bypassed },
        { "offloaded_tx", agent->offloaded_tx },
        { "decrypted_rx", agent->decrypted_rx },
    };

    for (guint i = 0; i < G_N_ELEMENTS(summary); i++)
        func(summary[i].name, summary[i].value, user_data);
    vfsec_nicport_counters_foreach(port->core, func, user_data);
    if (port->pfdrv) {
        for (guint c = 0; c < VFSEC_PFDRV_COUNTER_LAST; c++) {
            g_autofree char *name = g_strdup_printf("pfdrv.%s", vfsec_pfdrv_counter_to_string(c));

            func(name, vfsec_pfdrv_get_counter(port->pfdrv, c), user_data);
        }
        func("pfdrv.in_flight", vfsec_pfdrv_in_flight(port->pfdrv), user_data);
        func("pfdrv.pending_ops", vfsec_pfdrv_pending_ops(port->pfdrv), user_data);
        func("pfdrv.gate_held_now", vfsec_pfdrv_gate_held(port->pfdrv, VFSEC_PFDRV_PORT),
             user_data);
        func("pfdrv.sas", vfsec_pfdrv_sa_count(port->pfdrv, VFSEC_PFDRV_PORT), user_data);
    }
    for (guint i = 0; i < G_N_ELEMENTS(sim); i++)
        func(sim[i].name, sim[i].value, user_data);
}
