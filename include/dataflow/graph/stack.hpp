// The compile-time stack of local operators that a dataset carries between nodes.
//
// map, filter and flat_map append an operator to the stack instead of adding a node. When a
// stage runs, the stack is bound to the stage's sink from the inside out, giving one nested,
// fully inlined call per item: source batch -> op1 -> op2 -> ... -> sink.
#pragma once

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// Forwards items to a sink held by reference; the innermost link of a bound chain.
template <class Sink>
struct sink_link {
  Sink* sink;
  template <class X>
  void operator()(X&& x) const {
    (*sink)(std::forward<X>(x));
  }
};

template <class X, class... Ops>
struct stack_output {
  using type = X;
};
template <class X, class Op, class... Ops>
struct stack_output<X, Op, Ops...> : stack_output<typename Op::template output<X>, Ops...> {};

/// Local operators turning items of type `In` (a node's output) into a dataset's items.
template <class In, class... Ops>
class op_stack {
 public:
  using input_type = In;
  /// The items that leave the last operator.
  using output_type = std::remove_cvref_t<typename stack_output<const In&, Ops...>::type>;
  static constexpr bool empty = sizeof...(Ops) == 0;

  op_stack() = default;
  explicit op_stack(std::tuple<Ops...> ops) : ops_(std::move(ops)) {}

  /// Returns this stack with `op` appended.
  template <class Op>
  op_stack<In, Ops..., Op> push(Op op) const {
    return op_stack<In, Ops..., Op>(std::tuple_cat(ops_, std::tuple<Op>(std::move(op))));
  }

  /// Returns a callable that runs an item through every operator into `sink`.
  template <class Sink>
  auto bind(Sink& sink) const {
    return bind_from<0>(sink_link<Sink>{&sink});
  }

  /// Returns the operators' labels, in order; an operator with no label (a step inside a
  /// composite operator, which the node after it names) is left out.
  std::vector<std::string> labels() const {
    std::vector<std::string> out;
    std::apply([&](const Ops&... op) { (..., (op.label.empty() ? void() : out.push_back(op.label))); },
               ops_);
    return out;
  }

  /// Returns this stack with the last operator's label replaced (dataset::name); "" hides it.
  op_stack relabel_last(std::string label) const
    requires(sizeof...(Ops) > 0)
  {
    op_stack copy = *this;
    std::get<sizeof...(Ops) - 1>(copy.ops_).label = std::move(label);
    return copy;
  }

 private:
  template <std::size_t I, class Next>
  auto bind_from(Next next) const {
    if constexpr (I == sizeof...(Ops)) {
      return next;
    } else {
      return std::get<I>(ops_).bind(bind_from<I + 1>(std::move(next)));
    }
  }

  std::tuple<Ops...> ops_;
};

}  // namespace dataflow::detail
