# The optional layers: each is a target of its own, defined when the library it needs is
# installed, so that the core keeps needing only oneTBB and fmt.
#   dataflow::kafka   the Kafka source of streams (librdkafka: Debian's librdkafka-dev)
#   dataflow::http    the query server (cpp-httplib: Debian's libcpp-httplib-dev)

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

#   dataflow::http    the query server of the serving layer (cpp-httplib: Debian's libcpp-httplib-dev)
# Debian's cpp-httplib is a compiled library whose header must see the definitions it was built
# with (SSL, zlib and Brotli support change its classes' layout): they come from its pkg-config
# file, and without pkg-config the layer stays off rather than risk a mismatch.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(DATAFLOW_HTTPLIB QUIET cpp-httplib)
endif()
find_path(DATAFLOW_HTTPLIB_INCLUDE_DIR httplib.h HINTS ${DATAFLOW_HTTPLIB_INCLUDE_DIRS})
find_library(DATAFLOW_HTTPLIB_LIBRARY cpp-httplib HINTS ${DATAFLOW_HTTPLIB_LIBRARY_DIRS})
if(DATAFLOW_HTTPLIB_FOUND AND DATAFLOW_HTTPLIB_INCLUDE_DIR AND DATAFLOW_HTTPLIB_LIBRARY)
  add_library(dataflow_http INTERFACE)
  add_library(dataflow::http ALIAS dataflow_http)
  set_target_properties(dataflow_http PROPERTIES EXPORT_NAME http)
  target_include_directories(dataflow_http INTERFACE $<BUILD_INTERFACE:${DATAFLOW_HTTPLIB_INCLUDE_DIR}>)
  target_compile_options(dataflow_http INTERFACE ${DATAFLOW_HTTPLIB_CFLAGS_OTHER})
  target_link_libraries(dataflow_http INTERFACE dataflow ${DATAFLOW_HTTPLIB_LIBRARY})
  set(DATAFLOW_HAVE_HTTP ON)
  message(STATUS "dataflow: dataflow::http on (${DATAFLOW_HTTPLIB_LIBRARY} ${DATAFLOW_HTTPLIB_CFLAGS_OTHER})")
else()
  set(DATAFLOW_HAVE_HTTP OFF)
  message(STATUS "dataflow: dataflow::http off (cpp-httplib or pkg-config not found: "
                 "apt-get install libcpp-httplib-dev pkg-config)")
endif()
