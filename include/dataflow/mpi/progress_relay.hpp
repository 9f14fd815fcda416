// Progress of the whole job while a stage runs (progress.hpp): every rank but 0 sends its
// stage's figures to rank 0 every 100 ms, and rank 0 adds the latest of each to its own
// samples. Driven by the thread that talks to the job while a stage runs on another: the loop
// of mpi_cluster::stream for a stage that exchanges, mpi_cluster::watch for any other.
//
// The figures travel on a tag of their own, so that they never wait behind blocks; each carries
// the number of its relay, and rank 0 takes only those of the relay it runs (a figure of an
// earlier stage, received late, is dropped). The cluster numbers relays by the job's action,
// whichever context of the job runs it, and by stage within the action: unlike a context's run
// numbers (two contexts made from one mpi_world both count from run 1), they agree across
// ranks, and a rank that ran a stage fewer than another in one action (a failure, a join that
// streams on one rank only) is back in step at the next. A rank has at most
// one figure in flight (progress_send, which the cluster keeps across stages): nothing waits
// for it to complete, since rank 0 may have left the stage already; it completes once rank 0
// takes it in a later stage, or it is cancelled when the cluster ends.
#pragma once

#include <dataflow/mpi/mpi_c.hpp>
#include <dataflow/progress.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace dataflow::detail {

/// A rank's figure in flight to rank 0 and its buffer, kept from stage to stage.
struct progress_send {
  std::array<std::uint64_t, 6> out{};  // the relay's number, then a stage_progress's counts
  MPI_Request request = MPI_REQUEST_NULL;

  /// Whether a new figure may go (the last one completed).
  bool ready() {
    if (request == MPI_REQUEST_NULL) return true;
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    return done != 0;
  }
  /// Cancels a figure rank 0 never took (before the communicator goes).
  void drop() noexcept {
    if (ready()) return;
    MPI_Cancel(&request);
    MPI_Wait(&request, MPI_STATUS_IGNORE);
  }
};

class progress_relay {
  using clock = std::chrono::steady_clock;
  using message = std::array<std::uint64_t, 6>;  // as progress_send::out

 public:
  static constexpr int tag = 7402;
  static constexpr std::chrono::milliseconds every{100};

  /// `number`: this relay's number among the cluster's, the same on every rank.
  progress_relay(progress_reporter& progress, progress_send& sending, MPI_Comm comm, std::size_t rank,
                 std::size_t size, std::uint64_t number)
      : progress_(progress), sending_(sending), comm_(comm), rank_(rank), number_(number),
        heard_(rank == 0 ? size : 0) {}
  progress_relay(const progress_relay&) = delete;
  progress_relay& operator=(const progress_relay&) = delete;

  /// Sends this rank's figures when their time has come (ranks but 0), or takes in what the
  /// others sent (rank 0).
  void poll() {
    if (rank_ == 0) {
      receive();
    } else {
      send();
    }
  }

  /// Ends the stage: rank 0 takes what has arrived (a rank's last figure may still travel).
  void finish() {
    if (rank_ == 0) receive();
  }

  /// Takes in and drops every figure that has arrived (rank 0, before the communicator goes).
  static void drain(MPI_Comm comm) noexcept {
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, tag, comm, &flag, &st);
      if (!flag) return;
      message in{};
      MPI_Recv(in.data(), static_cast<int>(in.size()), MPI_UINT64_T, st.MPI_SOURCE, tag, comm, MPI_STATUS_IGNORE);
    }
  }

 private:
  void send() {
    const auto now = clock::now();
    if (now < next_) return;
    if (!sending_.ready()) return;
    const stage_progress f = progress_.figures();
    message& out = sending_.out;
    out = {number_, f.items, f.items_total, f.bytes, f.partitions_done, f.partitions_total};
    MPI_Isend(out.data(), static_cast<int>(out.size()), MPI_UINT64_T, 0, tag, comm_, &sending_.request);
    next_ = now + every;
  }

  void receive() {
    bool changed = false;
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, tag, comm_, &flag, &st);
      if (!flag) break;
      message in{};
      MPI_Recv(in.data(), static_cast<int>(in.size()), MPI_UINT64_T, st.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE);
      const auto from = static_cast<std::size_t>(st.MPI_SOURCE);
      if (from >= heard_.size() || in[0] != number_) continue;
      heard_[from] = in;
      changed = true;
    }
    if (!changed) return;
    const stage_progress mine = progress_.figures();
    stage_progress sum;
    std::size_t ranks = 0;
    bool totals = true;  // every other rank knows its total
    for (std::size_t r = 1; r < heard_.size(); ++r) {
      if (!heard_[r]) {
        totals = false;
        continue;
      }
      const message& m = *heard_[r];
      ++ranks;
      sum.items += m[1];
      totals = totals && m[2] > 0;
      sum.items_total += m[2];
      sum.bytes += m[3];
      sum.partitions_done += m[4];
      sum.partitions_total += m[5];
    }
    if (!totals) sum.items_total = 0;
    if (ranks > 0) progress_.set_others(sum, ranks, mine.run, mine.stage);
  }

  progress_reporter& progress_;
  progress_send& sending_;
  MPI_Comm comm_;
  std::size_t rank_;
  std::uint64_t number_;
  std::vector<std::optional<message>> heard_;  // rank 0: the latest figure of each rank
  clock::time_point next_{};
};

}  // namespace dataflow::detail
