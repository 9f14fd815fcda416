// reduce_by_key and reduce_by against a std::map reference, across key distributions.
#include "../support/test_support.hpp"

#include <atomic>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

struct point {
  int x, y;
  bool operator==(const point&) const = default;
  auto operator<=>(const point&) const = default;
};

}  // namespace

// A user key type hashed through std::hash.
template <>
struct std::hash<point> {
  std::size_t operator()(const point& p) const noexcept {
    return std::hash<int>{}(p.x) * 31 + std::hash<int>{}(p.y);
  }
};

namespace {

enum class distribution { uniform_many, few, zipf, one_hot };

std::vector<std::uint64_t> keys_for(distribution d, std::size_t n, std::uint64_t seed) {
  switch (d) {
    case distribution::uniform_many: return test::uniform_keys(n, n / 2 + 1, seed);
    case distribution::few: return test::uniform_keys(n, 3, seed);
    case distribution::zipf: return test::zipf_keys(n, n / 4 + 1, seed);
    case distribution::one_hot: {  // 90% of the items share key 42, the rest are distinct
      std::vector<std::uint64_t> keys(n);
      for (std::size_t i = 0; i < n; ++i) keys[i] = i % 10 == 0 ? i + 100 + seed % 2 : 42;
      return keys;
    }
  }
  return {};
}

}  // namespace

TEST_CASE("reduce_by_key sums values per key like a sequential map", "[ops][reduce_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  const auto dist = GENERATE(distribution::uniform_many, distribution::few, distribution::zipf,
                             distribution::one_hot);
  const std::size_t partitions = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{7});
  dataflow::context ctx(threads);

  auto keys = keys_for(dist, n, n + threads);
  std::vector<std::pair<std::uint64_t, std::int64_t>> input(n);
  for (std::size_t i = 0; i < n; ++i) input[i] = {keys[i], static_cast<std::int64_t>(i % 97) - 40};

  std::map<std::uint64_t, std::int64_t> want;
  for (const auto& [k, v] : input) want[k] += v;

  auto got = ctx.from(input).reduce_by_key(std::plus<>{}, {.partitions = partitions}).collect();
  CHECK(test::sorted(got) == std::vector<std::pair<std::uint64_t, std::int64_t>>(want.begin(), want.end()));
}

TEST_CASE("reduce_by_key keeps string keys valid past the reused read buffer", "[ops][reduce_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  test::temp_dir dir;
  std::mt19937_64 rng(7);
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 500; ++i) vocabulary.push_back(test::random_word(rng, 40));
  std::string text;
  std::map<std::string, std::uint64_t> want;
  for (int line = 0; line < 3000; ++line) {
    for (int w = 0; w < 7; ++w) {
      const auto& word = vocabulary[test::zipf_keys(1, vocabulary.size(), rng())[0]];
      text += word + (w == 6 ? "\n" : " ");
      ++want[word];
    }
  }
  test::write_file(dir.file("text.txt"), text);
  dataflow::context ctx(threads);
  auto got = ctx.read_lines(dir.file("text.txt"), {.chunk_bytes = 4096})
                 .flat_map(dataflow::split_words)
                 .map([](std::string_view w) { return std::pair{w, std::uint64_t{1}}; })
                 .reduce_by_key(std::plus<>{})
                 .collect();
  CHECK(test::sorted(got) == std::vector<std::pair<std::string, std::uint64_t>>(want.begin(), want.end()));
}

TEST_CASE("reduce_by_key takes tuple keys, user keys and non-trivial values", "[ops][reduce_by_key]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  const std::size_t n = 5000;

  SECTION("tuple keys, string values concatenated in some order") {
    std::vector<std::pair<std::tuple<int, std::string>, std::string>> input;
    std::map<std::tuple<int, std::string>, std::size_t> want_len;
    for (std::size_t i = 0; i < n; ++i) {
      auto key = std::tuple{static_cast<int>(i % 13), std::string(i % 3, 'k')};
      input.push_back({key, std::string(i % 5, 'v')});
      want_len[key] += i % 5;
    }
    auto got = ctx.from(input).reduce_by_key([](const std::string& a, const std::string& b) { return a + b; }).collect();
    REQUIRE(got.size() == want_len.size());
    for (const auto& [k, v] : got) CHECK(v.size() == want_len.at(k));
  }
  SECTION("a user key type with std::hash") {
    std::vector<std::pair<point, int>> input;
    std::map<point, int> want;
    for (std::size_t i = 0; i < n; ++i) {
      point p{static_cast<int>(i % 17), static_cast<int>(i % 11)};
      input.push_back({p, 1});
      ++want[p];
    }
    auto got = ctx.from(input).reduce_by_key(std::plus<>{}).collect();
    CHECK(test::sorted(got) == std::vector<std::pair<point, int>>(want.begin(), want.end()));
  }
}

TEST_CASE("reduce_by merges whole items by a key function", "[ops][reduce_by]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  dataflow::context ctx(threads);
  struct sale {
    std::string region;
    int amount;
    int orders;
    void encode(dataflow::byte_writer& w) const {
      dataflow::encode(w, region);
      dataflow::encode(w, std::pair{amount, orders});
    }
    static sale decode(dataflow::byte_reader& r) {
      auto region = dataflow::decode<std::string>(r);
      auto [amount, orders] = dataflow::decode<std::pair<int, int>>(r);
      return {std::move(region), amount, orders};
    }
  };
  std::mt19937_64 rng(n);
  std::vector<sale> input(n);
  std::map<std::string, std::pair<int, int>> want;
  for (auto& s : input) {
    s = {"region-" + std::to_string(rng() % 23), static_cast<int>(rng() % 100), 1};
    want[s.region].first += s.amount;
    want[s.region].second += 1;
  }
  auto got = ctx.from(input)
                 .reduce_by([](const sale& s) -> const std::string& { return s.region; },
                            [](const sale& a, const sale& b) {
                              return sale{a.region, a.amount + b.amount, a.orders + b.orders};
                            })
                 .collect();
  REQUIRE(got.size() == want.size());
  for (const auto& s : got) {
    CHECK(want.at(s.region) == std::pair{s.amount, s.orders});
  }
}

TEST_CASE("two shuffles in a row", "[ops][reduce_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  auto keys = test::zipf_keys(20000, 3000, 3);
  // Count per key, then count how many keys have each count.
  auto got = ctx.from(keys)
                 .map([](std::uint64_t k) { return std::pair{k, 1}; })
                 .reduce_by_key(std::plus<>{})
                 .map([](const std::pair<std::uint64_t, int>& p) { return std::pair{p.second, 1}; })
                 .reduce_by_key(std::plus<>{})
                 .collect();
  std::map<std::uint64_t, int> per_key;
  for (auto k : keys) ++per_key[k];
  std::map<int, int> want;
  for (const auto& [k, c] : per_key) ++want[c];
  CHECK(test::sorted(got) == std::vector<std::pair<int, int>>(want.begin(), want.end()));
}

TEST_CASE("reduce_by_key keys that outgrow one small table part way through", "[ops][reduce_by_key]") {
  using namespace dataflow::literals;
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{4_MiB});
  test::temp_dir dir;
  dataflow::context ctx(threads);
  if (budget) ctx.memory_budget(budget).spill_directory(dir.path().string());
  // A few hot keys, then a run of distinct ones (some too long to sit in a slot), then the few
  // again: each thread starts with one table and splits it by partition part way through.
  std::vector<std::pair<std::string, std::int64_t>> input;
  std::map<std::string, std::int64_t> want;
  for (std::size_t i = 0; i < 150001; ++i) {
    std::string k = i < 60000 || i >= 110000 ? "hot" + std::to_string(i % 5)
                    : i % 3 ? "k" + std::to_string(i)
                            : "a key too long to keep inline in a slot " + std::to_string(i);
    const auto v = static_cast<std::int64_t>(i % 11) - 5;
    want[k] += v;
    input.emplace_back(std::move(k), v);
  }
  for (int round = 0; round < 2; ++round) {  // the tables start over on the next run
    auto got = ctx.from(input)
                   .map([](const auto& p) { return std::pair{std::string_view(p.first), p.second}; })
                   .reduce_by_key(std::plus<>{})
                   .collect();
    CHECK(got.size() == want.size());
    CHECK(std::map<std::string, std::int64_t>(got.begin(), got.end()) == want);
  }
  CHECK(test::nothing_left_in(dir));
}

TEST_CASE("reduce_by_key over a few keys fails cleanly and runs again", "[ops][reduce_by_key][errors]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  std::vector<std::pair<std::uint64_t, std::int64_t>> input(100003);
  std::map<std::uint64_t, std::int64_t> want;
  for (std::size_t i = 0; i < input.size(); ++i) {
    input[i] = {i % 4, static_cast<std::int64_t>(i)};
    want[i % 4] += static_cast<std::int64_t>(i);
  }
  std::atomic<bool> fail{true};
  auto sums = ctx.from(input).reduce_by_key([&](std::int64_t a, std::int64_t b) {
    if (fail.load() && a + b > 3'000'000) throw std::runtime_error("sum too big");
    return a + b;
  });
  CHECK_THROWS_WITH(sums.collect(), Catch::Contains("sum too big") && Catch::Contains("reduce_by_key"));
  fail = false;
  auto got = sums.collect();
  CHECK(test::sorted(got) == std::vector<std::pair<std::uint64_t, std::int64_t>>(want.begin(), want.end()));
}
