// join_csv: joins two CSV files on their first column and prints `key,left,right` lines,
// sorted bytewise.
//
//   join_csv [--threads N] [--budget SIZE] [--type inner|left|right|full] [--header yes]
//            LEFT.csv RIGHT.csv
#include "cli.hpp"
#include "join_csv.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  const char* usage =
      "usage: join_csv [--threads N] [--budget SIZE] [--type inner|left|right|full] "
      "[--header yes] LEFT.csv RIGHT.csv\n";
  try {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    examples::join_type type;
    try {
      type = examples::parse_join_type(args.text("--type", "inner"));
    } catch (const std::invalid_argument& e) {
      throw examples::usage_error(e.what());
    }
    const bool header = args.text("--header", "no") == "yes";
    auto files = args.positional(2);
    if (files.size() != 2) throw examples::usage_error("expected LEFT.csv and RIGHT.csv");
    dataflow::context ctx(threads);
    ctx.memory_budget(budget);
    std::string out;
    for (const auto& l : examples::join_csv(ctx, files[0], files[1], type, header)) {
      out += l;
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  } catch (const examples::usage_error& e) {
    std::fprintf(stderr, "join_csv: %s\n%s", e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "join_csv: %s\n", e.what());
    return 1;
  }
}
