// context::read_records<T>: fixed-size binary records of a trivially copyable type, read in
// parallel ranges of whole records through a reused buffer.
#pragma once

#include <dataflow/context.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/sources/read_lines.hpp>
#include <dataflow/storage/files.hpp>
#include <dataflow/storage/read_buffers.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace dataflow {
namespace detail {

template <class T>
class record_source final : public node<T> {
 public:
  static constexpr std::size_t buffer_bytes = read_buffer_bytes;

  record_source(std::shared_ptr<context_state> ctx, std::vector<std::string> patterns,
                read_options options)
      : node<T>(std::move(ctx), "read_records", node_kind::source, {}, {}),
        options_(options),
        inputs_(std::move(patterns), "read_records") {
    check_sizes();
    this->set_runs_across_ranks();  // each rank reads a slice of the chunks
  }

  std::string describe() const override {
    return describe_files(inputs_.files()) + ", " + std::to_string(sizeof(T)) + "-byte records";
  }
  std::size_t partition_count() const override { return chunks_.size(); }
  std::optional<std::uint64_t> known_items() const override {
    std::uint64_t n = 0;
    for (const auto& c : chunks_) n += (c.end - c.begin) / sizeof(T);
    return n;
  }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    const file_chunk& c = chunks_[p];
    const std::string path = input_name(inputs_.files()[c.file].path);
    auto lease = buffers_->acquire();
    byte_buffer& buf = lease.get();
    auto fd = inputs_.open(c.file);
    const std::size_t per_read = buf.size() / sizeof(T) * sizeof(T);  // at least one record
    for (std::uint64_t at = c.begin; at < c.end && !stop_requested();) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(per_read, c.end - at));
      std::size_t got = read_at(fd.fd(), buf.data(), want, fd.start() + at, path, "read_records");
      if (got != want && fd.shrank(inputs_.files()[c.file].size)) {
        throw io_error(path, "read_records: '" + path + "' changed size while being read");
      }
      // The buffer is 64-byte aligned storage that the read filled: for a trivially copyable
      // type that is the object representation of the records.
      std::span<const T> items(reinterpret_cast<const T*>(buf.data()), got / sizeof(T));
      try {
        out.consume(items);
      } catch (op_failure& f) {
        if (f.where.empty() && f.item < items.size()) {
          f.where = path + ": record " + std::to_string(at / sizeof(T) + f.item);
        }
        throw;
      }
      at += got;
      if (got != want) break;  // a file that reported more than it holds (sysfs)
    }
  }

 protected:
  void execute(run_state& run) override {
    refuse_streams_across_ranks(inputs_, run.ctx(), "read_records");
    inputs_.refresh(*run.ctx().spill_dir("read_records"));  // the files may have changed since
    check_sizes();
    chunks_ = plan_rank_chunks(inputs_.files(), options_.chunk_bytes, run.ctx(), sizeof(T));
    buffers_.emplace(run.ctx().threads(), std::max(buffer_bytes, sizeof(T)));
  }
  void dispose() noexcept override {
    buffers_.reset();
    chunks_.clear();
  }

 private:
  void check_sizes() const {
    for (const auto& f : inputs_.files()) {
      if (f.size % sizeof(T) != 0) {
        const std::string name = input_name(f.path);
        throw io_error(f.path, "read_records: '" + name + "' has " + std::to_string(f.size) +
                                   " bytes, not a whole number of " + std::to_string(sizeof(T)) +
                                   "-byte records");
      }
    }
  }

  read_options options_;
  input_files inputs_;
  std::vector<file_chunk> chunks_;
  std::optional<slot_buffers> buffers_;
};

}  // namespace detail

template <class T>
dataset<T> context::read_records(const std::vector<std::string>& paths,
                                 read_options options) const {
  static_assert(std::is_trivially_copyable_v<T>,
                "dataflow::read_records: the record type must be trivially copyable");
  static_assert(alignof(T) <= 64, "dataflow::read_records: record alignment above 64 bytes");
  return dataset<T>(std::make_shared<detail::record_source<T>>(state_, paths, options));
}

}  // namespace dataflow
