// min, max: the least or greatest item by a comparator, as a reduce (one pass, no shuffle).
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/ops/reduce.hpp>

#include <functional>
#include <optional>

namespace dataflow {

template <class T, class Stack>
template <class Compare>
std::optional<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::min(Compare comp) const {
  static_assert(detail::const_callable_r<Compare, bool, const T&, const T&>,
                "dataflow::min: the comparator must be callable as comp(const T&, const T&) -> "
                "bool, true when the first item is less than the second");
  // Of equal items the earliest in partition order wins: reduce merges in that order.
  return reduce([comp](const T& a, const T& b) -> T { return comp(b, a) ? b : a; });
}

template <class T, class Stack>
template <class Compare>
std::optional<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::max(Compare comp) const {
  static_assert(detail::const_callable_r<Compare, bool, const T&, const T&>,
                "dataflow::max: the comparator must be callable as comp(const T&, const T&) -> "
                "bool, true when the first item is less than the second");
  return reduce([comp](const T& a, const T& b) -> T { return comp(a, b) ? b : a; });
}

}  // namespace dataflow
