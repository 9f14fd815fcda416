// Operators of order on a job of several ranks (run by CTest under mpirun with the rest of
// the MPI tests): indexes, scans, windows and take follow rank 0's items, then rank 1's, and so
// on; partition_by, for_each_group and checkpoint equal one process; streams are refused.
// Checks never stop a test case early (CHECK, not REQUIRE): every rank makes the same
// collective calls in the same order.
#include <dataflow/mpi.hpp>
#include <dataflow/stream/push_source.hpp>
#include <dataflow/stream/stream.hpp>

#include "../support/test_support.hpp"
#include "mpi_support.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using mpi_test::check_failed_on;
using mpi_test::lengths;
using mpi_test::setting;
using mpi_test::settings;
using mpi_test::world;
using test::zipf_keys;

TEST_CASE("standard input and streams are refused on a job of several ranks, and the job goes on") {
  dataflow::context ctx(world(), 2);
  if (ctx.ranks() > 1) {
    CHECK_THROWS_WITH(ctx.read_lines("-").count(), Catch::Contains("standard input and pipes cannot be split"));
    dataflow::stream_writer<int> writer(16);
    CHECK_THROWS_WITH(ctx.stream(writer), Catch::Contains("streams do not run on a job of several ranks"));
  }
  CHECK(ctx.from(std::vector<int>{3, 1, 2}).count() == 3);
}

TEST_CASE("partition_by, for_each_group and checkpoint across ranks equal one process") {
  for (const setting& s : settings()) {
    dataflow::context ctx(world(), s.threads);
    ctx.memory_budget(s.budget);
    for (std::size_t n : lengths()) {
      auto keys = zipf_keys(n, n / 4 + 1, n + 5);
      std::vector<std::int64_t> v(keys.begin(), keys.end());
      for (std::size_t parts : {std::size_t{1}, std::size_t{3}, std::size_t{16}}) {
        // Partition r holds the items equal to r modulo parts (-1 is the last), on whichever rank.
        std::vector<std::vector<std::int64_t>> expected(parts);
        for (std::int64_t x : v) expected[static_cast<std::size_t>(((x - 7) % static_cast<std::int64_t>(parts) + static_cast<std::int64_t>(parts)) % static_cast<std::int64_t>(parts))].push_back(x);
        auto got = ctx.from(v).partition_by([](std::int64_t x) { return x - 7; }, parts).collect_partitions();
        CHECK(got.size() == parts);
        for (auto& p : got) std::sort(p.begin(), p.end());
        for (auto& p : expected) std::sort(p.begin(), p.end());
        CHECK(got == expected);
      }

      // Every group once, on the rank of its key, with all of its values.
      std::map<std::int64_t, std::pair<std::int64_t, std::size_t>> reference;
      for (std::size_t i = 0; i < n; ++i) {
        auto& r = reference[v[i]];
        r.first += static_cast<std::int64_t>(i);
        ++r.second;
      }
      std::mutex m;
      std::vector<std::tuple<std::int64_t, std::int64_t, std::size_t>> seen;
      ctx.generate(n, [&](std::size_t i) { return std::pair{v[i], static_cast<std::int64_t>(i)}; })
          .for_each_group([&](std::int64_t key, dataflow::group_values<std::int64_t>& values) {
            std::int64_t sum = 0;
            std::size_t count = 0;
            for (std::int64_t x : values) {
              sum += x;
              ++count;
            }
            std::lock_guard lock(m);
            seen.emplace_back(key, sum, count);
          });
      std::vector<std::tuple<std::int64_t, std::int64_t, std::size_t>> expected;
      for (const auto& [k, r] : reference) expected.emplace_back(k, r.first, r.second);
      // Each rank's groups, gathered: item r of ranks() items is rank r's own.
      const std::size_t me = ctx.rank();
      auto gathered = ctx.generate(ctx.ranks(), [](std::size_t r) { return r; })
                          .flat_map([&](std::size_t r) { return r == me ? seen : decltype(seen){}; })
                          .collect();
      std::sort(gathered.begin(), gathered.end());
      CHECK(gathered == expected);

      // A checkpoint keeps each rank's partitions: counted and collected again without its lineage.
      auto kept = ctx.from(v).map([](std::int64_t x) { return x * 3; }).checkpoint();
      std::vector<std::int64_t> tripled(v);
      for (auto& x : tripled) x *= 3;
      CHECK(kept.collect() == tripled);
      CHECK(kept.count() == n);
    }
  }
}

namespace {

// x -> a * x + b (mod 2^64): composing these is associative but not commutative, so a scan
// that combined anything out of the dataset's order would differ from the loop.
using affine = std::pair<std::uint64_t, std::uint64_t>;
affine then(const affine& f, const affine& g) { return {f.first * g.first, f.second * g.first + g.second}; }

}  // namespace

TEST_CASE("zip_with_index, sample, scan and take across ranks follow the whole dataset's order") {
  for (const setting& s : settings()) {
    dataflow::context ctx(world(), s.threads);
    ctx.memory_budget(s.budget);
    for (std::size_t n : lengths()) {
      std::mt19937_64 rng(n + 17);
      std::vector<affine> v(n);
      for (auto& f : v) f = {rng() | 1, rng()};

      std::vector<std::pair<affine, std::uint64_t>> indexed;
      for (std::size_t i = 0; i < n; ++i) indexed.emplace_back(v[i], i);
      CHECK(ctx.from(v).zip_with_index().collect() == indexed);

      std::vector<affine> prefix = v;
      for (std::size_t i = 1; i < n; ++i) prefix[i] = then(prefix[i - 1], v[i]);
      CHECK(ctx.from(v).scan(then).collect() == prefix);

      // Indexes after a sort: the sorted order spans the ranks.
      std::vector<std::uint64_t> keys(n);
      for (std::size_t i = 0; i < n; ++i) keys[i] = v[i].second % (n / 3 + 1);
      std::vector<std::uint64_t> sorted = keys;
      std::sort(sorted.begin(), sorted.end());
      auto ranked = ctx.from(keys).sort().zip_with_index().collect();
      bool in_order = ranked.size() == n;
      for (std::size_t i = 0; in_order && i < n; ++i) in_order = ranked[i] == std::pair{sorted[i], std::uint64_t{i}};
      CHECK(in_order);

      for (std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{5}, n / 2 + 1, n + 3}) {
        const std::size_t m = std::min(k, n);
        CHECK(ctx.from(v).take(k) == std::vector<affine>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(m)));
        CHECK(ctx.from(keys).sort().take(k) == std::vector<std::uint64_t>(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(m)));
      }
      auto first = ctx.from(v).first();
      CHECK(first.has_value() == (n > 0));
      if (first && n > 0) CHECK(*first == v.front());

      // Windows that span ranks read the items of the ranks after them.
      for (std::size_t w : {std::size_t{1}, std::size_t{3}, std::size_t{64}, n / 2 + 2, n + 5}) {
        auto sum = [](std::span<const std::uint64_t> x) {
          std::uint64_t t = 0;
          for (std::size_t i = 0; i < x.size(); ++i) t = t * 31 + x[i];  // order matters
          return std::pair{t, x.size()};
        };
        std::vector<std::pair<std::uint64_t, std::size_t>> sliding, tumbling;
        for (std::size_t i = 0; i + w <= n; ++i) sliding.push_back(sum(std::span(keys).subspan(i, w)));
        for (std::size_t i = 0; i < n; i += w) tumbling.push_back(sum(std::span(keys).subspan(i, std::min(w, n - i))));
        CHECK(ctx.from(keys).sliding(w, sum).collect() == sliding);
        CHECK(ctx.from(keys).tumbling(w, sum).collect() == tumbling);
      }

      // sample keeps an item by its index: the same items as one process would keep.
      auto kept = ctx.from(v).sample(0.3, 11).collect();
      CHECK(kept == dataflow::context(1).from(v).sample(0.3, 11).collect());
      CHECK(kept.size() <= n);
    }
  }
}

TEST_CASE("windows across ranks reach past empty ranks; a window of any size, one per job") {
  dataflow::context ctx(world(), 2);
  const std::size_t ranks = ctx.ranks();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
    // Rank r's slice of generate(n) is [n * r / ranks, n * (r + 1) / ranks): rank 1 keeps
    // nothing and rank 2 a few items (at -np 4), so that windows reach over them.
    auto kept = [n, ranks](std::uint64_t i) {
      const std::uint64_t r = ((i + 1) * ranks - 1) / n;
      return r == 0 || r + 1 >= ranks || (r == 2 && i % 97 == 0);
    };
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (kept(i)) v.push_back(i);
    }
    auto input = ctx.generate(n, [](std::size_t i) { return static_cast<std::uint64_t>(i); }).filter(kept);
    auto sum = [](std::span<const std::uint64_t> x) {
      std::uint64_t t = 0;
      for (std::uint64_t y : x) t = t * 31 + y;
      return std::pair{t, x.size()};
    };
    for (std::size_t w : {std::size_t{2}, std::size_t{5}, v.size() / 2 + 1, v.size() + 1}) {
      std::vector<std::pair<std::uint64_t, std::size_t>> sliding, tumbling;
      for (std::size_t i = 0; i + w <= v.size(); ++i) sliding.push_back(sum(std::span(v).subspan(i, w)));
      for (std::size_t i = 0; i < v.size(); i += w) tumbling.push_back(sum(std::span(v).subspan(i, std::min(w, v.size() - i))));
      CHECK(input.sliding(w, sum).collect() == sliding);
      CHECK(input.tumbling(w, sum).collect() == tumbling);
    }
    // A window as large as a size can be: the whole job in one, however the ranks hold it.
    auto whole = input.tumbling(SIZE_MAX, sum).collect();
    CHECK(whole.size() == (v.empty() ? 0u : 1u));
    if (!v.empty() && !whole.empty()) CHECK(whole.front() == sum(v));
  }
}

TEST_CASE("an ordered operator over a function that throws on one rank fails every rank, which go on in step") {
  dataflow::context ctx(world(), 2);
  const std::size_t failing = ctx.ranks() - 1;
  const std::size_t me = ctx.rank();
  std::vector<std::int64_t> v(20'000);
  std::iota(v.begin(), v.end(), 0);
  auto mapped = ctx.from(v).map([&](std::int64_t x) {
    if (me == failing && x % 5000 == 4999) throw std::runtime_error("bad item " + std::to_string(x));
    return x;
  });
  for (int round = 0; round < 3; ++round) {
    check_failed_on(failing, me, [&] {
      if (round == 0) mapped.zip_with_index().count();
      if (round == 1) mapped.scan(std::plus<>{}).collect();
      if (round == 2) mapped.take(30'000);
    });
    CHECK(ctx.from(v).zip_with_index().count() == v.size());  // the job goes on, in step
  }
}

TEST_CASE("a cache that one rank filled before another failed is computed again on every rank") {
  dataflow::context ctx(world(), 2);
  ctx.on_recompute(dataflow::recompute_policy::error);  // a failed run computed nothing to repeat
  const std::size_t failing = ctx.ranks() - 1;
  const std::size_t me = ctx.rank();
  std::vector<std::int64_t> v(20'000);
  std::iota(v.begin(), v.end(), 0);
  std::map<std::int64_t, std::int64_t> want;
  for (auto x : v) want[x % 101] += x;
  bool fail = true;
  // The cache's lineage has an exchange: a rank that computed it again while another read its
  // kept items would send into an exchange that no other rank takes part in.
  auto kept = ctx.from(v)
                  .map([](std::int64_t x) { return std::pair{x % 101, x}; })
                  .reduce_by_key(std::plus<>{})
                  .map([&](const std::pair<std::int64_t, std::int64_t>& p) {
                    if (fail && me == failing) throw std::runtime_error("bad item " + std::to_string(p.first));
                    return p;
                  })
                  .cache();
  check_failed_on(failing, me, [&] { kept.count(); });
  fail = false;
  auto got = kept.collect();
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::pair<std::int64_t, std::int64_t>>(want.begin(), want.end()));
  CHECK(kept.count() == want.size());  // from the kept items now
}
