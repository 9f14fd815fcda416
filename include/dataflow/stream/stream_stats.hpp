// The figures of a running stream: counts, times, latency percentiles, as a struct, a table and
// JSON.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/stream/windows.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace dataflow {

/// The latest durations of something that repeats (batches), for percentiles.
class duration_samples {
 public:
  static constexpr std::size_t kept = 512;

  void add(double seconds) noexcept {
    last_[count_ % kept] = seconds;
    ++count_;
  }
  /// How many were added, all told.
  std::uint64_t count() const noexcept { return count_; }
  /// The q-quantile (0 to 1) of the latest `kept` durations; 0 with none.
  double quantile(double q) const;

 private:
  std::array<double, kept> last_{};
  std::uint64_t count_ = 0;
};

/// The figures of a stream so far.
struct stream_stats {
  std::uint64_t batches = 0;       ///< micro-batches run (empty ones are not run)
  std::uint64_t events_in = 0;     ///< items taken from the source
  std::uint64_t late_events = 0;   ///< events past the allowed lateness of a window they fell in
  std::uint64_t dead_letters = 0;  ///< events refused into the dead-letter file
  std::uint64_t results = 0;       ///< window results handed on (revisions included)
  std::size_t open_windows = 0;    ///< (window, key) entries in the state now
  std::uint64_t state_bytes = 0;   ///< the size of those in memory, estimated
  std::uint64_t state_disk_bytes = 0;  ///< the state's runs on disk, once past its share of the memory budget
  std::uint64_t state_spills = 0;  ///< times the state was written to disk to stay within the budget
  std::uint64_t expired_keys = 0;  ///< keys dropped by their time to live
  event_time watermark = detail::no_watermark;  ///< no window ending after it has closed
  std::uint64_t source_lag = 0;    ///< what the source holds not yet taken (Kafka: messages), when it tells
  /// Wall time of the latest batch, from taking its items (the trigger's wait not included) to
  /// its results handed on.
  double last_batch_seconds = 0;
  duration_samples batch_seconds;  ///< the same of the latest batches (percentiles)
  double busy_seconds = 0;         ///< the same of every batch together (over elapsed: how busy)
  double elapsed_seconds = 0;      ///< since the stream started
  std::uint64_t checkpoints = 0;   ///< checkpoints written
  std::uint64_t checkpoint_bytes = 0;  ///< size of the latest
  double checkpoint_seconds = 0;   ///< time to write the latest, fsyncs included
  bool restored = false;           ///< the stream resumed from a checkpoint

  /// Events per second of the run so far (events_in over elapsed_seconds).
  double events_per_second() const noexcept {
    return elapsed_seconds > 0 ? static_cast<double>(events_in) / elapsed_seconds : 0;
  }
  /// Two aligned columns, a figure a line.
  std::string table() const;
  /// The main figures on one line (stream_options::progress prints it every second).
  std::string line() const;
  /// The same figures as one JSON object.
  std::string json() const;
};

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/memory.hpp>

#include <dataflow/detail/format.hpp>

#include <algorithm>
#include <vector>

namespace dataflow {

DATAFLOW_INLINE double duration_samples::quantile(double q) const {
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(count_, kept));
  if (n == 0) return 0;
  std::vector<double> v(last_.begin(), last_.begin() + static_cast<std::ptrdiff_t>(n));
  const auto at = static_cast<std::size_t>(std::clamp(q, 0.0, 1.0) * static_cast<double>(n - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
  return v[at];
}

DATAFLOW_INLINE std::string stream_stats::table() const {
  auto out = fmt::memory_buffer();
  auto row = [&](const char* name, const std::string& value) {
    fmt::format_to(std::back_inserter(out), "{:<20}  {}\n", name, value);
  };
  row("batches", fmt::format("{}", batches));
  row("events in", fmt::format("{} ({:.0f}/s)", events_in, events_per_second()));
  row("late events", fmt::format("{}", late_events));
  row("dead letters", fmt::format("{}", dead_letters));
  row("results", fmt::format("{}", results));
  row("keys in state", fmt::format("{} ({} in memory, {} on disk), {} expired", open_windows, format_size(state_bytes),
                                   format_size(state_disk_bytes), expired_keys));
  row("state spills", fmt::format("{}", state_spills));
  row("watermark ms", watermark == detail::no_watermark      ? std::string("none")
                      : watermark == detail::final_watermark ? std::string("end (the source ended)")
                                                             : fmt::format("{}", watermark));
  row("source lag", fmt::format("{}", source_lag));
  row("batch seconds", fmt::format("p50 {:.4f}  p99 {:.4f}  last {:.4f}", batch_seconds.quantile(0.5),
                                   batch_seconds.quantile(0.99), last_batch_seconds));
  row("busy / elapsed s", fmt::format("{:.3f} / {:.3f}", busy_seconds, elapsed_seconds));
  row("checkpoints", fmt::format("{} (latest {}, {:.4f} s){}", checkpoints, format_size(checkpoint_bytes),
                                 checkpoint_seconds, restored ? ", resumed from one" : ""));
  return fmt::to_string(out);
}

DATAFLOW_INLINE std::string stream_stats::line() const {
  return fmt::format("{} events ({:.0f}/s), lag {}, {} keys in state ({}), watermark {}, batch p99 {:.3f} s, "
                     "{} late, {} dead letters, {} checkpoints",
                     events_in, events_per_second(), source_lag, open_windows, format_size(state_bytes),
                     watermark == detail::no_watermark ? std::string("none") : std::to_string(watermark),
                     batch_seconds.quantile(0.99), late_events, dead_letters, checkpoints);
}

DATAFLOW_INLINE std::string stream_stats::json() const {
  return fmt::format(
      "{{\"batches\":{},\"events_in\":{},\"events_per_second\":{},\"late_events\":{},\"dead_letters\":{},"
      "\"results\":{},\"keys_in_state\":{},\"state_bytes\":{},\"state_disk_bytes\":{},\"state_spills\":{},"
      "\"expired_keys\":{},\"watermark\":{},\"source_lag\":{},"
      "\"batch_seconds\":{{\"p50\":{},\"p99\":{},\"last\":{}}},\"busy_seconds\":{},\"elapsed_seconds\":{},"
      "\"checkpoints\":{},\"checkpoint_bytes\":{},\"checkpoint_seconds\":{},\"restored\":{}}}",
      batches, events_in, events_per_second(), late_events, dead_letters, results, open_windows, state_bytes, state_disk_bytes, state_spills,
      expired_keys,
      watermark == detail::no_watermark ? std::string("null") : std::to_string(watermark), source_lag,
      batch_seconds.quantile(0.5), batch_seconds.quantile(0.99), last_batch_seconds, busy_seconds, elapsed_seconds,
      checkpoints, checkpoint_bytes, checkpoint_seconds, restored ? "true" : "false");
}

}  // namespace dataflow
#endif
