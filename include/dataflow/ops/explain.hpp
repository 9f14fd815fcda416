// explain / explain_dot: the plan an action on a dataset would run; both also show the figures
// of the stages that the context's latest action ran.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/graph/explain.hpp>

#include <string>

namespace dataflow {

template <class T, class Stack>
std::string dataset<T, Stack>::explain() const {
  // After a run, the stages it ran carry its figures.
  return detail::explain_text(*node_, stack_.labels(), &node_->ctx().last_run);
}

template <class T, class Stack>
std::string dataset<T, Stack>::explain_dot() const {
  return detail::explain_dot_text(*node_, stack_.labels(), &node_->ctx().last_run);
}

}  // namespace dataflow
