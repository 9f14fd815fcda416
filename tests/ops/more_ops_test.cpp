// The keyed helpers (count_by_key, count_by_value, distinct, aggregate_by_key, keys, values,
// map_values), concat, the ordered operators (zip_with_index, sample, scan, sliding,
// tumbling) and min / max / bottom_k, against sequential references, in memory and spilling.
#include "../support/test_support.hpp"

#include <map>
#include <numeric>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

using namespace dataflow::literals;

namespace {

struct setup {
  setup(std::size_t threads, std::size_t budget) : ctx(threads) {
    if (budget) ctx.memory_budget(budget).spill_directory(dir.path().string());
  }
  test::temp_dir dir;
  dataflow::context ctx;
};

std::vector<std::pair<std::string, std::int64_t>> pairs(std::size_t n, std::uint64_t seed) {
  auto keys = test::zipf_keys(n, n / 5 + 1, seed);
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.emplace_back("w" + std::to_string(keys[i]), static_cast<std::int64_t>(i % 17) - 8);
  }
  return out;
}

}  // namespace

TEST_CASE("count_by_key, count_by_value, distinct and aggregate_by_key", "[ops][keyed]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{48_KiB});
  for (std::size_t n : test::sizes()) {
    CAPTURE(threads, budget, n);
    setup s(threads, budget);
    auto input = pairs(n, n + 3);
    auto ds = s.ctx.from(input);

    std::map<std::string, std::uint64_t> counts;
    std::map<std::pair<std::string, std::int64_t>, std::uint64_t> value_counts;
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> min_max;  // per key
    for (const auto& p : input) {
      ++counts[p.first];
      ++value_counts[p];
      auto [it, made] = min_max.try_emplace(p.first, p.second, p.second);
      it->second.first = std::min(it->second.first, p.second);
      it->second.second = std::max(it->second.second, p.second);
    }
    auto by_key = ds.count_by_key().collect();
    CHECK(std::map<std::string, std::uint64_t>(by_key.begin(), by_key.end()) == counts);
    CHECK(by_key.size() == counts.size());

    auto by_value = ds.count_by_value().collect();
    CHECK(std::map<std::pair<std::string, std::int64_t>, std::uint64_t>(by_value.begin(), by_value.end()) ==
          value_counts);
    CHECK(by_value.size() == value_counts.size());

    auto distinct_keys = ds.keys().distinct().collect();
    std::vector<std::string> want_keys;
    for (const auto& [k, c] : counts) want_keys.push_back(k);
    CHECK(test::sorted(distinct_keys) == want_keys);

    // An accumulator of another type: (min, max) of each key's values.
    using acc = std::pair<std::int64_t, std::int64_t>;
    auto agg = ds.aggregate_by_key(
                     acc{INT64_MAX, INT64_MIN},
                     [](const acc& a, std::int64_t v) { return acc{std::min(a.first, v), std::max(a.second, v)}; },
                     [](const acc& a, const acc& b) {
                       return acc{std::min(a.first, b.first), std::max(a.second, b.second)};
                     })
                   .collect();
    CHECK(std::map<std::string, acc>(agg.begin(), agg.end()) == min_max);

    // keys / values / map_values keep order and items.
    auto ks = ds.keys().collect();
    auto vs = ds.values().collect();
    auto doubled = ds.map_values([](std::int64_t v) { return v * 2.5; }).collect();
    REQUIRE(ks.size() == n);
    REQUIRE(vs.size() == n);
    REQUIRE(doubled.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(ks[i] == input[i].first);
      REQUIRE(vs[i] == input[i].second);
      REQUIRE(doubled[i].first == input[i].first);
      REQUIRE(doubled[i].second == static_cast<double>(input[i].second) * 2.5);
    }
    if (budget) CHECK(test::nothing_left_in(s.dir));
  }
}

TEST_CASE("concat reads both datasets in turn, through their own operators", "[ops][concat]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{32_KiB});
  setup s(threads, budget);
  dataflow::context& ctx = s.ctx;
  for (std::size_t n : test::sizes()) {
    std::vector<int> a(n), b(n / 3 + 2);
    std::iota(a.begin(), a.end(), 0);
    std::iota(b.begin(), b.end(), 1000000);
    auto left = ctx.from(a).filter([](int x) { return x % 3 != 0; });
    auto right = ctx.from(b).map([](int x) { return -x; });
    std::vector<int> want;
    for (int x : a) if (x % 3 != 0) want.push_back(x);
    for (int x : b) want.push_back(-x);
    CHECK(left.concat(right).collect() == want);  // in order: left's partitions, then right's
    CHECK(left.concat(right).count() == want.size());
    CHECK(left.concat(left).count() == 2 * (want.size() - b.size()));
    auto sums = left.concat(right).map([](int x) { return std::pair{x % 7, 1}; }).reduce_by_key(std::plus<>{}).collect();
    std::map<int, int> want_sums;
    for (int x : want) ++want_sums[x % 7];
    CHECK(std::map<int, int>(sums.begin(), sums.end()) == want_sums);
  }
  auto plan = ctx.from(std::vector<int>{1}).concat(ctx.from(std::vector<int>{2})).explain();
  CAPTURE(plan);
  CHECK(plan.find("concat#") != std::string::npos);
}

TEST_CASE("zip_with_index, sample and scan follow the dataset's order", "[ops][ordered]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{32_KiB});
  for (std::size_t n : test::sizes()) {
    CAPTURE(threads, budget, n);
    setup s(threads, budget);
    std::vector<std::int64_t> input(n);
    std::mt19937_64 rng(n);
    for (auto& x : input) x = static_cast<std::int64_t>(rng() % 1000) - 500;
    auto ds = s.ctx.from(input).map([](std::int64_t x) { return x; });

    auto zipped = ds.zip_with_index().collect();
    REQUIRE(zipped.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(zipped[i].first == input[i]);
      REQUIRE(zipped[i].second == i);
    }

    auto prefix = ds.scan().collect();
    std::vector<std::int64_t> want(n);
    std::partial_sum(input.begin(), input.end(), want.begin());
    CHECK(prefix == want);
    auto running_max = ds.scan([](std::int64_t a, std::int64_t b) { return std::max(a, b); }).collect();
    std::vector<std::int64_t> want_max(n);
    std::partial_sum(input.begin(), input.end(), want_max.begin(),
                     [](std::int64_t a, std::int64_t b) { return std::max(a, b); });
    CHECK(running_max == want_max);

    // A sample depends on the seed only: the same items at every thread count.
    auto indexed = s.ctx.from(input).zip_with_index().map([](const auto& p) { return p.second; });
    auto picked = indexed.sample(0.1, 42).collect();
    dataflow::context one(1);
    std::vector<std::uint64_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    CHECK(one.from(idx).sample(0.1, 42).collect() == picked);
    CHECK(indexed.sample(1.0, 7).count() == n);
    CHECK(indexed.sample(0.0, 7).count() == 0);
    if (n > 10000) {
      CHECK(picked.size() > n / 20);  // about a tenth
      CHECK(picked.size() < n / 5);
      CHECK(indexed.sample(0.1, 43).collect() != picked);
    }
    if (budget) CHECK(test::nothing_left_in(s.dir));
  }
}

TEST_CASE("sliding and tumbling windows match a sequential loop", "[ops][window]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{32_KiB});
  for (std::size_t n : test::sizes()) {
    for (std::size_t w : {std::size_t{1}, std::size_t{3}, std::size_t{100}, std::size_t{5000}}) {
      CAPTURE(threads, budget, n, w);
      setup s(threads, budget);
      std::vector<std::string> input(n);
      for (std::size_t i = 0; i < n; ++i) input[i] = std::to_string(i * 7919 % 100003);
      auto ds = s.ctx.from(input).map([](const std::string& x) { return std::string_view(x); });
      // Each window as (first item, last item, size).
      auto describe = [](std::span<const std::string> win) {
        return std::tuple<std::string, std::string, std::size_t>(win.front(), win.back(), win.size());
      };
      std::vector<std::tuple<std::string, std::string, std::size_t>> want_sliding, want_tumbling;
      for (std::size_t i = 0; i + w <= n; ++i) want_sliding.emplace_back(input[i], input[i + w - 1], w);
      for (std::size_t i = 0; i < n; i += w) {
        std::size_t len = std::min(w, n - i);
        want_tumbling.emplace_back(input[i], input[i + len - 1], len);
      }
      CHECK(ds.sliding(w, describe).collect() == want_sliding);
      CHECK(ds.tumbling(w, describe).collect() == want_tumbling);
      if (budget) CHECK(test::nothing_left_in(s.dir));
    }
  }
  dataflow::context ctx(1);
  CHECK_THROWS_AS(ctx.from(std::vector<int>{1}).sliding(0, [](std::span<const int> s) { return s.size(); }),
                  dataflow::usage_error);
}

TEST_CASE("min, max and bottom_k", "[ops][actions]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  for (std::size_t n : test::sizes()) {
    auto input = pairs(n, n + 9);
    auto ds = ctx.from(input).map([](const auto& p) { return std::string_view(p.first); });
    auto mn = ds.min();
    auto mx = ds.max();
    auto bottom = ds.bottom_k(5);
    if (n == 0) {
      CHECK_FALSE(mn);
      CHECK_FALSE(mx);
      CHECK(bottom.empty());
      continue;
    }
    std::vector<std::string> all;
    for (const auto& p : input) all.push_back(p.first);
    auto sorted = test::sorted(all);
    CHECK(*mn == sorted.front());
    CHECK(*mx == sorted.back());
    sorted.resize(std::min<std::size_t>(5, sorted.size()));
    CHECK(bottom == sorted);
    auto by_length = ds.max([](std::string_view a, std::string_view b) { return a.size() < b.size(); });
    std::string longest;
    for (const auto& s : all) if (s.size() > longest.size()) longest = s;  // the earliest of the longest
    CHECK(*by_length == longest);
  }
}

TEST_CASE("sorted outputs are identical at every thread count", "[ops][determinism]") {
  auto input = pairs(50021, 77);
  std::vector<std::pair<std::string, std::int64_t>> first_sorted;
  std::vector<std::pair<std::string, std::uint64_t>> first_counts;
  std::vector<std::pair<std::string, std::pair<std::int64_t, std::int64_t>>> first_join;
  for (std::size_t threads : {1, 2, 8}) {
    CAPTURE(threads);
    dataflow::context ctx(threads);
    auto ds = ctx.from(input);
    // A total order (pairs by <) and a sort by a unique key give one answer.
    auto sorted = ds.sort().collect();
    auto counts = ds.count_by_key().sort_by([](const auto& p) { return p.first; }).collect();
    auto joined = ds.filter([](const auto& p) { return p.second > 5; })
                      .join(ds.filter([](const auto& p) { return p.second < -6; }))
                      .sort()
                      .collect();
    if (threads == 1) {
      first_sorted = sorted;
      first_counts = counts;
      first_join = joined;
      CHECK(std::is_sorted(sorted.begin(), sorted.end()));
      CHECK_FALSE(joined.empty());
      continue;
    }
    CHECK(sorted == first_sorted);
    CHECK(counts == first_counts);
    CHECK(joined == first_join);
  }
}
