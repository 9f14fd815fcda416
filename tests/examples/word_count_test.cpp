// The word_count tool's core against a sequential count.
#include "../support/test_support.hpp"

#include "word_count.hpp"

#include <map>
#include <string>
#include <vector>

TEST_CASE("count_words ranks words like a sequential count", "[examples][word_count]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t top = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{100000});
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{48} << 10);  // 48 KiB spills
  test::temp_dir dir;
  std::mt19937_64 rng(top + threads);
  std::map<std::string, std::uint64_t> counts;
  std::vector<std::string> files;
  const char* seps[] = {" ", "  ", "\t", " \r", "\v", "\f"};
  for (int f = 0; f < 3; ++f) {
    std::string text;
    for (int line = 0; line < 2000; ++line) {
      int words = static_cast<int>(rng() % 9);
      for (int w = 0; w < words; ++w) {
        auto word = "w" + std::to_string(test::zipf_keys(1, 3000, rng())[0]);
        if (rng() % 50 == 0) word += "\xc3\xa9";  // bytes above 127 are not whitespace
        ++counts[word];
        text += word + seps[rng() % 6];
      }
      text += "\n";
    }
    files.push_back(dir.file("t" + std::to_string(f) + ".txt"));
    test::write_file(files.back(), text);
  }
  examples::word_counts want(counts.begin(), counts.end());
  std::sort(want.begin(), want.end(), examples::by_rank{});
  if (top > 0 && top < want.size()) want.resize(top);

  dataflow::context ctx(threads);
  ctx.memory_budget(budget);
  CHECK(examples::count_words(ctx, files, top, {.chunk_bytes = 5000}) == want);
  CHECK(examples::count_words(ctx, {dir.file("*.txt")}, top) == want);
}
