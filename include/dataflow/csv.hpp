// CSV fields (RFC 4180): split a line into fields, unquoting the quoted ones.
//
// A field is either bare (no quote in it) or quoted: it starts with '"', may hold separators,
// '\r' and "" (one quote), and ends with a quote followed by the separator or the end of the
// line. A trailing '\r' of a CRLF line is dropped. Anything else (text after a closing quote, a
// quote with no end on the line, a bare field holding a quote) is an error that gives the byte
// column, so that a source can name the file, line and column. Fields that need no unquoting
// are views into the line: no copy, no allocation.
//
// @code
// dataflow::csv_fields f(line, ',');
// std::string_view key = f.next(), value = f.next();   // f.done() once the line is used up
// @endcode
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/errors.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace dataflow {

/// Reports a line that is not valid CSV; column() is the 1-based byte column of the problem.
class csv_error : public error {
 public:
  csv_error(const std::string& what, std::size_t column);
  std::size_t column() const noexcept { return column_; }

 private:
  std::size_t column_;
};

/// The fields of one CSV line, read left to right.
class csv_fields {
 public:
  csv_fields(std::string_view line, char separator = ',') : line_(line), sep_(separator) {
    if (!line_.empty() && line_.back() == '\r') line_.remove_suffix(1);
  }

  /// True once every field was read (a line always has at least one field, maybe empty).
  bool done() const noexcept { return pos_ > line_.size(); }
  /// The byte offset in the line where the next field starts.
  std::size_t position() const noexcept { return pos_; }
  /// The rest of the line from the next field on, as it is written.
  std::string_view rest() const noexcept { return done() ? std::string_view() : line_.substr(pos_); }

  /// Returns the next field, unquoted. Its view is valid until the next call (a quoted field
  /// with "" is unquoted into a buffer of this object) or as long as the line.
  std::string_view next() {
    if (done()) throw csv_error("missing field " + std::to_string(field_ + 1), line_.size() + 1);
    ++field_;
    const std::size_t start = pos_;
    if (start < line_.size() && line_[start] == '"') return quoted(start);
    // One pass over a bare field: it ends at the separator and may not hold a quote.
    std::size_t end = start;
    for (; end < line_.size(); ++end) {
      const char c = line_[end];
      if (c == sep_) break;
      if (c == '"') throw csv_error("a quote inside an unquoted field", end + 1);
    }
    const std::string_view f = line_.substr(start, end - start);
    pos_ = end + 1;  // past the separator, or one past the end: done
    return f;
  }

  /// Fields read so far.
  std::size_t count() const noexcept { return field_; }

 private:
  std::string_view quoted(std::size_t start) {
    std::size_t i = start + 1;
    bool copied = false;
    std::size_t run = i;  // start of the text not yet copied
    for (;;) {
      const std::size_t q = line_.find('"', i);
      if (q == std::string_view::npos) {
        throw csv_error("a quoted field that does not end on its line", start + 1);
      }
      if (q + 1 < line_.size() && line_[q + 1] == '"') {  // "" is one quote
        if (!copied) buf_.clear();
        buf_.append(line_.substr(run, q + 1 - run));
        copied = true;
        i = q + 2;
        run = i;
        continue;
      }
      // The closing quote: the separator or the end of the line must follow.
      if (q + 1 < line_.size() && line_[q + 1] != sep_) {
        throw csv_error("text after the closing quote of a field", q + 2);
      }
      pos_ = q + 2;
      if (!copied) return line_.substr(start + 1, q - start - 1);
      buf_.append(line_.substr(run, q - run));
      return buf_;
    }
  }

  std::string_view line_;
  char sep_;
  std::size_t pos_ = 0;
  std::size_t field_ = 0;
  std::string buf_;
};

/// Appends `field` to `out` (a std::string or an fmt::memory_buffer) as one CSV field: quoted
/// (quotes doubled) when it holds the separator, a quote, '\r' or '\n'; as it is otherwise.
template <class Out>
void append_csv_field(Out& out, std::string_view field, char separator = ',') {
  bool quote = false;
  for (char c : field) quote = quote || c == separator || c == '"' || c == '\n' || c == '\r';
  if (!quote) {
    out.append(field.data(), field.data() + field.size());
    return;
  }
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
namespace dataflow {

DATAFLOW_INLINE csv_error::csv_error(const std::string& what, std::size_t column)
    : error("dataflow: CSV: " + what + " at column " + std::to_string(column)), column_(column) {}

}  // namespace dataflow
#endif
