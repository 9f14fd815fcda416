// Malformed events in a stream: an error naming the event's position that stops the stream after
// a checkpoint of the batches before it, or, with a dead-letter file, the event refused alone.
#include <dataflow/stream.hpp>

#include "clickstream.hpp"

#include "../support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using counts = std::map<std::pair<std::int64_t, std::string>, std::uint64_t>;


std::vector<std::string> read_lines_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

/// Counts per (minute, url) of the log at `dir`, each window's last revision, into `out`,
/// through a stream that ends once the log is idle.
void follow_counts(const std::string& dir, const std::string& state, const std::string& dead_letters, counts& out,
                   std::chrono::milliseconds checkpoint_every = 1ms) {
  dataflow::context ctx(2);
  auto run = ctx.stream(dataflow::follow_lines(dir, {.end_when_idle = 300ms, .read_bytes = 4096}))
                 .map([](std::string_view line) { return examples::parse_click(line); })
                 .with_event_time([](const examples::click& c) { return c.ms; }, 5s)
                 .window(dataflow::tumbling(1min))
                 .count_by_key([](const examples::click& c) { return c.url; })
                 .start({.trigger = 5ms, .max_batch_items = 50, .checkpoint_dir = state,
                         .checkpoint_every = checkpoint_every, .dead_letter_file = dead_letters},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) {
                          out[{r.start, r.key}] = r.value;
                        });
  run.wait();
}

}  // namespace

TEST_CASE("streams: a malformed line stops the stream naming file and byte, and a restart counts each line once",
          "[stream][bad_input]") {
  std::mt19937_64 rng(GENERATE(1, 2, 3));
  test::temp_dir d;
  std::filesystem::create_directory(d.path() / "log");
  const std::string log = (d.path() / "log" / "clicks.log").string();
  std::ofstream out(log, std::ios::binary);
  counts expected;
  std::uint64_t offset = 0, bad_offset = 0;
  const std::size_t n = 2000, bad_at = 200 + rng() % 1500;
  for (std::size_t i = 0; i < n; ++i) {
    std::string line;
    if (i == bad_at) {
      line = "garbage in the log";
      bad_offset = offset;
    } else {
      const std::int64_t ms = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 97 - static_cast<std::int64_t>(rng() % 3000);
      const std::string url = "/p" + std::to_string(rng() % 7);
      line = std::to_string(ms) + " u" + std::to_string(rng() % 9) + " " + url;
      ++expected[{ms / 60000 * 60000, url}];
    }
    out << line << '\n';
    offset += line.size() + 1;
  }
  out.close();
  const std::string state = (d.path() / "state").string();
  counts seen;
  try {
    // No checkpoint but the one the failure writes: the restart must resume from that one.
    follow_counts((d.path() / "log").string(), state, "", seen, std::chrono::hours(1));
    FAIL("the malformed line was not reported");
  } catch (const dataflow::stage_error& e) {
    CHECK(e.where() == log + " at byte " + std::to_string(bad_offset));
    CHECK_THAT(e.what(), Catch::Contains("not a click") && Catch::Contains("garbage in the log"));
  }
  // A checkpoint of the batches before the bad one was written: the restart, with the bad
  // line sent to a dead-letter file, counts every good line once.
  REQUIRE(std::filesystem::exists(state));
  const auto dead = d.path() / "dead.txt";
  follow_counts((d.path() / "log").string(), state, dead.string(), seen);
  CHECK(seen == expected);
  const auto lines = read_lines_of(dead);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind(log + " at byte " + std::to_string(bad_offset) + "\t", 0) == 0);
  CHECK(lines[0].find("\tgarbage in the log") != std::string::npos);
}

TEST_CASE("streams: with a dead-letter file, refused events count nowhere and are all written", "[stream][bad_input]") {
  std::mt19937_64 rng(GENERATE(4, 5));
  const std::size_t n = GENERATE(0, 1, 3001);
  test::temp_dir d;
  const auto dead = d.path() / "dead.txt";
  std::vector<std::string> events, bad;
  counts expected;
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t ms = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 50;
    const std::string url = "/p" + std::to_string(rng() % 5);
    switch (rng() % 20) {
      case 0: bad.push_back("no\ttime\\here " + url); events.push_back(bad.back()); break;
      // Two items out, then a throw: neither may count.
      case 1: bad.push_back(std::to_string(ms) + " twice " + url); events.push_back(bad.back()); break;
      // Refused with a time far ahead: had it moved the watermark, later events would be late.
      case 2: bad.push_back(std::to_string(ms + 1'000'000'000) + " twice " + url); events.push_back(bad.back()); break;
      default:
        events.push_back(std::to_string(ms) + " u " + url);
        expected[{ms / 60000 * 60000, url}] += 2;
    }
  }
  dataflow::context ctx(2);
  dataflow::stream_writer<std::string> writer(256);
  counts seen;
  auto run = ctx.stream(writer)
                 .flat_map<examples::click>([](const std::string& line, auto&& emit) {
                   const examples::click c = examples::parse_click(line);
                   emit(c);
                   emit(c);
                   if (c.user == "twice") throw std::runtime_error("refused after two");
                 })
                 .with_event_time([](const examples::click& c) { return c.ms; }, 1s)
                 .window(dataflow::tumbling(1min))
                 .count_by_key([](const examples::click& c) { return c.url; })
                 .start({.trigger = 2ms, .max_batch_items = 97, .dead_letter_file = dead.string()},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) {
                          seen[{r.start, r.key}] = r.value;
                        });
  for (const std::string& e : events) writer.push(e);
  writer.close();
  run.wait();
  CHECK(seen == expected);
  const dataflow::stream_stats stats = run.stats();
  CHECK(stats.dead_letters == bad.size());
  CHECK(stats.events_in == events.size());
  std::vector<std::string> texts;
  for (const std::string& line : read_lines_of(dead)) {
    const auto last_tab = line.rfind('\t');
    REQUIRE(last_tab != std::string::npos);
    // Unescape the text field.
    std::string text;
    for (std::size_t i = last_tab + 1; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        ++i;
        text += line[i] == 't' ? '\t' : line[i] == 'n' ? '\n' : line[i];
      } else {
        text += line[i];
      }
    }
    texts.push_back(text);
  }
  std::sort(texts.begin(), texts.end());
  std::sort(bad.begin(), bad.end());
  CHECK(texts == bad);
}

TEST_CASE("streams: stats as a table and as JSON", "[stream]") {
  dataflow::context ctx(2);
  dataflow::stream_writer<std::pair<std::int64_t, std::string>> writer;
  auto run = ctx.stream(writer)
                 .with_event_time([](const auto& e) { return e.first; }, 0s)
                 .window(dataflow::tumbling(1s))
                 .count_by_key([](const auto& e) { return e.second; })
                 .start({.trigger = 1ms}, [](const auto&) {});
  for (int b = 0; b < 20; ++b) {
    for (int i = 0; i < 100; ++i) writer.push({b * 1000 + i, "k" + std::to_string(i % 3)});
    writer.flush();
  }
  const dataflow::stream_stats mid = run.stats();
  CHECK(mid.open_windows == 3);  // the last second's window is open, with its 3 keys
  CHECK(mid.state_bytes >= 3 * (sizeof(std::string) + sizeof(std::uint64_t)));
  writer.close();
  run.wait();
  const dataflow::stream_stats s = run.stats();
  CHECK(s.events_in == 2000);
  CHECK(s.results == 60);
  CHECK(s.open_windows == 0);
  CHECK(s.state_bytes == 0);
  CHECK(s.batch_seconds.count() == s.batches);
  CHECK(s.batch_seconds.quantile(0.5) <= s.batch_seconds.quantile(0.99));
  CHECK(s.batch_seconds.quantile(0.99) <= s.busy_seconds);
  CHECK(s.elapsed_seconds >= s.busy_seconds * 0.5);
  CHECK_THAT(s.table(), Catch::Contains("events in") && Catch::Contains("2000") && Catch::Contains("p99"));
  CHECK_THAT(s.line(), Catch::StartsWith("2000 events (") && Catch::Contains("0 keys in state") &&
                           Catch::Contains("0 dead letters"));
  CHECK_THAT(s.json(), Catch::StartsWith("{\"batches\":") && Catch::Contains("\"events_in\":2000") &&
                           Catch::Contains("\"results\":60") && Catch::EndsWith("\"restored\":false}"));
}
