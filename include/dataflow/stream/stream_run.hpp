// A running stream: its options, its figures, and the handle that stops or waits for it.
#pragma once

#include <dataflow/stream/stream_stats.hpp>
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
  /// ...or once it holds this many source items, whichever comes first. (A batch's items and
  /// the bytes they view stay in memory until it is done: about 128K lines keep that in the
  /// caches, and measured faster than 1M.)
  std::size_t max_batch_items = std::size_t{1} << 17;
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
  /// Where events that a user function refuses (it throws) go, a line each: POSITION, ERROR and
  /// the event's text (for text sources), tab-separated, tabs, newlines and backslashes escaped.
  /// Empty: such an event stops the stream, with an error naming its position, after a last
  /// checkpoint of the batches before it. Lines are appended as batches end; after a crash,
  /// the events since the last checkpoint may be written again.
  std::string dead_letter_file = {};
  /// A line of the stream's figures (stream_stats::line(), after its name) on stderr every
  /// second: rate, lag, state, watermark, batch latency.
  bool progress = false;
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
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point ended;
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
    stream_stats s = control_->stats;
    const auto until = control_->finished ? control_->ended : std::chrono::steady_clock::now();
    s.elapsed_seconds = std::chrono::duration<double>(until - control_->started).count();
    return s;
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
