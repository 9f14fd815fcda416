// The Kafka source of streams (target dataflow::kafka, built when librdkafka is installed).
#pragma once

#include <dataflow/kafka/kafka_topic.hpp>
