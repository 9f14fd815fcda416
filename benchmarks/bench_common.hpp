// What every benchmark program shares: peak-memory measurement, sizes from the environment, and
// a reporter that ends the run with a table of each variant against the sequential baseline.
#pragma once

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace bench {

/// Returns an integer from the environment, or `fallback`.
inline std::uint64_t env_size(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

/// Resets the process's peak resident set size (Linux: /proc/self/clear_refs, value 5), after
/// handing the heap's free memory back, so that what an earlier benchmark freed is not counted.
inline void reset_peak_rss() {
  ::malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
}

/// Returns the peak resident set size since the last reset, in MiB.
inline double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0;
}

/// Measures peak memory over a benchmark's timed loop: construct before the loop.
class rss_probe {
 public:
  explicit rss_probe(benchmark::State& state) : state_(state) { reset_peak_rss(); }
  ~rss_probe() { state_.counters["peak_rss_MiB"] = peak_rss_mib(); }

 private:
  benchmark::State& state_;
};

/// Prints the usual console output, then a comparison table: for each workload, every variant's
/// median wall time, its speedup over the sequential baseline and its peak memory.
class comparison_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      std::string name = r.run_name.function_name;  // "workload/variant"
      auto slash = name.find('/');
      if (slash == std::string::npos) continue;
      entry e;
      e.workload = name.substr(0, slash);
      e.variant = name.substr(slash + 1);
      e.threads = r.run_name.args;  // "threads:N"
      e.seconds = r.GetAdjustedRealTime() / unit_per_second(r.time_unit);
      auto rss = r.counters.find("peak_rss_MiB");
      e.rss = rss == r.counters.end() ? 0 : static_cast<double>(rss->second);
      auto key = e.workload + "|" + e.variant + "|" + e.threads;
      if (r.run_type == Run::RT_Aggregate || !entries_.count(key)) entries_[key] = e;
      if (std::find(order_.begin(), order_.end(), key) == order_.end()) order_.push_back(key);
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::map<std::string, double> baseline;
    for (const auto& [k, e] : entries_) {
      if (e.variant == "sequential") baseline[e.workload] = e.seconds;
    }
    std::string out = "\nComparison (median wall time; speedup = sequential time / time; this machine has " +
                      std::to_string(benchmark::CPUInfo::Get().num_cpus) + " cores, so 2 threads top out at 2x)\n";
    out += fmt::format("{:<24} {:<12} {:>8} {:>10} {:>9} {:>13}\n", "workload", "variant", "threads",
                       "time (s)", "speedup", "peak RSS MiB");
    std::string last;
    // $DATAFLOW_BENCH_SUMMARY names a file for the same table as tab-separated values
    // (workload, variant, threads, seconds, speedup, peak RSS MiB): cmake/report.sh charts it.
    const char* summary_path = std::getenv("DATAFLOW_BENCH_SUMMARY");
    std::string tsv;
    for (const auto& key : order_) {
      const entry& e = entries_.at(key);
      if (e.workload != last && !last.empty()) out += "\n";
      last = e.workload;
      auto b = baseline.find(e.workload);
      std::string speedup = b == baseline.end() ? "-" : fmt::format("{:.2f}x", b->second / e.seconds);
      std::string threads = e.threads.empty() ? "1" : e.threads.substr(e.threads.find(':') + 1);
      out += fmt::format("{:<24} {:<12} {:>8} {:>10.3f} {:>9} {:>13.0f}\n", e.workload, e.variant,
                         threads, e.seconds, speedup, e.rss);
      tsv += fmt::format("{}\t{}\t{}\t{:.6f}\t{:.4f}\t{:.1f}\n", e.workload, e.variant, threads, e.seconds,
                         b == baseline.end() ? 0.0 : b->second / e.seconds, e.rss);
    }
    GetOutputStream() << out << std::flush;
    if (summary_path && *summary_path) std::ofstream(summary_path) << tsv;
  }

 private:
  struct entry {
    std::string workload, variant, threads;
    double seconds = 0, rss = 0;
  };
  static double unit_per_second(benchmark::TimeUnit u) {
    switch (u) {
      case benchmark::kNanosecond: return 1e9;
      case benchmark::kMicrosecond: return 1e6;
      case benchmark::kMillisecond: return 1e3;
      default: return 1;
    }
  }
  std::map<std::string, entry> entries_;
  std::vector<std::string> order_;
};

/// Thread counts to run: $DATAFLOW_BENCH_THREADS as "1,2,4", or 1 and 2.
inline std::vector<int> thread_counts() {
  std::vector<int> out;
  const char* v = std::getenv("DATAFLOW_BENCH_THREADS");
  std::string s = v && *v ? v : "1,2";
  std::size_t at = 0;
  while (at < s.size()) {
    auto comma = s.find(',', at);
    out.push_back(std::atoi(s.substr(at, comma - at).c_str()));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

/// Registers fn(state, threads) as "name" for every thread count, timed on the wall clock.
template <class F>
void register_threads(const std::string& name, F fn) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& s) { fn(s, static_cast<std::size_t>(s.range(0))); });
  b->ArgName("threads")->UseRealTime()->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
  for (int t : thread_counts()) b->Arg(t);
}

/// Registers a single-threaded fn(state) as "name".
template <class F>
void register_sequential(const std::string& name, F fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMillisecond);
}

/// Runs the registered benchmarks with the comparison reporter.
inline int run_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  comparison_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
