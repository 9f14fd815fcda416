// reduce / fold: all items merged into one value. Each partition is folded on its own, then the
// partitions' results are merged in partition order, so the functions must be associative but
// need not be commutative.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/action.hpp>

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

template <class T, class Op>
struct reduce_sink {
  // Copied per batch: only for accumulators that copy as bytes (not a growing string).
  static constexpr bool batch_local = std::is_trivially_copyable_v<stored_t<T>>;
  std::optional<stored_t<T>> acc;
  const Op* op;
  const std::string* label;

  /// Merges x into a started accumulator, keeping it in its owning form.
  static void merge(stored_t<T>& a, const T& x, const Op& op, const std::string& label) {
    if constexpr (has_views_v<T>) {
      a = to_stored(T(invoke_user(label, op, view_of<T>(a), x)));
    } else {
      a = invoke_user(label, op, std::as_const(a), x);
    }
  }
  void add(const T& x) {
    if (acc) {
      merge(*acc, x, *op, *label);
    } else {
      acc.emplace(to_stored(x));
    }
  }
  template <class X>
  void operator()(X&& x) {
    add(x);
  }

  // The primed form, once the accumulator has started: no per-item test.
  struct started {
    stored_t<T> acc;
    const Op* op;
    const std::string* label;
    template <class X>
    void operator()(X&& x) {
      merge(acc, x, *op, *label);
    }
  };
  bool primed() const noexcept { return acc.has_value(); }
  started prime() { return {std::move(*acc), op, label}; }
  void absorb(started&& s) { acc = std::move(s.acc); }
};

template <class T, class Acc, class FoldFn>
struct fold_sink {
  static constexpr bool batch_local = std::is_trivially_copyable_v<Acc>;
  Acc acc;
  const FoldFn* fn;
  const std::string* label;
  template <class X>
  void operator()(X&& x) {
    const T& item = x;
    acc = invoke_user(*label, *fn, std::move(acc), item);
  }
};

}  // namespace detail

template <class T, class Stack>
template <class ReduceFn>
std::optional<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::reduce(
    ReduceFn op) const {
  static_assert(detail::const_callable_r<ReduceFn, T, const T&, const T&>,
                "dataflow::reduce: the function must be callable as op(const T&, const T&) -> T, "
                "on a const object");
  detail::action_run<dataset> action(*this, "reduce", true);
  using sink = detail::reduce_sink<T, ReduceFn>;
  std::vector<sink> sinks(action.partitions(), sink{std::nullopt, &op, &action.label()});
  action.run([&](std::size_t p) -> sink& { return sinks[p]; });
  // Partitions in order, then ranks in order: the same value on every rank.
  auto merge = [&](auto& parts) {
    sink total{std::nullopt, &op, &action.label()};
    try {
      for (auto& acc : parts) {
        if (acc) total.add(detail::view_of<T>(*acc));
      }
    } catch (const detail::op_failure& f) {
      detail::throw_stage_error(f, action.label() + " (merge)");
    }
    return std::move(total.acc);
  };
  auto ranks = action.gather([&] {
    std::vector<std::optional<stored_type>> parts;
    for (auto& s : sinks) parts.push_back(std::move(s.acc));
    return merge(parts);
  });
  return ranks.size() == 1 ? std::move(ranks.front()) : merge(ranks);
}

template <class T, class Stack>
template <class Acc, class FoldFn, class MergeFn>
Acc dataset<T, Stack>::fold(Acc init, FoldFn fold_fn, MergeFn merge_fn) const {
  static_assert(detail::const_callable_r<FoldFn, Acc, Acc&&, const T&>,
                "dataflow::fold: the fold function must be callable as fold_fn(Acc, const T&) -> "
                "Acc, on a const object");
  static_assert(detail::const_callable_r<MergeFn, Acc, Acc&&, Acc&&>,
                "dataflow::fold: the merge function must be callable as merge_fn(Acc, Acc) -> Acc, "
                "on a const object");
  detail::action_run<dataset> action(*this, "fold", true);
  using sink = detail::fold_sink<T, Acc, FoldFn>;
  std::vector<sink> sinks(action.partitions(), sink{init, &fold_fn, &action.label()});
  action.run([&](std::size_t p) -> sink& { return sinks[p]; });
  auto merge = [&](Acc total, auto& parts) {
    try {
      for (auto& acc : parts) total = detail::invoke_user(action.label(), merge_fn, std::move(total), std::move(acc));
    } catch (const detail::op_failure& f) {
      detail::throw_stage_error(f, action.label() + " (merge)");
    }
    return total;
  };
  auto ranks = action.gather([&] {
    std::vector<Acc> parts;
    for (auto& s : sinks) parts.push_back(std::move(s.acc));
    return merge(std::move(init), parts);
  });
  if (ranks.size() == 1) return std::move(ranks.front());
  // Every rank's total already holds init: rank 0's starts the merge of the others.
  Acc first = std::move(ranks.front());
  std::vector<Acc> rest(std::make_move_iterator(ranks.begin() + 1), std::make_move_iterator(ranks.end()));
  return merge(std::move(first), rest);
}

}  // namespace dataflow
