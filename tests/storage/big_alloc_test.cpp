// Large buffers: both kinds of pages give writable, aligned memory of every size and are given
// back whole; they grow by moving their pages, keeping what they hold and their kind; arenas
// take the kind this machine faults in faster; an arena past its first blocks keeps every copy
// intact.
#include "../support/test_support.hpp"

#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/big_alloc.hpp>
#include <dataflow/storage/item_buffer.hpp>

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

/// The VmFlags of the mapping that holds `p`, from /proc/self/smaps ("" where none does).
std::string vm_flags(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> begin >> dash >> end && dash == '-' && line.find(' ') != std::string::npos &&
        line.find(':') > line.find(' ')) {
      inside = begin <= at && at < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line.substr(8) + " ";
  }
  return "";
}

/// Whether no page of [p, p + bytes) is mapped any more.
bool unmapped(void* p, std::size_t bytes) {
  std::vector<unsigned char> pages((bytes + 4095) / 4096);
  return ::mincore(p, bytes, pages.data()) == -1 && errno == ENOMEM;
}

}  // namespace

TEST_CASE("large buffers of either kind of page are aligned, writable and given back whole", "[storage][big_alloc]") {
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
      if (bytes >= huge) CHECK(unmapped(p, bytes));  // its own mapping, all of it returned
    }
  }
}

TEST_CASE("a large buffer grows by moving its pages, in place or not, and keeps what it holds", "[storage][big_alloc]") {
  using dataflow::detail::page_kind;
  const std::size_t huge = dataflow::detail::huge_page_size;
  CHECK(dataflow::detail::big_grow(nullptr, huge, 2 * huge) == nullptr);
  // In place: a mapping with free addresses after it (what it is cut from).
  {
    auto* raw = static_cast<unsigned char*>(::mmap(nullptr, 8 * huge, PROT_READ | PROT_WRITE,
                                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(raw != MAP_FAILED);
    ::munmap(raw + huge, 7 * huge);
    for (std::size_t i = 0; i < huge; ++i) raw[i] = static_cast<unsigned char>(i * 3);
    auto* q = static_cast<unsigned char*>(dataflow::detail::big_grow(raw, huge, 5 * huge));
    CHECK(q == raw);
    std::size_t wrong = 0, nonzero = 0;
    for (std::size_t i = 0; i < huge; ++i) wrong += q[i] != static_cast<unsigned char>(i * 3);
    for (std::size_t i = huge; i < 5 * huge; ++i) nonzero += q[i] != 0;
    CHECK(wrong == 0);
    CHECK(nonzero == 0);
    CHECK(dataflow::detail::big_grow(q, 5 * huge, 5 * huge - 100) == q);  // no new page needed
    ::munmap(q, 5 * huge);
  }
  for (page_kind kind : {page_kind::huge, page_kind::ordinary}) {
    for (bool blocked : {false, true}) {
      for (std::size_t bytes : {huge, huge + 5000}) {
        CAPTURE(static_cast<int>(kind), blocked, bytes);
        auto* p = static_cast<unsigned char*>(kind == page_kind::huge ? dataflow::detail::big_allocate(bytes)
                                                                        : dataflow::detail::map_small_pages(bytes));
        for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(i * 13 + 1);
        const std::string flags = vm_flags(p);
        // A mapping right after the buffer leaves no room to grow in place (where one is there
        // already, it does so itself).
        unsigned char* const end = p + dataflow::detail::mapped_length(bytes);
        void* wall = MAP_FAILED;
        if (blocked) {
          wall = ::mmap(end, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
          if (wall != MAP_FAILED && wall != end) {  // a kernel that took the address as a hint
            ::munmap(wall, 4096);
            wall = MAP_FAILED;
          }
          REQUIRE((wall == end || errno == EEXIST));
        }
        const std::size_t more = 3 * huge + 777;
        auto* q = static_cast<unsigned char*>(dataflow::detail::big_grow(p, bytes, more));
        REQUIRE(q != nullptr);
        CHECK(reinterpret_cast<std::uintptr_t>(q) % 64 == 0);
        if (blocked) {
          CHECK(q != p);
          CHECK(reinterpret_cast<std::uintptr_t>(q) % huge == 0);  // huge pages move whole
          CHECK(unmapped(p, dataflow::detail::mapped_length(bytes)));
          if (wall != MAP_FAILED) ::munmap(wall, 4096);
        }
        std::size_t wrong = 0, nonzero = 0;
        for (std::size_t i = 0; i < bytes; ++i) wrong += q[i] != static_cast<unsigned char>(i * 13 + 1);
        for (std::size_t i = bytes; i < dataflow::detail::mapped_length(bytes); ++i) q[i] = 0;  // past `bytes`: unspecified
        for (std::size_t i = dataflow::detail::mapped_length(bytes); i < more; ++i) nonzero += q[i] != 0;
        CHECK(wrong == 0);
        CHECK(nonzero == 0);
        CHECK(vm_flags(q) == flags);  // the same kind of pages (and advice) as before
        for (std::size_t i = 0; i < more; ++i) q[i] = static_cast<unsigned char>(i);
        dataflow::detail::big_deallocate(q, more);
        CHECK(unmapped(q, more));
      }
    }
  }
}

TEST_CASE("item buffers keep their items as they grow past the large-buffer size", "[storage][big_alloc]") {
  dataflow::detail::item_buffer<std::uint64_t> numbers;
  dataflow::detail::item_buffer<std::string> strings;  // not plain bytes: moved, not remapped
  std::mt19937_64 rng(11);
  std::vector<std::uint64_t> want;
  const std::size_t n = (std::size_t{3} * dataflow::detail::huge_page_size) / sizeof(std::uint64_t) + 1001;
  for (std::size_t i = 0; i < n; ++i) {
    want.push_back(rng());
    numbers.emplace_back(want.back());
    if (i % 4 == 0) strings.emplace_back(std::to_string(want.back()) + std::string(i % 50, 'x'));
  }
  REQUIRE(numbers.size() == n);
  CHECK(strings.capacity() * sizeof(std::string) > dataflow::detail::huge_page_size);
  CHECK(numbers.capacity() * sizeof(std::uint64_t) > 2 * dataflow::detail::huge_page_size);
  std::size_t wrong = 0, wrong_strings = 0;
  for (std::size_t i = 0; i < n; ++i) {
    wrong += numbers[i] != want[i];
    if (i % 4 == 0) wrong_strings += strings[i / 4] != std::to_string(want[i]) + std::string(i % 50, 'x');
  }
  CHECK(wrong == 0);
  CHECK(wrong_strings == 0);
  numbers.reserve(numbers.capacity() * 4);  // one large step
  for (std::size_t i = 0; i < n; ++i) wrong += numbers[i] != want[i];
  CHECK(wrong == 0);
}

TEST_CASE("large arena blocks take the pages that fault in faster, tables huge pages", "[storage][big_alloc]") {
  using dataflow::detail::page_kind;
  const std::size_t bytes = 2 * dataflow::detail::huge_page_size;
  void* table = dataflow::detail::big_allocate(bytes);
  void* small = dataflow::detail::map_small_pages(bytes);
  void* block = dataflow::detail::big_allocate_uninit(bytes, page_kind::ordinary);
  const std::string table_flags = vm_flags(table), small_flags = vm_flags(small), block_flags = vm_flags(block);
  CAPTURE(table_flags, small_flags, block_flags, dataflow::detail::huge_pages_fault_faster());
  CHECK(table_flags.find(" hg ") != std::string::npos);
  CHECK(small_flags.find(" nh ") != std::string::npos);
  CHECK(block_flags.find(dataflow::detail::huge_pages_fault_faster() ? " hg " : " nh ") != std::string::npos);
  for (void* p : {table, small, block}) {
    dataflow::detail::big_deallocate(p, bytes);
    CHECK(unmapped(p, bytes));
  }
  CHECK(dataflow::detail::map_zeroed(0) == nullptr);
  auto* z = static_cast<unsigned char*>(dataflow::detail::map_zeroed(10000));
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < 10000; ++i) nonzero += z[i] != 0;
  CHECK(nonzero == 0);
  dataflow::detail::unmap(z, 10000);
  CHECK(unmapped(z, 10000));
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
