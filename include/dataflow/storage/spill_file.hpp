// Spill files: items encoded with their codec, in checksummed blocks.
//
// A file holds one or more segments (a partition's items from one spill, a sorted run), each a
// sequence of blocks. A block is a 16-byte header (magic, payload length, item count, CRC32C
// of those two fields and the payload) and the payload; items never straddle blocks, so a
// reader decodes a block in place and views into it stay valid until it loads the next one.
// The writer remembers each segment's offset, length and item count, and the reader checks all
// of them: a truncated or corrupted file is reported with its path, never read as data.
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/detail/config.hpp>
#include <dataflow/detail/function_ref.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/item_buffer.hpp>
#include <dataflow/storage/spill_directory.hpp>
#include <dataflow/storage/spill_integers.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace dataflow::detail {

/// Where a block of a segment starts and its first item, encoded: a sorted run's blocks in
/// order of these split it into key ranges without reading it (see fenced_blocks).
struct spill_fence {
  std::uint64_t offset = 0;        // of the block's header in the file
  std::uint64_t items_before = 0;  // items of the segment before the block
  std::string first;               // the block's first item, as the codec wrote it
};

/// A stretch of a spill file: the items one writer put there between two end_segment calls.
struct spill_segment {
  std::shared_ptr<spill_file> file;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::uint64_t items = 0;
  std::shared_ptr<const std::vector<spill_fence>> fences{};  // a block's each, when kept
};

/// Blocks [from, to) of a segment written with fences, as a segment of their own.
spill_segment fenced_blocks(const spill_segment& s, std::size_t from, std::size_t to);

/// Counts bytes written to spill files, for statistics and tests.
inline std::atomic<std::uint64_t> spilled_bytes_total{0};
/// Counts bytes of spill files handed to release_space before their files closed (punched where
/// the file system can), for tests.
inline std::atomic<std::uint64_t> spill_bytes_released_total{0};
/// Counts spill files made, for statistics.
inline std::atomic<std::uint64_t> spill_files_total{0};
/// Counts items a keyed reduction spilled unfolded (keys that barely repeat), for tests.
inline std::atomic<std::uint64_t> scattered_items_total{0};

/// For tests: when set to n > 0, the n-th spill write from now fails as if the disk were full.
inline std::atomic<long> spill_write_failure_countdown{0};

struct block_header {
  static constexpr std::uint32_t magic_value = 0x31534644;  // "DFS1"
  std::uint32_t magic;
  std::uint32_t length;
  std::uint32_t items;
  std::uint32_t crc;
};
static_assert(sizeof(block_header) == 16);

std::uint32_t block_crc(const block_header& h, const char* payload);

/// Items without a codec flow through every operator; only a spill needs one. Reached when the
/// budget makes a stage spill such items.
template <class T>
[[noreturn]] void throw_not_spillable(const std::string& stage) {
  throw usage_error("dataflow: " + stage + ": the memory budget is reached and items of type " +
                    std::string(type_name<T>()) +
                    " must spill to disk, but the type has no codec; give it one (see "
                    "<dataflow/codec.hpp>: plain structs of supported members need none), or "
                    "run without a memory budget");
}

/// Writes an item to a spill block: items made of integers in their short form
/// (spill_integers.hpp), any other with its codec.
template <class T>
void spill_encode(byte_writer& w, const T& x) {
  if constexpr (integer_item<T>) {
    write_integers(w, x);
  } else if constexpr (encodable<T>) {
    encode(w, x);
  }
}

template <class T>
T spill_decode(byte_reader& r) {
  if constexpr (integer_item<T>) {
    return read_integers<T>(r);
  } else if constexpr (encodable<T>) {
    return decode<T>(r);
  } else {
    throw_not_spillable<T>("reading a spill file");  // nothing of type T was ever written
  }
}

/// Writes items to a new spill file, a block at a time.
class spill_writer {
 public:
  spill_writer(std::shared_ptr<spill_directory> dir, std::string stage, std::size_t block_bytes);

  template <class T>
  void add(const T& x) {
    if constexpr (!encodable<T>) throw_not_spillable<T>(stage_);
    const std::size_t start = buf_.size();
    byte_writer w(buf_);
    spill_encode(w, x);
    if (keep_fences_ && block_items_ == 0) note_fence(start);
    ++block_items_;
    if (buf_.size() >= block_bytes_) flush();
  }

  /// Records each block's start and first item in the segments from here on.
  void keep_fences() noexcept { keep_fences_ = true; }

  /// Ends the current segment and returns it; the next items start a new one.
  spill_segment end_segment();

  /// Writes what is buffered (the file stays while a segment refers to it).
  void close() { flush(); }

  std::uint64_t bytes_written() const noexcept { return written_; }
  const std::string& path() const noexcept { return file_->path(); }

 private:
  void flush();
  void note_fence(std::size_t first_at);

  void write_all(const char* p, std::size_t n, std::uint64_t at);

  std::string stage_;
  std::size_t block_bytes_;
  std::shared_ptr<spill_file> file_;
  std::vector<char> buf_;
  std::size_t block_items_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t segment_start_ = 0;
  std::uint64_t segment_items_ = 0;
  bool keep_fences_ = false;
  std::vector<spill_fence> fences_;  // of the current segment
};

/// Gives the disk space of a segment that was read for the last time back to the file system
/// while the rest of its file is still in use (where the file system can punch holes).
void release_space(const spill_segment& s) noexcept;
/// The same for each of `segments` (a partition's, read for the last time).
inline void release_space(const std::vector<spill_segment>& segments) noexcept {
  for (const spill_segment& s : segments) release_space(s);
}

/// Reads a segment back, a block at a time, checking every block.
class spill_reader {
 public:
  spill_reader(spill_segment segment, std::string stage)
      : seg_(std::move(segment)), stage_(std::move(stage)) {}

  /// Loads the next block; false at the end of the segment.
  bool next_block();

  /// The items of the current block.
  std::size_t block_items() const noexcept { return block_items_; }
  byte_reader reader();

  const spill_segment& segment() const noexcept { return seg_; }

 private:
  void read_exact(char* out, std::size_t n);

  [[noreturn]] void fail(const char* what) const;

  spill_segment seg_;
  std::string stage_;
  std::vector<char> buf_;
  std::uint64_t at_ = 0;
  std::uint64_t items_ = 0;
  std::size_t block_items_ = 0;
  arena scratch_;
  bool scratch_used_ = false;
};

void check_block_end(const byte_reader& r, const std::string& stage);

/// Calls f(T) for every item of a segment. Views in an item stay valid until f returns.
template <class T, class F>
void for_each_spilled(const spill_segment& segment, const std::string& stage, F&& f) {
  spill_reader in(segment, stage);
  while (in.next_block()) {
    byte_reader r = in.reader();
    for (std::size_t i = in.block_items(); i > 0; --i) f(spill_decode<T>(r));
    check_block_end(r, stage);
  }
}

/// Loads the next block of `in` and decodes all its items into `items` (views into the block,
/// valid until the next load); false at the end of the segment.
template <class T>
bool read_block(spill_reader& in, item_buffer<T>& items, const std::string& stage) {
  if (!in.next_block()) return false;
  byte_reader r = in.reader();
  items.clear();
  items.reserve(in.block_items());
  for (std::size_t i = in.block_items(); i > 0; --i) items.emplace_back(spill_decode<T>(r));
  check_block_end(r, stage);
  return true;
}

/// Calls f(std::span<const T>) with the items of each block of a segment. Views in the items
/// stay valid until f returns. (One call per block: the reading is compiled once per type.)
template <class T>
void for_each_spilled_block(const spill_segment& segment, const std::string& stage,
                            function_ref<void(std::span<const T>)> f) {
  spill_reader in(segment, stage);
  item_buffer<T> items;
  while (read_block(in, items, stage)) f(items.span());
}

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/storage/crc32c.hpp>
#include <dataflow/storage/files.hpp>

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace dataflow::detail {

DATAFLOW_INLINE std::uint32_t block_crc(const block_header& h, const char* payload) {
  // The checksum covers the length and count fields as well as the payload.
  std::uint32_t fields[2] = {h.length, h.items};
  std::uint32_t a = crc32c(reinterpret_cast<const char*>(fields), sizeof fields);
  std::uint32_t b = crc32c(payload, h.length);
  return a ^ (b * 0x9e3779b1u + 0x7f4a7c15u);
}

DATAFLOW_INLINE spill_writer::spill_writer(std::shared_ptr<spill_directory> dir, std::string stage,
                                           std::size_t block_bytes)
    : stage_(std::move(stage)), block_bytes_(block_bytes) {
  std::string name;
  file_handle fd = dir->create_file(stage_, name);
  spill_files_total.fetch_add(1, std::memory_order_relaxed);
  file_ = std::make_shared<spill_file>(std::move(fd), std::move(name));
  buf_.reserve(block_bytes_ + sizeof(block_header) + 64);
  buf_.resize(sizeof(block_header));
}

DATAFLOW_INLINE spill_segment spill_writer::end_segment() {
  flush();
  spill_segment s{file_, segment_start_, written_ - segment_start_, segment_items_};
  if (keep_fences_) {
    s.fences = std::make_shared<const std::vector<spill_fence>>(std::move(fences_));
    fences_ = {};
  }
  segment_start_ = written_;
  segment_items_ = 0;
  return s;
}

DATAFLOW_INLINE void spill_writer::note_fence(std::size_t first_at) {
  // The block is written at written_ when it is flushed, and the segment holds segment_items_
  // items of blocks flushed before it.
  fences_.push_back(spill_fence{written_, segment_items_, std::string(buf_.data() + first_at, buf_.size() - first_at)});
}

DATAFLOW_INLINE spill_segment fenced_blocks(const spill_segment& s, std::size_t from, std::size_t to) {
  const auto& f = *s.fences;
  const std::uint64_t begin = f[from].offset;
  const std::uint64_t end = to < f.size() ? f[to].offset : s.offset + s.bytes;
  const std::uint64_t items = (to < f.size() ? f[to].items_before : s.items) - f[from].items_before;
  return spill_segment{s.file, begin, end - begin, items, nullptr};
}

DATAFLOW_INLINE void spill_writer::flush() {
  if (block_items_ == 0) return;
  if (buf_.size() - sizeof(block_header) > 0xffffffffu) {
    throw error("dataflow: " + stage_ + ": an item of more than 4 GiB cannot be spilled");
  }
  block_header h{block_header::magic_value,
                 static_cast<std::uint32_t>(buf_.size() - sizeof(block_header)),
                 static_cast<std::uint32_t>(block_items_), 0};
  h.crc = block_crc(h, buf_.data() + sizeof(block_header));
  std::memcpy(buf_.data(), &h, sizeof h);
  write_all(buf_.data(), buf_.size(), written_);
  written_ += buf_.size();
  spilled_bytes_total.fetch_add(buf_.size(), std::memory_order_relaxed);
  segment_items_ += block_items_;
  block_items_ = 0;
  buf_.resize(sizeof(block_header));
}

DATAFLOW_INLINE void spill_writer::write_all(const char* p, std::size_t n, std::uint64_t at) {
  while (n > 0) {
    ssize_t r;
    if (spill_write_failure_countdown.load(std::memory_order_relaxed) > 0 &&
        spill_write_failure_countdown.fetch_sub(1) == 1) {
      errno = ENOSPC;
      r = -1;
    } else {
      r = ::pwrite(file_->fd(), p, n, static_cast<off_t>(at));
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      throw io_error(path(), stage_ + ": cannot write spill file '" + path() + "': " + errno_text(e));
    }
    p += r;
    at += static_cast<std::uint64_t>(r);
    n -= static_cast<std::size_t>(r);
  }
}

DATAFLOW_INLINE void release_space(const spill_segment& s) noexcept {
  if (s.file && s.bytes > 0) {
    spill_bytes_released_total.fetch_add(s.bytes, std::memory_order_relaxed);
    [[maybe_unused]] int rc = ::fallocate(s.file->fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                          static_cast<off_t>(s.offset), static_cast<off_t>(s.bytes));
  }
}

DATAFLOW_INLINE bool spill_reader::next_block() {
  if (at_ == seg_.bytes) {
    if (items_ != seg_.items) fail("holds fewer items than were written");
    return false;
  }
  block_header h;
  read_exact(reinterpret_cast<char*>(&h), sizeof h);
  if (h.magic != block_header::magic_value) fail("has a corrupted block header");
  if (h.length > seg_.bytes - at_) fail("is truncated or has a corrupted block length");
  buf_.resize(h.length);
  read_exact(buf_.data(), h.length);
  if (block_crc(h, buf_.data()) != h.crc) fail("has a block whose checksum does not match");
  items_ += h.items;
  block_items_ = h.items;
  if (scratch_used_) {
    scratch_.reset();
    scratch_used_ = false;
  }
  return true;
}

DATAFLOW_INLINE byte_reader spill_reader::reader() {
  scratch_used_ = true;
  return byte_reader(buf_.data(), buf_.data() + buf_.size(), scratch_);
}

DATAFLOW_INLINE void spill_reader::read_exact(char* out, std::size_t n) {
  if (n > seg_.bytes - at_) fail("is truncated");
  std::size_t got = read_at(seg_.file->fd(), out, n, seg_.offset + at_, seg_.file->path(), stage_.c_str());
  if (got != n) fail("is truncated");
  at_ += n;
}

DATAFLOW_INLINE void spill_reader::fail(const char* what) const {
  throw io_error(seg_.file->path(),
                 stage_ + ": spill file '" + seg_.file->path() + "' " + what);
}

DATAFLOW_INLINE void check_block_end(const byte_reader& r, const std::string& stage) {
  if (!r.at_end()) {
    throw error("dataflow: " + stage + ": a spilled block has bytes after its last item "
                "(does a codec's read match its write?)");
  }
}

}  // namespace dataflow::detail
#endif
