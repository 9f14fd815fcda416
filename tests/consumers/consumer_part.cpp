// The second file of the consumer: the same headers, other operators.
#include <dataflow/dataflow.hpp>

#include <string>
#include <vector>

std::size_t count_words(const std::string& text) {
  dataflow::context ctx(1);
  return ctx.from(std::vector<std::string>{text}).flat_map(dataflow::split_words).count();
}
