// concat: the items of one dataset, then those of another of the same item type.
//
// Nothing is copied or shuffled: the concat's partitions are the first dataset's followed by
// the second's, each read through its own fused operators when the consumer reads it.
//
// @code
// auto all_logs = ctx.read_lines("2025/*.log").concat(ctx.read_lines("2026/*.log"));
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/storage/arena.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// Collects what a stack emits for one input batch and passes it on as one batch, while the
/// input batch (which views in the items may point into) is still valid.
/// A view may point into a temporary of the operator before (a map's result) that is gone once
/// the call returns, so items with views are kept with a copy of their bytes until then.
template <class T>
struct forward_sink {
  batch_consumer<T>* out;
  std::vector<T> buf;
  arena bytes;
  template <class X>
  void operator()(X&& x) {
    if constexpr (has_views_v<T>) {
      const T& item = x;
      buf.emplace_back(intern(bytes, item));
    } else {
      buf.emplace_back(std::forward<X>(x));
    }
  }
  void end_batch() {
    if (!buf.empty()) out->consume(std::span<const T>(buf));
    buf.clear();
    if constexpr (has_views_v<T>) bytes.reset();
  }
};

/// Pushes partition p of `parent` through `stack` to `out`.
template <class T, class In, class Stack>
void push_through(node<In>& parent, const Stack& stack, std::size_t p, batch_consumer<T>& out) {
  if constexpr (Stack::empty && std::is_same_v<In, T>) {
    push_partition_of(parent, p, out);
  } else {
    forward_sink<T> sink{&out, {}, {}};
    stack_consumer<In, Stack, forward_sink<T>, false> c(stack, sink);
    push_partition_of(parent, p, c);
  }
}

template <class T, class S1, class S2>
class concat_node final : public node<T> {
  using In1 = typename S1::input_type;
  using In2 = typename S2::input_type;

 public:
  concat_node(std::shared_ptr<node<In1>> a, S1 sa, std::shared_ptr<node<In2>> b, S2 sb)
      : node<T>(a->ctx_ptr(), "concat", node_kind::pass, {a, b},
                node_base::ops_per_parent{{sa.labels(), sb.labels()}}),
        a_(std::move(a)),
        b_(std::move(b)),
        sa_(std::move(sa)),
        sb_(std::move(sb)) {
    this->set_runs_across_ranks();  // each rank's partitions of both
    if (&a_->ctx() != &b_->ctx()) {
      throw usage_error("dataflow::concat: both datasets must come from the same context");
    }
  }

  std::size_t partition_count() const override { return na_ + nb_; }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    if (p < na_) {
      push_through(*a_, sa_, p, out);
    } else {
      push_through(*b_, sb_, p - na_, out);
    }
  }

 protected:
  void execute(run_state& run) override {
    a_->ensure_executed(run);
    b_->ensure_executed(run);
    na_ = a_->partition_count();
    nb_ = b_->partition_count();
  }

 private:
  std::shared_ptr<node<In1>> a_;
  std::shared_ptr<node<In2>> b_;
  S1 sa_;
  S2 sb_;
  std::size_t na_ = 0;
  std::size_t nb_ = 0;
};

}  // namespace detail

template <class T, class Stack>
template <class Other>
auto dataset<T, Stack>::concat(const Other& other) const {
  static_assert(std::is_same_v<T, typename Other::value_type>,
                "dataflow::concat: both datasets must have the same item type; map one of them "
                "first");
  using Node = detail::concat_node<T, Stack, typename Other::stack_type>;
  return dataset<T>(std::make_shared<Node>(node_, stack_, other.node(), other.stack()));
}

}  // namespace dataflow
