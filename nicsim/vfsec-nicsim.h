/* vfsec-nicsim.h: the NIC emulator — its configuration, and the running
 * emulator (netdevs, frame path, PF drivers, contract and control sockets). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vfsec-addr.h"
#include "vfsec-switch.h"
#include "vfsec-wire.h"

G_BEGIN_DECLS

#define VFSEC_NICSIM_MAX_PORTS 16
#define VFSEC_NICSIM_MAX_VFS 64
#define VFSEC_NICSIM_DEFAULT_VFS 8
#define VFSEC_NICSIM_DEFAULT_PREFIX "vs"
/* MTU of the NIC-side ends and the wire: room for metadata and ESP on top of
 * the PF/VF netdevs' 1500. */
#define VFSEC_NICSIM_INTERNAL_MTU 9000
/* Server name announced in the contract's hello. */
#define VFSEC_NICSIM_SERVER_NAME "vfsec-nicsim"

/* Everything the command line sets. */
typedef struct {
    guint n_ports;            /* 1..VFSEC_NICSIM_MAX_PORTS */
    guint n_vfs;              /* 0..VFSEC_NICSIM_MAX_VFS per port */
    char *prefix;             /* netdev name prefix */
    char *host_netns;         /* PF/VF netdevs; NULL: the current namespace */
    char *nic_netns;          /* private namespace; default <prefix>-nic */
    char *wire_netns;         /* uplinks' far ends; default <prefix>-wire */
    guint sad_capacity;       /* SAs per port */
    VfsecSwitchMode mode;     /* initial switch mode of every port */
    gboolean hairpin;         /* agent hairpin (in VEPA mode) */
    VfsecWireTags tags;       /* reserved VIDs */
    char *contract_socket;
    char *control_socket;
    char *allow_group;        /* NULL: root only */
    char *pcap_dir;           /* NULL: no taps */
    char *ready_file;         /* NULL: none */
    gboolean netdevs;         /* FALSE (--no-netdevs): VFs without netdevs */
    gboolean foreground;
    gboolean one_op_per_frame;  /* initial reclaim mode: one REMOVE_SA per frame */
} VfsecNicsimConfig;

/* Fills @config with the defaults; names derived from the prefix stay NULL
 * until vfsec_nicsim_config_finish(). */
void vfsec_nicsim_config_init(VfsecNicsimConfig *config);
/* Frees the strings of @config. */
void vfsec_nicsim_config_clear(VfsecNicsimConfig *config);

/* Parses the emulator's options from @argv (GOption; removes what it used)
 * into @config, then finishes it. A usage error fails with
 * VFSEC_ERROR_INVALID. */
gboolean vfsec_nicsim_config_parse(VfsecNicsimConfig *config, int *argc, char ***argv,
                                   GError **error);
/* Derives what the options left unset (namespace and socket names from the
 * prefix) and checks ranges and name lengths. */
gboolean vfsec_nicsim_config_finish(VfsecNicsimConfig *config, GError **error);

/* The default socket paths of an emulator with @prefix: new strings. */
char *vfsec_nicsim_default_control_socket(const char *prefix);
char *vfsec_nicsim_default_contract_socket(const char *prefix);

/* The PCI address the emulator gives a function: domain 0xfe00 (no real
 * device lives there), bus = port, the PF at 00.0 and VF n at slot
 * 0x10 + n / 8, function n % 8. @vf < 0 means the PF. */
void vfsec_nicsim_pci_addr(guint port, int vf, VfsecPciAddr *addr);

typedef struct _VfsecNicsim VfsecNicsim;

/* Builds the whole emulator on the thread-default main context: namespaces,
 * netdevs, ports (switch, agent, PF driver), taps, then the contract and
 * control sockets. @config is copied. On failure everything made is undone. */
VfsecNicsim *vfsec_nicsim_new(const VfsecNicsimConfig *config, GError **error);
/* Stops the sockets, removes every netdev and namespace the emulator made and
 * closes the taps. */
void vfsec_nicsim_free(VfsecNicsim *sim);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecNicsim, vfsec_nicsim_free)

/* Sends one request to an emulator's control socket and waits (at most
 * @timeout_ms) for its reply: TRUE with *@result (optional; new reference) on
 * an ok reply, FALSE with the remote error (code mapped through
 * vfsec_contract_error_code_to_vfsec()) otherwise. @args may be NULL. */
gboolean vfsec_nicsim_ctl_call(const char *socket_path, const char *op, JsonObject *args,
                               guint timeout_ms, JsonObject **result, GError **error);

G_END_DECLS
