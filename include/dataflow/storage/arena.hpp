// A bump allocator that owns the bytes behind string views kept past their source buffer.
//
// Barriers (shuffles, caches, hash tables) copy the bytes of every view they keep into an arena
// they own, so a view read from a reused input buffer stays valid for as long as the barrier's
// output lives. Nothing is freed one by one; the arena releases everything at once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

namespace dataflow::detail {

class arena {
 public:
  /// The largest alignment allocate() serves.
  static constexpr std::size_t max_align = 64;

  arena() = default;
  arena(arena&& o) noexcept
      : blocks_(std::move(o.blocks_)),
        current_(std::exchange(o.current_, nullptr)),
        capacity_(std::exchange(o.capacity_, 0)),
        used_(std::exchange(o.used_, 0)),
        next_block_(std::exchange(o.next_block_, 2048)),
        reserved_(std::exchange(o.reserved_, 0)) {}
  arena& operator=(arena&& o) noexcept {
    if (this != &o) {
      blocks_ = std::move(o.blocks_);
      current_ = std::exchange(o.current_, nullptr);
      capacity_ = std::exchange(o.capacity_, 0);
      used_ = std::exchange(o.used_, 0);
      next_block_ = std::exchange(o.next_block_, 2048);
      reserved_ = std::exchange(o.reserved_, 0);
    }
    return *this;
  }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;

  /// Returns `n` bytes aligned to `align` (a power of two up to max_align).
  void* allocate(std::size_t n, std::size_t align = 1) {
    std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (current_ == nullptr || at + n > capacity_) {
      grow(n);
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

  /// Returns the bytes held, counting the unused tail of each block.
  std::size_t bytes_reserved() const noexcept { return reserved_; }

 private:
  struct block_deleter {
    void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{max_align}); }
  };

  void grow(std::size_t need) {
    // Blocks double from 4 KiB to 1 MiB so that small runs stay small and big ones stay cheap.
    next_block_ = std::min<std::size_t>(next_block_ * 2, std::size_t{1} << 20);
    std::size_t size = std::max(need, next_block_);
    blocks_.reserve(blocks_.size() + 1);
    blocks_.emplace_back(
        static_cast<std::byte*>(::operator new(size, std::align_val_t{max_align})));
    current_ = reinterpret_cast<char*>(blocks_.back().get());
    capacity_ = size;
    used_ = 0;
    reserved_ += size;
  }

  std::vector<std::unique_ptr<std::byte, block_deleter>> blocks_;
  char* current_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::size_t next_block_ = 2048;
  std::size_t reserved_ = 0;
};

}  // namespace dataflow::detail
