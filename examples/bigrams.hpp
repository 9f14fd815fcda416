// The core of the bigrams tool: the most frequent pairs of consecutive words within a line,
// counted by a plain struct key (its hash, equality and codec come with it).
#pragma once

#include <dataflow/dataflow.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

struct bigram {
  std::string first, second;
  bool operator==(const bigram&) const = default;
};

/// The `top` most frequent bigrams, most frequent first, ties by words.
inline std::vector<std::pair<bigram, std::uint64_t>> count_bigrams(
    dataflow::context& ctx, const std::vector<std::string>& files, std::size_t top,
    dataflow::read_options options = {}) {
  return ctx.read_lines(files, options)
      .flat_map<std::pair<bigram, std::uint64_t>>([](std::string_view line, auto&& emit) {
        std::string_view previous;
        for (std::string_view word : dataflow::split_words(line)) {
          if (!previous.empty()) emit(std::pair(bigram{std::string(previous), std::string(word)}, std::uint64_t{1}));
          previous = word;
        }
      })
      .reduce_by_key(std::plus<>{})
      .top_k(top, [](const auto& a, const auto& b) {
        if (a.second != b.second) return a.second > b.second;
        if (a.first.first != b.first.first) return a.first.first < b.first.first;
        return a.first.second < b.first.second;
      });
}

}  // namespace examples
