// The core of the inverted_index tool: for every word of a directory of text files, the sorted
// list of the files that contain it.
//
// Each file's lines become (word, file number) pairs; the files' datasets are concatenated,
// duplicates dropped with distinct(), and the file numbers of each word gathered with
// group_by_key and sorted. A word is a maximal run of non-whitespace bytes.
#pragma once

#include <dataflow/dataflow.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examples {

struct postings {
  std::vector<std::string> files;  // the documents, by number, sorted by name
  // Each word with the numbers of the files that contain it, in ascending order; words sorted.
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> words;
};

/// A file name with backslash, space, tab and newline escaped as `ls -b` does ("my notes.txt"
/// becomes "my\ notes.txt"), so a list of names separated by spaces reads back unambiguously.
inline std::string escape_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case ' ': out += "\\ "; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

/// The regular files directly inside `dir`, sorted by name.
inline std::vector<std::string> list_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  if (ec) throw dataflow::io_error(dir, "inverted_index: cannot list '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

/// The index of `files`: each word with the numbers of the files that contain it (ascending),
/// words sorted under the context's memory budget.
inline auto index_of(dataflow::context& ctx, const std::vector<std::string>& files) {
  auto words_of = [&ctx](const std::string& file, std::uint32_t doc) {
    return ctx.read_lines(file)
        .flat_map(dataflow::split_words)
        .map([doc](std::string_view w) { return std::pair{w, doc}; });
  };
  using item = std::pair<std::string_view, std::uint32_t>;
  dataflow::dataset<item> all = ctx.from(std::vector<item>{});
  for (std::uint32_t d = 0; d < files.size(); ++d) all = all.concat(words_of(files[d], d));
  return all.distinct()
      .group_by_key()
      .map([](const auto& g) {
        std::vector<std::uint32_t> docs(g.second.begin(), g.second.end());
        std::sort(docs.begin(), docs.end());
        return std::pair{g.first, std::move(docs)};
      })
      .sort_by([](const auto& p) { return p.first; });
}

inline postings build_index(dataflow::context& ctx, const std::string& dir) {
  postings out;
  out.files = list_files(dir);
  for (auto& [w, docs] : index_of(ctx, out.files).collect()) out.words.emplace_back(std::string(w), std::move(docs));
  return out;
}

/// The index of the files in `dir` as the tool prints it, a line per word: `word<TAB>names`,
/// the names of the files that hold it (escape_name) in name order, separated by spaces.
inline auto index_lines(dataflow::context& ctx, const std::string& dir) {
  const std::vector<std::string> files = list_files(dir);
  auto names = std::make_shared<std::vector<std::string>>();
  for (const auto& f : files) names->push_back(escape_name(std::filesystem::path(f).filename().string()));
  return index_of(ctx, files).map([names](const auto& entry) {
    std::string line(entry.first);
    line += '\t';
    for (std::size_t i = 0; i < entry.second.size(); ++i) {
      if (i) line += ' ';
      line += (*names)[entry.second[i]];
    }
    return line;
  });
}

}  // namespace examples
