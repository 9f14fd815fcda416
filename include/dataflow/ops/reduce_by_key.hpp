// reduce_by_key / reduce_by: merge the items that share a key.
//
// Pre phase (the input stage): each thread folds its items into its own hash tables, one per
// output partition, so that a key seen a million times costs one entry and hot keys stay in
// cache. Lookups are software-pipelined: an item's slot is prefetched when it arrives and the
// item is folded in sixteen items later, so that cache misses on cold keys overlap instead of
// queueing. A thread whose keys all fit one table in cache keeps them in that one table, as a
// sequential loop would, and splits it by partition once it outgrows the cache. Post phase:
// partition p merges the threads' tables for p into the largest of them, in parallel over
// partitions; the next stage reads the merged tables.
//
// Keys that barely repeat: once a thread's tables pass shared_from_bytes and hold more than one
// entry per eight items seen, the threads stop keeping a table each per partition and fold
// into one table per partition, shared under a lock per partition, a stage of items at a time
// (detail/shared_tables.hpp); each thread moves what its tables held into them. Each key is
// then one entry, not one per thread, and nothing is left to merge. Under a budget the shared
// tables together may hold what the threads' shares add up to: a table that would grow past
// that is written to a spill segment of its partition and starts again, which partitions the
// data on disk, one table at a time. (For items that copy as bytes.)
//
// Under a memory budget (see graph/spill_policy.hpp) a thread whose tables outgrow its share
// writes them to a spill file, one segment per partition, and starts afresh. If anything
// spilled, the rest is spilled too at the end of the input stage, and each partition is
// reduced when it is read: its segments are folded into one table, which is split into
// sub-partitions on disk if it would outgrow the share. A hot key is one entry: it never grows.
//
// @code
// auto counts = words.map([](std::string_view w) { return std::pair{w, 1ull}; })
//                    .reduce_by_key(std::plus<>{});
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/packed_string.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/detail/shared_tables.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/ops/exchange.hpp>
#include <dataflow/ops/reduce_rules.hpp>
#include <dataflow/ops/reduce_thread_tables.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/item_buffer.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <new>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// Everything of a keyed reduction but taking its input: the per-thread tables, spilling,
/// merging and output. It depends on the item type and the rules only, so reductions of one type
/// share its code whatever pipeline feeds them.
template <class T, class Rules>
class reduce_core : public node<T> {
 protected:
  using entry = typename Rules::entry;
  using table = hash_table<entry, typename Rules::slots>;
  // When entries are the items, each merged table is compacted and pushed in place.
  static constexpr bool dense = std::is_same_v<entry, T> && std::is_nothrow_move_constructible_v<T>;

  using tuning = reduce_tuning<T, Rules>;
  static constexpr bool shareable = tuning::shareable;
  using local_tables = reduce_thread_tables<T, Rules, reduce_core>;
  friend local_tables;

 public:
  reduce_core(std::shared_ptr<node_base> parent, std::vector<std::string> labels, Rules rules,
              const char* op, shuffle_options options)
      : node<T>(parent->ctx_ptr(), op, node_kind::barrier, {parent}, std::move(labels)),
        rules_(std::move(rules)),
        options_(options) {}

  std::string describe_input() const override {
    return "combine per thread, hash shuffle into " +
           std::to_string(spilling_shuffle_partitions(options_.partitions, this->ctx())) +
           " partitions, merge";
  }
  std::size_t partition_count() const override {
    return segments_.empty() ? merged_.size() : segments_.size();
  }
  std::optional<std::uint64_t> known_items() const override {
    if (!segments_.empty()) return std::nullopt;  // spilled: known once reduced
    std::uint64_t n = 0;
    if constexpr (dense) {
      for (const auto& d : dense_) n += d.size();  // the compacted tables
    } else {
      for (const table& t : merged_) n += t.size();
    }
    return n;
  }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    if (!segments_.empty()) {
      reduce_segments(segments_[p], 0, out, scattered_.empty() ? 0 : scattered_[p]);
    } else if constexpr (dense) {
      // Entries are the items: push the compacted table as it is.
      std::span<const T> items = dense_[p];
      constexpr std::size_t step = std::max<std::size_t>(batch_items<T>, 4096);
      for (std::size_t i = 0; i < items.size() && !stop_requested(); i += step) {
        out.consume(items.subspan(i, std::min(step, items.size() - i)));
      }
    } else {
      push_table(merged_[p], out);
    }
  }

  void dispose() noexcept override {
    segments_.clear();
    dense_.clear();
    merged_.clear();
    locals_.reset();
    shared_.reset();
    scatter_files_.clear();
    scattered_.clear();
    merge_bytes_.clear();
    merged_charges_.clear();
  }

  const Rules& rules() const noexcept { return rules_; }  // for the reduction across ranks
  const shuffle_options& options() const noexcept { return options_; }

  void release_partition(std::size_t p) noexcept override {
    // Spilled: partition p's segments give their space and page cache back now, not when the
    // last partition of their files is read, so that later partitions' tables and the output
    // take pages just freed (see merge_cuts::release_range).
    if (!segments_.empty()) {
      if (p < segments_.size()) release_space(segments_[p]);
      return;
    }
    if (p >= merged_.size()) return;
    if (!dense_.empty()) dense_[p] = {};
    merged_[p] = table();
    merge_bytes_[p] = arena();
    merged_charges_[p].set(0);
  }

 protected:
  /// Readies the node for a run's input.
  void begin(run_state& run) {
    parts_ = spilling_shuffle_partitions(options_.partitions, run.ctx());
    policy_ = spill_policy::for_context(run.ctx());
    spilled_any_.store(false);
    segments_.clear();
    locals_.emplace(run.ctx().threads());
    go_shared_.store(false);
    shared_.reset();
    shared_bytes_.store(0);
    scatter_.store(false);
    scatter_files_.clear();
    scattered_.clear();
    // Shared tables need partitions enough that threads seldom wait for one another's locks.
    if constexpr (shareable) {
      if (parts_ >= 4 * run.ctx().threads()) shared_.emplace(parts_);
      // Scattering holds a file per partition open (a descriptor each, until the partitions
      // have been read) and its block buffer until the stage ends: not with few descriptors,
      // nor where the buffers would crowd out the tables.
      if (shared_ && policy_.limited() && parts_ <= policy_.open_files / 4 &&
          parts_ * scatter_block_bytes() <= shared_share() / 4) {
        scatter_files_.resize(parts_);
        folded_.assign(parts_, 0);
      }
    }
  }

  /// The calling thread's tables.
  local_tables& local() {
    return locals_->local([&] { return local_tables(parts_, this); });
  }

  /// Merges the threads' tables by partition, or spills them all.
  void finish(run_state& run) {
    const std::size_t parts = parts_;
    std::vector<local_tables*> locals;
    locals_->for_each([&](local_tables& l) { locals.push_back(&l); });
    parallel_partitions(run, locals.size(), this->label() + " (merge)",
                        [&](std::size_t i) { locals[i]->split_whole(); });
    if (spilled_any_.load()) {
      segments_ = spill_everything(run, *locals_, parts, this->label());
      if (shared_ && go_shared_.load()) spill_shared_tables(run);
      end_scatter();
      locals_.reset();
      shared_.reset();
      return;
    }

    merged_ = std::vector<table>(parts);
    dense_.assign(parts, {});
    merge_bytes_ = std::vector<arena>(parts);
    parallel_partitions(run, parts, this->label() + " (merge)",
                        [&](std::size_t p) { merge_partition(p); });
    // The tables moved into merged_ (the arenas stay: entries view into them). Released first,
    // charged second: the bytes moved, they did not double.
    locals_->for_each([](local_tables& l) {
      l.staged.reset();
      l.shared_grown = 0;  // the shared tables moved into merged_ too
      l.charge.set(l.held_bytes());
    });
    // A charge per partition: a sole reader releases partitions from several threads at once.
    merged_charges_.clear();
    for (std::size_t p = 0; p < parts; ++p) {
      merged_charges_.emplace_back(run.ctx().charged).set(merged_[p].bytes() + merge_bytes_[p].bytes_used());
    }
  }

 private:
  /// Pushes a table's entries as items, in batches that view into the table.
  void push_table(table& t, batch_consumer<T>& out) {
    item_buffer<T> batch;
    batch.reserve(std::min(batch_items<T>, t.size()));
    t.for_each([&](std::uint64_t, entry& e) {
      batch.emplace_back(Rules::item(e));
      if (batch.size() == batch_items<T>) {
        if (!stop_requested()) out.consume(batch.span());
        batch.clear();
      }
    });
    if (!batch.empty() && !stop_requested()) out.consume(batch.span());
  }

  /// Reduces the items of spilled segments (one partition) and pushes the result. When the
  /// table outgrows the thread's share, everything is split into sub-partitions on disk by a
  /// hash of another seed, and each is reduced in turn. The last `repeating` segments hold
  /// items scattered unfolded, whose keys repeat.
  void reduce_segments(const std::vector<spill_segment>& segments, unsigned level,
                       batch_consumer<T>& out, std::size_t repeating = 0) {
    const std::string& label = this->label();
    const std::size_t share = policy_.thread_share;
    table t;
    arena bytes;
    std::optional<spill_router<T>> router;
    gauge_charge charge(this->ctx().charged);
    // A segment the input stage spilled holds distinct keys: the largest one is a lower bound on
    // the result. When even that does not fit, split at once instead of folding first. (Segments
    // of a split repeat keys, so deeper levels fold and split only when the table outgrows.)
    std::uint64_t largest = 0;
    for (std::size_t i = 0; i + repeating < segments.size(); ++i) largest = std::max(largest, segments[i].items);
    if (level == 0 && table::bytes_for(largest) > share) {
      router.emplace(this->ctx(), label, policy_, level + 1);
    } else if (level == 0) {
      t = table(static_cast<std::size_t>(largest) / 7 * 10 + 16);  // no doublings up to there
    }
    auto entry_key = [&](const entry& e) -> decltype(auto) { return rules_.entry_key(label, e); };
    std::vector<std::uint64_t> hashes;
    for (const spill_segment& seg : segments) {
      if (stop_requested()) return;
      for_each_spilled_block<T>(seg, label, [&](std::span<const T> items) {
        hashes.resize(items.size());
        for (std::size_t i = 0; i < items.size(); ++i) {
          hashes[i] = invoke_user(label, [&] { return table_hash(rules_.key_of(label, items[i])); });
        }
        // Items arrive in another table's slot order, i.e. at random places in this one:
        // prefetch each slot some items ahead, as the input stage does.
        constexpr std::size_t ahead = 16;
        for (std::size_t i = 0; i < std::min(ahead, items.size()); ++i) t.prefetch(hashes[i]);
        for (std::size_t i = 0; i < items.size(); ++i) {
          const T& x = items[i];
          const std::uint64_t h = hashes[i];
          // Split before a growth would take the table (with its old array) past the share.
          if (!router && t.full() && level < spill_policy::max_level &&
              3 * t.bytes() + bytes.bytes_reserved() > share) {
            router.emplace(this->ctx(), label, policy_, level + 1);
            t.for_each([&](std::uint64_t eh, entry& e) { router->add(eh, Rules::item(e)); });
            t.clear();
            bytes = arena();
          }
          if (router) {
            router->add(h, x);
            continue;
          }
          if (i + ahead < items.size()) t.prefetch(hashes[i + ahead]);
          invoke_user(label, [&] {
            auto [e, made] = t.find_or_emplace(h, rules_.key_of(label, x), entry_key,
                                               [&] { return entry(rules_.make(bytes, x)); });
            if (!made) rules_.absorb(label, *e, x, bytes);
          });
        }
        charge.set(t.bytes() + bytes.bytes_reserved());
      });
    }
    if (!router) {
      push_table(t, out);
      return;
    }
    std::vector<spill_segment> parts = router->finish();
    router.reset();
    for (const spill_segment& part : parts) {
      if (stop_requested()) return;
      reduce_segments({part}, level + 1, out);
    }
  }

  /// The bytes the shared tables may hold together: what the threads' shares add up to.
  std::size_t shared_share() const noexcept { return policy_.thread_share * this->ctx().threads(); }

  /// Whether the run may go over to scattering (under a budget, with descriptors to spare).
  bool scatterable() const noexcept { return !scatter_files_.empty(); }

  /// The block each partition's scatter file buffers: all of them together an eighth of what
  /// the shared tables may hold, but at least 16 KiB each (begin() scatters only where they
  /// come to a quarter at most).
  std::size_t scatter_block_bytes() const noexcept {
    return std::clamp<std::size_t>(shared_share() / 8 / std::max<std::size_t>(parts_, 1), 16 * 1024,
                                   std::max<std::size_t>(policy_.block_bytes, 16 * 1024));
  }

  /// Appends partition p's staged items to p's scatter file, unfolded; called holding p's
  /// lock, with p's shared table `t`. Folds into `t` stop once the run scatters (a thread that
  /// had not yet seen it may still fold once): a call that finds the table with slots writes
  /// its entries to the file too and frees them. Returns the bytes held now less those held
  /// before (the file's block buffer made, the table's slots freed).
  template <class Stage>
  std::ptrdiff_t scatter(std::size_t p, table& t, Stage& stage) const {
    std::ptrdiff_t change = 0;
    std::optional<spill_writer>& w = scatter_files_[p];
    auto file = [&]() -> spill_writer& {
      if (!w) {
        w.emplace(this->ctx().spill_dir(this->label()), this->label(), scatter_block_bytes());
        change += static_cast<std::ptrdiff_t>(scatter_block_bytes());
      }
      return *w;
    };
    if (t.bytes() > 0) {  // the first scatter of the partition (or after a late fold): the table goes
      t.for_each([&](std::uint64_t, entry& e) { file().add(Rules::item(e)); });
      change -= static_cast<std::ptrdiff_t>(t.bytes());
      t.clear();
    }
    stage.take(p, [&](auto items) {
      for (auto& x : items) file().add(Rules::item(x.get()));
    });
    return change;
  }

  /// Ends each partition's scatter file as the last segment of the partition.
  void end_scatter() {
    scattered_.assign(parts_, 0);
    for (std::size_t p = 0; p < scatter_files_.size(); ++p) {
      if (!scatter_files_[p]) continue;
      spill_segment seg = scatter_files_[p]->end_segment();
      scatter_files_[p].reset();  // the file stays while its segment refers to it
      if (seg.items == 0) continue;
      scattered_items_total.fetch_add(seg.items, std::memory_order_relaxed);
      segments_[p].push_back(std::move(seg));
      scattered_[p] = 1;
    }
    scatter_files_.clear();
  }

  /// Ends an input stage that spilled with shared tables: writes each partition's shared table
  /// and the items still staged for it as one more segment, in parallel over groups of
  /// partitions, each group into one thread's spill file (no more files open).
  void spill_shared_tables(run_state& run) {
    const std::string& label = this->label();
    std::vector<local_tables*> writers;
    locals_->for_each([&](local_tables& l) { writers.push_back(&l); });
    const std::size_t groups = std::min(parts_, writers.size());
    std::vector<std::vector<spill_segment>> written(parts_);
    parallel_partitions(run, groups, label + " (spill)", [&](std::size_t g) {
      std::optional<spill_writer>& w = writers[g]->writer;
      for (std::size_t p = g; p < parts_; p += groups) {
        table& t = shared_->at(p);
        auto add = [&](const entry& e) {
          if (!w) w.emplace(this->ctx().spill_dir(label), label, policy_.block_bytes);
          w->add(Rules::item(e));
        };
        t.for_each([&](std::uint64_t, entry& e) { add(e); });
        locals_->for_each([&](local_tables& l) {
          if (l.staged) {
            l.staged->take(p, [&](auto items) {
              for (auto& x : items) add(x.get());
            });
          }
        });
        t.clear();
        if (w) written[p].push_back(w->end_segment());
      }
    });
    for (std::size_t p = 0; p < parts_; ++p) {
      for (auto& seg : written[p]) {
        if (seg.items > 0) segments_[p].push_back(std::move(seg));
      }
    }
  }

  /// Folds staged items into their partition's shared table.
  template <class Waiting>
  void fold_stage(std::span<Waiting> items, table& t, arena& a) const {
    const std::string& label = this->label();
    auto entry_key = [&](const entry& x) -> decltype(auto) { return rules_.entry_key(label, x); };
    // The slots of a stage's items are prefetched by the fold itself, 64 items ahead (the first
    // 64 in a loop of their own before it), not one by one as the items were staged: between
    // the splitting and hashing of other items few misses were in flight at a time, and the
    // prefetch waited: 46% of a word count's samples fell on it at 2 threads, 57% at 1. With
    // stages of 32 items, word_count of 1 GiB, 2 threads on 2 cores, 5 interleaved rounds:
    // 4.50 s before, 2.83 s after; group_sum 100M rows / 1M keys: 4.85 s before, 3.35 s after
    // (medians of 3). Stages are longer now (table_stage).
    // Slots of two lines (group_sum's 40 bytes) go 24 items ahead: 48 lines in flight, where 128
    // overran what the core keeps in flight and the oldest prefetches had not landed. With 64
    // items ahead, group_sum 100M rows / 1M keys: 2.48 s, with 24: 2.37 s (5 interleaved rounds);
    // word_count's one-line slots: 1.66 s with 64 ahead, 1.70 s with 24 (7 rounds), so they stay.
    constexpr std::size_t ahead = table::lines_prefetched > 1 ? 24 : 64;
    for (std::size_t i = 0; i < std::min(ahead, items.size()); ++i) t.prefetch(items[i].hash);
    try {
      invoke_user(label, [&] {
        for (std::size_t i = 0, n = items.size(); i < n; ++i) {
          if (i + ahead < n) t.prefetch(items[i + ahead].hash);
          entry& e = items[i].get();
          auto [acc, made] = t.find_or_emplace(items[i].hash, entry_key(e), entry_key, [&] { return e; });
          if (!made) rules_.combine(label, *acc, e, a);
        }
      });
    } catch (op_failure& f) {
      f.item = op_failure::unknown_item;  // the failing item was staged a while ago
      throw;
    }
  }

  void merge_partition(std::size_t p) {
    std::vector<table*> tables;
    locals_->for_each([&](local_tables& l) { tables.push_back(&l.tables[p]); });
    if (shared_ && go_shared_.load()) {
      locals_->for_each([&](local_tables& l) {
        if (l.staged) l.staged->take(p, [&](auto items) { fold_stage(items, shared_->at(p), merge_bytes_[p]); });
      });
      tables.push_back(&shared_->at(p));
    }
    if (tables.empty()) return;
    std::swap(*std::max_element(tables.begin(), tables.end(),
                                [](table* a, table* b) { return a->size() < b->size(); }),
              tables.front());
    table& into = merged_[p];
    into = std::move(*tables.front());
    const std::string& label = this->label();
    auto entry_key = [&](const entry& e) -> decltype(auto) { return rules_.entry_key(label, e); };
    for (std::size_t i = 1; i < tables.size(); ++i) {
      tables[i]->for_each_prefetching(into, [&](std::uint64_t h, entry& e) {
        invoke_user(label, [&] {  // a user key's == is called here too
          auto [acc, made] = into.find_or_emplace(h, entry_key(e), entry_key, [&] { return std::move(e); });
          if (!made) rules_.combine(label, *acc, e, merge_bytes_[p]);
        });
      });
      tables[i]->clear();
    }
    if constexpr (dense) dense_[p] = into.compact();
  }

  Rules rules_;
  shuffle_options options_;
  std::size_t parts_ = 0;
  std::optional<per_thread<local_tables>> locals_;
  mutable std::optional<shared_tables<entry, typename Rules::slots>> shared_;  // for keys that turn out not to repeat
  mutable std::atomic<bool> go_shared_{false};  // set by the first thread to see that they do not
  mutable std::atomic<std::size_t> shared_bytes_{0};  // the shared tables' slot arrays
  // Keys may not repeat even within what the budget holds: then folding into the shared tables
  // costs a random access an item for nothing, and their spills write nearly every item anyway.
  // Once a thread sees that (reduce_thread_tables::note_spill), scatter_ is set and staged items
  // go unfolded to a file per partition (written under the partition's lock), reduced when the
  // partition is read. folded_ counts the items folded into each shared table since it last
  // spilled (under the same lock); scattered_ marks the partitions whose last segment came so.
  mutable std::atomic<bool> scatter_{false};
  mutable std::vector<std::optional<spill_writer>> scatter_files_;
  mutable std::vector<std::uint64_t> folded_;
  std::vector<std::size_t> scattered_;
  std::vector<table> merged_;
  std::vector<std::span<T>> dense_;  // when entries are items: each merged table, compacted
  std::vector<arena> merge_bytes_;
  std::vector<gauge_charge> merged_charges_;  // what merged_ and merge_bytes_ hold, by partition
  spill_policy policy_;
  mutable std::atomic<bool> spilled_any_{false};  // set by the input stage's threads
  std::vector<std::vector<spill_segment>> segments_;  // per partition, when spilled
};

/// A keyed reduction fed by a parent node through a fused operator stack.
template <class T, class Rules, class Stack>
using reduce_node = fed_node<reduce_core<T, Rules>, Stack>;

}  // namespace detail

template <class T, class Stack>
template <class ReduceFn>
auto dataset<T, Stack>::reduce_by_key(ReduceFn op, shuffle_options options) const {
  static_assert(detail::is_pair_v<T>,
                "dataflow::reduce_by_key: items must be std::pair<K, V>; use reduce_by(key_fn, op) "
                "for other item types");
  // pair<const K, V> (from a std::map, say) reduces to pair<K, V>.
  using K = std::remove_cv_t<typename T::first_type>;
  using V = std::remove_cv_t<typename T::second_type>;
  using Out = std::pair<K, V>;
  static_assert(detail::key_type<K>,
                  "dataflow::reduce_by_key: keys must be comparable with == "
                  "(for a struct of your own: bool operator==(const K&) const = default;)");
  static_assert(detail::hashable<K>,
                "dataflow::reduce_by_key: the key type has no hash; specialize dataflow::hash<K> "
                "or std::hash<K> for it");
  static_assert(detail::const_callable_r<ReduceFn, V, const V&, const V&> ||
                    detail::in_place_merge<ReduceFn, V>,
                "dataflow::reduce_by_key: the function must be callable as op(const V&, const V&) "
                "-> V, or in place as op(V& acc, V&&) -> void, on a const object, where the "
                "items are std::pair<K, V>");
  using Rules = detail::pair_reduce<Out, ReduceFn>;
  auto node = std::make_shared<detail::reduce_node<Out, Rules, Stack>>(
      node_, stack_, Rules{std::move(op)}, "reduce_by_key", options);
  return dataset<Out>(detail::reduce_across_ranks<detail::reduce_core<Out, Rules>>(std::move(node), "reduce_by_key"));
}

template <class T, class Stack>
template <class KeyFn, class ReduceFn>
auto dataset<T, Stack>::reduce_by(KeyFn key_fn, ReduceFn op, shuffle_options options) const {
  static_assert(detail::const_callable<KeyFn, const T&>,
                "dataflow::reduce_by: the key function must be callable as key_fn(const T&) -> K, "
                "on a const object");
  using K = detail::call_result_t<KeyFn, const T&>;
  static_assert(detail::key_type<K>,
                  "dataflow::reduce_by: keys must be comparable with == "
                  "(for a struct of your own: bool operator==(const K&) const = default;)");
  static_assert(detail::hashable<K>,
                "dataflow::reduce_by: the key type has no hash; specialize dataflow::hash<K> or "
                "std::hash<K> for it");
  static_assert(detail::const_callable_r<ReduceFn, T, const T&, const T&>,
                "dataflow::reduce_by: the function must be callable as op(const T&, const T&) -> T, "
                "on a const object");
  using Rules = detail::item_reduce<T, KeyFn, ReduceFn>;
  auto node = std::make_shared<detail::reduce_node<T, Rules, Stack>>(
      node_, stack_, Rules{std::move(key_fn), std::move(op)}, "reduce_by", options);
  return dataset<T>(detail::reduce_across_ranks<detail::reduce_core<T, Rules>>(std::move(node), "reduce_by"));
}

}  // namespace dataflow
