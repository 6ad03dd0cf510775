/* Something only WASI preview 2 gives: wasi:random/random and wasi:clocks/monotonic-clock, called directly through
 * the bindings wasi-libc ships for wasm32-wasip2 (<wasi/wasip2.h>). A preview-1 module has no such imports (and
 * this file does not compile for wasm32-wasip1: the header is not there). Its output is the same on every run. */
#include <stdio.h>
#include <wasi/wasip2.h>

int main(void) {
    wasip2_list_u8_t bytes;
    random_get_random_bytes(16, &bytes);
    int nonzero = 0;
    for (size_t i = 0; i < bytes.len; i++) {
        nonzero |= bytes.ptr[i] != 0;
    }
    printf("wasi:random gave %zu bytes, %s\n", bytes.len, nonzero ? "not all zero" : "ALL ZERO");
    wasip2_list_u8_free(&bytes);

    uint64_t first = random_get_random_u64(), second = random_get_random_u64();
    printf("two random u64 draws %s\n", first != second ? "differ" : "are EQUAL");

    monotonic_clock_instant_t before = monotonic_clock_now();
    monotonic_clock_instant_t after = monotonic_clock_now();
    printf("the monotonic clock %s\n", after >= before ? "does not go back" : "WENT BACK");
    return nonzero && first != second && after >= before ? 0 : 1;
}
