// datagen: writes the benchmark inputs.
//
//   datagen text PATH MIB          Zipf text over a 1M-word vocabulary
//   datagen csv PATH ROWS KEYS     a `key,value` CSV with a header, keys uniform over KEYS values
//   datagen lines PATH MIB         random 100-byte lines (99 printable characters and a newline)
#include "datagen.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "";
  try {
    if (what == "text" && argc == 4) {
      auto bytes = bench::write_zipf_text(argv[2], std::strtoull(argv[3], nullptr, 10) << 20);
      std::fprintf(stderr, "datagen: wrote %llu bytes to %s\n", static_cast<unsigned long long>(bytes), argv[2]);
      return 0;
    }
    if (what == "lines" && argc == 4) {
      auto bytes = bench::write_random_lines(argv[2], std::strtoull(argv[3], nullptr, 10) << 20);
      std::fprintf(stderr, "datagen: wrote %llu bytes to %s\n", static_cast<unsigned long long>(bytes), argv[2]);
      return 0;
    }
    if (what == "csv" && argc == 5) {
      std::size_t rows = std::strtoull(argv[3], nullptr, 10), keys = std::strtoull(argv[4], nullptr, 10);
      std::FILE* f = std::fopen(argv[2], "wb");
      if (!f) throw std::runtime_error(std::string("cannot create ") + argv[2]);
      fmt::memory_buffer out;
      fmt::format_to(std::back_inserter(out), "key,value\n");
      bench::splitmix64 rng{11};
      for (std::size_t i = 0; i < rows; ++i) {
        auto key = static_cast<long long>(rng() % keys) - static_cast<long long>(keys / 10);
        auto cents = static_cast<long long>(rng() % 200001) - 100000;
        fmt::format_to(std::back_inserter(out), "{},{}{}.{:02}\n", key, cents < 0 ? "-" : "",
                       std::llabs(cents) / 100, std::llabs(cents) % 100);
        if (out.size() > (1 << 20)) {
          std::fwrite(out.data(), 1, out.size(), f);
          out.clear();
        }
      }
      std::fwrite(out.data(), 1, out.size(), f);
      std::fclose(f);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "datagen: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: datagen text PATH MIB | datagen csv PATH ROWS KEYS | datagen lines PATH MIB\n");
  return 2;
}
