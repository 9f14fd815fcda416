// A user function that throws cancels the run; the caller gets a stage_error that names the
// operator and the input and carries the original exception. No hang, no terminate.
#include "../support/test_support.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct user_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Runs f, expecting a stage_error whose op starts with `op` and whose original is a
/// user_error with message `what`; returns the stage_error's where().
template <class F>
std::string expect_stage_error(F&& f, const std::string& op, const std::string& what = "bad item") {
  try {
    f();
  } catch (const dataflow::stage_error& e) {
    CHECK(e.op().rfind(op + "#", 0) == 0);
    CHECK(std::string(e.what()).find(what) != std::string::npos);
    CHECK(std::string(e.what()).find(e.op()) != std::string::npos);
    try {
      std::rethrow_if_nested(e);
      FAIL("the user's exception is not nested");
    } catch (const user_error& original) {
      CHECK(original.what() == what);
    }
    try {
      std::rethrow_exception(e.original());
    } catch (const user_error& original) {
      CHECK(original.what() == what);
    }
    return e.where();
  }
  FAIL("no stage_error was thrown");
  return {};
}

}  // namespace

TEST_CASE("an exception in any user function reaches the caller with its operator", "[errors]") {
  const std::size_t threads = DATAFLOW_THREADS();
  dataflow::context ctx(threads);
  ctx.on_recompute(dataflow::recompute_policy::allow);  // one dataset, many actions, on purpose
  const std::size_t n = 200000, bad = 123457;
  auto ds = ctx.generate(n, [](std::size_t i) { return i; });
  auto fail_at = [bad](std::size_t i) {
    if (i == bad) throw user_error("bad item");
  };

  CHECK(expect_stage_error([&] { ds.map([&](std::size_t i) { fail_at(i); return i; }).count(); }, "map") ==
        "index 123457");
  expect_stage_error([&] { ds.filter([&](std::size_t i) { fail_at(i); return true; }).count(); }, "filter");
  expect_stage_error([&] {
    ds.flat_map<std::size_t>([&](std::size_t i, auto&& emit) { fail_at(i); emit(i); }).count();
  }, "flat_map");
  expect_stage_error([&] {
    ds.flat_map([&](std::size_t i) { fail_at(i); return std::vector<std::size_t>{i}; }).count();
  }, "flat_map");
  expect_stage_error([&] { ctx.generate(n, [&](std::size_t i) { fail_at(i); return i; }).count(); }, "generate");
  expect_stage_error([&] {
    ds.map([](std::size_t i) { return std::pair{i % 1000, i}; })
        .reduce_by_key([&](std::size_t a, std::size_t b) { fail_at(a + b > 0 ? bad : 0); return a + b; })
        .count();
  }, "reduce_by_key");
  expect_stage_error([&] { ds.reduce_by([&](std::size_t i) { fail_at(i); return i % 10; }, std::plus<>{}).count(); }, "reduce_by");
  expect_stage_error([&] { ds.group_by([&](std::size_t i) { fail_at(i); return i % 10; }).count(); }, "group_by");
  expect_stage_error([&] { ds.partition_by([&](std::size_t i) { fail_at(i); return i; }, 4).count(); }, "partition_by");
  expect_stage_error([&] { ds.for_each([&](std::size_t i) { fail_at(i); }); }, "for_each");
  expect_stage_error([&] { ds.top_k(5, [&](std::size_t a, std::size_t b) { fail_at(a); return a < b; }); }, "top_k");
  expect_stage_error([&] { ds.reduce([&](std::size_t a, std::size_t b) { fail_at(b); return a + b; }); }, "reduce");
  expect_stage_error([&] {
    ds.fold(std::size_t{0}, [&](std::size_t acc, std::size_t i) { fail_at(i); return acc + i; }, std::plus<>{});
  }, "fold");

  // Downstream of a shuffle the position is the partition.
  auto where = expect_stage_error([&] {
    ds.map([](std::size_t i) { return std::pair{i, 1}; })
        .reduce_by_key(std::plus<>{})
        .map([&](const auto& p) { fail_at(p.first); return p; })
        .count();
  }, "map");
  CHECK(where.find("partition") != std::string::npos);

  // The context works again after a failure.
  CHECK(ds.count() == n);
}

TEST_CASE("every item failing on every thread still ends with one exception", "[errors]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  for (int round = 0; round < 20; ++round) {
    CHECK_THROWS_AS(ctx.generate(100000, [](std::size_t i) { return i; })
                        .map([](std::size_t) -> int { throw user_error("always"); })
                        .count(),
                    dataflow::stage_error);
  }
}

TEST_CASE("a failure stops the other workers early", "[errors]") {
  dataflow::context ctx(2);
  std::atomic<std::size_t> seen{0};
  const std::size_t n = 50'000'000;
  CHECK_THROWS_AS(ctx.generate(n, [](std::size_t i) { return i; })
                      .map([&](std::size_t i) {
                        ++seen;
                        if (i == 10) throw user_error("early");
                        return i;
                      })
                      .count(),
                  dataflow::stage_error);
  CHECK(seen < n / 2);
}

TEST_CASE("non-standard exceptions are carried too", "[errors]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  try {
    ctx.from({1, 2, 3}).map([](int x) -> int { throw x; }).count();
    FAIL("no exception");
  } catch (const dataflow::stage_error& e) {
    CHECK(std::string(e.what()).find("non-standard") != std::string::npos);
    CHECK_THROWS_AS(std::rethrow_exception(e.original()), int);
  }
}

TEST_CASE("an action nested in a user function on the same context is refused", "[errors]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  auto inner = ctx.from({1, 2, 3});
  try {
    ctx.from({1}).map([&](int) { return inner.count(); }).count();
    FAIL("no exception");
  } catch (const dataflow::stage_error& e) {
    CHECK_THROWS_AS(std::rethrow_exception(e.original()), dataflow::usage_error);
  }
  // A second context nests fine.
  dataflow::context other(2);
  auto inner2 = other.from({1, 2, 3});
  CHECK(ctx.from({1, 2}).map([&](int) { return inner2.count(); }).reduce(std::plus<>{}) == 6u);
}

TEST_CASE("errors past every kind of node name the operator and the partition", "[errors]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  ctx.on_recompute(dataflow::recompute_policy::allow);
  const std::size_t n = 50000, bad = 31337;
  auto ds = ctx.generate(n, [](std::size_t i) { return i; });
  auto fail_at = [bad](std::size_t i) {
    if (i == bad) throw user_error("bad item");
  };
  auto pairs = ds.map([](std::size_t i) { return std::pair{i, i}; });
  auto cached = ds.cache();
  CHECK(cached.count() == n);

  auto where = [](const std::string& w) {
    INFO("where: '" << w << "'");
    CHECK((w.find("partition ") != std::string::npos || w.find("index ") != std::string::npos));
    return w;
  };
  where(expect_stage_error([&] { cached.map([&](std::size_t i) { fail_at(i); return i; }).count(); }, "map"));
  where(expect_stage_error([&] {
    ds.concat(ds).filter([&](std::size_t i) { fail_at(i); return true; }).count();
  }, "filter"));
  where(expect_stage_error([&] {
    pairs.join(pairs).map([&](const auto& r) { fail_at(r.first); return r.first; }).count();
  }, "map"));
  where(expect_stage_error([&] {
    pairs.co_group(pairs).map([&](const auto& r) { fail_at(r.first); return r.first; }).count();
  }, "map"));
  where(expect_stage_error([&] {
    ds.sort().map([&](std::size_t i) { fail_at(i); return i; }).count();
  }, "map"));
  where(expect_stage_error([&] {
    ds.zip_with_index().map([&](const auto& p) { fail_at(p.first); return p.first; }).count();
  }, "map"));
  expect_stage_error([&] {
    ds.scan([&](std::size_t a, std::size_t b) { fail_at(b); return a + b; }).count();
  }, "scan");
  expect_stage_error([&] {
    ds.sliding(3, [&](std::span<const std::size_t> w) { fail_at(w[0]); return w[0]; }).count();
  }, "sliding");
}
