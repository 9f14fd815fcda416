// A 16-byte string key for hash tables: up to 12 bytes inline, longer ones as a 4-byte prefix
// and a pointer (the layout DuckDB and Umbra call a "German string").
//
// With string_view keys a probe that finds a matching hash must still compare the bytes, and
// when the bytes live elsewhere (an arena) that is a second cache miss per lookup: in word count
// it was 41% of the time. Inline keys are compared inside the slot the probe already loaded.
#pragma once

#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/short_bytes.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/arena.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace dataflow::detail {

/// A string of at most 12 bytes as two words: its size in the low half of `head` and its first
/// four bytes in the high half, the other bytes in `tail`, zero-padded (little-endian). Made in
/// registers from one masked load (short_bytes.hpp).
struct short_words {
  std::uint64_t head, tail;
};
[[gnu::always_inline]] inline short_words pack_short(const char* d, std::size_t n) noexcept {
  const short_bytes w = load_short(d, n);
  return {n | (w.lo << 32), (w.lo >> 32) | (w.hi << 32)};
}

class packed_string {
 public:
  static constexpr std::size_t inline_max = 12;

  packed_string() noexcept = default;
  /// Packs `s`; a string longer than 12 bytes is copied into `a`.
  packed_string(std::string_view s, arena& a) {
    if (s.size() <= inline_max) {
      *this = inline_copy(s);
    } else {
      const char* p = a.copy(s).data();
      head_ = s.size() | (load32(s.data()) << 32);
      std::memcpy(&tail_, &p, sizeof p);
    }
  }

  /// Packs a string of at most 12 bytes, which needs no arena. The two words are made in
  /// registers: bytes stored one by one and then read back as one 16-byte load stall that load
  /// (store forwarding fails); in word count the instruction after it took 42% of the samples
  /// of the loop that splits, hashes and stages words.
  static packed_string inline_copy(std::string_view s) noexcept {
    const short_words w = pack_short(s.data(), s.size());
    packed_string p;
    p.head_ = w.head;
    p.tail_ = w.tail;
    return p;
  }

  std::size_t size() const noexcept { return static_cast<std::uint32_t>(head_); }

  /// Returns the bytes; for an inline key they live in this object.
  std::string_view view() const noexcept {
    const std::size_t n = size();
    if (n <= inline_max) return {reinterpret_cast<const char*>(this) + 4, n};
    const char* p;
    std::memcpy(&p, &tail_, sizeof p);
    return {p, n};
  }

  friend bool operator==(const packed_string& a, std::string_view b) noexcept {
    if (b.size() <= inline_max) return a == inline_copy(b);
    return a.head_ == (b.size() | (load32(b.data()) << 32)) && a.view() == b;
  }

  friend bool operator==(const packed_string& a, const packed_string& b) noexcept {
    if (a.head_ != b.head_) return false;  // the sizes and the first four bytes
    if (a.size() <= inline_max) return a.tail_ == b.tail_;
    return a.view() == b.view();
  }

 private:

  // Little-endian: the size in the first four bytes, then the key's bytes (inline: up to 12,
  // zero-padded; long: a 4-byte prefix, then the pointer to the arena's copy).
  std::uint64_t head_ = 0;
  std::uint64_t tail_ = 0;
};

static_assert(std::endian::native == std::endian::little, "dataflow: packed_string assumes little-endian");
static_assert(sizeof(packed_string) == 16);

/// How a table stores keys of type K: string views packed, everything else as is (with the
/// bytes of any views inside copied into the table's arena).
template <class K>
struct table_key {
  using type = K;
  static decltype(auto) make(const K& k, arena& a) { return intern(a, k); }
  static const K& view(const K& k) noexcept { return k; }
};

template <>
struct table_key<std::string_view> {
  using type = packed_string;
  static packed_string make(std::string_view k, arena& a) { return packed_string(k, a); }
  static std::string_view view(const packed_string& k) noexcept { return k.view(); }
};

}  // namespace dataflow::detail
