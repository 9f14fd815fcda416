// kafka_topic: a stream source of the messages of a Kafka topic, through librdkafka.
//
// Part of the optional target dataflow::kafka (built when librdkafka is installed). The source
// assigns itself the topic's partitions (all of them, or those named) and reads each from the
// offset its stream's checkpoint holds; without one, from the start of the partition (or its
// end, on request). Offsets live in the stream's checkpoint, not in Kafka: nothing is committed
// to the broker, so a restart resumes exactly where the state it restores stopped counting, and
// each message is counted once. Several processes share a topic by naming disjoint partitions.
//
// Items are the messages' values as std::string_view, valid until the batch that holds them is
// done, as follow_lines' lines are; each partition is a partition of the stream's watermark.
//
// @code
// auto run = ctx.stream(dataflow::kafka_topic({.brokers = "host:9092", .topic = "clicks"}))
//                .map(parse_click)
//                ...
// @endcode
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/stream/windows.hpp>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace dataflow {

/// Settings of kafka_topic.
struct kafka_options {
  /// bootstrap.servers: "host:port[,host:port...]".
  std::string brokers;
  std::string topic;
  /// The partitions read; empty: every partition of the topic (as its metadata lists them).
  std::vector<std::int32_t> partitions = {};
  /// group.id, under which the client is known to the brokers (offsets are not committed).
  std::string group_id = "dataflow";
  /// Where a partition that no checkpoint names is read from: its first message (true) or
  /// the messages produced from now on (false).
  bool from_beginning = true;
  /// Ends the stream once no message has come for this long; zero follows forever.
  std::chrono::milliseconds end_when_idle{0};
  /// How long the topic's metadata may take to arrive before the source gives up.
  std::chrono::milliseconds metadata_timeout{10000};
  /// Further librdkafka settings (name, value), such as security.protocol.
  std::vector<std::pair<std::string, std::string>> config = {};
};

/// A stream source of the values of the messages of a Kafka topic. Copies share one consumer.
class kafka_topic {
 public:
  using item_type = std::string_view;

  explicit kafka_topic(kafka_options options) : s_(std::make_shared<state>()) {
    if (options.brokers.empty()) throw usage_error("dataflow::kafka_topic: no brokers given");
    if (options.topic.empty()) throw usage_error("dataflow::kafka_topic: no topic given");
    s_->options = std::move(options);
  }

  /// Moves the values of new messages into `out` until it holds `max` or `deadline` passes;
  /// returns false once the stream has ended (end_when_idle).
  bool poll(std::vector<std::string_view>& out, std::size_t max, std::chrono::steady_clock::time_point deadline) {
    state& s = *s_;
    std::lock_guard lock(s.m);
    if (!s.rk) s.connect();
    std::vector<rd_kafka_message_t*> got(256);
    for (;;) {
      const auto now = std::chrono::steady_clock::now();
      const std::size_t room = std::min(got.size(), max - std::min(max, out.size()));
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      const int timeout = static_cast<int>(std::clamp<std::int64_t>(left, 0, 100));
      const ssize_t n = room == 0 ? 0 : rd_kafka_consume_batch_queue(s.queue, timeout, got.data(), room);
      if (n < 0) throw s.failure("cannot consume", rd_kafka_last_error());
      // Every message is the source's to destroy, those after a failing one too: the client
      // cannot close while one is outstanding.
      for (ssize_t i = 0; i < n; ++i) s.held.push_back(got[static_cast<std::size_t>(i)]);
      for (std::size_t i = s.held.size() - static_cast<std::size_t>(n); i < s.held.size();) {
        if (s.take(i, out)) ++i;
      }
      if (n > 0) s.last_message = std::chrono::steady_clock::now();
      if (rd_kafka_resp_err_t e = s.fatal(); e != RD_KAFKA_RESP_ERR_NO_ERROR) throw s.failure("fatal error", e);
      const auto after = std::chrono::steady_clock::now();
      const auto idle = s.options.end_when_idle;
      if (n == 0 && idle.count() > 0 && after - s.last_message >= idle) return false;
      if (out.size() >= max || after >= deadline) return true;
    }
  }

  /// Gives back the messages handed on so far (their batch is done).
  void commit() {
    std::lock_guard lock(s_->m);
    s_->release_held();
  }

  /// Appends to `runs` where the values of the polls since the last call came from: each
  /// partition ("topic/partition") is a partition of the stream.
  void take_runs(std::vector<partition_run>& runs) {
    std::lock_guard lock(s_->m);
    runs.insert(runs.end(), std::make_move_iterator(s_->runs.begin()), std::make_move_iterator(s_->runs.end()));
    s_->runs.clear();
    s_->run_partition = -1;
  }

  /// The next offset of each partition, after the messages handed on so far.
  std::string checkpoint_position() const {
    std::lock_guard lock(s_->m);
    std::string out;
    for (const auto& [p, offset] : s_->next) out += std::to_string(p) + " " + std::to_string(offset) + "\n";
    return out;
  }

  /// Resumes from a checkpoint_position(): each partition it names is read from its offset.
  void restore_position(const std::string& position) {
    std::lock_guard lock(s_->m);
    if (s_->rk) throw usage_error("dataflow::kafka_topic: restore_position after the source started");
    std::map<std::int32_t, std::int64_t> next;
    std::size_t at = 0;
    while (at < position.size()) {
      const std::size_t sp = position.find(' ', at), nl = position.find('\n', at);
      if (sp == std::string::npos || nl == std::string::npos || sp > nl) {
        throw error("dataflow::kafka_topic: a checkpoint's offsets are malformed at byte " + std::to_string(at));
      }
      try {
        next[static_cast<std::int32_t>(std::stol(position.substr(at, sp - at)))] = std::stoll(position.substr(sp + 1, nl - sp - 1));
      } catch (const std::logic_error&) {
        throw error("dataflow::kafka_topic: a checkpoint's offsets are malformed at byte " + std::to_string(at));
      }
      at = nl + 1;
    }
    s_->next = std::move(next);
  }

  /// What the source reads, for a checkpoint's fingerprint (the brokers may move; the topic not).
  std::string describe() const { return "kafka_topic(" + s_->options.topic + ")"; }

  /// Where an item handed on and not yet committed came from: "topic/partition offset N".
  std::string position_of(std::string_view item) const {
    std::lock_guard lock(s_->m);
    auto& index = s_->by_payload;  // (payload address, message), made on the first look
    if (index.size() != s_->held.size()) {
      index.clear();
      for (const rd_kafka_message_t* m : s_->held) index.emplace_back(static_cast<const char*>(m->payload), m);
      std::sort(index.begin(), index.end());
    }
    auto it = std::upper_bound(index.begin(), index.end(), std::pair<const char*, const rd_kafka_message_t*>(item.data(), nullptr),
                               [](const auto& a, const auto& b) { return std::less<>{}(a.first, b.first); });
    if (it == index.begin()) return {};
    const rd_kafka_message_t* m = std::prev(it)->second;
    const char* p = static_cast<const char*>(m->payload);
    if (!p || std::less<>{}(p + m->len, item.data())) return {};
    return s_->options.topic + "/" + std::to_string(m->partition) + " offset " + std::to_string(m->offset);
  }

  /// Messages in the assigned partitions not yet handed on, as the client last heard of the
  /// partitions' ends.
  std::uint64_t lag() const {
    std::lock_guard lock(s_->m);
    if (!s_->rk) return 0;
    std::uint64_t total = 0;
    for (const auto& [p, offset] : s_->next) {
      std::int64_t low = 0, high = 0;
      if (rd_kafka_get_watermark_offsets(s_->rk, s_->options.topic.c_str(), p, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      if (high > offset && offset >= 0) total += static_cast<std::uint64_t>(high - std::max(offset, low));
    }
    return total;
  }

 private:
  struct state {
    kafka_options options;
    mutable std::mutex m;
    rd_kafka_t* rk = nullptr;
    rd_kafka_queue_t* queue = nullptr;
    std::map<std::int32_t, std::int64_t> next;  // partition -> next offset (restored or read)
    std::vector<rd_kafka_message_t*> held;      // messages taken, until commit()
    mutable std::vector<std::pair<const char*, const rd_kafka_message_t*>> by_payload;  // for position_of
    std::vector<partition_run> runs;
    std::int32_t run_partition = -1;  // of runs.back(), when take() made it
    std::chrono::steady_clock::time_point last_message = std::chrono::steady_clock::now();

    state() = default;
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    ~state() {
      release_held();
      if (queue) rd_kafka_queue_destroy(queue);
      if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
      }
    }

    void release_held() {
      for (rd_kafka_message_t* msg : held) rd_kafka_message_destroy(msg);
      held.clear();
      by_payload.clear();
    }

    std::string where() const { return "topic '" + options.topic + "' at " + options.brokers; }

    io_error failure(const std::string& what, rd_kafka_resp_err_t e) const {
      return io_error(options.topic, "kafka_topic: " + what + " (" + where() + "): " + rd_kafka_err2str(e));
    }

    rd_kafka_resp_err_t fatal() const {
      char text[512];
      return rd_kafka_fatal_error(rk, text, sizeof text);
    }

    void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
      char text[512];
      if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), text, sizeof text) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw usage_error("dataflow::kafka_topic: setting " + name + "=" + value + ": " + text);
      }
    }

    // Makes the consumer and assigns it the partitions at their offsets.
    void connect() {
      rd_kafka_conf_t* conf = rd_kafka_conf_new();
      set(conf, "bootstrap.servers", options.brokers);
      set(conf, "group.id", options.group_id);
      set(conf, "enable.auto.commit", "false");
      set(conf, "enable.auto.offset.store", "false");
      // An offset the checkpoint holds but the broker no longer has (deleted by retention) is
      // an error, not a silent jump.
      set(conf, "auto.offset.reset", "error");
      // A misspelt topic is an error, not a new empty topic.
      set(conf, "allow.auto.create.topics", "false");
      for (const auto& [name, value] : options.config) set(conf, name, value);
      char text[512];
      rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, text, sizeof text);
      if (!rk) {
        rd_kafka_conf_destroy(conf);
        throw io_error(options.topic, "kafka_topic: cannot make a consumer (" + where() + "): " + text);
      }
      std::vector<std::int32_t> parts = options.partitions.empty() ? topic_partitions() : options.partitions;
      rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
      for (std::int32_t p : parts) {
        // A partition no checkpoint names starts at its first message or its end, as an offset
        // of its own: a checkpoint taken before it brings anything must resume there, not at
        // the end of a later day.
        if (!next.contains(p)) {
          std::int64_t low = 0, high = 0;
          const rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
              rk, options.topic.c_str(), p, &low, &high, static_cast<int>(options.metadata_timeout.count()));
          if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_topic_partition_list_destroy(list);
            throw failure("cannot find where partition " + std::to_string(p) + " starts and ends", e);
          }
          next[p] = options.from_beginning ? low : high;
        }
        rd_kafka_topic_partition_list_add(list, options.topic.c_str(), p)->offset = next[p];
        // Each partition holds the watermark back from the start, messages or not.
        runs.push_back({partition_name(p), 0, false});
      }
      run_partition = -1;
      const rd_kafka_resp_err_t e = rd_kafka_assign(rk, list);
      rd_kafka_topic_partition_list_destroy(list);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) throw failure("cannot assign the partitions", e);
      queue = rd_kafka_queue_get_consumer(rk);
      last_message = std::chrono::steady_clock::now();
    }

    // The topic's partitions, from the brokers' metadata.
    std::vector<std::int32_t> topic_partitions() {
      const auto give_up = std::chrono::steady_clock::now() + options.metadata_timeout;
      rd_kafka_topic_t* t = rd_kafka_topic_new(rk, options.topic.c_str(), nullptr);
      std::vector<std::int32_t> parts;
      rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
      while (parts.empty()) {
        const rd_kafka_metadata_t* md = nullptr;
        last = rd_kafka_metadata(rk, 0, t, &md, 1000);
        if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
          for (int i = 0; i < md->topic_cnt; ++i) {
            const rd_kafka_metadata_topic_t& mt = md->topics[i];
            last = mt.err;
            if (mt.err != RD_KAFKA_RESP_ERR_NO_ERROR || options.topic != mt.topic) continue;
            for (int j = 0; j < mt.partition_cnt; ++j) parts.push_back(mt.partitions[j].id);
          }
          rd_kafka_metadata_destroy(md);
        }
        if (parts.empty() && std::chrono::steady_clock::now() >= give_up) break;
        if (parts.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      rd_kafka_topic_destroy(t);
      if (parts.empty()) {
        throw failure("cannot list the topic's partitions",
                      last == RD_KAFKA_RESP_ERR_NO_ERROR ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC : last);
      }
      std::sort(parts.begin(), parts.end());
      return parts;
    }

    std::string partition_name(std::int32_t p) const { return options.topic + "/" + std::to_string(p); }

    // Hands on the value of held[i] (kept until commit) and returns true; or drops a message
    // that reports a passing condition (the client retries by itself) and returns false; or
    // raises a lasting error, naming the partition and offset.
    bool take(std::size_t i, std::vector<std::string_view>& out) {
      rd_kafka_message_t* msg = held[i];
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const rd_kafka_resp_err_t e = msg->err;
        const std::string text = std::string("kafka_topic: ") + rd_kafka_message_errstr(msg) + " (partition " +
                                 std::to_string(msg->partition) + ", offset " + std::to_string(msg->offset) +
                                 ", " + where() + ")";
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        rd_kafka_message_destroy(msg);
        if (lasting(e)) throw io_error(options.topic, text);
        return false;
      }
      out.emplace_back(static_cast<const char*>(msg->payload), msg->payload ? msg->len : 0);
      next[msg->partition] = msg->offset + 1;
      if (!runs.empty() && run_partition == msg->partition) {
        ++runs.back().count;
      } else {
        runs.push_back({partition_name(msg->partition), 1, false});
        run_partition = msg->partition;
      }
      return true;
    }

    // Errors the client does not recover from by itself: data gone, topic or partition gone,
    // not allowed, or fatal.
    static bool lasting(rd_kafka_resp_err_t e) {
      switch (e) {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
        case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR__RESOLVE:
          return false;
        default:
          return true;
      }
    }
  };

  std::shared_ptr<state> s_;
};

}  // namespace dataflow
