/*
 * dashboard.h — the files of the dashboard (src/dashboard/), embedded in the
 * binary at build time: cmake/embed_dashboard.cmake writes them as byte
 * arrays into the generated dashboard_files.c. The HTTP server serves them
 * under /dashboard/.
 */
#ifndef OB_DASHBOARD_H
#define OB_DASHBOARD_H

#include <stddef.h>

struct ob_dashboard_file {
    const char *name;         /* "app.js": the file's name in src/dashboard/ */
    const char *content_type; /* from its extension */
    const unsigned char *data;
    size_t len;
};

extern const struct ob_dashboard_file ob_dashboard_files[];
extern const size_t ob_dashboard_n_files;

#endif
