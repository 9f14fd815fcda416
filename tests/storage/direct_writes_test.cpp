// Outputs written with O_DIRECT (write_options::direct, storage/direct_writer.hpp): the same
// bytes as a buffered write at every size around the block and the buffer, on a disk and on
// tmpfs (which refuses O_DIRECT before Linux 6.6), and when the file system refuses it part of
// the way; a write that fails on the writing thread reaches the caller; a run that fails
// leaves the old file and no temporary.
#include "../support/test_support.hpp"

#include <dataflow/storage/output_file.hpp>

#include <signal.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// A directory on tmpfs (O_DIRECT refused before Linux 6.6, taken since), removed at exit.
struct shm_dir {
  std::string path;
  shm_dir() {
    if (std::filesystem::is_directory("/dev/shm")) {
      path = "/dev/shm/dataflow-direct-" + std::to_string(::getpid());
      std::filesystem::create_directories(path);
    }
  }
  ~shm_dir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("direct writes put the same bytes in the file at every size around the block and the buffer",
          "[sinks][output][direct]") {
  constexpr std::size_t block = 4096;
  constexpr std::size_t buffer = dataflow::detail::direct_writer::buffer_bytes;
  test::temp_dir disk;
  shm_dir shm;
  std::vector<std::string> dirs{disk.path().string()};
  if (!shm.path.empty()) dirs.push_back(shm.path);
  for (const std::string& dir : dirs) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, block - 1, block, block + 1, buffer - 1, buffer,
                          buffer + 1, 3 * buffer + block, 9 * buffer / 2 + 123}) {
      const std::string text = random_bytes(n, n + 1);
      const std::string path = dir + "/out.txt";
      {
        std::ofstream(path) << "an older file";
        dataflow::detail::output_file out(path);
        out.use_direct_writes();
        // Pieces of every size, from one byte to past a buffer.
        std::mt19937_64 rng(n);
        for (std::size_t at = 0; at < n;) {
          const std::size_t piece = std::min<std::size_t>(n - at, 1 + rng() % (rng() % 2 ? 100 : buffer + 5000));
          out.write(text.data() + at, piece);
          at += piece;
        }
        out.commit();
        // A local disk's file system (not tmpfs, which took it only from Linux 6.6) takes it.
        struct statfs fs {};
        if (dir == disk.path().string() && ::statfs(dir.c_str(), &fs) == 0 && fs.f_type != TMPFS_MAGIC) {
          CHECK(out.direct());
        }
      }
      INFO(dir << ", " << n << " bytes");
      CHECK(read_all(path) == text);
      CHECK(std::filesystem::file_size(path) == n);
      std::filesystem::remove(path);
      CHECK(std::filesystem::is_empty(dir));  // no temporary left
    }
  }
}

TEST_CASE("a file system that refuses O_DIRECT part of the way is written without it", "[sinks][output][direct]") {
  test::temp_dir dir;
  const std::string path = dir.file("out.txt");
  const std::string text = random_bytes(9u << 20, 3);
  dataflow::detail::direct_write_failure_countdown = 2;  // the second buffer's write, after the first went direct
  bool refused = false;
  {
    dataflow::detail::output_file out(path);
    out.use_direct_writes();
    out.write(text.data(), text.size());
    out.commit();
    // Where the file system never took O_DIRECT (tmpfs before Linux 6.6) nothing was refused.
    refused = dataflow::detail::direct_write_failure_countdown.load() == 0;
    if (refused) CHECK_FALSE(out.direct());
  }
  dataflow::detail::direct_write_failure_countdown = 0;
  CHECK(read_all(path) == text);
  CHECK(dir.entries() == std::vector<std::string>{"out.txt"});
}

TEST_CASE("a write that fails on the writing thread reaches the caller, and nothing is left",
          "[sinks][output][direct]") {
  test::temp_dir dir;
  const std::string path = dir.file("out.txt");
  std::ofstream(path) << "the old file";
  // Files may not grow past 6 MiB: the writing thread's second buffer fails with EFBIG.
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  struct sigaction ignore {}, before {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGXFSZ, &ignore, &before) == 0);
  rlimit small = old;
  small.rlim_cur = 6u << 20;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  try {
    dataflow::detail::output_file out(path);
    out.use_direct_writes();
    const std::string piece = random_bytes(1 << 20, 5);
    for (int i = 0; i < 20; ++i) out.write(piece.data(), piece.size());
    out.commit();
  } catch (const dataflow::io_error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::sigaction(SIGXFSZ, &before, nullptr);
  CHECK_THAT(message, Catch::Contains("cannot write") && Catch::Contains(path));
  CHECK(read_all(path) == "the old file");
  CHECK(dir.entries() == std::vector<std::string>{"out.txt"});
}

TEST_CASE("write_lines with direct writes equals a buffered write; a failed run keeps the old file",
          "[sinks][output][direct]") {
  test::temp_dir dir;
  for (std::size_t threads : {1, 2}) {
    dataflow::context ctx(threads);
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{700'003}}) {
      std::vector<std::string> lines;
      std::mt19937_64 rng(n);
      for (std::size_t i = 0; i < n; ++i) lines.push_back(test::random_word(rng, 30));
      ctx.from(lines).sort().write_lines(dir.file("buffered.txt"));
      ctx.from(lines).sort().write_lines(dir.file("direct.txt"), {.direct = true});
      CHECK(read_all(dir.file("direct.txt")) == read_all(dir.file("buffered.txt")));
    }
    // A function that throws part of the way: the file written before stays, whole.
    const std::string before = read_all(dir.file("direct.txt"));
    std::vector<std::uint64_t> v(2'000'000);
    std::atomic<std::uint64_t> seen{0};
    CHECK_THROWS_AS(ctx.from(v)
                        .map([&seen](std::uint64_t x) {
                          if (seen.fetch_add(1) == 1'500'000) throw std::runtime_error("late");
                          return std::to_string(x) + "0123456789012345678901234567890123456789";
                        })
                        .write_lines(dir.file("direct.txt"), {.direct = true}),
                    dataflow::stage_error);
    CHECK(read_all(dir.file("direct.txt")) == before);
    CHECK(dir.entries() == std::vector<std::string>{"buffered.txt", "direct.txt"});
  }
}
