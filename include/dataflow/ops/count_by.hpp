// count_by_key, count_by_value, distinct, aggregate_by_key: keyed operators written with
// reduce_by_key, so they combine per thread before the shuffle and spill under a budget like it.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/ops/keys_values.hpp>
#include <dataflow/ops/map.hpp>
#include <dataflow/ops/name.hpp>
#include <dataflow/ops/reduce_by_key.hpp>

#include <cstdint>
#include <functional>
#include <utility>

namespace dataflow {

template <class T, class Stack>
auto dataset<T, Stack>::count_by_key(shuffle_options options) const {
  static_assert(detail::is_pair_v<T>, "dataflow::count_by_key: items must be std::pair<K, V>");
  using K = detail::member_view_t<typename T::first_type>;
  auto ones = detail::hidden(map([](const T& x) { return std::pair<K, std::uint64_t>(K(x.first), 1); }));
  return detail::composite(ones.reduce_by_key(std::plus<>{}, options), "count_by_key");
}

template <class T, class Stack>
auto dataset<T, Stack>::count_by_value(shuffle_options options) const {
  static_assert(detail::hashable<T> && detail::key_type<T>,
                "dataflow::count_by_value: items must be hashable and comparable with == "
                "(for a struct of your own: bool operator==(const K&) const = default;)");
  auto ones = detail::hidden(map([](const T& x) { return std::pair<T, std::uint64_t>(x, 1); }));
  return detail::composite(ones.reduce_by_key(std::plus<>{}, options), "count_by_value");
}

template <class T, class Stack>
auto dataset<T, Stack>::distinct(shuffle_options options) const {
  static_assert(detail::hashable<T> && detail::key_type<T>,
                "dataflow::distinct: items must be hashable and comparable with == "
                "(for a struct of your own: bool operator==(const K&) const = default;)");
  // A one-byte value keeps the table's entries small; the first value met wins.
  auto keyed = detail::hidden(map([](const T& x) { return std::pair<T, unsigned char>(x, 0); }));
  auto once = keyed.reduce_by_key([](unsigned char a, unsigned char) { return a; }, options);
  return detail::hidden(detail::composite(once, "distinct").keys());
}

template <class T, class Stack>
auto dataset<T, Stack>::count_distinct_by_key(shuffle_options options) const {
  static_assert(detail::is_pair_v<T>,
                "dataflow::count_distinct_by_key: items must be std::pair<K, V>");
  // Each distinct (K, V) once, then a count per key: both shuffles combine per thread first.
  return distinct(options).count_by_key(options);
}

template <class T, class Stack>
template <class Acc, class FoldFn, class MergeFn>
auto dataset<T, Stack>::aggregate_by_key(Acc zero, FoldFn fold_fn, MergeFn merge_fn,
                                         shuffle_options options) const {
  static_assert(detail::is_pair_v<T>, "dataflow::aggregate_by_key: items must be std::pair<K, V>");
  using V = typename T::second_type;
  constexpr bool fold_in_place =
      std::is_invocable_v<const FoldFn&, Acc&, const V&> &&
      std::is_void_v<std::invoke_result_t<const FoldFn&, Acc&, const V&>>;
  static_assert(fold_in_place || detail::const_callable_r<FoldFn, Acc, const Acc&, const V&>,
                "dataflow::aggregate_by_key: fold_fn must be callable as fold_fn(const Acc&, "
                "const V&) -> Acc, or in place as fold_fn(Acc&, const V&) -> void");
  static_assert(detail::in_place_merge<MergeFn, Acc> ||
                    detail::const_callable_r<MergeFn, Acc, const Acc&, const Acc&>,
                "dataflow::aggregate_by_key: merge_fn must be callable as merge_fn(const Acc&, "
                "const Acc&) -> Acc, or in place as merge_fn(Acc&, Acc&&) -> void");
  // Each value starts an accumulator of its own; the shuffle's per-thread combining merges
  // them, so zero must be merge_fn's identity. In place, a growing accumulator (a vector, a
  // set) costs time linear in what it holds; merge_fn(const Acc&, const Acc&) -> Acc copies it
  // at every merge.
  auto label = node_->ctx().label("aggregate_by_key");
  auto accs = map_values([zero = std::move(zero), fold_fn = std::move(fold_fn)](const V& v) {
    if constexpr (fold_in_place) {
      Acc acc(zero);
      fold_fn(acc, v);
      return acc;
    } else {
      return Acc(fold_fn(zero, v));
    }
  });
  // The fold runs in the first stage and the merge in the node: both under the operator's name.
  return accs.name(label).reduce_by_key(std::move(merge_fn), options).name(label);
}

}  // namespace dataflow
