// Item and key types at the edges: views into per-item temporaries, bool items, const keys,
// identity hashes, throwing hashes, optional views kept by a cache.
#include "../support/test_support.hpp"

#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

struct id_key {
  std::uint64_t id;
  bool operator==(const id_key&) const = default;
};

struct fragile_key {
  int v;
  bool operator==(const fragile_key&) const = default;
};

}  // namespace

// A lazy user hash: the identity. Tables must still spread these keys over partitions.
template <>
struct dataflow::hash<id_key> {
  std::uint64_t operator()(const id_key& k) const noexcept { return k.id; }
};

template <>
struct dataflow::hash<fragile_key> {
  std::uint64_t operator()(const fragile_key& k) const {
    if (k.v == 666) throw std::domain_error("unhashable");
    return static_cast<std::uint64_t>(k.v);
  }
};

TEST_CASE("reduce_by_key keys that view into a user function's temporary", "[ops][reduce_by_key]") {
  // Enough distinct words that the tables grow past the size where lookups are deferred.
  const std::size_t threads = DATAFLOW_THREADS();
  std::mt19937_64 rng(21);
  std::vector<std::string> lines;
  std::map<std::string, std::uint64_t> want;
  for (int i = 0; i < 40000; ++i) {
    std::string line;
    for (int w = 0; w < 8; ++w) {
      std::string word = "W" + std::to_string(rng() % 150000) + (rng() % 4 == 0 ? "-Long-Suffix-Here" : "");
      line += word + " ";
      for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      ++want[word];
    }
    lines.push_back(line);
  }
  dataflow::context ctx(threads);
  auto got = ctx.from(lines)
                 .flat_map<std::pair<std::string_view, std::uint64_t>>([](const std::string& line, auto&& emit) {
                   std::string lower = line;  // lives only during this call
                   for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                   for (std::string_view w : dataflow::split_words(lower)) emit(std::pair{w, std::uint64_t{1}});
                   std::fill(lower.begin(), lower.end(), '#');  // make any view kept too long visible
                 })
                 .reduce_by_key(std::plus<>{})
                 .collect();
  CHECK(test::sorted(got) == std::vector<std::pair<std::string, std::uint64_t>>(want.begin(), want.end()));
}

TEST_CASE("bool items flow through every stage", "[ops][edge]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  auto bits = ctx.generate(5000, [](std::size_t i) { return i % 3 == 0; });
  CHECK(bits.filter([](bool b) { return b; }).count() == 1667);
  CHECK(ctx.from({true, false, true}).collect() == std::vector<bool>{true, false, true});
  auto groups = ctx.generate(5000, [](std::size_t i) { return std::pair{i % 2, i % 3 == 0}; }).group_by_key().collect();
  REQUIRE(groups.size() == 2);
  for (auto& [k, vs] : groups) CHECK(vs.size() == 2500);
  auto flags = ctx.from({3, 0, 2}).flat_map([](int n) { return std::vector<bool>(static_cast<std::size_t>(n), true); }).collect();
  CHECK(flags == std::vector<bool>(5, true));
}

TEST_CASE("pairs with const keys (a std::map) reduce and group", "[ops][edge]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  std::map<std::string, int> m{{"a", 1}, {"b", 2}, {"c", 3}};
  auto reduced = ctx.from(m).reduce_by_key(std::plus<>{}).collect();
  static_assert(std::is_same_v<decltype(reduced)::value_type, std::pair<std::string, int>>);
  CHECK(test::sorted(reduced) == std::vector<std::pair<std::string, int>>{{"a", 1}, {"b", 2}, {"c", 3}});
  CHECK(ctx.from(m).group_by_key().count() == 3);
}

TEST_CASE("a user hash that is the identity still spreads keys over partitions", "[ops][edge]") {
  dataflow::context ctx(2);
  std::vector<std::pair<id_key, int>> input;
  for (std::uint64_t i = 0; i < 10000; ++i) input.push_back({id_key{i}, 1});
  auto parts = ctx.from(input).reduce_by_key(std::plus<>{}).collect_partitions();
  std::size_t nonempty = 0, total = 0;
  for (auto& p : parts) {
    nonempty += !p.empty();
    total += p.size();
  }
  CHECK(total == 10000);
  CHECK(nonempty == parts.size());
}

TEST_CASE("a throwing user hash becomes a stage_error, not a terminate", "[ops][edge][errors]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  std::vector<std::pair<fragile_key, int>> input;
  for (int i = 0; i < 1000; ++i) input.push_back({fragile_key{i}, 1});
  CHECK_THROWS_AS(ctx.from(input).reduce_by_key(std::plus<>{}).count(), dataflow::stage_error);
  CHECK_THROWS_AS(ctx.from(input).group_by_key().count(), dataflow::stage_error);
}

TEST_CASE("optional and vector items keep their views through a cache", "[ops][edge]") {
  test::temp_dir dir;
  std::string text;
  for (int i = 0; i < 3000; ++i) text += (i % 5 ? "line " + std::to_string(i) : std::string()) + "\n";
  test::write_file(dir.file("x.txt"), text);
  dataflow::context ctx(DATAFLOW_THREADS());
  auto kept = ctx.read_lines(dir.file("x.txt"), {.chunk_bytes = 500})
                  .map([](std::string_view l) {
                    return std::pair{l.empty() ? std::optional<std::string_view>() : l,
                                     std::vector<std::string_view>{l, l.substr(0, 2)}};
                  })
                  .cache();
  CHECK(kept.count() == 3000);
  auto got = kept.collect();
  REQUIRE(got.size() == 3000);
  for (int i = 0; i < 3000; ++i) {
    const auto& [opt, vec] = got[static_cast<std::size_t>(i)];
    std::string line = i % 5 ? "line " + std::to_string(i) : std::string();
    CHECK(opt.has_value() == !line.empty());
    if (opt) CHECK(*opt == line);
    CHECK(vec == std::vector<std::string>{line, line.substr(0, 2)});
  }
}

TEST_CASE("partition_by wraps negative partition numbers", "[ops][partition_by]") {
  dataflow::context ctx(1);
  auto parts = ctx.from({-1, -2, 3}).partition_by([](int x) { return x; }, 3).collect_partitions();
  CHECK(parts[2] == std::vector<int>{-1});  // -1 goes to the last partition
  CHECK(parts[1] == std::vector<int>{-2});
  CHECK(parts[0] == std::vector<int>{3});
}
