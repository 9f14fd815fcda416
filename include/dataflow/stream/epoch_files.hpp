// epoch_files: a result sink for streams with checkpoints that writes each result once, whatever
// crashes and restarts happen.
//
// The results handed on between two checkpoints (an epoch) go to a hidden temporary file, fsynced
// just before checkpoint N is published and renamed to `DIR/PREFIX-N` just after: a file appears
// only once its checkpoint holds, and is never written again. A restart from checkpoint C
// renames a temporary file of epoch C left by a crash between the two steps, removes the other
// temporary files, and goes on with epoch C + 1: each result is in exactly one file, and a reader
// that takes the files in order of name reads each once.
//
// The windows that close because the source ended are not covered by a checkpoint (a later run
// over a log that grew counts on into them): their results go to `DIR/PREFIX-N.final`, which
// such a later run removes and replaces with its own epochs.
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

  /// Starts epoch `epoch` (after checkpoint epoch - 1): finishes that epoch's file if a crash
  /// left it unrenamed, removes later ones and temporary files, opens its temporary file.
  void begin(std::uint64_t epoch);
  /// Appends the formatted results buffered in `text`, emptying it.
  void write(std::string& text);
  /// Makes the epoch's temporary file durable (before its checkpoint is published).
  void seal();
  /// Gives the sealed file its name (once its checkpoint is published); `suffix` marks the
  /// results of the windows closed at the end of the source.
  void publish(const std::string& suffix = "");

 private:
  std::string final_name(std::uint64_t epoch) const;
  std::string tmp_name(std::uint64_t epoch) const;
  void rename_durably(const std::string& from, const std::string& to);
  std::string dir_, prefix_, tmp_;
  int fd_ = -1;
  bool sealed_ = false;
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
  void publish_epoch() { writer().publish(); }
  void publish_final() {
    seal_epoch();
    writer().publish(".final");
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
#include <cstring>
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
  // An epoch still open is held by no checkpoint. A sealed one may be (its checkpoint published,
  // the rename failed): the next start settles it, naming it or removing it.
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

DATAFLOW_INLINE std::string epoch_file_writer::tmp_name(std::uint64_t epoch) const {
  return dir_ + "/." + prefix_ + "-" + std::to_string(epoch) + ".tmp";
}

DATAFLOW_INLINE void epoch_file_writer::begin(std::uint64_t epoch) {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
    fd_ = -1;
  }
  // A crash between checkpoint epoch - 1 and the rename of its file left that file sealed under
  // its temporary name: finish it. Any other temporary file is of an epoch that no checkpoint
  // holds; so is a ".final" file (or a file of a later epoch).
  if (epoch > 1 && ::access(tmp_name(epoch - 1).c_str(), F_OK) == 0) {
    rename_durably(tmp_name(epoch - 1), final_name(epoch - 1));
  }
  const std::string stem = prefix_ + "-";
  if (DIR* d = ::opendir(dir_.c_str())) {
    std::vector<std::string> stale;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      const bool tmp = name.rfind("." + stem, 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
      const bool ours = name.rfind(stem, 0) == 0 && name.size() >= stem.size() + 12;
      const bool final_results = ours && name.compare(stem.size() + 12, std::string::npos, ".final") == 0;
      const bool later = ours && name.size() == stem.size() + 12 && std::strtoull(name.c_str() + stem.size(), nullptr, 10) >= epoch;
      if (tmp || final_results || later) stale.push_back(dir_ + "/" + name);
    }
    ::closedir(d);
    for (const std::string& path : stale) ::unlink(path.c_str());
  }
  epoch_ = epoch;
  sealed_ = false;
  tmp_ = tmp_name(epoch);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int e = errno;
    throw io_error(tmp_, "epoch_files: cannot make '" + tmp_ + "': " + errno_text(e));
  }
}

DATAFLOW_INLINE void epoch_file_writer::write(std::string& text) {
  if (fd_ < 0 || sealed_) throw usage_error("dataflow::epoch_files: results outside an open epoch");
  write_all(fd_, text.data(), text.size(), tmp_, "epoch_files");
  text.clear();
}

DATAFLOW_INLINE void epoch_file_writer::seal() {
  if (fd_ < 0 || sealed_) throw usage_error("dataflow::epoch_files: no open epoch to seal");
  const bool synced = ::fsync(fd_) == 0;
  const int e = errno;
  const bool closed = ::close(fd_) == 0;
  fd_ = -1;
  if (!synced || !closed) {
    ::unlink(tmp_.c_str());
    throw io_error(tmp_, "epoch_files: cannot write '" + tmp_ + "': " + errno_text(synced ? errno : e));
  }
  sealed_ = true;
}

DATAFLOW_INLINE void epoch_file_writer::publish(const std::string& suffix) {
  if (!sealed_) throw usage_error("dataflow::epoch_files: no sealed epoch to publish");
  rename_durably(tmp_, final_name(epoch_) + suffix);
  sealed_ = false;
  tmp_.clear();
}

DATAFLOW_INLINE void epoch_file_writer::rename_durably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int e = errno;
    throw io_error(to, "epoch_files: cannot rename '" + from + "' to '" + to + "': " + errno_text(e));
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
