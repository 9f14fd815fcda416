#include <dataflow/dataflow.hpp>
#include <string>
int main() {
  dataflow::context ctx;
  ctx.from({1, 2}).map([](const std::string& s) { return s.size(); }).count();
}
