// sort_lines: sorts the lines of text files bytewise, like `LC_ALL=C sort`.
//
//   sort_lines [--threads N] [--budget SIZE] [--tmp DIR] [-o OUT] FILE...
//
// With --budget, runs that do not fit are sorted, spilled under --tmp (default $TMPDIR or
// /tmp) and merged. OUT appears only once it is complete.
#include "cli.hpp"
#include "sort_lines.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const char* usage = "usage: sort_lines [--threads N] [--budget SIZE] [--tmp DIR] [-o OUT] FILE...\n";
  try {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    std::string tmp = args.text("--tmp", "");
    std::string out = args.text("-o", "-");
    std::vector<std::string> files = args.positional(1);
    dataflow::context ctx(threads);
    ctx.memory_budget(budget).spill_directory(tmp);
    std::fflush(stdout);
    examples::sort_lines(ctx, files, out);
    return 0;
  } catch (const examples::usage_error& e) {
    std::fprintf(stderr, "sort_lines: %s\n%s", e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sort_lines: %s\n", e.what());
    return 1;
  }
}
