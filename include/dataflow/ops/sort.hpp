// sort / sort_by: every item in the order of a comparator, in memory or from sorted runs on disk.
//
// Input stage: each thread appends its items to a buffer (copying the bytes of views into its
// arena). In memory, the buffers are joined and sorted in parallel, and the output is split into
// contiguous partitions in order. Under a memory budget, a thread whose buffer outgrows its
// share sorts it and writes it to disk as a run; at the end the rest become runs too, groups of
// up to fan_in runs are merged into longer runs until few enough remain (in parallel), and the
// last merge streams the output: split into key ranges at the runs' block fences, one output
// partition each, merged by the threads at once (one after another by a single thread). A
// block of the runs is given back to the file system once no range still to be read needs it
// (release_partition): the output's pages reuse its memory.
// The sort is not stable: items that compare equal come out in no particular order.
//
// @code
// auto sorted = ctx.read_lines("words.txt").sort();               // bytewise, like LC_ALL=C sort
// auto by_len = words.sort_by([](std::string_view w) { return w.size(); });
// @endcode
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/dataset.hpp>
#include <dataflow/detail/config.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/detail/safe_sort.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/cache.hpp>
#include <dataflow/ops/sort_across_ranks.hpp>
#include <dataflow/ops/sort_cuts.hpp>
#include <dataflow/ops/sort_distribute.hpp>
#include <dataflow/ops/sort_merge.hpp>
#include <dataflow/ops/sort_prefixed.hpp>
#include <dataflow/ops/sort_ranges.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/item_buffer.hpp>
#include <dataflow/storage/line_groups.hpp>
#include <dataflow/storage/spill_file.hpp>


#include <algorithm>
#include <array>
#include <bit>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <type_traits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// Orders items by key_fn(item) with <.
template <class KeyFn>
struct by_key_less {
  KeyFn key_fn;
  template <class T>
  bool operator()(const T& a, const T& b) const {
    return key_fn(a) < key_fn(b);
  }
};

/// True for sorts of string views in bytewise order, which sort_prefixed speeds up.
template <class T, class Compare>
inline constexpr bool bytewise_string_sort =
    std::is_same_v<T, std::string_view> &&
    (std::is_same_v<Compare, std::less<>> || std::is_same_v<Compare, std::less<std::string_view>>);

/// Everything of a sort but taking its input: buffering, runs, merging, output. It depends on
/// the item type and the comparator only, so the sorts of one item type share its code whatever
/// pipeline feeds them.
template <class T, class Compare>
class sort_core : public node<T> {
 protected:
  struct local_buffer {
    // What sorting a run takes beside each buffered item: a bytewise sort of strings sorts
    // their first eight bytes and views (sort_prefixed); others sort in place or into
    // `scratch`, counted in held(). The buffer spills before the sort would pass its share.
    static constexpr std::size_t sort_bytes = bytewise_string_sort<T, Compare> ? sizeof(prefixed_view) : 0;

    item_buffer<T> items;
    arena bytes;
    std::vector<spill_segment> runs;
    std::optional<spill_writer> writer;  // one file for the thread's runs, made at the first
    sort_core* self;
    std::size_t heap = 0;  // heap memory the items own (long strings, vectors)
    gauge_charge charge;   // the buffer's bytes as of the last batch, for the run's statistics
    // Where a sort by an integral key puts a run in order (sort_run): kept from run to run,
    // since fresh memory is dear, and counted in held().
    item_buffer<T> scratch;
    // Once the sort keeps strings by range (line_groups.hpp): this thread's places there.
    bool grouped = false;
    line_groups::cursor places;

    std::size_t held() const noexcept {
      std::size_t extents = 0;
      for (const auto& e : places.extents) extents += e.capacity() * sizeof(line_groups::extent);
      return bytes.bytes_used() + places.bytes + heap + scratch.capacity() * sizeof(T) + extents;
    }

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      if constexpr (bytewise_string_sort<T, Compare>) {
        if (grouped) {  // never under a budget: nothing spills
          const std::string_view s = item;
          self->groups_->copy(places, s, string_prefix(s));
          return;
        }
      }
      // Spill rather than let the buffer double past the thread's share.
      if (items.size() == items.capacity() && self->policy_.limited() &&
          std::max(3 * items.capacity() * sizeof(T), 2 * items.capacity() * (sizeof(T) + sort_bytes)) + held() >
              self->policy_.thread_share) {
        spill();
      }
      const T& kept = items.emplace_back(intern(bytes, item));
      if constexpr (may_own_heap<T>) heap += heap_bytes(kept);
    }

    void end_batch() {
      if constexpr (bytewise_string_sort<T, Compare>) {
        if (!grouped && !self->policy_.limited()) grouped = self->start_groups(*this);
      }
      charge.set(items.capacity() * sizeof(T) + held());
      if (self->policy_.limited() &&
          items.capacity() * (sizeof(T) + sort_bytes) + held() > self->policy_.thread_share) {
        spill();
        charge.set(items.capacity() * sizeof(T) + held());
      }
    }

    /// Sorts the buffer and writes it as a run (or a few: see sort_runs).
    void spill() {
      if (items.empty()) return;
      const std::string& label = self->label();
      // Every run of the thread goes to one file (a spill file holds a descriptor while it
      // lives); merging punches the space of merged runs out of it.
      if (!writer) {
        writer.emplace(self->ctx().spill_dir(label), label, self->run_block_bytes());
        writer->keep_fences();  // the final merge splits runs at their blocks
      }
      self->sort_runs(*this, [&](const T* sorted, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
          if (i + prefetch_ahead < n) prefetch_item(sorted[i + prefetch_ahead]);
          writer->add(sorted[i]);
        }
        runs.push_back(writer->end_segment());
      });
      items.clear();  // the buffer and the arena's blocks are reused for the next run
      bytes.reset();
      heap = 0;
      self->spilled_any_.store(true, std::memory_order_relaxed);
    }
  };

 public:
  sort_core(std::shared_ptr<node_base> parent, std::vector<std::string> labels, Compare comp,
            const char* op)
      : node<T>(parent->ctx_ptr(), op, node_kind::barrier, {parent}, std::move(labels)),
        comp_(std::move(comp)) {}

  std::string describe_input() const override {
    return "sort runs per thread, merge into ordered partitions";
  }
  std::size_t partition_count() const override {
    return runs_.empty() ? ranges_.size() : cuts_.ranges();
  }
  std::optional<std::uint64_t> known_items() const override {
    if (!runs_.empty()) return std::nullopt;
    return by_range_.empty() ? sorted_.size() : by_range_.size();
  }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    if (!runs_.empty()) {
      merge_range(p, out);
      return;
    }
    if constexpr (bytewise_string_sort<T, Compare>) {
      if (!by_range_.empty()) {
        const auto [begin, end] = ranges_[p];
        constexpr std::size_t step = std::max<std::size_t>(batch_items<T>, 4096);
        by_range_.for_each(begin, end, step, [this] { return stop_requested(); },
                           [&](std::span<const T> views) { out.consume(views); }, this->label());
        return;
      }
    }
    const auto [begin, end] = ranges_[p];
    constexpr std::size_t step = std::max<std::size_t>(batch_items<T>, 4096);
    for (std::size_t i = begin; i < end && !stop_requested(); i += step) {
      out.consume(std::span<const T>(sorted_.data() + i, std::min(step, end - i)));
    }
  }

  void dispose() noexcept override {
    cuts_.clear();
    runs_.clear();
    ranges_.clear();
    sorted_ = item_buffer<T>();
    locals_.reset();
    drop_groups();
  }

  /// Frees the strings of the ranges the output has passed, and their views, once partition p
  /// is read (by the run's only reader, in any order): the file it is written to reuses their
  /// memory. From runs on disk, frees the blocks that no partition still to be read needs
  /// (merge_cuts::release_range).
  void release_partition(std::size_t p) noexcept override {
    if (!runs_.empty()) {
      cuts_.release_range(p, runs_);
      return;
    }
    if (by_range_.empty() || p >= read_.size()) return;
    std::lock_guard<std::mutex> lock(release_mutex_);
    read_[p] = true;
    while (read_up_to_ < read_.size() && read_[read_up_to_]) ++read_up_to_;
    const std::size_t passed = read_up_to_ == 0 ? 0 : ranges_[read_up_to_ - 1].second;
    for (; released_ < by_range_.ranges() && by_range_.end_of(released_) <= passed; ++released_) {
      line_groups_released_early_total.fetch_add(groups_->release(released_), std::memory_order_relaxed);
      by_range_.release(released_);
      if (locals_) locals_->for_each([&](local_buffer& l) {  // the charges drop
        l.places.bytes -= std::exchange(l.places.taken[released_], 0);
        l.charge.set(l.items.capacity() * sizeof(T) + l.held());
      });
    }
  }

 protected:
  /// Readies the node for a run's input.
  void begin(run_state& run) {
    policy_ = spill_policy::for_context(run.ctx());
    spilled_any_.store(false);
    runs_.clear();
    ranges_.clear();
    cuts_.clear();
    locals_.emplace(run.ctx().threads());
    drop_groups();
  }

  /// The calling thread's buffer.
  local_buffer& local() {
    return locals_->local([&] { return local_buffer{{}, {}, {}, {}, this, 0, gauge_charge(this->ctx().charged), {}, false, {}}; });
  }

  /// Sorts what the buffers hold: in memory, or as runs merged on disk.
  void finish(run_state& run) {
    std::vector<local_buffer*> locals;
    locals_->for_each([&](local_buffer& l) { locals.push_back(&l); });

    if (!spilled_any_.load()) {
      sort_in_memory(run, locals);
      return;
    }
    parallel_partitions(run, locals.size(), this->label() + " (sort runs)",
                        [&](std::size_t i) { locals[i]->spill(); });
    std::vector<spill_segment> runs;
    for (local_buffer* l : locals) {
      for (auto& r : l->runs) runs.push_back(std::move(r));
    }
    locals_.reset();
    // Cascade: merge groups of runs into one until one merge can take them all. The merges of
    // a round run in parallel, so each takes its thread's part of the fan-in (memory and open
    // files).
    const std::size_t threads = std::max<std::size_t>(1, run.ctx().threads());
    const std::size_t parallel_fan_in = std::max<std::size_t>(2, policy_.fan_in / threads);
    while (runs.size() > policy_.fan_in) {
      const std::size_t groups = (runs.size() + parallel_fan_in - 1) / parallel_fan_in;
      std::vector<spill_segment> merged(groups);
      parallel_partitions(run, groups, this->label() + " (merge runs)", [&](std::size_t g) {
        const std::size_t begin = g * runs.size() / groups, end = (g + 1) * runs.size() / groups;
        std::vector<spill_segment> group(runs.begin() + static_cast<std::ptrdiff_t>(begin),
                                         runs.begin() + static_cast<std::ptrdiff_t>(end));
        merged[g] = merge_to_run(group);
        release_space(group);  // their file may hold other runs yet
      });
      runs = std::move(merged);  // the merged-from files go with their last reference
    }
    runs_ = std::move(runs);
    // Split with one thread too: a range's blocks go once it is read, and the output's pages
    // reuse theirs instead of fresh ones. sort_lines of 2 GB under --budget 256M writing a
    // file, one thread: 3.57 s split, 5.21 s whole (5 interleaved rounds; spill and output on
    // ext4).
    if (runs_.size() <= parallel_fan_in) split_merge(run);
  }

 private:
  auto less() const {
    return [this](const T& a, const T& b) -> bool { return invoke_user(this->label(), comp_, a, b); };
  }

  /// The number a merge of runs compares first (run_merger).
  auto merge_key_of() const {
    if constexpr (bytewise_string_sort<T, Compare>) {
      return make_merge_key<false>([](const T& s) { return string_prefix(s); });
    } else if constexpr (by_integral_key) {
      return make_merge_key<true>([this](const T& x) { return ordered_bits(invoke_user(this->label(), comp_.key_fn, x)); });
    } else {
      return no_merge_key{};
    }
  }

  void sort_items(T* begin, T* end) const {
    if constexpr (bytewise_string_sort<T, Compare>) {
      sort_prefixed(begin, end, false);
    } else {
      safe_sort(begin, end, less());  // any comparator: `<=` must not crash the run
    }
  }

  /// Sorts a thread's buffered items and calls emit(sorted, n) for each run they make. With an
  /// integral key they sort by distribution into the thread's scratch (sort_distribute.hpp),
  /// a piece at a time, each its own run: as many pieces (up to four) as it takes for the
  /// scratch to fit in the thread's share beside the buffer. Otherwise one run sorted in place.
  template <class Emit>
  void sort_runs(local_buffer& l, Emit&& emit) const {
    T* items = l.items.data();
    const std::size_t n = l.items.size();
    auto failed = [&](op_failure& f, std::size_t m) {
      // The comparator failed on two buffered items, not on the item being added now.
      f.item = op_failure::unknown_item;
      if (f.where.empty()) f.where = "sorting a run of " + std::to_string(m) + " buffered items";
    };
    if constexpr (by_integral_key) {
      const std::size_t room = policy_.limited() ? policy_.thread_share : ~std::size_t{0};
      const std::size_t others = l.items.capacity() * sizeof(T) + l.held() - l.scratch.capacity() * sizeof(T);
      for (std::size_t pieces = 1; n >= 64 && pieces <= 4; ++pieces) {
        const std::size_t piece = (n + pieces - 1) / pieces;
        if (others + std::max(piece, l.scratch.capacity()) * sizeof(T) > room) continue;
        if (l.scratch.capacity() < piece) {
          l.scratch = item_buffer<T>();  // the old one goes first
          l.scratch.reserve(piece);
        }
        const std::string& label = this->label();
        auto key_of = [&](const T& x) { return ordered_bits(invoke_user(label, comp_.key_fn, x)); };
        for (std::size_t at = 0; at < n; at += piece) {
          const std::size_t m = std::min(piece, n - at);
          try {
            distribute_sort_run(items + at, m, l.scratch.data(), key_of, less(), [&] { return changed_key_failure(label); });
          } catch (op_failure& f) {
            failed(f, m);
            throw;
          }
          emit(static_cast<const T*>(l.scratch.data()), m);
        }
        return;
      }
    }
    try {
      sort_items(items, items + n);
    } catch (op_failure& f) {
      failed(f, n);
      throw;
    }
    emit(static_cast<const T*>(items), n);
  }

  /// Whether sort_by's key is an integer (or char or enum-like integral type) and items copy as
  /// bytes: then the in-memory sort distributes by key ranges first (sort_distribute.hpp), and
  /// a merge of runs compares the keys as numbers (merge_key_of).
  static constexpr bool by_integral_key = [] {
    if constexpr (requires(const Compare& c, const T& x) { c.key_fn(x); }) {
      using K = std::remove_cvref_t<decltype(std::declval<const Compare&>().key_fn(std::declval<const T&>()))>;
      return std::is_same_v<Compare, by_key_less<decltype(Compare::key_fn)>> && distributable_key<K> &&
             std::is_trivially_copyable_v<T>;
    } else {
      return false;
    }
  }();

  void sort_in_memory(run_state& run, std::vector<local_buffer*>& locals) {
    std::size_t n = 0;
    for (local_buffer* l : locals) n += l->items.size();
    try {
      // The arenas stay alive with the locals: the joined items still view into them.
      sorted_ = item_buffer<T>();
      if constexpr (bytewise_string_sort<T, Compare>) {
        if (groups_) {
          arrange_groups(run, locals);
          return;
        }
      }
      std::vector<std::span<T>> sources;
      for (local_buffer* l : locals) sources.emplace_back(l->items.data(), l->items.size());
      if constexpr (bytewise_string_sort<T, Compare>) {
        if (n >= distribute_from_items) {
          item_buffer<prefixed_view> keyed;
          keyed.reserve(n);
          if (distribute_sort_strings(run, sources, keyed.data(), this->label())) keyed.append_written(n);
          // The sorted views go where the thread with the most buffered views kept them: those
          // pages are in memory already, and fresh memory is dear (the buffer grows by its
          // pages, item_buffer::reserve). Views own nothing: dropping them frees no line.
          local_buffer* most = *std::max_element(locals.begin(), locals.end(), [](local_buffer* a, local_buffer* b) {
            return a->items.size() < b->items.size();
          });
          sorted_ = std::move(most->items);
          sorted_.clear();
          for (local_buffer* l : locals) l->items = item_buffer<T>();
          sorted_.reserve(keyed.size());  // none when the run was cancelled
          for (std::size_t i = 0; i < keyed.size(); ++i) sorted_.emplace_back(keyed[i].s);
          set_ranges(run, sorted_.size());
          return;
        }
      }
      sorted_.reserve(n);
      if constexpr (by_integral_key) {
        if (n >= distribute_from_items) {
          const std::string& label = this->label();
          auto key_of = [&](const T& x) { return ordered_bits(invoke_user(label, comp_.key_fn, x)); };
          if (distribute_sort(run, sources, sorted_.data(), key_of, less(), label)) sorted_.append_written(n);
          for (local_buffer* l : locals) l->items = item_buffer<T>();
          set_ranges(run, sorted_.size());
          return;
        }
      }
      for (local_buffer* l : locals) {
        for (std::size_t i = 0; i < l->items.size(); ++i) sorted_.emplace_back(std::move(l->items[i]));
        l->items = item_buffer<T>();
      }
      run.ctx().arena().execute([&] {
        if constexpr (bytewise_string_sort<T, Compare>) {
          sort_prefixed(sorted_.data(), sorted_.data() + sorted_.size(), true);
        } else {
          parallel_safe_sort(sorted_.data(), sorted_.data() + sorted_.size(), less());
        }
      });
    } catch (const op_failure& f) {
      throw_stage_error(f, this->label());
    } catch (const std::bad_alloc&) {
      throw memory_error(this->label() + " (sort in memory)");
    }
    set_ranges(run, n);
  }

  /// A thread that holds group_from_bytes of strings starts keeping them by range (and so do
  /// the others, at their next batch): the ranges are equal shares of its strings so far. Below
  /// that, a sort keeps its strings as it did, and its memory is what it was.
  static constexpr std::size_t group_from_bytes = std::size_t{32} << 20;

  /// Whether the calling thread (its buffer `l`) keeps strings by range from now on.
  bool start_groups(local_buffer& l) {
    if (groups_ready_.load(std::memory_order_acquire)) return true;
    if (l.bytes.bytes_used() < group_from_bytes) return false;
    std::lock_guard<std::mutex> lock(release_mutex_);
    if (!groups_) {
      constexpr std::size_t samples = 4096;
      const std::size_t n = l.items.size(), step = std::max<std::size_t>(1, n / samples);
      std::vector<std::uint64_t> sample;
      sample.reserve(n / step + 1);
      for (std::size_t i = 0; i < n; i += step) sample.push_back(string_prefix(l.items[i]));
      groups_ = std::make_unique<line_groups>(std::move(sample));
      groups_ready_.store(true, std::memory_order_release);
    }
    return true;
  }

  /// Readies a sort that kept its strings by range for its output (sort_ranges.hpp): the
  /// strings a thread held before join their ranges as views.
  void arrange_groups(run_state& run, std::vector<local_buffer*>& locals) {
    std::vector<sorted_ranges::input> ranges(line_groups::count);
    for (local_buffer* l : locals) {
      for (std::size_t i = 0; i < l->items.size(); ++i) {
        const std::string_view s = l->items[i];
        ranges[groups_->group_of(string_prefix(s))].views.push_back(s);
      }
      l->items = item_buffer<T>();
      l->places.close();
      for (std::size_t g = 0; g < line_groups::count; ++g) {
        std::vector<line_groups::extent>& from = l->places.extents[g];
        ranges[g].records.insert(ranges[g].records.end(), from.begin(), from.end());
        std::vector<line_groups::extent>().swap(from);
        ranges[g].strings += l->places.strings[g];
      }
      l->charge.set(l->held());  // the ranges hold the views and extents now
    }
    by_range_.assign(std::move(ranges), run.ctx().threads(), gauge_charge(run.ctx().charged));
    const std::size_t n = by_range_.size();
    by_range_.sort_large(std::max<std::size_t>(distribute_from_items, 2 * n / line_groups::count),
                         [&](auto&& sort) { run.ctx().arena().execute(sort); });
    set_ranges(run, n);
    read_.assign(ranges_.size(), false);
  }

  /// Frees the strings kept by range (the views into them must be gone or unread).
  void drop_groups() noexcept {
    groups_.reset();
    groups_ready_.store(false, std::memory_order_relaxed);
    by_range_.clear();
    read_.clear();
    read_up_to_ = released_ = 0;
  }

  /// Splits the n sorted items into output partitions. Many small ones: an ordered sink
  /// (write_lines) holds the output of the partitions that finish before their turn, so the
  /// smaller they are, the less it holds.
  void set_ranges(run_state& run, std::size_t n) {
    if (n == 0) return;
    const std::size_t parts = source_partitions(n, run.ctx().threads());
    for (std::size_t p = 0; p < parts; ++p) ranges_.push_back(partition_range(n, parts, p));
  }

  /// Blocks of runs: small enough that a range of the final merge decodes little of the blocks
  /// it shares with its neighbours (it starts and ends inside one block of each run).
  std::size_t run_block_bytes() const noexcept { return std::min<std::size_t>(policy_.block_bytes, 128 * 1024); }

  /// Splits the final merge into key ranges that threads merge at once (sort_cuts.hpp), each
  /// of about a quarter of a thread's share.
  void split_merge(run_state& run) {
    const std::uint64_t target = std::max<std::uint64_t>(policy_.thread_share / 4, 4 * run_block_bytes());
    cuts_.split(run, runs_, less(), target, this->label());
  }

  /// Streams partition p of the final merge: from each run, the items between its cuts.
  void merge_range(std::size_t p, batch_consumer<T>& out) {
    if (cuts_.empty()) {
      merge_to(runs_, {}, out);
      return;
    }
    std::vector<spill_segment> pieces;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> limits;
    cuts_.pieces_of(p, runs_, pieces, limits);
    merge_to(pieces, limits, out);
  }

  /// Streams the merge of `runs` (limited as run_merger's `limits` say) to a consumer, in batches.
  void merge_to(const std::vector<spill_segment>& runs, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& limits,
                batch_consumer<T>& out) {
    run_merger<T, decltype(less()), decltype(merge_key_of())> merger(runs, this->label(), less(), limits, merge_key_of());
    item_buffer<T> batch;
    batch.reserve(batch_items<T>);
    auto flush = [&] {
      if (!batch.empty() && !stop_requested()) out.consume(batch.span());
      batch.clear();
    };
    merger.run(
        [&](const T& x) {
          batch.emplace_back(x);
          if (batch.size() == batch_items<T>) flush();
        },
        flush);
    flush();
  }

  /// Merges `runs` into one new run.
  spill_segment merge_to_run(const std::vector<spill_segment>& runs) {
    const std::string& label = this->label();
    spill_writer w(this->ctx().spill_dir(label), label, run_block_bytes());
    w.keep_fences();
    run_merger<T, decltype(less()), decltype(merge_key_of())> merger(runs, label, less(), {}, merge_key_of());
    merger.run([&](const T& x) { w.add(x); }, [] {});
    spill_segment s = w.end_segment();
    w.close();
    return s;
  }

  Compare comp_;
  spill_policy policy_;
  std::atomic<bool> spilled_any_{false};
  std::optional<per_thread<local_buffer>> locals_;
  item_buffer<T> sorted_;                                   // in memory: every item, sorted
  std::vector<std::pair<std::size_t, std::size_t>> ranges_;  // in memory: output partitions
  std::vector<spill_segment> runs_;                         // on disk: the runs of the last merge
  merge_cuts<T> cuts_;                                      // on disk: the output partitions' cuts
  // In memory, a large bytewise sort of strings: the strings by range, and what of them the
  // output has passed (release_partition).
  std::unique_ptr<line_groups> groups_;
  std::atomic<bool> groups_ready_{false};
  std::mutex release_mutex_;
  sorted_ranges by_range_;               // the output of such a sort, by range
  std::vector<bool> read_;               // per output partition
  std::size_t read_up_to_ = 0;           // partitions read, counted from the first
  std::size_t released_ = 0;             // groups freed, counted from the first
};

/// A sort fed by a parent node through a fused operator stack.
template <class T, class Compare, class Stack>
using sort_node = fed_node<sort_core<T, Compare>, Stack>;

/// What a sort starts from: on one process, make_sort() (the whole sort); on a job of several
/// ranks, this rank's items held as they come, for the splitters' samples and the exchange by
/// range: only what a rank receives needs sorting (ops/sort_across_ranks.hpp).
template <class T, class Stack, class MakeSort>
std::shared_ptr<node<T>> sort_or_hold(const std::shared_ptr<node<typename Stack::input_type>>& parent,
                                      const Stack& stack, MakeSort&& make_sort) {
  if (across_ranks_built && multi_rank(parent->ctx())) {
    return std::make_shared<cache_node<T, Stack>>(parent, stack, false, "hold");
  }
  return make_sort();
}

}  // namespace detail

template <class T, class Stack>
template <class Compare>
auto dataset<T, Stack>::sort(Compare comp) const {
  static_assert(detail::const_callable_r<Compare, bool, const T&, const T&>,
                "dataflow::sort: the comparator must be callable as comp(const T&, const T&) -> "
                "bool, on a const object");
  auto local = detail::sort_or_hold<T>(node_, stack_, [&] {
    return std::make_shared<detail::sort_node<T, Compare, Stack>>(node_, stack_, comp, "sort");
  });
  return dataset<T>(detail::sort_across_ranks<T>(std::move(local), comp, [&](auto received) {
    return std::make_shared<detail::sort_node<T, Compare, detail::op_stack<T>>>(received, detail::op_stack<T>{}, comp, "sort");
  }));
}

template <class T, class Stack>
template <class KeyFn>
auto dataset<T, Stack>::sort_by(KeyFn key_fn) const {
  static_assert(detail::const_callable<KeyFn, const T&>,
                "dataflow::sort_by: the key function must be callable as key_fn(const T&) -> K, "
                "on a const object");
  using Less = detail::by_key_less<KeyFn>;
  Less less{std::move(key_fn)};
  auto local = detail::sort_or_hold<T>(node_, stack_, [&] {
    return std::make_shared<detail::sort_node<T, Less, Stack>>(node_, stack_, less, "sort_by");
  });
  return dataset<T>(detail::sort_across_ranks<T>(std::move(local), less, [&](auto received) {
    return std::make_shared<detail::sort_node<T, Less, detail::op_stack<T>>>(received, detail::op_stack<T>{}, less, "sort_by");
  }));
}

}  // namespace dataflow
