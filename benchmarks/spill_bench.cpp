// Larger than memory: out-of-core sort and reduce_by_key under a 256 MiB budget, against an
// in-memory sequential baseline, GNU sort given the same memory, and the disk's own speed.
//
// Inputs: $DATAFLOW_BENCH_DIR/lines-<MiB>MiB.txt of random 100-byte lines (made if missing,
// $DATAFLOW_BENCH_SORT_MB, default 1907 = 2 GB) and $DATAFLOW_BENCH_SPILL_ROWS (default 100M)
// generated (uint64, double) rows over $DATAFLOW_BENCH_SPILL_KEYS (default 50M) keys.
// Counters: peak RSS, MiB spilled, and x_disk: the time over the time the disk needs to move
// the bytes the run moves (input read, spills written and read back, output written) at the
// sequential bandwidth measured at start.
#include "bench_common.hpp"
#include "datagen.hpp"

#include <dataflow/dataflow.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace dataflow::literals;
constexpr std::size_t budget = 256_MiB;

std::string bench_dir() { return bench::data_path(""); }

struct disk_speed {
  double write_mib_s = 0, read_mib_s = 0;
};

/// Sequential bandwidth of the spill disk: 1 GiB written with fsync, then read back after
/// dropping it from the page cache.
disk_speed measure_disk() {
  const std::string path = bench_dir() + "/disk-probe.tmp";
  const std::size_t total = 1_GiB, chunk = 1_MiB;
  std::vector<char> buf(chunk, 'x');
  using clock = std::chrono::steady_clock;
  disk_speed s;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return s;
  auto t0 = clock::now();
  for (std::size_t done = 0; done < total; done += chunk) {
    if (::write(fd, buf.data(), chunk) != static_cast<ssize_t>(chunk)) break;
  }
  ::fsync(fd);
  s.write_mib_s = 1024.0 / std::chrono::duration<double>(clock::now() - t0).count();
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  fd = ::open(path.c_str(), O_RDONLY);
  t0 = clock::now();
  while (::read(fd, buf.data(), chunk) > 0) {
  }
  s.read_mib_s = 1024.0 / std::chrono::duration<double>(clock::now() - t0).count();
  ::close(fd);
  ::unlink(path.c_str());
  return s;
}

const disk_speed& disk() {
  static const disk_speed s = [] {
    disk_speed d = measure_disk();
    std::fprintf(stderr, "disk: sequential write %.0f MiB/s (with fsync), read %.0f MiB/s (uncached)\n",
                 d.write_mib_s, d.read_mib_s);
    return d;
  }();
  return s;
}

/// Sets x_disk: seconds per iteration over the time the disk needs for the bytes moved.
void set_disk_ratio(benchmark::State& state, double seconds, double read_mib, double write_mib) {
  const auto& d = disk();
  if (d.write_mib_s <= 0 || d.read_mib_s <= 0) return;
  const double floor = read_mib / d.read_mib_s + write_mib / d.write_mib_s;
  state.counters["x_disk"] = seconds / floor;
}

const std::string& lines_file() {
  static const std::string path = [] {
    const auto mib = bench::env_size("DATAFLOW_BENCH_SORT_MB", 1907);
    std::string p = bench_dir() + "/lines-" + std::to_string(mib) + "MiB.txt";
    if (::access(p.c_str(), R_OK) != 0) bench::write_random_lines(p, mib << 20);
    return p;
  }();
  bench::warm_file(path);
  return path;
}

double file_mib(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return static_cast<double>(st.st_size) / (1 << 20);
}

std::string sorted_path() { return bench_dir() + "/sorted.out"; }

// The sequential baseline: read every line into memory, std::sort the views, write them out.
void sort_sequential(benchmark::State& state) {
  const std::string& in = lines_file();
  bench::rss_probe rss(state);
  for (auto _ : state) {
    std::string text;
    {
      std::FILE* f = std::fopen(in.c_str(), "rb");
      text.resize(static_cast<std::size_t>(file_mib(in) * (1 << 20)));
      text.resize(std::fread(text.data(), 1, text.size(), f));
      std::fclose(f);
    }
    std::vector<std::string_view> lines;
    for (std::size_t at = 0; at < text.size();) {
      std::size_t nl = text.find('\n', at);
      if (nl == std::string::npos) nl = text.size();
      lines.emplace_back(text.data() + at, nl - at);
      at = nl + 1;
    }
    std::sort(lines.begin(), lines.end());
    std::FILE* out = std::fopen(sorted_path().c_str(), "wb");
    for (auto l : lines) {
      std::fwrite(l.data(), 1, l.size(), out);
      std::fputc('\n', out);
    }
    std::fclose(out);
  }
}

void sort_dataflow(benchmark::State& state, std::size_t threads, std::size_t mem) {
  const std::string& in = lines_file();
  dataflow::context ctx(threads);
  ctx.memory_budget(mem).spill_directory(bench_dir());
  bench::rss_probe rss(state);
  std::uint64_t spilled = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const auto before = dataflow::detail::spilled_bytes_total.load();
    ctx.read_lines(in).sort().write_lines(sorted_path());
    spilled = dataflow::detail::spilled_bytes_total.load() - before;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                      static_cast<double>(state.iterations());
  const double mib = file_mib(in), spill_mib = static_cast<double>(spilled) / (1 << 20);
  state.counters["spilled_MiB"] = spill_mib;
  set_disk_ratio(state, secs, mib + spill_mib, mib + spill_mib);
}

// GNU sort with the same memory and threads, run as a child process; its peak RSS comes from
// getrusage(RUSAGE_CHILDREN), which keeps the largest child seen so far.
void sort_gnu(benchmark::State& state, std::size_t threads, const std::string& mem) {
  const std::string& in = lines_file();
  const std::string cmd = "LC_ALL=C sort -S " + mem + " --parallel=" + std::to_string(threads) +
                          " -T '" + bench_dir() + "' -o '" + sorted_path() + "' '" + in + "'";
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (std::system(cmd.c_str()) != 0) state.SkipWithError("sort failed");
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                      static_cast<double>(state.iterations());
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  state.counters["peak_rss_MiB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
  const double mib = file_mib(in);
  set_disk_ratio(state, secs, 2 * mib, 2 * mib);
}

// ---- reduce_by_key with many keys under the budget ----

struct sum_count {
  double sum = 0;
  std::uint64_t count = 0;
  sum_count operator+(const sum_count& o) const { return {sum + o.sum, count + o.count}; }
};

std::uint64_t spill_rows() { return bench::env_size("DATAFLOW_BENCH_SPILL_ROWS", 100'000'000); }
std::uint64_t spill_keys() { return bench::env_size("DATAFLOW_BENCH_SPILL_KEYS", 50'000'000); }

/// Row i: a key uniform over `keys` values (scrambled) and a value in [0, 1).
inline std::pair<std::uint64_t, sum_count> row_at(std::uint64_t i, std::uint64_t keys) {
  const std::uint64_t r = dataflow::detail::mix64(i + 0x9e3779b97f4a7c15ull);
  return {dataflow::detail::mix64((r % keys) + 1), {static_cast<double>(r >> 11) * 0x1.0p-53, 1}};
}

void reduce_sequential(benchmark::State& state) {
  using entry = std::pair<std::uint64_t, sum_count>;
  const std::uint64_t n = spill_rows(), keys = spill_keys();
  bench::rss_probe rss(state);
  for (auto _ : state) {
    dataflow::detail::hash_table<entry, dataflow::detail::keyed_slots<std::uint64_t>> t;  // as reduce_by_key's
    auto key_of = [](const entry& e) { return e.first; };
    for (std::uint64_t i = 0; i < n; ++i) {
      auto row = row_at(i, keys);
      const auto h = dataflow::detail::table_hash(row.first);
      auto* e = t.find_or_emplace(h, row.first, key_of, [&] { return entry{row.first, {}}; }).first;
      e->second = e->second + row.second;
    }
    benchmark::DoNotOptimize(t.size());
  }
}

void reduce_dataflow(benchmark::State& state, std::size_t threads) {
  const std::uint64_t n = spill_rows(), keys = spill_keys();
  dataflow::context ctx(threads);
  ctx.memory_budget(budget).spill_directory(bench_dir());
  bench::rss_probe rss(state);
  std::uint64_t spilled = 0, groups = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const auto before = dataflow::detail::spilled_bytes_total.load();
    groups = ctx.generate(n, [keys](std::size_t i) { return row_at(i, keys); })
                 .reduce_by_key(std::plus<>{})
                 .count();
    spilled = dataflow::detail::spilled_bytes_total.load() - before;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                      static_cast<double>(state.iterations());
  const double spill_mib = static_cast<double>(spilled) / (1 << 20);
  state.counters["groups"] = static_cast<double>(groups);
  state.counters["spilled_MiB"] = spill_mib;
  set_disk_ratio(state, secs, spill_mib, spill_mib);
}

}  // namespace

int main(int argc, char** argv) {
  disk();
  bench::register_sequential("sort_lines/sequential", sort_sequential);
  bench::register_threads("sort_lines/dataflow_256M",
                          [](benchmark::State& s, std::size_t t) { sort_dataflow(s, t, budget); });
  bench::register_threads("sort_lines/gnu_sort_256M",
                          [](benchmark::State& s, std::size_t t) { sort_gnu(s, t, "256M"); });
  bench::register_threads("sort_lines/dataflow_in_mem",
                          [](benchmark::State& s, std::size_t t) { sort_dataflow(s, t, 0); });
  bench::register_threads("sort_lines/gnu_sort_in_mem",
                          [](benchmark::State& s, std::size_t t) { sort_gnu(s, t, "8G"); });
  bench::register_sequential("sum_by_key_spill/sequential", reduce_sequential);
  bench::register_threads("sum_by_key_spill/dataflow_256M",
                          [](benchmark::State& s, std::size_t t) { reduce_dataflow(s, t); });
  int rc = bench::run_main(argc, argv);
  ::unlink(sorted_path().c_str());
  return rc;
}
