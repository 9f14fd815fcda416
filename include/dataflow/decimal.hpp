// decimal<Scale>: an exact decimal number with Scale fractional digits, held as a 64-bit count
// of 10^-Scale (prices, amounts: sums that must not drift as binary floating point does).
//
// It reads from text (read_csv fields, or decimal<2>::parse("-12.5")), writes as text with
// exactly Scale fractional digits (write_csv, write_lines, fmt), and is a plain struct: codecs,
// hashes and ordering come with it. Arithmetic that overflows throws std::overflow_error
// rather than wrapping.
//
// @code
// struct sale { std::string region; dataflow::decimal<2> amount; };
// auto totals = ctx.read_csv<sale>("sales.csv")
//                   .map([](const sale& s) { return std::pair(s.region, s.amount); })
//                   .reduce_by_key(std::plus<>{});          // "EU,1234.50"
// @endcode
#pragma once

#include <dataflow/detail/to_string_formatter.hpp>

#include <dataflow/detail/format.hpp>

#include <compare>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace dataflow {

template <int Scale>
struct decimal {
  static_assert(Scale >= 0 && Scale <= 18, "dataflow::decimal: the scale is 0 to 18 digits");

  /// The value times 10^Scale.
  std::int64_t units = 0;

  static constexpr std::int64_t one = [] {
    std::int64_t p = 1;
    for (int i = 0; i < Scale; ++i) p *= 10;
    return p;
  }();

  /// Reads "[+|-]digits[.digits]" (at most Scale fractional digits, no exponent); throws
  /// std::invalid_argument saying what is wrong, std::out_of_range past 64 bits.
  static decimal parse(std::string_view s) {
    std::size_t i = 0;
    const bool negative = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) ++i;
    std::uint64_t whole = 0;
    int digits = 0, fraction_digits = 0;
    bool point = false;
    const std::uint64_t limit = static_cast<std::uint64_t>(INT64_MAX) + (negative ? 1 : 0);
    for (; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '.' && !point) {
        point = true;
        continue;
      }
      if (c < '0' || c > '9') throw std::invalid_argument("is not a decimal number");
      if (point && ++fraction_digits > Scale) {
        throw std::invalid_argument("has more than " + std::to_string(Scale) + " fractional digits");
      }
      ++digits;
      if (__builtin_mul_overflow(whole, 10u, &whole) ||
          __builtin_add_overflow(whole, static_cast<unsigned>(c - '0'), &whole) || whole > limit) {
        throw std::out_of_range("is out of range for decimal<" + std::to_string(Scale) + ">");
      }
    }
    if (digits == 0) throw std::invalid_argument("is not a decimal number");
    for (int f = fraction_digits; f < Scale; ++f) {
      if (__builtin_mul_overflow(whole, 10u, &whole) || whole > limit) {
        throw std::out_of_range("is out of range for decimal<" + std::to_string(Scale) + ">");
      }
    }
    return decimal{negative ? static_cast<std::int64_t>(0 - whole) : static_cast<std::int64_t>(whole)};
  }

  double to_double() const noexcept { return static_cast<double>(units) / static_cast<double>(one); }

  friend auto operator<=>(decimal, decimal) = default;
  friend bool operator==(decimal, decimal) = default;

  friend decimal operator+(decimal a, decimal b) {
    decimal r;
    if (__builtin_add_overflow(a.units, b.units, &r.units)) overflow("+");
    return r;
  }
  friend decimal operator-(decimal a, decimal b) {
    decimal r;
    if (__builtin_sub_overflow(a.units, b.units, &r.units)) overflow("-");
    return r;
  }
  friend decimal operator-(decimal a) { return decimal{} - a; }
  friend decimal operator*(decimal a, std::int64_t n) {
    decimal r;
    if (__builtin_mul_overflow(a.units, n, &r.units)) overflow("*");
    return r;
  }
  friend decimal operator*(std::int64_t n, decimal a) { return a * n; }
  decimal& operator+=(decimal b) { return *this = *this + b; }
  decimal& operator-=(decimal b) { return *this = *this - b; }

  /// "-12.50" for decimal<2>: every fractional digit, so columns line up and read back exactly.
  friend std::string to_string(decimal d) {
    const bool negative = d.units < 0;
    std::uint64_t u = negative ? 0 - static_cast<std::uint64_t>(d.units) : static_cast<std::uint64_t>(d.units);
    std::string s = std::to_string(u / static_cast<std::uint64_t>(one));
    if constexpr (Scale > 0) {
      std::string frac = std::to_string(u % static_cast<std::uint64_t>(one));
      s += '.';
      s.append(static_cast<std::size_t>(Scale) - frac.size(), '0');
      s += frac;
    }
    return negative ? "-" + s : s;
  }

 private:
  [[noreturn]] static void overflow(const char* op) {
    throw std::overflow_error(std::string("dataflow::decimal: ") + op + " overflows 64 bits");
  }
};

}  // namespace dataflow

template <int Scale>
struct fmt::formatter<dataflow::decimal<Scale>>
    : dataflow::detail::to_string_formatter<dataflow::decimal<Scale>> {};
