// CRC32C (Castagnoli) of a byte range: the checksum of every spill-file block.
//
// x86-64 CPUs since 2008 compute it with one instruction per 8 bytes (SSE4.2); others use a
// table, one byte at a time. Both give the same result, so files are portable between them.
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
[[gnu::target("sse4.2")]] inline std::uint32_t crc32c_sse42(std::uint32_t crc, const char* p,
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

/// Returns the CRC32C of [p, p + n).
inline std::uint32_t crc32c(const char* p, std::size_t n) noexcept { return crc32c_extend(0, p, n); }

}  // namespace dataflow::detail
