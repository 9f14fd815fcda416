// Streams: the same local operators as datasets, run as a sequence of micro-batches, with keyed
// aggregations over event-time windows whose state lasts across batches.
//
// A micro-batch closes when `trigger` has passed since it opened or when it holds
// `max_batch_items` source items, whichever comes first. Each batch runs as a batch job on the
// context's threads: the fused local operators, the window assignment and a reduce_by_key of
// (window, key) pairs; its result is merged into the stream's state. The watermark is the
// largest event time seen minus the allowed delay; once it passes a window's end, that window's
// result for each key is handed to the result callback. An event whose every window ended more
// than `allowed_lateness` before the watermark (a late event) updates nothing: it is counted in
// stats().late_events and handed to on_late(). A late event within the allowed lateness updates
// the window, whose result is handed on again with the next revision. When the source ends,
// every open window closes.
//
// @code
// dataflow::stream_writer<click> clicks;
// auto run = ctx.stream(clicks)
//                .with_event_time([](const click& c) { return c.ms; }, 10s)
//                .window(dataflow::tumbling(1min))
//                .count_by_key([](const click& c) { return c.url; })
//                .start({.trigger = 200ms}, [](const dataflow::window_result<std::string,
//                                                  std::uint64_t>& r) { ... });
// @endcode
//
// The stream's batches are actions of its context: run batch actions on another context while
// a stream runs.
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/stream/stream_run.hpp>
#include <dataflow/stream/window_aggregator.hpp>
#include <dataflow/stream/windows.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {

/// A keyed aggregation over the windows of a stream, ready to start.
template <class Aggregator>
class windowed_aggregation {
 public:
  using result_type = typename Aggregator::result_type;

  explicit windowed_aggregation(std::shared_ptr<Aggregator> a) : a_(std::move(a)) {}

  /// Starts the stream on a thread of its own; on_result(const window_result<K, V>&) is called
  /// there for each window result, in order of window end.
  template <class OnResult>
  stream_run start(stream_options options, OnResult on_result) const {
    static_assert(std::is_invocable_v<OnResult&, const result_type&>,
                  "dataflow::start: the result callback must be callable as "
                  "fn(const dataflow::window_result<K, V>&)");
    if (options.max_batch_items == 0) throw usage_error("dataflow::start: max_batch_items must be at least 1");
    if (!options.checkpoint_dir.empty() && !Aggregator::can_checkpoint) {
      throw usage_error("dataflow::start: this stream's source cannot resume from a checkpoint (follow_lines can)");
    }
    a_->claim();
    auto control = std::make_shared<detail::stream_control>();
    std::thread driver([a = a_, control, options, on_result = std::move(on_result)]() mutable {
      a->enter();
      try {
        a->run(options, *control, on_result);
      } catch (...) {
        std::lock_guard lock(control->m);
        control->failure = std::current_exception();
      }
      a->detach();
      a->release();
      std::lock_guard lock(control->m);
      control->finished = true;
      control->ended = std::chrono::steady_clock::now();
      control->finished_cv.notify_all();
    });
    return stream_run(std::move(control), std::move(driver));
  }

 private:
  std::shared_ptr<Aggregator> a_;
};

template <class Source, class Stack, class TimeFn>
class windowed_stream;

/// A stream whose events carry a time.
template <class Source, class Stack, class TimeFn>
class timed_stream {
 public:
  timed_stream(std::shared_ptr<detail::context_state> ctx, Source source, Stack stack, TimeFn time_fn,
               std::chrono::milliseconds max_delay)
      : ctx_(std::move(ctx)), source_(std::move(source)), stack_(std::move(stack)),
        time_fn_(std::move(time_fn)), max_delay_(max_delay) {}

  /// Groups the events into windows of event time: tumbling(size) or sliding(size, step).
  windowed_stream<Source, Stack, TimeFn> window(window_spec spec) const {
    return {ctx_, source_, stack_, time_fn_, max_delay_, spec};
  }

 private:
  std::shared_ptr<detail::context_state> ctx_;
  Source source_;
  Stack stack_;
  TimeFn time_fn_;
  std::chrono::milliseconds max_delay_;
};

/// A stream grouped into event-time windows, ready for a keyed aggregation.
template <class Source, class Stack, class TimeFn>
class windowed_stream {
  using T = typename Stack::output_type;

 public:
  windowed_stream(std::shared_ptr<detail::context_state> ctx, Source source, Stack stack, TimeFn time_fn,
                  std::chrono::milliseconds max_delay, window_spec spec)
      : ctx_(std::move(ctx)), source_(std::move(source)), stack_(std::move(stack)),
        time_fn_(std::move(time_fn)), max_delay_(max_delay), spec_(spec) {}

  /// Keeps a window's state this long after the watermark passed its end, so that late events
  /// update it (and its result is handed on again); later events are late.
  windowed_stream allowed_lateness(std::chrono::milliseconds lateness) const {
    if (lateness.count() < 0 || lateness.count() > max_event_time) {
      throw usage_error("dataflow::allowed_lateness: must not be negative (nor over 2^62 ms)");
    }
    windowed_stream copy = *this;
    copy.lateness_ = lateness;
    return copy;
  }

  /// Also hands on, after each batch, the result of every open window that the batch changed
  /// (final = false), before the final result when the watermark passes the window's end.
  windowed_stream early_updates() const {
    windowed_stream copy = *this;
    copy.emit_ = emit_policy::early;
    return copy;
  }

  /// Hands each late event to fn(const T&), on the stream's threads (several at once).
  windowed_stream on_late(std::function<void(const T&)> fn) const {
    windowed_stream copy = *this;
    copy.on_late_ = std::move(fn);
    return copy;
  }

  /// Counts the events of each key in each window: window_result<K, std::uint64_t>.
  template <class KeyFn>
  auto count_by_key(KeyFn key_fn) const {
    static_assert(detail::const_callable<KeyFn, const T&>,
                  "dataflow::count_by_key: the key function must be callable as key_fn(const T&)");
    auto one = [](const T&) { return std::uint64_t{1}; };
    return aggregate(std::move(key_fn), one, std::plus<std::uint64_t>{});
  }

  /// Reduces value_fn(event) of each key key_fn(event) in each window with op (associative and
  /// commutative): window_result<K, V>.
  template <class KeyFn, class ValueFn, class Op>
  auto reduce_by(KeyFn key_fn, ValueFn value_fn, Op op) const {
    static_assert(detail::const_callable<KeyFn, const T&> && detail::const_callable<ValueFn, const T&>,
                  "dataflow::reduce_by: the key and value functions must be callable as fn(const T&)");
    return aggregate(std::move(key_fn), std::move(value_fn), std::move(op));
  }

  /// Reduces the values of each key in each window with op (associative and commutative); the
  /// events are pairs (K, V): window_result<K, V>.
  template <class Op>
  auto reduce_by_key(Op op) const {
    static_assert(detail::is_pair_v<T>, "dataflow::reduce_by_key: stream items must be std::pair<K, V>");
    auto key = [](const T& x) -> const typename T::first_type& { return x.first; };
    auto value = [](const T& x) -> const typename T::second_type& { return x.second; };
    return aggregate(key, value, std::move(op));
  }

 private:
  template <class KeyFn, class ValueFn, class Op>
  auto aggregate(KeyFn key_fn, ValueFn value_fn, Op op) const {
    using A = detail::window_aggregator<Source, Stack, TimeFn, KeyFn, ValueFn, Op>;
    typename A::settings s{spec_, max_delay_.count(), lateness_.count(), on_late_, emit_};
    return windowed_aggregation<A>(std::make_shared<A>(ctx_, source_, stack_, time_fn_, std::move(key_fn),
                                                       std::move(value_fn), std::move(op), std::move(s)));
  }

  std::shared_ptr<detail::context_state> ctx_;
  Source source_;
  Stack stack_;
  TimeFn time_fn_;
  std::chrono::milliseconds max_delay_;
  window_spec spec_;
  std::chrono::milliseconds lateness_{0};
  std::function<void(const T&)> on_late_;
  emit_policy emit_ = emit_policy::on_close;
};

namespace detail {
/// Receives a stream's batches whole (keyed_aggregation::start_batches): the aggregator hands
/// them to on_batch instead of keeping state.
template <class OnBatch, class Result, class Batch>
struct batch_receiver {
  static constexpr bool hands_batches = true;
  OnBatch fn;
  void on_batch(const Batch& b) { fn(b); }
  void operator()(const Result&) {}  // nothing else is handed on: no state
};
}  // namespace detail

/// A key's state after a batch changed it, in a stream aggregation without windows.
template <class K, class V>
struct key_update {
  const K& key;
  const V& value;
  /// The key had no state before this batch (it is new, or came back after its time to live).
  bool first;
};

/// A keyed aggregation of a stream without windows, ready to start: its state lasts as long as
/// the stream (or each key its time to live).
template <class Aggregator>
class keyed_aggregation {
  using R = typename Aggregator::result_type;

 public:
  using update_type = key_update<decltype(R::key), decltype(R::value)>;

  keyed_aggregation(std::shared_ptr<Aggregator> a, typename Aggregator::settings s) : a_(std::move(a)), s_(std::move(s)) {}

  /// Drops a key's state once no event has updated it for `ttl` (processing time), so that
  /// the state holds the keys seen lately; a key seen again starts afresh (first = true).
  keyed_aggregation time_to_live(std::chrono::milliseconds ttl) const {
    if (ttl.count() <= 0) throw usage_error("dataflow::time_to_live: must be positive");
    keyed_aggregation copy = *this;
    copy.s_.time_to_live = ttl;
    return copy;
  }

  /// Starts the stream on a thread of its own, keeping no state: after each batch with events,
  /// on_batch(const keyed_batch<K, V>&) gets the batch's values reduced by key and where the
  /// source stood after it (the serving layer keeps its speed layer so). No checkpoints: the
  /// receiver keeps what it needs.
  template <class OnBatch>
  stream_run start_batches(stream_options options, OnBatch on_batch) const {
    using batch_type = keyed_batch<decltype(R::key), decltype(R::value)>;
    static_assert(std::is_invocable_v<OnBatch&, const batch_type&>,
                  "dataflow::start_batches: the callback must be callable as fn(const dataflow::keyed_batch<K, V>&)");
    if (!options.checkpoint_dir.empty()) {
      throw usage_error("dataflow::start_batches: keeps no state to checkpoint; leave checkpoint_dir empty");
    }
    a_->configure(s_);
    return windowed_aggregation<Aggregator>(a_).start(std::move(options),
                                                      detail::batch_receiver<OnBatch, R, batch_type>{std::move(on_batch)});
  }

  /// Starts the stream on a thread of its own; on_update(const key_update<K, V>&) is called
  /// there after each batch for each key the batch changed (for distinct: each new key).
  template <class OnUpdate>
  stream_run start(stream_options options, OnUpdate on_update) const {
    static_assert(std::is_invocable_v<OnUpdate&, const update_type&>,
                  "dataflow::start: the update callback must be callable as fn(const dataflow::key_update<K, V>&)");
    static_assert(!requires(OnUpdate& f) { f.seal_epoch(); },
                  "dataflow::epoch_files writes the results of windowed aggregations; keyed state without "
                  "windows hands on updates, which a callback of your own must write");
    a_->configure(s_);
    auto adapt = [fn = std::move(on_update)](const R& r) mutable {
      const update_type u{r.key, r.value, r.revision == 0};
      fn(u);
    };
    return windowed_aggregation<Aggregator>(a_).start(std::move(options), std::move(adapt));
  }

 private:
  std::shared_ptr<Aggregator> a_;
  typename Aggregator::settings s_;
};

/// A typed stream of the items of a source, through local operators (map, filter, flat_map).
template <class Source, class Stack = detail::op_stack<typename Source::item_type>>
class stream {
 public:
  using value_type = typename Stack::output_type;

  stream(std::shared_ptr<detail::context_state> ctx, Source source, Stack stack = {})
      : ctx_(std::move(ctx)), source_(std::move(source)), stack_(std::move(stack)) {}

  /// As dataset::map.
  template <class F>
  auto map(F fn) const { return with(prototype().map(std::move(fn)).stack()); }
  /// As dataset::filter.
  template <class F>
  auto filter(F fn) const { return with(prototype().filter(std::move(fn)).stack()); }
  /// As dataset::flat_map.
  template <class U = void, class F>
  auto flat_map(F fn) const { return with(prototype().template flat_map<U>(std::move(fn)).stack()); }

  /// Counts the events of each key key_fn(event) for as long as the stream runs: after each
  /// batch, key_update<K, std::uint64_t> for each key it changed.
  template <class KeyFn>
  auto count_by_key(KeyFn key_fn) const {
    static_assert(detail::const_callable<KeyFn, const value_type&>,
                  "dataflow::count_by_key: the key function must be callable as key_fn(const T&)");
    auto one = [](const value_type&) { return std::uint64_t{1}; };
    return keyed(std::move(key_fn), one, std::plus<std::uint64_t>{}, emit_policy::updates);
  }

  /// Reduces value_fn(event) of each key key_fn(event) with op (associative and commutative)
  /// for as long as the stream runs: key_update<K, V> for each key a batch changed.
  template <class KeyFn, class ValueFn, class Op>
  auto reduce_by(KeyFn key_fn, ValueFn value_fn, Op op) const {
    static_assert(detail::const_callable<KeyFn, const value_type&> && detail::const_callable<ValueFn, const value_type&>,
                  "dataflow::reduce_by: the key and value functions must be callable as fn(const T&)");
    return keyed(std::move(key_fn), std::move(value_fn), std::move(op), emit_policy::updates);
  }

  /// As reduce_by, for a stream of pairs (K, V).
  template <class Op>
  auto reduce_by_key(Op op) const {
    static_assert(detail::is_pair_v<value_type>, "dataflow::reduce_by_key: stream items must be std::pair<K, V>");
    auto key = [](const value_type& x) -> const typename value_type::first_type& { return x.first; };
    auto value = [](const value_type& x) -> const typename value_type::second_type& { return x.second; };
    return keyed(key, value, std::move(op), emit_policy::updates);
  }

  /// The keys key_fn(event), each handed on once, in the batch that first brings it (again,
  /// after its time to live): key_update<K, std::uint64_t> with the events of it in that batch.
  template <class KeyFn>
  auto distinct(KeyFn key_fn) const {
    static_assert(detail::const_callable<KeyFn, const value_type&>,
                  "dataflow::distinct: the key function must be callable as key_fn(const T&)");
    auto one = [](const value_type&) { return std::uint64_t{1}; };
    return keyed(std::move(key_fn), one, std::plus<std::uint64_t>{}, emit_policy::new_keys);
  }

  /// Gives each event a time: time_fn(const T&) returns milliseconds since the epoch (an
  /// integer), a duration since the epoch or a system_clock time point. The watermark trails
  /// the largest time seen by `max_delay`: events may arrive that much out of order.
  template <class TimeFn>
  timed_stream<Source, Stack, TimeFn> with_event_time(TimeFn time_fn, std::chrono::milliseconds max_delay) const {
    static_assert(detail::const_callable<TimeFn, const value_type&>,
                  "dataflow::with_event_time: the time function must be callable as fn(const T&)");
    if (max_delay.count() < 0 || max_delay.count() > max_event_time) {
      throw usage_error("dataflow::with_event_time: the delay must not be negative (nor over 2^62 ms)");
    }
    return {ctx_, source_, stack_, std::move(time_fn), max_delay};
  }

 private:
  using In = typename Source::item_type;

  // A dataset over no items with this stream's operators, to build the next operator as
  // datasets do (same checks, same labels).
  dataset<value_type, Stack> prototype() const {
    return dataset<value_type, Stack>(detail::make_range_dataset(ctx_, std::vector<In>{}).node(), stack_);
  }

  template <class NewStack>
  stream<Source, NewStack> with(NewStack stack) const {
    return {ctx_, source_, std::move(stack)};
  }

  // Keyed state without windows: one window holding all time, whose results are the updates.
  template <class KeyFn, class ValueFn, class Op>
  auto keyed(KeyFn key_fn, ValueFn value_fn, Op op, emit_policy emit) const {
    using A = detail::window_aggregator<Source, Stack, detail::no_event_time, KeyFn, ValueFn, Op>;
    typename A::settings s{window_spec{max_event_time, max_event_time}, 0, 0, {}, emit};
    auto a = std::make_shared<A>(ctx_, source_, stack_, detail::no_event_time{}, std::move(key_fn), std::move(value_fn),
                                 std::move(op), s);
    return keyed_aggregation<A>(std::move(a), std::move(s));
  }

  std::shared_ptr<detail::context_state> ctx_;
  Source source_;
  Stack stack_;
};

template <class Source>
auto context::stream(Source source) const {
  if (detail::multi_rank(*state_)) {
    // Every rank would read the same source and emit every result once per rank.
    throw usage_error("dataflow::stream: streams do not run on a job of several ranks yet (rank " +
                      std::to_string(detail::rank_of(*state_)) + " of " + std::to_string(detail::rank_count(*state_)) +
                      "): run the stream in one process");
  }
  return dataflow::stream<Source>(state_, std::move(source));
}

}  // namespace dataflow
