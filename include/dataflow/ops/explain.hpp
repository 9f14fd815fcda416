// explain / explain_dot: the plan an action on a dataset would run.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/graph/explain.hpp>

#include <string>

namespace dataflow {

template <class T, class Stack>
std::string dataset<T, Stack>::explain() const {
  return detail::explain_text(*node_, stack_.labels());
}

template <class T, class Stack>
std::string dataset<T, Stack>::explain_dot() const {
  return detail::explain_dot_text(*node_, stack_.labels());
}

}  // namespace dataflow
