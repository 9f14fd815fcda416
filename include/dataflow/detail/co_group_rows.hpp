// co_group's work on one partition: the keys of both sides numbered in one hash table, and
// each side's values laid out per key by a counting sort, so every group is a pair of spans.
#pragma once

#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/join_table.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/item_buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// Emits (key, (values of the left rows, values of the right rows)) once per key of either
/// side, the values laid out side by side per key. The spans point into buffers of this call:
/// the batch is handed over (e.flush()) before they go, or dropped when the run stops.
template <class K, class VL, class VR, class L, class R, class Emitter>
void co_group_rows(const std::string& label, const std::vector<const L*>& left,
                   const std::vector<const R*>& right, Emitter& e) {
  if (left.empty() && right.empty()) return;
  check_rows(left.size());
  check_rows(right.size());
  struct entry {
    K key;  // a view into a row for view keys: rows outlive the table
    std::uint32_t id;
  };
  auto key_of = [](const entry& x) -> const K& { return x.key; };
  hash_table<entry> table;
  std::vector<std::uint32_t> lcount, rcount;
  auto number = [&](const auto& key) -> std::uint32_t {
    auto [en, made] = invoke_user(label, [&] {
      return table.find_or_emplace(table_hash(key), key, key_of, [&] {
        return entry{K(key), static_cast<std::uint32_t>(lcount.size())};
      });
    });
    if (made) {
      lcount.push_back(0);
      rcount.push_back(0);
    }
    return en->id;
  };
  std::vector<std::uint32_t> lgroup(left.size()), rgroup(right.size());
  for (std::size_t i = 0; i < left.size(); ++i) ++lcount[lgroup[i] = number(left[i]->first)];
  for (std::size_t i = 0; i < right.size(); ++i) ++rcount[rgroup[i] = number(right[i]->first)];

  auto lay_out = [](const auto& items, const std::vector<std::uint32_t>& group,
                    const std::vector<std::uint32_t>& count, auto& values,
                    std::vector<std::uint32_t>& start) {
    start.resize(count.size());
    std::uint32_t at = 0;
    for (std::size_t g = 0; g < count.size(); ++g) start[g] = std::exchange(at, at + count[g]);
    std::vector<std::uint32_t> next = start;
    std::vector<std::uint32_t> order(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      order[next[group[i]]++] = static_cast<std::uint32_t>(i);
    }
    values.reserve(items.size());
    for (std::uint32_t i : order) values.emplace_back(items[i]->second);
  };
  item_buffer<VL> lvalues;
  item_buffer<VR> rvalues;
  std::vector<std::uint32_t> lstart, rstart;
  lay_out(left, lgroup, lcount, lvalues, lstart);
  lay_out(right, rgroup, rcount, rvalues, rstart);
  std::vector<const K*> keys(lcount.size(), nullptr);
  table.for_each([&](std::uint64_t, entry& en) { keys[en.id] = &en.key; });
  for (std::size_t g = 0; g < keys.size(); ++g) {
    if (stop_requested()) {
      e.buf.clear();  // its spans point into lvalues and rvalues, which go now
      return;
    }
    e.emit(*keys[g], std::pair<std::span<const VL>, std::span<const VR>>(
                         std::span<const VL>(lvalues.data() + lstart[g], lcount[g]),
                         std::span<const VR>(rvalues.data() + rstart[g], rcount[g])));
  }
  // The spans point into lvalues and rvalues: hand the batch over before they go.
  e.flush();
}

}  // namespace dataflow::detail
