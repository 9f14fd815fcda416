// The recomputation loop over a followed log: queries while the log grows, the stream ingests
// and batch views are recomputed and swapped answer for exactly the lines ingested; a failed
// recomputation keeps the previous view; a restart from the view's position goes on exactly.
#include <dataflow/serving.hpp>
#include <dataflow/stream.hpp>

#include "../support/test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using counts_view = dataflow::serving_view<std::string, std::uint64_t, std::plus<std::uint64_t>>;

/// Waits until the serving view has ingested `n` lines (or fails after 20 s).
void wait_for_events(const counts_view& v, std::uint64_t n) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (v.status().events < n && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
  REQUIRE(v.status().events == n);
}

/// The recomputation: the lines of the log that the mark says the stream had read, counted.
dataflow::lambda_job<std::string, std::uint64_t, std::plus<std::uint64_t>>::recompute_fn recount(
    dataflow::context& ctx, std::atomic<int>* fail = nullptr, std::function<void()>* after_mark = nullptr) {
  return [&ctx, fail, after_mark](dataflow::view_store& store, const std::string& name, const dataflow::speed_mark& m) {
    if (fail && fail->load() > 0) {
      --*fail;
      throw std::runtime_error("the master data is unreachable");
    }
    if (after_mark && *after_mark) (*after_mark)();  // the log grows past the mark meanwhile
    const auto logs = dataflow::logs_read(m.position);
    auto lines = ctx.read_lines(logs.paths, {.up_to = logs.up_to}).map([](std::string_view l) { return std::string(l); });
    return dataflow::write_view(lines.count_by_value(), store, name, logs.describe(), m);
  };
}

}  // namespace

TEST_CASE("lambda job: queries across recomputations answer for the lines ingested so far", "[serving][lambda]") {
  test::temp_dir d;
  const std::string log = d.file("clicks.log");
  std::mt19937_64 rng(5);
  std::vector<std::string> lines;
  for (int i = 0; i < 12000; ++i) lines.push_back("/page/" + std::to_string(rng() % 300));
  std::map<std::string, std::vector<std::uint64_t>> at_index;  // where each key's lines are
  for (std::size_t i = 0; i < lines.size(); ++i) at_index[lines[i]].push_back(i);
  auto count_in_first = [&](const std::string& k, std::uint64_t n) -> std::uint64_t {
    const auto& v = at_index[k];
    return static_cast<std::uint64_t>(std::lower_bound(v.begin(), v.end(), n) - v.begin());
  };
  { std::ofstream touch(log); }

  dataflow::context batch_ctx(2), stream_ctx(2);
  dataflow::view_store store(d.file("views"));
  counts_view serving({});
  std::atomic<int> fail{0};
  std::function<void()> after_mark;
  dataflow::lambda_job job(serving, store, "clicks", recount(batch_ctx, &fail, &after_mark));
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> wrong{0}, answers{0};
  std::thread reader([&] {
    std::mt19937_64 r(9);
    while (!done.load()) {
      const std::string k = "/page/" + std::to_string(r() % 300);
      dataflow::as_of at;
      wrong += serving.get(k, &at).value_or(0) != count_in_first(k, at.events);
      ++answers;
    }
  });
  auto run = stream_ctx.stream(dataflow::follow_lines(log, {.end_when_idle = 60s}))
                 .count_by_key([](std::string_view l) { return std::string(l); })
                 .start_batches({.trigger = 2ms, .max_batch_items = 500},
                                [&](const dataflow::keyed_batch<std::string, std::uint64_t>& b) { serving.add(b); });
  std::size_t recomputed = 0, shrank = 0, shrink_checks = 0;
  auto append_chunk = [&](std::size_t chunk) {
    std::ofstream out(log, std::ios::app);
    for (std::size_t i = chunk * 2000; i < (chunk + 1) * 2000; ++i) out << lines[i] << '\n';
  };
  for (std::size_t chunk = 0; chunk < 6; ++chunk) {
    if (chunk == 2 || chunk == 4) {
      // The chunk arrives while a recomputation runs, after its mark: the batch must not count it.
      after_mark = [&, chunk] { append_chunk(chunk); };
      const auto stamp = job.recompute();
      after_mark = nullptr;
      ++recomputed;
      CHECK(stamp.cutoff > 0);
      wait_for_events(serving, (chunk + 1) * 2000);
      continue;
    }
    append_chunk(chunk);
    wait_for_events(serving, (chunk + 1) * 2000);
    if (chunk == 3) {
      // A failed recomputation: the previous view serves on, the speed layer keeps its events.
      fail = 1;
      const auto before = serving.status();
      CHECK_THROWS_WITH(job.recompute(), Catch::Contains("unreachable"));
      CHECK(serving.status().view_version == before.view_version);
      CHECK(job.failures() == 1);
      CHECK_THAT(job.last_error(), Catch::Contains("unreachable"));
      continue;
    }
    const auto before = serving.status();
    const auto stamp = job.recompute();
    const auto after = serving.status();
    ++recomputed;
    ++shrink_checks;
    shrank += before.speed_keys > 0 && after.speed_keys == 0;
    CHECK(after.view_version == stamp.version);
    CHECK_THAT(stamp.covers, Catch::Contains(log + ":0-"));
  }
  run.stop();
  while (answers.load() < 1000) std::this_thread::yield();
  done = true;
  reader.join();
  CHECK(wrong.load() == 0);
  CHECK(shrank == shrink_checks);
  CHECK(job.recomputations() == recomputed);
  CHECK(job.last_error().empty());
  std::size_t final_wrong = 0;
  for (const auto& [k, v] : at_index) final_wrong += serving.get(k) != std::optional<std::uint64_t>(v.size());
  CHECK(final_wrong == 0);

  SECTION("a restart from the view's position counts on exactly, across a log rotation") {
    std::map<std::string, std::uint64_t> expected;
    for (const auto& [k, v] : at_index) expected[k] = v.size();
    // Lines the first run read after its last recomputation are not in the view: the restart
    // reads them again from the view's position. The log is rotated and a new one begun.
    std::filesystem::rename(log, log + ".1");
    {
      std::ofstream out(log);
      for (int i = 0; i < 3000; ++i) {
        const std::string k = "/page/" + std::to_string(rng() % 300);
        out << k << '\n';
        ++expected[k];
      }
    }
    auto view = store.open_latest<std::string, std::uint64_t>("clicks");
    counts_view restarted({}, view);
    dataflow::lambda_job job2(restarted, store, "clicks", recount(batch_ctx));
    dataflow::follow_lines source(d.path().string(), {.end_when_idle = 300ms});
    source.restore_position(view->stamp().position);
    dataflow::context ctx2(2);
    auto run2 = ctx2.stream(source)
                    .count_by_key([](std::string_view l) { return std::string(l); })
                    .start_batches({.trigger = 2ms, .max_batch_items = 500},
                                   [&](const dataflow::keyed_batch<std::string, std::uint64_t>& b) { restarted.add(b); });
    run2.wait();
    job2.recompute();  // over the rotated file and the new one
    std::size_t restart_wrong = 0;
    for (const auto& [k, v] : expected) restart_wrong += restarted.get(k) != std::optional<std::uint64_t>(v);
    CHECK(restart_wrong == 0);
    CHECK(restarted.status().speed_keys == 0);
  }
}
