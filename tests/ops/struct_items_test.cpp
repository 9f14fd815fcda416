// Plain structs as items and keys: derived codecs and hashes, structs of views kept correctly at
// barriers and in spill files, and types without a codec, which need one only to spill.
#include "../support/test_support.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

enum class method : std::uint8_t { get, post, put };

struct point {
  int x;
  double y;
  bool operator==(const point&) const = default;
};

// Every kind of member a derived codec covers, nested.
struct request {
  std::string url;
  method verb;
  std::optional<std::uint32_t> status;
  std::vector<std::string> tags;
  point where;
  std::map<std::string, int> headers;
  std::set<std::uint64_t> ids;
  bool operator==(const request&) const = default;
};

// Trivially copyable, so once written as its bytes; its views dangled after a spill or a barrier.
struct bigram {
  std::string_view first, second;
  bool operator==(const bigram&) const = default;
};

struct owned_bigram {
  std::string first, second;
  std::uint64_t n;
  auto operator<=>(const owned_bigram&) const = default;
};

// Not an aggregate (private members) and no codec: fine until a budget makes it spill.
class opaque {
 public:
  opaque() = default;
  explicit opaque(std::string s) : s_(std::move(s)) {}
  const std::string& text() const { return s_; }
  bool operator==(const opaque&) const = default;
  auto operator<=>(const opaque&) const = default;

 private:
  std::string s_;
};

std::vector<char> encoded(const auto& x) {
  std::vector<char> buf;
  dataflow::byte_writer w(buf);
  dataflow::encode(w, x);
  return buf;
}

template <class T>
T round_trip(const T& x) {
  const std::vector<char> buf = encoded(x);
  dataflow::detail::arena scratch;
  dataflow::byte_reader r(buf.data(), buf.data() + buf.size(), scratch);
  T back = dataflow::decode<T>(r);
  REQUIRE(r.at_end());
  return back;
}

request random_request(std::mt19937_64& rng) {
  request q;
  q.url = "/" + test::random_word(rng, 30);
  q.verb = static_cast<method>(rng() % 3);
  if (rng() % 2) q.status = static_cast<std::uint32_t>(rng() % 600);
  for (std::size_t i = rng() % 4; i > 0; --i) q.tags.push_back(test::random_word(rng));
  q.where = {static_cast<int>(rng() % 100) - 50, static_cast<double>(rng() % 1000) / 8};
  for (std::size_t i = rng() % 3; i > 0; --i) q.headers[test::random_word(rng)] = static_cast<int>(rng() % 9);
  for (std::size_t i = rng() % 5; i > 0; --i) q.ids.insert(rng());
  return q;
}

}  // namespace

TEST_CASE("plain structs get a codec and a hash member by member", "[codec][hash]") {
  static_assert(dataflow::encodable<request>);
  static_assert(dataflow::encodable<bigram>);
  static_assert(!dataflow::encodable<opaque>);
  static_assert(dataflow::detail::byte_copyable<point>());   // all members plain: its bytes
  static_assert(!dataflow::detail::byte_copyable<bigram>());  // views: member by member

  std::mt19937_64 rng(5);
  for (int i = 0; i < 200; ++i) {
    const request q = random_request(rng);
    CHECK(round_trip(q) == q);
    request copy = q;
    CHECK(dataflow::hash<request>{}(copy) == dataflow::hash<request>{}(q));
    copy.where.y += 1;
    CHECK(dataflow::hash<request>{}(copy) != dataflow::hash<request>{}(q));
  }
  CHECK(round_trip(request{}) == request{});

  const std::string text = "left right";
  const bigram b{std::string_view(text).substr(0, 4), std::string_view(text).substr(5)};
  const std::vector<char> buf = encoded(b);
  CHECK(std::string_view(buf.data(), buf.size()).find("left") != std::string_view::npos);
  {
    dataflow::detail::arena scratch;
    dataflow::byte_reader r(buf.data(), buf.data() + buf.size(), scratch);
    CHECK(dataflow::decode<bigram>(r) == b);  // views into buf
  }
  // A struct's hash depends on its members' values, not on where its views point.
  const std::string other = "left right";
  CHECK(dataflow::hash<bigram>{}(bigram{std::string_view(other).substr(0, 4), std::string_view(other).substr(5)}) ==
        dataflow::hash<bigram>{}(b));
}

TEST_CASE("a struct of views as a shuffle key, in memory and spilled", "[ops][reduce_by_key][spill]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t budget = GENERATE(std::size_t{0}, std::size_t{48} << 10);
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{30011});
  std::mt19937_64 rng(n + budget);
  std::vector<std::string> lines;
  std::map<std::pair<std::string, std::string>, std::uint64_t> want;
  for (std::size_t i = 0; i < n; ++i) {
    // Skewed: a few pairs are common, most are rare.
    const std::uint64_t a = rng() % 4 == 0 ? rng() % 3 : rng() % 5000;
    std::string l = "w" + std::to_string(a) + " v" + std::to_string(rng() % 97);
    ++want[{l.substr(0, l.find(' ')), l.substr(l.find(' ') + 1)}];
    lines.push_back(std::move(l));
  }
  test::temp_dir dir;
  test::write_file(dir.file("in.txt"), [&] {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }());

  dataflow::context ctx(threads);
  ctx.memory_budget(budget).spill_directory(dir.path().string());
  auto counts = ctx.read_lines(dir.file("in.txt"))
                    .map([](std::string_view l) {
                      const auto sp = l.find(' ');
                      return std::pair(bigram{l.substr(0, sp), l.substr(sp + 1)}, std::uint64_t{1});
                    })
                    .reduce_by_key(std::plus<>{})
                    .cache();
  auto owned = [](const std::pair<bigram, std::uint64_t>& p) {
    return owned_bigram{std::string(p.first.first), std::string(p.first.second), p.second};
  };
  std::vector<owned_bigram> got = counts.map(owned).collect();
  const bool spilled = ctx.last_run().spilled_bytes > 0;
  // Read twice: the second action reads the cached structs (spilled under the budget).
  std::vector<owned_bigram> again = counts.map(owned).collect();
  std::sort(got.begin(), got.end());
  std::sort(again.begin(), again.end());
  std::vector<owned_bigram> expected;
  for (const auto& [k, c] : want) expected.push_back({k.first, k.second, c});
  CHECK(got == expected);
  CHECK(again == expected);
  CHECK(spilled == (budget != 0 && n > 1000));
}

TEST_CASE("structs with owning members sort and group under a budget", "[ops][sort][group_by_key][spill]") {
  const std::size_t threads = DATAFLOW_THREADS();
  std::mt19937_64 rng(11);
  std::vector<request> reqs;
  for (int i = 0; i < 6007; ++i) reqs.push_back(random_request(rng));
  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.memory_budget(64 << 10).spill_directory(dir.path().string());

  auto by_url = [](const request& a, const request& b) { return std::tie(a.url, a.where.x) < std::tie(b.url, b.where.x); };
  std::vector<request> want = reqs;
  std::stable_sort(want.begin(), want.end(), by_url);
  std::vector<request> got = ctx.from(reqs).sort(by_url).collect();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(!by_url(got[i], want[i]));
  CHECK(std::is_sorted(got.begin(), got.end(), by_url));
  std::multiset<std::string> got_urls, want_urls;
  for (const auto& q : got) got_urls.insert(q.url + std::to_string(q.ids.size()) + std::to_string(q.headers.size()));
  for (const auto& q : reqs) want_urls.insert(q.url + std::to_string(q.ids.size()) + std::to_string(q.headers.size()));
  CHECK(got_urls == want_urls);
  CHECK(ctx.last_run().spilled_bytes > 0);

  // A struct key: (verb, status) -> number of requests.
  struct verb_status {
    method verb;
    std::optional<std::uint32_t> status;
    bool operator==(const verb_status&) const = default;
  };
  std::map<std::pair<int, std::int64_t>, std::uint64_t> want_groups;
  for (const auto& q : reqs) ++want_groups[{static_cast<int>(q.verb), q.status ? std::int64_t{*q.status} : -1}];
  auto groups = ctx.from(reqs)
                    .map([](const request& q) { return std::pair(verb_status{q.verb, q.status}, q); })
                    .group_by_key()
                    .map([](const auto& g) {
                      return std::pair(std::pair(static_cast<int>(g.first.verb), g.first.status ? std::int64_t{*g.first.status} : -1),
                                       std::uint64_t{g.second.size()});
                    })
                    .collect();
  std::map<std::pair<int, std::int64_t>, std::uint64_t> got_groups;
  for (const auto& [k, c] : groups) {
    CHECK(got_groups.count(k) == 0);
    got_groups[k] += c;
  }
  for (const auto& [k, c] : want_groups) {
    CAPTURE(k.first, k.second, c);
    CHECK(got_groups[k] == c);
  }
  CHECK(got_groups.size() == want_groups.size());
}

TEST_CASE("items without a codec need one only when they must spill", "[ops][codec][spill]") {
  const std::size_t threads = DATAFLOW_THREADS();
  std::mt19937_64 rng(3);
  std::vector<std::string> words;
  for (int i = 0; i < 20000; ++i) words.push_back(test::random_word(rng, 20));
  std::map<std::string, std::uint64_t> want;
  for (const auto& w : words) ++want[w];

  test::temp_dir dir;
  dataflow::context ctx(threads);
  ctx.spill_directory(dir.path().string());
  auto keyed = ctx.from(words).map([](const std::string& w) { return std::pair(opaque(w), std::uint64_t{1}); });
  auto sorted = ctx.from(words).map([](const std::string& w) { return opaque(w); }).sort(std::less<>{});
  auto cached = ctx.from(words).map([](const std::string& w) { return opaque(w); }).cache();

  SECTION("without a budget: shuffles, sorts and caches work") {
    auto got = keyed.reduce_by(
        [](const std::pair<opaque, std::uint64_t>& p) { return p.first.text(); },
        [](const auto& a, const auto& b) { return std::pair(a.first, a.second + b.second); });
    std::map<std::string, std::uint64_t> counts;
    for (const auto& [k, c] : got.collect()) counts[k.text()] = c;
    CHECK(counts == want);
    std::vector<opaque> s = sorted.collect();
    CHECK(s.size() == words.size());
    CHECK(std::is_sorted(s.begin(), s.end()));
    CHECK(cached.count() == words.size());
    CHECK(ctx.cached_bytes() > 0);  // counted without a budget too
  }
  SECTION("under a budget they must spill: an error naming the type, nothing left behind") {
    ctx.memory_budget(32 << 10);
    auto message = [](auto&& action) -> std::string {
      try {
        action();
      } catch (const dataflow::error& e) {
        return e.what();
      }
      return "no error";
    };
    for (const std::string& m : {message([&] { sorted.count(); }), message([&] { cached.count(); })}) {
      CAPTURE(m);
      CHECK(m.find("opaque") != std::string::npos);
      CHECK(m.find("has no codec") != std::string::npos);
    }
    CHECK(ctx.cached_bytes() == 0);
    CHECK(test::nothing_left_in(dir));
  }
}
