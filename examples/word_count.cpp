// word_count: prints `count<TAB>word` for the most frequent words of text files.
//
//   word_count [--threads N] [--budget SIZE] [--top K] [--stats text|json] FILE...
//   (FILE may be - for standard input; --top 0 prints every word; --stats prints the run's
//   per-stage figures to stderr)
//   word_count --mapper|--combiner|--reducer [--top K]   (Hadoop Streaming roles: standard input
//   to `word TAB count` records; the reducer prints what the tool prints)
#include "cli.hpp"
#include "word_count.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const char* usage =
      "usage: word_count [--threads N] [--budget SIZE] [--top K] [--stats text|json] FILE...\n"
      "       word_count --mapper|--combiner|--reducer [--threads N] [--budget SIZE] [--top K]\n";
  return examples::tool_main("word_count", usage, [&] {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    std::size_t top = args.number("--top", 10);
    const std::string stats = examples::stats_format(args);
    const std::string role = args.role();
    std::vector<std::string> files = args.positional(role.empty() ? 1 : 0);
    if (!role.empty() && !files.empty()) throw examples::usage_error("--" + role + " reads standard input, not files");
    dataflow::context ctx = examples::make_context(threads);
    ctx.memory_budget(budget);
    namespace hadoop = dataflow::hadoop;
    if (role == "mapper") {
      // The split's words, counted on every core before they leave the mapper.
      hadoop::write_records(examples::counts_of_words(ctx.read_lines("-")));  // counts lines read
      hadoop::counter("word_count", "lines read", ctx.last_run().stages.front().items_in);
    } else if (role == "combiner") {
      hadoop::write_records(examples::counts_from_records(ctx));
    } else if (role == "reducer" && top == 0) {
      examples::ranked(examples::counts_from_records(ctx)).write_lines("-");
    } else if (top == 0) {
      // Every word: sorted runs merge straight into standard output, a buffer at a time.
      examples::ranked_words(ctx, files).write_lines("-");
    } else {
      fmt::memory_buffer out;
      auto best = role == "reducer" ? examples::counts_from_records(ctx).top_k(top, examples::by_rank{})
                                    : examples::count_words(ctx, files, top);
      for (const auto& [word, n] : best) {
        fmt::format_to(std::back_inserter(out), "{}\t{}\n", n, word);
      }
      if (ctx.rank() == 0) examples::write_stdout({out.data(), out.size()});  // every rank has it
    }
    examples::write_stdout({});  // the words before the figures
    examples::print_stats(ctx, stats);
  });
}
