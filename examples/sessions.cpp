// sessions: sessions of a clickstream per country: users, sessions, events and mean session
// length in seconds, as CSV in country order.
//
//   sessions [--threads N] [--budget SIZE] [--gap SECONDS] EVENTS.csv USERS.csv
#include "cli.hpp"
#include "sessions.hpp"

#include <fmt/format.h>

int main(int argc, char** argv) {
  const char* usage = "usage: sessions [--threads N] [--budget SIZE] [--gap SECONDS] EVENTS.csv USERS.csv\n";
  return examples::tool_main("sessions", usage, [&] {
    examples::cli args(argc, argv);
    dataflow::context ctx = examples::context_from(args);
    const auto gap = static_cast<std::int64_t>(args.number("--gap", 1800));
    const auto files = args.positional(2);
    if (files.size() != 2) throw examples::usage_error("expected EVENTS.csv and USERS.csv");
    const auto rows = examples::sessions_by_country(ctx, {files[0]}, {files[1]}, gap);
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out), "country,users,sessions,events,mean_session_seconds\n");
    for (const auto& [country, f] : rows) {
      std::string name;
      dataflow::append_csv_field(name, country, ',');
      fmt::format_to(std::back_inserter(out), "{},{},{},{},{:.1f}\n", name, f.users, f.sessions, f.events,
                     static_cast<double>(f.seconds) / static_cast<double>(f.sessions));
    }
    examples::write_stdout({out.data(), out.size()});
  });
}
