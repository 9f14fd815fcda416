// Header-only or compiled once: where the library's non-template code is defined.
//
// By default every definition is in the headers (`inline`), so including
// <dataflow/dataflow.hpp> is all a program needs. A program of many files, or one that is rebuilt
// often, can define DATAFLOW_SEPARATE_COMPILATION (CMake: link `dataflow::compiled` instead of
// `dataflow::dataflow`): the headers then declare that code and leave out what only its
// definitions need (oneTBB's headers among them), and one file, <dataflow/impl/src.hpp>,
// compiles it once. Templates stay in the headers either way.
#pragma once

#if defined(DATAFLOW_SEPARATE_COMPILATION) && !defined(DATAFLOW_COMPILING_LIBRARY)
/// 1 where this file must see the definitions of non-template code.
#define DATAFLOW_HEADER_DEFINITIONS 0
#else
#define DATAFLOW_HEADER_DEFINITIONS 1
#endif

#if defined(DATAFLOW_SEPARATE_COMPILATION)
#define DATAFLOW_INLINE
#else
#define DATAFLOW_INLINE inline
#endif
