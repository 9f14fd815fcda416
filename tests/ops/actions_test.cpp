// The actions: collect_partitions, count, reduce, fold, for_each, top_k, write_lines.
#include "../support/test_support.hpp"

#include <atomic>
#include <numeric>
#include <string>
#include <vector>

TEST_CASE("reduce and fold merge in partition order", "[ops][reduce]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  dataflow::context ctx(threads);
  std::vector<std::string> input(n);
  for (std::size_t i = 0; i < n; ++i) input[i] = std::string(1, static_cast<char>('a' + i % 26));
  std::string want = std::accumulate(input.begin(), input.end(), std::string());

  // Concatenation is associative but not commutative: order must be kept.
  auto got = ctx.from(input).reduce([](const std::string& a, const std::string& b) { return a + b; });
  CHECK(got.has_value() == (n > 0));
  if (got) CHECK(*got == want);

  auto folded = ctx.from(input).fold(
      std::string(), [](std::string acc, const std::string& s) { return acc += s; },
      [](std::string a, std::string b) { return a + b; });
  CHECK(folded == want);

  std::vector<std::uint64_t> numbers(n);
  std::iota(numbers.begin(), numbers.end(), 1);
  CHECK(ctx.from(numbers).reduce(std::plus<>{}).value_or(0) == n * (n + 1) / 2);
}

TEST_CASE("reduce over string views returns an owned string", "[ops][reduce]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  std::vector<std::string> words{"pear", "fig", "banana", "kiwi"};
  auto longest = ctx.from(words)
                     .map([](const std::string& s) { return std::string_view(s); })
                     .reduce([](std::string_view a, std::string_view b) { return a.size() >= b.size() ? a : b; });
  static_assert(std::is_same_v<decltype(longest), std::optional<std::string>>);
  CHECK(longest == "banana");
}

TEST_CASE("count, for_each and collect_partitions see every item once", "[ops][actions]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  dataflow::context ctx(threads);
  ctx.on_recompute(dataflow::recompute_policy::allow);  // one dataset, many actions, on purpose
  auto ds = ctx.generate(n, [](std::size_t i) { return i; });
  CHECK(ds.count() == n);
  std::atomic<std::uint64_t> sum{0}, calls{0};
  ds.for_each([&](std::size_t i) {
    sum += i;
    ++calls;
  });
  CHECK(calls == n);
  CHECK(sum == (n == 0 ? 0 : n * (n - 1) / 2));
  auto parts = ds.collect_partitions();
  std::vector<std::size_t> flat;
  for (auto& p : parts) flat.insert(flat.end(), p.begin(), p.end());
  CHECK(flat == ds.collect());
}

TEST_CASE("collect_on(0) on one process is collect; another rank is refused", "[ops][actions]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  for (std::size_t n : test::sizes()) {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back("item " + std::to_string(i * 7 % 101));
    auto ds = ctx.from(v).map([](const std::string& s) { return std::string_view(s); }).sort();
    CHECK(ds.collect_on(0) == ds.collect());
  }
  CHECK_THROWS_WITH(ctx.from(std::vector<int>{1}).collect_on(1),
                    Catch::Contains("collect_on(1): the job has 1 rank (0)"));
}

TEST_CASE("top_k returns the first k in the comparator's order", "[ops][top_k]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  const std::size_t k = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{10}, std::size_t{5000});
  dataflow::context ctx(threads);
  auto keys = test::zipf_keys(n, 50, n + k);  // many ties
  std::vector<std::pair<std::uint64_t, std::string>> input(n);
  for (std::size_t i = 0; i < n; ++i) input[i] = {keys[i], "item" + std::to_string(i)};
  auto comp = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  auto want = input;
  std::sort(want.begin(), want.end(), comp);
  want.resize(std::min(k, n));
  CHECK(ctx.from(input).top_k(k, comp) == want);

  // The default order is largest first.
  auto plain = ctx.from(keys).top_k(k);
  auto plain_want = test::sorted(keys);
  std::reverse(plain_want.begin(), plain_want.end());
  plain_want.resize(std::min(k, n));
  CHECK(plain == plain_want);
}

TEST_CASE("write_lines writes every item in order and leaves no temporary file", "[ops][write_lines]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(from_range(test::sizes()));
  dataflow::context ctx(threads);
  test::temp_dir dir;
  ctx.generate(n, [](std::size_t i) { return i * 3; }).write_lines(dir.file("out.txt"));
  std::string want;
  for (std::size_t i = 0; i < n; ++i) want += std::to_string(i * 3) + "\n";
  CHECK(test::read_file(dir.file("out.txt")) == want);

  ctx.from(std::vector<std::string>{"a", "", "b c"}).map([](const std::string& s) { return std::string_view(s); }).write_lines(dir.file("s.txt"));
  CHECK(test::read_file(dir.file("s.txt")) == "a\n\nb c\n");
  CHECK(dir.entries() == std::vector<std::string>{"out.txt", "s.txt"});
}

TEST_CASE("write_lines keeps order when partitions finish out of turn and reuse buffers", "[ops][write_lines]") {
  // Four threads take partitions at once, so most finish before their turn and hold their
  // text; buffers written are handed to partitions that start later. 8192 lines of up to 3000
  // bytes make 8 partitions of about 1.5 MB: under the budget each holds 1 MiB at most and puts
  // the rest in a temporary file. 200001 lines of up to 300 bytes make 128 partitions.
  const std::size_t n = GENERATE(std::size_t{1}, std::size_t{7}, std::size_t{8192}, std::size_t{200001});
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{4} << 20);
  INFO("items " << n << ", budget " << budget);
  dataflow::context ctx(4);
  if (budget) ctx.memory_budget(budget);
  test::temp_dir dir;
  const std::size_t longest = n <= 10000 ? 3000 : 300;
  auto line = [longest](std::size_t i) {
    return std::to_string(i) + std::string((i * 7919) % longest, static_cast<char>('a' + i % 26));
  };
  ctx.generate(n, [n](std::size_t i) { return i; })
      .map([&, n](std::size_t i) {
        volatile std::size_t spin = 0;
        for (std::size_t k = 0; k < (i < n / 4 ? 200 : 0); ++k) spin = spin + k;
        return line(i);
      })
      .write_lines(dir.file("out.txt"));
  std::string want;
  for (std::size_t i = 0; i < n; ++i) want += line(i) + "\n";
  CHECK(test::read_file(dir.file("out.txt")) == want);
  CHECK(dir.entries() == std::vector<std::string>{"out.txt"});
}

TEST_CASE("a failed write_lines leaves neither the file nor a temporary", "[ops][write_lines]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  test::write_file(dir.file("out.txt"), "old contents\n");
  auto failing = ctx.generate(100000, [](std::size_t i) {
    if (i == 77777) throw std::runtime_error("boom");
    return i;
  });
  CHECK_THROWS_AS(failing.write_lines(dir.file("out.txt")), dataflow::stage_error);
  CHECK(test::read_file(dir.file("out.txt")) == "old contents\n");  // untouched
  CHECK(dir.entries() == std::vector<std::string>{"out.txt"});
  CHECK_THROWS_AS(ctx.from({1}).write_lines(dir.file("no/such/dir/out.txt")), dataflow::io_error);
}
