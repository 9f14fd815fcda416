// The core of the word_count tool: counts the words of text files and ranks them, most
// frequent first and ties by word. A word is a maximal run of non-whitespace bytes.
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/hadoop/streaming.hpp>

#include <fmt/format.h>

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

/// A word and its count, as the tool prints it: `count<TAB>word`.
struct ranked_word {
  std::string_view word;
  std::uint64_t count;
};

/// The words of a dataset of text (lines, or blocks of them) with their counts.
template <class Text>
auto counts_of_words(const Text& text) {
  return text.flat_map(dataflow::split_words)
      .map([](std::string_view w) { return std::pair{w, std::uint64_t{1}}; })
      .reduce_by_key(std::plus<>{});
}

/// The words of `files` (paths or globs) with their counts. A word never crosses a line's end,
/// so the text is read as blocks of whole lines: no pass over each line to find its end first.
inline auto word_counts_of(dataflow::context& ctx, const std::vector<std::string>& files,
                           dataflow::read_options options = {}) {
  return counts_of_words(ctx.read_text_blocks(files, options));
}

/// Words with their counts, most frequent first: sorted under the context's memory budget, for a
/// sink to stream.
template <class Counts>
auto ranked(const Counts& counts) {
  return counts.sort(by_rank{}).map([](const auto& wc) { return ranked_word{wc.first, wc.second}; });
}

/// Every word of `files`, most frequent first.
inline auto ranked_words(dataflow::context& ctx, const std::vector<std::string>& files,
                         dataflow::read_options options = {}) {
  return ranked(word_counts_of(ctx, files, options));
}

/// The `word TAB count` records of a Hadoop Streaming mapper or combiner (standard input), summed.
inline auto counts_from_records(dataflow::context& ctx) {
  return dataflow::hadoop::read_records<std::string, std::uint64_t>(ctx).reduce_by_key(std::plus<>{});
}

/// Returns the `top` most frequent words of `files` (paths or globs); top == 0 returns all.
inline word_counts count_words(dataflow::context& ctx, const std::vector<std::string>& files,
                               std::size_t top, dataflow::read_options options = {}) {
  if (top > 0) return word_counts_of(ctx, files, options).top_k(top, by_rank{});
  return word_counts_of(ctx, files, options).sort(by_rank{}).collect();
}

}  // namespace examples

template <>
struct fmt::formatter<examples::ranked_word> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Context>
  auto format(const examples::ranked_word& w, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}\t{}", w.count, w.word);
  }
};
