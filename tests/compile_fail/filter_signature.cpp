#include <dataflow/dataflow.hpp>
#include <string>
int main() {
  dataflow::context ctx;
  ctx.from({1, 2}).filter([](int x) { return std::string(x, 'a'); }).count();
}
