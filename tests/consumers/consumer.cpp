// A program outside the project that uses the library as a package would.
#include <dataflow/dataflow.hpp>

#include <cstdio>

int main() {
  dataflow::context ctx(2);
  auto sum = ctx.generate(10, [](std::size_t i) { return i + 1; }).reduce(std::plus<>{});
  std::printf("consumer: %zu\n", sum.value_or(0));
  return sum == 55u ? 0 : 1;
}
