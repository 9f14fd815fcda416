// read_csv: CSV files (RFC 4180) as typed rows, a plain struct or a std::tuple per line.
//
// With a header (the default), a struct's members are matched to the columns of the same name,
// in any order, and other columns are ignored; without one, or for a tuple, member i is column
// i (columns after the last member are ignored). Fields are parsed by the member's type:
// integers and floating point (surrounding spaces allowed), bool (true/false/1/0), char,
// std::string, enums (as their number), dataflow::decimal<S>, date and timestamp
// (decimal.hpp, calendar.hpp), any type with a static parse(std::string_view), and
// std::optional of these, empty when the field is.
// A field that does not parse stops the run with an error naming the file, line, column and
// member. Lines end in LF or CRLF; empty lines are skipped; a quoted field may not span lines.
//
// @code
// struct sale { std::string region; std::int64_t units; double price; };
// auto sales = ctx.read_csv<sale>("sales/*.csv");      // header: region,price,units,...
// auto by_region = sales.map([](const sale& s) { return std::pair(s.region, s.units * s.price); })
//                       .reduce_by_key(std::plus<>{});
// @endcode
#pragma once

#include <dataflow/calendar.hpp>
#include <dataflow/context.hpp>
#include <dataflow/decimal.hpp>
#include <dataflow/csv.hpp>
#include <dataflow/detail/config.hpp>
#include <dataflow/detail/fields.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/ops/flat_map.hpp>
#include <dataflow/sources/read_lines.hpp>
#include <dataflow/storage/files.hpp>

#include <array>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

template <class T>
struct csv_row_traits;  // the members of a row type: count, types, names

template <class... Ts>
struct csv_row_traits<std::tuple<Ts...>> {
  static constexpr std::size_t size = sizeof...(Ts);
  static constexpr bool named = false;
  template <std::size_t I>
  using member = std::tuple_element_t<I, std::tuple<Ts...>>;
  static std::string name(std::size_t i) { return "column " + std::to_string(i + 1); }
  template <class Make>
  static std::tuple<Ts...> build(Make&& make) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::tuple<Ts...>{make(std::integral_constant<std::size_t, I>{})...};
    }(std::index_sequence_for<Ts...>{});
  }
};

template <class T>
  requires reflectable<T>
struct csv_row_traits<T> {
  static constexpr std::size_t size = field_count<T>;
  static constexpr bool named = true;
  template <std::size_t I>
  using member = field_t<T, I>;
  static std::string name(std::size_t i) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      std::string_view names[] = {field_name<T, I>()...};
      return std::string(names[i]);
    }(std::make_index_sequence<size>{});
  }
  template <class Make>
  static T build(Make&& make) {
    return build_fields<T>(std::forward<Make>(make));
  }
};

inline std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// Parses one field as an F; `column` (1-based byte column) and `member` name it in errors.
template <class F>
F parse_csv_field(std::string_view s, std::size_t column, const std::string& member) {
  auto fail = [&](const char* what) -> F {
    throw csv_error(member + ": '" + std::string(s.substr(0, 64)) + "' " + what, column);
  };
  if constexpr (is_optional_v<F>) {
    if (trim_spaces(s).empty()) return std::nullopt;
    return F(parse_csv_field<typename F::value_type>(s, column, member));
  } else if constexpr (requires { { F::parse(std::string_view()) } -> std::same_as<F>; }) {
    // dataflow::decimal, date, timestamp, or a type of the user's with static F parse(sv)
    // that throws std::invalid_argument or std::out_of_range saying what is wrong
    const std::string_view t = trim_spaces(s);
    try {
      return F::parse(t);
    } catch (const std::invalid_argument& e) {
      return fail(e.what());
    } catch (const std::out_of_range& e) {
      return fail(e.what());
    }
  } else if constexpr (std::is_same_v<F, std::string>) {
    return std::string(s);
  } else if constexpr (std::is_same_v<F, bool>) {
    const std::string_view t = trim_spaces(s);
    auto is = [&](std::string_view w) {
      if (t.size() != w.size()) return false;
      for (std::size_t i = 0; i < t.size(); ++i) {
        if ((t[i] | 0x20) != w[i]) return false;
      }
      return true;
    };
    if (t == "1" || is("true")) return true;
    if (t == "0" || is("false")) return false;
    return fail("is not a bool (true, false, 1 or 0)");
  } else if constexpr (std::is_same_v<F, char>) {
    if (s.size() != 1) return fail("is not one character");
    return s[0];
  } else if constexpr (std::is_enum_v<F>) {
    return static_cast<F>(parse_csv_field<std::underlying_type_t<F>>(s, column, member));
  } else if constexpr (std::is_arithmetic_v<F>) {
    std::string_view t = trim_spaces(s);
    if (!t.empty() && t.front() == '+' && (t.size() < 2 || t[1] != '-')) t.remove_prefix(1);
    F v{};
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec == std::errc::result_out_of_range) return fail("is out of range for its type");
    if (ec != std::errc() || end != t.data() + t.size() || t.empty()) {
      return fail(std::is_integral_v<F> ? "is not an integer" : "is not a number");
    }
    return v;
  } else {
    static_assert(std::is_same_v<F, std::string>,
                  "dataflow::read_csv: a member type it cannot parse: use integers, floating "
                  "point, bool, char, std::string, enums, dataflow::decimal, date, timestamp, a "
                  "type with static T parse(std::string_view), or std::optional of these (a "
                  "std::string_view would outlive its line)");
  }
}

/// Which column each member of Row reads.
template <class Row>
struct csv_plan {
  using traits = csv_row_traits<Row>;
  std::array<std::size_t, traits::size> column{};
  std::size_t columns = 0;  // fields to split off each line
  char separator = ',';
  std::vector<std::string> names;
};

/// The header line of `path`, or nothing when the file is empty.
std::optional<std::string> first_line(const std::string& path);

template <class Row>
csv_plan<Row> plan_csv(const std::vector<std::string>& paths, const csv_read_options& options) {
  using traits = csv_row_traits<Row>;
  csv_plan<Row> plan;
  plan.separator = options.separator;
  for (std::size_t i = 0; i < traits::size; ++i) {
    plan.column[i] = i;
    plan.names.push_back(traits::name(i));
  }
  plan.columns = traits::size;
  if (!(traits::named && options.header && options.by_name)) return plan;

  // By name: every file's header must have the members' columns, at the same places.
  bool planned = false;
  for (const file_entry& f : expand_files(paths, "read_csv")) {
    if (!f.regular) {
      throw usage_error("dataflow::read_csv: '" + input_name(f.path) +
                        "' is not a regular file, so its header cannot be read before the run; "
                        "read it with .by_name = false (members in column order)");
    }
    const std::optional<std::string> header = first_line(f.path);
    if (!header) continue;
    std::string_view line = *header;
    if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);  // a UTF-8 byte order mark
    std::vector<std::string> cols;
    for (csv_fields fields(line, options.separator); !fields.done();) {
      cols.emplace_back(trim_spaces(fields.next()));
    }
    std::array<std::size_t, traits::size> at{};
    for (std::size_t i = 0; i < traits::size; ++i) {
      std::size_t c = 0;
      while (c < cols.size() && cols[c] != plan.names[i]) ++c;
      if (c == cols.size()) {
        std::string all;
        for (const auto& name : cols) all += (all.empty() ? "" : ", ") + name;
        throw usage_error("dataflow::read_csv: " + input_name(f.path) + " has no column '" +
                          plan.names[i] + "' (its header: " + all + ")");
      }
      at[i] = c;
    }
    if (planned && at != plan.column) {
      throw usage_error("dataflow::read_csv: " + input_name(f.path) +
                        " has its columns in another order than the files before it");
    }
    plan.column = at;
    planned = true;
  }
  plan.columns = 0;
  for (std::size_t c : plan.column) plan.columns = std::max(plan.columns, c + 1);
  return plan;
}

/// Splits a line and builds a Row from the fields its members read.
template <class Row>
struct csv_row_parser {
  using traits = csv_row_traits<Row>;
  std::shared_ptr<const csv_plan<Row>> plan;

  template <class Emit>
  void operator()(std::string_view line, Emit&& emit) const {
    if (line.empty() || line == "\r") return;
    const csv_plan<Row>& p = *plan;
    // The fields up to the last one used, with their columns. An unquoted field ("" inside)
    // lives in the splitter's buffer until the next field, so those are copied.
    thread_local std::vector<std::string_view> fields;
    thread_local std::vector<std::size_t> at;
    thread_local std::vector<std::string> copies;
    fields.clear();
    at.clear();
    if (copies.size() < p.columns) copies.resize(p.columns);
    csv_fields split(line, p.separator);
    for (std::size_t c = 0; c < p.columns; ++c) {
      at.push_back(split.position() + 1);
      std::string_view f = split.next();
      if (!f.empty() && (f.data() < line.data() || f.data() >= line.data() + line.size())) {
        copies[c].assign(f);
        f = copies[c];
      }
      fields.push_back(f);
    }
    emit(traits::build([&](auto i) {
      constexpr std::size_t m = decltype(i)::value;
      using M = typename traits::template member<m>;
      const std::size_t c = p.column[m];
      return parse_csv_field<M>(fields[c], at[c], p.names[m]);
    }));
  }
};

}  // namespace detail

template <class Row>
auto context::read_csv(const std::vector<std::string>& paths_or_globs,
                       csv_read_options options) const {
  static_assert(detail::reflectable<Row> || detail::is_tuple<Row>::value,
                "dataflow::read_csv: the row type must be a plain struct (public members, no "
                "constructors) or a std::tuple");
  if (options.separator == '"' || options.separator == '\n' || options.separator == '\r') {
    throw usage_error("dataflow::read_csv: the separator cannot be a quote or a line break");
  }
  auto plan = std::make_shared<const detail::csv_plan<Row>>(
      detail::plan_csv<Row>(paths_or_globs, options));
  return read_lines(paths_or_globs, {.chunk_bytes = options.chunk_bytes, .skip_header = options.header})
      .template flat_map<Row>(detail::csv_row_parser<Row>{std::move(plan)});
}

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
namespace dataflow::detail {

DATAFLOW_INLINE std::optional<std::string> first_line(const std::string& path) {
  file_handle fd = open_for_reading(path, "read_csv");
  std::string line;
  char buf[4096];
  std::uint64_t at = 0;
  for (;;) {
    const std::size_t n = read_at(fd.get(), buf, sizeof buf, at, path, "read_csv");
    if (n == 0) break;
    const std::string_view chunk(buf, n);
    const std::size_t nl = chunk.find('\n');
    line.append(chunk.substr(0, nl));
    if (nl != std::string_view::npos) break;
    at += n;
    if (line.size() > (std::size_t{1} << 20)) {
      throw io_error(path, "read_csv: the first line of '" + path + "' is over 1 MiB: not a header");
    }
  }
  if (line.empty() && at == 0) return std::nullopt;
  return line;
}

}  // namespace dataflow::detail
#endif
