# Install rules: the headers, the exported target and a package config, so that
# `find_package(dataflow)` works after `cmake --install`.
include(CMakePackageConfigHelpers)

install(DIRECTORY include/dataflow DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(dataflow_exported dataflow dataflow_compiled)
if(DATAFLOW_HAVE_KAFKA)
  list(APPEND dataflow_exported dataflow_kafka)
endif()
if(DATAFLOW_HAVE_HTTP)
  list(APPEND dataflow_exported dataflow_http)
endif()
if(DATAFLOW_HAVE_MPI)
  list(APPEND dataflow_exported dataflow_mpi)
endif()
install(TARGETS ${dataflow_exported} EXPORT dataflowTargets)
install(EXPORT dataflowTargets
  NAMESPACE dataflow::
  DESTINATION ${CMAKE_INSTALL_DATADIR}/dataflow/cmake)

configure_package_config_file(cmake/dataflowConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/dataflowConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/dataflow/cmake)
# Not ARCH_INDEPENDENT: dataflow::compiled is a library built for this architecture.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/dataflowConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/dataflowConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/dataflowConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_DATADIR}/dataflow/cmake)
