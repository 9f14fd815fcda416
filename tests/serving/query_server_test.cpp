// The query server on a loopback port, queried over HTTP: lookups, ranges, prefixes, top_k,
// status and metrics against the serving view's own answers; errors as 404, 400 and 500 with
// JSON bodies; concurrent clients while the speed layer ingests.
#include <dataflow/serving.hpp>
#include <dataflow/serving/query_server.hpp>

#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using counts = dataflow::serving_view<std::string, std::uint64_t, std::plus<std::uint64_t>>;

/// A view of /page/0 .. /page/499 with count 1000 + i, and a speed batch adding i % 7 to each.
struct fixture {
  test::temp_dir d;
  dataflow::view_store store{d.file("views")};
  std::map<std::string, std::uint64_t> expected;
  std::unique_ptr<counts> serving;
  dataflow::query_server server;
  int port = 0;

  explicit fixture(dataflow::query_server_options options = {}) : server(options) {
    store.publish<std::string, std::uint64_t>("clicks", "test", 0, [&](dataflow::view_writer<std::string, std::uint64_t>& w) {
      std::map<std::string, std::uint64_t> sorted;
      for (int i = 0; i < 500; ++i) sorted["/page/" + std::to_string(i)] = 1000 + static_cast<std::uint64_t>(i);
      for (const auto& [k, v] : sorted) w.add(k, v);
      expected = sorted;
    });
    serving = std::make_unique<counts>(std::plus<std::uint64_t>{}, store.open_latest<std::string, std::uint64_t>("clicks"));
    std::vector<std::pair<std::string, std::uint64_t>> pairs;
    for (int i = 0; i < 500; ++i) pairs.emplace_back("/page/" + std::to_string(i), i % 7);
    pairs.emplace_back("/new", 5);
    const std::string position;
    serving->add({1, pairs, position, 501});
    for (int i = 0; i < 500; ++i) expected["/page/" + std::to_string(i)] += static_cast<std::uint64_t>(i % 7);
    expected["/new"] = 5;
    server.add_view("clicks", *serving);
    server.add_status([] { return std::string("\"tool\":\"test\""); });
    port = server.start("127.0.0.1", 0);
  }
};

/// One TCP connection to the server, requests sent one after another on it.
class raw_connection {
 public:
  explicit raw_connection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~raw_connection() { ::close(fd_); }

  /// Sends a GET and reads its whole answer (headers, then Content-Length bytes of body); empty
  /// when the server has closed the connection.
  std::string get(const std::string& path) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return {};
    std::size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return {};
    }
    const auto cl = buf_.find("Content-Length: ");
    REQUIRE(cl < head_end);
    const std::size_t length = std::stoul(buf_.substr(cl + 16));
    while (buf_.size() < head_end + 4 + length) {
      if (!fill()) return {};
    }
    std::string answer = buf_.substr(0, head_end + 4 + length);
    buf_.erase(0, answer.size());
    return answer;
  }

 private:
  bool fill() {
    char tmp[4096];
    const ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
    if (r <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(r));
    return true;
  }
  int fd_;
  std::string buf_;
};

}  // namespace

TEST_CASE("query server: lookups answer the merged value with its as_of", "[serving][http]") {
  fixture f;
  httplib::Client c("127.0.0.1", f.port);
  auto r = c.Get("/v1/views/clicks/%2Fpage%2F42");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  CHECK_THAT(r->body, Catch::StartsWith("{\"key\":\"/page/42\",\"value\":" + std::to_string(f.expected["/page/42"]) +
                                        ",\"as_of\":{\"view_version\":1,"));
  CHECK_THAT(r->body, Catch::Contains("\"events\":501"));
  // A key with slashes, not encoded, and a key only the speed layer has.
  r = c.Get("/v1/views/clicks//page/7");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_THAT(r->body, Catch::Contains("\"value\":" + std::to_string(f.expected["/page/7"])));
  r = c.Get("/v1/views/clicks/%2Fnew");
  REQUIRE(r);
  CHECK_THAT(r->body, Catch::Contains("\"value\":5"));
}

TEST_CASE("query server: ranges, prefixes and top_k", "[serving][http]") {
  fixture f;
  httplib::Client c("127.0.0.1", f.port);
  auto r = c.Get("/v1/views/clicks?top=3");
  REQUIRE(r);
  CHECK(r->status == 200);
  std::vector<std::pair<std::string, std::uint64_t>> all(f.expected.begin(), f.expected.end());
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string want = "{\"items\":[";
  for (int i = 0; i < 3; ++i) {
    want += (i ? "," : "") + std::string("{\"key\":\"") + all[static_cast<std::size_t>(i)].first +
            "\",\"value\":" + std::to_string(all[static_cast<std::size_t>(i)].second) + "}";
  }
  CHECK_THAT(r->body, Catch::StartsWith(want + "],\"as_of\":"));
  r = c.Get("/v1/views/clicks?prefix=%2Fpage%2F49&limit=100");
  REQUIRE(r);
  std::string items;
  for (const auto& [k, v] : f.expected) {
    if (k.rfind("/page/49", 0) == 0) items += (items.empty() ? "" : ",") + std::string("{\"key\":\"") + k + "\",\"value\":" + std::to_string(v) + "}";
  }
  CHECK_THAT(r->body, Catch::StartsWith("{\"items\":[" + items + "],"));
  r = c.Get("/v1/views/clicks?from=%2Fpage%2F10&to=%2Fpage%2F11&limit=2");
  REQUIRE(r);
  CHECK_THAT(r->body, Catch::StartsWith("{\"items\":[{\"key\":\"/page/10\",\"value\":" + std::to_string(f.expected["/page/10"]) +
                                        "},{\"key\":\"/page/100\",\"value\":" + std::to_string(f.expected["/page/100"]) + "}],"));
}

TEST_CASE("query server: bad requests are 404 and 400 with JSON errors, and status and metrics answer", "[serving][http]") {
  fixture f;
  httplib::Client c("127.0.0.1", f.port);
  auto expect = [&](const std::string& path, int status, const std::string& message) {
    auto r = c.Get(path);
    REQUIRE(r);
    CHECK(r->status == status);
    CHECK_THAT(r->body, Catch::StartsWith("{\"error\":\"") && Catch::Contains(message));
  };
  expect("/v1/views/clicks/%2Fnowhere", 404, "no key /nowhere");
  expect("/v1/views/nothing/x", 404, "no view nothing");
  expect("/v1/views/clicks?top=many", 400, "top needs a count");
  expect("/v1/views/clicks?limit=-1", 400, "limit needs a count");
  expect("/v2/anything", 404, "no such endpoint");
  auto r = c.Get("/v1/status");
  REQUIRE(r);
  CHECK_THAT(r->body, Catch::StartsWith("{\"views\":{\"clicks\":{\"view_version\":1,") && Catch::Contains("\"events\":501") &&
                          Catch::Contains("\"client_errors\":5") && Catch::EndsWith(",\"tool\":\"test\"}"));
  r = c.Get("/metrics");
  REQUIRE(r);
  CHECK_THAT(r->body, Catch::Contains("dataflow_view_version{view=\"clicks\"} 1\n") &&
                          Catch::Contains("dataflow_view_events_total{view=\"clicks\"} 501\n") &&
                          Catch::Contains("dataflow_view_batch_keys{view=\"clicks\"} 500\n") &&
                          Catch::Contains("# TYPE dataflow_http_requests_total counter\n"));
}

TEST_CASE("query server: a damaged view file is a 500 naming it, and the server answers on", "[serving][http]") {
  fixture f;
  const std::string path = f.store.path_of("clicks", 1);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(40);
    file.put('\x7f');
  }
  httplib::Client c("127.0.0.1", f.port);
  auto r = c.Get("/v1/views/clicks/%2Fpage%2F0");
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK_THAT(r->body, Catch::Contains(path) && Catch::Contains("checksum"));
  r = c.Get("/v1/status");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("query server: concurrent clients while the speed layer ingests", "[serving][http]") {
  fixture f;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> failed{0}, answered{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", f.port);
      for (int i = 0; !done.load() || i < 50; ++i) {
        auto r = c.Get("/v1/views/clicks/%2Fpage%2F" + std::to_string((i * 7 + t) % 500));
        failed += !r || r->status != 200;
        ++answered;
      }
    });
  }
  std::vector<std::pair<std::string, std::uint64_t>> pairs;
  const std::string position;
  for (std::uint64_t b = 2; b < 200; ++b) {
    pairs.assign({{"/page/" + std::to_string(b % 500), 1}});
    f.serving->add({b, pairs, position, 1});
  }
  done = true;
  for (auto& t : clients) t.join();
  CHECK(failed.load() == 0);
  CHECK(answered.load() >= 200);
  CHECK(f.server.requests() == answered.load());
}

TEST_CASE("query server: a kept-alive connection answers request after request, up to its limit", "[serving][http]") {
  fixture f({.threads = 2, .keep_alive_requests = 4});
  raw_connection c(f.port);
  for (int i = 0; i < 4; ++i) {
    const std::string answer = c.get("/v1/views/clicks/%2Fpage%2F" + std::to_string(i));
    REQUIRE_THAT(answer, Catch::StartsWith("HTTP/1.1 200"));
    CHECK_THAT(answer, Catch::Contains("\"value\":" + std::to_string(f.expected["/page/" + std::to_string(i)])));
    // The last request the connection may carry is answered with its close.
    CHECK((answer.find("Connection: close") != std::string::npos) == (i == 3));
  }
  CHECK(c.get("/v1/status").empty());
  // A fresh connection is answered again.
  raw_connection again(f.port);
  CHECK_THAT(again.get("/v1/status"), Catch::StartsWith("HTTP/1.1 200"));
  CHECK(f.server.requests() == 5);
}
