// Deterministic benchmark inputs: Zipf-distributed text and uniform integer keys.
//
// The same seed gives the same bytes on every machine and thread count: blocks are generated
// in parallel, each from its own seed, and written in order.
#pragma once

#include <dataflow/storage/big_alloc.hpp>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bench {

/// splitmix64: a fast, well-mixed generator for benchmark data.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t operator()() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double unit() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
};

/// Samples ranks 0..n-1 with P(r) proportional to 1 / (r + 1)^s in O(1) (Walker's alias method).
class zipf_sampler {
 public:
  zipf_sampler(std::size_t n, double s) : prob_(n), alias_(n) {
    std::vector<double> p(n);
    double sum = 0;
    for (std::size_t r = 0; r < n; ++r) sum += p[r] = 1.0 / std::pow(static_cast<double>(r + 1), s);
    std::vector<std::size_t> small, large;
    for (std::size_t r = 0; r < n; ++r) {
      p[r] = p[r] * static_cast<double>(n) / sum;
      (p[r] < 1.0 ? small : large).push_back(r);
    }
    while (!small.empty() && !large.empty()) {
      std::size_t a = small.back(), b = large.back();
      small.pop_back();
      prob_[a] = p[a];
      alias_[a] = static_cast<std::uint32_t>(b);
      p[b] -= 1.0 - p[a];
      if (p[b] < 1.0) {
        large.pop_back();
        small.push_back(b);
      }
    }
    for (auto r : small) prob_[r] = 1.0;
    for (auto r : large) prob_[r] = 1.0;
  }
  std::size_t operator()(splitmix64& rng) const {
    std::size_t r = static_cast<std::size_t>(rng() % prob_.size());
    return rng.unit() < prob_[r] ? r : alias_[r];
  }

 private:
  std::vector<double> prob_;
  std::vector<std::uint32_t> alias_;
};

/// A vocabulary of distinct lowercase words of 2 to 12 letters.
inline std::vector<std::string> make_vocabulary(std::size_t n, std::uint64_t seed) {
  std::vector<std::string> words;
  words.reserve(n);
  splitmix64 rng{seed};
  for (std::size_t i = 0; i < n; ++i) {
    // A base-26 suffix of i keeps words distinct; a random prefix varies the lengths.
    std::string w;
    std::size_t extra = rng() % 8;
    for (std::size_t j = 0; j < extra; ++j) w.push_back(static_cast<char>('a' + rng() % 26));
    std::size_t v = i;
    do {
      w.push_back(static_cast<char>('a' + v % 26));
      v /= 26;
    } while (v != 0);
    if (w.size() < 2) w.push_back('a' + static_cast<char>(rng() % 26));
    words.push_back(std::move(w));
  }
  return words;
}

/// Writes `bytes` (rounded to whole lines) of Zipf(1.0) text over a 1M-word vocabulary to `path`:
/// lines of 1 to 20 words separated by single spaces. Returns the bytes written.
inline std::uint64_t write_zipf_text(const std::string& path, std::uint64_t bytes,
                                     std::uint64_t seed = 42) {
  const auto vocabulary = make_vocabulary(std::size_t{1} << 20, seed);
  const zipf_sampler zipf(vocabulary.size(), 1.0);
  constexpr std::size_t block_bytes = std::size_t{8} << 20;
  const std::size_t blocks = static_cast<std::size_t>((bytes + block_bytes - 1) / block_bytes);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot create " + path);
  std::uint64_t written = 0;
  constexpr std::size_t batch = 16;  // blocks generated in parallel, then written in order
  for (std::size_t b0 = 0; b0 < blocks; b0 += batch) {
    std::size_t nb = std::min(batch, blocks - b0);
    std::vector<std::string> out(nb);
    tbb::parallel_for(std::size_t{0}, nb, [&](std::size_t i) {
      splitmix64 rng{seed * 1000003 + b0 + i};
      std::string& s = out[i];
      s.reserve(block_bytes + 256);
      while (s.size() < block_bytes) {
        std::size_t words = 1 + rng() % 20;
        for (std::size_t w = 0; w < words; ++w) {
          if (w) s.push_back(' ');
          s += vocabulary[zipf(rng)];
        }
        s.push_back('\n');
      }
    });
    for (auto& s : out) {
      if (std::fwrite(s.data(), 1, s.size(), f) != s.size()) throw std::runtime_error("write failed");
      written += s.size();
    }
  }
  std::fclose(f);
  return written;
}

/// Writes `bytes` (rounded down to whole lines) of random 100-byte lines: 99 printable ASCII
/// characters and a newline, the shape of the classic sort benchmarks. Returns the bytes written.
inline std::uint64_t write_random_lines(const std::string& path, std::uint64_t bytes,
                                        std::uint64_t seed = 5) {
  constexpr std::size_t line = 100, per_block = 1 << 16;
  const std::uint64_t lines = bytes / line;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot create " + path);
  std::string block;
  for (std::uint64_t done = 0; done < lines;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(per_block, lines - done));
    block.assign(n * line, '\n');
    tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
      splitmix64 rng{seed * 1000003 + done + i};
      char* p = block.data() + i * line;
      for (std::size_t c = 0; c + 1 < line; c += 8) {
        std::uint64_t r = rng();
        for (std::size_t k = 0; k < 8 && c + k + 1 < line; ++k, r >>= 8) p[c + k] = static_cast<char>(' ' + 1 + (r & 0xff) % 94);
      }
    });
    if (std::fwrite(block.data(), 1, block.size(), f) != block.size()) throw std::runtime_error("write failed");
    done += n;
  }
  std::fclose(f);
  return lines * line;
}

/// A (key, value) row of the group-by benchmarks.
struct row {
  std::uint64_t key;
  double value;
};

/// `n` rows with keys uniform over `distinct` values (scrambled so they are not dense) and
/// values in [0, 1); the memory comes from huge pages, generated in parallel.
inline dataflow::detail::big_array<row> make_rows(std::size_t n, std::size_t distinct,
                                                  std::uint64_t seed = 7) {
  dataflow::detail::big_array<row> rows(n);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 1 << 16), [&](const auto& r) {
    splitmix64 rng{seed ^ (r.begin() * 0x9e3779b97f4a7c15ull)};
    for (std::size_t i = r.begin(); i < r.end(); ++i) {
      std::uint64_t k = rng() % distinct;
      rows[i] = row{k * 0x9e3779b97f4a7c15ull + 12345, rng.unit()};
    }
  });
  return rows;
}

/// Returns a path under the benchmark data directory ($DATAFLOW_BENCH_DIR or ./bench-data).
inline std::string data_path(const std::string& name) {
  const char* dir = std::getenv("DATAFLOW_BENCH_DIR");
  std::filesystem::path p = dir && *dir ? dir : "bench-data";
  std::filesystem::create_directories(p);
  return (p / name).string();
}

/// Reads a whole file once so that its pages are cached before timing.
inline void warm_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return;
  std::vector<char> buf(std::size_t{1} << 20);
  while (std::fread(buf.data(), 1, buf.size(), f) == buf.size()) {
  }
  std::fclose(f);
}

}  // namespace bench
