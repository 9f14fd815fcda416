// The core of the group_sum tool: sums a `key,value` CSV by key.
//
// Keys are 64-bit integers; values are decimal numbers, summed exactly in fixed point with 18
// fractional digits (a 128-bit integer), so the result is the same whatever the thread count
// and the order of the input, which floating point could not promise.
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/detail/int128.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examples {

using dataflow::detail::int128;

/// A decimal number as an integer count of 10^-18.
struct decimal {
  static constexpr int scale = 18;
  int128 units = 0;

  friend bool operator==(decimal a, decimal b) { return a.units == b.units; }
};

inline constexpr int128 pow10_int128(int n) {
  int128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

/// Formats a decimal with as few fractional digits as it needs ("-12.5", "3").
inline std::string to_string(decimal d) {
  const int128 one = pow10_int128(decimal::scale);
  bool negative = d.units < 0;
  dataflow::detail::uint128 u = negative ? static_cast<dataflow::detail::uint128>(-(d.units + 1)) + 1
                                         : static_cast<dataflow::detail::uint128>(d.units);
  auto whole = u / static_cast<dataflow::detail::uint128>(one);
  auto frac = static_cast<std::uint64_t>(u % static_cast<dataflow::detail::uint128>(one));
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(whole % 10)));
    whole /= 10;
  } while (whole != 0);
  std::string s = negative ? "-" : "";
  s.append(digits.rbegin(), digits.rend());
  if (frac != 0) {
    std::string f(decimal::scale, '0');
    for (int i = decimal::scale - 1; i >= 0; --i, frac /= 10) f[static_cast<std::size_t>(i)] = static_cast<char>('0' + frac % 10);
    while (f.back() == '0') f.pop_back();
    s += "." + f;
  }
  return s;
}

/// A key's sum and count.
struct sum_count {
  decimal sum;
  std::uint64_t count = 0;
};

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

/// Parses one `key,value` line: CSV fields (RFC 4180: either may be quoted; a trailing '\r' is
/// dropped); throws naming the problem.
inline std::pair<std::int64_t, sum_count> parse_row(std::string_view line) {
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

/// Adds two partial sums; throws if the sum leaves the 128-bit range.
inline sum_count add(const sum_count& a, const sum_count& b) {
  sum_count r;
  if (__builtin_add_overflow(a.sum.units, b.sum.units, &r.sum.units)) {
    throw std::overflow_error("sum out of range");
  }
  r.count = a.count + b.count;
  return r;
}

/// Sums the values of a `key,value` CSV (with a header line) by key, in ascending key order.
inline std::vector<group_row> group_sums(dataflow::context& ctx, const std::string& path,
                                         dataflow::read_options options = {}) {
  options.skip_header = true;
  auto sums = ctx.read_lines(path, options)
                  .map([](std::string_view line) { return parse_row(line); })
                  .reduce_by_key([](const sum_count& a, const sum_count& b) { return add(a, b); })
                  .collect();
  std::vector<group_row> rows;
  rows.reserve(sums.size());
  for (const auto& [k, s] : sums) rows.push_back({k, s.sum, s.count});
  std::sort(rows.begin(), rows.end(), [](const group_row& a, const group_row& b) { return a.key < b.key; });
  return rows;
}

}  // namespace examples
