// stdin_lines over a pipe written as the stream runs: the windows equal a sequential count, the
// last line needs no '\n', and a malformed line is named by its byte offset.
#include <dataflow/stream.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct pipe_fds {
  int fd[2];
  pipe_fds() { REQUIRE(::pipe(fd) == 0); }
  ~pipe_fds() {
    for (int f : fd) if (f >= 0) ::close(f);
  }
  void close_write() {
    ::close(fd[1]);
    fd[1] = -1;
  }
};

/// Writes `text` to fd in random pieces, with pauses; false when a write fails. (Not Catch's
/// checks: they are not for other threads.)
bool trickle(int fd, const std::string& text, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t n = std::min<std::size_t>(text.size() - at, 1 + rng() % 5000);
    if (::write(fd, text.data() + at, n) != static_cast<ssize_t>(n)) return false;
    at += n;
    if (rng() % 8 == 0) std::this_thread::sleep_for(1ms);
  }
  return true;
}

using counts = std::map<std::pair<std::int64_t, std::string>, std::uint64_t>;

counts stream_counts(int fd, std::size_t read_bytes) {
  dataflow::context ctx(2);
  counts out;
  auto run = ctx.stream(dataflow::stdin_lines({.fd = fd, .name = "the pipe", .read_bytes = read_bytes}))
                 .map([](std::string_view line) {
                   const auto sp = line.find(' ');
                   if (sp == std::string_view::npos) throw std::invalid_argument("no space in '" + std::string(line) + "'");
                   return std::pair{std::stoll(std::string(line.substr(0, sp))), std::string(line.substr(sp + 1))};
                 })
                 .with_event_time([](const auto& e) { return e.first; }, 100ms)
                 .window(dataflow::tumbling(1s))
                 .count_by_key([](const auto& e) { return e.second; })
                 .start({.trigger = 3ms, .max_batch_items = 333},
                        [&](const dataflow::window_result<std::string, std::uint64_t>& r) { out[{r.start, r.key}] = r.value; });
  run.wait();
  return out;
}

}  // namespace

TEST_CASE("stdin_lines: a pipe written as the stream runs", "[stream][stdin]") {
  std::mt19937_64 rng(GENERATE(1, 2, 3));
  const std::size_t n = GENERATE(0, 1, 7777);
  const bool final_newline = GENERATE(true, false);
  std::string text;
  counts expected;
  for (std::size_t i = 0; i < n; ++i) {
    const auto t = static_cast<std::int64_t>(i * 3 + rng() % 50);
    const std::string key = "k" + std::to_string(rng() % 11);
    text += std::to_string(t) + " " + key + "\n";
    ++expected[{t / 1000 * 1000, key}];
  }
  if (!final_newline && !text.empty()) text.pop_back();
  const std::size_t read_bytes = GENERATE(7, 65536);
  pipe_fds p;
  bool written = false;
  std::thread writer([&, seed = rng()] {
    written = trickle(p.fd[1], text, seed);
    p.close_write();
  });
  const counts got = stream_counts(p.fd[0], read_bytes);
  writer.join();
  CHECK(written);
  CHECK(got == expected);
}

TEST_CASE("stdin_lines: a malformed line is named by its byte offset", "[stream][stdin]") {
  pipe_fds p;
  const std::string text = "1 a\n2 b\n3 c\nbad\n4 d\n";
  REQUIRE(::write(p.fd[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  p.close_write();
  try {
    stream_counts(p.fd[0], 5);
    FAIL("no error");
  } catch (const dataflow::stage_error& e) {
    CHECK(e.where() == "the pipe at byte 12");
  }
}
