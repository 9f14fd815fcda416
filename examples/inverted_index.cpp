// inverted_index: prints `word<TAB>file file ...` for every word of the text files in DIR,
// words in byte order, files in name order.
//
//   inverted_index [--threads N] [--budget SIZE] DIR
//
// File names are escaped as `ls -b` does, so that a name holding a space or a tab cannot be
// taken for two: '\' as "\\", ' ' as "\ ", tab as "\t", newline as "\n".
#include "cli.hpp"
#include "inverted_index.hpp"

#include <fmt/format.h>

#include <filesystem>

int main(int argc, char** argv) {
  const char* usage = "usage: inverted_index [--threads N] [--budget SIZE] DIR\n";
  return examples::tool_main("inverted_index", usage, [&] {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    auto dirs = args.positional(1);
    if (dirs.size() != 1) throw examples::usage_error("expected one DIR");
    dataflow::context ctx(threads);
    ctx.memory_budget(budget);
    auto index = examples::build_index(ctx, dirs[0]);
    std::vector<std::string> names;
    for (const auto& f : index.files) names.push_back(examples::escape_name(std::filesystem::path(f).filename().string()));
    fmt::memory_buffer out;
    for (const auto& [word, docs] : index.words) {
      fmt::format_to(std::back_inserter(out), "{}\t", word);
      for (std::size_t i = 0; i < docs.size(); ++i) {
        if (i) out.push_back(' ');
        out.append(names[docs[i]]);
      }
      out.push_back('\n');
    }
    examples::write_stdout({out.data(), out.size()});
  });
}
