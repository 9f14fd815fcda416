// The core of the pagerank tool: PageRank over a file of links ("from to" per line, page
// numbers), iterated a fixed number of rounds as Spark's example does: each page shares its
// rank among its links, and a page's new rank is 0.15 + 0.85 x what it received. A page that
// receives nothing drops out. The ranks are a dataset<T> handle reassigned each round; each
// round's cache goes once the next round has read it.
#pragma once

#include <dataflow/dataflow.hpp>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

using page_rank = std::pair<std::uint32_t, double>;

/// "from to" as two page numbers; a line that is not is an error naming it.
inline std::pair<std::uint32_t, std::uint32_t> parse_link(std::string_view line) {
  std::uint32_t from = 0, to = 0;
  const char* end = line.data() + line.size();
  auto a = std::from_chars(line.data(), end, from);
  const char* p = a.ptr;
  while (p < end && (*p == ' ' || *p == '\t')) ++p;
  auto b = std::from_chars(p, end, to);
  if (a.ec != std::errc() || p == a.ptr || b.ec != std::errc() || b.ptr != end) {
    throw std::invalid_argument("not a link 'from to': '" + std::string(line.substr(0, 64)) + "'");
  }
  return {from, to};
}

/// The ranks after `rounds` rounds, highest first (ties by page), at most `top` of them.
inline std::vector<page_rank> pagerank(dataflow::context& ctx, const std::vector<std::string>& files,
                                       int rounds, std::size_t top) {
  auto links = ctx.read_lines(files)
                   .filter([](std::string_view line) { return !line.empty() && line[0] != '#'; })
                   .map(parse_link)
                   .group_by_key()
                   .map([](const auto& page) {
                     return std::pair(page.first, std::vector<std::uint32_t>(page.second.begin(), page.second.end()));
                   })
                   .cache();
  dataflow::dataset<page_rank> ranks = links.map([](const auto& page) { return page_rank(page.first, 1.0); });
  for (int r = 0; r < rounds; ++r) {
    ranks = links.join(ranks)
                .flat_map<page_rank>([](const auto& row, auto&& emit) {
                  const auto& [out, rank] = row.second;
                  for (auto to : out) emit(page_rank(to, rank / static_cast<double>(out.size())));
                })
                .reduce_by_key(std::plus<>{})
                .map_values([](double received) { return 0.15 + 0.85 * received; })
                .cache();
  }
  return ranks.top_k(top, [](const page_rank& a, const page_rank& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
}

}  // namespace examples
