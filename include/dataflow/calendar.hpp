// date and timestamp: calendar values as plain numbers (days, microseconds since 1970-01-01
// UTC), so that they sort, hash, encode and compare as integers do.
//
// They read from text (read_csv fields, or date::parse("2026-12-02")) and write as ISO 8601
// (write_csv, write_lines, fmt). The proleptic Gregorian calendar, years 0000 to 9999.
//   date       "YYYY-MM-DD"
//   timestamp  "YYYY-MM-DD", then optionally 'T' or ' ' and "HH:MM[:SS[.f]]" (up to 6
//              fractional digits), then optionally 'Z' or an offset "+HH:MM" / "-HH:MM"
//              (converted to UTC); written as "YYYY-MM-DDTHH:MM:SS[.ffffff]Z".
//
// @code
// struct visit { std::string user; dataflow::timestamp at; };
// auto per_day = ctx.read_csv<visit>("visits.csv")
//                    .map([](const visit& v) { return std::pair(v.at.day(), 1); })
//                    .reduce_by_key(std::plus<>{});
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
namespace detail {

// Days from civil and back (H. Hinnant's algorithms, exact for the proleptic Gregorian calendar).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil {
  std::int64_t year;
  unsigned month, day;
};

constexpr civil civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

/// Reads exactly n digits at s[at...]; false when any is not a digit.
inline bool read_digits(std::string_view s, std::size_t at, std::size_t n, unsigned& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return true;
}

/// "YYYY-MM-DD" at the start of s, as days since 1970-01-01.
inline std::int64_t parse_date_prefix(std::string_view s) {
  unsigned y = 0, m = 0, d = 0;
  if (!read_digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !read_digits(s, 5, 2, m) ||
      s[7] != '-' || !read_digits(s, 8, 2, d)) {
    throw std::invalid_argument("is not a date (YYYY-MM-DD)");
  }
  if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) {
    throw std::invalid_argument("is not a day of the calendar");
  }
  return days_from_civil(y, m, d);
}

inline void append_2(std::string& s, unsigned v) {
  s += static_cast<char>('0' + v / 10);
  s += static_cast<char>('0' + v % 10);
}

inline std::string format_days(std::int64_t days) {
  const civil c = civil_from_days(days);
  std::string s = c.year >= 0 && c.year <= 9999 ? fmt::format("{:04}", c.year) : std::to_string(c.year);
  s += '-';
  append_2(s, c.month);
  s += '-';
  append_2(s, c.day);
  return s;
}

}  // namespace detail

/// A calendar day, as days since 1970-01-01.
struct date {
  std::int32_t days = 0;

  /// Reads "YYYY-MM-DD"; throws std::invalid_argument saying what is wrong.
  static date parse(std::string_view s) {
    if (s.size() != 10) throw std::invalid_argument("is not a date (YYYY-MM-DD)");
    return date{static_cast<std::int32_t>(detail::parse_date_prefix(s))};
  }
  static constexpr date from_ymd(int year, unsigned month, unsigned day) noexcept {
    return date{static_cast<std::int32_t>(detail::days_from_civil(year, month, day))};
  }
  constexpr int year() const noexcept { return static_cast<int>(detail::civil_from_days(days).year); }
  constexpr unsigned month() const noexcept { return detail::civil_from_days(days).month; }
  constexpr unsigned day() const noexcept { return detail::civil_from_days(days).day; }
  /// 0 for Monday to 6 for Sunday (1970-01-01 was a Thursday).
  constexpr unsigned weekday() const noexcept {
    return static_cast<unsigned>(((days % 7) + 7 + 3) % 7);
  }

  friend auto operator<=>(date, date) = default;
  friend bool operator==(date, date) = default;
  friend constexpr date operator+(date d, std::int32_t n) noexcept { return date{d.days + n}; }
  friend constexpr date operator-(date d, std::int32_t n) noexcept { return date{d.days - n}; }
  friend constexpr std::int32_t operator-(date a, date b) noexcept { return a.days - b.days; }

  friend std::string to_string(date d) { return detail::format_days(d.days); }
};

/// An instant, as microseconds since 1970-01-01T00:00:00Z.
struct timestamp {
  std::int64_t micros = 0;

  static constexpr std::int64_t per_second = 1'000'000;
  static constexpr std::int64_t per_day = 86'400 * per_second;

  /// Reads an ISO 8601 date and time (see the file's comment); throws std::invalid_argument
  /// saying what is wrong.
  static timestamp parse(std::string_view s) {
    const std::int64_t days = detail::parse_date_prefix(s);
    std::int64_t micros = days * per_day;
    std::size_t at = 10;
    if (at == s.size()) return timestamp{micros};
    const char* bad = "is not a date and time (YYYY-MM-DD HH:MM:SS)";
    if (s[at] != 'T' && s[at] != 't' && s[at] != ' ') throw std::invalid_argument(bad);
    unsigned h = 0, m = 0, sec = 0;
    if (!detail::read_digits(s, at + 1, 2, h) || at + 3 >= s.size() || s[at + 3] != ':' ||
        !detail::read_digits(s, at + 4, 2, m)) {
      throw std::invalid_argument(bad);
    }
    at += 6;
    if (at < s.size() && s[at] == ':') {
      if (!detail::read_digits(s, at + 1, 2, sec)) throw std::invalid_argument(bad);
      at += 3;
    }
    if (h > 23 || m > 59 || sec > 60) throw std::invalid_argument("is not a time of day");
    std::int64_t fraction = 0;
    if (at < s.size() && (s[at] == '.' || s[at] == ',')) {
      std::size_t digits = 0;
      for (++at; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at) {
        if (++digits > 6) throw std::invalid_argument("has more than 6 fractional digits of a second");
        fraction = fraction * 10 + (s[at] - '0');
      }
      if (digits == 0) throw std::invalid_argument(bad);
      for (; digits < 6; ++digits) fraction *= 10;
    }
    micros += ((h * 60 + m) * 60 + std::int64_t{sec}) * per_second + fraction;
    if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
      ++at;
    } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
      unsigned oh = 0, om = 0;
      if (!detail::read_digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' ||
          !detail::read_digits(s, at + 4, 2, om) || oh > 23 || om > 59) {
        throw std::invalid_argument("has an offset that is not +HH:MM or -HH:MM");
      }
      const std::int64_t offset = (oh * 60 + om) * 60 * per_second;
      micros += s[at] == '+' ? -offset : offset;  // local time = UTC + offset
      at += 6;
    }
    if (at != s.size()) throw std::invalid_argument(bad);
    return timestamp{micros};
  }

  static constexpr timestamp from_seconds(std::int64_t seconds) noexcept {
    return timestamp{seconds * per_second};
  }
  constexpr std::int64_t seconds() const noexcept {  // rounded down, also before 1970
    return micros >= 0 ? micros / per_second : -((-micros + per_second - 1) / per_second);
  }
  /// The UTC day it falls on.
  constexpr date day() const noexcept {
    const std::int64_t d = micros >= 0 ? micros / per_day : -((-micros + per_day - 1) / per_day);
    return date{static_cast<std::int32_t>(d)};
  }

  friend auto operator<=>(timestamp, timestamp) = default;
  friend bool operator==(timestamp, timestamp) = default;

  friend std::string to_string(timestamp t) {
    const date d = t.day();
    const std::int64_t in_day = t.micros - std::int64_t{d.days} * per_day;
    const auto secs = static_cast<unsigned>(in_day / per_second);
    std::string s = detail::format_days(d.days);
    s += 'T';
    detail::append_2(s, secs / 3600);
    s += ':';
    detail::append_2(s, secs / 60 % 60);
    s += ':';
    detail::append_2(s, secs % 60);
    if (const std::int64_t f = in_day % per_second; f != 0) s += fmt::format(".{:06}", f);
    s += 'Z';
    return s;
  }
};

}  // namespace dataflow

template <>
struct fmt::formatter<dataflow::date> : dataflow::detail::to_string_formatter<dataflow::date> {};

template <>
struct fmt::formatter<dataflow::timestamp> : dataflow::detail::to_string_formatter<dataflow::timestamp> {};
