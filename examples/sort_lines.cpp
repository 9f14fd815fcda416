// sort_lines: sorts the lines of text files bytewise, like `LC_ALL=C sort`.
//
//   sort_lines [--threads N] [--budget SIZE] [--tmp DIR] [-o OUT] [--direct] [--stats text|json] FILE...
//
// FILE may be - for standard input. With --budget, runs that do not fit are sorted, spilled
// under --tmp (default $TMPDIR or /tmp) and merged. A regular OUT is replaced only once it is
// complete; a device, FIFO or standard output is written through. --direct writes a regular
// OUT with O_DIRECT, past the page cache (write_options::direct). --stats prints the run's
// per-stage figures to stderr.
#include "cli.hpp"
#include "sort_lines.hpp"

#include <string>
#include <vector>

int main(int argc, char** argv) {
  const char* usage = "usage: sort_lines [--threads N] [--budget SIZE] [--tmp DIR] [-o OUT] [--direct] [--stats text|json] FILE...\n";
  return examples::tool_main("sort_lines", usage, [&] {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    std::string tmp = args.text("--tmp", "");
    std::string out = args.text("-o", "-");
    const bool direct = args.flag("--direct");
    const std::string stats = examples::stats_format(args);
    std::vector<std::string> files = args.positional(1);
    dataflow::context ctx = examples::make_context(threads);
    ctx.memory_budget(budget).spill_directory(tmp);
    examples::write_stdout({});
    examples::sort_lines(ctx, files, out, {.direct = direct});
    examples::print_stats(ctx, stats);
  });
}
