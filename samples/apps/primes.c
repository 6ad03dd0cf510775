/* primes LIMIT: the primes below LIMIT, and how many there are. */
#include <stdio.h>

#include "args.h"
#include "mathlib.h"

#define SHOWN 20

int main(int argc, char **argv) {
    unsigned long long limit;
    if (argc != 2 || parse_number(argv[1], &limit) != 0 || limit > 100000000) {
        fprintf(stderr, "usage: primes LIMIT (at most 100000000)\n");
        return 2;
    }
    unsigned long first[SHOWN];
    size_t count = ml_primes_below((unsigned long)limit, first, SHOWN);
    printf("primes below %llu:", limit);
    for (size_t i = 0; i < count && i < SHOWN; i++) {
        printf(" %lu", first[i]);
    }
    printf("%s\ncount = %zu\n", count > SHOWN ? " ..." : "", count);
    return 0;
}
