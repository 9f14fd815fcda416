// top_k: the first k items in a comparator's order, without sorting everything. Each thread
// keeps a bounded heap of its best k; the heaps are merged and sorted at the end.
//
// @code
// auto top = counts.top_k(10, [](const auto& a, const auto& b) {
//   return a.second != b.second ? a.second > b.second : a.first < b.first;
// });
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/safe_sort.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/action.hpp>
#include <dataflow/graph/stage.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

template <class T, class Compare>
struct top_k_sink {
  std::vector<stored_t<T>> heap;  // the worst kept item on top
  std::size_t k;
  const Compare* comp;
  const std::string* label;

  bool before(const T& a, const T& b) const { return invoke_user(*label, *comp, a, b); }
  auto heap_order() const {
    return [this](const stored_t<T>& a, const stored_t<T>& b) {
      return before(view_of<T>(a), view_of<T>(b));
    };
  }

  template <class X>
  void operator()(X&& x) {
    const T& item = x;
    if (heap.size() < k) {
      heap.push_back(to_stored(item));
      std::push_heap(heap.begin(), heap.end(), heap_order());
    } else if (k > 0 && before(item, view_of<T>(heap.front()))) {
      std::pop_heap(heap.begin(), heap.end(), heap_order());
      heap.back() = to_stored(item);
      std::push_heap(heap.begin(), heap.end(), heap_order());
    }
  }
};

}  // namespace detail

template <class T, class Stack>
template <class Compare>
std::vector<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::top_k(
    std::size_t k, Compare comp) const {
  if constexpr (std::is_same_v<Compare, detail::default_rank>) {
    if constexpr (detail::is_pair_v<T>) {
      // What `counts.top_k(10)` means to a reader: the largest counts, not the largest keys.
      return top_k(k, [](const T& a, const T& b) {
        if (b.second < a.second) return true;
        if (a.second < b.second) return false;
        return a.first < b.first;
      });
    } else {
      return top_k(k, std::greater<>{});
    }
  } else {
    static_assert(detail::const_callable_r<Compare, bool, const T&, const T&>,
                  "dataflow::top_k: the comparator must be callable as comp(const T&, const T&) -> "
                  "bool, true when the first item ranks before the second");
    detail::action_run<dataset> action(*this, "top_k", true);
    using sink = detail::top_k_sink<T, Compare>;
    action.partitions();
    detail::per_thread<sink> heaps(action.threads());
    action.run([&](std::size_t) -> sink& {
      return heaps.local([&] { return sink{{}, k, &comp, &action.label()}; });
    });
    sink order{{}, k, &comp, &action.label()};
    auto best = [&](std::vector<stored_type>& all) {
      try {
        detail::safe_sort(all.data(), all.data() + all.size(), order.heap_order());  // any comparator
      } catch (const detail::op_failure& f) {
        detail::throw_stage_error(f, action.label() + " (merge)");
      }
      if (all.size() > k) all.erase(all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
      return std::move(all);
    };
    auto ranks = action.gather([&] {
      std::vector<stored_type> all;
      heaps.for_each([&](sink& s) {
        for (auto& x : s.heap) all.push_back(std::move(x));
      });
      return best(all);
    });
    if (ranks.size() == 1) return std::move(ranks.front());
    std::vector<stored_type> all;  // every rank's best k, in rank order
    for (auto& r : ranks) std::move(r.begin(), r.end(), std::back_inserter(all));
    return best(all);
  }
}

}  // namespace dataflow

namespace dataflow {

template <class T, class Stack>
template <class KeyFn>
std::vector<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::top_k_by(
    std::size_t k, KeyFn key_fn) const {
  static_assert(detail::const_callable<KeyFn, const T&>,
                "dataflow::top_k_by: the key function must be callable as key_fn(const T&), on a "
                "const object");
  return top_k(k, [key_fn = std::move(key_fn)](const T& a, const T& b) {
    return std::invoke(key_fn, b) < std::invoke(key_fn, a);
  });
}

template <class T, class Stack>
template <class Compare>
std::vector<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::bottom_k(
    std::size_t k, Compare less) const {
  // The first k in ascending order are the first k in the order that `less` ranks first.
  return top_k(k, std::move(less));
}

}  // namespace dataflow
