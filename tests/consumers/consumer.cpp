// A program outside the project that uses the library as a package would. Built twice: header-only
// from two files (so that a definition missing `inline` fails to link), and against
// dataflow::compiled.
#include <dataflow/dataflow.hpp>

#include <cstdio>
#include <string>

std::size_t count_words(const std::string& text);  // consumer_part.cpp

int main() {
  dataflow::context ctx(2);
  auto sum = ctx.generate(10, [](std::size_t i) { return i + 1; }).reduce(std::plus<>{});
  const std::size_t words = count_words("one two three");
  std::printf("consumer: %zu %zu\n", sum.value_or(0), words);
  return sum == 55u && words == 3 ? 0 : 1;
}
