// Keyed state without windows (count_by_key, reduce_by_key, distinct, a time to live) and early
// updates of windows, against sequential references on random events and batch sizes.
#include <dataflow/stream.hpp>

#include "../support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// Random (key, value) events; keys skewed (key 0 is hot).
std::vector<std::pair<std::string, std::int64_t>> random_events(std::mt19937_64& rng, std::size_t n, std::size_t keys) {
  std::geometric_distribution<std::size_t> key(0.2);
  std::uniform_int_distribution<std::int64_t> value(-1000, 1000);
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (std::size_t i = 0; i < n; ++i) out.emplace_back("k" + std::to_string(std::min(key(rng), keys - 1)), value(rng));
  return out;
}


}  // namespace

TEST_CASE("streams: count_by_key and reduce_by_key without windows hand on each batch's changed keys",
          "[stream][keyed]") {
  std::mt19937_64 rng(GENERATE(1, 2, 3));
  const std::size_t n = GENERATE(0, 1, 4099);
  const std::size_t keys = GENERATE(1, 50, 100000);
  const auto events = random_events(rng, n, keys);
  std::map<std::string, std::uint64_t> counts;
  std::map<std::string, std::int64_t> maxima;
  for (const auto& [k, v] : events) {
    ++counts[k];
    maxima[k] = maxima.count(k) ? std::max(maxima[k], v) : v;
  }
  dataflow::context ctx(2);
  dataflow::stream_writer<std::pair<std::string, std::int64_t>> w1(97), w2(97);
  std::map<std::string, std::uint64_t> seen_counts;
  std::map<std::string, std::int64_t> seen_maxima;
  std::size_t firsts = 0, not_growing = 0;
  auto counting = ctx.stream(w1)
                      .count_by_key([](const auto& e) { return e.first; })
                      .start({.trigger = 1ms, .max_batch_items = 1 + rng() % 300},
                             [&](const dataflow::key_update<std::string, std::uint64_t>& u) {
                               firsts += u.first;
                               // A count only grows, and each update is a change.
                               auto [it, inserted] = seen_counts.try_emplace(u.key, u.value);
                               if (!inserted) {
                                 not_growing += u.value <= it->second;
                                 it->second = u.value;
                               }
                             });
  dataflow::context ctx2(2);
  auto maxing = ctx2.stream(w2)
                    .reduce_by_key([](std::int64_t a, std::int64_t b) { return std::max(a, b); })
                    .start({.trigger = 1ms, .max_batch_items = 1 + rng() % 300},
                           [&](const dataflow::key_update<std::string, std::int64_t>& u) { seen_maxima[u.key] = u.value; });
  for (const auto& e : events) {
    w1.push(e);
    w2.push(e);
  }
  w1.close();
  w2.close();
  counting.wait();
  maxing.wait();
  CHECK(seen_counts == counts);
  CHECK(seen_maxima == maxima);
  CHECK(firsts == counts.size());
  CHECK(not_growing == 0);
  CHECK(counting.stats().results >= counts.size());
}

TEST_CASE("streams: distinct hands on each key once; with a time to live, again after it", "[stream][keyed]") {
  std::mt19937_64 rng(GENERATE(4, 5));
  const auto events = random_events(rng, GENERATE(0, 1, 3000), 500);
  std::set<std::string> expected;
  for (const auto& e : events) expected.insert(e.first);
  dataflow::context ctx(2);
  dataflow::stream_writer<std::pair<std::string, std::int64_t>> w(61);
  std::multiset<std::string> seen;
  std::size_t not_first = 0;
  auto run = ctx.stream(w)
                 .distinct([](const auto& e) { return e.first; })
                 .start({.trigger = 1ms, .max_batch_items = 1 + rng() % 100},
                        [&](const dataflow::key_update<std::string, std::uint64_t>& u) {
                          not_first += !u.first;
                          seen.insert(u.key);
                        });
  for (const auto& e : events) w.push(e);
  w.close();
  run.wait();
  CHECK(std::set<std::string>(seen.begin(), seen.end()) == expected);
  CHECK(seen.size() == expected.size());
  CHECK(not_first == 0);
}

TEST_CASE("streams: a key's state expires after its time to live", "[stream][keyed]") {
  dataflow::context ctx(2);
  dataflow::stream_writer<std::string> w;
  std::vector<std::pair<std::string, std::uint64_t>> updates;
  std::vector<bool> firsts;
  auto run = ctx.stream(w)
                 .count_by_key([](const std::string& s) { return s; })
                 .time_to_live(1s)
                 .start({.trigger = 5ms}, [&](const dataflow::key_update<std::string, std::uint64_t>& u) {
                   updates.emplace_back(u.key, u.value);
                   firsts.push_back(u.first);
                 });
  w.push("a");
  w.push("a");
  w.push("b");
  w.flush();
  // "b" is kept alive, "a" is not.
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(50ms);
    w.push("b");
    w.flush();
  }
  w.push("a");
  w.close();
  run.wait();
  REQUIRE(!updates.empty());
  CHECK(updates.back() == std::pair<std::string, std::uint64_t>("a", 1));  // started afresh
  CHECK(firsts.back());
  std::uint64_t last_b = 0;
  for (const auto& [k, v] : updates) {
    if (k == "b") last_b = v;
  }
  CHECK(last_b == 31);  // never expired
  CHECK(run.stats().expired_keys >= 1);
}

TEST_CASE("streams: early updates of windows come before the final result, which equals the batch count",
          "[stream][keyed]") {
  std::mt19937_64 rng(GENERATE(6, 7));
  dataflow::context ctx(2);
  dataflow::stream_writer<std::pair<std::int64_t, std::string>> w(50);
  std::map<std::pair<std::int64_t, std::string>, std::uint64_t> expected, finals, early_last;
  std::map<std::pair<std::int64_t, std::string>, std::uint32_t> early_count;
  std::size_t bad_order = 0, bad_revision = 0;
  std::vector<std::pair<std::int64_t, std::string>> events;
  for (int i = 0; i < 3000; ++i) {
    events.emplace_back(i * 10 + static_cast<std::int64_t>(rng() % 100), "u" + std::to_string(rng() % 4));
    ++expected[{events.back().first / 1000 * 1000, events.back().second}];
  }
  auto run = ctx.stream(w)
                 .with_event_time([](const auto& e) { return e.first; }, 100ms)
                 .window(dataflow::tumbling(1s))
                 .early_updates()
                 .count_by_key([](const auto& e) { return e.second; })
                 .start({.trigger = 1ms, .max_batch_items = 37},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) {
                          const std::pair<std::int64_t, std::string> k{r.start, r.key};
                          if (!r.final) {
                            bad_order += finals.count(k);
                            bad_revision += r.revision != early_count[k];
                            ++early_count[k];
                            early_last[k] = r.value;
                          } else {
                            bad_revision += r.revision != early_count[k];
                            finals[k] = r.value;
                          }
                        });
  for (const auto& e : events) w.push(e);
  w.close();
  run.wait();
  CHECK(finals == expected);
  CHECK(bad_order == 0);
  CHECK(bad_revision == 0);
  for (const auto& [k, v] : early_last) CHECK(v <= expected[k]);
  CHECK(early_count.size() == expected.size());  // every window had an early update
}

TEST_CASE("streams: keyed state resumes from a checkpoint, counting each line once", "[stream][keyed]") {
  test::temp_dir d;
  const auto log = d.path() / "log.txt";
  std::mt19937_64 rng(8);
  std::map<std::string, std::uint64_t> expected, seen;
  auto append = [&](std::size_t n) {
    std::ofstream out(log, std::ios::app);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string k = "key" + std::to_string(rng() % 300);
      out << k << '\n';
      ++expected[k];
    }
  };
  auto follow = [&] {
    dataflow::context ctx(2);
    auto run = ctx.stream(dataflow::follow_lines(log.string(), {.end_when_idle = 200ms, .read_bytes = 1000}))
                   .count_by_key([](std::string_view line) { return line; })
                   .start({.trigger = 2ms, .max_batch_items = 100, .checkpoint_dir = (d.path() / "state").string(),
                           .checkpoint_every = 1ms},
                          [&](const dataflow::key_update<std::string, std::uint64_t>& u) { seen[u.key] = u.value; });
    run.wait();
  };
  append(5000);
  follow();
  append(3000);
  follow();
  CHECK(seen == expected);
}
