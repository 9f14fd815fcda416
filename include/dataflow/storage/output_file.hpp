// Output files that appear whole or not at all, without harming what the path already is.
//
// A regular file or a new path is written to an unnamed file (O_TMPFILE) beside its target and
// linked into place by rename only when complete: a failed or killed run leaves the old file as
// it was and no temporary behind. A symlink is followed, so its target is replaced and the link
// stays; an existing file keeps its mode and, where permitted, its owner. A path that is not a
// regular file (a character device such as /dev/null, a FIFO, a socket, standard output by any
// of its names) is written through, as `sort -o` does. Where the file system has no O_TMPFILE,
// the temporary gets an exclusive random name, removed on failure and by the tools' signal
// handlers (see temp_registry).
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/storage/direct_writer.hpp>
#include <dataflow/storage/files.hpp>

#include <limits.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

namespace dataflow::detail {

/// For tests: when set to n > 0, the n-th rename of a finished output into place from now
/// fails as if the file system refused it.
inline std::atomic<long> output_rename_failure_countdown{0};

/// Names of temporary files that exist for a moment (a named fallback temporary, an unnamed one
/// linked in just before its rename), for a signal handler to remove: unlink is
/// async-signal-safe, and the slots are plain memory with an atomic state each.
class temp_registry {
  struct slot {
    std::atomic<int> state{0};  // 0 free, 1 being written, 2 holds a name
    char path[PATH_MAX];
  };

 public:
  static temp_registry& instance();
  /// Remembers `path`; returns its slot, or -1 when every slot is taken (then it is not removed
  /// on a signal, only by its owner).
  int add(const std::string& path) noexcept;
  void remove(int i) noexcept {
    if (i >= 0) slots_[static_cast<std::size_t>(i)].state.store(0);
  }
  /// Unlinks every name held; safe in a signal handler.
  void unlink_all() noexcept;

 private:
  std::array<slot, 64> slots_{};
};

/// A file being written; it takes the place of its path only at commit().
class output_file {
 public:
  explicit output_file(std::string path, std::string op = "write_lines");
  ~output_file() { abandon(); }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;

  /// The name messages use for what is written.
  const std::string& path() const noexcept { return path_; }

  void write(const char* data, std::size_t n);

  /// Writes the rest with O_DIRECT (storage/direct_writer.hpp), if the output is a regular file
  /// (a device, a FIFO or standard output is written as before). Call before the first write;
  /// fd() must not be read back from then on.
  void use_direct_writes();
  /// Whether writes bypass the page cache (use_direct_writes() and a file system that takes it).
  bool direct() const noexcept { return direct_ && direct_->took_direct(); }

  /// The descriptor of the file being written, before finish(): what was written to a staged
  /// file (opened for reading too) can be read back from it (a rank's text on its way to rank 0, ops/write_lines.hpp).
  int fd() const noexcept { return fd_.get(); }

  /// Ends writing; the file still does not replace its target until commit().
  void finish();

  /// Puts the file in place of its target.
  void commit();
  /// True once commit() has put the file in place.
  bool committed() const noexcept { return committed_; }

 private:
  enum class kind { through, unnamed, named };

  [[noreturn]] void fail(const char* what, int e);

  static bool is_stdout(const struct stat& st);

  void open_stdout();

  /// A device, FIFO or socket: written in place (opening a FIFO waits for its reader).
  void open_through(const struct stat& st);

  /// A regular file or a new one: staged beside the file a symlink chain ends at.
  void open_staged(const struct stat* existing);

  /// Follows symlinks at `path` to the file they end at (which may not exist yet).
  static std::string resolve_target(const std::string& path);

  /// Gives the unnamed file a name next to its target, for the rename; the name exists only
  /// until then (and the signal handlers know it).
  void link_temp();

  void abandon() noexcept;

  std::string path_;    // as given
  std::string op_;
  std::string target_;  // the file replaced: path_ with its symlinks followed
  std::string dir_, base_;
  std::string temp_;    // the temporary's name, once it has one
  file_handle fd_;
  std::unique_ptr<direct_writer> direct_;
  kind mode_ = kind::through;
  int registered_ = -1;
  bool finished_ = false;
  bool committed_ = false;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace dataflow::detail {

DATAFLOW_INLINE temp_registry& temp_registry::instance() {
  static temp_registry r;
  return r;
}

DATAFLOW_INLINE int temp_registry::add(const std::string& path) noexcept {
  if (path.size() >= PATH_MAX) return -1;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    int expected = 0;
    if (slots_[i].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(slots_[i].path, path.c_str(), path.size() + 1);
      slots_[i].state.store(2);
      return static_cast<int>(i);
    }
  }
  return -1;
}

DATAFLOW_INLINE void temp_registry::unlink_all() noexcept {
  for (auto& s : slots_) {
    if (s.state.load() == 2) ::unlink(s.path);
  }
}

DATAFLOW_INLINE output_file::output_file(std::string path, std::string op)
    : path_(std::move(path)), op_(std::move(op)) {
  struct stat st {};
  const bool exists = path_ != "-" && ::stat(path_.c_str(), &st) == 0;
  if (path_ == "-" || (exists && is_stdout(st))) {
    open_stdout();
  } else if (exists && S_ISDIR(st.st_mode)) {
    throw io_error(path_, op_ + ": '" + path_ + "' is a directory");
  } else if (exists && !S_ISREG(st.st_mode)) {
    open_through(st);
  } else {
    open_staged(exists ? &st : nullptr);
  }
}

DATAFLOW_INLINE void output_file::use_direct_writes() {
  if (mode_ != kind::through && !direct_) direct_ = std::make_unique<direct_writer>(fd_.get());
}

DATAFLOW_INLINE void output_file::write(const char* data, std::size_t n) {
  if (direct_) {
    if (const int e = direct_->write(data, n)) fail("cannot write", e);
    return;
  }
  while (n > 0) {
    ssize_t w = ::write(fd_.get(), data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", errno);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

DATAFLOW_INLINE void output_file::finish() {
  if (finished_) return;
  finished_ = true;
  if (direct_) {
    const int e = direct_->finish();
    if (e != 0) fail("cannot write", e);
  }
  if (mode_ == kind::unnamed) return;  // closing it would lose it: commit links it first
  if (::close(fd_.release()) != 0) fail("cannot close", errno);  // delayed write errors (NFS, quota)
}

DATAFLOW_INLINE void output_file::commit() {
  finish();
  if (committed_) return;
  if (mode_ == kind::unnamed) link_temp();
  if (mode_ == kind::unnamed || mode_ == kind::named) {
    const bool refused = output_rename_failure_countdown.load(std::memory_order_relaxed) > 0 &&
                         output_rename_failure_countdown.fetch_sub(1) == 1;
    if (refused) errno = EIO;
    if (refused || ::rename(temp_.c_str(), target_.c_str()) != 0) {
      int e = errno;
      throw io_error(path_, op_ + ": cannot rename '" + temp_ + "' to '" + target_ + "': " + errno_text(e));
    }
    temp_registry::instance().remove(registered_);
    registered_ = -1;
  }
  committed_ = true;
}

DATAFLOW_INLINE void output_file::fail(const char* what, int e) {
  throw io_error(path_, op_ + ": " + what + " '" + path_ + "': " + errno_text(e));
}

DATAFLOW_INLINE bool output_file::is_stdout(const struct stat& st) {
  struct stat out {};
  return ::fstat(STDOUT_FILENO, &out) == 0 && out.st_dev == st.st_dev && out.st_ino == st.st_ino;
}

DATAFLOW_INLINE void output_file::open_stdout() {
  std::fflush(stdout);  // what the program printed before comes first
  fd_ = file_handle(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
  if (fd_.get() < 0) {
    int e = errno;
    throw io_error(path_, op_ + ": cannot write to standard output: " + errno_text(e));
  }
  if (path_ == "-") path_ = "standard output";
  mode_ = kind::through;
}

DATAFLOW_INLINE void output_file::open_through(const struct stat& st) {
  mode_ = kind::through;
  if (S_ISSOCK(st.st_mode)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) fail("cannot connect to socket", ENAMETOOLONG);
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    fd_ = file_handle(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd_.get() < 0) fail("cannot connect to socket", errno);
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      fail("cannot connect to socket", errno);
    }
    return;
  }
  fd_ = file_handle(::open(path_.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC));
  if (fd_.get() < 0) fail("cannot open", errno);
}

DATAFLOW_INLINE void output_file::open_staged(const struct stat* existing) {
  target_ = resolve_target(path_);
  const std::size_t slash = target_.rfind('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : target_.substr(0, slash);
  base_ = slash == std::string::npos ? target_ : target_.substr(slash + 1);
  // A temporary's name adds ".", ".tmp-" and 12 characters: keep it within NAME_MAX.
  if (base_.size() > 200) base_.resize(200);
  bool unsupported = true;
  int fd = -1;
  // Linking an unnamed file into place goes through /proc/self/fd; without /proc (a chroot),
  // the temporary has a name from the start.
  if (::access("/proc/self/fd", X_OK) == 0) fd = open_unnamed(dir_, O_RDWR, 0666, unsupported);
  mode_ = kind::unnamed;
  if (fd < 0 && unsupported) {
    fd = create_exclusive(dir_, "." + base_ + ".tmp-", O_RDWR, 0666, temp_);
    mode_ = kind::named;
    if (fd >= 0) registered_ = temp_registry::instance().add(temp_);
  }
  if (fd < 0) {
    int e = errno;
    throw io_error(path_, op_ + ": cannot create '" + path_ + "' (in '" + dir_ + "'): " + errno_text(e));
  }
  fd_ = file_handle(fd);
  if (existing) {
    // Keep the owner where the process may set it, then the mode (a chown clears setuid bits).
    if (::fchown(fd, existing->st_uid, existing->st_gid) != 0) {
      [[maybe_unused]] int group_only = ::fchown(fd, static_cast<uid_t>(-1), existing->st_gid);
    }
    if (::fchmod(fd, existing->st_mode & 07777) != 0) {
      int e = errno;
      abandon();  // the constructor throws: no destructor will remove a named temporary
      throw io_error(path_, op_ + ": cannot set the mode of '" + path_ + "': " + errno_text(e));
    }
  }
}

DATAFLOW_INLINE std::string output_file::resolve_target(const std::string& path) {
  std::string p = path;
  for (int depth = 0; depth < 40; ++depth) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    char buf[PATH_MAX];
    ssize_t n = ::readlink(p.c_str(), buf, sizeof buf - 1);
    if (n < 0) return p;
    std::string link(buf, static_cast<std::size_t>(n));
    if (link.empty() || link[0] != '/') {
      const std::size_t slash = p.rfind('/');
      link = (slash == std::string::npos ? std::string() : p.substr(0, slash + 1)) + link;
    }
    p = std::move(link);
  }
  throw io_error(path, "'" + path + "': too many levels of symbolic links");
}

DATAFLOW_INLINE void output_file::link_temp() {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd_.get());
  bool linked = false;
  for (int attempt = 0; attempt < 64 && !linked; ++attempt) {
    temp_ = dir_ + "/." + base_ + ".tmp-" + random_name_part();
    registered_ = temp_registry::instance().add(temp_);
    int rc = ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, temp_.c_str(), AT_SYMLINK_FOLLOW);
    if (rc != 0 && errno == ENOENT) rc = ::linkat(fd_.get(), "", AT_FDCWD, temp_.c_str(), AT_EMPTY_PATH);
    if (rc == 0) {
      linked = true;
      break;
    }
    int e = errno;
    temp_registry::instance().remove(registered_);
    registered_ = -1;
    if (e != EEXIST) {
      throw io_error(path_, op_ + ": cannot link the finished file into '" + dir_ + "': " + errno_text(e));
    }
  }
  if (!linked) throw io_error(path_, op_ + ": cannot find a free temporary name in '" + dir_ + "'");
  mode_ = kind::named;
  if (::close(fd_.release()) != 0) fail("cannot close", errno);
}

DATAFLOW_INLINE void output_file::abandon() noexcept {
  if (committed_) return;
  direct_.reset();  // stops its thread before the file goes
  fd_.close();
  if (mode_ == kind::named && !temp_.empty()) ::unlink(temp_.c_str());
  temp_registry::instance().remove(registered_);
}

}  // namespace dataflow::detail
#endif
