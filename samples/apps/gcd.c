/* gcd N M ...: the greatest common divisor and least common multiple of its arguments. */
#include <stdio.h>

#include "args.h"
#include "mathlib.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: gcd N [M ...]\n");
        return 2;
    }
    unsigned long long gcd = 0, lcm = 1;
    for (int i = 1; i < argc; i++) {
        unsigned long long n;
        if (parse_number(argv[i], &n) != 0) {
            fprintf(stderr, "gcd: not a number: %s\n", argv[i]);
            return 2;
        }
        gcd = ml_gcd(gcd, n);
        lcm = ml_lcm(lcm, n);
    }
    printf("gcd = %llu\nlcm = %llu\n", gcd, lcm);
    return 0;
}
