// The frame every action runs in: claims the context, plans the run, runs the final stage.
#pragma once

#include <dataflow/graph/context_state.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/stage.hpp>

#include <cstddef>
#include <string>
#include <utility>

namespace dataflow::detail {

/// One action on a dataset: `partitions()` computes the input, `run(sink_for)` drains it.
template <class Dataset>
class action_run {
 public:
  action_run(const Dataset& ds, const char* name)
      : ds_(ds),
        guard_(ds.node()->ctx()),
        label_(ds.node()->ctx().label(name)),
        run_(ds.node()->ctx(), label_, *ds.node()) {}

  /// Computes everything upstream and returns the number of partitions the action will read.
  std::size_t partitions() {
    ds_.node()->ensure_executed(run_);
    return ds_.node()->partition_count();
  }

  /// Pushes every item of the dataset into sink_for(partition), in parallel.
  template <class SinkFor>
  void run(SinkFor&& sink_for) {
    run_stage(run_, *ds_.node(), ds_.stack(), label_, std::forward<SinkFor>(sink_for));
  }

  const std::string& label() const noexcept { return label_; }
  run_state& state() noexcept { return run_; }
  std::size_t threads() const noexcept { return ds_.node()->ctx().threads(); }

 private:
  const Dataset& ds_;
  context_state::action_guard guard_;
  std::string label_;
  run_state run_;
};

}  // namespace dataflow::detail
