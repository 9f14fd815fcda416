// The speed layer against the batch layer on the same work: clicks (`EPOCH_MS USER URL` lines of
// a file, in the page cache) parsed and counted per URL per minute of event time. The batch
// pipeline reads the file with read_lines; the stream follows it with follow_lines in micro-batches
// (ending 50 ms after the file stops growing, part of its time), without and with a checkpoint of
// its state every second. Goals: the stream at 0.7x or more of the batch's throughput, and
// checkpoints costing under 10%.
//
// Input: $DATAFLOW_BENCH_STREAM_EVENTS clicks (default 5M, about 160 MB), made once.
#include "bench_common.hpp"
#include "datagen.hpp"

#include "clickstream.hpp"

#include <dataflow/stream.hpp>

#include <cstdio>
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

void stream(benchmark::State& state, std::size_t threads, std::chrono::milliseconds checkpoint_every) {
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

}  // namespace

int main(int argc, char** argv) {
  bench::register_threads("clicks_per_minute/batch", batch);
  bench::register_threads("clicks_per_minute/stream",
                          [](benchmark::State& s, std::size_t t) { stream(s, t, std::chrono::milliseconds(0)); });
  bench::register_threads("clicks_per_minute/stream_checkpoint_1s",
                          [](benchmark::State& s, std::size_t t) { stream(s, t, std::chrono::milliseconds(1000)); });
  return bench::run_main(argc, argv);
}
