/* vfsec-nicsim-main.c: the vfsec-nicsim executable — run the emulator, or
 * send one request to a running one (`vfsec-nicsim ctl`). */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vfsec-config.h"
#include "vfsec-error.h"
#include "vfsec-nicsim.h"

#define EXIT_USAGE 2
#define CTL_DEFAULT_TIMEOUT_MS 30000

/* ---- ctl ---- */

static int
ctl_main(int argc, char **argv)
{
    g_autofree char *socket_path = NULL;
    g_autofree char *prefix = NULL;
    g_autofree char *timeout = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) args = NULL;
    g_autoptr(JsonObject) result = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    guint64 timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    const GOptionEntry entries[] = {
        { "control-socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path,
          "The emulator's control socket", "PATH" },
        { "prefix", 0, 0, G_OPTION_ARG_STRING, &prefix,
          "Use the default control socket of the emulator with this prefix", "PREFIX" },
        { "timeout", 0, 0, G_OPTION_ARG_STRING, &timeout, "Wait at most MS for the reply",
          "MS" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("OP [JSON] - one request to a running "
                                                         "vfsec-nicsim");

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, "Example: vfsec-nicsim ctl sad-dump '{\"port\": 0}'\n"
                                          "The ops are described in docs/nicsim.md.");
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc < 2 || argc > 3 ||
        (timeout && !vfsec_parse_uint(timeout, G_MAXUINT32, &timeout_ms))) {
        fprintf(stderr, "vfsec-nicsim ctl: %s\n",
                error ? error->message : "usage: vfsec-nicsim ctl [OPTION...] OP [JSON]");
        return EXIT_USAGE;
    }
    if (argc == 3) {
        g_autoptr(JsonParser) parser = json_parser_new();

        if (!json_parser_load_from_data(parser, argv[2], -1, &error) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
            fprintf(stderr, "vfsec-nicsim ctl: the arguments must be one JSON object%s%s\n",
                    error ? ": " : "", error ? error->message : "");
            return EXIT_USAGE;
        }
        args = json_object_ref(json_node_get_object(json_parser_get_root(parser)));
    }
    if (!socket_path)
        socket_path = vfsec_nicsim_default_control_socket(prefix ? prefix
                                                                 : VFSEC_NICSIM_DEFAULT_PREFIX);
    if (!vfsec_nicsim_ctl_call(socket_path, argv[1], args, (guint)timeout_ms, &result, &error)) {
        fprintf(stderr, "vfsec-nicsim ctl: %s\n", error->message);
        return 1;
    }
    root = json_node_init_object(json_node_alloc(), result);
    text = json_to_string(root, TRUE);
    printf("%s\n", text);
    return 0;
}

/* ---- The emulator ---- */

static gboolean
on_signal(gpointer user_data)
{
    g_main_loop_quit(user_data);
    return G_SOURCE_CONTINUE;
}

/* Forks; the parent waits until the child says it is ready (one byte on a
 * pipe) and exits 0, or 1 when the child died first. Returns the write end
 * in the child. */
static int
daemonize(void)
{
    int fds[2];
    pid_t pid;
    char c = 0;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        close(fds[1]);
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(c == 'R' ? 0 : 1);
    }
    close(fds[0]);
    setsid();
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        close(devnull);
    }
    return fds[1];
}

static gboolean
write_ready_file(const char *path, const VfsecNicsimConfig *config, GError **error)
{
    g_autofree char *text = g_strdup_printf(
        "{\"pid\": %d, \"prefix\": \"%s\", \"control_socket\": \"%s\", "
        "\"contract_socket\": \"%s\"}\n",
        (int)getpid(), config->prefix, config->control_socket, config->contract_socket);

    /* g_file_set_contents() renames a complete temporary file into place, so
     * a watcher never reads a half-written file. */
    return g_file_set_contents(path, text, -1, error);
}

int
main(int argc, char **argv)
{
    VfsecNicsimConfig config;
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autoptr(VfsecNicsim) sim = NULL;
    int ready_fd = -1;

    if (argc >= 2 && g_str_equal(argv[1], "ctl"))
        return ctl_main(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        if (g_str_equal(argv[i], "--version")) {
            printf("vfsec-nicsim %s\n", VFSEC_VERSION);
            return 0;
        }
    }
    vfsec_nicsim_config_init(&config);
    if (!vfsec_nicsim_config_parse(&config, &argc, &argv, &error)) {
        fprintf(stderr, "vfsec-nicsim: %s\n", error->message);
        vfsec_nicsim_config_clear(&config);
        return EXIT_USAGE;
    }
    if (!config.foreground) {
        ready_fd = daemonize();
        if (ready_fd < 0) {
            fprintf(stderr, "vfsec-nicsim: cannot go to the background: %s\n",
                    g_strerror(errno));
            vfsec_nicsim_config_clear(&config);
            return 1;
        }
    }
    /* A peer closing a socket must not kill the emulator. */
    signal(SIGPIPE, SIG_IGN);
    loop = g_main_loop_new(NULL, FALSE);
    /* Before anything can tell the world we are ready: a signal from a
     * script that saw the ready file must find the handler in place (it is
     * dispatched once the loop runs, and the loop then stops at once). */
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_unix_signal_add(SIGINT, on_signal, loop);
    g_unix_signal_add(SIGHUP, on_signal, loop);
    sim = vfsec_nicsim_new(&config, &error);
    if (!sim || (config.ready_file && !write_ready_file(config.ready_file, &config, &error))) {
        fprintf(stderr, "vfsec-nicsim: %s\n", error->message);
        g_clear_pointer(&sim, vfsec_nicsim_free);
        vfsec_nicsim_config_clear(&config);
        return 1;
    }
    printf("vfsec-nicsim: ready: %u port(s) x %u VFs, prefix %s, control %s, contract %s\n",
           config.n_ports, config.n_vfs, config.prefix, config.control_socket,
           config.contract_socket);
    fflush(stdout);
    if (ready_fd >= 0) {
        if (write(ready_fd, "R", 1) < 0)
            g_debug("the waiting parent is gone: %s", g_strerror(errno));
        close(ready_fd);
    }
    g_main_loop_run(loop);
    g_debug("stopping");
    if (config.ready_file)
        unlink(config.ready_file);
    g_clear_pointer(&sim, vfsec_nicsim_free);
    vfsec_nicsim_config_clear(&config);
    return 0;
}
