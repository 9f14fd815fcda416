// A batch view on disk: one immutable file of (key, value) pairs sorted by key, in checksummed
// blocks with a sparse index, so that a point lookup reads one block and a range or prefix scan
// streams through the blocks in order; never loaded whole.
//
// Layout: the magic "dataflow view 1\n"; blocks, each a 12-byte header (payload length, record
// count, CRC32C of the payload) and its records (key and value, with their codecs); the footer
// (its own CRC32C): the stamp (what the view covers), the key count, the first key and offset of
// every block, and the largest values (for top_k); a 24-byte trailer: the footer's offset and
// length and the end magic "DFVIEWND". A damaged file is an io_error naming it and the offset.
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/crc32c.hpp>
#include <dataflow/storage/files.hpp>
#include <dataflow/storage/output_file.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>

namespace dataflow {

/// What a batch view covers and which version it is.
struct view_stamp {
  std::uint64_t version = 0;
  /// Events covered, in the writer's words: "logs/a.log:0-81920", "event time < 1700000000000".
  std::string covers{};
  /// The speed layer's position the view is exact up to (a micro-batch sequence, say), or 0.
  std::uint64_t cutoff = 0;
  /// Milliseconds since the epoch when it was written.
  std::int64_t written_ms = 0;
  /// Where the speed layer's source stood at the cutoff: a stream restarted from it goes on
  /// exactly after what the view covers.
  std::string position{};
};

/// Where a serving view's speed layer stands (serving_view::mark): the last batch it holds and
/// where its source stood after it.
struct speed_mark {
  std::uint64_t sequence = 0;
  std::string position{};
};

namespace detail {

namespace view_format {
inline constexpr char magic[] = "dataflow view 1\n";
inline constexpr std::size_t magic_size = 16;
inline constexpr char end_magic[] = "DFVIEWND";
inline constexpr std::size_t trailer_size = 24;
inline constexpr std::size_t block_header_size = 12;
}  // namespace view_format

}  // namespace detail

/// Writes a view file: add() the pairs in increasing key order, then finish(). The file appears
/// only when finish() succeeds (written aside, then renamed into place).
template <class K, class V>
class view_writer {
 public:
  /// `top_kept`: how many of the largest values the footer keeps for top_k (0 for values
  /// without an order).
  view_writer(std::string path, std::size_t block_bytes = 8 * 1024, std::size_t top_kept = 1024)
      : file_(path, "write_view"), path_(std::move(path)), block_bytes_(block_bytes), top_kept_(top_kept) {
    file_.write(detail::view_format::magic, detail::view_format::magic_size);
    at_ = detail::view_format::magic_size;
  }

  void add(const K& key, const V& value) {
    if (last_ && !(*last_ < key)) {
      throw usage_error("dataflow::view_writer: '" + path_ + "': keys must be added in increasing order, each once");
    }
    last_ = key;
    if (block_.empty()) {
      index_.push_back({key, at_});
      counts_.push_back(0);
    }
    byte_writer w(block_);
    encode(w, key);
    encode(w, value);
    ++counts_.back();
    ++keys_;
    if constexpr (std::totally_ordered<V>) {
      if (top_kept_ > 0) keep_top(key, value);
    }
    if (block_.size() >= block_bytes_) end_block();
  }

  /// Writes the footer and puts the file in place.
  void finish(const view_stamp& stamp) {
    end_block();
    std::vector<char> footer;
    byte_writer w(footer);
    w.write_varint(stamp.version);
    encode(w, stamp.covers);
    w.write_varint(stamp.cutoff);
    w.write_varint(static_cast<std::uint64_t>(stamp.written_ms));
    encode(w, stamp.position);
    w.write_varint(keys_);
    w.write_varint(index_.size());
    for (std::size_t i = 0; i < index_.size(); ++i) {
      encode(w, index_[i].first);
      w.write_varint(index_[i].second);
      w.write_varint(counts_[i]);
    }
    std::vector<std::pair<K, V>> top;
    while (!top_.empty()) {
      top.push_back(top_.top());
      top_.pop();
    }
    std::reverse(top.begin(), top.end());  // largest first
    w.write_varint(top.size());
    for (const auto& [k, v] : top) {
      encode(w, k);
      encode(w, v);
    }
    const std::uint32_t crc = detail::crc32c(footer.data(), footer.size());
    footer.insert(footer.end(), reinterpret_cast<const char*>(&crc), reinterpret_cast<const char*>(&crc) + 4);
    char trailer[detail::view_format::trailer_size];
    const std::uint64_t offset = at_, length = footer.size();
    std::memcpy(trailer, &offset, 8);
    std::memcpy(trailer + 8, &length, 8);
    std::memcpy(trailer + 16, detail::view_format::end_magic, 8);
    file_.write(footer.data(), footer.size());
    file_.write(trailer, sizeof trailer);
    file_.commit();
  }

 private:
  // Larger value first; among equal values, the smaller key.
  struct by_value {
    bool operator()(const std::pair<K, V>& a, const std::pair<K, V>& b) const {
      if (a.second != b.second) return a.second > b.second;
      return a.first < b.first;
    }
  };

  void keep_top(const K& key, const V& value) {
    if (top_.size() < top_kept_) {
      top_.push({key, value});
    } else if (by_value{}({key, value}, top_.top())) {
      top_.pop();
      top_.push({key, value});
    }
  }

  void end_block() {
    if (block_.empty()) return;
    char header[detail::view_format::block_header_size];
    const auto length = static_cast<std::uint32_t>(block_.size());
    const auto count = static_cast<std::uint32_t>(counts_.back());
    const std::uint32_t crc = detail::crc32c(block_.data(), block_.size());
    std::memcpy(header, &length, 4);
    std::memcpy(header + 4, &count, 4);
    std::memcpy(header + 8, &crc, 4);
    file_.write(header, sizeof header);
    file_.write(block_.data(), block_.size());
    at_ += sizeof header + block_.size();
    block_.clear();
  }

  detail::output_file file_;
  std::string path_;
  std::size_t block_bytes_;
  std::size_t top_kept_;
  std::vector<char> block_;
  std::vector<std::pair<K, std::uint64_t>> index_;  // first key and offset of each block
  std::vector<std::uint64_t> counts_;
  std::optional<K> last_;
  std::uint64_t at_ = 0;
  std::uint64_t keys_ = 0;
  // The smallest of the kept values on top.
  std::priority_queue<std::pair<K, V>, std::vector<std::pair<K, V>>, by_value> top_;
};

/// Reads a view file: lookups, scans and the largest values, from any number of threads at once.
/// The file stays readable while the reader lives, even once a newer version replaced it.
template <class K, class V>
class view_reader {
 public:
  explicit view_reader(std::string path) : path_(std::move(path)), fd_(detail::open_for_reading(path_, "view")) {
    namespace f = detail::view_format;
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) throw bad("cannot be examined", 0);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    char head[f::magic_size];
    if (size < f::magic_size + f::trailer_size || read(head, f::magic_size, 0) != f::magic_size ||
        std::memcmp(head, f::magic, f::magic_size) != 0) {
      throw bad("is not a dataflow view (or is truncated)", 0);
    }
    char trailer[f::trailer_size];
    read(trailer, f::trailer_size, size - f::trailer_size);
    std::uint64_t offset = 0, length = 0;
    std::memcpy(&offset, trailer, 8);
    std::memcpy(&length, trailer + 8, 8);
    if (std::memcmp(trailer + 16, f::end_magic, 8) != 0 || length < 4 || offset < f::magic_size ||
        offset + length != size - f::trailer_size) {
      throw bad("is truncated (no footer)", size);
    }
    std::vector<char> footer(static_cast<std::size_t>(length));
    read(footer.data(), footer.size(), offset);
    std::uint32_t crc = 0;
    std::memcpy(&crc, footer.data() + footer.size() - 4, 4);
    if (detail::crc32c(footer.data(), footer.size() - 4) != crc) throw bad("has a corrupted footer", offset);
    detail::arena scratch;
    byte_reader r(footer.data(), footer.data() + footer.size() - 4, scratch);
    try {
      stamp_.version = r.read_varint();
      stamp_.covers = decode<std::string>(r);
      stamp_.cutoff = r.read_varint();
      stamp_.written_ms = static_cast<std::int64_t>(r.read_varint());
      stamp_.position = decode<std::string>(r);
      keys_ = r.read_varint();
      for (std::size_t n = r.checked_count(r.read_varint()); n > 0; --n) {
        K first = decode<K>(r);
        const std::uint64_t at = r.read_varint();
        const std::uint64_t count = r.read_varint();
        blocks_.push_back({std::move(first), at, count});
      }
      for (std::size_t n = r.checked_count(r.read_varint()); n > 0; --n) {
        K k = decode<K>(r);
        top_.emplace_back(std::move(k), decode<V>(r));
      }
      blocks_end_ = offset;
    } catch (const io_error&) {
      throw;
    } catch (const std::exception& e) {
      throw bad(std::string("has a footer that cannot be read (") + e.what() + ")", offset);
    }
  }

  const std::string& path() const noexcept { return path_; }
  const view_stamp& stamp() const noexcept { return stamp_; }
  /// Keys in the view.
  std::uint64_t size() const noexcept { return keys_; }

  /// The value of `key`, reading one block at most.
  std::optional<V> get(const K& key) const {
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), key,
                               [](const K& k, const block& b) { return k < b.first; });
    if (it == blocks_.begin()) return std::nullopt;
    std::optional<V> out;
    read_block(static_cast<std::size_t>(it - blocks_.begin()) - 1, [&](K&& k, V&& v) {
      if (k < key) return true;
      if (!(key < k)) out = std::move(v);
      return false;
    });
    return out;
  }

  /// Calls f(key, value) for the keys in [from, to) in order, until it returns false.
  template <class F>
  void scan(const K& from, const std::optional<K>& to, F&& f) const {
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), from,
                               [](const K& k, const block& b) { return k < b.first; });
    std::size_t i = it == blocks_.begin() ? 0 : static_cast<std::size_t>(it - blocks_.begin()) - 1;
    bool more = true;
    for (; more && i < blocks_.size(); ++i) {
      if (to && !(blocks_[i].first < *to)) break;
      read_block(i, [&](K&& k, V&& v) {
        if (k < from) return true;
        if (to && !(k < *to)) return more = false;
        return more = f(std::as_const(k), std::as_const(v));
      });
    }
  }

  /// Calls f(key, value) for the keys that begin with `prefix`, in order, until it returns false.
  template <class F>
    requires std::convertible_to<const K&, std::string_view>
  void prefix(std::string_view p, F&& f) const {
    scan(K(p), std::nullopt, [&](const K& k, const V& v) {
      if (std::string_view(k).substr(0, p.size()) != p) return false;
      return f(k, v);
    });
  }

  /// The largest values kept when the view was written (largest first, ties by key), at most n.
  std::vector<std::pair<K, V>> top(std::size_t n) const {
    return {top_.begin(), top_.begin() + static_cast<std::ptrdiff_t>(std::min(n, top_.size()))};
  }
  /// How many largest values the view kept: top(n) is exact for n up to this, or all keys.
  std::size_t top_kept() const noexcept { return top_.size(); }

 private:
  struct block {
    K first;
    std::uint64_t at;
    std::uint64_t count;
  };

  io_error bad(const std::string& what, std::uint64_t at) const {
    return io_error(path_, "dataflow: the view '" + path_ + "' " + what + " (at byte " + std::to_string(at) + ")");
  }

  std::size_t read(char* out, std::size_t n, std::uint64_t at) const {
    return detail::read_at(fd_.get(), out, n, at, path_, "view");
  }

  // Reads block i, checks it, and calls f(key, value) for its records until f returns false.
  template <class F>
  void read_block(std::size_t i, F&& f) const {
    namespace fmt_ = detail::view_format;
    const block& b = blocks_[i];
    char header[fmt_::block_header_size];
    if (read(header, sizeof header, b.at) != sizeof header) throw bad("is truncated in a block", b.at);
    std::uint32_t length = 0, count = 0, crc = 0;
    std::memcpy(&length, header, 4);
    std::memcpy(&count, header + 4, 4);
    std::memcpy(&crc, header + 8, 4);
    if (count != b.count || b.at + sizeof header + length > blocks_end_) throw bad("has a damaged block header", b.at);
    thread_local std::vector<char> buf;
    buf.resize(length);
    if (read(buf.data(), length, b.at + sizeof header) != length) throw bad("is truncated in a block", b.at);
    if (detail::crc32c(buf.data(), length) != crc) throw bad("has a corrupted block (checksum mismatch)", b.at);
    detail::arena scratch;
    byte_reader r(buf.data(), buf.data() + length, scratch);
    for (std::uint32_t n = 0; n < count; ++n) {
      K k = decode<K>(r);
      V v = decode<V>(r);
      if (!f(std::move(k), std::move(v))) return;
    }
  }

  std::string path_;
  detail::file_handle fd_;
  view_stamp stamp_;
  std::uint64_t keys_ = 0;
  std::uint64_t blocks_end_ = 0;
  std::vector<block> blocks_;
  std::vector<std::pair<K, V>> top_;
};

}  // namespace dataflow
