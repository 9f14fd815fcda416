// collect / collect_partitions: every item back to the caller, as owning values.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/action.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace dataflow {
namespace detail {

template <class T>
struct collect_sink {
  std::vector<stored_t<T>> items;
  template <class X>
  void operator()(X&& x) {
    const T& item = x;
    items.push_back(to_stored(item));
  }
};

/// Every partition's items; on a job of several ranks, every rank's partitions in rank order,
/// on every rank or on `root` alone (the others get none).
template <class Dataset>
auto collect_by_partition(const Dataset& ds, const char* name, std::optional<std::size_t> root = std::nullopt) {
  using T = typename Dataset::value_type;
  context_state& ctx = ds.node()->ctx();
  if (root && *root >= rank_count(ctx)) {
    const std::size_t ranks = rank_count(ctx);
    throw usage_error("dataflow: " + std::string(name) + "(" + std::to_string(*root) + "): the job has " +
                      std::to_string(ranks) + (ranks == 1 ? " rank (0)" : " ranks (0 to " + std::to_string(ranks - 1) + ")"));
  }
  action_run<Dataset> action(ds, name, true);
  std::vector<collect_sink<T>> sinks(action.partitions());
  action.run([&](std::size_t p) -> collect_sink<T>& { return sinks[p]; });
  if (!multi_rank(ctx)) return sinks;
  using part = std::vector<stored_t<T>>;
  auto ranks = action.gather(
      [&] {
        std::vector<part> mine;
        for (auto& s : sinks) mine.push_back(std::move(s.items));
        return mine;
      },
      root);
  std::vector<collect_sink<T>> all;
  for (auto& rank : ranks) {
    for (auto& items : rank) all.push_back(collect_sink<T>{std::move(items)});
  }
  return all;
}

}  // namespace detail

namespace detail {
/// The sinks' items one partition after another.
template <class Stored, class Sinks>
std::vector<Stored> joined(Sinks& sinks) {
  std::size_t total = 0;
  for (const auto& s : sinks) total += s.items.size();
  std::vector<Stored> out;
  out.reserve(total);
  for (auto& s : sinks) std::move(s.items.begin(), s.items.end(), std::back_inserter(out));
  return out;
}
}  // namespace detail

template <class T, class Stack>
std::vector<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::collect() const {
  auto sinks = detail::collect_by_partition(*this, "collect");
  return detail::joined<stored_type>(sinks);
}

template <class T, class Stack>
std::vector<typename dataset<T, Stack>::stored_type> dataset<T, Stack>::collect_on(std::size_t rank) const {
  auto sinks = detail::collect_by_partition(*this, "collect_on", rank);
  return detail::joined<stored_type>(sinks);
}

template <class T, class Stack>
std::vector<std::vector<typename dataset<T, Stack>::stored_type>>
dataset<T, Stack>::collect_partitions() const {
  auto sinks = detail::collect_by_partition(*this, "collect_partitions");
  std::vector<std::vector<stored_type>> out;
  out.reserve(sinks.size());
  for (auto& s : sinks) out.push_back(std::move(s.items));
  return out;
}

}  // namespace dataflow
