#ifndef OB_DEMO_H
#define OB_DEMO_H

/* `orderbridge demo [options]`: argv[0] is "demo". Returns the exit code. */
int ob_demo_main(int argc, char **argv);

#endif
