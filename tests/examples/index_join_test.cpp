// The inverted_index and join_csv examples against sequential references, in memory and
// under a tiny budget.
#include "../support/test_support.hpp"

#include "inverted_index.hpp"
#include "join_csv.hpp"

#include <map>
#include <set>
#include <sstream>

using namespace dataflow::literals;

TEST_CASE("inverted_index lists the files of every word", "[examples][inverted_index]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{64_KiB});
  test::temp_dir docs;
  test::temp_dir spill;
  std::mt19937_64 rng(threads + budget);
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 3000; ++i) vocabulary.push_back(test::random_word(rng, 8));
  std::map<std::string, std::set<std::uint32_t>> want;
  const std::uint32_t files = 23;
  auto zipf = test::zipf_keys(files * 2000, vocabulary.size(), 5);
  for (std::uint32_t d = 0; d < files; ++d) {
    std::string text;
    for (int i = 0; i < 2000; ++i) {
      const std::string& w = vocabulary[zipf[d * 2000 + static_cast<std::uint32_t>(i)]];
      want[w].insert(d);
      text += w;
      text += i % 9 == 8 ? "\n" : " ";
    }
    if (d == 3) text.clear();  // an empty document
    if (d == 3) for (auto& [w, ds] : want) ds.erase(3);
    test::write_file(docs.file("doc" + std::to_string(100 + d) + ".txt"), text);
  }
  std::erase_if(want, [](const auto& kv) { return kv.second.empty(); });
  dataflow::context ctx(threads);
  if (budget) ctx.memory_budget(budget).spill_directory(spill.path().string());
  auto index = examples::build_index(ctx, docs.path().string());
  REQUIRE(index.files.size() == files);
  CHECK(index.files[0].ends_with("doc100.txt"));
  REQUIRE(index.words.size() == want.size());
  auto it = want.begin();
  for (const auto& [word, ds] : index.words) {
    REQUIRE(word == it->first);  // words in byte order
    REQUIRE(std::vector<std::uint32_t>(it->second.begin(), it->second.end()) == ds);
    ++it;
  }
  CHECK(test::nothing_left_in(spill));
}

TEST_CASE("join_csv joins two CSV files like a nested loop", "[examples][join_csv]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{48_KiB});
  test::temp_dir dir;
  std::mt19937_64 rng(threads);
  std::vector<std::pair<std::string, std::string>> left, right;
  std::string ltext = "id,name\n", rtext = "id,amount,currency\n";
  for (int i = 0; i < 3000; ++i) {
    left.emplace_back("c" + std::to_string(rng() % 2000), test::random_word(rng));
    ltext += left.back().first + "," + left.back().second + "\n";
  }
  for (int i = 0; i < 7001; ++i) {
    right.emplace_back(i % 10 == 0 ? "c7" : "c" + std::to_string(rng() % 4000),
                       std::to_string(rng() % 1000) + ",EUR");
    rtext += right.back().first + "," + right.back().second + "\n";
  }
  test::write_file(dir.file("l.csv"), ltext);
  test::write_file(dir.file("r.csv"), rtext);
  dataflow::context ctx(threads);
  if (budget) ctx.memory_budget(budget);

  for (auto type : {examples::join_type::inner, examples::join_type::left,
                    examples::join_type::right, examples::join_type::full}) {
    const bool keep_left = type == examples::join_type::left || type == examples::join_type::full;
    const bool keep_right = type == examples::join_type::right || type == examples::join_type::full;
    std::vector<std::string> want;
    std::set<std::string> left_keys, right_keys;
    for (const auto& l : left) left_keys.insert(l.first);
    for (const auto& r : right) right_keys.insert(r.first);
    for (const auto& l : left) {
      for (const auto& r : right) {
        if (l.first == r.first) want.push_back(l.first + "," + l.second + "," + r.second);
      }
      if (keep_left && !right_keys.count(l.first)) want.push_back(l.first + "," + l.second + ",");
    }
    if (keep_right) {
      for (const auto& r : right) {
        if (!left_keys.count(r.first)) want.push_back(r.first + ",," + r.second);
      }
    }
    CHECK(examples::join_csv(ctx, dir.file("l.csv"), dir.file("r.csv"), type, true) == test::sorted(want));
  }
  // A line without a separator is an error that names it.
  test::write_file(dir.file("bad.csv"), "id,x\nno separator here\n");
  CHECK_THROWS_WITH(examples::join_csv(ctx, dir.file("bad.csv"), dir.file("r.csv"),
                                       examples::join_type::inner, true),
                    Catch::Contains("no ',' after the first field of line 'no separator here'") &&
                        Catch::Contains("bad.csv:2"));
}
