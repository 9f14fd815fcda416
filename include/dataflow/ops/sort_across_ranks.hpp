// sort on a job of several ranks (graph/cluster.hpp): each rank holds its items as they come
// (not sorted: only what a rank receives needs sorting), samples them, and the ranks agree on
// splitters from every rank's samples; rank r then receives the r-th range of the whole order
// (ops/exchange.hpp) and sorts what it received. Reading the ranks' outputs in rank order reads
// the whole dataset in order.
//
// Samples are weighted: each partition of a rank's held items gives up to `per_partition`
// items picked at random, each standing for its partition's size over their number, and the
// splitters are the samples where the cumulative weight crosses each rank's share. With heavy
// duplicates one rank may get more than its share: an item equal to a splitter goes to the
// rank above it, all of its copies together.
#pragma once

#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/safe_sort.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/exchange.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// Routes an item of a sorted rank to the rank whose range of the order holds it.
template <class T, class Compare>
class range_router {
  using stored = stored_t<T>;
  using sample = std::pair<stored, double>;  // an item and the items it stands for

 public:
  static constexpr std::size_t per_partition = 64;

  explicit range_router(Compare comp) : comp_(std::move(comp)) {}

  std::size_t operator()(const T& x) const {
    // The first splitter above x: its index is x's rank.
    std::size_t lo = 0, hi = splitters_.size();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (comp_(x, view_of<T>(splitters_[mid]))) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
  }

  /// Samples this rank's items, partition by partition.
  void learn(run_state& run, node<T>& sorted) {
    sorted.ensure_executed(run);
    const std::size_t parts = sorted.partition_count();
    std::vector<std::vector<sample>> by_part(parts);
    const std::size_t rank = rank_of(run.ctx());
    for_each_partition(run, parts, [&](std::size_t p) {
      struct sampler final : batch_consumer<T> {
        std::vector<stored> kept;
        std::uint64_t seen = 0;
        std::mt19937_64 rng;
        void consume(std::span<const T> items) override {
          for (const T& x : items) {
            // Reservoir sampling: each item seen so far is kept with the same chance.
            if (kept.size() < per_partition) {
              kept.push_back(to_stored(x));
            } else if (const std::uint64_t j = rng() % (seen + 1); j < per_partition) {
              kept[j] = to_stored(x);
            }
            ++seen;
          }
        }
      } s;
      s.rng.seed(rank * 1'000'003 + p);
      sorted.push_partition(p, s);
      const double weight = s.kept.empty() ? 0 : static_cast<double>(s.seen) / static_cast<double>(s.kept.size());
      for (auto& x : s.kept) by_part[p].emplace_back(std::move(x), weight);
    });
    samples_.clear();
    for (auto& part : by_part) std::move(part.begin(), part.end(), std::back_inserter(samples_));
  }

  /// Gathers every rank's samples and picks the splitters (the same on every rank).
  void agree(context_state& ctx) {
    std::vector<sample> all;
    for (auto& rank : all_gather<std::vector<sample>>(ctx, std::move(samples_))) {
      std::move(rank.begin(), rank.end(), std::back_inserter(all));
    }
    samples_ = {};
    safe_sort(all.data(), all.data() + all.size(),
              [&](const sample& a, const sample& b) { return comp_(view_of<T>(a.first), view_of<T>(b.first)); });
    double total = 0;
    for (const auto& s : all) total += s.second;
    const std::size_t ranks = rank_count(ctx);
    splitters_.clear();
    double cumulative = 0;
    std::size_t next = 1;  // the splitter between rank next - 1 and rank next
    for (auto& s : all) {
      cumulative += s.second;
      while (next < ranks && cumulative >= total * static_cast<double>(next) / static_cast<double>(ranks)) {
        splitters_.push_back(s.first);
        ++next;
      }
    }
  }

 private:
  Compare comp_;
  std::vector<sample> samples_;
  std::vector<stored> splitters_;  // ranks - 1 of them, in order (fewer with few items)
};

/// On a job of several ranks: `local` (this rank's items), an exchange by range, and
/// make_final(received), the sort of what arrived; on one process, `local` itself.
template <class T, class Compare, class MakeFinal>
std::shared_ptr<node<T>> sort_across_ranks(std::shared_ptr<node<T>> local, Compare comp, MakeFinal&& make_final) {
  auto by_range = [&](std::size_t) { return range_router<T, Compare>(comp); };
  return across_ranks_after<T>(std::move(local), by_range, std::forward<MakeFinal>(make_final));
}

}  // namespace dataflow::detail
