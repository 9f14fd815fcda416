// clickstream: clicks per URL (or user) per minute of event time, from a log directory that grows.
//
//   clickstream follow [--per-user] [--delay SECONDS] [--until-idle SECONDS] [--state DIR]
//                      [--checkpoint-every SECONDS] [--trigger SECONDS] [--threads N]
//                      [--dead-letters FILE] [--stats text|json] [--progress] [--output DIR]
//                      PATH | --kafka BROKERS --topic TOPIC [--partitions P,P...]
//       follows the files at PATH (a directory, file or glob; - for standard input), or a
//       Kafka topic whose message values are clicks, and prints each one-minute window as the watermark passes it:
//       WINDOW_START_MS<TAB>URL<TAB>COUNT. With --state, checkpoints go to DIR, and a restart
//       resumes there: every click is counted once (a window that closed after the last
//       checkpoint is printed again, with the same count). A malformed line stops the stream
//       with an error naming its position, or with --dead-letters goes to FILE. With --output
//       (and --state), the lines go to DIR/part-N, one file per checkpoint, each line once
//       however the runs end: read the files in order of name.
//   clickstream batch [--per-user] PATH
//       the same lines for the files as they are, sorted (what a finished log must give)
//   clickstream generate [--total N] [--rate PER_SECOND] [--disorder MS] [--late FRACTION]
//                        [--seed S] [--start EPOCH_MS] FILE
//       appends realistic clicks to FILE: EPOCH_MS USER URL
//   clickstream serve --views DIR [--recompute SECONDS] [--port N] [--host H] [--port-file FILE]
//                     [--trigger SECONDS] [--threads N] PATH
//       follows PATH and serves all-time clicks per URL over HTTP (the view clicks_per_url):
//       GET /v1/views/clicks_per_url/URL, ?top=N, ?prefix=P, /v1/status, /metrics. A batch
//       view is recomputed every --recompute seconds (60) over what the stream had read and
//       kept in DIR; a restart goes on from the newest. Ends on SIGINT or SIGTERM.
#include "cli.hpp"
#include "clickstream.hpp"

#if defined(EXAMPLES_WITH_KAFKA)
#include <dataflow/kafka.hpp>
#endif
#if defined(EXAMPLES_WITH_HTTP)
#include "clickstream_serve.hpp"
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace {

const char* usage =
    "usage: clickstream follow [--per-user] [--delay SECONDS] [--until-idle SECONDS] [--state DIR]\n"
    "                          [--checkpoint-every SECONDS] [--trigger SECONDS] [--threads N]\n"
    "                          [--dead-letters FILE] [--stats text|json] [--progress] [--output DIR]\n"
    "                          PATH | --kafka BROKERS --topic TOPIC [--partitions P,P...]\n"
    "       clickstream batch [--per-user] PATH\n"
    "       clickstream generate [--total N] [--rate PER_SECOND] [--disorder MS] [--late FRACTION] "
    "[--seed S] [--start EPOCH_MS] FILE\n"
    "       clickstream serve --views DIR [--recompute SECONDS] [--port N] [--host H] [--port-file FILE]\n"
    "                         [--trigger SECONDS] [--threads N] PATH\n";

/// A number of seconds, decimals allowed, as milliseconds.
std::chrono::milliseconds seconds_option(examples::cli& args, const std::string& name, double fallback) {
  const std::string text = args.text(name, "");
  if (text.empty()) return std::chrono::milliseconds(static_cast<std::int64_t>(fallback * 1000));
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || !(v >= 0) || v > 1e9) throw examples::usage_error(name + " needs a number of seconds, got '" + text + "'");
  return std::chrono::milliseconds(static_cast<std::int64_t>(v * 1000));
}

/// follow --kafka: the clicks of a topic's messages.
void follow_kafka(dataflow::context& ctx, const std::string& brokers, examples::cli& args,
                  const examples::follow_settings& s, const std::function<void(const std::string&)>& print) {
#if defined(EXAMPLES_WITH_KAFKA)
  dataflow::kafka_options k{.brokers = brokers, .topic = args.text("--topic", ""), .end_when_idle = s.until_idle};
  if (k.topic.empty()) throw examples::usage_error("--kafka needs --topic");
  const std::string parts = args.text("--partitions", "");
  for (std::size_t at = 0; at < parts.size();) {
    std::size_t end = parts.find(',', at);
    if (end == std::string::npos) end = parts.size();
    const std::string p = parts.substr(at, end - at);
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos || p.size() > 9) {
      throw examples::usage_error("--partitions takes partition numbers separated by commas, got '" + parts + "'");
    }
    k.partitions.push_back(std::stoi(p));
    at = end + 1;
  }
  if (!args.positional(0).empty()) throw examples::usage_error("follow --kafka takes no PATH");
  examples::follow_clicks(ctx, dataflow::kafka_topic(std::move(k)), s, print);
#else
  (void)ctx, (void)brokers, (void)args, (void)s, (void)print;
  throw examples::usage_error("this clickstream was built without librdkafka: --kafka is not available");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  return examples::tool_main("clickstream", usage, [&] {
    if (argc < 2) throw examples::usage_error("a command is needed: follow, batch, generate or serve");
    const std::string command = argv[1];
    // --per-user and --progress take no value: take them out before the options that do.
    std::vector<char*> rest{argv[0]};
    bool per_user = false, progress = false;
    for (int i = 2; i < argc; ++i) {
      if (std::string(argv[i]) == "--per-user") {
        per_user = true;
      } else if (std::string(argv[i]) == "--progress") {
        progress = true;
      } else {
        rest.push_back(argv[i]);
      }
    }
    examples::cli args(static_cast<int>(rest.size()), rest.data());
    const auto by = per_user ? examples::click_key::user : examples::click_key::url;
    if (command == "follow") {
      examples::follow_settings s;
      s.by = by;
      s.delay = seconds_option(args, "--delay", 10);
      s.until_idle = seconds_option(args, "--until-idle", 0);
      s.state_dir = args.text("--state", "");
      s.checkpoint_every = seconds_option(args, "--checkpoint-every", 10);
      s.trigger = seconds_option(args, "--trigger", 0.2);
      s.dead_letters = args.text("--dead-letters", "");
      s.output_dir = args.text("--output", "");
      if (!s.output_dir.empty() && s.state_dir.empty()) throw examples::usage_error("--output needs --state");
      s.stats = args.text("--stats", "");
      if (!s.stats.empty() && s.stats != "text" && s.stats != "json") {
        throw examples::usage_error("--stats takes text or json, got '" + s.stats + "'");
      }
      s.progress = progress;
      dataflow::context ctx = examples::context_from(args);
      auto print = [](const std::string& line) { examples::write_stdout(line); };
      const std::string brokers = args.text("--kafka", "");
      if (brokers.empty()) {
        const std::string path = args.positional(1).at(0);
        if (path == "-") {
          if (!s.state_dir.empty()) throw examples::usage_error("standard input cannot be read again: no --state with -");
          examples::follow_clicks(ctx, dataflow::stdin_lines(), s, print);
        } else {
          examples::follow_clicks(ctx, dataflow::follow_lines(path, {.end_when_idle = s.until_idle}), s, print);
        }
      } else {
        follow_kafka(ctx, brokers, args, s, print);
      }
    } else if (command == "batch") {
      dataflow::context ctx = examples::context_from(args);
      const std::string path = args.positional(1).at(0);
      examples::batch_click_lines(ctx, path, by).write_lines("-");
    } else if (command == "generate") {
      examples::generate_settings g;
      g.total = args.number("--total", g.total);
      g.rate = args.number("--rate", g.rate);
      g.disorder_ms = static_cast<std::int64_t>(args.number("--disorder", static_cast<std::size_t>(g.disorder_ms)));
      g.seed = args.number("--seed", g.seed);
      g.start_ms = static_cast<std::int64_t>(args.number("--start", static_cast<std::size_t>(g.start_ms)));
      const std::string late = args.text("--late", "0");
      char* end = nullptr;
      g.late_fraction = std::strtod(late.c_str(), &end);
      if (*end != '\0' || !(g.late_fraction >= 0 && g.late_fraction <= 1)) {
        throw examples::usage_error("--late needs a fraction between 0 and 1, got '" + late + "'");
      }
      examples::generate_clicks(args.positional(1).at(0), g);
    } else if (command == "serve") {
#if defined(EXAMPLES_WITH_HTTP)
      examples::serve_settings s;
      s.views_dir = args.text("--views", "");
      if (s.views_dir.empty()) throw examples::usage_error("serve needs --views DIR");
      s.recompute = seconds_option(args, "--recompute", 60);
      s.trigger = seconds_option(args, "--trigger", 0.2);
      s.host = args.text("--host", s.host);
      s.port = static_cast<int>(args.number("--port", 8080));
      if (s.port > 65535) throw examples::usage_error("--port takes 0 to 65535");
      s.port_file = args.text("--port-file", "");
      examples::block_stop_signals();  // before the context's threads start: they inherit it
      dataflow::context ctx = examples::context_from(args);
      s.path = args.positional(1).at(0);
      examples::serve_clicks(ctx, s);
#else
      throw examples::usage_error("this clickstream was built without cpp-httplib: serve is not available");
#endif
    } else {
      throw examples::usage_error("unknown command '" + command + "': follow, batch, generate or serve");
    }
  });
}
