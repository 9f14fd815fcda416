// The small operators: take, first, show, top_k on pairs and top_k_by, count_distinct_by_key,
// flat_map of an optional, aggregate_by_key in place. Each against a sequential reference.
#include "../support/test_support.hpp"

#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

struct page {
  std::string url;
  double rank;
  std::uint32_t links;
};

std::string shown(const auto& ds, std::size_t n) {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  ds.show(n, f);
  std::string text(static_cast<std::size_t>(std::ftell(f)), '\0');
  std::rewind(f);
  REQUIRE(std::fread(text.data(), 1, text.size(), f) == text.size());
  std::fclose(f);
  return text;
}

}  // namespace

TEST_CASE("take and first return the first items in order, reading no more than needed", "[ops][take]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE_COPY(from_range(test::sizes()));
  std::vector<std::uint64_t> items(n);
  for (std::size_t i = 0; i < n; ++i) items[i] = i * 3 + 1;
  dataflow::context ctx(threads);
  auto ds = ctx.from(items).filter([](std::uint64_t x) { return x % 2 == 1; });
  std::vector<std::uint64_t> odd;
  for (auto x : items) {
    if (x % 2 == 1) odd.push_back(x);
  }
  for (std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{5}, n / 2 + 1, n + 3}) {
    CAPTURE(n, k);
    std::vector<std::uint64_t> want(odd.begin(), odd.begin() + static_cast<std::ptrdiff_t>(std::min(k, odd.size())));
    CHECK(ds.take(k) == want);
  }
  CHECK(ds.first() == (odd.empty() ? std::nullopt : std::optional<std::uint64_t>(odd.front())));

  // take(5) of a many-chunk file starts only the first partitions.
  if (n == 65537) {
    test::temp_dir dir;
    std::string text;
    for (std::size_t i = 0; i < 400000; ++i) text += "line " + std::to_string(i) + "\n";
    test::write_file(dir.file("big.txt"), text);
    ctx.on_recompute(dataflow::recompute_policy::allow);  // take, then first, read the file again
    auto lines = ctx.read_lines(dir.file("big.txt"), {.chunk_bytes = 64 << 10});
    const auto got = lines.take(5);
    REQUIRE(got.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) CHECK(got[i] == "line " + std::to_string(i));
    // One thread reads partitions strictly in order: the first one has the five lines. (With
    // more, partitions started while the first still runs are finished, however many.)
    const auto& stage = ctx.last_run().stages.back();
    if (threads == 1) CHECK(stage.items_in < 400000 / 20);
    CHECK(lines.first() == std::optional<std::string>("line 0"));
  }
}

TEST_CASE("show prints a table with a column per member", "[ops][show]") {
  dataflow::context ctx(2);
  std::vector<page> pages{{"/a", 0.5, 3}, {"/index.html", 12.25, 10}, {"/b", 1, 0}};
  const std::string t = shown(ctx.from(pages), 2);
  CHECK(t ==
        "url         | rank  | links\n"
        "------------+-------+------\n"
        "/a          |   0.5 |     3\n"
        "/index.html | 12.25 |    10\n"
        "(the first 2 rows)\n");
  CHECK(shown(ctx.from(pages), 3).find("(the first") == std::string::npos);
  std::vector<std::pair<std::string, std::optional<int>>> pairs{{"tab\there", 1}, {"none", std::nullopt}};
  CHECK(shown(ctx.from(pairs), 20) ==
        "key      | value\n"
        "---------+------\n"
        "tab here |     1\n"
        "none     |      \n");
  CHECK(shown(ctx.from(std::vector<int>{}), 5) == "value\n-----\n");
  CHECK(shown(ctx.from(std::vector{std::string(100, 'x')}), 5) == "value\n" + std::string(40, '-') + "\n" + std::string(38, 'x') + "..\n");
}

TEST_CASE("top_k on pairs ranks by value; top_k_by ranks by a key function", "[ops][top_k]") {
  const std::size_t threads = DATAFLOW_THREADS();
  std::mt19937_64 rng(threads);
  const auto keys = test::zipf_keys(20011, 3000, 9);
  std::map<std::uint64_t, std::uint64_t> counts;
  for (auto k : keys) ++counts[k];
  dataflow::context ctx(threads);
  auto ds = ctx.from(keys).map([](std::uint64_t k) { return std::pair(k, std::uint64_t{1}); }).reduce_by_key(std::plus<>{}).cache();

  std::vector<std::pair<std::uint64_t, std::uint64_t>> want(counts.begin(), counts.end());
  std::stable_sort(want.begin(), want.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{10}, want.size() + 1}) {
    auto w = want;
    w.resize(std::min(k, w.size()));
    CHECK(ds.top_k(k) == w);  // largest counts, ties by smaller key: one answer at any thread count
  }
  std::vector<page> pages;
  for (int i = 0; i < 1000; ++i) pages.push_back({"/" + std::to_string(i), static_cast<double>(rng() % 100000), 0});
  auto by_rank = pages;
  std::sort(by_rank.begin(), by_rank.end(), [](const page& a, const page& b) { return a.rank > b.rank; });
  const auto top = ctx.from(pages).top_k_by(7, &page::rank);
  REQUIRE(top.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) CHECK(top[i].rank == by_rank[i].rank);
  CHECK(ctx.from(pages).top_k_by(3, [](const page& p) { return -p.rank; })[0].rank == by_rank.back().rank);
}

TEST_CASE("count_distinct_by_key counts each key's distinct values", "[ops][count_distinct_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE_COPY(from_range(test::sizes()));
  std::mt19937_64 rng(n);
  std::vector<std::pair<std::string, std::uint32_t>> visits;
  std::map<std::string, std::set<std::uint32_t>> want;
  for (std::size_t i = 0; i < n; ++i) {
    std::string user = "u" + std::to_string(rng() % 4 == 0 ? 0 : rng() % 300);  // one hot key
    const auto item = static_cast<std::uint32_t>(rng() % 50);
    want[user].insert(item);
    visits.emplace_back(std::move(user), item);
  }
  dataflow::context ctx(threads);
  std::map<std::string, std::uint64_t> got;
  for (const auto& [k, c] : ctx.from(visits).count_distinct_by_key().collect()) {
    CHECK(got.count(k) == 0);
    got[k] = c;
  }
  std::map<std::string, std::uint64_t> expected;
  for (const auto& [k, s] : want) expected[k] = s.size();
  CHECK(got == expected);
}

TEST_CASE("flat_map of an optional keeps the values that are there", "[ops][flat_map]") {
  const std::size_t threads = DATAFLOW_THREADS();
  std::vector<std::string> fields{"12", "x", "", "7", "-3", "4.5", "99999999999999999999"};
  std::vector<long> want;
  for (const auto& f : fields) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(f.c_str(), &end, 10);
    if (!f.empty() && *end == '\0' && errno == 0) want.push_back(v);
  }
  dataflow::context ctx(threads);
  auto parsed = ctx.from(fields).flat_map([](const std::string& f) -> std::optional<long> {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(f.c_str(), &end, 10);
    if (f.empty() || *end != '\0' || errno != 0) return std::nullopt;
    return v;
  });
  static_assert(std::is_same_v<decltype(parsed)::value_type, long>);
  CHECK(parsed.collect() == want);
}

TEST_CASE("aggregate_by_key folds and merges in place", "[ops][aggregate_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE_COPY(from_range(test::sizes()));
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{64} << 10);
  const auto keys = test::zipf_keys(n, 500, n + 1);
  std::vector<std::pair<std::uint64_t, std::string>> items;
  std::map<std::uint64_t, std::multiset<std::string>> want;
  for (std::size_t i = 0; i < n; ++i) {
    items.emplace_back(keys[i], "v" + std::to_string(i % 1013));
    want[keys[i]].insert(items.back().second);
  }
  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.memory_budget(budget).spill_directory(dir.path().string());
  using acc = std::vector<std::string>;
  auto got = ctx.from(items)
                 .aggregate_by_key(
                     acc{}, [](acc& a, const std::string& v) { a.push_back(v); },
                     [](acc& a, acc&& b) { a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end())); })
                 .collect();
  std::map<std::uint64_t, std::multiset<std::string>> by_key;
  for (auto& [k, v] : got) {
    CHECK(by_key.count(k) == 0);
    by_key[k] = std::multiset<std::string>(v.begin(), v.end());
  }
  CHECK(by_key == want);

  // reduce_by_key takes the same in-place form, with views kept valid.
  std::vector<std::string> lines;
  for (const auto& [k, v] : items) lines.push_back(std::to_string(k % 17) + " " + v);
  auto sets = ctx.from(lines)
                  .map([](const std::string& l) {
                    const auto sp = l.find(' ');
                    return std::pair(std::string_view(l).substr(0, sp), std::vector<std::string_view>{std::string_view(l).substr(sp + 1)});
                  })
                  .reduce_by_key([](std::vector<std::string_view>& a, const std::vector<std::string_view>& b) { a.insert(a.end(), b.begin(), b.end()); })
                  .collect();
  std::map<std::string, std::multiset<std::string>> want_sets, got_sets;
  for (const auto& [k, v] : items) want_sets[std::to_string(k % 17)].insert(v);
  for (const auto& [k, v] : sets) got_sets[k] = std::multiset<std::string>(v.begin(), v.end());
  CHECK(got_sets == want_sets);
}

TEST_CASE("names: name() on operators and sources, composite operators as themselves", "[ops][stats]") {
  dataflow::context ctx(2);
  std::vector<std::string> words{"a", "b", "a", "c", "b", "a"};
  auto parsed = ctx.from(words).name("words").map([](const std::string& w) { return w + "!"; }).name("shout");
  CHECK(parsed.distinct().count() == 3);
  const auto& stages = ctx.last_run().stages;
  REQUIRE(stages.size() == 2);
  CHECK(stages[0].name.starts_with("words -> shout -> distinct#"));
  CHECK(stages[1].name.starts_with("distinct#"));
  CHECK(stages[1].name.find("keys") == std::string::npos);
  CHECK(stages[1].name.find("map") == std::string::npos);
  CHECK(parsed.explain().find("shout") != std::string::npos);

  auto counted = ctx.from(words).map([](const std::string& w) { return std::pair(w, 1); }).count_by_key();
  CHECK(counted.count() == 3);
  CHECK(ctx.last_run().stages[0].name.find("reduce_by_key") == std::string::npos);
  CHECK(ctx.last_run().stages[0].name.find("count_by_key#") != std::string::npos);

  // A failing named operator is named in the error.
  auto failing = ctx.from(words).map([](const std::string& w) {
    if (w == "c") throw std::runtime_error("no c");
    return w;
  }).name("check words");
  try {
    failing.count();
    FAIL("no error");
  } catch (const dataflow::error& e) {
    CHECK(std::string(e.what()).find("check words") != std::string::npos);
  }

  // The latest runs are kept, oldest first, up to 8.
  for (int i = 0; i < 10; ++i) ctx.from(std::vector<int>(static_cast<std::size_t>(i + 1))).count();
  const auto runs = ctx.recent_runs();
  REQUIRE(runs.size() == 8);
  CHECK(runs.back().stages.at(0).items_in == 10);
  CHECK(runs.front().stages.at(0).items_in == 3);
}
