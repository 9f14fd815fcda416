// The per-event work of a windowed aggregation's batch job: the user's operators, the window
// assignment, late events, and (with a dead-letter file) the refusal of one event alone. See
// window_aggregator.hpp for the batch loop around it.
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/stream/windows.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

// An event that a user function refused, for the dead-letter file.
struct dead_event {
  std::string position, error, text;
};

// What the window assignment of one batch reads and writes, shared by its threads.
struct window_batch_state {
  event_time expired_before = no_watermark;  // windows ending at or before it take no event
  std::atomic<event_time> max_seen{no_watermark};
  std::atomic<std::uint64_t> late{0};
  std::mutex dead_m;
  std::vector<dead_event> dead;  // with a dead-letter file: the events refused
};

// The batch job's one operator: the user's operators, then the window assignment, for each
// source item, so that a failure names the item's position in the source (file and byte,
// topic, partition and offset) and, with a dead-letter file, refuses that item alone.
template <class Source, class Stack, class TimeFn, class KeyFn, class ValueFn, class Pair>
struct window_assigner {
  using In = typename Source::item_type;
  using T = typename Stack::output_type;
  using K = typename Pair::first_type::second_type;
  using pair_type = Pair;

  std::shared_ptr<window_batch_state> b;
  const Source* source;
  Stack stack;
  window_spec spec;
  TimeFn time_fn;
  KeyFn key_fn;
  ValueFn value_fn;
  std::function<void(const T&)> on_late;
  const std::string* label;
  bool dead_letters;

  template <class Emit>
  void operator()(const In& x, Emit&& emit) const {
    if (dead_letters) return guarded(x, emit);
    try {
      auto to_windows = [&](const T& t) {
        const event_time time = time_of(t);
        note_time(time);
        if (!assign(t, time, emit)) late_event(t);
      };
      auto chain = stack.bind(to_windows);
      chain(x);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (op_failure& f) {
      if (f.where.empty()) f.where = position(x);
      throw;
    } catch (...) {
      op_failure f(label, std::current_exception());
      f.where = position(x);
      throw f;
    }
  }

  // With a dead-letter file: an event that a user function refuses changes nothing, not the
  // watermark, not the late count, not a window (a flat_map's items before the throw
  // included); only its own functions are guarded, not the aggregation it feeds.
  template <class Emit>
  void guarded(const In& x, Emit& emit) const {
    std::vector<pair_type>& held = held_pairs();
    held.clear();
    event_time newest = no_watermark;
    std::uint64_t late = 0;
    std::vector<T> late_items;
    try {
      auto keep = [&](pair_type&& p) { held.push_back(std::move(p)); };
      auto to_windows = [&](const T& t) {
        const event_time time = time_of(t);
        newest = std::max(newest, time);
        if (!assign(t, time, keep)) {
          ++late;
          if constexpr (std::is_copy_constructible_v<T>) {
            if (on_late) late_items.push_back(t);
          } else {
            late_event(t);  // cannot be kept until the event is accepted
          }
        }
      };
      auto chain = stack.bind(to_windows);
      chain(x);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (op_failure& f) {
      return refuse(x, what_of(f.original));
    } catch (...) {
      return refuse(x, what_of(std::current_exception()));
    }
    note_time(newest);
    b->late.fetch_add(late, std::memory_order_relaxed);
    if constexpr (std::is_copy_constructible_v<T>) {
      for (const T& t : late_items) on_late(t);
    }
    for (pair_type& p : held) emit(std::move(p));
  }

  event_time time_of(const T& x) const {
    const event_time t = to_event_time(std::invoke(time_fn, x));
    if (t > max_event_time || t < -max_event_time) {
      throw std::out_of_range("event time " + std::to_string(t) + " ms is out of range (more than 2^62 ms from the epoch)");
    }
    return t;
  }

  void note_time(event_time t) const {
    event_time m = b->max_seen.load(std::memory_order_relaxed);
    while (t > m && !b->max_seen.compare_exchange_weak(m, t, std::memory_order_relaxed)) {
    }
  }

  void late_event(const T& x) const {
    b->late.fetch_add(1, std::memory_order_relaxed);
    if (on_late) on_late(x);
  }

  // Emits (window, key) pairs for each open window holding time t; false when every window
  // it falls in has expired (late; with sliding windows, an event in some expired and some
  // open windows counts in the open ones and is not late).
  template <class Emit>
  bool assign(const T& x, event_time t, Emit& emit) const {
    bool late = true;
    for_each_window(spec, t, [&](event_time s) {
      if (s + spec.size_ms > b->expired_before) {
        late = false;
        emit(pair_type(std::pair<event_time, K>(s, std::invoke(key_fn, x)), std::invoke(value_fn, x)));
      }
    });
    return !late;
  }

  std::string position(const In& x) const {
    if constexpr (requires { source->position_of(x); }) {
      return source->position_of(x);
    } else {
      return {};
    }
  }

  void refuse(const In& x, std::string error) const {
    dead_event d{position(x), std::move(error), {}};
    if constexpr (std::is_convertible_v<const In&, std::string_view>) d.text = std::string(std::string_view(x));
    std::lock_guard lock(b->dead_m);
    b->dead.push_back(std::move(d));
  }

  static std::vector<pair_type>& held_pairs() {
    thread_local std::vector<pair_type> held;
    return held;
  }
};

}  // namespace dataflow::detail
