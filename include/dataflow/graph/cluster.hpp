// One job on many processes: the ranks a runtime such as MPI starts (<dataflow/mpi.hpp>), each
// running the same program. The core knows only this interface, so it needs no MPI itself.
//
// Every rank builds the same pipelines. Sources read a slice of their input by rank, a shuffle
// sends each item to the rank that owns its key (ops/exchange.hpp), and an action combines every
// rank's part. Every collective step first settles whether each rank's part succeeded: a rank
// whose part threw makes every rank throw at that step (it its own error, the others a
// job_error naming it), so that no rank waits for one that has given up.
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/detail/config.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/function_ref.hpp>
#include <dataflow/detail/int128.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/block_outbox.hpp>
#include <dataflow/graph/context_state.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {

/// Thrown on every rank of a job but the one that failed: names that rank and repeats its error.
class job_error : public error {
 public:
  job_error(std::size_t rank, const std::string& what);
  /// Returns the rank whose part failed.
  std::size_t failed_rank() const noexcept { return rank_; }

 private:
  std::size_t rank_;
};

/// The processes of one job. Every call is collective: each rank makes the same calls in the
/// same order, from the thread that runs its actions.
class cluster {
 public:
  virtual ~cluster() = default;
  /// This process's number, 0 to size() - 1.
  virtual std::size_t rank() const noexcept = 0;
  /// How many processes the job has.
  virtual std::size_t size() const noexcept = 0;
  /// Sends `to[r]` to rank r (to.size() == size()) and returns what each rank sent this one,
  /// indexed by rank.
  virtual std::vector<std::vector<char>> exchange(std::vector<std::vector<char>> to) = 0;
  /// Runs `part` on a thread of its own while the calling thread sends the blocks it posts to
  /// `out` to their ranks and hands each block another rank sends to `deliver(from, bytes)`, on
  /// the calling thread, as it arrives. Returns once `part` has returned and every rank has
  /// sent all its blocks, with what `part` or `deliver` threw first (null if nothing): the
  /// caller settles it with every rank. A rank whose part failed tells the others as soon as it
  /// stops, and their outboxes stop (block_outbox::stopped, which is no failure of theirs).
  /// Meanwhile rank 0's `progress` shows the whole job's figures for the stage (progress.hpp).
  virtual std::exception_ptr stream(detail::block_outbox& out,
                                    detail::function_ref<void(std::size_t, std::vector<char>&&)> deliver,
                                    detail::function_ref<void()> part, detail::progress_reporter& progress) = 0;
  /// Runs `part`, a stage that exchanges nothing, while rank 0's `progress` shows the whole
  /// job's figures for it; returns once it has, rethrowing what it threw. Called on the thread
  /// that runs actions (inside a stream's part it just runs `part`).
  virtual void watch(detail::function_ref<void()> part, detail::progress_reporter& progress) {
    (void)progress;
    part();
  }
  /// Called as an action begins on this rank, whichever context of the job runs it: the
  /// figures of rank 0's progress are told apart by action and stage (progress_relay.hpp).
  virtual void begin_action() {}
};

namespace detail {

/// True when the context runs one job on more than one process.
inline bool multi_rank(const context_state& s) noexcept { return s.ranks && s.ranks->size() > 1; }
inline std::size_t rank_of(const context_state& s) noexcept { return s.ranks ? s.ranks->rank() : 0; }
inline std::size_t rank_count(const context_state& s) noexcept { return s.ranks ? s.ranks->size() : 1; }

/// Warns when this rank runs more threads than the cores it is bound to: mpirun binds each rank
/// to one core by default, where a rank's threads would take turns on it.
void warn_if_bound(context_state& s);

/// This rank's share [begin, end) of n things (items, chunks) split into contiguous slices in
/// rank order, so that reading the ranks' outputs in rank order reads the input in order.
std::pair<std::size_t, std::size_t> rank_slice(std::size_t n, const context_state& s);

/// Tells every rank whether this rank's part of a step failed (`failed` set, with `message`) and
/// learns the same of theirs. If any did: the failing rank rethrows its error, every other one
/// throws job_error. Once a run has settled a failure, later steps of that run rethrow at once:
/// every rank knows already.
void settle_failure(context_state& s, std::exception_ptr failed, const std::string& message);

/// Runs this rank's part of a collective step, then settles it with every rank (see above).
template <class F>
void settle(context_state& s, F&& part) {
  if (!multi_rank(s)) {
    part();
    return;
  }
  std::exception_ptr failed;
  std::string message;
  try {
    part();
  } catch (...) {
    failed = std::current_exception();
    message = what_of(failed);
  }
  settle_failure(s, failed, message);
}

/// Settles the exception being handled (call from a catch block, then rethrow).
[[noreturn]] void settle_current(context_state& s);

/// Every rank's `mine`, in rank order: on every rank, or with `root` on that rank alone (the
/// others get an empty vector; nothing passes through them). Call after `mine` has been
/// settled. Values travel through their codec (codec.hpp); a type without one is a usage_error
/// on a job of several ranks. A codec that throws on one rank fails the gather on every rank,
/// in the same exchange: that rank's message goes to every rank in place of its part.
template <class V>
std::vector<V> gather_parts(context_state& s, V mine, std::optional<std::size_t> root) {
  std::vector<V> all;
  if (!multi_rank(s)) {
    all.push_back(std::move(mine));
    return all;
  }
  if constexpr (encodable<V>) {
    if (root && *root >= s.ranks->size()) throw usage_error("dataflow: rank " + std::to_string(*root) + " is not in the job");
    // A part: a byte 0 and the value, or a byte 1 and the error of this rank's codec.
    std::vector<char> bytes(1, 0);
    std::exception_ptr failed;
    try {
      byte_writer w(bytes);
      encode(w, mine);
    } catch (...) {
      failed = std::current_exception();
      const std::string message = "\1" + what_of(failed).substr(0, 2000);
      bytes = std::vector<char>(message.begin(), message.end());
    }
    std::vector<std::vector<char>> to(s.ranks->size());
    if (root && !failed) {
      to[*root] = std::move(bytes);
    } else {
      std::fill(to.begin(), to.end(), bytes);
    }
    auto from = s.ranks->exchange(std::move(to));
    for (std::size_t r = 0; r < from.size(); ++r) {
      if (from[r].empty() || from[r][0] == 0) continue;
      s.job_failure_settled = true;
      if (failed) std::rethrow_exception(failed);
      throw job_error(r, std::string(from[r].begin() + 1, from[r].end()));
    }
    if (root && *root != rank_of(s)) return all;
    arena scratch;
    for (const auto& b : from) {
      byte_reader r(b.data() + 1, b.data() + b.size(), scratch);
      all.push_back(decode<V>(r));
    }
    return all;
  } else {
    throw usage_error("dataflow: an action's result cannot be sent between the ranks of a job: "
                      "give its item type a codec (see <dataflow/codec.hpp>)");
  }
}

/// Every rank's `mine`, in rank order, on every rank.
template <class V>
std::vector<V> all_gather(context_state& s, V mine) {
  return gather_parts<V>(s, std::move(mine), std::nullopt);
}

}  // namespace detail
}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <sched.h>

#include <algorithm>
#include <cstring>

namespace dataflow {

DATAFLOW_INLINE job_error::job_error(std::size_t rank, const std::string& what)
    : error("dataflow: rank " + std::to_string(rank) + " of the job failed: " + what), rank_(rank) {}

namespace detail {

DATAFLOW_INLINE void warn_if_bound(context_state& s) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return;
  const auto cores = static_cast<std::size_t>(CPU_COUNT(&set));
  if (cores >= s.threads()) return;
  s.warn("dataflow: rank " + std::to_string(rank_of(s)) + " runs " + std::to_string(s.threads()) +
         " threads on the " + std::to_string(cores) + " core" + (cores == 1 ? "" : "s") +
         " it is bound to; start mpirun with --bind-to none, or --map-by slot:PE=" + std::to_string(s.threads()) +
         ", so that they run at once");
}

DATAFLOW_INLINE std::pair<std::size_t, std::size_t> rank_slice(std::size_t n, const context_state& s) {
  const std::size_t ranks = rank_count(s), r = rank_of(s);
  auto at = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<uint128>(n) * i / ranks); };
  return {at(r), at(r + 1)};
}

DATAFLOW_INLINE void settle_failure(context_state& s, std::exception_ptr failed, const std::string& message) {
  if (s.job_failure_settled) {
    if (failed) std::rethrow_exception(failed);
    return;
  }
  // A status: one byte (0 ok, 1 failed) and the message, cut to what a reader needs.
  const std::size_t shown = failed ? std::min<std::size_t>(message.size(), 2000) : 0;
  std::vector<char> status(1 + shown);
  status[0] = failed ? 1 : 0;
  if (shown > 0) std::memcpy(status.data() + 1, message.data(), shown);
  std::vector<std::vector<char>> to(s.ranks->size(), status);
  const auto from = s.ranks->exchange(std::move(to));
  for (std::size_t r = 0; r < from.size(); ++r) {
    if (from[r].empty() || from[r][0] == 0) continue;
    s.job_failure_settled = true;
    if (failed) std::rethrow_exception(failed);
    throw job_error(r, std::string(from[r].begin() + 1, from[r].end()));
  }
}

[[noreturn]] DATAFLOW_INLINE void settle_current(context_state& s) {
  if (!multi_rank(s)) throw;
  std::exception_ptr failed = std::current_exception();
  settle_failure(s, failed, what_of(failed));
  std::rethrow_exception(failed);
}

}  // namespace detail
}  // namespace dataflow
#endif
