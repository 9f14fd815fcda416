// The core of the sessions tool: clickstream events cut into sessions per user (a gap of more
// than `gap` between a user's consecutive events starts a new one), then summed up per country
// of the user. A secondary sort (each user's events in time order), a join and CSV in and out.
//
//   events.csv: user,ts,page          users.csv: user,country
//               u1,2026-12-02T10:15:30Z,/home   u1,NL
#pragma once

#include <dataflow/dataflow.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace examples {

struct event {
  std::string user;
  dataflow::timestamp ts;
  std::string page;
};

struct user_row {
  std::string user, country;
};

/// Sessions of a user or of a country (added up with +); seconds from each session's first
/// event to its last.
struct session_figures {
  std::uint64_t users = 0, sessions = 0, events = 0;
  std::int64_t seconds = 0;
  friend session_figures operator+(const session_figures& a, const session_figures& b) {
    return {a.users + b.users, a.sessions + b.sessions, a.events + b.events, a.seconds + b.seconds};
  }
  bool operator==(const session_figures&) const = default;
};

/// One user's events in time order, cut where the gap exceeds `gap_seconds`.
inline session_figures sessions_of(std::span<const event> events, std::int64_t gap_seconds) {
  session_figures f{1, 0, events.size(), 0};
  for (std::size_t i = 0, start = 0; i < events.size(); ++i) {
    const bool last = i + 1 == events.size() ||
                      events[i + 1].ts.micros - events[i].ts.micros > gap_seconds * dataflow::timestamp::per_second;
    if (last) {
      ++f.sessions;
      f.seconds += (events[i].ts.micros - events[start].ts.micros) / dataflow::timestamp::per_second;
      start = i + 1;
    }
  }
  return f;
}

/// Per country (users missing from the users file under "unknown"), sorted by country.
inline std::vector<std::pair<std::string, session_figures>> sessions_by_country(
    dataflow::context& ctx, const std::vector<std::string>& event_files,
    const std::vector<std::string>& user_files, std::int64_t gap_seconds) {
  auto per_user = ctx.read_csv<event>(event_files)
                      .group_by([](const event& e) { return std::string_view(e.user); },
                                [](const event& a, const event& b) { return a.ts < b.ts; })
                      .map([gap_seconds](const auto& user) {
                        return std::pair(std::string(user.first), sessions_of(user.second, gap_seconds));
                      });
  auto countries = ctx.read_csv<user_row>(user_files).map([](const user_row& u) {
    return std::pair(u.user, u.country);
  });
  auto result = per_user.left_join(countries)
                    .map([](const auto& row) {
                      const auto& [figures, country] = row.second;
                      return std::pair(country.value_or("unknown"), figures);
                    })
                    .reduce_by_key(std::plus<>{})
                    .collect();
  std::sort(result.begin(), result.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return result;
}

}  // namespace examples
