// A program for the command-line tests: runs a reduce_by_key over N distinct keys (argv[1]) so
// that, under `ulimit -v`, its table cannot grow; prints the error and exits 1.
#include <dataflow/dataflow.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 30000000;
  try {
    dataflow::context ctx(2);
    ctx.progress(dataflow::progress_mode::off);
    auto keys = ctx.generate(n, [](std::size_t i) { return std::pair{static_cast<std::uint64_t>(i), std::uint64_t{1}}; })
                    .reduce_by_key(std::plus<>{})
                    .count();
    std::printf("%zu keys\n", static_cast<std::size_t>(keys));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "out_of_memory: %s\n", e.what());
    return 1;
  }
}
