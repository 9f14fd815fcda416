// The serving layer's reads: point lookups in a batch view of $DATAFLOW_BENCH_VIEW_KEYS keys
// (default 10M, on disk, page cache warm), the same merged with a live speed layer, HTTP
// requests to the query server on loopback (kept-alive connections, and a new connection per
// request), each alone and while the speed layer ingests at a steady rate, and, side by side in the same run, Redis (the
// serving store many teams put behind a speed layer) fed the same counts with HINCRBY and read
// with HGET over loopback, one request per round trip as the HTTP clients do.
//
// Figures: lookups or requests per second over all threads, p99 latency in microseconds (of
// every 16th call), and for the feeds events per second. Redis runs when `redis-server` is on
// the PATH (Debian's redis-server); otherwise its rows say so and are skipped.
#include "bench_common.hpp"
#include "datagen.hpp"

#include <dataflow/serving.hpp>
#include <dataflow/serving/query_server.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using counts = dataflow::serving_view<std::string, std::uint64_t, std::plus<std::uint64_t>>;

std::uint64_t view_keys() { return bench::env_size("DATAFLOW_BENCH_VIEW_KEYS", 10'000'000); }

std::string key_of(std::uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user-%010llu", static_cast<unsigned long long>(i));
  return buf;
}

/// The view of view_keys() keys (value: the key's number mod 1000), written once.
dataflow::view_store& store() {
  static dataflow::view_store s = [] {
    dataflow::view_store st(bench::data_path("serving-views"));
    const std::string name = "users-" + std::to_string(view_keys()) + "-8k";
    if (st.versions(name).empty()) {
      st.publish<std::string, std::uint64_t>(name, "generated", 0, [](dataflow::view_writer<std::string, std::uint64_t>& w) {
        for (std::uint64_t i = 0; i < view_keys(); ++i) w.add(key_of(i), i % 1000);
      });
    }
    bench::warm_file(st.path_of(name, st.versions(name).back()));
    return st;
  }();
  return s;
}

std::shared_ptr<const dataflow::view_reader<std::string, std::uint64_t>> view() {
  return store().open_latest<std::string, std::uint64_t>("users-" + std::to_string(view_keys()) + "-8k");
}

/// A speed layer's batch: `n` keys of the view's range, one click each.
void feed(counts& s, std::mt19937_64& rng, std::size_t n) {
  std::vector<std::pair<std::string, std::uint64_t>> pairs;
  for (std::size_t i = 0; i < n; ++i) pairs.emplace_back(key_of(rng() % view_keys()), 1);
  const std::string position;
  s.add({0, pairs, position, n});
}

/// The speed layer's ingestion while readers run: batches of 10K events at
/// $DATAFLOW_BENCH_INGEST_RATE events per second (default 200K: a busy click stream), each batch
/// as the stream would hand it on.
class feeder {
 public:
  explicit feeder(counts& s) : thread_([this, &s] {
    const double rate = static_cast<double>(bench::env_size("DATAFLOW_BENCH_INGEST_RATE", 200'000));
    const auto begin = clock_type::now();
    std::mt19937_64 r(99);
    while (!done_.load()) {
      feed(s, r, 10'000);
      fed_ += 10'000;
      std::this_thread::sleep_until(begin + std::chrono::duration_cast<clock_type::duration>(
                                                std::chrono::duration<double>(static_cast<double>(fed_.load()) / rate)));
    }
  }) {}
  ~feeder() { stop(); }
  /// Stops; returns the events fed.
  std::uint64_t stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
    return fed_.load();
  }

 private:
  std::atomic<bool> done_{false};
  std::atomic<std::uint64_t> fed_{0};
  std::thread thread_;
};

/// Runs `calls` calls of call(thread, rng) on `threads` threads; sets the counters.
template <class Call>
void measure(benchmark::State& state, std::size_t threads, std::size_t calls, Call&& call) {
  std::vector<double> samples;
  std::uint64_t total = 0;
  double seconds = 0;
  for (auto _ : state) {
    std::vector<std::vector<double>> per(threads);
    std::vector<std::thread> workers;
    const auto begin = clock_type::now();
    for (std::size_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        std::mt19937_64 rng(t + 1);
        for (std::size_t i = 0; i < calls / threads; ++i) {
          if (i % 16 == 0) {
            const auto a = clock_type::now();
            call(t, rng);
            per[t].push_back(std::chrono::duration<double, std::micro>(clock_type::now() - a).count());
          } else {
            call(t, rng);
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    seconds += std::chrono::duration<double>(clock_type::now() - begin).count();
    total += calls / threads * threads;
    for (auto& p : per) samples.insert(samples.end(), p.begin(), p.end());
  }
  std::sort(samples.begin(), samples.end());
  state.counters["per_second"] = static_cast<double>(total) / seconds;
  state.counters["p99_us"] = samples.empty() ? 0 : samples[samples.size() * 99 / 100];
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
}

void view_get(benchmark::State& state, std::size_t threads) {
  const auto v = view();
  bench::rss_probe rss(state);
  std::atomic<std::uint64_t> found{0};
  measure(state, threads, 400'000, [&](std::size_t, std::mt19937_64& rng) { found += v->get(key_of(rng() % view_keys())).has_value(); });
  if (found.load() == 0) state.SkipWithError("no key found");
}

// Lookups merged with a speed layer of 100K keys, alone or while a feeder ingests.
void serving_get(benchmark::State& state, std::size_t threads, bool ingest) {
  counts serving({}, view());
  std::mt19937_64 rng(7);
  for (int b = 0; b < 10; ++b) feed(serving, rng, 10'000);
  bench::rss_probe rss(state);
  std::optional<feeder> f;
  if (ingest) f.emplace(serving);
  const auto begin = clock_type::now();
  measure(state, threads, 400'000, [&](std::size_t, std::mt19937_64& r) { benchmark::DoNotOptimize(serving.get(key_of(r() % view_keys()))); });
  if (f) state.counters["ingested_per_second"] = static_cast<double>(f->stop()) / std::chrono::duration<double>(clock_type::now() - begin).count();
}

/// A lean HTTP/1.1 client, as lean as the RESP client below, so that the two servers are
/// compared rather than the clients: GET, then the answer's headers and Content-Length bytes.
class http_conn {
 public:
  http_conn(int port, bool keep_alive) : port_(port), keep_alive_(keep_alive) {}
  ~http_conn() { disconnect(); }
  /// The answer's status, or 0 when the exchange failed.
  int get(const std::string& path) {
    if (fd_ < 0 && !connect()) return 0;
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                            (keep_alive_ ? "" : "Connection: close\r\n") + "\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return fail();
    std::size_t head;
    while ((head = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return fail();
    }
    const auto cl = buf_.find("Content-Length: ");
    if (cl > head || buf_.size() < 12) return fail();
    const std::size_t total = head + 4 + std::stoul(buf_.substr(cl + 16));
    while (buf_.size() < total) {
      if (!fill()) return fail();
    }
    const int status = std::atoi(buf_.c_str() + 9);
    const bool closing = buf_.substr(0, head).find("Connection: close") != std::string::npos;
    buf_.erase(0, total);
    if (closing) disconnect();
    return status;
  }

 private:
  bool connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 || fail();
  }
  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  int fail() {
    disconnect();
    return 0;
  }
  bool fill() {
    char tmp[16384];
    const ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
    if (r <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(r));
    return true;
  }
  int port_;
  bool keep_alive_;
  int fd_ = -1;
  std::string buf_;
};

// GET /v1/views/users/KEY from `clients` client threads, each on a kept-alive connection (or a
// new connection per request), alone or while a feeder ingests.
void http_get(benchmark::State& state, std::size_t clients, bool ingest, bool keep_alive) {
  counts serving({}, view());
  std::mt19937_64 rng(7);
  for (int b = 0; b < 10; ++b) feed(serving, rng, 10'000);
  dataflow::query_server server;
  server.add_view("users", serving);
  const int port = server.start("127.0.0.1", 0);
  bench::rss_probe rss(state);
  std::optional<feeder> f;
  if (ingest) f.emplace(serving);
  std::vector<std::unique_ptr<http_conn>> conns;
  for (std::size_t c = 0; c < clients; ++c) conns.push_back(std::make_unique<http_conn>(port, keep_alive));
  std::atomic<std::uint64_t> failed{0};
  const auto begin = clock_type::now();
  measure(state, clients, keep_alive ? 40'000 : 10'000, [&](std::size_t t, std::mt19937_64& r) {
    failed += conns[t]->get("/v1/views/users/" + key_of(r() % view_keys())) != 200;
  });
  if (f) state.counters["ingested_per_second"] = static_cast<double>(f->stop()) / std::chrono::duration<double>(clock_type::now() - begin).count();
  server.stop();
  if (failed.load() > 0) state.SkipWithError("failed requests");
}

// ---- Redis, over its wire protocol (RESP) on a loopback socket. ----

class redis_server {
 public:
  redis_server() {
    if (std::system("command -v redis-server >/dev/null 2>&1") != 0) return;
    port_ = 20000 + static_cast<int>(::getpid() % 20000);
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string p = std::to_string(port_);
      ::execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {  // until it answers
      if (int fd = connect_to(); fd >= 0) {
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    stop();
  }
  ~redis_server() { stop(); }
  bool running() const { return pid_ > 0; }
  /// The server process's peak RSS in MiB (VmHWM).
  double peak_rss_mib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
    }
    return 0;
  }

  int connect_to() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }

 private:
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  int port_ = 0;
  pid_t pid_ = -1;
};

/// One connection: commands out, replies in.
class redis_conn {
 public:
  explicit redis_conn(int fd) : fd_(fd) {}
  ~redis_conn() { ::close(fd_); }
  void command(std::initializer_list<std::string_view> args) {
    out_ += "*" + std::to_string(args.size()) + "\r\n";
    for (auto a : args) (out_ += "$" + std::to_string(a.size()) + "\r\n").append(a) += "\r\n";
  }
  /// Sends what is queued and reads `n` replies; returns the last one's first line.
  std::string exchange(std::size_t n) {
    for (std::size_t done = 0; done < out_.size();) done += static_cast<std::size_t>(::write(fd_, out_.data() + done, out_.size() - done));
    out_.clear();
    std::string last;
    for (std::size_t i = 0; i < n; ++i) {
      last = line();
      if (!last.empty() && last[0] == '$' && last != "$-1") {
        const std::size_t len = std::stoul(last.substr(1));
        while (buf_.size() - at_ < len + 2) fill();
        last = buf_.substr(at_, len);
        at_ += len + 2;
      }
    }
    return last;
  }

 private:
  void fill() {
    if (at_ > 0) buf_.erase(0, at_), at_ = 0;
    char tmp[65536];
    const ssize_t r = ::read(fd_, tmp, sizeof tmp);
    if (r <= 0) throw std::runtime_error("redis: connection closed");
    buf_.append(tmp, static_cast<std::size_t>(r));
  }
  std::string line() {
    for (;;) {
      const auto end = buf_.find("\r\n", at_);
      if (end != std::string::npos) {
        std::string l = buf_.substr(at_, end - at_);
        at_ = end + 2;
        return l;
      }
      fill();
    }
  }
  int fd_;
  std::string out_, buf_;
  std::size_t at_ = 0;
};

redis_server& redis() {
  static redis_server r;
  return r;
}

// The speed layer's feed into Redis: 100K keys in pipelined batches of HINCRBY.
void redis_feed(benchmark::State& state) {
  if (!redis().running()) return state.SkipWithError("redis-server is not installed (apt-get install redis-server)");
  redis_conn c(redis().connect_to());
  std::mt19937_64 rng(7);
  bench::rss_probe rss(state);
  std::uint64_t n = 0;
  for (auto _ : state) {
    for (int b = 0; b < 10; ++b) {
      for (int i = 0; i < 10'000; ++i) c.command({"HINCRBY", "users", key_of(rng() % view_keys()), "1"});
      c.exchange(10'000);
      n += 10'000;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
}

void redis_get(benchmark::State& state, std::size_t clients) {
  if (!redis().running()) return state.SkipWithError("redis-server is not installed (apt-get install redis-server)");
  std::vector<std::unique_ptr<redis_conn>> conns;
  for (std::size_t c = 0; c < clients; ++c) conns.push_back(std::make_unique<redis_conn>(redis().connect_to()));
  measure(state, clients, 40'000, [&](std::size_t t, std::mt19937_64& r) {
    conns[t]->command({"HGET", "users", key_of(r() % view_keys())});
    benchmark::DoNotOptimize(conns[t]->exchange(1));
  });
  state.counters["redis_peak_rss_MiB"] = redis().peak_rss_mib();
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  bench::register_threads("lookups/view_get", view_get);
  bench::register_threads("lookups/serving_get", [](benchmark::State& s, std::size_t t) { serving_get(s, t, false); });
  bench::register_threads("lookups/serving_get_ingesting", [](benchmark::State& s, std::size_t t) { serving_get(s, t, true); });
  bench::register_threads("http/get", [](benchmark::State& s, std::size_t t) { http_get(s, t, false, true); });
  bench::register_threads("http/get_ingesting", [](benchmark::State& s, std::size_t t) { http_get(s, t, true, true); });
  bench::register_threads("http/get_reconnect", [](benchmark::State& s, std::size_t t) { http_get(s, t, false, false); });
  bench::register_sequential("redis/hincrby_feed", redis_feed);
  bench::register_threads("redis/hget", redis_get);
  return bench::run_main(argc, argv);
}
