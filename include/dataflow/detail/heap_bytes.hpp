// An estimate of the heap memory an item owns beyond its own bytes (a long std::string's
// buffer, a vector's elements), which the memory budget counts along with the buffers holding
// the items. Plain structs count their members'; types it does not know count as their size
// alone.
#pragma once

#include <dataflow/detail/fields.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

template <class T>
std::size_t heap_bytes(const T&) noexcept {
  return 0;
}

// Declared first, so that containers of structs see it.
template <class T>
  requires(reflectable<T> && !std::is_trivially_copyable_v<T>)
std::size_t heap_bytes(const T& x) noexcept;
template <class K, class V, class C, class A>
std::size_t heap_bytes(const std::map<K, V, C, A>& m) noexcept;
template <class K, class C, class A>
std::size_t heap_bytes(const std::set<K, C, A>& m) noexcept;

inline std::size_t heap_bytes(const std::string& s) noexcept {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;  // 15: libstdc++'s inline capacity
}

template <class V, class A>
std::size_t heap_bytes(const std::vector<V, A>& v) noexcept {
  std::size_t n = v.capacity() * sizeof(V);
  if constexpr (!std::is_trivially_copyable_v<V>) {
    for (const auto& x : v) n += heap_bytes(x);
  }
  return n;
}

template <class A, class B>
std::size_t heap_bytes(const std::pair<A, B>& p) noexcept {
  return heap_bytes(p.first) + heap_bytes(p.second);
}

template <class... Ts>
std::size_t heap_bytes(const std::tuple<Ts...>& t) noexcept {
  return std::apply([](const Ts&... x) { return (std::size_t{0} + ... + heap_bytes(x)); }, t);
}

template <class V>
std::size_t heap_bytes(const std::optional<V>& o) noexcept {
  return o ? heap_bytes(*o) : 0;
}

// A tree node: the element and about four pointers' worth of links and colour.
template <class K, class V, class C, class A>
std::size_t heap_bytes(const std::map<K, V, C, A>& m) noexcept {
  std::size_t n = m.size() * (sizeof(std::pair<const K, V>) + 32);
  for (const auto& [k, v] : m) n += heap_bytes(k) + heap_bytes(v);
  return n;
}

template <class K, class C, class A>
std::size_t heap_bytes(const std::set<K, C, A>& m) noexcept {
  std::size_t n = m.size() * (sizeof(K) + 32);
  for (const auto& k : m) n += heap_bytes(k);
  return n;
}

template <class T>
  requires(reflectable<T> && !std::is_trivially_copyable_v<T>)
std::size_t heap_bytes(const T& x) noexcept {
  return std::apply([](const auto&... m) { return (std::size_t{0} + ... + heap_bytes(m)); },
                    tie_fields(x));
}

/// True when items of type T may own heap memory that heap_bytes sees.
template <class T>
inline constexpr bool may_own_heap = !std::is_trivially_copyable_v<T>;

}  // namespace dataflow::detail
