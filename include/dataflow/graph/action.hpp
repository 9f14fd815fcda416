// The frame every action runs in: claims the context, plans the run, runs the final stage.
#pragma once

#include <dataflow/graph/cluster.hpp>
#include <dataflow/graph/context_state.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/stage.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace dataflow::detail {

/// One action on a dataset: `partitions()` computes the input, `run(sink_for)` drains it.
///
/// On a job of several ranks (graph/cluster.hpp) only an action made `across_ranks` runs: its
/// partitions are this rank's, a failure is settled with every rank before it is rethrown, and
/// gather() hands it every rank's part of the result.
template <class Dataset>
class action_run {
 public:
  action_run(const Dataset& ds, const char* name, bool across_ranks = false)
      : ds_(ds),
        guard_(ds.node()->ctx()),
        label_(checked_label(ds.node()->ctx(), name, across_ranks)),
        run_(ds.node()->ctx(), label_, *ds.node()) {}

  /// Computes everything upstream and returns the number of partitions the action will read.
  std::size_t partitions() {
    try {
      ds_.node()->ensure_executed(run_);
      return ds_.node()->partition_count();
    } catch (...) {
      settle_current(run_.ctx());
    }
  }

  /// Pushes every item of the dataset into sink_for(partition), in parallel.
  template <class SinkFor>
  void run(SinkFor&& sink_for) {
    try {
      run_stage(run_, *ds_.node(), ds_.stack(), label_, std::forward<SinkFor>(sink_for));
    } catch (...) {
      settle_current(run_.ctx());
    }
  }

  /// Runs part() (this rank's result, from the sinks), settles it with every rank, and returns
  /// every rank's result in rank order (on one process: this one's alone); with `root`, on that
  /// rank only (the others get none).
  template <class Part>
  auto gather(Part&& part, std::optional<std::size_t> root = std::nullopt) {
    using V = std::remove_cvref_t<decltype(part())>;
    std::optional<V> mine;
    settle(run_.ctx(), [&] { mine.emplace(part()); });
    // The figures first: with a root, only the root decodes the parts, and if that fails
    // (no memory for a large result) no other rank may be left waiting in a later exchange.
    run_.gather_job_stats();
    return gather_parts<V>(run_.ctx(), std::move(*mine), root);
  }

  /// Settles the end of an action that returns nothing with every rank.
  void finish() {
    settle(run_.ctx(), [] {});
    run_.gather_job_stats();
  }

  const std::string& label() const noexcept { return label_; }
  run_state& state() noexcept { return run_; }
  std::size_t threads() const noexcept { return ds_.node()->ctx().threads(); }

 private:
  static std::string checked_label(context_state& ctx, const char* name, bool across_ranks) {
    if (!across_ranks && multi_rank(ctx)) {
      throw usage_error(std::string("dataflow: ") + name + " does not run on a job of several ranks yet");
    }
    return ctx.label(name);
  }

  const Dataset& ds_;
  context_state::action_guard guard_;
  std::string label_;
  run_state run_;
};

}  // namespace dataflow::detail
