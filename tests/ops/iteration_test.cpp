// Iterative jobs: a dataset<T> handle reassigned each round, caches that go once nothing names
// them, unpersist, and checkpoints that cut the lineage.
#include "../support/test_support.hpp"

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace {

using rank_t = std::pair<std::uint32_t, double>;

struct graph {
  std::vector<std::pair<std::uint32_t, std::vector<std::uint32_t>>> links;
  std::uint32_t nodes = 0;
};

graph random_graph(std::uint32_t nodes, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  graph g;
  g.nodes = nodes;
  for (std::uint32_t v = 0; v < nodes; ++v) {
    std::vector<std::uint32_t> out{v};  // a self link: every page gets a contribution
    for (std::size_t i = rng() % 6; i > 0; --i) out.push_back(static_cast<std::uint32_t>(rng() % (v % 7 == 0 ? 10 : nodes)));
    g.links.emplace_back(v, std::move(out));
  }
  return g;
}

std::map<std::uint32_t, double> pagerank_loop(const graph& g, int rounds) {
  std::map<std::uint32_t, double> ranks;
  for (std::uint32_t v = 0; v < g.nodes; ++v) ranks[v] = 1.0;
  for (int r = 0; r < rounds; ++r) {
    std::map<std::uint32_t, double> sums;
    for (const auto& [v, out] : g.links) {
      for (auto w : out) sums[w] += ranks[v] / static_cast<double>(out.size());
    }
    for (auto& [v, s] : sums) s = 0.15 + 0.85 * s;
    ranks = std::move(sums);
  }
  return ranks;
}

}  // namespace

TEST_CASE("a loop reassigns a dataset<T> handle and holds one round's cache, not all", "[ops][cache][iteration]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const graph g = random_graph(3001, threads);
  constexpr int rounds = 40;
  dataflow::context ctx(threads);
  auto links = ctx.from(g.links).cache();
  std::vector<rank_t> start;
  for (std::uint32_t v = 0; v < g.nodes; ++v) start.emplace_back(v, 1.0);

  dataflow::dataset<rank_t> ranks = ctx.from(start);
  std::size_t after_first = 0, most = 0;
  for (int r = 0; r < rounds; ++r) {
    ranks = links.join(ranks)
                .flat_map<rank_t>([](const auto& row, auto&& emit) {
                  const auto& [out, rank] = row.second;
                  for (auto w : out) emit(rank_t(w, rank / static_cast<double>(out.size())));
                })
                .reduce_by_key(std::plus<>{})
                .map_values([](double s) { return 0.15 + 0.85 * s; })
                .cache();
    CHECK(ranks.count() == g.nodes);
    if (r == 0) after_first = ctx.cached_bytes();
    most = std::max(most, ctx.cached_bytes());
  }
  // The links and the latest round; a round's cache goes once the next round has read it.
  CHECK(most <= after_first + after_first / 4);

  const auto want = pagerank_loop(g, rounds);
  const auto got = ranks.collect();
  REQUIRE(got.size() == want.size());
  for (const auto& [v, rank] : got) CHECK(std::abs(rank - want.at(v)) <= 1e-9 * want.at(v));
}

TEST_CASE("a cache that no handle names goes after the run that reads it", "[ops][cache]") {
  dataflow::context ctx(2);
  std::vector<std::uint64_t> v(50000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i % 977;
  std::optional<dataflow::dataset<std::uint64_t>> kept = ctx.from(v).map([](std::uint64_t x) { return x * 2; }).cache();
  CHECK(kept->count() == v.size());
  const std::size_t held = ctx.cached_bytes();
  CHECK(held >= v.size() * sizeof(std::uint64_t));
  auto counts = kept->map([](std::uint64_t x) { return std::pair(x, std::uint64_t{1}); }).reduce_by_key(std::plus<>{});
  kept.reset();
  CHECK(ctx.cached_bytes() == held);  // still there: counts needs it
  CHECK(counts.count() == 977);
  CHECK(ctx.cached_bytes() == 0);     // read by the run that needed it, then gone

  // A handle keeps it: read twice, computed once.
  ctx.on_recompute(dataflow::recompute_policy::error);
  auto named = ctx.from(v).map([](std::uint64_t x) { return x + 1; }).cache();
  auto sums = named.reduce([](std::uint64_t a, std::uint64_t b) { return a + b; });
  CHECK(named.count() == v.size());
  CHECK(named.count() == v.size());
  CHECK(ctx.cached_bytes() > 0);
  named.unpersist();
  CHECK(ctx.cached_bytes() == 0);
  ctx.on_recompute(dataflow::recompute_policy::allow);
  CHECK(named.count() == v.size());  // computed again after unpersist
  CHECK(sums.has_value());
}

TEST_CASE("checkpoint computes now, keeps under the budget and cuts the lineage", "[ops][checkpoint]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{64} << 10);
  const std::size_t n = GENERATE_COPY(from_range(test::sizes()));
  std::vector<std::string> words;
  std::mt19937_64 rng(n);
  for (std::size_t i = 0; i < n; ++i) words.push_back(test::random_word(rng, 16));
  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.memory_budget(budget).spill_directory(dir.path().string());

  std::weak_ptr<void> upstream;
  std::optional<dataflow::dataset<std::string>> cp;
  {
    auto upper = ctx.from(words).map([](const std::string& w) {
      std::string u = w;
      for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return u;
    });
    upstream = upper.node();
    cp = upper.checkpoint();
    CHECK(ctx.last_run().action.find("checkpoint") != std::string::npos);
    if (budget != 0 && n > 4000) CHECK(ctx.last_run().spilled_bytes > 0);
  }
  CHECK(upstream.expired());  // nothing above the checkpoint is held
  CHECK(cp->node()->parents().empty());
  std::vector<std::string> want = words;
  for (auto& w : want) {
    for (char& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  ctx.on_recompute(dataflow::recompute_policy::error);
  CHECK(cp->collect() == want);  // in order, read from what it keeps
  CHECK(cp->collect() == want);
  cp->unpersist();
  CHECK(ctx.cached_bytes() == 0);
  CHECK_THROWS_WITH(cp->count(), Catch::Contains("unpersisted"));
  cp.reset();
  CHECK(test::nothing_left_in(dir));
}
