/* test-engine.c: vfsecd's engine on a fake PF plugin — ownership and key
 * checks, per-VF ordering and parallelism, quarantine, local-MAC tables,
 * release, the journal across a crash, reconcile, idempotency. */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "vfsec-engine.h"
#include "vfsec-error.h"
#include "vfsec-journal.h"
#include "vfsec-macfile.h"
#include "vfsec-test-util.h"

#define N_VFS 4
#define UUID_A "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
#define UUID_B "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
#define UUID_C "9b1e7c52-3f0a-4d8e-a6b1-2c4f5e6d7a8c"
#define UUID_D "0f3c9a7e-5b2d-4e1f-8a6c-7d9e0b1c2a3f"
#define PF_MAC "02:00:00:00:00:01"
#define MAC_A "52:54:00:00:00:0a"
#define MAC_B "52:54:00:00:00:0b"

/* ------------------------------------------------------------------ */
/* The fake plugin: an in-memory port */

typedef struct {
    VfsecPlugin parent;
    guint port_no;
    GPtrArray *vfs;                     /* VfsecContractVf* */
    VfsecContractMacTable *macs;
    gboolean gate[N_VFS];               /* hold reclaims of this VF */
    GPtrArray *held;                    /* GTask* of held reclaims */
    gboolean ignore_trust;              /* set-vf leaves trust alone */
    gboolean fail_reclaim;              /* reclaims fail (driver gone) */
    gboolean fail_start;                /* the driver cannot be reached at start */
    gboolean no_sa_reclaim;             /* caps: the driver keeps SAs across a reset */
    guint cas_bumps;                    /* change the generation before this many set-macs */
    guint n_reclaim, n_set_vf, n_set_macs, n_get_macs, n_switch;
} Fake;

static void
fake_free(VfsecPlugin *plugin)
{
    Fake *f = (Fake *)plugin;

    /* Answer what is held, as a driver whose owner went away would. */
    for (guint i = 0; i < f->held->len; i++)
        g_task_return_new_error(f->held->pdata[i], G_IO_ERROR, G_IO_ERROR_CANCELLED, "gone");
    g_ptr_array_unref(f->held);
    g_ptr_array_unref(f->vfs);
    vfsec_contract_mac_table_free(f->macs);
    vfsec_contract_port_free(plugin->port);
    g_free(plugin->label);
    g_free(f);
}

static void
fake_start_async(VfsecPlugin *plugin, GCancellable *c, GAsyncReadyCallback cb, gpointer data)
{
    Fake *f = (Fake *)plugin;
    g_autoptr(GTask) task = g_task_new(NULL, c, cb, data);

    if (f->fail_start) {
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO, "no PF driver");
        return;
    }
    plugin->caps = (VfsecPluginCaps){ TRUE, TRUE, TRUE, TRUE, TRUE };
    plugin->caps.reclaims_sas = !f->no_sa_reclaim;
    plugin->port = vfsec_contract_port_new();
    plugin->port->port = f->port_no;
    g_assert_true(vfsec_mac_parse(PF_MAC, &plugin->port->pf_mac, NULL));
    plugin->port->num_vfs = N_VFS;
    g_task_return_boolean(task, TRUE);
}

static gboolean
fake_bool_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    (void)plugin;
    return g_task_propagate_boolean(G_TASK(result), error);
}

static void
fake_list_async(VfsecPlugin *plugin, GCancellable *c, GAsyncReadyCallback cb, gpointer data)
{
    Fake *f = (Fake *)plugin;
    g_autoptr(GTask) task = g_task_new(NULL, c, cb, data);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_contract_vf_free);

    for (guint i = 0; i < f->vfs->len; i++)
        g_ptr_array_add(out, vfsec_contract_vf_copy(f->vfs->pdata[i]));
    g_task_return_pointer(task, out, (GDestroyNotify)g_ptr_array_unref);
}

static GPtrArray *
fake_list_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    (void)plugin;
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
fake_set_vf_async(VfsecPlugin *plugin, VfsecContractSetVfFields fields,
                  const VfsecContractVf *want, GCancellable *c, GAsyncReadyCallback cb,
                  gpointer data)
{
    Fake *f = (Fake *)plugin;
    g_autoptr(GTask) task = g_task_new(NULL, c, cb, data);
    VfsecContractVf *vf = f->vfs->pdata[want->vf];

    f->n_set_vf++;
    if (fields & VFSEC_CONTRACT_SET_VF_PORT_TAG) {
        vf->has_port_tag = want->has_port_tag;
        vf->port_tag = want->port_tag;
    }
    if ((fields & VFSEC_CONTRACT_SET_VF_TRUST) && !f->ignore_trust)
        vf->trust = want->trust;
    if (fields & VFSEC_CONTRACT_SET_VF_SPOOFCHK)
        vf->spoofchk = want->spoofchk;
    g_task_return_pointer(task, vfsec_contract_vf_copy(vf), (GDestroyNotify)vfsec_contract_vf_free);
}

static VfsecContractVf *
fake_set_vf_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    (void)plugin;
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
fake_do_reclaim(Fake *f, GTask *task)
{
    guint index = GPOINTER_TO_UINT(g_task_get_task_data(task));
    VfsecContractVf *vf = f->vfs->pdata[index];
    VfsecContractReclaim *out = g_new0(VfsecContractReclaim, 1);

    out->removed = vf->sa_count;
    vf->sa_count = 0;
    g_task_return_pointer(task, out, g_free);
}

static void
fake_reclaim_async(VfsecPlugin *plugin, guint vf, guint timeout_ms, GCancellable *c,
                   GAsyncReadyCallback cb, gpointer data)
{
    Fake *f = (Fake *)plugin;
    g_autoptr(GTask) task = g_task_new(NULL, c, cb, data);

    (void)timeout_ms;
    f->n_reclaim++;
    g_task_set_task_data(task, GUINT_TO_POINTER(vf), NULL);
    if (f->fail_reclaim) {
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO, "driver gone");
        return;
    }
    if (f->gate[vf]) {
        g_ptr_array_add(f->held, g_steal_pointer(&task));
        return;
    }
    fake_do_reclaim(f, task);
}

static gboolean
fake_reclaim_finish(VfsecPlugin *plugin, GAsyncResult *result, VfsecContractReclaim *out,
                    GError **error)
{
    g_autofree VfsecContractReclaim *r = g_task_propagate_pointer(G_TASK(result), error);

    (void)plugin;
    if (!r)
        return FALSE;
    *out = *r;
    return TRUE;
}

static VfsecContractMacTable *
table_copy(const VfsecContractMacTable *t)
{
    VfsecContractMacTable *c = vfsec_contract_mac_table_new(t->generation);

    for (guint i = 0; i < t->entries->len; i++) {
        const VfsecContractMacEntry *e = t->entries->pdata[i];
        VfsecContractMacEntry *n = vfsec_contract_mac_entry_new(&e->mac);

        g_array_append_vals(n->tags, e->tags->data, e->tags->len);
        g_ptr_array_add(c->entries, n);
    }
    return c;
}

static void
fake_get_macs_async(VfsecPlugin *plugin, GCancellable *c, GAsyncReadyCallback cb, gpointer data)
{
    Fake *f = (Fake *)plugin;
    g_autoptr(GTask) task = g_task_new(NULL, c, cb, data);

    f->n_get_macs++;
    g_task_return_pointer(task, table_copy(f->macs), (GDestroyNotify)vfsec_contract_mac_table_free);
}

static VfsecContractMacTable *
fake_get_macs_finish(VfsecPlugin *plugin, GAsyncResult *result, GError **error)
{
    (void)plugin;
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
fake_set_macs_async(VfsecPlugin *plugin, const VfsecContractMacTable *table, GCancellable *c,
                    GAsyncReadyCallback cb, gpointer data)
{
    Fake *f = (Fake *)plugin;
    g_autoptr(GTask) task = g_task_new(NULL, c, cb, data);

    f->n_set_macs++;
    if (f->cas_bumps > 0) {
        f->cas_bumps--;
        f->macs->generation++;
    }
    if (table->generation != f->macs->generation) {
        g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_CONFLICT, "generation moved");
        return;
    }
    vfsec_contract_mac_table_free(f->macs);
    f->macs = table_copy(table);
    f->macs->generation = table->generation + 1;
    g_task_return_int(task, (gssize)f->macs->generation);
}

static gboolean
fake_set_macs_finish(VfsecPlugin *plugin, GAsyncResult *result, guint64 *generation,
                     GError **error)
{
    gssize gen = g_task_propagate_int(G_TASK(result), error);

    (void)plugin;
    if (gen < 0)
        return FALSE;
    *generation = (guint64)gen;
    return TRUE;
}

static void
fake_switch_async(VfsecPlugin *plugin, VfsecContractSwitchMode mode, GCancellable *c,
                  GAsyncReadyCallback cb, gpointer data)
{
    Fake *f = (Fake *)plugin;
    g_autoptr(GTask) task = g_task_new(NULL, c, cb, data);

    g_assert_cmpint(mode, ==, VFSEC_CONTRACT_SWITCH_MODE_VEPA);
    f->n_switch++;
    g_task_return_boolean(task, TRUE);
}

static const VfsecPluginOps fake_ops = {
    .kind = "fake",
    .free = fake_free,
    .start_async = fake_start_async,
    .start_finish = fake_bool_finish,
    .list_vfs_async = fake_list_async,
    .list_vfs_finish = fake_list_finish,
    .set_vf_async = fake_set_vf_async,
    .set_vf_finish = fake_set_vf_finish,
    .reclaim_vf_async = fake_reclaim_async,
    .reclaim_vf_finish = fake_reclaim_finish,
    .get_macs_async = fake_get_macs_async,
    .get_macs_finish = fake_get_macs_finish,
    .set_macs_async = fake_set_macs_async,
    .set_macs_finish = fake_set_macs_finish,
    .set_switch_mode_async = fake_switch_async,
    .set_switch_mode_finish = fake_bool_finish,
};

/* Port @port_no: VF i is 0000:0<3+port>:10.i, netdev "p<port>v<i>", no settings. */
static Fake *
fake_new(const char *label, guint port_no)
{
    Fake *f = g_new0(Fake, 1);

    f->parent.ops = &fake_ops;
    f->parent.label = g_strdup(label);
    f->port_no = port_no;
    f->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_contract_vf_free);
    f->held = g_ptr_array_new();
    f->macs = vfsec_contract_mac_table_new(1);
    for (guint i = 0; i < N_VFS; i++) {
        VfsecContractVf *vf = vfsec_contract_vf_new();

        vf->port = port_no;
        vf->vf = i;
        vf->pci = (VfsecPciAddr){ 0, 3 + port_no, 0x10, i };
        vf->netdev = g_strdup_printf("p%uv%u", port_no, i);
        g_ptr_array_add(f->vfs, vf);
    }
    return f;
}

/* Opens @vf's gate and answers what it held: done, or (@fail) an error as
 * from a driver that gave up. */
static void
fake_take_held(Fake *f, guint vf, gboolean fail)
{
    f->gate[vf] = FALSE;
    for (guint i = 0; i < f->held->len;) {
        GTask *task = f->held->pdata[i];

        if (GPOINTER_TO_UINT(g_task_get_task_data(task)) != vf) {
            i++;
            continue;
        }
        g_ptr_array_remove_index(f->held, i);
        if (fail)
            g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO, "driver gave up");
        else
            fake_do_reclaim(f, task);
        g_object_unref(task);
    }
}

static void
fake_open_gate(Fake *f, guint vf)
{
    fake_take_held(f, vf, FALSE);
}

/* The held reclaims of @vf fail (the driver gave up); later ones go through. */
static void
fake_fail_gate(Fake *f, guint vf)
{
    fake_take_held(f, vf, TRUE);
}

static VfsecContractVf *
fake_vf(Fake *f, guint vf)
{
    return f->vfs->pdata[vf];
}

/* ------------------------------------------------------------------ */
/* Fixture */

typedef struct {
    char *dir;
    VfsecEngine *engine;
    Fake *p0;                   /* hairpin port */
    Fake *p1;                   /* VEB port */
    GString *audit;             /* "op " per audit entry */
    gboolean unreachable;       /* the next fixture_engine's drivers fail to start */
    gboolean no_sa_reclaim;     /* ... or report no SA reclaim */
} Fixture;

/* Appends "OP " to @audit for each audit entry, and one line
 * "OP DOMAIN VF COUNT" of its structured fields to test_entries. */
static GString *test_entries;

static GLogWriterOutput
audit_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
    GString *audit = data;
    const char *op = NULL, *domain = "", *vf = "", *count = "";

    for (gsize i = 0; i < n; i++) {
        const char *key = fields[i].key;

        if (strcmp(key, "VFSEC_OP") == 0)
            op = fields[i].value;
        else if (strcmp(key, "DOMAIN") == 0)
            domain = fields[i].value;
        else if (strcmp(key, "VF") == 0)
            vf = fields[i].value;
        else if (strcmp(key, "COUNT") == 0)
            count = fields[i].value;
    }
    if (!op)
        return g_log_writer_default(level, fields, n, NULL);
    g_string_append_printf(audit, "%s ", op);
    if (test_entries)
        g_string_append_printf(test_entries, "%s %s %s %s\n", op, domain, vf, count);
    return G_LOG_WRITER_HANDLED;
}

/* Whether an audit entry with these structured fields was logged. */
static gboolean
audited(const char *op, const char *domain, const char *vf, guint64 count)
{
    g_autofree char *line = g_strdup_printf("%s %s %s %" G_GUINT64_FORMAT "\n", op, domain, vf,
                                            count);

    return strstr(test_entries->str, line) != NULL;
}

static GString *test_audit;     /* where the writer (process-wide) appends */

static GLogWriterOutput
audit_writer_global(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
    (void)data;
    return audit_writer(level, fields, n, test_audit);
}

/* @extra: more groups (NULL: none). */
static VfsecConf *
make_conf(const char *dir, const char *extra)
{
    g_autofree char *text = g_strdup_printf(
        "%s[daemon]\nstate-dir = %s/state\nrun-dir = %s/run\n"
        "[pf p0]\nplugin = contract\nsocket = /nonexistent/pf.sock\nport = 0\nhairpin = true\n"
        "[pf p1]\nplugin = contract\nsocket = /nonexistent/pf.sock\nport = 1\nfail-closed = false\n",
        extra ? extra : "", dir, dir);
    g_autoptr(GError) error = NULL;
    VfsecConf *conf = vfsec_conf_load_data(text, strlen(text), &error);

    g_assert_no_error(error);
    return conf;
}

/* Iterates the main context until *flag is set; fails after 10 s. */
static void
wait_for(const gboolean *flag)
{
    g_assert_true(vfsec_test_run_until(NULL, flag, VFSEC_TEST_WAIT_MS));
}

/* Runs whatever is ready, without waiting. */
static void
drain(void)
{
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

typedef struct {
    gboolean done;
    gboolean ok;
    GError *error;
    VfsecEngineSummary summary;
} Op;

static void
op_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    Op *op = data;

    (void)source;
    op->ok = vfsec_engine_operation_finish(NULL, result, &op->error);
    op->done = TRUE;
}

static void
reconcile_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    Op *op = data;

    (void)source;
    op->ok = vfsec_engine_reconcile_finish(NULL, result, &op->summary, &op->error);
    op->done = TRUE;
}

static void
start_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    Op *op = data;

    (void)source;
    op->ok = vfsec_engine_start_finish(NULL, result, &op->error);
    op->done = TRUE;
}

static void
fixture_engine(Fixture *fx, const char *extra)
{
    g_autoptr(GError) error = NULL;
    GPtrArray *plugins = g_ptr_array_new_with_free_func((GDestroyNotify)fake_free);
    Op op = { 0 };

    fx->p0 = fake_new("p0", 0);
    fx->p1 = fake_new("p1", 1);
    fx->p0->fail_start = fx->p1->fail_start = fx->unreachable;
    fx->p0->no_sa_reclaim = fx->p1->no_sa_reclaim = fx->no_sa_reclaim;
    g_ptr_array_add(plugins, fx->p0);
    g_ptr_array_add(plugins, fx->p1);
    fx->engine = vfsec_engine_new(make_conf(fx->dir, extra), plugins, &error);
    g_assert_no_error(error);
    vfsec_engine_start_async(fx->engine, NULL, start_cb, &op);
    wait_for(&op.done);
    if (fx->unreachable) {
        g_assert_error(op.error, VFSEC_ERROR, VFSEC_ERROR_IO);
        g_clear_error(&op.error);
        return;
    }
    g_assert_no_error(op.error);
    g_assert_cmpuint(fx->p0->n_switch, ==, 1);      /* hairpin port: VEPA */
    g_assert_cmpuint(fx->p1->n_switch, ==, 0);
}

/* @data: configuration groups to add (a string), or NULL. */
static void
fixture_setup(Fixture *fx, gconstpointer data)
{
    fx->dir = vfsec_test_make_dir("engine");
    fx->audit = g_string_new(NULL);
    test_audit = fx->audit;
    test_entries = g_string_new(NULL);
    fixture_engine(fx, data);
}

static void
remove_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;

    if (!dir) {
        g_remove(path);
        return;
    }
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        remove_tree(child);
    }
    g_dir_close(dir);
    g_rmdir(path);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
    (void)data;
    vfsec_engine_free(fx->engine);
    drain();
    remove_tree(fx->dir);
    g_free(fx->dir);
    g_string_free(fx->audit, TRUE);
    test_audit = NULL;
    g_string_free(test_entries, TRUE);
    test_entries = NULL;
}

/* A hostdev interface on VF @vf of port @port (-1: an unmanaged PCI address). */
typedef struct {
    int port;
    guint vf;
    const char *mac;
    int vlan;                   /* -1: none */
} Att;

static VfsecDomain *
make_domain(const char *name, const char *uuid, const char *trust, const Att *atts, guint n)
{
    g_autoptr(GString) xml = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    VfsecDomain *domain;

    g_string_append_printf(xml, "<domain type='kvm' id='1'><name>%s</name><uuid>%s</uuid>",
                           name, uuid);
    if (trust)
        g_string_append_printf(xml, "<metadata><vfsec:policy xmlns:vfsec='%s' trust='%s'/>"
                               "</metadata>", VFSEC_POLICY_NS, trust);
    g_string_append(xml, "<devices>");
    for (guint i = 0; i < n; i++) {
        guint bus = atts[i].port < 0 ? 0x40 : 3 + (guint)atts[i].port;

        if (!atts[i].mac) {
            /* A plain hostdev: no MAC in the XML. */
            g_string_append_printf(xml, "<hostdev mode='subsystem' type='pci' managed='yes'>"
                                   "<source><address domain='0x0000' bus='0x%02x' "
                                   "slot='0x10' function='0x%x'/></source></hostdev>", bus,
                                   atts[i].vf);
            continue;
        }
        g_string_append_printf(xml, "<interface type='hostdev' managed='yes'>"
                               "<mac address='%s'/><source><address type='pci' "
                               "domain='0x0000' bus='0x%02x' slot='0x10' function='0x%x'/>"
                               "</source>", atts[i].mac, bus, atts[i].vf);
        if (atts[i].vlan >= 0)
            g_string_append_printf(xml, "<vlan><tag id='%d'/></vlan>", atts[i].vlan);
        g_string_append(xml, "</interface>");
    }
    g_string_append(xml, "</devices></domain>");
    domain = vfsec_domain_parse_string(xml->str, (gssize)xml->len, &error);
    g_assert_no_error(error);
    return domain;
}

/* Runs @op_kind to completion; returns its error (or NULL). */
static GError *
run(Fixture *fx, VfsecEngineOp op_kind, const VfsecDomain *domain)
{
    Op op = { 0 };

    vfsec_engine_run_async(fx->engine, op_kind, domain, NULL, op_cb, &op);
    wait_for(&op.done);
    g_assert_true(op.ok == (op.error == NULL));
    return op.error;
}

static void
run_ok(Fixture *fx, VfsecEngineOp op_kind, const VfsecDomain *domain)
{
    g_autoptr(GError) error = run(fx, op_kind, domain);

    g_assert_no_error(error);
}

/* The row vfs_json() gives for VF @vf of @pf (a new reference). */
static JsonObject *
vf_row(Fixture *fx, const char *pf, guint vf)
{
    g_autoptr(JsonNode) node = vfsec_engine_vfs_json(fx->engine);
    JsonArray *rows = json_node_get_array(node);

    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);

        if (strcmp(json_object_get_string_member(row, "pf"), pf) == 0 &&
            (guint)json_object_get_int_member(row, "vf") == vf)
            return json_object_ref(row);
    }
    g_assert_not_reached();
}

/* The owner the engine reports for VF @vf of @pf, or NULL (new string). */
static char *
owner_of(Fixture *fx, const char *pf, guint vf)
{
    g_autoptr(JsonObject) row = vf_row(fx, pf, vf);

    return g_strdup(json_object_get_string_member(row, "owner"));
}

static void
assert_owner(Fixture *fx, const char *pf, guint vf, const char *want)
{
    g_autofree char *owner = owner_of(fx, pf, vf);

    g_assert_cmpstr(owner, ==, want);
}

/* ------------------------------------------------------------------ */
/* Tests */

static void
test_prepare_reclaims(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);

    (void)data;
    fake_vf(fx->p0, 1)->sa_count = 5;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 0);
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 1);
    assert_owner(fx, "p0", 1, "A");
    g_assert_nonnull(strstr(fx->audit->str, "reclaim prepare"));
    g_assert_true(audited("reclaim", "A", "0000:03:10.1", 5));

    /* Idempotent: hook and event both asking acts once. */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 1);
}

static void
test_gate_holds_prepare(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);
    Op op = { 0 };

    (void)data;
    fx->p0->gate[1] = TRUE;
    fake_vf(fx->p0, 1)->sa_count = 3;
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, a, NULL, op_cb, &op);
    drain();
    g_assert_false(op.done);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 3);
    fake_open_gate(fx->p0, 1);
    wait_for(&op.done);
    g_assert_no_error(op.error);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 0);
}

static void
test_parallel_vfs(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 2, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    Op op_a = { 0 };

    (void)data;
    fx->p0->gate[1] = TRUE;
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, a, NULL, op_cb, &op_a);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);      /* not stalled by A's reclaim */
    g_assert_false(op_a.done);
    fake_open_gate(fx->p0, 1);
    wait_for(&op_a.done);
    g_assert_no_error(op_a.error);
}

static void
test_same_vf_order(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 1, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    Op op_a = { 0 }, op_rel = { 0 }, op_b = { 0 };

    (void)data;
    /* A prepares (held), A is released, then B prepares: in that order. */
    fx->p0->gate[1] = TRUE;
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, a, NULL, op_cb, &op_a);
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_RELEASE, a, NULL, op_cb, &op_rel);
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, b, NULL, op_cb, &op_b);
    drain();
    g_assert_false(op_a.done || op_rel.done || op_b.done);
    fake_open_gate(fx->p0, 1);
    wait_for(&op_b.done);
    g_assert_true(op_a.done && op_rel.done);
    g_assert_no_error(op_a.error);
    g_assert_no_error(op_rel.error);
    g_assert_no_error(op_b.error);
    assert_owner(fx, "p0", 1, "B");
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 3);     /* A's prepare, A's release, B's prepare */
}

static void
test_owned_refused(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b[] = { { 0, 2, MAC_B, -1 }, { 0, 1, "52:54:00:00:00:0c", 7 } };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, "trusted", att_b, 2);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) domains = NULL;
    g_autofree char *text = NULL;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    error = run(fx, VFSEC_ENGINE_OP_PREPARE, b);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_assert_cmpstr(error->message, ==, "VF 0000:03:10.1 is owned by running domain A");
    /* Nothing half-owned: B's claim on VF 2 was given back. */
    assert_owner(fx, "p0", 2, NULL);
    assert_owner(fx, "p0", 1, "A");
    domains = vfsec_engine_domains_json(fx->engine);
    text = json_to_string(domains, FALSE);
    g_assert_nonnull(strstr(text, "owned by running domain A"));
    g_assert_nonnull(strstr(fx->audit->str, "refuse rollback"));
    g_assert_true(audited("refuse", "B", "", 0));
    g_assert_true(audited("rollback", "B", "0000:03:10.2", 0));

    /* A later successful prepare clears the refusal. */
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    g_clear_pointer(&domains, json_node_unref);
    g_clear_pointer(&text, g_free);
    domains = vfsec_engine_domains_json(fx->engine);
    text = json_to_string(domains, FALSE);
    g_assert_null(strstr(text, "owned by running domain A"));
    g_assert_nonnull(strstr(text, "\"0000:03:10.1\""));
}

static void assert_fake_table(Fake *f, const char *mac, guint n_entries);

/* A start whose second VF cannot be reclaimed: the first VF, already
 * quarantined and published by the start's queued jobs, is given back whole
 * (unowned, unpublished, quarantined) before the refusal is answered. */
static void
test_refused_rollback(Fixture *fx, gconstpointer data)
{
    const Att att[] = { { 0, 1, MAC_A, -1 }, { 0, 2, MAC_B, -1 } };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, "trusted", att, 2);
    Op op_p = { 0 }, op_q = { 0 }, op_pub = { 0 };

    (void)data;
    fx->p0->gate[2] = TRUE;
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, a, NULL, op_cb, &op_p);
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_QUARANTINE, a, NULL, op_cb, &op_q);
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PUBLISH, a, NULL, op_cb, &op_pub);
    drain();
    g_assert_false(op_p.done);
    assert_fake_table(fx->p0, MAC_A, 1);            /* VF 1 went all the way */
    g_assert_false(fake_vf(fx->p0, 1)->has_port_tag);   /* trusted: untagged */
    fake_fail_gate(fx->p0, 2);
    wait_for(&op_p.done);
    g_assert_error(op_p.error, VFSEC_ERROR, VFSEC_ERROR_IO);
    wait_for(&op_q.done);
    wait_for(&op_pub.done);
    drain();                                        /* the rollback's port calls */
    assert_owner(fx, "p0", 1, NULL);
    assert_owner(fx, "p0", 2, NULL);
    assert_fake_table(fx->p0, NULL, 0);
    g_assert_true(fake_vf(fx->p0, 1)->has_port_tag);
    g_assert_true(fake_vf(fx->p0, 2)->has_port_tag);
    g_clear_error(&op_p.error);
    g_clear_error(&op_q.error);
    g_clear_error(&op_pub.error);
}

typedef struct {
    const char *name;
    Att a;
    Att b;
    const char *trust_b;
    const char *message;        /* NULL: accepted */
} KeyCase;

static const KeyCase key_cases[] = {
    { "same-mac-same-port", { 0, 1, MAC_A, -1 }, { 0, 2, MAC_A, -1 }, NULL,
      "VF 0000:03:10.2: MAC 52:54:00:00:00:0a (untagged) of domain B collides with domain A "
      "on VF 0000:03:10.1" },
    { "same-mac-same-vlan", { 0, 1, MAC_A, 5 }, { 0, 2, MAC_A, 5 }, "trusted",
      "VF 0000:03:10.2: MAC 52:54:00:00:00:0a (5) of domain B collides with domain A "
      "on VF 0000:03:10.1" },
    { "pf-mac", { 0, 1, MAC_A, -1 }, { 0, 2, PF_MAC, -1 }, NULL,
      "VF 0000:03:10.2: MAC 02:00:00:00:00:01 of domain B collides with PF p0's own MAC" },
    { "same-mac-other-vlan", { 0, 1, MAC_A, 5 }, { 0, 2, MAC_A, 6 }, "trusted", NULL },
    { "same-mac-other-port", { 0, 1, MAC_A, -1 }, { 1, 1, MAC_A, -1 }, NULL, NULL },
};

static void
test_key_collision(Fixture *fx, gconstpointer data)
{
    (void)data;
    for (guint i = 0; i < G_N_ELEMENTS(key_cases); i++) {
        const KeyCase *c = &key_cases[i];
        g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, c->a.vlan >= 0 ? "trusted" : NULL,
                                               &c->a, 1);
        g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, c->trust_b, &c->b, 1);
        g_autoptr(GError) error = NULL;

        g_test_message("case %s", c->name);
        run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
        error = run(fx, VFSEC_ENGINE_OP_PREPARE, b);
        if (c->message) {
            g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
            g_assert_cmpstr(error->message, ==, c->message);
        } else {
            g_assert_no_error(error);
        }
        run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);
        run_ok(fx, VFSEC_ENGINE_OP_RELEASE, b);
    }
}

static void
test_untrusted_vlan_refused(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, 42 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);
    g_autoptr(GError) error = NULL;

    (void)data;
    error = run(fx, VFSEC_ENGINE_OP_PREPARE, a);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(error->message, "VF 0000:03:10.1"));
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 0);
    assert_owner(fx, "p0", 1, NULL);
}

static void
test_quarantine(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 1, 2, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, "trusted", &att_b, 1);
    VfsecContractVf *vf;
    guint n_set;

    (void)data;
    fake_vf(fx->p0, 1)->trust = TRUE;
    fake_vf(fx->p0, 1)->spoofchk = FALSE;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    vf = fake_vf(fx->p0, 1);
    g_assert_true(vf->has_port_tag);
    g_assert_cmpuint(vf->port_tag.tpid, ==, VFSEC_TPID_8021Q);
    g_assert_cmpuint(vf->port_tag.vid, ==, VFSEC_CONF_DEFAULT_METADATA_VID);
    g_assert_cmpuint(vf->port_tag.pcp, ==, 0);
    g_assert_false(vf->trust);
    g_assert_true(vf->spoofchk);
    g_assert_cmpuint(fx->p0->n_set_vf, ==, 1);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);   /* already so: no call */
    g_assert_cmpuint(fx->p0->n_set_vf, ==, 1);

    /* Next start of A: libvirt resets the VF's VLAN between prepare and
     * start (no <vlan>), so the quarantine must set and read back although
     * the port was quarantined when the prepare ran. */
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);
    g_assert_true(vf->has_port_tag);
    n_set = fx->p0->n_set_vf;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    vf->has_port_tag = FALSE;
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    g_assert_true(vf->has_port_tag);
    g_assert_cmpuint(vf->port_tag.vid, ==, VFSEC_CONF_DEFAULT_METADATA_VID);
    g_assert_cmpuint(fx->p0->n_set_vf, ==, n_set + 1);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);   /* hook and event: once */
    g_assert_cmpuint(fx->p0->n_set_vf, ==, n_set + 1);

    /* Trusted: no port tag, so its metadata reaches the agent. */
    fake_vf(fx->p1, 2)->has_port_tag = TRUE;
    fake_vf(fx->p1, 2)->port_tag = (VfsecContractPortTag){ VFSEC_TPID_8021Q, 4092, 0 };
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, b);
    g_assert_false(fake_vf(fx->p1, 2)->has_port_tag);
    g_assert_false(fake_vf(fx->p1, 2)->trust);
    g_assert_true(fake_vf(fx->p1, 2)->spoofchk);
}

/* A network port-created claims with the host defaults (its XML has no
 * metadata); the start's full XML then says otherwise and must win. */
static void
test_terms_updated(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    const Att att_vlan = { 0, 2, MAC_B, 42 };
    g_autoptr(VfsecDomain) port = make_domain("A", UUID_A, NULL, &att, 1);
    g_autoptr(VfsecDomain) full = make_domain("A", UUID_A, "trusted", &att, 1);
    const Att att_c = { 0, 1, "52:54:00:00:00:0c", -1 };
    g_autoptr(VfsecDomain) other_mac = make_domain("A", UUID_A, NULL, &att_c, 1);
    g_autoptr(VfsecDomain) port_b = make_domain("B", UUID_B, "trusted", &att_vlan, 1);
    g_autoptr(VfsecDomain) full_b = make_domain("B", UUID_B, NULL, &att_vlan, 1);
    g_autoptr(GError) error = NULL;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, port);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, port);
    g_assert_true(fake_vf(fx->p0, 1)->has_port_tag);
    /* Trusted by its metadata: no port tag, its offload works. */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, full);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, full);
    g_assert_false(fake_vf(fx->p0, 1)->has_port_tag);
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 1);             /* claimed once */
    /* And back: untrusted must be tagged again (no fail-open). */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, port);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, port);
    g_assert_true(fake_vf(fx->p0, 1)->has_port_tag);

    /* Published under the port's MAC; the full XML names another: the
     * table follows the new terms. */
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, port);
    assert_fake_table(fx->p0, MAC_A, 1);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, other_mac);
    assert_fake_table(fx->p0, NULL, 0);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, other_mac);
    assert_fake_table(fx->p0, "52:54:00:00:00:0c", 1);

    /* Claimed as trusted with a <vlan>; the full XML says untrusted: an
     * untrusted domain's <vlan> is refused, as for any claim. */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, port_b);
    error = run(fx, VFSEC_ENGINE_OP_PREPARE, full_b);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
}

static void
test_quarantine_readback(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);
    g_autoptr(GError) error = NULL;

    (void)data;
    fake_vf(fx->p0, 1)->trust = TRUE;
    fx->p0->ignore_trust = TRUE;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    error = run(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED);
    g_assert_cmpstr(error->message, ==,
                    "VF 0000:03:10.1 reads back a different trust than was set");
}

static void
assert_fake_table(Fake *f, const char *mac, guint n_entries)
{
    g_assert_cmpuint(f->macs->entries->len, ==, n_entries);
    if (mac) {
        const VfsecContractMacEntry *e = f->macs->entries->pdata[0];
        char buf[VFSEC_MAC_STRLEN];

        g_assert_cmpstr(vfsec_mac_format(&e->mac, buf), ==, mac);
    }
}

/* Takes @node. */
static void
assert_json(JsonNode *node, const char *want)
{
    g_autofree char *text = json_to_string(node, FALSE);

    json_node_unref(node);
    g_assert_cmpstr(text, ==, want);
}

static void
test_publish(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 1, 1, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autofree char *macdir = g_build_filename(fx->dir, "run", "local-macs", NULL);
    g_autoptr(VfsecMacTable) file = NULL;
    g_autoptr(GError) error = NULL;
    char buf[VFSEC_MAC_STRLEN];

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    fx->p0->cas_bumps = 1;                  /* someone moved the generation: retried */
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    g_assert_cmpuint(fx->p0->n_set_macs, ==, 2);
    assert_fake_table(fx->p0, MAC_A, 1);
    file = vfsec_macfile_read(macdir, "p0", NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(file->entries->len, ==, 1);
    g_assert_cmpstr(vfsec_mac_format(&((VfsecMacEntry *)file->entries->pdata[0])->mac, buf), ==,
                    MAC_A);
    g_assert_cmpint(((VfsecMacEntry *)file->entries->pdata[0])->vf, ==, 1);
    g_assert_cmpstr(((VfsecMacEntry *)file->entries->pdata[0])->owner_name, ==, "A");

    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);      /* idempotent */
    g_assert_cmpuint(fx->p0->n_set_macs, ==, 2);
    assert_json(vfsec_engine_macs_json(fx->engine),
                "[{\"pf\":\"p0\",\"generation\":1,\"entries\":[{\"mac\":"
                "\"52:54:00:00:00:0a\",\"vf\":1,\"owner\":\"A\"}]},"
                "{\"pf\":\"p1\",\"generation\":0,\"entries\":[]}]");
    assert_json(vfsec_engine_status_json(fx->engine),
                "[{\"pf\":\"p0\",\"plugin\":\"fake\",\"connected\":true,\"vfs\":4},"
                "{\"pf\":\"p1\",\"plugin\":\"fake\",\"connected\":true,\"vfs\":4}]");

    /* p1 has no hairpin: nothing published. */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, b);
    g_assert_cmpuint(fx->p1->n_set_macs, ==, 0);

    /* Release: SAs reclaimed, unpublished, back in quarantine, unowned. */
    fake_vf(fx->p0, 1)->sa_count = 9;
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 0);
    assert_fake_table(fx->p0, NULL, 0);
    g_clear_pointer(&file, vfsec_mac_table_free);
    file = vfsec_macfile_read(macdir, "p0", NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(file->entries->len, ==, 0);
    g_assert_true(fake_vf(fx->p0, 1)->has_port_tag);
    g_assert_false(fake_vf(fx->p0, 1)->trust);
    assert_owner(fx, "p0", 1, NULL);
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);      /* idempotent */
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 2);
}

static void
test_release_trusted_requarantined(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, "trusted", &att, 1);

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    g_assert_false(fake_vf(fx->p0, 1)->has_port_tag);
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);
    g_assert_true(fake_vf(fx->p0, 1)->has_port_tag);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->port_tag.vid, ==, VFSEC_CONF_DEFAULT_METADATA_VID);
}

static void
test_unmanaged_ignored(Fixture *fx, gconstpointer data)
{
    const Att att = { -1, 1, MAC_A, 42 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);
    g_assert_cmpuint(fx->p0->n_reclaim + fx->p1->n_reclaim, ==, 0);
    g_assert_cmpuint(fx->p0->n_set_vf + fx->p1->n_set_vf, ==, 0);
    g_assert_cmpuint(fx->p0->n_set_macs + fx->p1->n_set_macs, ==, 0);
}

static void
test_attach_detach(Fixture *fx, gconstpointer data)
{
    const Att att[] = { { 0, 1, MAC_A, -1 }, { 0, 2, MAC_B, -1 } };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, att, 2);
    Op op = { 0 };

    (void)data;
    vfsec_engine_attach_async(fx->engine, a, 1, NULL, op_cb, &op);
    wait_for(&op.done);
    g_assert_no_error(op.error);
    assert_owner(fx, "p0", 1, NULL);
    assert_owner(fx, "p0", 2, "A");
    g_assert_true(fake_vf(fx->p0, 2)->has_port_tag);
    assert_fake_table(fx->p0, MAC_B, 1);
    op = (Op){ 0 };
    vfsec_engine_detach_async(fx->engine, a, 1, NULL, op_cb, &op);
    wait_for(&op.done);
    g_assert_no_error(op.error);
    assert_owner(fx, "p0", 2, NULL);
    assert_fake_table(fx->p0, NULL, 0);
}

/* DEVICE_REMOVED hands the engine only the live XML after the removal: the
 * VF the domain owns and no longer names is released, the other stays. */
static void
test_detach_missing(Fixture *fx, gconstpointer data)
{
    const Att both[] = { { 0, 1, MAC_A, -1 }, { 0, 2, MAC_B, -1 } };
    g_autoptr(VfsecDomain) before = make_domain("A", UUID_A, NULL, both, 2);
    g_autoptr(VfsecDomain) after = make_domain("A", UUID_A, NULL, both, 1);
    Op op = { 0 };
    guint n;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, before);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, before);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, before);
    assert_fake_table(fx->p0, NULL, 2);
    fake_vf(fx->p0, 2)->sa_count = 6;
    vfsec_engine_detach_missing_async(fx->engine, after, NULL, op_cb, &op);
    wait_for(&op.done);
    g_assert_no_error(op.error);
    assert_owner(fx, "p0", 1, "A");
    assert_owner(fx, "p0", 2, NULL);
    g_assert_cmpuint(fake_vf(fx->p0, 2)->sa_count, ==, 0);
    assert_fake_table(fx->p0, MAC_A, 1);
    n = fx->p0->n_reclaim;
    op = (Op){ 0 };
    vfsec_engine_detach_missing_async(fx->engine, after, NULL, op_cb, &op);   /* again */
    wait_for(&op.done);
    g_assert_no_error(op.error);
    g_assert_cmpuint(fx->p0->n_reclaim, ==, n);
}

/* A transient domain (never defined, so never undefined) leaves no record
 * once it stopped. */
static void
test_transient_forgotten(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) t = make_domain("T", UUID_A, NULL, &att, 1);
    g_autoptr(JsonNode) node = NULL;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, t);
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, t);
    node = vfsec_engine_domains_json(fx->engine);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(node)), ==, 0);
}

static void
run_reconcile(Fixture *fx, GPtrArray *domains, VfsecEngineSummary *summary)
{
    Op op = { 0 };

    vfsec_engine_reconcile_async(fx->engine, domains, NULL, reconcile_cb, &op);
    wait_for(&op.done);
    g_assert_no_error(op.error);
    *summary = op.summary;
}

static void
test_crash_journal(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);
    g_autoptr(GPtrArray) none = g_ptr_array_new();
    g_autoptr(GPtrArray) pending = NULL;
    g_autofree char *state = g_build_filename(fx->dir, "state", NULL);
    g_autoptr(VfsecJournal) journal = NULL;
    g_autoptr(GError) error = NULL;
    VfsecEngineSummary s;
    Op op = { 0 };

    (void)data;
    fx->p0->gate[1] = TRUE;
    fake_vf(fx->p0, 1)->sa_count = 4;
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, a, NULL, op_cb, &op);
    drain();
    g_assert_false(op.done);
    /* "Crash": the engine goes away mid-reclaim. */
    g_clear_pointer(&fx->engine, vfsec_engine_free);
    wait_for(&op.done);
    g_assert_error(op.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error(&op.error);

    fixture_engine(fx, NULL);
    fake_vf(fx->p0, 1)->sa_count = 4;       /* the device still holds them */
    assert_owner(fx, "p0", 1, "A");         /* restored from the journal */
    run_reconcile(fx, none, &s);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 0);
    g_assert_cmpuint(s.released, ==, 1);
    g_assert_cmpuint(s.intents_finished, >=, 1);
    assert_owner(fx, "p0", 1, NULL);
    g_clear_pointer(&fx->engine, vfsec_engine_free);

    journal = vfsec_journal_open(state, NULL, &error);
    g_assert_no_error(error);
    pending = vfsec_journal_list_pending(journal);
    g_assert_cmpuint(pending->len, ==, 0);
    g_assert_null(vfsec_journal_get_assignment(journal, "p0", 1));
}

/* The files of the flat directory @from, copied into @to (created). */
static void
copy_flat_dir(const char *from, const char *to)
{
    g_autoptr(GDir) dir = g_dir_open(from, 0, NULL);
    const char *name;

    g_assert_nonnull(dir);
    g_assert_cmpint(g_mkdir_with_parents(to, 0700), ==, 0);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *src = g_build_filename(from, name, NULL);
        g_autofree char *dst = g_build_filename(to, name, NULL);
        g_autofree char *text = NULL;
        gsize len;

        g_assert_true(g_file_get_contents(src, &text, &len, NULL));
        g_assert_true(g_file_set_contents(dst, text, (gssize)len, NULL));
    }
}

/* The device as a domain's start left it (its SAs, its port without the
 * quarantine tag, its MAC in the agent's table), after a restart of the
 * engine, whose fakes start blank. */
static void
device_as_started(Fixture *fx, guint sas)
{
    VfsecMac mac;

    fake_vf(fx->p0, 1)->sa_count = sas;
    fake_vf(fx->p0, 1)->has_port_tag = FALSE;
    g_assert_true(vfsec_mac_parse(MAC_A, &mac, NULL));
    g_ptr_array_add(fx->p0->macs->entries, vfsec_contract_mac_entry_new(&mac));
}

typedef enum {
    LOST_STAGED_RUNNING,    /* vfsecd crash: the start's staged writes lost, A runs on */
    LOST_RELEASE,           /* vfsecd crash: everything the release wrote lost */
    LOST_ALL,               /* host crash: nothing of the journal reached the disk */
} LostKind;

/* docs/engine.md, "Crash safety": what a crash can take from the journal
 * (staged changes, the flusher's last round) reconcile puts back from the
 * running domains and the device. The journal is rolled back to a copy
 * taken before the writes in question; the device keeps the worst state
 * it could have then. */
static void
crash_lost_writes(Fixture *fx, LostKind kind)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, "trusted", &att, 1);
    g_autoptr(GPtrArray) running = g_ptr_array_new();
    g_autofree char *state = g_build_filename(fx->dir, "state", NULL);
    g_autofree char *copy = g_build_filename(fx->dir, "state-copy", NULL);
    VfsecEngineSummary s;

    if (kind == LOST_ALL)
        g_assert_cmpint(g_mkdir_with_parents(copy, 0700), ==, 0);   /* nothing durable */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    drain();
    if (kind == LOST_STAGED_RUNNING)
        copy_flat_dir(state, copy);     /* the claim, the reclaim and its done only */
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    drain();
    g_assert_false(fake_vf(fx->p0, 1)->has_port_tag);   /* trusted: untagged */
    assert_fake_table(fx->p0, MAC_A, 1);
    if (kind == LOST_RELEASE) {
        copy_flat_dir(state, copy);     /* A owns the VF, published */
        run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);
        drain();
        assert_owner(fx, "p0", 1, NULL);
    }
    g_clear_pointer(&fx->engine, vfsec_engine_free);
    remove_tree(state);
    copy_flat_dir(copy, state);

    fixture_engine(fx, NULL);
    if (kind == LOST_STAGED_RUNNING) {
        /* A runs on, with SAs of its own since its start. */
        device_as_started(fx, 6);
        g_ptr_array_add(running, a);
        run_reconcile(fx, running, &s);
        g_assert_cmpuint(s.failed, ==, 0);
        assert_owner(fx, "p0", 1, "A");
        g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 6);  /* a running guest's */
        g_assert_cmpuint(fx->p0->n_reclaim, ==, 0);
        g_assert_false(fake_vf(fx->p0, 1)->has_port_tag);
        assert_fake_table(fx->p0, MAC_A, 1);
    } else {
        /* A is gone (destroyed, or the host went down), but the device
         * still holds what its start left: the worst case. */
        device_as_started(fx, 6);
        run_reconcile(fx, running, &s);
        g_assert_cmpuint(s.failed, ==, 0);
        assert_owner(fx, "p0", 1, NULL);
        g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 0);
        g_assert_true(fake_vf(fx->p0, 1)->has_port_tag);        /* quarantined again */
        assert_fake_table(fx->p0, NULL, 0);
    }
    remove_tree(copy);
}

static void
test_crash_lost_staged(Fixture *fx, gconstpointer data)
{
    (void)data;
    crash_lost_writes(fx, LOST_STAGED_RUNNING);
}

static void
test_crash_lost_release(Fixture *fx, gconstpointer data)
{
    (void)data;
    crash_lost_writes(fx, LOST_RELEASE);
}

static void
test_crash_lost_host(Fixture *fx, gconstpointer data)
{
    (void)data;
    crash_lost_writes(fx, LOST_ALL);
}

/* vfsecd restarts while the PF drivers are away: a VF it knows (journal)
 * to be on fail-closed p0 refuses the start; on p1 (not fail-closed) the
 * start goes on, logged. */
static void
test_unreached_pf(Fixture *fx, gconstpointer data)
{
    const Att att[] = { { 0, 1, MAC_A, -1 }, { 1, 1, MAC_B, -1 } };
    const Att att_b = { 0, 1, MAC_A, -1 };
    const Att att_c = { 1, 1, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, att, 2);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(VfsecDomain) c = make_domain("C", UUID_C, NULL, &att_c, 1);
    g_autoptr(GError) error = NULL;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    g_clear_pointer(&fx->engine, vfsec_engine_free);
    fx->unreachable = TRUE;
    fixture_engine(fx, NULL);
    error = run(fx, VFSEC_ENGINE_OP_PREPARE, b);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED);
    g_assert_cmpstr(error->message, ==, "VF 0000:03:10.1 of domain B is on PF p0, whose "
                    "driver vfsecd has not reached");
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, c);
    g_assert_true(audited("fail-open", "C", "", 0));
}

/* Drivers that cannot vouch for an SA reclaim (caps): the reset runs, but a
 * start on fail-closed p0 is refused; on p1 it goes on, logged. */
static void
test_no_sa_reclaim(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 1, 1, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(GError) error = NULL;

    (void)data;
    g_clear_pointer(&fx->engine, vfsec_engine_free);
    fx->no_sa_reclaim = TRUE;
    fixture_engine(fx, NULL);
    error = run(fx, VFSEC_ENGINE_OP_PREPARE, a);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(error->message, "VF 0000:03:10.1"));
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 1);
    assert_owner(fx, "p0", 1, NULL);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    assert_owner(fx, "p1", 1, "B");
    g_assert_cmpuint(fx->p1->n_reclaim, ==, 1);
    g_assert_true(audited("fail-open", "B", "0000:04:10.1", 0));
}

/* A plain <hostdev> has no MAC in the XML: the VF's administrative MAC is
 * its key and what is published; without one a fail-closed PF refuses. */
static void
test_plain_hostdev(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, NULL, -1 };
    const Att att_b = { 0, 2, MAC_A, -1 };
    const Att att_c = { 0, 3, NULL, -1 };
    const Att att_d = { 1, 3, NULL, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(VfsecDomain) c = make_domain("C", UUID_C, NULL, &att_c, 1);
    g_autoptr(VfsecDomain) d = make_domain("D", UUID_D, NULL, &att_d, 1);
    g_autoptr(GPtrArray) none = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    VfsecEngineSummary s;

    (void)data;
    fake_vf(fx->p0, 1)->has_mac = TRUE;
    g_assert_true(vfsec_mac_parse(MAC_A, &fake_vf(fx->p0, 1)->mac, NULL));
    run_reconcile(fx, none, &s);                    /* the engine reads it */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    assert_fake_table(fx->p0, MAC_A, 1);
    error = run(fx, VFSEC_ENGINE_OP_PREPARE, b);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_clear_error(&error);

    error = run(fx, VFSEC_ENGINE_OP_PREPARE, c);   /* no MAC anywhere, fail-closed */
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "VF 0000:03:10.3 of domain C has no MAC"));
    assert_owner(fx, "p0", 3, NULL);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, d);         /* p1 is not fail-closed */
    assert_owner(fx, "p1", 3, "D");
}

/* The running domains were listed before B's start claimed its VF: the
 * reconcile on that list releases A (stopped before the listing) but not B. */
static void
test_reconcile_stale_list(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 2, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(GPtrArray) none = g_ptr_array_new();
    gint64 listed_at;
    Op op = { 0 };

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    listed_at = g_get_monotonic_time();             /* the list: nothing runs */
    while (g_get_monotonic_time() == listed_at)
        ;                                           /* the clock's resolution */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    vfsec_engine_reconcile_listed_async(fx->engine, none, listed_at, NULL, reconcile_cb, &op);
    wait_for(&op.done);
    g_assert_no_error(op.error);
    assert_owner(fx, "p0", 1, NULL);
    assert_owner(fx, "p0", 2, "B");
    g_assert_cmpuint(op.summary.released, ==, 1);
}

static void
test_reconcile(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);
    g_autoptr(GPtrArray) running = g_ptr_array_new();
    VfsecEngineSummary s;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    g_ptr_array_add(running, a);

    /* First reconcile quarantines the VFs nobody owns. */
    run_reconcile(fx, running, &s);
    g_assert_cmpuint(s.quarantined, ==, 2 * N_VFS - 1);
    g_assert_cmpuint(s.republished, ==, 0);

    /* Behind the engine's back: SAs on an unowned VF, the agent lost the table. */
    fake_vf(fx->p0, 3)->sa_count = 6;
    g_ptr_array_set_size(fx->p0->macs->entries, 0);
    fx->p0->macs->generation++;
    run_reconcile(fx, running, &s);
    g_assert_cmpuint(s.reclaimed, ==, 1);
    g_assert_cmpuint(s.republished, ==, 1);
    g_assert_cmpuint(s.quarantined, ==, 0);
    g_assert_cmpuint(s.failed, ==, 0);
    g_assert_cmpuint(fake_vf(fx->p0, 3)->sa_count, ==, 0);
    assert_fake_table(fx->p0, MAC_A, 1);
    assert_owner(fx, "p0", 1, "A");

    /* Nothing left to do: no plugin writes. */
    fx->p0->n_set_vf = fx->p0->n_reclaim = fx->p0->n_set_macs = 0;
    run_reconcile(fx, running, &s);
    g_assert_cmpuint(fx->p0->n_set_vf + fx->p0->n_reclaim + fx->p0->n_set_macs, ==, 0);
}

static void
test_vf_reset_event(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    fake_vf(fx->p0, 1)->has_port_tag = FALSE;       /* the reset lost it */
    fx->p0->parent.event_func(&fx->p0->parent, VFSEC_PLUGIN_EVENT_VF_RESET, 1, NULL,
                              fx->p0->parent.event_data);
    drain();
    g_assert_true(fake_vf(fx->p0, 1)->has_port_tag);
}

static void
emit(Fake *f, VfsecPluginEvent event, int vf)
{
    f->parent.event_func(&f->parent, event, vf, NULL, f->parent.event_data);
}

static void
test_agent_reset_and_reconnect(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    assert_fake_table(fx->p0, MAC_A, 1);

    /* The agent lost its table (the PF driver may move the generation). */
    g_ptr_array_set_size(fx->p0->macs->entries, 0);
    fx->p0->macs->generation += 3;
    emit(fx->p0, VFSEC_PLUGIN_EVENT_AGENT_RESET, -1);
    while (fx->p0->macs->entries->len == 0)
        g_assert_true(g_main_context_iteration(NULL, FALSE));
    assert_fake_table(fx->p0, MAC_A, 1);

    /* Reconnected: the registry's owners stand, what nobody owns is reclaimed. */
    fake_vf(fx->p0, 1)->sa_count = 2;
    fake_vf(fx->p0, 2)->sa_count = 8;
    emit(fx->p0, VFSEC_PLUGIN_EVENT_RECONNECTED, -1);
    while (fake_vf(fx->p0, 2)->sa_count != 0)
        g_assert_true(g_main_context_iteration(NULL, FALSE));
    drain();
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 2);
    assert_owner(fx, "p0", 1, "A");
    g_assert_true(fake_vf(fx->p0, 2)->has_port_tag);
}

static void
test_fail_closed(Fixture *fx, gconstpointer data)
{
    const Att att_a[] = { { 0, 1, MAC_A, -1 }, { 0, 2, MAC_B, -1 } };
    const Att att_b = { 1, 1, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, att_a, 2);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(GError) error = NULL;
    Op op = { 0 };

    (void)data;
    /* p0 is fail-closed: the start is refused, nothing stays claimed or published. */
    fx->p0->fail_reclaim = TRUE;
    vfsec_engine_attach_async(fx->engine, a, 0, NULL, op_cb, &op);
    wait_for(&op.done);
    g_assert_error(op.error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_cmpstr(op.error->message, ==, "VF 0000:03:10.1: reclaim failed: driver gone");
    g_clear_error(&op.error);
    assert_owner(fx, "p0", 1, NULL);
    assert_fake_table(fx->p0, NULL, 0);
    error = run(fx, VFSEC_ENGINE_OP_PREPARE, a);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    assert_owner(fx, "p0", 2, NULL);

    /* p1 is not: the domain goes on, the failure is logged. */
    fx->p1->fail_reclaim = TRUE;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    assert_owner(fx, "p1", 1, "B");
    g_assert_true(audited("fail-open", "B", "0000:04:10.1", 0));
}

static void
test_reclaim_only(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 2, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    fake_vf(fx->p0, 1)->sa_count = 5;               /* the guest rebooted */
    run_ok(fx, VFSEC_ENGINE_OP_RECLAIM, a);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 0);
    assert_owner(fx, "p0", 1, "A");
    run_ok(fx, VFSEC_ENGINE_OP_RECLAIM, b);         /* owns nothing: nothing to do */
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 2);
}

/* Short timeouts: a plugin call's deadline is 100 + (400 - 100) / 2 = 250 ms. */
#define SHORT_TIMEOUTS "[timeouts]\npf-reclaim = 100\ndaemon-request = 400\nhook = 1000\n"

/* A plugin that never answers a reclaim: the prepare fails at the deadline
 * naming PF, VF and plugin; other VFs go on meanwhile; the VF's queue moves
 * on; the VF is marked for reclaim and reconcile retries it. */
static void
test_stuck_plugin(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 2, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(JsonObject) row = NULL;
    g_autoptr(GPtrArray) running = g_ptr_array_new();
    VfsecEngineSummary s;
    Op op_a = { 0 };
    gint64 t0 = g_get_monotonic_time();

    (void)data;
    fx->p0->gate[1] = TRUE;
    fake_vf(fx->p0, 1)->sa_count = 3;
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, a, NULL, op_cb, &op_a);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);          /* VF 2 is not stalled */
    g_assert_false(op_a.done);
    wait_for(&op_a.done);
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 250 * 1000);
    g_assert_error(op_a.error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(op_a.error->message, "PF p0"));
    g_assert_nonnull(strstr(op_a.error->message, "fake plugin"));
    g_assert_nonnull(strstr(op_a.error->message, "VF 0000:03:10.1"));
    g_clear_error(&op_a.error);
    assert_owner(fx, "p0", 1, NULL);                 /* fail-closed: rolled back */
    drain();                                         /* the rollback's re-quarantine */
    row = vf_row(fx, "p0", 1);
    g_assert_true(json_object_get_boolean_member(row, "reclaim_pending"));
    g_assert_cmpint(json_object_get_int_member(row, "jobs"), ==, 0);

    /* The queue moved on: later jobs on VF 1 run (A owns nothing: no-op). */
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    /* The late answer is dropped; then reconcile retries the reclaim. */
    fake_open_gate(fx->p0, 1);
    drain();
    assert_owner(fx, "p0", 1, NULL);
    fake_vf(fx->p0, 1)->sa_count = 3;
    g_ptr_array_add(running, b);
    run_reconcile(fx, running, &s);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 0);
    g_assert_cmpuint(s.reclaimed, >=, 1);
    g_clear_pointer(&row, json_object_unref);
    row = vf_row(fx, "p0", 1);
    g_assert_false(json_object_get_boolean_member(row, "reclaim_pending"));
    assert_owner(fx, "p0", 2, "B");
    /* And the VF serves its next owner. */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    assert_owner(fx, "p0", 1, "A");
}

typedef struct {
    gboolean done;
    GError *error;
    guint64 removed;
} ReclaimOp;

static void
reclaim_vf_cb(GObject *source, GAsyncResult *result, gpointer data)
{
    ReclaimOp *op = data;

    (void)source;
    vfsec_engine_reclaim_vf_finish(NULL, result, &op->removed, &op->error);
    op->done = TRUE;
}

/* vfsecctl reclaim goes through the VF's queue: behind a held prepare it
 * waits, and is then refused because the VF has an owner; on a free VF it
 * removes the SAs and says how many. */
static void
test_reclaim_vf_queued(Fixture *fx, gconstpointer data)
{
    const Att att = { 0, 1, MAC_A, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att, 1);
    g_autoptr(JsonObject) row = NULL;
    Op op_a = { 0 };
    ReclaimOp r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

    (void)data;
    fx->p0->gate[1] = TRUE;
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, a, NULL, op_cb, &op_a);
    vfsec_engine_reclaim_vf_async(fx->engine, "p0", 1, NULL, reclaim_vf_cb, &r1);
    drain();
    g_assert_false(r1.done);
    row = vf_row(fx, "p0", 1);
    g_assert_cmpint(json_object_get_int_member(row, "jobs"), ==, 2);
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 1);     /* only the prepare's so far */
    fake_open_gate(fx->p0, 1);
    wait_for(&r1.done);
    g_assert_true(op_a.done);
    g_assert_no_error(op_a.error);
    g_assert_error(r1.error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_assert_nonnull(strstr(r1.error->message, "domain A"));
    g_clear_error(&r1.error);
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 1);

    fake_vf(fx->p0, 2)->sa_count = 6;
    vfsec_engine_reclaim_vf_async(fx->engine, "p0", 2, NULL, reclaim_vf_cb, &r2);
    wait_for(&r2.done);
    g_assert_no_error(r2.error);
    g_assert_cmpuint(r2.removed, ==, 6);
    g_assert_cmpuint(fake_vf(fx->p0, 2)->sa_count, ==, 0);

    vfsec_engine_reclaim_vf_async(fx->engine, "p0", 99, NULL, reclaim_vf_cb, &r3);
    wait_for(&r3.done);
    g_assert_error(r3.error, VFSEC_ERROR, VFSEC_ERROR_NOT_FOUND);
    g_clear_error(&r3.error);
}

/* The problems vfsec_engine_domains_json() lists for @name, joined by '|'
 * ("" when none), or "(none)" when it lists no such domain. */
static char *
problems_of(Fixture *fx, const char *name)
{
    g_autoptr(JsonNode) node = vfsec_engine_domains_json(fx->engine);
    JsonArray *rows = json_node_get_array(node);

    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *row = json_array_get_object_element(rows, i);
        JsonArray *problems = json_object_get_array_member(row, "problems");
        GString *out = g_string_new(NULL);

        if (strcmp(json_object_get_string_member(row, "name"), name) != 0) {
            g_string_free(out, TRUE);
            continue;
        }
        for (guint k = 0; k < json_array_get_length(problems); k++)
            g_string_append_printf(out, "%s%s", k ? "|" : "",
                                   json_array_get_string_element(problems, k));
        return g_string_free(out, FALSE);
    }
    return g_strdup("(none)");
}

/* @want NULL: the domain is listed without problems. */
static void
assert_problems(Fixture *fx, const char *name, const char *want)
{
    g_autofree char *have = problems_of(fx, name);

    g_assert_cmpstr(have, ==, want ? want : "");
}

/* A reload: new timeouts and policy apply, hairpin off unpublishes at once,
 * hairpin on sets VEPA; another [pf] set is refused and changes nothing. */
static void
test_set_conf(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 2, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *other = NULL;
    g_autoptr(JsonObject) row = NULL;
    VfsecConf *conf;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    assert_fake_table(fx->p0, MAC_A, 1);

    /* p0's hairpin off, p1's on, trusted by default, other timeouts. */
    text = g_strdup_printf(
        "[daemon]\nstate-dir = %s/state\nrun-dir = %s/run\n"
        "[timeouts]\npf-reclaim = 300\ndaemon-request = 900\nhook = 2000\n"
        "[policy]\ntrust = trusted\n"
        "[pf p0]\nplugin = contract\nsocket = /nonexistent/pf.sock\nport = 0\n"
        "[pf p1]\nplugin = contract\nsocket = /nonexistent/pf.sock\nport = 1\nhairpin = true\n"
        "fail-closed = false\n", fx->dir, fx->dir);
    conf = vfsec_conf_load_data(text, strlen(text), &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_engine_set_conf(fx->engine, conf, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(vfsec_engine_get_conf(fx->engine)->pf_reclaim_ms, ==, 300);
    g_assert_cmpuint(fx->p1->n_switch, ==, 1);           /* p1 put in VEPA mode */
    drain();
    assert_fake_table(fx->p0, NULL, 0);                  /* p0 unpublished */
    row = vf_row(fx, "p0", 1);
    g_assert_false(json_object_get_boolean_member(row, "published"));
    assert_owner(fx, "p0", 1, "A");                      /* owners stay */
    /* A new owner gets the new default. */
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    g_clear_pointer(&row, json_object_unref);
    row = vf_row(fx, "p0", 2);
    g_assert_cmpstr(json_object_get_string_member(row, "trust"), ==, "trusted");

    /* Another port behind p1: refused, the configuration stays. */
    other = g_strdup_printf(
        "[daemon]\nstate-dir = %s/state\nrun-dir = %s/run\n"
        "[pf p0]\nplugin = contract\nsocket = /nonexistent/pf.sock\nport = 0\n"
        "[pf p1]\nplugin = contract\nsocket = /nonexistent/pf.sock\nport = 7\n", fx->dir,
        fx->dir);
    conf = vfsec_conf_load_data(other, strlen(other), &error);
    g_assert_no_error(error);
    g_assert_false(vfsec_engine_set_conf(fx->engine, conf, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_UNSUPPORTED);
    g_assert_nonnull(strstr(error->message, "[pf p1]"));
    g_assert_cmpuint(vfsec_engine_get_conf(fx->engine)->pf_reclaim_ms, ==, 300);
}

/* Define: what would make a start fail is listed, evaluated at each query. */
static void
test_define_problems(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 1, MAC_B, -1 };              /* A's VF */
    const Att att_c = { 0, 2, MAC_A, -1 };              /* A's key */
    const Att att_d[] = { { -1, 1, MAC_B, -1 }, { 0, 3, "52:54:00:00:00:0d", 7 } };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(VfsecDomain) c = make_domain("C", UUID_C, NULL, &att_c, 1);
    g_autoptr(VfsecDomain) d = make_domain("D", UUID_D, NULL, att_d, 2);

    (void)data;
    vfsec_engine_define(fx->engine, "A", UUID_A, a, NULL);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    vfsec_engine_define(fx->engine, "B", UUID_B, b, NULL);
    vfsec_engine_define(fx->engine, "C", UUID_C, c, NULL);
    vfsec_engine_define(fx->engine, "D", UUID_D, d, NULL);
    vfsec_engine_define(fx->engine, "E", NULL, NULL, "no <name>");
    assert_problems(fx, "A", NULL);
    assert_problems(fx, "B", "VF 0000:03:10.1 is owned by running domain A");
    assert_problems(fx, "C", "VF 0000:03:10.2: MAC 52:54:00:00:00:0a (untagged) of domain C "
                             "collides with domain A on VF 0000:03:10.1");
    assert_problems(fx, "D", "PCI device 0000:40:10.1 is not a VF of a managed PF: vfsecd will "
                             "not protect it|VF 0000:03:10.3: untrusted domain D asks for a "
                             "<vlan>, but the VF's one port tag is the quarantine tag");
    assert_problems(fx, "E", "no <name>");

    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);             /* A stops: B and C could start */
    assert_problems(fx, "B", NULL);
    assert_problems(fx, "C", NULL);
    vfsec_engine_forget(fx->engine, "B", UUID_B);
    assert_problems(fx, "B", "(none)");
}

static void
test_op_names(void)
{
    for (int op = 0; op < VFSEC_ENGINE_OP_LAST; op++)
        g_assert_cmpint(vfsec_engine_op_from_string(vfsec_engine_op_to_string(op)), ==, op);
    g_assert_cmpint(vfsec_engine_op_from_string("reclaim_only"), ==, -1);
    g_assert_null(vfsec_engine_op_to_string(VFSEC_ENGINE_OP_LAST));
}

/* Every file under @path (recursively) as "name ino mtime size" lines, sorted:
 * a rename or rewrite of any of them shows as a different line. */
static void
snapshot_tree(const char *path, GPtrArray *lines)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    if (!dir)
        return;
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);
        struct stat st;

        g_assert_cmpint(lstat(child, &st), ==, 0);
        if (S_ISDIR(st.st_mode)) {
            snapshot_tree(child, lines);
            continue;
        }
        g_ptr_array_add(lines, g_strdup_printf("%s %ju %jd.%09ld %jd", child, (uintmax_t)st.st_ino,
                                               (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                                               (intmax_t)st.st_size));
    }
}

static gint
snapshot_line_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
snapshot_state(Fixture *fx)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

    snapshot_tree(fx->dir, lines);
    g_ptr_array_sort(lines, snapshot_line_cmp);
    g_ptr_array_add(lines, NULL);
    return g_strjoinv("\n", (char **)lines->pdata);
}

/* A reconcile that finds nothing to change writes nothing: no journal
 * record, no rewritten assignment, no MAC-table file (each costs a rename
 * and two fsyncs, per VF), and reports no failure. */
static void
test_reconcile_steady_no_writes(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 1, 2, MAC_B, 42 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, "trusted", &att_b, 1);
    g_autoptr(GPtrArray) running = g_ptr_array_new();
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    VfsecEngineSummary s;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, b);
    g_ptr_array_add(running, a);
    g_ptr_array_add(running, b);
    run_reconcile(fx, running, &s);
    g_assert_cmpuint(s.failed, ==, 0);

    before = snapshot_state(fx);
    for (guint i = 0; i < 2; i++) {
        run_reconcile(fx, running, &s);
        g_assert_cmpuint(s.failed, ==, 0);
        g_assert_cmpuint(s.intents_finished + s.reclaimed + s.quarantined + s.released +
                         s.adopted + s.republished, ==, 0);
        after = snapshot_state(fx);
        g_assert_cmpstr(after, ==, before);
        g_clear_pointer(&after, g_free);
    }
    assert_owner(fx, "p0", 1, "A");
    assert_owner(fx, "p1", 2, "B");
}

/* The fake's ops, but the first start fails as a PF driver that is not
 * there yet (or refuses the connection: a full listen backlog) does. */
static guint late_start_failures;

static void
late_start_async(VfsecPlugin *plugin, GCancellable *c, GAsyncReadyCallback cb, gpointer data)
{
    g_autoptr(GTask) task = NULL;

    if (late_start_failures == 0) {
        fake_start_async(plugin, c, cb, data);
        return;
    }
    late_start_failures--;
    task = g_task_new(NULL, c, cb, data);
    g_task_return_new_error(task, VFSEC_ERROR, VFSEC_ERROR_IO,
                            "cannot connect to PF driver: Resource temporarily unavailable");
}

/* A PF whose driver could not be reached at start and came back later is
 * whole after the reconnect's reconcile: its VFs are listed and the
 * journal's owners restored, so reconcile reports no failure for it and
 * releases nothing. (Before, its owners were never restored: the running
 * domain's VF was re-adopted as new and a stale owner was not released.) */
static void
test_late_pf_restored(Fixture *fx, gconstpointer data)
{
    const Att att_b = { 1, 2, MAC_B, -1 };
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(GPtrArray) running = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    GPtrArray *plugins;
    static VfsecPluginOps late_ops;
    VfsecEngineSummary s;
    Op op = { 0 };

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, b);
    g_clear_pointer(&fx->engine, vfsec_engine_free);

    /* vfsecd restarts; p1's driver refuses the first connection. */
    plugins = g_ptr_array_new_with_free_func((GDestroyNotify)fake_free);
    fx->p0 = fake_new("p0", 0);
    fx->p1 = fake_new("p1", 1);
    late_ops = fake_ops;
    late_ops.start_async = late_start_async;
    fx->p1->parent.ops = &late_ops;
    late_start_failures = 1;
    g_ptr_array_add(plugins, fx->p0);
    g_ptr_array_add(plugins, fx->p1);
    fx->engine = vfsec_engine_new(make_conf(fx->dir, NULL), plugins, &error);
    g_assert_no_error(error);
    vfsec_engine_start_async(fx->engine, NULL, start_cb, &op);
    wait_for(&op.done);
    g_assert_nonnull(op.error);
    g_clear_error(&op.error);
    assert_owner(fx, "p0", 1, NULL);

    /* The plugin reconnects (no owner callback here: the engine reconciles
     * on the registry's owners), then the daemon's reconcile with libvirt
     * runs behind it. */
    g_ptr_array_add(running, b);
    vfsec_plugin_emit(&fx->p1->parent, VFSEC_PLUGIN_EVENT_RECONNECTED, -1, NULL);
    run_reconcile(fx, running, &s);
    g_assert_cmpuint(s.failed, ==, 0);
    g_assert_cmpuint(s.adopted, ==, 0);
    g_assert_cmpuint(s.released, ==, 0);
    assert_owner(fx, "p1", 2, "B");
    g_assert_cmpuint(late_start_failures, ==, 0);
}

static gboolean
vf_releasing(Fixture *fx, const char *pf, guint vf)
{
    g_autoptr(JsonObject) row = vf_row(fx, pf, vf);

    return json_object_get_boolean_member(row, "releasing");
}

/* Stopped hook of A: SAs reclaimed and MAC unpublished at once, but the VF
 * stays A's until libvirt has released it (its teardown restores the VF's
 * MAC after the stopped hook); B's prepare waits for A's release. */
static void
test_stop_waits_release(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 1, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    Op op_b = { 0 }, op_qb = { 0 };
    g_autoptr(JsonObject) row = NULL;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    assert_fake_table(fx->p0, MAC_A, 1);
    fake_vf(fx->p0, 1)->sa_count = 4;

    run_ok(fx, VFSEC_ENGINE_OP_STOP, a);
    g_assert_cmpuint(fake_vf(fx->p0, 1)->sa_count, ==, 0);
    assert_fake_table(fx->p0, NULL, 0);
    assert_owner(fx, "p0", 1, "A");
    g_assert_true(vf_releasing(fx, "p0", 1));
    run_ok(fx, VFSEC_ENGINE_OP_STOP, a);            /* idempotent (hook and event) */
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);         /* a late publish does not undo it */
    assert_fake_table(fx->p0, NULL, 0);

    /* B's start (prepare and quarantine queued together) waits... */
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, b, NULL, op_cb, &op_b);
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_QUARANTINE, b, NULL, op_cb, &op_qb);
    drain();
    g_assert_false(op_b.done || op_qb.done);
    assert_owner(fx, "p0", 1, "A");

    /* ...until libvirt released the VF (release hook), which is not blocked
     * behind B's waiting prepare. */
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);
    wait_for(&op_b.done);
    wait_for(&op_qb.done);
    g_assert_no_error(op_b.error);
    g_assert_no_error(op_qb.error);
    assert_owner(fx, "p0", 1, "B");
    g_assert_false(vf_releasing(fx, "p0", 1));
    row = vf_row(fx, "p0", 1);
    g_assert_true(json_object_get_boolean_member(row, "quarantined"));
    run_ok(fx, VFSEC_ENGINE_OP_RELEASE, a);         /* the STOPPED event after it: no-op */
    assert_owner(fx, "p0", 1, "B");
}

/* libvirt never releases it: B is refused at the request's deadline, with a
 * message naming the VF and the stopped domain; a reconcile that finds A not
 * running frees it. */
static void
test_stop_release_timeout(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 1, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    g_autoptr(GPtrArray) none = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    VfsecEngineSummary sum;

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_STOP, a);
    error = run(fx, VFSEC_ENGINE_OP_PREPARE, b);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(error->message, "VF 0000:03:10.1"));
    g_assert_nonnull(strstr(error->message, "stopped domain A"));
    assert_owner(fx, "p0", 1, "A");
    g_assert_true(vf_releasing(fx, "p0", 1));

    run_reconcile(fx, none, &sum);
    g_assert_cmpuint(sum.released, ==, 1);
    assert_owner(fx, "p0", 1, NULL);
    g_assert_false(vf_releasing(fx, "p0", 1));
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, b);
    assert_owner(fx, "p0", 1, "B");
}

/* A starts again on its own releasing VF (vfsecd missed the release): no
 * deadlock, the VF is A's again and reclaimed anew; another domain waiting
 * for it is then refused as for any owned VF. */
static void
test_stop_own_restart(Fixture *fx, gconstpointer data)
{
    const Att att_a = { 0, 1, MAC_A, -1 };
    const Att att_b = { 0, 1, MAC_B, -1 };
    g_autoptr(VfsecDomain) a = make_domain("A", UUID_A, NULL, &att_a, 1);
    g_autoptr(VfsecDomain) b = make_domain("B", UUID_B, NULL, &att_b, 1);
    Op op_b = { 0 };

    (void)data;
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    run_ok(fx, VFSEC_ENGINE_OP_STOP, a);
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 2);
    vfsec_engine_run_async(fx->engine, VFSEC_ENGINE_OP_PREPARE, b, NULL, op_cb, &op_b);
    drain();
    g_assert_false(op_b.done);
    run_ok(fx, VFSEC_ENGINE_OP_PREPARE, a);
    g_assert_cmpuint(fx->p0->n_reclaim, ==, 3);
    assert_owner(fx, "p0", 1, "A");
    g_assert_false(vf_releasing(fx, "p0", 1));
    wait_for(&op_b.done);
    g_assert_error(op_b.error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT);
    g_assert_cmpstr(op_b.error->message, ==, "VF 0000:03:10.1 is owned by running domain A");
    g_clear_error(&op_b.error);
    run_ok(fx, VFSEC_ENGINE_OP_QUARANTINE, a);
    run_ok(fx, VFSEC_ENGINE_OP_PUBLISH, a);
    assert_fake_table(fx->p0, MAC_A, 1);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_writer_func(audit_writer_global, NULL, NULL);

#define ADD(name, func) \
    g_test_add("/engine/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
    ADD("prepare-reclaims", test_prepare_reclaims);
    ADD("gate-holds-prepare", test_gate_holds_prepare);
    ADD("parallel-vfs", test_parallel_vfs);
    ADD("same-vf-order", test_same_vf_order);
    ADD("owned-refused", test_owned_refused);
    ADD("refused-rollback", test_refused_rollback);
    ADD("key-collision", test_key_collision);
    ADD("untrusted-vlan-refused", test_untrusted_vlan_refused);
    ADD("quarantine", test_quarantine);
    ADD("terms-updated", test_terms_updated);
    ADD("quarantine-readback", test_quarantine_readback);
    ADD("publish-release", test_publish);
    ADD("release-trusted-requarantined", test_release_trusted_requarantined);
    ADD("unmanaged-ignored", test_unmanaged_ignored);
    ADD("attach-detach", test_attach_detach);
    ADD("detach-missing", test_detach_missing);
    ADD("transient-forgotten", test_transient_forgotten);
    ADD("crash-journal", test_crash_journal);
    ADD("crash-lost/staged-running", test_crash_lost_staged);
    ADD("crash-lost/release", test_crash_lost_release);
    ADD("crash-lost/host", test_crash_lost_host);
    ADD("unreached-pf", test_unreached_pf);
    ADD("no-sa-reclaim", test_no_sa_reclaim);
    ADD("plain-hostdev", test_plain_hostdev);
    ADD("reconcile", test_reconcile);
    ADD("reconcile-stale-list", test_reconcile_stale_list);
    ADD("vf-reset-event", test_vf_reset_event);
    ADD("reclaim-only", test_reclaim_only);
    ADD("fail-closed", test_fail_closed);
    ADD("agent-reset-and-reconnect", test_agent_reset_and_reconnect);
    ADD("reclaim-vf-queued", test_reclaim_vf_queued);
    ADD("set-conf", test_set_conf);
    ADD("define-problems", test_define_problems);
    ADD("reconcile-steady-no-writes", test_reconcile_steady_no_writes);
    ADD("late-pf-restored", test_late_pf_restored);
    g_test_add("/engine/stuck-plugin", Fixture, SHORT_TIMEOUTS, fixture_setup, test_stuck_plugin,
               fixture_teardown);
    ADD("stop-waits-release", test_stop_waits_release);
    ADD("stop-own-restart", test_stop_own_restart);
    g_test_add("/engine/stop-release-timeout", Fixture, SHORT_TIMEOUTS, fixture_setup,
               test_stop_release_timeout, fixture_teardown);
#undef ADD
    g_test_add_func("/engine/op-names", test_op_names);
    return g_test_run();
}
