#include "thrower.h"

#include <cctype>

int parse_quantity(const std::string &text) {
    if (text.empty()) throw ParseError("empty quantity");
    int value = 0;
    for (char c : text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) throw ParseError("not a number: '" + text + "'");
        value = value * 10 + (c - '0');
        if (value > 1000) throw ParseError("too large: " + text);
    }
    if (value == 0) throw ParseError("zero quantity");
    return value;
}
