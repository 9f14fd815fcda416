// The checkpoints of a stream in a directory: each one written aside and published by an atomic
// rename, so that a reader sees a whole checkpoint or none.
//
// A checkpoint is a directory `checkpoint-<sequence>` holding one file, `state`: a header
// ("dataflow checkpoint 2\n", the payload's length and CRC32C) and the payload, a sequence of
// frames (a 4-byte length and up to about a MiB of records). The payload is written and read a
// frame at a time, so a checkpoint of a state larger than memory needs no more than a frame. It
// is written into a `.tmp-*` directory, fsynced (file and directory), renamed into place and the
// parent fsynced; then all but the newest `keep` are removed. A `.tmp-*` directory left by a
// crash is removed when the store opens. A checkpoint that is truncated or corrupted is an
// io_error naming its file: resuming from an older one, or from nothing, would count events twice
// or lose them. Its checksum is checked before any of it is read.
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/detail/config.hpp>
#include <dataflow/detail/function_ref.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/files.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dataflow::detail {

/// Writes a checkpoint's payload as it is made: records gathered into frames, each written once
/// it holds `frame_bytes`.
class checkpoint_writer {
 public:
  static constexpr std::size_t frame_bytes = 1 << 20;

  /// Where the current record is encoded; end_record ends it (a record never straddles frames).
  byte_writer& out() noexcept { return out_; }
  void end_record() {
    if (frame_.size() >= frame_bytes + 4) flush();
  }

 private:
  friend class checkpoint_store;
  checkpoint_writer(int fd, std::string path) : fd_(fd), path_(std::move(path)) { frame_.resize(4); }
  void flush();

  int fd_;
  std::string path_;
  std::vector<char> frame_;  // 4 bytes of length, then records
  byte_writer out_{frame_};
  std::uint64_t length_ = 0;
  std::uint32_t crc_ = 0;
};

/// Reads a checkpoint's payload record by record, a frame at a time.
class checkpoint_reader {
 public:
  /// Where the next record is decoded; throws naming the file when the payload has no more.
  byte_reader& next();
  /// Whether the payload has no more records.
  bool at_end();
  const std::string& path() const noexcept { return path_; }

 private:
  friend class checkpoint_store;
  checkpoint_reader(file_handle fd, std::string path, std::uint64_t end);
  bool load_frame();

  file_handle fd_;
  std::string path_;
  std::uint64_t at_, end_;
  std::vector<char> frame_;
  std::unique_ptr<arena> scratch_;
  std::optional<byte_reader> reader_;
};

class checkpoint_store {
 public:
  /// Opens (making it when missing) the checkpoint directory `dir`, keeping the newest `keep`.
  checkpoint_store(std::string dir, std::size_t keep);

  /// A reader of the newest checkpoint's payload, its checksum checked; nothing when there is
  /// none.
  std::optional<checkpoint_reader> open_latest();

  /// Publishes a new checkpoint whose payload `write` makes; returns the bytes written.
  std::size_t publish(function_ref<void(checkpoint_writer&)> write);

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
inline constexpr char magic[] = "dataflow checkpoint 2\n";
inline constexpr char family[] = "dataflow checkpoint ";
inline constexpr std::size_t magic_size = sizeof(magic) - 1;
inline constexpr std::size_t header_size = magic_size + 8 + 4;  // magic, length, crc

inline std::string name_of(std::uint64_t seq) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "checkpoint-%012llu", static_cast<unsigned long long>(seq));
  return buf;
}

inline void fsync_path(const std::string& path) { sync_path(path, "checkpoint"); }

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

DATAFLOW_INLINE void checkpoint_writer::flush() {
  if (frame_.size() == 4) return;
  const auto n = static_cast<std::uint32_t>(frame_.size() - 4);
  std::memcpy(frame_.data(), &n, 4);
  write_all(fd_, frame_.data(), frame_.size(), path_, "checkpoint");
  crc_ = crc32c_extend(crc_, frame_.data(), frame_.size());
  length_ += frame_.size();
  frame_.resize(4);
}

DATAFLOW_INLINE checkpoint_reader::checkpoint_reader(file_handle fd, std::string path, std::uint64_t end)
    : fd_(std::move(fd)), path_(std::move(path)), at_(checkpoint_format::header_size), end_(end) {}

DATAFLOW_INLINE bool checkpoint_reader::load_frame() {
  if (at_ >= end_) return false;
  std::uint32_t n = 0;
  auto bad = [&] { return io_error(path_, "checkpoint: '" + path_ + "' has a damaged frame at byte " + std::to_string(at_)); };
  if (end_ - at_ < 4 || read_at(fd_.get(), reinterpret_cast<char*>(&n), 4, at_, path_, "checkpoint") != 4) throw bad();
  if (n == 0 || n > end_ - at_ - 4) throw bad();
  frame_.resize(n);
  if (read_at(fd_.get(), frame_.data(), n, at_ + 4, path_, "checkpoint") != n) throw bad();
  at_ += 4 + std::uint64_t{n};
  scratch_ = std::make_unique<arena>();
  reader_.emplace(frame_.data(), frame_.data() + frame_.size(), *scratch_);
  return true;
}

DATAFLOW_INLINE bool checkpoint_reader::at_end() {
  while (!reader_ || reader_->remaining() == 0) {
    if (!load_frame()) return true;
  }
  return false;
}

DATAFLOW_INLINE byte_reader& checkpoint_reader::next() {
  if (at_end()) throw io_error(path_, "checkpoint: '" + path_ + "' ends before its state does");
  return *reader_;
}

DATAFLOW_INLINE std::optional<checkpoint_reader> checkpoint_store::open_latest() {
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
  char header[f::header_size];
  if (size < f::header_size || read_at(fd.get(), header, f::header_size, 0, path, "checkpoint") != f::header_size) {
    throw bad("truncated (" + std::to_string(size) + " bytes)");
  }
  if (std::memcmp(header, f::magic, f::magic_size) != 0) {
    const std::size_t family_size = sizeof(f::family) - 1;
    if (std::memcmp(header, f::family, family_size) == 0) {
      throw bad("in format " + std::string(header + family_size, header + f::magic_size - 1) +
                ", which this version of dataflow does not read (it writes format 2)");
    }
    throw bad("not a dataflow checkpoint");
  }
  std::uint64_t length = 0;
  std::uint32_t crc = 0;
  std::memcpy(&length, header + f::magic_size, 8);
  std::memcpy(&crc, header + f::magic_size + 8, 4);
  if (length != size - f::header_size) {
    throw bad("truncated (" + std::to_string(size - f::header_size) + " of " + std::to_string(length) +
              " bytes of state)");
  }
  // The whole payload's checksum first: nothing of a damaged checkpoint is restored.
  std::vector<char> buf(std::min<std::uint64_t>(length, checkpoint_writer::frame_bytes));
  std::uint32_t sum = 0;
  for (std::uint64_t at = 0; at < length;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), length - at));
    if (read_at(fd.get(), buf.data(), n, f::header_size + at, path, "checkpoint") != n) throw bad("truncated");
    sum = crc32c_extend(sum, buf.data(), n);
    at += n;
  }
  if (sum != crc) throw bad("corrupted (checksum mismatch)");
  return checkpoint_reader(std::move(fd), path, size);
}

DATAFLOW_INLINE std::size_t checkpoint_store::publish(function_ref<void(checkpoint_writer&)> write) {
  namespace f = checkpoint_format;
  const std::string tmp = dir_ + "/.tmp-" + random_name_part();
  if (::mkdir(tmp.c_str(), 0700) != 0) {
    const int e = errno;
    throw io_error(tmp, "checkpoint: cannot make '" + tmp + "': " + errno_text(e));
  }
  const std::string file = tmp + "/state";
  std::uint64_t length = 0;
  try {
    file_handle fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      const int e = errno;
      throw io_error(file, "checkpoint: cannot create '" + file + "': " + errno_text(e));
    }
    char header[f::header_size] = {};
    write_all(fd.get(), header, f::header_size, file, "checkpoint");  // filled in at the end
    checkpoint_writer out(fd.get(), file);
    write(out);
    out.flush();
    length = out.length_;
    std::memcpy(header, f::magic, f::magic_size);
    std::memcpy(header + f::magic_size, &length, 8);
    std::memcpy(header + f::magic_size + 8, &out.crc_, 4);
    if (::pwrite(fd.get(), header, f::header_size, 0) != static_cast<ssize_t>(f::header_size)) {
      const int e = errno;
      throw io_error(file, "checkpoint: cannot write '" + file + "': " + errno_text(e));
    }
    if (::fsync(fd.get()) != 0) {
      const int e = errno;
      throw io_error(file, "checkpoint: cannot sync '" + file + "': " + errno_text(e));
    }
    f::fsync_path(tmp);
  } catch (...) {
    checkpoint_format::remove_tree(tmp);
    throw;
  }
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
  return static_cast<std::size_t>(f::header_size + length);
}

}  // namespace dataflow::detail
#endif
