#include "adapter.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "redact.h"

/* The smallest struct a plugin of ABI 1 can export: up to destroy(). */
#define ABI1_MIN_SIZE (offsetof(struct ob_adapter, destroy) + sizeof(void (*)(void *)))

#define DEFAULT_DIRS_MAX 12

#ifndef OB_ADAPTER_INSTALL_DIR
#define OB_ADAPTER_INSTALL_DIR "/usr/local/lib/orderbridge/adapters"
#endif

static int try_open(const char *path, struct ob_plugin *out, char *errstr, size_t errstr_size)
{
    ob_adapter_entry_fn entry;
    const struct ob_adapter *ad;
    void *dl;

    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(errstr, errstr_size, "%s", dlerror());
        return -1;
    }
    *(void **)(&entry) = dlsym(dl, OB_ADAPTER_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(errstr, errstr_size, "%s: no symbol %s: not an orderbridge adapter", path,
                 OB_ADAPTER_ENTRY_SYMBOL);
        goto fail;
    }
    ad = entry();
    if (!ad) {
        snprintf(errstr, errstr_size, "%s: %s() returned NULL", path, OB_ADAPTER_ENTRY_SYMBOL);
        goto fail;
    }
    if (ad->abi != OB_ADAPTER_ABI) {
        snprintf(errstr, errstr_size,
                 "%s: built for adapter ABI %u, this orderbridge speaks ABI %u: rebuild the "
                 "adapter against this orderbridge's adapter.h",
                 path, ad->abi, OB_ADAPTER_ABI);
        goto fail;
    }
    if (ad->size < ABI1_MIN_SIZE) {
        snprintf(errstr, errstr_size, "%s: struct ob_adapter is %u bytes, ABI %u needs at least %zu",
                 path, ad->size, OB_ADAPTER_ABI, ABI1_MIN_SIZE);
        goto fail;
    }
    memset(&out->vt, 0, sizeof(out->vt));
    memcpy(&out->vt, ad, ad->size < sizeof(out->vt) ? ad->size : sizeof(out->vt));
    if (!out->vt.name || !out->vt.init || !out->vt.encode || !out->vt.decode_response ||
        !out->vt.destroy) {
        snprintf(errstr, errstr_size, "%s: adapter lacks a name or a required function", path);
        goto fail;
    }
    if (!out->vt.decode_callback != !out->vt.answer_callback ||
        !out->vt.poll_encode != !out->vt.poll_decode) {
        snprintf(errstr, errstr_size,
                 "%s: adapter has half a pair: decode_callback and answer_callback, "
                 "poll_encode and poll_decode go together",
                 path);
        goto fail;
    }
    out->dl = dl;
    out->path = strdup(path);
    if (!out->path) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return 0;
fail:
    dlclose(dl);
    return -1;
}

/* Folders searched for ob-adapter-<name>.so, after config's adapter_path:
 * $OB_ADAPTER_PATH (':'-separated), the build tree next to the binary, the
 * install tree. */
static size_t default_dirs(char dirs[][PATH_MAX], size_t max)
{
    char exe[PATH_MAX - 64]; /* room for the suffixes below */
    const char *env = getenv("OB_ADAPTER_PATH");
    ssize_t n;
    size_t count = 0;

    while (env && *env && count + 3 < max) {
        size_t len = strcspn(env, ":");
        if (len > 0 && len < PATH_MAX)
            snprintf(dirs[count++], PATH_MAX, "%.*s", (int)len, env);
        env += len + (env[len] == ':');
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            if (count < max)
                snprintf(dirs[count++], PATH_MAX, "%s/adapters", exe);
            if (count < max)
                snprintf(dirs[count++], PATH_MAX, "%s/../lib/orderbridge/adapters", exe);
        }
    }
    if (count < max)
        snprintf(dirs[count++], PATH_MAX, "%s", OB_ADAPTER_INSTALL_DIR);
    return count;
}

int ob_plugin_open(const char *name_or_path, char *const *search_path, size_t n_search_path,
                   struct ob_plugin *out, char *errstr, size_t errstr_size)
{
    char dirs[DEFAULT_DIRS_MAX][PATH_MAX];
    char path[PATH_MAX + 64];
    size_t n_dirs;

    memset(out, 0, sizeof(*out));
    if (strchr(name_or_path, '/'))
        return try_open(name_or_path, out, errstr, errstr_size);

    n_dirs = default_dirs(dirs, DEFAULT_DIRS_MAX);
    for (size_t i = 0; i < n_search_path + n_dirs; i++) {
        const char *dir = i < n_search_path ? search_path[i] : dirs[i - n_search_path];
        snprintf(path, sizeof(path), "%s/ob-adapter-%s.so", dir, name_or_path);
        if (access(path, R_OK) == 0)
            return try_open(path, out, errstr, errstr_size);
    }
    {
        size_t used = (size_t)snprintf(errstr, errstr_size,
                                       "adapter \"%s\": ob-adapter-%s.so not found in",
                                       name_or_path, name_or_path);
        for (size_t i = 0; i < n_search_path + n_dirs && used < errstr_size; i++)
            used += (size_t)snprintf(errstr + used, errstr_size - used, "%s %s",
                                     i ? "," : "",
                                     i < n_search_path ? search_path[i] : dirs[i - n_search_path]);
    }
    return -1;
}

void ob_plugin_close(struct ob_plugin *plugin)
{
    if (plugin->dl)
        dlclose(plugin->dl);
    free(plugin->path);
    memset(plugin, 0, sizeof(*plugin));
}

static const char *env_credential(const struct ob_adapter_env *env, const char *name)
{
    const struct ob_adapter_instance *inst = env->host;

    for (size_t i = 0; i < inst->wh->n_credentials; i++) {
        if (strcmp(inst->wh->credentials[i].name, name) == 0)
            return inst->wh->credentials[i].value;
    }
    return NULL;
}

static void env_log(const struct ob_adapter_env *env, enum ob_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!ob_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ob_log_write(level, NULL, "adapter %s: %s", env->warehouse, msg);
}

int ob_adapter_open(const struct ob_config *cfg, const struct ob_warehouse_conf *wh,
                    struct ob_adapter_instance **out, char *errstr, size_t errstr_size)
{
    struct ob_adapter_instance *inst;
    char msg[512] = "";

    *out = NULL;
    inst = calloc(1, sizeof(*inst));
    if (!inst) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (ob_plugin_open(wh->adapter, cfg->adapter_path, cfg->n_adapter_path, &inst->plugin, msg,
                       sizeof(msg)) != 0) {
        snprintf(errstr, errstr_size, "$.warehouses.%s.adapter: %s", wh->code, msg);
        free(inst);
        return -1;
    }
    inst->wh = wh;
    inst->env.abi = OB_ADAPTER_ABI;
    inst->env.size = sizeof(inst->env);
    inst->env.warehouse = wh->code;
    inst->env.endpoint = wh->endpoint;
    inst->env.credential = env_credential;
    inst->env.log = env_log;
    inst->env.host = inst;
    {
        const char *slash = cfg->origin ? strrchr(cfg->origin, '/') : NULL;
        snprintf(inst->config_dir, sizeof(inst->config_dir), "%.*s",
                 slash ? (int)(slash - cfg->origin) : 1, slash ? cfg->origin : ".");
        if (!inst->config_dir[0]) /* "/config.json" */
            snprintf(inst->config_dir, sizeof(inst->config_dir), "/");
    }
    inst->env.config_dir = inst->config_dir;
    if (inst->plugin.vt.init(&inst->env, wh->settings, &inst->state, msg, sizeof(msg)) != 0) {
        ob_redact(msg); /* a plugin's message may quote a credential */
        snprintf(errstr, errstr_size, "$.warehouses.%s: adapter %s: %s", wh->code,
                 inst->plugin.vt.name, msg[0] ? msg : "init failed");
        ob_plugin_close(&inst->plugin);
        free(inst);
        return -1;
    }
    *out = inst;
    return 0;
}

void ob_adapter_close(struct ob_adapter_instance *inst)
{
    if (!inst)
        return;
    inst->plugin.vt.destroy(inst->state);
    ob_plugin_close(&inst->plugin);
    free(inst);
}
