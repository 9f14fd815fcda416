// dataflow: typed, parallel dataflow pipelines on one machine, over oneTBB.
//
// Include this header to get the whole library:
//
//   dataflow::context ctx;
//   auto top = ctx.read_lines("corpus/*.txt")
//                  .flat_map(dataflow::split_words)
//                  .map([](std::string_view w) { return std::pair{w, 1ull}; })
//                  .reduce_by_key(std::plus<>{})
//                  .top_k(10, [](const auto& a, const auto& b) { return a.second > b.second; });
#pragma once

#define DATAFLOW_VERSION_MAJOR 0
#define DATAFLOW_VERSION_MINOR 1
#define DATAFLOW_VERSION_PATCH 0

#include <dataflow/calendar.hpp>
#include <dataflow/codec.hpp>
#include <dataflow/context.hpp>
#include <dataflow/csv.hpp>
#include <dataflow/dataset.hpp>
#include <dataflow/decimal.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/memory.hpp>
#include <dataflow/progress.hpp>
#include <dataflow/run_stats.hpp>
#include <dataflow/signals.hpp>
#include <dataflow/text.hpp>

#include <dataflow/sources/generate.hpp>
#include <dataflow/sources/range.hpp>
#include <dataflow/sources/read_lines.hpp>
#include <dataflow/sources/read_csv.hpp>
#include <dataflow/sources/read_records.hpp>

#include <dataflow/ops/filter.hpp>
#include <dataflow/ops/flat_map.hpp>
#include <dataflow/ops/map.hpp>
#include <dataflow/ops/name.hpp>
#include <dataflow/ops/keys_values.hpp>
#include <dataflow/ops/concat.hpp>
#include <dataflow/ops/handle.hpp>
#include <dataflow/ops/zip_with_index.hpp>
#include <dataflow/ops/scan.hpp>
#include <dataflow/ops/window.hpp>

#include <dataflow/ops/cache.hpp>
#include <dataflow/ops/group_by_key.hpp>
#include <dataflow/ops/join.hpp>
#include <dataflow/ops/partition_by.hpp>
#include <dataflow/ops/reduce_by_key.hpp>
#include <dataflow/ops/count_by.hpp>
#include <dataflow/ops/sort.hpp>

#include <dataflow/ops/collect.hpp>
#include <dataflow/ops/count.hpp>
#include <dataflow/ops/explain.hpp>
#include <dataflow/ops/for_each.hpp>
#include <dataflow/ops/for_each_group.hpp>
#include <dataflow/ops/reduce.hpp>
#include <dataflow/ops/min_max.hpp>
#include <dataflow/ops/take.hpp>
#include <dataflow/ops/top_k.hpp>
#include <dataflow/ops/write_lines.hpp>
#include <dataflow/ops/write_csv.hpp>

namespace dataflow {

/// The library's version as {major, minor, patch}.
struct version_info {
  int major, minor, patch;
};
constexpr version_info version() noexcept {
  return {DATAFLOW_VERSION_MAJOR, DATAFLOW_VERSION_MINOR, DATAFLOW_VERSION_PATCH};
}

}  // namespace dataflow
