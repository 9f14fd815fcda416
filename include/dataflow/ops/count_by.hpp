// count_by_key, count_by_value, distinct, aggregate_by_key: keyed operators written with
// reduce_by_key, so they combine per thread before the shuffle and spill under a budget like it.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/ops/keys_values.hpp>
#include <dataflow/ops/map.hpp>
#include <dataflow/ops/reduce_by_key.hpp>

#include <cstdint>
#include <functional>
#include <utility>

namespace dataflow {

template <class T, class Stack>
auto dataset<T, Stack>::count_by_key(shuffle_options options) const {
  static_assert(detail::is_pair_v<T>, "dataflow::count_by_key: items must be std::pair<K, V>");
  using K = detail::member_view_t<typename T::first_type>;
  return map([](const T& x) { return std::pair<K, std::uint64_t>(K(x.first), 1); })
      .reduce_by_key(std::plus<>{}, options);
}

template <class T, class Stack>
auto dataset<T, Stack>::count_by_value(shuffle_options options) const {
  static_assert(detail::hashable<T> && detail::key_type<T>,
                "dataflow::count_by_value: items must be hashable and comparable with ==");
  return map([](const T& x) { return std::pair<T, std::uint64_t>(x, 1); })
      .reduce_by_key(std::plus<>{}, options);
}

template <class T, class Stack>
auto dataset<T, Stack>::distinct(shuffle_options options) const {
  static_assert(detail::hashable<T> && detail::key_type<T>,
                "dataflow::distinct: items must be hashable and comparable with ==");
  // A one-byte value keeps the table's entries small; the first value met wins.
  return map([](const T& x) { return std::pair<T, unsigned char>(x, 0); })
      .reduce_by_key([](unsigned char a, unsigned char) { return a; }, options)
      .keys();
}

template <class T, class Stack>
template <class Acc, class FoldFn, class MergeFn>
auto dataset<T, Stack>::aggregate_by_key(Acc zero, FoldFn fold_fn, MergeFn merge_fn,
                                         shuffle_options options) const {
  static_assert(detail::is_pair_v<T>, "dataflow::aggregate_by_key: items must be std::pair<K, V>");
  using V = typename T::second_type;
  static_assert(detail::const_callable_r<FoldFn, Acc, const Acc&, const V&>,
                "dataflow::aggregate_by_key: fold_fn must be callable as fold_fn(const Acc&, "
                "const V&) -> Acc");
  static_assert(detail::const_callable_r<MergeFn, Acc, const Acc&, const Acc&>,
                "dataflow::aggregate_by_key: merge_fn must be callable as merge_fn(const Acc&, "
                "const Acc&) -> Acc");
  // Each value starts an accumulator of its own; the shuffle's per-thread combining merges
  // them, so zero must be merge_fn's identity.
  return map_values([zero = std::move(zero), fold_fn = std::move(fold_fn)](const V& v) {
           return Acc(fold_fn(zero, v));
         })
      .reduce_by_key(std::move(merge_fn), options);
}

}  // namespace dataflow
