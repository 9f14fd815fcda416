// dataflow::mpi_world: a context as one rank of an MPI job (link dataflow::mpi).
//
//   dataflow::context ctx(dataflow::mpi_world{});   // the same program, under mpirun -np N
//
// The same binary runs as one process without mpirun (a job of one rank), or as N ranks under
// `mpirun -np N` or Slurm's `srun`. MPI is initialized on first use with MPI_THREAD_FUNNELED:
// only the thread that made the first mpi_world calls MPI (the worker threads never do), so
// actions on such a context run on that thread. MPI is finalized when the last mpi_world and
// the last context made with one are gone; it cannot be initialized again after that.
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/graph/cluster.hpp>

// The C interface only: MPI's C++ bindings are deprecated and do not compile cleanly.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dataflow {
namespace detail {

/// The job as MPI runs it, over a communicator of the library's own (a duplicate of
/// MPI_COMM_WORLD), so that its messages never meet the program's.
class mpi_cluster final : public cluster {
 public:
  mpi_cluster() {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized) {
      throw usage_error("dataflow::mpi_world: MPI was finalized in this process already; keep one "
                        "mpi_world (or the context made with it) for the whole program");
    }
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owns_ = true;
      if (provided < MPI_THREAD_FUNNELED) {
        MPI_Finalize();
        throw usage_error("dataflow::mpi_world: this MPI library does not support MPI_THREAD_FUNNELED");
      }
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    int rank = 0, size = 1;
    MPI_Comm_rank(comm_, &rank);
    MPI_Comm_size(comm_, &size);
    rank_ = static_cast<std::size_t>(rank);
    size_ = static_cast<std::size_t>(size);
  }
  ~mpi_cluster() override {
    MPI_Comm_free(&comm_);
    if (owns_) MPI_Finalize();
  }
  mpi_cluster(const mpi_cluster&) = delete;
  mpi_cluster& operator=(const mpi_cluster&) = delete;

  std::size_t rank() const noexcept override { return rank_; }
  std::size_t size() const noexcept override { return size_; }

  std::vector<std::vector<char>> exchange(std::vector<std::vector<char>> to) override {
    int main_thread = 0;
    MPI_Is_thread_main(&main_thread);
    if (!main_thread) {
      throw usage_error("dataflow::mpi_world: an action of a job of several ranks runs on a thread "
                        "other than the one that made the first mpi_world (MPI_THREAD_FUNNELED)");
    }
    const int n = static_cast<int>(size_);
    std::vector<std::uint64_t> send(size_), recv(size_);
    for (std::size_t r = 0; r < size_; ++r) send[r] = to[r].size();
    MPI_Alltoall(send.data(), 1, MPI_UINT64_T, recv.data(), 1, MPI_UINT64_T, comm_);
    std::vector<std::vector<char>> from(size_);
    std::vector<MPI_Request> requests;
    // MPI counts are ints: a message goes in pieces of 1 GiB, which arrive in order (messages
    // of one sender, tag and communicator never overtake each other).
    constexpr std::size_t piece = std::size_t{1} << 30;
    auto post = [&](char* data, std::size_t bytes, int peer, bool receive) {
      for (std::size_t at = 0; at < bytes; at += piece) {
        const int count = static_cast<int>(std::min(piece, bytes - at));
        MPI_Request& q = requests.emplace_back();
        if (receive) {
          MPI_Irecv(data + at, count, MPI_BYTE, peer, tag, comm_, &q);
        } else {
          MPI_Isend(data + at, count, MPI_BYTE, peer, tag, comm_, &q);
        }
      }
    };
    for (int r = 0; r < n; ++r) {
      if (static_cast<std::size_t>(r) == rank_) continue;
      from[static_cast<std::size_t>(r)].resize(recv[static_cast<std::size_t>(r)]);
      post(from[static_cast<std::size_t>(r)].data(), recv[static_cast<std::size_t>(r)], r, true);
    }
    for (int r = 0; r < n; ++r) {
      if (static_cast<std::size_t>(r) == rank_) continue;
      post(to[static_cast<std::size_t>(r)].data(), to[static_cast<std::size_t>(r)].size(), r, false);
    }
    MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
    from[rank_] = std::move(to[rank_]);
    return from;
  }

 private:
  static constexpr int tag = 7401;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::size_t rank_ = 0;
  std::size_t size_ = 1;
  bool owns_ = false;  // MPI was initialized here, so it is finalized here
};

}  // namespace detail

/// This process's place in an MPI job: pass it to a context to run that context's pipelines on
/// every rank of the job. Copies share one MPI session.
class mpi_world {
 public:
  mpi_world() : cluster_(session()) {}

  /// This process's rank, 0 to size() - 1.
  std::size_t rank() const noexcept { return cluster_->rank(); }
  /// How many processes the job has.
  std::size_t size() const noexcept { return cluster_->size(); }
  /// The job, for a context (context(const World&)).
  std::shared_ptr<cluster> processes() const { return cluster_; }

 private:
  static std::shared_ptr<detail::mpi_cluster> session() {
    static std::weak_ptr<detail::mpi_cluster> current;
    if (auto s = current.lock()) return s;
    auto s = std::make_shared<detail::mpi_cluster>();
    current = s;
    return s;
  }

  std::shared_ptr<detail::mpi_cluster> cluster_;
};

}  // namespace dataflow
