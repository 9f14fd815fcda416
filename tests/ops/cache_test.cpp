// cache() keeps a dataset across actions; without it, a second action recomputes and says so.
#include "../support/test_support.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

TEST_CASE("a cached dataset is computed once for several actions", "[ops][cache]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  std::vector<std::string> warnings;
  ctx.on_warning([&](const std::string& w) { warnings.push_back(w); });

  std::atomic<int> calls{0};
  std::vector<int> input(10000);
  for (int i = 0; i < 10000; ++i) input[static_cast<std::size_t>(i)] = i;
  auto squares = ctx.from(input)
                     .map([&calls](int x) {
                       ++calls;
                       return std::pair{x % 10, std::to_string(x)};
                     })
                     .cache();
  CHECK(calls == 0);  // lazy
  CHECK(squares.count() == 10000);
  CHECK(calls == 10000);
  auto all = squares.collect();
  CHECK(calls == 10000);  // read from the cache
  REQUIRE(all.size() == 10000);
  for (std::size_t i = 0; i < all.size(); ++i) {
    REQUIRE(all[i] == std::pair{static_cast<int>(i % 10), std::to_string(i)});  // order kept
  }
  auto per_key = squares.map([](const auto& p) { return std::pair{p.first, p.second.size()}; })
                     .reduce_by_key(std::plus<>{})
                     .collect();
  CHECK(per_key.size() == 10);
  CHECK(calls == 10000);
  CHECK(warnings.empty());
  CHECK(squares.explain().find("[cached]") != std::string::npos);
}

TEST_CASE("caching string views copies their bytes", "[ops][cache]") {
  test::temp_dir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + "\n";
  test::write_file(dir.file("a.txt"), text);
  dataflow::context ctx(DATAFLOW_THREADS());
  auto lines = ctx.read_lines(dir.file("a.txt"), {.chunk_bytes = 3000}).cache();
  CHECK(lines.count() == 20000);
  auto got = lines.collect();
  REQUIRE(got.size() == 20000);
  for (int i = 0; i < 20000; ++i) REQUIRE(got[static_cast<std::size_t>(i)] == "line " + std::to_string(i));
}

TEST_CASE("recomputing without cache follows the context's policy", "[ops][cache]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  std::vector<std::string> warnings;
  ctx.on_warning([&](const std::string& w) { warnings.push_back(w); });
  std::atomic<int> calls{0};
  auto sums = ctx.generate(1000, [&calls](std::size_t i) {
                   ++calls;
                   return std::pair{i % 4, i};
                 })
                  .reduce_by_key(std::plus<>{});

  SECTION("warn: computes again and says so once") {
    CHECK(sums.count() == 4);
    CHECK(warnings.empty());
    CHECK(sums.count() == 4);
    CHECK(sums.collect().size() == 4);
    CHECK(calls == 3000);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("reduce_by_key") != std::string::npos);
    CHECK(warnings[0].find(".cache()") != std::string::npos);
  }
  SECTION("allow: computes again silently") {
    ctx.on_recompute(dataflow::recompute_policy::allow);
    CHECK(sums.count() == 4);
    CHECK(sums.count() == 4);
    CHECK(calls == 2000);
    CHECK(warnings.empty());
  }
  SECTION("error: refuses") {
    ctx.on_recompute(dataflow::recompute_policy::error);
    CHECK(sums.count() == 4);
    CHECK_THROWS_AS(sums.count(), dataflow::usage_error);
  }
  SECTION("a run that failed inside a node computed nothing to warn about") {
    ctx.on_recompute(dataflow::recompute_policy::error);
    std::atomic<bool> fail{true};
    auto checked = ctx.generate(1000, [&fail](std::size_t i) {
                         if (fail && i == 999) throw std::runtime_error("bad item");
                         return std::pair{i % 4, i};
                       })
                       .reduce_by_key(std::plus<>{});
    CHECK_THROWS_WITH(checked.count(), Catch::Contains("bad item"));
    fail = false;
    CHECK(checked.count() == 4);  // the first complete computation
    CHECK_THROWS_AS(checked.count(), dataflow::usage_error);
  }
  SECTION("in-memory sources are read again without a warning") {
    std::vector<int> v{1, 2, 3};
    auto ds = ctx.from(v);
    CHECK(ds.count() == 3);
    CHECK(ds.count() == 3);
    CHECK(warnings.empty());
  }
}
