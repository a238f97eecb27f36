/* vfsec-addr.h: PCI addresses and MAC addresses, parsed and formatted one way
 * everywhere (domain XML, sysfs, the PF-driver contract, the CLI). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A PCI address "dddd:bb:ss.f". libvirt allows 32-bit domains (zPCI). */
typedef struct {
    guint32 domain;
    guint8 bus;
    guint8 slot;      /* 0..31 */
    guint8 function;  /* 0..7 */
} VfsecPciAddr;

#define VFSEC_PCI_ADDR_STRLEN 20  /* "ffffffff:ff:1f.7" + NUL, rounded up */

gboolean vfsec_pci_addr_parse(const char *str, VfsecPciAddr *addr, GError **error);
/* Writes "dddd:bb:ss.f" (lower-case hex, domain at least 4 digits) into @buf. */
const char *vfsec_pci_addr_format(const VfsecPciAddr *addr, char buf[VFSEC_PCI_ADDR_STRLEN]);
gboolean vfsec_pci_addr_equal(const VfsecPciAddr *a, const VfsecPciAddr *b);
/* Checks the ranges of an address whose fields came from separate numbers. */
gboolean vfsec_pci_addr_check(guint64 domain, guint64 bus, guint64 slot, guint64 function,
                              VfsecPciAddr *addr, GError **error);

/* Parses an unsigned number written as libvirt writes PCI address parts:
 * hex with a 0x prefix, or decimal. Rejects signs, spaces and overflow. */
gboolean vfsec_parse_uint(const char *str, guint64 max, guint64 *out);

typedef struct {
    guint8 b[6];
} VfsecMac;

#define VFSEC_MAC_STRLEN 18  /* "aa:bb:cc:dd:ee:ff" + NUL */

/* Accepts six colon-separated hex octets (either case); rejects anything else,
 * and the all-zero and multicast addresses, which no interface may own. */
gboolean vfsec_mac_parse(const char *str, VfsecMac *mac, GError **error);
const char *vfsec_mac_format(const VfsecMac *mac, char buf[VFSEC_MAC_STRLEN]);
gboolean vfsec_mac_equal(const VfsecMac *a, const VfsecMac *b);

G_END_DECLS
