// Where spilled data lives: one fresh directory per spilling run, removed with its last file.
//
// The directory is made with mkdtemp under the spill root (the context's setting, else TMPDIR,
// else /tmp) and named dataflow-<pid>-XXXXXX, so no two runs, live or killed, ever share one:
// a run only reads files it wrote itself in its own directory, and directories that processes
// killed before they could clean up are removed by the next spilling context. Each spill file removes itself
// when the last reference to it goes, on success, exception or cancellation alike; the
// directory removes whatever is left and itself after its last file. The root itself, which
// the user may have supplied, is never deleted.
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/storage/files.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// Returns the spill root to use when the user set none: $TMPDIR, else /tmp.
inline std::string default_spill_root() {
  const char* t = std::getenv("TMPDIR");
  return (t && *t) ? std::string(t) : std::string("/tmp");
}

class spill_directory {
 public:
  /// Creates a fresh directory under `root`; throws io_error naming the root and the stage.
  spill_directory(const std::string& root, const std::string& stage) {
    std::string pattern = root + "/dataflow-" + std::to_string(::getpid()) + "-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr) {
      int e = errno;
      throw io_error(root, stage + ": cannot create a spill directory in '" + root +
                               "': " + errno_text(e));
    }
    path_ = name.data();
  }
  ~spill_directory() {
    // Files remove themselves; this catches any a failed write could not.
    if (DIR* d = ::opendir(path_.c_str())) {
      const int dir_fd = ::dirfd(d);
      while (dirent* e = ::readdir(d)) {
        const std::string_view n = e->d_name;
        if (n != "." && n != "..") ::unlinkat(dir_fd, e->d_name, 0);
      }
      ::closedir(d);
    }
    ::rmdir(path_.c_str());
  }
  spill_directory(const spill_directory&) = delete;
  spill_directory& operator=(const spill_directory&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// Returns a path for a new file in the directory.
  std::string new_file_path() {
    return path_ + "/" + std::to_string(next_.fetch_add(1, std::memory_order_relaxed)) + ".spill";
  }

 private:
  std::string path_;
  std::atomic<std::uint64_t> next_{0};
};

/// A spill file: removed from disk when the last reference to it goes.
class spill_file {
 public:
  spill_file(std::shared_ptr<spill_directory> dir, std::string path)
      : dir_(std::move(dir)), path_(std::move(path)) {}
  ~spill_file() { ::unlink(path_.c_str()); }
  spill_file(const spill_file&) = delete;
  spill_file& operator=(const spill_file&) = delete;

  const std::string& path() const noexcept { return path_; }

 private:
  std::shared_ptr<spill_directory> dir_;  // keeps the directory while the file is in it
  std::string path_;
};

/// Removes spill directories under `root` left by processes that no longer run (killed before
/// they could clean up): dataflow-<pid>-XXXXXX whose <pid> is not a live process. Only their
/// .spill files are removed, then the directory if that left it empty; a directory of a live
/// process, this one included, is never touched.
inline void remove_stale_spill_directories(const std::string& root) {
  DIR* d = ::opendir(root.c_str());
  if (d == nullptr) return;
  const std::string prefix = "dataflow-";
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::size_t dash = name.find('-', prefix.size());
    if (dash == std::string::npos || dash == prefix.size() || name.size() - dash != 7) continue;
    const std::string pid_text = name.substr(prefix.size(), dash - prefix.size());
    if (pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    const std::string dir = root + "/" + name;
    if (DIR* inner = ::opendir(dir.c_str())) {
      while (dirent* f = ::readdir(inner)) {
        const std::string file = f->d_name;
        if (file.size() > 6 && file.compare(file.size() - 6, 6, ".spill") == 0) {
          ::unlink((dir + "/" + file).c_str());
        }
      }
      ::closedir(inner);
    }
    ::rmdir(dir.c_str());
  }
  ::closedir(d);
}

/// Hands out the spill directory of a context: made on first need, shared by the spills that
/// overlap in time, gone (from disk too) once nothing spilled is left.
class spill_space {
 public:
  std::shared_ptr<spill_directory> directory(const std::string& root, const std::string& stage) {
    std::lock_guard lock(mutex_);
    if (auto d = current_.lock()) return d;
    const std::string where = root.empty() ? default_spill_root() : root;
    if (swept_ != where) {  // once per root, before this context's first spill there
      remove_stale_spill_directories(where);
      swept_ = where;
    }
    auto d = std::make_shared<spill_directory>(where, stage);
    current_ = d;
    return d;
  }

 private:
  std::mutex mutex_;
  std::weak_ptr<spill_directory> current_;
  std::string swept_;
};

}  // namespace dataflow::detail
