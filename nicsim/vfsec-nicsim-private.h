/* vfsec-nicsim-private.h: the running emulator's state, shared by the files
 * of nicsim/ (frame path, contract server, control server) and nothing else. */
#pragma once

#include "vfsec-jsonl-server.h"
#include "vfsec-nicport.h"
#include "vfsec-nicsim-links.h"
#include "vfsec-nicsim.h"
#include "vfsec-pcap.h"
#include "vfsec-pfdrv.h"

G_BEGIN_DECLS

/* Largest frame read from a netdev: the internal MTU, its Ethernet header,
 * two tags and room to spare. */
#define VFSEC_NICSIM_RXBUF_SIZE 16384

/* The frame path's own counters, per port ("sim.<name>"). */
typedef struct {
    guint64 rx_frames;        /* frames read from the port's NIC-side ends */
    guint64 rx_errors;        /* reads that failed (frame over the buffer, ...) */
    guint64 tx_frames;        /* frames written to them */
    guint64 tx_errors;        /* writes the kernel refused (buffer full, too long) */
    guint64 no_netdev_drops;  /* frames for a VF without netdev (--no-netdevs) */
    guint64 injected;         /* frames fed with the control op send-frame */
    guint64 pf_driver_rx;     /* configuration replies the PF driver's socket read */
    guint64 pf_driver_tx;     /* configuration requests it wrote */
    guint64 pf_driver_errors; /* its failed writes */
} VfsecNicsimIoCounters;

typedef struct _VfsecNicsimPort VfsecNicsimPort;

/* One physical port: the pure core, its PF driver, the netdevs and taps. */
struct _VfsecNicsimPort {
    VfsecNicsim *sim;
    guint index;
    char name[16];                 /* "p0" */
    VfsecNicPort *core;
    VfsecPfdrv *pfdrv;
    VfsecMac pf_mac;
    VfsecMac agent_mac;
    VfsecNicsimLink *pf;           /* NIC-side PF end */
    VfsecNicsimLink *uplink;
    VfsecNicsimLink *vfs[VFSEC_NICSIM_MAX_VFS];  /* NULL with --no-netdevs */
    int pfdrv_fd;                  /* the PF driver's socket on the host-side PF */
    VfsecPcapWriter *tap_hairpin;
    VfsecPcapWriter *tap_uplink;
    VfsecNicsimIoCounters io;
    /* The local-MAC table as the PF driver owns it (the contract's get-macs
     * and set-macs), re-programmed into the agent after an agent reset. */
    GArray *macs;                  /* VfsecWireMacEntry */
    guint32 mac_generation;        /* 0: never set */
    gboolean macs_pending;         /* a set-macs waits for the agent */
    gboolean closing;              /* being freed: completions must not start work */
};

struct _VfsecNicsim {
    VfsecNicsimConfig config;
    VfsecNicsimLinks *links;
    GPtrArray *ports;              /* VfsecNicsimPort*, owned */
    GPtrArray *sources;            /* GSource* of the frame path, owned */
    VfsecJsonlServer *contract;
    VfsecJsonlServer *control;
    GArray *out;                   /* reused VfsecFrameOut list of the frame path */
    guint8 *rxbuf;                 /* VFSEC_NICSIM_RXBUF_SIZE bytes */
};

/* The port with index @port, or NULL with VFSEC_ERROR_NOT_FOUND set. */
VfsecNicsimPort *vfsec_nicsim_get_port(VfsecNicsim *sim, guint port, GError **error);

/* ---- Frame path (vfsec-nicsim-io.c) ---- */

/* Watches every NIC-side end and the PF drivers' sockets on the thread-default
 * main context. */
gboolean vfsec_nicsim_io_start(VfsecNicsim *sim, GError **error);
/* Removes the watches. */
void vfsec_nicsim_io_stop(VfsecNicsim *sim);
/* The PF driver's callbacks (user data: the port). */
void vfsec_nicsim_io_pfdrv_send(VfsecPfdrv *pfdrv, const guint8 *frame, gsize len,
                                gpointer user_data);
gboolean vfsec_nicsim_io_vf_lookup(guint vf, VfsecPfdrvVfState *state, gpointer user_data);
/* Opens the pcap taps of @port in @dir and hooks them to its agent. */
gboolean vfsec_nicsim_io_open_taps(VfsecNicsimPort *port, const char *dir, GError **error);
/* Feeds @frame as if it arrived from function @fn (a VF index or VFSEC_FN_PF)
 * or, with VFSEC_FN_NONE, from the wire; appends what comes out to @out
 * without sending it. */
gboolean vfsec_nicsim_io_input(VfsecNicsimPort *port, int fn, const guint8 *frame, gsize len,
                               GArray *out, GError **error);
/* Writes every frame of @out to its netdev. */
void vfsec_nicsim_io_emit(VfsecNicsimPort *port, GArray *out);
/* "pf", "vf:N" or "uplink" for where a frame comes from or goes to (N.B.
 * VFSEC_FN_NONE names the uplink); a new string. */
char *vfsec_nicsim_io_endpoint_name(int fn);
/* Parses such a name; FALSE on anything else or a VF the port lacks. */
gboolean vfsec_nicsim_io_endpoint_parse(VfsecNicsimPort *port, const char *str, int *fn,
                                        GError **error);
/* Every counter of @port (core, PF driver, frame path) to @func. */
void vfsec_nicsim_port_counters_foreach(VfsecNicsimPort *port, VfsecCounterFunc func,
                                        gpointer user_data);

/* ---- Sockets ---- */

/* The PF-driver contract server (vfsec-nicsim-contract.c). */
gboolean vfsec_nicsim_contract_start(VfsecNicsim *sim, GError **error);
/* Sends a contract notification to the subscribed connections. */
void vfsec_nicsim_contract_notify(VfsecNicsim *sim, int event, guint port, guint vf,
                                  const char *what);
/* The control server (vfsec-nicsim-control.c). */
gboolean vfsec_nicsim_control_start(VfsecNicsim *sim, GError **error);

/* The server configuration both sockets share: mode, group, line limit. */
gboolean vfsec_nicsim_server_config(VfsecNicsim *sim, const char *path,
                                    VfsecJsonlServerConfig *config, GError **error);

/* ---- Shared operations (vfsec-nicsim.c) ---- */

/* A VF reset: the VF-driver model forgets the VF's SAs, subscribers get
 * vf-reset. The agent and the PF driver's DB keep them (that is the point). */
void vfsec_nicsim_vf_reset(VfsecNicsimPort *port, guint vf);
/* Called when vfsec_nicsim_agent_reset() is done; @error NULL on success. */
typedef void (*VfsecNicsimDoneFunc)(const GError *error, gpointer user_data);
/* An agent reset: the agent loses its SAD and local-MAC table. The PF driver
 * then does what the contract promises before it tells anyone: forgets the
 * lost SAs (sa_count 0), programs its local-MAC table again (same
 * generation), and only then sends agent-reset. @done (may be NULL) runs at
 * the end. */
void vfsec_nicsim_agent_reset(VfsecNicsimPort *port, VfsecNicsimDoneFunc done,
                              gpointer user_data);

G_END_DECLS
