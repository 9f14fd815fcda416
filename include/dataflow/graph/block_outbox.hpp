// block_outbox: the blocks a stage's threads send to other ranks, on their way to the one thread
// that talks to the job (cluster::stream).
//
// Bounded: a thread that would take the bytes queued and not yet sent past the limit waits until
// sends complete, so a rank that makes blocks faster than the network takes them holds at most
// the limit (and a block per thread beyond it). The receivers never wait for their own stage
// (what arrives is stored or spilled at once), so every send completes and no waiter waits for
// ever. Once the stream stops (a rank failed), waiters and later posts throw `stopped`.
#pragma once

#include <dataflow/graph/memory_gauge.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

namespace dataflow::detail {

class block_outbox {
 public:
  /// Thrown by post() once the stream has stopped: not a failure of the posting thread's own.
  struct stopped {};

  /// What is queued and unsent is charged to `gauge` when one is given (a run's budget gauge).
  explicit block_outbox(std::size_t limit_bytes, memory_gauge* gauge = nullptr) : limit_(limit_bytes) {
    if (gauge != nullptr) charge_ = gauge_charge(*gauge);
  }
  block_outbox(const block_outbox&) = delete;
  block_outbox& operator=(const block_outbox&) = delete;

  /// Queues `bytes` for rank `to`; waits while the queued and unsent bytes would pass the limit
  /// (a block alone always passes). Throws `stopped` once the stream stops.
  void post(std::size_t to, std::vector<char> bytes) {
    const std::size_t n = bytes.size();
    std::unique_lock<std::mutex> lock(mutex_);
    if (!stopped_ && held_ != 0 && held_ + n > limit_) {
      const auto since = std::chrono::steady_clock::now();
      room_.wait(lock, [&] { return stopped_ || held_ == 0 || held_ + n <= limit_; });
      waited_ns_ += static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - since).count());
    }
    if (stopped_) throw stopped{};
    queue_.emplace_back(to, std::move(bytes));  // first: if it throws, nothing is counted
    held_ += n;
    peak_ = std::max(peak_, held_);
    charge_.set(held_);
  }

  /// Takes the oldest queued block, if any (the sending thread). Its bytes stay counted until
  /// sent(n).
  bool take(std::size_t& to, std::vector<char>& bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.empty()) return false;
    to = queue_.front().first;
    bytes = std::move(queue_.front().second);
    queue_.pop_front();
    return true;
  }

  /// True when no block waits to be taken.
  bool empty() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.empty();
  }

  /// A taken block of n bytes has been sent (or dropped): its room is free again.
  void sent(std::size_t n) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held_ -= n;
      charge_.set(held_);
    }
    room_.notify_all();
  }

  /// Stops the stream: every waiting and later post() throws `stopped`.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
      stopping_.store(true, std::memory_order_relaxed);
    }
    room_.notify_all();
  }
  /// True once stop() was called: cheap, for a stage to check between blocks.
  bool stopping() const noexcept { return stopping_.load(std::memory_order_relaxed); }

  /// The most bytes queued and unsent at once.
  std::size_t peak() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return peak_;
  }
  /// Seconds the posting threads waited for room, all told.
  double waited_seconds() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<double>(waited_ns_) * 1e-9;
  }
  std::size_t limit() const noexcept { return limit_; }

 private:
  const std::size_t limit_;
  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::deque<std::pair<std::size_t, std::vector<char>>> queue_;
  std::size_t held_ = 0;
  std::size_t peak_ = 0;
  std::uint64_t waited_ns_ = 0;
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};
  gauge_charge charge_;  // held_, under mutex_
};

}  // namespace dataflow::detail
