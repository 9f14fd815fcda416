// pagerank: `page<TAB>rank` for the highest ranked pages of a link file ("from to" per line).
//
//   pagerank [--threads N] [--budget SIZE] [--rounds R] [--top K] LINKS...
#include "cli.hpp"
#include "pagerank.hpp"

#include <fmt/format.h>

int main(int argc, char** argv) {
  const char* usage = "usage: pagerank [--threads N] [--budget SIZE] [--rounds R] [--top K] LINKS...\n";
  return examples::tool_main("pagerank", usage, [&] {
    examples::cli args(argc, argv);
    dataflow::context ctx = examples::context_from(args);
    const auto rounds = static_cast<int>(args.number("--rounds", 10));
    const std::size_t top = args.number("--top", 10);
    fmt::memory_buffer out;
    for (const auto& [page, rank] : examples::pagerank(ctx, args.positional(1), rounds, top)) {
      fmt::format_to(std::back_inserter(out), "{}\t{:.6f}\n", page, rank);
    }
    examples::write_stdout({out.data(), out.size()});
  });
}
