#include "table.h"

#include <algorithm>

void WordTable::add(const std::string& word) {
    ++counts_[word];
    ++total_;
}

std::vector<std::pair<std::size_t, std::string>> WordTable::ranked() const {
    std::vector<std::pair<std::size_t, std::string>> result;
    result.reserve(counts_.size());
    for (const auto& [word, count] : counts_) {
        result.emplace_back(count, word);
    }
    std::stable_sort(result.begin(), result.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    return result;
}
