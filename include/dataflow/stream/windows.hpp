// Event time and windows of a stream.
//
// An event's time is what the user's function returns: an integer (milliseconds since the
// epoch), a std::chrono::duration since the epoch, or a std::chrono::system_clock time point.
// Windows are half-open intervals [start, end) of event time, aligned to the epoch: tumbling
// windows of a size, or sliding ones of a size every step (an event is in size / step of them).
#pragma once

#include <dataflow/errors.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>
#include <type_traits>

namespace dataflow {

/// Milliseconds since the epoch.
using event_time = std::int64_t;

/// The windows of a windowed aggregation: [k * step, k * step + size) for every integer k.
struct window_spec {
  std::int64_t size_ms = 0;
  std::int64_t step_ms = 0;
};

/// Event times, sizes and delays are kept within +-2^62 ms (146 million years), so that the
/// window arithmetic cannot overflow; an event time outside is an error naming it.
inline constexpr std::int64_t max_event_time = std::int64_t{1} << 62;

/// Back-to-back windows of `size`: each event is in exactly one.
inline window_spec tumbling(std::chrono::milliseconds size) {
  if (size.count() <= 0 || size.count() > max_event_time) {
    throw usage_error("dataflow::tumbling: the window size must be positive (and under 2^62 ms)");
  }
  return {size.count(), size.count()};
}

/// Windows of `size` starting every `step`: each event is in about size / step of them.
inline window_spec sliding(std::chrono::milliseconds size, std::chrono::milliseconds step) {
  if (size.count() <= 0 || step.count() <= 0 || size.count() > max_event_time || step.count() > max_event_time) {
    throw usage_error("dataflow::sliding: the window size and step must be positive (and under 2^62 ms)");
  }
  return {size.count(), step.count()};
}

/// One closed window's result for one key.
template <class K, class V>
struct window_result {
  event_time start = 0;  ///< the window is [start, end), in milliseconds since the epoch
  event_time end = 0;
  K key{};
  V value{};
  /// How many results of this window and key came before: 0 for the result handed on when the
  /// watermark passed the window's end, n for the n-th update by late events within the
  /// allowed lateness (with early updates, those count too).
  std::uint32_t revision = 0;
  /// The watermark has passed the window's end; false for an early update.
  bool final = true;
};

/// When a stream aggregation hands on results.
enum class emit_policy {
  on_close,  ///< a window's result once the watermark passes its end (and late updates)
  early,     ///< that, and after each batch the windows it changed, still open
  updates,   ///< keyed state without windows: after each batch, the keys it changed
  new_keys,  ///< distinct: each key once, when first seen (again after its time to live)
};

/// A batch's values reduced by key, handed on whole by keyed_aggregation::start_batches.
template <class K, class V>
struct keyed_batch {
  /// 1 for the stream's first batch with events, then 2, 3, ...
  std::uint64_t sequence;
  /// One pair per key the batch brought, in no particular order; the receiver may move them.
  std::vector<std::pair<K, V>>& pairs;
  /// Where the source stood after the batch (a checkpoint position; empty for push sources).
  const std::string& position;
  /// Source items in the batch.
  std::size_t events;
};

/// A source's report of where the items of a poll came from: `count` items in a row from one
/// partition (a file, a topic partition), which keeps a watermark of its own. A partition that
/// has ended says so once, with `ended`.
struct partition_run {
  std::string partition;
  std::size_t count = 0;
  bool ended = false;
};

namespace detail {

/// An event time as milliseconds since the epoch.
template <class Time>
event_time to_event_time(const Time& t) {
  using U = std::remove_cvref_t<Time>;
  if constexpr (std::is_integral_v<U>) {
    return static_cast<event_time>(t);
  } else if constexpr (requires { t.time_since_epoch(); }) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  } else if constexpr (requires { std::chrono::duration_cast<std::chrono::milliseconds>(t); }) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
  } else {
    static_assert(sizeof(U) == 0,
                  "dataflow::with_event_time: the time function must return an integer "
                  "(milliseconds since the epoch), a std::chrono::duration or a time_point");
  }
}

/// The time of every event of a stream aggregation without windows.
struct no_event_time {
  template <class X>
  event_time operator()(const X&) const noexcept {
    return 0;
  }
};

/// a / b rounded toward negative infinity (b > 0).
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0)) ? q - 1 : q;
}

/// Calls f(start) for the start of every window of `spec` that holds time t, latest first.
template <class F>
void for_each_window(const window_spec& spec, event_time t, F&& f) {
  const std::int64_t last = floor_div(t, spec.step_ms) * spec.step_ms;
  for (std::int64_t s = last; s > t - spec.size_ms; s -= spec.step_ms) f(s);
}

/// The watermark before any event: no window has closed.
inline constexpr event_time no_watermark = std::numeric_limits<event_time>::min();
/// The watermark once a source has ended: every window has closed.
inline constexpr event_time final_watermark = std::numeric_limits<event_time>::max();

}  // namespace detail
}  // namespace dataflow
