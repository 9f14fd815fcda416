// An estimate of the heap memory an item owns beyond its own bytes (a long std::string's
// buffer, a vector's elements), which the memory budget counts along with the buffers holding
// the items. Types it does not know count as their size alone.
#pragma once

#include <cstddef>
#include <optional>
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

/// True when items of type T may own heap memory that heap_bytes sees.
template <class T>
inline constexpr bool may_own_heap = !std::is_trivially_copyable_v<T>;

}  // namespace dataflow::detail
