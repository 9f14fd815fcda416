// The core of the log_stats tool: web access logs (Common or Combined Log Format) summed up:
// requests, distinct clients, server errors, and the busiest paths with their bytes.
//
//   203.0.113.9 - - [02/Dec/2026:10:15:30 +0000] "GET /index.html HTTP/1.1" 200 5120 ...
#pragma once

#include <dataflow/dataflow.hpp>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

/// One request; the views point into its log line.
struct access {
  std::string_view client, path;
  unsigned status = 0;
  std::uint64_t bytes = 0;
};

/// Parses a log line; nothing for a line that is not one (it is counted as malformed).
inline std::optional<access> parse_access(std::string_view line) {
  access a;
  const auto space = line.find(' ');
  const auto quote = line.find('"');
  if (space == 0 || space == line.npos || quote == line.npos) return std::nullopt;
  a.client = line.substr(0, space);
  const auto request_end = line.find('"', quote + 1);
  if (request_end == line.npos) return std::nullopt;
  const std::string_view request = line.substr(quote + 1, request_end - quote - 1);  // GET /p HTTP/1.1
  const auto p1 = request.find(' '), p2 = request.rfind(' ');
  if (p1 == request.npos || p2 <= p1) return std::nullopt;
  a.path = request.substr(p1 + 1, p2 - p1 - 1);
  std::string_view rest = line.substr(request_end + 1);  // " 200 5120 ..."
  std::uint64_t fields[2] = {0, 0};
  for (auto& f : fields) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (!rest.empty() && rest.front() == '-') {  // no body: "-"
      rest.remove_prefix(1);
      continue;
    }
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), f);
    if (ec != std::errc()) return std::nullopt;
    rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
  }
  a.status = static_cast<unsigned>(fields[0]);
  a.bytes = fields[1];
  if (a.status < 100 || a.status > 599) return std::nullopt;
  return a;
}

/// Figures of one path, or of all (added up with +).
struct hits {
  std::uint64_t requests = 0, bytes = 0, server_errors = 0;
  friend hits operator+(const hits& a, const hits& b) {
    return {a.requests + b.requests, a.bytes + b.bytes, a.server_errors + b.server_errors};
  }
  bool operator==(const hits&) const = default;
};

struct log_report {
  hits total;
  std::uint64_t lines = 0, clients = 0;
  std::vector<std::pair<std::string, hits>> top_paths;  // most requested first, ties by path
};

inline log_report analyze_logs(dataflow::context& ctx, const std::vector<std::string>& files,
                               std::size_t top, dataflow::read_options options = {}) {
  options.strip_cr = true;
  // The log is read once: its parsed lines are kept (spilled under a budget) for the three
  // questions asked of them.
  auto lines = ctx.read_lines(files, options).map(parse_access).cache();
  auto requests = lines.flat_map([](const std::optional<access>& a) { return a; });  // drops malformed
  auto per_path = requests
                      .map([](const access& a) {
                        return std::pair(a.path, hits{1, a.bytes, a.status >= 500});
                      })
                      .reduce_by_key(std::plus<>{})
                      .cache();
  log_report r;
  r.lines = lines.count();
  r.total = per_path.values().reduce(std::plus<>{}).value_or(hits{});
  r.clients = requests.map([](const access& a) { return a.client; }).distinct().count();
  r.top_paths = per_path.top_k(top, [](const auto& a, const auto& b) {
    if (a.second.requests != b.second.requests) return a.second.requests > b.second.requests;
    return std::string_view(a.first) < std::string_view(b.first);
  });
  return r;
}

}  // namespace examples
