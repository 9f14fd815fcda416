// The serving layer's merge: a batch view of the events before a split point and a stream's
// batches of the events after it answer as a batch computation over all of them; queries during
// ingestion and across view swaps answer for exactly the events ingested so far.
#include <dataflow/serving.hpp>
#include <dataflow/stream.hpp>

#include "../support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using event = std::pair<std::string, std::int64_t>;

std::vector<event> random_events(std::mt19937_64& rng, std::size_t n) {
  std::geometric_distribution<std::size_t> skew(0.05);
  std::uniform_int_distribution<std::int64_t> value(-1000, 1000);
  std::vector<event> out;
  for (std::size_t i = 0; i < n; ++i) out.emplace_back("key" + std::to_string(skew(rng) * 37 % 500), value(rng));
  return out;
}

/// The three largest values, largest first.
struct top3 {
  std::vector<std::int64_t> operator()(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) const {
    std::vector<std::int64_t> all = a;
    all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end(), std::greater<>());
    all.resize(std::min<std::size_t>(all.size(), 3));
    return all;
  }
};

/// Splits `events` at `split`: a batch view of those before it, a stream of the rest into a
/// serving view; then every query answers as a sequential reduction over all of them.
template <class V, class ValueFn, class Op>
void check_split(const std::vector<event>& events, std::size_t split, std::size_t threads, std::size_t budget,
                 ValueFn value_fn, Op op) {
  std::map<std::string, V> expected;
  for (const event& e : events) {
    const V v = value_fn(e);
    auto [it, inserted] = expected.try_emplace(e.first, v);
    if (!inserted) it->second = op(it->second, v);
  }
  test::temp_dir d;
  dataflow::context ctx(threads);
  ctx.memory_budget(budget);
  dataflow::view_store store(d.file("views"));
  const std::vector<event> before(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(split));
  dataflow::write_view(ctx.from(before).map([&](const event& e) { return std::pair<std::string, V>(e.first, value_fn(e)); })
                           .reduce_by_key(op),
                       store, "v", "the first " + std::to_string(split) + " events");
  dataflow::serving_view<std::string, V, Op> serving(op, store.open_latest<std::string, V>("v"));
  {
    dataflow::context stream_ctx(threads);
    stream_ctx.memory_budget(budget);
    dataflow::stream_writer<event> w(64);
    auto run = stream_ctx.stream(w)
                   .reduce_by([](const event& e) { return e.first; }, value_fn, op)
                   .start_batches({.trigger = 1ms, .max_batch_items = 50},
                                  [&](const dataflow::keyed_batch<std::string, V>& b) { serving.add(b); });
    for (std::size_t i = split; i < events.size(); ++i) w.push(events[i]);
    w.close();
    run.wait();
  }
  std::size_t wrong = 0;
  for (const auto& [k, v] : expected) wrong += serving.get(k) != std::optional<V>(v);
  wrong += serving.get("not a key").has_value();
  CHECK(wrong == 0);
  std::map<std::string, V> scanned;
  serving.scan("", std::nullopt, [&](const std::string& k, const V& v) { return scanned.emplace(k, v).second; });
  CHECK(scanned == expected);
  std::map<std::string, V> prefixed, expected_prefixed;
  serving.prefix("key1", [&](const std::string& k, const V& v) { return prefixed.emplace(k, v).second; });
  for (const auto& [k, v] : expected) {
    if (k.rfind("key1", 0) == 0) expected_prefixed.emplace(k, v);
  }
  CHECK(prefixed == expected_prefixed);
  const auto at = serving.status();
  CHECK(at.events == events.size() - split);
  CHECK(at.view_version == 1);
}

}  // namespace

TEST_CASE("serving: batch before a split merged with the stream after it equals the batch of all",
          "[serving][merge]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{64} << 10);
  std::mt19937_64 rng(threads + budget);
  const std::size_t n = GENERATE(0, 1, 3001);
  const auto events = random_events(rng, n);
  const std::size_t split = n == 0 ? 0 : rng() % (n + 1);
  SECTION("count") {
    check_split<std::uint64_t>(events, split, threads, budget, [](const event&) { return std::uint64_t{1}; },
                               std::plus<std::uint64_t>());
  }
  SECTION("sum") {
    check_split<std::int64_t>(events, split, threads, budget, [](const event& e) { return e.second; },
                              std::plus<std::int64_t>());
  }
  SECTION("min and max") {
    auto lo = [](std::int64_t a, std::int64_t b) { return std::min(a, b); };
    auto hi = [](std::int64_t a, std::int64_t b) { return std::max(a, b); };
    check_split<std::int64_t>(events, split, threads, budget, [](const event& e) { return e.second; }, lo);
    check_split<std::int64_t>(events, split, threads, budget, [](const event& e) { return e.second; }, hi);
  }
  SECTION("distinct") {
    auto one = [](std::uint8_t, std::uint8_t) { return std::uint8_t{1}; };
    check_split<std::uint8_t>(events, split, threads, budget, [](const event&) { return std::uint8_t{1}; }, one);
  }
  SECTION("top 3 per key") {
    check_split<std::vector<std::int64_t>>(
        events, split, threads, budget, [](const event& e) { return std::vector<std::int64_t>{e.second}; }, top3{});
  }
}

TEST_CASE("serving: top_k merges the view's largest values with the speed layer's", "[serving][merge]") {
  std::mt19937_64 rng(GENERATE(1, 2, 3));
  const auto events = random_events(rng, 5000);
  std::map<std::string, std::uint64_t> counts;
  for (const event& e : events) ++counts[e.first];
  test::temp_dir d;
  dataflow::context ctx(2);
  dataflow::view_store store(d.file("views"));
  const std::size_t split = rng() % events.size();
  const std::vector<event> before(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(split));
  dataflow::write_view(ctx.from(before).map([](const event& e) { return e.first; }).count_by_value(), store, "c", "");
  dataflow::serving_view<std::string, std::uint64_t, std::plus<std::uint64_t>> serving(
      {}, store.open_latest<std::string, std::uint64_t>("c"));
  std::vector<std::pair<std::string, std::uint64_t>> pairs;
  std::string position;
  std::uint64_t seq = 0;
  for (std::size_t i = split; i < events.size(); i += 97) {
    pairs.clear();
    for (std::size_t j = i; j < std::min(events.size(), i + 97); ++j) pairs.emplace_back(events[j].first, 1);
    serving.add({++seq, pairs, position, pairs.size()});
  }
  std::vector<std::pair<std::string, std::uint64_t>> expected(counts.begin(), counts.end());
  std::stable_sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (std::size_t n : {1, 5, 50}) {
    auto want = expected;
    want.resize(std::min(n, want.size()));
    CHECK(serving.top_k(n) == want);
  }
}

TEST_CASE("serving: queries during ingestion and view swaps answer for the events ingested so far",
          "[serving][merge]") {
  std::mt19937_64 rng(11);
  const auto events = random_events(rng, 20000);
  // Where each key's events are, to count them among the first e events.
  std::map<std::string, std::vector<std::uint64_t>> at_index;
  for (std::size_t i = 0; i < events.size(); ++i) at_index[events[i].first].push_back(i);
  std::vector<std::string> keys;
  for (const auto& [k, v] : at_index) keys.push_back(k);
  auto count_in_first = [&](const std::string& k, std::uint64_t e) -> std::uint64_t {
    const auto& v = at_index[k];
    return static_cast<std::uint64_t>(std::lower_bound(v.begin(), v.end(), e) - v.begin());
  };

  test::temp_dir d;
  dataflow::context batch_ctx(2);
  dataflow::view_store store(d.file("views"));
  using serving_type = dataflow::serving_view<std::string, std::uint64_t, std::plus<std::uint64_t>>;
  serving_type serving({});
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> wrong{0}, answers{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 r(t);
      while (!done.load()) {
        const std::string& k = keys[r() % keys.size()];
        dataflow::as_of at;
        const std::uint64_t got = serving.get(k, &at).value_or(0);
        // Every answer is the count over exactly the events ingested when it was taken.
        wrong += got != count_in_first(k, at.events);
        ++answers;
      }
    });
  }
  // A scan of every key answers for one snapshot too: its counts add up to the events ingested.
  std::atomic<std::uint64_t> scans{0};
  readers.emplace_back([&] {
    while (!done.load()) {
      dataflow::as_of at;
      std::uint64_t sum = 0;
      serving.scan("", std::nullopt, [&](const std::string&, std::uint64_t v) { return sum += v, true; }, &at);
      wrong += sum != at.events;
      ++scans;
    }
  });
  std::size_t publishes = 0, not_shrunk = 0;
  {
    dataflow::context stream_ctx(2);
    dataflow::stream_writer<event> w(256);
    auto run = stream_ctx.stream(w)
                   .count_by_key([](const event& e) { return e.first; })
                   .start_batches({.trigger = 1ms, .max_batch_items = 300},
                                  [&](const dataflow::keyed_batch<std::string, std::uint64_t>& b) { serving.add(b); });
    dataflow::speed_mark mark;
    std::uint64_t covered = 0;
    for (std::size_t chunk = 0; chunk < 10; ++chunk) {
      for (std::size_t i = chunk * 2000; i < (chunk + 1) * 2000; ++i) w.push(events[i]);
      w.flush();  // every event pushed is in the speed layer
      if (chunk % 3 == 1) {
        // A recomputation begins: it covers the speed layer up to here, and ingestion goes on.
        mark = serving.mark();
        covered = serving.status().events;
      } else if (chunk % 3 == 2) {
        // It ends: the batch over the events the mark covers, published, trimming the speed layer
        // of them and keeping what came since.
        const std::vector<event> prefix(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(covered));
        dataflow::write_view(batch_ctx.from(prefix).map([](const event& e) { return e.first; }).count_by_value(),
                             store, "counts", std::to_string(covered) + " events", mark.sequence);
        const auto before = serving.status();
        serving.publish(store.open_latest<std::string, std::uint64_t>("counts"));
        const auto after = serving.status();
        ++publishes;
        not_shrunk += !(after.speed_keys < before.speed_keys && after.speed_keys > 0 && after.buckets == 1);
        CHECK(after.view_cutoff == mark.sequence);
        CHECK(after.events == before.events);
      }
    }
    w.close();
    run.wait();
  }
  while (answers.load() < 1000 || scans.load() < 10) std::this_thread::yield();
  done = true;
  for (auto& t : readers) t.join();
  CHECK(publishes == 3);
  CHECK(not_shrunk == 0);
  CHECK(wrong.load() == 0);
  std::size_t final_wrong = 0;
  for (const std::string& k : keys) final_wrong += serving.get(k) != std::optional<std::uint64_t>(count_in_first(k, events.size()));
  CHECK(final_wrong == 0);
}
