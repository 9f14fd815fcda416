// A bytewise sort of string views through their first eight bytes, the in-memory sort's and
// each run's when a sort orders strings bytewise (sort.hpp).
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/detail/safe_sort.hpp>
#include <dataflow/ops/sort_distribute.hpp>
#include <dataflow/storage/item_buffer.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace dataflow::detail {

/// Sorts string views bytewise through their first eight bytes (sort_prefixed_keys).
/// `parallel` sorts with every thread of the calling arena.
void sort_prefixed(std::string_view* begin, std::string_view* end, bool parallel);

/// Sorts n strings bytewise into `keys`, each as its first eight bytes (a number) and its view:
/// most comparisons then read a number next to the view instead of following its pointer into
/// a cache line far away. each(f) calls f(std::string_view) for the n strings, in an order
/// that reads their bytes as a stream (input order: an arena, a range's blocks); sample(f)
/// calls f for a few thousand of them, spread over all, whose range of numbers picks the
/// buckets. On the calling thread: a pass counts the strings per bucket (equal ranges of the
/// numbers, a number outside the sample's range in the first or last bucket), one writes each
/// number and view to its bucket's place in `keys`, and each bucket (a few hundred strings for
/// a thread's run of a few hundred thousand; up to 2048 buckets) sorts by its next bits
/// (sort_bucket, a copy of at most 6 MiB) or, at the ends, by comparing. Memory: 24 bytes a
/// string, in `keys` (a thread's buffer counts them for its runs: local_buffer::sort_bytes).
/// `parallel`: the numbers and views are sorted by comparing, with every thread of the calling
/// arena.
template <class Each, class Sample>
void sort_prefixed_keys(std::size_t n, Each&& each, Sample&& sample, item_buffer<prefixed_view>& keys,
                        bool parallel) {
  keys.clear();
  keys.reserve(n);
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
  if (!parallel) {
    sample([&](std::string_view s) {
      const std::uint64_t p = string_prefix(s);
      lo = std::min(lo, p);
      hi = std::max(hi, p);
    });
  }
  if (parallel || n < 4096 || lo >= hi) {  // few, or most share their first eight bytes
    each([&](std::string_view s) { keys.emplace_back(prefixed_view{string_prefix(s), s}); });
    if (parallel) {
      parallel_safe_sort(keys.data(), keys.data() + n, prefixed_less{});
    } else {
      std::sort(keys.data(), keys.data() + n, prefixed_less{});
    }
    return;
  }
  const int bits = std::clamp(static_cast<int>(std::bit_width(n >> 8)), 8, 11);
  const int shift = std::max(0, static_cast<int>(std::bit_width(hi - lo)) - bits);
  const std::size_t buckets = static_cast<std::size_t>((hi - lo) >> shift) + 1;
  auto bucket_of = [&](std::uint64_t p) -> std::size_t {
    if (p < lo) return 0;
    return std::min<std::size_t>(buckets - 1, static_cast<std::size_t>((p - lo) >> shift));
  };
  std::vector<std::size_t> ends(buckets + 1, 0);
  each([&](std::string_view s) { ++ends[bucket_of(string_prefix(s)) + 1]; });
  for (std::size_t b = 1; b <= buckets; ++b) ends[b] += ends[b - 1];
  std::vector<std::size_t> next(ends.begin(), ends.end() - 1);
  prefixed_view* placed = keys.data();
  each([&](std::string_view s) {
    const std::uint64_t p = string_prefix(s);
    ::new (static_cast<void*>(placed + next[bucket_of(p)]++)) prefixed_view{p, s};
  });
  keys.append_written(n);
  prefixed_view* out = keys.data();
  auto key_of = [](const prefixed_view& v) { return v.prefix; };
  auto changed = [] { return std::logic_error("sort: a string's first bytes changed while it was sorted"); };
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t size = ends[b + 1] - ends[b];
    if (size < 2) continue;
    if (b == 0 || b == buckets - 1) {  // may hold numbers outside the sample's range
      std::sort(out + ends[b], out + ends[b + 1], prefixed_less{});
    } else {
      sort_bucket(out + ends[b], size, lo + (static_cast<std::uint64_t>(b) << shift), shift, key_of,
                  prefixed_less{}, changed, false);
    }
  }
}

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS

namespace dataflow::detail {

DATAFLOW_INLINE void sort_prefixed(std::string_view* begin, std::string_view* end, bool parallel) {
  const auto n = static_cast<std::size_t>(end - begin);
  auto each = [&](auto&& f) {
    for (const std::string_view* p = begin; p != end; ++p) f(*p);
  };
  auto sample = [&](auto&& f) {
    const std::size_t step = std::max<std::size_t>(1, n / 2048);
    for (std::size_t i = 0; i < n; i += step) f(begin[i]);
  };
  item_buffer<prefixed_view> keys;
  sort_prefixed_keys(n, each, sample, keys, parallel);
  for (std::size_t i = 0; i < n; ++i) begin[i] = keys[i].s;
}

}  // namespace dataflow::detail
#endif
