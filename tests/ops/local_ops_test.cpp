// map, filter and flat_map against a sequential loop, over in-memory sources.
#include "../support/test_support.hpp"

#include <list>
#include <string>
#include <vector>

TEST_CASE("map, filter and flat_map chains match a sequential loop, in order", "[ops][local]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  dataflow::context ctx(threads);

  std::mt19937_64 rng(n * 31 + threads);
  std::vector<std::int64_t> input(n);
  for (auto& x : input) x = static_cast<std::int64_t>(rng() % 2001) - 1000;

  auto got = ctx.from(input)
                 .map([](std::int64_t x) { return x * 3 + 1; })
                 .filter([](std::int64_t x) { return x % 5 != 0; })
                 .flat_map([](std::int64_t x) { return std::vector<std::int64_t>(static_cast<std::size_t>(x & 3), x); })
                 .flat_map<std::string>([](std::int64_t x, auto&& emit) {
                   if (x > 0) emit(std::to_string(x));
                   if (x % 7 == 0) emit("seven");
                 })
                 .collect();

  std::vector<std::string> want;
  for (auto x : input) {
    x = x * 3 + 1;
    if (x % 5 == 0) continue;
    for (std::int64_t i = 0; i < (x & 3); ++i) {
      if (x > 0) want.push_back(std::to_string(x));
      if (x % 7 == 0) want.push_back("seven");
    }
  }
  CHECK(got == want);
}

TEST_CASE("flat_map over a lazy range splits words without copies", "[ops][local]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  std::vector<std::string> lines{"", "  ", "one", " two  three\t", "a\nb\rc\vd\fe", "x y z "};
  auto got = ctx.from(lines).flat_map(dataflow::split_words).collect();
  std::vector<std::string> want{"one", "two", "three", "a", "b", "c", "d", "e", "x", "y", "z"};
  CHECK(got == want);
}

TEST_CASE("generate makes fn(i) for every index, in order", "[sources][generate]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  dataflow::context ctx(threads);
  auto got = ctx.generate(n, [](std::size_t i) { return i * i % 1013; }).collect();
  REQUIRE(got.size() == n);
  for (std::size_t i = 0; i < n; ++i) REQUIRE(got[i] == i * i % 1013);
  CHECK(ctx.generate(n, [](std::size_t i) { return i; }).count() == n);
}

TEST_CASE("from reads containers by reference, by move, or by copy", "[sources][range]") {
  dataflow::context ctx(DATAFLOW_THREADS());

  SECTION("an lvalue vector is read when the action runs") {
    std::vector<int> v{1, 2, 3};
    auto ds = ctx.from(v);
    v.push_back(4);
    CHECK(ds.collect() == std::vector<int>{1, 2, 3, 4});
  }
  SECTION("an rvalue vector is moved in") {
    auto ds = ctx.from(std::vector<int>{5, 6});
    CHECK(ds.collect() == std::vector<int>{5, 6});
  }
  SECTION("a list is copied") {
    std::list<std::string> l{"a", "b", "c"};
    auto ds = ctx.from(l);
    l.clear();
    CHECK(ds.collect() == std::vector<std::string>{"a", "b", "c"});
  }
  SECTION("a braced list") { CHECK(ctx.from({3, 1, 2}).collect() == std::vector<int>{3, 1, 2}); }
  SECTION("an iota view") {
    auto ds = ctx.from(std::views::iota(0, 5000));
    auto got = ds.collect();
    REQUIRE(got.size() == 5000);
    CHECK(got.back() == 4999);
  }
}

TEST_CASE("string views from a source survive into collected results", "[ops][local]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  std::vector<std::string> words{"alpha", "beta", "a much longer word than the small string buffer"};
  auto got = ctx.from(words)
                 .map([](const std::string& s) { return std::string_view(s).substr(1); })
                 .collect();
  static_assert(std::is_same_v<decltype(got), std::vector<std::string>>);
  CHECK(got == std::vector<std::string>{"lpha", "eta", " much longer word than the small string buffer"});
}

namespace {
// Returns a pipeline over a span parameter: the span itself is gone when the action runs.
auto squares_of(dataflow::context& ctx, std::span<const int> xs) {
  return ctx.from(xs).map([](int x) { return x * x; });
}
}  // namespace

TEST_CASE("from keeps a copy of a view, not a reference to it", "[sources][range]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  std::vector<int> data{1, 2, 3, 4};
  auto ds = squares_of(ctx, data);
  CHECK(ds.collect() == std::vector<int>{1, 4, 9, 16});
}

TEST_CASE("a failure in a from() pipeline names the item's index", "[sources][range][errors]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  std::vector<int> v(100000);
  for (int i = 0; i < 100000; ++i) v[static_cast<std::size_t>(i)] = i;
  try {
    ctx.from(v).map([](int x) { return x == 77777 ? throw std::runtime_error("bad") : x; }).count();
    FAIL("no exception");
  } catch (const dataflow::stage_error& e) {
    CHECK(e.where() == "index 77777");
  }
}
