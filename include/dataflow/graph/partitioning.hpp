// How sources split their input into partitions, and how batches are sized.
#pragma once

#include <dataflow/detail/config.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace dataflow::detail {

/// Items per batch pushed downstream: about 16 KiB of items, at least 16.
template <class T>
inline constexpr std::size_t batch_items = std::max<std::size_t>(16, 16384 / sizeof(T));

/// Partitions for an in-memory source of n items: about 32 per thread, so that a thread that
/// starts late or runs slow leaves little imbalance at the end, but no fewer than 1024 items
/// each so that the per-partition cost stays negligible.
std::size_t source_partitions(std::size_t n, std::size_t threads);

/// Returns [begin, end) of partition p when n items are split into `parts` near-equal ranges.
std::pair<std::size_t, std::size_t> partition_range(std::size_t n, std::size_t parts,
                                                    std::size_t p);

/// Output partitions for a shuffle: a power of two, at least 16 and eight per thread.
std::size_t shuffle_partitions(std::size_t requested, std::size_t threads);

/// Maps a 64-bit hash to a partition in [0, parts) from its high bits (the low bits pick hash
/// table slots, so the two choices stay independent).
inline std::size_t partition_of(std::uint64_t hash, std::size_t parts) noexcept {
  return static_cast<std::size_t>(((hash >> 32) * static_cast<std::uint64_t>(parts)) >> 32);
}

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/detail/int128.hpp>

namespace dataflow::detail {

DATAFLOW_INLINE std::size_t source_partitions(std::size_t n, std::size_t threads) {
  if (n == 0) return 0;
  std::size_t target = std::max<std::size_t>(1, threads * 32);
  std::size_t per = std::max<std::size_t>(1024, (n + target - 1) / target);
  return (n + per - 1) / per;
}

DATAFLOW_INLINE std::pair<std::size_t, std::size_t> partition_range(std::size_t n, std::size_t parts,
                                                                    std::size_t p) {
  auto at = [&](std::size_t i) {
    return static_cast<std::size_t>(static_cast<uint128>(n) * i / parts);
  };
  return {at(p), at(p + 1)};
}

DATAFLOW_INLINE std::size_t shuffle_partitions(std::size_t requested, std::size_t threads) {
  if (requested != 0) return requested;
  std::size_t p = 16;
  while (p < threads * 8 && p < 4096) p *= 2;
  return p;
}

}  // namespace dataflow::detail
#endif
