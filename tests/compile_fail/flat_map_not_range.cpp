#include <dataflow/dataflow.hpp>
int main() {
  dataflow::context ctx;
  ctx.from({1, 2}).flat_map([](int x) { return x; }).count();
}
