#ifndef OB_SIM_CLI_H
#define OB_SIM_CLI_H

/* `orderbridge sim --profile NAME [options]`: argv[0] is "sim". Returns the exit code. */
int ob_sim_cli_main(int argc, char **argv);

#endif
