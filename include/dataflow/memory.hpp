// Byte sizes: literals for budgets (256_MiB), a parser for command lines ("256M", "1.5GiB") and
// a formatter for reports ("1.5 GiB").
#pragma once

#include <dataflow/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dataflow {
namespace literals {

constexpr std::size_t operator""_KiB(unsigned long long n) { return static_cast<std::size_t>(n) << 10; }
constexpr std::size_t operator""_MiB(unsigned long long n) { return static_cast<std::size_t>(n) << 20; }
constexpr std::size_t operator""_GiB(unsigned long long n) { return static_cast<std::size_t>(n) << 30; }

}  // namespace literals

/// Parses a byte size: a number with an optional suffix K, M, G or T (powers of 1024; "KiB",
/// "KB" and lower case are accepted the same), e.g. "256M", "1.5G", "65536". Throws
/// usage_error naming the text when it is not one.
std::size_t parse_size(std::string_view text);

/// Formats a byte count for people: "0", "512 B", "1.5 KiB", "3.2 GiB".
std::string format_size(std::uint64_t bytes);

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>

#include <cctype>
#include <cstdio>

namespace dataflow {

DATAFLOW_INLINE std::size_t parse_size(std::string_view text) {
  auto bad = [&]() -> usage_error {
    return usage_error("dataflow: '" + std::string(text) +
                       "' is not a size (expected a number with an optional K, M, G or T suffix, "
                       "such as 256M)");
  };
  std::size_t i = 0;
  double whole = 0;
  bool digits = false;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, digits = true) {
    whole = whole * 10 + (text[i] - '0');
  }
  if (i < text.size() && text[i] == '.') {
    double scale = 0.1;
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, digits = true) {
      whole += (text[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (!digits) throw bad();
  std::string unit;
  for (char c : text.substr(i)) unit += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double mult = 1;
  if (!unit.empty() && unit != "B") {
    const std::string_view prefixes = "KMGT";
    const std::size_t at = prefixes.find(unit[0]);
    const std::string_view rest = std::string_view(unit).substr(1);
    if (at == std::string_view::npos || !(rest.empty() || rest == "B" || rest == "IB")) throw bad();
    for (std::size_t k = 0; k <= at; ++k) mult *= 1024;
  }
  const double bytes = whole * mult;
  if (bytes >= 1.8e19) throw bad();
  return static_cast<std::size_t>(bytes);
}

DATAFLOW_INLINE std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  char text[32];
  if (u == 0) {
    std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(text, sizeof text, "%.1f %s", v, units[u]);
  }
  return text;
}

}  // namespace dataflow
#endif
