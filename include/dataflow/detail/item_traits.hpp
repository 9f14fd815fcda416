// What it takes to keep an item past the batch it came in.
//
// Items may hold views (std::string_view, std::span) into buffers that a source reuses. Inside a
// run, barriers keep such items by copying the viewed bytes into an arena they own (intern).
// Results handed back to the caller outlive the run, so actions return owning types (stored_t):
// std::string for std::string_view, std::vector for std::span, recursively through pairs and
// tuples, optionals and vectors. Types without views pass through all of this untouched and at
// no cost. A plain struct (an aggregate) is seen through member by member: barriers copy the
// bytes its views point to, as for a pair of views; but there is no owning form of it to hand
// back, so an action that returns such items fails to compile, asking for a map to owning
// members first. A class with private members that holds views is not seen through: give it
// owning members (or specialize item_traits).
#pragma once

#include <dataflow/detail/fields.hpp>
#include <dataflow/storage/arena.hpp>

#include <cstddef>
#include <memory>
#include <new>
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
struct item_traits {
  using stored = T;
  static constexpr bool has_views = false;
  static const T& to_stored(const T& x) { return x; }
  static const T& view_of(const T& x) { return x; }
  static const T& intern(arena&, const T& x) { return x; }
};

template <class T>
inline constexpr bool has_views_v = item_traits<std::remove_cvref_t<T>>::has_views;

/// The owning form of T, returned by actions to the caller.
template <class T>
using stored_t = typename item_traits<std::remove_cvref_t<T>>::stored;

template <class T>
decltype(auto) to_stored(const T& x) {
  return item_traits<T>::to_stored(x);
}

/// Returns the T that views the owning value `s`.
template <class T>
decltype(auto) view_of(const stored_t<T>& s) {
  return item_traits<T>::view_of(s);
}

/// Returns a copy of `x` whose views point into `a`.
template <class T>
decltype(auto) intern(arena& a, const T& x) {
  return item_traits<T>::intern(a, x);
}

template <>
struct item_traits<std::string_view> {
  using stored = std::string;
  static constexpr bool has_views = true;
  static std::string to_stored(std::string_view x) { return std::string(x); }
  static std::string_view view_of(const std::string& s) { return s; }
  static std::string_view intern(arena& a, std::string_view x) { return a.copy(x); }
};

template <class V>
struct item_traits<std::span<const V>> {
  using stored = std::vector<stored_t<V>>;
  static constexpr bool has_views = true;
  static stored to_stored(std::span<const V> x) {
    stored out;
    out.reserve(x.size());
    for (const auto& v : x) out.push_back(item_traits<V>::to_stored(v));
    return out;
  }
  static std::span<const V> view_of(const stored& s)
    requires std::is_same_v<stored_t<V>, V>
  {
    return {s.data(), s.size()};
  }
  static std::span<const V> intern(arena& a, std::span<const V> x) {
    static_assert(alignof(V) <= arena::max_align, "dataflow: value alignment above 64 bytes");
    static_assert(std::is_trivially_destructible_v<V>,
                  "dataflow: a barrier cannot keep a span of values that need destruction; map "
                  "each group to an owning type (such as std::vector) first");
    if (x.empty()) return {};
    auto* p = static_cast<V*>(a.allocate(sizeof(V) * x.size(), alignof(V)));
    for (std::size_t i = 0; i < x.size(); ++i) new (p + i) V(item_traits<V>::intern(a, x[i]));
    return {p, x.size()};
  }
};

template <class V>
struct item_traits<std::optional<V>> {
  using T = std::optional<V>;
  using stored = std::optional<stored_t<V>>;
  static constexpr bool has_views = has_views_v<V>;
  static decltype(auto) to_stored(const T& x) {
    if constexpr (has_views) {
      return x ? stored(item_traits<V>::to_stored(*x)) : stored();
    } else {
      return (x);
    }
  }
  static decltype(auto) view_of(const stored& s) {
    if constexpr (has_views) {
      return s ? T(item_traits<V>::view_of(*s)) : T();
    } else {
      return (s);
    }
  }
  static decltype(auto) intern(arena& a, const T& x) {
    if constexpr (has_views) {
      return x ? T(item_traits<V>::intern(a, *x)) : T();
    } else {
      return (x);
    }
  }
};

template <class V, class Alloc>
struct item_traits<std::vector<V, Alloc>> {
  using T = std::vector<V, Alloc>;
  using stored = std::vector<stored_t<V>>;
  static constexpr bool has_views = has_views_v<V>;
  static decltype(auto) to_stored(const T& x) {
    if constexpr (has_views) {
      stored out;
      out.reserve(x.size());
      for (const auto& v : x) out.push_back(item_traits<V>::to_stored(v));
      return out;
    } else {
      return (x);
    }
  }
  static decltype(auto) view_of(const stored& s) {
    if constexpr (has_views) {
      T out;
      out.reserve(s.size());
      for (const auto& v : s) out.push_back(item_traits<V>::view_of(v));
      return out;
    } else {
      return (s);
    }
  }
  static decltype(auto) intern(arena& a, const T& x) {
    if constexpr (has_views) {
      T out;
      out.reserve(x.size());
      for (const auto& v : x) out.push_back(item_traits<V>::intern(a, v));
      return out;
    } else {
      return (x);
    }
  }
};

template <class A, class B>
struct item_traits<std::pair<A, B>> {
  using T = std::pair<A, B>;
  using stored = std::pair<stored_t<A>, stored_t<B>>;
  static constexpr bool has_views = has_views_v<A> || has_views_v<B>;
  static decltype(auto) to_stored(const T& x) {
    if constexpr (has_views) {
      return stored(item_traits<A>::to_stored(x.first), item_traits<B>::to_stored(x.second));
    } else {
      return (x);
    }
  }
  static decltype(auto) view_of(const stored& s) {
    if constexpr (has_views) {
      return T(item_traits<A>::view_of(s.first), item_traits<B>::view_of(s.second));
    } else {
      return (s);
    }
  }
  static decltype(auto) intern(arena& a, const T& x) {
    if constexpr (has_views) {
      return T(item_traits<A>::intern(a, x.first), item_traits<B>::intern(a, x.second));
    } else {
      return (x);
    }
  }
};

template <class... Ts>
struct item_traits<std::tuple<Ts...>> {
  using T = std::tuple<Ts...>;
  using stored = std::tuple<stored_t<Ts>...>;
  static constexpr bool has_views = (has_views_v<Ts> || ...);
  static decltype(auto) to_stored(const T& x) {
    if constexpr (has_views) {
      return std::apply([](const Ts&... e) { return stored(item_traits<Ts>::to_stored(e)...); },
                        x);
    } else {
      return (x);
    }
  }
  static decltype(auto) view_of(const stored& s) {
    if constexpr (has_views) {
      return std::apply(
          [](const stored_t<Ts>&... e) { return T(item_traits<Ts>::view_of(e)...); }, s);
    } else {
      return (s);
    }
  }
  static decltype(auto) intern(arena& a, const T& x) {
    if constexpr (has_views) {
      return std::apply([&a](const Ts&... e) { return T(item_traits<Ts>::intern(a, e)...); }, x);
    } else {
      return (x);
    }
  }
};

template <class T>
consteval bool fields_have_views() {
  if constexpr (reflectable<T>) {
    return !all_fields<T>([](auto m) { return !has_views_v<typename decltype(m)::type>; });
  } else {
    return false;
  }
}

template <class>
inline constexpr bool struct_of_views_returned = false;

/// A struct with views among its members: kept by copying what they view, member by member.
template <class T>
  requires(fields_have_views<T>())
struct item_traits<T> {
  using stored = T;
  static constexpr bool has_views = true;
  static const T& to_stored(const T& x) {
    static_assert(struct_of_views_returned<T>,
                  "dataflow: an action would return items of a struct that holds views "
                  "(std::string_view, std::span), which would dangle once the run ends; map the "
                  "items to a struct with owning members (std::string, std::vector) first, or "
                  "use a std::pair or std::tuple of views, which actions return as owning types");
    return x;
  }
  static const T& view_of(const T& x) { return x; }
  static T intern(arena& a, const T& x) {
    const auto members = tie_fields(x);
    return build_fields<T>([&](auto i) -> field_t<T, decltype(i)::value> {
      return item_traits<field_t<T, i()>>::intern(a, std::get<i()>(members));
    });
  }
};

}  // namespace dataflow::detail
