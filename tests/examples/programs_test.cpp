// The log_stats, sessions, bigrams and pagerank tools' cores against sequential loops, on random
// inputs, in memory and under a budget that spills.
#include "../support/test_support.hpp"

#include "bigrams.hpp"
#include "log_stats.hpp"
#include "pagerank.hpp"
#include "sessions.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// A context in memory (i == 0) or under a 64 KiB budget that spills, with its own directory.
struct program_run {
  explicit program_run(int i, std::uint64_t seed) : ctx(DATAFLOW_THREADS()), rng(seed * 2 + i) {
    ctx.memory_budget(i == 0 ? 0 : std::size_t{64} << 10).spill_directory(dir.path().string());
  }
  test::temp_dir dir;
  dataflow::context ctx;
  std::mt19937_64 rng;
};

}  // namespace

TEST_CASE("log_stats sums up access logs like a loop", "[examples][log_stats]") {
  program_run run(GENERATE(0, 1), 1);
  auto& [dir, ctx, rng] = run;
  std::string text;
  std::uint64_t lines = 0, requests = 0, bytes = 0, errors = 0;
  std::set<std::string> clients;
  std::map<std::string, examples::hits> paths;
  for (int i = 0; i < 20000; ++i, ++lines) {
    if (rng() % 50 == 0) {
      text += rng() % 2 ? "not a log line\r\n" : "\n";
      continue;
    }
    const std::string client = "10.0." + std::to_string(rng() % 40) + "." + std::to_string(rng() % 7);
    const std::string path = "/p" + std::to_string(test::zipf_keys(1, 500, rng())[0]);
    const unsigned status = std::array{200u, 200u, 304u, 404u, 500u, 503u}[rng() % 6];
    const std::uint64_t size = status == 304 ? 0 : rng() % 100000;
    text += fmt::format("{} - - [02/Dec/2026:10:15:30 +0000] \"GET {} HTTP/1.1\" {} {}{}", client, path, status,
                        size == 0 ? std::string("-") : std::to_string(size), rng() % 2 ? " \"-\" \"curl/8\"\n" : "\r\n");
    ++requests, bytes += size, errors += status >= 500;
    clients.insert(client);
    paths[path] = paths[path] + examples::hits{1, size, status >= 500};
  }
  test::write_file(dir.file("access.log"), text);
  const auto r = examples::analyze_logs(ctx, {dir.file("access.log")}, 7, {.chunk_bytes = 50000});
  CHECK(r.lines == lines);
  CHECK(r.total == examples::hits{requests, bytes, errors});
  CHECK(r.clients == clients.size());
  std::vector<std::pair<std::string, examples::hits>> want(paths.begin(), paths.end());
  std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) {
    return a.second.requests != b.second.requests ? a.second.requests > b.second.requests : a.first < b.first;
  });
  want.resize(7);
  CHECK(r.top_paths == want);
}

TEST_CASE("sessions per country match a loop over sorted events", "[examples][sessions]") {
  program_run run(GENERATE(0, 1), 2);
  auto& [dir, ctx, rng] = run;
  std::map<std::string, std::vector<std::int64_t>> times;  // per user, seconds
  std::string events = "user,ts,page\n", users = "user,country\n";
  for (int i = 0; i < 15000; ++i) {
    const std::string user = "u" + std::to_string(test::zipf_keys(1, 800, rng())[0]);
    const auto t = static_cast<std::int64_t>(1'790'000'000 + rng() % 200000);
    times[user].push_back(t);
    events += fmt::format("{},{},/p{}\n", user, to_string(dataflow::timestamp::from_seconds(t)), rng() % 9);
  }
  std::map<std::string, std::string> country;
  for (const auto& [user, ts] : times) {
    if (rng() % 10 == 0) continue;  // not in the users file: "unknown"
    country[user] = std::array{"NL", "DE", "\"Côte d'Ivoire\"", "US"}[rng() % 4];
    users += user + "," + country[user] + "\n";
  }
  test::write_file(dir.file("events.csv"), events);
  test::write_file(dir.file("users.csv"), users);

  const std::int64_t gap = 1800;
  std::map<std::string, examples::session_figures> want;
  for (auto& [user, ts] : times) {
    std::sort(ts.begin(), ts.end());
    examples::session_figures f{1, 1, ts.size(), 0};
    std::int64_t start = ts[0];
    for (std::size_t i = 1; i < ts.size(); ++i) {
      if (ts[i] - ts[i - 1] > gap) {
        f.seconds += ts[i - 1] - start;
        ++f.sessions;
        start = ts[i];
      }
    }
    f.seconds += ts.back() - start;
    std::string c = country.count(user) ? country[user] : "unknown";
    if (c.front() == '"') c = c.substr(1, c.size() - 2);
    want[c] = want[c] + f;
  }
  const auto got = examples::sessions_by_country(ctx, {dir.file("events.csv")}, {dir.file("users.csv")}, gap);
  CHECK(std::map<std::string, examples::session_figures>(got.begin(), got.end()) == want);
}

TEST_CASE("bigrams counts pairs of consecutive words like a loop", "[examples][bigrams]") {
  program_run run(GENERATE(0, 1), 3);
  auto& [dir, ctx, rng] = run;
  std::string text;
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
  for (int line = 0; line < 5000; ++line) {
    std::string previous;
    for (auto w = rng() % 12; w > 0; --w) {
      const std::string word = "w" + std::to_string(test::zipf_keys(1, 300, rng())[0]);
      if (!previous.empty()) ++counts[{previous, word}];
      previous = word;
      text += word + (rng() % 5 ? " " : "\t ");
    }
    text += "\n";
  }
  test::write_file(dir.file("text.txt"), text);
  std::vector<std::pair<std::pair<std::string, std::string>, std::uint64_t>> want(counts.begin(), counts.end());
  std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  want.resize(std::min<std::size_t>(want.size(), 25));
  const auto got = examples::count_bigrams(ctx, {dir.file("text.txt")}, 25, {.chunk_bytes = 7000});
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(std::pair(got[i].first.first, got[i].first.second) == want[i].first);
    CHECK(got[i].second == want[i].second);
  }
}

TEST_CASE("pagerank matches a sequential PageRank", "[examples][pagerank]") {
  program_run run(GENERATE(0, 1), 4);
  auto& [dir, ctx, rng] = run;
  std::map<std::uint32_t, std::vector<std::uint32_t>> links;
  std::string text = "# from to\n";
  for (int i = 0; i < 6000; ++i) {
    const auto from = static_cast<std::uint32_t>(rng() % 1500);
    const auto to = static_cast<std::uint32_t>(test::zipf_keys(1, 1500, rng())[0]);
    links[from].push_back(to);
    text += fmt::format("{}{}{}\n", from, rng() % 2 ? " " : "\t", to);
  }
  test::write_file(dir.file("links.txt"), text);
  const int rounds = 12;
  std::map<std::uint32_t, double> ranks;
  for (const auto& [page, out] : links) ranks[page] = 1.0;
  for (int r = 0; r < rounds; ++r) {
    std::map<std::uint32_t, double> received;
    for (const auto& [page, out] : links) {
      if (!ranks.count(page)) continue;
      for (auto to : out) received[to] += ranks[page] / static_cast<double>(out.size());
    }
    for (auto& [page, x] : received) x = 0.15 + 0.85 * x;
    ranks = std::move(received);
  }
  const auto got = examples::pagerank(ctx, {dir.file("links.txt")}, rounds, ranks.size() + 5);
  REQUIRE(got.size() == ranks.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(std::abs(got[i].second - ranks.at(got[i].first)) <= 1e-9 * ranks.at(got[i].first));
    if (i > 0) CHECK(got[i - 1].second >= got[i].second);
  }

  test::write_file(dir.file("bad.txt"), "1 2\n3 x\n");
  CHECK_THROWS_WITH(examples::pagerank(ctx, {dir.file("bad.txt")}, 1, 3),
                    Catch::Contains("bad.txt:2") && Catch::Contains("not a link 'from to': '3 x'"));
}
