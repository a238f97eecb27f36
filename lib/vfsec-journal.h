/* vfsec-journal.h: vfsecd's crash-safe state (VF assignments and pending
 * operations, one checksummed JSON file per VF, replaced atomically through
 * vfsec-file.h).
 *
 * Guarantee of every write below: when it returns TRUE the change is in
 * place for any later reader, a vfsecd restarted after a crash included;
 * it is durable against a kernel crash or power loss once the journal's
 * flusher thread has fsynced it (batched, off the caller's path; see
 * vfsec_journal_sync() and the theory in vfsec-journal.c for why losing
 * that last round to a host crash is harmless). */
#pragma once

#include <glib.h>

#include "vfsec-addr.h"
#include "vfsec-domain.h"

G_BEGIN_DECLS

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
/* Makes every change durable (vfsec_journal_sync()), then frees. */
void vfsec_journal_free(VfsecJournal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecJournal, vfsec_journal_free)

/* Records that operation @kind on VF @vf of @pf is about to happen, before
 * the caller acts. *id receives its sequence number, for
 * vfsec_journal_mark_done(). On failure the caller must not act. */
gboolean vfsec_journal_record_intent(VfsecJournal *journal, VfsecJournalOpKind kind,
                                     const char *pf, guint vf, const char *owner_name,
                                     const char *owner_uuid, guint64 *id, GError **error);
/* Marks operation @id done (VFSEC_ERROR_NOT_FOUND if it is not pending).
 * The VF's file keeps only its latest done operation, for operators. */
gboolean vfsec_journal_mark_done(VfsecJournal *journal, guint64 id, GError **error);

/* Both NULL, or the same VF, owner and settings. */
gboolean vfsec_journal_assignment_equal(const VfsecJournalAssignment *a,
                                        const VfsecJournalAssignment *b);

/* Records @assignment (copied), replacing the VF's previous one.
 * An assignment equal to the recorded one writes nothing. */
gboolean vfsec_journal_set_assignment(VfsecJournal *journal,
                                      const VfsecJournalAssignment *assignment,
                                      GError **error);
/* Forgets the VF's assignment; a VF without one is not an error. */
gboolean vfsec_journal_clear_assignment(VfsecJournal *journal, const char *pf, guint vf,
                                        GError **error);

/* Staged variants of record_intent, mark_done, set_assignment and
 * clear_assignment, for changes whose loss in a vfsecd crash reconcile
 * repairs (the caller's argument): the change is in memory at once (every query sees it) and
 * reaches the VF's file with that VF's next written change (an intent, or
 * one of the writing variants above) or vfsec_journal_write_staged(),
 * which the caller runs when it is idle; vfsec_journal_free() writes what
 * is left. Same checks and errors as the writing variants. */
gboolean vfsec_journal_stage_intent(VfsecJournal *journal, VfsecJournalOpKind kind,
                                    const char *pf, guint vf, const char *owner_name,
                                    const char *owner_uuid, guint64 *id, GError **error);
gboolean vfsec_journal_stage_done(VfsecJournal *journal, guint64 id, GError **error);
gboolean vfsec_journal_stage_assignment(VfsecJournal *journal,
                                        const VfsecJournalAssignment *assignment,
                                        GError **error);
gboolean vfsec_journal_stage_clear_assignment(VfsecJournal *journal, const char *pf, guint vf,
                                              GError **error);
/* TRUE when a staged change has not reached its file yet. */
gboolean vfsec_journal_has_staged(VfsecJournal *journal);
/* Writes every VF file with a staged change (one write per VF, however
 * many changes it gathered). On failure the rest stays staged. */
gboolean vfsec_journal_write_staged(VfsecJournal *journal, GError **error);

/* Waits until every change made so far is durable (fsynced with its
 * directory; a failure there was logged by the flusher). For shutdown and
 * tests: the operations themselves never wait for the disk. */
void vfsec_journal_sync(VfsecJournal *journal);

/* The VF's assignment, borrowed until the next change, or NULL. */
const VfsecJournalAssignment *vfsec_journal_get_assignment(VfsecJournal *journal,
                                                           const char *pf, guint vf);
/* VF files written since the journal was opened: what a caller that must
 * not touch the disk (a steady-state reconcile) is tested against. */
guint64 vfsec_journal_get_writes(VfsecJournal *journal);
/* Operations still in state intent, oldest first: a new array of copies. */
GPtrArray *vfsec_journal_list_pending(VfsecJournal *journal);
/* Every assignment, by PF label then VF index: a new array of copies. */
GPtrArray *vfsec_journal_list_assignments(VfsecJournal *journal);

G_END_DECLS
