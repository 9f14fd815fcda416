// A map -> filter -> map chain summed: dataflow's fused stage against the loop a user would
// write by hand (and its oneTBB parallel_reduce twin). Any gap is the cost of the framework.
//
// Input: $DATAFLOW_BENCH_FUSION_ITEMS uint64 values in memory (default 100M).
#include "bench_common.hpp"

#include <dataflow/dataflow.hpp>
#include <dataflow/storage/big_alloc.hpp>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/task_arena.h>

#include <functional>
#include <span>

namespace {

std::span<const std::uint64_t> input() {
  static const auto data = [] {
    std::size_t n = bench::env_size("DATAFLOW_BENCH_FUSION_ITEMS", 100'000'000);
    dataflow::detail::big_array<std::uint64_t> v(n);
    tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) { v[i] = i * 0x9e3779b97f4a7c15ull; });
    return v;
  }();
  return {data.data(), data.size()};
}

inline std::uint64_t step1(std::uint64_t x) { return x * 3 + 1; }
inline bool keep(std::uint64_t x) { return x % 7 != 0; }
inline std::uint64_t step2(std::uint64_t x) { return x ^ (x >> 17); }

void sequential(benchmark::State& state) {
  auto in = input();
  bench::rss_probe rss(state);
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::uint64_t x : in) {
      std::uint64_t y = step1(x);
      if (keep(y)) sum += step2(y);
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(in.size() * state.iterations()));
}

void hand_tbb(benchmark::State& state, std::size_t threads) {
  auto in = input();
  bench::rss_probe rss(state);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  tbb::task_arena arena(static_cast<int>(threads));
  for (auto _ : state) {
    std::uint64_t sum = arena.execute([&] {
      return tbb::parallel_reduce(
          tbb::blocked_range<std::size_t>(0, in.size(), 1 << 16), std::uint64_t{0},
          [&](const auto& r, std::uint64_t acc) {
            for (std::size_t i = r.begin(); i < r.end(); ++i) {
              std::uint64_t y = step1(in[i]);
              if (keep(y)) acc += step2(y);
            }
            return acc;
          },
          std::plus<>{});
    });
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(in.size() * state.iterations()));
}

void with_dataflow(benchmark::State& state, std::size_t threads) {
  auto in = input();
  bench::rss_probe rss(state);
  dataflow::context ctx(threads);
  for (auto _ : state) {
    auto sum = ctx.from(in)
                   .map([](std::uint64_t x) { return step1(x); })
                   .filter([](std::uint64_t x) { return keep(x); })
                   .map([](std::uint64_t x) { return step2(x); })
                   .reduce(std::plus<>{});
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(in.size() * state.iterations()));
}

}  // namespace

int main(int argc, char** argv) {
  bench::register_sequential("map_filter_map/sequential", sequential);
  bench::register_threads("map_filter_map/onetbb", hand_tbb);
  bench::register_threads("map_filter_map/dataflow", with_dataflow);
  return bench::run_main(argc, argv);
}
