// partition_by: moves every item to the partition a user function names.
//
// @code
// auto by_region = orders.partition_by([](const order& o) { return o.region; }, 8);
// auto parts = by_region.collect_partitions();  // parts[r]: the orders of region r % 8
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>
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
      auto r = invoke_user(self->label(), self->fn_, item);
      const auto n = lists.size();
      std::size_t p;
      if constexpr (std::is_signed_v<decltype(r)>) {  // -1 goes to the last partition
        auto m = static_cast<long long>(r) % static_cast<long long>(n);
        p = static_cast<std::size_t>(m < 0 ? m + static_cast<long long>(n) : m);
      } else {
        p = static_cast<std::size_t>(r) % n;
      }
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

}  // namespace detail

template <class T, class Stack>
template <class PartitionFn>
auto dataset<T, Stack>::partition_by(PartitionFn fn, std::size_t partitions) const {
  static_assert(detail::const_callable_r<PartitionFn, std::size_t, const T&>,
                "dataflow::partition_by: the function must be callable as fn(const T&) -> an "
                "integer partition number, on a const object");
  if (partitions == 0) throw usage_error("dataflow::partition_by: partitions must be at least 1");
  auto node = std::make_shared<detail::partition_node<T, PartitionFn, Stack>>(
      node_, stack_, std::move(fn), partitions);
  return dataset<T>(std::move(node));
}

}  // namespace dataflow
