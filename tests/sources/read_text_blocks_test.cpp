// read_text_blocks against read_lines: the blocks, split at '\n', are the same lines in the same
// order, for every way chunk and buffer boundaries can fall.
#include "../support/test_support.hpp"

#include <string>
#include <vector>

namespace {

std::vector<std::string> lines_of_blocks(const std::vector<std::string>& blocks) {
  std::vector<std::string> lines;
  for (const auto& b : blocks) {
    std::size_t start = 0;
    for (;;) {
      const auto nl = b.find('\n', start);
      lines.push_back(b.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  return lines;
}

}  // namespace

TEST_CASE("read_text_blocks gives read_lines' lines in blocks, for any chunk size", "[sources][read_text_blocks]") {
  const std::size_t chunk = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{17},
                                     std::size_t{4096}, std::size_t{999'999}, std::size_t{0});
  const bool trailing = GENERATE(true, false);
  const bool header = GENERATE(false, true);
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  std::mt19937_64 rng(chunk * 4 + trailing * 2 + header);
  std::vector<std::string> files;
  // Empty, one line, two, a few hundred, and more than the 1 MiB read buffer holds (its lines
  // cross the buffer's refills; with chunk 1 it is read a byte-sized chunk at a time, so only
  // the larger chunks take it).
  std::vector<std::size_t> sizes{0, 1, 2, 500};
  if (chunk == 0 || chunk > 4096) sizes.push_back(40'000);
  for (std::size_t lines : sizes) {
    files.push_back(dir.file("f" + std::to_string(files.size()) + ".txt"));
    test::write_file(files.back(), test::random_text(rng, lines, trailing));
  }
  const dataflow::read_options options{.chunk_bytes = chunk, .skip_header = header};
  const auto want = ctx.read_lines(files, options).collect();
  const auto blocks = ctx.read_text_blocks(files, options).collect();
  CHECK(lines_of_blocks(blocks) == want);
  CHECK(blocks.size() <= want.size());
  // The words are the same, as a word count reads them.
  auto words = [](const auto& text) { return text.flat_map(dataflow::split_words).collect(); };
  CHECK(words(ctx.read_text_blocks(files, options)) == words(ctx.read_lines(files, options)));
}

TEST_CASE("read_text_blocks handles edge-case files", "[sources][read_text_blocks]") {
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  auto blocks_of = [&](const std::string& content, dataflow::read_options o = {}) {
    test::write_file(dir.file("x.txt"), content);
    return ctx.read_text_blocks(dir.file("x.txt"), o).collect();
  };
  using v = std::vector<std::string>;
  CHECK(blocks_of("") == v{});
  CHECK(blocks_of("\n") == v{""});
  CHECK(blocks_of("\n\n") == v{"\n"});
  CHECK(blocks_of("a") == v{"a"});
  CHECK(blocks_of("a\r\nb\r\n") == v{"a\r\nb\r"});  // bytes are kept as they are
  CHECK(blocks_of("h\n1\n2", {.skip_header = true}) == v{"1\n2"});
  CHECK(lines_of_blocks(blocks_of("h\n1\n2", {.chunk_bytes = 1, .skip_header = true})) == v{"1", "2"});
  CHECK(blocks_of("header only", {.skip_header = true}) == v{});

  // Lines longer than the 1 MiB read buffer: a block of its own, or with its neighbours.
  const std::string long_line(3 << 20, 'q');
  const std::string text = "s\n" + long_line + "\nt\n";
  for (std::size_t chunk : {std::size_t{0}, std::size_t{1} << 20, std::size_t{999'999}}) {
    INFO("chunk " << chunk);
    CHECK(lines_of_blocks(blocks_of(text, {.chunk_bytes = chunk})) == v{"s", long_line, "t"});
  }
  CHECK_THROWS_AS(ctx.read_text_blocks(dir.file("x.txt"), {.strip_cr = true}), dataflow::usage_error);
}

TEST_CASE("a failing block is reported with its file and first line", "[sources][read_text_blocks][errors]") {
  const std::size_t chunk = GENERATE(std::size_t{7}, std::size_t{0});
  dataflow::context ctx(DATAFLOW_THREADS());
  test::temp_dir dir;
  // Past the 1 MiB read buffer with the default chunks, so that the failing block starts
  // mid-file; smaller with 7-byte chunks, each of which reads a buffer's worth.
  const int lines = chunk == 0 ? 200'000 : 20'000, bad = lines / 10 * 9 + 7;
  std::string text;
  for (int i = 1; i <= lines; ++i) text += (i == bad ? std::string("bad") : std::to_string(i)) + "\n";
  test::write_file(dir.file("n.txt"), text);
  std::string first;  // the failing block's first line: its number (one block holds "bad")
  try {
    ctx.read_text_blocks(dir.file("n.txt"), {.chunk_bytes = chunk})
        .map([&](std::string_view block) {
          if (block.find("bad") != std::string_view::npos) {
            first = std::string(block.substr(0, block.find('\n')));
            throw std::invalid_argument("not a number");
          }
          return block.size();
        })
        .count();
    FAIL("no exception");
  } catch (const dataflow::stage_error& e) {
    REQUIRE_FALSE(first.empty());
    if (chunk == 0) CHECK(first != "1");  // a block from the middle of the file
    CHECK(e.where() == dir.file("n.txt") + ":" + (first == "bad" ? std::to_string(bad) : first));
    CHECK(std::string(e.what()).find("not a number") != std::string::npos);
  }
}
