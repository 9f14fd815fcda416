// Inputs of the file sources: regular files read in parallel ranges, and streams (standard
// input, pipes, FIFOs, devices, /proc files) read once, in sequential 1 MiB reads, into an
// unnamed file in the spill root and then read in parallel ranges like any file.
//
// Copying a stream first keeps every promise a file gives: partitions in input order, as many
// as the threads need, a second action reading the same data (a stream cannot be read twice),
// and memory that does not grow with the input. The copy has no name, so nothing is left
// behind whatever ends the run.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/storage/files.hpp>
#include <dataflow/storage/spill_directory.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dataflow::detail {

/// Reads the stream `path` ("-": standard input) to its end into an unnamed file in `dir`;
/// sets `size` to the bytes read.
std::shared_ptr<spill_file> spool_stream(const std::string& path, spill_directory& dir,
                                         const std::string& stage, std::uint64_t& size);

/// The input files of a source, with the copies of its streams. The copies are made on the
/// first run and kept with the source, so a later action reads the same data.
class input_files {
 public:
  input_files(std::vector<std::string> patterns, const char* stage);

  /// Expands the patterns again (the files may have changed) and copies streams not yet copied.
  void refresh(spill_directory& dir);

  /// Cuts the files named in `up_to` (path to bytes) to those lengths; a file shorter than its
  /// length is an io_error naming it, one not among the inputs a usage_error.
  void limit(const std::map<std::string, std::uint64_t>& up_to);

  const std::vector<file_entry>& files() const noexcept { return files_; }
  bool has_streams() const noexcept;

  /// An open input: the copy of a stream (shared) or the file itself (owned).
  class reader {
   public:
    int fd() const noexcept { return fd_; }
    /// Where the input's data begins in the file (standard input redirected from a file).
    std::uint64_t start() const noexcept { return start_; }
    /// True when the file now has fewer than `planned` bytes from start() on.
    bool shrank(std::uint64_t planned) const noexcept;

   private:
    friend class input_files;
    file_handle owned_;
    int fd_ = -1;
    std::uint64_t start_ = 0;
  };

  reader open(std::size_t i) const;

 private:
  bool spent(const std::string& path) const;

  static bool used(const std::vector<std::shared_ptr<spill_file>>& v, const std::shared_ptr<spill_file>& s);

  std::vector<std::string> patterns_;
  const char* stage_;
  std::vector<file_entry> files_;
  std::vector<std::shared_ptr<spill_file>> spools_;  // per file: the copy of a stream
  std::vector<std::string> spent_;                   // streams a failed copy consumed in part
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace dataflow::detail {

DATAFLOW_INLINE std::shared_ptr<spill_file> spool_stream(const std::string& path, spill_directory& dir,
                                                         const std::string& stage, std::uint64_t& size) {
  file_handle owned;
  int in = STDIN_FILENO;
  if (path != "-") {
    owned = open_for_reading(path, stage.c_str());
    in = owned.get();
  }
  std::string name;
  file_handle copy = dir.create_file(stage, name);
  const std::string shown = input_name(path);
  std::vector<char> buf(std::size_t{1} << 20);
  size = 0;
  for (;;) {
    ssize_t r = ::read(in, buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      throw io_error(path, stage + ": cannot read '" + shown + "': " + errno_text(e));
    }
    if (r == 0) break;
    for (ssize_t done = 0; done < r;) {
      ssize_t w = ::pwrite(copy.get(), buf.data() + done, static_cast<std::size_t>(r - done),
                           static_cast<off_t>(size + static_cast<std::uint64_t>(done)));
      if (w < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        throw io_error(dir.path(), stage + ": cannot copy '" + shown + "' to the spill directory '" +
                                       dir.path() + "': " + errno_text(e));
      }
      done += w;
    }
    size += static_cast<std::uint64_t>(r);
  }
  return std::make_shared<spill_file>(std::move(copy), std::move(name));
}

DATAFLOW_INLINE input_files::input_files(std::vector<std::string> patterns, const char* stage)
    : patterns_(std::move(patterns)), stage_(stage), files_(expand_files(patterns_, stage)) {}

DATAFLOW_INLINE void input_files::limit(const std::map<std::string, std::uint64_t>& up_to) {
  for (const auto& [path, bytes] : up_to) {
    auto it = std::find_if(files_.begin(), files_.end(), [&](const file_entry& f) { return f.path == path; });
    if (it == files_.end()) {
      throw usage_error(std::string(stage_) + ": read_options::up_to names '" + path + "', which is not an input");
    }
    if (it->size < bytes) {
      throw io_error(path, std::string(stage_) + ": '" + path + "' has " + std::to_string(it->size) +
                               " bytes, fewer than the " + std::to_string(bytes) + " to read (it shrank)");
    }
    it->size = bytes;
  }
}

DATAFLOW_INLINE void input_files::refresh(spill_directory& dir) {
  auto files = expand_files(patterns_, stage_);
  std::vector<std::shared_ptr<spill_file>> spools(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!files[i].stream) continue;
    // The copy of a pipe or FIFO is kept from the first run: it cannot be read again.
    for (std::size_t j = 0; !files[i].regular && j < files_.size() && j < spools_.size(); ++j) {
      if (spools_[j] && files_[j].path == files[i].path && !used(spools, spools_[j])) {
        spools[i] = spools_[j];
        files[i].size = files_[j].size;
        break;
      }
    }
    if (spools[i]) continue;
    if (!files[i].regular && spent(files[i].path)) {
      throw io_error(files[i].path, std::string(stage_) + ": '" + input_name(files[i].path) +
                                        "' was partly read by an earlier run that failed, and a "
                                        "stream cannot be read again");
    }
    try {
      spools[i] = spool_stream(files[i].path, dir, stage_, files[i].size);
    } catch (...) {
      if (!files[i].regular) spent_.push_back(files[i].path);
      throw;
    }
  }
  files_ = std::move(files);
  spools_ = std::move(spools);
}

DATAFLOW_INLINE bool input_files::has_streams() const noexcept {
  for (const auto& f : files_) {
    if (f.stream) return true;
  }
  return false;
}

DATAFLOW_INLINE bool input_files::reader::shrank(std::uint64_t planned) const noexcept {
  struct stat st {};
  return ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<std::uint64_t>(st.st_size) < start_ + planned;
}

DATAFLOW_INLINE input_files::reader input_files::open(std::size_t i) const {
  reader r;
  if (i < spools_.size() && spools_[i]) {
    r.fd_ = spools_[i]->fd();
  } else if (files_[i].path == "-") {
    r.owned_ = file_handle(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0));
    if (r.owned_.get() < 0) {
      int e = errno;
      throw io_error("-", std::string(stage_) + ": cannot read standard input: " + errno_text(e));
    }
    r.fd_ = r.owned_.get();
    r.start_ = files_[i].start;
  } else {
    r.owned_ = open_for_reading(files_[i].path, stage_);
    r.fd_ = r.owned_.get();
  }
  return r;
}

DATAFLOW_INLINE bool input_files::spent(const std::string& path) const {
  for (const auto& p : spent_) {
    if (p == path) return true;
  }
  return false;
}

DATAFLOW_INLINE bool input_files::used(const std::vector<std::shared_ptr<spill_file>>& v, const std::shared_ptr<spill_file>& s) {
  for (const auto& x : v) {
    if (x == s) return true;
  }
  return false;
}

}  // namespace dataflow::detail
#endif
