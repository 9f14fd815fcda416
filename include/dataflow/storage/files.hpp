// File access for sources and sinks: glob expansion, opening with errors that name the path,
// positional reads that retry on EINTR, and line numbers for error messages.
#pragma once

#include <dataflow/detail/config.hpp>

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// An input file. A stream (standard input as "-", a pipe, a FIFO, a device, a /proc file:
/// anything whose size stat cannot tell) is read once from start to end; its size is known
/// only then.
struct file_entry {
  std::string path;
  std::uint64_t size = 0;
  bool stream = false;
  bool regular = true;     // false: a stream that cannot be read a second time
  std::uint64_t start = 0;  // where the data begins: standard input redirected from a file
};

/// How messages name an input: "standard input" for "-".
inline std::string input_name(const std::string& path) {
  return path == "-" ? std::string("standard input") : path;
}

const char* file_type_name(mode_t m);

inline std::string errno_text(int e) { return std::strerror(e); }

/// Owns a file descriptor.
class file_handle {
 public:
  file_handle() = default;
  explicit file_handle(int fd) : fd_(fd) {}
  file_handle(file_handle&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  file_handle& operator=(file_handle&& o) noexcept;
  ~file_handle() { close(); }
  int get() const noexcept { return fd_; }
  /// Gives up ownership of the descriptor without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  void close() noexcept;

 private:
  int fd_ = -1;
};

/// Returns 12 random characters for a file name that nobody can predict.
std::string random_name_part();

/// Flushes `path` (a file, or a directory after a rename in it) to disk; throws io_error naming
/// it and the stage.
void sync_path(const std::string& path, const char* stage);

/// Creates a new file `dir/<prefix><random>` that did not exist (O_EXCL, never following a
/// symlink planted at the name); sets `name` to its path. Returns the descriptor, or -1 with
/// errno set.
int create_exclusive(const std::string& dir, const std::string& prefix, int flags, mode_t mode,
                     std::string& name);

/// Opens a file in `dir` that has no name (O_TMPFILE): no signal, not even SIGKILL, can leave it
/// behind. Returns -1 with errno set when the file system cannot make one (then `unsupported`).
int open_unnamed(const std::string& dir, int flags, mode_t mode, bool& unsupported);

/// Opens `path` for reading; throws io_error naming it on failure.
file_handle open_for_reading(const std::string& path, const char* stage);

/// Reads up to n bytes at `offset`, retrying short reads until n bytes or end of file.
std::size_t read_at(int fd, char* buf, std::size_t n, std::uint64_t offset, const std::string& path,
                    const char* stage);

/// Writes all n bytes at the descriptor's position, retrying short writes; throws io_error
/// naming `path` on failure (a write of nothing as ENOSPC).
void write_all(int fd, const char* buf, std::size_t n, const std::string& path, const char* stage);

inline bool has_glob_chars(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

/// Expands paths and glob patterns into input files with their sizes, in the order given
/// (each pattern's matches sorted). "-" is standard input. A path named on its own that is not a
/// regular file (a FIFO, a device, /dev/stdin) or that reports size 0 (a /proc file) is a
/// stream; it is not opened here (opening a FIFO waits for its writer). Throws io_error for a
/// missing or unreadable file, a directory, a pattern that matches nothing, or a pattern that
/// matches something other than a regular file (a FIFO matched by accident would hang the run).
std::vector<file_entry> expand_files(const std::vector<std::string>& patterns, const char* stage);

/// Returns the 1-based number of the line that starts at byte `offset` of the file open as
/// `fd`, counting from byte `from` (for error messages only: it reads the file up to there);
/// 0 if it cannot be read.
std::uint64_t line_number_at(int fd, std::uint64_t offset, std::uint64_t from = 0);

/// Makes `dir` and any parents it lacks (mkdir -p); returns whether it made `dir` itself, and
/// sets `error` (an errno) when it could not.
bool make_directories(const std::string& dir, int& error);

/// The names in `dir` (not . and ..); empty when it cannot be read.
std::vector<std::string> directory_names(const std::string& dir);

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <string_view>

namespace dataflow::detail {

DATAFLOW_INLINE const char* file_type_name(mode_t m) {
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

DATAFLOW_INLINE file_handle& file_handle::operator=(file_handle&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

DATAFLOW_INLINE void file_handle::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

DATAFLOW_INLINE void sync_path(const std::string& path, const char* stage) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw io_error(path, std::string(stage) + ": cannot open '" + path + "': " + errno_text(e));
  }
  const int r = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (r != 0) throw io_error(path, std::string(stage) + ": cannot sync '" + path + "': " + errno_text(e));
}

DATAFLOW_INLINE std::string random_name_part() {
  static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  unsigned char bytes[12];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t r = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  if (got < sizeof bytes) {  // no getrandom: time and address bits, still checked by O_EXCL
    std::uint64_t x = static_cast<std::uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ull ^
                      reinterpret_cast<std::uintptr_t>(&got) ^ static_cast<std::uint64_t>(::time(nullptr));
    for (auto& b : bytes) b = static_cast<unsigned char>(x >>= 5);
  }
  std::string s(sizeof bytes, '0');
  for (std::size_t i = 0; i < sizeof bytes; ++i) s[i] = digits[bytes[i] % 62];
  return s;
}

DATAFLOW_INLINE int create_exclusive(const std::string& dir, const std::string& prefix, int flags,
                                     mode_t mode, std::string& name) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    name = dir + "/" + prefix + random_name_part();
    int fd = ::open(name.c_str(), flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

DATAFLOW_INLINE int open_unnamed(const std::string& dir, int flags, mode_t mode, bool& unsupported) {
  unsupported = false;
#ifdef O_TMPFILE
  int fd = ::open(dir.c_str(), O_TMPFILE | flags | O_CLOEXEC, mode);
  if (fd >= 0) return fd;
  // EISDIR: a kernel without O_TMPFILE; EOPNOTSUPP: a file system without it.
  unsupported = errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL;
  return -1;
#else
  (void)dir, (void)flags, (void)mode;
  unsupported = true;
  errno = EOPNOTSUPP;
  return -1;
#endif
}

DATAFLOW_INLINE file_handle open_for_reading(const std::string& path, const char* stage) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    throw io_error(path, std::string(stage) + ": cannot open '" + path + "': " + errno_text(e));
  }
  return file_handle(fd);
}

DATAFLOW_INLINE std::size_t read_at(int fd, char* buf, std::size_t n, std::uint64_t offset,
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

DATAFLOW_INLINE void write_all(int fd, const char* buf, std::size_t n, const std::string& path, const char* stage) {
  for (std::size_t done = 0; done < n;) {
    const ssize_t w = ::write(fd, buf + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = w < 0 ? errno : ENOSPC;
      throw io_error(path, std::string(stage) + ": cannot write '" + path + "': " + errno_text(e));
    }
    done += static_cast<std::size_t>(w);
  }
}

DATAFLOW_INLINE std::vector<file_entry> expand_files(const std::vector<std::string>& patterns,
                                                     const char* stage) {
  struct named {
    std::string path;
    const std::string* pattern;  // the glob that matched it, or null
  };
  std::vector<named> paths;
  for (const auto& pattern : patterns) {
    struct stat literal {};
    // A name that exists is that file, even with glob characters in it ("data[1].txt").
    if (pattern == "-" || !has_glob_chars(pattern) || ::stat(pattern.c_str(), &literal) == 0) {
      paths.push_back({pattern, nullptr});
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
    for (auto& m : matched) paths.push_back({std::move(m), &pattern});
  }
  if (paths.empty()) throw io_error("", std::string(stage) + ": no input files given");

  std::vector<file_entry> files;
  files.reserve(paths.size());
  for (auto& [path, pattern] : paths) {
    if (path == "-") {
      // Standard input redirected from a regular file is read in place, from where it stands.
      struct stat in {};
      const off_t at = ::lseek(STDIN_FILENO, 0, SEEK_CUR);
      if (::fstat(STDIN_FILENO, &in) == 0 && S_ISREG(in.st_mode) && at >= 0 && in.st_size > at) {
        files.push_back({path, static_cast<std::uint64_t>(in.st_size - at), false, true,
                         static_cast<std::uint64_t>(at)});
      } else {
        files.push_back({path, 0, true, false});
      }
      continue;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      int e = errno;
      throw io_error(path, std::string(stage) + ": cannot open '" + path + "': " + errno_text(e));
    }
    if (S_ISDIR(st.st_mode)) {
      throw io_error(path, std::string(stage) + ": '" + path + "' is a directory");
    }
    if (!S_ISREG(st.st_mode)) {
      if (pattern) {
        throw io_error(path, std::string(stage) + ": '" + path + "', matched by '" + *pattern +
                                 "', is " + file_type_name(st.st_mode) +
                                 "; name it on its own to read it as a stream");
      }
      if (::access(path.c_str(), R_OK) != 0) {
        int e = errno;
        throw io_error(path, std::string(stage) + ": cannot open '" + path + "': " + errno_text(e));
      }
      files.push_back({std::move(path), 0, true, false});
      continue;
    }
    file_handle fd = open_for_reading(path, stage);  // readable now, not only when the run starts
    if (::fstat(fd.get(), &st) != 0) {
      int e = errno;
      throw io_error(path, std::string(stage) + ": cannot stat '" + path + "': " + errno_text(e));
    }
    // Size 0 is an empty file, or a /proc file whose size only reading tells: one byte decides.
    char probe;
    const bool unknown_size = st.st_size == 0 && ::pread(fd.get(), &probe, 1, 0) == 1;
    files.push_back({std::move(path), static_cast<std::uint64_t>(st.st_size), unknown_size});
  }
  return files;
}

DATAFLOW_INLINE std::uint64_t line_number_at(int fd, std::uint64_t offset, std::uint64_t from) {
  try {
    std::vector<char> buf(std::size_t{1} << 20);
    std::uint64_t line = 1, at = 0;
    while (at < offset) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), offset - at));
      std::size_t got = read_at(fd, buf.data(), want, from + at, "", "line number");
      if (got == 0) break;
      line += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + got, '\n'));
      at += got;
    }
    return line;
  } catch (const io_error&) {
    return 0;
  }
}

DATAFLOW_INLINE bool make_directories(const std::string& dir, int& error) {
  error = 0;
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) error = ENOTDIR;
    return false;
  }
  const auto slash = dir.find_last_of('/', dir.size() > 1 ? dir.size() - 2 : 0);
  if (slash != std::string::npos && slash > 0) {
    make_directories(dir.substr(0, slash), error);
    if (error != 0) return false;
  }
  if (::mkdir(dir.c_str(), 0777) == 0) return true;
  if (errno != EEXIST) error = errno;
  return false;
}

DATAFLOW_INLINE std::vector<std::string> directory_names(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
  }
  return names;
}

}  // namespace dataflow::detail
#endif
