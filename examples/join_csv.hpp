// The core of the join_csv tool: joins two CSV files on their first column.
//
// Each line is split after its first field into (key, rest): the key may be quoted (RFC 4180,
// so `"a,b",1` has the key `a,b`), the rest is kept as it is written, and a CRLF line loses its
// '\r'. A line with one field only, or a malformed key, is an error naming the file, line and
// column. The joined rows are key (quoted again when it needs it), the left rest and the right
// rest (empty for the missing side of an outer join), sorted so the output does not depend on
// threads.
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/hadoop/streaming.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examples {

/// (key, rest of the line) of a `key,rest` line, the key unquoted.
inline std::pair<std::string, std::string_view> split_key(std::string_view line, char sep) {
  dataflow::csv_fields fields(line, sep);
  std::string_view key = fields.next();
  if (fields.done()) {
    throw std::invalid_argument("no '" + std::string(1, sep) + "' after the first field of line '" +
                                std::string(line.substr(0, 80)) + "'");
  }
  return {std::string(key), fields.rest()};
}

enum class join_type { inner, left, right, full };

inline join_type parse_join_type(const std::string& s) {
  if (s == "inner") return join_type::inner;
  if (s == "left") return join_type::left;
  if (s == "right") return join_type::right;
  if (s == "full") return join_type::full;
  throw std::invalid_argument("--type must be inner, left, right or full, got '" + s + "'");
}

/// Joins two datasets of (key, rest) pairs and calls finish(lines): the joined rows as
/// `key,left,right` lines, sorted bytewise under the context's memory budget (a dataset, for a
/// sink to stream or to collect).
template <class Left, class Right, class Finish>
auto join_keyed(const Left& left, const Right& right, join_type type, Finish finish) {
  auto line = [](std::string_view k, std::string_view l, std::string_view r) {
    std::string s;
    s.reserve(k.size() + l.size() + r.size() + 4);
    dataflow::append_csv_field(s, k);
    s.append(1, ',').append(l).append(1, ',').append(r);
    return s;
  };
  auto text = [](const auto& v) -> std::string_view {
    if constexpr (requires { v.has_value(); }) {
      return v ? std::string_view(*v) : std::string_view();
    } else {
      return std::string_view(v);
    }
  };
  auto format = [&](auto joined) {
    return finish(joined
                      .map([=](const auto& row) { return line(row.first, text(row.second.first), text(row.second.second)); })
                      .sort());
  };
  switch (type) {
    case join_type::inner: return format(left.join(right));
    case join_type::left: return format(left.left_join(right));
    case join_type::right: return format(left.right_join(right));
    case join_type::full: break;
  }
  return format(left.full_join(right));
}

/// Joins two CSV files on their first column and calls finish(lines), as join_keyed does.
template <class Finish>
auto join_csv_lines(dataflow::context& ctx, const std::string& left_file, const std::string& right_file,
                    join_type type, bool skip_header, Finish finish) {
  const dataflow::read_options options{.skip_header = skip_header};
  auto parse = [](std::string_view line) { return split_key(line, ','); };
  return join_keyed(ctx.read_lines(left_file, options).map(parse), ctx.read_lines(right_file, options).map(parse),
                    type, std::move(finish));
}

/// A Hadoop Streaming mapper of either side: its split's lines as `key TAB Lrest` (left) or
/// `key TAB Rrest` (right) records.
inline void join_csv_mapper(dataflow::context& ctx, bool left_side, bool skip_header) {
  const char tag = left_side ? 'L' : 'R';
  dataflow::hadoop::write_records(ctx.read_lines("-", {.skip_header = skip_header}).map([tag](std::string_view line) {
    auto [key, rest] = split_key(line, ',');
    std::string value(1, tag);
    value.append(rest);
    return std::pair{std::move(key), std::move(value)};
  }));
}

/// The Hadoop Streaming reducer: the mappers' records (standard input), split by side again and
/// joined; finish(lines) as join_keyed.
template <class Finish>
auto join_csv_reducer(dataflow::context& ctx, join_type type, Finish finish) {
  auto records = dataflow::hadoop::read_records<std::string, std::string>(ctx);
  auto side = [&](char tag) {
    return records.filter([tag](const auto& kv) {
                    if (kv.second.empty() || (kv.second[0] != 'L' && kv.second[0] != 'R')) {
                      throw std::invalid_argument("a value that is not tagged L or R: '" + kv.second.substr(0, 80) + "'");
                    }
                    return kv.second[0] == tag;
                  })
        .map([](const auto& kv) { return std::pair{kv.first, std::string_view(kv.second).substr(1)}; });
  };
  return join_keyed(side('L'), side('R'), type, std::move(finish));
}

/// Joined rows as `key,left,right` lines, sorted bytewise.
inline std::vector<std::string> join_csv(dataflow::context& ctx, const std::string& left_file,
                                         const std::string& right_file, join_type type,
                                         bool skip_header) {
  return join_csv_lines(ctx, left_file, right_file, type, skip_header, [](auto lines) { return lines.collect(); });
}

}  // namespace examples
