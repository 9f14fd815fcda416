// Serialization of items for spill files: dataflow::codec<T>.
//
// Operators that spill (reduce_by_key, group_by_key, sort) write items to disk and read them
// back. Built in: trivially copyable types (as their bytes), std::string and std::string_view
// (a length and the bytes), std::pair, std::tuple, std::optional, std::vector, std::map, std::set,
// their unordered forms and std::span of encodable types, and plain structs (aggregates) of
// encodable members, member by member, with no code from you:
//
// @code
// struct hit { std::string url; std::uint32_t status; std::optional<double> ms; };  // encodable
// @endcode
//
// A struct whose members are all trivially copyable and hold no views or pointers is written as
// its bytes. For any other type, or to choose the encoding yourself, specialize dataflow::codec:
//
// @code
// struct person { std::string name; int age; };
// template <> struct dataflow::codec<person> {
//   static void write(dataflow::byte_writer& w, const person& p) {
//     dataflow::encode(w, p.name);
//     dataflow::encode(w, p.age);
//   }
//   static person read(dataflow::byte_reader& r) {
//     auto name = dataflow::decode<std::string>(r);
//     return {std::move(name), dataflow::decode<int>(r)};
//   }
// };
// @endcode
//
// Or give the type two members (this works for local classes too, which cannot be specialized):
//
// @code
// struct person {
//   std::string name; int age;
//   void encode(dataflow::byte_writer& w) const { dataflow::encode(w, name); dataflow::encode(w, age); }
//   static person decode(dataflow::byte_reader& r) {
//     auto name = dataflow::decode<std::string>(r);
//     return {std::move(name), dataflow::decode<int>(r)};
//   }
// };
// @endcode
//
// A decoded std::string_view or std::span views the reader's buffer: it stays valid while the
// item moves through the pipeline, as views from a file source do; so does one inside a struct.
// A class with private members is not seen through: if it is trivially copyable it is written as
// its bytes, which is wrong if it holds pointers or views; give such a class a codec.
#pragma once

#include <dataflow/detail/fields.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/storage/arena.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace dataflow {

/// Appends the bytes of encoded items to a growing buffer.
class byte_writer {
 public:
  explicit byte_writer(std::vector<char>& buffer) : buf_(buffer) {}

  void write(const void* p, std::size_t n) {
    const char* b = static_cast<const char*>(p);
    buf_.insert(buf_.end(), b, b + n);  // a copy, where resize would zero the bytes first
  }

  /// Writes v in 1 to 10 bytes, 7 bits per byte, small values shortest.
  void write_varint(std::uint64_t v) {
    char tmp[10];
    std::size_t n = 0;
    while (v >= 0x80) {
      tmp[n++] = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    tmp[n++] = static_cast<char>(v);
    write(tmp, n);
  }

 private:
  std::vector<char>& buf_;
};

/// Reads encoded items from a block of bytes. Reading past the end throws: the block was
/// checksummed, so this means a codec's read does not match its write.
class byte_reader {
 public:
  byte_reader(const char* begin, const char* end, detail::arena& scratch)
      : p_(begin), end_(end), scratch_(&scratch) {}

  void read(void* out, std::size_t n) {
    if (n > 0) std::memcpy(out, take(n), n);
  }

  /// Returns the bytes left in the block.
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }

  /// Checks a decoded element count against the bytes left (every built-in element takes at
  /// least one byte), so that a corrupt count fails cleanly instead of allocating wildly.
  std::size_t checked_count(std::uint64_t n) const {
    if (n > remaining()) {
      throw error("dataflow: a spilled block holds a count larger than its bytes (does a codec's "
                  "read match its write?)");
    }
    return static_cast<std::size_t>(n);
  }

  std::uint64_t read_varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const auto b = static_cast<unsigned char>(*take(1));
      v |= std::uint64_t{b & 0x7fu} << shift;
      if (b < 0x80) return v;
    }
    throw error("dataflow: malformed length in a spilled block");
  }

  /// Returns the next n bytes, in place.
  std::string_view view(std::size_t n) { return {take(n), n}; }

  /// Memory that lives as long as the current block (for decoded spans).
  detail::arena& scratch() noexcept { return *scratch_; }

  bool at_end() const noexcept { return p_ == end_; }

 private:
  const char* take(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) {
      throw error("dataflow: a spilled block ends inside an item (does a codec's read match "
                  "its write?)");
    }
    const char* at = p_;
    p_ += n;
    return at;
  }

  const char* p_;
  const char* end_;
  detail::arena* scratch_;
};

/// Specialize with `static void write(byte_writer&, const T&)` and
/// `static T read(byte_reader&)` to let operators spill items of type T.
template <class T>
struct codec {
  using unspecialized = void;
};

namespace detail {

template <class T>
concept user_codec = !requires { typename codec<T>::unspecialized; };

template <class T>
concept member_codec = requires(const T& x, byte_writer& w, byte_reader& r) {
  x.encode(w);
  { T::decode(r) } -> std::same_as<T>;
};

// Types with a codec of their own below, though some of them are trivially copyable too.
template <class T>
struct is_composite : std::false_type {};
template <class V>
struct is_composite<std::span<const V>> : std::true_type {};
// Other views: trivially copyable, but their pointers would not survive a trip to disk.
template <class V, std::size_t N>
struct is_composite<std::span<V, N>> : std::true_type {};
template <class C, class Tr>
struct is_composite<std::basic_string_view<C, Tr>> : std::true_type {};
template <class A, class B>
struct is_composite<std::pair<A, B>> : std::true_type {};
template <class... Ts>
struct is_composite<std::tuple<Ts...>> : std::true_type {};
template <class V>
struct is_composite<std::optional<V>> : std::true_type {};

/// Written as its bytes: trivially copyable, and (seen through a struct's members) holding no
/// pointer or view that would not survive the trip to disk.
template <class T>
consteval bool byte_copyable() {
  if constexpr (!std::is_trivially_copyable_v<T> || is_composite<T>::value ||
                std::is_pointer_v<T> || std::is_member_pointer_v<T>) {
    return false;
  } else if constexpr (reflectable<T>) {
    return all_fields<T>([](auto m) { return byte_copyable<typename decltype(m)::type>(); });
  } else {
    return true;
  }
}

template <class T>
struct builtin_codec;  // defined below for the types listed at the top of this file

template <class T>
concept builtin_encodable = requires { builtin_codec<T>::encodable; };

}  // namespace detail

/// True when items of type T can be spilled.
template <class T>
concept encodable = detail::user_codec<std::remove_cv_t<T>> ||
                    detail::member_codec<std::remove_cv_t<T>> ||
                    detail::builtin_encodable<std::remove_cv_t<T>>;

namespace detail {

// Fails to compile naming the struct and its member type that has no codec (the compiler shows
// both in the instantiation of member_not_encodable<Struct, Member>).
template <class Struct, class Member>
struct member_not_encodable {
  static_assert(dataflow::encodable<Member>,
                "dataflow: a member of this struct cannot be spilled to disk (the first template "
                "argument of member_not_encodable is the struct, the second the member's type): "
                "give that member type a codec (see <dataflow/codec.hpp>), or make it a "
                "supported type");
  static constexpr bool value = true;
};

template <class T>
constexpr bool report_unencodable_member() {
  if constexpr (reflectable<T>) {
    return all_fields<T>([](auto m) {
      using M = typename decltype(m)::type;
      if constexpr (!dataflow::encodable<M>) {
        if constexpr (reflectable<M>) {
          return report_unencodable_member<M>();
        } else {
          return member_not_encodable<T, M>::value && false;
        }
      }
      return true;
    });
  }
  return true;
}

}  // namespace detail

/// Writes x with its codec.
template <class T>
void encode(byte_writer& w, const T& x) {
  using U = std::remove_cv_t<T>;
  if constexpr (!encodable<U> && detail::reflectable<U>) {
    static_assert(detail::report_unencodable_member<U>(),
                  "dataflow: this struct cannot be spilled: see the member type named above");
  }
  static_assert(encodable<U> || detail::reflectable<U>,
                "dataflow: this type cannot be spilled to disk: specialize dataflow::codec<T> "
                "with static void write(dataflow::byte_writer&, const T&) and static T "
                "read(dataflow::byte_reader&), or give T the members void "
                "encode(dataflow::byte_writer&) const and static T decode(dataflow::byte_reader&) "
                "(see <dataflow/codec.hpp>)");
  if constexpr (detail::user_codec<U>) {
    codec<U>::write(w, x);
  } else if constexpr (detail::member_codec<U>) {
    x.encode(w);
  } else if constexpr (detail::builtin_encodable<U>) {
    detail::builtin_codec<U>::write(w, x);
  }
}

/// Reads a T written by encode.
template <class T>
T decode(byte_reader& r) {
  using U = std::remove_cv_t<T>;
  static_assert(encodable<U>, "dataflow: this type cannot be read back: specialize "
                              "dataflow::codec<T> (see <dataflow/codec.hpp>)");
  if constexpr (detail::user_codec<U>) {
    return codec<U>::read(r);
  } else if constexpr (detail::member_codec<U>) {
    return U::decode(r);
  } else if constexpr (detail::builtin_encodable<U>) {
    return detail::builtin_codec<U>::read(r);
  } else {
    __builtin_unreachable();  // the assertion above failed
  }
}

namespace detail {

template <class T>
  requires(byte_copyable<T>())
struct builtin_codec<T> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, const T& x) { w.write(&x, sizeof(T)); }
  static T read(byte_reader& r) {
    T x;
    r.read(&x, sizeof(T));
    return x;
  }
};

template <>
struct builtin_codec<std::string_view> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, std::string_view s) {
    w.write_varint(s.size());
    w.write(s.data(), s.size());
  }
  static std::string_view read(byte_reader& r) { return r.view(r.read_varint()); }
};

template <>
struct builtin_codec<std::string> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, const std::string& s) {
    builtin_codec<std::string_view>::write(w, s);
  }
  static std::string read(byte_reader& r) {
    return std::string(builtin_codec<std::string_view>::read(r));
  }
};

template <class A, class B>
  requires(dataflow::encodable<A> && dataflow::encodable<B>)
struct builtin_codec<std::pair<A, B>> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, const std::pair<A, B>& x) {
    dataflow::encode(w, x.first);
    dataflow::encode(w, x.second);
  }
  static std::pair<A, B> read(byte_reader& r) {
    A a = dataflow::decode<A>(r);  // sequenced: arguments of a constructor call are not
    return std::pair<A, B>(std::move(a), dataflow::decode<B>(r));
  }
};

template <class... Ts>
  requires(dataflow::encodable<Ts> && ...)
struct builtin_codec<std::tuple<Ts...>> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, const std::tuple<Ts...>& x) {
    std::apply([&](const Ts&... e) { (dataflow::encode(w, e), ...); }, x);
  }
  static std::tuple<Ts...> read(byte_reader& r) {
    // A braced list evaluates its elements in order.
    return std::tuple<Ts...>{dataflow::decode<Ts>(r)...};
  }
};

template <class V>
  requires dataflow::encodable<V>
struct builtin_codec<std::optional<V>> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, const std::optional<V>& x) {
    const char has = x ? 1 : 0;
    w.write(&has, 1);
    if (x) dataflow::encode(w, *x);
  }
  static std::optional<V> read(byte_reader& r) {
    char has;
    r.read(&has, 1);
    if (!has) return std::nullopt;
    return std::optional<V>(dataflow::decode<V>(r));
  }
};

template <class V, class Alloc>
  requires dataflow::encodable<V>
struct builtin_codec<std::vector<V, Alloc>> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, const std::vector<V, Alloc>& x) {
    w.write_varint(x.size());
    for (const auto& v : x) dataflow::encode(w, v);
  }
  static std::vector<V, Alloc> read(byte_reader& r) {
    const std::size_t n = builtin_encodable<V> ? r.checked_count(r.read_varint()) : r.read_varint();
    std::vector<V, Alloc> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(dataflow::decode<V>(r));
    return out;
  }
};

template <class V>
  requires(dataflow::encodable<V> && std::is_trivially_destructible_v<V> &&
           alignof(V) <= arena::max_align)
struct builtin_codec<std::span<const V>> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, std::span<const V> x) {
    w.write_varint(x.size());
    for (const auto& v : x) dataflow::encode(w, v);
  }
  static std::span<const V> read(byte_reader& r) {
    const std::size_t n = builtin_encodable<V> ? r.checked_count(r.read_varint()) : r.read_varint();
    if (n == 0) return {};
    auto* p = static_cast<V*>(r.scratch().allocate(sizeof(V) * n, alignof(V)));
    for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void*>(p + i)) V(dataflow::decode<V>(r));
    return {p, n};
  }
};

// A struct, member by member in declaration order.
template <class T>
  requires(reflectable<T> && !byte_copyable<T>() &&
           all_fields<T>([](auto m) { return dataflow::encodable<typename decltype(m)::type>; }))
struct builtin_codec<T> {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, const T& x) {
    std::apply([&](const auto&... m) { (dataflow::encode(w, m), ...); }, tie_fields(x));
  }
  static T read(byte_reader& r) {
    return build_fields<T>([&](auto i) { return dataflow::decode<field_t<T, i()>>(r); });
  }
};

// Maps and sets (ordered or not): a count, then the elements in iteration order.
template <class C>
struct associative_codec {
  static constexpr bool encodable = true;
  static void write(byte_writer& w, const C& x) {
    w.write_varint(x.size());
    for (const auto& e : x) dataflow::encode(w, e);
  }
  static C read(byte_reader& r) {
    using E = std::remove_const_t<typename C::key_type>;
    const std::uint64_t n = r.read_varint();
    C out;
    for (std::uint64_t i = 0; i < n; ++i) {
      if constexpr (requires { typename C::mapped_type; }) {
        E k = dataflow::decode<E>(r);
        out.emplace_hint(out.end(), std::move(k), dataflow::decode<typename C::mapped_type>(r));
      } else {
        out.emplace_hint(out.end(), dataflow::decode<E>(r));
      }
    }
    return out;
  }
};

template <class K, class V, class Cmp, class A>
  requires(dataflow::encodable<K> && dataflow::encodable<V>)
struct builtin_codec<std::map<K, V, Cmp, A>> : associative_codec<std::map<K, V, Cmp, A>> {};
template <class K, class V, class H, class Eq, class A>
  requires(dataflow::encodable<K> && dataflow::encodable<V>)
struct builtin_codec<std::unordered_map<K, V, H, Eq, A>>
    : associative_codec<std::unordered_map<K, V, H, Eq, A>> {};
template <class K, class Cmp, class A>
  requires dataflow::encodable<K>
struct builtin_codec<std::set<K, Cmp, A>> : associative_codec<std::set<K, Cmp, A>> {};
template <class K, class H, class Eq, class A>
  requires dataflow::encodable<K>
struct builtin_codec<std::unordered_set<K, H, Eq, A>>
    : associative_codec<std::unordered_set<K, H, Eq, A>> {};

}  // namespace detail
}  // namespace dataflow
