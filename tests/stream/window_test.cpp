// Windowed aggregations over streams, against a batch computation of the same windows over the
// same events: random events, random batch sizes, arrival out of order within the delay.
#include <dataflow/stream.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct click {
  std::int64_t ms;
  std::string url;
};

using window_key = std::pair<std::int64_t, std::string>;  // (window start, url)

/// Counts per (window start, url), sequentially.
std::map<window_key, std::uint64_t> reference_counts(const std::vector<click>& events,
                                                     dataflow::window_spec spec) {
  std::map<window_key, std::uint64_t> out;
  for (const click& c : events) {
    dataflow::detail::for_each_window(spec, c.ms, [&](std::int64_t s) { ++out[{s, c.url}]; });
  }
  return out;
}

/// Events with times in [0, span) over `keys` urls (skewed: url 0 is hot), in an arrival order
/// that is out of order by less than `delay`.
std::vector<click> disordered_events(std::mt19937_64& rng, std::size_t n, std::int64_t span,
                                     std::size_t keys, std::int64_t delay) {
  std::vector<std::pair<std::int64_t, click>> keyed;
  std::uniform_int_distribution<std::int64_t> time(0, span - 1);
  std::uniform_int_distribution<std::int64_t> jitter(0, std::max<std::int64_t>(delay - 1, 0));
  std::geometric_distribution<std::size_t> key(0.3);
  for (std::size_t i = 0; i < n; ++i) {
    click c{time(rng), "/page/" + std::to_string(std::min(key(rng), keys - 1))};
    keyed.emplace_back(c.ms + jitter(rng), c);
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<click> out;
  for (auto& [k, c] : keyed) out.push_back(std::move(c));
  return out;
}

struct collected {
  std::mutex m;
  std::map<window_key, std::uint64_t> finals;     // revision 0
  std::map<window_key, std::uint64_t> latest;     // the last revision
  std::map<window_key, std::uint32_t> revisions;  // the last revision number
  std::size_t duplicates = 0;                     // a revision 0 seen twice
  void add(const dataflow::window_result<std::string, std::uint64_t>& r) {
    std::lock_guard lock(m);
    window_key k{r.start, r.key};
    if (r.revision == 0 && !finals.emplace(k, r.value).second) ++duplicates;
    latest[k] = r.value;
    revisions[k] = r.revision;
  }
};

/// Streams `events` through a windowed count and returns what came out.
void run_counts(const std::vector<click>& events, dataflow::window_spec spec, std::int64_t delay,
                std::size_t max_batch, collected& out, std::uint64_t* late = nullptr) {
  dataflow::context ctx(2);
  dataflow::stream_writer<click> writer(1024);
  auto run = ctx.stream(writer)
                 .with_event_time([](const click& c) { return c.ms; }, std::chrono::milliseconds(delay))
                 .window(spec)
                 .count_by_key([](const click& c) { return std::string_view(c.url); })
                 .start({.trigger = 5ms, .max_batch_items = max_batch},
                        [&](const auto& r) { out.add(r); });
  for (const click& c : events) writer.push(c);
  writer.close();
  run.wait();
  REQUIRE(run.finished());
  if (late) *late = run.stats().late_events;
}

}  // namespace

namespace {

/// Streams events disordered within the delay and checks every window against the batch.
void check_equals_batch(const std::vector<click>& events, dataflow::window_spec spec, std::int64_t delay,
                        std::size_t max_batch) {
  collected out;
  std::uint64_t late = 99;
  run_counts(events, spec, delay, max_batch, out, &late);
  CHECK(late == 0);
  CHECK(out.duplicates == 0);
  CHECK(out.finals == reference_counts(events, spec));
  CHECK(out.latest == out.finals);  // no late events: no revisions
}

}  // namespace

TEST_CASE("stream: tumbling window counts equal the batch counts", "[stream]") {
  std::mt19937_64 rng(GENERATE(1, 2, 3));
  const std::int64_t delay = 500;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{997}, std::size_t{20000}}) {
    const auto events = disordered_events(rng, n, 60000, 40, delay);
    const std::size_t max_batch = 1 + rng() % 3000;
    check_equals_batch(events, dataflow::tumbling(std::chrono::milliseconds(1000 + rng() % 5000)), delay, max_batch);
  }
}

TEST_CASE("stream: sliding window counts equal the batch counts", "[stream]") {
  std::mt19937_64 rng(GENERATE(4, 5));
  const std::int64_t delay = 2000;
  const auto events = disordered_events(rng, 15000, 100000, 25, delay);
  // A size that is not a multiple of the step.
  check_equals_batch(events, dataflow::sliding(10s, 3s), delay, 1 + rng() % 2000);
}

TEST_CASE("stream: late events are counted and handed on, within the lateness they update", "[stream]") {
  dataflow::context ctx(2);
  dataflow::stream_writer<click> writer;
  collected out;
  std::atomic<std::uint64_t> handed{0};
  const auto spec = dataflow::tumbling(1s);
  auto run = ctx.stream(writer)
                 .with_event_time([](const click& c) { return c.ms; }, 100ms)
                 .window(spec)
                 .allowed_lateness(5s)
                 .on_late([&](const click&) { handed.fetch_add(1); })
                 .count_by_key([](const click& c) { return c.url; })
                 .start({.trigger = 2ms}, [&](const auto& r) { out.add(r); });
  std::vector<click> events;
  for (std::int64_t t = 0; t < 20000; t += 7) events.push_back({t, t % 3 == 0 ? "/a" : "/b"});
  for (const click& c : events) writer.push(c);
  writer.flush();  // processed: the watermark is 19999 - 100
  REQUIRE(run.stats().watermark == 19899);

  // Within the lateness (window [16000, 17000) ended less than 5 s before the watermark): an
  // update, handed on as revision 1. Beyond it ([1000, 2000)): late, counted, not counted in.
  std::vector<click> within{{16500, "/a"}, {16999, "/a"}}, beyond{{1500, "/a"}, {1200, "/b"}, {13000, "/b"}};
  for (const click& c : within) writer.push(c);
  for (const click& c : beyond) writer.push(c);
  writer.close();
  run.wait();

  CHECK(run.stats().late_events == beyond.size());
  CHECK(handed.load() == beyond.size());
  CHECK(out.finals == reference_counts(events, spec));
  auto with_updates = events;
  with_updates.insert(with_updates.end(), within.begin(), within.end());
  CHECK(out.latest == reference_counts(with_updates, spec));
  CHECK(out.revisions.at({16000, "/a"}) >= 1);  // one update per batch the two came in
  CHECK(out.duplicates == 0);
}

TEST_CASE("stream: reduce_by and reduce_by_key sum each key per window", "[stream]") {
  struct sale {
    std::int64_t ms;
    std::int64_t shop;
    std::int64_t amount;
  };
  std::mt19937_64 rng(9);
  dataflow::context ctx(2);
  dataflow::stream_writer<sale> writer;
  std::mutex m;
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> by_shop, by_time;  // (start, key) -> sum
  auto sales = ctx.stream(writer).filter([](const sale& s) { return s.amount != 0; });
  auto per_shop = sales.with_event_time([](const sale& s) { return std::chrono::milliseconds(s.ms); }, 0ms)
                      .window(dataflow::tumbling(250ms))
                      .reduce_by([](const sale& s) { return s.shop; }, [](const sale& s) { return s.amount; },
                                 std::plus<>{})
                      .start({.trigger = 1ms, .max_batch_items = 37}, [&](const auto& r) {
                        std::lock_guard lock(m);
                        by_shop[{r.start, r.key}] += r.value;
                      });
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> want_shop, want_time;
  for (std::int64_t t = 0; t < 5000; ++t) {  // in order: no delay needed
    const sale s{t / 3, static_cast<std::int64_t>(rng() % 5), static_cast<std::int64_t>(rng() % 1000) - 300};
    writer.push(s);
    if (s.amount != 0) want_shop[{s.ms / 250 * 250, s.shop}] += s.amount;
    if (s.amount != 0) want_time[{s.ms / 100 * 100, s.ms}] += s.amount;
  }
  writer.close();
  per_shop.wait();
  CHECK(by_shop == want_shop);

  // The same sales as (time, amount) pairs, summed per time within windows of 100 ms.
  dataflow::stream_writer<sale> again;
  auto per_time = ctx.stream(again)
                      .filter([](const sale& s) { return s.amount != 0; })
                      .map([](const sale& s) { return std::pair{s.ms, s.amount}; })
                      .with_event_time([](const auto& p) { return p.first; }, 0ms)
                      .window(dataflow::tumbling(100ms))
                      .reduce_by_key(std::plus<>{})
                      .start({.trigger = 1ms}, [&](const auto& r) {
                        std::lock_guard lock(m);
                        by_time[{r.start, r.key}] += r.value;
                      });
  std::mt19937_64 rng2(9);
  for (std::int64_t t = 0; t < 5000; ++t) {
    again.push({t / 3, static_cast<std::int64_t>(rng2() % 5), static_cast<std::int64_t>(rng2() % 1000) - 300});
  }
  again.close();
  per_time.wait();
  CHECK(by_time == want_time);
}

TEST_CASE("stream: a user function that throws ends the stream with the error", "[stream]") {
  dataflow::context ctx(2);
  dataflow::stream_writer<int> writer;
  auto run = ctx.stream(writer)
                 .map([](int x) {
                   if (x == 500) throw std::runtime_error("bad event 500");
                   return x;
                 })
                 .with_event_time([](int x) { return std::int64_t{x}; }, 0ms)
                 .window(dataflow::tumbling(10ms))
                 .count_by_key([](int x) { return x % 2; })
                 .start({.trigger = 1ms}, [](const auto&) {});
  // The stream fails at item 500; the writer's pushes then fail or are dropped, never hang.
  try {
    for (int i = 0; i < 1000; ++i) writer.push(i);
  } catch (const dataflow::usage_error&) {
  }
  writer.close();
  CHECK_THROWS_WITH(run.wait(), Catch::Contains("bad event 500"));
  CHECK(run.finished());
}

TEST_CASE("stream: an event time out of range ends the stream with an error naming it", "[stream]") {
  dataflow::context ctx(1);
  dataflow::stream_writer<std::int64_t> writer;
  auto run = ctx.stream(writer)
                 .with_event_time([](std::int64_t t) { return t; }, 1h)
                 .window(dataflow::sliding(2h, 1h))
                 .count_by_key([](std::int64_t) { return 0; })
                 .start({.trigger = 1ms}, [](const auto&) {});
  writer.push(1000);
  writer.push(std::numeric_limits<std::int64_t>::max());
  writer.close();
  CHECK_THROWS_WITH(run.wait(), Catch::Contains("event time 9223372036854775807 ms is out of range"));
  CHECK_THROWS_AS(dataflow::tumbling(std::chrono::milliseconds::max()), dataflow::usage_error);
}

TEST_CASE("stream: stop ends a stream whose source stays open", "[stream]") {
  dataflow::context ctx(1);
  dataflow::stream_writer<int> writer;
  std::atomic<int> results{0};
  auto run = ctx.stream(writer)
                 .with_event_time([](int x) { return std::int64_t{x}; }, 0ms)
                 .window(dataflow::tumbling(10ms))
                 .count_by_key([](int) { return 0; })
                 .start({.trigger = 1ms}, [&](const auto&) { results.fetch_add(1); });
  for (int i = 0; i < 100; ++i) writer.push(i);
  writer.flush();
  run.stop();
  CHECK(run.finished());
  CHECK(run.stats().events_in == 100);
  CHECK(results.load() == 9);  // windows [0, 10) ... [80, 90) closed; [90, 100) stays open
}

TEST_CASE("stream: misuse is a usage_error", "[stream]") {
  dataflow::context ctx(1);
  dataflow::stream_writer<int> writer;
  CHECK_THROWS_AS(dataflow::tumbling(0ms), dataflow::usage_error);
  CHECK_THROWS_AS(dataflow::sliding(1s, -1ms), dataflow::usage_error);
  CHECK_THROWS_AS(dataflow::stream_writer<int>(0), dataflow::usage_error);
  auto windows = ctx.stream(writer)
                     .with_event_time([](int x) { return std::int64_t{x}; }, 0ms)
                     .window(dataflow::tumbling(10ms))
                     .count_by_key([](int) { return 0; });
  // A stream_writer cannot resume: checkpoints are refused before the stream starts.
  CHECK_THROWS_WITH(windows.start({.checkpoint_dir = "unused"}, [](const auto&) {}),
                    Catch::Contains("cannot resume from a checkpoint"));
  auto run = windows.start({}, [](const auto&) {});
  CHECK_THROWS_AS(windows.start({}, [](const auto&) {}), dataflow::usage_error);
  // One stream per context at a time: its batches are the context's actions.
  dataflow::stream_writer<int> other;
  auto second = ctx.stream(other)
                    .with_event_time([](int x) { return std::int64_t{x}; }, 0ms)
                    .window(dataflow::tumbling(10ms))
                    .count_by_key([](int) { return 0; });
  CHECK_THROWS_WITH(second.start({}, [](const auto&) {}), Catch::Contains("another stream is running"));
  writer.close();
  run.wait();
  auto later = second.start({}, [](const auto&) {});  // the context is free again
  other.close();
  later.wait();
  CHECK_THROWS_AS(writer.push(1), dataflow::usage_error);
}

TEST_CASE("stream: a batch action on the stream's context is refused, and the stream goes on", "[stream]") {
  dataflow::context ctx(2);
  dataflow::stream_writer<int> writer;
  std::map<std::int64_t, std::uint64_t> counts;  // per window start
  std::uint64_t from_callback = 0;
  auto run = ctx.stream(writer)
                 .with_event_time([](int x) { return std::int64_t{x}; }, 0ms)
                 .window(dataflow::tumbling(10ms))
                 .count_by_key([](int) { return 0; })
                 .start({.trigger = 1ms}, [&](const dataflow::window_result<int, std::uint64_t>& r) {
                   counts[r.start] += r.value;
                   // The stream's own thread may run actions on its context between batches.
                   if (from_callback == 0) from_callback = ctx.from(std::vector<int>{1, 2, 3}).count();
                 });
  for (int i = 0; i < 50; ++i) writer.push(i);
  writer.flush();
  const std::vector<int> v(1000, 1);
  for (int i = 0; i < 20; ++i) {
    CHECK_THROWS_WITH(ctx.from(v).count(), Catch::Contains("a stream runs"));
  }
  for (int i = 50; i < 100; ++i) writer.push(i);
  writer.close();
  run.wait();
  std::uint64_t total = 0;
  for (const auto& [start, n] : counts) total += n;
  CHECK(total == 100);
  CHECK(counts.size() == 10);
  CHECK(from_callback == 3);
  CHECK(ctx.from(v).count() == 1000);  // free again
}
