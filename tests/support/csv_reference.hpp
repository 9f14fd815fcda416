// A character-at-a-time RFC 4180 reader of one line: the reference that the CSV field parser is
// compared with, in tests and in its fuzz target.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace test {

/// A character-at-a-time RFC 4180 reader of one line: the reference.
inline std::vector<std::string> reference_csv_fields(std::string_view line, char sep, bool& ok) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> out(1);
  ok = true;
  std::size_t i = 0;
  bool at_start = true;
  while (i < line.size()) {
    char c = line[i];
    if (at_start && c == '"') {
      ++i;
      for (;;) {
        if (i >= line.size()) return ok = false, out;
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            out.back() += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        out.back() += line[i++];
      }
      if (i < line.size() && line[i] != sep) return ok = false, out;
      at_start = false;
      continue;
    }
    if (c == sep) {
      out.emplace_back();
      at_start = true;
    } else {
      if (c == '"') return ok = false, out;
      out.back() += c;
      at_start = false;
    }
    ++i;
  }
  return out;
}


}  // namespace test
