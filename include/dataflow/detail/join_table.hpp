// The build side of a hash join: one side's rows of a partition grouped by key, with a hash
// table from each key to its rows. Used by join.hpp for every join strategy (streamed, in
// memory, spilled, chunked).
#pragma once

#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/hash.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// Copies as bytes and needs no destructor (std::pair of numbers is, though the standard does
/// not call it trivially copyable because of its assignment operator).
template <class T>
inline constexpr bool plain_v =
    std::is_trivially_copy_constructible_v<T> && std::is_trivially_destructible_v<T>;

/// Row numbers within a partition are 32-bit.
inline void check_rows(std::size_t n) {
  if (n > std::size_t{0xffffffff}) {
    throw usage_error("dataflow: a join partition holds more than 2^32 rows of one side; give "
                      "the join more partitions ({.partitions = n}) or a memory budget");
  }
}

// The rows of one side grouped by key: `rows` side by side per key, and a table from key to
// its [begin, end) in `rows`.
template <class B>
struct join_table {
  using KB = std::remove_cv_t<typename B::first_type>;
  // Plain keys and rows are copied into the table, so that a lookup touches the slot and
  // the group's rows, not the scattered input items as well.
  static constexpr bool inline_rows = plain_v<B>;
  static constexpr bool inline_key =
      !inline_rows && std::is_trivially_copyable_v<KB> && sizeof(KB) <= 16;
  // A plain row is kept in its entry as well (the key is its first member): a key with one
  // row, the usual case of a dimension table, is found and emitted from one cache line.
  struct entry {
    std::conditional_t<inline_rows, B, std::conditional_t<inline_key, KB, const B*>> key;
    std::uint32_t begin;
    std::uint32_t end;
  };
  hash_table<entry> table;
  std::vector<std::conditional_t<inline_rows, B, const B*>> rows;
  std::vector<char> matched;  // per row, for an outer build side

  static const KB& key_of(const entry& e) noexcept {
    if constexpr (inline_rows) {
      return e.key.first;
    } else if constexpr (inline_key) {
      return e.key;
    } else {
      return e.key->first;
    }
  }
  /// The rows of an entry's key: [begin, end) of row(), or the entry's own copy.
  const B* first_row(const entry& e) const noexcept {
    if constexpr (inline_rows) {
      return &e.key;
    } else {
      return row(e.begin);
    }
  }
  const B* row(std::size_t i) const noexcept {
    if constexpr (inline_rows) {
      return &rows[i];
    } else {
      return rows[i];
    }
  }

  void build(const std::string& label, const std::vector<const B*>& items, bool track) {
    check_rows(items.size());
    std::vector<std::uint32_t> group_of(items.size());
    std::vector<std::uint32_t> count;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& key = items[i]->first;
      auto [e, made] = invoke_user(label, [&] {
        return table.find_or_emplace(table_hash(key), key, &key_of, [&] {
          if constexpr (inline_rows) {
            return entry{*items[i], static_cast<std::uint32_t>(count.size()), 0};
          } else if constexpr (inline_key) {
            return entry{key, static_cast<std::uint32_t>(count.size()), 0};
          } else {
            return entry{items[i], static_cast<std::uint32_t>(count.size()), 0};
          }
        });
      });
      if (made) count.push_back(0);
      group_of[i] = e->begin;  // the group number, until begin becomes an offset below
      ++count[e->begin];
    }
    std::vector<std::uint32_t> start(count.size());
    std::uint32_t at = 0;
    for (std::size_t g = 0; g < count.size(); ++g) start[g] = std::exchange(at, at + count[g]);
    table.for_each([&](std::uint64_t, entry& e) {
      const std::uint32_t g = e.begin;
      e.begin = start[g];
      e.end = start[g] + count[g];
    });
    rows.resize(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      if constexpr (inline_rows) {
        rows[start[group_of[i]]++] = *items[i];
      } else {
        rows[start[group_of[i]]++] = items[i];
      }
    }
    if (track) matched.assign(rows.size(), 0);
  }

  template <class Key>
  const entry* find(const std::string& label, const Key& key) {
    return find_hashed(label, invoke_user(label, [&] { return table_hash(key); }), key);
  }
  template <class Key>
  const entry* find_hashed(const std::string& label, std::uint64_t h, const Key& key) {
    return invoke_user(label, [&] { return table.find(h, key, &key_of); });
  }
};

}  // namespace dataflow::detail
