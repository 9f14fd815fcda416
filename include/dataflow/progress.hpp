// Progress of a running action: the stage it is in, partitions done of the stage's total,
// items read so far and their rate, elapsed time.
//
// Stages count what they read once per batch (an atomic add per few thousand items) and once
// per partition; a reporter thread of the context samples the counters every 100 ms. By
// default a run that lasts longer than a second draws one line on stderr: redrawn in place on
// a terminal, a plain line every few seconds otherwise. context::progress(progress_mode::off)
// (or DATAFLOW_PROGRESS=off in the environment) silences it; context::on_progress(fn) hands
// each sample to fn instead (and a last one with `finished` set when the run ends).
//
// On a job of several ranks only rank 0 shows progress, and its samples are the whole job's:
// while a stage runs, every other rank sends its figures to rank 0 every 100 ms
// (mpi/progress_relay.hpp), and a sample adds the latest of each.
#pragma once

#include <dataflow/detail/config.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace dataflow {

/// One sample of a run's progress.
struct progress_info {
  std::string action;  ///< "count#7"
  std::string stage;   ///< "read_lines#1 -> flat_map#2 -> reduce_by_key#3"
  std::size_t stage_number = 0;  ///< 1 for the run's first stage
  std::size_t partitions_done = 0;
  std::size_t partitions_total = 0;
  std::uint64_t items = 0;  ///< items the stage has read so far
  /// Items the stage will read, when its input knows (in-memory and record sources, caches,
  /// and the outputs of reduce_by_key, sort and partition_by that did not spill); else 0.
  std::uint64_t items_total = 0;
  std::uint64_t bytes = 0;  ///< their data bytes (run_stats' bytes_in)
  double stage_seconds = 0;
  double elapsed_seconds = 0;  ///< since the action started
  bool finished = false;       ///< the run ended (the last sample of it)
  /// The ranks whose figures these are: on a job of several, rank 0's samples add those of the
  /// ranks it has heard from in the stage (1 otherwise).
  std::size_t ranks = 1;

  /// Items per second over the stage so far.
  double rate() const noexcept { return stage_seconds > 0 ? static_cast<double>(items) / stage_seconds : 0; }

  /// "[12.3 s] stage 1 read_lines#1 -> ... : 37/64 partitions, 81.2M items, 1.1 GiB (9.1M/s,
  /// 93.5 MiB/s)"; with a known total "81.2M of 140.0M items (58%)".
  std::string line() const;
};

/// How a context shows progress.
enum class progress_mode {
  automatic,  ///< a line on stderr for runs longer than a second (the default)
  off,        ///< nothing (a handler set with on_progress still gets samples)
};

namespace detail {

/// A stage's figures on one rank, as ranks send them to rank 0.
struct stage_progress {
  std::uint64_t run = 0;    // the context's runs so far, this one included
  std::uint64_t stage = 0;  // its number in the run
  std::uint64_t items = 0;
  std::uint64_t items_total = 0;
  std::uint64_t bytes = 0;
  std::uint64_t partitions_done = 0;
  std::uint64_t partitions_total = 0;
};

/// The counters of the running action and the thread that reports them.
class progress_reporter {
  using clock = std::chrono::steady_clock;

 public:
  /// DATAFLOW_PROGRESS=off in the environment turns the display off for every context.
  progress_reporter();
  progress_reporter(const progress_reporter&) = delete;
  progress_reporter& operator=(const progress_reporter&) = delete;
  ~progress_reporter();

  /// Sets how progress shows, and after how long a run is shown.
  void set_mode(progress_mode m, std::chrono::milliseconds after);
  /// Sends samples to `fn` every `every` instead of drawing them (an empty fn draws again).
  void set_handler(std::function<void(const progress_info&)> fn, std::chrono::milliseconds every,
                   std::chrono::milliseconds after);

  /// Items read by the current stage; stages add a batch's size.
  std::atomic<std::uint64_t> items{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::size_t> partitions_done{0};

  void begin_run(const std::string& action);

  void begin_stage(const std::string& name, std::size_t partitions, std::uint64_t items_total);

  /// This rank's figures for the current stage.
  stage_progress figures();
  /// Sets what the other ranks heard from (`ranks` of them) report for the current stage, added
  /// to this rank's in every sample until the next stage begins (sum.items_total: 0 unless
  /// every other rank reported its total). Ignored unless this rank is still in stage `stage`
  /// of run `run`: the figures were matched against it.
  void set_others(const stage_progress& sum, std::size_t ranks, std::uint64_t run, std::uint64_t stage);

  void end_run() noexcept;

 private:
  progress_info sample(clock::time_point now) const;

  void loop();

  progress_mode mode = progress_mode::automatic;
  std::function<void(const progress_info&)> handler;
  std::chrono::milliseconds delay{1000};     // how long a run goes before it is shown
  std::chrono::milliseconds interval{500};  // how often a handler is called

  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  bool quit_ = false;
  bool running_ = false;
  bool shown_ = false;
  bool terminal_ = false;
  std::string action_;
  std::string stage_;
  std::uint64_t runs_ = 0;
  std::size_t stage_number_ = 0;
  std::size_t partitions_total_ = 0;
  std::uint64_t items_total_ = 0;
  stage_progress others_{};  // the other ranks' figures (see set_others)
  std::size_t other_ranks_ = 0;
  clock::time_point run_start_{};
  clock::time_point stage_start_{};
  clock::time_point last_line_{};
  clock::time_point last_call_{};
};

}  // namespace detail
}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/memory.hpp>

#include <dataflow/detail/format.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace dataflow {

DATAFLOW_INLINE std::string progress_info::line() const {
  auto count = [](double n) {
    if (n >= 1e9) return fmt::format("{:.1f}G", n / 1e9);
    if (n >= 1e6) return fmt::format("{:.1f}M", n / 1e6);
    if (n >= 1e3) return fmt::format("{:.1f}K", n / 1e3);
    return fmt::format("{:.0f}", n);
  };
  const double byte_rate = stage_seconds > 0 ? static_cast<double>(bytes) / stage_seconds : 0;
  std::string done = count(static_cast<double>(items));
  if (items_total > 0) {
    double percent = 100.0 * static_cast<double>(std::min(items, items_total)) /
                     static_cast<double>(items_total);
    // The items may all be in while partitions still finish (a merge, a spill): not 100% yet.
    if (partitions_done < partitions_total) percent = std::min(percent, 99.0);
    done += fmt::format(" of {} items ({:.0f}%)", count(static_cast<double>(items_total)), percent);
  } else {
    done += " items";
  }
  return fmt::format("[{:.1f} s] {} stage {} {}{}: {}/{} partitions, {}, {} ({}/s, {}/s)",
                     elapsed_seconds, action, stage_number, stage,
                     ranks > 1 ? fmt::format(" on {} ranks", ranks) : std::string(), partitions_done,
                     partitions_total, done, format_size(bytes), count(rate()),
                     format_size(static_cast<std::uint64_t>(byte_rate)));
}

namespace detail {

DATAFLOW_INLINE progress_reporter::progress_reporter() {
  const char* env = std::getenv("DATAFLOW_PROGRESS");
  if (env && std::string(env) == "off") mode = progress_mode::off;
}

DATAFLOW_INLINE progress_reporter::~progress_reporter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

DATAFLOW_INLINE void progress_reporter::set_mode(progress_mode m, std::chrono::milliseconds after) {
  std::lock_guard<std::mutex> lock(mutex_);
  mode = m;
  delay = after;
}

DATAFLOW_INLINE void progress_reporter::set_handler(std::function<void(const progress_info&)> fn,
                                                    std::chrono::milliseconds every,
                                                    std::chrono::milliseconds after) {
  std::lock_guard<std::mutex> lock(mutex_);
  handler = std::move(fn);
  interval = every;
  delay = after;
}

DATAFLOW_INLINE void progress_reporter::begin_run(const std::string& action) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Runs and their stages are counted, shown or not: ranks match their figures by them.
    ++runs_;
    stage_.clear();
    stage_number_ = 0;
    if (!handler && mode != progress_mode::automatic) return;
    terminal_ = ::isatty(STDERR_FILENO) == 1;
    action_ = action;
    run_start_ = stage_start_ = clock::now();
    running_ = true;
    shown_ = false;
    last_line_ = last_call_ = run_start_;
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  wake_.notify_all();
}

DATAFLOW_INLINE void progress_reporter::begin_stage(const std::string& name, std::size_t partitions,
                                                    std::uint64_t items_total) {
  std::lock_guard<std::mutex> lock(mutex_);
  stage_ = name;
  ++stage_number_;
  partitions_total_ = partitions;
  items_total_ = items_total;
  stage_start_ = clock::now();
  items.store(0, std::memory_order_relaxed);
  bytes.store(0, std::memory_order_relaxed);
  partitions_done.store(0, std::memory_order_relaxed);
  others_ = {};
  other_ranks_ = 0;
}

DATAFLOW_INLINE stage_progress progress_reporter::figures() {
  std::lock_guard<std::mutex> lock(mutex_);
  return {runs_, stage_number_, items.load(std::memory_order_relaxed), items_total_,
          bytes.load(std::memory_order_relaxed), partitions_done.load(std::memory_order_relaxed), partitions_total_};
}

DATAFLOW_INLINE void progress_reporter::set_others(const stage_progress& sum, std::size_t ranks,
                                                   std::uint64_t run, std::uint64_t stage) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (run != runs_ || stage != stage_number_) return;  // a stage began since
  others_ = sum;
  other_ranks_ = ranks;
}

DATAFLOW_INLINE void progress_reporter::end_run() noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!running_) return;
  running_ = false;
  try {
    progress_info info = sample(clock::now());
    info.finished = true;
    if (handler) {
      auto h = handler;
      lock.unlock();
      h(info);
      return;
    }
    if (shown_ && terminal_) std::fputs("\r\033[K", stderr);  // the run's line goes
  } catch (...) {
    // A handler that throws at the end of a run loses that sample, nothing else.
  }
}

DATAFLOW_INLINE progress_info progress_reporter::sample(clock::time_point now) const {
  progress_info info;
  info.action = action_;
  info.stage = stage_;
  info.stage_number = stage_number_;
  info.partitions_done = partitions_done.load(std::memory_order_relaxed);
  info.partitions_total = partitions_total_;
  info.items_total = items_total_;
  info.items = items.load(std::memory_order_relaxed);
  info.bytes = bytes.load(std::memory_order_relaxed);
  info.stage_seconds = std::chrono::duration<double>(now - stage_start_).count();
  info.elapsed_seconds = std::chrono::duration<double>(now - run_start_).count();
  if (other_ranks_ > 0) {
    info.ranks = 1 + other_ranks_;
    info.items += others_.items;
    info.bytes += others_.bytes;
    info.partitions_done += static_cast<std::size_t>(others_.partitions_done);
    info.partitions_total += static_cast<std::size_t>(others_.partitions_total);
    // A total only where every rank knows its own.
    info.items_total = items_total_ > 0 && others_.items_total > 0 ? items_total_ + others_.items_total : 0;
  }
  return info;
}

DATAFLOW_INLINE void progress_reporter::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!quit_) {
    wake_.wait_for(lock, std::chrono::milliseconds(100));
    if (quit_ || !running_) continue;
    const auto now = clock::now();
    if (now - run_start_ < delay) continue;
    progress_info info = sample(now);
    if (handler) {
      if (now - last_call_ < interval) continue;
      last_call_ = now;
      auto h = handler;
      lock.unlock();
      try {
        h(info);
      } catch (...) {
        // Progress is advice: a failing handler must not stop the run.
      }
      lock.lock();
      continue;
    }
    if (mode != progress_mode::automatic) continue;
    if (terminal_) {
      std::fprintf(stderr, "\r\033[K%s", info.line().c_str());
      std::fflush(stderr);
      shown_ = true;
    } else if (!shown_ || now - last_line_ >= std::chrono::seconds(5)) {
      std::fprintf(stderr, "%s\n", info.line().c_str());
      shown_ = true;
      last_line_ = now;
    }
  }
}

}  // namespace detail
}  // namespace dataflow
#endif
