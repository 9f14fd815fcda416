// read_records: fixed-size binary records, in order, for any chunk size.
#include "../support/test_support.hpp"

#include <cstring>
#include <vector>

namespace {
struct record {
  std::uint64_t key;
  double value;
  bool operator==(const record&) const = default;
};
}  // namespace

TEST_CASE("read_records yields every record in order", "[sources][read_records]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{1001}, std::size_t{100003});
  const std::size_t chunk = GENERATE(std::size_t{1}, std::size_t{40}, std::size_t{0});
  dataflow::context ctx(threads);
  test::temp_dir dir;
  std::vector<record> records(n);
  for (std::size_t i = 0; i < n; ++i) records[i] = {i * 7, static_cast<double>(i) / 3};
  std::string bytes(n * sizeof(record), '\0');
  if (n) std::memcpy(bytes.data(), records.data(), bytes.size());
  test::write_file(dir.file("r.bin"), bytes);
  CHECK(ctx.read_records<record>(dir.file("r.bin"), {.chunk_bytes = chunk}).collect() == records);
}

TEST_CASE("a file that is not whole records is refused", "[sources][read_records]") {
  dataflow::context ctx(1);
  test::temp_dir dir;
  test::write_file(dir.file("r.bin"), std::string(17, 'x'));
  CHECK_THROWS_WITH(ctx.read_records<record>(dir.file("r.bin")),
                    Catch::Contains("17 bytes, not a whole number of 16-byte records"));
}

TEST_CASE("records larger than the read buffer", "[sources][read_records]") {
  struct big {
    char bytes[(3 << 20) / 2];  // 1.5 MiB
  };
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  std::string data;
  for (int i = 0; i < 3; ++i) data += std::string(sizeof(big), static_cast<char>('a' + i));
  test::write_file(dir.file("big.bin"), data);
  auto firsts = ctx.read_records<big>(dir.file("big.bin")).map([](const big& b) { return b.bytes[sizeof(big) - 1]; }).collect();
  CHECK(firsts == std::vector<char>{'a', 'b', 'c'});
}
