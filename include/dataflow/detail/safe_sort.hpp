// An introsort that stays inside its range and terminates whatever the comparator does.
//
// std::sort and tbb::parallel_sort rely on the comparator being a strict weak order: their
// unguarded inner loops run past the range (a crash from 17 items) or never end when it is not
// (`<=`, a comparator that always returns true). Users write such comparators by mistake, so
// every loop here checks its bounds and every partition places its pivot, which shrinks each
// range by at least one item: the result is a permutation of the input in an order the
// comparator allows, and for a strict weak order it is sorted. The checks cost a compare of two
// indices beside each call of the comparator.
#pragma once

#include <dataflow/graph/scheduler.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <utility>

namespace dataflow::detail {

inline constexpr std::ptrdiff_t safe_sort_small = 16;

/// Insertion sort with the bound checked at every step.
template <class T, class Less>
void guarded_insertion_sort(T* a, std::ptrdiff_t n, Less& less) {
  for (std::ptrdiff_t i = 1; i < n; ++i) {
    if (!less(a[i], a[i - 1])) continue;
    T v = std::move(a[i]);
    std::ptrdiff_t j = i;
    do {
      a[j] = std::move(a[j - 1]);
      --j;
    } while (j > 0 && less(v, a[j - 1]));
    a[j] = std::move(v);
  }
}

/// Moves the median of a[1], a[n/2], a[n-1] to a[0] as the pivot.
template <class T, class Less>
void choose_pivot(T* a, std::ptrdiff_t n, Less& less) {
  T* x = a + 1;
  T* y = a + n / 2;
  T* z = a + n - 1;
  if (less(*y, *x)) std::swap(x, y);
  if (less(*z, *y)) std::swap(y, z);
  if (less(*y, *x)) std::swap(x, y);
  std::iter_swap(a, y);
}

/// Partitions a[1, n) around the pivot a[0] and places it; returns its index m. Items before m
/// were not greater than the pivot, items after it not less (for a strict weak order).
template <class T, class Less>
std::ptrdiff_t partition_placed(T* a, std::ptrdiff_t n, Less& less) {
  std::ptrdiff_t i = 1, j = n - 1;
  for (;;) {
    while (i <= j && less(a[i], a[0])) ++i;
    while (i <= j && less(a[0], a[j])) --j;
    if (i >= j) break;
    std::swap(a[i], a[j]);
    ++i;
    --j;
  }
  const std::ptrdiff_t m = i - 1;  // the last of the left part
  std::swap(a[0], a[m]);
  return m;
}

/// Sorts a[0, n): quicksort on the smaller side first, heapsort past `depth` levels.
template <class T, class Less>
void safe_sort_loop(T* a, std::ptrdiff_t n, int depth, Less& less) {
  while (n > safe_sort_small) {
    if (depth-- == 0) {  // heapsort's index arithmetic is bounded whatever the comparator says
      std::make_heap(a, a + n, less);
      std::sort_heap(a, a + n, less);
      return;
    }
    choose_pivot(a, n, less);
    const std::ptrdiff_t m = partition_placed(a, n, less);
    if (m < n - 1 - m) {
      safe_sort_loop(a, m, depth, less);
      a += m + 1;
      n -= m + 1;
    } else {
      safe_sort_loop(a + m + 1, n - m - 1, depth, less);
      n = m;
    }
  }
  guarded_insertion_sort(a, n, less);
}

inline int safe_sort_depth(std::size_t n) { return 2 * static_cast<int>(std::bit_width(n)) + 4; }

/// True when a[0, n) is in order already (one pass, stopping at the first pair out of order).
template <class T, class Less>
bool in_order(const T* a, std::ptrdiff_t n, Less& less) {
  for (std::ptrdiff_t i = 1; i < n; ++i) {
    if (less(a[i], a[i - 1])) return false;
  }
  return true;
}

/// Sorts [first, last) with `less`; safe with any comparator (see the file's comment).
template <class T, class Less>
void safe_sort(T* first, T* last, Less less) {
  const std::ptrdiff_t n = last - first;
  if (n > 1 && !in_order(first, n, less)) {
    safe_sort_loop(first, n, safe_sort_depth(static_cast<std::size_t>(n)), less);
  }
}

/// As safe_sort, with the two sides of each large partition sorted as parallel tasks of the
/// calling arena. An exception from the comparator cancels the rest and reaches the caller.
template <class T, class Less>
void parallel_safe_sort(T* first, T* last, Less less, std::ptrdiff_t grain = 32768) {
  struct sorter {
    Less& less;
    std::ptrdiff_t grain;
    task_group& tasks;
    void operator()(T* a, std::ptrdiff_t n, int depth) const {
      while (n > grain && depth > 0) {
        --depth;
        choose_pivot(a, n, less);
        const std::ptrdiff_t m = partition_placed(a, n, less);
        // The smaller side as a task, the larger one in this loop.
        T* left = a;
        T* right = a + m + 1;
        const std::ptrdiff_t nl = m, nr = n - m - 1;
        if (nl < nr) {
          tasks.run([=, this] { (*this)(left, nl, depth); });
          a = right;
          n = nr;
        } else {
          tasks.run([=, this] { (*this)(right, nr, depth); });
          n = nl;
        }
      }
      safe_sort_loop(a, n, depth, less);
    }
  };
  const std::ptrdiff_t n = last - first;
  grain = std::max(grain, 4 * safe_sort_small);
  if (n <= grain) {
    safe_sort(first, last, less);
    return;
  }
  if (in_order(first, n, less)) return;  // sorted input (a re-sort) costs one pass
  task_group tasks;
  sorter s{less, grain, tasks};
  tasks.run([&] { s(first, n, safe_sort_depth(static_cast<std::size_t>(n))); });
  tasks.wait();
}

}  // namespace dataflow::detail
