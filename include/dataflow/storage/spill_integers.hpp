// Spill files' encoding of items made only of integers (seen through pairs, tuples and plain
// structs): each integer in as few bytes as it needs, with a 4-bit length per integer in front.
//
// Spilling is mostly the cost of handing bytes to the page cache: group_sum's items (a key, a
// sum in two words and a count: 32 bytes) spilled 4.4 GB under a 512 MB budget, and the kernel's
// copy into fresh page-cache pages was a fifth of the run. Keys and counts are small numbers;
// signed integers are zigzagged first so that small negative ones are short too. Only spill
// files use this: it is the library's own transient format, and items with a codec of their
// own keep it.
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/detail/fields.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/errors.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace dataflow::detail {

static_assert(std::endian::native == std::endian::little, "dataflow: a spilled integer's low bytes are its first");

/// An integer of at most 64 bits (a 128-bit one would not fit a word: it keeps its bytes).
template <class U>
concept word_integer = (std::is_integral_v<U> || std::is_enum_v<U>) && sizeof(U) <= 8;

/// A class written as its bytes whose members cannot be seen (it has constructors, or private
/// members): taken as 64-bit words, which are often integers too (a fixed-point decimal's two
/// halves). Whatever it holds comes back bit for bit; words that are not small integers (a
/// double's) just take their full eight bytes and a length.
template <class U>
concept opaque_words = std::is_class_v<U> && !reflectable<U> && byte_copyable<U>() && sizeof(U) % 8 == 0;

/// How many integers an item of type T is made of, when it is made of integers only (seen
/// through pairs, tuples and plain structs, none with a codec of the user's); else 0.
template <class T>
consteval std::size_t integer_leaves() {
  using U = std::remove_cv_t<T>;
  auto all = [](auto... n) -> std::size_t { return ((n != 0) && ...) ? (std::size_t{0} + ... + n) : 0; };
  if constexpr (user_codec<U> || member_codec<U>) {
    return 0;
  } else if constexpr (word_integer<U>) {
    return 1;
  } else if constexpr (std::is_integral_v<U> || std::is_enum_v<U>) {
    return 0;
  } else if constexpr (opaque_words<U>) {
    return sizeof(U) / 8;
  } else if constexpr (is_pair_v<U>) {
    return all(integer_leaves<typename U::first_type>(), integer_leaves<typename U::second_type>());
  } else if constexpr (is_tuple<U>::value) {
    return []<class... Ts>(std::type_identity<std::tuple<Ts...>>, auto all_of) {
      if constexpr (sizeof...(Ts) == 0) {
        return std::size_t{0};
      } else {
        return all_of(integer_leaves<Ts>()...);
      }
    }(std::type_identity<U>{}, all);
  } else if constexpr (reflectable<U>) {  // every member is looked at below
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      if constexpr (sizeof...(I) == 0) {
        return std::size_t{0};
      } else {
        return all(integer_leaves<field_t<U, I>>()...);
      }
    }(std::make_index_sequence<field_count<U>>{});
  } else {
    return 0;
  }
}

template <class T>
inline constexpr bool integer_item = integer_leaves<T>() > 0;

inline std::uint64_t zigzag(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

template <class T>
void put_integers(const T& x, std::uint64_t*& out) noexcept {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_enum_v<U>) {
    put_integers(static_cast<std::underlying_type_t<U>>(x), out);
  } else if constexpr (std::is_integral_v<U>) {
    if constexpr (std::is_signed_v<U>) {
      *out++ = zigzag(static_cast<std::int64_t>(x));
    } else {
      *out++ = static_cast<std::uint64_t>(x);
    }
  } else if constexpr (opaque_words<U>) {
    std::array<std::uint64_t, sizeof(U) / 8> words;
    std::memcpy(words.data(), &x, sizeof(U));  // padding included: a copy of the bytes
    for (std::uint64_t w : words) *out++ = zigzag(static_cast<std::int64_t>(w));  // -1 is short too
  } else if constexpr (is_pair_v<U>) {
    put_integers(x.first, out);
    put_integers(x.second, out);
  } else if constexpr (is_tuple<U>::value) {
    std::apply([&](const auto&... e) { (put_integers(e, out), ...); }, x);
  } else {
    std::apply([&](const auto&... m) { (put_integers(m, out), ...); }, tie_fields(x));
  }
}

template <class T>
T take_integers(const std::uint64_t*& in) noexcept {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_enum_v<U>) {
    return static_cast<U>(take_integers<std::underlying_type_t<U>>(in));
  } else if constexpr (std::is_integral_v<U>) {
    const std::uint64_t v = *in++;
    if constexpr (std::is_signed_v<U>) {
      return static_cast<U>(unzigzag(v));
    } else {
      return static_cast<U>(v);
    }
  } else if constexpr (opaque_words<U>) {
    std::array<std::uint64_t, sizeof(U) / 8> words;
    for (std::uint64_t& w : words) w = static_cast<std::uint64_t>(unzigzag(*in++));
    return std::bit_cast<U>(words);  // a value representation for every byte, padding or not
  } else if constexpr (is_pair_v<U>) {
    return U{take_integers<typename U::first_type>(in), take_integers<typename U::second_type>(in)};
  } else if constexpr (is_tuple<U>::value) {
    return []<class... Ts>(std::type_identity<std::tuple<Ts...>>, const std::uint64_t*& at) {
      return U{take_integers<Ts>(at)...};  // braces: evaluated in order
    }(std::type_identity<U>{}, in);
  } else {
    return build_fields<U>([&](auto i) { return take_integers<field_t<U, i()>>(in); });
  }
}

/// Writes an item made of integers: n/2 bytes of 4-bit lengths, then each integer's low bytes.
template <class T>
void write_integers(byte_writer& w, const T& x) {
  constexpr std::size_t n = integer_leaves<T>(), head = (n + 1) / 2;
  std::uint64_t v[n];
  std::uint64_t* at = v;
  put_integers(x, at);
  char buf[head + 8 * n];
  std::memset(buf, 0, head);
  char* q = buf + head;
  for (std::size_t i = 0; i < n; ++i) {
    const auto len = static_cast<unsigned>(64 - std::countl_zero(v[i]) + 7) / 8;
    buf[i / 2] = static_cast<char>(buf[i / 2] | static_cast<char>(len << (4 * (i & 1))));
    std::memcpy(q, &v[i], 8);  // the buffer has room for eight bytes at every place
    q += len;
  }
  w.write(buf, static_cast<std::size_t>(q - buf));
}

/// Reads an item written by write_integers.
template <class T>
T read_integers(byte_reader& r) {
  constexpr std::size_t n = integer_leaves<T>(), head = (n + 1) / 2;
  std::uint64_t v[n];
  unsigned bad = 0;  // a length above 8 (a corrupt block: the checksum passed, so a bug)
  auto length = [&](const char* lengths, std::size_t i) {
    const unsigned len = (static_cast<unsigned char>(lengths[i / 2]) >> (4 * (i & 1))) & 15u;
    bad |= len > 8;
    return len > 8 ? 8u : len;
  };
  auto low_bytes = [](std::uint64_t x, unsigned len) {
    return len == 8 ? x : x & ((std::uint64_t{1} << (8 * len)) - 1);
  };
  if (r.remaining() >= head + 8 * n) {
    // Most items: whole words are loaded and masked, and the reader moves once.
    const char* const start = r.view(0).data();
    const char* p = start + head;
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned len = length(start, i);
      std::uint64_t x;
      std::memcpy(&x, p, 8);
      v[i] = low_bytes(x, len);
      p += len;
    }
    r.view(static_cast<std::size_t>(p - start));
  } else {
    // Near the block's end: byte by byte, checked.
    const char* const lengths = r.view(head).data();
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned len = length(lengths, i);
      std::uint64_t x = 0;
      std::memcpy(&x, r.view(len).data(), len);
      v[i] = x;
    }
  }
  if (bad) throw error("dataflow: a spilled block holds a malformed integer length");
  const std::uint64_t* at = v;
  return take_integers<T>(at);
}

}  // namespace dataflow::detail
