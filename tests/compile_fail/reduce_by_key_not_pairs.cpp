#include <dataflow/dataflow.hpp>
int main() {
  dataflow::context ctx;
  ctx.from({1, 2}).reduce_by_key(std::plus<>{}).count();
}
