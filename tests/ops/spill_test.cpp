// Larger than memory: every spilling operator under a budget of tens of KiB gives the answers it
// gives in memory, leaves its spill directory empty, and reports disk failures clearly.
#include "../support/test_support.hpp"

#include <dataflow/storage/spill_file.hpp>

#include "sort_lines.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

using namespace dataflow::literals;

namespace {

std::uint64_t spilled() { return dataflow::detail::spilled_bytes_total.load(); }

/// A context with a tiny budget that spills into its own directory.
struct spilling_context {
  explicit spilling_context(std::size_t threads, std::size_t budget = 48_KiB) : ctx(threads) {
    ctx.memory_budget(budget).spill_directory(dir.path().string());
  }
  test::temp_dir dir;
  dataflow::context ctx;
};

std::vector<std::pair<std::string, std::int64_t>> string_pairs(std::size_t n, std::size_t distinct,
                                                               std::uint64_t seed) {
  auto keys = test::zipf_keys(n, distinct, seed);
  std::vector<std::pair<std::string, std::int64_t>> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    // Some keys are longer than fit inline in a table slot.
    std::string k = keys[i] % 5 == 0 ? "a rather long key number " + std::to_string(keys[i])
                                     : "k" + std::to_string(keys[i]);
    out.emplace_back(std::move(k), static_cast<std::int64_t>(i % 13) - 6);
  }
  return out;
}

}  // namespace

TEST_CASE("reduce_by_key under a tiny budget matches the in-memory result", "[spill][reduce_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{300007});
  spilling_context s(threads);
  auto input = string_pairs(n, n / 3 + 1, n + threads);
  std::map<std::string, std::int64_t> want;
  for (const auto& [k, v] : input) want[k] += v;

  const auto before = spilled();
  const auto released_before = dataflow::detail::spill_bytes_released_total.load();
  auto got = s.ctx.from(input)
                 .map([](const auto& p) { return std::pair{std::string_view(p.first), p.second}; })
                 .reduce_by_key(std::plus<>{})
                 .collect();
  CHECK(std::map<std::string, std::int64_t>(got.begin(), got.end()) == want);
  CHECK(got.size() == want.size());
  if (n > 1000) {
    CHECK(spilled() > before);
    // Each partition's segments gave their space back once read, before their files closed.
    const auto released = dataflow::detail::spill_bytes_released_total.load() - released_before;
    CHECK(released > 0);
    CHECK(released <= spilled() - before);
  }
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("reduce_by_key under a tiny budget with integer keys and one hot key", "[spill][reduce_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  spilling_context s(threads, 32_KiB);
  const std::size_t n = 400009;
  std::vector<std::pair<std::uint64_t, double>> input(n);
  std::map<std::uint64_t, double> want;
  for (std::size_t i = 0; i < n; ++i) {
    // Half the items share key 7; the rest are mostly distinct.
    std::uint64_t k = i % 2 ? 7 : i * 2654435761ull % 150001;
    input[i] = {k, 1.0};
    want[k] += 1.0;
  }
  auto got = s.ctx.from(input).reduce_by_key(std::plus<>{}).collect();
  CHECK(std::map<std::uint64_t, double>(got.begin(), got.end()) == want);
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("group_by_key under a tiny budget matches the in-memory result", "[spill][group_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(std::size_t{1}, std::size_t{200003});
  spilling_context s(threads);
  auto input = string_pairs(n, n / 10 + 1, n * 3 + threads);
  std::map<std::string, std::vector<std::int64_t>> want;
  for (const auto& [k, v] : input) want[k].push_back(v);

  const auto before = spilled();
  const auto released_before = dataflow::detail::spill_bytes_released_total.load();
  auto got = s.ctx.from(input).group_by_key().collect();
  REQUIRE(got.size() == want.size());
  for (auto& [k, values] : got) CHECK(test::sorted(values) == test::sorted(want.at(k)));
  if (n > 1000) {
    CHECK(spilled() > before);
    const auto released = dataflow::detail::spill_bytes_released_total.load() - released_before;
    CHECK(released > 0);
    CHECK(released <= spilled() - before);
  }
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("group_by_key under a tiny budget finishes a key hotter than the budget", "[spill][group_by_key]") {
  const std::size_t threads = DATAFLOW_THREADS();
  spilling_context s(threads, 32_KiB);
  const std::size_t n = 300001;
  std::vector<std::pair<int, std::uint32_t>> input(n);
  for (std::size_t i = 0; i < n; ++i) input[i] = {i % 100 == 0 ? static_cast<int>(i) : -1, static_cast<std::uint32_t>(i)};
  auto got = s.ctx.from(input)
                 .group_by_key()
                 .map([](const auto& g) {
                   std::uint64_t sum = 0;
                   for (auto v : g.second) sum += v;
                   return std::tuple{g.first, g.second.size(), sum};
                 })
                 .collect();
  std::map<int, std::pair<std::size_t, std::uint64_t>> want;
  for (const auto& [k, v] : input) {
    ++want[k].first;
    want[k].second += v;
  }
  REQUIRE(got.size() == want.size());
  for (const auto& [k, size, sum] : got) CHECK(want.at(k) == std::pair{size, sum});
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("sort under a tiny budget merges runs into the sorted order", "[spill][sort]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{250007});
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{40_KiB});
  spilling_context s(threads, budget);

  std::mt19937_64 rng(n + threads);
  std::vector<std::uint64_t> numbers(n);
  for (auto& x : numbers) x = rng() % (n / 2 + 1);  // duplicates too
  const auto before = spilled();
  auto got = s.ctx.from(numbers).sort().collect();
  CHECK(got == test::sorted(numbers));
  if (budget > 0 && n > 1000) CHECK(spilled() > before);

  std::vector<std::string> words(n / 4);
  for (auto& w : words) w = test::random_word(rng, 20);
  auto got_words = s.ctx.from(words)
                       .map([](const std::string& w) { return std::string_view(w); })
                       .sort()
                       .collect();
  CHECK(got_words == test::sorted(words));

  // Descending, by a key.
  auto desc = s.ctx.from(numbers).sort(std::greater<>{}).collect();
  auto want_desc = test::sorted(numbers);
  std::reverse(want_desc.begin(), want_desc.end());
  CHECK(desc == want_desc);
  auto by_len = s.ctx.from(words).sort_by([](const std::string& w) { return std::pair{w.size(), w}; }).collect();
  std::vector<std::string> want_len = words;
  std::sort(want_len.begin(), want_len.end(), [](const auto& a, const auto& b) {
    return std::pair{a.size(), a} < std::pair{b.size(), b};
  });
  CHECK(by_len == want_len);
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("sort_lines sorts like LC_ALL=C sort, in memory and spilling", "[spill][sort][examples]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{64_KiB});
  spilling_context s(threads, budget);
  test::temp_dir files;
  std::mt19937_64 rng(threads + budget);
  std::string text;
  std::vector<std::string> lines;
  for (int i = 0; i < 60000; ++i) {
    std::string line;
    for (std::size_t len = rng() % 30; len > 0; --len) line += "ab\tZ \xc3\xa9~"[rng() % 8];
    lines.push_back(line);
    text += line + "\n";
  }
  text += "no newline at the end";
  lines.push_back("no newline at the end");
  test::write_file(files.file("in.txt"), text);

  // Bytewise: the reference compares as unsigned bytes, as LC_ALL=C sort does.
  std::sort(lines.begin(), lines.end(), [](const std::string& a, const std::string& b) {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](char x, char y) { return static_cast<unsigned char>(x) < static_cast<unsigned char>(y); });
  });
  std::string want;
  for (const auto& l : lines) want += l + "\n";

  examples::sort_lines(s.ctx, {files.file("in.txt")}, files.file("out.txt"));
  CHECK(test::read_file(files.file("out.txt")) == want);
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("a user function that throws while operators spill leaves no spill file", "[spill][errors]") {
  const std::size_t threads = DATAFLOW_THREADS();
  spilling_context s(threads);
  auto input = string_pairs(100000, 20000, 5);
  std::atomic<int> calls{0};
  auto failing = [&](std::int64_t a, std::int64_t b) {
    if (++calls == 70000) throw std::runtime_error("reduce gave up");
    return a + b;
  };
  auto ds = s.ctx.from(input)
                .map([](const auto& p) { return std::pair{std::string_view(p.first), p.second}; });
  // 100000 items over 20000 keys take at least 80000 calls.
  CHECK_THROWS_WITH(ds.reduce_by_key(failing).map([](const auto& p) { return p.second; }).sort().count(),
                    Catch::Contains("reduce gave up"));
  CHECK(test::nothing_left_in(s.dir));

  auto bad_key = [](const std::pair<std::string, std::int64_t>& p) -> std::size_t {
    if (p.first == "k7") throw std::runtime_error("no sorting k7");
    return p.first.size();
  };
  CHECK_THROWS_WITH(s.ctx.from(input).sort_by(bad_key).count(), Catch::Contains("no sorting k7"));
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("a failing spill write is an error naming the file, and nothing is left", "[spill][errors]") {
  const std::size_t threads = DATAFLOW_THREADS();
  spilling_context s(threads);
  std::vector<std::uint64_t> numbers(200000);
  std::iota(numbers.begin(), numbers.end(), 0);
  std::reverse(numbers.begin(), numbers.end());
  dataflow::detail::spill_write_failure_countdown = 5;
  try {
    s.ctx.from(numbers).sort().count();
    FAIL("expected an io_error");
  } catch (const dataflow::io_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("cannot write spill file") &&
                             Catch::Contains("No space left on device") && Catch::Contains("sort#"));
    CHECK_THAT(e.path(), Catch::Contains(s.dir.path().string()));
  }
  dataflow::detail::spill_write_failure_countdown = 0;
  CHECK(test::nothing_left_in(s.dir));
  // The context still works afterwards.
  CHECK(s.ctx.from(numbers).sort().collect() == test::sorted(numbers));
}

TEST_CASE("an unusable spill directory is an error naming it", "[spill][errors]") {
  dataflow::context ctx(2);
  ctx.memory_budget(32_KiB).spill_directory("/nonexistent/spill/dir");
  std::vector<std::uint64_t> numbers(100000, 3);
  CHECK_THROWS_WITH(ctx.from(numbers).sort().count(),
                    Catch::Contains("cannot create a spill file in '/nonexistent/spill/dir'"));
}

TEST_CASE("spill files detect truncation and corruption", "[spill][storage]") {
  using namespace dataflow::detail;
  test::temp_dir root;
  auto dir = std::make_shared<spill_directory>(root.path().string());
  std::vector<std::pair<std::string, std::uint64_t>> items;
  for (std::uint64_t i = 0; i < 5000; ++i) items.emplace_back("item " + std::to_string(i), i * i);
  spill_segment seg;
  {
    spill_writer w(dir, "test", 4096);
    for (const auto& x : items) w.add(x);
    seg = w.end_segment();
    w.close();
  }
  CHECK(seg.items == items.size());
  CHECK(root.entries().empty());  // the file has no name: nothing to leave behind

  std::vector<std::pair<std::string, std::uint64_t>> back;
  for_each_spilled<std::pair<std::string_view, std::uint64_t>>(
      seg, "test", [&](const auto& x) { back.emplace_back(std::string(x.first), x.second); });
  CHECK(back == items);

  const int fd = seg.file->fd();
  const std::string name = seg.file->path();
  CHECK_THAT(name, Catch::Contains(root.path().string()));
  auto read_all = [&] {
    for_each_spilled<std::pair<std::string_view, std::uint64_t>>(seg, "test", [](const auto&) {});
  };
  std::string bytes(seg.bytes, '\0');
  REQUIRE(::pread(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  auto put = [&](const std::string& b) {
    REQUIRE(::ftruncate(fd, 0) == 0);
    REQUIRE(::pwrite(fd, b.data(), b.size(), 0) == static_cast<ssize_t>(b.size()));
  };
  {  // Flip one byte in the middle.
    std::string bad = bytes;
    bad[bad.size() / 2] ^= 0x20;
    put(bad);
    CHECK_THROWS_WITH(read_all(), Catch::Contains(name) && Catch::Contains("checksum"));
    put(bytes);
    CHECK_NOTHROW(read_all());
  }
  {  // Cut the file short.
    put(bytes.substr(0, bytes.size() - 100));
    CHECK_THROWS_WITH(read_all(), Catch::Contains(name) && Catch::Contains("truncated"));
    put("");
    CHECK_THROWS_WITH(read_all(), Catch::Contains(name) && Catch::Contains("truncated"));
  }
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK(st.st_nlink == 0);
  seg = {};
  CHECK(::fcntl(fd, F_GETFD) == -1);  // the last reference closed it, and the file went with it
  CHECK(test::nothing_left_in(root));
}

namespace {
struct money {
  std::string currency;
  long cents;
  bool operator==(const money&) const = default;
};
}  // namespace

template <>
struct dataflow::codec<money> {
  static void write(dataflow::byte_writer& w, const money& m) {
    dataflow::encode(w, m.currency);
    dataflow::encode(w, m.cents);
  }
  static money read(dataflow::byte_reader& r) {
    auto c = dataflow::decode<std::string>(r);
    return {std::move(c), dataflow::decode<long>(r)};
  }
};

TEST_CASE("codecs round-trip built-in and user types", "[spill][codec]") {
  using item = std::tuple<int, std::string, std::optional<double>, std::vector<std::string>, money,
                          std::pair<char, bool>>;
  static_assert(dataflow::encodable<item>);
  static_assert(!dataflow::encodable<std::unique_ptr<int>>);
  std::vector<item> items;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 300; ++i) {
    std::vector<std::string> words(rng() % 4);
    for (auto& w : words) w = test::random_word(rng, 300);
    items.emplace_back(i, test::random_word(rng), i % 3 ? std::optional<double>(i * 0.5) : std::nullopt,
                       words, money{"EUR", -i}, std::pair{'x', i % 2 == 0});
  }
  std::vector<char> buf;
  dataflow::byte_writer w(buf);
  for (const auto& x : items) dataflow::encode(w, x);
  dataflow::detail::arena scratch;
  dataflow::byte_reader r(buf.data(), buf.data() + buf.size(), scratch);
  for (const auto& x : items) CHECK(dataflow::decode<item>(r) == x);
  CHECK(r.at_end());
  CHECK_THROWS(dataflow::decode<std::string>(r));
}

TEST_CASE("parse_size reads sizes with units", "[spill][memory]") {
  CHECK(dataflow::parse_size("65536") == 65536);
  CHECK(dataflow::parse_size("64K") == 64_KiB);
  CHECK(dataflow::parse_size("256M") == 256_MiB);
  CHECK(dataflow::parse_size("256MiB") == 256_MiB);
  CHECK(dataflow::parse_size("1g") == 1_GiB);
  CHECK(dataflow::parse_size("1.5G") == 1_GiB + 512_MiB);
  CHECK(dataflow::parse_size("12B") == 12);
  CHECK_THROWS_AS(dataflow::parse_size(""), dataflow::usage_error);
  CHECK_THROWS_AS(dataflow::parse_size("M"), dataflow::usage_error);
  CHECK_THROWS_WITH(dataflow::parse_size("12Q"), Catch::Contains("'12Q' is not a size"));
  CHECK_THROWS_AS(dataflow::parse_size("-5M"), dataflow::usage_error);
}

TEST_CASE("a spilling run names no file in the spill root, and touches nothing of others'", "[spill][storage]") {
  spilling_context s(2, 32_KiB);
  // What another run (in another PID namespace, on another host) or the user keeps there.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const auto other = s.dir.path() / ("dataflow-" + std::to_string(dead) + "-AbC123");
  test::fs::create_directories(other);
  test::write_file((other / "0.spill").string(), "a live run's data");
  test::write_file((s.dir.path() / "notes.txt").string(), "mine");
  const auto before = s.dir.entries();

  std::vector<std::pair<std::uint64_t, std::uint64_t>> pairs(200000);
  for (std::size_t i = 0; i < pairs.size(); ++i) pairs[i] = {i % 5000, i};
  std::vector<std::vector<std::string>> seen;
  std::mutex m;
  const auto before_bytes = spilled();
  s.ctx.from(pairs).for_each_group([&](std::uint64_t key, dataflow::group_values<std::uint64_t>&) {
    if (key == 17) {
      std::lock_guard lock(m);
      seen.push_back(s.dir.entries());
    }
  });
  REQUIRE(spilled() > before_bytes);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == before);  // mid-run, with spill files in use
  CHECK(s.dir.entries() == before);
  CHECK(test::read_file((other / "0.spill").string()) == "a live run's data");
}

TEST_CASE("explain shows a sort and its merge", "[spill][sort][explain]") {
  dataflow::context ctx(2);
  auto plan = ctx.from(std::vector<int>{3, 1, 2}).map([](int x) { return x * 2; }).sort().explain();
  CHECK_THAT(plan, Catch::Contains("sort#") && Catch::Contains("map#") &&
                       Catch::Contains("sort runs per thread"));
  CHECK_THAT(ctx.from(std::vector<int>{3, 1, 2}).sort_by([](int x) { return -x; }).explain_dot(),
             Catch::Contains("sort_by#"));
}

TEST_CASE("for_each_group visits every group, streaming a hot one from disk", "[spill][for_each_group]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{32_KiB});
  spilling_context s(threads, budget);
  const std::size_t n = 300007;
  std::vector<std::pair<std::string, std::uint64_t>> input(n);
  std::map<std::string, std::pair<std::size_t, std::uint64_t>> want;  // count, sum
  for (std::size_t i = 0; i < n; ++i) {
    // Two thirds of the items share one key: far more than a thread's share of 32 KiB.
    input[i] = {i % 3 ? std::string("hot") : "k" + std::to_string(i % 5000), i};
    ++want[input[i].first].first;
    want[input[i].first].second += i;
  }
  std::mutex m;
  std::map<std::string, std::pair<std::size_t, std::uint64_t>> got;
  bool streamed = false;
  s.ctx.from(input)
      .map([](const auto& p) { return std::pair{std::string_view(p.first), p.second}; })
      .for_each_group([&](std::string_view key, dataflow::group_values<std::uint64_t>& values) {
        std::pair<std::size_t, std::uint64_t> acc{0, 0};
        for (std::uint64_t v : values) {
          ++acc.first;
          acc.second += v;
        }
        std::lock_guard lock(m);
        streamed = streamed || !values.in_memory();
        CHECK(got.emplace(std::string(key), acc).second);  // each key once
      });
  CHECK(got == want);
  CHECK(streamed == (budget > 0));
  CHECK(test::nothing_left_in(s.dir));

  // A visitor that stops early, or throws, leaves nothing behind either.
  s.ctx.from(input).for_each_group([](const std::string&, dataflow::group_values<std::uint64_t>& values) {
    for (auto v : values) {
      if (v > 10) break;
    }
  });
  CHECK(test::nothing_left_in(s.dir));
  CHECK_THROWS_WITH(
      s.ctx.from(input).for_each_group([](const std::string& k, dataflow::group_values<std::uint64_t>&) {
        if (k == "hot") throw std::runtime_error("too hot");
      }),
      Catch::Contains("too hot"));
  CHECK(test::nothing_left_in(s.dir));
}

TEST_CASE("a cache past its share of the budget spills, keeps order, and removes its file",
          "[spill][cache]") {
  const std::size_t threads = DATAFLOW_THREADS();
  spilling_context s(threads, 256_KiB);
  auto input = string_pairs(200003, 5000, threads);
  {
    std::atomic<int> calls{0};
    auto cached = s.ctx.from(input)
                      .map([&calls](const auto& p) {
                        ++calls;
                        return std::pair{std::string_view(p.first), p.second};
                      })
                      .cache();
    const auto before = spilled();
    CHECK(cached.count() == input.size());
    CHECK(spilled() > before);  // 200K pairs are far more than a quarter of 256 KiB
    CHECK(s.dir.entries().empty());  // the cache's spill file has no name...
    CHECK(test::open_files_in(s.dir.path()) > 0);   // ...and lives with the cache
    auto all = cached.collect();
    REQUIRE(all.size() == input.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      REQUIRE(all[i].first == input[i].first);
      REQUIRE(all[i].second == input[i].second);
    }
    auto sums = cached.reduce_by_key(std::plus<>{}).collect();
    std::map<std::string, std::int64_t> want;
    for (const auto& [k, v] : input) want[k] += v;
    CHECK(std::map<std::string, std::int64_t>(sums.begin(), sums.end()) == want);
    CHECK(calls == static_cast<int>(input.size()));  // computed once
    CHECK(s.ctx.cached_bytes() <= 256_KiB / 4 + 64_KiB);
  }
  CHECK(test::open_files_in(s.dir.path()) == 0);  // gone with the last handle on the cache
  CHECK(s.ctx.cached_bytes() == 0);
}
