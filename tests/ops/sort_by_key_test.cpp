// sort_by with an integral key, which distributes items by key ranges before sorting each range
// (sort_distribute.hpp), in memory and in the runs it spills under a budget: the same order as a
// sequential sort for every key type and shape (full ranges, few keys, one hot key, one key),
// every item kept, and a key function that throws or changes its mind stopping the run with an
// error rather than a wrong or a crashed sort.
#include "../support/test_support.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

namespace {

template <class K>
struct keyed_row {
  K key;
  std::uint32_t id;
  bool operator==(const keyed_row&) const = default;
};

enum class shape { full_range, few_keys, hot_key, one_key };

template <class K>
std::vector<keyed_row<K>> rows(std::size_t n, shape s, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  using lim = std::numeric_limits<K>;
  std::uniform_int_distribution<std::int64_t> small(-3, 40);
  std::vector<keyed_row<K>> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    K k{};
    switch (s) {
      case shape::full_range: k = static_cast<K>(rng()); break;
      case shape::few_keys: k = static_cast<K>(small(rng)); break;
      case shape::hot_key: k = rng() % 10 == 0 ? static_cast<K>(rng()) : static_cast<K>(7); break;
      case shape::one_key: k = static_cast<K>(-1); break;
    }
    if (i == 3 % std::max<std::size_t>(n, 1)) k = lim::min();
    if (i == 5 % std::max<std::size_t>(n, 1)) k = lim::max();
    out[i] = {k, static_cast<std::uint32_t>(i)};
  }
  return out;
}

/// `got` holds the rows of `input` ordered by key; rows of equal keys may come in any order, so
/// both are compared with their ids sorted too.
template <class K>
void check_ordered_by_key(const std::vector<keyed_row<K>>& input, std::vector<keyed_row<K>> got) {
  REQUIRE(got.size() == input.size());
  CHECK(std::is_sorted(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.key < b.key; }));
  auto by_key_then_id = [](const auto& a, const auto& b) { return std::tie(a.key, a.id) < std::tie(b.key, b.id); };
  auto want = input;
  std::sort(want.begin(), want.end(), by_key_then_id);
  std::sort(got.begin(), got.end(), by_key_then_id);
  CHECK(got == want);
}

template <class K>
void check_sorted_by_key(std::size_t threads, std::size_t n, shape s) {
  const auto input = rows<K>(n, s, n * 31 + static_cast<std::uint64_t>(s));
  dataflow::context ctx(threads);
  check_ordered_by_key(input, ctx.from(input).sort_by([](const keyed_row<K>& r) { return r.key; }).collect());
}

}  // namespace

TEST_CASE("sort_by an integral key orders like a sequential sort, for every key type and shape", "[ops][sort]") {
  const std::size_t threads = DATAFLOW_THREADS();
  // Below, at and past the size where items are distributed first; 300001 puts a hot key's
  // bucket past a thread's share (sorted in parallel) and a few-key bucket past the in-cache copy.
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{65536},
                                 std::size_t{70001}, std::size_t{300001});
  const shape s = GENERATE(shape::full_range, shape::few_keys, shape::hot_key, shape::one_key);
  CAPTURE(threads, n, static_cast<int>(s));
  check_sorted_by_key<std::int64_t>(threads, n, s);
  check_sorted_by_key<std::uint64_t>(threads, n, s);
  check_sorted_by_key<std::int32_t>(threads, n, s);
  check_sorted_by_key<signed char>(threads, n, s);
  check_sorted_by_key<std::uint16_t>(threads, n, s);
}

TEST_CASE("sort_by stops with the key function's exception, or an error when its keys change", "[ops][sort]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  const auto input = rows<std::int64_t>(200003, shape::full_range, 5);
  dataflow::context ctx(threads);
  auto ds = ctx.from(input);

  // Throws on one item: the sort never finishes, the caller gets the user's exception.
  auto throwing = ds.sort_by([](const keyed_row<std::int64_t>& r) {
    if (r.id == 123457) throw std::runtime_error("no key for item 123457");
    return r.key;
  });
  CHECK_THROWS_WITH(throwing.count(), Catch::Contains("no key for item 123457"));

  // A key that changes between calls (a counter): an error that says so, not a sort that
  // writes outside its output or returns items lost or doubled.
  std::atomic<std::int64_t> calls{0};
  auto changing = ds.sort_by([&calls](const keyed_row<std::int64_t>&) { return calls.fetch_add(1); });
  CHECK_THROWS_WITH(changing.count(), Catch::Contains("two different keys"));

  // A key that changes only sometimes: either the run fails, or every item comes out once.
  std::atomic<std::int64_t> flips{0};
  auto wobbly = ds.sort_by([&flips](const keyed_row<std::int64_t>& r) {
    return flips.fetch_add(1) % 100003 == 0 ? -r.key : r.key;
  });
  try {
    auto got = wobbly.collect();
    std::vector<std::uint32_t> ids;
    for (const auto& r : got) ids.push_back(r.id);
    std::sort(ids.begin(), ids.end());
    REQUIRE(ids.size() == input.size());
    for (std::size_t i = 0; i < ids.size(); ++i) REQUIRE(ids[i] == i);
  } catch (const std::exception& e) {
    CHECK_THAT(e.what(), Catch::Contains("two different keys"));
  }
}

TEST_CASE("sort of string views distributes by their first bytes and orders ties bytewise", "[ops][sort]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{70001}, std::size_t{300001});
  // Few first-eight-byte prefixes: buckets of one prefix each, ordered by the rest alone.
  const bool few_prefixes = GENERATE(false, true);
  CAPTURE(threads, n, few_prefixes);
  std::mt19937_64 rng(n + threads);
  // Empty strings, strings shorter than eight bytes, long shared prefixes (ties on the first
  // eight bytes), embedded zero bytes and bytes above 127.
  const std::vector<std::string> stems = {"", "a", "ab", std::string("ab\0", 3), "prefix-shared-", "zz\xff", "\x01"};
  std::vector<std::string> words(n);
  for (auto& w : words) {
    w = stems[rng() % stems.size()];
    for (std::size_t k = rng() % 12; k > 0; --k) w.push_back(static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 'a' + rng() % 3));
    if (few_prefixes) w = "aaaaaaa" + std::to_string(rng() % 8) + w;
  }
  dataflow::context ctx(threads);
  auto got = ctx.from(words).map([](const std::string& w) { return std::string_view(w); }).sort().collect();
  auto want = words;
  std::sort(want.begin(), want.end());
  REQUIRE(got.size() == want.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
  CHECK(differ == 0);
}

TEST_CASE("sort_by an integral key under a budget sorts its runs by distribution, in pieces", "[ops][sort][spill]") {
  using namespace dataflow::literals;
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{3});
  const shape s = GENERATE(shape::full_range, shape::few_keys, shape::hot_key, shape::one_key);
  CAPTURE(threads, static_cast<int>(s));
  // 16-byte rows: a budget of 8 MiB gives each thread a buffer of a few hundred thousand, so
  // that 700001 rows make several runs, and the scratch is cut into pieces beside the buffer.
  const auto input = rows<std::int64_t>(700001, s, 77 + static_cast<std::uint64_t>(s));
  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.memory_budget(8_MiB).spill_directory(dir.path().string());
  const auto before = dataflow::detail::spilled_bytes_total.load();
  auto got = ctx.from(input).sort_by([](const keyed_row<std::int64_t>& r) { return r.key; }).collect();
  CHECK(dataflow::detail::spilled_bytes_total.load() > before);
  check_ordered_by_key(input, std::move(got));

  // A key that changes between calls fails the spilling sort with the error that says so.
  std::atomic<std::int64_t> calls{0};
  auto changing = ctx.from(input).sort_by([&calls](const keyed_row<std::int64_t>&) { return calls.fetch_add(1); });
  CHECK_THROWS_WITH(changing.count(), Catch::Contains("two different keys"));
  CHECK(test::nothing_left_in(dir));
}

TEST_CASE("a run sorted by distribution matches a sequential sort, and refuses keys that change",
          "[ops][sort]") {
  using row = keyed_row<std::int64_t>;
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{1000},
                                 std::size_t{16385}, std::size_t{300007});
  const shape s = GENERATE(shape::full_range, shape::few_keys, shape::hot_key, shape::one_key);
  CAPTURE(n, static_cast<int>(s));
  const auto input = rows<std::int64_t>(n, s, n + 3);
  auto key_of = [](const row& r) { return dataflow::detail::ordered_bits(r.key); };
  auto less = [](const row& a, const row& b) { return a.key < b.key; };
  struct changed {};
  auto changed_key = [] { return changed{}; };
  std::vector<row> out(n);
  dataflow::detail::distribute_sort_run(input.data(), n, out.data(), key_of, less, changed_key);
  CHECK(std::is_sorted(out.begin(), out.end(), less));
  auto by_key_then_id = [](const row& a, const row& b) { return std::tie(a.key, a.id) < std::tie(b.key, b.id); };
  auto want = input;
  std::sort(want.begin(), want.end(), by_key_then_id);
  std::sort(out.begin(), out.end(), by_key_then_id);
  CHECK(out == want);

  if (n >= 64) {
    // Every call a new key: the count or the move pass finds a key outside what it counted.
    std::int64_t calls = 0;
    auto changing = [&calls](const row&) { return dataflow::detail::ordered_bits(calls++); };
    CHECK_THROWS_AS(dataflow::detail::distribute_sort_run(input.data(), n, out.data(), changing, less, changed_key),
                    changed);
  }
}
