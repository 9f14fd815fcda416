// libFuzzer entry point: FUZZ_TARGET names one of fuzz::targets (cmake/fuzz.sh builds each).
#include "targets.hpp"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fuzz::target* t = [] {
    for (const auto& x : fuzz::targets) {
      if (std::string_view(x.name) == FUZZ_TARGET) return &x;
    }
    std::abort();
  }();
  if (!t->run(data, size)) __builtin_trap();
  return 0;
}
