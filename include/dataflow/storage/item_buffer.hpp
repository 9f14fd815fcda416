// A contiguous, growable array of items constructed in place: the batches a node pushes and
// the arrays it keeps. Unlike std::vector it has no bool specialization, so every item type
// gets a real T* and std::span<const T>; and a large buffer of plain bytes grows by moving its
// pages (big_grow), not by copying them into fresh memory.
#pragma once

#include <dataflow/storage/big_alloc.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

namespace dataflow::detail {

template <class T>
class item_buffer {
 public:
  item_buffer() = default;
  item_buffer(item_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)) {}
  item_buffer& operator=(item_buffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
    }
    return *this;
  }
  item_buffer(const item_buffer&) = delete;
  item_buffer& operator=(const item_buffer&) = delete;
  ~item_buffer() { release(); }

  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const T> span() const noexcept { return {data_, size_}; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }

  /// Makes room for n items in total (moving the items made so far).
  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    // A large buffer of plain bytes grows by moving its pages: no copy, and the pages it has
    // already faulted in are not faulted in again elsewhere.
    if constexpr (std::is_trivially_copyable_v<T> && alignof(T) <= 64) {
      if (void* grown = big_grow(data_, capacity_ * sizeof(T), n * sizeof(T))) {
        data_ = static_cast<T*>(grown);
        capacity_ = n;
        return;
      }
    }
    T* p = allocate(n);
    if constexpr (std::is_nothrow_move_constructible_v<T>) {
      std::uninitialized_move_n(data_, size_, p);
    } else {
      try {
        std::uninitialized_copy_n(data_, size_, p);
      } catch (...) {
        deallocate(p, n);
        throw;
      }
    }
    std::size_t n_items = size_;
    release();
    data_ = p;
    size_ = n_items;
    capacity_ = n;
  }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) reserve(std::max<std::size_t>(16, capacity_ * 2));
    T* p = ::new (static_cast<void*>(data_ + size_)) T(std::forward<Args>(args)...);
    ++size_;
    return *p;
  }

  /// Counts `n` more items, which the caller has written past size() (within the capacity)
  /// as bytes: for items that need no constructor run.
  void append_written(std::size_t n) noexcept
    requires std::is_trivially_copyable_v<T>
  {
    size_ += n;
  }

  void clear() noexcept {
    std::destroy_n(data_, size_);
    size_ = 0;
  }

 private:
  // Large buffers come from huge pages (see big_alloc.hpp); over-aligned types from the heap.
  static T* allocate(std::size_t n) {
    if constexpr (alignof(T) <= 64) {
      return static_cast<T*>(big_allocate_uninit(n * sizeof(T)));
    } else {
      return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)}));
    }
  }
  static void deallocate(T* p, std::size_t n) noexcept {
    if (p == nullptr) return;
    if constexpr (alignof(T) <= 64) {
      big_deallocate(p, n * sizeof(T));
    } else {
      ::operator delete(p, std::align_val_t{alignof(T)});
    }
  }

  void release() noexcept {
    clear();
    deallocate(data_, capacity_);
    data_ = nullptr;
    capacity_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace dataflow::detail
