// The core of the word_count tool: counts the words of text files and ranks them, most
// frequent first and ties by word. A word is a maximal run of non-whitespace bytes.
#pragma once

#include <dataflow/dataflow.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examples {

using word_counts = std::vector<std::pair<std::string, std::uint64_t>>;

/// The ranking order: higher count first, then bytewise by word.
struct by_rank {
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    if (a.second != b.second) return a.second > b.second;
    return std::string_view(a.first) < std::string_view(b.first);
  }
};

/// Returns the `top` most frequent words of `files` (paths or globs); top == 0 returns all.
inline word_counts count_words(dataflow::context& ctx, const std::vector<std::string>& files,
                               std::size_t top, dataflow::read_options options = {}) {
  auto counts = ctx.read_lines(files, options)
                    .flat_map(dataflow::split_words)
                    .map([](std::string_view w) { return std::pair{w, std::uint64_t{1}}; })
                    .reduce_by_key(std::plus<>{});
  if (top > 0) return counts.top_k(top, by_rank{});
  word_counts all = counts.collect();
  std::sort(all.begin(), all.end(), by_rank{});
  return all;
}

}  // namespace examples
