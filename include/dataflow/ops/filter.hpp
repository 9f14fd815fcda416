// filter: keeps the items a predicate accepts, fused into the consuming stage.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/requirements.hpp>

#include <string>
#include <utility>

namespace dataflow {
namespace detail {

template <class F>
struct filter_op {
  F fn;
  std::string label;
  template <class X>
  using output = X;

  template <class Next>
  struct bound {
    const filter_op* op;
    Next next;
    template <class X>
    void operator()(X&& x) {
      if (invoke_user(op->label, op->fn, std::as_const(x))) next(std::forward<X>(x));
    }
  };

  template <class Next>
  bound<Next> bind(Next next) const {
    return {this, std::move(next)};
  }
};

}  // namespace detail

template <class T, class Stack>
template <class F>
auto dataset<T, Stack>::filter(F pred) const {
  static_assert(detail::const_callable_r<F, bool, const T&>,
                "dataflow::filter: the predicate must be callable as pred(const T&) -> bool, on a "
                "const object (it runs on several threads at once)");
  auto stack = stack_.push(detail::filter_op<F>{std::move(pred), node_->ctx().label("filter")});
  return dataset<T, decltype(stack)>(node_, std::move(stack));
}

}  // namespace dataflow
