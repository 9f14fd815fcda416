// CRC32C of a byte range: the instruction's path (one chain, or three joined over long ranges)
// gives what the table gives, bit for bit, at every length and alignment, and in pieces.
#include "../support/test_support.hpp"

#include <dataflow/storage/crc32c.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace dataflow::detail;

std::uint32_t table_crc(const char* p, std::size_t n) { return ~crc32c_portable(~0u, p, n); }

}  // namespace

TEST_CASE("crc32c matches the standard check value and the table at every length and alignment",
          "[storage][crc32c]") {
  const std::string check = "123456789";
  REQUIRE(crc32c(check.data(), check.size()) == 0xE3069283u);
  REQUIRE(table_crc(check.data(), check.size()) == 0xE3069283u);
  REQUIRE(crc32c(check.data(), 0) == 0u);

  std::mt19937_64 rng(7);
  std::vector<char> bytes(5 * crc32c_stripe_bytes() + 64);
  for (char& c : bytes) c = static_cast<char>(rng());
  // Lengths around every multiple of the three chains' stripe, and random ones.
  std::vector<std::size_t> lengths = {0, 1, 7, 8, 9, 4095, 4096, 4097};
  for (std::size_t k = 1; k <= 4; ++k) {
    for (std::size_t d : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{13}}) {
      lengths.push_back(k * 3 * crc32c_stripe_bytes() - d);
      lengths.push_back(k * 3 * crc32c_stripe_bytes() + d);
    }
  }
  for (int i = 0; i < 40; ++i) lengths.push_back(rng() % (bytes.size() - 64));
  for (std::size_t n : lengths) {
    for (std::size_t offset : {std::size_t{0}, std::size_t{3}, std::size_t{61}}) {
      if (offset + n > bytes.size()) continue;
      INFO("length " << n << " at offset " << offset);
      REQUIRE(crc32c(bytes.data() + offset, n) == table_crc(bytes.data() + offset, n));
    }
  }
}

TEST_CASE("crc32c_extend over pieces equals the checksum of the whole", "[storage][crc32c]") {
  std::mt19937_64 rng(11);
  std::vector<char> bytes(200000);
  for (char& c : bytes) c = static_cast<char>(rng());
  for (int round = 0; round < 20; ++round) {
    std::uint32_t crc = 0;
    std::size_t at = 0;
    while (at < bytes.size()) {
      const std::size_t n = std::min<std::size_t>(bytes.size() - at, rng() % 40000);
      crc = crc32c_extend(crc, bytes.data() + at, n);
      at += n;
    }
    REQUIRE(crc == crc32c(bytes.data(), bytes.size()));
  }
  REQUIRE(crc32c(bytes.data(), bytes.size()) == table_crc(bytes.data(), bytes.size()));
}
