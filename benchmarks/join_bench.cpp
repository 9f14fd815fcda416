// Join and distinct against sequential hash-table loops, in memory and under a 256 MiB budget.
//
// join: $DATAFLOW_BENCH_JOIN_ROWS (default 20M) fact rows (key, value) whose keys are uniform
// over $DATAFLOW_BENCH_JOIN_KEYS (default 2M) dimension rows (key, payload); every fact finds
// its dimension row, so the output has one row per fact. distinct: $DATAFLOW_BENCH_DISTINCT_ROWS
// (default 50M) uint64 values over $DATAFLOW_BENCH_DISTINCT_KEYS (default 5M) distinct ones.
// join_spill: the same facts over $DATAFLOW_BENCH_JOIN_ROWS / 2 dimension rows, a right side
// (160 MB by default) too big for half of a 256 MiB budget, so both sides spill and each
// partition is joined from disk. Inputs are generated on the fly (ctx.generate / the loop), so
// peak RSS is the operator's.
#include "bench_common.hpp"
#include "datagen.hpp"

#include <dataflow/dataflow.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace {

using namespace dataflow::literals;

std::uint64_t join_rows() { return bench::env_size("DATAFLOW_BENCH_JOIN_ROWS", 20'000'000); }
std::uint64_t join_keys() { return bench::env_size("DATAFLOW_BENCH_JOIN_KEYS", 2'000'000); }
std::uint64_t distinct_rows() { return bench::env_size("DATAFLOW_BENCH_DISTINCT_ROWS", 50'000'000); }
std::uint64_t distinct_keys() { return bench::env_size("DATAFLOW_BENCH_DISTINCT_KEYS", 5'000'000); }

/// Scrambles a dense key so keys are not in hash order.
std::uint64_t scramble(std::uint64_t k) { return k * 0x9e3779b97f4a7c15ull + 12345; }

std::pair<std::uint64_t, double> fact_at(std::size_t i, std::uint64_t keys) {
  const std::uint64_t h = dataflow::detail::mix64(i + 1);
  return {scramble(h % keys), static_cast<double>(h >> 40)};
}
std::pair<std::uint64_t, std::uint64_t> dim_at(std::size_t i) { return {scramble(i), i * 3}; }

std::uint64_t value_at(std::size_t i, std::uint64_t keys) {
  return scramble(dataflow::detail::mix64(i + 7) % keys);
}

void set_spilled(benchmark::State& state, std::uint64_t before) {
  state.counters["spilled_MiB"] =
      static_cast<double>(dataflow::detail::spilled_bytes_total.load() - before) / (1 << 20);
}

void join_sequential(benchmark::State& state, std::uint64_t keys) {
  const std::uint64_t n = join_rows();
  using entry = std::pair<std::uint64_t, std::uint64_t>;
  auto key_of = [](const entry& e) { return e.first; };
  bench::rss_probe rss(state);
  std::uint64_t matched = 0;
  for (auto _ : state) {
    dataflow::detail::hash_table<entry> dims;
    for (std::size_t i = 0; i < keys; ++i) {
      auto d = dim_at(i);
      dims.find_or_emplace(dataflow::detail::table_hash(d.first), d.first, key_of, [&] { return d; });
    }
    matched = 0;
    for (std::size_t i = 0; i < n; ++i) {
      auto f = fact_at(i, keys);
      matched += dims.find(dataflow::detail::table_hash(f.first), f.first, key_of) != nullptr;
    }
  }
  state.counters["rows"] = static_cast<double>(matched);
}

void join_dataflow(benchmark::State& state, std::size_t threads, std::size_t budget,
                   std::uint64_t keys) {
  const std::uint64_t n = join_rows();
  dataflow::context ctx(threads);
  if (budget) ctx.memory_budget(budget).spill_directory(bench::data_path(""));
  bench::rss_probe rss(state);
  std::uint64_t matched = 0;
  const auto before = dataflow::detail::spilled_bytes_total.load();
  for (auto _ : state) {
    auto facts = ctx.generate(n, [keys](std::size_t i) { return fact_at(i, keys); });
    auto dims = ctx.generate(keys, [](std::size_t i) { return dim_at(i); });
    matched = facts.join(dims).count();
  }
  state.counters["rows"] = static_cast<double>(matched);
  set_spilled(state, before);
}

void distinct_sequential(benchmark::State& state) {
  const std::uint64_t n = distinct_rows(), keys = distinct_keys();
  auto key_of = [](std::uint64_t e) { return e; };
  bench::rss_probe rss(state);
  std::size_t found = 0;
  for (auto _ : state) {
    dataflow::detail::hash_table<std::uint64_t> seen;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t v = value_at(i, keys);
      seen.find_or_emplace(dataflow::detail::table_hash(v), v, key_of, [&] { return v; });
    }
    found = seen.size();
  }
  state.counters["distinct"] = static_cast<double>(found);
}

void distinct_dataflow(benchmark::State& state, std::size_t threads, std::size_t budget) {
  const std::uint64_t n = distinct_rows(), keys = distinct_keys();
  dataflow::context ctx(threads);
  if (budget) ctx.memory_budget(budget).spill_directory(bench::data_path(""));
  bench::rss_probe rss(state);
  std::size_t found = 0;
  const auto before = dataflow::detail::spilled_bytes_total.load();
  for (auto _ : state) {
    found = ctx.generate(n, [keys](std::size_t i) { return value_at(i, keys); }).distinct().count();
  }
  state.counters["distinct"] = static_cast<double>(found);
  set_spilled(state, before);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t keys = join_keys(), spill_keys = join_rows() / 2;
  bench::register_sequential("join/sequential", [=](benchmark::State& s) { join_sequential(s, keys); });
  bench::register_threads("join/dataflow", [=](benchmark::State& s, std::size_t t) { join_dataflow(s, t, 0, keys); });
  bench::register_sequential("join_spill/sequential",
                             [=](benchmark::State& s) { join_sequential(s, spill_keys); });
  bench::register_threads("join_spill/dataflow_256M", [=](benchmark::State& s, std::size_t t) {
    join_dataflow(s, t, 256_MiB, spill_keys);
  });
  bench::register_sequential("distinct/sequential", distinct_sequential);
  bench::register_threads("distinct/dataflow", [](benchmark::State& s, std::size_t t) { distinct_dataflow(s, t, 0); });
  bench::register_threads("distinct/dataflow_256M",
                          [](benchmark::State& s, std::size_t t) { distinct_dataflow(s, t, 256_MiB); });
  return bench::run_main(argc, argv);
}
