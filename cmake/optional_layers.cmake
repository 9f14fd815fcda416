# The optional layers: each is a target of its own, defined when the library it needs is
# installed, so that the core keeps needing only oneTBB and fmt.
#   dataflow::kafka   the Kafka source of streams (librdkafka: Debian's librdkafka-dev)

find_path(DATAFLOW_RDKAFKA_INCLUDE_DIR librdkafka/rdkafka.h)
find_library(DATAFLOW_RDKAFKA_LIBRARY rdkafka)
if(DATAFLOW_RDKAFKA_INCLUDE_DIR AND DATAFLOW_RDKAFKA_LIBRARY)
  add_library(dataflow_kafka INTERFACE)
  add_library(dataflow::kafka ALIAS dataflow_kafka)
  set_target_properties(dataflow_kafka PROPERTIES EXPORT_NAME kafka)
  target_include_directories(dataflow_kafka INTERFACE $<BUILD_INTERFACE:${DATAFLOW_RDKAFKA_INCLUDE_DIR}>)
  target_link_libraries(dataflow_kafka INTERFACE dataflow ${DATAFLOW_RDKAFKA_LIBRARY})
  set(DATAFLOW_HAVE_KAFKA ON)
  message(STATUS "dataflow: dataflow::kafka on (${DATAFLOW_RDKAFKA_LIBRARY})")
else()
  set(DATAFLOW_HAVE_KAFKA OFF)
  message(STATUS "dataflow: dataflow::kafka off (librdkafka not found: apt-get install librdkafka-dev)")
endif()
