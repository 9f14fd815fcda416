// The escaping of tab-separated text records (Hadoop Streaming records, dead-letter files):
// '\\', TAB, newline and carriage return become two characters each, so that a field holds no
// separator and a record stays on one line.
#pragma once

#include <string>
#include <string_view>

namespace dataflow::detail {

/// Appends `s` to `out` with '\\', TAB, newline and carriage return escaped.
inline void append_tab_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
}

}  // namespace dataflow::detail
