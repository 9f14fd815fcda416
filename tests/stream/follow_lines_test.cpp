// follow_lines: growing files, new files, rotation, partial lines, truncation; and a stream over a
// log directory that ends when idle gives the same counts as a batch over the same files.
#include <dataflow/stream.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("dataflow-follow-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(std::random_device{}()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void append(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::app | std::ios::binary);
  out << text;
}

/// Every line the source hands on until `count` lines or a second without any.
std::vector<std::string> take(dataflow::follow_lines& src, std::size_t count) {
  std::vector<std::string_view> got;
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (got.size() < count && std::chrono::steady_clock::now() < give_up) {
    src.poll(got, count, std::chrono::steady_clock::now() + 20ms);
  }
  std::vector<std::string> copies(got.begin(), got.end());
  src.commit();  // the views' bytes may go now
  return copies;
}

}  // namespace

TEST_CASE("follow_lines: hands on complete lines as files grow", "[stream][follow]") {
  temp_dir d;
  const fs::path log = d.path / "a.log";
  dataflow::follow_lines src(log.string(), {.poll_interval = 1ms});
  std::vector<std::string_view> got;
  CHECK(src.poll(got, 10, std::chrono::steady_clock::now()));  // no file yet: nothing, no error
  CHECK(got.empty());
  append(log, "one\ntwo\nthr");
  CHECK(take(src, 2) == std::vector<std::string>{"one", "two"});
  append(log, "ee\n\nfour\n");
  CHECK(take(src, 3) == std::vector<std::string>{"three", "", "four"});
  REQUIRE(src.files().size() == 1);
  CHECK(src.files()[0].offset == fs::file_size(log));
}

TEST_CASE("follow_lines: small batches of a long file end on idleness with every line whole", "[stream][follow]") {
  temp_dir d;
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "line " + std::to_string(i) + "\n";
  append(d.path / "long.log", text);
  // Idle after 1 ms, batches of 7 lines, reads of 64 KiB: handing on what was read is not idleness.
  dataflow::follow_lines src((d.path / "long.log").string(), {.end_when_idle = 1ms, .poll_interval = 1ms, .read_bytes = 65536});
  std::vector<std::string> got;
  for (;;) {
    std::vector<std::string_view> batch;
    const bool open = src.poll(batch, 7, std::chrono::steady_clock::now() + 1ms);
    got.insert(got.end(), batch.begin(), batch.end());
    src.commit();
    if (!open) break;
  }
  REQUIRE(got.size() == 5000);
  for (int i = 0; i < 5000; ++i) CHECK(got[static_cast<std::size_t>(i)] == "line " + std::to_string(i));
}

TEST_CASE("follow_lines: a directory's new files and a rotated file", "[stream][follow]") {
  temp_dir d;
  dataflow::follow_lines src(d.path.string(), {.poll_interval = 1ms});
  append(d.path / "app.log", "a1\na2\n");
  CHECK(take(src, 2) == std::vector<std::string>{"a1", "a2"});
  // Rotation: the file is renamed (and written to once more under its old descriptor), then a
  // new file takes its name. The renamed file's identity is the same: nothing is read twice.
  fs::rename(d.path / "app.log", d.path / "app.log.1");
  append(d.path / "app.log.1", "a3\n");
  append(d.path / "app.log", "b1\n");
  auto got = take(src, 2);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"a3", "b1"});
  CHECK(src.files().size() == 2);
}

TEST_CASE("follow_lines: a glob drops a file renamed out of it after reading its end", "[stream][follow]") {
  temp_dir d;
  dataflow::follow_lines src((d.path / "*.log").string(), {.poll_interval = 1ms});
  append(d.path / "x.log", "x1\n");
  CHECK(take(src, 1) == std::vector<std::string>{"x1"});
  append(d.path / "x.log", "x2\n");
  fs::rename(d.path / "x.log", d.path / "x.log.old");  // no longer matches
  CHECK(take(src, 1) == std::vector<std::string>{"x2"});
  std::vector<std::string_view> none;
  src.poll(none, 10, std::chrono::steady_clock::now());
  CHECK(none.empty());
  CHECK(src.files().empty());
}

TEST_CASE("follow_lines: a file truncated while followed is an error naming it", "[stream][follow]") {
  temp_dir d;
  const fs::path log = d.path / "t.log";
  append(log, "1\n2\n3\n");
  dataflow::follow_lines src(log.string(), {.poll_interval = 1ms});
  CHECK(take(src, 3).size() == 3);
  fs::resize_file(log, 2);
  std::vector<std::string_view> got;
  CHECK_THROWS_WITH(src.poll(got, 10, std::chrono::steady_clock::now()),
                    Catch::Contains("t.log") && Catch::Contains("shrank"));
}

TEST_CASE("follow_lines: a stream over a growing log equals the batch count", "[stream][follow]") {
  temp_dir d;
  std::mt19937_64 rng(GENERATE(11, 12));
  // Lines "EPOCH_MS USER URL" in three files, each out of order by less than the delay, appended
  // while the stream runs, in batches of any size. The files are read at different paces: the
  // watermark, kept per file, must not make any event late. A last line being written (no '\n')
  // is not handed on.
  std::vector<std::string> lines;
  std::map<std::pair<std::int64_t, std::string>, std::uint64_t> want;  // (minute, url)
  const std::int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 3000; ++i) {
    const std::int64_t t = t0 + i * 97 + static_cast<std::int64_t>(rng() % 500);
    const std::string url = "/u" + std::to_string(rng() % 7);
    lines.push_back(std::to_string(t) + " user" + std::to_string(rng() % 50) + " " + url);
    ++want[{t / 60000 * 60000, url}];
  }
  for (int f = 0; f < 3; ++f) append(d.path / ("part" + std::to_string(f) + ".log"), "");
  dataflow::context ctx(2);
  std::mutex m;
  std::map<std::pair<std::int64_t, std::string>, std::uint64_t> got;
  auto run = ctx.stream(dataflow::follow_lines(d.path.string(), {.end_when_idle = 1s, .poll_interval = 1ms}))
                 .map([](std::string_view line) {
                   const auto a = line.find(' '), b = line.rfind(' ');
                   return std::pair{std::stoll(std::string(line.substr(0, a))), std::string(line.substr(b + 1))};
                 })
                 .with_event_time([](const auto& e) { return e.first; }, 2s)
                 .window(dataflow::tumbling(1min))
                 .count_by_key([](const auto& e) { return e.second; })
                 .start({.trigger = 5ms, .max_batch_items = 1 + rng() % 400}, [&](const auto& r) {
                   std::lock_guard lock(m);
                   got[{r.start, r.key}] += r.value;
                 });
  for (std::size_t i = 0; i < lines.size(); ++i) {
    append(d.path / ("part" + std::to_string(i % 3) + ".log"), lines[i] + "\n");
    if (i % 300 == 0) std::this_thread::sleep_for(3ms);
  }
  append(d.path / "part1.log", "1700000000000 user1 /u1");  // unfinished
  run.wait();
  CHECK(run.stats().late_events == 0);
  CHECK(run.stats().events_in == lines.size());
  CHECK(got == want);
}

TEST_CASE("follow_lines: an idle file holds the watermark back until its idle timeout", "[stream][follow]") {
  // a.log has one old click and then nothing; b.log moves on by five minutes. With an idle
  // timeout, b.log alone drives the watermark once a.log has been idle that long; without one,
  // no window closes while a.log stays behind.
  auto results_while_running = [](std::chrono::milliseconds idle_timeout) {
    temp_dir d;
    append(d.path / "a.log", "1000\n");
    dataflow::context ctx(1);
    std::atomic<std::uint64_t> results{0};
    auto run = ctx.stream(dataflow::follow_lines(d.path.string(), {.poll_interval = 1ms}))
                   .map([](std::string_view line) { return std::stoll(std::string(line)); })
                   .with_event_time([](long long t) { return t; }, 1s)
                   .window(dataflow::tumbling(1min))
                   .count_by_key([](long long) { return 0; })
                   .start({.trigger = 5ms, .idle_timeout = idle_timeout}, [&](const auto&) { results.fetch_add(1); });
    std::string lines;
    for (long long t = 1000; t < 300000; t += 1000) lines += std::to_string(t) + "\n";
    append(d.path / "b.log", lines);
    const auto give_up = std::chrono::steady_clock::now() + 3s;
    const std::uint64_t want = idle_timeout.count() > 0 ? 4 : 1;
    while (results.load() < want && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(5ms);
    const std::uint64_t seen = results.load();
    run.stop();
    CHECK(run.stats().events_in == 300);
    return seen;
  };
  CHECK(results_while_running(100ms) >= 4);  // windows of minutes 0-3 closed, a.log idle
  CHECK(results_while_running(0ms) == 0);    // never idle: a.log holds every window open
}

TEST_CASE("follow_lines: a file rotated while nothing followed it is read to its end after a restore",
          "[stream][follow]") {
  temp_dir d;
  const fs::path log = d.path / "clicks.log";
  for (int i = 0; i < 10; ++i) append(log, "old-" + std::to_string(i) + "\n");
  std::string position;
  {
    dataflow::follow_lines src(log.string());
    CHECK(take(src, 10).size() == 10);
    position = src.checkpoint_position();
  }
  // While nothing runs: the file grows, is rotated, and a new one starts under the name.
  for (int i = 0; i < 5; ++i) append(log, "late-" + std::to_string(i) + "\n");
  fs::rename(log, d.path / "clicks.log.1");
  for (int i = 0; i < 3; ++i) append(log, "new-" + std::to_string(i) + "\n");
  dataflow::follow_lines src(log.string());
  src.restore_position(position);
  std::vector<std::string> got = take(src, 100);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"late-0", "late-1", "late-2", "late-3", "late-4", "new-0", "new-1", "new-2"});
  std::vector<dataflow::partition_run> runs;
  src.take_runs(runs);
  CHECK(std::count_if(runs.begin(), runs.end(), [](const auto& r) { return r.ended; }) == 1);  // the rotated file
}

TEST_CASE("follow_lines: a file with the checkpoint's inode but other first bytes is read from its start",
          "[stream][follow]") {
  temp_dir d;
  const fs::path log = d.path / "clicks.log";
  for (int i = 0; i < 10; ++i) append(log, "aaaa\n");
  std::string position;
  {
    dataflow::follow_lines src(log.string());
    CHECK(take(src, 10).size() == 10);
    position = src.checkpoint_position();
  }
  // Rewritten in place (as a new file given the deleted one's inode would be): not the same file.
  {
    std::ofstream out(log, std::ios::trunc | std::ios::binary);
    for (int i = 0; i < 20; ++i) out << "bbbb\n";
  }
  dataflow::follow_lines src(log.string());
  src.restore_position(position);
  const std::vector<std::string> got = take(src, 100);
  CHECK(got == std::vector<std::string>(20, "bbbb"));
  // A file with the same first bytes resumes at its offset.
  const std::string again = src.checkpoint_position();
  append(log, "cccc\n");
  dataflow::follow_lines resumed(log.string());
  resumed.restore_position(again);
  CHECK(take(resumed, 100) == std::vector<std::string>{"cccc"});
}
