// Hadoop Streaming (and Spark's RDD.pipe): a pipeline's map side and reduce side as programs
// that read and write `key TAB value` lines, for clusters that run any executable that way.
//
// A mapper reads its split of the input (standard input) and writes records; Hadoop sorts them
// by key and hands each reducer its keys' records, sorted; a combiner runs between the two on a
// mapper's own records. Each role here is a whole pipeline on every core of its node: a mapper
// may already combine what it read (reduce_by_key), and a reducer reduces, groups or joins
// with the library's shuffles, so it does not depend on how its input is ordered.
//
// Keys and values travel as text (text<T>): numbers as they print, strings with '\\', TAB,
// newline and carriage return escaped as \\, \t, \n and \r, so that any string survives the
// line protocol. A line that is not a record (a bad escape, a number that does not parse) is an
// error naming the file and line. counter() and status() speak Hadoop's reporter protocol on
// standard error.
//
// @code
// // mapper: words of the split, counted on every core, as `word TAB count`
// dataflow::hadoop::write_records(ctx.read_lines("-").flat_map(dataflow::split_words)
//     .map([](std::string_view w) { return std::pair{w, 1ull}; }).reduce_by_key(std::plus<>{}));
// // combiner and reducer: the same records, summed again
// dataflow::hadoop::write_records(dataflow::hadoop::read_records<std::string, std::uint64_t>(ctx)
//     .reduce_by_key(std::plus<>{}));
// @endcode
#pragma once

#include <dataflow/context.hpp>
#include <dataflow/dataset.hpp>
#include <dataflow/detail/tab_escape.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace dataflow::hadoop {

/// Appends `s` to `out` with '\\', TAB, newline and carriage return escaped.
inline void append_escaped(std::string& out, std::string_view s) { detail::append_tab_escaped(out, s); }

/// The string append_escaped wrote; throws std::invalid_argument for a backslash that starts
/// no escape (and for a bare TAB, which would have been escaped).
inline std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\t') throw std::invalid_argument("an unescaped TAB inside a field");
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == s.size()) throw std::invalid_argument("a '\\' at the end of a field");
    switch (s[i]) {
      case '\\': out += '\\'; break;
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      default: throw std::invalid_argument(std::string("an unknown escape '\\") + s[i] + "'");
    }
  }
  return out;
}

/// How a key or value is written as text and read back. Built in: integers, floating point
/// (shortest round-trip form) and strings (escaped). Specialize it for a type of your own with
/// `static void write(std::string& out, const T&)` and `static T read(std::string_view)`, which
/// throws std::invalid_argument naming what is wrong.
template <class T, class = void>
struct text;

template <class T>
struct text<T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>> {
  static void write(std::string& out, T x) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, x);
    out.append(buf, r.ptr);
  }
  static T read(std::string_view s) {
    T x{};
    auto r = std::from_chars(s.data(), s.data() + s.size(), x);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
      throw std::invalid_argument("not a number: '" + std::string(s.substr(0, 80)) + "'");
    }
    return x;
  }
};

template <>
struct text<std::string> {
  static void write(std::string& out, std::string_view s) { append_escaped(out, s); }
  static std::string read(std::string_view s) { return unescape(s); }
};

template <>
struct text<std::string_view> {
  static void write(std::string& out, std::string_view s) { append_escaped(out, s); }
};

/// `key TAB value` for one record (without the newline).
template <class K, class V>
std::string record_line(const K& key, const V& value) {
  std::string line;
  text<K>::write(line, key);
  line += '\t';
  text<V>::write(line, value);
  return line;
}

/// Parses `key TAB value`: the key is up to the first TAB (a line with none is a key with an
/// empty value, as Hadoop reads it).
template <class K, class V>
std::pair<K, V> parse_record(std::string_view line) {
  const std::size_t tab = line.find('\t');
  const std::string_view key = line.substr(0, tab);
  const std::string_view value = tab == std::string_view::npos ? std::string_view() : line.substr(tab + 1);
  return {text<K>::read(key), text<V>::read(value)};
}

/// The records of `path` (standard input by default) as (key, value) pairs. A malformed line
/// fails the run with a stage error naming the file and line.
template <class K, class V>
auto read_records(context& ctx, const std::string& path = "-") {
  return ctx.read_lines(path).map([](std::string_view line) { return parse_record<K, V>(line); });
}

/// Writes a dataset of (key, value) pairs as records to `path` (standard output by default).
template <class Dataset>
void write_records(const Dataset& pairs, const std::string& path = "-") {
  using T = typename Dataset::value_type;
  using K = std::remove_cvref_t<typename T::first_type>;
  using V = std::remove_cvref_t<typename T::second_type>;
  pairs.map([](const T& kv) { return record_line<K, V>(kv.first, kv.second); }).write_lines(path);
}

/// Adds `amount` to a job counter (Hadoop's reporter protocol, on standard error). Commas in
/// the group or name, which the protocol cannot carry, become spaces.
inline void counter(std::string_view group, std::string_view name, std::uint64_t amount) {
  auto clean = [](std::string_view s) {
    std::string c(s);
    for (char& ch : c) {
      if (ch == ',' || ch == '\n') ch = ' ';
    }
    return c;
  };
  std::fprintf(stderr, "reporter:counter:%s,%s,%llu\n", clean(group).c_str(), clean(name).c_str(),
               static_cast<unsigned long long>(amount));
}

/// Sets the task's status line (Hadoop's reporter protocol, on standard error).
inline void status(std::string_view message) {
  std::string m(message);
  for (char& ch : m) {
    if (ch == '\n') ch = ' ';
  }
  std::fprintf(stderr, "reporter:status:%s\n", m.c_str());
}

/// True when this mapper's split starts its file (Hadoop passes the split's byte offset as
/// mapreduce_map_input_start; without it, as when run by hand, the input is a whole file): a
/// mapper of a file with a header line drops that line then, and only then.
inline bool split_starts_file() {
  for (const char* name : {"mapreduce_map_input_start", "map_input_start"}) {
    if (const char* v = std::getenv(name)) return std::string_view(v) == "0";
  }
  return true;
}

/// The file this mapper's split belongs to (mapreduce_map_input_file), or "" when not known.
inline std::string split_file() {
  for (const char* name : {"mapreduce_map_input_file", "map_input_file"}) {
    if (const char* v = std::getenv(name)) return v;
  }
  return {};
}

}  // namespace dataflow::hadoop
