// The compile-time stack of local operators that a dataset carries between nodes.
//
// map, filter and flat_map append an operator to the stack instead of adding a node. When a
// stage runs, the stack is bound to the stage's sink from the inside out, giving one nested,
// fully inlined call per item: source batch -> op1 -> op2 -> ... -> sink.
#pragma once

#include <cstddef>
#include <string>
#include <tuple>
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

/// An operator that emits exactly one item per item (map).
template <class Op>
concept one_to_one_op = requires { requires Op::one_to_one; };

/// Local operators turning items of type `In` (a node's output) into a dataset's items.
template <class In, class... Ops>
class op_stack {
 public:
  using input_type = In;
  static constexpr bool empty = sizeof...(Ops) == 0;
  /// True when every operator emits exactly one item per item (maps only): the stage's items
  /// out are its items in, with no counting.
  static constexpr bool keeps_count = (one_to_one_op<Ops> && ...);

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

  /// Returns the operators' labels, in order.
  std::vector<std::string> labels() const {
    return std::apply([](const Ops&... op) { return std::vector<std::string>{op.label...}; },
                      ops_);
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
