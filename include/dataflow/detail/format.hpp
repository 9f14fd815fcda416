// fmt, with its formatting engine taken from the fmt library instead of compiled again in every
// file that formats into a buffer.
//
// fmt 9 defines the engine (`detail::vformat_to<char>`, with integer and floating-point
// formatting: some 70 KB of code) in <fmt/format.h> without an explicit instantiation
// declaration, so every file that calls fmt::format_to compiles and optimizes it again, although
// the shared library exports that very instantiation. Declaring it here saves about 1.5 s of
// each compile. fmt 10 and later declare it themselves; a header-only fmt has no library to use.
#pragma once

#include <fmt/format.h>

#if !defined(FMT_HEADER_ONLY) && FMT_VERSION >= 90000 && FMT_VERSION < 100000
FMT_BEGIN_NAMESPACE
namespace detail {
extern template FMT_API void vformat_to<char>(buffer<char>&, basic_string_view<char>,
                                              basic_format_args<buffer_context<char>>, locale_ref);
}  // namespace detail
FMT_END_NAMESPACE
#endif
