/* The classic first program: a greeting, then the arguments it got. */
#include <stdio.h>

int main(int argc, char **argv) {
    printf("Hello, WebAssembly! I got %d argument%s.\n", argc - 1, argc == 2 ? "" : "s");
    for (int i = 0; i < argc; i++) {
        printf("argv[%d] = %s\n", i, argv[i]);
    }
    return 0;
}
