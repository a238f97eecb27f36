/* vfsec-error.h: the one GError domain shared by every vfsec component. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VFSEC_ERROR (vfsec_error_quark())

/* Codes say what kind of thing went wrong; the message says which object. */
typedef enum {
    VFSEC_ERROR_FAILED,       /* anything not covered below */
    VFSEC_ERROR_INVALID,      /* malformed input: XML, argument, frame, request */
    VFSEC_ERROR_NOT_FOUND,    /* a named object does not exist */
    VFSEC_ERROR_IO,           /* a system call failed */
    VFSEC_ERROR_PROTOCOL,     /* a peer broke a documented protocol */
    VFSEC_ERROR_CONFLICT,     /* a key or an owner is already taken */
    VFSEC_ERROR_TIMEOUT,      /* a bounded wait expired */
    VFSEC_ERROR_UNSUPPORTED,  /* the hardware or driver cannot do it */
    VFSEC_ERROR_PERMISSION,   /* the peer is not allowed */
    VFSEC_ERROR_TOO_LARGE,    /* an input exceeds a documented bound */
} VfsecErrorCode;

GQuark vfsec_error_quark(void);

/* Maps an errno value (positive or negative) to the code a caller of a
 * -errno helper reports it with (ENODEV -> NOT_FOUND, EOPNOTSUPP ->
 * UNSUPPORTED, ...); anything unlisted is VFSEC_ERROR_IO. */
VfsecErrorCode vfsec_errno_to_code(int errnum);

G_END_DECLS
