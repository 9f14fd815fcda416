// Writes a file with O_DIRECT: the bytes go from a few reused, aligned buffers to the disk,
// not through the page cache, and a thread of its own writes one buffer while the caller fills
// the next.
//
// Why: a buffered write() of a large output copies every byte into page-cache pages the kernel
// must first find and clear; where that is dear (virtual machines: 450-570 MB/s buffered into a
// new file here, against 2.1 GB/s with O_DIRECT), the copy, not the disk, bounds the output.
// The cost: the writes wait for the disk instead of leaving dirty pages for later, which loses
// on a slow disk with memory to spare; so it is a choice (write_options::direct), not a default.
//
// Full buffers are written at offsets that are multiples of the block; the tail that does not
// fill one is written at finish() with O_DIRECT turned off. A file system that refuses O_DIRECT
// (tmpfs, some network file systems) is written through the same buffers without it.
#pragma once

#include <dataflow/detail/config.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dataflow::detail {

/// For tests: when set to n > 0, the n-th write made with O_DIRECT from now fails with EINVAL,
/// as on a file system that refuses it.
inline std::atomic<int> direct_write_failure_countdown{0};

class direct_writer {
 public:
  static constexpr std::size_t buffer_bytes = std::size_t{4} << 20;  // a multiple of any block size
  static constexpr std::size_t buffers = 3;

  /// Takes over writing `fd` (opened for writing, empty) from offset 0.
  explicit direct_writer(int fd);
  ~direct_writer();
  direct_writer(const direct_writer&) = delete;
  direct_writer& operator=(const direct_writer&) = delete;

  /// Appends n bytes; returns 0, or the errno of a write that failed (this one or an earlier
  /// one on the writing thread), after which nothing more is written.
  int write(const char* data, std::size_t n);

  /// Writes what is left, waits for every write and stops the thread; returns 0 or an errno.
  int finish();

  /// Whether the file system took O_DIRECT (false if it refused it, at the start or later).
  bool took_direct() const noexcept { return took_.load(std::memory_order_relaxed); }

 private:
  struct aligned_free {
    void operator()(char* p) const noexcept;
  };
  using block = std::unique_ptr<char, aligned_free>;
  struct job {
    char* data;
    std::size_t bytes;
    std::uint64_t offset;
  };

  void run() noexcept;
  /// Hands the current buffer to the thread and takes a free one (waiting for it).
  int hand_over();
  /// pwrite of a whole job; retries without O_DIRECT when the file system refuses it.
  int write_job(const job& j) noexcept;
  /// Turns O_DIRECT off on the descriptor; false (errno set) if it cannot.
  bool clear_direct() noexcept;

  int fd_;
  std::atomic<bool> direct_{false};  // O_DIRECT is set on fd_ now
  std::atomic<bool> took_{false};
  std::vector<block> blocks_;
  char* current_ = nullptr;
  std::size_t used_ = 0;
  std::uint64_t offset_ = 0;  // where current_ goes in the file

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<job> queue_;     // full buffers, in file order
  std::vector<char*> free_;   // empty buffers
  bool busy_ = false;         // the thread is writing one
  int error_ = 0;             // the first failed write's errno
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace dataflow::detail {

DATAFLOW_INLINE void direct_writer::aligned_free::operator()(char* p) const noexcept { std::free(p); }

DATAFLOW_INLINE direct_writer::direct_writer(int fd) : fd_(fd) {
  for (std::size_t i = 0; i < buffers; ++i) {
    void* p = nullptr;
    if (::posix_memalign(&p, 4096, buffer_bytes) != 0) throw std::bad_alloc();
    blocks_.emplace_back(static_cast<char*>(p));
  }
  current_ = blocks_[0].get();
  for (std::size_t i = 1; i < buffers; ++i) free_.push_back(blocks_[i].get());
#ifdef O_DIRECT
  const int flags = ::fcntl(fd_, F_GETFL);
  direct_ = flags >= 0 && ::fcntl(fd_, F_SETFL, flags | O_DIRECT) == 0;  // old tmpfs refuses it here
#endif
  took_ = direct_.load();
  thread_ = std::thread([this] { run(); });
}

DATAFLOW_INLINE direct_writer::~direct_writer() {
  {
    std::lock_guard lock(m_);
    stopping_ = true;
    queue_.clear();  // not finished: the file is being given up
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

DATAFLOW_INLINE int direct_writer::write(const char* data, std::size_t n) {
  if (current_ == nullptr) return error_;  // a write failed: nothing more is written
  while (n > 0) {
    const std::size_t take = std::min(n, buffer_bytes - used_);
    std::memcpy(current_ + used_, data, take);
    used_ += take;
    data += take;
    n -= take;
    if (used_ == buffer_bytes) {
      if (int e = hand_over()) return e;
    }
  }
  std::lock_guard lock(m_);
  return error_;
}

DATAFLOW_INLINE int direct_writer::hand_over() {
  std::unique_lock lock(m_);
  queue_.push_back(job{current_, used_, offset_});
  offset_ += used_;
  used_ = 0;
  cv_.notify_all();
  cv_.wait(lock, [&] { return !free_.empty() || error_ != 0; });
  if (error_ != 0) {
    current_ = nullptr;
    return error_;
  }
  current_ = free_.back();
  free_.pop_back();
  return 0;
}

DATAFLOW_INLINE int direct_writer::finish() {
  {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return (queue_.empty() && !busy_) || error_ != 0; });
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (error_ != 0 || used_ == 0 || current_ == nullptr) return error_;
  // The tail: not a whole block, so not with O_DIRECT.
  if (direct_.load(std::memory_order_relaxed)) {
    if (!clear_direct()) return errno;
    direct_.store(false, std::memory_order_relaxed);
  }
  error_ = write_job(job{current_, used_, offset_});
  used_ = 0;
  return error_;
}

DATAFLOW_INLINE bool direct_writer::clear_direct() noexcept {
#ifdef O_DIRECT
  const int flags = ::fcntl(fd_, F_GETFL);
  return flags >= 0 && ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) == 0;
#else
  return true;
#endif
}

DATAFLOW_INLINE void direct_writer::run() noexcept {
  for (;;) {
    job j{};
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;
      j = queue_.front();
      queue_.pop_front();
      busy_ = true;
    }
    const int e = write_job(j);
    {
      std::lock_guard lock(m_);
      busy_ = false;
      free_.push_back(j.data);
      if (e != 0 && error_ == 0) error_ = e;
    }
    cv_.notify_all();
    if (e != 0) return;
  }
}

DATAFLOW_INLINE int direct_writer::write_job(const job& j) noexcept {
  std::size_t done = 0;
  while (done < j.bytes) {
    const bool refused = direct_.load(std::memory_order_relaxed) &&
                         direct_write_failure_countdown.load(std::memory_order_relaxed) > 0 &&
                         direct_write_failure_countdown.fetch_sub(1) == 1;
    if (refused) errno = EINVAL;
    const ssize_t w = refused ? -1 : ::pwrite(fd_, j.data + done, j.bytes - done, static_cast<off_t>(j.offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && direct_.load(std::memory_order_relaxed)) {
        // The file system does not take O_DIRECT (or not at this alignment): go on without it.
        if (!clear_direct()) return EINVAL;
        direct_.store(false, std::memory_order_relaxed);
        took_.store(false, std::memory_order_relaxed);
        continue;
      }
      return errno;
    }
    if (w == 0) return EIO;  // no progress: never loop on it
    done += static_cast<std::size_t>(w);
  }
  return 0;
}

}  // namespace dataflow::detail
#endif
