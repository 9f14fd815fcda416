// Items as a text table, for dataset::show: a column per member of a pair ("key", "value"), a
// tuple (1, 2, ...) or a plain struct (its member names), one column otherwise. Numbers align
// right, text left; long cells are cut to max_cell characters.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/detail/fields.hpp>
#include <dataflow/detail/requirements.hpp>

#include <dataflow/detail/format.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

inline constexpr std::size_t max_cell = 40;

/// Appends x as the text of one cell.
template <class T>
void append_cell(std::string& out, const T& x) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out += std::string_view(x);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += x ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    fmt::format_to(std::back_inserter(out), "{}", static_cast<std::underlying_type_t<T>>(x));
  } else if constexpr (std::is_arithmetic_v<T>) {
    fmt::format_to(std::back_inserter(out), "{}", x);
  } else if constexpr (is_optional_v<T>) {
    if (x) append_cell(out, *x);
  } else if constexpr (is_pair_v<T> || is_tuple<T>::value) {
    out += '(';
    std::apply([&](const auto&... m) {
      const char* sep = "";
      ((out += sep, append_cell(out, m), sep = ", "), ...);
    }, x);
    out += ')';
  } else if constexpr (reflectable<T>) {
    out += '{';
    std::apply([&](const auto&... m) {
      const char* sep = "";
      ((out += sep, append_cell(out, m), sep = ", "), ...);
    }, tie_fields(x));
    out += '}';
  } else if constexpr (std::ranges::input_range<const T>) {
    out += '[';
    const char* sep = "";
    for (const auto& e : x) {
      out += sep;
      append_cell(out, e);
      sep = ", ";
      if (out.size() > 4 * max_cell) break;  // cut below anyway
    }
    out += ']';
  } else if constexpr (fmt::is_formattable<T>::value) {
    fmt::format_to(std::back_inserter(out), "{}", x);
  } else {
    out += '?';
  }
}

template <class T>
std::string cell_text(const T& x) {
  std::string s;
  append_cell(s, x);
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

/// Characters (UTF-8 code points) in s.
std::size_t display_width(std::string_view s);

std::string cut_cell(std::string s);

template <class T>
struct numeric_cell : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T>> {};
template <class V>
struct numeric_cell<std::optional<V>> : numeric_cell<V> {};

struct column {
  std::string name;
  bool right = false;
  std::vector<std::string> cells;
};

template <class M>
void add_cell(column& c, const M& m) {
  c.right = numeric_cell<M>::value;
  c.cells.push_back(cut_cell(cell_text(m)));
}

/// The columns of a row type and their names.
template <class S>
std::vector<column> columns_of(const std::vector<S>& rows) {
  std::vector<column> cols;
  if constexpr (is_pair_v<S>) {
    cols.resize(2);
    cols[0].name = "key";
    cols[1].name = "value";
    for (const auto& r : rows) {
      add_cell(cols[0], r.first);
      add_cell(cols[1], r.second);
    }
  } else if constexpr (is_tuple<S>::value) {
    cols.resize(std::tuple_size_v<S>);
    for (std::size_t i = 0; i < cols.size(); ++i) cols[i].name = std::to_string(i + 1);
    for (const auto& r : rows) {
      std::size_t i = 0;
      std::apply([&](const auto&... m) { (add_cell(cols[i++], m), ...); }, r);
    }
  } else if constexpr (members_of<S>() > 0) {
    cols.resize(field_count<S>);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((cols[I].name = std::string(field_name<S, I>())), ...);
    }(std::make_index_sequence<field_count<S>>{});
    for (const auto& r : rows) {
      std::size_t i = 0;
      std::apply([&](const auto&... m) { (add_cell(cols[i++], m), ...); }, tie_fields(r));
    }
  } else {
    cols.resize(1);
    cols[0].name = "value";
    for (const auto& r : rows) add_cell(cols[0], r);
  }
  return cols;
}

/// rows as a table: a header, a rule, a line per row.
template <class S>
std::string format_table(const std::vector<S>& rows) {
  std::vector<column> cols = columns_of(rows);
  std::vector<std::size_t> width(cols.size());
  for (std::size_t c = 0; c < cols.size(); ++c) {
    width[c] = display_width(cols[c].name);
    for (const auto& cell : cols[c].cells) width[c] = std::max(width[c], display_width(cell));
  }
  std::string out;
  auto line = [&](auto&& text_of, bool header) {
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const std::string& t = text_of(c);
      const std::size_t pad = width[c] - display_width(t);
      if (c > 0) out += " | ";
      if (cols[c].right && !header) out.append(pad, ' ');
      out += t;
      if ((!cols[c].right || header) && c + 1 < cols.size()) out.append(pad, ' ');
    }
    out += '\n';
  };
  line([&](std::size_t c) -> const std::string& { return cols[c].name; }, true);
  for (std::size_t c = 0; c < cols.size(); ++c) {
    if (c > 0) out += "-+-";
    out.append(width[c], '-');
  }
  out += '\n';
  for (std::size_t r = 0; r < rows.size(); ++r) {
    line([&](std::size_t c) -> const std::string& { return cols[c].cells[r]; }, false);
  }
  return out;
}

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
namespace dataflow::detail {

DATAFLOW_INLINE std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

DATAFLOW_INLINE std::string cut_cell(std::string s) {
  if (display_width(s) <= max_cell) return s;
  std::size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80 && ++chars == max_cell - 1) break;
  }
  s.resize(i);
  return s + "..";
}

}  // namespace dataflow::detail
#endif
