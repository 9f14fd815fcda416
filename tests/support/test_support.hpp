// Shared helpers for the tests: thread counts, temporary directories, files, random inputs.
#pragma once

#include <dataflow/dataflow.hpp>

#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace test {

namespace fs = std::filesystem;

/// The thread counts every operator is tested with (8 is more than this machine's cores).
#define DATAFLOW_THREADS() GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{8})

/// Input sizes: empty, one item, small primes that divide nothing evenly, and a few thousand.
inline const std::vector<std::size_t>& sizes() {
  static const std::vector<std::size_t> s{0, 1, 7, 1000, 4099, 65537};
  return s;
}

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at scope exit.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    fs::path root = base && *base ? base : "/tmp";
    static std::atomic<unsigned> n{0};
    path_ = root / ("dataflow-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// Names of the entries in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

/// One writable page between two unreadable ones: a string placed against either edge faults
/// on any read past its ends.
class guarded_page {
 public:
  guarded_page() : size_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) {
    void* mem = ::mmap(nullptr, 3 * size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    base_ = static_cast<char*>(mem);
    REQUIRE(::mprotect(base_, size_, PROT_NONE) == 0);
    REQUIRE(::mprotect(base_ + 2 * size_, size_, PROT_NONE) == 0);
  }
  guarded_page(const guarded_page&) = delete;
  guarded_page& operator=(const guarded_page&) = delete;
  ~guarded_page() { ::munmap(base_, 3 * size_); }

  char* begin() const noexcept { return base_ + size_; }
  char* end() const noexcept { return base_ + 2 * size_; }

 private:
  std::size_t size_;
  char* base_;
};

/// How many of this process's open descriptors refer to files in `dir` (unnamed ones too: the
/// kernel shows those as "dir/#inode (deleted)").
inline std::size_t open_files_in(const fs::path& dir) {
  std::size_t n = 0;
  const std::string prefix = dir.string() + "/";
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = fs::read_symlink(e.path(), ec).string();
    if (!ec && target.compare(0, prefix.size(), prefix) == 0) ++n;
  }
  return n;
}

/// True when `dir` is empty and no descriptor of this process refers to a file in it: no spill
/// file, named or unnamed, is left.
inline bool nothing_left_in(const temp_dir& dir) { return dir.entries().empty() && open_files_in(dir.path()) == 0; }

inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  REQUIRE(out.good());
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Keys drawn so that a few are very frequent: key k has weight 1 / (k + 1).
inline std::vector<std::uint64_t> zipf_keys(std::size_t n, std::size_t distinct, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> cdf(distinct);
  double sum = 0;
  for (std::size_t k = 0; k < distinct; ++k) cdf[k] = sum += 1.0 / static_cast<double>(k + 1);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<std::uint64_t> keys(n);
  for (auto& k : keys) {
    k = static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
  }
  return keys;
}

/// Keys with distinct values spread uniformly over [0, distinct).
inline std::vector<std::uint64_t> uniform_keys(std::size_t n, std::size_t distinct, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> d(0, distinct ? distinct - 1 : 0);
  std::vector<std::uint64_t> keys(n);
  for (auto& k : keys) k = d(rng);
  return keys;
}

/// A random word of 1 to max_len lowercase letters.
inline std::string random_word(std::mt19937_64& rng, std::size_t max_len = 12) {
  std::uniform_int_distribution<std::size_t> len(1, max_len);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string w(len(rng), 'a');
  for (auto& c : w) c = static_cast<char>(letter(rng));
  return w;
}

/// Random text of `lines` lines: empty ones, runs of up to 300 'x', a lone '\r', two words;
/// the last line ends in '\n' only with trailing_newline.
inline std::string random_text(std::mt19937_64& rng, std::size_t lines, bool trailing_newline) {
  std::string text;
  for (std::size_t i = 0; i < lines; ++i) {
    switch (rng() % 7) {
      case 0: break;  // empty line
      case 1: text += std::string(rng() % 300, 'x'); break;
      case 2: text += "\r"; break;
      default: text += random_word(rng, 20) + " " + random_word(rng, 5);
    }
    if (i + 1 < lines || trailing_newline) text += '\n';
  }
  return text;
}

template <class V>
V sorted(V v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace test
