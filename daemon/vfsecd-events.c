/* vfsecd-events.c: libvirt domain events → vfsecd actions (see the header). */
#include <libvirt/libvirt.h>

#include "vfsecd-events.h"

static const char *const action_names[] = {
    [VFSECD_ACTION_NONE] = "none",
    [VFSECD_ACTION_START] = "start",
    [VFSECD_ACTION_RELEASE] = "release",
    [VFSECD_ACTION_RECLAIM] = "reclaim",
    [VFSECD_ACTION_DEFINE] = "define",
    [VFSECD_ACTION_FORGET] = "forget",
    [VFSECD_ACTION_STOP] = "stop",
};
G_STATIC_ASSERT(G_N_ELEMENTS(action_names) == VFSECD_ACTION_LAST);

const char *
vfsecd_action_to_string(VfsecdAction action)
{
    return action < VFSECD_ACTION_LAST ? action_names[action] : NULL;
}

VfsecdAction
vfsecd_lifecycle_action(int event, int detail, gboolean active)
{
    (void)detail;   /* every STOPPED detail (destroyed, crashed, saved, migrated,
                     * failed, shutdown) frees the VFs alike */
    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
        /* Idempotent after the hook; alone enough where no hook runs. */
        return VFSECD_ACTION_START;
    case VIR_DOMAIN_EVENT_STOPPED:
        return VFSECD_ACTION_RELEASE;
    case VIR_DOMAIN_EVENT_CRASHED:
        /* Panicked or crash-loaded: with on_crash restart/preserve the
         * domain runs on (or reboots), its SAs gone with the guest's
         * memory; with destroy a STOPPED follows: libvirt may still be
         * tearing the VF down (it is no longer active from before the
         * stopped hook), so stop now and free at the STOPPED. */
        return active ? VFSECD_ACTION_RECLAIM : VFSECD_ACTION_STOP;
    case VIR_DOMAIN_EVENT_DEFINED:
        return VFSECD_ACTION_DEFINE;
    case VIR_DOMAIN_EVENT_UNDEFINED:
        return VFSECD_ACTION_FORGET;
    default:
        /* Suspended, resumed, shutdown (a STOPPED follows), pmsuspended. */
        return VFSECD_ACTION_NONE;
    }
}
