/* test-nicsim-reclaim.c: abandoned SAs — a VF's SAs added through the PF
 * mailbox are reclaimed over the PF-driver contract, and the answer comes only
 * once the agent confirmed every removal (held and released with the gate). */
#include <glib.h>

#include "nicsim-fixture.h"
#include "vfsec-test-util.h"

#define KEY128 "000102030405060708090a0b0c0d0e0f"

typedef struct {
    gboolean done;
    gboolean ok;
    VfsecContractReclaim reclaim;
    GError *error;
} ReclaimWait;

static void
reclaim_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ReclaimWait *w = user_data;

    w->ok = vfsec_contract_client_reclaim_vf_finish(VFSEC_CONTRACT_CLIENT(source), result,
                                                    &w->reclaim, &w->error);
    w->done = TRUE;
}

typedef struct {
    guint resets;
    guint last_vf;
    guint agent_resets;
} Notified;

static void
on_notify(VfsecContractClient *client, const VfsecContractNotification *n, gpointer user_data)
{
    Notified *seen = user_data;

    if (n->event == VFSEC_CONTRACT_EVENT_VF_RESET) {
        seen->resets++;
        seen->last_vf = n->vf;
    }
    if (n->event == VFSEC_CONTRACT_EVENT_AGENT_RESET)
        seen->agent_resets++;
}

typedef struct {
    gboolean done;
    GError *error;
} CallWait;

static void
subscribe_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CallWait *w = user_data;

    vfsec_contract_client_subscribe_finish(VFSEC_CONTRACT_CLIENT(source), result, &w->error);
    w->done = TRUE;
}

static void
add_sas(NicsimFixture *fx, const char *who, guint vf, guint spi, guint count, const char *dir)
{
    g_autoptr(JsonObject) res = NULL;

    if (g_str_equal(who, "pf"))
        res = nicsim_ctl(fx, "pf-add-sa",
                         "{\"port\": 0, \"count\": %u, \"sa\": {\"dir\": \"%s\", \"dst\": "
                         "\"192.0.2.1\", \"spi\": %u, \"key\": \"" KEY128 "\"}}",
                         count, dir, spi);
    else
        res = nicsim_ctl(fx, "vf-add-sa",
                         "{\"port\": 0, \"vf\": %u, \"count\": %u, \"sa\": {\"dir\": \"%s\", "
                         "\"dst\": \"192.0.2.1\", \"spi\": %u, \"key\": \"" KEY128 "\"}}",
                         vf, count, dir, spi);
    g_assert_cmpint(json_object_get_int_member(res, "added"), ==, count);
}

/* SAs of @domain ("vf:1", "pf") in the PF driver's DB. */
static guint
db_count_domain(NicsimFixture *fx, const char *domain)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx, "db-dump", "{\"port\": 0}");
    JsonArray *sas = json_object_get_array_member(res, "sas");
    guint n = 0;

    for (guint i = 0; i < json_array_get_length(sas); i++) {
        JsonObject *sa = json_array_get_object_element(sas, i);

        if (g_str_equal(json_object_get_string_member(sa, "domain"), domain))
            n++;
    }
    return n;
}

/* SAs in the agent's SAD whose key carries @mac. */
static guint
sad_count_mac(NicsimFixture *fx, const VfsecMac *mac)
{
    g_autoptr(GPtrArray) sas = nicsim_sad_with_mac(fx, mac);

    return sas->len;
}

/* The seed's five steps: VF1 adds SAs; its owner disappears; a reclaim is
 * asked over the contract; the SAs leave the SAD and the DB; the answer
 * comes only after the agent confirmed. */
static void
test_abandoned(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    Notified seen = { 0 };
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, on_notify, &seen);
    ReclaimWait rw = { 0 };
    CallWait sw = { 0 };
    VfsecMac vf1_mac;
    gint64 deadline;

    vfsec_nicsim_link_mac(VFSEC_NICSIM_LINK_VF, 0, 1, &vf1_mac);
    vfsec_contract_client_subscribe_async(client, VFSEC_CONTRACT_EVENT_MASK_ALL, 0, NULL,
                                          subscribe_done, &sw);
    g_assert_true(nicsim_run_until(fx, &sw.done, NICSIM_WAIT_MS));
    g_assert_no_error(sw.error);

    /* 1. VF1's driver offloads SAs through the PF mailbox; VF2 and the PF too. */
    add_sas(fx, "vf", 1, 0x1000, 3, "in");
    add_sas(fx, "vf", 1, 0x1100, 2, "out");
    add_sas(fx, "vf", 2, 0x2000, 2, "in");
    add_sas(fx, "pf", 0, 0x3000, 1, "in");
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 8);
    g_assert_cmpuint(db_count_domain(fx, "vf:1"), ==, 5);
    g_assert_cmpuint(sad_count_mac(fx, &vf1_mac), ==, 5);

    /* 2. Its owner disappears: the VF is reset; subscribers hear of it; the
     * SAs stay in the agent (that is the problem being solved). */
    nicsim_ctl_do(fx, "vf-reset", "{\"port\": 0, \"vf\": 1}");
    g_assert_true(nicsim_run_until_count(fx, &seen.resets, 1, NICSIM_WAIT_MS));
    g_assert_cmpuint(seen.last_vf, ==, 1);
    g_assert_cmpuint(sad_count_mac(fx, &vf1_mac), ==, 5);

    /* 3. Reclaim over the contract, with the agent's replies held. */
    nicsim_ctl_do(fx, "gate-hold", "{\"port\": 0, \"vf\": 1}");
    vfsec_contract_client_reclaim_vf_async(client, 0, 1, 5000, 8000, NULL, reclaim_done, &rw);
    deadline = g_get_monotonic_time() + NICSIM_WAIT_MS * 1000;
    while (nicsim_counter(fx, "pfdrv.gate_held_now") == 0 &&
           g_get_monotonic_time() < deadline)
        nicsim_run_pending(fx);
    g_assert_cmpuint(nicsim_counter(fx, "pfdrv.gate_held_now"), >, 0);
    /* The agent has removed them, but the PF has not confirmed: no answer,
     * and the PF's DB still holds them. */
    nicsim_run_pending(fx);
    g_assert_false(rw.done);
    g_assert_cmpuint(db_count_domain(fx, "vf:1"), ==, 5);

    /* 4. Release: the answer arrives, and only now. */
    nicsim_ctl_do(fx, "gate-release", "{\"port\": 0, \"vf\": 1}");
    g_assert_true(nicsim_run_until(fx, &rw.done, NICSIM_WAIT_MS));
    g_assert_no_error(rw.error);
    g_assert_true(rw.ok);
    g_assert_cmpuint(rw.reclaim.removed, ==, 5);
    g_assert_cmpuint(rw.reclaim.failed, ==, 0);
    g_assert_cmpuint(rw.reclaim.remaining, ==, 0);

    /* 5. Gone from the SAD and the DB; the other domains untouched. */
    g_assert_cmpuint(sad_count_mac(fx, &vf1_mac), ==, 0);
    g_assert_cmpuint(db_count_domain(fx, "vf:1"), ==, 0);
    g_assert_cmpuint(db_count_domain(fx, "vf:2"), ==, 2);
    g_assert_cmpuint(db_count_domain(fx, "pf"), ==, 1);
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 3);

    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

/* Holding the agent's replies sees the SAD already empty but no answer: the
 * gate proves the PF answers after the agent, not before. */
static void
test_gate_shows_agent_first(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, NULL, NULL);
    ReclaimWait rw = { 0 };
    gint64 deadline;

    add_sas(fx, "vf", 0, 0x500, 4, "in");
    nicsim_ctl_do(fx, "gate-hold", "{\"port\": 0}");
    vfsec_contract_client_reclaim_vf_async(client, 0, 0, 5000, 8000, NULL, reclaim_done, &rw);
    deadline = g_get_monotonic_time() + NICSIM_WAIT_MS * 1000;
    while (nicsim_counter(fx, "pfdrv.gate_held_now") == 0 && g_get_monotonic_time() < deadline)
        nicsim_run_pending(fx);
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 0);
    g_assert_cmpuint(nicsim_db_count(fx), ==, 4);
    nicsim_run_pending(fx);
    g_assert_false(rw.done);
    nicsim_ctl_do(fx, "gate-release", "{\"port\": 0}");
    g_assert_true(nicsim_run_until(fx, &rw.done, NICSIM_WAIT_MS));
    g_assert_no_error(rw.error);
    g_assert_cmpuint(rw.reclaim.removed, ==, 4);
    g_assert_cmpuint(nicsim_db_count(fx), ==, 0);
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

/* Batched reclaim sends as few frames as the wire allows; single mode one per SA. */
typedef struct {
    const char *name;
    const char *mode;
    guint n_sas;
    guint frames;
} BatchCase;

static const BatchCase batch_cases[] = {
    { "batched-1", "batched", 1, 1 },
    { "batched-124", "batched", VFSEC_WIRE_REMOVE_SA_PER_FRAME, 1 },
    { "batched-300", "batched", 300, 3 },
    { "single-20", "single", 20, 20 },
};

static void
test_batch(gconstpointer data)
{
    const BatchCase *c = data;
    NicsimFixture *fx = nicsim_start(NULL);
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, NULL, NULL);
    ReclaimWait rw = { 0 };
    guint64 before;

    nicsim_ctl_do(fx, "reclaim-mode", "{\"mode\": \"%s\"}", c->mode);
    add_sas(fx, "vf", 3, 0x10000, c->n_sas, "in");
    g_assert_cmpuint(nicsim_sad_count(fx), ==, c->n_sas);
    before = nicsim_counter(fx, "pfdrv.frames-sent");
    vfsec_contract_client_reclaim_vf_async(client, 0, 3, 5000, 8000, NULL, reclaim_done, &rw);
    g_assert_true(nicsim_run_until(fx, &rw.done, NICSIM_WAIT_MS));
    g_assert_no_error(rw.error);
    g_assert_cmpuint(rw.reclaim.removed, ==, c->n_sas);
    g_assert_cmpuint(nicsim_counter(fx, "pfdrv.frames-sent") - before, ==, c->frames);
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 0);
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

/* The "times" control op dates what the port did on the clock of
 * g_get_monotonic_time(): the last SA removal, the last MAC table, each
 * function's last settings change (an unchanged set does not count). */
static gint64
times_member(NicsimFixture *fx, const char *member, int vf)
{
    g_autoptr(JsonObject) res = nicsim_ctl(fx, "times", "{\"port\": 0}");

    if (vf < 0)
        return json_object_get_int_member(res, member);
    /* functions[0] is the PF. */
    return json_object_get_int_member(
        json_array_get_object_element(json_object_get_array_member(res, "functions"), vf + 1),
        member);
}

static void
test_times(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, NULL, NULL);
    g_autoptr(JsonObject) vf = NULL;
    g_autoptr(JsonObject) macs = NULL;
    ReclaimWait rw = { 0 };
    gint64 t0, t1, t2, vf1_before;

    g_assert_cmpint(times_member(fx, "sa_removed_us", -1), ==, 0);
    g_assert_cmpint(times_member(fx, "macs_changed_us", -1), ==, 0);
    add_sas(fx, "vf", 2, 0x7000, 3, "in");
    g_assert_cmpint(times_member(fx, "sas", -1), ==, 3);
    t0 = g_get_monotonic_time();
    vfsec_contract_client_reclaim_vf_async(client, 0, 2, 5000, 8000, NULL, reclaim_done, &rw);
    g_assert_true(nicsim_run_until(fx, &rw.done, NICSIM_WAIT_MS));
    g_assert_no_error(rw.error);
    t1 = g_get_monotonic_time();
    g_assert_cmpint(times_member(fx, "sas", -1), ==, 0);
    g_assert_cmpint(times_member(fx, "sa_removed_us", -1), >=, t0);
    g_assert_cmpint(times_member(fx, "sa_removed_us", -1), <=, t1);

    vf1_before = times_member(fx, "changed_us", 1);
    vf = nicsim_contract_call(fx, client, "set-vf",
                              "{\"port\": 0, \"vf\": 2, \"port_tag\": {\"tpid\": 33024, "
                              "\"vid\": 4092, \"pcp\": 0}}");
    t2 = g_get_monotonic_time();
    g_assert_cmpint(times_member(fx, "changed_us", 2), >=, t1);
    g_assert_cmpint(times_member(fx, "changed_us", 2), <=, t2);
    g_assert_cmpint(times_member(fx, "changed_us", 1), ==, vf1_before);
    /* The same settings again: nothing changed, nothing dated. */
    g_clear_pointer(&vf, json_object_unref);
    vf = nicsim_contract_call(fx, client, "set-vf",
                              "{\"port\": 0, \"vf\": 2, \"port_tag\": {\"tpid\": 33024, "
                              "\"vid\": 4092, \"pcp\": 0}}");
    g_assert_cmpint(times_member(fx, "changed_us", 2), <=, t2);

    macs = nicsim_contract_call(fx, client, "set-macs",
                                "{\"port\": 0, \"generation\": 0, \"entries\": "
                                "[{\"mac\": \"52:54:00:12:34:56\", \"tags\": []}]}");
    g_assert_cmpint(times_member(fx, "macs_changed_us", -1), >=, t2);
    g_assert_cmpint(times_member(fx, "macs_changed_us", -1), <=, g_get_monotonic_time());
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

/* An agent reset loses the SAD; before it says so, the PF driver forgets the
 * lost SAs and programs its local-MAC table again, same generation. */
static void
test_agent_reset(void)
{
    NicsimFixture *fx = nicsim_start(NULL);
    Notified seen = { 0 };
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, on_notify, &seen);
    g_autoptr(JsonObject) set = NULL;
    g_autoptr(JsonObject) before = NULL;
    g_autoptr(JsonObject) after = NULL;
    g_autoptr(JsonObject) vfs = NULL;
    g_autoptr(JsonObject) agent = NULL;
    g_autofree char *before_text = NULL;
    g_autofree char *after_text = NULL;

    json_object_unref(nicsim_contract_call(fx, client, "subscribe",
                                           "{\"events\": [\"agent-reset\"]}"));
    set = nicsim_contract_call(fx, client, "set-macs",
                               "{\"port\": 0, \"generation\": 0, \"entries\": [{\"mac\": "
                               "\"02:76:73:00:00:01\", \"tags\": [{\"tpid\": 33024, \"vid\": "
                               "7}]}]}");
    g_assert_cmpint(json_object_get_int_member(set, "generation"), ==, 1);
    add_sas(fx, "vf", 1, 0x1000, 4, "in");
    add_sas(fx, "pf", 0, 0x3000, 2, "out");
    before = nicsim_contract_call(fx, client, "get-macs", "{\"port\": 0}");

    nicsim_ctl_do(fx, "agent-reset", "{\"port\": 0}");
    g_assert_true(nicsim_run_until_count(fx, &seen.agent_resets, 1, NICSIM_WAIT_MS));
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 0);
    g_assert_cmpuint(nicsim_db_count(fx), ==, 0);
    vfs = nicsim_contract_call(fx, client, "list-vfs", "{\"port\": 0}");
    g_assert_cmpint(json_object_get_int_member(
                        json_array_get_object_element(json_object_get_array_member(vfs, "vfs"), 1),
                        "sa_count"), ==, 0);
    after = nicsim_contract_call(fx, client, "get-macs", "{\"port\": 0}");
    before_text = nicsim_json_text(before);
    after_text = nicsim_json_text(after);
    g_assert_cmpstr(after_text, ==, before_text);
    /* ... and the agent holds it again. */
    agent = nicsim_ctl(fx, "macs", "{\"port\": 0}");
    g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(agent, "local"),
                                               "generation"), ==, 1);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(
                         json_object_get_object_member(agent, "local"), "entries")), ==, 1);
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

/* Faults on the agent-reply path: the PF driver retries what was lost or
 * damaged and ignores what came twice; mailbox and reclaim still succeed. */
typedef struct {
    const char *name;
    const char *fault;
    const char *scope;      /* JSON members naming the scope, each after a comma */
    gboolean pf;            /* the PF's SA rather than VF 1's */
    const char *counter;
    gboolean retried;
} FaultCase;

static const FaultCase fault_cases[] = {
    { "drop", "drop", ", \"vf\": 1", FALSE, "pfdrv.fault-dropped", TRUE },
    { "corrupt", "corrupt", ", \"vf\": 1", FALSE, "pfdrv.fault-corrupted", TRUE },
    { "duplicate", "duplicate", ", \"vf\": 1", FALSE, "pfdrv.fault-duplicated", FALSE },
    { "delay", "delay", ", \"vf\": 1", FALSE, "pfdrv.fault-delayed", FALSE },
    { "pf-drop", "drop", ", \"pf\": true", TRUE, "pfdrv.fault-dropped", TRUE },
    { "port-drop", "drop", "", FALSE, "pfdrv.fault-dropped", TRUE },
};

static void
test_fault(gconstpointer data)
{
    const FaultCase *c = data;
    NicsimFixture *fx = nicsim_start(NULL);
    g_autoptr(VfsecContractClient) client = nicsim_contract_connect(fx, NULL, NULL);
    ReclaimWait rw = { 0 };
    guint64 retries = nicsim_counter(fx, "pfdrv.retries");

    nicsim_ctl_do(fx, "fault-set", "{\"port\": 0%s, \"fault\": \"%s\", \"count\": 1, "
                  "\"delay_ms\": 20}", c->scope, c->fault);
    add_sas(fx, c->pf ? "pf" : "vf", 1, 0x900, 1, "in");
    g_assert_cmpuint(nicsim_counter(fx, c->counter), ==, 1);
    g_assert_cmpuint(nicsim_sad_count(fx), ==, 1);
    g_assert_cmpuint(nicsim_db_count(fx), ==, 1);
    if (c->retried)
        g_assert_cmpuint(nicsim_counter(fx, "pfdrv.retries"), >, retries);
    if (!c->pf) {
        nicsim_ctl_do(fx, "fault-set", "{\"port\": 0%s, \"fault\": \"%s\", \"count\": "
                      "1, \"delay_ms\": 20}", c->scope, c->fault);
        vfsec_contract_client_reclaim_vf_async(client, 0, 1, 5000, 8000, NULL, reclaim_done,
                                               &rw);
        g_assert_true(nicsim_run_until(fx, &rw.done, NICSIM_WAIT_MS));
        g_assert_no_error(rw.error);
        g_assert_cmpuint(rw.reclaim.removed, ==, 1);
        g_assert_cmpuint(nicsim_counter(fx, c->counter), ==, 2);
        g_assert_cmpuint(nicsim_sad_count(fx), ==, 0);
    }
    vfsec_contract_client_close(client);
    nicsim_stop(fx);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    nicsim_require();
    g_test_add_func("/nicsim/reclaim/abandoned", test_abandoned);
    g_test_add_func("/nicsim/reclaim/gate", test_gate_shows_agent_first);
    g_test_add_func("/nicsim/reclaim/agent-reset", test_agent_reset);
    g_test_add_func("/nicsim/reclaim/times", test_times);
    for (guint i = 0; i < G_N_ELEMENTS(fault_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicsim/reclaim/fault/%s", fault_cases[i].name);

        g_test_add_data_func(path, &fault_cases[i], test_fault);
    }
    for (guint i = 0; i < G_N_ELEMENTS(batch_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nicsim/reclaim/%s", batch_cases[i].name);

        g_test_add_data_func(path, &batch_cases[i], test_batch);
    }
    return g_test_run();
}
