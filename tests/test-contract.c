/* test-contract.c: the PF-driver contract codec, framer and asynchronous client. */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "vfsec-contract-client.h"
#include "vfsec-contract.h"
#include "vfsec-error.h"
#include "vfsec-json.h"

/* JSON in the tables is written with ' for " to stay readable. */
static char *
dq(const char *s)
{
    char *out = g_strdup(s);

    g_strdelimit(out, "'", '"');
    return out;
}

static JsonObject *
object_from_text(const char *text)
{
    g_autofree char *json = dq(text);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = json_from_string(json, &error);

    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
    return json_node_dup_object(node);
}

static char *
object_to_text(JsonObject *obj)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    char *text;

    json_node_set_object(node, obj);
    text = json_to_string(node, FALSE);
    g_strdelimit(text, "\"", '\'');
    return text;
}

/* ------------------------------------------------------------------------ */
/* Codec: round trips */

typedef struct {
    VfsecContractOp op;
    const char *json;       /* args or result */
    const char *canonical;  /* what the codec writes back; NULL: json itself */
} RoundTrip;

static const RoundTrip request_cases[] = {
    { VFSEC_CONTRACT_OP_HELLO, "{'version':1,'client':'vfsecd/0.1'}", NULL },
    { VFSEC_CONTRACT_OP_HELLO, "{'version':2,'client':'vfsecd/0.2','features':['x']}",
      "{'version':2,'client':'vfsecd/0.2'}" },
    { VFSEC_CONTRACT_OP_LIST_PORTS, "{}", NULL },
    { VFSEC_CONTRACT_OP_LIST_PORTS, "{'verbose':true}", "{}" },
    { VFSEC_CONTRACT_OP_LIST_VFS, "{'port':0}", NULL },
    { VFSEC_CONTRACT_OP_SET_VF,
      "{'port':0,'vf':3,'mac':'52:54:00:12:34:56','port_tag':{'tpid':34984,'vid':4095,'pcp':7},"
      "'trust':false,'spoofchk':true}", NULL },
    { VFSEC_CONTRACT_OP_SET_VF, "{'port':1,'vf':0,'port_tag':null}", NULL },
    { VFSEC_CONTRACT_OP_SET_VF, "{'port':1,'vf':0,'mac':null,'trust':true}", NULL },
    { VFSEC_CONTRACT_OP_SET_VF, "{'port':4294967295,'vf':5}", NULL },
    { VFSEC_CONTRACT_OP_SET_VF, "{'vf':5,'spoofchk':false,'port':2,'rate':10}",
      "{'port':2,'vf':5,'spoofchk':false}" },
    { VFSEC_CONTRACT_OP_RECLAIM_VF, "{'port':0,'vf':3,'timeout_ms':2000}", NULL },
    { VFSEC_CONTRACT_OP_RECLAIM_VF, "{'port':0,'vf':3}", NULL },
    { VFSEC_CONTRACT_OP_GET_MACS, "{'port':1}", NULL },
    { VFSEC_CONTRACT_OP_SET_MACS,
      "{'port':0,'generation':41,'entries':[{'mac':'52:54:00:00:00:01','tags':[]},"
      "{'mac':'52:54:00:00:00:02','tags':[{'tpid':33024,'vid':10},{'tpid':34984,'vid':0}]}]}",
      NULL },
    { VFSEC_CONTRACT_OP_SET_MACS, "{'port':0,'generation':0,'entries':[]}", NULL },
    { VFSEC_CONTRACT_OP_GET_SWITCH_MODE, "{'port':0}", NULL },
    { VFSEC_CONTRACT_OP_SET_SWITCH_MODE, "{'port':0,'mode':'vepa'}", NULL },
    { VFSEC_CONTRACT_OP_COUNTERS, "{'port':3}", NULL },
    { VFSEC_CONTRACT_OP_SUBSCRIBE, "{'events':['vf-reset','agent-reset','port-change']}", NULL },
    { VFSEC_CONTRACT_OP_SUBSCRIBE, "{'events':['port-change','vf-reset','port-change']}",
      "{'events':['vf-reset','port-change']}" },
    { VFSEC_CONTRACT_OP_SUBSCRIBE, "{'events':[]}", NULL },
};

static const RoundTrip result_cases[] = {
    { VFSEC_CONTRACT_OP_HELLO,
      "{'version':1,'server':'vfsec-nicsim/0.1','capabilities':['reclaim-batched',"
      "'port-tag-8021ad','switch-mode','local-macs','notifications','counters','x-acme.thing'],"
      "'max_sas_per_port':4096}", NULL },
    { VFSEC_CONTRACT_OP_LIST_PORTS,
      "{'ports':[{'port':0,'name':'p0','pf_pci':'0000:03:00.0','pf_netdev':'enp3s0f0',"
      "'pf_mac':'52:54:00:aa:bb:cc','num_vfs':4,'switch_mode':'veb','hairpin_capable':true},"
      "{'port':1,'name':'Port 1 (uplink)','pf_pci':'0000:03:00.1','pf_netdev':'enp3s0f1',"
      "'pf_mac':'52:54:00:aa:bb:cd','num_vfs':0,'switch_mode':'vepa','hairpin_capable':false}]}",
      NULL },
    { VFSEC_CONTRACT_OP_LIST_PORTS, "{'ports':[]}", NULL },
    { VFSEC_CONTRACT_OP_LIST_VFS,
      "{'vfs':[{'port':0,'vf':0,'pci':'0000:03:10.0','netdev':'enp3s0f0v0',"
      "'mac':'52:54:00:12:34:56','port_tag':null,'trust':true,'spoofchk':true,'sa_count':0},"
      "{'port':0,'vf':1,'pci':'0000:03:10.2','netdev':null,'mac':null,"
      "'port_tag':{'tpid':33024,'vid':100,'pcp':3},'trust':false,'spoofchk':true,'sa_count':12}]}",
      NULL },
    { VFSEC_CONTRACT_OP_SET_VF,
      "{'port':0,'vf':1,'pci':'0000:03:10.2','netdev':null,'mac':null,"
      "'port_tag':{'tpid':33024,'vid':100,'pcp':3},'trust':false,'spoofchk':true,'sa_count':12,"
      "'vlan_stats':{}}",
      "{'port':0,'vf':1,'pci':'0000:03:10.2','netdev':null,'mac':null,"
      "'port_tag':{'tpid':33024,'vid':100,'pcp':3},'trust':false,'spoofchk':true,'sa_count':12}" },
    { VFSEC_CONTRACT_OP_RECLAIM_VF, "{'removed':12,'failed':1,'remaining':1}", NULL },
    { VFSEC_CONTRACT_OP_GET_MACS,
      "{'generation':42,'entries':[{'mac':'52:54:00:00:00:01','tags':[{'tpid':33024,'vid':7}]}]}",
      NULL },
    { VFSEC_CONTRACT_OP_SET_MACS, "{'generation':43}", NULL },
    { VFSEC_CONTRACT_OP_GET_SWITCH_MODE, "{'mode':'veb'}", NULL },
    { VFSEC_CONTRACT_OP_SET_SWITCH_MODE, "{'mode':'vepa'}", NULL },
    { VFSEC_CONTRACT_OP_COUNTERS,
      "{'rx_frames':10,'tx_frames':9223372036854775807,'cfg_frames':0,'cfg_rejected':1}", NULL },
    { VFSEC_CONTRACT_OP_COUNTERS, "{}", NULL },
    { VFSEC_CONTRACT_OP_SUBSCRIBE, "{}", NULL },
    { VFSEC_CONTRACT_OP_SUBSCRIBE, "{'subscribed':['vf-reset']}", "{}" },
};

/* Every op of the codec is covered by both tables. */
static void
assert_ops_covered(const RoundTrip *cases, gsize n)
{
    gboolean seen[VFSEC_CONTRACT_OP_LAST] = { FALSE };

    for (gsize i = 0; i < n; i++)
        seen[cases[i].op] = TRUE;
    for (int op = 0; op < VFSEC_CONTRACT_OP_LAST; op++) {
        if (!seen[op])
            g_error("no round-trip case for %s", vfsec_contract_op_to_string(op));
    }
}

/* args -> request line -> framer -> parse -> typed -> args: the same JSON. */
static void
test_request_roundtrip(void)
{
    assert_ops_covered(request_cases, G_N_ELEMENTS(request_cases));
    for (gsize i = 0; i < G_N_ELEMENTS(request_cases); i++) {
        const RoundTrip *c = &request_cases[i];
        const char *op = vfsec_contract_op_to_string(c->op);
        g_autoptr(JsonObject) args = object_from_text(c->json);
        g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
        g_autoptr(VfsecContractRequest) req = NULL;
        g_autoptr(JsonObject) back = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *line = NULL;
        g_autofree char *popped = NULL;
        g_autofree char *text = NULL;
        guint64 id = 0;
        gsize len = 0, plen = 0;

        g_test_message("request case %" G_GSIZE_FORMAT ": %s %s", i, op, c->json);
        line = vfsec_contract_request_build(1000 + i, op, args, &len, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(len, ==, strlen(line));
        g_assert_true(line[len - 1] == '\n');
        g_assert_null(memchr(line, '\n', len - 1));
        /* Split the line anywhere: the framer puts it together again. */
        g_assert_true(vfsec_contract_framer_feed(framer, line, len / 2, &error));
        g_assert_null(vfsec_contract_framer_pop(framer, NULL));
        g_assert_true(vfsec_contract_framer_feed(framer, line + len / 2, len - len / 2, &error));
        popped = vfsec_contract_framer_pop(framer, &plen);
        g_assert_cmpuint(plen, ==, len - 1);

        req = vfsec_contract_request_parse(popped, plen, &id, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(id, ==, 1000 + i);
        g_assert_cmpuint(req->id, ==, 1000 + i);
        g_assert_cmpint(req->op, ==, c->op);
        back = vfsec_contract_request_args_to_json(req);
        text = object_to_text(back);
        g_assert_cmpstr(text, ==, c->canonical ? c->canonical : c->json);
    }
}

/* result -> reply line -> message -> typed -> result: the same JSON. */
static void
test_result_roundtrip(void)
{
    assert_ops_covered(result_cases, G_N_ELEMENTS(result_cases));
    for (gsize i = 0; i < G_N_ELEMENTS(result_cases); i++) {
        const RoundTrip *c = &result_cases[i];
        g_autoptr(JsonObject) obj = object_from_text(c->json);
        g_autoptr(VfsecContractMessage) msg = NULL;
        g_autoptr(VfsecContractResult) res = NULL;
        g_autoptr(JsonObject) back = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *line = NULL;
        g_autofree char *text = NULL;
        gsize len = 0;

        g_test_message("result case %" G_GSIZE_FORMAT ": %s %s", i,
                       vfsec_contract_op_to_string(c->op), c->json);
        line = vfsec_contract_reply_build(77, obj, &len, &error);
        g_assert_no_error(error);
        msg = vfsec_contract_message_parse(line, len - 1, &error);
        g_assert_no_error(error);
        g_assert_cmpint(msg->kind, ==, VFSEC_CONTRACT_MESSAGE_REPLY);
        g_assert_cmpuint(msg->id, ==, 77);
        g_assert_true(msg->ok);
        res = vfsec_contract_result_from_json(c->op, msg->result, &error);
        g_assert_no_error(error);
        back = vfsec_contract_result_to_json(res);
        text = object_to_text(back);
        g_assert_cmpstr(text, ==, c->canonical ? c->canonical : c->json);
    }
}

/* Typed values built in C survive the trip through JSON field by field. */
static void
test_struct_roundtrip(void)
{
    g_autoptr(VfsecContractResult) res = vfsec_contract_result_new(VFSEC_CONTRACT_OP_LIST_VFS);
    g_autoptr(VfsecContractResult) back = NULL;
    g_autoptr(VfsecContractRequest) req = vfsec_contract_request_new(VFSEC_CONTRACT_OP_SET_MACS);
    g_autoptr(VfsecContractRequest) req_back = NULL;
    g_autoptr(JsonObject) obj = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    VfsecContractVf *vf;
    VfsecContractMacEntry *entry;
    VfsecMac mac;
    guint64 id;
    gsize len;

    for (guint i = 0; i < 3; i++) {
        vf = vfsec_contract_vf_new();
        vf->port = 2;
        vf->vf = i;
        g_assert_true(vfsec_pci_addr_parse("0000:3b:02.1", &vf->pci, NULL));
        vf->pci.function = (guint8)i;
        vf->netdev = i == 1 ? NULL : g_strdup_printf("ens1f0v%u", i);
        vf->has_mac = i != 2;
        g_assert_true(vfsec_mac_parse("02:00:00:00:00:10", &vf->mac, NULL));
        vf->mac.b[5] = (guint8)(0x10 + i);
        vf->has_port_tag = i == 0;
        vf->port_tag = (VfsecContractPortTag){ VFSEC_CONTRACT_TPID_8021AD, 4000, 5 };
        vf->trust = i == 2;
        vf->spoofchk = i != 2;
        vf->sa_count = G_GUINT64_CONSTANT(1) << (20 * i);
        g_ptr_array_add(res->u.vfs, vf);
    }
    obj = vfsec_contract_result_to_json(res);
    back = vfsec_contract_result_from_json(VFSEC_CONTRACT_OP_LIST_VFS, obj, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(back->u.vfs->len, ==, 3);
    for (guint i = 0; i < 3; i++)
        g_assert_true(vfsec_contract_vf_equal(g_ptr_array_index(res->u.vfs, i),
                                              g_ptr_array_index(back->u.vfs, i)));
    /* A difference in any field is seen. */
    vf = g_ptr_array_index(back->u.vfs, 0);
    vf->port_tag.pcp = 4;
    g_assert_false(vfsec_contract_vf_equal(g_ptr_array_index(res->u.vfs, 0), vf));

    req->id = 9;
    req->args.set_macs.port = 1;
    req->args.set_macs.table->generation = 12345678901234;
    g_assert_true(vfsec_mac_parse("52:54:00:00:00:aa", &mac, NULL));
    entry = vfsec_contract_mac_entry_new(&mac);
    vfsec_contract_mac_entry_add_tag(entry, VFSEC_CONTRACT_TPID_8021Q, 100);
    vfsec_contract_mac_entry_add_tag(entry, VFSEC_CONTRACT_TPID_8021AD, 4095);
    g_ptr_array_add(req->args.set_macs.table->entries, entry);
    mac.b[5] = 0xab;
    g_ptr_array_add(req->args.set_macs.table->entries, vfsec_contract_mac_entry_new(&mac));
    g_clear_pointer(&obj, json_object_unref);
    obj = vfsec_contract_request_args_to_json(req);
    line = vfsec_contract_request_build(req->id, "set-macs", obj, &len, &error);
    g_assert_no_error(error);
    req_back = vfsec_contract_request_parse(line, len - 1, &id, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(req_back->args.set_macs.port, ==, 1);
    g_assert_true(vfsec_contract_mac_table_equal(req->args.set_macs.table,
                                                 req_back->args.set_macs.table));
    entry = g_ptr_array_index(req_back->args.set_macs.table->entries, 0);
    g_array_index(entry->tags, VfsecContractMacTag, 1).vid = 1;
    g_assert_false(vfsec_contract_mac_table_equal(req->args.set_macs.table,
                                                  req_back->args.set_macs.table));
}

typedef struct {
    const char *line;
    VfsecContractEvent event;
    guint port;
    guint vf;
    const char *what;
} NotifyCase;

static void
test_notification_roundtrip(void)
{
    static const NotifyCase cases[] = {
        { "{'event':'vf-reset','data':{'port':0,'vf':3}}", VFSEC_CONTRACT_EVENT_VF_RESET, 0, 3, NULL },
        { "{'event':'agent-reset','data':{'port':1}}", VFSEC_CONTRACT_EVENT_AGENT_RESET, 1, 0, NULL },
        { "{'event':'port-change','data':{'port':2,'what':'num-vfs'}}",
          VFSEC_CONTRACT_EVENT_PORT_CHANGE, 2, 0, "num-vfs" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        VfsecContractNotification n = {
            .event = cases[i].event, .port = cases[i].port, .vf = cases[i].vf,
            .what = (char *)cases[i].what,
        };
        g_autoptr(VfsecContractMessage) msg = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *line = vfsec_contract_notification_build(&n, NULL, &error);
        g_autofree char *expect = dq(cases[i].line);
        VfsecContractNotification back;

        g_assert_no_error(error);
        g_assert_true(g_str_has_suffix(line, "\n"));
        line[strlen(line) - 1] = '\0';
        g_assert_cmpstr(line, ==, expect);
        msg = vfsec_contract_message_parse(line, strlen(line), &error);
        g_assert_no_error(error);
        g_assert_cmpint(msg->kind, ==, VFSEC_CONTRACT_MESSAGE_NOTIFICATION);
        g_assert_true(vfsec_contract_notification_parse(msg->event, msg->data, &back, &error));
        g_assert_no_error(error);
        g_assert_cmpint(back.event, ==, n.event);
        g_assert_cmpuint(back.port, ==, n.port);
        g_assert_cmpuint(back.vf, ==, n.vf);
        g_assert_cmpstr(back.what, ==, n.what);
        vfsec_contract_notification_clear(&back);
    }
}

static void
test_error_reply(void)
{
    static const char future_code[] = "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"quota\",\"message\":\"m\"}}";
    static const char lenient_message[] = "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"two\\nlines\"}}";
    g_autoptr(GString) long_message = g_string_new(NULL);
    g_autoptr(VfsecContractMessage) msg = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    gsize len;

    /* The message is one line: a control character becomes a space, and
     * trailing ones go. */
    line = vfsec_contract_reply_error_build(5, VFSEC_CONTRACT_ERROR_BUSY, "VF 0000:03:10.2 is\nbusy\x7f", &len);
    g_assert_cmpstr(line, ==, "{\"id\":5,\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"VF 0000:03:10.2 is busy\"}}\n");
    msg = vfsec_contract_message_parse(line, len - 1, &error);
    g_assert_no_error(error);
    g_assert_false(msg->ok);
    g_assert_cmpint(msg->error_code, ==, VFSEC_CONTRACT_ERROR_BUSY);
    g_assert_cmpstr(msg->error_message, ==, "VF 0000:03:10.2 is busy");
    g_clear_pointer(&msg, vfsec_contract_message_free);
    g_clear_pointer(&line, g_free);

    /* ... and never empty: the code stands in. A reader still takes any text. */
    line = vfsec_contract_reply_error_build(5, VFSEC_CONTRACT_ERROR_TIMEOUT, "", &len);
    g_assert_cmpstr(line, ==, "{\"id\":5,\"ok\":false,\"error\":{\"code\":\"timeout\",\"message\":\"timeout\"}}\n");
    g_clear_pointer(&line, g_free);
    msg = vfsec_contract_message_parse(lenient_message, strlen(lenient_message), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(msg->error_message, ==, "two\nlines");
    g_clear_pointer(&msg, vfsec_contract_message_free);

    /* Long messages are cut at a character boundary, invalid UTF-8 is mended. */
    for (int i = 0; i < 3000; i++)
        g_string_append(long_message, "\xc3\xa9");   /* é: two bytes */
    g_string_append(long_message, "\xff");
    line = vfsec_contract_reply_error_build(6, VFSEC_CONTRACT_ERROR_FAILED, long_message->str, &len);
    msg = vfsec_contract_message_parse(line, len - 1, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(strlen(msg->error_message), ==, VFSEC_CONTRACT_MAX_MESSAGE);
    g_assert_true(g_utf8_validate(msg->error_message, -1, NULL));
    g_clear_pointer(&msg, vfsec_contract_message_free);
    g_clear_pointer(&line, g_free);

    /* An error code of a later version reads as failed. */
    msg = vfsec_contract_message_parse(future_code, strlen(future_code), &error);
    g_assert_no_error(error);
    g_assert_cmpint(msg->error_code, ==, VFSEC_CONTRACT_ERROR_FAILED);
}

static void
test_build_too_large(void)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *big = g_malloc(VFSEC_CONTRACT_MAX_LINE + 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;

    memset(big, 'a', VFSEC_CONTRACT_MAX_LINE);
    big[VFSEC_CONTRACT_MAX_LINE] = '\0';
    json_object_set_string_member(args, "blob", big);
    line = vfsec_contract_request_build(1, "set-macs", args, NULL, &error);
    g_assert_null(line);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_assert_true(g_str_has_prefix(error->message, "set-macs line would be "));
}

/* The envelope as the control protocol uses it: its own members in front,
 * its own error codes and line bound. */
static void
test_reply_envelope(void)
{
    g_autoptr(JsonObject) extras = json_object_new();
    g_autoptr(JsonObject) result = json_object_new();
    g_autoptr(JsonObject) root = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(VfsecContractReplyEnvelope) env = { 0 };
    g_autofree char *line = NULL;
    gsize len = 0;

    json_object_set_int_member(extras, "v", 1);
    json_object_set_string_member(result, "blob", "0123456789");
    line = vfsec_contract_reply_build_full(extras, 7, result, 64, &len, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(line, ==, "{\"v\":1,\"id\":7,\"ok\":true,\"result\":{\"blob\":\"0123456789\"}}\n");
    g_clear_pointer(&line, g_free);
    g_assert_null(vfsec_contract_reply_build_full(extras, 7, result, 32, &len, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_assert_cmpstr(error->message, ==, "reply line would be 55 bytes, more than 32");
    g_clear_error(&error);

    line = vfsec_contract_reply_error_build_full(extras, 8, "too-large", "args.xml is\r\ntoo long", &len);
    g_assert_cmpstr(line, ==, "{\"v\":1,\"id\":8,\"ok\":false,\"error\":{\"code\":\"too-large\","
                    "\"message\":\"args.xml is  too long\"}}\n");
    root = vfsec_json_parse_line(line, len - 1, 1024, 4, "reply line", &error);
    g_assert_no_error(error);
    g_assert_true(vfsec_contract_reply_envelope_read(root, "control reply", 10, &env, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(env.id, ==, 8);
    g_assert_false(env.ok);
    g_assert_null(env.result);
    g_assert_cmpstr(env.error_code, ==, "too-large");
    g_assert_cmpstr(env.error_message, ==, "args.xml is  too long");
    vfsec_contract_reply_envelope_clear(&env);
    /* The id bound is the caller's. */
    g_assert_false(vfsec_contract_reply_envelope_read(root, "control reply", 7, &env, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
    g_assert_cmpstr(error->message, ==, "control reply: id 8 is outside 0-7");
}

typedef struct {
    int value;
    VfsecErrorCode local;
} CodeCase;

static void
test_names(void)
{
    static const CodeCase codes[] = {
        { VFSEC_CONTRACT_ERROR_INVALID, VFSEC_ERROR_INVALID },
        { VFSEC_CONTRACT_ERROR_NOT_FOUND, VFSEC_ERROR_NOT_FOUND },
        { VFSEC_CONTRACT_ERROR_BUSY, VFSEC_ERROR_CONFLICT },
        { VFSEC_CONTRACT_ERROR_TIMEOUT, VFSEC_ERROR_TIMEOUT },
        { VFSEC_CONTRACT_ERROR_UNSUPPORTED, VFSEC_ERROR_UNSUPPORTED },
        { VFSEC_CONTRACT_ERROR_PERMISSION, VFSEC_ERROR_PERMISSION },
        { VFSEC_CONTRACT_ERROR_CONFLICT, VFSEC_ERROR_CONFLICT },
        { VFSEC_CONTRACT_ERROR_FAILED, VFSEC_ERROR_FAILED },
        { VFSEC_CONTRACT_ERROR_VERSION, VFSEC_ERROR_PROTOCOL },
    };

    for (int op = 0; op < VFSEC_CONTRACT_OP_LAST; op++)
        g_assert_cmpint(vfsec_contract_op_from_string(vfsec_contract_op_to_string(op)), ==, op);
    g_assert_cmpint(vfsec_contract_op_from_string("reclaim"), ==, -1);
    g_assert_cmpint(vfsec_contract_op_from_string(NULL), ==, -1);
    for (int ev = 0; ev < VFSEC_CONTRACT_EVENT_LAST; ev++)
        g_assert_cmpint(vfsec_contract_event_from_string(vfsec_contract_event_to_string(ev)), ==, ev);
    for (int m = 0; m < VFSEC_CONTRACT_SWITCH_MODE_LAST; m++)
        g_assert_cmpint(vfsec_contract_switch_mode_from_string(vfsec_contract_switch_mode_to_string(m)), ==, m);
    G_STATIC_ASSERT(G_N_ELEMENTS(codes) == VFSEC_CONTRACT_ERROR_LAST);
    for (gsize i = 0; i < G_N_ELEMENTS(codes); i++) {
        const char *name = vfsec_contract_error_code_to_string(codes[i].value);
        g_autoptr(GError) local = g_error_new_literal(VFSEC_ERROR, codes[i].local, "x");
        VfsecContractErrorCode back = vfsec_contract_error_code_from_gerror(local);

        g_assert_cmpint(vfsec_contract_error_code_from_string(name), ==, codes[i].value);
        g_assert_cmpint(vfsec_contract_error_code_to_vfsec(codes[i].value), ==, codes[i].local);
        /* Back to the wire: busy and version have no local code of their own. */
        if (codes[i].value == VFSEC_CONTRACT_ERROR_BUSY)
            g_assert_cmpint(back, ==, VFSEC_CONTRACT_ERROR_CONFLICT);
        else if (codes[i].value == VFSEC_CONTRACT_ERROR_VERSION)
            g_assert_cmpint(back, ==, VFSEC_CONTRACT_ERROR_INVALID);
        else
            g_assert_cmpint(back, ==, codes[i].value);
    }
    {
        g_autoptr(GError) io = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED, "x");
        g_assert_cmpint(vfsec_contract_error_code_from_gerror(io), ==, VFSEC_CONTRACT_ERROR_FAILED);
    }
}

/* ------------------------------------------------------------------------ */
/* Codec: rejections, each with its own message */

typedef struct {
    const char *line;       /* a request line (' for ") */
    VfsecErrorCode code;
    const char *message;
} BadRequest;

static void
test_request_invalid(void)
{
    static const BadRequest cases[] = {
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'port_tag':{'tpid':33024,'vid':5000,'pcp':0}}}",
          VFSEC_ERROR_INVALID, "set-vf: port_tag.vid 5000 is outside 0-4095" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'port_tag':{'tpid':37120,'vid':5,'pcp':0}}}",
          VFSEC_ERROR_INVALID, "set-vf: port_tag.tpid 0x9100 is not 0x8100 (802.1Q) or 0x88a8 (802.1ad)" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'port_tag':{'tpid':33024,'vid':5,'pcp':8}}}",
          VFSEC_ERROR_INVALID, "set-vf: port_tag.pcp 8 is outside 0-7" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'port_tag':{'tpid':33024,'vid':5}}}",
          VFSEC_ERROR_INVALID, "set-vf: port_tag.pcp is missing" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'port_tag':5}}",
          VFSEC_ERROR_INVALID, "set-vf: port_tag is neither an object nor null" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'mac':'01:00:5e:00:00:01'}}",
          VFSEC_ERROR_INVALID, "set-vf: mac is invalid: MAC address '01:00:5e:00:00:01' is a multicast address" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'mac':'52:54:00:12:34'}}",
          VFSEC_ERROR_INVALID, "set-vf: mac is invalid: '52:54:00:12:34' is not a MAC address (expected xx:xx:xx:xx:xx:xx)" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'mac':7}}",
          VFSEC_ERROR_INVALID, "set-vf: mac is neither a string nor null" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'trust':'yes'}}",
          VFSEC_ERROR_INVALID, "set-vf: trust is not a boolean" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1,'spoofchk':null}}",
          VFSEC_ERROR_INVALID, "set-vf: spoofchk is not a boolean" },
        { "{'id':1,'op':'set-vf','args':{'vf':1}}",
          VFSEC_ERROR_INVALID, "set-vf: port is missing" },
        { "{'id':1,'op':'set-vf','args':{'port':-1,'vf':1}}",
          VFSEC_ERROR_INVALID, "set-vf: port -1 is outside 0-4294967295" },
        { "{'id':1,'op':'set-vf','args':{'port':4294967296,'vf':1}}",
          VFSEC_ERROR_INVALID, "set-vf: port 4294967296 is outside 0-4294967295" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':1.5}}",
          VFSEC_ERROR_INVALID, "set-vf: vf is not an integer" },
        { "{'id':1,'op':'set-vf','args':{'port':0,'vf':'1'}}",
          VFSEC_ERROR_INVALID, "set-vf: vf is not an integer" },
        { "{'id':1,'op':'hello','args':{'version':1,'client':''}}",
          VFSEC_ERROR_INVALID, "hello: client '' is not a printable label of at most 128 bytes" },
        { "{'id':1,'op':'hello','args':{'version':1,'client':'a\\u0007b'}}",
          VFSEC_ERROR_INVALID, "hello: client 'a\\007b' is not a printable label of at most 128 bytes" },
        { "{'id':1,'op':'hello','args':{'client':'x'}}",
          VFSEC_ERROR_INVALID, "hello: version is missing" },
        { "{'id':1,'op':'list-vfs','args':{}}",
          VFSEC_ERROR_INVALID, "list-vfs: port is missing" },
        { "{'id':1,'op':'reclaim-vf','args':{'port':0,'vf':3,'timeout_ms':0}}",
          VFSEC_ERROR_INVALID, "reclaim-vf: timeout_ms 0 is outside 1-600000" },
        { "{'id':1,'op':'reclaim-vf','args':{'port':0,'vf':3,'timeout_ms':600001}}",
          VFSEC_ERROR_INVALID, "reclaim-vf: timeout_ms 600001 is outside 0-600000" },
        { "{'id':1,'op':'reclaim-vf','args':{'port':0}}",
          VFSEC_ERROR_INVALID, "reclaim-vf: vf is missing" },
        { "{'id':1,'op':'set-macs','args':{'port':0,'entries':[]}}",
          VFSEC_ERROR_INVALID, "set-macs: generation is missing" },
        { "{'id':1,'op':'set-macs','args':{'port':0,'generation':1,'entries':{}}}",
          VFSEC_ERROR_INVALID, "set-macs: entries is not an array" },
        { "{'id':1,'op':'set-macs','args':{'port':0,'generation':1,'entries':[5]}}",
          VFSEC_ERROR_INVALID, "set-macs: entries[0] is not an object" },
        { "{'id':1,'op':'set-macs','args':{'port':0,'generation':1,'entries':[{'mac':'52:54:00:00:00:01'}]}}",
          VFSEC_ERROR_INVALID, "set-macs: entries[0].tags is missing" },
        { "{'id':1,'op':'set-macs','args':{'port':0,'generation':1,'entries':["
          "{'mac':'52:54:00:00:00:01','tags':[{'tpid':33024,'vid':4096}]}]}}",
          VFSEC_ERROR_INVALID, "set-macs: entries[0].tags[0].vid 4096 is outside 0-4095" },
        { "{'id':1,'op':'set-macs','args':{'port':0,'generation':1,'entries':["
          "{'mac':'52:54:00:00:00:01','tags':[]},{'mac':'52:54:00:00:00:02','tags':[]},"
          "{'mac':'52:54:00:00:00:01','tags':[{'tpid':33024,'vid':1}]}]}}",
          VFSEC_ERROR_INVALID, "set-macs: entries[2].mac 52:54:00:00:00:01 appears twice" },
        { "{'id':1,'op':'set-switch-mode','args':{'port':0,'mode':'bridge'}}",
          VFSEC_ERROR_INVALID, "set-switch-mode: mode 'bridge' is not veb or vepa" },
        { "{'id':1,'op':'set-switch-mode','args':{'port':0}}",
          VFSEC_ERROR_INVALID, "set-switch-mode: mode is missing" },
        { "{'id':1,'op':'subscribe','args':{'events':['vf-reset','vf-added']}}",
          VFSEC_ERROR_UNSUPPORTED, "subscribe: events[1] 'vf-added' is not an event of contract version 1" },
        { "{'id':1,'op':'subscribe','args':{'events':[1]}}",
          VFSEC_ERROR_INVALID, "subscribe: events[0] is not a string" },
        { "{'id':1,'op':'subscribe','args':{}}",
          VFSEC_ERROR_INVALID, "subscribe: events is missing" },
        { "{'id':1,'op':'frobnicate','args':{}}",
          VFSEC_ERROR_UNSUPPORTED, "request: op 'frobnicate' is not an op of contract version 1" },
        { "{'id':1,'args':{}}",
          VFSEC_ERROR_INVALID, "request: op is missing" },
        { "{'id':1,'op':'list-ports','args':[]}",
          VFSEC_ERROR_INVALID, "request: args is not an object" },
        /* The envelope: no id to answer, so the connection is closed. */
        { "{'op':'list-ports','args':{}}",
          VFSEC_ERROR_PROTOCOL, "request: id is missing" },
        { "{'id':-1,'op':'list-ports','args':{}}",
          VFSEC_ERROR_PROTOCOL, "request: id -1 is outside 0-9223372036854775807" },
        { "{'id':'1','op':'list-ports','args':{}}",
          VFSEC_ERROR_PROTOCOL, "request: id is not an integer" },
        /* A line that is not strict JSON (tests/test-json.c has every rule)
         * is a protocol error too, whatever its id. */
        { "{'id':1,'op':'list-ports'} {'id':2,'op':'list-ports'}",
          VFSEC_ERROR_PROTOCOL, "request line is not a valid JSON object: data after the object at byte 27" },
        { "{'id':1,'id':2,'op':'list-ports'}",
          VFSEC_ERROR_PROTOCOL, "request line is not a valid JSON object: a duplicate member name at byte 8" },
        { "{'id':18446744073709551616,'op':'list-ports'}",
          VFSEC_ERROR_PROTOCOL, "request line is not a valid JSON object: an integer outside the signed 64-bit range at byte 6" },
        { "{'id':1,'args':{'a':[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}",
          VFSEC_ERROR_PROTOCOL, "request line is not a valid JSON object: nesting deeper than 16 levels at byte 34" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *line = dq(cases[i].line);
        g_autoptr(GError) error = NULL;
        g_autoptr(VfsecContractRequest) req = NULL;
        guint64 id = 4242;

        g_test_message("invalid request %" G_GSIZE_FORMAT ": %s", i, cases[i].line);
        req = vfsec_contract_request_parse(line, strlen(line), &id, &error);
        g_assert_null(req);
        g_assert_error(error, VFSEC_ERROR, (gint)cases[i].code);
        g_assert_cmpstr(error->message, ==, cases[i].message);
        /* Only a protocol error leaves the server without an id to answer. */
        g_assert_cmpuint(id, ==, cases[i].code == VFSEC_ERROR_PROTOCOL ? 4242 : 1);
    }
}

/* The contract's line bound holds in the parser too (the framer normally
 * stops such a line first), and it is a protocol error like any bad line. */
static void
test_request_too_long(void)
{
    g_autofree char *line = g_strnfill(VFSEC_CONTRACT_MAX_LINE + 1, ' ');
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractRequest) req = NULL;
    static const char head[] = "{\"id\":1,\"op\":\"list-ports\"}";
    guint64 id = 4242;

    memcpy(line, head, strlen(head));
    req = vfsec_contract_request_parse(line, VFSEC_CONTRACT_MAX_LINE, &id, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(id, ==, 1);
    g_clear_pointer(&req, vfsec_contract_request_free);
    id = 4242;
    g_assert_null(vfsec_contract_request_parse(line, VFSEC_CONTRACT_MAX_LINE + 1, &id, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
    g_assert_cmpstr(error->message, ==, "request line is 1048577 bytes, more than 1048576");
    g_assert_cmpuint(id, ==, 4242);
}

typedef struct {
    VfsecContractOp op;
    const char *result;
    const char *message;
} BadResult;

static void
test_result_invalid(void)
{
    static const BadResult cases[] = {
        { VFSEC_CONTRACT_OP_HELLO, "{'version':1,'capabilities':[],'max_sas_per_port':1}",
          "hello result: server is missing" },
        { VFSEC_CONTRACT_OP_HELLO, "{'version':1,'server':'s','capabilities':['notifications','Bad Cap'],'max_sas_per_port':1}",
          "hello result: capabilities[1] 'Bad Cap' is not a token of a-z, 0-9, '.', '_', '-'" },
        { VFSEC_CONTRACT_OP_HELLO, "{'version':1,'server':'s','capabilities':'all','max_sas_per_port':1}",
          "hello result: capabilities is not an array" },
        { VFSEC_CONTRACT_OP_LIST_PORTS, "{'ports':[{'port':0,'name':'p0','pf_pci':'0000:03:00.0','pf_netdev':'eth/0',"
          "'pf_mac':'52:54:00:aa:bb:cc','num_vfs':4,'switch_mode':'veb','hairpin_capable':true}]}",
          "list-ports result: ports[0].pf_netdev 'eth/0' is not an interface name of at most 15 bytes" },
        { VFSEC_CONTRACT_OP_LIST_PORTS, "{'ports':[{'port':0,'name':'p0','pf_pci':'0000:03:00.0','pf_netdev':'enp3s0f0np0abcd',"
          "'pf_mac':'52:54:00:aa:bb:cc','num_vfs':4,'switch_mode':'veb','hairpin_capable':true}]}",
          NULL },
        { VFSEC_CONTRACT_OP_LIST_PORTS, "{'ports':[{'port':0,'name':'p0','pf_pci':'0000:03:00.0','pf_netdev':'enp3s0f0np0abcde',"
          "'pf_mac':'52:54:00:aa:bb:cc','num_vfs':4,'switch_mode':'veb','hairpin_capable':true}]}",
          "list-ports result: ports[0].pf_netdev 'enp3s0f0np0abcde' is not an interface name of at most 15 bytes" },
        { VFSEC_CONTRACT_OP_LIST_PORTS, "{'ports':[{'port':0,'name':'p0','pf_pci':'0000:03:00.0','pf_netdev':'e0',"
          "'pf_mac':'52:54:00:aa:bb:cc','num_vfs':4,'switch_mode':'VEB','hairpin_capable':true}]}",
          "list-ports result: ports[0].switch_mode 'VEB' is not a token of a-z, 0-9, '.', '_', '-' of at most 64 bytes" },
        { VFSEC_CONTRACT_OP_LIST_PORTS, "{'ports':[{'port':0,'name':'p0','pf_pci':'0000:03:00.0','pf_netdev':'e0',"
          "'pf_mac':null,'num_vfs':4,'switch_mode':'veb','hairpin_capable':true}]}",
          "list-ports result: ports[0].pf_mac is not a string" },
        { VFSEC_CONTRACT_OP_LIST_VFS, "{'vfs':[{'port':0,'vf':0,'pci':'0000:03:10.0','netdev':null,'mac':null,"
          "'port_tag':null,'trust':true,'spoofchk':true,'sa_count':0},{'port':0,'vf':1,'pci':'0000:03:10',"
          "'netdev':null,'mac':null,'port_tag':null,'trust':true,'spoofchk':true,'sa_count':0}]}",
          "list-vfs result: vfs[1].pci is invalid: '0000:03:10' is not a PCI address (expected dddd:bb:ss.f)" },
        { VFSEC_CONTRACT_OP_LIST_VFS, "{'vfs':[{'port':0,'vf':0,'pci':'0000:03:10.0','netdev':null,'mac':null,"
          "'trust':true,'spoofchk':true,'sa_count':0}]}",
          "list-vfs result: vfs[0].port_tag is missing" },
        { VFSEC_CONTRACT_OP_LIST_VFS, "{'vfs':[{'port':0,'vf':0,'pci':'0000:03:10.0','netdev':null,'mac':null,"
          "'port_tag':{'tpid':34984,'vid':1,'pcp':9},'trust':true,'spoofchk':true,'sa_count':0}]}",
          "list-vfs result: vfs[0].port_tag.pcp 9 is outside 0-7" },
        { VFSEC_CONTRACT_OP_SET_VF, "{'port':0,'vf':0,'pci':'0000:03:10.0','netdev':null,'mac':null,"
          "'port_tag':null,'trust':true,'spoofchk':true}",
          "set-vf result: sa_count is missing" },
        { VFSEC_CONTRACT_OP_RECLAIM_VF, "{'removed':1,'failed':0}",
          "reclaim-vf result: remaining is missing" },
        { VFSEC_CONTRACT_OP_GET_MACS, "{'generation':-2,'entries':[]}",
          "get-macs result: generation -2 is outside 0-9223372036854775807" },
        { VFSEC_CONTRACT_OP_SET_MACS, "{}",
          "set-macs result: generation is missing" },
        { VFSEC_CONTRACT_OP_GET_SWITCH_MODE, "{'mode':'vepa2'}",
          "get-switch-mode result: mode 'vepa2' is not veb or vepa" },
        { VFSEC_CONTRACT_OP_COUNTERS, "{'rx_frames':1,'tx_frames':-1}",
          "counters result: tx_frames -1 is outside 0-9223372036854775807" },
        { VFSEC_CONTRACT_OP_COUNTERS, "{'rx_frames':1,'Tx Frames':1}",
          "counters result: counter name 'Tx Frames' is not a token of a-z, 0-9, '.', '_', '-'" },
        { VFSEC_CONTRACT_OP_COUNTERS, "{'rx_frames':true}",
          "counters result: rx_frames is not an integer" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonObject) obj = object_from_text(cases[i].result);
        g_autoptr(GError) error = NULL;
        g_autoptr(VfsecContractResult) res = NULL;

        g_test_message("invalid result %" G_GSIZE_FORMAT ": %s", i, cases[i].result);
        res = vfsec_contract_result_from_json(cases[i].op, obj, &error);
        if (!cases[i].message) {
            /* The control row next to a rejected one: just inside the bound. */
            g_assert_no_error(error);
            g_assert_nonnull(res);
            continue;
        }
        g_assert_null(res);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
        g_assert_cmpstr(error->message, ==, cases[i].message);
    }
}

typedef struct {
    const char *line;
    const char *message;   /* NULL: parses, but the notification is rejected */
    VfsecErrorCode notify_code;
    const char *notify_message;
} BadMessage;

static void
test_message_invalid(void)
{
    static const BadMessage cases[] = {
        { "{'id':1}", "reply: ok is missing", 0, NULL },
        { "{'id':1,'ok':1,'result':{}}", "reply: ok is not a boolean", 0, NULL },
        { "{'ok':true,'result':{}}", "reply: id is missing", 0, NULL },
        { "{'id':1,'ok':true}", "reply: result is missing", 0, NULL },
        { "{'id':1,'ok':true,'result':[]}", "reply: result is not an object", 0, NULL },
        { "{'id':1,'ok':false}", "reply: error is missing", 0, NULL },
        { "{'id':1,'ok':false,'error':{'message':'m'}}", "reply: error.code is missing", 0, NULL },
        { "{'id':1,'ok':false,'error':{'code':'busy'}}", "reply: error.message is missing", 0, NULL },
        { "{'event':'vf-reset'}", "notification: data is missing", 0, NULL },
        { "{'event':5,'data':{}}", "notification: event is not a string", 0, NULL },
        { "not json", "reply line is not a valid JSON object: something other than an object at byte 0", 0, NULL },
        { "{'id':1,'ok':false,'ok':true,'result':{}}", "reply line is not a valid JSON object: a duplicate member name at byte 19", 0, NULL },
        { "{'event':'vf-reset','data':{'port':0}}", NULL,
          VFSEC_ERROR_INVALID, "vf-reset: vf is missing" },
        { "{'event':'port-change','data':{'port':0,'what':'Num VFs'}}", NULL,
          VFSEC_ERROR_INVALID, "port-change: what 'Num VFs' is not a token of a-z, 0-9, '.', '_', '-' of at most 64 bytes" },
        { "{'event':'agent-reset','data':{}}", NULL,
          VFSEC_ERROR_INVALID, "agent-reset: port is missing" },
        { "{'event':'vf-added','data':{'port':0}}", NULL,
          VFSEC_ERROR_UNSUPPORTED, "notification 'vf-added' is not an event of contract version 1" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *line = dq(cases[i].line);
        g_autoptr(VfsecContractMessage) msg = NULL;
        g_autoptr(GError) error = NULL;
        VfsecContractNotification n;

        g_test_message("invalid message %" G_GSIZE_FORMAT ": %s", i, cases[i].line);
        msg = vfsec_contract_message_parse(line, strlen(line), &error);
        if (cases[i].message) {
            g_assert_null(msg);
            g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
            g_assert_cmpstr(error->message, ==, cases[i].message);
            continue;
        }
        g_assert_no_error(error);
        g_assert_false(vfsec_contract_notification_parse(msg->event, msg->data, &n, &error));
        g_assert_error(error, VFSEC_ERROR, (gint)cases[i].notify_code);
        g_assert_cmpstr(error->message, ==, cases[i].notify_message);
        vfsec_contract_notification_clear(&n);
    }
}

/* ------------------------------------------------------------------------ */
/* Framer */

static void
test_framer_lines(void)
{
    g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(16);
    g_autoptr(GError) error = NULL;
    g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    gsize len = 99;

    /* A partial line stays pending. */
    g_assert_true(vfsec_contract_framer_feed(framer, "ab", 2, &error));
    g_assert_null(vfsec_contract_framer_pop(framer, &len));
    g_assert_cmpuint(vfsec_contract_framer_pending(framer), ==, 2);
    /* Several lines in one feed, the last one incomplete. */
    g_assert_true(vfsec_contract_framer_feed(framer, "c\n\nde\nf", 7, &error));
    a = vfsec_contract_framer_pop(framer, &len);
    g_assert_cmpstr(a, ==, "abc");
    g_assert_cmpuint(len, ==, 3);
    b = vfsec_contract_framer_pop(framer, &len);
    g_assert_cmpstr(b, ==, "");
    g_assert_cmpuint(len, ==, 0);
    c = vfsec_contract_framer_pop(framer, &len);
    g_assert_cmpstr(c, ==, "de");
    g_assert_null(vfsec_contract_framer_pop(framer, &len));
    g_assert_cmpuint(vfsec_contract_framer_pending(framer), ==, 1);
    /* A line exactly at the limit passes, byte by byte. */
    for (const char *p = "123456789012345\n"; *p; p++)
        g_assert_true(vfsec_contract_framer_feed(framer, p, 1, &error));
    d = vfsec_contract_framer_pop(framer, &len);
    g_assert_cmpstr(d, ==, "f123456789012345");
    g_assert_cmpuint(len, ==, 16);
    g_assert_cmpuint(vfsec_contract_framer_pending(framer), ==, 0);
    g_assert_no_error(error);
}

static void
test_framer_nul(void)
{
    g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    static const char bytes[] = "{\"id\":1,\0\"op\":\"x\"}\n";
    guint64 id;
    gsize len = 0;

    /* The framer passes the NUL through untouched; the parser rejects it. */
    g_assert_true(vfsec_contract_framer_feed(framer, bytes, sizeof(bytes) - 1, &error));
    line = vfsec_contract_framer_pop(framer, &len);
    g_assert_cmpuint(len, ==, sizeof(bytes) - 2);
    g_assert_cmpmem(line, len, bytes, sizeof(bytes) - 2);
    g_assert_null(vfsec_contract_request_parse(line, len, &id, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
    g_assert_cmpstr(error->message, ==, "request line is not a valid JSON object: a NUL byte at byte 8");
}

typedef struct {
    const char *feed1;
    const char *feed2;      /* NULL: one feed only */
    const char *before;     /* the whole line still popped before the failure, or NULL */
} LongCase;

static void
test_framer_too_long(void)
{
    static const LongCase cases[] = {
        { "0123456789", NULL, NULL },                 /* partial, already too long */
        { "0123456789\n", NULL, NULL },               /* complete, too long */
        { "ok\n01234", "56789", "ok" },               /* grows too long over two feeds */
        { "ok\n0123456789\nok2\n", NULL, "ok" },      /* lines after the long one are lost */
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(8);
        g_autoptr(GError) error = NULL;
        g_autofree char *line = NULL;
        gboolean ok;

        ok = vfsec_contract_framer_feed(framer, cases[i].feed1, strlen(cases[i].feed1), &error);
        if (cases[i].feed2) {
            g_assert_true(ok);
            ok = vfsec_contract_framer_feed(framer, cases[i].feed2, strlen(cases[i].feed2), &error);
        }
        g_assert_false(ok);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
        g_assert_cmpstr(error->message, ==, "contract line exceeds the 8-byte limit");
        g_clear_error(&error);
        line = vfsec_contract_framer_pop(framer, NULL);
        g_assert_cmpstr(line, ==, cases[i].before);
        if (line)
            g_assert_null(vfsec_contract_framer_pop(framer, NULL));
        /* Broken for good: even a short line is refused. */
        g_assert_false(vfsec_contract_framer_feed(framer, "a\n", 2, &error));
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    }
}

/* Many lines through one framer: consumed bytes are dropped, none are lost. */
static void
test_framer_stream(void)
{
    g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(64);
    g_autoptr(GString) stream = g_string_new(NULL);
    guint next = 0;

    for (guint i = 0; i < 5000; i++)
        g_string_append_printf(stream, "line %u\n", i);
    for (gsize off = 0; off < stream->len; off += 37) {
        g_autoptr(GError) error = NULL;
        char *line;

        g_assert_true(vfsec_contract_framer_feed(framer, stream->str + off,
                                                 MIN(37, stream->len - off), &error));
        while ((line = vfsec_contract_framer_pop(framer, NULL))) {
            g_autofree char *expect = g_strdup_printf("line %u", next++);
            g_assert_cmpstr(line, ==, expect);
            g_free(line);
        }
    }
    g_assert_cmpuint(next, ==, 5000);
    g_assert_cmpuint(vfsec_contract_framer_pending(framer), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* The specification's examples are valid for the codec */

static void
test_doc_examples(void)
{
    const char *source_dir = g_getenv("VFSEC_SOURCE_DIR");
    g_autofree char *path = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractOp op = VFSEC_CONTRACT_OP_LAST;
    guint64 request_id = 0;
    guint pairs = 0;

    if (!source_dir) {
        g_test_skip("VFSEC_SOURCE_DIR is not set");
        return;
    }
    path = g_build_filename(source_dir, "docs", "pf-driver-contract.md", NULL);
    g_assert_true(g_file_get_contents(path, &text, NULL, &error));
    g_assert_no_error(error);
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "\u2192 ")) {
            const char *line = *l + strlen("\u2192 ");
            g_autoptr(VfsecContractRequest) req = vfsec_contract_request_parse(line, strlen(line),
                                                                             &request_id, &error);
            g_assert_no_error(error);
            op = req->op;
        } else if (g_str_has_prefix(*l, "\u2190 ")) {
            const char *line = *l + strlen("\u2190 ");
            g_autoptr(VfsecContractMessage) msg = vfsec_contract_message_parse(line, strlen(line), &error);
            g_autoptr(VfsecContractResult) res = NULL;

            g_assert_no_error(error);
            g_assert_cmpint(op, <, VFSEC_CONTRACT_OP_LAST);
            g_assert_cmpuint(msg->id, ==, request_id);
            g_assert_true(msg->ok);
            res = vfsec_contract_result_from_json(op, msg->result, &error);
            g_assert_no_error(error);
            op = VFSEC_CONTRACT_OP_LAST;
            pairs++;
        }
    }
    g_assert_cmpuint(pairs, >=, 10);
}

/* ------------------------------------------------------------------------ */
/* Client against a fake server on the same (private) main context */

typedef struct _Fixture Fixture;

struct _Fixture {
    GMainContext *context;
    GSource *watchdog;
    char *dir;
    char *path;
    /* server side */
    GSocketListener *listener;
    GSocketConnection *server_conn;
    GCancellable *server_cancel;
    VfsecContractFramer *server_framer;
    gboolean server_reading;
    gboolean server_eof;            /* the client's end of stream arrived */
    guint8 server_buf[4096];
    GPtrArray *requests;            /* VfsecContractRequest*, hello excluded */
    char *hello_reply;              /* the hello reply line, ID for the id; NULL: the default */
    char *client_name;              /* what the client said in its hello */
    /* client side */
    VfsecContractClient *client;
    GPtrArray *notifications;       /* VfsecContractNotification* */
    GError *closed;
    guint closed_count;
};

static gboolean
on_watchdog(gpointer data)
{
    g_error("test did not finish within 20 s");
    return G_SOURCE_REMOVE;
}

static void
run_until(Fixture *fx, gboolean *flag)
{
    while (!*flag)
        g_main_context_iteration(fx->context, TRUE);
}

static void
server_send_bytes(Fixture *fx, const char *data, gsize len)
{
    g_autoptr(GError) error = NULL;
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(fx->server_conn));

    /* Into a local socket's buffer, read by the same loop: the tests send less
     * than it holds, or send while the client is reading. */
    g_assert_true(g_output_stream_write_all(out, data, len, NULL, NULL, &error));
    g_assert_no_error(error);
}

static void
server_send(Fixture *fx, const char *line)
{
    server_send_bytes(fx, line, strlen(line));
}

static void
server_send_json(Fixture *fx, const char *json)
{
    g_autofree char *line = dq(json);
    g_autofree char *with_nl = g_strconcat(line, "\n", NULL);

    server_send(fx, with_nl);
}

static void
server_reply(Fixture *fx, guint64 id, const char *result_json)
{
    g_autoptr(JsonObject) result = object_from_text(result_json);
    g_autoptr(GError) error = NULL;
    g_autofree char *line = vfsec_contract_reply_build(id, result, NULL, &error);

    g_assert_no_error(error);
    server_send(fx, line);
}

static void
server_reply_error(Fixture *fx, guint64 id, VfsecContractErrorCode code, const char *message)
{
    g_autofree char *line = vfsec_contract_reply_error_build(id, code, message, NULL);

    server_send(fx, line);
}

static void
server_shutdown(Fixture *fx)
{
    g_socket_shutdown(g_socket_connection_get_socket(fx->server_conn), TRUE, TRUE, NULL);
}

static void server_read_next(Fixture *fx);

static void
server_handle_line(Fixture *fx, const char *line, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractRequest) req = NULL;
    guint64 id = 0;

    req = vfsec_contract_request_parse(line, len, &id, &error);
    g_assert_no_error(error);
    if (req->op != VFSEC_CONTRACT_OP_HELLO) {
        g_ptr_array_add(fx->requests, g_steal_pointer(&req));
        return;
    }
    fx->client_name = g_strdup(req->args.hello.client);
    if (fx->hello_reply) {
        g_autoptr(GString) json = g_string_new(fx->hello_reply);
        g_autofree char *id_text = g_strdup_printf("%" G_GUINT64_FORMAT, id);

        g_string_replace(json, "ID", id_text, 1);
        server_send_json(fx, json->str);
    } else {
        server_reply(fx, id, "{'version':1,'server':'fake/1','capabilities':['notifications',"
                             "'x-future'],'max_sas_per_port':64}");
    }
}

static void
on_server_read(GObject *source, GAsyncResult *res, gpointer data)
{
    Fixture *fx = data;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);
    char *line;
    gsize len;

    fx->server_reading = FALSE;
    if (n == 0)
        fx->server_eof = TRUE;
    if (n <= 0)
        return;
    g_assert_true(vfsec_contract_framer_feed(fx->server_framer, fx->server_buf, (gsize)n, &error));
    while ((line = vfsec_contract_framer_pop(fx->server_framer, &len))) {
        server_handle_line(fx, line, len);
        g_free(line);
    }
    server_read_next(fx);
}

static void
server_read_next(Fixture *fx)
{
    fx->server_reading = TRUE;
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(fx->server_conn)),
                              fx->server_buf, sizeof(fx->server_buf), G_PRIORITY_DEFAULT,
                              fx->server_cancel, on_server_read, fx);
}

static void
on_server_accept(GObject *source, GAsyncResult *res, gpointer data)
{
    Fixture *fx = data;
    g_autoptr(GError) error = NULL;

    fx->server_conn = g_socket_listener_accept_finish(G_SOCKET_LISTENER(source), res, NULL, &error);
    if (!fx->server_conn)
        return;  /* the listener was closed: teardown */
    server_read_next(fx);
}

static void
on_notify(VfsecContractClient *client, const VfsecContractNotification *n, gpointer data)
{
    Fixture *fx = data;
    VfsecContractNotification *copy = g_memdup2(n, sizeof(*n));

    copy->what = g_strdup(n->what);
    g_ptr_array_add(fx->notifications, copy);
}

static void
notification_free(gpointer p)
{
    vfsec_contract_notification_clear(p);
    g_free(p);
}

static void
on_closed(VfsecContractClient *client, const GError *reason, gpointer data)
{
    Fixture *fx = data;

    g_clear_error(&fx->closed);
    fx->closed = g_error_copy(reason);
    fx->closed_count++;
}

static void
store_result(GObject *source, GAsyncResult *res, gpointer data)
{
    GAsyncResult **slot = data;

    g_assert_null(*slot);
    *slot = g_object_ref(res);
}

static void
run_until_result(Fixture *fx, GAsyncResult **slot)
{
    while (!*slot)
        g_main_context_iteration(fx->context, TRUE);
}

static void
run_until_requests(Fixture *fx, guint n)
{
    while (fx->requests->len < n)
        g_main_context_iteration(fx->context, TRUE);
}

/* Starts the fake server and the client on a fresh main context; with @connect,
 * connects and checks the hello. */
static void
fixture_setup(Fixture *fx, const char *hello_reply, gboolean connect)
{
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GError) error = NULL;

    memset(fx, 0, sizeof(*fx));
    fx->context = g_main_context_new();
    g_main_context_push_thread_default(fx->context);
    fx->watchdog = g_timeout_source_new_seconds(20);
    g_source_set_callback(fx->watchdog, on_watchdog, NULL, NULL);
    g_source_attach(fx->watchdog, fx->context);

    fx->dir = g_dir_make_tmp("vfsec-contract-XXXXXX", &error);
    g_assert_no_error(error);
    fx->path = g_build_filename(fx->dir, "pf.sock", NULL);
    fx->listener = g_socket_listener_new();
    address = g_unix_socket_address_new(fx->path);
    g_socket_listener_add_address(fx->listener, address, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &error);
    g_assert_no_error(error);
    fx->server_cancel = g_cancellable_new();
    fx->server_framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
    fx->requests = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_contract_request_free);
    fx->hello_reply = g_strdup(hello_reply);
    g_socket_listener_accept_async(fx->listener, fx->server_cancel, on_server_accept, fx);

    fx->notifications = g_ptr_array_new_with_free_func(notification_free);
    fx->client = vfsec_contract_client_new(fx->path);
    vfsec_contract_client_set_notify_func(fx->client, on_notify, fx, NULL);
    vfsec_contract_client_set_closed_func(fx->client, on_closed, fx, NULL);
    if (connect) {
        g_autoptr(GAsyncResult) res = NULL;

        vfsec_contract_client_connect_async(fx->client, 2000, NULL, store_result, &res);
        run_until_result(fx, &res);
        g_assert_true(vfsec_contract_client_connect_finish(fx->client, res, &error));
        g_assert_no_error(error);
        g_assert_true(vfsec_contract_client_is_open(fx->client));
    }
}

static void
fixture_teardown(Fixture *fx)
{
    g_clear_object(&fx->client);
    g_cancellable_cancel(fx->server_cancel);
    g_socket_listener_close(fx->listener);
    /* Let the cancelled reads of both sides finish before their buffers go. */
    while (fx->server_reading || g_main_context_pending(fx->context))
        g_main_context_iteration(fx->context, TRUE);
    g_clear_object(&fx->server_conn);
    g_clear_object(&fx->listener);
    g_clear_object(&fx->server_cancel);
    vfsec_contract_framer_free(fx->server_framer);
    g_ptr_array_unref(fx->requests);
    g_ptr_array_unref(fx->notifications);
    g_clear_error(&fx->closed);
    g_free(fx->hello_reply);
    g_free(fx->client_name);
    g_unlink(fx->path);
    g_rmdir(fx->dir);
    g_free(fx->path);
    g_free(fx->dir);
    g_source_destroy(fx->watchdog);
    g_source_unref(fx->watchdog);
    while (g_main_context_pending(fx->context))
        g_main_context_iteration(fx->context, FALSE);
    g_main_context_pop_thread_default(fx->context);
    g_main_context_unref(fx->context);
}

static VfsecContractRequest *
request_at(Fixture *fx, guint i)
{
    return g_ptr_array_index(fx->requests, i);
}

static void
test_client_hello(void)
{
    Fixture fx;
    const VfsecContractHello *hello;

    fixture_setup(&fx, NULL, TRUE);
    hello = vfsec_contract_client_get_hello(fx.client);
    g_assert_nonnull(hello);
    g_assert_cmpuint(hello->version, ==, 1);
    g_assert_cmpstr(hello->server, ==, "fake/1");
    g_assert_true(vfsec_contract_hello_has_capability(hello, VFSEC_CONTRACT_CAP_NOTIFICATIONS));
    g_assert_true(vfsec_contract_hello_has_capability(hello, "x-future"));
    g_assert_false(vfsec_contract_hello_has_capability(hello, VFSEC_CONTRACT_CAP_LOCAL_MACS));
    g_assert_cmpuint(hello->max_sas_per_port, ==, 64);
    g_assert_nonnull(strchr(fx.client_name, '/'));
    g_assert_cmpstr(vfsec_contract_client_get_path(fx.client), ==, fx.path);
    fixture_teardown(&fx);
}

typedef struct {
    const char *hello_reply;    /* ID: the id */
    VfsecErrorCode code;
    const char *message;        /* after "PF driver at <path> " */
} HelloCase;

static void
test_client_hello_refused(void)
{
    static const HelloCase cases[] = {
        { "{'id':ID,'ok':true,'result':{'version':2,'server':'s','capabilities':[],'max_sas_per_port':1}}",
          VFSEC_ERROR_PROTOCOL, "answered hello with contract version 2, not 1" },
        { "{'id':ID,'ok':false,'error':{'code':'version','message':'only version 2'}}",
          VFSEC_ERROR_PROTOCOL, "answered hello with version: only version 2" },
        { "{'id':ID,'ok':false,'error':{'code':'permission','message':'uid 1000 is not allowed'}}",
          VFSEC_ERROR_PERMISSION, "answered hello with permission: uid 1000 is not allowed" },
        { "{'id':ID,'ok':true,'result':{'version':1,'capabilities':[],'max_sas_per_port':1}}",
          VFSEC_ERROR_PROTOCOL, "broke the contract: hello result: server is missing" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        Fixture fx;
        g_autoptr(GAsyncResult) res = NULL;
        g_autoptr(GAsyncResult) call = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *expect = NULL;

        fixture_setup(&fx, cases[i].hello_reply, FALSE);
        vfsec_contract_client_connect_async(fx.client, 2000, NULL, store_result, &res);
        run_until_result(&fx, &res);
        g_assert_false(vfsec_contract_client_connect_finish(fx.client, res, &error));
        g_assert_error(error, VFSEC_ERROR, (gint)cases[i].code);
        expect = g_strdup_printf("PF driver at %s %s", fx.path, cases[i].message);
        g_assert_cmpstr(error->message, ==, expect);
        g_assert_false(vfsec_contract_client_is_open(fx.client));
        g_assert_null(vfsec_contract_client_get_hello(fx.client));
        /* A connection that never opened does not report a close. */
        g_assert_cmpuint(fx.closed_count, ==, 0);
        g_clear_error(&error);
        vfsec_contract_client_list_ports_async(fx.client, 0, NULL, store_result, &call);
        run_until_result(&fx, &call);
        g_assert_false(vfsec_contract_client_call_finish(fx.client, call, NULL, &error));
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
        fixture_teardown(&fx);
    }
}

static void
test_client_connect_nothing(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    g_autofree char *long_path = g_strnfill(200, 'x');
    g_autoptr(GError) error = NULL;
    g_autoptr(VfsecContractClient) client = NULL;

    dir = g_dir_make_tmp("vfsec-contract-XXXXXX", &error);
    g_assert_no_error(error);
    path = g_build_filename(dir, "nobody.sock", NULL);
    g_main_context_push_thread_default(context);
    client = vfsec_contract_client_connect_sync(path, 100, &error);
    g_assert_null(client);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_true(g_str_has_prefix(error->message, "cannot connect to PF driver at "));
    g_clear_error(&error);
    client = vfsec_contract_client_connect_sync(long_path, 100, &error);
    g_assert_null(client);
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_main_context_pop_thread_default(context);
    g_rmdir(dir);
}

/* Three calls in flight, answered in another order: each gets its own reply. */
static void
test_client_out_of_order(void)
{
    static const guint answer_order[] = { 2, 0, 1 };
    Fixture fx;
    GAsyncResult *res[3] = { NULL, NULL, NULL };

    fixture_setup(&fx, NULL, TRUE);
    for (guint port = 0; port < 3; port++)
        vfsec_contract_client_list_vfs_async(fx.client, port, 2000, NULL, store_result, &res[port]);
    run_until_requests(&fx, 3);
    for (guint i = 0; i < 3; i++) {
        VfsecContractRequest *req = request_at(&fx, answer_order[i]);
        g_autofree char *json = g_strdup_printf(
            "{'vfs':[{'port':%u,'vf':%u,'pci':'0000:03:10.%u','netdev':null,'mac':null,"
            "'port_tag':null,'trust':false,'spoofchk':true,'sa_count':%u}]}",
            req->args.port, 7 + req->args.port, req->args.port, 100 + req->args.port);

        g_assert_cmpint(req->op, ==, VFSEC_CONTRACT_OP_LIST_VFS);
        server_reply(&fx, req->id, json);
    }
    for (guint port = 0; port < 3; port++) {
        g_autoptr(GPtrArray) vfs = NULL;
        g_autoptr(GError) error = NULL;
        VfsecContractVf *vf;

        run_until_result(&fx, &res[port]);
        g_assert_true(vfsec_contract_client_list_vfs_finish(fx.client, res[port], &vfs, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(vfs->len, ==, 1);
        vf = g_ptr_array_index(vfs, 0);
        g_assert_cmpuint(vf->port, ==, port);
        g_assert_cmpuint(vf->vf, ==, 7 + port);
        g_assert_cmpuint(vf->sa_count, ==, 100 + port);
        g_clear_object(&res[port]);
    }
    fixture_teardown(&fx);
}

/* A request the server never answers times out, naming op, port and VF; its
 * late reply is dropped and the connection goes on. */
static void
test_client_timeout(void)
{
    Fixture fx;
    g_autoptr(GAsyncResult) res = NULL;
    g_autoptr(GAsyncResult) res2 = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *expect = NULL;
    VfsecContractReclaim reclaim = { 0 };
    guint64 silent_id;

    fixture_setup(&fx, NULL, TRUE);
    vfsec_contract_client_reclaim_vf_async(fx.client, 0, 3, 20, 50, NULL, store_result, &res);
    run_until_requests(&fx, 1);
    silent_id = request_at(&fx, 0)->id;
    g_assert_cmpuint(request_at(&fx, 0)->args.reclaim_vf.timeout_ms, ==, 20);
    run_until_result(&fx, &res);
    g_assert_false(vfsec_contract_client_reclaim_vf_finish(fx.client, res, &reclaim, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT);
    expect = g_strdup_printf("PF driver at %s did not answer reclaim-vf for port 0 VF 3 within 50 ms",
                             fx.path);
    g_assert_cmpstr(error->message, ==, expect);
    g_clear_error(&error);

    /* The late reply is dropped, not matched to the next call. */
    server_reply(&fx, silent_id, "{'removed':1,'failed':0,'remaining':0}");
    vfsec_contract_client_reclaim_vf_async(fx.client, 0, 4, 0, 2000, NULL, store_result, &res2);
    run_until_requests(&fx, 2);
    server_reply(&fx, request_at(&fx, 1)->id, "{'removed':5,'failed':1,'remaining':1}");
    run_until_result(&fx, &res2);
    g_assert_true(vfsec_contract_client_reclaim_vf_finish(fx.client, res2, &reclaim, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(reclaim.removed, ==, 5);
    g_assert_cmpuint(reclaim.failed, ==, 1);
    g_assert_cmpuint(reclaim.remaining, ==, 1);
    g_assert_true(vfsec_contract_client_is_open(fx.client));
    g_assert_cmpuint(fx.closed_count, ==, 0);
    fixture_teardown(&fx);
}

/* Runs everything the context has to do now (both ends' reads and writes). */
static void
drain(Fixture *fx)
{
    while (g_main_context_pending(fx->context))
        g_main_context_iteration(fx->context, FALSE);
}

static gboolean
on_flag_timer(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* With a cap of 3, ten calls put 3 on the wire; each answer sends the next
 * waiting one, in call order; every call gets its own reply. Without the cap
 * all ten would reach the server at once. */
static void
test_client_max_in_flight(void)
{
    enum { N = 10, CAP = 3 };
    Fixture fx;
    GAsyncResult *res[N] = { NULL };
    guint answered = 0;

    fixture_setup(&fx, NULL, TRUE);
    g_assert_cmpuint(vfsec_contract_client_get_max_in_flight(fx.client), ==,
                     VFSEC_CONTRACT_CLIENT_DEFAULT_MAX_IN_FLIGHT);
    vfsec_contract_client_set_max_in_flight(fx.client, CAP);
    for (guint i = 0; i < N; i++)
        vfsec_contract_client_get_switch_mode_async(fx.client, i, 2000, NULL, store_result, &res[i]);
    while (answered < N) {
        guint expect = MIN(answered + CAP, N);
        VfsecContractRequest *req;

        run_until_requests(&fx, expect);
        drain(&fx);
        /* Never more than CAP sent and unanswered. */
        g_assert_cmpuint(fx.requests->len, ==, expect);
        g_assert_cmpuint(vfsec_contract_client_get_n_waiting(fx.client), ==, N - expect);
        req = request_at(&fx, answered);
        g_assert_cmpuint(req->args.port, ==, answered);
        server_reply(&fx, req->id, "{'mode':'veb'}");
        answered++;
    }
    for (guint i = 0; i < N; i++) {
        g_autoptr(GError) error = NULL;
        VfsecContractSwitchMode mode;

        run_until_result(&fx, &res[i]);
        g_assert_true(vfsec_contract_client_get_switch_mode_finish(fx.client, res[i], &mode, &error));
        g_assert_no_error(error);
        g_assert_cmpint(mode, ==, VFSEC_CONTRACT_SWITCH_MODE_VEB);
        g_clear_object(&res[i]);
    }

    /* 0 lifts the cap: everything waiting goes out at once. */
    vfsec_contract_client_set_max_in_flight(fx.client, 1);
    for (guint i = 0; i < 4; i++)
        vfsec_contract_client_get_switch_mode_async(fx.client, i, 2000, NULL, store_result, &res[i]);
    run_until_requests(&fx, N + 1);
    drain(&fx);
    g_assert_cmpuint(fx.requests->len, ==, N + 1);
    vfsec_contract_client_set_max_in_flight(fx.client, 0);
    run_until_requests(&fx, N + 4);
    g_assert_cmpuint(vfsec_contract_client_get_n_waiting(fx.client), ==, 0);
    for (guint i = 0; i < 4; i++)
        server_reply(&fx, request_at(&fx, N + i)->id, "{'mode':'veb'}");
    for (guint i = 0; i < 4; i++) {
        run_until_result(&fx, &res[i]);
        g_assert_true(vfsec_contract_client_call_finish(fx.client, res[i], NULL, NULL));
        g_clear_object(&res[i]);
    }
    fixture_teardown(&fx);
}

/* A call that waits for a slot longer than its timeout does not time out:
 * the timeout counts from the send. A waiting call that is cancelled fails at
 * once and is never sent; closing fails the waiting calls too. */
static void
test_client_waiting_calls(void)
{
    Fixture fx;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GAsyncResult) first = NULL;
    g_autoptr(GAsyncResult) queued = NULL;
    g_autoptr(GAsyncResult) cancelled = NULL;
    g_autoptr(GAsyncResult) closed = NULL;
    g_autoptr(GError) error = NULL;
    gboolean waited = FALSE;
    GSource *timer;

    fixture_setup(&fx, NULL, TRUE);
    vfsec_contract_client_set_max_in_flight(fx.client, 1);
    vfsec_contract_client_list_ports_async(fx.client, 5000, NULL, store_result, &first);
    vfsec_contract_client_get_switch_mode_async(fx.client, 1, 100, NULL, store_result, &queued);
    vfsec_contract_client_get_switch_mode_async(fx.client, 2, 5000, cancellable, store_result,
                                                &cancelled);
    run_until_requests(&fx, 1);

    /* Three times the queued call's timeout, with only the first one sent. */
    timer = g_timeout_source_new(300);
    g_source_set_callback(timer, on_flag_timer, &waited, NULL);
    g_source_attach(timer, fx.context);
    g_source_unref(timer);
    run_until(&fx, &waited);
    g_assert_null(queued);
    g_assert_cmpuint(vfsec_contract_client_get_n_waiting(fx.client), ==, 2);

    g_cancellable_cancel(cancellable);
    run_until_result(&fx, &cancelled);
    g_assert_false(vfsec_contract_client_call_finish(fx.client, cancelled, NULL, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error(&error);
    g_assert_cmpuint(vfsec_contract_client_get_n_waiting(fx.client), ==, 1);

    server_reply(&fx, request_at(&fx, 0)->id, "{'ports':[]}");
    run_until_result(&fx, &first);
    g_assert_true(vfsec_contract_client_call_finish(fx.client, first, NULL, &error));
    g_assert_no_error(error);
    run_until_requests(&fx, 2);
    g_assert_cmpuint(request_at(&fx, 1)->args.port, ==, 1);
    server_reply(&fx, request_at(&fx, 1)->id, "{'mode':'vepa'}");
    run_until_result(&fx, &queued);
    g_assert_true(vfsec_contract_client_call_finish(fx.client, queued, NULL, &error));
    g_assert_no_error(error);
    drain(&fx);
    g_assert_cmpuint(fx.requests->len, ==, 2);   /* the cancelled call never went out */

    g_clear_object(&first);
    g_clear_object(&queued);
    vfsec_contract_client_list_ports_async(fx.client, 5000, NULL, store_result, &first);
    vfsec_contract_client_list_ports_async(fx.client, 5000, NULL, store_result, &closed);
    g_assert_cmpuint(vfsec_contract_client_get_n_waiting(fx.client), ==, 1);
    vfsec_contract_client_close(fx.client);
    run_until_result(&fx, &first);
    run_until_result(&fx, &closed);
    g_assert_false(vfsec_contract_client_call_finish(fx.client, first, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_clear_error(&error);
    g_assert_false(vfsec_contract_client_call_finish(fx.client, closed, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_cmpuint(vfsec_contract_client_get_n_waiting(fx.client), ==, 0);
    fixture_teardown(&fx);
}

/* The PF reclaim timeout must be shorter than the request's. */
static void
test_client_reclaim_deadline(void)
{
    Fixture fx;
    g_autoptr(GAsyncResult) res = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractReclaim reclaim;

    fixture_setup(&fx, NULL, TRUE);
    vfsec_contract_client_reclaim_vf_async(fx.client, 1, 2, 2000, 2000, NULL, store_result, &res);
    run_until_result(&fx, &res);
    g_assert_false(vfsec_contract_client_reclaim_vf_finish(fx.client, res, &reclaim, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, "reclaim-vf timeout of 2000 ms for port 1 VF 2 is not shorter "
                                        "than the request timeout of 2000 ms");
    g_assert_cmpuint(fx.requests->len, ==, 0);
    fixture_teardown(&fx);
}

static void
test_client_cancel(void)
{
    Fixture fx;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GAsyncResult) res = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractSwitchMode mode;

    fixture_setup(&fx, NULL, TRUE);
    vfsec_contract_client_get_switch_mode_async(fx.client, 0, 5000, cancellable, store_result, &res);
    run_until_requests(&fx, 1);
    g_cancellable_cancel(cancellable);
    run_until_result(&fx, &res);
    g_assert_false(vfsec_contract_client_get_switch_mode_finish(fx.client, res, &mode, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_true(vfsec_contract_client_is_open(fx.client));
    fixture_teardown(&fx);
}

/* The server goes away with two calls pending: both fail, the closed handler
 * runs once, and later calls fail at once. */
static void
test_client_server_closes(void)
{
    Fixture fx;
    g_autoptr(GAsyncResult) res1 = NULL;
    g_autoptr(GAsyncResult) res2 = NULL;
    g_autoptr(GAsyncResult) res3 = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *expect = NULL;
    g_autoptr(GArray) counters = NULL;
    g_autoptr(VfsecContractMacTable) table = NULL;

    fixture_setup(&fx, NULL, TRUE);
    expect = g_strdup_printf("PF driver connection to %s closed", fx.path);
    vfsec_contract_client_counters_async(fx.client, 0, 5000, NULL, store_result, &res1);
    vfsec_contract_client_get_macs_async(fx.client, 1, 5000, NULL, store_result, &res2);
    run_until_requests(&fx, 2);
    server_shutdown(&fx);
    run_until_result(&fx, &res1);
    run_until_result(&fx, &res2);
    g_assert_false(vfsec_contract_client_counters_finish(fx.client, res1, &counters, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_cmpstr(error->message, ==, expect);
    g_clear_error(&error);
    g_assert_false(vfsec_contract_client_get_macs_finish(fx.client, res2, &table, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_clear_error(&error);
    g_assert_cmpuint(fx.closed_count, ==, 1);
    g_assert_error(fx.closed, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_cmpstr(fx.closed->message, ==, expect);
    g_assert_false(vfsec_contract_client_is_open(fx.client));

    vfsec_contract_client_list_ports_async(fx.client, 0, NULL, store_result, &res3);
    run_until_result(&fx, &res3);
    g_assert_false(vfsec_contract_client_call_finish(fx.client, res3, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_clear_error(&error);
    /* Closing again changes nothing and reports nothing. */
    vfsec_contract_client_close(fx.client);
    g_assert_cmpuint(fx.closed_count, ==, 1);
    fixture_teardown(&fx);
}

/* The owner closes: pending calls fail, the closed handler stays quiet, and
 * the server sees the end of the stream. */
static void
test_client_owner_closes(void)
{
    Fixture fx;
    g_autoptr(GAsyncResult) res = NULL;
    g_autoptr(GError) error = NULL;

    fixture_setup(&fx, NULL, TRUE);
    vfsec_contract_client_list_ports_async(fx.client, 5000, NULL, store_result, &res);
    run_until_requests(&fx, 1);
    vfsec_contract_client_close(fx.client);
    run_until_result(&fx, &res);
    g_assert_false(vfsec_contract_client_call_finish(fx.client, res, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_IO);
    g_assert_cmpuint(fx.closed_count, ==, 0);
    run_until(&fx, &fx.server_eof);
    fixture_teardown(&fx);
}

static void
test_client_notifications(void)
{
    Fixture fx;
    g_autoptr(GAsyncResult) res = NULL;
    g_autoptr(GError) error = NULL;
    VfsecContractNotification *n;

    fixture_setup(&fx, NULL, TRUE);
    vfsec_contract_client_subscribe_async(fx.client, VFSEC_CONTRACT_EVENT_MASK_ALL, 2000, NULL,
                                          store_result, &res);
    run_until_requests(&fx, 1);
    g_assert_cmpuint(request_at(&fx, 0)->args.events, ==, VFSEC_CONTRACT_EVENT_MASK_ALL);
    server_reply(&fx, request_at(&fx, 0)->id, "{}");
    run_until_result(&fx, &res);
    g_assert_true(vfsec_contract_client_subscribe_finish(fx.client, res, &error));
    g_assert_no_error(error);

    server_send_json(&fx, "{'event':'vf-reset','data':{'port':0,'vf':3}}");
    /* An event of a later version is ignored, not fatal. */
    server_send_json(&fx, "{'event':'vf-added','data':{'port':0,'vf':9}}");
    server_send_json(&fx, "{'event':'agent-reset','data':{'port':1,'reason':'watchdog'}}");
    server_send_json(&fx, "{'event':'port-change','data':{'port':2,'what':'switch-mode'}}");
    while (fx.notifications->len < 3)
        g_main_context_iteration(fx.context, TRUE);
    n = g_ptr_array_index(fx.notifications, 0);
    g_assert_cmpint(n->event, ==, VFSEC_CONTRACT_EVENT_VF_RESET);
    g_assert_cmpuint(n->port, ==, 0);
    g_assert_cmpuint(n->vf, ==, 3);
    n = g_ptr_array_index(fx.notifications, 1);
    g_assert_cmpint(n->event, ==, VFSEC_CONTRACT_EVENT_AGENT_RESET);
    g_assert_cmpuint(n->port, ==, 1);
    n = g_ptr_array_index(fx.notifications, 2);
    g_assert_cmpint(n->event, ==, VFSEC_CONTRACT_EVENT_PORT_CHANGE);
    g_assert_cmpuint(n->port, ==, 2);
    g_assert_cmpstr(n->what, ==, "switch-mode");
    g_assert_true(vfsec_contract_client_is_open(fx.client));
    fixture_teardown(&fx);
}

typedef struct {
    VfsecContractErrorCode code;
    const char *code_name;      /* as sent; NULL: the code's own */
    const char *reason;         /* the server's message */
    VfsecErrorCode local;
    const char *expect;         /* after "PF driver at <path> " */
} RemoteErrorCase;

/* Error replies become GErrors naming op, port and the server's reason. */
static void
test_client_error_reply(void)
{
    static const RemoteErrorCase cases[] = {
        { VFSEC_CONTRACT_ERROR_CONFLICT, NULL, "generation is 8, not 7", VFSEC_ERROR_CONFLICT,
          "answered set-macs for port 1 with conflict: generation is 8, not 7" },
        { VFSEC_CONTRACT_ERROR_BUSY, NULL, "reclaim in progress", VFSEC_ERROR_CONFLICT,
          "answered set-macs for port 1 with busy: reclaim in progress" },
        { VFSEC_CONTRACT_ERROR_NOT_FOUND, NULL, "no port 1", VFSEC_ERROR_NOT_FOUND,
          "answered set-macs for port 1 with not-found: no port 1" },
        { VFSEC_CONTRACT_ERROR_FAILED, "quota", "over quota", VFSEC_ERROR_FAILED,
          "answered set-macs for port 1 with failed: over quota" },
    };
    Fixture fx;

    fixture_setup(&fx, NULL, TRUE);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(VfsecContractMacTable) table = vfsec_contract_mac_table_new(7);
        g_autoptr(GAsyncResult) res = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *expect = NULL;
        const char *reason = cases[i].reason;
        guint64 generation = 0;

        vfsec_contract_client_set_macs_async(fx.client, 1, table, 2000, NULL, store_result, &res);
        run_until_requests(&fx, i + 1);
        g_assert_cmpuint(request_at(&fx, i)->args.set_macs.table->generation, ==, 7);
        if (cases[i].code_name) {
            g_autofree char *json = g_strdup_printf(
                "{'id':%" G_GUINT64_FORMAT ",'ok':false,'error':{'code':'%s','message':'%s'}}",
                request_at(&fx, i)->id, cases[i].code_name, reason);
            server_send_json(&fx, json);
        } else {
            server_reply_error(&fx, request_at(&fx, i)->id, cases[i].code, reason);
        }
        run_until_result(&fx, &res);
        g_assert_false(vfsec_contract_client_set_macs_finish(fx.client, res, &generation, &error));
        g_assert_error(error, VFSEC_ERROR, (gint)cases[i].local);
        expect = g_strdup_printf("PF driver at %s %s", fx.path, cases[i].expect);
        g_assert_cmpstr(error->message, ==, expect);
    }
    g_assert_true(vfsec_contract_client_is_open(fx.client));
    fixture_teardown(&fx);
}

/* A well-formed reply whose result breaks the contract fails that call only. */
static void
test_client_bad_result(void)
{
    Fixture fx;
    g_autoptr(GAsyncResult) res = NULL;
    g_autoptr(GAsyncResult) res2 = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) vfs = NULL;
    g_autoptr(VfsecContractVf) vf = NULL;
    g_autoptr(VfsecContractVf) want = vfsec_contract_vf_new();
    g_autofree char *expect = NULL;
    VfsecContractRequest *req;

    fixture_setup(&fx, NULL, TRUE);
    vfsec_contract_client_list_vfs_async(fx.client, 0, 2000, NULL, store_result, &res);
    run_until_requests(&fx, 1);
    server_reply(&fx, request_at(&fx, 0)->id, "{'vfs':[{'port':0}]}");
    run_until_result(&fx, &res);
    g_assert_false(vfsec_contract_client_list_vfs_finish(fx.client, res, &vfs, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
    expect = g_strdup_printf("PF driver at %s broke the contract: list-vfs result: vfs[0].vf is missing",
                             fx.path);
    g_assert_cmpstr(error->message, ==, expect);
    g_assert_true(vfsec_contract_client_is_open(fx.client));
    g_clear_error(&error);

    /* And set-vf sends only the fields asked for. */
    want->port = 0;
    want->vf = 2;
    want->netdev = g_strdup("not-sent");
    want->has_port_tag = TRUE;
    want->port_tag = (VfsecContractPortTag){ VFSEC_CONTRACT_TPID_8021Q, 4094, 0 };
    want->trust = TRUE;
    vfsec_contract_client_set_vf_async(fx.client, want, VFSEC_CONTRACT_SET_VF_PORT_TAG, 2000, NULL,
                                       store_result, &res2);
    run_until_requests(&fx, 2);
    req = request_at(&fx, 1);
    g_assert_cmpint(req->args.set_vf.fields, ==, VFSEC_CONTRACT_SET_VF_PORT_TAG);
    g_assert_true(req->args.set_vf.vf.has_port_tag);
    g_assert_cmpuint(req->args.set_vf.vf.port_tag.vid, ==, 4094);
    server_reply(&fx, req->id, "{'port':0,'vf':2,'pci':'0000:03:10.4','netdev':null,'mac':null,"
                               "'port_tag':{'tpid':33024,'vid':4094,'pcp':0},'trust':false,"
                               "'spoofchk':true,'sa_count':0}");
    run_until_result(&fx, &res2);
    g_assert_true(vfsec_contract_client_set_vf_finish(fx.client, res2, &vf, &error));
    g_assert_no_error(error);
    g_assert_true(vf->has_port_tag);
    g_assert_false(vf->trust);
    g_assert_cmpstr(vf->netdev, ==, NULL);
    fixture_teardown(&fx);
}

typedef struct {
    const char *line;       /* what the server sends while a call is pending; NULL: endless */
    gsize len;              /* 0: strlen(line) */
    const char *reason;     /* after "PF driver at <path> broke the contract: " */
} MalformedCase;

/* A malformed line closes the connection with a protocol error. */
static void
test_client_malformed(void)
{
    static const MalformedCase cases[] = {
        { "this is not json\n", 0, "reply line is not a valid JSON object: something other than an object at byte 0" },
        { "{\"id\":1}\n", 0, "reply: ok is missing" },
        { "{\"id\":99,\"ok\":true,\"result\":{}}\n", 0, "reply to request 99 that was never sent" },
        { "{\"event\":\"vf-reset\",\"data\":{\"port\":0}}\n", 0, "vf-reset: vf is missing" },
        { "{\"id\":1,\"ok\":true,\"result\":{}}\0\n", 33, "reply line is not a valid JSON object: a NUL byte at byte 30" },
        { NULL, 0, "contract line exceeds the 1048576-byte limit" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        Fixture fx;
        g_autoptr(GAsyncResult) res = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *expect = NULL;

        fixture_setup(&fx, NULL, TRUE);
        vfsec_contract_client_call_async(fx.client, "list-ports", NULL, 5000, NULL, store_result, &res);
        run_until_requests(&fx, 1);
        g_assert_cmpuint(request_at(&fx, 0)->id, ==, 1);
        if (cases[i].line) {
            server_send_bytes(&fx, cases[i].line, cases[i].len ? cases[i].len : strlen(cases[i].line));
        } else {
            /* 64 KiB at a time, letting the client read, until it gives up. */
            g_autofree char *chunk = g_strnfill(64 * 1024, ' ');
            while (vfsec_contract_client_is_open(fx.client)) {
                server_send(&fx, chunk);
                while (g_main_context_iteration(fx.context, FALSE))
                    ;
            }
        }
        run_until_result(&fx, &res);
        g_assert_false(vfsec_contract_client_call_finish(fx.client, res, NULL, &error));
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
        expect = g_strdup_printf("PF driver at %s broke the contract: %s", fx.path, cases[i].reason);
        g_assert_cmpstr(error->message, ==, expect);
        g_assert_cmpuint(fx.closed_count, ==, 1);
        g_assert_error(fx.closed, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL);
        g_assert_cmpstr(fx.closed->message, ==, expect);
        g_assert_false(vfsec_contract_client_is_open(fx.client));
        fixture_teardown(&fx);
    }
}

/* ------------------------------------------------------------------------ */
/* The blocking client against a server thread */

typedef struct {
    GSocket *listener;
    char *seen_op;
} SyncServer;

static gpointer
sync_server_thread(gpointer data)
{
    SyncServer *s = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) sock = g_socket_accept(s->listener, NULL, &error);
    g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
    char buf[4096];
    gboolean done = FALSE;

    g_assert_no_error(error);
    while (!done) {
        gssize n = g_socket_receive(sock, buf, sizeof(buf), NULL, &error);
        char *line;
        gsize len;

        g_assert_no_error(error);
        if (n == 0)
            break;
        g_assert_true(vfsec_contract_framer_feed(framer, buf, (gsize)n, &error));
        while ((line = vfsec_contract_framer_pop(framer, &len))) {
            g_autoptr(VfsecContractRequest) req = NULL;
            g_autoptr(VfsecContractResult) res = NULL;
            g_autoptr(JsonObject) obj = NULL;
            g_autofree char *reply = NULL;
            guint64 id;
            VfsecContractPort *port;

            req = vfsec_contract_request_parse(line, len, &id, &error);
            g_free(line);
            g_assert_no_error(error);
            res = vfsec_contract_result_new(req->op);
            if (req->op == VFSEC_CONTRACT_OP_HELLO) {
                res->u.hello.version = VFSEC_CONTRACT_VERSION;
                res->u.hello.server = g_strdup("thread/1");
            } else {
                s->seen_op = g_strdup(vfsec_contract_op_to_string(req->op));
                port = vfsec_contract_port_new();
                port->name = g_strdup("p0");
                port->pf_netdev = g_strdup("eth0");
                g_assert_true(vfsec_pci_addr_parse("0000:00:03.0", &port->pf_pci, NULL));
                g_assert_true(vfsec_mac_parse("52:54:00:00:00:01", &port->pf_mac, NULL));
                port->num_vfs = 7;
                g_ptr_array_add(res->u.ports, port);
                done = TRUE;
            }
            obj = vfsec_contract_result_to_json(res);
            reply = vfsec_contract_reply_build(id, obj, &len, &error);
            g_assert_no_error(error);
            g_assert_cmpint(g_socket_send(sock, reply, len, NULL, &error), ==, (gssize)len);
        }
    }
    return NULL;
}

static void
test_client_sync(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("vfsec-contract-XXXXXX", &error);
    g_autofree char *path = g_build_filename(dir, "pf.sock", NULL);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    g_autoptr(VfsecContractClient) client = NULL;
    g_autoptr(JsonObject) result = NULL;
    g_autoptr(VfsecContractResult) ports = NULL;
    SyncServer server = { 0 };
    GThread *thread;

    server.listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                   G_SOCKET_PROTOCOL_DEFAULT, &error);
    g_assert_no_error(error);
    g_assert_true(g_socket_bind(server.listener, address, FALSE, &error));
    g_assert_true(g_socket_listen(server.listener, &error));
    thread = g_thread_new("pf-server", sync_server_thread, &server);

    client = vfsec_contract_client_connect_sync(path, 2000, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vfsec_contract_client_get_hello(client)->server, ==, "thread/1");
    g_assert_true(vfsec_contract_client_call_sync(client, "list-ports", NULL, 2000, &result, &error));
    g_assert_no_error(error);
    ports = vfsec_contract_result_from_json(VFSEC_CONTRACT_OP_LIST_PORTS, result, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(ports->u.ports->len, ==, 1);
    g_assert_cmpuint(((VfsecContractPort *)g_ptr_array_index(ports->u.ports, 0))->num_vfs, ==, 7);
    g_clear_object(&client);
    g_thread_join(thread);
    g_assert_cmpstr(server.seen_op, ==, "list-ports");
    g_free(server.seen_op);
    g_object_unref(server.listener);
    g_unlink(path);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/contract/codec/names", test_names);
    g_test_add_func("/contract/codec/request-roundtrip", test_request_roundtrip);
    g_test_add_func("/contract/codec/result-roundtrip", test_result_roundtrip);
    g_test_add_func("/contract/codec/struct-roundtrip", test_struct_roundtrip);
    g_test_add_func("/contract/codec/notification-roundtrip", test_notification_roundtrip);
    g_test_add_func("/contract/codec/error-reply", test_error_reply);
    g_test_add_func("/contract/codec/build-too-large", test_build_too_large);
    g_test_add_func("/contract/codec/reply-envelope", test_reply_envelope);
    g_test_add_func("/contract/codec/request-invalid", test_request_invalid);
    g_test_add_func("/contract/codec/request-too-long", test_request_too_long);
    g_test_add_func("/contract/codec/result-invalid", test_result_invalid);
    g_test_add_func("/contract/codec/message-invalid", test_message_invalid);
    g_test_add_func("/contract/codec/doc-examples", test_doc_examples);
    g_test_add_func("/contract/framer/lines", test_framer_lines);
    g_test_add_func("/contract/framer/nul", test_framer_nul);
    g_test_add_func("/contract/framer/too-long", test_framer_too_long);
    g_test_add_func("/contract/framer/stream", test_framer_stream);
    g_test_add_func("/contract/client/hello", test_client_hello);
    g_test_add_func("/contract/client/hello-refused", test_client_hello_refused);
    g_test_add_func("/contract/client/connect-nothing", test_client_connect_nothing);
    g_test_add_func("/contract/client/out-of-order", test_client_out_of_order);
    g_test_add_func("/contract/client/timeout", test_client_timeout);
    g_test_add_func("/contract/client/reclaim-deadline", test_client_reclaim_deadline);
    g_test_add_func("/contract/client/max-in-flight", test_client_max_in_flight);
    g_test_add_func("/contract/client/waiting-calls", test_client_waiting_calls);
    g_test_add_func("/contract/client/cancel", test_client_cancel);
    g_test_add_func("/contract/client/server-closes", test_client_server_closes);
    g_test_add_func("/contract/client/owner-closes", test_client_owner_closes);
    g_test_add_func("/contract/client/notifications", test_client_notifications);
    g_test_add_func("/contract/client/error-reply", test_client_error_reply);
    g_test_add_func("/contract/client/bad-result", test_client_bad_result);
    g_test_add_func("/contract/client/malformed", test_client_malformed);
    g_test_add_func("/contract/client/sync", test_client_sync);
    return g_test_run();
}
