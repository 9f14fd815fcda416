// The checkpoints of a stream in a directory: each one written aside and published by an atomic
// rename, so that a reader sees a whole checkpoint or none.
//
// A checkpoint is a directory `checkpoint-<sequence>` holding one file, `state`: a header
// ("dataflow checkpoint 1\n"), the payload's length and CRC32C, and the payload. It is written
// into a `.tmp-*` directory, fsynced (file and directory), renamed into place and the parent
// fsynced; then all but the newest `keep` are removed. A `.tmp-*` directory left by a crash is
// removed when the store opens. A checkpoint that is truncated or corrupted is an io_error naming
// its file: resuming from an older one, or from nothing, would count events twice or lose them.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/storage/files.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dataflow::detail {

class checkpoint_store {
 public:
  /// Opens (making it when missing) the checkpoint directory `dir`, keeping the newest `keep`.
  checkpoint_store(std::string dir, std::size_t keep);

  /// The payload of the newest checkpoint, or nothing when there is none.
  std::optional<std::vector<char>> load_latest();

  /// Publishes a new checkpoint holding `payload`; returns the bytes written.
  std::size_t publish(const std::vector<char>& payload);

  /// The sequence number the next checkpoint will have (one more than the newest).
  std::uint64_t next_sequence() const noexcept { return next_; }

  /// The path of the newest checkpoint's file (for messages), empty when there is none.
  const std::string& latest_path() const noexcept { return latest_path_; }

 private:
  std::vector<std::uint64_t> sequences() const;
  std::string dir_;
  file_handle lock_;  // flock'ed: one stream per checkpoint directory
  std::size_t keep_;
  std::uint64_t next_ = 1;
  std::string latest_path_;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>
#include <dataflow/storage/crc32c.hpp>
#include <dataflow/storage/files.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dataflow::detail {

namespace checkpoint_format {
inline constexpr char magic[] = "dataflow checkpoint 1\n";
inline constexpr std::size_t magic_size = sizeof(magic) - 1;
inline constexpr std::size_t header_size = magic_size + 8 + 4;  // magic, length, crc

inline std::string name_of(std::uint64_t seq) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "checkpoint-%012llu", static_cast<unsigned long long>(seq));
  return buf;
}

inline void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw io_error(path, "checkpoint: cannot open '" + path + "': " + errno_text(e));
  }
  const int r = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (r != 0) throw io_error(path, "checkpoint: cannot sync '" + path + "': " + errno_text(e));
}

inline void remove_tree(const std::string& dir) {
  for (const std::string& n : directory_names(dir)) ::unlink((dir + "/" + n).c_str());
  ::rmdir(dir.c_str());
}
}  // namespace checkpoint_format

DATAFLOW_INLINE checkpoint_store::checkpoint_store(std::string dir, std::size_t keep)
    : dir_(std::move(dir)), keep_(std::max<std::size_t>(keep, 1)) {
  int error = 0;
  make_directories(dir_, error);
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw io_error(dir_, "checkpoint: cannot make the directory '" + dir_ + "'" +
                             (error ? ": " + errno_text(error) : std::string()));
  }
  lock_ = file_handle(::open((dir_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (lock_.get() < 0 || ::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    throw io_error(dir_, "checkpoint: the directory '" + dir_ + "' is in use by another stream (" +
                             errno_text(e) + ")");
  }
  for (const std::string& n : directory_names(dir_)) {
    if (n.rfind(".tmp-", 0) == 0) checkpoint_format::remove_tree(dir_ + "/" + n);  // a crash's
  }
  const auto seqs = sequences();
  if (!seqs.empty()) next_ = seqs.back() + 1;
}

DATAFLOW_INLINE std::vector<std::uint64_t> checkpoint_store::sequences() const {
  std::vector<std::uint64_t> out;
  for (const std::string& n : directory_names(dir_)) {
    if (n.size() != 23 || n.rfind("checkpoint-", 0) != 0) continue;
    std::uint64_t v = 0;
    bool digits = true;
    for (char c : n.substr(11)) {
      digits = digits && c >= '0' && c <= '9';
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (digits) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

DATAFLOW_INLINE std::optional<std::vector<char>> checkpoint_store::load_latest() {
  namespace f = checkpoint_format;
  const auto seqs = sequences();
  if (seqs.empty()) return std::nullopt;
  const std::string path = dir_ + "/" + f::name_of(seqs.back()) + "/state";
  latest_path_ = path;
  file_handle fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int e = errno;
    throw io_error(path, "checkpoint: cannot open '" + path + "': " + errno_text(e));
  }
  struct stat st {};
  ::fstat(fd.get(), &st);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  auto bad = [&](const std::string& why) {
    return io_error(path, "checkpoint: '" + path + "' is " + why + "; remove the checkpoint directory "
                          "to start over (its events would be counted again)");
  };
  if (size < f::header_size) throw bad("truncated (" + std::to_string(size) + " bytes)");
  std::vector<char> all(static_cast<std::size_t>(size));
  read_at(fd.get(), all.data(), all.size(), 0, path, "checkpoint");
  if (std::memcmp(all.data(), f::magic, f::magic_size) != 0) throw bad("not a dataflow checkpoint");
  std::uint64_t length = 0;
  std::uint32_t crc = 0;
  std::memcpy(&length, all.data() + f::magic_size, 8);
  std::memcpy(&crc, all.data() + f::magic_size + 8, 4);
  if (length != size - f::header_size) {
    throw bad("truncated (" + std::to_string(size - f::header_size) + " of " + std::to_string(length) +
              " bytes of state)");
  }
  std::vector<char> payload(all.begin() + static_cast<std::ptrdiff_t>(f::header_size), all.end());
  if (crc32c(payload.data(), payload.size()) != crc) throw bad("corrupted (checksum mismatch)");
  return payload;
}

DATAFLOW_INLINE std::size_t checkpoint_store::publish(const std::vector<char>& payload) {
  namespace f = checkpoint_format;
  const std::string tmp = dir_ + "/.tmp-" + random_name_part();
  if (::mkdir(tmp.c_str(), 0700) != 0) {
    const int e = errno;
    throw io_error(tmp, "checkpoint: cannot make '" + tmp + "': " + errno_text(e));
  }
  const std::string file = tmp + "/state";
  {
    file_handle fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      const int e = errno;
      throw io_error(file, "checkpoint: cannot create '" + file + "': " + errno_text(e));
    }
    std::vector<char> header(f::magic, f::magic + f::magic_size);
    const std::uint64_t length = payload.size();
    const std::uint32_t crc = crc32c(payload.data(), payload.size());
    header.insert(header.end(), reinterpret_cast<const char*>(&length), reinterpret_cast<const char*>(&length) + 8);
    header.insert(header.end(), reinterpret_cast<const char*>(&crc), reinterpret_cast<const char*>(&crc) + 4);
    const std::vector<char>* parts[] = {&header, &payload};
    for (const std::vector<char>* part : parts) {
      std::size_t done = 0;
      while (done < part->size()) {
        const ssize_t w = ::write(fd.get(), part->data() + done, part->size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          const int e = errno;
          checkpoint_format::remove_tree(tmp);
          throw io_error(file, "checkpoint: cannot write '" + file + "': " + errno_text(e));
        }
        done += static_cast<std::size_t>(w);
      }
    }
    if (::fsync(fd.get()) != 0) {
      const int e = errno;
      checkpoint_format::remove_tree(tmp);
      throw io_error(file, "checkpoint: cannot sync '" + file + "': " + errno_text(e));
    }
  }
  f::fsync_path(tmp);
  const std::string final_dir = dir_ + "/" + f::name_of(next_);
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    const int e = errno;
    checkpoint_format::remove_tree(tmp);
    throw io_error(final_dir, "checkpoint: cannot publish '" + final_dir + "': " + errno_text(e));
  }
  f::fsync_path(dir_);
  latest_path_ = final_dir + "/state";
  ++next_;
  // The newest `keep` stay; a restore needs only the newest, which is whole once renamed.
  auto seqs = sequences();
  while (seqs.size() > keep_) {
    // Renamed aside first, so that a crash half way through leaves a `.tmp-` directory, which
    // the next open removes, and never a checkpoint directory without its file.
    const std::string old = dir_ + "/" + f::name_of(seqs.front());
    const std::string aside = dir_ + "/.tmp-" + random_name_part();
    if (::rename(old.c_str(), aside.c_str()) == 0) checkpoint_format::remove_tree(aside);
    seqs.erase(seqs.begin());
  }
  return f::header_size + payload.size();
}

}  // namespace dataflow::detail
#endif
