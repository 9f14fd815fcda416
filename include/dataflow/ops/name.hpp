// dataset::name: a name of the user's for an operator, shown in plans, statistics, progress
// and errors instead of "map#4".
#pragma once

#include <dataflow/dataset.hpp>

#include <string>
#include <utility>

namespace dataflow {

template <class T, class Stack>
dataset<T, Stack> dataset<T, Stack>::name(std::string label) const {
  if constexpr (Stack::empty) {
    node_->rename(std::move(label));
    return *this;
  } else {
    return dataset(node_, stack_.relabel_last(std::move(label)));
  }
}

namespace detail {

/// Shows a composite operator as itself: the steps before its node are hidden and the node
/// takes the operator's name ("distinct#7", not "map#5 -> reduce_by_key#6").
template <class Dataset>
auto composite(const Dataset& ds, const char* op) {
  return ds.name(ds.node()->ctx().label(op));
}

/// A local step inside a composite operator: no name of its own in plans and errors.
template <class Dataset>
auto hidden(const Dataset& ds) {
  static_assert(!Dataset::stack_type::empty, "hidden: only a local step can be hidden");
  return ds.name("");
}

}  // namespace detail
}  // namespace dataflow
