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
#include <string_view>
#include <vector>

namespace dataflow::detail {

class arena {
 public:
  arena() = default;
  arena(arena&&) noexcept = default;
  arena& operator=(arena&&) noexcept = default;

  /// Returns `n` bytes aligned to `align` (a power of two no larger than 16).
  void* allocate(std::size_t n, std::size_t align = 1) {
    std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (at + n > capacity_) {
      grow(n + align);
      at = (used_ + align - 1) & ~(align - 1);
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
  void grow(std::size_t need) {
    // Blocks double from 4 KiB to 1 MiB so that small runs stay small and big ones stay cheap.
    next_block_ = std::min<std::size_t>(next_block_ * 2, std::size_t{1} << 20);
    std::size_t size = std::max(need, next_block_);
    blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(size));
    current_ = reinterpret_cast<char*>(blocks_.back().get());
    capacity_ = size;
    used_ = 0;
    reserved_ += size;
  }

  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  char* current_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::size_t next_block_ = 2048;
  std::size_t reserved_ = 0;
};

}  // namespace dataflow::detail
