// The state of one window of a stream aggregation (keyed state without windows is one window):
// a hash table in memory and, once the stream's state outgrows its share of the memory budget,
// runs on disk.
//
// A spill writes the entries in memory, in the order of their key's hash, as a run: checksummed
// blocks in an unnamed spill file (spill_file.hpp, so nothing outlives the process), of which
// memory keeps only each block's place and its first and last hash. A table uses its runs in one
// of two ways:
//  - combining: a window whose result waits for its close. A batch adds partial values in memory
//    without reading the disk, so a key may sit in several runs; reading the window whole (at its
//    close, for a checkpoint, to merge runs) combines them with the aggregation's operator,
//    oldest first.
//  - resolving: keyed state, early updates, a closed window kept for late events: each batch
//    hands on whole values. Before a batch changes keys, `load` brings their entries into memory
//    from the runs, reading only the blocks whose hash range holds one of them, and skipping a
//    run whose Bloom filter (10 bits a key, in memory) says it holds none: keys seen for the
//    first time, most of them in a stream of many keys, cost no reading. In memory they
//    supersede the runs' copies (the newest copy of a key wins).
// Past `max_runs` runs, the runs are merged into one, which drops the copies newer ones
// superseded and the keys past their time to live.
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// A key's entry in a window's state.
template <class V>
struct state_entry {
  V value;
  bool emitted = false;        // handed on once the watermark passed the window's end
  bool dirty = false;          // updated by late events since
  std::uint32_t revision = 0;  // results of it handed on so far
  std::int64_t updated = 0;    // steady clock, ns: for the time to live
};

/// An entry as a run holds it.
template <class SK, class V>
struct state_record {
  std::uint64_t hash;
  SK key;
  V value;
  std::uint32_t revision;
  std::uint8_t flags;  // 1: emitted, 2: dirty
  std::int64_t updated;
};

inline std::int64_t steady_ns(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

/// Entries updated before this are past their time to live: none, without one.
inline constexpr std::int64_t never_expired = std::numeric_limits<std::int64_t>::min();

/// Which key hashes a run may hold: a Bloom filter of about 10 bits a key, 4 probes (1% false
/// positives), set from the 64-bit key hash.
class hash_filter {
 public:
  explicit hash_filter(std::size_t keys) {
    std::size_t bits = 64;
    while (bits < keys * 10) bits <<= 1;
    words_.assign(bits / 64, 0);
    mask_ = bits - 1;
  }
  void add(std::uint64_t h) noexcept {
    for_probes(h, [&](std::uint64_t bit) { words_[bit >> 6] |= std::uint64_t{1} << (bit & 63); });
  }
  bool may_hold(std::uint64_t h) const noexcept {
    bool all = true;
    for_probes(h, [&](std::uint64_t bit) { all = all && (words_[bit >> 6] >> (bit & 63) & 1) != 0; });
    return all;
  }
  std::size_t bytes() const noexcept { return words_.size() * 8; }

 private:
  template <class F>
  void for_probes(std::uint64_t h, F&& f) const noexcept {
    const std::uint64_t step = (h >> 32 | h << 32) | 1;  // double hashing
    for (int i = 0; i < 4; ++i, h += step) f(h & mask_);
  }
  std::vector<std::uint64_t> words_;
  std::uint64_t mask_ = 63;
};

template <class SK, class V, class Hash>
class state_table {
 public:
  using entry = state_entry<V>;
  using record = state_record<SK, V>;
  using map_type = std::unordered_map<SK, entry, Hash>;
  static constexpr std::size_t max_runs = 8;

  /// Where runs go and how errors name them.
  struct disk {
    std::shared_ptr<spill_directory> dir;
    std::string stage;
    std::size_t block_bytes = 256 * 1024;
  };

  map_type& hot() noexcept { return hot_; }
  const map_type& hot() const noexcept { return hot_; }
  bool spilled() const noexcept { return !runs_.empty(); }
  std::size_t runs() const noexcept { return runs_.size(); }
  /// Entries in runs (a key superseded by a newer copy counts once per copy).
  std::uint64_t disk_records() const noexcept { return disk_records_; }
  std::uint64_t disk_bytes() const noexcept { return disk_bytes_; }
  /// Memory the runs hold: their block indexes and Bloom filters.
  std::size_t index_bytes() const noexcept {
    std::size_t n = 0;
    for (const run& r : runs_) n += r.blocks.size() * sizeof(block) + r.filter.bytes();
    return n;
  }

  /// Combining (see above) until the window closes; keyed state and early updates resolve.
  bool combining = false;
  /// The window has been through its close once: only its entries in memory can need handing on.
  bool closed = false;

  /// Writes the entries in memory to a new run and empties the table in memory.
  void spill(const disk& d) {
    if (hot_.empty()) return;
    std::vector<std::pair<std::uint64_t, typename map_type::value_type*>> order;
    order.reserve(hot_.size());
    for (auto& kv : hot_) order.emplace_back(table_hash(kv.first), &kv);
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    run_writer out(d, order.size());
    for (auto& [h, kv] : order) out.add(record_of(h, kv->first, kv->second));
    add_run(out.finish());
    hot_.clear();
  }

  /// Brings into memory the entries on disk of `wanted` (keys absent from memory, each once, with
  /// their hashes), calling on_loaded(key, entry) for each; a copy past its time to live is
  /// taken for absent, and counted in the result. Sorts `wanted`.
  template <class OnLoaded>
  std::uint64_t load(std::vector<std::pair<std::uint64_t, const SK*>>& wanted, std::int64_t expired_before,
            const std::string& stage, OnLoaded&& on_loaded) {
    std::uint64_t expired = 0;
    if (runs_.empty() || wanted.empty()) return expired;
    std::sort(wanted.begin(), wanted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<bool> found(wanted.size(), false);
    std::vector<std::uint64_t> maybe;  // the hashes the run may hold, in order
    for (auto run = runs_.rbegin(); run != runs_.rend(); ++run) {  // newest first
      maybe.clear();
      for (std::size_t i = 0; i < wanted.size(); ++i) {
        if (!found[i] && run->filter.may_hold(wanted[i].first)) maybe.push_back(wanted[i].first);
      }
      std::size_t at = 0;
      for (const block& b : run->blocks) {
        while (at < maybe.size() && maybe[at] < b.first) ++at;
        if (at == maybe.size()) break;
        if (maybe[at] > b.last) continue;
        for_each_spilled<record>(b.seg, stage, [&](record&& r) {
          auto it = std::lower_bound(wanted.begin(), wanted.end(), r.hash,
                                     [](const auto& w, std::uint64_t h) { return w.first < h; });
          for (; it != wanted.end() && it->first == r.hash; ++it) {
            const auto i = static_cast<std::size_t>(it - wanted.begin());
            if (found[i] || !(*it->second == r.key)) continue;
            found[i] = true;
            if (r.updated < expired_before) {
              ++expired;  // past its time to live: absent
              break;
            }
            auto [kv, inserted] = hot_.try_emplace(std::move(r.key), entry_of(std::move(r)));
            if (inserted) on_loaded(kv->first, kv->second);
            break;
          }
        });
      }
    }    return expired;
  }

  /// Calls f(key, entry&) for every key, runs and memory merged (in hash order once spilled),
  /// skipping keys past their time to live. With `rewrite`, what f leaves becomes the table: one
  /// run once spilled, an empty table in memory. Returns the keys dropped for their time to
  /// live (only counted once spilled: in memory, expire them first).
  template <class Op, class F>
  std::uint64_t visit(const Op& op, std::int64_t expired_before, bool rewrite, const disk& d, F&& f) {
    if (runs_.empty()) {
      for (auto& [k, e] : hot_) f(k, e);
      return 0;
    }
    merged_reader in(*this, d.stage);
    std::optional<run_writer> out;
    if (rewrite) out.emplace(d, static_cast<std::size_t>(disk_records_) + hot_.size());
    std::uint64_t dropped = 0;
    std::vector<std::pair<SK, entry>> group;
    while (in.next_group(group)) {
      // Copies of one hash, oldest first: equal keys fold into the first of them.
      for (std::size_t i = 0; i < group.size(); ++i) {
        std::size_t j = 0;
        while (j < i && !(group[j].first == group[i].first)) ++j;
        if (j == i) continue;
        entry& into = group[j].second;
        if (combining) {
          into.value = std::invoke(op, std::as_const(into.value), std::as_const(group[i].second.value));
          into.updated = std::max(into.updated, group[i].second.updated);
        } else {
          into = std::move(group[i].second);
        }
        group.erase(group.begin() + static_cast<std::ptrdiff_t>(i--));
      }
      for (auto& [k, e] : group) {
        if (e.updated < expired_before) {
          ++dropped;
          continue;
        }
        f(std::as_const(k), e);
        if (out) out->add(record_of(table_hash(k), k, e));
      }
    }
    if (out) {
      run done = out->finish();
      runs_.clear();
      disk_records_ = 0;
      disk_bytes_ = 0;
      if (done.whole.items > 0) add_run(std::move(done));
      hot_.clear();
    }
    return dropped;
  }

  /// Drops everything, on disk too.
  void clear() noexcept {
    hot_.clear();
    runs_.clear();
    disk_records_ = 0;
    disk_bytes_ = 0;
  }

 private:
  struct block {
    std::uint64_t first = 0, last = 0;  // the hashes it holds are in [first, last]
    spill_segment seg;
  };
  struct run {
    spill_segment whole;
    std::vector<block> blocks;
    hash_filter filter{0};
  };

  static record record_of(std::uint64_t h, const SK& k, const entry& e) {
    return record{h, k, e.value, e.revision,
                  static_cast<std::uint8_t>((e.emitted ? 1 : 0) | (e.dirty ? 2 : 0)), e.updated};
  }
  static entry entry_of(record&& r) {
    return entry{std::move(r.value), (r.flags & 1) != 0, (r.flags & 2) != 0, r.revision, r.updated};
  }

  void add_run(run r) {
    disk_records_ += r.whole.items;
    disk_bytes_ += r.whole.bytes;
    runs_.push_back(std::move(r));
  }

  // Writes records in hash order as a run, ending a block each time the writer flushes one.
  class run_writer {
   public:
    run_writer(const disk& d, std::size_t keys) : w_(d.dir, d.stage, d.block_bytes), filter_(keys) {}
    void add(const record& r) {
      filter_.add(r.hash);
      if (!open_) {
        current_.first = r.hash;
        open_ = true;
      }
      current_.last = r.hash;
      const std::uint64_t before = w_.bytes_written();
      w_.add(r);
      if (w_.bytes_written() != before) end_block();  // the writer flushed a block: this one ends
    }
    run finish() {
      if (open_) end_block();
      run r;
      if (!blocks_.empty()) {
        r.whole = blocks_.front().seg;
        for (std::size_t i = 1; i < blocks_.size(); ++i) {
          r.whole.bytes += blocks_[i].seg.bytes;
          r.whole.items += blocks_[i].seg.items;
        }
      }
      r.blocks = std::move(blocks_);
      r.filter = std::move(filter_);
      return r;
    }

   private:
    void end_block() {
      current_.seg = w_.end_segment();
      blocks_.push_back(std::move(current_));
      current_ = block{};
      open_ = false;
    }
    spill_writer w_;
    hash_filter filter_;
    std::vector<block> blocks_;
    block current_;
    bool open_ = false;
  };

  // The runs (oldest first) and the entries in memory (newest), in hash order together.
  class merged_reader {
   public:
    merged_reader(state_table& t, const std::string& stage) {
      for (run& r : t.runs_) cursors_.push_back(cursor{std::make_unique<spill_reader>(r.whole, stage), {}, 0});
      for (auto& kv : t.hot_) hot_.emplace_back(table_hash(kv.first), &kv);
      std::sort(hot_.begin(), hot_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      stage_ = stage;
      for (cursor& c : cursors_) fill(c);
    }

    // The copies of the next hash, oldest first; false at the end.
    bool next_group(std::vector<std::pair<SK, entry>>& group) {
      group.clear();
      std::uint64_t h = std::numeric_limits<std::uint64_t>::max();
      bool any = false;
      for (const cursor& c : cursors_) {
        if (c.at < c.items.size()) h = std::min(h, c.items[c.at].hash), any = true;
      }
      if (hot_at_ < hot_.size()) h = std::min(h, hot_[hot_at_].first), any = true;
      if (!any) return false;
      for (cursor& c : cursors_) {
        while (c.at < c.items.size() && c.items[c.at].hash == h) {
          record& r = c.items[c.at];
          group.emplace_back(std::move(r.key), entry_of(std::move(r)));
          if (++c.at == c.items.size()) fill(c);
        }
      }
      for (; hot_at_ < hot_.size() && hot_[hot_at_].first == h; ++hot_at_) {
        group.emplace_back(hot_[hot_at_].second->first, hot_[hot_at_].second->second);
      }
      return true;
    }

   private:
    struct cursor {
      std::unique_ptr<spill_reader> in;
      std::vector<record> items;
      std::size_t at = 0;
    };
    void fill(cursor& c) {
      c.items.clear();
      c.at = 0;
      while (c.items.empty() && c.in->next_block()) {
        byte_reader r = c.in->reader();
        for (std::size_t i = c.in->block_items(); i > 0; --i) c.items.push_back(spill_decode<record>(r));
        check_block_end(r, stage_);
      }
    }
    std::vector<cursor> cursors_;
    std::vector<std::pair<std::uint64_t, typename map_type::value_type*>> hot_;
    std::size_t hot_at_ = 0;
    std::string stage_;
  };

  map_type hot_;
  std::vector<run> runs_;
  std::uint64_t disk_records_ = 0;
  std::uint64_t disk_bytes_ = 0;
};

}  // namespace dataflow::detail
