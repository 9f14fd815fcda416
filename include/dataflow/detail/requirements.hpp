// Requirements on user functions, checked where the function is passed so that a wrong
// signature fails with a message naming the operator and the expected signature.
//
// User functions are called through a const reference because several threads call them at
// once; a mutable lambda therefore fails these checks on purpose.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <optional>
#include <tuple>
#include <ranges>
#include <type_traits>

namespace dataflow::detail {

/// F can be called, as a const object, with Args.
template <class F, class... Args>
concept const_callable = std::is_invocable_v<const F&, Args...>;

/// F can be called with Args and its result converts to R.
template <class F, class R, class... Args>
concept const_callable_r = std::is_invocable_r_v<R, const F&, Args...>;

template <class F, class... Args>
using call_result_t = std::remove_cvref_t<std::invoke_result_t<const F&, Args...>>;

/// Pair items (std::pair<K, V>), which the *_by_key operations take.
template <class T>
struct is_pair : std::false_type {};
template <class A, class B>
struct is_pair<std::pair<A, B>> : std::true_type {};
template <class T>
inline constexpr bool is_pair_v = is_pair<std::remove_cvref_t<T>>::value;

template <class T>
struct is_optional : std::false_type {};
template <class V>
struct is_optional<std::optional<V>> : std::true_type {};
template <class T>
inline constexpr bool is_optional_v = is_optional<std::remove_cvref_t<T>>::value;

template <class T>
struct is_tuple : std::false_type {};
template <class... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};

/// Keys must compare with ==.
template <class K>
concept key_type = std::equality_comparable<K>;

}  // namespace dataflow::detail
