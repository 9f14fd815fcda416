// One fmt::formatter for the value types that have a to_string (decimal, date, timestamp): the
// text, then fmt's string options (width, alignment) applied to it.
#pragma once

#include <dataflow/detail/format.hpp>

#include <string>
#include <string_view>

namespace dataflow::detail {

template <class T>
struct to_string_formatter : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const T& value, Context& ctx) const {
    const std::string s = to_string(value);  // the type's own, found by argument lookup
    return fmt::formatter<std::string_view>::format(std::string_view(s), ctx);
  }
};

}  // namespace dataflow::detail
