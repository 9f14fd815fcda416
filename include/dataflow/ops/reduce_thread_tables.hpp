// One thread's tables in the input stage of a keyed reduction (reduce_by_key.hpp): keys kept
// in one table while they fit in cache, then a table per output partition with lookups
// software-pipelined, spilled under a budget, or staged for the shared tables once keys turn out
// not to repeat.
#pragma once

#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/shared_tables.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/graph/memory_gauge.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// The sizes and modes of a keyed reduction's tables, by item type and rules.
template <class T, class Rules>
struct reduce_tuning {
  using entry = typename Rules::entry;
  using table = hash_table<entry, typename Rules::slots>;
  // Items wait this many arrivals between their prefetch and their lookup.
  static constexpr std::size_t lookahead = 16;
  // A thread's tables with fewer slots than this in all (about a 1 MiB L2 cache) are looked up
  // at once. All of them count: with many partitions each table is small, but a run of items
  // visits them all, so what must stay in cache is their sum.
  static constexpr std::size_t pipeline_from_slots = 8192;
  // A waiting item is held as a detached entry, which owns its bytes: the views of an item are
  // only valid until the sink call returns (they may point into a temporary of a user function).
  // Worth it for entries that copy as bytes, such as a short packed string and a count.
  static constexpr bool pipelined = Rules::detachable &&
                                    std::is_trivially_copy_constructible_v<entry> &&
                                    std::is_trivially_destructible_v<entry> && sizeof(entry) <= 64;
  // A thread's tables of this many bytes all told are far out of cache (or, under a budget,
  // half the thread's share): if their entries are also more than one per `shared_from_ratio`
  // items seen, keys barely repeat and the run goes over to the shared tables.
  static constexpr std::size_t shared_from_bytes = std::size_t{8} << 20;
  static constexpr std::size_t shared_from_ratio = 8;
  // Going over to the shared tables, a thread sizes them for this many times the keys its own
  // tables hold: the run goes over because keys barely repeat, so more keep coming, and tables
  // that start at 16 slots double a dozen times, rehashing and faulting in fresh memory at each
  // step. word_count of 1 GiB (1.05M distinct words; a thread holds 120K at the switch, after
  // 440K words) grew its tables from 16 to 128K slots a partition in the first fifth of the
  // run. Interleaved rounds, 2 threads on 2 cores (11): 1.45 s and 89 MiB before, 1.41 s and
  // 74 MiB with 4 times, 1.39 s and 88 MiB with 8 times; 1 thread (7): 2.69 s, 2.56 s, 2.53 s.
  // Where no more keys come, the tables hold an eighth of what they were sized for at least.
  static constexpr std::size_t shared_presize = 8;
  static constexpr bool shareable = pipelined;
};

/// One thread's pre-phase state: a table per output partition and the bytes of its keys.
template <class T, class Rules, class Core>
struct reduce_thread_tables : reduce_tuning<T, Rules> {
  using tuning = reduce_tuning<T, Rules>;
  using typename tuning::entry;
  using typename tuning::table;
  using tuning::lookahead;
  using tuning::pipeline_from_slots;
  using tuning::pipelined;
  using tuning::shared_from_bytes;
  using tuning::shared_from_ratio;
  using tuning::shared_presize;
  using tuning::shareable;

  reduce_thread_tables(std::size_t parts, const Core* node)
      : tables(parts), spilled(parts), self(node), charge(node->ctx().charged) {}

  std::vector<table> tables;
  // Until the thread's keys outgrow one small table, they are kept in `whole`, folded as a
  // sequential loop would (no partition to pick, the table's fields in registers), and
  // split by partition when it outgrows pipeline_from_slots, before a spill, or at the end.
  table whole;
  bool in_whole = true;
  arena bytes;
  std::vector<std::vector<spill_segment>> spilled;  // per partition
  std::optional<spill_writer> writer;               // made at the first spill
  const Core* self;
  gauge_charge charge;   // held_bytes() as of the last batch, for the run's statistics
  std::size_t heap = 0;  // heap memory the entries owned when made (long strings, vectors)
  // The lookahead ring (used when pipelined): detached entries waiting for their slot.
  struct waiting {
    std::uint64_t hash;
    std::size_t part;
    alignas(entry) unsigned char raw[sizeof(entry)];
    entry& get() noexcept { return *std::launder(reinterpret_cast<entry*>(raw)); }
  };
  waiting ring[pipelined ? lookahead : 1] = {};
  std::size_t head = 0, count = 0;
  bool out_of_cache = false;  // the tables' slots, all told, pass pipeline_from_slots
  std::uint64_t seen = 0;     // items, for the choice of shared tables
  // Once the run has gone over to shared tables: this thread's staged items. Its own tables
  // then keep only what was folded before, and items that cannot be detached.
  std::optional<table_stage<entry>> staged;
  std::size_t shared_grown = 0;  // bytes the shared tables grew by in this thread's folds
  // The shared tables' spills this thread made: how many, the items folded into those tables
  // and the entries written (see note_spill).
  std::size_t shared_spills = 0;
  std::uint64_t spilled_folded = 0, spilled_entries = 0;

  template <class X>
  void operator()(X&& x) {
    const T& item = x;
    const std::string& label = self->label();
    // The key's hash and == may be user code: their exceptions name this operator too.
    const std::uint64_t h = invoke_user(label, [&] { return table_hash(self->rules_.key_of(label, item)); });
    const std::size_t part = partition_of(h, tables.size());
    if constexpr (shareable) {
      if (staged) {
        if (Rules::detach(item, staged->next(part).raw)) {
          if (staged->commit(part, h)) fold_staged(part);
          return;
        }
        fold_in(h, part, item);  // a long string key: kept in this thread's table
        return;
      }
      ++seen;
    }
    if constexpr (pipelined) {
      table& t = tables[part];
      // Small tables stay in cache: no need to wait.
      if (out_of_cache || t.capacity() >= pipeline_from_slots) {
        t.prefetch(h);
        if (count == lookahead) {
          fold_in(ring[head]);  // frees the oldest place
          if (place(ring[head], h, part, item)) {
            head = (head + 1) % lookahead;
            return;
          }
          --count;  // the place stays free; fold the item directly
          head = (head + 1) % lookahead;
        } else if (place(ring[(head + count) % lookahead], h, part, item)) {
          ++count;
          return;
        }
      }
    }
    fold_in(h, part, item);
  }

  /// The sink a batch's items go to while the keys fit in `whole`: it holds the table as a
  /// local of the batch loop (see stack_consumer::run).
  struct whole_sink {
    reduce_thread_tables* l;
    table t;
    const std::string& label = l->self->label();
    const Rules& rules = l->self->rules_;
    std::uint64_t seen = 0;

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::uint64_t h = invoke_user(label, [&] { return table_hash(rules.key_of(label, item)); });
      ++seen;
      invoke_user(label, [&] {
        auto entry_key = [&](const entry& e) -> decltype(auto) { return rules.entry_key(label, e); };
        auto [e, made] = t.find_or_emplace(h, rules.key_of(label, item), entry_key,
                                           [&] { return entry(rules.make(l->bytes, item)); });
        if (!made) rules.absorb(label, *e, item, l->bytes);
        if constexpr (may_own_heap<entry>) {
          if (made) l->heap += heap_bytes(*e);
        }
      });
    }
  };
  bool primed() const noexcept { return in_whole; }
  whole_sink prime() { return {this, std::move(whole)}; }
  void absorb(whole_sink&& s) noexcept {
    whole = std::move(s.t);
    seen += s.seen;
  }

  /// Moves the entries of `whole` into the tables of their partitions, for good.
  void split_whole() {
    if (!in_whole) return;
    in_whole = false;
    const std::string& label = self->label();
    const Rules& rules = self->rules_;
    auto entry_key = [&](const entry& e) -> decltype(auto) { return rules.entry_key(label, e); };
    invoke_user(label, [&] {  // a user key's == is called here too
      whole.for_each([&](std::uint64_t h, entry& e) {
        tables[partition_of(h, tables.size())].find_or_emplace(h, entry_key(e), entry_key,
                                                               [&] { return std::move(e); });
      });
    });
    table gone = std::move(whole);  // and its slots with it
  }

  /// Folds in the waiting items (at the end of every batch, so that nothing waits long).
  void end_batch() {
    if (in_whole) {
      if (whole.capacity() >= pipeline_from_slots || self->go_shared_.load(std::memory_order_relaxed) ||
          (self->policy_.limited() && 2 * held_bytes() > self->policy_.thread_share)) {
        split_whole();
      }
    }
    if (in_whole) {
      charge.set(held_bytes());
      return;
    }
    if constexpr (pipelined) {
      for (; count > 0; --count, head = (head + 1) % lookahead) fold_in(ring[head]);
      head = 0;
      std::size_t slots = 0;
      std::size_t entries = 0;
      std::size_t table_bytes = 0;
      for (const table& t : tables) {
        slots += t.capacity();
        entries += t.size();
        table_bytes += t.bytes();
      }
      out_of_cache = slots >= pipeline_from_slots;
      if constexpr (shareable) {
        if (!staged && self->shared_) {
          const std::size_t from = std::min(shared_from_bytes, self->policy_.thread_share / 2);
          if (table_bytes >= from && entries * shared_from_ratio > seen) {
            self->go_shared_.store(true, std::memory_order_relaxed);
          }
          if (self->go_shared_.load(std::memory_order_relaxed)) go_shared();
        }
      }
    }
    // Tables make room before they grow; string keys in the arena are checked here.
    const std::size_t held = held_bytes();
    charge.set(held + shared_grown);
    if (self->policy_.limited() && held > self->policy_.thread_share) {
      spill();
      charge.set(held_bytes() + shared_grown);
    }
  }

  /// Goes over to the shared tables, moving this thread's entries into them. Entries that
  /// view into the thread's arena (long string keys) stay, or are spilled under a budget.
  void go_shared() {
    if constexpr (shareable) {
      staged.emplace(tables.size(), self->policy_.thread_share / 16);
      size_shared();
      if (bytes.bytes_used() != 0) {
        if (self->policy_.limited()) spill();
        return;
      }
      for (std::size_t p = 0; p < tables.size(); ++p) {
        tables[p].for_each([&](std::uint64_t h, entry& e) {
          ::new (static_cast<void*>(staged->next(p).raw)) entry(e);
          if (staged->commit(p, h)) fold_staged(p);
        });
        tables[p].clear();
      }
    }
  }

  /// Sizes the shared tables, as the run goes over to them, for shared_presize times the keys
  /// this thread holds (a table that already has room keeps its size). Under a budget, only
  /// where that takes at most half of what the shared tables may hold.
  void size_shared() {
    // Once the run scatters, the shared tables are written out as they fill: none to size.
    if (self->scatter_.load(std::memory_order_relaxed)) return;
    std::size_t entries = 0;
    for (const table& t : tables) entries += t.size();
    const std::size_t parts = tables.size();
    const std::size_t want = shared_presize * entries / parts + 1;
    if (self->policy_.limited() &&
        self->shared_bytes_.load(std::memory_order_relaxed) + parts * table::bytes_for(want) > self->shared_share() / 2) {
      return;
    }
    for (std::size_t p = 0; p < parts; ++p) {
      self->shared_->with_table(p, [&](table& t) {
        const std::size_t before = t.bytes();
        t.reserve(want);
        if (t.bytes() != before) {
          self->shared_bytes_.fetch_add(t.bytes() - before, std::memory_order_relaxed);
          shared_grown += t.bytes() - before;
        }
      });
    }
  }

  /// What this thread holds (the shared tables it grew are charged beside it).
  std::size_t held_bytes() const noexcept {
    std::size_t n = bytes.bytes_used() + heap + whole.bytes();
    if constexpr (shareable) n += staged ? staged->bytes() : 0;
    for (const table& t : tables) n += t.bytes();
    return n;
  }

  /// Writes every table to the thread's spill file, a segment per partition, and frees them.
  void spill() {
    split_whole();
    bool any = false;
    for (const table& t : tables) any = any || !t.empty();
    if (!any) return;
    const std::string& label = self->label();
    // One file for all of the thread's spills: a spill file holds a descriptor while it lives.
    if (!writer) writer.emplace(self->ctx().spill_dir(label), label, self->policy_.block_bytes);
    spill_writer& w = *writer;
    for (std::size_t p = 0; p < tables.size(); ++p) {
      if (tables[p].empty()) continue;
      tables[p].for_each([&](std::uint64_t, entry& e) { w.add(Rules::item(e)); });
      spilled[p].push_back(w.end_segment());
      // Keep the slot array: the tables fill again at the same pace, and growing them anew
      // would cost a fresh allocation and a rehash per doubling.
      tables[p].clear_entries();
    }
    w.close();
    bytes.reset();
    heap = 0;
    self->spilled_any_.store(true, std::memory_order_relaxed);
  }

  bool place(waiting& w, std::uint64_t h, std::size_t part, const T& item) {
    if (!Rules::detach(item, w.raw)) return false;
    w.hash = h;
    w.part = part;
    return true;
  }

  /// Spills the tables when the table of `part` is about to double past the thread's share.
  /// Waiting items own their bytes, so they fold into the emptied tables as well as before.
  void make_room(std::size_t part) {
    if (self->policy_.limited() && tables[part].full() &&
        held_bytes() + tables[part].bytes() > self->policy_.thread_share) {
      spill();
    }
  }

  /// Folds partition `part`'s staged items into its shared table, under its lock, or defers
  /// them while another thread holds it (fold_or_defer, at most an eighth of the share).
  void fold_staged(std::size_t part) {
    if constexpr (shareable) {
      if (self->scatter_.load(std::memory_order_relaxed)) {
        fold_or_defer(*self->shared_, *staged, part, self->policy_.thread_share / 8, [&](table& t) {
          const std::ptrdiff_t change = self->scatter(part, t, *staged);
          if (change >= 0) {
            self->shared_bytes_.fetch_add(static_cast<std::size_t>(change), std::memory_order_relaxed);
            shared_grown += static_cast<std::size_t>(change);
          } else {
            // Another thread may have grown the table: what this thread charges stays >= 0.
            const auto freed = static_cast<std::size_t>(-change);
            self->shared_bytes_.fetch_sub(freed, std::memory_order_relaxed);
            shared_grown -= std::min(shared_grown, freed);
          }
        });
        return;
      }
      auto fold = [&](table& t) {
        staged->take(part, [&](auto items) {
          // A growth takes the new array beside the old one (a fold of deferred items may
          // double the table more than once): spill instead of passing the share.
          if (self->policy_.limited() && !t.fits(items.size()) &&
              self->shared_bytes_.load(std::memory_order_relaxed) +
                      std::max(2 * t.bytes(), table::bytes_for(t.size() + items.size())) >
                  self->shared_share()) {
            spill_shared(part, t);
          }
          const std::size_t before = t.bytes();
          if (self->scatterable()) self->folded_[part] += items.size();
          self->fold_stage(items, t, bytes);
          if (t.bytes() != before) {
            self->shared_bytes_.fetch_add(t.bytes() - before, std::memory_order_relaxed);
            shared_grown += t.bytes() - before;
          }
        });
      };
      fold_or_defer(*self->shared_, *staged, part, self->policy_.thread_share / 8, fold);
    }
  }

  /// Writes partition `part`'s shared table (held locked) to this thread's spill file as a
  /// segment of that partition, keeping its slot array for what comes next.
  void spill_shared(std::size_t part, table& t) {
    if (t.empty()) return;
    const std::string& label = self->label();
    if (!writer) writer.emplace(self->ctx().spill_dir(label), label, self->policy_.block_bytes);
    t.for_each([&](std::uint64_t, entry& e) { writer->add(Rules::item(e)); });
    spilled[part].push_back(writer->end_segment());
    note_spill(part, t.size());
    t.clear_entries();
    self->spilled_any_.store(true, std::memory_order_relaxed);
  }

  /// Counts a shared table's spill (holding its lock) toward the choice to scatter: once this
  /// thread has spilled as many tables as there are partitions, if folding merged one item in
  /// five or fewer, keys barely repeat within what the budget holds and the run scatters
  /// from then on (reduce_core::scatter_).
  void note_spill(std::size_t part, std::size_t entries) {
    if (!self->scatterable()) return;
    spilled_folded += std::exchange(self->folded_[part], 0);
    spilled_entries += entries;
    if (++shared_spills >= tables.size() && 5 * spilled_entries >= 4 * spilled_folded) {
      self->scatter_.store(true, std::memory_order_relaxed);
    }
  }

  void fold_in(waiting& w) {
    make_room(w.part);
    const std::string& label = self->label();
    const Rules& rules = self->rules_;
    entry& e = w.get();
    try {
      invoke_user(label, [&] {
        auto entry_key = [&](const entry& x) -> decltype(auto) { return rules.entry_key(label, x); };
        auto [acc, made] = tables[w.part].find_or_emplace(w.hash, entry_key(e), entry_key,
                                                          [&] { return std::move(e); });
        if (!made) rules.combine(label, *acc, e, bytes);
        if constexpr (may_own_heap<entry>) {
          if (made) heap += heap_bytes(*acc);
        }
      });
    } catch (op_failure& f) {
      f.item = op_failure::unknown_item;  // the failing item arrived up to 16 items ago
      throw;
    }
  }

  void fold_in(std::uint64_t h, std::size_t part, const T& item) {
    make_room(part);
    const std::string& label = self->label();
    const Rules& rules = self->rules_;
    invoke_user(label, [&] {
      auto entry_key = [&](const entry& e) -> decltype(auto) { return rules.entry_key(label, e); };
      auto [e, made] = tables[part].find_or_emplace(h, rules.key_of(label, item), entry_key,
                                                    [&] { return entry(rules.make(bytes, item)); });
      if (!made) rules.absorb(label, *e, item, bytes);
      if constexpr (may_own_heap<entry>) {
        if (made) heap += heap_bytes(*e);
      }
    });
  }
};

}  // namespace dataflow::detail
