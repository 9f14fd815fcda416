// inverted_index: prints `word<TAB>file file ...` for every word of the text files in DIR,
// words in byte order, files in name order.
//
//   inverted_index [--threads N] [--budget SIZE] DIR
//
// File names are escaped as `ls -b` does, so that a name holding a space or a tab cannot be
// taken for two: '\' as "\\", ' ' as "\ ", tab as "\t", newline as "\n".
#include "cli.hpp"
#include "inverted_index.hpp"


int main(int argc, char** argv) {
  const char* usage = "usage: inverted_index [--threads N] [--budget SIZE] DIR\n";
  return examples::tool_main("inverted_index", usage, [&] {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    auto dirs = args.positional(1);
    if (dirs.size() != 1) throw examples::usage_error("expected one DIR");
    dataflow::context ctx = examples::make_context(threads);
    ctx.memory_budget(budget);
    // Streamed: sorted runs merge straight into standard output, a buffer at a time.
    examples::index_lines(ctx, dirs[0]).write_lines("-");
  });
}
