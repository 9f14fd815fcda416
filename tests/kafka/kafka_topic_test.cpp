// kafka_topic against librdkafka's mock cluster: the topic is made and filled by a real producer,
// and a stream counts its messages per window; the counts must equal a sequential count of the
// same messages, across a restart from a checkpoint too.
#include <dataflow/kafka.hpp>
#include <dataflow/stream.hpp>

#include "../support/kafka_mock.hpp"
#include "clickstream.hpp"

#include "../support/test_support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using counts = std::map<std::pair<std::int64_t, std::string>, std::uint64_t>;

struct produced {
  std::vector<std::pair<std::int32_t, std::string>> messages;  // (partition, value)
  counts per_minute;                                           // the sequential reference
};

/// Random clicks over `minutes` minutes, out of order by up to 5 s, over `partitions`
/// partitions (partition 0 skewed: it gets half of them).
produced random_clicks(std::mt19937_64& rng, std::size_t n, int partitions, std::int64_t first_ms = 1'700'000'000'000) {
  produced out;
  std::uniform_int_distribution<std::int64_t> jitter(0, 4999);
  std::geometric_distribution<int> url(0.3);
  std::uniform_int_distribution<int> part(0, partitions - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t ms = first_ms + static_cast<std::int64_t>(i) * 37 - jitter(rng);
    const std::string u = "/page/" + std::to_string(url(rng));
    const std::int32_t p = rng() % 2 == 0 ? 0 : part(rng);
    out.messages.emplace_back(p, std::to_string(ms) + " user" + std::to_string(rng() % 50) + " " + u);
    ++out.per_minute[{ms / 60000 * 60000, u}];
  }
  return out;
}

/// Counts per (minute, url) of the topic, through a stream; each window's last revision.
counts stream_counts(const std::string& brokers, const std::string& topic, const std::string& state_dir = {},
                     std::vector<std::int32_t> partitions = {}) {
  dataflow::context ctx(2);
  counts out;
  auto run = ctx.stream(dataflow::kafka_topic({.brokers = brokers,
                                               .topic = topic,
                                               .partitions = std::move(partitions),
                                               .end_when_idle = 3000ms,
                                               // Not the mock brokers' warnings about topic creation.
                                               .config = {{"log_level", "3"}}}))
                 .map([](std::string_view v) { return examples::parse_click(v); })
                 .with_event_time([](const examples::click& c) { return c.ms; }, 10s)
                 .window(dataflow::tumbling(1min))
                 .count_by_key([](const examples::click& c) { return c.url; })
                 .start({.trigger = 50ms, .checkpoint_dir = state_dir, .checkpoint_every = 100ms},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) {
                          out[{r.start, r.key}] = r.value;
                        });
  run.wait();
  return out;
}


}  // namespace

TEST_CASE("kafka_topic: windowed counts over a topic equal a sequential count", "[kafka]") {
  std::mt19937_64 rng(GENERATE(1, 2));
  const int partitions = GENERATE(1, 3);
  const std::size_t n = GENERATE(0, 1, 5001);
  test::kafka_mock kafka;
  kafka.create_topic("clicks", partitions);
  const produced p = random_clicks(rng, n, partitions);
  for (const auto& [part, value] : p.messages) kafka.produce("clicks", part, value);
  kafka.flush();
  CHECK(stream_counts(kafka.brokers(), "clicks") == p.per_minute);
}

TEST_CASE("kafka_topic: named partitions only", "[kafka]") {
  std::mt19937_64 rng(7);
  test::kafka_mock kafka;
  kafka.create_topic("clicks", 4);
  const produced p = random_clicks(rng, 3000, 4);
  counts expected;
  for (const auto& [part, value] : p.messages) {
    kafka.produce("clicks", part, value);
    if (part == 1 || part == 3) {
      const auto c = examples::parse_click(value);
      ++expected[{c.ms / 60000 * 60000, std::string(c.url)}];
    }
  }
  kafka.flush();
  CHECK(stream_counts(kafka.brokers(), "clicks", {}, {1, 3}) == expected);
}

TEST_CASE("kafka_topic: a restart resumes from the checkpoint's offsets, counting each message once", "[kafka]") {
  std::mt19937_64 rng(GENERATE(3, 4));
  test::kafka_mock kafka;
  kafka.create_topic("clicks", 3);
  test::temp_dir state;
  // Two halves: the first run ends (idle) after the first; the second run resumes after it.
  const produced first = random_clicks(rng, 4000, 3);
  const produced second = random_clicks(rng, 3000, 3, 1'700'000'000'000 + 4000 * 37 - 20000);
  for (const auto& [part, value] : first.messages) kafka.produce("clicks", part, value);
  kafka.flush();
  counts seen = stream_counts(kafka.brokers(), "clicks", state.path().string());
  for (const auto& [part, value] : second.messages) kafka.produce("clicks", part, value);
  kafka.flush();
  for (const auto& [k, v] : stream_counts(kafka.brokers(), "clicks", state.path().string())) seen[k] = v;
  counts all = first.per_minute;
  for (const auto& [k, v] : second.per_minute) all[k] += v;
  CHECK(seen == all);
}

TEST_CASE("kafka_topic: an idle partition stops holding the watermark back", "[kafka]") {
  test::kafka_mock kafka;
  kafka.create_topic("clicks", 2);
  // Partition 1 gets one early event and then nothing; partition 0 runs on for minutes.
  kafka.produce("clicks", 1, "1700000000000 u /a");
  for (int i = 0; i < 600; ++i) kafka.produce("clicks", 0, std::to_string(1700000000000 + i * 1000) + " u /b");
  kafka.flush();
  dataflow::context ctx(2);
  std::vector<std::int64_t> closed;
  std::mutex m;
  auto run = ctx.stream(dataflow::kafka_topic({.brokers = kafka.brokers(), .topic = "clicks"}))
                 .map([](std::string_view v) { return examples::parse_click(v); })
                 .with_event_time([](const examples::click& c) { return c.ms; }, 1s)
                 .window(dataflow::tumbling(1min))
                 .count_by_key([](const examples::click& c) { return c.url; })
                 .start({.trigger = 20ms, .idle_timeout = 300ms},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) {
                          std::lock_guard lock(m);
                          closed.push_back(r.start);
                        });
  // Partition 1 idle: the watermark follows partition 0 and closes its windows, the source
  // still open.
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (run.stats().watermark < 1700000000000 + 500000 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(run.stats().watermark >= 1700000000000 + 500000);
  CHECK_FALSE(run.finished());
  run.stop();
  std::lock_guard lock(m);
  CHECK(closed.size() >= 8);
}

TEST_CASE("kafka_topic: a malformed message stops the stream with an error naming its offset", "[kafka]") {
  test::kafka_mock kafka;
  kafka.create_topic("clicks", 2);
  for (int i = 0; i < 10; ++i) kafka.produce("clicks", 0, std::to_string(1700000000000 + i) + " u /a");
  for (int i = 0; i < 7; ++i) kafka.produce("clicks", 1, std::to_string(1700000000000 + i) + " u /a");
  kafka.produce("clicks", 1, "not a click at all");
  kafka.flush();
  try {
    stream_counts(kafka.brokers(), "clicks");
    FAIL("no error");
  } catch (const dataflow::stage_error& e) {
    CHECK(e.where() == "clicks/1 offset 7");
    CHECK_THAT(e.what(), Catch::Contains("not a click"));
  }
}

TEST_CASE("kafka_topic: brokers that cannot be reached are an error naming them and the topic", "[kafka]") {
  // (The mock brokers make any topic asked for, so a missing topic cannot be shown with them.)
  dataflow::context ctx(1);
  auto run = ctx.stream(dataflow::kafka_topic({.brokers = "127.0.0.1:1", .topic = "clicks",
                                               .metadata_timeout = 1s,
                                               .config = {{"log_level", "0"}}}))
                 .with_event_time([](std::string_view) { return std::int64_t{0}; }, 0s)
                 .window(dataflow::tumbling(1min))
                 .count_by_key([](std::string_view v) { return std::string(v); })
                 .start({}, [](const auto&) {});
  CHECK_THROWS_WITH(run.wait(), Catch::Contains("cannot list the topic's partitions") &&
                                    Catch::Contains("topic 'clicks' at 127.0.0.1:1"));
}

TEST_CASE("kafka_topic: bad settings are usage errors", "[kafka]") {
  CHECK_THROWS_AS(dataflow::kafka_topic({.brokers = "", .topic = "t"}), dataflow::usage_error);
  CHECK_THROWS_AS(dataflow::kafka_topic({.brokers = "b:1", .topic = ""}), dataflow::usage_error);
  dataflow::kafka_topic t({.brokers = "127.0.0.1:1", .topic = "t", .config = {{"no.such.setting", "1"}}});
  std::vector<std::string_view> out;
  CHECK_THROWS_WITH(t.poll(out, 1, std::chrono::steady_clock::now()), Catch::Contains("no.such.setting"));
  CHECK_THROWS_WITH(t.restore_position("0 x\n"), Catch::Contains("malformed"));
}

TEST_CASE("kafka_topic: from now on, and a checkpoint taken before any message resumes at that point", "[kafka]") {
  test::kafka_mock kafka;
  kafka.create_topic("clicks", 2);
  for (int i = 0; i < 50; ++i) kafka.produce("clicks", i % 2, std::to_string(1700000000000 + i) + " u /old");
  kafka.flush();
  test::temp_dir state;
  auto count = [&] {
    dataflow::context ctx(2);
    std::map<std::string, std::uint64_t> out;
    auto run = ctx.stream(dataflow::kafka_topic({.brokers = kafka.brokers(), .topic = "clicks", .from_beginning = false,
                                                 .end_when_idle = 1500ms, .config = {{"log_level", "3"}}}))
                   .count_by_key([](std::string_view v) { return std::string(v.substr(v.rfind(' ') + 1)); })
                   .start({.trigger = 20ms, .checkpoint_dir = state.path().string(), .checkpoint_every = 10ms},
                          [&](const dataflow::key_update<std::string, std::uint64_t>& u) { out[u.key] = u.value; });
    run.wait();
    return out;
  };
  CHECK(count().empty());  // nothing new: the old messages are not read
  // Produced while no stream runs: the restart reads them from the checkpoint's offsets.
  for (int i = 0; i < 30; ++i) kafka.produce("clicks", i % 2, std::to_string(1700000001000 + i) + " u /new");
  kafka.flush();
  CHECK(count() == std::map<std::string, std::uint64_t>{{"/new", 30}});
}
