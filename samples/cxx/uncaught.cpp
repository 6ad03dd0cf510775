// An exception nobody catches (WASI_CXX_EXCEPTIONS=True): the run ends in std::terminate, which prints
// "libc++abi: terminating due to uncaught exception of type std::runtime_error: no handler" on stderr, and the
// run fails. `scons run-uncaught` fails on purpose.
#include <cstdio>
#include <stdexcept>

static void deep(int n) {
    if (n == 0) throw std::runtime_error("no handler");
    deep(n - 1);
}

int main() {
    std::printf("about to throw\n");
    std::fflush(stdout);
    deep(3);
    std::printf("not reached\n");
    return 0;
}
