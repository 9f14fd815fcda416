// for_each_group: each distinct key with its values as a range that may stream from disk.
//
// The same shuffle as group_by_key; the action then visits the groups of each partition in
// parallel. A group that fits is a span over memory; under a memory budget, a group too large
// for a thread's share (a single hot key) is read from its spill files block by block while
// the function iterates, so it finishes in bounded memory. On a job of several ranks the items
// go to the rank of their key first (ops/exchange.hpp), and each rank visits its own groups.
//
// @code
// clicks.for_each_group([](std::string_view user, dataflow::group_values<click>& cs) {
//   for (const click& c : cs) ...;
// });
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/action.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/exchange.hpp>
#include <dataflow/ops/handle.hpp>
#include <dataflow/group_values.hpp>
#include <dataflow/ops/group_by_key.hpp>

#include <cstddef>
#include <memory>
#include <type_traits>

namespace dataflow {

template <class T, class Stack>
template <class F>
void dataset<T, Stack>::for_each_group(F fn, shuffle_options options) const {
  static_assert(detail::is_pair_v<T>,
                "dataflow::for_each_group: items must be std::pair<K, V>");
  using K = std::remove_cv_t<typename T::first_type>;
  using V = std::remove_cv_t<typename T::second_type>;
  static_assert(detail::key_type<K>,
                  "dataflow::for_each_group: keys must be comparable with == "
                  "(for a struct of your own: bool operator==(const K&) const = default;)");
  static_assert(detail::hashable<K>,
                "dataflow::for_each_group: the key type has no hash; specialize dataflow::hash<K> "
                "or std::hash<K> for it");
  static_assert(std::is_invocable_v<const F&, const K&, group_values<V>&>,
                "dataflow::for_each_group: the function must be callable as fn(const K&, "
                "dataflow::group_values<V>&), on a const object");
  using Rules = detail::pair_grouping<T>;
  auto visit_groups = [&](auto node) {
    using Out = typename decltype(node)::element_type::value_type;
    dataset<Out> grouped(node);
    detail::action_run<dataset<Out>> action(grouped, "for_each_group", true);
    const std::size_t parts = action.partitions();
    // The visit (the user's function, and the split of a partition too big for the budget
    // into spilled sub-partitions) counts in the stage that fed the groups, as a sink's time
    // counts in its stage; a failed run's figures too.
    const detail::stats_clock clock;
    try {
      detail::parallel_partitions(action.state(), parts, node->label() + " -> " + action.label(),
                                  [&](std::size_t p) { node->visit_partition(p, fn); });
    } catch (...) {
      action.state().extend_stage(node->label(), clock);
      detail::settle_current(node_->ctx());
    }
    action.state().extend_stage(node->label(), clock);
    action.finish();
  };
  if constexpr (detail::across_ranks_built) {
    if (detail::multi_rank(node_->ctx())) {
      if constexpr (encodable<T>) {
        const std::size_t ranks = detail::rank_count(node_->ctx());
        auto route = [ranks](const T& x) { return detail::rank_of_hash(detail::table_hash(x.first), ranks); };
        auto received = std::make_shared<detail::exchange_node<T, decltype(route)>>(
            detail::erase_stack<T>(node_, stack_), std::move(route));
        auto node = std::make_shared<detail::group_node<T, Rules, detail::op_stack<T>>>(
            received, detail::op_stack<T>{}, Rules{}, "group_by_key", options);
        node->set_runs_across_ranks();
        visit_groups(std::move(node));
        return;
      } else {
        detail::no_codec_across_ranks("for_each_group");
      }
    }
  }
  visit_groups(std::make_shared<detail::group_node<T, Rules, Stack>>(node_, stack_, Rules{}, "group_by_key", options));
}

}  // namespace dataflow
