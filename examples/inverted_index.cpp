// inverted_index: prints `word<TAB>file file ...` for every word of the text files in DIR,
// words in byte order, files in name order.
//
//   inverted_index [--threads N] [--budget SIZE] DIR
#include "cli.hpp"
#include "inverted_index.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <filesystem>

int main(int argc, char** argv) {
  const char* usage = "usage: inverted_index [--threads N] [--budget SIZE] DIR\n";
  try {
    examples::cli args(argc, argv);
    std::size_t threads = args.number("--threads", 0);
    std::size_t budget = args.size("--budget", 0);
    auto dirs = args.positional(1);
    if (dirs.size() != 1) throw examples::usage_error("expected one DIR");
    dataflow::context ctx(threads);
    ctx.memory_budget(budget);
    auto index = examples::build_index(ctx, dirs[0]);
    fmt::memory_buffer out;
    for (const auto& [word, docs] : index.words) {
      fmt::format_to(std::back_inserter(out), "{}\t", word);
      for (std::size_t i = 0; i < docs.size(); ++i) {
        if (i) out.push_back(' ');
        fmt::format_to(std::back_inserter(out), "{}",
                       std::filesystem::path(index.files[docs[i]]).filename().string());
      }
      out.push_back('\n');
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  } catch (const examples::usage_error& e) {
    std::fprintf(stderr, "inverted_index: %s\n%s", e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inverted_index: %s\n", e.what());
    return 1;
  }
}
