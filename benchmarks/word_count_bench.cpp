// Word count over Zipf text: dataflow against a sequential loop and a hand-written oneTBB
// version, all three with the same hash table, string_view keys and 1 MiB pread buffers.
//
// Input: $DATAFLOW_BENCH_TEXT_MB MiB of text (default 1024), generated once under bench-data/.
#include "bench_common.hpp"
#include "datagen.hpp"
#include "word_count.hpp"

#include <dataflow/dataflow.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/packed_string.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/files.hpp>

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace {

// The table dataflow uses for string keys: short words packed into the slot.
using entry = std::pair<dataflow::detail::packed_string, std::uint64_t>;
using table = dataflow::detail::hash_table<entry>;
constexpr std::size_t top = 10;

const std::string& text_path() {
  static const std::string path = [] {
    std::uint64_t bytes = bench::env_size("DATAFLOW_BENCH_TEXT_MB", 1024) << 20;
    std::string p = bench::data_path("zipf-" + std::to_string(bytes >> 20) + "MiB.txt");
    if (!std::filesystem::exists(p) || std::filesystem::file_size(p) < bytes) bench::write_zipf_text(p, bytes);
    return p;
  }();
  return path;
}

/// Counts the words of [begin, end) of the file into t, owning key bytes in a: the words that
/// start in the range (a word crossing `begin` belongs to the previous range).
void count_range(int fd, std::uint64_t begin, std::uint64_t end, table& t, dataflow::detail::arena& a,
                 std::vector<char>& buf) {
  auto key_of = [](const entry& e) -> const auto& { return e.first; };
  auto add = [&](std::string_view w) {
    auto h = dataflow::detail::table_hash(w);
    t.find_or_emplace(h, w, key_of, [&] { return entry{dataflow::detail::packed_string(w, a), 0}; })
        .first->second += 1;
  };
  std::uint64_t at = begin;
  std::size_t len = 0;
  bool skip = false;
  if (begin > 0) {  // does a word cross into this range?
    char c;
    skip = dataflow::detail::read_at(fd, &c, 1, begin - 1, "", "bench") == 1 && !dataflow::is_space(c);
  }
  for (;;) {
    std::size_t got = dataflow::detail::read_at(fd, buf.data() + len, buf.size() - len, at + len, "", "bench");
    bool eof = got < buf.size() - len;
    len += got;
    std::size_t i = 0;
    if (skip) {
      while (i < len && !dataflow::is_space(buf[i])) ++i;
      if (i == len && !eof) {  // still inside the crossing word
        at += len;
        len = 0;
        continue;
      }
      skip = false;
    }
    // Words wholly inside the buffer; stop at the last space unless at end of file.
    std::size_t limit = len;
    if (!eof) {
      while (limit > i && !dataflow::is_space(buf[limit - 1])) --limit;
    }
    bool done = false;
    for (std::string_view w : dataflow::word_range(std::string_view(buf.data() + i, limit - i))) {
      if (at + static_cast<std::uint64_t>(w.data() - buf.data()) >= end) {
        done = true;
        break;
      }
      add(w);
    }
    if (done || eof) break;
    std::copy(buf.begin() + static_cast<std::ptrdiff_t>(limit), buf.begin() + static_cast<std::ptrdiff_t>(len), buf.begin());
    at += limit;
    len -= limit;
    if (len == buf.size()) buf.resize(buf.size() * 2);
  }
}

examples::word_counts top_of(table& t) {
  examples::word_counts all;
  all.reserve(t.size());
  t.for_each([&](std::uint64_t, entry& e) { all.emplace_back(std::string(e.first.view()), e.second); });
  std::size_t k = std::min(top, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), examples::by_rank{});
  all.resize(k);
  return all;
}

void sequential(benchmark::State& state) {
  const auto& path = text_path();
  bench::warm_file(path);
  auto size = std::filesystem::file_size(path);
  bench::rss_probe rss(state);
  for (auto _ : state) {
    auto fd = dataflow::detail::open_for_reading(path, "bench");
    table t;
    dataflow::detail::arena a;
    std::vector<char> buf(std::size_t{1} << 20);
    count_range(fd.get(), 0, size, t, a, buf);
    benchmark::DoNotOptimize(top_of(t));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(size * state.iterations()));
}

void hand_tbb(benchmark::State& state, std::size_t threads) {
  const auto& path = text_path();
  bench::warm_file(path);
  auto size = std::filesystem::file_size(path);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  tbb::task_arena arena(static_cast<int>(threads));
  bench::rss_probe rss(state);
  for (auto _ : state) {
    struct local {
      table t;
      dataflow::detail::arena a;
      std::vector<char> buf = std::vector<char>(std::size_t{1} << 20);
    };
    tbb::enumerable_thread_specific<local> locals;
    auto fd = dataflow::detail::open_for_reading(path, "bench");
    const std::uint64_t chunk = std::max<std::uint64_t>(1 << 20, size / (threads * 8));
    const std::size_t chunks = static_cast<std::size_t>((size + chunk - 1) / chunk);
    arena.execute([&] {
      tbb::parallel_for(std::size_t{0}, chunks, [&](std::size_t c) {
        auto& l = locals.local();
        count_range(fd.get(), c * chunk, std::min<std::uint64_t>(size, (c + 1) * chunk), l.t, l.a, l.buf);
      });
    });
    // Merge into the largest table.
    std::vector<local*> all;
    for (auto& l : locals) all.push_back(&l);
    std::sort(all.begin(), all.end(), [](local* a, local* b) { return a->t.size() > b->t.size(); });
    auto key_of = [](const entry& e) -> const auto& { return e.first; };
    for (std::size_t i = 1; i < all.size(); ++i) {
      all[i]->t.for_each([&](std::uint64_t h, entry& e) {
        auto [m, made] = all[0]->t.find_or_emplace(h, e.first, key_of, [&] { return entry{e.first, 0}; });
        (void)made;
        m->second += e.second;
      });
    }
    benchmark::DoNotOptimize(top_of(all[0]->t));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(size * state.iterations()));
}

void with_dataflow(benchmark::State& state, std::size_t threads) {
  const auto& path = text_path();
  bench::warm_file(path);
  auto size = std::filesystem::file_size(path);
  dataflow::context ctx(threads);
  bench::rss_probe rss(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(examples::count_words(ctx, {path}, top));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(size * state.iterations()));
}

}  // namespace

int main(int argc, char** argv) {
  bench::register_sequential("word_count/sequential", sequential);
  bench::register_threads("word_count/onetbb", hand_tbb);
  bench::register_threads("word_count/dataflow", with_dataflow);
  return bench::run_main(argc, argv);
}
