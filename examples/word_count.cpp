// word_count: prints `count<TAB>word` for the most frequent words of text files.
//
//   word_count [--threads N] [--budget SIZE] [--top K] [--stats text|json] FILE...
//   (FILE may be - for standard input; --top 0 prints every word; --stats prints the run's
//   per-stage figures to stderr)
#include "cli.hpp"
#include "word_count.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const char* usage =
      "usage: word_count [--threads N] [--budget SIZE] [--top K] [--stats text|json] FILE...\n";
  return examples::tool_main("word_count", usage, [&] {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    std::size_t top = args.number("--top", 10);
    const std::string stats = args.text("--stats", "");
    if (!stats.empty() && stats != "text" && stats != "json") {
      throw examples::usage_error("--stats must be text or json, got '" + stats + "'");
    }
    std::vector<std::string> files = args.positional(1);
    dataflow::context ctx(threads);
    ctx.memory_budget(budget);
    if (top == 0) {
      // Every word: sorted runs merge straight into standard output, a buffer at a time.
      examples::ranked_words(ctx, files).write_lines("-");
    } else {
      fmt::memory_buffer out;
      for (const auto& [word, n] : examples::count_words(ctx, files, top)) {
        fmt::format_to(std::back_inserter(out), "{}\t{}\n", n, word);
      }
      examples::write_stdout({out.data(), out.size()});
    }
    examples::write_stdout({});  // the words before the figures
    if (stats == "text") std::fputs(ctx.last_run().table().c_str(), stderr);
    if (stats == "json") std::fprintf(stderr, "%s\n", ctx.last_run().json().c_str());
  });
}
