// count: the number of items.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/graph/action.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dataflow {
namespace detail {

struct alignas(64) count_sink {
  static constexpr bool batch_local = true;
  std::size_t n = 0;
  template <class X>
  void operator()(X&&) noexcept {
    ++n;
  }
};

}  // namespace detail

template <class T, class Stack>
std::size_t dataset<T, Stack>::count() const {
  detail::action_run<dataset> action(*this, "count", true);
  std::vector<detail::count_sink> sinks(action.partitions());
  action.run([&](std::size_t p) -> detail::count_sink& { return sinks[p]; });
  std::size_t n = 0;
  for (std::uint64_t part : action.gather([&] {
         std::uint64_t mine = 0;
         for (const auto& s : sinks) mine += s.n;
         return mine;
       })) {
    n += static_cast<std::size_t>(part);
  }
  return n;
}

}  // namespace dataflow
