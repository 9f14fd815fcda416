// Hash tables shared by the threads of a keyed reduction, one per output partition, for keys
// that barely repeat.
//
// Per-thread tables pay off while keys repeat: a hot key is one entry in each thread's table
// and stays in its cache. When most keys are new, every thread's tables end up holding most of
// them: the memory is multiplied by the thread count, and all of it is fresh memory to fault in
// and then merge. Here each key lives in one table once. A thread stages its items per
// partition, up to a few thousand at a time, and folds a full stage into the partition's table
// under that table's lock: one lock per stage, and with several partitions per thread, rarely a
// wait.
#pragma once

#include <dataflow/detail/hash_table.hpp>
#include <dataflow/storage/big_alloc.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

namespace dataflow::detail {

/// One table per partition, each behind its own spin lock (held for one stage's folds).
template <class Entry, class Slots = hashed_slots>
class shared_tables {
 public:
  using table = hash_table<Entry, Slots>;

  explicit shared_tables(std::size_t parts)
      : parts_(std::make_unique<part[]>(parts)), count_(parts) {}

  std::size_t size() const noexcept { return count_; }

  /// Runs f(table&) holding partition p's lock; the lock is released however f returns.
  template <class F>
  void with_table(std::size_t p, F&& f) {
    part& x = parts_[p];
    lock(x.busy);
    struct unlock {
      std::atomic<bool>& busy;
      ~unlock() { busy.store(false, std::memory_order_release); }
    } guard{x.busy};
    f(x.t);
  }

  /// Runs f(table&) holding partition p's lock if it is free now; returns whether it ran.
  template <class F>
  bool try_with_table(std::size_t p, F&& f) {
    part& x = parts_[p];
    if (x.busy.load(std::memory_order_relaxed) || x.busy.exchange(true, std::memory_order_acquire)) {
      return false;
    }
    struct unlock {
      std::atomic<bool>& busy;
      ~unlock() { busy.store(false, std::memory_order_release); }
    } guard{x.busy};
    f(x.t);
    return true;
  }

  /// Partition p's table, for a single thread once the input stage has ended.
  table& at(std::size_t p) noexcept { return parts_[p].t; }

 private:
  struct alignas(64) part {
    std::atomic<bool> busy{false};
    table t{0};
  };

  static void lock(std::atomic<bool>& busy) noexcept {
    for (unsigned spins = 0; busy.exchange(true, std::memory_order_acquire);) {
      while (busy.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();  // the holder may have been preempted
        }
      }
    }
  }

  std::unique_ptr<part[]> parts_;
  std::size_t count_;
};

/// One thread's staged items: per partition, up to per_part() entries with their hashes,
/// constructed in place, and behind them the items deferred while the partition's table was
/// busy (another thread was folding into it, or growing it: a growth faults in fresh memory for
/// tens of milliseconds, and waiting for it cost a fifth of the run with 50M keys). Only for
/// entries that copy as bytes: a stage destroys nothing.
template <class Entry>
class table_stage {
 public:
  struct waiting {
    std::uint64_t hash;
    alignas(Entry) unsigned char raw[sizeof(Entry)];
    Entry& get() noexcept { return *std::launder(reinterpret_cast<Entry*>(raw)); }
  };

  // A stage is long: a fold visits its table with many items at once, while the table's pages
  // are in the TLB, and takes its lock once for them all. With 16 partitions of 4 MiB tables,
  // word_count of 1 GiB at 2 threads took 2.26 s with stages of 32 items, 1.61 s with 512 and
  // 1.57 s with 2048 (group_sum 100M rows / 1M keys: 2.90, 2.44 and 2.39 s). All partitions'
  // stages together stay within stage_bytes (an L2 cache), or a sixteenth of the thread's
  // share of a budget, and hold at least min_per_part items each.
  static constexpr std::size_t stage_bytes = std::size_t{1} << 20;
  static constexpr std::size_t min_per_part = 32, max_per_part = 2048;

  /// Stages for `parts` partitions, all together within `max_bytes` where it allows
  /// min_per_part items each.
  explicit table_stage(std::size_t parts, std::size_t max_bytes = stage_bytes)
      : per_part_(per_part_for(parts, max_bytes)),
        items_(make_items(parts * per_part_), {parts * per_part_}),
        counts_(std::make_unique<std::uint32_t[]>(parts)),
        deferred_(parts),
        parts_(parts) {}
  table_stage(table_stage&& o) noexcept
      : per_part_(o.per_part_),
        items_(std::move(o.items_)),
        counts_(std::move(o.counts_)),
        deferred_(std::move(o.deferred_)),
        deferred_bytes_(o.deferred_bytes_.load(std::memory_order_relaxed)),
        parts_(o.parts_) {}

  /// The items a partition's stage holds when full.
  std::size_t per_part() const noexcept { return per_part_; }
  static std::size_t per_part_for(std::size_t parts, std::size_t max_bytes) noexcept {
    const std::size_t per_item = std::max<std::size_t>(parts, 1) * sizeof(waiting);
    const std::size_t fit = std::min(max_bytes, stage_bytes) / per_item;
    std::size_t n = min_per_part;
    while (2 * n <= std::min(fit, max_per_part)) n *= 2;
    return n;
  }

  /// The place for partition p's next entry; commit(p, hash) keeps what was constructed there.
  waiting& next(std::size_t p) noexcept { return items_[p * per_part_ + counts_[p]]; }
  /// Keeps the entry just constructed at next(p); returns true when p's stage is full.
  bool commit(std::size_t p, std::uint64_t hash) noexcept {
    next(p).hash = hash;
    return ++counts_[p] == per_part_;
  }

  /// Moves partition p's stage behind its deferred items; returns how many are deferred now.
  std::size_t defer(std::size_t p) {
    std::vector<waiting>& d = deferred_[p];
    const std::size_t before = d.capacity();
    d.insert(d.end(), items_.get() + p * per_part_, items_.get() + p * per_part_ + counts_[p]);
    counts_[p] = 0;
    deferred_bytes_.fetch_add((d.capacity() - before) * sizeof(waiting), std::memory_order_relaxed);
    return d.size();
  }

  /// Calls f(std::span<waiting>) with what partition p holds, deferred items first, and empties
  /// it (the deferred items' memory goes). Touches partition p's state only: threads may take
  /// different partitions of one stage at once.
  template <class F>
  void take(std::size_t p, F&& f) {
    if (deferred_[p].empty()) {
      const std::size_t n = counts_[p];
      counts_[p] = 0;
      f(std::span<waiting>(items_.get() + p * per_part_, n));
      return;
    }
    defer(p);
    std::vector<waiting> d = std::move(deferred_[p]);
    std::vector<waiting>().swap(deferred_[p]);  // `= {}` assigns an empty list: GCC 12 -Wnonnull
    deferred_bytes_.fetch_sub(d.capacity() * sizeof(waiting), std::memory_order_relaxed);
    f(std::span<waiting>(d));
  }

  std::size_t parts() const noexcept { return parts_; }
  std::size_t bytes() const noexcept {
    return parts_ * (per_part_ * sizeof(waiting) + sizeof(std::uint32_t)) +
           deferred_bytes_.load(std::memory_order_relaxed);
  }

 private:
  // The staged items, in pages of their own: see map_zeroed.
  static waiting* make_items(std::size_t n) {
    auto* p = static_cast<waiting*>(map_zeroed(n * sizeof(waiting)));
    std::uninitialized_default_construct_n(p, n);  // trivial: no code, but objects now live there
    return p;
  }
  struct unmapper {
    std::size_t n = 0;
    void operator()(waiting* p) const noexcept { unmap(p, n * sizeof(waiting)); }
  };

  std::size_t per_part_;
  std::unique_ptr<waiting[], unmapper> items_;
  std::unique_ptr<std::uint32_t[]> counts_;
  std::vector<std::vector<waiting>> deferred_;  // per partition
  std::atomic<std::size_t> deferred_bytes_{0};  // the capacity of deferred_'s vectors
  std::size_t parts_;
};

/// Runs fold(table&) on partition p's shared table if no other thread holds it now; if one
/// does, defers p's stage and goes on, and waits for the table only once p has defer_items
/// deferred, or the stage holds max_bytes (at most defer_bytes) in all.
template <class Entry, class Slots, class F>
void fold_or_defer(shared_tables<Entry, Slots>& tables, table_stage<Entry>& stage, std::size_t p,
                   std::size_t max_bytes, F&& fold) {
  constexpr std::size_t defer_items = 16384, defer_bytes = std::size_t{16} << 20;
  if (tables.try_with_table(p, fold)) return;
  if (stage.defer(p) < defer_items && stage.bytes() < std::min(defer_bytes, max_bytes)) return;
  tables.with_table(p, fold);
}

}  // namespace dataflow::detail
