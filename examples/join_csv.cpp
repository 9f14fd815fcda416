// join_csv: joins two CSV files on their first column and prints `key,left,right` lines,
// sorted bytewise.
//
//   join_csv [--threads N] [--budget SIZE] [--type inner|left|right|full] [--header yes|no]
//            LEFT.csv RIGHT.csv
//
// Keys may be quoted (RFC 4180); a key that holds a separator or a quote is quoted again in the
// output. CRLF lines lose their '\r'.
#include "cli.hpp"
#include "join_csv.hpp"

#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
  const char* usage =
      "usage: join_csv [--threads N] [--budget SIZE] [--type inner|left|right|full] "
      "[--header yes|no] LEFT.csv RIGHT.csv\n";
  return examples::tool_main("join_csv", usage, [&] {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    examples::join_type type;
    try {
      type = examples::parse_join_type(args.text("--type", "inner"));
    } catch (const std::invalid_argument& e) {
      throw examples::usage_error(e.what());
    }
    const std::string header = args.text("--header", "no");
    if (header != "yes" && header != "no") {
      throw examples::usage_error("--header must be yes or no, got '" + header + "'");
    }
    auto files = args.positional(2);
    if (files.size() != 2) throw examples::usage_error("expected LEFT.csv and RIGHT.csv");
    dataflow::context ctx(threads);
    ctx.memory_budget(budget);
    // Streamed: sorted runs merge straight into standard output, a buffer at a time.
    examples::join_csv_lines(ctx, files[0], files[1], type, header == "yes",
                             [](auto lines) { lines.write_lines("-"); });
  });
}
