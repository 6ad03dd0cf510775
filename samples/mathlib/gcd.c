#include "mathlib.h"

unsigned long long ml_gcd(unsigned long long a, unsigned long long b) {
    while (b != 0) {
        unsigned long long r = a % b;
        a = b;
        b = r;
    }
    return a;
}

unsigned long long ml_lcm(unsigned long long a, unsigned long long b) {
    if (a == 0 || b == 0) {
        return 0;
    }
    return a / ml_gcd(a, b) * b;
}
