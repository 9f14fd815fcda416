// dataflow::context: where pipelines start. It owns the worker threads (a oneTBB arena) and
// makes the sources: in-memory ranges, generators, text files and binary record files.
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/config.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/graph/context_state.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <ranges>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dataflow {

/// Settings of the file sources.
struct read_options {
  /// Bytes per partition; 0 picks a size from the input size and the thread count.
  std::size_t chunk_bytes = 0;
  /// Drops the first line of every file (a CSV header).
  bool skip_header = false;
  /// Drops a trailing '\r' from every line (files written with CRLF line ends). Off by default:
  /// a line is handed on byte for byte, as it is in the file, unless asked.
  bool strip_cr = false;
  /// Reads the files named here (as given in the paths) only up to so many bytes, which should
  /// end at a line end: the part of a growing log that a stream had read (serving/lambda_job.hpp).
  /// A file shorter than its limit is an io_error naming it.
  std::map<std::string, std::uint64_t> up_to{};
};

/// Settings of read_csv.
struct csv_read_options {
  /// The first line of every file names the columns (and is not a row).
  bool header = true;
  char separator = ',';
  /// With a header, a struct's members read the columns of their names; false: member i reads
  /// column i, as without a header.
  bool by_name = true;
  /// Bytes per partition; 0 picks a size from the input size and the thread count.
  std::size_t chunk_bytes = 0;
};

/// Runs pipelines on a pool of threads; by default, on every core.
///
/// @code
/// dataflow::context ctx;  // or ctx.threads(4)
/// auto n = ctx.from(std::vector{1, 2, 3}).map([](int x) { return x * x; }).count();
/// @endcode
class context {
 public:
  /// Uses as many threads as the process may run on cores.
  context();
  /// Uses `threads` threads (0 means all cores).
  explicit context(std::size_t threads);

  /// Runs as one rank of a job of several processes, on `threads` threads of its own (0: every
  /// core): `dataflow::context ctx(dataflow::mpi_world{});` (<dataflow/mpi.hpp>). Every rank
  /// builds the same pipelines; sources read a slice of the input each, shuffles exchange items
  /// between ranks, and actions return the whole job's result on every rank.
  template <class World>
    requires requires(const World& w) {
      { w.processes() } -> std::convertible_to<std::shared_ptr<cluster>>;
    }
  explicit context(const World& world, std::size_t threads = 0) : context(threads) {
    state_->ranks = world.processes();
    if (rank() != 0) progress(progress_mode::off);  // one progress line for the job
    detail::warn_if_bound(*state_);
  }

  /// This process's rank in its job (0 on its own).
  std::size_t rank() const noexcept { return detail::rank_of(*state_); }
  /// How many processes the job has (1 on its own).
  std::size_t ranks() const noexcept { return detail::rank_count(*state_); }

  /// Returns the number of threads runs use.
  std::size_t threads() const noexcept { return state_->threads(); }
  /// Sets the number of threads later runs use (0 means all cores). More threads than cores is
  /// allowed. Not to be called while an action runs.
  context& threads(std::size_t n);

  /// Limits the memory the buffers of a run hold (shuffle partitions, hash tables, sort runs,
  /// groups, join sides, cached datasets, read buffers); past it, operators spill to disk and still give the same results. 0 (the
  /// default) means no limit: nothing spills. See README "Larger than memory".
  context& memory_budget(std::size_t bytes) {
    state_->memory_budget = bytes;
    return *this;
  }
  std::size_t memory_budget() const noexcept { return state_->memory_budget; }
  /// Bytes the filled caches of this context hold in memory (a quarter of the budget at most,
  /// give or take a batch per partition; the rest of a big cache is on disk).
  std::size_t cached_bytes() const noexcept { return state_->cached_bytes.load(); }

  /// How runs show progress: progress_mode::automatic (the default) draws a line on stderr
  /// for a run that lasts longer than `after` (redrawn in place on a terminal, a plain line
  /// every few seconds otherwise); progress_mode::off draws nothing.
  context& progress(progress_mode mode,
                    std::chrono::milliseconds after = std::chrono::milliseconds(1000));
  /// Hands progress samples to `fn` (on a thread of the context's own, every `every`, once the
  /// run has lasted `after`, and once more with `finished` set when it ends) instead of
  /// drawing them. An empty fn goes back to drawing.
  context& on_progress(std::function<void(const progress_info&)> fn,
                       std::chrono::milliseconds every = std::chrono::milliseconds(500),
                       std::chrono::milliseconds after = std::chrono::milliseconds(1000));

  /// The statistics of the latest action on this context (see run_stats.hpp): per stage,
  /// items in and out, partitions and skew, wall and CPU time, bytes and files spilled.
  const run_stats& last_run() const noexcept { return state_->last_run; }
  /// The statistics of the latest actions (up to 8), oldest first: a job of several actions
  /// (a checkpoint, then a count, then a write) can be read back whole.
  std::vector<run_stats> recent_runs() const;

  /// Sets the directory where runs spill (default: $TMPDIR, else /tmp), and where streamed inputs
  /// (pipes, standard input) are copied. Spill files have no name there (O_TMPFILE): nothing is
  /// left behind whatever ends the process, and nothing of another run is ever touched.
  context& spill_directory(std::string path) {
    state_->spill_root = std::move(path);
    return *this;
  }
  const std::string& spill_directory() const noexcept { return state_->spill_root; }

  /// Sets what an action does when it must recompute a dataset an earlier action computed.
  context& on_recompute(recompute_policy policy) {
    state_->on_recompute = policy;
    return *this;
  }
  /// Sets where warnings go (by default, one line each on stderr).
  context& on_warning(std::function<void(const std::string&)> handler) {
    state_->warning_handler = std::move(handler);
    return *this;
  }

  /// Reads the items of a range. A random-access container passed as an lvalue is read in place
  /// when an action runs, so it must outlive the actions (as must the data a view such as
  /// std::span looks at; the view itself is copied); an rvalue container is moved in; any other
  /// range is copied now.
  template <std::ranges::input_range R>
  auto from(R&& range) const;

  /// Reads a braced list of items (copied).
  template <class T>
  dataset<T> from(std::initializer_list<T> items) const {
    return from(std::vector<T>(items));
  }

  /// A stream of the items of `source` (a stream_writer<T>, ...), run as micro-batches through
  /// the same local operators as datasets (include <dataflow/stream.hpp>).
  template <class Source>
  auto stream(Source source) const;

  /// Makes n items fn(0), fn(1), ..., fn(n - 1); fn runs on several threads at once.
  template <class F>
  auto generate(std::size_t n, F fn) const;

  /// Reads the lines of text files (without their '\n'), as std::string_view. Each file is
  /// split into partitions at line boundaries and read in parallel. A view is valid while the
  /// item moves through local operators; barriers and actions copy what they keep.
  /// "-" is standard input; a pipe, FIFO, device or /proc file named on its own is read as a
  /// stream (copied once to the spill directory, then read in parallel, in order).
  /// Throws io_error now for a missing file, a directory, a pattern matching nothing or matching
  /// something other than a regular file; and during a run for a file that changes size.
  dataset<std::string_view> read_lines(const std::string& path_or_glob,
                                       read_options options = {}) const;
  /// Reads the lines of every file the paths or glob patterns name, in the order given.
  dataset<std::string_view> read_lines(const std::vector<std::string>& paths_or_globs,
                                       read_options options = {}) const;

  /// Reads the same lines as read_lines, handed on as blocks: each item is a run of whole
  /// lines (up to about 1 MiB, or one longer line) joined by their '\n', without the last one's.
  /// For work that does not care where lines end, such as splitting text into words
  /// (`read_text_blocks(paths).flat_map(dataflow::split_words)`): it skips a pass over every
  /// line and the per-line setup of what runs on it. Errors name the block's first line.
  dataset<std::string_view> read_text_blocks(const std::string& path_or_glob,
                                             read_options options = {}) const;
  dataset<std::string_view> read_text_blocks(const std::vector<std::string>& paths_or_globs,
                                             read_options options = {}) const;

  /// Reads CSV files as rows of type Row (a plain struct or a std::tuple): see read_csv.hpp.
  template <class Row>
  auto read_csv(const std::string& path_or_glob, csv_read_options options = {}) const {
    return read_csv<Row>(std::vector<std::string>{path_or_glob}, options);
  }
  template <class Row>
  auto read_csv(const std::vector<std::string>& paths_or_globs, csv_read_options options = {}) const;

  /// Reads fixed-size binary records of a trivially copyable type T.
  template <class T>
  dataset<T> read_records(const std::string& path_or_glob, read_options options = {}) const {
    return read_records<T>(std::vector<std::string>{path_or_glob}, options);
  }
  template <class T>
  dataset<T> read_records(const std::vector<std::string>& paths_or_globs,
                          read_options options = {}) const;

  const std::shared_ptr<detail::context_state>& state() const noexcept { return state_; }

 private:
  std::shared_ptr<detail::context_state> state_;
};

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
namespace dataflow {

DATAFLOW_INLINE context::context() : state_(std::make_shared<detail::context_state>(0)) {}

DATAFLOW_INLINE context::context(std::size_t threads)
    : state_(std::make_shared<detail::context_state>(threads)) {}

DATAFLOW_INLINE context& context::threads(std::size_t n) {
  state_->set_threads(n);
  return *this;
}

DATAFLOW_INLINE context& context::progress(progress_mode mode, std::chrono::milliseconds after) {
  state_->progress.set_mode(mode, after);
  return *this;
}

DATAFLOW_INLINE context& context::on_progress(std::function<void(const progress_info&)> fn,
                                              std::chrono::milliseconds every,
                                              std::chrono::milliseconds after) {
  state_->progress.set_handler(std::move(fn), every, after);
  return *this;
}

DATAFLOW_INLINE std::vector<run_stats> context::recent_runs() const {
  return {state_->recent_runs.begin(), state_->recent_runs.end()};
}

DATAFLOW_INLINE dataset<std::string_view> context::read_lines(const std::string& path_or_glob,
                                                              read_options options) const {
  return read_lines(std::vector<std::string>{path_or_glob}, options);
}

DATAFLOW_INLINE dataset<std::string_view> context::read_text_blocks(const std::string& path_or_glob,
                                                                    read_options options) const {
  return read_text_blocks(std::vector<std::string>{path_or_glob}, options);
}

}  // namespace dataflow
#endif
