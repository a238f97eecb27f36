/* vfsec-error.c: the vfsec GError domain. */
#include "vfsec-error.h"

#include <errno.h>

G_DEFINE_QUARK(vfsec-error-quark, vfsec_error)

VfsecErrorCode
vfsec_errno_to_code(int errnum)
{
    switch (ABS(errnum)) {
    case ENOENT:
    case ENODEV:
    case ESRCH:
    case ENXIO:
        return VFSEC_ERROR_NOT_FOUND;
    case EEXIST:
    case EBUSY:
    case EADDRINUSE:
        return VFSEC_ERROR_CONFLICT;
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
    case EAFNOSUPPORT:
    case ENOSYS:
        return VFSEC_ERROR_UNSUPPORTED;
    case EPERM:
    case EACCES:
        return VFSEC_ERROR_PERMISSION;
    case EINVAL:
    case ERANGE:
    case EDOM:
        return VFSEC_ERROR_INVALID;
    case EMSGSIZE:
    case E2BIG:
    case ENAMETOOLONG:
        return VFSEC_ERROR_TOO_LARGE;
    case ETIMEDOUT:
        return VFSEC_ERROR_TIMEOUT;
    case EBADMSG:
    case EPROTO:
        return VFSEC_ERROR_PROTOCOL;
    default:
        return VFSEC_ERROR_IO;
    }
}
