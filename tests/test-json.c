/* test-json.c: the strict JSON line reader that both of vfsec's JSON-lines
 * protocols use — RFC 8259 lines it takes, hostile lines it refuses with the
 * problem and its byte offset — and the line writer. */
#include <string.h>

#include "vfsec-json.h"

#define WHAT "test line"
#define MAX_LEN 4096
#define MAX_DEPTH 16

typedef struct {
    const char *line;
    gsize len;               /* 0: strlen(line) */
    const char *problem;     /* NULL: accepted; else "<problem> at byte <n>" */
} LineCase;

static const LineCase line_cases[] = {
    /* Accepted: the whole grammar. */
    { "{}", 0, NULL },
    { " \t\r\n{ }\r", 0, NULL },
    { "{\"a\":[1,-0,0,0.5,-1.5e+3,2E-2,1e5,[],{}],\"b\":{\"c\":null,\"d\":true,\"e\":false}}", 0,
      NULL },
    { "{\"max\":9223372036854775807,\"min\":-9223372036854775808}", 0, NULL },
    /* Not integers, so outside the 64-bit rule (json-glib reads doubles). */
    { "{\"f\":123456789012345678901234567890.5,\"g\":1e30}", 0, NULL },
    { "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud834\\udd1e\\u007f\"}", 0, NULL },
    { "{\"s\":\"\xc3\xa9\xf0\x9d\x84\x9e\x7f\"}", 0, NULL },
    /* A name may come again in another object, and names that share a
     * prefix (or are empty) are different names. */
    { "{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}],\"c\":{\"a\":{\"a\":[]}}}", 0, NULL },
    { "{\"a\":1,\"ab\":2,\"\":3,\"b\":4,\"ba\":5}", 0, NULL },
    { "{\"\xc3\xa9\":1,\"e\":2}", 0, NULL },

    /* Not one object. */
    { "", 0, "an empty line at byte 0" },
    { "  \r", 0, "an empty line at byte 3" },
    { "[1]", 0, "something other than an object at byte 0" },
    { "\"text\"", 0, "something other than an object at byte 0" },
    { "{} {}", 0, "data after the object at byte 3" },
    { "{\"id\":1}x", 0, "data after the object at byte 8" },
    { "{\"a\":1", 0, "an unterminated object or array at byte 6" },
    { "{\"a\":", 0, "an unterminated object or array at byte 5" },
    { "{\"a\":[1,", 0, "an unterminated object or array at byte 8" },
    /* Grammar json-glib is lenient about. */
    { "{'a':1}", 0, "a missing member name at byte 1" },
    { "{\"a\":1,}", 0, "a missing member name at byte 7" },
    { "{\"a\":[1,]}", 0, "an unexpected character at byte 8" },
    { "{\"a\" 1}", 0, "a missing ':' at byte 5" },
    { "{\"a\":1]", 0, "a missing ',' or closing bracket at byte 6" },
    { "{\"a\":1 \"b\":2}", 0, "a missing ',' or closing bracket at byte 7" },
    { "{\"a\":0x10}", 0, "a missing ',' or closing bracket at byte 6" },
    { "{\"a\":01}", 0, "a missing ',' or closing bracket at byte 6" },
    { "{\"a\":-}", 0, "a malformed number at byte 6" },
    { "{\"a\":1.}", 0, "a malformed number at byte 7" },
    { "{\"a\":1e+}", 0, "a malformed number at byte 8" },
    { "{\"a\":.5}", 0, "an unexpected character at byte 5" },
    { "{\"a\":+1}", 0, "an unexpected character at byte 5" },
    { "{\"a\":tru}", 0, "an unexpected character at byte 5" },
    { "{\"a\":True}", 0, "an unexpected character at byte 5" },
    { "{\"a\":#}", 0, "an unexpected character at byte 5" },
    /* Integers json-glib would wrap or clamp. */
    { "{\"a\":9223372036854775808}", 0, "an integer outside the signed 64-bit range at byte 5" },
    { "{\"a\":-9223372036854775809}", 0, "an integer outside the signed 64-bit range at byte 5" },
    { "{\"a\":[0,18446744073709551616]}", 0,
      "an integer outside the signed 64-bit range at byte 8" },
    /* Strings. */
    { "{\"a\":\"x\ty\"}", 0, "a raw control character in a string at byte 7" },
    { "{\"a\":\"\\x41\"}", 0, "an unknown escape at byte 6" },
    { "{\"a\":\"\\u12g4\"}", 0, "a malformed \\u escape at byte 6" },
    { "{\"a\":\"\\u12\"}", 0, "a malformed \\u escape at byte 6" },
    { "{\"a\":\"a\\u0000b\"}", 0, "\\u0000 in a string at byte 7" },
    { "{\"a\":\"\\ud800\"}", 0, "a lone high surrogate at byte 6" },
    { "{\"a\":\"\\ud800\\u0041\"}", 0, "a lone high surrogate at byte 6" },
    { "{\"a\":\"\\udc00\\ud800\"}", 0, "a lone low surrogate at byte 6" },
    { "{\"a\":\"abc", 0, "an unterminated string at byte 9" },
    { "{\"a\":\"abc\\", 0, "an unterminated string at byte 10" },
    /* Bytes. */
    { "{\"a\":1}\0{}", 9, "a NUL byte at byte 7" },
    { "{\"a\":\"\xc3\x28\"}", 0, "invalid UTF-8 at byte 6" },
    { "{\"a\":\"\xc0\xaf\"}", 0, "invalid UTF-8 at byte 6" },        /* overlong '/' */
    { "{\"a\":\"\xed\xa0\x80\"}", 0, "invalid UTF-8 at byte 6" },    /* a surrogate */
    /* Member names: json-glib would keep the last of two. */
    { "{\"a\":1,\"a\":2}", 0, "a duplicate member name at byte 7" },
    { "{\"b\":{\"x\":1,\"y\":2,\"x\":3}}", 0, "a duplicate member name at byte 18" },
    { "{\"a\":[{\"a\":1,\"b\":2,\"a\":3}]}", 0, "a duplicate member name at byte 19" },
    { "{\"a\\u0062\":1}", 0, "an escape in a member name at byte 3" },
    { "{\"ab\":1,\"a\\u0062\":2}", 0, "an escape in a member name at byte 10" },
};

static void
test_lines(void)
{
    for (guint i = 0; i < G_N_ELEMENTS(line_cases); i++) {
        const LineCase *c = &line_cases[i];
        gsize len = c->len ? c->len : strlen(c->line);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) root = NULL;

        g_test_message("line %u: %s", i, c->line);
        root = vfsec_json_parse_line(c->line, len, MAX_LEN, MAX_DEPTH, WHAT, &error);
        if (!c->problem) {
            g_assert_no_error(error);
            g_assert_nonnull(root);
            continue;
        }
        g_assert_null(root);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
        {
            g_autofree char *expected =
                g_strdup_printf(WHAT " is not a valid JSON object: %s", c->problem);

            g_assert_cmpstr(error->message, ==, expected);
        }
        /* A caller may not want the error. */
        g_assert_null(vfsec_json_parse_line(c->line, len, MAX_LEN, MAX_DEPTH, WHAT, NULL));
    }
}

/* What passed reaches the caller as json-glib reads it. */
static void
test_values(void)
{
    static const char line[] =
        "{\"min\":-9223372036854775808,\"max\":9223372036854775807,"
        "\"s\":\"a\\\"\\u00e9\\ud834\\udd1e\",\"n\":null,\"o\":{\"a\":[true]}}";
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) root = vfsec_json_parse_line(line, strlen(line), MAX_LEN, MAX_DEPTH,
                                                       WHAT, &error);

    g_assert_no_error(error);
    g_assert_cmpint(json_object_get_int_member(root, "min"), ==, G_MININT64);
    g_assert_cmpint(json_object_get_int_member(root, "max"), ==, G_MAXINT64);
    g_assert_cmpstr(json_object_get_string_member(root, "s"), ==, "a\"\xc3\xa9\xf0\x9d\x84\x9e");
    g_assert_true(json_object_get_null_member(root, "n"));
    g_assert_true(json_array_get_boolean_element(
        json_object_get_array_member(json_object_get_object_member(root, "o"), "a"), 0));
}

/* {"a":[[...[]...]]}: @depth levels, the root included. */
static char *
nested(guint depth)
{
    GString *s = g_string_new("{\"a\":");

    for (guint i = 1; i < depth; i++)
        g_string_append_c(s, '[');
    for (guint i = 1; i < depth; i++)
        g_string_append_c(s, ']');
    g_string_append_c(s, '}');
    return g_string_free(s, FALSE);
}

static void
test_depth(void)
{
    static const guint depths[] = { 1, 2, 5, MAX_DEPTH };

    for (guint i = 0; i < G_N_ELEMENTS(depths); i++) {
        guint max = depths[i];
        g_autofree char *fits = nested(max);
        g_autofree char *deeper = nested(max + 1);
        g_autofree char *expected = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) root = NULL;

        /* nested(1) is {"a":}, not an object: the root alone is {}. */
        root = vfsec_json_parse_line(max == 1 ? "{}" : fits, max == 1 ? 2 : strlen(fits),
                                     MAX_LEN, max, WHAT, &error);
        g_assert_no_error(error);
        g_assert_nonnull(root);
        g_assert_null(vfsec_json_parse_line(deeper, strlen(deeper), MAX_LEN, max, WHAT, &error));
        /* The refused bracket is the (max+1)th: the root, then max-1 '['. */
        expected = g_strdup_printf(WHAT " is not a valid JSON object: nesting deeper than %u "
                                   "levels at byte %u", max, 5 + max - 1);
        g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
        g_assert_cmpstr(error->message, ==, expected);
    }
}

static void
test_length(void)
{
    g_autofree char *line = g_strnfill(MAX_LEN + 1, ' ');
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) root = NULL;

    /* Exactly the bound: white space is part of the line. */
    line[0] = '{';
    line[MAX_LEN - 1] = '}';
    root = vfsec_json_parse_line(line, MAX_LEN, MAX_LEN, MAX_DEPTH, WHAT, &error);
    g_assert_no_error(error);
    g_assert_nonnull(root);
    g_assert_null(vfsec_json_parse_line(line, MAX_LEN + 1, MAX_LEN, MAX_DEPTH, WHAT, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_assert_cmpstr(error->message, ==, WHAT " is 4097 bytes, more than 4096");
}

/* What json-glib alone would crash on or take a long time over, in a line
 * as long as a protocol allows. */
static void
test_hostile(void)
{
    const gsize big = 1024 * 1024;
    g_autofree char *deep = g_malloc(big);
    g_autoptr(GString) wide = g_string_new("{");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) root = NULL;
    guint n = 0;

    /* A million '[' would overflow the stack of a recursive parser. */
    deep[0] = '{';
    deep[1] = '"';
    deep[2] = 'a';
    deep[3] = '"';
    deep[4] = ':';
    memset(deep + 5, '[', big - 5);
    g_assert_null(vfsec_json_parse_line(deep, big, big, MAX_DEPTH, WHAT, &error));
    g_assert_cmpstr(error->message, ==,
                    WHAT " is not a valid JSON object: nesting deeper than 16 levels at byte 20");
    g_clear_error(&error);

    /* Many members, then one name again: found, whatever the count. */
    for (; wide->len < big - 32; n++)
        g_string_append_printf(wide, "\"k%u\":%u,", n, n);
    g_string_append(wide, "\"k0\":0}");
    g_assert_null(vfsec_json_parse_line(wide->str, wide->len, big, MAX_DEPTH, WHAT, &error));
    g_assert_nonnull(strstr(error->message, "a duplicate member name"));
    g_clear_error(&error);
    g_string_truncate(wide, wide->len - strlen("\"k0\":0}"));
    g_string_append(wide, "\"last\":0}");
    root = vfsec_json_parse_line(wide->str, wide->len, big, MAX_DEPTH, WHAT, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(json_object_get_size(root), ==, n + 1);
}

static void
test_to_line(void)
{
    g_autoptr(JsonObject) obj = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    g_autoptr(JsonObject) back = NULL;
    gsize len = 0;

    json_object_set_string_member(obj, "text", "two\nlines");
    json_object_set_int_member(obj, "n", -1);
    json_node_set_object(node, obj);
    line = vfsec_json_to_line(node, 64, WHAT, &len, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(line, ==, "{\"text\":\"two\\nlines\",\"n\":-1}\n");
    g_assert_cmpuint(len, ==, strlen(line));
    /* The writer's line is one the reader takes. */
    back = vfsec_json_parse_line(line, len - 1, 64, MAX_DEPTH, WHAT, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(json_object_get_string_member(back, "text"), ==, "two\nlines");
    g_clear_pointer(&line, g_free);

    /* The bound counts the line without its newline. */
    line = vfsec_json_to_line(node, len - 1, WHAT, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(line);
    g_assert_null(vfsec_json_to_line(node, len - 2, WHAT, NULL, &error));
    g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE);
    g_assert_cmpstr(error->message, ==, WHAT " would be 28 bytes, more than 27");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json/parse-line/lines", test_lines);
    g_test_add_func("/json/parse-line/values", test_values);
    g_test_add_func("/json/parse-line/depth", test_depth);
    g_test_add_func("/json/parse-line/length", test_length);
    g_test_add_func("/json/parse-line/hostile", test_hostile);
    g_test_add_func("/json/to-line", test_to_line);
    return g_test_run();
}
