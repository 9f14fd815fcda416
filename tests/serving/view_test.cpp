// Batch views on disk: lookups, range and prefix scans and the largest values against a sequential
// reference on random keyed results; versions published while readers read; damaged files named.
#include <dataflow/serving.hpp>

#include "../support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

/// Words over `keys` keys, skewed (low numbers are frequent).
std::vector<std::string> random_words(std::mt19937_64& rng, std::size_t n, std::size_t keys) {
  std::vector<std::string> out;
  std::geometric_distribution<std::size_t> skew(0.001);
  for (std::size_t i = 0; i < n; ++i) out.push_back("w" + std::to_string(std::min(skew(rng), keys - 1) * 7919 % keys));
  return out;
}

std::vector<std::pair<std::string, std::uint64_t>> largest(const std::map<std::string, std::uint64_t>& counts,
                                                           std::size_t n) {
  std::vector<std::pair<std::string, std::uint64_t>> all(counts.begin(), counts.end());
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  all.resize(std::min(n, all.size()));
  return all;
}

}  // namespace

TEST_CASE("views: a counted batch result written as a view answers like the counts", "[serving][view]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{256} << 10);
  std::mt19937_64 rng(threads * 31 + budget);
  const std::size_t n = GENERATE(0, 1, 4099, 60000);
  const auto words = random_words(rng, n, 20000);
  std::map<std::string, std::uint64_t> counts;
  for (const auto& w : words) ++counts[w];

  test::temp_dir d;
  dataflow::context ctx(threads);
  ctx.memory_budget(budget);
  dataflow::view_store store(d.file("views"));
  const auto stamp = dataflow::write_view(ctx.from(words).count_by_value(), store,
                                          "word_counts", "test words", 42);
  CHECK(stamp.version == 1);
  auto view = store.open_latest<std::string, std::uint64_t>("word_counts");
  REQUIRE(view);
  CHECK(view->size() == counts.size());
  CHECK(view->stamp().covers == "test words");
  CHECK(view->stamp().cutoff == 42);
  // Every key, and keys that are not there (before, between and after).
  std::size_t wrong = 0;
  for (const auto& [k, c] : counts) wrong += view->get(k) != std::optional<std::uint64_t>(c);
  for (const std::string absent : {"", "a", "w", "w00", "w1x", "zzz"}) wrong += view->get(absent).has_value();
  CHECK(wrong == 0);
  // A range, whole and cut.
  std::vector<std::pair<std::string, std::uint64_t>> all, range, expected_range;
  view->scan("", std::nullopt, [&](const std::string& k, std::uint64_t v) {
    all.emplace_back(k, v);
    return true;
  });
  CHECK(all == std::vector<std::pair<std::string, std::uint64_t>>(counts.begin(), counts.end()));
  view->scan("w2", std::string("w5"), [&](const std::string& k, std::uint64_t v) {
    range.emplace_back(k, v);
    return true;
  });
  for (auto it = counts.lower_bound("w2"); it != counts.lower_bound("w5"); ++it) expected_range.push_back(*it);
  CHECK(range == expected_range);
  // A prefix.
  std::vector<std::pair<std::string, std::uint64_t>> prefixed, expected_prefixed;
  view->prefix("w19", [&](const std::string& k, std::uint64_t v) {
    prefixed.emplace_back(k, v);
    return true;
  });
  for (const auto& [k, c] : counts) {
    if (k.rfind("w19", 0) == 0) expected_prefixed.emplace_back(k, c);
  }
  CHECK(prefixed == expected_prefixed);
  // The largest values: equal counts rank by key.
  CHECK(view->top(10) == largest(counts, 10));
  CHECK(view->top(100000) == largest(counts, 1024));
}

TEST_CASE("views: a new version is published whole while readers read the old one", "[serving][view]") {
  test::temp_dir d;
  dataflow::view_store store(d.file("views"), 2);
  auto publish = [&](std::uint64_t base) {
    return store.publish<std::uint64_t, std::uint64_t>("squares", "base " + std::to_string(base), base,
                                                        [&](dataflow::view_writer<std::uint64_t, std::uint64_t>& w) {
                                                          for (std::uint64_t k = 0; k < 20000; ++k) w.add(k, base + k * k);
                                                        });
  };
  publish(0);
  auto first = store.open_latest<std::uint64_t, std::uint64_t>("squares");
  std::atomic<bool> done{false};
  std::atomic<std::size_t> torn{0}, reads{0};
  std::thread reader([&] {
    std::mt19937_64 rng(1);
    while (!done.load()) {
      // Each opened version is whole: every value matches the same base.
      auto v = store.open_latest<std::uint64_t, std::uint64_t>("squares");
      const std::uint64_t base = v->stamp().cutoff;
      for (int i = 0; i < 50; ++i) {
        const std::uint64_t k = rng() % 20000;
        torn += v->get(k) != std::optional<std::uint64_t>(base + k * k);
      }
      ++reads;
    }
  });
  for (std::uint64_t base = 1; base <= 20; ++base) publish(base * 1000000);
  while (reads.load() < 3) std::this_thread::yield();
  done = true;
  reader.join();
  CHECK(torn.load() == 0);
  CHECK(store.versions("squares").size() == 2);  // older versions removed
  CHECK(store.versions("squares").back() == 21);
  // The first reader still reads its version, removed from the directory meanwhile.
  CHECK(first->get(123) == std::optional<std::uint64_t>(123 * 123));
  CHECK_FALSE(std::filesystem::exists(store.path_of("squares", 1)));
  // Nothing but the versions and the lock is left.
  std::size_t others = 0;
  for (const auto& e : std::filesystem::directory_iterator(d.file("views") + "/squares")) {
    const auto name = e.path().filename().string();
    others += name != "lock" && name.rfind("v-", 0) != 0;
  }
  CHECK(others == 0);
}

TEST_CASE("views: a damaged view file is an error naming it, and the previous version still reads", "[serving][view]") {
  test::temp_dir d;
  dataflow::view_store store(d.file("views"), 3);
  auto publish = [&](std::uint64_t base) {
    store.publish<std::string, std::uint64_t>("v", "", base, [&](dataflow::view_writer<std::string, std::uint64_t>& w) {
      for (int k = 1000; k < 9000; ++k) w.add("key" + std::to_string(k), base + static_cast<std::uint64_t>(k));
    });
  };
  publish(0);
  auto old = store.open_latest<std::string, std::uint64_t>("v");
  publish(1);
  const std::string path = store.path_of("v", 2);
  SECTION("a corrupted block") {
    {
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(40);
      f.put('\x7f');
    }
    auto v = store.open_latest<std::string, std::uint64_t>("v");
    try {
      (void)v->get("key1000");
      FAIL("a corrupted block was read");
    } catch (const dataflow::io_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("checksum"));
    }
  }
  SECTION("a truncated file") {
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
    try {
      (void)store.open_latest<std::string, std::uint64_t>("v");
      FAIL("a truncated view was opened");
    } catch (const dataflow::io_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("truncated"));
    }
  }
  CHECK(old->get("key1000") == std::optional<std::uint64_t>(1000));
}

TEST_CASE("views: keys out of order or twice are refused", "[serving][view]") {
  test::temp_dir d;
  dataflow::view_store store(d.file("views"));
  CHECK_THROWS_AS((store.publish<int, int>("v", "", 0, [](dataflow::view_writer<int, int>& w) {
                    w.add(2, 0);
                    w.add(1, 0);
                  })),
                  dataflow::usage_error);
  dataflow::context ctx(2);
  std::vector<std::pair<int, int>> twice{{1, 1}, {2, 2}, {1, 3}};
  CHECK_THROWS_WITH(dataflow::write_view(ctx.from(twice), store, "pairs", ""), Catch::Contains("more than once"));
  CHECK(store.versions("v").empty());
  CHECK(store.versions("pairs").empty());
  auto bad_name = [&] { dataflow::view_store(d.file("views")).publish<int, int>("../x", "", 0, [](auto&) {}); };
  CHECK_THROWS_AS(bad_name(), dataflow::usage_error);
}
