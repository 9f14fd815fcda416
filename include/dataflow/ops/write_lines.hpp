// write_lines: every item as one line of text in a file, in partition order.
//
// Partitions are formatted in parallel into memory and written in order as soon as all earlier
// partitions are written. The file is written under a temporary name beside the target and
// renamed over it only when everything succeeded, so a failed run leaves no file that looks
// finished (and no temporary file either).
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/action.hpp>
#include <dataflow/storage/files.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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

/// A file being written under a temporary name; removed unless commit() renames it.
class staged_file {
 public:
  explicit staged_file(std::string path) : path_(std::move(path)) {
    if (path_ == "-") {  // standard output: written in place, nothing to rename
      std::fflush(stdout);  // what the program printed before comes first
      fd_ = file_handle(::dup(STDOUT_FILENO));
      if (fd_.get() < 0) {
        int e = errno;
        throw io_error(path_, "write_lines: cannot write to standard output: " + errno_text(e));
      }
      temp_ = "standard output";
      stdout_ = true;
      return;
    }
    static std::atomic<unsigned> counter{0};
    temp_ = path_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    fd_ = file_handle(::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd_.get() < 0) {
      int e = errno;
      throw io_error(path_, "write_lines: cannot create '" + temp_ + "': " + errno_text(e));
    }
  }
  ~staged_file() {
    if (!committed_ && !stdout_) {
      fd_.close();
      ::unlink(temp_.c_str());
    }
  }
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;

  void write(const char* data, std::size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_.get(), data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        throw io_error(path_, "write_lines: cannot write '" + temp_ + "': " + errno_text(e));
      }
      data += w;
      n -= static_cast<std::size_t>(w);
    }
  }

  void commit() {
    if (::close(fd_.release()) != 0) {  // close reports delayed write errors (NFS, quota)
      int e = errno;
      throw io_error(path_, "write_lines: cannot close '" + temp_ + "': " + errno_text(e));
    }
    if (stdout_) {
      committed_ = true;
      return;
    }
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      int e = errno;
      throw io_error(path_, "write_lines: cannot rename '" + temp_ + "' to '" + path_ +
                                "': " + errno_text(e));
    }
    committed_ = true;
  }

 private:
  std::string path_;
  std::string temp_;
  file_handle fd_;
  bool committed_ = false;
  bool stdout_ = false;
};

/// Writes partitions' text to a staged file in partition order, as they complete.
class ordered_writer {
 public:
  ordered_writer(staged_file& file, std::size_t parts) : file_(file), ready_(parts) {}

  /// Writes a partition's text so far if every earlier partition is written (so that a long
  /// partition in order, such as a merged sort, streams out instead of piling up in memory).
  void partial(std::size_t p, fmt::memory_buffer& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (p != next_) return;
    file_.write(text.data(), text.size());
    text.clear();
  }

  void complete(std::size_t p, fmt::memory_buffer&& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_[p].emplace(std::move(text));
    while (next_ < ready_.size() && ready_[next_]) {
      file_.write(ready_[next_]->data(), ready_[next_]->size());
      ready_[next_].reset();
      ++next_;
    }
  }

 private:
  staged_file& file_;
  std::mutex mutex_;
  std::vector<std::optional<fmt::memory_buffer>> ready_;
  std::size_t next_ = 0;
};

template <class T>
struct write_lines_sink {
  write_lines_sink(ordered_writer* w, std::size_t p, const std::string* l)
      : writer(w), partition(p), label(l) {}

  fmt::memory_buffer text;
  ordered_writer* writer;
  std::size_t partition;
  const std::string* label;  // a user's fmt::formatter may throw

  template <class X>
  void operator()(X&& x) {
    const T& item = x;
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      std::string_view s = item;
      text.append(s.data(), s.data() + s.size());
      text.push_back('\n');
    } else {
      invoke_user(*label, [&] { fmt::format_to(std::back_inserter(text), "{}\n", item); });
    }
  }
  void end_batch() {
    if (text.size() >= (std::size_t{1} << 20)) writer->partial(partition, text);
  }
  void end_partition() { writer->complete(partition, std::move(text)); }
};

}  // namespace detail

template <class T, class Stack>
void dataset<T, Stack>::write_lines(const std::string& path) const {
  static_assert(std::is_convertible_v<const T&, std::string_view> || fmt::is_formattable<T>::value,
                "dataflow::write_lines: items must be strings or formattable with fmt; map them "
                "to std::string first, or specialize fmt::formatter for the item type");
  detail::action_run<dataset> action(*this, "write_lines");
  const std::size_t parts = action.partitions();
  detail::staged_file file(path);
  detail::ordered_writer writer(file, parts);
  std::vector<detail::write_lines_sink<T>> sinks;
  sinks.reserve(parts);
  for (std::size_t p = 0; p < parts; ++p) sinks.emplace_back(&writer, p, &action.label());
  action.run([&](std::size_t p) -> detail::write_lines_sink<T>& { return sinks[p]; });
  file.commit();
}

}  // namespace dataflow
