/* vfsec-error.c: the vfsec GError domain. */
#include "vfsec-error.h"

G_DEFINE_QUARK(vfsec-error-quark, vfsec_error)
