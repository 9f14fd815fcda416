// Replays the kept fuzz corpus (tests/fuzz/corpus/<target>/*: inputs libFuzzer found new paths
// or failures with) through the same targets, so that what a fuzz run once found stays fixed.
#include "../support/test_support.hpp"
#include "targets.hpp"

#include <filesystem>
#include <string>

TEST_CASE("the fuzz corpus replays without a wrong answer", "[fuzz]") {
  const std::filesystem::path root = std::filesystem::path(DATAFLOW_SOURCE_DIR) / "tests/fuzz/corpus";
  std::size_t replayed = 0;
  for (const auto& t : fuzz::targets) {
    const auto dir = root / t.name;
    REQUIRE(std::filesystem::is_directory(dir));
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      const std::string bytes = test::read_file(e.path().string());
      INFO(t.name << ": " << e.path().filename().string());
      CHECK(t.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
      ++replayed;
    }
  }
  CHECK(replayed >= 4);
}
