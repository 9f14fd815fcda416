// One thread's items of a shuffle input, a list per output partition, that spill to disk.
//
// The input stage of a keyed barrier appends each item to the list of its partition (copying
// the bytes of any views into the thread's arena). Under a memory budget, once the lists hold
// more than the thread may, they are written to one spill file (a segment per partition) and
// the memory is reused. spill_everything() (spill_policy.hpp) then ends such a stage.
#pragma once

#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/graph/context_state.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/block_list.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <optional>
#include <vector>

namespace dataflow::detail {

template <class T>
struct partition_lists {
  std::vector<block_list<T>> lists;
  arena bytes;
  std::vector<std::vector<spill_segment>> spilled;  // per partition
  std::size_t heap = 0;                             // heap memory the items own

  explicit partition_lists(std::size_t parts) : lists(parts), spilled(parts) {}
  std::optional<spill_writer> writer;  // made at the first spill

  const T& add(std::size_t p, const T& item) {
    const T& kept = lists[p].emplace_back(intern(bytes, item));
    if constexpr (may_own_heap<T>) heap += heap_bytes(kept);
    return kept;
  }

  /// Bytes the lists hold in memory.
  std::size_t held() const noexcept {
    std::size_t n = bytes.bytes_used() + heap;
    for (const auto& l : lists) n += l.bytes();
    return n;
  }

  /// Writes every list to the thread's spill file, a segment per partition, and frees them.
  /// Returns false when there was nothing to write.
  bool spill(context_state& ctx, const std::string& stage, std::size_t block_bytes) {
    bool any = false;
    for (const auto& l : lists) any = any || !l.empty();
    if (!any) return false;
    // One file for all of the thread's spills: a spill file holds a descriptor while it lives.
    if (!writer) writer.emplace(ctx.spill_dir(stage), stage, block_bytes);
    spill_writer& w = *writer;
    for (std::size_t p = 0; p < lists.size(); ++p) {
      if (lists[p].empty()) continue;
      lists[p].for_each_block([&](std::span<const T> block) {
        for (const T& x : block) w.add(x);
      });
      spilled[p].push_back(w.end_segment());
      lists[p].clear();
    }
    w.close();
    bytes.reset();
    heap = 0;
    return true;
  }
};

}  // namespace dataflow::detail
