// A static library that reports errors by throwing (built into build/lib/libthrower.a with WASI_CXX_EXCEPTIONS).
#pragma once
#include <stdexcept>
#include <string>

struct ParseError : std::runtime_error {
    explicit ParseError(const std::string &what) : std::runtime_error(what) {}
};

// The number in `text`; throws ParseError when it is not a whole number from 1 to 1000.
int parse_quantity(const std::string &text);
