// The MPI layer: one pipeline on every rank of an MPI job (dataflow/mpi/mpi_world.hpp). Link
// the CMake target dataflow::mpi, which also defines DATAFLOW_ACROSS_RANKS: the shuffles compile
// their ways across ranks only then (ops/exchange.hpp). A program without it never needs MPI.
#pragma once

// Defined for the whole program, so that every file compiles the shuffles alike.
#if !defined(DATAFLOW_ACROSS_RANKS)
#error "<dataflow/mpi.hpp> needs DATAFLOW_ACROSS_RANKS defined for the whole program: link the CMake target dataflow::mpi, or compile with -DDATAFLOW_ACROSS_RANKS"
#endif

#include <dataflow/dataflow.hpp>
#include <dataflow/mpi/mpi_world.hpp>
