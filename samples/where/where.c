/* Prints the file names the compiler recorded; `where assert` fails an assert, whose message names this file.
 * With -ffile-prefix-map they are relative to the top directory, whatever the checkout's absolute path. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "where.h"

int main(int argc, char **argv) {
    printf("source: %s\n", __FILE__);
    printf("header: %s\n", where_header());
    if (argc > 1 && strcmp(argv[1], "assert") == 0) {
        assert(argc == 1);
    }
    return 0;
}
