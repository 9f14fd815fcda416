// An in-memory source for streams: an application pushes items, the stream's micro-batches take
// them. push() blocks while `capacity` items wait, so a stream that lags slows its producers
// instead of growing without bound (backpressure); close() ends the stream once everything pushed
// has been processed; flush() waits until it has.
//
// @code
// dataflow::stream_writer<click> writer;
// auto run = ctx.stream(writer).with_event_time(&click::ts, 10s)...start(options, on_result);
// writer.push(c);   // from any thread
// writer.close();   // the stream closes its last windows and ends
// run.wait();
// @endcode
#pragma once

#include <dataflow/errors.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dataflow {

/// The writing end of an in-memory stream source; copies share one queue.
template <class T>
class stream_writer {
  struct queue {
    std::mutex m;
    std::condition_variable not_full, not_empty, processed_all;
    std::deque<T> items;
    std::size_t capacity;
    bool closed = false;
    bool stopped = false;  // the stream ended or failed: flush() waits no more
    std::uint64_t pushed = 0, taken = 0, processed = 0;
  };

 public:
  using item_type = T;

  /// A queue that holds at most `capacity` items waiting for the stream.
  explicit stream_writer(std::size_t capacity = 65536) : q_(std::make_shared<queue>()) {
    if (capacity == 0) throw usage_error("dataflow::stream_writer: the capacity must be at least 1");
    q_->capacity = capacity;
  }

  /// Adds an item; blocks while the queue is full. Pushing after close(), or once the stream
  /// has ended (stopped or failed), is a usage_error: nothing would take the item.
  void push(T item) {
    std::unique_lock lock(q_->m);
    q_->not_full.wait(lock, [&] { return q_->items.size() < q_->capacity || q_->closed || q_->stopped; });
    if (q_->closed) throw usage_error("dataflow::stream_writer: push after close");
    if (q_->stopped) throw usage_error("dataflow::stream_writer: the stream has ended (stopped or failed)");
    q_->items.push_back(std::move(item));
    ++q_->pushed;
    q_->not_empty.notify_one();
  }

  /// Ends the stream: it processes what was pushed, closes its open windows and ends.
  void close() {
    std::lock_guard lock(q_->m);
    q_->closed = true;
    q_->not_empty.notify_all();
    q_->not_full.notify_all();
  }

  /// Waits until the stream has processed every item pushed before this call (or the stream
  /// stopped: a stream that ended or failed processes nothing more).
  void flush() {
    std::unique_lock lock(q_->m);
    const std::uint64_t target = q_->pushed;
    q_->processed_all.wait(lock, [&] { return q_->processed >= target || q_->stopped; });
  }

  // ---- The stream's side. ----

  /// Moves up to `max - out.size()` waiting items into `out`, waiting until `deadline` for the
  /// batch to fill, or for the queue to: then producers wait, and so would the batch. Returns
  /// false once the writer is closed and nothing is left.
  bool poll(std::vector<T>& out, std::size_t max, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(q_->m);
    q_->not_empty.wait_until(lock, deadline, [&] {
      return q_->closed || out.size() + q_->items.size() >= max || q_->items.size() >= q_->capacity;
    });
    std::size_t n = 0;
    while (!q_->items.empty() && out.size() < max) {
      out.push_back(std::move(q_->items.front()));
      q_->items.pop_front();
      ++n;
    }
    q_->taken += n;
    if (n > 0) q_->not_full.notify_all();
    return !(q_->closed && q_->items.empty());
  }

  /// Marks the items taken so far as processed (their batch is done).
  void commit() {
    std::lock_guard lock(q_->m);
    q_->processed = q_->taken;
    q_->processed_all.notify_all();
  }

  /// Wakes whoever waits in flush() for good: the stream ended or failed.
  void detach() {
    std::lock_guard lock(q_->m);
    q_->stopped = true;
    q_->processed_all.notify_all();
    q_->not_full.notify_all();
  }

  /// Where the stream is: the count of items taken.
  std::string position() const {
    std::lock_guard lock(q_->m);
    return "item " + std::to_string(q_->taken);
  }

 private:
  std::shared_ptr<queue> q_;
};

}  // namespace dataflow
