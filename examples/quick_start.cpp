// quick_start: the ten lines in the README. Counts the words of text files and prints the
// five most frequent.  Usage: quick_start FILE...
#include <dataflow/dataflow.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  dataflow::context ctx;  // every core
  auto top = ctx.read_lines(files)
                 .flat_map(dataflow::split_words)
                 .map([](std::string_view w) { return std::pair{w, 1ull}; })
                 .reduce_by_key(std::plus<>{})
                 .top_k(5, [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [word, n] : top) std::printf("%llu %s\n", n, word.c_str());
}
