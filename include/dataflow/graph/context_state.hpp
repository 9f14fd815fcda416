// The shared state behind a dataflow::context: its thread arena, its operator counter and its
// policies. Every node holds a reference to it, so datasets stay usable after the context object
// that made them is gone.
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/graph/memory_gauge.hpp>
#include <dataflow/progress.hpp>
#include <dataflow/run_stats.hpp>
#include <dataflow/storage/spill_directory.hpp>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <string>

namespace dataflow {

/// What an action does when it must compute again a dataset that an earlier action computed.
enum class recompute_policy {
  warn,   ///< computes it again and reports it once through the warning handler (the default)
  allow,  ///< computes it again silently
  error,  ///< throws dataflow::usage_error instead
};

namespace detail {

class context_state {
 public:
  explicit context_state(std::size_t threads) { set_threads(threads); }

  std::size_t threads() const noexcept { return threads_; }

  /// The most threads a context may use here: 4096, or less where the process may start fewer
  /// threads (RLIMIT_NPROC, the kernel's threads-max). oneTBB ends the process through
  /// std::terminate when it cannot start a worker, so the limit is checked before.
  static std::size_t max_threads() {
    std::size_t limit = 4096;
    rlimit r{};
    // RLIMIT_NPROC counts the user's threads in all processes, and does not bind root.
    if (::geteuid() != 0 && ::getrlimit(RLIMIT_NPROC, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
      limit = std::min<std::size_t>(limit, static_cast<std::size_t>(r.rlim_cur));
    }
    if (std::FILE* f = std::fopen("/proc/sys/kernel/threads-max", "r")) {
      unsigned long long m = 0;
      if (std::fscanf(f, "%llu", &m) == 1 && m > 0) limit = std::min<std::size_t>(limit, static_cast<std::size_t>(m / 2));
      std::fclose(f);
    }
    return std::max<std::size_t>(limit, 1);
  }

  void set_threads(std::size_t n) {
    // All cores, as many as the system lets a context use; a count asked for must fit.
    const std::size_t limit = max_threads();
    if (n == 0) n = std::min(static_cast<std::size_t>(tbb::info::default_concurrency()), limit);
    if (n > limit) {
      throw usage_error("dataflow: " + std::to_string(n) + " threads asked for; this system allows a context at most " +
                        std::to_string(limit) + " (it has " +
                        std::to_string(tbb::info::default_concurrency()) + " cores)");
    }
    threads_ = n;
    auto hw = static_cast<std::size_t>(tbb::info::default_concurrency());
    // oneTBB caps its workers at the hardware concurrency; asking for more threads than cores
    // (useful to test, or to overlap blocking I/O) needs a global_control that lifts the cap.
    parallelism_.reset();
    if (n > hw) {
      parallelism_ = std::make_unique<tbb::global_control>(
          tbb::global_control::max_allowed_parallelism, n);
    }
    arena_ = std::make_unique<tbb::task_arena>(static_cast<int>(n));
  }

  tbb::task_arena& arena() noexcept { return *arena_; }

  /// Returns a new operator label such as "map#3".
  std::string label(const char* op) { return std::string(op) + "#" + std::to_string(++next_id_); }

  /// Bytes the buffers of a run may hold before operators spill; 0 means no limit.
  std::size_t memory_budget = 0;
  /// Where spill directories are made; empty means $TMPDIR, else /tmp.
  std::string spill_root;
  spill_space spills;
  /// Bytes the filled caches of this context hold in memory.
  std::atomic<std::size_t> cached_bytes{0};
  /// Bytes charged to the budget now (operator state as it builds, caches) and their peak.
  memory_gauge charged;

  /// Returns the spill directory for `stage`, making it on first need.
  std::shared_ptr<spill_directory> spill_dir(const std::string& stage) {
    (void)stage;
    return spills.directory(spill_root);
  }

  /// The figures of the latest action (actions of one context never overlap).
  run_stats last_run;
  /// The latest runs, oldest first (context::recent_runs).
  std::deque<run_stats> recent_runs;
  static constexpr std::size_t recent_runs_kept = 8;
  /// The running action's progress counters and the thread that shows them.
  progress_reporter progress;

  recompute_policy on_recompute = recompute_policy::warn;
  std::function<void(const std::string&)> warning_handler;

  void warn(const std::string& message) {
    if (warning_handler) {
      warning_handler(message);
    } else {
      std::fprintf(stderr, "%s\n", message.c_str());
    }
  }

  /// Marks an action as running; a second concurrent or nested action on the same context is an
  /// error rather than a deadlock or a race on the nodes' results.
  class action_guard {
   public:
    explicit action_guard(context_state& s) : s_(s) {
      if (s_.running_.exchange(true)) {
        throw usage_error(
            "dataflow: an action started while another action of the same context is running; "
            "use a separate context for concurrent or nested jobs");
      }
    }
    ~action_guard() { s_.running_.store(false); }
    action_guard(const action_guard&) = delete;
    action_guard& operator=(const action_guard&) = delete;

   private:
    context_state& s_;
  };

 private:
  std::size_t threads_ = 1;
  std::unique_ptr<tbb::global_control> parallelism_;
  std::unique_ptr<tbb::task_arena> arena_;
  std::atomic<std::size_t> next_id_{0};
  std::atomic<bool> running_{false};
};

}  // namespace detail
}  // namespace dataflow
