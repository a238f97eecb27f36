/* sandbox-event-watch.c: holds one libvirt connection open and reports a
 * domain's lifecycle events, so the libvirt-sandbox tests can show that a
 * second client's actions reach a first client (as they will reach vfsecd).
 *
 * Usage: sandbox-event-watch URI TIMEOUT_MS DOMAIN EVENT...
 * Opens URI, subscribes to lifecycle events and prints "ready" once the
 * subscription is in place; then prints "event NAME TYPE" for every
 * lifecycle event. When DOMAIN's EVENTs (defined, started, stopped, ...) have
 * arrived in that order it prints "active DOMAIN yes|no", as this connection
 * sees the domain, and exits 0. Exits 1 when TIMEOUT_MS passes first, 2 on a
 * usage or connection error. */
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <libvirt/libvirt.h>

#include "vfsec-addr.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

/* Indexed by virDomainEventType. */
static const char *const vfsec_event_names[] = {
    "defined", "undefined", "started", "suspended", "resumed",
    "stopped", "shutdown", "pmsuspended", "crashed",
};

typedef struct {
    const char *domain;
    char **expect;       /* the wanted event names, in order */
    guint n_expect;
    guint n_seen;        /* how many of them arrived so far */
    gboolean timed_out;
} VfsecWatch;

static const char *
vfsec_event_name(int event)
{
    if (event < 0 || (gsize)event >= G_N_ELEMENTS(vfsec_event_names))
        return "unknown";
    return vfsec_event_names[event];
}

static int
vfsec_watch_lifecycle(virConnectPtr conn, virDomainPtr dom, int event,
                      int detail, void *opaque)
{
    VfsecWatch *watch = opaque;
    const char *name = virDomainGetName(dom);
    const char *type = vfsec_event_name(event);

    printf("event %s %s\n", name ? name : "?", type);
    fflush(stdout);
    if (watch->n_seen < watch->n_expect && g_strcmp0(name, watch->domain) == 0 &&
        strcmp(type, watch->expect[watch->n_seen]) == 0)
        watch->n_seen++;
    return 0;
}

static void
vfsec_watch_deadline(int timer, void *opaque)
{
    VfsecWatch *watch = opaque;

    watch->timed_out = TRUE;
}

int
main(int argc, char **argv)
{
    g_autoptr(virConnect) conn = NULL;
    g_autoptr(virDomain) dom = NULL;
    VfsecWatch watch = { 0 };
    guint64 timeout_ms = 0;
    int callback;
    int timer;

    if (argc < 5 || !vfsec_parse_uint(argv[2], G_MAXINT, &timeout_ms)) {
        g_printerr("usage: %s URI TIMEOUT_MS DOMAIN EVENT...\n", argv[0]);
        return 2;
    }
    watch.domain = argv[3];
    watch.expect = argv + 4;
    watch.n_expect = (guint)(argc - 4);

    /* The event loop must exist before the connection does. */
    if (virEventRegisterDefaultImpl() < 0)
        return 2;
    conn = virConnectOpen(argv[1]);
    if (!conn) {
        g_printerr("connection %s cannot be opened\n", argv[1]);
        return 2;
    }
    callback = virConnectDomainEventRegisterAny(conn, NULL,
                                                VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                VIR_DOMAIN_EVENT_CALLBACK(vfsec_watch_lifecycle),
                                                &watch, NULL);
    if (callback < 0) {
        g_printerr("connection %s refuses lifecycle events\n", argv[1]);
        return 2;
    }
    timer = virEventAddTimeout((int)timeout_ms, vfsec_watch_deadline, &watch, NULL);
    if (timer < 0)
        return 2;
    printf("ready\n");
    fflush(stdout);

    while (watch.n_seen < watch.n_expect && !watch.timed_out) {
        if (virEventRunDefaultImpl() < 0)
            break;
    }
    virEventRemoveTimeout(timer);
    virConnectDomainEventDeregisterAny(conn, callback);

    if (watch.n_seen < watch.n_expect) {
        g_printerr("domain %s: %u of %u expected events within %" G_GUINT64_FORMAT " ms\n",
                   watch.domain, watch.n_seen, watch.n_expect, timeout_ms);
        return 1;
    }
    dom = virDomainLookupByName(conn, watch.domain);
    printf("active %s %s\n", watch.domain,
           dom && virDomainIsActive(dom) == 1 ? "yes" : "no");
    return 0;
}
