// CRC32C (Castagnoli) of a byte range: the checksum of every spill-file block.
//
// x86-64 CPUs since 2008 compute it with one instruction per 8 bytes (SSE4.2), three chains at
// once over long ranges; others use a table, one byte at a time. Both give the same result, so files are portable between them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define DATAFLOW_CRC32C_HW 1
#endif

namespace dataflow::detail {

inline const std::array<std::uint32_t, 256>& crc32c_table() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
      t[i] = c;
    }
    return t;
  }();
  return table;
}

inline std::uint32_t crc32c_portable(std::uint32_t crc, const char* p, std::size_t n) noexcept {
  const auto& t = crc32c_table();
  for (std::size_t i = 0; i < n; ++i) {
    crc = t[(crc ^ static_cast<unsigned char>(p[i])) & 0xffu] ^ (crc >> 8);
  }
  return crc;
}

#ifdef DATAFLOW_CRC32C_HW
/// The crc32 instruction takes three cycles and can start every cycle, so one chain of it runs
/// at a third of the CPU's speed. Long ranges go as three chains over three adjacent stripes
/// at once, joined after each: the CRC register of a stripe followed by `stripe` zero bytes is
/// a linear function of the register, kept as four tables of 256 entries (one per byte).
inline constexpr std::size_t crc32c_stripe = 4096;

[[gnu::target("sse4.2")]] inline std::uint32_t crc32c_sse42_chain(std::uint32_t crc, const char* p,
                                                                   std::size_t n) noexcept {
  std::uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, static_cast<unsigned char>(*p));
  return c32;
}

/// shift(c): the register c after crc32c_stripe zero bytes.
struct crc32c_shift {
  std::array<std::array<std::uint32_t, 256>, 4> t{};

  [[gnu::target("sse4.2")]] crc32c_shift() noexcept {
    static const char zeros[crc32c_stripe] = {};
    std::array<std::uint32_t, 32> bit{};
    for (int b = 0; b < 32; ++b) bit[b] = crc32c_sse42_chain(std::uint32_t{1} << b, zeros, crc32c_stripe);
    for (int k = 0; k < 4; ++k) {
      for (std::uint32_t v = 0; v < 256; ++v) {
        std::uint32_t x = 0;
        for (int j = 0; j < 8; ++j) {
          if (v >> j & 1u) x ^= bit[8 * k + j];
        }
        t[k][v] = x;
      }
    }
  }

  std::uint32_t operator()(std::uint32_t c) const noexcept {
    return t[0][c & 0xffu] ^ t[1][(c >> 8) & 0xffu] ^ t[2][(c >> 16) & 0xffu] ^ t[3][c >> 24];
  }
};

[[gnu::target("sse4.2")]] inline std::uint32_t crc32c_sse42(std::uint32_t crc, const char* p,
                                                             std::size_t n) noexcept {
  if (n >= 3 * crc32c_stripe) {
    static const crc32c_shift shift;
    for (; n >= 3 * crc32c_stripe; n -= 3 * crc32c_stripe, p += 3 * crc32c_stripe) {
      std::uint64_t a = crc, b = 0, c = 0;
      for (std::size_t i = 0; i < crc32c_stripe; i += 8) {
        std::uint64_t x, y, z;
        std::memcpy(&x, p + i, 8);
        std::memcpy(&y, p + crc32c_stripe + i, 8);
        std::memcpy(&z, p + 2 * crc32c_stripe + i, 8);
        a = _mm_crc32_u64(a, x);
        b = _mm_crc32_u64(b, y);
        c = _mm_crc32_u64(c, z);
      }
      crc = shift(shift(static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b)) ^ static_cast<std::uint32_t>(c);
    }
  }
  return crc32c_sse42_chain(crc, p, n);
}
#endif

/// Returns the CRC32C of what `crc` covered followed by [p, p + n): crc32c_extend(crc32c(a), b)
/// is the CRC32C of a and b together; crc32c_extend(0, ...) starts afresh.
inline std::uint32_t crc32c_extend(std::uint32_t crc, const char* p, std::size_t n) noexcept {
#ifdef DATAFLOW_CRC32C_HW
  static const bool hw = __builtin_cpu_supports("sse4.2");
  if (hw) return ~crc32c_sse42(~crc, p, n);
#endif
  return ~crc32c_portable(~crc, p, n);
}

/// The length of each of the three chains' stripes (for tests of the lengths around it).
constexpr std::size_t crc32c_stripe_bytes() noexcept {
#ifdef DATAFLOW_CRC32C_HW
  return crc32c_stripe;
#else
  return 4096;
#endif
}

/// Returns the CRC32C of [p, p + n).
inline std::uint32_t crc32c(const char* p, std::size_t n) noexcept { return crc32c_extend(0, p, n); }

}  // namespace dataflow::detail
