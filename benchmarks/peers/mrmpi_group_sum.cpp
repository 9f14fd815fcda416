// group_sum written with MR-MPI (Sandia's MapReduce-MPI library, Debian's libmrmpi-dev): the
// peer of `mpirun -np N group_sum --threads 1 FILE`, in the library's idiom:
//   map      the CSV cut into chunks at newlines (two per rank), each row emitted as
//            (key, sum and count of its value), parsed by group_sum's own parser
//   compress each key's rows summed on the rank that emitted them (a combiner)
//   collate  each key sent to the rank that owns it, its partial sums grouped
//   reduce   the partial sums added
//   gather   the sums on rank 0, which sorts them by key and prints `key,sum,count` as
//            group_sum does: the outputs are identical
//
// Usage: mpirun -np N mrmpi_group_sum [--page-mib M] FILE
#include "mrmpi_common.hpp"

#include "group_sum.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mrmpi_peer::KeyValue;
using mrmpi_peer::MapReduce;
using examples::sum_count;

void emit_rows(int, char* chunk, int size, KeyValue* kv, void*) {
  std::string_view text(chunk, static_cast<std::size_t>(size));
  while (!text.empty() && text.back() == '\0') text.remove_suffix(1);  // MR-MPI ends a chunk with one
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (line.empty() || line == "key,value") continue;  // the header
    auto [key, value] = examples::parse_row(line);
    kv->add(reinterpret_cast<char*>(&key), sizeof key, reinterpret_cast<char*>(&value), sizeof value);
  }
}

void add_sums(char* key, int key_bytes, char* values, int n, int*, KeyValue* kv, void* ptr) {
  sum_count total;
  mrmpi_peer::for_each_block(*static_cast<MapReduce*>(ptr), values, n, [&](const char* v, int count) {
    for (int i = 0; i < count; ++i) {
      sum_count s;
      std::memcpy(&s, v + static_cast<std::size_t>(i) * sizeof s, sizeof s);
      total = examples::add(total, s);
    }
  });
  kv->add(key, key_bytes, reinterpret_cast<char*>(&total), sizeof total);
}

void keep_row(char* key, int, char* value, int, void* ptr) {
  examples::group_row r{};
  sum_count s;
  std::memcpy(&r.key, key, sizeof r.key);
  std::memcpy(&s, value, sizeof s);
  r.sum = s.sum;
  r.count = s.count;
  static_cast<std::vector<examples::group_row>*>(ptr)->push_back(r);
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage = "mrmpi_group_sum [--page-mib M] FILE";
  return mrmpi_peer::run_peer(argc, argv, usage, [](MapReduce& mr, const mrmpi_peer::options& o, int rank, int ranks) {
    mr.map(2 * ranks, static_cast<int>(o.files.size()), const_cast<char**>(o.files.data()), 0, 0, '\n', 4096,
           emit_rows, nullptr);
    mr.compress(add_sums, &mr);
    mr.collate(nullptr);
    mr.reduce(add_sums, &mr);
    mr.gather(1);
    std::vector<examples::group_row> rows;
    mr.scan(keep_row, &rows);
    if (rank != 0) return;
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    std::string out;
    for (const auto& r : rows) fmt::format_to(std::back_inserter(out), "{}\n", r);
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
}
