// A running stream: its options, its figures, and the handle that stops or waits for it.
#pragma once

#include <dataflow/stream/windows.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace dataflow {

/// How a stream runs.
struct stream_options {
  /// A micro-batch closes this long after it opened...
  std::chrono::milliseconds trigger{200};
  /// ...or once it holds this many source items, whichever comes first.
  std::size_t max_batch_items = std::size_t{1} << 20;
  /// The watermark is the least over the source's partitions (files, topic partitions); one
  /// that has brought nothing new for this long stops holding it back. Zero: never.
  std::chrono::milliseconds idle_timeout{30000};
  /// Where checkpoints go; empty: none. A stream started over a directory that holds one
  /// resumes from it (its source, which must be able to resume, too).
  std::string checkpoint_dir = {};
  /// A checkpoint is written after the first batch that ends this long after the last one, and
  /// when the stream ends or is stopped.
  std::chrono::milliseconds checkpoint_every{10000};
  /// Checkpoints kept (the newest ones).
  std::size_t checkpoints_kept = 3;
  /// The pipeline's name, kept in its checkpoints: a stream of another name (or other windows,
  /// delay, key or value types, or source) refuses to resume from them.
  std::string name = {};
};

/// The figures of a stream so far.
struct stream_stats {
  std::uint64_t batches = 0;       ///< micro-batches run (empty ones are not run)
  std::uint64_t events_in = 0;     ///< items taken from the source
  std::uint64_t late_events = 0;   ///< events past the allowed lateness of a window they fell in
  std::uint64_t results = 0;       ///< window results handed on (revisions included)
  std::size_t open_windows = 0;    ///< (window, key) entries in the state now
  event_time watermark = detail::no_watermark;  ///< no window ending after it has closed
  double last_batch_seconds = 0;   ///< wall time of the latest batch, merge and results included
  double busy_seconds = 0;         ///< wall time of every batch together
  std::uint64_t checkpoints = 0;   ///< checkpoints written
  std::uint64_t checkpoint_bytes = 0;  ///< size of the latest
  double checkpoint_seconds = 0;   ///< time to write the latest, fsyncs included
  bool restored = false;           ///< the stream resumed from a checkpoint
};

namespace detail {

/// What a stream's driver thread shares with the stream_run that owns it.
struct stream_control {
  std::atomic<bool> stop{false};
  std::mutex join_m;  // stop() and wait() from two threads join the driver once
  mutable std::mutex m;
  std::condition_variable finished_cv;
  bool finished = false;
  std::exception_ptr failure;
  stream_stats stats;
};

}  // namespace detail

/// A running stream. stop() or wait() ends it; the destructor stops it.
class stream_run {
 public:
  stream_run(std::shared_ptr<detail::stream_control> control, std::thread driver)
      : control_(std::move(control)), driver_(std::move(driver)) {}
  stream_run(stream_run&&) noexcept = default;
  stream_run& operator=(stream_run&&) = delete;
  stream_run(const stream_run&) = delete;
  stream_run& operator=(const stream_run&) = delete;
  ~stream_run() {
    if (!control_) return;  // moved from
    control_->stop.store(true);
    std::lock_guard joining(control_->join_m);
    if (driver_.joinable()) driver_.join();
  }

  /// Stops the stream: it processes what its source holds now and ends, leaving open windows
  /// open. Rethrows what made the stream fail, if it did.
  void stop() {
    control_->stop.store(true);
    join();
  }

  /// Waits until the source ends and the stream has closed its last windows. Rethrows what made
  /// the stream fail, if it did.
  void wait() { join(); }

  /// True once the stream has ended (its source ended, it was stopped, or it failed).
  bool finished() const {
    std::lock_guard lock(control_->m);
    return control_->finished;
  }

  /// The stream's figures so far.
  stream_stats stats() const {
    std::lock_guard lock(control_->m);
    return control_->stats;
  }

 private:
  void join() {
    {
      std::lock_guard joining(control_->join_m);
      if (driver_.joinable()) driver_.join();
    }
    std::lock_guard lock(control_->m);
    if (control_->failure) std::rethrow_exception(std::exchange(control_->failure, nullptr));
  }

  std::shared_ptr<detail::stream_control> control_;
  std::thread driver_;
};

}  // namespace dataflow
