// A stream's state under a memory budget small enough that it spills: windows, keyed state,
// distinct, early updates, late updates of closed windows and checkpoints give the same results
// as sequential references, and a failing spill stops the stream with an error naming it.
#include <dataflow/stream.hpp>

#include "../support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
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

constexpr std::size_t budget = 1 << 20;  // the state's share is half of it: a few thousand keys

using event = std::pair<std::int64_t, std::string>;  // (event time ms, key)
using window_key = std::pair<std::int64_t, std::string>;

/// Events over `keys` keys (skewed: low numbers are hot) with times in [0, span), in order of
/// time but for a jitter below `delay`.
std::vector<event> random_events(std::mt19937_64& rng, std::size_t n, std::size_t keys, std::int64_t span,
                                 std::int64_t delay) {
  std::vector<std::pair<std::int64_t, event>> keyed;
  std::uniform_int_distribution<std::int64_t> time(0, span - 1), jitter(0, delay - 1);
  std::uniform_int_distribution<std::size_t> uniform(0, keys - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = rng() % 4 == 0 ? uniform(rng) % 10 : uniform(rng);
    const std::int64_t t = time(rng);
    keyed.emplace_back(t + jitter(rng), event{t, "key-" + std::to_string(k)});
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<event> out;
  for (auto& [at, e] : keyed) out.push_back(std::move(e));
  return out;
}

std::map<window_key, std::uint64_t> window_counts(const std::vector<event>& events, std::int64_t size) {
  std::map<window_key, std::uint64_t> out;
  for (const auto& [t, k] : events) ++out[{t / size * size, k}];
  return out;
}

/// Waits until the stream's watermark reaches `at` (or fails the test after 20 s).
template <class Run>
void wait_for_watermark(const Run& run, std::int64_t at) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (run.stats().watermark < at && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
  REQUIRE(run.stats().watermark >= at);
}

}  // namespace

TEST_CASE("stream state: windows that spill give the counts of a sequential reference", "[stream][spill]") {
  std::mt19937_64 rng(GENERATE(1, 2));
  const std::size_t keys = GENERATE(1, 20000);
  const auto events = random_events(rng, 60000, keys, 3000, 50);
  dataflow::context ctx(2);
  ctx.memory_budget(budget);
  dataflow::stream_writer<event> w(4096);
  std::map<window_key, std::uint64_t> finals;
  std::size_t duplicates = 0;
  auto run = ctx.stream(w)
                 .with_event_time([](const event& e) { return e.first; }, 100ms)
                 .window(dataflow::tumbling(1s))
                 .count_by_key([](const event& e) { return e.second; })
                 .start({.trigger = 2ms, .max_batch_items = 1000 + rng() % 3000},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) {
                          duplicates += !finals.emplace(window_key{r.start, r.key}, r.value).second;
                        });
  for (const event& e : events) w.push(e);
  w.close();
  run.wait();
  CHECK(duplicates == 0);
  CHECK(finals == window_counts(events, 1000));
  const auto s = run.stats();
  if (keys > 1) CHECK(s.state_spills > 0);
  CHECK(s.open_windows == 0);  // every window closed at the end
}

TEST_CASE("stream state: late events update closed windows that spilled", "[stream][spill]") {
  std::mt19937_64 rng(3);
  const auto early = random_events(rng, 40000, 8000, 10000, 50);
  const auto late = random_events(rng, 5000, 8000, 10000, 50);
  dataflow::context ctx(2);
  ctx.memory_budget(budget);
  dataflow::stream_writer<event> w(4096);
  std::map<window_key, std::uint64_t> latest;
  std::map<window_key, std::uint32_t> revisions;
  std::size_t bad_revision = 0;
  auto run = ctx.stream(w)
                 .with_event_time([](const event& e) { return e.first; }, 100ms)
                 .window(dataflow::tumbling(1s))
                 .allowed_lateness(1h)
                 .count_by_key([](const event& e) { return e.second; })
                 .start({.trigger = 2ms, .max_batch_items = 2000},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) {
                          const window_key k{r.start, r.key};
                          auto [it, first] = revisions.try_emplace(k, r.revision);
                          bad_revision += first ? r.revision != 0 : r.revision != it->second + 1;
                          it->second = r.revision;
                          latest[k] = r.value;
                        });
  for (const event& e : early) w.push(e);
  w.push({20000, "key-0"});  // every window of the early events closes
  wait_for_watermark(run, 19000);
  const auto closed_at = run.stats();
  for (const event& e : late) w.push(e);  // late, but within the lateness
  w.close();
  run.wait();
  std::vector<event> all = early;
  all.insert(all.end(), late.begin(), late.end());
  all.push_back({20000, "key-0"});
  CHECK(latest == window_counts(all, 1000));
  CHECK(bad_revision == 0);
  CHECK(closed_at.state_spills > 0);
  CHECK(run.stats().late_events == 0);
  // A key that late events reached was handed on twice at least.
  std::size_t revised = 0;
  for (const auto& [k, r] : revisions) revised += r > 0;
  CHECK(revised > 0);
}

TEST_CASE("stream state: keyed counts and distinct that spill hand on whole values", "[stream][spill]") {
  std::mt19937_64 rng(GENERATE(4, 5));
  const auto events = random_events(rng, GENERATE(1, 50000), 30000, 1000, 1);
  std::map<std::string, std::uint64_t> counts;
  for (const auto& [t, k] : events) ++counts[k];
  dataflow::context ctx(2), ctx2(2);
  ctx.memory_budget(budget);
  ctx2.memory_budget(budget);
  dataflow::stream_writer<event> w1(4096), w2(4096);
  std::map<std::string, std::uint64_t> seen;
  std::size_t firsts = 0, not_growing = 0, distinct_again = 0;
  std::set<std::string> distinct;
  auto counting = ctx.stream(w1)
                      .count_by_key([](const event& e) { return e.second; })
                      .start({.trigger = 2ms, .max_batch_items = 500 + rng() % 3000},
                             [&](const dataflow::key_update<std::string, std::uint64_t>& u) {
                               firsts += u.first;
                               auto [it, inserted] = seen.try_emplace(u.key, u.value);
                               if (!inserted) {
                                 not_growing += u.value <= it->second;
                                 it->second = u.value;
                               }
                             });
  auto distinct_run = ctx2.stream(w2)
                          .distinct([](const event& e) { return e.second; })
                          .start({.trigger = 2ms, .max_batch_items = 500 + rng() % 3000},
                                 [&](const dataflow::key_update<std::string, std::uint64_t>& u) {
                                   distinct_again += !distinct.insert(u.key).second || !u.first;
                                 });
  for (const event& e : events) {
    w1.push(e);
    w2.push(e);
  }
  w1.close();
  w2.close();
  counting.wait();
  distinct_run.wait();
  CHECK(seen == counts);
  CHECK(firsts == counts.size());
  CHECK(not_growing == 0);
  CHECK(distinct.size() == counts.size());
  CHECK(distinct_again == 0);
  if (events.size() > 1) {
    CHECK(counting.stats().state_spills > 0);
    CHECK(distinct_run.stats().state_spills > 0);
  }
}

TEST_CASE("stream state: values that own memory combine whole across spills", "[stream][spill]") {
  // The largest of each key's words: a value with heap memory, an operator that notices a value
  // lost or combined with an emptied one.
  std::mt19937_64 rng(GENERATE(9, 10));
  const auto events = random_events(rng, 40000, 15000, 3000, 20);
  auto word = [](const event& e) {
    return "word-" + std::to_string(static_cast<std::uint64_t>(e.first) * 2654435761u % 100003u) + "-with-heap-memory";
  };
  auto longest = [](const std::string& a, const std::string& b) { return std::max(a, b); };
  std::map<std::string, std::string> keyed_expected;
  std::map<window_key, std::string> window_expected;
  for (const event& e : events) {
    auto& k = keyed_expected[e.second];
    k = std::max(k, word(e));
    auto& w = window_expected[{e.first / 1000 * 1000, e.second}];
    w = std::max(w, word(e));
  }
  dataflow::context ctx(2), ctx2(2);
  ctx.memory_budget(budget / 4);  // spills often enough to merge runs
  ctx2.memory_budget(budget);
  dataflow::stream_writer<event> w1(4096), w2(4096);
  std::map<std::string, std::string> keyed_seen;
  std::map<window_key, std::string> window_seen;
  auto keyed = ctx.stream(w1)
                   .reduce_by([](const event& e) { return e.second; }, word, longest)
                   .start({.trigger = 2ms, .max_batch_items = 2000},
                          [&](const dataflow::key_update<std::string, std::string>& u) { keyed_seen[u.key] = u.value; });
  auto windowed = ctx2.stream(w2)
                      .with_event_time([](const event& e) { return e.first; }, 50ms)
                      .window(dataflow::tumbling(1s))
                      .reduce_by([](const event& e) { return e.second; }, word, longest)
                      .start({.trigger = 2ms, .max_batch_items = 2000},
                             [&](const dataflow::window_result<std::string, std::string>& r) {
                               window_seen[{r.start, r.key}] = r.value;
                             });
  for (const event& e : events) {
    w1.push(e);
    w2.push(e);
  }
  w1.close();
  w2.close();
  keyed.wait();
  windowed.wait();
  CHECK(keyed_seen == keyed_expected);
  CHECK(window_seen == window_expected);
  CHECK(keyed.stats().state_spills > dataflow::detail::state_table<std::string, std::string, std::hash<std::string>>::max_runs);
  CHECK(windowed.stats().state_spills > 0);
}

TEST_CASE("stream state: early updates of windows that spill count on from the disk", "[stream][spill]") {
  std::mt19937_64 rng(6);
  const auto events = random_events(rng, 40000, 20000, 2000, 20);
  const auto expected = window_counts(events, 1000);
  dataflow::context ctx(2);
  ctx.memory_budget(budget);
  dataflow::stream_writer<event> w(4096);
  std::map<window_key, std::uint64_t> finals, early_last;
  std::size_t shrinking = 0;
  auto run = ctx.stream(w)
                 .with_event_time([](const event& e) { return e.first; }, 50ms)
                 .window(dataflow::tumbling(1s))
                 .early_updates()
                 .count_by_key([](const event& e) { return e.second; })
                 .start({.trigger = 2ms, .max_batch_items = 1500},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) {
                          const window_key k{r.start, r.key};
                          auto& last = early_last[k];
                          shrinking += r.value < last;
                          last = r.value;
                          if (r.final) finals[k] = r.value;
                        });
  for (const event& e : events) w.push(e);
  w.close();
  run.wait();
  CHECK(finals == expected);
  CHECK(shrinking == 0);
  CHECK(run.stats().state_spills > 0);
}

TEST_CASE("stream state: a checkpoint of spilled state restores under the budget", "[stream][spill]") {
  const bool windows = GENERATE(false, true);
  test::temp_dir d;
  const auto log = d.path() / "log.txt";
  std::mt19937_64 rng(7);
  std::map<std::string, std::uint64_t> expected, seen;
  auto append = [&](std::size_t n, std::int64_t from) {
    std::ofstream out(log, std::ios::app);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string k = "a-key-long-enough-for-the-heap-" + std::to_string(rng() % 40000);
      out << from + static_cast<std::int64_t>(i) << ' ' << k << '\n';
      ++expected[k];
    }
  };
  auto key_of = [](std::string_view line) { return std::string(line.substr(line.find(' ') + 1)); };
  std::vector<dataflow::stream_stats> stats;
  auto follow = [&] {
    dataflow::context ctx(2);
    ctx.memory_budget(budget);
    auto source = dataflow::follow_lines(log.string(), {.end_when_idle = 200ms, .read_bytes = 64 * 1024});
    const dataflow::stream_options options{.trigger = 2ms, .max_batch_items = 3000,
                                           .checkpoint_dir = (d.path() / "state").string(), .checkpoint_every = 5ms};
    if (windows) {
      // One window for everything: its counts are the keys' counts.
      auto run = ctx.stream(std::move(source))
                     .with_event_time([](std::string_view line) { return std::stoll(std::string(line.substr(0, line.find(' ')))); }, 1s)
                     .window(dataflow::tumbling(std::chrono::hours(24)))
                     .count_by_key(key_of)
                     .start(options, [&](const dataflow::window_result<std::string, std::uint64_t>& r) { seen[r.key] = r.value; });
      run.wait();
      stats.push_back(run.stats());
    } else {
      auto run = ctx.stream(std::move(source))
                     .count_by_key(key_of)
                     .start(options, [&](const dataflow::key_update<std::string, std::uint64_t>& u) { seen[u.key] = u.value; });
      run.wait();
      stats.push_back(run.stats());
    }
  };
  append(40000, 0);
  follow();
  {
    // Every key once more: each one's count shows whether the restore kept it.
    std::ofstream out(log, std::ios::app);
    for (std::int64_t i = 0; i < 40000; ++i) {
      const std::string k = "a-key-long-enough-for-the-heap-" + std::to_string(i);
      out << 40000 + i << ' ' << k << '\n';
      ++expected[k];
    }
  }
  follow();
  CHECK(seen == expected);
  REQUIRE(stats.size() == 2);
  CHECK(stats[1].restored);
  CHECK(stats[0].state_spills > 0);
  CHECK(stats[1].state_spills > 0);
  CHECK(stats[0].checkpoint_bytes > dataflow::detail::checkpoint_writer::frame_bytes);  // more than one frame
}

TEST_CASE("stream state: a spill that fails stops the stream with an error naming it", "[stream][spill]") {
  dataflow::context ctx(2);
  ctx.memory_budget(budget);
  dataflow::stream_writer<event> w(4096);
  auto run = ctx.stream(w)
                 .count_by_key([](const event& e) { return e.second; })
                 .start({.trigger = 2ms, .max_batch_items = 200},  // too few for a batch to spill
                        [](const dataflow::key_update<std::string, std::uint64_t>&) {});
  dataflow::detail::spill_write_failure_countdown.store(1);
  try {
    for (int i = 0; i < 100000; ++i) w.push({i, "key-" + std::to_string(i)});
    w.close();
  } catch (const dataflow::usage_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("the stream has ended"));  // it failed while we pushed
  }
  dataflow::detail::spill_write_failure_countdown.store(0);
  try {
    run.wait();
    FAIL("the stream ended without an error");
  } catch (const dataflow::error& e) {
    CHECK_THAT(e.what(), Catch::Contains("(state)"));
  }
}

TEST_CASE("stream checkpoints: one in an older format is refused by name", "[stream][spill]") {
  test::temp_dir d;
  const auto dir = d.path() / "state" / "checkpoint-000000000001";
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "state", std::ios::binary);
    out << "dataflow checkpoint 1\n" << std::string(12, '\0');
  }
  dataflow::detail::checkpoint_store store((d.path() / "state").string(), 3);
  try {
    store.open_latest();
    FAIL("an old checkpoint was read");
  } catch (const dataflow::io_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("format 1") && Catch::Contains((dir / "state").string()));
  }
}
