// In-memory sort by an integral key: distribute, then sort small buckets.
//
// A parallel quicksort over every item partitions the whole array about log2(n) times, each a
// pass over memory that does not fit in cache. With an integral key the order of key ranges is
// known before comparing anything: one pass counts each chunk's items per range (bucket), one
// moves them to their bucket's place in the output, and the buckets (a few thousand items each,
// in cache) sort in parallel. Items of equal keys land in one bucket, which sorts like any
// other, so skewed keys cost what a quicksort of that bucket costs. A bytewise sort of strings
// goes the same way with each string's first eight bytes as the key, the strings compared only
// where those tie.
#pragma once

#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/safe_sort.hpp>
#include <dataflow/graph/stage.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace dataflow::detail {

/// True for keys that map to 64-bit unsigned integers in the same order.
template <class K>
inline constexpr bool distributable_key =
    std::is_integral_v<K> && !std::is_same_v<K, bool> && sizeof(K) <= sizeof(std::uint64_t);

/// The key as an unsigned integer in the same order (signed keys have their sign bit flipped).
template <class K>
std::uint64_t ordered_bits(K k) noexcept {
  if constexpr (std::is_signed_v<K>) {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(k)) ^ (std::uint64_t{1} << 63);
  } else {
    return static_cast<std::uint64_t>(k);
  }
}

/// Below this many items a parallel quicksort is as fast, and the distribution's tables are
/// not worth their memory.
inline constexpr std::size_t distribute_from_items = std::size_t{1} << 16;

/// The most items sort_bucket moves through a copy: 8 MiB of 32-byte items.
inline constexpr std::size_t bucket_sort_items = std::size_t{1} << 18;

/// Sorts the m items at `a`, whose keys lie in [base, base + 2^shift): counted and moved once
/// more by their next bits (in cache now), so that what is left to compare are runs of an
/// item or two; a bucket of one key needs nothing.
/// With `key_decides` false, items of one key still need `less` to order them.
template <class T, class KeyOf, class Less, class Changed>
void sort_bucket(T* a, std::size_t m, std::uint64_t base, int shift, const KeyOf& key_of, const Less& less,
                 const Changed& changed_key, bool key_decides) {
  if (shift == 0 && key_decides) return;  // every key is `base`
  if (shift == 0 || m < 64 || m > bucket_sort_items) {  // a bucket of skewed keys sorts without a copy of it
    safe_sort(a, a + m, less);
    return;
  }
  const int bits = std::min(shift, std::clamp(static_cast<int>(std::bit_width(m)), 1, 16));
  const int rest = shift - bits;
  const std::size_t slots = std::size_t{1} << bits;
  std::vector<std::uint32_t> ends(slots + 1, 0);
  auto slot_of = [&](const T& x) -> std::size_t {
    const std::uint64_t k = key_of(x);
    if (k < base || ((k - base) >> rest) >= slots) throw changed_key();
    return static_cast<std::size_t>((k - base) >> rest);
  };
  for (std::size_t i = 0; i < m; ++i) ++ends[slot_of(a[i]) + 1];
  for (std::size_t i = 1; i <= slots; ++i) ends[i] += ends[i - 1];
  std::vector<std::uint32_t> at(ends.begin(), ends.end() - 1);
  std::unique_ptr<unsigned char[]> raw(new unsigned char[m * sizeof(T) + alignof(T)]);
  void* place = raw.get();
  std::size_t room = m * sizeof(T) + alignof(T);
  T* tmp = static_cast<T*>(std::align(alignof(T), m * sizeof(T), place, room));
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t sl = slot_of(a[i]);
    if (at[sl] == ends[sl + 1]) throw changed_key();
    std::memcpy(static_cast<void*>(tmp + at[sl]++), static_cast<const void*>(a + i), sizeof(T));
  }
  std::memcpy(static_cast<void*>(a), static_cast<const void*>(tmp), m * sizeof(T));
  if (rest == 0 && key_decides) return;  // one key a slot
  for (std::size_t sl = 0; sl < slots; ++sl) {
    if (ends[sl + 1] - ends[sl] > 1) safe_sort(a + ends[sl], a + ends[sl + 1], less);
  }
}

/// The error of a sort whose key function gave an item two different keys.
inline op_failure changed_key_failure(const std::string& label) {
  return op_failure(&label, std::make_exception_ptr(std::logic_error(
                                "the key function gave one item two different keys; sort_by needs the "
                                "same key for an item every time")));
}

/// The buckets of n keys in [lo, hi]: equal ranges of keys, about 16K items a bucket (half a
/// MiB of 32-byte items: an L2 cache) and 2048 buckets at most (a move pass writes to that many
/// places at once).
struct key_buckets {
  std::uint64_t lo, hi;
  int shift;          // a bucket's keys share their bits above this one
  std::size_t count;  // buckets

  key_buckets(std::uint64_t lo_key, std::uint64_t hi_key, std::size_t n) noexcept : lo(lo_key), hi(hi_key) {
    const int bucket_bits = std::clamp(static_cast<int>(std::bit_width(n >> 14)), 1, 11);
    shift = std::max(0, static_cast<int>(std::bit_width(hi - lo)) - bucket_bits);
    count = static_cast<std::size_t>((hi - lo) >> shift) + 1;
  }

  /// The bucket of key k; a key outside [lo, hi] was not there when they were counted.
  template <class Changed>
  std::size_t of(std::uint64_t k, const Changed& changed_key) const {
    if (k < lo || k > hi) throw changed_key();
    return static_cast<std::size_t>((k - lo) >> shift);
  }
  std::uint64_t base(std::size_t b) const noexcept { return lo + (static_cast<std::uint64_t>(b) << shift); }
};

/// Sorts the n items at `a` by key_of (ordered_bits values) into `out` (room for n items,
/// uninitialized) on the calling thread: one pass finds the keys' range, one counts the items
/// of each bucket, one moves them to their bucket's place in `out`, and the buckets sort in
/// cache (sort_bucket). A sort of a run before it spills, with `out` its thread's scratch: a
/// quicksort partitions a run of a million items some twenty times, mispredicting half its
/// compares. changed_key() makes the error for a key function that gives an item two keys.
template <class T, class KeyOf, class Less, class Changed>
void distribute_sort_run(const T* a, std::size_t n, T* out, const KeyOf& key_of, const Less& less,
                         const Changed& changed_key) {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied as bytes and never destroyed");
  if (n == 0) return;
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t k = key_of(a[i]);
    lo = std::min(lo, k);
    hi = std::max(hi, k);
  }
  const key_buckets plan(lo, hi, n);
  std::vector<std::size_t> ends(plan.count + 1, 0);
  for (std::size_t i = 0; i < n; ++i) ++ends[plan.of(key_of(a[i]), changed_key) + 1];
  for (std::size_t b = 1; b <= plan.count; ++b) ends[b] += ends[b - 1];
  std::vector<std::size_t> at(ends.begin(), ends.end() - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t b = plan.of(key_of(a[i]), changed_key);
    if (at[b] == ends[b + 1]) throw changed_key();  // more items in b than counted
    std::memcpy(static_cast<void*>(out + at[b]++), static_cast<const void*>(a + i), sizeof(T));
  }
  for (std::size_t b = 0; b < plan.count; ++b) {
    const std::size_t size = ends[b + 1] - ends[b];
    if (size > 1) sort_bucket(out + ends[b], size, plan.base(b), plan.shift, key_of, less, changed_key, true);
  }
}

/// As distribute_sort, with the output items made from the sources' by make(item) (a view and
/// its key side by side, say): key_of reads a source item's key, out_key an output item's, and
/// with `key_decides` false, `less` orders the items of equal keys too.
template <class T, class Out, class KeyOf, class OutKey, class Make, class Less>
bool distribute_sort_into(run_state& run, const std::vector<std::span<T>>& sources, Out* out, const KeyOf& key_of,
                          const OutKey& out_key, const Make& make, const Less& less, const std::string& label,
                          bool key_decides) {
  static_assert(std::is_trivially_copyable_v<Out>, "items are copied as bytes and never destroyed");
  std::size_t n = 0;
  for (std::span<T> s : sources) n += s.size();
  // A few hundred chunks at most: each has a count and a place per bucket.
  const std::size_t chunk_items = std::max(std::size_t{1} << 17, n / 256 + 1);
  std::vector<std::span<T>> chunks;
  for (std::span<T> s : sources) {
    for (std::size_t i = 0; i < s.size(); i += chunk_items) chunks.push_back(s.subspan(i, std::min(chunk_items, s.size() - i)));
  }
  if (n == 0) return true;
  auto stopped = [&] { return run.has_enough() || stop_requested(); };
  auto changed_key = [&label]() { return changed_key_failure(label); };

  // The range of the keys, so that the buckets split it evenly.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges(chunks.size(), {~std::uint64_t{0}, 0});
  for_each_partition(run, chunks.size(), [&](std::size_t c) {
    auto [lo, hi] = ranges[c];
    for (const T& x : chunks[c]) {
      const std::uint64_t k = key_of(x);
      lo = std::min(lo, k);
      hi = std::max(hi, k);
    }
    ranges[c] = {lo, hi};
  });
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
  for (auto [l, h] : ranges) lo = std::min(lo, l), hi = std::max(hi, h);
  if (stopped()) return false;

  const key_buckets plan(lo, hi, n);
  const int shift = plan.shift;
  const std::size_t buckets = plan.count;
  auto bucket_of = [&](std::uint64_t k) -> std::size_t { return plan.of(k, changed_key); };

  // Counts per chunk and bucket, then each chunk's place in each bucket.
  std::vector<std::size_t> at(chunks.size() * buckets, 0);
  for_each_partition(run, chunks.size(), [&](std::size_t c) {
    std::size_t* counts = at.data() + c * buckets;
    for (const T& x : chunks[c]) ++counts[bucket_of(key_of(x))];
  });
  if (stopped()) return false;
  std::vector<std::size_t> left(at);  // what each chunk has yet to place in each bucket
  std::vector<std::size_t> bucket_begin(buckets + 1, 0);
  std::size_t next = 0;
  for (std::size_t b = 0; b < buckets; ++b) {
    bucket_begin[b] = next;
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      const std::size_t count = at[c * buckets + b];
      at[c * buckets + b] = next;
      next += count;
    }
  }
  bucket_begin[buckets] = next;

  for_each_partition(run, chunks.size(), [&](std::size_t c) {
    std::size_t* places = at.data() + c * buckets;
    std::size_t* rest = left.data() + c * buckets;
    for (const T& x : chunks[c]) {
      const std::size_t b = bucket_of(key_of(x));
      if (rest[b]-- == 0) throw changed_key();  // more items in b than counted
      ::new (static_cast<void*>(out + places[b]++)) Out(make(x));
    }
  });

  if (stopped()) return false;

  // Buckets sort one to a thread; one that holds much of the input (skewed keys) in parallel.
  const std::size_t large = std::max<std::size_t>(distribute_from_items, n / (4 * std::max<std::size_t>(1, run.ctx().threads())));
  std::vector<std::size_t> large_buckets;
  for (std::size_t b = 0; b < buckets; ++b) {
    if (bucket_begin[b + 1] - bucket_begin[b] > large) large_buckets.push_back(b);
  }
  for_each_partition(run, buckets, [&](std::size_t b) {
    const std::size_t size = bucket_begin[b + 1] - bucket_begin[b];
    if (size > 1 && size <= large) {
      sort_bucket(out + bucket_begin[b], size, plan.base(b), shift, out_key, less,
                  changed_key, key_decides);
    }
  });
  for (std::size_t b : large_buckets) {
    run.ctx().arena().execute([&] { parallel_safe_sort(out + bucket_begin[b], out + bucket_begin[b + 1], less); });
  }
  return !stopped();
}

/// Copies the items of `sources` into `out` (room for all of them, uninitialized) in the order
/// of key_of(item), an ordered_bits value; `less` orders two items by the same key and sorts
/// each bucket. Returns false when the run stopped first (then `out` holds no item). key_of is
/// called several times an item and must give the same key each time: a key function that does
/// not (a counter, a clock) gets a stage error naming `label`, never a write outside `out`.
template <class T, class KeyOf, class Less>
bool distribute_sort(run_state& run, const std::vector<std::span<T>>& sources, T* out,
                     const KeyOf& key_of, const Less& less, const std::string& label) {
  return distribute_sort_into(run, sources, out, key_of, key_of, [](const T& x) -> const T& { return x; }, less, label, true);
}

/// A string view beside its first eight bytes as a big-endian number (zero-padded): a bytewise
/// sort distributes by the number and compares strings only where numbers tie.
struct prefixed_view {
  std::uint64_t prefix;
  std::string_view s;
};

inline std::uint64_t string_prefix(std::string_view s) noexcept {
  std::uint64_t p = 0;
  if (s.size() >= 8) {
    std::memcpy(&p, s.data(), 8);  // one load, not a copy of a variable length
  } else if (!s.empty()) {
    std::memcpy(&p, s.data(), s.size());
  }
  return __builtin_bswap64(p);
}

/// Bytewise order of prefixed views: the numbers, then the strings where they tie (equal first
/// eight bytes, or shorter strings padded with zeros).
struct prefixed_less {
  bool operator()(const prefixed_view& a, const prefixed_view& b) const noexcept {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return a.s < b.s;
  }
};

/// Sorts the string views of `sources` bytewise into `out` (room for all of them); false when
/// the run stopped first.
inline bool distribute_sort_strings(run_state& run, const std::vector<std::span<std::string_view>>& sources,
                                    prefixed_view* out, const std::string& label) {
  return distribute_sort_into(
      run, sources, out, [](std::string_view s) { return string_prefix(s); },
      [](const prefixed_view& v) { return v.prefix; },
      [](std::string_view s) { return prefixed_view{string_prefix(s), s}; }, prefixed_less{}, label, false);
}

}  // namespace dataflow::detail
