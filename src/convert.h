#ifndef OB_CONVERT_H
#define OB_CONVERT_H

/* `orderbridge convert [options] ORDER.json`: argv[0] is "convert". Returns the exit code. */
int ob_convert_main(int argc, char **argv);

#endif
