// A word-frequency table: the part of the C++ sample that lives in a .cc file.
#ifndef TABLE_H
#define TABLE_H

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

class Counter {
public:
    virtual ~Counter() = default;
    virtual void add(const std::string& word) = 0;
    virtual std::size_t total() const = 0;
};

class WordTable final : public Counter {
public:
    void add(const std::string& word) override;
    std::size_t total() const override { return total_; }
    std::size_t distinct() const { return counts_.size(); }
    // (count, word) pairs, the most frequent first, ties in alphabetical order.
    std::vector<std::pair<std::size_t, std::string>> ranked() const;

private:
    std::map<std::string, std::size_t> counts_;
    std::size_t total_ = 0;
};

#endif
