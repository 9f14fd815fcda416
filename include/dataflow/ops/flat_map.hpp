// flat_map: zero or more items out for every item in, fused into the consuming stage, with no
// allocation per item: the function either returns a (small, lazy) range or calls emit.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/requirements.hpp>

#include <ranges>
#include <string>
#include <type_traits>
#include <utility>

namespace dataflow {
namespace detail {

/// The emit callback handed to a flat_map function: converts to U and pushes downstream.
template <class U, class Next>
struct emitter {
  Next* next;
  template <class Y>
  void operator()(Y&& y) const {
    if constexpr (std::is_same_v<std::remove_cvref_t<Y>, U>) {
      (*next)(std::forward<Y>(y));
    } else {
      (*next)(U(std::forward<Y>(y)));
    }
  }
};

/// Accepts anything convertible to U: only used to check a callback's signature.
template <class U>
struct emit_probe {
  void operator()(const U&) const {}
};

template <class U, class F>
struct flat_map_callback_op {
  F fn;
  std::string label;
  template <class X>
  using output = U;

  template <class Next>
  struct bound {
    const flat_map_callback_op* op;
    Next next;
    template <class X>
    void operator()(X&& x) {
      emitter<U, Next> emit{&next};
      invoke_user(op->label, op->fn, std::forward<X>(x), emit);
    }
  };

  template <class Next>
  bound<Next> bind(Next next) const {
    return {this, std::move(next)};
  }
};

template <class F>
struct flat_map_range_op {
  F fn;
  std::string label;
  // The range's value type, as dataset::flat_map computes it (not its reference: vector<bool>).
  template <class X>
  using output = std::ranges::range_value_t<std::invoke_result_t<const F&, const std::remove_cvref_t<X>&>>;

  template <class Next>
  struct bound {
    const flat_map_range_op* op;
    Next next;
    template <class X>
    void operator()(X&& x) {
      auto&& range = invoke_user(op->label, op->fn, std::forward<X>(x));
      try {
        for (auto&& y : range) next(std::forward<decltype(y)>(y));
      } catch (op_failure&) {
        throw;
      } catch (...) {
        throw op_failure(&op->label, std::current_exception());
      }
    }
  };

  template <class Next>
  bound<Next> bind(Next next) const {
    return {this, std::move(next)};
  }
};

}  // namespace detail

template <class T, class Stack>
template <class U, class F>
auto dataset<T, Stack>::flat_map(F fn) const {
  auto label = node_->ctx().label("flat_map");
  if constexpr (std::is_void_v<U>) {
    static_assert(detail::const_callable<F, const T&>,
                  "dataflow::flat_map: without an explicit output type, the function must be "
                  "callable as fn(const T&) and return a range; with a callback, write "
                  "flat_map<U>([](const T& x, auto&& emit) { emit(u); })");
    using R = std::remove_cvref_t<std::invoke_result_t<const F&, const T&>>;
    if constexpr (detail::is_optional_v<R>) {
      // An optional is zero or one item: a filter and a map in one.
      return flat_map<typename R::value_type>([fn = std::move(fn)](const T& x, auto&& emit) {
        if (auto o = fn(x)) emit(std::move(*o));
      });
    } else {
      static_assert(std::ranges::input_range<R>,
                    "dataflow::flat_map: the function must return a range or a std::optional "
                    "(or name the output type: flat_map<U>(fn) with fn(const T&, auto&& emit))");
      using V = std::ranges::range_value_t<R>;  // not the reference: vector<bool> has proxies
      auto stack = stack_.push(detail::flat_map_range_op<F>{std::move(fn), std::move(label)});
      return dataset<V, decltype(stack)>(node_, std::move(stack));
    }
  } else {
    static_assert(detail::const_callable<F, const T&, detail::emit_probe<U>&>,
                  "dataflow::flat_map<U>: the function must be callable as "
                  "fn(const T&, auto&& emit), calling emit(u) for each output u of type U");
    auto stack =
        stack_.push(detail::flat_map_callback_op<U, F>{std::move(fn), std::move(label)});
    return dataset<U, decltype(stack)>(node_, std::move(stack));
  }
}

}  // namespace dataflow
