// What the MR-MPI peers share: their command line and the walk over a key's values, which
// MR-MPI hands over in blocks when they do not fit in one page.
#pragma once

#include <mpi.h>
#include <mrmpi/keyvalue.h>
#include <mrmpi/mapreduce.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace mrmpi_peer {

using MAPREDUCE_NS::KeyValue;
using MAPREDUCE_NS::MapReduce;

struct options {
  int page_mib = 64;     // MR-MPI's page: its unit of memory, and of spilling past it
  unsigned long top = 10;
  std::vector<char*> files;
};

/// Parses `[--page-mib M] [--top K] FILE...`; false (after a usage line on rank 0) without files.
inline bool parse(int argc, char** argv, options& o, int rank, const char* usage) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--page-mib" && i + 1 < argc) {
      o.page_mib = std::atoi(argv[++i]);
    } else if (a == "--top" && i + 1 < argc) {
      o.top = std::strtoul(argv[++i], nullptr, 10);
    } else {
      o.files.push_back(argv[i]);
    }
  }
  if (o.files.empty() && rank == 0) std::fprintf(stderr, "usage: %s\n", usage);
  return !o.files.empty();
}

/// Calls fn(values, count) for the values of the key being reduced: the multivalue itself, or,
/// when it spans pages (n == 0), each of its blocks.
template <class F>
void for_each_block(MapReduce& mr, char* values, int n, F&& fn) {
  if (n > 0) {
    fn(values, n);
    return;
  }
  int blocks = 0;
  mr.multivalue_blocks(blocks);
  for (int b = 0; b < blocks; ++b) {
    char* block_values = nullptr;
    int* block_bytes = nullptr;
    const int count = mr.multivalue_block(b, &block_values, &block_bytes);
    fn(block_values, count);
  }
}

/// A peer's main: MPI started, the command line parsed, then body(mr, options, rank, ranks)
/// with a MapReduce object of `page_mib` pages that prints nothing. Returns the exit status.
template <class Body>
int run_peer(int argc, char** argv, const char* usage, Body&& body) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  options o;
  const bool ok = parse(argc, argv, o, rank, usage);
  if (ok) {
    MapReduce mr(MPI_COMM_WORLD);
    mr.memsize = o.page_mib;
    mr.verbosity = 0;
    mr.timer = 0;
    body(mr, o, rank, ranks);
  }
  MPI_Finalize();
  return ok ? 0 : 2;
}

}  // namespace mrmpi_peer
