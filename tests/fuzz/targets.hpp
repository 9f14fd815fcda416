// The fuzz targets: each takes arbitrary bytes and returns false when the code under test gave a
// wrong answer; a crash, a hang or a sanitizer report is a failure too. libFuzzer drives them
// (fuzz_main.cpp, built by cmake/fuzz.sh with clang); corpus_test.cpp replays the kept corpus
// in the ordinary test run.
#pragma once

#include "../support/csv_reference.hpp"

#include <dataflow/dataflow.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace fuzz {

/// csv_fields against the reference reader: the same fields, or an error on the same lines.
inline bool csv_fields(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return true;
  const char sep = static_cast<char>(data[0]) == '\n' ? ',' : static_cast<char>(data[0]);
  std::string_view line(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (sep == '"' || sep == '\r') return true;  // not a separator CSV can have
  bool ok = true;
  const auto want = test::reference_csv_fields(line, sep, ok);
  std::vector<std::string> got;
  try {
    dataflow::csv_fields f(line, sep);
    while (!f.done()) got.emplace_back(f.next());
  } catch (const dataflow::csv_error& e) {
    return !ok && e.column() >= 1 && e.column() <= line.size() + 1;
  }
  return ok && got == want;
}

/// read_lines with any chunk size, thread count and header flag yields the file's lines in order.
inline bool read_lines_chunking(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return true;
  const std::size_t chunk = 1 + data[0] % 64;
  const bool skip_header = (data[1] & 1) != 0;
  const std::size_t threads = 1 + (data[1] >> 1) % 3;
  const std::string text(reinterpret_cast<const char*>(data) + 2, size - 2);
  static const std::string path = [] {
    const char* t = std::getenv("TMPDIR");
    return std::string(t && *t ? t : "/tmp") + "/dataflow-fuzz-lines-" + std::to_string(::getpid());
  }();
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  } else {
    return true;
  }
  std::vector<std::string> want;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    want.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  if (skip_header && !want.empty()) want.erase(want.begin());
  dataflow::context ctx(threads);
  ctx.progress(dataflow::progress_mode::off);
  auto got = ctx.read_lines(path, {.chunk_bytes = chunk, .skip_header = skip_header})
                 .map([](std::string_view s) { return std::string(s); })
                 .collect();
  ::unlink(path.c_str());
  return got == want;
}

using codec_item = std::tuple<std::int32_t, std::string, std::optional<double>, std::vector<std::string>,
                              std::pair<char, std::uint64_t>>;

/// decode of arbitrary bytes ends in values or an error, never a read out of bounds; what
/// decodes survives a round trip (encode, decode, encode gives the same bytes again).
inline bool codec_decode(const std::uint8_t* data, std::size_t size) {
  std::vector<char> bytes(data, data + size);  // exactly as long as the input: ASan sees overruns
  dataflow::detail::arena scratch;
  dataflow::byte_reader r(bytes.data(), bytes.data() + bytes.size(), scratch);
  std::vector<codec_item> items;
  try {
    while (!r.at_end()) items.push_back(dataflow::decode<codec_item>(r));
  } catch (const dataflow::error&) {
    return true;
  }
  auto encode_all = [](const std::vector<codec_item>& v) {
    std::vector<char> out;
    dataflow::byte_writer w(out);
    for (const auto& x : v) dataflow::encode(w, x);
    return out;
  };
  const std::vector<char> once = encode_all(items);
  dataflow::byte_reader r2(once.data(), once.data() + once.size(), scratch);
  std::vector<codec_item> back;
  try {
    while (!r2.at_end()) back.push_back(dataflow::decode<codec_item>(r2));
  } catch (const dataflow::error&) {
    return false;  // what the codec wrote, it must read
  }
  return back.size() == items.size() && encode_all(back) == once;
}

/// The spill block reader on arbitrary file contents: the first byte picks whether the rest is
/// taken as a whole file, or as a block payload wrapped in a header with a valid checksum (so
/// that decoding runs on arbitrary payloads). Either reads items or throws naming the file.
inline bool spill_blocks(const std::uint8_t* data, std::size_t size) {
  using namespace dataflow::detail;
  if (size == 0) return true;
  const bool wrap = (data[0] & 1) != 0;
  const std::uint32_t claimed_items = data[0] >> 1;
  std::string file;
  if (wrap) {
    block_header h{block_header::magic_value, static_cast<std::uint32_t>(size - 1), claimed_items, 0};
    h.crc = block_crc(h, reinterpret_cast<const char*>(data) + 1);
    file.append(reinterpret_cast<const char*>(&h), sizeof h);
  }
  file.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  static spill_directory dir([] {
    const char* t = std::getenv("TMPDIR");
    return std::string(t && *t ? t : "/tmp");
  }());
  std::string name;
  auto f = std::make_shared<spill_file>(dir.create_file("fuzz", name), name);
  if (!file.empty() && ::pwrite(f->fd(), file.data(), file.size(), 0) != static_cast<ssize_t>(file.size())) return true;
  spill_segment seg{f, 0, file.size(), claimed_items};
  std::uint64_t n = 0;
  try {
    for_each_spilled<std::pair<std::string_view, std::uint64_t>>(seg, "fuzz", [&](const auto&) { ++n; });
  } catch (const dataflow::io_error& e) {
    return std::string_view(e.what()).find("spill file") != std::string_view::npos;
  } catch (const dataflow::error&) {
    return true;  // a codec's decode error, or bytes after the last item
  }
  return n == claimed_items;
}

struct target {
  const char* name;
  bool (*run)(const std::uint8_t*, std::size_t);
};

inline constexpr target targets[] = {
    {"csv_fields", csv_fields},
    {"read_lines_chunking", read_lines_chunking},
    {"codec_decode", codec_decode},
    {"spill_blocks", spill_blocks},
};

}  // namespace fuzz
