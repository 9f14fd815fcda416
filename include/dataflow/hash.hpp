// Hashing of keys for shuffles and hash tables.
//
// dataflow::hash<K> covers integers, enums, floating point, strings, pairs and tuples, plain
// structs (aggregates) of hashable members, member by member, and falls back to std::hash<K>
// (whose result it mixes, since std::hash of an integer is the identity).
// The tables take partitions from the high bits and slots from the low bits, so every hash here
// mixes all input bits into all output bits. Specialize dataflow::hash<K> for a key type of your
// own, or give it a std::hash specialization.
#pragma once

#include <dataflow/detail/fields.hpp>
#include <dataflow/detail/int128.hpp>
#include <dataflow/detail/short_bytes.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <concepts>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace dataflow {

namespace detail {

/// Mixes all 64 bits of x into all 64 output bits (a bijection; Stafford's mix13 variant).
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/// Multiplies into 128 bits and folds the halves together.
inline std::uint64_t fold_mul(std::uint64_t a, std::uint64_t b) noexcept {
  uint128 r = static_cast<uint128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

inline std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline std::uint64_t load32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline constexpr std::uint64_t hash_k0 = 0xa0761d6478bd642full, hash_k1 = 0xe7037ed1a0b428dbull,
                                 hash_k2 = 0x8ebc6af09c88c6e3ull;

/// hash_bytes of a string of more than 16 bytes: out of line, so that the short path inlines.
[[gnu::noinline]] inline std::uint64_t hash_long_bytes(const char* p, std::size_t n) noexcept {
  std::uint64_t seed = hash_k0;
  std::size_t i = n;
  while (i > 16) {
    seed = fold_mul(load64(p) ^ hash_k1, load64(p + 8) ^ seed);
    p += 16;
    i -= 16;
  }
  const std::uint64_t a = load64(p + i - 16), b = load64(p + i - 8);
  return fold_mul(hash_k1 ^ n, fold_mul(a ^ hash_k1, b ^ seed ^ hash_k2));
}

/// Hashes a byte string; short strings (most keys) take one masked 16-byte load and two
/// multiplies, inline. A short string is read as its 16 bytes zero-padded (short_bytes.hpp,
/// which picks no load by the length: that branch mispredicts about once a word) and its length
/// is mixed in last, so strings that differ only by trailing zero bytes differ. Picking the
/// first and last 8 (or 4) bytes out of it by length, as this did before, was a tenth of a word
/// count's time (word_count of 1 GiB at 2 threads: 3.23 s of CPU before, 2.86 s after). A
/// change of these values is a change of format: every rank of a job must route a key alike.
[[gnu::always_inline]] inline std::uint64_t hash_bytes(const char* p, std::size_t n) noexcept {
  if (n > 16) return hash_long_bytes(p, n);
  const short_bytes w = load_short(p, n);
  return fold_mul(hash_k1 ^ n, fold_mul(w.lo ^ hash_k1, w.hi ^ hash_k0 ^ hash_k2));
}

inline std::uint64_t hash_combine(std::uint64_t h, std::uint64_t v) noexcept {
  return mix64(h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)));
}

template <class K>
concept std_hashable = requires(const K& k) {
  { std::hash<K>{}(k) } -> std::convertible_to<std::size_t>;
};

}  // namespace detail

/// Hashes keys of type K to 64 bits; specialize it for key types of your own.
template <class K, class Enable = void>
struct hash {
  using is_avalanching = void;  // the std::hash result is mixed here
  std::uint64_t operator()(const K& k) const
    requires detail::std_hashable<K>
  {
    return detail::mix64(static_cast<std::uint64_t>(std::hash<K>{}(k)));
  }
};

namespace detail {
/// K has a dataflow::hash: a built-in one, a specialization, or std::hash<K>.
template <class K>
concept hashable = requires(const K& k) {
  { dataflow::hash<std::remove_cvref_t<K>>{}(k) } -> std::convertible_to<std::uint64_t>;
};
}  // namespace detail

template <class K>
struct hash<K, std::enable_if_t<std::is_integral_v<K> || std::is_enum_v<K>>> {
  using is_avalanching = void;
  std::uint64_t operator()(K k) const noexcept {
    return detail::mix64(static_cast<std::uint64_t>(k));
  }
};

template <class K>
struct hash<K, std::enable_if_t<std::is_floating_point_v<K>>> {
  using is_avalanching = void;
  std::uint64_t operator()(K k) const noexcept {
    if (k == K{0}) k = K{0};  // +0.0 and -0.0 compare equal, so they must hash equal
    if constexpr (sizeof(K) == 8) {
      return detail::mix64(std::bit_cast<std::uint64_t>(k));
    } else if constexpr (sizeof(K) == 4) {
      return detail::mix64(std::bit_cast<std::uint32_t>(k));
    } else {
      return std::hash<K>{}(k);
    }
  }
};

template <>
struct hash<std::string_view> {
  using is_avalanching = void;
  std::uint64_t operator()(std::string_view s) const noexcept {
    return detail::hash_bytes(s.data(), s.size());
  }
};

template <>
struct hash<std::string> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::string& s) const noexcept {
    return detail::hash_bytes(s.data(), s.size());
  }
};

template <class A, class B>
struct hash<std::pair<A, B>> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::pair<A, B>& p) const
    requires detail::hashable<A> && detail::hashable<B>
  {
    return detail::hash_combine(hash<std::remove_cv_t<A>>{}(p.first), hash<std::remove_cv_t<B>>{}(p.second));
  }
};

template <class... Ts>
struct hash<std::tuple<Ts...>> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::tuple<Ts...>& t) const
    requires(detail::hashable<Ts> && ...)
  {
    return std::apply(
        [](const Ts&... e) {
          std::uint64_t h = 0x243f6a8885a308d3ull;
          ((h = detail::hash_combine(h, hash<Ts>{}(e))), ...);
          return h;
        },
        t);
  }
};

template <class V>
struct hash<std::optional<V>> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::optional<V>& o) const
    requires detail::hashable<V>
  {
    return o ? detail::hash_combine(0x5be0cd19137e2179ull, hash<V>{}(*o)) : 0x1f83d9abfb41bd6bull;
  }
};

namespace detail {
/// Sequences (vectors, ordered maps and sets): the elements' hashes combined in order.
template <class C>
std::uint64_t hash_sequence(const C& c) {
  std::uint64_t h = mix64(c.size() + 0x6a09e667f3bcc908ull);
  for (const auto& e : c) h = hash_combine(h, hash<std::remove_cvref_t<decltype(e)>>{}(e));
  return h;
}
/// Unordered maps and sets: equal sets may iterate in different orders, so the elements'
/// hashes are added, which does not depend on the order.
template <class C>
std::uint64_t hash_unordered(const C& c) {
  std::uint64_t h = 0;
  for (const auto& e : c) h += hash<std::remove_cvref_t<decltype(e)>>{}(e);
  return mix64(h ^ c.size());
}
}  // namespace detail

template <class V, class A>
struct hash<std::vector<V, A>> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::vector<V, A>& v) const
    requires detail::hashable<V>
  {
    return detail::hash_sequence(v);
  }
};

template <class K, class V, class C, class A>
struct hash<std::map<K, V, C, A>> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::map<K, V, C, A>& m) const
    requires detail::hashable<K> && detail::hashable<V>
  {
    return detail::hash_sequence(m);
  }
};

template <class K, class C, class A>
struct hash<std::set<K, C, A>> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::set<K, C, A>& s) const
    requires detail::hashable<K>
  {
    return detail::hash_sequence(s);
  }
};

template <class K, class V, class H, class E, class A>
struct hash<std::unordered_map<K, V, H, E, A>> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::unordered_map<K, V, H, E, A>& m) const
    requires detail::hashable<K> && detail::hashable<V>
  {
    return detail::hash_unordered(m);
  }
};

template <class K, class H, class E, class A>
struct hash<std::unordered_set<K, H, E, A>> {
  using is_avalanching = void;
  std::uint64_t operator()(const std::unordered_set<K, H, E, A>& s) const
    requires detail::hashable<K>
  {
    return detail::hash_unordered(s);
  }
};

/// A struct without a std::hash of its own: its members' hashes, combined in order.
template <class K>
struct hash<K, std::enable_if_t<detail::reflectable<K> && !detail::std_hashable<K>>> {
  using is_avalanching = void;
  std::uint64_t operator()(const K& k) const
    requires(detail::all_fields<K>([](auto m) {
      return detail::hashable<typename decltype(m)::type>;
    }))
  {
    return std::apply(
        [](const auto&... m) {
          std::uint64_t h = 0x13198a2e03707344ull;
          ((h = detail::hash_combine(h, hash<std::remove_cvref_t<decltype(m)>>{}(m))), ...);
          return h;
        },
        detail::tie_fields(k));
  }
};

namespace detail {
/// Hashes a key for a table: never 0, which marks an empty slot. A user's dataflow::hash
/// specialization is mixed once more unless it declares `using is_avalanching = void;`: tables
/// take partitions from the high bits, and `return k.id;` would put every key in partition 0.
template <class K>
inline std::uint64_t table_hash(const K& k) {
  static_assert(hashable<K>,
                "dataflow: this key type has no hash; specialize dataflow::hash<K> (an operator() "
                "returning std::uint64_t) or std::hash<K> for it");
  using H = hash<std::remove_cvref_t<K>>;
  std::uint64_t h = H{}(k);
  if constexpr (!requires { typename H::is_avalanching; }) h = mix64(h);
  return h + (h == 0);
}
}  // namespace detail

}  // namespace dataflow
