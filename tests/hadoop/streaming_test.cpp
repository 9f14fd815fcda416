// The Hadoop Streaming helpers: escaping round-trips any string, records parse back to what was
// written, and a malformed record fails naming its line.
#include <dataflow/hadoop/streaming.hpp>

#include "../support/test_support.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hadoop = dataflow::hadoop;

TEST_CASE("escaping round-trips any bytes and leaves no TAB or newline in a field") {
  std::mt19937_64 rng(3);
  const std::string alphabet = std::string("ab\\\t\n\r\0x", 9);
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    const std::size_t n = rng() % 12;
    for (std::size_t j = 0; j < n; ++j) {
      s += rng() % 4 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    }
    std::string e;
    hadoop::append_escaped(e, s);
    CHECK(e.find('\t') == std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
    CHECK(e.find('\r') == std::string::npos);
    CHECK(hadoop::unescape(e) == s);
    auto [k, v] = hadoop::parse_record<std::string, std::string>(hadoop::record_line<std::string, std::string>(s, s + "v"));
    CHECK(k == s);
    CHECK(v == s + "v");
  }
  CHECK_THROWS_WITH(hadoop::unescape("a\\q"), Catch::Contains("unknown escape '\\q'"));
  CHECK_THROWS_WITH(hadoop::unescape("a\\"), Catch::Contains("at the end"));
  CHECK_THROWS_WITH(hadoop::unescape("a\tb"), Catch::Contains("unescaped TAB"));
}

TEST_CASE("numbers as text: every integer and double reads back exactly") {
  std::mt19937_64 rng(4);
  for (int i = 0; i < 2000; ++i) {
    const auto x = static_cast<std::int64_t>(rng());
    const double d = std::ldexp(static_cast<double>(rng() % 1000000) - 500000, static_cast<int>(rng() % 200) - 100);
    auto [k, v] = hadoop::parse_record<std::int64_t, double>(hadoop::record_line(x, d));
    CHECK(k == x);
    CHECK(v == d);
  }
  for (std::int64_t x : {std::numeric_limits<std::int64_t>::min(), std::int64_t{0}, std::numeric_limits<std::int64_t>::max()}) {
    CHECK(hadoop::parse_record<std::int64_t, std::uint64_t>(hadoop::record_line(x, std::uint64_t{7})).first == x);
  }
  // A line without a TAB is a key with an empty value, as Hadoop reads it.
  CHECK(hadoop::parse_record<std::string, std::string>("alone") == std::pair<std::string, std::string>{"alone", ""});
  CHECK_THROWS_WITH((hadoop::parse_record<std::string, std::uint64_t>("k\t12x")), Catch::Contains("not a number: '12x'"));
  CHECK_THROWS_WITH((hadoop::parse_record<std::int64_t, std::uint64_t>("k\t1")), Catch::Contains("not a number: 'k'"));
  CHECK_THROWS((hadoop::parse_record<std::uint64_t, std::uint64_t>("1\t99999999999999999999999")));
}

TEST_CASE("records written by a pipeline read back as the same pairs; a bad one names its line") {
  test::temp_dir dir;
  dataflow::context ctx(2);
  std::mt19937_64 rng(5);
  for (std::size_t n : test::sizes()) {
    std::vector<std::pair<std::string, std::int64_t>> pairs;
    for (std::size_t i = 0; i < n; ++i) pairs.emplace_back(test::random_word(rng, 8) + (i % 3 ? "" : "\t\\"), static_cast<std::int64_t>(rng()));
    const std::string path = dir.path() / "records.txt";
    hadoop::write_records(ctx.from(pairs), path);
    CHECK(hadoop::read_records<std::string, std::int64_t>(ctx, path).collect() == pairs);
  }
  const std::string bad = dir.path() / "bad.txt";
  test::write_file(bad, "a\t1\nb\t2\nc\tthree\n");
  try {
    hadoop::read_records<std::string, std::int64_t>(ctx, bad).count();
    FAIL("a malformed record was read");
  } catch (const dataflow::stage_error& e) {
    CHECK(std::string(e.what()).find("bad.txt:3") != std::string::npos);
    CHECK(std::string(e.what()).find("not a number: 'three'") != std::string::npos);
  }
}
