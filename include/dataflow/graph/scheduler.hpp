// The threads behind a context: oneTBB's work-stealing arena, reached through a few calls that
// take no template parameter. Only their definitions include oneTBB's headers, which cost about
// two seconds of every compile; a program built with DATAFLOW_SEPARATE_COMPILATION never parses
// them. Each call is made per partition or per task, never per item.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/detail/function_ref.hpp>

#include <concepts>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace dataflow::detail {

/// A context's arena of threads.
class scheduler {
 public:
  /// An arena of `threads` threads (0: every core, as many as the system allows); a count the
  /// system cannot start is a usage_error (oneTBB would end the process instead).
  explicit scheduler(std::size_t threads);
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  std::size_t threads() const noexcept { return threads_; }

  /// Runs `f` inside the arena (its parallel work uses the arena's threads) and waits for it.
  void execute(function_ref<void()> f);

  /// Runs `worker` as `workers` tasks of the arena and waits for all of them. The first
  /// exception cancels the tasks not yet started (stop_requested() turns true in the others)
  /// and is rethrown here.
  void run_workers(std::size_t workers, function_ref<void()> worker);

  /// The most threads a context may use here: 4096, or less where the process may start fewer
  /// threads (RLIMIT_NPROC, the kernel's threads-max).
  static std::size_t max_threads();
  /// The threads the hardware runs at once (the default of a context).
  static std::size_t hardware_threads();

 private:
  struct impl;
  std::size_t threads_ = 1;
  std::unique_ptr<impl> impl_;
};

/// True when the running stage was cancelled because another task failed.
bool stop_requested() noexcept;

/// Returns the slot of the calling thread in the current arena, in [0, threads).
std::size_t thread_slot() noexcept;

/// Runs `f` so that a thread waiting inside it takes no task from outside it (a thread that
/// waits in a user function never starts another partition of its own stage).
void run_isolated(function_ref<void()> f);

/// Tasks that run in parallel with the caller until wait(). A task is a small, trivially
/// copyable closure (pointers and numbers), kept in place: spawning allocates nothing of ours.
class task_group {
 public:
  static constexpr std::size_t closure_size = 48;

  task_group();
  ~task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  template <class F>
  void run(const F& f) {
    static_assert(std::is_trivially_copyable_v<F> && sizeof(F) <= closure_size &&
                      alignof(F) <= alignof(std::max_align_t),
                  "task_group::run takes small closures of pointers and numbers");
    closure c;
    // memcpy of a trivially copyable type creates the object in place (an implicit-lifetime type).
    c.call = [](const closure& self) { (*std::launder(reinterpret_cast<const F*>(self.bytes)))(); };
    std::memcpy(c.bytes, static_cast<const void*>(&f), sizeof(F));
    spawn(c);
  }

  /// Waits for every task; rethrows the first exception a task threw (the rest are cancelled).
  void wait();

 private:
  struct closure {
    void (*call)(const closure&);
    alignas(std::max_align_t) unsigned char bytes[closure_size];
  };
  struct impl;
  void spawn(const closure& c);
  std::unique_ptr<impl> impl_;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace dataflow::detail {

struct scheduler::impl {
  std::unique_ptr<tbb::global_control> parallelism;
  tbb::task_arena arena;
  explicit impl(int threads) : arena(threads) {}
};

DATAFLOW_INLINE std::size_t scheduler::hardware_threads() {
  return static_cast<std::size_t>(tbb::info::default_concurrency());
}

DATAFLOW_INLINE std::size_t scheduler::max_threads() {
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

DATAFLOW_INLINE scheduler::scheduler(std::size_t n) {
  // All cores, as many as the system lets a context use; a count asked for must fit, as oneTBB
  // ends the process through std::terminate when it cannot start a worker.
  const std::size_t limit = max_threads();
  const std::size_t hw = hardware_threads();
  if (n == 0) n = std::min(hw, limit);
  if (n > limit) {
    throw usage_error("dataflow: " + std::to_string(n) + " threads asked for; this system allows a context at most " +
                      std::to_string(limit) + " (it has " + std::to_string(hw) + " cores)");
  }
  threads_ = n;
  impl_ = std::make_unique<impl>(static_cast<int>(n));
  // oneTBB caps its workers at the hardware concurrency; asking for more threads than cores
  // (useful to test, or to overlap blocking I/O) needs a global_control that lifts the cap.
  if (n > hw) {
    impl_->parallelism = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, n);
  }
}

DATAFLOW_INLINE scheduler::~scheduler() = default;

DATAFLOW_INLINE void scheduler::execute(function_ref<void()> f) {
  impl_->arena.execute([&] { f(); });
}

DATAFLOW_INLINE void scheduler::run_workers(std::size_t workers, function_ref<void()> worker) {
  if (workers == 0) return;
  impl_->arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, workers, [&](std::size_t) { worker(); }, tbb::simple_partitioner());
  });
}

DATAFLOW_INLINE bool stop_requested() noexcept { return tbb::is_current_task_group_canceling(); }

DATAFLOW_INLINE std::size_t thread_slot() noexcept {
  return static_cast<std::size_t>(tbb::this_task_arena::current_thread_index());
}

DATAFLOW_INLINE void run_isolated(function_ref<void()> f) {
  tbb::this_task_arena::isolate([&] { f(); });
}

struct task_group::impl {
  tbb::task_group tasks;
};

DATAFLOW_INLINE task_group::task_group() : impl_(std::make_unique<impl>()) {}

DATAFLOW_INLINE task_group::~task_group() = default;

DATAFLOW_INLINE void task_group::spawn(const closure& c) {
  impl_->tasks.run([c] { c.call(c); });
}

DATAFLOW_INLINE void task_group::wait() { impl_->tasks.wait(); }

}  // namespace dataflow::detail
#endif
