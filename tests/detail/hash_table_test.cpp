// The aggregation hash table: lookups, growth, compaction, and entries that own memory.
#include "../support/test_support.hpp"

#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/packed_string.hpp>
#include <dataflow/detail/shared_tables.hpp>

#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("hash_table finds, inserts, grows and compacts", "[detail][hash_table]") {
  using entry = std::pair<std::string, int>;
  dataflow::detail::hash_table<entry> table;
  std::map<std::string, int> want;
  auto key_of = [](const entry& e) -> const std::string& { return e.first; };
  std::mt19937_64 rng(5);
  for (int i = 0; i < 100000; ++i) {
    std::string key = "key" + std::to_string(rng() % 20000) + std::string(rng() % 20, 'p');
    auto h = dataflow::detail::table_hash(key);
    auto [e, made] = table.find_or_emplace(h, key, key_of, [&] { return entry{key, 0}; });
    CHECK(made == (want.count(key) == 0));
    e->second += 1;
    want[key] += 1;
  }
  CHECK(table.size() == want.size());
  CHECK(table.capacity() >= table.size() * 10 / 7);
  std::size_t seen = 0;
  table.for_each([&](std::uint64_t h, entry& e) {
    CHECK(h == dataflow::detail::table_hash(e.first));
    CHECK(want.at(e.first) == e.second);
    ++seen;
  });
  CHECK(seen == want.size());

  auto dense = table.compact();
  REQUIRE(dense.size() == want.size());
  std::map<std::string, int> got(dense.begin(), dense.end());
  CHECK(got == want);
}

namespace {
struct sum_count {
  std::int64_t sum = 0;
  std::uint64_t count = 0;
};
using keyed_entry = std::pair<std::int64_t, sum_count>;
using keyed_table = dataflow::detail::hash_table<keyed_entry, dataflow::detail::keyed_slots<std::int64_t>>;
}  // namespace

TEST_CASE("keyed slots hold integer keys, 0 and the extremes included, like a map", "[detail][hash_table]") {
  static_assert(sizeof(keyed_entry) == 24);
  auto key_of = [](const keyed_entry& e) { return e.first; };
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}, std::size_t{200003});
  std::mt19937_64 rng(n + 3);
  // Few distinct keys, so most items merge; 0 and the extremes among them, often.
  const std::int64_t special[] = {0, -1, 1, std::numeric_limits<std::int64_t>::min(),
                                  std::numeric_limits<std::int64_t>::max()};
  const std::size_t distinct = n / 3 + 1;
  keyed_table table;
  std::map<std::int64_t, std::pair<std::int64_t, std::uint64_t>> want;
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t key = rng() % 5 == 0 ? special[rng() % 5]
                                            : static_cast<std::int64_t>(rng() % distinct) - static_cast<std::int64_t>(distinct / 2);
    const auto v = static_cast<std::int64_t>(rng() % 1000) - 500;
    const auto h = dataflow::detail::table_hash(key);
    table.prefetch(h);
    auto [e, made] = table.find_or_emplace(h, key, key_of, [&] { return keyed_entry{key, {}}; });
    CHECK(made == (want.count(key) == 0));
    e->second.sum += v;
    e->second.count += 1;
    want[key].first += v;
    want[key].second += 1;
    if (i % 4099 == 0) CHECK(table.find(h, key, key_of) == e);
  }
  REQUIRE(table.size() == want.size());
  for (std::int64_t key : special) {
    const auto* e = table.find(dataflow::detail::table_hash(key), key, key_of);
    CHECK((e != nullptr) == (want.count(key) == 1));
  }
  auto check = [&](keyed_table& t) {
    std::map<std::int64_t, std::pair<std::int64_t, std::uint64_t>> got;
    t.for_each([&](std::uint64_t h, keyed_entry& e) {
      CHECK(h == dataflow::detail::table_hash(e.first));
      CHECK(got.count(e.first) == 0);
      got[e.first] = {e.second.sum, e.second.count};
    });
    CHECK(got == want);
    // The slot ranges of for_each_in cover every entry once, key 0 with the range from 0.
    std::size_t seen = 0;
    const std::size_t half = t.capacity() / 2;
    t.for_each_in(half, t.capacity(), [&](std::uint64_t, keyed_entry&) { ++seen; });
    t.for_each_in(0, half, [&](std::uint64_t, keyed_entry&) { ++seen; });
    CHECK(seen == want.size());
  };
  check(table);
  keyed_table moved(std::move(table));
  check(moved);
  // The moved-from table holds nothing, key 0 included, and takes entries again.
  auto count_entries = [](keyed_table& t) {
    std::size_t c = 0;
    t.for_each([&](std::uint64_t, keyed_entry&) { ++c; });
    return c;
  };
  CHECK(table.size() == 0);
  CHECK(count_entries(table) == 0);
  CHECK(table.find(dataflow::detail::table_hash(std::int64_t{0}), std::int64_t{0}, key_of) == nullptr);
  CHECK(table.find_or_emplace(dataflow::detail::table_hash(std::int64_t{0}), std::int64_t{0}, key_of,
                              [] { return keyed_entry{0, {}}; }).second);
  CHECK(count_entries(table) == 1);
  // Assigned over a table that holds key 0 of its own: the assigned entries replace it.
  keyed_table assigned;
  assigned.find_or_emplace(dataflow::detail::table_hash(std::int64_t{0}), std::int64_t{0}, key_of,
                           [] { return keyed_entry{0, {123456, 99}}; });
  assigned = std::move(moved);
  check(assigned);

  auto dense = assigned.compact();
  REQUIRE(dense.size() == want.size());
  std::map<std::int64_t, std::pair<std::int64_t, std::uint64_t>> got;
  for (const auto& e : dense) got[e.first] = {e.second.sum, e.second.count};
  CHECK(got == want);
}

TEST_CASE("keyed slots take 8 bytes less than hashed ones and empty again", "[detail][hash_table]") {
  auto key_of = [](const keyed_entry& e) { return e.first; };
  keyed_table keyed(1024);
  dataflow::detail::hash_table<keyed_entry> hashed(1024);
  CHECK(keyed.bytes() == 1024 * 24);
  CHECK(hashed.bytes() == 1024 * 32);
  for (std::int64_t k : {0, 5, -5}) {
    auto [e, made] = keyed.find_or_emplace(dataflow::detail::table_hash(k), k, key_of, [&] { return keyed_entry{k, {k, 1}}; });
    CHECK(made);
    CHECK(e->first == k);
  }
  // A make() that throws leaves no entry, for key 0 as for any other.
  keyed_table fresh;
  for (std::int64_t k : {0, 9}) {
    const auto h = dataflow::detail::table_hash(k);
    CHECK_THROWS(fresh.find_or_emplace(h, k, key_of, []() -> keyed_entry { throw std::runtime_error("x"); }));
    CHECK(fresh.find(h, k, key_of) == nullptr);
  }
  CHECK(fresh.size() == 0);
  // Compacted with key 0 its only entry, and cleared with key 0 in it.
  keyed_table only_zero;
  only_zero.find_or_emplace(dataflow::detail::table_hash(std::int64_t{0}), std::int64_t{0}, key_of,
                            [] { return keyed_entry{0, {4, 2}}; });
  auto dense = only_zero.compact();
  REQUIRE(dense.size() == 1);
  CHECK(dense[0].first == 0);
  CHECK(dense[0].second.sum == 4);
  keyed_table cleared;
  cleared.find_or_emplace(dataflow::detail::table_hash(std::int64_t{0}), std::int64_t{0}, key_of,
                          [] { return keyed_entry{0, {}}; });
  cleared.clear();
  CHECK(cleared.size() == 0);
  CHECK(cleared.find(dataflow::detail::table_hash(std::int64_t{0}), std::int64_t{0}, key_of) == nullptr);
  CHECK(cleared.find_or_emplace(dataflow::detail::table_hash(std::int64_t{0}), std::int64_t{0}, key_of,
                                [] { return keyed_entry{0, {}}; }).second);

  keyed.clear_entries();
  CHECK(keyed.size() == 0);
  CHECK(keyed.capacity() == 1024);
  std::size_t left = 0;
  keyed.for_each([&](std::uint64_t, keyed_entry&) { ++left; });
  CHECK(left == 0);
  CHECK(keyed.find(dataflow::detail::table_hash(0), std::int64_t{0}, key_of) == nullptr);
  auto [e, made] = keyed.find_or_emplace(dataflow::detail::table_hash(0), std::int64_t{0}, key_of, [] { return keyed_entry{0, {7, 1}}; });
  CHECK(made);
  CHECK(e->second.sum == 7);
}

namespace {
// Fills a table of pair<Key, uint64_t> entries (Key made from a string by make_key) with
// `distinct` keys of chosen hashes, then as many repeats, checking every entry at each growth.
template <class Key, class MakeKey>
void check_growth_with_hashes(MakeKey make_key) {
  using entry = std::pair<Key, std::uint64_t>;
  dataflow::detail::hash_table<entry> table;
  auto key_of = [](const entry& e) -> const Key& { return e.first; };
  std::mt19937_64 rng(17);
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> want;  // key: hash, value
  std::vector<std::string> keys;
  const std::size_t distinct = 250000;  // 32 or 48-byte slots: doubled in place from 2 MiB on
  for (std::size_t i = 0; i < distinct; ++i) {
    // One key in 2000 lands in the last 32 slots whatever the table's size; another, in the
    // last 32 of 64K slots and in the lower half of 128K (a run past the old end whose keys
    // stay low: their probes go on into the new upper half).
    std::uint64_t h = rng() | 1;
    if (i % 2000 == 7) h = (rng() << 20) | (0xfffff - rng() % 32);
    if (i % 2000 == 1007) h = (rng() << 17) | (0xffff - rng() % 32);
    keys.push_back("k" + std::to_string(i) + std::string(i % 23, 'x'));  // short and long keys
    want[keys.back()] = {h, 0};
  }
  std::size_t capacity = table.capacity(), growths = 0;
  for (std::size_t n = 0; n < 2 * distinct; ++n) {
    const std::string& key = keys[n < distinct ? n : rng() % distinct];
    auto& [h, value] = want.at(key);
    auto [e, made] = table.find_or_emplace(h, std::string_view(key), key_of, [&] { return entry{make_key(key), 0}; });
    CHECK(made == (value == 0));
    e->second += n + 1;
    value += n + 1;
    if (table.capacity() != capacity) {
      capacity = table.capacity();
      ++growths;
      // Every entry made so far is found where its hash leads, with its value.
      for (std::size_t i = 0; i <= std::min(n, distinct - 1); ++i) {
        const auto& [wh, wv] = want.at(keys[i]);
        const entry* got = table.find(wh, std::string_view(keys[i]), key_of);
        REQUIRE(got != nullptr);
        CHECK(got->second == wv);
      }
    }
  }
  CHECK(growths >= 14);
  if constexpr (std::is_trivially_copyable_v<Key>) {
    CHECK(table.growths_in_place() >= 3);  // 64K (2 MiB) to 128K, 256K and 512K slots
  } else {
    CHECK(table.growths_in_place() == 0);  // a std::string points into itself
  }
  CHECK(table.size() == distinct);
  std::size_t seen = 0;
  table.for_each([&](std::uint64_t h, entry& e) {
    std::string text;
    if constexpr (std::is_same_v<Key, std::string>) {
      text = e.first;
    } else {
      text = std::string(e.first.view());
    }
    const auto& [wh, wv] = want.at(text);
    CHECK(h == wh);
    CHECK(e.second == wv);
    ++seen;
  });
  CHECK(seen == distinct);
}
}  // namespace

// Tables of a huge page or more double where they lie (their pages moved, not copied) and
// rehash in place. Some keys hash to the last slots at every size, so that at each doubling a
// run of them passes the array's end: those wait aside and are placed last.
TEST_CASE("a table of a huge page or more grows in place and keeps every entry", "[detail][hash_table]") {
  SECTION("hashed slots of entries that copy as bytes (packed strings), hashes chosen") {
    dataflow::detail::arena bytes;
    check_growth_with_hashes<dataflow::detail::packed_string>(
        [&](const std::string& k) { return dataflow::detail::packed_string(k, bytes); });
  }
  SECTION("entries that own memory grow into a fresh array instead") {
    check_growth_with_hashes<std::string>([](const std::string& k) { return k; });
  }
  SECTION("keyed slots, key 0 and the extremes among the keys") {
    std::mt19937_64 rng(23);
    auto key_of = [](const keyed_entry& e) { return e.first; };
    keyed_table table;
    std::map<std::int64_t, std::int64_t> want;
    // Keys whose hashes end in the last 16 slots of tables up to 2^20 slots.
    std::vector<std::int64_t> at_end;
    for (std::int64_t k = 1; at_end.size() < 24; ++k) {
      if ((dataflow::detail::table_hash(k) & 0xfffff) >= 0xfffff - 15) at_end.push_back(k);
    }
    std::vector<std::int64_t> keys = {0, -1, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()};
    keys.insert(keys.end(), at_end.begin(), at_end.end());
    while (keys.size() < 400000) keys.push_back(static_cast<std::int64_t>(rng()));
    std::size_t capacity = table.capacity();
    for (std::size_t n = 0; n < keys.size(); ++n) {
      // The keys ending the table come late, among others, when the table is big.
      const std::int64_t k = n < 4 ? keys[n] : keys[(n * 7919) % (keys.size() - 4) + 4];
      auto [e, made] = table.find_or_emplace(dataflow::detail::table_hash(k), k, key_of, [&] { return keyed_entry{k, {}}; });
      CHECK(made == (want.count(k) == 0));
      e->second.sum += static_cast<std::int64_t>(n);
      e->second.count += 1;
      want[k] += static_cast<std::int64_t>(n);
      if (table.capacity() != capacity) {
        capacity = table.capacity();
        for (const auto& [wk, wv] : want) {
          const keyed_entry* got = table.find(dataflow::detail::table_hash(wk), wk, key_of);
          REQUIRE(got != nullptr);
          CHECK(got->second.sum == wv);
        }
      }
    }
    CHECK(table.size() == want.size());
    CHECK(table.capacity() >= 524288);
    CHECK(table.growths_in_place() >= 2);  // 24-byte slots: from 131072 (3 MiB) on
    std::map<std::int64_t, std::int64_t> got;
    table.for_each([&](std::uint64_t h, keyed_entry& e) {
      CHECK(h == dataflow::detail::table_hash(e.first));
      got[e.first] = e.second.sum;
    });
    CHECK(got == want);
  }
}

TEST_CASE("reserve makes room at once for an empty table and keeps a full one's entries", "[detail][hash_table]") {
  auto key_of = [](const keyed_entry& e) { return e.first; };
  const std::size_t n = GENERATE(std::size_t{1}, std::size_t{11}, std::size_t{1000}, std::size_t{100000});
  keyed_table empty;
  empty.reserve(n);
  const std::size_t capacity = empty.capacity();
  CHECK(empty.fits(n));
  CHECK(capacity == keyed_table::capacity_for(n));
  CHECK(empty.size() == 0);
  // n keys (0 among them) go in without the table growing.
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(n); ++k) {
    empty.find_or_emplace(dataflow::detail::table_hash(k), k, key_of, [&] { return keyed_entry{k, {k, 1}}; });
  }
  CHECK(empty.capacity() == capacity);
  CHECK(empty.size() == n);
  empty.reserve(n / 2);  // room already: nothing changes
  CHECK(empty.capacity() == capacity);

  // A table with entries grows to make room and keeps them all.
  empty.reserve(8 * n);
  CHECK(empty.fits(7 * n));
  CHECK(empty.size() == n);
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(n); ++k) {
    const keyed_entry* e = empty.find(dataflow::detail::table_hash(k), k, key_of);
    REQUIRE(e != nullptr);
    CHECK(e->second.sum == k);
  }
}

TEST_CASE("a throwing constructor leaves no half-made entry", "[detail][hash_table]") {
  dataflow::detail::hash_table<std::pair<int, int>> table;
  auto key_of = [](const std::pair<int, int>& e) { return e.first; };
  CHECK_THROWS(table.find_or_emplace(dataflow::detail::table_hash(1), 1, key_of,
                                     []() -> std::pair<int, int> { throw std::runtime_error("x"); }));
  CHECK(table.size() == 0);
  auto [e, made] = table.find_or_emplace(dataflow::detail::table_hash(1), 1, key_of, [] { return std::pair{1, 2}; });
  CHECK(made);
  CHECK(e->second == 2);
}

TEST_CASE("dataflow::hash mixes every input bit and never returns 0 for tables", "[detail][hash]") {
  // Integers differing in one bit must differ in the high bits (partitions) and low bits (slots).
  for (int bit = 0; bit < 64; ++bit) {
    auto a = dataflow::hash<std::uint64_t>{}(0), b = dataflow::hash<std::uint64_t>{}(std::uint64_t{1} << bit);
    CHECK((a >> 48) != (b >> 48));
    CHECK((a & 0xffff) != (b & 0xffff));
  }
  CHECK(dataflow::hash<double>{}(0.0) == dataflow::hash<double>{}(-0.0));
  CHECK(dataflow::hash<std::string>{}("abc") == dataflow::hash<std::string_view>{}("abc"));
  // An empty view may have no data at all (a null pointer): it hashes as any empty string.
  CHECK(dataflow::detail::table_hash(std::string_view{}) == dataflow::detail::table_hash(std::string()));
  // Strings of every length up to 40 hash apart from their one-byte-changed neighbours.
  for (std::size_t len = 1; len <= 40; ++len) {
    std::string s(len, 'a');
    auto h = dataflow::hash<std::string_view>{}(s);
    for (std::size_t i = 0; i < len; ++i) {
      std::string t = s;
      t[i] = 'b';
      CHECK(dataflow::hash<std::string_view>{}(t) != h);
    }
  }
}

TEST_CASE("packed_string keeps short keys inline and long keys in the arena", "[detail][packed_string]") {
  dataflow::detail::arena a;
  std::mt19937_64 rng(9);
  for (std::size_t len = 0; len <= 40; ++len) {
    std::string s = len ? test::random_word(rng, 1) : "";
    while (s.size() < len) s += static_cast<char>('a' + rng() % 3);
    dataflow::detail::packed_string p(s, a);
    CHECK(p.view() == s);
    CHECK(p == std::string_view(s));
    CHECK(p == dataflow::detail::packed_string(s, a));
    if (len <= dataflow::detail::packed_string::inline_max) {
      CHECK(p.view().data() != s.data());  // a copy inside the key
    }
    for (std::size_t i = 0; i < len; ++i) {  // one byte different anywhere: not equal
      std::string t = s;
      t[i] = s[i] == 'z' ? 'y' : 'z';
      CHECK_FALSE(p == std::string_view(t));
      CHECK_FALSE(p == dataflow::detail::packed_string(t, a));
    }
    CHECK_FALSE(p == std::string_view(s + "x"));
  }
}

TEST_CASE("short strings spread evenly over partitions and slots", "[detail][hash]") {
  // Keys of 1 to 16 bytes, distinct: random words, numbered keys, numbered keys behind a long
  // common prefix (which differ only from byte 9 on), and runs of one byte. The top 8 bits
  // (which pick partitions) and the low 8 bits (which pick slots) each fill 256 buckets evenly,
  // and keys of one length alone do too where there are 4096 of them or more.
  std::mt19937_64 rng(21);
  std::set<std::string> keys;
  while (keys.size() < 150000) keys.insert(test::random_word(rng, 16));
  for (int i = 0; i < 150000; ++i) keys.insert("k" + std::to_string(i));
  for (int i = 0; i < 150000; ++i) keys.insert("customer_" + std::to_string(i));
  for (int i = 0; i < 30000; ++i) keys.insert(std::string(i % 7, 'x') + "~" + std::to_string(i));
  for (int i = 0; i < 4096; ++i) keys.insert(std::string(1 + i % 16, static_cast<char>(i / 16)));
  auto check_spread = [](const std::vector<std::uint64_t>& hashes) {
    std::vector<std::size_t> high(256), low(256);
    for (std::uint64_t h : hashes) {
      ++high[h >> 56];
      ++low[h & 255];
    }
    // Chi-square over 256 buckets: 255 on average with a standard deviation of 22.6 for an even
    // spread; 400 is past six of them.
    const double mean = static_cast<double>(hashes.size()) / 256;
    auto chi2 = [&](const std::vector<std::size_t>& counts) {
      double sum = 0;
      for (std::size_t c : counts) sum += (static_cast<double>(c) - mean) * (static_cast<double>(c) - mean) / mean;
      return sum;
    };
    INFO(hashes.size() << " keys");
    CHECK(chi2(high) < 400);
    CHECK(chi2(low) < 400);
  };
  std::vector<std::uint64_t> all;
  std::map<std::size_t, std::vector<std::uint64_t>> by_length;
  for (const std::string& k : keys) {
    const std::uint64_t h = dataflow::detail::table_hash(std::string_view(k));
    all.push_back(h);
    by_length[k.size()].push_back(h);
  }
  check_spread(all);
  for (const auto& [len, hashes] : by_length) {
    INFO("length " << len);
    if (hashes.size() >= 4096) check_spread(hashes);
  }
}

TEST_CASE("short keys are packed and hashed without reading outside them", "[detail][packed_string]") {
  // A key ends where an unreadable page begins, or begins where one ends: a read past either
  // edge faults. Bytes include zeros, which also pad an inline key.
  const test::guarded_page page;
  std::mt19937_64 rng(13);
  dataflow::detail::arena a;
  for (std::size_t len = 0; len <= 20; ++len) {
    // At the page's end, a few bytes before it (a 16-byte load from there would cross it), and
    // at its start.
    for (char* at : {page.end() - len, page.end() - len - 1 - rng() % 16, page.begin()}) {
      for (int rep = 0; rep < 50; ++rep) {
        for (std::size_t i = 0; i < len; ++i) at[i] = static_cast<char>(rng() % 3 == 0 ? 0 : rng());
        const std::string_view key(at, len);
        const std::string copy(key);
        INFO("length " << len);
        const auto packed = len <= dataflow::detail::packed_string::inline_max
                                ? dataflow::detail::packed_string::inline_copy(key)
                                : dataflow::detail::packed_string(key, a);
        CHECK(packed.view() == copy);
        CHECK(packed == key);
        CHECK(packed == dataflow::detail::packed_string(copy, a));
        CHECK(dataflow::detail::table_hash(key) == dataflow::detail::table_hash(std::string_view(copy)));
        if (len > 0) {  // the same bytes one shorter: never equal, though the padding is zero
          CHECK_FALSE(packed == key.substr(0, len - 1));
          CHECK_FALSE(packed == dataflow::detail::packed_string(copy.substr(0, len - 1), a));
          CHECK(dataflow::detail::table_hash(key) != dataflow::detail::table_hash(key.substr(0, len - 1)));
        }
      }
    }
  }
}

TEST_CASE("a table stage defers items behind a busy table and gives back every one", "[detail][shared_tables]") {
  using entry = std::pair<std::uint64_t, std::uint64_t>;
  using stage = dataflow::detail::table_stage<entry>;
  const std::size_t parts = 3;
  stage s(parts, 0);  // the shortest stages (min_per_part items): they fill often
  REQUIRE(s.per_part() == stage::min_per_part);
  std::mt19937_64 rng(17);
  std::vector<std::vector<std::uint64_t>> want(parts);  // hashes per partition, in stage order
  const std::size_t base = s.bytes();
  for (int round = 0; round < 200; ++round) {
    const std::size_t p = rng() % parts;
    const std::uint64_t h = rng() | 1;
    ::new (static_cast<void*>(s.next(p).raw)) entry(h, h * 3);
    want[p].push_back(h);
    if (s.commit(p, h) || rng() % 7 == 0) {
      // A full stage, or a random moment: defer (the table is busy) or take (it is free).
      if (rng() % 3 != 0) {
        CHECK(s.defer(p) == want[p].size());
        CHECK(s.bytes() > base);
      } else {
        s.take(p, [&](auto got) {
          REQUIRE(got.size() == want[p].size());
          for (std::size_t i = 0; i < got.size(); ++i) {
            CHECK(got[i].hash == want[p][i]);
            CHECK(got[i].get() == entry(want[p][i], want[p][i] * 3));
          }
        });
        want[p].clear();
      }
    }
  }
  for (std::size_t p = 0; p < parts; ++p) {
    s.take(p, [&](auto got) {
      REQUIRE(got.size() == want[p].size());
      for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].hash == want[p][i]);
    });
    s.take(p, [](auto got) { CHECK(got.empty()); });
  }
  CHECK(s.bytes() == base);  // the deferred items' memory went with them
}

TEST_CASE("a table stage is as long as its bytes allow, within its bounds", "[detail][shared_tables]") {
  using entry = std::pair<std::uint64_t, std::uint64_t>;
  using stage = dataflow::detail::table_stage<entry>;
  const std::size_t item = sizeof(stage::waiting);
  for (std::size_t parts : {1, 3, 16, 17, 128, 1000, 100000}) {
    for (std::size_t max_bytes : {std::size_t{0}, std::size_t{4096}, std::size_t{1} << 16, std::size_t{1} << 20,
                                  std::size_t{1} << 30, std::numeric_limits<std::size_t>::max()}) {
      const std::size_t n = stage::per_part_for(parts, max_bytes);
      CAPTURE(parts, max_bytes, n);
      CHECK((n & (n - 1)) == 0);
      CHECK(n >= stage::min_per_part);
      CHECK(n <= stage::max_per_part);
      const std::size_t cap = std::min(max_bytes, stage::stage_bytes);
      // Within the bytes wherever the smallest stage fits, and no shorter than it must be.
      if (parts * stage::min_per_part * item <= cap) CHECK(parts * n * item <= cap);
      if (n < stage::max_per_part) CHECK(parts * 2 * n * item > cap);
    }
  }
  stage s(16, std::size_t{1} << 16);
  CHECK(s.per_part() == stage::per_part_for(16, std::size_t{1} << 16));
  for (std::size_t i = 0; i + 1 < s.per_part(); ++i) {
    ::new (static_cast<void*>(s.next(5).raw)) entry(i, i);
    CHECK_FALSE(s.commit(5, i + 1));
  }
  ::new (static_cast<void*>(s.next(5).raw)) entry(0, 0);
  CHECK(s.commit(5, 1));  // full at per_part() items
}

TEST_CASE("threads take different partitions of one stage at once", "[detail][shared_tables]") {
  // As the end of a reduction does: each partition's deferred items reach exactly one taker.
  using entry = std::pair<std::uint64_t, std::uint64_t>;
  const std::size_t parts = 64, per = 5000;
  for (int round = 0; round < 20; ++round) {
    dataflow::detail::table_stage<entry> s(parts);
    for (std::size_t p = 0; p < parts; ++p) {
      for (std::size_t i = 0; i < per; ++i) {
        const std::uint64_t h = p * per + i + 1;
        ::new (static_cast<void*>(s.next(p).raw)) entry(h, p);
        if (s.commit(p, h)) s.defer(p);
      }
    }
    std::vector<std::uint64_t> sums(parts, 0), counts(parts, 0);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t p = t; p < parts; p += 4) {
          s.take(p, [&](auto got) {
            for (auto& w : got) {
              sums[p] += w.hash;
              counts[p] += w.get().second == p;
            }
          });
        }
      });
    }
    for (auto& th : threads) th.join();
    for (std::size_t p = 0; p < parts; ++p) {
      const std::uint64_t first = p * per + 1, last = p * per + per;
      CHECK(counts[p] == per);
      CHECK(sums[p] == (first + last) * per / 2);
    }
  }
}

TEST_CASE("a shared table's try_with_table does not wait for a holder", "[detail][shared_tables]") {
  dataflow::detail::shared_tables<std::pair<std::uint64_t, std::uint64_t>> tables(2);
  bool ran = false;
  tables.with_table(0, [&](auto&) {
    CHECK_FALSE(tables.try_with_table(0, [&](auto&) { ran = true; }));  // held: refused at once
    CHECK(tables.try_with_table(1, [&](auto&) { ran = true; }));         // another partition
  });
  CHECK(ran);
  CHECK(tables.try_with_table(0, [](auto&) {}));  // released
}

TEST_CASE("string hashes keep their values", "[detail][hash]") {
  // Every rank of a job must route a key alike, whatever build it runs (optimized, debug, under
  // a sanitizer): a change of the hash is a change of format, made on purpose, never a side
  // effect of making it faster. Strings of 1 to 15 bytes changed once: they are hashed from
  // their 16 bytes zero-padded (hash.hpp), no longer from their first and last 8 or 4 bytes.
  const std::vector<std::pair<std::string, std::uint64_t>> pinned = {
      {"", 0x6e4a977b57f8eef0ull},
      {"a", 0xb1de9515e4c3477cull},
      {"ab", 0x8434719908b6d206ull},
      {"abc", 0x2a2d8370634c8559ull},
      {"abcd", 0x4338764d32a75a3cull},
      {"hello", 0xb2ef0742096ac43dull},
      {"abcdefgh", 0x91339bf7bd4a7bceull},
      {"abcdefghijkl", 0x4683938b60b9d64aull},
      {"abcdefghijklmnop", 0xb6cd3e941b7571e2ull},
      {"a key too long to fit inline", 0x1bcfcfb7700e7197ull},
  };
  for (const auto& [key, hash] : pinned) {
    INFO(key);
    CHECK(dataflow::detail::table_hash(std::string_view(key)) == hash);
    CHECK(dataflow::detail::table_hash(key) == hash);
  }
}
