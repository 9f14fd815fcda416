// The data bytes of an item, for statistics: numbers and plain structs count their size,
// strings and string views their characters, pairs, tuples, optionals, vectors and spans their
// members' data (pairs and tuples of fixed-size members: their size). Any other type counts its
// sizeof. Fixed-size types are counted per batch by a
// multiplication; only items whose size varies are looked at one by one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

template <class T>
struct fixed_data_size
    : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                         (std::is_trivially_copyable_v<T> && std::is_class_v<T>)> {};
template <class C, class Tr>
struct fixed_data_size<std::basic_string_view<C, Tr>> : std::false_type {};
template <class V, std::size_t N>
struct fixed_data_size<std::span<V, N>> : std::false_type {};
// Members lose their const (a std::map's pair<const K, V>), not their reference: a reference
// member is not fixed (it counts what it refers to).
template <class A, class B>
struct fixed_data_size<std::pair<A, B>>
    : std::bool_constant<fixed_data_size<std::remove_cv_t<A>>::value &&
                         fixed_data_size<std::remove_cv_t<B>>::value> {};
template <class... Ts>
struct fixed_data_size<std::tuple<Ts...>>
    : std::bool_constant<(fixed_data_size<std::remove_cv_t<Ts>>::value && ...)> {};
template <class V>
struct fixed_data_size<std::optional<V>> : std::false_type {};

/// True when every item of type T has the same data bytes, known at compile time.
template <class T>
inline constexpr bool fixed_data_size_v = fixed_data_size<std::remove_cvref_t<T>>::value;

template <class T>
struct data_shape {
  static constexpr int kind = 0;  // sizeof
};
template <class C, class Tr, class A>
struct data_shape<std::basic_string<C, Tr, A>> {
  static constexpr int kind = 1;  // characters
};
template <class C, class Tr>
struct data_shape<std::basic_string_view<C, Tr>> {
  static constexpr int kind = 1;
};
template <class A, class B>
struct data_shape<std::pair<A, B>> {
  static constexpr int kind = 2;  // members
};
template <class... Ts>
struct data_shape<std::tuple<Ts...>> {
  static constexpr int kind = 2;
};
template <class V>
struct data_shape<std::optional<V>> {
  static constexpr int kind = 3;  // the value, if any
};
template <class V, class A>
struct data_shape<std::vector<V, A>> {
  static constexpr int kind = 4;  // elements
};
template <class V, std::size_t N>
struct data_shape<std::span<V, N>> {
  static constexpr int kind = 4;
};

/// Returns the data bytes of one item.
template <class T>
std::size_t data_bytes(const T& x) noexcept {
  using U = std::remove_cvref_t<T>;
  constexpr int kind = data_shape<U>::kind;
  if constexpr (fixed_data_size_v<U> || kind == 0) {
    return sizeof(U);
  } else if constexpr (kind == 1) {
    return x.size() * sizeof(typename U::value_type);
  } else if constexpr (kind == 2) {
    return std::apply([](const auto&... m) { return (std::size_t{0} + ... + data_bytes(m)); }, x);
  } else if constexpr (kind == 3) {
    return x ? data_bytes(*x) : 0;
  } else {
    using V = std::remove_cv_t<typename U::value_type>;
    if constexpr (fixed_data_size_v<V>) {
      return x.size() * sizeof(V);
    } else {
      std::size_t n = 0;
      for (const auto& e : x) n += data_bytes(e);
      return n;
    }
  }
}

/// The data bytes of a batch.
template <class T>
std::uint64_t batch_data_bytes(std::span<const T> items) noexcept {
  if constexpr (fixed_data_size_v<T>) {
    return static_cast<std::uint64_t>(items.size()) * sizeof(T);
  } else {
    std::uint64_t n = 0;
    for (const T& x : items) n += data_bytes(x);
    return n;
  }
}

}  // namespace dataflow::detail
