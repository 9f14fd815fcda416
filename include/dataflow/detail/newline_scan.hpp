// Finds the newlines of a buffer in order, 64 bytes at a time.
//
// A line source calls memchr once a line; for short lines (a CSV row of 15 bytes) the call's
// set-up costs more than the search, and it was 7% of a group_sum run. Here SSE2 compares give a
// bit mask of the '\n' bytes of a 64-byte block, and each newline is one count of trailing zeros.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dataflow::detail {

/// Returns a mask with bit i set when p[i] is '\n', for the 64 bytes at p.
inline std::uint64_t newline_mask64(const char* p) noexcept {
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  std::uint64_t m = 0;
  for (int i = 0; i < 4; ++i) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    m |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, nl)))) << (16 * i);
  }
  return m;
#else
  std::uint64_t m = 0;
  for (int i = 0; i < 64; ++i) m |= static_cast<std::uint64_t>(p[i] == '\n') << i;
  return m;
#endif
}

/// The offsets of the '\n' bytes of data[from, len), in order. Reads no byte outside that range.
class newline_scan {
 public:
  static constexpr std::size_t none = ~std::size_t{0};

  newline_scan() = default;
  newline_scan(const char* data, std::size_t from, std::size_t len) noexcept
      : data_(data), next_block_(from), len_(len) {}

  /// Returns the offset of the next '\n', or `none` once there is none before len.
  std::size_t next() noexcept {
    while (mask_ == 0) {
      if (next_block_ >= len_) return none;
      block_ = next_block_;
      if (len_ - block_ >= 64) {
        mask_ = newline_mask64(data_ + block_);
        next_block_ = block_ + 64;
      } else {
        for (std::size_t i = block_; i < len_; ++i) {
          mask_ |= static_cast<std::uint64_t>(data_[i] == '\n') << (i - block_);
        }
        next_block_ = len_;
      }
    }
    const std::size_t at = block_ + static_cast<std::size_t>(std::countr_zero(mask_));
    mask_ &= mask_ - 1;
    return at;
  }

 private:
  const char* data_ = nullptr;
  std::size_t block_ = 0;       // the offset of the block mask_ covers
  std::size_t next_block_ = 0;  // where the next block starts
  std::size_t len_ = 0;
  std::uint64_t mask_ = 0;      // the block's newlines not yet returned
};

}  // namespace dataflow::detail
