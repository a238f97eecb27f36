/* vfsec-addr.c: PCI and MAC address parsing and formatting. */
#include "vfsec-addr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfsec-error.h"

gboolean
vfsec_parse_uint(const char *str, guint64 max, guint64 *out)
{
    guint base = 10;
    const char *digits = str;
    char *end = NULL;
    guint64 value;

    if (!str || !*str)
        return FALSE;
    if (str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
        base = 16;
        digits = str + 2;
    }
    /* strtoull accepts leading spaces and signs; libvirt's attributes don't. */
    if (!g_ascii_isxdigit(digits[0]) || (base == 10 && !g_ascii_isdigit(digits[0])))
        return FALSE;
    errno = 0;
    value = g_ascii_strtoull(digits, &end, base);
    if (errno != 0 || *end != '\0' || value > max)
        return FALSE;
    *out = value;
    return TRUE;
}

gboolean
vfsec_pci_addr_check(guint64 domain, guint64 bus, guint64 slot, guint64 function,
                     VfsecPciAddr *addr, GError **error)
{
    if (domain > G_MAXUINT32 || bus > 0xff || slot > 0x1f || function > 7) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "PCI address %#" G_GINT64_MODIFIER "x:%#" G_GINT64_MODIFIER
                    "x:%#" G_GINT64_MODIFIER "x.%#" G_GINT64_MODIFIER
                    "x is out of range (bus 0-0xff, slot 0-0x1f, function 0-7)",
                    domain, bus, slot, function);
        return FALSE;
    }
    addr->domain = (guint32)domain;
    addr->bus = (guint8)bus;
    addr->slot = (guint8)slot;
    addr->function = (guint8)function;
    return TRUE;
}

gboolean
vfsec_pci_addr_parse(const char *str, VfsecPciAddr *addr, GError **error)
{
    g_auto(GStrv) parts = NULL;
    g_auto(GStrv) slotfn = NULL;
    guint64 v[4];

    if (!str)
        str = "";
    parts = g_strsplit(str, ":", -1);
    if (g_strv_length(parts) != 3)
        goto invalid;
    slotfn = g_strsplit(parts[2], ".", -1);
    if (g_strv_length(slotfn) != 2)
        goto invalid;
    {
        const char *fields[4] = { parts[0], parts[1], slotfn[0], slotfn[1] };
        for (int i = 0; i < 4; i++) {
            const char *f = fields[i];
            g_autofree char *hex = NULL;
            if (!*f || strlen(f) > 8)
                goto invalid;
            for (const char *p = f; *p; p++)
                if (!g_ascii_isxdigit(*p))
                    goto invalid;
            hex = g_strconcat("0x", f, NULL);
            if (!vfsec_parse_uint(hex, G_MAXUINT32, &v[i]))
                goto invalid;
        }
    }
    return vfsec_pci_addr_check(v[0], v[1], v[2], v[3], addr, error);

 invalid:
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                "'%s' is not a PCI address (expected dddd:bb:ss.f)", str);
    return FALSE;
}

const char *
vfsec_pci_addr_format(const VfsecPciAddr *addr, char buf[VFSEC_PCI_ADDR_STRLEN])
{
    g_snprintf(buf, VFSEC_PCI_ADDR_STRLEN, "%04x:%02x:%02x.%x",
               addr->domain, addr->bus, addr->slot, addr->function);
    return buf;
}

gboolean
vfsec_pci_addr_equal(const VfsecPciAddr *a, const VfsecPciAddr *b)
{
    return a->domain == b->domain && a->bus == b->bus &&
           a->slot == b->slot && a->function == b->function;
}

gboolean
vfsec_mac_parse(const char *str, VfsecMac *mac, GError **error)
{
    VfsecMac out;

    if (!str || strlen(str) != 17)
        goto invalid;
    for (int i = 0; i < 6; i++) {
        const char *p = str + i * 3;
        if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]))
            goto invalid;
        if (i < 5 && p[2] != ':')
            goto invalid;
        out.b[i] = (guint8)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
    }
    if (out.b[0] & 0x01) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "MAC address '%s' is a multicast address", str);
        return FALSE;
    }
    if (!(out.b[0] | out.b[1] | out.b[2] | out.b[3] | out.b[4] | out.b[5])) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "MAC address '%s' is all zeros", str);
        return FALSE;
    }
    *mac = out;
    return TRUE;

 invalid:
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                "'%s' is not a MAC address (expected xx:xx:xx:xx:xx:xx)", str ? str : "");
    return FALSE;
}

const char *
vfsec_mac_format(const VfsecMac *mac, char buf[VFSEC_MAC_STRLEN])
{
    g_snprintf(buf, VFSEC_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
               mac->b[0], mac->b[1], mac->b[2], mac->b[3], mac->b[4], mac->b[5]);
    return buf;
}

gboolean
vfsec_mac_equal(const VfsecMac *a, const VfsecMac *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}
