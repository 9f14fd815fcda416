// context::read_lines: lines of text files, read in parallel byte ranges split at line ends;
// context::read_text_blocks: the same lines, handed on as blocks of whole lines.
//
// Each partition is a byte range [begin, end) of one file and owns the lines that start inside
// it: it skips the partial line it starts in and reads past `end` to finish its last line.
// Bytes come through pread into a 1 MiB buffer reused per thread; on this class of machine that
// reads a cached 1 GiB file 2.4x faster than walking an mmap of it (0.44 s against 1.05 s,
// newline count included), and it keeps resident memory flat whatever the input size.
#pragma once

#include <dataflow/context.hpp>
#include <dataflow/detail/config.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/storage/files.hpp>
#include <dataflow/storage/input_files.hpp>
#include <dataflow/storage/read_buffers.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow {
namespace detail {

/// A byte range of one input file.
struct file_chunk {
  std::size_t file;
  std::uint64_t begin;
  std::uint64_t end;
};

/// Splits files into chunks of about `chunk_bytes` (0: from the total size and thread count).
std::vector<file_chunk> plan_chunks(const std::vector<file_entry>& files, std::size_t chunk_bytes,
                                    std::size_t threads, std::uint64_t unit = 1);

/// Standard input and pipes reach one rank only (mpirun gives the others nothing): on a job of
/// several ranks, a source of them is a usage_error.
void refuse_streams_across_ranks(const input_files& inputs, const context_state& ctx, const char* op);

/// This rank's chunks: the files are split for the threads of every rank of the job, and each
/// rank reads a contiguous slice of the chunks (all of them on a process of its own).
std::vector<file_chunk> plan_rank_chunks(const std::vector<file_entry>& files, std::size_t chunk_bytes,
                                         const context_state& ctx, std::uint64_t unit = 1);

std::string describe_files(const std::vector<file_entry>& files);

class line_source final : public node<std::string_view> {
 public:
  static constexpr std::size_t buffer_bytes = read_buffer_bytes;

  /// Lines, or with `blocks` the lines of each buffer read as one item.
  line_source(std::shared_ptr<context_state> ctx, std::vector<std::string> patterns,
              read_options options, bool blocks = false);

  std::string describe() const override;
  std::size_t partition_count() const override { return chunks_.size(); }

  void push_partition(std::size_t p, batch_consumer<std::string_view>& out) override;

 private:
  void push_blocks(std::size_t p, batch_consumer<std::string_view>& out);
  const char* op_name() const noexcept { return blocks_ ? "read_text_blocks" : "read_lines"; }
  /// Reads more of chunk c behind the bytes [cur, len) of buf (moved to its front).
  bool read_more(byte_buffer& buf, std::uint64_t& base, std::size_t& len, std::size_t& cur,
                 const input_files::reader& fd, const file_chunk& c, const std::string& path,
                 gauge_charge& long_line);
  /// Doubles the buffer for a line longer than it, charging the memory gauge; under a memory
  /// budget, a line that would need more than half the budget is an error naming it.
  void grow_for_long_line(byte_buffer& buf, std::size_t len, const input_files::reader& fd,
                          std::uint64_t line_start, const std::string& path, gauge_charge& charge);

 protected:
  void execute(run_state& run) override;
  void dispose() noexcept override;

 private:
  read_options options_;
  bool blocks_;
  input_files inputs_;
  std::vector<file_chunk> chunks_;
  std::optional<slot_buffers> buffers_;
};

}  // namespace detail

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/newline_scan.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>

#include <algorithm>
#include <cstring>

namespace dataflow {
namespace detail {

DATAFLOW_INLINE std::vector<file_chunk> plan_chunks(const std::vector<file_entry>& files,
                                                    std::size_t chunk_bytes, std::size_t threads,
                                                    std::uint64_t unit) {
  std::uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  std::uint64_t size = chunk_bytes;
  if (size == 0) {
    size = total / std::max<std::size_t>(1, threads * 8);
    size = std::clamp<std::uint64_t>(size, std::uint64_t{1} << 20, std::uint64_t{64} << 20);
  }
  size = std::max<std::uint64_t>(unit, size / unit * unit);
  std::vector<file_chunk> chunks;
  for (std::size_t i = 0; i < files.size(); ++i) {
    for (std::uint64_t b = 0; b < files[i].size; b += size) {
      chunks.push_back({i, b, std::min(files[i].size, b + size)});
    }
  }
  return chunks;
}

DATAFLOW_INLINE void refuse_streams_across_ranks(const input_files& inputs, const context_state& ctx,
                                                 const char* op) {
  if (multi_rank(ctx) && inputs.has_streams()) {
    throw usage_error(std::string("dataflow::") + op + ": standard input and pipes cannot be split across "
                      "the ranks of a job (only one rank would read them); name regular files");
  }
}

DATAFLOW_INLINE std::vector<file_chunk> plan_rank_chunks(const std::vector<file_entry>& files,
                                                         std::size_t chunk_bytes, const context_state& ctx,
                                                         std::uint64_t unit) {
  // Every rank must cut the same chunks, whatever its own thread count (which follows its
  // cores and binding): across ranks, the size comes from the rank count alone.
  const std::size_t threads = multi_rank(ctx) ? 16 * rank_count(ctx) : ctx.threads();
  std::vector<file_chunk> all = plan_chunks(files, chunk_bytes, threads, unit);
  auto [begin, end] = rank_slice(all.size(), ctx);
  return std::vector<file_chunk>(all.begin() + static_cast<std::ptrdiff_t>(begin),
                                 all.begin() + static_cast<std::ptrdiff_t>(end));
}

DATAFLOW_INLINE std::string describe_files(const std::vector<file_entry>& files) {
  std::uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  std::string s = files.size() == 1 ? "'" + input_name(files[0].path) + "'"
                                    : std::to_string(files.size()) + " files";
  return s + ", " + std::to_string(total) + " bytes";
}

DATAFLOW_INLINE line_source::line_source(std::shared_ptr<context_state> ctx,
                                         std::vector<std::string> patterns, read_options options,
                                         bool blocks)
    : node(std::move(ctx), blocks ? "read_text_blocks" : "read_lines", node_kind::source, {}, {}),
      options_(options),
      blocks_(blocks),
      inputs_(std::move(patterns), op_name()) {
  set_runs_across_ranks();  // each rank reads a slice of the chunks
}

DATAFLOW_INLINE std::string line_source::describe() const {
  return describe_files(inputs_.files());
}

DATAFLOW_INLINE void line_source::push_partition(std::size_t p,
                                                batch_consumer<std::string_view>& out) {
  if (blocks_) return push_blocks(p, out);
  const file_chunk& c = chunks_[p];
  const std::string path = input_name(inputs_.files()[c.file].path);
  auto lease = buffers_->acquire();
  byte_buffer& buf = lease.get();
  auto fd = inputs_.open(c.file);

  std::uint64_t base = c.begin == 0 ? 0 : c.begin - 1;  // file offset of buf[0]
  std::size_t len = 0, cur = 0;
  bool eof = false;
  // A chunk that starts mid-file owns the lines starting after the first '\n' at or after
  // begin - 1; a header line is dropped the same way.
  bool skip = c.begin > 0 || options_.skip_header;
  std::vector<std::string_view> batch;
  batch.reserve(batch_items<std::string_view>);
  gauge_charge long_line(this->ctx().charged);  // a buffer grown past its size for a long line

  const bool strip_cr = options_.strip_cr;
  auto add = [&](const char* at, std::size_t n) {
    if (strip_cr && n > 0 && at[n - 1] == '\r') --n;
    batch.emplace_back(at, n);
  };
  auto flush = [&] {
    if (batch.empty()) return;
    try {
      out.consume(batch);
    } catch (op_failure& f) {
      if (f.where.empty() && f.item < batch.size()) {
        std::uint64_t at = base + static_cast<std::uint64_t>(batch[f.item].data() - buf.data());
        f.where = path + ":" + std::to_string(line_number_at(fd.fd(), at, fd.start()));
      }
      throw;
    }
    batch.clear();
  };

  detail::newline_scan newlines;  // of buf[cur, len), set again after every read
  for (;;) {
    const char* b = buf.data();
    const std::size_t e = newlines.next();
    if (e != detail::newline_scan::none) {
      if (skip) {
        skip = false;
      } else {
        if (base + cur >= c.end) break;  // this line belongs to the next chunk
        add(b + cur, e - cur);
        if (batch.size() == batch_items<std::string_view>) flush();
      }
      cur = e + 1;
      continue;
    }
    if (eof) {
      if (!skip && cur < len && base + cur < c.end) add(b + cur, len - cur);
      break;
    }
    if (!skip && base + cur >= c.end) break;
    // The buffer holds no complete line from cur on: hand over the batch (its views point
    // into the buffer), keep the partial line and read more behind it.
    flush();
    if (stop_requested()) return;
    if (skip) cur = len;
    const std::size_t kept = len - cur;
    eof = !read_more(buf, base, len, cur, fd, c, path, long_line);
    newlines = detail::newline_scan(buf.data(), kept, len);  // the partial line before has none
  }
  flush();
  if (buf.size() > buffer_bytes) buf.resize_discard(buffer_bytes);  // a long line's growth goes
}

DATAFLOW_INLINE bool line_source::read_more(byte_buffer& buf, std::uint64_t& base, std::size_t& len,
                                            std::size_t& cur, const input_files::reader& fd,
                                            const file_chunk& c, const std::string& path,
                                            gauge_charge& long_line) {
  std::memmove(buf.data(), buf.data() + cur, len - cur);
  base += cur;
  len -= cur;
  cur = 0;
  if (len == buf.size()) grow_for_long_line(buf, len, fd, base, path, long_line);
  const std::size_t want = buf.size() - len;
  const std::size_t got = read_at(fd.fd(), buf.data() + len, want, fd.start() + base + len, path, op_name());
  const bool eof = got < want;
  len += got;
  // Short of the planned end: the file shrank, unless it never had the size it reported
  // (sysfs files report 4096 bytes whatever they hold).
  if (eof && base + len < c.end && fd.shrank(inputs_.files()[c.file].size)) {
    throw io_error(path, std::string(op_name()) + ": '" + path + "' changed size while being read (" +
                             std::to_string(base + len) + " bytes, " +
                             std::to_string(inputs_.files()[c.file].size) + " when the run began)");
  }
  return !eof;
}

/// The lines of chunk p a buffer at a time: each item is the chunk's whole lines in the buffer,
/// joined by their '\n' (the last one's dropped), so that splitting the items at '\n' gives the
/// lines read_lines gives. A user function that throws is placed at the block's first line.
DATAFLOW_INLINE void line_source::push_blocks(std::size_t p, batch_consumer<std::string_view>& out) {
  const file_chunk& c = chunks_[p];
  const std::string path = input_name(inputs_.files()[c.file].path);
  auto lease = buffers_->acquire();
  byte_buffer& buf = lease.get();
  auto fd = inputs_.open(c.file);
  gauge_charge long_line(this->ctx().charged);

  std::uint64_t base = c.begin == 0 ? 0 : c.begin - 1;  // file offset of buf[0]
  std::size_t len = 0, cur = 0;
  bool eof = !read_more(buf, base, len, cur, fd, c, path, long_line);
  bool skip = c.begin > 0 || options_.skip_header;  // the partial line before the chunk, a header
  auto emit = [&](std::size_t from, std::size_t to) {
    const std::string_view block(buf.data() + from, to - from);
    try {
      out.consume(std::span<const std::string_view>(&block, 1));
    } catch (op_failure& f) {
      if (f.where.empty()) f.where = path + ":" + std::to_string(line_number_at(fd.fd(), base + from, fd.start()));
      throw;
    }
  };
  auto newline = [&](std::size_t from) -> std::size_t {
    const void* at = std::memchr(buf.data() + from, '\n', len - from);
    return at ? static_cast<std::size_t>(static_cast<const char*>(at) - buf.data()) : len;
  };
  for (;;) {
    if (skip) {
      const std::size_t e = newline(cur);
      if (e < len) {
        skip = false;
        cur = e + 1;
      } else {
        cur = len;
      }
    }
    if (!skip) {
      if (base + cur >= c.end) break;  // the chunk's lines are done
      // The chunk's last line holds its last byte, c.end - 1, and ends at the first '\n' from
      // there: lines starting after it belong to the next chunk.
      const auto last = static_cast<std::size_t>(c.end - 1 - base);
      if (last < len) {
        if (const std::size_t e = newline(last); e < len) {
          emit(cur, e);
          break;
        }
      }
      if (eof) {
        if (cur < len) emit(cur, len - (buf.data()[len - 1] == '\n'));
        break;
      }
      // The lines complete in the buffer; the partial one after them waits for more bytes.
      if (const void* at = ::memrchr(buf.data() + cur, '\n', len - cur)) {
        const auto e = static_cast<std::size_t>(static_cast<const char*>(at) - buf.data());
        emit(cur, e);
        cur = e + 1;
      }
    } else if (eof) {
      break;  // the partial line runs to the end: the previous chunk's
    }
    if (stop_requested()) return;
    eof = !read_more(buf, base, len, cur, fd, c, path, long_line);
  }
  if (buf.size() > buffer_bytes) buf.resize_discard(buffer_bytes);  // a long line's growth goes
}

DATAFLOW_INLINE void line_source::grow_for_long_line(byte_buffer& buf, std::size_t len,
                                                    const input_files::reader& fd,
                                                    std::uint64_t line_start, const std::string& path,
                                                    gauge_charge& charge) {
  const std::size_t budget = this->ctx().memory_budget;
  const std::size_t want = buf.size() * 2;
  if (budget != 0 && want > budget / 2) {
    throw io_error(path, "read_lines: line " + std::to_string(line_number_at(fd.fd(), line_start, fd.start())) + " of '" + path +
                             "' is longer than " + std::to_string(len) +
                             " bytes, more than half the memory budget of " + std::to_string(budget) +
                             " bytes holds; raise the budget to read it");
  }
  buf.resize_keep(want, len);
  charge.set(buf.size() - buffer_bytes);
}

DATAFLOW_INLINE void line_source::execute(run_state& run) {
  refuse_streams_across_ranks(inputs_, run.ctx(), "read_lines");
  inputs_.refresh(*run.ctx().spill_dir("read_lines"));  // the files may have changed since
  if (!options_.up_to.empty()) inputs_.limit(options_.up_to);
  chunks_ = plan_rank_chunks(inputs_.files(), options_.chunk_bytes, run.ctx());
  buffers_.emplace(run.ctx().threads(), buffer_bytes);
}

DATAFLOW_INLINE void line_source::dispose() noexcept {
  buffers_.reset();
  chunks_.clear();
}

}  // namespace detail

DATAFLOW_INLINE dataset<std::string_view> context::read_lines(const std::vector<std::string>& paths,
                                                              read_options options) const {
  return dataset<std::string_view>(std::make_shared<detail::line_source>(state_, paths, options));
}

DATAFLOW_INLINE dataset<std::string_view> context::read_text_blocks(const std::vector<std::string>& paths,
                                                                    read_options options) const {
  if (options.strip_cr) {
    throw usage_error("dataflow::read_text_blocks: strip_cr applies to read_lines only (a block keeps "
                      "its bytes as they are in the file)");
  }
  return dataset<std::string_view>(std::make_shared<detail::line_source>(state_, paths, options, true));
}

}  // namespace dataflow
#endif
