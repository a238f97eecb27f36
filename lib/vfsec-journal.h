/* vfsec-journal.h: vfsecd's crash-safe state (VF assignments and pending
 * operations, one checksummed JSON file per VF), and the durable-file
 * primitives it stands on, which the configuration and the local-MAC tables
 * share: bounded reads and atomic replacement (temp + fsync + rename). */
#pragma once

#include <glib.h>

#include "vfsec-addr.h"
#include "vfsec-domain.h"

G_BEGIN_DECLS

/* ---- Durable files ---- */

/* Reads the regular file @path whole into *data (new, NUL-terminated; *len
 * excludes the NUL). Refuses anything that is not a regular file
 * (VFSEC_ERROR_INVALID), so a wrong path such as /dev/zero cannot exhaust
 * memory, and more than @max bytes (VFSEC_ERROR_TOO_LARGE). A missing file
 * is VFSEC_ERROR_NOT_FOUND. */
gboolean vfsec_file_read_max(const char *path, gsize max, char **data, gsize *len,
                             GError **error);

/* Writes @data to a new staged file in @dir (".NAME.tmp-XXXXXX", mode @mode)
 * and fsyncs it; @name itself is not touched. Returns the staged file's base
 * name (new string), or NULL with nothing left behind. */
char *vfsec_file_stage(const char *dir, const char *name, const void *data, gsize len,
                       int mode, GError **error);
/* Renames the staged file over @name and fsyncs @dir. On failure the staged
 * file is removed; @name holds either its old or its new content, never a
 * mix, and may already be the new one when only the directory fsync failed. */
gboolean vfsec_file_commit(const char *dir, const char *staged, const char *name,
                           GError **error);
/* Stage + commit: a reader of @dir/@name sees the old file or the new one. */
gboolean vfsec_file_replace(const char *dir, const char *name, const void *data, gsize len,
                            int mode, GError **error);
/* TRUE when @basename is a staged file that vfsec_file_stage() would name. */
gboolean vfsec_file_is_staged(const char *basename);
/* Removes the staged files a crash left in @dir; *removed (optional) counts
 * them. A missing @dir is not an error. */
gboolean vfsec_file_clean_staged(const char *dir, guint *removed, GError **error);

/* ---- The journal ---- */

#define VFSEC_JOURNAL_VERSION 1
/* Bound on one journal file: a VF's state is a few hundred bytes. */
#define VFSEC_JOURNAL_FILE_MAX (64 * 1024)
/* VF indexes are below 65536 (PCIe SR-IOV TotalVFs is a 16-bit field). */
#define VFSEC_JOURNAL_VF_MAX 65535
/* Bound on the VLAN ids of one assignment (libvirt trunks included). */
#define VFSEC_JOURNAL_VLANS_MAX 4094

typedef enum {
    VFSEC_JOURNAL_OP_RECLAIM,     /* have the PF driver remove the VF's SAs */
    VFSEC_JOURNAL_OP_QUARANTINE,  /* port tag, trust off, spoofchk on */
    VFSEC_JOURNAL_OP_PUBLISH,     /* add the VF's MAC to its port's local-MAC table */
    VFSEC_JOURNAL_OP_UNPUBLISH,   /* remove it */
    VFSEC_JOURNAL_OP_RELEASE,     /* forget the owner once the rest is done */
    VFSEC_JOURNAL_OP_LAST
} VfsecJournalOpKind;

/* "reclaim", "quarantine", "publish", "unpublish", "release". */
const char *vfsec_journal_op_kind_to_string(VfsecJournalOpKind kind);
/* Returns -1 for an unknown string. */
int vfsec_journal_op_kind_from_string(const char *str);

typedef enum {
    VFSEC_JOURNAL_STATE_INTENT,   /* recorded, the action may or may not have happened */
    VFSEC_JOURNAL_STATE_DONE,
    VFSEC_JOURNAL_STATE_LAST
} VfsecJournalOpState;

/* "intent", "done". */
const char *vfsec_journal_op_state_to_string(VfsecJournalOpState state);
/* Returns -1 for an unknown string. */
int vfsec_journal_op_state_from_string(const char *str);

typedef struct {
    guint64 id;                 /* the journal's sequence number when recorded */
    VfsecJournalOpKind kind;
    VfsecJournalOpState state;
    char *pf;                   /* PF label */
    guint vf;                   /* VF index */
    char *owner_name;           /* domain the operation is for; NULL if none */
    char *owner_uuid;
} VfsecJournalOp;

VfsecJournalOp *vfsec_journal_op_copy(const VfsecJournalOp *op);
void vfsec_journal_op_free(VfsecJournalOp *op);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecJournalOp, vfsec_journal_op_free)

/* Who holds a VF and what vfsecd configured on it. */
typedef struct {
    char *pf;                   /* PF label */
    guint vf;                   /* VF index */
    gboolean has_pci;
    VfsecPciAddr pci;
    char *owner_name;           /* required */
    char *owner_uuid;           /* required, canonical form */
    gboolean has_mac;
    VfsecMac mac;
    GArray *vlans;              /* guint16 VLAN ids, never NULL */
    VfsecTrust trust;
    gboolean quarantined;       /* the quarantine settings are applied */
    gboolean published;         /* the MAC is in the port's local-MAC table */
} VfsecJournalAssignment;

/* A new assignment of VF @vf of @pf (owner and the rest for the caller). */
VfsecJournalAssignment *vfsec_journal_assignment_new(const char *pf, guint vf);
VfsecJournalAssignment *vfsec_journal_assignment_copy(const VfsecJournalAssignment *a);
void vfsec_journal_assignment_free(VfsecJournalAssignment *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecJournalAssignment, vfsec_journal_assignment_free)

typedef struct _VfsecJournal VfsecJournal;

/* Opens (creating it, mode 0700) the journal in @dir: removes staged leftovers
 * and loads every VF file. A file that is truncated, corrupt, of another
 * version or inconsistent is renamed to NAME.rejected and reported as one
 * GError in *warnings (a new array, empty when all is well; with @warnings
 * NULL each is logged instead); the other files are kept. Fails only when
 * @dir cannot be created or listed. Single writer: one vfsecd per state dir,
 * called from one thread. */
VfsecJournal *vfsec_journal_open(const char *dir, GPtrArray **warnings, GError **error);
void vfsec_journal_free(VfsecJournal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecJournal, vfsec_journal_free)

/* Durably records that operation @kind on VF @vf of @pf is about to happen,
 * before the caller acts. *id receives its sequence number, for
 * vfsec_journal_mark_done(). On failure the caller must not act. */
gboolean vfsec_journal_record_intent(VfsecJournal *journal, VfsecJournalOpKind kind,
                                     const char *pf, guint vf, const char *owner_name,
                                     const char *owner_uuid, guint64 *id, GError **error);
/* Durably marks operation @id done (VFSEC_ERROR_NOT_FOUND if it is not pending).
 * The VF's file keeps only its latest done operation, for operators. */
gboolean vfsec_journal_mark_done(VfsecJournal *journal, guint64 id, GError **error);

/* Durably records @assignment (copied), replacing the VF's previous one. */
gboolean vfsec_journal_set_assignment(VfsecJournal *journal,
                                      const VfsecJournalAssignment *assignment,
                                      GError **error);
/* Durably forgets the VF's assignment; a VF without one is not an error. */
gboolean vfsec_journal_clear_assignment(VfsecJournal *journal, const char *pf, guint vf,
                                        GError **error);

/* The VF's assignment, borrowed until the next change, or NULL. */
const VfsecJournalAssignment *vfsec_journal_get_assignment(VfsecJournal *journal,
                                                           const char *pf, guint vf);
/* Operations still in state intent, oldest first: a new array of copies. */
GPtrArray *vfsec_journal_list_pending(VfsecJournal *journal);
/* Every assignment, by PF label then VF index: a new array of copies. */
GPtrArray *vfsec_journal_list_assignments(VfsecJournal *journal);

G_END_DECLS
