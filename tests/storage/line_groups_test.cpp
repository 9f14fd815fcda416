// Strings kept by range for a large in-memory sort: each goes to the group of its prefix
// (the count of the group bounds at or below it, for every kind of sample), copies are intact
// from several threads at once, strings longer than a slice included, each thread's records of
// a group read back in order from its extents, and freeing some groups leaves the others'
// copies as they were.
#include "../support/test_support.hpp"

#include <dataflow/ops/sort_distribute.hpp>
#include <dataflow/storage/line_groups.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using dataflow::detail::line_groups;

namespace {

std::vector<std::uint64_t> sample_of(int kind, std::mt19937_64& rng) {
  std::vector<std::uint64_t> s;
  switch (kind) {
    case 0: break;  // none
    case 1: s.push_back(rng()); break;
    case 2: s.assign(1000, 42); break;  // one value
    case 3:
      for (int i = 0; i < 3001; ++i) s.push_back(rng() % 5);  // few values: equal bounds
      break;
    default:
      for (int i = 0; i < 4096; ++i) s.push_back(rng());
  }
  return s;
}

}  // namespace

TEST_CASE("line_groups puts a prefix in the group its bounds say, for every kind of sample", "[sort]") {
  const int kind = GENERATE(0, 1, 2, 3, 4);
  CAPTURE(kind);
  std::mt19937_64 rng(31 + static_cast<std::uint64_t>(kind));
  const line_groups groups(sample_of(kind, rng));
  std::vector<std::uint64_t> bounds;
  for (std::size_t g = 0; g + 1 < line_groups::count; ++g) bounds.push_back(groups.bound(g));
  CHECK(std::is_sorted(bounds.begin(), bounds.end()));
  std::vector<std::uint64_t> probes = {0, 1, 5, 41, 42, 43, ~std::uint64_t{0}};
  for (std::uint64_t b : bounds) {
    probes.push_back(b);
    probes.push_back(b - 1);
    probes.push_back(b + 1);
  }
  for (int i = 0; i < 10000; ++i) probes.push_back(i % 2 ? rng() : rng() % 8);
  for (std::uint64_t p : probes) {
    const auto want = static_cast<std::size_t>(std::upper_bound(bounds.begin(), bounds.end(), p) - bounds.begin());
    REQUIRE(groups.group_of(p) == want);
    // Every prefix of group g lies below its bound, and none below the bound before it.
    if (want + 1 < line_groups::count) REQUIRE(p < groups.bound(want));
    if (want > 0) REQUIRE(p >= groups.bound(want - 1));
  }
}

TEST_CASE("line_groups copies strings of every length from several threads, and frees a group alone",
          "[sort]") {
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> sample;
  for (int i = 0; i < 4096; ++i) sample.push_back(rng());
  line_groups groups(std::move(sample));
  constexpr int threads = 3;
  std::vector<std::vector<std::string>> strings(threads);
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < 20000; ++i) {
      std::string s;
      const auto r = rng() % 1000;
      // Empty, short, a few longer than a slice, and one of exactly a slice.
      const std::size_t len = r == 0 ? 0 : r == 1 ? line_groups::slice_bytes + 1 + rng() % 200000
                                     : r == 2 ? line_groups::slice_bytes
                                              : rng() % 300;
      s.resize(len);
      for (char& c : s) c = static_cast<char>(rng());
      strings[static_cast<std::size_t>(t)].push_back(std::move(s));
    }
  }
  std::vector<std::vector<std::string_view>> copies(threads);
  std::vector<std::size_t> taken(threads);
  std::vector<line_groups::cursor> cursors(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      line_groups::cursor& places = cursors[static_cast<std::size_t>(t)];
      for (const std::string& s : strings[static_cast<std::size_t>(t)]) {
        copies[static_cast<std::size_t>(t)].push_back(groups.copy(places, s, dataflow::detail::string_prefix(s)));
      }
      taken[static_cast<std::size_t>(t)] = places.bytes;
      places.close();
    });
  }
  for (auto& th : pool) th.join();
  // Each thread's records of a group, read from its extents, are its strings of that group in
  // order, and the counts agree.
  for (int t = 0; t < threads; ++t) {
    const auto& in = strings[static_cast<std::size_t>(t)];
    const line_groups::cursor& c = cursors[static_cast<std::size_t>(t)];
    for (std::size_t g = 0; g < line_groups::count; ++g) {
      std::vector<std::string_view> want, got;
      for (const std::string& s : in) {
        if (groups.group_of(dataflow::detail::string_prefix(s)) == g) want.push_back(s);
      }
      for (const line_groups::extent& e : c.extents[g]) {
        REQUIRE(e.begin != e.end);
        line_groups::for_each_string(e, [&](std::string_view s) { got.push_back(s); });
      }
      REQUIRE(got.size() == want.size());
      REQUIRE(c.strings[g] == want.size());
      for (std::size_t i = 0; i < want.size(); ++i) REQUIRE(got[i] == want[i]);
      if (!c.extents[g].empty()) CHECK(line_groups::first_string(c.extents[g][0]) == want[0]);
    }
  }
  std::size_t total = 0, mapped = 0;
  for (int t = 0; t < threads; ++t) {
    const auto& in = strings[static_cast<std::size_t>(t)];
    const auto& out = copies[static_cast<std::size_t>(t)];
    for (std::size_t i = 0; i < in.size(); ++i) {
      REQUIRE(out[i] == in[i]);
      total += in[i].size();
    }
    mapped += taken[static_cast<std::size_t>(t)];
  }
  // The threads' counts hold every block mapped, and little more than the strings need.
  CHECK(mapped >= total);
  CHECK(mapped <= total + total / 4 + line_groups::count * line_groups::block_bytes * 2);
  // Freeing the even groups leaves the odd groups' copies intact.
  for (std::size_t g = 0; g < line_groups::count; g += 2) groups.release(g);
  std::size_t kept = 0;
  for (int t = 0; t < threads; ++t) {
    const auto& in = strings[static_cast<std::size_t>(t)];
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i].empty() || groups.group_of(dataflow::detail::string_prefix(in[i])) % 2 == 0) continue;
      REQUIRE(copies[static_cast<std::size_t>(t)][i] == in[i]);
      ++kept;
    }
  }
  CHECK(kept > 10000);
}

TEST_CASE("line_groups keeps a thread's slice across a string longer than a slice", "[sort]") {
  line_groups groups({});  // no sample: every string but those of prefix ~0 in group 0
  line_groups::cursor places;
  const std::string a = "first", b(line_groups::slice_bytes + 10, 'x'), c = "second";
  auto copy = [&](const std::string& s) { return groups.copy(places, s, dataflow::detail::string_prefix(s)); };
  const std::string_view ca = copy(a), cb = copy(b), cc = copy(c);
  CHECK(ca == a);
  CHECK(cb == b);
  CHECK(cc == c);
  CHECK(cc.data() == ca.data() + ca.size() + 1);  // the short strings share the slice, after a length byte
  // Many strings longer than half a block each get a block of their own, all intact.
  std::vector<std::string> longs;
  std::vector<std::string_view> copies;
  for (int i = 0; i < 40; ++i) {
    longs.emplace_back(line_groups::block_bytes / 2 + 1 + static_cast<std::size_t>(i), static_cast<char>('a' + i % 26));
    copies.push_back(copy(longs.back()));
  }
  for (std::size_t i = 0; i < longs.size(); ++i) REQUIRE(copies[i] == longs[i]);
  CHECK(groups.release(0) >= 40 * (line_groups::block_bytes / 2));
  CHECK(groups.release(0) == 0);  // nothing left to free
}
