// The rules of a keyed reduction: how an item becomes a hash-table entry, how entries merge,
// and how an entry is handed on as an item again. reduce_core (reduce_by_key.hpp) runs any of
// them: pair_reduce for reduce_by_key on pairs, item_reduce for reduce_by on whole items.
#pragma once

#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/format.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/packed_string.hpp>
#include <dataflow/storage/arena.hpp>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace dataflow::detail {

/// Names a key in an error's position ("key 'abc'", "key 42"), or "" for a key fmt cannot show.
template <class K>
std::string key_position(const K& key) {
  if constexpr (std::is_convertible_v<const K&, std::string_view>) {
    std::string_view s = key;
    return "key '" + std::string(s.substr(0, 80)) + (s.size() > 80 ? "...'" : "'");
  } else if constexpr (fmt::is_formattable<K>::value) {
    try {
      std::string s = fmt::format("{}", key);
      return "key " + (s.size() > 80 ? s.substr(0, 80) + "..." : s);
    } catch (...) {
      return {};
    }
  } else {
    return {};
  }
}

/// Runs a merge of values; a failure (an overflow, say) names the key, which `name()` gives
/// (called only then: the merge itself stays free of it).
template <class Name, class F>
[[gnu::always_inline]] inline void merging_key(Name&& name, F&& f) {
  try {
    f();
  } catch (op_failure& fail) {
    if (fail.where.empty()) fail.where = name();
    throw;
  }
}

/// An op that merges into its first argument: op(V& acc, V x) returning void.
template <class Op, class V>
concept in_place_merge = std::is_invocable_v<const Op&, V&, V&&> &&
                         std::is_void_v<std::invoke_result_t<const Op&, V&, V&&>>;

/// reduce_by_key on std::pair<K, V>: entries keep the key in table form (string views packed
/// into the slot) and merge values with op(V, V) -> V, or in place with op(V&, V).
template <class T, class Op>
struct pair_reduce {
  using K = typename T::first_type;
  using V = typename T::second_type;
  using key_codec = table_key<K>;
  using entry = std::pair<typename key_codec::type, V>;
  // Integer keys are held in keyed slots (hash_table.hpp): the entry alone, without its hash.
  using slots = std::conditional_t<keyed_slots_fit<entry, K>, keyed_slots<K>, hashed_slots>;

  Op op;

  static const K& key_of(const std::string&, const T& x) noexcept { return x.first; }
  static const auto& entry_key(const std::string&, const entry& e) noexcept { return e.first; }
  static entry make(arena& a, const T& x) {
    return entry(key_codec::make(x.first, a), intern(a, x.second));
  }
  static decltype(auto) item(const entry& e) {
    if constexpr (std::is_same_v<entry, T>) {
      return (e);
    } else {
      return T(key_codec::view(e.first), e.second);
    }
  }

  /// Whether an entry can be made from an item without the arena (see detach).
  static constexpr bool detachable =
      !has_views_v<V> && (!has_views_v<K> || std::is_same_v<K, std::string_view>);
  /// Constructs at `out` an entry that owns everything it holds (no view into x, no arena), or
  /// returns false: a string key longer than fits inline.
  static bool detach(const T& x, void* out) {
    if constexpr (std::is_same_v<K, std::string_view>) {
      if (x.first.size() > packed_string::inline_max) return false;
      ::new (out) entry(packed_string::inline_copy(x.first), x.second);
    } else {
      ::new (out) entry(x.first, x.second);
    }
    return true;
  }
  void absorb(const std::string& label, entry& acc, const T& x, arena& a) const {
    merging_key([&] { return key_position(x.first); }, [&] { merge(label, acc.second, x.second, a); });
  }
  void combine(const std::string& label, entry& acc, entry& other, arena& a) const {
    merging_key([&] { return key_position(key_codec::view(acc.first)); },
                [&] { merge(label, acc.second, std::move(other.second), a); });
  }

 private:
  template <class X>
  void merge(const std::string& label, V& acc, X&& x, arena& a) const {
    if constexpr (in_place_merge<Op, V>) {
      // In place: linear for a growing accumulator (a vector, a set). What it keeps of x must
      // outlive x, so a value with views is first copied into the table's bytes.
      if constexpr (has_views_v<V>) {
        invoke_user(label, op, acc, V(intern(a, std::as_const(x))));
      } else if constexpr (std::is_invocable_v<const Op&, V&, X&&>) {
        invoke_user(label, op, acc, std::forward<X>(x));
      } else {
        invoke_user(label, op, acc, V(x));  // op takes V&&: hand it a copy of a const item
      }
    } else if constexpr (has_views_v<V>) {
      acc = intern(a, V(invoke_user(label, op, std::as_const(acc), std::as_const(x))));
    } else {
      acc = invoke_user(label, op, std::as_const(acc), std::as_const(x));
    }
  }
};

/// reduce_by on whole items: key_fn(T) and op(T, T) -> T.
template <class T, class KeyFn, class Op>
struct item_reduce {
  using entry = T;
  using slots = hashed_slots;  // the key is key_fn's, not a member the table can read

  KeyFn key_fn;
  Op op;

  decltype(auto) key_of(const std::string& label, const T& x) const {
    return invoke_user(label, key_fn, x);
  }
  decltype(auto) entry_key(const std::string& label, const entry& e) const {
    return invoke_user(label, key_fn, e);
  }
  static decltype(auto) make(arena& a, const T& x) { return intern(a, x); }
  static const T& item(const entry& e) noexcept { return e; }
  static constexpr bool detachable = !has_views_v<T>;
  static bool detach(const T& x, void* out) {
    ::new (out) entry(x);
    return true;
  }
  void absorb(const std::string& label, entry& acc, const T& x, arena& a) const {
    if constexpr (has_views_v<T>) {
      acc = intern(a, T(invoke_user(label, op, std::as_const(acc), x)));
    } else {
      acc = invoke_user(label, op, std::as_const(acc), x);
    }
  }
  void combine(const std::string& label, entry& acc, entry& other, arena& a) const {
    absorb(label, acc, other, a);
  }
};

}  // namespace dataflow::detail
