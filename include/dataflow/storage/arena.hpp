// A bump allocator that owns the bytes behind string views kept past their source buffer.
//
// Barriers (shuffles, caches, hash tables) copy the bytes of every view they keep into an arena
// they own, so a view read from a reused input buffer stays valid for as long as the barrier's
// output lives. Nothing is freed one by one; the arena releases everything at once.
#pragma once

#include <dataflow/detail/config.hpp>

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <vector>

namespace dataflow::detail {

class arena {
 public:
  /// The largest alignment allocate() serves.
  static constexpr std::size_t max_align = 64;

  arena() = default;
  arena(arena&& o) noexcept { take(o); }
  arena& operator=(arena&& o) noexcept;
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  ~arena() { release(); }

  /// Returns `n` bytes aligned to `align` (a power of two up to max_align).
  void* allocate(std::size_t n, std::size_t align = 1) {
    std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (current_ == nullptr || at + n > capacity_) {
      next_block(n);
      at = 0;  // blocks start max_align-aligned
    }
    used_ = at + n;
    return current_ + at;
  }

  /// Copies the bytes of `s` into the arena and returns a view of the copy.
  std::string_view copy(std::string_view s) {
    if (s.empty()) return {};
    auto* p = static_cast<char*>(allocate(s.size()));
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }

  /// Forgets everything allocated but keeps the blocks for what comes next: memory already
  /// faulted in is much cheaper to reuse than fresh memory.
  void reset() noexcept {
    index_ = 0;
    full_ = 0;
    used_ = 0;
    current_ = blocks_.empty() ? nullptr : blocks_[0].data;
    capacity_ = blocks_.empty() ? 0 : blocks_[0].size;
  }

  /// Returns the bytes held, counting the unused tail of each block.
  std::size_t bytes_reserved() const noexcept { return reserved_; }
  /// Returns the bytes in the blocks used since the last reset.
  std::size_t bytes_used() const noexcept { return full_ + used_; }

 private:
  struct block {
    char* data;
    std::size_t size;
  };

  void next_block(std::size_t need);

  void release() noexcept;

  void take(arena& o) noexcept;

  std::vector<block> blocks_;
  char* current_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::size_t full_ = 0;   // bytes of the blocks before the current one, since the last reset
  std::size_t index_ = 0;  // the current block
  std::size_t next_size_ = 2048;
  std::size_t reserved_ = 0;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/storage/big_alloc.hpp>

#include <algorithm>
#include <utility>

namespace dataflow::detail {

DATAFLOW_INLINE arena& arena::operator=(arena&& o) noexcept {
  if (this != &o) {
    release();
    take(o);
  }
  return *this;
}

DATAFLOW_INLINE void arena::next_block(std::size_t need) {
  // Nothing changes until the new block is there: a failed allocation leaves the arena as is.
  std::size_t full = full_ + (current_ != nullptr ? capacity_ : 0);
  // Reuse the blocks kept by reset() while they are big enough.
  for (std::size_t i = index_ + 1; current_ != nullptr && i < blocks_.size(); ++i) {
    if (blocks_[i].size >= need) {
      full_ = full;
      index_ = i;
      current_ = blocks_[i].data;
      capacity_ = blocks_[i].size;
      used_ = 0;
      return;
    }
    full += blocks_[i].size;
  }
  // Blocks double from 4 KiB to 1 MiB so that small arenas stay small, then jump to 4 MiB
  // once an arena holds 16 MiB. Their pages: see big_alloc.hpp.
  std::size_t next = std::min<std::size_t>(next_size_ * 2, std::size_t{1} << 20);
  if (reserved_ >= (std::size_t{16} << 20)) next = std::size_t{4} << 20;
  const std::size_t size = std::max(need, next);
  blocks_.reserve(blocks_.size() + 1);
  auto* p = static_cast<char*>(big_allocate_uninit(size, page_kind::ordinary));
  blocks_.push_back(block{p, size});
  next_size_ = next;
  full_ = full;
  index_ = blocks_.size() - 1;
  current_ = p;
  capacity_ = size;
  used_ = 0;
  reserved_ += size;
}

DATAFLOW_INLINE void arena::release() noexcept {
  for (const block& b : blocks_) big_deallocate(b.data, b.size);
  blocks_.clear();
  current_ = nullptr;
  capacity_ = used_ = full_ = reserved_ = index_ = 0;
  next_size_ = 2048;
}

DATAFLOW_INLINE void arena::take(arena& o) noexcept {
  blocks_ = std::move(o.blocks_);
  current_ = std::exchange(o.current_, nullptr);
  capacity_ = std::exchange(o.capacity_, 0);
  used_ = std::exchange(o.used_, 0);
  full_ = std::exchange(o.full_, 0);
  index_ = std::exchange(o.index_, 0);
  next_size_ = std::exchange(o.next_size_, 2048);
  reserved_ = std::exchange(o.reserved_, 0);
  o.blocks_.clear();
}

}  // namespace dataflow::detail
#endif
