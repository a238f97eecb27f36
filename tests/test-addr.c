/* test-addr.c: PCI and MAC address parsing and formatting. */
#include <glib.h>
#include <string.h>

#include "vfsec-addr.h"
#include "vfsec-error.h"

typedef struct {
    const char *input;
    const char *expect;   /* NULL: must be rejected */
} AddrCase;

static void
test_pci_parse(void)
{
    static const AddrCase cases[] = {
        { "0000:03:10.2", "0000:03:10.2" },
        { "0000:3B:02.7", "0000:3b:02.7" },
        { "ffff:ff:1f.7", "ffff:ff:1f.7" },
        { "10000:00:00.0", "10000:00:00.0" },
        { "0000:03:20.0", NULL },   /* slot > 0x1f */
        { "0000:03:10.8", NULL },   /* function > 7 */
        { "0000:100:10.0", NULL },  /* bus > 0xff */
        { "0000:03:10", NULL },
        { "03:10.2", NULL },
        { "0000:03:10.2 ", NULL },
        { "0000:-3:10.2", NULL },
        { "0000:0x3:10.2", NULL },
        { "", NULL },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        VfsecPciAddr addr;
        char buf[VFSEC_PCI_ADDR_STRLEN];
        g_autoptr(GError) error = NULL;
        gboolean ok = vfsec_pci_addr_parse(cases[i].input, &addr, &error);

        if (cases[i].expect) {
            g_assert_no_error(error);
            g_assert_true(ok);
            g_assert_cmpstr(vfsec_pci_addr_format(&addr, buf), ==, cases[i].expect);
        } else {
            g_assert_false(ok);
            g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
        }
    }
}

static void
test_parse_uint(void)
{
    guint64 v = 0;

    g_assert_true(vfsec_parse_uint("0x3b", 0xff, &v));
    g_assert_cmpuint(v, ==, 0x3b);
    g_assert_true(vfsec_parse_uint("59", 0xff, &v));
    g_assert_cmpuint(v, ==, 59);
    g_assert_false(vfsec_parse_uint("0x100", 0xff, &v));
    g_assert_false(vfsec_parse_uint("-1", 0xff, &v));
    g_assert_false(vfsec_parse_uint(" 1", 0xff, &v));
    g_assert_false(vfsec_parse_uint("1 ", 0xff, &v));
    g_assert_false(vfsec_parse_uint("0x", 0xff, &v));
    g_assert_false(vfsec_parse_uint("", 0xff, &v));
    g_assert_false(vfsec_parse_uint("0xg", 0xff, &v));
    g_assert_false(vfsec_parse_uint("99999999999999999999999", G_MAXUINT64, &v));
}

static void
test_mac_parse(void)
{
    static const AddrCase cases[] = {
        { "52:54:00:12:34:56", "52:54:00:12:34:56" },
        { "52:54:00:AB:cd:EF", "52:54:00:ab:cd:ef" },
        { "01:00:5e:00:00:01", NULL },  /* multicast */
        { "00:00:00:00:00:00", NULL },
        { "52:54:00:12:34", NULL },
        { "52-54-00-12-34-56", NULL },
        { "52:54:00:12:34:5g", NULL },
        { "52:54:00:12:34:567", NULL },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        VfsecMac mac;
        char buf[VFSEC_MAC_STRLEN];
        g_autoptr(GError) error = NULL;
        gboolean ok = vfsec_mac_parse(cases[i].input, &mac, &error);

        if (cases[i].expect) {
            g_assert_no_error(error);
            g_assert_true(ok);
            g_assert_cmpstr(vfsec_mac_format(&mac, buf), ==, cases[i].expect);
        } else {
            g_assert_false(ok);
            g_assert_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID);
            g_assert_nonnull(strstr(error->message, cases[i].input));
        }
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/addr/pci-parse", test_pci_parse);
    g_test_add_func("/addr/parse-uint", test_parse_uint);
    g_test_add_func("/addr/mac-parse", test_mac_parse);
    return g_test_run();
}
