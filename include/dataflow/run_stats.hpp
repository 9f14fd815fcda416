// What a run did, stage by stage: items and bytes in and out, partitions and their skew, wall
// and CPU time, bytes and files spilled, peak memory charged to the budget. context::last_run() returns the figures of the latest action;
// table() prints them aligned, json() as one JSON object.
//
// @code
// auto top = words.reduce_by_key(std::plus<>{}).top_k(10, by_count);
// std::fputs(ctx.last_run().table().c_str(), stderr);
// @endcode
#pragma once

#include <dataflow/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dataflow {

/// One stage: a node's output read partition by partition, through the fused local operators,
/// into the next node (a shuffle, a cache, a join side) or the action.
struct stage_stats {
  /// "read_lines#1 -> flat_map#2 -> map#3 -> reduce_by_key#4".
  std::string name;
  std::uint64_t items_in = 0;   ///< items the input node pushed
  std::uint64_t items_out = 0;  ///< items that reached the consumer, after the local operators
  /// Data bytes of those items: numbers and plain structs their size, strings and views their
  /// characters, pairs, tuples, optionals, vectors and spans their members' (see item_bytes.hpp).
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::size_t partitions = 0;
  std::uint64_t largest_partition = 0;  ///< items in the fullest input partition
  std::uint64_t median_partition = 0;   ///< items in the median partition of those not empty
  double wall_seconds = 0;
  double cpu_seconds = 0;  ///< of the whole process while the stage ran
  std::uint64_t spilled_bytes = 0;  ///< written to spill files while the stage ran
  std::uint64_t spill_files = 0;
  /// The most bytes charged to the memory budget at once while the stage ran: the state of the
  /// operator it feeds as it builds (hash tables, lists, sort buffers), tables reading spills
  /// back, and the context's caches. Counted with or without a budget.
  std::uint64_t peak_memory = 0;

  /// Largest partition over the median one (1 when even; 0 for no items).
  double skew() const noexcept;
};

/// One action's run.
struct run_stats {
  std::string action;  ///< "count#7"
  std::size_t threads = 0;
  std::size_t memory_budget = 0;
  double wall_seconds = 0;  ///< the whole action, merges and spill reads included
  double cpu_seconds = 0;
  std::uint64_t spilled_bytes = 0;
  std::uint64_t spill_files = 0;
  std::uint64_t peak_memory = 0;  ///< the most of any stage or merge phase
  bool failed = false;  ///< the action threw; stages lists the ones that finished
  std::vector<stage_stats> stages;

  /// An aligned table, a line per stage and a total.
  std::string table() const;

  /// The same figures as one JSON object.
  std::string json() const;

 private:
  static std::string quoted(const std::string& s);
};

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/detail/json.hpp>
#include <dataflow/memory.hpp>

#include <dataflow/detail/format.hpp>

#include <algorithm>

namespace dataflow {

DATAFLOW_INLINE double stage_stats::skew() const noexcept {
  if (largest_partition == 0 || median_partition == 0) return 0;
  return static_cast<double>(largest_partition) / static_cast<double>(median_partition);
}

DATAFLOW_INLINE std::string run_stats::table() const {
  std::size_t width = 5;
  for (const auto& s : stages) width = std::max(width, s.name.size());
  width = std::min<std::size_t>(width, 72);
  auto out = fmt::memory_buffer();
  auto line = [&](const std::string& name, const std::string& in, const std::string& outs,
                  const std::string& bin, const std::string& bout, const std::string& parts,
                  const std::string& skew, const std::string& wall, const std::string& cpu,
                  const std::string& spilled, const std::string& peak) {
    fmt::format_to(std::back_inserter(out),
                   "{:<{}}  {:>12}  {:>12}  {:>10}  {:>10}  {:>5}  {:>6}  {:>8}  {:>8}  {:>10}  {:>10}\n",
                   name.size() > width ? name.substr(0, width - 3) + "..." : name, width, in, outs,
                   bin, bout, parts, skew, wall, cpu, spilled, peak);
  };
  fmt::format_to(std::back_inserter(out), "{} ({} thread{}{}){}\n", action, threads,
                 threads == 1 ? "" : "s",
                 memory_budget ? fmt::format(", budget {}", format_size(memory_budget)) : "",
                 failed ? " FAILED" : "");
  line("stage", "items in", "items out", "bytes in", "bytes out", "parts", "skew", "wall s",
       "cpu s", "spilled", "peak mem");
  for (const auto& s : stages) {
    line(s.name, fmt::format("{}", s.items_in), fmt::format("{}", s.items_out),
         format_size(s.bytes_in), format_size(s.bytes_out), fmt::format("{}", s.partitions),
         fmt::format("{:.2f}", s.skew()), fmt::format("{:.3f}", s.wall_seconds),
         fmt::format("{:.3f}", s.cpu_seconds), format_size(s.spilled_bytes),
         format_size(s.peak_memory));
  }
  line("total", "", "", "", "", "", "", fmt::format("{:.3f}", wall_seconds),
       fmt::format("{:.3f}", cpu_seconds), format_size(spilled_bytes), format_size(peak_memory));
  return fmt::to_string(out);
}

DATAFLOW_INLINE std::string run_stats::json() const {
  auto out = fmt::memory_buffer();
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 "{{\"action\":{},\"threads\":{},\"memory_budget\":{},\"wall_seconds\":{},"
                 "\"cpu_seconds\":{},\"spilled_bytes\":{},\"spill_files\":{},"
                 "\"peak_memory\":{},\"failed\":{},\"stages\":[",
                 quoted(action), threads, memory_budget, wall_seconds, cpu_seconds, spilled_bytes,
                 spill_files, peak_memory, failed ? "true" : "false");
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    fmt::format_to(it,
                   "{}{{\"name\":{},\"items_in\":{},\"items_out\":{},\"bytes_in\":{},"
                   "\"bytes_out\":{},\"partitions\":{},\"largest_partition\":{},"
                   "\"median_partition\":{},\"skew\":{},\"wall_seconds\":{},"
                   "\"cpu_seconds\":{},\"spilled_bytes\":{},\"spill_files\":{},"
                   "\"peak_memory\":{}}}",
                   i ? "," : "", quoted(s.name), s.items_in, s.items_out, s.bytes_in,
                   s.bytes_out, s.partitions, s.largest_partition, s.median_partition, s.skew(),
                   s.wall_seconds, s.cpu_seconds, s.spilled_bytes, s.spill_files,
                   s.peak_memory);
  }
  fmt::format_to(it, "]}}");
  return fmt::to_string(out);
}

DATAFLOW_INLINE std::string run_stats::quoted(const std::string& s) { return detail::json_string(s); }

}  // namespace dataflow
#endif
