#include <dataflow/dataflow.hpp>
#include <string>
#include <utility>
int main() {
  dataflow::context ctx;
  ctx.from({std::pair{1, 2}}).reduce_by_key([](const std::string& a, int) { return a; }).count();
}
