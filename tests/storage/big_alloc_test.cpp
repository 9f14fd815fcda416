// Large buffers: both kinds of pages give writable, aligned memory of every size, whichever
// kind arenas take on this machine, and an arena past its first blocks keeps every copy intact.
#include "../support/test_support.hpp"

#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/big_alloc.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

TEST_CASE("large buffers of either kind of page are aligned, writable and given back", "[storage][big_alloc]") {
  using dataflow::detail::page_kind;
  const std::size_t huge = dataflow::detail::huge_page_size;
  for (page_kind kind : {page_kind::huge, page_kind::ordinary}) {
    for (std::size_t bytes : {std::size_t{1}, std::size_t{4095}, huge - 1, huge, 2 * huge + 123}) {
      CAPTURE(static_cast<int>(kind), bytes);
      auto* p = static_cast<unsigned char*>(dataflow::detail::big_allocate_uninit(bytes, kind));
      REQUIRE(p != nullptr);
      CHECK(reinterpret_cast<std::uintptr_t>(p) % 64 == 0);
      for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(i * 7 + bytes);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < bytes; ++i) wrong += p[i] != static_cast<unsigned char>(i * 7 + bytes);
      CHECK(wrong == 0);
      dataflow::detail::big_deallocate(p, bytes);
    }
  }
  // The choice of pages for arenas is made once: every arena of the process takes the same.
  const bool first = dataflow::detail::huge_pages_fault_faster();
  for (int i = 0; i < 3; ++i) CHECK(dataflow::detail::huge_pages_fault_faster() == first);
}

TEST_CASE("an arena past its first blocks keeps every copy intact", "[storage][big_alloc]") {
  // 40 MiB of strings of random lengths: blocks of 4 MiB from the large-buffer path, and
  // strings longer than a block (a block of their own).
  std::mt19937_64 rng(5);
  dataflow::detail::arena a;
  std::vector<std::string> want;
  std::vector<std::string_view> got;
  std::size_t total = 0;
  while (total < (std::size_t{40} << 20)) {
    const std::size_t len = rng() % 50 == 0 ? rng() % (std::size_t{6} << 20) : rng() % 300;
    std::string s(len, '\0');
    for (char& c : s) c = static_cast<char>('a' + rng() % 26);
    got.push_back(a.copy(s));
    want.push_back(std::move(s));
    total += len;
  }
  CHECK(a.bytes_used() >= total);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < want.size(); ++i) wrong += got[i] != want[i];
  CHECK(wrong == 0);
}
