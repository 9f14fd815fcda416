// split_words against a byte-at-a-time reference, across the 64-byte windows it scans.
#include "support/test_support.hpp"

#include <string>
#include <vector>

namespace {

std::vector<std::string> reference_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (dataflow::is_space(c)) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  for (std::string_view w : dataflow::split_words(s)) out.emplace_back(w);
  return out;
}

}  // namespace

TEST_CASE("split_words finds every maximal run of non-space bytes", "[text]") {
  using v = std::vector<std::string>;
  CHECK(split("") == v{});
  CHECK(split("   \t\n") == v{});
  CHECK(split("a") == v{"a"});
  CHECK(split(" a ") == v{"a"});
  CHECK(split("\x01\x7f\x80\xff x") == v{"\x01\x7f\x80\xff", "x"});  // only the six C spaces split
  CHECK(split(std::string(64, 'w')) == v{std::string(64, 'w')});
  CHECK(split(std::string(63, ' ') + "ab") == v{"ab"});
  CHECK(split(std::string(200, 'q') + " " + std::string(130, 'r')) == v{std::string(200, 'q'), std::string(130, 'r')});

  // Random strings of every length up to 300, with runs that straddle window edges.
  std::mt19937_64 rng(3);
  const char alphabet[] = {' ', '\t', '\n', '\v', '\f', '\r', 'a', 'b', '\0', '\xe9', '-', '~'};
  for (std::size_t len = 0; len <= 300; ++len) {
    for (int rep = 0; rep < 20; ++rep) {
      std::string s(len, ' ');
      std::size_t spaces = rng() % 7;  // from few to many spaces
      for (auto& c : s) c = rng() % 12 < spaces ? alphabet[rng() % 6] : alphabet[6 + rng() % 6];
      INFO("length " << len);
      REQUIRE(split(s) == reference_words(s));
    }
  }
}

TEST_CASE("split_words reads nothing outside the string's pages", "[text]") {
  // The string ends where an unreadable page begins, or begins where one ends: any read past
  // either edge faults. Every length up to 200 covers the short last window's cases. (Bytes
  // around the string within its pages may be read, and must not count: see below.)
  const test::guarded_page page;
  std::mt19937_64 rng(11);
  for (std::size_t len = 1; len <= 200; ++len) {
    for (char* s : {page.end() - len, page.begin()}) {
      for (std::size_t i = 0; i < len; ++i) s[i] = rng() % 4 == 0 ? ' ' : static_cast<char>('a' + rng() % 26);
      INFO("length " << len << (s == page.begin() ? " after" : " before") << " a guard page");
      CHECK(split(std::string_view(s, len)) == reference_words(std::string(s, len)));
    }
  }
}


TEST_CASE("split_words ignores the bytes around the string", "[text]") {
  // Words cut out of a longer text of letters: the bytes just before and after the string are
  // not spaces, and a word at either edge ends there. Every offset within a page's last bytes
  // and every length up to 130.
  const test::guarded_page page;
  std::mt19937_64 rng(23);
  const std::size_t room = page.end() - page.begin();
  for (std::size_t len = 1; len <= 130; ++len) {
    for (int rep = 0; rep < 40; ++rep) {
      for (char* c = page.begin(); c != page.end(); ++c) *c = static_cast<char>('a' + rng() % 26);
      const std::size_t from = rep % 2 == 0 ? room - len - rng() % std::min<std::size_t>(room - len, 80)
                                            : rng() % (room - len);
      char* s = page.begin() + from;
      for (std::size_t i = 0; i < len; ++i) s[i] = rng() % 4 == 0 ? ' ' : static_cast<char>('A' + rng() % 26);
      INFO("length " << len << " at offset " << from);
      CHECK(split(std::string_view(s, len)) == reference_words(std::string(s, len)));
    }
  }
}
