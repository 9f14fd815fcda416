// Joins and co_group against a nested-loop reference: duplicate keys on both sides, empty sides,
// mixed key types (std::string and std::string_view), in memory and spilling under a tiny budget,
// and one key hot on both sides.
#include "../support/test_support.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

using namespace dataflow::literals;

namespace {

using left_row = std::pair<std::string, std::int64_t>;
using right_row = std::pair<std::string, std::string>;
// (key, left value, right value) with a missing side empty.
using joined = std::tuple<std::string, std::optional<std::int64_t>, std::optional<std::string>>;

std::vector<left_row> left_rows(std::size_t n, std::size_t distinct, std::uint64_t seed) {
  auto keys = test::zipf_keys(n, distinct, seed);
  std::vector<left_row> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.emplace_back("key " + std::to_string(keys[i] * 7), static_cast<std::int64_t>(i));
  }
  return out;
}

std::vector<right_row> right_rows(std::size_t n, std::size_t distinct, std::uint64_t seed) {
  auto keys = test::uniform_keys(n, distinct, seed);
  std::vector<right_row> out;
  for (std::size_t i = 0; i < n; ++i) {
    // Values long enough to live on the heap, and keys that match only some left keys.
    out.emplace_back("key " + std::to_string(keys[i] * 3), "value number " + std::to_string(i));
  }
  return out;
}

std::vector<joined> reference(const std::vector<left_row>& l, const std::vector<right_row>& r,
                              bool keep_left, bool keep_right) {
  std::vector<joined> out;
  std::vector<char> right_matched(r.size(), 0);
  std::multimap<std::string, std::size_t> by_key;
  for (std::size_t j = 0; j < r.size(); ++j) by_key.emplace(r[j].first, j);
  for (const auto& [k, v] : l) {
    auto [lo, hi] = by_key.equal_range(k);
    if (lo == hi && keep_left) out.emplace_back(k, v, std::nullopt);
    for (auto it = lo; it != hi; ++it) {
      out.emplace_back(k, v, r[it->second].second);
      right_matched[it->second] = 1;
    }
  }
  if (keep_right) {
    for (std::size_t j = 0; j < r.size(); ++j) {
      if (!right_matched[j]) out.emplace_back(r[j].first, std::nullopt, r[j].second);
    }
  }
  return test::sorted(out);
}

template <class Rows>
std::vector<joined> as_joined(const Rows& rows) {
  std::vector<joined> out;
  for (const auto& [k, lr] : rows) {
    std::optional<std::int64_t> l;
    std::optional<std::string> r;
    if constexpr (requires { lr.first.has_value(); }) {
      if (lr.first) l = *lr.first;
    } else {
      l = lr.first;
    }
    if constexpr (requires { lr.second.has_value(); }) {
      if (lr.second) r = std::string(*lr.second);
    } else {
      r = std::string(lr.second);
    }
    out.emplace_back(std::string(k), l, r);
  }
  return test::sorted(out);
}

struct setup {
  explicit setup(std::size_t threads, std::size_t budget) : ctx(threads) {
    if (budget) ctx.memory_budget(budget).spill_directory(dir.path().string());
  }
  test::temp_dir dir;
  dataflow::context ctx;
};

}  // namespace

TEST_CASE("joins match a nested-loop reference", "[ops][join]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{48_KiB});
  const auto [n, m] = GENERATE(std::pair<std::size_t, std::size_t>{0, 0},
                               std::pair<std::size_t, std::size_t>{0, 5},
                               std::pair<std::size_t, std::size_t>{5, 0},
                               std::pair<std::size_t, std::size_t>{1, 1},
                               std::pair<std::size_t, std::size_t>{1000, 4099},
                               std::pair<std::size_t, std::size_t>{65537, 30011});
  CAPTURE(threads, budget, n, m);
  setup s(threads, budget);
  auto l = left_rows(n, n / 4 + 1, n + 1);
  auto r = right_rows(m, m / 3 + 1, m + 2);
  auto left = s.ctx.from(l);
  // The right side's keys are views: the join must keep their bytes.
  auto right = s.ctx.from(r).map([](const right_row& x) {
    return std::pair{std::string_view(x.first), std::string_view(x.second)};
  });

  const auto released_before = dataflow::detail::spill_bytes_released_total.load();
  CHECK(as_joined(left.join(right).collect()) == reference(l, r, false, false));
  // Spilled, each partition's segments went to release_space once it was joined.
  if (budget && n > 10000) CHECK(dataflow::detail::spill_bytes_released_total.load() > released_before);
  CHECK(as_joined(left.left_join(right).collect()) == reference(l, r, true, false));
  CHECK(as_joined(left.right_join(right).collect()) == reference(l, r, false, true));
  CHECK(as_joined(left.full_join(right).collect()) == reference(l, r, true, true));

  // co_group: every key of either side once, with all its values from each.
  std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<std::string>>> want;
  for (const auto& [k, v] : l) want[k].first.push_back(v);
  for (const auto& [k, v] : r) want[k].second.push_back(v);
  auto groups = left.co_group(right).collect();
  std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<std::string>>> got;
  for (auto& [k, vs] : groups) {
    auto& g = got[std::string(k)];
    CHECK(g.first.empty());  // each key once
    CHECK(g.second.empty());
    g.first = test::sorted(vs.first);
    for (const auto& v : vs.second) g.second.emplace_back(v);
    g.second = test::sorted(g.second);
  }
  for (auto& [k, g] : want) {
    g.first = test::sorted(g.first);
    g.second = test::sorted(g.second);
  }
  CHECK(got == want);
  CHECK(groups.size() == want.size());
  if (budget) CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("a key hot on both sides joins in bounded memory", "[ops][join][spill]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const bool full = GENERATE(false, true);
  CAPTURE(threads, full);
  setup s(threads, 48_KiB);
  auto l = left_rows(20000, 5000, 11);
  auto r = right_rows(20000, 5000, 12);
  for (std::int64_t i = 0; i < 2500; ++i) l.emplace_back("hot", -i);
  for (int i = 0; i < 2000; ++i) r.emplace_back("hot", "hot value " + std::to_string(i));

  // Too many rows to collect cheaply: compare counts and order-free checksums.
  struct summary {
    std::uint64_t rows = 0, left_missing = 0, right_missing = 0;
    std::int64_t left_sum = 0;
    std::uint64_t right_bytes = 0;
  };
  summary expect;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> right_of;  // rows, bytes
  std::map<std::string, std::uint64_t> left_count;
  for (const auto& [k, v] : r) {
    right_of[k].first += 1;
    right_of[k].second += v.size();
  }
  for (const auto& [k, v] : l) {
    ++left_count[k];
    auto it = right_of.find(k);
    if (it == right_of.end()) {
      if (!full) continue;
      ++expect.rows;
      expect.left_sum += v;
      ++expect.right_missing;
      continue;
    }
    expect.rows += it->second.first;
    expect.left_sum += v * static_cast<std::int64_t>(it->second.first);
    expect.right_bytes += it->second.second;
  }
  if (full) {
    for (const auto& [k, v] : r) {
      if (left_count.count(k)) continue;
      ++expect.rows;
      expect.right_bytes += v.size();
      ++expect.left_missing;
    }
  }
  auto fold_rows = [](auto ds) {
    return ds.fold(
        summary{},
        [](summary acc, const auto& row) {
          const auto& [lv, rv] = row.second;
          ++acc.rows;
          if constexpr (requires { lv.has_value(); }) {
            if (lv) acc.left_sum += *lv; else ++acc.left_missing;
            if (rv) acc.right_bytes += rv->size(); else ++acc.right_missing;
          } else {
            acc.left_sum += lv;
            acc.right_bytes += rv.size();
          }
          return acc;
        },
        [](summary a, const summary& b) {
          a.rows += b.rows;
          a.left_missing += b.left_missing;
          a.right_missing += b.right_missing;
          a.left_sum += b.left_sum;
          a.right_bytes += b.right_bytes;
          return a;
        });
  };
  auto left = s.ctx.from(l);
  auto right = s.ctx.from(r);
  const auto chunked_before = dataflow::detail::chunked_joins_total.load();
  const summary got = full ? fold_rows(left.full_join(right)) : fold_rows(left.join(right));
  CHECK(dataflow::detail::chunked_joins_total.load() > chunked_before);  // the hot key's path
  CHECK(got.rows == expect.rows);
  CHECK(got.left_sum == expect.left_sum);
  CHECK(got.right_bytes == expect.right_bytes);
  CHECK(got.left_missing == expect.left_missing);
  CHECK(got.right_missing == expect.right_missing);
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("a join's plan shows both sides feeding it", "[ops][join][explain]") {
  dataflow::context ctx(2);
  std::vector<std::pair<int, int>> a{{1, 2}}, b{{1, 3}};
  auto plan = ctx.from(a).map([](auto p) { return p; }).join(ctx.from(b)).explain();
  CAPTURE(plan);
  CHECK(plan.find("plan: 3 stages, 2 shuffles") != std::string::npos);
  CHECK(plan.find("join#") != std::string::npos);
  CHECK(plan.find("build on the smaller side") != std::string::npos);
}

TEST_CASE("a throwing key hash in a join reaches the caller and leaves no file",
          "[ops][join][errors]") {
  setup s(2, 32_KiB);
  std::vector<std::pair<int, int>> a(50000), b(50000);
  for (int i = 0; i < 50000; ++i) a[static_cast<std::size_t>(i)] = {i % 977, i};
  for (int i = 0; i < 50000; ++i) b[static_cast<std::size_t>(i)] = {i % 1013, i};
  auto joined_rows = s.ctx.from(a).join(s.ctx.from(b)).map([](const auto& row) {
    if (row.first == 500) throw std::runtime_error("bad row 500");
    return row.second.first;
  });
  CHECK_THROWS_WITH(joined_rows.count(), Catch::Contains("bad row 500"));
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("a dataset read by several consumers of one run (a DAG)", "[ops][join][dag]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{48_KiB});
  CAPTURE(threads, budget);
  setup s(threads, budget);
  auto l = left_rows(30011, 3000, 21);
  std::map<std::string, std::int64_t> sums;
  for (const auto& [k, v] : l) sums[k] += v;

  // A shuffle's output feeding both sides of a join, and a cached dataset feeding two branches
  // that meet again in a concat.
  auto per_key = s.ctx.from(l).reduce_by_key(std::plus<>{});
  auto self = per_key.join(per_key).collect();
  REQUIRE(self.size() == sums.size());
  for (const auto& [k, vs] : self) {
    CHECK(vs.first == sums.at(k));
    CHECK(vs.second == sums.at(k));
  }
  auto kept = s.ctx.from(l).cache();
  auto evens = kept.filter([](const auto& p) { return p.second % 2 == 0; });
  auto odds = kept.filter([](const auto& p) { return p.second % 2 != 0; });
  auto both = evens.concat(odds).count_by_key().collect();
  std::map<std::string, std::uint64_t> counts;
  for (const auto& [k, v] : l) ++counts[k];
  CHECK(std::map<std::string, std::uint64_t>(both.begin(), both.end()) == counts);
  auto plan = evens.concat(odds).explain();
  CAPTURE(plan);
  CHECK(plan.find("cache#") != std::string::npos);
  CHECK(plan.find("concat#") != std::string::npos);
}

TEST_CASE("views into a map's temporaries survive a streamed join and a concat",
          "[ops][join][concat]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  std::vector<int> ids(20000);
  for (int i = 0; i < 20000; ++i) ids[static_cast<std::size_t>(i)] = i;
  // map_values passes the key on as a view into the pair the first map returned: a temporary
  // that is gone once the item has moved on.
  auto left = ctx.from(ids)
                  .map([](int i) { return std::pair<std::string, int>("a long key number " + std::to_string(i % 500), i); })
                  .map_values([](int v) { return v; });
  std::vector<std::pair<std::string, std::string>> right;
  for (int k = 0; k < 500; k += 2) right.emplace_back("a long key number " + std::to_string(k), "v" + std::to_string(k));
  std::map<std::string, int> rows_per_key;
  for (int i = 0; i < 20000; ++i) {
    if ((i % 500) % 2 == 0) ++rows_per_key["a long key number " + std::to_string(i % 500)];
  }
  for (bool outer : {false, true}) {
    std::map<std::string, int> got;
    std::size_t unmatched = 0;
    auto count_rows = [&](const auto& rows) {
      for (const auto& [k, vs] : rows) {
        if constexpr (requires { vs.second.has_value(); }) {
          if (!vs.second) {
            ++unmatched;
            continue;
          }
          CHECK(*vs.second == "v" + std::string(k).substr(18));
        } else {
          CHECK(vs.second == "v" + std::string(k).substr(18));
        }
        ++got[std::string(k)];
      }
    };
    if (outer) {
      count_rows(left.left_join(ctx.from(right)).collect());
      CHECK(unmatched == 10000);
    } else {
      count_rows(left.join(ctx.from(right)).collect());
    }
    CHECK(got == rows_per_key);
  }
  auto keys = left.keys().concat(left.keys()).count_by_value().collect();
  REQUIRE(keys.size() == 500);
  for (const auto& [k, n] : keys) {
    CHECK(k.rfind("a long key number ", 0) == 0);
    CHECK(n == 80);
  }
}
