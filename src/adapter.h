/*
 * adapter.h (private) — loading adapter plugins and binding them to warehouses.
 *
 * Every adapter, built-in or third-party, is a shared object found by name
 * (ob-adapter-<name>.so on the search path) or by path, opened with
 * dlopen(RTLD_NOW | RTLD_LOCAL). The loader refuses a plugin built for
 * another ABI, one whose struct is shorter than ABI 1's, or one missing a
 * required function, and copies only the members it knows.
 */
#ifndef OB_ADAPTER_PRIVATE_H
#define OB_ADAPTER_PRIVATE_H

#include <stddef.h>

#include <orderbridge/adapter.h>

#include "config.h"

struct ob_plugin {
    void *dl;
    struct ob_adapter vt; /* what the plugin exports, zero-filled past its size */
    char *path;
};

/* An adapter bound to one warehouse. */
struct ob_adapter_instance {
    struct ob_plugin plugin;
    char config_dir[4096];
    struct ob_adapter_env env;
    const struct ob_warehouse_conf *wh;
    void *state;
};

/* Open `name_or_path`. Returns 0, or -1 with errstr naming the file and the
 * reason. Close with ob_plugin_close(). */
int ob_plugin_open(const char *name_or_path, char *const *search_path, size_t n_search_path,
                   struct ob_plugin *out, char *errstr, size_t errstr_size);
void ob_plugin_close(struct ob_plugin *plugin);

/* Load the adapter of warehouse `wh` and init it with its settings. */
int ob_adapter_open(const struct ob_config *cfg, const struct ob_warehouse_conf *wh,
                    struct ob_adapter_instance **out, char *errstr, size_t errstr_size);
void ob_adapter_close(struct ob_adapter_instance *inst);

#endif
