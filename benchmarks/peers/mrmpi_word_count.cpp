// word_count written with MR-MPI (Sandia's MapReduce-MPI library, Debian's libmrmpi-dev): the
// peer of `mpirun -np N word_count --threads 1 --top K FILE...`, done as the library's own word
// frequency example does it:
//   map      the files cut into chunks at newlines (two per rank), each word emitted with a count of 1
//   compress each word's counts summed on the rank that emitted them (a combiner)
//   collate  each word sent to the rank that owns it, its counts grouped
//   reduce   the counts summed
//   gather   the (word, count) pairs on rank 0, which keeps the top K and prints them as
//            word_count does (`count<TAB>word`, most frequent first, then bytewise)
// Words are split as word_count splits them (dataflow::split_words): the outputs are identical.
//
// Usage: mpirun -np N mrmpi_word_count [--page-mib M] [--top K] FILE...
#include "mrmpi_common.hpp"

#include <dataflow/text.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using mrmpi_peer::KeyValue;
using mrmpi_peer::MapReduce;

void emit_words(int, char* chunk, int size, KeyValue* kv, void*) {
  std::uint64_t one = 1;
  std::string_view text(chunk, static_cast<std::size_t>(size));
  while (!text.empty() && text.back() == '\0') text.remove_suffix(1);  // MR-MPI ends a chunk with one
  for (std::string_view w : dataflow::split_words(text)) {
    kv->add(const_cast<char*>(w.data()), static_cast<int>(w.size()), reinterpret_cast<char*>(&one), sizeof one);
  }
}

void sum_counts(char* key, int key_bytes, char* values, int n, int*, KeyValue* kv, void* ptr) {
  std::uint64_t total = 0;
  mrmpi_peer::for_each_block(*static_cast<MapReduce*>(ptr), values, n, [&](const char* v, int count) {
    for (int i = 0; i < count; ++i) {
      std::uint64_t c;
      std::memcpy(&c, v + static_cast<std::size_t>(i) * sizeof c, sizeof c);
      total += c;
    }
  });
  kv->add(key, key_bytes, reinterpret_cast<char*>(&total), sizeof total);
}

using word_counts = std::vector<std::pair<std::string, std::uint64_t>>;

void keep_word(char* key, int key_bytes, char* value, int, void* ptr) {
  std::uint64_t c;
  std::memcpy(&c, value, sizeof c);
  static_cast<word_counts*>(ptr)->emplace_back(std::string(key, static_cast<std::size_t>(key_bytes)), c);
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage = "mrmpi_word_count [--page-mib M] [--top K] FILE...";
  return mrmpi_peer::run_peer(argc, argv, usage, [](MapReduce& mr, const mrmpi_peer::options& o, int rank, int ranks) {
    // Chunks end at a newline found within 4096 bytes past their nominal end (lines are shorter).
    mr.map(2 * ranks, static_cast<int>(o.files.size()), const_cast<char**>(o.files.data()), 0, 0, '\n', 4096,
           emit_words, nullptr);
    mr.compress(sum_counts, &mr);
    mr.collate(nullptr);
    mr.reduce(sum_counts, &mr);
    mr.gather(1);
    word_counts all;
    mr.scan(keep_word, &all);
    if (rank != 0) return;
    auto by_rank = [](const auto& a, const auto& b) {
      if (a.second != b.second) return a.second > b.second;
      return a.first < b.first;
    };
    const std::size_t k = o.top == 0 ? all.size() : std::min<std::size_t>(o.top, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), by_rank);
    std::string out;
    for (std::size_t i = 0; i < k; ++i) out += std::to_string(all[i].second) + '\t' + all[i].first + '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
}
