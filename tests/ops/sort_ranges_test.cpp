// The output of a large in-memory sort kept by range (sorted_ranges over line_groups records):
// strings of every length the records encode, from several writer threads and views held
// beside them, read by 1 to 4 threads over partitions of any size, ranges released as the
// output passes them, are the sequential order; a reader that throws stops the rest; and what
// the ranges hold is charged to the gauge while they hold it, and nothing once they are gone.
#include "../support/test_support.hpp"

#include <dataflow/graph/memory_gauge.hpp>

#include <dataflow/ops/sort_distribute.hpp>
#include <dataflow/ops/sort_ranges.hpp>
#include <dataflow/storage/line_groups.hpp>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using dataflow::detail::line_groups;
using dataflow::detail::sorted_ranges;
using dataflow::detail::string_prefix;

namespace {

std::string make_string(std::mt19937_64& rng, int mode) {
  const int lens[] = {0, 1, 7, 8, 9, 254, 255, 256, 16375, 16376, 16384, 40000};
  switch (mode) {
    case 0: return std::string(lens[rng() % 12], static_cast<char>('a' + rng() % 3));
    case 1: return std::string(1 << 20 | 1, static_cast<char>('a' + rng() % 26));  // > half a block
    case 2: {  // short, random bytes including 0 and 0xFF
      std::string s(rng() % 20, '\0');
      for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0xFF : rng() % 256);
      return s;
    }
    default: return "k" + std::to_string(rng() % 100000);
  }
}

struct world {
  std::vector<std::string> all;
  std::vector<std::string> pre;  // the views' storage
  std::unique_ptr<line_groups> groups;
  std::vector<line_groups::cursor> cursors;
};

void run_once(std::uint64_t seed, int sample_kind, std::size_t threads, std::size_t parts, bool throw_in_output) {
  std::mt19937_64 rng(seed);
  world w;
  std::vector<std::uint64_t> sample;
  for (int i = 0; i < 2000; ++i) {
    if (sample_kind == 0) sample.push_back(string_prefix(make_string(rng, 3)));
    else if (sample_kind == 1) sample.push_back(42);
    else sample.push_back(rng());
  }
  w.groups = std::make_unique<line_groups>(sample);
  const int T = 3;
  std::vector<std::vector<std::string>> per(T);
  for (int t = 0; t < T; ++t) {
    const std::size_t n = 3000 + rng() % 20000;
    for (std::size_t i = 0; i < n; ++i) {
      const int r = static_cast<int>(rng() % 1000);
      const int mode = r < 1 && i % 8 == 0 ? 1 : r < 20 ? 0 : r < 300 ? 2 : 3;  // a few of 1 MiB
      per[t].push_back(make_string(rng, mode));
    }
  }
  for (int i = 0; i < 3000; ++i) w.pre.push_back(make_string(rng, static_cast<int>(rng() % 4 == 0 ? 2 : 3)));
  w.cursors.resize(T);
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < T; ++t)
      pool.emplace_back([&, t] {
        for (const std::string& s : per[t]) w.groups->copy(w.cursors[t], s, string_prefix(s));
      });
    for (auto& th : pool) th.join();
  }
  std::vector<sorted_ranges::input> ranges(line_groups::count);
  for (const std::string& s : w.pre) ranges[w.groups->group_of(string_prefix(s))].views.push_back(s);
  for (int t = 0; t < T; ++t) {
    w.cursors[t].close();
    for (std::size_t g = 0; g < line_groups::count; ++g) {
      auto& from = w.cursors[t].extents[g];
      ranges[g].records.insert(ranges[g].records.end(), from.begin(), from.end());
      ranges[g].strings += w.cursors[t].strings[g];
    }
  }
  std::vector<std::string> want;
  for (auto& v : per) want.insert(want.end(), v.begin(), v.end());
  want.insert(want.end(), w.pre.begin(), w.pre.end());
  std::sort(want.begin(), want.end());

  dataflow::detail::memory_gauge gauge;
  sorted_ranges by;
  by.assign(std::move(ranges), threads, dataflow::detail::gauge_charge(gauge));
  CHECK(gauge.now() > 0);  // the views and the extents
  REQUIRE(by.size() == want.size());
  const std::size_t n = by.size();
  by.sort_large(std::max<std::size_t>(1000, 2 * n / line_groups::count), [](auto&& f) { f(); });
  std::vector<std::pair<std::size_t, std::size_t>> pr;
  for (std::size_t p = 0; p < parts; ++p) pr.push_back({n * p / parts, n * (p + 1) / parts});
  std::vector<std::vector<std::string>> got(parts);
  std::vector<bool> read(parts);
  std::size_t read_up_to = 0, released = 0;
  std::mutex m;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::atomic<int> thrown{0};
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (;;) {
        if (stop) return;
        const std::size_t p = next.fetch_add(1);
        if (p >= parts) return;
        try {
          by.for_each(pr[p].first, pr[p].second, 97, [&] { return stop.load(); },
                      [&](std::span<const std::string_view> v) {
                        if (throw_in_output && p == parts / 2) throw std::runtime_error("downstream");
                        for (auto s : v) got[p].emplace_back(s);
                      },
                      "t");
        } catch (const std::runtime_error&) {
          ++thrown;
          stop = true;
          return;
        }
        std::lock_guard<std::mutex> lock(m);
        read[p] = true;
        while (read_up_to < parts && read[read_up_to]) ++read_up_to;
        const std::size_t passed = read_up_to == 0 ? 0 : pr[read_up_to - 1].second;
        for (; released < by.ranges() && by.end_of(released) <= passed; ++released) {
          w.groups->release(released);
          by.release(released);
        }
      }
    });
  for (auto& th : pool) th.join();
  if (throw_in_output) {
    REQUIRE(thrown == 1);
    by.clear();
    CHECK(gauge.now() == 0);
    return;
  }
  // Every range was released as the output passed it: nothing is held, and the sorted keys
  // were charged while they were.
  CHECK(released == by.ranges());
  CHECK(gauge.now() == 0);
  CHECK(gauge.peak() >= want.size() / line_groups::count * sizeof(dataflow::detail::prefixed_view));
  std::vector<std::string> out;
  for (auto& g : got) out.insert(out.end(), std::make_move_iterator(g.begin()), std::make_move_iterator(g.end()));
  REQUIRE(out.size() == want.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] != want[i]) FAIL("first difference at item " << i);
  }
}

}  // namespace

TEST_CASE("sorted_ranges reads records and views of every length in order, from any number of threads", "[sort]") {
  for (std::uint64_t seed = 1; seed <= 2; ++seed)
    for (int kind = 0; kind < 3; ++kind)
      for (std::size_t threads : {1, 2, 4})
        for (std::size_t parts : {1, 7, 64}) {
          CAPTURE(seed, kind, threads, parts);
          run_once(seed, kind, threads, parts, false);
        }
  for (int kind = 0; kind < 3; ++kind) run_once(9, kind, 3, 16, true);
}
