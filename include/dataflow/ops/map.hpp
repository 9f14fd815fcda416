// map: one item out for every item in, fused into the consuming stage.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/requirements.hpp>

#include <string>
#include <utility>

namespace dataflow {
namespace detail {

template <class F>
struct map_op {
  F fn;
  std::string label;
  /// The item type it passes on for items of type X (as dataset::map computes it).
  template <class X>
  using output = call_result_t<F, const std::remove_cvref_t<X>&>;

  template <class Next>
  struct bound {
    const map_op* op;
    Next next;
    template <class X>
    void operator()(X&& x) {
      next(invoke_user(op->label, op->fn, std::forward<X>(x)));
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
auto dataset<T, Stack>::map(F fn) const {
  static_assert(detail::const_callable<F, const T&>,
                "dataflow::map: the function must be callable as fn(const T&) -> U, on a const "
                "object (it runs on several threads at once), where T is the dataset's item type");
  using U = detail::call_result_t<F, const T&>;
  static_assert(!std::is_void_v<U>, "dataflow::map: the function must return a value");
  auto stack = stack_.push(detail::map_op<F>{std::move(fn), node_->ctx().label("map")});
  return dataset<U, decltype(stack)>(node_, std::move(stack));
}

}  // namespace dataflow
