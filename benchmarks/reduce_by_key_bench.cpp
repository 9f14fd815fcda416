// Sum and count by key over in-memory (uint64, double) rows: dataflow's reduce_by_key against a
// sequential loop and a hand-written oneTBB version, all with the same hash table.
//
// Rows: $DATAFLOW_BENCH_ROWS (default 100M) with 1K, 1M and 50M distinct keys
// ($DATAFLOW_BENCH_KEYS as "1000,1000000" to choose).
#include "bench_common.hpp"
#include "datagen.hpp"

#include <dataflow/dataflow.hpp>
#include <dataflow/detail/hash_table.hpp>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <map>
#include <span>
#include <string>
#include <vector>

namespace {

struct sum_count {
  double sum = 0;
  std::uint64_t count = 0;
};
using entry = std::pair<std::uint64_t, sum_count>;
// Keyed slots, as reduce_by_key keeps integer keys: the entry alone, 24 bytes a slot.
using table = dataflow::detail::hash_table<entry, dataflow::detail::keyed_slots<std::uint64_t>>;
constexpr auto key_of = [](const entry& e) { return e.first; };

inline void add(table& t, std::uint64_t h, std::uint64_t key, double sum, std::uint64_t count) {
  auto* e = t.find_or_emplace(h, key, key_of, [&] { return entry{key, {}}; }).first;
  e->second.sum += sum;
  e->second.count += count;
}

std::span<const bench::row> rows_for(std::size_t keys) {
  static std::map<std::size_t, dataflow::detail::big_array<bench::row>> cache;
  auto it = cache.find(keys);
  if (it == cache.end()) {
    cache.clear();  // one input at a time: 100M rows take 1.5 GiB
    it = cache.emplace(keys, bench::make_rows(bench::env_size("DATAFLOW_BENCH_ROWS", 100'000'000), keys)).first;
  }
  return {it->second.data(), it->second.size()};
}

void sequential(benchmark::State& state, std::size_t keys) {
  auto rows = rows_for(keys);
  bench::rss_probe rss(state);
  std::size_t groups = 0;
  for (auto _ : state) {
    table t;
    for (const auto& r : rows) add(t, dataflow::detail::table_hash(r.key), r.key, r.value, 1);
    groups = t.size();
  }
  state.counters["groups"] = static_cast<double>(groups);
  state.SetItemsProcessed(static_cast<std::int64_t>(rows.size() * state.iterations()));
}

// The hand-written parallel version: per-thread tables split into partitions by hash, then
// the partitions merged in parallel.
void hand_tbb(benchmark::State& state, std::size_t keys, std::size_t threads) {
  auto rows = rows_for(keys);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  tbb::task_arena arena(static_cast<int>(threads));
  const std::size_t parts = dataflow::detail::shuffle_partitions(0, threads);  // as dataflow does
  bench::rss_probe rss(state);
  std::size_t groups = 0;
  for (auto _ : state) {
    tbb::enumerable_thread_specific<std::vector<table>> locals([parts] { return std::vector<table>(parts); });
    std::vector<table> merged(parts);
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows.size(), 1 << 16), [&](const auto& r) {
        auto& tables = locals.local();
        for (std::size_t i = r.begin(); i < r.end(); ++i) {
          auto h = dataflow::detail::table_hash(rows[i].key);
          add(tables[dataflow::detail::partition_of(h, parts)], h, rows[i].key, rows[i].value, 1);
        }
      });
      tbb::parallel_for(std::size_t{0}, parts, [&](std::size_t p) {
        bool first = true;
        for (auto& tables : locals) {
          if (first) {  // the first thread's table becomes the merged one
            merged[p] = std::move(tables[p]);
            first = false;
            continue;
          }
          tables[p].for_each([&](std::uint64_t h, entry& e) { add(merged[p], h, e.first, e.second.sum, e.second.count); });
          tables[p].clear();
        }
      });
    });
    groups = 0;
    for (auto& t : merged) groups += t.size();
  }
  state.counters["groups"] = static_cast<double>(groups);
  state.SetItemsProcessed(static_cast<std::int64_t>(rows.size() * state.iterations()));
}

void with_dataflow(benchmark::State& state, std::size_t keys, std::size_t threads) {
  auto rows = rows_for(keys);
  dataflow::context ctx(threads);
  bench::rss_probe rss(state);
  std::size_t groups = 0;
  for (auto _ : state) {
    groups = ctx.from(rows)
                 .map([](const bench::row& r) { return std::pair{r.key, sum_count{r.value, 1}}; })
                 .reduce_by_key([](const sum_count& a, const sum_count& b) {
                   return sum_count{a.sum + b.sum, a.count + b.count};
                 })
                 .count();
  }
  state.counters["groups"] = static_cast<double>(groups);
  state.SetItemsProcessed(static_cast<std::int64_t>(rows.size() * state.iterations()));
}

std::vector<std::size_t> key_counts() {
  const char* v = std::getenv("DATAFLOW_BENCH_KEYS");
  std::string s = v && *v ? v : "1000,1000000,50000000";
  std::vector<std::size_t> out;
  for (std::size_t at = 0; at < s.size();) {
    auto comma = s.find(',', at);
    out.push_back(std::stoull(s.substr(at, comma - at)));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

std::string keys_name(std::size_t k) {
  if (k % 1'000'000 == 0) return std::to_string(k / 1'000'000) + "M";
  if (k % 1'000 == 0) return std::to_string(k / 1'000) + "K";
  return std::to_string(k);
}

}  // namespace

int main(int argc, char** argv) {
  for (std::size_t k : key_counts()) {
    std::string w = "sum_by_key_" + keys_name(k) + "_keys";
    bench::register_sequential(w + "/sequential", [k](benchmark::State& s) { sequential(s, k); });
    bench::register_threads(w + "/onetbb", [k](benchmark::State& s, std::size_t t) { hand_tbb(s, k, t); });
    bench::register_threads(w + "/dataflow", [k](benchmark::State& s, std::size_t t) { with_dataflow(s, k, t); });
  }
  return bench::run_main(argc, argv);
}
