// How barriers share the memory budget, and how they split spilled data that is still too big.
//
// A barrier's building state (the per-thread hash tables, lists or sort buffers of its input
// stage) may hold half the budget, split evenly between the threads; the other half is left to
// what the run holds around it (the outputs a consumer is reading, read buffers, the next
// barrier's state). When a thread's state grows past its share it writes it to a spill file
// and starts again. A spilled partition is processed when it is read, by one thread with the
// same share; when it is still too big, it is split by a hash of a different seed into
// `fan_out` smaller ones (recursively), so any number of distinct keys finishes in bounded
// memory.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/graph/context_state.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace dataflow::detail {

struct spill_policy {
  /// Bytes one thread's building state may hold; the maximum when there is no budget.
  std::size_t thread_share = std::numeric_limits<std::size_t>::max();
  /// Payload bytes per spill block.
  std::size_t block_bytes = 256 * 1024;
  /// Sorted runs merged at once (each open run holds a block).
  std::size_t fan_in = 64;
  /// Spill files one stage may hold open at once (half the process's descriptors).
  std::size_t open_files = std::numeric_limits<std::size_t>::max();

  static constexpr std::size_t fan_out = 16;
  static constexpr unsigned max_level = 8;

  bool limited() const noexcept { return thread_share != std::numeric_limits<std::size_t>::max(); }

  static spill_policy for_context(const context_state& ctx);
};

/// Output partitions of a shuffle in `ctx`: under a budget of 64 MiB or more at least 128, so that a spilled
/// partition (a 1/128 share of the data) usually fits a thread's share when it is read back,
/// instead of being split on disk once more.
std::size_t spilling_shuffle_partitions(std::size_t requested, const context_state& ctx);

/// Ends an input stage in which some thread spilled: every thread spills what it still holds
/// too (in parallel), so that each partition is then read from disk alone, by one thread, however
/// many consumers read it. Returns each partition's segments. Local needs spill() and
/// `spilled`, a vector of segments per partition.
template <class Local>
std::vector<std::vector<spill_segment>> spill_everything(run_state& run, per_thread<Local>& state,
                                                         std::size_t parts,
                                                         const std::string& label) {
  std::vector<Local*> locals;
  state.for_each([&](Local& l) { locals.push_back(&l); });
  parallel_partitions(run, locals.size(), label + " (spill)",
                      [&](std::size_t i) { locals[i]->spill(); });
  std::vector<std::vector<spill_segment>> segments(parts);
  for (Local* l : locals) {
    for (std::size_t p = 0; p < parts; ++p) {
      for (auto& seg : l->spilled[p]) segments[p].push_back(std::move(seg));
    }
  }
  return segments;
}

/// Picks one of `parts` sub-partitions for a key hash at recursion level `level` (>= 1), with
/// bits independent of those that chose the partition and the table slot.
inline std::size_t sub_partition_of(std::uint64_t hash, unsigned level, std::size_t parts) noexcept {
  const std::uint64_t h = mix64(hash + 0x9e3779b97f4a7c15ull * level);
  return static_cast<std::size_t>(((h >> 32) * static_cast<std::uint64_t>(parts)) >> 32);
}

/// Writes items into `fan_out` sub-partitions by key hash; each sub-partition is one segment.
template <class T>
class spill_router {
 public:
  spill_router(context_state& ctx, const std::string& stage, const spill_policy& policy,
               unsigned level)
      : level_(level) {
    auto dir = ctx.spill_dir(stage);
    // Its fan_out write buffers together take at most a quarter of the thread's share.
    const std::size_t block = std::clamp<std::size_t>(
        policy.thread_share / 4 / spill_policy::fan_out, 4 * 1024, policy.block_bytes);
    writers_.reserve(spill_policy::fan_out);
    for (std::size_t i = 0; i < spill_policy::fan_out; ++i) writers_.emplace_back(dir, stage, block);
  }

  void add(std::uint64_t hash, const T& x) {
    if (items_ == 0) first_hash_ = hash;
    one_hash_ = one_hash_ && hash == first_hash_;
    ++items_;
    writers_[sub_partition_of(hash, level_, writers_.size())].add(x);
  }

  /// True when every item had the same hash: one hot key, which no split separates.
  bool one_hash() const noexcept { return one_hash_; }

  /// Ends the sub-partitions; empty ones are left out.
  std::vector<spill_segment> finish() {
    std::vector<spill_segment> out;
    for (auto& w : writers_) {
      spill_segment s = w.end_segment();
      w.close();
      if (s.items > 0) out.push_back(std::move(s));
    }
    writers_.clear();
    return out;
  }

 private:
  std::vector<spill_writer> writers_;
  unsigned level_;
  std::uint64_t items_ = 0;
  std::uint64_t first_hash_ = 0;
  bool one_hash_ = true;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/storage/read_buffers.hpp>

#include <sys/resource.h>

namespace dataflow::detail {

DATAFLOW_INLINE spill_policy spill_policy::for_context(const context_state& ctx) {
  spill_policy p;
  const std::size_t budget = ctx.memory_budget;
  if (budget == 0) return p;
  const std::size_t threads = std::max<std::size_t>(1, ctx.threads());
  // What caches and a running stream's state hold and the sources' read buffers (1 MiB per
  // thread) come off the top; the barrier keeps at least a quarter of the budget whatever they
  // take.
  const std::size_t taken = ctx.cached_bytes.load(std::memory_order_relaxed) +
                            ctx.stream_state_bytes.load(std::memory_order_relaxed) + threads * read_buffer_bytes;
  const std::size_t left = budget > taken ? std::max(budget - taken, budget / 4) : budget / 4;
  p.thread_share = std::max<std::size_t>(left / 2 / threads, 64 * 1024);
  p.block_bytes = std::clamp<std::size_t>(budget / 256, 4 * 1024, 512 * 1024);
  p.fan_in = std::clamp<std::size_t>(budget / 2 / (p.block_bytes + 16 * 1024), 2, 256);
  // Every open run holds a file descriptor: stay well inside the process's limit.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    p.open_files = static_cast<std::size_t>(files.rlim_cur) / 2;
    p.fan_in = std::max<std::size_t>(2, std::min(p.fan_in, p.open_files));
  }
  return p;
}

DATAFLOW_INLINE std::size_t spilling_shuffle_partitions(std::size_t requested, const context_state& ctx) {
  const std::size_t parts = shuffle_partitions(requested, ctx.threads());
  const bool big = ctx.memory_budget >= (std::size_t{64} << 20);  // small budgets: small tables
  return requested == 0 && big ? std::max<std::size_t>(parts, 128) : parts;
}

}  // namespace dataflow::detail
#endif
