// The core of the clickstream tool: clicks per URL (or per user) per minute of event time, over
// a log directory as it grows (a stream) or as it is (a batch), and a generator of such logs.
//
// A click is a line `EPOCH_MS USER URL`: milliseconds since the epoch, then two words.
#pragma once

#include <dataflow/stream.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace examples {

struct click {
  std::int64_t ms = 0;
  std::string_view user;
  std::string_view url;
};

/// Parses `EPOCH_MS USER URL`; throws std::invalid_argument naming the line when it is not one.
inline click parse_click(std::string_view line) {
  auto bad = [&] {
    return std::invalid_argument("not a click 'EPOCH_MS USER URL': '" + std::string(line.substr(0, 80)) + "'");
  };
  const auto a = line.find(' ');
  if (a == std::string_view::npos || a == 0) throw bad();
  const auto b = line.find(' ', a + 1);
  if (b == std::string_view::npos || b == a + 1 || b + 1 >= line.size() ||
      line.find(' ', b + 1) != std::string_view::npos) {
    throw bad();
  }
  click c;
  for (char ch : line.substr(0, a)) {
    if (ch < '0' || ch > '9' || c.ms > (INT64_MAX - 9) / 10) throw bad();
    c.ms = c.ms * 10 + (ch - '0');
  }
  c.user = line.substr(a + 1, b - a - 1);
  c.url = line.substr(b + 1);
  return c;
}

/// What a window line counts.
enum class click_key { url, user };

inline std::string_view key_of(const click& c, click_key by) { return by == click_key::url ? c.url : c.user; }

/// `WINDOW_START_MS<TAB>KEY<TAB>COUNT\n`
inline std::string window_line(std::int64_t start, std::string_view key, std::uint64_t n) {
  return std::to_string(start) + "\t" + std::string(key) + "\t" + std::to_string(n) + "\n";
}

struct follow_settings {
  click_key by = click_key::url;
  std::chrono::milliseconds delay{10000};
  std::chrono::milliseconds until_idle{0};  // zero: follow until stopped
  std::chrono::milliseconds trigger{200};
  std::string state_dir;  // checkpoints, and where a restart resumes; empty: none
  std::chrono::milliseconds checkpoint_every{10000};
  std::string dead_letters;  // where malformed lines go; empty: one stops the stream
  std::string stats;         // "text" or "json": the stream's figures on stderr at the end
  bool progress = false;     // a line of figures on stderr every second
  std::string output_dir;    // window lines into one file per checkpoint epoch there, not out()
};

/// Follows a source of click lines (follow_lines over a log directory, file or glob, or a Kafka
/// topic) and calls out(line) for each one-minute window of each key as the watermark passes
/// it. Returns the stream's figures.
template <class Source>
dataflow::stream_stats follow_clicks(dataflow::context& ctx, Source source, const follow_settings& s,
                                     const std::function<void(const std::string&)>& out) {
  const click_key by = s.by;
  auto counts = ctx.stream(std::move(source))
                    .map([](std::string_view line) { return parse_click(line); })  // views into the line
                    .with_event_time([](const click& c) { return c.ms; }, s.delay)
                    .window(dataflow::tumbling(std::chrono::minutes(1)))
                    .count_by_key([by](const click& c) { return key_of(c, by); });
  const dataflow::stream_options options{.trigger = s.trigger,
                                         .checkpoint_dir = s.state_dir,
                                         .checkpoint_every = s.checkpoint_every,
                                         .name = by == click_key::url ? "clicks per url" : "clicks per user",
                                         .dead_letter_file = s.dead_letters,
                                         .progress = s.progress};
  using result = dataflow::window_result<std::string, std::uint64_t>;
  // To standard output, or to one file per checkpoint epoch: each window once, whatever restarts.
  auto run = s.output_dir.empty()
                 ? counts.start(options, [&](const result& r) { out(window_line(r.start, r.key, r.value)); })
                 : counts.start(options, dataflow::epoch_files(s.output_dir, [](const result& r, std::string& text) {
                     text += window_line(r.start, r.key, r.value);
                   }));
  run.wait();
  dataflow::stream_stats stats = run.stats();
  if (s.stats == "text") std::fputs(stats.table().c_str(), stderr);
  if (s.stats == "json") std::fprintf(stderr, "%s\n", stats.json().c_str());
  return stats;
}

/// The same counts over the files as they are, as a batch: the lines follow_clicks prints for a
/// finished log (without their newlines), sorted under the context's memory budget, for a sink
/// to stream.
inline auto batch_click_lines(dataflow::context& ctx, const std::string& path, click_key by) {
  struct stat st {};
  const bool dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  return ctx.read_lines(dir ? path + "/*" : path)
      .map([by](std::string_view line) {
        const click c = parse_click(line);
        return std::pair{std::pair{c.ms / 60000 * 60000, key_of(c, by)}, std::uint64_t{1}};
      })
      .reduce_by_key(std::plus<>{})
      .map([](const auto& wk_n) {
        std::string line = window_line(wk_n.first.first, wk_n.first.second, wk_n.second);
        line.pop_back();
        return line;
      })
      .sort();
}

/// The same, collected, each line with its newline.
inline std::vector<std::string> batch_clicks(dataflow::context& ctx, const std::string& path, click_key by) {
  std::vector<std::string> lines = batch_click_lines(ctx, path, by).collect();
  for (std::string& line : lines) line += '\n';
  return lines;
}

struct generate_settings {
  std::uint64_t total = 100000;    // events
  std::uint64_t rate = 10000;      // events per second of wall time; 0 as fast as possible
  std::int64_t start_ms = 1'700'000'000'000;
  std::int64_t spacing_ms = 10;    // event time between consecutive events
  std::int64_t disorder_ms = 5000;  // how far an event's time may trail the newest one
  double late_fraction = 0;        // events far behind (beyond any delay)
  std::uint64_t seed = 1;
  std::size_t urls = 200, users = 5000;
};

/// Appends clicks to `file`: popular URLs (Zipf-like), times out of order within disorder_ms,
/// and a few late events on request.
inline void generate_clicks(const std::string& file, const generate_settings& g) {
  std::FILE* f = std::fopen(file.c_str(), "ab");
  if (!f) throw dataflow::io_error(file, "cannot open '" + file + "' to append");
  std::mt19937_64 rng(g.seed);
  std::uniform_real_distribution<double> unit(0, 1);
  const auto begin = std::chrono::steady_clock::now();
  std::string buf;
  for (std::uint64_t i = 0; i < g.total; ++i) {
    const std::int64_t newest = g.start_ms + static_cast<std::int64_t>(i) * g.spacing_ms;
    std::int64_t t = newest - static_cast<std::int64_t>(unit(rng) * static_cast<double>(g.disorder_ms));
    if (unit(rng) < g.late_fraction) t = newest - 10 * std::max<std::int64_t>(g.disorder_ms, 60000);
    const auto url = static_cast<std::size_t>(std::pow(unit(rng), 3) * static_cast<double>(g.urls));
    buf += std::to_string(t) + " user" + std::to_string(rng() % g.users) + " /page/" + std::to_string(url) + "\n";
    if (buf.size() > 4096 || i + 1 == g.total) {
      if (std::fwrite(buf.data(), 1, buf.size(), f) != buf.size() || std::fflush(f) != 0) {
        std::fclose(f);
        throw dataflow::io_error(file, "cannot write '" + file + "'");
      }
      buf.clear();
      if (g.rate > 0) {
        const auto due = begin + std::chrono::duration<double>(static_cast<double>(i + 1) / static_cast<double>(g.rate));
        std::this_thread::sleep_until(due);
      }
    }
  }
  if (std::fclose(f) != 0) throw dataflow::io_error(file, "cannot write '" + file + "'");
}

}  // namespace examples
