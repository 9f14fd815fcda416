// The bytes a context's operators hold against its memory budget, and their peak, for
// statistics. Holders report what they hold at the points where they already compare it with
// their share (per batch, per block), never per item.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace dataflow::detail {

class memory_gauge {
 public:
  void add(std::int64_t delta) noexcept {
    const std::int64_t now = now_.fetch_add(delta, std::memory_order_relaxed) + delta;
    std::int64_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  /// Bytes held now.
  std::uint64_t now() const noexcept { return clamp(now_.load(std::memory_order_relaxed)); }
  /// The most bytes held at once since the last restart.
  std::uint64_t peak() const noexcept { return clamp(peak_.load(std::memory_order_relaxed)); }
  /// Starts a new peak from what is held now; returns the previous peak.
  std::uint64_t restart() noexcept {
    return clamp(peak_.exchange(now_.load(std::memory_order_relaxed), std::memory_order_relaxed));
  }

 private:
  static std::uint64_t clamp(std::int64_t v) noexcept { return v > 0 ? static_cast<std::uint64_t>(v) : 0; }
  std::atomic<std::int64_t> now_{0};
  std::atomic<std::int64_t> peak_{0};
};

/// One holder's share of a gauge: set() reports what it holds now; destruction gives it back.
class gauge_charge {
 public:
  gauge_charge() = default;
  explicit gauge_charge(memory_gauge& g) noexcept : gauge_(&g) {}
  gauge_charge(gauge_charge&& o) noexcept
      : gauge_(std::exchange(o.gauge_, nullptr)), held_(std::exchange(o.held_, 0)) {}
  gauge_charge& operator=(gauge_charge&& o) noexcept {
    if (this != &o) {
      set(0);
      gauge_ = std::exchange(o.gauge_, nullptr);
      held_ = std::exchange(o.held_, 0);
    }
    return *this;
  }
  gauge_charge(const gauge_charge&) = delete;
  gauge_charge& operator=(const gauge_charge&) = delete;
  ~gauge_charge() { set(0); }

  void set(std::size_t bytes) noexcept {
    if (gauge_ && bytes != held_) {
      gauge_->add(static_cast<std::int64_t>(bytes) - static_cast<std::int64_t>(held_));
    }
    held_ = bytes;
  }
  std::size_t held() const noexcept { return held_; }

 private:
  memory_gauge* gauge_ = nullptr;
  std::size_t held_ = 0;
};

}  // namespace dataflow::detail
