// Inputs that are not regular files: standard input, pipes, FIFOs and /proc files are read as
// streams, whole and in order; a glob never opens a FIFO; a file that shrinks while it is read
// is an error naming it.
#include "../support/test_support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string numbered_lines(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  std::size_t at = 0;
  while (at < s.size()) {
    std::size_t nl = s.find('\n', at);
    if (nl == std::string::npos) nl = s.size();
    v.push_back(s.substr(at, nl - at));
    at = nl + 1;
  }
  return v;
}

/// Writes `text` into the write end of a pipe from a thread, then closes it.
std::future<void> feed(int fd, std::string text) {
  return std::async(std::launch::async, [fd, text = std::move(text)] {
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t w = ::write(fd, text.data() + done, text.size() - done);
      if (w <= 0) break;
      done += static_cast<std::size_t>(w);
    }
    ::close(fd);
  });
}

/// Makes a pipe standard input for the life of the object.
class stdin_from_pipe {
 public:
  explicit stdin_from_pipe(std::string text) {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    saved_ = ::dup(STDIN_FILENO);
    ::dup2(p[0], STDIN_FILENO);
    ::close(p[0]);
    writer_ = feed(p[1], std::move(text));
  }
  ~stdin_from_pipe() {
    writer_.wait();
    ::dup2(saved_, STDIN_FILENO);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
  std::future<void> writer_;
};

}  // namespace

TEST_CASE("standard input ('-') is read whole and in order, by every later action too", "[sources][streams]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{200003});
  const std::string text = numbered_lines(n);
  dataflow::context ctx(threads);
  test::temp_dir spill;
  ctx.spill_directory(spill.path().string()).on_recompute(dataflow::recompute_policy::allow);
  stdin_from_pipe in(text);
  {
    auto lines = ctx.read_lines("-", {.chunk_bytes = 4099});
    std::vector<std::string> got;
    for (auto v : lines.map([](std::string_view s) { return std::string(s); }).collect()) got.push_back(v);
    CHECK(got == split_lines(text));
    // The stream cannot be read twice; the source kept its copy, which has no name.
    CHECK(lines.count() == n);
    CHECK(spill.entries().empty());
    CHECK(test::open_files_in(spill.path()) == 1);
  }
  CHECK(test::nothing_left_in(spill));  // the copy went with the dataset
}

TEST_CASE("a FIFO named on its own is read as a stream", "[sources][streams]") {
  test::temp_dir dir;
  const std::string fifo = dir.file("in.fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string text = numbered_lines(100001);
  auto writer = std::async(std::launch::async, [&] {
    int fd = ::open(fifo.c_str(), O_WRONLY);
    feed(fd, text).wait();
  });
  dataflow::context ctx(2);
  auto got = ctx.read_lines(fifo).map([](std::string_view s) { return std::string(s); }).collect();
  writer.wait();
  CHECK(got == split_lines(text));
}

TEST_CASE("a pipe read as records, and a /proc file read as lines", "[sources][streams]") {
  dataflow::context ctx(2);
  std::vector<std::uint64_t> values(123457);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = i * 2654435761u;
  {
    stdin_from_pipe in(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 8));
    CHECK(ctx.read_records<std::uint64_t>("-").collect() == values);
  }
  {
    stdin_from_pipe in("12345");  // not a whole number of 8-byte records
    CHECK_THROWS_WITH(ctx.read_records<std::uint64_t>("-").count(),
                      Catch::Contains("standard input") && Catch::Contains("not a whole number"));
  }
  // sysfs files report 4096 bytes whatever they hold: what they hold is read, no error.
  if (test::fs::exists("/sys/class/net/lo/address")) {
    CHECK(ctx.read_lines("/sys/class/net/lo/address").count() == 1);
  }
  // /proc files report size 0 but have lines.
  auto status = ctx.read_lines("/proc/self/status").collect();
  CHECK(status.size() > 5);
  bool has_name = false;
  for (auto& l : status) has_name = has_name || l.rfind("Name:", 0) == 0;
  CHECK(has_name);
}

TEST_CASE("a glob that matches a FIFO is an error, not a hang", "[sources][streams]") {
  test::temp_dir dir;
  test::write_file(dir.file("a.txt"), "x\n");
  REQUIRE(::mkfifo(dir.file("b.txt").c_str(), 0600) == 0);
  dataflow::context ctx(2);
  CHECK_THROWS_WITH(ctx.read_lines(dir.file("*.txt")),
                    Catch::Contains("b.txt") && Catch::Contains("is a FIFO") && Catch::Contains("*.txt"));
}

TEST_CASE("a file that shrinks while it is read is an error naming it", "[sources][streams]") {
  test::temp_dir dir;
  const std::string file = dir.file("shrinks.txt");
  test::write_file(file, numbered_lines(200000));
  dataflow::context ctx(1);
  auto run = [&] {
    return ctx.read_lines(file, {.chunk_bytes = 65536})
        .map([&](std::string_view s) {
          if (s == "line 10") REQUIRE(::truncate(file.c_str(), 100000) == 0);
          return s.size();
        })
        .count();
  };
  CHECK_THROWS_WITH(run(), Catch::Contains("shrinks.txt") && Catch::Contains("changed size while being read"));

  test::write_file(file, std::string(8 * 100000, 'x'));
  auto records = [&] {
    return ctx.read_records<std::uint64_t>(file, {.chunk_bytes = 8192})
        .map([&](std::uint64_t x) {
          static bool once = false;
          if (!once) once = ::truncate(file.c_str(), 80000) == 0;
          return x;
        })
        .count();
  };
  CHECK_THROWS_WITH(records(), Catch::Contains("shrinks.txt") && Catch::Contains("changed size while being read"));
}

TEST_CASE("a line longer than half the budget is refused by name; without a budget it is charged",
          "[sources][memory]") {
  test::temp_dir dir;
  const std::string file = dir.file("long.txt");
  test::write_file(file, "short\n" + std::string(3 << 20, 'y') + "\nshort\n");
  dataflow::context ctx(2);
  ctx.memory_budget(4 << 20);
  CHECK_THROWS_WITH(ctx.read_lines(file).count(),
                    Catch::Contains("line 2 of '" + file + "'") && Catch::Contains("memory budget"));
  ctx.memory_budget(0);
  CHECK(ctx.read_lines(file).count() == 3);
  CHECK(ctx.last_run().peak_memory >= (std::size_t{3} << 20));
}
