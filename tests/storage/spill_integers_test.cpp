// Items made of integers spill in their short form: every value comes back as it was, whatever
// its size or sign, at every place in a block (a whole word is loaded only where the block has
// room for it), and the form is shorter than the items' bytes when the numbers are small.
#include "../support/test_support.hpp"

#include <dataflow/storage/spill_file.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace dataflow::detail;

enum class colour : std::int16_t { red = -3, green = 0, blue = 9000 };

/// A class whose members dataflow cannot see (it has a constructor): spilled as 64-bit words.
class fixed_point {
 public:
  fixed_point() = default;
  fixed_point(std::uint64_t lo, std::uint64_t hi) : lo_(lo), hi_(hi) {}
  friend bool operator==(const fixed_point&, const fixed_point&) = default;

 private:
  std::uint64_t lo_ = 0;
  std::uint64_t hi_ = 0;
};

struct reading {
  std::int32_t sensor;
  colour c;
  fixed_point total;
  bool ok;
  std::uint8_t flags;
  friend bool operator==(const reading&, const reading&) = default;
};

struct with_double {
  std::int64_t id;
  double x;
};

struct own_codec {
  std::int64_t v;
  void encode(dataflow::byte_writer& w) const { dataflow::encode(w, v); }
  static own_codec decode(dataflow::byte_reader& r) { return {dataflow::decode<std::int64_t>(r)}; }
};

static_assert(integer_leaves<std::pair<std::int64_t, std::uint64_t>>() == 2);
static_assert(integer_leaves<std::tuple<std::int8_t, std::int16_t, std::int32_t, std::uint64_t, bool>>() == 5);
static_assert(integer_leaves<std::pair<std::uint64_t, reading>>() == 1 + 1 + 1 + 2 + 1 + 1);
static_assert(integer_leaves<double>() == 0);
static_assert(integer_leaves<with_double>() == 0);  // floating point keeps its bytes
static_assert(integer_leaves<std::pair<std::string_view, std::int64_t>>() == 0);
static_assert(integer_leaves<own_codec>() == 0);  // a codec of the user's is kept
static_assert(integer_leaves<dataflow::detail::int128>() == 0);  // wider than a word: its bytes
static_assert(integer_leaves<std::pair<std::uint64_t, dataflow::detail::uint128>>() == 0);
struct nested {
  std::int64_t id;
  std::pair<std::int32_t, std::uint16_t> range;  // a struct with a pair: seen through both
};
static_assert(integer_leaves<nested>() == 3);
static_assert(integer_leaves<std::pair<own_codec, std::int64_t>>() == 0);

/// Values of every magnitude: zero, small either side, byte boundaries, and the extremes.
template <class I>
I any_integer(std::mt19937_64& rng) {
  using L = std::numeric_limits<I>;
  switch (rng() % 6) {
    case 0: return I{0};
    case 1: return L::max();
    case 2: return L::min();
    case 3: return static_cast<I>(static_cast<std::int64_t>(rng() % 300) - 150);
    default: {
      // A value of a random bit length, either sign where the type has one.
      const unsigned bits = static_cast<unsigned>(rng() % (8 * sizeof(I)));
      const std::uint64_t mask = bits == 0 ? 0 : (~std::uint64_t{0} >> (64 - bits));
      const auto v = static_cast<I>(rng() & mask);
      if constexpr (std::is_signed_v<I>) {
        if (rng() % 2) return static_cast<I>(-v);
      }
      return v;
    }
  }
}

/// Spills `items` with blocks of `block_bytes` and reads them back.
template <class T>
std::vector<T> round_trip(const std::vector<T>& items, std::size_t block_bytes, std::uint64_t* bytes = nullptr) {
  test::temp_dir root;
  auto dir = std::make_shared<spill_directory>(root.path().string());
  spill_segment seg;
  {
    spill_writer w(dir, "test", block_bytes);
    for (const T& x : items) w.add(x);
    seg = w.end_segment();
    w.close();
  }
  if (bytes) *bytes = seg.bytes;
  std::vector<T> back;
  for_each_spilled<T>(seg, "test", [&](const T& x) { back.push_back(x); });
  return back;
}

}  // namespace

TEST_CASE("items made of integers come back from a spill as they were", "[spill][storage]") {
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{20011});
  const std::size_t block = GENERATE(std::size_t{64}, std::size_t{4096});  // many block ends, few
  std::mt19937_64 rng(n * 31 + block);

  std::vector<std::pair<std::int64_t, std::uint64_t>> pairs;
  std::vector<std::tuple<std::int8_t, std::int16_t, std::int32_t, std::uint64_t, bool>> tuples;
  std::vector<std::pair<std::uint64_t, reading>> structs;
  for (std::size_t i = 0; i < n; ++i) {
    pairs.emplace_back(any_integer<std::int64_t>(rng), any_integer<std::uint64_t>(rng));
    tuples.emplace_back(any_integer<std::int8_t>(rng), any_integer<std::int16_t>(rng), any_integer<std::int32_t>(rng),
                        any_integer<std::uint64_t>(rng), rng() % 2 == 0);
    const colour colours[] = {colour::red, colour::green, colour::blue};
    structs.emplace_back(any_integer<std::uint64_t>(rng),
                         reading{any_integer<std::int32_t>(rng), colours[rng() % 3],
                                 fixed_point(any_integer<std::uint64_t>(rng), any_integer<std::uint64_t>(rng)),
                                 rng() % 2 == 1, any_integer<std::uint8_t>(rng)});
  }
  CHECK(round_trip(pairs, block) == pairs);
  CHECK(round_trip(tuples, block) == tuples);
  CHECK(round_trip(structs, block) == structs);

  // 128-bit integers keep their bytes, whole; a struct holding a pair is seen through.
  std::vector<std::pair<dataflow::detail::int128, std::int64_t>> wide;
  std::vector<std::pair<nested, std::uint8_t>> nests;
  for (std::size_t i = 0; i < n; ++i) {
    const auto high = static_cast<dataflow::detail::int128>(any_integer<std::int64_t>(rng));
    wide.emplace_back(high * (dataflow::detail::int128{1} << 64) + any_integer<std::uint64_t>(rng), any_integer<std::int64_t>(rng));
    nests.push_back({nested{any_integer<std::int64_t>(rng), {any_integer<std::int32_t>(rng), any_integer<std::uint16_t>(rng)}},
                     any_integer<std::uint8_t>(rng)});
  }
  CHECK(round_trip(wide, block) == wide);
  const auto back = round_trip(nests, block);
  REQUIRE(back.size() == nests.size());
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(back[i].first.id == nests[i].first.id);
    CHECK(back[i].first.range == nests[i].first.range);
    CHECK(back[i].second == nests[i].second);
  }
}

TEST_CASE("small numbers spill in fewer bytes than the items take", "[spill][storage]") {
  // group_sum's shape: a key, a fixed-point sum in two words, a count.
  std::vector<std::pair<std::int64_t, std::pair<fixed_point, std::uint64_t>>> items;
  std::mt19937_64 rng(5);
  for (std::int64_t k = 0; k < 50000; ++k) {
    items.push_back({k * 37 - 900000, {fixed_point(rng(), rng() % 2 ? 0 : ~std::uint64_t{0}), rng() % 1000}});
  }
  std::uint64_t bytes = 0;
  CHECK(round_trip(items, 1 << 16, &bytes) == items);
  // key 3 bytes, low word 8, high word 0 or 1, count 1-2, lengths 2: at most 16 of 32 bytes
  CHECK(bytes < items.size() * 17);
  CHECK(bytes > items.size() * 12);
}

TEST_CASE("a malformed integer length in a spilled block is an error, not a wild read", "[spill][storage]") {
  dataflow::detail::arena scratch;
  for (const bool room : {true, false}) {
    // Two integers: the first claims 9 bytes. With room, the fast path reads; without, the
    // checked one does: both refuse.
    std::string bytes = {static_cast<char>(0x19), '\1', '\2', '\3', '\4', '\5', '\6', '\7', '\10', '\11'};
    if (room) bytes.append(32, '\0');
    dataflow::byte_reader r(bytes.data(), bytes.data() + bytes.size(), scratch);
    CHECK_THROWS_WITH((read_integers<std::pair<std::uint64_t, std::uint64_t>>(r)),
                      Catch::Contains("malformed integer length"));
  }
  // A block cut inside an item.
  const std::string cut = {static_cast<char>(0x22), '\1', '\2', '\3'};
  dataflow::byte_reader r(cut.data(), cut.data() + cut.size(), scratch);
  CHECK_THROWS_WITH((read_integers<std::pair<std::uint64_t, std::uint64_t>>(r)), Catch::Contains("ends inside an item"));
}

TEST_CASE("an item at the very end of a block is read without a byte past it", "[spill][storage]") {
  // Items encoded back to back, the last one ending where an unreadable page begins: a whole
  // word loaded past the block's end would fault.
  using item = std::pair<std::int64_t, std::tuple<std::uint32_t, std::int16_t>>;
  std::mt19937_64 rng(11);
  std::vector<item> items;
  for (int i = 0; i < 64; ++i) {
    items.push_back({any_integer<std::int64_t>(rng), {any_integer<std::uint32_t>(rng), any_integer<std::int16_t>(rng)}});
  }
  std::vector<char> encoded;
  dataflow::byte_writer w(encoded);
  for (const item& x : items) write_integers(w, x);
  test::guarded_page page;
  REQUIRE(encoded.size() <= static_cast<std::size_t>(page.end() - page.begin()));
  char* at = page.end() - encoded.size();
  std::memcpy(at, encoded.data(), encoded.size());
  dataflow::detail::arena scratch;
  dataflow::byte_reader r(at, page.end(), scratch);
  std::vector<item> back;
  for (std::size_t i = 0; i < items.size(); ++i) back.push_back(read_integers<item>(r));
  CHECK(r.at_end());
  CHECK(back == items);
}
