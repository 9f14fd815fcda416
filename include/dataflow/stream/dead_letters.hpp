// The dead-letter file of a stream: events that a user function refused, a line each, so that a
// few malformed events do not stop a stream that must run on.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/detail/tab_escape.hpp>

#include <string>
#include <string_view>

namespace dataflow::detail {

/// Appends `POSITION<TAB>ERROR<TAB>TEXT` lines to a file (made when missing).
class dead_letter_writer {
 public:
  explicit dead_letter_writer(std::string path);
  dead_letter_writer(const dead_letter_writer&) = delete;
  dead_letter_writer& operator=(const dead_letter_writer&) = delete;
  ~dead_letter_writer();

  /// Buffers one line; tabs, newlines and backslashes in the fields are escaped.
  void add(std::string_view position, std::string_view error, std::string_view text);
  /// Writes the buffered lines to the file.
  void flush();

 private:
  std::string path_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>
#include <dataflow/storage/files.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace dataflow::detail {

DATAFLOW_INLINE dead_letter_writer::dead_letter_writer(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int e = errno;
    throw io_error(path_, "dataflow: cannot open the dead-letter file '" + path_ + "': " + errno_text(e));
  }
}

DATAFLOW_INLINE dead_letter_writer::~dead_letter_writer() {
  if (fd_ >= 0) ::close(fd_);
}

DATAFLOW_INLINE void dead_letter_writer::add(std::string_view position, std::string_view error,
                                             std::string_view text) {
  append_tab_escaped(buffer_, position);
  buffer_ += '\t';
  append_tab_escaped(buffer_, error);
  buffer_ += '\t';
  append_tab_escaped(buffer_, text);
  buffer_ += '\n';
}

DATAFLOW_INLINE void dead_letter_writer::flush() {
  write_all(fd_, buffer_.data(), buffer_.size(), path_, "dead-letter file");
  buffer_.clear();
}

}  // namespace dataflow::detail
#endif
