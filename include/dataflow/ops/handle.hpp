// dataflow::dataset<T> as a handle on any dataset of T: the local operators of the dataset it is
// made from run in a node of their own, so that the handle's type names only the item type.
//
// @code
// dataflow::dataset<std::pair<int, double>> ranks = ctx.from(start);
// for (int i = 0; i < 20; ++i) {
//   ranks = links.join(ranks).flat_map(spread).reduce_by_key(std::plus<>{}).map_values(damp).cache();
// }
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/ops/concat.hpp>

#include <cstddef>
#include <memory>
#include <utility>

namespace dataflow::detail {

template <class T, class Stack>
class stack_node final : public node<T> {
  using In = typename Stack::input_type;

 public:
  stack_node(std::shared_ptr<node<In>> parent, Stack stack)
      : node<T>(parent->ctx_ptr(), "dataset", node_kind::pass, {parent}, stack.labels()),
        parent_(std::move(parent)),
        stack_(std::move(stack)) {
    parent_->add_handle();  // it names its parent as the dataset it was made from did
    this->set_runs_across_ranks();  // local operators only
  }
  ~stack_node() override { parent_->drop_handle(); }

  std::size_t partition_count() const override { return parent_->partition_count(); }
  std::optional<std::uint64_t> known_items() const override {
    return Stack::empty ? parent_->known_items() : std::nullopt;
  }
  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    push_through(*parent_, stack_, p, out);
  }

 protected:
  void execute(run_state& run) override { parent_->ensure_executed(run); }
  // Reading it again costs what reading its parent costs: a recompute is reported there.
  bool recompute_is_costly() const noexcept override { return false; }

 private:
  std::shared_ptr<node<In>> parent_;
  Stack stack_;
};

template <class T, class Stack>
std::shared_ptr<node<T>> erase_stack(const std::shared_ptr<node<typename Stack::input_type>>& parent,
                                     const Stack& stack) {
  return std::make_shared<stack_node<T, Stack>>(parent, stack);
}

}  // namespace dataflow::detail
