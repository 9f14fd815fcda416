// dataflow::group_values<V>: the values of one group, handed to for_each_group's function as
// an input range. A group that fits in memory is a span; a group larger than the memory budget
// allows is read from its spill files while the function iterates, in constant memory.
#pragma once

#include <dataflow/storage/item_buffer.hpp>

#include <cstddef>
#include <functional>
#include <iterator>
#include <span>
#include <utility>
#include <vector>

namespace dataflow {

template <class V>
class group_values {
 public:
  /// Refills `out` with the next values (a block's worth); false when there are no more. One
  /// call per block, not per value.
  using source = std::function<bool(detail::item_buffer<V>& out)>;

  explicit group_values(std::span<const V> values) : span_(values) {}
  explicit group_values(source next) : next_(std::move(next)) {}
  group_values(const group_values&) = delete;
  group_values& operator=(const group_values&) = delete;

  /// True when the values are in memory (then span() has them all).
  bool in_memory() const noexcept { return !next_; }
  /// The values, when in_memory().
  std::span<const V> span() const noexcept { return span_; }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = V;
    using difference_type = std::ptrdiff_t;
    using reference = const V&;
    using pointer = const V*;

    iterator() = default;
    explicit iterator(group_values* g) : g_(g) { g_->load(); }
    const V& operator*() const { return g_->current(); }
    const V* operator->() const { return &g_->current(); }
    iterator& operator++() {
      g_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool at_end() const { return g_->done(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    group_values* g_ = nullptr;
  };

  /// Starts the one pass over the values (a group streamed from disk cannot be read twice).
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  void load() {
    if (started_) return;
    started_ = true;
    if (next_) refill();
  }
  void advance() {
    if (++at_ >= span_.size() && next_) refill();
  }
  void refill() {
    at_ = 0;
    do {
      if (!next_(buffer_)) {
        buffer_.clear();
        break;
      }
    } while (buffer_.empty());
    span_ = buffer_.span();
  }
  bool done() const { return at_ >= span_.size(); }
  const V& current() const { return span_[at_]; }

  std::span<const V> span_;
  std::size_t at_ = 0;
  source next_;
  detail::item_buffer<V> buffer_;
  bool started_ = false;
};

}  // namespace dataflow
