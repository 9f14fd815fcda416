// The recomputation loop of the Lambda architecture: while a stream feeds a serving_view's speed
// layer, the batch pipeline runs over the master data up to a mark of the stream, its result is
// published as the next version of a batch view, and the speed layer drops what that view
// covers. At every moment a query answers for exactly the events the stream has read.
//
// @code
// dataflow::serving_view<std::string, std::uint64_t, std::plus<>> clicks({});
// auto run = sctx.stream(dataflow::follow_lines("logs/")).map(url_of).count_by_key(same)
//                .start_batches({}, [&](const auto& b) { clicks.add(b); });
// dataflow::lambda_job job(clicks, store, "clicks_per_url",
//     [&](dataflow::view_store& s, const std::string& name, const dataflow::speed_mark& m) {
//       auto logs = dataflow::logs_read(m.position);     // what the stream had read, exactly
//       return dataflow::write_view(bctx.read_lines(logs.paths, {.up_to = logs.up_to}).map(url_of)
//                                       .count_by_value(), s, name, logs.describe(), m);
//     });
// job.every(5min);   // or job.recompute() on request
// @endcode
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/serving/serving_view.hpp>
#include <dataflow/serving/view_store.hpp>
#include <dataflow/stream/follow_lines.hpp>

#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace dataflow {

/// The part of a log directory a follow_lines stream had read: the files (found again by
/// identity) and the bytes of each, for read_lines(paths, {.up_to = up_to}).
struct log_extent {
  std::vector<std::string> paths;
  std::map<std::string, std::uint64_t> up_to;
  /// "logs/a.log:0-81920 logs/b.log:0-512", for a view's stamp.
  std::string describe() const {
    std::string out;
    for (const auto& p : paths) out += (out.empty() ? "" : " ") + p + ":0-" + std::to_string(up_to.at(p));
    return out;
  }
};

/// What a follow_lines position (a keyed_batch's, a speed_mark's) says the stream had read. A
/// file renamed since (log rotation) is found in its directory by identity; one that is gone is
/// an io_error naming it: no batch view could cover it.
inline log_extent logs_read(const std::string& position) {
  log_extent out;
  for (const followed_file& f : follow_lines::parse_position(position)) {
    if (f.offset == 0) continue;
    auto same = [&](const std::string& path) {
      struct stat st {};
      return ::stat(path.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_dev) == f.device &&
             static_cast<std::uint64_t>(st.st_ino) == f.inode;
    };
    std::string found = same(f.path) ? f.path : std::string();
    if (found.empty()) {
      const auto slash = f.path.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : f.path.substr(0, slash);
      for (const std::string& name : detail::directory_names(dir)) {
        const std::string candidate = slash == std::string::npos ? name : dir + "/" + name;
        if (same(candidate)) {
          found = candidate;
          break;
        }
      }
    }
    if (found.empty()) {
      throw io_error(f.path, "dataflow::logs_read: '" + f.path + "' (inode " + std::to_string(f.inode) +
                                 "), which the stream read, is gone; no batch view can cover it");
    }
    out.paths.push_back(found);
    out.up_to[found] = f.offset;
  }
  return out;
}

/// Recomputes a serving_view's batch view from the master data, on request or periodically.
template <class K, class V, class Op>
class lambda_job {
 public:
  /// Runs the batch pipeline over the master data up to the mark and publishes it as the next
  /// version of view `name` in the store, stamped with the mark (write_view(..., mark)).
  using recompute_fn = std::function<view_stamp(view_store&, const std::string& name, const speed_mark&)>;

  lambda_job(serving_view<K, V, Op>& serving, view_store& store, std::string name, recompute_fn recompute)
      : serving_(serving), store_(store), name_(std::move(name)), recompute_(std::move(recompute)) {}
  ~lambda_job() { stop(); }
  lambda_job(const lambda_job&) = delete;
  lambda_job& operator=(const lambda_job&) = delete;

  /// Recomputes now: marks the speed layer, runs the batch up to the mark, publishes the view
  /// and trims the speed layer. On failure the previous view keeps serving and the error is
  /// rethrown (the speed layer keeps everything since that view). Returns the new stamp.
  view_stamp recompute() {
    std::lock_guard one(run_m_);  // one recomputation at a time
    const auto begin = std::chrono::steady_clock::now();
    try {
      const speed_mark mark = serving_.mark();
      const view_stamp stamp = recompute_(store_, name_, mark);
      if (stamp.cutoff != mark.sequence) {
        throw usage_error("dataflow::lambda_job: the view of '" + name_ + "' has cutoff " +
                          std::to_string(stamp.cutoff) + ", not the mark's " + std::to_string(mark.sequence) +
                          "; pass the mark's sequence to write_view");
      }
      serving_.publish(store_.open_latest<K, V>(name_));
      std::lock_guard lock(m_);
      ++recomputations_;
      last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      last_error_.clear();
      return stamp;
    } catch (const std::exception& e) {
      std::lock_guard lock(m_);
      ++failures_;
      last_error_ = e.what();
      throw;
    }
  }

  /// Recomputes every `period` on a thread of its own (the first after one period) until
  /// stop(); a failed recomputation is counted and tried again a period later.
  void every(std::chrono::milliseconds period) {
    stop();
    std::lock_guard lock(m_);
    stopping_ = false;
    thread_ = std::thread([this, period] {
      std::unique_lock lock(m_);
      while (!cv_.wait_for(lock, period, [&] { return stopping_; })) {
        lock.unlock();
        try {
          recompute();
        } catch (...) {
          // counted in recompute(); the previous view keeps serving
        }
        lock.lock();
      }
    });
  }

  /// Ends the periodic recomputation (after the one running, if any).
  void stop() {
    std::thread t;
    {
      std::lock_guard lock(m_);
      stopping_ = true;
      t = std::move(thread_);
    }
    cv_.notify_all();
    if (t.joinable()) t.join();
  }

  std::uint64_t recomputations() const {
    std::lock_guard lock(m_);
    return recomputations_;
  }
  std::uint64_t failures() const {
    std::lock_guard lock(m_);
    return failures_;
  }
  /// The latest failure's message; empty once a recomputation succeeded since.
  std::string last_error() const {
    std::lock_guard lock(m_);
    return last_error_;
  }
  /// Seconds the latest successful recomputation took.
  double last_seconds() const {
    std::lock_guard lock(m_);
    return last_seconds_;
  }

 private:
  serving_view<K, V, Op>& serving_;
  view_store& store_;
  std::string name_;
  recompute_fn recompute_;
  std::mutex run_m_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::uint64_t recomputations_ = 0;
  std::uint64_t failures_ = 0;
  std::string last_error_;
  double last_seconds_ = 0;
};

}  // namespace dataflow
