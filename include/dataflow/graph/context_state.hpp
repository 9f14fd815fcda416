// The shared state behind a dataflow::context: its thread arena, its operator counter and its
// policies. Every node holds a reference to it, so datasets stay usable after the context object
// that made them is gone.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/memory_gauge.hpp>
#include <dataflow/graph/scheduler.hpp>
#include <dataflow/progress.hpp>
#include <dataflow/run_stats.hpp>
#include <dataflow/storage/spill_directory.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace dataflow {

class cluster;

/// What an action does when it must compute again a dataset that an earlier action computed.
enum class recompute_policy {
  warn,   ///< computes it again and reports it once through the warning handler (the default)
  allow,  ///< computes it again silently
  error,  ///< throws dataflow::usage_error instead
};

namespace detail {

class context_state {
 public:
  explicit context_state(std::size_t threads);

  std::size_t threads() const noexcept { return scheduler_->threads(); }

  /// Replaces the arena with one of `n` threads (0: every core).
  void set_threads(std::size_t n);

  detail::scheduler& arena() noexcept { return *scheduler_; }

  /// Returns a new operator label such as "map#3".
  std::string label(const char* op);

  /// Bytes the buffers of a run may hold before operators spill; 0 means no limit.
  std::size_t memory_budget = 0;
  /// The processes of the job this context runs as one of (graph/cluster.hpp); null: one
  /// process on its own.
  std::shared_ptr<cluster> ranks;
  /// Set once the running action has settled a failure with every rank (graph/cluster.hpp).
  bool job_failure_settled = false;
  /// Where spill directories are made; empty means $TMPDIR, else /tmp.
  std::string spill_root;
  spill_space spills;
  /// Set while a stream runs on this context (one at a time: its batches are the context's
  /// actions).
  std::atomic<bool> streaming{false};
  /// The thread of that stream's batches: the only one whose actions may run meanwhile.
  std::atomic<std::thread::id> stream_thread{};
  /// Bytes the filled caches of this context hold in memory.
  std::atomic<std::size_t> cached_bytes{0};
  /// Bytes the state of this context's running stream holds in memory: the stream's batches
  /// share the budget with it.
  std::atomic<std::size_t> stream_state_bytes{0};
  /// Bytes charged to the budget now (operator state as it builds, caches) and their peak.
  memory_gauge charged;

  /// Returns the spill directory for `stage`, making it on first need.
  std::shared_ptr<spill_directory> spill_dir(const std::string& stage);

  /// The figures of the latest action (actions of one context never overlap).
  run_stats last_run;
  /// The latest runs, oldest first (context::recent_runs).
  std::deque<run_stats> recent_runs;
  static constexpr std::size_t recent_runs_kept = 8;
  /// The running action's progress counters and the thread that shows them.
  progress_reporter progress;

  recompute_policy on_recompute = recompute_policy::warn;
  std::function<void(const std::string&)> warning_handler;

  void warn(const std::string& message);

  /// Marks an action as running; a second concurrent or nested action on the same context is an
  /// error rather than a deadlock or a race on the nodes' results.
  class action_guard {
   public:
    explicit action_guard(context_state& s);
    ~action_guard();
    action_guard(const action_guard&) = delete;
    action_guard& operator=(const action_guard&) = delete;

   private:
    static usage_error nested();
    context_state& s_;
  };

 private:
  std::unique_ptr<scheduler> scheduler_;
  std::atomic<std::size_t> next_id_{0};
  std::atomic<bool> running_{false};
  std::atomic<std::thread::id> running_owner_{};  // the thread that started the running action
};

}  // namespace detail
}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <chrono>
#include <cstdio>

namespace dataflow::detail {

DATAFLOW_INLINE context_state::context_state(std::size_t threads)
    : scheduler_(std::make_unique<scheduler>(threads)) {}

DATAFLOW_INLINE void context_state::set_threads(std::size_t n) {
  scheduler_ = std::make_unique<scheduler>(n);
}

DATAFLOW_INLINE std::string context_state::label(const char* op) {
  return std::string(op) + "#" + std::to_string(++next_id_);
}

DATAFLOW_INLINE std::shared_ptr<spill_directory> context_state::spill_dir(const std::string& stage) {
  (void)stage;
  return spills.directory(spill_root);
}

DATAFLOW_INLINE void context_state::warn(const std::string& message) {
  if (warning_handler) {
    warning_handler(message);
  } else {
    std::fprintf(stderr, "%s\n", message.c_str());
  }
}

DATAFLOW_INLINE context_state::action_guard::action_guard(context_state& s) : s_(s) {
  if (s_.streaming.load()) {
    if (std::this_thread::get_id() != s_.stream_thread.load()) {
      throw usage_error(
          "dataflow: an action started on a context where a stream runs (its batches are the context's "
          "actions); run batch actions on another context");
    }
    // Nested in one of the stream's own batches (a user function that its thread runs).
    if (s_.running_owner_.load() == std::this_thread::get_id()) throw nested();
    // A batch of the stream: an action begun before the stream started finishes first.
    while (s_.running_.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    s_.running_owner_.store(std::this_thread::get_id());
    return;
  }
  if (s_.running_.exchange(true)) throw nested();
  s_.running_owner_.store(std::this_thread::get_id());
}

DATAFLOW_INLINE usage_error context_state::action_guard::nested() {
  return usage_error(
      "dataflow: an action started while another action of the same context is running; "
      "use a separate context for concurrent or nested jobs");
}

DATAFLOW_INLINE context_state::action_guard::~action_guard() {
  s_.running_owner_.store(std::thread::id{});
  s_.running_.store(false);
}

}  // namespace dataflow::detail
#endif
