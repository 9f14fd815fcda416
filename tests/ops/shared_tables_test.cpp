// reduce_by_key over keys that barely repeat, where the threads go over from a table each to
// one shared table per partition (and, under a budget, spill those tables partition by
// partition, or scatter items unfolded once folding merges next to nothing): the same answers
// as a sequential map, exceptions that reach the caller, and no spill file left behind.
#include "../support/test_support.hpp"

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace dataflow::literals;

namespace {

/// Items whose keys mostly appear about twice (uniform over n / 2 keys), with a hot key for
/// one item in twenty: past the shared tables' threshold at every thread count tested.
std::vector<std::pair<std::uint64_t, std::int64_t>> rare_keys(std::size_t n, std::uint64_t seed) {
  auto keys = test::uniform_keys(n, n / 2, seed);
  std::vector<std::pair<std::uint64_t, std::int64_t>> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = {i % 20 == 7 ? 12345 : keys[i] * 0x9e3779b97f4a7c15ull, static_cast<std::int64_t>(i % 101) - 50};
  }
  return out;
}

struct budgeted_context {
  budgeted_context(std::size_t threads, std::size_t budget) : ctx(threads) {
    ctx.memory_budget(budget).spill_directory(dir.path().string());
  }
  test::temp_dir dir;
  dataflow::context ctx;
};

}  // namespace

TEST_CASE("reduce_by_key over keys that barely repeat matches a sequential map", "[ops][reduce_by_key][shared]") {
  const std::size_t threads = DATAFLOW_THREADS();
  // No budget; one small enough that the shared tables spill; one with 128 partitions.
  const std::size_t budget = GENERATE(std::size_t{0}, 6_MiB, 96_MiB);
  const std::size_t n = 1500007;
  budgeted_context s(threads, budget);
  const auto input = rare_keys(n, threads * 7 + budget);
  std::unordered_map<std::uint64_t, std::int64_t> want;
  for (const auto& [k, v] : input) want[k] += v;

  const auto spilled_before = dataflow::detail::spilled_bytes_total.load();
  auto got = s.ctx.from(input).reduce_by_key(std::plus<>{}).collect();
  REQUIRE(got.size() == want.size());
  std::size_t wrong = 0;
  for (const auto& [k, v] : got) wrong += want.count(k) == 0 || want.at(k) != v;
  CHECK(wrong == 0);
  if (budget == 6_MiB) CHECK(dataflow::detail::spilled_bytes_total.load() > spilled_before);
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("under a budget, keys that barely repeat are scattered unfolded and reduced when read", "[ops][reduce_by_key][shared][spill]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{3});
  // Uniform keys, each about twice over all: what a 12 MiB budget holds merges almost nothing.
  // Half the items on 1000 hot keys: the rare half still makes the tables spill, but each
  // spill merged about every other item, and nothing scatters.
  const bool hot_half = GENERATE(false, true);
  CAPTURE(threads, hot_half);
  budgeted_context s(threads, 12_MiB);
  const std::size_t n = 1500007;
  auto input = rare_keys(n, 41 + threads);
  if (hot_half) {
    for (std::size_t i = 0; i < n; i += 2) input[i].first = i * 7 % 1000;
  }
  std::unordered_map<std::uint64_t, std::int64_t> want;
  for (const auto& [k, v] : input) want[k] += v;

  const auto scattered_before = dataflow::detail::scattered_items_total.load();
  const auto spilled_before = dataflow::detail::spilled_bytes_total.load();
  auto got = s.ctx.from(input).reduce_by_key(std::plus<>{}).collect();
  const auto scattered = dataflow::detail::scattered_items_total.load() - scattered_before;
  CHECK(dataflow::detail::spilled_bytes_total.load() > spilled_before);
  if (hot_half) {
    CHECK(scattered == 0);
  } else {
    CHECK(scattered > n / 2);  // from the first spills of every table on
  }
  REQUIRE(got.size() == want.size());
  std::size_t wrong = 0;
  for (const auto& [k, v] : got) wrong += want.count(k) == 0 || want.at(k) != v;
  CHECK(wrong == 0);
  CHECK(test::nothing_left_in(s.dir));

  // A merge that throws while the scattered items are reduced reaches the caller, and the
  // context runs again.
  std::atomic<std::uint64_t> calls{0};
  auto failing = [&](std::int64_t a, std::int64_t b) {
    if (++calls == n / 3) throw std::runtime_error("merge gave up");
    return a + b;
  };
  const auto scattered_before_failure = dataflow::detail::scattered_items_total.load();
  CHECK_THROWS_WITH(s.ctx.from(input).reduce_by_key(failing).count(), Catch::Contains("merge gave up"));
  // Most merges come once the partitions are read, after the scattered items were written.
  if (!hot_half) CHECK(dataflow::detail::scattered_items_total.load() > scattered_before_failure);
  CHECK(test::nothing_left_in(s.dir));
  CHECK(s.ctx.from(input).reduce_by_key(std::plus<>{}).count() == want.size());
  CHECK(test::nothing_left_in(s.dir));
}

namespace {

/// Words over about 600,000 distinct values, one in 50 longer than fits inline in a table
/// slot, and their counts.
struct word_input {
  std::vector<std::string> words;
  std::unordered_map<std::string, std::uint64_t> counts;
};

const word_input& rare_words() {
  static const word_input input = [] {
    word_input in;
    const std::size_t n = 1200011;
    auto keys = test::uniform_keys(n, n / 2, 99);
    in.words.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      in.words[i] = keys[i] % 50 == 0 ? "a key too long to fit inline " + std::to_string(keys[i])
                                      : std::to_string(keys[i]);
      ++in.counts[in.words[i]];
    }
    return in;
  }();
  return input;
}

}  // namespace

TEST_CASE("shared tables keep long string keys apart and count every item", "[ops][reduce_by_key][shared]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, 6_MiB);
  budgeted_context s(threads, budget);
  const word_input& in = rare_words();
  // Long keys stay in their thread's own table, the others go to the shared ones.
  auto got = s.ctx.from(in.words)
                 .map([](const std::string& w) { return std::pair{std::string_view(w), std::uint64_t{1}}; })
                 .reduce_by_key(std::plus<>{})
                 .collect();
  REQUIRE(got.size() == in.counts.size());  // no key twice, none missing
  std::size_t wrong = 0;
  for (const auto& [k, v] : got) {
    auto it = in.counts.find(std::string(k));
    wrong += it == in.counts.end() || it->second != v;
  }
  CHECK(wrong == 0);
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("a merge that throws in the shared tables reaches the caller and leaves nothing", "[ops][reduce_by_key][shared][errors]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, 6_MiB);
  budgeted_context s(threads, budget);
  const auto input = rare_keys(1500007, 3);
  std::atomic<std::uint64_t> calls{0};
  // About 750,000 keys over 1.5M items: well over 600,000 merges, most of them in the shared
  // tables or the reads of their spills.
  auto failing = [&](std::int64_t a, std::int64_t b) {
    if (++calls == 600000) throw std::runtime_error("merge gave up");
    return a + b;
  };
  CHECK_THROWS_WITH(s.ctx.from(input).reduce_by_key(failing).count(), Catch::Contains("merge gave up"));
  CHECK(test::nothing_left_in(s.dir));
  // The context runs again afterwards.
  std::unordered_map<std::uint64_t, std::int64_t> keys;
  for (const auto& [k, v] : input) keys[k] += v;
  CHECK(s.ctx.from(input).reduce_by_key(std::plus<>{}).count() == keys.size());
  CHECK(test::nothing_left_in(s.dir));
}
