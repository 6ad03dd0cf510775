/* A program that links only with compiler-rt's builtins: on wasm32, 128-bit integer division and long double
 * (IEEE binary128) arithmetic are library calls (__divti3, __modti3, __udivti3, __multf3, __addtf3, __divtf3, ...).
 * Printing long double with %Lf also needs -lc-printscan-long-double.
 *
 * Operands are volatile so the compiler cannot fold the arithmetic away. Every value is exact in both binary128
 * and the x87 80-bit format, so a native build prints the same text. */
#include <stdio.h>

static void print_i128(const char *label, __int128 value) {
    char digits[48];
    char *p = digits + sizeof digits;
    unsigned __int128 magnitude = value < 0 ? -(unsigned __int128)value : (unsigned __int128)value;
    *--p = '\0';
    do {
        *--p = (char)('0' + (int)(magnitude % 10));
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0) {
        *--p = '-';
    }
    printf("%s = %s\n", label, p);
}

int main(void) {
    volatile __int128 big = ((__int128)0x0123456789abcdefLL << 64) | (__int128)0x0fedcba987654321ULL;
    volatile __int128 divisor = 1000000007;
    volatile __int128 negative = -big;
    print_i128("big", big);
    print_i128("big / 1000000007", big / divisor);
    print_i128("big % 1000000007", big % divisor);
    print_i128("-big / 1000000007", negative / divisor);
    print_i128("-big % 1000000007", negative % divisor);

    volatile long double x = 12345.6875L;
    volatile long double y = 0.0625L;
    volatile long double two_to_60 = 1152921504606846976.0L;
    printf("x * y = %Lf\n", x * y);
    printf("x + y = %Lf\n", x + y);
    printf("x / y = %Lf\n", x / y);
    printf("2^60 + 1 = %Lf\n", two_to_60 + 1.0L);
    return 0;
}
