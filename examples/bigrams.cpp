// bigrams: `count<TAB>word word` for the most frequent pairs of consecutive words.
//
//   bigrams [--threads N] [--budget SIZE] [--top K] FILE...   (FILE may be - or a glob)
#include "bigrams.hpp"
#include "cli.hpp"

#include <fmt/format.h>

int main(int argc, char** argv) {
  const char* usage = "usage: bigrams [--threads N] [--budget SIZE] [--top K] FILE...\n";
  return examples::tool_main("bigrams", usage, [&] {
    examples::cli args(argc, argv);
    dataflow::context ctx = examples::context_from(args);
    const std::size_t top = args.number("--top", 10);
    fmt::memory_buffer out;
    for (const auto& [b, n] : examples::count_bigrams(ctx, args.positional(1), top)) {
      fmt::format_to(std::back_inserter(out), "{}\t{} {}\n", n, b.first, b.second);
    }
    examples::write_stdout({out.data(), out.size()});
  });
}
