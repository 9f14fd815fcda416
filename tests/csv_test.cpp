// CSV fields against a reference reader, and the tools that read CSV: quoted keys, CRLF lines,
// errors naming file, line and column.
#include "support/test_support.hpp"
#include "support/csv_reference.hpp"

#include "group_sum.hpp"
#include "inverted_index.hpp"
#include "join_csv.hpp"

#include <random>
#include <string>
#include <vector>


TEST_CASE("csv_fields splits like a reference reader on random lines", "[csv]") {
  std::mt19937_64 rng(11);
  const std::string alphabet = "ab,\"\r; ";
  for (int round = 0; round < 200000; ++round) {
    std::string line;
    const std::size_t len = rng() % 12;
    for (std::size_t i = 0; i < len; ++i) line += alphabet[rng() % alphabet.size()];
    const char sep = round % 2 ? ',' : ';';
    bool ok = true;
    const auto want = test::reference_csv_fields(line, sep, ok);
    std::vector<std::string> got;
    bool threw = false;
    try {
      dataflow::csv_fields f(line, sep);
      while (!f.done()) got.emplace_back(f.next());
    } catch (const dataflow::csv_error& e) {
      threw = true;
      CHECK(e.column() >= 1);
      CHECK(e.column() <= line.size() + 1);
    }
    INFO("line: '" << line << "'");
    REQUIRE(threw == !ok);
    if (ok) REQUIRE(got == want);
  }
}

TEST_CASE("csv_fields names what is wrong and where", "[csv]") {
  auto error_of = [](std::string_view line) -> std::string {
    try {
      dataflow::csv_fields f(line);
      while (!f.done()) f.next();
    } catch (const dataflow::csv_error& e) {
      return e.what();
    }
    return "";
  };
  CHECK_THAT(error_of("a,\"b\"c,d"), Catch::Contains("text after the closing quote") && Catch::Contains("column 6"));
  CHECK_THAT(error_of("a,\"bc"), Catch::Contains("does not end on its line") && Catch::Contains("column 3"));
  CHECK_THAT(error_of("ab\"c"), Catch::Contains("quote inside an unquoted field") && Catch::Contains("column 3"));
  dataflow::csv_fields f("\"x,\"\"y\"\"\",2\r");
  CHECK(f.next() == "x,\"y\"");
  CHECK(f.rest() == "2");
  CHECK(f.next() == "2");
  CHECK(f.done());
  std::string out;
  dataflow::append_csv_field(out, "x,\"y\"");
  CHECK(out == "\"x,\"\"y\"\"\"");
}

TEST_CASE("group_sum reads quoted fields and CRLF lines, and names the key whose sum overflows",
          "[csv][examples][group_sum]") {
  test::temp_dir dir;
  test::write_file(dir.file("q.csv"), "key,value\r\n\"7\",\"1.5\"\r\n7,2\r\n\"-3\",1\r\n");
  dataflow::context ctx(2);
  auto rows = examples::group_sums(ctx, dir.file("q.csv"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].key == -3);
  CHECK(rows[1].key == 7);
  CHECK(examples::to_string(rows[1].sum) == "3.5");
  CHECK(rows[1].count == 2);

  test::write_file(dir.file("bad.csv"), "key,value\n1,2\n\"a,b\",1\n");
  CHECK_THROWS_WITH(examples::group_sums(ctx, dir.file("bad.csv")),
                    Catch::Contains("bad.csv:3") && Catch::Contains("missing key") && Catch::Contains("\"a,b\",1"));

  // Values near the top of the 128-bit range: two of them overflow key 99's sum.
  std::string big = "key,value\n";
  for (int i = 0; i < 4; ++i) big += "99,99999999999999999999\n5,1\n";
  test::write_file(dir.file("big.csv"), big);
  CHECK_THROWS_WITH(examples::group_sums(ctx, dir.file("big.csv")),
                    Catch::Contains("sum out of range") && Catch::Contains("key 99"));
}

TEST_CASE("join_csv joins on quoted keys, drops '\\r' and quotes keys that need it", "[csv][examples][join_csv]") {
  test::temp_dir dir;
  test::write_file(dir.file("l.csv"), "id,name\r\n\"a,b\",left1\r\n\"q\"\"x\",left2\r\nplain,left3\r\n");
  test::write_file(dir.file("r.csv"), "id,v\na\",b,nope\n\"a,b\",right1\n\"plain\",right2\n");
  dataflow::context ctx(2);
  // a",b is a malformed key on the right: an error naming file, line and column.
  CHECK_THROWS_WITH(examples::join_csv(ctx, dir.file("l.csv"), dir.file("r.csv"), examples::join_type::inner, true),
                    Catch::Contains("r.csv:2") && Catch::Contains("column 2"));
  test::write_file(dir.file("r.csv"), "id,v\n\"a,b\",right1\n\"plain\",right2\n");
  const std::vector<std::string> want{"\"a,b\",left1,right1", "plain,left3,right2"};
  CHECK(examples::join_csv(ctx, dir.file("l.csv"), dir.file("r.csv"), examples::join_type::inner, true) == want);
  const auto full = examples::join_csv(ctx, dir.file("l.csv"), dir.file("r.csv"), examples::join_type::full, true);
  CHECK(full == std::vector<std::string>{"\"a,b\",left1,right1", "\"q\"\"x\",left2,", "plain,left3,right2"});
}

TEST_CASE("inverted_index escapes file names with spaces and tabs", "[examples][inverted_index]") {
  CHECK(examples::escape_name("my notes.txt") == "my\\ notes.txt");
  CHECK(examples::escape_name("a\tb\\c\nd") == "a\\tb\\\\c\\nd");
  CHECK(examples::escape_name("plain.txt") == "plain.txt");
}
