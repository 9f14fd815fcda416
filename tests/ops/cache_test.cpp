// cache() keeps a dataset across actions; without it, a second action recomputes and says so.
#include "../support/test_support.hpp"

#include <atomic>
#include <fstream>
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

namespace {

/// This process's resident anonymous memory in KiB (the heap, not the page cache).
std::size_t rss_anon_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string key; status >> key;) {
    if (key == "RssAnon:") {
      std::size_t kib = 0;
      status >> kib;
      return kib;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("a cache that spills under a budget keeps no memory for the partitions it spilled",
          "[ops][cache][spill]") {
  // 48 MB of lines in about 184 partitions of 256 KiB, cached under an 8 MiB budget: the caches
  // hold 2 MiB in memory and the rest goes to disk. A partition that spilled once kept the
  // blocks of its string bytes, uncharged: 38 MiB all told here, 400 MB for a 2 GB sort.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  SUCCEED("a sanitizer's quarantine and shadow memory make resident memory no measure here");
  return;
#endif
  test::temp_dir dir;
  const std::size_t lines = 480000;
  {
    std::string text;
    text.reserve(lines * 100);
    for (std::size_t i = 0; i < lines; ++i) {
      std::string line = std::to_string(i * 7919 % 1000003);
      line.resize(99, static_cast<char>('a' + i % 26));
      text += line;
      text += '\n';
    }
    test::write_file(dir.file("lines.txt"), text);
  }
  dataflow::context ctx(DATAFLOW_THREADS());
  ctx.memory_budget(std::size_t{8} << 20).spill_directory(dir.path().string());
  auto cached = ctx.read_lines(dir.file("lines.txt"), {.chunk_bytes = 256 << 10}).cache();
  const std::size_t before = rss_anon_kib();
  REQUIRE(before > 0);  // the kernel reports it
  CHECK(cached.count() == lines);
  const std::size_t after = rss_anon_kib();
  CHECK(ctx.last_run().spilled_bytes > (std::size_t{32} << 20));
  CHECK(after < before + 24 * 1024);  // KiB: within three times the budget
  // And what was kept reads back whole: every line's number once, each line intact.
  const auto numbers = cached.map([](std::string_view line) -> std::uint64_t {
    const std::size_t digits = line.find_first_not_of("0123456789");
    const bool intact = line.size() == 99 && digits != std::string_view::npos &&
                        line.find_first_not_of(line[digits], digits) == std::string_view::npos;
    return intact ? std::stoull(std::string(line.substr(0, digits))) : std::uint64_t{1} << 40;
  });
  std::uint64_t want = 0;
  for (std::size_t i = 0; i < lines; ++i) want += i * 7919 % 1000003;
  CHECK(numbers.fold(std::uint64_t{0}, std::plus<>{}, std::plus<>{}) == want);
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
