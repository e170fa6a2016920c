/*
 * replay.c — the main() of a fuzz target built without libFuzzer: runs
 * LLVMFuzzerTestOneInput() once on the empty input and once on every file
 * of the folders (or files) named on the command line, in name order, so
 * the corpus and every saved reproducer (tests/fuzz/regress/<target>/) are
 * a plain CTest program under whatever sanitizers the build has.
 *
 *   fuzz_<target> CORPUS_DIR [MORE_DIRS_OR_FILES...]
 *
 * The first argument must hold at least one input (a missing corpus is a
 * broken build, not a pass); the others may be missing or empty.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    size_t len = 0;
    char *data = fuzz_read_file(path, &len);

    if (!data) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    /* A copy of the exact size: a read past the input is caught by ASan. */
    uint8_t *input = malloc(len ? len : 1);
    if (!input) {
        free(data);
        return -1;
    }
    memcpy(input, data, len);
    free(data);
    LLVMFuzzerTestOneInput(input, len);
    free(input);
    return 0;
}

static int skip_entry(const struct dirent *e)
{
    return e->d_name[0] != '.'; /* no ".", "..", ".gitkeep" */
}

/* Replay `path` (a folder or a file). Returns the number of inputs run, or
 * -1 on an unreadable file. */
static long replay(const char *path)
{
    struct stat st;
    struct dirent **names = NULL;
    long n = 0;
    int count;

    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return run_file(path) == 0 ? 1 : -1;
    count = scandir(path, &names, skip_entry, alphasort);
    if (count < 0) {
        fprintf(stderr, "replay: cannot list %s\n", path);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        char file[4096];
        snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
        if (n >= 0 && stat(file, &st) == 0 && S_ISREG(st.st_mode))
            n = run_file(file) == 0 ? n + 1 : -1;
        free(names[i]);
    }
    free(names);
    return n;
}

int main(int argc, char **argv)
{
    long total = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [DIR_OR_FILE...]\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    for (int i = 1; i < argc; i++) {
        long n = replay(argv[i]);
        if (n < 0 || (i == 1 && n == 0)) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], n < 0 ? "unreadable" : "no inputs");
            return 1;
        }
        total += n;
    }
    fprintf(stderr, "replay: %ld inputs, no crash\n", total);
    return 0;
}
