// partition_by: every item lands in the partition its function names.
#include "../support/test_support.hpp"

#include <vector>

TEST_CASE("partition_by puts each item in fn(item) % partitions", "[ops][partition_by]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  const std::size_t parts = GENERATE(std::size_t{1}, std::size_t{3}, std::size_t{16});
  dataflow::context ctx(threads);

  auto input = test::zipf_keys(n, 100, n + parts);
  auto got = ctx.from(input).partition_by([](std::uint64_t k) { return k * 7; }, parts).collect_partitions();
  REQUIRE(got.size() == parts);
  std::vector<std::uint64_t> all;
  for (std::size_t p = 0; p < parts; ++p) {
    for (auto k : got[p]) {
      REQUIRE(k * 7 % parts == p);
      all.push_back(k);
    }
  }
  CHECK(test::sorted(all) == test::sorted(input));
}

TEST_CASE("partition_by rejects zero partitions", "[ops][partition_by]") {
  dataflow::context ctx(1);
  CHECK_THROWS_AS(ctx.from({1, 2}).partition_by([](int x) { return x; }, 0), dataflow::usage_error);
}
