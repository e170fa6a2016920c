#ifndef OB_DEMO_H
#define OB_DEMO_H

#include <stddef.h>

/* `orderbridge demo [options]`: argv[0] is "demo". Returns the exit code. */
int ob_demo_main(int argc, char **argv);

/* A fresh random credential for the adapter credential `name` (sign_key: Base64 of 16
 * bytes; webhook_secret: "whsec_" + Base64; else 32 hex digits) into out. 0, or -1. */
int ob_demo_make_secret(const char *name, char *out, size_t size);

/* The folder of the shipped mappings (installed beside the binary, or the source
 * tree's), written into buf, which is returned. */
const char *ob_demo_mappings_dir(char *buf, size_t size);

#endif
