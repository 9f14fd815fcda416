#include <dataflow/dataflow.hpp>
int main() {
  dataflow::context ctx;
  int calls = 0;
  ctx.from({1, 2}).map([calls](int x) mutable { return x + ++calls; }).count();
}
