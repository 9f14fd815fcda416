// The bytes of the strings of a large in-memory bytewise sort, kept by ranges of their first
// eight bytes, so that the memory of a range the output has passed can go while the rest is
// written.
//
// Fresh memory is dear (see big_alloc.hpp), and the output of a sort written to a file is
// fresh memory too: the page cache takes as many pages as the file has bytes. Pages a process
// has just freed are taken again at once, cheaply. With the strings in input order, no page of
// them could go before the last string was written; kept by range, each range goes once the
// output is past it, and the file's pages reuse it. sort_lines of 2 GB to a file, 2 threads on
// 2 cores: its stage that sorts and writes took 3.6-3.9 s before, 2.4-2.8 s after, each run
// started on memory the system had taken back (the whole run: 7.5-7.7 s, 6.1-6.7 s). The
// sort sorts a group only as the output reaches it (sort_ranges.hpp).
//
// Each string is kept as a record: its length (one byte, or a mark and eight bytes for 255
// bytes or more), then its bytes. A thread notes where its records lie in each group (extents,
// a slice or a long string each), so the sort reads a group's strings from them and needs no
// view of each string held beside it: 16 bytes a string of fresh memory (320 MB for 2 GB of
// 100-byte lines) where the record adds one (nine from 255 bytes on). sort_lines of 2 GB, 2 threads on 2 cores: peak
// RSS 2335-2349 MiB with views, 2021-2026 MiB with records; to /dev/null 3.18 s against
// 2.99 s (4 interleaved rounds), to a file started on memory the system had taken back 5.10 s
// against 4.93 s (5 rounds).
//
// The groups are ranges of equal shares of a sample (the first strings a thread held), so
// skewed strings spread over them too. Each group's bytes lie in blocks of its own, which
// threads take a slice at a time (one lock a slice, not a string); a string longer than a
// slice is taken alone, and one longer than half a block gets a block of its own. Every block
// is a mapping of its own, so that freeing it gives its memory back to the system at once (the
// heap would keep it).
#pragma once

#include <dataflow/storage/big_alloc.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

namespace dataflow::detail {

/// The bytes of groups freed while the output was read, before the sort's end, since the
/// process started (for tests and figures).
inline std::atomic<std::uint64_t> line_groups_released_early_total{0};

class line_groups {
 public:
  static constexpr std::size_t count = 16;
  // A group's blocks double from first_block_bytes up to a huge page each. Until the group has
  // mapped huge_from_bytes they are in 4 KiB pages, of which only those written are memory; a
  // huge page is memory whole once written at all, which 16 groups of a sort of 100 MB paid
  // for with 26 MiB more RSS (146 MiB before, 173 MiB).
  static constexpr std::size_t first_block_bytes = std::size_t{256} << 10;
  static constexpr std::size_t block_bytes = huge_page_size;
  static constexpr std::size_t huge_from_bytes = std::size_t{8} << 20;
  static constexpr std::size_t slice_bytes = std::size_t{16} << 10;

  /// Records that lie one after another: a slice's, or a long string's.
  struct extent {
    const char* begin;
    const char* end;
  };

  /// A thread's place in each group: the rest of the slice it took last, what it took, and
  /// where its records lie.
  struct cursor {
    std::array<char*, count> from{};  // where the records not yet in `extents` begin
    std::array<char*, count> at{};
    std::array<char*, count> end{};
    std::array<std::size_t, count> taken{};  // bytes, per group
    std::size_t bytes = 0;                   // all groups', for the memory gauge
    std::array<std::vector<extent>, count> extents;  // complete once close() has been called
    std::array<std::size_t, count> strings{};        // per group

    /// Notes the records of the slices in use as extents (their rest stays unused).
    void close() {
      for (std::size_t g = 0; g < count; ++g) end_extent(g);
    }
    void end_extent(std::size_t g) {
      if (at[g] != from[g]) extents[g].push_back({from[g], at[g]});
      from[g] = at[g];
    }
  };

  /// The bytes a record of a string of `n` bytes takes.
  static constexpr std::size_t record_bytes(std::size_t n) noexcept {
    return n + (n < long_mark ? 1 : 1 + sizeof(std::uint64_t));
  }

  /// Calls f(std::string_view) for each string of the records of `e`, in order.
  template <class F>
  static void for_each_string(const extent& e, F&& f) {
    for (const char* p = e.begin; p != e.end;) f(next_string(p));
  }

  /// The first string of the records of `e` (not empty).
  static std::string_view first_string(const extent& e) noexcept {
    const char* p = e.begin;
    return next_string(p);
  }

  /// Groups of equal shares of `sample` (string prefixes as numbers; sorted here).
  explicit line_groups(std::vector<std::uint64_t> sample) {
    std::sort(sample.begin(), sample.end());
    for (std::size_t k = 0; k + 1 < count; ++k) {
      bounds_[k] = sample.empty() ? ~std::uint64_t{0} : sample[(k + 1) * sample.size() / count];
    }
  }
  line_groups(const line_groups&) = delete;
  line_groups& operator=(const line_groups&) = delete;
  ~line_groups() {
    for (std::size_t g = 0; g < count; ++g) release(g);
  }

  /// The group of a string whose first eight bytes, as a big-endian number, are `prefix`:
  /// group g holds the prefixes from bound(g - 1) up to, not including, bound(g).
  std::size_t group_of(std::uint64_t prefix) const noexcept {
    std::size_t g = 0;
    for (std::size_t step = count / 2; step > 0; step /= 2) {
      g += prefix >= bounds_[g + step - 1] ? step : 0;
    }
    return g;
  }
  /// The prefix every string of group g lies below (g < count - 1).
  std::uint64_t bound(std::size_t g) const noexcept { return bounds_[g]; }

  /// Copies `s` (whose prefix is `prefix`) into its group and returns the copy.
  std::string_view copy(cursor& c, std::string_view s, std::uint64_t prefix) {
    return copy_into(c, group_of(prefix), s);
  }

  /// Copies `s` into group g (its group: group_of its prefix) as a record and returns the copy.
  std::string_view copy_into(cursor& c, std::size_t g, std::string_view s) {
    const std::size_t n = record_bytes(s.size());
    char* p;
    if (n > slice_bytes) {
      c.end_extent(g);  // the records so far first: a thread's strings stay in order
      p = take(c, g, n);  // the cursor's slice stays for the short strings to come
      c.extents[g].push_back({p, p + n});
    } else {
      if (static_cast<std::size_t>(c.end[g] - c.at[g]) < n) {
        c.end_extent(g);
        c.from[g] = c.at[g] = take(c, g, slice_bytes);
        c.end[g] = c.at[g] + slice_bytes;
      }
      p = c.at[g];
      c.at[g] += n;
    }
    if (s.size() < long_mark) {
      *p++ = static_cast<char>(s.size());
    } else {
      *p++ = static_cast<char>(long_mark);
      const std::uint64_t big = s.size();
      std::memcpy(p, &big, sizeof big);
      p += sizeof big;
    }
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    ++c.strings[g];
    return {p, s.size()};
  }

  /// Frees group g's bytes (no view of them may be read after); returns how many.
  std::size_t release(std::size_t g) noexcept {
    group& x = groups_[g];
    std::lock_guard<std::mutex> lock(x.m);
    std::size_t freed = 0;
    for (const block& b : x.blocks) {
      if (b.big) {
        big_deallocate(b.data, b.size);
      } else {
        unmap(b.data, b.size);
      }
      freed += b.size;
    }
    x.blocks = {};
    x.next = x.end = nullptr;
    x.mapped = 0;
    return freed;
  }

 private:
  static constexpr std::size_t long_mark = 255;  // a record's first byte, when eight follow

  /// Reads the record at p and moves p past it.
  static std::string_view next_string(const char*& p) noexcept {
    std::size_t n = static_cast<unsigned char>(*p++);
    if (n == long_mark) {
      std::uint64_t big;
      std::memcpy(&big, p, sizeof big);
      p += sizeof big;
      n = static_cast<std::size_t>(big);
    }
    const std::string_view s(p, n);
    p += n;
    return s;
  }

  struct block {
    char* data;
    std::size_t size;
    bool big;  // from big_allocate_uninit; else from map_small_pages
  };
  struct alignas(64) group {
    std::mutex m;
    std::vector<block> blocks;
    char* next = nullptr;  // the rest of the last block
    char* end = nullptr;
    std::size_t mapped = 0;  // the blocks' bytes
  };

  /// Takes `n` bytes of group g for cursor c: from the group's last block, or a new one (of
  /// its own for a string longer than half a block).
  char* take(cursor& c, std::size_t g, std::size_t n) {
    group& x = groups_[g];
    std::lock_guard<std::mutex> lock(x.m);
    if (static_cast<std::size_t>(x.end - x.next) < n) {
      if (x.blocks.size() == x.blocks.capacity()) x.blocks.reserve(std::max<std::size_t>(8, 2 * x.blocks.size()));
      std::size_t size = std::min(block_bytes, first_block_bytes << std::min<std::size_t>(x.blocks.size(), 8));
      const bool own = n > size / 2;
      if (own) size = n;
      const bool huge = size >= huge_page_size && x.mapped >= huge_from_bytes;
      auto* p = static_cast<char*>(huge ? big_allocate_uninit(size, page_kind::ordinary) : map_small_pages(size));
      x.blocks.push_back(block{p, size, huge});  // room reserved: cannot throw
      x.mapped += size;
      if (!own) {
        x.next = p;
        x.end = p + size;
      }
      c.taken[g] += size;  // what the thread's strings made the group map
      c.bytes += size;
      if (own) return p;
    }
    char* p = x.next;
    x.next += n;
    return p;
  }

  std::array<std::uint64_t, count - 1> bounds_{};
  std::array<group, count> groups_;
};

}  // namespace dataflow::detail
