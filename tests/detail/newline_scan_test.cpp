// The newline scanner of the line source: every '\n' in order, against a byte loop, and no read
// outside the range it was given.
#include "../support/test_support.hpp"

#include <dataflow/detail/newline_scan.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

namespace {

std::vector<std::size_t> newlines_of(const char* data, std::size_t from, std::size_t len) {
  std::vector<std::size_t> got;
  dataflow::detail::newline_scan scan(data, from, len);
  for (std::size_t at; (at = scan.next()) != dataflow::detail::newline_scan::none;) got.push_back(at);
  return got;
}

std::vector<std::size_t> byte_loop(const char* data, std::size_t from, std::size_t len) {
  std::vector<std::size_t> want;
  for (std::size_t i = from; i < len; ++i) {
    if (data[i] == '\n') want.push_back(i);
  }
  return want;
}

}  // namespace

TEST_CASE("newline_scan finds every newline in order", "[detail][newline_scan]") {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t len = rng() % 300;
    // From no newline at all to nothing but newlines; bytes of every value besides.
    const unsigned density = static_cast<unsigned>(rng() % 5);
    std::vector<char> text(len);
    for (char& c : text) {
      const unsigned r = static_cast<unsigned>(rng() % 16);
      c = r < density * 4 ? '\n' : static_cast<char>(rng() % 256);
    }
    const std::size_t from = len == 0 ? 0 : rng() % (len + 1);
    CAPTURE(len, from, density);
    CHECK(newlines_of(text.data(), from, len) == byte_loop(text.data(), from, len));
  }
  CHECK(newlines_of(nullptr, 0, 0).empty());
}

TEST_CASE("newline_scan reads nothing past the end of its range", "[detail][newline_scan]") {
  // The range ends where a page that may not be read begins.
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* map = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(map != MAP_FAILED);
  char* first = static_cast<char*>(map);
  REQUIRE(mprotect(first + page, page, PROT_NONE) == 0);
  std::memset(first, 'x', page);
  for (std::size_t i = 7; i < page; i += 13) first[i] = '\n';
  for (std::size_t len : {std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{64},
                          std::size_t{65}, std::size_t{129}, page}) {
    const char* data = first + page - len;
    CAPTURE(len);
    CHECK(newlines_of(data, 0, len) == byte_loop(data, 0, len));
  }
  munmap(map, 2 * page);
}
