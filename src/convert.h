#ifndef OB_CONVERT_H
#define OB_CONVERT_H

#include <stddef.h>

/* `orderbridge convert [options] ORDER.json`: argv[0] is "convert". Returns the exit code. */
int ob_convert_main(int argc, char **argv);

struct ob_adapter_instance;

/* Encode the contract's example order for the warehouse `inst` serves and
 * check the body is well-formed for its Content-Type (JSON, XML). Returns
 * 0 with a one-line summary, or -1 with errstr naming the warehouse. */
int ob_convert_check(const struct ob_adapter_instance *inst, char *summary, size_t summary_size,
                     char *errstr, size_t errstr_size);

#endif
