// partition_by: moves every item to the partition a user function names.
//
// @code
// auto by_region = orders.partition_by([](const order& o) { return o.region; }, 8);
// auto parts = by_region.collect_partitions();  // parts[r]: the orders of region r % 8
// @endcode
//
// On a job of several ranks (graph/cluster.hpp) rank r owns a contiguous slice of the
// partitions, in rank order (as rank_slice cuts them), and every item is sent to the rank that
// owns its partition: reading the ranks' partitions in rank order (collect_partitions, part
// files) reads partitions 0, 1, ... in order. There the function runs twice per item (on the
// rank that sends it and on the one that places it), so it must be a function of the item
// alone, as a partitioner is.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/int128.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/exchange.hpp>
#include <dataflow/ops/handle.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/block_list.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// The partition of n that a partitioner's result r names: r modulo n, where -1 is the last.
template <class R>
std::size_t partition_number(R r, std::size_t n) noexcept {
  if constexpr (std::is_signed_v<R>) {
    auto m = static_cast<long long>(r) % static_cast<long long>(n);
    return static_cast<std::size_t>(m < 0 ? m + static_cast<long long>(n) : m);
  } else {
    return static_cast<std::size_t>(r) % n;
  }
}

template <class T, class F, class Stack>
class partition_node final : public node<T> {
  using In = typename Stack::input_type;

  struct local_lists {
    std::vector<block_list<T>> lists;
    arena bytes;
    partition_node* self;
    gauge_charge charge;  // what the lists hold as of the last batch, for the run's statistics

    void end_batch() noexcept {
      std::size_t held = bytes.bytes_used();
      for (const auto& l : lists) held += l.bytes();
      charge.set(held);
    }

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::size_t p = partition_number(invoke_user(self->label(), self->fn_, item), lists.size());
      lists[p].emplace_back(intern(bytes, item));
    }
  };

 public:
  partition_node(std::shared_ptr<node<In>> parent, Stack stack, F fn, std::size_t parts)
      : node<T>(parent->ctx_ptr(), "partition_by", node_kind::barrier, {parent}, stack.labels()),
        parent_(std::move(parent)),
        stack_(std::move(stack)),
        fn_(std::move(fn)),
        parts_(parts) {}

  std::string describe_input() const override {
    return "user partitioner into " + std::to_string(parts_) + " partitions";
  }
  std::size_t partition_count() const override { return locals_ ? parts_ : 0; }
  std::optional<std::uint64_t> known_items() const override {
    std::uint64_t n = 0;
    if (locals_) {
      locals_->for_each([&](const local_lists& l) {
        for (const auto& list : l.lists) n += list.size();
      });
    }
    return n;
  }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    locals_->for_each([&](local_lists& l) {
      l.lists[p].for_each_block([&](std::span<const T> block) {
        if (!stop_requested()) out.consume(block);
      });
    });
  }

  void dispose() noexcept override { locals_.reset(); }

 protected:
  void execute(run_state& run) override {
    locals_.emplace(run.ctx().threads());
    run_stage(run, *parent_, stack_, this->label(), [&](std::size_t) -> local_lists& {
      return locals_->local([&] {
        return local_lists{std::vector<block_list<T>>(parts_), arena{}, this,
                           gauge_charge(run.ctx().charged)};
      });
    });
  }

 private:
  std::shared_ptr<node<In>> parent_;
  Stack stack_;
  F fn_;
  std::size_t parts_;
  std::optional<per_thread<local_lists>> locals_;
};

/// partition_by on a job of several ranks: every item goes to the rank that owns its partition,
/// which puts it in its own slice of the partitions.
template <class T, class In, class Stack, class F>
std::shared_ptr<node<T>> partition_across_ranks(const std::shared_ptr<node<In>>& parent, const Stack& stack, F fn,
                                                std::size_t parts) {
  context_state& ctx = parent->ctx();
  if constexpr (encodable<T>) {
    const std::size_t ranks = rank_count(ctx);
    const auto [first, end] = partition_range(parts, ranks, rank_of(ctx));
    auto owner = [fn, parts, ranks](const T& x) {
      const std::size_t p = partition_number(fn(x), parts);
      // The rank r whose slice [parts * r / ranks, parts * (r + 1) / ranks) holds p.
      return static_cast<std::size_t>((static_cast<uint128>(p + 1) * ranks - 1) / parts);
    };
    auto received = std::make_shared<exchange_node<T, decltype(owner)>>(erase_stack<T>(parent, stack), std::move(owner));
    received->rename(ctx.label("partition_by") + " (exchange)");
    auto mine = [fn, parts, first](const T& x) { return partition_number(fn(x), parts) - first; };
    std::shared_ptr<node<T>> made =
        std::make_shared<partition_node<T, decltype(mine), op_stack<T>>>(received, op_stack<T>{}, mine, end - first);
    made->set_runs_across_ranks();
    return made;
  } else {
    no_codec_across_ranks("partition_by");
  }
}

}  // namespace detail

template <class T, class Stack>
template <class PartitionFn>
auto dataset<T, Stack>::partition_by(PartitionFn fn, std::size_t partitions) const {
  static_assert(detail::const_callable_r<PartitionFn, std::size_t, const T&>,
                "dataflow::partition_by: the function must be callable as fn(const T&) -> an "
                "integer partition number, on a const object");
  if (partitions == 0) throw usage_error("dataflow::partition_by: partitions must be at least 1");
  if constexpr (detail::across_ranks_built) {
    if (detail::multi_rank(node_->ctx())) {
      return dataset<T>(detail::partition_across_ranks<T>(node_, stack_, std::move(fn), partitions));
    }
  }
  auto node = std::make_shared<detail::partition_node<T, PartitionFn, Stack>>(
      node_, stack_, std::move(fn), partitions);
  return dataset<T>(std::move(node));
}

}  // namespace dataflow
