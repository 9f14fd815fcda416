// group_sum: prints `key,sum,count` for every key of a `key,value` CSV, in ascending key order.
//
//   group_sum [--threads N] [--budget SIZE] FILE.csv   (FILE.csv may be - for standard input)
#include "cli.hpp"
#include "group_sum.hpp"

int main(int argc, char** argv) {
  const char* usage = "usage: group_sum [--threads N] [--budget SIZE] FILE.csv\n";
  return examples::tool_main("group_sum", usage, [&] {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    auto files = args.positional(1);
    if (files.size() != 1) throw examples::usage_error("expected one FILE.csv");
    dataflow::context ctx(threads);
    ctx.memory_budget(budget);
    // Streamed: sorted runs merge straight into standard output, a buffer at a time.
    examples::group_sum_rows(ctx, files[0]).write_lines("-");
  });
}
