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
#include <dataflow/mpi/mpi_c.hpp>
#include <dataflow/mpi/progress_relay.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
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
    progress_sending_.drop();
    if (rank_ == 0) progress_relay::drain(comm_);
    MPI_Comm_free(&comm_);
    if (owns_) MPI_Finalize();
  }
  mpi_cluster(const mpi_cluster&) = delete;
  mpi_cluster& operator=(const mpi_cluster&) = delete;

  std::size_t rank() const noexcept override { return rank_; }
  std::size_t size() const noexcept override { return size_; }

  std::vector<std::vector<char>> exchange(std::vector<std::vector<char>> to) override {
    require_main_thread();
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

  std::exception_ptr stream(block_outbox& out, function_ref<void(std::size_t, std::vector<char>&&)> deliver,
                            function_ref<void()> part, progress_reporter& progress) override {
    require_main_thread();
    // A tag of each stream's own: every rank makes the same streams in the same order.
    const std::uint64_t number = streams_++;
    const int tag = stream_tag + static_cast<int>(number % 16384);
    progress_relay relay(progress, progress_sending_, comm_, rank_, size_, next_relay());
    std::exception_ptr failed;  // this rank's: from part, or from deliver
    std::atomic<bool> part_done{false};
    std::exception_ptr part_failed;
    std::thread runner;
    try {
      runner = std::thread([&] {
        try {
          part();
        } catch (const block_outbox::stopped&) {  // another rank failed: it says why
        } catch (...) {
          part_failed = std::current_exception();
        }
        part_done.store(true, std::memory_order_release);
      });
    } catch (...) {  // no thread to run the part on: this rank fails, the protocol goes on
      part_failed = std::current_exception();
      part_done.store(true, std::memory_order_release);
    }
    // Sends in flight, with the bytes each frees in the outbox once done (0 for an end).
    std::vector<MPI_Request> requests;
    std::vector<std::vector<char>> in_flight;
    std::vector<int> finished;
    std::size_t ends = 0;
    bool ended = false;
    char status = 0;  // what this rank's end says: 1 when it failed
    const std::size_t peers = size_ - 1;
    int idle = 0;
    int faults = 0;
    for (;;) {
      try {
        bool moved = false;
        if (!failed && part_done.load(std::memory_order_acquire) && part_failed) failed = part_failed;
        std::size_t to = 0;
        std::vector<char> bytes;
        while (out.take(to, bytes)) {
          moved = true;
          if (failed || out.stopping()) {  // the job fails: nothing more need travel
            out.sent(bytes.size());
            continue;
          }
          // Room first: once posted, a send's buffer must stay where it is until it completes.
          requests.reserve(requests.size() + 1);
          in_flight.reserve(in_flight.size() + 1);
          in_flight.push_back(std::move(bytes));
          MPI_Isend(in_flight.back().data(), static_cast<int>(in_flight.back().size()), MPI_BYTE,
                    static_cast<int>(to), tag, comm_, &requests.emplace_back());
        }
        if (!requests.empty()) {
          int done = 0;
          finished.resize(requests.size());
          MPI_Testsome(static_cast<int>(requests.size()), requests.data(), &done, finished.data(), MPI_STATUSES_IGNORE);
          if (done > 0 && done != MPI_UNDEFINED) {
            moved = true;
            for (int i = 0; i < done; ++i) {
              auto& b = in_flight[static_cast<std::size_t>(finished[static_cast<std::size_t>(i)])];
              if (!b.empty()) out.sent(b.size());
              b = std::vector<char>();
            }
            std::size_t kept = 0;
            for (std::size_t i = 0; i < requests.size(); ++i) {
              if (requests[i] == MPI_REQUEST_NULL) continue;
              if (kept != i) {  // a vector moved onto itself would lose the bytes still being sent
                requests[kept] = requests[i];
                in_flight[kept] = std::move(in_flight[i]);
              }
              ++kept;
            }
            requests.resize(kept);
            in_flight.resize(kept);
          }
        }
        for (;;) {
          int flag = 0;
          MPI_Status st;
          MPI_Iprobe(MPI_ANY_SOURCE, tag, comm_, &flag, &st);
          if (!flag) break;
          moved = true;
          int count = 0;
          MPI_Get_count(&st, MPI_BYTE, &count);
          std::vector<char> got(static_cast<std::size_t>(count));
          MPI_Recv(got.data(), count, MPI_BYTE, st.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE);
          // Blocks have a header; a rank's end is a message of 0 bytes, or 1 when that rank failed
          // (its blocks always come before it: messages of one sender and tag keep their order).
          if (count <= 1) {
            ++ends;
            if (count == 1 && got[0] != 0) out.stop();
            continue;
          }
          if (failed || out.stopping()) continue;
          try {
            deliver(static_cast<std::size_t>(st.MPI_SOURCE), std::move(got));
          } catch (...) {
            failed = std::current_exception();
          }
        }
        if (failed) out.stop();  // this rank's stage stops too
        relay.poll();
        // Once the part is done nothing more is posted: the end follows the last block.
        if (!ended && part_done.load(std::memory_order_acquire) && out.empty()) {
          if (!failed && part_failed) failed = part_failed;
          status = failed ? 1 : 0;
          requests.reserve(requests.size() + peers);
          in_flight.reserve(in_flight.size() + peers);
          for (std::size_t r = 0; r < size_; ++r) {
            if (r == rank_) continue;
            in_flight.emplace_back();
            MPI_Isend(&status, failed ? 1 : 0, MPI_BYTE, static_cast<int>(r), tag, comm_, &requests.emplace_back());
          }
          ended = true;
          moved = true;
        }
        if (ended && requests.empty() && ends == peers) break;
        // Polls: MPI has no wait that a condition variable could also end. Idle, it backs off
        // from 20 us to 1 ms, so that a long stage that sends little costs next to no CPU.
        idle = moved ? 0 : std::min(idle + 1, 7);
        if (idle > 0) std::this_thread::sleep_for(std::chrono::microseconds(std::min(20 << (idle - 1), 1000)));
      } catch (...) {
        // Out of memory, most likely, while this rank must still see the stream to its end: it
        // fails, stops its stage and goes on; if the loop cannot go on at all, the job ends.
        if (!failed) failed = std::current_exception();
        out.stop();
        if (++faults > 1000) {
          std::fprintf(stderr, "dataflow: rank %zu cannot go on exchanging: %s\n", rank_, what_of(failed).c_str());
          MPI_Abort(comm_, 1);
        }
      }
    }
    try {
      relay.finish();
    } catch (...) {  // progress is advice
    }
    if (runner.joinable()) runner.join();
    return failed;
  }

  void begin_action() override {
    int main_thread = 0;
    MPI_Is_thread_main(&main_thread);
    if (!main_thread) return;  // an action inside a stream's part: its stages are not relayed
    ++actions_;
    relays_ = 0;
  }

  /// The number of the next progress relay: the action's, then the relay's within it. A rank
  /// that ran a stage fewer than another (a join that streams on one rank and not on another,
  /// a failure) stays out of step until the action ends, not for the rest of the job.
  std::uint64_t next_relay() noexcept { return (actions_ << 32) | (relays_++ & 0xffffffffu); }

  void watch(function_ref<void()> part, progress_reporter& progress) override {
    int main_thread = 0;
    MPI_Is_thread_main(&main_thread);
    if (!main_thread || size_ == 1) {  // a stage inside a stream: the stream's loop relays
      part();
      return;
    }
    // Before the thread (it may throw), and numbered whether or not a thread then watches.
    progress_relay relay(progress, progress_sending_, comm_, rank_, size_, next_relay());
    std::mutex m;
    std::condition_variable ended;
    bool done = false;
    std::exception_ptr failed;
    std::thread runner;
    try {
      runner = std::thread([&] {
        try {
          part();
        } catch (...) {
          failed = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(m);
        done = true;
        ended.notify_one();
      });
    } catch (const std::system_error&) {  // no thread to spare: the stage runs here, unwatched
      part();
      return;
    }
    {
      std::unique_lock<std::mutex> lock(m);
      while (!done) {
        lock.unlock();
        try {
          relay.poll();
        } catch (...) {  // progress is advice: the stage goes on unwatched
        }
        lock.lock();
        ended.wait_for(lock, std::chrono::milliseconds(20), [&] { return done; });
      }
    }
    runner.join();
    try {
      relay.finish();
    } catch (...) {
    }
    if (failed) std::rethrow_exception(failed);
  }

 private:
  static void require_main_thread() {
    int main_thread = 0;
    MPI_Is_thread_main(&main_thread);
    if (!main_thread) {
      throw usage_error("dataflow::mpi_world: an action of a job of several ranks runs on a thread "
                        "other than the one that made the first mpi_world (MPI_THREAD_FUNNELED)");
    }
  }

  static constexpr int tag = 7401;
  static constexpr int stream_tag = 8000;
  std::uint64_t streams_ = 0;
  // Progress relays are numbered by action and by relay within it (progress_relay.hpp).
  std::uint64_t actions_ = 0;
  std::uint64_t relays_ = 0;  // in the current action
  progress_send progress_sending_;  // this rank's figure in flight to rank 0, across stages
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
