/* vfsec-conf.c: vfsecd.conf (GKeyFile) → a validated VfsecConf; host policy layers. */

/*
 * Theory of operation
 *
 * The file is parsed by GKeyFile, then checked group by group against one
 * table of what may appear where. Everything unexpected is an error rather
 * than a warning: an unknown group or key (a typo such as "pf-reclam" would
 * otherwise silently leave the default in force), a group or key written
 * twice (GKeyFile merges repeated groups and lets the last key win, which
 * would turn two [pf p0] blocks into one mixed PF), and any value out of
 * range or inconsistent with another. Every message starts with "[group]
 * key" so an operator finds the line at once.
 *
 * Loading never modifies an existing VfsecConf: a reload builds a new one
 * and the daemon swaps only on success, so a broken edit leaves the running
 * configuration in force.
 *
 * Policy is layered at resolution time, not at load time, because the layers
 * that apply depend on the VF (its PF) and its domain (network, portgroup,
 * metadata).
 */
#include "vfsec-conf.h"

#include <string.h>
#include <sys/un.h>

#include "vfsec-config.h"
#include "vfsec-error.h"
#include "vfsec-file.h"

static void
vfsec_conf_pf_free(VfsecConfPf *pf)
{
    if (!pf)
        return;
    g_free(pf->label);
    g_free(pf->socket);
    g_free(pf->netdev);
    g_free(pf);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecConfPf, vfsec_conf_pf_free)

/* ------------------------------------------------------------------ */
/* Enums */

const char *
vfsec_tpid_to_string(guint16 tpid)
{
    switch (tpid) {
    case VFSEC_TPID_8021Q:
        return "802.1Q";
    case VFSEC_TPID_8021AD:
        return "802.1ad";
    default:
        return NULL;
    }
}

gboolean
vfsec_tpid_from_string(const char *str, guint16 *tpid)
{
    if (g_strcmp0(str, "802.1Q") == 0)
        *tpid = VFSEC_TPID_8021Q;
    else if (g_strcmp0(str, "802.1ad") == 0)
        *tpid = VFSEC_TPID_8021AD;
    else
        return FALSE;
    return TRUE;
}

static const char *const vfsec_plugin_kind_names[VFSEC_PLUGIN_LAST] = {
    [VFSEC_PLUGIN_CONTRACT] = "contract",
    [VFSEC_PLUGIN_LINUX] = "linux",
};

const char *
vfsec_plugin_kind_to_string(VfsecPluginKind kind)
{
    if ((guint)kind >= VFSEC_PLUGIN_LAST)
        return NULL;
    return vfsec_plugin_kind_names[kind];
}

int
vfsec_name_index(const char *const *names, int n, const char *str)
{
    for (int i = 0; str && i < n; i++) {
        if (g_str_equal(str, names[i]))
            return i;
    }
    return -1;
}

int
vfsec_plugin_kind_from_string(const char *str)
{
    return vfsec_name_index(vfsec_plugin_kind_names, VFSEC_PLUGIN_LAST, str);
}

static const char *const vfsec_log_level_names[VFSEC_LOG_LEVEL_LAST] = {
    [VFSEC_LOG_LEVEL_ERROR] = "error",
    [VFSEC_LOG_LEVEL_WARNING] = "warning",
    [VFSEC_LOG_LEVEL_MESSAGE] = "message",
    [VFSEC_LOG_LEVEL_INFO] = "info",
    [VFSEC_LOG_LEVEL_DEBUG] = "debug",
};

const char *
vfsec_log_level_to_string(VfsecLogLevel level)
{
    if ((guint)level >= VFSEC_LOG_LEVEL_LAST)
        return NULL;
    return vfsec_log_level_names[level];
}

int
vfsec_log_level_from_string(const char *str)
{
    return vfsec_name_index(vfsec_log_level_names, VFSEC_LOG_LEVEL_LAST, str);
}

/* ------------------------------------------------------------------ */
/* Names */

/* [A-Za-z0-9_.-]{1,@max}, not starting with '.' or '-': safe as a file name
 * and in messages. */
static gboolean
vfsec_conf_name_ok(const char *name, gsize max)
{
    gsize len = name ? strlen(name) : 0;

    if (len == 0 || len > max || name[0] == '.' || name[0] == '-')
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(name[i]) && !strchr("_.-", name[i]))
            return FALSE;
    }
    return TRUE;
}

gboolean
vfsec_conf_label_check(const char *label, GError **error)
{
    if (!vfsec_conf_name_ok(label, VFSEC_CONF_LABEL_MAX)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "PF label '%s' is not 1 to %d of A-Z a-z 0-9 _ . - "
                    "(not starting with . or -)",
                    label ? label : "", VFSEC_CONF_LABEL_MAX);
        return FALSE;
    }
    return TRUE;
}

/* A kernel interface name: 1 to 15 bytes, no '/', ':' or white space, not
 * "." or ".." (dev_valid_name() in the kernel). */
static gboolean
vfsec_conf_netdev_ok(const char *name)
{
    gsize len = strlen(name);

    if (len == 0 || len > 15 || g_str_equal(name, ".") || g_str_equal(name, ".."))
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (name[i] == '/' || name[i] == ':' || g_ascii_isspace(name[i]))
            return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* What may appear where */

typedef enum {
    VFSEC_GROUP_DAEMON,
    VFSEC_GROUP_TIMEOUTS,
    VFSEC_GROUP_TAGS,
    VFSEC_GROUP_POLICY,
    VFSEC_GROUP_SCOPE,      /* [policy network:N] and [policy network:N portgroup:P] */
    VFSEC_GROUP_PF,
    VFSEC_GROUP_HOOK,
    VFSEC_GROUP_LAST
} VfsecGroupKind;

static const char *const *const vfsec_group_keys[VFSEC_GROUP_LAST] = {
    [VFSEC_GROUP_DAEMON] = (const char *const[]){
        "libvirt-uri", "control-socket", "control-group", "state-dir", "run-dir",
        "log-level", NULL },
    [VFSEC_GROUP_TIMEOUTS] = (const char *const[]){
        "pf-reclaim", "daemon-request", "hook", "reconnect-min", "reconnect-max", NULL },
    [VFSEC_GROUP_TAGS] = (const char *const[]){
        "config-vid", "metadata-vid", "tpid", "pcp", NULL },
    [VFSEC_GROUP_POLICY] = (const char *const[]){ "trust", "hairpin", NULL },
    [VFSEC_GROUP_SCOPE] = (const char *const[]){ "trust", "hairpin", NULL },
    [VFSEC_GROUP_PF] = (const char *const[]){
        "plugin", "socket", "port", "netdev", "hairpin", "fail-closed", "vf-trust",
        "vf-hairpin", NULL },
    [VFSEC_GROUP_HOOK] = (const char *const[]){ "fail-closed", NULL },
};

/* Classifies a group name. *name (new string) is a PF's label or a scope's
 * network, *portgroup (new string) a scope's portgroup, NULL for a
 * network-wide scope. Returns -1 for a group vfsecd does not know. */
static int
vfsec_group_classify(const char *group, char **name, char **portgroup)
{
    static const char *const fixed[] = {
        [VFSEC_GROUP_DAEMON] = "daemon", [VFSEC_GROUP_TIMEOUTS] = "timeouts",
        [VFSEC_GROUP_TAGS] = "tags", [VFSEC_GROUP_POLICY] = "policy",
        [VFSEC_GROUP_SCOPE] = NULL, [VFSEC_GROUP_PF] = NULL, [VFSEC_GROUP_HOOK] = "hook",
    };
    g_auto(GStrv) words = NULL;
    guint n;

    for (int i = 0; i < VFSEC_GROUP_LAST; i++) {
        if (fixed[i] && g_str_equal(group, fixed[i]))
            return i;
    }
    if (g_str_has_prefix(group, "pf ")) {
        *name = g_strdup(group + 3);
        return VFSEC_GROUP_PF;
    }
    /* Single spaces between words; names carry no white space. */
    words = g_strsplit(group, " ", -1);
    n = g_strv_length(words);
    if (n < 2 || n > 3 || !g_str_equal(words[0], "policy") ||
        !g_str_has_prefix(words[1], "network:") || !words[1][8])
        return -1;
    if (n == 3 && (!g_str_has_prefix(words[2], "portgroup:") || !words[2][10]))
        return -1;
    *name = g_strdup(words[1] + 8);
    *portgroup = n == 3 ? g_strdup(words[2] + 10) : NULL;
    return VFSEC_GROUP_SCOPE;
}

/* GKeyFile merges a repeated group and keeps the last of a repeated key;
 * both are refused here. Reads the text as GKeyFile does: lines, leading
 * white space skipped, '#' comments, "[group]", "key=value". Runs after
 * GKeyFile accepted the text, so every other line is a key. */
static gboolean
vfsec_conf_check_repeats(const char *data, gsize len, GError **error)
{
    g_autoptr(GHashTable) groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree char *text = g_strndup(data, len);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *group = NULL;

    for (guint i = 0; lines[i]; i++) {
        char *line = g_strchug(lines[i]);
        char *eq;

        if (!*line || *line == '#')
            continue;
        if (*line == '[') {
            char *end = strrchr(line, ']');

            g_free(group);
            group = g_strndup(line + 1, end ? (gsize)(end - line - 1) : strlen(line + 1));
            if (!g_hash_table_add(groups, g_strdup(group))) {
                g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                            "[%s] appears twice (line %u)", group, i + 1);
                return FALSE;
            }
            g_hash_table_remove_all(keys);
            continue;
        }
        eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        g_strchomp(line);
        if (!g_hash_table_add(keys, g_strdup(line))) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "[%s] %s is set twice (line %u)", group ? group : "", line, i + 1);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
vfsec_conf_check_keys(GKeyFile *kf, const char *group, VfsecGroupKind kind, GError **error)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

    for (guint i = 0; keys && keys[i]; i++) {
        if (!g_strv_contains(vfsec_group_keys[kind], keys[i])) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "[%s] unknown key '%s'", group, keys[i]);
            return FALSE;
        }
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Typed values: absent keys leave the default in *out. */

/* The raw value of @key without the trailing white space GKeyFile keeps, or
 * NULL when the group or key is absent. */
static char *
vfsec_conf_value(GKeyFile *kf, const char *group, const char *key)
{
    char *value = g_key_file_get_value(kf, group, key, NULL);

    return value ? g_strchomp(value) : NULL;
}

static gboolean
vfsec_conf_string(GKeyFile *kf, const char *group, const char *key, char **out,
                  GError **error)
{
    g_autoptr(GError) local = NULL;
    char *value;

    if (!g_key_file_has_key(kf, group, key, NULL))
        return TRUE;
    value = g_key_file_get_string(kf, group, key, &local);
    if (!value) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] %s: %s", group, key, local->message);
        return FALSE;
    }
    if (!*g_strchomp(value)) {
        g_free(value);
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "[%s] %s is empty", group, key);
        return FALSE;
    }
    g_free(*out);
    *out = value;
    return TRUE;
}

/* An absolute path; @socket also checks that it fits a sockaddr_un. */
static gboolean
vfsec_conf_path(GKeyFile *kf, const char *group, const char *key, gboolean socket,
                char **out, GError **error)
{
    const gsize sun_max = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;

    if (!vfsec_conf_string(kf, group, key, out, error))
        return FALSE;
    if (*out && !g_path_is_absolute(*out)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] %s='%s' is not an absolute path", group, key, *out);
        return FALSE;
    }
    if (*out && socket && strlen(*out) > sun_max) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] %s='%s' is longer than the %zu bytes of a Unix socket path",
                    group, key, *out, sun_max);
        return FALSE;
    }
    return TRUE;
}

static gboolean
vfsec_conf_uint(GKeyFile *kf, const char *group, const char *key, guint min, guint max,
                guint *out, GError **error)
{
    g_autofree char *value = vfsec_conf_value(kf, group, key);
    guint64 n;

    if (!value)
        return TRUE;
    if (!vfsec_parse_uint(value, max, &n) || n < min) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] %s='%s' is not a number from %u to %u", group, key, value, min, max);
        return FALSE;
    }
    *out = (guint)n;
    return TRUE;
}

static gboolean
vfsec_conf_bool(GKeyFile *kf, const char *group, const char *key, gboolean *out,
                GError **error)
{
    g_autofree char *value = vfsec_conf_value(kf, group, key);

    if (!value)
        return TRUE;
    if (g_str_equal(value, "true")) {
        *out = TRUE;
    } else if (g_str_equal(value, "false")) {
        *out = FALSE;
    } else {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] %s='%s' is not true or false", group, key, value);
        return FALSE;
    }
    return TRUE;
}

/* @trust_key / @hairpin_key into a partial policy. */
static gboolean
vfsec_conf_policy(GKeyFile *kf, const char *group, const char *trust_key,
                  const char *hairpin_key, VfsecPolicy *policy, GError **error)
{
    g_autofree char *trust = vfsec_conf_value(kf, group, trust_key);

    if (trust) {
        int t = vfsec_trust_from_string(trust);

        if (t < 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "[%s] %s='%s' is not untrusted or trusted", group, trust_key, trust);
            return FALSE;
        }
        policy->has_trust = TRUE;
        policy->trust = (VfsecTrust)t;
    }
    if (g_key_file_has_key(kf, group, hairpin_key, NULL)) {
        policy->has_hairpin = TRUE;
        return vfsec_conf_bool(kf, group, hairpin_key, &policy->hairpin, error);
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Groups */

static gboolean
vfsec_conf_parse_daemon(GKeyFile *kf, VfsecConf *conf, GError **error)
{
    const char *g = "daemon";
    g_autofree char *level = NULL;

    if (!vfsec_conf_string(kf, g, "libvirt-uri", &conf->libvirt_uri, error) ||
        !vfsec_conf_path(kf, g, "state-dir", FALSE, &conf->state_dir, error) ||
        !vfsec_conf_path(kf, g, "run-dir", FALSE, &conf->run_dir, error) ||
        !vfsec_conf_path(kf, g, "control-socket", TRUE, &conf->control_socket, error) ||
        !vfsec_conf_string(kf, g, "control-group", &conf->control_group, error) ||
        !vfsec_conf_string(kf, g, "log-level", &level, error))
        return FALSE;

    if (strpbrk(conf->libvirt_uri, " \t\r\n")) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] libvirt-uri='%s' contains white space", g, conf->libvirt_uri);
        return FALSE;
    }
    /* POSIX portable user/group names. */
    if (conf->control_group && !vfsec_conf_name_ok(conf->control_group, 32)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] control-group='%s' is not a group name", g, conf->control_group);
        return FALSE;
    }
    if (level) {
        int l = vfsec_log_level_from_string(level);

        if (l < 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "[%s] log-level='%s' is not error, warning, message, info or debug",
                        g, level);
            return FALSE;
        }
        conf->log_level = (VfsecLogLevel)l;
    }
    if (!conf->control_socket)
        conf->control_socket = g_build_filename(conf->run_dir, "vfsecd.sock", NULL);
    conf->local_macs_dir = g_build_filename(conf->run_dir, "local-macs", NULL);
    return TRUE;
}

static gboolean
vfsec_conf_ordered(const char *key_a, guint a, const char *key_b, guint b, GError **error)
{
    if (a >= b) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[timeouts] %s=%u must be less than %s=%u", key_a, a, key_b, b);
        return FALSE;
    }
    return TRUE;
}

static gboolean
vfsec_conf_parse_timeouts(GKeyFile *kf, VfsecConf *conf, GError **error)
{
    const char *g = "timeouts";
    const guint max = VFSEC_CONF_TIMEOUT_MAX;

    if (!vfsec_conf_uint(kf, g, "pf-reclaim", 1, max, &conf->pf_reclaim_ms, error) ||
        !vfsec_conf_uint(kf, g, "daemon-request", 1, max, &conf->daemon_request_ms, error) ||
        !vfsec_conf_uint(kf, g, "hook", 1, max, &conf->hook_ms, error) ||
        !vfsec_conf_uint(kf, g, "reconnect-min", 1, max, &conf->reconnect_min_ms, error) ||
        !vfsec_conf_uint(kf, g, "reconnect-max", 1, max, &conf->reconnect_max_ms, error))
        return FALSE;

    /* A reclaim must be able to time out inside the request that waits for
     * it, and the request inside the hook that waits for the request, so
     * each waiter reports the inner timeout instead of its own. */
    if (!vfsec_conf_ordered("pf-reclaim", conf->pf_reclaim_ms,
                            "daemon-request", conf->daemon_request_ms, error) ||
        !vfsec_conf_ordered("daemon-request", conf->daemon_request_ms,
                            "hook", conf->hook_ms, error))
        return FALSE;
    if (conf->reconnect_min_ms > conf->reconnect_max_ms) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[timeouts] reconnect-min=%u must not be more than reconnect-max=%u",
                    conf->reconnect_min_ms, conf->reconnect_max_ms);
        return FALSE;
    }
    return TRUE;
}

static gboolean
vfsec_conf_parse_tags(GKeyFile *kf, VfsecConf *conf, GError **error)
{
    const char *g = "tags";
    g_autofree char *tpid = vfsec_conf_value(kf, g, "tpid");
    guint config_vid = conf->config_vid;
    guint metadata_vid = conf->metadata_vid;
    guint pcp = conf->pcp;

    /* VID 0 means "priority tag only" and 4095 is reserved by 802.1Q; the
     * metadata VID's offload twin (metadata-vid + 1) must stay below 4095. */
    if (!vfsec_conf_uint(kf, g, "config-vid", 1, 4094, &config_vid, error) ||
        !vfsec_conf_uint(kf, g, "metadata-vid", 2, 4092, &metadata_vid, error) ||
        !vfsec_conf_uint(kf, g, "pcp", 0, 7, &pcp, error))
        return FALSE;
    if (metadata_vid % 2) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] metadata-vid=%u must be even (bit 0 is the offload bit)",
                    g, metadata_vid);
        return FALSE;
    }
    if (config_vid == metadata_vid || config_vid == metadata_vid + 1) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] config-vid=%u must differ from metadata-vid=%u and its offload VID %u",
                    g, config_vid, metadata_vid, metadata_vid + 1);
        return FALSE;
    }
    if (tpid && !vfsec_tpid_from_string(tpid, &conf->tpid)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] tpid='%s' is not 802.1Q or 802.1ad", g, tpid);
        return FALSE;
    }
    conf->config_vid = (guint16)config_vid;
    conf->metadata_vid = (guint16)metadata_vid;
    conf->pcp = (guint8)pcp;
    return TRUE;
}

/* The keys that belong to the other plugin must not be there. */
static gboolean
vfsec_conf_pf_foreign_keys(GKeyFile *kf, const char *group, const VfsecConfPf *pf,
                           GError **error)
{
    static const char *const contract_only[] = { "socket", "port", NULL };
    static const char *const linux_only[] = { "netdev", NULL };
    const char *const *foreign = pf->plugin == VFSEC_PLUGIN_CONTRACT ? linux_only
                                                                      : contract_only;

    for (guint i = 0; foreign[i]; i++) {
        if (g_key_file_has_key(kf, group, foreign[i], NULL)) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "[%s] %s does not apply to plugin=%s", group, foreign[i],
                        vfsec_plugin_kind_to_string(pf->plugin));
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
vfsec_conf_pf_endpoint(GKeyFile *kf, const char *group, VfsecConfPf *pf, GError **error)
{
    if (pf->plugin == VFSEC_PLUGIN_CONTRACT) {
        if (!vfsec_conf_path(kf, group, "socket", TRUE, &pf->socket, error) ||
            !vfsec_conf_uint(kf, group, "port", 0, G_MAXUINT16, &pf->port, error))
            return FALSE;
        if (!pf->socket) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "[%s] socket is missing (plugin=contract needs it)", group);
            return FALSE;
        }
        return TRUE;
    }
    if (!vfsec_conf_string(kf, group, "netdev", &pf->netdev, error))
        return FALSE;
    if (!pf->netdev) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] netdev is missing (plugin=linux needs it)", group);
        return FALSE;
    }
    if (!vfsec_conf_netdev_ok(pf->netdev)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] netdev='%s' is not a network interface name", group, pf->netdev);
        return FALSE;
    }
    return TRUE;
}

static VfsecConfPf *
vfsec_conf_parse_pf(GKeyFile *kf, const char *group, char *label, GError **error)
{
    g_autoptr(VfsecConfPf) pf = g_new0(VfsecConfPf, 1);
    g_autofree char *plugin = vfsec_conf_value(kf, group, "plugin");
    g_autoptr(GError) local = NULL;
    int kind;

    pf->label = label;
    pf->fail_closed = TRUE;
    if (!vfsec_conf_label_check(label, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "[%s] %s", group, local->message);
        return NULL;
    }
    kind = vfsec_plugin_kind_from_string(plugin);
    if (kind < 0) {
        if (plugin)
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "[%s] plugin='%s' is not contract or linux", group, plugin);
        else
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "[%s] plugin is missing (contract or linux)", group);
        return NULL;
    }
    pf->plugin = (VfsecPluginKind)kind;
    if (!vfsec_conf_pf_foreign_keys(kf, group, pf, error) ||
        !vfsec_conf_pf_endpoint(kf, group, pf, error) ||
        !vfsec_conf_bool(kf, group, "hairpin", &pf->hairpin, error) ||
        !vfsec_conf_bool(kf, group, "fail-closed", &pf->fail_closed, error) ||
        !vfsec_conf_policy(kf, group, "vf-trust", "vf-hairpin", &pf->policy, error))
        return NULL;
    if (pf->policy.has_hairpin && pf->policy.hairpin && !pf->hairpin) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "[%s] vf-hairpin=true needs hairpin=true (the port is not put in VEPA mode)",
                    group);
        return NULL;
    }
    return g_steal_pointer(&pf);
}

/* Two groups must never drive one port. */
static gboolean
vfsec_conf_pf_unique(const VfsecConf *conf, const VfsecConfPf *pf, GError **error)
{
    for (guint i = 0; i < conf->pfs->len; i++) {
        const VfsecConfPf *other = g_ptr_array_index(conf->pfs, i);

        if (pf->netdev && g_strcmp0(pf->netdev, other->netdev) == 0) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                        "[pf %s] netdev=%s is already managed by [pf %s]",
                        pf->label, pf->netdev, other->label);
            return FALSE;
        }
        if (pf->socket && g_strcmp0(pf->socket, other->socket) == 0 &&
            pf->port == other->port) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_CONFLICT,
                        "[pf %s] socket=%s port=%u is already managed by [pf %s]",
                        pf->label, pf->socket, pf->port, other->label);
            return FALSE;
        }
    }
    return TRUE;
}

static void
vfsec_conf_scope_free(VfsecConfScope *scope)
{
    if (!scope)
        return;
    g_free(scope->network);
    g_free(scope->portgroup);
    g_free(scope);
}

/* Checks one group's name and keys, and parses it if it is a [pf] or a policy
 * scope. The fixed groups are parsed after all groups are checked, present or
 * not, so that their defaults apply. */
static gboolean
vfsec_conf_parse_group(GKeyFile *kf, const char *group, VfsecConf *conf, GError **error)
{
    g_autofree char *name = NULL;
    g_autofree char *portgroup = NULL;
    int kind = vfsec_group_classify(group, &name, &portgroup);

    if (kind < 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID, "unknown group [%s]", group);
        return FALSE;
    }
    if (!vfsec_conf_check_keys(kf, group, (VfsecGroupKind)kind, error))
        return FALSE;
    if (kind == VFSEC_GROUP_PF) {
        g_autoptr(VfsecConfPf) pf = vfsec_conf_parse_pf(kf, group, g_steal_pointer(&name),
                                                        error);

        if (!pf || !vfsec_conf_pf_unique(conf, pf, error))
            return FALSE;
        g_ptr_array_add(conf->pfs, g_steal_pointer(&pf));
    } else if (kind == VFSEC_GROUP_SCOPE) {
        VfsecConfScope *scope = g_new0(VfsecConfScope, 1);

        scope->network = g_steal_pointer(&name);
        scope->portgroup = g_steal_pointer(&portgroup);
        g_ptr_array_add(conf->scopes, scope);
        return vfsec_conf_policy(kf, group, "trust", "hairpin", &scope->policy, error);
    }
    return TRUE;
}

static VfsecConf *
vfsec_conf_new_defaults(void)
{
    VfsecConf *conf = g_new0(VfsecConf, 1);

    conf->libvirt_uri = g_strdup(VFSEC_CONF_DEFAULT_LIBVIRT_URI);
    conf->state_dir = g_build_filename(VFSEC_LOCALSTATEDIR, "lib", "vfsec", NULL);
    conf->run_dir = g_build_filename(VFSEC_RUNSTATEDIR, "vfsec", NULL);
    conf->log_level = VFSEC_LOG_LEVEL_MESSAGE;
    conf->pf_reclaim_ms = VFSEC_CONF_DEFAULT_PF_RECLAIM_MS;
    conf->daemon_request_ms = VFSEC_CONF_DEFAULT_DAEMON_REQUEST_MS;
    conf->hook_ms = VFSEC_CONF_DEFAULT_HOOK_MS;
    conf->reconnect_min_ms = VFSEC_CONF_DEFAULT_RECONNECT_MIN_MS;
    conf->reconnect_max_ms = VFSEC_CONF_DEFAULT_RECONNECT_MAX_MS;
    conf->config_vid = VFSEC_CONF_DEFAULT_CONFIG_VID;
    conf->metadata_vid = VFSEC_CONF_DEFAULT_METADATA_VID;
    conf->tpid = VFSEC_TPID_8021Q;
    conf->pcp = 0;
    conf->scopes = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_conf_scope_free);
    conf->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)vfsec_conf_pf_free);
    conf->hook_fail_closed = TRUE;
    return conf;
}

/* ------------------------------------------------------------------ */
/* Public */

char *
vfsec_conf_default_path(void)
{
    return g_build_filename(VFSEC_SYSCONFDIR, "vfsec", "vfsecd.conf", NULL);
}

void
vfsec_conf_free(VfsecConf *conf)
{
    if (!conf)
        return;
    g_free(conf->libvirt_uri);
    g_free(conf->control_socket);
    g_free(conf->control_group);
    g_free(conf->state_dir);
    g_free(conf->run_dir);
    g_free(conf->local_macs_dir);
    g_clear_pointer(&conf->scopes, g_ptr_array_unref);
    g_clear_pointer(&conf->pfs, g_ptr_array_unref);
    g_free(conf);
}

VfsecConf *
vfsec_conf_load_data(const char *data, gsize len, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(VfsecConf) conf = vfsec_conf_new_defaults();
    g_autoptr(GError) local = NULL;
    g_auto(GStrv) groups = NULL;

    g_return_val_if_fail(data != NULL, NULL);

    if (len > VFSEC_CONF_MAX) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "the configuration is larger than the %d-byte limit", VFSEC_CONF_MAX);
        return NULL;
    }
    /* Keep "key[locale]" lines so that they are refused as unknown keys. */
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_KEEP_TRANSLATIONS, &local)) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "the configuration is not a key file: %s", local->message);
        return NULL;
    }
    if (!vfsec_conf_check_repeats(data, len, error))
        return NULL;

    groups = g_key_file_get_groups(kf, NULL);
    for (guint i = 0; groups[i]; i++) {
        if (!vfsec_conf_parse_group(kf, groups[i], conf, error))
            return NULL;
    }
    if (!vfsec_conf_parse_daemon(kf, conf, error) ||
        !vfsec_conf_parse_timeouts(kf, conf, error) ||
        !vfsec_conf_parse_tags(kf, conf, error) ||
        !vfsec_conf_policy(kf, "policy", "trust", "hairpin", &conf->policy, error) ||
        !vfsec_conf_bool(kf, "hook", "fail-closed", &conf->hook_fail_closed, error))
        return NULL;

    if (conf->pfs->len == 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "no [pf LABEL] group: vfsecd needs at least one PF to manage");
        return NULL;
    }
    return g_steal_pointer(&conf);
}

/* Reads @path into *@data; parses it, errors prefixed with the path. */
static VfsecConf *
vfsec_conf_read_parse(const char *path, char **data, gsize *len, GError **error)
{
    g_autoptr(GError) local = NULL;
    VfsecConf *conf;

    if (!vfsec_file_read_max(path, VFSEC_CONF_MAX, data, len, error))
        return NULL;
    conf = vfsec_conf_load_data(*data, *len, &local);
    if (!conf)
        g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: ", path);
    return conf;
}

VfsecConf *
vfsec_conf_load(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len;

    g_return_val_if_fail(path != NULL, NULL);
    return vfsec_conf_read_parse(path, &data, &len, error);
}

VfsecConf *
vfsec_conf_load_twice(const char *path, VfsecConf **copy, GError **error)
{
    g_autofree char *data = NULL;
    g_autoptr(VfsecConf) conf = NULL;
    gsize len;

    g_return_val_if_fail(path != NULL && copy != NULL, NULL);

    *copy = NULL;
    conf = vfsec_conf_read_parse(path, &data, &len, error);
    if (!conf)
        return NULL;
    /* The same bytes parse the same way: this cannot fail where the first
     * parse succeeded. */
    *copy = vfsec_conf_load_data(data, len, error);
    if (!*copy)
        return NULL;
    return g_steal_pointer(&conf);
}

const VfsecConfPf *
vfsec_conf_find_pf(const VfsecConf *conf, const char *label)
{
    for (guint i = 0; label && i < conf->pfs->len; i++) {
        const VfsecConfPf *pf = g_ptr_array_index(conf->pfs, i);

        if (g_str_equal(pf->label, label))
            return pf;
    }
    return NULL;
}

static const VfsecConfScope *
vfsec_conf_find_scope(const VfsecConf *conf, const char *network, const char *portgroup)
{
    for (guint i = 0; network && i < conf->scopes->len; i++) {
        const VfsecConfScope *scope = g_ptr_array_index(conf->scopes, i);

        if (g_str_equal(scope->network, network) &&
            g_strcmp0(scope->portgroup, portgroup) == 0)
            return scope;
    }
    return NULL;
}

VfsecPolicy
vfsec_conf_policy_for(const VfsecConf *conf, const char *pf_label, const char *network,
                      const char *portgroup, const VfsecPolicy *domain_policy)
{
    const VfsecPolicy builtin = {
        .has_trust = TRUE, .trust = VFSEC_POLICY_DEFAULT_TRUST,
        .has_hairpin = TRUE, .hairpin = VFSEC_POLICY_DEFAULT_HAIRPIN,
    };
    const VfsecConfScope *by_portgroup =
        portgroup ? vfsec_conf_find_scope(conf, network, portgroup) : NULL;
    const VfsecConfScope *by_network = vfsec_conf_find_scope(conf, network, NULL);
    const VfsecConfPf *pf = vfsec_conf_find_pf(conf, pf_label);
    VfsecPolicy policy = { 0 };

    if (domain_policy)
        policy = *domain_policy;
    if (by_portgroup)
        vfsec_policy_merge(&policy, &by_portgroup->policy);
    if (by_network)
        vfsec_policy_merge(&policy, &by_network->policy);
    if (pf)
        vfsec_policy_merge(&policy, &pf->policy);
    vfsec_policy_merge(&policy, &conf->policy);
    vfsec_policy_merge(&policy, &builtin);
    return policy;
}

gboolean
vfsec_conf_vid_reserved(const VfsecConf *conf, guint vid)
{
    return vid == conf->config_vid || vid == conf->metadata_vid ||
           vid == conf->metadata_vid + 1u;
}
