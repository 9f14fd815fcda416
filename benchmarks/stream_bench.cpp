// The speed layer against the batch layer on the same work: clicks (`EPOCH_MS USER URL` lines of
// a file, in the page cache) parsed and counted per URL per minute of event time. The batch
// pipeline reads the file with read_lines; the stream follows it with follow_lines in micro-batches
// (ending 50 ms after the file stops growing, part of its time), without and with a checkpoint of
// its state every second. Goals: the stream at 0.7x or more of the batch's throughput, and
// checkpoints costing under 10%.
//
// Input: $DATAFLOW_BENCH_STREAM_EVENTS clicks (default 5M, about 160 MB), made once.
//
// Latency: a producer pushes events stamped with the wall clock at a fixed rate into a
// stream_writer; the stream counts them per key in windows of 10 ms of event time (no delay) and
// a window's latency is the wall time at its result minus its end (when its last event could
// have been pushed). p50 and p99 over the windows, with the rate reached. Goal: p99 under two
// trigger intervals at 1M events/s on 2 threads.
//
// Keyed state larger than its share of the budget: $DATAFLOW_BENCH_STATE_EVENTS events (default
// 4M) over half as many keys, pushed into a count_by_key without windows that hands on every
// changed key, in memory and under budgets that make the state spill (half of the budget is
// the state's). Goal: peak RSS within 1.25 x budget + 64 MiB, at a throughput that degrades
// gracefully with the share of the state on disk.
#include "bench_common.hpp"
#include "datagen.hpp"

#include "clickstream.hpp"

#include <dataflow/stream.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>
#include <filesystem>
#include <string>

namespace {

const std::string& input() {
  static const std::string path = [] {
    const std::uint64_t n = bench::env_size("DATAFLOW_BENCH_STREAM_EVENTS", 5'000'000);
    const std::string p = bench::data_path("clicks-" + std::to_string(n) + ".log");
    if (!std::filesystem::exists(p)) {
      examples::generate_settings g;
      g.total = n;
      g.rate = 0;
      g.seed = 7;
      examples::generate_clicks(p + ".part", g);
      std::filesystem::rename(p + ".part", p);
    }
    bench::warm_file(p);
    return p;
  }();
  return path;
}

std::uint64_t events() { return bench::env_size("DATAFLOW_BENCH_STREAM_EVENTS", 5'000'000); }

void batch(benchmark::State& state, std::size_t threads) {
  const std::string& path = input();
  bench::rss_probe rss(state);
  for (auto _ : state) {
    dataflow::context ctx(threads);
    auto windows = examples::batch_clicks(ctx, path, examples::click_key::url);
    benchmark::DoNotOptimize(windows.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(events() * state.iterations()));
}

void stream(benchmark::State& state, std::size_t threads, std::chrono::milliseconds checkpoint_every,
            std::size_t max_batch = dataflow::stream_options{}.max_batch_items) {
  const std::string& path = input();
  const std::string state_dir = bench::data_path("stream-bench-state");
  bench::rss_probe rss(state);
  for (auto _ : state) {
    std::filesystem::remove_all(state_dir);
    dataflow::context ctx(threads);
    std::uint64_t windows = 0;
    auto run = ctx.stream(dataflow::follow_lines(path, {.end_when_idle = std::chrono::milliseconds(50)}))
                   .map([](std::string_view line) { return examples::parse_click(line); })
                   .with_event_time([](const examples::click& c) { return c.ms; }, std::chrono::seconds(10))
                   .window(dataflow::tumbling(std::chrono::minutes(1)))
                   .count_by_key([](const examples::click& c) { return c.url; })
                   .start({.trigger = std::chrono::milliseconds(200),
                           .max_batch_items = max_batch,
                           .checkpoint_dir = checkpoint_every.count() > 0 ? state_dir : std::string(),
                           .checkpoint_every = checkpoint_every},
                          [&](const auto&) { ++windows; });
    run.wait();
    benchmark::DoNotOptimize(windows);
    state.counters["checkpoints"] = static_cast<double>(run.stats().checkpoints);
  }
  std::filesystem::remove_all(state_dir);
  state.SetItemsProcessed(static_cast<std::int64_t>(events() * state.iterations()));
}

// Events at `rate` per second for `seconds`, windowed per key; latency figures as counters.
void latency(benchmark::State& state, std::size_t threads, std::uint64_t rate, std::chrono::milliseconds trigger) {
  bench::rss_probe rss(state);
  const double seconds = 3;
  const auto n = static_cast<std::uint64_t>(static_cast<double>(rate) * seconds);
  std::vector<double> latencies;
  std::uint64_t pushed = 0;
  double elapsed = 0;
  for (auto _ : state) {
    dataflow::context ctx(threads);
    dataflow::stream_writer<std::pair<std::int64_t, std::uint32_t>> writer(std::size_t{1} << 20);
    std::int64_t last_start = -1;
    latencies.clear();
    auto now_ms = [] {
      return std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
    };
    auto run = ctx.stream(writer)
                   .with_event_time([](const auto& e) { return e.first; }, std::chrono::milliseconds(0))
                   .window(dataflow::tumbling(std::chrono::milliseconds(10)))
                   .count_by_key([](const auto& e) { return e.second; })
                   .start({.trigger = trigger, .idle_timeout = std::chrono::milliseconds(0)},
                          [&](const dataflow::window_result<std::uint32_t, std::uint64_t>& r) {
                            if (r.start == last_start) return;  // one figure a window
                            last_start = r.start;
                            latencies.push_back(now_ms() - static_cast<double>(r.end));
                          });
    const auto begin = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto ms = static_cast<std::int64_t>(now_ms());
      writer.push({ms, static_cast<std::uint32_t>(i % 64)});
      if (i % 1000 == 999) {
        std::this_thread::sleep_until(begin + std::chrono::duration<double>(static_cast<double>(i + 1) / static_cast<double>(rate)));
      }
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    pushed = n;
    writer.close();
    run.wait();
    // The windows closed by the end of the stream, not by time, are not latencies.
    if (latencies.size() > 2) latencies.resize(latencies.size() - 2);
  }
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) {
    return latencies.empty() ? 0.0 : latencies[static_cast<std::size_t>(q * static_cast<double>(latencies.size() - 1))];
  };
  state.counters["p50_ms"] = at(0.5);
  state.counters["p99_ms"] = at(0.99);
  state.counters["rate_reached"] = static_cast<double>(pushed) / elapsed;
  state.counters["windows"] = static_cast<double>(latencies.size());
}

// Keyed counts of `events` events over events / 2 keys, under `budget` (0: none).
void keyed_state(benchmark::State& state, std::size_t threads, std::size_t budget) {
  const std::uint64_t n = bench::env_size("DATAFLOW_BENCH_STATE_EVENTS", 4'000'000);
  bench::rss_probe rss(state);
  for (auto _ : state) {
    dataflow::context ctx(threads);
    ctx.memory_budget(budget);
    dataflow::stream_writer<std::uint64_t> writer(std::size_t{1} << 16);
    std::uint64_t updates = 0;
    auto run = ctx.stream(writer)
                   .count_by_key([keys = n / 2](std::uint64_t e) { return "user-" + std::to_string(e % keys * 2654435761u % 1000000007u); })
                   .start({.trigger = std::chrono::milliseconds(200)},
                          [&](const dataflow::key_update<std::string, std::uint64_t>&) { ++updates; });
    for (std::uint64_t i = 0; i < n; ++i) writer.push(i * 0x9e3779b97f4a7c15ull >> 20);
    writer.close();
    run.wait();
    benchmark::DoNotOptimize(updates);
    const auto s = run.stats();
    state.counters["spills"] = static_cast<double>(s.state_spills);
    state.counters["disk_MiB"] = static_cast<double>(s.state_disk_bytes) / (1 << 20);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n * state.iterations()));
}

}  // namespace

int main(int argc, char** argv) {
  bench::register_threads("clicks_per_minute/batch", batch);
  bench::register_threads("clicks_per_minute/stream",
                          [](benchmark::State& s, std::size_t t) { stream(s, t, std::chrono::milliseconds(0)); });
  bench::register_threads("clicks_per_minute/stream_checkpoint_1s",
                          [](benchmark::State& s, std::size_t t) { stream(s, t, std::chrono::milliseconds(1000)); });
  // Batches of 100,000 events, as benchmarks/stream_peer.sh feeds DuckDB.
  bench::register_threads("clicks_per_minute/stream_batch_100k", [](benchmark::State& s, std::size_t t) {
    stream(s, t, std::chrono::milliseconds(0), 100000);
  });
  for (std::uint64_t rate : {100'000, 1'000'000}) {
    const std::string name = "latency/trigger_200ms/rate_" + std::to_string(rate);
    bench::register_threads(name, [rate](benchmark::State& s, std::size_t t) {
      latency(s, t, rate, std::chrono::milliseconds(200));
    });
  }
  bench::register_threads("keyed_state/in_memory", [](benchmark::State& s, std::size_t t) { keyed_state(s, t, 0); });
  for (std::size_t mib : {64, 256}) {
    bench::register_threads("keyed_state/budget_" + std::to_string(mib) + "M",
                            [mib](benchmark::State& s, std::size_t t) { keyed_state(s, t, mib << 20); });
  }
  return bench::run_main(argc, argv);
}
