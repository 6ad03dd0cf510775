/* A small static library (build/lib/libmathlib.a) that two programs link: see apps/gcd.c and apps/primes.c. */
#ifndef MATHLIB_H
#define MATHLIB_H

#include <stddef.h>

unsigned long long ml_gcd(unsigned long long a, unsigned long long b);
/* The least common multiple; 0 if either argument is 0. */
unsigned long long ml_lcm(unsigned long long a, unsigned long long b);
/* Stores the primes below limit in out (at most max of them) and returns how many there are in all. */
size_t ml_primes_below(unsigned long limit, unsigned long *out, size_t max);

#endif
