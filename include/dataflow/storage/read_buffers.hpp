// Read buffers reused across the chunks a thread reads, so a source touches its buffer memory
// once per thread rather than once per chunk.
#pragma once

#include <dataflow/detail/config.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace dataflow::detail {

/// Bytes of the buffer each thread of a file source reads into (the memory budget counts them).
inline constexpr std::size_t read_buffer_bytes = std::size_t{1} << 20;

/// A growable byte buffer aligned to 64 bytes, never zeroed.
class byte_buffer {
 public:
  byte_buffer() = default;
  explicit byte_buffer(std::size_t n) { resize_discard(n); }
  char* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  /// Resizes, keeping the first `keep` bytes.
  void resize_keep(std::size_t n, std::size_t keep);
  void resize_discard(std::size_t n) { resize_keep(n, 0); }

 private:
  struct deleter {
    void operator()(char* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
  };
  std::unique_ptr<char[], deleter> data_;
  std::size_t size_ = 0;
};

/// One buffer per worker slot. A thread that re-enters a source while its buffer is in use
/// (nested parallelism inside a user function) gets a private buffer instead.
class slot_buffers {
  struct alignas(64) cell {
    byte_buffer buf;
    bool busy = false;
  };

 public:
  slot_buffers(std::size_t slots, std::size_t bytes) : cells_(slots), bytes_(bytes) {}

  class lease {
   public:
    lease(cell* c, std::size_t bytes);
    ~lease() {
      if (cell_) cell_->busy = false;
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    byte_buffer& get() noexcept { return cell_ ? cell_->buf : own_; }

   private:
    cell* cell_;
    byte_buffer own_;
  };

  lease acquire();

 private:
  std::vector<cell> cells_;
  std::size_t bytes_;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/graph/stage.hpp>

#include <cstring>
#include <utility>

namespace dataflow::detail {

DATAFLOW_INLINE void byte_buffer::resize_keep(std::size_t n, std::size_t keep) {
  std::unique_ptr<char[], deleter> p(static_cast<char*>(::operator new(n, std::align_val_t{64})));
  if (keep) std::memcpy(p.get(), data_.get(), keep);
  data_ = std::move(p);
  size_ = n;
}

DATAFLOW_INLINE slot_buffers::lease::lease(cell* c, std::size_t bytes) : cell_(c) {
  if (cell_ == nullptr) {
    own_ = byte_buffer(bytes);
  } else if (cell_->buf.size() < bytes) {
    cell_->buf.resize_discard(bytes);
  }
}

DATAFLOW_INLINE slot_buffers::lease slot_buffers::acquire() {
  cell& c = cells_[thread_slot()];
  if (c.busy) return lease(nullptr, bytes_);
  c.busy = true;
  return lease(&c, bytes_);
}

}  // namespace dataflow::detail
#endif
