// The core of the group_sum tool: sums a `key,value` CSV by key.
//
// Keys are 64-bit integers; values are decimal numbers, summed exactly in fixed point with 18
// fractional digits (a 128-bit integer), so the result is the same whatever the thread count
// and the order of the input, which floating point could not promise.
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/hadoop/streaming.hpp>
#include <dataflow/detail/int128.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examples {

using dataflow::detail::int128;

/// A decimal number as an integer count of 10^-18.
///
/// Held as two 64-bit halves rather than an int128 member: 8-byte alignment keeps a key's sum
/// and count in 24 bytes and a table slot at 40, where an int128 pads them to 32 and 64 (with
/// tens of millions of keys, 1.5x the memory to fault in and to miss in cache).
struct decimal {
  static constexpr int scale = 18;
  std::uint64_t low = 0;
  std::uint64_t high = 0;

  decimal() = default;
  explicit decimal(int128 units) noexcept
      : low(static_cast<std::uint64_t>(units)), high(static_cast<std::uint64_t>(units >> 64)) {}
  int128 units() const noexcept {
    return static_cast<int128>((static_cast<dataflow::detail::uint128>(high) << 64) | low);
  }

  friend bool operator==(decimal a, decimal b) { return a.low == b.low && a.high == b.high; }
};

inline constexpr int128 pow10_int128(int n) {
  int128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

/// Writes a decimal with as few fractional digits as it needs ("-12.5", "3") at `out`, which
/// has room for 64 characters; returns the end. Magnitudes below 2^64 units (sums below 18.4,
/// the common case) take 64-bit arithmetic only; larger ones one 128-bit division, where a
/// digit loop over int128 would call the runtime's 128-bit division once a digit.
inline char* format_decimal(char* out, decimal d) {
  using dataflow::detail::uint128;
  constexpr std::uint64_t one = 1'000'000'000'000'000'000ULL;
  static_assert(decimal::scale == 18, "one is 10^scale");
  const bool negative = static_cast<std::int64_t>(d.high) < 0;
  uint128 u = (static_cast<uint128>(d.high) << 64) | d.low;
  if (negative) u = ~u + 1;  // the magnitude; well defined for the most negative value too
  if (negative) *out++ = '-';
  std::uint64_t frac = 0;
  if (static_cast<std::uint64_t>(u >> 64) == 0) {
    const auto v = static_cast<std::uint64_t>(u);
    out = std::to_chars(out, out + 24, v / one).ptr;
    frac = v % one;
  } else {
    const uint128 whole = u / one;
    frac = static_cast<std::uint64_t>(u - whole * one);
    if (static_cast<std::uint64_t>(whole >> 64) == 0) {
      out = std::to_chars(out, out + 24, static_cast<std::uint64_t>(whole)).ptr;
    } else {  // at most 2^127 / 10^18 < 1.8e20: 21 digits, two 64-bit halves
      constexpr std::uint64_t ten19 = 10'000'000'000'000'000'000ULL;
      out = std::to_chars(out, out + 24, static_cast<std::uint64_t>(whole / ten19)).ptr;
      char low[19];
      auto rest = static_cast<std::uint64_t>(whole % ten19);
      for (int i = 18; i >= 0; --i, rest /= 10) low[i] = static_cast<char>('0' + rest % 10);
      out = std::copy(low, low + 19, out);
    }
  }
  if (frac != 0) {
    int n = decimal::scale;
    // Trailing zeros go eight, four, two and one at a time (cents have sixteen of them).
    while (frac % 100'000'000 == 0) frac /= 100'000'000, n -= 8;
    if (frac % 10'000 == 0) frac /= 10'000, n -= 4;
    if (frac % 100 == 0) frac /= 100, n -= 2;
    if (frac % 10 == 0) frac /= 10, n -= 1;
    *out++ = '.';
    for (int i = n - 1; i >= 0; --i, frac /= 10) out[i] = static_cast<char>('0' + frac % 10);
    out += n;
  }
  return out;
}

/// Formats a decimal with as few fractional digits as it needs ("-12.5", "3").
inline std::string to_string(decimal d) {
  char buf[64];
  return std::string(buf, format_decimal(buf, d));
}

/// A key's sum and count.
struct sum_count {
  decimal sum;
  std::uint64_t count = 0;
};
static_assert(sizeof(std::pair<std::int64_t, sum_count>) == 32, "a key, its sum and count: 32 bytes");

struct group_row {
  std::int64_t key;
  decimal sum;
  std::uint64_t count;
};

inline std::runtime_error bad_line(std::string_view line, const char* why) {
  std::string shown(line.substr(0, 80));
  if (line.size() > 80) shown += "...";
  return std::runtime_error(std::string(why) + ": expected 'key,value' with an integer key and a "
                            "decimal value, got '" + shown + "'");
}

/// The units of a decimal written with `digits` (at most 19 of them) and `frac` fractional
/// digits, frac in [0, 18]: digits * 10^(18 - frac). The scale fits in 64 bits, so this is one
/// 64 x 64 -> 128-bit multiply, where an int128 scale took three (and the product, at most
/// 10^37, stays below 2^127).
inline int128 units_of(std::uint64_t digits, int frac) {
  static constexpr auto scales = [] {
    std::array<std::uint64_t, decimal::scale + 1> t{};
    std::uint64_t p = 1;
    for (int i = 0; i <= decimal::scale; ++i, p *= 10) t[static_cast<std::size_t>(i)] = p;
    return t;
  }();
  using dataflow::detail::uint128;
  return static_cast<int128>(static_cast<uint128>(digits) * scales[static_cast<std::size_t>(decimal::scale - frac)]);
}

/// The number written by eight digit values (0-9, one a byte, the first byte the most
/// significant), in three multiplies instead of a loop over the digits.
inline std::uint64_t eight_digits(std::uint64_t digits) {
  digits = (digits * 2561) >> 8;  // pairs: 10 * high + low
  digits = ((digits & 0x00ff00ff00ff00ffull) * 6553601) >> 16;  // fours: 100 * high + low
  return ((digits & 0x0000ffff0000ffffull) * 42949672960001) >> 32;  // 10000 * high + low
}

/// Parses the commonest line, `[-]key,[-+]value` of at least 8 bytes with a key of at most 8
/// digits and a value of at most 8 characters (digits and at most one point), without a loop over
/// its characters: every field length comes from a mask of the non-digit bytes, so no branch
/// mispredicts at a field's end (the digit loops did, two or three times a line). It loads only
/// bytes of the line. False for any other line.
inline bool parse_short_row(std::string_view line, std::pair<std::int64_t, sum_count>& out) {
  const char* p = line.data();
  std::size_t len = line.size();
  if (len != 0 && p[len - 1] == '\r') --len;
  const std::size_t k0 = len != 0 && p[0] == '-';
  if (k0 + 8 > len) return false;
  constexpr std::uint64_t zeros = 0x3030303030303030ull;  // '0' in every byte
  auto load = [](const char* at) {
    std::uint64_t v;
    std::memcpy(&v, at, 8);
    return v;
  };
  // The top bit of every byte of d (bytes ^ '0') that is not a digit: a digit becomes 0-9, any
  // other byte 10 or more. No carry crosses bytes.
  auto non_digits = [](std::uint64_t d) {
    return (((d & 0x7f7f7f7f7f7f7f7full) + 0x7676767676767676ull) | d) & 0x8080808080808080ull;
  };
  const std::uint64_t key_digits = load(p + k0) ^ zeros;
  const std::uint64_t key_stops = non_digits(key_digits);
  const std::size_t nk = key_stops != 0 ? static_cast<std::size_t>(std::countr_zero(key_stops)) / 8 : 8;
  if (nk == 0 || k0 + nk >= len || p[k0 + nk] != ',') return false;
  const std::uint64_t key = eight_digits(key_digits << (8 * (8 - nk)));  // leading zeros shifted in
  std::size_t v = k0 + nk + 1;
  const bool negative = v < len && p[v] == '-';
  v += v < len && (p[v] == '-' || p[v] == '+');
  const std::size_t m = len - v;  // the value's characters: the last m bytes of the line
  if (m == 0 || m > 8) return false;
  const std::uint64_t mine = m == 8 ? ~std::uint64_t{0} : ~std::uint64_t{0} << (8 * (8 - m));
  std::uint64_t value_digits = (load(p + len - 8) ^ zeros) & mine;  // bytes before it: zeros
  const std::uint64_t stops = non_digits(value_digits);
  int frac = 0;
  if (stops != 0) {
    // One non-digit only, a point, and a digit besides it.
    if ((stops & (stops - 1)) != 0 || m == 1) return false;
    const int at = std::countr_zero(stops) / 8;
    if (((value_digits >> (8 * at)) & 0xff) != static_cast<std::uint64_t>('.' ^ '0')) return false;
    frac = 7 - at;
    // Close the gap: the digits before the point move up a byte, over it.
    const std::uint64_t before = (std::uint64_t{1} << (8 * at)) - 1;
    const std::uint64_t after = ~before & ~(std::uint64_t{0xff} << (8 * at));
    value_digits = ((value_digits & before) << 8) | (value_digits & after);
  }
  const int128 value = units_of(eight_digits(value_digits), frac);
  out.first = k0 != 0 ? -static_cast<std::int64_t>(key) : static_cast<std::int64_t>(key);
  out.second = sum_count{decimal{negative ? -value : value}, 1};
  return true;
}

/// Parses the common line, `[-]digits,[-+]digits[.digits]` with at most 18 key digits and 19
/// value digits, in one pass of plain 64-bit arithmetic (no digit can overflow); false for any
/// other line, which parse_row then reads field by field (parse_row_fields).
inline bool parse_plain_row(std::string_view line, std::pair<std::int64_t, sum_count>& out) {
  const char* p = line.data();
  const char* end = p + line.size();
  if (p != end && end[-1] == '\r') --end;
  auto digit = [](char c) { return static_cast<unsigned>(c - '0'); };
  const bool key_negative = p != end && *p == '-';
  p += key_negative;
  const char* first = p;
  std::uint64_t key = 0;
  for (; p != end && digit(*p) < 10; ++p) key = key * 10 + digit(*p);
  if (p == first || p - first > 18 || p == end || *p != ',') return false;
  ++p;
  const bool negative = p != end && (*p == '-' || *p == '+') ? *p++ == '-' : false;
  std::uint64_t units = 0;
  int digits = 0, frac = -1;  // frac: digits after the point, -1 before it
  for (; p != end; ++p) {
    const unsigned d = digit(*p);
    if (d < 10) {
      units = units * 10 + d;
      ++digits;
      frac += frac >= 0;
    } else if (*p == '.' && frac < 0) {
      frac = 0;
    } else {
      return false;
    }
  }
  if (digits == 0 || digits > 19 || frac > decimal::scale) return false;
  // At most 19 digits times 10^18 is below 10^37: no overflow in 128 bits.
  const int128 value = units_of(units, std::max(frac, 0));
  out.first = key_negative ? -static_cast<std::int64_t>(key) : static_cast<std::int64_t>(key);
  out.second = sum_count{decimal{negative ? -value : value}, 1};
  return true;
}

/// Parses one `key,value` line field by field: CSV fields (RFC 4180: either may be quoted; a
/// trailing '\r' is dropped); throws naming the problem.
inline std::pair<std::int64_t, sum_count> parse_row_fields(std::string_view line) {
  dataflow::csv_fields fields(line, ',');
  const std::string_view key_field = fields.next();
  if (fields.done()) throw bad_line(line, "missing ','");
  const std::string_view value_field = fields.next();
  if (!fields.done()) throw bad_line(line, "more than two fields");
  // Key: an integer that fits in 64 bits.
  std::string_view s = key_field;
  std::size_t i = 0;
  auto sign = [&]() {
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) return s[i++] == '-';
    return false;
  };
  bool key_negative = sign();
  std::uint64_t key_abs = 0;
  std::size_t key_digits = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++key_digits) {
    if (__builtin_mul_overflow(key_abs, 10u, &key_abs) ||
        __builtin_add_overflow(key_abs, static_cast<unsigned>(s[i] - '0'), &key_abs)) {
      throw bad_line(line, "key out of range");
    }
  }
  if (key_digits == 0 || i != s.size()) throw bad_line(line, key_digits == 0 ? "missing key" : "bad key");
  if (key_abs > (key_negative ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1)) {
    throw bad_line(line, "key out of range");
  }
  std::int64_t key = key_negative ? static_cast<std::int64_t>(0 - key_abs) : static_cast<std::int64_t>(key_abs);
  s = value_field;
  i = 0;
  // Value: [sign] digits [. digits], at most 18 fractional digits.
  bool negative = sign();
  int128 units = 0;
  std::size_t digits = 0;
  int frac_digits = 0;
  bool point = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.' && !point) {
      point = true;
      continue;
    }
    if (c < '0' || c > '9') throw bad_line(line, "bad value");
    if (point && ++frac_digits > decimal::scale) throw bad_line(line, "more than 18 fractional digits");
    if (__builtin_mul_overflow(units, 10, &units) || __builtin_add_overflow(units, c - '0', &units)) {
      throw bad_line(line, "value out of range");
    }
    ++digits;
  }
  if (digits == 0) throw bad_line(line, "missing value");
  if (__builtin_mul_overflow(units, pow10_int128(decimal::scale - frac_digits), &units)) {
    throw bad_line(line, "value out of range");
  }
  return {key, sum_count{decimal{negative ? -units : units}, 1}};
}

/// Parses one `key,value` line as parse_row_fields does, the common lines without it.
inline std::pair<std::int64_t, sum_count> parse_row(std::string_view line) {
  std::pair<std::int64_t, sum_count> row;
  if (parse_short_row(line, row) || parse_plain_row(line, row)) return row;
  return parse_row_fields(line);
}

/// Adds two partial sums; throws if the sum leaves the 128-bit range.
inline sum_count add(const sum_count& a, const sum_count& b) {
  int128 sum;
  if (__builtin_add_overflow(a.sum.units(), b.sum.units(), &sum)) {
    throw std::overflow_error("sum out of range");
  }
  return sum_count{decimal(sum), a.count + b.count};
}

/// The sums of a `key,value` CSV by key (a dataset of (key, sum_count) pairs).
inline auto sums_of(dataflow::context& ctx, const std::string& path, dataflow::read_options options) {
  return ctx.read_lines(path, options)
      .map([](std::string_view line) { return parse_row(line); })
      .reduce_by_key([](const sum_count& a, const sum_count& b) { return add(a, b); });
}

/// Sums by key as rows in ascending key order, sorted under the context's memory budget.
template <class Sums>
auto rows_of(const Sums& sums) {
  return sums.map([](const std::pair<std::int64_t, sum_count>& kv) { return group_row{kv.first, kv.second.sum, kv.second.count}; })
      .sort_by([](const group_row& r) { return r.key; });
}

/// The sums of a `key,value` CSV (with a header line) by key, as rows in ascending key order:
/// parsed, reduced by key and sorted under the context's memory budget, for a sink to stream.
inline auto group_sum_rows(dataflow::context& ctx, const std::string& path, dataflow::read_options options = {}) {
  options.skip_header = true;
  return rows_of(sums_of(ctx, path, options));
}

/// The `key TAB count,sum` records of a Hadoop Streaming mapper or combiner (standard input),
/// summed.
inline auto sums_from_records(dataflow::context& ctx) {
  return dataflow::hadoop::read_records<std::int64_t, sum_count>(ctx).reduce_by_key(
      [](const sum_count& a, const sum_count& b) { return add(a, b); });
}

/// The same, collected.
inline std::vector<group_row> group_sums(dataflow::context& ctx, const std::string& path,
                                         dataflow::read_options options = {}) {
  return group_sum_rows(ctx, path, options).collect();
}

}  // namespace examples

/// A row as the tool prints it: `key,sum,count`.
template <>
struct fmt::formatter<examples::group_row> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Context>
  auto format(const examples::group_row& r, Context& ctx) const {
    char buf[128];  // std::to_chars, not a format string parsed a row
    char* at = std::to_chars(buf, buf + 24, r.key).ptr;
    *at++ = ',';
    at = examples::format_decimal(at, r.sum);
    *at++ = ',';
    at = std::to_chars(at, at + 24, r.count).ptr;
    return fmt::format_to(ctx.out(), "{}", std::string_view(buf, static_cast<std::size_t>(at - buf)));  // one append
  }
};

/// A key's sum and count as a Hadoop Streaming value: `count,sum` (the sum exact, as the tool
/// prints it), read back with the tool's own parser of `integer,decimal`.
template <>
struct dataflow::hadoop::text<examples::sum_count> {
  static void write(std::string& out, const examples::sum_count& s) {
    char buf[96];
    char* at = std::to_chars(buf, buf + 24, s.count).ptr;
    *at++ = ',';
    at = examples::format_decimal(at, s.sum);
    out.append(buf, at);
  }
  static examples::sum_count read(std::string_view v) {
    const auto [count, one] = examples::parse_row(v);
    if (count < 0) throw std::invalid_argument("a negative count in '" + std::string(v.substr(0, 80)) + "'");
    return examples::sum_count{one.sum, static_cast<std::uint64_t>(count)};
  }
};
