// The definitions of the library's non-template code, for a program built with
// DATAFLOW_SEPARATE_COMPILATION: include this file in exactly one source file of the program
// (CMake's `dataflow::compiled` target does this for you).
#pragma once

#if !defined(DATAFLOW_SEPARATE_COMPILATION)
#error "<dataflow/impl/src.hpp> is for builds with DATAFLOW_SEPARATE_COMPILATION defined"
#endif
#define DATAFLOW_COMPILING_LIBRARY
#include <dataflow/dataflow.hpp>
#include <dataflow/stream.hpp>
