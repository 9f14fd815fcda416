// The output of a large in-memory bytewise sort of strings kept by range (line_groups.hpp):
// each range sorted when the output first reaches it, from the records the threads wrote.
//
// No array of every view in order is made, and no copy of them all with their first eight
// bytes to sort by (24 bytes a string, all fresh memory: 480 MB for 2 GB of 100-byte lines).
// The first thread to need a range sorts it; a thread that finds it being sorted sorts a later
// range no thread has taken, up to as many ahead as there are threads, or waits. A range's
// sorted numbers and views (24 bytes a string) are read by the output and then serve the sort
// of a later range. A range of more than twice its share (skewed strings) is sorted before the
// output starts, on every thread (sort_large): sorted on one thread as the output reached it,
// it would hold the output up.
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/graph/memory_gauge.hpp>
#include <dataflow/ops/sort_prefixed.hpp>
#include <dataflow/storage/item_buffer.hpp>
#include <dataflow/storage/line_groups.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::detail {

class sorted_ranges {
 public:
  using extent = line_groups::extent;

  /// What a range holds: records (their extents, in the order the output reads them) and the
  /// strings in them, and views of strings kept elsewhere (those a thread held before the
  /// sort kept strings by range).
  struct input {
    std::vector<extent> records;
    std::size_t strings = 0;  // in the records
    std::vector<std::string_view> views;
  };

  /// Takes what each range holds; `ahead`: how many ranges past the one it waits for a thread
  /// may sort meanwhile (the thread count). What the ranges and their sorts hold is charged to
  /// `charge`.
  void assign(std::vector<input> ranges, std::size_t ahead, gauge_charge charge) {
    parts_ = std::move(ranges);
    const std::size_t count = parts_.size();
    ends_.clear();
    std::size_t n = 0;
    for (const input& r : parts_) ends_.push_back(n += r.strings + r.views.size());
    sorted_.clear();
    sorted_.resize(count);
    state_ = std::make_unique<std::atomic<int>[]>(count);
    ahead_ = std::max<std::size_t>(2, ahead);
    unsorted_ = 0;
    for (std::size_t g = 0; g < count; ++g) {
      if (size_of(g) == 0) {
        state_[g].store(sorted, std::memory_order_relaxed);
      } else {
        ++unsorted_;
      }
    }
    spare_keys_.reserve(ahead_ + 1);  // a sort's scratch goes back without allocating
    std::lock_guard<std::mutex> lock(mutex_);
    charge_ = std::move(charge);
    recharge();
  }

  bool empty() const noexcept { return ends_.empty(); }
  /// The strings of all ranges.
  std::size_t size() const noexcept { return ends_.empty() ? 0 : ends_.back(); }
  /// Where range g's strings end in the output.
  std::size_t end_of(std::size_t g) const noexcept { return ends_[g]; }
  std::size_t ranges() const noexcept { return ends_.size(); }

  /// Sorts every range of more than `limit` strings now; `on_every_thread(f)` runs f, which may
  /// use every thread of the calling arena.
  template <class OnEveryThread>
  void sort_large(std::size_t limit, OnEveryThread&& on_every_thread) {
    for (std::size_t g = 0; g < ranges(); ++g) {
      if (size_of(g) > limit && claim(g)) on_every_thread([&] { sort_range(g, true); });
    }
    std::lock_guard<std::mutex> lock(mutex_);
    spare_keys_.clear();  // a skewed range's scratch is larger than the others need
    recharge();
  }

  /// Calls f(std::span<const std::string_view>) with the views [begin, end) of the output in
  /// order, at most `step` (and `prefetched`) at a time, each range sorted first
  /// (ensure_sorted). Returns false when stopped() said so first. Running out of memory to sort
  /// a range is a memory_error of `label`.
  template <class Stopped, class F>
  bool for_each(std::size_t begin, std::size_t end, std::size_t step, const Stopped& stopped, F&& f,
                const std::string& label) {
    const std::size_t chunk = std::min(step, prefetched);
    std::vector<std::string_view> views;
    for (std::size_t g = 0, at = 0; g < ranges() && at < end; at = ends_[g++]) {
      if (ends_[g] <= begin) continue;
      try {
        if (!ensure_sorted(g, stopped)) return false;
        if (views.empty()) views.resize(chunk);
      } catch (const std::bad_alloc&) {
        throw memory_error(label + " (sort in memory)");
      }
      const prefixed_view* keys = sorted_[g].data();  // keys[i - at]: output position i
      const std::size_t lo = std::max(begin, at), hi = std::min(end, ends_[g]);
      auto prefetch = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
          const std::string_view s = keys[i - at].s;
          // Its first and last lines, and the one between where it spans three (a 99-byte
          // string does when it starts past byte 29 of a line: half of them). Without the
          // middle one, sort_lines of 2 GB to /dev/null at 2 threads took 2.13 s, with it
          // 1.98 s (5 interleaved rounds; user time 8% lower writing to a file, wall the same).
          // sort_merge.hpp's prefetch_item, the same three lines but the last byte instead of the
          // one after and a test for empty strings, measured slower here: 2.88 s against 2.61 s
          // (7 interleaved rounds), so it is not called.
          // Locality 2 (prefetcht1 on x86), into L2: 128 strings' lines are asked for at once,
          // far more than the L1 tracks, and prefetcht0 waited for its misses. To a file, 2 GB,
          // 2 threads on 2 cores, 5 interleaved rounds: 2.49 s before, 2.05 s after (user
          // 2.26 s, 1.81 s); to /dev/null 1.71 s and 1.39 s.
          auto load_line = [](const char* p) { __builtin_prefetch(p, 0, 2); };
          load_line(s.data());
          if (s.size() > 64) load_line(s.data() + 64);
          load_line(s.data() + s.size());  // a prefetch does not fault
        }
      };
      prefetch(lo, std::min(hi, lo + chunk));
      for (std::size_t i = lo; i < hi; i += chunk) {
        if (stopped()) return false;
        const std::size_t n = std::min(chunk, hi - i);
        for (std::size_t k = 0; k < n; ++k) views[k] = keys[i - at + k].s;
        prefetch(i + n, std::min(hi, i + n + chunk));
        f(std::span<const std::string_view>(views.data(), n));
      }
    }
    return true;
  }

  /// Frees range g's sorted views, once the output has passed it: they serve the sort of a
  /// later range, if one is left to sort and they are not much larger than a range's share
  /// (a skewed range's are freed).
  void release(std::size_t g) noexcept {
    if (g >= sorted_.size()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    item_buffer<prefixed_view> keys = std::move(sorted_[g]);
    parts_[g] = input();
    const std::size_t share = size() / ranges() + 1;
    if (keys.capacity() != 0 && keys.capacity() <= 2 * share && unsorted_ > 0 &&
        spare_keys_.size() < spare_keys_.capacity()) {
      spare_keys_.push_back(std::move(keys));  // within the room reserved: cannot throw
    }
    recharge();
  }

  /// Forgets the ranges and frees the scratch.
  void clear() noexcept {
    parts_.clear();
    sorted_.clear();
    ends_.clear();
    state_.reset();
    failure_ = nullptr;
    spare_keys_.clear();
    unsorted_ = 0;
    sorting_bytes_ = 0;
    charge_ = gauge_charge();  // the old charge drops to nothing
  }

 private:
  static constexpr int unsorted = 0, sorting = 1, sorted = 2, failed = 3;
  // The output hands on this many strings at a time, with the lines of the next as many
  // prefetched: in sorted order a string lies anywhere in its range, and its copy to the
  // output waited for memory. sort_lines of 2 GB to /dev/null, 2 threads on 2 cores, the stage
  // that sorts and writes: 2.16 s before, 1.95 s after (medians of 10 interleaved runs); 100 MB:
  // 0.51 s, 0.44 s (7 rounds).
  static constexpr std::size_t prefetched = 128;

  std::size_t size_of(std::size_t g) const noexcept { return ends_[g] - (g == 0 ? 0 : ends_[g - 1]); }

  /// Takes range g for this thread to sort, if no thread has.
  bool claim(std::size_t g) noexcept {
    int expected = unsorted;
    return state_[g].compare_exchange_strong(expected, sorting, std::memory_order_acq_rel);
  }

  /// Sorts range g's strings into sorted_[g], this thread having claimed it; kept scratch
  /// serves.
  void sort_range(std::size_t g, bool parallel) {
    item_buffer<prefixed_view> keys;
    std::size_t counted = 0;  // the bytes of `keys` in sorting_bytes_
    try {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!spare_keys_.empty()) {
          keys = std::move(spare_keys_.back());
          spare_keys_.pop_back();
        }
        counted = keys.capacity() * sizeof(prefixed_view);
        sorting_bytes_ += counted;
      }
      if (keys.capacity() < size_of(g)) {
        keys.reserve(size_of(g));
        std::lock_guard<std::mutex> lock(mutex_);
        sorting_bytes_ += keys.capacity() * sizeof(prefixed_view) - counted;
        counted = keys.capacity() * sizeof(prefixed_view);
        recharge();
      }
      const input& range = parts_[g];
      auto each = [&](auto&& f) {
        for (const extent& e : range.records) line_groups::for_each_string(e, f);
        for (std::string_view s : range.views) f(s);
      };
      auto sample = [&](auto&& f) {  // the first string of every slice (or of some), and views
        const std::size_t step = std::max<std::size_t>(1, range.records.size() / 4096);
        for (std::size_t i = 0; i < range.records.size(); i += step) f(line_groups::first_string(range.records[i]));
        const std::size_t every = std::max<std::size_t>(1, range.views.size() / 1024);
        for (std::size_t i = 0; i < range.views.size(); i += every) f(range.views[i]);
      };
      sort_prefixed_keys(size_of(g), each, sample, keys, parallel);
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!failure_) failure_ = std::current_exception();
        sorting_bytes_ -= counted;
        keys = item_buffer<prefixed_view>();
        recharge();
      }
      state_[g].store(failed, std::memory_order_release);
      state_[g].notify_all();
      throw;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sorted_[g] = std::move(keys);
      sorting_bytes_ -= counted;
      if (--unsorted_ == 0) spare_keys_.clear();  // the last sort: no scratch is needed any more
      recharge();
    }
    state_[g].store(sorted, std::memory_order_release);
    state_[g].notify_all();
  }

  /// Charges what the ranges hold now: their records' extents and views, their sorted numbers
  /// and views, the kept scratch and that of the sorts under way (mutex_ held).
  void recharge() noexcept {
    std::size_t bytes = sorting_bytes_;
    for (const input& r : parts_) {
      bytes += r.records.capacity() * sizeof(extent) + r.views.capacity() * sizeof(std::string_view);
    }
    for (const auto& keys : sorted_) bytes += keys.capacity() * sizeof(prefixed_view);
    for (const auto& keys : spare_keys_) bytes += keys.capacity() * sizeof(prefixed_view);
    charge_.set(bytes);
  }

  /// Returns once range g is sorted: sorts it, or while another thread does, sorts a later
  /// range no thread has taken, or waits. False when stopped() said so first.
  template <class Stopped>
  bool ensure_sorted(std::size_t g, const Stopped& stopped) {
    for (;;) {
      const int state = state_[g].load(std::memory_order_acquire);
      if (state == sorted) return true;
      if (state == failed) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::rethrow_exception(failure_);
      }
      if (stopped()) return false;
      if (state == unsorted) {
        if (claim(g)) sort_range(g, false);
        continue;
      }
      bool helped = false;
      for (std::size_t h = g + 1; h < ranges() && h <= g + ahead_ && !helped; ++h) {
        if (state_[h].load(std::memory_order_relaxed) == unsorted && claim(h)) {
          sort_range(h, false);
          helped = true;
        }
      }
      if (!helped) state_[g].wait(sorting, std::memory_order_acquire);
    }
  }

  std::vector<input> parts_;                      // per range
  std::vector<std::size_t> ends_;                 // per range
  std::vector<item_buffer<prefixed_view>> sorted_;  // per range, once sorted
  std::unique_ptr<std::atomic<int>[]> state_;     // per range: unsorted...
  std::size_t ahead_ = 2;
  std::mutex mutex_;  // for sorted_, spare_keys_, unsorted_, failure_, the charge, what release() frees
  std::vector<item_buffer<prefixed_view>> spare_keys_;  // sort_range's scratch, kept
  std::size_t unsorted_ = 0;                            // ranges not sorted yet
  std::size_t sorting_bytes_ = 0;                       // the scratch of sorts under way
  gauge_charge charge_;
  std::exception_ptr failure_;                          // what a failed sort threw
};

}  // namespace dataflow::detail
