// C++ exceptions under WASI (WASI_CXX_EXCEPTIONS=True): `scons run-exceptions`. Every line it prints is the same as
// the same source built natively with g++ (tests/test_e2e_cxx_exceptions.py compares them), so it prints no what()
// text of the standard library's own exceptions: those words differ between libc++ and libstdc++.
#include <csetjmp>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "thrower.h"

// Destructors print, so the output shows the stack unwinding frame by frame.
struct Guard {
    const char *name;
    explicit Guard(const char *n) : name(n) { std::printf("  enter %s\n", name); }
    ~Guard() { std::printf("  leave %s\n", name); }
};

struct AppError : std::runtime_error {
    explicit AppError(const std::string &what) : std::runtime_error(what) {}
};
struct ConfigError : AppError {
    int line;
    ConfigError(const std::string &what, int l) : AppError(what), line(l) {}
};

static void read_setting(int line) {
    Guard g("read_setting");
    auto owned = std::make_unique<Guard>("heap guard");  // freed by the unwinding too
    throw ConfigError("bad setting", line);
}

static void load_config() {
    Guard g("load_config");
    read_setting(7);
    std::printf("  not reached\n");
}

static void base_class_two_frames_up() {
    std::printf("1. thrown two frames down, caught by its base class:\n");
    try {
        load_config();
    } catch (const AppError &e) {
        const auto *config = dynamic_cast<const ConfigError *>(&e);
        std::printf("  caught AppError: %s (line %d)\n", e.what(), config ? config->line : -1);
    }
}

static void vector_at() {
    std::printf("2. vector::at out of range:\n");
    std::vector<int> v{1, 2, 3};
    try {
        std::printf("  v.at(1) = %d\n", v.at(1));
        std::printf("  v.at(3) = %d\n", v.at(3));
    } catch (const std::out_of_range &) {
        std::printf("  caught std::out_of_range\n");
    }
    std::map<std::string, int> m{{"a", 1}};
    try {
        std::printf("  m.at(\"b\") = %d\n", m.at("b"));
    } catch (const std::out_of_range &) {
        std::printf("  caught std::out_of_range from map::at\n");
    }
}

static void stoi_invalid() {
    std::printf("3. std::stoi of bad input:\n");
    for (const char *text : {"42", "x", "99999999999"}) {
        try {
            std::printf("  stoi(\"%s\") = %d\n", text, std::stoi(text));
        } catch (const std::invalid_argument &) {
            std::printf("  stoi(\"%s\"): caught std::invalid_argument\n", text);
        } catch (const std::out_of_range &) {
            std::printf("  stoi(\"%s\"): caught std::out_of_range\n", text);
        }
    }
}

static void rethrow() {
    std::printf("4. rethrow with throw;:\n");
    try {
        try {
            throw 42;
        } catch (int value) {
            std::printf("  inner handler saw int %d, rethrowing\n", value);
            throw;
        }
    } catch (int value) {
        std::printf("  outer handler caught int %d\n", value);
    }
}

static std::exception_ptr capture() {
    try {
        throw AppError("kept for later");
    } catch (...) {
        return std::current_exception();
    }
}

static void exception_ptr_across_a_function() {
    std::printf("5. std::exception_ptr across a function:\n");
    std::exception_ptr kept = capture();
    std::printf("  captured: %s\n", kept ? "yes" : "no");
    try {
        std::rethrow_exception(kept);
    } catch (const AppError &e) {
        std::printf("  rethrown and caught: %s\n", e.what());
    }
}

static void from_a_static_library() {
    std::printf("6. thrown in a static library, caught here:\n");
    for (const char *text : {"12", "", "1x", "5000"}) {
        try {
            std::printf("  parse_quantity(\"%s\") = %d\n", text, parse_quantity(text));
        } catch (const ParseError &e) {
            std::printf("  caught ParseError: %s\n", e.what());
        }
    }
}

static std::jmp_buf jump_target;

static void jump_back(int value) {
    std::longjmp(jump_target, value);
}

static void setjmp_beside_exceptions() {
    std::printf("7. setjmp/longjmp in the same program:\n");
    volatile int rounds = 0;
    int value = setjmp(jump_target);
    std::printf("  setjmp returned %d\n", value);
    if (++rounds < 3) jump_back(rounds * 10);
    try {
        throw std::runtime_error("after the jumps");
    } catch (const std::exception &) {
        std::printf("  a throw still works after %d jumps\n", rounds - 1);
    }
}

int main() {
    base_class_two_frames_up();
    vector_at();
    stoi_invalid();
    rethrow();
    exception_ptr_across_a_function();
    from_a_static_library();
    setjmp_beside_exceptions();
    std::printf("done\n");
    return 0;
}
