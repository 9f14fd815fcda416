// Where spilled data lives: one fresh directory per spilling run, removed with its last file.
//
// The directory is made with mkdtemp under the spill root (the context's setting, else TMPDIR,
// else /tmp) and named dataflow-<pid>-XXXXXX, so no two runs, live or killed, ever share one:
// a run only reads files it wrote itself in its own directory. Each spill file removes itself
// when the last reference to it goes, on success, exception or cancellation alike; the
// directory removes whatever is left and itself after its last file. The root itself, which
// the user may have supplied, is never deleted.
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/storage/files.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
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
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") ::unlink((path_ + "/" + n).c_str());
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

/// Hands out the spill directory of a context: made on first need, shared by the spills that
/// overlap in time, gone (from disk too) once nothing spilled is left.
class spill_space {
 public:
  std::shared_ptr<spill_directory> directory(const std::string& root, const std::string& stage) {
    std::lock_guard lock(mutex_);
    if (auto d = current_.lock()) return d;
    auto d = std::make_shared<spill_directory>(root.empty() ? default_spill_root() : root, stage);
    current_ = d;
    return d;
  }

 private:
  std::mutex mutex_;
  std::weak_ptr<spill_directory> current_;
};

}  // namespace dataflow::detail
