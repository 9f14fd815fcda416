// zip_with_index and sample: operators that need each item's position in the dataset's order.
//
// The input is held for the run (in memory, or spilled under a budget, like a cache) so that
// each partition's first index is known before any partition is read; then every partition is
// read in parallel from its offset.
//
// On a job of several ranks (graph/cluster.hpp) the dataset's order is rank 0's partitions, then
// rank 1's, and so on (as collect and the part files read it): each rank learns how many items
// the ranks before it hold, and its indexes start there.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/ops/name.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/ops/cache.hpp>
#include <dataflow/ops/filter.hpp>
#include <dataflow/ops/map.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// A node over a held input whose partitions' sizes and offsets are known once it ran.
template <class T, class Stack, class Out>
class ordered_node : public node<Out> {
 public:
  using input_node = cache_node<T, Stack>;

  ordered_node(std::shared_ptr<input_node> input, const char* op)
      : node<Out>(input->ctx_ptr(), op, node_kind::pass, {input}, {}), input_(std::move(input)) {}

  std::size_t partition_count() const override { return offsets_.empty() ? 0 : offsets_.size() - 1; }

 protected:
  void execute(run_state& run) override {
    context_state& ctx = run.ctx();
    settle(ctx, [&] {
      input_->ensure_executed(run);
      const std::size_t parts = input_->partition_count();
      offsets_.assign(parts + 1, 0);
      for (std::size_t p = 0; p < parts; ++p) offsets_[p + 1] = offsets_[p] + input_->partition_size(p);
      prepare(run);
    });
    job_total_ = total();
    if (!multi_rank(ctx)) return;
    // Every rank's count, in rank order: this rank's items follow the earlier ranks'.
    rank_counts_ = all_gather<std::uint64_t>(ctx, total());
    std::uint64_t before = 0;
    for (std::size_t r = 0; r < rank_of(ctx); ++r) before += rank_counts_[r];
    for (auto& o : offsets_) o += before;
    job_total_ = 0;
    for (std::uint64_t c : rank_counts_) job_total_ += c;
    after_earlier_ranks(run);
  }
  /// Work after the input is held, before any partition is read (scan's partition totals).
  /// A subclass that runs on a job of several ranks says so (set_runs_across_ranks) once
  /// after_earlier_ranks() does its part.
  virtual void prepare(run_state&) {}
  /// On a job of several ranks, after prepare() succeeded on every rank: what this rank needs
  /// of the ranks before it (scan's totals).
  virtual void after_earlier_ranks(run_state&) {}

  /// The index one past this rank's last item.
  std::uint64_t total() const noexcept { return offsets_.empty() ? 0 : offsets_.back(); }

  std::shared_ptr<input_node> input_;
  std::vector<std::uint64_t> offsets_;      // offsets_[p]: index of partition p's first item
  std::vector<std::uint64_t> rank_counts_;  // on a job of several ranks: each rank's items
  std::uint64_t job_total_ = 0;             // the items of every rank
};

template <class T, class Stack>
class zip_node final : public ordered_node<T, Stack, std::pair<T, std::uint64_t>> {
  using Out = std::pair<T, std::uint64_t>;
  using base = ordered_node<T, Stack, Out>;

 public:
  explicit zip_node(std::shared_ptr<typename base::input_node> input)
      : base(std::move(input), "zip_with_index") {
    this->set_runs_across_ranks();  // the offsets are the whole job's
  }

  void push_partition(std::size_t p, batch_consumer<Out>& out) override {
    std::uint64_t i = this->offsets_[p];
    std::vector<Out> buf;
    this->input_->visit_blocks(p, [&](std::span<const T> block) {
      if (stop_requested()) return false;
      buf.clear();
      for (const T& x : block) buf.emplace_back(x, i++);
      out.consume(std::span<const Out>(buf));
      return true;
    });
  }
};

/// Holds a dataset's items for one run (not across actions, unlike cache()).
template <class T, class Stack>
auto hold_for_run(const std::shared_ptr<node<typename Stack::input_type>>& node,
                  const Stack& stack, const char* op) {
  return std::make_shared<cache_node<T, Stack>>(node, stack, false, op);
}

}  // namespace detail

template <class T, class Stack>
auto dataset<T, Stack>::zip_with_index() const {
  auto input = detail::hold_for_run<T>(node_, stack_, "hold");
  using Node = detail::zip_node<T, Stack>;
  return dataset<std::pair<T, std::uint64_t>>(std::make_shared<Node>(std::move(input)));
}

template <class T, class Stack>
auto dataset<T, Stack>::sample(double fraction, std::uint64_t seed) const {
  // Keep index i when a hash of (seed, i) falls below fraction * 2^64.
  const bool all = fraction >= 1.0;
  const bool none = !(fraction > 0.0);  // also NaN
  const auto threshold =
      all || none ? std::uint64_t{0} : static_cast<std::uint64_t>(std::ldexp(fraction, 64));
  auto kept = detail::hidden(zip_with_index().filter([=](const std::pair<T, std::uint64_t>& x) {
    return all || (!none && detail::mix64(detail::mix64(x.second) ^ seed) < threshold);
  }));
  return detail::composite(kept.map([](const std::pair<T, std::uint64_t>& x) -> T { return x.first; }),
                           "sample");
}

}  // namespace dataflow
