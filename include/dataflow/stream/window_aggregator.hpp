// The engine of a windowed aggregation over a stream: the batch loop on the stream's driver
// thread, the window assignment run in each batch job, the per-partition watermarks, the state
// by window, and its checkpoints. See stream.hpp for the behaviour it implements.
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/stream/checkpoint_store.hpp>
#include <dataflow/stream/dead_letters.hpp>
#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/stream/stream_run.hpp>
#include <dataflow/stream/window_assigner.hpp>
#include <dataflow/stream/window_state.hpp>
#include <dataflow/stream/windows.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// The state and the batch loop of a windowed aggregation; runs on the stream's driver thread.
template <class Source, class Stack, class TimeFn, class KeyFn, class ValueFn, class Op>
class window_aggregator {
  using In = typename Source::item_type;
  using T = typename Stack::output_type;
  using K = std::remove_cvref_t<call_result_t<KeyFn, const T&>>;
  using SK = stored_t<K>;
  using V = std::remove_cvref_t<call_result_t<ValueFn, const T&>>;
  static_assert(std::is_same_v<V, stored_t<V>>,
                "dataflow: a stream aggregation's values must own their data (std::string, not "
                "std::string_view): they outlive the batch they came from");
  using pair_type = std::pair<std::pair<event_time, K>, V>;

 public:
  using result_type = window_result<SK, V>;
  /// Whether the source can resume from a checkpoint.
  static constexpr bool can_checkpoint = requires(Source& s) {
    s.checkpoint_position();
    s.restore_position(std::string());
  };

  struct settings {
    window_spec spec;
    event_time max_delay = 0;
    event_time allowed_lateness = 0;
    std::function<void(const T&)> on_late;
    emit_policy emit = emit_policy::on_close;
    std::chrono::milliseconds time_to_live{0};  // keyed state without windows: zero keeps keys
  };

  window_aggregator(std::shared_ptr<context_state> ctx, Source source, Stack stack, TimeFn time_fn,
                    KeyFn key_fn, ValueFn value_fn, Op op, settings s)
      : ctx_(std::move(ctx)),
        source_(std::move(source)),
        stack_(std::move(stack)),
        time_fn_(std::move(time_fn)),
        key_fn_(std::move(key_fn)),
        value_fn_(std::move(value_fn)),
        op_(std::move(op)),
        settings_(std::move(s)),
        window_label_(ctx_->label("window")),
        state_(ctx_, op_, window_label_) {}

  /// Marks the aggregation started and its context streaming: a second start of it, or a
  /// second stream on the context while this one runs, is a usage_error.
  void configure(settings s) {
    if (started_.load()) throw usage_error("dataflow::start: this stream aggregation is already started");
    settings_ = std::move(s);
  }

  void claim() {
    if (started_.load()) throw usage_error("dataflow::start: this stream aggregation is already started");
    if (ctx_->streaming.exchange(true)) {
      throw usage_error("dataflow::start: another stream is running on this context; give each stream a context "
                        "of its own (a stream's batches are actions of its context)");
    }
    started_.store(true);
  }

  /// Runs the stream's batches on this thread (its actions, alone on the context).
  void enter() noexcept { ctx_->stream_thread.store(std::this_thread::get_id()); }

  /// The context is free for another stream.
  void release() noexcept {
    ctx_->stream_state_bytes.store(0);
    ctx_->stream_thread.store(std::thread::id{});
    ctx_->streaming.store(false);
  }

  /// Takes batches from the source until it ends or `control.stop`, handing each closed window's
  /// results to `on_result`.
  template <class OnResult>
  void run(const stream_options& options, stream_control& control, OnResult& on_result) {
    name_ = options.name;
    state_.configure({settings_.spec.size_ms, settings_.allowed_lateness, settings_.emit, settings_.time_to_live});
    std::optional<checkpoint_store> store = open_checkpoints(options, control);
    // A sink of one file per epoch (epoch_files) seals its file just before each checkpoint.
    constexpr bool epochs = requires {
      on_result.begin_epoch(std::uint64_t{});
      on_result.seal_epoch();
      on_result.publish_epoch();
      on_result.publish_final();
    };
    if constexpr (epochs) {
      if (!store) throw usage_error("dataflow::epoch_files: the stream needs a checkpoint_dir");
      on_result.begin_epoch(store->next_sequence());
    }
    std::optional<dead_letter_writer> dead;
    if (!options.dead_letter_file.empty()) dead.emplace(options.dead_letter_file);
    dead_letters_ = dead.has_value();
    auto last_checkpoint = std::chrono::steady_clock::now();
    auto checkpoint = [&](const std::string& position) {
      if constexpr (requires { source_.checkpoint_position(); }) {
        const auto begin = std::chrono::steady_clock::now();
        if constexpr (epochs) on_result.seal_epoch();
        const std::size_t bytes = store->publish([&](checkpoint_writer& out) { snapshot(out, position); });
        if constexpr (epochs) {
          on_result.publish_epoch();
          on_result.begin_epoch(store->next_sequence());
        }
        last_checkpoint = std::chrono::steady_clock::now();
        std::lock_guard lock(control.m);
        ++control.stats.checkpoints;
        control.stats.checkpoint_bytes = bytes;
        control.stats.checkpoint_seconds = std::chrono::duration<double>(last_checkpoint - begin).count();
      }
    };
    for (;;) {
      const bool stopping = control.stop.load();
      // Where the source stood before this batch: the final checkpoint after a failure.
      std::string before;
      if constexpr (requires { source_.checkpoint_position(); }) {
        if (store) before = source_.checkpoint_position();
      }
      bool open = true;
      state_changed_ = false;
      try {
        open = run_batch(options, control, stopping, dead ? &*dead : nullptr, on_result);
      } catch (...) {
        // A malformed event (or a failing source) stops the stream; what the batches before it
        // counted is kept, so that a restart, once the event is dealt with, goes on from there.
        // Not when the batch had begun changing the state: its events would count twice.
        if (store && !state_changed_) {
          try {
            checkpoint(before);
          } catch (...) {
          }
        }
        throw;
      }
      if constexpr (requires { source_.commit(); }) source_.commit();
      if (options.progress) show_progress(control);
      const bool last = !open || stopping;
      if (store && (last || std::chrono::steady_clock::now() - last_checkpoint >= options.checkpoint_every)) {
        if constexpr (requires { source_.checkpoint_position(); }) checkpoint(source_.checkpoint_position());
      }
      if (!open) {
        // The source has ended: every window closes. After the last checkpoint, which keeps
        // them open, so that a restart over a log that grew since counts on into them.
        watermark_ = final_watermark;
        state_.close_windows(watermark_, on_result);
        if constexpr (epochs) on_result.publish_final();  // replaced by a later run over a log that grew
        std::lock_guard lock(control.m);
        control.stats.results = state_.results();
        state_.figures(control.stats);
        control.stats.watermark = watermark_;
      }
      if (last) return;
    }
  }

  /// Tells the source that nothing more will be processed.
  void detach() {
    if constexpr (requires { source_.detach(); }) source_.detach();
  }


 private:
  // The checkpoint store, with the newest checkpoint restored; none without a directory.
  std::optional<checkpoint_store> open_checkpoints(const stream_options& options, stream_control& control) {
    std::optional<checkpoint_store> store;
    if (options.checkpoint_dir.empty()) return store;
    if constexpr (requires { source_.checkpoint_position(); source_.restore_position(std::string()); }) {
      store.emplace(options.checkpoint_dir, options.checkpoints_kept);
      if (auto in = store->open_latest()) {
        restore(*in);
        std::lock_guard lock(control.m);
        control.stats.restored = true;
        control.stats.late_events = late_total_;
        control.stats.results = state_.results();
        control.stats.watermark = watermark_;
      }
      return store;
    } else {
      throw usage_error("dataflow: this stream's source cannot resume from a checkpoint (follow_lines can)");
    }
  }

  // A line of figures on stderr, once a second at most.
  void show_progress(stream_control& control) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ < std::chrono::seconds(1)) return;
    last_progress_ = now;
    stream_stats s;
    {
      std::lock_guard lock(control.m);
      s = control.stats;
    }
    s.elapsed_seconds = std::chrono::duration<double>(now - control.started).count();
    std::fprintf(stderr, "%s: %s\n", name_.empty() ? "stream" : name_.c_str(), s.line().c_str());
  }

  // Takes one batch from the source and processes it; false once the source has ended.
  template <class OnResult>
  bool run_batch(const stream_options& options, stream_control& control, bool stopping, dead_letter_writer* dead,
                 OnResult& on_result) {
    std::vector<In>& items = items_;  // its memory serves batch after batch
    items.clear();
    std::vector<partition_run> runs;
    bool open = true;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = stopping ? start : start + options.trigger;
    // Stopping takes everything the source holds now, whatever the batch size.
    const std::size_t max_items = stopping ? std::numeric_limits<std::size_t>::max() : options.max_batch_items;
    do {
      const std::size_t before = items.size();
      open = source_.poll(items, max_items, deadline);
      if constexpr (requires { source_.take_runs(runs); }) {
        source_.take_runs(runs);
      } else if (items.size() > before) {
        runs.push_back({std::string(), items.size() - before, false});
      }
    } while (open && items.size() < max_items && std::chrono::steady_clock::now() < deadline && !control.stop.load());
    // Even without new items: partitions may have gone idle, which moves the watermark.
    const auto taken = std::chrono::steady_clock::now();  // the batch's time is from here on
    const std::size_t n = items.size();
    const std::uint64_t refused = process(items, runs, options.idle_timeout, dead, on_result);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - taken).count();
    std::lock_guard lock(control.m);
    stream_stats& s = control.stats;
    s.batches += n > 0;
    s.events_in += n;
    s.dead_letters += refused;
    s.late_events = late_total_;
    s.results = state_.results();
    state_.figures(s);
    s.watermark = watermark_;
    if (n > 0) {
      s.last_batch_seconds = seconds;
      s.batch_seconds.add(seconds);
    }
    s.busy_seconds += seconds;
    if constexpr (requires { source_.lag(); }) s.source_lag = source_.lag();
    return open;
  }
  // One partition of the source: its own watermark.
  struct partition_state {
    event_time max_time = no_watermark;
    std::chrono::steady_clock::time_point last_active;
  };

  using batch_state = window_batch_state;
  using assigner = window_assigner<Source, Stack, TimeFn, KeyFn, ValueFn, pair_type>;
  using assign_op = flat_map_callback_op<pair_type, assigner>;
  using assigned_stack = op_stack<In, assign_op>;

  // The batch job's operator for one partition's items, writing to its batch state.
  assigned_stack assigned_for(std::shared_ptr<batch_state> b) const {
    return op_stack<In>{}.push(assign_op{assigner{std::move(b), &source_, stack_, settings_.spec, time_fn_, key_fn_,
                                                  value_fn_, settings_.on_late, &window_label_, dead_letters_},
                                         window_label_});
  }

  // Runs one batch's items through the batch job and merges the result into the state; returns
  // the count of events refused into the dead-letter file.
  template <class OnResult>
  std::uint64_t process(std::vector<In>& items, const std::vector<partition_run>& runs,
                        std::chrono::milliseconds idle_timeout, dead_letter_writer* dead, OnResult& on_result) {
    const auto now = std::chrono::steady_clock::now();
    const std::size_t events = items.size();
    const event_time expired_before =
        watermark_ == no_watermark ? no_watermark : watermark_ - settings_.allowed_lateness;
    // The items of each partition together, each group with its own batch state.
    std::vector<std::string> names;
    std::vector<std::size_t> counts, group_of(runs.size(), 0);
    std::vector<std::string> ended;
    for (std::size_t k = 0; k < runs.size(); ++k) {
      const partition_run& r = runs[k];
      if (r.ended) {
        ended.push_back(r.partition);  // after this batch's events of it
        continue;
      }
      partitions_.try_emplace(r.partition, partition_state{no_watermark, now});
      if (r.count == 0) continue;
      const auto g = static_cast<std::size_t>(std::find(names.begin(), names.end(), r.partition) - names.begin());
      if (g == names.size()) {
        names.push_back(r.partition);
        counts.push_back(0);
      }
      counts[g] += r.count;
      group_of[k] = g;
    }
    if (groups_.size() < names.size()) groups_.resize(names.size());
    std::vector<std::vector<In>>& groups = groups_;
    if (names.size() == 1) {
      std::swap(groups[0], items);  // one partition: no copy
    } else {
      for (std::size_t g = 0; g < names.size(); ++g) groups[g].reserve(counts[g]);
      std::size_t at = 0;
      for (std::size_t k = 0; k < runs.size(); ++k) {
        if (runs[k].ended || runs[k].count == 0) continue;
        auto first = items.begin() + static_cast<std::ptrdiff_t>(at);
        groups[group_of[k]].insert(groups[group_of[k]].end(), std::make_move_iterator(first),
                                   std::make_move_iterator(first + static_cast<std::ptrdiff_t>(runs[k].count)));
        at += runs[k].count;
      }
    }
    items.clear();
    // The groups are emptied, keeping their memory, once the batch job is done.
    struct clear_groups {
      std::vector<std::vector<In>>& g;
      ~clear_groups() {
        for (auto& v : g) v.clear();
      }
    } clearing{groups};
    std::vector<std::shared_ptr<batch_state>> states;
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto b = std::make_shared<batch_state>();
      b->expired_before = expired_before;
      states.push_back(b);
    }
    if (!names.empty()) {
      auto part = [&](std::size_t i) {
        return dataset<pair_type, assigned_stack>(make_range_dataset(ctx_, std::ranges::ref_view(groups[i])).node(),
                                                  assigned_for(states[i]));
      };
      auto reduce = [&](const auto& pairs) {
        auto reduced = pairs.reduce_by_key(op_).collect();
        state_changed_ = true;
        if constexpr (requires { OnResult::hands_batches; }) {
          hand_on_batch(reduced, events, on_result);  // no state kept: the receiver keeps it
        } else {
          state_.apply(reduced, now);
        }
      };
      if (names.size() == 1) {
        reduce(part(0));
      } else {
        dataset<pair_type> all = part(0).concat(part(1));
        for (std::size_t i = 2; i < names.size(); ++i) all = all.concat(part(i));
        reduce(all);
      }
    }
    std::uint64_t refused = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
      refused += states[i]->dead.size();
      if (dead) {
        for (const dead_event& d : states[i]->dead) dead->add(d.position, d.error, d.text);
      }
      late_total_ += states[i]->late.load();
      // Active means it brought events with a time: lines that a filter drops do not count, so
      // a file of other lines stops holding the watermark back once idle.
      const event_time seen = states[i]->max_seen.load();
      if (seen == no_watermark) continue;
      partition_state& p = partitions_[names[i]];
      p.max_time = std::max(p.max_time, seen);
      p.last_active = now;
    }
    for (const std::string& name : ended) partitions_.erase(name);
    if (dead) dead->flush();
    state_.hand_on_updates(on_result);
    state_.expire_keys(now);
    advance_watermark(now, idle_timeout);
    state_.close_windows(watermark_, on_result);
    state_.keep_to_share(now);
    return refused;
  }

  // The least over the partitions of their largest time minus the delay; idle partitions do
  // not count, unless every partition is idle.
  void advance_watermark(std::chrono::steady_clock::time_point now, std::chrono::milliseconds idle_timeout) {
    event_time least = final_watermark, most = no_watermark;
    bool any_active = false;
    for (const auto& [name, p] : partitions_) {
      most = std::max(most, p.max_time);
      const bool idle = idle_timeout.count() > 0 && now - p.last_active >= idle_timeout;
      if (idle) continue;
      any_active = true;
      least = std::min(least, p.max_time);
    }
    const event_time basis = any_active ? least : most;
    if (basis != no_watermark && basis != final_watermark) {
      watermark_ = std::max(watermark_, basis - settings_.max_delay);
    }
  }

  // Hands a batch's values reduced by key to a receiver of whole batches (keyed_batch), with
  // where the source stood after it.
  template <class Reduced, class OnResult>
  void hand_on_batch(Reduced& reduced, std::size_t events, OnResult& on_result) {
    std::vector<std::pair<SK, V>> pairs;
    pairs.reserve(reduced.size());
    for (auto& [wk, v] : reduced) pairs.emplace_back(std::move(wk.second), std::move(v));
    std::string position;
    if constexpr (requires { source_.checkpoint_position(); }) position = source_.checkpoint_position();
    on_result.on_batch(keyed_batch<SK, V>{++batch_sequence_, pairs, position, events});
  }

  // What a checkpoint must match: the windows, the times, the key and value types, the source.
  std::string fingerprint() const {
    std::string f = "pipeline '" + name_ + "' windows " + std::to_string(settings_.spec.size_ms) + "/" + std::to_string(settings_.spec.step_ms) +
                    " delay " + std::to_string(settings_.max_delay) + " lateness " +
                    std::to_string(settings_.allowed_lateness) + " key " + typeid(SK).name() + " value " +
                    typeid(V).name() + " results " + std::to_string(static_cast<int>(settings_.emit));
    if constexpr (requires { source_.describe(); }) f += " source " + source_.describe();
    return f;
  }

  // The state as a checkpoint's payload, record by record: fingerprint, times, counters, source
  // position, partitions; then each window (tag 1) and its entries (tag 2); tag 0 ends it.
  void snapshot(checkpoint_writer& out, const std::string& position) {
    byte_writer& w = out.out();
    encode(w, fingerprint());
    w.write_varint(static_cast<std::uint64_t>(watermark_));
    w.write_varint(late_total_);
    w.write_varint(state_.results());
    encode(w, position);
    w.write_varint(partitions_.size());
    for (const auto& [name, p] : partitions_) {
      encode(w, name);
      w.write_varint(static_cast<std::uint64_t>(p.max_time));
    }
    out.end_record();
    state_.write(out, std::chrono::steady_clock::now());
  }

  void restore(checkpoint_reader& in) {
    const std::string& path = in.path();
    try {
      byte_reader& r = in.next();
      const std::string f = decode<std::string>(r);
      if (f != fingerprint()) {
        throw usage_error("dataflow: the checkpoint '" + path + "' was written by a different pipeline (" + f +
                          "; this one is " + fingerprint() + "); use another checkpoint directory");
      }
      watermark_ = static_cast<event_time>(r.read_varint());
      late_total_ = r.read_varint();
      state_.set_results(r.read_varint());
      source_.restore_position(decode<std::string>(r));
      const auto now = std::chrono::steady_clock::now();
      for (std::size_t n = r.checked_count(r.read_varint()); n > 0; --n) {
        std::string name = decode<std::string>(r);
        partitions_[std::move(name)] = partition_state{static_cast<event_time>(r.read_varint()), now};
      }
      state_.read(in, now);
      if (!in.at_end()) throw error("bytes left over");
    } catch (const usage_error&) {
      throw;
    } catch (const io_error&) {
      throw;
    } catch (const std::exception& e) {
      throw io_error(path, "dataflow: the checkpoint '" + path + "' cannot be read: " + e.what());
    }
  }

  std::shared_ptr<context_state> ctx_;
  Source source_;
  Stack stack_;
  TimeFn time_fn_;
  KeyFn key_fn_;
  ValueFn value_fn_;
  Op op_;
  settings settings_;
  std::string window_label_;
  std::string name_;  // stream_options::name
  std::uint64_t batch_sequence_ = 0;  // batches handed on whole
  bool dead_letters_ = false;  // stream_options::dead_letter_file is set
  bool state_changed_ = false;  // the current batch has begun changing the state
  std::atomic<bool> started_{false};
  std::map<std::string, partition_state> partitions_;
  window_state<SK, V, Op> state_;
  std::vector<In> items_;                 // the batch taken from the source
  std::vector<std::vector<In>> groups_;   // its items by partition
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
  event_time watermark_ = no_watermark;
  std::uint64_t late_total_ = 0;
};

}  // namespace detail

}  // namespace dataflow
