// take / first / show: a look at the first items, in the dataset's order, without keeping the
// rest. Partitions are read in order; once the partitions read so far hold n items, the run
// starts no further partition, so take(10) of a large file reads its first chunks, not all of
// it (the shuffles upstream, if any, still run whole). On a job of several ranks each rank takes
// its own first n; the ranks learn each other's counts, each sends only what the first n of the
// job holds of its own, and every rank gets the job's first n in rank order (the dataset's order
// there). show prints on rank 0 only.
//
// @code
// for (const auto& line : ctx.read_lines("big.log").take(5)) std::cout << line << '\n';
// counts.show(10);  // a table on standard output
// @endcode
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/dataset.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/table_format.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/action.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/ops/exchange.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dataflow {
namespace detail {

/// Keeps the first n items of each partition; tells the run when the partitions done so far,
/// from the first, hold n items.
template <class T>
class take_state {
 public:
  take_state(std::size_t parts, std::size_t n, run_state& run)
      : parts_(parts), done_(std::make_unique<std::atomic<bool>[]>(parts)), n_(n), run_(run) {
    for (auto& p : parts_) p.owner = this;
  }

  struct partition {
    take_state* owner = nullptr;
    std::vector<stored_t<T>> items;
    std::size_t index = 0;

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      if (items.size() < owner->n_) items.push_back(to_stored(item));
    }
    void end_partition() { owner->finished(index); }
  };

  partition& at(std::size_t p) {
    parts_[p].index = p;
    return parts_[p];
  }

  /// The first n items of the partitions in order.
  std::vector<stored_t<T>> first_items() {
    std::vector<stored_t<T>> out;
    for (auto& p : parts_) {
      for (auto& x : p.items) {
        if (out.size() == n_) return out;
        out.push_back(std::move(x));
      }
    }
    return out;
  }

 private:
  void finished(std::size_t p) {
    done_[p].store(true, std::memory_order_release);
    // Any thread may find the prefix complete; counting it again is cheap next to a partition.
    std::size_t have = 0;
    for (std::size_t i = 0; i < parts_.size() && done_[i].load(std::memory_order_acquire); ++i) {
      have += parts_[i].items.size();
      if (have >= n_) {
        run_.enough();
        return;
      }
    }
  }

  std::vector<partition> parts_;
  std::unique_ptr<std::atomic<bool>[]> done_;
  std::size_t n_;
  run_state& run_;
};

template <class Dataset>
auto take_items(const Dataset& ds, std::size_t n, const char* name) {
  using T = typename Dataset::value_type;
  if constexpr (!encodable<stored_t<T>>) {
    if (multi_rank(ds.node()->ctx())) {
      no_codec_across_ranks(name);
    }
  }
  action_run<Dataset> action(ds, name, true);
  const std::size_t parts = action.partitions();
  take_state<T> state(parts, n, action.state());
  if (n == 0) action.state().enough();  // reads nothing
  action.run([&](std::size_t p) -> auto& { return state.at(p); });
  context_state& ctx = ds.node()->ctx();
  if (!multi_rank(ctx)) return state.first_items();
  std::vector<stored_t<T>> mine;
  const std::vector<std::uint64_t> counts = action.gather([&] {
    mine = state.first_items();
    return static_cast<std::uint64_t>(mine.size());
  });
  std::uint64_t before = 0;
  for (std::size_t r = 0; r < rank_of(ctx); ++r) before += counts[r];
  const std::uint64_t keep = std::min<std::uint64_t>(mine.size(), n - std::min<std::uint64_t>(n, before));
  mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(keep), mine.end());
  std::vector<stored_t<T>> out;
  for (auto& rank : gather_parts(ctx, std::move(mine), std::nullopt)) {
    std::move(rank.begin(), rank.end(), std::back_inserter(out));
  }
  return out;
}

}  // namespace detail

template <class T, class Stack>
std::vector<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::take(std::size_t n) const {
  return detail::take_items(*this, n, "take");
}

template <class T, class Stack>
std::optional<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::first() const {
  auto items = detail::take_items(*this, 1, "first");
  if (items.empty()) return std::nullopt;
  return std::move(items.front());
}

template <class T, class Stack>
void dataset<T, Stack>::show(std::size_t n, std::FILE* out) const {
  auto items = detail::take_items(*this, n + 1, "show");  // one more tells whether there are more
  if (detail::rank_of(node_->ctx()) != 0) return;  // a job prints once
  const bool more = items.size() > n;
  if (more) items.pop_back();
  std::string text = detail::format_table<stored_type>(items);
  if (more) text += "(the first " + std::to_string(n) + " rows)\n";
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

}  // namespace dataflow
