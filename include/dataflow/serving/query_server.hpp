// An HTTP/JSON endpoint over serving views, on cpp-httplib (Debian's libcpp-httplib-dev). Link
// dataflow::http: it brings the definitions the library was built with, without which its
// classes' layout differs from the header's.
//
//   GET /v1/views/NAME/KEY                  {"key": K, "value": V, "as_of": {...}}
//   GET /v1/views/NAME?top=N                {"items": [{"key": K, "value": V}, ...], "as_of": {...}}
//   GET /v1/views/NAME?prefix=P[&limit=N]   the same, the keys that begin with P, in order
//   GET /v1/views/NAME?from=A[&to=B][&limit=N]  the same, the keys in [A, B)
//   GET /v1/status                          every view's as_of, requests served, and what
//                                           add_status adds
//   GET /metrics                            the same figures in Prometheus' text format
//
// An unknown view, key or path is a 404 and a malformed request a 400, each with a JSON body
// {"error": "..."}; a failure while answering (a damaged view file) a 500 naming it, while the
// server goes on answering. Keys in paths are URL-decoded; integer keys are parsed.
#pragma once

#include <dataflow/detail/json.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/serving/serving_view.hpp>

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {

namespace detail {

/// A value as JSON: numbers as numbers, strings as strings, ranges as arrays, anything else that
/// fmt formats as a string.
template <class T>
std::string json_value(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_arithmetic_v<T>) {
    return fmt::format("{}", v);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return json_string(std::string_view(v));
  } else if constexpr (std::ranges::input_range<const T>) {
    std::string out = "[";
    for (const auto& x : v) out += (out.size() > 1 ? "," : "") + json_value(x);
    return out + "]";
  } else if constexpr (fmt::is_formattable<T>::value) {
    return json_string(fmt::format("{}", v));
  } else {
    static_assert(fmt::is_formattable<T>::value,
                  "dataflow::query_server: keys and values must be numbers, strings, ranges of them, or "
                  "formattable with fmt (specialize fmt::formatter, or include <fmt/ranges.h> for pairs)");
  }
}

inline std::string json_as_of(const as_of& a) {
  return fmt::format(
      "{{\"view_version\":{},\"view_covers\":{},\"view_cutoff\":{},\"speed_sequence\":{},\"speed_position\":{},"
      "\"events\":{},\"speed_keys\":{},\"buckets\":{}}}",
      a.view_version, json_string(a.view_covers), a.view_cutoff, a.speed_sequence, json_string(a.speed_position),
      a.events, a.speed_keys, a.buckets);
}

/// A request the server refuses: its status and message.
struct http_refusal {
  int status;
  std::string message;
};

/// A key from its text in a URL.
template <class K>
K parse_key(const std::string& text) {
  if constexpr (std::is_convertible_v<const std::string&, K> && !std::is_arithmetic_v<K>) {
    return K(text);
  } else if constexpr (std::is_integral_v<K>) {
    K v{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) {
      throw http_refusal{400, "the key '" + text + "' is not an integer"};
    }
    return v;
  } else {
    throw http_refusal{400, "keys of this view cannot be given in a URL"};
  }
}

}  // namespace detail

/// How a query_server handles connections.
struct query_server_options {
  /// Threads answering requests; a kept-alive connection holds one while it stays open, so
  /// clients beyond this many wait. 0: 8, or twice the cores where that is more.
  std::size_t threads = 0;
  /// Requests one connection may send before the server closes it.
  std::size_t keep_alive_requests = 1000;
  /// How long an idle kept-alive connection stays open.
  std::chrono::seconds keep_alive_timeout{5};
};

class query_server {
 public:
  explicit query_server(query_server_options options = {}) : server_(std::make_unique<httplib::Server>()) {
    const std::size_t threads =
        options.threads ? options.threads : std::max<std::size_t>(8, 2 * std::thread::hardware_concurrency());
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_keep_alive_max_count(options.keep_alive_requests);
    server_->set_keep_alive_timeout(static_cast<time_t>(options.keep_alive_timeout.count()));
    // Headers and body leave in separate writes: without TCP_NODELAY every kept-alive answer
    // waits out the client's delayed ACK (40 ms).
    server_->set_tcp_nodelay(true);
    routes();
  }
  ~query_server() { stop(); }
  query_server(const query_server&) = delete;
  query_server& operator=(const query_server&) = delete;

  /// Serves `view` as NAME; it must outlive the server.
  template <class K, class V, class Op>
  void add_view(const std::string& name, const serving_view<K, V, Op>& view) {
    served s;
    s.get = [&view](const std::string& key_text) {
      const K key = detail::parse_key<K>(key_text);
      as_of at;
      const std::optional<V> v = view.get(key, &at);
      if (!v) throw detail::http_refusal{404, "no key " + key_text};
      return "{\"key\":" + detail::json_value(key) + ",\"value\":" + detail::json_value(*v) +
             ",\"as_of\":" + detail::json_as_of(at) + "}";
    };
    s.range = [&view](const std::string& from, const std::optional<std::string>& to, const std::string& prefix,
                      std::size_t limit) {
      std::string items;
      std::size_t n = 0;
      as_of at;
      auto add = [&](const K& k, const V& v) {
        if (n == limit) return false;
        items += (n++ ? "," : "") + std::string("{\"key\":") + detail::json_value(k) +
                 ",\"value\":" + detail::json_value(v) + "}";
        return true;
      };
      if constexpr (std::is_convertible_v<const K&, std::string_view>) {
        if (!prefix.empty()) {
          view.prefix(prefix, add, &at);
          return "{\"items\":[" + items + "],\"as_of\":" + detail::json_as_of(at) + "}";
        }
      } else if (!prefix.empty()) {
        throw detail::http_refusal{400, "prefix needs a view of string keys"};
      }
      std::optional<K> until;
      if (to) until = detail::parse_key<K>(*to);
      view.scan(from.empty() ? K{} : detail::parse_key<K>(from), until, add, &at);
      return "{\"items\":[" + items + "],\"as_of\":" + detail::json_as_of(at) + "}";
    };
    if constexpr (std::totally_ordered<V>) {
      s.top = [&view](std::size_t n) {
        as_of at;
        std::string items;
        for (const auto& [k, v] : view.top_k(n, &at)) {
          items += (items.empty() ? "" : ",") + std::string("{\"key\":") + detail::json_value(k) +
                   ",\"value\":" + detail::json_value(v) + "}";
        }
        return "{\"items\":[" + items + "],\"as_of\":" + detail::json_as_of(at) + "}";
      };
    }
    s.status = [&view] { return view.status(); };
    s.keys = [&view] {
      const auto v = view.view();
      return v ? v->size() : 0;
    };
    std::lock_guard lock(m_);
    views_[name] = std::move(s);
  }

  /// Adds members to /v1/status: fn returns them as JSON text ("\"a\":1,\"b\":2").
  void add_status(std::function<std::string()> fn) {
    std::lock_guard lock(m_);
    extra_status_.push_back(std::move(fn));
  }

  /// Listens on host:port (0: a free port) with threads of its own; returns the port.
  int start(const std::string& host, int port) {
    const int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
    if (bound <= 0) {
      throw io_error(host, "dataflow::query_server: cannot listen on " + host + ":" + std::to_string(port));
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // The socket listens from the bind on: early clients wait in its backlog until then.
    while (!server_->is_running()) std::this_thread::yield();
    return bound;
  }

  /// Stops answering (requests being answered finish first).
  void stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }

  /// Requests answered so far.
  std::uint64_t requests() const { return ok_ + client_errors_ + server_errors_; }

 private:
  struct served {
    std::function<std::string(const std::string&)> get;
    std::function<std::string(const std::string&, const std::optional<std::string>&, const std::string&, std::size_t)>
        range;
    std::function<std::string(std::size_t)> top;
    std::function<as_of()> status;
    std::function<std::uint64_t()> keys;
  };

  static void reply(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "application/json");
  }

  static std::string error_body(const std::string& message) { return "{\"error\":" + detail::json_string(message) + "}"; }

  static std::size_t count_param(const httplib::Request& req, const char* name, std::size_t fallback) {
    if (!req.has_param(name)) return fallback;
    const std::string text = req.get_param_value(name);
    std::size_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
      throw detail::http_refusal{400, std::string(name) + " needs a count, got '" + text + "'"};
    }
    return v;
  }

  // Runs an answer, turning refusals and failures into JSON errors.
  template <class F>
  void answer(httplib::Response& res, F&& f) {
    try {
      reply(res, 200, f());
      ++ok_;
    } catch (const detail::http_refusal& r) {
      reply(res, r.status, error_body(r.message));
      r.status >= 500 ? ++server_errors_ : ++client_errors_;
    } catch (const std::exception& e) {
      reply(res, 500, error_body(e.what()));
      ++server_errors_;
    }
  }

  served find(const std::string& name) {
    std::lock_guard lock(m_);
    auto it = views_.find(name);
    if (it == views_.end()) throw detail::http_refusal{404, "no view " + name};
    return it->second;
  }

  void routes() {
    server_->Get(R"(/v1/views/([^/]+)/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] { return find(req.matches[1].str()).get(req.matches[2].str()); });
    });
    server_->Get(R"(/v1/views/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        const served s = find(req.matches[1].str());
        if (req.has_param("top")) {
          if (!s.top) throw detail::http_refusal{400, "the values of this view have no order"};
          return s.top(count_param(req, "top", 10));
        }
        const std::size_t limit = count_param(req, "limit", 1000);
        std::optional<std::string> to;
        if (req.has_param("to")) to = req.get_param_value("to");
        return s.range(req.get_param_value("from"), to, req.get_param_value("prefix"), limit);
      });
    });
    server_->Get("/v1/status", [this](const httplib::Request&, httplib::Response& res) {
      answer(res, [&] { return status_json(); });
    });
    server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics(), "text/plain; version=0.0.4");
      ++ok_;
    });
    server_->set_error_handler([this](const httplib::Request&, httplib::Response& res) {
      if (res.status == 404 && res.body.empty()) {
        reply(res, 404, error_body("no such endpoint; see /v1/status"));
        ++client_errors_;
      }
    });
  }

  std::string status_json() {
    std::lock_guard lock(m_);
    std::string out = "{\"views\":{";
    bool first = true;
    for (const auto& [name, s] : views_) {
      out += (first ? "" : ",") + detail::json_string(name) + ":" + detail::json_as_of(s.status());
      first = false;
    }
    out += fmt::format("}},\"requests\":{{\"ok\":{},\"client_errors\":{},\"server_errors\":{}}}", ok_.load(),
                       client_errors_.load(), server_errors_.load());
    for (const auto& fn : extra_status_) {
      const std::string more = fn();
      if (!more.empty()) out += "," + more;
    }
    return out + "}";
  }

  std::string metrics() {
    std::lock_guard lock(m_);
    std::string out;
    auto family = [&](const char* name, const char* type, const char* help) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    family("dataflow_http_requests_total", "counter", "Requests answered, by outcome.");
    out += fmt::format("dataflow_http_requests_total{{outcome=\"ok\"}} {}\n", ok_.load());
    out += fmt::format("dataflow_http_requests_total{{outcome=\"client_error\"}} {}\n", client_errors_.load());
    out += fmt::format("dataflow_http_requests_total{{outcome=\"server_error\"}} {}\n", server_errors_.load());
    std::vector<std::pair<std::string, as_of>> states;
    for (const auto& [name, s] : views_) states.emplace_back(name, s.status());
    family("dataflow_view_version", "gauge", "The batch view's version in use.");
    for (const auto& [name, a] : states) out += fmt::format("dataflow_view_version{{view=\"{}\"}} {}\n", name, a.view_version);
    family("dataflow_view_events_total", "counter", "Events the speed layer has ingested.");
    for (const auto& [name, a] : states) out += fmt::format("dataflow_view_events_total{{view=\"{}\"}} {}\n", name, a.events);
    family("dataflow_view_speed_keys", "gauge", "Keys in the speed layer's buckets.");
    for (const auto& [name, a] : states) out += fmt::format("dataflow_view_speed_keys{{view=\"{}\"}} {}\n", name, a.speed_keys);
    family("dataflow_view_batch_keys", "gauge", "Keys in the batch view in use.");
    for (const auto& [name, s] : views_) out += fmt::format("dataflow_view_batch_keys{{view=\"{}\"}} {}\n", name, s.keys());
    return out;
  }

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex m_;
  std::map<std::string, served> views_;
  std::vector<std::function<std::string()>> extra_status_;
  std::atomic<std::uint64_t> ok_{0}, client_errors_{0}, server_errors_{0};
};

}  // namespace dataflow
