// follow_lines: a stream source of the lines appended to files, as `tail -F` follows them.
//
// The path is a file, a directory (every regular file in it) or a glob. Files are known by
// identity (device and inode), not by name: a file renamed while followed (log rotation) is read
// on to its end, and the new file made under the old name is followed from its start. Only
// complete lines are handed on; a line still being written waits for its '\n' (and a last line
// without one is never handed on: a later run, resuming from a checkpoint, reads it whole once
// it is done). A file that shrinks below what was
// read (truncated or rewritten in place) is an io_error naming it: its lines cannot be told
// apart from those already counted.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/storage/files.hpp>
#include <dataflow/stream/byte_chunks.hpp>
#include <dataflow/stream/windows.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow {

/// Settings of follow_lines.
struct follow_options {
  /// Ends the stream once no followed file has grown for this long; zero follows forever.
  std::chrono::milliseconds end_when_idle{0};
  /// How long to wait between looks at the files when nothing new has come.
  std::chrono::milliseconds poll_interval{20};
  /// Bytes read from a file at a time.
  std::size_t read_bytes = std::size_t{1} << 20;
};

/// Where a followed file stands.
struct followed_file {
  std::string path;          ///< the name it had when last seen
  std::uint64_t device = 0;  ///< with the inode, its identity
  std::uint64_t inode = 0;
  std::uint64_t offset = 0;  ///< bytes handed on as lines (the next line starts here)
  /// The CRC32C of the file's first head_bytes bytes (up to 1 KiB of what was handed on), so
  /// that a new file that got a deleted one's inode is not taken for it.
  std::uint32_t head_crc = 0;
  std::uint32_t head_bytes = 0;
};

/// A stream source of the lines appended to the files at `path` (a file, directory or glob), as
/// std::string_view: views into the bytes read, valid until the batch that holds them is done
/// (commit()), as read_lines' lines are valid while they move through local operators. Copies
/// share one position.
class follow_lines {
 public:
  using item_type = std::string_view;

  explicit follow_lines(std::string path, follow_options options = {});

  /// Moves new complete lines into `out` until it holds `max` or `deadline` passes; returns
  /// false once the stream has ended (end_when_idle).
  bool poll(std::vector<std::string_view>& out, std::size_t max,
            std::chrono::steady_clock::time_point deadline);

  /// Gives back the bytes of the lines handed on so far (their batch is done).
  void commit();

  /// The files followed now, in the order they are read.
  std::vector<followed_file> files() const;

  /// Appends to `runs` where the lines of the polls since the last call came from: each file
  /// is a partition ("device:inode"); a file dropped (renamed out of the path and read to its
  /// end) is reported ended.
  void take_runs(std::vector<partition_run>& runs);

  /// Where the lines handed on so far end, per file (identity, offset, name), as text to store
  /// in a checkpoint.
  std::string checkpoint_position() const;
  /// Resumes from a checkpoint_position(): each file found again by identity (and the same
  /// first bytes) is read from its offset (one that has shrunk below it is an error), any other
  /// file from its start. A file of the checkpoint renamed out of the path while nothing
  /// followed it (log rotation during a restart) is looked for in its old directory and read
  /// to its end.
  void restore_position(const std::string& position);
  /// The files of a checkpoint_position(), each with the bytes of it handed on (`offset`):
  /// what a batch recomputation reads to cover exactly what the stream had read.
  static std::vector<followed_file> parse_position(const std::string& position);
  /// What the source reads, for a checkpoint's fingerprint.
  std::string describe() const;
  /// Where a line handed on and not yet committed starts: "PATH at byte N".
  std::string position_of(std::string_view line) const;

 private:
  struct file;
  struct state;
  void rescan(state& s);
  bool follow_file(state& s, const std::string& name, std::uint64_t dev, std::uint64_t ino, bool rotated);
  std::shared_ptr<state> s_;
};

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>
#include <dataflow/storage/crc32c.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>
#include <string_view>
#include <thread>

namespace dataflow {

struct follow_lines::file {
  followed_file where;
  detail::file_handle fd;
  std::uint64_t read_to = 0;  // bytes read from the file; those past `where.offset` are pending
  // The bytes read last; from `pos` on, not yet handed on (complete lines a full batch left, and
  // the start of an incomplete line). Lines handed on view into it.
  std::shared_ptr<detail::byte_chunk> chunk = std::make_shared<detail::byte_chunk>();
  std::size_t pos = 0;
  std::uint64_t chunk_base = 0;  // the file offset of the chunk's first byte
  std::size_t pending() const noexcept { return chunk->size() - pos; }
  bool has_line() const noexcept { return chunk->find_newline(pos) != std::string::npos; }
  bool gone = false;          // no longer under the path: read to its end, then dropped
  bool reported = false;      // take_runs has named it
};

struct follow_lines::state {
  std::string path;
  follow_options options;
  std::mutex m;
  std::vector<file> files;
  std::chrono::steady_clock::time_point last_growth = std::chrono::steady_clock::now();
  std::vector<partition_run> runs;  // of the polls not yet taken
  std::vector<followed_file> restored;  // positions of a checkpoint, for files not found yet
  bool search_rotated = false;          // after a restore: look for them beside their old names
  detail::chunk_pool pool;
  struct held_chunk {
    std::shared_ptr<detail::byte_chunk> chunk;
    std::string path;
    std::uint64_t base = 0;
  };
  std::vector<held_chunk> held;  // chunks that lines handed on view into
};

DATAFLOW_INLINE void follow_lines::commit() {
  std::lock_guard lock(s_->m);
  for (auto& h : s_->held) s_->pool.give(std::move(h.chunk));
  s_->held.clear();
}

DATAFLOW_INLINE std::string follow_lines::describe() const { return "follow_lines(" + s_->path + ")"; }

DATAFLOW_INLINE std::string follow_lines::position_of(std::string_view line) const {
  std::lock_guard lock(s_->m);
  for (const auto& h : s_->held) {
    const char* begin = h.chunk->data();
    if (line.data() >= begin && line.data() <= begin + h.chunk->size()) {
      return h.path + " at byte " + std::to_string(h.base + static_cast<std::uint64_t>(line.data() - begin));
    }
  }
  return {};
}

namespace detail {
/// Makes `f.head_crc` cover the first min(offset, 1 KiB) bytes of the open file `fd`.
inline void fingerprint_head(int fd, followed_file& f) {
  const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(f.offset, 1024));
  if (f.head_bytes >= want) return;
  char head[1024];
  const std::size_t got = read_at(fd, head, want, 0, f.path, "follow_lines");
  f.head_bytes = static_cast<std::uint32_t>(got);
  f.head_crc = crc32c(head, got);
}

/// Whether the open file `fd` starts with the bytes `f` was fingerprinted with.
inline bool same_head(int fd, const followed_file& f) {
  char head[1024];
  const std::size_t want = std::min<std::size_t>(f.head_bytes, sizeof head);
  return read_at(fd, head, want, 0, f.path, "follow_lines") == want && crc32c(head, want) == f.head_crc;
}
}  // namespace detail

DATAFLOW_INLINE std::string follow_lines::checkpoint_position() const {
  std::lock_guard lock(s_->m);
  std::string out;
  auto add = [&](const followed_file& f) {
    out += std::to_string(f.device) + " " + std::to_string(f.inode) + " " + std::to_string(f.offset) + " " +
           std::to_string(f.head_bytes) + " " + std::to_string(f.head_crc) + " " + std::to_string(f.path.size()) +
           " " + f.path + "\n";
  };
  for (auto& f : s_->files) {
    detail::fingerprint_head(f.fd.get(), f.where);
    add(f.where);
  }
  for (const auto& f : s_->restored) add(f);  // not seen again yet: keep their positions
  return out;
}

DATAFLOW_INLINE std::vector<followed_file> follow_lines::parse_position(const std::string& position) {
  std::vector<followed_file> files;
  std::size_t at = 0;
  auto number = [&]() -> std::uint64_t {
    std::size_t end = at;
    while (end < position.size() && position[end] >= '0' && position[end] <= '9') ++end;
    if (end == at || end >= position.size() || position[end] != ' ') {
      throw error("dataflow::follow_lines: a checkpoint's file positions are malformed at byte " + std::to_string(at));
    }
    const std::uint64_t v = std::stoull(position.substr(at, end - at));
    at = end + 1;
    return v;
  };
  while (at < position.size()) {
    followed_file f;
    f.device = number();
    f.inode = number();
    f.offset = number();
    f.head_bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(number(), 1024));
    f.head_crc = static_cast<std::uint32_t>(number());
    const std::uint64_t n = number();
    if (n > position.size() - at || at + n >= position.size() || position[at + n] != '\n') {
      throw error("dataflow::follow_lines: a checkpoint's file positions are malformed at byte " + std::to_string(at));
    }
    f.path = position.substr(at, n);
    at += n + 1;
    files.push_back(std::move(f));
  }
  return files;
}

DATAFLOW_INLINE void follow_lines::restore_position(const std::string& position) {
  std::vector<followed_file> files = parse_position(position);
  std::lock_guard lock(s_->m);
  s_->restored = std::move(files);
  s_->files.clear();
  s_->search_rotated = true;
}

namespace detail {
inline std::string partition_name(const followed_file& f) {
  return std::to_string(f.device) + ":" + std::to_string(f.inode);
}
}  // namespace detail

DATAFLOW_INLINE void follow_lines::take_runs(std::vector<partition_run>& runs) {
  std::lock_guard lock(s_->m);
  runs.insert(runs.end(), std::make_move_iterator(s_->runs.begin()), std::make_move_iterator(s_->runs.end()));
  s_->runs.clear();
}

DATAFLOW_INLINE follow_lines::follow_lines(std::string path, follow_options options)
    : s_(std::make_shared<state>()) {
  if (path.empty()) throw usage_error("dataflow::follow_lines: the path is empty");
  if (options.read_bytes == 0) throw usage_error("dataflow::follow_lines: read_bytes must be at least 1");
  s_->path = std::move(path);
  s_->options = options;
}

DATAFLOW_INLINE std::vector<followed_file> follow_lines::files() const {
  std::lock_guard lock(s_->m);
  std::vector<followed_file> out;
  for (const file& f : s_->files) out.push_back(f.where);
  return out;
}

DATAFLOW_INLINE void follow_lines::rescan(state& s) {
  std::vector<std::string> names;
  struct stat st {};
  // A listing that fails (EMFILE, EACCES) says nothing about which files are gone: skip it.
  if (detail::has_glob_chars(s.path)) {
    glob_t g{};
    const int r = ::glob(s.path.c_str(), GLOB_ERR, nullptr, &g);
    if (r == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) names.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
    if (r != 0 && r != GLOB_NOMATCH) return;
  } else if (::stat(s.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    DIR* d = ::opendir(s.path.c_str());
    if (!d) return;
    while (const dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n != "." && n != "..") names.push_back(s.path + "/" + std::string(n));
    }
    ::closedir(d);
  } else {
    names.push_back(s.path);  // a file, perhaps not made yet
  }
  std::sort(names.begin(), names.end());
  std::vector<bool> seen(s.files.size(), false);
  for (const std::string& name : names) {
    if (::stat(name.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const auto dev = static_cast<std::uint64_t>(st.st_dev), ino = static_cast<std::uint64_t>(st.st_ino);
    auto known = std::find_if(s.files.begin(), s.files.end(), [&](const file& f) {
      return f.where.device == dev && f.where.inode == ino;
    });
    if (known != s.files.end()) {
      seen[static_cast<std::size_t>(known - s.files.begin())] = true;
      known->where.path = name;  // renamed, perhaps
      known->gone = false;       // back under the path
      continue;
    }
    if (!follow_file(s, name, dev, ino, false)) continue;  // gone since the listing: the next look decides
    seen.push_back(true);
  }
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) s.files[i].gone = true;
  }
  // Files of a restored checkpoint that were renamed out of the path while nothing followed
  // them (rotated during a restart): beside their old names, read to their ends.
  if (s.search_rotated) {
    s.search_rotated = false;
    std::vector<followed_file> missing = s.restored;
    for (const followed_file& r : missing) {
      const std::size_t slash = r.path.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : r.path.substr(0, slash == 0 ? 1 : slash);
      DIR* d = ::opendir(dir.c_str());
      if (!d) continue;
      std::vector<std::string> candidates;
      while (const dirent* e = ::readdir(d)) {
        if (static_cast<std::uint64_t>(e->d_ino) == r.inode) candidates.push_back(dir + "/" + e->d_name);
      }
      ::closedir(d);
      for (const std::string& name : candidates) {
        if (::stat(name.c_str(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_dev) == r.device &&
            follow_file(s, name, r.device, r.inode, true)) {
          break;
        }
      }
    }
  }
}

DATAFLOW_INLINE bool follow_lines::follow_file(state& s, const std::string& name, std::uint64_t dev, std::uint64_t ino,
                                               bool rotated) {
  // O_NONBLOCK: a name swapped for a FIFO since the stat must not block the open.
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat opened {};
  if (::fstat(fd, &opened) != 0 || static_cast<std::uint64_t>(opened.st_ino) != ino) {
    ::close(fd);
    return false;
  }
  file f;
  f.where.path = name;
  f.where.device = dev;
  f.where.inode = ino;
  f.fd = detail::file_handle(fd);
  // A file of the checkpoint resumes where its lines were handed on, if it is the same file: a
  // new file may have been given a deleted one's inode.
  auto was = std::find_if(s.restored.begin(), s.restored.end(), [&](const followed_file& r) {
    return r.device == dev && r.inode == ino;
  });
  const bool same = was != s.restored.end() && detail::same_head(f.fd.get(), *was);
  if (rotated && !same) return false;
  if (same) {
    f.where.offset = f.read_to = f.chunk_base = was->offset;
    f.where.head_crc = was->head_crc;
    f.where.head_bytes = was->head_bytes;
  }
  if (was != s.restored.end()) s.restored.erase(was);
  f.gone = rotated;
  s.files.push_back(std::move(f));
  return true;
}

DATAFLOW_INLINE bool follow_lines::poll(std::vector<std::string_view>& out, std::size_t max,
                                        std::chrono::steady_clock::time_point deadline) {
  state& s = *s_;
  std::lock_guard lock(s.m);
  for (;;) {
    rescan(s);
    bool grew = false;
    for (file& f : s.files) {
      const std::size_t lines_before = out.size();
      struct stat st {};
      if (::fstat(f.fd.get(), &st) != 0) {
        const int e = errno;
        throw io_error(f.where.path, "follow_lines: cannot stat '" + f.where.path + "': " + detail::errno_text(e));
      }
      const auto size = static_cast<std::uint64_t>(st.st_size);
      if (size < f.read_to) {
        throw io_error(f.where.path, "follow_lines: '" + f.where.path + "' shrank to " + std::to_string(size) +
                                         " bytes while followed (" + std::to_string(f.read_to) +
                                         " were read): truncated or rewritten in place");
      }
      while (out.size() < max) {
        // Hand on the complete lines already read, then read more.
        const detail::byte_chunk& c = *f.chunk;
        const std::size_t first = f.pos;
        for (std::size_t nl; out.size() < max && (nl = c.find_newline(f.pos)) != std::string::npos; f.pos = nl + 1) {
          out.emplace_back(c.data() + f.pos, nl - f.pos);
        }
        if (f.pos != first) {
          f.where.offset += f.pos - first;
          if (s.held.empty() || s.held.back().chunk != f.chunk) s.held.push_back({f.chunk, f.where.path, f.chunk_base});
        }
        if (out.size() >= max || f.read_to >= size) break;
        // A new chunk: the incomplete line (a few bytes), then what is read. The old chunk
        // stays alive while lines handed on view into it.
        const std::size_t tail = f.pending();
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(s.options.read_bytes, size - f.read_to));
        // (Room for a longer incomplete line too, so that a reused chunk need not grow.)
        auto next = s.pool.take(std::max(tail + want, s.options.read_bytes + 65536));
        std::memcpy(next->data(), c.data() + f.pos, tail);
        const std::size_t got = detail::read_at(f.fd.get(), next->data() + tail, want, f.read_to, f.where.path, "follow_lines");
        next->shrink_to(tail + got);
        s.pool.give(std::exchange(f.chunk, std::move(next)));
        f.chunk_base = f.read_to - tail;
        f.pos = 0;
        if (got == 0) break;
        f.read_to += got;
        grew = true;
      }
      // Every file is reported once when found (it holds the watermark back from then on).
      if (out.size() > lines_before || !f.reported) {
        s.runs.push_back({detail::partition_name(f.where), out.size() - lines_before, false});
        f.reported = true;
      }
    }
    // A file gone from the path is dropped once it is read to its end.
    std::erase_if(s.files, [&](const file& f) {
      const bool done = f.gone && f.pending() == 0 && f.read_to == f.where.offset;
      if (done) s.runs.push_back({detail::partition_name(f.where), 0, true});
      return done;
    });
    const auto now = std::chrono::steady_clock::now();
    if (grew) s.last_growth = now;
    // Idle: nothing read for end_when_idle, and nothing left to hand on (a batch that filled up
    // leaves lines in `pending` and bytes on disk: that is not idleness).
    bool drained = out.size() < max;
    for (const file& f : s.files) drained = drained && !f.has_line();
    const auto idle = s.options.end_when_idle;
    if (idle.count() > 0 && !grew && drained && now - s.last_growth >= idle) return false;
    if (out.size() >= max || now >= deadline) return true;
    if (!grew) {
      const auto wait = std::min<std::chrono::steady_clock::duration>(s.options.poll_interval, deadline - now);
      std::this_thread::sleep_for(wait);
    }
  }
}

}  // namespace dataflow
#endif
