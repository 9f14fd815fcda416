// The final merge of a spilled sort split into key ranges that threads merge at once, each an
// output partition in order (sort.hpp). The first items of every run's blocks, sorted, give
// the splitters, and each run is cut at the first item not below each splitter (found in the
// one block where it can be). Cuts are item positions, made once and kept in order, so every
// item goes to exactly one range whatever the comparator says.
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/safe_sort.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

template <class T>
class merge_cuts {
 public:
  bool empty() const noexcept { return cuts_.empty(); }
  /// The key ranges (output partitions): 1 when the merge is not split.
  std::size_t ranges() const noexcept { return std::max<std::size_t>(cuts_.size(), 2) - 1; }
  void clear() noexcept {
    cuts_.clear();
    readers_.clear();
  }

  /// Splits the merge of `runs` (sorted by `lt`, their blocks' first items kept as fences) into
  /// ranges of about `target` bytes, at least two a thread, at most one for two blocks. Leaves
  /// it whole when a run has no fences or the runs are too small to split.
  template <class Less>
  void split(run_state& run, const std::vector<spill_segment>& runs, const Less& lt, std::uint64_t target,
             const std::string& label) {
    clear();
    std::uint64_t bytes = 0;
    std::size_t blocks = 0;
    for (const spill_segment& r : runs) {
      if (!r.fences) return;
      bytes += r.bytes;
      blocks += r.fences->size();
    }
    const std::size_t threads = run.ctx().threads();
    const std::size_t parts = std::min<std::size_t>(std::max<std::uint64_t>(bytes / target, 2 * threads), blocks / 2);
    if (parts < 2) return;
    std::vector<std::vector<T>> firsts;  // each run's blocks' first items
    std::vector<T> splitters;
    arena fence_bytes;  // what decoding the fences needed beside them
    try {
      std::vector<const T*> all;
      for (const spill_segment& r : runs) {
        auto& f = firsts.emplace_back();
        f.reserve(r.fences->size());
        for (const spill_fence& fence : *r.fences) {
          byte_reader in(fence.first.data(), fence.first.data() + fence.first.size(), fence_bytes);
          f.push_back(spill_decode<T>(in));  // views into the fence, which the runs keep
        }
      }
      for (const auto& f : firsts) {
        for (const T& x : f) all.push_back(&x);
      }
      safe_sort(all.data(), all.data() + all.size(), [&](const T* a, const T* b) { return lt(*a, *b); });
      for (std::size_t k = 1; k < parts; ++k) {
        const T& x = *all[k * all.size() / parts];
        if (splitters.empty() || lt(splitters.back(), x)) splitters.push_back(x);  // none twice
      }
    } catch (const op_failure& f) {
      throw_stage_error(f, label + " (split the merge)");
    }
    if (splitters.empty()) return;
    // cuts_[k][r]: where range k begins in run r; range k is [cuts_[k][r], cuts_[k + 1][r]).
    const std::size_t ranges = splitters.size() + 1;
    cuts_.assign(ranges + 1, std::vector<std::uint64_t>(runs.size(), 0));
    for (std::size_t r = 0; r < runs.size(); ++r) cuts_[ranges][r] = runs[r].items;
    parallel_partitions(run, splitters.size(), label + " (split the merge)", [&](std::size_t k) {
      for (std::size_t r = 0; r < runs.size(); ++r) cuts_[k + 1][r] = cut(runs[r], firsts[r], splitters[k], lt, label);
    });
    for (std::size_t k = 1; k <= ranges; ++k) {
      for (std::size_t r = 0; r < runs.size(); ++r) cuts_[k][r] = std::max(cuts_[k][r], cuts_[k - 1][r]);
    }
    for (std::size_t r = 0; r < runs.size(); ++r) {
      readers_.emplace_back(std::make_unique<std::atomic<std::uint32_t>[]>(runs[r].fences->size()));
      for (std::size_t k = 0; k < ranges; ++k) {
        if (const auto blocks = blocks_of(k, r, runs[r])) {
          for (std::size_t b = blocks->first; b <= blocks->second; ++b) readers_[r][b].fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
  }

  /// Notes that range p has been read for the last time, and gives back the space (and the
  /// page cache) of the blocks of `runs` that no range will read any more: a block shared by
  /// neighbouring ranges goes with the last of them. The file written from the merge then
  /// takes pages just freed, where fresh ones cost far more (see big_alloc.hpp). Each range
  /// at most once; ranges may end in any order, on any thread.
  void release_range(std::size_t p, const std::vector<spill_segment>& runs) noexcept {
    if (readers_.size() != runs.size() || p + 1 >= cuts_.size()) return;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const auto blocks = blocks_of(p, r, runs[r]);
      if (!blocks) continue;
      // Stretches of blocks [from, b) that no range reads any more, one punch each.
      auto release = [&](std::size_t from, std::size_t to) {
        if (from < to) release_space(fenced_blocks(runs[r], from, to));
      };
      std::size_t from = blocks->first;
      for (std::size_t b = blocks->first; b <= blocks->second; ++b) {
        if (readers_[r][b].fetch_sub(1, std::memory_order_acq_rel) != 1) {  // still read
          release(from, b);
          from = b + 1;
        }
      }
      release(from, blocks->second + 1);
    }
  }

  /// The pieces of `runs` (the blocks holding items of range p) and, for each, the items to
  /// skip at its start and the items to take (run_merger's limits).
  void pieces_of(std::size_t p, const std::vector<spill_segment>& runs, std::vector<spill_segment>& pieces,
                 std::vector<std::pair<std::uint64_t, std::uint64_t>>& limits) const {
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const auto blocks = blocks_of(p, r, runs[r]);
      if (!blocks) continue;
      const auto& fences = *runs[r].fences;
      pieces.push_back(fenced_blocks(runs[r], blocks->first, blocks->second + 1));
      limits.emplace_back(cuts_[p][r] - fences[blocks->first].items_before, cuts_[p + 1][r] - cuts_[p][r]);
    }
  }

 private:
  /// The position in `run` of its first item not below `s`: in the last block that starts
  /// below s (or at 0 when none does).
  template <class Less>
  static std::uint64_t cut(const spill_segment& run, const std::vector<T>& firsts, const T& s, const Less& lt,
                           const std::string& label) {
    const auto& fences = *run.fences;
    std::size_t b = static_cast<std::size_t>(
        std::partition_point(firsts.begin(), firsts.end(), [&](const T& f) { return lt(f, s); }) - firsts.begin());
    if (b == 0) return 0;
    --b;
    spill_reader in(fenced_blocks(run, b, b + 1), label);
    std::uint64_t at = fences[b].items_before;
    if (!in.next_block()) return at;
    byte_reader rd = in.reader();
    for (std::size_t i = in.block_items(); i > 0; --i, ++at) {
      if (!lt(spill_decode<T>(rd), s)) return at;
    }
    return at;  // the block's end: the next block's start
  }

  /// The first and last blocks of run r that hold items of range p, if any.
  std::optional<std::pair<std::size_t, std::size_t>> blocks_of(std::size_t p, std::size_t r,
                                                               const spill_segment& run) const {
    const std::uint64_t from = cuts_[p][r], to = cuts_[p + 1][r];
    if (to <= from) return std::nullopt;
    const auto& fences = *run.fences;
    // The last block that starts at or before each end.
    auto block_of = [&](std::uint64_t item) {
      return static_cast<std::size_t>(std::upper_bound(fences.begin(), fences.end(), item,
                                                       [](std::uint64_t i, const spill_fence& f) { return i < f.items_before; }) -
                                      fences.begin()) - 1;
    };
    return std::pair{block_of(from), block_of(to - 1)};
  }

  std::vector<std::vector<std::uint64_t>> cuts_;
  // readers_[r][b]: the ranges yet to be read that read block b of run r (release_range).
  std::vector<std::unique_ptr<std::atomic<std::uint32_t>[]>> readers_;
};

}  // namespace dataflow::detail
