// JSON strings for the figures and answers the library writes as JSON (run_stats, the query
// server).
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace dataflow::detail {

/// `s` as a JSON string, quoted and escaped.
inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

}  // namespace dataflow::detail
