// Graph nodes: the untyped base that the planner walks, and the typed node that pushes its
// output downstream partition by partition.
//
// A node is a source (files, ranges) or a barrier (a shuffle, a cache) whose input is its
// parent's output run through the fused local operators between them. Local operators (map,
// filter, flat_map) are not nodes: they live in the consumer's compile-time stack. A node's
// output is pushed in batches through one virtual call per batch, never per item.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/graph/context_state.hpp>
#include <dataflow/run_stats.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dataflow::detail {

class run_state;

/// Receives a node's output, one batch at a time, on the thread that produces it.
template <class T>
class batch_consumer {
 public:
  /// Takes a batch; views inside the items stay valid only until this call returns.
  virtual void consume(std::span<const T> items) = 0;

 protected:
  ~batch_consumer() = default;
};

/// source: reads input; barrier: a shuffle; cache: keeps its input's items; pass: computes its
/// output from its parents' while it is read (concat, zip_with_index, scan, windows).
enum class node_kind { source, barrier, cache, pass };

class node_base {
 public:
  node_base(std::shared_ptr<context_state> ctx, const char* op, node_kind kind,
            std::vector<std::shared_ptr<node_base>> parents, std::vector<std::string> input_ops);
  /// A node with several parents (a join, a concat): `input_ops[i]` are the local operators
  /// between parents[i] and the node.
  struct ops_per_parent {
    explicit ops_per_parent(std::vector<std::vector<std::string>> o) : ops(std::move(o)) {}
    std::vector<std::vector<std::string>> ops;
  };
  node_base(std::shared_ptr<context_state> ctx, const char* op, node_kind kind,
            std::vector<std::shared_ptr<node_base>> parents, ops_per_parent input_ops);
  virtual ~node_base() = default;
  node_base(const node_base&) = delete;
  node_base& operator=(const node_base&) = delete;

  const std::string& label() const noexcept { return label_; }
  /// Renames the node (dataset::name, composite operators); not while an action runs.
  void rename(std::string label) { label_ = std::move(label); }
  node_kind kind() const noexcept { return kind_; }
  const std::vector<std::shared_ptr<node_base>>& parents() const noexcept { return parents_; }
  /// Labels of the local operators fused between parent `i` and this node.
  const std::vector<std::string>& input_ops(std::size_t i = 0) const noexcept {
    return input_ops_[i];
  }
  context_state& ctx() const noexcept { return *ctx_; }
  const std::shared_ptr<context_state>& ctx_ptr() const noexcept { return ctx_; }

  /// Describes the node's settings for explain(), such as "3 files, 1.0 GiB".
  virtual std::string describe() const { return {}; }
  /// Describes what the barrier does with its input, such as "combine per thread, shuffle".
  virtual std::string describe_input() const { return {}; }
  /// The node as the consumer of its input `i` in stage names: the label, with the side for
  /// nodes whose inputs differ in role (a join's "join#5 (left)"), so that both sides of a
  /// self-join have names of their own.
  virtual std::string input_label(std::size_t) const { return label_; }
  /// How many items the output has, when that is known before reading it (once executed):
  /// the progress display shows a stage's items against it.
  virtual std::optional<std::uint64_t> known_items() const { return std::nullopt; }

  /// Computes the node's output for `run` unless it is already there.
  void ensure_executed(run_state& run);

  /// Drops the node's output (called once no consumer of the run needs it).
  virtual void dispose() noexcept {}
  /// Drops partition `p` of the output, which its only reader in the run has just read: a
  /// node whose partitions hold much (merged tables) frees them as the stage goes, so that the
  /// next barrier's input grows while this one's shrinks rather than on top of it.
  virtual void release_partition(std::size_t) noexcept {}
  /// True when the output is kept across runs (a cache that has been filled).
  virtual bool keeps_result() const noexcept { return false; }
  /// True when the output, though kept, goes once the run reading it no longer needs it: a
  /// cache that no dataset handle names any more (only the lineage of other datasets does).
  virtual bool release_when_read() const noexcept { return false; }
  /// Drops a kept output now (dataset::unpersist).
  virtual void unpersist() noexcept {}
  /// Forgets one execution: that of a run that failed, which computed nothing for a later
  /// run to repeat (see ensure_executed's warning).
  void forget_execution() noexcept {
    if (executions_ > 0) --executions_;
  }

  /// True for a node that runs as it is on a job of several ranks (graph/cluster.hpp): a
  /// source that reads a slice by rank, an exchange, a shuffle fed by one. A run on such a job
  /// refuses a graph with any other node.
  bool runs_across_ranks() const noexcept { return across_ranks_; }
  void set_runs_across_ranks() noexcept { across_ranks_ = true; }

  /// Dataset handles on this node: each dataset object (and each handle of another type over
  /// it) counts one while it lives.
  void add_handle() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
  void drop_handle() noexcept { handles_.fetch_sub(1, std::memory_order_relaxed); }
  std::size_t handles() const noexcept { return handles_.load(std::memory_order_relaxed); }

 protected:
  /// Does the node's work: runs its input stage and merges. Sources have none.
  virtual void execute(run_state& run) = 0;
  /// False for sources that are cheap and pure to read again (in-memory ranges).
  virtual bool recompute_is_costly() const noexcept { return true; }
  /// Forgets the parents (a checkpoint), so that the graph above can be freed.
  void cut_lineage() noexcept;

  std::shared_ptr<context_state> ctx_;

 private:
  std::string label_;
  node_kind kind_;
  std::vector<std::shared_ptr<node_base>> parents_;
  std::vector<std::vector<std::string>> input_ops_;  // per parent
  std::size_t executions_ = 0;
  std::uint64_t last_run_ = 0;
  bool warned_ = false;
  bool across_ranks_ = false;
  std::atomic<std::size_t> handles_{0};
};

/// A node whose output is a partitioned sequence of T.
template <class T>
class node : public node_base {
 public:
  using value_type = T;
  using node_base::node_base;

  /// Returns how many partitions the output has; valid once the node is executed.
  virtual std::size_t partition_count() const = 0;
  /// Pushes partition `p` to `out` in batches. Different partitions may be pushed concurrently.
  virtual void push_partition(std::size_t p, batch_consumer<T>& out) = 0;
};

/// Wall time, process CPU time and spill counters since a start, for statistics.
class stats_clock {
 public:
  stats_clock();
  double wall() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_).count();
  }
  double cpu() const { return cpu_now() - cpu_; }
  std::uint64_t spilled_bytes() const { return spilled_bytes_total.load(std::memory_order_relaxed) - bytes_; }
  std::uint64_t spill_files() const { return spill_files_total.load(std::memory_order_relaxed) - files_; }

 private:
  static double cpu_now();
  std::chrono::steady_clock::time_point wall_;
  double cpu_;
  std::uint64_t bytes_;
  std::uint64_t files_;
};

/// What each input partition of a stage took in and gave out.
struct partition_counts {
  explicit partition_counts(std::size_t parts);
  std::vector<std::uint64_t> in, out, bytes_in, bytes_out;
};

/// Whether a stage of this name feeds the consumer of this label: its name ends with " -> " and
/// the whole label (stage_name in stage.hpp), so that a user's label "x (right)" is not taken
/// for the end of another's, "max (right)".
inline bool stage_feeds(const std::string& stage, const std::string& label) {
  return stage.size() > label.size() + 4 && stage.ends_with(label) &&
         stage.compare(stage.size() - label.size() - 4, 4, " -> ") == 0;
}

/// One action's execution: which nodes it computed and which outputs it can drop, and the
/// statistics of its stages (published to the context when it ends, failed or not).
class run_state {
 public:
  run_state(context_state& ctx, std::string action, node_base& root);
  ~run_state();

  /// Starts a stage's memory peak (what ran since the last stage counts for the run).
  void begin_stage() noexcept { peak_ = std::max(peak_, ctx_.charged.restart()); }

  /// Records a finished stage: its name, the counts of each input partition, and the clock
  /// started with it.
  void record_stage(std::string name, const partition_counts& counts, const stats_clock& clock);
  /// Adds the wall and CPU time, spills and peak memory since `clock` started to the stage that
  /// fed `label`: a barrier's end (its merge, its last spills). The latest stage of that name,
  /// not always the latest stage: a join builds its right side's tables after the left side's
  /// input has run its own stages.
  void extend_stage(const std::string& label, const stats_clock& clock);
  /// Adds what the exchange `label` sent and received (other ranks only) and the seconds it
  /// took to the stage that fed it, the latest one recorded, whose spills become all that the
  /// exchange's stream spilled (`stream`: its clock).
  void record_exchange(const std::string& label, std::uint64_t sent, std::uint64_t received, double seconds,
                       const stats_clock& stream);
  /// On a job of several ranks: learns every rank's figures so far, so that the run reports the
  /// whole job when it ends (run_stats::ranks). Collective (one small exchange): an action calls
  /// it once its part has been settled with every rank.
  void gather_job_stats();
  run_state(const run_state&) = delete;
  run_state& operator=(const run_state&) = delete;

  context_state& ctx() const noexcept { return ctx_; }
  const std::string& action() const noexcept { return action_; }

  /// Set by an action that has what it needs (take): partitions not yet started are skipped.
  void enough() noexcept { enough_.store(true, std::memory_order_relaxed); }
  bool has_enough() const noexcept { return enough_.load(std::memory_order_relaxed); }
  std::uint64_t id() const noexcept { return id_; }

  void executed(node_base& n) { executed_.push_back(&n); }

  /// Set once the run has reported (or found already reported) a recomputed node.
  bool recompute_noted = false;

  /// Records that one consumer finished reading `n`; the last one lets its output go.
  void consumed(node_base& n) noexcept;
  /// True when the reader about to read `n` is its only one in this run and nothing keeps the
  /// output after it: the reader may release each partition once it has read it.
  bool sole_reader(const node_base& n) const noexcept;

 private:
  static std::uint64_t next_id();

  void count_uses(node_base& n);

  context_state& ctx_;
  std::string action_;
  std::atomic<bool> enough_{false};
  std::uint64_t id_;
  int exceptions_;
  stats_clock clock_;
  run_stats stats_;
  std::vector<run_stats> job_;  // every rank's figures, once gathered (this rank's replaced at the end)
  std::uint64_t peak_ = 0;  // of the stages and phases before the current one
  std::unordered_map<node_base*, std::size_t> uses_;
  std::vector<node_base*> executed_;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <time.h>

#include <exception>

namespace dataflow::detail {

DATAFLOW_INLINE node_base::node_base(std::shared_ptr<context_state> ctx, const char* op, node_kind kind,
                                     std::vector<std::shared_ptr<node_base>> parents,
                                     std::vector<std::string> input_ops)
    : ctx_(std::move(ctx)),
      label_(ctx_->label(op)),
      kind_(kind),
      parents_(std::move(parents)),
      input_ops_(parents_.size(), std::move(input_ops)) {}

DATAFLOW_INLINE node_base::node_base(std::shared_ptr<context_state> ctx, const char* op, node_kind kind,
                                     std::vector<std::shared_ptr<node_base>> parents,
                                     ops_per_parent input_ops)
    : ctx_(std::move(ctx)),
      label_(ctx_->label(op)),
      kind_(kind),
      parents_(std::move(parents)),
      input_ops_(std::move(input_ops.ops)) {}

DATAFLOW_INLINE void node_base::cut_lineage() noexcept {
  parents_.clear();
  input_ops_.clear();
}

DATAFLOW_INLINE stats_clock::stats_clock()
    : wall_(std::chrono::steady_clock::now()),
      cpu_(cpu_now()),
      bytes_(spilled_bytes_total.load(std::memory_order_relaxed)),
      files_(spill_files_total.load(std::memory_order_relaxed)) {}

DATAFLOW_INLINE double stats_clock::cpu_now() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

DATAFLOW_INLINE partition_counts::partition_counts(std::size_t parts)
    : in(parts), out(parts), bytes_in(parts), bytes_out(parts) {}

DATAFLOW_INLINE run_state::run_state(context_state& ctx, std::string action, node_base& root)
    : ctx_(ctx), action_(std::move(action)), id_(next_id()),
      exceptions_(std::uncaught_exceptions()) {
  count_uses(root);
  ++uses_[&root];  // the action's own read of root
  if (multi_rank(ctx)) {
    ctx.ranks->begin_action();
    ctx.job_failure_settled = false;
    for (const auto& [n, uses] : uses_) {
      if (!n->runs_across_ranks()) {
        throw usage_error("dataflow: " + n->label() + " does not run on a job of several ranks (" + action_ +
                          " on rank " + std::to_string(rank_of(ctx)) + " of " + std::to_string(rank_count(ctx)) +
                          "): not yet, or the program was built without DATAFLOW_ACROSS_RANKS (dataflow::mpi)");
      }
    }
  }
  stats_.action = action_;
  stats_.threads = ctx.threads();
  stats_.memory_budget = ctx.memory_budget;
  ctx.charged.restart();
  ctx.progress.begin_run(action_);
}

DATAFLOW_INLINE run_state::~run_state() {
  const bool failed = std::uncaught_exceptions() > exceptions_;
  for (node_base* n : executed_) {
    // On a job, the failure may have stopped another rank before it filled a cache that this
    // one filled: every rank drops it, so that the next action computes it on each, with the
    // same exchanges.
    if (!n->keeps_result() || n->release_when_read() || (failed && multi_rank(ctx_))) n->dispose();
    if (failed) n->forget_execution();
  }
  stats_.wall_seconds = clock_.wall();
  stats_.cpu_seconds = clock_.cpu();
  stats_.spilled_bytes = clock_.spilled_bytes();
  stats_.spill_files = clock_.spill_files();
  stats_.peak_memory = std::max(peak_, ctx_.charged.peak());
  stats_.failed = failed;
  if (!job_.empty() && !stats_.failed) {
    const std::size_t me = rank_of(ctx_);
    job_[me] = std::move(stats_);
    stats_ = job_wide(job_, me);
  }
  ctx_.recent_runs.push_back(stats_);
  if (ctx_.recent_runs.size() > context_state::recent_runs_kept) ctx_.recent_runs.pop_front();
  ctx_.last_run = std::move(stats_);
  ctx_.progress.end_run();
}

DATAFLOW_INLINE void run_state::record_stage(std::string name, const partition_counts& counts,
                                             const stats_clock& clock) {
  const auto& in = counts.in;
  stage_stats s;
  s.name = std::move(name);
  s.partitions = in.size();
  for (auto x : in) s.items_in += x;
  for (auto x : counts.out) s.items_out += x;
  for (auto x : counts.bytes_in) s.bytes_in += x;
  for (auto x : counts.bytes_out) s.bytes_out += x;
  // Skew compares the fullest partition with the median of the partitions that have items
  // (a shuffle of few keys into many partitions leaves most empty, and that is no skew).
  std::vector<std::uint64_t> sorted;
  for (auto x : in) {
    if (x) sorted.push_back(x);
  }
  if (!sorted.empty()) {
    std::sort(sorted.begin(), sorted.end());
    s.largest_partition = sorted.back();
    s.median_partition = sorted[sorted.size() / 2];
  }
  s.wall_seconds = clock.wall();
  s.cpu_seconds = clock.cpu();
  s.spilled_bytes = clock.spilled_bytes();
  s.spill_files = clock.spill_files();
  s.peak_memory = ctx_.charged.peak();
  s.largest_rank_items = s.items_in;  // this rank's, until the job's figures are gathered
  peak_ = std::max(peak_, s.peak_memory);
  stats_.stages.push_back(std::move(s));
}

DATAFLOW_INLINE void run_state::extend_stage(const std::string& label, const stats_clock& clock) {
  auto fed = std::find_if(stats_.stages.rbegin(), stats_.stages.rend(),
                          [&](const stage_stats& s) { return stage_feeds(s.name, label); });
  if (fed == stats_.stages.rend()) return;
  stage_stats& s = *fed;
  s.wall_seconds += clock.wall();
  s.cpu_seconds += clock.cpu();
  s.spilled_bytes += clock.spilled_bytes();
  s.spill_files += clock.spill_files();
  s.peak_memory = std::max(s.peak_memory, ctx_.charged.peak());
  peak_ = std::max(peak_, s.peak_memory);
}

DATAFLOW_INLINE void run_state::record_exchange(const std::string& label, std::uint64_t sent, std::uint64_t received,
                                                double seconds, const stats_clock& stream) {
  if (stats_.stages.empty()) return;
  stage_stats& s = stats_.stages.back();
  if (!stage_feeds(s.name, label)) return;  // not the stage that fed it: nothing to attribute
  s.spilled_bytes = std::max(s.spilled_bytes, stream.spilled_bytes());
  s.spill_files = std::max(s.spill_files, stream.spill_files());
  s.bytes_sent += sent;
  s.bytes_received += received;
  s.comm_seconds += seconds;
}

DATAFLOW_INLINE void run_state::gather_job_stats() {
  if (!multi_rank(ctx_)) return;
  run_stats now = stats_;
  now.wall_seconds = clock_.wall();
  now.cpu_seconds = clock_.cpu();
  now.spilled_bytes = clock_.spilled_bytes();
  now.spill_files = clock_.spill_files();
  now.peak_memory = std::max(peak_, ctx_.charged.peak());
  job_ = all_gather<run_stats>(ctx_, std::move(now));
}

DATAFLOW_INLINE void run_state::consumed(node_base& n) noexcept {
  auto it = uses_.find(&n);
  if (it != uses_.end() && it->second > 0 && --it->second == 0 &&
      (!n.keeps_result() || n.release_when_read())) {
    n.dispose();
  }
}

DATAFLOW_INLINE bool run_state::sole_reader(const node_base& n) const noexcept {
  auto it = uses_.find(const_cast<node_base*>(&n));
  return it != uses_.end() && it->second == 1 && (!n.keeps_result() || n.release_when_read());
}

DATAFLOW_INLINE std::uint64_t run_state::next_id() {
  static std::atomic<std::uint64_t> id{0};
  return ++id;
}

DATAFLOW_INLINE void run_state::count_uses(node_base& n) {
  for (const auto& p : n.parents()) {
    if (uses_[p.get()]++ == 0) count_uses(*p);
  }
}

DATAFLOW_INLINE void node_base::ensure_executed(run_state& run) {
  if (last_run_ == run.id() || keeps_result()) return;
  // Report only the most downstream recomputed node of a run: the nodes above it are recomputed
  // because of it, and one line says all the user needs to know.
  if (executions_ > 0 && recompute_is_costly() && !run.recompute_noted) {
    run.recompute_noted = true;
    std::string message = "dataflow: " + run.action() + " computes " + label_ +
                          " again, as an earlier action did; call .cache() on that dataset to "
                          "keep its result, or set context::on_recompute(recompute_policy::allow)";
    if (ctx_->on_recompute == recompute_policy::error) throw usage_error(message);
    if (ctx_->on_recompute == recompute_policy::warn && !warned_) {
      warned_ = true;
      ctx_->warn(message);
    }
  }
  last_run_ = run.id();
  ++executions_;
  run.executed(*this);
  execute(run);
}

}  // namespace dataflow::detail
#endif
