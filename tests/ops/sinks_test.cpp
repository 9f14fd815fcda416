// File sinks: write_csv quoting, write_records read back with read_records, part files in a
// directory, and no finished-looking file after a failure.
#include "../support/test_support.hpp"

#include <dataflow/storage/output_file.hpp>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace {

std::vector<std::string> part_files(const test::temp_dir& dir, const std::string& sub) {
  std::vector<std::string> names;
  for (const auto& e : test::fs::directory_iterator(dir.path() / sub)) {
    names.push_back(e.path().filename().string());
  }
  return test::sorted(names);
}

}  // namespace

TEST_CASE("write_csv quotes fields that need it and writes a header", "[sinks][csv]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  test::temp_dir dir;
  std::vector<std::tuple<std::string, int, std::optional<double>>> rows{
      {"plain", 1, 2.5}, {"with,comma", -2, std::nullopt}, {"with \"quote\"", 3, 0.0},
      {"two\nlines", 4, -1.25}};
  for (int i = 0; i < 5000; ++i) rows.emplace_back("r" + std::to_string(i), i, i * 0.5);
  std::string want = "name;n;x\n";
  for (const auto& [s, n, x] : rows) {
    std::string f = s;
    if (s.find_first_of(";\"\n") != std::string::npos) {
      f = "\"";
      for (char c : s) f += c == '"' ? std::string("\"\"") : std::string(1, c);
      f += "\"";
    }
    want += f + ";" + std::to_string(n) + ";" + (x ? fmt::format("{}", *x) : "") + "\n";
  }
  const auto path = dir.file("out.csv");
  ctx.from(rows).write_csv(path, {.header = {"name", "n", "x"}, .separator = ';'});
  CHECK(test::read_file(path) == want);
  CHECK(dir.entries() == std::vector<std::string>{"out.csv"});

  // Pairs give two fields, nested ones too (a join's output), anything else one.
  std::vector<std::pair<std::string, int>> kv{{"a", 1}, {"b,c", 2}};
  ctx.from(kv).write_csv(path);
  CHECK(test::read_file(path) == "a,1\n\"b,c\",2\n");
  std::vector<std::pair<char, std::pair<int, std::optional<std::string>>>> nested{
      {',', {1, "x"}}, {'q', {2, std::nullopt}}};
  ctx.from(nested).write_csv(path);
  CHECK(test::read_file(path) == "\",\",1,x\nq,2,\n");
}

TEST_CASE("write_records round-trips through read_records, to a file and to part files",
          "[sinks][records]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  test::temp_dir dir;
  struct rec {
    std::uint64_t key;
    double value;
  };
  for (std::size_t n : test::sizes()) {
    std::vector<rec> in(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = {i * 31, static_cast<double>(i) / 3};
    const auto path = dir.file("r.bin");
    ctx.from(in).write_records(path);
    auto back = ctx.read_records<rec>(path).collect();
    REQUIRE(back.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(back[i].key == in[i].key);
      REQUIRE(back[i].value == in[i].value);
    }
    // One file per partition, named in partition order; read back in order with a glob.
    const auto parts = dir.file("parts-" + std::to_string(n));
    auto ds = ctx.from(in).map([](const rec& r) { return r; });
    ds.write_records(parts, {.part_files = true, .extension = ".bin"});
    auto names = part_files(dir, "parts-" + std::to_string(n));
    REQUIRE_FALSE(names.empty());
    CHECK(names.front() == "part-00000.bin");
    auto again = ctx.read_records<rec>(parts + "/part-*.bin").collect();
    REQUIRE(again.size() == n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(again[i].key == in[i].key);
  }
}

TEST_CASE("part files of lines hold the partitions; a failing run leaves none", "[sinks][parts]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  test::temp_dir dir;
  std::vector<int> in(100000);
  for (int i = 0; i < 100000; ++i) in[static_cast<std::size_t>(i)] = i;
  auto parts = ctx.from(in).partition_by([](int x) { return static_cast<std::size_t>(x); }, 12);
  parts.write_lines(dir.file("lines"), {.part_files = true, .extension = ".txt"});
  auto names = part_files(dir, "lines");
  REQUIRE(names.size() == 12);
  CHECK(names[11] == "part-00011.txt");
  std::size_t lines = 0;
  for (std::size_t p = 0; p < names.size(); ++p) {
    std::string text = test::read_file(dir.file("lines/" + names[p]));
    std::size_t at = 0;
    while (at < text.size()) {
      std::size_t end = text.find('\n', at);
      REQUIRE(std::stoul(text.substr(at, end - at)) % 12 == p);
      at = end + 1;
      ++lines;
    }
  }
  CHECK(lines == in.size());

  // A second run with fewer partitions replaces the parts of the first.
  ctx.from(in).partition_by([](int x) { return static_cast<std::size_t>(x); }, 3)
      .write_lines(dir.file("lines"), {.part_files = true, .extension = ".txt"});
  CHECK(part_files(dir, "lines") ==
        std::vector<std::string>{"part-00000.txt", "part-00001.txt", "part-00002.txt"});

  // A part that cannot be put in place once others are: those go back out, so no part is left
  // (all or none), and no temporary either.
  dataflow::detail::output_rename_failure_countdown = 3;
  CHECK_THROWS_WITH(ctx.from(in).partition_by([](int x) { return static_cast<std::size_t>(x); }, 5)
                        .write_lines(dir.file("lines"), {.part_files = true, .extension = ".txt"}),
                    Catch::Contains("cannot rename"));
  dataflow::detail::output_rename_failure_countdown = 0;
  CHECK(part_files(dir, "lines").empty());
  CHECK(test::fs::is_empty(dir.file("lines")));

  auto failing = ctx.from(in).map([](int x) {
    if (x == 77777) throw std::runtime_error("no 77777");
    return x;
  });
  CHECK_THROWS_WITH(failing.write_lines(dir.file("bad"), {.part_files = true}),
                    Catch::Contains("no 77777"));
  CHECK_FALSE(test::fs::exists(dir.file("bad")));  // no part, no temporary, no directory
  CHECK_THROWS_WITH(failing.write_csv(dir.file("bad.csv")), Catch::Contains("no 77777"));
  CHECK_FALSE(test::fs::exists(dir.file("bad.csv")));
}

TEST_CASE("a sink's output path is checked before the run reads anything", "[sinks][errors]") {
  test::temp_dir dir;
  dataflow::context ctx(2);
  std::atomic<std::size_t> calls{0};
  auto ds = ctx.from(std::vector<int>{1, 2, 3})
                .map([&calls](int x) {
                  ++calls;
                  return std::pair(x % 2, x);
                })
                .reduce_by_key(std::plus<>{});
  const std::string missing = dir.file("no/such/dir/out.csv");
  CHECK_THROWS_AS(ds.write_csv(missing), dataflow::io_error);
  CHECK_THROWS_AS(ds.keys().write_lines(dir.file("no/such/dir/out.txt")), dataflow::io_error);
  test::write_file(dir.file("plain"), "x");
  CHECK_THROWS_AS(ds.write_csv(dir.file("plain/parts"), {}, {.part_files = true}), dataflow::io_error);
  CHECK(calls == 0);
  CHECK(dir.entries() == std::vector<std::string>{"plain"});
  ds.write_csv(dir.file("parts"), {}, {.part_files = true, .extension = ".csv"});
  CHECK(calls == 3);
}
