// The exchange between ranks as it streams: blocks travel while the stage runs, what arrives
// beyond a rank's share of the budget waits on disk, and a rank that fails stops the others'
// stage within a batch.
#include <dataflow/dataflow.hpp>
#include <dataflow/mpi.hpp>

#include "../support/test_support.hpp"
#include "mpi_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {
// A value whose codec fails on one rank, as a user's codec may for a value it cannot write.
struct fragile {
  std::uint64_t v = 0;
};
std::size_t fragile_fails_on = SIZE_MAX;
}  // namespace

template <>
struct dataflow::codec<fragile> {
  static void write(dataflow::byte_writer& w, const fragile& f) {
    if (mpi_test::world().rank() == fragile_fails_on) throw std::runtime_error("bad item: cannot write " + std::to_string(f.v));
    dataflow::encode(w, f.v);
  }
  static fragile read(dataflow::byte_reader& r) { return fragile{dataflow::decode<std::uint64_t>(r)}; }
};

namespace {

using mpi_test::failure;
using mpi_test::failure_of;
using mpi_test::check_failed_on;
using mpi_test::world;
using test::zipf_keys;

// The stage that feeds the exchange: its name ends with the exchange's.
const dataflow::stage_stats* stage_into_exchange(const dataflow::run_stats& run) {
  for (const auto& s : run.stages) {
    if (s.name.find("-> exchange#") != std::string::npos) return &s;
  }
  return nullptr;
}

TEST_CASE("an exchange keeps what it receives within its share of the budget, the rest on disk") {
  const std::size_t ranks = world().size();
  for (std::size_t budget : {std::size_t{0}, std::size_t{1} << 20}) {
    for (std::size_t threads : {std::size_t{1}, std::size_t{3}}) {
      dataflow::context ctx(world(), threads);
      ctx.memory_budget(budget);
      // Several MiB of items, most keys seen a few times: the grouping exchanges them all.
      for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{300'007}}) {
        CAPTURE(budget, threads, n, ranks);
        auto keys = zipf_keys(n, n / 3 + 1, n + 11);
        std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> expected;  // count, sum of values
        for (std::size_t i = 0; i < n; ++i) {
          auto& e = expected[keys[i]];
          ++e.first;
          e.second += i * 7 + 1;
        }
        auto got = ctx.generate(n, [&keys](std::size_t i) { return std::pair{keys[i], std::uint64_t{i * 7 + 1}}; })
                       .group_by_key()
                       .map([](const auto& g) {
                         std::uint64_t count = 0, sum = 0;
                         for (std::uint64_t v : g.second) ++count, sum += v;
                         return std::pair{g.first, std::pair{count, sum}};
                       })
                       .collect();
        std::sort(got.begin(), got.end());
        CHECK(got == std::vector<std::pair<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>>>(expected.begin(),
                                                                                                     expected.end()));
        const dataflow::stage_stats* into = stage_into_exchange(ctx.last_run());
        // Every byte spilled counts in some stage, blocks that arrived after a rank's part of
        // the stage ended included.
        std::uint64_t staged = 0;
        for (const auto& st : ctx.last_run().stages) staged += st.spilled_bytes;
        CHECK(staged == ctx.last_run().spilled_bytes);
        REQUIRE((into != nullptr) == (ranks > 1));
        if (into == nullptr) continue;
        // Only what a rank received can spill in this stage: the source and the sending keep
        // nothing on disk. Without a budget nothing does; under 1 MiB, 300K items (about 5 MiB
        // on the wire) pass every rank's share of it.
        if (budget == 0 || n < 1000) {
          CHECK(into->spilled_bytes == 0);
        } else {
          CHECK(into->spilled_bytes > 0);
        }
        CHECK(into->bytes_sent == into->bytes_received);
      }
    }
  }
}

TEST_CASE("a rank that fails stops the other ranks' exchange stage within a batch") {
  dataflow::context ctx(world(), 2);
  const std::size_t ranks = ctx.ranks();
  const std::size_t me = ctx.rank();
  const std::size_t failing = 0;
  // Every rank but the failing one spends about 20 us an item: a minute and more for its share
  // if it went on to the end. The failing rank throws at its first item.
  const std::size_t n = 4'000'000;
  std::atomic<std::size_t> done{0};
  auto pairs = ctx.generate(n, [&](std::size_t i) {
    if (me == failing) throw std::runtime_error("bad item " + std::to_string(i));
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
    while (std::chrono::steady_clock::now() < until) {
    }
    done.fetch_add(1, std::memory_order_relaxed);
    return std::pair{std::uint64_t{i % 1009}, std::uint64_t{i}};
  });
  check_failed_on(failing, me, [&] { pairs.group_by_key().count(); });
  if (ranks > 1 && me != failing) {
    CAPTURE(done.load());
    CHECK(done.load() < n / ranks / 10);
  }
  // The job goes on in step.
  CHECK(ctx.generate(1000, [](std::size_t i) { return i; }).count() == 1000);
}

TEST_CASE("an exchange's blocks wait for room in a bounded outbox, and a stop wakes them") {
  dataflow::detail::memory_gauge gauge;  // what is queued and unsent is charged to the budget
  dataflow::detail::block_outbox out(1000, &gauge);
  std::atomic<bool> taken_all{false};
  std::atomic<std::size_t> out_of_order{0};  // Catch2 asserts on the test's thread only
  std::thread sender([&] {
    std::size_t got = 0, to = 0;
    std::vector<char> bytes;
    while (got < 40) {
      if (!out.take(to, bytes)) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      if (to != got % 3) ++out_of_order;
      ++got;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      out.sent(bytes.size());
    }
    taken_all = true;
  });
  for (std::size_t i = 0; i < 40; ++i) out.post(i % 3, std::vector<char>(300, static_cast<char>(i)));
  sender.join();
  const std::size_t most = out.peak();
  CHECK(taken_all.load());
  CHECK(out_of_order.load() == 0);
  CHECK(most <= 1000);  // three blocks of 300 at most, never a fourth
  CHECK(most >= 300);
  CHECK(gauge.peak() == most);
  CHECK(gauge.now() == 0);  // all sent
  // A block larger than the limit passes alone.
  out.post(0, std::vector<char>(5000));
  CHECK(gauge.now() == 5000);
  // Now full: a post waits, and a stop wakes it with `stopped`.
  std::atomic<bool> threw{false};
  std::thread waiter([&] {
    try {
      out.post(1, std::vector<char>(10));
    } catch (const dataflow::detail::block_outbox::stopped&) {
      threw = true;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(threw.load());
  out.stop();
  waiter.join();
  CHECK(threw.load());
  CHECK_THROWS_AS(out.post(0, std::vector<char>(1)), dataflow::detail::block_outbox::stopped);
}

TEST_CASE("a codec that throws on one rank while an action gathers fails it on every rank, in step") {
  dataflow::context ctx(world(), 2);
  const std::size_t ranks = ctx.ranks();
  const std::size_t me = ctx.rank();
  const std::size_t failing = ranks - 1;
  auto values = ctx.generate(1000, [](std::size_t i) { return fragile{i}; });
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    fragile_fails_on = failing;
    const failure f = failure_of<std::runtime_error>(failing, [&] {
      if (round == 0) values.collect();
      if (round == 1) values.collect_on(0);
      if (round == 2) values.reduce([](const fragile& a, const fragile& b) { return fragile{a.v + b.v}; });
    });
    fragile_fails_on = SIZE_MAX;
    if (ranks == 1) {
      CHECK(f.message.empty());  // one process: nothing is encoded
    } else {
      CHECK(f.message.find("bad item: cannot write") != std::string::npos);
      CHECK(f.job == (me != failing));
    }
    // The ranks are in step: the same values, gathered again, arrive whole.
    auto all = values.collect();
    REQUIRE(all.size() == 1000);
    std::uint64_t sum = 0;
    for (const auto& f : all) sum += f.v;
    CHECK(sum == 999u * 1000u / 2);
  }
}

}  // namespace

TEST_CASE("rank 0's progress covers the whole job, in a stage that exchanges and in one that does not") {
  const std::size_t ranks = world().size();
  dataflow::context ctx(world(), 1);
  // Samples on rank 0 only: the others send their figures and show nothing. Per stage watched:
  // the most ranks, items and known total any sample showed, and a line with the most ranks.
  struct seen {
    std::size_t ranks = 0;
    std::uint64_t items = 0, total = 0;
    std::string line;
  };
  std::mutex m;
  std::map<std::string, seen> stages;
  if (ctx.rank() == 0) {
    ctx.on_progress(
        [&](const dataflow::progress_info& p) {
          std::lock_guard<std::mutex> lock(m);  // not Catch's CHECK: this is the reporter's thread
          seen& s = stages[p.stage];
          if (p.ranks >= s.ranks) s.line = p.line();
          s.ranks = std::max(s.ranks, p.ranks);
          s.items = std::max(s.items, p.items);
          s.total = std::max(s.total, p.items_total);
        },
        std::chrono::milliseconds(10), std::chrono::milliseconds(0));
  }
  // Every rank reads its slice of the items slowly (about 1.2 s), so that rank 0 hears from
  // each of the others while the stage runs. (Stages count what they read a batch at a time.)
  const std::size_t per_rank = 60'000;
  const std::size_t n = per_rank * ranks;
  auto slow = [](std::size_t i) {
    if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return std::pair{std::uint64_t{i % 97}, std::uint64_t{i}};
  };
  auto sums = ctx.generate(n, [](std::size_t i) { return i; })
                  .map(slow)
                  .group_by_key()
                  .map([](const auto& g) {
                    std::uint64_t sum = 0;
                    for (std::uint64_t v : g.second) sum += v;
                    return sum;
                  })
                  .reduce(std::plus<>{})
                  .value_or(0);
  CHECK(sums == std::uint64_t{n} * (n - 1) / 2);
  // A stage that exchanges nothing: the count combines the ranks' counts after it.
  CHECK(ctx.generate(n, [](std::size_t i) { return i; }).map(slow).count() == n);
  if (ctx.rank() == 0) {
    std::lock_guard<std::mutex> lock(m);
    // The stage into the exchange (a job of one rank has none: its first stage), then the count.
    std::vector<const seen*> watched;
    for (const auto& [name, s] : stages) {
      if (name.find(ranks > 1 ? "-> exchange#" : "-> group_by_key#") != std::string::npos ||
          name.find("-> count#") != std::string::npos) {
        watched.push_back(&s);
      }
    }
    CHECK(watched.size() == 2);
    for (const seen* s : watched) {
      CAPTURE(ranks, s->ranks, s->items, s->total, s->line);
      CHECK(s->ranks == ranks);
      CHECK(s->line.find(ranks > 1 ? " on " + std::to_string(ranks) + " ranks:" : "stage ") != std::string::npos);
      CHECK(s->items <= n);  // the job's items, never more
      if (ranks > 1) {
        CHECK(s->items > per_rank);  // more than this rank reads: the others' too
        // A total only where every rank knows its own, and then the job's.
        CHECK((s->total == 0 || s->total == n));
      }
    }
  }
}
