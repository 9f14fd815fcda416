// The group_sum tool's core against a sequential sum in integer cents.
#include "../support/test_support.hpp"

#include "group_sum.hpp"

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

TEST_CASE("group_sums sums exactly per key, in key order", "[examples][group_sum]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t rows = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{5003});
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{32} << 10);
  test::temp_dir dir;
  std::mt19937_64 rng(rows + threads);
  std::map<std::int64_t, std::pair<std::int64_t, std::uint64_t>> want;  // cents, count
  std::string csv = "key,value\n";
  for (std::size_t i = 0; i < rows; ++i) {
    auto key = static_cast<std::int64_t>(test::zipf_keys(1, 500, rng())[0]) - 100;
    auto cents = static_cast<std::int64_t>(rng() % 2000001) - 1000000;
    auto abs = cents < 0 ? -cents : cents;
    csv += std::to_string(key) + "," + (cents < 0 ? "-" : "") + std::to_string(abs / 100) + "." +
           (abs % 100 < 10 ? "0" : "") + std::to_string(abs % 100) + (i % 7 == 0 ? "\r\n" : "\n");
    want[key].first += cents;
    want[key].second += 1;
  }
  test::write_file(dir.file("data.csv"), csv);

  dataflow::context ctx(threads);
  ctx.memory_budget(budget);
  auto got = examples::group_sums(ctx, dir.file("data.csv"), {.chunk_bytes = 777});
  REQUIRE(got.size() == want.size());
  auto it = want.begin();
  for (const auto& row : got) {
    CHECK(row.key == it->first);
    auto c = it->second.first;
    auto abs = c < 0 ? -c : c;
    std::string text = (c < 0 ? "-" : "") + std::to_string(abs / 100);
    if (abs % 100 != 0) {
      std::string frac = (abs % 100 < 10 ? "0" : "") + std::to_string(abs % 100);
      if (frac.back() == '0') frac.pop_back();
      text += "." + frac;
    }
    CHECK(examples::to_string(row.sum) == text);
    CHECK(row.count == it->second.second);
    ++it;
  }
}

TEST_CASE("group_sum parses decimals exactly and rejects malformed lines", "[examples][group_sum]") {
  using examples::parse_row;
  CHECK(examples::to_string(parse_row("1,0.1").second.sum) == "0.1");
  CHECK(examples::to_string(parse_row("1,-.5").second.sum) == "-0.5");
  CHECK(examples::to_string(parse_row("1,+7.").second.sum) == "7");
  CHECK(examples::to_string(parse_row("1,0.000000000000000001").second.sum) == "0.000000000000000001");
  CHECK(parse_row("-9223372036854775808,1").first == INT64_MIN);
  CHECK(examples::to_string(examples::add(parse_row("1,0.1").second, parse_row("1,0.2").second).sum) == "0.3");
  for (const char* bad : {"", "1", "1,", ",2", "a,1", "1,2,3", "1,1e5", "1,.", "1, 2",
                          "9223372036854775808,1", "1,0.0000000000000000001"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_row(bad), Catch::Contains("expected 'key,value'"));
  }
}

namespace {

/// Where the fast parse answered, its row must be the field-by-field parse's; where that one
/// throws, the fast parse must have declined. Counts which of the two happened.
void check_against_fields(const std::string& line, bool answered_fast,
                          const std::pair<std::int64_t, examples::sum_count>& fast,
                          std::size_t& answered, std::size_t& declined) {
  INFO(line);
  try {
    const auto slow = examples::parse_row_fields(line);
    if (answered_fast) {
      CHECK(fast.first == slow.first);
      CHECK(fast.second.sum == slow.second.sum);
      CHECK(fast.second.count == 1);
      ++answered;
    }
  } catch (const std::exception&) {
    CHECK_FALSE(answered_fast);
    ++declined;
  }
}

}  // namespace

TEST_CASE("group_sum's one-pass parse agrees with the field-by-field parse on random lines", "[examples][group_sum]") {
  // Lines of random pieces, well formed or not: where the one-pass parse answers, its answer is
  // the field-by-field parse's; where that one throws, the one-pass parse declines.
  std::mt19937_64 rng(17);
  const std::vector<std::string> pieces = {"0", "7", "42", "-", "+", ".", ",", "\"", "\r", "x", " ",
                                           "999999999", "123456789012345678", "0000000000"};
  std::size_t answered = 0, declined = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string line;
    const std::size_t n = 1 + rng() % 9;
    for (std::size_t k = 0; k < n; ++k) line += pieces[rng() % pieces.size()];
    if (i % 3 == 0) line = std::to_string(static_cast<std::int64_t>(rng()) >> (rng() % 64)) + "," + line;
    std::pair<std::int64_t, examples::sum_count> fast;
    const bool plain = examples::parse_plain_row(line, fast);
    check_against_fields(line, plain, fast, answered, declined);
  }
  // Both kinds of line were tried.
  CHECK(answered > 1000);
  CHECK(declined > 1000);
}

TEST_CASE("group_sum's parse of short lines agrees with the field-by-field parse", "[examples][group_sum]") {
  // Lines shaped like the common one (a key of up to 9 digits, a comma, a value of up to 9
  // characters), with random digits, signs, points, commas and other bytes mixed in: where the
  // mask-based parse answers, its answer is the field-by-field parse's; where that one throws,
  // the mask-based parse declines. Each line also sits right before an unreadable page, so a
  // load past its end would fault.
  const test::guarded_page page;
  std::mt19937_64 rng(23);
  const std::string digits = "0123456789", others = "-+.,x \r\"";
  auto piece = [&](std::size_t n, int odd_in) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
      out += rng() % odd_in == 0 ? others[rng() % others.size()] : digits[rng() % digits.size()];
    }
    return out;
  };
  std::size_t answered = 0, declined = 0;
  for (int i = 0; i < 300000; ++i) {
    std::string line = (rng() % 4 == 0 ? "-" : "") + piece(1 + rng() % 9, 40) + "," +
                       (rng() % 3 == 0 ? (rng() % 2 ? "-" : "+") : "") + piece(rng() % 10, 6);
    if (rng() % 5 == 0) line.insert(rng() % (line.size() + 1), piece(1, 1));
    if (rng() % 10 == 0) line += "\r";
    char* at = page.end() - line.size();
    std::memcpy(at, line.data(), line.size());
    std::pair<std::int64_t, examples::sum_count> fast;
    const bool answers = examples::parse_short_row(std::string_view(at, line.size()), fast);
    check_against_fields(line, answers, fast, answered, declined);
  }
  CHECK(answered > 50000);
  CHECK(declined > 10000);
}

TEST_CASE("group_sum names the file and line of a malformed row", "[examples][group_sum]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  std::string csv = "k,v\n";
  for (int i = 0; i < 3000; ++i) csv += i == 2500 ? "7;1.5\n" : "7,1.5\n";
  test::write_file(dir.file("bad.csv"), csv);
  CHECK_THROWS_WITH(examples::group_sums(ctx, dir.file("bad.csv"), {.chunk_bytes = 100}),
                    Catch::Contains(dir.file("bad.csv") + ":2502") && Catch::Contains("missing ','"));
}

TEST_CASE("group_sum formats any decimal as a digit-by-digit reference does", "[examples][group_sum]") {
  // The reference: the magnitude's digits one at a time in 128-bit arithmetic, the point 18
  // digits from the right, trailing fractional zeros dropped.
  using dataflow::detail::int128;
  using dataflow::detail::uint128;
  auto reference = [](int128 units) {
    const bool negative = units < 0;
    uint128 u = negative ? static_cast<uint128>(-(units + 1)) + 1 : static_cast<uint128>(units);
    std::string digits;
    do {
      digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
      u /= 10;
    } while (u != 0);
    if (digits.size() <= 18) digits.insert(0, 19 - digits.size(), '0');
    std::string whole = digits.substr(0, digits.size() - 18), frac = digits.substr(digits.size() - 18);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    return (negative ? "-" : "") + whole + (frac.empty() ? "" : "." + frac);
  };
  const int128 max = static_cast<int128>(~uint128{0} >> 1);
  std::vector<int128> values = {0, 1, -1, max, -max - 1, max - 1, -max,
                                static_cast<int128>(UINT64_MAX), -static_cast<int128>(UINT64_MAX),
                                static_cast<int128>(UINT64_MAX) + 1, examples::pow10_int128(18),
                                examples::pow10_int128(37), -examples::pow10_int128(37) + 1};
  std::mt19937_64 rng(23);
  for (int i = 0; i < 20000; ++i) {
    // Magnitudes of every width from 1 bit to 127, so every branch of the formatter is taken.
    const int bits = 1 + static_cast<int>(rng() % 127);
    uint128 u = (static_cast<uint128>(rng()) << 64) | rng();
    u >>= 128 - bits;
    if (rng() % 4 == 0) u -= u % static_cast<uint128>(examples::pow10_int128(static_cast<int>(rng() % 19)));
    const auto v = static_cast<int128>(u);
    values.push_back(rng() % 2 ? v : -v);
  }
  for (const int128 v : values) {
    const std::string want = reference(v);
    INFO(want);
    REQUIRE(examples::to_string(examples::decimal(v)) == want);
  }
}

TEST_CASE("group_sum's sums add as 128-bit integers and fail exactly where those overflow", "[examples][group_sum]") {
  using dataflow::detail::int128;
  using dataflow::detail::uint128;
  const int128 max = static_cast<int128>(~uint128{0} >> 1), min = -max - 1;
  std::mt19937_64 rng(17);
  // Random halves, values near the ends of the range, and carries between the halves.
  auto pick = [&]() -> int128 {
    switch (rng() % 5) {
      case 0: return max - static_cast<int128>(rng() % 1000);
      case 1: return min + static_cast<int128>(rng() % 1000);
      case 2: return static_cast<int128>((static_cast<uint128>(rng()) << 64) | rng());
      case 3: return static_cast<int128>(static_cast<std::int64_t>(rng() % 3) - 1) * (int128{1} << 64) + static_cast<int128>(rng());
      default: return static_cast<int128>(static_cast<std::int64_t>(rng()));
    }
  };
  std::size_t overflows = 0, wrong = 0;
  for (int i = 0; i < 200000; ++i) {
    const int128 a = pick(), b = pick();
    const examples::sum_count x{examples::decimal(a), 3}, y{examples::decimal(b), 4};
    int128 want;
    const bool overflow = __builtin_add_overflow(a, b, &want);
    overflows += overflow;
    bool threw = false;
    try {
      const examples::sum_count got = examples::add(x, y);
      wrong += overflow || got.sum.units() != want || got.count != 7;
    } catch (const std::overflow_error&) {
      threw = true;
    }
    wrong += threw != overflow;
  }
  CHECK(wrong == 0);
  CHECK(overflows > 1000);  // both ends were reached
  CHECK_THROWS_AS(examples::add({examples::decimal(max), 1}, {examples::decimal(int128{1}), 1}), std::overflow_error);
  CHECK_THROWS_AS(examples::add({examples::decimal(min), 1}, {examples::decimal(int128{-1}), 1}), std::overflow_error);
  CHECK(examples::add({examples::decimal(min), 1}, {examples::decimal(max), 1}).sum.units() == -1);
}
