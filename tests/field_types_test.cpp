// decimal, date and timestamp: parsing and formatting against std::chrono's calendar and plain
// integer arithmetic, bad text refused with a reason, and each as a read_csv field and a
// write_csv column that reads back the same.
#include "support/test_support.hpp"

#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace chr = std::chrono;

std::string chrono_date(std::int32_t days) {
  const chr::year_month_day ymd{chr::sys_days{chr::days{days}}};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

std::string reason(auto&& parse) {
  try {
    parse();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const std::out_of_range& e) {
    return e.what();
  }
  return "parsed";
}

struct payment {
  std::string who;
  dataflow::decimal<2> amount;
  dataflow::date due;
  std::optional<dataflow::timestamp> paid;
  bool operator==(const payment&) const = default;
};

}  // namespace

TEST_CASE("decimal reads and writes exactly", "[types][decimal]") {
  using d2 = dataflow::decimal<2>;
  CHECK(d2::parse("12.5").units == 1250);
  CHECK(d2::parse("-0.07").units == -7);
  CHECK(d2::parse("+3").units == 300);
  CHECK(d2::parse(".5").units == 50);
  CHECK(d2::parse("7.").units == 700);
  CHECK(to_string(d2{-1250}) == "-12.50");
  CHECK(to_string(d2{-5}) == "-0.05");
  CHECK(to_string(dataflow::decimal<0>{42}) == "42");
  CHECK(fmt::format("[{:>8}]", d2{1}) == "[    0.01]");
  CHECK(reason([] { d2::parse("1.234"); }) == "has more than 2 fractional digits");
  for (const char* bad : {"", "-", ".", "1e5", "1.2.3", "12a", "--1", " 1"}) {
    INFO(bad);
    CHECK(reason([&] { d2::parse(bad); }) == "is not a decimal number");
  }
  CHECK(reason([] { d2::parse("92233720368547758.08"); }) == "is out of range for decimal<2>");
  CHECK(d2::parse("-92233720368547758.08").units == std::numeric_limits<std::int64_t>::min());
  CHECK(d2::parse("92233720368547758.07").units == std::numeric_limits<std::int64_t>::max());
  CHECK_THROWS_AS(d2{std::numeric_limits<std::int64_t>::max()} + d2{1}, std::overflow_error);
  CHECK_THROWS_AS(d2{std::numeric_limits<std::int64_t>::min()} * 2, std::overflow_error);

  std::mt19937_64 rng(3);
  for (int i = 0; i < 20000; ++i) {
    const auto units = static_cast<std::int64_t>(rng()) >> (rng() % 63);
    const dataflow::decimal<6> d{units};
    const std::string text = to_string(d);
    const std::uint64_t mag = units < 0 ? 0 - static_cast<std::uint64_t>(units) : static_cast<std::uint64_t>(units);
    CHECK(text == fmt::format("{}{}.{:06}", units < 0 ? "-" : "", mag / 1000000, mag % 1000000));
    CHECK(dataflow::decimal<6>::parse(text) == d);
  }
}

TEST_CASE("date and timestamp follow the Gregorian calendar", "[types][date]") {
  CHECK(dataflow::date::parse("1970-01-01").days == 0);
  CHECK(dataflow::date::parse("2000-02-29").days == 11016);
  CHECK(dataflow::date::parse("1969-12-31").days == -1);
  CHECK(dataflow::date::parse("2026-12-02").weekday() == 2);  // a Wednesday
  CHECK(reason([] { dataflow::date::parse("2023-02-29"); }) == "is not a day of the calendar");
  CHECK(reason([] { dataflow::date::parse("1900-02-29"); }) == "is not a day of the calendar");
  for (const char* bad : {"2023-1-05", "2023/01/05", "20230105", "2023-01-05x", ""}) {
    INFO(bad);
    CHECK(reason([&] { dataflow::date::parse(bad); }) == "is not a date (YYYY-MM-DD)");
  }
  std::mt19937_64 rng(4);
  for (int i = 0; i < 20000; ++i) {
    const auto days = static_cast<std::int32_t>(rng() % 3652059) - 719162;  // 0001-01-01 to 9999-12-31
    const std::string text = chrono_date(days);
    REQUIRE(to_string(dataflow::date{days}) == text);
    REQUIRE(dataflow::date::parse(text).days == days);
  }

  using ts = dataflow::timestamp;
  CHECK(ts::parse("1970-01-01T00:00:01Z").micros == 1000000);
  CHECK(ts::parse("1970-01-01 00:00:01.5").micros == 1500000);
  CHECK(ts::parse("1970-01-01T01:00:00+01:00").micros == 0);
  CHECK(ts::parse("1969-12-31T19:00:00-05:00").micros == 0);
  CHECK(ts::parse("2026-12-02").micros == dataflow::date::parse("2026-12-02").days * ts::per_day);
  CHECK(ts::parse("2026-12-02T10:15").seconds() % 86400 == 10 * 3600 + 15 * 60);
  CHECK(ts{-1}.seconds() == -1);
  CHECK(ts{-1}.day().days == -1);
  CHECK(to_string(ts{-1}) == "1969-12-31T23:59:59.999999Z");
  CHECK(to_string(ts::parse("2026-12-02 10:15:30.25")) == "2026-12-02T10:15:30.250000Z");
  CHECK(to_string(ts::parse("2026-12-02 10:15:30")) == "2026-12-02T10:15:30Z");
  CHECK(reason([] { ts::parse("2026-12-02T24:00:00"); }) == "is not a time of day");
  CHECK(reason([] { ts::parse("2026-12-02T10:00:00.1234567"); }) == "has more than 6 fractional digits of a second");
  CHECK(reason([] { ts::parse("2026-12-02T10:00:00+5"); }) == "has an offset that is not +HH:MM or -HH:MM");
  for (int i = 0; i < 20000; ++i) {
    const auto micros = static_cast<std::int64_t>(rng() % (400ull * 365 * 86400 * 1000000)) -
                        static_cast<std::int64_t>(200ull * 365 * 86400 * 1000000);
    const chr::sys_time<chr::microseconds> tp{chr::microseconds{micros}};
    const auto day = chr::floor<chr::days>(tp);
    const chr::hh_mm_ss<chr::microseconds> hms{tp - day};
    std::string want = chrono_date(static_cast<std::int32_t>(day.time_since_epoch().count())) +
                       fmt::format("T{:02}:{:02}:{:02}", hms.hours().count(), hms.minutes().count(), hms.seconds().count());
    if (hms.subseconds().count() != 0) want += fmt::format(".{:06}", hms.subseconds().count());
    want += "Z";
    REQUIRE(to_string(ts{micros}) == want);
    REQUIRE(ts::parse(want).micros == micros);
  }
}

TEST_CASE("decimal, date and timestamp as CSV fields and columns", "[types][csv]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  test::temp_dir dir;
  std::mt19937_64 rng(5);
  std::vector<payment> want;
  std::string text = "due,who,paid,amount\n";
  for (int i = 0; i < 3000; ++i) {
    payment p{test::random_word(rng, 8), dataflow::decimal<2>{static_cast<std::int64_t>(rng() % 2000000) - 1000000},
              dataflow::date{static_cast<std::int32_t>(rng() % 40000)}, std::nullopt};
    if (rng() % 2) p.paid = dataflow::timestamp{static_cast<std::int64_t>(rng() % (4000000000ull * 1000000))};
    text += fmt::format("{},{}, {} ,{}\n", to_string(p.due), p.who, p.paid ? to_string(*p.paid) : "", to_string(p.amount));
    want.push_back(p);
  }
  test::write_file(dir.file("pay.csv"), text);
  CHECK(ctx.read_csv<payment>(dir.file("pay.csv")).collect() == want);

  // Written back as text, the columns read again as the same values.
  ctx.from(want).write_csv(dir.file("out.csv"));
  CHECK(ctx.read_csv<payment>(dir.file("out.csv")).collect() == want);
  CHECK(test::read_file(dir.file("out.csv")).rfind("who,amount,due,paid\n", 0) == 0);

  // Sums of decimals are exact whatever the order of addition.
  auto total = ctx.from(want).map([](const payment& p) { return std::pair(p.due.year() % 3, p.amount); })
                   .reduce_by_key(std::plus<>{})
                   .collect();
  std::map<int, dataflow::decimal<2>> want_total;
  for (const auto& p : want) want_total[p.due.year() % 3] += p.amount;
  CHECK(std::map<int, dataflow::decimal<2>>(total.begin(), total.end()) == want_total);

  test::write_file(dir.file("bad.csv"), "who,amount,due,paid\nann,1.5,2026-02-30,\n");
  try {
    ctx.read_csv<payment>(dir.file("bad.csv")).collect();
    FAIL("a bad date was read");
  } catch (const std::exception& e) {
    CHECK_THAT(e.what(), Catch::Contains("bad.csv:2") && Catch::Contains("due") &&
                             Catch::Contains("is not a day of the calendar"));
  }
}
