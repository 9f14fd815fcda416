// read_csv into structs and tuples, by column name and by position, and write_csv of structs:
// typed fields against a sequential parse, errors that name the file, line, column and member.
#include "../support/test_support.hpp"

#include <cmath>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace {

enum class tier : int { free = 0, pro = 1, team = 2 };

struct sale {
  std::string region;
  std::int64_t units;
  double price;
  std::optional<std::uint32_t> store;
  bool online;
  tier plan;
  bool operator==(const sale&) const = default;
};

std::string quoted_if_needed(const std::string& s) {
  std::string out;
  dataflow::append_csv_field(out, s, ',');
  return out;
}

std::vector<sale> random_sales(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<sale> v;
  for (std::size_t i = 0; i < n; ++i) {
    sale s;
    s.region = rng() % 5 == 0 ? "North, \"upper\"" : test::random_word(rng, 10);
    s.units = static_cast<std::int64_t>(rng() % 2000000) - 1000000;
    s.price = static_cast<double>(rng() % 100000) / 64.0;
    if (rng() % 3) s.store = static_cast<std::uint32_t>(rng() % 90000);
    s.online = rng() % 2;
    s.plan = static_cast<tier>(rng() % 3);
    v.push_back(s);
  }
  return v;
}

// Columns in another order than the members, with an extra column and CRLF line ends.
std::string as_csv(const std::vector<sale>& sales, bool crlf) {
  std::string text = "price,extra,region,online,units,plan,store";
  text += crlf ? "\r\n" : "\n";
  for (const auto& s : sales) {
    text += fmt::format("{},x,{},{},{},{},{}", s.price, quoted_if_needed(s.region), s.online ? "true" : "0", s.units,
                        static_cast<int>(s.plan), s.store ? std::to_string(*s.store) : "");
    text += crlf ? "\r\n" : "\n";
  }
  return text;
}

std::string error_of(auto&& action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("read_csv fills struct members by column name", "[sources][csv]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE_COPY(from_range(test::sizes()));
  const bool crlf = n % 2 == 1;
  const auto sales = random_sales(n, n);
  test::temp_dir dir;
  const std::string text = as_csv(sales, crlf);
  // Two files, split at a line boundary: the header is in both.
  const std::size_t half = sales.size() / 2;
  test::write_file(dir.file("a.csv"), as_csv(std::vector<sale>(sales.begin(), sales.begin() + static_cast<std::ptrdiff_t>(half)), crlf));
  test::write_file(dir.file("b.csv"), as_csv(std::vector<sale>(sales.begin() + static_cast<std::ptrdiff_t>(half), sales.end()), crlf));
  dataflow::context ctx(threads);
  const auto got = ctx.read_csv<sale>(dir.file("*.csv"), {.chunk_bytes = 4096}).collect();
  CHECK(got == sales);

  // Written back with member names as the header, then read again by name.
  ctx.from(sales).write_csv(dir.file("out.csv"));
  CHECK(test::read_file(dir.file("out.csv")).starts_with("region,units,price,store,online,plan\n"));
  CHECK(ctx.read_csv<sale>(dir.file("out.csv")).collect() == sales);
}

TEST_CASE("read_csv by position: tuples, no header, other separators", "[sources][csv]") {
  const std::size_t threads = DATAFLOW_THREADS();
  test::temp_dir dir;
  test::write_file(dir.file("t.tsv"), "a\t1\t2.5\n\n\"b\tc\"\t-7\t1e3\textra\n+3\t+4\t-0\n");
  dataflow::context ctx(threads);
  using row = std::tuple<std::string, int, double>;
  const auto rows = ctx.read_csv<row>(dir.file("t.tsv"), {.header = false, .separator = '\t'}).collect();
  const std::vector<row> want{{"a", 1, 2.5}, {"b\tc", -7, 1000.0}, {"+3", 4, -0.0}};
  CHECK(rows == want);

  struct pt {
    int x, y;
    bool operator==(const pt&) const = default;
  };
  test::write_file(dir.file("p.csv"), "y,x\n1,2\n3,4\n");
  CHECK(ctx.read_csv<pt>(dir.file("p.csv")).collect() == std::vector<pt>{{2, 1}, {4, 3}});
  CHECK(ctx.read_csv<pt>(dir.file("p.csv"), {.by_name = false}).collect() == std::vector<pt>{{1, 2}, {3, 4}});
}

TEST_CASE("read_csv errors name the file, line, column and member", "[sources][csv][errors]") {
  test::temp_dir dir;
  dataflow::context ctx(2);
  struct row {
    std::string name;
    std::int32_t count;
    std::optional<double> score;
  };
  auto fails = [&](const std::string& text) {
    test::write_file(dir.file("bad.csv"), text);
    return error_of([&] { ctx.read_csv<row>(dir.file("bad.csv")).count(); });
  };
  std::string m = fails("name,count,score\nok,1,2\nok,2,\nbad,x1,3\n");
  CAPTURE(m);
  CHECK(m.find("bad.csv:4") != std::string::npos);
  CHECK(m.find("count: 'x1' is not an integer at column 5") != std::string::npos);
  m = fails("name,count,score\nbig,99999999999,1\n");
  CHECK(m.find("out of range") != std::string::npos);
  m = fails("name,count,score\nshort,1\n");
  CHECK(m.find("missing field 3") != std::string::npos);
  m = fails("name,count,score\n\"open,1,2\n");
  CHECK(m.find("does not end on its line") != std::string::npos);
  m = fails("name,count,score\nn,1,1.5.2\n");
  CHECK(m.find("score: '1.5.2' is not a number") != std::string::npos);
  // A missing column is found before the run, naming the file and its header.
  test::write_file(dir.file("cols.csv"), "name,cnt,score\n");
  m = error_of([&] { (void)ctx.read_csv<row>(dir.file("cols.csv")); });
  CHECK(m.find("has no column 'count' (its header: name, cnt, score)") != std::string::npos);
  m = error_of([&] { ctx.from(std::vector<double>{1.0}).write_csv(dir.file("f.csv"), {.header = {}, .float_format = "{:q}"}); });
  CHECK(m.find("float_format") != std::string::npos);
}

TEST_CASE("write_csv formats floating point as asked", "[sinks][csv]") {
  test::temp_dir dir;
  dataflow::context ctx(2);
  struct price {
    std::string item;
    double amount;
  };
  ctx.from(std::vector<price>{{"tea", 2.5}, {"a,b", 1.0 / 3}}).write_csv(dir.file("p.csv"), {.header = {}, .float_format = "{:.2f}"});
  CHECK(test::read_file(dir.file("p.csv")) == "item,amount\ntea,2.50\n\"a,b\",0.33\n");
  ctx.from(std::vector<price>{{"x", 0.1}}).write_csv(dir.file("q.csv"), {.header = {}, .member_names = false});
  CHECK(test::read_file(dir.file("q.csv")) == "x,0.1\n");
}
