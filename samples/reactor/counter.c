/* A reactor: a library module that the host instantiates, initialises once through _initialize (which runs the
 * constructors below) and then calls. The functions are exported by the build (WASI_EXPORTS), not by attributes. */
#include <stdlib.h>

static long long total;
static int *history;
static int count, capacity;

/* Allocates at run time: a constructor the compiler could evaluate would be folded into static data instead. */
__attribute__((constructor)) static void setup(void) {
    capacity = 4;
    history = malloc(sizeof *history * (size_t)capacity);
}

/* Adds amount to the running total and returns the new total; traps if _initialize was not called. */
long long counter_add(int amount) {
    if (history == NULL) {
        __builtin_trap();
    }
    if (count == capacity) {
        int *grown = realloc(history, sizeof *history * (size_t)capacity * 2);
        if (grown == NULL) {
            abort();
        }
        history = grown;
        capacity *= 2;
    }
    history[count++] = amount;
    total += amount;
    return total;
}

/* The number of calls to counter_add so far. */
int counter_calls(void) {
    return count;
}

/* The n-th Fibonacci number (fib(0) = 0), computed with 64-bit wrap-around. */
unsigned long long fib(unsigned n) {
    unsigned long long a = 0, b = 1;
    while (n-- > 0) {
        unsigned long long next = a + b;
        a = b;
        b = next;
    }
    return a;
}
