/* vfsecd-events.h: what vfsecd does for each libvirt domain event — a pure
 * mapping, kept apart from the watcher so it can be tested without libvirtd
 * (libvirt's test driver emits no REBOOT and no CRASHED event). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    VFSECD_ACTION_NONE,         /* logged only */
    VFSECD_ACTION_START,        /* prepare + quarantine + publish (live XML) */
    VFSECD_ACTION_RELEASE,      /* reclaim, unpublish, re-quarantine, free */
    VFSECD_ACTION_RECLAIM,      /* reclaim the SAs, the domain keeps its VFs */
    VFSECD_ACTION_DEFINE,       /* record what would make its start fail */
    VFSECD_ACTION_FORGET,       /* undefine: drop that record */
    VFSECD_ACTION_STOP,         /* reclaim + unpublish; the VF is freed at the STOPPED */
    VFSECD_ACTION_LAST
} VfsecdAction;

/* "none", "start", "release", "reclaim", "define", "forget", "stop". */
const char *vfsecd_action_to_string(VfsecdAction action);

/* The action for a VIR_DOMAIN_EVENT_ID_LIFECYCLE event @event with @detail;
 * @active: the domain is still running after it (only CRASHED asks: a panic
 * with on_crash restart or preserve leaves it running, its guest's IPsec
 * state lost — reclaim, the VF stays its; otherwise it is a stop). */
VfsecdAction vfsecd_lifecycle_action(int event, int detail, gboolean active);

G_END_DECLS
