// File access for sources and sinks: glob expansion, opening with errors that name the path,
// positional reads that retry on EINTR, and line numbers for error messages.
#pragma once

#include <dataflow/errors.hpp>

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

struct file_entry {
  std::string path;
  std::uint64_t size = 0;
};

inline std::string errno_text(int e) { return std::strerror(e); }

/// Owns a file descriptor.
class file_handle {
 public:
  file_handle() = default;
  explicit file_handle(int fd) : fd_(fd) {}
  file_handle(file_handle&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  file_handle& operator=(file_handle&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~file_handle() { close(); }
  int get() const noexcept { return fd_; }
  /// Gives up ownership of the descriptor without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// Opens `path` for reading; throws io_error naming it on failure.
inline file_handle open_for_reading(const std::string& path, const char* stage) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    throw io_error(path, std::string(stage) + ": cannot open '" + path + "': " + errno_text(e));
  }
  return file_handle(fd);
}

/// Reads up to n bytes at `offset`, retrying short reads until n bytes or end of file.
inline std::size_t read_at(int fd, char* buf, std::size_t n, std::uint64_t offset,
                           const std::string& path, const char* stage) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      throw io_error(path, std::string(stage) + ": cannot read '" + path + "': " + errno_text(e));
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

inline bool has_glob_chars(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

/// Expands paths and glob patterns into regular files with their sizes, in the order given
/// (each pattern's matches sorted). Throws io_error for a missing or unreadable file, a
/// directory, or a pattern that matches nothing.
inline std::vector<file_entry> expand_files(const std::vector<std::string>& patterns,
                                            const char* stage) {
  std::vector<std::string> paths;
  for (const auto& pattern : patterns) {
    struct stat literal {};
    // A name that exists is that file, even with glob characters in it ("data[1].txt").
    if (!has_glob_chars(pattern) || ::stat(pattern.c_str(), &literal) == 0) {
      paths.push_back(pattern);
      continue;
    }
    glob_t g{};
    int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
    if (rc == GLOB_NOMATCH) {
      ::globfree(&g);
      throw io_error(pattern, std::string(stage) + ": no file matches '" + pattern + "'");
    }
    if (rc != 0) {
      ::globfree(&g);
      throw io_error(pattern, std::string(stage) + ": cannot expand '" + pattern + "'");
    }
    std::vector<std::string> matched(g.gl_pathv, g.gl_pathv + g.gl_pathc);
    ::globfree(&g);
    std::sort(matched.begin(), matched.end());
    paths.insert(paths.end(), matched.begin(), matched.end());
  }
  if (paths.empty()) throw io_error("", std::string(stage) + ": no input files given");

  std::vector<file_entry> files;
  files.reserve(paths.size());
  for (auto& path : paths) {
    file_handle fd = open_for_reading(path, stage);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      int e = errno;
      throw io_error(path, std::string(stage) + ": cannot stat '" + path + "': " + errno_text(e));
    }
    if (S_ISDIR(st.st_mode)) {
      throw io_error(path, std::string(stage) + ": '" + path + "' is a directory");
    }
    files.push_back({std::move(path), static_cast<std::uint64_t>(st.st_size)});
  }
  return files;
}

/// Returns the 1-based number of the line that starts at byte `offset` of `path` (for error
/// messages only: it reads the file up to there).
inline std::uint64_t line_number_at(const std::string& path, std::uint64_t offset) {
  try {
    file_handle fd = open_for_reading(path, "line number");
    std::vector<char> buf(std::size_t{1} << 20);
    std::uint64_t line = 1, at = 0;
    while (at < offset) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), offset - at));
      std::size_t got = read_at(fd.get(), buf.data(), want, at, path, "line number");
      if (got == 0) break;
      line += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + got, '\n'));
      at += got;
    }
    return line;
  } catch (const io_error&) {
    return 0;
  }
}

}  // namespace dataflow::detail
