// group_sum: prints `key,sum,count` for every key of a `key,value` CSV, in ascending key order.
//
//   group_sum [--threads N] [--budget SIZE] [-o OUT] [--direct] FILE.csv   (FILE.csv may be -
//   for standard input; OUT, default standard output, is replaced once complete; --direct
//   writes a regular OUT with O_DIRECT, past the page cache: write_options::direct; --stats
//   prints the run's per-stage figures to stderr)
//   group_sum --mapper|--combiner|--reducer [--threads N] [--budget SIZE]   (Hadoop Streaming
//   roles: standard input to `key TAB count,sum` records; the reducer prints what the tool prints)
#include "cli.hpp"
#include "group_sum.hpp"

int main(int argc, char** argv) {
  const char* usage =
      "usage: group_sum [--threads N] [--budget SIZE] [-o OUT] [--direct] [--stats text|json] FILE.csv\n"
      "       group_sum --mapper|--combiner|--reducer [--threads N] [--budget SIZE]\n";
  return examples::tool_main("group_sum", usage, [&] {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    const std::string out = args.text("-o", "-");
    const bool direct = args.flag("--direct");
    const std::string stats = examples::stats_format(args);
    const std::string role = args.role();
    auto files = args.positional(role.empty() ? 1 : 0);
    if (role.empty() && files.size() != 1) throw examples::usage_error("expected one FILE.csv");
    if (!role.empty() && !files.empty()) throw examples::usage_error("--" + role + " reads standard input, not files");
    if ((role == "mapper" || role == "combiner") && (out != "-" || direct)) {
      throw examples::usage_error("--" + role + " writes records to standard output: no -o or --direct");
    }
    dataflow::context ctx = examples::make_context(threads);
    ctx.memory_budget(budget);
    namespace hadoop = dataflow::hadoop;
    if (role == "mapper") {
      // Only the split that starts the file has its header line.
      hadoop::write_records(examples::sums_of(ctx, "-", {.skip_header = hadoop::split_starts_file()}));
    } else if (role == "combiner") {
      hadoop::write_records(examples::sums_from_records(ctx));
    } else if (role == "reducer") {
      examples::rows_of(examples::sums_from_records(ctx)).write_lines(out, {.direct = direct});
    } else {
      // Streamed: sorted runs merge straight into standard output, a buffer at a time.
      examples::group_sum_rows(ctx, files[0]).write_lines(out, {.direct = direct});
    }
    examples::print_stats(ctx, stats);
  });
}
