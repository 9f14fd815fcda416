// kafka_mock_broker: a Kafka cluster for the command-line tests, in a process of its own, so
// that a consumer can be killed and restarted against it: librdkafka's mock brokers on loopback.
//
//   kafka_mock_broker --topic T --partitions N --brokers-file F [--rate LINES_PER_SECOND]
//
// Makes the topic, writes the brokers' address to F (whole, by a rename), then produces each line
// of standard input as a message, line i to partition i mod N, at the given rate (0: at once).
// Once standard input ends and every message is delivered, it writes F.done and serves on until
// it gets SIGTERM or SIGINT.
#include "../support/kafka_mock.hpp"

#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

namespace {

volatile std::sig_atomic_t stopping = 0;

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text << '\n';
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  std::string topic, brokers_file;
  int partitions = 1;
  double rate = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--topic") topic = argv[i + 1];
    else if (a == "--partitions") partitions = std::atoi(argv[i + 1]);
    else if (a == "--brokers-file") brokers_file = argv[i + 1];
    else if (a == "--rate") rate = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "kafka_mock_broker: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (topic.empty() || brokers_file.empty() || partitions < 1) {
    std::fprintf(stderr, "usage: kafka_mock_broker --topic T --partitions N --brokers-file F [--rate R]\n");
    return 2;
  }
  std::signal(SIGTERM, [](int) { stopping = 1; });
  std::signal(SIGINT, [](int) { stopping = 1; });
  try {
    test::kafka_mock kafka;
    kafka.create_topic(topic, partitions);
    write_file(brokers_file, kafka.brokers());
    const auto begin = std::chrono::steady_clock::now();
    std::uint64_t i = 0;
    for (std::string line; !stopping && std::getline(std::cin, line); ++i) {
      kafka.produce(topic, static_cast<std::int32_t>(i % static_cast<std::uint64_t>(partitions)), line);
      if (rate > 0 && i % 1000 == 999) {
        std::this_thread::sleep_until(begin + std::chrono::duration<double>(static_cast<double>(i + 1) / rate));
      }
    }
    kafka.flush();
    write_file(brokers_file + ".done", std::to_string(i));
    while (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_mock_broker: %s\n", e.what());
    return 1;
  }
  return 0;
}
