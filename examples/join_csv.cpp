// join_csv: joins two CSV files on their first column and prints `key,left,right` lines,
// sorted bytewise.
//
//   join_csv [--threads N] [--budget SIZE] [--type inner|left|right|full] [--header yes|no]
//            LEFT.csv RIGHT.csv
//
// Keys may be quoted (RFC 4180); a key that holds a separator or a quote is quoted again in the
// output. CRLF lines lose their '\r'.
//
//   join_csv --mapper [--header yes|no] LEFT.csv RIGHT.csv   (Hadoop Streaming: standard input,
//   the split of the file that mapreduce_map_input_file names, to `key TAB Lrest|Rrest` records)
//   join_csv --reducer [--type ...]   (the records, sorted or not, to what the tool prints)
#include "cli.hpp"
#include "join_csv.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
  const char* usage =
      "usage: join_csv [--threads N] [--budget SIZE] [--type inner|left|right|full] "
      "[--header yes|no] LEFT.csv RIGHT.csv\n"
      "       join_csv --mapper [--header yes|no] LEFT.csv RIGHT.csv\n"
      "       join_csv --reducer [--type inner|left|right|full]\n";
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
    const std::string role = args.role();
    if (role == "combiner") throw examples::usage_error("join_csv has no combiner: a join cannot join part of a key's rows");
    auto files = args.positional(role == "reducer" ? 0 : 2);
    if (role == "reducer" && !files.empty()) throw examples::usage_error("--reducer reads standard input, not files");
    if (role != "reducer" && files.size() != 2) throw examples::usage_error("expected LEFT.csv and RIGHT.csv");
    dataflow::context ctx = examples::make_context(threads);
    ctx.memory_budget(budget);
    auto print = [](auto lines) { lines.write_lines("-"); };
    if (role == "mapper") {
      // Which side this split is: the file Hadoop says it comes from, by name.
      namespace fs = std::filesystem;
      const std::string from = fs::path(dataflow::hadoop::split_file()).filename().string();
      if (fs::path(files[0]).filename() == fs::path(files[1]).filename()) {
        throw examples::usage_error("--mapper: LEFT and RIGHT have the same file name, which cannot tell a split's side");
      }
      const bool left = from == fs::path(files[0]).filename().string();
      if (!left && from != fs::path(files[1]).filename().string()) {
        throw examples::usage_error("--mapper: mapreduce_map_input_file ('" + from + "') names neither " + files[0] +
                                    " nor " + files[1]);
      }
      examples::join_csv_mapper(ctx, left, header == "yes" && dataflow::hadoop::split_starts_file());
    } else if (role == "reducer") {
      examples::join_csv_reducer(ctx, type, print);
    } else {
      // Streamed: sorted runs merge straight into standard output, a buffer at a time.
      examples::join_csv_lines(ctx, files[0], files[1], type, header == "yes", print);
    }
  });
}
