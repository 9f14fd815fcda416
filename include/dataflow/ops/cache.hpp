// cache: keeps a dataset's items after the first action that computes them, so that later
// actions start from the kept items instead of computing them again. Partitions are kept as
// they were, so order is kept too. The items live until the last dataset handle on the cache
// is gone.
//
// @code
// auto counts = words.reduce_by_key(std::plus<>{}).cache();
// auto n = counts.count();          // computes and keeps
// auto top = counts.top_k(10, cmp); // reads the kept items
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/block_list.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

template <class T, class Stack>
class cache_node final : public node<T> {
  using In = typename Stack::input_type;

  // One partition's kept items and the bytes of their views.
  struct kept {
    block_list<T> items;
    arena bytes;
    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      items.emplace_back(intern(bytes, item));
    }
  };

 public:
  cache_node(std::shared_ptr<node<In>> parent, Stack stack)
      : node<T>(parent->ctx_ptr(), "cache", node_kind::cache, {parent}, stack.labels()),
        parent_(std::move(parent)),
        stack_(std::move(stack)) {}

  std::string describe() const override { return filled_ ? "kept" : "not yet computed"; }
  std::string describe_input() const override { return "keep items in memory"; }
  std::size_t partition_count() const override { return parts_.size(); }
  bool keeps_result() const noexcept override { return filled_; }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    parts_[p].items.for_each_block([&](std::span<const T> block) {
      if (!stop_requested()) out.consume(block);
    });
  }

  void dispose() noexcept override {
    if (!filled_) parts_.clear();
  }

 protected:
  void execute(run_state& run) override {
    parent_->ensure_executed(run);
    parts_ = std::vector<kept>(parent_->partition_count());
    run_stage(run, *parent_, stack_, this->label(),
              [&](std::size_t p) -> kept& { return parts_[p]; });
    filled_ = true;
  }

 private:
  std::shared_ptr<node<In>> parent_;
  Stack stack_;
  std::vector<kept> parts_;
  bool filled_ = false;
};

}  // namespace detail

template <class T, class Stack>
dataset<T> dataset<T, Stack>::cache() const {
  return dataset<T>(std::make_shared<detail::cache_node<T, Stack>>(node_, stack_));
}

}  // namespace dataflow
