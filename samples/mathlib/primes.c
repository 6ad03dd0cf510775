#include <stdlib.h>
#include <string.h>

#include "mathlib.h"

/* The sieve of Eratosthenes. */
size_t ml_primes_below(unsigned long limit, unsigned long *out, size_t max) {
    if (limit < 3) {
        return 0;
    }
    unsigned char *composite = calloc(limit, 1);
    if (composite == NULL) {
        return 0;
    }
    size_t count = 0;
    for (unsigned long n = 2; n < limit; n++) {
        if (composite[n]) {
            continue;
        }
        if (count < max) {
            out[count] = n;
        }
        count++;
        for (unsigned long long m = (unsigned long long)n * n; m < limit; m += n) {
            composite[m] = 1;
        }
    }
    free(composite);
    return count;
}
