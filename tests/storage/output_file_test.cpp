// Output paths: devices, FIFOs, sockets and standard output are written through; symlinks keep
// pointing at the file they name; a replaced file keeps its mode; no temporary ever has a name
// that a run leaves or that another user could plant a link at.
#include "../support/test_support.hpp"

#include <dataflow/storage/output_file.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<std::string> numbers(std::size_t n) {
  std::vector<std::string> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(std::to_string(i));
  return v;
}

std::string lines_of(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

/// Reads a file descriptor to its end.
std::string drain(int fd) {
  std::string s;
  char buf[65536];
  for (ssize_t r; (r = ::read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<std::size_t>(r));
  return s;
}

}  // namespace

TEST_CASE("a character device is written through, never replaced", "[sinks][output]") {
  dataflow::context ctx(2);
  struct stat before {};
  REQUIRE(::stat("/dev/null", &before) == 0);
  ctx.from(numbers(10000)).write_lines("/dev/null");
  ctx.from(numbers(10)).write_csv("/dev/null");
  struct stat after {};
  REQUIRE(::stat("/dev/null", &after) == 0);
  CHECK(S_ISCHR(after.st_mode));
  CHECK(after.st_rdev == before.st_rdev);
  CHECK(after.st_ino == before.st_ino);
}

TEST_CASE("a FIFO is written through to its reader", "[sinks][output]") {
  test::temp_dir dir;
  const std::string fifo = dir.file("out.fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto reader = std::async(std::launch::async, [&] {
    int fd = ::open(fifo.c_str(), O_RDONLY);
    std::string s = drain(fd);
    ::close(fd);
    return s;
  });
  dataflow::context ctx(2);
  const auto items = numbers(50000);
  ctx.from(items).write_lines(fifo);
  CHECK(reader.get() == lines_of(items));
  struct stat st {};
  REQUIRE(::lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK(dir.entries() == std::vector<std::string>{"out.fifo"});
}

TEST_CASE("a Unix socket is written through to its listener", "[sinks][output]") {
  test::temp_dir dir;
  const std::string path = dir.file("out.sock");
  int server = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(server >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(server, 1) == 0);
  auto reader = std::async(std::launch::async, [&] {
    int c = ::accept(server, nullptr, nullptr);
    std::string s = drain(c);
    ::close(c);
    return s;
  });
  dataflow::context ctx(2);
  const auto items = numbers(20000);
  ctx.from(items).write_lines(path);
  CHECK(reader.get() == lines_of(items));
  ::close(server);
}

TEST_CASE("a symlink at the output path keeps pointing at its target, which is replaced", "[sinks][output]") {
  test::temp_dir dir;
  test::fs::create_directories(dir.path() / "real");
  const std::string target = dir.file("real/data.txt");
  test::write_file(target, "old\n");
  REQUIRE(::chmod(target.c_str(), 0600) == 0);
  const std::string link = dir.file("link.txt");
  REQUIRE(::symlink("real/data.txt", link.c_str()) == 0);
  dataflow::context ctx(2);
  const auto items = numbers(3000);
  ctx.from(items).write_lines(link);
  struct stat st {};
  REQUIRE(::lstat(link.c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(test::read_file(target) == lines_of(items));
  REQUIRE(::stat(target.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(dir.entries() == std::vector<std::string>{"link.txt", "real"});
  CHECK(test::fs::directory_iterator(dir.path() / "real")->path().filename() == "data.txt");

  // A dangling link: the file it names is created, the link stays.
  const std::string dangling = dir.file("dangling.txt");
  REQUIRE(::symlink("real/new.txt", dangling.c_str()) == 0);
  ctx.from(items).write_lines(dangling);
  REQUIRE(::lstat(dangling.c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(test::read_file(dir.file("real/new.txt")) == lines_of(items));
}

TEST_CASE("a replaced file keeps its mode; a new one gets the umask's", "[sinks][output]") {
  test::temp_dir dir;
  const std::string file = dir.file("keep.txt");
  for (mode_t mode : {mode_t{0600}, mode_t{0640}, mode_t{0755}}) {
    test::write_file(file, "x\n");
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    dataflow::context ctx(1);
    ctx.from(numbers(10)).write_lines(file);
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == mode);
  }
  const mode_t old = ::umask(027);
  dataflow::context ctx(1);
  ctx.from(numbers(10)).write_lines(dir.file("new.txt"));
  ::umask(old);
  struct stat st {};
  REQUIRE(::stat(dir.file("new.txt").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
}

TEST_CASE("a replaced file keeps its owner where the process may set it", "[sinks][output]") {
  if (::geteuid() != 0) return;  // only root may give a file to another user
  test::temp_dir dir;
  const std::string file = dir.file("owned.txt");
  test::write_file(file, "x\n");
  REQUIRE(::chown(file.c_str(), 4321, 8765) == 0);
  REQUIRE(::chmod(file.c_str(), 0640) == 0);
  dataflow::context ctx(1);
  ctx.from(numbers(100)).write_lines(file);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK(st.st_uid == 4321u);
  CHECK(st.st_gid == 8765u);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(test::read_file(file) == lines_of(numbers(100)));
}

TEST_CASE("no temporary has a name while the output is written", "[sinks][output]") {
  test::temp_dir dir;
  const std::string out = dir.file("out.txt");
  test::write_file(out, "previous\n");
  // Names that the old scheme used: a link planted there must not be followed.
  const std::string victim = dir.file("victim.txt");
  test::write_file(victim, "precious\n");
  for (int i = 1; i < 50; ++i) {
    const std::string planted = out + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    REQUIRE(::symlink(victim.c_str(), planted.c_str()) == 0);
  }
  const auto before = dir.entries();
  dataflow::context ctx(2);
  std::vector<std::vector<std::string>> seen;
  auto items = numbers(20000);
  // While partitions are formatted, the directory holds what it held before, nothing more.
  ctx.from(items)
      .map([&](const std::string& s) {
        if (s == "10000") seen.push_back(dir.entries());
        return s;
      })
      .write_lines(out);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == before);
  CHECK(dir.entries() == before);
  CHECK(test::read_file(victim) == "precious\n");
  CHECK(test::read_file(out) == lines_of(items));

  // A failing run leaves the old file and nothing else.
  CHECK_THROWS(ctx.from(items)
                   .map([](const std::string& s) {
                     if (s == "15000") throw std::runtime_error("boom");
                     return s;
                   })
                   .write_lines(out));
  CHECK(test::read_file(out) == lines_of(items));
  CHECK(dir.entries() == before);
}

TEST_CASE("a directory or a missing parent directory as output is an error naming it", "[sinks][output]") {
  test::temp_dir dir;
  dataflow::context ctx(1);
  CHECK_THROWS_WITH(ctx.from(numbers(3)).write_lines(dir.path().string()), Catch::Contains("is a directory"));
  CHECK_THROWS_WITH(ctx.from(numbers(3)).write_lines(dir.file("no/such/dir/out.txt")),
                    Catch::Contains("no/such/dir/out.txt") && Catch::Contains("No such file"));
  CHECK(test::nothing_left_in(dir));
}

TEST_CASE("a temporary with a name is removed when a signal ends the process",
          "[sinks][output]") {
  using dataflow::detail::temp_registry;
  test::temp_dir dir;
  const std::string name = dir.file(".out.tmp-test");
  test::write_file(name, "partial\n");
  int slot = temp_registry::instance().add(name);
  REQUIRE(slot >= 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    dataflow::remove_temporaries_on_signals();
    ::raise(SIGTERM);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  temp_registry::instance().remove(slot);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(test::nothing_left_in(dir));
}
