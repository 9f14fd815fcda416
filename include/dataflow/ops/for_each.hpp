// for_each: calls a function on every item, concurrently from the worker threads.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/action.hpp>

#include <cstddef>
#include <string>

namespace dataflow {
namespace detail {

template <class T, class F>
struct for_each_sink {
  const F* fn;
  const std::string* label;
  template <class X>
  void operator()(X&& x) const {
    const T& item = x;
    invoke_user(*label, *fn, item);
  }
};

}  // namespace detail

template <class T, class Stack>
template <class F>
void dataset<T, Stack>::for_each(F fn) const {
  static_assert(detail::const_callable<F, const T&>,
                "dataflow::for_each: the function must be callable as fn(const T&), on a const "
                "object (it runs on several threads at once)");
  detail::action_run<dataset> action(*this, "for_each", true);  // each rank over its items
  action.partitions();
  detail::for_each_sink<T, F> sink{&fn, &action.label()};
  action.run([&](std::size_t) -> detail::for_each_sink<T, F>& { return sink; });
  action.finish();
}

}  // namespace dataflow
