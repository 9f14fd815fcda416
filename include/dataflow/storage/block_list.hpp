// An append-only sequence stored as a list of blocks: appends never move items, and readers take
// whole blocks as spans, which is the unit the pipeline pushes downstream.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

template <class T>
class block_list {
  struct block {
    T* data;
    std::size_t size;
    std::size_t capacity;
  };

 public:
  block_list() = default;
  block_list(block_list&& o) noexcept
      : blocks_(std::move(o.blocks_)), size_(std::exchange(o.size_, 0)) {}
  block_list& operator=(block_list&& o) noexcept {
    if (this != &o) {
      clear();
      blocks_ = std::move(o.blocks_);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  block_list(const block_list&) = delete;
  block_list& operator=(const block_list&) = delete;
  ~block_list() { clear(); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (blocks_.empty() || blocks_.back().size == blocks_.back().capacity) add_block();
    block& b = blocks_.back();
    T* p = ::new (static_cast<void*>(b.data + b.size)) T(std::forward<Args>(args)...);
    ++b.size;
    ++size_;
    return *p;
  }

  /// Calls f(std::span<const T>) for each non-empty block, in order.
  template <class F>
  void for_each_block(F&& f) const {
    for (const block& b : blocks_) {
      if (b.size) f(std::span<const T>(b.data, b.size));
    }
  }

  /// Calls f(std::span<T>) for each non-empty block, in order.
  template <class F>
  void for_each_block_mut(F&& f) {
    for (block& b : blocks_) {
      if (b.size) f(std::span<T>(b.data, b.size));
    }
  }

  /// Returns the bytes allocated for items.
  std::size_t bytes() const noexcept {
    std::size_t n = 0;
    for (const block& b : blocks_) n += b.capacity * sizeof(T);
    return n;
  }

  void clear() noexcept {
    for (block& b : blocks_) {
      if constexpr (!std::is_trivially_destructible_v<T>) std::destroy_n(b.data, b.size);
      ::operator delete(b.data, std::align_val_t{alignof(T)});
    }
    blocks_.clear();
    size_ = 0;
  }

 private:
  void add_block() {
    // Blocks double from 1 KiB to 256 KiB: many short lists stay cheap, long ones stay compact.
    constexpr std::size_t min_items = std::max<std::size_t>(1, 1024 / sizeof(T));
    constexpr std::size_t max_items = std::max<std::size_t>(1, (256 * 1024) / sizeof(T));
    std::size_t cap = blocks_.empty() ? min_items : std::min(blocks_.back().capacity * 2, max_items);
    blocks_.reserve(blocks_.size() + 1);  // so that push_back cannot throw after the allocation
    auto* p = static_cast<T*>(::operator new(cap * sizeof(T), std::align_val_t{alignof(T)}));
    blocks_.push_back(block{p, 0, cap});
  }

  std::vector<block> blocks_;
  std::size_t size_ = 0;
};

}  // namespace dataflow::detail
