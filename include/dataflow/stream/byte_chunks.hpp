// The buffers that line sources of streams read into: lines handed on view into them until their
// batch is done, then the buffers serve the next reads. Reusing them matters: a fresh megabyte is
// page faults on every read, and zero-filling it first is a pass over memory for nothing.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// Bytes read from an input; not zero-filled.
class byte_chunk {
 public:
  const char* data() const noexcept { return bytes_.get(); }
  char* data() noexcept { return bytes_.get(); }
  std::size_t size() const noexcept { return size_; }

  /// Makes room for n bytes, dropping the contents when it must grow, and sets the size to n.
  void prepare(std::size_t n) {
    if (n > capacity_) {
      bytes_.reset(new char[n]);
      capacity_ = n;
    }
    size_ = n;
  }
  /// Keeps the first n bytes (n <= size()).
  void shrink_to(std::size_t n) noexcept { size_ = n; }

  /// Where the next '\n' at or after `from` is, or npos.
  std::size_t find_newline(std::size_t from) const noexcept {
    if (from >= size_) return std::string::npos;
    const void* nl = std::memchr(bytes_.get() + from, '\n', size_ - from);
    return nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - bytes_.get()) : std::string::npos;
  }

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

/// Chunks that nothing views into any more, kept for the next reads.
class chunk_pool {
 public:
  /// A chunk with room for `bytes` (its size set to it).
  std::shared_ptr<byte_chunk> take(std::size_t bytes) {
    std::shared_ptr<byte_chunk> c;
    if (spare_.empty()) {
      c = std::make_shared<byte_chunk>();
    } else {
      c = std::move(spare_.back());
      spare_.pop_back();
    }
    c->prepare(bytes);
    return c;
  }
  /// Keeps `c` for later when nothing else holds it (up to `kept` chunks: about what a batch
  /// of a million lines holds).
  void give(std::shared_ptr<byte_chunk>&& c) {
    if (c && c.use_count() == 1 && spare_.size() < kept) spare_.push_back(std::move(c));
    c.reset();
  }

  static constexpr std::size_t kept = 64;

 private:
  std::vector<std::shared_ptr<byte_chunk>> spare_;
};

}  // namespace dataflow::detail
