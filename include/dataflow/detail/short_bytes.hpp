// Short strings (at most 16 bytes) read without a branch on their length, for hashing and
// packing keys; and the test of when bytes around a string may be read (also text.hpp).
//
// Word lengths vary at random from one word to the next, so code that picks its loads by length
// (8 bytes or more, 4 or more, fewer) mispredicts about once a word: 3-4 ns a word of a word
// count's hashing and packing. One 16-byte load and a mask by the length take none. The load may
// read past the string's end, which is safe only within the page of its first byte (a page is
// mapped whole or not at all): a string that lies too close to its page's end (rarely) or is
// empty is copied instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dataflow::detail {

struct short_bytes {
  std::uint64_t lo, hi;  // bytes 0-7 and 8-15
};

/// Whether code may read bytes around a string within the pages the string lies in (a page is
/// mapped whole or not at all): never under a sanitizer, which would see those bytes.
/// (GCC defines __SANITIZE_*__; Clang answers __has_feature.)
#if defined(__has_feature)
#define DATAFLOW_CLANG_SANITIZER (__has_feature(address_sanitizer) || __has_feature(thread_sanitizer))
#else
#define DATAFLOW_CLANG_SANITIZER 0
#endif
inline constexpr bool may_read_around =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || DATAFLOW_CLANG_SANITIZER
    false;
#else
    true;
#endif
#undef DATAFLOW_CLANG_SANITIZER

/// True when the `bytes` bytes from address `from` lie in one page (of 4096 bytes, the smallest
/// page of x86-64 and arm64).
constexpr bool in_one_page(std::uintptr_t from, std::size_t bytes) noexcept {
  constexpr std::uintptr_t page = 4096;
  return (from & (page - 1)) <= page - bytes;
}

/// True when the 16 bytes from p may be read although the string there holds only n of them:
/// it has a first byte (an empty string may point just past its buffer, into a page that is not
/// mapped), and its page holds all 16.
[[gnu::always_inline]] inline bool may_read16(const char* p, std::size_t n) noexcept {
  return may_read_around && n > 0 && in_one_page(reinterpret_cast<std::uintptr_t>(p), 16);
}

/// Returns the n <= 16 bytes at p, zero-padded to 16.
[[gnu::always_inline]] inline short_bytes load_short(const char* p, std::size_t n) noexcept {
#if defined(__SSE2__)
  if (may_read16(p, n)) [[likely]] {
    // The compiler is not told where p points: the 16 bytes of a short literal (hashed, say)
    // would be flagged as read out of bounds, though they lie in its page.
    asm("" : "+r"(p));
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i index = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i kept = _mm_and_si128(x, _mm_cmpgt_epi8(_mm_set1_epi8(static_cast<char>(n)), index));
    return {static_cast<std::uint64_t>(_mm_cvtsi128_si64(kept)),
            static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(kept, kept)))};
  }
#endif
  std::uint64_t w[2] = {0, 0};
  if (n != 0) std::memcpy(w, p, n);  // an empty view's data() may be null
  return {w[0], w[1]};
}

}  // namespace dataflow::detail
