/* vfsec-nicsim-ctl.c: a blocking one-request client of the emulator's control
 * socket, for `vfsec-nicsim ctl`, scripts and tests. */
#include "vfsec-nicsim.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfsec-contract.h"
#include "vfsec-error.h"

static int
ctl_connect(const char *path, GError **error)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "socket path %s is too long", path);
        return -1;
    }
    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int err = errno;

        if (fd >= 0)
            close(fd);
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot connect to %s: %s", path,
                    g_strerror(err));
        return -1;
    }
    return fd;
}

static gboolean
ctl_write_all(int fd, const char *path, const char *data, gsize len, GError **error)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;

            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "cannot send to %s: %s", path,
                        g_strerror(err));
            return FALSE;
        }
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* Reads until the first complete line, within @deadline (monotonic µs). */
static char *
ctl_read_line(int fd, const char *path, gint64 deadline, gsize *len, GError **error)
{
    g_autoptr(VfsecContractFramer) framer = vfsec_contract_framer_new(VFSEC_CONTRACT_MAX_LINE);
    char buf[65536];

    for (;;) {
        char *line = vfsec_contract_framer_pop(framer, len);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        gint64 left = deadline - g_get_monotonic_time();
        ssize_t n;
        int rc;

        if (line)
            return line;
        if (left <= 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TIMEOUT, "%s did not answer in time",
                        path);
            return NULL;
        }
        rc = poll(&pfd, 1, (int)MAX(1, left / 1000));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : 0;

            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "%s closed the connection%s%s",
                        path, err ? ": " : "", err ? g_strerror(err) : "");
            return NULL;
        }
        if (!vfsec_contract_framer_feed(framer, buf, (gsize)n, error))
            return NULL;
    }
}

gboolean
vfsec_nicsim_ctl_call(const char *socket_path, const char *op, JsonObject *args,
                      guint timeout_ms, JsonObject **result, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(VfsecContractMessage) msg = NULL;
    g_autofree char *request = NULL;
    g_autofree char *line = NULL;
    gsize len = 0;
    int fd;
    gboolean ok;

    request = vfsec_contract_request_build(1, op, args, &len, error);
    if (!request)
        return FALSE;
    fd = ctl_connect(socket_path, error);
    if (fd < 0)
        return FALSE;
    ok = ctl_write_all(fd, socket_path, request, len, error);
    if (ok)
        line = ctl_read_line(fd, socket_path, deadline, &len, error);
    close(fd);
    if (!line)
        return FALSE;
    msg = vfsec_contract_message_parse(line, len, error);
    if (!msg)
        return FALSE;
    if (msg->kind != VFSEC_CONTRACT_MESSAGE_REPLY || msg->id != 1) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_PROTOCOL,
                    "%s answered something else than the reply to request 1", socket_path);
        return FALSE;
    }
    if (!msg->ok) {
        g_set_error_literal(error, VFSEC_ERROR,
                            vfsec_contract_error_code_to_vfsec(msg->error_code),
                            msg->error_message ? msg->error_message : "request failed");
        return FALSE;
    }
    if (result)
        *result = msg->result ? json_object_ref(msg->result) : json_object_new();
    return TRUE;
}
