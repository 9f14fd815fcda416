// keys, values, map_values: local operators on pairs (K, V), fused like map.
//
// A std::string key or value is passed on as a std::string_view of the pair it came from (it
// lives while the item is in flight, and barriers and actions copy what they keep), so taking
// the keys of (std::string, V) pairs copies no string.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/ops/map.hpp>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace dataflow {
namespace detail {

/// The type a pair's member is passed on as: a view for strings, else the member's type.
template <class M>
using member_view_t =
    std::conditional_t<std::is_same_v<std::remove_cv_t<M>, std::string>, std::string_view,
                       std::remove_cv_t<M>>;

}  // namespace detail

template <class T, class Stack>
auto dataset<T, Stack>::keys() const {
  static_assert(detail::is_pair_v<T>, "dataflow::keys: items must be std::pair<K, V>");
  using K = detail::member_view_t<typename T::first_type>;
  auto fn = [](const T& x) -> K { return K(x.first); };
  auto stack = stack_.push(detail::map_op<decltype(fn)>{fn, node_->ctx().label("keys")});
  return dataset<K, decltype(stack)>(node_, std::move(stack));
}

template <class T, class Stack>
auto dataset<T, Stack>::values() const {
  static_assert(detail::is_pair_v<T>, "dataflow::values: items must be std::pair<K, V>");
  using V = detail::member_view_t<typename T::second_type>;
  auto fn = [](const T& x) -> V { return V(x.second); };
  auto stack = stack_.push(detail::map_op<decltype(fn)>{fn, node_->ctx().label("values")});
  return dataset<V, decltype(stack)>(node_, std::move(stack));
}

template <class T, class Stack>
template <class F>
auto dataset<T, Stack>::map_values(F fn) const {
  static_assert(detail::is_pair_v<T>, "dataflow::map_values: items must be std::pair<K, V>");
  using V = typename T::second_type;
  static_assert(detail::const_callable<F, const V&>,
                "dataflow::map_values: the function must be callable as fn(const V&) -> U, on a "
                "const object, where V is the pairs' value type");
  using K = detail::member_view_t<typename T::first_type>;
  using U = detail::call_result_t<F, const V&>;
  static_assert(!std::is_void_v<U>, "dataflow::map_values: the function must return a value");
  auto wrapped = [fn = std::move(fn)](const T& x) { return std::pair<K, U>(K(x.first), fn(x.second)); };
  auto stack =
      stack_.push(detail::map_op<decltype(wrapped)>{std::move(wrapped), node_->ctx().label("map_values")});
  return dataset<std::pair<K, U>, decltype(stack)>(node_, std::move(stack));
}

}  // namespace dataflow
