// One pipeline on every rank of an MPI job, run by CTest under `mpirun -np 1`, `-np 2` and
// `-np 4 --oversubscribe`: every rank checks that the job's results equal a sequential
// reference computed on its own. Checks never stop a test case early (CHECK, not REQUIRE), so
// that every rank makes the same collective calls in the same order.
#include <dataflow/mpi.hpp>

#include "../support/test_support.hpp"
#include "mpi_support.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using mpi_test::check_failed_on;
using mpi_test::lengths;
using mpi_test::setting;
using mpi_test::settings;
using mpi_test::world;
using test::random_word;
using test::zipf_keys;

// A path in /tmp that every rank of this job names alike (mpirun is their common parent).
std::string job_path(const std::string& name) {
  return "/tmp/dataflow-mpi-test-" + std::to_string(::getppid()) + "-" + name;
}

// A file every rank reads: rank 0 writes it, and a count (a collective) makes the others wait.
std::string shared_file(dataflow::context& ctx, const std::string& name, const std::string& text) {
  const std::string path = job_path(name);
  if (ctx.rank() == 0) {
    std::ofstream(path, std::ios::binary) << text;
  }
  ctx.from(std::vector<int>{1}).count();
  return path;
}

}  // namespace

TEST_CASE("sources split across ranks read every item once, in order") {
  for (const setting& s : settings()) {
    dataflow::context ctx(world(), s.threads);
    ctx.memory_budget(s.budget);
    for (std::size_t n : lengths()) {
      std::vector<std::int64_t> v(n);
      std::iota(v.begin(), v.end(), 5);
      CHECK(ctx.from(v).count() == n);
      CHECK(ctx.from(v).collect() == v);
      auto squares = ctx.generate(n, [](std::size_t i) { return static_cast<std::int64_t>(i * i); }).collect();
      std::vector<std::int64_t> expected(n);
      for (std::size_t i = 0; i < n; ++i) expected[i] = static_cast<std::int64_t>(i * i);
      CHECK(squares == expected);
    }
  }
}

TEST_CASE("read_lines splits files across ranks at line boundaries") {
  dataflow::context ctx(world(), 2);
  std::mt19937_64 rng(11);
  std::vector<std::string> lines;
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    lines.push_back(random_word(rng, 40));
    text += lines.back() + "\n";
  }
  const std::string path = shared_file(ctx, "lines.txt", text);
  for (std::size_t chunk : {std::size_t{0}, std::size_t{4096}, std::size_t{100'000}}) {
    auto got = ctx.read_lines(path, {.chunk_bytes = chunk}).collect();
    CHECK(got == lines);
    CHECK(ctx.read_lines(path, {.chunk_bytes = chunk}).count() == lines.size());
  }
  ctx.from(std::vector<int>{1}).count();  // every rank has read it before rank 0 removes it
  if (ctx.rank() == 0) std::remove(path.c_str());
}

TEST_CASE("ranks with different thread counts cut a file the same way") {
  // Chunk sizes taken from each rank's own thread count would differ, and ranks would read some
  // lines twice and miss others.
  dataflow::context sync(world(), 1);
  // Lines of 8 bytes, 48 MiB + 40 in all: with 1 and 3 threads, chunk sizes of total/16 and
  // total/48 put the two ranks' boundary 16 bytes (two lines) apart.
  const std::uint64_t lines = ((std::uint64_t{48} << 20) + 40) / 8;
  std::string text;
  text.reserve(lines * 8);
  char line[16];
  for (std::uint64_t i = 0; i < lines; ++i) {
    std::snprintf(line, sizeof line, "%07llu\n", static_cast<unsigned long long>(i % 10'000'000));
    text += line;
  }
  const std::string path = shared_file(sync, "big.txt", text);
  dataflow::context ctx(world(), 1 + 2 * sync.rank());
  CHECK(ctx.read_lines(path).count() == lines);
  auto bytes = ctx.read_lines(path).fold(
      std::uint64_t{0}, [](std::uint64_t acc, std::string_view l) { return acc + l.size(); }, std::plus<>{});
  CHECK(bytes == text.size() - lines);
  sync.from(std::vector<int>{1}).count();
  if (sync.rank() == 0) std::remove(path.c_str());
}

TEST_CASE("reduce_by_key across ranks equals a sequential reference") {
  for (const setting& s : settings()) {
    dataflow::context ctx(world(), s.threads);
    ctx.memory_budget(s.budget);
    for (std::size_t n : lengths()) {
      for (std::size_t distinct : {std::size_t{1}, std::size_t{13}, std::size_t{5000}, n + 1}) {
        auto keys = zipf_keys(n, distinct, n * 31 + distinct);
        std::map<std::uint64_t, std::uint64_t> expected;
        for (std::size_t i = 0; i < n; ++i) expected[keys[i]] += i;
        auto got = ctx.generate(n, [&keys](std::size_t i) { return std::pair{keys[i], std::uint64_t{i}}; })
                       .reduce_by_key(std::plus<>{})
                       .collect();
        std::sort(got.begin(), got.end());
        CHECK(got == std::vector<std::pair<std::uint64_t, std::uint64_t>>(expected.begin(), expected.end()));
      }
    }
  }
}

TEST_CASE("words counted across ranks: string keys travel between ranks") {
  dataflow::context ctx(world(), 2);
  std::mt19937_64 rng(5);
  std::string text;
  std::map<std::string, std::uint64_t> expected;
  for (int line = 0; line < 3000; ++line) {
    const int words = static_cast<int>(rng() % 12);
    for (int w = 0; w < words; ++w) {
      std::string word = rng() % 4 == 0 ? random_word(rng, 30) : std::string(1, static_cast<char>('a' + rng() % 5));
      ++expected[word];
      text += word + (w + 1 < words ? " " : "");
    }
    text += "\n";
  }
  const std::string path = shared_file(ctx, "words.txt", text);
  for (std::size_t budget : {std::size_t{0}, std::size_t{1} << 20}) {
    ctx.memory_budget(budget);
    auto counts = ctx.read_lines(path, {.chunk_bytes = 2048})
                      .flat_map(dataflow::split_words)
                      .map([](std::string_view w) { return std::pair{w, std::uint64_t{1}}; })
                      .reduce_by_key(std::plus<>{});
    auto got = counts.collect();
    std::map<std::string, std::uint64_t> as_map(got.begin(), got.end());
    CHECK(got.size() == expected.size());
    CHECK(as_map == expected);
    auto top = counts.top_k(3);
    std::vector<std::pair<std::string, std::uint64_t>> ranked(expected.begin(), expected.end());
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    ranked.resize(std::min<std::size_t>(3, ranked.size()));
    CHECK(top == ranked);
  }
  ctx.from(std::vector<int>{1}).count();
  if (ctx.rank() == 0) std::remove(path.c_str());
}

TEST_CASE("actions combine every rank's part and return it on every rank") {
  dataflow::context ctx(world(), 2);
  for (std::size_t n : lengths()) {
    std::vector<std::int64_t> v(n);
    std::iota(v.begin(), v.end(), -50);
    const std::int64_t sum = std::accumulate(v.begin(), v.end(), std::int64_t{0});
    auto reduced = ctx.from(v).reduce(std::plus<>{});
    CHECK(reduced.has_value() == (n > 0));
    if (reduced) CHECK(*reduced == sum);
    CHECK(ctx.from(v).fold(std::int64_t{0}, std::plus<>{}, std::plus<>{}) == sum);
    auto top = ctx.from(v).top_k(5);
    std::vector<std::int64_t> expected = v;
    std::sort(expected.rbegin(), expected.rend());
    expected.resize(std::min<std::size_t>(5, n));
    CHECK(top == expected);
    std::atomic<std::size_t> seen{0};
    ctx.from(v).for_each([&](std::int64_t) { seen.fetch_add(1); });
    // Each rank ran the function over its own slice: index r of ranks() items is rank r's.
    const std::size_t me = ctx.rank();
    auto total = ctx.generate(ctx.ranks(), [&](std::size_t r) { return r == me ? seen.load() : std::size_t{0}; })
                     .reduce(std::plus<>{});
    CHECK(total.value_or(0) == n);
    CHECK(seen.load() <= n);
  }
}

TEST_CASE("a function that throws on one rank fails the action on every rank, which go on in step") {
  dataflow::context ctx(world(), 2);
  const std::size_t failing = ctx.ranks() - 1;
  std::vector<std::int64_t> v(50'000);
  std::iota(v.begin(), v.end(), 0);
  const std::size_t me = ctx.rank();
  for (int round = 0; round < 2; ++round) {
    auto pairs = ctx.from(v).map([&](std::int64_t x) {
      if (me == failing && x % 1000 == 999) throw std::runtime_error("bad item " + std::to_string(x));
      return std::pair{x % 97, x};
    });
    check_failed_on(failing, me, [&] {
      if (round == 0) {
        pairs.reduce_by_key(std::plus<>{}).count();
      } else {
        pairs.count();
      }
    });
    // The job goes on: every rank is at the same step.
    CHECK(ctx.from(v).count() == v.size());
  }
}

TEST_CASE("group_by_key and join across ranks equal a sequential reference") {
  for (const setting& s : settings()) {
    dataflow::context ctx(world(), s.threads);
    ctx.memory_budget(s.budget);
    for (std::size_t n : lengths()) {
      auto keys = zipf_keys(n, 300, n + 7);
      std::map<std::uint64_t, std::vector<std::uint64_t>> groups;
      for (std::size_t i = 0; i < n; ++i) groups[keys[i]].push_back(i);
      auto got = ctx.generate(n, [&keys](std::size_t i) { return std::pair{keys[i], std::uint64_t{i}}; })
                     .group_by_key()
                     .map([](const auto& g) {
                       std::vector<std::uint64_t> values(g.second.begin(), g.second.end());
                       std::sort(values.begin(), values.end());
                       return std::pair{g.first, values};
                     })
                     .collect();
      std::sort(got.begin(), got.end());
      CHECK(got == std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>>(groups.begin(), groups.end()));

      // Each key of the left side (the even keys) joined with the right side's values for it.
      std::vector<std::pair<std::uint64_t, std::string>> right;
      for (std::uint64_t k = 0; k < 400; k += 3) right.emplace_back(k, "r" + std::to_string(k));
      right.emplace_back(3, "again");
      std::vector<std::tuple<std::uint64_t, std::uint64_t, std::string>> expected;
      for (std::size_t i = 0; i < n; ++i) {
        for (const auto& [k, v] : right) {
          if (k == keys[i]) expected.emplace_back(keys[i], i, v);
        }
      }
      auto joined = ctx.generate(n, [&keys](std::size_t i) { return std::pair{keys[i], std::uint64_t{i}}; })
                        .join(ctx.from(right))
                        .map([](const auto& kv) { return std::tuple{kv.first, kv.second.first, std::string(kv.second.second)}; })
                        .collect();
      std::sort(joined.begin(), joined.end());
      std::sort(expected.begin(), expected.end());
      CHECK(joined == expected);
    }
  }
}

TEST_CASE("sort across ranks: rank order then partition order is the whole order") {
  for (const setting& s : settings()) {
    dataflow::context ctx(world(), s.threads);
    ctx.memory_budget(s.budget);
    for (std::size_t n : lengths()) {
      for (std::size_t distinct : {std::size_t{1}, std::size_t{3}, n + 1}) {
        auto keys = test::uniform_keys(n, distinct, n * 3 + distinct);
        std::vector<std::int64_t> v(keys.begin(), keys.end());
        std::vector<std::int64_t> expected = v;
        std::sort(expected.begin(), expected.end());
        CHECK(ctx.from(v).sort().collect() == expected);
        auto by_key = ctx.from(v).sort_by([](std::int64_t x) { return -x; }).collect();
        CHECK(std::equal(by_key.begin(), by_key.end(), expected.rbegin(), expected.rend()));
      }
    }
    // Strings: views that travel between ranks.
    std::mt19937_64 rng(9);
    std::vector<std::string> words;
    for (int i = 0; i < 5000; ++i) words.push_back(random_word(rng, 20));
    std::vector<std::string> sorted = words;
    std::sort(sorted.begin(), sorted.end());
    auto got = ctx.from(words).map([](const std::string& w) { return std::string_view(w); }).sort().collect();
    CHECK(got == sorted);
  }
}

TEST_CASE("last_run reports the whole job: each stage summed over the ranks, with the exchange's bytes") {
  for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    dataflow::context ctx(world(), threads);
    const std::size_t ranks = ctx.ranks();
    for (std::size_t n : lengths()) {
      CAPTURE(threads, n, ranks);
      auto keys = zipf_keys(n, 50, n + 7);
      const std::set<std::uint64_t> distinct(keys.begin(), keys.end());
      const std::uint64_t counted = ctx.generate(n, [&keys](std::size_t i) { return std::pair{keys[i], std::uint64_t{1}}; })
                                        .reduce_by_key(std::plus<>{})
                                        .count();
      CHECK(counted == distinct.size());
      const dataflow::run_stats& run = ctx.last_run();
      CHECK(run.ranks == ranks);
      CHECK_FALSE(run.failed);
      // generate -> reduce (this rank) [-> exchange -> reduce] -> count.
      CHECK(run.stages.size() == (ranks > 1 ? 4u : 2u));
      if (run.stages.empty()) continue;
      CHECK(run.stages.back().items_in == distinct.size());  // each key on one rank
      // The source's stage: every rank read its slice, and the job read them all.
      std::uint64_t most = 0;
      for (std::size_t r = 0; r < ranks; ++r) most = std::max<std::uint64_t>(most, n * (r + 1) / ranks - n * r / ranks);
      const dataflow::stage_stats& first = run.stages.front();
      CHECK(first.ranks == ranks);
      CHECK(first.items_in == n);
      CHECK(first.largest_rank_items == most);
      if (n > 0) CHECK(first.rank_skew() >= 1.0);
      if (ranks > 1 && run.stages.size() == 4) {
        const dataflow::stage_stats& sent = run.stages[1];  // the local reductions into the exchange
        const dataflow::stage_stats& received = run.stages[2];
        CHECK(sent.name.find("exchange#") != std::string::npos);
        CHECK(received.name.rfind("exchange#", 0) == 0);
        CHECK(received.items_in == sent.items_in);  // what left the ranks is what arrived
        CHECK(sent.items_in >= distinct.size());    // each key at least once, from each rank that had it
        CHECK(sent.bytes_sent == sent.bytes_received);
        if (n >= 1000) CHECK(sent.bytes_sent > 0);
        CHECK(sent.comm_seconds <= run.wall_seconds);  // the longest rank's wait, within the run
        CHECK_THAT(run.table(), Catch::Contains(std::to_string(ranks) + " ranks x " + std::to_string(threads) + " thread"));
      }
    }
  }
}

TEST_CASE("collect_on gives the whole result to one rank and nothing to the others") {
  dataflow::context ctx(world(), 2);
  const std::size_t ranks = ctx.ranks();
  for (std::size_t n : lengths()) {
    std::vector<std::string> words;
    std::mt19937_64 rng(n + 3);
    for (std::size_t i = 0; i < n; ++i) words.push_back(random_word(rng, 12));
    std::vector<std::string> sorted = words;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t root = 0; root < ranks; ++root) {
      CAPTURE(n, root);
      const auto got = ctx.from(words).map([](const std::string& w) { return std::string_view(w); }).sort().collect_on(root);
      if (ctx.rank() == root) {
        CHECK(got == sorted);
      } else {
        CHECK(got.empty());
      }
      // The run's figures are the whole job's on every rank, the receiving one or not.
      CHECK(ctx.last_run().ranks == ranks);
      if (!ctx.last_run().stages.empty()) CHECK(ctx.last_run().stages.front().items_in == n);
    }
  }
  // A rank the job does not have: refused on every rank before anything runs, which stay in step.
  CHECK_THROWS_WITH(ctx.from(std::vector<int>{1, 2}).collect_on(ranks),
                    Catch::Contains("collect_on(" + std::to_string(ranks) + "): the job has"));
  CHECK(ctx.from(std::vector<int>{1, 2, 3}).count() == 3);
}

namespace {

// 0..19999 through a map that throws on the last rank of the job only, part of the way in.
auto failing_on_last_rank(dataflow::context& ctx) {
  std::vector<std::int64_t> v(20000);
  std::iota(v.begin(), v.end(), 0);
  const bool fails = ctx.rank() == ctx.ranks() - 1;
  return ctx.from(std::move(v)).map([fails](std::int64_t x) {
    if (fails && x % 5000 == 4999) throw std::runtime_error("no");
    return x;
  });
}

}  // namespace

TEST_CASE("write_lines across ranks: one file, rank 0's partitions first, committed once all succeeded") {
  for (const setting& s : settings()) {
    dataflow::context ctx(world(), s.threads);
    ctx.memory_budget(s.budget);
    const std::string path = job_path("out.txt");
    for (std::size_t n : lengths()) {
      std::vector<std::int64_t> v(n);
      std::iota(v.begin(), v.end(), -3);
      std::string expected;
      for (auto x : v) expected += std::to_string(x) + "\n";
      ctx.from(v).write_lines(path);
      ctx.from(std::vector<int>{1}).count();  // rank 0 has committed it before anyone reads
      CHECK(test::read_file(path) == expected);
      ctx.from(std::vector<int>{1}).count();  // read by all before the next write replaces it
      // Sorted, from a shuffle: the whole order.
      std::vector<std::int64_t> shuffled(v.rbegin(), v.rend());
      ctx.from(shuffled).sort().write_lines(path);
      ctx.from(std::vector<int>{1}).count();
      CHECK(test::read_file(path) == expected);
      ctx.from(std::vector<int>{1}).count();
    }
    // A failing formatter on one rank: no file at all, on any rank.
    std::remove(path.c_str());
    ctx.from(std::vector<int>{1}).count();
    CHECK_THROWS(failing_on_last_rank(ctx).write_lines(path));
    CHECK(!std::filesystem::exists(path));
    ctx.from(std::vector<int>{1}).count();
  }
}

namespace {

// The names in `dir` that start with "part-", in name order, and those files' text concatenated.
std::pair<std::vector<std::string>, std::string> read_parts(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("part-", 0) == 0) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::string text;
  for (const auto& n : names) text += test::read_file(dir + "/" + n);
  return {names, text};
}

}  // namespace

TEST_CASE("write_lines to part files across ranks: each rank's parts, in the whole order, all or none") {
  for (const setting& s : settings()) {
    dataflow::context ctx(world(), s.threads);
    ctx.memory_budget(s.budget);
    const std::string dir = job_path("parts");
    if (ctx.rank() == 0) {
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
      test::write_file(dir + "/part-00000", "from an earlier run\n");
      test::write_file(dir + "/part-00007-00003.txt", "from an earlier job\n");
      test::write_file(dir + "/notes", "not a part\n");
    }
    ctx.from(std::vector<int>{1}).count();  // made before any rank writes
    for (std::size_t n : lengths()) {
      std::vector<std::int64_t> v(n);
      std::iota(v.begin(), v.end(), -3);
      std::string expected;
      for (auto x : v) expected += std::to_string(x) + "\n";
      std::vector<std::int64_t> shuffled(v.rbegin(), v.rend());
      ctx.from(shuffled).sort().write_lines(dir, {.part_files = true});
      ctx.from(std::vector<int>{1}).count();  // every rank has committed before anyone reads
      auto [names, text] = read_parts(dir);
      CHECK(text == expected);
      CHECK(std::filesystem::exists(dir + "/notes"));  // kept: not a part file
      CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) ==
            static_cast<std::ptrdiff_t>(names.size() + 1));  // no temporary file either
      // Every rank's parts and nothing else: part-RRRRR-PPPPP, or part-PPPPP on a job of one.
      std::set<std::size_t> ranks;
      for (const auto& name : names) {
        INFO(name);
        if (ctx.ranks() == 1) {
          CHECK(name.size() == 10);
          ranks.insert(0);
        } else {
          CHECK(name.size() == 16);
          ranks.insert(std::stoul(name.substr(5, 5)));
        }
      }
      CHECK(ranks.size() == ctx.ranks());
      ctx.from(std::vector<int>{1}).count();  // read by all before the next write replaces them
    }
    // A failing formatter on one rank: the last run's parts stay as they were, and nothing else.
    const auto before = read_parts(dir);
    CHECK_THROWS(failing_on_last_rank(ctx).write_lines(dir, {.part_files = true}));
    ctx.from(std::vector<int>{1}).count();
    const auto after = read_parts(dir);
    CHECK(after.first == before.first);
    CHECK(after.second == before.second);
    ctx.from(std::vector<int>{1}).count();
    // The last rank cannot put its second part in place after the earlier parts went: every
    // rank takes back what it renamed (the last one its first part), so no part is left at all,
    // and the job goes on.
    const bool refuses = ctx.rank() == ctx.ranks() - 1;
    if (refuses) dataflow::detail::output_rename_failure_countdown = 2;
    std::vector<std::int64_t> many(5000);
    std::iota(many.begin(), many.end(), 0);
    try {
      ctx.from(many).sort().write_lines(dir, {.part_files = true});
      CHECK(false);  // every rank must throw
    } catch (const dataflow::job_error& e) {
      CHECK_FALSE(refuses);
      CHECK(e.failed_rank() == ctx.ranks() - 1);
    } catch (const dataflow::error& e) {
      CHECK(refuses);
      CHECK_THAT(e.what(), Catch::Contains("cannot rename"));
    }
    dataflow::detail::output_rename_failure_countdown = 0;
    ctx.from(std::vector<int>{1}).count();  // every rank has withdrawn before anyone looks
    CHECK(read_parts(dir).first.empty());
    CHECK(std::filesystem::exists(dir + "/notes"));
    CHECK(ctx.from(many).count() == many.size());
    if (ctx.rank() == 0) std::filesystem::remove_all(dir);
  }
}

// Run on its own by tests/mpi/killed_rank.sh (hidden from the normal run): the last rank kills
// itself with SIGKILL in the middle of a shuffle while writing a file; the others must not hang.
TEST_CASE("a rank killed in the middle of a job", "[.kill]") {
  dataflow::context ctx(world(), 2);
  const std::size_t victim = ctx.ranks() - 1, me = ctx.rank();
  const char* out = std::getenv("DATAFLOW_KILL_TEST_OUTPUT");
  REQUIRE(out != nullptr);
  ctx.generate(2'000'000, [&](std::size_t i) {
       if (me == victim && i % 100'000 == 99'999) ::raise(SIGKILL);
       return std::pair{i % 1000, i};
     })
      .reduce_by_key(std::plus<>{})
      .sort()
      .map([](const auto& kv) { return std::to_string(kv.first) + " " + std::to_string(kv.second); })
      .write_lines(out);
}
