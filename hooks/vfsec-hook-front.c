/* vfsec-hook-front.c: the program libvirt runs as vfsec's qemu and network
 * hook (installed as <libexecdir>/vfsec/vfsec-hook): the common cases, with
 * libc only; everything else is handed to the full hook, vfsec-hook-full
 * (hooks/vfsec-hook.c), by execv() with the same argv (docs/hook-contract.md).
 *
 * Why a separate program without GLib: libvirt runs the hook for every
 * start and stop, synchronously, with the domain locked, so its cost is the
 * cost of exec'ing it. Measured on the project's VM (bench/README.md): a
 * program linking libc only starts in 2.2 ms (p50; /bin/true 2.1), GLib only
 * 3.5, json-glib (GIO) 6.6, with libxml2 (ICU, libstdc++) 11.9 ms. The full
 * hook links 21 libraries: 9.8 ms without a VF, 12.3 ms with 4; callgrind
 * put 73 % of its 7.1 M instructions in the dynamic loader and 0.2 M in the
 * XML parse. So this front parses nothing, and decides only what it can
 * decide with certainty:
 *   - an op vfsec does not forward exits 0 without reading stdin;
 *   - XML that cannot name an SR-IOV device (the byte prefilter below)
 *     exits 0 without contacting vfsecd;
 *   - anything else goes to vfsecd in the same "hook" request the full hook
 *     sends, with the raw XML; vfsecd parses it and answers (it refuses a
 *     gating op's unusable XML and passes a domain without candidates);
 *   - an unusual invocation (another option, a value it cannot take, an
 *     unknown op, a bad name), a vfsecd.conf it cannot read with certainty,
 *     or no clean answer from vfsecd: execv() the full hook, which applies
 *     the rules and messages of docs/hook-contract.md. When vfsecd was not
 *     reachable, timed out or broke the protocol, an internal option
 *     --front-outcome= tells the full hook what happened, so it does not ask
 *     (and wait) again; the XML already read is handed over in a memfd.
 * It keeps the full hook's rules: nothing on stdout (fd 1 is /dev/null
 * first), SIGPIPE ignored, one bounded wait, at most one line on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vfsec-config.h"
#include "vfsec-hookops.h"

#define VFSEC_FRONT_DEFAULT_TIMEOUT_MS 10000
#define VFSEC_FRONT_CONF_MAX (1024 * 1024)
#define VFSEC_FRONT_SUN_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

/* The nesting the codec allows (VFSEC_CTL_MAX_DEPTH, the reply object
 * itself included); the front's reader stays within it. */
#define VFSEC_FRONT_JSON_DEPTH 16

/* Not yet decided: main() continues. */
#define VFSEC_FRONT_CONTINUE (-1)

typedef struct {
    int argc;
    char **argv;                /* libvirt's, handed on unchanged */
    int kind;                   /* VfsecHookKind, -1 until known */
    VfsecHookOp op;
    VfsecHookSubop subop;
    const char *name;
    const char *extra;
    const char *socket_opt;     /* --socket */
    long timeout_opt;           /* --timeout-ms, 0: not given */
    char conf_socket[VFSEC_FRONT_SUN_MAX + 1];  /* from vfsecd.conf, "" if not set */
    long conf_timeout;          /* from vfsecd.conf, 0: not set */
    const char *socket_path;    /* the one in force */
    unsigned timeout_ms;
    char *xml;                  /* stdin, once read */
    size_t xml_len;
    int reply_fd;               /* a memfd with vfsecd's reply line, or -1 */
    const char *outcome;        /* --front-outcome for the full hook, or NULL */
    char outcome_buf[64];
} VfsecFront;

/* ---- Handing over to the full hook ---- */

/* The full hook: next to this program (the build tree, or an install), else
 * where meson installed it. */
static void
vfsec_front_full_path(char *buf, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n > 0) {
        self[n] = '\0';
        if ((slash = strrchr(self, '/')) &&
            snprintf(buf, size, "%.*s/vfsec-hook-full", (int)(slash - self), self) < (int)size &&
            access(buf, X_OK) == 0)
            return;
    }
    snprintf(buf, size, "%s", VFSEC_HOOK_FULL_PATH);
}

/* Puts @len bytes of @data on a memfd at @target_fd (or any fd when
 * @target_fd < 0); returns the fd or -1. */
static int
vfsec_front_memfd(const char *label, const char *data, size_t len, int target_fd)
{
    int fd = memfd_create(label, 0);
    size_t off = 0;

    if (fd < 0)
        return -1;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    if (target_fd < 0 || fd == target_fd)
        return fd;
    if (dup2(fd, target_fd) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return target_fd;
}

/* execv()s the full hook with libvirt's argv (plus --front-outcome= when
 * vfsecd was asked) and the XML read so far as its stdin. Returns only
 * when that fails, with the exit status the hook then ends with. */
static int
vfsec_front_exec_full(VfsecFront *f)
{
    char full[PATH_MAX];
    char opt[128];
    char **argv = calloc((size_t)f->argc + 2, sizeof(char *));
    int i = 0;

    vfsec_front_full_path(full, sizeof(full));
    if (argv) {
        argv[i++] = f->argv[0];
        if (f->outcome) {
            snprintf(opt, sizeof(opt), "--front-outcome=%s", f->outcome);
            argv[i++] = opt;
        }
        for (int j = 1; j < f->argc; j++)
            argv[i++] = f->argv[j];
        argv[i] = NULL;
        if (!f->xml || vfsec_front_memfd("vfsec-hook-xml", f->xml, f->xml_len, STDIN_FILENO) >= 0)
            execv(full, argv);
    }
    fprintf(stderr, "vfsec: cannot run the full hook %s: %s%s\n", full, strerror(errno),
            f->kind >= 0 && !vfsec_hook_op_gates(f->op) ? "" : "; refusing this call");
    free(argv);
    return f->kind >= 0 && !vfsec_hook_op_gates(f->op) ? 0 : 1;
}

/* ---- Arguments, environment, vfsecd.conf ---- */

/* 1..600000 in plain decimal, else 0 (the full hook takes the rest). */
static long
vfsec_front_parse_ms(const char *s, size_t len)
{
    long v = 0;

    if (len == 0 || len > 6)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 600000 ? v : 0;
}

/* The kind from argv[0]: .../qemu.d/NAME, .../network.d/NAME, or libvirt's
 * single script .../hooks/qemu; -1 when not that simple. */
static int
vfsec_front_kind_from_argv0(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    const char *dir;
    char word[16];
    size_t len;

    if (!slash)
        return argv0 ? vfsec_hook_kind_from_string(argv0) : -1;
    for (dir = slash; dir > argv0 && dir[-1] != '/'; dir--)
        ;
    len = (size_t)(slash - dir);
    if (len > 2 && len < sizeof(word) && strncmp(slash - 2, ".d", 2) == 0) {
        memcpy(word, dir, len - 2);
        word[len - 2] = '\0';
        if (vfsec_hook_kind_from_string(word) >= 0)
            return vfsec_hook_kind_from_string(word);
    }
    return vfsec_hook_kind_from_string(slash + 1);
}

/* Options the front takes itself; false for anything else. */
static bool
vfsec_front_parse_args(VfsecFront *f)
{
    int end;
    char **pos;

    /* Before any pointer into argv is formed: argv + argc - 4 lies before
     * argv itself for a short argv (undefined behaviour). */
    if (f->argc < 5)
        return false;
    end = f->argc - 4;
    pos = f->argv + end;
    f->kind = vfsec_front_kind_from_argv0(f->argv[0]);
    for (int i = 1; i < end; i++) {
        const char *value = NULL;

        if (strncmp(f->argv[i], "--", 2) != 0)
            return false;
        if (vfsec_hook_option_value(f->argv, &i, end, "kind", &value)) {
            if (!value || (f->kind = vfsec_hook_kind_from_string(value)) < 0)
                return false;
        } else if (vfsec_hook_option_value(f->argv, &i, end, "socket", &value)) {
            if (!value || !*value)
                return false;
            f->socket_opt = value;
        } else if (vfsec_hook_option_value(f->argv, &i, end, "timeout-ms", &value)) {
            if (!value || !(f->timeout_opt = vfsec_front_parse_ms(value, strlen(value))))
                return false;
        } else {
            return false;
        }
    }
    if (f->kind < 0 ||
        (int)(f->op = vfsec_hook_op_from_string(f->kind, pos[1])) < 0 ||
        (int)(f->subop = vfsec_hook_subop_from_string(pos[2])) < 0)
        return false;
    f->name = pos[0];
    f->extra = pos[3];
    return true;
}

/* The environment values the full hook would refuse (exit 2) also send
 * the call there; false then. */
static bool
vfsec_front_check_env(void)
{
    static const char *const words[] = { "1", "yes", "true", "on", "0", "no", "false", "off" };
    const char *v = getenv("VFSEC_HOOK_TIMEOUT_MS");

    if (v && *v && !vfsec_front_parse_ms(v, strlen(v)))
        return false;
    if (!(v = getenv("VFSEC_HOOK_FAIL_OPEN")) || !*v)
        return true;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasecmp(v, words[i]) == 0)
            return true;
    return false;
}

static bool
vfsec_front_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* One "key = value" of the groups the front reads. */
static bool
vfsec_front_conf_value(VfsecFront *f, const char *group, const char *key, size_t key_len,
                       const char *value, size_t len, unsigned *seen)
{
    static const char *const wanted[] = {
        "daemon", "control-socket", "daemon", "run-dir", "timeouts", "hook",
        "hook", "fail-closed",
    };
    unsigned which = 4;
    char run_dir[PATH_MAX];

    for (unsigned i = 0; i < 4; i++) {
        if (strcmp(group, wanted[2 * i]) == 0 && strlen(wanted[2 * i + 1]) == key_len &&
            strncmp(key, wanted[2 * i + 1], key_len) == 0)
            which = i;
    }
    if (which == 4)
        return true;             /* vfsecd's business, and vfsecd validates it */
    /* Set twice, empty, or GKeyFile escapes: the full hook judges. */
    if ((*seen & (1u << which)) || len == 0 || memchr(value, '\\', len))
        return false;
    *seen |= 1u << which;
    switch (which) {
    case 0:
        if (value[0] != '/' || len > VFSEC_FRONT_SUN_MAX)
            return false;
        memcpy(f->conf_socket, value, len);
        f->conf_socket[len] = '\0';
        return true;
    case 1:
        /* The socket's default is <run-dir>/vfsecd.sock. */
        if (value[0] != '/' || value[len - 1] == '/' || len >= sizeof(run_dir))
            return false;
        if (*seen & 1u)
            return true;
        if (len + strlen("/vfsecd.sock") > VFSEC_FRONT_SUN_MAX)
            return false;
        snprintf(f->conf_socket, sizeof(f->conf_socket), "%.*s/vfsecd.sock", (int)len, value);
        return true;
    case 2:
        return (f->conf_timeout = vfsec_front_parse_ms(value, len)) != 0;
    default:
        /* Only the full hook acts on it (vfsecd not reachable), but a value
         * it would refuse must reach it. */
        return (len == 4 && strncmp(value, "true", 4) == 0) ||
               (len == 5 && strncmp(value, "false", 5) == 0);
    }
}

/* Reads the keys of vfsecd.conf the hook needs, strictly: blank lines,
 * '#' comments, "[group]" and "key = value" with keys of [A-Za-z0-9-],
 * valid UTF-8, no control characters, no group twice. Anything else
 * returns false, and the full hook reads the file with vfsecd's own
 * validation and gives its messages. Groups and keys the hook does not use
 * are vfsecd's to validate. */
static bool
vfsec_front_parse_conf(VfsecFront *f, const char *text, size_t len)
{
    char group[64] = "";
    char groups[1024] = "\n";    /* "\nname\n..." of the groups seen */
    unsigned seen = 0;
    const char *p = text;
    const char *end = text + len;

    if (!vfsec_hook_utf8_valid(text, len))
        return false;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *q;
        const char *eq;
        size_t n;

        for (q = p; q < line_end; q++)
            if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
                return false;
        while (p < line_end && vfsec_front_is_space(*p))
            p++;
        if (p == line_end || *p == '#') {
            p = line_end + 1;
            continue;
        }
        if (*p == '[') {
            n = (size_t)(line_end - p);
            if (n < 3 || line_end[-1] != ']' || n - 2 >= sizeof(group) ||
                memchr(p + 1, '[', n - 2) || memchr(p + 1, ']', n - 2))
                return false;
            memcpy(group, p + 1, n - 2);
            group[n - 2] = '\0';
            {
                char needle[sizeof(group) + 2];

                snprintf(needle, sizeof(needle), "\n%s\n", group);
                if (strstr(groups, needle) ||
                    strlen(groups) + strlen(group) + 1 >= sizeof(groups))
                    return false;
                strcat(groups, group);
                strcat(groups, "\n");
            }
            p = line_end + 1;
            continue;
        }
        if (!group[0] || !(eq = memchr(p, '=', (size_t)(line_end - p))))
            return false;
        for (q = eq; q > p && vfsec_front_is_space(q[-1]); q--)
            ;
        if (q == p)
            return false;
        for (const char *k = p; k < q; k++)
            if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
                  (*k >= '0' && *k <= '9') || *k == '-'))
                return false;
        {
            const char *v = eq + 1;
            const char *ve = line_end;

            while (v < ve && vfsec_front_is_space(*v))
                v++;
            while (ve > v && vfsec_front_is_space(ve[-1]))
                ve--;
            if (!vfsec_front_conf_value(f, group, p, (size_t)(q - p), v, (size_t)(ve - v),
                                        &seen))
                return false;
        }
        p = line_end + 1;
    }
    return true;
}

/* vfsecd.conf (VFSEC_CONFIG, else <sysconfdir>/vfsec/vfsecd.conf): no file
 * is fine; false when the full hook must judge it. */
static bool
vfsec_front_read_conf(VfsecFront *f)
{
    const char *env = getenv("VFSEC_CONFIG");
    char path[PATH_MAX];
    char *text;
    size_t len = 0;
    bool ok;
    int fd;

    snprintf(path, sizeof(path), "%s", env && *env ? env : VFSEC_SYSCONFDIR "/vfsec/vfsecd.conf");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    text = malloc(VFSEC_FRONT_CONF_MAX + 1);
    if (!text) {
        close(fd);
        return false;
    }
    for (;;) {
        ssize_t n = read(fd, text + len, VFSEC_FRONT_CONF_MAX + 1 - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        len += (size_t)n;
        if (len > VFSEC_FRONT_CONF_MAX) {
            ok = false;
            break;
        }
    }
    close(fd);
    ok = ok && vfsec_front_parse_conf(f, text, len);
    free(text);
    return ok;
}

/* Option > environment > vfsecd.conf > default, as the full hook. */
static void
vfsec_front_settle(VfsecFront *f)
{
    const char *v = getenv("VFSEC_CONTROL_SOCKET");
    const char *t = getenv("VFSEC_HOOK_TIMEOUT_MS");

    f->socket_path = VFSEC_RUNSTATEDIR "/vfsec/vfsecd.sock";
    if (f->conf_socket[0])
        f->socket_path = f->conf_socket;
    if (v && *v)
        f->socket_path = v;
    if (f->socket_opt)
        f->socket_path = f->socket_opt;
    f->timeout_ms = VFSEC_FRONT_DEFAULT_TIMEOUT_MS;
    if (f->conf_timeout)
        f->timeout_ms = (unsigned)f->conf_timeout;
    if (t && *t)
        f->timeout_ms = (unsigned)vfsec_front_parse_ms(t, strlen(t));
    if (f->timeout_opt)
        f->timeout_ms = (unsigned)f->timeout_opt;
}

/* ---- stdin and the prefilter ---- */

/* Reads stdin, at most VFSEC_HOOK_XML_MAX bytes: 0, 1 when larger (what
 * was read stays in f->xml), -1 on an error. */
static int
vfsec_front_read_stdin(VfsecFront *f)
{
    size_t cap = 65536;

    f->xml = malloc(cap);
    if (!f->xml)
        return -1;
    for (;;) {
        ssize_t n;

        if (f->xml_len == cap) {
            char *bigger;

            if (cap > VFSEC_HOOK_XML_MAX)
                return 1;
            cap *= 2;
            if (!(bigger = realloc(f->xml, cap + 1)))
                return -1;
            f->xml = bigger;
        }
        n = read(STDIN_FILENO, f->xml + f->xml_len, cap - f->xml_len);
        if (n == 0)
            return f->xml_len > VFSEC_HOOK_XML_MAX ? 1 : 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        f->xml_len += (size_t)n;
    }
}

static bool
vfsec_front_has_word(const char *text, size_t len, const char *word)
{
    size_t n = strlen(word);

    /* @word is lower case: (c | 0x20) folds only ASCII letters' case among
     * the bytes that can match its first letter. */
    for (size_t i = 0; i + n <= len; i++)
        if ((text[i] | 0x20) == word[0] && strncasecmp(text + i, word, n) == 0)
            return true;
    return false;
}

/* Whether @xml starts with an XML declaration, returning the length of
 * it, 0 when there is none, -1 when it names an encoding other than UTF-8
 * (or is not closed). */
static long
vfsec_front_xml_decl(const char *xml, size_t len)
{
    const char *end;
    const char *enc;

    if (len < 5 || strncmp(xml, "<?xml", 5) != 0)
        return 0;
    if (!(end = memmem(xml, len, "?>", 2)))
        return -1;
    enc = memmem(xml, (size_t)(end - xml), "encoding", 8);
    if (enc) {
        enc += 8;
        while (enc < end && (*enc == ' ' || *enc == '=' || *enc == '\t'))
            enc++;
        if (end - enc < 7 || (*enc != '"' && *enc != '\'') ||
            strncasecmp(enc + 1, "UTF-8", 5) != 0 || enc[6] != *enc)
            return -1;
    }
    return end + 2 - xml;
}

/* Whether no parse of @xml can yield an SR-IOV candidate, so the hook may
 * exit 0 without vfsecd. lib/vfsec-domain.c makes a candidate only from a
 * <hostdev> element, an <interface type='hostdev'|'direct'>, or an
 * <actual type='hostdev'|'direct'> of a network interface, and a network
 * port only from <plug type='hostdev-pci'|'direct'>: each needs the text
 * "hostdev" or "direct" after parsing. The parsed text can differ from the
 * bytes only through character references (&#104;), entities a DOCTYPE
 * declares (<!DOCTYPE, <!ENTITY), CDATA (<![CDATA[) or another encoding
 * (an XML declaration's encoding=, UTF-16's NUL bytes, EBCDIC's invalid
 * UTF-8). So: valid UTF-8 without NUL, no "<!" but comments ("<!--", whose
 * text is no content), no "<?" but a leading UTF-8 XML declaration, every
 * '&' one of the five predefined references (which expand to & < > " '
 * only), and neither word in the bytes (compared without case, to be
 * safe). Such XML passes even when it is malformed or names another
 * object: it cannot name a VF, so there is nothing for vfsec to guard.
 * The caller has checked the first rule (UTF-8, no NUL). */
static bool
vfsec_front_cannot_name_vf(const char *xml, size_t len)
{
    static const char *const refs[] = { "amp;", "lt;", "gt;", "quot;", "apos;" };
    long decl = vfsec_front_xml_decl(xml, len);

    if (decl < 0 || vfsec_front_has_word(xml, len, "hostdev") || vfsec_front_has_word(xml, len, "direct") ||
        memmem(xml + decl, len - (size_t)decl, "<?", 2))
        return false;
    for (const char *lt = memmem(xml, len, "<!", 2); lt;
         lt = memmem(lt + 1, len - (size_t)(lt + 1 - xml), "<!", 2)) {
        if ((size_t)(xml + len - lt) < 4 || strncmp(lt + 2, "--", 2) != 0)
            return false;
    }
    for (const char *amp = memchr(xml, '&', len); amp;
         amp = memchr(amp + 1, '&', len - (size_t)(amp + 1 - xml))) {
        size_t left = len - (size_t)(amp + 1 - xml);
        bool known = false;

        for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]) && !known; i++)
            known = strlen(refs[i]) <= left && strncmp(amp + 1, refs[i], strlen(refs[i])) == 0;
        if (!known)
            return false;
    }
    return true;
}

/* ---- vfsecd ---- */

static int64_t
vfsec_front_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A growing byte buffer; @failed once an allocation failed. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} VfsecFrontBuf;

static void
vfsec_front_buf_add(VfsecFrontBuf *b, const char *data, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *bigger;

        while (cap < b->len + len + 1)
            cap *= 2;
        if (!(bigger = realloc(b->data, cap))) {
            b->failed = true;
            return;
        }
        b->data = bigger;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

/* @text (valid UTF-8, checked before) as a JSON string. */
static void
vfsec_front_buf_add_json(VfsecFrontBuf *b, const char *text, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    vfsec_front_buf_add(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        char esc[7] = { '\\', 0 };
        size_t n = 2;

        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        vfsec_front_buf_add(b, text + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            n = 6;
        }
        vfsec_front_buf_add(b, esc, n);
    }
    vfsec_front_buf_add(b, text + run, len - run);
    vfsec_front_buf_add(b, "\"", 1);
}

/* A NUL-terminated @text as it is. */
static void
vfsec_front_buf_add_str(VfsecFrontBuf *b, const char *text)
{
    vfsec_front_buf_add(b, text, strlen(text));
}

/* The request the full hook sends (lib/vfsec-ctlproto.c), id 1. */
static bool
vfsec_front_build_request(const VfsecFront *f, VfsecFrontBuf *b)
{
    char num[32];

    vfsec_front_buf_add_str(b, "{\"v\":1,\"id\":1,\"op\":\"hook\",\"args\":{\"kind\":\"");
    vfsec_front_buf_add_str(b, vfsec_hook_kind_to_string(f->kind));
    vfsec_front_buf_add_str(b, "\",\"name\":");
    vfsec_front_buf_add_json(b, f->name, strlen(f->name));
    vfsec_front_buf_add_str(b, ",\"op\":\"");
    vfsec_front_buf_add_str(b, vfsec_hook_op_to_string(f->op));
    vfsec_front_buf_add_str(b, "\",\"subop\":\"");
    vfsec_front_buf_add_str(b, vfsec_hook_subop_to_string(f->subop));
    vfsec_front_buf_add_str(b, "\",\"extra\":");
    vfsec_front_buf_add_json(b, f->extra, strlen(f->extra));
    vfsec_front_buf_add_str(b, ",\"xml\":");
    vfsec_front_buf_add_json(b, f->xml, f->xml_len);
    snprintf(num, sizeof(num), ",\"timeout_ms\":%u}}\n", f->timeout_ms);
    vfsec_front_buf_add_str(b, num);
    return !b->failed && b->len - 1 <= VFSEC_HOOK_REPLY_MAX;
}

/* Waits for @events until @deadline: 0, or -ETIMEDOUT / -errno. */
static int
vfsec_front_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = events };
        int64_t left = deadline - vfsec_front_now_us();
        int rc;

        if (left <= 0)
            return -ETIMEDOUT;
        rc = poll(&pfd, 1, (int)((left + 999) / 1000));
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -errno;
    }
}

/* Sends the request and reads one line back into @reply (without '\n').
 * Returns NULL, or the --front-outcome text of what went wrong. */
static const char *
vfsec_front_exchange(VfsecFront *f, int fd, const VfsecFrontBuf *req, VfsecFrontBuf *reply,
                     int64_t deadline)
{
    size_t off = 0;

    while (off < req->len) {
        ssize_t n = send(fd, req->data + off, req->len - off, MSG_NOSIGNAL);
        int rc;

        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            rc = -errno;
        else if ((rc = vfsec_front_wait(fd, POLLOUT, deadline)) == 0)
            continue;
        if (rc == -ETIMEDOUT)
            return "timeout";
        snprintf(f->outcome_buf, sizeof(f->outcome_buf), "send:%d", -rc);
        return f->outcome_buf;
    }
    for (;;) {
        char chunk[65536];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        char *nl;
        int rc;

        if (n > 0) {
            size_t before = reply->len;

            vfsec_front_buf_add(reply, chunk, (size_t)n);
            if (reply->failed)
                return "too-long";
            if ((nl = memchr(reply->data + before, '\n', (size_t)n))) {
                reply->len = (size_t)(nl - reply->data);
                reply->data[reply->len] = '\0';
                return reply->len > VFSEC_HOOK_REPLY_MAX ? "too-long" : NULL;
            }
            if (reply->len > VFSEC_HOOK_REPLY_MAX)
                return "too-long";
            continue;
        }
        if (n == 0)
            return "closed";
        if (errno == EINTR)
            continue;
        rc = errno == EAGAIN ? vfsec_front_wait(fd, POLLIN, deadline) : -errno;
        if (rc == 0)
            continue;
        if (rc == -ETIMEDOUT)
            return "timeout";
        snprintf(f->outcome_buf, sizeof(f->outcome_buf), "recv:%d", -rc);
        return f->outcome_buf;
    }
}

/* ---- The reply: a strict reader for what vfsecd sends ---- */

typedef struct {
    const char *p;
    const char *end;
} VfsecFrontJson;

static void
vfsec_front_json_space(VfsecFrontJson *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
        j->p++;
}

static bool
vfsec_front_json_lit(VfsecFrontJson *j, const char *lit)
{
    size_t n = strlen(lit);

    vfsec_front_json_space(j);
    if ((size_t)(j->end - j->p) < n || strncmp(j->p, lit, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool
vfsec_front_json_put_utf8(VfsecFrontBuf *out, uint32_t cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    if (out)
        vfsec_front_buf_add(out, u, n);
    return true;
}

static bool
vfsec_front_json_hex4(VfsecFrontJson *j, uint32_t *cp)
{
    *cp = 0;
    if (j->end - j->p < 4)
        return false;
    for (int i = 0; i < 4; i++, j->p++) {
        char c = *j->p;

        *cp <<= 4;
        if (c >= '0' && c <= '9')
            *cp |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *cp |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *cp |= (uint32_t)(c - 'A' + 10);
        else
            return false;
    }
    return true;
}

/* A JSON string, decoded into @out when not NULL. */
static bool
vfsec_front_json_string(VfsecFrontJson *j, VfsecFrontBuf *out)
{
    if (!vfsec_front_json_lit(j, "\""))
        return false;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;
        uint32_t cp;

        if (c == '"')
            return !out || !out->failed;
        if (c < 0x20)
            return false;
        if (c != '\\') {
            if (out)
                vfsec_front_buf_add(out, (const char *)&c, 1);
            continue;
        }
        if (j->p == j->end)
            return false;
        switch (*j->p++) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (!vfsec_front_json_hex4(j, &cp))
                return false;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;

                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                    return false;
                j->p += 2;
                if (!vfsec_front_json_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return false;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return false;
            }
            break;
        default:
            return false;
        }
        vfsec_front_json_put_utf8(out, cp);
    }
    return false;
}

/* The member names one object has shown so far, to refuse a duplicate as
 * the codec does (vfsec_json_parse_line()). */
typedef struct {
    const char *name[64];
    size_t len[64];
    unsigned count;
} VfsecFrontNames;

/* A member name at the cursor, then its ':'; copied into @key (@size bytes)
 * when it fits, else @key is "". The codec refuses escaped member names, so
 * a '\\' here is refused too (the raw bytes are the name), and so is a
 * name @names has already seen, or an object with more members than it
 * holds. */
static bool
vfsec_front_json_key(VfsecFrontJson *j, VfsecFrontNames *names, char *key, size_t size)
{
    const char *start;
    size_t len;

    if (!vfsec_front_json_lit(j, "\""))
        return false;
    for (start = j->p; j->p < j->end && *j->p != '"'; j->p++)
        if (*j->p == '\\' || (unsigned char)*j->p < 0x20)
            return false;
    if (j->p == j->end)
        return false;
    len = (size_t)(j->p++ - start);
    for (unsigned i = 0; i < names->count; i++)
        if (names->len[i] == len && memcmp(names->name[i], start, len) == 0)
            return false;
    if (names->count == sizeof(names->name) / sizeof(names->name[0]))
        return false;
    names->name[names->count] = start;
    names->len[names->count++] = len;
    if (len < size) {
        memcpy(key, start, len);
        key[len] = '\0';
    } else {
        key[0] = '\0';
    }
    return vfsec_front_json_lit(j, ":");
}

/* Skips any JSON value, nested at most @depth deep. */
static bool
vfsec_front_json_skip(VfsecFrontJson *j, int depth)
{
    vfsec_front_json_space(j);
    if (j->p == j->end || depth == 0)
        return false;
    if (*j->p == '"')
        return vfsec_front_json_string(j, NULL);
    if (*j->p == '{' || *j->p == '[') {
        bool object = *j->p == '{';
        const char *close = object ? "}" : "]";
        VfsecFrontNames names = { .count = 0 };
        char key[1];

        j->p++;
        if (vfsec_front_json_lit(j, close))
            return true;
        do {
            if (object && !vfsec_front_json_key(j, &names, key, sizeof(key)))
                return false;
            if (!vfsec_front_json_skip(j, depth - 1))
                return false;
        } while (vfsec_front_json_lit(j, ","));
        return vfsec_front_json_lit(j, close);
    }
    if (vfsec_front_json_lit(j, "true") || vfsec_front_json_lit(j, "false") ||
        vfsec_front_json_lit(j, "null"))
        return true;
    if (!(*j->p == '-' || (*j->p >= '0' && *j->p <= '9')))
        return false;
    /* Numbers as the codec takes them. */
    return vfsec_hook_json_number(&j->p, j->end) == 1;
}

/* An error code as the codec takes it: 1..64 bytes of [a-z0-9._-]. */
static bool
vfsec_front_json_code(VfsecFrontJson *j)
{
    VfsecFrontBuf code = { 0 };
    bool ok = vfsec_front_json_string(j, &code) && code.data && code.len <= 64 &&
              strspn(code.data, "abcdefghijklmnopqrstuvwxyz0123456789._-") == code.len;

    free(code.data);
    return ok;
}

/* {"code":"...","message":"..."} into @message; other members skipped. */
static bool
vfsec_front_json_error(VfsecFrontJson *j, VfsecFrontBuf *message)
{
    VfsecFrontNames names = { .count = 0 };
    bool have_code = false;

    if (!vfsec_front_json_lit(j, "{"))
        return false;
    do {
        char key[16];

        if (!vfsec_front_json_key(j, &names, key, sizeof(key)))
            return false;
        if (strcmp(key, "message") == 0 && !message->data) {
            if (!vfsec_front_json_string(j, message) || !message->data)
                return false;
        } else if (strcmp(key, "code") == 0) {
            if (!vfsec_front_json_code(j))
                return false;
            have_code = true;
        } else if (!vfsec_front_json_skip(j, VFSEC_FRONT_JSON_DEPTH - 2)) {
            return false;
        }
    } while (vfsec_front_json_lit(j, ","));
    return have_code && message->data && vfsec_front_json_lit(j, "}");
}

typedef enum {
    VFSEC_FRONT_REPLY_UNSURE,   /* the full hook judges the line */
    VFSEC_FRONT_REPLY_OK,
    VFSEC_FRONT_REPLY_REFUSED,  /* @message holds vfsecd's sentence */
} VfsecFrontReply;

/* {"v":1,"id":1,"ok":true,"result":{...}} or {"v":1,"id":1,"ok":false,
 * "error":{"code":...,"message":...}}, members in any order, each once;
 * the message one line of 1..4096 bytes of UTF-8 as the codec checks it.
 * Whatever this accepts, the codec (vfsec_ctl_reply_parse()) accepts with
 * the same meaning: no duplicate or escaped member names, valid UTF-8,
 * JSON numbers within 64 bits, depth within VFSEC_CTL_MAX_DEPTH.
 * Anything else is left to the full hook's codec, which says what is
 * wrong with it in today's words. */
static VfsecFrontReply
vfsec_front_parse_reply(const char *line, size_t len, VfsecFrontBuf *message)
{
    VfsecFrontJson j = { line, line + len };
    VfsecFrontNames names = { .count = 0 };
    int ok = -1;
    bool have_v = false, have_id = false, have_result = false;
    char check[16];

    /* The codec refuses a line that is not UTF-8 before reading it. */
    if (!vfsec_hook_utf8_valid(line, len) || !vfsec_front_json_lit(&j, "{"))
        return VFSEC_FRONT_REPLY_UNSURE;
    do {
        char key[16];

        if (!vfsec_front_json_key(&j, &names, key, sizeof(key)))
            return VFSEC_FRONT_REPLY_UNSURE;
        if (strcmp(key, "v") == 0 && !have_v) {
            have_v = vfsec_front_json_lit(&j, "1");
            if (!have_v)
                return VFSEC_FRONT_REPLY_UNSURE;
        } else if (strcmp(key, "id") == 0 && !have_id) {
            have_id = vfsec_front_json_lit(&j, "1");
            if (!have_id)
                return VFSEC_FRONT_REPLY_UNSURE;
        } else if (strcmp(key, "ok") == 0 && ok < 0) {
            ok = vfsec_front_json_lit(&j, "true") ? 1 : vfsec_front_json_lit(&j, "false") ? 0 : -2;
            if (ok == -2)
                return VFSEC_FRONT_REPLY_UNSURE;
        } else if (strcmp(key, "result") == 0) {
            /* The codec wants an object. */
            vfsec_front_json_space(&j);
            if (j.p == j.end || *j.p != '{' ||
                !vfsec_front_json_skip(&j, VFSEC_FRONT_JSON_DEPTH - 1))
                return VFSEC_FRONT_REPLY_UNSURE;
            have_result = true;
        } else if (strcmp(key, "error") == 0 && !message->data) {
            if (!vfsec_front_json_error(&j, message))
                return VFSEC_FRONT_REPLY_UNSURE;
        } else {
            return VFSEC_FRONT_REPLY_UNSURE;
        }
    } while (vfsec_front_json_lit(&j, ","));
    if (!vfsec_front_json_lit(&j, "}"))
        return VFSEC_FRONT_REPLY_UNSURE;
    vfsec_front_json_space(&j);
    /* "1" must not have been the start of "12": the next byte was checked
     * by the ',' or '}' that followed. */
    if (j.p != j.end || !have_v || !have_id || ok < 0 || (ok == 1) == (message->data != NULL) ||
        (ok == 1 && !have_result))
        return VFSEC_FRONT_REPLY_UNSURE;
    if (ok == 1)
        return VFSEC_FRONT_REPLY_OK;
    if (!vfsec_hook_text_check("message", message->data, 4096, false, check, sizeof(check)) ||
        message->len != strlen(message->data))
        return VFSEC_FRONT_REPLY_UNSURE;
    return VFSEC_FRONT_REPLY_REFUSED;
}

/* Asks vfsecd. Returns the exit status, or VFSEC_FRONT_CONTINUE with
 * f->outcome (and f->reply_fd) set for the full hook. */
static int
vfsec_front_ask_vfsecd(VfsecFront *f)
{
    int64_t deadline = vfsec_front_now_us() + (int64_t)f->timeout_ms * 1000;
    VfsecFrontBuf req = { 0 };
    VfsecFrontBuf reply = { 0 };
    VfsecFrontBuf message = { 0 };
    VfsecFrontReply verdict;
    int fd;
    int rc = VFSEC_FRONT_CONTINUE;

    if (!vfsec_front_build_request(f, &req)) {
        free(req.data);
        return VFSEC_FRONT_CONTINUE;   /* too large: the full hook says so */
    }
    fd = vfsec_hook_connect(f->socket_path, deadline - vfsec_front_now_us());
    if (fd < 0) {
        snprintf(f->outcome_buf, sizeof(f->outcome_buf), "unreachable:%d", -fd);
        f->outcome = f->outcome_buf;
        free(req.data);
        return VFSEC_FRONT_CONTINUE;
    }
    f->outcome = vfsec_front_exchange(f, fd, &req, &reply, deadline);
    close(fd);
    free(req.data);
    if (f->outcome) {
        free(reply.data);
        return VFSEC_FRONT_CONTINUE;
    }
    verdict = vfsec_front_parse_reply(reply.data, reply.len, &message);
    if (verdict == VFSEC_FRONT_REPLY_OK) {
        rc = 0;
    } else if (verdict == VFSEC_FRONT_REPLY_REFUSED) {
        /* vfsecd's own sentence is what virsh shows. */
        fprintf(stderr, "%s\n", message.data);
        rc = vfsec_hook_op_gates(f->op) ? 1 : 0;
    } else {
        f->reply_fd = vfsec_front_memfd("vfsec-hook-reply", reply.data, reply.len, -1);
        snprintf(f->outcome_buf, sizeof(f->outcome_buf), "reply:%d", f->reply_fd);
        f->outcome = f->reply_fd >= 0 ? f->outcome_buf : "closed";
    }
    free(reply.data);
    free(message.data);
    return rc;
}

static int
vfsec_front_run(VfsecFront *f)
{
    char msg[512];
    int rc;

    if (!vfsec_front_check_env() || !vfsec_front_parse_args(f))
        return vfsec_front_exec_full(f);
    if (!vfsec_hook_op_forwarded(f->op))
        return 0;
    if (!vfsec_hook_name_check("name", f->name, msg, sizeof(msg)) ||
        !vfsec_hook_extra_check("extra", f->extra, msg, sizeof(msg)) ||
        !vfsec_front_read_conf(f))
        return vfsec_front_exec_full(f);
    vfsec_front_settle(f);
    if (vfsec_front_read_stdin(f) != 0)
        return vfsec_front_exec_full(f);
    /* Bytes the prefilter cannot vouch for and the request cannot carry
     * as they are: the full hook judges. Checked once, for both. */
    if (memchr(f->xml, '\0', f->xml_len) || !vfsec_hook_utf8_valid(f->xml, f->xml_len))
        return vfsec_front_exec_full(f);
    if (vfsec_front_cannot_name_vf(f->xml, f->xml_len))
        return 0;
    if ((rc = vfsec_front_ask_vfsecd(f)) != VFSEC_FRONT_CONTINUE)
        return rc;
    return vfsec_front_exec_full(f);
}

int
main(int argc, char **argv)
{
    VfsecFront front = { .argc = argc, .argv = argv, .kind = -1, .reply_fd = -1 };
    int rc;

    vfsec_hook_seal_stdout();
    /* vfsecd may close the socket under us: an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    rc = vfsec_front_run(&front);
    free(front.xml);
    return rc;
}
