// stdin_lines: a stream source of the lines of standard input (or of any pipe, socket or file
// descriptor), handed on as they arrive; the stream ends when the input does.
//
// A pipe cannot be read again, so a stream over it cannot resume from a checkpoint: use
// follow_lines over files, or Kafka, where restarts must not lose events.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/stream/byte_chunks.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow {

/// Settings of stdin_lines.
struct stdin_options {
  /// The descriptor read (0: standard input); the source does not close it.
  int fd = 0;
  /// What errors call it.
  std::string name = "stdin";
  /// Bytes read at a time.
  std::size_t read_bytes = std::size_t{1} << 20;
};

/// A stream source of the lines of a descriptor, as std::string_view valid until the batch that
/// holds them is done (commit()). A last line without '\n' is handed on when the input ends.
class stdin_lines {
 public:
  using item_type = std::string_view;

  explicit stdin_lines(stdin_options options = {});

  /// Moves complete lines into `out` until it holds `max` or `deadline` passes; returns false
  /// once the input has ended (with its last lines in `out`).
  bool poll(std::vector<std::string_view>& out, std::size_t max, std::chrono::steady_clock::time_point deadline);
  /// Gives back the bytes of the lines handed on so far.
  void commit();
  /// Where a line handed on and not yet committed starts: "NAME at byte N".
  std::string position_of(std::string_view line) const;

 private:
  struct state;
  std::shared_ptr<state> s_;
};

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/errors.hpp>
#include <dataflow/storage/files.hpp>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

namespace dataflow {

struct stdin_lines::state {
  stdin_options options;
  mutable std::mutex m;
  std::shared_ptr<detail::byte_chunk> chunk = std::make_shared<detail::byte_chunk>();
  detail::chunk_pool pool;
  std::size_t pos = 0;            // in chunk: bytes before it are handed on
  std::uint64_t chunk_base = 0;   // the input offset of the chunk's first byte
  bool ended = false;             // read() returned 0
  struct held_chunk {
    std::shared_ptr<detail::byte_chunk> chunk;
    std::uint64_t base;
  };
  std::vector<held_chunk> held;
};

DATAFLOW_INLINE stdin_lines::stdin_lines(stdin_options options) : s_(std::make_shared<state>()) {
  if (options.fd < 0) throw usage_error("dataflow::stdin_lines: the descriptor must not be negative");
  if (options.read_bytes == 0) throw usage_error("dataflow::stdin_lines: read_bytes must be at least 1");
  s_->options = std::move(options);
}

DATAFLOW_INLINE void stdin_lines::commit() {
  std::lock_guard lock(s_->m);
  for (auto& h : s_->held) s_->pool.give(std::move(h.chunk));
  s_->held.clear();
}

DATAFLOW_INLINE std::string stdin_lines::position_of(std::string_view line) const {
  std::lock_guard lock(s_->m);
  for (const auto& h : s_->held) {
    const char* begin = h.chunk->data();
    if (line.data() >= begin && line.data() <= begin + h.chunk->size()) {
      return s_->options.name + " at byte " + std::to_string(h.base + static_cast<std::uint64_t>(line.data() - begin));
    }
  }
  return {};
}

DATAFLOW_INLINE bool stdin_lines::poll(std::vector<std::string_view>& out, std::size_t max,
                                       std::chrono::steady_clock::time_point deadline) {
  state& s = *s_;
  std::lock_guard lock(s.m);
  for (;;) {
    const detail::byte_chunk& c = *s.chunk;
    const std::size_t first = s.pos;
    for (std::size_t nl; out.size() < max && (nl = c.find_newline(s.pos)) != std::string::npos; s.pos = nl + 1) {
      out.emplace_back(c.data() + s.pos, nl - s.pos);
    }
    if (s.ended && out.size() < max && s.pos < c.size()) {
      out.emplace_back(c.data() + s.pos, c.size() - s.pos);  // the last line, without its '\n'
      s.pos = c.size();
    }
    if (s.pos != first && (s.held.empty() || s.held.back().chunk != s.chunk)) s.held.push_back({s.chunk, s.chunk_base});
    if (s.ended) return s.pos < c.size();  // open while lines are left for the next poll
    if (out.size() >= max) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{s.options.fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::clamp<std::int64_t>(wait, 1, 100)));
    if (ready < 0 && errno != EINTR) {
      const int e = errno;
      throw io_error(s.options.name, "stdin_lines: cannot wait for '" + s.options.name + "': " + detail::errno_text(e));
    }
    if (ready <= 0) continue;
    // A new chunk: the incomplete line, then what is read. The old one lives on while lines
    // handed on view into it.
    const std::size_t tail = c.size() - s.pos;
    auto next = s.pool.take(tail + s.options.read_bytes);
    std::memcpy(next->data(), c.data() + s.pos, tail);
    ssize_t got;
    do {
      got = ::read(s.options.fd, next->data() + tail, s.options.read_bytes);
    } while (got < 0 && errno == EINTR);
    if (got < 0 && errno == EAGAIN) continue;
    if (got < 0) {
      const int e = errno;
      throw io_error(s.options.name, "stdin_lines: cannot read '" + s.options.name + "': " + detail::errno_text(e));
    }
    next->shrink_to(tail + static_cast<std::size_t>(got));
    s.chunk_base += s.pos;
    s.pool.give(std::exchange(s.chunk, std::move(next)));
    s.pos = 0;
    s.ended = got == 0;
  }
}

}  // namespace dataflow
#endif
