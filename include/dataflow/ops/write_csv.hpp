// write_csv and write_records: file sinks with the staging, ordering and part files of
// write_lines (see write_lines.hpp).
#pragma once

#include <dataflow/csv.hpp>
#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/fields.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/ops/write_lines.hpp>

#include <dataflow/detail/format.hpp>

#include <cstddef>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace dataflow {
namespace detail {

template <class T>
struct csv_format {
  static constexpr const char* op = "write_csv";
  const csv_options* options;

  void header(fmt::memory_buffer& text) const {
    std::vector<std::string> names = options->header;
    if constexpr (members_of<T>() > 0) {
      if (names.empty() && options->member_names) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          (names.emplace_back(field_name<T, I>()), ...);
        }(std::make_index_sequence<members_of<T>()>{});
      }
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i) text.push_back(options->separator);
      text_field(text, names[i]);
    }
    if (!names.empty()) text.push_back('\n');
  }

  void append(fmt::memory_buffer& text, const T& item, const std::string& label) const {
    invoke_user(label, [&] { fields(text, item); });
    text.push_back('\n');
  }

  /// A pair, tuple or plain struct gives a field per member, nested ones too (a join's
  /// (K, (VL, VR)) is three fields); anything else one field.
  template <class F>
  void fields(fmt::memory_buffer& text, const F& f) const {
    if constexpr (is_pair_v<F>) {
      fields(text, f.first);
      text.push_back(options->separator);
      fields(text, f.second);
    } else if constexpr (requires { std::tuple_size<F>::value; } && !std::is_convertible_v<const F&, std::string_view>) {
      std::apply(
          [&](const auto&... m) {
            std::size_t i = 0;
            ((i++ ? text.push_back(options->separator) : void(), fields(text, m)), ...);
          },
          f);
    } else if constexpr (members_of<F>() > 0 && !std::ranges::range<F> && !fmt::is_formattable<F>::value) {
      std::apply(
          [&](const auto&... m) {
            std::size_t i = 0;
            ((i++ ? text.push_back(options->separator) : void(), fields(text, m)), ...);
          },
          tie_fields(f));
    } else {
      field(text, f);
    }
  }

  /// A text field, quoted when it holds the separator, a quote or a line break.
  void text_field(fmt::memory_buffer& text, std::string_view s) const {
    append_csv_field(text, s, options->separator);
  }

  template <class F>
  void field(fmt::memory_buffer& text, const F& f) const {
    if constexpr (std::is_convertible_v<const F&, std::string_view>) {
      text_field(text, std::string_view(f));
    } else if constexpr (std::is_same_v<F, char>) {
      text_field(text, std::string_view(&f, 1));
    } else if constexpr (std::is_same_v<F, bool>) {
      text.append(std::string_view(f ? "true" : "false"));
    } else if constexpr (std::is_floating_point_v<F>) {
      fmt::format_to(fmt::appender(text), fmt::runtime(options->float_format), f);
    } else if constexpr (std::is_enum_v<F>) {
      fmt::format_to(fmt::appender(text), "{}", static_cast<std::underlying_type_t<F>>(f));
    } else if constexpr (std::is_arithmetic_v<F>) {
      fmt::format_to(fmt::appender(text), "{}", f);
    } else if constexpr (requires { f.has_value(); *f; }) {
      if (f) field(text, *f);
    } else {
      static_assert(fmt::is_formattable<F>::value,
                    "dataflow::write_csv: a field is neither a string, a number, an optional "
                    "nor formattable with fmt");
      text_field(text, fmt::format("{}", f));
    }
  }
};

template <class T>
struct record_format {
  static constexpr const char* op = "write_records";
  void header(fmt::memory_buffer&) const {}
  void append(fmt::memory_buffer& text, const T& item, const std::string&) const {
    const char* p = reinterpret_cast<const char*>(&item);
    text.append(p, p + sizeof(T));
  }
};

}  // namespace detail

template <class T, class Stack>
void dataset<T, Stack>::write_csv(const std::string& path, csv_options csv,
                                  write_options options) const {
  if (csv.separator == '"' || csv.separator == '\n' || csv.separator == '\r') {
    throw usage_error("dataflow::write_csv: the separator cannot be a quote or a line break");
  }
  try {
    (void)fmt::format(fmt::runtime(csv.float_format), 1.5);
  } catch (const fmt::format_error& e) {
    throw usage_error("dataflow::write_csv: float_format '" + csv.float_format +
                      "' is not an fmt format for a number: " + e.what());
  }
  detail::write_formatted(*this, path, options, detail::csv_format<T>{&csv});
}

template <class T, class Stack>
void dataset<T, Stack>::write_records(const std::string& path, write_options options) const {
  static_assert(std::is_trivially_copyable_v<T>,
                "dataflow::write_records: items must be trivially copyable (plain structs of "
                "numbers); use write_lines or write_csv for others");
  detail::write_formatted(*this, path, options, detail::record_format<T>{});
}

}  // namespace dataflow
