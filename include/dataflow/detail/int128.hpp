// 128-bit integers (a GCC and Clang extension), named once so -Wpedantic stays quiet.
#pragma once

namespace dataflow::detail {
__extension__ typedef unsigned __int128 uint128;
__extension__ typedef __int128 int128;
}  // namespace dataflow::detail
