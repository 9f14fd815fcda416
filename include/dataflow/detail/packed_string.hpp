// A 16-byte string key for hash tables: up to 12 bytes inline, longer ones as a 4-byte prefix
// and a pointer (the layout DuckDB and Umbra call a "German string").
//
// With string_view keys a probe that finds a matching hash must still compare the bytes, and
// when the bytes live elsewhere (an arena) that is a second cache miss per lookup: in word count
// it was 41% of the time. Inline keys are compared inside the slot the probe already loaded.
#pragma once

#include <dataflow/detail/item_traits.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/arena.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace dataflow::detail {

class packed_string {
 public:
  static constexpr std::size_t inline_max = 12;

  packed_string() noexcept : len_(0), bytes_{} {}
  /// Packs `s`; a string longer than 12 bytes is copied into `a`.
  packed_string(std::string_view s, arena& a) : len_(static_cast<std::uint32_t>(s.size())), bytes_{} {
    if (s.size() <= inline_max) {
      *this = inline_copy(s);
    } else {
      std::memcpy(bytes_, s.data(), 4);
      const char* p = a.copy(s).data();
      std::memcpy(bytes_ + 4, &p, sizeof p);
    }
  }

  /// Packs a string of at most 12 bytes, which needs no arena.
  static packed_string inline_copy(std::string_view s) noexcept {
    packed_string p;
    const std::size_t n = s.size();
    p.len_ = static_cast<std::uint32_t>(n);
    // Two overlapping fixed-size copies instead of a call to memcpy for a variable size.
    const char* d = s.data();
    if (n >= 8) {
      std::memcpy(p.bytes_, d, 8);
      std::memcpy(p.bytes_ + n - 8, d + n - 8, 8);
    } else if (n >= 4) {
      std::memcpy(p.bytes_, d, 4);
      std::memcpy(p.bytes_ + n - 4, d + n - 4, 4);
    } else if (n > 0) {
      p.bytes_[0] = d[0];
      p.bytes_[n >> 1] = d[n >> 1];
      p.bytes_[n - 1] = d[n - 1];
    }
    return p;
  }

  std::size_t size() const noexcept { return len_; }

  /// Returns the bytes; for an inline key they live in this object.
  std::string_view view() const noexcept {
    if (len_ <= inline_max) return {bytes_, len_};
    const char* p;
    std::memcpy(&p, bytes_ + 4, sizeof p);
    return {p, len_};
  }

  friend bool operator==(const packed_string& a, std::string_view b) noexcept {
    const std::size_t n = b.size();
    if (a.len_ != n) return false;
    if (n > inline_max) return std::memcmp(a.bytes_, b.data(), 4) == 0 && a.view() == b;
    return same_short(a.bytes_, b.data(), n);
  }

  friend bool operator==(const packed_string& a, const packed_string& b) noexcept {
    if (a.len_ != b.len_) return false;
    if (a.len_ <= inline_max) return std::memcmp(a.bytes_, b.bytes_, inline_max) == 0;
    return std::memcmp(a.bytes_, b.bytes_, 4) == 0 && a.view() == b.view();
  }

 private:
  /// Compares n <= 12 bytes with at most two overlapping loads per side (no call to memcmp, no
  /// read outside either string).
  static bool same_short(const char* a, const char* b, std::size_t n) noexcept {
    if (n >= 8) return load64(a) == load64(b) && load64(a + n - 8) == load64(b + n - 8);
    if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    if (n == 0) return true;
    return a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n - 1] == b[n - 1];
  }

  std::uint32_t len_;
  char bytes_[12];  // inline: the bytes, zero-padded; long: 4-byte prefix, then the pointer
};

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
