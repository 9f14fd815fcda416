// write_lines: every item as one line of text in a file, in partition order.
//
// Partitions are formatted in parallel into memory and written in order as soon as all earlier
// partitions are written. The file appears only when everything succeeded (see
// storage/output_file.hpp: staged unnamed beside the target, devices and FIFOs written through).
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/config.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/graph/action.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/storage/files.hpp>
#include <dataflow/storage/output_file.hpp>
#include <dataflow/storage/spill_directory.hpp>

#include <dataflow/detail/format.hpp>

#include <memory>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// Writes partitions' text to a staged file in partition order, as they complete.
class ordered_writer {
 public:
  /// With a spill directory, a partition that is not yet its turn keeps at most `hold_bytes`
  /// of text in memory and puts the rest in a temporary file of its own (under a memory
  /// budget, where partitions are large: the ranges of a sort's merge).
  ordered_writer(output_file& file, std::size_t parts, std::shared_ptr<spill_directory> dir = nullptr,
                 std::size_t hold_bytes = 0, std::string stage = {});

  /// Writes a partition's text so far if every earlier partition is written (so that a long
  /// partition in order, such as a merged sort, streams out instead of piling up in memory).
  void partial(std::size_t p, fmt::memory_buffer& text);

  void complete(std::size_t p, fmt::memory_buffer&& text);

  /// Gives an empty buffer of a partition about to start the memory of a buffer already
  /// written, if one is spare: a partition that finishes before its turn holds its whole text,
  /// and a fresh buffer of that size is fresh memory, faulted in page by page (a sort's merge
  /// under a budget: ranges of 15 MB, every other one held).
  void reuse(fmt::memory_buffer& text);

 private:
  /// Keeps a written buffer's memory for reuse (at most `max_spare` of them).
  void recycle(fmt::memory_buffer&& text);
  static constexpr std::size_t max_spare = 2;

  /// A partition's text put aside before its turn.
  struct aside {
    file_handle fd;
    std::string name;
    std::uint64_t bytes = 0;
  };

  void put_aside(std::size_t p, fmt::memory_buffer& text);
  /// Writes what partition p put aside (its turn has come; the mutex is held).
  void write_aside(std::size_t p);

  output_file& file_;
  std::mutex mutex_;
  std::vector<std::optional<fmt::memory_buffer>> ready_;
  std::size_t next_ = 0;
  std::shared_ptr<spill_directory> dir_;
  std::size_t hold_bytes_;
  std::string stage_;
  std::vector<std::optional<aside>> aside_;  // each touched by its partition's thread until complete
  // Written buffers, emptied, kept for reuse; under a mutex of their own, so that a partition
  // about to start does not wait while complete() writes out a run of partitions.
  std::mutex spare_mutex_;
  std::vector<fmt::memory_buffer> spare_;
};

/// Formats an item as one line of text.
template <class T>
struct line_format {
  static constexpr const char* op = "write_lines";
  void header(fmt::memory_buffer&) const {}
  void append(fmt::memory_buffer& text, const T& item, const std::string& label) const {
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      std::string_view s = item;
      text.append(s.data(), s.data() + s.size());
      text.push_back('\n');
    } else {
      // "{}" alone goes straight to the item's formatter; "{}\n" would be parsed an item.
      invoke_user(label, [&] { fmt::format_to(fmt::appender(text), "{}", item); });
      text.push_back('\n');
    }
  }
};

/// Formats each partition into a buffer and hands it to a Writer: `partial(p, text)` once the
/// buffer passes 1 MiB, `complete(p, text)` at the partition's end.
template <class T, class Format, class Writer>
struct format_sink {
  format_sink(Writer* w, std::size_t p, const std::string* l, const Format* f)
      : writer(w), partition(p), label(l), format(f) {}

  fmt::memory_buffer text;
  Writer* writer;
  std::size_t partition;
  const std::string* label;  // a user's fmt::formatter may throw
  const Format* format;

  template <class X>
  void operator()(X&& x) {
    const T& item = x;
    format->append(text, item, *label);
  }
  void end_batch() {
    if (text.size() >= (std::size_t{1} << 20)) writer->partial(partition, text);
  }
  void end_partition() { writer->complete(partition, std::move(text)); }
};

/// Part files of a directory, one per partition. Each is written under a temporary name, opened
/// when its partition starts and closed when it ends (so open files stay few however many
/// partitions there are); once every partition succeeded, part files left in the directory by
/// an earlier run are removed and the new ones renamed into place. A failed run removes its
/// temporary files, and the directory too if it made it and nothing else is there.
class part_writer {
 public:
  /// `rank` names the parts of one rank of a job of several: part-RRRRR-PPPPP (empty: part-PPPPP).
  part_writer(std::string dir, std::size_t parts, std::string extension, std::string op,
              std::string rank = {});
  /// The number of parts, once the run knows it (the directory is checked before).
  void set_parts(std::size_t parts);
  ~part_writer();
  part_writer(const part_writer&) = delete;
  part_writer& operator=(const part_writer&) = delete;

  void partial(std::size_t p, fmt::memory_buffer& text);
  void complete(std::size_t p, fmt::memory_buffer&& text);
  /// Removes the earlier run's part files, then renames the new ones into place.
  void commit();
  /// The two halves of commit, for a job of several ranks: one rank removes the earlier run's
  /// parts, then every rank renames its own.
  void remove_earlier_parts() const;
  void rename_parts();
  /// Removes the parts this writer renamed into place (another rank failed to commit its own).
  void withdraw() noexcept;

 private:
  std::string name(std::size_t p) const;

  std::string dir_;
  std::string extension_;
  std::string op_;
  std::string rank_;
  std::vector<std::unique_ptr<output_file>> files_;
  std::size_t digits_ = 5;
  bool created_ = false;
  bool committed_ = false;
};

/// On a job of several ranks, once every rank has written its part files under temporary names
/// (settled): rank 0 removes the earlier run's parts, then every rank renames its own into
/// place; each step is settled with every rank, and a rank that cannot rename makes every rank
/// withdraw what it renamed.
void commit_parts_across_ranks(context_state& ctx, part_writer& writer);

/// On a job of several ranks, once each rank has written its partitions in order to `file` (on
/// rank 0 the output, not yet committed; on the others a temporary file): appends every other
/// rank's text to rank 0's file in rank order and commits it. Collective: each step is settled
/// with every rank, so that a failure on one (a read, a full disk) fails them all.
void append_ranks_to_first(context_state& ctx, output_file& file);

/// Writes a dataset with `format`: to one file in partition order, or with `parts` to a
/// directory of part files. On a job of several ranks, rank 0 writes the file: its partitions,
/// then every other rank's in rank order, which each wrote to a temporary file of its own.
template <class Dataset, class Format>
void write_formatted(const Dataset& ds, const std::string& path, const write_options& options,
                     const Format& format) {
  using T = typename Dataset::value_type;
  context_state& ctx = ds.node()->ctx();
  action_run<Dataset> action(ds, Format::op, true);
  const bool first_rank = rank_of(ctx) == 0;
  // The output is opened (a missing directory, no permission) before the run reads anything.
  // What fails on this rank alone (an output it cannot open, a full disk) is settled with every
  // rank before it is rethrown, as a failure inside the run is: the others must not wait for it.
  auto on_this_rank = [&](auto&& step) {
    try {
      step();
    } catch (...) {
      settle_current(ctx);
    }
  };
  std::optional<part_writer> parts_out;
  std::optional<output_file> file;
  on_this_rank([&] {
    if (options.part_files) {
      std::string rank;  // part-RRRRR-PPPPP on a job of several ranks
      if (multi_rank(ctx)) {
        rank = std::to_string(rank_of(ctx));
        rank.insert(0, std::max<std::size_t>(5, std::to_string(rank_count(ctx)).size()) - rank.size(), '0');
      }
      parts_out.emplace(path, 0, options.extension, Format::op, std::move(rank));
    } else if (first_rank) {
      file.emplace(path, Format::op);
      if (options.direct) file->use_direct_writes();
    } else {
      file.emplace(ctx.spill_dir(action.label())->path() + "/rank-" + std::to_string(rank_of(ctx)) + ".txt", Format::op);
    }
  });
  const std::size_t parts = action.partitions();
  fmt::memory_buffer head;
  format.header(head);
  auto run = [&](auto& writer) {
    using W = std::remove_reference_t<decltype(writer)>;
    std::vector<format_sink<T, Format, W>> sinks;
    sinks.reserve(parts);
    for (std::size_t p = 0; p < parts; ++p) {
      sinks.emplace_back(&writer, p, &action.label(), &format);
      sinks.back().text.append(head.data(), head.data() + head.size());
    }
    action.run([&](std::size_t p) -> format_sink<T, Format, W>& {
      if constexpr (requires { writer.reuse(sinks[p].text); }) writer.reuse(sinks[p].text);
      return sinks[p];
    });
  };
  if (parts_out) {
    // An empty dataset still gets one (empty) part: a directory with no part looks unwritten.
    part_writer& writer = *parts_out;
    on_this_rank([&] {
      writer.set_parts(std::max<std::size_t>(parts, 1));
      if (parts == 0) writer.complete(0, std::move(head));  // opens a file: may fail here alone
    });
    run(writer);
    if (multi_rank(ctx)) {
      action.finish();  // every rank has written all of its parts
      commit_parts_across_ranks(ctx, writer);
    } else {
      writer.commit();
    }
    return;
  }
  // Under a budget, partitions that finish before their turn keep half a thread's share in
  // memory at most: twice the size of a sort's merge ranges (sort.hpp, split_merge), so that a
  // range held whole stays in memory instead of going through a temporary file (written, read
  // back and written again: a sort of 2 GB under 256 MiB at 2 threads took longer than at 1).
  const spill_policy policy = spill_policy::for_context(ctx);
  std::optional<ordered_writer> writer;
  on_this_rank([&] {
    if (head.size() && first_rank) file->write(head.data(), head.size());
    head.clear();
    if (policy.limited()) {
      writer.emplace(*file, parts, ctx.spill_dir(action.label()),
                     std::max<std::size_t>(policy.thread_share / 2, 1 << 20), action.label());
    } else {
      writer.emplace(*file, parts);
    }
  });
  run(*writer);
  if (!multi_rank(ctx)) {
    file->commit();
    return;
  }
  append_ranks_to_first(ctx, *file);
  action.state().gather_job_stats();
}

}  // namespace detail

template <class T, class Stack>
void dataset<T, Stack>::write_lines(const std::string& path, write_options options) const {
  static_assert(std::is_convertible_v<const T&, std::string_view> || fmt::is_formattable<T>::value,
                "dataflow::write_lines: items must be strings or formattable with fmt; map them "
                "to std::string first, or specialize fmt::formatter for the item type");
  detail::write_formatted(*this, path, options, detail::line_format<T>{});
}

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS

#include <dataflow/errors.hpp>
#include <dataflow/storage/files.hpp>
#include <dataflow/storage/spill_directory.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace dataflow::detail {

DATAFLOW_INLINE void append_ranks_to_first(context_state& ctx, output_file& file) {
  const std::size_t me = rank_of(ctx), ranks = rank_count(ctx);
  std::uint64_t mine = 0;
  settle(ctx, [&] {
    if (me == 0) return;
    struct stat st {};
    if (::fstat(file.fd(), &st) != 0) throw io_error(file.path(), "cannot read back a rank's text: " + errno_text(errno));
    mine = static_cast<std::uint64_t>(st.st_size);
  });
  const std::vector<std::uint64_t> sizes = all_gather<std::uint64_t>(ctx, mine);
  // Rank by rank, a piece at a time: rank r reads a piece and sends it, rank 0 writes it during
  // the next step (whose settling then covers the write).
  constexpr std::size_t piece = std::size_t{16} << 20;
  std::vector<char> pending;
  for (std::size_t r = 1; r < ranks; ++r) {
    for (std::uint64_t at = 0; at < sizes[r]; at += piece) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(piece, sizes[r] - at));
      std::vector<std::vector<char>> to(ranks);
      settle(ctx, [&] {
        if (me == 0 && !pending.empty()) file.write(pending.data(), pending.size());
        if (me == r) {
          to[0].resize(n);
          if (read_at(file.fd(), to[0].data(), n, at, file.path(), "write_lines") != n) {
            throw io_error(file.path(), "a rank's text ended early");
          }
        }
      });
      auto from = ctx.ranks->exchange(std::move(to));
      if (me == 0) pending = std::move(from[r]);
    }
  }
  settle(ctx, [&] {
    if (me != 0) return;
    if (!pending.empty()) file.write(pending.data(), pending.size());
    file.commit();
  });
}

DATAFLOW_INLINE ordered_writer::ordered_writer(output_file& file, std::size_t parts,
                                               std::shared_ptr<spill_directory> dir, std::size_t hold_bytes,
                                               std::string stage)
    : file_(file), ready_(parts), dir_(std::move(dir)), hold_bytes_(hold_bytes), stage_(std::move(stage)),
      aside_(parts) {
  spare_.reserve(max_spare);  // recycle() then never allocates
}

DATAFLOW_INLINE void ordered_writer::partial(std::size_t p, fmt::memory_buffer& text) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (p == next_) {
      write_aside(p);
      file_.write(text.data(), text.size());
      text.clear();
      return;
    }
  }
  if (dir_ && text.size() >= hold_bytes_) put_aside(p, text);
}

DATAFLOW_INLINE void ordered_writer::complete(std::size_t p, fmt::memory_buffer&& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  ready_[p].emplace(std::move(text));
  while (next_ < ready_.size() && ready_[next_]) {
    write_aside(next_);
    file_.write(ready_[next_]->data(), ready_[next_]->size());
    recycle(std::move(*ready_[next_]));
    ready_[next_].reset();
    ++next_;
  }
}

DATAFLOW_INLINE void ordered_writer::recycle(fmt::memory_buffer&& text) {
  if (text.capacity() <= fmt::inline_buffer_size) return;
  std::lock_guard<std::mutex> lock(spare_mutex_);
  if (spare_.size() >= max_spare) return;
  text.clear();
  spare_.push_back(std::move(text));
}

DATAFLOW_INLINE void ordered_writer::reuse(fmt::memory_buffer& text) {
  if (text.size() != 0) return;
  std::lock_guard<std::mutex> lock(spare_mutex_);
  if (spare_.empty()) return;
  text = std::move(spare_.back());
  spare_.pop_back();
}

DATAFLOW_INLINE void ordered_writer::put_aside(std::size_t p, fmt::memory_buffer& text) {
  auto& a = aside_[p];
  if (!a) {
    a.emplace();
    a->fd = dir_->create_file(stage_, a->name);
  }
  write_all(a->fd.get(), text.data(), text.size(), a->name, stage_.c_str());
  a->bytes += text.size();
  text.clear();
}

DATAFLOW_INLINE void ordered_writer::write_aside(std::size_t p) {
  auto& a = aside_[p];
  if (!a) return;
  std::vector<char> buf(std::min<std::uint64_t>(a->bytes, std::uint64_t{1} << 20));
  for (std::uint64_t at = 0; at < a->bytes;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), a->bytes - at));
    const std::size_t got = read_at(a->fd.get(), buf.data(), want, at, a->name, stage_.c_str());
    if (got != want) throw io_error(a->name, stage_ + ": a temporary file of output was cut short");
    file_.write(buf.data(), got);
    at += got;
  }
  a.reset();  // closing it frees its space: it has no name
}

DATAFLOW_INLINE part_writer::part_writer(std::string dir, std::size_t parts, std::string extension,
                                         std::string op, std::string rank)
    : dir_(std::move(dir)), extension_(std::move(extension)), op_(std::move(op)), rank_(std::move(rank)), files_(parts) {
  raise_open_file_limit();  // each part holds a descriptor until the commit links it in
  int error = 0;
  created_ = make_directories(dir_, error);
  if (error != 0) throw io_error(dir_, op_ + ": cannot make directory '" + dir_ + "': " + errno_text(error));
  if (::access(dir_.c_str(), W_OK | X_OK) != 0) {
    const int e = errno;
    throw io_error(dir_, op_ + ": cannot write in directory '" + dir_ + "': " + errno_text(e));
  }
  set_parts(parts);
}

DATAFLOW_INLINE void part_writer::set_parts(std::size_t parts) {
  files_.resize(parts);
  // Names that sort in partition order: part-00000, part-00001, ...
  digits_ = std::max<std::size_t>(5, std::to_string(parts).size());
}

DATAFLOW_INLINE part_writer::~part_writer() {
  if (committed_) return;
  files_.clear();  // removes the temporary files
  if (created_) ::rmdir(dir_.c_str());  // only if empty
}

DATAFLOW_INLINE void part_writer::partial(std::size_t p, fmt::memory_buffer& text) {
  if (!files_[p]) files_[p] = std::make_unique<output_file>(dir_ + "/" + name(p), op_);
  files_[p]->write(text.data(), text.size());
  text.clear();
}

DATAFLOW_INLINE void part_writer::complete(std::size_t p, fmt::memory_buffer&& text) {
  partial(p, text);
  files_[p]->finish();
}

DATAFLOW_INLINE void part_writer::commit() {
  remove_earlier_parts();
  try {
    rename_parts();
  } catch (...) {
    withdraw();  // all or none: the parts already in place go too
    throw;
  }
}

DATAFLOW_INLINE void part_writer::remove_earlier_parts() const {
  for (const std::string& n : directory_names(dir_)) {
    if (n.rfind("part-", 0) == 0 && n.find(".tmp-") == std::string::npos) {
      ::unlink((dir_ + "/" + n).c_str());
    }
  }
}

DATAFLOW_INLINE void part_writer::rename_parts() {
  for (std::size_t p = 0; p < files_.size(); ++p) {
    if (!files_[p]) throw io_error(dir_, op_ + ": partition " + std::to_string(p) + " was not written");
    files_[p]->commit();
  }
  committed_ = true;
}

DATAFLOW_INLINE void part_writer::withdraw() noexcept {
  for (std::size_t p = 0; p < files_.size(); ++p) {
    if (files_[p] && files_[p]->committed()) ::unlink((dir_ + "/" + name(p)).c_str());
  }
}

DATAFLOW_INLINE std::string part_writer::name(std::size_t p) const {
  std::string n = std::to_string(p);
  return "part-" + (rank_.empty() ? std::string() : rank_ + "-") + std::string(digits_ - n.size(), '0') + n +
         extension_;
}

DATAFLOW_INLINE void commit_parts_across_ranks(context_state& ctx, part_writer& writer) {
  settle(ctx, [&] {
    if (rank_of(ctx) == 0) writer.remove_earlier_parts();
  });
  try {
    settle(ctx, [&] { writer.rename_parts(); });
  } catch (...) {
    writer.withdraw();  // all or none: the parts of the ranks that could rename go too
    throw;
  }
}

}  // namespace dataflow::detail
#endif
