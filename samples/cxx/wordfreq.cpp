// wordfreq [TOP]: counts the words (runs of ASCII letters, lower-cased) on standard input and prints the TOP most
// frequent (default 5). C++ with libc++: iostream, string, map, vector, algorithm, unique_ptr, virtual calls and
// dynamic_cast (RTTI), and a global object whose constructor runs before main. Built without exceptions.
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "table.h"

namespace {

struct Banner {
    std::string text;
    Banner() : text("word frequencies") {}
};

Banner banner;  // constructed before main by the C++ runtime

}  // namespace

int main(int argc, char** argv) {
    std::size_t top = argc > 1 ? static_cast<std::size_t>(std::strtoul(argv[1], nullptr, 10)) : 5;
    std::unique_ptr<Counter> counter = std::make_unique<WordTable>();
    std::string word;
    char c;
    while (std::cin.get(c)) {
        if (std::isalpha(static_cast<unsigned char>(c))) {
            word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else if (!word.empty()) {
            counter->add(word);
            word.clear();
        }
    }
    if (!word.empty()) {
        counter->add(word);
    }
    auto* table = dynamic_cast<WordTable*>(counter.get());
    if (table == nullptr) {
        return 1;
    }
    std::cout << banner.text << ": " << table->total() << " words, " << table->distinct() << " distinct\n";
    std::size_t shown = 0;
    for (const auto& [count, w] : table->ranked()) {
        if (shown++ == top) {
            break;
        }
        std::cout << count << ' ' << w << '\n';
    }
    return 0;
}
