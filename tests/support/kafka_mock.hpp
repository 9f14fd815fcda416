// A Kafka cluster for tests: librdkafka's own mock brokers on loopback (the real client and wire
// protocol, no broker to install), with a producer to fill its topics.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace test {

class kafka_mock {
 public:
  explicit kafka_mock(int brokers = 1) {
    char text[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // The mock cluster's own handle produces into it too.
    rd_kafka_conf_set(conf, "linger.ms", "5", text, sizeof text);
    rd_kafka_conf_set(conf, "log_level", "2", text, sizeof text);  // not "brokers are down" at the end
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, text, sizeof text);
    if (!rk_) throw std::runtime_error(std::string("kafka_mock: ") + text);
    cluster_ = rd_kafka_mock_cluster_new(rk_, brokers);
    if (!cluster_) throw std::runtime_error("kafka_mock: cannot start the mock cluster");
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    if (rd_kafka_brokers_add(rk_, bootstraps_.c_str()) == 0) throw std::runtime_error("kafka_mock: no brokers");
  }
  kafka_mock(const kafka_mock&) = delete;
  kafka_mock& operator=(const kafka_mock&) = delete;
  ~kafka_mock() {
    rd_kafka_flush(rk_, 5000);
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(rk_);
  }

  /// "host:port,..." of the brokers.
  const std::string& brokers() const { return bootstraps_; }

  void create_topic(const std::string& topic, int partitions) {
    if (rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("kafka_mock: cannot create topic " + topic);
    }
  }

  /// Produces `value` into a partition of `topic` (queued: flush() waits for delivery).
  void produce(const std::string& topic, std::int32_t partition, std::string_view value) {
    for (;;) {
      const rd_kafka_resp_err_t e =
          rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        throw std::runtime_error(std::string("kafka_mock: cannot produce: ") + rd_kafka_err2str(e));
      }
      rd_kafka_poll(rk_, 10);
    }
  }

  /// Waits until every message produced has been delivered.
  void flush() {
    if (rd_kafka_flush(rk_, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("kafka_mock: messages not delivered within 30 s");
    }
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
};

}  // namespace test
