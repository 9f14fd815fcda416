// The state of a windowed aggregation over a stream (keyed state without windows is one window
// that never closes): each window's table of entries by key, the results it hands on, the time
// to live of keys, its share of the memory budget and its spills (state_table.hpp), and its part
// of a checkpoint.
#pragma once

#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/graph/context_state.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/stream/checkpoint_store.hpp>
#include <dataflow/stream/state_table.hpp>
#include <dataflow/stream/stream_stats.hpp>
#include <dataflow/stream/windows.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

template <class K>
struct stream_key_hash {
  std::size_t operator()(const K& k) const { return static_cast<std::size_t>(table_hash(k)); }
};

template <class SK, class V, class Op>
class window_state {
 public:
  using table = state_table<SK, V, stream_key_hash<SK>>;
  using entry = typename table::entry;
  using result_type = window_result<SK, V>;

  struct config {
    std::int64_t size_ms = 0;
    event_time allowed_lateness = 0;
    emit_policy emit = emit_policy::on_close;
    std::chrono::milliseconds time_to_live{0};  // keyed state without windows: zero keeps keys
  };

  window_state(std::shared_ptr<context_state> ctx, Op op, std::string label)
      : ctx_(std::move(ctx)), op_(std::move(op)), label_(std::move(label)) {}

  /// Sets how windows behave, and the state's share of the context's budget: half of it (the
  /// batches share the rest, spill_policy.hpp). Before the first batch.
  void configure(const config& c) {
    cfg_ = c;
    state_share_ = ctx_->memory_budget > 0 ? ctx_->memory_budget / 2 : std::numeric_limits<std::size_t>::max();
  }

  /// Merges a batch's reduced ((window start, key), value) pairs into the state.
  template <class Reduced>
  void apply(Reduced& reduced, std::chrono::steady_clock::time_point now) {
    load_spilled(reduced, now);
    for (auto& [wk, v] : reduced) merge(std::move(wk), std::move(v), now);
  }

  /// Results handed on so far (restored from a checkpoint with the rest).
  std::uint64_t results() const noexcept { return results_; }
  void set_results(std::uint64_t n) noexcept { results_ = n; }

  /// Early updates, updates of keyed state, new keys: the entries this batch changed.
  template <class OnResult>
  void hand_on_updates(OnResult& on_result) {
    const std::int64_t size = cfg_.size_ms;
    for (const touched_entry& t : touched_) {
      if (cfg_.emit == emit_policy::new_keys && !t.inserted) continue;
      if (t.e->emitted) continue;  // a closed window's late update: close_windows hands it on
      result_type r{t.start, t.start + size, *t.key, t.e->value, t.e->revision++, false};
      on_result(std::as_const(r));
      ++results_;
    }
    touched_.clear();
  }

  /// Keyed state without windows: drops the keys not updated for the time to live (a look every
  /// eighth of it, so that the scan costs little).
  void expire_keys(std::chrono::steady_clock::time_point now) {
    const auto ttl = cfg_.time_to_live;
    if (ttl.count() <= 0 || now - last_expiry_ < std::max<std::chrono::milliseconds>(ttl / 8, std::chrono::milliseconds(10))) {
      return;
    }
    last_expiry_ = now;
    const std::int64_t before = expiry_cutoff(now);
    for (auto& [start, t] : windows_) {
      std::erase_if(t.hot(), [&](const auto& kv) {
        if (kv.second.updated >= before) return false;
        state_bytes_ -= entry_bytes(kv.first, kv.second);
        --open_entries_;
        ++expired_total_;
        return true;
      });
    }
  }

  /// Past its share of the budget, the state goes to disk: every window's entries in memory
  /// become a run (merging its runs once they are too many).
  void keep_to_share(std::chrono::steady_clock::time_point now) {
    if (state_bytes_ + index_bytes_ > state_share_) {
      if (!disk_.dir) {
        const std::string stage = label_ + " (state)";
        disk_ = {ctx_->spill_dir(stage), stage, spill_policy::for_context(*ctx_).block_bytes};
      }
      for (auto& [start, t] : windows_) {
        if (t.hot().empty()) continue;
        const auto held = hot_figures(t);
        t.spill(disk_);  // on failure, the entries stay in memory, counted
        forget(held);
        any_spilled_ = true;
        if (t.runs() > table::max_runs) {
          expired_total_ += t.visit(op_, expiry_cutoff(now), true, disk_, [](const SK&, entry&) {});
        }
      }
      ++spills_;
      index_bytes_ = 0;
      for (const auto& [start, t] : windows_) index_bytes_ += t.index_bytes();
    }
    ctx_->stream_state_bytes.store(static_cast<std::size_t>(state_bytes_));
  }

  /// The state's figures for the statistics.
  void figures(stream_stats& s) const noexcept {
    std::uint64_t records = 0, disk_bytes = 0;
    if (any_spilled_) {
      for (const auto& [start, t] : windows_) records += t.disk_records(), disk_bytes += t.disk_bytes();
    }
    s.open_windows = open_entries_ + records;  // a key on disk counts once per copy until runs merge
    s.state_bytes = state_bytes_;
    s.state_disk_bytes = disk_bytes;
    s.state_spills = spills_;
    s.expired_keys = expired_total_;
  }

  /// Hands on the results of the windows that the watermark has passed, and drops those it has
  /// passed by the allowed lateness.
  template <class OnResult>
  void close_windows(event_time watermark, OnResult& on_result) {
    if (watermark == no_watermark) return;  // no partition has a time yet: nothing has closed
    const std::int64_t size = cfg_.size_ms;
    const bool results = cfg_.emit == emit_policy::on_close || cfg_.emit == emit_policy::early;
    for (auto w = windows_.begin(); w != windows_.end();) {
      const event_time start = w->first;
      if (start + size > watermark) break;  // windows are in order of start, so of end
      table& t = w->second;
      // Kept for late events until the watermark passes its end by the allowed lateness.
      const bool drop = watermark == final_watermark || start + size + cfg_.allowed_lateness <= watermark;
      auto hand_on = [&](const SK& key, entry& e) {
        if (results && (!e.emitted || e.dirty)) {
          result_type r{start, start + size, key, e.value, e.revision, true};
          on_result(std::as_const(r));  // marked handed on once it was
          ++e.revision;
          e.emitted = true;
          e.dirty = false;
          ++results_;
        }
      };
      if (results && t.spilled() && !t.closed) {
        // Its first close, on disk: read whole, and, when kept, written back as one run.
        const auto held = hot_figures(t);
        t.visit(op_, never_expired, !drop, disk_, hand_on);
        if (!drop) forget(held);  // the rewrite emptied the memory
      } else {
        // In memory; or closed before, when its entries in memory are whole (loaded before
        // they changed) and the ones on disk were handed on.
        for (auto& [key, e] : t.hot()) hand_on(key, e);
      }
      t.closed = true;
      t.combining = false;
      if (drop) {
        forget(hot_figures(t));
        w = windows_.erase(w);
      } else {
        ++w;
      }
    }
  }

  /// The windows and their entries, as checkpoint records: each window (tag 1, with whether it
  /// has closed) and its entries (tag 2); tag 0 ends them.
  void write(checkpoint_writer& out, std::chrono::steady_clock::time_point now) {
    byte_writer& w = out.out();
    const std::int64_t expired_before = expiry_cutoff(now);
    for (auto& [start, t] : windows_) {
      w.write_varint(1);
      w.write_varint(static_cast<std::uint64_t>(start));
      w.write_varint(t.closed ? 1 : 0);
      out.end_record();
      t.visit(op_, expired_before, false, disk_, [&](const SK& key, const entry& e) {
        w.write_varint(2);
        encode(w, key);
        encode(w, e.value);
        w.write_varint(e.emitted ? 1 : 0);
        w.write_varint(e.revision);
        out.end_record();
      });
    }
    w.write_varint(0);
    out.end_record();
  }

  /// Reads what write wrote.
  void read(checkpoint_reader& in, std::chrono::steady_clock::time_point now) {
    table* window = nullptr;
    for (;;) {
      byte_reader& rec = in.next();
      const std::uint64_t tag = rec.read_varint();
      if (tag == 0) return;
      if (tag == 1) {
        const auto start = static_cast<event_time>(rec.read_varint());
        window = &window_table(start);
        if (rec.read_varint() != 0) {
          window->closed = true;  // handed on before the checkpoint (its late updates not yet)
          window->combining = false;
        }
        continue;
      }
      if (tag != 2 || window == nullptr) throw error("a record of unknown kind " + std::to_string(tag));
      SK key = decode<SK>(rec);
      entry e{decode<V>(rec)};
      e.emitted = rec.read_varint() != 0;
      e.revision = static_cast<std::uint32_t>(rec.read_varint());
      e.updated = steady_ns(now);
      auto [it, inserted] = window->hot().emplace(std::move(key), std::move(e));
      if (!inserted) throw error("a key appears twice in a window");
      state_bytes_ += entry_bytes(it->first, it->second);
      ++open_entries_;
      if (state_bytes_ > state_share_) keep_to_share(now);
    }
  }

 private:
  // An entry that the current batch changed, for the policies that hand on updates.
  struct touched_entry {
    event_time start;
    const SK* key;
    entry* e;
    bool inserted;
  };

  // An entry's share of the state's memory: itself, its hash node, what key and value own.
  static std::size_t entry_bytes(const SK& key, const entry& e) noexcept {
    return sizeof(SK) + sizeof(entry) + 2 * sizeof(void*) + heap_bytes(key) + heap_bytes(e.value);
  }

  // Entries updated before this are past the time to live.
  std::int64_t expiry_cutoff(std::chrono::steady_clock::time_point now) const noexcept {
    const auto ttl = cfg_.time_to_live;
    return ttl.count() > 0 ? steady_ns(now) - std::chrono::nanoseconds(ttl).count() : never_expired;
  }

  // The table of the window starting at `start`, made when missing.
  table& window_table(event_time start) {
    auto [it, made] = windows_.try_emplace(start);
    if (made) it->second.combining = cfg_.emit == emit_policy::on_close;
    return it->second;
  }

  // Brings into memory the entries on disk of the keys a batch changes, where the whole value
  // is handed on (resolving tables, state_table.hpp).
  template <class Reduced>
  void load_spilled(const Reduced& reduced, std::chrono::steady_clock::time_point now) {
    if (!any_spilled_) return;
    std::map<event_time, std::vector<std::pair<std::uint64_t, const SK*>>> wanted;
    for (const auto& [wk, v] : reduced) {
      auto it = windows_.find(wk.first);
      if (it == windows_.end() || !it->second.spilled() || it->second.combining) continue;
      if (it->second.hot().contains(wk.second)) continue;
      wanted[wk.first].emplace_back(table_hash(wk.second), &wk.second);
    }
    for (auto& [start, keys] : wanted) {
      expired_total_ += windows_[start].load(keys, expiry_cutoff(now), disk_.stage, [&](const SK& key, const entry& e) {
        ++open_entries_;
        state_bytes_ += entry_bytes(key, e);
      });
    }
  }

  // A table's entries in memory and their size; forget() takes them off the figures once they
  // have gone (to disk, or dropped).
  std::pair<std::size_t, std::uint64_t> hot_figures(const table& t) const noexcept {
    std::uint64_t bytes = 0;
    for (const auto& [key, e] : t.hot()) bytes += entry_bytes(key, e);
    return {t.hot().size(), bytes};
  }
  void forget(std::pair<std::size_t, std::uint64_t> held) noexcept {
    open_entries_ -= held.first;
    state_bytes_ -= held.second;
  }

  void merge(std::pair<event_time, SK>&& wk, V&& v, std::chrono::steady_clock::time_point now) {
    auto& window = window_table(wk.first).hot();
    auto it = window.find(wk.second);
    bool inserted = it == window.end();
    if (!inserted && cfg_.time_to_live.count() > 0 && it->second.updated < expiry_cutoff(now)) {
      // Past its time to live, not yet swept by expire_keys: it comes back afresh, as from disk.
      state_bytes_ -= entry_bytes(it->first, it->second);
      --open_entries_;
      ++expired_total_;
      window.erase(it);
      inserted = true;
    }
    if (inserted) it = window.emplace(std::move(wk.second), entry{std::move(v)}).first;
    it->second.updated = steady_ns(now);
    if (cfg_.emit != emit_policy::on_close) touched_.push_back({wk.first, &it->first, &it->second, inserted});
    if (inserted) {
      ++open_entries_;
      state_bytes_ += entry_bytes(it->first, it->second);
    } else {
      const std::size_t was = heap_bytes(it->second.value);
      it->second.value = std::invoke(op_, std::as_const(it->second.value), std::as_const(v));
      state_bytes_ += heap_bytes(it->second.value) - was;
      if (it->second.emitted) it->second.dirty = true;
    }
  }

  std::shared_ptr<context_state> ctx_;
  Op op_;
  std::string label_;  // the window operator's
  config cfg_;
  std::map<event_time, table> windows_;  // by window start
  std::size_t open_entries_ = 0;   // entries in memory
  std::uint64_t state_bytes_ = 0;  // their size
  std::size_t state_share_ = std::numeric_limits<std::size_t>::max();  // of the budget, for the state in memory
  typename table::disk disk_;      // where the state spills, once it has
  bool any_spilled_ = false;
  std::uint64_t index_bytes_ = 0;  // the runs' block indexes and Bloom filters, in memory
  std::uint64_t spills_ = 0;
  std::uint64_t results_ = 0;
  std::uint64_t expired_total_ = 0;  // keys dropped by the time to live
  std::vector<touched_entry> touched_;
  std::chrono::steady_clock::time_point last_expiry_ = std::chrono::steady_clock::now();
};

}  // namespace dataflow::detail
