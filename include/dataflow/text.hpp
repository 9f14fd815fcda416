// Text helpers for pipelines over lines: splitting into words without copying.
//
// Words are found 64 bytes at a time: SSE2 compares give a bit mask of the non-space bytes, and
// word starts and lengths come from counting zero bits, so the loop does not branch on every
// byte (the byte-at-a-time loop mispredicted at each word boundary and cost 17 ns per word).
#pragma once

#include <dataflow/detail/short_bytes.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dataflow {

/// True for the bytes C's isspace accepts in the "C" locale: ' ', '\t', '\n', '\v', '\f', '\r'.
constexpr bool is_space(char c) noexcept {
  return c == ' ' || static_cast<unsigned>(static_cast<unsigned char>(c)) - 9u < 5u;
}

namespace detail {

/// Returns a mask with bit i set when p[i] is not a space, for the 16 bytes at p.
inline std::uint64_t non_space_mask16(const char* p) noexcept {
#if defined(__SSE2__)
  const __m128i blank = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), four = _mm_set1_epi8(4);
  __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  __m128i t = _mm_sub_epi8(x, tab);  // '\t'..'\r' become 0..4
  __m128i s = _mm_or_si128(_mm_cmpeq_epi8(x, blank), _mm_cmpeq_epi8(_mm_min_epu8(t, four), t));
  return ~static_cast<std::uint64_t>(_mm_movemask_epi8(s)) & 0xffffu;
#else
  std::uint64_t m = 0;
  for (int i = 0; i < 16; ++i) m |= static_cast<std::uint64_t>(!is_space(p[i])) << i;
  return m;
#endif
}

/// Returns a mask with bit i set when p[i] is not a space, for the 64 bytes at p.
inline std::uint64_t non_space_mask64(const char* p) noexcept {
#if defined(__SSE2__)
  const __m128i blank = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), four = _mm_set1_epi8(4);
  std::uint64_t spaces = 0;
  for (int i = 0; i < 4; ++i) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    __m128i t = _mm_sub_epi8(x, tab);  // '\t'..'\r' become 0..4
    __m128i s = _mm_or_si128(_mm_cmpeq_epi8(x, blank), _mm_cmpeq_epi8(_mm_min_epu8(t, four), t));
    spaces |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(s))) << (16 * i);
  }
  return ~spaces;
#else
  std::uint64_t m = 0;
  for (int i = 0; i < 64; ++i) m |= static_cast<std::uint64_t>(!is_space(p[i])) << i;
  return m;
#endif
}

}  // namespace detail

/// The words of a string as a lazy range of string_views; a word is a maximal run of
/// non-whitespace bytes. Nothing is allocated; the views point into the string.
class word_range {
 public:
  class iterator {
   public:
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;

    iterator() = default;
    explicit iterator(std::string_view s) : text_(s.data()), size_(s.size()) {
      mask_ = size_ > 0 ? load(0) : 0;
      starts_ = mask_ & ~(mask_ << 1);
      find();
    }
    std::string_view operator*() const noexcept { return {word_, len_}; }
    iterator& operator++() noexcept {
      find();
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const noexcept { return word_ == o.word_; }

   private:
    /// The non-space mask of the window at offset `at`; bytes past the end count as spaces.
    [[gnu::always_inline]] std::uint64_t load(std::size_t at) const noexcept {
      if (size_ - at >= 64) return detail::non_space_mask64(text_ + at);
      return load_last(at);
    }

    /// The mask of a short last window (most lines end in one), out of line: kept in the loop,
    /// its code slowed the loop. It is read as one 64-byte block where that block lies in one
    /// memory page, which is mapped whole: the 64 bytes that end the string, shifted into place,
    /// or else the 64 bytes from the window's start, masked (a loop of 16-byte blocks took 11 ns
    /// a line, a fifth of splitting a text into words). Otherwise nothing outside the string is
    /// read: its full 16-byte blocks, then the 16 bytes that end it (shifted into place), and
    /// only a string shorter than 16 bytes is copied.
    [[gnu::noinline]] std::uint64_t load_last(std::size_t at) const noexcept {
      const std::size_t left = size_ - at;
      if constexpr (detail::may_read_around) {
        const auto end = reinterpret_cast<std::uintptr_t>(text_) + size_;
        if (detail::in_one_page(end - 64, 64)) [[likely]] {
          return detail::non_space_mask64(reinterpret_cast<const char*>(end - 64)) >> (64 - left);
        }
        if (detail::in_one_page(reinterpret_cast<std::uintptr_t>(text_) + at, 64)) {
          return detail::non_space_mask64(text_ + at) & ((std::uint64_t{1} << left) - 1);
        }
      }
      if (size_ < 16) {
        char tail[16];
        std::memset(tail, ' ', sizeof tail);
        std::memcpy(tail, text_ + at, left);
        return detail::non_space_mask16(tail);
      }
      std::uint64_t m = 0;
      std::size_t i = 0;
      for (; i + 16 <= left; i += 16) m |= detail::non_space_mask16(text_ + at + i) << i;
      if (i < left) {
        // The last 16 bytes of the string hold the rest at their top (left - i) bytes.
        const std::size_t rest = left - i;
        m |= (detail::non_space_mask16(text_ + size_ - 16) >> (16 - rest)) << i;
      }
      return m;
    }

    /// Moves to the next word, or to the end (word_ == nullptr). Word starts are a mask of
    /// their own, cleared one bit at a time: the only dependency from one word to the next is
    /// that one-cycle step, not the count of the word's length (which made each word wait for
    /// the one before it: 11 cycles a word).
    void find() noexcept {
      while (starts_ == 0) {
        window_ += 64;
        if (window_ >= size_) {
          word_ = nullptr;
          len_ = 0;
          return;
        }
        const std::uint64_t carry = mask_ >> 63;  // a word went on over the window's edge
        mask_ = load(window_);
        starts_ = mask_ & ~((mask_ << 1) | carry);
      }
      const int start = std::countr_zero(starts_);
      starts_ &= starts_ - 1;
      const int run = std::countr_one(mask_ >> start);
      word_ = text_ + window_ + static_cast<std::size_t>(start);
      len_ = static_cast<std::size_t>(run);
      if (start + run < 64) return;
      // The word reaches the window's end: it goes on through the next windows.
      for (;;) {
        window_ += 64;
        if (window_ >= size_) {
          starts_ = 0;  // the next find() ends the range
          return;
        }
        const std::uint64_t m = load(window_);
        const int more = std::countr_one(m);
        len_ += static_cast<std::size_t>(more);
        if (more < 64) {
          mask_ = m;
          starts_ = m & ~((m << 1) | 1);  // byte 0 continues this word
          return;
        }
      }
    }

    const char* text_ = nullptr;
    std::size_t size_ = 0;
    std::size_t window_ = 0;      // offset of the 64-byte window mask_ describes
    std::uint64_t mask_ = 0;      // its non-space bytes
    std::uint64_t starts_ = 0;    // its words' first bytes not yet returned
    const char* word_ = nullptr;  // null at the end
    std::size_t len_ = 0;
  };

  explicit word_range(std::string_view s) noexcept : s_(s) {}
  iterator begin() const noexcept { return iterator(s_); }
  iterator end() const noexcept { return iterator(); }

 private:
  std::string_view s_;
};

/// Splits a line into words: `lines.flat_map(dataflow::split_words)`.
inline constexpr struct split_words_fn {
  word_range operator()(std::string_view s) const noexcept { return word_range(s); }
} split_words{};

}  // namespace dataflow
