/* vfsec-hookops.h: the libvirt hook's operation table and argv checks, in
 * plain C with libc only, shared by the lean hook front (hooks/vfsec-hook-
 * front.c, which must not link GLib: docs/hook-contract.md), the full hook
 * and vfsecd (through vfsec-ctlproto.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Domain and network names: libvirt stores NAME.xml, so NAME_MAX - 4 would
 * do; the bound is NAME_MAX itself. */
#define VFSEC_CTL_MAX_NAME 255
/* The hook's 4th argument ("-" or libvirt's shutoff reason). */
#define VFSEC_CTL_MAX_EXTRA 255

/* The hook's stdin is at most this (VFSEC_DOMAIN_XML_MAX, which the full
 * hook checks is the same). */
#define VFSEC_HOOK_XML_MAX (16 * 1024 * 1024)
/* The longest control-protocol line (VFSEC_CTL_MAX_LINE, likewise). */
#define VFSEC_HOOK_REPLY_MAX (2 * (size_t)VFSEC_HOOK_XML_MAX + 1024 * 1024)

/* Which libvirt hook script the call came through. */
typedef enum {
    VFSEC_HOOK_KIND_QEMU,     /* /etc/libvirt/hooks/qemu.d/ */
    VFSEC_HOOK_KIND_NETWORK,  /* /etc/libvirt/hooks/network.d/ */
    VFSEC_HOOK_KIND_LAST
} VfsecHookKind;

/* The index of @str in @names (@n entries, NULL ones skipped), or -1. */
int vfsec_hook_name_lookup(const char *const *names, unsigned n, const char *str);

/* "qemu", "network" */
const char *vfsec_hook_kind_to_string(VfsecHookKind kind);
int vfsec_hook_kind_from_string(const char *str);

/* Every operation libvirt passes as the hook's 2nd argument (libvirt's
 * src/util/virhook.c), per kind: the same word can mean different things
 * to the two scripts ("start"). */
typedef enum {
    VFSEC_HOOK_OP_QEMU_PREPARE,
    VFSEC_HOOK_OP_QEMU_START,
    VFSEC_HOOK_OP_QEMU_STARTED,
    VFSEC_HOOK_OP_QEMU_STOPPED,
    VFSEC_HOOK_OP_QEMU_RELEASE,
    VFSEC_HOOK_OP_QEMU_MIGRATE,
    VFSEC_HOOK_OP_QEMU_RESTORE,
    VFSEC_HOOK_OP_QEMU_RECONNECT,
    VFSEC_HOOK_OP_QEMU_ATTACH,
    VFSEC_HOOK_OP_NETWORK_START,
    VFSEC_HOOK_OP_NETWORK_STARTED,
    VFSEC_HOOK_OP_NETWORK_STOPPED,
    VFSEC_HOOK_OP_NETWORK_PORT_CREATED,
    VFSEC_HOOK_OP_NETWORK_PORT_DELETED,
    VFSEC_HOOK_OP_NETWORK_UPDATED,
    VFSEC_HOOK_OP_LAST
} VfsecHookOp;

/* libvirt's word for @op, e.g. "prepare", "port-created". */
const char *vfsec_hook_op_to_string(VfsecHookOp op);
/* The op @str names for a hook of @kind; -1 when @kind has no such op. */
int vfsec_hook_op_from_string(VfsecHookKind kind, const char *str);
/* The op's kind; VFSEC_HOOK_KIND_LAST for a value outside the enum. */
VfsecHookKind vfsec_hook_op_kind(VfsecHookOp op);
/* true for the ops vfsec-hook forwards to vfsecd; the others (XML-rewriting
 * migrate/restore, network lifecycle) exit 0 at once. */
bool vfsec_hook_op_forwarded(VfsecHookOp op);
/* true when a non-zero exit makes libvirt abort what it is doing and vfsec
 * means to use that: prepare, start, started, port-created. Every other op's
 * failure is either ignored by libvirt or (reconnect) kills a running
 * domain, so vfsec-hook exits 0 for them whatever happens. */
bool vfsec_hook_op_gates(VfsecHookOp op);

typedef enum {
    VFSEC_HOOK_SUBOP_NONE,   /* "-" */
    VFSEC_HOOK_SUBOP_BEGIN,  /* "begin" */
    VFSEC_HOOK_SUBOP_END,    /* "end" */
    VFSEC_HOOK_SUBOP_LAST
} VfsecHookSubop;

const char *vfsec_hook_subop_to_string(VfsecHookSubop subop);
int vfsec_hook_subop_from_string(const char *str);

/* Whether @len bytes at @text are well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF): what GLib's g_utf8_validate()
 * accepts, NUL bytes aside, which the callers refuse themselves. */
bool vfsec_hook_utf8_valid(const char *text, size_t len);

/* The JSON number at *@p (before @end), as vfsecd's and the hook's codec
 * takes it (lib/vfsec-json.c): JSON's grammar, an integer (no fraction, no
 * exponent) within the signed 64-bit range. 1: *@p moved past it; 0:
 * malformed, *@p where it went wrong; -1: an integer out of range, *@p
 * unchanged. */
int vfsec_hook_json_number(const char **p, const char *end);

/* Text printed on one line: 1..@max bytes (0..@max with @allow_empty) of
 * UTF-8 without C0 controls or DEL. On failure writes why, as one phrase
 * starting with @what, into @msg (@msg_size bytes, always terminated). */
bool vfsec_hook_text_check(const char *what, const char *text, size_t max, bool allow_empty,
                           char *msg, size_t msg_size);
/* A domain or network name as it travels in argv and in requests: a text
 * of 1..VFSEC_CTL_MAX_NAME bytes without '/' (the name ends up in one-line
 * messages and in file names). */
bool vfsec_hook_name_check(const char *what, const char *name, char *msg, size_t msg_size);
/* The hook's EXTRA: a text of 1..VFSEC_CTL_MAX_EXTRA bytes. */
bool vfsec_hook_extra_check(const char *what, const char *extra, char *msg, size_t msg_size);

/* "--@name=value" or "--@name value" at argv[*@i] among the options
 * argv[*@i..@end): true when it is that option, with *@value set (NULL when
 * the value is missing) and *@i moved past a separate value. */
bool vfsec_hook_option_value(char **argv, int *i, int end, const char *name,
                             const char **value);

/* Points fd 1 at /dev/null (or closes it), so that nothing run later can
 * write the stdout libvirt takes as domain XML for migrate and restore. */
void vfsec_hook_seal_stdout(void);

/* Connects to the Unix socket @path, waiting at most @left_us for room in
 * its backlog. Returns a non-blocking, close-on-exec fd, or -errno
 * (-ETIMEDOUT when the time ran out, -ENAMETOOLONG for a path longer than
 * a socket address holds). */
int vfsec_hook_connect(const char *path, int64_t left_us);
