// epoch_files: a result sink for streams with checkpoints that writes each result once, whatever
// crashes and restarts happen.
//
// The results handed on between two checkpoints (an epoch) go to a hidden temporary file; just
// before checkpoint N is published, that file is fsynced and renamed to `DIR/PREFIX-N`. A
// restart resumes from the newest checkpoint C, removes any epoch file after C (written by the
// run that crashed before its checkpoint) and writes epoch C + 1 again: each result is in exactly
// one file, and a reader that takes the files in order of name reads each once. The results of
// the windows that close when the source ends go to the next epoch's file too.
//
// @code
// auto run = windowed.start({.checkpoint_dir = "state/"},
//     dataflow::epoch_files("out/", [](const dataflow::window_result<std::string, std::uint64_t>& r,
//                                      std::string& out) { out += r.key + "\n"; }));
// @endcode
#pragma once

#include <dataflow/detail/config.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace dataflow {
namespace detail {

/// The files of epoch_files, apart from the formatting.
class epoch_file_writer {
 public:
  epoch_file_writer(std::string dir, std::string prefix);
  epoch_file_writer(const epoch_file_writer&) = delete;
  epoch_file_writer& operator=(const epoch_file_writer&) = delete;
  ~epoch_file_writer();  // removes an unsealed temporary file

  /// Starts epoch `epoch`: removes the epoch files from it on, opens its temporary file.
  void begin(std::uint64_t epoch);
  /// Appends the formatted results buffered in `text`, emptying it.
  void write(std::string& text);
  /// Makes the epoch's file durable under its final name.
  void seal();

 private:
  std::string final_name(std::uint64_t epoch) const;
  std::string dir_, prefix_, tmp_;
  int fd_ = -1;
  std::uint64_t epoch_ = 0;
};

}  // namespace detail

/// The result callback of a windowed aggregation that writes format(result, text) into one file
/// per checkpoint epoch; see the top of this header.
template <class Format>
class epoch_files {
 public:
  epoch_files(std::string dir, Format format, std::string prefix = "part")
      : dir_(std::move(dir)), prefix_(std::move(prefix)), format_(std::move(format)) {}

  template <class Result>
  void operator()(const Result& r) {
    format_(r, text_);
    if (text_.size() >= (std::size_t{1} << 20)) writer().write(text_);
  }

  // ---- The stream's side: called on its thread around checkpoints. ----
  void begin_epoch(std::uint64_t epoch) {
    text_.clear();
    writer().begin(epoch);
  }
  void seal_epoch() {
    writer().write(text_);
    writer().seal();
  }

 private:
  detail::epoch_file_writer& writer() {
    if (!writer_) writer_ = std::make_shared<detail::epoch_file_writer>(dir_, prefix_);
    return *writer_;
  }

  std::string dir_, prefix_;
  Format format_;
  std::string text_;
  std::shared_ptr<detail::epoch_file_writer> writer_;  // made on the stream's thread
};

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>
#include <dataflow/storage/files.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace dataflow::detail {

DATAFLOW_INLINE epoch_file_writer::epoch_file_writer(std::string dir, std::string prefix)
    : dir_(std::move(dir)), prefix_(std::move(prefix)) {
  if (dir_.empty()) throw usage_error("dataflow::epoch_files: the directory is empty");
  if (prefix_.empty() || prefix_.find('/') != std::string::npos) {
    throw usage_error("dataflow::epoch_files: the prefix must be a file name, not '" + prefix_ + "'");
  }
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
    const int e = errno;
    throw io_error(dir_, "epoch_files: cannot make '" + dir_ + "': " + errno_text(e));
  }
}

DATAFLOW_INLINE epoch_file_writer::~epoch_file_writer() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

DATAFLOW_INLINE std::string epoch_file_writer::final_name(std::uint64_t epoch) const {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%012llu", static_cast<unsigned long long>(epoch));
  return dir_ + "/" + prefix_ + "-" + digits;
}

DATAFLOW_INLINE void epoch_file_writer::begin(std::uint64_t epoch) {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
    fd_ = -1;
  }
  // Epoch files from `epoch` on were written by a run that did not reach their checkpoint;
  // so were temporary files left by a crash.
  const std::string stem = prefix_ + "-";
  if (DIR* d = ::opendir(dir_.c_str())) {
    std::vector<std::string> stale;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      const bool tmp = name.rfind("." + stem, 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
      const bool later = name.rfind(stem, 0) == 0 && name.size() == stem.size() + 12 &&
                         std::strtoull(name.c_str() + stem.size(), nullptr, 10) >= epoch;
      if (tmp || later) stale.push_back(dir_ + "/" + name);
    }
    ::closedir(d);
    for (const std::string& path : stale) ::unlink(path.c_str());
  }
  epoch_ = epoch;
  tmp_ = dir_ + "/." + prefix_ + "-" + std::to_string(epoch) + ".tmp";
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int e = errno;
    throw io_error(tmp_, "epoch_files: cannot make '" + tmp_ + "': " + errno_text(e));
  }
}

DATAFLOW_INLINE void epoch_file_writer::write(std::string& text) {
  if (fd_ < 0) throw usage_error("dataflow::epoch_files: results before the stream began an epoch");
  for (std::size_t at = 0; at < text.size();) {
    const ssize_t n = ::write(fd_, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : ENOSPC;
      throw io_error(tmp_, "epoch_files: cannot write '" + tmp_ + "': " + errno_text(e));
    }
    at += static_cast<std::size_t>(n);
  }
  text.clear();
}

DATAFLOW_INLINE void epoch_file_writer::seal() {
  if (fd_ < 0) throw usage_error("dataflow::epoch_files: no epoch to seal");
  const std::string final_path = final_name(epoch_);
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    const int e = errno;
    fd_ = -1;
    ::unlink(tmp_.c_str());
    throw io_error(tmp_, "epoch_files: cannot write '" + tmp_ + "': " + errno_text(e));
  }
  fd_ = -1;
  if (::rename(tmp_.c_str(), final_path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp_.c_str());
    throw io_error(final_path, "epoch_files: cannot rename '" + tmp_ + "' to '" + final_path + "': " + errno_text(e));
  }
  // The rename is durable once the directory is.
  const int d = ::open(dir_.c_str(), O_RDONLY | O_CLOEXEC);
  if (d >= 0) {
    ::fsync(d);
    ::close(d);
  }
}

}  // namespace dataflow::detail
#endif
