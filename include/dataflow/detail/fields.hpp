// The members of a plain struct, without any code from its author.
//
// An aggregate (a struct with public members, no constructors, no virtual functions and no base
// class) is taken apart with structured bindings: field_count<T> counts its members by the
// longest brace initializer it accepts, and tie_fields(x) returns references to them as a tuple.
// That is what lets dataflow derive a codec, a hash, item traits and CSV columns for such a
// struct. Members may be of any type; a C array member is not supported (it would be counted
// once per element), nor are more than max_fields members.
#pragma once

#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace dataflow::detail {

inline constexpr std::size_t max_fields = 32;

/// Converts to any member type, for counting members by the initializers an aggregate accepts.
template <class Outer>
struct any_field {
  template <class U>
    requires(!std::is_same_v<std::remove_cvref_t<U>, Outer>)
  operator U&() const&& noexcept;
  template <class U>
    requires(!std::is_same_v<std::remove_cvref_t<U>, Outer>)
  operator U&&() const&& noexcept;
};

template <class T, std::size_t... I>
constexpr bool brace_constructible(std::index_sequence<I...>) {
  return requires { T{(void(I), any_field<T>{})...}; };
}

template <class T, std::size_t N = 0>
constexpr std::size_t count_fields() {
  if constexpr (N > max_fields) {
    return N;
  } else if constexpr (brace_constructible<T>(std::make_index_sequence<N + 1>{})) {
    return count_fields<T, N + 1>();
  } else {
    return N;
  }
}

/// A struct whose members dataflow can see: an aggregate class, not a union, an array or one of
/// the library types that have rules of their own.
template <class T>
concept reflectable = std::is_class_v<T> && std::is_aggregate_v<T> && !std::is_union_v<T> &&
                      (count_fields<T>() <= max_fields);

template <reflectable T>
inline constexpr std::size_t field_count = count_fields<T>();

/// field_count for a struct dataflow can see, else 0.
template <class T>
consteval std::size_t members_of() {
  if constexpr (reflectable<T>) {
    return field_count<T>;
  } else {
    return 0;
  }
}

// One overload a member count, from 0 to max_fields: a structured binding needs its names.
#define DATAFLOW_TIE(N, ...)                                              \
  template <class T>                                                      \
    requires(field_count<std::remove_cvref_t<T>> == N)                    \
  constexpr auto tie_fields(T& x) noexcept {                              \
    auto& [__VA_ARGS__] = x;                                              \
    return std::tie(__VA_ARGS__);                                         \
  }

template <class T>
  requires(field_count<std::remove_cvref_t<T>> == 0)
constexpr auto tie_fields(T&) noexcept {
  return std::tuple<>{};
}
DATAFLOW_TIE(1, a0)
DATAFLOW_TIE(2, a0, a1)
DATAFLOW_TIE(3, a0, a1, a2)
DATAFLOW_TIE(4, a0, a1, a2, a3)
DATAFLOW_TIE(5, a0, a1, a2, a3, a4)
DATAFLOW_TIE(6, a0, a1, a2, a3, a4, a5)
DATAFLOW_TIE(7, a0, a1, a2, a3, a4, a5, a6)
DATAFLOW_TIE(8, a0, a1, a2, a3, a4, a5, a6, a7)
DATAFLOW_TIE(9, a0, a1, a2, a3, a4, a5, a6, a7, a8)
DATAFLOW_TIE(10, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9)
DATAFLOW_TIE(11, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0)
DATAFLOW_TIE(12, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1)
DATAFLOW_TIE(13, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2)
DATAFLOW_TIE(14, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3)
DATAFLOW_TIE(15, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4)
DATAFLOW_TIE(16, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5)
DATAFLOW_TIE(17, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6)
DATAFLOW_TIE(18, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7)
DATAFLOW_TIE(19, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8)
DATAFLOW_TIE(20, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9)
DATAFLOW_TIE(21, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0)
DATAFLOW_TIE(22, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1)
DATAFLOW_TIE(23, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2)
DATAFLOW_TIE(24, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3)
DATAFLOW_TIE(25, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3, c4)
DATAFLOW_TIE(26, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3, c4, c5)
DATAFLOW_TIE(27, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3, c4, c5, c6)
DATAFLOW_TIE(28, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3, c4, c5, c6, c7)
DATAFLOW_TIE(29, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3, c4, c5, c6, c7, c8)
DATAFLOW_TIE(30, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3, c4, c5, c6, c7, c8, c9)
DATAFLOW_TIE(31, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, d0)
DATAFLOW_TIE(32, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9,
             c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, d0, d1)
#undef DATAFLOW_TIE

/// The type of member I of T.
template <class T, std::size_t I>
using field_t = std::remove_cvref_t<
    std::tuple_element_t<I, decltype(tie_fields(std::declval<T&>()))>>;

/// Calls f with each member type of T as std::type_identity<M>, and folds the results with &&.
template <class T, class F>
constexpr bool all_fields(F f) {
  return []<std::size_t... I>(F& g, std::index_sequence<I...>) {
    return (g(std::type_identity<field_t<T, I>>{}) && ...);
  }(f, std::make_index_sequence<field_count<T>>{});
}

/// Builds a T from one value per member, in order: make(i) for member i.
template <class T, class Make>
T build_fields(Make&& make) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return T{make(std::integral_constant<std::size_t, I>{})...};  // braces: evaluated in order
  }(std::make_index_sequence<field_count<T>>{});
}

// ---- Member names (for CSV headers): from the compiler's name of a pointer to the member. ----

// An object of T that is never constructed (a union's inactive member, in static storage, so
// that it works for local types too): only the addresses of its members are named.
template <class T>
struct field_name_holder {
  union storage {
    char none;
    T value;
    constexpr storage() : none() {}
    ~storage() {}
  };
  static inline storage object;
};

// The pointer travels wrapped in a struct: older Clang takes no pointer to a subobject as a
// template argument by itself.
template <class P>
struct field_pointer {
  P p;
};

template <auto Wrapped>
consteval std::string_view pretty_name_of() {
  return __PRETTY_FUNCTION__;
}

/// The name of member I of T, as written in its declaration.
template <class T, std::size_t I>
consteval std::string_view field_name() {
  using P = const field_t<T, I>*;
  constexpr std::string_view full = pretty_name_of<field_pointer<P>{
      &std::get<I>(tie_fields(field_name_holder<T>::object.value))}>();
  // GCC: "... [with auto Wrapped = field_pointer<...>{((P)(& ...::object...::value.T::NAME))}; ...]"
  // Clang: "... [Wrapped = {&object.value.NAME}]". The name is the identifier that ends it.
  const std::size_t at = full.find("Wrapped = ");
  std::size_t end = full.find(")}", at);
  if (end == std::string_view::npos) end = full.find("}]", at);
  while (end > 0 && full[end - 1] == ')') --end;
  std::size_t begin = end;
  auto identifier = [](char c) {
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  while (begin > 0 && identifier(full[begin - 1])) --begin;
  return full.substr(begin, end - begin);
}

/// The name of T as the compiler writes it, for messages.
template <class T>
consteval std::string_view type_name() {
  constexpr std::string_view full = __PRETTY_FUNCTION__;
  // GCC: "... [with T = NAME; std::string_view = ...]"; Clang: "... [T = NAME]"
  constexpr std::size_t at = full.find("T = ") + 4;
  constexpr std::size_t end = full.find_first_of(";]", at);
  return full.substr(at, end - at);
}

}  // namespace dataflow::detail
