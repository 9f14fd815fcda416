// Where spilled data lives: files without a name in the spill root.
//
// Each spill file is opened with O_TMPFILE in the spill root (the context's setting, else
// TMPDIR, else /tmp), so it never has a name: its descriptor keeps it, and when the last
// reference goes, or the process ends in any way (SIGKILL included), the file system frees it.
// Nothing is left for a later run to sweep, and no run can delete another's files, whatever
// PID namespace or host it runs in. Where the file system has no O_TMPFILE, the file is made
// under an exclusive random name and unlinked at once. The root itself is never touched.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/storage/files.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace dataflow::detail {

/// Returns the spill root to use when the user set none: $TMPDIR, else /tmp.
std::string default_spill_root();

/// Every live spill file holds a descriptor: lets the process use its hard limit of open files
/// rather than the soft one (often 1024), once, before the first spill.
void raise_open_file_limit();

/// The spill root of a run: makes the unnamed files spills write to.
class spill_directory {
 public:
  explicit spill_directory(std::string root) : path_(std::move(root)) {}
  spill_directory(const spill_directory&) = delete;
  spill_directory& operator=(const spill_directory&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// Opens a new spill file for reading and writing, and sets `name` to how messages call it.
  /// Throws io_error naming the root and the stage.
  file_handle create_file(const std::string& stage, std::string& name);

 private:
  std::string path_;
  std::atomic<std::uint64_t> next_{0};
};

/// A spill file: its descriptor, shared by its writer and readers; the file goes with it.
class spill_file {
 public:
  spill_file(file_handle fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  spill_file(const spill_file&) = delete;
  spill_file& operator=(const spill_file&) = delete;

  int fd() const noexcept { return fd_.get(); }
  /// How errors name the file: its spill root and number.
  const std::string& path() const noexcept { return name_; }

 private:
  file_handle fd_;
  std::string name_;
};

/// Hands out the spill root of a context.
class spill_space {
 public:
  std::shared_ptr<spill_directory> directory(const std::string& root);

 private:
  std::mutex mutex_;
  std::shared_ptr<spill_directory> current_;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace dataflow::detail {

DATAFLOW_INLINE std::string default_spill_root() {
  const char* t = std::getenv("TMPDIR");
  return (t && *t) ? std::string(t) : std::string("/tmp");
}

DATAFLOW_INLINE void raise_open_file_limit() {
  static std::once_flag once;
  std::call_once(once, [] {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    const rlim_t want = r.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : std::min<rlim_t>(r.rlim_max, rlim_t{1} << 20);
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < want) {
      r.rlim_cur = want;
      ::setrlimit(RLIMIT_NOFILE, &r);
    }
  });
}

DATAFLOW_INLINE file_handle spill_directory::create_file(const std::string& stage, std::string& name) {
  raise_open_file_limit();
  const std::uint64_t n = next_.fetch_add(1, std::memory_order_relaxed);
  name = path_ + "/(unnamed spill file " + std::to_string(n) + ")";
  bool unsupported = false;
  int fd = open_unnamed(path_, O_RDWR, 0600, unsupported);
  if (fd < 0 && unsupported) {
    std::string named;
    fd = create_exclusive(path_, ".dataflow-spill-", O_RDWR, 0600, named);
    if (fd >= 0) ::unlink(named.c_str());  // the descriptor keeps the file
  }
  if (fd < 0) {
    int e = errno;
    std::string why = errno_text(e);
    if (e == EMFILE || e == ENFILE) why += " (each spill file in use holds a descriptor; raise 'ulimit -n')";
    throw io_error(path_, stage + ": cannot create a spill file in '" + path_ + "': " + why);
  }
  return file_handle(fd);
}

DATAFLOW_INLINE std::shared_ptr<spill_directory> spill_space::directory(const std::string& root) {
  std::lock_guard lock(mutex_);
  const std::string where = root.empty() ? default_spill_root() : root;
  if (!current_ || current_->path() != where) current_ = std::make_shared<spill_directory>(where);
  return current_;
}

}  // namespace dataflow::detail
#endif
