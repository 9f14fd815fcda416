// read_lines against a sequential split, for every way chunk boundaries can fall.
#include "../support/test_support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace

TEST_CASE("read_lines yields every line once, in order, for any chunk size", "[sources][read_lines]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t chunk = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{17},
                                     std::size_t{4096}, std::size_t{0});
  const bool trailing = GENERATE(true, false);
  dataflow::context ctx(threads);
  test::temp_dir dir;
  std::mt19937_64 rng(chunk * 2 + trailing);
  std::vector<std::string> files, want;
  for (std::size_t lines : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{500}}) {
    std::string text = test::random_text(rng, lines, trailing);
    std::string path = dir.file("f" + std::to_string(files.size()) + ".txt");
    test::write_file(path, text);
    files.push_back(path);
    for (auto& l : split_lines(text)) want.push_back(l);
  }
  CHECK(ctx.read_lines(files, {.chunk_bytes = chunk}).collect() == want);
}

TEST_CASE("read_lines handles edge-case files", "[sources][read_lines]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  auto lines_of = [&](const std::string& content, dataflow::read_options o = {}) {
    test::write_file(dir.file("x.txt"), content);
    return ctx.read_lines(dir.file("x.txt"), o).collect();
  };
  using v = std::vector<std::string>;
  CHECK(lines_of("") == v{});
  CHECK(lines_of("\n") == v{""});
  CHECK(lines_of("\n\n") == v{"", ""});
  CHECK(lines_of("a") == v{"a"});
  CHECK(lines_of("a\r\nb\r\n") == v{"a\r", "b\r"});  // bytes are kept as they are
  CHECK(lines_of("h\n1\n2", {.chunk_bytes = 1, .skip_header = true}) == v{"1", "2"});
  CHECK(lines_of("header only", {.skip_header = true}) == v{});

  // Lines longer than the 1 MiB read buffer.
  std::string long_line(3 << 20, 'q');
  CHECK(lines_of("s\n" + long_line + "\nt\n") == v{"s", long_line, "t"});
  CHECK(lines_of("s\n" + long_line + "\nt\n", {.chunk_bytes = 1 << 20}) == v{"s", long_line, "t"});
}

TEST_CASE("read_lines expands globs in sorted order", "[sources][read_lines]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  test::write_file(dir.file("b.txt"), "b1\nb2\n");
  test::write_file(dir.file("a.txt"), "a1\n");
  test::write_file(dir.file("c.log"), "c1\n");
  CHECK(ctx.read_lines(dir.file("*.txt")).collect() == std::vector<std::string>{"a1", "b1", "b2"});
  CHECK(ctx.read_lines(std::vector{dir.file("c.log"), dir.file("?.txt")}).collect() ==
        std::vector<std::string>{"c1", "a1", "b1", "b2"});
}

TEST_CASE("missing, unreadable and empty inputs are errors that name the path", "[sources][read_lines]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  auto message_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const dataflow::io_error& e) {
      return e.what();
    }
    return "no io_error";
  };
  auto missing = dir.file("missing.txt");
  CHECK(message_of([&] { ctx.read_lines(missing); }).find("cannot open '" + missing + "'") != std::string::npos);
  CHECK(message_of([&] { ctx.read_lines(dir.file("*.none")); }).find("no file matches") != std::string::npos);
  CHECK(message_of([&] { ctx.read_lines(dir.path().string()); }).find("is a directory") != std::string::npos);
  CHECK(message_of([&] { ctx.read_lines(std::vector<std::string>{}); }).find("no input files") != std::string::npos);

  // A file removed between building the pipeline and running it.
  test::write_file(dir.file("gone.txt"), "x\n");
  auto ds = ctx.read_lines(dir.file("gone.txt"));
  std::filesystem::remove(dir.file("gone.txt"));
  CHECK(message_of([&] { ds.count(); }).find("gone.txt") != std::string::npos);

  if (::geteuid() != 0) {  // root reads anything
    test::write_file(dir.file("secret.txt"), "x\n");
    ::chmod(dir.file("secret.txt").c_str(), 0);
    CHECK(message_of([&] { ctx.read_lines(dir.file("secret.txt")); }).find("Permission denied") != std::string::npos);
  }
}

TEST_CASE("a failing line is reported with its file and line number", "[sources][read_lines][errors]") {
  const std::size_t threads = DATAFLOW_THREADS();
  const std::size_t chunk = GENERATE(std::size_t{7}, std::size_t{0});
  dataflow::context ctx(threads);
  test::temp_dir dir;
  std::string text;
  for (int i = 1; i <= 5000; ++i) text += (i == 4321 ? std::string("bad") : std::to_string(i)) + "\n";
  test::write_file(dir.file("n.txt"), text);
  try {
    ctx.read_lines(dir.file("n.txt"), {.chunk_bytes = chunk})
        .map([](std::string_view s) {
          if (s == "bad") throw std::invalid_argument("not a number");
          return s.size();
        })
        .count();
    FAIL("no exception");
  } catch (const dataflow::stage_error& e) {
    CHECK(e.where() == dir.file("n.txt") + ":4321");
    CHECK(std::string(e.what()).find("not a number") != std::string::npos);
  }
}

TEST_CASE("skip_header drops the first line of every file, whatever the chunking", "[sources][read_lines]") {
  const std::size_t chunk = GENERATE(std::size_t{1}, std::size_t{5}, std::size_t{64}, std::size_t{0});
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  std::vector<std::string> files, want;
  for (int f = 0; f < 4; ++f) {
    std::string text = "header" + std::to_string(f) + "\n";
    for (int i = 0; i < f * 30; ++i) {
      text += std::to_string(f) + "-" + std::to_string(i) + "\n";
      want.push_back(std::to_string(f) + "-" + std::to_string(i));
    }
    files.push_back(dir.file("h" + std::to_string(f) + ".csv"));
    test::write_file(files.back(), text);
  }
  CHECK(ctx.read_lines(files, {.chunk_bytes = chunk, .skip_header = true}).collect() == want);
}

TEST_CASE("a path that exists is read as it is, glob characters and all", "[sources][read_lines]") {
  dataflow::context ctx(1);
  test::temp_dir dir;
  test::write_file(dir.file("data[1].txt"), "bracketed\n");
  test::write_file(dir.file("data1.txt"), "plain\n");
  CHECK(ctx.read_lines(dir.file("data[1].txt")).collect() == std::vector<std::string>{"bracketed"});
}

TEST_CASE("strip_cr drops one trailing carriage return per line, and only when asked", "[sources][read_lines]") {
  const std::size_t chunk = GENERATE(std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{0});
  const bool trailing = GENERATE(true, false);
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  std::mt19937_64 rng(chunk * 2 + trailing);
  std::string text;
  std::vector<std::string> raw, stripped;
  const std::size_t lines = 300;
  for (std::size_t i = 0; i < lines; ++i) {
    std::string line;
    switch (rng() % 5) {
      case 0: break;                                          // empty line
      case 1: line = "\r"; break;                             // a line that is only CR
      case 2: line = test::random_word(rng, 8) + "\r\r"; break;  // two: one is dropped
      case 3: line = "mid\rdle"; break;                       // CR inside stays
      default: line = test::random_word(rng, 12) + "\r";
    }
    text += line;
    if (i + 1 < lines || trailing) text += '\n';
    raw.push_back(line);
    stripped.push_back(!line.empty() && line.back() == '\r' ? line.substr(0, line.size() - 1) : line);
  }
  if (!trailing && raw.back().empty()) {  // a file's last empty line without '\n' is no line
    raw.pop_back();
    stripped.pop_back();
  }
  const std::string path = dir.file("crlf.txt");
  test::write_file(path, text);
  CHECK(ctx.read_lines(path, {.chunk_bytes = chunk}).collect() == raw);
  CHECK(ctx.read_lines(path, {.chunk_bytes = chunk, .strip_cr = true}).collect() == stripped);
}
