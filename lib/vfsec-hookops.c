/* vfsec-hookops.c: the libvirt hook's operation table and argv checks, with
 * libc only (the hook front links nothing else; see vfsec-hookops.h). */
#include "vfsec-hookops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const vfsec_hook_kind_names[VFSEC_HOOK_KIND_LAST] = {
    [VFSEC_HOOK_KIND_QEMU] = "qemu",
    [VFSEC_HOOK_KIND_NETWORK] = "network",
};

static const char *const vfsec_hook_subop_names[VFSEC_HOOK_SUBOP_LAST] = {
    [VFSEC_HOOK_SUBOP_NONE] = "-",
    [VFSEC_HOOK_SUBOP_BEGIN] = "begin",
    [VFSEC_HOOK_SUBOP_END] = "end",
};

typedef struct {
    VfsecHookKind kind;
    const char *name;
    bool forwarded;
    bool gates;
} VfsecHookOpInfo;

/* What libvirt does with the hook's exit status, per op, is in
 * docs/hook-contract.md; "gates" marks the ones where vfsec uses it. */
static const VfsecHookOpInfo vfsec_hook_ops[VFSEC_HOOK_OP_LAST] = {
    [VFSEC_HOOK_OP_QEMU_PREPARE] = { VFSEC_HOOK_KIND_QEMU, "prepare", true, true },
    [VFSEC_HOOK_OP_QEMU_START] = { VFSEC_HOOK_KIND_QEMU, "start", true, true },
    [VFSEC_HOOK_OP_QEMU_STARTED] = { VFSEC_HOOK_KIND_QEMU, "started", true, true },
    [VFSEC_HOOK_OP_QEMU_STOPPED] = { VFSEC_HOOK_KIND_QEMU, "stopped", true, false },
    [VFSEC_HOOK_OP_QEMU_RELEASE] = { VFSEC_HOOK_KIND_QEMU, "release", true, false },
    [VFSEC_HOOK_OP_QEMU_MIGRATE] = { VFSEC_HOOK_KIND_QEMU, "migrate", false, false },
    [VFSEC_HOOK_OP_QEMU_RESTORE] = { VFSEC_HOOK_KIND_QEMU, "restore", false, false },
    [VFSEC_HOOK_OP_QEMU_RECONNECT] = { VFSEC_HOOK_KIND_QEMU, "reconnect", true, false },
    [VFSEC_HOOK_OP_QEMU_ATTACH] = { VFSEC_HOOK_KIND_QEMU, "attach", false, false },
    [VFSEC_HOOK_OP_NETWORK_START] = { VFSEC_HOOK_KIND_NETWORK, "start", false, false },
    [VFSEC_HOOK_OP_NETWORK_STARTED] = { VFSEC_HOOK_KIND_NETWORK, "started", false, false },
    [VFSEC_HOOK_OP_NETWORK_STOPPED] = { VFSEC_HOOK_KIND_NETWORK, "stopped", false, false },
    [VFSEC_HOOK_OP_NETWORK_PORT_CREATED] = { VFSEC_HOOK_KIND_NETWORK, "port-created", true, true },
    [VFSEC_HOOK_OP_NETWORK_PORT_DELETED] = { VFSEC_HOOK_KIND_NETWORK, "port-deleted", true, false },
    [VFSEC_HOOK_OP_NETWORK_UPDATED] = { VFSEC_HOOK_KIND_NETWORK, "updated", false, false },
};

int
vfsec_hook_name_lookup(const char *const *names, unsigned n, const char *str)
{
    if (!str)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], str) == 0)
            return (int)i;
    return -1;
}

const char *
vfsec_hook_kind_to_string(VfsecHookKind kind)
{
    return (unsigned)kind < VFSEC_HOOK_KIND_LAST ? vfsec_hook_kind_names[kind] : NULL;
}

int
vfsec_hook_kind_from_string(const char *str)
{
    return vfsec_hook_name_lookup(vfsec_hook_kind_names, VFSEC_HOOK_KIND_LAST, str);
}

const char *
vfsec_hook_op_to_string(VfsecHookOp op)
{
    return (unsigned)op < VFSEC_HOOK_OP_LAST ? vfsec_hook_ops[op].name : NULL;
}

int
vfsec_hook_op_from_string(VfsecHookKind kind, const char *str)
{
    if (!str)
        return -1;
    for (unsigned i = 0; i < VFSEC_HOOK_OP_LAST; i++)
        if (vfsec_hook_ops[i].kind == kind && strcmp(vfsec_hook_ops[i].name, str) == 0)
            return (int)i;
    return -1;
}

VfsecHookKind
vfsec_hook_op_kind(VfsecHookOp op)
{
    return (unsigned)op < VFSEC_HOOK_OP_LAST ? vfsec_hook_ops[op].kind : VFSEC_HOOK_KIND_LAST;
}

bool
vfsec_hook_op_forwarded(VfsecHookOp op)
{
    return (unsigned)op < VFSEC_HOOK_OP_LAST && vfsec_hook_ops[op].forwarded;
}

bool
vfsec_hook_op_gates(VfsecHookOp op)
{
    return (unsigned)op < VFSEC_HOOK_OP_LAST && vfsec_hook_ops[op].gates;
}

const char *
vfsec_hook_subop_to_string(VfsecHookSubop subop)
{
    return (unsigned)subop < VFSEC_HOOK_SUBOP_LAST ? vfsec_hook_subop_names[subop] : NULL;
}

int
vfsec_hook_subop_from_string(const char *str)
{
    return vfsec_hook_name_lookup(vfsec_hook_subop_names, VFSEC_HOOK_SUBOP_LAST, str);
}

bool
vfsec_hook_utf8_valid(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *end = p + len;

    while (p < end) {
        unsigned char c = *p;
        unsigned need;
        uint32_t cp;
        uint32_t min;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(end - p) <= need)
            return false;
        for (unsigned i = 1; i <= need; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += need + 1;
    }
    return true;
}

/* Moves *@p past the decimal digits there; whether there was one. */
static bool
vfsec_hook_json_digits(const char **p, const char *end)
{
    const char *start = *p;

    while (*p < end && **p >= '0' && **p <= '9')
        ++*p;
    return *p > start;
}

int
vfsec_hook_json_number(const char **p, const char *end)
{
    const char *begin = *p;
    bool negative = *p < end && **p == '-';
    bool integer = true;
    const char *digits;
    size_t ndigits;

    if (negative)
        ++*p;
    digits = *p;
    if (*p < end && **p == '0')
        ++*p;
    else if (!vfsec_hook_json_digits(p, end))
        return 0;
    ndigits = (size_t)(*p - digits);
    if (*p < end && **p == '.') {
        ++*p;
        if (!vfsec_hook_json_digits(p, end))
            return 0;
        integer = false;
    }
    if (*p < end && (**p == 'e' || **p == 'E')) {
        ++*p;
        if (*p < end && (**p == '+' || **p == '-'))
            ++*p;
        if (!vfsec_hook_json_digits(p, end))
            return 0;
        integer = false;
    }
    /* No leading zeros: the digits compare as numbers of the same length. */
    if (integer &&
        (ndigits > 19 ||
         (ndigits == 19 &&
          memcmp(digits, negative ? "9223372036854775808" : "9223372036854775807", 19) > 0))) {
        *p = begin;
        return -1;
    }
    return 1;
}

bool
vfsec_hook_text_check(const char *what, const char *text, size_t max, bool allow_empty,
                      char *msg, size_t msg_size)
{
    size_t len = strlen(text);

    if (len == 0 && !allow_empty) {
        snprintf(msg, msg_size, "%s is empty", what);
        return false;
    }
    if (len > max) {
        snprintf(msg, msg_size, "%s is %zu bytes, more than %zu", what, len, max);
        return false;
    }
    if (!vfsec_hook_utf8_valid(text, len)) {
        snprintf(msg, msg_size, "%s is not valid UTF-8", what);
        return false;
    }
    for (const char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(msg, msg_size, "%s holds control character 0x%02x at byte %zu", what,
                     (unsigned)(unsigned char)*p, (size_t)(p - text));
            return false;
        }
    }
    return true;
}

bool
vfsec_hook_name_check(const char *what, const char *name, char *msg, size_t msg_size)
{
    if (!vfsec_hook_text_check(what, name, VFSEC_CTL_MAX_NAME, false, msg, msg_size))
        return false;
    if (strchr(name, '/')) {
        snprintf(msg, msg_size, "%s '%s' contains '/'", what, name);
        return false;
    }
    return true;
}

bool
vfsec_hook_extra_check(const char *what, const char *extra, char *msg, size_t msg_size)
{
    return vfsec_hook_text_check(what, extra, VFSEC_CTL_MAX_EXTRA, false, msg, msg_size);
}

bool
vfsec_hook_option_value(char **argv, int *i, int end, const char *name, const char **value)
{
    const char *arg = argv[*i] + 2;
    size_t n = strlen(name);

    if (strncmp(arg, name, n) != 0)
        return false;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return true;
    }
    if (arg[n] != '\0')
        return false;
    *value = *i + 1 < end ? argv[++*i] : NULL;
    return true;
}

void
vfsec_hook_seal_stdout(void)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

    if (fd < 0) {
        close(STDOUT_FILENO);
        return;
    }
    if (fd != STDOUT_FILENO) {
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
}

int
vfsec_hook_connect(const char *path, int64_t left_us)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = left_us / 1000000, .tv_usec = left_us % 1000000 };
    int fd;
    int rc;

    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    /* A zero SO_SNDTIMEO would mean no bound at all. */
    if (left_us <= 0)
        return -ETIMEDOUT;
    memcpy(addr.sun_path, path, strlen(path));
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    /* A blocking connect() to a Unix socket waits for room in the listener's
     * backlog for at most SO_SNDTIMEO, then fails with EAGAIN. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    do {
        rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
        close(fd);
        return rc;
    }
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}
