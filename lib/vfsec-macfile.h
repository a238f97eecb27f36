/* vfsec-macfile.h: a port's local-MAC table (the MACs and VLAN tags the
 * agent hairpins back to the port) and its file
 * <run-dir>/local-macs/<port>.xml, valid against xml/vfsec-local-macs.rng. */
#pragma once

#include <glib.h>

#include "vfsec-addr.h"

G_BEGIN_DECLS

/* The XML namespace of the file's elements. */
#define VFSEC_MACFILE_NS "https://vfsec.dev/xmlns/local-macs/1"
/* The schema's file name in the schema directory. */
#define VFSEC_MACFILE_SCHEMA "vfsec-local-macs.rng"
/* Bound on a table file: thousands of entries, far more than an agent holds. */
#define VFSEC_MACFILE_MAX (4 * 1024 * 1024)
/* Tags per entry, outermost first (as the agent's key: 0, 1 or 2). */
#define VFSEC_MACFILE_MAX_TAGS 2

/* One VLAN tag as it is on the wire (VID 1..4094). */
typedef struct {
    guint16 tpid;               /* VFSEC_TPID_8021Q or VFSEC_TPID_8021AD */
    guint16 vid;
} VfsecMacTag;

typedef struct {
    VfsecMac mac;
    guint n_tags;
    VfsecMacTag tags[VFSEC_MACFILE_MAX_TAGS];  /* outermost first */
    int vf;                     /* VF index, or -1 (the PF's own MAC) */
    char *owner_name;           /* for operators; NULL when none */
    char *owner_uuid;
} VfsecMacEntry;

/* An entry for @mac with no tags, no VF and no owner. */
VfsecMacEntry *vfsec_mac_entry_new(const VfsecMac *mac);
VfsecMacEntry *vfsec_mac_entry_copy(const VfsecMacEntry *entry);
void vfsec_mac_entry_free(VfsecMacEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecMacEntry, vfsec_mac_entry_free)

typedef struct {
    char *port;                 /* the PF label */
    guint64 generation;         /* of the last write; 0 for a table never written */
    GPtrArray *entries;         /* VfsecMacEntry*, sorted by MAC then tags */
} VfsecMacTable;

/* An empty table of generation 0 for @port (a PF label). */
VfsecMacTable *vfsec_mac_table_new(const char *port);
void vfsec_mac_table_free(VfsecMacTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecMacTable, vfsec_mac_table_free)

/* Adds @entry (taken, freed on failure) in sorted place. Refuses an invalid
 * tag, an owner that cannot be written (control characters, bad UTF-8, a
 * malformed UUID) and a second entry with the same MAC and tags
 * (VFSEC_ERROR_CONFLICT): that key must be unique on a port. */
gboolean vfsec_mac_table_add(VfsecMacTable *table, VfsecMacEntry *entry, GError **error);
/* Removes the entry with this MAC and these tags; FALSE if there is none. */
gboolean vfsec_mac_table_remove(VfsecMacTable *table, const VfsecMac *mac,
                                const VfsecMacTag *tags, guint n_tags);
/* Removes every entry of VF @vf; returns how many. */
guint vfsec_mac_table_remove_vf(VfsecMacTable *table, int vf);
/* Same port, generation and entries. */
gboolean vfsec_mac_table_equal(const VfsecMacTable *a, const VfsecMacTable *b);

/* The table as an XML document (new string, *len its length). */
char *vfsec_macfile_to_xml(const VfsecMacTable *table, gsize *len);
/* Parses a table file: refuses DTDs and entities, more than
 * VFSEC_MACFILE_MAX bytes, anything the schema refuses (@schema_path NULL:
 * vfsec_xml_schema_path(VFSEC_MACFILE_SCHEMA)), bad MACs or UUIDs and
 * repeated MAC + tags. Every error starts with @what, which names the input
 * (a path); a schema error names the schema file too. Returns a new table. */
VfsecMacTable *vfsec_macfile_parse(const char *xml, gsize len, const char *what,
                                   const char *schema_path, GError **error);

/* <dir>/<port>.xml (new string). */
char *vfsec_macfile_path(const char *dir, const char *port);
/* Writes @table as <dir>/<port>.xml with generation + 1, atomically (a
 * reader sees the old or the new file, never a part; not fsynced: run-time
 * state, see vfsec-macfile.c), creating @dir (0755)
 * if needed; on success table->generation is the new generation, on failure
 * @table and the old file are unchanged. */
gboolean vfsec_macfile_write(const char *dir, VfsecMacTable *table, GError **error);
/* Reads and validates <dir>/<port>.xml; VFSEC_ERROR_NOT_FOUND when there is
 * none, VFSEC_ERROR_INVALID when it names another port. Returns a new table. */
VfsecMacTable *vfsec_macfile_read(const char *dir, const char *port, const char *schema_path,
                                  GError **error);

G_END_DECLS
