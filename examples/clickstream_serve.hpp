// clickstream serve: the Lambda architecture whole over a log directory. A stream follows the
// log into a serving view's speed layer, a batch recomputes the view clicks_per_url (all-time
// clicks per URL) every so often over what the stream had read, and an HTTP server answers
// queries on the merge of both (dataflow::http).
#pragma once

#include "clickstream.hpp"

#include <dataflow/serving.hpp>
#include <dataflow/serving/query_server.hpp>

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>

namespace examples {

struct serve_settings {
  std::string path;       // the log: a directory, file or glob
  std::string views_dir;  // where the batch views' versions live
  std::string host = "127.0.0.1";
  int port = 8080;        // 0: a free port
  std::string port_file;  // where to write the port, once listening
  std::chrono::milliseconds recompute{60000};  // 0: only the first, at start
  std::chrono::milliseconds trigger{200};
};

/// SIGINT and SIGTERM, which end the server: blocked in every thread (call it before any thread
/// starts, the context's workers included) and taken by serve_clicks with sigtimedwait.
inline sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

/// Serves until SIGINT or SIGTERM (then exits cleanly), or until the stream fails (a malformed
/// line: rethrown, naming its position).
inline void serve_clicks(dataflow::context& stream_ctx, const serve_settings& s) {
  const sigset_t stop_signals = block_stop_signals();  // again: harmless, and enough for a caller that did not

  using counts = dataflow::serving_view<std::string, std::uint64_t, std::plus<std::uint64_t>>;
  dataflow::view_store store(s.views_dir);
  const auto latest = store.open_latest<std::string, std::uint64_t>("clicks_per_url");
  counts serving({}, latest);
  dataflow::follow_lines source(s.path, {});
  if (latest) source.restore_position(latest->stamp().position);  // on from what the view covers
  auto url_of = [](std::string_view line) { return std::string(parse_click(line).url); };

  dataflow::context batch_ctx(stream_ctx.threads());
  dataflow::lambda_job job(serving, store, "clicks_per_url",
                           [&](dataflow::view_store& st, const std::string& name, const dataflow::speed_mark& m) {
                             const auto logs = dataflow::logs_read(m.position);
                             auto urls = batch_ctx.read_lines(logs.paths, {.up_to = logs.up_to}).map(url_of);
                             return dataflow::write_view(urls.count_by_value(), st, name, logs.describe(), m);
                           });
  auto run = stream_ctx.stream(source)
                 .count_by_key(url_of)
                 .start_batches({.trigger = s.trigger, .name = "clickstream serve"},
                                [&](const dataflow::keyed_batch<std::string, std::uint64_t>& b) { serving.add(b); });

  dataflow::query_server server;
  server.add_view("clicks_per_url", serving);
  server.add_status([&] {
    return fmt::format("\"recomputations\":{},\"recompute_failures\":{},\"last_error\":{},\"last_recompute_seconds\":{},"
                       "\"stream\":{}",
                       job.recomputations(), job.failures(), dataflow::detail::json_string(job.last_error()),
                       job.last_seconds(), run.stats().json());
  });
  const int port = server.start(s.host, s.port);
  if (!s.port_file.empty()) {
    std::ofstream(s.port_file + ".part") << port << '\n';
    std::rename((s.port_file + ".part").c_str(), s.port_file.c_str());
  }
  std::fprintf(stderr,
               "clickstream: serving clicks_per_url on http://%s:%d/v1/views/clicks_per_url/URL (log %s, views in %s, "
               "%s)\n",
               s.host.c_str(), port, s.path.c_str(), s.views_dir.c_str(),
               latest ? ("resuming from view version " + std::to_string(latest->stamp().version)).c_str()
                      : "no view yet");
  if (s.recompute.count() > 0) job.every(s.recompute);

  for (;;) {
    const timespec tick{0, 100'000'000};
    const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      std::fprintf(stderr, "clickstream: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (run.finished()) break;  // it failed: wait() below rethrows why
  }
  job.stop();
  server.stop();
  run.stop();
  std::fprintf(stderr, "clickstream: served %llu requests; %llu recomputations\n",
               static_cast<unsigned long long>(server.requests()),
               static_cast<unsigned long long>(job.recomputations()));
}

}  // namespace examples
