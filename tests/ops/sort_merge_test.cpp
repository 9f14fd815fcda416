// A sort that spilled merges its runs as key ranges in parallel (split at the runs' block
// fences), and write_lines puts a partition's text that is not yet its turn in a temporary file
// under a budget: the same order as a sequential sort for every shape of input, the output in
// order, and no file left behind.
#include "../support/test_support.hpp"

#include <dataflow/ops/write_lines.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace dataflow::literals;

namespace {

enum class order { random, ascending, descending, few_values, one_value };

std::vector<std::uint64_t> numbers(std::size_t n, order o, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (o) {
      case order::random: v[i] = rng(); break;
      case order::ascending: v[i] = i / 3; break;
      case order::descending: v[i] = n - i / 3; break;
      case order::few_values: v[i] = rng() % 5; break;
      case order::one_value: v[i] = 42; break;
    }
  }
  return v;
}

/// Compares two long sequences without printing them: the first place they differ, if any.
template <class V>
void check_same(const V& got, const V& want) {
  REQUIRE(got.size() == want.size());
  const auto at = std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin();
  INFO("first difference at " << at);
  CHECK(static_cast<std::size_t>(at) == got.size());
}

/// The partitions of the stage that read the sort's output (the last stage of the run).
std::size_t merge_partitions(const dataflow::context& ctx) { return ctx.last_run().stages.back().partitions; }

}  // namespace

TEST_CASE("a spilled sort merges key ranges in parallel into the sequential order", "[spill][sort]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  const order o = GENERATE(order::random, order::ascending, order::descending, order::few_values, order::one_value);
  CAPTURE(threads, static_cast<int>(o));
  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.memory_budget(24_MiB).spill_directory(dir.path().string());

  const auto input = numbers(1'500'007, o, 7 + static_cast<std::uint64_t>(o));
  const auto before = dataflow::detail::spilled_bytes_total.load();
  const auto released_before = dataflow::detail::spill_bytes_released_total.load();
  auto got = ctx.from(input).sort().collect();
  CHECK(dataflow::detail::spilled_bytes_total.load() > before);
  check_same(got, test::sorted(input));
  // Ranges of distinct keys: several unless every key is one.
  if (o != order::one_value) CHECK(merge_partitions(ctx) > 1);
  // Once the ranges that read a block were all read, it went to release_space: every byte
  // spilled, each once. (Where the file system punches holes, as ext4, XFS, btrfs and tmpfs
  // do, a block given back too early reads as corrupt.)
  if (merge_partitions(ctx) > 1) {
    CHECK(dataflow::detail::spill_bytes_released_total.load() - released_before ==
          dataflow::detail::spilled_bytes_total.load() - before);
  }

  // Descending by a comparator, and strings, whose ranges split inside runs of equal prefixes.
  auto desc = ctx.from(input).sort(std::greater<>{}).collect();
  auto want_desc = test::sorted(input);
  std::reverse(want_desc.begin(), want_desc.end());
  check_same(desc, want_desc);

  // A comparator that answers at random: the ranges are cut at positions, so every item still
  // comes out exactly once.
  auto coin = [](std::uint64_t, std::uint64_t) {
    thread_local std::mt19937 r(11);
    return (r() & 1) != 0;
  };
  check_same(test::sorted(ctx.from(input).sort(coin).collect()), test::sorted(input));

  std::vector<std::string> words(input.size() / 3);
  for (std::size_t i = 0; i < words.size(); ++i) words[i] = "w" + std::to_string(input[i] % 100000) + std::string(i % 7, 'x');
  auto got_words = ctx.from(words).map([](const std::string& w) { return std::string_view(w); }).sort().collect();
  check_same(got_words, test::sorted(words));
  CHECK(test::nothing_left_in(dir));
}

TEST_CASE("a spilled sort written with write_lines is the sorted file, and leaves nothing", "[spill][sort][sinks]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{3});
  test::temp_dir dir, out;
  dataflow::context ctx(threads);
  ctx.memory_budget(24_MiB).spill_directory(dir.path().string());
  const auto input = numbers(2'000'003, order::random, 99);
  const std::string path = (out.path() / "sorted.txt").string();
  const auto spilled_before = dataflow::detail::spilled_bytes_total.load();
  const auto released_before = dataflow::detail::spill_bytes_released_total.load();
  ctx.from(input).sort().write_lines(path);
  CHECK(merge_partitions(ctx) > 1);
  CHECK(dataflow::detail::spill_bytes_released_total.load() - released_before ==
        dataflow::detail::spilled_bytes_total.load() - spilled_before);
  std::string want;
  for (std::uint64_t x : test::sorted(input)) want += std::to_string(x) + '\n';
  const std::string written = test::read_file(path);
  CHECK(written.size() == want.size());
  CHECK((written == want));  // parenthesized: no 20 MB of text in the message
  CHECK(test::nothing_left_in(dir));
}

TEST_CASE("the ordered writer puts early partitions' text aside and writes everything in order", "[sinks]") {
  using dataflow::detail::ordered_writer;
  const std::size_t parts = GENERATE(std::size_t{1}, std::size_t{7}, std::size_t{40});
  const std::size_t hold = GENERATE(std::size_t{0}, std::size_t{16}, std::size_t{1} << 20);
  CAPTURE(parts, hold);
  test::temp_dir spill, out;
  const std::string path = (out.path() / "out.txt").string();
  std::vector<std::vector<std::string>> chunks(parts);
  std::string want;
  std::mt19937_64 rng(parts * 31 + hold);
  for (std::size_t p = 0; p < parts; ++p) {
    const std::size_t n = rng() % 6;  // some partitions write nothing
    for (std::size_t i = 0; i < n; ++i) {
      chunks[p].push_back("p" + std::to_string(p) + "." + std::to_string(i) + std::string(rng() % 40, '-') + "\n");
      want += chunks[p].back();
    }
  }
  {
    dataflow::detail::output_file file(path);
    ordered_writer writer(file, parts, std::make_shared<dataflow::detail::spill_directory>(spill.path().string()), hold,
                          "test");
    // Threads take partitions in a shuffled order, each writing its chunks one partial at a time.
    std::vector<std::size_t> order(parts);
    for (std::size_t p = 0; p < parts; ++p) order[p] = p;
    std::shuffle(order.begin(), order.end(), rng);
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 3; ++t) {
      pool.emplace_back([&] {
        for (std::size_t k; (k = next.fetch_add(1)) < parts;) {
          const std::size_t p = order[k];
          fmt::memory_buffer text;
          for (const std::string& c : chunks[p]) {
            text.append(c.data(), c.data() + c.size());
            writer.partial(p, text);
          }
          writer.complete(p, std::move(text));
        }
      });
    }
    for (auto& t : pool) t.join();
    file.commit();
  }
  CHECK(test::read_file(path) == want);
  CHECK(test::nothing_left_in(spill));
}

namespace {

/// Strings of many shapes for a bytewise sort: every byte value (zeros and 0xff included),
/// lengths around the eight bytes compared as a number, a long shared prefix, and a few far
/// outliers among keys of a narrow range (outside what a sample of them would see).
std::vector<std::string> shaped_strings(std::size_t n, int shape, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string& s = v[i];
    switch (shape) {
      case 0:  // any bytes, 0 to 12 of them
        s.resize(rng() % 13);
        for (char& c : s) c = static_cast<char>(rng());
        break;
      case 1:  // few byte values: many ties of the first eight bytes, and of whole strings
        s.resize(rng() % 11);
        for (char& c : s) c = "\0a\xff"[rng() % 3];
        break;
      case 2:  // a shared prefix longer than eight bytes
        s = "https://example.org/" + std::to_string(rng() % 50000);
        break;
      case 3:  // a narrow range, and a few (rarer than a sample of the range's) far below or above
        s = (i % 9973 == 5) ? std::string(1, (i / 9973) % 2 ? '\x01' : '\xfe') + std::to_string(rng())
                            : "m" + std::to_string(rng() % 100000);
        break;
      default:  // printable lines of a hundred bytes, as sort_lines' benchmark has
        s.resize(100);
        for (char& c : s) c = static_cast<char>(' ' + rng() % 95);
    }
  }
  return v;
}

}  // namespace

TEST_CASE("a bytewise sort of strings orders every shape of string as std::sort does", "[sort]") {
  const int shape = GENERATE(0, 1, 2, 3, 4);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{4096}, std::size_t{70001}}) {
    CAPTURE(shape, n);
    const auto strings = shaped_strings(n, shape, 100 + static_cast<std::uint64_t>(shape) + n);
    std::vector<std::string_view> views(strings.begin(), strings.end());
    std::vector<std::string_view> want = views;
    std::sort(want.begin(), want.end());
    dataflow::detail::sort_prefixed(views.data(), views.data() + views.size(), false);
    check_same(views, want);
  }
}

TEST_CASE("an in-memory bytewise sort of strings of every shape is the sequential order", "[sort]") {
  // Past the size where the sort distributes by prefix; the sorted views then take the memory
  // of the thread that buffered the most, whatever the threads' shares.
  const int shape = GENERATE(0, 1, 2, 3, 4);
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{3});
  const std::size_t n = GENERATE(std::size_t{65536}, std::size_t{200'003});
  CAPTURE(shape, threads, n);
  dataflow::context ctx(threads);
  const auto strings = shaped_strings(n, shape, 19 + static_cast<std::uint64_t>(shape) + n);
  // Strings whose length is a multiple of three come twice: equal strings side by side.
  auto got = ctx.from(strings)
                 .flat_map([](const std::string& s) {
                   std::vector<std::string_view> out{std::string_view(s)};
                   if (s.size() % 3 == 0) out.emplace_back(s);
                   return out;
                 })
                 .sort()
                 .collect();
  std::vector<std::string> want;
  for (const auto& s : strings) {
    want.push_back(s);
    if (s.size() % 3 == 0) want.push_back(s);
  }
  std::vector<std::string> got_strings(got.begin(), got.end());
  check_same(got_strings, test::sorted(want));
}

TEST_CASE("a spilled bytewise sort of strings of every shape merges into the sequential order", "[spill][sort]") {
  const int shape = GENERATE(0, 1, 2, 3, 4);
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{3});
  CAPTURE(shape, threads);
  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.memory_budget(8_MiB).spill_directory(dir.path().string());
  const auto strings = shaped_strings(300'007, shape, 7 + static_cast<std::uint64_t>(shape));
  const auto before = dataflow::detail::spilled_bytes_total.load();
  auto got = ctx.from(strings).map([](const std::string& s) { return std::string_view(s); }).sort().collect();
  CHECK(dataflow::detail::spilled_bytes_total.load() > before);
  std::vector<std::string> got_strings(got.begin(), got.end());
  check_same(got_strings, test::sorted(strings));
  CHECK(test::nothing_left_in(dir));
}

TEST_CASE("a large in-memory bytewise sort written to a file frees its strings by range and writes the sequential order",
          "[sort]") {
  // Past the bytes after which a thread keeps strings by range (sort_core::group_from_bytes):
  // write_lines reads the sort's partitions as the sort's only reader, so each range's strings
  // are freed as the output passes them, while later partitions still read theirs.
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);
  std::mt19937_64 rng(2024 + threads);
  std::vector<std::string> strings;
  const std::size_t n = threads * 300'000;
  strings.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string s;
    const auto r = rng() % 100;
    if (r < 60) {  // printable lines of a hundred bytes
      s.resize(100);
      for (char& c : s) c = static_cast<char>(' ' + rng() % 95);
    } else if (r < 90) {  // a shared prefix longer than eight bytes: one range takes them all
      s = "https://example.org/" + std::to_string(rng() % 50000);
    } else if (r < 99) {  // short, and empty
      s = std::string(rng() % 3, 'a');
    } else if (i % 7 == 0) {  // a few longer than a slice of a range's block
      s.assign(70000 + rng() % 1000, static_cast<char>('A' + rng() % 26));
    } else if (i % 7 == 1) {  // 255 bytes or more: a record's length takes nine bytes
      s.assign(255 + rng() % 700, static_cast<char>('A' + rng() % 26));
    } else {
      s = "~" + std::to_string(rng());
    }
    strings.push_back(std::move(s));
  }
  test::temp_dir dir;
  const std::string out = (dir.path() / "sorted.txt").string();
  dataflow::context ctx(threads);
  const auto released_before = dataflow::detail::line_groups_released_early_total.load();
  ctx.from(strings).map([](const std::string& s) { return std::string_view(s); }).sort().write_lines(out);
  // Groups went while the output was written, not at the sort's end.
  CHECK(dataflow::detail::line_groups_released_early_total.load() > released_before);
  std::string want;
  for (const auto& s : test::sorted(strings)) {
    want += s;
    want += '\n';
  }
  const std::string got = test::read_file(out);
  REQUIRE(got.size() == want.size());
  const auto at = std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin();
  INFO("first difference at byte " << at);
  CHECK(static_cast<std::size_t>(at) == got.size());
}

namespace {

/// Lines of a hundred printable bytes, enough that each of `threads` threads passes the bytes
/// after which a sort keeps its strings by range, and whose first eight bytes spread evenly:
/// every range is sorted as the output reaches it, none before.
std::vector<std::string> even_lines(std::size_t threads, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> lines(threads * 400'003);
  for (std::string& s : lines) {
    s.resize(100);
    for (std::size_t i = 0; i < s.size(); i += 8) {
      const std::uint64_t r = rng();
      for (std::size_t k = 0; k < 8 && i + k < s.size(); ++k) s[i + k] = static_cast<char>(' ' + (r >> (8 * k)) % 95);
    }
  }
  return lines;
}

}  // namespace

TEST_CASE("a large in-memory bytewise sort sorts each range as its output reaches it", "[sort]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);
  const auto lines = even_lines(threads, 77 + threads);
  const auto want = test::sorted(lines);
  dataflow::context ctx(threads);
  auto sorted = ctx.from(lines).map([](const std::string& s) { return std::string_view(s); }).sort();

  SECTION("every item") {
    const auto got = sorted.collect();
    REQUIRE(got.size() == want.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
    CHECK(differ == 0);
  }
  SECTION("the first items only") {
    const auto got = sorted.take(1000);
    REQUIRE(got.size() == 1000);
    CHECK(std::equal(got.begin(), got.end(), want.begin()));
  }
  SECTION("a reader that throws midway: the caller gets its exception") {
    std::atomic<std::size_t> seen{0};
    auto failing = sorted.map([&](std::string_view s) {
      if (seen.fetch_add(1) == want.size() / 3) throw std::runtime_error("reader gave up");
      return s;
    });
    CHECK_THROWS_WITH(failing.collect(), Catch::Contains("reader gave up"));
  }
}
