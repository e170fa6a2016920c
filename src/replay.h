#ifndef OB_REPLAY_H
#define OB_REPLAY_H

/* `orderbridge replay -c FILE --dlq ...`: argv[0] is "replay". Returns the exit code. */
int ob_replay_main(int argc, char **argv);

#endif
