// received_blocks: the blocks of an exchange that reached this rank (ops/exchange.hpp), kept in
// memory up to a limit and written to an unnamed spill file beyond it, then read back one block
// (one partition of the exchange's output) at a time.
//
// A block is a header (its item count and payload bytes) and the items, encoded. Blocks arrive
// from the thread that receives (other ranks') and from the stage's threads (this rank's own), so
// add() takes a lock, once a block.
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/graph/memory_gauge.hpp>
#include <dataflow/storage/files.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// The header of an exchanged block: its item count and the bytes of its items.
struct exchange_block_header {
  std::uint32_t items;
  std::uint32_t bytes;
};

class received_blocks {
 public:
  /// Blocks beyond `memory_limit` bytes in memory go to a spill file in `dir`; errors name
  /// `stage`.
  received_blocks(std::shared_ptr<spill_directory> dir, std::string stage, std::size_t memory_limit,
                  memory_gauge& gauge)
      : dir_(std::move(dir)), stage_(std::move(stage)), limit_(memory_limit), charge_(gauge) {}
  received_blocks(const received_blocks&) = delete;
  received_blocks& operator=(const received_blocks&) = delete;

  /// Keeps a block that rank `from` sent; throws naming the rank when it is not a whole block.
  void add(std::size_t from, std::vector<char>&& bytes) {
    exchange_block_header h{};
    if (bytes.size() < sizeof h) fail(from, "is shorter than a block header");
    std::memcpy(&h, bytes.data(), sizeof h);
    if (h.bytes != bytes.size() - sizeof h) {
      fail(from, ("is not one whole block (" + std::to_string(bytes.size()) + " bytes, a header of " +
                  std::to_string(h.items) + " items in " + std::to_string(h.bytes) + ")").c_str());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    block b{from, h, {}, 0, false};
    if (held_ + bytes.capacity() <= limit_) {
      held_ += bytes.capacity();
      b.memory = std::move(bytes);
      charge_.set(held_);
    } else {
      if (!file_) {
        std::string name;
        file_handle fd = dir_->create_file(stage_, name);
        file_ = std::make_shared<spill_file>(std::move(fd), std::move(name));
        spill_files_total.fetch_add(1, std::memory_order_relaxed);
      }
      write_all(file_->fd(), bytes.data() + sizeof h, h.bytes, file_->path(), stage_.c_str());
      b.offset = file_end_;
      b.on_disk = true;
      file_end_ += h.bytes;
      spilled_bytes_total.fetch_add(h.bytes, std::memory_order_relaxed);
    }
    blocks_.push_back(std::move(b));
  }

  /// Orders the blocks by sending rank, each rank's in the order they came; call once all came.
  void seal() {
    std::stable_sort(blocks_.begin(), blocks_.end(), [](const block& a, const block& b) { return a.from < b.from; });
  }

  std::size_t size() const noexcept { return blocks_.size(); }
  std::uint32_t items(std::size_t i) const noexcept { return blocks_[i].header.items; }
  std::uint64_t items() const noexcept {
    std::uint64_t n = 0;
    for (const block& b : blocks_) n += b.header.items;
    return n;
  }
  /// Bytes written to the spill file.
  std::uint64_t spilled_bytes() const noexcept { return file_end_; }

  /// The items of block i, encoded: in memory, or read into `buf` from the spill file.
  std::span<const char> payload(std::size_t i, std::vector<char>& buf) const {
    const block& b = blocks_[i];
    if (!b.on_disk) return {b.memory.data() + sizeof(exchange_block_header), b.header.bytes};
    buf.resize(b.header.bytes);
    if (read_at(file_->fd(), buf.data(), b.header.bytes, b.offset, file_->path(), stage_.c_str()) != b.header.bytes) {
      throw io_error(file_->path(), stage_ + ": the spill file of received blocks ended early");
    }
    return {buf.data(), buf.size()};
  }

  /// Frees block i's memory once it was read for the last time.
  void release(std::size_t i) {
    block& b = blocks_[i];
    if (b.on_disk || b.memory.capacity() == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    held_ -= b.memory.capacity();
    b.memory = std::vector<char>();
    charge_.set(held_);
  }

 private:
  struct block {
    std::size_t from;
    exchange_block_header header;
    std::vector<char> memory;  // header and payload, unless on disk
    std::uint64_t offset;      // of the payload in the spill file
    bool on_disk;
  };

  [[noreturn]] void fail(std::size_t from, const char* what) const {
    throw error("dataflow: " + stage_ + ": a message from rank " + std::to_string(from) + " " + what);
  }

  std::shared_ptr<spill_directory> dir_;
  std::string stage_;
  std::size_t limit_;
  std::mutex mutex_;
  gauge_charge charge_;
  std::size_t held_ = 0;
  std::vector<block> blocks_;
  std::shared_ptr<spill_file> file_;
  std::uint64_t file_end_ = 0;
};

}  // namespace dataflow::detail
