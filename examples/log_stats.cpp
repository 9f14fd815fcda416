// log_stats: requests, clients, server errors and the busiest paths of web access logs.
//
//   log_stats [--threads N] [--budget SIZE] [--top K] FILE...   (FILE may be - or a glob)
#include "cli.hpp"
#include "log_stats.hpp"

#include <fmt/format.h>

int main(int argc, char** argv) {
  const char* usage = "usage: log_stats [--threads N] [--budget SIZE] [--top K] FILE...\n";
  return examples::tool_main("log_stats", usage, [&] {
    examples::cli args(argc, argv);
    dataflow::context ctx = examples::context_from(args);
    const std::size_t top = args.number("--top", 10);
    const auto r = examples::analyze_logs(ctx, args.positional(1), top);
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out), "lines\t{}\nrequests\t{}\nmalformed\t{}\nclients\t{}\nbytes\t{}\nserver_errors\t{}\n", r.lines,
                   r.total.requests, r.lines - r.total.requests, r.clients, r.total.bytes, r.total.server_errors);
    for (const auto& [path, h] : r.top_paths) {
      fmt::format_to(std::back_inserter(out), "path\t{}\t{}\t{}\n", h.requests, h.bytes, path);
    }
    examples::write_stdout({out.data(), out.size()});
  });
}
