// Run statistics add up: the items out of one stage are the items into the next where the node
// between keeps them all, spilled bytes match what spill files received, a failed run is marked.
#include "../support/test_support.hpp"

#include <dataflow/storage/spill_file.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace dataflow::literals;

TEST_CASE("stage statistics add up along a pipeline", "[stats]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  for (std::size_t n : test::sizes()) {
    CAPTURE(threads, n);
    std::vector<std::uint64_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = i * 7;
    std::size_t kept = 0;
    for (auto x : v) kept += x % 3 != 0;
    auto counted = ctx.from(v)
                       .filter([](std::uint64_t x) { return x % 3 != 0; })
                       .partition_by([](std::uint64_t x) { return static_cast<std::size_t>(x); }, 7)
                       .map([](std::uint64_t x) { return x + 1; })
                       .count();
    CHECK(counted == kept);
    const auto& run = ctx.last_run();
    REQUIRE(run.stages.size() == 2);
    CHECK(run.action.rfind("count#", 0) == 0);
    CHECK(run.threads == threads);
    CHECK_FALSE(run.failed);
    CHECK(run.stages[0].items_in == n);
    CHECK(run.stages[0].items_out == kept);
    CHECK(run.stages[1].items_in == run.stages[0].items_out);  // partition_by keeps every item
    CHECK(run.stages[1].items_out == kept);
    CHECK(run.stages[1].partitions == 7);
    CHECK(run.stages[0].name.find("filter#") != std::string::npos);
    CHECK(run.wall_seconds >= run.stages[0].wall_seconds);
    CHECK(run.table().find("total") != std::string::npos);
    CHECK(run.json().rfind("{\"action\":\"count#", 0) == 0);
  }
}

TEST_CASE("statistics show a shuffle's reduction, skew and spills", "[stats][spill]") {
  const std::size_t threads = DATAFLOW_THREADS();
  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.memory_budget(32_KiB).spill_directory(dir.path().string());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> rows(300007);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = {i % 100003, 1};
  const auto bytes = dataflow::detail::spilled_bytes_total.load();
  const auto files = dataflow::detail::spill_files_total.load();
  auto groups = ctx.from(rows).reduce_by_key(std::plus<>{}).count();
  CHECK(groups == 100003);
  const auto& run = ctx.last_run();
  REQUIRE(run.stages.size() == 2);
  CHECK(run.stages[0].items_out == rows.size());
  CHECK(run.stages[1].items_in == groups);
  CHECK(run.spilled_bytes == dataflow::detail::spilled_bytes_total.load() - bytes);
  CHECK(run.spill_files == dataflow::detail::spill_files_total.load() - files);
  CHECK(run.spilled_bytes > 0);
  CHECK(run.memory_budget == 32_KiB);

  // Every item but a few in one partition: the fullest is far above the median.
  auto skewed = ctx.from(rows)
                    .partition_by([](const auto& r) { return r.first % 1000 == 0 ? r.first / 1000 % 8 : 0; }, 8)
                    .count();
  CHECK(skewed == rows.size());
  CHECK(ctx.last_run().stages.back().skew() > 10);
}

TEST_CASE("bytes in and out are the items' data bytes, stage to stage", "[stats]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  for (std::size_t n : test::sizes()) {
    CAPTURE(threads, n);
    // Words of random lengths, some repeated: the data bytes of a string are its characters.
    std::vector<std::string> words(n);
    std::uint64_t chars = 0, kept_chars = 0, kept = 0;
    std::map<std::string_view, int> groups;
    std::mt19937_64 gen(n + 3);
    for (auto& w : words) {
      w = std::string(gen() % 40, static_cast<char>('a' + gen() % 3));
      chars += w.size();
    }
    for (const auto& w : words) {
      if (w.size() % 4 == 0) continue;
      ++kept, kept_chars += w.size();
      groups[w] += 1;
    }
    std::uint64_t group_bytes = 0;
    for (const auto& [k, c] : groups) group_bytes += k.size() + sizeof(int);
    auto counted = ctx.from(words)
                       .filter([](const std::string& w) { return w.size() % 4 != 0; })
                       .map([](const std::string& w) { return std::pair{std::string_view(w), 1}; })
                       .reduce_by_key(std::plus<>{})
                       .count();
    CHECK(counted == groups.size());
    const auto& run = ctx.last_run();
    REQUIRE(run.stages.size() == 2);
    CHECK(run.stages[0].bytes_in == chars);
    CHECK(run.stages[0].bytes_out == kept_chars + kept * sizeof(int));
    CHECK(run.stages[1].bytes_in == group_bytes);
    CHECK(run.stages[1].bytes_out == group_bytes);  // no operator between: out is in
    CHECK(run.json().find("\"bytes_in\":" + std::to_string(chars) + ",") != std::string::npos);
    CHECK(run.table().find("bytes in") != std::string::npos);

    // Fixed-size items count their size.
    std::vector<std::uint64_t> v(n, 5);
    CHECK(ctx.from(v).map([](std::uint64_t x) { return static_cast<std::uint32_t>(x); }).count() == n);
    CHECK(ctx.last_run().stages[0].bytes_in == n * 8);
    CHECK(ctx.last_run().stages[0].bytes_out == n * 4);
  }
}

TEST_CASE("bytes count what the items become, whatever the operators hand over", "[stats]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  std::vector<int> v(1001);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int>(i);
  // vector<bool> hands out proxies; the items are bools, a byte each, on both sides of the shuffle.
  auto bits = ctx.from(v).flat_map([](int x) { return std::vector<bool>(3, x % 2 == 1); });
  CHECK(bits.partition_by([](bool b) { return b ? 1 : 0; }, 2).count() == 3 * v.size());
  CHECK(ctx.last_run().stages[0].bytes_out == 3 * v.size());
  CHECK(ctx.last_run().stages[1].bytes_in == 3 * v.size());
  // After a callback flat_map, the next function may take its item by non-const reference.
  auto twice = ctx.from(v)
                   .flat_map<std::string>([](int x, auto&& emit) {
                     std::string s(static_cast<std::size_t>(x % 5), 'x');
                     emit(s);
                     emit(s);
                   })
                   .map([](auto& s) { return s.size(); });
  CHECK(twice.count() == 2 * v.size());
  CHECK(ctx.last_run().stages[0].bytes_out == 2 * v.size() * sizeof(std::size_t));
  // A const member counts as the member would.
  using row = std::pair<const std::string_view, int>;
  CHECK(dataflow::detail::data_bytes(row{"abc", 1}) == 3 + sizeof(int));
  CHECK(dataflow::detail::data_bytes(std::tuple<const std::string, const int>{"ab", 1}) == 2 + sizeof(int));
}

TEST_CASE("peak memory is what the building tables hold, within the budget", "[stats][spill]") {
  const std::size_t threads = DATAFLOW_THREADS();
  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.spill_directory(dir.path().string());
  ctx.on_recompute(dataflow::recompute_policy::allow);  // the same pipeline under two budgets
  const std::size_t keys = 400009;
  auto rows = ctx.generate(keys * 3, [](std::size_t i) { return std::pair{std::uint64_t{i % keys}, std::uint64_t{1}}; });
  auto sums = rows.reduce_by_key(std::plus<>{});

  // No budget: every distinct key sits in a table (16 bytes of row at least).
  CHECK(sums.count() == keys);
  const auto free_run = ctx.last_run();
  CHECK(free_run.stages[0].peak_memory >= keys * 16);
  CHECK(free_run.peak_memory >= free_run.stages[0].peak_memory);
  // One thread's tables move into the output whole: moved bytes are not counted twice.
  if (threads == 1) CHECK(free_run.peak_memory == free_run.stages[0].peak_memory);
  CHECK(free_run.spilled_bytes == 0);

  // Under a budget the tables spill instead of growing past their share.
  const std::size_t budget = (8 + 2 * threads) << 20;
  ctx.memory_budget(budget);
  CHECK(sums.count() == keys);
  const auto& tight = ctx.last_run();
  CHECK(tight.spilled_bytes > 0);
  CHECK(tight.stages[0].peak_memory > 0);
  CHECK(tight.peak_memory <= budget);
  CHECK(tight.stages[0].peak_memory < free_run.stages[0].peak_memory);

  // A filled cache stays charged while it lives.
  ctx.memory_budget(0);
  std::vector<std::uint64_t> v(100000, 1);
  auto kept = ctx.from(v).map([](std::uint64_t x) { return x + 1; }).cache();
  CHECK(kept.count() == v.size());
  CHECK(ctx.last_run().peak_memory >= v.size() * 8);
  CHECK(ctx.from(v).count() == v.size());
  CHECK(ctx.last_run().peak_memory >= v.size() * 8);
}

TEST_CASE("a failed run's statistics say so", "[stats][errors]") {
  dataflow::context ctx(2);
  std::vector<int> v(10000, 1);
  auto bad = ctx.from(v).map([](int x) {
    if (x == 1) throw std::runtime_error("no");
    return x;
  });
  CHECK_THROWS(bad.count());
  CHECK(ctx.last_run().failed);
  CHECK(ctx.last_run().json().find("\"failed\":true") != std::string::npos);
}

namespace {

/// Runs fn with stderr sent to a file, and returns what was written.
template <class F>
std::string capture_stderr(F&& fn) {
  test::temp_dir dir;
  const std::string path = dir.file("stderr.txt");
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
  try {
    fn();
  } catch (...) {
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    throw;
  }
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  return test::read_file(path);
}

/// A pipeline that takes about 0.4 s whatever the thread count.
std::size_t slow_count(dataflow::context& ctx) {
  std::vector<int> v(400);
  return ctx.from(v)
      .map([](int x) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return x;
      })
      .count();
}

}  // namespace

TEST_CASE("progress goes to a handler, with a last sample when the run ends", "[stats][progress]") {
  dataflow::context ctx(1);
  std::vector<dataflow::progress_info> samples;
  std::mutex m;
  ctx.on_progress(
      [&](const dataflow::progress_info& p) {
        std::lock_guard<std::mutex> lock(m);
        samples.push_back(p);
      },
      std::chrono::milliseconds(50), std::chrono::milliseconds(0));
  CHECK(slow_count(ctx) == 400);
  std::lock_guard<std::mutex> lock(m);
  REQUIRE(samples.size() >= 3);
  CHECK(samples.back().finished);
  CHECK(samples.back().items == 400);
  CHECK(samples.back().bytes == 400 * sizeof(int));
  CHECK(samples.back().items_total == 400);  // an in-memory source knows its size
  CHECK(samples.back().line().find("400 of 400 items (100%), 1.6 KiB") != std::string::npos);
  CHECK(samples.back().partitions_done == samples.back().partitions_total);
  CHECK(samples.back().stage.find("map#") != std::string::npos);
  for (std::size_t i = 1; i < samples.size(); ++i) {
    CHECK(samples[i].elapsed_seconds >= samples[i - 1].elapsed_seconds);
    CHECK(samples[i].items >= samples[i - 1].items);
    CHECK_FALSE(samples[i - 1].finished);
  }
}

TEST_CASE("progress on a non-terminal is plain lines, and off means nothing", "[stats][progress]") {
  dataflow::context ctx(2);
  ctx.progress(dataflow::progress_mode::automatic, std::chrono::milliseconds(0));
  const std::string shown = capture_stderr([&] { CHECK(slow_count(ctx) == 400); });
  CAPTURE(shown);
  REQUIRE_FALSE(shown.empty());
  CHECK(shown.find('\r') == std::string::npos);
  CHECK(shown.back() == '\n');
  CHECK(shown.find("count#") != std::string::npos);
  CHECK(shown.find("partitions") != std::string::npos);

  ctx.progress(dataflow::progress_mode::off);
  CHECK(capture_stderr([&] { CHECK(slow_count(ctx) == 400); }).empty());
}

TEST_CASE("progress knows a stage's total where its input does", "[stats][progress]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  dataflow::progress_info last;
  ctx.on_progress([&](const dataflow::progress_info& p) { last = p; }, std::chrono::milliseconds(50),
                  std::chrono::milliseconds(0));
  std::vector<std::uint64_t> v(10007);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
  auto by_key = ctx.from(v).map([](std::uint64_t x) { return std::pair{x % 13, x}; });
  // The last stage reads reduce_by_key's output, whose size is known once merged.
  CHECK(by_key.reduce_by_key(std::plus<>{}).count() == 13);
  CHECK(last.finished);
  CHECK(last.items == 13);
  CHECK(last.items_total == 13);
  CHECK(ctx.generate(777, [](std::size_t i) { return i; }).count() == 777);
  CHECK(last.items_total == 777);
  // A file of lines does not know how many it has.
  test::temp_dir dir;
  test::write_file(dir.file("a.txt"), "x\ny\n");
  CHECK(ctx.read_lines(dir.file("a.txt")).count() == 2);
  CHECK(last.items_total == 0);
  CHECK(last.line().find("2 items,") != std::string::npos);
}

TEST_CASE("a job's figures: each stage summed over the ranks that ran it", "[stats]") {
  // Three ranks' figures of one run, made up so that every sum, maximum and median is distinct.
  std::mt19937_64 rng(3);
  std::vector<dataflow::run_stats> each(3);
  for (std::size_t r = 0; r < each.size(); ++r) {
    auto& run = each[r];
    run.action = "count#4";
    run.threads = 2;
    run.wall_seconds = 1.0 + static_cast<double>(r);
    run.cpu_seconds = 0.5 * static_cast<double>(r + 1);
    run.spilled_bytes = 100 * (r + 1);
    run.peak_memory = 1000 * (r + 1);
    for (const char* name : {"generate#1 -> reduce_by_key#2 (this rank)", "exchange#3"}) {
      dataflow::stage_stats s;
      s.name = name;
      s.items_in = rng() % 1000;
      s.items_out = rng() % 1000;
      s.partitions = 16;
      s.largest_partition = rng() % 100 + 50;
      s.median_partition = rng() % 50 + 1;
      s.wall_seconds = static_cast<double>(rng() % 100) / 10;
      s.bytes_sent = rng() % 5000;
      s.bytes_received = rng() % 5000;
      s.comm_seconds = static_cast<double>(rng() % 100) / 100;
      run.stages.push_back(s);
    }
  }
  // A stage only rank 1 ran (a cache filled there alone) is not combined.
  each[1].stages.push_back(each[1].stages[0]);
  each[1].stages.back().name = "cache#5";

  for (std::size_t me = 0; me < each.size(); ++me) {
    const dataflow::run_stats job = dataflow::detail::job_wide(each, me);
    CHECK(job.ranks == 3);
    CHECK(job.wall_seconds == 3.0);
    CHECK(job.cpu_seconds == 3.0);
    CHECK(job.spilled_bytes == 600);
    CHECK(job.peak_memory == 6000);
    REQUIRE(job.stages.size() == each[me].stages.size());
    for (std::size_t i = 0; i < 2; ++i) {
      const auto& s = job.stages[i];
      std::uint64_t in = 0, out = 0, sent = 0, received = 0, largest = 0, most = 0;
      double wall = 0, comm = 0;
      std::vector<std::uint64_t> medians;
      for (const auto& r : each) {
        const auto& x = r.stages[i];
        in += x.items_in, out += x.items_out, sent += x.bytes_sent, received += x.bytes_received;
        largest = std::max(largest, x.largest_partition);
        most = std::max(most, x.items_in);
        wall = std::max(wall, x.wall_seconds);
        comm = std::max(comm, x.comm_seconds);
        medians.push_back(x.median_partition);
      }
      std::sort(medians.begin(), medians.end());
      CHECK(s.name == each[0].stages[i].name);
      CHECK(s.ranks == 3);
      CHECK(s.items_in == in);
      CHECK(s.items_out == out);
      CHECK(s.partitions == 48);
      CHECK(s.largest_partition == largest);
      CHECK(s.median_partition == medians[1]);
      CHECK(s.largest_rank_items == most);
      CHECK(s.rank_skew() == Approx(static_cast<double>(most) * 3 / static_cast<double>(in)));
      CHECK(s.wall_seconds == wall);
      CHECK(s.comm_seconds == comm);
      CHECK(s.bytes_sent == sent);
      CHECK(s.bytes_received == received);
    }
    if (me == 1) {
      CHECK(job.stages[2].name == "cache#5");
      CHECK(job.stages[2].ranks == 1);
      CHECK(job.stages[2].items_in == each[1].stages[0].items_in);
    }
    const std::string table = job.table();
    CHECK_THAT(table, Catch::Contains("3 ranks x 2 threads") && Catch::Contains("rank skew") && Catch::Contains("comm s"));
    CHECK_THAT(job.json(), Catch::Contains("\"ranks\":3,\"stages\"") && Catch::Contains("\"bytes_sent\":"));
  }
  // One process: no rank columns.
  CHECK_THAT(each[0].table(), !Catch::Contains("rank skew") && Catch::Contains("(2 threads)"));
}

TEST_CASE("every spilled byte counts in a stage, a barrier's merge and last spills included", "[stats][spill]") {
  test::temp_dir dir;
  dataflow::context ctx(DATAFLOW_THREADS());
  ctx.memory_budget(64_KiB).spill_directory(dir.path().string());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> rows(200003);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = {(i * 7919) % 50021, i};
  auto check = [&](const char* what, std::uint64_t result, std::uint64_t expected) {
    CAPTURE(what);
    CHECK(result == expected);
    const auto& run = ctx.last_run();
    std::uint64_t bytes = 0, files = 0;
    for (const auto& s : run.stages) {
      bytes += s.spilled_bytes;
      files += s.spill_files;
    }
    CHECK(run.spilled_bytes > 0);
    CHECK(bytes == run.spilled_bytes);
    CHECK(files == run.spill_files);
  };
  auto data = ctx.from(rows);
  check("reduce_by_key", data.reduce_by_key(std::plus<>{}).count(), 50021);
  check("group_by_key", data.group_by_key().count(), 50021);
  check("sort", data.sort().count(), rows.size());
  std::atomic<std::uint64_t> groups{0}, values{0};
  data.for_each_group([&](const std::uint64_t&, dataflow::group_values<std::uint64_t>& vs) {
    ++groups;
    for (std::uint64_t v : vs) values += v < rows.size();
  });
  CHECK(values.load() == rows.size());
  check("for_each_group", groups.load(), 50021);
  check("join", data.join(data.map([](const auto& r) { return std::pair{r.first, r.second + 1}; })).count(),
        [&] {
          std::map<std::uint64_t, std::uint64_t> per_key;
          for (const auto& r : rows) ++per_key[r.first];
          std::uint64_t n = 0;
          for (const auto& [k, c] : per_key) n += c * c;
          return n;
        }());
}

namespace {
// A key whose == sleeps: a join's build compares the keys of a right side's duplicates, and
// nothing else of the right side's does, so its stage's time shows whether the build counts.
struct slow_key {
  std::uint64_t v = 0;
  bool operator==(const slow_key& o) const {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    return v == o.v;
  }
};
}  // namespace

template <>
struct std::hash<slow_key> {
  std::size_t operator()(const slow_key& k) const noexcept { return k.v; }
};

TEST_CASE("a join's build counts in its right side's stage, even after the left side's own stages", "[stats]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  const std::uint64_t keys = 1000, copies = 4;
  std::vector<std::pair<slow_key, std::uint64_t>> right, left;
  for (std::uint64_t i = 0; i < keys * copies; ++i) right.push_back({slow_key{i % keys}, i});
  for (std::uint64_t i = 0; i < 100; ++i) left.push_back({slow_key{i * 7}, i});
  // The build compares keys (keys * (copies - 1)) times at least, sleeping each time.
  const double build_seconds = static_cast<double>(keys * (copies - 1)) * 50e-6 / static_cast<double>(threads);
  auto right_stage_wall = [&](std::uint64_t joined) {
    CHECK(joined == 100 * copies);
    for (const auto& s : ctx.last_run().stages) {
      if (s.name.ends_with("(right)")) return s.wall_seconds;
    }
    FAIL("no stage of the join's right side");
    return 0.0;
  };
  auto r = ctx.from(right);
  CHECK(right_stage_wall(ctx.from(left).join(r).count()) >= build_seconds);
  // The left side reduced first: its stage runs between the right side's stage and the build.
  const auto reduced = ctx.from(left).reduce_by_key(std::plus<>{});
  CHECK(right_stage_wall(reduced.join(r).count()) >= build_seconds);
}

TEST_CASE("a stage feeds a consumer of its whole label only", "[stats]") {
  using dataflow::detail::stage_feeds;
  CHECK(stage_feeds("from#1 -> map#2 -> x (right)", "x (right)"));
  CHECK(stage_feeds("from#1 -> x (right)", "x (right)"));
  CHECK_FALSE(stage_feeds("from#1 -> max (right)", "x (right)"));  // a label of its own, not x's
  CHECK_FALSE(stage_feeds("x (right)", "x (right)"));
  CHECK_FALSE(stage_feeds("from#1 -> x (right) -> count#3", "x (right)"));
}
