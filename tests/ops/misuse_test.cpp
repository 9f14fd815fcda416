// Operators under misuse: a comparator that is no strict weak order, keys whose hashes all
// collide, too many threads, a stage that runs out of memory. Each ends with a result or a
// clear error: never a crash, a hang or a recursion per key.
#include "../support/test_support.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

using namespace dataflow::literals;

namespace {

struct colliding_key {
  std::uint32_t id;
  bool operator==(const colliding_key&) const = default;
};

}  // namespace

template <>
struct dataflow::hash<colliding_key> {
  std::uint64_t operator()(const colliding_key&) const noexcept { return 42; }  // all collide
};

TEST_CASE("sort terminates with a permutation whatever the comparator", "[sort][misuse]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{32_KiB});
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{16},
                                 std::size_t{17}, std::size_t{100}, std::size_t{4099}, std::size_t{70001});
  test::temp_dir spill;
  dataflow::context ctx(threads);
  ctx.memory_budget(budget).spill_directory(spill.path().string());
  std::mt19937_64 rng(n * 31 + threads);
  std::vector<std::uint32_t> input(n);
  for (auto& x : input) x = static_cast<std::uint32_t>(rng() % (n / 3 + 1));  // many duplicates
  const auto want = test::sorted(input);
  INFO("n = " << n << ", threads = " << threads << ", budget = " << budget);

  // `<=` is not strict, yet everything it says is consistent: the result is sorted.
  CHECK(ctx.from(input).sort([](std::uint32_t a, std::uint32_t b) { return a <= b; }).collect() == want);
  CHECK(test::sorted(ctx.from(input).sort([](std::uint32_t, std::uint32_t) { return true; }).collect()) == want);
  CHECK(test::sorted(ctx.from(input).sort([](std::uint32_t, std::uint32_t) { return false; }).collect()) == want);
  auto coin = [](std::uint32_t, std::uint32_t) {
    thread_local std::mt19937 r(7);
    return (r() & 1) != 0;
  };
  CHECK(test::sorted(ctx.from(input).sort(coin).collect()) == want);
  // top_k sorts the candidates of every thread with the user's comparator too.
  const auto top = ctx.from(input).top_k(40, [](std::uint32_t a, std::uint32_t b) { return a >= b; });
  CHECK(top.size() == std::min<std::size_t>(40, n));
  CHECK(test::nothing_left_in(spill));
}

TEST_CASE("a throwing comparator under a budget is reported while sorting a run, not at an item",
          "[sort][misuse]") {
  test::temp_dir spill;
  dataflow::context ctx(2);
  ctx.memory_budget(32_KiB).spill_directory(spill.path().string());
  std::vector<std::uint64_t> input(100000);
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = (i * 7919) % 100000;
  auto run = [&] {
    ctx.from(input)
        .sort([](std::uint64_t a, std::uint64_t b) {
          if (a == 4242 || b == 4242) throw std::runtime_error("cannot compare 4242");
          return a < b;
        })
        .count();
  };
  CHECK_THROWS_WITH(run(), Catch::Contains("sort#") && Catch::Contains("cannot compare 4242") &&
                               Catch::Contains("sorting a run of"));
  CHECK(test::nothing_left_in(spill));
}

TEST_CASE("for_each_group over keys whose hashes all collide visits each key once, in linear I/O",
          "[group_by_key][misuse][spill]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  const std::size_t keys = GENERATE(std::size_t{1}, std::size_t{3001});
  test::temp_dir spill;
  dataflow::context ctx(threads);
  ctx.memory_budget(32_KiB).spill_directory(spill.path().string());
  std::vector<std::pair<colliding_key, std::uint64_t>> input;
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> want;  // count, sum
  std::mt19937_64 rng(keys);
  for (std::size_t i = 0; i < 60000; ++i) {
    // One key takes a third of the items, more than a thread's share: it streams.
    const auto k = static_cast<std::uint32_t>(i % 3 == 0 ? 0 : rng() % keys);
    input.push_back({{k}, i});
    ++want[k].first;
    want[k].second += i;
  }
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> got;
  std::mutex m;
  const auto before = dataflow::detail::spilled_bytes_total.load();
  ctx.from(input).for_each_group([&](const colliding_key& k, dataflow::group_values<std::uint64_t>& values) {
    std::uint64_t count = 0, sum = 0;
    for (auto v : values) ++count, sum += v;
    std::lock_guard lock(m);
    CHECK(got.count(k.id) == 0);  // each key once
    got[k.id] = {count, sum};
  });
  CHECK(got == want);
  // Spilled: the input stage, the split into one collided partition, and the bins: a few times
  // the input, whatever the number of keys (it was once per key before).
  const auto spilled = dataflow::detail::spilled_bytes_total.load() - before;
  CHECK(spilled < 12 * input.size() * sizeof(input[0]));
  CHECK(test::nothing_left_in(spill));
}

TEST_CASE("more threads than the system allows is a clear error", "[context][misuse]") {
  const std::size_t limit = dataflow::detail::scheduler::max_threads();
  CHECK_THROWS_AS(dataflow::context(limit + 1), dataflow::usage_error);
  CHECK_THROWS_WITH(dataflow::context(std::size_t{1} << 40),
                    Catch::Contains("1099511627776 threads asked for") && Catch::Contains("at most"));
  dataflow::context ctx(2);
  CHECK_THROWS_AS(ctx.threads(std::size_t(-1)), dataflow::usage_error);
  CHECK(ctx.threads() == 2);  // unchanged
  CHECK(ctx.from(std::vector<int>{1, 2, 3}).count() == 3);
}

TEST_CASE("spilling keeps a few files open, not one per spill", "[spill][misuse]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{8});
  test::temp_dir spill;
  dataflow::context ctx(threads);
  ctx.memory_budget(32_KiB).spill_directory(spill.path().string());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> input(400000);
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = {i * 2654435761u % 300007, i};
  std::atomic<std::size_t> most{0}, seen{0};
  const auto before = dataflow::detail::spill_files_total.load();
  auto sums = ctx.from(input)
                  .reduce_by_key(std::plus<>{})
                  .map([&](const auto& p) {
                    if (seen++ % 4096 == 0) {
                      const std::size_t n = test::open_files_in(spill.path());
                      for (std::size_t m = most; n > m && !most.compare_exchange_weak(m, n);) {
                      }
                    }
                    return p;
                  })
                  .count();
  CHECK(sums == 300007);
  CHECK(dataflow::detail::spill_files_total.load() > before);
  // Open at once: one file per thread for all its spills, and on each thread the 16-way splits
  // of a partition still too big (two levels here); not one per spill of the input stage.
  INFO("most files open at once: " << most.load());
  CHECK(most.load() <= threads * (1 + 2 * dataflow::detail::spill_policy::fan_out));
  CHECK(test::nothing_left_in(spill));
}
