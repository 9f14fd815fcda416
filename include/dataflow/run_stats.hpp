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
  // The figures below include the end of the node the stage feeds (a reduction's merge, its
  // last spills), and on a job of several ranks all that its exchange spilled: every byte a
  // run spills counts in one of its stages.
  double wall_seconds = 0;
  double cpu_seconds = 0;  ///< of the whole process while the stage ran
  std::uint64_t spilled_bytes = 0;  ///< written to spill files while the stage ran
  std::uint64_t spill_files = 0;
  /// The most bytes charged to the memory budget at once while the stage ran: the state of the
  /// operator it feeds as it builds (hash tables, lists, sort buffers), tables reading spills
  /// back, and the context's caches. Counted with or without a budget.
  std::uint64_t peak_memory = 0;
  // On a job of several ranks (graph/cluster.hpp) the figures above are the whole job's: counts,
  // bytes, CPU time, spills and memory summed over the ranks, wall time and the largest
  // partition the most of any rank.
  std::size_t ranks = 1;                  ///< the ranks whose figures these are
  std::uint64_t largest_rank_items = 0;   ///< items_in of the rank that had the most
  std::uint64_t bytes_sent = 0;           ///< by the stage's exchange to other ranks
  std::uint64_t bytes_received = 0;       ///< by the stage's exchange from other ranks
  double comm_seconds = 0;                ///< in the exchange, the longest of any rank

  /// Largest partition over the median one (1 when even; 0 for no items).
  double skew() const noexcept;
  /// The busiest rank's items over the mean of the ranks (1 when even; 0 for no items).
  double rank_skew() const noexcept;
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
  /// The ranks of the job whose figures these are: on a job of several ranks, a run that
  /// succeeds reports the whole job (each stage's figures summed over the ranks, see
  /// stage_stats; wall time the longest rank's, peak memory the ranks' peaks added). A run that
  /// fails reports this rank alone.
  std::size_t ranks = 1;

  /// An aligned table, a line per stage and a total.
  std::string table() const;

  /// The same figures as one JSON object.
  std::string json() const;

 private:
  static std::string quoted(const std::string& s);
};

namespace detail {
/// The whole job's figures from each rank's (indexed by rank; `me` is this one). A stage is
/// combined when every rank ran it under the same name at the same place; a stage only some
/// ranks ran (a cache filled on some of them) keeps this rank's figures (ranks = 1).
run_stats job_wide(const std::vector<run_stats>& each, std::size_t me);
}  // namespace detail

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

DATAFLOW_INLINE double stage_stats::rank_skew() const noexcept {
  if (items_in == 0 || ranks == 0) return 0;
  return static_cast<double>(largest_rank_items) * static_cast<double>(ranks) / static_cast<double>(items_in);
}

DATAFLOW_INLINE std::string run_stats::table() const {
  std::size_t width = 5;
  for (const auto& s : stages) width = std::max(width, s.name.size());
  width = std::min<std::size_t>(width, 72);
  const bool job = ranks > 1;  // three more columns: the exchange's bytes and time, rank skew
  auto out = fmt::memory_buffer();
  auto line = [&](const std::string& name, const std::string& in, const std::string& outs,
                  const std::string& bin, const std::string& bout, const std::string& parts,
                  const std::string& skew, const std::string& wall, const std::string& cpu,
                  const std::string& spilled, const std::string& peak, const std::string& sent,
                  const std::string& comm, const std::string& rank_skew) {
    fmt::format_to(std::back_inserter(out),
                   "{:<{}}  {:>12}  {:>12}  {:>10}  {:>10}  {:>5}  {:>6}  {:>8}  {:>8}  {:>10}  {:>10}",
                   name.size() > width ? name.substr(0, width - 3) + "..." : name, width, in, outs,
                   bin, bout, parts, skew, wall, cpu, spilled, peak);
    if (job) fmt::format_to(std::back_inserter(out), "  {:>10}  {:>8}  {:>9}", sent, comm, rank_skew);
    fmt::format_to(std::back_inserter(out), "\n");
  };
  const std::string threads_text = fmt::format("{} thread{}", threads, threads == 1 ? "" : "s");
  fmt::format_to(std::back_inserter(out), "{} ({}{}){}\n", action,
                 job ? fmt::format("{} ranks x {}", ranks, threads_text) : threads_text,
                 memory_budget ? fmt::format(", budget {}{}", format_size(memory_budget), job ? " per rank" : "") : "",
                 failed ? " FAILED" : "");
  line("stage", "items in", "items out", "bytes in", "bytes out", "parts", "skew", "wall s",
       "cpu s", "spilled", "peak mem", "sent", "comm s", "rank skew");
  for (const auto& s : stages) {
    line(s.name, fmt::format("{}", s.items_in), fmt::format("{}", s.items_out),
         format_size(s.bytes_in), format_size(s.bytes_out), fmt::format("{}", s.partitions),
         fmt::format("{:.2f}", s.skew()), fmt::format("{:.3f}", s.wall_seconds),
         fmt::format("{:.3f}", s.cpu_seconds), format_size(s.spilled_bytes),
         format_size(s.peak_memory), format_size(s.bytes_sent), fmt::format("{:.3f}", s.comm_seconds),
         fmt::format("{:.2f}", s.rank_skew()));
  }
  line("total", "", "", "", "", "", "", fmt::format("{:.3f}", wall_seconds),
       fmt::format("{:.3f}", cpu_seconds), format_size(spilled_bytes), format_size(peak_memory), "", "", "");
  return fmt::to_string(out);
}

DATAFLOW_INLINE std::string run_stats::json() const {
  auto out = fmt::memory_buffer();
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 "{{\"action\":{},\"threads\":{},\"memory_budget\":{},\"wall_seconds\":{},"
                 "\"cpu_seconds\":{},\"spilled_bytes\":{},\"spill_files\":{},"
                 "\"peak_memory\":{},\"failed\":{},\"ranks\":{},\"stages\":[",
                 quoted(action), threads, memory_budget, wall_seconds, cpu_seconds, spilled_bytes,
                 spill_files, peak_memory, failed ? "true" : "false", ranks);
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    fmt::format_to(it,
                   "{}{{\"name\":{},\"items_in\":{},\"items_out\":{},\"bytes_in\":{},"
                   "\"bytes_out\":{},\"partitions\":{},\"largest_partition\":{},"
                   "\"median_partition\":{},\"skew\":{},\"wall_seconds\":{},"
                   "\"cpu_seconds\":{},\"spilled_bytes\":{},\"spill_files\":{},"
                   "\"peak_memory\":{},\"ranks\":{},\"largest_rank_items\":{},\"rank_skew\":{},"
                   "\"bytes_sent\":{},\"bytes_received\":{},\"comm_seconds\":{}}}",
                   i ? "," : "", quoted(s.name), s.items_in, s.items_out, s.bytes_in,
                   s.bytes_out, s.partitions, s.largest_partition, s.median_partition, s.skew(),
                   s.wall_seconds, s.cpu_seconds, s.spilled_bytes, s.spill_files,
                   s.peak_memory, s.ranks, s.largest_rank_items, s.rank_skew(), s.bytes_sent,
                   s.bytes_received, s.comm_seconds);
  }
  fmt::format_to(it, "]}}");
  return fmt::to_string(out);
}

DATAFLOW_INLINE std::string run_stats::quoted(const std::string& s) { return detail::json_string(s); }

DATAFLOW_INLINE run_stats detail::job_wide(const std::vector<run_stats>& each, std::size_t me) {
  run_stats job = each[me];
  job.ranks = each.size();
  job.wall_seconds = job.cpu_seconds = 0;
  job.spilled_bytes = job.spill_files = job.peak_memory = 0;
  for (const run_stats& r : each) {
    job.wall_seconds = std::max(job.wall_seconds, r.wall_seconds);
    job.cpu_seconds += r.cpu_seconds;
    job.spilled_bytes += r.spilled_bytes;
    job.spill_files += r.spill_files;
    job.peak_memory += r.peak_memory;
    job.failed = job.failed || r.failed;
  }
  for (std::size_t i = 0; i < job.stages.size(); ++i) {
    stage_stats& s = job.stages[i];
    const bool everywhere = std::all_of(each.begin(), each.end(), [&](const run_stats& r) {
      return i < r.stages.size() && r.stages[i].name == s.name;
    });
    if (!everywhere) continue;
    stage_stats sum;
    sum.name = s.name;
    sum.ranks = each.size();
    std::vector<std::uint64_t> medians;
    for (const run_stats& r : each) {
      const stage_stats& x = r.stages[i];
      sum.items_in += x.items_in;
      sum.items_out += x.items_out;
      sum.bytes_in += x.bytes_in;
      sum.bytes_out += x.bytes_out;
      sum.partitions += x.partitions;
      sum.largest_partition = std::max(sum.largest_partition, x.largest_partition);
      if (x.median_partition) medians.push_back(x.median_partition);
      sum.wall_seconds = std::max(sum.wall_seconds, x.wall_seconds);
      sum.cpu_seconds += x.cpu_seconds;
      sum.spilled_bytes += x.spilled_bytes;
      sum.spill_files += x.spill_files;
      sum.peak_memory += x.peak_memory;
      sum.largest_rank_items = std::max(sum.largest_rank_items, x.items_in);
      sum.bytes_sent += x.bytes_sent;
      sum.bytes_received += x.bytes_received;
      sum.comm_seconds = std::max(sum.comm_seconds, x.comm_seconds);
    }
    // The median of the ranks' medians: the typical partition, so that skew still compares the
    // fullest partition with it.
    if (!medians.empty()) {
      std::sort(medians.begin(), medians.end());
      sum.median_partition = medians[medians.size() / 2];
    }
    s = std::move(sum);
  }
  return job;
}

}  // namespace dataflow
#endif
