/* test-vfsecd-event-map.c: which libvirt domain event makes vfsecd do what.
 * A unit test of the mapping because libvirt's test driver cannot emit the
 * interesting ones: its reboot raises no REBOOT event and it has no panic
 * (CRASHED with on_crash restart/preserve); the system tier reboots a real
 * guest. */
#include <libvirt/libvirt.h>

#include "vfsecd-events.h"

typedef struct {
    int event;
    int detail;
    gboolean active;
    VfsecdAction want;
} Case;

static const Case cases[] = {
    { VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED, TRUE, VFSECD_ACTION_START },
    { VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_RESTORED, TRUE, VFSECD_ACTION_START },
    { VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_MIGRATED, TRUE, VFSECD_ACTION_START },
    { VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, FALSE, VFSECD_ACTION_RELEASE },
    { VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_CRASHED, FALSE, VFSECD_ACTION_RELEASE },
    { VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, FALSE, VFSECD_ACTION_RELEASE },
    { VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SAVED, FALSE, VFSECD_ACTION_RELEASE },
    { VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_MIGRATED, FALSE, VFSECD_ACTION_RELEASE },
    { VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FAILED, FALSE, VFSECD_ACTION_RELEASE },
    /* Panic with on_crash restart or preserve: the domain runs on. */
    { VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED, TRUE, VFSECD_ACTION_RECLAIM },
    { VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED, TRUE,
      VFSECD_ACTION_RECLAIM },
    /* on_crash destroy: stop now, the STOPPED that follows frees the VF. */
    { VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED, FALSE, VFSECD_ACTION_STOP },
    { VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_ADDED, FALSE, VFSECD_ACTION_DEFINE },
    { VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_UPDATED, TRUE, VFSECD_ACTION_DEFINE },
    { VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED, FALSE,
      VFSECD_ACTION_FORGET },
    { VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED, TRUE, VFSECD_ACTION_NONE },
    { VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED, TRUE, VFSECD_ACTION_NONE },
    /* A STOPPED follows a shutdown; that one releases. */
    { VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED, TRUE, VFSECD_ACTION_NONE },
};

static void
test_lifecycle(gconstpointer data)
{
    const Case *c = data;

    g_assert_cmpstr(vfsecd_action_to_string(vfsecd_lifecycle_action(c->event, c->detail,
                                                                     c->active)),
                    ==, vfsecd_action_to_string(c->want));
}

static void
test_names(void)
{
    for (int a = 0; a < VFSECD_ACTION_LAST; a++)
        g_assert_nonnull(vfsecd_action_to_string(a));
    g_assert_null(vfsecd_action_to_string(VFSECD_ACTION_LAST));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/vfsecd/event-map/%u-event%d-detail%d-%s", i,
                                                cases[i].event, cases[i].detail,
                                                cases[i].active ? "running" : "gone");

        g_test_add_data_func(path, &cases[i], test_lifecycle);
    }
    g_test_add_func("/vfsecd/event-map/names", test_names);
    return g_test_run();
}
