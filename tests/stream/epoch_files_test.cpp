// epoch_files: one file per checkpoint epoch; across a restart over a log that grew, the files
// together hold each window's result once (the windows closed when the first run's source
// ended are written again, replacing that run's last file).
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
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using result = dataflow::window_result<std::string, std::uint64_t>;

void follow(const std::string& log, const std::string& state, const std::string& out) {
  dataflow::context ctx(2);
  auto run = ctx.stream(dataflow::follow_lines(log, {.end_when_idle = 200ms, .read_bytes = 2000}))
                 .map([](std::string_view line) {
                   const auto sp = line.find(' ');
                   return std::pair{std::stoll(std::string(line.substr(0, sp))), line.substr(sp + 1)};
                 })
                 .with_event_time([](const auto& e) { return e.first; }, 50ms)
                 .window(dataflow::tumbling(1s))
                 .count_by_key([](const auto& e) { return e.second; })
                 .start({.trigger = 2ms, .max_batch_items = 70, .checkpoint_dir = state, .checkpoint_every = 1ms},
                        dataflow::epoch_files(out, [](const result& r, std::string& text) {
                          text += std::to_string(r.start) + " " + r.key + " " + std::to_string(r.value) + "\n";
                        }));
  run.wait();
}

std::vector<std::string> lines_of_files(const std::filesystem::path& dir) {
  std::vector<std::string> names, lines;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().string());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::ifstream in(n);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST_CASE("epoch_files: each window once across a restart", "[stream][epoch_files]") {
  std::mt19937_64 rng(GENERATE(1, 2));
  test::temp_dir d;
  const std::string log = d.file("log.txt");
  std::map<std::pair<std::int64_t, std::string>, std::uint64_t> expected;
  std::int64_t t = 0;
  auto append = [&](std::size_t n) {
    std::ofstream out(log, std::ios::app);
    for (std::size_t i = 0; i < n; ++i, t += 7) {
      const std::string k = "k" + std::to_string(rng() % 5);
      out << t << ' ' << k << '\n';
      ++expected[{t / 1000 * 1000, k}];
    }
  };
  append(3000);
  follow(log, d.file("state"), d.file("out"));
  append(2000);
  follow(log, d.file("state"), d.file("out"));
  std::vector<std::string> want;
  for (const auto& [k, v] : expected) want.push_back(std::to_string(k.first) + " " + k.second + " " + std::to_string(v));
  std::vector<std::string> got = lines_of_files(d.path() / "out");
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  CHECK(got == want);
  for (const auto& e : std::filesystem::directory_iterator(d.path() / "out")) {
    CHECK(e.path().filename().string().rfind("part-", 0) == 0);  // no temporary left
  }
}

TEST_CASE("epoch_files: without checkpoints, a usage error", "[stream][epoch_files]") {
  test::temp_dir d;
  dataflow::context ctx(1);
  dataflow::stream_writer<std::int64_t> w;
  auto run = ctx.stream(w)
                 .with_event_time([](std::int64_t x) { return x; }, 0ms)
                 .window(dataflow::tumbling(1s))
                 .count_by_key([](std::int64_t x) { return x % 3; })
                 .start({}, dataflow::epoch_files(d.file("out"), [](const auto&, std::string&) {}));
  CHECK_THROWS_AS(run.wait(), dataflow::usage_error);
  CHECK_THROWS_AS(dataflow::detail::epoch_file_writer(d.file("x"), "a/b"), dataflow::usage_error);
}

TEST_CASE("epoch_files: a crash between a checkpoint and its file's rename is settled by the next start",
          "[stream][epoch_files]") {
  test::temp_dir d;
  const std::string dir = d.file("out");
  auto names = [&] {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  };
  {
    dataflow::detail::epoch_file_writer w(dir, "part");
    w.begin(1);
    std::string text = "a\n";
    w.write(text);
    w.seal();
    w.publish();
    w.begin(2);
    text = "b\n";
    w.write(text);
    w.seal();
    // The process dies here: checkpoint 2 may or may not have been published.
  }
  CHECK(names() == std::vector<std::string>{".part-2.tmp", "part-000000000001"});
  SECTION("checkpoint 2 was published: the restart names epoch 2's file") {
    dataflow::detail::epoch_file_writer w(dir, "part");
    w.begin(3);
    CHECK(names() == std::vector<std::string>{".part-3.tmp", "part-000000000001", "part-000000000002"});
    std::ifstream in(dir + "/part-000000000002");
    std::string line;
    CHECK((std::getline(in, line) && line == "b"));
  }
  SECTION("it was not: the restart drops epoch 2's file and writes that epoch again") {
    dataflow::detail::epoch_file_writer w(dir, "part");
    w.begin(2);
    CHECK(names() == std::vector<std::string>{".part-2.tmp", "part-000000000001"});
    CHECK(std::filesystem::file_size(dir + "/.part-2.tmp") == 0);
  }
}
